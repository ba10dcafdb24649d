//! TCP header (RFC 9293) and the handshake options the flow engine records
//! (MSS, window scale, SACK permitted).

use super::{be_u16, be_u32, Error, IpPair, IpProtocol, Result, TcpFlags};

mod field {
    use crate::wire::Field;

    pub(super) const SRC_PORT: Field = 0..2;
    pub(super) const DST_PORT: Field = 2..4;
    pub(super) const SEQ_NUM: Field = 4..8;
    pub(super) const ACK_NUM: Field = 8..12;
    /// Data offset (high nibble of the first byte).
    pub(super) const DATA_OFF: usize = 12;
    /// CWR ECE URG ACK PSH RST SYN FIN.
    pub(super) const FLAGS: usize = 13;
    pub(super) const WIN_SIZE: Field = 14..16;
    pub(super) const CHECKSUM: Field = 16..18;
    pub(super) const URGENT: Field = 18..20;
}

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = field::URGENT.end;

/// TCP option kinds.
pub mod option_kind {
    /// End of the option list.
    pub const END: u8 = 0;
    /// No-operation (padding between options).
    pub const NOP: u8 = 1;
    /// Maximum segment size (SYN only).
    pub const MSS: u8 = 2;
    /// Window scale shift (SYN only).
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK permitted (SYN only).
    pub const SACK_PERMITTED: u8 = 4;
}

/// A read-only view of a TCP segment.
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

    /// `Truncated` if the buffer ends before byte 20 or inside the options,
    /// `Malformed` if the data offset is below 5.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let d = self.buffer.as_ref();
        if d.len() < HEADER_LEN {
            Err(Error::Truncated)
        } else if self.header_len() < HEADER_LEN {
            Err(Error::Malformed)
        } else if d.len() < self.header_len() {
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

    /// Sequence number of the segment's first byte (of the SYN or FIN when
    /// set).
    #[inline]
    pub fn seq_number(&self) -> u32 {
        be_u32(&self.buffer.as_ref()[field::SEQ_NUM])
    }

    /// Acknowledgement number: the next byte expected from the peer (valid with
    /// ACK).
    #[inline]
    pub fn ack_number(&self) -> u32 {
        be_u32(&self.buffer.as_ref()[field::ACK_NUM])
    }

    /// Header length in bytes (data offset × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        ((self.buffer.as_ref()[field::DATA_OFF] >> 4) as usize) * 4
    }

    /// The flags byte.
    #[inline]
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buffer.as_ref()[field::FLAGS])
    }

    /// True when the SYN flag is set.
    #[inline]
    pub fn syn(&self) -> bool {
        self.flags().contains(TcpFlags::SYN)
    }

    /// Receive window as sent, not scaled by the window scale option.
    #[inline]
    pub fn window_len(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::WIN_SIZE])
    }

    /// Checksum as stored (not verified).
    #[inline]
    pub fn checksum(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

    /// Urgent pointer: offset of the urgent data's end from `seq_number` (valid
    /// with URG).
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::URGENT])
    }

    /// The options bytes.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The handshake options, decoded from [`Packet::options`].
    #[inline]
    pub fn syn_options(&self) -> SynOptions {
        SynOptions::parse(self.options())
    }

    /// What follows the header and its options, to the end of the buffer.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
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

    /// Sets the sequence number.
    #[inline]
    pub fn set_seq_number(&mut self, v: u32) {
        self.buffer.as_mut()[field::SEQ_NUM].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the acknowledgement number.
    #[inline]
    pub fn set_ack_number(&mut self, v: u32) {
        self.buffer.as_mut()[field::ACK_NUM].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the header length (20..=60, a multiple of 4); the reserved
    /// bits are cleared.
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        debug_assert!(len.is_multiple_of(4) && (20..=60).contains(&len));
        self.buffer.as_mut()[field::DATA_OFF] = ((len / 4) as u8) << 4;
    }

    /// Sets the flags byte.
    #[inline]
    pub fn set_flags(&mut self, v: TcpFlags) {
        self.buffer.as_mut()[field::FLAGS] = v.0;
    }

    /// Sets the window field.
    #[inline]
    pub fn set_window_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::WIN_SIZE].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the urgent pointer.
    #[inline]
    pub fn set_urgent_at(&mut self, v: u16) {
        self.buffer.as_mut()[field::URGENT].copy_from_slice(&v.to_be_bytes());
    }

    /// Computes the checksum over the whole buffer (the segment) behind
    /// `ip`'s pseudo header and stores it.
    #[inline]
    pub fn fill_checksum(&mut self, ip: &IpPair) {
        self.set_checksum(0);
        let c = ip.transport_checksum(IpProtocol::TCP, self.buffer.as_ref());
        self.set_checksum(c);
    }

    /// The options area (per the header length), to write.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..hl]
    }

    /// Everything after the header, to write.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[hl..]
    }
}

