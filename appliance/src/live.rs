//! `tapscope run`: live capture from the mirror interface.
//!
//! One worker per RX queue, each pinned to a core of its own and
//! busy-polling an AF_XDP socket bound to its queue; the control core (this
//! thread) merges summaries and writes the tables. The interface is kept in
//! promiscuous mode while tapscope runs. SIGINT/SIGTERM stop the workers,
//! which end their flows and hand over their last summaries; dropping the
//! sockets detaches the XDP program.

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use datapath::source::xdp::{AttachMode, XdpConfig, XdpSource, ZeroCopy};
use datapath::worker::Worker;

use config::{Config, XdpMode, ZeroCopyMode};
use control::control::{Control, RunInfo, Totals, WorkerSource};
use control::ctl::{CtlServer, MetricsServer};
use control::iface;
use control::pipeline::{control_loop, pin, start_sink, CorePlan, Until};
use sink::SinkStats;

/// What `run` was asked to do.
pub(crate) struct RunArgs {
    pub config: Config,
    /// The file `config` came from (what SIGHUP and `tapscope reload` re-read).
    pub config_path: Option<std::path::PathBuf>,
    pub iface: String,
    /// Stop by itself after this long (the demo); `None`: until a signal.
    pub duration: Option<Duration>,
}

/// What a live run did.
#[derive(Debug)]
pub(crate) struct RunReport {
    pub totals: Totals,
    pub sink: SinkStats,
    /// Capture mode per queue, e.g. `xdp-copy-native`.
    pub modes: Vec<String>,
    pub elapsed: Duration,
    pub interrupted: bool,
    pub out: PathBuf,
}

/// The AF_XDP settings of queue `q` from the configuration.
pub(crate) fn xdp_config(cfg: &Config, iface: &str, q: u32) -> XdpConfig {
    let c = &cfg.capture;
    XdpConfig {
        frame_count: c.umem_frames,
        frame_size: c.frame_size,
        rx_ring: c.rx_ring,
        attach: match c.xdp_mode {
            XdpMode::Auto => AttachMode::Auto,
            XdpMode::Native => AttachMode::Native,
            XdpMode::Generic => AttachMode::Generic,
        },
        zero_copy: match c.zero_copy {
            ZeroCopyMode::Auto => ZeroCopy::Auto,
            ZeroCopyMode::Off => ZeroCopy::Off,
            ZeroCopyMode::Required => ZeroCopy::Required,
        },
        idle_wait_ms: c.idle_wait_ms as i32,
        coalesce_us: c.coalesce_us,
        ..XdpConfig::new(iface, q)
    }
}

/// Checks what live capture needs before anything is started.
pub(crate) fn preflight(iface_name: &str) -> Result<()> {
    if !iface::is_root() {
        bail!(
            "live capture needs root (AF_XDP sockets need CAP_NET_ADMIN, CAP_BPF and \
             CAP_NET_RAW); without it, run the pipeline over a capture file: \
             tapscope replay FILE.pcap"
        );
    }
    if !iface::exists(iface_name) {
        bail!("no network interface named {iface_name:?} (see `ip link`)");
    }
    Ok(())
}

