//! Streaming reader for classic pcap and pcapng capture files.
//!
//! [`PcapSource`] implements [`FrameSource`] over a capture file, so the same
//! worker loop that runs over AF_XDP runs in replay. It is hand-written rather
//! than built on a pcap crate because we need:
//!
//! - per-interface link type and timestamp resolution in pcapng (every
//!   [`Frame`] carries its own interface's [`LinkType`]);
//! - zero-copy delivery: frames are slices of one reusable internal buffer,
//!   refilled with large reads; nothing is allocated per packet;
//! - total robustness on fuzzed and truncated files: no panic, no infinite
//!   loop, bounded memory.
//!
//! Formats: classic pcap with all four magics (µs and ns resolution, both
//! byte orders), and pcapng with any number of sections (each in its own byte
//! order), Interface Description Blocks (`if_tsresol`, `if_tsoffset`),
//! Enhanced, Simple and obsolete Packet Blocks. All other block types (name
//! resolution, statistics, decryption secrets, custom, ...) are skipped by
//! their length without being buffered. The format is detected by the file's
//! magic number, never by its name.
//!
//! # Bad input
//!
//! Every record the reader cannot use is counted in [`SourceStats::invalid`]:
//!
//! - a file that ends inside a record (truncated capture), or a read error:
//!   one count, then [`Poll::End`];
//! - an absurd length (classic `incl_len` over 256 MiB, a pcapng block length
//!   that is not a multiple of 4, is below the minimum for its type, or
//!   disagrees with the length in the block's trailer, a packet's captured
//!   length larger than its block), an unsupported pcapng version or byte
//!   order: one count, then [`Poll::End`]. The reader does not try to resync:
//!   after such damage nothing that follows can be trusted;
//! - a pcapng packet on an interface that was not described in its section,
//!   or on an interface whose link type is not supported: one count per
//!   packet, the packet is skipped and reading goes on.
//!
//! A frame whose captured length exceeds its original length is delivered
//! whole, with `wire_len` = captured length.

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use super::{Frame, FrameSource, Poll, SourceStats};
use crate::parse::LinkType;

/// Largest captured length of one packet accepted (classic `incl_len`,
/// pcapng captured length). Anything larger means the file is corrupt.
pub const MAX_RECORD: usize = 256 << 20;

/// Largest pcapng block (SHB, IDB or packet block) that is buffered whole:
/// a maximal packet plus room for its header, padding and options.
const MAX_BUFFERED_BLOCK: usize = MAX_RECORD + (64 << 10);

/// Initial size of the read buffer; it grows (doubling, only as data that
/// belongs to one record actually arrives) up to [`MAX_BUFFERED_BLOCK`].
const INITIAL_BUF: usize = 1 << 20;

/// Most pcapng interfaces accepted in one section.
const MAX_INTERFACES: usize = 1 << 16;

const CLASSIC_HEADER_LEN: usize = 24;
const CLASSIC_RECORD_HEADER_LEN: usize = 16;

// pcapng block types.
const BT_SHB: u32 = 0x0A0D_0D0A;
const BT_IDB: u32 = 0x0000_0001;
const BT_PB: u32 = 0x0000_0002;
const BT_SPB: u32 = 0x0000_0003;
const BT_EPB: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

// Minimum total lengths (header 8 + fixed body + trailer 4).
const MIN_BLOCK: usize = 12;
const MIN_SHB: usize = 28;
const MIN_IDB: usize = 20;
const MIN_EPB: usize = 32;
const MIN_PB: usize = 32;
const MIN_SPB: usize = 16;

