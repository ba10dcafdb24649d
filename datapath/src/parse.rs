//! One-pass frame parser: link layer → VLANs → IP (with tunnels) → L4.
//!
//! [`parse_frame`] turns the captured bytes of one frame into a flat, `Copy`
//! [`PacketMeta`] that the flow engine consumes. It never allocates and never
//! panics; a frame it cannot use yields a small `Copy` [`ParseError`] that the
//! worker counts by [`ParseError::reason`].

use crate::wire::{
    self, ethernet, icmp, ipv6, mpls, null,
    pppoe::{self, ppp_protocol},
    sll, tcp, udp, vlan, ErspanHeader, EthernetFrame, GrePacket, IcmpPacket, Ipv4Packet,
    Ipv6ExtHeader, Ipv6FragHeader, Ipv6Packet, MplsLabel, NullHeader, PppHeader, PppoeSession,
    Sll2Header, SllHeader, TcpPacket, UdpPacket, VlanTag,
};
use crate::wire::{EtherType, IpProtocol, TcpFlags};

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
    /// Not tunnelled: the flow's IP header is the outermost one.
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
    /// GRE (IP protocol 47) carrying IPv4 or IPv6, directly or through
    /// transparent Ethernet bridging, ERSPAN, PPTP's PPP or MPLS.
    Gre = 5,
    /// GTPv1-U (UDP port 2152) carrying IPv4 or IPv6: mobile backhaul.
    Gtp = 6,
    /// VXLAN (UDP port 4789) carrying Ethernet.
    Vxlan = 7,
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
            Tunnel::Gtp => Some("gtp"),
            Tunnel::Vxlan => Some("vxlan"),
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
    /// Ethernet source of the innermost Ethernet header (the mirrored frame for
    /// ERSPAN and bridged GRE); zero for link types without MACs.
    pub src_mac: [u8; 6],
    /// Ethernet destination of the same header; zero for link types without
    /// MACs and for Linux cooked captures, which give only the source.
    pub dst_mac: [u8; 6],
    /// Outermost 802.1Q VLAN id (0 when untagged).
    pub vlan: u16,
    /// Number of VLAN tags on the frame (0 when untagged).
    pub vlan_count: u8,
    /// Outer encapsulation that was removed to reach the inner IP header.
    pub tunnel: Tunnel,
    /// 4 or 6: the version of the innermost IP header.
    pub ip_version: u8,
    /// Innermost IP source (IPv4-mapped for IPv4).
    pub src_ip: [u8; 16],
    /// Innermost IP destination (IPv4-mapped for IPv4).
    pub dst_ip: [u8; 16],
    /// IPv4 TTL or IPv6 hop limit of the innermost header.
    pub ttl: u8,
    /// IPv4 identification, or the IPv6 fragment header's identification.
    pub ip_id: u32,
    /// Where the packet sits in a fragmented datagram (not fragmented for
    /// most).
    pub fragment: Fragment,
    /// Final L4 protocol number (after IPv6 extension headers).
    pub protocol: IpProtocol,
    /// TCP/UDP source port; 0 for other protocols and for later fragments.
    pub src_port: u16,
    /// TCP/UDP destination port; 0 for other protocols and for later fragments.
    pub dst_port: u16,
    /// ICMP/ICMPv6 type (0 for other protocols).
    pub icmp_type: u8,
    /// ICMP/ICMPv6 code (0 for other protocols).
    pub icmp_code: u8,
    /// Echo identifier of an ICMP/ICMPv6 echo request or reply (0 otherwise).
    pub icmp_echo_id: u16,
    /// TCP sequence number (0 for non-TCP).
    pub tcp_seq: u32,
    /// TCP acknowledgement number (0 for non-TCP).
    pub tcp_ack: u32,
    /// TCP flags (empty for non-TCP).
    pub tcp_flags: TcpFlags,
    /// TCP receive window as sent, unscaled (0 for non-TCP).
    pub tcp_window: u16,
    /// TCP MSS option of this segment (0 = absent).
    pub tcp_mss: u16,
    /// TCP window scale option of this segment (0xff = absent).
    pub tcp_wscale: u8,
    /// True when this segment carries the TCP SACK-permitted option.
    pub tcp_sack_permitted: bool,
    /// Offset of the L4 header in the captured bytes (equal to `payload_offset`
    /// when no L4 header was read: other protocols, later fragments). Only the
    /// first 64 KiB of a frame are parsed, so it always fits.
    pub l4_offset: u16,
    /// Offset of the L4 payload in the captured bytes (`l4_offset <=
    /// payload_offset <= cap_len`).
    pub payload_offset: u16,
    /// L4 payload length according to the IP header (not the capture), so
    /// it is right for snap-length-truncated frames.
    pub payload_len: u16,
}

