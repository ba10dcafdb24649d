//! What `replay` and `run` share: the pipeline builder ([`Pipeline`]),
//! core placement, signal handling and the control core's loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::control::{Control, Totals, WorkerSource};
use crate::ctl::{CtlServer, MetricsServer};
use crate::signals::Signals;

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

    /// The core for the control loop (`None`: not pinned).
    pub fn control(&self) -> Option<core_affinity::CoreId> {
        self.cores.first().copied()
    }

    /// The core for worker `w` (`None`: not pinned, or only one core).
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

/// How long the control loop waits, once stopped, for the workers' last
/// summaries; a worker still busy after that (its thread stuck, or dead
/// without a panic) is given up on ([`Control::abandon_workers`]) so that
/// a stop always ends. Workers look at the stop flag once per batch and
/// normally hand over within milliseconds; this is a safety net, long
/// enough for a replay whose sink is behind to drain what it holds.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// When the control loop ends.
#[derive(Clone, Copy, Debug)]
pub enum Until {
    /// Every worker handed over its last summary (replay).
    WorkersDone,
    /// A signal, or the deadline if given (live capture).
    Stopped(Option<Instant>),
}

/// The operators' endpoints the control loop serves between polls (live
/// capture); none in replay.
#[derive(Default)]
pub struct Servers<'a> {
    /// The control socket (`tapscope status`, `top`, `reload`).
    pub ctl: Option<&'a mut CtlServer>,
    /// The Prometheus endpoint.
    pub metrics: Option<&'a mut MetricsServer>,
}

/// Runs the control core: drains summaries every 2 ms, calls `on_tick`
/// every `tick`, stops the workers on SIGINT/SIGTERM counted since `signals`
/// was taken (or at the deadline),
/// and returns once every worker has handed over its last summary, or has
/// ended without it, or [`STOP_GRACE`] after the stop. Returns whether a
/// signal stopped it.
pub fn control_loop(
    control: &mut Control,
    stop: &Arc<AtomicBool>,
    until: Until,
    tick: Duration,
    servers: Servers<'_>,
    mut signals: Signals,
    mut on_tick: impl FnMut(&Control),
) -> Result<bool, PipelineError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let Servers {
        mut ctl,
        mut metrics,
    } = servers;
    rt.block_on(async {
        let mut interval = tokio::time::interval(Duration::from_millis(2));
        let mut last_tick = Instant::now();
        let mut stopped_at: Option<Instant> = None;
        loop {
            interval.tick().await;
            control.poll()?;
            if let Some(srv) = ctl.as_deref_mut() {
                srv.serve(|cmd| control.handle(cmd));
            }
            if let Some(m) = metrics.as_deref_mut() {
                m.serve(|| crate::status::prometheus(&control.status()));
            }
            if signals.take_reload() {
                if let Err(e) = control.reload() {
                    tracing::error!("reload refused: {e}");
                }
            }
            if control.all_finished() {
                break;
            }
            let deadline_passed = matches!(until, Until::Stopped(Some(d)) if Instant::now() >= d);
            if signals.stop_requested() || deadline_passed {
                // Workers end their flows and hand over their last summary.
                stop.store(true, Ordering::SeqCst);
                if stopped_at.is_none() {
                    control.stopping();
                }
                let at = *stopped_at.get_or_insert_with(Instant::now);
                if at.elapsed() >= STOP_GRACE {
                    control.abandon_workers();
                    break;
                }
            }
            if last_tick.elapsed() >= tick {
                last_tick = Instant::now();
                control.sample_rates();
                on_tick(control);
            }
        }
        Ok::<bool, PipelineError>(signals.stop_requested())
    })
}

/// Why a pipeline could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The configuration's classifier (catalog, local subnets) is invalid.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The output folder could not be opened.
    #[error("opening output folder {}: {source}", dir.display())]
    Sink {
        /// The output folder.
        dir: std::path::PathBuf,
        /// Why.
        source: sink::SinkError,
    },
    /// A thread could not be started.
    #[error("starting thread {name}: {source}")]
    Thread {
        /// The thread's name.
        name: String,
        /// Why.
        source: std::io::Error,
    },
}

