//! The control core's side of the probes: it drains the probe thread's
//! queue (`probe::scheduler::Runner`), keeps the latest result per task for
//! the status view, and forwards every result to the probe buffer on the
//! sink thread (`sink::ProbeSpool`, which keeps rows through a failing
//! disk).

use probe::scheduler::{Runner, Settings};
use probe::{ProbeResult, ProbeTask};
use sink::{SinkError, SinkThread};

/// The latest result of one task, for the status view.
#[derive(Clone, Debug)]
pub struct Latest {
    /// The task.
    pub task: ProbeTask,
    /// Its latest result; `None` before its first run ends.
    pub result: Option<ProbeResult>,
    /// Its runs so far.
    pub runs: u64,
    /// Those that failed.
    pub failures: u64,
}

/// The control core's side of the probes.
pub struct Probes {
    runner: Runner,
    latest: Vec<Latest>,
    runs: u64,
    failures: u64,
}

impl Probes {
    /// Starts the probe thread (pinned to `core`, if any).
    pub fn start(
        tasks: Vec<ProbeTask>,
        settings: &Settings,
        core: Option<core_affinity::CoreId>,
    ) -> std::io::Result<Probes> {
        let latest = tasks
            .iter()
            .map(|t| Latest {
                task: t.clone(),
                result: None,
                runs: 0,
                failures: 0,
            })
            .collect();
        Ok(Probes {
            runner: Runner::start(tasks, settings, core)?,
            latest,
            runs: 0,
            failures: 0,
        })
    }

    /// Takes the waiting results (never blocks) and hands their rows to
    /// the sink thread's probe buffer. Returns the results taken; fails
    /// only if the sink thread is gone.
    pub fn poll(&mut self, sink: &mut SinkThread) -> Result<Vec<ProbeResult>, SinkError> {
        let mut got = Vec::new();
        let mut result = Ok(());
        while let Some(r) = self.runner.try_next() {
            self.runs += 1;
            if !r.ok {
                self.failures += 1;
            }
            if let Some(l) = self.latest.iter_mut().find(|l| l.task.name == r.task) {
                l.runs += 1;
                l.failures += u64::from(!r.ok);
                l.result = Some(r.clone());
            }
            if result.is_ok() {
                result = sink.probe(r.clone());
            }
            got.push(r);
        }
        result.map(|()| got)
    }

    /// Whether every task has run its last run (`once`).
    pub fn finished(&self) -> bool {
        self.runner.finished()
    }

    /// Stops the probe thread, takes what it left and asks the sink to
    /// write every buffered row now.
    pub fn close(&mut self, sink: &mut SinkThread) -> Result<Vec<ProbeResult>, SinkError> {
        self.runner.stop();
        let got = self.poll(sink)?;
        sink.flush_probes()?;
        Ok(got)
    }

    /// The latest result of every task, in configuration order.
    pub fn latest(&self) -> &[Latest] {
        &self.latest
    }

    /// (runs, failures, results dropped by a full queue, runs in progress).
    pub fn counters(&self) -> (u64, u64, u64, u64) {
        let (_, dropped, running) = self.runner.counters();
        (self.runs, self.failures, dropped, running)
    }
}
