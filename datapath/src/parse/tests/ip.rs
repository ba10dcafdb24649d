//! IPv4 and IPv6: options, malformed headers, snap lengths, fragments,
//! extension headers, jumbograms.

use super::*;

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
