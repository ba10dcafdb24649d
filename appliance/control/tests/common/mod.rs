//! What the control core's integration tests share.

use std::net::{IpAddr, Ipv4Addr};

use generator::packets::{udp_frame as gen_udp_frame, Link};

/// An Ethernet + IPv4 + UDP frame from `src` to `dst` (MACs
/// 02:00:00:00:00:01 to 02:00:00:00:00:02, TTL 64) with `payload` zero
/// bytes of payload, built by the generator's packet builder.
pub(crate) fn udp_frame(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    payload: usize,
) -> Vec<u8> {
    let link = Link {
        src_mac: [2, 0, 0, 0, 0, 1],
        dst_mac: [2, 0, 0, 0, 0, 2],
        src: IpAddr::V4(Ipv4Addr::from(src)),
        dst: IpAddr::V4(Ipv4Addr::from(dst)),
        ttl: 64,
    };
    gen_udp_frame(&link, 0, sport, dport, &vec![0; payload])
}
