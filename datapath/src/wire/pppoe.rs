//! PPPoE session stage (EtherType 0x8864, RFC 2516) and the PPP header that
//! PPTP's enhanced GRE carries (RFC 1661 / RFC 1662 framing).

use super::{be_u16, Error, Result};

/// PPP protocol numbers.
pub mod ppp_protocol {
    /// IPv4.
    pub const IPV4: u16 = 0x0021;
    /// IPv6.
    pub const IPV6: u16 = 0x0057;
    /// Link control protocol (session setup and keep-alives, no user traffic).
    pub const LCP: u16 = 0xc021;
}

mod field {
    use crate::wire::{Field, Rest};

    /// Version (high nibble) and type (low nibble), both 1.
    pub(super) const VER_TYPE: usize = 0;
    /// 0x00 in the session stage.
    pub(super) const CODE: usize = 1;
    pub(super) const SESSION_ID: Field = 2..4;
    /// Length of the PPPoE payload (PPP protocol field included).
    pub(super) const LENGTH: Field = 4..6;
    pub(super) const PPP_PROTOCOL: Field = 6..8;
    pub(super) const PAYLOAD: Rest = 8..;
}

/// Length of the PPPoE header plus the 2-byte PPP protocol field.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// A read-only view of a PPPoE session-stage header and its PPP protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Session<T> {
    /// Wraps a buffer without checking it; getters panic if it is too short.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Session<T> {
        Session { buffer }
    }

    /// Wraps a buffer holding the 8 header bytes, with version and type 1.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Session<T>> {
        let s = Self::new_unchecked(buffer);
        s.check_len()?;
        if s.ver_type() != 0x11 {
            return Err(Error::Malformed);
        }
        Ok(s)
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

    /// Gives back the wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version and type nibbles (0x11 for RFC 2516).
    #[inline]
    pub fn ver_type(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE]
    }

    /// Code (0 for session data).
    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Session id, fixed for the session's lifetime.
    #[inline]
    pub fn session_id(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::SESSION_ID])
    }

    /// Length of the PPP payload, as stored.
    #[inline]
    pub fn length(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::LENGTH])
    }

    /// The PPP protocol of the payload (see [`ppp_protocol`]).
    #[inline]
    pub fn ppp_protocol(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::PPP_PROTOCOL])
    }

    /// What follows the 8-byte header (a PPP protocol field, then its payload),
    /// to the end of the buffer.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

/// A read-only view of a PPP header as carried in GRE: an optional
/// `ff 03` address/control pair, then a 2-byte protocol, or a 1-byte one
/// under protocol-field compression (an odd first byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PppHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> PppHeader<T> {
    /// Wraps a buffer without checking it; getters panic if it is too short.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> PppHeader<T> {
        PppHeader { buffer }
    }

    /// Wraps a buffer that holds the whole (variable-length) header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<PppHeader<T>> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    /// `Err(Truncated)` if the buffer ends inside the header; `Malformed`
    /// for an address byte (0xff) not followed by the control byte 0x03.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let d = self.buffer.as_ref();
        match d {
            [0xff] => return Err(Error::Truncated),
            [0xff, c, ..] if *c != 0x03 => return Err(Error::Malformed),
            _ => {}
        }
        let start = self.protocol_start();
        let need = match d.get(start) {
            None => return Err(Error::Truncated),
            Some(b) if b & 1 == 1 => start + 1,
            Some(_) => start + 2,
        };
        if d.len() < need {
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

    /// Offset of the protocol field: 2 if the address/control pair is present.
    #[inline]
    fn protocol_start(&self) -> usize {
        match self.buffer.as_ref() {
            [0xff, 0x03, ..] => 2,
            _ => 0,
        }
    }

    /// The PPP protocol (see [`ppp_protocol`]).
    #[inline]
    pub fn protocol(&self) -> u16 {
        let d = self.buffer.as_ref();
        let s = self.protocol_start();
        if d[s] & 1 == 1 {
            d[s] as u16
        } else {
            be_u16(&d[s..s + 2])
        }
    }

    /// Length of the header (2 to 4 bytes).
    #[inline]
    pub fn header_len(&self) -> usize {
        let s = self.protocol_start();
        if self.buffer.as_ref()[s] & 1 == 1 {
            s + 1
        } else {
            s + 2
        }
    }

    /// What follows the protocol field, to the end of the buffer.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deconstruct_session() {
        let bytes = [0x11, 0x00, 0x12, 0x34, 0x00, 0x2a, 0x00, 0x21, 0x45];
        let s = Session::new_checked(&bytes[..]).unwrap();
        assert_eq!(s.ver_type(), 0x11);
        assert_eq!(s.code(), 0);
        assert_eq!(s.session_id(), 0x1234);
        assert_eq!(s.length(), 42);
        assert_eq!(s.ppp_protocol(), ppp_protocol::IPV4);
        assert_eq!(s.payload(), &[0x45]);
    }

    #[test]
    fn session_malformed_and_truncated() {
        let bytes = [0x21, 0x00, 0x12, 0x34, 0x00, 0x2a, 0x00, 0x21];
        assert_eq!(Session::new_checked(&bytes[..]), Err(Error::Malformed));
        let bytes = [0x11, 0x00, 0x12, 0x34, 0x00, 0x2a, 0x00, 0x21];
        for n in 0..HEADER_LEN {
            assert_eq!(Session::new_checked(&bytes[..n]), Err(Error::Truncated));
        }
    }

    #[test]
    fn ppp_framings() {
        // Address/control and 2-byte protocol.
        let h = PppHeader::new_checked(&[0xff, 0x03, 0x00, 0x21, 0x45][..]).unwrap();
        assert_eq!((h.protocol(), h.header_len()), (ppp_protocol::IPV4, 4));
        assert_eq!(h.payload(), &[0x45]);
        // Address/control compressed.
        let h = PppHeader::new_checked(&[0x00, 0x57, 0x60][..]).unwrap();
        assert_eq!((h.protocol(), h.header_len()), (ppp_protocol::IPV6, 2));
        // Both compressed: 1-byte protocol.
        let h = PppHeader::new_checked(&[0x21, 0x45][..]).unwrap();
        assert_eq!((h.protocol(), h.header_len()), (ppp_protocol::IPV4, 1));
        let h = PppHeader::new_checked(&[0xff, 0x03, 0x57][..]).unwrap();
        assert_eq!((h.protocol(), h.header_len()), (ppp_protocol::IPV6, 3));
        let h = PppHeader::new_checked(&[0xc0, 0x21][..]).unwrap();
        assert_eq!(h.protocol(), ppp_protocol::LCP);
    }

    #[test]
    fn ppp_truncated_and_malformed() {
        let cut = [
            &[][..],
            &[0xff],
            &[0x00],
            &[0xff, 0x03],
            &[0xff, 0x03, 0x00],
        ];
        for b in cut {
            assert_eq!(PppHeader::new_checked(b), Err(Error::Truncated), "{b:?}");
        }
        let bad = [0xff, 0x00, 0x21];
        assert_eq!(PppHeader::new_checked(&bad[..]), Err(Error::Malformed));
    }
}
