//! The `tapscope` command.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use config::Config;
use control::ctl::Command;
use replay::{ReplayArgs, Speed};

mod demo;
mod gen_cli;
mod lab_cli;
mod live;
mod opcli;
mod probe_cli;
mod replay;
mod report_cli;

#[derive(Parser)]
#[command(
    name = "tapscope",
    version,
    about = "Network microscope for a switch mirror port"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the pipeline over pcap/pcapng files and write the Parquet tables.
    Replay {
        /// Capture files (pcap or pcapng), read in order.
        #[arg(required = true)]
        captures: Vec<PathBuf>,
        /// Root folder of the Parquet tables (default: output.dir of the config).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Configuration file (TOML).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Worker threads (default: capture.workers of the config).
        #[arg(long)]
        workers: Option<usize>,
        /// Pace: as fast as possible, or at the capture's own speed.
        #[arg(long, value_enum, default_value_t = SpeedArg::Max)]
        speed: SpeedArg,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Capture live from the mirror interface (AF_XDP; needs root).
    Run {
        /// Configuration file (TOML); default /etc/tapscope/tapscope.toml if present.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Mirror interface (default: capture.interface of the config).
        #[arg(long)]
        iface: Option<String>,
        /// Root folder of the Parquet tables (default: output.dir of the config).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Stop after this many seconds (default: run until SIGINT/SIGTERM).
        #[arg(long)]
        duration: Option<u64>,
        /// Control socket (default: control.socket of the config); lets
        /// several captures run side by side, one per mirror interface.
        #[arg(long)]
        socket: Option<PathBuf>,
    },
    /// Generate the synthetic traffic mix onto an interface or into a pcap.
    #[command(hide = true)]
    Gen(gen_cli::GenArgs),
    /// Live demo on a virtual link: namespace + veth pair, synthetic traffic,
    /// a status view for about 30 s, Parquet under ./tapscope-demo (needs root).
    Demo {
        /// How long the traffic runs, in seconds.
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        /// Root folder of the Parquet tables.
        #[arg(long, default_value = "./tapscope-demo")]
        out: PathBuf,
        /// Traffic rate in packets per second.
        #[arg(long, default_value_t = 5000)]
        rate: u64,
    },
    /// Run the configured probes ([[probes]]) without capture and write
    /// the `probes` table; print each result as it comes.
    Probe {
        /// Configuration file (TOML); default /etc/tapscope/tapscope.toml if present.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Root folder of the Parquet tables (default: output.dir of the config).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Run every task once, all at once (within probe.max_concurrent), then stop.
        #[arg(long)]
        once: bool,
        /// Stop after this many seconds (default: until SIGINT/SIGTERM).
        #[arg(long)]
        duration: Option<u64>,
        /// One JSON object per result (the probes table's column names).
        #[arg(long)]
        json: bool,
    },
    /// Answer udp_echo probes: send every UDP datagram back to its sender
    /// (RFC 862), until stopped.
    EchoServer {
        /// Address and port to listen on.
        #[arg(long, default_value = "0.0.0.0:7")]
        listen: std::net::SocketAddr,
    },
    /// Draw the tables as one self-contained HTML page of charts (traffic
    /// per device and service, top lists, capture health, heavy hitters and
    /// scans, probe latency and loss, flow sizes, video sessions), or serve
    /// it on a loopback address.
    Report(report_cli::ReportArgs),
    /// Labs that produce labelled data (`lab video`).
    Lab {
        #[command(subcommand)]
        cmd: lab_cli::LabCmd,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
    /// One screen of the running daemon's state: capture, rates, drops,
    /// flows, top devices and services, heavy hitters, scans, files.
    Status {
        #[command(flatten)]
        ctl: CtlArgs,
    },
    /// The status screen, refreshed every second (q quits).
    Top {
        #[command(flatten)]
        ctl: CtlArgs,
        /// Seconds between refreshes.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
        /// Stop after this many refreshes.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Open flows as of the last second, most bytes first. FILTER terms all
    /// match: service=NAME, port=N, ip=ADDR, proto=tcp|udp|icmp,
    /// device=TEXT, name=TEXT, or a bare word.
    Flows {
        filter: Vec<String>,
        /// Most flows shown.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        ctl: CtlArgs,
    },
    /// Complete Parquet files, ready to pull, oldest first.
    Files {
        /// Only files closed since: Unix seconds or an age (90s, 15m, 2h, 1d).
        #[arg(long)]
        since: Option<String>,
        #[command(flatten)]
        ctl: CtlArgs,
    },
    /// Make the running daemon re-read its configuration file (as SIGHUP
    /// does): a bad file changes nothing and the error says why.
    Reload {
        #[command(flatten)]
        ctl: CtlArgs,
    },
    /// The running daemon's sketch counters (heavy hitters).
    Counters {
        #[command(subcommand)]
        cmd: CountersCmd,
        #[command(flatten)]
        ctl: CtlArgs,
    },
}

#[derive(clap::Args)]
struct CtlArgs {
    /// Print JSON (stable fields; see the README).
    #[arg(long, global = true)]
    json: bool,
    /// The daemon's control socket (default: control.socket of
    /// /etc/tapscope/tapscope.toml, else /run/tapscope/tapscope.sock).
    #[arg(long, global = true)]
    socket: Option<PathBuf>,
}

impl CtlArgs {
    fn socket(&self) -> PathBuf {
        if let Some(s) = &self.socket {
            return s.clone();
        }
        let etc = PathBuf::from("/etc/tapscope/tapscope.toml");
        Config::load(&etc)
            .ok()
            .map(|c| c.control.socket)
            .filter(|s| !s.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from(config::DEFAULT_SOCKET))
    }
}

#[derive(Subcommand)]
enum CountersCmd {
    /// The counters now.
    List,
    /// Add a counter; it counts from the next epoch on.
    Add {
        name: String,
        /// src, dst, src_dst, src_dport, dport or five_tuple.
        #[arg(long)]
        key: String,
        /// packets or bytes.
        #[arg(long, default_value = "bytes")]
        increment: String,
        /// any, tcp, udp or icmp.
        #[arg(long, default_value = "any")]
        protocol: String,
        /// any, c2s or s2c.
        #[arg(long, default_value = "any")]
        direction: String,
    },
    /// Remove a counter by name.
    Rm { name: String },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Check a configuration file and print the effective settings.
    Check { file: PathBuf },
}

#[derive(Clone, Copy, ValueEnum)]
enum SpeedArg {
    Max,
    Real,
}

fn load_config(path: Option<&PathBuf>) -> Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None => Ok(Config::default()),
    }
}

