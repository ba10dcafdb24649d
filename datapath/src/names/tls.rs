//! The TLS ClientHello (RFC 8446 §4.1.2): server name (RFC 6066 SNI) and
//! ALPN protocol list (RFC 7301), over TLS records or a bare handshake
//! message.
//!
//! Over records, the handshake message may be spread over several
//! consecutive handshake records (RFC 8446 §5.1); it is read in place, record
//! headers stepped over, without copying. A field that is itself cut by a
//! record boundary cannot be returned as one borrowed slice: it is reported
//! as `None` with [`ClientHello::split`] set, and [`defragment`] copies the
//! message out for [`client_hello_from_handshake`].

/// What a ClientHello says that tapscope reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientHello<'a> {
    /// The first host_name entry of the server_name extension.
    pub sni: Option<&'a [u8]>,
    /// The ALPN extension's protocol_name_list, still encoded (a sequence
    /// of 1-byte length + name); see [`alpn_names`].
    pub alpn: Option<&'a [u8]>,
    /// legacy_version of the ClientHello (0x0303 for TLS 1.2 and 1.3).
    pub version: u16,
    /// The server name or the ALPN list is present but crosses a TLS record
    /// boundary, so it is `None` above; [`defragment`] the records and use
    /// [`client_hello_from_handshake`] to read it.
    pub split: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsError {
    /// Not a TLS handshake record / not a ClientHello.
    NotClientHello,
    /// The ClientHello is longer than the bytes given: `needed` is the
    /// total number of bytes (from the start of `data`) it takes.
    Incomplete {
        needed: usize,
    },
    Malformed,
}

const RECORD_HEADER_LEN: usize = 5;
const HANDSHAKE_HEADER_LEN: usize = 4;
const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
const CONTENT_HANDSHAKE: u8 = 22;
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
/// TLSPlaintext.length may not exceed 2^14 (RFC 8446 §5.1).
const MAX_RECORD_LEN: usize = 1 << 14;
/// The longest body a ClientHello can have: version, random, session id of
/// 32, cipher suites of 2^16-2, 255 compression methods, 2^16-1 bytes of
/// extensions, with their length fields.
const MAX_CLIENT_HELLO_LEN: usize = 2 + 32 + 1 + 32 + 2 + 65534 + 1 + 255 + 2 + 65535;

const EXT_SERVER_NAME: u16 = 0;
const EXT_ALPN: u16 = 16;
const NAME_TYPE_HOST_NAME: u8 = 0;

/// Parses a ClientHello from the start of a TCP stream (TLS records,
/// possibly several carrying one handshake message).
///
/// One dummy change_cipher_spec record before the first handshake record is
/// stepped over: clients in middlebox compatibility mode send one before
/// their second ClientHello, after a HelloRetryRequest (RFC 8446 §D.4).
///
/// `Incomplete { needed }` counts the bytes up to the end of the handshake
/// message as far as the records seen tell it: the current record's length
/// and, when the message goes on past it, one more record header with the
/// rest of the message in it. While the handshake header itself is not all
/// there, only the bytes up to its end are counted. `needed` is always more
/// than `data.len()`.
pub fn client_hello_from_records(data: &[u8]) -> Result<ClientHello<'_>, TlsError> {
    let (start, len) = handshake_layout(data)?;
    let mut c = Cursor {
        cur: &[],
        rest: &data[start..],
        left: len,
    };
    c.skip(HANDSHAKE_HEADER_LEN)?;
    parse_body(&mut c)
}

/// Parses a ClientHello from a bare handshake message (type 1, 3-byte
/// length), as carried in QUIC CRYPTO frames.
pub fn client_hello_from_handshake(data: &[u8]) -> Result<ClientHello<'_>, TlsError> {
    match data.first() {
        None => {
            return Err(TlsError::Incomplete {
                needed: HANDSHAKE_HEADER_LEN,
            })
        }
        Some(&HANDSHAKE_CLIENT_HELLO) => {}
        Some(_) => return Err(TlsError::NotClientHello),
    }
    let Some(h) = data.get(..HANDSHAKE_HEADER_LEN) else {
        return Err(TlsError::Incomplete {
            needed: HANDSHAKE_HEADER_LEN,
        });
    };
    let body_len = be24([h[1], h[2], h[3]]);
    if body_len > MAX_CLIENT_HELLO_LEN {
        return Err(TlsError::Malformed);
    }
    let end = HANDSHAKE_HEADER_LEN + body_len;
    let Some(body) = data.get(HANDSHAKE_HEADER_LEN..end) else {
        return Err(TlsError::Incomplete { needed: end });
    };
    let mut c = Cursor {
        cur: body,
        rest: &[],
        left: body_len,
    };
    parse_body(&mut c)
}

