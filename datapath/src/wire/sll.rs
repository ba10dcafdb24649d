//! Linux "cooked" capture headers: SLL (LINKTYPE_LINUX_SLL, 16 bytes) and
//! SLL2 (LINKTYPE_LINUX_SLL2, 20 bytes). Both carry an EtherType-valued
//! protocol and the sender's link-layer address.

use super::{array, be_u16, be_u32, Error, EtherType, Result};

/// ARPHRD_ETHER: the link-layer address is a MAC address.
pub const ARPHRD_ETHER: u16 = 1;

/// Packet type values (`PACKET_*` in `<linux/if_packet.h>`).
pub mod packet_type {
    /// Addressed to the capturing host.
    pub const HOST: u8 = 0;
    /// Link-layer broadcast.
    pub const BROADCAST: u8 = 1;
    /// Link-layer multicast.
    pub const MULTICAST: u8 = 2;
    /// Addressed to another host (seen in promiscuous mode).
    pub const OTHERHOST: u8 = 3;
    /// Sent by the capturing host.
    pub const OUTGOING: u8 = 4;
}

mod field {
    use crate::wire::{Field, Rest};

    pub(super) const PACKET_TYPE: Field = 0..2;
    pub(super) const HATYPE: Field = 2..4;
    pub(super) const ADDR_LEN: Field = 4..6;
    pub(super) const ADDR: Field = 6..14;
    pub(super) const PROTOCOL: Field = 14..16;
    pub(super) const PAYLOAD: Rest = 16..;
}

mod field2 {
    use crate::wire::{Field, Rest};

    pub(super) const PROTOCOL: Field = 0..2;
    pub(super) const RESERVED: Field = 2..4;
    pub(super) const IFINDEX: Field = 4..8;
    pub(super) const HATYPE: Field = 8..10;
    pub(super) const PACKET_TYPE: usize = 10;
    pub(super) const ADDR_LEN: usize = 11;
    pub(super) const ADDR: Field = 12..20;
    pub(super) const PAYLOAD: Rest = 20..;
}

/// Length of an SLL header.
pub const HEADER_LEN: usize = field::PAYLOAD.start;
/// Length of an SLL2 header.
pub const HEADER2_LEN: usize = field2::PAYLOAD.start;

#[inline]
fn mac_of(hatype: u16, addr_len: usize, addr: &[u8]) -> Option<[u8; 6]> {
    if hatype == ARPHRD_ETHER && addr_len == 6 {
        Some(array(addr))
    } else {
        None
    }
}

/// A read-only view of a Linux cooked capture v1 header.
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

    /// Wraps a buffer that holds at least the 16-byte header.
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

    /// Packet type (see [`packet_type`]).
    #[inline]
    pub fn packet_type(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::PACKET_TYPE])
    }

    /// ARPHRD_* type of the capturing interface.
    #[inline]
    pub fn hatype(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::HATYPE])
    }

    /// Length of the link-layer address (at most 8 bytes are stored).
    #[inline]
    pub fn addr_len(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::ADDR_LEN])
    }

    /// The 8 address bytes as stored (only `addr_len` of them are valid).
    #[inline]
    pub fn addr(&self) -> [u8; 8] {
        array(&self.buffer.as_ref()[field::ADDR])
    }

    /// The sender's MAC address, if the interface is Ethernet.
    #[inline]
    pub fn src_mac(&self) -> Option<[u8; 6]> {
        let d = self.buffer.as_ref();
        mac_of(self.hatype(), self.addr_len() as usize, &d[field::ADDR])
    }

    /// The protocol: an EtherType for values >= 0x0600.
    #[inline]
    pub fn protocol(&self) -> EtherType {
        EtherType(be_u16(&self.buffer.as_ref()[field::PROTOCOL]))
    }

    /// What follows the 16-byte header: a packet of `protocol`.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

