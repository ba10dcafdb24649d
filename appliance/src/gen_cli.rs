//! `tapscope gen`: generate the traffic mix onto an interface or into a
//! pcap file.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

use crate::replay::{group, human_bytes};
use generator::{
    generated, write_pcap, GenConfig, Pace, Parts, SendOptions, SendStats, Sender, TrafficMix,
};

/// Arguments of `tapscope gen`.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct GenArgs {
    /// Send on this interface (AF_PACKET; needs root or CAP_NET_RAW).
    #[arg(long, required_unless_present = "pcap", conflicts_with = "pcap")]
    pub iface: Option<String>,
    /// Write a pcap file instead (default length: one round, 2 s of traffic).
    #[arg(long)]
    pub pcap: Option<PathBuf>,
    /// Frames per second on the interface; 0: as fast as it takes them
    /// (default: the traffic's own timing, a few thousand per second).
    #[arg(long, requires = "iface")]
    pub rate: Option<f64>,
    /// Stop after this many seconds (wall time on an interface, packet
    /// time in a pcap file).
    #[arg(long, conflicts_with = "count")]
    pub duration: Option<f64>,
    /// Stop after this many frames.
    #[arg(long)]
    pub count: Option<u64>,
    /// Seed: the same seed and options give the same frames.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Traffic kinds: all, or a comma-separated list of
    /// dns,tls,quic,http,bulk,icmp,scan.
    #[arg(long, default_value = "all")]
    pub mix: Parts,
    /// Visits per service and bulk downloads per 2 s round.
    #[arg(long, default_value_t = 1)]
    pub scale: u32,
    /// Bytes per bulk download.
    #[arg(long, default_value_t = 4 << 20)]
    pub bulk_bytes: usize,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Raises the returned flag on SIGINT or SIGTERM.
fn stop_on_signals() -> &'static AtomicBool {
    let handler = on_signal as extern "C" fn(libc::c_int);
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
        libc::signal(libc::SIGTERM, handler as libc::sighandler_t);
    }
    &STOP
}

fn report(s: &SendStats, iface: &str, last: bool) -> String {
    format!(
        "gen: {} {} frames ({}) on {iface} in {:.2} s: {:.1} kpps, {} errors, {} retries",
        if last { "sent" } else { "sending:" },
        group(s.frames),
        human_bytes(s.bytes),
        s.elapsed.as_secs_f64(),
        s.pps() / 1e3,
        group(s.errors),
        group(s.retries),
    )
}

pub(crate) fn run(args: GenArgs) -> Result<ExitCode> {
    let cfg = GenConfig {
        seed: args.seed,
        parts: args.mix,
        scale: args.scale,
        bulk_bytes: args.bulk_bytes,
        ..GenConfig::default()
    };
    if let Err(e) = cfg.validate() {
        bail!("{e}");
    }
    if let Some(d) = args.duration {
        if !(d > 0.0 && d.is_finite()) {
            bail!("--duration must be a positive number of seconds");
        }
    }
    let mut mix = TrafficMix::new(cfg);

    if let Some(path) = &args.pcap {
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64 * 1000)
            .unwrap_or(0);
        let stats = match (args.count, args.duration) {
            (Some(n), _) => write_pcap(path, mix.take(n as usize), start),
            (None, Some(d)) => {
                let end = (d * 1e9) as u64;
                write_pcap(path, mix.take_while(|f| f.ts_ns < end), start)
            }
            (None, None) => write_pcap(path, mix.next_round(), start),
        }
        .with_context(|| format!("writing {}", path.display()))?;
        if !args.quiet {
            println!(
                "gen: wrote {} frames ({}, {:.2} s of traffic) to {}",
                group(stats.frames),
                human_bytes(stats.bytes),
                stats.span_ns as f64 / 1e9,
                path.display()
            );
        }
        return Ok(ExitCode::SUCCESS);
    }

    let iface = args
        .iface
        .as_deref()
        .expect("clap requires --iface or --pcap");
    let pace = match args.rate {
        None => Pace::Timestamps,
        Some(0.0) => Pace::Max,
        Some(r) if r > 0.0 && r.is_finite() => Pace::Rate(r),
        Some(_) => bail!("--rate must be a positive number of frames per second, or 0"),
    };
    let mut sender = Sender::open(iface).with_context(|| format!("opening {iface}"))?;
    let stop = stop_on_signals();
    let opts = SendOptions {
        pace,
        count: args.count,
        duration: args.duration.map(Duration::from_secs_f64),
        stop: Some(stop),
        sent: None,
    };
    let quiet = args.quiet;
    let stats = sender.send_paced_with(generated(mix), &opts, |s| {
        if !quiet {
            eprintln!("{}", report(s, iface, false));
        }
    })?;
    if !quiet {
        println!("{}", report(&stats, iface, true));
    }
    Ok(if stop.load(Ordering::SeqCst) {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}
