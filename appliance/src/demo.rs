//! `tapscope demo`: the live pipeline on a virtual link, on any Linux box.
//!
//! Creates a network namespace and a veth pair (the capture end here, the
//! sending end in the namespace), runs the live AF_XDP pipeline on the
//! capture end, sends the project's own synthetic traffic mix from the
//! namespace, shows a status view that refreshes for about 30 seconds,
//! writes Parquet into `./tapscope-demo/`, and removes the namespace and
//! links it created, also when interrupted or failing.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::live::{self, RunArgs};
use crate::replay::{group, human_bytes};
use config::Config;
use control::control::{reason_name, Control};
use control::iface;

const NS: &str = "tapscope-demo";
const CAP: &str = "tsdemo-cap";
const GEN: &str = "tsdemo-gen";

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running `ip` (iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The demo's namespace and veth pair; removed when dropped.
pub(crate) struct DemoLink;

impl DemoLink {
    pub(crate) fn create() -> Result<DemoLink> {
        DemoLink::remove();
        ip(&["netns", "add", NS])?;
        let link = DemoLink;
        ip(&[
            "link", "add", CAP, "type", "veth", "peer", "name", GEN, "netns", NS,
        ])?;
        // No IPv6 on the demo link, so the kernel adds no frames of its own.
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{CAP}/disable_ipv6"), "1");
        ip(&[
            "netns",
            "exec",
            NS,
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{GEN}.disable_ipv6=1"),
        ])?;
        ip(&["link", "set", CAP, "up"])?;
        ip(&["netns", "exec", NS, "ip", "link", "set", GEN, "up"])?;
        Ok(link)
    }

    /// Removes what an earlier (killed) demo may have left.
    fn remove() {
        let _ = Command::new("ip").args(["link", "del", CAP]).output();
        let _ = Command::new("ip").args(["netns", "del", NS]).output();
    }
}

impl Drop for DemoLink {
    fn drop(&mut self) {
        DemoLink::remove();
    }
}

/// Enters the demo namespace on the calling thread.
fn enter_namespace() -> Result<()> {
    let f = std::fs::File::open(Path::new("/var/run/netns").join(NS))
        .context("opening the demo namespace")?;
    use std::os::fd::AsRawFd;
    // SAFETY: a valid namespace fd; only this thread changes namespace.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        bail!(
            "entering the demo namespace: {}",
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Runs the demo. `seconds` is how long traffic flows and the view refreshes.
pub(crate) fn run(seconds: u64, out: PathBuf, rate_pps: u64) -> Result<()> {
    if !iface::is_root() {
        bail!(
            "the demo needs root: it creates a network namespace and a veth pair and \
             captures with AF_XDP. Without root, run the same pipeline over a capture \
             file: tapscope replay demo/sample.pcap --out ./tapscope-demo"
        );
    }
    let link = DemoLink::create()?;
    let mut cfg = Config {
        tap_id: "demo".into(),
        ..Config::default()
    };
    cfg.output.dir = out.clone();
    // Short rotation so files appear in the table folders during the demo.
    cfg.output.rotate_interval_s = 10;

    let stop_gen = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let generator = {
        let stop = stop_gen.clone();
        let sent = sent.clone();
        std::thread::Builder::new()
            .name("demo-traffic".into())
            .spawn(move || -> Result<()> {
                enter_namespace()?;
                // Give the capture a moment to bind before sending.
                std::thread::sleep(Duration::from_millis(1500));
                send_traffic(GEN, rate_pps, &stop, &sent)
            })?
    };

    let tty = std::io::stdout().is_terminal();
    let started = Instant::now();
    let mut last = (Instant::now(), 0u64, 0u64);
    // Traffic stops two seconds before the capture, so every frame sent is
    // captured (or counted as dropped) before the workers stop.
    let traffic_until = Duration::from_secs(seconds.saturating_sub(2).max(1));
    let stop_traffic = stop_gen.clone();
    let report = live::run(
        RunArgs {
            config: cfg,
            config_path: None,
            iface: CAP.into(),
            duration: Some(Duration::from_secs(seconds)),
        },
        |c, modes| {
            if started.elapsed() >= traffic_until {
                stop_traffic.store(true, Ordering::SeqCst);
            }
            let view = status_view(c, modes, started, seconds, &mut last, &sent);
            let mut o = std::io::stdout().lock();
            if tty {
                let _ = write!(o, "\x1b[H\x1b[2J{view}");
            } else {
                let _ = writeln!(o, "{view}");
            }
            let _ = o.flush();
        },
    );
    stop_gen.store(true, Ordering::SeqCst);
    let gen_result = generator.join();
    drop(link);
    let report = report?;
    match gen_result {
        Ok(Err(e)) => eprintln!("demo traffic stopped early: {e:#}"),
        Err(_) => eprintln!("demo traffic thread failed"),
        Ok(Ok(())) => {}
    }
    println!();
    println!(
        "demo done: {} packets captured ({} sent), {} flow records, capture mode {}",
        group(report.totals.counters.packets),
        group(sent.load(Ordering::Relaxed)),
        group(report.totals.flows()),
        report.modes.join(", ")
    );
    println!("Parquet tables are under {}/ :", out.display());
    for f in report.sink.recent_files.iter().take(8) {
        println!("  {}", f.strip_prefix(&out).unwrap_or(f).display());
    }
    let o = out.display();
    println!("Read them with, for example:");
    println!(
        "  duckdb -c \"select server_name, service, sum(c2s_bytes + s2c_bytes) as bytes \
         from read_parquet('{o}/flows/*/*.parquet') group by all order by bytes desc limit 10\""
    );
    println!(
        "  duckdb -c \"select device_name, service, sum(bytes_down) as down, sum(bytes_up) as up \
         from read_parquet('{o}/traffic/*/*.parquet') group by all order by down desc\""
    );
    println!(
        "  python3 -c \"import pyarrow.parquet as pq; print(pq.read_table('{o}/flows').to_pandas().head())\""
    );
    println!("The namespace {NS} and the link {CAP} were removed.");
    Ok(())
}

fn status_view(
    c: &Control,
    modes: &[String],
    started: Instant,
    seconds: u64,
    last: &mut (Instant, u64, u64),
    sent: &std::sync::atomic::AtomicU64,
) -> String {
    let t = c.totals();
    let k = &t.counters;
    let dt = last.0.elapsed().as_secs_f64().max(1e-3);
    let pps = (k.packets - last.1) as f64 / dt;
    let bps = (k.bytes - last.2) as f64 * 8.0 / dt;
    *last = (Instant::now(), k.packets, k.bytes);
    let mut s = String::new();
    let el = started.elapsed().as_secs().min(seconds);
    s += &format!(
        "tapscope demo: live capture on {CAP} [{}]   {el} s of {seconds} s\n\n",
        modes.join(", ")
    );
    s += &format!(
        "  packets   {:>12}   {:>10.0} pps   {:>8.2} Mbit/s   ({} sent)\n",
        group(k.packets),
        pps,
        bps / 1e6,
        group(sent.load(Ordering::Relaxed))
    );
    s += &format!("  bytes     {:>12}\n", human_bytes(k.bytes));
    s += &format!(
        "  flows     {:>12} active   {} written\n",
        group(k.active_flows),
        group(t.flows())
    );
    let reasons: Vec<String> = (0..6)
        .filter(|&i| t.flows_by_reason[i] > 0)
        .map(|i| format!("{} {}", reason_name(i), group(t.flows_by_reason[i])))
        .collect();
    if !reasons.is_empty() {
        s += &format!("            ended by {}\n", reasons.join(", "));
    }
    let drops = [
        ("kernel_dropped", k.src_dropped),
        ("rx_ring_full", k.src_ring_full),
        ("fill_ring_empty", k.src_fill_ring_empty),
        ("flow_table_full", k.flow_table_full),
        ("records_dropped", k.records_dropped),
    ];
    let d: Vec<String> = drops
        .iter()
        .filter(|(_, v)| *v > 0)
        .map(|(n, v)| format!("{n} {}", group(*v)))
        .collect();
    s += &format!(
        "  drops     {}\n",
        if d.is_empty() {
            "none".into()
        } else {
            d.join(", ")
        }
    );
    s += &format!(
        "  not flows {}\n",
        if k.parse_errors_total() == 0 {
            "none".to_string()
        } else {
            group(k.parse_errors_total())
        }
    );
    let top = |v: Vec<(std::sync::Arc<str>, u64)>| -> String {
        if v.is_empty() {
            return "none yet".into();
        }
        v.iter()
            .map(|(n, b)| format!("{n} {}", human_bytes(*b)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    s += &format!("  services  {}\n", top(c.classifier().top_services(5)));
    s += &format!("  devices   {}\n", top(c.classifier().top_devices(3)));
    let st = c.sink().stats();
    s += &format!(
        "  files     {} complete, {} written\n",
        st.files_written,
        human_bytes(st.bytes_written)
    );
    s
}

/// Sends the synthetic traffic mix on `iface` at `rate_pps` until `stop`.
fn send_traffic(
    iface: &str,
    rate_pps: u64,
    stop: &AtomicBool,
    sent: &std::sync::atomic::AtomicU64,
) -> Result<()> {
    Ok(generator::demo_send(iface, rate_pps, stop, sent)?)
}
