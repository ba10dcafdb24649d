//! The control core never waits forever for a worker: one whose thread
//! dies (a panic) without its last summary is noticed once its ring is
//! drained, and one that does not come back after a stop is given up on
//! after `pipeline::STOP_GRACE`. Either way it is counted in
//! `workers_lost`, the run ends and the files written are complete.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use control::control::{Control, WorkerSource};
use control::pipeline::{control_loop, Until};
use datapath::parse::LinkType;
use datapath::sketch::SketchPlan;
use datapath::source::{Frame, FrameSource, Poll};
use datapath::worker::{Worker, WorkerConfig};
use sink::{Sink, SinkConfig};

const T0: u64 = 1_700_000_000_000_000_000;

/// Delivers `frames` one-packet UDP flows a millisecond apart, then either
/// panics (`then_panic`) or blocks until `release` is raised (without
/// looking at any stop flag).
struct Misbehaving {
    frame: Vec<u8>,
    sent: u64,
    frames: u64,
    then_panic: bool,
    release: Arc<AtomicBool>,
}

impl FrameSource for Misbehaving {
    fn poll_batch<F: FnMut(&Frame<'_>)>(&mut self, _max: usize, mut f: F) -> Poll {
        if self.sent < self.frames {
            f(&Frame {
                data: &self.frame,
                wire_len: self.frame.len() as u32,
                ts_ns: T0 + self.sent * 1_000_000,
                link: LinkType::Ethernet,
            });
            self.sent += 1;
            return Poll::Frames(1);
        }
        if self.then_panic {
            panic!("a worker's source fails (test)");
        }
        while !self.release.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        Poll::End
    }
}

/// A control core over one worker reading `src` on its own thread.
fn start(
    src: Misbehaving,
    stop: Arc<AtomicBool>,
) -> (Control, std::thread::JoinHandle<()>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let sink = Sink::open(SinkConfig {
        root: dir.path().to_path_buf(),
        tap_id: "t".into(),
        ..SinkConfig::default()
    })
    .unwrap();
    let (mut worker, link) = Worker::with_sketches(
        WorkerConfig {
            lossless: true,
            ..WorkerConfig::default()
        },
        Arc::new(SketchPlan::default()),
        stop,
    );
    let control = Control::new(
        vec![link],
        vec![WorkerSource {
            source: "test".into(),
            mode: "pcap".into(),
        }],
        sink::SinkThread::spawn(
            sink,
            sink::SinkThreadConfig {
                lossless: true,
                ..Default::default()
            },
        )
        .unwrap(),
        config::Config::default().classifier(1).unwrap(),
    );
    let mut src = src;
    let thread = std::thread::spawn(move || {
        worker.run(&mut src);
    });
    (control, thread, dir)
}

fn source(then_panic: bool, release: Arc<AtomicBool>) -> Misbehaving {
    Misbehaving {
        frame: common::udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 5000, 53, 20),
        sent: 0,
        // Three epochs' worth.
        frames: 2_500,
        then_panic,
        release,
    }
}

/// Complete files of `table` under `root` (none left in progress).
fn complete_files(root: &std::path::Path, table: &str) -> usize {
    let mut n = 0;
    for day in std::fs::read_dir(root.join(table)).unwrap().flatten() {
        n += std::fs::read_dir(day.path()).unwrap().count();
    }
    let leftovers = std::fs::read_dir(root.join(".inprogress").join(table))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(leftovers, 0, "{table}: a file left in progress");
    n
}

#[test]
fn a_worker_that_dies_does_not_hold_the_control_core() {
    let stop = Arc::new(AtomicBool::new(false));
    let (mut control, thread, dir) = start(source(true, Arc::default()), stop);
    // Bounded: a control core that waits for the dead worker fails here
    // instead of hanging the test.
    let mut polls = 0;
    while !control.all_finished() {
        control.poll().unwrap();
        polls += 1;
        assert!(
            polls < 30_000,
            "the control core still waits for a dead worker"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(thread.join().is_err(), "the worker panicked");
    control.poll().unwrap();
    assert_eq!(control.totals().workers_lost, 1);
    let handed = control.totals().counters.packets;
    assert!(
        handed > 0 && handed < 2_500,
        "the epochs before the panic: {handed}"
    );
    control.close().unwrap();
    assert!(complete_files(dir.path(), "capture") > 0);
}

#[test]
fn a_stop_gives_up_on_a_stuck_worker_after_the_grace() {
    let stop = Arc::new(AtomicBool::new(false));
    let release = Arc::new(AtomicBool::new(false));
    let (mut control, thread, dir) = start(source(false, release.clone()), stop.clone());
    // Let the worker reach its blocking poll (its first epochs handed
    // over), then stop at once.
    let mut polls = 0;
    while control.totals().counters.packets == 0 {
        control.poll().unwrap();
        polls += 1;
        assert!(polls < 30_000, "the worker never handed over an epoch");
        std::thread::sleep(Duration::from_millis(1));
    }
    // On a thread of its own, so that a loop that never gives up fails
    // the test instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    let loop_stop = stop.clone();
    std::thread::spawn(move || {
        let r = control_loop(
            &mut control,
            &loop_stop,
            Until::Stopped(Some(Instant::now())),
            Duration::from_secs(60),
            control::pipeline::Servers::default(),
            control::signals::Signals::from_now(),
            |_| {},
        );
        let _ = tx.send((r.map_err(|e| e.to_string()), control));
    });
    let (r, mut control) = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the control loop still waits for the stuck worker");
    assert!(!r.unwrap(), "no signal, the deadline stopped it");
    assert!(stop.load(Ordering::SeqCst));
    assert!(control.all_finished());
    assert_eq!(control.totals().workers_lost, 1);
    control.close().unwrap();
    assert!(complete_files(dir.path(), "capture") > 0);
    release.store(true, Ordering::SeqCst);
    thread.join().unwrap();
}
