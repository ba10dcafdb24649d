//! Unit tests of the parent module.

use super::*;

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];
const V4_A: [u8; 4] = [10, 0, 0, 1];
const V4_B: [u8; 4] = [192, 0, 2, 7];

fn v6(last: u8) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    a[15] = last;
    a
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn eth_macs(dst: [u8; 6], src: [u8; 6], et: u16, payload: &[u8]) -> Vec<u8> {
    cat(&[&dst, &src, &et.to_be_bytes(), payload])
}

fn eth(et: u16, payload: &[u8]) -> Vec<u8> {
    eth_macs(MAC_B, MAC_A, et, payload)
}

fn vlan_tag(tci: u16, et: u16) -> Vec<u8> {
    cat(&[&tci.to_be_bytes(), &et.to_be_bytes()])
}

/// IPv4 header with options and flags/offset, total length from payload.
fn ipv4_full(
    proto: u8,
    src: [u8; 4],
    dst: [u8; 4],
    flags_off: u16,
    opts: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    assert_eq!(opts.len() % 4, 0);
    let hl = 20 + opts.len();
    let total = (hl + payload.len()) as u16;
    let mut h = vec![0x40 | (hl / 4) as u8, 0];
    h.extend_from_slice(&total.to_be_bytes());
    h.extend_from_slice(&0x1234u16.to_be_bytes());
    h.extend_from_slice(&flags_off.to_be_bytes());
    h.extend_from_slice(&[64, proto, 0, 0]);
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    cat(&[&h, opts, payload])
}

fn ipv4_addrs(proto: u8, src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    ipv4_full(proto, src, dst, 0, &[], payload)
}

fn ipv4(proto: u8, payload: &[u8]) -> Vec<u8> {
    ipv4_addrs(proto, V4_A, V4_B, payload)
}

fn ipv6_addrs(nh: u8, src: [u8; 16], dst: [u8; 16], payload: &[u8]) -> Vec<u8> {
    let mut h = vec![0x60, 0, 0, 0];
    h.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    h.extend_from_slice(&[nh, 57]);
    cat(&[&h, &src, &dst, payload])
}

fn ipv6(nh: u8, payload: &[u8]) -> Vec<u8> {
    ipv6_addrs(nh, v6(1), v6(2), payload)
}

fn tcp(sport: u16, dport: u16, flags: u8, opts: &[u8], payload: &[u8]) -> Vec<u8> {
    assert_eq!(opts.len() % 4, 0);
    let doff = ((20 + opts.len()) / 4) as u8;
    let mut h = Vec::new();
    h.extend_from_slice(&sport.to_be_bytes());
    h.extend_from_slice(&dport.to_be_bytes());
    h.extend_from_slice(&1000u32.to_be_bytes());
    h.extend_from_slice(&2000u32.to_be_bytes());
    h.extend_from_slice(&[doff << 4, flags]);
    h.extend_from_slice(&[0x72, 0x10, 0, 0, 0, 0]);
    cat(&[&h, opts, payload])
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = (8 + payload.len()) as u16;
    cat(&[
        &sport.to_be_bytes(),
        &dport.to_be_bytes(),
        &len.to_be_bytes(),
        &[0, 0],
        payload,
    ])
}

fn mapped(a: [u8; 4]) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[10] = 0xff;
    m[11] = 0xff;
    m[12..].copy_from_slice(&a);
    m
}

fn parse(link: LinkType, f: &[u8]) -> Result<PacketMeta, ParseError> {
    parse_frame(link, f, f.len() as u32)
}

/// The frame cut to `cut` bytes by a snap length: on the wire it was whole.
fn snap(link: LinkType, f: &[u8], cut: usize) -> Result<PacketMeta, ParseError> {
    parse_frame(link, &f[..cut], f.len() as u32)
}

fn eth_parse(f: &[u8]) -> PacketMeta {
    parse(LinkType::Ethernet, f).unwrap()
}

/// Linux SYN options: MSS 1460, SACK permitted, timestamps, NOP, WS 7.
const SYN_OPTS: [u8; 20] = [
    2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7,
];

