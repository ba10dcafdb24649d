//! TCP header (RFC 9293) and the handshake options the flow engine records
//! (MSS, window scale, SACK permitted).

use super::{be_u16, be_u32, Error, Result};

mod field {
    use crate::wire::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    /// Data offset (high nibble of the first byte).
    pub const DATA_OFF: usize = 12;
    /// CWR ECE URG ACK PSH RST SYN FIN.
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
}

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = field::URGENT.end;

/// TCP option kinds.
pub mod option_kind {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
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

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn src_port(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::SRC_PORT])
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::DST_PORT])
    }

    #[inline]
    pub fn seq_number(&self) -> u32 {
        be_u32(&self.buffer.as_ref()[field::SEQ_NUM])
    }

    #[inline]
    pub fn ack_number(&self) -> u32 {
        be_u32(&self.buffer.as_ref()[field::ACK_NUM])
    }

    /// Header length in bytes (data offset × 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        ((self.buffer.as_ref()[field::DATA_OFF] >> 4) as usize) * 4
    }

    /// The flags byte (see [`crate::parse::tcp_flags`]).
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    #[inline]
    pub fn syn(&self) -> bool {
        self.flags() & 0x02 != 0
    }

    #[inline]
    pub fn window_len(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::WIN_SIZE])
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        be_u16(&self.buffer.as_ref()[field::CHECKSUM])
    }

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

    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

/// The options a SYN or SYN/ACK negotiates, as the flow engine records them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SynOptions {
    /// Maximum segment size, 0 if absent.
    pub mss: u16,
    /// Window scale shift, 0xff if absent.
    pub wscale: u8,
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

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&SYN[..]).unwrap();
        assert_eq!(p.src_port(), 49152);
        assert_eq!(p.dst_port(), 443);
        assert_eq!(p.seq_number(), 0x1234_5678);
        assert_eq!(p.ack_number(), 0);
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), 0x02);
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
