//! One-pass frame parser: link layer → VLANs → IP (with tunnels) → L4.
//!
//! [`parse_frame`] turns the captured bytes of one frame into a flat, `Copy`
//! [`PacketMeta`] that the flow engine consumes. It never allocates and never
//! panics; a frame it cannot use yields a small `Copy` [`ParseError`] that the
//! worker counts by [`ParseError::reason`].

/// Link-layer header type of a capture (pcap `LINKTYPE_*` values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkType {
    /// LINKTYPE_ETHERNET (1).
    Ethernet,
    /// LINKTYPE_RAW (101) and DLT_RAW (12, 14): a bare IPv4 or IPv6 packet.
    RawIp,
    /// LINKTYPE_IPV4 (228).
    Ipv4,
    /// LINKTYPE_IPV6 (229).
    Ipv6,
    /// LINKTYPE_LINUX_SLL (113), Linux "cooked" capture v1.
    LinuxSll,
    /// LINKTYPE_LINUX_SLL2 (276), Linux "cooked" capture v2.
    LinuxSll2,
    /// LINKTYPE_NULL (0) and LINKTYPE_LOOP (108): BSD loopback, 4-byte family.
    Null,
}

impl LinkType {
    /// Maps a pcap/pcapng link-type number to a supported link type.
    pub fn from_linktype(v: u32) -> Option<LinkType> {
        Some(match v {
            1 => LinkType::Ethernet,
            12 | 14 | 101 => LinkType::RawIp,
            228 => LinkType::Ipv4,
            229 => LinkType::Ipv6,
            113 => LinkType::LinuxSll,
            276 => LinkType::LinuxSll2,
            0 | 108 => LinkType::Null,
            _ => return None,
        })
    }
}

/// How the flow's packets reached us: the outer encapsulation, if any.
/// Flows are always keyed by the innermost IP header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Tunnel {
    #[default]
    None = 0,
    /// IPv4 in IPv4 (IP protocol 4).
    FourInFour = 1,
    /// IPv6 in IPv4 (IP protocol 41, "6in4").
    SixInFour = 2,
    /// IPv4 in IPv6 (IP protocol 4 inside IPv6).
    FourInSix = 3,
    /// IPv6 in IPv6 (IP protocol 41 inside IPv6).
    SixInSix = 4,
    /// GRE (IP protocol 47) carrying IPv4 or IPv6.
    Gre = 5,
}

impl Tunnel {
    /// Stable lower-case name used in the Parquet tables.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Tunnel::None => None,
            Tunnel::FourInFour => Some("4in4"),
            Tunnel::SixInFour => Some("6in4"),
            Tunnel::FourInSix => Some("4in6"),
            Tunnel::SixInSix => Some("6in6"),
            Tunnel::Gre => Some("gre"),
        }
    }
}

/// Position of a packet within a fragmented IP datagram.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum Fragment {
    /// Not fragmented.
    #[default]
    None = 0,
    /// First fragment (offset 0, more fragments): carries the L4 header.
    First = 1,
    /// A later fragment (offset > 0): no L4 header, ports are 0.
    Later = 2,
}

/// TCP flag bits as in the TCP header's flags byte.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// IP protocol numbers used by the datapath.
pub mod ip_proto {
    pub const ICMP: u8 = 1;
    pub const IPIP: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    pub const IPV6: u8 = 41;
    pub const GRE: u8 = 47;
    pub const ICMPV6: u8 = 58;
}

