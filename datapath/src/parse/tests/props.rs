//! Properties of the parser on arbitrary input.

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
