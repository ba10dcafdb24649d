//! The worker loop: poll a [`FrameSource`] in batches, parse, update the
//! flow table, and hand an [`EpochSummary`] to the control core at every
//! epoch boundary over a bounded single-producer ring.
//!
//! Summaries circulate: the worker fills one, pushes it to the control core,
//! and takes an emptied one from the recycle ring. If none is free (the
//! control core is behind), the worker never waits: it counts
//! `summary_queue_full`, drops the epoch's flow records (counted in
//! `records_dropped`) and folds the epoch's counters into the next summary.
//!
//! Sketches circulate the same way: at a full hand-over the worker puts its
//! filled [`Sketches`] into the summary and continues with the emptied set
//! the summary brought back. When no summary is free the sketches, like the
//! counters, fold into the next epoch. A new counter set
//! ([`ControlLink::set_sketch_plan`]) arrives as emptied sketches of the new
//! plan on a small command ring; the worker switches to them at its next
//! epoch boundary and hands sketches of the old plan back in
//! [`EpochSummary::retired`], so it never allocates or frees.
//!
//! Time comes from the frames, judged by a [`TimeGuard`]: a wild timestamp
//! is counted (`bad_timestamp`) and its frame accounted at the latest good
//! time; frames far ahead are held (copied) until the guard tells a clock
//! step, accounted at their own times, from wild ones.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::epoch::{CaptureCounters, EpochSummary, FlowActivity, FlowRecord};
use crate::flow::{FlowConfig, FlowCounters, FlowTable};
use crate::names::NameInspector;
use crate::parse::{parse_frame_into, LinkType, PacketMeta};
use crate::sketch::{SketchPlan, Sketches};
use crate::source::{Frame, FrameSource, Poll, SourceStats};
use crate::timeguard::{TimeGuard, TimeGuardConfig, Verdict, STEP_CONFIRM};

/// Worker settings.
#[derive(Clone, Copy, Debug)]
pub struct WorkerConfig {
    /// Index of the worker (0-based), written into its flow ids, records and
    /// summaries.
    pub id: u16,
    /// Epoch length in nanoseconds of packet time (default 1 s).
    pub epoch_ns: u64,
    /// Most frames taken from the source per poll.
    pub batch_size: usize,
    /// Flow-table settings (capacity, timeouts).
    pub flows: FlowConfig,
    /// Flow records one summary holds before a mid-epoch hand-over.
    pub summary_flow_capacity: usize,
    /// Summaries in circulation between this worker and the control core.
    pub summary_pool: usize,
    /// Wait for the control core instead of dropping when no summary is
    /// free. Replay sets this (a file can wait; a NIC cannot); live capture
    /// never does.
    pub lossless: bool,
    /// Read names from flows' first packets ([`crate::names`]).
    pub names: bool,
    /// Which timestamps may move the worker's time ([`crate::timeguard`]).
    pub time: TimeGuardConfig,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            id: 0,
            epoch_ns: 1_000_000_000,
            batch_size: 64,
            flows: FlowConfig::default(),
            summary_flow_capacity: 16_384,
            summary_pool: 8,
            lossless: false,
            names: true,
            time: TimeGuardConfig::default(),
        }
    }
}

/// The control core's ends of one worker's rings.
pub struct ControlLink {
    /// Index of the worker these rings belong to.
    pub worker: u16,
    /// Filled summaries from the worker.
    pub summaries: rtrb::Consumer<Box<EpochSummary>>,
    /// Emptied summaries back to the worker.
    pub recycle: rtrb::Producer<Box<EpochSummary>>,
    /// Emptied sketches of a new plan, for the worker's next epochs.
    sketch_cmd: rtrb::Producer<Box<Sketches>>,
    /// The plan recycled summaries carry sketches of.
    plan: Arc<SketchPlan>,
}

impl ControlLink {
    /// Takes the next filled summary, if any.
    pub fn pop(&mut self) -> Option<Box<EpochSummary>> {
        self.summaries.pop().ok()
    }

    /// True once the worker is gone (its thread ended, normally or by a
    /// panic): nothing more will come once the ring is drained.
    pub fn worker_gone(&self) -> bool {
        self.summaries.is_abandoned()
    }