#[test]
fn ethernet_ipv4_tcp_syn() {
    let f = eth(0x0800, &ipv4(6, &tcp(40000, 443, 0x02, &SYN_OPTS, &[])));
    let m = parse_frame(LinkType::Ethernet, &f, 1500).unwrap();
    assert_eq!(m.cap_len, 74);
    assert_eq!(m.wire_len, 1500);
    assert_eq!(m.dst_mac, MAC_B);
    assert_eq!(m.src_mac, MAC_A);
    assert_eq!((m.vlan, m.vlan_count, m.tunnel), (0, 0, Tunnel::None));
    assert_eq!(m.ip_version, 4);
    assert_eq!(m.src_ip, mapped(V4_A));
    assert_eq!(m.dst_ip, mapped(V4_B));
    assert_eq!(m.src_ip[..12], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
    assert_eq!(m.ttl, 64);
    assert_eq!(m.ip_id, 0x1234);
    assert_eq!(m.fragment, Fragment::None);
    assert_eq!(m.protocol, IpProtocol::TCP);
    assert_eq!((m.src_port, m.dst_port), (40000, 443));
    assert_eq!((m.tcp_seq, m.tcp_ack), (1000, 2000));
    assert_eq!(m.tcp_flags, TcpFlags::SYN);
    assert!(m.has_tcp_flags(TcpFlags::SYN));
    assert_eq!(m.tcp_window, 0x7210);
    assert_eq!(
        (m.tcp_mss, m.tcp_wscale, m.tcp_sack_permitted),
        (1460, 7, true)
    );
    assert_eq!((m.l4_offset, m.payload_offset, m.payload_len), (34, 74, 0));
    assert_eq!((m.icmp_type, m.icmp_code, m.icmp_echo_id), (0, 0, 0));
}

#[test]
fn tcp_payload_offsets_and_options_only_on_syn() {
    let f = eth(
        0x0800,
        &ipv4(6, &tcp(443, 40000, 0x18, &SYN_OPTS, b"hello")),
    );
    let m = eth_parse(&f);
    assert_eq!(m.tcp_flags, TcpFlags::PSH | TcpFlags::ACK);
    assert_eq!(
        (m.tcp_mss, m.tcp_wscale, m.tcp_sack_permitted),
        (0, 0xff, false)
    );
    assert_eq!((m.l4_offset, m.payload_offset, m.payload_len), (34, 74, 5));
    assert_eq!(&f[m.payload_offset as usize..], b"hello");
    // SYN/ACK carries options too.
    let f = eth(0x0800, &ipv4(6, &tcp(443, 40000, 0x12, &SYN_OPTS, &[])));
    assert_eq!(eth_parse(&f).tcp_mss, 1460);
}

#[test]
fn udp_and_other_protocols() {
    let f = eth(0x0800, &ipv4(17, &udp(5353, 53, b"dnsq")));
    let m = eth_parse(&f);
    assert_eq!((m.protocol.0, m.src_port, m.dst_port), (17, 5353, 53));
    assert_eq!((m.l4_offset, m.payload_offset, m.payload_len), (34, 42, 4));
    assert_eq!(m.tcp_wscale, 0xff);
    for proto in [2u8, 50, 89, 132, 103] {
        let f = eth(0x0800, &ipv4(proto, &[0xab; 12]));
        let m = eth_parse(&f);
        assert_eq!((m.protocol.0, m.src_port, m.dst_port), (proto, 0, 0));
        assert_eq!((m.l4_offset, m.payload_offset, m.payload_len), (34, 34, 12));
    }
    // An empty IP payload is fine for protocols without an L4 view.
    let m = eth_parse(&eth(0x0800, &ipv4(50, &[])));
    assert_eq!(m.payload_len, 0);
}

#[test]
fn icmp_v4_and_v6() {
    let echo = [8, 0, 0, 0, 0x12, 0x34, 0, 1, 0xaa, 0xbb];
    let m = eth_parse(&eth(0x0800, &ipv4(1, &echo)));
    assert_eq!((m.icmp_type, m.icmp_code, m.icmp_echo_id), (8, 0, 0x1234));
    assert_eq!((m.src_port, m.dst_port), (0, 0));
    assert_eq!((m.l4_offset, m.payload_offset, m.payload_len), (34, 42, 2));
    let unreach = [3, 3, 0, 0, 0, 0, 0, 0];
    let m = eth_parse(&eth(0x0800, &ipv4(1, &unreach)));
    assert_eq!((m.icmp_type, m.icmp_code, m.icmp_echo_id), (3, 3, 0));
    let echo6 = [129, 0, 0, 0, 0xbe, 0xef, 0, 9];
    let m = eth_parse(&eth(0x86dd, &ipv6(58, &echo6)));
    assert_eq!(
        (m.icmp_type, m.icmp_echo_id, m.protocol.0),
        (129, 0xbeef, 58)
    );
    // Type 8 is not an echo in ICMPv6; protocol 1 in IPv6 and 58 in IPv4
    // are not parsed as ICMP.
    let m = eth_parse(&eth(0x86dd, &ipv6(58, &echo)));
    assert_eq!((m.icmp_type, m.icmp_echo_id), (8, 0));
    let m = eth_parse(&eth(0x86dd, &ipv6(1, &echo)));
    assert_eq!((m.icmp_type, m.protocol.0, m.payload_offset), (0, 1, 54));
    let m = eth_parse(&eth(0x0800, &ipv4(58, &echo6)));
    assert_eq!((m.icmp_type, m.protocol.0), (0, 58));
}

#[test]
fn every_link_type() {
    let pkt4 = ipv4(17, &udp(1, 2, &[0; 20]));
    let pkt6 = ipv6(17, &udp(3, 4, &[]));
    let check = |link, f: &[u8], ver, off| {
        let m = parse(link, f).unwrap_or_else(|e| panic!("{link:?}: {e:?}"));
        assert_eq!(m.ip_version, ver, "{link:?}");
        assert_eq!(m.l4_offset as usize, off, "{link:?}");
        m
    };
    check(LinkType::RawIp, &pkt4, 4, 20);
    check(LinkType::RawIp, &pkt6, 6, 40);
    check(LinkType::Ipv4, &pkt4, 4, 20);
    check(LinkType::Ipv6, &pkt6, 6, 40);
    assert_eq!(
        parse(LinkType::Ipv4, &pkt6),
        Err(ParseError::Malformed(Layer::Ipv4))
    );
    assert_eq!(
        parse(LinkType::Ipv6, &pkt4),
        Err(ParseError::Malformed(Layer::Ipv6))
    );
    assert_eq!(
        parse(LinkType::RawIp, &[]),
        Err(ParseError::Truncated(Layer::Link))
    );
    assert_eq!(
        parse(LinkType::RawIp, &[0x50; 40]),
        Err(ParseError::Malformed(Layer::Link))
    );

    // SLL: outgoing, Ethernet, 6-byte address.
    let sll = |proto: u16| {
        let mut h = vec![0, 4, 0, 1, 0, 6];
        h.extend_from_slice(&MAC_A);
        h.extend_from_slice(&[0, 0]);
        h.extend_from_slice(&proto.to_be_bytes());
        h
    };
    let m = check(LinkType::LinuxSll, &cat(&[&sll(0x0800), &pkt4]), 4, 36);
    assert_eq!((m.src_mac, m.dst_mac), (MAC_A, [0; 6]));
    check(LinkType::LinuxSll, &cat(&[&sll(0x86dd), &pkt6]), 6, 56);
    let vl = vlan_tag(42, 0x0800);
    let m = check(LinkType::LinuxSll, &cat(&[&sll(0x8100), &vl, &pkt4]), 4, 40);
    assert_eq!(m.vlan, 42);
    assert_eq!(
        parse(LinkType::LinuxSll, &cat(&[&sll(0x0806), &[0; 28]])),
        Err(ParseError::NonIp)
    );
    assert_eq!(
        parse(LinkType::LinuxSll, &sll(0x0800)[..15]),
        Err(ParseError::Truncated(Layer::Link))
    );

    // SLL2.
    let sll2 = |proto: u16| {
        let mut h = proto.to_be_bytes().to_vec();
        h.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6]);
        h.extend_from_slice(&MAC_B);
        h.extend_from_slice(&[0, 0]);
        h
    };
    let m = check(LinkType::LinuxSll2, &cat(&[&sll2(0x0800), &pkt4]), 4, 40);
    assert_eq!(m.src_mac, MAC_B);
    check(LinkType::LinuxSll2, &cat(&[&sll2(0x86dd), &pkt6]), 6, 60);
    assert_eq!(
        parse(LinkType::LinuxSll2, &sll2(0x0800)[..19]),
        Err(ParseError::Truncated(Layer::Link))
    );

    // NULL / LOOP, both byte orders.
    for fam in [[2, 0, 0, 0], [0, 0, 0, 2]] {
        check(LinkType::Null, &cat(&[&fam, &pkt4]), 4, 24);
    }
    for v in [24u32, 28, 30] {
        check(LinkType::Null, &cat(&[&v.to_le_bytes(), &pkt6]), 6, 44);
        check(LinkType::Null, &cat(&[&v.to_be_bytes(), &pkt6]), 6, 44);
    }
    assert_eq!(
        parse(LinkType::Null, &cat(&[&[7, 0, 0, 0], &pkt4])),
        Err(ParseError::NonIp)
    );
    assert_eq!(
        parse(LinkType::Null, &[2, 0, 0]),
        Err(ParseError::Truncated(Layer::Link))
    );

    assert_eq!(
        parse(LinkType::Ethernet, &[0; 13]),
        Err(ParseError::Truncated(Layer::Link))
    );
}

#[test]
fn non_ip_ethertypes() {
    for et in [0x0806u16, 0x88cc, 0x8863, 0x8035, 0x0026] {
        assert_eq!(
            parse(LinkType::Ethernet, &eth(et, &[0; 46])),
            Err(ParseError::NonIp),
            "{et:#x}"
        );
    }
    let f = eth(0x8100, &cat(&[&vlan_tag(5, 0x0806), &[0; 28]]));
    assert_eq!(parse(LinkType::Ethernet, &f), Err(ParseError::NonIp));
}

#[test]
fn vlan_and_qinq() {
    let pkt = ipv4(17, &udp(1, 2, &[]));
    let f = eth(0x8100, &cat(&[&vlan_tag(0xa064, 0x0800), &pkt]));
    let m = eth_parse(&f);
    assert_eq!((m.vlan, m.vlan_count, m.l4_offset), (100, 1, 38));
    for outer in [0x88a8u16, 0x9100, 0x8100] {
        let f = eth(
            outer,
            &cat(&[&vlan_tag(200, 0x8100), &vlan_tag(300, 0x0800), &pkt]),
        );
        let m = eth_parse(&f);
        assert_eq!(
            (m.vlan, m.vlan_count, m.l4_offset),
            (200, 2, 42),
            "{outer:#x}"
        );
    }
    // Three tags and IPv6.
    let pkt6 = ipv6(17, &udp(1, 2, &[]));
    let tags = cat(&[
        &vlan_tag(1, 0x88a8),
        &vlan_tag(2, 0x8100),
        &vlan_tag(3, 0x86dd),
    ]);
    let m = eth_parse(&eth(0x88a8, &cat(&[&tags, &pkt6])));
    assert_eq!((m.vlan, m.vlan_count, m.ip_version), (1, 3, 6));
    // Truncated inside a tag.
    let f = eth(0x8100, &[0x00, 0x64, 0x08]);
    assert_eq!(
        parse(LinkType::Ethernet, &f),
        Err(ParseError::Truncated(Layer::Vlan))
    );
}

