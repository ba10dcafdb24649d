//! QUIC client Initial packets: header protection removed and payload
//! decrypted with the version's initial secrets (RFC 9001 §5, RFC 9369),
//! CRYPTO frames handed out for reassembly; Google QUIC (Q0xx) CHLO SNI.
//!
//! Initial packets are protected with keys that anyone can derive from the
//! Destination Connection ID of the client's first Initial, so a tap can
//! read the TLS ClientHello they carry:
//!
//! 1. [`client_initial_crypto`] walks the long-header packets coalesced in
//!    one UDP datagram, decrypts each client Initial of a known version into
//!    a [`Scratch`] buffer and passes its CRYPTO frames to a callback;
//! 2. a [`CryptoReasm`] (fixed size, no allocation) puts the CRYPTO stream
//!    back together when the ClientHello spans several frames or packets;
//! 3. the contiguous bytes go to [`super::tls::client_hello_from_handshake`].
//!
//! Known versions: QUIC v1 (RFC 9000), v2 (RFC 9369), and the drafts 23 to
//! 34, which share two salts with v1's labels. Google QUIC before Q046
//! carries its handshake in plaintext; [`gquic_chlo_sni`] reads the server
//! name straight from the CHLO message.
//!
//! Everything here is safe on arbitrary input: every length is checked,
//! every loop consumes bytes or is bounded, nothing allocates.

use ring::aead::quic::{HeaderProtectionKey, AES_128};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, NONCE_LEN};
use ring::hkdf::{KeyType, Prk, Salt, HKDF_SHA256};

/// Why a datagram gave no CRYPTO data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuicError {
    /// Not a long-header Initial of a version tapscope knows.
    NotInitial,
    /// Authentication failed (not a client Initial, or corrupt).
    Decrypt,
    /// A header or length field that does not fit the datagram (also an
    /// Initial packet longer than the [`Scratch`] buffer).
    Malformed,
}

/// Scratch space for decrypting one datagram in place (no allocation per
/// packet: the worker owns one).
pub struct Scratch {
    pub buf: [u8; 2048],
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch { buf: [0; 2048] }
    }
}

/// QUIC version 1 (RFC 9000).
pub const VERSION_1: u32 = 0x0000_0001;
/// QUIC version 2 (RFC 9369).
pub const VERSION_2: u32 = 0x6b33_43cf;

/// AES-128-GCM's authentication tag, at the end of every protected payload.
const TAG_LEN: usize = 16;
/// Header protection samples 16 bytes, starting 4 bytes after the start of
/// the packet number field.
const SAMPLE_LEN: usize = 16;
const SAMPLE_OFFSET: usize = 4;
// A packet long enough for the sample has room for the longest (4-byte)
// packet number and the tag.
const _: () = assert!(SAMPLE_OFFSET + SAMPLE_LEN >= 4 + TAG_LEN);
/// Connection IDs of the versions known here are at most 20 bytes.
const MAX_CID_LEN: usize = 20;

/// How one family of versions protects its Initial packets.
struct Family {
    /// HKDF-Extract salt of the initial secret.
    salt: [u8; 20],
    /// HKDF-Expand-Label labels of the packet key, IV and header protection
    /// key (without the "tls13 " prefix).
    key_label: &'static [u8],
    iv_label: &'static [u8],
    hp_label: &'static [u8],
    /// The long header's type bits (0x30 of the first byte) of an Initial.
    initial_type: u8,
}

impl Family {
    /// The type bits of a Retry packet, the only long header packet without
    /// a Length field (the types are a rotation of v1's).
    fn retry_type(&self) -> u8 {
        (self.initial_type + 3) & 3
    }
}

/// RFC 9001 §5.2.
const V1: Family = Family {
    salt: [
        0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c,
        0xad, 0xcc, 0xbb, 0x7f, 0x0a,
    ],
    key_label: b"quic key",
    iv_label: b"quic iv",
    hp_label: b"quic hp",
    initial_type: 0b00,
};

/// RFC 9369 §3.3: its own salt and labels; Initial is type 0b01.
const V2: Family = Family {
    salt: [
        0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d,
        0xcb, 0xf9, 0xbd, 0x2e, 0xd9,
    ],
    key_label: b"quicv2 key",
    iv_label: b"quicv2 iv",
    hp_label: b"quicv2 hp",
    initial_type: 0b01,
};

/// draft-ietf-quic-tls-29 to -34.
const DRAFT_29: Family = Family {
    salt: [
        0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11,
        0xe0, 0x43, 0x90, 0xa8, 0x99,
    ],
    ..V1
};

/// draft-ietf-quic-tls-23 to -28.
const DRAFT_23: Family = Family {
    salt: [
        0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63,
        0x65, 0xbe, 0xf9, 0xf5, 0x02,
    ],
    ..V1
};

fn family(version: u32) -> Option<&'static Family> {
    match version {
        VERSION_1 => Some(&V1),
        VERSION_2 => Some(&V2),
        0xff00_001d..=0xff00_0022 => Some(&DRAFT_29),
        0xff00_0017..=0xff00_001c => Some(&DRAFT_23),
        _ => None,
    }
}

/// True for the versions whose Initial packets tapscope can decrypt.
pub fn is_known_version(version: u32) -> bool {
    family(version).is_some()
}

/// The Initial packet protection secrets of one side of a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitialKeys {
    /// AES-128-GCM packet key.
    pub key: [u8; 16],
    /// Packet IV (the packet number is XORed into its last 8 bytes).
    pub iv: [u8; 12],
    /// AES-128 header protection key.
    pub hp: [u8; 16],
}

/// Output length of an HKDF expansion.
struct OutLen(usize);

impl KeyType for OutLen {
    fn len(&self) -> usize {
        self.0
    }
}

/// TLS 1.3 HKDF-Expand-Label (RFC 8446 §7.1) with an empty context.
fn expand_label(prk: &Prk, label: &[u8], out: &mut [u8]) -> Option<()> {
    let out_len = u16::try_from(out.len()).ok()?.to_be_bytes();
    let label_len = [u8::try_from(b"tls13 ".len() + label.len()).ok()?];
    let info: [&[u8]; 5] = [&out_len, &label_len, b"tls13 ", label, &[0]];
    prk.expand(&info, OutLen(out.len())).ok()?.fill(out).ok()
}

/// Derives the Initial secrets of the client (or, with `is_server`, of the
/// server) from the Destination Connection ID of the client's first
/// Initial packet. `None` for a version that is not known here.
pub fn initial_keys(version: u32, dcid: &[u8], is_server: bool) -> Option<InitialKeys> {
    let fam = family(version)?;
    let initial = Salt::new(HKDF_SHA256, &fam.salt).extract(dcid);
    let mut secret = [0u8; 32];
    let side: &[u8] = if is_server {
        b"server in"
    } else {
        b"client in"
    };
    expand_label(&initial, side, &mut secret)?;
    let secret = Prk::new_less_safe(HKDF_SHA256, &secret);
    let mut k = InitialKeys {
        key: [0; 16],
        iv: [0; 12],
        hp: [0; 16],
    };
    expand_label(&secret, fam.key_label, &mut k.key)?;
    expand_label(&secret, fam.iv_label, &mut k.iv)?;
    expand_label(&secret, fam.hp_label, &mut k.hp)?;
    Some(k)
}

