//! The one vocabulary of packet formats: IP protocol numbers, EtherTypes,
//! TCP flags and the Internet checksum, used by the parser, the generator,
//! the probes, the sink and the tests alike.

use core::fmt;

/// An IP protocol number (IPv4 `protocol`, IPv6 `next header`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
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
    /// GRE.
    pub const GRE: IpProtocol = IpProtocol(47);
    /// ICMP for IPv6.
    pub const ICMPV6: IpProtocol = IpProtocol(58);

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
    }
}
