//! The sink on a thread of its own: [`SinkThread`], the control core's
//! handle.
//!
//! The control core (the thread that drains the workers' rings) hands rows
//! over as owned `Vec`s through a bounded queue and never encodes,
//! compresses, fsyncs, renames or deletes a file itself. The queue is
//! bounded twice: in messages ([`SinkThreadConfig::queue_messages`]) and in
//! rows waiting, all tables ([`SinkThreadConfig::queue_rows`]), so its
//! memory stays bounded whatever the batch sizes.
//!
//! When the queue is full:
//! - live capture (`lossless: false`) never waits: the rows that could not
//!   be handed over are dropped and counted per table
//!   ([`TableStats::rows_dropped`](crate::TableStats::rows_dropped)); a
//!   data-clock tick is skipped and counted (the next carries a later time);
//! - replay (`lossless: true`) waits for room: a file can wait.
//!
//! Probe results are never dropped by the queue: they wait in the handle,
//! with the probe buffer's bound, and the probe buffer ([`ProbeSpool`])
//! runs on the sink thread, retried every few seconds through a failing
//! disk.
//!
//! Invariant, once [`SinkThread::close`] returned: for every table, rows
//! handed to [`SinkThread::send`] = rows in complete files + rows lost to
//! write errors + rows dropped by the queue.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use model::probe::ProbeResult;

use crate::table::{Table, TABLES};
use crate::{ProbeSpool, Sink, SinkConfig, SinkError, SinkStats};

/// How often the sink thread looks at the probe buffer when no message
/// comes.
const IDLE_WAKE: Duration = Duration::from_millis(100);
/// How often the sink thread publishes its counters while busy.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);

/// How the control core hands rows to the sink thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SinkThreadConfig {
    /// Messages the queue holds (at least 1).
    pub queue_messages: usize,
    /// Rows waiting in the queue, all tables (at least 1; a single larger
    /// batch still passes when the queue is empty).
    pub queue_rows: usize,
    /// Wait for room instead of dropping (replay; live capture never
    /// waits).
    pub lossless: bool,
    /// Rows the probe buffer keeps (`probe.buffer_rows`).
    pub probe_buffer_rows: usize,
    /// How often buffered probe rows are written (`probe.flush_interval_s`).
    pub probe_flush_every: Duration,
}

impl Default for SinkThreadConfig {
    fn default() -> Self {
        SinkThreadConfig {
            queue_messages: 1024,
            queue_rows: 262_144,
            lossless: false,
            probe_buffer_rows: 10_000,
            probe_flush_every: Duration::from_secs(60),
        }
    }
}

/// Rows of one table on their way to the sink thread.
trait Batch: Send {
    fn write(self: Box<Self>, sink: &mut Sink) -> Result<(), SinkError>;
    fn len(&self) -> usize;
}

struct Rows<T: Table>(Vec<T::Row>);