/// A bounds-checked reader over a byte slice.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    #[inline]
    fn new(b: &'a [u8]) -> Self {
        Reader { b, at: 0 }
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.at >= self.b.len()
    }

    #[inline]
    fn u8(&mut self) -> Option<u8> {
        let v = *self.b.get(self.at)?;
        self.at += 1;
        Some(v)
    }

    #[inline]
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let v = self.b.get(self.at..end)?;
        self.at = end;
        Some(v)
    }

    /// A variable-length integer (RFC 9000 §16).
    #[inline]
    fn varint(&mut self) -> Option<u64> {
        let first = *self.b.get(self.at)?;
        let bytes = self.take(1 << (first >> 6))?;
        let mut v = u64::from(first & 0x3f);
        for &x in &bytes[1..] {
            v = (v << 8) | u64::from(x);
        }
        Some(v)
    }

    /// A varint used as a length within this slice.
    #[inline]
    fn varint_len(&mut self) -> Option<usize> {
        usize::try_from(self.varint()?).ok()
    }

    /// An unsigned integer of `n` (at most 8) bytes, big- or little-endian.
    #[inline]
    fn uint(&mut self, n: usize, big_endian: bool) -> Option<u64> {
        let bytes = self.take(n)?;
        let mut v = 0u64;
        if big_endian {
            for &x in bytes {
                v = (v << 8) | u64::from(x);
            }
        } else {
            for &x in bytes.iter().rev() {
                v = (v << 8) | u64::from(x);
            }
        }
        Some(v)
    }
}

/// Decrypts every client Initial packet coalesced in `datagram` and passes
/// each CRYPTO frame's (offset, data) to `crypto`. Returns the version.
///
/// Packets of other types (Handshake, 0-RTT) are skipped by their Length;
/// a Retry, a short header packet or an unknown version ends the walk. The
/// frames of a decrypted Initial are read up to the first one that an
/// Initial may not carry (PADDING, PING, ACK, CRYPTO and CONNECTION_CLOSE
/// may appear); a truncated frame ends the walk too.
///
/// `Ok` as soon as one Initial decrypted; otherwise the first error met:
/// a server's Initial fails to decrypt ([`QuicError::Decrypt`]) since its
/// keys differ from the client's. The packet number is decoded as if no
/// packet had been seen before (the client's first packets have small
/// numbers, so the truncated value is the full one).
pub fn client_initial_crypto<F: FnMut(u64, &[u8])>(
    datagram: &[u8],
    scratch: &mut Scratch,
    mut crypto: F,
) -> Result<u32, QuicError> {
    walk_datagram(datagram, None, scratch, &mut crypto)
}

/// [`client_initial_crypto`] for a flow whose client Initials were seen
/// before: `first_dcid` is the Destination Connection ID of the first one
/// that decrypted (see [`initial_dcid`]).
///
/// Once the server's Initial arrives, the client addresses its later
/// Initials to the server's chosen connection ID but keeps protecting them
/// with the keys of the original one; a packet that does not decrypt with
/// its own Destination Connection ID is tried again with `first_dcid`
/// (after a Retry the packet's own ID is the right one, and is tried
/// first).
pub fn client_initial_crypto_with<F: FnMut(u64, &[u8])>(
    datagram: &[u8],
    first_dcid: &[u8],
    scratch: &mut Scratch,
    mut crypto: F,
) -> Result<u32, QuicError> {
    walk_datagram(datagram, Some(first_dcid), scratch, &mut crypto)
}

/// The Destination Connection ID of the first packet of `datagram`, if it
/// is a long header packet of a known version (at most 20 bytes).
pub fn initial_dcid(datagram: &[u8]) -> Option<&[u8]> {
    let mut r = Reader::new(datagram);
    if r.u8()? & 0x80 == 0 {
        return None;
    }
    let version = r.uint(4, true)? as u32;
    family(version)?;
    let n = usize::from(r.u8()?);
    if n > MAX_CID_LEN {
        return None;
    }
    r.take(n)
}

fn walk_datagram<F: FnMut(u64, &[u8])>(
    datagram: &[u8],
    first_dcid: Option<&[u8]>,
    scratch: &mut Scratch,
    crypto: &mut F,
) -> Result<u32, QuicError> {
    let mut result = Err(QuicError::NotInitial);
    let mut rest = datagram;
    // Each packet takes at least 7 bytes, so this ends; the bound is only
    // a second guard.
    for _ in 0..datagram.len() {
        match next_packet(rest, first_dcid, scratch, crypto) {
            Step::Next { outcome, used } => {
                merge(&mut result, outcome);
                rest = rest.get(used..).unwrap_or_default();
                if rest.is_empty() {
                    break;
                }
            }
            Step::Stop(outcome) => {
                merge(&mut result, outcome);
                break;
            }
        }
    }
    result
}

/// Keeps the first success, else the first error that says more than
/// "not an Initial".
fn merge(result: &mut Result<u32, QuicError>, outcome: Option<Result<u32, QuicError>>) {
    let Some(outcome) = outcome else { return };
    match (*result, outcome) {
        (Ok(_), _) => {}
        (_, Ok(v)) => *result = Ok(v),
        (Err(QuicError::NotInitial), Err(e)) => *result = Err(e),
        (Err(_), Err(_)) => {}
    }
}

/// What one packet of a datagram gave.
enum Step {
    /// `used` bytes were this packet; another may follow. `outcome` is
    /// `None` for a packet that is not an Initial.
    Next {
        outcome: Option<Result<u32, QuicError>>,
        used: usize,
    },
    /// The rest of the datagram cannot be read.
    Stop(Option<Result<u32, QuicError>>),
}

fn next_packet<F: FnMut(u64, &[u8])>(
    p: &[u8],
    first_dcid: Option<&[u8]>,
    scratch: &mut Scratch,
    crypto: &mut F,
) -> Step {
    let stop_malformed = Step::Stop(Some(Err(QuicError::Malformed)));
    let mut r = Reader::new(p);
    let Some(first) = r.u8() else {
        return Step::Stop(None);
    };
    if first & 0x80 == 0 {
        // A short header packet runs to the end of the datagram.
        return Step::Stop(None);
    }
    let Some(version) = r.uint(4, true) else {
        return stop_malformed;
    };
    let version = version as u32;
    let Some(fam) = family(version) else {
        // Version Negotiation (version 0) or a version whose packet layout
        // beyond the invariants is unknown.
        return Step::Stop(Some(Err(QuicError::NotInitial)));
    };
    let Some(dcid) = r
        .u8()
        .filter(|&n| usize::from(n) <= MAX_CID_LEN)
        .and_then(|n| r.take(usize::from(n)))
    else {
        return stop_malformed;
    };
    let Some(_scid) = r
        .u8()
        .filter(|&n| usize::from(n) <= MAX_CID_LEN)
        .and_then(|n| r.take(usize::from(n)))
    else {
        return stop_malformed;
    };
    let ty = (first >> 4) & 0x03;
    if ty == fam.retry_type() {
        return Step::Stop(None);
    }
    let is_initial = ty == fam.initial_type;
    if is_initial && r.varint_len().and_then(|n| r.take(n)).is_none() {
        return stop_malformed;
    }
    let Some(length) = r.varint_len() else {
        return stop_malformed;
    };
    let pn_offset = r.at;
    let Some(end) = pn_offset.checked_add(length).filter(|&e| e <= p.len()) else {
        return stop_malformed;
    };
    if !is_initial {
        return Step::Next {
            outcome: None,
            used: end,
        };
    }
    let packet = &p[..end];
    let mut outcome = open_initial(packet, pn_offset, version, dcid, scratch, crypto);
    if let Some(first) = first_dcid.filter(|&f| f != dcid) {
        if outcome == Err(QuicError::Decrypt) {
            outcome = open_initial(packet, pn_offset, version, first, scratch, crypto);
        }
    }
    Step::Next {
        outcome: Some(outcome),
        used: end,
    }
}

