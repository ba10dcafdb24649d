//! The control core's merge loop: drain every worker's summaries, write
//! flow records and capture rows to the sink, merge the workers' sketches
//! into windows and write the sketch tables, return emptied summaries, and
//! keep running totals for the status line and the final report.

use std::sync::Arc;

use datapath::epoch::{CaptureCounters, EndReason, EpochSummary};
use datapath::sketch::state::FORMAT_VERSION;
use datapath::sketch::{CounterSpec, PlanError, WindowMerger, WindowReport};
use datapath::worker::ControlLink;

use std::path::PathBuf;
use std::time::Instant;

use datapath::sketch::state::{HeavyHitter, Scan};

use crate::ctl::{Command, Response};
use crate::iface::NicStats;
use crate::status::{
    Counters, FilesStatus, HeavyHitterRow, QueueStatus, Rates, ScanRow, Status, Usage,
    PROTOCOL_VERSION,
};
use classify::labeler::{Classifier, FlowLabel};
use config::{counter_entries, CounterEntry};
use sink::tables::{Capture, FlowSizes, Flows, HeavyHitters, Scans, SketchState, Traffic};
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
    /// Live capture: the interface and its counters at the last sample.
    nic: Option<(String, NicStats)>,
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
}

/// What the status view says about the run besides its counters.
#[derive(Clone, Debug, Default)]
pub struct RunInfo {
    /// `live` or `replay`.
    pub mode: String,
    pub interface: Option<String>,
    /// Flow table capacity over all workers.
    pub flow_capacity: u64,
    pub quota_bytes: Option<u64>,
    pub output_dir: PathBuf,
    pub started_unix_s: u64,
    /// The configuration file a reload re-reads (None: defaults, nothing
    /// to reload), and the configuration in force.
    pub config_path: Option<PathBuf>,
    pub config: Option<config::Config>,
}

/// Scans kept for the status view.
const RECENT_SCANS: usize = 16;

