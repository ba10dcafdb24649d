//! The probe model: what a probe task is ([`ProbeTask`]) and what one run
//! of it records ([`ProbeResult`], one `probes` row).
//!
//! A failed run records an [`ErrorClass`] (a small, stable set of names)
//! and a message, and leaves the timings of the phases it did not reach
//! null, never zero.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// What a probe measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeKind {
    /// ICMP echo round (ping).
    Icmp,
    /// TCP connect time.
    Tcp,
    /// UDP echo round to tapscope's echo responder.
    UdpEcho,
    /// One DNS query.
    Dns,
    /// One GET over HTTP/1.1.
    Http,
    /// One GET over HTTP/1.1 in TLS, with the certificate's expiry.
    Https,
    /// One NTP client exchange: offset, delay, stratum.
    Ntp,
    /// The path, hop by hop (ICMP with rising TTLs).
    Traceroute,
    /// A throughput test through iperf3.
    Throughput,
}

impl ProbeKind {
    /// Every kind.
    pub const ALL: [ProbeKind; 9] = [
        ProbeKind::Icmp,
        ProbeKind::Tcp,
        ProbeKind::UdpEcho,
        ProbeKind::Dns,
        ProbeKind::Http,
        ProbeKind::Https,
        ProbeKind::Ntp,
        ProbeKind::Traceroute,
        ProbeKind::Throughput,
    ];

    /// The kind's name (configuration and the `kind` column).
    pub fn name(self) -> &'static str {
        match self {
            ProbeKind::Icmp => "icmp",
            ProbeKind::Tcp => "tcp",
            ProbeKind::UdpEcho => "udp_echo",
            ProbeKind::Dns => "dns",
            ProbeKind::Http => "http",
            ProbeKind::Https => "https",
            ProbeKind::Ntp => "ntp",
            ProbeKind::Traceroute => "traceroute",
            ProbeKind::Throughput => "throughput",
        }
    }

    /// The kind named `s`.
    pub fn from_name(s: &str) -> Option<ProbeKind> {
        ProbeKind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Why a run failed. The names are stable: they are what the `probes`
/// table's `error_class` column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// No answer within the time allowed.
    Timeout,
    /// The port is closed (TCP RST, ICMP port unreachable).
    Refused,
    /// No route, or an ICMP host/network unreachable.
    Unreachable,
    /// The target's name could not be resolved.
    Resolve,
    /// DNS answered NXDOMAIN.
    DnsNxdomain,
    /// DNS answered SERVFAIL.
    DnsServfail,
    /// DNS answered NOERROR without a record of the asked type.
    DnsNoAnswer,
    /// DNS answered another error code (REFUSED, FORMERR, ...).
    DnsError,
    /// The TLS handshake failed (other than the certificate).
    TlsHandshake,
    /// The server's certificate has expired (or is not yet valid).
    CertExpired,
    /// The server's certificate is not trusted or not for this name.
    CertInvalid,
    /// HTTP answered a status the task does not expect.
    HttpStatus,
    /// DNS answers do not include the expected one.
    UnexpectedAnswer,
    /// The peer answered something that is not the protocol.
    Protocol,
    /// A tool the probe needs (iperf3) is not installed.
    NotInstalled,
    /// The probe needs a privilege it does not have (raw sockets).
    Permission,
    /// Any other local error.
    Io,
}

