//! In-memory runs on one pinned core: the whole worker loop (parse + flow
//! update + expiry + epoch hand-over) and parse alone, over frames already
//! in memory, with no file IO and no Parquet.

use std::hint::black_box;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datapath::epoch::CaptureCounters;
use datapath::parse::parse_frame;
use datapath::sketch::SketchPlan;
use datapath::source::{Frame, FrameSource, Poll};
use datapath::worker::{ControlLink, Worker, WorkerConfig};
use hdrhistogram::Histogram;

use crate::corpus::{period_us, Corpus, FrameRef};
use crate::sys::thread_cpu;

/// Time and work of one in-memory run.
#[derive(Clone, Debug, Default)]
pub struct MemRun {
    pub packets: u64,
    pub wall: Duration,
    /// CPU time of the run, without `control_cpu`.
    pub cpu: Duration,
    /// Worker runs: CPU time of the control core's part done inline
    /// (draining, resetting and recycling summaries), which a live control
    /// core does on another core.
    pub control_cpu: Duration,
    /// Worker runs: counters summed over every epoch summary.
    pub counters: Option<CaptureCounters>,
    pub summaries: u64,
    pub flow_records: u64,
    /// Parse-only runs: frames that parsed / did not.
    pub parsed_ok: u64,
    pub parse_err: u64,
    /// Wall ns of each full batch (worker: from handing over its first
    /// frame to the next poll, so the worker's per-batch housekeeping is
    /// in and the inline control part is not; parse: one batch of
    /// frames), 3 significant digits.
    pub batches: Option<Histogram<u64>>,
}

/// An empty histogram of batch times, ns.
pub fn batch_histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits are supported")
}

/// Replays the frames from memory, pass after pass with time shifted
/// forward, until exactly `target` frames were delivered; plays the control
/// core's part (drain and recycle summaries) before every batch, on the
/// same core, as `datapath/tests/no_alloc.rs` does.
struct MemSource<'a> {
    corpus: &'a Corpus,
    frames: &'a [FrameRef],
    period_ns: u64,
    pos: usize,
    pass: u64,
    delivered: u64,
    target: u64,
    link: ControlLink,
    summaries: u64,
    records: u64,
    counters: CaptureCounters,
    control_cpu: Duration,
    /// Clocks when the source ran dry (the worker's final flush and
    /// hand-over are not part of the measurement).
    end: Option<(Instant, Duration)>,
    /// Start of the last full batch handed out.
    batch_start: Option<Instant>,
    batches: Histogram<u64>,
}

impl MemSource<'_> {
    /// The control core's part: take every filled summary, read it, reset
    /// it and give it back. Its CPU time is measured (only when there is
    /// something to do, to keep clock reads off the common path).
    fn drain(&mut self) {
        let Some(first) = self.link.pop() else {
            return;
        };
        let t0 = thread_cpu();
        let mut next = Some(first);
        while let Some(s) = next {
            self.summaries += 1;
            self.records += s.flows.len() as u64;
            if !s.partial {
                self.counters.absorb(&s.counters);
            }
            self.link.give_back(s);
            next = self.link.pop();
        }
        self.control_cpu += thread_cpu() - t0;
    }
}

impl FrameSource for MemSource<'_> {
    #[inline]
    fn poll_batch<F: FnMut(&Frame<'_>)>(&mut self, max: usize, mut f: F) -> Poll {
        if let Some(t) = self.batch_start.take() {
            let _ = self.batches.record(t.elapsed().as_nanos() as u64);
        }
        self.drain();
        if self.delivered == self.target {
            if self.end.is_none() {
                self.end = Some((Instant::now(), thread_cpu()));
            }
            return Poll::End;
        }
        if self.pos == self.frames.len() {
            self.pos = 0;
            self.pass += 1;
        }
        let left = (self.target - self.delivered) as usize;
        let end = (self.pos + max.min(left)).min(self.frames.len());
        let shift = self.pass * self.period_ns;
        // Only full batches: a short one (end of a pass) is not comparable.
        if end - self.pos == max {
            self.batch_start = Some(Instant::now());
        }
        for r in &self.frames[self.pos..end] {
            f(&Frame {
                data: self.corpus.bytes(r),
                wire_len: r.wire_len,
                ts_ns: r.ts_us * 1_000 + shift,
                link: r.link,
            });
        }
        let n = end - self.pos;
        self.pos = end;
        self.delivered += n as u64;
        Poll::Frames(n)
    }
}

/// The whole worker loop over `frames`, looped to `packets` frames, with
/// the sketches of `plan`.
pub fn worker_run(
    corpus: &Corpus,
    frames: &[FrameRef],
    packets: u64,
    cfg: WorkerConfig,
    plan: &Arc<SketchPlan>,
) -> MemRun {
    let (mut worker, link) =
        Worker::with_sketches(cfg, plan.clone(), Arc::new(AtomicBool::new(false)));
    let mut src = MemSource {
        corpus,
        frames,
        period_ns: period_us(frames) * 1_000,
        pos: 0,
        pass: 0,
        delivered: 0,
        target: packets,
        link,
        summaries: 0,
        records: 0,
        counters: CaptureCounters::default(),
        control_cpu: Duration::ZERO,
        end: None,
        batch_start: None,
        batches: batch_histogram(),
    };
    let (w0, c0) = (Instant::now(), thread_cpu());
    worker.run(&mut src);
    let (w1, c1) = src.end.unwrap_or_else(|| (Instant::now(), thread_cpu()));
    let control_cpu = src.control_cpu;
    // The final summary (flows flushed at the end) for the counters.
    src.drain();
    MemRun {
        packets: src.delivered,
        wall: w1 - w0,
        cpu: (c1 - c0).saturating_sub(control_cpu),
        control_cpu,
        counters: Some(src.counters),
        summaries: src.summaries,
        flow_records: src.records,
        batches: Some(src.batches),
        ..MemRun::default()
    }
}

/// `parse_frame` alone over the same frames, looped to `packets` frames,
/// timed per batch of `batch` frames.
pub fn parse_run(corpus: &Corpus, frames: &[FrameRef], packets: u64, batch: usize) -> MemRun {
    let mut ok = 0u64;
    let mut err = 0u64;
    let mut left = packets;
    let mut batches = batch_histogram();
    let (w0, c0) = (Instant::now(), thread_cpu());
    while left > 0 {
        let n = (frames.len() as u64).min(left) as usize;
        for chunk in frames[..n].chunks(batch.max(1)) {
            let t = Instant::now();
            for r in chunk {
                match parse_frame(r.link, black_box(corpus.bytes(r)), r.wire_len) {
                    Ok(m) => {
                        black_box(&m);
                        ok += 1;
                    }
                    Err(e) => {
                        black_box(e);
                        err += 1;
                    }
                }
            }
            if chunk.len() == batch {
                let _ = batches.record(t.elapsed().as_nanos() as u64);
            }
        }
        left -= n as u64;
    }
    let (w1, c1) = (Instant::now(), thread_cpu());
    MemRun {
        packets,
        wall: w1 - w0,
        cpu: c1 - c0,
        parsed_ok: ok,
        parse_err: err,
        batches: Some(batches),
        ..MemRun::default()
    }
}