/// A TCP segment's fields, options and payload (the urgent pointer is
/// neither read nor written: always 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Repr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq_number: u32,
    /// Acknowledgement number (meaningful with ACK).
    pub ack_number: u32,
    /// The flags.
    pub flags: TcpFlags,
    /// Window field (unscaled).
    pub window_len: u16,
    /// The options area, padded to a multiple of 4 bytes, at most 40.
    pub options: &'a [u8],
    /// The payload.
    pub payload: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Reads a segment (the buffer holds exactly the segment: the IP
    /// payload) sent between `ip`: errors as [`Packet::check_len`], and
    /// `Checksum` if the checksum does not verify.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>, ip: &IpPair) -> Result<Repr<'a>> {
        packet.check_len()?;
        let data: &'a [u8] = T::as_ref(packet.buffer);
        if ip.transport_checksum(IpProtocol::TCP, data) != 0 {
            return Err(Error::Checksum);
        }
        let hl = packet.header_len();
        Ok(Repr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq_number: packet.seq_number(),
            ack_number: packet.ack_number(),
            flags: packet.flags(),
            window_len: packet.window_len(),
            options: &data[HEADER_LEN..hl],
            payload: &data[hl..],
        })
    }

    /// Bytes of header (options included).
    pub const fn header_len(&self) -> usize {
        HEADER_LEN + self.options.len()
    }

    /// Bytes of header, options and payload.
    pub const fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Writes the segment, checksum included, into `packet`, whose buffer
    /// must be exactly [`Repr::buffer_len`] bytes. Panics if the options
    /// are not padded to 4 bytes or longer than 40.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]> + ?Sized>(
        &self,
        packet: &mut Packet<&mut T>,
        ip: &IpPair,
    ) {
        assert!(
            self.options.len().is_multiple_of(4) && self.options.len() <= 40,
            "TCP options padded to 4 bytes, at most 40"
        );
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq_number);
        packet.set_ack_number(self.ack_number);
        packet.set_header_len(self.header_len());
        packet.set_flags(self.flags);
        packet.set_window_len(self.window_len);
        packet.set_urgent_at(0);
        packet.options_mut().copy_from_slice(self.options);
        packet.payload_mut()[..self.payload.len()].copy_from_slice(self.payload);
        packet.fill_checksum(ip);
    }
}

/// The options a SYN or SYN/ACK negotiates, as the flow engine records them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynOptions {
    /// Maximum segment size, 0 if absent.
    pub mss: u16,
    /// Window scale shift, 0xff if absent.
    pub wscale: u8,
    /// True when the SACK-permitted option is present.
    pub sack_permitted: bool,
}

impl Default for SynOptions {
    fn default() -> Self {
        SynOptions {
            mss: 0,
            wscale: 0xff,
            sack_permitted: false,
        }
    }
}

