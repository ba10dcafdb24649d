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

/// Why no ClientHello was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsError {
    /// Not a TLS handshake record / not a ClientHello.
    NotClientHello,
    /// The ClientHello is longer than the bytes given: `needed` is the
    /// total number of bytes (from the start of `data`) it takes.
    Incomplete {
        /// Total bytes, from the start of `data`, the ClientHello takes.
        needed: usize,
    },
    /// A length or field is invalid, or another record type interrupts the
    /// ClientHello.
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
mod tests;
