//! IPv6 fixed header (RFC 8200) and the extension headers the parser walks:
//! hop-by-hop options (0), routing (43), destination options (60) and
//! authentication (51) through [`ExtHeader`], fragment (44) through
//! [`FragHeader`].

use super::{array, be_u16, be_u32, Error, IpPair, IpProtocol, Result};

mod field {
    use crate::wire::Field;

    pub(super) const VER_TC_FLOW: Field = 0..4;
    pub(super) const LENGTH: Field = 4..6;
    pub(super) const NXT_HDR: usize = 6;
    pub(super) const HOP_LIMIT: usize = 7;
    pub(super) const SRC_ADDR: Field = 8..24;
    pub(super) const DST_ADDR: Field = 24..40;
}

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// A read-only view of an IPv6 packet (fixed header).
///
/// As for IPv4, the buffer runs to the end of the capture: it may be shorter
/// than the payload length says (snap length) or longer (padding).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; getters panic if it is too short.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after [`Packet::check_len`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` if the buffer is shorter than the 40-byte header,
    /// `Malformed` if the version is not 6.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let d = self.buffer.as_ref();
        if d.len() < HEADER_LEN {
            Err(Error::Truncated)
        } else if d[0] >> 4 != 6 {
            Err(Error::Malformed)
        } else {
            Ok(())
        }
    }

    /// Gives back the wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// IP version (6 for a valid header).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TC_FLOW][0] >> 4
    }

    /// Traffic class (DSCP and ECN bits).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (be_u16(&self.buffer.as_ref()[field::VER_TC_FLOW]) >> 4) as u8
    }

    /// Flow label (20 bits; 0 = unlabelled).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        be_u32(&self.buffer.as_ref()[field::VER_TC_FLOW]) & 0x000f_ffff
    }

    /// Payload length field as stored (extension headers included; 0 for a
    /// jumbogram).
    #[inline]
    pub fn payload_len(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::LENGTH])
    }

    /// Protocol or extension header that follows the fixed header.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[field::NXT_HDR])
    }

    /// Hop limit (the IPv6 TTL).
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> [u8; 16] {
        array(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> [u8; 16] {
        array(&self.buffer.as_ref()[field::DST_ADDR])
    }

    /// Bytes of this packet present in the buffer: header plus payload
    /// length, capped by the buffer. A payload length of 0 (jumbogram, or a
    /// segmentation-offload capture) means "the rest of the buffer".
    #[inline]
    pub fn captured_len(&self) -> usize {
        let len = self.buffer.as_ref().len();
        match self.payload_len() as usize {
            0 => len,
            pl => (HEADER_LEN + pl).min(len),
        }
    }

    /// The captured part of the payload (extension headers included).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.captured_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 6, the traffic class and the flow label (20 bits).
    #[inline]
    pub fn set_version_class_label(&mut self, traffic_class: u8, flow_label: u32) {
        let w = 6u32 << 28 | u32::from(traffic_class) << 20 | (flow_label & 0x000f_ffff);
        self.buffer.as_mut()[field::VER_TC_FLOW].copy_from_slice(&w.to_be_bytes());
    }

    /// Sets the payload length.
    #[inline]
    pub fn set_payload_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the next header.
    #[inline]
    pub fn set_next_header(&mut self, v: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = v.0;
    }

    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, a: [u8; 16]) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a);
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: [u8; 16]) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a);
    }

    /// The payload (after the fixed header, up to the payload length), to
    /// write.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = self.captured_len();
        &mut self.buffer.as_mut()[HEADER_LEN..len]
    }
}

/// The fields of an IPv6 fixed header without extension headers, as the
/// generator and the probes write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source address.
    pub src_addr: [u8; 16],
    /// Destination address.
    pub dst_addr: [u8; 16],
    /// What the payload is.
    pub next_header: IpProtocol,
    /// Bytes after the fixed header.
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
}

impl Repr {
    /// Reads a checked packet: `Malformed` for a zero payload length (a
    /// jumbogram), `Truncated` if the buffer ends before the payload does.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.payload_len() == 0 && packet.buffer.as_ref().len() > HEADER_LEN {
            return Err(Error::Malformed);
        }
        if packet.buffer.as_ref().len() < HEADER_LEN + packet.payload_len() as usize {
            return Err(Error::Truncated);
        }
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: packet.payload_len() as usize,
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }

    /// Bytes of the header.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// The addresses, for the transport checksum.
    pub fn ip_pair(&self) -> IpPair {
        IpPair::V6 {
            src: self.src_addr,
            dst: self.dst_addr,
        }
    }

    /// Writes the header into the first [`Repr::buffer_len`] bytes of
    /// `packet`. The payload must fit 65,535 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        debug_assert!(self.payload_len <= 0xffff, "IPv6 payload too long");
        packet.set_version_class_label(self.traffic_class, self.flow_label);
        packet.set_payload_len(self.payload_len as u16);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
    }
}

