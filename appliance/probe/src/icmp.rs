//! `icmp` (a round of echoes) and `traceroute` (echoes with rising TTL),
//! over ICMP sockets: an unprivileged ping socket (`SOCK_DGRAM`, when
//! `net.ipv4.ping_group_range` allows it) else a raw socket (root or
//! CAP_NET_RAW). Traceroute always needs the raw socket: it reads the
//! routers' time-exceeded messages.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use datapath::wire::icmp::{v4_type, v6_type, EchoRepr};
use datapath::wire::{IcmpPacket, IpProtocol, Ipv4Packet, Ipv6Packet};
use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::net::UdpSocket;

use super::stats::fill_round;
use super::{split_host_port, ErrorClass, Hop, ProbeError, ProbeResult, ProbeTask};

/// An ICMP socket and how it delivers packets.
pub struct IcmpSocket {
    sock: UdpSocket,
    /// Raw sockets see every ICMP message, IPv4 ones with their IP header;
    /// ping sockets only their own echo replies, without it.
    raw: bool,
    v6: bool,
}

/// What an ICMP message says about one of our echoes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The destination answered the echo.
    Reply {
        /// Sequence number of the echo answered.
        seq: u16,
    },
    /// A router dropped the echo because its TTL (hop limit) ran out.
    TimeExceeded {
        /// Sequence number of the echo dropped.
        seq: u16,
    },
    /// A router or the destination could not deliver the echo.
    Unreachable {
        /// Sequence number of the echo not delivered.
        seq: u16,
        /// ICMP (or ICMPv6) destination-unreachable code: why.
        code: u8,
    },
}

impl IcmpSocket {
    /// Opens an ICMP (`v6`: ICMPv6) socket: a ping socket when allowed and
    /// `need_raw` is false, else a raw socket (root or CAP_NET_RAW).
    pub fn open(v6: bool, need_raw: bool) -> io::Result<IcmpSocket> {
        let (domain, proto) = if v6 {
            (Domain::IPV6, Protocol::ICMPV6)
        } else {
            (Domain::IPV4, Protocol::ICMPV4)
        };
        let (s, raw) = match (!need_raw)
            .then(|| Socket::new(domain, Type::DGRAM, Some(proto)))
            .and_then(Result::ok)
        {
            Some(s) => (s, false),
            None => (Socket::new(domain, Type::RAW, Some(proto))?, true),
        };
        s.set_nonblocking(true)?;
        let std: std::net::UdpSocket = s.into();
        Ok(IcmpSocket {
            sock: UdpSocket::from_std(std)?,
            raw,
            v6,
        })
    }

    /// Sets the TTL (IPv6: hop limit) of the echoes sent from now on.
    pub fn set_ttl(&self, ttl: u8) -> io::Result<()> {
        if self.v6 {
            SockRef::from(&self.sock).set_unicast_hops_v6(ttl as u32)
        } else {
            self.sock.set_ttl(ttl as u32)
        }
    }

    /// Sends an echo request to `to` with identifier `id`, sequence number
    /// `seq` and `size` bytes of payload.
    pub async fn send_echo(&self, to: IpAddr, id: u16, seq: u16, size: usize) -> io::Result<()> {
        let pkt = echo_request(self.v6, id, seq, size);
        self.sock.send_to(&pkt, SocketAddr::new(to, 0)).await?;
        Ok(())
    }

    /// The next message about one of our echoes (identifier `id`), and who sent it.
    pub async fn recv(&self, id: u16, buf: &mut [u8]) -> io::Result<(Answer, IpAddr)> {
        loop {
            let (n, from) = self.sock.recv_from(buf).await?;
            if let Some(a) = parse(&buf[..n], self.v6, self.raw, id) {
                return Ok((a, from.ip()));
            }
        }
    }
}

/// An echo request: type 8 (ICMPv6 128), identifier, sequence number and
/// `size` bytes of payload (0, 1, 2, ...). The IPv4 checksum is filled in;
/// the kernel fills ICMPv6's (it knows the source address).
pub fn echo_request(v6: bool, id: u16, seq: u16, size: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..size).map(|i| i as u8).collect();
    let r = EchoRepr {
        v6,
        reply: false,
        ident: id,
        seq_no: seq,
        data: &data,
    };
    let mut p = vec![0u8; r.buffer_len()];
    r.emit(&mut IcmpPacket::new_unchecked(&mut p[..]), None);
    p
}

