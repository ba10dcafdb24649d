//! The control core's side: merges every worker's per-epoch sketches into
//! windows (one or more epochs, aligned to multiples of the window length)
//! and reports a window once every worker has moved past it.
//!
//! Each worker's summaries come in packet-time order, so the end of a
//! worker's latest summary is its watermark: nothing earlier will come from
//! it. A window is complete when every worker's watermark (a finished
//! worker's is infinite) reached its end; workers that saw no packets still
//! move their watermark with idle polls (live) or the replay dispatcher's
//! ticks. So that a stalled worker cannot hold windows forever, at most
//! [`MAX_PENDING`] windows wait; beyond that the oldest is reported
//! without it, and its later snapshots for that window are counted as
//! `late` and dropped.

use std::collections::BTreeMap;

use super::state::{FlowSizeRow, HeavyHitter, Scan, SketchState};
use super::{SketchParams, Sketches};

/// Windows that may wait for a slow worker.
pub const MAX_PENDING: usize = 64;
/// Emptied window states kept for reuse.
const SPARES: usize = 4;

/// Everything reported for one window.
#[derive(Clone, Debug, Default)]
pub struct WindowReport {
    /// Start of the window, Unix ns of packet time (inclusive).
    pub start_ns: u64,
    /// End of the window, Unix ns of packet time (exclusive).
    pub end_ns: u64,
    /// Workers whose sketches were merged in.
    pub workers: u32,
    /// Worker-epoch snapshots merged in.
    pub snapshots: u32,
    /// The `top_k` heaviest keys of every counter (rows of `heavy_hitters`).
    pub heavy_hitters: Vec<HeavyHitter>,
    /// Sources over a scan threshold (rows of `scans`).
    pub scans: Vec<Scan>,
    /// Non-empty buckets of the flow-size distribution (rows of `flow_sizes`).
    pub flow_sizes: Vec<FlowSizeRow>,
    /// The merged state in its binary form (when `write_state` is on).
    pub state: Option<Vec<u8>>,
    /// Reported before every worker had moved past it.
    pub forced: bool,
}

struct Pending {
    state: SketchState,
    /// Which workers contributed.
    workers: Vec<bool>,
}

/// Merges worker snapshots into windows; see the module docs.
pub struct WindowMerger {
    params: SketchParams,
    watermarks: Vec<u64>,
    pending: BTreeMap<u64, Pending>,
    spare: Vec<SketchState>,
    /// End of the latest window reported: earlier snapshots are late.
    reported_until: u64,
    late: u64,
    windows: u64,
}

impl WindowMerger {
    /// A merger for snapshots of `workers` workers (a window is complete once
    /// every one of them has moved past it).
    pub fn new(params: SketchParams, workers: usize) -> WindowMerger {
        WindowMerger {
            params,
            watermarks: vec![0; workers.max(1)],
            pending: BTreeMap::new(),
            spare: Vec::new(),
            reported_until: 0,
            late: 0,
            windows: 0,
        }
    }

    /// The parameters the windows are built with.
    pub fn params(&self) -> &SketchParams {
        &self.params
    }

    /// Snapshots that arrived after their window was reported (dropped).
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Windows reported so far.
    pub fn windows(&self) -> u64 {
        self.windows
    }

    /// Windows waiting for a worker.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// A worker's complete epoch `[start_ns, end_ns)`: merges its sketches
    /// (emptying them) and moves its watermark.
    pub fn absorb(&mut self, worker: usize, start_ns: u64, end_ns: u64, sk: Option<&mut Sketches>) {
        if worker >= self.watermarks.len() {
            self.watermarks.resize(worker + 1, 0);
        }
        let wm = &mut self.watermarks[worker];
        if *wm != u64::MAX {
            *wm = (*wm).max(end_ns);
        }
        let Some(sk) = sk else { return };
        if sk.is_empty() {
            sk.reset();
            return;
        }
        let len = self.params.window_ns.max(1);
        let ws = start_ns - start_ns % len;
        if ws < self.reported_until {
            self.late += 1;
            sk.reset();
            return;
        }
        let workers = self.watermarks.len();
        let p = match self.pending.entry(ws) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let state = self
                    .spare
                    .pop()
                    .unwrap_or_else(|| SketchState::new(&self.params));
                e.insert(Pending {
                    state,
                    workers: vec![false; workers],
                })
            }
        };
        if worker >= p.workers.len() {
            p.workers.resize(worker + 1, false);
        }
        p.workers[worker] = true;
        p.state.absorb(start_ns, end_ns, sk);
    }

    /// The worker handed over its last summary.
    pub fn finish(&mut self, worker: usize) {
        if worker >= self.watermarks.len() {
            self.watermarks.resize(worker + 1, 0);
        }
        self.watermarks[worker] = u64::MAX;
    }

    /// Reports every complete window (and the oldest ones beyond
    /// [`MAX_PENDING`]) into `out`, oldest first.
    pub fn ready(&mut self, out: &mut Vec<WindowReport>) {
        let done = self.watermarks.iter().copied().min().unwrap_or(u64::MAX);
        let len = self.params.window_ns.max(1);
        while let Some((&ws, _)) = self.pending.first_key_value() {
            let complete = ws.saturating_add(len) <= done;
            if !complete && self.pending.len() <= MAX_PENDING {
                break;
            }
            let p = self.pending.remove(&ws).expect("first key");
            out.push(self.report(ws, p, !complete));
        }
    }

    /// Reports every window still pending (shutdown).
    pub fn flush(&mut self, out: &mut Vec<WindowReport>) {
        while let Some((ws, p)) = self.pending.pop_first() {
            let done = self.watermarks.iter().all(|&w| w == u64::MAX);
            out.push(self.report(ws, p, !done));
        }
    }

    fn report(&mut self, ws: u64, mut p: Pending, forced: bool) -> WindowReport {
        let we = ws.saturating_add(self.params.window_ns.max(1));
        self.reported_until = self.reported_until.max(we);
        self.windows += 1;
        let workers = p.workers.iter().filter(|&&w| w).count() as u32;
        let s = &mut p.state;
        // Rows carry the window's bounds, not the span of its epochs.
        s.start_ns = ws;
        s.end_ns = we;
        let r = WindowReport {
            start_ns: ws,
            end_ns: we,
            workers,
            snapshots: s.snapshots,
            heavy_hitters: s.heavy_hitters(self.params.top_k, workers),
            scans: s.scans(
                self.params.port_scan_threshold,
                self.params.host_scan_threshold,
                workers,
            ),
            flow_sizes: s.flow_size_rows(workers),
            state: self.params.write_state.then(|| s.encode()),
            forced,
        };
        if self.spare.len() < SPARES {
            p.state.reset();
            self.spare.push(p.state);
        }
        r
    }
}