impl Control {
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
        }
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

    /// Describes the run for the status view.
    pub fn set_info(&mut self, info: RunInfo) {
        self.info = RunInfo {
            started_unix_s: self.info.started_unix_s,
            ..info
        };
    }

    /// The run's description (for the metrics endpoint and reloads).
    pub fn info(&self) -> &RunInfo {
        &self.info
    }

    /// Takes a rate sample (call about once a second).
    pub fn sample_rates(&mut self) {
        let k = &self.totals.counters;
        self.rate_samples = [self.rate_samples[1], (Instant::now(), k.packets, k.bytes)];
    }

    /// The status snapshot the control socket serves.
    pub fn status(&self) -> Status {
        let k = &self.totals.counters;
        let [(t0, p0, b0), (t1, p1, b1)] = self.rate_samples;
        let dt = t1.duration_since(t0).as_secs_f64();
        let rates = if dt > 0.0 {
            Rates {
                packets_per_s: (p1 - p0) as f64 / dt,
                bits_per_s: (b1 - b0) as f64 * 8.0 / dt,
                window_s: dt,
            }
        } else {
            Rates::default()
        };
        let queues = self
            .per_worker
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let src = &self.sources[i.min(self.sources.len().saturating_sub(1))];
                let polls = c.busy_polls + c.idle_polls;
                QueueStatus {
                    worker: i as u16,
                    source: src.source.clone(),
                    capture_mode: src.mode.clone(),
                    packets: c.packets,
                    bytes: c.bytes,
                    busy_poll_utilisation: (polls > 0).then(|| c.busy_polls as f64 / polls as f64),
                }
            })
            .collect();
        let nic = self.nic.is_some().then_some(self.totals.nic);
        let usage = |v: Vec<(Arc<str>, u64)>| {
            v.into_iter()
                .map(|(name, bytes)| Usage {
                    name: name.to_string(),
                    bytes,
                })
                .collect()
        };
        let st = self.sink.stats();
        let now = crate::ctl::now_unix_s();
        Status {
            protocol: PROTOCOL_VERSION,
            version: env!("CARGO_PKG_VERSION").to_string(),
            tap_id: self.sink.config().tap_id.clone(),
            started_unix_s: self.info.started_unix_s,
            uptime_s: now.saturating_sub(self.info.started_unix_s),
            mode: self.info.mode.clone(),
            interface: self.info.interface.clone(),
            queues,
            rates,
            totals: Counters {
                packets: k.packets,
                bytes: k.bytes,
                ip_packets: k.ip_packets,
                parse_errors: k.parse_errors_total(),
                flows_created: k.flows_created,
                flows_written: self.totals.flows(),
                active_flows: self.per_worker.iter().map(|c| c.active_flows).sum(),
                flow_capacity: self.info.flow_capacity,
                records_dropped: k.records_dropped,
                summary_queue_full: k.summary_queue_full,
                src_dropped: k.src_dropped,
                src_ring_full: k.src_ring_full,
                src_fill_ring_empty: k.src_fill_ring_empty,
                src_invalid_descs: k.src_invalid_descs,
                flow_table_full: k.flow_table_full,
                name_events_dropped: k.name_events_dropped,
                name_reasm_full: k.name_reasm_full,
                activity_dropped: k.activity_dropped,
                nic_rx_packets: nic.map_or(0, |n| n.rx_packets),
                nic_rx_dropped: nic.map_or(0, |n| n.rx_dropped),
                nic_rx_missed: nic.map_or(0, |n| n.rx_missed),
                link_up: nic.map(|n| n.carrier),
                carrier_changes: nic.map_or(0, |n| n.carrier_changes),
            },
            top_devices: usage(self.classifier.top_devices(5)),
            top_services: usage(self.classifier.top_services(8)),
            heavy_hitters: self
                .latest_hh
                .iter()
                .filter(|h| h.rank <= 5)
                .map(|h| HeavyHitterRow {
                    counter: h.counter.name.clone(),
                    rank: h.rank as u16,
                    key: sink::key_text(h),
                    estimate: h.estimate,
                    share: if h.total > 0 {
                        h.estimate as f64 / h.total as f64
                    } else {
                        0.0
                    },
                })
                .collect(),
            scans: self
                .recent_scans
                .iter()
                .rev()
                .map(|sc| ScanRow {
                    kind: sc.kind.name().to_string(),
                    src_ip: classify::devices::ip_text(&sc.src_ip),
                    distinct: sc.distinct,
                    window_end_unix_s: sc.end_ns / 1_000_000_000,
                })
                .collect(),
            probes: self.probes.as_ref().map(|p| probe_summary(p, &st)),
            files: FilesStatus {
                complete_files: st.files_written,
                bytes_written: st.bytes_written,
                disk_used_bytes: sink::files::disk_used_bytes(&self.info.output_dir),
                quota_bytes: self.info.quota_bytes,
                deleted_files: st.files_deleted_by_retention,
                output_dir: self.info.output_dir.display().to_string(),
                rows_dropped: st.rows_dropped,
                rows_lost: st.rows_lost,
                write_errors: st.write_errors,
                write_error: st.last_error.clone(),
            },
            tcp_rtt: self.rtt.status(),
        }
    }

    /// Re-reads the configuration file and applies what can change while
    /// running: the sketch counters, the service catalog and the local
    /// subnets. A bad file changes nothing (the last good configuration
    /// stays) and the error says what is wrong; changes that need a
    /// restart are named. Returns what was done, line by line.
    pub fn reload(&mut self) -> Result<Vec<String>, String> {
        let Some(path) = self.info.config_path.clone() else {
            return Err(
                "no configuration file was given (tapscope run --config FILE, or \
                        /etc/tapscope/tapscope.toml): nothing to reload"
                    .into(),
            );
        };
        let new = config::Config::load(&path)
            .map_err(|e| format!("{e}; keeping the running configuration"))?;
        let (catalog, local) = new
            .catalog_and_local()
            .map_err(|e| format!("{e}; keeping the running configuration"))?;
        let plan = new.sketch_plan();
        let mut done = Vec::new();
        let old = self.info.config.clone().unwrap_or_default();
        if plan.counters != self.counters() {
            self.set_counters(plan.counters.clone()).map_err(|e| {
                format!(
                    "{}: sketch counters: {e}; keeping the running configuration",
                    path.display()
                )
            })?;
            done.push(format!("sketch counters: {} now", plan.counters.len()));
        }
        if new.classify != old.classify {
            if new.classify.traffic_interval_s != old.classify.traffic_interval_s {
                done.push("classify.traffic_interval_s: needs a restart (not applied)".into());
            }
            self.classifier.reconfigure(catalog, local);
            done.push(format!(
                "service catalog and local subnets reloaded ({} services)",
                self.classifier.catalog().len()
            ));
        }
        for (section, changed) in [
            ("capture", new.capture != old.capture),
            ("flows", new.flows != old.flows),
            ("output", new.output != old.output),
            ("control", new.control != old.control),
            ("tap_id", new.tap_id != old.tap_id),
        ] {
            if changed {
                done.push(format!(
                    "[{section}] changed: needs a restart (not applied)"
                ));
            }
        }
        if (new.probe != old.probe || new.probes != old.probes) && self.info.mode == "live" {
            // The old tasks stop (runs in progress are abandoned) and their
            // rows are written; the new ones start with a fresh schedule.
            if let Some(mut p) = self.probes.take() {
                if let Err(e) = p.close(&mut self.sink) {
                    done.push(format!("probe rows not handed to the sink: {e}"));
                }
            }
            let tasks = new.probe_tasks();
            let n = tasks.len();
            match self.start_probes(tasks, &new.probe_settings(), self.probe_core) {
                Ok(()) => done.push(format!("probes restarted: {n} tasks")),
                Err(e) => done.push(format!("probes not restarted: {e}")),
            }
        }
        let sketch_params_changed = {
            let mut a = new.sketch.clone();
            let mut b = old.sketch.clone();
            a.counters.clear();
            b.counters.clear();
            a != b
        };
        if sketch_params_changed {
            done.push(
                "[sketch] parameters other than counters: need a restart (not applied)".into(),
            );
        }
        if done.is_empty() {
            done.push("no change".into());
        }
        self.info.config = Some(new);
        for d in &done {
            tracing::info!("reload {}: {d}", path.display());
        }
        Ok(done)
    }

    /// Answers one control-socket command.
    pub fn handle(&mut self, cmd: Command) -> Response {
        let json = |v: serde_json::Result<serde_json::Value>| match v {
            Ok(v) => Response::ok(v),
            Err(e) => Response::err(e.to_string()),
        };
        match cmd {
            Command::Status => json(serde_json::to_value(self.status())),
            Command::Flows { filter, limit } => json(serde_json::to_value(
                self.classifier.open_flows(&filter, limit.unwrap_or(50)),
            )),
            Command::Files { since_unix_s } => json(serde_json::to_value(sink::files::list_files(
                &self.info.output_dir,
                since_unix_s,
            ))),
            Command::CountersList => json(serde_json::to_value(counter_entries(&self.counters()))),
            Command::Reload => match self.reload() {
                Ok(done) => json(serde_json::to_value(done)),
                Err(e) => Response::err(e),
            },
            Command::CountersAdd {
                name,
                key,
                increment,
                protocol,
                direction,
            } => {
                let entry =
                    CounterEntry::from_names(name, &key, &increment, &protocol, &direction);
                let spec = match entry.and_then(|e| e.spec()) {
                    Ok(s) => s,
                    Err((field, msg)) => return Response::err(format!("`{field}`: {msg}")),
                };
                let mut all = self.counters();
                if all.iter().any(|c| c.name == spec.name) {
                    return Response::err(format!("a counter named `{}` exists", spec.name));
                }
                all.push(spec);
                match self.set_counters(all) {
                    Ok(_) => json(serde_json::to_value(counter_entries(&self.counters()))),
                    Err(e) => Response::err(e.to_string()),
                }
            }
            Command::CountersRm { name } => {
                let mut all = self.counters();
                let before = all.len();
                all.retain(|c| c.name != name);
                if all.len() == before {
                    return Response::err(format!("no counter named `{name}`"));
                }
                match self.set_counters(all) {
                    Ok(_) => json(serde_json::to_value(counter_entries(&self.counters()))),
                    Err(e) => Response::err(e.to_string()),
                }
            }
        }
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
        self.sink.send::<Traffic>(std::mem::take(&mut self.traffic))
    }

    fn absorb(&mut self, i: usize, s: &mut EpochSummary) -> Result<(), SinkError> {
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

    /// Reports every window still open, hands the last rows to the sink
    /// and closes it: what is queued is written, every open file moved into
    /// its table folder, the sink thread stopped. Returns the first error
    /// the sink met in the run (its damage is counted in the sink's stats).
    pub fn close(&mut self) -> Result<(), SinkError> {
        self.windows.flush(&mut self.reports);
        let r = self.write_windows();
        let t = self.write_traffic(true);
        let p = match self.probes.as_mut() {
            Some(p) => p.close(&mut self.sink).map(|_| ()),
            None => Ok(()),
        };
        let c = self.sink.close();
        r.and(t).and(p).and(c)
    }

    /// The sink thread's handle (its counters: `sink().stats()`).
    pub fn sink(&self) -> &SinkThread {
        &self.sink
    }

    pub fn classifier(&self) -> &Classifier {
        &self.classifier
    }
}

