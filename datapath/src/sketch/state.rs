//! The merged state of a window — every worker's sketches added together —
//! the report rows drawn from it, and its versioned binary form, so that
//! windows of several taps (or several windows of one tap) can be merged
//! later with [`merge_encoded`] or [`SketchState::merge`].
//!
//! # Binary form, version 1
//!
//! Little-endian throughout; `varint` is unsigned LEB128 (at most 10
//! bytes); a "gap" is the distance from the previous listed index minus one
//! (the first gap is the index itself).
//!
//! ```text
//! magic      4 bytes  "TSSK"
//! version    u16      1
//! start_ns   u64      window start, Unix ns (inclusive)
//! end_ns     u64      window end, Unix ns (exclusive)
//! snapshots  u32      worker-epoch snapshots merged in
//! seed       u64      hash seed (sketches merge only with the same seed)
//! flags      u8       bit 0 conservative update, bit 1 port-scan sketch,
//!                     bit 2 host-scan sketch, bit 3 flow-size histograms
//! cm_width   u32      count-min counters per row
//! cm_depth   u8       count-min rows (1..=16)
//! track      u32      candidate keys kept per counter
//! counters   u8       number of counters, then per counter:
//!   name       u8 length + UTF-8 bytes
//!   key        u8     0 src, 1 dst, 2 src_dst, 3 src_dport, 4 dport, 5 five_tuple
//!   increment  u8     0 packets, 1 bytes
//!   protocol   u8     0 any, 1 tcp, 2 udp, 3 icmp
//!   direction  u8     0 any, 1 c2s, 2 s2c
//!   total      u64    exact sum of the increments
//!   cm_total   u64    sum of the (scaled) increments the sketch was given
//!   max_inc    u64    largest single sampled increment
//!   max_shift  u8     packet sampling: one packet in 2^max_shift (the
//!                     sparsest of the merged snapshots; 0 = every packet)
//!   cells      varint count of non-zero cells, then per cell: varint gap,
//!              varint value (cells row-major, index = row × width + column)
//!   candidates varint count, then per key 38 bytes: src_ip[16] dst_ip[16]
//!              src_port u16 dst_port u16 protocol u8 ip_version u8
//!              (addresses IPv4-mapped for IPv4; fields outside the key type 0)
//! if bit 1 or 2:
//!   scan_width u32, scan_depth u8
//!   then for the port sketch (bit 1), then the host sketch (bit 2):
//!   buckets    varint count of non-empty buckets, then per bucket:
//!              varint gap, level u8 (1..=55), ip_version u8, source[16],
//!              bitmap 8 × u64 (bit i of the 512 is bit i%64 of word i/64)
//! if bit 3:
//!   records    varint flow records counted
//!   packets, then bytes histogram: varint count of non-empty buckets,
//!              then per bucket: varint gap, varint flows, varint volume
//!              (bucket boundaries: see `flowsize`)
//! ```
//!
//! Hashes: a counter key's hash is [`SketchKey::hash`] with `seed`; row `r`
//! of a count-min sketch uses index `((m_r · h) >> 32) · width >> 32` with
//! `m_r = splitmix64(seed + (r+1)·0x9e3779b97f4a7c15) | 1`. Two states merge
//! when seed, widths, depths and the update rule agree.

use std::collections::BTreeSet;
use std::sync::Arc;

mod codec;

use super::countmin::CountMin;
use super::flowsize::{self, FlowSizes};
use super::key::{hash_addr, SketchKey, KEY_BYTES};
use super::spread::{self, SpreadSketch};
use super::{
    CounterSpec, Direction, Increment, KeyType, ProtoFilter, SketchParams, Sketches, SCAN_DEPTH,
    SCAN_SEED_HOSTS, SCAN_SEED_PORTS, SEED,
};
use codec::{decode_counter, decode_flow_sizes, decode_scans, put_varint, Reader};