/// The one pipeline builder `run` and `replay` share: it opens the sink
/// thread, builds the classifier and the core plan (pinning the calling
/// thread, the control core), hands out workers with the configuration's
/// sketch plan, starts their threads pinned to their cores, and, once
/// every worker is out, becomes the control core ([`Running`]).
pub struct Pipeline {
    cfg: config::Config,
    sink: sink::SinkThread,
    classifier: classify::labeler::Classifier,
    plan: CorePlan,
    stop: Arc<AtomicBool>,
    signals: Signals,
    sketches: Arc<datapath::sketch::SketchPlan>,
    lossless: bool,
    time: datapath::timeguard::TimeGuardConfig,
    links: Vec<(usize, datapath::worker::ControlLink)>,
    threads: Vec<std::thread::JoinHandle<()>>,
    started: Instant,
}

impl Pipeline {
    /// Starts building a pipeline of `workers` workers over `cfg`.
    /// `lossless` (replay: a file can wait) makes workers wait for free
    /// summaries and the control core wait for the sink; live capture never
    /// waits and counts what it drops.
    pub fn new(
        cfg: &config::Config,
        workers: usize,
        lossless: bool,
    ) -> Result<Pipeline, BuildError> {
        let classifier = cfg.classifier(workers.max(1))?;
        let sink =
            start_sink(cfg, &cfg.output.dir, lossless).map_err(|source| BuildError::Sink {
                dir: cfg.output.dir.clone(),
                source,
            })?;
        let plan = CorePlan::new(cfg.capture.pin_cores);
        pin(plan.control());
        Ok(Pipeline {
            cfg: cfg.clone(),
            sink,
            classifier,
            plan,
            stop: Arc::new(AtomicBool::new(false)),
            signals: Signals::from_now(),
            sketches: Arc::new(cfg.sketch_plan()),
            lossless,
            time: cfg.time_guard(),
            links: Vec::new(),
            threads: Vec::new(),
            started: Instant::now(),
        })
    }

    /// The flag that stops every worker (and the replay dispatcher).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Frames come from capture files read now (replay): a timestamp later
    /// than the wall clock plus `capture.max_time_jump_s` is always bad.
    /// Call before [`Pipeline::worker`].
    pub fn reading_files(&mut self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.time = self.time.with_ceiling_from(now);
    }

    /// Which timestamps may move time, for the workers and for what reads
    /// frames ahead of them (replay pacing, the dispatcher).
    pub fn time_guard(&self) -> datapath::timeguard::TimeGuardConfig {
        self.time
    }

    /// The core the control thread (and the probe thread) is pinned to.
    pub fn control_core(&self) -> Option<core_affinity::CoreId> {
        self.plan.control()
    }

    /// Worker `i` with the configuration's settings and sketch plan; its
    /// control link is kept for the control core.
    pub fn worker(&mut self, i: usize) -> datapath::worker::Worker {
        let cfg = datapath::worker::WorkerConfig {
            lossless: self.lossless,
            time: self.time,
            ..self.cfg.worker(i as u16)
        };
        let (w, link) =
            datapath::worker::Worker::with_sketches(cfg, self.sketches.clone(), self.stop.clone());
        self.links.push((i, link));
        w
    }

    /// Runs `body` on a thread named `name`, pinned to worker `i`'s core
    /// (None: not pinned, e.g. the replay dispatcher).
    pub fn spawn(
        &mut self,
        name: String,
        core_of: Option<usize>,
        body: impl FnOnce() + Send + 'static,
    ) -> Result<(), BuildError> {
        let core = core_of.and_then(|i| self.plan.worker(i));
        let t = std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                pin(core);
                body()
            })
            .map_err(|source| BuildError::Thread { name, source })?;
        self.threads.push(t);
        Ok(())
    }

    /// Stops every thread started so far and waits for them (a start-up
    /// that failed half-way).
    pub fn abort(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
    }

    /// Every worker is out: the calling thread becomes the control core
    /// over `sources` (one per worker, in worker order).
    pub fn into_control(mut self, sources: Vec<WorkerSource>) -> Running {
        self.links.sort_by_key(|(i, _)| *i);
        let links = self.links.into_iter().map(|(_, l)| l).collect();
        let mut control = Control::new(links, sources, self.sink, self.classifier);
        if let Some(v) = self.cfg.video_sessions() {
            // The model was checked when the configuration was loaded.
            let model = self.cfg.video_model().unwrap_or_else(|e| {
                tracing::error!("video model: {e}; estimates off");
                None
            });
            control.start_video(v, model);
        }
        Running {
            control,
            stop: self.stop,
            signals: self.signals,
            threads: self.threads,
            started: self.started,
            ctl: None,
            metrics: None,
        }
    }
}

