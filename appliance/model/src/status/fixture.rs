//! Example snapshots for the tests of the crates that build, render or
//! export a [`Status`] (cargo feature `fixture`).

use super::*;

/// One GiB.
pub const GIB: u64 = 1 << 30;

/// A heavy-hitter row.
pub fn hh(counter: &str, rank: u16, key: &str, estimate: u64, share: f64) -> HeavyHitterRow {
    HeavyHitterRow {
        counter: counter.into(),
        rank,
        key: key.into(),
        estimate,
        share,
    }
}

/// Traffic of one device or service.
pub fn usage(name: &str, bytes: u64) -> Usage {
    Usage {
        name: name.into(),
        bytes,
    }
}

/// A scan row.
pub fn scan(kind: &str, src_ip: &str, distinct: u64, window_end_unix_s: u64) -> ScanRow {
    ScanRow {
        kind: kind.into(),
        src_ip: src_ip.into(),
        distinct,
        window_end_unix_s,
    }
}

/// A fully populated snapshot: a live tap three days into its run (no
/// TCP handshake measured: see [`tcp_rtt`]).
pub fn fixture() -> Status {
    Status {
        protocol: PROTOCOL_VERSION,
        version: "0.1.0".into(),
        tap_id: "lab-tap-01".into(),
        started_unix_s: 1_748_764_800,
        uptime_s: 273_906,
        mode: "live".into(),
        interface: Some("eth1".into()),
        queues: vec![
            QueueStatus {
                worker: 0,
                source: "eth1 queue 0".into(),
                capture_mode: "xdp-zerocopy-native".into(),
                packets: 120_345_678,
                bytes: 105_300_000_000,
                busy_poll_utilisation: Some(0.42),
            },
            QueueStatus {
                worker: 1,
                source: "eth1 queue 1".into(),
                capture_mode: "xdp-copy-native".into(),
                packets: 119_002_003,
                bytes: 104_470_000_000,
                busy_poll_utilisation: None,
            },
        ],
        rates: Rates {
            packets_per_s: 145_600.0,
            bits_per_s: 1_234_000_000.0,
            window_s: 5.0,
        },
        totals: Counters {
            packets: 239_347_681,
            bytes: 209_770_000_000,
            ip_packets: 239_300_000,
            parse_errors: 47_681,
            flows_created: 1_234_567,
            flows_written: 1_153_333,
            active_flows: 81_234,
            flow_capacity: 262_144,
            records_dropped: 3,
            summary_queue_full: 1,
            src_dropped: 1_024,
            src_ring_full: 0,
            src_fill_ring_empty: 1_024,
            src_invalid_descs: 0,
            flow_table_full: 12,
            name_events_dropped: 0,
            name_reasm_full: 7,
            activity_dropped: 0,
            bad_timestamp: 0,
            segments_dropped: 0,
            nic_rx_packets: 239_350_000,
            nic_rx_dropped: 0,
            nic_rx_missed: 0,
            link_up: Some(true),
            carrier_changes: 2,
        },
        top_devices: vec![
            usage("alice-laptop", 41 * GIB + GIB / 5),
            usage("living-room-tv", 60 * GIB),
            usage("Unknown-192.168.1.77", 512 * 1024 * 1024),
            usage("bobs-iphone", 3 * GIB + GIB / 2),
            usage("printer", 1_500_000),
            usage("thermostat", 20_000),
        ],
        top_services: vec![
            usage("Netflix", 58 * GIB),
            usage("YouTube", 21 * GIB),
            usage("Zoom", 9 * GIB + GIB / 10),
            usage("unknown", 4 * GIB),
        ],
        heavy_hitters: vec![
            hh("src_bytes", 1, "192.168.1.20", 412_000_000, 0.412),
            hh("src_bytes", 2, "192.168.1.31", 120_000_000, 0.12),
            hh("src_bytes", 3, "10.8.0.2", 64_500_000, 0.0645),
            hh("dst_bytes", 1, "198.51.100.7", 388_000_000, 0.388),
            hh(
                "dst_bytes",
                2,
                "2001:db8:85a3::8a2e:370:7334",
                97_000_000,
                0.097,
            ),
            hh(
                "src_dport_packets",
                1,
                "192.168.1.20 > tcp/443",
                96_200,
                0.385,
            ),
            hh(
                "src_dport_packets",
                2,
                "192.168.1.31 > udp/443",
                40_100,
                0.16,
            ),
            hh(
                "src_dport_packets",
                3,
                "192.168.1.66 > tcp/22",
                12_004,
                0.048,
            ),
            hh(
                "src_dport_packets",
                4,
                "192.168.1.20 > udp/53",
                3_100,
                0.0124,
            ),
            hh(
                "src_dport_packets",
                5,
                "192.168.1.31 > udp/53",
                2_950,
                0.0118,
            ),
            hh("src_dport_packets", 6, "192.168.1.9 > udp/123", 20, 0.0001),
        ],
        scans: vec![
            scan("host_scan", "192.168.1.66", 87, 1_749_038_640),
            scan("port_scan", "192.168.1.66", 1_024, 1_749_038_700),
            scan("port_scan", "203.0.113.9", 3_190, 1_749_037_200),
        ],
        probes: Some(ProbeSummary {
            runs: 120,
            failures: 2,
            ..ProbeSummary::default()
        }),
        files: FilesStatus {
            complete_files: 1_042,
            bytes_written: 13_200_000_000,
            disk_used_bytes: 9_800_000_000,
            quota_bytes: Some(20_000 * 1024 * 1024),
            deleted_files: 31,
            output_dir: "/var/lib/tapscope".into(),
            ..FilesStatus::default()
        },
        tcp_rtt: TcpRtt::default(),
        video: VideoStatus {
            model_version: "video-rf-20261204-abc123".into(),
            sessions_ended: 3,
            active: vec![VideoSessionStatus {
                device: "living-room-tv".into(),
                device_ip: "192.168.1.20".into(),
                service: "netflix".into(),
                started_unix_s: 1_760_000_000.5,
                bytes_down: 48_000_000,
                resolution: Some(720),
                startup_delay_s: Some(1.4),
            }],
        },
    }
}

