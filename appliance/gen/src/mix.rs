//! A deterministic, seeded mix of the conversations a home or small-office
//! mirror port carries, both directions of each as a tap sees them.
//!
//! The network: a gateway (192.168.50.1, 2001:db8:50::1, also the DNS
//! resolver), eleven devices 192.168.50.10–.20 (laptops, phones, a TV, a
//! console, an IP camera, a thermostat, a printer; four of them dual-stack
//! with 2001:db8:50::/64 addresses) and a NAS at 192.168.50.5. Internet
//! servers use the documentation ranges (192.0.2.0/24, 198.51.100.0/24,
//! 203.0.113.0/24, 2001:db8:f00::/48), so no generated packet names a real
//! host; their server names are real-looking (www.netflix.com, i.ytimg.com,
//! zoom.us…).
//!
//! Traffic comes in rounds (2 s of packet time by default). Each round
//! visits every service of the catalog `scale` times from a random device:
//! the device resolves the name (A, and AAAA on dual-stack devices, with
//! the CNAME chain) and connects to the answered address with TLS 1.3 over
//! TCP, QUIC or plain HTTP. A round also holds `scale` bulk downloads over
//! TLS (with a fast retransmission about every 2 MB), pings to the gateway
//! and to an internet host (ICMP and ICMPv6), a SYN scan of 1000 ports of
//! the NAS (closed ports answer RST, open ones SYN/ACK) and a sweep of port
//! 23 over 100 internet hosts by the camera.

use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::dns::{self, RData, Record};
use super::packets::{
    icmp_echo_frame, other, udp_frame, Dir, Frame, Link, Mac, TcpConversation, TcpEnd,
};
use super::quic::{self, InitialKeys, LongType};
use super::tls;

/// Which kinds of traffic a mix holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Parts {
    pub dns: bool,
    pub tls: bool,
    pub quic: bool,
    pub http: bool,
    pub bulk: bool,
    pub icmp: bool,
    pub scan: bool,
}

impl Parts {
    pub const ALL: Parts = Parts {
        dns: true,
        tls: true,
        quic: true,
        http: true,
        bulk: true,
        icmp: true,
        scan: true,
    };

    /// The names `FromStr` accepts, in display order.
    pub const NAMES: [&'static str; 7] = ["dns", "tls", "quic", "http", "bulk", "icmp", "scan"];

    fn flag(&mut self, name: &str) -> Option<&mut bool> {
        Some(match name {
            "dns" => &mut self.dns,
            "tls" => &mut self.tls,
            "quic" => &mut self.quic,
            "http" => &mut self.http,
            "bulk" => &mut self.bulk,
            "icmp" => &mut self.icmp,
            "scan" => &mut self.scan,
            _ => return None,
        })
    }

    pub fn is_empty(&self) -> bool {
        *self == Parts::default()
    }
}

impl FromStr for Parts {
    type Err = String;

    /// `all`, or a comma-separated list of part names.
    fn from_str(s: &str) -> Result<Parts, String> {
        let mut p = Parts::default();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            if name == "all" {
                p = Parts::ALL;
                continue;
            }
            match p.flag(name) {
                Some(f) => *f = true,
                None => {
                    return Err(format!(
                        "unknown traffic kind `{name}` (expected all or some of {})",
                        Parts::NAMES.join(",")
                    ))
                }
            }
        }
        if p.is_empty() {
            return Err("no traffic kind given".into());
        }
        Ok(p)
    }
}

impl fmt::Display for Parts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Parts::ALL {
            return f.write_str("all");
        }
        let mut p = *self;
        let names: Vec<&str> = Parts::NAMES
            .iter()
            .copied()
            .filter(|n| p.flag(n).is_some_and(|f| *f))
            .collect();
        f.write_str(&names.join(","))
    }
}

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenConfig {
    /// The same seed and settings give the same frames, byte for byte.
    pub seed: u64,
    pub parts: Parts,
    /// Visits per service and bulk downloads per round (at least 1).
    pub scale: u32,
    /// Bytes of each bulk download.
    pub bulk_bytes: usize,
    /// Packet time between the starts of two rounds.
    pub round_ns: u64,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            seed: 1,
            parts: Parts::ALL,
            scale: 1,
            bulk_bytes: 4 << 20,
            round_ns: 2_000_000_000,
        }
    }
}

impl GenConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.parts.is_empty() {
            return Err("no traffic kind selected".into());
        }
        if self.scale == 0 || self.scale > 1000 {
            return Err("scale must be 1 to 1000".into());
        }
        if self.round_ns < 100_000_000 {
            return Err("rounds must be at least 100 ms apart".into());
        }
        if self.bulk_bytes == 0 || self.bulk_bytes > 1 << 30 {
            return Err("bulk transfers must be 1 byte to 1 GiB".into());
        }
        Ok(())
    }
}

const MS: u64 = 1_000_000;
const US: u64 = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Os {
    Linux,
    Apple,
    Windows,
}

/// A device on the monitored LAN.
struct Device {
    mac: Mac,
    host: u8,
    v6: bool,
    os: Os,
    /// Browses the web (visits services).
    browses: bool,
}

const DEVICES: [Device; 11] = [
    dev(
        [0x3c, 0x22, 0xfb, 0x1a, 0x2b, 0x10],
        10,
        true,
        Os::Apple,
        true,
    ), // laptop
    dev(
        [0x8c, 0x79, 0xf5, 0x33, 0x41, 0x11],
        11,
        true,
        Os::Linux,
        true,
    ), // phone
    dev(
        [0x64, 0x95, 0x6c, 0x0e, 0x52, 0x12],
        12,
        false,
        Os::Linux,
        true,
    ), // TV
    dev(
        [0xa4, 0xbb, 0x6d, 0x7c, 0x13, 0x13],
        13,
        true,
        Os::Windows,
        true,
    ), // desktop
    dev(
        [0xf0, 0x18, 0x98, 0x64, 0x22, 0x14],
        14,
        false,
        Os::Apple,
        true,
    ), // tablet
    dev(
        [0x00, 0xd9, 0xd1, 0x5e, 0x71, 0x15],
        15,
        false,
        Os::Linux,
        true,
    ), // console
    dev(
        [0x44, 0x19, 0xb6, 0x2d, 0x90, 0x16],
        16,
        false,
        Os::Linux,
        false,
    ), // camera
    dev(
        [0x54, 0xee, 0x75, 0x48, 0xa3, 0x17],
        17,
        true,
        Os::Linux,
        true,
    ), // laptop
    dev(
        [0x7c, 0x2e, 0x0d, 0x19, 0x3f, 0x18],
        18,
        false,
        Os::Linux,
        true,
    ), // laptop
    dev(
        [0x18, 0xb4, 0x30, 0x8a, 0x5c, 0x19],
        19,
        false,
        Os::Linux,
        false,
    ), // thermostat
    dev(
        [0x3c, 0x2a, 0xf4, 0x61, 0x07, 0x20],
        20,
        false,
        Os::Linux,
        false,
    ), // printer
];