#[test]
fn ipv4_options() {
    // Record route (7), length 7, pointer 4, one slot, then EOL.
    let opts = [7, 7, 4, 0, 0, 0, 0, 0];
    let f = eth(
        0x0800,
        &ipv4_full(6, V4_A, V4_B, 0, &opts, &tcp(1, 2, 0x10, &[], b"x")),
    );
    let m = eth_parse(&f);
    assert_eq!((m.l4_offset, m.payload_offset, m.payload_len), (42, 62, 1));
    assert_eq!((m.src_port, m.dst_port), (1, 2));
    // Maximum IHL (15 → 60 bytes).
    let f = eth(
        0x0800,
        &ipv4_full(17, V4_A, V4_B, 0, &[1; 40], &udp(7, 8, &[])),
    );
    let m = eth_parse(&f);
    assert_eq!((m.l4_offset, m.src_port), (74, 7));
    // Options cut by the capture.
    assert_eq!(
        snap(LinkType::Ethernet, &f, 60),
        Err(ParseError::Truncated(Layer::Ipv4))
    );
}

#[test]
fn ipv4_malformed() {
    let good = eth(0x0800, &ipv4(17, &udp(1, 2, b"abcd")));
    let bad = |i: usize, v: u8| {
        let mut f = good.clone();
        f[i] = v;
        parse(LinkType::Ethernet, &f)
    };
    assert_eq!(bad(14, 0x55), Err(ParseError::Malformed(Layer::Ipv4))); // version 5
    assert_eq!(bad(14, 0x44), Err(ParseError::Malformed(Layer::Ipv4))); // IHL 4
    assert_eq!(bad(17, 19), Err(ParseError::Malformed(Layer::Ipv4))); // total < IHL*4
                                                                      // Total length leaves too little room for the UDP header.
    assert_eq!(bad(17, 24), Err(ParseError::Malformed(Layer::Udp)));
    // Total length 0 (segmentation offload capture): rest of the frame.
    let m = bad(17, 0).unwrap();
    assert_eq!((m.src_port, m.payload_len), (1, 4));
}

#[test]
fn ipv4_snap_length_and_padding() {
    let f = eth(0x0800, &ipv4(6, &tcp(1, 2, 0x10, &[], &[0x55; 1000])));
    let m = parse_frame(LinkType::Ethernet, &f[..96], f.len() as u32).unwrap();
    assert_eq!((m.cap_len, m.wire_len), (96, 1054));
    assert_eq!((m.payload_offset, m.payload_len), (54, 1000));
    // Padding after a short packet is ignored: it is not a TCP header.
    let mut f = eth(0x0800, &ipv4(6, &[]));
    f.resize(60, 0xee);
    assert_eq!(
        parse(LinkType::Ethernet, &f),
        Err(ParseError::Malformed(Layer::Tcp))
    );
    let mut f = eth(0x0800, &ipv4(17, &udp(1, 2, &[])));
    f.resize(60, 0xee);
    let m = eth_parse(&f);
    assert_eq!((m.payload_offset, m.payload_len), (42, 0));
    let mut f = eth(0x0800, &ipv4(50, &[1, 2]));
    f.resize(60, 0);
    assert_eq!(eth_parse(&f).payload_len, 2);
}

#[test]
fn frames_over_64k() {
    // A GRO/TSO host capture: total length 0, 70 000 bytes captured.
    let mut f = eth(0x0800, &ipv4(6, &tcp(1, 2, 0x10, &[], &[])));
    f[16] = 0;
    f[17] = 0;
    f.resize(70_000, 0xaa);
    let m = parse_frame(LinkType::Ethernet, &f, 70_000).unwrap();
    assert_eq!((m.cap_len, m.src_port, m.payload_offset), (70_000, 1, 54));
    assert_eq!(m.payload_len as usize, 65_535 - 54);
    // IPv6 jumbogram-style payload length 0.
    let mut f = eth(0x86dd, &ipv6(17, &udp(1, 2, &[])));
    f[18] = 0;
    f[19] = 0;
    f.resize(100_000, 0);
    let m = parse_frame(LinkType::Ethernet, &f, 100_000).unwrap();
    assert_eq!(m.payload_len as usize, 65_535 - 62);
}

#[test]
fn ipv4_fragments() {
    let seg = tcp(1, 2, 0x18, &[], &[7; 24]);
    // First fragment: MF, offset 0: L4 parsed.
    let f = eth(0x0800, &ipv4_full(6, V4_A, V4_B, 0x2000, &[], &seg[..32]));
    let m = eth_parse(&f);
    assert_eq!(
        (m.fragment, m.src_port, m.dst_port, m.ip_id),
        (Fragment::First, 1, 2, 0x1234)
    );
    assert_eq!(m.payload_len, 12);
    // Later fragment: no L4, ports 0.
    let f = eth(0x0800, &ipv4_full(6, V4_A, V4_B, 0x0004, &[], &seg[32..]));
    let m = eth_parse(&f);
    assert_eq!(
        (m.fragment, m.src_port, m.dst_port, m.protocol.0),
        (Fragment::Later, 0, 0, 6)
    );
    assert_eq!(
        (m.l4_offset, m.payload_offset, m.payload_len, m.ip_id),
        (34, 34, 12, 0x1234)
    );
    assert_eq!(m.tcp_flags, TcpFlags::NONE);
    // A later fragment shorter than any L4 header is still fine.
    let f = eth(0x0800, &ipv4_full(17, V4_A, V4_B, 0x00b9, &[], &[1]));
    assert_eq!(eth_parse(&f).fragment, Fragment::Later);
    // A first fragment too short for the L4 header (the header goes on
    // in the next fragment): an IP packet without ports.
    let f = eth(0x0800, &ipv4_full(6, V4_A, V4_B, 0x2000, &[], &seg[..16]));
    let m = eth_parse(&f);
    assert_eq!(
        (m.fragment, m.src_port, m.tcp_flags.bits()),
        (Fragment::First, 0, 0)
    );
    assert_eq!((m.l4_offset, m.payload_offset, m.payload_len), (34, 34, 16));
    // ... but a snap length cut inside it is still a truncated header.
    let f = eth(0x0800, &ipv4_full(6, V4_A, V4_B, 0x2000, &[], &seg[..32]));
    assert_eq!(
        snap(LinkType::Ethernet, &f, 50),
        Err(ParseError::Truncated(Layer::Tcp))
    );
    // DF alone is not a fragment.
    let f = eth(
        0x0800,
        &ipv4_full(17, V4_A, V4_B, 0x4000, &[], &udp(1, 2, &[])),
    );
    assert_eq!(eth_parse(&f).fragment, Fragment::None);
}

fn ext(nh: u8, len_units: u8) -> Vec<u8> {
    let mut h = vec![nh, len_units];
    h.resize((len_units as usize + 1) * 8, 1);
    h
}

