//! `tapscope-bench`: the replay benchmark.
//!
//! 1. Loads every capture of a folder (the shared nDPI test captures by
//!    default) into memory, on one timeline.
//! 2. In memory, on one pinned core: loops the frames through one datapath
//!    `Worker` (parse + flow update + expiry + epoch hand-over) until
//!    `--packets` frames were processed, and runs `parse_frame` alone over
//!    the same frames, to show the split. No file IO, no Parquet.
//! 3. In the same run, writes the same Ethernet frames, looped to
//!    `--peer-packets`, to one pcap file and runs `tcpdump --count` (the cost
//!    of reading the file), `ndpiReader`, `softflowd` and `tapscope replay`
//!    on it, each timed by wall clock and by its own CPU time, and checks
//!    that each one saw every packet.
//! 4. Prints a Markdown table (for README.md) and optionally writes JSON.

mod corpus;
mod json;
mod mem;
mod peers;
mod sys;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Parser;
use datapath::epoch::CaptureCounters;
use datapath::parse::LinkType;
use datapath::worker::WorkerConfig;

use corpus::{Corpus, FrameRef, PeerFile};
use json::Json;
use peers::Seen;
use sys::Machine;

#[derive(Parser, Debug)]
#[command(
    name = "tapscope-bench",
    about = "Replay benchmark: tapscope's datapath in memory, and the same captures through tapscope replay, ndpiReader, softflowd and tcpdump"
)]
struct Args {
    /// Folder of capture files (default: ../shared/testdata/pcap beside the workspace).
    #[arg(long)]
    pcaps: Option<PathBuf>,
    /// Frames processed per in-memory run (the captures are looped).
    #[arg(long, default_value_t = 10_000_000)]
    packets: u64,
    /// Frames in the pcap file given to the peers (the captures are looped).
    #[arg(long, default_value_t = 1_000_000)]
    peer_packets: u64,
    /// The tapscope binary (default: target/release/tapscope in the workspace).
    #[arg(long)]
    tapscope: Option<PathBuf>,
    /// Also write the results as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Runs of each measurement; the table shows the median by CPU time.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Core to pin the in-memory runs to (default: the last core).
    #[arg(long)]
    core: Option<usize>,
    /// Frames per worker poll.
    #[arg(long, default_value_t = WorkerConfig::default().batch_size)]
    batch_size: usize,
    /// Skip the peers (in-memory figures only).
    #[arg(long)]
    no_peers: bool,
    /// Scratch folder for the peers' pcap file and outputs (kept); default:
    /// a temporary folder, removed at the end.
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bench/ has a parent")
        .to_path_buf()
}

/// Wall and CPU seconds of one run.
#[derive(Clone, Copy, Debug)]
struct Sample {
    wall: f64,
    cpu: f64,
}

/// One line of the table.
#[derive(Debug, Default)]
struct Row {
    name: String,
    scope: String,
    in_memory: bool,
    packets: u64,
    /// Whether the run's own report shows it processed `packets` frames.
    checked: Option<bool>,
    checked_how: String,
    samples: Vec<Sample>,
    /// A row computed from two others (ns/packet only).
    derived_ns: Option<f64>,
    notes: Vec<String>,
    error: Option<String>,
    cmdline: Option<String>,
    version: Option<String>,
}

impl Row {
    /// The median run by CPU time.
    fn median(&self) -> Option<Sample> {
        let mut s = self.samples.clone();
        s.sort_by(|a, b| a.cpu.total_cmp(&b.cpu));
        s.get(s.len() / 2).copied()
    }

