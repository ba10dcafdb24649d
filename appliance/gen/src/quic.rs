//! QUIC version 1 packets (RFC 9000) as they appear on the wire: Initial
//! packets protected with the keys every observer can derive from the
//! client's Destination Connection ID (RFC 9001 section 5: HKDF-SHA256,
//! AES-128-GCM, AES header protection), so a tap (or tshark) can read the
//! ClientHello's server name; Handshake and 1-RTT packets, whose keys only
//! the endpoints have, carry correctly framed headers around opaque bytes.

use datapath::names::quic as names_quic;
use ring::aead::{self, quic as hp, Aad, LessSafeKey, Nonce, UnboundKey};

/// QUIC version 1.
pub use names_quic::VERSION_1;

/// AEAD tag length of AES-128-GCM.
pub const TAG_LEN: usize = 16;

/// Long header packet types (RFC 9000 section 17.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LongType {
    /// Initial: carries the ClientHello and ServerHello (keys from the client's
    /// first DCID).
    Initial = 0,
    /// 0-RTT: early data of a resumed connection.
    ZeroRtt = 1,
    /// Handshake: the rest of the TLS handshake.
    Handshake = 2,
}

/// Which endpoint's Initial keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The client, the endpoint that sent the first Initial.
    Client,
    /// The server.
    Server,
}

/// The raw Initial secrets of one side: key, IV and header protection key
/// (derived by the datapath, which decrypts what this module seals).
pub type InitialSecrets = names_quic::InitialKeys;

/// Derives `side`'s Initial secrets from the Destination Connection ID of
/// the client's first Initial packet.
pub fn initial_secrets(client_dcid: &[u8], side: Side) -> InitialSecrets {
    names_quic::initial_keys(VERSION_1, client_dcid, side == Side::Server)
        .expect("QUIC version 1 is a known version")
}

/// Ready-to-use Initial packet protection of one side.
pub struct InitialKeys {
    aead: LessSafeKey,
    iv: [u8; 12],
    hp: hp::HeaderProtectionKey,
}

impl InitialKeys {
    /// Initial packet protection of `side` for a connection whose client's
    /// first Initial had the Destination Connection ID `client_dcid`.
    pub fn new(client_dcid: &[u8], side: Side) -> Self {
        let s = initial_secrets(client_dcid, side);
        InitialKeys {
            aead: LessSafeKey::new(
                UnboundKey::new(&aead::AES_128_GCM, &s.key).expect("16-byte AES-128 key"),
            ),
            iv: s.iv,
            hp: hp::HeaderProtectionKey::new(&hp::AES_128, &s.hp).expect("16-byte HP key"),
        }
    }

    fn nonce(&self, pn: u64) -> Nonce {
        let mut n = self.iv;
        for (i, b) in pn.to_be_bytes().iter().enumerate() {
            n[4 + i] ^= b;
        }
        Nonce::assume_unique_for_key(n)
    }

    /// The 5-byte header protection mask for a 16-byte ciphertext sample.
    pub fn mask(&self, sample: &[u8]) -> [u8; 5] {
        self.hp.new_mask(sample).expect("16-byte sample")
    }
}

/// Appends a variable-length integer (RFC 9000 section 16) in its shortest
/// encoding.
pub fn put_varint(out: &mut Vec<u8>, v: u64) {
    match v {
        0..=0x3f => out.push(v as u8),
        0x40..=0x3fff => out.extend_from_slice(&(0x4000 | v as u16).to_be_bytes()),
        0x4000..=0x3fff_ffff => out.extend_from_slice(&(0x8000_0000 | v as u32).to_be_bytes()),
        _ => {
            assert!(v < 1 << 62, "varint out of range");
            out.extend_from_slice(&(0xc000_0000_0000_0000 | v).to_be_bytes())
        }
    }
}

/// A CRYPTO frame carrying `data` at `offset` of the handshake stream.
pub fn crypto_frame(offset: u64, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x06];
    put_varint(&mut f, offset);
    put_varint(&mut f, data.len() as u64);
    f.extend_from_slice(data);
    f
}

