//! What a counter adds per packet ([`Increment`]) and which packets it
//! counts ([`ProtoFilter`], [`Direction`]).

use crate::wire::IpProtocol;

/// What a counter adds per packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Increment {
    /// One per packet.
    Packets = 0,
    /// The frame's length on the wire.
    Bytes = 1,
}

impl Increment {
    /// Stable name used in configuration and tables: `packets` or `bytes`.
    pub fn name(self) -> &'static str {
        match self {
            Increment::Packets => "packets",
            Increment::Bytes => "bytes",
        }
    }

    /// The increment named `s` (as written by [`Increment::name`]), if any.
    pub fn from_name(s: &str) -> Option<Increment> {
        [Increment::Packets, Increment::Bytes]
            .into_iter()
            .find(|i| i.name() == s)
    }

    pub(crate) fn from_u8(v: u8) -> Option<Increment> {
        [Increment::Packets, Increment::Bytes]
            .get(v as usize)
            .copied()
    }
}

/// Which packets a counter sees, by IP protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum ProtoFilter {
    /// Every packet.
    Any = 0,
    /// TCP only.
    Tcp = 1,
    /// UDP only.
    Udp = 2,
    /// ICMP and ICMPv6.
    Icmp = 3,
}

impl ProtoFilter {
    const ALL: [ProtoFilter; 4] = [
        ProtoFilter::Any,
        ProtoFilter::Tcp,
        ProtoFilter::Udp,
        ProtoFilter::Icmp,
    ];

    /// Stable name used in configuration and tables: `any`, `tcp`, `udp` or
    /// `icmp`.
    pub fn name(self) -> &'static str {
        match self {
            ProtoFilter::Any => "any",
            ProtoFilter::Tcp => "tcp",
            ProtoFilter::Udp => "udp",
            ProtoFilter::Icmp => "icmp",
        }
    }

    /// The filter named `s` (as written by [`ProtoFilter::name`]), if any.
    pub fn from_name(s: &str) -> Option<ProtoFilter> {
        ProtoFilter::ALL.into_iter().find(|p| p.name() == s)
    }

    pub(crate) fn from_u8(v: u8) -> Option<ProtoFilter> {
        ProtoFilter::ALL.get(v as usize).copied()
    }

    /// True when a packet of `protocol` passes the filter.
    #[inline]
    pub fn matches(self, protocol: IpProtocol) -> bool {
        match self {
            ProtoFilter::Any => true,
            ProtoFilter::Tcp => protocol == IpProtocol::TCP,
            ProtoFilter::Udp => protocol == IpProtocol::UDP,
            ProtoFilter::Icmp => protocol.is_icmp(),
        }
    }
}

/// Which packets a counter sees, by direction within their flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Direction {
    /// Both directions.
    Any = 0,
    /// From the flow's client (its initiator) to its server.
    ClientToServer = 1,
    /// From the server to the client.
    ServerToClient = 2,
}

impl Direction {
    const ALL: [Direction; 3] = [
        Direction::Any,
        Direction::ClientToServer,
        Direction::ServerToClient,
    ];

    /// `any`, `c2s` or `s2c` (as the `c2s_`/`s2c_` columns of `flows`).
    pub fn name(self) -> &'static str {
        match self {
            Direction::Any => "any",
            Direction::ClientToServer => "c2s",
            Direction::ServerToClient => "s2c",
        }
    }

    /// The direction named `s` (as written by [`Direction::name`]), if any.
    pub fn from_name(s: &str) -> Option<Direction> {
        Direction::ALL.into_iter().find(|d| d.name() == s)
    }

    pub(crate) fn from_u8(v: u8) -> Option<Direction> {
        Direction::ALL.get(v as usize).copied()
    }

    /// True when a packet passes the filter; `c2s` is true for a packet from
    /// the client to the server.
    #[inline]
    pub fn matches(self, c2s: bool) -> bool {
        match self {
            Direction::Any => true,
            Direction::ClientToServer => c2s,
            Direction::ServerToClient => !c2s,
        }
    }
}
