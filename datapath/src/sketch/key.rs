//! What a counter counts by: key types, the fixed-size key they build from a
//! packet, and the seeded hashes the sketches index with.

use crate::flow::Seen;
use crate::parse::PacketMeta;
use crate::wire::{IpProtocol, TcpFlags};

/// Which packet fields make a counter's key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum KeyType {
    /// Source address.
    Src = 0,
    /// Destination address.
    Dst = 1,
    /// Source and destination address.
    SrcDst = 2,
    /// Source address, IP protocol and destination port.
    SrcDport = 3,
    /// IP protocol and destination port (a service).
    Dport = 4,
    /// Source and destination address and port, IP protocol.
    FiveTuple = 5,
}

impl KeyType {
    /// Every key type, in the order of their serialized codes.
    pub const ALL: [KeyType; 6] = [
        KeyType::Src,
        KeyType::Dst,
        KeyType::SrcDst,
        KeyType::SrcDport,
        KeyType::Dport,
        KeyType::FiveTuple,
    ];

    /// Stable name used in the configuration and the tables.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Src => "src",
            KeyType::Dst => "dst",
            KeyType::SrcDst => "src_dst",
            KeyType::SrcDport => "src_dport",
            KeyType::Dport => "dport",
            KeyType::FiveTuple => "five_tuple",
        }
    }

    /// The key type named `s` (as written by [`KeyType::name`]), if any.
    pub fn from_name(s: &str) -> Option<KeyType> {
        KeyType::ALL.into_iter().find(|k| k.name() == s)
    }

    pub(crate) fn from_u8(v: u8) -> Option<KeyType> {
        KeyType::ALL.get(v as usize).copied()
    }

    /// Whether keys of this type hold a source address.
    pub fn has_src_ip(self) -> bool {
        matches!(
            self,
            KeyType::Src | KeyType::SrcDst | KeyType::SrcDport | KeyType::FiveTuple
        )
    }

    /// Whether keys of this type hold a destination address.
    pub fn has_dst_ip(self) -> bool {
        matches!(self, KeyType::Dst | KeyType::SrcDst | KeyType::FiveTuple)
    }

    /// Whether keys of this type hold a source port.
    pub fn has_src_port(self) -> bool {
        self == KeyType::FiveTuple
    }

    /// Whether keys of this type hold a destination port.
    pub fn has_dst_port(self) -> bool {
        matches!(
            self,
            KeyType::SrcDport | KeyType::Dport | KeyType::FiveTuple
        )
    }

    /// Whether keys of this type hold the IP protocol (those with a destination
    /// port).
    pub fn has_protocol(self) -> bool {
        self.has_dst_port()
    }

    /// The key of packet `m` in its packed form (see [`Packed`]), computed
    /// in registers from the packet's fields: the per-packet path never
    /// builds a [`SketchKey`] in memory.
    #[inline]
    pub fn pack(self, m: &PacketMeta) -> Packed {
        let mask = &PACK_MASKS[self as usize];
        let w4 = (m.src_port as u64)
            | (m.dst_port as u64) << 16
            | (m.protocol.0 as u64) << 32
            | (m.ip_version as u64) << 40;
        Packed([
            u64::from_le_bytes(m.src_ip[0..8].try_into().unwrap()) & mask[0],
            u64::from_le_bytes(m.src_ip[8..16].try_into().unwrap()) & mask[1],
            u64::from_le_bytes(m.dst_ip[0..8].try_into().unwrap()) & mask[2],
            u64::from_le_bytes(m.dst_ip[8..16].try_into().unwrap()) & mask[3],
            w4 & mask[4],
        ])
    }

    /// The key of this type within a full five-tuple key (see
    /// [`Packed::endpoints`]): the same words [`KeyType::pack`] gives for a
    /// packet with those endpoints.
    #[inline]
    pub fn mask(self, full: &Packed) -> Packed {
        let mask = &PACK_MASKS[self as usize];
        Packed(std::array::from_fn(|i| full.0[i] & mask[i]))
    }

    /// The key of packet `m`: the fields of this type, every other field 0.
    #[inline]
    pub fn key(self, m: &PacketMeta) -> SketchKey {
        let mut k = SketchKey::default();
        match self {
            KeyType::Src => {
                k.src_ip = m.src_ip;
                k.ip_version = m.ip_version;
            }
            KeyType::Dst => {
                k.dst_ip = m.dst_ip;
                k.ip_version = m.ip_version;
            }
            KeyType::SrcDst => {
                k.src_ip = m.src_ip;
                k.dst_ip = m.dst_ip;
                k.ip_version = m.ip_version;
            }
            KeyType::SrcDport => {
                k.src_ip = m.src_ip;
                k.dst_port = m.dst_port;
                k.protocol = m.protocol;
                k.ip_version = m.ip_version;
            }
            KeyType::Dport => {
                k.dst_port = m.dst_port;
                k.protocol = m.protocol;
            }
            KeyType::FiveTuple => {
                k.src_ip = m.src_ip;
                k.dst_ip = m.dst_ip;
                k.src_port = m.src_port;
                k.dst_port = m.dst_port;
                k.protocol = m.protocol;
                k.ip_version = m.ip_version;
            }
        }
        k
    }
}