const fn dev(mac: Mac, host: u8, v6: bool, os: Os, browses: bool) -> Device {
    Device {
        mac,
        host,
        v6,
        os,
        browses,
    }
}

const GATEWAY_MAC: Mac = [0x00, 0x0d, 0xb9, 0x4b, 0x2c, 0x01];
const NAS_MAC: Mac = [0x00, 0x11, 0x32, 0x9a, 0x5e, 0x05];
const NAS_OPEN_PORTS: [u16; 5] = [22, 80, 139, 443, 445];
/// The device that scans the NAS and the one that sweeps the internet.
const SCANNER: usize = 7;
const SWEEPER: usize = 6;
/// The device that runs the bulk downloads.
const BULK_CLIENT: usize = 3;
const SCAN_PORTS: u16 = 1000;
const SWEEP_HOSTS: u8 = 100;
const SWEEP_PORT: u16 = 23;

fn lan_v4(host: u8) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 50, host)
}

fn lan_v6(host: u8) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0x50, 0, 0, 0, 0, host as u16)
}

fn server_v6(x: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0xf00, 0, 0, 0, 0, x)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum App {
    Tls,
    Quic,
    /// A GET of `path`; the response body is `body` when not empty, else
    /// generated text (HTML) or bytes of the service's response size.
    Http {
        path: &'static str,
        status: &'static str,
        content_type: &'static str,
        body: &'static str,
    },
    Bulk,
    DnsOnly,
    NxDomain,
}

/// A named internet service: its CNAME chain, addresses, protocol, typical
/// response size and round-trip time from the tap.
struct Service {
    name: &'static str,
    chain: &'static [&'static str],
    v4: [u8; 4],
    v6: Option<u16>,
    app: App,
    resp: (usize, usize),
    rtt_ms: u64,
}

const HTML: &str = "text/html; charset=utf-8";

const fn svc(
    name: &'static str,
    chain: &'static [&'static str],
    v4: [u8; 4],
    v6: Option<u16>,
    app: App,
    resp: (usize, usize),
    rtt_ms: u64,
) -> Service {
    Service {
        name,
        chain,
        v4,
        v6,
        app,
        resp,
        rtt_ms,
    }
}

#[rustfmt::skip]
const CATALOG: &[Service] = &[
    svc("www.netflix.com", &["www.dradis.netflix.com", "www.eu-west-1.internal.dradis.netflix.com"],
        [198, 51, 100, 10], Some(0x10), App::Tls, (40_000, 120_000), 25),
    svc("occ-0-2794-2219.1.nflxso.net", &[], [198, 51, 100, 11], None, App::Tls, (150_000, 400_000), 8),
    svc("zoom.us", &[], [198, 51, 100, 12], None, App::Tls, (20_000, 60_000), 90),
    svc("api.github.com", &[], [198, 51, 100, 13], None, App::Tls, (2_000, 10_000), 30),
    svc("www.wikipedia.org", &["dyna.wikimedia.org"], [198, 51, 100, 14], Some(0x14), App::Tls,
        (30_000, 80_000), 20),
    svc("graph.facebook.com", &["star.c10r.facebook.com"], [198, 51, 100, 15], Some(0x15), App::Tls,
        (3_000, 20_000), 15),
    svc("teams.microsoft.com", &["teams.office.com", "teams-office-com.s-0005.dc-msedge.net"],
        [198, 51, 100, 16], None, App::Tls, (10_000, 40_000), 20),
    svc("gateway.icloud.com", &[], [198, 51, 100, 17], None, App::Tls, (2_000, 8_000), 35),
    svc("www.amazon.com", &["tp.47cf2c8c9-frontier.amazon.com"], [198, 51, 100, 18], None, App::Tls,
        (60_000, 150_000), 40),
    svc("outlook.office365.com", &["outlook.ha.office365.com"], [198, 51, 100, 19], Some(0x19),
        App::Tls, (10_000, 30_000), 18),
    svc("slack.com", &[], [198, 51, 100, 20], None, App::Tls, (5_000, 20_000), 85),
    svc("www.reddit.com", &["reddit.map.fastly.net"], [198, 51, 100, 21], None, App::Tls,
        (40_000, 100_000), 12),
    svc("i.ytimg.com", &["ytimg.l.google.com"], [203, 0, 113, 10], Some(0x110), App::Quic,
        (20_000, 80_000), 10),
    svc("www.youtube.com", &["youtube-ui.l.google.com"], [203, 0, 113, 11], Some(0x111), App::Quic,
        (60_000, 150_000), 10),
    svc("rr4---sn-5hne6nzk.googlevideo.com", &[], [203, 0, 113, 12], Some(0x112), App::Quic,
        (200_000, 500_000), 9),
    svc("www.google.com", &[], [203, 0, 113, 13], Some(0x113), App::Quic, (20_000, 60_000), 9),
    svc("scontent-fra3-1.xx.fbcdn.net", &[], [203, 0, 113, 14], None, App::Quic, (50_000, 150_000), 14),
    svc("www.instagram.com", &["z-p42-instagram.c10r.instagram.com"], [203, 0, 113, 15], None,
        App::Quic, (20_000, 50_000), 15),
    svc("connectivitycheck.gstatic.com", &[], [203, 0, 113, 20], None,
        App::Http { path: "/generate_204", status: "204 No Content", content_type: "", body: "" },
        (0, 0), 10),
    svc("detectportal.firefox.com",
        &["detectportal.prod.mozaws.net", "prod.detectportal.prod.cloudops.mozgcp.net"],
        [203, 0, 113, 21], None,
        App::Http {
            path: "/canonical.html",
            status: "200 OK",
            content_type: HTML,
            body: "<meta http-equiv=\"refresh\" content=\"0;url=https://support.mozilla.org/kb/captive-portal\"/>",
        },
        (0, 0), 22),
    svc("ctldl.windowsupdate.com", &["ctldl.windowsupdate.com.delivery.microsoft.com"],
        [203, 0, 113, 22], None,
        App::Http {
            path: "/msdownload/update/v3/static/trustedr/en/disallowedcertstl.cab",
            status: "200 OK",
            content_type: "application/vnd.ms-cab-compressed",
            body: "",
        },
        (5_000, 40_000), 16),
    svc("neverssl.com", &[], [203, 0, 113, 23], None,
        App::Http { path: "/", status: "200 OK", content_type: HTML, body: "" }, (2_000, 5_000), 30),
    svc("captive.apple.com", &["captive-cidr.origin-apple.com.akadns.net"], [203, 0, 113, 24], None,
        App::Http {
            path: "/hotspot-detect.html",
            status: "200 OK",
            content_type: "text/html",
            body: "<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>",
        },
        (0, 0), 12),
    svc("dl.google.com", &["dl.l.google.com"], [203, 0, 113, 30], Some(0x130), App::Bulk, (0, 0), 9),
    svc("time.apple.com", &["time.g.aaplimg.com"], [203, 0, 113, 40], None, App::DnsOnly, (0, 0), 0),
    svc("clients4.google.com", &["clients.l.google.com"], [203, 0, 113, 41], Some(0x141),
        App::DnsOnly, (0, 0), 0),
    svc("api.push.apple.com", &["api-vs.push-apple.com.akadns.net"], [203, 0, 113, 42], None,
        App::DnsOnly, (0, 0), 0),
    svc("wpad.home.arpa", &[], [0, 0, 0, 0], None, App::NxDomain, (0, 0), 0),
];

