//! Frame builders: Ethernet II over IPv4 or IPv6, carrying TCP, UDP or ICMP
//! echo, with correct lengths and checksums, and a TCP conversation that
//! keeps both sides' sequence numbers so handshakes, data, teardowns and
//! resets come out as a tap between the two would see them.
//!
//! Every header is written by the datapath's `Repr::emit` (the same views
//! the parser reads, and the one Internet checksum); this module only
//! decides what goes into them.
//!
//! Frames shorter than the Ethernet minimum are padded to 60 bytes (without
//! the FCS), as they are on the wire.

use std::net::IpAddr;

use datapath::wire::{
    ethernet, icmp, ipv4, ipv6, tcp, udp, EtherType, EthernetFrame, IcmpPacket, IpPair, IpProtocol,
    Ipv4Packet, Ipv6Packet, TcpFlags, TcpPacket, UdpPacket,
};

/// A MAC address.
pub type Mac = [u8; 6];

/// The shortest Ethernet frame without its FCS; shorter frames are padded.
pub const MIN_FRAME: usize = 60;
/// Ethernet header length.
pub const ETH_LEN: usize = ethernet::HEADER_LEN;

/// One generated frame: its time relative to the start of the generation
/// and its bytes from the Ethernet header on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Time since the start of the generation, in nanoseconds.
    pub ts_ns: u64,
    /// The frame from the Ethernet header on, without FCS.
    pub data: Vec<u8>,
}

/// One direction of a path: Ethernet and IP source and destination and the
/// TTL (hop limit) the packets carry where they are seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    /// Source MAC address.
    pub src_mac: Mac,
    /// Destination MAC address.
    pub dst_mac: Mac,
    /// Source address.
    pub src: IpAddr,
    /// Destination address, of the same family as `src`.
    pub dst: IpAddr,
    /// TTL or hop limit where the packets are seen.
    pub ttl: u8,
}

impl Link {
    /// The opposite direction, with its own TTL.
    pub fn reverse(&self, ttl: u8) -> Link {
        Link {
            src_mac: self.dst_mac,
            dst_mac: self.src_mac,
            src: self.dst,
            dst: self.src,
            ttl,
        }
    }

    /// True if the link's addresses are IPv6.
    pub fn is_ipv6(&self) -> bool {
        self.src.is_ipv6()
    }

    /// Bytes of Ethernet and IP headers in front of the transport header.
    pub fn header_len(&self) -> usize {
        ETH_LEN
            + if self.is_ipv6() {
                ipv6::HEADER_LEN
            } else {
                ipv4::HEADER_LEN
            }
    }

    /// The addresses as the transport checksum sees them. Panics if the
    /// source and destination are of different IP versions.
    fn ip_pair(&self) -> IpPair {
        IpPair::new(self.src, self.dst).expect("source and destination of one IP version")
    }
}

