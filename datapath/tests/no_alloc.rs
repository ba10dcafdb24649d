//! The worker's per-packet path does not allocate in steady state.
//!
//! A counting global allocator watches the whole worker loop (parse, flow
//! table, expiry, epoch hand-over, summary recycling) while real captures are
//! replayed from memory over and over with advancing timestamps, so flows are
//! created, ended by FIN/RST, idle and active timeouts, and summaries
//! circulate. After a warm-up, the allocation count must stay at zero.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use datapath::parse::LinkType;
use datapath::source::pcap::PcapSource;
use datapath::source::{Frame, FrameSource, Poll};
use datapath::worker::{ControlLink, Worker, WorkerConfig};

struct Counting;

static ARMED: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if ARMED.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static A: Counting = Counting;

struct Stored {
    data: Vec<u8>,
    wire_len: u32,
    ts_ns: u64,
    link: LinkType,
}

/// Replays stored frames `passes` times, shifting time forward each pass,
/// and plays the control core's part (drain and recycle summaries) between
/// batches. Arms the allocation counter after `warmup` passes.
struct MemSource {
    frames: Vec<Stored>,
    span_ns: u64,
    pos: usize,
    pass: u64,
    passes: u64,
    warmup: u64,
    link: ControlLink,
    summaries: u64,
    records: u64,
}

impl FrameSource for MemSource {
    fn poll_batch<F: FnMut(&Frame<'_>)>(&mut self, max: usize, mut f: F) -> Poll {
        while let Some(s) = self.link.pop() {
            self.summaries += 1;
            self.records += s.flows.len() as u64;
            self.link.give_back(s);
        }
        if self.pos == self.frames.len() {
            self.pos = 0;
            self.pass += 1;
            if self.pass == self.warmup {
                ARMED.store(true, Ordering::SeqCst);
            }
            if self.pass == self.passes {
                ARMED.store(false, Ordering::SeqCst);
                return Poll::End;
            }
        }
        let shift = self.pass * (self.span_ns + 400_000_000_000);
        let end = (self.pos + max).min(self.frames.len());
        for s in &self.frames[self.pos..end] {
            f(&Frame {
                data: &s.data,
                wire_len: s.wire_len,
                ts_ns: s.ts_ns + shift,
                link: s.link,
            });
        }
        let n = end - self.pos;
        self.pos = end;
        Poll::Frames(n)
    }
}

#[test]
fn steady_state_worker_loop_allocates_nothing() {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/pcap"
    ));
    let mut frames = Vec::new();
    let mut t0 = u64::MAX;
    let mut t1 = 0;
    for name in [
        "netflix.pcap",
        "teams.pcap",
        "443-firefox.pcap",
        "badpackets.pcap",
    ] {
        let mut src = PcapSource::open(&dir.join(name)).expect("shared capture");
        // Each capture is laid end to end on one timeline.
        let base = t1;
        let mut first = None;
        while let Poll::Frames(_) = src.poll_batch(64, |f| {
            let start = *first.get_or_insert(f.ts_ns);
            let ts = base + f.ts_ns.saturating_sub(start);
            t0 = t0.min(ts);
            t1 = t1.max(ts);
            frames.push(Stored {
                data: f.data.to_vec(),
                wire_len: f.wire_len,
                ts_ns: ts,
                link: f.link,
            });
        }) {}
    }
    assert!(frames.len() > 4000);
    let cfg = WorkerConfig {
        // Small enough that the table fills and evicts, and that summaries
        // are handed over mid-epoch.
        flows: datapath::flow::FlowConfig {
            capacity: 64,
            active_timeout_ns: 20_000_000_000,
            ..Default::default()
        },
        summary_flow_capacity: 32,
        ..WorkerConfig::default()
    };
    let (mut worker, link) = Worker::new(cfg, Arc::new(AtomicBool::new(false)));
    let mut src = MemSource {
        span_ns: t1 - t0,
        frames,
        pos: 0,
        pass: 0,
        passes: 8,
        warmup: 3,
        link,
        summaries: 0,
        records: 0,
    };
    worker.run(&mut src);
    assert!(
        src.summaries > 100,
        "summaries circulated: {}",
        src.summaries
    );
    assert!(src.records > 1000, "flow records emitted: {}", src.records);
    assert_eq!(
        ALLOCS.load(Ordering::SeqCst),
        0,
        "allocations in steady state"
    );
}
