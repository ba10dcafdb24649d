//! `throughput`: a capacity test against an iperf3 server, run by the
//! iperf3 client (`iperf3 -c HOST -J`, the real iperf3 protocol) and read
//! from its JSON report: bits per second sent and received, TCP
//! retransmits and RTT. Without an iperf3 client the run fails with
//! `not_installed`.

use std::process::Stdio;

use serde_json::Value;
use tokio::process::Command;

use super::{host_port, ErrorClass, ProbeError, ProbeResult, ProbeTask};

/// What an iperf3 JSON report says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Report {
    /// The sender's rate, bit/s.
    pub sent_bps: Option<f64>,
    /// The receiver's rate, bit/s.
    pub received_bps: Option<f64>,
    /// TCP retransmissions of the sending streams.
    pub retransmits: Option<u64>,
    /// Mean RTT of the sending streams, ms (TCP).
    pub rtt_ms: Option<f64>,
    /// Smallest RTT of the sending streams, ms (TCP).
    pub min_rtt_ms: Option<f64>,
    /// Largest RTT of the sending streams, ms (TCP).
    pub max_rtt_ms: Option<f64>,
    /// UDP: jitter and lost packets as iperf3 measured them.
    pub jitter_ms: Option<f64>,
    /// UDP: lost packets, percent.
    pub lost_percent: Option<f64>,
    /// UDP: packets sent.
    pub packets: Option<u64>,
    /// UDP: packets lost.
    pub lost_packets: Option<u64>,
    /// The server iperf3 connected to.
    pub remote_host: Option<String>,
    /// iperf3's own error text, when it reports one.
    pub error: Option<String>,
}

/// Reads `iperf3 -J` output.
pub fn parse_report(json: &str) -> Result<Report, String> {
    let v: Value = serde_json::from_str(json).map_err(|e| format!("not iperf3 JSON: {e}"))?;
    let f = |p: &str| v.pointer(p).and_then(Value::as_f64);
    let u = |p: &str| v.pointer(p).and_then(Value::as_u64);
    let mut r = Report {
        error: v.get("error").and_then(Value::as_str).map(str::to_string),
        remote_host: v
            .pointer("/start/connected/0/remote_host")
            .and_then(Value::as_str)
            .map(str::to_string),
        ..Report::default()
    };
    let udp = v
        .pointer("/start/test_start/protocol")
        .and_then(Value::as_str)
        == Some("UDP")
        || v.pointer("/end/streams/0/udp").is_some();
    if udp {
        // UDP: the receiver's view (sum_received, iperf3 3.8 and later),
        // else the one summary older versions give.
        let recv = |k: &str| f(&format!("/end/sum_received/{k}")).or(f(&format!("/end/sum/{k}")));
        r.sent_bps = f("/end/sum_sent/bits_per_second").or(f("/end/sum/bits_per_second"));
        r.received_bps = recv("bits_per_second");
        r.jitter_ms = recv("jitter_ms");
        r.lost_percent = recv("lost_percent");
        r.packets = recv("packets").map(|p| p as u64);
        r.lost_packets = recv("lost_packets").map(|p| p as u64);
    } else {
        r.sent_bps = f("/end/sum_sent/bits_per_second");
        r.received_bps = f("/end/sum_received/bits_per_second");
        r.retransmits = u("/end/sum_sent/retransmits");
    }
    // RTT of the sending side's streams (TCP only; microseconds).
    let senders: Vec<&Value> = v
        .pointer("/end/streams")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.get("sender")).collect())
        .unwrap_or_default();
    let us = |k: &str| -> Vec<f64> {
        senders
            .iter()
            .filter_map(|s| s.get(k).and_then(Value::as_f64))
            .collect()
    };
    let mean = us("mean_rtt");
    if !mean.is_empty() {
        r.rtt_ms = Some(mean.iter().sum::<f64>() / mean.len() as f64 / 1e3);
        r.min_rtt_ms = us("min_rtt").into_iter().reduce(f64::min).map(|v| v / 1e3);
        r.max_rtt_ms = us("max_rtt").into_iter().reduce(f64::max).map(|v| v / 1e3);
    }
    if r.error.is_none() && r.sent_bps.is_none() {
        return Err("iperf3 JSON without an end summary".into());
    }
    Ok(r)
}