impl SynOptions {
    /// Decodes MSS, window scale and SACK permitted from an options area.
    /// Stops at End of Option List or at the first option whose length is
    /// invalid or runs past the area; options seen until then are kept, an
    /// option with the wrong length for its kind is ignored.
    pub fn parse(opts: &[u8]) -> SynOptions {
        let mut out = SynOptions::default();
        let mut i = 0;
        while i < opts.len() {
            match opts[i] {
                option_kind::END => break,
                option_kind::NOP => i += 1,
                kind => {
                    let Some(&len) = opts.get(i + 1) else { break };
                    let len = len as usize;
                    if len < 2 || i + len > opts.len() {
                        break;
                    }
                    match (kind, len) {
                        (option_kind::MSS, 4) => out.mss = be_u16(&opts[i + 2..i + 4]),
                        (option_kind::WINDOW_SCALE, 3) => out.wscale = opts[i + 2],
                        (option_kind::SACK_PERMITTED, 2) => out.sack_permitted = true,
                        _ => {}
                    }
                    i += len;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SYN from port 49152 to 443 with MSS 1460, SACK permitted,
    /// timestamps, NOP, window scale 7 (a Linux SYN).
    static SYN: [u8; 40] = [
        0xc0, 0x00, 0x01, 0xbb, // ports
        0x12, 0x34, 0x56, 0x78, // seq
        0x00, 0x00, 0x00, 0x00, // ack
        0xa0, 0x02, 0xfa, 0xf0, // data offset 10, SYN, window 64240
        0xbe, 0xef, 0x00, 0x00, // checksum, urgent
        0x02, 0x04, 0x05, 0xb4, // MSS 1460
        0x04, 0x02, // SACK permitted
        0x08, 0x0a, 0x00, 0x01, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00, // TS
        0x01, // NOP
        0x03, 0x03, 0x07, // WS 7
    ];

    const V6: IpPair = IpPair::V6 {
        src: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        dst: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
    };

    #[test]
    fn repr_round_trip_and_checksum() {
        let r = Repr {
            src_port: 49152,
            dst_port: 443,
            seq_number: 0x1234_5678,
            ack_number: 0,
            flags: TcpFlags::SYN,
            window_len: 64240,
            options: &SYN[20..40],
            payload: &[],
        };
        let mut buf = [0u8; 40];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]), &V6);
        // Everything but the checksum is the capture's SYN.
        assert_eq!(&buf[..16], &SYN[..16]);
        assert_eq!(&buf[18..], &SYN[18..]);
        assert_eq!(V6.transport_checksum(IpProtocol::TCP, &buf), 0);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p, &V6), Ok(r));
        assert_eq!((r.header_len(), r.buffer_len()), (40, 40));
        // The capture's SYN has a made-up checksum.
        let p = Packet::new_checked(&SYN[..]).unwrap();
        assert_eq!(Repr::parse(&p, &V6), Err(Error::Checksum));
        fn parse(b: &[u8]) -> Result<Repr<'_>> {
            Repr::parse(&Packet::new_unchecked(b), &V6)
        }
        assert_eq!(parse(&buf[..39]), Err(Error::Truncated));
        let mut small = buf;
        small[12] = 0x40;
        assert_eq!(parse(&small), Err(Error::Malformed));
    }

    #[test]
    fn repr_with_payload() {
        let r = Repr {
            src_port: 1,
            dst_port: 2,
            seq_number: 3,
            ack_number: 4,
            flags: TcpFlags::PSH | TcpFlags::ACK,
            window_len: 5,
            options: &[],
            payload: b"hello",
        };
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]), &V6.reverse());
        assert_eq!(buf[12], 5 << 4);
        assert_eq!(&buf[20..], b"hello");
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p, &V6.reverse()), Ok(r));
        let v4 = IpPair::V4 {
            src: [10, 0, 0, 1],
            dst: [10, 0, 0, 2],
        };
        assert_eq!(Repr::parse(&p, &v4), Err(Error::Checksum));
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&SYN[..]).unwrap();
        assert_eq!(p.src_port(), 49152);
        assert_eq!(p.dst_port(), 443);
        assert_eq!(p.seq_number(), 0x1234_5678);
        assert_eq!(p.ack_number(), 0);
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), TcpFlags::SYN);
        assert!(p.syn());
        assert_eq!(p.window_len(), 64240);
        assert_eq!(p.checksum(), 0xbeef);
        assert_eq!(p.urgent_at(), 0);
        assert_eq!(p.options().len(), 20);
        assert!(p.payload().is_empty());
        assert_eq!(
            p.syn_options(),
            SynOptions {
                mss: 1460,
                wscale: 7,
                sack_permitted: true
            }
        );
    }

    #[test]
    fn options_edge_cases() {
        assert_eq!(SynOptions::parse(&[]), SynOptions::default());
        // End of list stops parsing.
        assert_eq!(SynOptions::parse(&[0, 2, 4, 5, 0xb4]).mss, 0);
        // Zero or one length: stop, keep what was seen.
        let o = SynOptions::parse(&[4, 2, 8, 0, 2, 4, 5, 0xb4]);
        assert!(o.sack_permitted);
        assert_eq!(o.mss, 0);
        assert_eq!(SynOptions::parse(&[3, 1, 7]).wscale, 0xff);
        // Runs past the area.
        assert_eq!(SynOptions::parse(&[2, 4, 5]).mss, 0);
        // Kind without length byte.
        assert_eq!(SynOptions::parse(&[1, 1, 3]), SynOptions::default());
        // Wrong length for the kind: ignored, parsing continues.
        let o = SynOptions::parse(&[2, 3, 5, 3, 3, 14]);
        assert_eq!((o.mss, o.wscale), (0, 14));
    }

    #[test]
    fn malformed_and_truncated() {
        for n in 0..40 {
            assert_eq!(Packet::new_checked(&SYN[..n]), Err(Error::Truncated), "{n}");
        }
        let mut b = SYN;
        b[12] = 0x40; // data offset 4
        assert_eq!(Packet::new_checked(&b[..]), Err(Error::Malformed));
        b[12] = 0x50;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload().len(), 20);
        assert!(p.options().is_empty());
    }
}
