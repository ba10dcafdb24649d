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
//!
//! Steps 2 and 3 run on two timings of the same frames (see [`corpus`]):
//! the captures' own sparse timing, and a dense one (1 frame per µs).

mod corpus;
mod json;
mod mem;
mod peers;
mod report;
mod sys;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use datapath::epoch::CaptureCounters;
use datapath::parse::LinkType;
use datapath::sketch::SketchPlan;
use datapath::worker::WorkerConfig;

use corpus::{Corpus, FrameRef, PeerFile, Timing};
use peers::Seen;
use report::{Report, Role, Row, Sample};
use sys::Machine;

#[derive(Parser, Debug)]
#[command(
    name = "tapscope-bench",
    about = "Replay benchmark: tapscope's datapath in memory, and the same captures through \
             tapscope replay, ndpiReader, softflowd and tcpdump, side by side"
)]
pub struct Args {
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
    /// Timings to run, comma-separated: the captures' own (sparse) timing,
    /// and/or one frame per microsecond.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Timing::Capture, Timing::Dense])]
    timing: Vec<Timing>,
    /// Core to pin the in-memory runs to (default: the last core).
    #[arg(long)]
    core: Option<usize>,
    /// Frames per worker poll.
    #[arg(long, default_value_t = WorkerConfig::default().batch_size)]
    batch_size: usize,
    /// Skip the peers (in-memory figures only).
    #[arg(long)]
    no_peers: bool,
    /// Scratch folder for the peers' pcap files and outputs (kept); default:
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

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("tapscope-bench: {e:#}");
        std::process::exit(1);
    }
}