mod ext_field {
    use crate::wire::Field;

    pub(super) const NXT_HDR: usize = 0;
    pub(super) const LENGTH: usize = 1;
    /// Minimum extension header: next header, length, 6 more bytes.
    pub(super) const MIN: Field = 0..8;
    /// Authentication header: the smallest is 12 bytes, (len + 2) * 4.
    pub(super) const AH_MIN: Field = 0..12;
}

/// A read-only view of a generic IPv6 extension header: next header, a
/// length byte, then options or routing data. Hop-by-hop, routing and
/// destination options count the length in 8-byte units after the first 8
/// ([`ExtHeader::new_checked`]); the authentication header counts 4-byte
/// units after the first 8 ([`ExtHeader::new_checked_ah`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtHeader<T: AsRef<[u8]>> {
    buffer: T,
    ah: bool,
}

impl<T: AsRef<[u8]>> ExtHeader<T> {
    /// Wraps a hop-by-hop, routing or destination options header without
    /// checking it; getters panic if it is too short.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> ExtHeader<T> {
        ExtHeader { buffer, ah: false }
    }

    /// Wraps a hop-by-hop, routing or destination options header; the
    /// buffer must hold all of it.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<ExtHeader<T>> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    /// Wraps an authentication header (IP protocol 51); the buffer must
    /// hold all of it.
    #[inline]
    pub fn new_checked_ah(buffer: T) -> Result<ExtHeader<T>> {
        let h = ExtHeader { buffer, ah: true };
        h.check_len()?;
        Ok(h)
    }

    /// `Truncated` if the buffer ends inside the header.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let d = self.buffer.as_ref();
        let min = if self.ah {
            ext_field::AH_MIN.end
        } else {
            ext_field::MIN.end
        };
        if d.len() < min || d.len() < self.header_len() {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Gives back the wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Protocol or extension header that follows this one.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[ext_field::NXT_HDR])
    }

    /// Length of the whole header in bytes.
    #[inline]
    pub fn header_len(&self) -> usize {
        let n = self.buffer.as_ref()[ext_field::LENGTH] as usize;
        if self.ah {
            (n + 2) * 4
        } else {
            (n + 1) * 8
        }
    }

    /// What follows the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

mod frag_field {
    use crate::wire::{Field, Rest};

    pub(super) const NXT_HDR: usize = 0;
    pub(super) const RESERVED: usize = 1;
    /// Offset (13 bits, 8-byte units), 2 reserved bits, M flag.
    pub(super) const OFF_M: Field = 2..4;
    pub(super) const IDENT: Field = 4..8;
    pub(super) const PAYLOAD: Rest = 8..;
}

/// Length of the fragment header.
pub const FRAG_HEADER_LEN: usize = frag_field::PAYLOAD.start;