/// Reads an ICMP message (IPv4 ones from a raw socket start with the IP
/// header) and says what it tells about our echo `id`. A ping socket's
/// kernel rewrites the identifier, so it is not checked there.
pub fn parse(buf: &[u8], v6: bool, raw: bool, id: u16) -> Option<Answer> {
    let icmp = if raw && !v6 {
        &buf[Ipv4Packet::new_checked(buf).ok()?.header_len()..]
    } else {
        buf
    };
    let msg = IcmpPacket::new_checked(icmp).ok()?;
    let (reply, exceeded, unreach, request) = if v6 {
        (
            v6_type::ECHO_REPLY,
            v6_type::TIME_EXCEEDED,
            v6_type::DEST_UNREACHABLE,
            v6_type::ECHO_REQUEST,
        )
    } else {
        (
            v4_type::ECHO_REPLY,
            v4_type::TIME_EXCEEDED,
            v4_type::DEST_UNREACHABLE,
            v4_type::ECHO_REQUEST,
        )
    };
    let id_ok = |m: &IcmpPacket<&[u8]>| !raw || m.echo_ident() == id;
    let t = msg.msg_type();
    if t == reply {
        return id_ok(&msg).then(|| Answer::Reply {
            seq: msg.echo_seq_no(),
        });
    }
    if t != exceeded && t != unreach {
        return None;
    }
    // The offending packet: its IP header, then (the start of) our echo
    // request. The quote may be cut short, so only the headers must fit.
    let inner = msg.payload();
    let inner_icmp = if v6 {
        let ip = Ipv6Packet::new_checked(inner).ok()?;
        if ip.next_header() != IpProtocol::ICMPV6 {
            return None;
        }
        &inner[datapath::wire::ipv6::HEADER_LEN..]
    } else {
        let ip = Ipv4Packet::new_checked(inner).ok()?;
        if ip.protocol() != IpProtocol::ICMP {
            return None;
        }
        &inner[ip.header_len()..]
    };
    let quoted = IcmpPacket::new_checked(inner_icmp).ok()?;
    if quoted.msg_type() != request || !id_ok(&quoted) {
        return None;
    }
    let s = quoted.echo_seq_no();
    Some(if t == exceeded {
        Answer::TimeExceeded { seq: s }
    } else {
        Answer::Unreachable {
            seq: s,
            code: msg.msg_code(),
        }
    })
}

async fn target_ip(task: &ProbeTask, r: &mut ProbeResult) -> Result<IpAddr, ProbeError> {
    let (host, _) =
        split_host_port(&task.target).map_err(|e| ProbeError::new(ErrorClass::Io, e))?;
    let (a, ms) = super::resolve(&host, 0).await?;
    r.dns_ms = ms;
    r.address = Some(a.ip().to_string());
    Ok(a.ip())
}

fn open(v6: bool, need_raw: bool) -> Result<IcmpSocket, ProbeError> {
    IcmpSocket::open(v6, need_raw).map_err(|e| {
        let mut pe = ProbeError::io("opening an ICMP socket", &e);
        if pe.class == ErrorClass::Permission {
            pe.message += " (needs root or CAP_NET_RAW)";
        }
        pe
    })
}

fn unreachable_text(v6: bool, code: u8) -> &'static str {
    match (v6, code) {
        (false, 0) | (true, 0) => "network unreachable",
        (false, 1) | (true, 3) => "host unreachable",
        (false, 3) | (true, 4) => "port unreachable",
        (false, 13) | (true, 1) => "administratively prohibited",
        _ => "unreachable",
    }
}

/// `icmp`: `count` echoes `spacing` apart; waits `wait` after the last.
pub async fn echo(task: &ProbeTask, r: &mut ProbeResult) -> Result<(), ProbeError> {
    let p = &task.params;
    let ip = target_ip(task, r).await?;
    let s = open(ip.is_ipv6(), false)?;
    let id = fastrand::u16(..);
    let count = p.count.clamp(1, 1000) as usize;
    let mut sent_at: Vec<Option<Instant>> = vec![None; count];
    let mut rtt: Vec<Option<f64>> = vec![None; count];
    let mut unreachable: Option<(IpAddr, u8)> = None;
    let mut send_error: Option<io::Error> = None;
    let mut next = 0usize;
    let mut next_at = Instant::now();
    let mut buf = vec![0u8; 2048];
    loop {
        let deadline = if next < count {
            next_at
        } else {
            sent_at[count - 1].map_or(Instant::now(), |t| t + p.wait)
        };
        if next >= count && (Instant::now() >= deadline || rtt.iter().all(Option::is_some)) {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline.into()) => {
                if next < count {
                    // Stamped before the send: on a fast path the answer may
                    // be queued before send returns.
                    let t = Instant::now();
                    match s.send_echo(ip, id, next as u16, p.size).await {
                        Ok(()) => sent_at[next] = Some(t),
                        Err(e) => send_error = Some(e),
                    }
                    next += 1;
                    next_at += p.spacing;
                }
            }
            got = s.recv(id, &mut buf) => match got {
                Ok((Answer::Reply { seq }, from)) if from == ip => {
                    let i = seq as usize;
                    if let (Some(None), Some(Some(t))) = (rtt.get(i), sent_at.get(i)) {
                        rtt[i] = Some(t.elapsed().as_secs_f64() * 1e3);
                    }
                }
                Ok((Answer::Unreachable { code, .. }, from)) => unreachable = Some((from, code)),
                Ok(_) => {}
                Err(e) => send_error = Some(e),
            }
        }
    }
    let sent = sent_at.iter().filter(|t| t.is_some()).count() as u32;
    let rtts: Vec<f64> = rtt.iter().flatten().copied().collect();
    fill_round(r, sent, &rtts);
    if rtts.is_empty() {
        return Err(match (unreachable, send_error) {
            (Some((from, code)), _) => ProbeError::new(
                ErrorClass::Unreachable,
                format!(
                    "{ip}: {} (from {from})",
                    unreachable_text(ip.is_ipv6(), code)
                ),
            ),
            (None, Some(e)) => ProbeError::io(&format!("echo to {ip}"), &e),
            (None, None) => ProbeError::new(
                ErrorClass::Timeout,
                format!("no echo reply from {ip} ({sent} sent)"),
            ),
        });
    }
    Ok(())
}