const ALL: u64 = u64::MAX;
const SRC_PORT: u64 = 0xffff;
const DST_PORT: u64 = 0xffff << 16;
const PROTO: u64 = 0xff << 32;
const VERSION: u64 = 0xff << 40;
/// Per key type: which bits of each packed word belong to the key.
const PACK_MASKS: [[u64; 5]; 6] = [
    [ALL, ALL, 0, 0, VERSION],
    [0, 0, ALL, ALL, VERSION],
    [ALL, ALL, ALL, ALL, VERSION],
    [ALL, ALL, 0, 0, DST_PORT | PROTO | VERSION],
    [0, 0, 0, 0, DST_PORT | PROTO],
    [ALL, ALL, ALL, ALL, SRC_PORT | DST_PORT | PROTO | VERSION],
];

/// A key as five little-endian words: source address (2), destination
/// address (2), then source port | destination port << 16 | protocol << 32
/// | IP version << 40. What the sketches hash and compare.
#[derive(Clone, Copy, Debug, Default, Eq)]
pub struct Packed(pub [u64; 5]);

impl std::hash::Hash for Packed {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}

impl PartialEq for Packed {
    /// Word by word, branch-free (the derived form calls `memcmp`).
    #[inline]
    fn eq(&self, o: &Packed) -> bool {
        let (a, b) = (&self.0, &o.0);
        ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4])) == 0
    }
}

impl Packed {
    /// The full key of traffic from `src` to `dst` (IPv4-mapped addresses
    /// for IPv4), from which [`KeyType::mask`] takes each key type's.
    #[inline]
    pub fn endpoints(
        src_ip: &[u8; 16],
        dst_ip: &[u8; 16],
        src_port: u16,
        dst_port: u16,
        protocol: IpProtocol,
        ip_version: u8,
    ) -> Packed {
        Packed([
            u64::from_le_bytes(src_ip[0..8].try_into().unwrap()),
            u64::from_le_bytes(src_ip[8..16].try_into().unwrap()),
            u64::from_le_bytes(dst_ip[0..8].try_into().unwrap()),
            u64::from_le_bytes(dst_ip[8..16].try_into().unwrap()),
            (src_port as u64)
                | (dst_port as u64) << 16
                | (protocol.0 as u64) << 32
                | (ip_version as u64) << 40,
        ])
    }

    /// Seeded 64-bit hash (see [`SketchKey::hash`]).
    #[inline]
    pub fn hash(&self, seed: u64) -> u64 {
        let [w0, w1, w2, w3, w4] = self.0;
        let a = mum(w0 ^ seed ^ P0, w1 ^ P1);
        let b = mum(w2 ^ P2, w3 ^ seed ^ P3);
        let c = mum(w4 ^ P4, seed ^ P1);
        mum(a ^ c ^ P2, b ^ P4)
    }

