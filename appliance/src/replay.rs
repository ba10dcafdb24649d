//! `tapscope replay`: the live pipeline over capture files.
//!
//! One worker reads the files itself; with several workers a dispatcher
//! thread reads them and spreads frames by a symmetric flow hash. The
//! control core (this thread, on a tokio current-thread runtime) merges
//! summaries, writes Parquet, shows progress and handles SIGINT/SIGTERM by
//! stopping the workers, which end their flows and hand over what they hold.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use datapath::parse::{ParseError, PARSE_REASONS};
use datapath::source::replay::{Dispatcher, FileChain, Paced, ReplayProgress};
use datapath::source::FrameSource;

use config::Config;
use control::control::{reason_name, Totals, WorkerSource};
use control::pipeline::{Pipeline, Until};
use sink::SinkStats;

/// Replay pacing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Speed {
    /// As fast as the pipeline goes.
    Max,
    /// At the capture's own pace.
    Real,
}

/// What `replay` was asked to do.
#[derive(Clone, Debug)]
pub(crate) struct ReplayArgs {
    pub captures: Vec<PathBuf>,
    pub config: Config,
    pub workers: usize,
    pub speed: Speed,
    /// Show progress and the summary on stderr/stdout.
    pub quiet: bool,
}

/// What a replay did.
#[derive(Debug)]
pub(crate) struct ReplayReport {
    pub totals: Totals,
    pub sink: SinkStats,
    pub elapsed: Duration,
    pub interrupted: bool,
}

/// Runs a replay to the end (or until interrupted).
pub(crate) fn run(args: ReplayArgs) -> Result<ReplayReport> {
    let cfg = &args.config;
    let progress = Arc::new(ReplayProgress::default());
    let chain =
        FileChain::open(args.captures.clone(), progress.clone()).context("opening captures")?;
    let n = args.workers.max(1);
    // Replay is lossless: workers wait for free summaries and the control
    // core waits when the sink falls behind (a file can wait).
    let mut pipeline = Pipeline::new(cfg, n, true)?;
    pipeline.reading_files();
    let time = pipeline.time_guard();
    let stop = pipeline.stop_flag();
    let name = if args.captures.len() == 1 {
        args.captures[0]
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        format!("{} files", args.captures.len())
    };
    let sources: Vec<WorkerSource> = (0..n)
        .map(|_| WorkerSource {
            source: format!("pcap:{name}"),
            mode: "pcap".into(),
        })
        .collect();
    let started = Instant::now();
    if n == 1 {
        let mut w = pipeline.worker(0);
        let speed = args.speed;
        pipeline.spawn("worker-0".into(), Some(0), move || {
            let mut chain = chain;
            match speed {
                Speed::Max => w.run(&mut chain),
                Speed::Real => w.run(&mut Paced::new(chain, time, stop)),
            };
        })?;
    } else {
        let mut rings = match args.speed {
            Speed::Max => spawn_dispatcher(&mut pipeline, chain, n)?,
            Speed::Real => spawn_dispatcher(&mut pipeline, Paced::new(chain, time, stop), n)?,
        };
        for i in (0..n).rev() {
            let mut w = pipeline.worker(i);
            let mut ring = rings.pop().expect("one ring per worker");
            pipeline.spawn(format!("worker-{i}"), Some(i), move || {
                w.run(&mut ring);
            })?;
        }
    }

    let running = pipeline.into_control(sources);
    let show_progress = !args.quiet;
    let tty = std::io::stderr().is_terminal();
    let mut printed = false;
    let done = running.run(
        Until::WorkersDone,
        Duration::from_secs(if tty { 1 } else { 10 }),
        |c| {
            if show_progress {
                print_progress(&progress, c.totals(), started, tty);
                printed = true;
            }
        },
    )?;
    if printed && tty {
        eprintln!();
    }
    if let Some(e) = done.sink_error {
        return Err(anyhow::Error::new(e).context("closing Parquet files"));
    }
    let report = ReplayReport {
        totals: done.totals,
        sink: done.sink,
        elapsed: done.elapsed,
        interrupted: done.interrupted,
    };
    if !args.quiet {
        print_report(&report, &cfg.output.dir);
    }
    Ok(report)
}

/// Starts the dispatcher that reads `src` and spreads its frames over `n`
/// workers by symmetric flow hash (standing in for NIC RSS); returns the
/// workers' rings.
fn spawn_dispatcher<S: FrameSource + Send + 'static>(
    pipeline: &mut Pipeline,
    src: S,
    n: usize,
) -> Result<Vec<datapath::source::replay::RingSource>> {
    let (mut d, rings) = Dispatcher::new(src, n, pipeline.time_guard());
    let stop = pipeline.stop_flag();
    pipeline.spawn("dispatch".into(), None, move || d.run(&stop))?;
    Ok(rings)
}

