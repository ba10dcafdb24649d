//! UDP header (RFC 768).

use super::{be_u16, Error, IpPair, IpProtocol, Result};

mod field {
    use crate::wire::{Field, Rest};

    pub(super) const SRC_PORT: Field = 0..2;
    pub(super) const DST_PORT: Field = 2..4;
    pub(super) const LENGTH: Field = 4..6;
    pub(super) const CHECKSUM: Field = 6..8;
    pub(super) const PAYLOAD: Rest = 8..;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// A read-only view of a UDP datagram.
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

    /// Wraps a buffer that holds the 8-byte header. The length field is not
    /// checked against the buffer: the IP header is authoritative.
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

    /// Gives back the wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::SRC_PORT])
    }

    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::DST_PORT])
    }

    /// Length field (header included) as stored.
    #[inline]
    pub fn length(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::LENGTH])
    }

    /// Checksum as stored (0 = none, allowed over IPv4; not verified).
    #[inline]
    pub fn checksum(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// What follows the 8-byte header, to the end of the buffer (`length` is
    /// not applied).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port.
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        self.buffer.as_mut()[field::SRC_PORT].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the destination port.
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        self.buffer.as_mut()[field::DST_PORT].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the length field (header included).
    #[inline]
    pub fn set_length(&mut self, v: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }

    /// Computes the checksum over the datagram (its length field's worth)
    /// behind `ip`'s pseudo header and stores it; a computed zero is sent as
    /// all ones (RFC 768).
    #[inline]
    pub fn fill_checksum(&mut self, ip: &IpPair) {
        self.set_checksum(0);
        let len = self.length() as usize;
        let c = match ip.transport_checksum(IpProtocol::UDP, &self.buffer.as_ref()[..len]) {
            0 => 0xffff,
            c => c,
        };
        self.set_checksum(c);
    }

    /// Everything after the header, to write.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// A UDP datagram's ports and payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The payload.
    pub payload: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Reads a datagram sent between `ip`: `Malformed` for a length field
    /// below 8 or a missing checksum over IPv6, `Truncated` if the buffer
    /// ends before the length field says, `Checksum` if the checksum does
    /// not verify (a zero checksum over IPv4 means none).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>, ip: &IpPair) -> Result<Repr<'a>> {
        packet.check_len()?;
        let data: &'a [u8] = T::as_ref(packet.buffer);
        let len = packet.length() as usize;
        if len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if data.len() < len {
            return Err(Error::Truncated);
        }
        match packet.checksum() {
            0 if ip.is_ipv6() => return Err(Error::Malformed),
            0 => {}
            _ if ip.transport_checksum(IpProtocol::UDP, &data[..len]) != 0 => {
                return Err(Error::Checksum)
            }
            _ => {}
        }
        Ok(Repr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            payload: &data[HEADER_LEN..len],
        })
    }

    /// Bytes of header and payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Writes the datagram, checksum included, into the first
    /// [`Repr::buffer_len`] bytes of `packet`. The datagram must fit
    /// 65,535 bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        packet: &mut Packet<&mut T>,
        ip: &IpPair,
    ) {
        let len = self.buffer_len();
        debug_assert!(len <= 0xffff, "UDP datagram too long");
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_length(len as u16);
        packet.payload_mut()[..self.payload.len()].copy_from_slice(self.payload);
        packet.fill_checksum(ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deconstruct() {
        let b = [
            0xd4, 0x31, 0x00, 0x35, 0x00, 0x0b, 0x12, 0x34, 0xaa, 0xbb, 0xcc,
        ];
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.src_port(), 54321);
        assert_eq!(p.dst_port(), 53);
        assert_eq!(p.length(), 11);
        assert_eq!(p.checksum(), 0x1234);
        assert_eq!(p.payload(), &[0xaa, 0xbb, 0xcc]);
    }

    const V4: IpPair = IpPair::V4 {
        src: [192, 168, 0, 1],
        dst: [192, 168, 0, 199],
    };

    #[test]
    fn repr_known_bytes_and_round_trip() {
        let r = Repr {
            src_port: 54321,
            dst_port: 53,
            payload: b"abc",
        };
        let mut buf = [0u8; 11];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]), &V4);
        // Pseudo header c0a8 0001 c0a8 00c7 0011 000b, header d431 0035
        // 000b, data 6162 63(00): one's-complement sum 0x1b0a, checksum 0xe4f5.
        assert_eq!(
            buf,
            [0xd4, 0x31, 0x00, 0x35, 0x00, 0x0b, 0xe4, 0xf5, 0x61, 0x62, 0x63]
        );
        assert_eq!(r.buffer_len(), 11);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p, &V4), Ok(r));
        // The same datagram between other addresses does not verify.
        let other = IpPair::V4 {
            src: [192, 168, 0, 2],
            dst: [192, 168, 0, 199],
        };
        assert_eq!(Repr::parse(&p, &other), Err(Error::Checksum));
    }

    #[test]
    fn repr_rejects_bad_input() {
        let r = Repr {
            src_port: 1,
            dst_port: 2,
            payload: &[9; 5],
        };
        let mut buf = [0u8; 13];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]), &V4);
        fn parse(b: &[u8]) -> Result<Repr<'_>> {
            Repr::parse(&Packet::new_unchecked(b), &V4)
        }
        assert_eq!(parse(&buf[..12]), Err(Error::Truncated));
        assert_eq!(parse(&buf[..7]), Err(Error::Truncated));
        let mut short = buf;
        short[5] = 7;
        assert_eq!(parse(&short), Err(Error::Malformed));
        let mut flipped = buf;
        flipped[10] ^= 0x40;
        assert_eq!(parse(&flipped), Err(Error::Checksum));
        // No checksum: fine over IPv4, not over IPv6.
        let mut none = buf;
        none[6..8].fill(0);
        assert_eq!(parse(&none), Ok(r));
        let v6 = IpPair::V6 {
            src: [1; 16],
            dst: [2; 16],
        };
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&none[..]), &v6),
            Err(Error::Malformed)
        );
    }

    #[test]
    fn truncated() {
        let b = [0u8; 8];
        for n in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&b[..n]), Err(Error::Truncated));
        }
        assert!(Packet::new_checked(&b[..]).unwrap().payload().is_empty());
    }
}