/// The internet host the pings go to, and its IPv6 address.
const PING_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 53);
const PING_V6: u16 = 0x53;

/// TCP stack parameters: SYN window, later window field, window scale.
fn stack(os: Os) -> (u16, u16, u8) {
    match os {
        Os::Linux => (64240, 502, 7),
        Os::Apple => (65535, 2058, 6),
        Os::Windows => (64240, 1026, 8),
    }
}

fn user_agent(os: Os) -> &'static str {
    match os {
        Os::Linux => "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        Os::Apple => {
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 \
             (KHTML, like Gecko) Version/17.4 Safari/605.1.15"
        }
        Os::Windows => {
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 \
             (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
        }
    }
}

const LOREM: &str = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod \
    tempor incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud \
    exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. ";

/// The generator: an endless iterator of frames in time order, round after
/// round, the same for the same configuration.
pub struct TrafficMix {
    cfg: GenConfig,
    rng: fastrand::Rng,
    rounds: u64,
    /// Next ephemeral port per device.
    ports: Vec<u16>,
    pending: VecDeque<Frame>,
}

impl TrafficMix {
    /// A generator for `cfg`; panics if `cfg` does not validate.
    pub fn new(cfg: GenConfig) -> Self {
        if let Err(e) = cfg.validate() {
            panic!("invalid generator configuration: {e}");
        }
        let mut rng = fastrand::Rng::with_seed(cfg.seed);
        let ports = DEVICES.iter().map(|_| rng.u16(32768..60000)).collect();
        TrafficMix {
            cfg,
            rng,
            rounds: 0,
            ports,
            pending: VecDeque::new(),
        }
    }

    pub fn config(&self) -> &GenConfig {
        &self.cfg
    }

    /// Rounds generated so far.
    pub fn rounds(&self) -> u64 {
        self.rounds
    }

    /// Generates the next round on its own: every conversation in it is
    /// complete; frames are in time order. Iterating the mix calls this as
    /// needed and interleaves rounds that overlap in time.
    pub fn next_round(&mut self) -> Vec<Frame> {
        let start = self.rounds * self.cfg.round_ns;
        self.rounds += 1;
        let mut out = Vec::with_capacity(16_384);
        let span = self.cfg.round_ns * 4 / 5;
        let p = self.cfg.parts;
        for _ in 0..self.cfg.scale {
            for s in CATALOG {
                let t = start + self.rng.u64(0..span);
                let enabled = match s.app {
                    App::Tls => p.tls,
                    App::Quic => p.quic,
                    App::Http { .. } => p.http,
                    App::Bulk => p.bulk,
                    App::DnsOnly | App::NxDomain => false,
                };
                if !enabled && !p.dns {
                    continue;
                }
                let client = if s.app == App::Bulk {
                    BULK_CLIENT
                } else if matches!(s.app, App::DnsOnly | App::NxDomain) {
                    self.rng.usize(0..DEVICES.len())
                } else {
                    self.browsing_device()
                };
                self.visit(&mut out, t, client, s, enabled);
            }
        }
        if p.icmp {
            let t = start + self.rng.u64(0..span);
            let c = self.browsing_device();
            self.ping(&mut out, t, c, IpAddr::V4(lan_v4(1)), 1);
            let t = start + self.rng.u64(0..span);
            let c = self.browsing_device();
            self.ping(&mut out, t, c, IpAddr::V4(PING_V4), 20);
            let t = start + self.rng.u64(0..span);
            let c = self.dual_stack_device();
            self.ping(&mut out, t, c, IpAddr::V6(server_v6(PING_V6)), 20);
        }
        if p.scan {
            let t = start + self.rng.u64(0..span / 4);
            self.port_scan(&mut out, t);
            let t = start + self.rng.u64(0..span / 2);
            self.host_sweep(&mut out, t);
        }
        out.sort_by_key(|f| f.ts_ns);
        out
    }

    fn browsing_device(&mut self) -> usize {
        loop {
            let d = self.rng.usize(0..DEVICES.len());
            if DEVICES[d].browses {
                return d;
            }
        }
    }

    fn dual_stack_device(&mut self) -> usize {
        loop {
            let d = self.rng.usize(0..DEVICES.len());
            if DEVICES[d].v6 && DEVICES[d].browses {
                return d;
            }
        }
    }

    fn port(&mut self, client: usize) -> u16 {
        let p = self.ports[client];
        self.ports[client] = if p >= 60999 { 32768 } else { p + 1 };
        p
    }

    fn jitter(&mut self, base_ns: u64) -> u64 {
        base_ns * self.rng.u64(80..121) / 100
    }

    fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.rng.fill(&mut v);
        v
    }

    fn random_bytes_in(&mut self, len: std::ops::Range<usize>) -> Vec<u8> {
        let n = self.rng.usize(len);
        self.random_bytes(n)
    }

    fn array32(&mut self) -> [u8; 32] {
        let mut a = [0u8; 32];
        self.rng.fill(&mut a);
        a
    }

    /// The client's path to `dst` (via the gateway unless on the LAN).
    fn link(&self, client: usize, dst: IpAddr) -> Link {
        let d = &DEVICES[client];
        let src = match dst {
            IpAddr::V4(_) => IpAddr::V4(lan_v4(d.host)),
            IpAddr::V6(_) => IpAddr::V6(lan_v6(d.host)),
        };
        let dst_mac = if dst == IpAddr::V4(lan_v4(5)) {
            NAS_MAC
        } else {
            GATEWAY_MAC
        };
        Link {
            src_mac: d.mac,
            dst_mac,
            src,
            dst,
            ttl: if d.os == Os::Windows { 128 } else { 64 },
        }
    }

    /// TTL of a server's packets as they arrive: 64 or 128 less 8–20 hops.
    fn server_ttl(&mut self) -> u8 {
        let hops = self.rng.u8(8..21);
        if self.rng.u8(0..4) == 0 {
            128 - hops
        } else {
            64 - hops
        }
    }

    fn tcp(&mut self, client: usize, dst: IpAddr, dport: u16) -> TcpConversation {
        let link = self.link(client, dst);
        let (syn_window, window, ws) = stack(DEVICES[client].os);
        let mss = if dst.is_ipv6() { 1440 } else { 1460 };
        let c = TcpEnd {
            port: self.port(client),
            isn: self.rng.u32(..),
            ip_id: self.rng.u16(..),
            syn_window,
            window,
            mss,
            sack_permitted: true,
            wscale: Some(ws),
        };
        let s = TcpEnd {
            port: dport,
            isn: self.rng.u32(..),
            ip_id: self.rng.u16(..),
            syn_window: 65535,
            window: 501,
            mss,
            sack_permitted: true,
            wscale: Some(9),
        };
        let ttl = self.server_ttl();
        TcpConversation::new(link, ttl, c, s)
    }

    fn visit(&mut self, out: &mut Vec<Frame>, t: u64, client: usize, s: &Service, connect: bool) {
        let mut t = t;
        let dual = DEVICES[client].v6;
        if self.cfg.parts.dns {
            t = self.dns_lookup(out, t, client, s, dual) + self.rng.u64(200..2000) * US;
        }
        if !connect {
            return;
        }
        let dst = match s.v6 {
            Some(x) if dual => IpAddr::V6(server_v6(x)),
            _ => IpAddr::V4(s.v4.into()),
        };
        match s.app {
            App::Tls => {
                let n = self.rng.usize(s.resp.0..=s.resp.1);
                self.tls_session(out, t, client, s, dst, n);
            }
            App::Bulk => {
                let n = self.cfg.bulk_bytes;
                self.tls_session(out, t, client, s, dst, n);
            }
            App::Quic => {
                let n = self.rng.usize(s.resp.0..=s.resp.1);
                self.quic_session(out, t, client, s, dst, n);
            }
            App::Http {
                path,
                status,
                content_type,
                body,
            } => {
                let n = self.rng.usize(s.resp.0..=s.resp.1);
                let body = if !body.is_empty() {
                    body.as_bytes().to_vec()
                } else if content_type.starts_with("text/html") {
                    let mut b = String::from(
                        "<!DOCTYPE html><html><head><title>Welcome</title></head><body><p>",
                    );
                    while b.len() < n {
                        b.push_str(LOREM);
                    }
                    b.truncate(n);
                    b.into_bytes()
                } else {
                    self.random_bytes(n)
                };
                self.http_session(out, t, client, s, dst, (path, status, content_type), &body);
            }
            App::DnsOnly | App::NxDomain => {}
        }
    }

    /// The records a resolver answers for `s` and `qtype`.
    fn answers(&mut self, s: &Service, qtype: u16) -> (u8, Vec<Record>, Vec<Record>) {
        if s.app == App::NxDomain {
            let soa = Record {
                name: "home.arpa".into(),
                ttl: 10800,
                data: RData::Soa {
                    mname: "prisoner.iana.org".into(),
                    rname: "hostmaster.root-servers.org".into(),
                    serial: 1,
                    minimum: 604800,
                },
            };
            return (dns::NXDOMAIN, Vec::new(), vec![soa]);
        }
        let mut answers = Vec::new();
        let mut owner = s.name;
        for c in s.chain {
            answers.push(Record {
                name: owner.into(),
                ttl: self.rng.u32(300..3600),
                data: RData::Cname((*c).into()),
            });
            owner = c;
        }
        let ttl = self.rng.u32(20..300);
        match qtype {
            dns::TYPE_A => {
                let a = Ipv4Addr::from(s.v4);
                answers.push(Record {
                    name: owner.into(),
                    ttl,
                    data: RData::A(a),
                });
                // CDNs often answer a second address; clients use the first.
                if self.rng.bool() {
                    let mut b = s.v4;
                    b[3] = b[3].wrapping_add(100);
                    answers.push(Record {
                        name: owner.into(),
                        ttl,
                        data: RData::A(b.into()),
                    });
                }
            }
            _ => {
                if let Some(x) = s.v6 {
                    answers.push(Record {
                        name: owner.into(),
                        ttl,
                        data: RData::Aaaa(server_v6(x)),
                    });
                }
            }
        }
        (dns::NOERROR, answers, Vec::new())
    }

    /// An A lookup (and an AAAA lookup from the same port when `aaaa`) and
    /// the resolver's answers. Returns the time of the last answer.
    fn dns_lookup(
        &mut self,
        out: &mut Vec<Frame>,
        t: u64,
        client: usize,
        s: &Service,
        aaaa: bool,
    ) -> u64 {
        let over_v6 = aaaa && self.rng.bool();
        let resolver = if over_v6 {
            IpAddr::V6(lan_v6(1))
        } else {
            IpAddr::V4(lan_v4(1))
        };
        let c2s = self.link(client, resolver);
        let s2c = c2s.reverse(64);
        let port = self.port(client);
        let mut qtypes = vec![dns::TYPE_A];
        if aaaa {
            qtypes.push(dns::TYPE_AAAA);
        }
        // A cache hit answers in about a millisecond, a miss takes longer.
        let latency = if self.rng.u8(0..3) == 0 {
            self.rng.u64(8..45) * MS
        } else {
            self.rng.u64(300..1500) * US
        };
        let mut frames = Vec::new();
        let mut last = t;
        for (i, &qtype) in qtypes.iter().enumerate() {
            let id = self.rng.u16(..);
            let tq = t + i as u64 * self.rng.u64(20..80) * US;
            let q = dns::query(id, s.name, qtype);
            let ip_id = self.rng.u16(..);
            frames.push(Frame {
                ts_ns: tq,
                data: udp_frame(&c2s, ip_id, port, 53, &q),
            });
            let (rcode, answers, authority) = self.answers(s, qtype);
            let r = dns::response(id, s.name, qtype, rcode, &answers, &authority);
            let tr = tq + latency + self.rng.u64(0..200) * US;
            let ip_id = self.rng.u16(..);
            frames.push(Frame {
                ts_ns: tr,
                data: udp_frame(&s2c, ip_id, 53, port, &r),
            });
            last = last.max(tr);
        }
        out.extend(frames);
        last
    }

    /// Moves a conversation's frames to `out`. Within a conversation a
    /// frame's time is never before that of a frame it answers, so the
    /// round's stable sort by time keeps every conversation consistent.
    fn emit(out: &mut Vec<Frame>, frames: Vec<Frame>) {
        out.extend(frames);
    }

    /// A TLS 1.3 session on port 443: handshake, ClientHello with SNI and
    /// ALPN, the server's flight, the client's Finished and request, the
    /// response of `response` bytes, close_notify and FIN teardown.
    fn tls_session(
        &mut self,
        out: &mut Vec<Frame>,
        t: u64,
        client: usize,
        s: &Service,
        dst: IpAddr,
        response: usize,
    ) {
        let rtt = self.jitter(s.rtt_ms * MS);
        let lan = self.rng.u64(100..400) * US;
        let mut c = self.tcp(client, dst, 443);
        let mut t = c.handshake(t, rtt, lan);

        let session_id = self.array32();
        let hello = tls::ClientHello {
            server_name: s.name,
            alpn: &["h2", "http/1.1"],
            random: self.array32(),
            session_id: &session_id,
            key_share: self.array32(),
            quic_params: None,
        };
        let ch = tls::record(tls::CONTENT_HANDSHAKE, 0x0301, &hello.encode());
        t += self.rng.u64(50..300) * US;
        c.data(t, Dir::C2s, &ch, true);

        // Server: ServerHello, ChangeCipherSpec, then the encrypted
        // extensions, certificate chain, verify and Finished.
        let sh = tls::server_hello(self.array32(), &session_id, self.array32());
        let mut flight = tls::record(tls::CONTENT_HANDSHAKE, 0x0303, &sh);
        flight.extend_from_slice(&tls::record(tls::CONTENT_CCS, 0x0303, &[1]));
        let certs = self.rng.usize(2500..4500);
        tls::application_data(&mut flight, certs, usize::MAX, |b| self.rng.fill(b));
        let gap = self.rng.u64(20..120) * US;
        t = c.stream(t + rtt, Dir::S2c, &flight, gap, lan);

        // Client: ChangeCipherSpec, Finished, then the request.
        let mut fin = tls::record(tls::CONTENT_CCS, 0x0303, &[1]);
        tls::application_data(&mut fin, 53, usize::MAX, |b| self.rng.fill(b));
        let req = self.rng.usize(180..700);
        tls::application_data(&mut fin, req, usize::MAX, |b| self.rng.fill(b));
        t += self.rng.u64(200..1500) * US;
        c.data(t, Dir::C2s, &fin, true);

        // Server: two session tickets, then the response. A bulk download
        // comes in records of one segment each, as CDNs size them, and
        // loses a segment after the tap about every 2 MB.
        let mut tickets = Vec::new();
        tls::application_data(&mut tickets, 250, usize::MAX, |b| self.rng.fill(b));
        tls::application_data(&mut tickets, 250, usize::MAX, |b| self.rng.fill(b));
        t += rtt;
        c.data(t, Dir::S2c, &tickets, false);
        let bulk = s.app == App::Bulk;
        let (record, losses) = if bulk {
            (c.mss(Dir::S2c) - 5, (response / (2 << 20)).max(1))
        } else {
            (usize::MAX, 0)
        };
        let mut resp = Vec::with_capacity(response + response / 1000 * 5 + 32);
        tls::application_data(&mut resp, response, record, |b| self.rng.fill(b));
        let gap = gap.min(60 * US);
        t = stream_with_losses(&mut c, t + gap, Dir::S2c, &resp, gap, lan, rtt, losses);

        // Client: close_notify alert (encrypted), FIN.
        t += self.rng.u64(20..200) * MS;
        let mut alert = Vec::new();
        tls::application_data(&mut alert, 19, usize::MAX, |b| self.rng.fill(b));
        c.data(t, Dir::C2s, &alert, true);
        c.close(t + 50 * US, Dir::C2s, rtt, lan);
        Self::emit(out, c.frames);
    }

    /// A plain HTTP/1.1 exchange on port 80 with a Host header.
    #[allow(clippy::too_many_arguments)]
    fn http_session(
        &mut self,
        out: &mut Vec<Frame>,
        t: u64,
        client: usize,
        s: &Service,
        dst: IpAddr,
        (path, status, content_type): (&str, &str, &str),
        body: &[u8],
    ) {
        let rtt = self.jitter(s.rtt_ms * MS);
        let lan = self.rng.u64(100..400) * US;
        let mut c = self.tcp(client, dst, 80);
        let mut t = c.handshake(t, rtt, lan);
        let ua = user_agent(DEVICES[client].os);
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: {ua}\r\nAccept: */*\r\n\
             Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n",
            s.name
        );
        t += self.rng.u64(50..300) * US;
        c.data(t, Dir::C2s, req.as_bytes(), true);

        let mut resp = format!(
            "HTTP/1.1 {status}\r\nServer: nginx\r\nDate: Tue, 14 May 2024 09:21:07 GMT\r\n"
        );
        if !content_type.is_empty() {
            resp.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        if !status.starts_with("204") {
            resp.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        resp.push_str("Connection: keep-alive\r\n\r\n");
        let mut bytes = resp.into_bytes();
        bytes.extend_from_slice(body);
        let gap = self.rng.u64(20..120) * US;
        t = c.stream(t + rtt, Dir::S2c, &bytes, gap, lan);
        t += self.rng.u64(30..150) * MS;
        c.close(t, Dir::C2s, rtt, lan);
        Self::emit(out, c.frames);
    }

    /// A QUIC v1 connection to port 443: the client's Initial with the
    /// ClientHello (SNI, ALPN h3), the server's Initial with the
    /// ServerHello coalesced with Handshake packets, the client's second
    /// Initial (ACK) with its Handshake packet, then 1-RTT packets carrying
    /// the response of `response` bytes and the client's ACKs.
    fn quic_session(
        &mut self,
        out: &mut Vec<Frame>,
        t: u64,
        client: usize,
        s: &Service,
        dst: IpAddr,
        response: usize,
    ) {
        let rtt = self.jitter(s.rtt_ms * MS);
        let lan = self.rng.u64(100..400) * US;
        let c2s = self.link(client, dst);
        let s2c = c2s.reverse(self.server_ttl());
        let cport = self.port(client);
        let mut c_id = self.rng.u16(..);
        let mut s_id = self.rng.u16(..);
        let dcid = self.random_bytes(8);
        let cscid = self.random_bytes(8);
        let sscid = self.random_bytes(8);
        let ckeys = InitialKeys::new(&dcid, quic::Side::Client);
        let skeys = InitialKeys::new(&dcid, quic::Side::Server);
        let mut frames = Vec::new();
        let mut send = |frames: &mut Vec<Frame>, ts: u64, dir: Dir, payload: &[u8]| {
            let (link, id, sp, dp) = match dir {
                Dir::C2s => (&c2s, &mut c_id, cport, 443),
                Dir::S2c => (&s2c, &mut s_id, 443, cport),
            };
            *id = id.wrapping_add(1);
            frames.push(Frame {
                ts_ns: ts,
                data: udp_frame(link, *id, sp, dp, payload),
            });
        };

        // Client Initial, padded as browsers do to 1250 bytes.
        let hello = tls::ClientHello {
            server_name: s.name,
            alpn: &["h3"],
            random: self.array32(),
            session_id: &[],
            key_share: self.array32(),
            quic_params: Some(tls::quic_transport_params(&cscid)),
        };
        let crypto = quic::crypto_frame(0, &hello.encode());
        let p = quic::initial_packet(&ckeys, &dcid, &cscid, &[], 0, 1, &crypto, 1250);
        let mut t = t;
        send(&mut frames, t, Dir::C2s, &p);

        // Server: Initial (ACK + ServerHello) coalesced with a Handshake
        // packet, then two more Handshake packets (certificates).
        t += rtt;
        let sh = tls::server_hello(self.array32(), &[], self.array32());
        let mut f = quic::ack_frame(0, self.rng.u64(0..40));
        f.extend_from_slice(&quic::crypto_frame(0, &sh));
        let mut dgram = quic::initial_packet(&skeys, &cscid, &sscid, &[], 0, 1, &f, 0);
        let hs_len = 1200 - dgram.len() - 25; // a 25-byte long header
        let hs = self.random_bytes(hs_len);
        let bits = self.rng.u8(..);
        dgram.extend_from_slice(&quic::opaque_long_packet(
            LongType::Handshake,
            &cscid,
            &sscid,
            bits,
            &hs,
        ));
        send(&mut frames, t, Dir::S2c, &dgram);
        for len in [1174, self.rng.usize(300..900)] {
            t += self.rng.u64(20..80) * US;
            let hs = self.random_bytes(len);
            let bits = self.rng.u8(..);
            let p = quic::opaque_long_packet(LongType::Handshake, &cscid, &sscid, bits, &hs);
            send(&mut frames, t, Dir::S2c, &p);
        }

        // Client: Initial ACK coalesced with its Handshake packet (ACK and
        // Finished), the datagram padded to 1250 bytes; then the request.
        t += lan + self.rng.u64(500..3000) * US;
        let hs = self.random_bytes_in(60..80);
        let bits = self.rng.u8(..);
        let hs = quic::opaque_long_packet(LongType::Handshake, &sscid, &cscid, bits, &hs);
        let init = quic::initial_packet(
            &ckeys,
            &sscid,
            &cscid,
            &[],
            1,
            1,
            &quic::ack_frame(0, 0),
            1250 - hs.len(),
        );
        let mut dgram = init;
        dgram.extend_from_slice(&hs);
        send(&mut frames, t, Dir::C2s, &dgram);
        t += self.rng.u64(20..200) * US;
        let req = self.random_bytes_in(80..300);
        let bits = self.rng.u8(..);
        send(
            &mut frames,
            t,
            Dir::C2s,
            &quic::short_packet(&sscid, bits, &req),
        );

        // Server: the response in full-sized 1-RTT packets; the client
        // acknowledges every second one and the last.
        t += rtt;
        let gap = self.rng.u64(20..100) * US;
        let mut left = response.max(200);
        let mut n = 0u32;
        while left > 0 {
            let len = left.min(1232);
            left -= len;
            n += 1;
            let body = self.random_bytes(len.max(40));
            let bits = self.rng.u8(..);
            send(
                &mut frames,
                t,
                Dir::S2c,
                &quic::short_packet(&cscid, bits, &body),
            );
            if n.is_multiple_of(2) || left == 0 {
                let ack = self.random_bytes_in(25..40);
                let bits = self.rng.u8(..);
                send(
                    &mut frames,
                    t + lan,
                    Dir::C2s,
                    &quic::short_packet(&sscid, bits, &ack),
                );
            }
            t += gap;
        }

        // Client closes the connection (CONNECTION_CLOSE).
        t += self.rng.u64(50..300) * MS;
        let close = self.random_bytes_in(30..50);
        let bits = self.rng.u8(..);
        send(
            &mut frames,
            t,
            Dir::C2s,
            &quic::short_packet(&sscid, bits, &close),
        );
        Self::emit(out, frames);
    }

    /// Four echo requests 200 ms apart, each answered after `rtt_ms`.
    fn ping(&mut self, out: &mut Vec<Frame>, t: u64, client: usize, dst: IpAddr, rtt_ms: u64) {
        let c2s = self.link(client, dst);
        let ttl = if rtt_ms <= 1 { 64 } else { self.server_ttl() };
        let s2c = c2s.reverse(ttl);
        let ident = self.rng.u16(..);
        let mut ids = (self.rng.u16(..), self.rng.u16(..));
        let mut frames = Vec::new();
        for seq in 1..=4u16 {
            let ts = t + (seq as u64 - 1) * 200 * MS;
            // Linux ping: an 8-byte timestamp, then bytes 0x10, 0x11, ...
            let mut payload = (ts / 1_000_000_000).to_le_bytes().to_vec();
            payload.extend(0x10u8..0x38);
            ids.0 = ids.0.wrapping_add(1);
            ids.1 = ids.1.wrapping_add(1);
            frames.push(Frame {
                ts_ns: ts,
                data: icmp_echo_frame(&c2s, ids.0, false, ident, seq, &payload),
            });
            frames.push(Frame {
                ts_ns: ts + self.jitter(rtt_ms * MS),
                data: icmp_echo_frame(&s2c, ids.1, true, ident, seq, &payload),
            });
        }
        Self::emit(out, frames);
    }

    /// A SYN scan of ports 1–1000 of the NAS in random order from one
    /// source port: closed ports answer RST/ACK, open ones SYN/ACK, which
    /// the scanner resets.
    fn port_scan(&mut self, out: &mut Vec<Frame>, t: u64) {
        let target = IpAddr::V4(lan_v4(5));
        let sport = self.port(SCANNER);
        let mut ports: Vec<u16> = (1..=SCAN_PORTS).collect();
        self.rng.shuffle(&mut ports);
        let mut t = t;
        for dport in ports {
            let open = NAS_OPEN_PORTS.contains(&dport);
            let c = TcpEnd {
                port: sport,
                isn: self.rng.u32(..),
                ip_id: self.rng.u16(..),
                syn_window: 1024,
                window: 1024,
                mss: 1460,
                sack_permitted: false,
                wscale: None,
            };
            let s = TcpEnd {
                port: dport,
                isn: if open { self.rng.u32(..) } else { 0 },
                ip_id: 0,
                syn_window: if open { 64240 } else { 0 },
                window: 0,
                mss: 1460,
                sack_permitted: true,
                wscale: Some(7),
            };
            let mut conv = TcpConversation::new(self.link(SCANNER, target), 64, c, s);
            conv.syn(t);
            let reply = t + self.rng.u64(150..500) * US;
            if open {
                conv.syn_ack(reply);
                conv.rst(reply + self.rng.u64(20..80) * US, Dir::C2s);
            } else {
                conv.rst_ack(reply, Dir::S2c);
            }
            Self::emit(out, conv.frames);
            t += self.rng.u64(400..800) * US;
        }
    }

    /// SYNs to port 23 of 100 internet hosts (a worm's sweep): most never
    /// answer, some reset, a few accept and are reset by the sweeper.
    fn host_sweep(&mut self, out: &mut Vec<Frame>, t: u64) {
        let sport = self.port(SWEEPER);
        let mut t = t;
        for host in 1..=SWEEP_HOSTS {
            let dst = IpAddr::V4(Ipv4Addr::new(192, 0, 2, host));
            let c = TcpEnd {
                port: sport,
                isn: self.rng.u32(..),
                ip_id: self.rng.u16(..),
                syn_window: 14600,
                window: 14600,
                mss: 1460,
                sack_permitted: false,
                wscale: None,
            };
            let answer = self.rng.u8(0..20);
            let s = TcpEnd {
                port: SWEEP_PORT,
                isn: if answer == 0 { self.rng.u32(..) } else { 0 },
                ip_id: self.rng.u16(..),
                syn_window: 29200,
                window: 0,
                mss: 1460,
                sack_permitted: true,
                wscale: Some(7),
            };
            let ttl = self.server_ttl();
            let mut conv = TcpConversation::new(self.link(SWEEPER, dst), ttl, c, s);
            conv.syn(t);
            let reply = t + self.rng.u64(15..120) * MS;
            match answer {
                0 => {
                    conv.syn_ack(reply);
                    conv.rst(reply + 100 * US, Dir::C2s);
                }
                1..=5 => conv.rst_ack(reply, Dir::S2c),
                _ => {}
            }
            Self::emit(out, conv.frames);
            t += self.rng.u64(3..8) * MS;
        }
    }
}

/// Sends `bytes` from `dir` in MSS-sized segments like
/// [`TcpConversation::stream`], with `losses` segments lost after the tap,
/// spread evenly: the receiver sends three duplicate ACKs with SACK blocks
/// for the segments that follow, and the sender retransmits the lost one
/// (a fast retransmission) one `rtt` later. Returns the last frame's time.
#[allow(clippy::too_many_arguments)]
fn stream_with_losses(
    c: &mut TcpConversation,
    t: u64,
    dir: Dir,
    bytes: &[u8],
    gap: u64,
    ack_ns: u64,
    rtt: u64,
    losses: usize,
) -> u64 {
    let segs: Vec<&[u8]> = bytes.chunks(c.mss(dir)).collect();
    let n = segs.len();
    let mut next_loss = (1..=losses).map(|k| k * n / (losses + 1)).peekable();
    let mut t = t;
    let mut last = t;
    let mut unacked = 0;
    let mut i = 0;
    while i < n {
        if let Some(&l) = next_loss.peek() {
            if i >= l && unacked == 0 && i + 3 < n {
                next_loss.next();
                let lost_seq = c.data(t, dir, segs[i], false);
                let left = c.next_seq(dir);
                for seg in &segs[i + 1..i + 4] {
                    t += gap;
                    c.data(t, dir, seg, false);
                    c.dup_ack_sack(t + ack_ns, other(dir), left, c.next_seq(dir));
                }
                t += rtt;
                c.retransmit(t, dir, lost_seq, segs[i], false);
                last = t + ack_ns;
                c.ack(last, other(dir));
                t += gap;
                i += 4;
                continue;
            }
        }
        let is_last = i + 1 == n;
        c.data(t, dir, segs[i], is_last);
        last = t;
        unacked += 1;
        if unacked == 2 || is_last {
            last = t + ack_ns;
            c.ack(last, other(dir));
            unacked = 0;
        }
        t += gap;
        i += 1;
    }
    last
}

impl Iterator for TrafficMix {
    type Item = Frame;

    fn next(&mut self) -> Option<Frame> {
        loop {
            let next_start = self.rounds * self.cfg.round_ns;
            match self.pending.front() {
                Some(f) if f.ts_ns < next_start => return self.pending.pop_front(),
                _ => {
                    let round = self.next_round();
                    if round.is_empty() && self.pending.is_empty() {
                        return None;
                    }
                    let mut all: Vec<Frame> = self.pending.drain(..).collect();
                    all.extend(round);
                    // Stable: frames of one time keep their order.
                    all.sort_by_key(|f| f.ts_ns);
                    self.pending = all.into();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(parts: &str) -> GenConfig {
        GenConfig {
            parts: parts.parse().unwrap(),
            bulk_bytes: 300_000,
            ..GenConfig::default()
        }
    }

    #[test]
    fn parts_parse_and_display() {
        assert_eq!("all".parse::<Parts>().unwrap(), Parts::ALL);
        let p: Parts = "dns, quic".parse().unwrap();
        assert!(p.dns && p.quic && !p.tls);
        assert_eq!(p.to_string(), "dns,quic");
        assert_eq!(Parts::ALL.to_string(), "all");
        assert!("dns,ftp".parse::<Parts>().unwrap_err().contains("ftp"));
        assert!("".parse::<Parts>().is_err());
    }

    #[test]
    fn same_seed_same_frames() {
        let a: Vec<Frame> = TrafficMix::new(cfg("all")).take(5000).collect();
        let b: Vec<Frame> = TrafficMix::new(cfg("all")).take(5000).collect();
        assert_eq!(a, b);
        let c: Vec<Frame> = TrafficMix::new(GenConfig {
            seed: 2,
            ..cfg("all")
        })
        .take(5000)
        .collect();
        assert_ne!(a, c);
    }

    #[test]
    fn frames_are_in_time_order_across_rounds() {
        let mut mix = TrafficMix::new(cfg("all"));
        let mut last = 0;
        let mut n = 0u32;
        for f in mix.by_ref().take(40_000) {
            assert!(f.ts_ns >= last);
            assert!(
                f.data.len() >= 60 && f.data.len() <= 1514,
                "{}",
                f.data.len()
            );
            last = f.ts_ns;
            n += 1;
        }
        assert_eq!(n, 40_000);
        assert!(mix.rounds() >= 2);
    }

    #[test]
    fn one_round_holds_every_part() {
        let frames = TrafficMix::new(cfg("all")).next_round();
        let ethertype = |f: &Frame| u16::from_be_bytes([f.data[12], f.data[13]]);
        let v4: Vec<&Frame> = frames.iter().filter(|f| ethertype(f) == 0x0800).collect();
        let v6 = frames.iter().filter(|f| ethertype(f) == 0x86dd).count();
        assert!(v6 > 0, "some IPv6");
        let proto = |f: &Frame| f.data[23];
        let dport = |f: &Frame| u16::from_be_bytes([f.data[36], f.data[37]]);
        let sport = |f: &Frame| u16::from_be_bytes([f.data[34], f.data[35]]);
        let icmp = v4.iter().filter(|f| proto(f) == 1).count();
        assert_eq!(icmp, 16, "two IPv4 pings of four pairs");
        let dns = v4
            .iter()
            .filter(|f| proto(f) == 17 && dport(f) == 53)
            .count();
        assert!(dns > 10);
        let quic = v4
            .iter()
            .filter(|f| proto(f) == 17 && dport(f) == 443)
            .count();
        assert!(quic > 20);
        // The scan: one SYN to each of ports 1..=1000 of the NAS.
        let nas = [192, 168, 50, 5];
        let syns = v4
            .iter()
            .filter(|f| proto(f) == 6 && f.data[30..34] == nas && f.data[47] == 0x02)
            .count();
        assert_eq!(syns, 1000);
        let rsts = v4
            .iter()
            .filter(|f| proto(f) == 6 && f.data[26..30] == nas && f.data[47] == 0x14)
            .count();
        assert_eq!(rsts, 1000 - NAS_OPEN_PORTS.len());
        // The sweep: one SYN to port 23 on each of 100 internet hosts.
        let sweep = v4
            .iter()
            .filter(|f| {
                proto(f) == 6 && dport(f) == 23 && f.data[47] == 0x02 && f.data[30..34] != nas
            })
            .count();
        assert_eq!(sweep, 100);
        let http = v4
            .iter()
            .filter(|f| proto(f) == 6 && (dport(f) == 80 || sport(f) == 80));
        assert!(http.count() > 20);
    }

    #[test]
    fn parts_select_traffic() {
        let frames = TrafficMix::new(cfg("icmp")).next_round();
        assert_eq!(frames.len(), 24);
        let frames = TrafficMix::new(cfg("dns")).next_round();
        // (protocol, destination port) of IPv4 and IPv6 frames.
        let l4 = |f: &Frame| {
            let d = &f.data;
            if d[12] == 0x86 {
                (d[20], u16::from_be_bytes([d[56], d[57]]))
            } else {
                (d[23], u16::from_be_bytes([d[36], d[37]]))
            }
        };
        assert!(frames.iter().all(|f| l4(f).0 == 17));
        // Every catalog name is looked up at least once per round, and
        // every query is answered.
        let queries = frames.iter().filter(|f| l4(f).1 == 53).count();
        assert!(queries >= CATALOG.len(), "{queries}");
        assert_eq!(queries * 2, frames.len());
    }

    #[test]
    fn bulk_transfer_carries_the_configured_bytes_and_retransmits() {
        let c = GenConfig {
            parts: "bulk".parse().unwrap(),
            bulk_bytes: 5 << 20,
            ..GenConfig::default()
        };
        let frames = TrafficMix::new(c).next_round();
        // TCP payload from port 443, by sequence number: the retransmitted
        // segments repeat sequence numbers already seen.
        let mut seen = std::collections::HashSet::new();
        let mut payload = 0usize;
        let mut retrans = 0;
        for f in &frames {
            let d = &f.data;
            let (l3, total) = if d[12] == 0x86 {
                (54, 40 + u16::from_be_bytes([d[18], d[19]]) as usize)
            } else {
                (34, u16::from_be_bytes([d[16], d[17]]) as usize)
            };
            let ip_hlen = l3 - 14;
            let tcp = &d[l3..14 + total];
            if u16::from_be_bytes([tcp[0], tcp[1]]) != 443 {
                continue;
            }
            let hl = (tcp[12] >> 4) as usize * 4;
            let len = total - ip_hlen - hl;
            if len == 0 {
                continue;
            }
            let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
            if !seen.insert(seq) {
                retrans += 1;
            } else {
                payload += len;
            }
        }
        assert_eq!(retrans, 2, "a fast retransmission per 2 MiB");
        assert!(
            payload > 5 << 20 && payload < (5 << 20) + 30_000,
            "{payload}"
        );
    }
}
