//! IPv4 header (RFC 791), options skipped via the IHL.
//!
//! A view is made over the bytes from the IPv4 header to the end of the
//! capture. The capture may hold fewer bytes than the total length (snap
//! length) or more (Ethernet padding); [`Packet::captured_len`] and
//! [`Packet::payload`] account for both, while [`Packet::payload_len`] is the
//! length according to the header.

use super::{array, be_u16, checksum, Error, IpPair, IpProtocol, Result};

mod field {
    use crate::wire::Field;

    pub(super) const VER_IHL: usize = 0;
    pub(super) const DSCP_ECN: usize = 1;
    pub(super) const LENGTH: Field = 2..4;
    pub(super) const IDENT: Field = 4..6;
    pub(super) const FLG_OFF: Field = 6..8;
    pub(super) const TTL: usize = 8;
    pub(super) const PROTOCOL: usize = 9;
    pub(super) const CHECKSUM: Field = 10..12;
    pub(super) const SRC_ADDR: Field = 12..16;
    pub(super) const DST_ADDR: Field = 16..20;
}

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// A read-only view of an IPv4 packet.
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

    /// Validates the header once:
    /// - `Truncated` if the buffer ends before byte 20 or inside the options;
    /// - `Malformed` if the version is not 4, the IHL is below 5, or the total
    ///   length is smaller than the header.
    ///
    /// A total length of 0 is accepted and means "the rest of the buffer", as
    /// written into captures by TCP segmentation offload (Wireshark's
    /// `ip.tso_support`, on by default, does the same).
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let d = self.buffer.as_ref();
        if d.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let ver_ihl = d[field::VER_IHL];
        // Version 4 with an IHL of 5..=15 is exactly 0x45..=0x4f.
        if !(0x45..=0x4f).contains(&ver_ihl) {
            return Err(Error::Malformed);
        }
        let hl = ((ver_ihl & 0x0f) as usize) * 4;
        let total = be_u16(&d[field::LENGTH]) as usize;
        if total < hl && total != 0 {
            return Err(Error::Malformed);
        }
        if d.len() < hl {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Gives back the wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// IP version (4 for a valid header).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes, options included (20..=60).
    #[inline]
    pub fn header_len(&self) -> usize {
        ((self.buffer.as_ref()[field::VER_IHL] & 0x0f) as usize) * 4
    }

    /// Differentiated services code point (6 bits).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    /// Explicit congestion notification (2 bits).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// Total length field as stored (0 under TSO, see [`Packet::check_len`]).
    #[inline]
    pub fn total_len(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::LENGTH])
    }

    /// Identification, shared by the fragments of one datagram.
    #[inline]
    pub fn ident(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::IDENT])
    }

    /// Don't fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.buffer.as_ref()[field::FLG_OFF][0] & 0x40 != 0
    }

    /// More fragments flag: this is not the datagram's last fragment.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.buffer.as_ref()[field::FLG_OFF][0] & 0x20 != 0
    }

    /// True if the packet is a fragment: more fragments follow, or the
    /// fragment offset is not zero. One test for the common case.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        be_u16(&self.buffer.as_ref()[field::FLG_OFF]) & 0x3fff != 0
    }

    /// Fragment offset in bytes (the field is in units of 8 bytes).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (be_u16(&self.buffer.as_ref()[field::FLG_OFF]) & 0x1fff) << 3
    }

    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload.
    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[field::PROTOCOL])
    }

    /// Header checksum as stored (not verified).
    #[inline]
    pub fn checksum(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> [u8; 4] {
        array(&self.buffer.as_ref()[field::SRC_ADDR])
    }

    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> [u8; 4] {
        array(&self.buffer.as_ref()[field::DST_ADDR])
    }

    /// The options bytes (empty for IHL 5).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// Bytes of this packet present in the buffer: the total length capped
    /// by the buffer (snap length); bytes past the total length (Ethernet
    /// padding or trailers) do not belong to the packet.
    #[inline]
    pub fn captured_len(&self) -> usize {
        let len = self.buffer.as_ref().len();
        match self.total_len() as usize {
            0 => len,
            total => total.min(len),
        }
    }

    /// Payload length according to the header (total length minus header
    /// length), which may exceed what was captured.
    #[inline]
    pub fn payload_len(&self) -> usize {
        match self.total_len() as usize {
            0 => self.buffer.as_ref().len() - self.header_len(),
            total => total - self.header_len(),
        }
    }

    /// The captured part of the payload (no padding).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..self.captured_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 4 and the header length (20..=60, a multiple of 4).
    #[inline]
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        debug_assert!(header_len.is_multiple_of(4) && (20..=60).contains(&header_len));
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | (header_len / 4) as u8;
    }

    /// Sets DSCP and ECN (the former type of service byte).
    #[inline]
    pub fn set_dscp_ecn(&mut self, v: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = v;
    }

    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        self.buffer.as_mut()[field::IDENT].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the flags and fragment offset: DF as given, no fragment.
    #[inline]
    pub fn set_unfragmented(&mut self, dont_frag: bool) {
        let v: u16 = if dont_frag { 0x4000 } else { 0 };
        self.buffer.as_mut()[field::FLG_OFF].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the time to live.
    #[inline]
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    /// Sets the protocol.
    #[inline]
    pub fn set_protocol(&mut self, v: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = v.0;
    }

    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, a: [u8; 4]) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a);
    }

    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: [u8; 4]) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a);
    }

    /// Computes the header checksum and stores it.
    #[inline]
    pub fn fill_checksum(&mut self) {
        let hl = self.header_len();
        let d = self.buffer.as_mut();
        d[field::CHECKSUM].fill(0);
        let c = checksum(&d[..hl]);
        d[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    /// The payload (after the header, up to the total length), to write.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, len) = (self.header_len(), self.captured_len());
        &mut self.buffer.as_mut()[hl..len]
    }
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// True if the header checksum verifies.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum(&self.buffer.as_ref()[..self.header_len()]) == 0
    }
}