/// An ACK frame acknowledging packets `0..=largest` with `delay` (in the
/// peer's ack-delay units).
pub fn ack_frame(largest: u64, delay: u64) -> Vec<u8> {
    let mut f = vec![0x02];
    put_varint(&mut f, largest);
    put_varint(&mut f, delay);
    put_varint(&mut f, 0); // no further ranges
    put_varint(&mut f, largest); // first range: down to 0
    f
}

/// The common start of a long header: first byte (without the packet
/// number length bits), version, connection IDs.
fn long_header_start(ty: LongType, dcid: &[u8], scid: &[u8]) -> Vec<u8> {
    assert!(
        dcid.len() <= 20 && scid.len() <= 20,
        "connection IDs of at most 20 bytes"
    );
    let mut h = vec![0xc0 | (ty as u8) << 4];
    h.extend_from_slice(&VERSION_1.to_be_bytes());
    h.push(dcid.len() as u8);
    h.extend_from_slice(dcid);
    h.push(scid.len() as u8);
    h.extend_from_slice(scid);
    h
}

/// A protected Initial packet with packet number `pn` encoded in `pn_len`
/// bytes (1 to 4), carrying `frames`, followed by PADDING frames until the
/// packet is at least `min_len` bytes long.
#[allow(clippy::too_many_arguments)]
pub fn initial_packet(
    keys: &InitialKeys,
    dcid: &[u8],
    scid: &[u8],
    token: &[u8],
    pn: u64,
    pn_len: usize,
    frames: &[u8],
    min_len: usize,
) -> Vec<u8> {
    assert!((1..=4).contains(&pn_len));
    let mut h = long_header_start(LongType::Initial, dcid, scid);
    h[0] |= (pn_len - 1) as u8;
    put_varint(&mut h, token.len() as u64);
    h.extend_from_slice(token);
    // The Length field always takes two bytes here, so the header length
    // is known before the padding is chosen.
    let fixed = h.len() + 2 + pn_len + TAG_LEN;
    // The header protection sample starts 4 bytes after the packet number.
    let min_payload = (4usize + 16).saturating_sub(pn_len + TAG_LEN);
    let payload_len = frames
        .len()
        .max(min_len.saturating_sub(fixed))
        .max(min_payload);
    let length = pn_len + payload_len + TAG_LEN;
    assert!(length < 0x4000, "Initial packet too long");
    h.extend_from_slice(&(0x4000 | length as u16).to_be_bytes());
    let pn_at = h.len();
    h.extend_from_slice(&pn.to_be_bytes()[8 - pn_len..]);

    let mut payload = Vec::with_capacity(payload_len + TAG_LEN);
    payload.extend_from_slice(frames);
    payload.resize(payload_len, 0); // PADDING frames
    keys.aead
        .seal_in_place_append_tag(keys.nonce(pn), Aad::from(&h[..]), &mut payload)
        .expect("sealing an Initial payload");

    let mut p = h;
    p.extend_from_slice(&payload);
    let sample_at = pn_at + 4;
    let mask = keys.mask(&p[sample_at..sample_at + 16]);
    p[0] ^= mask[0] & 0x0f;
    for i in 0..pn_len {
        p[pn_at + i] ^= mask[1 + i];
    }
    p
}

/// A Handshake or 0-RTT packet whose protected part (`protected`: packet
/// number, payload and tag as they would be encrypted) is opaque.
pub fn opaque_long_packet(
    ty: LongType,
    dcid: &[u8],
    scid: &[u8],
    first_byte_bits: u8,
    protected: &[u8],
) -> Vec<u8> {
    assert!(
        ty != LongType::Initial,
        "Initial packets are protected with initial_packet"
    );
    assert!(protected.len() >= 20 && protected.len() < 0x4000);
    let mut h = long_header_start(ty, dcid, scid);
    h[0] |= first_byte_bits & 0x0f;
    h.extend_from_slice(&(0x4000 | protected.len() as u16).to_be_bytes());
    h.extend_from_slice(protected);
    h
}

/// A 1-RTT (short header) packet to `dcid` with an opaque protected part.
pub fn short_packet(dcid: &[u8], first_byte_bits: u8, protected: &[u8]) -> Vec<u8> {
    assert!(protected.len() >= 20);
    let mut p = Vec::with_capacity(1 + dcid.len() + protected.len());
    p.push(0x40 | (first_byte_bits & 0x3f));
    p.extend_from_slice(dcid);
    p.extend_from_slice(protected);
    p
}

