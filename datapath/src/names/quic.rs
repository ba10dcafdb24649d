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
//! Known versions: QUIC v1 (RFC 9000), v2 (RFC 9369), the drafts 22 to 34
//! (four salts with v1's labels) and Facebook's mvfst versions ([`mvfst`]).
//! An Initial of a greased version (`0x?a?a?a?a`, sent to force version
//! negotiation) is tried with v1's keys, then draft-29's, and one of any
//! other version with v1's: it counts only if the AEAD tag verifies.
//! Google QUIC before Q046 carries its handshake in plaintext;
//! [`gquic_chlo_sni`] reads the server name straight from the CHLO message.
//!
//! Everything here is safe on arbitrary input: every length is checked,
//! every loop consumes bytes or is bounded, nothing allocates.

use ring::aead::quic::{HeaderProtectionKey, AES_128};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, NONCE_LEN};
use ring::hkdf::{KeyType, Prk, Salt, HKDF_SHA256};

/// Why a datagram gave no CRYPTO data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuicError {
    /// Not a long-header Initial of a version tapscope knows (nor one of
    /// another version that v1's keys open).
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
    /// The datagram's bytes, decrypted in place (a longer Initial is not read).
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

/// draft-ietf-quic-tls-29 to -32 (Wireshark's choice for greased versions
/// too, see [`candidates`]).
const DRAFT_29: Family = Family {
    salt: [
        0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11,
        0xe0, 0x43, 0x90, 0xa8, 0x99,
    ],
    ..V1
};

/// draft-ietf-quic-tls-23 to -28, and mvfst's own versions.
const DRAFT_23: Family = Family {
    salt: [
        0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63,
        0x65, 0xbe, 0xf9, 0xf5, 0x02,
    ],
    ..V1
};

/// draft-ietf-quic-tls-22 (the first draft with today's long header) and
/// mvfst's first version.
const DRAFT_22: Family = Family {
    salt: [
        0x7f, 0xbc, 0xdb, 0x0e, 0x7c, 0x66, 0xbb, 0xe9, 0x19, 0x3a, 0x96, 0xcd, 0x21, 0x51, 0x9e,
        0xbd, 0x7a, 0x02, 0x64, 0x4a,
    ],
    ..V1
};

/// mvfst's experimental versions 4 and 5 (`0xfaceb014`, `0xfaceb015`).
const MVFST_EXPERIMENTAL: Family = Family {
    salt: [
        0xca, 0x6b, 0x74, 0xa5, 0xce, 0x82, 0xfc, 0x04, 0x43, 0x6b, 0xf2, 0xea, 0x75, 0xe7, 0x8c,
        0x56, 0xc8, 0xc0, 0x8d, 0x24,
    ],
    ..V1
};

/// Facebook's mvfst (the QUIC of its apps and servers): the versions it
/// sends besides v1 and the salt each protects Initials with (mvfst's
/// `getQuicVersionSalt`, which Wireshark follows for the first three;
/// labels and packet types are v1's). `0xfaceb00f` is mvfst's deliberately
/// invalid version and is not listed.
pub mod mvfst {
    /// mvfst based on draft-22: draft-22 salt.
    pub const D22: u32 = 0xface_b001;
    /// `MVFST`, based on draft-27: draft-23 salt.
    pub const MVFST: u32 = 0xface_b002;
    /// `QUIC_V1_ALIAS`: v1 under another number (v1 salt).
    pub const V1_ALIAS: u32 = 0xface_b003;
    /// `QUIC_V1_ALIAS2`: v1 salt.
    pub const V1_ALIAS2: u32 = 0xface_b004;
    /// `MVFST_EXPERIMENTAL`: draft-23 salt.
    pub const EXPERIMENTAL: u32 = 0xface_b00e;
    /// `MVFST_ALIAS`: draft-23 salt.
    pub const ALIAS: u32 = 0xface_b010;
    /// `MVFST_EXPERIMENTAL2`: draft-23 salt.
    pub const EXPERIMENTAL2: u32 = 0xface_b011;
    /// `MVFST_EXPERIMENTAL3`: draft-23 salt.
    pub const EXPERIMENTAL3: u32 = 0xface_b013;
    /// `MVFST_EXPERIMENTAL4`: a salt of its own.
    pub const EXPERIMENTAL4: u32 = 0xface_b014;
    /// `MVFST_EXPERIMENTAL5`: the salt of `EXPERIMENTAL4`.
    pub const EXPERIMENTAL5: u32 = 0xface_b015;
    /// `MVFST_PRIMING`: v1 salt.
    pub const PRIMING: u32 = 0xface_feed;
}