/// The fields of an IPv4 header as the generator and the probes write it:
/// no options, not fragmented, DSCP and ECN zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr {
    /// Source address.
    pub src_addr: [u8; 4],
    /// Destination address.
    pub dst_addr: [u8; 4],
    /// What the payload is.
    pub protocol: IpProtocol,
    /// Bytes after the header.
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// Identification.
    pub ident: u16,
    /// The don't-fragment flag.
    pub dont_frag: bool,
}

impl Repr {
    /// Reads a checked packet: `Checksum` if the header checksum does not
    /// verify, `Malformed` for a fragment, options or a zero total length,
    /// `Truncated` if the buffer ends before the total length.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Repr> {
        packet.check_len()?;
        if packet.is_fragment() || packet.header_len() != HEADER_LEN || packet.total_len() == 0 {
            return Err(Error::Malformed);
        }
        if packet.buffer.as_ref().len() < packet.total_len() as usize {
            return Err(Error::Truncated);
        }
        if !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: packet.payload_len(),
            ttl: packet.ttl(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
        })
    }

    /// Bytes of the header.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// The addresses, for the transport checksum.
    pub fn ip_pair(&self) -> IpPair {
        IpPair::V4 {
            src: self.src_addr,
            dst: self.dst_addr,
        }
    }

    /// Writes the header, checksum included, into the first
    /// [`Repr::buffer_len`] bytes of `packet`. The payload must fit a total
    /// length of 65,535 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(&self, packet: &mut Packet<&mut T>) {
        let total = HEADER_LEN + self.payload_len;
        debug_assert!(total <= 0xffff, "IPv4 packet too long");
        packet.set_version_and_header_len(HEADER_LEN);
        packet.set_dscp_ecn(0);
        packet.set_total_len(total as u16);
        packet.set_ident(self.ident);
        packet.set_unfragmented(self.dont_frag);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 192.168.1.2 → 10.0.0.1, ident 0x1c46, DF, TTL 64, UDP, with 4 bytes
    /// of options (NOP NOP NOP EOL), 4 bytes payload, 2 bytes padding.
    static PACKET: [u8; 34] = [
        0x46, 0x00, 0x00, 0x1c, // v4, IHL 6, total 28
        0x1c, 0x46, 0x40, 0x00, // ident, DF, offset 0
        0x40, 0x11, 0xab, 0xcd, // TTL 64, UDP, checksum
        0xc0, 0xa8, 0x01, 0x02, // src
        0x0a, 0x00, 0x00, 0x01, // dst
        0x01, 0x01, 0x01, 0x00, // options
        0xaa, 0xbb, 0xcc, 0xdd, // payload
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // padding
    ];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&PACKET[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.dscp(), 0);
        assert_eq!(p.ecn(), 0);
        assert_eq!(p.total_len(), 28);
        assert_eq!(p.ident(), 0x1c46);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert!(!p.is_fragment());
        assert_eq!(p.frag_offset(), 0);
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol::UDP);
        assert_eq!(p.checksum(), 0xabcd);
        assert_eq!(p.src_addr(), [192, 168, 1, 2]);
        assert_eq!(p.dst_addr(), [10, 0, 0, 1]);
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.captured_len(), 28);
        assert_eq!(p.payload_len(), 4);
        assert_eq!(p.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
    }

    /// The classic example header (UDP, DF, TTL 64, total length 0x73)
    /// with its checksum 0xb861.
    static EXAMPLE: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    fn example_repr() -> Repr {
        Repr {
            src_addr: [192, 168, 0, 1],
            dst_addr: [192, 168, 0, 199],
            protocol: IpProtocol::UDP,
            payload_len: 0x73 - 20,
            ttl: 64,
            ident: 0,
            dont_frag: true,
        }
    }

    #[test]
    fn repr_emit_known_bytes() {
        let mut buf = [0u8; 0x73];
        example_repr().emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..20], &EXAMPLE[..]);
        assert_eq!(example_repr().buffer_len(), 20);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(Repr::parse(&p), Ok(example_repr()));
    }

    #[test]
    fn repr_rejects_bad_input() {
        let mut buf = vec![0u8; 0x73];
        example_repr().emit(&mut Packet::new_unchecked(&mut buf[..]));
        let parse = |b: &[u8]| Repr::parse(&Packet::new_unchecked(b));
        // A flipped bit breaks the checksum.
        let mut bad = buf.clone();
        bad[8] ^= 1;
        assert_eq!(parse(&bad), Err(Error::Checksum));
        // Shorter than the total length; shorter than the header.
        assert_eq!(parse(&buf[..0x72]), Err(Error::Truncated));
        assert_eq!(parse(&buf[..19]), Err(Error::Truncated));
        // A fragment, and options, are not what a Repr describes.
        let mut frag = buf.clone();
        frag[6] |= 0x20;
        assert_eq!(parse(&frag), Err(Error::Malformed));
        assert_eq!(parse(&PACKET[..]), Err(Error::Malformed));
        // Version 6 in the version field.
        let mut v6 = buf.clone();
        v6[0] = 0x65;
        assert_eq!(parse(&v6), Err(Error::Malformed));
    }

    #[test]
    fn snap_length_cut_payload() {
        let p = Packet::new_checked(&PACKET[..26]).unwrap();
        assert_eq!(p.captured_len(), 26);
        assert_eq!(p.payload_len(), 4);
        assert_eq!(p.payload(), &[0xaa, 0xbb]);
    }

    #[test]
    fn fragment_fields() {
        let mut b = PACKET;
        b[6] = 0x20 | 0x01; // MF, offset 0x172 * 8
        b[7] = 0x72;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.more_frags());
        assert!(p.is_fragment());
        assert!(!p.dont_frag());
        assert_eq!(p.frag_offset(), 0x172 * 8);
    }

    #[test]
    fn tso_zero_total_length() {
        let mut b = PACKET;
        b[2] = 0;
        b[3] = 0;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.captured_len(), 34);
        assert_eq!(p.payload_len(), 10);
    }

    #[test]
    fn malformed() {
        let mut b = PACKET;
        b[0] = 0x66; // version 6
        assert_eq!(Packet::new_checked(&b[..]), Err(Error::Malformed));
        b[0] = 0x44; // IHL 4
        assert_eq!(Packet::new_checked(&b[..]), Err(Error::Malformed));
        let mut b = PACKET;
        b[3] = 23; // total length < header length
        assert_eq!(Packet::new_checked(&b[..]), Err(Error::Malformed));
        b[3] = 24; // empty payload is fine
        assert_eq!(Packet::new_checked(&b[..]).unwrap().payload(), &[]);
    }

    #[test]
    fn truncated() {
        for n in 0..24 {
            assert_eq!(
                Packet::new_checked(&PACKET[..n]),
                Err(Error::Truncated),
                "{n}"
            );
        }
        // IHL 15: 60-byte header does not fit in 34 bytes.
        let mut b = PACKET;
        b[0] = 0x4f;
        b[3] = 60;
        assert_eq!(Packet::new_checked(&b[..]), Err(Error::Truncated));
    }
}