/// Removes Initial packet protection: returns the packet number and the
/// plaintext frames (used by tests to check what was sealed).
pub fn open_initial(keys: &InitialKeys, packet: &[u8]) -> Option<(u64, Vec<u8>)> {
    let mut p = packet.to_vec();
    if p.first()? & 0xf0 != 0xc0 {
        return None;
    }
    let mut at = 5;
    let dcid_len = *p.get(at)? as usize;
    at += 1 + dcid_len;
    let scid_len = *p.get(at)? as usize;
    at += 1 + scid_len;
    let (token_len, n) = get_varint(p.get(at..)?)?;
    at += n + token_len as usize;
    let (length, n) = get_varint(p.get(at..)?)?;
    at += n;
    let pn_at = at;
    let end = pn_at.checked_add(length as usize)?;
    let sample = p.get(pn_at + 4..pn_at + 20)?.to_vec();
    let mask = keys.mask(&sample);
    p[0] ^= mask[0] & 0x0f;
    let pn_len = (p[0] & 0x03) as usize + 1;
    let mut pn = 0u64;
    for i in 0..pn_len {
        p[pn_at + i] ^= mask[1 + i];
        pn = pn << 8 | p[pn_at + i] as u64;
    }
    let (header, rest) = p.split_at_mut(pn_at + pn_len);
    let body = rest.get_mut(..end - pn_at - pn_len)?;
    let plain = keys
        .aead
        .open_in_place(keys.nonce(pn), Aad::from(&header[..]), body)
        .ok()?;
    Some((pn, plain.to_vec()))
}

