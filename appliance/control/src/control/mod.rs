//! The control core's merge loop: drain every worker's summaries, write
//! flow records and capture rows to the sink, merge the workers' sketches
//! into windows and write the sketch tables, return emptied summaries, and
//! keep running totals for the status line and the final report.
//!
//! [`Control`] does three jobs, one file each: merging summaries (here),
//! answering operators (`operator.rs`: status, socket commands, reloads,
//! counter changes) and watching the NIC (`nic.rs`).

mod nic;
mod operator;
mod video;

pub use video::ActiveVideo;

use nic::NicWatch;

use std::path::PathBuf;
use std::time::Instant;

use datapath::epoch::{CaptureCounters, EndReason, EpochSummary};
use datapath::sketch::state::{HeavyHitter, Scan, FORMAT_VERSION};
use datapath::sketch::{WindowMerger, WindowReport};
use datapath::worker::ControlLink;

use classify::labeler::{Classifier, FlowLabel};
use sink::tables::{
    Capture, FlowSizes, Flows, HeavyHitters, Scans, SketchState, Traffic, VideoSegments,
    VideoSessions, VideoWindows,
};
use sink::{CaptureRow, FlowRow, NicRow, SinkError, SinkThread, SketchStateRow, TrafficRow};

/// Where a worker's frames come from, for the `capture` table.
#[derive(Clone, Debug)]
pub struct WorkerSource {
    /// E.g. `pcap:netflix.pcap` or `xdp:eth1/q0`.
    pub source: String,
    /// E.g. `pcap` or `xdp-copy-native`.
    pub mode: String,
}

/// Totals over the whole run.
#[derive(Clone, Debug, Default)]
pub struct Totals {
    /// Every worker's capture counters added up (gauges: the latest worker's
    /// value).
    pub counters: CaptureCounters,
    /// Flow records written, by [`EndReason`] (index = reason as u8).
    pub flows_by_reason: [u64; 6],
    /// Latest packet time seen in any summary (Unix ns).
    pub data_now_ns: u64,
    /// Packet time of the earliest epoch seen (Unix ns; 0 before the first
    /// summary).
    pub first_ns: u64,
    /// What the sketch windows produced.
    pub sketch: SketchTotals,
    /// Live capture: the interface's own counters over the run.
    pub nic: NicRow,
    /// Workers that never handed over their last summary: their thread
    /// ended without it (a panic), or they were still busy when a stop's
    /// grace ran out ([`Control::abandon_workers`]). Their open flows are
    /// missing from `flows`.
    pub workers_lost: u64,
    /// `video_segments` rows handed to the sink.
    pub video_segments: u64,
    /// `video_windows` rows handed to the sink.
    pub video_windows: u64,
    /// `video_sessions` rows handed to the sink.
    pub video_sessions: u64,
}

/// What the sketch windows produced.
#[derive(Clone, Debug, Default)]
pub struct SketchTotals {
    /// Windows reported.
    pub windows: u64,
    /// Windows reported before every worker had moved past them (a worker
    /// was stalled; see `datapath::sketch::window`).
    pub forced: u64,
    /// Worker snapshots that arrived after their window was reported:
    /// dropped, and missing from those windows.
    pub late: u64,
    /// Rows written to `heavy_hitters`.
    pub heavy_hitter_rows: u64,
    /// Rows written to `scans`.
    pub scan_rows: u64,
    /// Rows written to `flow_sizes`.
    pub flow_size_rows: u64,
    /// Bytes of merged sketch states written to `sketch_state`.
    pub state_bytes: u64,
}

impl Totals {
    /// Flow records written, all end reasons.
    pub fn flows(&self) -> u64 {
        self.flows_by_reason.iter().sum()
    }
}

/// The merge loop's state.
pub struct Control {
    links: Vec<ControlLink>,
    sources: Vec<WorkerSource>,
    finished: Vec<bool>,
    /// The sink thread: rows are handed over, never written here.
    sink: SinkThread,
    totals: Totals,
    rows: Vec<CaptureRow>,
    /// Merges the workers' sketches into windows (parameters from the
    /// workers' plan).
    windows: WindowMerger,
    reports: Vec<WindowReport>,
    /// Names, services, devices and per-interval traffic.
    classifier: Classifier,
    labels: Vec<FlowLabel>,
    flow_rows: Vec<FlowRow>,
    traffic: Vec<TrafficRow>,
    /// Live capture: the interface whose own counters are sampled.
    nic: Option<NicWatch>,
    /// For the status socket.
    info: RunInfo,
    per_worker: Vec<CaptureCounters>,
    latest_hh: Vec<HeavyHitter>,
    recent_scans: std::collections::VecDeque<Scan>,
    /// Two samples (time, packets, bytes) about a second apart, for rates.
    rate_samples: [(Instant, u64, u64); 2],
    /// Active probes (live capture with `[[probes]]`): their thread,
    /// latest results and row buffer.
    probes: Option<crate::probes::Probes>,
    /// The core the probe thread is pinned to (kept for a reload).
    probe_core: Option<core_affinity::CoreId>,
    /// TCP handshake round-trip times of the merged flow records.
    rtt: crate::rtt::HandshakeRtts,
    video: Option<video::VideoSessions>,
}