/// The transport part of a frame.
#[derive(Clone, Copy, Debug)]
enum Transport<'a> {
    Tcp(tcp::Repr<'a>),
    Udp(udp::Repr<'a>),
    Echo(icmp::EchoRepr<'a>),
}

impl Transport<'_> {
    fn protocol(&self) -> IpProtocol {
        match self {
            Transport::Tcp(_) => IpProtocol::TCP,
            Transport::Udp(_) => IpProtocol::UDP,
            Transport::Echo(e) if e.v6 => IpProtocol::ICMPV6,
            Transport::Echo(_) => IpProtocol::ICMP,
        }
    }

    fn buffer_len(&self) -> usize {
        match self {
            Transport::Tcp(r) => r.buffer_len(),
            Transport::Udp(r) => r.buffer_len(),
            Transport::Echo(r) => r.buffer_len(),
        }
    }

    /// The ports, for the IPv6 flow label (none for ICMP).
    fn ports(&self) -> Option<(u16, u16)> {
        match self {
            Transport::Tcp(r) => Some((r.src_port, r.dst_port)),
            Transport::Udp(r) => Some((r.src_port, r.dst_port)),
            Transport::Echo(_) => None,
        }
    }

    /// Writes the transport header and payload, checksum included, into
    /// `buf` (exactly [`Transport::buffer_len`] bytes).
    fn emit(&self, buf: &mut [u8], ip: &IpPair) {
        match self {
            Transport::Tcp(r) => r.emit(&mut TcpPacket::new_unchecked(buf), ip),
            Transport::Udp(r) => r.emit(&mut UdpPacket::new_unchecked(buf), ip),
            Transport::Echo(r) => r.emit(&mut IcmpPacket::new_unchecked(buf), Some(ip)),
        }
    }
}

/// A 20-bit IPv6 flow label from addresses, protocol and (for TCP and
/// UDP) ports: FNV-1a folded to 20 bits, never zero.
fn flow_label(src: &[u8; 16], dst: &[u8; 16], proto: IpProtocol, ports: Option<(u16, u16)>) -> u32 {
    let ports = ports.map(|(s, d)| {
        let mut b = [0u8; 4];
        b[..2].copy_from_slice(&s.to_be_bytes());
        b[2..].copy_from_slice(&d.to_be_bytes());
        b
    });
    let mut h: u32 = 0x811c_9dc5;
    let ports = ports.as_ref().map_or(&[][..], |p| &p[..]);
    for b in src.iter().chain(dst).chain([proto.0].iter()).chain(ports) {
        h = (h ^ *b as u32).wrapping_mul(0x0100_0193);
    }
    ((h >> 20) ^ h) & 0xfffff | 1
}

/// Builds a frame: Ethernet, the IP header for `link`, then `l4` with its
/// checksum. IPv4 packets carry `ip_id` and, when `dont_fragment`, the DF
/// flag.
fn ip_frame(link: &Link, ip_id: u16, dont_fragment: bool, l4: &Transport) -> Vec<u8> {
    let ip = link.ip_pair();
    let hlen = link.header_len();
    let l4_len = l4.buffer_len();
    let end = hlen + l4_len;
    let mut f = vec![0u8; end.max(MIN_FRAME)];
    let ethertype = if ip.is_ipv6() {
        EtherType::IPV6
    } else {
        EtherType::IPV4
    };
    ethernet::Repr {
        src_addr: link.src_mac,
        dst_addr: link.dst_mac,
        ethertype,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut f[..]));
    let protocol = l4.protocol();
    match ip {
        IpPair::V4 { src, dst } => {
            assert!(ipv4::HEADER_LEN + l4_len <= 0xffff, "IPv4 packet too long");
            ipv4::Repr {
                src_addr: src,
                dst_addr: dst,
                protocol,
                payload_len: l4_len,
                ttl: link.ttl,
                ident: ip_id,
                dont_frag: dont_fragment,
            }
            .emit(&mut Ipv4Packet::new_unchecked(&mut f[ETH_LEN..end]));
        }
        IpPair::V6 { src, dst } => {
            assert!(l4_len <= 0xffff, "IPv6 payload too long");
            // Traffic class 0 and a flow label hashed from the addresses
            // and ports (as Linux does), so each direction of a
            // conversation keeps one label.
            ipv6::Repr {
                src_addr: src,
                dst_addr: dst,
                next_header: protocol,
                payload_len: l4_len,
                hop_limit: link.ttl,
                traffic_class: 0,
                flow_label: flow_label(&src, &dst, protocol, l4.ports()),
            }
            .emit(&mut Ipv6Packet::new_unchecked(&mut f[ETH_LEN..end]));
        }
    }
    l4.emit(&mut f[hlen..end], &ip);
    f
}

/// A TCP segment: header fields, options (padded to a multiple of 4
/// bytes, at most 40) and payload.
pub type TcpSegment<'a> = tcp::Repr<'a>;

/// A TCP segment in an Ethernet frame (IPv4 with DF set, or IPv6).
pub fn tcp_frame(link: &Link, ip_id: u16, seg: &TcpSegment) -> Vec<u8> {
    ip_frame(link, ip_id, true, &Transport::Tcp(*seg))
}

/// A UDP datagram in an Ethernet frame.
pub fn udp_frame(link: &Link, ip_id: u16, src_port: u16, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    assert!(
        udp::HEADER_LEN + payload.len() <= 0xffff,
        "UDP datagram too long"
    );
    let r = udp::Repr {
        src_port,
        dst_port,
        payload,
    };
    ip_frame(link, ip_id, false, &Transport::Udp(r))
}

/// An ICMP (IPv4) or ICMPv6 (IPv6) echo request or reply.
pub fn icmp_echo_frame(
    link: &Link,
    ip_id: u16,
    reply: bool,
    ident: u16,
    seq: u16,
    payload: &[u8],
) -> Vec<u8> {
    let r = icmp::EchoRepr {
        v6: link.is_ipv6(),
        reply,
        ident,
        seq_no: seq,
        data: payload,
    };
    ip_frame(link, ip_id, false, &Transport::Echo(r))
}

