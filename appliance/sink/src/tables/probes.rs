//! The `probes` table: one row per probe run.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, StringArray, TimestampMicrosecondArray, UInt16Array,
    UInt32Array, UInt64Array, UInt8Array,
};
use arrow::error::ArrowError;
use model::probe::ProbeResult;

use crate::columns::{repeat_str, ts_array};
use crate::table::{col, Col, Columns, Table, Ty, NOT_NULL, NULL};

/// The `probes` table. Its rows reach it through the probe buffer
/// ([`crate::ProbeSpool`]), one complete file per write.
#[derive(Clone, Copy, Debug)]
pub struct Probes;

impl Table for Probes {
    type Row = ProbeResult;
    const NAME: &'static str = "probes";
    const TIME_COLUMN: &'static str = "started_at";

    fn columns() -> Vec<Col> {
        PROBES_COLS.to_vec()
    }

    fn data_time(row: &ProbeResult) -> u64 {
        row.started_ns
    }

    fn build(c: &mut Columns<'_>, tap_id: &str, rows: &[&ProbeResult]) -> Result<(), ArrowError> {
        let n = rows.len();
        let s = |f: &dyn Fn(&ProbeResult) -> Option<String>| -> ArrayRef {
            Arc::new(StringArray::from_iter(rows.iter().map(|r| f(r))))
        };
        let f64s = |f: &dyn Fn(&ProbeResult) -> Option<f64>| -> ArrayRef {
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| f(r))))
        };
        let u32s = |f: &dyn Fn(&ProbeResult) -> Option<u32>| -> ArrayRef {
            Arc::new(UInt32Array::from_iter(rows.iter().map(|r| f(r))))
        };
        c.push("tap_id", repeat_str(tap_id, n))?;
        c.push("task", s(&|r| Some(r.task.to_string())))?;
        c.push("kind", s(&|r| Some(r.kind.to_string())))?;
        c.push("target", s(&|r| Some(r.target.to_string())))?;
        c.push("address", s(&|r| r.address.clone()))?;
        c.push("started_at", ts_array(rows.iter().map(|r| r.started_ns)))?;
        c.push("duration_ms", f64s(&|r| Some(r.duration_ms)))?;
        c.push(
            "ok",
            Arc::new(BooleanArray::from_iter(rows.iter().map(|r| Some(r.ok)))),
        )?;
        c.push("error_class", s(&|r| r.error_class().map(str::to_string)))?;
        c.push(
            "error_message",
            s(&|r| r.error.as_ref().map(|e| e.message.clone())),
        )?;
        c.push("sent", u32s(&|r| r.sent))?;
        c.push("received", u32s(&|r| r.received))?;
        c.push("loss", f64s(&|r| r.loss))?;
        c.push("rtt_min_ms", f64s(&|r| r.rtt_min_ms))?;
        c.push("rtt_median_ms", f64s(&|r| r.rtt_median_ms))?;
        c.push("rtt_avg_ms", f64s(&|r| r.rtt_avg_ms))?;
        c.push("rtt_max_ms", f64s(&|r| r.rtt_max_ms))?;
        c.push("rtt_stddev_ms", f64s(&|r| r.rtt_stddev_ms))?;
        c.push("rtt_p50_ms", f64s(&|r| r.rtt_p50_ms))?;
        c.push("rtt_p90_ms", f64s(&|r| r.rtt_p90_ms))?;
        c.push("rtt_p99_ms", f64s(&|r| r.rtt_p99_ms))?;
        c.push("jitter_ms", f64s(&|r| r.jitter_ms))?;
        c.push("reordered", u32s(&|r| r.reordered))?;
        c.push("duplicates", u32s(&|r| r.duplicates))?;
        c.push("dns_ms", f64s(&|r| r.dns_ms))?;
        c.push("connect_ms", f64s(&|r| r.connect_ms))?;
        c.push("tls_ms", f64s(&|r| r.tls_ms))?;
        c.push("first_byte_ms", f64s(&|r| r.first_byte_ms))?;
        c.push("transfer_ms", f64s(&|r| r.transfer_ms))?;
        c.push("total_ms", f64s(&|r| r.total_ms))?;
        c.push(
            "http_status",
            Arc::new(UInt16Array::from_iter(rows.iter().map(|r| r.http_status))),
        )?;
        c.push(
            "body_bytes",
            Arc::new(UInt64Array::from_iter(rows.iter().map(|r| r.body_bytes))),
        )?;
        c.push("tls_version", s(&|r| r.tls_version.clone()))?;
        c.push(
            "cert_not_after",
            Arc::new(
                TimestampMicrosecondArray::from_iter(
                    rows.iter()
                        .map(|r| r.cert_not_after_s.map(|s| s.saturating_mul(1_000_000))),
                )
                .with_timezone("UTC"),
            ),
        )?;
        c.push("cert_days_left", f64s(&|r| r.cert_days_left))?;
        c.push("dns_rcode", s(&|r| r.dns_rcode.clone()))?;
        c.push("answers", s(&|r| r.answers.as_ref().map(|a| a.join(","))))?;
        c.push("ntp_offset_ms", f64s(&|r| r.ntp_offset_ms))?;
        c.push("ntp_delay_ms", f64s(&|r| r.ntp_delay_ms))?;
        c.push(
            "ntp_stratum",
            Arc::new(UInt8Array::from_iter(rows.iter().map(|r| r.ntp_stratum))),
        )?;
        c.push("ntp_reference", s(&|r| r.ntp_reference.clone()))?;
        c.push(
            "hop_count",
            Arc::new(UInt16Array::from_iter(
                rows.iter().map(|r| r.hops.as_ref().map(|h| h.len() as u16)),
            )),
        )?;
        c.push(
            "reached",
            Arc::new(BooleanArray::from_iter(rows.iter().map(|r| r.reached))),
        )?;
        c.push(
            "hops",
            s(&|r| r.hops.as_ref().and_then(|h| serde_json::to_string(h).ok())),
        )?;
        c.push("sent_bps", f64s(&|r| r.sent_bps))?;
        c.push("received_bps", f64s(&|r| r.received_bps))?;
        c.push(
            "retransmits",
            Arc::new(UInt64Array::from_iter(rows.iter().map(|r| r.retransmits))),
        )?;
        c.push("details", s(&|r| r.details.as_ref().map(|d| d.to_string())))
    }
}