/// What the status view says about the run besides its counters.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    /// `live` or `replay`.
    pub mode: String,
    /// The capture interface (live capture; `None` in replay).
    pub interface: Option<String>,
    /// Flow table capacity over all workers.
    pub flow_capacity: u64,
    /// Retention quota over all tables, bytes (`None`: no quota).
    pub quota_bytes: Option<u64>,
    /// Root folder of the Parquet tables.
    pub output_dir: PathBuf,
    /// When the run started (Unix seconds).
    pub started_unix_s: u64,
    /// The configuration file a reload re-reads (`None`: defaults, nothing to
    /// reload).
    pub config_path: Option<PathBuf>,
    /// The configuration in force (`None`: the defaults).
    pub config: Option<config::Config>,
}

/// Scans kept for the status view.
const RECENT_SCANS: usize = 16;

impl Control {
    /// The merge loop over the workers' `links` (one per worker, `sources` in
    /// the same order), handing rows to `sink` and flows to `classifier`.
    pub fn new(
        links: Vec<ControlLink>,
        sources: Vec<WorkerSource>,
        sink: SinkThread,
        classifier: Classifier,
    ) -> Control {
        let n = links.len();
        let params = links
            .first()
            .map(|l| l.sketch_plan().params.clone())
            .unwrap_or_default();
        Control {
            links,
            sources,
            finished: vec![false; n],
            sink,
            totals: Totals::default(),
            rows: Vec::new(),
            windows: WindowMerger::new(params, n),
            reports: Vec::new(),
            classifier,
            labels: Vec::new(),
            flow_rows: Vec::new(),
            traffic: Vec::new(),
            nic: None,
            info: RunInfo {
                started_unix_s: crate::ctl::now_unix_s(),
                ..RunInfo::default()
            },
            per_worker: vec![CaptureCounters::default(); n],
            latest_hh: Vec::new(),
            recent_scans: std::collections::VecDeque::new(),
            rate_samples: [(Instant::now(), 0, 0); 2],
            probes: None,
            probe_core: None,
            rtt: Default::default(),
            video: None,
        }
    }

    /// Tracks video sessions (`video_sessions`, `video_windows`) with
    /// these settings and model.
    pub fn start_video(
        &mut self,
        cfg: ::video::session::SessionConfig,
        model: Option<std::sync::Arc<::video::model::Model>>,
    ) {
        self.video = Some(video::VideoSessions::new(cfg, model));
    }

    /// The open video sessions, latest first.
    pub fn active_video(&self) -> Vec<ActiveVideo> {
        self.video
            .as_ref()
            .map(|v| v.active(&self.classifier))
            .unwrap_or_default()
    }

    /// Starts the probe tasks on a thread of their own (pinned to `core`,
    /// the control core); their results are collected by [`Control::poll`].
    pub fn start_probes(
        &mut self,
        tasks: Vec<probe::ProbeTask>,
        settings: &probe::scheduler::Settings,
        core: Option<core_affinity::CoreId>,
    ) -> std::io::Result<()> {
        self.probe_core = core;
        if tasks.is_empty() {
            return Ok(());
        }
        if let Err(e) = self
            .sink
            .configure_probes(settings.buffer_rows, settings.flush_every)
        {
            return Err(std::io::Error::other(e));
        }
        tracing::info!(tasks = tasks.len(), "probes started");
        self.probes = Some(crate::probes::Probes::start(tasks, settings, core)?);
        Ok(())
    }

