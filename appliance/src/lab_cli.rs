//! `tapscope lab video`: the video lab's command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use lab::run::{run_video_lab, LabOptions, LadderKind};

/// `tapscope lab ...`.
#[derive(clap::Subcommand)]
pub(crate) enum LabCmd {
    /// Play labelled video sessions through a real player (dash.js in
    /// headless Chromium) under bandwidth caps, capture them with tapscope
    /// from a mirror port, and write the lab_runs and lab_sessions tables
    /// beside tapscope's own. Needs root. A rerun with the same --out
    /// continues an interrupted run.
    Video(VideoArgs),
}

#[derive(clap::Args)]
pub(crate) struct VideoArgs {
    /// Sessions to play (a multiple of the number of caps).
    #[arg(long, default_value_t = 40)]
    sessions: u32,
    /// Length of each session, seconds.
    #[arg(long, default_value_t = 60)]
    duration: u32,
    /// Bandwidth caps, Mbit/s, comma-separated; each gets the same number
    /// of sessions.
    #[arg(
        long,
        default_value = "0.5,1,2,5,20",
        value_delimiter = ',',
        allow_negative_numbers = true
    )]
    bandwidth: Vec<f64>,
    /// Titles to play (synthetic sources of different visual complexity).
    #[arg(long, default_value_t = 4)]
    titles: usize,
    /// Seed of the shuffled session order.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output folder: tapscope's tables from the mirror capture, the
    /// lab_runs and lab_sessions tables, and the run's journal.
    #[arg(long, default_value = "tapscope-lab")]
    out: PathBuf,
    /// Where the encoded bitrate ladder is kept between runs.
    #[arg(long, default_value = "/var/cache/tapscope/lab")]
    cache: PathBuf,
    /// The ladder: full (144p to 1080p, 4 s segments) or small (144p,
    /// 360p, 720p, 2 s segments; quick to encode).
    #[arg(long, default_value = "full", value_parser = ["full", "small"])]
    ladder: String,
    /// dash.js (dash.all.min.js), if `scripts/deps lab` did not install it
    /// in the source tree (also: TAPSCOPE_DASHJS).
    #[arg(long)]
    dashjs: Option<PathBuf>,
    /// Bytes of each packet kept in the run's pcap (`<out>/lab/mirror-*.pcap`,
    /// written by tcpdump on the router's client port); 0 keeps whole packets.
    #[arg(long, default_value_t = 0)]
    pcap_snaplen: u32,
    /// Write no pcap of the run's traffic.
    #[arg(long)]
    no_pcap: bool,
}

pub(crate) fn run(cmd: LabCmd) -> Result<ExitCode> {
    let LabCmd::Video(a) = cmd;
    let opts = LabOptions {
        sessions: a.sessions,
        duration_s: a.duration,
        caps_mbps: a.bandwidth,
        titles: a.titles,
        seed: a.seed,
        out: a.out,
        cache: a.cache,
        ladder: if a.ladder == "small" {
            LadderKind::Small
        } else {
            LadderKind::Full
        },
        tapscope: std::env::current_exe().context("locating the tapscope binary")?,
        dashjs: a.dashjs,
        pcap_snaplen: (!a.no_pcap).then_some(a.pcap_snaplen),
    };
    let out = opts.out.clone();
    let outcome = run_video_lab(&opts, &mut |line| eprintln!("lab: {line}"))
        .map_err(|e| anyhow::anyhow!("lab video: {e}"))?;
    println!("run {}", outcome.journal.run);
    print!("{}", outcome.report);
    println!(
        "tables in {}: lab_runs, lab_sessions, flows, traffic, capture, ...",
        out.display()
    );
    println!(
        "  duckdb -c \"SELECT cap_mbps, count(*), avg(startup_delay_ms), avg(resolution_mean) FROM read_parquet('{}/lab_sessions/**/*.parquet') GROUP BY 1 ORDER BY 1\"",
        out.display()
    );
    if outcome.interrupted {
        eprintln!(
            "lab: interrupted; finished sessions are kept. Run the same command again to continue."
        );
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}