#[test]
fn ipv6_extension_headers() {
    // Hop-by-hop → routing → destination options → TCP.
    let chain = cat(&[
        &ext(43, 0),
        &ext(60, 2),
        &ext(6, 1),
        &tcp(80, 5000, 0x11, &[], b"bye"),
    ]);
    let m = eth_parse(&eth(0x86dd, &ipv6(0, &chain)));
    assert_eq!(
        (m.ip_version, m.protocol.0, m.src_port, m.dst_port),
        (6, 6, 80, 5000)
    );
    assert_eq!(m.src_ip, v6(1));
    assert_eq!(m.dst_ip, v6(2));
    assert_eq!((m.ttl, m.ip_id, m.fragment), (57, 0, Fragment::None));
    assert_eq!(m.l4_offset as usize, 14 + 40 + 8 + 24 + 16);
    assert_eq!(m.payload_len, 3);
    // AH: (len + 2) * 4 bytes.
    let mut ah = vec![17, 4];
    ah.resize(24, 0);
    let m = eth_parse(&eth(0x86dd, &ipv6(51, &cat(&[&ah, &udp(1, 2, b"zz")]))));
    assert_eq!(
        (m.protocol.0, m.src_port, m.l4_offset, m.payload_len),
        (17, 1, 78, 2)
    );
    // ESP and no-next-header end the walk.
    let m = eth_parse(&eth(0x86dd, &ipv6(0, &cat(&[&ext(50, 0), &[0; 16]]))));
    assert_eq!(
        (m.protocol.0, m.src_port, m.l4_offset, m.payload_len),
        (50, 0, 62, 16)
    );
    let m = eth_parse(&eth(0x86dd, &ipv6(60, &ext(59, 0))));
    assert_eq!((m.protocol.0, m.payload_len), (59, 0));
    // An extension header cut by the capture.
    let f = eth(
        0x86dd,
        &ipv6(0, &cat(&[&ext(6, 3), &tcp(1, 2, 0, &[], &[])])),
    );
    assert_eq!(
        snap(LinkType::Ethernet, &f, 14 + 40 + 20),
        Err(ParseError::Truncated(Layer::Ipv6))
    );
    assert_eq!(
        snap(LinkType::Ethernet, &f, 14 + 40 + 1),
        Err(ParseError::Truncated(Layer::Ipv6))
    );
    // Version mismatch.
    let mut f = eth(0x86dd, &ipv6(17, &udp(1, 2, &[])));
    f[14] = 0x40;
    assert_eq!(
        parse(LinkType::Ethernet, &f),
        Err(ParseError::Malformed(Layer::Ipv6))
    );
}

fn frag6(nh: u8, offset_units: u16, more: bool, id: u32) -> Vec<u8> {
    let om = (offset_units << 3) | more as u16;
    cat(&[&[nh, 0], &om.to_be_bytes(), &id.to_be_bytes()])
}

#[test]
fn ipv6_fragments() {
    let first = cat(&[&frag6(17, 0, true, 0xdead_beef), &udp(53, 5353, &[9; 16])]);
    let m = eth_parse(&eth(0x86dd, &ipv6(44, &first)));
    assert_eq!(
        (m.fragment, m.ip_id, m.protocol.0),
        (Fragment::First, 0xdead_beef, 17)
    );
    assert_eq!(
        (m.src_port, m.dst_port, m.l4_offset, m.payload_len),
        (53, 5353, 62, 16)
    );
    let later = cat(&[&frag6(17, 3, false, 0xdead_beef), &[9; 8]]);
    let m = eth_parse(&eth(0x86dd, &ipv6(44, &later)));
    assert_eq!(
        (m.fragment, m.ip_id, m.protocol.0, m.src_port),
        (Fragment::Later, 0xdead_beef, 17, 0)
    );
    assert_eq!((m.l4_offset, m.payload_offset, m.payload_len), (62, 62, 8));
    // Fragment header after a hop-by-hop header.
    let m = eth_parse(&eth(0x86dd, &ipv6(0, &cat(&[&ext(44, 0), &later]))));
    assert_eq!((m.fragment, m.l4_offset), (Fragment::Later, 70));
    // Atomic fragment (offset 0, no M): not fragmented, id kept.
    let atomic = cat(&[&frag6(6, 0, false, 7), &tcp(1, 2, 0x10, &[], &[])]);
    let m = eth_parse(&eth(0x86dd, &ipv6(44, &atomic)));
    assert_eq!((m.fragment, m.ip_id, m.src_port), (Fragment::None, 7, 1));
    // Cut inside the fragment header.
    let f = eth(0x86dd, &ipv6(44, &first));
    assert_eq!(
        snap(LinkType::Ethernet, &f, 58),
        Err(ParseError::Truncated(Layer::Ipv6))
    );
}

#[test]
fn ipv6_jumbo_and_snap_length() {
    let mut f = eth(0x86dd, &ipv6(17, &udp(1, 2, &[3; 10])));
    f[18] = 0;
    f[19] = 0;
    let m = eth_parse(&f);
    assert_eq!((m.src_port, m.payload_len), (1, 10));
    let f = eth(0x86dd, &ipv6(17, &udp(1, 2, &[3; 500])));
    let m = snap(LinkType::Ethernet, &f, 70).unwrap();
    assert_eq!(m.payload_len, 500);
    // Padding after the IPv6 payload is not parsed.
    let mut f = eth(0x86dd, &ipv6(6, &[0x50; 4]));
    f.resize(80, 0x50);
    assert_eq!(
        parse(LinkType::Ethernet, &f),
        Err(ParseError::Malformed(Layer::Tcp))
    );
}

#[test]
fn ip_in_ip_tunnels() {
    let inner4 = ipv4_addrs(
        17,
        [172, 16, 0, 1],
        [172, 16, 0, 2],
        &udp(62367, 17000, b"hi"),
    );
    let inner6 = ipv6_addrs(6, v6(0x11), v6(0x22), &tcp(3333, 443, 0x10, &[], &[]));
    let cases = [
        (ipv4(4, &inner4), 0x0800, Tunnel::FourInFour),
        (ipv4(41, &inner6), 0x0800, Tunnel::SixInFour),
        (ipv6(4, &inner4), 0x86dd, Tunnel::FourInSix),
        (ipv6(41, &inner6), 0x86dd, Tunnel::SixInSix),
    ];
    for (outer, et, tunnel) in cases {
        let f = eth(et, &outer);
        let m = eth_parse(&f);
        assert_eq!(m.tunnel, tunnel);
        let outer_len = if et == 0x0800 { 20 } else { 40 };
        if m.ip_version == 4 {
            assert_eq!(m.src_ip, mapped([172, 16, 0, 1]));
            assert_eq!(m.dst_ip, mapped([172, 16, 0, 2]));
            assert_eq!((m.protocol.0, m.src_port, m.dst_port), (17, 62367, 17000));
            assert_eq!(m.l4_offset as usize, 14 + outer_len + 20);
            assert_eq!(m.payload_len, 2);
            assert_eq!(&f[m.payload_offset as usize..], b"hi");
        } else {
            assert_eq!((m.src_ip, m.dst_ip), (v6(0x11), v6(0x22)));
            assert_eq!((m.protocol.0, m.src_port, m.dst_port), (6, 3333, 443));
            assert_eq!(m.l4_offset as usize, 14 + outer_len + 40);
        }
    }
    // Inner header cut by the capture.
    let f = eth(0x0800, &ipv4(4, &inner4));
    assert_eq!(
        snap(LinkType::Ethernet, &f, 40),
        Err(ParseError::Truncated(Layer::Ipv4))
    );
    // Inner version does not match the protocol.
    let f = eth(0x0800, &ipv4(41, &ipv4(17, &udp(1, 2, &[0; 20]))));
    assert_eq!(
        parse(LinkType::Ethernet, &f),
        Err(ParseError::Malformed(Layer::Ipv6))
    );
}

#[test]
fn tunnel_depth_limit() {
    let mut pkt = ipv4(17, &udp(1, 2, &[]));
    for depth in 1..=4 {
        pkt = ipv4(4, &pkt);
        let r = parse(LinkType::Ethernet, &eth(0x0800, &pkt));
        if depth <= MAX_TUNNELS {
            let m = r.unwrap();
            assert_eq!((m.tunnel, m.src_port), (Tunnel::FourInFour, 1));
        } else {
            assert_eq!(r, Err(ParseError::Malformed(Layer::Tunnel)));
        }
    }
    // GRE counts as a level too, and the outermost names the tunnel.
    let pkt = ipv4(
        47,
        &cat(&[&[0, 0, 0x08, 0x00], &ipv4(4, &ipv4(17, &udp(1, 2, &[])))]),
    );
    let m = eth_parse(&eth(0x86dd, &ipv6(4, &pkt)));
    assert_eq!((m.tunnel, m.src_port), (Tunnel::FourInSix, 1));
}

