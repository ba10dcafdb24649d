//! Tests of the sink: files, rotation, partitions, retention, lock.

use super::*;
use crate::files::file_time_range;
use crate::table::TableInfo;
use crate::tables::{Capture, Flows};
use arrow::record_batch::RecordBatch;
use datapath::epoch::FlowRecord;
use model::rows::{CaptureRow, FlowRow};

fn rows_of(recs: impl IntoIterator<Item = FlowRecord>) -> Vec<FlowRow> {
    recs.into_iter().map(FlowRow::from).collect()
}
use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type, TimeUnit, TimestampMicrosecondType, UInt16Type};
use datapath::epoch::{CaptureCounters, DirCounters, EndReason, TcpDirStats};
use datapath::parse::Tunnel;
use datapath::wire::IpProtocol;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use std::fs;

const SEC: u64 = 1_000_000_000;
/// 2024-05-01T00:00:00Z.
const D0: u64 = 1_714_521_600 * SEC;
const DAY: u64 = 86_400 * SEC;

fn cfg(root: &Path) -> SinkConfig {
    SinkConfig {
        root: root.to_path_buf(),
        tap_id: "tap-test".into(),
        rotate_secs: 300,
        rotate_bytes: 128 << 20,
        quota_bytes: 0,
        row_group_rows: 1000,
    }
}

fn v4(a: [u8; 4]) -> [u8; 16] {
    std::net::Ipv4Addr::from(a).to_ipv6_mapped().octets()
}

fn flow(end_ns: u64) -> FlowRecord {
    FlowRecord {
        first_ns: end_ns - 2 * SEC,
        last_ns: end_ns,
        end_reason: EndReason::Fin,
        worker: 1,
        ip_version: 4,
        protocol: IpProtocol::TCP,
        client_mac: [2, 0, 0, 0, 0, 1],
        server_mac: [2, 0, 0, 0, 0, 2],
        client_ip: v4([10, 1, 2, 3]),
        server_ip: v4([93, 184, 216, 34]),
        client_port: 40000,
        server_port: 443,
        c2s: DirCounters {
            packets: 5,
            bytes: 600,
            payload_bytes: 300,
        },
        s2c: DirCounters {
            packets: 4,
            bytes: 4000,
            payload_bytes: 3800,
        },
        tcp_c2s: TcpDirStats {
            syn: 1,
            fin: 1,
            mss: 1460,
            wscale: 7,
            ..Default::default()
        },
        tcp_s2c: TcpDirStats {
            syn: 1,
            fin: 1,
            ..Default::default()
        },
        rtt_syn_synack_ns: 20_000_000,
        rtt_synack_ack_ns: 1_500_000,
        ..Default::default()
    }
}

fn capture_row(worker: u16, end_ns: u64) -> CaptureRow {
    let mut counters = CaptureCounters {
        packets: 1000,
        bytes: 640_000,
        ip_packets: 990,
        busy_polls: 1,
        idle_polls: 3,
        ..Default::default()
    };
    counters.parse_errors[16] = 10;
    CaptureRow {
        worker,
        source: "pcap:test.pcap".into(),
        capture_mode: "pcap".into(),
        start_ns: end_ns - SEC,
        end_ns,
        counters,
        nic: None,
    }
}

/// Every `.parquet` file under `dir`, sorted.
fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

