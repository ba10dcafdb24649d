//! The one vocabulary of packet formats: IP protocol numbers, EtherTypes,
//! TCP flags and the Internet checksum, used by the parser, the generator,
//! the probes, the sink and the tests alike.

use core::fmt;
use std::net::IpAddr;

/// An IP protocol number (IPv4 `protocol`, IPv6 `next header`), IPv6
/// extension header types included.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    /// IPv6 hop-by-hop options (an extension header).
    pub const HOP_BY_HOP: IpProtocol = IpProtocol(0);
    /// ICMP for IPv4.
    pub const ICMP: IpProtocol = IpProtocol(1);
    /// IPv4 in IP (4in4, 4in6).
    pub const IPIP: IpProtocol = IpProtocol(4);
    /// TCP.
    pub const TCP: IpProtocol = IpProtocol(6);
    /// UDP.
    pub const UDP: IpProtocol = IpProtocol(17);
    /// IPv6 in IP (6in4, 6in6).
    pub const IPV6: IpProtocol = IpProtocol(41);
    /// IPv6 routing header (an extension header).
    pub const IPV6_ROUTING: IpProtocol = IpProtocol(43);
    /// IPv6 fragment header (an extension header).
    pub const IPV6_FRAGMENT: IpProtocol = IpProtocol(44);
    /// GRE.
    pub const GRE: IpProtocol = IpProtocol(47);
    /// IPsec encapsulating security payload.
    pub const ESP: IpProtocol = IpProtocol(50);
    /// IPsec authentication header (an IPv6 extension header).
    pub const AH: IpProtocol = IpProtocol(51);
    /// ICMP for IPv6.
    pub const ICMPV6: IpProtocol = IpProtocol(58);
    /// IPv6 "no next header".
    pub const IPV6_NO_NEXT: IpProtocol = IpProtocol(59);
    /// IPv6 destination options (an extension header).
    pub const IPV6_DEST_OPTS: IpProtocol = IpProtocol(60);

    /// The protocol's name as every table and view writes it: `tcp`, `udp`,
    /// `icmp`, `icmpv6`, `gre`, `ipip`, `ipv6`, else the number.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            IpProtocol::ICMP => "icmp",
            IpProtocol::IPIP => "ipip",
            IpProtocol::TCP => "tcp",
            IpProtocol::UDP => "udp",
            IpProtocol::IPV6 => "ipv6",
            IpProtocol::GRE => "gre",
            IpProtocol::ICMPV6 => "icmpv6",
            _ => return None,
        })
    }

    /// True for ICMP and ICMPv6.
    #[inline]
    pub fn is_icmp(self) -> bool {
        self == IpProtocol::ICMP || self == IpProtocol::ICMPV6
    }

    /// True for TCP and UDP, the protocols with ports.
    #[inline]
    pub fn has_ports(self) -> bool {
        self == IpProtocol::TCP || self == IpProtocol::UDP
    }
}

impl From<u8> for IpProtocol {
    #[inline]
    fn from(p: u8) -> IpProtocol {
        IpProtocol(p)
    }
}

impl From<IpProtocol> for u8 {
    #[inline]
    fn from(p: IpProtocol) -> u8 {
        p.0
    }
}

/// The name, or the number for protocols without one (`132`).
impl fmt::Display for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

impl fmt::Debug for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IpProtocol({self})")
    }
}

/// An EtherType (also the protocol type of GRE and of Linux cooked
/// captures). Values below 0x0600 are 802.3 lengths, not types.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct EtherType(pub u16);

impl EtherType {
    /// IPv4.
    pub const IPV4: EtherType = EtherType(0x0800);
    /// ARP.
    pub const ARP: EtherType = EtherType(0x0806);
    /// Transparent Ethernet bridging (an Ethernet frame inside GRE).
    pub const TEB: EtherType = EtherType(0x6558);
    /// ERSPAN type III (inside GRE).
    pub const ERSPAN_III: EtherType = EtherType(0x22eb);
    /// 802.1Q customer VLAN tag.
    pub const VLAN: EtherType = EtherType(0x8100);
    /// IPv6.
    pub const IPV6: EtherType = EtherType(0x86dd);
    /// PPP (inside PPTP's enhanced GRE).
    pub const PPP: EtherType = EtherType(0x880b);
    /// MPLS unicast.
    pub const MPLS_UNICAST: EtherType = EtherType(0x8847);
    /// MPLS multicast.
    pub const MPLS_MULTICAST: EtherType = EtherType(0x8848);
    /// PPPoE discovery stage.
    pub const PPPOE_DISCOVERY: EtherType = EtherType(0x8863);
    /// PPPoE session stage.
    pub const PPPOE_SESSION: EtherType = EtherType(0x8864);
    /// 802.1ad service VLAN tag (QinQ outer tag).
    pub const QINQ: EtherType = EtherType(0x88a8);
    /// ERSPAN type I/II (inside GRE).
    pub const ERSPAN_II: EtherType = EtherType(0x88be);
    /// LLDP.
    pub const LLDP: EtherType = EtherType(0x88cc);
    /// Pre-standard QinQ outer tag.
    pub const QINQ_OLD: EtherType = EtherType(0x9100);

