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
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

use super::dns::{self, RData, Record};
use super::packets::{
    icmp_echo_frame, other, udp_frame, Dir, Frame, Link, TcpConversation, TcpEnd,
};
use super::quic::{self, InitialKeys, LongType};
use super::tls;

mod sessions;
mod world;

use world::*;

/// Which kinds of traffic a mix holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Parts {
    /// DNS lookups before each visit, and lookups of names nobody connects to
    /// (some NXDOMAIN).
    pub dns: bool,
    /// Visits over TLS 1.3 on TCP.
    pub tls: bool,
    /// Visits over QUIC.
    pub quic: bool,
    /// Visits over plain HTTP/1.1.
    pub http: bool,
    /// Bulk downloads over TLS, with a fast retransmission about every 2 MB.
    pub bulk: bool,
    /// Pings (ICMP and ICMPv6) to the gateway and to an internet host.
    pub icmp: bool,
    /// A SYN scan of the NAS's ports and a sweep of port 23 over internet
    /// hosts.
    pub scan: bool,
}

impl Parts {
    /// Every kind of traffic.
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

    /// True when no kind of traffic is selected.
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
    /// The kinds of traffic generated.
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
    /// Checks the settings: at least one kind of traffic, a scale of 1 to 1000,
    /// rounds at least 100 ms apart and bulk downloads of 1 byte to 1 GiB; the
    /// error says what is wrong.
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

    /// The settings the generator was made with.
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
mod tests;
