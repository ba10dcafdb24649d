//! Every frame of the shared test captures (nDPI's test suite, see
//! DESIGN.md), read with a minimal pcap/pcapng reader. Skipped when
//! `../shared/testdata/pcap` is not beside the checkout.

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
