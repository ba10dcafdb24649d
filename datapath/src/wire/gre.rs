//! GRE (RFC 2784 with the key and sequence number of RFC 2890, and PPTP's
//! enhanced GRE of RFC 2637 with its acknowledgment number), and the ERSPAN
//! type II/III headers that Cisco-style remote mirroring puts inside GRE.

use super::{be_u16, be_u32, Error, EtherType, Result};

/// GRE flag bits (first byte) and version bits (second byte).
pub mod flags {
    /// Checksum present (C bit).
    pub const CHECKSUM: u8 = 0x80;
    /// Routing present (R bit, RFC 1701 source routes; not supported).
    pub const ROUTING: u8 = 0x40;
    /// Key present (K bit).
    pub const KEY: u8 = 0x20;
    /// Sequence number present (S bit).
    pub const SEQUENCE: u8 = 0x10;
    /// In the second byte, enhanced GRE (version 1) only.
    pub const ACK: u8 = 0x80;
    /// In the second byte, the version bits.
    pub const VERSION_MASK: u8 = 0x07;
}

mod field {
    use crate::wire::Field;

    pub(super) const FLAGS: usize = 0;
    pub(super) const VERSION: usize = 1;
    pub(super) const PROTOCOL: Field = 2..4;
    /// Start of the optional fields.
    pub(super) const OPTIONAL: usize = 4;
}

/// Length of the GRE header without optional fields.
pub const MIN_HEADER_LEN: usize = field::OPTIONAL;

/// A read-only view of a GRE header.
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

    /// `Truncated` if the buffer ends inside the header (optional fields
    /// included); `Malformed` for a version other than 0 and 1, or for the
    /// RFC 1701 routing bit (source routes are not supported).
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let d = self.buffer.as_ref();
        if d.len() < MIN_HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() > 1 || d[field::FLAGS] & flags::ROUTING != 0 {
            return Err(Error::Malformed);
        }
        if d.len() < self.header_len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Gives back the wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn flag(&self, bit: u8) -> bool {
        self.buffer.as_ref()[field::FLAGS] & bit != 0
    }

    /// Checksum (and reserved word) present.
    #[inline]
    pub fn checksum_present(&self) -> bool {
        self.flag(flags::CHECKSUM)
    }

    /// Key present.
    #[inline]
    pub fn key_present(&self) -> bool {
        self.flag(flags::KEY)
    }

    /// Sequence number present.
    #[inline]
    pub fn seq_present(&self) -> bool {
        self.flag(flags::SEQUENCE)
    }

    /// Acknowledgment number present (enhanced GRE only).
    #[inline]
    pub fn ack_present(&self) -> bool {
        self.version() == 1 && self.buffer.as_ref()[field::VERSION] & flags::ACK != 0
    }

    /// 0 for GRE, 1 for PPTP's enhanced GRE.
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION] & flags::VERSION_MASK
    }

    /// The payload's protocol type, an EtherType.
    #[inline]
    pub fn protocol(&self) -> EtherType {
        EtherType(be_u16(&self.buffer.as_ref()[field::PROTOCOL]))
    }

    /// Header length including the optional checksum, key, sequence and
    /// acknowledgment fields (4 to 20 bytes).
    #[inline]
    pub fn header_len(&self) -> usize {
        let f = self.buffer.as_ref()[field::FLAGS];
        MIN_HEADER_LEN
            + 4 * ((f & (flags::CHECKSUM | flags::ROUTING) != 0) as usize
                + (f & flags::KEY != 0) as usize
                + (f & flags::SEQUENCE != 0) as usize
                + self.ack_present() as usize)
    }

    #[inline]
    fn checksum_len(&self) -> usize {
        4 * self.checksum_present() as usize
    }

    /// The key (for enhanced GRE: payload length and call id).
    #[inline]
    pub fn key(&self) -> Option<u32> {
        let at = field::OPTIONAL + self.checksum_len();
        self.key_present()
            .then(|| be_u32(&self.buffer.as_ref()[at..at + 4]))
    }

    /// The sequence number, if present.
    #[inline]
    pub fn seq(&self) -> Option<u32> {
        let at = field::OPTIONAL + self.checksum_len() + 4 * self.key_present() as usize;
        self.seq_present()
            .then(|| be_u32(&self.buffer.as_ref()[at..at + 4]))
    }

    /// The acknowledgment number (enhanced GRE only).
    #[inline]
    pub fn ack(&self) -> Option<u32> {
        let at = self.header_len() - 4;
        self.ack_present()
            .then(|| be_u32(&self.buffer.as_ref()[at..at + 4]))
    }

    /// What follows the header and its optional fields, to the end of the
    /// buffer.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