/// Sends a state line to systemd's notification socket (`NOTIFY_SOCKET`, a
/// path or an abstract name starting with `@`); nothing without one.
fn sd_notify(state: &str) {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let addr = match path.as_encoded_bytes().strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name),
        None => SocketAddr::from_pathname(&path),
    };
    if let (Ok(addr), Ok(sock)) = (addr, UnixDatagram::unbound()) {
        let _ = sock.send_to_addr(state.as_bytes(), &addr);
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TAPSCOPE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tapscope: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Replay {
            captures,
            out,
            config,
            workers,
            speed,
            quiet,
        } => replay_cmd(captures, out, config, workers, speed, quiet),
        Cmd::Run {
            config,
            iface,
            out,
            duration,
            socket,
        } => run_cmd(config, iface, out, duration, socket),
        Cmd::Probe {
            config,
            out,
            once,
            duration,
            json,
        } => {
            let default = PathBuf::from("/etc/tapscope/tapscope.toml");
            let config = config.or_else(|| default.exists().then_some(default));
            let cfg = load_config(config.as_ref())?;
            let out = out.unwrap_or_else(|| cfg.output.dir.clone());
            let report = probe_cli::run(probe_cli::ProbeArgs {
                config: cfg,
                out,
                once,
                duration: duration.map(std::time::Duration::from_secs),
                json,
            })?;
            // Rows that never reached a file are an error the caller must see.
            Ok(if report.unwritten > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Cmd::EchoServer { listen } => {
            probe::udp_echo::serve(listen).with_context(|| format!("echo server on {listen}"))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Gen(args) => gen_cli::run(args),
        Cmd::Lab { cmd } => lab_cli::run(cmd),
        Cmd::Report(args) => report_cli::run(args),
        Cmd::Demo { seconds, out, rate } => {
            crate::demo::run(seconds.clamp(5, 3600), out, rate.max(1))?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Status { ctl } => opcli::status(&ctl.socket(), ctl.json),
        Cmd::Top {
            ctl,
            interval,
            count,
        } => {
            if ctl.json {
                bail!("top has no --json: use `tapscope status --json`");
            }
            let every = std::time::Duration::from_secs_f64(interval.clamp(0.2, 3600.0));
            opcli::top(&ctl.socket(), every, count)
        }
        Cmd::Flows { filter, limit, ctl } => opcli::flows(&ctl.socket(), &filter, limit, ctl.json),
        Cmd::Files { since, ctl } => opcli::files(&ctl.socket(), since.as_deref(), ctl.json),
        Cmd::Reload { ctl } => opcli::reload(&ctl.socket(), ctl.json),
        Cmd::Counters { cmd, ctl } => {
            let cmd = match cmd {
                CountersCmd::List => Command::CountersList,
                CountersCmd::Add {
                    name,
                    key,
                    increment,
                    protocol,
                    direction,
                } => Command::CountersAdd {
                    name,
                    key,
                    increment,
                    protocol,
                    direction,
                },
                CountersCmd::Rm { name } => Command::CountersRm { name },
            };
            opcli::counters(&ctl.socket(), cmd, ctl.json)
        }
        Cmd::Config {
            cmd: ConfigCmd::Check { file },
        } => {
            let cfg =
                Config::load(&file).with_context(|| "configuration is not valid".to_string())?;
            println!("{}: ok", file.display());
            println!("{cfg:#?}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `tapscope replay`.
fn replay_cmd(
    captures: Vec<PathBuf>,
    out: Option<PathBuf>,
    config: Option<PathBuf>,
    workers: Option<usize>,
    speed: SpeedArg,
    quiet: bool,
) -> Result<ExitCode> {
    let mut cfg = load_config(config.as_ref())?;
    if let Some(out) = out {
        cfg.output.dir = out;
    }
    for c in &captures {
        if !c.is_file() {
            bail!("{}: no such capture file", c.display());
        }
    }
    let workers = workers.unwrap_or(cfg.capture.workers);
    if workers == 0 || workers > 256 {
        bail!("--workers must be 1 to 256");
    }
    let report = replay::run(ReplayArgs {
        captures,
        config: cfg,
        workers,
        speed: match speed {
            SpeedArg::Max => Speed::Max,
            SpeedArg::Real => Speed::Real,
        },
        quiet,
    })?;
    if report.totals.workers_lost > 0 {
        bail!(
            "{} worker(s) ended without handing over their last flows (see the log); \
             the files written are complete but miss those flows",
            report.totals.workers_lost
        );
    }
    Ok(if report.interrupted {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

/// `tapscope run`.
fn run_cmd(
    config: Option<PathBuf>,
    iface: Option<String>,
    out: Option<PathBuf>,
    duration: Option<u64>,
    socket: Option<PathBuf>,
) -> Result<ExitCode> {
    let default = PathBuf::from("/etc/tapscope/tapscope.toml");
    let config = config.or_else(|| default.exists().then_some(default));
    let mut cfg = load_config(config.as_ref())?;
    if let Some(out) = out {
        cfg.output.dir = out;
    }
    if let Some(socket) = socket {
        cfg.control.socket = socket;
    }
    let iface = iface.unwrap_or_else(|| cfg.capture.interface.clone());
    let mut ticks = 0u64;
    let report = live::run(
        live::RunArgs {
            config: cfg,
            config_path: config.clone(),
            iface: iface.clone(),
            duration: duration.map(std::time::Duration::from_secs),
        },
        |c, modes| {
            // Under systemd (Type=notify, WatchdogSec=): ready once
            // the capture is up, then alive while the control loop
            // keeps ticking.
            sd_notify(if ticks == 0 {
                "READY=1\nWATCHDOG=1"
            } else {
                "WATCHDOG=1"
            });
            ticks += 1;
            if ticks.is_multiple_of(10) {
                eprintln!("{}", live::status_line(&iface, modes, c.totals()));
            }
        },
    )?;
    println!(
        "capture stopped{} after {:.1} s: {} packets, {} flow records, {} files under {}",
        if report.interrupted {
            " by a signal"
        } else {
            ""
        },
        report.elapsed.as_secs_f64(),
        replay::group(report.totals.counters.packets),
        replay::group(report.totals.flows()),
        report.sink.files_written,
        report.out.display()
    );
    if report.totals.workers_lost > 0 {
        bail!(
            "{} worker(s) ended without handing over their last flows (see the log)",
            report.totals.workers_lost
        );
    }
    Ok(ExitCode::SUCCESS)
}
