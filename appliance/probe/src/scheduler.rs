//! Runs the probe tasks on schedule, on a thread of its own with a
//! single-threaded tokio runtime (pinned to the control core by the
//! caller), so a busy control loop — a Parquet file being written — never
//! delays a probe's clock, and a probe never blocks the control loop.
//!
//! - Each task runs every `interval`, ± `jitter` (uniform), its first run
//!   spread uniformly over its first interval.
//! - At most `max_concurrent` runs at once (a semaphore); a task never
//!   overlaps itself (its runs follow each other in one loop); a run that
//!   overruns its interval delays the next instead of piling up.
//! - Each run is bounded by its task's timeout.
//! - Results go to the control core through a bounded queue; a full
//!   queue drops the result and counts it (`queue_dropped`).
//!
//! The control core's side (`control::probes::Probes`) drains the queue,
//! keeps the latest result per task and feeds the `probes` table.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{watch, Semaphore};

use crate::{ProbeResult, ProbeTask};

/// Scheduler settings (`[probe]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Runs at once, all tasks together.
    pub max_concurrent: usize,
    /// Relative jitter of the interval, 0.0 to 0.5.
    pub jitter: f64,
    /// Results waiting for the control core, and rows waiting for the table.
    pub buffer_rows: usize,
    /// How often buffered rows are written as a file.
    pub flush_every: Duration,
    /// Run every task once, at once, then stop (`tapscope probe --once`).
    pub once: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_concurrent: 4,
            jitter: 0.1,
            buffer_rows: 10_000,
            flush_every: Duration::from_secs(60),
            once: false,
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    runs: AtomicU64,
    queue_dropped: AtomicU64,
    running: AtomicU64,
}