mod erspan_field {
    use crate::wire::Field;

    /// Version (4 bits), VLAN (12 bits).
    pub(super) const VER_VLAN: Field = 0..2;
    /// COS (3), BSO/En (2), T (1), session id (10).
    pub(super) const SESSION: Field = 2..4;
    /// Type III: the byte holding the O (optional sub-header) bit.
    pub(super) const FLAGS3: usize = 11;
}

/// ERSPAN type II header length.
pub const ERSPAN_II_LEN: usize = 8;
/// ERSPAN type III header length without the platform sub-header.
pub const ERSPAN_III_LEN: usize = 12;
/// ERSPAN type III platform-specific sub-header length.
pub const ERSPAN_III_SUBHEADER_LEN: usize = 8;

/// A read-only view of an ERSPAN type II (version 1) or type III
/// (version 2) header, after GRE protocol 0x88be or 0x22eb. An Ethernet
/// frame follows it. (ERSPAN type I, 0x88be without a GRE sequence number,
/// has no header.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErspanHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ErspanHeader<T> {
    /// Wraps a buffer without checking it; getters panic if it is too short.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> ErspanHeader<T> {
        ErspanHeader { buffer }
    }

    /// Wraps a buffer holding the whole header; `Malformed` for a version
    /// other than 1 and 2.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<ErspanHeader<T>> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    /// `Err(Truncated)` if the buffer ends inside the header (for type III,
    /// with its platform sub-header when flagged); `Malformed` for a version
    /// other than 1 and 2.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let d = self.buffer.as_ref();
        if d.len() < ERSPAN_II_LEN {
            return Err(Error::Truncated);
        }
        match self.version() {
            1 => Ok(()),
            2 if d.len() < ERSPAN_III_LEN || d.len() < self.header_len() => Err(Error::Truncated),
            2 => Ok(()),
            _ => Err(Error::Malformed),
        }
    }

    /// Gives back the wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// 1 for type II, 2 for type III.
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[erspan_field::VER_VLAN][0] >> 4
    }

    /// VLAN of the mirrored frame (12 bits).
    #[inline]
    pub fn vlan(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[erspan_field::VER_VLAN]) & 0x0fff
    }

    /// Mirroring session id (10 bits).
    #[inline]
    pub fn session_id(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[erspan_field::SESSION]) & 0x03ff
    }

    /// 8 for type II; 12 or 20 for type III.
    #[inline]
    pub fn header_len(&self) -> usize {
        if self.version() == 2 {
            let o = self.buffer.as_ref()[erspan_field::FLAGS3] & 0x01 != 0;
            ERSPAN_III_LEN + ERSPAN_III_SUBHEADER_LEN * o as usize
        } else {
            ERSPAN_II_LEN
        }
    }

    /// The mirrored Ethernet frame.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain() {
        let b = [0x00, 0x00, 0x08, 0x00, 0x45];
        let g = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(g.version(), 0);
        assert_eq!(g.protocol(), EtherType::IPV4);
        assert_eq!(g.header_len(), 4);
        assert_eq!((g.key(), g.seq(), g.ack()), (None, None, None));
        assert!(!g.checksum_present());
        assert_eq!(g.payload(), &[0x45]);
    }

    #[test]
    fn checksum_key_seq() {
        let b = [
            0xb0, 0x00, 0x86, 0xdd, // C K S, IPv6
            0xab, 0xcd, 0x00, 0x00, // checksum, reserved
            0x00, 0x00, 0x00, 0x2a, // key
            0x00, 0x00, 0x01, 0x00, // seq
            0x60,
        ];
        let g = Packet::new_checked(&b[..]).unwrap();
        assert!(g.checksum_present());
        assert_eq!(g.header_len(), 16);
        assert_eq!(g.key(), Some(42));
        assert_eq!(g.seq(), Some(256));
        assert_eq!(g.ack(), None);
        assert_eq!(g.protocol(), EtherType::IPV6);
        assert_eq!(g.payload(), &[0x60]);
        for n in 0..16 {
            assert_eq!(Packet::new_checked(&b[..n]), Err(Error::Truncated), "{n}");
        }
    }

    #[test]
    fn enhanced_pptp() {
        // From a PPTP capture: K S, A + version 1, PPP.
        let b = [
            0x30, 0x81, 0x88, 0x0b, // flags, version 1 with A, PPP
            0x01, 0x4a, 0x98, 0x50, // key: payload length 330, call id
            0x00, 0x00, 0x00, 0x6a, // seq
            0x00, 0x00, 0x00, 0x8c, // ack
            0xff, 0x03, 0x00, 0x21,
        ];
        let g = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(g.version(), 1);
        assert!(g.ack_present());
        assert_eq!(g.header_len(), 16);
        assert_eq!(g.key(), Some(0x014a_9850));
        assert_eq!(g.seq(), Some(0x6a));
        assert_eq!(g.ack(), Some(0x8c));
        assert_eq!(g.protocol(), EtherType::PPP);
        assert_eq!(g.payload(), &[0xff, 0x03, 0x00, 0x21]);
    }

    #[test]
    fn ack_bit_ignored_in_version_0() {
        let b = [0x00, 0x80, 0x08, 0x00];
        let g = Packet::new_checked(&b[..]).unwrap();
        assert!(!g.ack_present());
        assert_eq!(g.header_len(), 4);
    }

    #[test]
    fn malformed() {
        assert_eq!(
            Packet::new_checked(&[0x00, 0x02, 0x08, 0x00][..]),
            Err(Error::Malformed)
        );
        let routing = [0x40, 0x00, 0x08, 0x00, 0, 0, 0, 0];
        assert_eq!(Packet::new_checked(&routing[..]), Err(Error::Malformed));
    }

    #[test]
    fn erspan() {
        // Type II: version 1, VLAN 100, COS 0, session 7, index.
        let b2 = [0x10, 0x64, 0x00, 0x07, 0x00, 0x00, 0x00, 0x01, 0xee];
        let h = ErspanHeader::new_checked(&b2[..]).unwrap();
        assert_eq!((h.version(), h.vlan(), h.session_id()), (1, 100, 7));
        assert_eq!(h.header_len(), 8);
        assert_eq!(h.payload(), &[0xee]);
        // Type III with the optional sub-header.
        let mut b3 = [0u8; 21];
        b3[0] = 0x20;
        b3[3] = 0x09;
        b3[11] = 0x01;
        b3[20] = 0xee;
        let h = ErspanHeader::new_checked(&b3[..]).unwrap();
        assert_eq!((h.version(), h.session_id(), h.header_len()), (2, 9, 20));
        assert_eq!(h.payload(), &[0xee]);
        assert_eq!(ErspanHeader::new_checked(&b3[..19]), Err(Error::Truncated));
        b3[11] = 0;
        assert_eq!(
            ErspanHeader::new_checked(&b3[..12]).unwrap().header_len(),
            12
        );
        assert_eq!(ErspanHeader::new_checked(&b3[..11]), Err(Error::Truncated));
        assert_eq!(ErspanHeader::new_checked(&b2[..7]), Err(Error::Truncated));
        let mut bad = b2;
        bad[0] = 0x30;
        assert_eq!(ErspanHeader::new_checked(&bad[..]), Err(Error::Malformed));
    }
}