#[test]
fn outer_fragments() {
    let inner = ipv4_addrs(17, [172, 16, 0, 1], [172, 16, 0, 2], &udp(1, 2, &[0; 40]));
    // Later fragment of the outer packet: the outer header, no decapsulation.
    let f = eth(0x0800, &ipv4_full(4, V4_A, V4_B, 0x0010, &[], &inner[..24]));
    let m = eth_parse(&f);
    assert_eq!(
        (m.fragment, m.tunnel, m.protocol.0),
        (Fragment::Later, Tunnel::None, 4)
    );
    assert_eq!(m.src_ip, mapped(V4_A));
    // First fragment: decapsulated, still a first fragment.
    let f = eth(0x0800, &ipv4_full(4, V4_A, V4_B, 0x2000, &[], &inner[..32]));
    let m = eth_parse(&f);
    assert_eq!(
        (m.fragment, m.tunnel, m.src_port),
        (Fragment::First, Tunnel::FourInFour, 1)
    );
    assert_eq!(m.src_ip, mapped([172, 16, 0, 1]));
}

fn gre(flags: [u8; 2], proto: u16, opt: &[u8], payload: &[u8]) -> Vec<u8> {
    cat(&[&flags, &proto.to_be_bytes(), opt, payload])
}

#[test]
fn gre_ipv4_ipv6() {
    let inner4 = ipv4_addrs(
        6,
        [172, 16, 0, 1],
        [172, 16, 0, 2],
        &tcp(1, 2, 0x02, &[], &[]),
    );
    let f = eth(0x0800, &ipv4(47, &gre([0, 0], 0x0800, &[], &inner4)));
    let m = eth_parse(&f);
    assert_eq!((m.tunnel, m.src_port, m.dst_port), (Tunnel::Gre, 1, 2));
    assert_eq!(m.src_ip, mapped([172, 16, 0, 1]));
    assert_eq!(m.l4_offset, 14 + 20 + 4 + 20);
    assert_eq!((m.dst_mac, m.src_mac), (MAC_B, MAC_A));
    // Checksum, key and sequence number, IPv6 inside, IPv6 outside.
    let inner6 = ipv6_addrs(17, v6(0x11), v6(0x22), &udp(5, 6, &[]));
    let opt = [0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 1];
    let f = eth(0x86dd, &ipv6(47, &gre([0xb0, 0], 0x86dd, &opt, &inner6)));
    let m = eth_parse(&f);
    assert_eq!((m.tunnel, m.ip_version, m.src_port), (Tunnel::Gre, 6, 5));
    assert_eq!(m.l4_offset, 14 + 40 + 16 + 40);
    // Key only.
    let f = eth(
        0x0800,
        &ipv4(47, &gre([0x20, 0], 0x0800, &[0, 0, 0, 1], &inner4)),
    );
    assert_eq!(eth_parse(&f).l4_offset, 14 + 20 + 8 + 20);
    // GRE header cut, bad version, routing bit.
    let f = eth(0x0800, &ipv4(47, &gre([0xb0, 0], 0x0800, &[], &[])));
    assert_eq!(
        parse(LinkType::Ethernet, &f),
        Err(ParseError::Truncated(Layer::Tunnel))
    );
    let f = eth(0x0800, &ipv4(47, &gre([0, 3], 0x0800, &[], &inner4)));
    assert_eq!(
        parse(LinkType::Ethernet, &f),
        Err(ParseError::Malformed(Layer::Tunnel))
    );
}

#[test]
fn gre_transparent_ethernet_and_erspan() {
    const MAC_C: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0c];
    const MAC_D: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0d];
    let inner = ipv4_addrs(17, [172, 16, 0, 1], [172, 16, 0, 2], &udp(7, 8, &[]));
    let inner_eth = eth_macs(MAC_D, MAC_C, 0x8100, &cat(&[&vlan_tag(77, 0x0800), &inner]));
    let outer = eth(0x8100, &cat(&[&vlan_tag(10, 0x0800)]));
    let check = |gre_bytes: Vec<u8>, gre_len: usize, what: &str| {
        let f = cat(&[&outer, &ipv4(47, &gre_bytes)]);
        let m = eth_parse(&f);
        assert_eq!(
            (m.tunnel, m.src_port, m.dst_port),
            (Tunnel::Gre, 7, 8),
            "{what}"
        );
        assert_eq!((m.src_mac, m.dst_mac), (MAC_C, MAC_D), "{what}");
        assert_eq!((m.vlan, m.vlan_count), (10, 2), "{what}");
        assert_eq!(m.src_ip, mapped([172, 16, 0, 1]), "{what}");
        assert_eq!(m.l4_offset as usize, 18 + 20 + gre_len + 18 + 20, "{what}");
    };
    check(gre([0, 0], 0x6558, &[], &inner_eth), 4, "TEB");
    check(gre([0, 0], 0x88be, &[], &inner_eth), 4, "ERSPAN I");
    let erspan2 = [0x10, 0x4d, 0x00, 0x01, 0, 0, 0, 0];
    check(
        gre(
            [0x10, 0],
            0x88be,
            &[0, 0, 0, 5],
            &cat(&[&erspan2, &inner_eth]),
        ),
        16,
        "ERSPAN II",
    );
    let mut erspan3 = [0u8; 20];
    erspan3[0] = 0x20;
    erspan3[11] = 0x01; // platform sub-header follows
    check(
        gre(
            [0x10, 0],
            0x22eb,
            &[0, 0, 0, 5],
            &cat(&[&erspan3, &inner_eth]),
        ),
        28,
        "ERSPAN III",
    );
    // Inner Ethernet cut.
    let f = cat(&[
        &outer,
        &ipv4(47, &gre([0, 0], 0x6558, &[], &inner_eth[..10])),
    ]);
    assert_eq!(
        parse(LinkType::Ethernet, &f),
        Err(ParseError::Truncated(Layer::Link))
    );
}

#[test]
fn gre_non_ip_payload_is_the_outer_packet() {
    let arp_eth = eth_macs(
        [0xff; 6],
        [0x02, 0, 0, 0, 0, 0x0c],
        0x8100,
        &cat(&[&vlan_tag(9, 0x0806), &[0; 28]]),
    );
    for g in [
        gre([0, 0], 0x6558, &[], &arp_eth),
        gre([0, 0], 0x0000, &[], &[]),
        gre([0, 0], 0x883e, &[], &[0; 8]),
    ] {
        let f = eth(0x8100, &cat(&[&vlan_tag(3, 0x0800), &ipv4(47, &g)]));
        let m = eth_parse(&f);
        assert_eq!((m.tunnel, m.protocol.0, m.src_port), (Tunnel::None, 47, 0));
        assert_eq!((m.src_mac, m.vlan, m.vlan_count), (MAC_A, 3, 1));
        assert_eq!(m.src_ip, mapped(V4_A));
        assert_eq!((m.l4_offset, m.payload_len as usize), (38, g.len()));
    }
}

/// Frame 1 of nDPI's gre.pcapng (PPTP: VLAN 142, enhanced GRE with key,
/// sequence and acknowledgment, PPP, IPv4, UDP 5060), first 96 bytes.
const PPTP_FRAME: [u8; 96] = [
    0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x9c, 0x37, 0xf4, 0x7c, 0x6e, 0x91, 0x81, 0x00, 0x00,
    0x8e, //
    0x08, 0x00, 0x45, 0x00, 0x01, 0x6e, 0xaf, 0xa5, 0x00, 0x00, 0xf2, 0x2f, 0x58, 0x4f, 0x6d,
    0x69, //
    0xe4, 0xfd, 0x0a, 0xb1, 0x62, 0x54, 0x30, 0x81, 0x88, 0x0b, 0x01, 0x4a, 0x98, 0x50, 0x00,
    0x00, //
    0x00, 0x6a, 0x00, 0x00, 0x00, 0x8c, 0xff, 0x03, 0x00, 0x21, 0x45, 0xa0, 0x01, 0x46, 0x38,
    0xc1, //
    0x00, 0x00, 0x3f, 0x11, 0x4d, 0xfb, 0xc0, 0xa8, 0x0a, 0xd2, 0xc0, 0xa8, 0x67, 0x28, 0x13,
    0xc4, //
    0x13, 0xc4, 0x01, 0x32, 0x57, 0xd5, 0x53, 0x49, 0x50, 0x2f, 0x32, 0x2e, 0x30, 0x20, 0x31,
    0x30, //
];