/// The probe thread.
pub struct Runner {
    rx: Receiver<ProbeResult>,
    stop: watch::Sender<bool>,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// The delay before the next run: `interval` × (1 ± jitter), uniform.
pub fn jittered(interval: Duration, jitter: f64, unit: f64) -> Duration {
    let j = jitter.clamp(0.0, 0.5);
    interval.mul_f64((1.0 + j * (2.0 * unit - 1.0)).max(0.0))
}

impl Runner {
    /// Starts the probe thread, pinned to `core` if given.
    pub fn start(
        tasks: Vec<ProbeTask>,
        settings: &Settings,
        core: Option<core_affinity::CoreId>,
    ) -> std::io::Result<Runner> {
        let (tx, rx) = sync_channel(settings.buffer_rows.max(1));
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared::default());
        let sh = shared.clone();
        let settings = settings.clone();
        let thread = std::thread::Builder::new()
            .name("probes".into())
            .spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(c);
                }
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!("probe runtime: {e}");
                        return;
                    }
                };
                rt.block_on(schedule(tasks, settings, tx, sh, stop_rx));
            })?;
        Ok(Runner {
            rx,
            stop,
            shared,
            thread: Some(thread),
        })
    }

    /// The next result, if one is waiting (never blocks).
    pub fn try_next(&self) -> Option<ProbeResult> {
        self.rx.try_recv().ok()
    }

    /// Whether the thread is done (`once`, or stopped).
    pub fn finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Runs completed, and results dropped because the queue was full.
    pub fn counters(&self) -> (u64, u64, u64) {
        (
            self.shared.runs.load(Ordering::Relaxed),
            self.shared.queue_dropped.load(Ordering::Relaxed),
            self.shared.running.load(Ordering::Relaxed),
        )
    }

    /// Stops the thread: runs in progress are abandoned (their sockets
    /// closed, an iperf3 child killed).
    pub fn stop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn schedule(
    tasks: Vec<ProbeTask>,
    settings: Settings,
    tx: SyncSender<ProbeResult>,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    let sem = Arc::new(Semaphore::new(settings.max_concurrent.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for task in tasks {
        let first = if settings.once {
            Duration::ZERO
        } else {
            task.interval.mul_f64(fastrand::f64())
        };
        set.spawn(task_loop(
            task,
            first,
            settings.clone(),
            sem.clone(),
            tx.clone(),
            shared.clone(),
            stop.clone(),
        ));
    }
    drop(tx);
    while set.join_next().await.is_some() {}
}

/// Waits for `d`; false if stopped meanwhile.
async fn wait(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => !*stop.borrow(),
        _ = stop.changed() => false,
    }
}

async fn task_loop(
    task: ProbeTask,
    first: Duration,
    settings: Settings,
    sem: Arc<Semaphore>,
    tx: SyncSender<ProbeResult>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    if !wait(first, &mut stop).await {
        return;
    }
    let mut scheduled = Instant::now();
    loop {
        let permit = tokio::select! {
            p = sem.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
            _ = stop.changed() => return,
        };
        shared.running.fetch_add(1, Ordering::Relaxed);
        let r = tokio::select! {
            r = super::run(&task) => Some(r),
            _ = stop.changed() => None,
        };
        shared.running.fetch_sub(1, Ordering::Relaxed);
        drop(permit);
        let Some(r) = r else { return };
        shared.runs.fetch_add(1, Ordering::Relaxed);
        match tx.try_send(r) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                shared.queue_dropped.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => return,
        }
        if settings.once {
            return;
        }
        scheduled += jittered(task.interval, settings.jitter, fastrand::f64());
        let now = Instant::now();
        if scheduled < now {
            // Overran: start again from now rather than in a burst.
            scheduled = now;
        }
        if !wait(scheduled - now, &mut stop).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ProbeKind, ProbeParams};

    #[test]
    fn jitter_stays_in_its_band() {
        let i = Duration::from_secs(60);
        assert_eq!(jittered(i, 0.1, 0.5), i);
        assert_eq!(jittered(i, 0.1, 0.0), Duration::from_secs(54));
        assert_eq!(jittered(i, 0.1, 1.0), Duration::from_secs(66));
        assert_eq!(jittered(i, 0.0, 0.9), i);
        // The jitter is capped at 50 %.
        assert_eq!(jittered(i, 3.0, 0.0), Duration::from_secs(30));
    }

    fn udp_task(name: &str, target: &str) -> ProbeTask {
        ProbeTask {
            name: Arc::from(name),
            kind: ProbeKind::UdpEcho,
            target: Arc::from(target),
            interval: Duration::from_millis(300),
            timeout: Duration::from_secs(2),
            params: ProbeParams {
                count: 2,
                spacing: Duration::from_millis(5),
                wait: Duration::from_millis(200),
                ..ProbeParams::default()
            },
        }
    }

    #[test]
    fn tasks_run_on_schedule_without_overlap_and_bounded() {
        let srv = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = srv.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while let Ok((n, from)) = srv.recv_from(&mut buf) {
                let _ = srv.send_to(&buf[..n], from);
            }
        });
        let tasks = vec![udp_task("a", &addr), udp_task("b", &addr)];
        let settings = Settings {
            max_concurrent: 1,
            buffer_rows: 3,
            ..Settings::default()
        };
        let mut runner = Runner::start(tasks, &settings, None).unwrap();
        // Nobody drains: the queue of 3 fills and the rest is counted.
        let t = Instant::now();
        let mut most_running = 0;
        while t.elapsed() < Duration::from_millis(2500) {
            most_running = most_running.max(runner.counters().2);
            std::thread::sleep(Duration::from_millis(2));
        }
        runner.stop();
        assert!(runner.finished());
        assert_eq!(most_running, 1, "max_concurrent = 1");
        let (runs, dropped, running) = runner.counters();
        assert_eq!(running, 0);
        assert!(runs >= 6, "{runs} runs in 2.5 s of two 300 ms tasks");
        assert_eq!(dropped, runs - 3);
        let mut got = Vec::new();
        while let Some(r) = runner.try_next() {
            got.push(r);
        }
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|r| r.ok), "{got:?}");
    }

    #[test]
    fn a_task_never_overlaps_itself() {
        // A responder that never answers: each run waits its 200 ms, twice
        // its 100 ms interval.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = silent.local_addr().unwrap().to_string();
        let mut slow = udp_task("slow", &addr);
        slow.interval = Duration::from_millis(100);
        let settings = Settings {
            max_concurrent: 4,
            ..Settings::default()
        };
        let mut runner = Runner::start(vec![slow], &settings, None).unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        runner.stop();
        let got: Vec<ProbeResult> = std::iter::from_fn(|| runner.try_next()).collect();
        assert!(got.len() >= 4, "{} runs", got.len());
        for w in got.windows(2) {
            assert_eq!(w[0].error_class(), Some("timeout"));
            let end = w[0].started_ns + (w[0].duration_ms * 1e6) as u64;
            assert!(
                w[1].started_ns >= end,
                "run {:?} started before the previous ended",
                w[1]
            );
            // Overran: the next starts at once, not a burst of catch-ups.
            assert!(w[1].started_ns - end < 50_000_000);
        }
        drop(silent);
    }

    #[test]
    fn once_runs_every_task_once() {
        let tasks = vec![
            udp_task("x", "127.0.0.1:9"),
            udp_task("y", "127.0.0.1:9"),
            udp_task("z", "127.0.0.1:9"),
        ];
        let settings = Settings {
            once: true,
            ..Settings::default()
        };
        let runner = Runner::start(tasks, &settings, None).unwrap();
        let t = Instant::now();
        while !runner.finished() && t.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(runner.finished());
        let mut names: Vec<String> = std::iter::from_fn(|| runner.try_next())
            .map(|r| r.task.to_string())
            .collect();
        names.sort();
        assert_eq!(names, vec!["x", "y", "z"]);
    }
}