impl PacketMeta {
    /// True if this is a TCP segment with all of `flags` set.
    #[inline]
    pub fn has_tcp_flags(&self, flags: TcpFlags) -> bool {
        self.protocol == IpProtocol::TCP && self.tcp_flags.contains(flags)
    }
}

/// The protocol layer at which parsing stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Layer {
    /// The link layer: Ethernet, Linux cooked (SLL/SLL2), BSD loopback, PPPoE
    /// or an MPLS label stack.
    Link = 0,
    /// An 802.1Q/802.1ad VLAN tag.
    Vlan = 1,
    /// The IPv4 header.
    Ipv4 = 2,
    /// The IPv6 header and its extension headers.
    Ipv6 = 3,
    /// The TCP header.
    Tcp = 4,
    /// The UDP header.
    Udp = 5,
    /// The ICMP or ICMPv6 header.
    Icmp = 6,
    /// A tunnel header (GRE, ERSPAN, PPP), or tunnels nested too deep.
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
///
/// One pass, front to back, filling [`PacketMeta`] as it goes:
/// - link layer ([`LinkType`]), then any number of 802.1Q/802.1ad tags
///   (0x8100, 0x88a8, 0x9100), PPPoE session (0x8864) or an MPLS label
///   stack (0x8847);
/// - IPv4 (options skipped) or IPv6 (hop-by-hop, routing, fragment,
///   destination options and AH headers walked; ESP and no-next-header end
///   the walk);
/// - tunnels: IP-in-IP (protocols 4 and 41, in IPv4 or IPv6) and GRE
///   (IPv4, IPv6, transparent Ethernet bridging, ERSPAN II/III, PPTP's PPP,
///   MPLS) are removed, at most [`MAX_TUNNELS`] deep; the flow fields come
///   from the innermost IP header and `tunnel` names the outermost
///   encapsulation. A GRE packet whose payload is not IP is kept as an IP
///   packet of protocol 47;
/// - TCP, UDP, ICMP (in IPv4) and ICMPv6 (in IPv6); other protocols keep
///   ports 0. A later fragment (offset > 0) stops before L4.
///
/// MAC addresses are those of the innermost Ethernet header (the mirrored
/// frame for ERSPAN and bridged GRE); a Linux cooked capture of an Ethernet
/// interface gives the sender's MAC as `src_mac`.
///
/// Lengths: a capture shorter than the IP header's length (snap length) is
/// fine, bytes past it (Ethernet padding) are ignored, and `payload_len`
/// follows the IP header. An IPv4 total length of 0 or an IPv6 payload
/// length of 0 means "the rest of the capture" (segmentation offload
/// captures, jumbograms), as in Wireshark. A header cut by the capture is
/// `Truncated`; a header that does not fit in the length its IP header
/// gives it is `Malformed`.
///
/// Never panics, never allocates, and every loop consumes bytes, so it ends.
#[inline]
pub fn parse_frame(link: LinkType, frame: &[u8], wire_len: u32) -> Result<PacketMeta, ParseError> {
    let mut m = PacketMeta::default();
    parse_frame_into(link, frame, wire_len, &mut m)?;
    Ok(m)
}

/// [`parse_frame`] writing into `m` (every field is overwritten), for a
/// caller that keeps one `PacketMeta` per batch: saves copying the result.
/// On error `m` holds partial data.
#[inline]
pub fn parse_frame_into(
    link: LinkType,
    frame: &[u8],
    wire_len: u32,
    m: &mut PacketMeta,
) -> Result<(), ParseError> {
    *m = PacketMeta {
        cap_len: u32::try_from(frame.len()).unwrap_or(u32::MAX),
        wire_len,
        tcp_wscale: 0xff,
        ..PacketMeta::default()
    };
    // Headers lie in the first 64 KiB; parsing only those bytes keeps every
    // offset and length below in `u16` range by construction (longer frames
    // only come from GRO/TSO host captures, and their lengths saturate).
    let frame = frame.get(..u16::MAX as usize).unwrap_or(frame);
    parse_into(m, link, frame)
}