    /// True for the TPIDs that introduce a VLAN tag (802.1Q, 802.1ad and
    /// the pre-standard 0x9100).
    #[inline]
    pub fn is_vlan_tpid(self) -> bool {
        matches!(
            self,
            EtherType::VLAN | EtherType::QINQ | EtherType::QINQ_OLD
        )
    }
}

impl From<u16> for EtherType {
    #[inline]
    fn from(t: u16) -> EtherType {
        EtherType(t)
    }
}

impl From<EtherType> for u16 {
    #[inline]
    fn from(t: EtherType) -> u16 {
        t.0
    }
}

impl fmt::Debug for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EtherType({:#06x})", self.0)
    }
}

/// `0x86dd`.
impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#06x}", self.0)
    }
}

/// The flags byte of a TCP header: CWR ECE URG ACK PSH RST SYN FIN.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No flag.
    pub const NONE: TcpFlags = TcpFlags(0);
    /// No more data from the sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronise sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// The acknowledgement number is valid.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// The urgent pointer is valid.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN echo.
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion window reduced.
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// The flags byte.
    #[inline]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// True if every flag of `other` is set.
    #[inline]
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// True if any flag of `other` is set.
    #[inline]
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// True if no flag is set.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;
    #[inline]
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl core::ops::BitOrAssign for TcpFlags {
    #[inline]
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl core::ops::BitAnd for TcpFlags {
    type Output = TcpFlags;
    #[inline]
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

impl From<u8> for TcpFlags {
    #[inline]
    fn from(b: u8) -> TcpFlags {
        TcpFlags(b)
    }
}

impl From<TcpFlags> for u8 {
    #[inline]
    fn from(f: TcpFlags) -> u8 {
        f.0
    }
}

/// The set flags as tcpdump writes them (`SYN|ACK`), `-` when none.
impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 8] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
        if self.0 == 0 {
            return f.write_str("-");
        }
        let mut first = true;
        for (i, n) in NAMES.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(n)?;
                first = false;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TcpFlags({self})")
    }
}

/// One's-complement sum of `data` as 16-bit big-endian words (an odd
/// last byte padded with zero), added to `initial`, not yet folded.
#[inline]
pub fn checksum_add(initial: u32, data: &[u8]) -> u32 {
    let mut sum = initial;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

/// Folds a one's-complement sum to 16 bits and complements it: the
/// value to put in a checksum field.
#[inline]
pub fn checksum_finish(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The Internet checksum (RFC 1071) of `data`.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    checksum_finish(checksum_add(0, data))
}

/// The unfolded sum of a TCP/UDP/ICMPv6 pseudo header (RFC 9293, RFC 768,
/// RFC 8200 section 8.1) for addresses of one family: 4 or 16 bytes each.
/// Add the transport bytes with [`checksum_add`] and store
/// [`checksum_finish`] of the result.
#[inline]
pub fn pseudo_header_sum(src: &[u8], dst: &[u8], protocol: IpProtocol, len: u32) -> u32 {
    debug_assert_eq!(src.len(), dst.len(), "addresses of one family");
    let sum = checksum_add(checksum_add(0, src), dst);
    if src.len() == 4 {
        // IPv4: zero, protocol, 16-bit length.
        sum + u32::from(protocol.0) + (len & 0xffff)
    } else {
        // IPv6: 32-bit length, three zero bytes, next header.
        sum + (len >> 16) + (len & 0xffff) + u32::from(protocol.0)
    }
}

/// The source and destination of the IP header around a transport
/// packet: what its checksum's pseudo header covers. One family for both
/// ends by construction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpPair {
    /// IPv4 source and destination.
    V4 {
        /// Source address.
        src: [u8; 4],
        /// Destination address.
        dst: [u8; 4],
    },
    /// IPv6 source and destination.
    V6 {
        /// Source address.
        src: [u8; 16],
        /// Destination address.
        dst: [u8; 16],
    },
}