/// A read-only view of a Linux cooked capture v2 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header2<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header2<T> {
    /// Wraps a buffer without checking it; getters panic if it is too short.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Header2<T> {
        Header2 { buffer }
    }

    /// Wraps a buffer that holds at least the 20-byte header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Header2<T>> {
        let h = Self::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    /// `Err(Truncated)` if the buffer is shorter than the header.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER2_LEN {
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

    /// The protocol: an EtherType for values >= 0x0600.
    #[inline]
    pub fn protocol(&self) -> EtherType {
        EtherType(be_u16(&self.buffer.as_ref()[field2::PROTOCOL]))
    }

    /// Reserved, should be zero.
    #[inline]
    pub fn reserved(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field2::RESERVED])
    }

    /// Interface index of the capturing interface.
    #[inline]
    pub fn ifindex(&self) -> u32 {
        be_u32(&self.buffer.as_ref()[field2::IFINDEX])
    }

    /// ARPHRD_* type of the capturing interface.
    #[inline]
    pub fn hatype(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field2::HATYPE])
    }

    /// Packet type (see [`packet_type`]).
    #[inline]
    pub fn packet_type(&self) -> u8 {
        self.buffer.as_ref()[field2::PACKET_TYPE]
    }

    /// Length of the link-layer address (at most 8 bytes are stored).
    #[inline]
    pub fn addr_len(&self) -> u8 {
        self.buffer.as_ref()[field2::ADDR_LEN]
    }

    /// The 8 address bytes as stored (only `addr_len` of them are valid).
    #[inline]
    pub fn addr(&self) -> [u8; 8] {
        array(&self.buffer.as_ref()[field2::ADDR])
    }

    /// The sender's MAC address, if the interface is Ethernet.
    #[inline]
    pub fn src_mac(&self) -> Option<[u8; 6]> {
        let d = self.buffer.as_ref();
        mac_of(self.hatype(), self.addr_len() as usize, &d[field2::ADDR])
    }

    /// What follows the 20-byte header: a packet of `protocol`.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field2::PAYLOAD]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static SLL: [u8; 17] = [
        0x00, 0x04, // outgoing
        0x00, 0x01, // ARPHRD_ETHER
        0x00, 0x06, // address length
        0x02, 0x42, 0xac, 0x11, 0x00, 0x02, 0x00, 0x00, // address, padded to 8
        0x08, 0x00, // IPv4
        0x45,
    ];

    static SLL2: [u8; 21] = [
        0x86, 0xdd, // IPv6
        0x00, 0x00, // reserved
        0x00, 0x00, 0x00, 0x03, // ifindex 3
        0x00, 0x01, // ARPHRD_ETHER
        0x00, // host
        0x06, // address length
        0x02, 0x42, 0xac, 0x11, 0x00, 0x02, 0x00, 0x00, // address
        0x60,
    ];

    #[test]
    fn deconstruct_sll() {
        let h = Header::new_checked(&SLL[..]).unwrap();
        assert_eq!(h.packet_type(), packet_type::OUTGOING as u16);
        assert_eq!(h.hatype(), ARPHRD_ETHER);
        assert_eq!(h.addr_len(), 6);
        assert_eq!(h.addr()[..6], [0x02, 0x42, 0xac, 0x11, 0x00, 0x02]);
        assert_eq!(h.src_mac(), Some([0x02, 0x42, 0xac, 0x11, 0x00, 0x02]));
        assert_eq!(h.protocol(), EtherType::IPV4);
        assert_eq!(h.payload(), &[0x45]);
    }

    #[test]
    fn deconstruct_sll2() {
        let h = Header2::new_checked(&SLL2[..]).unwrap();
        assert_eq!(h.protocol(), EtherType::IPV6);
        assert_eq!(h.reserved(), 0);
        assert_eq!(h.ifindex(), 3);
        assert_eq!(h.hatype(), ARPHRD_ETHER);
        assert_eq!(h.packet_type(), packet_type::HOST);
        assert_eq!(h.addr_len(), 6);
        assert_eq!(h.src_mac(), Some([0x02, 0x42, 0xac, 0x11, 0x00, 0x02]));
        assert_eq!(h.payload(), &[0x60]);
    }

    #[test]
    fn no_mac_on_other_interfaces() {
        let mut b = SLL;
        b[3] = 0x00; // ARPHRD_NETROM (0): not Ethernet
        assert_eq!(Header::new_checked(&b[..]).unwrap().src_mac(), None);
        let mut b = SLL2;
        b[11] = 0; // no address
        assert_eq!(Header2::new_checked(&b[..]).unwrap().src_mac(), None);
    }

    #[test]
    fn truncated() {
        for n in 0..HEADER_LEN {
            assert_eq!(Header::new_checked(&SLL[..n]), Err(Error::Truncated));
        }
        for n in 0..HEADER2_LEN {
            assert_eq!(Header2::new_checked(&SLL2[..n]), Err(Error::Truncated));
        }
    }
}