#[test]
fn udp_tunnels_gtp_and_vxlan() {
    let inner = ipv4_addrs(
        17,
        [10, 140, 0, 1],
        [193, 0, 0, 2],
        &udp(45634, 8801, b"zoom"),
    );
    // GTPv1-U T-PDU, no optional fields.
    let len = (inner.len() as u16).to_be_bytes();
    let gtp = cat(&[&[0x30, 0xff], &len, &[0, 0, 0, 7], &inner]);
    let f = eth(0x0800, &ipv4(17, &udp(2152, 2152, &gtp)));
    let m = eth_parse(&f);
    assert_eq!(m.tunnel, Tunnel::Gtp);
    assert_eq!((m.src_port, m.dst_port), (45634, 8801));
    assert_eq!(m.src_ip, mapped([10, 140, 0, 1]));
    assert_eq!(&f[m.payload_offset as usize..], b"zoom");
    // With sequence number and one extension header (PDU session container).
    let gtp = cat(&[
        &[0x36, 0xff],
        &len,
        &[0, 0, 0, 7, 0, 1, 0, 0x85],
        &[1, 0x10, 0x01, 0],
        &inner,
    ]);
    let m = eth_parse(&eth(0x0800, &ipv4(17, &udp(2152, 2152, &gtp))));
    assert_eq!((m.tunnel, m.dst_port), (Tunnel::Gtp, 8801));
    // GTP signalling (echo request) and a broken extension chain stay UDP.
    let echo = cat(&[&[0x32, 0x01, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0]]);
    let m = eth_parse(&eth(0x0800, &ipv4(17, &udp(40000, 2152, &echo))));
    assert_eq!(
        (m.tunnel, m.src_port, m.dst_port),
        (Tunnel::None, 40000, 2152)
    );
    let bad = cat(&[
        &[0x34, 0xff, 0, 8, 0, 0, 0, 7, 0, 0, 0, 0x85],
        &[0, 1, 2, 3],
    ]);
    let m = eth_parse(&eth(0x0800, &ipv4(17, &udp(2152, 2152, &bad))));
    assert_eq!((m.tunnel, m.dst_port), (Tunnel::None, 2152));
    // VXLAN carrying Ethernet/IPv4/UDP: inner MACs and 5-tuple.
    let vx = cat(&[&[0x08, 0, 0, 0, 0, 0, 42, 0], &eth(0x0800, &inner)]);
    let m = eth_parse(&eth(0x0800, &ipv4(17, &udp(51000, 4789, &vx))));
    assert_eq!(
        (m.tunnel, m.src_port, m.dst_port),
        (Tunnel::Vxlan, 45634, 8801)
    );
    // VXLAN without the I flag is not decapsulated.
    let vx = cat(&[&[0, 0, 0, 0, 0, 0, 42, 0], &eth(0x0800, &inner)]);
    let m = eth_parse(&eth(0x0800, &ipv4(17, &udp(51000, 4789, &vx))));
    assert_eq!((m.tunnel, m.dst_port), (Tunnel::None, 4789));
}

#[test]
fn ip_length_beyond_the_wire_is_malformed() {
    let f = eth(0x0800, &ipv4(17, &udp(1, 2, &[0; 40])));
    // Cut by a snap length: fine.
    assert!(snap(LinkType::Ethernet, &f, 50).is_ok());
    // The whole frame is 50 bytes on the wire, but IP claims 68.
    assert_eq!(
        parse(LinkType::Ethernet, &f[..50]),
        Err(ParseError::Malformed(Layer::Ipv4))
    );
    let f = eth(0x86dd, &ipv6(17, &udp(1, 2, &[0; 40])));
    assert_eq!(
        parse(LinkType::Ethernet, &f[..70]),
        Err(ParseError::Malformed(Layer::Ipv6))
    );
}

#[test]
fn gre_pptp_ppp() {
    let m = parse_frame(LinkType::Ethernet, &PPTP_FRAME, 384).unwrap();
    assert_eq!(
        (m.vlan, m.tunnel, m.ip_version, m.protocol.0),
        (142, Tunnel::Gre, 4, 17)
    );
    assert_eq!(m.src_ip, mapped([192, 168, 10, 210]));
    assert_eq!(m.dst_ip, mapped([192, 168, 103, 40]));
    assert_eq!((m.src_port, m.dst_port, m.ttl), (5060, 5060, 63));
    assert_eq!(
        (m.l4_offset, m.payload_offset, m.payload_len),
        (78, 86, 298)
    );
    assert_eq!(&PPTP_FRAME[86..90], b"SIP/");
    // PPP carrying LCP: the outer GRE packet.
    let mut f = PPTP_FRAME;
    f[56] = 0xc0;
    let m = parse_frame(LinkType::Ethernet, &f, 384).unwrap();
    assert_eq!((m.protocol.0, m.tunnel), (47, Tunnel::None));
    // Compressed PPP framing (protocol 0x21 alone).
    let ppp = cat(&[
        &[0x30, 0x81, 0x88, 0x0b],
        &PPTP_FRAME[42..54],
        &[0x21],
        &PPTP_FRAME[58..],
    ]);
    let outer = ipv4(47, &ppp);
    // A snap-length cut: whole, the inner packet (326 bytes) fits.
    let m = parse_frame(
        LinkType::Ethernet,
        &eth(0x0800, &outer),
        14 + 20 + 16 + 1 + 326,
    )
    .unwrap();
    assert_eq!(
        (m.tunnel, m.src_port, m.l4_offset),
        (Tunnel::Gre, 5060, 14 + 20 + 16 + 1 + 20)
    );
}

#[test]
fn pppoe() {
    let session = |ppp: u16, payload: &[u8]| {
        let len = (payload.len() + 2) as u16;
        cat(&[
            &[0x11, 0x00, 0x12, 0x34],
            &len.to_be_bytes(),
            &ppp.to_be_bytes(),
            payload,
        ])
    };
    let m = eth_parse(&eth(
        0x8864,
        &session(0x0021, &ipv4(6, &tcp(1, 2, 0x10, &[], &[]))),
    ));
    assert_eq!((m.ip_version, m.src_port, m.l4_offset), (4, 1, 42));
    let m = eth_parse(&eth(0x8864, &session(0x0057, &ipv6(17, &udp(3, 4, &[])))));
    assert_eq!((m.ip_version, m.src_port, m.l4_offset), (6, 3, 62));
    let f = eth(
        0x8100,
        &cat(&[
            &vlan_tag(7, 0x8864),
            &session(0x0021, &ipv4(17, &udp(5, 6, &[]))),
        ]),
    );
    assert_eq!((eth_parse(&f).vlan, eth_parse(&f).src_port), (7, 5));
    assert_eq!(
        parse(
            LinkType::Ethernet,
            &eth(0x8864, &session(0xc021, &[1, 1, 0, 4]))
        ),
        Err(ParseError::NonIp)
    );
    assert_eq!(
        parse(LinkType::Ethernet, &eth(0x8864, &[0x11, 0, 0, 1, 0])),
        Err(ParseError::Truncated(Layer::Link))
    );
    let mut s = session(0x0021, &ipv4(17, &udp(5, 6, &[])));
    s[0] = 0x12;
    assert_eq!(
        parse(LinkType::Ethernet, &eth(0x8864, &s)),
        Err(ParseError::Malformed(Layer::Link))
    );
}

