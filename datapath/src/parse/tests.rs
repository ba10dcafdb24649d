//! Unit tests of the parent module.

use super::*;

mod captures;
mod ip;
mod props;
mod tunnels;

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

fn ext(nh: u8, len_units: u8) -> Vec<u8> {
    let mut h = vec![nh, len_units];
    h.resize((len_units as usize + 1) * 8, 1);
    h
}

fn frag6(nh: u8, offset_units: u16, more: bool, id: u32) -> Vec<u8> {
    let om = (offset_units << 3) | more as u16;
    cat(&[&[nh, 0], &om.to_be_bytes(), &id.to_be_bytes()])
}

fn gre(flags: [u8; 2], proto: u16, opt: &[u8], payload: &[u8]) -> Vec<u8> {
    cat(&[&flags, &proto.to_be_bytes(), opt, payload])
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
