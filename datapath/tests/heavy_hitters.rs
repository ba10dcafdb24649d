//! Heavy-hitter accuracy on the shared captures: the top keys the
//! pipeline reports (workers → summaries → merged window) against exact
//! counts computed here, per key type, printed as a table
//! (`cargo test --release -p datapath --test heavy_hitters -- --nocapture`).
//!
//! Every shared capture is one window (one long epoch), replayed through
//! two workers split by the symmetric flow hash as the replay dispatcher
//! does, so keys are spread over workers and the merge is exercised; then
//! all captures as one window; then with a small sketch; then sampling
//! updates under 8 packets.
//! Precision: share of reported keys that belong to the true top k (keys
//! tied with the k-th count included). Recall: share of the true top k that
//! was reported. Also checked for every reported key: the estimate is never
//! below the exact count and exceeds it by at most the reported bound.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use datapath::flow::key::symmetric_hash;
use datapath::flow::{FlowConfig, FlowTable};
use datapath::parse::parse_frame;
use datapath::sketch::{
    CounterSpec, Increment, KeyType, SketchKey, SketchParams, SketchPlan, SketchState, Sketches,
};
use datapath::source::pcap::PcapSource;
use datapath::source::{Frame, FrameSource, Poll};
use datapath::wire::IpProtocol;
use datapath::worker::{ControlLink, Worker, WorkerConfig};

const TOP_K: usize = 10;

struct Ended;

impl FrameSource for Ended {
    fn poll_batch<F: FnMut(&Frame<'_>)>(&mut self, _: usize, _: F) -> Poll {
        Poll::End
    }
}

fn drain(link: &mut ControlLink, state: &mut SketchState) {
    while let Some(mut s) = link.pop() {
        if !s.partial {
            if let Some(sk) = s.sketch.as_deref_mut() {
                state.absorb(s.start_ns, s.end_ns, sk);
            }
        }
        link.give_back(s);
    }
}

/// Precision and recall of `reported` against exact counts.
fn score(reported: &[SketchKey], exact: &HashMap<SketchKey, u64>) -> (f64, f64) {
    let mut counts: Vec<u64> = exact.values().copied().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    let k = TOP_K.min(counts.len());
    if k == 0 {
        return (1.0, 1.0);
    }
    let kth = counts[k - 1];
    let hits = reported
        .iter()
        .filter(|key| exact.get(key).is_some_and(|&c| c >= kth))
        .count();
    (
        hits as f64 / reported.len().max(1) as f64,
        hits as f64 / k as f64,
    )
}

/// One accuracy run.
struct Run {
    label: &'static str,
    error: f64,
    confidence: f64,
    /// Sampling of updates under 2^shift packets (0: none, through workers).
    sample_shift: u32,
    /// All captures in one window, instead of one window per capture.
    one_window: bool,
    /// Required mean precision and recall (None: report only).
    require: Option<f64>,
}

fn captures() -> Vec<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/testdata/pcap"
    ));
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("shared captures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    names
}