    /// Returns a summary (emptied here) to the worker, with an emptied set
    /// of sketches of the current plan (built here if its own is of an
    /// older plan: the control core allocates, the worker never does).
    pub fn give_back(&mut self, mut s: Box<EpochSummary>) {
        s.reset();
        if s.sketch
            .as_ref()
            .is_none_or(|k| k.generation() != self.plan.generation)
        {
            s.sketch = Some(Box::new(Sketches::new(self.plan.clone())));
        }
        // The recycle ring holds the whole pool, so this cannot fail.
        let _ = self.recycle.push(s);
    }

    /// The plan the worker's sketches follow (or will from its next epoch).
    pub fn sketch_plan(&self) -> &Arc<SketchPlan> {
        &self.plan
    }

    /// Switches the worker to `plan` (a new counter set) without stopping
    /// it: sends it emptied sketches of the new plan, one for each summary
    /// already on its side, which it takes at its next epoch boundaries.
    /// Summaries given back from now on carry the new plan.
    pub fn set_sketch_plan(&mut self, plan: Arc<SketchPlan>) {
        let queued = self.recycle.buffer().capacity() - self.recycle.slots();
        let n = (queued + 1).min(self.sketch_cmd.slots());
        for _ in 0..n {
            let _ = self.sketch_cmd.push(Box::new(Sketches::new(plan.clone())));
        }
        self.plan = plan;
    }
}

/// Where a worker's summaries go, and the epoch currently being filled.
struct Output {
    id: u16,
    cur: Box<EpochSummary>,
    tx: rtrb::Producer<Box<EpochSummary>>,
    free: rtrb::Consumer<Box<EpochSummary>>,
    counters: CaptureCounters,
    /// The epoch's sketches.
    sketch: Box<Sketches>,
    /// Sketches of a new plan from the control core.
    sketch_cmd: rtrb::Consumer<Box<Sketches>>,
    /// Activity records of `cur` already counted in `sketch`.
    sketched_activity: usize,
    /// Flow records of `cur` already counted in `sketch`.
    sketched_flows: usize,
    epoch_start: u64,
    epoch_end: u64,
    lossless: bool,
}

impl Output {
    #[inline]
    fn emit(&mut self, rec: &FlowRecord) {
        if self.cur.flows.len() == self.cur.flows.capacity() && !self.hand_over(true) {
            self.counters.records_dropped += 1;
            self.sketch.add_flow_end(rec);
            self.sketch.record_flow(rec);
            return;
        }
        self.cur.flows.push(*rec);
    }

    /// Adds one flow's activity of the epoch (handing over a partial summary
    /// first if the buffer is full).
    #[inline]
    fn activity(&mut self, a: &FlowActivity) {
        if self.cur.activity.len() == self.cur.activity.capacity() && !self.hand_over(true) {
            self.counters.activity_dropped += 1;
            self.sketch.add_activity(a);
            return;
        }
        self.cur.activity.push(*a);
    }

    /// Gives the flow records and activity records of `cur` not yet
    /// counted to the sketches, before `cur` is handed over: in one pass
    /// over each buffer rather than one record at a time as flows end or
    /// the activity is drained, so the sketches' tables are brought into
    /// the cache once per pass instead of once per record (between records
    /// the packet path and the drain's walk over the flow table push them
    /// out).
    fn sketch_pending(&mut self) {
        let c = &self.cur;
        self.sketch.add_flow_ends(&c.flows[self.sketched_flows..]);
        self.sketch
            .add_activities(&c.activity[self.sketched_activity..]);
        self.sketched_flows = c.flows.len();
        self.sketched_activity = c.activity.len();
    }