/// Removes header protection from and decrypts one client Initial packet
/// (`packet` ends where its Length field says), then walks its frames.
fn open_initial<F: FnMut(u64, &[u8])>(
    packet: &[u8],
    pn_offset: usize,
    version: u32,
    dcid: &[u8],
    scratch: &mut Scratch,
    crypto: &mut F,
) -> Result<u32, QuicError> {
    let sample_at = pn_offset + SAMPLE_OFFSET;
    // The sample must lie inside the packet (which leaves room for the
    // packet number and the tag).
    if packet.len() < sample_at + SAMPLE_LEN {
        return Err(QuicError::Malformed);
    }
    let buf = scratch
        .buf
        .get_mut(..packet.len())
        .ok_or(QuicError::Malformed)?;
    buf.copy_from_slice(packet);

    let keys = initial_keys(version, dcid, false).ok_or(QuicError::NotInitial)?;
    let hp = HeaderProtectionKey::new(&AES_128, &keys.hp).map_err(|_| QuicError::Decrypt)?;
    let mask = hp
        .new_mask(&buf[sample_at..sample_at + SAMPLE_LEN])
        .map_err(|_| QuicError::Decrypt)?;
    buf[0] ^= mask[0] & 0x0f;
    let pn_len = usize::from(buf[0] & 0x03) + 1;
    let mut pn = 0u64;
    for i in 0..pn_len {
        buf[pn_offset + i] ^= mask[1 + i];
        pn = (pn << 8) | u64::from(buf[pn_offset + i]);
    }

    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&keys.iv);
    for (n, b) in nonce[NONCE_LEN - 8..].iter_mut().zip(pn.to_be_bytes()) {
        *n ^= b;
    }
    let key = UnboundKey::new(&AES_128_GCM, &keys.key).map_err(|_| QuicError::Decrypt)?;
    let key = LessSafeKey::new(key);
    let (header, body) = buf.split_at_mut(pn_offset + pn_len);
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&header[..]),
            body,
        )
        .map_err(|_| QuicError::Decrypt)?;
    walk_frames(plain, crypto);
    Ok(version)
}

/// Frame types an Initial packet may carry (RFC 9000 §12.4, §19).
mod frame {
    pub const PADDING: u64 = 0x00;
    pub const PING: u64 = 0x01;
    pub const ACK: u64 = 0x02;
    pub const ACK_ECN: u64 = 0x03;
    pub const CRYPTO: u64 = 0x06;
    pub const CONNECTION_CLOSE: u64 = 0x1c;
}

/// Passes the CRYPTO frames of a decrypted payload to `crypto`, up to the
/// first frame an Initial may not carry or a truncated frame.
fn walk_frames<F: FnMut(u64, &[u8])>(payload: &[u8], crypto: &mut F) {
    let mut r = Reader::new(payload);
    // Every frame takes at least one byte.
    while !r.is_empty() {
        if walk_frame(&mut r, crypto).is_none() {
            return;
        }
    }
}

fn walk_frame<F: FnMut(u64, &[u8])>(r: &mut Reader<'_>, crypto: &mut F) -> Option<()> {
    match r.varint()? {
        frame::PADDING | frame::PING => {}
        ty @ (frame::ACK | frame::ACK_ECN) => {
            let _largest = r.varint()?;
            let _delay = r.varint()?;
            let ranges = r.varint()?;
            let _first_range = r.varint()?;
            // Each range takes at least two bytes: a huge count runs out of
            // bytes quickly.
            for _ in 0..ranges {
                let _gap = r.varint()?;
                let _len = r.varint()?;
            }
            if ty == frame::ACK_ECN {
                for _ in 0..3 {
                    r.varint()?;
                }
            }
        }
        frame::CRYPTO => {
            let offset = r.varint()?;
            let len = r.varint_len()?;
            let data = r.take(len)?;
            // RFC 9000 §19.6: the stream cannot reach 2^62.
            if offset.checked_add(len as u64)? >= 1 << 62 {
                return None;
            }
            crypto(offset, data);
        }
        frame::CONNECTION_CLOSE => {
            let _code = r.varint()?;
            let _frame_type = r.varint()?;
            let len = r.varint_len()?;
            r.take(len)?;
        }
        _ => return None,
    }
    Some(())
}

/// Reassembles the start of a CRYPTO stream (the client's ClientHello) from
/// frames arriving in any order, possibly overlapping, over several packets.
///
/// A plain fixed-size value: bytes beyond [`CryptoReasm::CAPACITY`] are
/// dropped, and [`contiguous`](CryptoReasm::contiguous) gives the bytes
/// received without a gap from offset 0.
#[derive(Clone)]
pub struct CryptoReasm {
    buf: [u8; CryptoReasm::CAPACITY],
    /// One bit per byte of `buf`: received.
    have: [u64; CryptoReasm::CAPACITY / 64],
    /// Bytes received without a gap from offset 0.
    contiguous: usize,
}

impl Default for CryptoReasm {
    fn default() -> Self {
        CryptoReasm {
            buf: [0; CryptoReasm::CAPACITY],
            have: [0; CryptoReasm::CAPACITY / 64],
            contiguous: 0,
        }
    }
}

impl std::fmt::Debug for CryptoReasm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CryptoReasm")
            .field("contiguous", &self.contiguous)
            .finish_non_exhaustive()
    }
}

impl CryptoReasm {
    /// Bytes of the stream kept (a ClientHello with a post-quantum key
    /// share takes about 2 KiB).
    pub const CAPACITY: usize = 4096;

    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets everything, for reuse by another flow.
    pub fn reset(&mut self) {
        self.have = [0; Self::CAPACITY / 64];
        self.contiguous = 0;
    }

    /// Adds `data` found at `offset` of the stream.
    pub fn add(&mut self, offset: u64, data: &[u8]) {
        let Ok(start) = usize::try_from(offset) else {
            return;
        };
        if start >= Self::CAPACITY {
            return;
        }
        let end = start.saturating_add(data.len()).min(Self::CAPACITY);
        if end <= self.contiguous {
            return; // a retransmission of what is already here
        }
        self.buf[start..end].copy_from_slice(&data[..end - start]);
        let mut i = start;
        while i < end {
            let bit = i % 64;
            let n = (64 - bit).min(end - i);
            let ones = if n == 64 {
                u64::MAX
            } else {
                ((1u64 << n) - 1) << bit
            };
            self.have[i / 64] |= ones;
            i += n;
        }
        while self.contiguous < Self::CAPACITY {
            let bit = self.contiguous % 64;
            // Ones from `bit` upwards; the bits shifted in are zeros, so
            // the count stops at the end of the word.
            let run = (!(self.have[self.contiguous / 64] >> bit)).trailing_zeros() as usize;
            let run = run.min(64 - bit);
            self.contiguous += run;
            if run < 64 - bit {
                break;
            }
        }
    }

    /// The stream's bytes from offset 0 up to the first gap.
    pub fn contiguous(&self) -> &[u8] {
        &self.buf[..self.contiguous]
    }

    /// True when the buffer is full: a message longer than
    /// [`CAPACITY`](Self::CAPACITY) will never be complete.
    pub fn is_full(&self) -> bool {
        self.contiguous == Self::CAPACITY
    }
}

/// [`client_initial_crypto`] feeding a [`CryptoReasm`].
pub fn client_initial_into(
    datagram: &[u8],
    scratch: &mut Scratch,
    reasm: &mut CryptoReasm,
) -> Result<u32, QuicError> {
    client_initial_crypto(datagram, scratch, |offset, data| reasm.add(offset, data))
}

/// Google QUIC public header flags (versions before Q046).
mod gflags {
    pub const VERSION: u8 = 0x01;
    pub const RESET: u8 = 0x02;
    pub const CID: u8 = 0x0c;
    pub const PN_LEN: u8 = 0x30;
    /// Unused before Q046 (where it marks the IETF-style long header).
    pub const LONG: u8 = 0x80;
}

/// Length of the null encryption's message authentication hash that
/// precedes the frames of an unencrypted Google QUIC packet.
const GQUIC_HASH_LEN: usize = 12;

/// The Google QUIC versions read here: the public header of Q024 to Q043.
fn gquic_version(b: &[u8]) -> Option<u8> {
    match b {
        [b'Q', b'0', d1 @ b'0'..=b'9', d2 @ b'0'..=b'9'] => {
            let v = (d1 - b'0') * 10 + (d2 - b'0');
            (24..=43).contains(&v).then_some(v)
        }
        _ => None,
    }
}