/// SYN options as a Linux or Windows stack sends them without timestamps:
/// MSS, SACK permitted, window scale (each optional but MSS), padded with
/// NOPs to a multiple of 4.
pub fn syn_options(mss: u16, sack_permitted: bool, wscale: Option<u8>) -> Vec<u8> {
    let mut o = vec![2, 4];
    o.extend_from_slice(&mss.to_be_bytes());
    if sack_permitted {
        o.extend_from_slice(&[1, 1, 4, 2]);
    }
    if let Some(ws) = wscale {
        o.extend_from_slice(&[1, 3, 3, ws]);
    }
    o
}

/// One side of a TCP conversation.
#[derive(Clone, Copy, Debug)]
struct Side {
    link: Link,
    port: u16,
    /// Next sequence number to send.
    next_seq: u32,
    /// Highest sequence number of the peer acknowledged so far.
    acked: u32,
    ip_id: u16,
    syn_window: u16,
    window: u16,
    mss: u16,
    sack: bool,
}

impl Side {
    fn id(&mut self) -> u16 {
        let v = self.ip_id;
        self.ip_id = self.ip_id.wrapping_add(1);
        v
    }
}

/// Which end of a conversation sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Client to server.
    C2s,
    /// Server to client.
    S2c,
}

/// Options of one TCP end: initial sequence number, first IP id, receive
/// window field of its SYN and of later segments (scaled by `wscale` when
/// both ends offer it), MSS, SACK and window scale of its SYN.
#[derive(Clone, Copy, Debug)]
pub struct TcpEnd {
    /// The end's TCP port.
    pub port: u16,
    /// Initial sequence number (of its SYN).
    pub isn: u32,
    /// IP id of its first packet (IPv4), counting up by one per packet.
    pub ip_id: u16,
    /// Receive window field of its SYN (never scaled).
    pub syn_window: u16,
    /// Receive window field of its later segments (scaled by `wscale` when both
    /// ends offer it).
    pub window: u16,
    /// MSS option of its SYN.
    pub mss: u16,
    /// True to offer SACK in its SYN.
    pub sack_permitted: bool,
    /// Window scale shift offered in its SYN (`None`: no option).
    pub wscale: Option<u8>,
}

/// A TCP conversation seen from a tap between client and server: every
/// method appends the frame(s) it sends to `frames`, with correct sequence
/// and acknowledgement numbers for both directions.
#[derive(Debug)]
pub struct TcpConversation {
    c: Side,
    s: Side,
    c_ws: Option<u8>,
    s_ws: Option<u8>,
    /// Every frame of the conversation so far, in time order.
    pub frames: Vec<Frame>,
}

impl TcpConversation {
    /// `c2s` is the client's direction; `s2c_ttl` the TTL of the server's
    /// packets where they are seen.
    pub fn new(c2s: Link, s2c_ttl: u8, client: TcpEnd, server: TcpEnd) -> Self {
        let side = |link: Link, e: &TcpEnd| Side {
            link,
            port: e.port,
            next_seq: e.isn,
            acked: 0,
            ip_id: e.ip_id,
            syn_window: e.syn_window,
            window: e.window,
            mss: e.mss,
            sack: e.sack_permitted,
        };
        TcpConversation {
            c: side(c2s, &client),
            s: side(c2s.reverse(s2c_ttl), &server),
            c_ws: client.wscale,
            s_ws: server.wscale,
            frames: Vec::new(),
        }
    }

    fn sides(&mut self, dir: Dir) -> (&mut Side, &mut Side) {
        match dir {
            Dir::C2s => (&mut self.c, &mut self.s),
            Dir::S2c => (&mut self.s, &mut self.c),
        }
    }

    /// The payload size limit for segments sent in `dir` (the receiver's MSS).
    pub fn mss(&self, dir: Dir) -> usize {
        match dir {
            Dir::C2s => self.s.mss as usize,
            Dir::S2c => self.c.mss as usize,
        }
    }

    /// The next sequence number `dir` will send.
    pub fn next_seq(&self, dir: Dir) -> u32 {
        match dir {
            Dir::C2s => self.c.next_seq,
            Dir::S2c => self.s.next_seq,
        }
    }

