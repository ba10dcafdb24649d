//! BSD loopback header (LINKTYPE_NULL, LINKTYPE_LOOP): a 4-byte address
//! family. DLT_NULL writes it in the capturing host's byte order and DLT_LOOP
//! in network byte order, so both byte orders are accepted.

use super::{Error, Result};

/// Address family values that mean IPv4 and IPv6 on the BSDs and macOS.
pub mod family {
    /// IPv4, on every BSD and on macOS.
    pub const INET: u32 = 2;
    /// NetBSD, OpenBSD, BSD/OS.
    pub const INET6_BSD: u32 = 24;
    /// FreeBSD, DragonFly BSD.
    pub const INET6_FREEBSD: u32 = 28;
    /// macOS / Darwin.
    pub const INET6_DARWIN: u32 = 30;
}

mod field {
    use crate::wire::{Field, Rest};

    pub(super) const FAMILY: Field = 0..4;
    pub(super) const PAYLOAD: Rest = 4..;
}

/// Length of the loopback header.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// A read-only view of a BSD loopback header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Wraps a buffer without checking it; getters panic if it is too short.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Header<T> {
        Header { buffer }
    }

    /// Wraps a buffer that holds at least the 4-byte header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Header<T>> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
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

    /// The family as stored, read little-endian and big-endian.
    #[inline]
    pub fn family_le_be(&self) -> (u32, u32) {
        let f = &self.buffer.as_ref()[field::FAMILY];
        let b = [f[0], f[1], f[2], f[3]];
        (u32::from_le_bytes(b), u32::from_be_bytes(b))
    }

    /// 4 or 6 if the family (in either byte order) is IPv4 or IPv6.
    #[inline]
    pub fn ip_version(&self) -> Option<u8> {
        let (le, be) = self.family_le_be();
        let of = |f: u32| match f {
            family::INET => Some(4),
            family::INET6_BSD | family::INET6_FREEBSD | family::INET6_DARWIN => Some(6),
            _ => None,
        };
        of(le).or_else(|| of(be))
    }

    /// What follows the 4-byte family: an IPv4 or IPv6 packet.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_byte_orders() {
        let cases: [([u8; 4], Option<u8>); 10] = [
            ([2, 0, 0, 0], Some(4)),
            ([0, 0, 0, 2], Some(4)),
            ([24, 0, 0, 0], Some(6)),
            ([0, 0, 0, 24], Some(6)),
            ([28, 0, 0, 0], Some(6)),
            ([0, 0, 0, 28], Some(6)),
            ([30, 0, 0, 0], Some(6)),
            ([0, 0, 0, 30], Some(6)),
            ([7, 0, 0, 0], None),
            ([0, 2, 0, 0], None),
        ];
        for (bytes, want) in cases {
            let h = Header::new_checked(&bytes[..]).unwrap();
            assert_eq!(h.ip_version(), want, "{bytes:?}");
        }
    }

    #[test]
    fn deconstruct() {
        let bytes = [2, 0, 0, 0, 0x45, 0x00];
        let h = Header::new_checked(&bytes[..]).unwrap();
        assert_eq!(h.family_le_be(), (2, 0x0200_0000));
        assert_eq!(h.payload(), &[0x45, 0x00]);
    }

    #[test]
    fn truncated() {
        let bytes = [2, 0, 0, 0];
        for n in 0..HEADER_LEN {
            assert_eq!(Header::new_checked(&bytes[..n]), Err(Error::Truncated));
        }
    }
}