/// Reads a variable-length integer; returns it and its length in bytes.
pub fn get_varint(b: &[u8]) -> Option<(u64, usize)> {
    let first = *b.first()?;
    let n = 1usize << (first >> 6);
    let bytes = b.get(..n)?;
    let mut v = (first & 0x3f) as u64;
    for &x in &bytes[1..] {
        v = v << 8 | x as u64;
    }
    Some((v, n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    const DCID: &str = "8394c8f03e515708";

    #[test]
    fn rfc9001_initial_secrets() {
        // RFC 9001 appendix A.1.
        let c = initial_secrets(&unhex(DCID), Side::Client);
        assert_eq!(hex(&c.key), "1f369613dd76d5467730efcbe3b1a22d");
        assert_eq!(hex(&c.iv), "fa044b2f42a3fd3b46fb255c");
        assert_eq!(hex(&c.hp), "9f50449e04a0e810283a1e9933adedd2");
        let s = initial_secrets(&unhex(DCID), Side::Server);
        assert_eq!(hex(&s.key), "cf3a5331653c364c88f0f379b6067e37");
        assert_eq!(hex(&s.iv), "0ac1493ca1905853b0bba03e");
        assert_eq!(hex(&s.hp), "c206b8d9b9f0f37644430b490eeaa314");
    }

    #[test]
    fn rfc9001_header_protection_masks() {
        // RFC 9001 appendices A.2 and A.3.
        let c = InitialKeys::new(&unhex(DCID), Side::Client);
        assert_eq!(
            hex(&c.mask(&unhex("d1b1c98dd7689fb8ec11d242b123dc9b"))),
            "437b9aec36"
        );
        let s = InitialKeys::new(&unhex(DCID), Side::Server);
        assert_eq!(
            hex(&s.mask(&unhex("2cd0991cd25b0aac406a5816b6394100"))),
            "2ec0d8356a"
        );
    }

    /// RFC 9001 appendix A.2: the client's CRYPTO frame (a ClientHello for
    /// example.com).
    const A2_CRYPTO: &str = "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868\
        04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578\
        616d706c652e636f6dff01000100000a00080006001d00170018001000070005\
        04616c706e000500050100000000003300260024001d00209370b2c9caa47fba\
        baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400\
        0d0010000e0403050306030203080408050806002d00020101001c0002400100\
        3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000\
        75300901100f088394c8f03e51570806048000ffff";

    #[test]
    fn rfc9001_client_initial_packet() {
        let keys = InitialKeys::new(&unhex(DCID), Side::Client);
        let frames = unhex(A2_CRYPTO);
        let p = initial_packet(&keys, &unhex(DCID), &[], &[], 2, 4, &frames, 1200);
        assert_eq!(p.len(), 1200);
        let expected = "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11\
            d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399\
            1c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c\
            8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df6212\
            30c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5\
            457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208\
            4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec\
            4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3\
            485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db\
            059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c\
            7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f8\
            9937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556\
            be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c74\
            68449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663a\
            c69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00\
            f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632\
            291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe58964\
            25c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd\
            14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff\
            ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198\
            e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd\
            c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73\
            203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77f\
            cb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e\
            fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03ade\
            a2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e724047\
            90a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2\
            162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f4\
            40591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca0\
            6948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e\
            8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0\
            be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f09400\
            54da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab\
            760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9\
            f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4\
            056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064\
            7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241\
            e221af44860018ab0856972e194cd934";
        assert_eq!(hex(&p), expected);
        let (pn, plain) = open_initial(&keys, &p).expect("opens");
        assert_eq!(pn, 2);
        assert_eq!(&plain[..frames.len()], &frames[..]);
        assert!(plain[frames.len()..].iter().all(|&b| b == 0));
    }

    #[test]
    fn datapath_reads_what_is_sealed() {
        let dcid = [0x42; 8];
        let keys = InitialKeys::new(&dcid, Side::Client);
        let frames = crypto_frame(0, b"hello");
        let p = initial_packet(&keys, &dcid, &[1, 2, 3], &[], 0, 1, &frames, 1200);
        let mut scratch = names_quic::Scratch::default();
        let mut got = Vec::new();
        let r =
            names_quic::client_initial_crypto(&p, &mut scratch, |o, d| got.push((o, d.to_vec())));
        assert_eq!(r, Ok(VERSION_1));
        assert_eq!(got, vec![(0, b"hello".to_vec())]);
        // The server's Initial is not the client's.
        let skeys = InitialKeys::new(&dcid, Side::Server);
        let p = initial_packet(&skeys, &[1, 2, 3], &[9; 8], &[], 0, 1, &frames, 0);
        let r = names_quic::client_initial_crypto(&p, &mut scratch, |_, _| {});
        assert_eq!(r, Err(names_quic::QuicError::Decrypt));
    }

    #[test]
    fn short_initial_is_padded_for_the_sample() {
        let keys = InitialKeys::new(&[1, 2, 3, 4], Side::Server);
        let p = initial_packet(&keys, &[9; 8], &[1, 2, 3, 4], &[], 0, 1, &[0x01], 0);
        // Header 1+4+1+8+1+4+1+2, pn 1, payload padded to 3, tag 16.
        assert_eq!(p.len(), 22 + 1 + 3 + 16);
        let (pn, plain) = open_initial(&keys, &p).unwrap();
        assert_eq!(pn, 0);
        assert_eq!(plain, [0x01, 0, 0]);
        // Another side's keys do not open it.
        assert!(open_initial(&InitialKeys::new(&[1, 2, 3, 4], Side::Client), &p).is_none());
    }

    #[test]
    fn varints() {
        // RFC 9000 appendix A.1 examples.
        for (v, enc) in [
            (151_288_809_941_952_652u64, "c2197c5eff14e88c"),
            (494_878_333, "9d7f3e7d"),
            (15_293, "7bbd"),
            (37, "25"),
        ] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(hex(&out), enc);
            assert_eq!(get_varint(&out), Some((v, out.len())));
        }
    }

    #[test]
    fn frames_and_opaque_headers() {
        assert_eq!(crypto_frame(0, &[1, 2]), [0x06, 0, 2, 1, 2]);
        assert_eq!(ack_frame(3, 10), [0x02, 3, 10, 0, 3]);
        let h = opaque_long_packet(LongType::Handshake, &[1; 8], &[2; 8], 0xff, &[0xaa; 30]);
        assert_eq!(h[0], 0xef);
        assert_eq!(&h[1..5], &[0, 0, 0, 1]);
        assert_eq!(&h[23..25], &[0x40, 30]);
        assert_eq!(h.len(), 25 + 30);
        let s = short_packet(&[7; 8], 0xff, &[0; 20]);
        assert_eq!(s[0], 0x7f);
        assert_eq!(s.len(), 29);
    }
}
