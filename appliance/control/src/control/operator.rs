//! The control core's second job: answering operators. The status
//! snapshot, control-socket commands, configuration reloads and run-time
//! counter changes, over the state the merge loop keeps.

use std::sync::Arc;
use std::time::Instant;

use datapath::sketch::{CounterSpec, PlanError};

use super::{Control, RunInfo};
use crate::ctl::{Command, Response};
use crate::status::{
    Counters, FilesStatus, HeavyHitterRow, QueueStatus, Rates, ScanRow, Status, Usage,
    PROTOCOL_VERSION,
};
use config::{counter_entries, CounterEntry};

impl Control {
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

    /// Packet and bit rates between the last two samples.
    fn rates(&self) -> Rates {
        let [(t0, p0, b0), (t1, p1, b1)] = self.rate_samples;
        let dt = t1.duration_since(t0).as_secs_f64();
        if dt > 0.0 {
            Rates {
                packets_per_s: (p1 - p0) as f64 / dt,
                bits_per_s: (b1 - b0) as f64 * 8.0 / dt,
                window_s: dt,
            }
        } else {
            Rates::default()
        }
    }

    /// Each worker's source, mode, packets and poll utilisation.
    fn queues(&self) -> Vec<QueueStatus> {
        self.per_worker
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
            .collect()
    }

    fn video_status(&self) -> model::status::VideoStatus {
        let Some(v) = self.video.as_ref() else {
            return model::status::VideoStatus::default();
        };
        model::status::VideoStatus {
            model_version: v.model_version().to_string(),
            sessions_ended: v.sessions,
            active: v
                .active(&self.classifier)
                .into_iter()
                .take(8)
                .map(|a| model::status::VideoSessionStatus {
                    device: a.device_name.to_string(),
                    device_ip: model::rows::ip_addr(&a.device_ip).to_string(),
                    service: a.service.to_string(),
                    started_unix_s: a.start_ns as f64 / 1e9,
                    bytes_down: a.bytes_down,
                    resolution: a.resolution,
                    startup_delay_s: a.startup_s,
                })
                .collect(),
        }
    }

    /// The status snapshot the control socket serves.
    pub fn status(&self) -> Status {
        let k = &self.totals.counters;
        let rates = self.rates();
        let queues = self.queues();
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
                bad_timestamp: k.bad_timestamp,
                segments_dropped: k.segments_dropped,
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
            video: self.video_status(),
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
        if new.video.model != old.video.model {
            // Checked by the load above; windows closed from now on use it.
            match (self.video.as_mut(), new.video_model()) {
                (Some(v), Ok(m)) => {
                    v.set_model(m);
                    done.push(format!("video model: {}", v.model_version()));
                }
                (None, _) => done.push("video.model: video sessions are off".into()),
                (_, Err(e)) => done.push(format!("video model not changed: {e}")),
            }
        }
        let mut old_video = old.video.clone();
        old_video.model.clone_from(&new.video.model);
        if new.video != old_video {
            done.push("[video] changed: needs a restart (not applied)".into());
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
                let entry = CounterEntry::from_names(name, &key, &increment, &protocol, &direction);
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
