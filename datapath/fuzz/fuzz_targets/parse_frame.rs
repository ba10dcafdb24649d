#![no_main]

use datapath::parse::{parse_frame, parse_frame_into, LinkType, PacketMeta};
use libfuzzer_sys::fuzz_target;

const LINKS: [LinkType; 7] = [
    LinkType::Ethernet,
    LinkType::RawIp,
    LinkType::Ipv4,
    LinkType::Ipv6,
    LinkType::LinuxSll,
    LinkType::LinuxSll2,
    LinkType::Null,
];

fuzz_target!(|data: &[u8]| {
    let mut m = PacketMeta::default();
    for link in LINKS {
        let r = parse_frame(link, data, data.len() as u32);
        assert_eq!(
            r.is_ok(),
            parse_frame_into(link, data, data.len() as u32, &mut m).is_ok()
        );
        if let Ok(p) = r {
            assert_eq!(p, m);
            assert!(p.l4_offset <= p.payload_offset && p.payload_offset as usize <= data.len());
        }
    }
});