/// The class of an iperf3 error text.
pub fn error_class(text: &str) -> ErrorClass {
    let t = text.to_ascii_lowercase();
    if t.contains("connection refused") {
        ErrorClass::Refused
    } else if t.contains("no route to host")
        || t.contains("network is unreachable")
        || t.contains("host is unreachable")
    {
        ErrorClass::Unreachable
    } else if t.contains("timed out") || t.contains("timeout") {
        ErrorClass::Timeout
    } else if t.contains("busy") {
        // "the server is busy running a test. try again later"
        ErrorClass::Refused
    } else if t.contains("name or service not known") || t.contains("resolve") {
        ErrorClass::Resolve
    } else {
        ErrorClass::Protocol
    }
}

/// Runs the iperf3 client for the task; rates and retransmits into `r`,
/// its report's figures into `r.details`.
pub async fn run(task: &ProbeTask, r: &mut ProbeResult) -> Result<(), ProbeError> {
    let p = &task.params;
    let (host, port) = host_port(task, 5201)?;
    let secs = p.duration.as_secs().max(1);
    let mut cmd = Command::new(&p.iperf3);
    cmd.arg("-c")
        .arg(&host)
        .arg("-p")
        .arg(port.to_string())
        .arg("-t")
        .arg(secs.to_string())
        .arg("-J")
        // Give up connecting after the task's budget for it.
        .arg("--connect-timeout")
        .arg(((task.timeout.as_millis() as u64 / 2).clamp(500, 30_000)).to_string());
    if p.reverse {
        cmd.arg("-R");
    }
    if p.udp {
        cmd.arg("-u");
    }
    if let Some(b) = &p.bandwidth {
        cmd.arg("-b").arg(b);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = match cmd.output().await {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ProbeError::new(
                ErrorClass::NotInstalled,
                format!("`{}` not found: install iperf3", p.iperf3),
            ))
        }
        Err(e) => return Err(ProbeError::io(&format!("running {}", p.iperf3), &e)),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = match parse_report(&stdout) {
        Ok(rep) => rep,
        Err(e) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let text = format!("{}: {e} {}", p.iperf3, stderr.trim());
            return Err(ProbeError::new(error_class(&text), text));
        }
    };
    r.address = report.remote_host.clone().or(Some(host.clone()));
    r.sent_bps = report.sent_bps;
    r.received_bps = report.received_bps;
    r.retransmits = report.retransmits;
    r.rtt_avg_ms = report.rtt_ms;
    r.rtt_min_ms = report.min_rtt_ms;
    r.rtt_max_ms = report.max_rtt_ms;
    r.jitter_ms = report.jitter_ms;
    r.loss = report.lost_percent.map(|l| l / 100.0);
    r.details = Some(serde_json::json!({
        "protocol": if p.udp { "udp" } else { "tcp" },
        "reverse": p.reverse,
        "seconds": secs,
        "packets": report.packets,
        "lost_packets": report.lost_packets,
    }));
    if let Some(e) = report.error {
        return Err(ProbeError::new(error_class(&e), format!("iperf3: {e}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = r#"{
      "start": {"connected": [{"socket": 5, "local_host": "10.9.0.1", "local_port": 40000,
                               "remote_host": "10.9.0.2", "remote_port": 5201}]},
      "intervals": [],
      "end": {
        "streams": [{"sender": {"bytes": 100, "bits_per_second": 9.4e8, "retransmits": 3,
                                "max_rtt": 900, "min_rtt": 100, "mean_rtt": 400, "sender": true},
                     "receiver": {"bits_per_second": 9.3e8, "sender": false}}],
        "sum_sent": {"seconds": 5.0, "bytes": 587500000, "bits_per_second": 940000000.0, "retransmits": 3},
        "sum_received": {"seconds": 5.0, "bytes": 581250000, "bits_per_second": 930000000.0}
      }
    }"#;

    #[test]
    fn tcp_report() {
        let r = parse_report(TCP).unwrap();
        assert_eq!(r.sent_bps, Some(9.4e8));
        assert_eq!(r.received_bps, Some(9.3e8));
        assert_eq!(r.retransmits, Some(3));
        assert_eq!(r.rtt_ms, Some(0.4));
        assert_eq!((r.min_rtt_ms, r.max_rtt_ms), (Some(0.1), Some(0.9)));
        assert_eq!(r.remote_host.as_deref(), Some("10.9.0.2"));
        assert_eq!(r.error, None);
    }

    #[test]
    fn udp_report_and_errors() {
        // iperf3 before 3.8: one `sum`.
        let udp = r#"{"start": {"test_start": {"protocol": "UDP"}}, "end": {"streams": [],
            "sum": {"bits_per_second": 1048576.0, "jitter_ms": 0.05, "lost_packets": 2,
                    "packets": 100, "lost_percent": 2.0}}}"#;
        let r = parse_report(udp).unwrap();
        assert_eq!(r.sent_bps, Some(1048576.0));
        assert_eq!(r.received_bps, Some(1048576.0));
        assert_eq!(r.lost_percent, Some(2.0));
        assert_eq!((r.packets, r.lost_packets), (Some(100), Some(2)));
        assert_eq!(r.rtt_ms, None);
        assert_eq!(r.retransmits, None);
        // iperf3 3.12 (Debian 12), as it prints it: the receiver's jitter
        // and loss are in sum_received, sum_sent has jitter 0.
        let udp312 = r#"{"start": {"test_start": {"protocol": "UDP", "num_streams": 1}},
          "end": {"streams": [{"udp": {"bits_per_second": 10222695.9, "jitter_ms": 0.015,
                                       "lost_packets": 0, "packets": 39, "sender": true}}],
            "sum": {"bits_per_second": 10222695.957363838, "jitter_ms": 0.015057447581547716,
                    "lost_packets": 0, "packets": 39, "lost_percent": 0, "sender": true},
            "sum_sent": {"bits_per_second": 10222695.957363838, "jitter_ms": 0,
                         "lost_packets": 0, "packets": 39, "lost_percent": 0, "sender": true},
            "sum_received": {"bits_per_second": 10221142.483518988, "jitter_ms": 0.015057447581547716,
                             "lost_packets": 1, "packets": 39, "lost_percent": 2.56, "sender": false}}}"#;
        let r = parse_report(udp312).unwrap();
        assert_eq!(r.sent_bps, Some(10222695.957363838));
        assert_eq!(r.received_bps, Some(10221142.483518988));
        assert_eq!(r.jitter_ms, Some(0.015057447581547716));
        assert_eq!((r.lost_percent, r.lost_packets), (Some(2.56), Some(1)));
        assert_eq!(r.retransmits, None);
        let failed = r#"{"start": {"connected": [], "version": "iperf 3.12"}, "intervals": [],
            "end": {}, "error": "unable to connect to server: Connection refused"}"#;
        let r = parse_report(failed).unwrap();
        assert_eq!(
            error_class(r.error.as_deref().unwrap()),
            ErrorClass::Refused
        );
        assert!(parse_report("").is_err());
        assert!(parse_report("{\"start\": {}}").is_err());
        assert_eq!(
            error_class("unable to connect to server: No route to host"),
            ErrorClass::Unreachable
        );
        assert_eq!(
            error_class("control socket has closed unexpectedly"),
            ErrorClass::Protocol
        );
    }
}