    /// The key in its field form.
    pub fn unpack(&self) -> SketchKey {
        let w = &self.0;
        let mut k = SketchKey::default();
        k.src_ip[0..8].copy_from_slice(&w[0].to_le_bytes());
        k.src_ip[8..16].copy_from_slice(&w[1].to_le_bytes());
        k.dst_ip[0..8].copy_from_slice(&w[2].to_le_bytes());
        k.dst_ip[8..16].copy_from_slice(&w[3].to_le_bytes());
        k.src_port = w[4] as u16;
        k.dst_port = (w[4] >> 16) as u16;
        k.protocol = IpProtocol((w[4] >> 32) as u8);
        k.ip_version = (w[4] >> 40) as u8;
        k
    }
}

/// A counter's key: the union of every key type's fields, unused ones 0.
/// Addresses are IPv4-mapped for IPv4 (as in [`PacketMeta`]); `ip_version`
/// tells an IPv4 packet from an IPv6 one with a mapped address.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(C, align(8))]
pub struct SketchKey {
    /// Source address (IPv4-mapped for IPv4; zero if not in the key type).
    pub src_ip: [u8; 16],
    /// Destination address (IPv4-mapped for IPv4; zero if not in the key type).
    pub dst_ip: [u8; 16],
    /// Source port (zero if not in the key type).
    pub src_port: u16,
    /// Destination port (zero if not in the key type).
    pub dst_port: u16,
    /// IP protocol (zero if not in the key type).
    pub protocol: IpProtocol,
    /// IP version, 4 or 6 (zero for `dport` keys, which hold no address).
    pub ip_version: u8,
}

const _: () = assert!(std::mem::size_of::<SketchKey>() == 40);

/// Bytes of a key in the serialized form (fields in declaration order,
/// ports little-endian).
pub(crate) const KEY_BYTES: usize = 38;

impl SketchKey {
    /// The packed form.
    #[inline]
    pub fn pack(&self) -> Packed {
        Packed([
            u64::from_le_bytes(self.src_ip[0..8].try_into().unwrap()),
            u64::from_le_bytes(self.src_ip[8..16].try_into().unwrap()),
            u64::from_le_bytes(self.dst_ip[0..8].try_into().unwrap()),
            u64::from_le_bytes(self.dst_ip[8..16].try_into().unwrap()),
            (self.src_port as u64)
                | (self.dst_port as u64) << 16
                | (self.protocol.0 as u64) << 32
                | (self.ip_version as u64) << 40,
        ])
    }

    /// Seeded 64-bit hash of the key. The sketches derive every index from
    /// it, so keys hash alike on every worker and every tap that uses the
    /// same seed. Computed on little-endian words, so the serialized form of
    /// a sketch means the same thing on any machine. Folded 128-bit
    /// multiplies in two independent lanes (as wyhash does): a short
    /// dependency chain, since it is on the per-packet path.
    #[inline]
    pub fn hash(&self, seed: u64) -> u64 {
        self.pack().hash(seed)
    }

    pub(crate) fn to_bytes(self) -> [u8; KEY_BYTES] {
        let mut b = [0u8; KEY_BYTES];
        b[0..16].copy_from_slice(&self.src_ip);
        b[16..32].copy_from_slice(&self.dst_ip);
        b[32..34].copy_from_slice(&self.src_port.to_le_bytes());
        b[34..36].copy_from_slice(&self.dst_port.to_le_bytes());
        b[36] = self.protocol.0;
        b[37] = self.ip_version;
        b
    }

