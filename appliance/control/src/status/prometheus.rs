//! The status snapshot in the Prometheus text exposition format (version
//! 0.0.4), served by the metrics endpoint ([`crate::ctl::MetricsServer`]).

use std::fmt::Write as _;

use model::status::{ProbeSummary, ProbeTaskStatus, RttDistribution, Status, RTT_BUCKETS_MS};

/// The snapshot in the Prometheus text exposition format (version 0.0.4):
/// the same counters as the status view, `tapscope_` prefixed, counters
/// ending in `_total`; the TCP handshake times as a histogram
/// (`tapscope_tcp_rtt_seconds`, one series per `leg`) and the recent
/// window's quantiles as gauges.
pub fn prometheus(s: &Status) -> String {
    let mut o = Exposition::default();
    capture(&mut o, s);
    if let Some(p) = &s.probes {
        probes(&mut o, p);
    }
    nic(&mut o, s);
    tcp_rtt(&mut o, s);
    files(&mut o, s);
    o.text
}

/// The text being written.
#[derive(Default)]
struct Exposition {
    text: String,
}

/// One sample: what follows the metric's name (a suffix such as `_bucket`
/// and the labels, or nothing) and its value.
type Sample = (String, f64);

impl Exposition {
    /// One metric family: its help, its type and its samples.
    fn metric(&mut self, name: &str, kind: &str, help: &str, samples: &[Sample]) {
        let o = &mut self.text;
        let _ = writeln!(o, "# HELP tapscope_{name} {help}");
        let _ = writeln!(o, "# TYPE tapscope_{name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(o, "tapscope_{name}{labels} {v}");
        }
    }
}

/// A label value escaped as the format wants (backslash, quote, newline).
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// One sample without labels.
fn one(v: u64) -> Vec<Sample> {
    vec![(String::new(), v as f64)]
}

fn capture(o: &mut Exposition, s: &Status) {
    let t = &s.totals;
    o.metric(
        "uptime_seconds",
        "gauge",
        "Seconds since the daemon started.",
        &one(s.uptime_s),
    );
    o.metric(
        "packets_total",
        "counter",
        "Frames received, all queues.",
        &one(t.packets),
    );
    o.metric(
        "bytes_total",
        "counter",
        "Wire bytes received, all queues.",
        &one(t.bytes),
    );
    o.metric(
        "ip_packets_total",
        "counter",
        "Frames that became flow packets.",
        &one(t.ip_packets),
    );
    o.metric(
        "parse_errors_total",
        "counter",
        "Frames not parsed into a flow packet (non-IP included).",
        &one(t.parse_errors),
    );
    o.metric(
        "bad_timestamp_total",
        "counter",
        "Frames whose timestamp was too far from the workers' time (accounted at the latest good time).",
        &one(t.bad_timestamp),
    );
    if !s.video.model_version.is_empty() {
        o.metric(
            "video_sessions_active",
            "gauge",
            "Video sessions playing now.",
            &one(s.video.active.len() as u64),
        );
        o.metric(
            "video_sessions_ended_total",
            "counter",
            "Video sessions ended (rows of video_sessions).",
            &one(s.video.sessions_ended),
        );
    }
    let q: Vec<Sample> = s
        .queues
        .iter()
        .map(|q| {
            (
                format!(
                    "{{worker=\"{}\",mode=\"{}\"}}",
                    q.worker,
                    esc(&q.capture_mode)
                ),
                q.packets as f64,
            )
        })
        .collect();
    o.metric(
        "queue_packets_total",
        "counter",
        "Frames received per worker (RX queue).",
        &q,
    );
    let drops: Vec<Sample> = [
        ("src_dropped", t.src_dropped),
        ("src_ring_full", t.src_ring_full),
        ("src_fill_ring_empty", t.src_fill_ring_empty),
        ("src_invalid_descs", t.src_invalid_descs),
        ("records_dropped", t.records_dropped),
        ("summary_queue_full", t.summary_queue_full),
        ("flow_table_full", t.flow_table_full),
        ("name_events_dropped", t.name_events_dropped),
        ("name_reasm_full", t.name_reasm_full),
        ("activity_dropped", t.activity_dropped),
        ("segments_dropped", t.segments_dropped),
        ("nic_rx_dropped", t.nic_rx_dropped),
        ("nic_rx_missed", t.nic_rx_missed),
    ]
    .iter()
    .map(|(c, v)| (format!("{{cause=\"{c}\"}}"), *v as f64))
    .collect();
    o.metric(
        "drops_total",
        "counter",
        "Drops by cause (see the capture table's columns).",
        &drops,
    );
    o.metric(
        "flows_active",
        "gauge",
        "Flows in the workers' tables.",
        &one(t.active_flows),
    );
    o.metric(
        "flow_capacity",
        "gauge",
        "Flow table capacity, all workers.",
        &one(t.flow_capacity),
    );
    o.metric(
        "flows_created_total",
        "counter",
        "Flows created.",
        &one(t.flows_created),
    );
    o.metric(
        "flows_written_total",
        "counter",
        "Flow records written.",
        &one(t.flows_written),
    );
}

