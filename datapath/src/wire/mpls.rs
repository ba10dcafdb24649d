//! One MPLS label stack entry (RFC 3032). The stack is walked by the parser
//! until the entry with the bottom-of-stack bit; what follows carries no
//! type, so the parser looks at the IP version nibble.

use super::{be_u32, Error, Result};

mod field {
    use crate::wire::{Field, Rest};

    /// Label (20 bits), traffic class (3), bottom of stack (1), TTL (8).
    pub(super) const ENTRY: Field = 0..4;
    pub(super) const PAYLOAD: Rest = 4..;
}

/// Length of one label stack entry.
pub const HEADER_LEN: usize = field::PAYLOAD.start;

/// A read-only view of one MPLS label stack entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Label<T> {
    /// Wraps a buffer without checking it; getters panic if it is too short.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Label<T> {
        Label { buffer }
    }

    /// Wraps a buffer that holds at least one 4-byte entry.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Label<T>> {
        let l = Self::new_unchecked(buffer);
        l.check_len()?;
        Ok(l)
    }

    /// `Err(Truncated)` if the buffer is shorter than an entry.
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

    #[inline]
    fn entry(&self) -> u32 {
        be_u32(&self.buffer.as_ref()[field::ENTRY])
    }

    /// The 20-bit label value.
    #[inline]
    pub fn label(&self) -> u32 {
        self.entry() >> 12
    }

    /// Traffic class (formerly EXP).
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        ((self.entry() >> 9) & 0x7) as u8
    }

    /// True for the last entry of the stack.
    #[inline]
    pub fn bottom_of_stack(&self) -> bool {
        self.buffer.as_ref()[field::ENTRY][2] & 0x01 != 0
    }

    /// Time to live of the entry.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::ENTRY][3]
    }

    /// What follows this entry: the next entry, or the payload after the bottom
    /// of the stack.
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
        // Label 16000, TC 5, not bottom, TTL 64; then label 3, bottom, TTL 255.
        let bytes = [0x03, 0xe8, 0x0a, 0x40, 0x00, 0x00, 0x31, 0xff, 0x45];
        let l = Label::new_checked(&bytes[..]).unwrap();
        assert_eq!(l.label(), 16000);
        assert_eq!(l.traffic_class(), 5);
        assert!(!l.bottom_of_stack());
        assert_eq!(l.ttl(), 64);
        let l = Label::new_checked(l.payload()).unwrap();
        assert_eq!(l.label(), 3);
        assert!(l.bottom_of_stack());
        assert_eq!(l.ttl(), 255);
        assert_eq!(l.payload(), &[0x45]);
    }

    #[test]
    fn truncated() {
        let bytes = [0x00, 0x00, 0x01, 0x40];
        for n in 0..HEADER_LEN {
            assert_eq!(Label::new_checked(&bytes[..n]), Err(Error::Truncated));
        }
    }
}