#[inline(always)]
fn parse_into(m: &mut PacketMeta, link: LinkType, frame: &[u8]) -> Result<(), ParseError> {
    let (version, off) = match link {
        LinkType::Ethernet => {
            let eth = EthernetFrame::new_checked(frame).map_err(|e| err(e, Layer::Link))?;
            m.dst_mac = eth.dst_addr();
            m.src_mac = eth.src_addr();
            parse_ethertype(m, frame, eth.ethertype(), ethernet::HEADER_LEN)?
        }
        LinkType::LinuxSll => {
            let h = SllHeader::new_checked(frame).map_err(|e| err(e, Layer::Link))?;
            if let Some(mac) = h.src_mac() {
                m.src_mac = mac;
            }
            parse_ethertype(m, frame, h.protocol(), sll::HEADER_LEN)?
        }
        LinkType::LinuxSll2 => {
            let h = Sll2Header::new_checked(frame).map_err(|e| err(e, Layer::Link))?;
            if let Some(mac) = h.src_mac() {
                m.src_mac = mac;
            }
            parse_ethertype(m, frame, h.protocol(), sll::HEADER2_LEN)?
        }
        LinkType::Null => {
            let h = NullHeader::new_checked(frame).map_err(|e| err(e, Layer::Link))?;
            (h.ip_version().ok_or(ParseError::NonIp)?, null::HEADER_LEN)
        }
        LinkType::RawIp => match frame.first().map(|b| b >> 4) {
            Some(4) => (4, 0),
            Some(6) => (6, 0),
            Some(_) => return Err(ParseError::Malformed(Layer::Link)),
            None => return Err(ParseError::Truncated(Layer::Link)),
        },
        LinkType::Ipv4 => (4, 0),
        LinkType::Ipv6 => (6, 0),
    };
    parse_ip(m, frame, version, off)
}

/// How many encapsulations [`parse_frame`] removes; a deeper one is
/// `Malformed(Tunnel)`.
pub const MAX_TUNNELS: u8 = 3;

#[inline(always)]
fn err(e: wire::Error, layer: Layer) -> ParseError {
    match e {
        wire::Error::Truncated => ParseError::Truncated(layer),
        wire::Error::Malformed | wire::Error::Checksum => ParseError::Malformed(layer),
    }
}

/// An L4 header that is cut short: by the capture (`Truncated`), or by the
/// IP header's own length (`Malformed`), except in a first fragment, where
/// the header may continue in the next fragment: that is kept as an IP
/// packet without L4 fields.
#[cold]
fn l4_cut(
    m: &mut PacketMeta,
    e: wire::Error,
    layer: Layer,
    need: usize,
    off: usize,
    ip_payload: usize,
) -> Result<(), ParseError> {
    match e {
        wire::Error::Truncated if need <= ip_payload => Err(ParseError::Truncated(layer)),
        wire::Error::Truncated if m.fragment == Fragment::First => {
            no_l4(m, off, ip_payload);
            Ok(())
        }
        _ => Err(ParseError::Malformed(layer)),
    }
}

/// The bytes from `off` on (empty past the end).
#[inline(always)]
fn tail(data: &[u8], off: usize) -> &[u8] {
    data.get(off..).unwrap_or(&[])
}

/// An offset or length within the (at most 64 KiB) parsed bytes; see
/// [`parse_frame_into`].
#[inline(always)]
fn u16_of(v: usize) -> u16 {
    debug_assert!(v <= u16::MAX as usize, "{v}");
    v as u16
}

#[inline(always)]
/// The IPv4-mapped IPv6 form of an IPv4 address (how flows store IPv4).
pub fn v4_mapped(a: [u8; 4]) -> [u8; 16] {
    let mut m = [0u8; 16];
    m[10] = 0xff;
    m[11] = 0xff;
    m[12..].copy_from_slice(&a);
    m
}