    fn push(
        &mut self,
        ts_ns: u64,
        dir: Dir,
        seq: u32,
        fl: TcpFlags,
        options: &[u8],
        payload: &[u8],
    ) {
        let (me, peer) = self.sides(dir);
        let ack = if fl.contains(TcpFlags::ACK) {
            peer.next_seq
        } else {
            0
        };
        if fl.contains(TcpFlags::ACK) {
            me.acked = ack;
        }
        let seg = TcpSegment {
            src_port: me.port,
            dst_port: peer.port,
            seq_number: seq,
            ack_number: ack,
            flags: fl,
            window_len: if fl.contains(TcpFlags::SYN) {
                me.syn_window
            } else {
                me.window
            },
            options,
            payload,
        };
        let link = me.link;
        let id = me.id();
        self.frames.push(Frame {
            ts_ns,
            data: tcp_frame(&link, id, &seg),
        });
    }

    /// The client's SYN.
    pub fn syn(&mut self, ts_ns: u64) {
        let opts = syn_options(self.c.mss, self.c.sack, self.c_ws);
        let seq = self.c.next_seq;
        self.push(ts_ns, Dir::C2s, seq, TcpFlags::SYN, &opts, &[]);
        self.c.next_seq = seq.wrapping_add(1);
    }

    /// The server's SYN/ACK.
    pub fn syn_ack(&mut self, ts_ns: u64) {
        let sack = self.s.sack && self.c.sack;
        let ws = self.s_ws.filter(|_| self.c_ws.is_some());
        let opts = syn_options(self.s.mss, sack, ws);
        let seq = self.s.next_seq;
        self.push(
            ts_ns,
            Dir::S2c,
            seq,
            TcpFlags::SYN | TcpFlags::ACK,
            &opts,
            &[],
        );
        self.s.next_seq = seq.wrapping_add(1);
    }

    /// SYN, SYN/ACK and the client's ACK: `rtt_ns` after the SYN comes the
    /// SYN/ACK, `client_ns` after that the ACK (times as seen at the tap).
    pub fn handshake(&mut self, ts_ns: u64, rtt_ns: u64, client_ns: u64) -> u64 {
        self.syn(ts_ns);
        self.syn_ack(ts_ns + rtt_ns);
        let t = ts_ns + rtt_ns + client_ns;
        self.ack(t, Dir::C2s);
        t
    }

    /// A pure ACK of everything `dir`'s peer has sent.
    pub fn ack(&mut self, ts_ns: u64, dir: Dir) {
        let seq = self.next_seq(dir);
        self.push(ts_ns, dir, seq, TcpFlags::ACK, &[], &[]);
    }

    /// A duplicate ACK carrying one SACK block `[left, right)`; it
    /// acknowledges what the last ACK did.
    pub fn dup_ack_sack(&mut self, ts_ns: u64, dir: Dir, left: u32, right: u32) {
        let (me, peer) = self.sides(dir);
        let mut opts = vec![1, 1, 5, 10];
        opts.extend_from_slice(&left.to_be_bytes());
        opts.extend_from_slice(&right.to_be_bytes());
        let seg = TcpSegment {
            src_port: me.port,
            dst_port: peer.port,
            seq_number: me.next_seq,
            ack_number: me.acked,
            flags: TcpFlags::ACK,
            window_len: me.window,
            options: &opts,
            payload: &[],
        };
        let link = me.link;
        let id = me.id();
        self.frames.push(Frame {
            ts_ns,
            data: tcp_frame(&link, id, &seg),
        });
    }

    /// One data segment (at most one MSS) with PSH and ACK when `push`,
    /// else ACK only. Returns the segment's sequence number.
    pub fn data(&mut self, ts_ns: u64, dir: Dir, payload: &[u8], push: bool) -> u32 {
        assert!(payload.len() <= self.mss(dir), "segment larger than MSS");
        let seq = self.next_seq(dir);
        let fl = if push {
            TcpFlags::ACK | TcpFlags::PSH
        } else {
            TcpFlags::ACK
        };
        self.push(ts_ns, dir, seq, fl, &[], payload);
        let me = self.sides(dir).0;
        me.next_seq = seq.wrapping_add(payload.len() as u32);
        seq
    }

