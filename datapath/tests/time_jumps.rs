//! Wild timestamps through the worker, the replay file chain and the
//! dispatcher: the frames of a shared capture (dazn.pcapng) with some
//! timestamps thrown centuries away, or shifted by a clock step, or split
//! into two files months apart. Every epoch handed over lies in the
//! capture's real days, every frame is counted once, the wild ones in
//! `bad_timestamp`, and a step forward that persists (or a new file) moves
//! time without costing a packet.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use datapath::epoch::{CaptureCounters, FlowRecord};
use datapath::parse::LinkType;
use datapath::source::pcap::PcapSource;
use datapath::source::replay::{Dispatcher, FileChain, ReplayProgress};
use datapath::source::{Frame, FrameSource, Poll};
use datapath::timeguard::{TimeGuardConfig, STEP_CONFIRM};
use datapath::worker::{ControlLink, Worker, WorkerConfig};

const S: u64 = 1_000_000_000;
const DAY: u64 = 86_400 * S;

/// One frame of the capture, owned.
#[derive(Clone)]
struct Owned {
    data: Vec<u8>,
    wire_len: u32,
    ts_ns: u64,
    link: LinkType,
}

fn dazn() -> Vec<Owned> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/pcap/dazn.pcapng");
    assert!(
        path.is_file(),
        "{}: the shared captures must sit beside the repository",
        path.display()
    );
    let mut src = PcapSource::open(&path).unwrap();
    let mut out = Vec::new();
    while let Poll::Frames(_) = src.poll_batch(64, |f| {
        out.push(Owned {
            data: f.data.to_vec(),
            wire_len: f.wire_len,
            ts_ns: f.ts_ns,
            link: f.link,
        })
    }) {}
    assert_eq!(out.len(), 12);
    out
}

/// Frames from memory.
struct VecSource {
    frames: Vec<Owned>,
    next: usize,
}

impl FrameSource for VecSource {
    fn poll_batch<F: FnMut(&Frame<'_>)>(&mut self, max: usize, mut f: F) -> Poll {
        let end = (self.next + max).min(self.frames.len());
        if self.next == end {
            return Poll::End;
        }
        for o in &self.frames[self.next..end] {
            f(&Frame {
                data: &o.data,
                wire_len: o.wire_len,
                ts_ns: o.ts_ns,
                link: o.link,
            });
        }
        let n = end - self.next;
        self.next = end;
        Poll::Frames(n)
    }
}

/// What the control core got from the workers.
#[derive(Default)]
struct Seen {
    /// (start, end) of every full summary.
    epochs: Vec<(u64, u64)>,
    counters: CaptureCounters,
    flows: Vec<FlowRecord>,
}

impl Seen {
    fn take(&mut self, link: &mut ControlLink) -> bool {
        let mut last = false;
        while let Some(s) = link.pop() {
            self.flows.extend_from_slice(&s.flows);
            if !s.partial {
                self.epochs.push((s.start_ns, s.end_ns));
                self.counters.absorb(&s.counters);
            }
            last |= s.last;
            link.give_back(s);
        }
        last
    }

    /// Every epoch, and every flow's first and last packet, lie in one of
    /// `days` (Unix ns of each day's start).
    fn assert_within(&self, days: &[u64]) {
        let day_of = |t: u64| t - t % DAY;
        for &(start, end) in &self.epochs {
            assert!(
                start < end && days.contains(&day_of(start)) && days.contains(&day_of(end - 1)),
                "epoch [{start}, {end}) outside the capture's days"
            );
        }
        for f in &self.flows {
            assert!(
                days.contains(&day_of(f.first_ns)) && days.contains(&day_of(f.last_ns)),
                "flow {}..{} outside the capture's days",
                f.first_ns,
                f.last_ns
            );
        }
    }

    fn flow_packets(&self) -> u64 {
        self.flows
            .iter()
            .map(|f| f.c2s.packets + f.s2c.packets)
            .sum()
    }
}

fn config(time: TimeGuardConfig) -> WorkerConfig {
    WorkerConfig {
        lossless: true,
        time,
        ..WorkerConfig::default()
    }
}

