//! Tests of the sink thread's queue: what is dropped is counted exactly,
//! lossless waits, probe rows wait within their bound.

use super::*;
use crate::tables::{Probes, Traffic};
use crate::SinkConfig;
use model::rows::TrafficRow;
use std::sync::Arc as StdArc;

const S: u64 = 1_000_000_000;
/// 2024-05-01T00:00:00Z.
const D0: u64 = 1_714_521_600 * S;

fn open(root: &std::path::Path) -> Sink {
    Sink::open(SinkConfig {
        root: root.to_path_buf(),
        tap_id: "tap-test".into(),
        row_group_rows: 1000,
        ..SinkConfig::default()
    })
    .unwrap()
}

fn traffic(n: usize, t: u64) -> Vec<TrafficRow> {
    (0..n)
        .map(|i| TrafficRow {
            start_ns: t - 5 * S,
            end_ns: t,
            device_mac: None,
            device_ip: std::net::Ipv4Addr::new(192, 168, 1, i as u8)
                .to_ipv6_mapped()
                .octets(),
            device_name: StdArc::from("d"),
            service: StdArc::from("unknown"),
            category: StdArc::from("unknown"),
            bytes_down: 1,
            bytes_up: 1,
            packets_down: 1,
            packets_up: 1,
            flows: 1,
        })
        .collect()
}

fn probe_row(i: u64) -> ProbeResult {
    ProbeResult {
        task: StdArc::from(format!("t{i}").as_str()),
        kind: "icmp",
        target: StdArc::from("192.0.2.1"),
        started_ns: D0 + i * S,
        ok: true,
        ..ProbeResult::default()
    }
}

fn traffic_stats(st: &SinkStats) -> crate::TableStats {
    st.table(Traffic::NAME).unwrap().clone()
}

#[test]
fn a_full_queue_drops_and_counts_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = SinkThread::spawn(
        open(dir.path()),
        SinkThreadConfig {
            queue_messages: 2,
            ..SinkThreadConfig::default()
        },
    )
    .unwrap();
    let stall = sink.stall_for_test();
    // The sink thread takes the first batch and stalls on it.
    sink.send::<Traffic>(traffic(3, D0 + 10 * S)).unwrap();
    stall.wait_until_stalled();
    // Two more fill the queue; the next two find it full.
    for i in 0..4 {
        sink.send::<Traffic>(traffic(3, D0 + (11 + i) * S)).unwrap();
    }
    sink.tick(D0 + 20 * S).unwrap();
    let st = sink.stats();
    assert_eq!(traffic_stats(&st).rows_dropped, 6);
    assert_eq!(st.rows_dropped, 6);
    assert_eq!(st.ticks_dropped, 1);
    assert_eq!(sink.queued_rows(), 9);
    drop(stall);
    sink.close().unwrap();
    let st = sink.stats();
    let t = traffic_stats(&st);
    assert_eq!((t.rows, t.rows_dropped, t.rows_lost), (9, 6, 0));
    assert_eq!(t.rows + t.rows_dropped, 15, "rows sent = written + dropped");
    assert_eq!(sink.queued_rows(), 0);
}

#[test]
fn the_row_bound_drops_batches_that_do_not_fit() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = SinkThread::spawn(
        open(dir.path()),
        SinkThreadConfig {
            queue_rows: 4,
            ..SinkThreadConfig::default()
        },
    )
    .unwrap();
    let stall = sink.stall_for_test();
    sink.send::<Traffic>(traffic(3, D0 + S)).unwrap();
    stall.wait_until_stalled();
    // 3 waiting: 3 more do not fit, 1 does.
    sink.send::<Traffic>(traffic(3, D0 + S)).unwrap();
    sink.send::<Traffic>(traffic(1, D0 + S)).unwrap();
    assert_eq!(sink.queued_rows(), 4);
    drop(stall);
    sink.close().unwrap();
    let t = traffic_stats(&sink.stats());
    assert_eq!((t.rows, t.rows_dropped), (4, 3));
    // An empty queue takes a batch larger than the bound.
    let dir = tempfile::tempdir().unwrap();
    let mut sink = SinkThread::spawn(
        open(dir.path()),
        SinkThreadConfig {
            queue_rows: 4,
            ..SinkThreadConfig::default()
        },
    )
    .unwrap();
    sink.send::<Traffic>(traffic(10, D0 + S)).unwrap();
    sink.close().unwrap();
    let t = traffic_stats(&sink.stats());
    assert_eq!((t.rows, t.rows_dropped), (10, 0));
}

