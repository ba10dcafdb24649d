//! Property tests of the `Repr`s: whatever a `Repr` holds, `emit` writes
//! bytes that `parse` reads back as the same `Repr`, checksums included;
//! one flipped bit in a checksummed packet is caught.

use proptest::prelude::*;

use super::{
    ethernet, icmp, ipv4, ipv6, tcp, udp, EtherType, IcmpPacket, IpPair, IpProtocol, Ipv4Packet,
    Ipv6Packet, TcpFlags, TcpPacket, UdpPacket,
};

fn ip_pair() -> impl Strategy<Value = IpPair> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<[u8; 4]>()).prop_map(|(src, dst)| IpPair::V4 { src, dst }),
        (any::<[u8; 16]>(), any::<[u8; 16]>()).prop_map(|(src, dst)| IpPair::V6 { src, dst }),
    ]
}

/// Options of any length that is a multiple of 4, up to 40 bytes.
fn tcp_options() -> impl Strategy<Value = Vec<u8>> {
    (0usize..=10).prop_flat_map(|words| proptest::collection::vec(any::<u8>(), words * 4))
}

proptest! {
    #[test]
    fn ethernet_round_trip(src in any::<[u8; 6]>(), dst in any::<[u8; 6]>(), et in any::<u16>()) {
        let r = ethernet::Repr { src_addr: src, dst_addr: dst, ethertype: EtherType(et) };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut ethernet::Frame::new_unchecked(&mut buf[..]));
        prop_assert_eq!(ethernet::Repr::parse(&ethernet::Frame::new_unchecked(&buf[..])), Ok(r));
    }

    #[test]
    fn ipv4_round_trip(
        src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), proto in any::<u8>(),
        payload_len in 0usize..2000, ttl in any::<u8>(), ident in any::<u16>(),
        dont_frag in any::<bool>(), flip in any::<(usize, u8)>(),
    ) {
        let r = ipv4::Repr {
            src_addr: src, dst_addr: dst, protocol: IpProtocol(proto), payload_len, ttl, ident,
            dont_frag,
        };
        let mut buf = vec![0u8; r.buffer_len() + payload_len];
        r.emit(&mut Ipv4Packet::new_unchecked(&mut buf[..]));
        prop_assert_eq!(ipv4::Repr::parse(&Ipv4Packet::new_unchecked(&buf[..])), Ok(r));
        // A changed header byte (other than the version/IHL and flags the
        // parser refuses first) never parses as the same header.
        let at = 2 + flip.0 % 18;
        let bit = 1u8 << (flip.1 % 8);
        if at != 6 {
            buf[at] ^= bit;
            prop_assert_ne!(ipv4::Repr::parse(&Ipv4Packet::new_unchecked(&buf[..])), Ok(r));
        }
    }

    #[test]
    fn ipv6_round_trip(
        src in any::<[u8; 16]>(), dst in any::<[u8; 16]>(), nh in any::<u8>(),
        payload_len in 1usize..2000, hop_limit in any::<u8>(), traffic_class in any::<u8>(),
        flow_label in 0u32..(1 << 20),
    ) {
        let r = ipv6::Repr {
            src_addr: src, dst_addr: dst, next_header: IpProtocol(nh), payload_len, hop_limit,
            traffic_class, flow_label,
        };
        let mut buf = vec![0u8; r.buffer_len() + payload_len];
        r.emit(&mut Ipv6Packet::new_unchecked(&mut buf[..]));
        prop_assert_eq!(ipv6::Repr::parse(&Ipv6Packet::new_unchecked(&buf[..])), Ok(r));
    }

    #[test]
    fn udp_round_trip(
        ip in ip_pair(), src_port in any::<u16>(), dst_port in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..600), flip in any::<(usize, u8)>(),
    ) {
        let r = udp::Repr { src_port, dst_port, payload: &payload };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut UdpPacket::new_unchecked(&mut buf[..]), &ip);
        prop_assert_eq!(udp::Repr::parse(&UdpPacket::new_unchecked(&buf[..]), &ip), Ok(r));
        // One flipped bit outside the length field (which the parser checks
        // against the buffer first) breaks the checksum.
        let at = flip.0 % buf.len();
        if !(4..6).contains(&at) {
            let mut bad = buf.clone();
            bad[at] ^= 1 << (flip.1 % 8);
            let got = udp::Repr::parse(&UdpPacket::new_unchecked(&bad[..]), &ip);
            prop_assert!(got.is_err(), "{:?}", got);
        }
    }

    #[test]
    fn tcp_round_trip(
        ip in ip_pair(), src_port in any::<u16>(), dst_port in any::<u16>(),
        seq_number in any::<u32>(), ack_number in any::<u32>(), flags in any::<u8>(),
        window_len in any::<u16>(), options in tcp_options(),
        payload in proptest::collection::vec(any::<u8>(), 0..600), flip in any::<(usize, u8)>(),
    ) {
        let r = tcp::Repr {
            src_port, dst_port, seq_number, ack_number, flags: TcpFlags(flags), window_len,
            options: &options, payload: &payload,
        };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut TcpPacket::new_unchecked(&mut buf[..]), &ip);
        prop_assert_eq!(tcp::Repr::parse(&TcpPacket::new_unchecked(&buf[..]), &ip), Ok(r));
        let at = flip.0 % buf.len();
        let mut bad = buf.clone();
        bad[at] ^= 1 << (flip.1 % 8);
        let got = tcp::Repr::parse(&TcpPacket::new_unchecked(&bad[..]), &ip);
        prop_assert!(got.is_err(), "{:?}", got);
    }

    #[test]
    fn icmp_echo_round_trip(
        ip in ip_pair(), reply in any::<bool>(), ident in any::<u16>(), seq_no in any::<u16>(),
        data in proptest::collection::vec(any::<u8>(), 0..600), flip in any::<(usize, u8)>(),
    ) {
        let v6 = ip.is_ipv6();
        let r = icmp::EchoRepr { v6, reply, ident, seq_no, data: &data };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut IcmpPacket::new_unchecked(&mut buf[..]), Some(&ip));
        let parsed = icmp::EchoRepr::parse(&IcmpPacket::new_unchecked(&buf[..]), v6, Some(&ip));
        prop_assert_eq!(parsed, Ok(r));
        let at = flip.0 % buf.len();
        let mut bad = buf.clone();
        bad[at] ^= 1 << (flip.1 % 8);
        let got = icmp::EchoRepr::parse(&IcmpPacket::new_unchecked(&bad[..]), v6, Some(&ip));
        prop_assert!(got.is_err(), "{:?}", got);
    }
}
