//! Counters change at run time without stopping the worker: the control
//! core sends the new set, the worker switches at its next epoch boundary,
//! and the `heavy_hitters` table shows the old counters up to the change
//! and only the new ones after it. Also: the sketch tables of a run read
//! back, and the binary window states merge.

mod common;

use common::udp_frame;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{TimestampMicrosecondType, UInt64Type};
use control::control::{Control, WorkerSource};
use datapath::parse::LinkType;
use datapath::sketch::{merge_encoded, CounterSpec, Increment, KeyType, SketchPlan, SketchState};
use datapath::source::{Frame, FrameSource, Poll};
use datapath::worker::{Worker, WorkerConfig};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sink::{Sink, SinkConfig, SinkThread, SinkThreadConfig};

const S: u64 = 1_000_000_000;
/// 2024-05-01T00:00:00Z.
const T0: u64 = 1_714_521_600 * S;

/// A source that has nothing more: `run` ends every flow and hands over
/// the last summary.
struct Ended;

impl FrameSource for Ended {
    fn poll_batch<F: FnMut(&Frame<'_>)>(&mut self, _: usize, _: F) -> Poll {
        Poll::End
    }
}

fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for day in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(day.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if f.path().extension().is_some_and(|x| x == "parquet") {
                out.push(f.path());
            }
        }
    }
    out.sort();
    out
}

fn read_all(dir: &Path) -> Vec<RecordBatch> {
    parquet_files(dir)
        .into_iter()
        .flat_map(|p| {
            ParquetRecordBatchReaderBuilder::try_new(File::open(p).unwrap())
                .unwrap()
                .build()
                .unwrap()
                .map(|b| b.unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn counters_change_at_run_time_without_stopping_the_worker() {
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
            lossless: true,
            ..SinkThreadConfig::default()
        },
    )
    .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let (mut worker, link) = Worker::with_sketches(
        WorkerConfig::default(),
        Arc::new(SketchPlan::default()),
        stop,
    );
    let mut control = Control::new(
        vec![link],
        vec![WorkerSource {
            source: "test".into(),
            mode: "test".into(),
        }],
        sink,
        config::Config::default().classifier(1).unwrap(),
    );
    assert_eq!(control.counters(), CounterSpec::defaults());
    let frames = [
        udp_frame([10, 0, 0, 1], [10, 0, 0, 2], 5000, 53, 100),
        udp_frame([10, 0, 0, 2], [10, 0, 0, 1], 53, 5000, 300),
        udp_frame([10, 0, 0, 3], [10, 0, 0, 2], 6000, 123, 40),
    ];
    let pairs = vec![CounterSpec::new(
        "pairs",
        KeyType::SrcDst,
        Increment::Packets,
    )];
    for sec in 0..6u64 {
        if sec == 3 {
            // Between the last packet of second 2 and the first of second
            // 3: the worker switches when that packet closes epoch 2.
            assert_eq!(control.set_counters(pairs.clone()).unwrap(), 1);
            assert_eq!(control.counters(), pairs);
        }
        for i in 0..60u64 {
            let f = &frames[(i % 3) as usize];
            worker.on_frame(&Frame {
                data: f,
                wire_len: f.len() as u32,
                ts_ns: T0 + sec * S + i * 1_000_000,
                link: LinkType::Ethernet,
            });
        }
        control.poll().unwrap();
    }
    worker.run(&mut Ended);
    control.poll().unwrap();
    control.close().unwrap();
    assert_eq!(control.totals().sketch.windows, 6);
    assert_eq!(control.totals().sketch.late, 0);

    // Counters per window.
    let mut by_window: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    let mut pair_estimates = Vec::new();
    for b in read_all(&dir.path().join("heavy_hitters")) {
        let start = b
            .column_by_name("window_start")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        let counter = b.column_by_name("counter").unwrap().as_string::<i32>();
        let key = b.column_by_name("key").unwrap().as_string::<i32>();
        let est = b
            .column_by_name("estimate")
            .unwrap()
            .as_primitive::<UInt64Type>();
        for r in 0..b.num_rows() {
            let sec = (start.value(r) - (T0 / 1000) as i64) / 1_000_000;
            by_window
                .entry(sec)
                .or_default()
                .insert(counter.value(r).to_string());
            if counter.value(r) == "pairs" && key.value(r) == "10.0.0.1 > 10.0.0.2" {
                pair_estimates.push(est.value(r));
            }
        }
    }
    let old: BTreeSet<String> = CounterSpec::defaults()
        .into_iter()
        .map(|c| c.name)
        .collect();
    let new: BTreeSet<String> = ["pairs".to_string()].into();
    let expect: BTreeMap<i64, BTreeSet<String>> = (0..6)
        .map(|s| (s, if s < 3 { old.clone() } else { new.clone() }))
        .collect();
    assert_eq!(by_window, expect);
    assert_eq!(pair_estimates, vec![20, 20, 20]);

    // One state per window; all six merge into one spanning them, with
    // the counters of both sets.
    let states: Vec<Vec<u8>> = read_all(&dir.path().join("sketch_state"))
        .iter()
        .flat_map(|b| {
            let col = b
                .column_by_name("state")
                .unwrap()
                .as_binary::<i32>()
                .clone();
            (0..col.len())
                .map(|i| col.value(i).to_vec())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(states.len(), 6);
    let merged = states
        .iter()
        .skip(1)
        .fold(states[0].clone(), |acc, s| merge_encoded(&acc, s).unwrap());
    let m = SketchState::decode(&merged).unwrap();
    assert_eq!((m.start_ns, m.end_ns), (T0, T0 + 6 * S));
    assert_eq!(m.snapshots, 6);
    let names: BTreeSet<String> = m.counters.iter().map(|c| c.spec.name.clone()).collect();
    assert_eq!(names, old.union(&new).cloned().collect());
    let src_bytes = m
        .counters
        .iter()
        .find(|c| c.spec.name == "src_bytes")
        .unwrap();
    // Three seconds of 20 frames of each of the three sizes.
    let sizes: u64 = frames.iter().map(|f| f.len() as u64).sum();
    assert_eq!(src_bytes.total, 3 * 20 * sizes);
    // Flow sizes: the two UDP flows (a DNS exchange and an NTP one),
    // ended at the end of the run.
    let f = m.flow_sizes.as_ref().unwrap();
    assert_eq!(f.records, 2);
    assert_eq!(f.packets.total_flows(), 2);
}