/// The family of a version whose Initial protection is known.
///
/// Drafts 33 and 34 already use v1's salt. Drafts before 22 had another
/// long header (4-bit connection ID lengths) and other salts: not read.
fn family(version: u32) -> Option<&'static Family> {
    match version {
        VERSION_1 | 0xff00_0021 | 0xff00_0022 => Some(&V1),
        mvfst::V1_ALIAS | mvfst::V1_ALIAS2 | mvfst::PRIMING => Some(&V1),
        VERSION_2 => Some(&V2),
        0xff00_001d..=0xff00_0020 => Some(&DRAFT_29),
        0xff00_0017..=0xff00_001c => Some(&DRAFT_23),
        mvfst::MVFST | mvfst::EXPERIMENTAL | mvfst::ALIAS => Some(&DRAFT_23),
        mvfst::EXPERIMENTAL2 | mvfst::EXPERIMENTAL3 => Some(&DRAFT_23),
        0xff00_0016 | mvfst::D22 => Some(&DRAFT_22),
        mvfst::EXPERIMENTAL4 | mvfst::EXPERIMENTAL5 => Some(&MVFST_EXPERIMENTAL),
        _ => None,
    }
}

/// True for a version reserved to exercise version negotiation
/// (`0x?a?a?a?a`, RFC 9000 §15).
pub fn is_greased_version(version: u32) -> bool {
    version & 0x0f0f_0f0f == 0x0a0a_0a0a
}

/// The families whose keys are tried on an Initial of `version`, in turn:
/// the version's own; for a greased version v1's, then draft-29's (what
/// Wireshark 4.0 tries; later releases try v1's); for any other unknown
/// version v1's. A guess counts only when the AEAD tag verifies, so a
/// wrong one yields nothing. None for Version Negotiation (version 0).
fn candidates(version: u32) -> [Option<&'static Family>; 2] {
    match family(version) {
        Some(f) => [Some(f), None],
        None if version == 0 => [None, None],
        None if is_greased_version(version) => [Some(&V1), Some(&DRAFT_29)],
        None => [Some(&V1), None],
    }
}

/// True for the versions whose Initial protection is known (those of a
/// greased or unknown version are only tried with guessed keys).
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
    family_keys(family(version)?, dcid, is_server)
}

