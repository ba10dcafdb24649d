//! Replay plumbing: several capture files as one source, real-time pacing,
//! and the dispatcher that spreads one capture over several workers by a
//! symmetric flow hash (the software stand-in for the NIC's RSS).
//!
//! Each file of a chain is a new capture whose clock owes nothing to the
//! previous one: the chain counts it in
//! [`FrameSource::time_restarts`]. Pacing and the dispatcher keep their own
//! [`TimeGuard`], so a wild timestamp neither makes them sleep for
//! centuries nor moves the time they hand to idle workers.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::pcap::{PcapError, PcapSource};
use super::{Frame, FrameSource, Poll, SourceStats};
use crate::flow::key::symmetric_hash;
use crate::parse::{parse_frame, LinkType};
use crate::timeguard::{TimeGuard, TimeGuardConfig, Verdict};

/// Progress of a replay, shared with the control core for display.
#[derive(Debug, Default)]
pub struct ReplayProgress {
    /// File bytes consumed so far over all files.
    pub bytes_read: AtomicU64,
    /// Total size of all files (0 if unknown).
    pub bytes_total: AtomicU64,
    /// Frames read so far.
    pub frames: AtomicU64,
}

/// Capture files read one after the other as a single source.
pub struct FileChain {
    paths: Vec<PathBuf>,
    next: usize,
    cur: Option<PcapSource>,
    done_bytes: u64,
    /// Readable-record problems of finished files (their `invalid`).
    done_invalid: u64,
    /// Files started after the first (each restarts the clock).
    restarts: u64,
    progress: Arc<ReplayProgress>,
}

impl FileChain {
    /// Opens the first file right away so a bad path fails early; later
    /// files are opened when reached.
    pub fn open(
        paths: Vec<PathBuf>,
        progress: Arc<ReplayProgress>,
    ) -> Result<FileChain, PcapError> {
        let total: u64 = paths
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum();
        progress.bytes_total.store(total, Ordering::Relaxed);
        // Check every file up front: a typo in the third path should not
        // surface minutes into a replay.
        for p in &paths {
            PcapSource::open(p)?;
        }
        Ok(FileChain {
            paths,
            next: 0,
            cur: None,
            done_bytes: 0,
            done_invalid: 0,
            restarts: 0,
            progress,
        })
    }
}

impl FrameSource for FileChain {
    fn poll_batch<F: FnMut(&Frame<'_>)>(&mut self, max: usize, mut f: F) -> Poll {
        loop {
            if self.cur.is_none() {
                let Some(p) = self.paths.get(self.next) else {
                    return Poll::End;
                };
                self.next += 1;
                match PcapSource::open(p) {
                    Ok(s) => self.cur = Some(s),
                    Err(_) => {
                        self.done_invalid += 1;
                        continue;
                    }
                }
                if self.next > 1 {
                    // A new capture, a new clock: say so before its first
                    // frame.
                    self.restarts += 1;
                    return Poll::Idle { now_ns: 0 };
                }
            }
            let src = self.cur.as_mut().expect("opened above");
            match src.poll_batch(max, &mut f) {
                Poll::End => {
                    self.done_bytes += src.bytes_read();
                    self.done_invalid += src.stats().invalid;
                    self.cur = None;
                }
                other => {
                    self.progress
                        .bytes_read
                        .store(self.done_bytes + src.bytes_read(), Ordering::Relaxed);
                    if let Poll::Frames(n) = other {
                        self.progress.frames.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    return other;
                }
            }
        }
    }

    fn stats(&self) -> SourceStats {
        SourceStats {
            invalid: self.done_invalid + self.cur.as_ref().map_or(0, |s| s.stats().invalid),
            ..SourceStats::default()
        }
    }

    fn time_restarts(&self) -> u64 {
        self.restarts
    }
}

/// Delivers frames no faster than their capture timestamps (`--speed real`).
///
/// Only good timestamps ([`TimeGuard`]) set the pace: a wild one is
/// delivered at once, and a clock step (or a new capture of the source)
/// starts a new pace instead of being waited out.
/// Waits are cut into slices of at most [`PACE_SLICE`], and end when `stop`
/// is raised (the rest of the batch is then delivered at once).
pub struct Paced<S> {
    inner: S,
    start: Option<(Instant, u64)>,
    time: TimeGuard,
    restarts: u64,
    stop: Arc<AtomicBool>,
}

/// Longest sleep of [`Paced`] between two looks at its stop flag.
pub const PACE_SLICE: Duration = Duration::from_millis(50);

impl<S> Paced<S> {
    /// Paces `inner`: its first frame is delivered at once, the rest at their
    /// timestamps' distance from it. `time` judges the timestamps; `stop`
    /// cuts waits short.
    pub fn new(inner: S, time: TimeGuardConfig, stop: Arc<AtomicBool>) -> Self {
        Paced {
            inner,
            start: None,
            time: TimeGuard::new(time),
            restarts: 0,
            stop,
        }
    }
}

impl<S: FrameSource> FrameSource for Paced<S> {
    fn poll_batch<F: FnMut(&Frame<'_>)>(&mut self, max: usize, mut f: F) -> Poll {
        let start = &mut self.start;
        let time = &mut self.time;
        let stop = &self.stop;
        let poll = self.inner.poll_batch(max, |fr| {
            let v = time.check(fr.ts_ns);
            if v == Verdict::Step {
                *start = None;
            }
            if matches!(v, Verdict::Good | Verdict::Step) {
                let (t0, ts0) = *start.get_or_insert((Instant::now(), fr.ts_ns));
                let due = t0 + Duration::from_nanos(fr.ts_ns.saturating_sub(ts0));
                loop {
                    let now = Instant::now();
                    if due <= now || stop.load(Ordering::Relaxed) {
                        break;
                    }
                    std::thread::sleep((due - now).min(PACE_SLICE));
                }
            }
            f(fr)
        });
        let r = self.inner.time_restarts();
        if r != self.restarts {
            self.restarts = r;
            self.start = None;
            self.time.allow_step();
        }
        poll
    }

