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
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The file is shorter than a capture file header.
    #[error("{}: file too short for a pcap or pcapng header", .path.display())]
    Truncated { path: PathBuf },
    /// The file starts with neither a pcap nor a pcapng magic number.
    #[error(
        "{}: not a pcap or pcapng file (starts with {:02x} {:02x} {:02x} {:02x})",
        .path.display(), .magic[0], .magic[1], .magic[2], .magic[3]
    )]
    UnknownFormat { path: PathBuf, magic: [u8; 4] },
    /// The pcapng section header is not usable.
    #[error("{}: malformed pcapng section header: {what}", .path.display())]
    Malformed { path: PathBuf, what: &'static str },
    /// The classic pcap file's link type is not one the parser supports.
    #[error("{}: unsupported link type {linktype}", .path.display())]
    UnsupportedLinkType { path: PathBuf, linktype: u32 },
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
mod tests {
    use super::*;
    use std::io::Cursor;

    // ---- builders -------------------------------------------------------

    fn put16(out: &mut Vec<u8>, big: bool, v: u16) {
        out.extend_from_slice(&if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    }

    fn put32(out: &mut Vec<u8>, big: bool, v: u32) {
        out.extend_from_slice(&if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    }

    fn put64(out: &mut Vec<u8>, big: bool, v: u64) {
        out.extend_from_slice(&if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    }

    /// A classic pcap file. `frames`: (seconds, fraction, data, orig_len).
    fn classic(
        big: bool,
        nanos: bool,
        linktype: u32,
        frames: &[(u32, u32, &[u8], u32)],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        put32(&mut out, big, if nanos { 0xA1B2_3C4D } else { 0xA1B2_C3D4 });
        put16(&mut out, big, 2);
        put16(&mut out, big, 4);
        put32(&mut out, big, 0);
        put32(&mut out, big, 0);
        put32(&mut out, big, 65535);
        put32(&mut out, big, linktype);
        for &(sec, frac, data, orig) in frames {
            put32(&mut out, big, sec);
            put32(&mut out, big, frac);
            put32(&mut out, big, data.len() as u32);
            put32(&mut out, big, orig);
            out.extend_from_slice(data);
        }
        out
    }

    /// A pcapng writer.
    struct Ng {
        big: bool,
        out: Vec<u8>,
    }

    impl Ng {
        fn new(big: bool) -> Ng {
            let mut ng = Ng {
                big,
                out: Vec::new(),
            };
            ng.shb();
            ng
        }

        fn block(&mut self, btype: u32, body: &[u8]) -> &mut Self {
            let big = self.big;
            let len = 12 + body.len().next_multiple_of(4);
            put32(&mut self.out, big, btype);
            put32(&mut self.out, big, len as u32);
            self.out.extend_from_slice(body);
            self.out.resize(
                self.out.len() + body.len().next_multiple_of(4) - body.len(),
                0,
            );
            put32(&mut self.out, big, len as u32);
            self
        }

        fn shb(&mut self) -> &mut Self {
            let big = self.big;
            let mut b = Vec::new();
            put32(&mut b, big, BYTE_ORDER_MAGIC);
            put16(&mut b, big, 1);
            put16(&mut b, big, 0);
            put64(&mut b, big, u64::MAX);
            // A comment option, to exercise option skipping.
            put16(&mut b, big, 1);
            put16(&mut b, big, 5);
            b.extend_from_slice(b"hello\0\0\0");
            put32(&mut b, big, 0);
            self.block(BT_SHB, &b)
        }

        /// An IDB with `if_tsresol` (if given) and `if_tsoffset` (if non-zero).
        fn idb(
            &mut self,
            linktype: u16,
            snaplen: u32,
            tsresol: Option<u8>,
            tsoffset: i64,
        ) -> &mut Self {
            let big = self.big;
            let mut b = Vec::new();
            put16(&mut b, big, linktype);
            put16(&mut b, big, 0);
            put32(&mut b, big, snaplen);
            // if_name, skipped.
            put16(&mut b, big, 2);
            put16(&mut b, big, 4);
            b.extend_from_slice(b"eth0");
            if let Some(r) = tsresol {
                put16(&mut b, big, OPT_IF_TSRESOL);
                put16(&mut b, big, 1);
                b.extend_from_slice(&[r, 0, 0, 0]);
            }
            if tsoffset != 0 {
                put16(&mut b, big, OPT_IF_TSOFFSET);
                put16(&mut b, big, 8);
                put64(&mut b, big, tsoffset as u64);
            }
            put32(&mut b, big, 0);
            self.block(BT_IDB, &b)
        }

        fn epb(&mut self, iface: u32, ts: u64, data: &[u8], orig: u32) -> &mut Self {
            let big = self.big;
            let mut b = Vec::new();
            put32(&mut b, big, iface);
            put32(&mut b, big, (ts >> 32) as u32);
            put32(&mut b, big, ts as u32);
            put32(&mut b, big, data.len() as u32);
            put32(&mut b, big, orig);
            b.extend_from_slice(data);
            b.resize(b.len().next_multiple_of(4), 0);
            // An epb_flags option after the data.
            put16(&mut b, big, 2);
            put16(&mut b, big, 4);
            put32(&mut b, big, 1);
            put32(&mut b, big, 0);
            self.block(BT_EPB, &b)
        }

        fn pb(&mut self, iface: u16, ts: u64, data: &[u8], orig: u32) -> &mut Self {
            let big = self.big;
            let mut b = Vec::new();
            put16(&mut b, big, iface);
            put16(&mut b, big, 0);
            put32(&mut b, big, (ts >> 32) as u32);
            put32(&mut b, big, ts as u32);
            put32(&mut b, big, data.len() as u32);
            put32(&mut b, big, orig);
            b.extend_from_slice(data);
            self.block(BT_PB, &b)
        }

        fn spb(&mut self, data: &[u8], orig: u32) -> &mut Self {
            let big = self.big;
            let mut b = Vec::new();
            put32(&mut b, big, orig);
            b.extend_from_slice(data);
            self.block(BT_SPB, &b)
        }

        fn bytes(&self) -> Vec<u8> {
            self.out.clone()
        }
    }

    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Got {
        data: Vec<u8>,
        wire_len: u32,
        ts_ns: u64,
        link: LinkType,
    }

    fn source(bytes: Vec<u8>) -> PcapSource {
        PcapSource::from_reader(Cursor::new(bytes), "test.pcap").expect("open")
    }

    /// Reads everything; checks that End is sticky.
    fn read_all(src: &mut PcapSource, batch: usize) -> Vec<Got> {
        let mut got = Vec::new();
        let mut polls = 0;
        loop {
            polls += 1;
            assert!(polls < 1_000_000, "reader does not terminate");
            let p = src.poll_batch(batch, |f| {
                got.push(Got {
                    data: f.data.to_vec(),
                    wire_len: f.wire_len,
                    ts_ns: f.ts_ns,
                    link: f.link,
                })
            });
            match p {
                Poll::Frames(n) => assert!(n >= 1 && n <= batch),
                Poll::End => break,
                Poll::Idle { .. } => panic!("a pcap file returned Idle"),
            }
        }
        assert_eq!(
            src.poll_batch(batch, |_| panic!("frame after End")),
            Poll::End
        );
        assert_eq!(
            src.poll_batch(batch, |_| panic!("frame after End")),
            Poll::End
        );
        got
    }

    fn read_bytes(bytes: Vec<u8>) -> (Vec<Got>, PcapSource) {
        let mut src = source(bytes);
        let got = read_all(&mut src, 64);
        (got, src)
    }

    const P1: &[u8] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
    const P2: &[u8] = &[0xaa; 61];
    const P3: &[u8] = &[0x55, 0x66, 0x77];

    fn g(data: &[u8], wire_len: u32, ts_ns: u64, link: LinkType) -> Got {
        Got {
            data: data.to_vec(),
            wire_len,
            ts_ns,
            link,
        }
    }

    fn three_classic() -> Vec<u8> {
        classic(
            false,
            false,
            1,
            &[
                (1_600_000_000, 123_456, P1, 14),
                (1_600_000_001, 999_999, P2, 1500),
                (1_600_000_002, 0, P3, 3),
            ],
        )
    }

    fn three_ng() -> Vec<u8> {
        let mut ng = Ng::new(false);
        ng.idb(1, 0, None, 0)
            .epb(0, 1_600_000_000_123_456, P1, 14)
            .block(5, &[0; 8]) // interface statistics: skipped
            .epb(0, 1_600_000_001_999_999, P2, 1500)
            .epb(0, 1_600_000_002_000_000, P3, 3);
        ng.bytes()
    }

    fn three_expected() -> Vec<Got> {
        vec![
            g(P1, 14, 1_600_000_000_123_456_000, LinkType::Ethernet),
            g(P2, 1500, 1_600_000_001_999_999_000, LinkType::Ethernet),
            g(P3, 3, 1_600_000_002_000_000_000, LinkType::Ethernet),
        ]
    }

    // ---- classic pcap ---------------------------------------------------

    #[test]
    fn classic_micros_little_endian() {
        let bytes = three_classic();
        let len = bytes.len() as u64;
        let (got, src) = read_bytes(bytes);
        assert_eq!(got, three_expected());
        assert_eq!(src.packets_read(), 3);
        assert_eq!(src.bytes_read(), len);
        assert_eq!(src.file_len(), None);
        assert_eq!(src.stats(), SourceStats::default());
    }

    #[test]
    fn classic_all_four_magics() {
        for big in [false, true] {
            for nanos in [false, true] {
                let frac = if nanos { 123_456_789 } else { 123_456 };
                let bytes = classic(big, nanos, 101, &[(1_700_000_000, frac, P1, 60)]);
                let (got, src) = read_bytes(bytes);
                let ts = 1_700_000_000_000_000_000 + if nanos { 123_456_789 } else { 123_456_000 };
                assert_eq!(
                    got,
                    vec![g(P1, 60, ts, LinkType::RawIp)],
                    "big={big} nanos={nanos}"
                );
                assert_eq!(src.stats().invalid, 0);
            }
        }
    }

    #[test]
    fn classic_link_types_and_fcs_bits() {
        for (lt, link) in [
            (0, LinkType::Null),
            (1, LinkType::Ethernet),
            (113, LinkType::LinuxSll),
            (276, LinkType::LinuxSll2),
            (228, LinkType::Ipv4),
            (229, LinkType::Ipv6),
            // Ethernet with "FCS present, 4 bytes" in the upper bits.
            (0x1000_0000 | 0x0400_0000 | 1, LinkType::Ethernet),
        ] {
            let (got, _) = read_bytes(classic(false, false, lt, &[(1, 0, P3, 3)]));
            assert_eq!(got[0].link, link, "linktype {lt:#x}");
        }
    }

    #[test]
    fn classic_unsupported_link_type_is_an_open_error() {
        let bytes = classic(false, false, 147, &[(1, 0, P1, 14)]);
        let err = PcapSource::from_reader(Cursor::new(bytes), "usr.pcap").unwrap_err();
        assert!(
            matches!(err, PcapError::UnsupportedLinkType { linktype: 147, .. }),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "usr.pcap: unsupported link type 147");
    }

    #[test]
    fn classic_incl_len_above_orig_len_delivers_all_bytes() {
        let (got, src) = read_bytes(classic(false, false, 1, &[(1, 0, P2, 20)]));
        assert_eq!(
            got,
            vec![g(P2, P2.len() as u32, 1_000_000_000, LinkType::Ethernet)]
        );
        assert_eq!(src.stats().invalid, 0);
    }

    #[test]
    fn classic_absurd_incl_len_stops() {
        let mut bytes = classic(false, false, 1, &[(1, 0, P1, 14), (2, 0, P2, 61)]);
        // Second record's incl_len := 256 MiB + 1.
        let at = 24 + 16 + P1.len() + 8;
        bytes[at..at + 4].copy_from_slice(&((MAX_RECORD as u32) + 1).to_le_bytes());
        bytes.extend_from_slice(&three_classic()[24..]); // never read
        let (got, src) = read_bytes(bytes);
        assert_eq!(got.len(), 1);
        assert_eq!(src.stats().invalid, 1);
        // No allocation on the word of the length field.
        assert_eq!(src.buf.len(), INITIAL_BUF);
    }

    #[test]
    fn classic_huge_length_on_short_file_does_not_allocate() {
        let mut bytes = classic(false, false, 1, &[(1, 0, P1, 14)]);
        let at = 24 + 8;
        bytes[at..at + 4].copy_from_slice(&(200u32 << 20).to_le_bytes());
        let (got, src) = read_bytes(bytes);
        assert!(got.is_empty());
        assert_eq!(src.stats().invalid, 1);
        assert_eq!(src.buf.len(), INITIAL_BUF);
    }

    #[test]
    fn open_errors() {
        let err = PcapSource::from_reader(Cursor::new(vec![0x0a, 0x0d]), "short").unwrap_err();
        assert!(matches!(err, PcapError::Truncated { .. }), "{err:?}");
        let err =
            PcapSource::from_reader(Cursor::new(three_classic()[..20].to_vec()), "s").unwrap_err();
        assert!(matches!(err, PcapError::Truncated { .. }), "{err:?}");
        let err = PcapSource::from_reader(Cursor::new(b"GIF89a..........".to_vec()), "x.gif")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.gif: not a pcap or pcapng file (starts with 47 49 46 38)"
        );
        let mut ng = three_ng();
        ng[8] = 0; // byte-order magic
        let err = PcapSource::from_reader(Cursor::new(ng), "bom.pcapng").unwrap_err();
        assert!(matches!(err, PcapError::Malformed { .. }), "{err:?}");
        let mut ng = three_ng();
        ng[12] = 2; // major version
        let err = PcapSource::from_reader(Cursor::new(ng), "v2.pcapng").unwrap_err();
        assert!(matches!(err, PcapError::Malformed { .. }), "{err:?}");
        let err = PcapSource::from_reader(
            FailingReader {
                data: vec![],
                at: 0,
            },
            "fail",
        )
        .unwrap_err();
        assert!(matches!(err, PcapError::Io { .. }), "{err:?}");
        let err = PcapSource::open(Path::new("/nonexistent/dir/x.pcap")).unwrap_err();
        assert!(matches!(err, PcapError::Io { .. }), "{err:?}");
        assert!(
            err.to_string().starts_with("/nonexistent/dir/x.pcap: "),
            "{err}"
        );
    }

    // ---- pcapng ---------------------------------------------------------

    #[test]
    fn pcapng_basic_and_skipped_blocks() {
        let bytes = three_ng();
        let len = bytes.len() as u64;
        let (got, src) = read_bytes(bytes);
        assert_eq!(got, three_expected());
        assert_eq!(src.bytes_read(), len);
        assert_eq!(src.stats(), SourceStats::default());
    }

    #[test]
    fn pcapng_two_interfaces_with_own_link_and_resolution() {
        for big in [false, true] {
            let mut ng = Ng::new(big);
            // if0: Ethernet, nanoseconds. if1: raw IP, 2^-20 s, offset +100 s.
            ng.idb(1, 0, Some(9), 0)
                .idb(101, 0, Some(0x80 | 20), 100)
                .epb(0, 1_700_000_000_123_456_789, P1, 14)
                .epb(1, (1_700_000_000u64 << 20) | (1 << 19), P3, 3)
                .epb(0, 1_700_000_001_000_000_001, P2, 61);
            let (got, src) = read_bytes(ng.bytes());
            assert_eq!(
                got,
                vec![
                    g(P1, 14, 1_700_000_000_123_456_789, LinkType::Ethernet),
                    g(P3, 3, 1_700_000_100_500_000_000, LinkType::RawIp),
                    g(P2, 61, 1_700_000_001_000_000_001, LinkType::Ethernet),
                ],
                "big={big}"
            );
            assert_eq!(src.stats().invalid, 0);
        }
    }

    #[test]
    fn timestamp_scales() {
        // 10^-n, n ≤ 9.
        assert_eq!(TsScale::from_tsresol(6).to_ns(5, 0), 5_000);
        assert_eq!(TsScale::from_tsresol(0).to_ns(5, 0), 5_000_000_000);
        assert_eq!(TsScale::from_tsresol(9).to_ns(5, 0), 5);
        // 10^-12 (picoseconds): rounds down.
        assert_eq!(TsScale::from_tsresol(12).to_ns(1_234_567, 0), 1_234);
        assert_eq!(TsScale::from_tsresol(127).to_ns(u64::MAX, 0), 0);
        // 2^-n.
        assert_eq!(TsScale::from_tsresol(0x80).to_ns(3, 0), 3_000_000_000);
        assert_eq!(
            TsScale::from_tsresol(0x80 | 10).to_ns(1024 + 512, 0),
            1_500_000_000
        );
        assert_eq!(TsScale::from_tsresol(0x80 | 30).to_ns(1, 0), 0); // 0.93 ns
        assert_eq!(TsScale::from_tsresol(0x80 | 127).to_ns(u64::MAX, 0), 0);
        // Saturation both ways.
        assert_eq!(TsScale::from_tsresol(0).to_ns(u64::MAX, 0), u64::MAX);
        assert_eq!(TsScale::from_tsresol(6).to_ns(1_000_000, -5), 0);
        assert_eq!(
            TsScale::from_tsresol(6).to_ns(1_000_000, i64::MAX),
            u64::MAX
        );
        assert_eq!(TsScale::from_tsresol(6).to_ns(1_000_000, -1), 0);
        assert_eq!(TsScale::from_tsresol(6).to_ns(1_500_000, -1), 500_000_000);
    }

    #[test]
    fn pcapng_simple_packet_block() {
        let mut ng = Ng::new(false);
        ng.idb(1, 8, Some(9), 0) // snaplen 8
            .spb(&P1[..8], 14) // cut by the snap length
            .epb(0, 77, P3, 3)
            .spb(P3, 3); // padded to 4 in the file; 3 bytes delivered
        let (got, src) = read_bytes(ng.bytes());
        assert_eq!(
            got,
            vec![
                g(&P1[..8], 14, 0, LinkType::Ethernet),
                g(P3, 3, 77, LinkType::Ethernet),
                g(P3, 3, 77, LinkType::Ethernet), // last timestamp seen
            ]
        );
        assert_eq!(src.stats().invalid, 0);
    }

    #[test]
    fn pcapng_obsolete_packet_block() {
        let mut ng = Ng::new(true);
        ng.idb(1, 0, None, 0)
            .idb(113, 0, Some(3), 0)
            .pb(1, 42, P1, 100);
        let (got, _) = read_bytes(ng.bytes());
        assert_eq!(got, vec![g(P1, 100, 42_000_000, LinkType::LinuxSll)]);
    }

    #[test]
    fn pcapng_skips_unknown_blocks_of_any_size() {
        let mut ng = Ng::new(false);
        ng.idb(1, 0, None, 0)
            .block(4, &[0; 16]) // name resolution
            .block(0x0A, &[0; 40]) // decryption secrets
            .block(0x0000_0BAD, &[7; 3]) // custom
            .epb(0, 1, P1, 14)
            // 3 MiB unknown block: more than the initial buffer, skipped
            // without growing it.
            .block(0x4000_0001, &vec![0xee; 3 << 20])
            .epb(0, 2, P2, 61);
        let bytes = ng.bytes();
        let len = bytes.len() as u64;
        let (got, src) = read_bytes(bytes);
        assert_eq!(
            got,
            vec![
                g(P1, 14, 1_000, LinkType::Ethernet),
                g(P2, 61, 2_000, LinkType::Ethernet)
            ]
        );
        assert_eq!(src.bytes_read(), len);
        assert_eq!(src.stats().invalid, 0);
        assert_eq!(src.buf.len(), INITIAL_BUF);
    }

    #[test]
    fn pcapng_sections_reset_interfaces_and_byte_order() {
        let mut a = Ng::new(false);
        a.idb(1, 0, None, 0).idb(1, 0, None, 0).epb(1, 1, P1, 14);
        let mut b = Ng::new(true);
        b.idb(101, 0, Some(9), 0)
            .epb(0, 5, P3, 3)
            .epb(1, 6, P2, 61) // interface 1 was in the previous section
            .epb(0, 7, P3, 3);
        let mut bytes = a.bytes();
        bytes.extend_from_slice(&b.bytes());
        let (got, src) = read_bytes(bytes);
        assert_eq!(
            got,
            vec![
                g(P1, 14, 1_000, LinkType::Ethernet),
                g(P3, 3, 5, LinkType::RawIp),
                g(P3, 3, 7, LinkType::RawIp),
            ]
        );
        assert_eq!(src.stats().invalid, 1);
    }

    #[test]
    fn pcapng_unsupported_link_and_unknown_interface_are_skipped() {
        let mut ng = Ng::new(false);
        ng.idb(147, 0, None, 0) // USER0: unsupported
            .idb(1, 0, None, 0)
            .epb(0, 1, P1, 14)
            .epb(1, 2, P2, 61)
            .epb(7, 3, P3, 3) // no such interface
            .spb(P3, 3) // interface 0: unsupported
            .epb(1, 4, P3, 3);
        let (got, src) = read_bytes(ng.bytes());
        assert_eq!(
            got,
            vec![
                g(P2, 61, 2_000, LinkType::Ethernet),
                g(P3, 3, 4_000, LinkType::Ethernet)
            ]
        );
        assert_eq!(src.stats().invalid, 3);
        assert_eq!(src.packets_read(), 2);
    }

    #[test]
    fn pcapng_packet_before_any_interface() {
        let mut ng = Ng::new(false);
        ng.epb(0, 1, P1, 14)
            .spb(P1, 14)
            .idb(1, 0, None, 0)
            .epb(0, 2, P3, 3);
        let (got, src) = read_bytes(ng.bytes());
        assert_eq!(got, vec![g(P3, 3, 2_000, LinkType::Ethernet)]);
        assert_eq!(src.stats().invalid, 2);
    }

    /// Offset of the `i`-th block in a pcapng file.
    fn block_offset(bytes: &[u8], i: usize) -> usize {
        let mut off = 0;
        for _ in 0..i {
            off += u32::from_le_bytes(bytes[off + 4..off + 8].try_into().unwrap()) as usize;
        }
        off
    }

    #[test]
    fn pcapng_corrupt_lengths_stop_reading() {
        // Blocks of three_ng(): SHB, IDB, EPB, ISB, EPB, EPB.
        let base = three_ng();
        let epb2 = block_offset(&base, 4);
        let set =
            |b: &mut Vec<u8>, at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_le_bytes());
        let epb2_len = u32::from_le_bytes(base[epb2 + 4..epb2 + 8].try_into().unwrap());
        type Corrupt = Box<dyn Fn(&mut Vec<u8>)>;
        let cases: Vec<(&str, Corrupt)> = vec![
            (
                "length not a multiple of 4",
                Box::new(move |b| set(b, epb2 + 4, epb2_len + 2)),
            ),
            (
                "length below the minimum",
                Box::new(move |b| set(b, epb2 + 4, 28)),
            ),
            ("length below 12", Box::new(move |b| set(b, epb2 + 4, 8))),
            (
                "trailer disagrees",
                Box::new(move |b| set(b, epb2 + epb2_len as usize - 4, epb2_len + 4)),
            ),
            (
                "captured length beyond the block",
                Box::new(move |b| set(b, epb2 + 20, epb2_len)),
            ),
            (
                "captured length absurd",
                Box::new(move |b| set(b, epb2 + 20, u32::MAX)),
            ),
            (
                "block length absurd",
                Box::new(move |b| set(b, epb2 + 4, 0xFFFF_FFF0)),
            ),
            (
                "next SHB with bad byte order",
                Box::new(move |b| {
                    set(b, epb2, BT_SHB);
                    set(b, epb2 + 8, 0x1234_5678);
                }),
            ),
            (
                "next SHB with version 2",
                Box::new(move |b| {
                    let mut shb = Ng::new(false).bytes();
                    shb[12] = 2;
                    b.splice(epb2..epb2, shb);
                }),
            ),
        ];
        for (what, corrupt) in cases {
            let mut bytes = base.clone();
            corrupt(&mut bytes);
            let (got, src) = read_bytes(bytes);
            assert_eq!(got, three_expected()[..1], "{what}");
            assert_eq!(src.stats().invalid, 1, "{what}");
        }
    }

    #[test]
    fn pcapng_malformed_idb_options_are_tolerated() {
        let mut ng = Ng::new(false);
        let mut body = Vec::new();
        put16(&mut body, false, 1);
        put16(&mut body, false, 0);
        put32(&mut body, false, 0);
        put16(&mut body, false, OPT_IF_TSRESOL);
        put16(&mut body, false, 200); // runs past the block
        body.extend_from_slice(&[9, 0, 0, 0]);
        ng.block(BT_IDB, &body).epb(0, 3, P3, 3);
        let (got, src) = read_bytes(ng.bytes());
        assert_eq!(got, vec![g(P3, 3, 3_000, LinkType::Ethernet)]);
        assert_eq!(src.stats().invalid, 0);
    }

    // ---- streaming ------------------------------------------------------

    #[test]
    fn batches_respect_max() {
        for bytes in [three_classic(), three_ng()] {
            let mut src = source(bytes);
            let mut n = 0;
            assert_eq!(src.poll_batch(2, |_| n += 1), Poll::Frames(2));
            assert_eq!(src.poll_batch(2, |_| n += 1), Poll::Frames(1));
            assert_eq!(src.poll_batch(2, |_| n += 1), Poll::End);
            assert_eq!(src.poll_batch(2, |_| n += 1), Poll::End);
            assert_eq!(n, 3);
            assert_eq!(src.packets_read(), 3);
        }
        let mut src = source(three_classic());
        assert_eq!(src.poll_batch(1, |_| {}), Poll::Frames(1));
        assert_eq!(
            src.poll_batch(0, |_| panic!()),
            Poll::Idle {
                now_ns: 1_600_000_000_123_456_000
            }
        );
        assert_eq!(src.poll_batch(1, |_| {}), Poll::Frames(1));
        assert_eq!(
            src.poll_batch(0, |_| panic!()),
            Poll::Idle {
                now_ns: 1_600_000_001_999_999_000
            }
        );
        // Asked for more than remain: the reader sees the end of the file.
        assert_eq!(src.poll_batch(3, |_| {}), Poll::Frames(1));
        assert_eq!(src.poll_batch(0, |_| panic!()), Poll::End);
        assert_eq!(src.poll_batch(3, |_| {}), Poll::End);
    }

    /// Returns at most a few bytes per read, with spurious `Interrupted`s.
    struct TrickleReader {
        data: Vec<u8>,
        pos: usize,
        calls: usize,
    }

    impl Read for TrickleReader {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls % 3 == 2 {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let n = (self.calls % 7 + 1)
                .min(out.len())
                .min(self.data.len() - self.pos);
            out[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn short_reads_and_interrupts() {
        for bytes in [three_classic(), three_ng()] {
            let len = bytes.len() as u64;
            let r = TrickleReader {
                data: bytes,
                pos: 0,
                calls: 0,
            };
            let mut src = PcapSource::from_reader(r, "trickle").unwrap();
            assert_eq!(read_all(&mut src, 2), three_expected());
            assert_eq!(src.bytes_read(), len);
            assert_eq!(src.stats().invalid, 0);
        }
    }

    /// Fails with an I/O error after `at` bytes.
    struct FailingReader {
        data: Vec<u8>,
        at: usize,
    }

    impl Read for FailingReader {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.at == 0 {
                return Err(io::Error::other("disk on fire"));
            }
            let n = out.len().min(self.at);
            out[..n].copy_from_slice(&self.data[..n]);
            self.data.drain(..n);
            self.at -= n;
            Ok(n)
        }
    }

    #[test]
    fn io_error_mid_file_counts_and_ends() {
        for (bytes, boundary) in [
            (three_classic(), 24 + 16 + P1.len()),
            (three_ng(), block_offset(&three_ng(), 3)),
        ] {
            // In the middle of the second record, and exactly between records.
            for at in [boundary + 5, boundary] {
                let r = FailingReader {
                    data: bytes.clone(),
                    at,
                };
                let mut src = PcapSource::from_reader(r, "failing").unwrap();
                assert_eq!(read_all(&mut src, 8), three_expected()[..1]);
                assert_eq!(src.stats().invalid, 1, "at {at}");
            }
        }
    }

    #[test]
    fn frames_larger_than_the_initial_buffer() {
        let big1: Vec<u8> = (0..(3 << 20) + 3).map(|i| i as u8).collect();
        let big2: Vec<u8> = (0..(5 << 20) + 1).map(|i| (i * 7) as u8).collect();
        let c = classic(
            true,
            true,
            1,
            &[(1, 1, P1, 14), (2, 2, &big1, 0), (3, 3, P3, 3)],
        );
        let (got, src) = read_bytes(c);
        assert_eq!(got.len(), 3);
        assert_eq!(
            got[1],
            g(&big1, big1.len() as u32, 2_000_000_002, LinkType::Ethernet)
        );
        assert_eq!(got[2].data, P3);
        assert!(src.buf.len() <= 8 << 20);
        let mut ng = Ng::new(false);
        ng.idb(1, 0, None, 0)
            .epb(0, 1, &big2, 0)
            .epb(0, 2, &big1, 0)
            .epb(0, 3, P1, 14);
        let (got, src) = read_bytes(ng.bytes());
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].data, big2);
        assert_eq!(got[1].data, big1);
        assert_eq!(got[2].data, P1);
        assert_eq!(src.stats().invalid, 0);
    }

    /// Cutting a file anywhere never panics and yields exactly the complete
    /// records before the cut; a cut inside a record counts as invalid.
    fn check_every_truncation(bytes: &[u8], record_ends: &[usize]) {
        let expected = three_expected();
        for cut in 0..=bytes.len() {
            let prefix = bytes[..cut].to_vec();
            let Ok(mut src) = PcapSource::from_reader(Cursor::new(prefix), "cut") else {
                assert!(cut < 32, "open failed at cut {cut}");
                continue;
            };
            let got = read_all(&mut src, 2);
            let complete = record_ends.iter().filter(|&&e| e <= cut).count();
            assert_eq!(got, expected[..complete], "cut at {cut}");
            let at_boundary = record_ends.contains(&cut) || cut == record_ends[0] - P1.len() - 16;
            let invalid = src.stats().invalid;
            if at_boundary {
                assert_eq!(invalid, 0, "cut at {cut}");
            } else {
                assert_eq!(invalid, 1, "cut at {cut}");
            }
            assert!(src.bytes_read() <= cut as u64);
        }
    }

    #[test]
    fn truncated_classic_at_every_offset() {
        let bytes = three_classic();
        let ends = [
            24 + 16 + P1.len(),
            24 + 32 + P1.len() + P2.len(),
            bytes.len(),
        ];
        check_every_truncation(&bytes, &ends);
    }

    #[test]
    fn truncated_pcapng_at_every_offset() {
        let bytes = three_ng();
        let ends = [
            block_offset(&bytes, 3),
            block_offset(&bytes, 5),
            bytes.len(),
        ];
        // Cuts at block boundaries without a frame (after the SHB, after the
        // IDB, after the ISB) are clean too.
        let clean = [
            block_offset(&bytes, 1),
            block_offset(&bytes, 2),
            block_offset(&bytes, 4),
        ];
        let expected = three_expected();
        for cut in 0..=bytes.len() {
            let Ok(mut src) = PcapSource::from_reader(Cursor::new(bytes[..cut].to_vec()), "cut")
            else {
                assert!(cut < 16, "open failed at cut {cut}");
                continue;
            };
            let got = read_all(&mut src, 2);
            let complete = ends.iter().filter(|&&e| e <= cut).count();
            assert_eq!(got, expected[..complete], "cut at {cut}");
            let boundary = ends.contains(&cut) || clean.contains(&cut);
            assert_eq!(src.stats().invalid, u64::from(!boundary), "cut at {cut}");
        }
    }

    #[test]
    fn open_by_magic_not_by_name() {
        let dir = std::env::temp_dir().join(format!("tapscope-pcap-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ng_named_pcap = dir.join("dns.pcap");
        let classic_named_ng = dir.join("x.pcapng");
        std::fs::write(&ng_named_pcap, three_ng()).unwrap();
        std::fs::write(&classic_named_ng, three_classic()).unwrap();
        for p in [&ng_named_pcap, &classic_named_ng] {
            let mut src = PcapSource::open(p).unwrap();
            let len = std::fs::metadata(p).unwrap().len();
            assert_eq!(src.file_len(), Some(len));
            assert_eq!(read_all(&mut src, 16), three_expected());
            assert_eq!(src.bytes_read(), len);
        }
        let err = PcapSource::open(&dir).unwrap_err();
        assert!(matches!(err, PcapError::Io { .. }), "{err:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn source_is_send() {
        fn assert_send<T: Send>() {}
        assert_send::<PcapSource>();
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        fn drain(bytes: Vec<u8>) {
            if let Ok(mut src) = PcapSource::from_reader(Cursor::new(bytes), "fuzz") {
                let mut total = 0u64;
                let got = read_all(&mut src, 7);
                for f in &got {
                    assert!(f.data.len() <= MAX_RECORD);
                    assert!(f.wire_len as usize >= f.data.len());
                    total += 1;
                }
                assert_eq!(total, src.packets_read());
                assert!(src.buf.len() <= MAX_BUFFERED_BLOCK);
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn arbitrary_bytes_never_panic(
                magic in prop::sample::select(vec![
                    [0xd4u8, 0xc3, 0xb2, 0xa1], [0xa1, 0xb2, 0xc3, 0xd4],
                    [0x4d, 0x3c, 0xb2, 0xa1], [0x0a, 0x0d, 0x0d, 0x0a],
                ]),
                rest in prop::collection::vec(any::<u8>(), 0..2048),
            ) {
                let mut bytes = magic.to_vec();
                bytes.extend_from_slice(&rest);
                drain(bytes);
            }

            #[test]
            fn mutated_files_never_panic(
                ng in any::<bool>(),
                edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
            ) {
                let mut bytes = if ng { three_ng() } else { three_classic() };
                for (i, v) in edits {
                    let at = i.index(bytes.len());
                    bytes[at] = v;
                }
                drain(bytes);
            }
        }
    }
}
