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

#[cfg(test)]
mod repr_props;

pub use ethernet::Frame as EthernetFrame;
pub use gre::{ErspanHeader, Packet as GrePacket};
pub use icmp::Packet as IcmpPacket;
pub use ipv4::Packet as Ipv4Packet;
pub use ipv6::{ExtHeader as Ipv6ExtHeader, FragHeader as Ipv6FragHeader, Packet as Ipv6Packet};
pub use mpls::Label as MplsLabel;
pub use null::Header as NullHeader;
pub use pppoe::{PppHeader, Session as PppoeSession};
pub use proto::{
    checksum, checksum_add, checksum_finish, pseudo_header_sum, EtherType, IpPair, IpProtocol,
    TcpFlags,
};
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
    /// A checksum does not verify (only `Repr::parse` checks checksums).
    Checksum,
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Error::Truncated => "buffer ends inside the header",
            Error::Malformed => "invalid header field",
            Error::Checksum => "checksum does not verify",
        })
    }
}

impl std::error::Error for Error {}

/// Result of a view constructor.
pub type Result<T> = core::result::Result<T, Error>;

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