// IDB option codes.
const OPT_ENDOFOPT: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// Error opening a capture file. Problems found later, while reading
/// records, are counted in [`SourceStats::invalid`] instead.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    /// The file could not be opened or its header could not be read.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The capture file.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// The file is shorter than a capture file header.
    #[error("{}: file too short for a pcap or pcapng header", .path.display())]
    Truncated {
        /// The capture file.
        path: PathBuf,
    },
    /// The file starts with neither a pcap nor a pcapng magic number.
    #[error(
        "{}: not a pcap or pcapng file (starts with {:02x} {:02x} {:02x} {:02x})",
        .path.display(), .magic[0], .magic[1], .magic[2], .magic[3]
    )]
    UnknownFormat {
        /// The capture file.
        path: PathBuf,
        /// The file's first four bytes.
        magic: [u8; 4],
    },
    /// The pcapng section header is not usable.
    #[error("{}: malformed pcapng section header: {what}", .path.display())]
    Malformed {
        /// The capture file.
        path: PathBuf,
        /// Which part of the header is wrong.
        what: &'static str,
    },
    /// The classic pcap file's link type is not one the parser supports.
    #[error("{}: unsupported link type {linktype}", .path.display())]
    UnsupportedLinkType {
        /// The capture file.
        path: PathBuf,
        /// The file's LINKTYPE_* value.
        linktype: u32,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    #[inline]
    fn u16(self, b: &[u8], at: usize) -> u16 {
        let a = [b[at], b[at + 1]];
        match self {
            Endian::Little => u16::from_le_bytes(a),
            Endian::Big => u16::from_be_bytes(a),
        }
    }

    #[inline]
    fn u32(self, b: &[u8], at: usize) -> u32 {
        let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        match self {
            Endian::Little => u32::from_le_bytes(a),
            Endian::Big => u32::from_be_bytes(a),
        }
    }

    #[inline]
    fn u64(self, b: &[u8], at: usize) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[at..at + 8]);
        match self {
            Endian::Little => u64::from_le_bytes(a),
            Endian::Big => u64::from_be_bytes(a),
        }
    }
}

/// How to turn a pcapng timestamp (in interface units) into nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TsScale {
    /// Units of 10^-n s with n ≤ 9: multiply by 10^(9-n).
    Mul(u64),
    /// Units of 10^-n s with n > 9: divide by 10^(n-9).
    Div(u128),
    /// Units of 2^-n s: multiply by 10^9, shift right by n.
    Shift(u32),
    /// A resolution so fine that every timestamp is below 1 ns.
    Zero,
}

impl TsScale {
    const MICROS: TsScale = TsScale::Mul(1_000);

    /// From the `if_tsresol` option byte.
    fn from_tsresol(v: u8) -> TsScale {
        let n = u32::from(v & 0x7f);
        if v & 0x80 != 0 {
            TsScale::Shift(n)
        } else if n <= 9 {
            TsScale::Mul(10u64.pow(9 - n))
        } else if n - 9 <= 38 {
            TsScale::Div(10u128.pow(n - 9))
        } else {
            TsScale::Zero
        }
    }

    /// Unix nanoseconds of `units` plus `offset_s` seconds, saturating.
    #[inline]
    fn to_ns(self, units: u64, offset_s: i64) -> u64 {
        let ns: u128 = match self {
            TsScale::Mul(m) => u128::from(units) * u128::from(m),
            TsScale::Div(d) => u128::from(units) / d,
            // units < 2^64 and 10^9 < 2^30: the product fits; n ≤ 127.
            TsScale::Shift(n) => (u128::from(units) * 1_000_000_000) >> n,
            TsScale::Zero => 0,
        };
        if offset_s == 0 {
            return u64::try_from(ns).unwrap_or(u64::MAX);
        }
        // ns < 2^94, so it fits an i128 with room for the offset.
        let ns = ns as i128 + i128::from(offset_s) * 1_000_000_000;
        ns.clamp(0, i128::from(u64::MAX)) as u64
    }
}

/// One pcapng interface (from an Interface Description Block).
#[derive(Clone, Copy, Debug)]
struct Interface {
    /// `None` if the link type is not supported: its packets are skipped.
    link: Option<LinkType>,
    snaplen: u32,
    scale: TsScale,
    offset_s: i64,
}

#[derive(Clone, Copy, Debug)]
enum Format {
    /// Classic pcap: one link type, µs or ns timestamps.
    Classic { nanos: bool, link: LinkType },
    /// pcapng: see `PcapSource::interfaces`.
    Ng,
}

/// A frame found in the buffer, ready to be delivered.
#[derive(Clone, Copy)]
struct FrameAt {
    off: usize,
    len: usize,
    wire_len: u32,
    ts_ns: u64,
    link: LinkType,
}

/// Outcome of reading one pcapng block.
enum Block {
    Frame(FrameAt),
    /// A block without a usable frame; go on with the next one.
    Next,
    /// Reading is over (EOF, I/O error or corrupt file).
    End,
}