/// Copies the ClientHello handshake message (header and body) carried by
/// the TLS records at the start of `data` into `out`, without the record
/// headers, for [`client_hello_from_handshake`]. `None` if `data` does not
/// start with a complete ClientHello or `out` is too short for it.
pub fn defragment<'b>(data: &[u8], out: &'b mut [u8]) -> Option<&'b [u8]> {
    let (start, len) = handshake_layout(data).ok()?;
    let out = out.get_mut(..len)?;
    let mut c = Cursor {
        cur: &[],
        rest: &data[start..],
        left: len,
    };
    let mut at = 0;
    while c.left > 0 {
        let chunk = c.chunk().ok()?;
        out.get_mut(at..at + chunk.len())?.copy_from_slice(chunk);
        at += chunk.len();
    }
    Some(out)
}

/// Iterates the names of an encoded ALPN protocol_name_list. Stops at an
/// empty name or one running past the list.
pub fn alpn_names(list: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    AlpnNames { rest: list }
}

#[derive(Clone)]
struct AlpnNames<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for AlpnNames<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let (&n, tail) = self.rest.split_first()?;
        let n = n as usize;
        if n == 0 || n > tail.len() {
            self.rest = &[];
            return None;
        }
        let (name, rest) = tail.split_at(n);
        self.rest = rest;
        Some(name)
    }
}

#[inline]
fn be24(b: [u8; 3]) -> usize {
    (b[0] as usize) << 16 | (b[1] as usize) << 8 | b[2] as usize
}

/// The header of the TLS record at `at`, if all 5 bytes are there:
/// (content type, major version, length).
#[inline]
fn record_header(data: &[u8], at: usize) -> Option<(u8, u8, usize)> {
    let h = data.get(at..at + RECORD_HEADER_LEN)?;
    Some((h[0], h[1], usize::from(u16::from_be_bytes([h[3], h[4]]))))
}

/// The dummy change_cipher_spec record a client sends before its second
/// ClientHello (after a HelloRetryRequest) in middlebox compatibility mode
/// (RFC 8446 §D.4). Returns its length if `data` starts with one, else 0.
fn leading_ccs(data: &[u8]) -> Result<usize, TlsError> {
    const LEN: usize = RECORD_HEADER_LEN + 1;
    if data.first() != Some(&CONTENT_CHANGE_CIPHER_SPEC) {
        return Ok(0);
    }
    // type, version major, (minor: any), length 1, the byte 1.
    let want = [Some(3), None, Some(0), Some(1), Some(1)];
    for (b, w) in data.iter().skip(1).zip(want) {
        if w.is_some_and(|w| w != *b) {
            return Err(TlsError::NotClientHello);
        }
    }
    if data.len() < LEN {
        return Err(TlsError::Incomplete {
            needed: LEN + RECORD_HEADER_LEN + HANDSHAKE_HEADER_LEN,
        });
    }
    Ok(LEN)
}