/// The status view of the probes.
fn probe_summary(p: &crate::probes::Probes, sink: &sink::SinkStats) -> crate::status::ProbeSummary {
    let (runs, failures, queue_dropped, running) = p.counters();
    let spool = sink.probe_spool;
    crate::status::ProbeSummary {
        runs,
        failures,
        running,
        buffered: spool.buffered,
        dropped: spool.dropped + queue_dropped,
        write_errors: spool.write_errors,
        write_error: sink.probe_write_error.clone(),
        tasks: p
            .latest()
            .iter()
            .map(|l| {
                let r = l.result.as_ref();
                crate::status::ProbeTaskStatus {
                    name: l.task.name.to_string(),
                    kind: l.task.kind.name().to_string(),
                    target: l.task.target.to_string(),
                    runs: l.runs,
                    failures: l.failures,
                    last_unix_s: r.map(|r| r.started_ns / 1_000_000_000),
                    ok: r.map(|r| r.ok),
                    error_class: r.and_then(|r| r.error_class().map(str::to_string)),
                    summary: r.map(|r| r.headline()).unwrap_or_default(),
                    rtt_ms: r.and_then(|r| {
                        r.rtt_median_ms
                            .or(r.total_ms)
                            .or(r.connect_ms)
                            .or(r.ntp_delay_ms)
                    }),
                }
            })
            .collect(),
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
