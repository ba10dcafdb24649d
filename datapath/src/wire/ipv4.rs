//! IPv4 header (RFC 791), options skipped via the IHL.
//!
//! A view is made over the bytes from the IPv4 header to the end of the
//! capture. The capture may hold fewer bytes than the total length (snap
//! length) or more (Ethernet padding); [`Packet::captured_len`] and
//! [`Packet::payload`] account for both, while [`Packet::payload_len`] is the
//! length according to the header.

use super::{array, be_u16, Error, Result};

mod field {
    use crate::wire::Field;

    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
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

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes, options included (20..=60).
    #[inline]
    pub fn header_len(&self) -> usize {
        ((self.buffer.as_ref()[field::VER_IHL] & 0x0f) as usize) * 4
    }

    #[inline]
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    #[inline]
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// Total length field as stored (0 under TSO, see [`Packet::check_len`]).
    #[inline]
    pub fn total_len(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::LENGTH])
    }

    #[inline]
    pub fn ident(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::IDENT])
    }

    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.buffer.as_ref()[field::FLG_OFF][0] & 0x40 != 0
    }

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

    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    #[inline]
    pub fn src_addr(&self) -> [u8; 4] {
        array(&self.buffer.as_ref()[field::SRC_ADDR])
    }

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
        assert_eq!(p.protocol(), 17);
        assert_eq!(p.checksum(), 0xabcd);
        assert_eq!(p.src_addr(), [192, 168, 1, 2]);
        assert_eq!(p.dst_addr(), [10, 0, 0, 1]);
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.captured_len(), 28);
        assert_eq!(p.payload_len(), 4);
        assert_eq!(p.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
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
