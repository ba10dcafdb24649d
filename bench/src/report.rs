//! The results: one Markdown table for README.md, and the same as JSON.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use datapath::worker::WorkerConfig;
use hdrhistogram::Histogram;

use crate::corpus::{Corpus, PeerFile, Timing, MAX_GAP_US, PASS_GAP_US};
use crate::json::Json;
use crate::peers::Missing;
use crate::sys::Machine;

/// The target of the issue: parse + flow update, in memory, per core.
pub const TARGET_NS: f64 = 100.0;
/// DESIGN.md's budget: 10 GbE line rate at 64 B is 14.88 Mpps.
pub const LINE_RATE_NS: f64 = 67.0;

/// Wall and CPU seconds of one run.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub wall: f64,
    pub cpu: f64,
}

/// What a row measures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Role {
    /// The worker loop in memory with sketches off: parse + flow update
    /// (the figure the target is about).
    #[default]
    Worker,
    /// The worker loop with names on, sketches off.
    WorkerNames,
    /// The worker loop with names and the default sketches.
    WorkerFull,
    /// The control core's part, measured inline.
    Control,
    /// `parse_frame` alone in memory.
    Parse,
    /// Worker minus parse (computed).
    Derived,
    /// Another in-memory variant.
    Extra,
    /// A program run on the pcap file.
    Peer,
}

/// One line of the table.
#[derive(Debug, Default)]
pub struct Row {
    pub name: String,
    pub role: Role,
    pub timing: Option<Timing>,
    pub scope: String,
    pub packets: u64,
    /// Whether the run's own report shows it processed `packets` frames.
    pub checked: Option<bool>,
    pub checked_how: String,
    pub samples: Vec<Sample>,
    /// Derived rows: ns/packet only.
    pub derived_ns: Option<f64>,
    pub notes: Vec<String>,
    pub error: Option<String>,
    pub cmdline: Option<String>,
    pub version: Option<String>,
    /// In-memory rows: wall ns of every full batch of every run.
    pub batches: Option<Histogram<u64>>,
    /// Frames per batch.
    pub batch_size: usize,
}

/// Wall ns per packet of a batch at quantile `q` of `h`, batches of `n`.
fn per_packet(h: &Histogram<u64>, q: f64, n: usize) -> f64 {
    h.value_at_quantile(q) as f64 / n.max(1) as f64
}

impl Row {
    /// Adds the batch times of `r` (batches of `batch` frames).
    pub fn add_batches(&mut self, r: &crate::mem::MemRun, batch: usize) {
        let Some(h) = &r.batches else {
            return;
        };
        self.batch_size = batch;
        match &mut self.batches {
            Some(all) => {
                // Both auto-resize: adding cannot fail.
                let _ = all.add(h);
            }
            None => self.batches = Some(h.clone()),
        }
    }

    /// "p50 / p99 / max" of the batches' wall ns per packet, and their
    /// mean.
    fn batch_spread(&self) -> Option<(f64, f64, f64, f64)> {
        let h = self.batches.as_ref().filter(|h| !h.is_empty())?;
        let n = self.batch_size;
        Some((
            per_packet(h, 0.5, n),
            per_packet(h, 0.99, n),
            h.max() as f64 / n.max(1) as f64,
            h.mean() / n.max(1) as f64,
        ))
    }

    /// The median run by CPU time.
    pub fn median(&self) -> Option<Sample> {
        let mut s = self.samples.clone();
        s.sort_by(|a, b| a.cpu.total_cmp(&b.cpu));
        s.get(s.len() / 2).copied()
    }

    /// CPU nanoseconds per packet of the median run.
    pub fn ns_per_packet(&self) -> Option<f64> {
        if self.role == Role::Derived {
            return self.derived_ns;
        }
        let m = self.median()?;
        (self.packets > 0 && self.error.is_none()).then(|| m.cpu * 1e9 / self.packets as f64)
    }

    fn label(&self) -> String {
        match self.timing {
            Some(t) => format!("{} ({})", self.name, t.name()),
            None => self.name.clone(),
        }
    }

    fn measured(&self) -> Option<Sample> {
        self.median().filter(|_| self.role != Role::Derived)
    }
}

pub struct Report<'a> {
    pub packets: u64,
    pub repeat: usize,
    pub machine: &'a Machine,
    pub corpus: &'a Corpus,
    pub pcaps: &'a Path,
    pub eth_frames: usize,
    pub other_links: &'a BTreeMap<String, u64>,
    pub core: Option<usize>,
    pub cfg: WorkerConfig,
    pub rows: &'a [Row],
    pub peer_files: &'a [(Timing, PeerFile)],
    pub missing: &'a [Missing],
}

fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A ratio with about three significant digits.
fn ratio(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 0.095 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

impl Report<'_> {
    fn role_ns(&self, role: Role, t: Timing) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.role == role && r.timing == Some(t))
            .and_then(Row::ns_per_packet)
    }

    fn worker_ns(&self, t: Timing) -> Option<f64> {
        self.role_ns(Role::Worker, t)
    }

    fn replay_ns(&self, t: Timing) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.role == Role::Peer && r.name == "tapscope replay" && r.timing == Some(t))
            .and_then(Row::ns_per_packet)
    }

    /// Row ÷ tapscope's in-memory worker on the same timing.
    fn ratio_worker(&self, row: &Row) -> Option<f64> {
        if matches!(row.role, Role::Derived | Role::Parse | Role::Control) {
            return None;
        }
        let base = self.worker_ns(row.timing?)?;
        Some(row.ns_per_packet()? / base)
    }

    /// Peer row ÷ `tapscope replay` on the same file.
    fn ratio_replay(&self, row: &Row) -> Option<f64> {
        if row.role != Role::Peer {
            return None;
        }
        let base = self.replay_ns(row.timing?)?;
        Some(row.ns_per_packet()? / base)
    }

    pub fn markdown(&self) -> String {
        let mut o = String::new();
        self.md_machine(&mut o);
        self.md_input(&mut o);
        self.md_timings(&mut o);
        self.md_setup(&mut o);
        self.md_table(&mut o);
        self.md_targets(&mut o);
        self.md_how_to_read(&mut o);
        self.md_details(&mut o);
        o
    }

    /// Packet time from the corpus's first frame to its last, in seconds.
    fn span_s(&self) -> f64 {
        let f = &self.corpus.frames;
        (f[f.len() - 1].ts_us - f[0].ts_us) as f64 / 1e6
    }

    /// The heading and the machine the run took place on.
    fn md_machine(&self, o: &mut String) {
        let m = self.machine;
        let _ = writeln!(o, "\n## Replay benchmark\n");
        let _ = writeln!(
            o,
            "Machine: {}, {} logical CPUs, Linux {}. Load average at start {}, at end {}; \
             rustc processes running at start {}, at end {} (other builds share these cores).\n",
            m.cpu_model,
            m.logical_cpus,
            m.kernel,
            m.loadavg_start,
            m.loadavg_end,
            m.rustc_start,
            m.rustc_end
        );
    }

    /// The capture files and their frames.
    fn md_input(&self, o: &mut String) {
        let unopened: Vec<&str> = self
            .corpus
            .captures
            .iter()
            .filter(|c| c.open_error.is_some())
            .map(|c| c.name.as_str())
            .collect();
        let invalid: u64 = self.corpus.captures.iter().map(|c| c.invalid_records).sum();
        let others: Vec<String> = self
            .other_links
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let frames = self.corpus.frames.len();
        let _ = writeln!(
            o,
            "Input: {} capture files in `{}`, {} frames: {} Ethernet, {} of other link types{}. \
             Unreadable records skipped by the reader: {}. Files not opened: {}.\n",
            self.corpus.captures.len(),
            self.pcaps.display(),
            group(frames as u64),
            group(self.eth_frames as u64),
            group((frames - self.eth_frames) as u64),
            if others.is_empty() {
                String::new()
            } else {
                format!(
                    " ({}; left out of the main rows and the peers' file, which is Ethernet only)",
                    others.join(", ")
                )
            },
            invalid,
            if unopened.is_empty() {
                "none".to_string()
            } else {
                unopened.join(", ")
            },
        );
    }

    /// The two timings of the same frames.
    fn md_timings(&self, o: &mut String) {
        let frames = self.corpus.frames.len();
        let span_s = self.span_s();
        let _ = writeln!(
            o,
            "Timings: *capture timing* lays the captures end to end with their own timestamps \
             ({:.1} h of packet time, {:.2} frames/s on average; {} frames moved 1 µs after \
             their predecessor to keep time strictly increasing, {} gaps shortened to {} s), so \
             an epoch (1 s) ends every few packets. *Dense timing* keeps the frame order with \
             one frame per µs (1 Mpps offered). Every pass over the corpus is shifted by its \
             span + {} s, so each pass's flows end or expire before the next pass starts them \
             again.\n",
            span_s / 3600.0,
            frames as f64 / span_s.max(1e-9),
            self.corpus.ts_bumped,
            self.corpus.gaps_shortened,
            MAX_GAP_US / 1_000_000,
            PASS_GAP_US / 1_000_000,
        );
    }

    /// How the in-memory runs and the peers' files were set up.
    fn md_setup(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "In memory: {} frames per run ({:.0} passes over the Ethernet frames), one `Worker` \
             pinned to core {}, batch {}, flow capacity {}; the control core's part (drain and \
             recycle summaries) runs inline on the same core between batches, with {} summaries \
             in circulation so that no epoch is dropped. Median of {} runs by CPU time (thread \
             CPU clock).\n",
            group(self.packets),
            self.packets as f64 / self.eth_frames as f64,
            self.core.map_or("(unpinned)".into(), |c| c.to_string()),
            self.cfg.batch_size,
            group(self.cfg.flows.capacity as u64),
            self.cfg.summary_pool,
            self.repeat
        );
        for (t, pf) in self.peer_files {
            let _ = writeln!(
                o,
                "File, {}: the same Ethernet frames with the same timestamps, looped to {} \
                 frames ({} passes, {:.1} h of packet time, {:.1} MB classic pcap, read from \
                 the page cache).",
                t.name(),
                group(pf.packets),
                pf.passes,
                pf.span_us as f64 / 3.6e9,
                pf.bytes as f64 / 1e6,
            );
        }
        if !self.peer_files.is_empty() {
            let _ = writeln!(
                o,
                "Each program runs {} times per file, round-robin; median by CPU time (user + \
                 system of the process and all its threads, from wait4).\n",
                self.repeat
            );
        }
    }

    /// The table: one line per row, then the peers that did not run.
    fn md_table(&self, o: &mut String) {
        let _ = writeln!(
            o,
            "| run | what the time includes | packets | all packets seen? | wall s | CPU s | CPU ns/packet | Mpps per core | ÷ tapscope worker (parse + flow), same timing | ÷ tapscope replay, same file | per batch, wall ns/packet: p50 / p99 / max (mean) |"
        );
        let _ = writeln!(o, "|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|");
        for row in self.rows {
            self.md_row(o, row);
        }
        for mi in self.missing {
            let _ = writeln!(o, "| {} | not run: {} | | | | | | | | | |", mi.name, mi.why);
        }
        let _ = writeln!(o);
    }

    /// One line of the table.
    fn md_row(&self, o: &mut String, row: &Row) {
        let dash = || "–".to_string();
        let ns = row.ns_per_packet();
        let med = row.measured();
        let derived = row.role == Role::Derived;
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.label(),
            row.scope,
            if derived { dash() } else { group(row.packets) },
            match &row.error {
                Some(e) => format!("FAILED: {e}"),
                None if derived => dash(),
                None => row.checked_how.clone(),
            },
            med.map_or_else(dash, |m| format!("{:.3}", m.wall)),
            med.map_or_else(dash, |m| format!("{:.3}", m.cpu)),
            ns.map_or_else(dash, |v| format!("{v:.1}")),
            ns.filter(|_| !derived && row.role != Role::Control)
                .map_or_else(dash, |v| format!("{:.2}", 1e3 / v)),
            self.ratio_worker(row).map_or_else(dash, ratio),
            self.ratio_replay(row).map_or_else(dash, ratio),
            row.batch_spread()
                .map_or_else(dash, |(p50, p99, max, mean)| format!(
                    "{p50:.1} / {p99:.1} / {max:.1} ({mean:.1})"
                )),
        );
    }

    /// The target and DESIGN.md's budget, met or not, per timing.
    fn md_targets(&self, o: &mut String) {
        for t in [Timing::Capture, Timing::Dense] {
            if let Some(v) = self.worker_ns(t) {
                let _ = writeln!(
                    o,
                    "- Target of the issue, parse + flow update in memory per core (worker, \
                     sketches off), ≤ {TARGET_NS:.0} ns/packet, {}: {v:.1} ns/packet ({:.2} Mpps \
                     per core): **{}**.",
                    t.name(),
                    1e3 / v,
                    if v <= TARGET_NS { "met" } else { "NOT met" },
                );
            }
        }
        for t in [Timing::Capture, Timing::Dense] {
            if let Some(v) = self.role_ns(Role::WorkerFull, t) {
                let _ = writeln!(
                    o,
                    "- DESIGN.md's budget for the whole per-packet path at 10 GbE line rate \
                     (14.88 Mpps at 64 B), ≤ {LINE_RATE_NS:.0} ns/packet, worker with names and default \
                     sketches, {}: {v:.1} ns/packet ({:.2} Mpps per core): **{}**.",
                    t.name(),
                    1e3 / v,
                    if v <= LINE_RATE_NS { "within" } else { "over" }
                );
            }
        }
    }

    /// What the columns mean, and the peers' command lines.
    fn md_how_to_read(&self, o: &mut String) {
        let _ = writeln!(o, "\nHow to read it:");
        let _ = writeln!(
            o,
            "- Per batch: the wall time of every full batch of {} frames of every run (worker: \
             from its first frame to the next poll, its per-batch housekeeping included, the \
             inline control part not), in an HDR histogram (3 significant digits), ÷ the batch \
             size; p50 / p99 / max and the mean. The wall clock includes what else the core \
             did, so the tail shows interruptions as well as slow batches.",
            self.cfg.batch_size
        );
        let _ = writeln!(
            o,
            "- CPU ns/packet = CPU time ÷ packets; Mpps per core = 1000 ÷ CPU ns/packet. A ratio \
             is that row's CPU ns/packet ÷ tapscope's (above 1: more CPU per packet than \
             tapscope)."
        );
        let _ = writeln!(
            o,
            "- In-memory rows are core-only: no file IO, no Parquet. File rows include reading \
             the pcap through the page cache and process start-up; `tapscope replay` also \
             includes its reader and control threads and writing Parquet (files rotate by \
             packet time, so the sparse capture timing makes many small files); ndpiReader also \
             does DPI classification (more work per packet than parse + flow); `tcpdump --count` \
             only reads the file."
        );
        let _ = writeln!(
            o,
            "- Each pass repeats the same connections, so the flow table holds at most one \
             pass's flows at a time: a small, cache-friendly working set compared with a busy \
             tap."
        );
        let mut seen_cmd = Vec::new();
        for row in self.rows {
            if let (Some(cmd), Some(v)) = (&row.cmdline, &row.version) {
                // The command without the file, once per program.
                let prog = cmd.split_whitespace().next().unwrap_or("");
                if !seen_cmd.contains(&prog) {
                    seen_cmd.push(prog);
                    let _ = writeln!(
                        o,
                        "- `{cmd}` ({})",
                        if v.is_empty() { "version unknown" } else { v }
                    );
                }
            }
        }
    }

    /// The facts each run reported about itself.
    fn md_details(&self, o: &mut String) {
        let _ = writeln!(o, "\nDetails from the runs themselves:");
        for row in self.rows {
            for n in &row.notes {
                let _ = writeln!(o, "- {}: {n}", row.label());
            }
        }
    }

    pub fn json(&self) -> Json {
        let rows = self.rows.iter().map(|row| self.json_row(row)).collect();
        Json::obj([
            ("machine", self.json_machine()),
            ("input", self.json_input()),
            ("settings", self.json_settings()),
            ("peer_files", self.json_peer_files()),
            ("target", Json::Arr(self.json_targets())),
            ("rows", Json::Arr(rows)),
            ("not_run", self.json_not_run()),
        ])
    }

    /// One row: its figures, checks, runs and notes.
    fn json_row(&self, row: &Row) -> Json {
        let ns = row.ns_per_packet();
        let med = row.measured();
        Json::obj([
            ("name", row.name.as_str().into()),
            ("role", format!("{:?}", row.role).to_lowercase().into()),
            ("timing", Json::from(row.timing.map(|t| t.name()))),
            ("scope", row.scope.as_str().into()),
            ("packets", row.packets.into()),
            ("all_packets_seen", Json::from(row.checked)),
            ("check", row.checked_how.as_str().into()),
            ("error", Json::from(row.error.clone())),
            ("command", Json::from(row.cmdline.clone())),
            ("version", Json::from(row.version.clone())),
            ("wall_s", Json::from(med.map(|m| m.wall))),
            ("cpu_s", Json::from(med.map(|m| m.cpu))),
            ("cpu_ns_per_packet", Json::from(ns)),
            (
                "mpps_per_core",
                Json::from(
                    ns.filter(|_| !matches!(row.role, Role::Derived | Role::Control))
                        .map(|v| 1e3 / v),
                ),
            ),
            (
                "ratio_vs_tapscope_worker",
                Json::from(self.ratio_worker(row)),
            ),
            (
                "ratio_vs_tapscope_replay",
                Json::from(self.ratio_replay(row)),
            ),
            ("batch_wall_ns_per_packet", json_batches(row)),
            (
                "runs",
                Json::Arr(
                    row.samples
                        .iter()
                        .map(|s| Json::obj([("wall_s", s.wall.into()), ("cpu_s", s.cpu.into())]))
                        .collect(),
                ),
            ),
            (
                "notes",
                Json::Arr(row.notes.iter().map(|n| n.as_str().into()).collect()),
            ),
        ])
    }

    /// The target per timing, with the default sketches' figure.
    fn json_targets(&self) -> Vec<Json> {
        [Timing::Capture, Timing::Dense]
            .into_iter()
            .filter_map(|t| {
                let v = self.worker_ns(t)?;
                Some(Json::obj([
                    (
                        "what",
                        "parse + flow update (worker, sketches off), in memory, per core".into(),
                    ),
                    ("timing", t.name().into()),
                    ("max_ns_per_packet", TARGET_NS.into()),
                    ("measured_ns_per_packet", v.into()),
                    ("met", (v <= TARGET_NS).into()),
                    (
                        "with_default_sketches_ns_per_packet",
                        Json::from(self.role_ns(Role::WorkerFull, t)),
                    ),
                    ("design_budget_ns_per_packet", LINE_RATE_NS.into()),
                ]))
            })
            .collect()
    }

    /// The machine and its load.
    fn json_machine(&self) -> Json {
        let m = self.machine;
        Json::obj([
            ("cpu_model", m.cpu_model.as_str().into()),
            ("logical_cpus", m.logical_cpus.into()),
            ("kernel", m.kernel.as_str().into()),
            ("loadavg_start", m.loadavg_start.as_str().into()),
            ("loadavg_end", m.loadavg_end.as_str().into()),
            ("rustc_processes_start", m.rustc_start.into()),
            ("rustc_processes_end", m.rustc_end.into()),
        ])
    }

    /// The capture files and their frames.
    fn json_input(&self) -> Json {
        Json::obj([
            ("pcaps", self.pcaps.display().to_string().into()),
            ("capture_files", self.corpus.captures.len().into()),
            ("frames", self.corpus.frames.len().into()),
            ("ethernet_frames", self.eth_frames.into()),
            (
                "other_link_types",
                Json::obj(
                    self.other_links
                        .iter()
                        .map(|(k, v)| (k.clone(), Json::from(*v))),
                ),
            ),
            (
                "captures",
                Json::Arr(
                    self.corpus
                        .captures
                        .iter()
                        .map(|c| {
                            Json::obj([
                                ("name", c.name.as_str().into()),
                                ("frames", c.frames.into()),
                                ("ethernet_frames", c.ethernet_frames.into()),
                                ("invalid_records", c.invalid_records.into()),
                                ("open_error", Json::from(c.open_error.clone())),
                            ])
                        })
                        .collect(),
                ),
            ),
            ("timestamps_bumped", self.corpus.ts_bumped.into()),
            ("gaps_shortened", self.corpus.gaps_shortened.into()),
        ])
    }

    /// The in-memory runs' settings.
    fn json_settings(&self) -> Json {
        Json::obj([
            ("packets", self.packets.into()),
            ("repeat", self.repeat.into()),
            ("core", Json::from(self.core)),
            ("batch_size", self.cfg.batch_size.into()),
            ("flow_capacity", self.cfg.flows.capacity.into()),
            ("summary_pool", self.cfg.summary_pool.into()),
        ])
    }

    /// The pcap files given to the peers, one per timing.
    fn json_peer_files(&self) -> Json {
        Json::Arr(
            self.peer_files
                .iter()
                .map(|(t, pf)| {
                    Json::obj([
                        ("timing", t.name().into()),
                        ("packets", pf.packets.into()),
                        ("bytes", pf.bytes.into()),
                        ("passes", pf.passes.into()),
                        ("packet_time_span_s", (pf.span_us as f64 / 1e6).into()),
                    ])
                })
                .collect(),
        )
    }

    /// The peers that did not run, with why.
    fn json_not_run(&self) -> Json {
        Json::Arr(
            self.missing
                .iter()
                .map(|mi| Json::obj([("name", mi.name.into()), ("why", mi.why.as_str().into())]))
                .collect(),
        )
    }
}

/// A row's batch times: wall ns per packet at p50 / p99 / max and the mean.
fn json_batches(row: &Row) -> Json {
    match row.batch_spread() {
        Some((p50, p99, max, mean)) => Json::obj([
            ("batch_size", row.batch_size.into()),
            (
                "batches",
                row.batches.as_ref().map_or(0, |h| h.len()).into(),
            ),
            ("p50", p50.into()),
            ("p99", p99.into()),
            ("max", max.into()),
            ("mean", mean.into()),
        ]),
        None => Json::Null,
    }
}