/// Everything the flow engine needs to know about one frame.
///
/// Addresses are 16 bytes; IPv4 addresses are stored IPv4-mapped
/// (`::ffff:a.b.c.d`), so one key type serves both families.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PacketMeta {
    /// Bytes captured (may be less than `wire_len` with a snap length).
    pub cap_len: u32,
    /// Length of the frame on the wire.
    pub wire_len: u32,
    /// Ethernet source and destination (zero for link types without MACs).
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    /// Outermost 802.1Q VLAN id (0 when untagged) and the number of tags.
    pub vlan: u16,
    pub vlan_count: u8,
    /// Outer encapsulation that was removed to reach the inner IP header.
    pub tunnel: Tunnel,
    /// 4 or 6: the version of the innermost IP header.
    pub ip_version: u8,
    /// Innermost IP source and destination (IPv4-mapped for IPv4).
    pub src_ip: [u8; 16],
    pub dst_ip: [u8; 16],
    /// IPv4 TTL or IPv6 hop limit of the innermost header.
    pub ttl: u8,
    /// IPv4 identification, or the IPv6 fragment header's identification.
    pub ip_id: u32,
    pub fragment: Fragment,
    /// Final L4 protocol number (after IPv6 extension headers).
    pub protocol: u8,
    /// TCP/UDP ports; 0 for other protocols and for later fragments.
    pub src_port: u16,
    pub dst_port: u16,
    /// ICMP/ICMPv6 type and code, and the echo identifier for echo
    /// request/reply (0 otherwise).
    pub icmp_type: u8,
    pub icmp_code: u8,
    pub icmp_echo_id: u16,
    /// TCP header fields (zero for non-TCP).
    pub tcp_seq: u32,
    pub tcp_ack: u32,
    pub tcp_flags: u8,
    pub tcp_window: u16,
    /// TCP options seen on this segment: MSS (0 = absent), window scale
    /// (0xff = absent), SACK permitted.
    pub tcp_mss: u16,
    pub tcp_wscale: u8,
    pub tcp_sack_permitted: bool,
    /// Offset of the L4 header and of the L4 payload in the captured bytes.
    pub l4_offset: u16,
    pub payload_offset: u16,
    /// L4 payload length according to the IP header (not the capture), so
    /// it is right for snap-length-truncated frames.
    pub payload_len: u16,
}

impl PacketMeta {
    /// True if this is a TCP segment with all of `flags` set.
    #[inline]
    pub fn has_tcp_flags(&self, flags: u8) -> bool {
        self.protocol == ip_proto::TCP && self.tcp_flags & flags == flags
    }
}

/// The protocol layer at which parsing stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Layer {
    Link = 0,
    Vlan = 1,
    Ipv4 = 2,
    Ipv6 = 3,
    Tcp = 4,
    Udp = 5,
    Icmp = 6,
    Tunnel = 7,
}

/// Why a frame yields no [`PacketMeta`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParseError {
    /// The captured bytes end inside a header of this layer.
    Truncated(Layer),
    /// A header field of this layer is invalid (bad version, header length
    /// smaller than the minimum, total length smaller than the header, ...).
    Malformed(Layer),
    /// A well-formed frame that is not IP (ARP, LLDP, STP, ...): not an
    /// error, but not a flow either.
    NonIp,
    /// The capture's link type is not supported.
    UnsupportedLink,
}

/// Number of distinct [`ParseError::reason`] indices.
pub const PARSE_REASONS: usize = 19;

impl ParseError {
    /// Dense index for per-reason counters, `0..PARSE_REASONS`.
    #[inline]
    pub fn reason(self) -> usize {
        match self {
            ParseError::Truncated(l) => l as usize,
            ParseError::Malformed(l) => 8 + l as usize,
            ParseError::NonIp => 16,
            ParseError::UnsupportedLink => 17,
        }
    }

    /// Stable name of a reason index, as used in counters and tables.
    pub fn reason_name(index: usize) -> &'static str {
        const NAMES: [&str; PARSE_REASONS] = [
            "truncated_link",
            "truncated_vlan",
            "truncated_ipv4",
            "truncated_ipv6",
            "truncated_tcp",
            "truncated_udp",
            "truncated_icmp",
            "truncated_tunnel",
            "malformed_link",
            "malformed_vlan",
            "malformed_ipv4",
            "malformed_ipv6",
            "malformed_tcp",
            "malformed_udp",
            "malformed_icmp",
            "malformed_tunnel",
            "non_ip",
            "unsupported_link",
            "other",
        ];
        NAMES.get(index).copied().unwrap_or("other")
    }
}

/// Parses one captured frame. `wire_len` is the frame's length on the wire
/// (pcap `orig_len`), which may exceed `frame.len()`.
pub fn parse_frame(link: LinkType, frame: &[u8], wire_len: u32) -> Result<PacketMeta, ParseError> {
    let _ = (link, frame, wire_len);
    todo!("implemented in wire parsers")
}
