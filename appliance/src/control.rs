//! The control core's merge loop: drain every worker's summaries, write
//! flow records and capture rows to the sink, merge the workers' sketches
//! into windows and write the sketch tables, return emptied summaries, and
//! keep running totals for the status line and the final report.

use std::sync::Arc;

use datapath::epoch::{CaptureCounters, EndReason, EpochSummary};
use datapath::sketch::state::FORMAT_VERSION;
use datapath::sketch::{CounterSpec, PlanError, WindowMerger, WindowReport};
use datapath::worker::ControlLink;

use crate::classify::labeler::{Classifier, FlowLabel};
use crate::iface::NicStats;
use crate::sink::{CaptureRow, FlowRow, NicRow, Sink, SinkError, SketchStateRow, TrafficRow};

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
    pub counters: CaptureCounters,
    /// Flow records written, by [`EndReason`] (index = reason as u8).
    pub flows_by_reason: [u64; 6],
    /// Latest packet time seen in any summary (Unix ns).
    pub data_now_ns: u64,
    pub first_ns: u64,
    pub sketch: SketchTotals,
    /// Live capture: the interface's own counters over the run.
    pub nic: NicRow,
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
    pub heavy_hitter_rows: u64,
    pub scan_rows: u64,
    pub flow_size_rows: u64,
    pub state_bytes: u64,
}

impl Totals {
    pub fn flows(&self) -> u64 {
        self.flows_by_reason.iter().sum()
    }
}

/// The merge loop's state.
pub struct Control {
    links: Vec<ControlLink>,
    sources: Vec<WorkerSource>,
    finished: Vec<bool>,
    sink: Sink,
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
    /// Live capture: the interface and its counters at the last sample.
    nic: Option<(String, NicStats)>,
}

impl Control {
    pub fn new(
        links: Vec<ControlLink>,
        sources: Vec<WorkerSource>,
        sink: Sink,
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
        }
    }

    /// The counters every worker computes now (or from its next epoch).
    pub fn counters(&self) -> Vec<CounterSpec> {
        self.links
            .first()
            .map(|l| l.sketch_plan().counters.clone())
            .unwrap_or_default()
    }

    /// Replaces the counter set on every worker without stopping them:
    /// each switches at its next epoch boundary (windows from then on
    /// report the new counters; the window of the switch may show both
    /// sets, each over the workers that had it). Returns the new plan's
    /// generation.
    pub fn set_counters(&mut self, counters: Vec<CounterSpec>) -> Result<u64, PlanError> {
        let Some(first) = self.links.first() else {
            return Ok(0);
        };
        let plan = Arc::new(first.sketch_plan().with_counters(counters)?);
        for l in &mut self.links {
            l.set_sketch_plan(plan.clone());
        }
        tracing::info!(
            generation = plan.generation,
            counters = ?plan.counters.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            "sketch counters changed"
        );
        Ok(plan.generation)
    }

    /// Drains every worker's ring once. Returns the number of summaries taken.
    pub fn poll(&mut self) -> Result<usize, SinkError> {
        let mut taken = 0;
        for i in 0..self.links.len() {
            while let Some(mut s) = self.links[i].pop() {
                taken += 1;
                let res = self.absorb(i, &mut s);
                self.links[i].give_back(s);
                res?;
            }
        }
        if !self.rows.is_empty() {
            self.sink.write_capture(&self.rows)?;
            self.rows.clear();
        }
        self.windows.ready(&mut self.reports);
        self.write_windows()?;
        self.write_traffic(false)?;
        if taken > 0 {
            self.sink.tick(self.totals.data_now_ns)?;
        }
        Ok(taken)
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
                write(self.sink.write_heavy_hitters(&r.heavy_hitters));
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
                write(self.sink.write_scans(&r.scans));
            }
            if !r.flow_sizes.is_empty() {
                write(self.sink.write_flow_sizes(&r.flow_sizes));
            }
            if let Some(state) = r.state {
                t.state_bytes += state.len() as u64;
                write(self.sink.write_sketch_state(&[SketchStateRow {
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
        self.nic = NicStats::read(iface).map(|s| (iface.to_string(), s));
    }

    /// The interface's counters since the last sample.
    fn sample_nic(&mut self) -> Option<NicRow> {
        let (iface, last) = self.nic.as_mut()?;
        let now = NicStats::read(iface)?;
        let d = now.since(last);
        *last = now;
        self.totals.nic.rx_packets += d.rx_packets;
        self.totals.nic.rx_dropped += d.rx_dropped;
        self.totals.nic.rx_missed += d.rx_missed;
        self.totals.nic.rx_errors += d.rx_errors;
        self.totals.nic.carrier_changes += d.carrier_changes;
        self.totals.nic.carrier = d.carrier;
        Some(NicRow {
            rx_packets: d.rx_packets,
            rx_dropped: d.rx_dropped,
            rx_missed: d.rx_missed,
            rx_errors: d.rx_errors,
            carrier: d.carrier,
            carrier_changes: d.carrier_changes,
        })
    }

    /// Writes the traffic intervals every worker has moved past (all with
    /// `all`).
    fn write_traffic(&mut self, all: bool) -> Result<(), SinkError> {
        self.classifier.ready_traffic(all, &mut self.traffic);
        if self.traffic.is_empty() {
            return Ok(());
        }
        let r = self.sink.write_traffic(&self.traffic);
        self.traffic.clear();
        r
    }

    fn absorb(&mut self, i: usize, s: &mut EpochSummary) -> Result<(), SinkError> {
        self.classifier.absorb(i, s, &mut self.labels);
        if !s.flows.is_empty() {
            self.flow_rows.clear();
            for (r, l) in s.flows.iter().zip(&self.labels) {
                self.totals.flows_by_reason[r.end_reason as usize] += 1;
                let labels = self.classifier.flow_labels(l);
                self.flow_rows.push(FlowRow { rec: *r, labels });
            }
            self.sink.write_flows(&self.flow_rows)?;
        }
        if !s.partial {
            self.totals.counters.absorb(&s.counters);
            self.totals.data_now_ns = self.totals.data_now_ns.max(s.end_ns);
            if s.counters.packets > 0
                && (self.totals.first_ns == 0 || s.start_ns < self.totals.first_ns)
            {
                self.totals.first_ns = s.start_ns;
            }
            let nic = if i == 0 { self.sample_nic() } else { None };
            let src = &self.sources[i.min(self.sources.len() - 1)];
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

    /// True once every worker has handed over its last summary.
    pub fn all_finished(&self) -> bool {
        self.finished.iter().all(|&f| f)
    }

    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// Reports every window still open, then closes every open file
    /// (moving it into its table folder).
    pub fn close(&mut self) -> Result<(), SinkError> {
        self.windows.flush(&mut self.reports);
        let r = self.write_windows();
        let t = self.write_traffic(true);
        let c = self.sink.close();
        r.and(t).and(c)
    }

    pub fn sink(&self) -> &Sink {
        &self.sink
    }

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