/// Runs one worker over `src` on a thread, draining its summaries here.
fn run_one<S: FrameSource + Send + 'static>(cfg: WorkerConfig, mut src: S) -> Seen {
    let (mut worker, mut link) = Worker::new(cfg, Arc::new(AtomicBool::new(false)));
    let t = std::thread::spawn(move || {
        worker.run(&mut src);
    });
    let mut seen = Seen::default();
    while !seen.take(&mut link) {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    t.join().unwrap();
    seen
}

fn day_of(t: u64) -> u64 {
    t - t % DAY
}

#[test]
fn wild_timestamps_are_counted_and_do_not_move_time() {
    let mut frames = dazn();
    let day = day_of(frames[0].ts_ns);
    frames[3].ts_ns = u64::MAX - 5; // year 2554
    frames[6].ts_ns = S; // 1970
    let seen = run_one(
        config(TimeGuardConfig::default()),
        VecSource { frames, next: 0 },
    );
    let c = &seen.counters;
    assert_eq!(c.packets, 12);
    assert_eq!(c.bad_timestamp, 2);
    assert_eq!(c.ip_packets + c.parse_errors_total(), 12);
    assert_eq!(
        seen.flow_packets(),
        c.ip_packets,
        "the wild frames stay in their flows"
    );
    seen.assert_within(&[day]);
}

#[test]
fn a_wild_first_timestamp_past_the_ceiling_does_not_anchor_time() {
    let mut frames = dazn();
    let day = day_of(frames[1].ts_ns);
    frames[0].ts_ns = u64::MAX - 5;
    let cfg = TimeGuardConfig::default().with_ceiling_from(frames[11].ts_ns);
    let seen = run_one(config(cfg), VecSource { frames, next: 0 });
    assert_eq!(seen.counters.packets, 12);
    assert_eq!(seen.counters.bad_timestamp, 1);
    seen.assert_within(&[day]);
}

/// The capture's frames looped: `n` frames a second apart from its first
/// time, those from index `from` on shifted by `shift`, and the one at
/// `wild` (if any) thrown to year 2554.
fn looped(n: u64, from: u64, shift: u64, wild: Option<u64>) -> Vec<Owned> {
    let base = dazn();
    (0..n)
        .map(|i| {
            let mut f = base[(i % 12) as usize].clone();
            f.ts_ns = base[0].ts_ns + i * S + if i >= from { shift } else { 0 };
            if wild == Some(i) {
                f.ts_ns = u64::MAX - 5;
            }
            f
        })
        .collect()
}

#[test]
fn a_clock_step_forward_that_persists_is_accepted_at_no_cost() {
    // 48 frames a second apart, then 48 more 400 days later, one of them
    // wild inside the confirming run (past the ceiling, as in replay).
    let frames = looped(96, 48, 400 * DAY, Some(52));
    let (t0, t_end) = (frames[0].ts_ns, frames[95].ts_ns);
    let seen = run_one(
        config(TimeGuardConfig::default().with_ceiling_from(t_end)),
        VecSource { frames, next: 0 },
    );
    assert_eq!(seen.counters.packets, 96);
    assert_eq!(seen.counters.bad_timestamp, 1, "only the wild one");
    assert_eq!(seen.flow_packets(), seen.counters.ip_packets);
    let days = [day_of(t0), day_of(t_end)];
    seen.assert_within(&days);
    // Every frame of the new day is accounted there (the held run too).
    let new_day = seen
        .epochs
        .iter()
        .filter(|&&(s, _)| day_of(s) == days[1])
        .count();
    assert_eq!(
        new_day, 47,
        "one epoch per second of the new day but the wild one's"
    );
}