    /// Sends data already sent once at sequence `seq` again (a
    /// retransmission); acknowledges the peer's data as usual.
    pub fn retransmit(&mut self, ts_ns: u64, dir: Dir, seq: u32, payload: &[u8], push: bool) {
        let fl = if push {
            TcpFlags::ACK | TcpFlags::PSH
        } else {
            TcpFlags::ACK
        };
        self.push(ts_ns, dir, seq, fl, &[], payload);
    }

    /// Sends `bytes` from `dir` in MSS-sized segments spaced `gap_ns`
    /// apart, the last one with PSH; the receiver acknowledges every second
    /// segment and the last one, `ack_ns` after it. Returns the time of the
    /// last frame.
    pub fn stream(&mut self, ts_ns: u64, dir: Dir, bytes: &[u8], gap_ns: u64, ack_ns: u64) -> u64 {
        let mss = self.mss(dir);
        let n = bytes.len().div_ceil(mss);
        let mut t = ts_ns;
        let mut last = ts_ns;
        for (i, chunk) in bytes.chunks(mss).enumerate() {
            let is_last = i + 1 == n;
            self.data(t, dir, chunk, is_last);
            last = t;
            if i % 2 == 1 || is_last {
                last = t + ack_ns;
                self.ack(last, other(dir));
            }
            t += gap_ns;
        }
        last
    }

    /// A FIN (with ACK) from `dir`.
    pub fn fin(&mut self, ts_ns: u64, dir: Dir) {
        let seq = self.next_seq(dir);
        self.push(ts_ns, dir, seq, TcpFlags::FIN | TcpFlags::ACK, &[], &[]);
        let me = self.sides(dir).0;
        me.next_seq = seq.wrapping_add(1);
    }

    /// The usual teardown: FIN from `dir`, FIN/ACK back `rtt_ns` later, and
    /// the final ACK `ack_ns` after that. Returns the time of the last frame.
    pub fn close(&mut self, ts_ns: u64, dir: Dir, rtt_ns: u64, ack_ns: u64) -> u64 {
        self.fin(ts_ns, dir);
        self.fin(ts_ns + rtt_ns, other(dir));
        let t = ts_ns + rtt_ns + ack_ns;
        self.ack(t, dir);
        t
    }

    /// A RST from `dir` at its next sequence number (no ACK).
    pub fn rst(&mut self, ts_ns: u64, dir: Dir) {
        let seq = self.next_seq(dir);
        self.push(ts_ns, dir, seq, TcpFlags::RST, &[], &[]);
    }

    /// A RST/ACK from `dir` (a closed port's answer to a SYN).
    pub fn rst_ack(&mut self, ts_ns: u64, dir: Dir) {
        let seq = self.next_seq(dir);
        self.push(ts_ns, dir, seq, TcpFlags::RST | TcpFlags::ACK, &[], &[]);
    }
}

