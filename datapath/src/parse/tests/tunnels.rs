//! Tunnels and encapsulations: IP in IP, GRE (ERSPAN, PPTP), GTP-U,
//! VXLAN, PPPoE, MPLS.

use super::*;

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
