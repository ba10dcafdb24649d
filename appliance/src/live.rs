//! `tapscope run`: live capture from the mirror interface.
//!
//! One worker per RX queue, each pinned to a core of its own and
//! busy-polling an AF_XDP socket bound to its queue; the control core (this
//! thread) merges summaries and writes the tables. The interface is kept in
//! promiscuous mode while tapscope runs. SIGINT/SIGTERM stop the workers,
//! which end their flows and hand over their last summaries; dropping the
//! sockets detaches the XDP program.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use datapath::source::xdp::{AttachMode, XdpConfig, XdpSource, ZeroCopy};

use config::{Config, XdpMode, ZeroCopyMode};
use control::control::{Control, RunInfo, Totals, WorkerSource};
use control::iface;
use control::pipeline::{Pipeline, Until};
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
    let _promisc = iface::Promisc::enable(&args.iface)
        .with_context(|| format!("setting {} promiscuous", args.iface))?;
    // Built before any worker starts: "queue N: mode" in the log means the
    // capture is up and a signal from then on ends it cleanly. Live capture
    // never waits (for summaries or for the sink): drops are counted.
    let mut pipeline = Pipeline::new(cfg, queues, false)?;
    let modes = match open_queues(&mut pipeline, cfg, &args.iface, queues) {
        Ok(m) => m,
        Err(e) => {
            pipeline.abort();
            bail!("{e}");
        }
    };
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
    let probe_core = pipeline.control_core();
    let mut running = pipeline.into_control(sources);
    let control = &mut running.control;
    control.watch_interface(&args.iface);
    // Capture goes on without probes if their thread cannot start.
    if let Err(e) = control.start_probes(cfg.probe_tasks(), &cfg.probe_settings(), probe_core) {
        tracing::error!("probes not started: {e}");
    }
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
    // `tapscope status` and friends, and the metrics endpoint.
    running.serve_operators(cfg);
    let until = Until::Stopped(args.duration.map(|d| Instant::now() + d));
    let done = running.run(until, Duration::from_secs(1), |c| on_tick(c, &modes))?;
    if let Some(line) = crate::replay::sink_damage(&done.sink) {
        tracing::warn!("sink: {line}");
    }
    if let Some(e) = done.sink_error {
        return Err(anyhow::Error::new(e).context("closing Parquet files"));
    }
    Ok(RunReport {
        totals: done.totals,
        sink: done.sink,
        modes,
        elapsed: done.elapsed,
        interrupted: done.interrupted,
        out: cfg.output.dir.clone(),
    })
}

/// Starts one worker per queue, each binding its own AF_XDP socket on its
/// own thread (the socket is made on the thread that polls it), and waits
/// for each to say which mode it got. Returns the modes, by queue.
fn open_queues(
    pipeline: &mut Pipeline,
    cfg: &Config,
    iface: &str,
    queues: usize,
) -> Result<Vec<String>, String> {
    let (opened_tx, opened_rx) = mpsc::channel::<(usize, Result<String, String>)>();
    for q in 0..queues {
        let mut worker = pipeline.worker(q);
        let xcfg = xdp_config(cfg, iface, q as u32);
        let opened = opened_tx.clone();
        pipeline
            .spawn(
                format!("worker-{q}"),
                Some(q),
                move || match XdpSource::open(xcfg) {
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
                },
            )
            .map_err(|e| e.to_string())?;
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
    match failure {
        Some(e) => Err(e),
        None => Ok(modes),
    }
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
