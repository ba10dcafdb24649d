//! `tapscope probe`: the configured probes without capture, writing the
//! `probes` table; each result is printed as it comes (a line for people,
//! or a JSON object per line with `--json`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use config::Config;
use control::pipeline::start_sink;
use control::probes::Probes;
use probe::ProbeResult;

/// What `tapscope probe` was asked to do.
pub(crate) struct ProbeArgs {
    pub config: Config,
    pub out: PathBuf,
    /// Every task once, at once, then stop.
    pub once: bool,
    /// Stop after this long (default: until SIGINT/SIGTERM).
    pub duration: Option<Duration>,
    pub json: bool,
}

/// What a run of `tapscope probe` did.
#[derive(Debug)]
pub(crate) struct ProbeReport {
    pub runs: u64,
    pub failures: u64,
    pub written: u64,
    /// Rows that could not be written (still buffered at the end).
    pub unwritten: u64,
    pub dropped: u64,
}

pub(crate) fn run(args: ProbeArgs) -> Result<ProbeReport> {
    let cfg = &args.config;
    let tasks = cfg.probe_tasks();
    if tasks.is_empty() {
        bail!("no probe tasks: add [[probes]] entries to the configuration (see tapscope.example.toml)");
    }
    // No capture here: nothing is lost by waiting for the sink.
    let mut sink = start_sink(cfg, &args.out, true)
        .with_context(|| format!("opening output folder {}", args.out.display()))?;
    let mut settings = cfg.probe_settings();
    settings.once = args.once;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [libc::SIGINT, libc::SIGTERM] {
        signal_flag(sig, stop.clone());
    }
    let mut probes = Probes::start(tasks, &settings, None).context("starting the probe thread")?;
    let deadline = args.duration.map(|d| Instant::now() + d);
    let print = |rs: Vec<ProbeResult>| {
        for r in rs {
            if args.json {
                println!("{}", r.to_json());
            } else {
                println!(
                    "{} {} {}: {}{}",
                    r.task,
                    r.kind,
                    r.target,
                    if r.ok { "ok, " } else { "FAILED " },
                    r.headline()
                );
            }
        }
    };
    loop {
        let finished = probes.finished();
        print(
            probes
                .poll(&mut sink)
                .context("handing probe rows to the sink")?,
        );
        if (args.once && finished)
            || stop.load(Ordering::SeqCst)
            || deadline.is_some_and(|d| Instant::now() >= d)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    print(
        probes
            .close(&mut sink)
            .context("handing probe rows to the sink")?,
    );
    if let Err(e) = sink.close() {
        tracing::warn!("closing the Parquet files: {e}");
    }
    let stats = sink.stats();
    let spool = stats.probe_spool;
    let (runs, failures, queue_dropped, _) = probes.counters();
    let report = ProbeReport {
        runs,
        failures,
        written: spool.written,
        unwritten: spool.buffered,
        dropped: spool.dropped + queue_dropped,
    };
    {
        eprintln!(
            "probes: {} runs, {} failed; {} rows written under {}{}{}",
            report.runs,
            report.failures,
            report.written,
            args.out.display(),
            if report.unwritten > 0 {
                format!(
                    ", {} NOT written ({})",
                    report.unwritten,
                    stats.probe_write_error.as_deref().unwrap_or("write failed")
                )
            } else {
                String::new()
            },
            if report.dropped > 0 {
                format!(", {} dropped (buffer full)", report.dropped)
            } else {
                String::new()
            }
        );
    }
    Ok(report)
}

/// Raises `flag` when `sig` arrives (a plain handler: the command has no
/// async runtime of its own).
fn signal_flag(sig: libc::c_int, flag: Arc<AtomicBool>) {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    let _ = FLAG.set(flag);
    extern "C" fn handler(_: libc::c_int) {
        if let Some(f) = FLAG.get() {
            f.store(true, Ordering::SeqCst);
        }
    }
    // SAFETY: the handler only stores into an atomic, which is
    // async-signal-safe; the flag is set before the handler is installed.
    unsafe {
        libc::signal(sig, handler as *const () as libc::sighandler_t);
    }
}
