//! What `replay` and `run` share: core placement, signal handling and the
//! control core's loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::control::Control;
use crate::ctl::CtlServer;

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

/// Raises `stop` on SIGINT or SIGTERM (needs a tokio runtime).
/// Registers SIGINT/SIGTERM handlers now (not when the task first runs, so
/// a signal right after start-up is not lost) and raises `stop` on either.
fn install_signals(stop: Arc<AtomicBool>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    tokio::spawn(async move {
        tokio::select! {
            _ = int.recv() => {},
            _ = term.recv() => {},
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
    mut on_tick: impl FnMut(&Control),
) -> anyhow::Result<bool> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let signalled = Arc::new(AtomicBool::new(false));
        install_signals(signalled.clone());
        let mut interval = tokio::time::interval(Duration::from_millis(2));
        let mut last_tick = Instant::now();
        loop {
            interval.tick().await;
            control.poll()?;
            if let Some(srv) = ctl.as_deref_mut() {
                srv.serve(|cmd| control.handle(cmd));
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
        anyhow::Ok(signalled.load(Ordering::SeqCst))
    })
}