impl ErrorClass {
    /// The class's stable name (the `error_class` column).
    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Timeout => "timeout",
            ErrorClass::Refused => "refused",
            ErrorClass::Unreachable => "unreachable",
            ErrorClass::Resolve => "resolve",
            ErrorClass::DnsNxdomain => "dns_nxdomain",
            ErrorClass::DnsServfail => "dns_servfail",
            ErrorClass::DnsNoAnswer => "dns_no_answer",
            ErrorClass::DnsError => "dns_error",
            ErrorClass::TlsHandshake => "tls_handshake",
            ErrorClass::CertExpired => "cert_expired",
            ErrorClass::CertInvalid => "cert_invalid",
            ErrorClass::HttpStatus => "http_status",
            ErrorClass::UnexpectedAnswer => "unexpected_answer",
            ErrorClass::Protocol => "protocol",
            ErrorClass::NotInstalled => "not_installed",
            ErrorClass::Permission => "permission",
            ErrorClass::Io => "io",
        }
    }

    /// The class of a socket error.
    pub fn of_io(e: &io::Error) -> ErrorClass {
        use io::ErrorKind as K;
        match e.kind() {
            K::ConnectionRefused => return ErrorClass::Refused,
            K::TimedOut | K::WouldBlock => return ErrorClass::Timeout,
            K::PermissionDenied => return ErrorClass::Permission,
            K::HostUnreachable | K::NetworkUnreachable => return ErrorClass::Unreachable,
            _ => {}
        }
        match e.raw_os_error() {
            Some(libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EHOSTDOWN | libc::ENETDOWN) => {
                ErrorClass::Unreachable
            }
            Some(libc::ECONNREFUSED) => ErrorClass::Refused,
            Some(libc::EACCES | libc::EPERM) => ErrorClass::Permission,
            _ => ErrorClass::Io,
        }
    }
}

/// A failure: its class and a message for people.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeError {
    /// What kind of failure.
    pub class: ErrorClass,
    /// What happened, for people.
    pub message: String,
}

impl ProbeError {
    /// A failure of `class`.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> ProbeError {
        ProbeError {
            class,
            message: message.into(),
        }
    }

    /// A socket error while doing `what`, classed by [`ErrorClass::of_io`].
    pub fn io(what: &str, e: &io::Error) -> ProbeError {
        ProbeError::new(ErrorClass::of_io(e), format!("{what}: {e}"))
    }

    /// No answer in time while doing `what`.
    pub fn timeout(what: &str) -> ProbeError {
        ProbeError::new(ErrorClass::Timeout, format!("{what}: no answer in time"))
    }
}

/// One probe task, validated (see `config::ProbeEntry`).
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeTask {
    /// The task's name (the `task` column).
    pub name: Arc<str>,
    /// What it measures.
    pub kind: ProbeKind,
    /// As configured: host, host:port, a name to look up, or a URL.
    pub target: Arc<str>,
    /// Time between the starts of two runs.
    pub interval: Duration,
    /// Whole-run limit: a run still going after it is recorded as `timeout`.
    pub timeout: Duration,
    /// The kind's parameters.
    pub params: ProbeParams,
}

/// Per-kind parameters; each kind reads its own.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeParams {
    /// icmp, udp_echo: packets per round.
    pub count: u32,
    /// icmp, udp_echo: time between packets of a round.
    pub spacing: Duration,
    /// icmp, udp_echo, traceroute: how long to wait for each answer.
    pub wait: Duration,
    /// icmp, udp_echo: payload bytes.
    pub size: usize,
    /// Port when the target has none (tcp, udp_echo, ntp, throughput, dns server).
    pub port: Option<u16>,
    /// dns: the server to ask (`ip` or `ip:port`); None = /etc/resolv.conf.
    /// http(s): resolve the URL's host through this server instead of the system.
    pub server: Option<String>,
    /// dns: record type.
    pub qtype: String,
    /// dns: answers of which at least one must be present.
    pub expect: Vec<String>,
    /// http(s): accepted status codes (empty = 200 to 399).
    pub expect_status: Vec<u16>,
    /// https: verify the certificate chain and name.
    pub verify_tls: bool,
    /// https: extra trusted roots (PEM), added to the built-in ones.
    pub ca_file: Option<PathBuf>,
    /// traceroute: highest TTL.
    pub max_hops: u8,
    /// traceroute: probes sent per hop.
    pub probes_per_hop: u8,
    /// throughput: test length.
    pub duration: Duration,
    /// throughput: the server sends (iperf3 `-R`).
    pub reverse: bool,
    /// throughput: UDP instead of TCP.
    pub udp: bool,
    /// throughput: the UDP rate (iperf3 `-b`, e.g. `10M`).
    pub bandwidth: Option<String>,
    /// throughput: the iperf3 client to run.
    pub iperf3: String,
}