    /// Pushes the current summary to the control core. `partial` hands over
    /// flow records only (mid-epoch); otherwise the epoch's counters go too.
    /// Returns false (and counts) if no emptied summary was free.
    fn hand_over(&mut self, partial: bool) -> bool {
        self.sketch_pending();
        if self.lossless {
            while self.free.is_empty() && !self.tx.is_abandoned() {
                std::thread::sleep(Duration::from_micros(20));
            }
        }
        let Ok(fresh) = self.free.pop() else {
            self.counters.summary_queue_full += 1;
            if !partial {
                self.counters.records_dropped += self.cur.flows.len() as u64;
                self.cur.flows.clear();
                self.sketched_flows = 0;
            }
            return false;
        };
        let mut done = std::mem::replace(&mut self.cur, fresh);
        self.sketched_activity = 0;
        self.sketched_flows = 0;
        done.worker = self.id;
        done.partial = partial;
        done.start_ns = self.epoch_start;
        done.end_ns = self.epoch_end;
        if !partial {
            done.counters = self.counters;
            self.counters = CaptureCounters::default();
            self.rotate_sketch(&mut done);
        }
        // The ring holds the whole pool, so a push cannot fail.
        let _ = self.tx.push(done);
        true
    }

    /// Puts the epoch's sketches into `done` and continues with emptied
    /// ones: of a new plan if the control core sent one, else the set
    /// `done` brought back. A set of an older plan is retired; with none
    /// to switch to, the sketches fold into the next epoch.
    fn rotate_sketch(&mut self, done: &mut EpochSummary) {
        let slot = done.sketch.take();
        let next = match self.sketch_cmd.pop() {
            Ok(newer) => {
                done.retired = slot;
                Some(newer)
            }
            Err(_) => match slot {
                Some(s) if s.generation() >= self.sketch.generation() => Some(s),
                other => {
                    done.retired = other;
                    None
                }
            },
        };
        if let Some(mut next) = next {
            // Sampling for the next epoch, from this one's update rate.
            next.sample_for_rate(
                self.sketch.updates(),
                self.epoch_end.saturating_sub(self.epoch_start),
            );
            done.sketch = Some(std::mem::replace(&mut self.sketch, next));
        }
    }
}

/// Frames whose time is not decided yet, in their order: those with a bad
/// timestamp before the first good one (in replay, timestamps past the
/// ceiling of [`TimeGuardConfig`]), which wait for a good time to be
/// accounted at, and those of a run of timestamps far ahead
/// ([`Verdict::Ahead`]) with the bad ones that came between, which wait for
/// the guard to accept the step (at their own times) or not (bad, at the
/// latest good time). At most [`HELD_FRAMES`], each cut to [`HELD_SNAP`]
/// bytes (as a snap length would: headers and the start of the payload
/// are what the worker reads). When full, everything held is accounted as
/// bad.
#[derive(Default)]
struct Held {
    data: Vec<u8>,
    frames: Vec<HeldFrame>,
}

#[derive(Clone, Copy)]
struct HeldFrame {
    off: usize,
    len: usize,
    wire_len: u32,
    ts_ns: u64,
    link: LinkType,
    /// Part of a run of timestamps far ahead (else: a bad timestamp).
    ahead: bool,
}

/// Frames [`Held`] keeps.
pub const HELD_FRAMES: usize = 32;
/// Bytes of each held frame kept.
pub const HELD_SNAP: usize = 4096;
const _: () = assert!(HELD_FRAMES > STEP_CONFIRM as usize);

/// How held frames are accounted.
#[derive(Clone, Copy)]
enum Release {
    /// All bad, at this time or the latest good one if later.
    Bad(u64),
    /// The run was a clock step: its frames good, at their own times.
    Step,
    /// The source's clock moved time: a frame of the run is good if its
    /// time is near the new reference.
    Rejudge,
}

impl Held {
    fn with_capacity() -> Held {
        Held {
            data: Vec::with_capacity(HELD_FRAMES * HELD_SNAP),
            frames: Vec::with_capacity(HELD_FRAMES),
        }
    }

    /// Keeps a copy of `f`; false when full.
    fn push(&mut self, f: &Frame<'_>, ahead: bool) -> bool {
        if self.frames.len() >= HELD_FRAMES {
            return false;
        }
        let len = f.data.len().min(HELD_SNAP);
        let off = self.data.len();
        self.data.extend_from_slice(&f.data[..len]);
        self.frames.push(HeldFrame {
            off,
            len,
            wire_len: f.wire_len,
            ts_ns: f.ts_ns,
            link: f.link,
            ahead,
        });
        true
    }

