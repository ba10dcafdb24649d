//! TLS 1.3 handshake messages and records as browsers and servers send
//! them: a ClientHello with server name (SNI), ALPN, key share and the
//! usual extensions (for TCP, or for QUIC with transport parameters), a
//! ServerHello, and opaque encrypted records.

use super::quic::put_varint;

/// Record content type: ChangeCipherSpec (the TLS 1.3 middlebox-compatibility
/// record).
pub const CONTENT_CCS: u8 = 20;
/// Record content type: alert.
pub const CONTENT_ALERT: u8 = 21;
/// Record content type: handshake.
pub const CONTENT_HANDSHAKE: u8 = 22;
/// Record content type: application data (every encrypted record in TLS 1.3).
pub const CONTENT_APPLICATION_DATA: u8 = 23;

/// Largest ciphertext of a TLS 1.3 record (2^14 + 256).
pub const MAX_CIPHERTEXT: usize = 16384 + 256;

/// What a ClientHello offers.
#[derive(Clone, Debug)]
pub struct ClientHello<'a> {
    /// Server name sent in the SNI extension.
    pub server_name: &'a str,
    /// Protocols offered in the ALPN extension, most preferred first.
    pub alpn: &'a [&'a str],
    /// The ClientHello's 32 random bytes.
    pub random: [u8; 32],
    /// Legacy session id: 32 bytes over TCP (middlebox compatibility),
    /// empty for QUIC.
    pub session_id: &'a [u8],
    /// The client's X25519 public key.
    pub key_share: [u8; 32],
    /// QUIC transport parameters (encoded); `Some` makes a QUIC hello.
    pub quic_params: Option<Vec<u8>>,
}

fn ext(out: &mut Vec<u8>, ty: u16, body: &[u8]) {
    out.extend_from_slice(&ty.to_be_bytes());
    out.extend_from_slice(&(body.len() as u16).to_be_bytes());
    out.extend_from_slice(body);
}

fn u16_prefixed(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

fn u8_prefixed(body: &[u8]) -> Vec<u8> {
    let mut v = vec![body.len() as u8];
    v.extend_from_slice(body);
    v
}

/// Wraps `body` in a handshake message header (type, 24-bit length).
fn handshake(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty];
    m.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    m.extend_from_slice(body);
    m
}

impl ClientHello<'_> {
    /// The ClientHello handshake message (type 1).
    pub fn encode(&self) -> Vec<u8> {
        let quic = self.quic_params.is_some();
        let mut b = Vec::with_capacity(512);
        b.extend_from_slice(&[0x03, 0x03]); // legacy_version TLS 1.2
        b.extend_from_slice(&self.random);
        b.extend_from_slice(&u8_prefixed(self.session_id));
        let suites: &[u16] = if quic {
            &[0x1301, 0x1302, 0x1303]
        } else {
            &[
                0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
                0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
            ]
        };
        let s: Vec<u8> = suites.iter().flat_map(|s| s.to_be_bytes()).collect();
        b.extend_from_slice(&u16_prefixed(&s));
        b.extend_from_slice(&[1, 0]); // compression methods: null

        let mut e = Vec::with_capacity(400);
        // server_name: one host_name entry.
        let name = self.server_name.as_bytes();
        let mut sn = vec![0];
        sn.extend_from_slice(&u16_prefixed(name));
        ext(&mut e, 0, &u16_prefixed(&sn));
        if !quic {
            ext(&mut e, 23, &[]); // extended_master_secret
            ext(&mut e, 0xff01, &[0]); // renegotiation_info
        }
        // supported_groups: x25519, secp256r1, secp384r1.
        ext(
            &mut e,
            10,
            &u16_prefixed(&[0x00, 0x1d, 0x00, 0x17, 0x00, 0x18]),
        );
        if !quic {
            ext(&mut e, 11, &[1, 0]); // ec_point_formats: uncompressed
            ext(&mut e, 35, &[]); // session_ticket
        }
        // application_layer_protocol_negotiation.
        let mut protos = Vec::new();
        for p in self.alpn {
            protos.extend_from_slice(&u8_prefixed(p.as_bytes()));
        }
        ext(&mut e, 16, &u16_prefixed(&protos));
        if !quic {
            ext(&mut e, 5, &[1, 0, 0, 0, 0]); // status_request: OCSP
        }
        // signature_algorithms.
        let algs: [u16; 8] = [
            0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601,
        ];
        let a: Vec<u8> = algs.iter().flat_map(|s| s.to_be_bytes()).collect();
        ext(&mut e, 13, &u16_prefixed(&a));
        if !quic {
            ext(&mut e, 18, &[]); // signed_certificate_timestamp
        }
        // key_share: one X25519 share.
        let mut ks = vec![0x00, 0x1d];
        ks.extend_from_slice(&u16_prefixed(&self.key_share));
        ext(&mut e, 51, &u16_prefixed(&ks));
        ext(&mut e, 45, &[1, 1]); // psk_key_exchange_modes: psk_dhe_ke
                                  // supported_versions.
        if quic {
            ext(&mut e, 43, &[2, 0x03, 0x04]);
        } else {
            ext(&mut e, 43, &[4, 0x03, 0x04, 0x03, 0x03]);
        }
        ext(&mut e, 27, &[2, 0x00, 0x02]); // compress_certificate: brotli
        if let Some(tp) = &self.quic_params {
            ext(&mut e, 57, tp); // quic_transport_parameters
        }
        b.extend_from_slice(&u16_prefixed(&e));
        handshake(1, &b)
    }
}