impl Default for ProbeParams {
    fn default() -> Self {
        ProbeParams {
            count: 5,
            spacing: Duration::from_millis(200),
            wait: Duration::from_secs(1),
            size: 56,
            port: None,
            server: None,
            qtype: "A".into(),
            expect: Vec::new(),
            expect_status: Vec::new(),
            verify_tls: true,
            ca_file: None,
            max_hops: 30,
            probes_per_hop: 3,
            duration: Duration::from_secs(5),
            reverse: false,
            udp: false,
            bandwidth: None,
            iperf3: "iperf3".into(),
        }
    }
}

/// One traceroute hop.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Hop {
    /// The TTL sent.
    pub ttl: u8,
    /// The address that answered (None: nobody did).
    pub address: Option<String>,
    /// Probes sent with this TTL.
    pub sent: u32,
    /// Answers to them.
    pub received: u32,
    /// RTT of each answer, ms.
    pub rtt_ms: Vec<f64>,
    /// 1 - received / sent.
    pub loss: f64,
}

/// What one run measured: one row of the `probes` table. Fields a kind does
/// not measure, and phases a failed run did not reach, are `None`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProbeResult {
    /// The task's name.
    pub task: Arc<str>,
    /// The kind's name ([`ProbeKind::name`]).
    pub kind: &'static str,
    /// The task's target, as configured.
    pub target: Arc<str>,
    /// Wall-clock start, Unix ns.
    pub started_ns: u64,
    /// Wall-clock length of the run, ms.
    pub duration_ms: f64,
    /// The run succeeded.
    pub ok: bool,
    /// Why it failed.
    pub error: Option<ProbeError>,
    /// The address probed (after name resolution).
    pub address: Option<String>,
    /// Packet rounds (icmp, udp_echo): packets sent.
    pub sent: Option<u32>,
    /// Packet rounds: answers received.
    pub received: Option<u32>,
    /// Packet rounds: 1 - received / sent.
    pub loss: Option<f64>,
    /// Packet rounds: smallest RTT, ms.
    pub rtt_min_ms: Option<f64>,
    /// Packet rounds: median RTT (exact), ms.
    pub rtt_median_ms: Option<f64>,
    /// Packet rounds: mean RTT, ms.
    pub rtt_avg_ms: Option<f64>,
    /// Packet rounds: largest RTT, ms.
    pub rtt_max_ms: Option<f64>,
    /// Packet rounds: population standard deviation of the RTTs, ms.
    pub rtt_stddev_ms: Option<f64>,
    /// Packet rounds: median RTT from the round's HDR histogram, ms
    /// (within 0.1 % of `rtt_median_ms`; see `probe::stats`).
    pub rtt_p50_ms: Option<f64>,
    /// Packet rounds: 90th percentile RTT (nearest rank), from the
    /// histogram, ms.
    pub rtt_p90_ms: Option<f64>,
    /// Packet rounds: 99th percentile RTT (nearest rank), from the
    /// histogram, ms.
    pub rtt_p99_ms: Option<f64>,
    /// Packet rounds: mean difference of consecutive RTTs, ms.
    pub jitter_ms: Option<f64>,
    /// Packet rounds: answers that came after an answer to a later packet.
    pub reordered: Option<u32>,
    /// Packet rounds: answers received more than once.
    pub duplicates: Option<u32>,
    /// Phases (tcp, http, https, dns): name lookup, ms.
    pub dns_ms: Option<f64>,
    /// Phases: TCP connect, ms.
    pub connect_ms: Option<f64>,
    /// Phases: TLS handshake, ms.
    pub tls_ms: Option<f64>,
    /// Phases: from sending the request to the first byte of the answer, ms.
    pub first_byte_ms: Option<f64>,
    /// Phases: from the first byte to the end of the answer, ms.
    pub transfer_ms: Option<f64>,
    /// Phases: the whole exchange, lookup included, ms.
    pub total_ms: Option<f64>,
    /// http(s): the answer's status.
    pub http_status: Option<u16>,
    /// http(s): the body's size (after chunked framing), bytes.
    pub body_bytes: Option<u64>,
    /// https: the TLS version negotiated.
    pub tls_version: Option<String>,
    /// Certificate notAfter, Unix seconds.
    pub cert_not_after_s: Option<i64>,
    /// https: days from the run's start to notAfter (negative: expired).
    pub cert_days_left: Option<f64>,
    /// dns: the answer's response code.
    pub dns_rcode: Option<String>,
    /// dns: the answers' data, as text.
    pub answers: Option<Vec<String>>,
    /// ntp: the local clock's offset from the server's, ms.
    pub ntp_offset_ms: Option<f64>,
    /// ntp: round-trip delay, ms.
    pub ntp_delay_ms: Option<f64>,
    /// ntp: the server's stratum.
    pub ntp_stratum: Option<u8>,
    /// ntp: the server's reference (a clock name or an address).
    pub ntp_reference: Option<String>,
    /// traceroute: each hop.
    pub hops: Option<Vec<Hop>>,
    /// traceroute: the target answered.
    pub reached: Option<bool>,
    /// throughput: the sender's rate, bit/s.
    pub sent_bps: Option<f64>,
    /// throughput: the receiver's rate, bit/s.
    pub received_bps: Option<f64>,
    /// throughput: TCP retransmissions.
    pub retransmits: Option<u64>,
    /// Anything else worth keeping, as JSON (iperf3's intervals, ...).
    pub details: Option<serde_json::Value>,
}