#[test]
fn mpls() {
    let label = |l: u32, bos: bool| ((l << 12) | ((bos as u32) << 8) | 64).to_be_bytes();
    let pkt4 = ipv4(17, &udp(1, 2, &[]));
    let m = eth_parse(&eth(0x8847, &cat(&[&label(100, true), &pkt4])));
    assert_eq!((m.ip_version, m.src_port, m.l4_offset), (4, 1, 38));
    let pkt6 = ipv6(6, &tcp(3, 4, 0x10, &[], &[]));
    let m = eth_parse(&eth(
        0x8847,
        &cat(&[&label(16, false), &label(17, false), &label(2, true), &pkt6]),
    ));
    assert_eq!(
        (m.ip_version, m.src_port, m.l4_offset),
        (6, 3, 14 + 12 + 40)
    );
    // Ethernet pseudowire with a control word: not IP.
    let f = eth(
        0x8847,
        &cat(&[&label(100, true), &[0, 0, 0, 0], &eth(0x0800, &pkt4)]),
    );
    assert_eq!(parse(LinkType::Ethernet, &f), Err(ParseError::NonIp));
    // Stack without a bottom, or nothing after it.
    let f = eth(0x8847, &cat(&[&label(100, false), &label(101, false)]));
    assert_eq!(
        parse(LinkType::Ethernet, &f),
        Err(ParseError::Truncated(Layer::Link))
    );
    let f = eth(0x8847, &label(100, true));
    assert_eq!(
        parse(LinkType::Ethernet, &f),
        Err(ParseError::Truncated(Layer::Link))
    );
    // MPLS inside GRE.
    let g = gre([0, 0], 0x8847, &[], &cat(&[&label(5, true), &pkt4]));
    let m = eth_parse(&eth(0x0800, &ipv4(47, &g)));
    assert_eq!((m.tunnel, m.src_port), (Tunnel::Gre, 1));
}

#[test]
fn l4_truncated_and_malformed() {
    let f = eth(0x0800, &ipv4(6, &tcp(1, 2, 0x10, &[1, 1, 1, 1], b"data")));
    for cut in 34..58 {
        assert_eq!(
            snap(LinkType::Ethernet, &f, cut),
            Err(ParseError::Truncated(Layer::Tcp)),
            "{cut}"
        );
    }
    let mut bad = f.clone();
    bad[34 + 12] = 0x40;
    assert_eq!(
        parse(LinkType::Ethernet, &bad),
        Err(ParseError::Malformed(Layer::Tcp))
    );
    // Data offset beyond the IP payload.
    bad[34 + 12] = 0xf0;
    assert_eq!(
        parse(LinkType::Ethernet, &bad),
        Err(ParseError::Malformed(Layer::Tcp))
    );
    let f = eth(0x0800, &ipv4(17, &udp(1, 2, b"x")));
    for cut in 34..42 {
        assert_eq!(
            snap(LinkType::Ethernet, &f, cut),
            Err(ParseError::Truncated(Layer::Udp))
        );
    }
    let f = eth(0x86dd, &ipv6(58, &[128, 0, 0, 0, 0, 1, 0, 1]));
    for cut in 54..62 {
        assert_eq!(
            snap(LinkType::Ethernet, &f, cut),
            Err(ParseError::Truncated(Layer::Icmp))
        );
    }
    let f = eth(0x0800, &ipv4(1, &[8, 0, 0, 0]));
    assert_eq!(
        parse(LinkType::Ethernet, &f),
        Err(ParseError::Malformed(Layer::Icmp))
    );
}

#[test]
fn truncated_at_every_offset() {
    // A SYN with options and no payload: every cut is an error.
    let f = eth(
        0x8100,
        &cat(&[
            &vlan_tag(5, 0x0800),
            &ipv4(6, &tcp(1, 2, 0x02, &SYN_OPTS, &[])),
        ]),
    );
    assert!(parse(LinkType::Ethernet, &f).is_ok());
    for cut in 0..f.len() {
        let r = parse_frame(LinkType::Ethernet, &f[..cut], f.len() as u32);
        assert!(
            matches!(r, Err(ParseError::Truncated(_))),
            "cut at {cut}: {r:?}"
        );
    }
    // With a payload, cuts inside the payload are fine (snap length).
    let f = eth(
        0x86dd,
        &ipv6(0, &cat(&[&ext(6, 0), &tcp(1, 2, 0x18, &[], b"payload")])),
    );
    let full = eth_parse(&f);
    for cut in 0..f.len() {
        let r = snap(LinkType::Ethernet, &f, cut);
        if cut < full.payload_offset as usize {
            assert!(
                matches!(r, Err(ParseError::Truncated(_))),
                "cut at {cut}: {r:?}"
            );
        } else {
            let m = r.unwrap();
            assert_eq!((m.payload_offset, m.payload_len), (full.payload_offset, 7));
        }
    }
    // Tunnels, every cut: never a panic, always an error before L4.
    let f = PPTP_FRAME;
    for cut in 0..78 {
        assert!(snap(LinkType::Ethernet, &f, cut).is_err(), "cut at {cut}");
    }
}

#[test]
fn reason_indices_are_dense() {
    let mut seen = [false; PARSE_REASONS];
    let layers = [
        Layer::Link,
        Layer::Vlan,
        Layer::Ipv4,
        Layer::Ipv6,
        Layer::Tcp,
        Layer::Udp,
        Layer::Icmp,
        Layer::Tunnel,
    ];
    for l in layers {
        seen[ParseError::Truncated(l).reason()] = true;
        seen[ParseError::Malformed(l).reason()] = true;
    }
    seen[ParseError::NonIp.reason()] = true;
    seen[ParseError::UnsupportedLink.reason()] = true;
    assert_eq!(seen.iter().filter(|s| **s).count(), PARSE_REASONS - 1);
    assert_eq!(
        ParseError::reason_name(ParseError::Truncated(Layer::Tcp).reason()),
        "truncated_tcp"
    );
}

/// Every frame of the shared test captures (nDPI's test suite, see
/// DESIGN.md), read with a minimal pcap/pcapng reader. Skipped when
/// `../shared/testdata/pcap` is not beside the checkout.
mod captures {
    use super::*;
    use std::path::PathBuf;

    struct Rec {
        link: Option<LinkType>,
        data: Vec<u8>,
        orig: u32,
    }