#[test]
fn lossless_waits_for_room_and_drops_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = SinkThread::spawn(
        open(dir.path()),
        SinkThreadConfig {
            queue_messages: 1,
            queue_rows: 5,
            lossless: true,
            ..SinkThreadConfig::default()
        },
    )
    .unwrap();
    let stall = sink.stall_for_test();
    sink.send::<Traffic>(traffic(3, D0 + S)).unwrap();
    stall.wait_until_stalled();
    let sender = std::thread::spawn(move || {
        for i in 0..6 {
            sink.send::<Traffic>(traffic(3, D0 + (2 + i) * S)).unwrap();
            sink.tick(D0 + (2 + i) * S).unwrap();
        }
        sink
    });
    // Stalled, the sink takes nothing more: the sender waits for room.
    std::thread::sleep(Duration::from_millis(50));
    assert!(!sender.is_finished(), "a lossless send did not wait");
    drop(stall);
    let mut sink = sender.join().unwrap();
    sink.close().unwrap();
    let st = sink.stats();
    let t = traffic_stats(&st);
    assert_eq!((t.rows, t.rows_dropped, t.rows_lost), (21, 0, 0));
    assert_eq!(st.ticks_dropped, 0);
}

#[test]
fn probe_rows_wait_for_room_within_their_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = SinkThread::spawn(
        open(dir.path()),
        SinkThreadConfig {
            queue_messages: 1,
            probe_buffer_rows: 3,
            ..SinkThreadConfig::default()
        },
    )
    .unwrap();
    let stall = sink.stall_for_test();
    sink.send::<Traffic>(traffic(1, D0 + S)).unwrap();
    stall.wait_until_stalled();
    sink.send::<Traffic>(traffic(1, D0 + S)).unwrap();
    // The queue is full: probe rows wait in the handle, the oldest beyond
    // the bound of 3 dropped and counted.
    for i in 0..5 {
        sink.probe(probe_row(i)).unwrap();
    }
    let st = sink.stats();
    assert_eq!(st.probe_spool.buffered, 3);
    assert_eq!(st.probe_spool.dropped, 2);
    drop(stall);
    sink.close().unwrap();
    let st = sink.stats();
    assert_eq!(st.probe_spool.written, 3);
    assert_eq!(st.probe_spool.buffered, 0);
    assert_eq!(st.probe_spool.dropped, 2);
    assert_eq!(st.table(Probes::NAME).unwrap().rows, 3);
    assert_eq!(traffic_stats(&st).rows, 2);
}

#[test]
fn write_errors_are_kept_and_returned_by_close() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = SinkThread::spawn(open(dir.path()), SinkThreadConfig::default()).unwrap();
    // A file where the table's in-progress folder should be: every file
    // of the table fails to open, even as root.
    let inprogress = dir.path().join(".inprogress").join(Traffic::NAME);
    std::fs::remove_dir_all(&inprogress).unwrap();
    std::fs::write(&inprogress, b"not a folder").unwrap();
    sink.send::<Traffic>(traffic(4, D0 + S)).unwrap();
    let e = sink.close().unwrap_err();
    assert!(e.to_string().contains(".inprogress/traffic"), "{e}");
    let st = sink.stats();
    let t = traffic_stats(&st);
    assert_eq!((t.rows, t.rows_lost, t.rows_dropped), (0, 4, 0));
    assert!(st
        .last_error
        .as_deref()
        .unwrap()
        .contains(".inprogress/traffic"));
    // Closing again says the same, without waiting.
    assert!(sink.close().is_err());
}