/// The SNI of a Google QUIC (Q0xx, unencrypted handshake) client hello.
///
/// Reads a client packet that carries the version (the client's packets
/// until the server answers): the public header, the 12-byte message
/// authentication hash, the private flags (before Q034), then frames up to
/// the STREAM frame of stream 1 at offset 0 that holds the CHLO message,
/// and the SNI tag in its tag table. Integers in the packet are
/// little-endian before Q039 and big-endian from it; the CHLO's are always
/// little-endian. `None` for anything else, or an SNI that does not lie
/// within this packet.
pub fn gquic_chlo_sni(datagram: &[u8]) -> Option<&[u8]> {
    let flags = *datagram.first()?;
    if flags & gflags::VERSION == 0 || flags & (gflags::RESET | gflags::LONG) != 0 {
        return None;
    }
    // The connection ID flags' meaning changed (Q033: two bits for 0, 1,
    // 4 or 8 bytes became one bit for 8 bytes, the other the server's
    // diversification nonce), and the version comes after the ID: try the
    // readings the flags allow and keep one where a version follows.
    let cid_lens: &[usize] = match flags & gflags::CID {
        0x0c => &[8],
        0x08 => &[8, 4],
        0x04 => &[0, 1],
        _ => &[0],
    };
    for &cid_len in cid_lens {
        let at = 1 + cid_len;
        let Some(version) = datagram.get(at..at + 4).and_then(gquic_version) else {
            continue;
        };
        return gquic_packet_sni(datagram, at + 4, flags, version);
    }
    None
}

fn gquic_packet_sni(p: &[u8], at: usize, flags: u8, version: u8) -> Option<&[u8]> {
    let big_endian = version >= 39;
    let pn_len = [1, 2, 4, 6][usize::from((flags & gflags::PN_LEN) >> 4)];
    let mut r = Reader::new(p);
    r.take(at)?;
    r.take(pn_len)?;
    r.take(GQUIC_HASH_LEN)?;
    if version < 34 {
        let private = r.u8()?;
        if private & 0x04 != 0 {
            return None; // an FEC packet: no frames
        }
        if private & 0x02 != 0 {
            r.u8()?; // FEC group offset
        }
    }
    // The CHLO comes first but for a few small frames; stop early on
    // anything else.
    for _ in 0..16 {
        let ty = r.u8()?;
        match ty {
            0x80..=0xff => {
                let stream_len = usize::from(ty & 0x03) + 1;
                let offset_len = match (ty >> 2) & 0x07 {
                    0 => 0,
                    n => usize::from(n) + 1,
                };
                let stream = r.uint(stream_len, big_endian)?;
                let offset = r.uint(offset_len, big_endian)?;
                let data = if ty & 0x20 != 0 {
                    let len = r.uint(2, big_endian)? as usize;
                    r.take(len)?
                } else {
                    let rest = p.len() - r.at;
                    r.take(rest)?
                };
                if stream == 1 {
                    return if offset == 0 { chlo_sni(data) } else { None };
                }
            }
            // PING.
            0x07 => {}
            // STOP_WAITING: (entropy before Q034,) least unacked delta.
            0x06 => {
                let n = pn_len + usize::from(version < 34);
                r.take(n)?;
            }
            // PADDING runs to the end of the packet; ACK and others are not
            // expected before a CHLO.
            _ => return None,
        }
    }
    None
}

