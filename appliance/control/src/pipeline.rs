//! What `replay` and `run` share: core placement, signal handling and the
//! control core's loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::control::Control;
use crate::ctl::{CtlServer, MetricsServer};

/// Which core runs what: the control core on the first core, workers on the
/// others (round-robin when there are more workers than cores).
pub struct CorePlan {
    cores: Vec<core_affinity::CoreId>,
}

impl CorePlan {
    /// An empty plan when `pin` is false (threads float).
    pub fn new(pin: bool) -> CorePlan {
        let cores = if pin {
            core_affinity::get_core_ids().unwrap_or_default()
        } else {
            Vec::new()
        };
        CorePlan { cores }
    }

    pub fn control(&self) -> Option<core_affinity::CoreId> {
        self.cores.first().copied()
    }

    pub fn worker(&self, w: usize) -> Option<core_affinity::CoreId> {
        (self.cores.len() > 1).then(|| self.cores[1 + w % (self.cores.len() - 1)])
    }
}

/// Pins the calling thread to `core`, if any.
pub fn pin(core: Option<core_affinity::CoreId>) {
    if let Some(c) = core {
        core_affinity::set_for_current(c);
    }
}

/// Why the control loop stopped early.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The control loop's runtime could not be built.
    #[error("starting the control loop's runtime: {0}")]
    Runtime(#[from] std::io::Error),
    /// The sink failed in a way the run cannot go on from.
    #[error(transparent)]
    Sink(#[from] sink::SinkError),
}

/// Opens the output folder `root` for the configuration's tables and
/// starts the sink thread over it. `lossless` (replay) makes the control
/// core wait when the sink falls behind; live capture never waits, and what
/// the sink's queue cannot take is counted.
pub fn start_sink(
    cfg: &config::Config,
    root: &std::path::Path,
    lossless: bool,
) -> Result<sink::SinkThread, sink::SinkError> {
    let sink = sink::Sink::open(sink::SinkConfig {
        root: root.to_path_buf(),
        tap_id: cfg.tap_id.clone(),
        rotate_secs: cfg.output.rotate_interval_s,
        rotate_bytes: cfg.output.rotate_size_mb * 1024 * 1024,
        quota_bytes: cfg.output.quota_mb * 1024 * 1024,
        row_group_rows: cfg.output.row_group_rows,
    })?;
    let probes = cfg.probe_settings();
    sink::SinkThread::spawn(
        sink,
        sink::SinkThreadConfig {
            lossless,
            probe_buffer_rows: probes.buffer_rows,
            probe_flush_every: probes.flush_every,
            ..sink::SinkThreadConfig::default()
        },
    )
}

/// Raises `stop` on SIGINT or SIGTERM (needs a tokio runtime).
/// Registers SIGINT/SIGTERM/SIGHUP handlers now (not when the task first
/// runs, so a signal right after start-up is not lost): SIGINT and SIGTERM
/// raise `stop`, SIGHUP raises `reload`.
fn install_signals(stop: Arc<AtomicBool>, reload: Arc<AtomicBool>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return;
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = int.recv() => break,
                _ = term.recv() => break,
                _ = hup.recv() => reload.store(true, Ordering::SeqCst),
            }
        }
        stop.store(true, Ordering::SeqCst);
    });
}

/// When the control loop ends.
#[derive(Clone, Copy, Debug)]
pub enum Until {
    /// Every worker handed over its last summary (replay).
    WorkersDone,
    /// A signal, or the deadline if given (live capture).
    Stopped(Option<Instant>),
}

/// Runs the control core: drains summaries every 2 ms, calls `on_tick`
/// every `tick`, stops the workers on SIGINT/SIGTERM (or at the deadline),
/// and returns once every worker has handed over its last summary. Returns
/// whether a signal stopped it.
pub fn control_loop(
    control: &mut Control,
    stop: &Arc<AtomicBool>,
    until: Until,
    tick: Duration,
    mut ctl: Option<&mut CtlServer>,
    mut metrics: Option<&mut MetricsServer>,
    mut on_tick: impl FnMut(&Control),
) -> Result<bool, PipelineError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let signalled = Arc::new(AtomicBool::new(false));
        let reload = Arc::new(AtomicBool::new(false));
        install_signals(signalled.clone(), reload.clone());
        let mut interval = tokio::time::interval(Duration::from_millis(2));
        let mut last_tick = Instant::now();
        loop {
            interval.tick().await;
            control.poll()?;
            if let Some(srv) = ctl.as_deref_mut() {
                srv.serve(|cmd| control.handle(cmd));
            }
            if let Some(m) = metrics.as_deref_mut() {
                m.serve(|| crate::status::prometheus(&control.status()));
            }
            if reload.swap(false, Ordering::SeqCst) {
                if let Err(e) = control.reload() {
                    tracing::error!("reload refused: {e}");
                }
            }
            if control.all_finished() {
                break;
            }
            let deadline_passed = matches!(until, Until::Stopped(Some(d)) if Instant::now() >= d);
            if signalled.load(Ordering::SeqCst) || deadline_passed {
                // Workers end their flows and hand over their last summary.
                stop.store(true, Ordering::SeqCst);
            }
            if last_tick.elapsed() >= tick {
                last_tick = Instant::now();
                control.sample_rates();
                on_tick(control);
            }
        }
        Ok::<bool, PipelineError>(signalled.load(Ordering::SeqCst))
    })
}