impl IpPair {
    /// The pair of `src` and `dst`, or `None` when their families differ.
    pub fn new(src: IpAddr, dst: IpAddr) -> Option<IpPair> {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => Some(IpPair::V4 {
                src: s.octets(),
                dst: d.octets(),
            }),
            (IpAddr::V6(s), IpAddr::V6(d)) => Some(IpPair::V6 {
                src: s.octets(),
                dst: d.octets(),
            }),
            _ => None,
        }
    }

    /// True for IPv6 addresses.
    #[inline]
    pub fn is_ipv6(&self) -> bool {
        matches!(self, IpPair::V6 { .. })
    }

    /// The same pair the other way round.
    #[inline]
    pub fn reverse(&self) -> IpPair {
        match *self {
            IpPair::V4 { src, dst } => IpPair::V4 { src: dst, dst: src },
            IpPair::V6 { src, dst } => IpPair::V6 { src: dst, dst: src },
        }
    }

    /// The unfolded pseudo-header sum for `len` bytes of `protocol`.
    #[inline]
    pub fn pseudo_header_sum(&self, protocol: IpProtocol, len: u32) -> u32 {
        match self {
            IpPair::V4 { src, dst } => pseudo_header_sum(src, dst, protocol, len),
            IpPair::V6 { src, dst } => pseudo_header_sum(src, dst, protocol, len),
        }
    }

    /// The checksum of `data` (a transport header and payload with a zero
    /// checksum field, or with the stored checksum: then 0 means valid)
    /// behind this pair's pseudo header.
    #[inline]
    pub fn transport_checksum(&self, protocol: IpProtocol, data: &[u8]) -> u16 {
        let sum = self.pseudo_header_sum(protocol, data.len() as u32);
        checksum_finish(checksum_add(sum, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_tables_names() {
        assert_eq!(IpProtocol::ICMPV6.to_string(), "icmpv6");
        assert_eq!(IpProtocol::TCP.to_string(), "tcp");
        assert_eq!(IpProtocol(132).to_string(), "132");
        assert!(IpProtocol::ICMP.is_icmp() && IpProtocol::ICMPV6.is_icmp());
    }

    #[test]
    fn checksum_of_rfc1071_example() {
        // RFC 1071 section 3: the sum of these words is 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&data), !0xddf2);
        // A header with its checksum in place sums to zero.
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let c = checksum(&hdr);
        hdr[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(checksum(&hdr), 0);
        assert_eq!(c, 0xb861);
        // Odd length: the last byte is padded.
        assert_eq!(checksum(&[0x01]), !0x0100);
        assert_eq!(checksum(&[0x12]), !0x1200);
        // Pieces of even length (and an odd last one) sum as the whole.
        let sum = checksum_add(
            checksum_add(checksum_add(0, &data[..2]), &data[2..6]),
            &data[6..],
        );
        assert_eq!(checksum_finish(sum), !0xddf2);
        let odd = [0x00, 0x01, 0xf2];
        assert_eq!(
            checksum_finish(checksum_add(checksum_add(0, &odd[..2]), &odd[2..])),
            checksum(&odd)
        );
    }

    #[test]
    fn ethertypes_and_flags() {
        assert!(EtherType::VLAN.is_vlan_tpid() && EtherType::QINQ_OLD.is_vlan_tpid());
        assert!(!EtherType::IPV4.is_vlan_tpid());
        assert_eq!(format!("{:?}", EtherType::IPV6), "EtherType(0x86dd)");
        assert_eq!(EtherType::from(0x0800), EtherType::IPV4);
        let sa = TcpFlags::SYN | TcpFlags::ACK;
        assert_eq!(sa.bits(), 0x12);
        assert!(sa.contains(TcpFlags::SYN) && !sa.contains(TcpFlags::SYN | TcpFlags::FIN));
        assert!(sa.intersects(TcpFlags::SYN | TcpFlags::FIN));
        assert_eq!(sa.to_string(), "SYN|ACK");
        assert_eq!(TcpFlags::NONE.to_string(), "-");
        assert!(TcpFlags::NONE.is_empty());
        assert!(IpProtocol::UDP.has_ports() && !IpProtocol::ICMP.has_ports());
    }

    #[test]
    fn ip_pairs() {
        let v4 = IpPair::new([10, 0, 0, 1].into(), [10, 0, 0, 2].into()).unwrap();
        assert!(!v4.is_ipv6());
        assert_eq!(v4.reverse().reverse(), v4);
        let six: IpAddr = "2001:db8::1".parse().unwrap();
        assert!(IpPair::new(six, six).unwrap().is_ipv6());
        assert_eq!(IpPair::new(six, [10, 0, 0, 1].into()), None);
        // UDP 10.0.0.1 -> 10.0.0.2 carrying nothing: header with checksum in place sums to 0.
        let mut udp = [0x30, 0x39, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00];
        let c = v4.transport_checksum(IpProtocol::UDP, &udp);
        udp[6..8].copy_from_slice(&c.to_be_bytes());
        assert_eq!(v4.transport_checksum(IpProtocol::UDP, &udp), 0);
    }

    #[test]
    fn pseudo_header_sums() {
        // IPv4: 10.0.0.1 -> 10.0.0.2, UDP, length 12.
        let v4 = pseudo_header_sum(&[10, 0, 0, 1], &[10, 0, 0, 2], IpProtocol::UDP, 12);
        let bytes = [10, 0, 0, 1, 10, 0, 0, 2, 0, 17, 0, 12];
        assert_eq!(checksum_finish(v4), checksum(&bytes));
        // IPv6: the 40-byte pseudo header written out.
        let (s, d) = ([0x20; 16], [0x01; 16]);
        let v6 = pseudo_header_sum(&s, &d, IpProtocol::ICMPV6, 0x0001_0008);
        let mut b = Vec::new();
        b.extend_from_slice(&s);
        b.extend_from_slice(&d);
        b.extend_from_slice(&0x0001_0008u32.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 58]);
        assert_eq!(checksum_finish(v6), checksum(&b));
    }
}
