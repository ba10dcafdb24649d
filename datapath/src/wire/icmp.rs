//! ICMP (RFC 792) and ICMPv6 (RFC 4443) header: type, code, checksum and
//! the 4-byte rest of header, which holds the identifier and sequence
//! number of echo messages.

use super::{be_u16, Error, Result};

/// ICMP (v4) message types used by the datapath.
pub mod v4_type {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
}

/// ICMPv6 message types used by the datapath.
pub mod v6_type {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
}

mod field {
    use crate::wire::{Field, Rest};

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    /// Echo messages: identifier and sequence number.
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;
    pub const PAYLOAD: Rest = 8..;
}

/// Length of the ICMP header (type, code, checksum, rest of header).
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// A read-only view of an ICMP or ICMPv6 message; the layout of the first
/// 8 bytes is the same for both.
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

    /// Wraps a buffer that holds the 8-byte header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Err(Truncated)` if the buffer is shorter than the header.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// True for ICMP echo request/reply (types 8, 0).
    #[inline]
    pub fn is_echo_v4(&self) -> bool {
        matches!(self.msg_type(), v4_type::ECHO_REQUEST | v4_type::ECHO_REPLY)
    }

    /// True for ICMPv6 echo request/reply (types 128, 129).
    #[inline]
    pub fn is_echo_v6(&self) -> bool {
        matches!(self.msg_type(), v6_type::ECHO_REQUEST | v6_type::ECHO_REPLY)
    }

    /// Identifier of an echo message (meaningless for other types).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::ECHO_IDENT])
    }

    /// Sequence number of an echo message (meaningless for other types).
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::ECHO_SEQNO])
    }

    /// What follows the 8-byte header (echo data, or the invoking packet of
    /// an error message).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_v4() {
        let b = [0x08, 0x00, 0xf7, 0xfd, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62];
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.msg_type(), v4_type::ECHO_REQUEST);
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.checksum(), 0xf7fd);
        assert!(p.is_echo_v4());
        assert!(!p.is_echo_v6());
        assert_eq!(p.echo_ident(), 0x1234);
        assert_eq!(p.echo_seq_no(), 1);
        assert_eq!(p.payload(), b"ab");
    }

    #[test]
    fn echo_reply_v6_and_errors() {
        let b = [129, 0, 0, 0, 0xab, 0xcd, 0, 7];
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.is_echo_v6());
        assert!(!p.is_echo_v4());
        assert_eq!(p.echo_ident(), 0xabcd);
        let b = [v4_type::DEST_UNREACHABLE, 3, 0, 0, 0, 0, 0, 0];
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(!p.is_echo_v4());
        assert_eq!(p.msg_code(), 3);
    }

    #[test]
    fn truncated() {
        let b = [8u8, 0, 0, 0, 0, 1, 0, 1];
        for n in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&b[..n]), Err(Error::Truncated));
        }
    }
}
