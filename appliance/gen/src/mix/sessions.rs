//! The conversations of a round: name lookups, TLS, HTTP and QUIC
//! sessions, pings, the port scan and the host sweep, each appending its
//! frames in both directions.

use super::world::*;
use super::*;

impl TrafficMix {
    pub(super) fn visit(
        &mut self,
        out: &mut Vec<Frame>,
        t: u64,
        client: usize,
        s: &Service,
        connect: bool,
    ) {
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
    pub(super) fn answers(&mut self, s: &Service, qtype: u16) -> (u8, Vec<Record>, Vec<Record>) {
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
    pub(super) fn dns_lookup(
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
    pub(super) fn emit(out: &mut Vec<Frame>, frames: Vec<Frame>) {
        out.extend(frames);
    }

    /// A TLS 1.3 session on port 443: handshake, ClientHello with SNI and
    /// ALPN, the server's flight, the client's Finished and request, the
    /// response of `response` bytes, close_notify and FIN teardown.
    pub(super) fn tls_session(
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
    pub(super) fn http_session(
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
    pub(super) fn quic_session(
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
        let c_id = self.rng.u16(..);
        let s_id = self.rng.u16(..);
        let mut q = QuicPath {
            c2s,
            s2c,
            cport,
            ids: [c_id, s_id],
            dcid: self.random_bytes(8),
            cscid: self.random_bytes(8),
            sscid: self.random_bytes(8),
            frames: Vec::new(),
        };
        let t = self.quic_handshake(&mut q, t, s.name, rtt, lan);
        self.quic_response(&mut q, t + rtt, lan, response);
        Self::emit(out, q.frames);
    }

    /// The handshake and the request of a QUIC session; returns the time
    /// of the request.
    fn quic_handshake(&mut self, q: &mut QuicPath, t: u64, name: &str, rtt: u64, lan: u64) -> u64 {
        let ckeys = InitialKeys::new(&q.dcid, quic::Side::Client);
        let skeys = InitialKeys::new(&q.dcid, quic::Side::Server);
        let (dcid, cscid, sscid) = (q.dcid.clone(), q.cscid.clone(), q.sscid.clone());

        // Client Initial, padded as browsers do to 1250 bytes.
        let hello = tls::ClientHello {
            server_name: name,
            alpn: &["h3"],
            random: self.array32(),
            session_id: &[],
            key_share: self.array32(),
            quic_params: Some(tls::quic_transport_params(&cscid)),
        };
        let crypto = quic::crypto_frame(0, &hello.encode());
        let p = quic::initial_packet(&ckeys, &dcid, &cscid, &[], 0, 1, &crypto, 1250);
        let mut t = t;
        q.send(t, Dir::C2s, &p);

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
        q.send(t, Dir::S2c, &dgram);
        for len in [1174, self.rng.usize(300..900)] {
            t += self.rng.u64(20..80) * US;
            let hs = self.random_bytes(len);
            let bits = self.rng.u8(..);
            let p = quic::opaque_long_packet(LongType::Handshake, &cscid, &sscid, bits, &hs);
            q.send(t, Dir::S2c, &p);
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
        q.send(t, Dir::C2s, &dgram);
        t += self.rng.u64(20..200) * US;
        let req = self.random_bytes_in(80..300);
        let bits = self.rng.u8(..);
        q.send(t, Dir::C2s, &quic::short_packet(&sscid, bits, &req));
        t
    }

    /// The server's response from `t` in full-sized 1-RTT packets (the
    /// client acknowledges every second one and the last), then the
    /// client's CONNECTION_CLOSE.
    fn quic_response(&mut self, q: &mut QuicPath, t: u64, lan: u64, response: usize) {
        let (cscid, sscid) = (q.cscid.clone(), q.sscid.clone());
        let mut t = t;
        let gap = self.rng.u64(20..100) * US;
        let mut left = response.max(200);
        let mut n = 0u32;
        while left > 0 {
            let len = left.min(1232);
            left -= len;
            n += 1;
            let body = self.random_bytes(len.max(40));
            let bits = self.rng.u8(..);
            q.send(t, Dir::S2c, &quic::short_packet(&cscid, bits, &body));
            if n.is_multiple_of(2) || left == 0 {
                let ack = self.random_bytes_in(25..40);
                let bits = self.rng.u8(..);
                q.send(t + lan, Dir::C2s, &quic::short_packet(&sscid, bits, &ack));
            }
            t += gap;
        }
        t += self.rng.u64(50..300) * MS;
        let close = self.random_bytes_in(30..50);
        let bits = self.rng.u8(..);
        q.send(t, Dir::C2s, &quic::short_packet(&sscid, bits, &close));
    }

    /// Four echo requests 200 ms apart, each answered after `rtt_ms`.
    pub(super) fn ping(
        &mut self,
        out: &mut Vec<Frame>,
        t: u64,
        client: usize,
        dst: IpAddr,
        rtt_ms: u64,
    ) {
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
    pub(super) fn port_scan(&mut self, out: &mut Vec<Frame>, t: u64) {
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
    pub(super) fn host_sweep(&mut self, out: &mut Vec<Frame>, t: u64) {
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

/// Both directions of one QUIC session: links, the client's port, the
/// next IP ids (client, server), the connection ids and the frames so far.
struct QuicPath {
    c2s: Link,
    s2c: Link,
    cport: u16,
    ids: [u16; 2],
    dcid: Vec<u8>,
    cscid: Vec<u8>,
    sscid: Vec<u8>,
    frames: Vec<Frame>,
}

impl QuicPath {
    /// One datagram from `dir` at `ts`.
    fn send(&mut self, ts: u64, dir: Dir, payload: &[u8]) {
        let (link, id, sp, dp) = match dir {
            Dir::C2s => (&self.c2s, &mut self.ids[0], self.cport, 443),
            Dir::S2c => (&self.s2c, &mut self.ids[1], 443, self.cport),
        };
        *id = id.wrapping_add(1);
        self.frames.push(Frame {
            ts_ns: ts,
            data: udp_frame(link, *id, sp, dp, payload),
        });
    }
}