/// A pipeline whose workers run, driven by the control core.
pub struct Running {
    /// The control core's state (status, totals, classifier).
    pub control: Control,
    stop: Arc<AtomicBool>,
    signals: Signals,
    threads: Vec<std::thread::JoinHandle<()>>,
    started: Instant,
    ctl: Option<CtlServer>,
    metrics: Option<MetricsServer>,
}

/// What a finished pipeline did.
#[derive(Debug)]
pub struct Finished {
    /// Counters and flows over the run.
    pub totals: Totals,
    /// The sink's counters (files written, rows dropped or lost).
    pub sink: sink::SinkStats,
    /// Wall time since the pipeline was built.
    pub elapsed: Duration,
    /// Whether a signal stopped it.
    pub interrupted: bool,
    /// The sink's first error of the run, if any (its damage is counted
    /// in `sink`).
    pub sink_error: Option<sink::SinkError>,
}

impl Running {
    /// Serves the control socket and the metrics endpoint of the
    /// configuration (live capture). Capture goes on without either if it
    /// cannot be created (another daemon holds the path, a port is taken):
    /// that is logged.
    pub fn serve_operators(&mut self, cfg: &config::Config) {
        if !cfg.control.socket.as_os_str().is_empty() {
            match CtlServer::bind(&cfg.control.socket) {
                Ok(s) => {
                    tracing::info!("control socket {}", s.path().display());
                    self.ctl = Some(s);
                }
                Err(e) => tracing::warn!(
                    "no control socket at {}: {e}; `tapscope status` will not reach this run",
                    cfg.control.socket.display()
                ),
            }
        }
        if !cfg.control.metrics.is_empty() {
            match MetricsServer::bind(&cfg.control.metrics) {
                Ok(m) => {
                    tracing::info!("metrics on http://{}/metrics", cfg.control.metrics);
                    self.metrics = Some(m);
                }
                Err(e) => tracing::warn!("no metrics endpoint at {}: {e}", cfg.control.metrics),
            }
        }
    }

    /// Runs the control loop (see [`control_loop`]) until `until`, then
    /// waits for every thread, takes the last summaries and closes the
    /// sink.
    pub fn run(
        mut self,
        until: Until,
        tick: Duration,
        on_tick: impl FnMut(&Control),
    ) -> Result<Finished, PipelineError> {
        let interrupted = control_loop(
            &mut self.control,
            &self.stop,
            until,
            tick,
            Servers {
                ctl: self.ctl.as_mut(),
                metrics: self.metrics.as_mut(),
            },
            self.signals.clone(),
            on_tick,
        )?;
        // Every worker handed over its last summary (or was given up on):
        // their threads end at once. One that does not end within a second
        // is left behind (it holds nothing that is still to be written).
        let deadline = Instant::now() + Duration::from_secs(1);
        for t in self.threads.drain(..) {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if t.is_finished() {
                if t.join().is_err() {
                    tracing::error!("a pipeline thread panicked");
                }
            } else {
                tracing::error!(
                    thread = t.thread().name().unwrap_or("?"),
                    "thread did not end in time; left behind"
                );
            }
        }
        self.control.poll()?;
        let sink_error = self.control.close().err();
        Ok(Finished {
            totals: self.control.totals().clone(),
            sink: self.control.sink().stats(),
            elapsed: self.started.elapsed(),
            interrupted,
            sink_error,
        })
    }
}