    /// Drains every worker's ring once. Returns the number of summaries taken.
    pub fn poll(&mut self) -> Result<usize, SinkError> {
        let mut taken = 0;
        for i in 0..self.links.len() {
            // Looked at before draining: a worker that pushed its last
            // summary and ended is not mistaken for a lost one.
            let gone = self.links[i].worker_gone();
            while let Some(mut s) = self.links[i].pop() {
                taken += 1;
                let res = self.absorb(i, &mut s);
                self.links[i].give_back(s);
                res?;
                // Windows are reported as soon as they complete, so that a
                // long drain (the control core behind a fast replay) reuses
                // a few sketch states instead of holding up to
                // MAX_PENDING of them and allocating each anew.
                self.windows.ready(&mut self.reports);
            }
            if gone && !self.finished[i] {
                tracing::error!(
                    worker = i,
                    "worker ended without its last summary; its open flows are lost"
                );
                self.lose_worker(i);
            }
        }
        // Never blocks in live capture: what the sink thread's queue cannot
        // take is counted (see `SinkThread`).
        self.sink.send::<Capture>(std::mem::take(&mut self.rows))?;
        if let Some(p) = self.probes.as_mut() {
            // Never blocks: takes what the probe thread finished and hands
            // it to the probe buffer on the sink thread.
            p.poll(&mut self.sink)?;
        }
        self.windows.ready(&mut self.reports);
        self.write_windows()?;
        self.write_traffic(false)?;
        if taken > 0 {
            self.sink.tick(self.totals.data_now_ns)?;
        }
        Ok(taken)
    }

    /// Writes the video windows and sessions that closed.
    fn write_video(&mut self) -> Result<(), SinkError> {
        let Some(v) = self.video.as_mut() else {
            return Ok(());
        };
        let (mut windows, mut sessions) = (Vec::new(), Vec::new());
        v.take_rows(&self.classifier, &mut windows, &mut sessions);
        self.totals.video_windows = v.windows;
        self.totals.video_sessions = v.sessions;
        if !windows.is_empty() {
            self.sink.send::<VideoWindows>(windows)?;
        }
        if !sessions.is_empty() {
            self.sink.send::<VideoSessions>(sessions)?;
        }
        Ok(())
    }

    /// Writes the reported windows' rows.
    fn write_windows(&mut self) -> Result<(), SinkError> {
        let mut result = Ok(());
        for r in self.reports.drain(..) {
            let t = &mut self.totals.sketch;
            t.windows += 1;
            t.forced += r.forced as u64;
            t.heavy_hitter_rows += r.heavy_hitters.len() as u64;
            t.scan_rows += r.scans.len() as u64;
            t.flow_size_rows += r.flow_sizes.len() as u64;
            let mut write = |res: Result<(), SinkError>| {
                if result.is_ok() {
                    result = res;
                }
            };
            if !r.heavy_hitters.is_empty() {
                self.latest_hh.clone_from(&r.heavy_hitters);
                write(self.sink.send::<HeavyHitters>(r.heavy_hitters));
            }
            if !r.scans.is_empty() {
                for s in &r.scans {
                    tracing::info!(
                        kind = s.kind.name(),
                        src = ?std::net::Ipv6Addr::from(s.src_ip),
                        distinct = s.distinct,
                        "scan"
                    );
                }
                for sc in &r.scans {
                    if self.recent_scans.len() == RECENT_SCANS {
                        self.recent_scans.pop_front();
                    }
                    self.recent_scans.push_back(sc.clone());
                }
                write(self.sink.send::<Scans>(r.scans));
            }
            if !r.flow_sizes.is_empty() {
                write(self.sink.send::<FlowSizes>(r.flow_sizes));
            }
            if let Some(state) = r.state {
                t.state_bytes += state.len() as u64;
                write(self.sink.send::<SketchState>(vec![SketchStateRow {
                    start_ns: r.start_ns,
                    end_ns: r.end_ns,
                    workers: r.workers,
                    snapshots: r.snapshots,
                    format_version: FORMAT_VERSION,
                    state,
                }]));
            }
        }
        result
    }

    /// Live capture: samples `iface`'s own counters once per epoch (with
    /// the first worker's capture row) from now on.
    pub fn watch_interface(&mut self, iface: &str) {
        self.nic = NicWatch::new(iface);
    }

    /// Writes the traffic intervals every worker has moved past (all with
    /// `all`).
    fn write_traffic(&mut self, all: bool) -> Result<(), SinkError> {
        self.classifier.ready_traffic(all, &mut self.traffic);
        if self.traffic.is_empty() {
            return Ok(());
        }
        self.sink.send::<Traffic>(std::mem::take(&mut self.traffic))
    }