/// Walks the records at the start of `data` that carry the first handshake
/// message and checks it is a ClientHello all there. Returns the offset of
/// its first record (past a [`leading_ccs`]) and the message's length with
/// its header.
fn handshake_layout(data: &[u8]) -> Result<(usize, usize), TlsError> {
    let start = leading_ccs(data)?;
    // The first record must look like a handshake record before anything
    // else is said about the bytes.
    match data.get(start) {
        Some(&CONTENT_HANDSHAKE) | None => {}
        Some(_) => return Err(TlsError::NotClientHello),
    }
    if data.get(start + 1).is_some_and(|&major| major != 3) {
        return Err(TlsError::NotClientHello);
    }

    let mut pos = start; // the next record header
    let mut got = 0; // handshake message bytes seen
    let mut header = [0u8; HANDSHAKE_HEADER_LEN];
    let mut total = None; // message length with header, once known
    loop {
        let remaining = |got: usize, total: Option<usize>| -> usize {
            total.unwrap_or(HANDSHAKE_HEADER_LEN) - got
        };
        let Some((ctype, major, len)) = record_header(data, pos) else {
            return Err(TlsError::Incomplete {
                needed: pos + RECORD_HEADER_LEN + remaining(got, total),
            });
        };
        if ctype != CONTENT_HANDSHAKE || major != 3 {
            // Another record type before the message is complete.
            return Err(if pos == start {
                TlsError::NotClientHello
            } else {
                TlsError::Malformed
            });
        }
        if len == 0 || len > MAX_RECORD_LEN {
            return Err(TlsError::Malformed);
        }
        let frag_start = pos + RECORD_HEADER_LEN;
        let frag_end = frag_start + len;
        let frag = &data[frag_start..data.len().min(frag_end)];
        let mut used = 0;
        while total.is_none() && used < frag.len() {
            header[got] = frag[used];
            got += 1;
            used += 1;
            if got == 1 && header[0] != HANDSHAKE_CLIENT_HELLO {
                return Err(TlsError::NotClientHello);
            }
            if got == HANDSHAKE_HEADER_LEN {
                let body = be24([header[1], header[2], header[3]]);
                if body > MAX_CLIENT_HELLO_LEN {
                    return Err(TlsError::Malformed);
                }
                total = Some(HANDSHAKE_HEADER_LEN + body);
            }
        }
        if let Some(t) = total {
            let here = frag.len() - used;
            if here >= t - got {
                return Ok((start, t));
            }
            got += here;
        }
        if frag.len() < len {
            // The bytes end inside this record.
            let rest = remaining(got, total);
            let in_record = len - frag.len();
            let needed = if rest <= in_record {
                data.len() + rest
            } else {
                frag_end + RECORD_HEADER_LEN + (rest - in_record)
            };
            return Err(TlsError::Incomplete { needed });
        }
        pos = frag_end;
    }
}

/// A forward reader over the bytes of one handshake message, whether they
/// lie in one piece or in the fragments of consecutive records. Reading
/// past the message (or the sub-range a cursor was limited to) is
/// `Malformed`: its length was checked to be all there before.
#[derive(Clone, Copy)]
struct Cursor<'a> {
    /// The unread bytes of the current fragment.
    cur: &'a [u8],
    /// The bytes after the current fragment, from a record header on.
    rest: &'a [u8],
    /// Message bytes this cursor may still read.
    left: usize,
}

impl<'a> Cursor<'a> {
    /// Moves to the next record's fragment.
    #[cold]
    fn next_fragment(&mut self) -> Result<(), TlsError> {
        let (ctype, _, len) = record_header(self.rest, 0).ok_or(TlsError::Malformed)?;
        let frag = self.rest.get(RECORD_HEADER_LEN..).unwrap_or(&[]);
        let frag = frag.get(..len).unwrap_or(frag);
        if ctype != CONTENT_HANDSHAKE || frag.is_empty() {
            return Err(TlsError::Malformed);
        }
        self.rest = &self.rest[RECORD_HEADER_LEN + frag.len()..];
        self.cur = frag;
        Ok(())
    }

    /// The next run of contiguous message bytes (at least one), consumed.
    #[inline]
    fn chunk(&mut self) -> Result<&'a [u8], TlsError> {
        if self.left == 0 {
            return Err(TlsError::Malformed);
        }
        while self.cur.is_empty() {
            self.next_fragment()?;
        }
        let n = self.cur.len().min(self.left);
        let (chunk, cur) = self.cur.split_at(n);
        self.cur = cur;
        self.left -= n;
        Ok(chunk)
    }

    #[inline]
    fn u8(&mut self) -> Result<u8, TlsError> {
        if self.left == 0 {
            return Err(TlsError::Malformed);
        }
        if self.cur.is_empty() {
            self.next_fragment()?;
        }
        let (&b, cur) = self.cur.split_first().ok_or(TlsError::Malformed)?;
        self.cur = cur;
        self.left -= 1;
        Ok(b)
    }

    #[inline]
    fn u16(&mut self) -> Result<u16, TlsError> {
        Ok(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }

    /// Consumes `n` bytes: the slice if they are contiguous, else `None`.
    #[inline]
    fn take(&mut self, n: usize) -> Result<Option<&'a [u8]>, TlsError> {
        if n > self.left {
            return Err(TlsError::Malformed);
        }
        if n > 0 && self.cur.is_empty() {
            self.next_fragment()?;
        }
        if let Some(s) = self.cur.get(..n) {
            self.cur = &self.cur[n..];
            self.left -= n;
            return Ok(Some(s));
        }
        self.skip(n)?;
        Ok(None)
    }

    #[inline]
    fn skip(&mut self, mut n: usize) -> Result<(), TlsError> {
        if n > self.left {
            return Err(TlsError::Malformed);
        }
        while n > 0 {
            if self.cur.is_empty() {
                self.next_fragment()?;
            }
            let k = n.min(self.cur.len());
            self.cur = &self.cur[k..];
            self.left -= k;
            n -= k;
        }
        Ok(())
    }

    /// A cursor over the next `n` bytes, which this one steps over.
    #[inline]
    fn sub(&mut self, n: usize) -> Result<Cursor<'a>, TlsError> {
        let sub = Cursor { left: n, ..*self };
        self.skip(n)?;
        Ok(sub)
    }
}