/// A capture file read as a [`FrameSource`].
///
/// Reads sequentially through one reusable buffer; [`Frame::data`] borrows
/// from it for the duration of the `poll_batch` callback. Never returns
/// [`Poll::Idle`] except when asked for zero frames (see
/// [`poll_batch`](FrameSource::poll_batch)).
pub struct PcapSource {
    name: PathBuf,
    reader: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// The reader returned EOF or an error; nothing more will be read.
    eof: bool,
    /// The reader returned an error (other than `Interrupted`).
    io_error: Option<io::Error>,
    /// No more frames will be delivered.
    done: bool,
    format: Format,
    /// Byte order of the file (classic) or of the current section (pcapng).
    endian: Endian,
    /// The current pcapng section's interfaces, by id.
    interfaces: Vec<Interface>,
    stats: SourceStats,
    packets: u64,
    consumed: u64,
    file_len: Option<u64>,
    last_ts_ns: u64,
}

impl fmt::Debug for PcapSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PcapSource")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("interfaces", &self.interfaces.len())
            .field("packets", &self.packets)
            .field("consumed", &self.consumed)
            .field("file_len", &self.file_len)
            .field("stats", &self.stats)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl PcapSource {
    /// Opens a pcap or pcapng file (detected by its magic number) and reads
    /// its header.
    pub fn open(path: &Path) -> Result<PcapSource, PcapError> {
        let io_err = |source| PcapError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let meta = file.metadata().map_err(io_err)?;
        if meta.is_dir() {
            return Err(io_err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "is a directory",
            )));
        }
        let file_len = meta.is_file().then_some(meta.len());
        Self::with_reader(Box::new(file), path.to_path_buf(), file_len)
    }

    /// Reads a capture from any byte stream; `name` stands for the path in
    /// error messages. [`file_len`](Self::file_len) is then unknown.
    pub fn from_reader(
        reader: impl Read + Send + 'static,
        name: &str,
    ) -> Result<PcapSource, PcapError> {
        Self::with_reader(Box::new(reader), PathBuf::from(name), None)
    }

    /// Frames delivered so far.
    pub fn packets_read(&self) -> u64 {
        self.packets
    }

    /// File bytes consumed so far (headers and records), for progress
    /// display; equals [`file_len`](Self::file_len) after a clean end.
    pub fn bytes_read(&self) -> u64 {
        self.consumed
    }

    /// Size of the file, if opened with [`open`](Self::open) on a regular
    /// file.
    pub fn file_len(&self) -> Option<u64> {
        self.file_len
    }

    fn with_reader(
        reader: Box<dyn Read + Send>,
        name: PathBuf,
        file_len: Option<u64>,
    ) -> Result<PcapSource, PcapError> {
        let mut s = PcapSource {
            name,
            reader,
            buf: vec![0; INITIAL_BUF],
            start: 0,
            end: 0,
            eof: false,
            io_error: None,
            done: false,
            format: Format::Ng,
            endian: Endian::Little,
            interfaces: Vec::new(),
            stats: SourceStats::default(),
            packets: 0,
            consumed: 0,
            file_len,
            last_ts_ns: 0,
        };
        s.read_header()?;
        Ok(s)
    }

    /// Error for a header that could not be read completely.
    fn header_error(&mut self) -> PcapError {
        let path = self.name.clone();
        match self.io_error.take() {
            Some(source) => PcapError::Io { path, source },
            None => PcapError::Truncated { path },
        }
    }

    fn read_header(&mut self) -> Result<(), PcapError> {
        if !self.fill(4) {
            return Err(self.header_error());
        }
        let b = &self.buf[self.start..];
        let magic = [b[0], b[1], b[2], b[3]];
        let (endian, nanos) = match u32::from_le_bytes(magic) {
            0xA1B2_C3D4 => (Endian::Little, false),
            0xD4C3_B2A1 => (Endian::Big, false),
            0xA1B2_3C4D => (Endian::Little, true),
            0x4D3C_B2A1 => (Endian::Big, true),
            BT_SHB => return self.read_shb_header(),
            _ => {
                return Err(PcapError::UnknownFormat {
                    path: self.name.clone(),
                    magic,
                })
            }
        };
        if !self.fill(CLASSIC_HEADER_LEN) {
            return Err(self.header_error());
        }
        let raw = endian.u32(&self.buf[self.start..], 20);
        // The upper bits carry FCS information (libpcap's LT_LINKTYPE).
        let linktype = raw & 0x03FF_FFFF;
        let Some(link) = LinkType::from_linktype(linktype) else {
            return Err(PcapError::UnsupportedLinkType {
                path: self.name.clone(),
                linktype,
            });
        };
        self.consume(CLASSIC_HEADER_LEN);
        self.format = Format::Classic { nanos, link };
        self.endian = endian;
        Ok(())
    }

    /// Checks the first section header; the block itself is then read by
    /// the normal block loop.
    fn read_shb_header(&mut self) -> Result<(), PcapError> {
        if !self.fill(16) {
            return Err(self.header_error());
        }
        let b = &self.buf[self.start..self.start + 16];
        let Some(endian) = shb_endian(b) else {
            return Err(self.malformed("bad byte-order magic"));
        };
        let len = endian.u32(b, 4) as usize;
        if len < MIN_SHB || len & 3 != 0 || len > MAX_BUFFERED_BLOCK {
            return Err(self.malformed("bad block length"));
        }
        if endian.u16(b, 12) != 1 {
            return Err(self.malformed("unsupported version"));
        }
        self.format = Format::Ng;
        self.endian = endian;
        Ok(())
    }

    fn malformed(&self, what: &'static str) -> PcapError {
        PcapError::Malformed {
            path: self.name.clone(),
            what,
        }
    }

    /// Makes at least `need` unconsumed bytes available in
    /// `buf[start..end]`, reading (and if needed, moving data to the front
    /// or growing the buffer) as required. False at EOF or on a read error.
    fn fill(&mut self, need: usize) -> bool {
        debug_assert!(need <= MAX_BUFFERED_BLOCK);
        while self.end - self.start < need {
            if self.eof {
                return false;
            }
            if self.start > 0 && self.start + need > self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                // Full of one incomplete record: grow, but only as the
                // record's bytes actually arrive (no allocation on the word
                // of a length field alone).
                let new_len = (self.buf.len() * 2).min(MAX_BUFFERED_BLOCK);
                self.buf.resize(new_len, 0);
            }
            self.read_some();
        }
        true
    }

    /// One read into the free tail of the buffer.
    fn read_some(&mut self) {
        loop {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n.min(self.buf.len() - self.end),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.eof = true;
                    self.io_error = Some(e);
                }
            }
            return;
        }
    }

    /// Consumes `n` buffered bytes.
    #[inline]
    fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n;
        self.consumed += n as u64;
    }

    /// Consumes `n` bytes, buffered or not, discarding them without growing
    /// the buffer. False if the input ends first.
    fn skip(&mut self, mut n: u64) -> bool {
        loop {
            let avail = (self.end - self.start) as u64;
            if n <= avail {
                self.consume(n as usize);
                return true;
            }
            self.consumed += avail;
            n -= avail;
            self.start = 0;
            self.end = 0;
            if self.eof {
                return false;
            }
            self.read_some();
        }
    }

    /// The input ended (or failed) before the record that starts at `start`
    /// was complete. A partial record or a read error counts as invalid.
    fn finish(&mut self) {
        if self.end > self.start || self.io_error.is_some() {
            self.stats.invalid += 1;
        }
        self.done = true;
    }

    /// Corrupt input: count it and stop reading.
    fn corrupt(&mut self) {
        self.stats.invalid += 1;
        self.done = true;
    }

    /// Finds the next frame, or `None` when reading is over.
    fn next_frame(&mut self) -> Option<FrameAt> {
        if self.done {
            return None;
        }
        match self.format {
            Format::Classic { nanos, link } => self.next_classic(nanos, link),
            Format::Ng => loop {
                match self.next_block() {
                    Block::Frame(fr) => return Some(fr),
                    Block::Next => {}
                    Block::End => return None,
                }
            },
        }
    }

    fn next_classic(&mut self, nanos: bool, link: LinkType) -> Option<FrameAt> {
        let endian = self.endian;
        if !self.fill(CLASSIC_RECORD_HEADER_LEN) {
            self.finish();
            return None;
        }
        let h = &self.buf[self.start..self.start + CLASSIC_RECORD_HEADER_LEN];
        let sec = endian.u32(h, 0);
        let frac = endian.u32(h, 4);
        let incl = endian.u32(h, 8);
        let orig = endian.u32(h, 12);
        if incl as usize > MAX_RECORD {
            self.corrupt();
            return None;
        }
        let total = CLASSIC_RECORD_HEADER_LEN + incl as usize;
        if !self.fill(total) {
            self.finish();
            return None;
        }
        let frac_ns = if nanos {
            u64::from(frac)
        } else {
            u64::from(frac) * 1_000
        };
        // u32 seconds × 10^9 + u32 × 10^3 fits in u64.
        let ts_ns = u64::from(sec) * 1_000_000_000 + frac_ns;
        let off = self.start + CLASSIC_RECORD_HEADER_LEN;
        self.consume(total);
        Some(FrameAt {
            off,
            len: incl as usize,
            wire_len: orig.max(incl),
            ts_ns,
            link,
        })
    }

    fn next_block(&mut self) -> Block {
        if !self.fill(8) {
            self.finish();
            return Block::End;
        }
        let b = &self.buf[self.start..self.start + 8];
        // The SHB type is a palindrome: the same in either byte order.
        let btype = self.endian.u32(b, 0);
        let endian = if btype == BT_SHB {
            if !self.fill(12) {
                self.finish();
                return Block::End;
            }
            match shb_endian(&self.buf[self.start..self.start + 12]) {
                Some(e) => e,
                None => {
                    self.corrupt();
                    return Block::End;
                }
            }
        } else {
            self.endian
        };
        let len = endian.u32(&self.buf[self.start..], 4) as usize;
        let min = match btype {
            BT_SHB => MIN_SHB,
            BT_IDB => MIN_IDB,
            BT_EPB => MIN_EPB,
            BT_PB => MIN_PB,
            BT_SPB => MIN_SPB,
            _ => MIN_BLOCK,
        };
        if len < min || len & 3 != 0 {
            self.corrupt();
            return Block::End;
        }
        if !matches!(btype, BT_SHB | BT_IDB | BT_EPB | BT_PB | BT_SPB) {
            // Not needed: discard without buffering, whatever its size.
            if !self.skip(len as u64) {
                // `skip` emptied the buffer: count the partial block here.
                self.stats.invalid += 1;
                self.done = true;
                return Block::End;
            }
            return Block::Next;
        }
        if len > MAX_BUFFERED_BLOCK {
            self.corrupt();
            return Block::End;
        }
        if !self.fill(len) {
            self.finish();
            return Block::End;
        }
        let block = &self.buf[self.start..self.start + len];
        if endian.u32(block, len - 4) as usize != len {
            self.corrupt();
            return Block::End;
        }
        let body_off = self.start + 8;
        let body_len = len - 12;
        let out = match btype {
            BT_SHB => self.section_header(endian, body_off),
            BT_IDB => self.interface(endian, body_off, body_len),
            BT_EPB => self.enhanced_packet(endian, body_off, body_len, false),
            BT_PB => self.enhanced_packet(endian, body_off, body_len, true),
            _ => self.simple_packet(endian, body_off, body_len),
        };
        if !matches!(out, Block::End) {
            self.consume(len);
        }
        out
    }

    fn section_header(&mut self, endian: Endian, body: usize) -> Block {
        if endian.u16(&self.buf, body + 4) != 1 {
            // A major version we do not know: the layout may differ.
            self.corrupt();
            return Block::End;
        }
        self.endian = endian;
        self.interfaces.clear();
        Block::Next
    }

    fn interface(&mut self, endian: Endian, body: usize, body_len: usize) -> Block {
        let b = &self.buf[body..body + body_len];
        let linktype = endian.u16(b, 0);
        let snaplen = endian.u32(b, 4);
        let mut iface = Interface {
            link: LinkType::from_linktype(u32::from(linktype)),
            snaplen,
            scale: TsScale::MICROS,
            offset_s: 0,
        };
        // Options: lenient; a malformed option list ends option parsing.
        let mut p = 8;
        while p + 4 <= body_len {
            let code = endian.u16(b, p);
            let olen = endian.u16(b, p + 2) as usize;
            let val = p + 4;
            if code == OPT_ENDOFOPT || val + olen > body_len {
                break;
            }
            match code {
                OPT_IF_TSRESOL if olen >= 1 => iface.scale = TsScale::from_tsresol(b[val]),
                OPT_IF_TSOFFSET if olen >= 8 => iface.offset_s = endian.u64(b, val) as i64,
                _ => {}
            }
            p = val + olen.next_multiple_of(4);
        }
        if self.interfaces.len() >= MAX_INTERFACES {
            self.corrupt();
            return Block::End;
        }
        self.interfaces.push(iface);
        Block::Next
    }

    /// Enhanced Packet Block, or the obsolete Packet Block (`old`: 16-bit
    /// interface id followed by a 16-bit drop count).
    fn enhanced_packet(
        &mut self,
        endian: Endian,
        body: usize,
        body_len: usize,
        old: bool,
    ) -> Block {
        let b = &self.buf[body..body + body_len];
        let iface_id = if old {
            u32::from(endian.u16(b, 0))
        } else {
            endian.u32(b, 0)
        };
        let ts_units = (u64::from(endian.u32(b, 4)) << 32) | u64::from(endian.u32(b, 8));
        let cap = endian.u32(b, 12);
        let orig = endian.u32(b, 16);
        if cap as usize > MAX_RECORD || cap as usize > body_len - 20 {
            self.corrupt();
            return Block::End;
        }
        let Some(iface) = self.interface_at(iface_id) else {
            self.stats.invalid += 1;
            return Block::Next;
        };
        let Some(link) = iface.link else {
            self.stats.invalid += 1;
            return Block::Next;
        };
        let ts_ns = iface.scale.to_ns(ts_units, iface.offset_s);
        Block::Frame(FrameAt {
            off: body + 20,
            len: cap as usize,
            wire_len: orig.max(cap),
            ts_ns,
            link,
        })
    }

    fn simple_packet(&mut self, endian: Endian, body: usize, body_len: usize) -> Block {
        let orig = endian.u32(&self.buf, body);
        let Some(iface) = self.interface_at(0) else {
            self.stats.invalid += 1;
            return Block::Next;
        };
        let Some(link) = iface.link else {
            self.stats.invalid += 1;
            return Block::Next;
        };
        // The captured length is implied: the original length, cut to the
        // snap length and to what the block holds.
        let mut cap = (orig as usize).min(body_len - 4);
        if iface.snaplen != 0 {
            cap = cap.min(iface.snaplen as usize);
        }
        Block::Frame(FrameAt {
            off: body + 4,
            len: cap,
            wire_len: orig.max(cap as u32),
            // No timestamp in an SPB: reuse the latest one.
            ts_ns: self.last_ts_ns,
            link,
        })
    }

    fn interface_at(&self, id: u32) -> Option<Interface> {
        self.interfaces.get(id as usize).copied()
    }
}