/// A populated [`TcpRtt`]: 4,812 handshakes since the start, 97 in the
/// recent window.
pub fn tcp_rtt() -> TcpRtt {
    let dist = |count: u64, sum_ms: f64, q: [f64; 4], buckets: bool| RttDistribution {
        count,
        sum_ms,
        p50_ms: Some(q[0]),
        p90_ms: Some(q[1]),
        p99_ms: Some(q[2]),
        max_ms: Some(q[3]),
        buckets: if buckets {
            let at = [
                0, 3, 40, 310, 1_200, 2_900, 3_900, 4_500, 4_700, 4_790, 4_806, 4_812, 4_812, 4_812,
            ];
            RTT_BUCKETS_MS
                .iter()
                .zip(at)
                .map(|(&le_ms, c)| RttBucket {
                    le_ms,
                    count: c * count / 4_812,
                })
                .collect()
        } else {
            Vec::new()
        },
    };
    TcpRtt {
        handshake: dist(4_812, 96_240.5, [12.4, 38.0, 212.0, 1_210.0], true),
        server_side: dist(4_812, 90_112.0, [11.9, 36.2, 205.0, 1_200.0], true),
        client_side: dist(4_812, 6_128.5, [0.412, 1.93, 9.81, 30.5], true),
        recent: dist(97, 1_203.0, [11.0, 30.2, 95.0, 120.0], false),
        recent_window_s: 60,
    }
}

/// The probes of a running tap (three tasks: one ok, one failing, one not
/// run yet) for the snapshot `s`.
pub fn probe_summary(s: &Status) -> ProbeSummary {
    let now = s.started_unix_s + s.uptime_s;
    let task =
        |name: &str, kind: &str, ok: Option<bool>, summary: &str, age: u64| ProbeTaskStatus {
            name: name.into(),
            kind: kind.into(),
            target: "x".into(),
            runs: 10,
            failures: u64::from(ok == Some(false)),
            last_unix_s: ok.map(|_| now - age),
            ok,
            error_class: None,
            summary: summary.into(),
            rtt_ms: ok.map(|_| 0.41),
        };
    ProbeSummary {
        runs: 40,
        failures: 3,
        running: 1,
        buffered: 12,
        dropped: 2,
        write_errors: 4,
        write_error: Some(
            "creating /var/lib/tapscope/.inprogress/probes/x: No space left on device".into(),
        ),
        tasks: vec![
            task(
                "gateway",
                "icmp",
                Some(true),
                "rtt 0.41 ms (min 0.30 ms, max 0.90 ms), loss 0 %",
                12,
            ),
            task(
                "intranet-https",
                "https",
                Some(false),
                "cert_expired: TLS handshake with 10.1.0.5:443: invalid peer certificate: Expired",
                75,
            ),
            task("iperf", "throughput", None, "", 0),
        ],
    }
}