    pub(crate) fn from_bytes(b: &[u8; KEY_BYTES]) -> SketchKey {
        SketchKey {
            src_ip: b[0..16].try_into().unwrap(),
            dst_ip: b[16..32].try_into().unwrap(),
            src_port: u16::from_le_bytes([b[32], b[33]]),
            dst_port: u16::from_le_bytes([b[34], b[35]]),
            protocol: IpProtocol(b[36]),
            ip_version: b[37],
        }
    }
}

const K0: u64 = 0x9e37_79b9_7f4a_7c15;
const P0: u64 = 0xa076_1d64_78bd_642f;
const P1: u64 = 0xe703_7ed1_a0b4_28db;
const P2: u64 = 0x8ebc_6af0_9c88_c6e3;
const P3: u64 = 0x5899_65cc_7537_4cc3;
const P4: u64 = 0x1d8e_4e27_c47d_124f;

/// The 128-bit product of `a` and `b`, folded to 64 bits.
#[inline]
fn mum(a: u64, b: u64) -> u64 {
    let r = (a as u128) * (b as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

/// The splitmix64 finalizer: a bijective 64-bit mix with full avalanche.
#[inline]
pub(crate) fn mix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Hash of an address (a scan sketch's source) under `seed`.
#[inline]
pub(crate) fn hash_addr(ip: &[u8; 16], ip_version: u8, seed: u64) -> u64 {
    let a = u64::from_le_bytes(ip[0..8].try_into().unwrap());
    let b = u64::from_le_bytes(ip[8..16].try_into().unwrap());
    mum(
        mum(a ^ seed ^ P0, b ^ P1 ^ ip_version as u64) ^ P2,
        seed ^ P3,
    )
}

/// Row `i`'s multiplier of a seed: odd, from a splitmix64 sequence.
pub(crate) fn row_multiplier(seed: u64, i: usize) -> u64 {
    mix64(seed.wrapping_add((i as u64 + 1).wrapping_mul(K0))) | 1
}

/// Index in `0..width` of hash `h` for the row with multiplier `mult`:
/// multiply-shift hashing (a universal family over the 64-bit hash values)
/// to 32 bits, then Lemire's multiply-high range reduction.
#[inline]
pub(crate) fn row_index(mult: u64, h: u64, width: u64) -> usize {
    (((mult.wrapping_mul(h) >> 32) * width) >> 32) as usize
}

/// Whether a packet is a probe for scan detection, as an IDS counts them:
/// a TCP SYN without ACK, or the packet that started a flow from its
/// initiator when it is UDP or an ICMP/ICMPv6 echo request. (A UDP
/// conversation or a ping stream counts once, at its start; replies never
/// count.)
#[inline]
pub fn is_probe(m: &PacketMeta, seen: Seen) -> bool {
    match m.protocol {
        IpProtocol::TCP => m.tcp_flags & (TcpFlags::SYN | TcpFlags::ACK) == TcpFlags::SYN,
        IpProtocol::UDP => seen.new_flow && seen.c2s,
        IpProtocol::ICMP => seen.new_flow && m.icmp_type == 8,
        IpProtocol::ICMPV6 => seen.new_flow && m.icmp_type == 128,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const SYN: TcpFlags = TcpFlags::SYN;
    const ACK: TcpFlags = TcpFlags::ACK;

    fn meta() -> PacketMeta {
        let mut m = PacketMeta {
            ip_version: 4,
            protocol: IpProtocol::TCP,
            src_port: 40000,
            dst_port: 443,
            wire_len: 100,
            ..Default::default()
        };
        m.src_ip[15] = 1;
        m.dst_ip[15] = 2;
        m
    }

    #[test]
    fn keys_hold_only_their_fields() {
        let m = meta();
        let src = KeyType::Src.key(&m);
        assert_eq!(src.src_ip, m.src_ip);
        assert_eq!(src.dst_ip, [0; 16]);
        assert_eq!((src.src_port, src.dst_port, src.protocol.0), (0, 0, 0));
        let dport = KeyType::Dport.key(&m);
        assert_eq!(dport.src_ip, [0; 16]);
        assert_eq!(
            (dport.dst_port, dport.protocol.0, dport.ip_version),
            (443, 6, 0)
        );
        let ft = KeyType::FiveTuple.key(&m);
        assert_eq!((ft.src_port, ft.dst_port), (40000, 443));
        for k in KeyType::ALL {
            let key = k.key(&m);
            assert_eq!(key.src_ip != [0; 16], k.has_src_ip(), "{k:?}");
            assert_eq!(key.dst_ip != [0; 16], k.has_dst_ip(), "{k:?}");
            assert_eq!(key.src_port != 0, k.has_src_port(), "{k:?}");
            assert_eq!(key.dst_port != 0, k.has_dst_port(), "{k:?}");
            assert_eq!(KeyType::from_name(k.name()), Some(k));
            assert_eq!(KeyType::from_u8(k as u8), Some(k));
        }
    }

    #[test]
    fn packed_keys_match_built_keys() {
        let mut m = meta();
        m.src_ip = [7; 16];
        m.dst_ip = [9; 16];
        m.ip_version = 6;
        for k in KeyType::ALL {
            let key = k.key(&m);
            assert_eq!(k.pack(&m), key.pack(), "{k:?}");
            assert_eq!(k.pack(&m).unpack(), key, "{k:?}");
            assert_eq!(k.pack(&m).hash(3), key.hash(3));
        }
    }

    #[test]
    fn key_bytes_round_trip_and_hash_depends_on_every_field() {
        let k = KeyType::FiveTuple.key(&meta());
        assert_eq!(SketchKey::from_bytes(&k.to_bytes()), k);
        let h = k.hash(7);
        assert_ne!(h, k.hash(8));
        for change in 0..6 {
            let mut o = k;
            match change {
                0 => o.src_ip[3] ^= 1,
                1 => o.dst_ip[9] ^= 1,
                2 => o.src_port ^= 1,
                3 => o.dst_port ^= 1,
                4 => o.protocol.0 ^= 1,
                _ => o.ip_version ^= 2,
            }
            assert_ne!(o.hash(7), h, "field {change}");
        }
    }

    #[test]
    fn row_index_stays_in_range() {
        for w in [1u64, 2, 3, 2719, 65_536] {
            for i in 0..1000u64 {
                let h = mix64(i);
                assert!(row_index(row_multiplier(1, 0), h, w) < w as usize);
                assert!(row_index(u64::MAX, u64::MAX, w) < w as usize);
            }
        }
    }

    #[test]
    fn probes() {
        let (new, old) = (
            Seen {
                c2s: true,
                new_flow: true,
                slot: 0,
            },
            Seen {
                c2s: true,
                new_flow: false,
                slot: 0,
            },
        );
        let reply = Seen {
            c2s: false,
            new_flow: false,
            slot: 0,
        };
        let mut m = meta();
        m.tcp_flags = SYN;
        assert!(is_probe(&m, new));
        assert!(is_probe(&m, old), "a repeated SYN is still a probe");
        m.tcp_flags = SYN | ACK;
        assert!(!is_probe(&m, reply));
        m.tcp_flags = ACK;
        assert!(!is_probe(&m, old));
        m.protocol = IpProtocol::UDP;
        assert!(is_probe(&m, new));
        assert!(!is_probe(&m, old), "only a UDP flow's first packet");
        assert!(!is_probe(&m, reply));
        let mid_way = Seen {
            c2s: false,
            new_flow: true,
            slot: 0,
        };
        assert!(!is_probe(&m, mid_way), "a flow first seen from its server");
        m.protocol = IpProtocol::ICMP;
        m.icmp_type = 8;
        assert!(is_probe(&m, new));
        assert!(!is_probe(&m, old));
        m.icmp_type = 0;
        assert!(!is_probe(&m, reply));
        m.protocol = IpProtocol::ICMPV6;
        m.icmp_type = 128;
        assert!(is_probe(&m, new));
    }
}