    fn stats(&self) -> SourceStats {
        self.inner.stats()
    }

    fn time_restarts(&self) -> u64 {
        self.inner.time_restarts()
    }
}

/// Frames copied out of a source for one worker, with their metadata.
pub struct FrameBatch {
    data: Vec<u8>,
    frames: Vec<BatchFrame>,
    /// Packet time when the batch was sent (advances idle workers' clocks).
    now_ns: u64,
    end: bool,
    /// An empty batch that says: a new capture starts (see
    /// [`FrameSource::time_restarts`]).
    restart: bool,
    /// The read source's drop counters when the batch was sent (first
    /// worker's lane only: it reports them).
    src: SourceStats,
}

#[derive(Clone, Copy)]
struct BatchFrame {
    off: u32,
    len: u32,
    wire_len: u32,
    ts_ns: u64,
    link: LinkType,
}

impl FrameBatch {
    const DATA: usize = 256 * 1024;
    const FRAMES: usize = 128;

    fn new() -> Self {
        FrameBatch {
            data: Vec::with_capacity(Self::DATA),
            frames: Vec::with_capacity(Self::FRAMES),
            now_ns: 0,
            end: false,
            restart: false,
            src: SourceStats::default(),
        }
    }

    fn fits(&self, len: usize) -> bool {
        self.frames.len() < Self::FRAMES && self.data.len() + len <= Self::DATA
    }
}

/// A worker's end of the dispatcher: a [`FrameSource`] over batches.
pub struct RingSource {
    rx: rtrb::Consumer<Box<FrameBatch>>,
    back: rtrb::Producer<Box<FrameBatch>>,
    now_ns: u64,
    ended: bool,
    restarts: u64,
    /// The read source's drop counters (first worker only).
    src: SourceStats,
}

impl FrameSource for RingSource {
    fn poll_batch<F: FnMut(&Frame<'_>)>(&mut self, _max: usize, mut f: F) -> Poll {
        if self.ended {
            return Poll::End;
        }
        let Ok(mut b) = self.rx.pop() else {
            std::thread::yield_now();
            return Poll::Idle {
                now_ns: self.now_ns,
            };
        };
        for fr in &b.frames {
            let data = &b.data[fr.off as usize..(fr.off + fr.len) as usize];
            f(&Frame {
                data,
                wire_len: fr.wire_len,
                ts_ns: fr.ts_ns,
                link: fr.link,
            });
        }
        let n = b.frames.len();
        self.now_ns = self.now_ns.max(b.now_ns);
        self.ended = b.end;
        self.restarts += u64::from(b.restart);
        self.src = b.src;
        b.data.clear();
        b.frames.clear();
        b.end = false;
        b.restart = false;
        let _ = self.back.push(b);
        if n > 0 {
            Poll::Frames(n)
        } else if self.ended {
            Poll::End
        } else {
            Poll::Idle {
                now_ns: self.now_ns,
            }
        }
    }

    fn time_restarts(&self) -> u64 {
        self.restarts
    }

