//! Zero-copy views of the protocol headers the datapath reads, in the style of
//! smoltcp's `wire` module.
//!
//! Each protocol has a `Packet<T: AsRef<[u8]>>` (or `Frame`, `Header`, `Tag`)
//! view over borrowed bytes, with a private `field` module of byte ranges and
//! `#[inline]` getters. `new_checked` validates the buffer length (and the few
//! fields a getter depends on) **once**; after that every getter is in bounds
//! by construction and, once inlined, compiles to plain loads without bounds
//! checks. `new_unchecked` skips the validation: getters then panic on a short
//! buffer, so the parser only ever uses `new_checked`.
//!
//! Views never copy and never allocate. Only fixed headers are decoded here;
//! walking a header chain (VLAN tags, IPv6 extension headers, tunnels) is the
//! job of [`crate::parse::parse_frame`].
//!
//! Views:
//!
//! | module | view | what |
//! |---|---|---|
//! | [`ethernet`] | [`EthernetFrame`] | Ethernet II header |
//! | [`vlan`] | [`VlanTag`] | 802.1Q / 802.1ad tag (after the TPID) |
//! | [`sll`] | [`SllHeader`], [`Sll2Header`] | Linux cooked capture v1/v2 |
//! | [`null`] | [`NullHeader`] | BSD loopback (DLT_NULL / DLT_LOOP) |
//! | [`pppoe`] | [`PppoeSession`], [`PppHeader`] | PPPoE session stage, PPP |
//! | [`mpls`] | [`MplsLabel`] | one MPLS label stack entry |
//! | [`ipv4`] | [`Ipv4Packet`] | IPv4 with options and fragments |
//! | [`ipv6`] | [`Ipv6Packet`], [`Ipv6ExtHeader`], [`Ipv6FragHeader`] | IPv6 and its extension headers |
//! | [`gre`] | [`GrePacket`], [`ErspanHeader`] | GRE (RFC 2784/2890, PPTP enhanced GRE), ERSPAN |
//! | [`tcp`] | [`TcpPacket`], [`TcpSynOptions`] | TCP |
//! | [`udp`] | [`UdpPacket`] | UDP |
//! | [`icmp`] | [`IcmpPacket`] | ICMP and ICMPv6 |

use core::ops::{Range, RangeFrom};

pub mod ethernet;
pub mod gre;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod mpls;
pub mod null;
pub mod pppoe;
pub mod proto;
pub mod sll;
pub mod tcp;
pub mod udp;
pub mod vlan;

pub use ethernet::Frame as EthernetFrame;
pub use gre::{ErspanHeader, Packet as GrePacket};
pub use icmp::Packet as IcmpPacket;
pub use ipv4::Packet as Ipv4Packet;
pub use ipv6::{ExtHeader as Ipv6ExtHeader, FragHeader as Ipv6FragHeader, Packet as Ipv6Packet};
pub use mpls::Label as MplsLabel;
pub use null::Header as NullHeader;
pub use pppoe::{PppHeader, Session as PppoeSession};
pub use proto::{checksum, IpProtocol};
pub use sll::{Header as SllHeader, Header2 as Sll2Header};
pub use tcp::{Packet as TcpPacket, SynOptions as TcpSynOptions};
pub use udp::Packet as UdpPacket;
pub use vlan::Tag as VlanTag;

/// A byte range of a fixed-size header field.
pub(crate) type Field = Range<usize>;
/// The bytes from an offset to the end of the buffer.
pub(crate) type Rest = RangeFrom<usize>;

/// Why a view could not be created over a buffer. Small and `Copy`: the
/// parser maps it to a [`crate::parse::ParseError`] naming the layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer ends inside the header.
    Truncated,
    /// A header field is invalid (wrong version, length below the minimum).
    Malformed,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::Truncated => "buffer ends inside the header",
            Error::Malformed => "invalid header field",
        })
    }
}

impl std::error::Error for Error {}

/// Result of a view constructor.
pub type Result<T> = core::result::Result<T, Error>;

/// EtherType values (also GRE protocol types, SLL protocol values).
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    /// Transparent Ethernet bridging (an Ethernet frame inside GRE).
    pub const TEB: u16 = 0x6558;
    /// ERSPAN type III (inside GRE).
    pub const ERSPAN_III: u16 = 0x22eb;
    /// 802.1Q customer VLAN tag.
    pub const VLAN: u16 = 0x8100;
    pub const IPV6: u16 = 0x86dd;
    /// PPP (inside PPTP's enhanced GRE).
    pub const PPP: u16 = 0x880b;
    pub const MPLS_UNICAST: u16 = 0x8847;
    pub const MPLS_MULTICAST: u16 = 0x8848;
    pub const PPPOE_DISCOVERY: u16 = 0x8863;
    pub const PPPOE_SESSION: u16 = 0x8864;
    /// 802.1ad service VLAN tag (QinQ outer tag).
    pub const QINQ: u16 = 0x88a8;
    /// ERSPAN type I/II (inside GRE).
    pub const ERSPAN_II: u16 = 0x88be;
    pub const LLDP: u16 = 0x88cc;
    /// Pre-standard QinQ outer tag.
    pub const QINQ_OLD: u16 = 0x9100;
}

/// IP protocol numbers and IPv6 extension header types.
pub mod ip_protocol {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ICMP: u8 = 1;
    pub const IPIP: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6: u8 = 41;
    pub const IPV6_ROUTING: u8 = 43;
    pub const IPV6_FRAGMENT: u8 = 44;
    pub const GRE: u8 = 47;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const IPV6_NO_NEXT: u8 = 59;
    pub const IPV6_DEST_OPTS: u8 = 60;
}

/// Reads a big-endian `u16` from the first two bytes of `b`.
#[inline(always)]
pub(crate) fn be_u16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

/// Reads a big-endian `u32` from the first four bytes of `b`.
#[inline(always)]
pub(crate) fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Copies a fixed-size field out of `b`.
#[inline(always)]
pub(crate) fn array<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[..N]);
    a
}
