//! 802.1Q / 802.1ad VLAN tag: the 4 bytes that follow a VLAN TPID
//! (0x8100, 0x88a8 or 0x9100) in place of the EtherType.

use super::{be_u16, Error, EtherType, Result};

mod field {
    use crate::wire::{Field, Rest};

    /// Tag control information: PCP (3 bits), DEI (1 bit), VID (12 bits).
    pub(super) const TCI: Field = 0..2;
    /// The EtherType (or TPID of the next tag) that follows.
    pub(super) const ETHERTYPE: Field = 2..4;
    pub(super) const PAYLOAD: Rest = 4..;
}

/// Length of the part of a tag after its TPID.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// A read-only view of a VLAN tag, starting right after its TPID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Tag<T> {
    /// Wraps a buffer without checking it; getters panic if it is too short.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Tag<T> {
        Tag { buffer }
    }

    /// Wraps a buffer that holds at least the 4 tag bytes.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Tag<T>> {
        let tag = Self::new_unchecked(buffer);
        tag.check_len()?;
        Ok(tag)
    }

    /// `Err(Truncated)` if the buffer is shorter than the tag.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
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

    /// Priority code point.
    #[inline]
    pub fn pcp(&self) -> u8 {
        self.buffer.as_ref()[field::TCI][0] >> 5
    }

    /// Drop eligible indicator.
    #[inline]
    pub fn dei(&self) -> bool {
        self.buffer.as_ref()[field::TCI][0] & 0x10 != 0
    }

    /// VLAN identifier (12 bits).
    #[inline]
    pub fn vid(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::TCI]) & 0x0fff
    }

    /// The EtherType that follows the tag (another TPID for QinQ).
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType(be_u16(&self.buffer.as_ref()[field::ETHERTYPE]))
    }

    /// What follows the tag: a packet of its `ethertype`.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deconstruct() {
        // PCP 5, DEI 1, VID 0x123, then IPv6.
        let bytes = [0xb1, 0x23, 0x86, 0xdd, 0x60];
        let t = Tag::new_checked(&bytes[..]).unwrap();
        assert_eq!(t.pcp(), 5);
        assert!(t.dei());
        assert_eq!(t.vid(), 0x123);
        assert_eq!(t.ethertype(), EtherType::IPV6);
        assert_eq!(t.payload(), &[0x60]);
    }

    #[test]
    fn tpids() {
        assert!(EtherType(0x8100).is_vlan_tpid());
        assert!(EtherType(0x88a8).is_vlan_tpid());
        assert!(EtherType(0x9100).is_vlan_tpid());
        assert!(!EtherType(0x0800).is_vlan_tpid());
    }

    #[test]
    fn truncated() {
        let bytes = [0x00, 0x01, 0x08, 0x00];
        for n in 0..HEADER_LEN {
            assert_eq!(Tag::new_checked(&bytes[..n]), Err(Error::Truncated));
        }
        assert!(Tag::new_checked(&bytes[..]).is_ok());
    }
}
