//! `video_bench`: the control core's cost of video sessions, per closed
//! 10 s window: the tracker's bookkeeping, the window's features and the
//! built-in model's two forests (resolution and, for first windows,
//! startup delay), measured on one core with thread CPU time.
//!
//! The input is synthetic and in memory: `--sessions` sessions of
//! `--seconds` each, interleaved as on a busy tap (each a device playing
//! one service: a few flows, activity every 1 s epoch, a 4 s segment
//! every 4 s with sizes that vary), fed as the control core feeds them.
//! The same input runs twice, with the model and without one (features
//! only), so the model's share is the difference. There is no peer: no
//! other tool infers video quality on the box.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use video::features::Seg;
use video::model::{Model, DEFAULT_MODEL};
use video::session::{FlowObs, Output, SessionConfig, Tracker};

#[derive(Parser)]
struct Args {
    /// Sessions playing at once.
    #[arg(long, default_value_t = 200)]
    sessions: u64,
    /// Seconds of data time.
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    /// Runs of each variant (the median is reported).
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

const S: u64 = 1_000_000_000;
const T0: u64 = 1_760_000_000 * S;

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec for the calling thread's clock.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs the input once; returns (CPU time, windows closed, sessions).
fn run(args: &Args, model: Option<Arc<Model>>) -> (Duration, u64, u64) {
    let mut t: Tracker<u64> = Tracker::new(SessionConfig::default(), model);
    let mut out = Output::default();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut windows, mut sessions) = (0u64, 0u64);
    let start = thread_cpu();
    for sec in 0..args.seconds {
        let epoch = T0 + sec * S;
        for dev in 0..args.sessions {
            // Each device's rate: 0.5 to 20 Mbit/s.
            let rate = 62_500 * (1 + dev % 40);
            let flow = dev * 4 + (sec / 120) % 4;
            t.observe_flow(
                &dev,
                None,
                &FlowObs {
                    flow_id: flow,
                    first_ns: T0 + (sec / 120) * 120 * S,
                    epoch_start_ns: epoch,
                    epoch_end_ns: epoch + S,
                    down_bytes: rate,
                    up_bytes: rate / 40,
                    down_packets: rate / 1400 + 1,
                    up_packets: rate / 2800 + 1,
                    rtt_ns: 20_000_000 + dev * 1000,
                    ..FlowObs::default()
                },
            );
            if (sec + dev) % 4 == 0 {
                let bytes = rate * 4 * (80 + rng.next() % 40) / 100;
                let r = epoch + (rng.next() % 900) * 1_000_000;
                t.observe_segment(
                    &dev,
                    Seg {
                        request_ns: r,
                        first_ns: r + 30_000_000,
                        last_ns: r + 30_000_000 + bytes * 8_000 / rate.max(1),
                        bytes,
                    },
                );
            }
        }
        t.advance(epoch + S, &mut out);
        windows += out.windows.len() as u64;
        sessions += out.sessions.len() as u64;
        out.windows.clear();
        out.sessions.clear();
    }
    t.flush(&mut out);
    windows += out.windows.len() as u64;
    sessions += out.sessions.len() as u64;
    (thread_cpu() - start, windows, sessions)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let args = Args::parse();
    let model = Arc::new(Model::from_json(DEFAULT_MODEL, video::features::NAMES)?);
    let mut with = Vec::new();
    let mut without = Vec::new();
    let mut counts = (0, 0);
    for _ in 0..args.repeat.max(1) {
        let (d, w, s) = run(&args, Some(model.clone()));
        with.push(d);
        counts = (w, s);
        without.push(run(&args, None).0);
    }
    let (w, s) = counts;
    let (a, b) = (median(with), median(without));
    let per = |d: Duration| d.as_nanos() as f64 / w.max(1) as f64;
    println!(
        "video sessions on the control core: {} sessions x {} s, {} windows, {} sessions ended (model {})",
        args.sessions,
        args.seconds,
        w,
        s,
        model.version()
    );
    println!();
    println!("| | CPU per window | windows per second of one core |");
    println!("|---|---|---|");
    for (name, d) in [
        ("tracker + features + model", a),
        ("tracker + features, no model", b),
    ] {
        println!(
            "| {name} | {:.1} µs | {:.0} |",
            per(d) / 1e3,
            1e9 / per(d).max(1.0)
        );
    }
    println!(
        "| model alone (difference) | {:.1} µs | |",
        (per(a) - per(b)).max(0.0) / 1e3
    );
    Ok(())
}