fn read(path: &Path) -> RecordBatch {
    let file = File::open(path).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

fn rows_in(dir: &Path) -> usize {
    parquet_files(dir).iter().map(|p| read(p).num_rows()).sum()
}

#[test]
fn writes_readable_tables() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut sink = Sink::open(cfg(root)).unwrap();
    let t = D0 + 3_600 * SEC + 123_456_789;
    let tcp = flow(t);
    let mut ip6 = [0u8; 16];
    ip6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    ip6[15] = 0x53;
    let mut ip6c = ip6;
    ip6c[15] = 0x10;
    ip6c[8] = 0xab;
    let udp = FlowRecord {
        first_ns: t,
        last_ns: t,
        end_reason: EndReason::Idle,
        worker: 0,
        vlan: 100,
        tunnel: Tunnel::SixInFour,
        ip_version: 6,
        protocol: IpProtocol::UDP,
        client_ip: ip6c,
        server_ip: ip6,
        client_port: 5353,
        server_port: 53,
        c2s: DirCounters {
            packets: 1,
            bytes: 90,
            payload_bytes: 40,
        },
        ..Default::default()
    };
    let icmp = FlowRecord {
        first_ns: t,
        last_ns: t,
        ip_version: 4,
        protocol: IpProtocol::ICMP,
        client_ip: v4([192, 0, 2, 1]),
        server_ip: v4([192, 0, 2, 255]),
        end_reason: EndReason::EndOfCapture,
        ..Default::default()
    };
    sink.write::<Flows>(&rows_of([tcp, udp, icmp])).unwrap();
    sink.write::<Flows>(&[]).unwrap();
    sink.write::<Capture>(&[capture_row(0, t), capture_row(1, t)])
        .unwrap();
    sink.write::<Capture>(&[capture_row(0, t + SEC)]).unwrap();
    sink.close().unwrap();

    let st = sink.stats();
    assert_eq!(st.files_written, 2);
    assert_eq!(st.table(Flows::NAME).unwrap().rows, 3);
    assert_eq!(st.table(Capture::NAME).unwrap().rows, 3);
    assert_eq!(st.write_errors, 0);
    assert_eq!(st.recent_files.len(), 2);
    assert!(st.bytes_written > 0);

    let flows = parquet_files(&root.join("flows"));
    assert_eq!(flows.len(), 1);
    let name = flows[0].file_name().unwrap().to_str().unwrap();
    assert!(
        flows[0]
            .parent()
            .unwrap()
            .ends_with("flows/date=2024-05-01"),
        "{flows:?}"
    );
    assert!(
        name.starts_with("flows-tap-test-20240501T010000Z-") && name.ends_with("-000001.parquet"),
        "{name}"
    );
    assert!(name.contains(sink.run_id()));
    let b = read(&flows[0]);
    assert_eq!(b.num_rows(), 3);
    let schema = b.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let doc_names: Vec<String> = TableInfo::of::<Flows>()
        .column_docs()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(names, doc_names);
    assert_eq!(
        schema.field_with_name("flow_end").unwrap().data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    );
    assert_eq!(
        schema.field_with_name("worker").unwrap().data_type(),
        &DataType::UInt16
    );
    let s = |n: &str| b.column_by_name(n).unwrap().as_string::<i32>().clone();
    assert_eq!(s("tap_id").value(0), "tap-test");
    assert_eq!(s("client_ip").value(0), "10.1.2.3");
    assert_eq!(s("server_ip").value(0), "93.184.216.34");
    assert_eq!(s("client_ip").value(1), "2001:db8::ab00:0:0:10");
    assert_eq!(s("server_ip").value(1), "2001:db8::53");
    assert_eq!(s("client_mac").value(0), "02:00:00:00:00:01");
    assert!(s("client_mac").is_null(1));
    assert_eq!(s("end_reason").value(2), "end_of_capture");
    assert_eq!(s("tunnel").value(1), "6in4");
    assert!(s("tunnel").is_null(0));
    let end = b
        .column_by_name("flow_end")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    assert_eq!(end.value(0), (t / 1_000) as i64);
    let start = b
        .column_by_name("flow_start")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    assert_eq!(start.value(0), ((t - 2 * SEC) / 1_000) as i64);
    let vlan = b
        .column_by_name("vlan")
        .unwrap()
        .as_primitive::<UInt16Type>();
    assert!(vlan.is_null(0));
    assert_eq!(vlan.value(1), 100);
    let port = b
        .column_by_name("client_port")
        .unwrap()
        .as_primitive::<UInt16Type>();
    assert_eq!(port.value(0), 40000);
    assert!(port.is_null(2), "ICMP has no ports");
    let rtt = b
        .column_by_name("tcp_rtt_syn_ms")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert!((rtt.value(0) - 20.0).abs() < 1e-9);
    assert!(rtt.is_null(1) && rtt.is_null(2));
    let mss = b
        .column_by_name("c2s_mss")
        .unwrap()
        .as_primitive::<UInt16Type>();
    assert_eq!(mss.value(0), 1460);
    assert!(b.column_by_name("s2c_mss").unwrap().is_null(0));
    assert!(b.column_by_name("s2c_wscale").unwrap().is_null(0));
    assert!(b.column_by_name("c2s_retrans_packets").unwrap().is_null(1));
    assert!(!b.column_by_name("c2s_retrans_packets").unwrap().is_null(0));

    let cap = parquet_files(&root.join("capture"));
    assert_eq!(cap.len(), 1);
    let c = read(&cap[0]);
    assert_eq!(c.num_rows(), 3);
    let cap_names: Vec<String> = c
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let doc_names: Vec<String> = TableInfo::of::<Capture>()
        .column_docs()
        .into_iter()
        .map(|d| d.name)
        .collect();
    assert_eq!(cap_names, doc_names);
    let u = |n: &str| {
        c.column_by_name(n)
            .unwrap()
            .as_primitive::<arrow::datatypes::UInt64Type>()
            .value(0)
    };
    assert_eq!(u("packets"), 1000);
    assert_eq!(u("parse_non_ip"), 10);
    assert_eq!(u("parse_errors_total"), 10);
    let util = c
        .column_by_name("busy_poll_utilisation")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert!((util.value(0) - 0.25).abs() < 1e-12);
    assert_eq!(
        c.column_by_name("source")
            .unwrap()
            .as_string::<i32>()
            .value(0),
        "pcap:test.pcap"
    );

    // Nothing is left in progress.
    assert!(parquet_files(&root.join(writer::INPROGRESS_DIR)).is_empty());
}