/// A TLS 1.3 ServerHello (type 2) choosing TLS_AES_128_GCM_SHA256 and
/// X25519, echoing the client's legacy session id.
pub fn server_hello(random: [u8; 32], session_id: &[u8], key_share: [u8; 32]) -> Vec<u8> {
    let mut b = Vec::with_capacity(128);
    b.extend_from_slice(&[0x03, 0x03]);
    b.extend_from_slice(&random);
    b.extend_from_slice(&u8_prefixed(session_id));
    b.extend_from_slice(&[0x13, 0x01, 0x00]); // cipher suite, compression
    let mut e = Vec::new();
    ext(&mut e, 43, &[0x03, 0x04]); // supported_versions: TLS 1.3
    let mut ks = vec![0x00, 0x1d];
    ks.extend_from_slice(&u16_prefixed(&key_share));
    ext(&mut e, 51, &ks);
    b.extend_from_slice(&u16_prefixed(&e));
    handshake(2, &b)
}

/// A TLS record: content type, legacy version, length, fragment.
pub fn record(content_type: u8, version: u16, fragment: &[u8]) -> Vec<u8> {
    assert!(fragment.len() <= MAX_CIPHERTEXT, "TLS record too long");
    let mut r = Vec::with_capacity(5 + fragment.len());
    r.push(content_type);
    r.extend_from_slice(&version.to_be_bytes());
    r.extend_from_slice(&(fragment.len() as u16).to_be_bytes());
    r.extend_from_slice(fragment);
    r
}

/// Appends `len` bytes of encrypted application data as records whose
/// ciphertext is at most `max_record` bytes (at most `MAX_CIPHERTEXT`),
/// their contents taken from `fill`.
pub fn application_data(
    out: &mut Vec<u8>,
    len: usize,
    max_record: usize,
    mut fill: impl FnMut(&mut [u8]),
) {
    let max = max_record.clamp(17, MAX_CIPHERTEXT);
    let mut left = len;
    while left > 0 {
        // TLS 1.3 ciphertext always carries at least the content type byte
        // and the 16-byte AEAD tag.
        let n = left.min(max).max(17);
        out.push(CONTENT_APPLICATION_DATA);
        out.extend_from_slice(&[0x03, 0x03]);
        out.extend_from_slice(&(n as u16).to_be_bytes());
        let at = out.len();
        out.resize(at + n, 0);
        fill(&mut out[at..]);
        left = left.saturating_sub(n);
    }
}