    fn clear(&mut self) {
        self.data.clear();
        self.frames.clear();
    }
}

/// What ended [`Worker::run`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerExit {
    /// The source ended (end of file).
    SourceEnded,
    /// The stop flag was raised.
    Stopped,
}

/// One worker: a flow table and its output, driven by a source.
pub struct Worker {
    cfg: WorkerConfig,
    table: FlowTable,
    names: NameInspector,
    out: Output,
    /// Parsed in place, one frame at a time (saves a copy per packet).
    meta: PacketMeta,
    now: u64,
    /// Keeps wild timestamps from moving `now`.
    time: TimeGuard,
    /// Frames with a bad timestamp before the first good one.
    held: Held,
    /// The source's [`FrameSource::time_restarts`] already seen.
    restarts: u64,
    last_flow: FlowCounters,
    /// The flow table's segments dropped, as of the last epoch.
    last_segments_dropped: u64,
    last_src: SourceStats,
    /// The source's drop counters are read once per epoch (on AF_XDP that
    /// is a syscall), after the batch that crossed the boundary.
    src_sample_due: bool,
    stop: Arc<AtomicBool>,
}

impl Worker {
    /// Builds a worker with the default sketches ([`SketchPlan::default`])
    /// and the control core's link to it. All buffers are allocated here.
    pub fn new(cfg: WorkerConfig, stop: Arc<AtomicBool>) -> (Worker, ControlLink) {
        Worker::with_sketches(cfg, Arc::new(SketchPlan::default()), stop)
    }

    /// Builds a worker whose sketches follow `plan`, and the control core's
    /// link to it. All buffers are allocated here.
    pub fn with_sketches(
        cfg: WorkerConfig,
        plan: Arc<SketchPlan>,
        stop: Arc<AtomicBool>,
    ) -> (Worker, ControlLink) {
        let pool = cfg.summary_pool.max(2);
        let (tx, summaries) = rtrb::RingBuffer::new(pool + 1);
        let (mut recycle, free) = rtrb::RingBuffer::new(pool + 1);
        let (sketch_cmd_tx, sketch_cmd) = rtrb::RingBuffer::new(pool + 2);
        let summary = || {
            let mut s = EpochSummary::with_capacity(cfg.id, cfg.summary_flow_capacity);
            // Room for every segment the flow table's log can hold.
            s.segments
                .reserve_exact(cfg.flows.segment_capacity.clamp(1, 1 << 24));
            s.sketch = Some(Box::new(Sketches::new(plan.clone())));
            Box::new(s)
        };
        for _ in 0..pool - 1 {
            let _ = recycle.push(summary());
        }
        let cur = summary();
        let flows = FlowConfig {
            worker: cfg.id,
            ..cfg.flows
        };
        let worker = Worker {
            cfg,
            table: FlowTable::new(flows),
            names: NameInspector::new(),
            out: Output {
                id: cfg.id,
                cur,
                tx,
                free,
                counters: CaptureCounters::default(),
                sketch: Box::new(Sketches::new(plan.clone())),
                sketch_cmd,
                sketched_activity: 0,
                sketched_flows: 0,
                epoch_start: 0,
                epoch_end: 0,
                lossless: cfg.lossless,
            },
            meta: PacketMeta::default(),
            now: 0,
            time: TimeGuard::new(cfg.time),
            held: Held::with_capacity(),
            restarts: 0,
            last_flow: FlowCounters::default(),
            last_segments_dropped: 0,
            last_src: SourceStats::default(),
            src_sample_due: false,
            stop,
        };
        let link = ControlLink {
            worker: cfg.id,
            summaries,
            recycle,
            sketch_cmd: sketch_cmd_tx,
            plan,
        };
        (worker, link)
    }

    /// Runs until the source ends or the stop flag is raised, then ends every
    /// flow and hands over the last summary (marked `last`).
    pub fn run<S: FrameSource>(&mut self, src: &mut S) -> WorkerExit {
        let exit = loop {
            if self.stop.load(Ordering::Relaxed) {
                break WorkerExit::Stopped;
            }
            match src.poll_batch(self.cfg.batch_size, |f| self.on_frame(f)) {
                Poll::Frames(_) => {
                    self.out.counters.busy_polls += 1;
                    self.housekeeping(src);
                }
                Poll::Idle { now_ns } => {
                    self.out.counters.idle_polls += 1;
                    self.advance(now_ns);
                    self.housekeeping(src);
                }
                Poll::End => break WorkerExit::SourceEnded,
            }
        };
        self.finish(src);
        exit
    }