#[test]
fn a_short_run_far_ahead_is_bad_in_the_middle_and_at_the_end() {
    let k = u64::from(STEP_CONFIRM);
    // 20 frames, k - 1 frames 400 days ahead, 20 more back on time, then
    // k - 1 ahead again to the end.
    let mut frames = looped(20 + (k - 1) + 20 + (k - 1), 20, 400 * DAY, None);
    let back = (20 + (k - 1)) as usize;
    for f in &mut frames[back..back + 20] {
        f.ts_ns -= 400 * DAY;
    }
    let day = day_of(frames[0].ts_ns);
    let n = frames.len() as u64;
    let seen = run_one(
        config(TimeGuardConfig::default()),
        VecSource { frames, next: 0 },
    );
    assert_eq!(seen.counters.packets, n);
    assert_eq!(seen.counters.bad_timestamp, 2 * (k - 1));
    assert_eq!(seen.flow_packets(), seen.counters.ip_packets);
    seen.assert_within(&[day]);
}

/// A classic pcap (ns resolution) of `frames`.
fn write_pcap(path: &Path, frames: &[Owned]) {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&65_535u32.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    for f in frames {
        b.extend_from_slice(&((f.ts_ns / S) as u32).to_le_bytes());
        b.extend_from_slice(&((f.ts_ns % S) as u32).to_le_bytes());
        b.extend_from_slice(&(f.data.len() as u32).to_le_bytes());
        b.extend_from_slice(&f.wire_len.to_le_bytes());
        b.extend_from_slice(&f.data);
    }
    std::fs::write(path, b).unwrap();
}

/// Two files of the capture, the second 300 days after the first.
fn two_files(tag: &str) -> (Vec<PathBuf>, [u64; 2]) {
    let base = dazn();
    let later: Vec<Owned> = base
        .iter()
        .map(|f| Owned {
            ts_ns: f.ts_ns + 300 * DAY,
            ..f.clone()
        })
        .collect();
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    let a = dir.join(format!("tapscope-time-jumps-{pid}-{tag}-a.pcap"));
    let b = dir.join(format!("tapscope-time-jumps-{pid}-{tag}-b.pcap"));
    write_pcap(&a, &base);
    write_pcap(&b, &later);
    let days = [day_of(base[0].ts_ns), day_of(later[0].ts_ns)];
    (vec![a, b], days)
}

#[test]
fn the_next_file_of_a_replay_may_start_months_later() {
    let (paths, days) = two_files("one");
    let chain = FileChain::open(paths.clone(), Arc::new(ReplayProgress::default())).unwrap();
    let seen = run_one(config(TimeGuardConfig::default()), chain);
    for p in &paths {
        let _ = std::fs::remove_file(p);
    }
    assert_eq!(seen.counters.packets, 24);
    assert_eq!(
        seen.counters.bad_timestamp, 0,
        "a new file is no bad timestamp"
    );
    seen.assert_within(&days);
    assert!(seen.epochs.iter().any(|&(s, _)| day_of(s) == days[1]));
}

#[test]
fn the_dispatcher_passes_a_new_file_on_to_every_worker() {
    let (paths, days) = two_files("two");
    let chain = FileChain::open(paths.clone(), Arc::new(ReplayProgress::default())).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (mut d, rings) = Dispatcher::new(chain, 2, TimeGuardConfig::default());
    let d_stop = stop.clone();
    let dispatcher = std::thread::spawn(move || d.run(&d_stop));
    let mut links = Vec::new();
    let mut threads = Vec::new();
    for (i, mut ring) in rings.into_iter().enumerate() {
        let (mut w, link) = Worker::new(
            WorkerConfig {
                id: i as u16,
                ..config(TimeGuardConfig::default())
            },
            stop.clone(),
        );
        links.push(link);
        threads.push(std::thread::spawn(move || {
            w.run(&mut ring);
        }));
    }
    let mut seen = Seen::default();
    let mut done = [false, false];
    while !done.iter().all(|&d| d) {
        for (i, link) in links.iter_mut().enumerate() {
            done[i] |= seen.take(link);
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    dispatcher.join().unwrap();
    for t in threads {
        t.join().unwrap();
    }
    for p in &paths {
        let _ = std::fs::remove_file(p);
    }
    assert_eq!(seen.counters.packets, 24);
    assert_eq!(seen.counters.bad_timestamp, 0);
    seen.assert_within(&days);
}