/// QUIC transport parameters (RFC 9000 section 18) as a browser sends
/// them, with `initial_source_connection_id` set to `scid`.
pub fn quic_transport_params(scid: &[u8]) -> Vec<u8> {
    let mut p = Vec::new();
    let mut param = |id: u64, value: &[u8]| {
        put_varint(&mut p, id);
        put_varint(&mut p, value.len() as u64);
        p.extend_from_slice(value);
    };
    let int = |v: u64| {
        let mut b = Vec::new();
        put_varint(&mut b, v);
        b
    };
    param(0x01, &int(30_000)); // max_idle_timeout (ms)
    param(0x03, &int(1472)); // max_udp_payload_size
    param(0x04, &int(15_728_640)); // initial_max_data
    param(0x05, &int(6_291_456)); // initial_max_stream_data_bidi_local
    param(0x06, &int(6_291_456)); // initial_max_stream_data_bidi_remote
    param(0x07, &int(6_291_456)); // initial_max_stream_data_uni
    param(0x08, &int(100)); // initial_max_streams_bidi
    param(0x09, &int(103)); // initial_max_streams_uni
    param(0x0f, scid); // initial_source_connection_id
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Walks a ClientHello and returns (extension type, body) pairs.
    fn extensions(m: &[u8]) -> Vec<(u16, Vec<u8>)> {
        assert_eq!(m[0], 1);
        let len = u32::from_be_bytes([0, m[1], m[2], m[3]]) as usize;
        assert_eq!(len, m.len() - 4, "handshake length");
        let b = &m[4..];
        let mut at = 2 + 32;
        at += 1 + b[at] as usize;
        at += 2 + u16::from_be_bytes([b[at], b[at + 1]]) as usize;
        at += 1 + b[at] as usize;
        let total = u16::from_be_bytes([b[at], b[at + 1]]) as usize;
        at += 2;
        assert_eq!(at + total, b.len(), "extensions length");
        let mut out = Vec::new();
        while at < b.len() {
            let ty = u16::from_be_bytes([b[at], b[at + 1]]);
            let l = u16::from_be_bytes([b[at + 2], b[at + 3]]) as usize;
            out.push((ty, b[at + 4..at + 4 + l].to_vec()));
            at += 4 + l;
        }
        assert_eq!(at, b.len());
        out
    }

    fn hello(quic: Option<Vec<u8>>) -> Vec<u8> {
        ClientHello {
            server_name: "zoom.us",
            alpn: &["h2", "http/1.1"],
            random: [7; 32],
            session_id: if quic.is_some() { &[] } else { &[1; 32] },
            key_share: [9; 32],
            quic_params: quic,
        }
        .encode()
    }

    #[test]
    fn client_hello_sni_and_alpn() {
        let e = extensions(&hello(None));
        let sni = &e.iter().find(|(t, _)| *t == 0).unwrap().1;
        assert_eq!(
            sni,
            &[0, 10, 0, 0, 7, b'z', b'o', b'o', b'm', b'.', b'u', b's']
        );
        let alpn = &e.iter().find(|(t, _)| *t == 16).unwrap().1;
        assert_eq!(alpn, b"\x00\x0c\x02h2\x08http/1.1");
        let ks = &e.iter().find(|(t, _)| *t == 51).unwrap().1;
        assert_eq!(&ks[..6], &[0, 36, 0, 0x1d, 0, 32]);
        assert!(!e.iter().any(|(t, _)| *t == 57));
    }

    #[test]
    fn quic_client_hello_has_transport_parameters() {
        let tp = quic_transport_params(&[5; 8]);
        let e = extensions(&hello(Some(tp.clone())));
        assert_eq!(e.iter().find(|(t, _)| *t == 57).unwrap().1, tp);
        let sv = &e.iter().find(|(t, _)| *t == 43).unwrap().1;
        assert_eq!(sv, &[2, 3, 4]);
        // The last parameter is initial_source_connection_id.
        assert_eq!(&tp[tp.len() - 10..], &[0x0f, 8, 5, 5, 5, 5, 5, 5, 5, 5]);
    }

    #[test]
    fn server_hello_layout() {
        let m = server_hello([3; 32], &[1; 32], [4; 32]);
        assert_eq!(m[0], 2);
        assert_eq!(
            u32::from_be_bytes([0, m[1], m[2], m[3]]) as usize,
            m.len() - 4
        );
        assert_eq!(&m[4..6], &[3, 3]);
        assert_eq!(m[38], 32);
        assert_eq!(&m[71..74], &[0x13, 0x01, 0]);
        let ext_len = u16::from_be_bytes([m[74], m[75]]) as usize;
        assert_eq!(76 + ext_len, m.len());
        assert_eq!(&m[76..82], &[0, 43, 0, 2, 3, 4]);
    }

    #[test]
    fn records_split_at_the_maximum() {
        let r = record(CONTENT_HANDSHAKE, 0x0301, &[1, 2, 3]);
        assert_eq!(r, [22, 3, 1, 0, 3, 1, 2, 3]);
        let mut out = Vec::new();
        application_data(&mut out, MAX_CIPHERTEXT + 100, usize::MAX, |b| b.fill(0xee));
        assert_eq!(out.len(), 5 + MAX_CIPHERTEXT + 5 + 100);
        assert_eq!(&out[..5], &[23, 3, 3, 0x41, 0x00]);
        let second = 5 + MAX_CIPHERTEXT;
        assert_eq!(&out[second..second + 5], &[23, 3, 3, 0, 100]);
        // Records sized to fit one TCP segment each: 1440 = 5 + 1435.
        let mut out = Vec::new();
        application_data(&mut out, 3000, 1435, |b| b.fill(1));
        assert_eq!(out.len(), 3 * 5 + 3000);
        assert_eq!(&out[1440..1445], &[23, 3, 3, 0x05, 0x9b]);
        assert_eq!(&out[2880..2885], &[23, 3, 3, 0, 130]);
        // Short data still makes a record of the minimum ciphertext.
        let mut out = Vec::new();
        application_data(&mut out, 5, usize::MAX, |b| b.fill(1));
        assert_eq!(out.len(), 5 + 17);
    }
}
