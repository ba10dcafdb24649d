//! pcapng: blocks, interfaces, timestamp resolutions, sections, corrupt lengths.

use super::*;

#[test]
fn pcapng_basic_and_skipped_blocks() {
    let bytes = three_ng();
    let len = bytes.len() as u64;
    let (got, src) = read_bytes(bytes);
    assert_eq!(got, three_expected());
    assert_eq!(src.bytes_read(), len);
    assert_eq!(src.stats(), SourceStats::default());
}

#[test]
fn pcapng_two_interfaces_with_own_link_and_resolution() {
    for big in [false, true] {
        let mut ng = Ng::new(big);
        // if0: Ethernet, nanoseconds. if1: raw IP, 2^-20 s, offset +100 s.
        ng.idb(1, 0, Some(9), 0)
            .idb(101, 0, Some(0x80 | 20), 100)
            .epb(0, 1_700_000_000_123_456_789, P1, 14)
            .epb(1, (1_700_000_000u64 << 20) | (1 << 19), P3, 3)
            .epb(0, 1_700_000_001_000_000_001, P2, 61);
        let (got, src) = read_bytes(ng.bytes());
        assert_eq!(
            got,
            vec![
                g(P1, 14, 1_700_000_000_123_456_789, LinkType::Ethernet),
                g(P3, 3, 1_700_000_100_500_000_000, LinkType::RawIp),
                g(P2, 61, 1_700_000_001_000_000_001, LinkType::Ethernet),
            ],
            "big={big}"
        );
        assert_eq!(src.stats().invalid, 0);
    }
}

#[test]
fn timestamp_scales() {
    // 10^-n, n ≤ 9.
    assert_eq!(TsScale::from_tsresol(6).to_ns(5, 0), 5_000);
    assert_eq!(TsScale::from_tsresol(0).to_ns(5, 0), 5_000_000_000);
    assert_eq!(TsScale::from_tsresol(9).to_ns(5, 0), 5);
    // 10^-12 (picoseconds): rounds down.
    assert_eq!(TsScale::from_tsresol(12).to_ns(1_234_567, 0), 1_234);
    assert_eq!(TsScale::from_tsresol(127).to_ns(u64::MAX, 0), 0);
    // 2^-n.
    assert_eq!(TsScale::from_tsresol(0x80).to_ns(3, 0), 3_000_000_000);
    assert_eq!(
        TsScale::from_tsresol(0x80 | 10).to_ns(1024 + 512, 0),
        1_500_000_000
    );
    assert_eq!(TsScale::from_tsresol(0x80 | 30).to_ns(1, 0), 0); // 0.93 ns
    assert_eq!(TsScale::from_tsresol(0x80 | 127).to_ns(u64::MAX, 0), 0);
    // Saturation both ways.
    assert_eq!(TsScale::from_tsresol(0).to_ns(u64::MAX, 0), u64::MAX);
    assert_eq!(TsScale::from_tsresol(6).to_ns(1_000_000, -5), 0);
    assert_eq!(
        TsScale::from_tsresol(6).to_ns(1_000_000, i64::MAX),
        u64::MAX
    );
    assert_eq!(TsScale::from_tsresol(6).to_ns(1_000_000, -1), 0);
    assert_eq!(TsScale::from_tsresol(6).to_ns(1_500_000, -1), 500_000_000);
}

#[test]
fn pcapng_simple_packet_block() {
    let mut ng = Ng::new(false);
    ng.idb(1, 8, Some(9), 0) // snaplen 8
        .spb(&P1[..8], 14) // cut by the snap length
        .epb(0, 77, P3, 3)
        .spb(P3, 3); // padded to 4 in the file; 3 bytes delivered
    let (got, src) = read_bytes(ng.bytes());
    assert_eq!(
        got,
        vec![
            g(&P1[..8], 14, 0, LinkType::Ethernet),
            g(P3, 3, 77, LinkType::Ethernet),
            g(P3, 3, 77, LinkType::Ethernet), // last timestamp seen
        ]
    );
    assert_eq!(src.stats().invalid, 0);
}

#[test]
fn pcapng_obsolete_packet_block() {
    let mut ng = Ng::new(true);
    ng.idb(1, 0, None, 0)
        .idb(113, 0, Some(3), 0)
        .pb(1, 42, P1, 100);
    let (got, _) = read_bytes(ng.bytes());
    assert_eq!(got, vec![g(P1, 100, 42_000_000, LinkType::LinuxSll)]);
}

#[test]
fn pcapng_skips_unknown_blocks_of_any_size() {
    let mut ng = Ng::new(false);
    ng.idb(1, 0, None, 0)
        .block(4, &[0; 16]) // name resolution
        .block(0x0A, &[0; 40]) // decryption secrets
        .block(0x0000_0BAD, &[7; 3]) // custom
        .epb(0, 1, P1, 14)
        // 3 MiB unknown block: more than the initial buffer, skipped
        // without growing it.
        .block(0x4000_0001, &vec![0xee; 3 << 20])
        .epb(0, 2, P2, 61);
    let bytes = ng.bytes();
    let len = bytes.len() as u64;
    let (got, src) = read_bytes(bytes);
    assert_eq!(
        got,
        vec![
            g(P1, 14, 1_000, LinkType::Ethernet),
            g(P2, 61, 2_000, LinkType::Ethernet)
        ]
    );
    assert_eq!(src.bytes_read(), len);
    assert_eq!(src.stats().invalid, 0);
    assert_eq!(src.buf.len(), INITIAL_BUF);
}