    fn absorb(&mut self, i: usize, s: &mut EpochSummary) -> Result<(), SinkError> {
        if s.end_ns == 0 {
            // The worker found no time (stopped before its first frame, or
            // only bad timestamps): what it counted goes to the run's latest
            // time, not to 1970.
            s.start_ns = self.totals.data_now_ns;
            s.end_ns = self.totals.data_now_ns;
        }
        self.classifier.absorb(i, s, &mut self.labels);
        if !s.flows.is_empty() {
            self.flow_rows.clear();
            for (r, l) in s.flows.iter().zip(&self.labels) {
                self.totals.flows_by_reason[r.end_reason as usize] += 1;
                self.rtt.record(r);
                let labels = self.classifier.flow_labels(l);
                self.flow_rows.push(FlowRow { rec: *r, labels });
            }
            self.sink
                .send::<Flows>(std::mem::take(&mut self.flow_rows))?;
        }
        let mut segments = Vec::new();
        if !s.segments.is_empty() {
            self.classifier.take_segments(&mut segments);
        }
        if let Some(v) = self.video.as_mut() {
            v.absorb(&mut self.classifier, s, &self.labels, &segments);
        }
        if !segments.is_empty() {
            self.totals.video_segments += segments.len() as u64;
            self.sink.send::<VideoSegments>(segments)?;
        }
        self.write_video()?;
        if !s.partial {
            self.totals.counters.absorb(&s.counters);
            if let Some(w) = self.per_worker.get_mut(i) {
                w.absorb(&s.counters);
            }
            self.totals.data_now_ns = self.totals.data_now_ns.max(s.end_ns);
            if s.counters.packets > 0
                && (self.totals.first_ns == 0 || s.start_ns < self.totals.first_ns)
            {
                self.totals.first_ns = s.start_ns;
            }
            let nic = if i == 0 {
                self.nic.as_mut().and_then(NicWatch::sample)
            } else {
                None
            };
            if let Some(w) = &self.nic {
                self.totals.nic = w.total();
            }
            let src = &self.sources[i.min(self.sources.len() - 1)];
            // Without any time in the run there is no date for an empty
            // row.
            let timeless = s.end_ns == 0 && s.counters.packets == 0;
            if !timeless {
                self.rows.push(CaptureRow {
                    worker: s.worker,
                    source: src.source.clone(),
                    capture_mode: src.mode.clone(),
                    start_ns: s.start_ns,
                    end_ns: s.end_ns,
                    counters: s.counters,
                    nic,
                });
            }
        }
        if !s.partial {
            self.windows
                .absorb(i, s.start_ns, s.end_ns, s.sketch.as_deref_mut());
        }
        if s.last {
            self.finished[i] = true;
            self.windows.finish(i);
        }
        self.totals.sketch.late = self.windows.late();
        Ok(())
    }

    /// True once every worker has handed over its last summary (or was
    /// lost).
    pub fn all_finished(&self) -> bool {
        self.finished.iter().all(|&f| f)
    }

    /// The run is stopping (a signal or the deadline): the sink stops
    /// rotating files by data time, so that closing them is quick
    /// ([`SinkThread::wind_down`]).
    pub fn stopping(&mut self) {
        self.sink.wind_down();
    }

    /// Stops waiting for the workers that have not handed over their last
    /// summary (a stop whose grace ran out): they are counted in
    /// `workers_lost`, and what they still hold is not written.
    pub fn abandon_workers(&mut self) {
        for i in 0..self.finished.len() {
            if !self.finished[i] {
                tracing::error!(
                    worker = i,
                    "worker did not finish in time after the stop; its open flows are lost"
                );
                self.lose_worker(i);
            }
        }
    }

    fn lose_worker(&mut self, i: usize) {
        self.finished[i] = true;
        self.windows.finish(i);
        self.totals.workers_lost += 1;
    }

    /// Totals over the run so far.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Reports every window still open, hands the last rows to the sink
    /// and closes it: what is queued is written, every open file moved into
    /// its table folder, the sink thread stopped. Returns the first error
    /// the sink met in the run (its damage is counted in the sink's stats).
    pub fn close(&mut self) -> Result<(), SinkError> {
        if let Some(v) = self.video.as_mut() {
            v.flush();
        }
        let vr = self.write_video();
        self.windows.flush(&mut self.reports);
        let r = self.write_windows();
        let t = self.write_traffic(true);
        let p = match self.probes.as_mut() {
            Some(p) => p.close(&mut self.sink).map(|_| ()),
            None => Ok(()),
        };
        let c = self.sink.close();
        vr.and(r).and(t).and(p).and(c)
    }

    /// The sink thread's handle (its counters: `sink().stats()`).
    pub fn sink(&self) -> &SinkThread {
        &self.sink
    }

    /// The classifier: names, services, devices and per-interval traffic.
    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }
}

/// Name of an end reason index, for reports.
pub fn reason_name(i: usize) -> &'static str {
    [
        EndReason::Fin,
        EndReason::Rst,
        EndReason::Idle,
        EndReason::Active,
        EndReason::Evicted,
        EndReason::EndOfCapture,
    ]
    .get(i)
    .map_or("?", |r| r.name())
}