/// From an EtherType at `off`: VLAN tags, PPPoE, MPLS, until IP. Returns the
/// IP version and the offset of the IP header.
#[inline(always)]
fn parse_ethertype(
    m: &mut PacketMeta,
    data: &[u8],
    mut et: EtherType,
    mut off: usize,
) -> Result<(u8, usize), ParseError> {
    // Untagged IPv4 first: one compare on the common path.
    if et == EtherType::IPV4 {
        return Ok((4, off));
    }
    loop {
        match et {
            EtherType::IPV4 => return Ok((4, off)),
            EtherType::IPV6 => return Ok((6, off)),
            EtherType::VLAN | EtherType::QINQ | EtherType::QINQ_OLD => {
                let tag = VlanTag::new_checked(tail(data, off)).map_err(|e| err(e, Layer::Vlan))?;
                if m.vlan_count == 0 {
                    m.vlan = tag.vid();
                }
                m.vlan_count = m.vlan_count.saturating_add(1);
                et = tag.ethertype();
                off += vlan::HEADER_LEN;
            }
            EtherType::PPPOE_SESSION => return parse_pppoe(data, off),
            EtherType::MPLS_UNICAST => return parse_mpls(data, off),
            _ => return Err(ParseError::NonIp),
        }
    }
}

#[inline(never)]
fn parse_pppoe(data: &[u8], off: usize) -> Result<(u8, usize), ParseError> {
    let s = PppoeSession::new_checked(tail(data, off)).map_err(|e| err(e, Layer::Link))?;
    let off = off + pppoe::HEADER_LEN;
    match s.ppp_protocol() {
        ppp_protocol::IPV4 => Ok((4, off)),
        ppp_protocol::IPV6 => Ok((6, off)),
        _ => Err(ParseError::NonIp),
    }
}

/// Skips MPLS labels to the bottom of the stack; the payload is IP if its
/// version nibble says so.
#[inline(never)]
fn parse_mpls(data: &[u8], mut off: usize) -> Result<(u8, usize), ParseError> {
    loop {
        let label = MplsLabel::new_checked(tail(data, off)).map_err(|e| err(e, Layer::Link))?;
        off += mpls::HEADER_LEN;
        if label.bottom_of_stack() {
            break;
        }
    }
    match data.get(off).map(|b| b >> 4) {
        Some(4) => Ok((4, off)),
        Some(6) => Ok((6, off)),
        Some(_) => Err(ParseError::NonIp),
        None => Err(ParseError::Truncated(Layer::Link)),
    }
}

/// IP header at `off` (of `version`), tunnels, then L4.
#[inline(always)]
fn parse_ip(
    m: &mut PacketMeta,
    frame: &[u8],
    mut version: u8,
    mut off: usize,
) -> Result<(), ParseError> {
    // `data` ends where the current IP packet ends (padding cut off).
    let mut data = frame;
    let mut tunnels = 0u8;
    loop {
        let (l4, ip_payload) = if version == 4 {
            parse_ipv4(m, &mut data, off)?
        } else {
            parse_ipv6(m, &mut data, off)?
        };
        if m.fragment == Fragment::Later {
            no_l4(m, l4, ip_payload);
            return Ok(());
        }
        if m.protocol == IpProtocol::TCP {
            return parse_tcp(m, data, l4, ip_payload);
        }
        let kind = match (m.protocol, version) {
            (IpProtocol::UDP, _) => {
                parse_udp(m, data, l4, ip_payload)?;
                if tunnels < MAX_TUNNELS && m.fragment == Fragment::None {
                    if let Some((kind, v, o)) = udp_tunnel(m, data) {
                        (version, off) = (v, o);
                        tunnels += 1;
                        if m.tunnel == Tunnel::None {
                            m.tunnel = kind;
                        }
                        (m.src_port, m.dst_port) = (0, 0);
                        continue;
                    }
                }
                return Ok(());
            }
            (IpProtocol::ICMP, 4) | (IpProtocol::ICMPV6, 6) => {
                return parse_icmp(m, data, l4, ip_payload, version)
            }
            (IpProtocol::IPIP, 4) => Tunnel::FourInFour,
            (IpProtocol::IPV6, 4) => Tunnel::SixInFour,
            (IpProtocol::IPIP, _) => Tunnel::FourInSix,
            (IpProtocol::IPV6, _) => Tunnel::SixInSix,
            (IpProtocol::GRE, _) => Tunnel::Gre,
            _ => {
                no_l4(m, l4, ip_payload);
                return Ok(());
            }
        };
        if tunnels == MAX_TUNNELS {
            return Err(ParseError::Malformed(Layer::Tunnel));
        }
        (version, off) = match kind {
            Tunnel::FourInFour | Tunnel::FourInSix => (4, l4),
            Tunnel::SixInFour | Tunnel::SixInSix => (6, l4),
            _ => match parse_gre(m, data, l4)? {
                Some(inner) => inner,
                None => {
                    no_l4(m, l4, ip_payload);
                    return Ok(());
                }
            },
        };
        tunnels += 1;
        if m.tunnel == Tunnel::None {
            m.tunnel = kind;
        }
    }
}