fn probes(o: &mut Exposition, p: &ProbeSummary) {
    o.metric(
        "probe_runs_total",
        "counter",
        "Probe runs, all tasks.",
        &one(p.runs),
    );
    o.metric(
        "probe_failures_total",
        "counter",
        "Probe runs that failed, all tasks.",
        &one(p.failures),
    );
    o.metric(
        "probe_rows_buffered",
        "gauge",
        "Probe rows waiting to be written.",
        &one(p.buffered),
    );
    o.metric(
        "probe_rows_dropped_total",
        "counter",
        "Probe rows dropped because the buffer was full.",
        &one(p.dropped),
    );
    let task =
        |t: &ProbeTaskStatus| format!("{{task=\"{}\",kind=\"{}\"}}", esc(&t.name), esc(&t.kind));
    let ok: Vec<Sample> = p
        .tasks
        .iter()
        .filter_map(|t| t.ok.map(|ok| (task(t), ok as u64 as f64)))
        .collect();
    o.metric(
        "probe_ok",
        "gauge",
        "1 when the task's latest run succeeded.",
        &ok,
    );
    let ms: Vec<Sample> = p
        .tasks
        .iter()
        .filter_map(|t| t.rtt_ms.map(|v| (task(t), v / 1e3)))
        .collect();
    o.metric(
        "probe_latest_seconds",
        "gauge",
        "The task's latest main time (median RTT, else total, connect or NTP delay).",
        &ms,
    );
}

fn nic(o: &mut Exposition, s: &Status) {
    let t = &s.totals;
    let Some(up) = t.link_up else { return };
    o.metric(
        "link_up",
        "gauge",
        "1 when the capture interface has carrier.",
        &one(up as u64),
    );
    o.metric(
        "carrier_changes_total",
        "counter",
        "Link up/down transitions.",
        &one(t.carrier_changes),
    );
    o.metric(
        "nic_rx_packets_total",
        "counter",
        "Frames the interface received.",
        &one(t.nic_rx_packets),
    );
}

/// The handshake times since the start as one histogram per leg (exact
/// cumulative buckets, `_sum`, `_count`), and the recent window's
/// quantiles of the whole handshake as gauges.
fn tcp_rtt(o: &mut Exposition, s: &Status) {
    let r = &s.tcp_rtt;
    let mut samples = Vec::new();
    for (leg, d) in [
        ("handshake", &r.handshake),
        ("server_side", &r.server_side),
        ("client_side", &r.client_side),
    ] {
        histogram_samples(leg, d, &mut samples);
    }
    o.metric(
        "tcp_rtt_seconds",
        "histogram",
        "TCP handshake round-trip times seen at the tap since the start: leg handshake is \
         SYN to ACK, server_side SYN to SYN/ACK, client_side SYN/ACK to ACK.",
        &samples,
    );
    let q = &r.recent;
    if q.count == 0 {
        return;
    }
    let quantiles: Vec<Sample> = [
        ("0.5", q.p50_ms),
        ("0.9", q.p90_ms),
        ("0.99", q.p99_ms),
        ("1", q.max_ms),
    ]
    .iter()
    .filter_map(|(label, ms)| ms.map(|v| (format!("{{quantile=\"{label}\"}}"), v / 1e3)))
    .collect();
    o.metric(
        "tcp_rtt_recent_seconds",
        "gauge",
        &format!(
            "Quantiles of the TCP handshake round-trip time (SYN to ACK) over the last {} s \
             of packet time (quantile 1 is the largest).",
            r.recent_window_s
        ),
        &quantiles,
    );
    o.metric(
        "tcp_rtt_recent_handshakes",
        "gauge",
        "TCP handshakes measured over the recent window.",
        &one(q.count),
    );
}

/// The `_bucket`, `_sum` and `_count` samples of one leg. Buckets come
/// from the snapshot; with nothing measured they are the usual bounds with
/// no count (a snapshot with counts but no buckets, which no daemon sends,
/// gives `+Inf` only).
fn histogram_samples(leg: &str, d: &RttDistribution, out: &mut Vec<Sample>) {
    let finite: Vec<(f64, u64)> = if d.buckets.is_empty() && d.count == 0 {
        RTT_BUCKETS_MS.iter().map(|&le| (le, 0)).collect()
    } else {
        d.buckets.iter().map(|b| (b.le_ms, b.count)).collect()
    };
    for (le_ms, count) in finite {
        out.push((
            format!("_bucket{{leg=\"{leg}\",le=\"{}\"}}", le_ms / 1e3),
            count as f64,
        ));
    }
    out.push((
        format!("_bucket{{leg=\"{leg}\",le=\"+Inf\"}}"),
        d.count as f64,
    ));
    out.push((format!("_sum{{leg=\"{leg}\"}}"), d.sum_ms / 1e3));
    out.push((format!("_count{{leg=\"{leg}\"}}"), d.count as f64));
}

fn files(o: &mut Exposition, s: &Status) {
    let svc: Vec<Sample> = s
        .top_services
        .iter()
        .map(|u| (format!("{{service=\"{}\"}}", esc(&u.name)), u.bytes as f64))
        .collect();
    o.metric(
        "service_bytes_total",
        "counter",
        "Bytes per service (the top services).",
        &svc,
    );
    o.metric(
        "files_complete_total",
        "counter",
        "Complete Parquet files written.",
        &one(s.files.complete_files),
    );
    o.metric(
        "files_bytes_written_total",
        "counter",
        "Bytes of complete Parquet files written.",
        &one(s.files.bytes_written),
    );
    o.metric(
        "disk_used_bytes",
        "gauge",
        "Bytes of complete files in the output folder.",
        &one(s.files.disk_used_bytes),
    );
    if let Some(q) = s.files.quota_bytes {
        o.metric("quota_bytes", "gauge", "The retention quota.", &one(q));
    }
}

#[cfg(test)]
mod tests;