/// Captures until a signal (or `args.duration`), calling `on_tick` about
/// once a second with the control core's state.
pub(crate) fn run(
    args: RunArgs,
    mut on_tick: impl FnMut(&Control, &[String]),
) -> Result<RunReport> {
    let cfg = &args.config;
    preflight(&args.iface)?;
    iface::ensure_bpffs();
    let queues = match cfg.capture.queues {
        0 => iface::rx_queues(&args.iface),
        n => n.min(iface::rx_queues(&args.iface)),
    };
    // Built before any worker starts: "queue N: mode" in the log means the
    // capture is up and a signal from then on ends it cleanly.
    let classifier = cfg.classifier(queues)?;
    let _promisc = iface::Promisc::enable(&args.iface)
        .with_context(|| format!("setting {} promiscuous", args.iface))?;
    // Live capture never waits for the sink: what its queue cannot take
    // is counted.
    let sink = start_sink(cfg, &cfg.output.dir, false)
        .with_context(|| format!("opening output folder {}", cfg.output.dir.display()))?;

    let stop = Arc::new(AtomicBool::new(false));
    let plan = CorePlan::new(cfg.capture.pin_cores);
    pin(plan.control());
    let started = Instant::now();
    let mut links = Vec::new();
    let mut threads = Vec::new();
    let (opened_tx, opened_rx) = mpsc::channel::<(usize, Result<String, String>)>();
    let sketches = Arc::new(cfg.sketch_plan());
    for q in 0..queues {
        let (mut worker, link) =
            Worker::with_sketches(cfg.worker(q as u16), sketches.clone(), stop.clone());
        links.push(link);
        let xcfg = xdp_config(cfg, &args.iface, q as u32);
        let core = plan.worker(q);
        let opened = opened_tx.clone();
        threads.push(
            std::thread::Builder::new()
                .name(format!("worker-{q}"))
                .spawn(move || {
                    pin(core);
                    // The socket is made on the thread that polls it.
                    match XdpSource::open(xcfg) {
                        Ok(mut src) => {
                            for (m, why) in src.refused() {
                                tracing::info!(queue = q, "{} refused: {why}", m.name());
                            }
                            let _ = opened.send((q, Ok(src.mode().name().to_string())));
                            worker.run(&mut src);
                        }
                        Err(e) => {
                            let _ = opened.send((q, Err(e.to_string())));
                        }
                    }
                })?,
        );
    }
    drop(opened_tx);
    let mut modes = vec![String::new(); queues];
    let mut failure = None;
    for _ in 0..queues {
        match opened_rx.recv() {
            Ok((q, Ok(mode))) => modes[q] = mode,
            Ok((_, Err(e))) => failure = Some(e),
            Err(_) => failure = Some("a worker thread died while binding".into()),
        }
    }
    if let Some(e) = failure {
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for t in threads {
            let _ = t.join();
        }
        bail!("{e}");
    }
    for (q, m) in modes.iter().enumerate() {
        tracing::info!("{} queue {q}: {m}", args.iface);
    }
    let sources = modes
        .iter()
        .enumerate()
        .map(|(q, m)| WorkerSource {
            source: format!("xdp:{}/q{q}", args.iface),
            mode: m.clone(),
        })
        .collect();
    let mut control = Control::new(links, sources, sink, classifier);
    control.watch_interface(&args.iface);
    // Capture goes on without probes if their thread cannot start.
    if let Err(e) = control.start_probes(cfg.probe_tasks(), &cfg.probe_settings(), plan.control()) {
        tracing::error!("probes not started: {e}");
    }
    let until = Until::Stopped(args.duration.map(|d| Instant::now() + d));
    control.set_info(RunInfo {
        mode: "live".into(),
        interface: Some(args.iface.clone()),
        flow_capacity: (cfg.flows.capacity * queues) as u64,
        quota_bytes: (cfg.output.quota_mb > 0).then(|| cfg.output.quota_mb * 1024 * 1024),
        output_dir: cfg.output.dir.clone(),
        started_unix_s: 0,
        config_path: args.config_path.clone(),
        config: Some(cfg.clone()),
    });
    // The control socket: `tapscope status` and friends. Capture goes on
    // without it if it cannot be created (another daemon holds the path).
    let mut ctl = if cfg.control.socket.as_os_str().is_empty() {
        None
    } else {
        match CtlServer::bind(&cfg.control.socket) {
            Ok(s) => {
                tracing::info!("control socket {}", s.path().display());
                Some(s)
            }
            Err(e) => {
                tracing::warn!(
                    "no control socket at {}: {e}; `tapscope status` will not reach this run",
                    cfg.control.socket.display()
                );
                None
            }
        }
    };
    let mut metrics = if cfg.control.metrics.is_empty() {
        None
    } else {
        match MetricsServer::bind(&cfg.control.metrics) {
            Ok(m) => {
                tracing::info!("metrics on http://{}/metrics", cfg.control.metrics);
                Some(m)
            }
            Err(e) => {
                tracing::warn!("no metrics endpoint at {}: {e}", cfg.control.metrics);
                None
            }
        }
    };
    let interrupted = control_loop(
        &mut control,
        &stop,
        until,
        Duration::from_secs(1),
        ctl.as_mut(),
        metrics.as_mut(),
        |c| on_tick(c, &modes),
    )?;
    for t in threads {
        let _ = t.join();
    }
    control.poll()?;
    let closed = control.close();
    let sink = control.sink().stats();
    if let Some(line) = crate::replay::sink_damage(&sink) {
        tracing::warn!("sink: {line}");
    }
    closed.context("closing Parquet files")?;
    Ok(RunReport {
        totals: control.totals().clone(),
        sink,
        modes,
        elapsed: started.elapsed(),
        interrupted,
        out: cfg.output.dir.clone(),
    })
}

/// One status line: modes, packets, drops, flows.
pub(crate) fn status_line(iface: &str, modes: &[String], t: &Totals) -> String {
    let c = &t.counters;
    let drops = c.src_dropped + c.src_ring_full + c.records_dropped + c.summary_queue_full;
    format!(
        "{iface} [{}]: {} packets, {} flows written, {} active, {} drops, {} fill-ring-empty",
        modes.join(","),
        crate::replay::group(c.packets),
        crate::replay::group(t.flows()),
        crate::replay::group(c.active_flows),
        crate::replay::group(drops),
        crate::replay::group(c.src_fill_ring_empty),
    )
}