/// UDP port of GTP-U (3GPP TS 29.281) and of VXLAN (RFC 7348).
const GTPU_PORT: u16 = 2152;
const VXLAN_PORT: u16 = 4789;

/// A tunnel carried in the UDP payload: a GTPv1-U T-PDU (mobile backhaul)
/// holding IP, or VXLAN holding Ethernet. Returns the tunnel and where its
/// inner IP header starts, or `None` (the packet stays plain UDP) when the
/// payload is not such a tunnel.
#[inline(never)]
fn udp_tunnel(m: &mut PacketMeta, data: &[u8]) -> Option<(Tunnel, u8, usize)> {
    let p = m.payload_offset as usize;
    let b = tail(data, p);
    if m.dst_port == GTPU_PORT || m.src_port == GTPU_PORT {
        // Version 1, protocol type GTP, message type 255 (T-PDU).
        let flags = *b.first()?;
        if flags >> 5 != 1 || flags & 0x10 == 0 || *b.get(1)? != 0xff {
            return None;
        }
        let mut off = 8;
        if flags & 0x07 != 0 {
            // Sequence number, N-PDU number and next extension type follow.
            let mut next = *b.get(11)?;
            off = 12;
            if flags & 0x04 != 0 {
                while next != 0 {
                    let len = *b.get(off)? as usize * 4;
                    if len == 0 {
                        return None;
                    }
                    next = *b.get(off + len - 1)?;
                    off += len;
                }
            }
        }
        return match b.get(off)? >> 4 {
            v @ (4 | 6) => Some((Tunnel::Gtp, v, p + off)),
            _ => None,
        };
    }
    if m.dst_port == VXLAN_PORT {
        // Flags with the I bit (a valid VNI), then reserved bits and the VNI.
        if b.len() < 8 || b[0] & 0x08 == 0 {
            return None;
        }
        let saved = (m.vlan, m.vlan_count);
        return match parse_inner_ethernet(m, data, p + 8) {
            Ok((v, o)) => Some((Tunnel::Vxlan, v, o)),
            Err(_) => {
                (m.vlan, m.vlan_count) = saved;
                None
            }
        };
    }
    None
}

/// IPv4 header at `off`: fills the IP fields, cuts `data` to the packet's
/// end, returns the L4 offset and the payload length per the header.
#[inline(always)]
fn parse_ipv4(
    m: &mut PacketMeta,
    data: &mut &[u8],
    off: usize,
) -> Result<(usize, usize), ParseError> {
    let buf = tail(data, off);
    let ip = Ipv4Packet::new_checked(buf).map_err(|e| err(e, Layer::Ipv4))?;
    // Inside a fragment of an outer packet, an inner packet may go on in
    // the next fragments: only an unfragmented path must fit the wire.
    let whole = m.fragment == Fragment::None;
    m.ip_version = 4;
    m.src_ip = v4_mapped(ip.src_addr());
    m.dst_ip = v4_mapped(ip.dst_addr());
    m.ttl = ip.ttl();
    m.ip_id = ip.ident() as u32;
    m.protocol = ip.protocol();
    if ip.is_fragment() {
        m.fragment = if ip.frag_offset() != 0 {
            Fragment::Later
        } else {
            Fragment::First
        };
    }
    // The view's captured_len() and payload_len(), computed together.
    let hl = ip.header_len();
    let avail = buf.len();
    let (len, payload) = match ip.total_len() as usize {
        0 => (avail, avail - hl),
        // Longer than the frame on the wire: not a snap-length cut but a
        // lying header (tshark: "total length exceeds packet length").
        total if whole && off + total > m.wire_len as usize => {
            return Err(ParseError::Malformed(Layer::Ipv4))
        }
        total => (total.min(avail), total - hl),
    };
    *data = data.get(..off + len).unwrap_or(data);
    Ok((off + hl, payload))
}