impl ProbeResult {
    /// An empty result of `task` starting now.
    pub fn start(task: &ProbeTask) -> ProbeResult {
        ProbeResult {
            task: task.name.clone(),
            kind: task.kind.name(),
            target: task.target.clone(),
            started_ns: unix_ns(),
            ..ProbeResult::default()
        }
    }

    /// Marks the run failed.
    pub fn fail(&mut self, e: ProbeError) {
        self.ok = false;
        self.error = Some(e);
    }

    /// The class name of the error, if any.
    pub fn error_class(&self) -> Option<&'static str> {
        self.error.as_ref().map(|e| e.class.name())
    }

    /// One line for people: the main figure of the kind, or the error.
    pub fn headline(&self) -> String {
        if let Some(e) = &self.error {
            return format!("{}: {}", e.class.name(), e.message);
        }
        let ms = |v: f64| format!("{v:.2} ms");
        match self.kind {
            "icmp" | "udp_echo" => format!(
                "rtt {} (min {}, p90 {}, p99 {}, max {}), loss {:.0} %, jitter {}",
                self.rtt_median_ms.map_or("-".into(), ms),
                self.rtt_min_ms.map_or("-".into(), ms),
                self.rtt_p90_ms.map_or("-".into(), ms),
                self.rtt_p99_ms.map_or("-".into(), ms),
                self.rtt_max_ms.map_or("-".into(), ms),
                self.loss.unwrap_or(0.0) * 100.0,
                self.jitter_ms.map_or("-".into(), ms),
            ),
            "tcp" => format!("connect {}", self.connect_ms.map_or("-".into(), ms)),
            "dns" => format!(
                "{} in {}: {}",
                self.dns_rcode.as_deref().unwrap_or("-"),
                self.total_ms.map_or("-".into(), ms),
                self.answers
                    .as_ref()
                    .map_or(String::new(), |a| a.join(", "))
            ),
            "http" | "https" => format!(
                "{} in {}, {} bytes{}",
                self.http_status.map_or("-".into(), |s| s.to_string()),
                self.total_ms.map_or("-".into(), ms),
                self.body_bytes.unwrap_or(0),
                self.cert_days_left
                    .map_or(String::new(), |d| format!(", cert {d:.0} days left"))
            ),
            "ntp" => format!(
                "offset {}, delay {}, stratum {}",
                self.ntp_offset_ms.map_or("-".into(), ms),
                self.ntp_delay_ms.map_or("-".into(), ms),
                self.ntp_stratum.map_or("-".into(), |s| s.to_string())
            ),
            "traceroute" => {
                let n = self.hops.as_ref().map_or(0, |h| h.len());
                format!(
                    "{n} hops, {}",
                    if self.reached == Some(true) {
                        "reached"
                    } else {
                        "not reached"
                    }
                )
            }
            "throughput" => format!(
                "{:.1} Mbit/s, {} retransmits",
                self.received_bps.or(self.sent_bps).unwrap_or(0.0) / 1e6,
                self.retransmits.map_or("-".into(), |r| r.to_string())
            ),
            _ => "ok".into(),
        }
    }
}

