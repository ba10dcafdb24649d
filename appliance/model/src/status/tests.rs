use super::fixture::{fixture, tcp_rtt};
use super::*;

#[test]
fn json_round_trip() {
    let s = fixture();
    let text = serde_json::to_string_pretty(&s).unwrap();
    let back: Status = serde_json::from_str(&text).unwrap();
    assert_eq!(back, s);
    let empty: Status =
        serde_json::from_str(&serde_json::to_string(&Status::default()).unwrap()).unwrap();
    assert_eq!(empty, Status::default());
}

fn keys(v: &serde_json::Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

fn sorted(mut v: Vec<&str>) -> Vec<&str> {
    v.sort_unstable();
    v
}

#[test]
fn json_field_names_are_stable() {
    let v = serde_json::to_value(fixture()).unwrap();
    assert_eq!(
        keys(&v),
        sorted(vec![
            "protocol",
            "version",
            "tap_id",
            "started_unix_s",
            "uptime_s",
            "mode",
            "interface",
            "queues",
            "rates",
            "totals",
            "top_devices",
            "top_services",
            "heavy_hitters",
            "scans",
            "probes",
            "files",
            "video",
        ])
    );
    assert_eq!(
        keys(&v["video"]),
        sorted(vec!["model_version", "sessions_ended", "active"])
    );
    assert_eq!(
        keys(&v["video"]["active"][0]),
        sorted(vec![
            "device",
            "device_ip",
            "service",
            "started_unix_s",
            "bytes_down",
            "resolution",
            "startup_delay_s",
        ])
    );
    assert_eq!(
        keys(&v["queues"][0]),
        sorted(vec![
            "worker",
            "source",
            "capture_mode",
            "packets",
            "bytes",
            "busy_poll_utilisation",
        ])
    );
    assert_eq!(
        keys(&v["rates"]),
        sorted(vec!["packets_per_s", "bits_per_s", "window_s"])
    );
    assert_eq!(
        keys(&v["totals"]),
        sorted(vec![
            "packets",
            "bytes",
            "ip_packets",
            "parse_errors",
            "flows_created",
            "flows_written",
            "active_flows",
            "flow_capacity",
            "records_dropped",
            "summary_queue_full",
            "src_dropped",
            "src_ring_full",
            "src_fill_ring_empty",
            "src_invalid_descs",
            "flow_table_full",
            "name_events_dropped",
            "name_reasm_full",
            "activity_dropped",
            "bad_timestamp",
            "segments_dropped",
            "nic_rx_packets",
            "nic_rx_dropped",
            "nic_rx_missed",
            "link_up",
            "carrier_changes",
        ])
    );
    assert_eq!(keys(&v["top_devices"][0]), sorted(vec!["name", "bytes"]));
    assert_eq!(keys(&v["top_services"][0]), sorted(vec!["name", "bytes"]));
    assert_eq!(
        keys(&v["heavy_hitters"][0]),
        sorted(vec!["counter", "rank", "key", "estimate", "share"])
    );
    assert_eq!(
        keys(&v["scans"][0]),
        sorted(vec!["kind", "src_ip", "distinct", "window_end_unix_s"])
    );
    assert_eq!(
        keys(&v["probes"]),
        sorted(vec![
            "runs",
            "failures",
            "running",
            "buffered",
            "dropped",
            "write_errors",
            "write_error",
            "tasks",
        ])
    );
    assert_eq!(
        keys(&v["files"]),
        sorted(vec![
            "complete_files",
            "bytes_written",
            "disk_used_bytes",
            "quota_bytes",
            "deleted_files",
            "output_dir",
            "rows_dropped",
            "rows_lost",
            "write_errors",
            "write_error",
        ])
    );
    assert_eq!(v["protocol"], 1);
    assert_eq!(v["interface"], "eth1");
    assert!(v["queues"][1]["busy_poll_utilisation"].is_null());
}

#[test]
fn json_tolerates_unknown_and_missing_fields() {
    let text = r#"{
        "protocol": 2,
        "version": "0.9.0",
        "from_the_future": {"nested": [1, 2, 3]},
        "queues": [{"worker": 3, "packets": 10, "new_gauge": 1.5}],
        "totals": {"packets": 7, "link_up": false},
        "probes": {"runs": 4},
        "files": {"quota_bytes": null}
    }"#;
    let s: Status = serde_json::from_str(text).unwrap();
    assert_eq!(s.protocol, 2);
    assert_eq!(s.version, "0.9.0");
    assert_eq!(s.tap_id, "");
    assert_eq!(s.interface, None);
    assert_eq!(
        s.queues,
        vec![QueueStatus {
            worker: 3,
            packets: 10,
            ..QueueStatus::default()
        }]
    );
    assert_eq!(s.totals.packets, 7);
    assert_eq!(s.totals.link_up, Some(false));
    assert_eq!(s.totals.bytes, 0);
    assert_eq!(s.rates, Rates::default());
    assert_eq!(
        s.probes,
        Some(ProbeSummary {
            runs: 4,
            ..ProbeSummary::default()
        })
    );
    assert_eq!(s.files, FilesStatus::default());

    let empty: Status = serde_json::from_str("{}").unwrap();
    assert_eq!(empty, Status::default());
}

#[test]
fn json_carries_the_tcp_rtt_fields_once_measured() {
    let mut s = fixture();
    s.tcp_rtt = tcp_rtt();
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(
        keys(&v["tcp_rtt"]),
        sorted(vec![
            "handshake",
            "server_side",
            "client_side",
            "recent",
            "recent_window_s",
        ])
    );
    for leg in ["handshake", "server_side", "client_side", "recent"] {
        assert_eq!(
            keys(&v["tcp_rtt"][leg]),
            sorted(vec![
                "count", "sum_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms", "buckets",
            ]),
            "{leg}"
        );
    }
    assert_eq!(v["tcp_rtt"]["handshake"]["count"], 4_812);
    assert_eq!(v["tcp_rtt"]["handshake"]["p50_ms"], 12.4);
    assert_eq!(v["tcp_rtt"]["recent_window_s"], 60);
    let b = &v["tcp_rtt"]["handshake"]["buckets"];
    assert_eq!(b.as_array().unwrap().len(), RTT_BUCKETS_MS.len());
    assert_eq!(keys(&b[0]), sorted(vec!["le_ms", "count"]));
    assert_eq!(b[13]["le_ms"], 10_000.0);
    let back: Status = serde_json::from_value(v).unwrap();
    assert_eq!(back, s);
}

#[test]
fn json_leaves_out_tcp_rtt_until_a_handshake_is_measured() {
    let v = serde_json::to_value(Status::default()).unwrap();
    assert!(v.get("tcp_rtt").is_none(), "{v}");
    assert!(TcpRtt::default().is_empty());
    assert!(!tcp_rtt().is_empty());
    let empty = RttDistribution::default();
    let j = serde_json::to_value(&empty).unwrap();
    assert!(j["p50_ms"].is_null() && j["max_ms"].is_null(), "{j}");
}