/// IPv6 header at `off` and its extension headers: fills the IP fields,
/// cuts `data` to the packet's end, returns the L4 offset and the L4
/// payload length per the header.
#[inline(always)]
fn parse_ipv6(
    m: &mut PacketMeta,
    data: &mut &[u8],
    off: usize,
) -> Result<(usize, usize), ParseError> {
    let ip = Ipv6Packet::new_checked(tail(data, off)).map_err(|e| err(e, Layer::Ipv6))?;
    let whole = m.fragment == Fragment::None;
    m.ip_version = 6;
    m.src_ip = ip.src_addr();
    m.dst_ip = ip.dst_addr();
    m.ttl = ip.hop_limit();
    m.ip_id = 0;
    let captured = ip.captured_len();
    let mut payload = match ip.payload_len() {
        0 => captured - ipv6::HEADER_LEN,
        n if whole && off + ipv6::HEADER_LEN + n as usize > m.wire_len as usize => {
            return Err(ParseError::Malformed(Layer::Ipv6))
        }
        n => n as usize,
    };
    let mut next = ip.next_header();
    *data = data.get(..off + captured).unwrap_or(data);
    let mut cur = off + ipv6::HEADER_LEN;
    loop {
        let len = match next {
            IpProtocol::HOP_BY_HOP | IpProtocol::IPV6_ROUTING | IpProtocol::IPV6_DEST_OPTS => {
                let h =
                    Ipv6ExtHeader::new_checked(tail(data, cur)).map_err(|e| err(e, Layer::Ipv6))?;
                next = h.next_header();
                h.header_len()
            }
            IpProtocol::AH => {
                let h = Ipv6ExtHeader::new_checked_ah(tail(data, cur))
                    .map_err(|e| err(e, Layer::Ipv6))?;
                next = h.next_header();
                h.header_len()
            }
            IpProtocol::IPV6_FRAGMENT => {
                let h = Ipv6FragHeader::new_checked(tail(data, cur))
                    .map_err(|e| err(e, Layer::Ipv6))?;
                next = h.next_header();
                m.ip_id = h.ident();
                cur += ipv6::FRAG_HEADER_LEN;
                payload = payload.saturating_sub(ipv6::FRAG_HEADER_LEN);
                if h.frag_offset() != 0 {
                    m.fragment = Fragment::Later;
                    break;
                }
                if h.more_frags() {
                    m.fragment = Fragment::First;
                }
                continue;
            }
            _ => break,
        };
        cur += len;
        payload = payload.saturating_sub(len);
    }
    m.protocol = next;
    Ok((cur, payload))
}

/// No L4 header is read: the payload starts at the L4 offset.
#[inline(always)]
fn no_l4(m: &mut PacketMeta, l4: usize, ip_payload: usize) {
    m.l4_offset = u16_of(l4);
    m.payload_offset = m.l4_offset;
    m.payload_len = u16_of(ip_payload);
}

#[inline(always)]
fn parse_tcp(
    m: &mut PacketMeta,
    data: &[u8],
    off: usize,
    ip_payload: usize,
) -> Result<(), ParseError> {
    let seg = tail(data, off);
    let t = match TcpPacket::new_checked(seg) {
        Ok(t) => t,
        Err(e) => {
            let need = match seg.get(12) {
                Some(b) if seg.len() >= tcp::HEADER_LEN => (b >> 4) as usize * 4,
                _ => tcp::HEADER_LEN,
            };
            return l4_cut(m, e, Layer::Tcp, need, off, ip_payload);
        }
    };
    let hl = t.header_len();
    m.src_port = t.src_port();
    m.dst_port = t.dst_port();
    m.tcp_seq = t.seq_number();
    m.tcp_ack = t.ack_number();
    m.tcp_flags = t.flags();
    m.tcp_window = t.window_len();
    if m.tcp_flags.contains(TcpFlags::SYN) {
        let o = t.syn_options();
        m.tcp_mss = o.mss;
        m.tcp_wscale = o.wscale;
        m.tcp_sack_permitted = o.sack_permitted;
    }
    m.l4_offset = u16_of(off);
    m.payload_offset = u16_of(off + hl);
    m.payload_len = u16_of(ip_payload.saturating_sub(hl));
    Ok(())
}

