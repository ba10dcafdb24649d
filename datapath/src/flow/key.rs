//! Bidirectional flow keys and their hash.

use crate::parse::PacketMeta;
use crate::wire::IpProtocol;

/// A direction-free flow key: the two endpoints in canonical order
/// (`lo` ≤ `hi` by address, then port), so both directions of a flow map to
/// the same key. Compared as five machine words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(C, align(8))]
pub struct FlowKey {
    /// The lower endpoint's address (IPv4-mapped for IPv4).
    pub lo_ip: [u8; 16],
    /// The higher endpoint's address (IPv4-mapped for IPv4).
    pub hi_ip: [u8; 16],
    /// The lower endpoint's port (for ICMP echo, the echo identifier).
    pub lo_port: u16,
    /// The higher endpoint's port (for ICMP echo, the echo identifier).
    pub hi_port: u16,
    /// Outermost VLAN id (0 = untagged): the same addresses on two VLANs are
    /// two flows.
    pub vlan: u16,
    /// IP protocol of the flow.
    pub protocol: IpProtocol,
    /// The [`crate::parse::Tunnel`] the flow came in, as its number.
    pub tunnel: u8,
}

const _: () = assert!(std::mem::size_of::<FlowKey>() == 40);

impl FlowKey {
    /// Builds the canonical key of a packet with the given (possibly
    /// substituted) ports; returns it and whether the packet's source is the
    /// `lo` endpoint.
    #[inline]
    pub fn from_meta(m: &PacketMeta, src_port: u16, dst_port: u16) -> (FlowKey, bool) {
        let src_is_lo = (m.src_ip, src_port) <= (m.dst_ip, dst_port);
        let (lo_ip, lo_port, hi_ip, hi_port) = if src_is_lo {
            (m.src_ip, src_port, m.dst_ip, dst_port)
        } else {
            (m.dst_ip, dst_port, m.src_ip, src_port)
        };
        (
            FlowKey {
                lo_ip,
                hi_ip,
                lo_port,
                hi_port,
                vlan: m.vlan,
                protocol: m.protocol,
                tunnel: m.tunnel as u8,
            },
            src_is_lo,
        )
    }

    #[inline]
    fn words(&self) -> [u64; 5] {
        let mut w = [0u64; 5];
        w[0] = u64::from_ne_bytes(self.lo_ip[0..8].try_into().unwrap());
        w[1] = u64::from_ne_bytes(self.lo_ip[8..16].try_into().unwrap());
        w[2] = u64::from_ne_bytes(self.hi_ip[0..8].try_into().unwrap());
        w[3] = u64::from_ne_bytes(self.hi_ip[8..16].try_into().unwrap());
        w[4] = (self.lo_port as u64)
            | (self.hi_port as u64) << 16
            | (self.vlan as u64) << 32
            | (self.protocol.0 as u64) << 48
            | (self.tunnel as u64) << 56;
        w
    }

    /// A fast 64-bit hash of the key (multiply–rotate over the five words,
    /// then a final avalanche). Not DoS-resistant by itself: the table seeds
    /// it per instance.
    #[inline]
    pub fn hash_with(&self, seed: u64) -> u64 {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut h = seed;
        for w in self.words() {
            h = (h ^ w).wrapping_mul(K).rotate_left(29);
        }
        // Final mix (from splitmix64).
        h ^= h >> 30;
        h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^= h >> 27;
        h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^ (h >> 31)
    }
}

/// Ports a packet contributes to its flow key: TCP/UDP ports, the echo
/// identifier on both sides for ICMP echo (so request and reply meet), and
/// zero otherwise.
#[inline]
pub fn key_ports(m: &PacketMeta) -> (u16, u16) {
    match m.protocol {
        IpProtocol::ICMP | IpProtocol::ICMPV6 => (m.icmp_echo_id, m.icmp_echo_id),
        _ => (m.src_port, m.dst_port),
    }
}

/// The symmetric hash the replay dispatcher uses to pin both directions of a
/// flow to the same worker (the software stand-in for a NIC's symmetric RSS).
#[inline]
pub fn symmetric_hash(m: &PacketMeta) -> u64 {
    let (sp, dp) = key_ports(m);
    FlowKey::from_meta(m, sp, dp).0.hash_with(0x5bd1_e995)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(src: u8, sport: u16, dst: u8, dport: u16) -> PacketMeta {
        let mut m = PacketMeta {
            protocol: IpProtocol::TCP,
            src_port: sport,
            dst_port: dport,
            ..Default::default()
        };
        m.src_ip[15] = src;
        m.dst_ip[15] = dst;
        m
    }

    #[test]
    fn both_directions_share_a_key() {
        let a = meta(1, 40000, 2, 443);
        let b = meta(2, 443, 1, 40000);
        let (ka, a_lo) = FlowKey::from_meta(&a, a.src_port, a.dst_port);
        let (kb, b_lo) = FlowKey::from_meta(&b, b.src_port, b.dst_port);
        assert_eq!(ka, kb);
        assert_ne!(a_lo, b_lo);
        assert_eq!(ka.hash_with(7), kb.hash_with(7));
        assert_eq!(symmetric_hash(&a), symmetric_hash(&b));
    }

    #[test]
    fn different_ports_differ() {
        let a = meta(1, 40000, 2, 443);
        let b = meta(1, 40001, 2, 443);
        let ka = FlowKey::from_meta(&a, a.src_port, a.dst_port).0;
        let kb = FlowKey::from_meta(&b, b.src_port, b.dst_port).0;
        assert_ne!(ka, kb);
        assert_ne!(ka.hash_with(0), kb.hash_with(0));
    }
}