    fn u32_at(b: &[u8], o: usize, le: bool) -> u32 {
        let a = [b[o], b[o + 1], b[o + 2], b[o + 3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    }

    fn read(b: &[u8]) -> Vec<Rec> {
        let mut out = Vec::new();
        if b.len() < 24 {
            return out;
        }
        let (mut le, mut o) = (true, 0);
        if u32_at(b, 0, true) == 0x0a0d_0d0a {
            // pcapng: section header, interface descriptions, packets.
            let mut links = Vec::new();
            while o + 12 <= b.len() {
                if u32_at(b, o, true) == 0x0a0d_0d0a {
                    le = u32_at(b, o + 8, true) == 0x1a2b_3c4d;
                    links.clear();
                }
                let (kind, len) = (u32_at(b, o, le), u32_at(b, o + 4, le) as usize);
                if len < 12 || o + len > b.len() {
                    break;
                }
                let blk = &b[o..o + len];
                match kind {
                    1 => {
                        let lt = [blk[8], blk[9]];
                        let lt = if le {
                            u16::from_le_bytes(lt)
                        } else {
                            u16::from_be_bytes(lt)
                        };
                        links.push(LinkType::from_linktype(lt as u32));
                    }
                    6 => {
                        let cap = u32_at(blk, 20, le) as usize;
                        let link = links.get(u32_at(blk, 8, le) as usize).copied().flatten();
                        out.push(Rec {
                            link,
                            data: blk[28..28 + cap].to_vec(),
                            orig: u32_at(blk, 24, le),
                        });
                    }
                    _ => {}
                }
                o += len;
            }
            return out;
        }
        le = matches!(u32_at(b, 0, true), 0xa1b2_c3d4 | 0xa1b2_3c4d);
        let link = LinkType::from_linktype(u32_at(b, 20, le) & 0x0fff_ffff);
        o = 24;
        while o + 16 <= b.len() {
            let cap = u32_at(b, o + 8, le) as usize;
            if o + 16 + cap > b.len() {
                break;
            }
            out.push(Rec {
                link,
                data: b[o + 16..o + 16 + cap].to_vec(),
                orig: u32_at(b, o + 12, le),
            });
            o += 16 + cap;
        }
        out
    }

    fn dir() -> Option<PathBuf> {
        let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/pcap");
        d.is_dir().then_some(d)
    }

    fn parse_capture(name: &str) -> Option<Vec<Result<PacketMeta, ParseError>>> {
        let bytes = std::fs::read(dir()?.join(name)).ok()?;
        let recs = read(&bytes);
        assert!(!recs.is_empty(), "{name}: no frames read");
        Some(
            recs.iter()
                .map(|r| parse_frame(r.link.expect("supported link type"), &r.data, r.orig))
                .collect(),
        )
    }

    #[test]
    fn every_frame_of_every_capture() {
        let Some(d) = dir() else {
            eprintln!("skipped: no ../shared/testdata/pcap");
            return;
        };
        let mut frames = 0;
        for e in std::fs::read_dir(d).unwrap() {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            for r in read(&bytes) {
                let Some(link) = r.link else { continue };
                if let Ok(m) = parse_frame(link, &r.data, r.orig) {
                    assert!(m.payload_offset as usize <= r.data.len(), "{path:?}");
                    assert!(m.l4_offset <= m.payload_offset, "{path:?}");
                }
                // Every prefix of the frame, too.
                for cut in [14, 20, 34, 38, 54, 60] {
                    let _ = parse_frame(link, &r.data[..cut.min(r.data.len())], r.orig);
                }
                frames += 1;
            }
        }
        assert!(frames > 1000, "{frames}");
    }

    #[test]
    fn four_in_four() {
        let Some(ms) = parse_capture("4in4tunnel.pcap") else {
            return;
        };
        assert_eq!(ms.len(), 5);
        for m in ms {
            let m = m.unwrap();
            assert_eq!(
                (m.tunnel, m.vlan, m.vlan_count),
                (Tunnel::FourInFour, 1624, 2)
            );
            assert_eq!(m.src_ip, mapped([10, 10, 100, 25]));
            assert_eq!(m.dst_ip, mapped([10, 10, 101, 2]));
            assert_eq!((m.protocol.0, m.src_port, m.dst_port), (17, 62367, 17000));
        }
    }

    #[test]
    fn six_in_four() {
        let Some(ms) = parse_capture("6in4tunnel.pcap") else {
            return;
        };
        assert_eq!(ms.len(), 127);
        for m in ms {
            let m = m.unwrap();
            assert_eq!((m.tunnel, m.ip_version), (Tunnel::SixInFour, 6));
        }
    }

    #[test]
    fn gre_pptp() {
        let Some(ms) = parse_capture("gre.pcapng") else {
            return;
        };
        let m = ms[0].unwrap();
        assert_eq!(
            (m.tunnel, m.vlan, m.src_port, m.dst_port),
            (Tunnel::Gre, 142, 5060, 5060)
        );
    }

    #[test]
    fn fragments() {
        let Some(ms) = parse_capture("dns_fragmented.pcap") else {
            return;
        };
        let later = ms
            .iter()
            .filter(|m| matches!(m, Ok(m) if m.fragment == Fragment::Later));
        assert_eq!(later.count(), 7);
        let Some(ms) = parse_capture("ip_fragmented_garbage.pcap") else {
            return;
        };
        assert!(ms.iter().all(|m| m.is_ok()));
        let first = ms
            .iter()
            .filter(|m| matches!(m, Ok(m) if m.fragment == Fragment::First));
        assert_eq!(first.count(), 4);
    }
}

mod props {
    use super::*;
    use proptest::prelude::*;

    const LINKS: [LinkType; 7] = [
        LinkType::Ethernet,
        LinkType::RawIp,
        LinkType::Ipv4,
        LinkType::Ipv6,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::Null,
    ];

    fn check_invariants(f: &[u8], r: Result<PacketMeta, ParseError>) {
        if let Ok(m) = r {
            assert!(m.ip_version == 4 || m.ip_version == 6);
            assert_eq!(m.cap_len as usize, f.len());
            assert!(m.l4_offset <= m.payload_offset);
            assert!(m.payload_offset as usize <= f.len());
            if m.fragment == Fragment::Later {
                assert_eq!((m.src_port, m.dst_port), (0, 0));
            }
        }
    }

    /// Frames that reach deep into the parser, to mutate.
    fn seeds() -> Vec<Vec<u8>> {
        let inner4 = ipv4(6, &tcp(1, 2, 0x02, &SYN_OPTS, b"x"));
        let inner6 = ipv6(
            0,
            &cat(&[&ext(44, 0), &frag6(17, 0, true, 1), &udp(1, 2, b"y")]),
        );
        vec![
            eth(0x0800, &inner4),
            eth(0x86dd, &inner6),
            eth(
                0x88a8,
                &cat(&[
                    &vlan_tag(1, 0x8100),
                    &vlan_tag(2, 0x0800),
                    &ipv4(41, &inner6),
                ]),
            ),
            eth(
                0x0800,
                &ipv4(
                    47,
                    &gre(
                        [0x10, 0],
                        0x88be,
                        &[0, 0, 0, 1],
                        &cat(&[&[0x10, 0, 0, 1, 0, 0, 0, 0], &eth(0x0800, &inner4)]),
                    ),
                ),
            ),
            eth(
                0x86dd,
                &ipv6(
                    47,
                    &gre(
                        [0xb0, 0],
                        0x6558,
                        &[0; 12],
                        &eth(0x8847, &cat(&[&[0, 0, 1, 64], &inner4])),
                    ),
                ),
            ),
            PPTP_FRAME.to_vec(),
            eth(0x8864, &cat(&[&[0x11, 0, 0, 1, 0, 60, 0, 0x57], &inner6])),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            for link in LINKS {
                let r = parse_frame(link, &bytes, bytes.len() as u32);
                check_invariants(&bytes, r);
            }
        }

        #[test]
        fn never_panics_on_mutated_frames(
            seed in 0usize..7,
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
            cut in any::<usize>(),
        ) {
            let mut f = seeds()[seed].clone();
            for (at, v) in flips {
                let n = f.len();
                f[at % n] = v;
            }
            let len = cut % (f.len() + 1);
            let r = parse_frame(LinkType::Ethernet, &f[..len], f.len() as u32);
            check_invariants(&f[..len], r);
        }

        #[test]
        fn link_layers_agree(payload in proptest::collection::vec(any::<u8>(), 0..64), sport: u16, dport: u16) {
            let pkt = ipv4(17, &udp(sport, dport, &payload));
            let raw = parse(LinkType::RawIp, &pkt).unwrap();
            let e = parse(LinkType::Ethernet, &eth(0x0800, &pkt)).unwrap();
            prop_assert_eq!((raw.src_port, raw.dst_port, raw.payload_len), (sport, dport, payload.len() as u16));
            prop_assert_eq!((e.src_ip, e.dst_ip, e.src_port, e.dst_port), (raw.src_ip, raw.dst_ip, sport, dport));
            prop_assert_eq!(e.payload_offset, raw.payload_offset + 14);
        }
    }
}