fn run(mut args: Args) -> Result<()> {
    anyhow::ensure!(args.repeat >= 1, "--repeat must be at least 1");
    anyhow::ensure!(args.packets >= 1, "--packets must be at least 1");
    anyhow::ensure!(args.batch_size >= 1, "--batch-size must be at least 1");
    args.timing.sort();
    args.timing.dedup();
    let root = workspace_root();
    let pcaps = args
        .pcaps
        .clone()
        .unwrap_or_else(|| root.join("../shared/testdata/pcap"));
    let tapscope = args
        .tapscope
        .clone()
        .unwrap_or_else(|| root.join("target/release/tapscope"));
    // Absolute: the peers run in a scratch folder, where a relative path
    // would point elsewhere.
    let tapscope = std::path::absolute(&tapscope).unwrap_or(tapscope);
    let mut machine = Machine::probe();

    eprintln!("loading captures from {} ...", pcaps.display());
    let corpus = Corpus::load(&pcaps)?;
    let eth = corpus.select(Some(LinkType::Ethernet));
    let all = corpus.select(None);
    let mut other_links: BTreeMap<String, u64> = BTreeMap::new();
    for f in corpus
        .frames
        .iter()
        .filter(|f| f.link != LinkType::Ethernet)
    {
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

    // The in-memory control core runs between batches only, and on the
    // sparse capture timing a batch may cross an epoch boundary at nearly
    // every frame: enough summaries in circulation for a whole batch, so no
    // epoch is dropped for want of one (a live control core drains
    // concurrently).
    let cfg = WorkerConfig {
        batch_size: args.batch_size,
        summary_pool: args.batch_size + 8,
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
    let mut peer_files: Vec<(Timing, PeerFile)> = Vec::new();
    let mut missing = Vec::new();
    if !args.no_peers {
        let (tmp, work) = match &args.work_dir {
            Some(d) => {
                std::fs::create_dir_all(d)?;
                (None, d.clone())
            }
            None => {
                let t = tempfile::Builder::new()
                    .prefix("tapscope-bench-")
                    .tempdir()?;
                let p = t.path().to_path_buf();
                (Some(t), p)
            }
        };
        for &timing in &args.timing {
            let frames = corpus::retime(&eth, timing);
            let (pf, peer_rows, miss) =
                run_peers(&args, &corpus, &frames, timing, &work, &tapscope, cfg)?;
            rows.extend(peer_rows);
            peer_files.push((timing, pf));
            missing = miss;
        }
        if let Some(t) = tmp {
            t.close().ok();
        }
    }
    machine.finish();

    let report = Report {
        packets: args.packets,
        repeat: args.repeat,
        machine: &machine,
        corpus: &corpus,
        pcaps: &pcaps,
        eth_frames: eth.len(),
        other_links: &other_links,
        core,
        cfg,
        rows: &rows,
        peer_files: &peer_files,
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

/// Writes the peers' pcap file for one timing and runs every peer on it.
fn run_peers(
    args: &Args,
    corpus: &Corpus,
    frames: &[FrameRef],
    timing: Timing,
    work: &Path,
    tapscope: &Path,
    cfg: WorkerConfig,
) -> Result<(PeerFile, Vec<Row>, Vec<peers::Missing>)> {
    let file = work.join(format!("peers-{timing:?}.pcap").to_lowercase());
    eprintln!(
        "{}: writing {} Ethernet frames to {} ...",
        timing.name(),
        args.peer_packets,
        file.display()
    );
    let pf = corpus::write_pcap(corpus, frames, args.peer_packets, &file)?;
    // Into the page cache before anyone is timed.
    std::io::copy(&mut std::fs::File::open(&file)?, &mut std::io::sink())?;
    let (list, missing) = peers::peers(&file, work, tapscope, cfg.flows.capacity);
    let mut rows: Vec<Row> = list
        .iter()
        .map(|p| Row {
            name: p.name.to_string(),
            role: Role::Peer,
            timing: Some(timing),
            scope: p.scope.to_string(),
            packets: pf.packets,
            cmdline: Some(p.cmdline.clone()),
            version: Some(p.version.clone()),
            ..Row::default()
        })
        .collect();
    // Round-robin, so a burst of load from elsewhere hits every peer rather
    // than one.
    for rep in 0..args.repeat {
        for (p, row) in list.iter().zip(rows.iter_mut()) {
            eprintln!("  run {}/{}: {}", rep + 1, args.repeat, p.cmdline);
            let r = match p.run(work, rep) {
                Ok(r) => r,
                Err(e) => {
                    row.error = Some(format!("{e:#}"));
                    continue;
                }
            };
            if r.child.code == Some(0) {
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
                    if row.checked.is_none() && row.checked_how.is_empty() {
                        row.checked = Some(true);
                        row.checked_how = format!("yes ({})", check_source(p.name));
                    }
                }
                Seen::Count(n) => {
                    row.checked = Some(false);
                    row.checked_how = format!("NO: it reported {n}");
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
    }
    std::fs::remove_file(&file).ok();
    Ok((pf, rows, missing))
}

fn check_source(peer: &str) -> &'static str {
    match peer {
        "tcpdump" => "its --count",
        "ndpiReader" => "\"packets total\" in its summary",
        "softflowd" => "processed + non-IP in its statistics",
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
    let bench = MemBench {
        args,
        corpus,
        eth,
        timed: args
            .timing
            .iter()
            .map(|&t| (t, corpus::retime(eth, t)))
            .collect(),
        cfg,
        bare: WorkerConfig {
            names: false,
            ..cfg
        },
        no_segments: WorkerConfig {
            flows: datapath::flow::FlowConfig {
                segments: datapath::flow::segment::SegmentConfig {
                    enabled: false,
                    ..cfg.flows.segments
                },
                ..cfg.flows
            },
            ..cfg
        },
        off: Arc::new(SketchPlan::disabled()),
        full: Arc::new(SketchPlan::default()),
        // Other link types only matter if there are any.
        extra_links: all.len() != eth.len() && args.timing.contains(&Timing::Capture),
    };
    let mut rows = MemRows::new(args, &bench.timed);
    bench.warm_up();
    for rep in 0..args.repeat {
        eprintln!("  run {}/{}", rep + 1, args.repeat);
        bench.run_workers(&mut rows);
        bench.run_parse(&mut rows.parse);
        if bench.extra_links {
            let a = mem::worker_run(corpus, all, args.packets, bench.bare, &bench.off);
            record_worker(&mut rows.worker_all, &a, cfg.batch_size);
        }
    }
    (rows.into_rows(args.packets, bench.extra_links), core)
}

/// What every in-memory run shares.
struct MemBench<'a> {
    args: &'a Args,
    corpus: &'a Corpus,
    eth: &'a [FrameRef],
    /// The Ethernet frames on each timing asked for.
    timed: Vec<(Timing, Vec<FrameRef>)>,
    cfg: WorkerConfig,
    /// `cfg` with names off.
    bare: WorkerConfig,
    /// `cfg` with media segment detection off.
    no_segments: WorkerConfig,
    /// Sketches off.
    off: Arc<SketchPlan>,
    /// The default sketches.
    full: Arc<SketchPlan>,
    /// Whether the frames of every link type get a row of their own.
    extra_links: bool,
}

impl MemBench<'_> {
    /// Faults in the corpus and the code.
    fn warm_up(&self) {
        for plan in [&self.off, &self.full] {
            let n = self.args.packets.min(self.eth.len() as u64 * 2);
            let _ = mem::worker_run(self.corpus, self.eth, n, self.cfg, plan);
        }
    }

    /// One run of each worker variant on each timing, and the control
    /// core's part of the run with the default sketches.
    fn run_workers(&self, rows: &mut MemRows) {
        let (packets, batch) = (self.args.packets, self.cfg.batch_size);
        for (i, (_, frames)) in self.timed.iter().enumerate() {
            let w = mem::worker_run(self.corpus, frames, packets, self.bare, &self.off);
            record_worker(&mut rows.workers[i], &w, batch);
            let nm = mem::worker_run(self.corpus, frames, packets, self.cfg, &self.off);
            record_worker(&mut rows.named[i], &nm, batch);
            let f = mem::worker_run(self.corpus, frames, packets, self.cfg, &self.full);
            record_worker(&mut rows.fulls[i], &f, batch);
            let ns = mem::worker_run(self.corpus, frames, packets, self.no_segments, &self.full);
            record_worker(&mut rows.no_segments[i], &ns, batch);
            let control = &mut rows.controls[i];
            control.samples.push(Sample {
                wall: f.control_cpu.as_secs_f64(),
                cpu: f.control_cpu.as_secs_f64(),
            });
            control.checked = None;
            control.checked_how = format!(
                "{} summaries (one per {:.0} packets); with sketches off: {:.1} ns/packet",
                f.summaries,
                f.packets as f64 / f.summaries.max(1) as f64,
                w.control_cpu.as_secs_f64() * 1e9 / w.packets.max(1) as f64
            );
        }
    }

    /// One run of `parse_frame` alone over the Ethernet frames.
    fn run_parse(&self, parse: &mut Row) {
        let args = self.args;
        let p = mem::parse_run(self.corpus, self.eth, args.packets, args.batch_size);
        parse.samples.push(Sample {
            wall: p.wall.as_secs_f64(),
            cpu: p.cpu.as_secs_f64(),
        });
        parse.add_batches(&p, args.batch_size);
        let ok = p.parsed_ok + p.parse_err == args.packets;
        parse.checked = Some(ok && parse.checked != Some(false));
        parse.checked_how = format!(
            "{} ({} parsed, {} not flow packets)",
            if ok { "yes" } else { "NO" },
            p.parsed_ok,
            p.parse_err
        );
    }
}

/// The in-memory rows as they are measured (worker rows: one per timing).
struct MemRows {
    workers: Vec<Row>,
    named: Vec<Row>,
    fulls: Vec<Row>,
    no_segments: Vec<Row>,
    controls: Vec<Row>,
    parse: Row,
    worker_all: Row,
}

impl MemRows {
    /// Empty rows for `timed`'s timings.
    fn new(args: &Args, timed: &[(Timing, Vec<FrameRef>)]) -> MemRows {
        let scope = "in memory, 1 pinned core, no file IO, no Parquet";
        let row = |name: &str, role: Role, timing: Option<Timing>, what: &str| Row {
            name: name.into(),
            role,
            timing,
            scope: format!("{scope}: {what}"),
            packets: args.packets,
            ..Row::default()
        };
        let flow_what = "parse + flow update + expiry + epoch hand-over";
        let per_timing = |name: &str, role: Role, what: &str| -> Vec<Row> {
            timed
                .iter()
                .map(|(t, _)| row(name, role, Some(*t), what))
                .collect()
        };
        MemRows {
            workers: per_timing(
                "tapscope worker, names and sketches off",
                Role::Worker,
                flow_what,
            ),
            named: per_timing(
                "tapscope worker, names on, sketches off",
                Role::WorkerNames,
                &format!("{flow_what} + names (DNS, TLS/QUIC SNI, HTTP Host, DHCP)"),
            ),
            fulls: per_timing(
                "tapscope worker, names + default sketches",
                Role::WorkerFull,
                &format!("{flow_what} + names + sketches (SketchPlan::default())"),
            ),
            no_segments: per_timing(
                "tapscope worker, names + default sketches, segment detection off",
                Role::Extra,
                &format!(
                    "{flow_what} + names + sketches, without media segment detection \
                     (the row above minus this one is its cost)"
                ),
            ),
            controls: timed
                .iter()
                .map(|(t, _)| Row {
                    name: "control core's part, default sketches".into(),
                    role: Role::Control,
                    timing: Some(*t),
                    scope: "drain, read, reset and recycle summaries: run inline between \
                            batches here and left out of the worker rows (a live control \
                            core does it on its own core)"
                        .into(),
                    packets: args.packets,
                    ..Row::default()
                })
                .collect(),
            parse: row(
                "tapscope parse_frame only",
                Role::Parse,
                None,
                "parse only (timing does not matter)",
            ),
            worker_all: row(
                "tapscope worker, names and sketches off, all link types",
                Role::Extra,
                Some(Timing::Capture),
                flow_what,
            ),
        }
    }

    /// The rows computed from the measured ones: each stage's share.
    fn derived(&self, packets: u64) -> Vec<Row> {
        let derive = |name: &str, what: &str, t: Option<Timing>, v: Option<f64>| Row {
            name: name.into(),
            role: Role::Derived,
            timing: t,
            scope: what.into(),
            packets,
            derived_ns: v,
            ..Row::default()
        };
        let minus = |a: &Row, b: Option<f64>| a.ns_per_packet().zip(b).map(|(a, b)| a - b);
        let parse_ns = self.parse.ns_per_packet();
        let mut derived = Vec::new();
        for w in &self.workers {
            derived.push(derive(
                "→ flow update + housekeeping",
                "worker with sketches off − parse only",
                w.timing,
                minus(w, parse_ns),
            ));
        }
        for (w, n) in self.workers.iter().zip(&self.named) {
            derived.push(derive(
                "→ names",
                "worker with names on − worker with names and sketches off",
                w.timing,
                minus(n, w.ns_per_packet()),
            ));
        }
        for (n, f) in self.named.iter().zip(&self.fulls) {
            derived.push(derive(
                "→ sketches",
                "worker with names + default sketches − worker with names on",
                n.timing,
                minus(f, n.ns_per_packet()),
            ));
        }
        derived
    }

    /// Every row in the report's order.
    fn into_rows(self, packets: u64, extra_links: bool) -> Vec<Row> {
        let derived = self.derived(packets);
        let mut rows = self.workers;
        rows.extend(self.named);
        rows.extend(self.fulls);
        rows.extend(self.no_segments);
        rows.push(self.parse);
        rows.extend(derived);
        rows.extend(self.controls);
        if extra_links {
            rows.push(self.worker_all);
        }
        rows
    }
}

fn record_worker(row: &mut Row, r: &mem::MemRun, batch: usize) {
    row.samples.push(Sample {
        wall: r.wall.as_secs_f64(),
        cpu: r.cpu.as_secs_f64(),
    });
    row.add_batches(r, batch);
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
            "flows created {}, flow records {}, flow_table_full {}, records_dropped {}, \
             summary_queue_full {}",
            c.flows_created,
            r.flow_records,
            c.flow_table_full,
            c.records_dropped,
            c.summary_queue_full
        ),
        format!(
            "summaries handed over {} (one per {:.0} packets)",
            r.summaries,
            r.packets as f64 / r.summaries.max(1) as f64
        ),
    ]
}