    /// Accounts one frame (public for benchmarks and tests that drive the
    /// worker without a source).
    #[inline]
    pub fn on_frame(&mut self, f: &Frame<'_>) {
        match self.time.check(f.ts_ns) {
            Verdict::Good => {
                let now = f.ts_ns.max(self.now);
                if !self.held.frames.is_empty() {
                    // Their run ended, or time was just found: bad.
                    self.release_held(Release::Bad(now));
                }
                self.account(f, now, true);
            }
            Verdict::Step => {
                self.release_held(Release::Step);
                self.account(f, f.ts_ns.max(self.now), true);
            }
            Verdict::Ahead => {
                if self.time.pending() == 1 && !self.held.frames.is_empty() {
                    // A new run: the previous one was wild.
                    self.release_held(Release::Bad(self.now));
                }
                if !self.held.push(f, true) {
                    self.time.end_run();
                    self.release_held(Release::Bad(self.now));
                    self.account(f, self.now, false);
                }
            }
            Verdict::Bad => {
                // Accounted at the latest good time; after what is held
                // (in order), or once a first good time is found.
                if self.held.frames.is_empty() && self.time.anchored() {
                    self.account(f, self.now, false);
                } else if !self.held.push(f, false) {
                    self.time.end_run();
                    self.release_held(Release::Bad(self.now));
                    self.account(f, self.now, false);
                }
            }
        }
    }

    /// Accounts the held frames in their order, without allocating.
    #[cold]
    fn release_held(&mut self, how: Release) {
        let held = std::mem::take(&mut self.held);
        for h in &held.frames {
            let f = Frame {
                data: &held.data[h.off..h.off + h.len],
                wire_len: h.wire_len,
                ts_ns: h.ts_ns,
                link: h.link,
            };
            let good = h.ahead
                && match how {
                    Release::Bad(_) => false,
                    Release::Step => true,
                    Release::Rejudge => self.time.near(h.ts_ns),
                };
            let now = match how {
                Release::Bad(at) => at.max(self.now),
                _ if good => h.ts_ns.max(self.now),
                _ => self.now,
            };
            self.account(&f, now, good);
        }
        self.held = held;
        self.held.clear();
    }

    /// Accounts one frame at `now`; `good`: its own timestamp.
    #[inline]
    fn account(&mut self, f: &Frame<'_>, now: u64, good: bool) {
        // No epoch opens before a good time (frames held beyond the
        // buffer count into the first one).
        if now >= self.out.epoch_end && self.time.anchored() {
            self.roll_epoch(now);
        }
        self.now = now;
        let c = &mut self.out.counters;
        c.packets += 1;
        c.bad_timestamp += u64::from(!good);
        c.bytes += f.wire_len as u64;
        match parse_frame_into(f.link, f.data, f.wire_len, &mut self.meta) {
            Ok(()) => {
                c.ip_packets += 1;
                let out = &mut self.out;
                let seen = self.table.process(&self.meta, now, &mut |r| out.emit(r));
                self.out.sketch.probe_packet(&self.meta, seen);
                let (rec, st) = self.table.flow_mut(seen.slot);
                if self.cfg.names && !st.done() {
                    let out = &mut self.out;
                    self.names.inspect(
                        &self.meta,
                        f.data,
                        now,
                        seen.c2s,
                        rec,
                        st,
                        &mut out.cur.names,
                        &mut out.counters,
                    );
                }
            }
            Err(e) => c.parse_errors[e.reason()] += 1,
        }
    }

    /// Flows in the table now.
    pub fn active_flows(&self) -> usize {
        self.table.len()
    }

