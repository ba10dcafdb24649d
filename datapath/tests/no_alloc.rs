//! The worker's per-packet path does not allocate in steady state.
//!
//! A counting global allocator watches the whole worker loop (parse, flow
//! table, sketches, expiry, epoch hand-over, summary recycling) while real
//! captures are replayed from memory over and over with advancing
//! timestamps, so flows are created, ended by FIN/RST, idle and active
//! timeouts, and summaries circulate. After a warm-up, the allocation count
//! must stay at zero — also across a change of the counter set, where only
//! the control core's side (building sketches of the new plan) allocates.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use datapath::parse::LinkType;
use datapath::sketch::{
    CounterSpec, Direction, Increment, KeyType, ProtoFilter, SketchParams, SketchPlan,
};
use datapath::source::pcap::PcapSource;
use datapath::source::{Frame, FrameSource, Poll};
use datapath::worker::{ControlLink, Worker, WorkerConfig};

struct Counting;

static ARMED: AtomicBool = AtomicBool::new(false);
/// Set while the test plays the control core's part of a plan change.
static CONTROL: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

fn counted() -> bool {
    ARMED.load(Ordering::Relaxed) && !CONTROL.load(Ordering::Relaxed)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if counted() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // Freeing is no better on the packet path (a large block is an
        // munmap): the worker hands buffers back instead.
        if counted() {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        if counted() {
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
/// batches. Arms the allocation counter after `warmup` passes, and changes
/// the counter set at pass `change`.
struct MemSource {
    frames: Vec<Stored>,
    span_ns: u64,
    pos: usize,
    pass: u64,
    passes: u64,
    warmup: u64,
    change: u64,
    next_plan: Option<Arc<SketchPlan>>,
    link: ControlLink,
    summaries: u64,
    records: u64,
    /// Summaries whose sketches had counted something, by plan generation.
    sketched: [u64; 2],
    /// Summaries whose sketches sampled packets.
    sampled: u64,
    retired: u64,
}

impl FrameSource for MemSource {
    fn poll_batch<F: FnMut(&Frame<'_>)>(&mut self, max: usize, mut f: F) -> Poll {
        // After the change, recycling builds sketches of the new plan for
        // summaries that come back with the old one: control-side work.
        CONTROL.store(self.pass >= self.change, Ordering::SeqCst);
        while let Some(s) = self.link.pop() {
            self.summaries += 1;
            self.records += s.flows.len() as u64;
            if let Some(k) = &s.sketch {
                if !k.is_empty() {
                    self.sketched[k.generation().min(1) as usize] += 1;
                    self.sampled += (k.sample_shift() > 0) as u64;
                }
            }
            self.retired += s.retired.is_some() as u64;
            self.link.give_back(s);
        }
        CONTROL.store(false, Ordering::SeqCst);
        if self.pos == self.frames.len() {
            self.pos = 0;
            self.pass += 1;
            if self.pass == self.warmup {
                ARMED.store(true, Ordering::SeqCst);
            }
            if self.pass == self.change {
                CONTROL.store(true, Ordering::SeqCst);
                let plan = self.next_plan.take().expect("one change");
                self.link.set_sketch_plan(plan);
                CONTROL.store(false, Ordering::SeqCst);
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
        // QUIC Initials decrypted on the worker.
        "quic-28.pcap",
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
    // Counters of every key type, filters and both increments; scans and
    // flow sizes on.
    let spec = |name: &str, key, inc, protocol, direction| CounterSpec {
        protocol,
        direction,
        ..CounterSpec::new(name, key, inc)
    };
    let plan = SketchPlan {
        generation: 0,
        params: SketchParams {
            // The captures' rate is low: sample above 20 pps, so the
            // sampled path (geometric skips) runs too.
            sample_above_updates: 20,
            ..SketchParams::default()
        },
        counters: vec![
            spec(
                "a",
                KeyType::Src,
                Increment::Bytes,
                ProtoFilter::Any,
                Direction::Any,
            ),
            spec(
                "b",
                KeyType::Dst,
                Increment::Packets,
                ProtoFilter::Tcp,
                Direction::ClientToServer,
            ),
            spec(
                "c",
                KeyType::SrcDst,
                Increment::Bytes,
                ProtoFilter::Udp,
                Direction::Any,
            ),
            spec(
                "d",
                KeyType::SrcDport,
                Increment::Packets,
                ProtoFilter::Any,
                Direction::Any,
            ),
            spec(
                "e",
                KeyType::Dport,
                Increment::Bytes,
                ProtoFilter::Any,
                Direction::ServerToClient,
            ),
            spec(
                "f",
                KeyType::FiveTuple,
                Increment::Packets,
                ProtoFilter::Icmp,
                Direction::Any,
            ),
        ],
    };
    let next = plan
        .with_counters(vec![
            spec(
                "a",
                KeyType::Src,
                Increment::Bytes,
                ProtoFilter::Any,
                Direction::Any,
            ),
            spec(
                "g",
                KeyType::FiveTuple,
                Increment::Bytes,
                ProtoFilter::Any,
                Direction::Any,
            ),
        ])
        .unwrap();
    let (mut worker, link) =
        Worker::with_sketches(cfg, Arc::new(plan), Arc::new(AtomicBool::new(false)));
    let mut src = MemSource {
        span_ns: t1 - t0,
        frames,
        pos: 0,
        pass: 0,
        passes: 8,
        warmup: 3,
        change: 5,
        next_plan: Some(Arc::new(next)),
        link,
        summaries: 0,
        records: 0,
        sketched: [0; 2],
        sampled: 0,
        retired: 0,
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
        "allocations or frees in steady state"
    );
    assert!(
        src.sketched[0] > 50 && src.sketched[1] > 50,
        "summaries with sketches, by plan: {:?}",
        src.sketched
    );
    assert!(src.retired > 0, "old-plan sketches handed back");
    assert!(
        src.sampled > 10,
        "summaries with sampled sketches: {}",
        src.sampled
    );
}