impl ProbeResult {
    /// The result as a JSON object with the `probes` table's column names
    /// (nulls left out; `hops` and `details` as JSON, not text).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::{json, Map, Value};
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            if !v.is_null() {
                m.insert(k.to_string(), v);
            }
        };
        put("task", json!(&*self.task));
        put("kind", json!(self.kind));
        put("target", json!(&*self.target));
        put("address", json!(self.address));
        put("started_at_unix_ns", json!(self.started_ns));
        put("duration_ms", json!(self.duration_ms));
        put("ok", json!(self.ok));
        put("error_class", json!(self.error_class()));
        put(
            "error_message",
            json!(self.error.as_ref().map(|e| &e.message)),
        );
        put("sent", json!(self.sent));
        put("received", json!(self.received));
        put("loss", json!(self.loss));
        put("rtt_min_ms", json!(self.rtt_min_ms));
        put("rtt_median_ms", json!(self.rtt_median_ms));
        put("rtt_avg_ms", json!(self.rtt_avg_ms));
        put("rtt_max_ms", json!(self.rtt_max_ms));
        put("rtt_stddev_ms", json!(self.rtt_stddev_ms));
        put("rtt_p50_ms", json!(self.rtt_p50_ms));
        put("rtt_p90_ms", json!(self.rtt_p90_ms));
        put("rtt_p99_ms", json!(self.rtt_p99_ms));
        put("jitter_ms", json!(self.jitter_ms));
        put("reordered", json!(self.reordered));
        put("duplicates", json!(self.duplicates));
        put("dns_ms", json!(self.dns_ms));
        put("connect_ms", json!(self.connect_ms));
        put("tls_ms", json!(self.tls_ms));
        put("first_byte_ms", json!(self.first_byte_ms));
        put("transfer_ms", json!(self.transfer_ms));
        put("total_ms", json!(self.total_ms));
        put("http_status", json!(self.http_status));
        put("body_bytes", json!(self.body_bytes));
        put("tls_version", json!(self.tls_version));
        put("cert_not_after_unix_s", json!(self.cert_not_after_s));
        put("cert_days_left", json!(self.cert_days_left));
        put("dns_rcode", json!(self.dns_rcode));
        put("answers", json!(self.answers));
        put("ntp_offset_ms", json!(self.ntp_offset_ms));
        put("ntp_delay_ms", json!(self.ntp_delay_ms));
        put("ntp_stratum", json!(self.ntp_stratum));
        put("ntp_reference", json!(self.ntp_reference));
        put("reached", json!(self.reached));
        put("hops", json!(self.hops));
        put("sent_bps", json!(self.sent_bps));
        put("received_bps", json!(self.received_bps));
        put("retransmits", json!(self.retransmits));
        put("details", self.details.clone().unwrap_or(Value::Null));
        Value::Object(m)
    }
}

/// Now, Unix ns.
pub fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round() -> ProbeResult {
        ProbeResult {
            kind: "icmp",
            ok: true,
            sent: Some(4),
            received: Some(4),
            loss: Some(0.0),
            rtt_min_ms: Some(10.0),
            rtt_median_ms: Some(11.5),
            rtt_max_ms: Some(15.0),
            rtt_p50_ms: Some(11.504),
            rtt_p90_ms: Some(15.0),
            rtt_p99_ms: Some(15.0),
            jitter_ms: Some(2.0),
            ..ProbeResult::default()
        }
    }

    #[test]
    fn percentiles_are_in_the_json_and_the_headline() {
        let r = round();
        let j = r.to_json();
        assert_eq!(j["rtt_p50_ms"], 11.504);
        assert_eq!(j["rtt_p90_ms"], 15.0);
        assert_eq!(j["rtt_p99_ms"], 15.0);
        assert_eq!(j["rtt_median_ms"], 11.5);
        assert_eq!(
            r.headline(),
            "rtt 11.50 ms (min 10.00 ms, p90 15.00 ms, p99 15.00 ms, max 15.00 ms), loss 0 %, \
             jitter 2.00 ms"
        );
        // Nulls are left out.
        let none = ProbeResult {
            kind: "icmp",
            ..ProbeResult::default()
        };
        let j = none.to_json();
        assert!(j.get("rtt_p90_ms").is_none() && j.get("rtt_p50_ms").is_none());
        assert!(none.headline().contains("p90 -, p99 -"));
    }
}