impl<T: Table> Batch for Rows<T> {
    fn write(self: Box<Self>, sink: &mut Sink) -> Result<(), SinkError> {
        sink.write::<T>(&self.0)
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

enum Msg {
    Rows(Box<dyn Batch>),
    Tick(u64),
    Probe(Box<ProbeResult>),
    /// New bound and interval of the probe buffer (its rows are kept).
    ProbeSpool(usize, Duration),
    /// Write the buffered probe rows now.
    FlushProbes,
}

/// What the control core and the sink thread share.
#[derive(Default)]
struct Shared {
    /// The sink thread's latest counters.
    stats: Mutex<SinkStats>,
    /// Rows handed over and not yet written.
    queued: Mutex<usize>,
    room: Condvar,
    /// Test support: the sink thread waits before its next message while
    /// asked to.
    stall: Mutex<Stall>,
    stall_changed: Condvar,
    /// The run is stopping: data-clock ticks no longer rotate files.
    winding_down: AtomicBool,
}

/// Test support: whether the sink thread is asked to stall, and whether it
/// is waiting because of it.
#[derive(Default)]
struct Stall {
    asked: bool,
    waiting: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these locks leaves plain counters behind.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The control core's handle on the sink thread.
pub struct SinkThread {
    tx: Option<SyncSender<Msg>>,
    shared: Arc<Shared>,
    join: Option<JoinHandle<Result<(), SinkError>>>,
    cfg: SinkThreadConfig,
    sink_cfg: SinkConfig,
    /// Rows dropped by the queue, per table in [`TABLES`] order.
    dropped: Vec<u64>,
    ticks_dropped: u64,
    /// Probe messages waiting for room in the queue.
    backlog: VecDeque<Msg>,
    backlog_probes: usize,
    probe_capacity: usize,
    /// Probe rows dropped from `backlog` by the probe buffer's bound.
    probes_dropped: u64,
    /// The result of the thread once closed.
    closed: Option<Result<(), String>>,
}

impl SinkThread {
    /// Starts the sink thread, which owns `sink` from now on.
    pub fn spawn(sink: Sink, cfg: SinkThreadConfig) -> Result<SinkThread, SinkError> {
        let (tx, rx) = mpsc::sync_channel(cfg.queue_messages.max(1));
        let shared = Arc::new(Shared::default());
        *lock(&shared.stats) = sink.stats();
        let sink_cfg = sink.config().clone();
        let spool = ProbeSpool::new(cfg.probe_buffer_rows, cfg.probe_flush_every);
        let thread_shared = shared.clone();
        let join = std::thread::Builder::new()
            .name("sink".into())
            .spawn(move || run(sink, spool, rx, &thread_shared))
            .map_err(|e| SinkError::Thread(format!("could not start: {e}")))?;
        Ok(SinkThread {
            tx: Some(tx),
            shared,
            join: Some(join),
            dropped: vec![0; TABLES.len()],
            ticks_dropped: 0,
            backlog: VecDeque::new(),
            backlog_probes: 0,
            probe_capacity: cfg.probe_buffer_rows.max(1),
            probes_dropped: 0,
            closed: None,
            cfg,
            sink_cfg,
        })
    }

    /// Hands `rows` of table `T` to the sink thread. Live, never waits:
    /// when the queue is full they are dropped and counted
    /// ([`crate::TableStats::rows_dropped`]). Lossless, waits for room.
    /// Fails only if the sink thread is gone (its rows are then counted as
    /// dropped too).
    pub fn send<T: Table>(&mut self, rows: Vec<T::Row>) -> Result<(), SinkError> {
        let n = rows.len();
        if n == 0 {
            return Ok(());
        }
        match self.reserve(n) {
            Ok(true) => {}
            Ok(false) => {
                self.count_dropped(T::NAME, n);
                return Ok(());
            }
            Err(e) => {
                self.count_dropped(T::NAME, n);
                return Err(e);
            }
        }
        match self.offer(Msg::Rows(Box::new(Rows::<T>(rows)))) {
            Ok(true) => Ok(()),
            Ok(false) => {
                self.release(n);
                self.count_dropped(T::NAME, n);
                Ok(())
            }
            Err(e) => {
                self.release(n);
                self.count_dropped(T::NAME, n);
                Err(e)
            }
        }
    }

    /// Moves the sink's data clock to `data_now_ns` (Unix ns of packet
    /// time), closing files whose rotate interval passed.
    pub fn tick(&mut self, data_now_ns: u64) -> Result<(), SinkError> {
        self.flush_backlog()?;
        if !self.offer(Msg::Tick(data_now_ns))? {
            self.ticks_dropped += 1;
        }
        Ok(())
    }

    /// Hands a probe result to the probe buffer. When the queue is full it
    /// waits in the handle, within the probe buffer's bound (beyond it the
    /// oldest is dropped and counted in [`crate::SpoolStats::dropped`]).
    pub fn probe(&mut self, r: ProbeResult) -> Result<(), SinkError> {
        if self.backlog_probes >= self.probe_capacity {
            if let Some(i) = self.backlog.iter().position(|m| matches!(m, Msg::Probe(_))) {
                self.backlog.remove(i);
                self.backlog_probes -= 1;
                self.probes_dropped += 1;
            }
        }
        self.backlog.push_back(Msg::Probe(Box::new(r)));
        self.backlog_probes += 1;
        self.flush_backlog()
    }

    /// Sets the probe buffer's bound and write interval (its rows are kept).
    pub fn configure_probes(
        &mut self,
        capacity: usize,
        flush_every: Duration,
    ) -> Result<(), SinkError> {
        self.probe_capacity = capacity.max(1);
        self.backlog
            .push_back(Msg::ProbeSpool(capacity, flush_every));
        self.flush_backlog()
    }

    /// Asks for the buffered probe rows to be written now.
    pub fn flush_probes(&mut self) -> Result<(), SinkError> {
        self.backlog.push_back(Msg::FlushProbes);
        self.flush_backlog()
    }

    /// The configuration the sink was opened with.
    pub fn config(&self) -> &SinkConfig {
        &self.sink_cfg
    }

    /// The latest counters of the sink thread, with what the queue dropped.
    pub fn stats(&self) -> SinkStats {
        let mut st = lock(&self.shared.stats).clone();
        for (t, d) in st.tables.iter_mut().zip(&self.dropped) {
            t.rows_dropped += d;
        }
        st.rows_dropped = st.tables.iter().map(|t| t.rows_dropped).sum();
        st.ticks_dropped += self.ticks_dropped;
        st.probe_spool.dropped += self.probes_dropped;
        st.probe_spool.buffered += self.backlog_probes as u64;
        st
    }

    /// The run is stopping (a signal): from now on the sink thread
    /// ignores data-clock ticks, so what is still queued goes into the
    /// files already open (a new date still opens its own) instead of
    /// rotating through many, each closed with an fsync; [`SinkThread::close`]
    /// then closes them once. This keeps a stop short however far behind
    /// the sink is.
    pub fn wind_down(&self) {
        self.shared.winding_down.store(true, Ordering::SeqCst);
    }

    /// Rows handed over and not yet written (all tables).
    pub fn queued_rows(&self) -> usize {
        *lock(&self.shared.queued)
    }

    /// Writes what is queued, writes the buffered probe rows, closes every
    /// open file and stops the thread. Returns the first error the sink
    /// thread met since it started (its damage is counted in
    /// [`SinkStats`]), or the close's. [`SinkThread::stats`] then gives the
    /// final counters.
    pub fn close(&mut self) -> Result<(), SinkError> {
        if let Some(r) = &self.closed {
            return r.clone().map_err(SinkError::Thread);
        }
        // Probe rows waiting in the handle go first, waiting for room.
        let mut first = None;
        while let Some(m) = self.backlog.pop_front() {
            let probe = matches!(m, Msg::Probe(_));
            if let Some(tx) = &self.tx {
                if tx.send(m).is_err() {
                    first.get_or_insert(gone());
                }
            }
            if probe {
                self.backlog_probes -= 1;
            }
        }
        drop(self.tx.take());
        let joined = match self.join.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(SinkError::Thread("panicked".into())),
            None => Ok(()),
        };
        let r = match first {
            Some(e) => Err(e),
            None => joined,
        };
        self.closed = Some(r.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        r
    }

    /// Test support: stalls the sink thread before its next message, as a
    /// disk that does not answer would, until the guard is dropped.
    #[doc(hidden)]
    pub fn stall_for_test(&self) -> SinkStall {
        lock(&self.shared.stall).asked = true;
        SinkStall {
            shared: self.shared.clone(),
        }
    }

    /// Takes room for `n` rows in the queue; false (live) when there is
    /// none. Lossless, waits for room (an error if the thread is gone).
    fn reserve(&self, n: usize) -> Result<bool, SinkError> {
        let max = self.cfg.queue_rows.max(1);
        let mut q = lock(&self.shared.queued);
        if self.cfg.lossless {
            while *q > 0 && *q + n > max {
                if self.join.as_ref().is_none_or(JoinHandle::is_finished) {
                    return Err(gone());
                }
                q = self
                    .shared
                    .room
                    .wait_timeout(q, IDLE_WAKE)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        } else if *q > 0 && *q + n > max {
            return Ok(false);
        }
        *q += n;
        Ok(true)
    }

    fn release(&self, n: usize) {
        let mut q = lock(&self.shared.queued);
        *q = q.saturating_sub(n);
    }

    fn count_dropped(&mut self, table: &str, n: usize) {
        if let Some(i) = TABLES.iter().position(|t| t.name == table) {
            self.dropped[i] += n as u64;
        }
    }

    /// Sends `m`: waits for room when lossless, else gives up at once.
    /// Ok(false): the queue was full.
    fn offer(&self, m: Msg) -> Result<bool, SinkError> {
        let Some(tx) = &self.tx else {
            return Err(gone());
        };
        if self.cfg.lossless {
            return tx.send(m).map(|()| true).map_err(|_| gone());
        }
        match tx.try_send(m) {
            Ok(()) => Ok(true),
            Err(TrySendError::Full(_)) => Ok(false),
            Err(TrySendError::Disconnected(_)) => Err(gone()),
        }
    }

    /// Hands over the waiting probe messages while the queue has room.
    fn flush_backlog(&mut self) -> Result<(), SinkError> {
        let Some(tx) = &self.tx else {
            return Err(gone());
        };
        while let Some(m) = self.backlog.pop_front() {
            let probe = matches!(m, Msg::Probe(_));
            let sent = if self.cfg.lossless {
                tx.send(m).map_err(|_| gone())?;
                true
            } else {
                match tx.try_send(m) {
                    Ok(()) => true,
                    Err(TrySendError::Full(m)) => {
                        self.backlog.push_front(m);
                        false
                    }
                    Err(TrySendError::Disconnected(_)) => return Err(gone()),
                }
            };
            if !sent {
                break;
            }
            if probe {
                self.backlog_probes -= 1;
            }
        }
        Ok(())
    }
}

impl Drop for SinkThread {
    /// Closes the sink (queued rows are written, files closed) so that an
    /// early return still leaves complete files; [`SinkThread::close`] is
    /// the way to see the errors.
    fn drop(&mut self) {
        if self.closed.is_none() {
            if let Err(e) = self.close() {
                tracing::error!(error = %e, "closing the sink");
            }
        }
    }
}

fn gone() -> SinkError {
    SinkError::Thread("stopped before it was closed".into())
}

/// Holds the sink thread stalled (see [`SinkThread::stall_for_test`]).
#[doc(hidden)]
pub struct SinkStall {
    shared: Arc<Shared>,
}

impl SinkStall {
    /// Waits until the sink thread holds a message and waits for the guard
    /// to be dropped.
    pub fn wait_until_stalled(&self) {
        let mut s = lock(&self.shared.stall);
        while !s.waiting {
            s = self
                .shared
                .stall_changed
                .wait(s)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

impl Drop for SinkStall {
    fn drop(&mut self) {
        lock(&self.shared.stall).asked = false;
        self.shared.stall_changed.notify_all();
    }
}

/// What the sink thread keeps besides the sink.
struct SinkLoop<'a> {
    sink: Sink,
    spool: ProbeSpool,
    shared: &'a Shared,
    /// The first error of the run, returned by close.
    first_error: Option<SinkError>,
    last_error: Option<String>,
    last_logged: Option<Instant>,
    last_publish: Instant,
}

/// The sink thread: writes what comes until the handle closes the queue.
fn run(sink: Sink, spool: ProbeSpool, rx: Receiver<Msg>, shared: &Shared) -> Result<(), SinkError> {
    let mut w = SinkLoop {
        sink,
        spool,
        shared,
        first_error: None,
        last_error: None,
        last_logged: None,
        last_publish: Instant::now(),
    };
    loop {
        let msg = match rx.try_recv() {
            Ok(m) => Some(m),
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => {
                w.publish();
                match rx.recv_timeout(IDLE_WAKE) {
                    Ok(m) => Some(m),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            }
        };
        if let Some(m) = msg {
            w.wait_while_stalled();
            w.handle(m);
            if w.last_publish.elapsed() >= PUBLISH_EVERY {
                w.publish();
            }
        }
        w.spool.flush(&mut w.sink, false);
    }
    w.spool.flush(&mut w.sink, true);
    let closed = w.sink.close();
    w.note(closed);
    w.publish();
    match w.first_error.take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

impl SinkLoop<'_> {
    fn handle(&mut self, m: Msg) {
        match m {
            Msg::Rows(b) => {
                let n = b.len();
                let r = b.write(&mut self.sink);
                {
                    let mut q = lock(&self.shared.queued);
                    *q = q.saturating_sub(n);
                }
                self.shared.room.notify_all();
                self.note(r);
            }
            Msg::Tick(t) => {
                if !self.shared.winding_down.load(Ordering::SeqCst) {
                    let r = self.sink.tick(t);
                    self.note(r);
                }
            }
            Msg::Probe(r) => self.spool.push(*r),
            Msg::ProbeSpool(capacity, every) => self.spool.reconfigure(capacity, every),
            Msg::FlushProbes => {
                self.spool.flush(&mut self.sink, true);
            }
        }
    }

    /// Keeps an error for the status and for close, and logs it (a new
    /// message at once, the same one at most every 10 s).
    fn note(&mut self, r: Result<(), SinkError>) {
        let Err(e) = r else { return };
        let text = e.to_string();
        let repeat = self.last_error.as_deref() == Some(text.as_str());
        if !repeat
            || self
                .last_logged
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
        {
            tracing::error!(error = %text, "writing the tables");
            self.last_logged = Some(Instant::now());
        }
        self.last_error = Some(text);
        self.first_error.get_or_insert(e);
    }

    fn wait_while_stalled(&self) {
        let mut s = lock(&self.shared.stall);
        while s.asked {
            if !s.waiting {
                s.waiting = true;
                self.shared.stall_changed.notify_all();
            }
            s = self
                .shared
                .stall_changed
                .wait(s)
                .unwrap_or_else(PoisonError::into_inner);
        }
        s.waiting = false;
    }

    fn publish(&mut self) {
        let mut st = self.sink.stats();
        st.last_error.clone_from(&self.last_error);
        st.probe_spool = self.spool.stats();
        st.probe_write_error = self.spool.last_error().map(str::to_string);
        *lock(&self.shared.stats) = st;
        self.last_publish = Instant::now();
    }
}

#[cfg(test)]
mod tests;