/// Current version of the binary form.
pub const FORMAT_VERSION: u16 = 1;
const MAGIC: &[u8; 4] = b"TSSK";
/// Limits when decoding (a corrupt length must not allocate gigabytes).
const MAX_CM_CELLS: u64 = 1 << 23;
const MAX_SCAN_BUCKETS: u64 = 1 << 22;

/// One counter of a merged state.
#[derive(Clone, Debug, PartialEq)]
pub struct CounterState {
    /// The counter this state belongs to (states of two windows merge counter
    /// by counter on an equal spec).
    pub spec: Arc<CounterSpec>,
    /// The counter's count-min sketch, summed over every merged snapshot.
    pub cm: CountMin,
    /// Exact sum of the increments.
    pub total: u64,
    /// Sum of the (scaled) increments given to the sketch: the `N` of its
    /// error bound (equal to `total` without sampling).
    pub cm_total: u64,
    /// Largest single sampled increment.
    pub max_inc: u64,
    /// Packet sampling: one packet in `2^max_shift` (the sparsest of the
    /// merged snapshots).
    pub max_shift: u8,
    /// Keys that were among some worker's largest; the report ranks them
    /// by their estimate in the merged sketch.
    pub candidates: BTreeSet<SketchKey>,
}

/// A heavy hitter: one of a counter's `top_k` keys in a window.
#[derive(Clone, Debug, PartialEq)]
pub struct HeavyHitter {
    /// Start of the window, Unix ns (inclusive).
    pub start_ns: u64,
    /// End of the window, Unix ns (exclusive).
    pub end_ns: u64,
    /// Workers whose snapshots were merged into the window.
    pub workers: u32,
    /// The counter the key is heavy in.
    pub counter: Arc<CounterSpec>,
    /// 1 for the largest.
    pub rank: u32,
    /// The heavy key (fields outside the counter's key type are zero).
    pub key: SketchKey,
    /// Count-min estimate: never below the true count without sampling.
    pub estimate: u64,
    /// `⌈ε·N⌉`, plus the sampling error when sampled: the estimate is off
    /// by at most this at the configured confidence (see
    /// [`CounterState::error_bound`]).
    pub error_bound: u64,
    /// Exact sum of the counter's increments in the window (all keys).
    pub total: u64,
    /// Packet sampling: 1 (every packet) or `2^s` (one packet in `2^s`).
    pub sampling: u32,
}

/// Port scan (distinct destination ports) or host scan (distinct
/// destination hosts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanKind {
    /// Many destination ports probed from one source (`port_scan` rows).
    Port,
    /// Many destination hosts probed from one source (`host_scan` rows).
    Host,
}

impl ScanKind {
    /// Stable name used in the `scans` table: `port_scan` or `host_scan`.
    pub fn name(self) -> &'static str {
        match self {
            ScanKind::Port => "port_scan",
            ScanKind::Host => "host_scan",
        }
    }
}

/// A source whose probes reached a scan threshold in a window.
#[derive(Clone, Debug, PartialEq)]
pub struct Scan {
    /// Start of the window, Unix ns (inclusive).
    pub start_ns: u64,
    /// End of the window, Unix ns (exclusive).
    pub end_ns: u64,
    /// Workers whose snapshots were merged into the window.
    pub workers: u32,
    /// Whether distinct ports or distinct hosts were counted.
    pub kind: ScanKind,
    /// The scanning source's address (IPv4-mapped for IPv4).
    pub src_ip: [u8; 16],
    /// IP version of the source: 4 or 6.
    pub ip_version: u8,
    /// Estimated distinct destination ports or hosts probed.
    pub distinct: u64,
    /// The configured threshold `distinct` reached (port or host scan
    /// threshold).
    pub threshold: u64,
    /// Relative standard error of the estimator at this estimate.
    pub relative_error: f64,
    /// The estimator was full: `distinct` is a lower bound.
    pub saturated: bool,
}

