//! A stalled sink (a disk that stops answering) while frames flow, live
//! capture: the control core keeps draining the workers' rings (no
//! summary is refused, no flow record is lost there), its poll never waits
//! for the sink, and every row the sink's queue could not take is counted:
//! rows handed over = rows written + rows dropped, exactly.
//!
//! The worker runs on its own thread over a synthetic source that keeps
//! at most a few epochs ahead of the control core, but gives up waiting
//! after a while: a control core stuck behind the sink would let the
//! worker's summary ring fill, and the test would see `summary_queue_full`.

mod common;

use common::udp_frame;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use control::control::{Control, WorkerSource};
use datapath::flow::FlowConfig;
use datapath::parse::LinkType;
use datapath::sketch::SketchPlan;
use datapath::source::{Frame, FrameSource, Poll};
use datapath::worker::{Worker, WorkerConfig};
use sink::tables::{Capture, Flows};
use sink::{Sink, SinkConfig, SinkThread, SinkThreadConfig, Table};

const S: u64 = 1_000_000_000;
/// 2024-05-01T00:00:00Z.
const T0: u64 = 1_714_521_600 * S;
/// Epochs (seconds of packet time) the source produces.
const EPOCHS: u64 = 120;
/// New UDP flows per epoch (two packets each).
const FLOWS_PER_EPOCH: u64 = 50;
/// The sink is stalled from this epoch on ...
const STALL_FROM: u64 = 20;
/// ... until the source has produced this one.
const STALL_UNTIL: u64 = 90;
/// How far the source may run ahead of what the control core took.
const LEAD: u64 = 3;
/// How long the source waits for the control core before going on.
const PATIENCE: Duration = Duration::from_millis(250);

/// One epoch of new flows per poll, a few epochs ahead of the control core
/// at most (within `PATIENCE`).
struct Paced {
    epoch: u64,
    /// Epochs the control core has absorbed.
    taken: Arc<AtomicU64>,
    /// Epochs produced.
    produced: Arc<AtomicU64>,
}

impl FrameSource for Paced {
    fn poll_batch<F: FnMut(&Frame<'_>)>(&mut self, _max: usize, mut f: F) -> Poll {
        if self.epoch == EPOCHS {
            return Poll::End;
        }
        let waited = Instant::now();
        while self.taken.load(Ordering::SeqCst) + LEAD < self.epoch && waited.elapsed() < PATIENCE {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(2));
        let mut n = 0;
        for i in 0..FLOWS_PER_EPOCH {
            let sport = 10_000 + (self.epoch * FLOWS_PER_EPOCH + i) as u16;
            let ts = T0 + self.epoch * S + i * 1_000_000;
            for frame in [
                udp_frame([10, 0, 0, 1], [10, 0, 0, 2], sport, 53, 32),
                udp_frame([10, 0, 0, 2], [10, 0, 0, 1], 53, sport, 32),
            ] {
                f(&Frame {
                    data: &frame,
                    wire_len: frame.len() as u32,
                    ts_ns: ts,
                    link: LinkType::Ethernet,
                });
                n += 1;
            }
        }
        self.epoch += 1;
        self.produced.store(self.epoch, Ordering::SeqCst);
        Poll::Frames(n)
    }
}

/// Largest and mean poll time, ms.
fn summary(polls: &[Duration]) -> (f64, f64) {
    let max = polls.iter().max().copied().unwrap_or_default();
    let sum: Duration = polls.iter().sum();
    (
        max.as_secs_f64() * 1e3,
        sum.as_secs_f64() * 1e3 / polls.len().max(1) as f64,
    )
}