#[test]
fn pcapng_sections_reset_interfaces_and_byte_order() {
    let mut a = Ng::new(false);
    a.idb(1, 0, None, 0).idb(1, 0, None, 0).epb(1, 1, P1, 14);
    let mut b = Ng::new(true);
    b.idb(101, 0, Some(9), 0)
        .epb(0, 5, P3, 3)
        .epb(1, 6, P2, 61) // interface 1 was in the previous section
        .epb(0, 7, P3, 3);
    let mut bytes = a.bytes();
    bytes.extend_from_slice(&b.bytes());
    let (got, src) = read_bytes(bytes);
    assert_eq!(
        got,
        vec![
            g(P1, 14, 1_000, LinkType::Ethernet),
            g(P3, 3, 5, LinkType::RawIp),
            g(P3, 3, 7, LinkType::RawIp),
        ]
    );
    assert_eq!(src.stats().invalid, 1);
}

#[test]
fn pcapng_unsupported_link_and_unknown_interface_are_skipped() {
    let mut ng = Ng::new(false);
    ng.idb(147, 0, None, 0) // USER0: unsupported
        .idb(1, 0, None, 0)
        .epb(0, 1, P1, 14)
        .epb(1, 2, P2, 61)
        .epb(7, 3, P3, 3) // no such interface
        .spb(P3, 3) // interface 0: unsupported
        .epb(1, 4, P3, 3);
    let (got, src) = read_bytes(ng.bytes());
    assert_eq!(
        got,
        vec![
            g(P2, 61, 2_000, LinkType::Ethernet),
            g(P3, 3, 4_000, LinkType::Ethernet)
        ]
    );
    assert_eq!(src.stats().invalid, 3);
    assert_eq!(src.packets_read(), 2);
}

#[test]
fn pcapng_packet_before_any_interface() {
    let mut ng = Ng::new(false);
    ng.epb(0, 1, P1, 14)
        .spb(P1, 14)
        .idb(1, 0, None, 0)
        .epb(0, 2, P3, 3);
    let (got, src) = read_bytes(ng.bytes());
    assert_eq!(got, vec![g(P3, 3, 2_000, LinkType::Ethernet)]);
    assert_eq!(src.stats().invalid, 2);
}

#[test]
fn pcapng_corrupt_lengths_stop_reading() {
    // Blocks of three_ng(): SHB, IDB, EPB, ISB, EPB, EPB.
    let base = three_ng();
    let epb2 = block_offset(&base, 4);
    let set = |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let epb2_len = u32::from_le_bytes(base[epb2 + 4..epb2 + 8].try_into().unwrap());
    type Corrupt = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Corrupt)> = vec![
        (
            "length not a multiple of 4",
            Box::new(move |b| set(b, epb2 + 4, epb2_len + 2)),
        ),
        (
            "length below the minimum",
            Box::new(move |b| set(b, epb2 + 4, 28)),
        ),
        ("length below 12", Box::new(move |b| set(b, epb2 + 4, 8))),
        (
            "trailer disagrees",
            Box::new(move |b| set(b, epb2 + epb2_len as usize - 4, epb2_len + 4)),
        ),
        (
            "captured length beyond the block",
            Box::new(move |b| set(b, epb2 + 20, epb2_len)),
        ),
        (
            "captured length absurd",
            Box::new(move |b| set(b, epb2 + 20, u32::MAX)),
        ),
        (
            "block length absurd",
            Box::new(move |b| set(b, epb2 + 4, 0xFFFF_FFF0)),
        ),
        (
            "next SHB with bad byte order",
            Box::new(move |b| {
                set(b, epb2, BT_SHB);
                set(b, epb2 + 8, 0x1234_5678);
            }),
        ),
        (
            "next SHB with version 2",
            Box::new(move |b| {
                let mut shb = Ng::new(false).bytes();
                shb[12] = 2;
                b.splice(epb2..epb2, shb);
            }),
        ),
    ];
    for (what, corrupt) in cases {
        let mut bytes = base.clone();
        corrupt(&mut bytes);
        let (got, src) = read_bytes(bytes);
        assert_eq!(got, three_expected()[..1], "{what}");
        assert_eq!(src.stats().invalid, 1, "{what}");
    }
}

#[test]
fn pcapng_malformed_idb_options_are_tolerated() {
    let mut ng = Ng::new(false);
    let mut body = Vec::new();
    put16(&mut body, false, 1);
    put16(&mut body, false, 0);
    put32(&mut body, false, 0);
    put16(&mut body, false, OPT_IF_TSRESOL);
    put16(&mut body, false, 200); // runs past the block
    body.extend_from_slice(&[9, 0, 0, 0]);
    ng.block(BT_IDB, &body).epb(0, 3, P3, 3);
    let (got, src) = read_bytes(ng.bytes());
    assert_eq!(got, vec![g(P3, 3, 3_000, LinkType::Ethernet)]);
    assert_eq!(src.stats().invalid, 0);
}