/// Replays `path` through two workers split by flow hash (or, sampling,
/// through one set of sketches), merging into `state` and adding exact
/// counts into `exact`.
fn replay_capture(
    path: &Path,
    plan: &Arc<SketchPlan>,
    sample_shift: u32,
    state: &mut SketchState,
    exact: &mut [HashMap<SketchKey, u64>],
) {
    let Ok(mut src) = PcapSource::open(path) else {
        return;
    };
    let specs = &plan.counters;
    // A packet's key comes from its flow's endpoints (so a later IP
    // fragment counts under its flow's ports, as in `flows`): flow tables
    // of the test's own give them, one per worker (a fragment without
    // ports may reach another worker than its first fragment).
    let mut flows = [
        FlowTable::new(FlowConfig::default()),
        FlowTable::new(FlowConfig::default()),
    ];
    let mut last_ts = 0;
    let mut count = |m: &datapath::parse::PacketMeta, ts: u64, wire_len: u32| {
        last_ts = ts.max(last_ts);
        let flows = &mut flows[(symmetric_hash(m) % 2) as usize];
        let seen = flows.process(m, last_ts, &mut |_| {});
        let (r, _) = flows.flow_mut(seen.slot);
        let mut m = *m;
        let (cp, sp) = match m.protocol {
            IpProtocol::ICMP | IpProtocol::ICMPV6 => (0, 0),
            _ => (r.client_port, r.server_port),
        };
        if seen.c2s {
            (m.src_ip, m.dst_ip, m.src_port, m.dst_port) = (r.client_ip, r.server_ip, cp, sp);
        } else {
            (m.src_ip, m.dst_ip, m.src_port, m.dst_port) = (r.server_ip, r.client_ip, sp, cp);
        }
        let m = &m;
        for (j, spec) in specs.iter().enumerate() {
            let inc = match spec.increment {
                Increment::Bytes => wire_len as u64,
                Increment::Packets => 1,
            };
            *exact[j].entry(spec.key.key(m)).or_default() += inc;
        }
    };
    if sample_shift > 0 {
        let mut table = FlowTable::new(FlowConfig::default());
        let mut sk = Sketches::new(plan.clone());
        sk.set_sample_shift(sample_shift);
        let mut now = 0;
        while let Poll::Frames(_) = src.poll_batch(64, |f| {
            if let Ok(m) = parse_frame(f.link, f.data, f.wire_len) {
                count(&m, f.ts_ns, f.wire_len);
                now = f.ts_ns.max(now);
                let seen = table.process(&m, now, &mut |r| sk.add_flow_end(r));
                sk.probe_packet(&m, seen);
            }
        }) {}
        // As a worker does: each flow's packets of the epoch, one update
        // per direction.
        table.drain_activity(|a| sk.add_activity(a));
        table.flush(&mut |r| sk.add_flow_end(r));
        state.absorb(0, 1, &mut sk);
        return;
    }
    let cfg = WorkerConfig {
        // One epoch for the whole capture.
        epoch_ns: 1 << 62,
        ..WorkerConfig::default()
    };
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers: Vec<(Worker, ControlLink)> = (0..2u16)
        .map(|id| Worker::with_sketches(WorkerConfig { id, ..cfg }, plan.clone(), stop.clone()))
        .collect();
    while let Poll::Frames(_) = src.poll_batch(64, |f| {
        let w = match parse_frame(f.link, f.data, f.wire_len) {
            Ok(m) => {
                count(&m, f.ts_ns, f.wire_len);
                (symmetric_hash(&m) % 2) as usize
            }
            Err(_) => 0,
        };
        workers[w].0.on_frame(f);
    }) {
        for (_, link) in &mut workers {
            drain(link, state);
        }
    }
    for (w, link) in &mut workers {
        w.run(&mut Ended);
        drain(link, state);
    }
}

/// Scores one window: adds each counter's precision and recall to `sums`
/// and checks the bounds. Returns the estimates checked and those outside
/// their bound.
fn score_window(
    label: &str,
    plan: &SketchPlan,
    state: &SketchState,
    exact: &[HashMap<SketchKey, u64>],
    exact_bounds: bool,
    sums: &mut [(f64, f64, u32)],
) -> (u32, u32) {
    let reported = state.heavy_hitters(TOP_K, 2);
    let (mut checked, mut outside) = (0, 0);
    for (j, spec) in plan.counters.iter().enumerate() {
        if exact[j].is_empty() {
            continue;
        }
        let rows: Vec<_> = reported
            .iter()
            .filter(|h| h.counter.name == spec.name)
            .collect();
        for h in &rows {
            let truth = exact[j][&h.key];
            if exact_bounds {
                assert!(
                    h.estimate >= truth,
                    "{label} {}: under-estimate {:?} est {} truth {}",
                    spec.name,
                    h.key,
                    h.estimate,
                    truth
                );
            }
            checked += 1;
            if h.estimate.abs_diff(truth) > h.error_bound {
                outside += 1;
            }
            assert_eq!(h.total, exact[j].values().sum::<u64>());
        }
        let keys: Vec<SketchKey> = rows.iter().map(|h| h.key).collect();
        let (p, r) = score(&keys, &exact[j]);
        sums[j].0 += p;
        sums[j].1 += r;
        sums[j].2 += 1;
    }
    (checked, outside)
}