#[test]
fn files_appear_only_when_closed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut sink = Sink::open(cfg(root)).unwrap();
    sink.write::<Flows>(&rows_of([flow(D0 + SEC)])).unwrap();
    sink.write::<Capture>(&[capture_row(0, D0 + SEC)]).unwrap();
    assert!(parquet_files(&root.join("flows")).is_empty());
    assert!(parquet_files(&root.join("capture")).is_empty());
    let open = parquet_files(&root.join(".inprogress"));
    assert_eq!(open.len(), 2);
    let mut listed = sink.open_files();
    listed.sort();
    assert_eq!(listed, open);
    assert_eq!(sink.stats().table(Flows::NAME).unwrap().rows_pending, 1);
    sink.close().unwrap();
    assert!(parquet_files(&root.join(".inprogress")).is_empty());
    assert_eq!(parquet_files(&root.join("flows")).len(), 1);
    assert_eq!(parquet_files(&root.join("capture")).len(), 1);
    assert!(sink.open_files().is_empty());
}

#[test]
fn empty_tables_create_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut sink = Sink::open(cfg(root)).unwrap();
    sink.write::<Flows>(&[]).unwrap();
    sink.write::<Capture>(&[]).unwrap();
    sink.tick(D0).unwrap();
    sink.close().unwrap();
    assert!(parquet_files(root).is_empty());
    assert_eq!(sink.stats().files_written, 0);
}

#[test]
fn rotates_by_data_time() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut sink = Sink::open(cfg(root)).unwrap();
    let t = D0 + 10 * SEC;
    sink.write::<Flows>(&rows_of([flow(t)])).unwrap();
    sink.write::<Flows>(&rows_of([flow(t + 299 * SEC)]))
        .unwrap();
    assert!(parquet_files(&root.join("flows")).is_empty());
    // The interval passes with this row: the first file closes, the row
    // opens the second.
    sink.write::<Flows>(&rows_of([flow(t + 300 * SEC)]))
        .unwrap();
    let files = parquet_files(&root.join("flows"));
    assert_eq!(files.len(), 1);
    assert_eq!(read(&files[0]).num_rows(), 2);
    // A tick alone rotates too, with no new rows.
    sink.tick(t + 600 * SEC).unwrap();
    assert_eq!(parquet_files(&root.join("flows")).len(), 2);
    assert!(sink.open_files().is_empty());
    sink.close().unwrap();
    assert_eq!(parquet_files(&root.join("flows")).len(), 2);
    assert_eq!(rows_in(&root.join("flows")), 3);
}

