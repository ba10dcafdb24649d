//! `[[probes]]` entries: one struct per probe kind, chosen by `kind`, so
//! serde itself rejects a key that does not apply to the kind; each
//! entry becomes the [`ProbeTask`] the probe thread runs.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use probe::{ProbeKind, ProbeParams, ProbeTask};
use serde::Deserialize;

/// `protocol` of a throughput probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThroughputProtocol {
    /// A TCP test.
    Tcp,
    /// A UDP test at `bandwidth`.
    Udp,
}

/// Declares [`ProbeEntry`] and one entry struct per kind: the keys every
/// kind has, then the kind's own (all optional, with per-kind defaults).
macro_rules! probe_entries {
    ($(
        $(#[$vdoc:meta])*
        $variant:ident($entry:ident) {
            $( $(#[$fdoc:meta])* $field:ident: $ty:ty, )*
        }
    )*) => {
        /// One `[[probes]]` task; `kind` says which struct reads the rest.
        /// The variants are in the order errors list the kinds.
        #[derive(Clone, Debug, Deserialize, PartialEq)]
        #[serde(tag = "kind", rename_all = "snake_case")]
        pub enum ProbeEntry {
            $( $(#[$vdoc])* $variant($entry), )*
        }

        $(
            $(#[$vdoc])*
            #[derive(Clone, Debug, Default, Deserialize, PartialEq)]
            #[serde(deny_unknown_fields)]
            pub struct $entry {
                /// 1 to 64 letters, digits, `_`, `-` or `.`; unique.
                pub name: String,
                /// What to probe: host, host:port, a name or a URL.
                pub target: String,
                /// Seconds between runs (default 60).
                pub interval_s: Option<f64>,
                /// Whole-run limit, seconds (default per kind).
                pub timeout_s: Option<f64>,
                $( $(#[$fdoc])* pub $field: Option<$ty>, )*
            }
        )*

        impl ProbeEntry {
            /// The keys every kind has.
            pub fn common(&self) -> Common<'_> {
                match self {
                    $( ProbeEntry::$variant(e) => Common {
                        name: &e.name,
                        target: &e.target,
                        interval_s: e.interval_s,
                        timeout_s: e.timeout_s,
                    }, )*
                }
            }

            /// The kind of probe.
            pub fn kind(&self) -> ProbeKind {
                match self {
                    $( ProbeEntry::$variant(_) => ProbeKind::$variant, )*
                }
            }

            /// The keys of `kind` beyond the common ones.
            pub fn keys_of(kind: ProbeKind) -> &'static [&'static str] {
                match kind {
                    $( ProbeKind::$variant => &[$(stringify!($field)),*], )*
                }
            }
        }
    };
}

probe_entries! {
    /// `icmp`: echo requests.
    Icmp(IcmpEntry) {
        /// Echo requests per round (default 5).
        count: u32,
        /// Time between them (default 200).
        interval_ms: u64,
        /// How long to wait for each answer (default 1000).
        wait_ms: u64,
        /// Payload bytes (default 56).
        size: usize,
    }
    /// `tcp`: a connect.
    Tcp(TcpEntry) {
        /// The port when the target has none.
        port: u16,
    }
    /// `udp_echo`: datagrams to an echo server.
    UdpEcho(UdpEchoEntry) {
        /// Datagrams per round (default 10).
        count: u32,
        /// Time between them (default 200).
        interval_ms: u64,
        /// How long to wait for each answer (default 1000).
        wait_ms: u64,
        /// Payload bytes (default 56).
        size: usize,
        /// The port when the target has none.
        port: u16,
    }
    /// `dns`: a query; the target is the name.
    Dns(DnsEntry) {
        /// The server (`ip` or `ip:port`; default from /etc/resolv.conf).
        server: String,
        /// The server's port (default 53).
        port: u16,
        /// Record type (default `A`).
        qtype: String,
        /// Answers of which at least one must be present.
        expect: Vec<String>,
        /// How long to wait for the answer (default 1000).
        wait_ms: u64,
    }
    /// `http`: a GET of the target URL.
    Http(HttpEntry) {
        /// Accepted status codes (default 200 to 399).
        expect_status: Vec<u16>,
        /// Resolve the URL's host through this DNS server.
        server: String,
        /// How long to wait for the name's answer (default 1000).
        wait_ms: u64,
    }
    /// `https`: a GET over TLS, with the certificate checked.
    Https(HttpsEntry) {
        /// Accepted status codes (default 200 to 399).
        expect_status: Vec<u16>,
        /// Resolve the URL's host through this DNS server.
        server: String,
        /// How long to wait for the name's answer (default 1000).
        wait_ms: u64,
        /// Verify the certificate chain and name (default true).
        verify_tls: bool,
        /// Extra trusted roots (PEM).
        ca_file: PathBuf,
    }
    /// `ntp`: one client request.
    Ntp(NtpEntry) {
        /// The port when the target has none (default 123).
        port: u16,
        /// How long to wait for the answer (default 1000).
        wait_ms: u64,
    }
    /// `traceroute`: the path, hop by hop.
    Traceroute(TracerouteEntry) {
        /// Highest TTL (default 30).
        max_hops: u8,
        /// Probes per hop (default 3).
        probes_per_hop: u8,
        /// How long to wait for each answer (default 1000).
        wait_ms: u64,
        /// Payload bytes (default 56).
        size: usize,
    }
    /// `throughput`: an iperf3 test.
    Throughput(ThroughputEntry) {
        /// The iperf3 server's port when the target has none.
        port: u16,
        /// Test length, seconds (default 5).
        duration_s: u64,
        /// Server to client instead.
        reverse: bool,
        /// `tcp` (default) or `udp`.
        protocol: ThroughputProtocol,
        /// UDP rate, as iperf3 takes it (e.g. `10M`).
        bandwidth: String,
        /// The iperf3 client to run (default `iperf3`).
        iperf3: String,
    }
}

/// The keys every `[[probes]]` entry has.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Common<'a> {
    /// The task's name.
    pub name: &'a str,
    /// What it probes.
    pub target: &'a str,
    /// Seconds between runs, if set.
    pub interval_s: Option<f64>,
    /// Whole-run limit, seconds, if set.
    pub timeout_s: Option<f64>,
}

/// A key of an entry at fault, and why.
pub type EntryError = (&'static str, String);

impl ProbeEntry {
    /// What a key that serde found unknown in an entry of `kind` means:
    /// a key of another kind `does not apply`; anything else is kept as
    /// serde said it.
    pub(crate) fn unknown_key_message(kind: ProbeKind, key: &str, serde_says: &str) -> String {
        let elsewhere = ProbeKind::ALL
            .iter()
            .any(|&k| ProbeEntry::keys_of(k).contains(&key));
        if elsewhere {
            format!(
                "does not apply to kind \"{}\" (its keys: {})",
                kind.name(),
                ProbeEntry::keys_of(kind).join(", ")
            )
        } else {
            serde_says.to_string()
        }
    }

    /// The kind's parameters, defaults filled in.
    fn params(&self) -> ProbeParams {
        let d = ProbeParams::default();
        let ms = Duration::from_millis;
        let wait = |w: Option<u64>| w.map_or(d.wait, ms);
        match self {
            ProbeEntry::Icmp(e) => ProbeParams {
                count: e.count.unwrap_or(d.count),
                spacing: e.interval_ms.map_or(d.spacing, ms),
                wait: wait(e.wait_ms),
                size: e.size.unwrap_or(d.size),
                ..ProbeParams::default()
            },
            ProbeEntry::UdpEcho(e) => ProbeParams {
                count: e.count.unwrap_or(10),
                spacing: e.interval_ms.map_or(d.spacing, ms),
                wait: wait(e.wait_ms),
                size: e.size.unwrap_or(d.size),
                port: e.port,
                ..ProbeParams::default()
            },
            ProbeEntry::Tcp(e) => ProbeParams {
                port: e.port,
                ..ProbeParams::default()
            },
            ProbeEntry::Dns(e) => ProbeParams {
                server: e.server.clone(),
                port: e.port,
                qtype: e.qtype.clone().unwrap_or_else(|| d.qtype.clone()),
                expect: e.expect.clone().unwrap_or_default(),
                wait: wait(e.wait_ms),
                ..ProbeParams::default()
            },
            ProbeEntry::Http(e) => ProbeParams {
                expect_status: e.expect_status.clone().unwrap_or_default(),
                server: e.server.clone(),
                wait: wait(e.wait_ms),
                ..ProbeParams::default()
            },
            ProbeEntry::Https(e) => ProbeParams {
                expect_status: e.expect_status.clone().unwrap_or_default(),
                server: e.server.clone(),
                wait: wait(e.wait_ms),
                verify_tls: e.verify_tls.unwrap_or(true),
                ca_file: e.ca_file.clone(),
                ..ProbeParams::default()
            },
            ProbeEntry::Ntp(e) => ProbeParams {
                port: e.port,
                wait: wait(e.wait_ms),
                ..ProbeParams::default()
            },
            ProbeEntry::Traceroute(e) => ProbeParams {
                max_hops: e.max_hops.unwrap_or(d.max_hops),
                probes_per_hop: e.probes_per_hop.unwrap_or(d.probes_per_hop),
                wait: wait(e.wait_ms),
                size: e.size.unwrap_or(d.size),
                ..ProbeParams::default()
            },
            ProbeEntry::Throughput(e) => ProbeParams {
                port: e.port,
                duration: e.duration_s.map_or(d.duration, Duration::from_secs),
                reverse: e.reverse.unwrap_or(false),
                udp: e.protocol == Some(ThroughputProtocol::Udp),
                bandwidth: e.bandwidth.clone(),
                iperf3: e.iperf3.clone().unwrap_or_else(|| d.iperf3.clone()),
                ..ProbeParams::default()
            },
        }
    }

    /// The task, or the key at fault and why.
    pub fn task(&self) -> Result<ProbeTask, EntryError> {
        let kind = self.kind();
        let c = self.common();
        if c.name.is_empty()
            || c.name.len() > 64
            || !c
                .name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '.'))
        {
            return Err((
                "name",
                format!(
                    "\"{}\" must be 1 to 64 letters, digits, '_', '-' or '.'",
                    c.name
                ),
            ));
        }
        if c.target.trim().is_empty() {
            return Err(("target", "must not be empty".into()));
        }
        let params = self.params();
        check_ranges(&params)?;
        self.check_names(&params)?;
        self.check_target(&params)?;
        let interval = c.interval_s.unwrap_or(60.0);
        if !(0.1..=86_400.0).contains(&interval) {
            return Err((
                "interval_s",
                format!("{interval} is out of range: must be 0.1 to 86400"),
            ));
        }
        let timeout = match c.timeout_s {
            Some(t) if !(0.1..=7200.0).contains(&t) => {
                return Err((
                    "timeout_s",
                    format!("{t} is out of range: must be 0.1 to 7200"),
                ))
            }
            Some(t) => Duration::from_secs_f64(t),
            None => default_timeout(kind, &params),
        };
        Ok(ProbeTask {
            name: Arc::from(c.name),
            kind,
            target: Arc::from(c.target.trim()),
            interval: Duration::from_secs_f64(interval),
            timeout,
            params,
        })
    }

    /// The DNS server, record type and CA file, where the kind has them.
    fn check_names(&self, params: &ProbeParams) -> Result<(), EntryError> {
        if let Some(s) = &params.server {
            probe::dns::server_of(Some(s), 53).map_err(|e| ("server", e.message))?;
        }
        if let ProbeEntry::Dns(DnsEntry { qtype: Some(q), .. }) = self {
            probe::dns::check_qtype(q).map_err(|e| ("qtype", e))?;
        }
        if let Some(f) = &params.ca_file {
            if !f.is_file() {
                return Err(("ca_file", format!("{}: no such file", f.display())));
            }
        }
        Ok(())
    }

    /// The target, as the kind reads it.
    fn check_target(&self, params: &ProbeParams) -> Result<(), EntryError> {
        let target = self.common().target;
        match self.kind() {
            kind @ (ProbeKind::Http | ProbeKind::Https) => {
                probe::http::parse_url(target, kind == ProbeKind::Https)
                    .map_err(|e| ("target", e))?;
            }
            ProbeKind::Dns => {
                probe::dns::check_name(target).map_err(|e| ("target", e))?;
            }
            kind => {
                let (_, port) = probe::split_host_port(target).map_err(|e| ("target", e))?;
                if kind == ProbeKind::Tcp && port.or(params.port).is_none() {
                    return Err(("target", "tcp needs a port: host:port, or port = N".into()));
                }
            }
        }
        Ok(())
    }
}

/// The numeric parameters' ranges (defaults are inside them).
fn check_ranges(p: &ProbeParams) -> Result<(), EntryError> {
    let range = |key: &'static str, v: u64, lo: u64, hi: u64| {
        if v < lo || v > hi {
            Err((key, format!("{v} is out of range: must be {lo} to {hi}")))
        } else {
            Ok(())
        }
    };
    range("count", p.count as u64, 1, 1000)?;
    range("interval_ms", p.spacing.as_millis() as u64, 1, 60_000)?;
    range("wait_ms", p.wait.as_millis() as u64, 10, 60_000)?;
    range("size", p.size as u64, 0, 8192)?;
    range("max_hops", p.max_hops as u64, 1, 64)?;
    range("probes_per_hop", p.probes_per_hop as u64, 1, 10)?;
    range("duration_s", p.duration.as_secs(), 1, 3600)
}

/// A run's limit when `timeout_s` is not set: its own longest time and
/// some room.
fn default_timeout(kind: ProbeKind, p: &ProbeParams) -> Duration {
    match kind {
        ProbeKind::Icmp | ProbeKind::UdpEcho => {
            probe::icmp::round_time(p.count, p.spacing, p.wait) + Duration::from_secs(2)
        }
        ProbeKind::Traceroute => p.wait * p.max_hops as u32 + Duration::from_secs(5),
        ProbeKind::Throughput => p.duration + Duration::from_secs(15),
        ProbeKind::Http | ProbeKind::Https => Duration::from_secs(30),
        ProbeKind::Tcp => Duration::from_secs(10),
        ProbeKind::Dns | ProbeKind::Ntp => Duration::from_secs(5),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_entry_under_its_name_in_order() {
        for kind in ProbeKind::ALL {
            let text = format!("name = \"t\"\nkind = \"{}\"\ntarget = \"x\"\n", kind.name());
            let e: ProbeEntry = toml::from_str(&text).unwrap();
            assert_eq!(e.kind(), kind);
        }
        // serde lists the kinds in the variants' order: that of ProbeKind::ALL.
        let e = toml::from_str::<ProbeEntry>("name = \"t\"\nkind = \"smtp\"\ntarget = \"x\"\n")
            .unwrap_err();
        let names: Vec<String> = ProbeKind::ALL
            .iter()
            .map(|k| format!("`{}`", k.name()))
            .collect();
        assert!(e.message().ends_with(&names.join(", ")), "{}", e.message());
    }

    #[test]
    fn keys_of_a_kind_are_its_own() {
        assert_eq!(ProbeEntry::keys_of(ProbeKind::Tcp), &["port"]);
        assert_eq!(
            ProbeEntry::keys_of(ProbeKind::Https),
            &[
                "expect_status",
                "server",
                "wait_ms",
                "verify_tls",
                "ca_file"
            ]
        );
        let m = ProbeEntry::unknown_key_message(ProbeKind::Tcp, "qtype", "serde");
        assert_eq!(m, "does not apply to kind \"tcp\" (its keys: port)");
        assert_eq!(
            ProbeEntry::unknown_key_message(ProbeKind::Tcp, "color", "serde"),
            "serde"
        );
    }

    #[test]
    fn kinds_take_their_defaults() {
        let udp: ProbeEntry =
            toml::from_str("name = \"u\"\nkind = \"udp_echo\"\ntarget = \"192.0.2.1:7\"\n")
                .unwrap();
        let t = udp.task().unwrap();
        assert_eq!(t.params.count, 10);
        // 9 x 200 ms + 1 s wait + 2 s.
        assert_eq!(t.timeout, Duration::from_millis(4800));
        let tp: ProbeEntry = toml::from_str(
            "name = \"t\"\nkind = \"throughput\"\ntarget = \"192.0.2.1\"\nprotocol = \"udp\"\nduration_s = 3\n",
        )
        .unwrap();
        let t = tp.task().unwrap();
        assert!(t.params.udp && !t.params.reverse);
        assert_eq!(t.timeout, Duration::from_secs(18));
        let e = toml::from_str::<ProbeEntry>(
            "name = \"t\"\nkind = \"throughput\"\ntarget = \"x\"\nprotocol = \"sctp\"\n",
        )
        .unwrap_err();
        assert!(
            e.message().contains("unknown variant `sctp`"),
            "{}",
            e.message()
        );
        let dns: ProbeEntry = toml::from_str(
            "name = \"d\"\nkind = \"dns\"\ntarget = \"example.org\"\nserver = \"192.0.2.53\"\nqtype = \"BOGUS\"\n",
        )
        .unwrap();
        assert_eq!(dns.task().unwrap_err().0, "qtype");
    }
}