#[inline(always)]
fn parse_udp(
    m: &mut PacketMeta,
    data: &[u8],
    off: usize,
    ip_payload: usize,
) -> Result<(), ParseError> {
    let u = match UdpPacket::new_checked(tail(data, off)) {
        Ok(u) => u,
        Err(e) => return l4_cut(m, e, Layer::Udp, udp::HEADER_LEN, off, ip_payload),
    };
    m.src_port = u.src_port();
    m.dst_port = u.dst_port();
    m.l4_offset = u16_of(off);
    m.payload_offset = u16_of(off + udp::HEADER_LEN);
    m.payload_len = u16_of(ip_payload.saturating_sub(udp::HEADER_LEN));
    Ok(())
}

#[inline(never)]
fn parse_icmp(
    m: &mut PacketMeta,
    data: &[u8],
    off: usize,
    ip_payload: usize,
    version: u8,
) -> Result<(), ParseError> {
    let p = match IcmpPacket::new_checked(tail(data, off)) {
        Ok(p) => p,
        Err(e) => return l4_cut(m, e, Layer::Icmp, icmp::HEADER_LEN, off, ip_payload),
    };
    m.icmp_type = p.msg_type();
    m.icmp_code = p.msg_code();
    if (version == 4 && p.is_echo_v4()) || (version == 6 && p.is_echo_v6()) {
        m.icmp_echo_id = p.echo_ident();
    }
    m.l4_offset = u16_of(off);
    m.payload_offset = u16_of(off + icmp::HEADER_LEN);
    m.payload_len = u16_of(ip_payload.saturating_sub(icmp::HEADER_LEN));
    Ok(())
}

/// GRE at `off`: returns the inner IP version and offset, or `None` for a
/// well-formed GRE packet that does not carry IP (the caller then keeps the
/// outer packet as a protocol-47 packet).
#[inline(never)]
fn parse_gre(
    m: &mut PacketMeta,
    data: &[u8],
    off: usize,
) -> Result<Option<(u8, usize)>, ParseError> {
    let g = GrePacket::new_checked(tail(data, off)).map_err(|e| err(e, Layer::Tunnel))?;
    let inner = off + g.header_len();
    let (vlan, vlan_count) = (m.vlan, m.vlan_count);
    let found = match g.protocol() {
        EtherType::IPV4 => Ok((4, inner)),
        EtherType::IPV6 => Ok((6, inner)),
        EtherType::TEB => parse_inner_ethernet(m, data, inner),
        EtherType::ERSPAN_II if !g.seq_present() => parse_inner_ethernet(m, data, inner),
        EtherType::ERSPAN_II | EtherType::ERSPAN_III => {
            let h =
                ErspanHeader::new_checked(tail(data, inner)).map_err(|e| err(e, Layer::Tunnel))?;
            parse_inner_ethernet(m, data, inner + h.header_len())
        }
        EtherType::PPP => {
            let p = PppHeader::new_checked(tail(data, inner)).map_err(|e| err(e, Layer::Tunnel))?;
            match p.protocol() {
                ppp_protocol::IPV4 => Ok((4, inner + p.header_len())),
                ppp_protocol::IPV6 => Ok((6, inner + p.header_len())),
                _ => Err(ParseError::NonIp),
            }
        }
        et => parse_ethertype(m, data, et, inner),
    };
    match found {
        Ok(inner) => Ok(Some(inner)),
        Err(ParseError::NonIp) => {
            m.vlan = vlan;
            m.vlan_count = vlan_count;
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// An Ethernet frame inside a tunnel; its MACs replace the outer ones once
/// it turns out to carry IP.
#[inline(never)]
fn parse_inner_ethernet(
    m: &mut PacketMeta,
    data: &[u8],
    off: usize,
) -> Result<(u8, usize), ParseError> {
    let eth = EthernetFrame::new_checked(tail(data, off)).map_err(|e| err(e, Layer::Link))?;
    let found = parse_ethertype(m, data, eth.ethertype(), off + ethernet::HEADER_LEN)?;
    m.src_mac = eth.src_addr();
    m.dst_mac = eth.dst_addr();
    Ok(found)
}

#[cfg(test)]
mod tests;
