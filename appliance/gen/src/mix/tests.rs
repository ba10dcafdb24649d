//! Unit tests of the parent module.

use super::*;

fn cfg(parts: &str) -> GenConfig {
    GenConfig {
        parts: parts.parse().unwrap(),
        bulk_bytes: 300_000,
        ..GenConfig::default()
    }
}

#[test]
fn parts_parse_and_display() {
    assert_eq!("all".parse::<Parts>().unwrap(), Parts::ALL);
    let p: Parts = "dns, quic".parse().unwrap();
    assert!(p.dns && p.quic && !p.tls);
    assert_eq!(p.to_string(), "dns,quic");
    assert_eq!(Parts::ALL.to_string(), "all");
    assert!("dns,ftp".parse::<Parts>().unwrap_err().contains("ftp"));
    assert!("".parse::<Parts>().is_err());
}

#[test]
fn same_seed_same_frames() {
    let a: Vec<Frame> = TrafficMix::new(cfg("all")).take(5000).collect();
    let b: Vec<Frame> = TrafficMix::new(cfg("all")).take(5000).collect();
    assert_eq!(a, b);
    let c: Vec<Frame> = TrafficMix::new(GenConfig {
        seed: 2,
        ..cfg("all")
    })
    .take(5000)
    .collect();
    assert_ne!(a, c);
}

#[test]
fn frames_are_in_time_order_across_rounds() {
    let mut mix = TrafficMix::new(cfg("all"));
    let mut last = 0;
    let mut n = 0u32;
    for f in mix.by_ref().take(40_000) {
        assert!(f.ts_ns >= last);
        assert!(
            f.data.len() >= 60 && f.data.len() <= 1514,
            "{}",
            f.data.len()
        );
        last = f.ts_ns;
        n += 1;
    }
    assert_eq!(n, 40_000);
    assert!(mix.rounds() >= 2);
}

#[test]
fn one_round_holds_every_part() {
    let frames = TrafficMix::new(cfg("all")).next_round();
    let ethertype = |f: &Frame| u16::from_be_bytes([f.data[12], f.data[13]]);
    let v4: Vec<&Frame> = frames.iter().filter(|f| ethertype(f) == 0x0800).collect();
    let v6 = frames.iter().filter(|f| ethertype(f) == 0x86dd).count();
    assert!(v6 > 0, "some IPv6");
    let proto = |f: &Frame| f.data[23];
    let dport = |f: &Frame| u16::from_be_bytes([f.data[36], f.data[37]]);
    let sport = |f: &Frame| u16::from_be_bytes([f.data[34], f.data[35]]);
    let icmp = v4.iter().filter(|f| proto(f) == 1).count();
    assert_eq!(icmp, 16, "two IPv4 pings of four pairs");
    let dns = v4
        .iter()
        .filter(|f| proto(f) == 17 && dport(f) == 53)
        .count();
    assert!(dns > 10);
    let quic = v4
        .iter()
        .filter(|f| proto(f) == 17 && dport(f) == 443)
        .count();
    assert!(quic > 20);
    // The scan: one SYN to each of ports 1..=1000 of the NAS.
    let nas = [192, 168, 50, 5];
    let syns = v4
        .iter()
        .filter(|f| proto(f) == 6 && f.data[30..34] == nas && f.data[47] == 0x02)
        .count();
    assert_eq!(syns, 1000);
    let rsts = v4
        .iter()
        .filter(|f| proto(f) == 6 && f.data[26..30] == nas && f.data[47] == 0x14)
        .count();
    assert_eq!(rsts, 1000 - NAS_OPEN_PORTS.len());
    // The sweep: one SYN to port 23 on each of 100 internet hosts.
    let sweep = v4
        .iter()
        .filter(|f| proto(f) == 6 && dport(f) == 23 && f.data[47] == 0x02 && f.data[30..34] != nas)
        .count();
    assert_eq!(sweep, 100);
    let http = v4
        .iter()
        .filter(|f| proto(f) == 6 && (dport(f) == 80 || sport(f) == 80));
    assert!(http.count() > 20);
}

#[test]
fn parts_select_traffic() {
    let frames = TrafficMix::new(cfg("icmp")).next_round();
    assert_eq!(frames.len(), 24);
    let frames = TrafficMix::new(cfg("dns")).next_round();
    // (protocol, destination port) of IPv4 and IPv6 frames.
    let l4 = |f: &Frame| {
        let d = &f.data;
        if d[12] == 0x86 {
            (d[20], u16::from_be_bytes([d[56], d[57]]))
        } else {
            (d[23], u16::from_be_bytes([d[36], d[37]]))
        }
    };
    assert!(frames.iter().all(|f| l4(f).0 == 17));
    // Every catalog name is looked up at least once per round, and
    // every query is answered.
    let queries = frames.iter().filter(|f| l4(f).1 == 53).count();
    assert!(queries >= CATALOG.len(), "{queries}");
    assert_eq!(queries * 2, frames.len());
}

#[test]
fn bulk_transfer_carries_the_configured_bytes_and_retransmits() {
    let c = GenConfig {
        parts: "bulk".parse().unwrap(),
        bulk_bytes: 5 << 20,
        ..GenConfig::default()
    };
    let frames = TrafficMix::new(c).next_round();
    // TCP payload from port 443, by sequence number: the retransmitted
    // segments repeat sequence numbers already seen.
    let mut seen = std::collections::HashSet::new();
    let mut payload = 0usize;
    let mut retrans = 0;
    for f in &frames {
        let d = &f.data;
        let (l3, total) = if d[12] == 0x86 {
            (54, 40 + u16::from_be_bytes([d[18], d[19]]) as usize)
        } else {
            (34, u16::from_be_bytes([d[16], d[17]]) as usize)
        };
        let ip_hlen = l3 - 14;
        let tcp = &d[l3..14 + total];
        if u16::from_be_bytes([tcp[0], tcp[1]]) != 443 {
            continue;
        }
        let hl = (tcp[12] >> 4) as usize * 4;
        let len = total - ip_hlen - hl;
        if len == 0 {
            continue;
        }
        let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
        if !seen.insert(seq) {
            retrans += 1;
        } else {
            payload += len;
        }
    }
    assert_eq!(retrans, 2, "a fast retransmission per 2 MiB");
    assert!(
        payload > 5 << 20 && payload < (5 << 20) + 30_000,
        "{payload}"
    );
}