/// Parses a ClientHello body (after the handshake header).
fn parse_body<'a>(c: &mut Cursor<'a>) -> Result<ClientHello<'a>, TlsError> {
    let mut hello = ClientHello {
        version: c.u16()?,
        ..ClientHello::default()
    };
    c.skip(32)?; // random
    let session_id = c.u8()? as usize;
    if session_id > 32 {
        return Err(TlsError::Malformed);
    }
    c.skip(session_id)?;
    let suites = c.u16()? as usize;
    if suites < 2 || !suites.is_multiple_of(2) {
        return Err(TlsError::Malformed);
    }
    c.skip(suites)?;
    let compression = c.u8()? as usize;
    if compression == 0 {
        return Err(TlsError::Malformed);
    }
    c.skip(compression)?;
    if c.left == 0 {
        // No extensions at all (allowed before TLS 1.3).
        return Ok(hello);
    }
    let ext_len = c.u16()? as usize;
    if ext_len != c.left {
        return Err(TlsError::Malformed);
    }
    let mut exts = c.sub(ext_len)?;
    let (mut seen_sni, mut seen_alpn) = (false, false);
    while exts.left > 0 {
        let ty = exts.u16()?;
        let len = exts.u16()? as usize;
        let mut body = exts.sub(len)?;
        match ty {
            EXT_SERVER_NAME if !seen_sni => {
                seen_sni = true;
                server_name(&mut body, &mut hello)?;
            }
            EXT_ALPN if !seen_alpn => {
                seen_alpn = true;
                alpn(&mut body, &mut hello)?;
            }
            _ => {}
        }
    }
    Ok(hello)
}

/// The server_name extension (RFC 6066 §3): the first host_name entry.
fn server_name<'a>(c: &mut Cursor<'a>, hello: &mut ClientHello<'a>) -> Result<(), TlsError> {
    if c.left == 0 {
        // A server's empty acknowledgement; not from a client, but harmless.
        return Ok(());
    }
    let list_len = c.u16()? as usize;
    if list_len != c.left || list_len == 0 {
        return Err(TlsError::Malformed);
    }
    let mut found = false;
    while c.left > 0 {
        let name_type = c.u8()?;
        let len = c.u16()? as usize;
        let name = c.take(len)?;
        if name_type == NAME_TYPE_HOST_NAME && !found {
            found = true;
            hello.sni = name;
            hello.split |= name.is_none();
        }
    }
    Ok(())
}

/// The ALPN extension (RFC 7301 §3.1): the protocol_name_list, checked.
fn alpn<'a>(c: &mut Cursor<'a>, hello: &mut ClientHello<'a>) -> Result<(), TlsError> {
    let list_len = c.u16()? as usize;
    if list_len != c.left || list_len == 0 {
        return Err(TlsError::Malformed);
    }
    let mut names = *c;
    let list = c.take(list_len)?;
    while names.left > 0 {
        let n = names.u8()? as usize;
        if n == 0 {
            return Err(TlsError::Malformed);
        }
        names.skip(n)?;
    }
    hello.alpn = list;
    hello.split |= list.is_none();
    Ok(())
}

#[cfg(test)]
mod tests {
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
            let ch =
                client_hello_from_records(&data).unwrap_or_else(|e| panic!("cut {cut}: {e:?}"));
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
            let Err(TlsError::Incomplete { needed }) = client_hello_from_records(&data[..cut])
            else {
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
}
