//! The control core's side of the probes: it drains the probe thread's
//! queue (`probe::scheduler::Runner`), keeps the latest result per task for
//! the status view, and feeds the `probes` table through the sink's
//! [`ProbeSpool`].

use probe::scheduler::{Runner, Settings};
use probe::{ProbeResult, ProbeTask};
use sink::{ProbeSpool, Sink, SpoolStats};

/// The latest result of one task, for the status view.
#[derive(Clone, Debug)]
pub struct Latest {
    pub task: ProbeTask,
    pub result: Option<ProbeResult>,
    pub runs: u64,
    pub failures: u64,
}

/// The control core's side of the probes.
pub struct Probes {
    runner: Runner,
    spool: ProbeSpool,
    latest: Vec<Latest>,
    runs: u64,
    failures: u64,
}

impl Probes {
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
            spool: ProbeSpool::new(settings.buffer_rows, settings.flush_every),
            latest,
            runs: 0,
            failures: 0,
        })
    }

    /// Takes the waiting results (never blocks), buffers their rows and
    /// writes them when due (`force`: now). Returns the results taken.
    pub fn poll(&mut self, sink: &mut Sink, force: bool) -> Vec<ProbeResult> {
        let mut got = Vec::new();
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
            self.spool.push(r.clone());
            got.push(r);
        }
        self.spool.flush(sink, force);
        got
    }

    /// Whether every task has run its last run (`once`).
    pub fn finished(&self) -> bool {
        self.runner.finished()
    }

    /// Stops the probe thread, takes what it left and writes every row.
    pub fn close(&mut self, sink: &mut Sink) -> Vec<ProbeResult> {
        self.runner.stop();
        self.poll(sink, true)
    }

    pub fn latest(&self) -> &[Latest] {
        &self.latest
    }

    pub fn spool(&self) -> SpoolStats {
        self.spool.stats()
    }

    pub fn last_error(&self) -> Option<&str> {
        self.spool.last_error()
    }

    /// (runs, failures, results dropped by a full queue, runs in progress).
    pub fn counters(&self) -> (u64, u64, u64, u64) {
        let (_, dropped, running) = self.runner.counters();
        (self.runs, self.failures, dropped, running)
    }
}