    /// The read source's drop counters (unreadable records of the capture
    /// files), on the first worker's ring only, so they count once.
    fn stats(&self) -> SourceStats {
        self.src
    }
}

struct Lane {
    tx: rtrb::Producer<Box<FrameBatch>>,
    back: rtrb::Consumer<Box<FrameBatch>>,
    cur: Box<FrameBatch>,
    /// The source's counters to send with batches (first lane only).
    src: SourceStats,
}

/// Reads one source and spreads its frames over `n` workers so that both
/// directions of a flow reach the same worker. Frames that do not parse go
/// to worker 0, which counts them.
pub struct Dispatcher<S> {
    src: S,
    lanes: Vec<Lane>,
    /// Packet time of the last flush to all lanes.
    last_tick: u64,
    /// Judges the timestamps that move the time sent with batches.
    time: TimeGuard,
    /// The source's restarts already passed on.
    restarts: u64,
}

/// Packet time between flushes to every worker, so idle workers still see
/// time pass (epochs close, flows expire).
const TICK_NS: u64 = 100_000_000;
/// Batches in flight per worker.
const LANE_DEPTH: usize = 16;

impl<S: FrameSource> Dispatcher<S> {
    /// Builds a dispatcher and one [`RingSource`] per worker; `time` judges
    /// which timestamps move the time idle workers are given.
    pub fn new(src: S, workers: usize, time: TimeGuardConfig) -> (Dispatcher<S>, Vec<RingSource>) {
        let mut lanes = Vec::new();
        let mut sources = Vec::new();
        for _ in 0..workers.max(1) {
            let (tx, rx) = rtrb::RingBuffer::new(LANE_DEPTH);
            let (mut back_tx, back) = rtrb::RingBuffer::new(LANE_DEPTH);
            for _ in 0..LANE_DEPTH - 1 {
                let _ = back_tx.push(Box::new(FrameBatch::new()));
            }
            lanes.push(Lane {
                tx,
                back,
                cur: Box::new(FrameBatch::new()),
                src: SourceStats::default(),
            });
            sources.push(RingSource {
                rx,
                back: back_tx,
                now_ns: 0,
                ended: false,
                restarts: 0,
                src: SourceStats::default(),
            });
        }
        (
            Dispatcher {
                src,
                lanes,
                last_tick: 0,
                time: TimeGuard::new(time),
                restarts: 0,
            },
            sources,
        )
    }

    /// Runs until the source ends or `stop` is raised; then tells every
    /// worker the stream ended. Waits (never drops) when a worker is behind:
    /// replay is lossless by design.
    pub fn run(&mut self, stop: &AtomicBool) {
        let mut now = 0u64;
        loop {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let lanes = &mut self.lanes;
            let time = &mut self.time;
            let mut tick_due = false;
            let last_tick = self.last_tick;
            let poll = self.src.poll_batch(64, |fr| {
                if matches!(time.check(fr.ts_ns), Verdict::Good | Verdict::Step) {
                    now = now.max(fr.ts_ns);
                }
                let w = match parse_frame(fr.link, fr.data, fr.wire_len) {
                    Ok(m) => (symmetric_hash(&m) % lanes.len() as u64) as usize,
                    Err(_) => 0,
                };
                let lane = &mut lanes[w];
                // Frames longer than a batch are cut to it (headers and the
                // start of the payload are all the datapath reads).
                let len = fr.data.len().min(FrameBatch::DATA);
                if !lane.cur.fits(len) {
                    Self::send(lane, now, false, stop);
                }
                let off = lane.cur.data.len() as u32;
                lane.cur.data.extend_from_slice(&fr.data[..len]);
                lane.cur.frames.push(BatchFrame {
                    off,
                    len: len as u32,
                    wire_len: fr.wire_len,
                    ts_ns: fr.ts_ns,
                    link: fr.link,
                });
                if now >= last_tick.saturating_add(TICK_NS) {
                    tick_due = true;
                }
            });
            self.lanes[0].src = self.src.stats();
            let r = self.src.time_restarts();
            if r != self.restarts {
                // The frames so far belong to the previous capture: send
                // them, then tell every worker a new one starts.
                self.restarts = r;
                self.time.allow_step();
                for lane in &mut self.lanes {
                    Self::send(lane, now, false, stop);
                    lane.cur.restart = true;
                    Self::send(lane, now, false, stop);
                }
            }
            if tick_due {
                self.last_tick = now - now % TICK_NS;
                for lane in &mut self.lanes {
                    Self::send(lane, now, false, stop);
                }
            }
            if poll == Poll::End {
                break;
            }
        }
        for lane in &mut self.lanes {
            Self::send(lane, now, true, stop);
        }
    }

    fn send(lane: &mut Lane, now: u64, end: bool, stop: &AtomicBool) {
        let fresh = loop {
            match lane.back.pop() {
                Ok(b) => break b,
                Err(_) => {
                    // The worker is behind: wait. On stop, the workers stop
                    // on their own, so give up instead of waiting forever.
                    if stop.load(Ordering::Relaxed) {
                        lane.cur.data.clear();
                        lane.cur.frames.clear();
                        return;
                    }
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        };
        let mut b = std::mem::replace(&mut lane.cur, fresh);
        b.now_ns = now;
        b.end = end;
        b.src = lane.src;
        let _ = lane.tx.push(b);
        lane.cur.restart = false;
    }

    /// The wrapped source's drop counters.
    pub fn source_stats(&self) -> SourceStats {
        self.src.stats()
    }
}