fn family_keys(fam: &Family, dcid: &[u8], is_server: bool) -> Option<InitialKeys> {
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
/// a Retry, a short header packet, Version Negotiation or a packet of a
/// greased or unknown version that no guessed key opens (see
/// [`is_known_version`]) ends the walk. The
/// frames of a decrypted Initial are read up to the first one that an
/// Initial may not carry (PADDING, PING, ACK, CRYPTO and CONNECTION_CLOSE
/// may appear); a truncated frame ends the walk too.
///
/// `Ok` (with the packet's version) as soon as one Initial decrypted;
/// otherwise the first error met: a server's Initial fails to decrypt
/// ([`QuicError::Decrypt`]) since its keys differ from the client's (an
/// Initial of a guessed version that does not open is
/// [`QuicError::NotInitial`]). The packet number is decoded as if no
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
/// is a long header packet whose Initials are read (any version but
/// Version Negotiation's; at most 20 bytes).
pub fn initial_dcid(datagram: &[u8]) -> Option<&[u8]> {
    let mut r = Reader::new(datagram);
    if r.u8()? & 0x80 == 0 {
        return None;
    }
    let version = r.uint(4, true)? as u32;
    candidates(version)[0]?;
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
    let mut r = Reader::new(p);
    let Some(first) = r.u8() else {
        return Step::Stop(None);
    };
    if first & 0x80 == 0 {
        // A short header packet runs to the end of the datagram.
        return Step::Stop(None);
    }
    let Some(version) = r.uint(4, true) else {
        return Step::Stop(Some(Err(QuicError::Malformed)));
    };
    let version = version as u32;
    let tries = candidates(version);
    let Some(fam) = tries[0] else {
        // Version Negotiation.
        return Step::Stop(Some(Err(QuicError::NotInitial)));
    };
    // The packet of a greased or unknown version is read as a v1 Initial,
    // but it is none until a key authenticates it: a header that does not
    // fit says nothing, and its Length cannot be trusted to find a next
    // packet.
    let guess = !is_known_version(version);
    let stop = |e| Step::Stop(Some(Err(e)));
    if guess && first & 0x40 == 0 {
        // Without the fixed bit (which RTP, for one, never sets) a guess is
        // not worth a key derivation.
        return stop(QuicError::NotInitial);
    }
    let bad = if guess {
        QuicError::NotInitial
    } else {
        QuicError::Malformed
    };
    let mut cid = || {
        r.u8()
            .filter(|&n| usize::from(n) <= MAX_CID_LEN)
            .and_then(|n| r.take(usize::from(n)))
    };
    let (Some(dcid), Some(_scid)) = (cid(), cid()) else {
        return stop(bad);
    };
    let ty = (first >> 4) & 0x03;
    if ty == fam.retry_type() {
        return Step::Stop(None);
    }
    let is_initial = ty == fam.initial_type;
    if guess && !is_initial {
        return stop(QuicError::NotInitial);
    }
    if is_initial && r.varint_len().and_then(|n| r.take(n)).is_none() {
        return stop(bad);
    }
    let Some(length) = r.varint_len() else {
        return stop(bad);
    };
    let pn_offset = r.at;
    let Some(end) = pn_offset.checked_add(length).filter(|&e| e <= p.len()) else {
        return stop(bad);
    };
    if !is_initial {
        return Step::Next {
            outcome: None,
            used: end,
        };
    }
    let packet = &p[..end];
    // Each candidate's keys from the packet's own connection ID, then from
    // the flow's first one.
    let again = first_dcid.filter(|&f| f != dcid);
    let mut outcome = Err(QuicError::Decrypt);
    'keys: for fam in tries.into_iter().flatten() {
        for id in [Some(dcid), again].into_iter().flatten() {
            outcome = open_initial(packet, pn_offset, version, fam, id, scratch, crypto);
            if outcome != Err(QuicError::Decrypt) {
                break 'keys;
            }
        }
    }
    if guess && outcome.is_err() {
        return stop(QuicError::NotInitial);
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
    fam: &Family,
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

    let keys = family_keys(fam, dcid, false).ok_or(QuicError::NotInitial)?;
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
    pub(super) const PADDING: u64 = 0x00;
    pub(super) const PING: u64 = 0x01;
    pub(super) const ACK: u64 = 0x02;
    pub(super) const ACK_ECN: u64 = 0x03;
    pub(super) const CRYPTO: u64 = 0x06;
    pub(super) const CONNECTION_CLOSE: u64 = 0x1c;
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

    /// An empty reassembly buffer.
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
    pub(super) const VERSION: u8 = 0x01;
    pub(super) const RESET: u8 = 0x02;
    pub(super) const CID: u8 = 0x0c;
    pub(super) const PN_LEN: u8 = 0x30;
    /// Unused before Q046 (where it marks the IETF-style long header).
    pub(super) const LONG: u8 = 0x80;
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
mod tests;