#[test]
fn heavy_hitters_on_the_shared_captures() {
    let names = captures();
    let specs: Vec<CounterSpec> = KeyType::ALL
        .iter()
        .flat_map(|&k| {
            [Increment::Bytes, Increment::Packets]
                .map(|inc| CounterSpec::new(&format!("{}_{}", k.name(), inc.name()), k, inc))
        })
        .collect();
    let runs = [
        Run {
            label: "defaults (error 0.001, confidence 0.99), a window per capture",
            error: 0.001,
            confidence: 0.99,
            sample_shift: 0,
            one_window: false,
            require: Some(0.98),
        },
        Run {
            label: "defaults, all captures in one window",
            error: 0.001,
            confidence: 0.99,
            sample_shift: 0,
            one_window: true,
            require: Some(0.95),
        },
        Run {
            label: "small sketch (error 0.02, confidence 0.9: 136 x 3), all captures in one window",
            error: 0.02,
            confidence: 0.9,
            sample_shift: 0,
            one_window: true,
            require: None,
        },
        Run {
            label: "defaults, updates under 8 packets sampled, all captures in one window",
            error: 0.001,
            confidence: 0.99,
            sample_shift: 3,
            one_window: true,
            require: None,
        },
    ];
    for run in &runs {
        let plan = Arc::new(SketchPlan {
            generation: 0,
            params: SketchParams {
                top_k: TOP_K,
                error: run.error,
                confidence: run.confidence,
                // Sampling only where the run sets it.
                sample_above_updates: 0,
                ..SketchParams::default()
            },
            counters: specs.clone(),
        });
        let mut sums: Vec<(f64, f64, u32)> = vec![(0.0, 0.0, 0); specs.len()];
        let mut state = SketchState::new(&plan.params);
        let mut exact: Vec<HashMap<SketchKey, u64>> = vec![HashMap::new(); specs.len()];
        let (mut checked, mut outside) = (0, 0);
        let mut scored = 0;
        for path in &names {
            replay_capture(path, &plan, run.sample_shift, &mut state, &mut exact);
            if !run.one_window {
                let exact_bounds = run.sample_shift == 0;
                let (c, o) =
                    score_window(run.label, &plan, &state, &exact, exact_bounds, &mut sums);
                checked += c;
                outside += o;
                scored += 1;
                state = SketchState::new(&plan.params);
                exact.iter_mut().for_each(|e| e.clear());
            }
        }
        if run.one_window {
            let (c, o) = score_window(
                run.label,
                &plan,
                &state,
                &exact,
                run.sample_shift == 0,
                &mut sums,
            );
            checked += c;
            outside += o;
            scored += 1;
        }
        println!();
        println!(
            "heavy hitters, top {TOP_K}, {} ({scored} windows):",
            run.label
        );
        println!("| key type | increment | precision | recall |");
        println!("|---|---|--:|--:|");
        for (j, spec) in specs.iter().enumerate() {
            let (p, r, n) = sums[j];
            let n = n.max(1) as f64;
            println!(
                "| {} | {} | {:.3} | {:.3} |",
                spec.key.name(),
                spec.increment.name(),
                p / n,
                r / n
            );
            if let Some(min) = run.require {
                assert!(
                    p / n >= min,
                    "{}: {}: precision {:.3}",
                    run.label,
                    spec.name,
                    p / n
                );
                assert!(
                    r / n >= min,
                    "{}: {}: recall {:.3}",
                    run.label,
                    spec.name,
                    r / n
                );
            }
        }
        println!("estimates farther from the truth than their error bound: {outside} of {checked}");
        // Each bound holds with the sketch's confidence (two terms when
        // sampled): allow twice the expected misses.
        let delta = 1.0 - run.confidence;
        let allowed = (2.0 * 2.0 * delta * checked as f64).ceil() as u32;
        assert!(
            outside <= allowed,
            "{}: {outside} of {checked} outside their bound",
            run.label
        );
    }
}
