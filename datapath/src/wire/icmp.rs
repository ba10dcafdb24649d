//! ICMP (RFC 792) and ICMPv6 (RFC 4443) header: type, code, checksum and
//! the 4-byte rest of header, which holds the identifier and sequence
//! number of echo messages.

use super::{be_u16, checksum, Error, IpPair, IpProtocol, Result};

/// ICMP (v4) message types used by the datapath.
pub mod v4_type {
    /// Echo reply (an answer to a ping).
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable (an error quoting the invoking packet).
    pub const DEST_UNREACHABLE: u8 = 3;
    /// Echo request (a ping).
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded: TTL expired in transit (what traceroute reads) or
    /// reassembly timed out.
    pub const TIME_EXCEEDED: u8 = 11;
}

/// ICMPv6 message types used by the datapath.
pub mod v6_type {
    /// Destination unreachable (an error quoting the invoking packet).
    pub const DEST_UNREACHABLE: u8 = 1;
    /// Packet too big (path MTU discovery).
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time exceeded: hop limit expired in transit (what traceroute reads) or
    /// reassembly timed out.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Echo request (a ping).
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo reply (an answer to a ping).
    pub const ECHO_REPLY: u8 = 129;
}

mod field {
    use crate::wire::{Field, Rest};

    pub(super) const TYPE: usize = 0;
    pub(super) const CODE: usize = 1;
    pub(super) const CHECKSUM: Field = 2..4;
    /// Echo messages: identifier and sequence number.
    pub(super) const ECHO_IDENT: Field = 4..6;
    pub(super) const ECHO_SEQNO: Field = 6..8;
    pub(super) const PAYLOAD: Rest = 8..;
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

    /// Gives back the wrapped buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Message type (see [`v4_type`] and [`v6_type`]).
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Message code (the reason within the type, e.g. port unreachable).
    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum as stored (not verified).
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

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the message type.
    #[inline]
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }

    /// Sets the message code.
    #[inline]
    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the identifier of an echo message.
    #[inline]
    pub fn set_echo_ident(&mut self, v: u16) {
        self.buffer.as_mut()[field::ECHO_IDENT].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the sequence number of an echo message.
    #[inline]
    pub fn set_echo_seq_no(&mut self, v: u16) {
        self.buffer.as_mut()[field::ECHO_SEQNO].copy_from_slice(&v.to_be_bytes());
    }

    /// Computes the checksum over the whole buffer (the message) and
    /// stores it: ICMP's own sum, or ICMPv6's behind the pseudo header of
    /// `ip` (IPv6 addresses).
    #[inline]
    pub fn fill_checksum(&mut self, ip: Option<&IpPair>) {
        self.set_checksum(0);
        let d = self.buffer.as_ref();
        let c = match ip {
            Some(ip) if ip.is_ipv6() => ip.transport_checksum(IpProtocol::ICMPV6, d),
            _ => checksum(d),
        };
        self.set_checksum(c);
    }

    /// What follows the 8-byte header, to write.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// An ICMP or ICMPv6 echo request or reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EchoRepr<'a> {
    /// ICMPv6 (types 128, 129) rather than ICMP (types 8, 0).
    pub v6: bool,
    /// A reply rather than a request.
    pub reply: bool,
    /// Identifier.
    pub ident: u16,
    /// Sequence number.
    pub seq_no: u16,
    /// The data after the header.
    pub data: &'a [u8],
}

impl<'a> EchoRepr<'a> {
    /// The message type.
    pub const fn msg_type(&self) -> u8 {
        match (self.v6, self.reply) {
            (false, false) => v4_type::ECHO_REQUEST,
            (false, true) => v4_type::ECHO_REPLY,
            (true, false) => v6_type::ECHO_REQUEST,
            (true, true) => v6_type::ECHO_REPLY,
        }
    }