/// Byte order of a section from the first 12 bytes of its SHB.
fn shb_endian(b: &[u8]) -> Option<Endian> {
    if Endian::Little.u32(b, 8) == BYTE_ORDER_MAGIC {
        Some(Endian::Little)
    } else if Endian::Big.u32(b, 8) == BYTE_ORDER_MAGIC {
        Some(Endian::Big)
    } else {
        None
    }
}

impl FrameSource for PcapSource {
    /// Delivers up to `max` frames in file order. Returns
    /// [`Poll::Frames`] with at least one frame, or [`Poll::End`] once the
    /// file is exhausted (and on every call after). With `max == 0` nothing
    /// is read: [`Poll::End`] if exhausted, else [`Poll::Idle`] with the
    /// latest frame time (the only case a capture file returns `Idle`).
    fn poll_batch<F: FnMut(&Frame<'_>)>(&mut self, max: usize, mut f: F) -> Poll {
        if max == 0 {
            return if self.done {
                Poll::End
            } else {
                Poll::Idle {
                    now_ns: self.last_ts_ns,
                }
            };
        }
        let mut n = 0;
        while n < max {
            let Some(fr) = self.next_frame() else { break };
            self.packets += 1;
            self.last_ts_ns = fr.ts_ns;
            f(&Frame {
                data: &self.buf[fr.off..fr.off + fr.len],
                wire_len: fr.wire_len,
                ts_ns: fr.ts_ns,
                link: fr.link,
            });
            n += 1;
        }
        if n == 0 {
            Poll::End
        } else {
            Poll::Frames(n)
        }
    }

    fn stats(&self) -> SourceStats {
        self.stats
    }
}

#[cfg(test)]
mod tests;