/// One bucket of a window's flow-size distribution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowSizeRow {
    /// Start of the window, Unix ns (inclusive).
    pub start_ns: u64,
    /// End of the window, Unix ns (exclusive).
    pub end_ns: u64,
    /// Workers whose snapshots were merged into the window.
    pub workers: u32,
    /// Size in packets or in bytes.
    pub metric: Increment,
    /// Smallest size in the bucket (inclusive).
    pub low: u64,
    /// Largest size in the bucket (inclusive).
    pub high: u64,
    /// Flow records of the window whose size falls in the bucket.
    pub flows: u64,
    /// Sum of the sizes of those flows.
    pub volume: u64,
}

/// A binary state could not be read or merged.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The data does not start with the `TSSK` magic.
    #[error("not a tapscope sketch state (bad magic)")]
    Magic,
    /// The format version (given) is not one this build reads.
    #[error("sketch state format version {0} is not supported (this build reads version 1)")]
    Version(u16),
    /// The data ends before the state does.
    #[error("sketch state is truncated")]
    Truncated,
    /// A field holds an impossible value (named in the message).
    #[error("sketch state is malformed: {0}")]
    Malformed(&'static str),
    /// The two states were built with different seeds, shapes or update rules.
    #[error("sketch states cannot be merged: {0}")]
    Incompatible(&'static str),
}

/// The merged sketches of a window; see the module docs.
#[derive(Clone, Debug, PartialEq)]
pub struct SketchState {
    /// Start of the merged span, Unix ns (inclusive; `u64::MAX` while empty).
    pub start_ns: u64,
    /// End of the merged span, Unix ns (exclusive).
    pub end_ns: u64,
    /// Worker-epoch snapshots merged in.
    pub snapshots: u32,
    /// Hash seed of every sketch (states merge only with the same seed).
    pub seed: u64,
    /// True for conservative update, false for plain count-min.
    pub conservative: bool,
    /// Count-min counters per row.
    pub cm_width: u32,
    /// Count-min rows.
    pub cm_depth: u32,
    /// Candidate keys kept per counter.
    pub track: u32,
    /// One state per counter seen in the merged snapshots.
    pub counters: Vec<CounterState>,
    /// Distinct destination ports per source (`None` when scan detection is
    /// off).
    pub ports: Option<SpreadSketch>,
    /// Distinct destination hosts per source (`None` when scan detection is
    /// off).
    pub hosts: Option<SpreadSketch>,
    /// Flow-size histograms (`None` when they are off).
    pub flow_sizes: Option<FlowSizes>,
}

impl SketchState {
    /// An empty state shaped by `params`.
    pub fn new(params: &SketchParams) -> SketchState {
        let (w, d) = params.cm_dims();
        SketchState {
            start_ns: u64::MAX,
            end_ns: 0,
            snapshots: 0,
            seed: SEED,
            conservative: params.conservative,
            cm_width: w,
            cm_depth: d,
            track: params.track() as u32,
            counters: Vec::new(),
            ports: params
                .scans
                .then(|| SpreadSketch::new(params.scan_width, SCAN_DEPTH, SCAN_SEED_PORTS)),
            hosts: params
                .scans
                .then(|| SpreadSketch::new(params.scan_width, SCAN_DEPTH, SCAN_SEED_HOSTS)),
            flow_sizes: params.flow_sizes.then(FlowSizes::default),
        }
    }

    fn counter_mut(&mut self, spec: &CounterSpec) -> &mut CounterState {
        let i = match self.counters.iter().position(|c| *c.spec == *spec) {
            Some(i) => i,
            None => {
                self.counters.push(CounterState {
                    spec: Arc::new(spec.clone()),
                    cm: CountMin::new(self.cm_width, self.cm_depth, self.seed, self.conservative),
                    total: 0,
                    cm_total: 0,
                    max_inc: 0,
                    max_shift: 0,
                    candidates: BTreeSet::new(),
                });
                self.counters.len() - 1
            }
        };
        &mut self.counters[i]
    }

    /// Merges one worker's epoch in and empties `sk` (cheaply when it saw
    /// little traffic). `sk` must come from a plan with this state's
    /// parameters; parts that do not match are emptied and skipped.
    pub fn absorb(&mut self, start_ns: u64, end_ns: u64, sk: &mut Sketches) {
        self.start_ns = self.start_ns.min(start_ns);
        self.end_ns = self.end_ns.max(end_ns);
        self.snapshots += 1;
        let plan = sk.plan().clone();
        let track = self.track as usize;
        let seed = self.seed;
        for (spec, c) in plan.counters.iter().zip(sk.counters.iter_mut()) {
            if c.total == 0 && c.top.is_empty() {
                c.cm.reset();
                continue;
            }
            let cs = self.counter_mut(spec);
            if c.cm.drain_into(&mut cs.cm).is_err() {
                c.cm.reset();
            }
            cs.total = cs.total.saturating_add(c.total);
            c.total = 0;
            if c.cm_total != 0 {
                cs.max_shift = cs.max_shift.max(sk.sample_shift as u8);
            }
            cs.cm_total = cs.cm_total.saturating_add(c.cm_total);
            c.cm_total = 0;
            cs.max_inc = cs.max_inc.max(c.max_inc);
            c.max_inc = 0;
            cs.candidates.extend(c.top.iter().map(|(k, _)| k.unpack()));
            c.top.clear();
            if cs.candidates.len() > 8 * track {
                cs.prune(2 * track, seed);
            }
        }
        if let Some(s) = &mut sk.scan {
            match (&mut self.ports, &mut self.hosts) {
                (Some(p), Some(h)) if sk.probes != 0 => {
                    if s.ports.drain_into(p).is_err() {
                        s.ports.reset();
                    }
                    if s.hosts.drain_into(h).is_err() {
                        s.hosts.reset();
                    }
                }
                _ => {
                    s.ports.reset();
                    s.hosts.reset();
                }
            }
        }
        sk.probes = 0;
        if let Some(f) = &mut sk.flow_sizes {
            match &mut self.flow_sizes {
                Some(acc) => f.drain_into(acc),
                None => f.reset(),
            }
        }
    }

    /// Merges another state in (another tap, or another window of the same
    /// tap): counters are matched by their whole spec; the window becomes
    /// the span of both.
    pub fn merge(&mut self, o: &SketchState) -> Result<(), CodecError> {
        if self.seed != o.seed
            || self.cm_width != o.cm_width
            || self.cm_depth != o.cm_depth
            || self.conservative != o.conservative
        {
            return Err(CodecError::Incompatible(
                "count-min seed, width, depth or update rule differ",
            ));
        }
        for (a, b) in [(&self.ports, &o.ports), (&self.hosts, &o.hosts)] {
            if let (Some(a), Some(b)) = (a, b) {
                if !a.compatible(b) {
                    return Err(CodecError::Incompatible("scan sketch shapes differ"));
                }
            }
        }
        self.start_ns = self.start_ns.min(o.start_ns);
        self.end_ns = self.end_ns.max(o.end_ns);
        self.snapshots = self.snapshots.saturating_add(o.snapshots);
        self.track = self.track.max(o.track);
        let track = self.track as usize;
        let seed = self.seed;
        for oc in &o.counters {
            let cs = self.counter_mut(&oc.spec);
            cs.cm
                .merge(&oc.cm)
                .map_err(|_| CodecError::Incompatible("count-min shapes differ"))?;
            cs.total = cs.total.saturating_add(oc.total);
            cs.cm_total = cs.cm_total.saturating_add(oc.cm_total);
            cs.max_inc = cs.max_inc.max(oc.max_inc);
            cs.max_shift = cs.max_shift.max(oc.max_shift);
            cs.candidates.extend(oc.candidates.iter().copied());
            cs.prune(track, seed);
        }
        for (a, b) in [(&mut self.ports, &o.ports), (&mut self.hosts, &o.hosts)] {
            match (a.as_mut(), b) {
                (Some(a), Some(b)) => {
                    let _ = a.merge(b);
                }
                (None, Some(b)) => *a = Some(b.clone()),
                _ => {}
            }
        }
        match (&mut self.flow_sizes, &o.flow_sizes) {
            (Some(a), Some(b)) => a.merge(b),
            (a @ None, Some(b)) => *a = Some(b.clone()),
            _ => {}
        }
        Ok(())
    }

    /// Empties the state for reuse; counters unused in it are dropped.
    pub fn reset(&mut self) {
        self.counters
            .retain(|c| c.total != 0 || !c.candidates.is_empty());
        for c in &mut self.counters {
            c.cm.reset();
            c.total = 0;
            c.cm_total = 0;
            c.max_inc = 0;
            c.max_shift = 0;
            c.candidates.clear();
        }
        for s in [&mut self.ports, &mut self.hosts].into_iter().flatten() {
            s.reset();
        }
        if let Some(f) = &mut self.flow_sizes {
            f.reset();
        }
        self.start_ns = u64::MAX;
        self.end_ns = 0;
        self.snapshots = 0;
    }

    /// True when nothing was merged in.
    pub fn is_empty(&self) -> bool {
        self.snapshots == 0
    }

    /// The `top_k` largest keys of every counter, ranked by estimate
    /// (ties by key).
    pub fn heavy_hitters(&self, top_k: usize, workers: u32) -> Vec<HeavyHitter> {
        let mut out = Vec::new();
        for c in &self.counters {
            if c.total == 0 {
                continue;
            }
            for (rank, (key, est)) in c.ranked(self.seed).into_iter().take(top_k).enumerate() {
                out.push(HeavyHitter {
                    start_ns: self.start_ns,
                    end_ns: self.end_ns,
                    workers,
                    counter: c.spec.clone(),
                    rank: rank as u32 + 1,
                    key,
                    estimate: est,
                    error_bound: c.error_bound(est),
                    total: c.total,
                    sampling: 1 << c.max_shift,
                });
            }
        }
        out
    }

    /// Sources at or above the thresholds (port scans first, each kind by
    /// decreasing estimate).
    pub fn scans(&self, port_threshold: u64, host_threshold: u64, workers: u32) -> Vec<Scan> {
        let mut out = Vec::new();
        for (kind, sketch, threshold) in [
            (ScanKind::Port, &self.ports, port_threshold),
            (ScanKind::Host, &self.hosts, host_threshold),
        ] {
            let Some(s) = sketch else { continue };
            let start = out.len();
            for (ip, version) in s.candidates() {
                let e = s.estimate(hash_addr(&ip, version, s.seed()));
                let distinct = e.value.round() as u64;
                if distinct >= threshold.max(1) {
                    out.push(Scan {
                        start_ns: self.start_ns,
                        end_ns: self.end_ns,
                        workers,
                        kind,
                        src_ip: ip,
                        ip_version: version,
                        distinct,
                        threshold,
                        relative_error: spread::linear_count_rel_error(e.value),
                        saturated: e.saturated,
                    });
                }
            }
            out[start..].sort_by(|a, b| {
                b.distinct
                    .cmp(&a.distinct)
                    .then((a.src_ip, a.ip_version).cmp(&(b.src_ip, b.ip_version)))
            });
        }
        out
    }

    /// The non-empty buckets of the flow-size histograms, packets first.
    pub fn flow_size_rows(&self, workers: u32) -> Vec<FlowSizeRow> {
        let mut out = Vec::new();
        let Some(f) = &self.flow_sizes else {
            return out;
        };
        for (metric, h) in [
            (Increment::Packets, &f.packets),
            (Increment::Bytes, &f.bytes),
        ] {
            for b in 0..flowsize::BUCKETS {
                if h.flows[b] != 0 {
                    let (low, high) = flowsize::bounds(b);
                    out.push(FlowSizeRow {
                        start_ns: self.start_ns,
                        end_ns: self.end_ns,
                        workers,
                        metric,
                        low,
                        high,
                        flows: h.flows[b],
                        volume: h.volume[b],
                    });
                }
            }
        }
        out
    }

    /// The binary form (see the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Vec::with_capacity(256);
        w.extend_from_slice(MAGIC);
        w.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        w.extend_from_slice(&self.start_ns.to_le_bytes());
        w.extend_from_slice(&self.end_ns.to_le_bytes());
        w.extend_from_slice(&self.snapshots.to_le_bytes());
        w.extend_from_slice(&self.seed.to_le_bytes());
        let flags = self.conservative as u8
            | (self.ports.is_some() as u8) << 1
            | (self.hosts.is_some() as u8) << 2
            | (self.flow_sizes.is_some() as u8) << 3;
        w.push(flags);
        w.extend_from_slice(&self.cm_width.to_le_bytes());
        w.push(self.cm_depth as u8);
        w.extend_from_slice(&self.track.to_le_bytes());
        w.push(self.counters.len() as u8);
        for c in &self.counters {
            w.push(c.spec.name.len() as u8);
            w.extend_from_slice(c.spec.name.as_bytes());
            w.extend_from_slice(&[
                c.spec.key as u8,
                c.spec.increment as u8,
                c.spec.protocol as u8,
                c.spec.direction as u8,
            ]);
            w.extend_from_slice(&c.total.to_le_bytes());
            w.extend_from_slice(&c.cm_total.to_le_bytes());
            w.extend_from_slice(&c.max_inc.to_le_bytes());
            w.push(c.max_shift);
            let cells = c.cm.cells();
            put_varint(&mut w, cells.iter().filter(|&&v| v != 0).count() as u64);
            let mut next = 0usize;
            for (i, &v) in cells.iter().enumerate() {
                if v != 0 {
                    put_varint(&mut w, (i - next) as u64);
                    put_varint(&mut w, v);
                    next = i + 1;
                }
            }
            put_varint(&mut w, c.candidates.len() as u64);
            for k in &c.candidates {
                w.extend_from_slice(&k.to_bytes());
            }
        }
        if let Some(s) = self.ports.as_ref().or(self.hosts.as_ref()) {
            w.extend_from_slice(&s.width().to_le_bytes());
            w.push(s.depth() as u8);
        }
        for s in [&self.ports, &self.hosts].into_iter().flatten() {
            let buckets: Vec<spread::Bucket> = s.buckets().collect();
            put_varint(&mut w, buckets.len() as u64);
            let mut next = 0u32;
            for b in &buckets {
                put_varint(&mut w, (b.index - next) as u64);
                next = b.index + 1;
                w.push(b.level);
                w.push(b.version);
                w.extend_from_slice(&b.key);
                for word in b.bits {
                    w.extend_from_slice(&word.to_le_bytes());
                }
            }
        }
        if let Some(f) = &self.flow_sizes {
            put_varint(&mut w, f.records);
            for h in [&f.packets, &f.bytes] {
                put_varint(&mut w, h.flows.iter().filter(|&&n| n != 0).count() as u64);
                let mut next = 0usize;
                for b in 0..flowsize::BUCKETS {
                    if h.flows[b] != 0 {
                        put_varint(&mut w, (b - next) as u64);
                        put_varint(&mut w, h.flows[b]);
                        put_varint(&mut w, h.volume[b]);
                        next = b + 1;
                    }
                }
            }
        }
        w
    }

    /// Reads the binary form; never panics on bad input.
    pub fn decode(bytes: &[u8]) -> Result<SketchState, CodecError> {
        let mut r = Reader { b: bytes };
        if r.take(4)? != MAGIC {
            return Err(CodecError::Magic);
        }
        let version = r.u16()?;
        if version != FORMAT_VERSION {
            return Err(CodecError::Version(version));
        }
        let start_ns = r.u64()?;
        let end_ns = r.u64()?;
        let snapshots = r.u32()?;
        let seed = r.u64()?;
        let flags = r.u8()?;
        if flags & !0x0f != 0 {
            return Err(CodecError::Malformed("unknown flags"));
        }
        let conservative = flags & 1 != 0;
        let cm_width = r.u32()?;
        let cm_depth = r.u8()? as u32;
        if cm_width == 0
            || cm_depth == 0
            || cm_depth as usize > super::countmin::MAX_DEPTH
            || cm_width as u64 * cm_depth as u64 > MAX_CM_CELLS
        {
            return Err(CodecError::Malformed("count-min dimensions"));
        }
        let track = r.u32()?;
        let n_counters = r.u8()? as usize;
        if n_counters > super::MAX_COUNTERS {
            return Err(CodecError::Malformed("too many counters"));
        }
        let mut counters: Vec<CounterState> = Vec::with_capacity(n_counters);
        for _ in 0..n_counters {
            let c = decode_counter(&mut r, (cm_width, cm_depth), seed, conservative, &counters)?;
            counters.push(c);
        }
        let (ports, hosts) = decode_scans(&mut r, flags, seed)?;
        let flow_sizes = if flags & 0b1000 != 0 {
            Some(decode_flow_sizes(&mut r)?)
        } else {
            None
        };
        if r.remaining() != 0 {
            return Err(CodecError::Malformed("trailing bytes"));
        }
        Ok(SketchState {
            start_ns,
            end_ns,
            snapshots,
            seed,
            conservative,
            cm_width,
            cm_depth,
            track,
            counters,
            ports,
            hosts,
            flow_sizes,
        })
    }
}