#[test]
fn rotates_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut sink = Sink::open(SinkConfig {
        rotate_bytes: 1,
        ..cfg(root)
    })
    .unwrap();
    for i in 0..3 {
        sink.write::<Capture>(&[capture_row(0, D0 + i * SEC)])
            .unwrap();
    }
    // Each write passes the limit and closes its file right away.
    assert!(sink.open_files().is_empty());
    let files = parquet_files(&root.join("capture"));
    assert_eq!(files.len(), 3);
    assert_eq!(rows_in(&root.join("capture")), 3);

    // With a realistic limit, a big write is split across files.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut sink = Sink::open(SinkConfig {
        rotate_bytes: 20_000,
        row_group_rows: 100,
        ..cfg(root)
    })
    .unwrap();
    let rows: Vec<FlowRecord> = (0..2_000u64)
        .map(|i| {
            let mut f = flow(D0 + SEC + i * 1_000);
            f.client_port = i as u16;
            f.c2s.bytes = i * 7919;
            f
        })
        .collect();
    sink.write::<Flows>(&rows_of(rows.clone())).unwrap();
    sink.close().unwrap();
    let files = parquet_files(&root.join("flows"));
    assert!(files.len() > 2, "{} files", files.len());
    assert_eq!(rows_in(&root.join("flows")), 2_000);
    assert_eq!(
        sink.stats().table(Flows::NAME).unwrap().files,
        files.len() as u64
    );
}

#[test]
fn splits_by_date_without_flapping() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut sink = Sink::open(cfg(root)).unwrap();
    let before = D0 + DAY - SEC; // 2024-05-01T23:59:59Z
    let after = D0 + DAY + SEC; // 2024-05-02T00:00:01Z
    sink.write::<Flows>(&rows_of([flow(after), flow(before)]))
        .unwrap();
    // Late rows of the first date, interleaved with the second.
    sink.write::<Flows>(&rows_of([flow(before - SEC)])).unwrap();
    sink.write::<Flows>(&rows_of([flow(after + SEC), flow(before - 2 * SEC)]))
        .unwrap();
    sink.close().unwrap();
    let d1 = parquet_files(&root.join("flows/date=2024-05-01"));
    let d2 = parquet_files(&root.join("flows/date=2024-05-02"));
    assert_eq!((d1.len(), d2.len()), (1, 1));
    assert_eq!(read(&d1[0]).num_rows(), 3);
    assert_eq!(read(&d2[0]).num_rows(), 2);
    assert!(d1[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .contains("-20240501T235959Z-"));
    assert!(d2[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .contains("-20240502T000001Z-"));
    let ends = read(&d1[0]);
    let ends = ends
        .column_by_name("flow_end")
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    assert!(ends
        .values()
        .iter()
        .all(|&us| (us as u64) < (D0 + DAY) / 1_000));
}

#[test]
fn reopen_removes_stale_inprogress_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut sink = Sink::open(cfg(root)).unwrap();
    sink.write::<Flows>(&rows_of([flow(D0 + SEC)])).unwrap();
    // What a killed run leaves behind: a partial file (no footer), and
    // the same in another table's folder.
    let open = sink.open_files();
    assert_eq!(open.len(), 1);
    let stale = root.join(".inprogress/flows/flows-x-20240501T000000Z-1p1-000001.parquet");
    fs::copy(&open[0], &stale).unwrap();
    fs::write(
        root.join(".inprogress/capture/partial.parquet"),
        b"PAR1garbage",
    )
    .unwrap();
    sink.close().unwrap();
    assert_eq!(sink.stats().stale_inprogress_removed, 0);
    drop(sink);

    let sink = Sink::open(cfg(root)).unwrap();
    assert_eq!(sink.stats().stale_inprogress_removed, 2);
    assert!(parquet_files(&root.join(".inprogress")).is_empty());
    // The complete file of the first run is untouched.
    assert_eq!(rows_in(&root.join("flows")), 1);
}