/// `traceroute`: `probes_per_hop` echoes at each TTL from 1 up to
/// `max_hops`, until the target answers or says it is unreachable.
pub async fn traceroute(task: &ProbeTask, r: &mut ProbeResult) -> Result<(), ProbeError> {
    let p = &task.params;
    let ip = target_ip(task, r).await?;
    let s = open(ip.is_ipv6(), true)?;
    let id = fastrand::u16(..);
    let per_hop = p.probes_per_hop.clamp(1, 10) as usize;
    let mut hops = Vec::new();
    let mut reached = false;
    let mut stop: Option<ProbeError> = None;
    let mut buf = vec![0u8; 2048];
    for ttl in 1..=p.max_hops.clamp(1, 64) {
        s.set_ttl(ttl)
            .map_err(|e| ProbeError::io("setting the TTL", &e))?;
        let base = ttl as u16 * 16;
        let mut sent_at = vec![None; per_hop];
        for (k, slot) in sent_at.iter_mut().enumerate() {
            let t = Instant::now();
            if s.send_echo(ip, id, base + k as u16, p.size).await.is_ok() {
                *slot = Some(t);
            }
        }
        let mut rtts: Vec<Option<f64>> = vec![None; per_hop];
        let mut address = None;
        let deadline = tokio::time::Instant::now() + p.wait;
        while rtts.iter().any(Option::is_none) {
            let got = match tokio::time::timeout_at(deadline, s.recv(id, &mut buf)).await {
                Err(_) => break,
                Ok(Err(_)) => continue,
                Ok(Ok(x)) => x,
            };
            let (seq, from, kind) = match got {
                (Answer::Reply { seq }, from) => (seq, from, 0),
                (Answer::TimeExceeded { seq }, from) => (seq, from, 1),
                (Answer::Unreachable { seq, code }, from) => (seq, from, 2 + code as u32),
            };
            let k = seq.wrapping_sub(base) as usize;
            if seq < base || k >= per_hop {
                continue; // an answer to an earlier hop's probe
            }
            if let (None, Some(t)) = (rtts[k], sent_at[k]) {
                rtts[k] = Some(t.elapsed().as_secs_f64() * 1e3);
            }
            address.get_or_insert(from);
            if kind == 0 && from == ip {
                reached = true;
            } else if kind >= 2 {
                let code = (kind - 2) as u8;
                // The target's own "port unreachable" would mean it was
                // reached; for echoes anything else means it cannot be.
                stop.get_or_insert(ProbeError::new(
                    ErrorClass::Unreachable,
                    format!(
                        "{ip}: {} (from {from} at hop {ttl})",
                        unreachable_text(ip.is_ipv6(), code)
                    ),
                ));
            }
        }
        let sent = sent_at.iter().filter(|t| t.is_some()).count() as u32;
        let got: Vec<f64> = rtts.iter().flatten().copied().collect();
        hops.push(Hop {
            ttl,
            address: address.map(|a| a.to_string()),
            sent,
            received: got.len() as u32,
            loss: if sent > 0 {
                1.0 - got.len() as f64 / sent as f64
            } else {
                1.0
            },
            rtt_ms: got,
        });
        if reached || stop.is_some() {
            break;
        }
    }
    r.reached = Some(reached);
    if let Some(last) = hops.last() {
        let rtts = last.rtt_ms.clone();
        fill_round(r, last.sent, &rtts);
    }
    r.hops = Some(hops);
    if reached {
        return Ok(());
    }
    Err(stop.unwrap_or_else(|| {
        ProbeError::new(
            ErrorClass::Timeout,
            format!("{ip} not reached within {} hops", p.max_hops),
        )
    }))
}