impl CounterState {
    /// How far an estimate `est` of this counter may be from the truth at
    /// the confidence the sketch depth gives (`1 - e^-depth`):
    /// `⌈ε·N⌉` for count-min, plus, when packets were sampled one in
    /// `2^s`, `z·√((2^s - 1)·max_inc·est)` — the sampling error's standard
    /// deviation is at most `√((2^s - 1)·Σinc²) ≤ √((2^s - 1)·max_inc·est)`.
    pub fn error_bound(&self, est: u64) -> u64 {
        let cm = self.cm.error_bound(self.cm_total);
        if self.max_shift == 0 {
            return cm;
        }
        let delta = (-(self.cm.depth() as f64)).exp();
        let var = ((1u64 << self.max_shift) - 1) as f64 * self.max_inc as f64 * est as f64;
        cm.saturating_add((normal_quantile(1.0 - delta) * var.sqrt()).ceil() as u64)
    }

    /// Candidates with their merged estimates, largest first (ties by key).
    pub fn ranked(&self, seed: u64) -> Vec<(SketchKey, u64)> {
        let mut v: Vec<(SketchKey, u64)> = self
            .candidates
            .iter()
            .map(|k| (*k, self.cm.estimate(k.hash(seed))))
            .collect();
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    /// Keeps the `keep` candidates with the largest estimates.
    fn prune(&mut self, keep: usize, seed: u64) {
        if self.candidates.len() > keep {
            self.candidates = self
                .ranked(seed)
                .into_iter()
                .take(keep)
                .map(|(k, _)| k)
                .collect();
        }
    }
}

/// The standard normal quantile at `p` in (0.5, 1) (Abramowitz and Stegun
/// 26.2.23; absolute error below 4.5e-4).
fn normal_quantile(p: f64) -> f64 {
    let q = (1.0 - p).clamp(1e-300, 0.5);
    let t = (-2.0 * q.ln()).sqrt();
    t - (2.515517 + 0.802853 * t + 0.010328 * t * t)
        / (1.0 + 1.432788 * t + 0.189269 * t * t + 0.001308 * t * t * t)
}

/// Merges two binary states into one (same window or not: the result spans
/// both). Fails on a bad input or on states that cannot be merged.
pub fn merge_encoded(a: &[u8], b: &[u8]) -> Result<Vec<u8>, CodecError> {
    let mut s = SketchState::decode(a)?;
    s.merge(&SketchState::decode(b)?)?;
    Ok(s.encode())
}