#[test]
fn retention_keeps_the_newest_files_under_quota() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // One file per write.
    let mut sink = Sink::open(SinkConfig {
        rotate_bytes: 1,
        ..cfg(root)
    })
    .unwrap();
    sink.write::<Flows>(&rows_of([flow(D0 + SEC)])).unwrap();
    let one = sink.stats().bytes_written;
    drop(sink);
    fs::remove_dir_all(root.join("flows")).unwrap();

    let quota = one * 5 / 2; // room for two files
    let mut sink = Sink::open(SinkConfig {
        rotate_bytes: 1,
        quota_bytes: quota,
        ..cfg(root)
    })
    .unwrap();
    // Ten files over ten days; every close applies the quota.
    for i in 0..10 {
        sink.write::<Flows>(&rows_of([flow(D0 + i * DAY + SEC)]))
            .unwrap();
        let total: u64 = parquet_files(root)
            .iter()
            .map(|p| fs::metadata(p).unwrap().len())
            .sum();
        assert!(total <= quota, "{total} > {quota} after file {i}");
    }
    let st = sink.stats();
    assert_eq!(st.files_written, 10);
    assert_eq!(st.files_deleted_by_retention, 8);
    let left = parquet_files(&root.join("flows"));
    assert_eq!(left.len(), 2);
    assert!(left[0].to_str().unwrap().contains("date=2024-05-09"));
    assert!(left[1].to_str().unwrap().contains("date=2024-05-10"));
    // Emptied date folders are gone.
    let dates = fs::read_dir(root.join("flows")).unwrap().count();
    assert_eq!(dates, 2);
}

#[test]
fn second_sink_on_a_root_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let sink = Sink::open(cfg(root)).unwrap();
    assert!(matches!(
        Sink::open(cfg(root)),
        Err(SinkError::Locked { .. })
    ));
    drop(sink);
    Sink::open(cfg(root)).unwrap();
}

#[test]
fn bad_config_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let e = Sink::open(SinkConfig {
        row_group_rows: 0,
        ..cfg(dir.path())
    });
    assert!(matches!(e, Err(SinkError::Config(_))));
    let e = Sink::open(SinkConfig {
        tap_id: String::new(),
        ..cfg(dir.path())
    });
    assert!(matches!(e, Err(SinkError::Config(_))));
    // A root that cannot be created: an error naming the path, no panic.
    let file = dir.path().join("file");
    fs::write(&file, b"x").unwrap();
    let e = Sink::open(cfg(&file.join("root"))).err().unwrap();
    assert!(e.to_string().contains("file/root"), "{e}");
}

#[test]
fn drop_closes_open_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut sink = Sink::open(cfg(root)).unwrap();
    sink.write::<Flows>(&rows_of([flow(D0 + SEC)])).unwrap();
    drop(sink);
    assert_eq!(rows_in(&root.join("flows")), 1);
    assert!(parquet_files(&root.join(".inprogress")).is_empty());
}

#[test]
fn file_safe_tap_ids() {
    assert_eq!(file_safe("edge-01.lab"), "edge-01.lab");
    assert_eq!(file_safe("a/b c"), "a_b_c");
}

#[test]
fn a_files_data_time_range_comes_from_its_footer() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut sink = Sink::open(cfg(root)).unwrap();
    sink.write::<Flows>(&rows_of([flow(D0 + 5 * SEC), flow(D0 + 65 * SEC)]))
        .unwrap();
    sink.close().unwrap();
    let files = parquet_files(&root.join("flows"));
    assert_eq!(files.len(), 1);
    let (lo, hi) = file_time_range(Flows::NAME, &files[0]).unwrap();
    assert_eq!(
        (lo, hi),
        (
            ((D0 + 5 * SEC) / 1000) as i64,
            ((D0 + 65 * SEC) / 1000) as i64
        )
    );
    assert_eq!(file_time_range("nonsense", &files[0]), None);
}