fn print_progress(p: &ReplayProgress, t: &Totals, started: Instant, tty: bool) {
    let read = p.bytes_read.load(Ordering::Relaxed);
    let total = p.bytes_total.load(Ordering::Relaxed).max(1);
    let frames = p.frames.load(Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let line = format!(
        "replay: {:5.1}%  {} of {}  {} frames  {:.2} Mpps  {} flows written",
        100.0 * read as f64 / total as f64,
        human_bytes(read),
        human_bytes(total),
        group(frames),
        frames as f64 / secs / 1e6,
        group(t.flows()),
    );
    let mut e = std::io::stderr().lock();
    if tty {
        let _ = write!(e, "\r{line}\x1b[K");
    } else {
        let _ = writeln!(e, "{line}");
    }
    let _ = e.flush();
}

pub(crate) use crate::opcli::render::{group, human_bytes};

fn print_report(r: &ReplayReport, dir: &std::path::Path) {
    let c = &r.totals.counters;
    let secs = r.elapsed.as_secs_f64().max(1e-9);
    println!(
        "{}: {} packets, {} in {:.2} s ({:.2} Mpps)",
        if r.interrupted {
            "replay interrupted"
        } else {
            "replay done"
        },
        group(c.packets),
        human_bytes(c.bytes),
        secs,
        c.packets as f64 / secs / 1e6
    );
    let reasons: Vec<String> = (0..6)
        .filter(|&i| r.totals.flows_by_reason[i] > 0)
        .map(|i| format!("{} {}", reason_name(i), group(r.totals.flows_by_reason[i])))
        .collect();
    println!(
        "  flows:    {} records ({})",
        group(r.totals.flows()),
        reasons.join(", ")
    );
    let not_flows: Vec<String> = (0..PARSE_REASONS)
        .filter(|&i| c.parse_errors[i] > 0)
        .map(|i| {
            format!(
                "{} {}",
                ParseError::reason_name(i),
                group(c.parse_errors[i])
            )
        })
        .collect();
    if not_flows.is_empty() {
        println!("  not flow packets: none");
    } else {
        println!(
            "  not flow packets: {} ({})",
            group(c.parse_errors_total()),
            not_flows.join(", ")
        );
    }
    let drops = [
        ("flow_table_full", c.flow_table_full),
        ("records_dropped", c.records_dropped),
        ("summary_queue_full", c.summary_queue_full),
        ("unreadable_records", c.src_invalid_descs),
        ("late_sketches", r.totals.sketch.late),
    ];
    let d: Vec<String> = drops
        .iter()
        .filter(|(_, v)| *v > 0)
        .map(|(k, v)| format!("{k} {}", group(*v)))
        .collect();
    println!(
        "  drops:    {}",
        if d.is_empty() {
            "none".to_string()
        } else {
            d.join(", ")
        }
    );
    if c.bad_timestamp > 0 {
        println!(
            "  time:     {} packets with a bad timestamp (counted at the latest good time)",
            group(c.bad_timestamp)
        );
    }
    let k = &r.totals.sketch;
    println!(
        "  sketches: {} windows: {} heavy hitters, {} scans, {} flow-size buckets",
        group(k.windows),
        group(k.heavy_hitter_rows),
        group(k.scan_rows),
        group(k.flow_size_rows),
    );
    if r.totals.video_segments > 0 || r.totals.video_sessions > 0 {
        println!(
            "  video:    {} segments, {} sessions in {} windows",
            group(r.totals.video_segments),
            group(r.totals.video_sessions),
            group(r.totals.video_windows),
        );
    }
    println!(
        "  files:    {} written under {}",
        r.sink.files_written,
        dir.display()
    );
    for f in r.sink.recent_files.iter().take(10) {
        println!("    {}", f.strip_prefix(dir).unwrap_or(f).display());
    }
    if r.sink.files_written > 10 {
        println!("    ... and {} more", r.sink.files_written - 10);
    }
    if let Some(line) = sink_damage(&r.sink) {
        println!("  sink:     {line}");
    }
}

/// What the sink could not write, in a line; `None` when it wrote
/// everything.
pub(crate) fn sink_damage(st: &SinkStats) -> Option<String> {
    let mut parts = Vec::new();
    if st.rows_lost > 0 || st.write_errors > 0 {
        parts.push(format!(
            "{} rows lost in {} write errors",
            group(st.rows_lost),
            group(st.write_errors)
        ));
    }
    if st.rows_dropped > 0 {
        let tables: Vec<String> = st
            .tables
            .iter()
            .filter(|t| t.rows_dropped > 0)
            .map(|t| format!("{} {}", t.table, group(t.rows_dropped)))
            .collect();
        parts.push(format!(
            "{} rows dropped because the sink fell behind ({})",
            group(st.rows_dropped),
            tables.join(", ")
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}