/// A read-only view of the IPv6 fragment header (44).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> FragHeader<T> {
    /// Wraps a buffer without checking it; getters panic if it is too short.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> FragHeader<T> {
        FragHeader { buffer }
    }

    /// Wraps a buffer that holds the 8-byte header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<FragHeader<T>> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    /// `Err(Truncated)` if the buffer is shorter than the header.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < FRAG_HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Gives back the wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Protocol or extension header that follows the fragment header.
    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[frag_field::NXT_HDR])
    }

    /// Reserved byte, zero when sent.
    #[inline]
    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[frag_field::RESERVED]
    }

    /// Fragment offset in bytes (the field is in units of 8 bytes).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[frag_field::OFF_M]) & 0xfff8
    }

    /// More fragments flag: this is not the datagram's last fragment.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.buffer.as_ref()[frag_field::OFF_M][1] & 0x01 != 0
    }

    /// Identification, shared by the fragments of one datagram.
    #[inline]
    pub fn ident(&self) -> u32 {
        be_u32(&self.buffer.as_ref()[frag_field::IDENT])
    }

    /// What follows the 8-byte header: this fragment's data.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[frag_field::PAYLOAD]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2001:db8::1 → 2001:db8::2, TC 0xb8, flow 0x12345, payload 8 (UDP),
    /// hop limit 64, then 8 payload bytes and 2 bytes padding.
    static PACKET: [u8; 50] = [
        0x6b, 0x81, 0x23, 0x45, 0x00, 0x08, 0x11, 0x40, //
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, //
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, //
        1, 2, 3, 4, 5, 6, 7, 8, // payload
        0, 0, // padding
    ];

    #[test]
    fn repr_round_trip_and_rejects() {
        let r = Repr::parse(&Packet::new_checked(&PACKET[..]).unwrap()).unwrap();
        assert_eq!(
            (r.traffic_class, r.flow_label, r.payload_len, r.hop_limit),
            (0xb8, 0x12345, 8, 64)
        );
        assert_eq!(r.next_header, IpProtocol::UDP);
        let mut buf = [0u8; 48];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        Packet::new_unchecked(&mut buf[..])
            .payload_mut()
            .copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&buf[..], &PACKET[..48]);
        assert_eq!(r.buffer_len(), 40);
        let parse = |b: &[u8]| Repr::parse(&Packet::new_unchecked(b));
        assert_eq!(parse(&PACKET[..47]), Err(Error::Truncated));
        assert_eq!(parse(&PACKET[..39]), Err(Error::Truncated));
        let mut v4 = PACKET;
        v4[0] = 0x4b;
        assert_eq!(parse(&v4), Err(Error::Malformed));
        let mut jumbo = PACKET;
        jumbo[4..6].fill(0);
        assert_eq!(parse(&jumbo), Err(Error::Malformed));
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 8);
        assert_eq!(p.next_header(), IpProtocol::UDP);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr()[..4], [0x20, 0x01, 0x0d, 0xb8]);
        assert_eq!(p.src_addr()[15], 1);
        assert_eq!(p.dst_addr()[15], 2);
        assert_eq!(p.captured_len(), 48);
        assert_eq!(p.payload(), &[1, 2, 3, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn snap_length_and_jumbo() {
        let p = Packet::new_checked(&PACKET[..44]).unwrap();
        assert_eq!(p.payload(), &[1, 2, 3, 4]);
        let mut b = PACKET;
        b[4] = 0;
        b[5] = 0;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.captured_len(), 50);
        assert_eq!(p.payload().len(), 10);
    }

    #[test]
    fn malformed_and_truncated() {
        let mut b = PACKET;
        b[0] = 0x4b;
        assert_eq!(Packet::new_checked(&b[..]), Err(Error::Malformed));
        for n in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&PACKET[..n]), Err(Error::Truncated));
        }
    }

    #[test]
    fn ext_header() {
        // Hop-by-hop, length 1 (16 bytes), next header TCP.
        let mut b = [0u8; 17];
        b[0] = 6;
        b[1] = 1;
        b[16] = 0xee;
        let h = ExtHeader::new_checked(&b[..]).unwrap();
        assert_eq!(h.next_header(), IpProtocol::TCP);
        assert_eq!(h.header_len(), 16);
        assert_eq!(h.payload(), &[0xee]);
        assert_eq!(ExtHeader::new_checked(&b[..15]), Err(Error::Truncated));
        assert_eq!(ExtHeader::new_checked(&b[..7]), Err(Error::Truncated));
        assert_eq!(ExtHeader::new_checked(&b[..1]), Err(Error::Truncated));
    }

    #[test]
    fn auth_header() {
        // AH with a 96-bit ICV: payload length 4 → (4 + 2) * 4 = 24 bytes.
        let mut b = [0u8; 24];
        b[0] = 17;
        b[1] = 4;
        let h = ExtHeader::new_checked_ah(&b[..]).unwrap();
        assert_eq!(h.next_header(), IpProtocol::UDP);
        assert_eq!(h.header_len(), 24);
        assert!(h.payload().is_empty());
        assert_eq!(ExtHeader::new_checked_ah(&b[..23]), Err(Error::Truncated));
        assert_eq!(ExtHeader::new_checked_ah(&b[..11]), Err(Error::Truncated));
        // The same bytes as a generic header would be 40 bytes long.
        assert_eq!(ExtHeader::new_checked(&b[..]), Err(Error::Truncated));
    }

    #[test]
    fn frag_header() {
        // Next header UDP, offset 1480 bytes (185 units), M set, ident.
        let b = [17, 0, 0x05, 0xc9, 0xde, 0xad, 0xbe, 0xef, 0xaa];
        let h = FragHeader::new_checked(&b[..]).unwrap();
        assert_eq!(h.next_header(), IpProtocol::UDP);
        assert_eq!(h.reserved(), 0);
        assert_eq!(h.frag_offset(), 1480);
        assert!(h.more_frags());
        assert_eq!(h.ident(), 0xdead_beef);
        assert_eq!(h.payload(), &[0xaa]);
        for n in 0..FRAG_HEADER_LEN {
            assert_eq!(FragHeader::new_checked(&b[..n]), Err(Error::Truncated));
        }
    }
}
