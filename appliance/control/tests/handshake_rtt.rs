//! The status snapshot's TCP handshake times on shared captures: the
//! captures go through a worker and the control core as `tapscope replay`
//! does, and the snapshot's count, median, percentiles and largest time
//! match the `flows` table the same run wrote (each at most 0.1 % above the
//! exact value, the histogram's precision), and the median and largest
//! match tshark's initial RTT (`tcp.analysis.initial_rtt`, SYN to the ACK
//! completing the handshake) of the same capture.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, UInt32Type};
use control::control::{Control, WorkerSource};
use datapath::sketch::SketchPlan;
use datapath::source::pcap::PcapSource;
use datapath::worker::{Worker, WorkerConfig};
use model::status::RttDistribution;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sink::{Sink, SinkConfig};

fn capture(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/testdata/pcap")
        .join(name);
    assert!(
        p.is_file(),
        "{}: the shared captures must sit beside the repository",
        p.display()
    );
    p
}

/// Runs `pcap` through one worker and the control core; returns the
/// snapshot's handshake times and the output folder.
fn replay(pcap: &Path) -> (model::status::TcpRtt, tempfile::TempDir) {
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
        Arc::new(AtomicBool::new(false)),
    );
    let mut control = Control::new(
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
    let path = pcap.to_path_buf();
    let thread = std::thread::spawn(move || {
        let mut src = PcapSource::open(&path).unwrap();
        worker.run(&mut src);
    });
    while !control.all_finished() {
        control.poll().unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    thread.join().unwrap();
    control.poll().unwrap();
    let rtt = control.status().tcp_rtt;
    control.close().unwrap();
    (rtt, dir)
}

/// The handshake times (ms) of the `flows` rows that hold a handshake: the
/// client's SYN seen and both halves measured.
fn flows_handshakes(root: &Path) -> Vec<f64> {
    let mut files = Vec::new();
    for day in std::fs::read_dir(root.join("flows")).unwrap().flatten() {
        for f in std::fs::read_dir(day.path()).unwrap().flatten() {
            files.push(f.path());
        }
    }
    let batches: Vec<RecordBatch> = files
        .iter()
        .flat_map(|p| {
            ParquetRecordBatchReaderBuilder::try_new(File::open(p).unwrap())
                .unwrap()
                .build()
                .unwrap()
                .map(Result::unwrap)
        })
        .collect();
    let mut out = Vec::new();
    for b in &batches {
        let syn = b.column_by_name("tcp_rtt_syn_ms").unwrap();
        let ack = b.column_by_name("tcp_rtt_ack_ms").unwrap();
        let c2s_syn = b.column_by_name("c2s_syn").unwrap();
        let (syn, ack) = (
            syn.as_primitive::<Float64Type>(),
            ack.as_primitive::<Float64Type>(),
        );
        let c2s_syn = c2s_syn.as_primitive::<UInt32Type>();
        for r in 0..b.num_rows() {
            if syn.is_valid(r) && ack.is_valid(r) && c2s_syn.is_valid(r) && c2s_syn.value(r) > 0 {
                out.push(syn.value(r) + ack.value(r));
            }
        }
    }
    out.sort_by(f64::total_cmp);
    out
}

/// tshark's initial RTT of every TCP stream that has one, ms, sorted.
fn tshark_initial_rtts(pcap: &Path) -> Vec<f64> {
    let out = Command::new("tshark")
        .args(["-r"])
        .arg(pcap)
        .args([
            "-Y",
            "tcp.analysis.initial_rtt",
            "-T",
            "fields",
            "-e",
            "tcp.stream",
            "-e",
            "tcp.analysis.initial_rtt",
        ])
        .output()
        .expect("tshark is installed (scripts/deps)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut per_stream = std::collections::BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let mut f = line.split('\t');
        let (Some(stream), Some(irtt)) = (f.next(), f.next()) else {
            continue;
        };
        let s: u64 = stream.parse().unwrap();
        let v: f64 = irtt.parse().unwrap();
        per_stream.entry(s).or_insert(v * 1e3);
    }
    let mut v: Vec<f64> = per_stream.into_values().collect();
    v.sort_by(f64::total_cmp);
    v
}

/// The nearest-rank `q` quantile of sorted `v`.
fn nearest_rank(v: &[f64], q: f64) -> f64 {
    let rank = ((q * v.len() as f64).ceil() as usize).max(1);
    v[rank - 1]
}

/// `got` is `exact` or above it by at most the histogram's precision
/// (0.1 %) plus the microsecond the times are kept in.
fn within_precision(what: &str, got: Option<f64>, exact: f64) {
    let g = got.unwrap_or_else(|| panic!("{what}: no value"));
    assert!(
        g >= exact - 1e-9 && g <= exact * 1.001 + 0.001,
        "{what}: {g} ms, exact {exact} ms"
    );
}

fn check_against_flows(name: &str, d: &RttDistribution, flows: &[f64]) {
    assert_eq!(d.count, flows.len() as u64, "{name}: handshakes");
    within_precision(&format!("{name} p50"), d.p50_ms, nearest_rank(flows, 0.5));
    within_precision(&format!("{name} p90"), d.p90_ms, nearest_rank(flows, 0.9));
    within_precision(&format!("{name} p99"), d.p99_ms, nearest_rank(flows, 0.99));
    within_precision(&format!("{name} max"), d.max_ms, flows[flows.len() - 1]);
    let sum: f64 = flows.iter().sum();
    assert!(
        (d.sum_ms - sum).abs() < 1e-6 * sum.max(1.0),
        "{name}: sum {} vs {sum}",
        d.sum_ms
    );
    let le_10 = d.buckets.iter().find(|b| b.le_ms == 10.0).unwrap().count;
    assert_eq!(le_10, flows.iter().filter(|&&v| v <= 10.0).count() as u64);
}

#[test]
fn status_handshake_times_match_the_flows_and_tshark() {
    for name in ["netflix.pcap", "teams.pcap", "reddit.pcap"] {
        let pcap = capture(name);
        let (rtt, dir) = replay(&pcap);
        let flows = flows_handshakes(dir.path());
        assert!(flows.len() >= 30, "{name}: {} handshakes", flows.len());
        check_against_flows(name, &rtt.handshake, &flows);
        // Every handshake of these captures ended within the last minute
        // of their packet time.
        assert!(rtt.recent.count > 0 && rtt.recent.count <= rtt.handshake.count);
        assert!(rtt.server_side.count >= rtt.handshake.count);
        assert!(rtt.client_side.count >= rtt.handshake.count);

        let truth = tshark_initial_rtts(&pcap);
        within_precision(
            &format!("{name} p50 vs tshark"),
            rtt.handshake.p50_ms,
            nearest_rank(&truth, 0.5),
        );
        within_precision(
            &format!("{name} max vs tshark"),
            rtt.handshake.max_ms,
            truth[truth.len() - 1],
        );
    }
}