    /// An idle poll: the source's clock moves time (live: the wall clock;
    /// replay: the dispatcher's guarded time).
    fn advance(&mut self, now_ns: u64) {
        let before = self.time.reference();
        self.time.advance(now_ns);
        if !self.time.anchored() {
            return;
        }
        if self.time.reference() != before && !self.held.frames.is_empty() {
            // The clock moved time: what was held is judged against it.
            self.release_held(Release::Rejudge);
        }
        let now = self.time.reference().max(self.now);
        if now >= self.out.epoch_end {
            self.roll_epoch(now);
        }
        self.now = now;
    }

    /// Once per batch: expire flows, and let time step where a new capture
    /// starts; once per epoch: read source drops.
    fn housekeeping<S: FrameSource>(&mut self, src: &S) {
        let r = src.time_restarts();
        if r != self.restarts {
            // What is held belongs to the previous capture.
            self.restarts = r;
            if !self.held.frames.is_empty() {
                self.time.end_run();
                self.release_held(Release::Bad(self.now));
            }
            self.time.allow_step();
        }
        let out = &mut self.out;
        self.table.expire(self.now, &mut |r| out.emit(r));
        if self.src_sample_due {
            self.src_sample_due = false;
            self.sample_source(src.stats());
        }
    }

    /// Adds the source's drops since the last sample to the current epoch.
    fn sample_source(&mut self, s: SourceStats) {
        let c = &mut self.out.counters;
        c.src_dropped += s.dropped.saturating_sub(self.last_src.dropped);
        c.src_ring_full += s.ring_full.saturating_sub(self.last_src.ring_full);
        c.src_fill_ring_empty += s
            .fill_ring_empty
            .saturating_sub(self.last_src.fill_ring_empty);
        c.src_invalid_descs += s.invalid.saturating_sub(self.last_src.invalid);
        self.last_src = s;
    }

    /// Closes the current epoch (if one is open) and opens the one holding `now`.
    fn roll_epoch(&mut self, now: u64) {
        if self.out.epoch_end != 0 {
            self.close_epoch(false);
            self.src_sample_due = true;
        }
        let e = self.cfg.epoch_ns.max(1);
        self.out.epoch_start = now - now % e;
        self.out.epoch_end = self.out.epoch_start.saturating_add(e);
    }

    fn close_epoch(&mut self, last: bool) {
        let out = &mut self.out;
        self.table.drain_activity(|a| out.activity(a));
        let segs = &mut self.out.cur.segments;
        let mut lost = 0;
        self.table.drain_segments(|r| {
            if segs.len() < segs.capacity() {
                segs.push(*r);
            } else {
                lost += 1;
            }
        });
        let dropped = self.table.segments_dropped();
        self.out.counters.segments_dropped += lost + dropped - self.last_segments_dropped;
        self.last_segments_dropped = dropped;
        let fc = self.table.counters();
        let c = &mut self.out.counters;
        c.flows_created += fc.created - self.last_flow.created;
        c.flows_ended += fc.ended - self.last_flow.ended;
        c.flow_table_full += fc.evicted - self.last_flow.evicted;
        c.fragments += fc.fragments - self.last_flow.fragments;
        c.active_flows = self.table.len() as u64;
        self.last_flow = fc;
        if last {
            self.out.cur.last = true;
        }
        self.out.hand_over(false);
    }

    /// Ends every flow and hands over the final summary. At shutdown the
    /// worker may wait (bounded) for the control core to free a summary, so
    /// that the last records are not lost.
    fn finish<S: FrameSource>(&mut self, src: &S) {
        if !self.held.frames.is_empty() {
            // A run too short to be a step, or no good time ever came (then
            // there is none better than 0).
            self.time.end_run();
            self.release_held(Release::Bad(self.now));
        }
        let out = &mut self.out;
        self.table.flush(&mut |r| {
            // Wait for room rather than dropping at shutdown.
            let deadline = Instant::now() + Duration::from_secs(10);
            while out.cur.flows.len() == out.cur.flows.capacity()
                && out.free.is_empty()
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            out.emit(r)
        });
        // No epoch was ever opened: the worker found no good time (no
        // frame, no tick, or only bad timestamps). Its last summary says so
        // with an empty span at 0 (`EpochSummary::end_ns`).
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.out.free.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.sample_source(src.stats());
        self.close_epoch(true);
    }
}
