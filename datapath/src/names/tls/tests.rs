//! Unit tests of the parent module.

use super::*;
use proptest::prelude::*;

fn ext(ty: u16, body: &[u8]) -> Vec<u8> {
    let mut v = ty.to_be_bytes().to_vec();
    v.extend_from_slice(&(body.len() as u16).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn with_len16(body: &[u8]) -> Vec<u8> {
    let mut v = (body.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(body);
    v
}

fn sni_ext(names: &[(u8, &[u8])]) -> Vec<u8> {
    let mut list = Vec::new();
    for (t, n) in names {
        list.push(*t);
        list.extend(with_len16(n));
    }
    ext(EXT_SERVER_NAME, &with_len16(&list))
}

fn alpn_list(names: &[&[u8]]) -> Vec<u8> {
    let mut list = Vec::new();
    for n in names {
        list.push(n.len() as u8);
        list.extend_from_slice(n);
    }
    list
}

fn alpn_ext(names: &[&[u8]]) -> Vec<u8> {
    ext(EXT_ALPN, &with_len16(&alpn_list(names)))
}

/// A ClientHello handshake message (header included) with these
/// extensions (`None`: no extension block at all).
fn hello(exts: Option<&[Vec<u8>]>) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend_from_slice(&[0xab; 32]);
    b.push(32);
    b.extend_from_slice(&[0xcd; 32]);
    b.extend(with_len16(&[0x13, 1, 0x13, 2, 0xc0, 0x2b]));
    b.extend_from_slice(&[1, 0]);
    if let Some(exts) = exts {
        b.extend(with_len16(&exts.concat()));
    }
    let mut m = vec![HANDSHAKE_CLIENT_HELLO];
    m.extend_from_slice(&(b.len() as u32).to_be_bytes()[1..]);
    m.extend(b);
    m
}

fn typical() -> Vec<u8> {
    hello(Some(&[
        ext(0x0a0a, &[]), // GREASE
        sni_ext(&[(0, b"www.example.com")]),
        ext(23, &[]),
        alpn_ext(&[b"h2", b"http/1.1"]),
        ext(43, &[4, 3, 4, 3, 3]),
    ]))
}

/// `msg` in records whose fragments end at the offsets `cuts`.
fn records(msg: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain([msg.len()].iter()) {
        let frag = &msg[start..end];
        out.extend_from_slice(&[CONTENT_HANDSHAKE, 3, 1]);
        out.extend_from_slice(&(frag.len() as u16).to_be_bytes());
        out.extend_from_slice(frag);
        start = end;
    }
    out
}

#[test]
fn tls_single_record() {
    let data = records(&typical(), &[]);
    let ch = client_hello_from_records(&data).unwrap();
    assert_eq!(ch.sni, Some(&b"www.example.com"[..]));
    assert_eq!(ch.version, 0x0303);
    assert!(!ch.split);
    let names: Vec<&[u8]> = alpn_names(ch.alpn.unwrap()).collect();
    assert_eq!(names, vec![&b"h2"[..], b"http/1.1"]);
    // Bytes after the message (a next record) are not looked at.
    let mut more = data.clone();
    more.extend_from_slice(&[23, 3, 3, 0, 1, 0]);
    assert_eq!(client_hello_from_records(&more), Ok(ch));
    // The same as a bare handshake message.
    assert_eq!(client_hello_from_handshake(&typical()), Ok(ch));
}

#[test]
fn tls_sni_alpn_absent_or_several() {
    let m = hello(None);
    let ch = client_hello_from_handshake(&m).unwrap();
    assert_eq!((ch.sni, ch.alpn), (None, None));
    let m = hello(Some(&[ext(5, &[1, 0, 0, 0, 0])]));
    let ch = client_hello_from_handshake(&m).unwrap();
    assert_eq!((ch.sni, ch.alpn), (None, None));
    // First host_name entry wins; other name types skipped; a second
    // server_name extension ignored.
    let m = hello(Some(&[
        sni_ext(&[(7, b"other"), (0, b"first.example"), (0, b"second")]),
        sni_ext(&[(0, b"dup.example")]),
    ]));
    let ch = client_hello_from_handshake(&m).unwrap();
    assert_eq!(ch.sni, Some(&b"first.example"[..]));
}

#[test]
fn tls_not_client_hello() {
    let mut server_hello = typical();
    server_hello[0] = 2;
    assert_eq!(
        client_hello_from_records(&records(&server_hello, &[])),
        Err(TlsError::NotClientHello)
    );
    assert_eq!(
        client_hello_from_handshake(&server_hello),
        Err(TlsError::NotClientHello)
    );
    for data in [
        &b"GET / HTTP/1.1\r\n"[..],
        &[23, 3, 3, 0, 10, 1, 2],
        &[0x80, 0x2e, 1, 3, 1],
        &[22, 0xfe, 0xfd, 0, 10],
        &[22, 3, 1, 0, 100, 2],
    ] {
        assert_eq!(
            client_hello_from_records(data),
            Err(TlsError::NotClientHello),
            "{data:?}"
        );
    }
}

#[test]
fn tls_truncated_single_record_needed_is_exact() {
    let data = records(&typical(), &[]);
    for cut in 0..data.len() {
        let r = client_hello_from_records(&data[..cut]);
        let want = if cut < RECORD_HEADER_LEN + HANDSHAKE_HEADER_LEN {
            RECORD_HEADER_LEN + HANDSHAKE_HEADER_LEN
        } else {
            data.len()
        };
        assert_eq!(r, Err(TlsError::Incomplete { needed: want }), "cut {cut}");
    }
    let m = typical();
    for cut in 0..m.len() {
        let want = if cut < 4 { 4 } else { m.len() };
        assert_eq!(
            client_hello_from_handshake(&m[..cut]),
            Err(TlsError::Incomplete { needed: want }),
            "cut {cut}"
        );
    }
}

#[test]
fn tls_spread_over_records() {
    let m = typical();
    let sni_at = m.windows(15).position(|w| w == b"www.example.com").unwrap();
    let alpn_at = m.windows(2).position(|w| w == b"h2").unwrap() - 1;
    let alpn_len = 12;
    for cut in 1..m.len() {
        let data = records(&m, &[cut]);
        let ch = client_hello_from_records(&data).unwrap_or_else(|e| panic!("cut {cut}: {e:?}"));
        let sni_split = cut > sni_at && cut < sni_at + 15;
        let alpn_split = cut > alpn_at && cut < alpn_at + alpn_len;
        assert_eq!(ch.sni.is_none(), sni_split, "cut {cut}");
        assert_eq!(ch.alpn.is_none(), alpn_split, "cut {cut}");
        assert_eq!(ch.split, sni_split || alpn_split, "cut {cut}");
        if !sni_split {
            assert_eq!(ch.sni, Some(&b"www.example.com"[..]));
        }
        // Copied out, every field is there.
        let mut buf = [0u8; 600];
        let whole = defragment(&data, &mut buf).unwrap();
        assert_eq!(whole, &m[..]);
        let ch = client_hello_from_handshake(whole).unwrap();
        assert_eq!(ch.sni, Some(&b"www.example.com"[..]));
        assert_eq!(ch.alpn.map(|a| a.len()), Some(alpn_len));
    }
    // One record per byte.
    let cuts: Vec<usize> = (1..m.len()).collect();
    let data = records(&m, &cuts);
    let ch = client_hello_from_records(&data).unwrap();
    assert!(ch.split && ch.sni.is_none() && ch.alpn.is_none());
    assert_eq!(ch.version, 0x0303);
    let mut buf = vec![0u8; m.len()];
    assert_eq!(defragment(&data, &mut buf), Some(&m[..]));
    let mut small = vec![0u8; m.len() - 1];
    assert_eq!(defragment(&data, &mut small), None);
    assert_eq!(defragment(&data[..data.len() - 1], &mut buf), None);
}

#[test]
fn tls_truncated_over_records_needed_is_exact() {
    let m = typical();
    for split in [1, 2, 3, 4, 5, 60, m.len() - 1] {
        let data = records(&m, &[split]);
        let first_end = RECORD_HEADER_LEN + split;
        for cut in 0..data.len() {
            let Err(TlsError::Incomplete { needed }) = client_hello_from_records(&data[..cut])
            else {
                panic!("split {split} cut {cut}: not Incomplete");
            };
            assert!(
                needed > cut && needed <= data.len(),
                "split {split} cut {cut}"
            );
            // Once the handshake header is in, the total is known.
            let header_in = if split >= 4 {
                cut >= RECORD_HEADER_LEN + 4
            } else {
                cut >= first_end + RECORD_HEADER_LEN + (4 - split)
            };
            if header_in {
                assert_eq!(needed, data.len(), "split {split} cut {cut}");
            }
        }
    }
}

#[test]
fn tls_after_a_dummy_change_cipher_spec() {
    let ccs = [20, 3, 3, 0, 1, 1];
    let data = [&ccs[..], &records(&typical(), &[50])].concat();
    let ch = client_hello_from_records(&data).unwrap();
    assert_eq!(ch.sni, Some(&b"www.example.com"[..]));
    let mut buf = [0u8; 600];
    assert_eq!(defragment(&data, &mut buf), Some(&typical()[..]));
    for cut in 0..data.len() {
        let Err(TlsError::Incomplete { needed }) = client_hello_from_records(&data[..cut]) else {
            panic!("cut {cut}: not Incomplete");
        };
        assert!(needed > cut && needed <= data.len(), "cut {cut}");
        if cut >= 6 + 5 + 4 {
            assert_eq!(needed, data.len(), "cut {cut}");
        }
    }
    // Only a well-formed one, and only one.
    for bad in [
        [20, 3, 3, 0, 1, 0],
        [20, 3, 3, 0, 2, 1],
        [20, 2, 0, 0, 1, 1],
    ] {
        let data = [&bad[..], &records(&typical(), &[])].concat();
        assert_eq!(
            client_hello_from_records(&data),
            Err(TlsError::NotClientHello)
        );
    }
    let data = [&ccs[..], &ccs[..], &records(&typical(), &[])].concat();
    assert_eq!(
        client_hello_from_records(&data),
        Err(TlsError::NotClientHello)
    );
}

#[test]
fn tls_record_errors() {
    let m = typical();
    // A change_cipher_spec record between two fragments.
    let mut data = records(&m[..100], &[]);
    data.extend_from_slice(&[20, 3, 3, 0, 1, 1]);
    data.extend(records(&m[100..], &[]));
    assert_eq!(client_hello_from_records(&data), Err(TlsError::Malformed));
    // An empty record, an oversized record.
    let mut data = vec![22, 3, 1, 0, 0];
    data.extend(records(&m, &[]));
    assert_eq!(client_hello_from_records(&data), Err(TlsError::Malformed));
    assert_eq!(
        client_hello_from_records(&[22, 3, 1, 0x40, 1, 1, 0, 0, 10]),
        Err(TlsError::Malformed)
    );
    // A message length no ClientHello can have.
    assert_eq!(
        client_hello_from_records(&[22, 3, 1, 0x40, 0, 1, 0x10, 0, 0]),
        Err(TlsError::Malformed)
    );
    assert_eq!(
        client_hello_from_handshake(&[1, 0xff, 0xff, 0xff]),
        Err(TlsError::Malformed)
    );
}

/// Replaces the body length fields: returns `m` with `f` applied to the
/// body, the handshake length fixed up.
fn edit_body(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let m = typical();
    let mut body = m[4..].to_vec();
    f(&mut body);
    let mut out = vec![1];
    out.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    out.extend(body);
    out
}

#[test]
fn tls_malformed_lengths() {
    let sid = 2 + 32;
    let suites = sid + 1 + 32;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("session id > 32", edit_body(|b| b[sid] = 33)),
        ("odd cipher suites", edit_body(|b| b[suites + 1] = 5)),
        ("no cipher suites", {
            edit_body(|b| {
                b.drain(suites + 2..suites + 8);
                b[suites + 1] = 0;
            })
        }),
        ("cipher suites overrun", edit_body(|b| b[suites] = 0x7f)),
        ("extensions longer", edit_body(|b| b.truncate(b.len() - 1))),
        ("extensions shorter", edit_body(|b| b.push(0))),
        ("cut in a fixed field", edit_body(|b| b.truncate(20))),
        ("empty", edit_body(|b| b.clear())),
    ];
    for (what, m) in cases {
        assert_eq!(
            client_hello_from_handshake(&m),
            Err(TlsError::Malformed),
            "{what}"
        );
        assert_eq!(
            client_hello_from_records(&records(&m, &[])),
            Err(TlsError::Malformed),
            "{what} (records)"
        );
    }
    let bad_exts: Vec<(&str, Vec<u8>)> = vec![
        ("extension overruns", {
            let mut e = sni_ext(&[(0, b"a.b")]);
            e[3] += 1;
            e
        }),
        ("server name list short", {
            let mut e = sni_ext(&[(0, b"a.b")]);
            e[5] -= 1;
            e
        }),
        ("host name overruns", {
            let mut e = sni_ext(&[(0, b"a.b")]);
            e[8] += 1;
            e
        }),
        ("empty server name list", ext(0, &[0, 0])),
        (
            "alpn empty name",
            ext(EXT_ALPN, &with_len16(&[2, b'h', b'2', 0])),
        ),
        (
            "alpn name overruns",
            ext(EXT_ALPN, &with_len16(&[3, b'h', b'2'])),
        ),
        ("alpn list short", ext(EXT_ALPN, &[0, 2, 2, b'h', b'2'])),
        ("alpn empty list", ext(EXT_ALPN, &[0, 0])),
        ("alpn no list", ext(EXT_ALPN, &[])),
        ("extension header cut", vec![0, 16, 0]),
    ];
    for (what, e) in bad_exts {
        let m = hello(Some(&[e]));
        assert_eq!(
            client_hello_from_handshake(&m),
            Err(TlsError::Malformed),
            "{what}"
        );
    }
}

#[test]
fn tls_alpn_iterator() {
    let l = alpn_list(&[b"h2", b"http/1.1", b"x"]);
    let it = alpn_names(&l);
    assert_eq!(it.clone().count(), 3);
    assert_eq!(it.last(), Some(&b"x"[..]));
    assert_eq!(alpn_names(&[]).count(), 0);
    // Stops at an empty name or an overrun.
    assert_eq!(alpn_names(&[2, b'h', b'2', 0, 1, b'x']).count(), 1);
    assert_eq!(alpn_names(&[2, b'h', b'2', 5, b'x']).count(), 1);
}

proptest! {
    #[test]
    fn tls_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = client_hello_from_handshake(&bytes);
        let mut buf = [0u8; 512];
        let _ = defragment(&bytes, &mut buf);
        if let Err(TlsError::Incomplete { needed }) = client_hello_from_records(&bytes) {
            prop_assert!(needed > bytes.len());
        }
        let mut rec = vec![22, 3, 1];
        rec.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        rec.extend_from_slice(&bytes);
        let _ = client_hello_from_records(&rec);
        let _ = alpn_names(&bytes).count();
    }

    #[test]
    fn tls_mutated_hello_never_panics(
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..4),
        end in any::<usize>(),
    ) {
        let mut m = typical();
        for (i, b) in edits {
            let n = m.len();
            m[i % n] = b;
        }
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| 1 + c % (m.len() - 1)).collect();
        cuts.sort();
        cuts.dedup();
        let data = records(&m, &cuts);
        let end = end % (data.len() + 1);
        match client_hello_from_records(&data[..end]) {
            Err(TlsError::Incomplete { needed }) => prop_assert!(needed > end),
            Ok(ch) => {
                if let Some(a) = ch.alpn {
                    let _ = alpn_names(a).count();
                }
            }
            Err(_) => {}
        }
        let _ = client_hello_from_handshake(&m[..end.min(m.len())]);
    }
}
