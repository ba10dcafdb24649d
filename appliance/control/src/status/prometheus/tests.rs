use super::*;
use model::status::fixture::{fixture, probe_summary, tcp_rtt};
use model::status::{Status, Usage, RTT_BUCKETS_MS};

#[test]
fn prometheus_exposition_has_help_type_and_values() {
    let mut s = Status::default();
    s.totals.packets = 42;
    s.totals.src_ring_full = 3;
    s.totals.bad_timestamp = 2;
    s.top_services.push(Usage {
        name: "we\"ird".into(),
        bytes: 7,
    });
    let text = prometheus(&s);
    assert!(text.contains("# TYPE tapscope_packets_total counter\ntapscope_packets_total 42\n"));
    assert!(text.contains("tapscope_drops_total{cause=\"src_ring_full\"} 3\n"));
    assert!(text
        .contains("# TYPE tapscope_bad_timestamp_total counter\ntapscope_bad_timestamp_total 2\n"));
    assert!(text.contains("tapscope_service_bytes_total{service=\"we\\\"ird\"} 7\n"));
    assert!(
        !text.contains("tapscope_link_up"),
        "no link state in replay"
    );
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, value) = line.rsplit_once(' ').unwrap();
        assert!(name.starts_with("tapscope_"), "{line}");
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
}

#[test]
fn probe_tasks_are_exported() {
    let mut s = fixture();
    s.probes = Some(probe_summary(&s));
    let p = prometheus(&s);
    assert!(
        p.contains("tapscope_probe_ok{task=\"gateway\",kind=\"icmp\"} 1\n"),
        "{p}"
    );
    assert!(p.contains("tapscope_probe_ok{task=\"intranet-https\",kind=\"https\"} 0\n"));
    assert!(p.contains("tapscope_probe_rows_dropped_total 2\n"));
    assert!(!p.contains("tapscope_probe_ok{task=\"iperf\""));
}

#[test]
fn tcp_rtt_is_a_histogram_per_leg_and_recent_quantiles() {
    let mut s = fixture();
    s.tcp_rtt = tcp_rtt();
    let text = prometheus(&s);
    assert!(
        text.contains("# TYPE tapscope_tcp_rtt_seconds histogram\n"),
        "{text}"
    );
    for leg in ["handshake", "server_side", "client_side"] {
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with(&format!("tapscope_tcp_rtt_seconds_bucket{{leg=\"{leg}\"")))
            .collect();
        assert_eq!(lines.len(), RTT_BUCKETS_MS.len() + 1, "{leg}");
        // Cumulative: never decreasing, ending in +Inf = count.
        let counts: Vec<f64> = lines
            .iter()
            .map(|l| l.rsplit_once(' ').unwrap().1.parse().unwrap())
            .collect();
        assert!(counts.windows(2).all(|w| w[0] <= w[1]), "{counts:?}");
        assert!(
            lines[lines.len() - 1].contains("le=\"+Inf\"} 4812"),
            "{lines:?}"
        );
    }
    assert!(text.contains("tapscope_tcp_rtt_seconds_bucket{leg=\"handshake\",le=\"0.0005\"} 0\n"));
    assert!(text.contains("tapscope_tcp_rtt_seconds_bucket{leg=\"handshake\",le=\"0.025\"} 2900\n"));
    assert!(text.contains("tapscope_tcp_rtt_seconds_bucket{leg=\"handshake\",le=\"10\"} 4812\n"));
    assert!(text.contains("tapscope_tcp_rtt_seconds_sum{leg=\"handshake\"} 96.2405\n"));
    assert!(text.contains("tapscope_tcp_rtt_seconds_count{leg=\"client_side\"} 4812\n"));
    assert!(text.contains("tapscope_tcp_rtt_recent_seconds{quantile=\"0.5\"} 0.011\n"));
    assert!(text.contains("tapscope_tcp_rtt_recent_seconds{quantile=\"1\"} 0.12\n"));
    assert!(text.contains("tapscope_tcp_rtt_recent_handshakes 97\n"));
    assert!(text.contains("over the last 60 s"));
}

#[test]
fn tcp_rtt_series_exist_before_any_handshake() {
    let text = prometheus(&Status::default());
    assert!(text.contains("tapscope_tcp_rtt_seconds_bucket{leg=\"server_side\",le=\"0.001\"} 0\n"));
    assert!(text.contains("tapscope_tcp_rtt_seconds_bucket{leg=\"handshake\",le=\"+Inf\"} 0\n"));
    assert!(text.contains("tapscope_tcp_rtt_seconds_count{leg=\"handshake\"} 0\n"));
    assert!(
        !text.contains("tapscope_tcp_rtt_recent"),
        "no recent quantiles without handshakes"
    );
}