#[test]
fn a_stalled_sink_neither_stalls_draining_nor_loses_rows_silently() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::open(SinkConfig {
        root: dir.path().to_path_buf(),
        tap_id: "t".into(),
        ..SinkConfig::default()
    })
    .unwrap();
    let sink = SinkThread::spawn(
        sink,
        SinkThreadConfig {
            queue_messages: 16,
            queue_rows: 2_048,
            lossless: false,
            ..SinkThreadConfig::default()
        },
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (mut worker, link) = Worker::with_sketches(
        WorkerConfig {
            lossless: false,
            flows: FlowConfig {
                capacity: 16_384,
                udp_idle_ns: S,
                ..FlowConfig::default()
            },
            ..WorkerConfig::default()
        },
        Arc::new(SketchPlan::default()),
        stop,
    );
    let mut control = Control::new(
        vec![link],
        vec![WorkerSource {
            source: "synthetic".into(),
            mode: "test".into(),
        }],
        sink,
        config::Config::default().classifier(1).unwrap(),
    );
    let taken = Arc::new(AtomicU64::new(0));
    let produced = Arc::new(AtomicU64::new(0));
    let mut source = Paced {
        epoch: 0,
        taken: taken.clone(),
        produced: produced.clone(),
    };
    let worker = std::thread::spawn(move || {
        worker.run(&mut source);
    });

    let released = Arc::new(AtomicBool::new(false));
    let mut releaser = None;
    let (mut free_polls, mut stalled_polls) = (Vec::new(), Vec::new());
    while !control.all_finished() {
        let stalled = releaser.is_some() && !released.load(Ordering::SeqCst);
        let t = Instant::now();
        control.poll().unwrap();
        let took = t.elapsed();
        if stalled {
            stalled_polls.push(took);
        } else {
            free_polls.push(took);
        }
        let data_now = control.totals().data_now_ns;
        let epochs = data_now.saturating_sub(T0) / S;
        taken.store(epochs, Ordering::SeqCst);
        if releaser.is_none() && epochs >= STALL_FROM {
            // The disk stops answering: the sink thread waits before its
            // next write until the source has gone on for 70 epochs.
            let stall = control.sink().stall_for_test();
            let (produced, released) = (produced.clone(), released.clone());
            releaser = Some(std::thread::spawn(move || {
                stall.wait_until_stalled();
                while produced.load(Ordering::SeqCst) < STALL_UNTIL {
                    std::thread::sleep(Duration::from_millis(1));
                }
                released.store(true, Ordering::SeqCst);
                drop(stall);
            }));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    worker.join().unwrap();
    releaser.expect("the sink was stalled").join().unwrap();
    control.poll().unwrap();
    control.close().unwrap();

    let totals = control.totals().clone();
    let st = control.sink().stats();
    let flows = st.table(Flows::NAME).unwrap().clone();
    let capture = st.table(Capture::NAME).unwrap().clone();
    let (free_max, free_mean) = summary(&free_polls);
    let (stall_max, stall_mean) = summary(&stalled_polls);
    println!(
        "control poll, sink writing: {} polls, max {free_max:.3} ms, mean {free_mean:.3} ms",
        free_polls.len()
    );
    println!(
        "control poll, sink stalled: {} polls, max {stall_max:.3} ms, mean {stall_mean:.3} ms",
        stalled_polls.len()
    );
    println!(
        "flows: {} records, {} written, {} dropped; capture: {} written, {} dropped; \
         all tables: {} rows dropped, {} ticks skipped",
        totals.flows(),
        flows.rows,
        flows.rows_dropped,
        capture.rows,
        capture.rows_dropped,
        st.rows_dropped,
        st.ticks_dropped
    );

    // The rings were drained all along: nothing was refused or lost there.
    assert_eq!(totals.counters.summary_queue_full, 0);
    assert_eq!(totals.counters.records_dropped, 0);
    assert_eq!(totals.counters.activity_dropped, 0);
    assert_eq!(totals.flows(), EPOCHS * FLOWS_PER_EPOCH);
    assert!(!stalled_polls.is_empty(), "no poll ran while stalled");
    // The sink fell behind: rows were dropped, and every one is counted.
    assert!(flows.rows_dropped > 0, "the stall dropped nothing");
    assert_eq!(flows.rows + flows.rows_dropped, totals.flows());
    assert_eq!(capture.rows + capture.rows_dropped, EPOCHS);
    for t in &st.tables {
        assert_eq!((t.rows_lost, t.rows_pending), (0, 0), "{}", t.table);
    }
    assert_eq!(
        st.rows_dropped,
        st.tables.iter().map(|t| t.rows_dropped).sum::<u64>()
    );
    assert_eq!(control.sink().queued_rows(), 0);
    // The status says so.
    let status = control.status();
    assert_eq!(status.files.rows_dropped, st.rows_dropped);
}