    /// Reads an echo message (the buffer holds exactly the message) of
    /// ICMPv6 when `v6`, else of ICMP: `Malformed` for another type or a
    /// non-zero code, `Checksum` if the checksum does not verify. ICMPv6's
    /// checksum covers the IPv6 addresses: it is checked only when `ip` is
    /// given (a ping socket hands over the message without them).
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
        v6: bool,
        ip: Option<&IpPair>,
    ) -> Result<EchoRepr<'a>> {
        packet.check_len()?;
        let data: &'a [u8] = T::as_ref(packet.buffer);
        let reply = match (v6, packet.msg_type()) {
            (false, v4_type::ECHO_REQUEST) | (true, v6_type::ECHO_REQUEST) => false,
            (false, v4_type::ECHO_REPLY) | (true, v6_type::ECHO_REPLY) => true,
            _ => return Err(Error::Malformed),
        };
        if packet.msg_code() != 0 {
            return Err(Error::Malformed);
        }
        let sum = match ip {
            _ if !v6 => checksum(data),
            Some(ip) if ip.is_ipv6() => ip.transport_checksum(IpProtocol::ICMPV6, data),
            _ => 0,
        };
        if sum != 0 {
            return Err(Error::Checksum);
        }
        Ok(EchoRepr {
            v6,
            reply,
            ident: packet.echo_ident(),
            seq_no: packet.echo_seq_no(),
            data: &data[HEADER_LEN..],
        })
    }

    /// Bytes of header and data.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.data.len()
    }

    /// Writes the message into `packet`, whose buffer must be exactly
    /// [`EchoRepr::buffer_len`] bytes. The checksum is filled in for ICMP,
    /// and for ICMPv6 when `ip` gives the IPv6 addresses; without them it
    /// is left 0 (a ping socket's kernel fills it in).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        packet: &mut Packet<&mut T>,
        ip: Option<&IpPair>,
    ) {
        packet.set_msg_type(self.msg_type());
        packet.set_msg_code(0);
        packet.set_echo_ident(self.ident);
        packet.set_echo_seq_no(self.seq_no);
        packet.payload_mut()[..self.data.len()].copy_from_slice(self.data);
        match ip {
            _ if !self.v6 => packet.fill_checksum(None),
            Some(ip) if ip.is_ipv6() => packet.fill_checksum(Some(ip)),
            _ => packet.set_checksum(0),
        }
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
    fn echo_repr_known_bytes() {
        // Request id 0x1234, seq 1, "ab": words 0800 1234 0001 6162 sum
        // to 0x7b97, checksum 0x8468.
        let b = [0x08, 0x00, 0x84, 0x68, 0x12, 0x34, 0x00, 0x01, 0x61, 0x62];
        let r = EchoRepr {
            v6: false,
            reply: false,
            ident: 0x1234,
            seq_no: 1,
            data: b"ab",
        };
        let mut buf = [0u8; 10];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]), None);
        assert_eq!(buf, b);
        assert_eq!(r.buffer_len(), 10);
        assert_eq!(
            EchoRepr::parse(&Packet::new_unchecked(&b[..]), false, None),
            Ok(r)
        );
        let mut bad = b;
        bad[9] ^= 1;
        assert_eq!(
            EchoRepr::parse(&Packet::new_unchecked(&bad[..]), false, None),
            Err(Error::Checksum)
        );
        // Read as ICMPv6, type 8 is no echo.
        assert_eq!(
            EchoRepr::parse(&Packet::new_unchecked(&b[..]), true, None),
            Err(Error::Malformed)
        );
        let mut code = b;
        code[1] = 1;
        assert_eq!(
            EchoRepr::parse(&Packet::new_unchecked(&code[..]), false, None),
            Err(Error::Malformed)
        );
        assert_eq!(
            EchoRepr::parse(&Packet::new_unchecked(&b[..7]), false, None),
            Err(Error::Truncated)
        );
    }

    #[test]
    fn echo_repr_v6_checksum_needs_addresses() {
        let ip = IpPair::V6 {
            src: [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
            dst: [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        };
        let r = EchoRepr {
            v6: true,
            reply: true,
            ident: 7,
            seq_no: 9,
            data: &[1, 2, 3],
        };
        let mut buf = [0u8; 11];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]), Some(&ip));
        assert_eq!(buf[0], v6_type::ECHO_REPLY);
        assert_ne!(&buf[2..4], &[0, 0]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(EchoRepr::parse(&p, true, Some(&ip)), Ok(r));
        assert_eq!(EchoRepr::parse(&p, true, None), Ok(r));
        let other = IpPair::V6 {
            src: [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3],
            dst: [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
        };
        assert_eq!(
            EchoRepr::parse(&p, true, Some(&other)),
            Err(Error::Checksum)
        );
        // Without addresses the checksum is left to the kernel.
        r.emit(&mut Packet::new_unchecked(&mut buf[..]), None);
        assert_eq!(&buf[2..4], &[0, 0]);
    }

    #[test]
    fn truncated() {
        let b = [8u8, 0, 0, 0, 0, 1, 0, 1];
        for n in 0..HEADER_LEN {
            assert_eq!(Packet::new_checked(&b[..n]), Err(Error::Truncated));
        }
    }
}