/// The SNI tag's value in a CHLO message: "CHLO", a 2-byte tag count, 2
/// bytes of padding, the tag table (tag, end offset of its value) and the
/// values.
fn chlo_sni(msg: &[u8]) -> Option<&[u8]> {
    let mut r = Reader::new(msg);
    if r.take(4)? != b"CHLO" {
        return None;
    }
    let tags = r.uint(2, false)? as usize;
    r.take(2)?;
    let table = r.take(tags.checked_mul(8)?)?;
    let values = &msg[r.at..];
    let mut start = 0usize;
    for entry in table.chunks_exact(8) {
        let end = u32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]) as usize;
        if end < start {
            return None;
        }
        if &entry[..4] == b"SNI\0" {
            return values.get(start..end).filter(|v| !v.is_empty());
        }
        start = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// The Destination Connection ID of the RFC examples.
    const DCID: &str = "8394c8f03e515708";

    /// RFC 9001 A.2 / RFC 9369 A.2: the client's CRYPTO frame, a
    /// ClientHello for example.com.
    const CLIENT_CRYPTO_FRAME: &str = "
        060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868
        04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578
        616d706c652e636f6dff01000100000a00080006001d00170018001000070005
        04616c706e000500050100000000003300260024001d00209370b2c9caa47fba
        baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400
        0d0010000e0403050306030203080408050806002d00020101001c0002400100
        3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000
        75300901100f088394c8f03e51570806048000ffff";

    /// RFC 9001 A.2: the protected client Initial (v1).
    const V1_CLIENT_INITIAL: &str = "
        c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11
        d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399
        1c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c
        8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df6212
        30c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5
        457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208
        4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec
        4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3
        485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db
        059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c
        7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f8
        9937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556
        be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c74
        68449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663a
        c69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00
        f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632
        291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe58964
        25c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd
        14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff
        ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198
        e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd
        c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73
        203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77f
        cb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e
        fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03ade
        a2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e724047
        90a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2
        162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f4
        40591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca0
        6948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e
        8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0
        be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f09400
        54da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab
        760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9
        f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4
        056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064
        7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241
        e221af44860018ab0856972e194cd934";

    /// RFC 9001 A.3: the server's Initial (v1).
    const V1_SERVER_INITIAL: &str = "
        cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a
        5816b6394100f37a1c69797554780bb38cc5a99f5ede4cf73c3ec2493a1839b3
        dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f3bded74b562bfb19fb84
        022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc4
        2158407dd074ee";

    /// RFC 9369 A.2: the protected client Initial (v2).
    const V2_CLIENT_INITIAL: &str = "
        d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485
        dd04de806071bf03dceebfa162e75d6c96058bdbfb127cdfcbf903388e99ad04
        9f9a3dd4425ae4d0992cfff18ecf0fdb5a842d09747052f17ac2053d21f57c5d
        250f2c4f0e0202b70785b7946e992e58a59ac52dea6774d4f03b55545243cf1a
        12834e3f249a78d395e0d18f4d766004f1a2674802a747eaa901c3f10cda5500
        cb9122faa9f1df66c392079a1b40f0de1c6054196a11cbea40afb6ef5253cd68
        18f6625efce3b6def6ba7e4b37a40f7732e093daa7d52190935b8da58976ff33
        12ae50b187c1433c0f028edcc4c2838b6a9bfc226ca4b4530e7a4ccee1bfa2a3
        d396ae5a3fb512384b2fdd851f784a65e03f2c4fbe11a53c7777c023462239dd
        6f7521a3f6c7d5dd3ec9b3f233773d4b46d23cc375eb198c63301c21801f6520
        bcfb7966fc49b393f0061d974a2706df8c4a9449f11d7f3d2dcbb90c6b877045
        636e7c0c0fe4eb0f697545460c806910d2c355f1d253bc9d2452aaa549e27a1f
        ac7cf4ed77f322e8fa894b6a83810a34b361901751a6f5eb65a0326e07de7c12
        16ccce2d0193f958bb3850a833f7ae432b65bc5a53975c155aa4bcb4f7b2c4e5
        4df16efaf6ddea94e2c50b4cd1dfe06017e0e9d02900cffe1935e0491d77ffb4
        fdf85290fdd893d577b1131a610ef6a5c32b2ee0293617a37cbb08b847741c3b
        8017c25ca9052ca1079d8b78aebd47876d330a30f6a8c6d61dd1ab5589329de7
        14d19d61370f8149748c72f132f0fc99f34d766c6938597040d8f9e2bb522ff9
        9c63a344d6a2ae8aa8e51b7b90a4a806105fcbca31506c446151adfeceb51b91
        abfe43960977c87471cf9ad4074d30e10d6a7f03c63bd5d4317f68ff325ba3bd
        80bf4dc8b52a0ba031758022eb025cdd770b44d6d6cf0670f4e990b22347a7db
        848265e3e5eb72dfe8299ad7481a408322cac55786e52f633b2fb6b614eaed18
        d703dd84045a274ae8bfa73379661388d6991fe39b0d93debb41700b41f90a15
        c4d526250235ddcd6776fc77bc97e7a417ebcb31600d01e57f32162a8560cacc
        7e27a096d37a1a86952ec71bd89a3e9a30a2a26162984d7740f81193e8238e61
        f6b5b984d4d3dfa033c1bb7e4f0037febf406d91c0dccf32acf423cfa1e70710
        10d3f270121b493ce85054ef58bada42310138fe081adb04e2bd901f2f13458b
        3d6758158197107c14ebb193230cd1157380aa79cae1374a7c1e5bbcb80ee23e
        06ebfde206bfb0fcbc0edc4ebec309661bdd908d532eb0c6adc38b7ca7331dce
        8dfce39ab71e7c32d318d136b6100671a1ae6a6600e3899f31f0eed19e3417d1
        34b90c9058f8632c798d4490da4987307cba922d61c39805d072b589bd52fdf1
        e86215c2d54e6670e07383a27bbffb5addf47d66aa85a0c6f9f32e59d85a44dd
        5d3b22dc2be80919b490437ae4f36a0ae55edf1d0b5cb4e9a3ecabee93dfc6e3
        8d209d0fa6536d27a5d6fbb17641cde27525d61093f1b28072d111b2b4ae5f89
        d5974ee12e5cf7d5da4d6a31123041f33e61407e76cffcdcfd7e19ba58cf4b53
        6f4c4938ae79324dc402894b44faf8afbab35282ab659d13c93f70412e85cb19
        9a37ddec600545473cfb5a05e08d0b209973b2172b4d21fb69745a262ccde96b
        a18b2faa745b6fe189cf772a9f84cbfc";

    /// RFC 9369 A.3: the server's Initial (v2).
    const V2_SERVER_INITIAL: &str = "
        dc6b3343cf0008f067a5502a4262b5004075d92faaf16f05d8a4398c47089698
        baeea26b91eb761d9b89237bbf87263017915358230035f7fd3945d88965cf17
        f9af6e16886c61bfc703106fbaf3cb4cfa52382dd16a393e42757507698075b2
        c984c707f0a0812d8cd5a6881eaf21ceda98f4bd23f6fe1a3e2c43edd9ce7ca8
        4bed8521e2e140";

    /// CRYPTO frames as (offset, data).
    type Frames = Vec<(u64, Vec<u8>)>;

    /// Every CRYPTO frame handed out for a datagram, and the result.
    fn crypto_frames(d: &[u8]) -> (Result<u32, QuicError>, Frames) {
        let mut scratch = Scratch::default();
        let mut out = Vec::new();
        let r = client_initial_crypto(d, &mut scratch, |o, b| out.push((o, b.to_vec())));
        (r, out)
    }

    fn keys_hex(k: &InitialKeys) -> [String; 3] {
        [hex(&k.key), hex(&k.iv), hex(&k.hp)]
    }

    #[test]
    fn rfc9001_initial_keys() {
        // RFC 9001 A.1.
        let c = initial_keys(VERSION_1, &unhex(DCID), false).unwrap();
        assert_eq!(
            keys_hex(&c),
            [
                "1f369613dd76d5467730efcbe3b1a22d",
                "fa044b2f42a3fd3b46fb255c",
                "9f50449e04a0e810283a1e9933adedd2"
            ]
        );
        let s = initial_keys(VERSION_1, &unhex(DCID), true).unwrap();
        assert_eq!(
            keys_hex(&s),
            [
                "cf3a5331653c364c88f0f379b6067e37",
                "0ac1493ca1905853b0bba03e",
                "c206b8d9b9f0f37644430b490eeaa314"
            ]
        );
    }

    #[test]
    fn rfc9369_initial_keys() {
        // RFC 9369 A.1.
        let c = initial_keys(VERSION_2, &unhex(DCID), false).unwrap();
        assert_eq!(
            keys_hex(&c),
            [
                "8b1a0bc121284290a29e0971b5cd045d",
                "91f73e2351d8fa91660e909f",
                "45b95e15235d6f45a6b19cbcb0294ba9"
            ]
        );
        let s = initial_keys(VERSION_2, &unhex(DCID), true).unwrap();
        assert_eq!(
            keys_hex(&s),
            [
                "82db637861d55e1d011f19ea71d5d2a7",
                "dd13c276499c0249d3310652",
                "edf6d05c83121201b436e16877593c3a"
            ]
        );
    }

    #[test]
    fn draft29_initial_keys() {
        // draft-ietf-quic-tls-29 A.1 (same example connection ID).
        for v in 0xff00_001d..=0xff00_0022 {
            let c = initial_keys(v, &unhex(DCID), false).unwrap();
            assert_eq!(
                keys_hex(&c),
                [
                    "175257a31eb09dea9366d8bb79ad80ba",
                    "6b26114b9cba2b63a9e8dd4f",
                    "9ddd12c994c0698b89374a9c077a3077"
                ]
            );
        }
    }

    #[test]
    fn known_versions() {
        for v in [
            VERSION_1,
            VERSION_2,
            0xff00_0017,
            0xff00_001c,
            0xff00_001d,
            0xff00_0022,
        ] {
            assert!(is_known_version(v), "{v:#x}");
        }
        for v in [
            0,
            2,
            0xff00_0016,
            0xff00_0023,
            0x5130_3436,
            0xface_b002,
            0x0a0a_0a0a,
        ] {
            assert!(!is_known_version(v), "{v:#x}");
            assert!(initial_keys(v, &[1; 8], false).is_none());
        }
    }

    #[test]
    fn rfc9001_header_protection_mask() {
        // RFC 9001 A.2: the sample and the mask it gives.
        let c = initial_keys(VERSION_1, &unhex(DCID), false).unwrap();
        let hp = HeaderProtectionKey::new(&AES_128, &c.hp).unwrap();
        let mask = hp
            .new_mask(&unhex("d1b1c98dd7689fb8ec11d242b123dc9b"))
            .unwrap();
        assert_eq!(hex(&mask), "437b9aec36");
    }

    /// The CRYPTO data of the RFC examples' client Initial.
    fn example_crypto() -> Vec<u8> {
        let f = unhex(CLIENT_CRYPTO_FRAME);
        assert_eq!(&f[..4], [0x06, 0x00, 0x40, 0xf1]);
        f[4..].to_vec()
    }

    #[test]
    fn rfc9001_client_initial_decrypts() {
        let (r, frames) = crypto_frames(&unhex(V1_CLIENT_INITIAL));
        assert_eq!(r, Ok(VERSION_1));
        assert_eq!(frames, vec![(0, example_crypto())]);
        // The ClientHello names example.com.
        assert!(frames[0].1.windows(11).any(|w| w == b"example.com"));
    }

    #[test]
    fn rfc9369_client_initial_decrypts() {
        let (r, frames) = crypto_frames(&unhex(V2_CLIENT_INITIAL));
        assert_eq!(r, Ok(VERSION_2));
        assert_eq!(frames, vec![(0, example_crypto())]);
    }

    #[test]
    fn server_initials_do_not_decrypt_with_client_keys() {
        for p in [V1_SERVER_INITIAL, V2_SERVER_INITIAL] {
            let (r, frames) = crypto_frames(&unhex(p));
            assert_eq!(r, Err(QuicError::Decrypt));
            assert!(frames.is_empty());
        }
    }

    #[test]
    fn corrupt_initial_fails_authentication() {
        let good = unhex(V1_CLIENT_INITIAL);
        for at in [3, 7, 25, 100, good.len() - 1] {
            let mut p = good.clone();
            p[at] ^= 0x01;
            let (r, frames) = crypto_frames(&p);
            assert!(r.is_err(), "byte {at}");
            assert!(frames.is_empty());
        }
    }

    #[test]
    fn not_initial() {
        let mut p = unhex(V1_CLIENT_INITIAL);
        // An unknown version.
        p[1..5].copy_from_slice(&[0x0a, 0x1a, 0x2a, 0x3a]);
        assert_eq!(crypto_frames(&p).0, Err(QuicError::NotInitial));
        // Version Negotiation.
        p[1..5].copy_from_slice(&[0; 4]);
        assert_eq!(crypto_frames(&p).0, Err(QuicError::NotInitial));
        // A short header packet, and nothing.
        assert_eq!(crypto_frames(&[0x40; 40]).0, Err(QuicError::NotInitial));
        assert_eq!(crypto_frames(&[]).0, Err(QuicError::NotInitial));
        // A v1 Initial relabelled as v2: type 0b00 is v2's Retry.
        let mut p = unhex(V1_CLIENT_INITIAL);
        p[1..5].copy_from_slice(&VERSION_2.to_be_bytes());
        assert_eq!(crypto_frames(&p).0, Err(QuicError::NotInitial));
    }

    #[test]
    fn longer_than_scratch_is_malformed() {
        let keys = initial_keys(VERSION_1, &[7; 8], false).unwrap();
        let frames = [0x06, 0x00, 0x02, 0xaa, 0xbb];
        let p = seal_initial(VERSION_1, &keys, &[7; 8], &[], 0, 1, &frames, 2100);
        assert!(p.len() > 2048);
        assert_eq!(crypto_frames(&p).0, Err(QuicError::Malformed));
        let p = seal_initial(VERSION_1, &keys, &[7; 8], &[], 0, 1, &frames, 2048);
        assert_eq!(crypto_frames(&p).1, vec![(0, vec![0xaa, 0xbb])]);
    }

    #[test]
    fn every_truncation_is_an_error_and_never_panics() {
        for p in [V1_CLIENT_INITIAL, V2_CLIENT_INITIAL, V1_SERVER_INITIAL] {
            let p = unhex(p);
            let mut scratch = Scratch::default();
            for n in 0..p.len() {
                let mut called = false;
                let r = client_initial_crypto(&p[..n], &mut scratch, |_, _| called = true);
                assert!(r.is_err(), "{n} bytes");
                assert!(!called);
            }
        }
    }

    /// Seals an Initial packet of `version` (the client's keys come from
    /// `dcid`) with `frames` padded to `min_len` bytes: the packet a client
    /// sends, built here independently of the reader.
    #[allow(clippy::too_many_arguments)]
    fn seal_initial(
        version: u32,
        keys: &InitialKeys,
        dcid: &[u8],
        token: &[u8],
        pn: u64,
        pn_len: usize,
        frames: &[u8],
        min_len: usize,
    ) -> Vec<u8> {
        let fam = family(version).unwrap();
        let mut h = vec![0xc0 | (fam.initial_type << 4) | (pn_len as u8 - 1)];
        h.extend_from_slice(&version.to_be_bytes());
        h.push(dcid.len() as u8);
        h.extend_from_slice(dcid);
        h.push(3);
        h.extend_from_slice(&[0xc1, 0xc2, 0xc3]);
        assert!(token.len() < 64);
        h.push(token.len() as u8);
        h.extend_from_slice(token);
        let fixed = h.len() + 2 + pn_len + TAG_LEN;
        let payload_len = frames
            .len()
            .max(min_len.saturating_sub(fixed))
            .max(SAMPLE_OFFSET + SAMPLE_LEN - pn_len - TAG_LEN);
        let length = pn_len + payload_len + TAG_LEN;
        h.extend_from_slice(&(0x4000 | length as u16).to_be_bytes());
        let pn_at = h.len();
        h.extend_from_slice(&pn.to_be_bytes()[8 - pn_len..]);
        let mut body = frames.to_vec();
        body.resize(payload_len, 0);
        let mut nonce = keys.iv;
        for (n, b) in nonce[4..].iter_mut().zip(pn.to_be_bytes()) {
            *n ^= b;
        }
        let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &keys.key).unwrap());
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&h[..]),
            &mut body,
        )
        .unwrap();
        let mut p = h;
        p.extend_from_slice(&body);
        let hp = HeaderProtectionKey::new(&AES_128, &keys.hp).unwrap();
        let mask = hp.new_mask(&p[pn_at + 4..pn_at + 20]).unwrap();
        p[0] ^= mask[0] & 0x0f;
        for i in 0..pn_len {
            p[pn_at + i] ^= mask[1 + i];
        }
        p
    }

    /// A long header packet of type bits `ty` with an opaque body.
    fn long_packet(version: u32, ty: u8, body: &[u8]) -> Vec<u8> {
        let mut p = vec![0xc0 | (ty << 4)];
        p.extend_from_slice(&version.to_be_bytes());
        p.extend_from_slice(&[4, 1, 2, 3, 4, 0]);
        p.extend_from_slice(&(0x4000 | body.len() as u16).to_be_bytes());
        p.extend_from_slice(body);
        p
    }

    #[test]
    fn draft_versions_round_trip() {
        let dcid = [0x5a; 12];
        for version in [
            0xff00_0017,
            0xff00_001b,
            0xff00_001c,
            0xff00_001d,
            0xff00_0022,
        ] {
            let keys = initial_keys(version, &dcid, false).unwrap();
            let frames = [0x06, 0x00, 0x03, 1, 2, 3];
            let p = seal_initial(version, &keys, &dcid, &[], 1, 2, &frames, 1200);
            assert_eq!(p.len(), 1200);
            let (r, got) = crypto_frames(&p);
            assert_eq!(r, Ok(version), "{version:#x}");
            assert_eq!(got, vec![(0, vec![1, 2, 3])]);
        }
        // Drafts 23-28 and 29-34 have different salts.
        assert_ne!(
            initial_keys(0xff00_001c, &dcid, false),
            initial_keys(0xff00_001d, &dcid, false)
        );
    }

    #[test]
    fn frames_of_an_initial() {
        let dcid = [9; 8];
        let keys = initial_keys(VERSION_1, &dcid, false).unwrap();
        let mut frames = Vec::new();
        frames.extend_from_slice(&[0x01]); // PING
        frames.extend_from_slice(&[0x00, 0x00]); // PADDING
                                                 // ACK: largest 10, delay 2, 2 more ranges, first range 1, then
                                                 // (gap, len) pairs with a 2-byte varint.
        frames.extend_from_slice(&[0x02, 10, 2, 2, 1, 0, 1, 0x40, 1, 0]);
        // CRYPTO at offset 300 (2-byte varint), 2 bytes.
        frames.extend_from_slice(&[0x06, 0x41, 0x2c, 2, 0xde, 0xad]);
        // ACK_ECN: largest 1, delay 0, no ranges, first 1, ECN counts.
        frames.extend_from_slice(&[0x03, 1, 0, 0, 1, 5, 6, 7]);
        // CONNECTION_CLOSE with a reason, then CRYPTO at 0.
        frames.extend_from_slice(&[0x1c, 0x0a, 0x06, 3, b'b', b'y', b'e']);
        frames.extend_from_slice(&[0x06, 0, 1, 0x42]);
        // NEW_TOKEN is not allowed in an Initial: the walk stops.
        frames.extend_from_slice(&[0x07, 1, 0]);
        frames.extend_from_slice(&[0x06, 0, 1, 0x43]);
        let p = seal_initial(VERSION_1, &keys, &dcid, b"tok", 0x1234, 4, &frames, 0);
        let (r, got) = crypto_frames(&p);
        assert_eq!(r, Ok(VERSION_1));
        assert_eq!(got, vec![(300, vec![0xde, 0xad]), (0, vec![0x42])]);
    }

    #[test]
    fn truncated_frame_stops_the_walk() {
        let dcid = [3; 8];
        let keys = initial_keys(VERSION_1, &dcid, false).unwrap();
        // A CRYPTO frame claiming more bytes than the payload has (the
        // padding added to reach the sample is shorter).
        let frames = [0x06, 0x00, 0x05, 0xaa];
        let p = seal_initial(VERSION_1, &keys, &dcid, &[], 0, 4, &frames, 0);
        let (r, got) = crypto_frames(&p);
        assert_eq!(r, Ok(VERSION_1));
        assert!(got.is_empty());
    }

    #[test]
    fn coalesced_packets() {
        let dcid = [0x11; 8];
        let keys = initial_keys(VERSION_1, &dcid, false).unwrap();
        let a = seal_initial(VERSION_1, &keys, &dcid, &[], 0, 1, &[0x06, 0, 2, 1, 2], 0);
        let b = seal_initial(VERSION_1, &keys, &dcid, &[], 1, 1, &[0x06, 2, 1, 3], 0);
        // Initial, Handshake (skipped), Initial, then a short header
        // packet that ends the datagram.
        let mut d = a.clone();
        d.extend_from_slice(&long_packet(VERSION_1, 2, &[0xee; 40]));
        d.extend_from_slice(&b);
        d.extend_from_slice(&[0x40; 30]);
        let (r, got) = crypto_frames(&d);
        assert_eq!(r, Ok(VERSION_1));
        assert_eq!(got, vec![(0, vec![1, 2]), (2, vec![3])]);

        // A Retry ends the walk; packets after it are not read.
        let mut d = long_packet(VERSION_1, 3, &[0; 30]);
        d.extend_from_slice(&a);
        assert_eq!(crypto_frames(&d).0, Err(QuicError::NotInitial));

        // A server Initial (other keys) before the client's: still Ok.
        let server = initial_keys(VERSION_1, &dcid, true).unwrap();
        let mut d = seal_initial(VERSION_1, &server, &dcid, &[], 0, 1, &[0x01], 0);
        d.extend_from_slice(&b);
        let (r, got) = crypto_frames(&d);
        assert_eq!(r, Ok(VERSION_1));
        assert_eq!(got, vec![(2, vec![3])]);

        // A Length beyond the datagram.
        let mut d = a.clone();
        d.truncate(a.len() - 1);
        assert_eq!(crypto_frames(&d).0, Err(QuicError::Malformed));
    }

    #[test]
    fn later_initials_keep_the_first_keys() {
        // After the server's Initial the client writes to the server's
        // connection ID but keeps the keys of its first one.
        let first = [0x31; 8];
        let server_cid = [0x77; 5];
        let keys = initial_keys(VERSION_1, &first, false).unwrap();
        let p0 = seal_initial(VERSION_1, &keys, &first, &[], 0, 1, &[0x06, 0, 1, 7], 0);
        let p2 = seal_initial(
            VERSION_1,
            &keys,
            &server_cid,
            &[],
            2,
            1,
            &[0x06, 1, 1, 8],
            0,
        );
        assert_eq!(initial_dcid(&p0), Some(&first[..]));
        assert_eq!(initial_dcid(&p2), Some(&server_cid[..]));
        assert_eq!(crypto_frames(&p2).0, Err(QuicError::Decrypt));
        let mut scratch = Scratch::default();
        let mut got = Vec::new();
        let r =
            client_initial_crypto_with(&p2, &first, &mut scratch, |o, b| got.push((o, b.to_vec())));
        assert_eq!(r, Ok(VERSION_1));
        assert_eq!(got, vec![(1, vec![8])]);
        // A packet's own connection ID still comes first (after a Retry).
        let r = client_initial_crypto_with(&p0, &server_cid, &mut scratch, |_, _| {});
        assert_eq!(r, Ok(VERSION_1));
        // Not the flow's keys at all.
        let r = client_initial_crypto_with(&p2, &[0x32; 8], &mut scratch, |_, _| {});
        assert_eq!(r, Err(QuicError::Decrypt));
    }

    #[test]
    fn initial_dcid_of_datagrams() {
        assert_eq!(
            initial_dcid(&unhex(V2_CLIENT_INITIAL)),
            Some(&unhex(DCID)[..])
        );
        assert_eq!(initial_dcid(&unhex(V1_SERVER_INITIAL)), Some(&[][..]));
        assert_eq!(initial_dcid(&[0x40; 30]), None);
        assert_eq!(initial_dcid(&[0xc0, 0, 0, 0, 0, 4, 1, 2, 3, 4]), None);
        assert_eq!(initial_dcid(&[0xc0, 0, 0, 0, 1, 21]), None);
        assert_eq!(initial_dcid(&[0xc0, 0, 0, 0, 1, 4, 1, 2, 3]), None);
        assert_eq!(initial_dcid(&[]), None);
    }

    #[test]
    fn v2_types() {
        let dcid = [0x22; 8];
        let keys = initial_keys(VERSION_2, &dcid, false).unwrap();
        let init = seal_initial(VERSION_2, &keys, &dcid, &[], 5, 2, &[0x06, 0, 1, 9], 0);
        assert_eq!(init[0] & 0x30, 0x10);
        // v2's Handshake (0b11) is skipped by its Length; its Retry (0b00)
        // ends the walk.
        let mut d = long_packet(VERSION_2, 3, &[0xee; 25]);
        d.extend_from_slice(&init);
        assert_eq!(crypto_frames(&d).1, vec![(0, vec![9])]);
        let mut d = long_packet(VERSION_2, 0, &[0xee; 25]);
        d.extend_from_slice(&init);
        assert_eq!(crypto_frames(&d).0, Err(QuicError::NotInitial));
    }

    #[test]
    fn reasm_in_order_and_out_of_order() {
        let msg: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut r = CryptoReasm::new();
        r.add(0, &msg[..100]);
        assert_eq!(r.contiguous(), &msg[..100]);
        r.add(200, &msg[200..1000]);
        assert_eq!(r.contiguous().len(), 100);
        r.add(1000, &msg[1000..]);
        assert_eq!(r.contiguous().len(), 100);
        // Overlapping, filling the gap.
        r.add(50, &msg[50..250]);
        assert_eq!(r.contiguous(), &msg[..]);
        assert!(!r.is_full());
        // Retransmission changes nothing.
        r.add(0, &msg[..10]);
        assert_eq!(r.contiguous(), &msg[..]);

        r.reset();
        assert!(r.contiguous().is_empty());
        // Byte by byte, backwards, across word boundaries.
        for i in (0..msg.len()).rev() {
            r.add(i as u64, &msg[i..i + 1]);
            assert_eq!(r.contiguous().len(), if i == 0 { msg.len() } else { 0 });
        }
        assert_eq!(r.contiguous(), &msg[..]);
    }

    #[test]
    fn reasm_capacity() {
        let mut r = CryptoReasm::new();
        let big = vec![0x5a; 5000];
        r.add(0, &big);
        assert_eq!(r.contiguous().len(), CryptoReasm::CAPACITY);
        assert!(r.is_full());
        r.reset();
        r.add(u64::MAX, &big);
        r.add(CryptoReasm::CAPACITY as u64, &big);
        r.add(CryptoReasm::CAPACITY as u64 - 1, &[1, 2, 3]);
        assert!(r.contiguous().is_empty());
        r.add(0, &big[..CryptoReasm::CAPACITY - 1]);
        assert!(r.is_full());
        assert_eq!(r.contiguous()[CryptoReasm::CAPACITY - 1], 1);
        r.add(0, &[]);
        r.reset();
        r.add(0, &[]);
        assert!(r.contiguous().is_empty());
    }

    #[test]
    fn reasm_of_split_initials() {
        // A ClientHello split over two Initial packets, second one first.
        let dcid = [0x44; 8];
        let keys = initial_keys(VERSION_1, &dcid, false).unwrap();
        let ch = example_crypto();
        let (a, b) = ch.split_at(100);
        let mut fa = vec![0x06, 0x00, 0x40, a.len() as u8];
        fa.extend_from_slice(a);
        let mut fb = vec![0x06, 0x40, 100, 0x40, b.len() as u8];
        fb.extend_from_slice(b);
        let pa = seal_initial(VERSION_1, &keys, &dcid, &[], 0, 1, &fa, 1200);
        let pb = seal_initial(VERSION_1, &keys, &dcid, &[], 1, 1, &fb, 1200);
        let mut scratch = Scratch::default();
        let mut r = CryptoReasm::new();
        assert_eq!(client_initial_into(&pb, &mut scratch, &mut r), Ok(1));
        assert!(r.contiguous().is_empty());
        assert_eq!(client_initial_into(&pa, &mut scratch, &mut r), Ok(1));
        assert_eq!(r.contiguous(), &ch[..]);
    }

    /// A Google QUIC client packet: flags, 8-byte CID, version, 1-byte
    /// packet number, hash, (private flags,) then `frames`.
    fn gquic_packet(flags: u8, version: &[u8; 4], frames: &[u8]) -> Vec<u8> {
        let mut p = vec![flags];
        p.extend_from_slice(&[0x12; 8]);
        p.extend_from_slice(version);
        p.push(1);
        p.extend_from_slice(&[0xab; 12]);
        let n = (version[2] - b'0') * 10 + (version[3] - b'0');
        if n < 34 {
            p.push(0x01);
        }
        p.extend_from_slice(frames);
        p
    }

    /// A CHLO with PAD, SNI and VER tags.
    fn chlo(sni: &[u8]) -> Vec<u8> {
        let tags: [(&[u8; 4], Vec<u8>); 3] = [
            (b"PAD\0", vec![b'-'; 20]),
            (b"SNI\0", sni.to_vec()),
            (b"VER\0", b"Q035".to_vec()),
        ];
        let mut m = b"CHLO".to_vec();
        m.extend_from_slice(&(tags.len() as u16).to_le_bytes());
        m.extend_from_slice(&[0, 0]);
        let mut end = 0u32;
        for (t, v) in &tags {
            end += v.len() as u32;
            m.extend_from_slice(&t[..]);
            m.extend_from_slice(&end.to_le_bytes());
        }
        for (_, v) in &tags {
            m.extend_from_slice(v);
        }
        m
    }

    /// A STREAM frame on stream 1 at offset 0 with a 2-byte data length.
    fn stream1(data: &[u8], big_endian: bool) -> Vec<u8> {
        let mut f = vec![0xa0, 0x01];
        let len = data.len() as u16;
        f.extend_from_slice(&if big_endian {
            len.to_be_bytes()
        } else {
            len.to_le_bytes()
        });
        f.extend_from_slice(data);
        f
    }

    #[test]
    fn gquic_sni() {
        let m = chlo(b"www.example.org");
        for (flags, v) in [
            (0x0d, b"Q024"),
            (0x0d, b"Q033"),
            (0x09, b"Q035"),
            (0x0d, b"Q037"),
        ] {
            let p = gquic_packet(flags, v, &stream1(&m, false));
            assert_eq!(gquic_chlo_sni(&p), Some(&b"www.example.org"[..]), "{v:?}");
        }
        let p = gquic_packet(0x0d, b"Q043", &stream1(&m, true));
        assert_eq!(gquic_chlo_sni(&p), Some(&b"www.example.org"[..]));
        // Little-endian length on a big-endian version: wrong length.
        let p = gquic_packet(0x0d, b"Q043", &stream1(&m, false));
        assert_eq!(gquic_chlo_sni(&p), None);
        // PING and STOP_WAITING before the STREAM frame.
        let mut f = vec![0x07, 0x06, 0x00];
        f.extend_from_slice(&stream1(&m, false));
        assert!(gquic_chlo_sni(&gquic_packet(0x0c | 0x01, b"Q035", &f)).is_some());
        // Without a data length the stream data runs to the end.
        let mut f = vec![0x80, 0x01];
        f.extend_from_slice(&m);
        assert!(gquic_chlo_sni(&gquic_packet(0x0d, b"Q039", &f)).is_some());
        // Another stream, another message, no version flag, unknown version.
        let mut f = stream1(&m, false);
        f[1] = 3;
        assert_eq!(gquic_chlo_sni(&gquic_packet(0x0d, b"Q035", &f)), None);
        let mut shlo = m.clone();
        shlo[..4].copy_from_slice(b"SHLO");
        let p = gquic_packet(0x0d, b"Q035", &stream1(&shlo, false));
        assert_eq!(gquic_chlo_sni(&p), None);
        let p = gquic_packet(0x0c, b"Q035", &stream1(&m, false));
        assert_eq!(gquic_chlo_sni(&p), None);
        let p = gquic_packet(0x0d, b"Q050", &stream1(&m, false));
        assert_eq!(gquic_chlo_sni(&p), None);
        // An empty SNI is none.
        let p = gquic_packet(0x0d, b"Q035", &stream1(&chlo(b""), false));
        assert_eq!(gquic_chlo_sni(&p), None);
    }

    #[test]
    fn gquic_truncation_never_panics() {
        let m = chlo(b"host.example");
        let p = gquic_packet(0x0d, b"Q035", &stream1(&m, false));
        assert!(gquic_chlo_sni(&p).is_some());
        for n in 0..p.len() {
            assert_eq!(gquic_chlo_sni(&p[..n]), None, "{n} bytes");
        }
        // Tag end offsets going backwards.
        let mut bad = m.clone();
        bad[12..16].copy_from_slice(&100u32.to_le_bytes());
        let p = gquic_packet(0x0d, b"Q035", &stream1(&bad, false));
        assert_eq!(gquic_chlo_sni(&p), None);
    }

    #[test]
    fn ietf_initial_is_not_gquic() {
        assert_eq!(gquic_chlo_sni(&unhex(V1_CLIENT_INITIAL)), None);
    }

    proptest! {
        #[test]
        fn arbitrary_datagrams_never_panic(d in proptest::collection::vec(any::<u8>(), 0..1500)) {
            let mut scratch = Scratch::default();
            let mut reasm = CryptoReasm::new();
            let _ = client_initial_crypto(&d, &mut scratch, |o, b| reasm.add(o, b));
            let _ = client_initial_crypto_with(&d, &[1; 8], &mut scratch, |o, b| reasm.add(o, b));
            let _ = initial_dcid(&d);
            let _ = gquic_chlo_sni(&d);
        }

        #[test]
        fn long_headers_never_panic(
            ty in 0u8..4,
            version in prop::sample::select(vec![VERSION_1, VERSION_2, 0xff00_001d, 0xff00_001b]),
            tail in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut d = vec![0xc0 | (ty << 4)];
            d.extend_from_slice(&version.to_be_bytes());
            d.extend_from_slice(&tail);
            let mut scratch = Scratch::default();
            let _ = client_initial_crypto(&d, &mut scratch, |_, _| {});
        }

        #[test]
        fn mutated_initials_never_panic(at in 0usize..1200, x in 1u8..=255, cut in 0usize..1200) {
            let mut p = unhex(V1_CLIENT_INITIAL);
            p[at] ^= x;
            p.truncate(cut.max(1));
            let mut scratch = Scratch::default();
            let _ = client_initial_crypto(&p, &mut scratch, |_, _| {});
            let _ = client_initial_crypto_with(&p, &[0x83; 8], &mut scratch, |_, _| {});
        }

        #[test]
        fn mutated_chlo_never_panics(at in 0usize..100, x in 1u8..=255, cut in 0usize..100) {
            let mut p = gquic_packet(0x0d, b"Q035", &stream1(&chlo(b"a.example"), false));
            let at = at % p.len();
            p[at] ^= x;
            p.truncate(cut % (p.len() + 1));
            let _ = gquic_chlo_sni(&p);
        }

        #[test]
        fn reasm_any_order(cuts in proptest::collection::vec(0usize..2000, 0..12), seed in any::<u64>()) {
            let msg: Vec<u8> = (0..2000u32).map(|i| (i % 253) as u8).collect();
            let mut bounds = cuts;
            bounds.push(0);
            bounds.push(msg.len());
            bounds.sort_unstable();
            let mut pieces: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
            // A deterministic shuffle.
            let mut s = seed | 1;
            for i in (1..pieces.len()).rev() {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                pieces.swap(i, (s % (i as u64 + 1)) as usize);
            }
            let mut r = CryptoReasm::new();
            for &(a, b) in &pieces {
                r.add(a as u64, &msg[a..b]);
                prop_assert_eq!(r.contiguous(), &msg[..r.contiguous().len()]);
            }
            prop_assert_eq!(r.contiguous(), &msg[..]);
        }
    }
}