/// How long a round of `count` echoes takes at most.
pub fn round_time(count: u32, spacing: Duration, wait: Duration) -> Duration {
    spacing * count.saturating_sub(1) + wait
}

#[cfg(test)]
mod tests {
    use super::*;
    use datapath::wire::checksum;

    #[test]
    fn echo_requests_have_a_valid_checksum() {
        let p = echo_request(false, 0x1234, 7, 56);
        assert_eq!(p.len(), 64);
        assert_eq!((p[0], p[1]), (8, 0));
        // A packet with its checksum in place sums to zero.
        assert_eq!(checksum(&p), 0);
        // RFC 1071's example words.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
        // It reads back as the request it was made from.
        let r = EchoRepr::parse(&IcmpPacket::new_checked(&p[..]).unwrap(), false, None).unwrap();
        assert_eq!(
            (r.ident, r.seq_no, r.reply, r.data.len()),
            (0x1234, 7, false, 56)
        );
        assert_eq!(&r.data[..3], &[0, 1, 2]);
        let p6 = echo_request(true, 1, 2, 0);
        assert_eq!((p6[0], p6[2], p6[3]), (128, 0, 0));
    }

    fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
        let mut h = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        h.extend_from_slice(payload);
        h
    }

    #[test]
    fn answers_are_matched_to_our_echoes() {
        let mut reply = echo_request(false, 0x1234, 9, 8);
        reply[0] = 0;
        // Raw socket: with the IP header, identifier checked.
        let raw = ipv4(1, &reply);
        assert_eq!(
            parse(&raw, false, true, 0x1234),
            Some(Answer::Reply { seq: 9 })
        );
        assert_eq!(parse(&raw, false, true, 0x9999), None);
        // Ping socket: no IP header, identifier rewritten by the kernel.
        assert_eq!(
            parse(&reply, false, false, 0x9999),
            Some(Answer::Reply { seq: 9 })
        );
        // Our own request seen on a raw socket is not an answer.
        let req = ipv4(1, &echo_request(false, 0x1234, 9, 8));
        assert_eq!(parse(&req, false, true, 0x1234), None);
        // A router's time exceeded quoting our request.
        let quoted = ipv4(1, &echo_request(false, 0x1234, 33, 8)[..8]);
        let mut te = vec![11, 0, 0, 0, 0, 0, 0, 0];
        te.extend_from_slice(&quoted);
        assert_eq!(
            parse(&ipv4(1, &te), false, true, 0x1234),
            Some(Answer::TimeExceeded { seq: 33 })
        );
        let mut un = te.clone();
        un[0] = 3;
        un[1] = 1;
        assert_eq!(
            parse(&ipv4(1, &un), false, true, 0x1234),
            Some(Answer::Unreachable { seq: 33, code: 1 })
        );
        assert_eq!(parse(&ipv4(1, &te), false, true, 0x4321), None);
        // Truncated input never panics.
        let full = ipv4(1, &te);
        for n in 0..full.len() {
            let _ = parse(&full[..n], false, true, 0x1234);
            let _ = parse(&full[..n], true, true, 0x1234);
        }
        // ICMPv6 time exceeded quoting an IPv6 header and our echo.
        let mut te6 = vec![3, 0, 0, 0, 0, 0, 0, 0];
        let mut ip6 = vec![0x60, 0, 0, 0, 0, 16, 58, 1];
        ip6.extend_from_slice(&[0; 32]);
        te6.extend_from_slice(&ip6);
        te6.extend_from_slice(&echo_request(true, 5, 17, 8));
        assert_eq!(
            parse(&te6, true, true, 5),
            Some(Answer::TimeExceeded { seq: 17 })
        );
    }

    #[test]
    fn loopback_round_when_allowed() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // Needs a ping socket or a raw socket (root); skip quietly without.
        if rt.block_on(async { IcmpSocket::open(false, false).is_err() }) {
            return;
        }
        let task = ProbeTask {
            name: "lo".into(),
            kind: super::super::ProbeKind::Icmp,
            target: "127.0.0.1".into(),
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(5),
            params: super::super::ProbeParams {
                count: 3,
                spacing: Duration::from_millis(10),
                ..Default::default()
            },
        };
        let r = rt.block_on(super::super::run(&task));
        assert!(r.ok, "{r:?}");
        assert_eq!((r.sent, r.received), (Some(3), Some(3)));
        assert_eq!(r.loss, Some(0.0));
        assert!(r.rtt_median_ms.unwrap() < 100.0);
    }
}