/// The opposite direction.
pub fn other(dir: Dir) -> Dir {
    match dir {
        Dir::C2s => Dir::S2c,
        Dir::S2c => Dir::C2s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datapath::wire::checksum;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const FIN: TcpFlags = TcpFlags::FIN;
    const SYN: TcpFlags = TcpFlags::SYN;
    const PSH: TcpFlags = TcpFlags::PSH;
    const ACK: TcpFlags = TcpFlags::ACK;

    const A: Mac = [0x02, 0, 0, 0, 0, 0x0a];
    const B: Mac = [0x02, 0, 0, 0, 0, 0x0b];

    fn v4() -> Link {
        Link {
            src_mac: A,
            dst_mac: B,
            src: Ipv4Addr::new(192, 168, 0, 1).into(),
            dst: Ipv4Addr::new(192, 168, 0, 199).into(),
            ttl: 64,
        }
    }

    fn v6() -> Link {
        Link {
            src_mac: A,
            dst_mac: B,
            src: "2001:db8::1".parse::<Ipv6Addr>().unwrap().into(),
            dst: "2001:db8::2".parse::<Ipv6Addr>().unwrap().into(),
            ttl: 64,
        }
    }

    #[test]
    fn ipv4_header_known_checksum() {
        // The classic example header: 4500 0073 0000 4000 4011 b861
        // c0a8 0001 c0a8 00c7 (UDP, DF, TTL 64, total length 0x73).
        let payload = vec![0u8; 0x73 - 28];
        let udp = udp::Repr {
            src_port: 0,
            dst_port: 0,
            payload: &payload,
        };
        let f = ip_frame(&v4(), 0, true, &Transport::Udp(udp));
        let expected = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(&f[ETH_LEN..ETH_LEN + 20], &expected[..]);
        assert_eq!(checksum(&expected), 0, "a valid header sums to all ones");
    }

    #[test]
    fn ethernet_and_padding() {
        let f = udp_frame(&v4(), 7, 53, 53, &[]);
        assert_eq!(f.len(), MIN_FRAME);
        assert_eq!(&f[0..6], &B);
        assert_eq!(&f[6..12], &A);
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        // IP total length counts the 28 header bytes, not the padding.
        assert_eq!(&f[16..18], &[0, 28]);
        assert_eq!(&f[18..20], &[0, 7]);
        assert!(f[42..].iter().all(|&b| b == 0));
    }

    fn verify_l4(f: &[u8], proto: IpProtocol) {
        let (ip, l4): (IpPair, &[u8]) = if u16::from_be_bytes([f[12], f[13]]) == EtherType::IPV6.0 {
            let plen = u16::from_be_bytes([f[18], f[19]]) as usize;
            let ip = IpPair::V6 {
                src: f[22..38].try_into().unwrap(),
                dst: f[38..54].try_into().unwrap(),
            };
            (ip, &f[54..54 + plen])
        } else {
            let total = u16::from_be_bytes([f[16], f[17]]) as usize;
            let ip = IpPair::V4 {
                src: f[26..30].try_into().unwrap(),
                dst: f[30..34].try_into().unwrap(),
            };
            (ip, &f[34..14 + total])
        };
        assert_eq!(
            ip.transport_checksum(proto, l4),
            0,
            "transport checksum verifies"
        );
    }

    #[test]
    fn tcp_syn_bytes() {
        let opts = syn_options(1460, true, Some(7));
        assert_eq!(opts, [2, 4, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 7]);
        let seg = TcpSegment {
            src_port: 40000,
            dst_port: 443,
            seq_number: 0x01020304,
            ack_number: 0,
            flags: SYN,
            window_len: 64240,
            options: &opts,
            payload: &[],
        };
        let f = tcp_frame(&v4(), 0x1234, &seg);
        assert_eq!(f.len(), 14 + 20 + 32);
        assert_eq!(&f[20..22], &[0x40, 0x00], "DF set");
        assert_eq!(f[23], IpProtocol::TCP.0);
        let t = &f[34..];
        assert_eq!(&t[0..4], &[0x9c, 0x40, 0x01, 0xbb]);
        assert_eq!(&t[4..8], &[1, 2, 3, 4]);
        assert_eq!(t[12], 8 << 4, "data offset 8 words");
        assert_eq!(t[13], SYN.bits());
        assert_eq!(&t[14..16], &64240u16.to_be_bytes());
        assert_eq!(&t[20..32], &opts[..]);
        verify_l4(&f, IpProtocol::TCP);
        assert_eq!(checksum(&f[14..34]), 0);
    }

    #[test]
    fn udp_and_icmp_checksums_verify() {
        for link in [v4(), v6()] {
            let f = udp_frame(&link, 1, 5353, 53, b"odd length!");
            verify_l4(&f, IpProtocol::UDP);
            let f = icmp_echo_frame(&link, 1, false, 0x77, 3, &[0xab; 57]);
            if link.is_ipv6() {
                verify_l4(&f, IpProtocol::ICMPV6);
                assert_eq!(f[54], 128);
            } else {
                assert_eq!(f[34], 8);
                let total = u16::from_be_bytes([f[16], f[17]]) as usize;
                assert_eq!(checksum(&f[34..14 + total]), 0);
            }
        }
    }

    #[test]
    fn ipv6_header_bytes() {
        let f = udp_frame(&v6(), 0x0042, 1000, 2000, &[1, 2, 3]);
        assert_eq!(&f[12..14], &[0x86, 0xdd]);
        let word = u32::from_be_bytes([f[14], f[15], f[16], f[17]]);
        assert_eq!(word >> 20, 0x600, "version 6, traffic class 0");
        let label = word & 0xfffff;
        assert_ne!(label, 0);
        // One label per direction of a conversation, another for others.
        let again = udp_frame(&v6(), 0x0043, 1000, 2000, &[9; 30]);
        assert_eq!(&again[14..18], &f[14..18]);
        let other_port = udp_frame(&v6(), 0x0042, 1001, 2000, &[1, 2, 3]);
        assert_ne!(&other_port[14..18], &f[14..18]);
        assert_eq!(&f[18..20], &[0, 11], "payload length");
        assert_eq!(f[20], IpProtocol::UDP.0);
        assert_eq!(f[21], 64);
        assert_eq!(f.len(), 14 + 40 + 11);
        verify_l4(&f, IpProtocol::UDP);
    }

    fn tcp_fields(f: &[u8]) -> (u32, u32, TcpFlags, usize) {
        let t = &f[34..];
        let total = u16::from_be_bytes([f[16], f[17]]) as usize;
        let hl = (t[12] >> 4) as usize * 4;
        (
            u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
            u32::from_be_bytes([t[8], t[9], t[10], t[11]]),
            TcpFlags(t[13]),
            total - 20 - hl,
        )
    }

    #[test]
    fn conversation_sequence_numbers() {
        let end = |port, isn| TcpEnd {
            port,
            isn,
            ip_id: 1,
            syn_window: 64240,
            window: 502,
            mss: 1460,
            sack_permitted: true,
            wscale: Some(7),
        };
        let mut c = TcpConversation::new(v4(), 57, end(40000, 1000), end(80, u32::MAX - 1));
        let t = c.handshake(0, 10, 1);
        c.data(t, Dir::C2s, b"GET / HTTP/1.1\r\n\r\n", true);
        c.stream(t + 20, Dir::S2c, &[7u8; 3000], 5, 1);
        c.close(t + 100, Dir::C2s, 10, 1);
        let f: Vec<_> = c.frames.iter().map(|f| tcp_fields(&f.data)).collect();
        assert_eq!(f[0], (1000, 0, SYN, 0));
        assert_eq!(f[1], (u32::MAX - 1, 1001, SYN | ACK, 0));
        assert_eq!(f[2], (1001, u32::MAX, ACK, 0));
        assert_eq!(f[3], (1001, u32::MAX, PSH | ACK, 18));
        // 3000 bytes: 1460 + 1460 + 80, sequence numbers wrap past 2^32.
        assert_eq!(f[4], (u32::MAX, 1019, ACK, 1460));
        assert_eq!(f[5], (1459, 1019, ACK, 1460));
        assert_eq!(f[6], (1019, 2919, ACK, 0));
        assert_eq!(f[7], (2919, 1019, PSH | ACK, 80));
        assert_eq!(f[8], (1019, 2999, ACK, 0));
        assert_eq!(f[9], (1019, 2999, FIN | ACK, 0));
        assert_eq!(f[10], (2999, 1020, FIN | ACK, 0));
        assert_eq!(f[11], (1020, 3000, ACK, 0));
        for fr in &c.frames {
            verify_l4(&fr.data, IpProtocol::TCP);
        }
        // Server frames come from the reversed link with its own TTL.
        assert_eq!(c.frames[1].data[22], 57);
        assert_eq!(&c.frames[1].data[0..6], &A);
    }

    #[test]
    fn syn_ack_options_follow_the_syn() {
        let end = |port, sack, ws| TcpEnd {
            port,
            isn: 5,
            ip_id: 1,
            syn_window: 64240,
            window: 1024,
            mss: 1460,
            sack_permitted: sack,
            wscale: ws,
        };
        let mut c = TcpConversation::new(v4(), 64, end(1, false, None), end(2, true, Some(9)));
        c.syn(0);
        c.syn_ack(1);
        let t = &c.frames[1].data[34..];
        assert_eq!(t[12] >> 4, 6, "MSS only: 24-byte header");
        assert_eq!(&t[20..24], &[2, 4, 0x05, 0xb4]);
    }

    #[test]
    fn dup_ack_carries_sack_block() {
        let end = |port| TcpEnd {
            port,
            isn: 100,
            ip_id: 1,
            syn_window: 64240,
            window: 1000,
            mss: 1460,
            sack_permitted: true,
            wscale: None,
        };
        let mut c = TcpConversation::new(v6(), 60, end(1), end(2));
        c.dup_ack_sack(0, Dir::C2s, 10, 20);
        let t = &c.frames[0].data[54..];
        assert_eq!(t[12] >> 4, 8);
        assert_eq!(&t[20..32], &[1, 1, 5, 10, 0, 0, 0, 10, 0, 0, 0, 20]);
        verify_l4(&c.frames[0].data, IpProtocol::TCP);
    }
}