const PROBES_COLS: &[Col] = &[
    col("tap_id", Ty::Utf8, NOT_NULL, "Id of the tap that ran the probe."),
    col("task", Ty::Utf8, NOT_NULL, "Name of the probe task ([[probes]] name)."),
    col("kind", Ty::Utf8, NOT_NULL, "icmp, tcp, udp_echo, dns, http, https, ntp, traceroute or throughput."),
    col("target", Ty::Utf8, NOT_NULL, "The task's target as configured: host, host:port, a name to look up (dns) or a URL (http, https)."),
    col("address", Ty::Utf8, NULL, "Address probed after name resolution (ip or ip:port); for dns the server asked; null when resolution failed."),
    col("started_at", Ty::TsUs, NOT_NULL, "Wall-clock start of the run (UTC). The row's data time: it picks the date partition."),
    col("duration_ms", Ty::F64, NOT_NULL, "Wall-clock length of the run, ms."),
    col("ok", Ty::Bool, NOT_NULL, "The run succeeded: the target answered as the task expects."),
    col("error_class", Ty::Utf8, NULL, "Why it failed: timeout, refused, unreachable, resolve, dns_nxdomain, dns_servfail, dns_no_answer, dns_error, tls_handshake, cert_expired, cert_invalid, http_status, unexpected_answer, protocol, not_installed, permission or io; null when ok."),
    col("error_message", Ty::Utf8, NULL, "The failure for people; null when ok."),
    col("sent", Ty::U32, NULL, "icmp, udp_echo: packets sent in the round; traceroute: probes sent to the last hop."),
    col("received", Ty::U32, NULL, "Answers received (first answer per packet)."),
    col("loss", Ty::F64, NULL, "1 - received / sent (0.0 to 1.0); throughput with UDP: iperf3's lost share."),
    col("rtt_min_ms", Ty::F64, NULL, "Smallest RTT of the round, ms (throughput: the sender's smallest TCP RTT)."),
    col("rtt_median_ms", Ty::F64, NULL, "Median RTT of the answered packets, ms."),
    col("rtt_avg_ms", Ty::F64, NULL, "Mean RTT, ms (throughput: the sender's mean TCP RTT)."),
    col("rtt_max_ms", Ty::F64, NULL, "Largest RTT, ms."),
    col("rtt_stddev_ms", Ty::F64, NULL, "Population standard deviation of the RTTs, ms."),
    col("rtt_p50_ms", Ty::F64, NULL, "icmp, udp_echo: median RTT from the round's HDR histogram (3 significant digits), ms; within 0.1 % of rtt_median_ms."),
    col("rtt_p90_ms", Ty::F64, NULL, "icmp, udp_echo: 90th percentile RTT (nearest rank) from the round's HDR histogram, ms."),
    col("rtt_p99_ms", Ty::F64, NULL, "icmp, udp_echo: 99th percentile RTT (nearest rank) from the round's HDR histogram, ms."),
    col("jitter_ms", Ty::F64, NULL, "Mean absolute difference of consecutive RTTs in send order, ms (throughput with UDP: iperf3's jitter); null with fewer than two answers."),
    col("reordered", Ty::U32, NULL, "udp_echo: answers that arrived after the answer to a later packet."),
    col("duplicates", Ty::U32, NULL, "udp_echo: answers received more than once."),
    col("dns_ms", Ty::F64, NULL, "Name lookup time, ms (dns: the query; http(s), tcp, ...: the target's name); null when the target is an address or the lookup was not reached."),
    col("connect_ms", Ty::F64, NULL, "TCP handshake time, ms (tcp, http, https); null when not reached."),
    col("tls_ms", Ty::F64, NULL, "TLS handshake time, ms (https); null when not reached."),
    col("first_byte_ms", Ty::F64, NULL, "From the start of sending the request to the answer's first byte, ms (http, https)."),
    col("transfer_ms", Ty::F64, NULL, "From the first byte to the end of the body, ms (http, https)."),
    col("total_ms", Ty::F64, NULL, "From the start to the last byte (http, https), the handshake (tcp), the answer (dns, ntp), ms."),
    col("http_status", Ty::U16, NULL, "HTTP status code."),
    col("body_bytes", Ty::U64, NULL, "Body size in bytes (after chunked decoding)."),
    col("tls_version", Ty::Utf8, NULL, "TLSv1.2 or TLSv1.3."),
    col("cert_not_after", Ty::TsUs, NULL, "notAfter of the server's certificate (https), read even when the certificate is refused."),
    col("cert_days_left", Ty::F64, NULL, "Days from the run's start to cert_not_after (negative: expired)."),
    col("dns_rcode", Ty::Utf8, NULL, "DNS response code: No Error, Non-Existent Domain, Server Failure, ..."),
    col("answers", Ty::Utf8, NULL, "dns: the answer records of the asked type, comma-separated (A: addresses, MX: preference and host, ...)."),
    col("ntp_offset_ms", Ty::F64, NULL, "ntp: the server's clock minus the tap's, ms ((t2 - t1 + t3 - t4) / 2)."),
    col("ntp_delay_ms", Ty::F64, NULL, "ntp: round-trip delay of the exchange, ms ((t4 - t1) - (t3 - t2))."),
    col("ntp_stratum", Ty::U8, NULL, "ntp: the server's stratum (1 = primary)."),
    col("ntp_reference", Ty::Utf8, NULL, "ntp: the server's reference id: ASCII for stratum 1 (GPS, PPS, ...), an IPv4 address above."),
    col("hop_count", Ty::U16, NULL, "traceroute: hops listed in hops."),
    col("reached", Ty::Bool, NULL, "traceroute: the target answered."),
    col("hops", Ty::Utf8, NULL, "traceroute: JSON array, one object per TTL: ttl, address (null: no answer), sent, received, loss, rtt_ms (array)."),
    col("sent_bps", Ty::F64, NULL, "throughput: bits per second the sender sent (iperf3 sum_sent)."),
    col("received_bps", Ty::F64, NULL, "throughput: bits per second the receiver got (iperf3 sum_received)."),
    col("retransmits", Ty::U64, NULL, "throughput (TCP): segments the sender retransmitted."),
    col("details", Ty::Utf8, NULL, "JSON object with what else the run found (https: cert_error when verification is off; dns: every answer record when some are of another type, transport tcp when the UDP answer was truncated; throughput: protocol, direction, UDP packets)."),
];

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::table::{batch, TableInfo};
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, UInt16Type};
    use model::probe::{ErrorClass, Hop, ProbeError};

    /// 2024-05-01T00:00:00Z.
    const D0: u64 = 1_714_521_600 * 1_000_000_000;

    /// A probes row of an icmp task: a round of 5 with 4 answers, or a
    /// timeout.
    pub(crate) fn row(task: &str, started_ns: u64, ok: bool) -> ProbeResult {
        let mut r = ProbeResult {
            task: Arc::from(task),
            kind: "icmp",
            target: Arc::from("192.0.2.1"),
            started_ns,
            duration_ms: 812.5,
            ok,
            ..ProbeResult::default()
        };
        if ok {
            r.sent = Some(5);
            r.received = Some(4);
            r.loss = Some(0.2);
            r.rtt_min_ms = Some(1.0);
            r.rtt_median_ms = Some(2.5);
            r.rtt_avg_ms = Some(2.5);
            r.rtt_max_ms = Some(4.0);
        } else {
            r.error = Some(ProbeError::new(ErrorClass::Timeout, "no echo reply"));
            r.sent = Some(5);
            r.received = Some(0);
        }
        r
    }

    #[test]
    fn batch_matches_schema_docs_and_nulls() {
        let schema = TableInfo::of::<Probes>().schema();
        assert_eq!(
            TableInfo::of::<Probes>().column_docs().len(),
            schema.fields().len()
        );
        let mut t = row("trace", D0, true);
        t.kind = "traceroute";
        t.hops = Some(vec![Hop {
            ttl: 1,
            address: Some("10.0.0.1".into()),
            sent: 3,
            received: 3,
            rtt_ms: vec![0.1, 0.2, 0.3],
            loss: 0.0,
        }]);
        let failed = row("ping", D0, false);
        let b = batch::<Probes>(&schema, "t", &[&t, &failed]).unwrap();
        assert_eq!(b.num_rows(), 2);
        let hops = b.column_by_name("hops").unwrap().as_string::<i32>();
        assert!(hops
            .value(0)
            .starts_with("[{\"ttl\":1,\"address\":\"10.0.0.1\""));
        assert!(hops.is_null(1));
        let hc = b
            .column_by_name("hop_count")
            .unwrap()
            .as_primitive::<UInt16Type>();
        assert_eq!(hc.value(0), 1);
        // A failed run: error set, timings null (not zero).
        let rtt = b
            .column_by_name("rtt_median_ms")
            .unwrap()
            .as_primitive::<Float64Type>();
        assert_eq!(rtt.value(0), 2.5);
        assert!(rtt.is_null(1));
        let class = b.column_by_name("error_class").unwrap().as_string::<i32>();
        assert!(class.is_null(0));
        assert_eq!(class.value(1), "timeout");
    }
}