    fn ns_per_packet(&self) -> Option<f64> {
        if self.derived_ns.is_some() {
            return self.derived_ns;
        }
        let m = self.median()?;
        (self.packets > 0 && self.error.is_none()).then(|| m.cpu * 1e9 / self.packets as f64)
    }
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("tapscope-bench: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    anyhow::ensure!(args.repeat >= 1, "--repeat must be at least 1");
    anyhow::ensure!(args.packets >= 1, "--packets must be at least 1");
    let root = workspace_root();
    let pcaps = args
        .pcaps
        .clone()
        .unwrap_or_else(|| root.join("../shared/testdata/pcap"));
    let tapscope = args
        .tapscope
        .clone()
        .unwrap_or_else(|| root.join("target/release/tapscope"));
    let mut machine = Machine::probe();

    eprintln!("loading captures from {} ...", pcaps.display());
    let corpus = Corpus::load(&pcaps)?;
    let eth = corpus.select(Some(LinkType::Ethernet));
    let all = corpus.select(None);
    let mut other_links: BTreeMap<String, u64> = BTreeMap::new();
    for f in corpus.frames.iter().filter(|f| f.link != LinkType::Ethernet) {
        *other_links.entry(format!("{:?}", f.link)).or_default() += 1;
    }
    anyhow::ensure!(!eth.is_empty(), "no Ethernet frames in {}", pcaps.display());
    eprintln!(
        "  {} frames from {} files ({} Ethernet, {} of other link types)",
        all.len(),
        corpus.captures.len(),
        eth.len(),
        all.len() - eth.len()
    );

    let cfg = WorkerConfig {
        batch_size: args.batch_size,
        ..WorkerConfig::default()
    };

    // In-memory runs on a pinned thread of their own: the main thread stays
    // unpinned, so the peers (children inherit the affinity of the thread
    // that starts them) may use every core.
    let (mem_rows, core) = std::thread::scope(|s| {
        s.spawn(|| in_memory(&args, &corpus, &eth, &all, cfg))
            .join()
            .expect("in-memory thread panicked")
    });

    let mut rows = mem_rows;
    let mut peer_file: Option<PeerFile> = None;
    let mut missing = Vec::new();
    if !args.no_peers {
        let (tmp, work) = match &args.work_dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                (None, d.clone())
            }
            None => {
                let t = tempfile::Builder::new().prefix("tapscope-bench-").tempdir()?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        let file = work.join("peers.pcap");
        eprintln!(
            "writing {} Ethernet frames to {} ...",
            args.peer_packets,
            file.display()
        );
        let pf = corpus::write_pcap(&corpus, &eth, args.peer_packets, &file)?;
        // Into the page cache before anyone is timed.
        std::io::copy(&mut std::fs::File::open(&file)?, &mut std::io::sink())?;
        let (list, miss) = peers::peers(&file, &work, &tapscope, cfg.flows.capacity);
        missing = miss;
        let mut peer_rows: Vec<Row> = list
            .iter()
            .map(|p| Row {
                name: p.name.to_string(),
                scope: p.scope.to_string(),
                packets: pf.packets,
                cmdline: Some(p.cmdline.clone()),
                version: Some(p.version.clone()),
                ..Row::default()
            })
            .collect();
        // Round-robin, so a burst of load from elsewhere hits every peer
        // rather than one.
        for rep in 0..args.repeat {
            for (p, row) in list.iter().zip(peer_rows.iter_mut()) {
                eprintln!("  run {}/{}: {}", rep + 1, args.repeat, p.cmdline);
                match p.run(&work, rep) {
                    Ok(r) => {
                        let ok = r.child.code == Some(0);
                        if ok {
                            row.samples.push(Sample {
                                wall: r.child.wall.as_secs_f64(),
                                cpu: r.child.cpu().as_secs_f64(),
                            });
                        } else if row.error.is_none() {
                            row.error = Some(format!(
                                "exit {:?}: {}",
                                r.child.code,
                                r.child.stderr.lines().last().unwrap_or("")
                            ));
                        }
                        match r.seen {
                            Seen::Count(n) if n == pf.packets => {
                                if row.checked.is_none() {
                                    row.checked = Some(true);
                                    row.checked_how = format!("yes ({})", check_source(p.name));
                                }
                            }
                            Seen::Count(n) => {
                                row.checked = Some(false);
                                row.checked_how = format!("NO: reported {n}");
                            }
                            Seen::Unknown(why) => {
                                if row.checked != Some(false) {
                                    row.checked = None;
                                    row.checked_how = format!("unknown: {why}");
                                }
                            }
                        }
                        if rep == 0 {
                            row.notes = r.notes;
                        }
                    }
                    Err(e) => row.error = Some(format!("{e:#}")),
                }
            }
        }
        rows.extend(peer_rows);
        peer_file = Some(pf);
        if let Some(t) = tmp {
            t.close().ok();
        }
    }
    machine.finish();

    let report = Report {
        args: &args,
        machine: &machine,
        corpus: &corpus,
        pcaps: &pcaps,
        eth_frames: eth.len(),
        other_links: &other_links,
        core,
        cfg,
        rows: &rows,
        peer_file: peer_file.as_ref(),
        missing: &missing,
    };
    print!("{}", report.markdown());
    if let Some(p) = &args.json {
        std::fs::write(p, format!("{}\n", report.json()))
            .with_context(|| format!("{}: cannot write", p.display()))?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

fn check_source(peer: &str) -> &'static str {
    match peer {
        "tcpdump" => "its --count",
        "ndpiReader" => "\"packets total\" in its summary",
        "softflowd" => "processed + ignored in its statistics",
        "tapscope replay" => "sum of `packets` in its capture table",
        _ => "its report",
    }
}

/// The in-memory rows, and the core they ran on.
fn in_memory(
    args: &Args,
    corpus: &Corpus,
    eth: &[FrameRef],
    all: &[FrameRef],
    cfg: WorkerConfig,
) -> (Vec<Row>, Option<usize>) {
    let core = sys::pin(args.core);
    eprintln!(
        "in memory: {} frames per run, {} runs each, pinned to core {}",
        args.packets,
        args.repeat,
        core.map_or("none (pinning failed)".to_string(), |c| c.to_string())
    );
    let scope = "in memory, 1 pinned core, no file IO, no Parquet";
    let mut worker = Row {
        name: "tapscope worker (Ethernet frames)".into(),
        scope: format!("{scope}: parse + flow update + expiry + epoch hand-over"),
        in_memory: true,
        packets: args.packets,
        ..Row::default()
    };
    let mut parse = Row {
        name: "tapscope parse_frame only (Ethernet frames)".into(),
        scope: format!("{scope}: parse only"),
        in_memory: true,
        packets: args.packets,
        ..Row::default()
    };
    let mut worker_all = Row {
        name: "tapscope worker (all link types)".into(),
        scope: format!("{scope}: parse + flow update + expiry + epoch hand-over"),
        in_memory: true,
        packets: args.packets,
        ..Row::default()
    };
    // Warm-up: fault in the corpus and the code.
    let _ = mem::worker_run(corpus, eth, args.packets.min(eth.len() as u64 * 2), cfg);
    for rep in 0..args.repeat {
        eprintln!("  run {}/{}", rep + 1, args.repeat);
        let w = mem::worker_run(corpus, eth, args.packets, cfg);
        record_worker(&mut worker, &w);
        let p = mem::parse_run(corpus, eth, args.packets);
        parse.samples.push(Sample {
            wall: p.wall.as_secs_f64(),
            cpu: p.cpu.as_secs_f64(),
        });
        let ok = p.parsed_ok + p.parse_err == args.packets;
        parse.checked = Some(ok && parse.checked != Some(false));
        parse.checked_how = format!(
            "{} ({} parsed, {} not flow packets)",
            if ok { "yes" } else { "NO" },
            p.parsed_ok,
            p.parse_err
        );
        let a = mem::worker_run(corpus, all, args.packets, cfg);
        record_worker(&mut worker_all, &a);
    }
    let derived = match (worker.ns_per_packet(), parse.ns_per_packet()) {
        (Some(w), Some(p)) => Some(w - p),
        _ => None,
    };
    let split = Row {
        name: "→ flow update + housekeeping (worker − parse, derived)".into(),
        scope: "difference of the two rows above".into(),
        in_memory: true,
        packets: args.packets,
        derived_ns: derived,
        ..Row::default()
    };
    (vec![worker, parse, split, worker_all], core)
}

fn record_worker(row: &mut Row, r: &mem::MemRun) {
    row.samples.push(Sample {
        wall: r.wall.as_secs_f64(),
        cpu: r.cpu.as_secs_f64(),
    });
    let c = r.counters.unwrap_or_default();
    let ok = c.packets == r.packets && r.packets == row.packets;
    row.checked = Some(ok && row.checked != Some(false));
    row.checked_how = format!(
        "{} (worker's capture counters: {})",
        if ok { "yes" } else { "NO" },
        c.packets
    );
    row.notes = worker_notes(&c, r);
}

fn worker_notes(c: &CaptureCounters, r: &mem::MemRun) -> Vec<String> {
    vec![
        format!(
            "ip_packets {}, not flow packets {}, fragments {}",
            c.ip_packets,
            c.parse_errors_total(),
            c.fragments
        ),
        format!(
            "flows created {}, flow records {}, flow_table_full {}, records_dropped {}, summary_queue_full {}",
            c.flows_created, r.flow_records, c.flow_table_full, c.records_dropped, c.summary_queue_full
        ),
        format!("summaries handed over {}", r.summaries),
    ]
}

struct Report<'a> {
    args: &'a Args,
    machine: &'a Machine,
    corpus: &'a Corpus,
    pcaps: &'a Path,
    eth_frames: usize,
    other_links: &'a BTreeMap<String, u64>,
    core: Option<usize>,
    cfg: WorkerConfig,
    rows: &'a [Row],
    peer_file: Option<&'a PeerFile>,
    missing: &'a [peers::Missing],
}

/// The target of the issue: parse + flow update, in memory, per core.
const TARGET_NS: f64 = 100.0;
/// DESIGN.md's budget: 10 GbE line rate at 64 B is 14.88 Mpps.
const LINE_RATE_NS: f64 = 67.0;

fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

impl Report<'_> {
    fn worker_ns(&self) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.name.starts_with("tapscope worker (Ethernet"))
            .and_then(Row::ns_per_packet)
    }

    fn replay_ns(&self) -> Option<f64> {
        self.rows
            .iter()
            .find(|r| r.name == "tapscope replay")
            .and_then(Row::ns_per_packet)
    }

    fn markdown(&self) -> String {
        use std::fmt::Write;
        let m = self.machine;
        let mut o = String::new();
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
        let _ = writeln!(
            o,
            "Input: {} capture files in `{}`, {} frames ({} Ethernet; {} of other link types{}). \
             Unreadable records skipped by the reader: {}. Files not opened: {}. \
             Timestamps: laid end to end on one timeline, {} frames moved 1 µs after their \
             predecessor to keep time strictly increasing, {} gaps shortened to 600 s.\n",
            self.corpus.captures.len(),
            self.pcaps.display(),
            group(self.corpus.frames.len() as u64),
            group(self.eth_frames as u64),
            group((self.corpus.frames.len() - self.eth_frames) as u64),
            if others.is_empty() {
                String::new()
            } else {
                format!(": {}; not given to the peers, which all read one Ethernet pcap", others.join(", "))
            },
            invalid,
            if unopened.is_empty() {
                "none".to_string()
            } else {
                unopened.join(", ")
            },
            self.corpus.ts_bumped,
            self.corpus.gaps_shortened,
        );
        let _ = writeln!(
            o,
            "In memory: {} frames per run ({:.0} passes over the Ethernet frames, each pass \
             shifted by the corpus span + 400 s so flows end and expire between passes), one \
             `Worker` pinned to core {}, batch {}, flow capacity {}; the control core's part \
             (drain and recycle summaries) runs inline on the same core. Median of {} runs by \
             CPU time (thread CPU clock).\n",
            group(self.args.packets),
            self.args.packets as f64 / self.eth_frames as f64,
            self.core.map_or("(unpinned)".into(), |c| c.to_string()),
            self.cfg.batch_size,
            group(self.cfg.flows.capacity as u64),
            self.args.repeat
        );
        if let Some(pf) = self.peer_file {
            let _ = writeln!(
                o,
                "File: the same Ethernet frames with the same timestamps, looped to {} frames \
                 ({} passes, {:.1} MB classic pcap, read from the page cache). Each program \
                 runs {} times, round-robin; median by CPU time (user + system of the process \
                 and all its threads, from wait4).\n",
                group(pf.packets),
                pf.passes,
                pf.bytes as f64 / 1e6,
                self.args.repeat
            );
        }
        let w = self.worker_ns();
        let r = self.replay_ns();
        let _ = writeln!(
            o,
            "| run | what the time includes | packets | all packets seen? | wall s | CPU s | CPU ns/packet | Mpps per core | ÷ tapscope worker (in memory) | ÷ tapscope replay (file) |"
        );
        let _ = writeln!(o, "|---|---|--:|---|--:|--:|--:|--:|--:|--:|");
        for row in self.rows {
            let ns = row.ns_per_packet();
            let med = row.median();
            let ratio = |base: Option<f64>| match (ns, base) {
                (Some(a), Some(b)) if b > 0.0 && row.derived_ns.is_none() => format!("{:.2}", a / b),
                _ => "–".into(),
            };
            let cell = |v: Option<String>| v.unwrap_or_else(|| "–".into());
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                row.name,
                row.scope,
                if row.derived_ns.is_some() {
                    "–".into()
                } else {
                    group(row.packets)
                },
                match &row.error {
                    Some(e) => format!("FAILED: {e}"),
                    None if row.derived_ns.is_some() => "–".into(),
                    None => row.checked_how.clone(),
                },
                cell(med.filter(|_| row.derived_ns.is_none()).map(|m| format!("{:.3}", m.wall))),
                cell(med.filter(|_| row.derived_ns.is_none()).map(|m| format!("{:.3}", m.cpu))),
                cell(ns.map(|v| format!("{v:.1}"))),
                cell(ns.filter(|_| row.derived_ns.is_none()).map(|v| format!("{:.2}", 1e3 / v))),
                ratio(w),
                ratio(r),
            );
        }
        for mi in self.missing {
            let _ = writeln!(o, "| {} | not run: {} | | | | | | | | |", mi.name, mi.why);
        }
        let _ = writeln!(o);
        match w {
            Some(v) => {
                let _ = writeln!(
                    o,
                    "Target (parse + flow update, in memory, per core): ≤ {TARGET_NS:.0} ns/packet → \
                     {v:.1} ns/packet ({:.2} Mpps per core): **{}**. DESIGN.md's 10 GbE budget \
                     (14.88 Mpps at 64 B) is {LINE_RATE_NS:.0} ns/packet: {}.\n",
                    1e3 / v,
                    if v <= TARGET_NS { "met" } else { "NOT met" },
                    if v <= LINE_RATE_NS { "within" } else { "over" }
                );
            }
            None => {
                let _ = writeln!(o, "Target: no in-memory figure.\n");
            }
        }
        let _ = writeln!(o, "How to read it:");
        let _ = writeln!(
            o,
            "- CPU ns/packet = CPU time ÷ packets; Mpps per core = 1000 ÷ CPU ns/packet. \
             A ratio is that row's CPU ns/packet ÷ tapscope's (above 1: slower than tapscope)."
        );
        let _ = writeln!(
            o,
            "- In-memory rows are core-only (no file IO, no Parquet). File rows include reading \
             the pcap through the page cache; `tapscope replay` also includes its reader and \
             control threads and writing Parquet; ndpiReader also does DPI classification \
             (more work per packet than parse + flow); `tcpdump --count` only reads the file."
        );
        let _ = writeln!(
            o,
            "- Flows: each pass repeats the same connections, so the flow table holds at most \
             one pass's flows at a time (a small, cache-friendly working set compared with a \
             busy tap)."
        );
        for row in self.rows {
            if let (Some(cmd), Some(v)) = (&row.cmdline, &row.version) {
                let _ = writeln!(o, "- `{cmd}` ({})", if v.is_empty() { "version unknown" } else { v });
            }
            for n in &row.notes {
                let _ = writeln!(o, "  - {}: {n}", row.name);
            }
        }
        o
    }

    fn json(&self) -> Json {
        let m = self.machine;
        let w = self.worker_ns();
        let r = self.replay_ns();
        let rows = self
            .rows
            .iter()
            .map(|row| {
                let ns = row.ns_per_packet();
                let med = row.median().filter(|_| row.derived_ns.is_none());
                Json::obj([
                    ("name", row.name.as_str().into()),
                    ("scope", row.scope.as_str().into()),
                    ("in_memory", row.in_memory.into()),
                    ("derived", row.derived_ns.is_some().into()),
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
                        Json::from(ns.filter(|_| row.derived_ns.is_none()).map(|v| 1e3 / v)),
                    ),
                    (
                        "ratio_vs_tapscope_worker",
                        Json::from(ns.zip(w).filter(|_| row.derived_ns.is_none()).map(|(a, b)| a / b)),
                    ),
                    (
                        "ratio_vs_tapscope_replay",
                        Json::from(ns.zip(r).filter(|_| row.derived_ns.is_none()).map(|(a, b)| a / b)),
                    ),
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
            })
            .collect();
        Json::obj([
            (
                "machine",
                Json::obj([
                    ("cpu_model", m.cpu_model.as_str().into()),
                    ("logical_cpus", m.logical_cpus.into()),
                    ("kernel", m.kernel.as_str().into()),
                    ("loadavg_start", m.loadavg_start.as_str().into()),
                    ("loadavg_end", m.loadavg_end.as_str().into()),
                    ("rustc_processes_start", m.rustc_start.into()),
                    ("rustc_processes_end", m.rustc_end.into()),
                ]),
            ),
            (
                "input",
                Json::obj([
                    ("pcaps", self.pcaps.display().to_string().into()),
                    ("capture_files", self.corpus.captures.len().into()),
                    ("frames", self.corpus.frames.len().into()),
                    ("ethernet_frames", self.eth_frames.into()),
                    (
                        "other_link_types",
                        Json::obj(self.other_links.iter().map(|(k, v)| (k.clone(), Json::from(*v)))),
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
                ]),
            ),
            (
                "settings",
                Json::obj([
                    ("packets", self.args.packets.into()),
                    ("peer_packets", Json::from(self.peer_file.map(|p| p.packets))),
                    ("peer_file_bytes", Json::from(self.peer_file.map(|p| p.bytes))),
                    ("repeat", self.args.repeat.into()),
                    ("core", Json::from(self.core)),
                    ("batch_size", self.cfg.batch_size.into()),
                    ("flow_capacity", self.cfg.flows.capacity.into()),
                ]),
            ),
            (
                "target",
                Json::obj([
                    ("max_ns_per_packet", TARGET_NS.into()),
                    ("measured_ns_per_packet", Json::from(w)),
                    ("met", Json::from(w.map(|v| v <= TARGET_NS))),
                ]),
            ),
            ("rows", Json::Arr(rows)),
            (
                "not_run",
                Json::Arr(
                    self.missing
                        .iter()
                        .map(|mi| Json::obj([("name", mi.name.into()), ("why", mi.why.as_str().into())]))
                        .collect(),
                ),
            ),
        ])
    }
}
