//! HTTP/1.x requests: method and `Host` header from the first client bytes.
//!
//! The request line must be `METHOD SP target SP HTTP/1.d` ending in CRLF
//! (or a bare LF): the method is any token of upper-case letters (with `-`
//! and `_` after the first, as in SSDP's `M-SEARCH`), the target any
//! non-empty run of visible bytes. Header lines may end in CRLF or LF.

/// Why no HTTP/1.x request was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpError {
    /// Does not start with an HTTP/1.x request line.
    NotHttp,
    /// A request line, but the header block is not complete in these bytes.
    Incomplete,
}

/// Longest method accepted (the registered ones are at most 17 bytes).
const MAX_METHOD_LEN: usize = 24;

/// Returns the `Host` header value of an HTTP/1.x request starting at
/// `payload` (as written, port included), `Ok(None)` if the complete header
/// block has no Host.
///
/// The header name is matched case-insensitively and the value is trimmed
/// of spaces and tabs; the first Host line counts. The Host line (or the
/// blank line ending the headers) must be complete in `payload`, else
/// `Incomplete`; bytes that are a prefix of a request line are
/// `Incomplete` too.
pub fn request_host(payload: &[u8]) -> Result<Option<&[u8]>, HttpError> {
    let mut pos = request_line_end(payload)?;
    loop {
        let rest = &payload[pos..];
        let nl = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or(HttpError::Incomplete)?;
        let line = &rest[..nl];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return Ok(None);
        }
        if let Some(v) = host_value(line) {
            return Ok(Some(v));
        }
        pos += nl + 1;
    }
}

#[inline]
fn is_method_byte(b: u8, first: bool) -> bool {
    b.is_ascii_uppercase() || (!first && (b == b'-' || b == b'_'))
}

/// Checks the request line; returns the offset just past its line end.
fn request_line_end(p: &[u8]) -> Result<usize, HttpError> {
    // Method.
    let mut i = 0;
    loop {
        let &b = p.get(i).ok_or(HttpError::Incomplete)?;
        if b == b' ' && i > 0 {
            break;
        }
        if !is_method_byte(b, i == 0) || i == MAX_METHOD_LEN {
            return Err(HttpError::NotHttp);
        }
        i += 1;
    }
    i += 1;
    // Target: visible bytes (anything above space but DEL; non-ASCII bytes
    // are let through as some clients send them raw).
    let target = i;
    loop {
        let &b = p.get(i).ok_or(HttpError::Incomplete)?;
        if b == b' ' && i > target {
            break;
        }
        if b <= b' ' || b == 0x7f {
            return Err(HttpError::NotHttp);
        }
        i += 1;
    }
    i += 1;
    i = expect(p, i, b"HTTP/1.")?;
    let &digit = p.get(i).ok_or(HttpError::Incomplete)?;
    if !digit.is_ascii_digit() {
        return Err(HttpError::NotHttp);
    }
    i += 1;
    match p.get(i) {
        None => Err(HttpError::Incomplete),
        Some(b'\n') => Ok(i + 1),
        Some(b'\r') => expect(p, i + 1, b"\n"),
        Some(_) => Err(HttpError::NotHttp),
    }
}

/// Checks that `lit` is at `at` (a cut-short prefix is `Incomplete`);
/// returns the offset after it.
#[inline]
fn expect(p: &[u8], at: usize, lit: &[u8]) -> Result<usize, HttpError> {
    let have = p.get(at..).unwrap_or(&[]);
    let n = have.len().min(lit.len());
    if have[..n] != lit[..n] {
        return Err(HttpError::NotHttp);
    }
    if n < lit.len() {
        return Err(HttpError::Incomplete);
    }
    Ok(at + lit.len())
}

/// The trimmed value if `line` is a Host header line.
#[inline]
fn host_value(line: &[u8]) -> Option<&[u8]> {
    let (name, rest) = line.split_at_checked(4)?;
    let (&colon, value) = rest.split_first()?;
    if colon != b':' || !name.eq_ignore_ascii_case(b"host") {
        return None;
    }
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !blank(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |e| e + 1);
    Some(&value[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const REQ: &[u8] = b"GET /index.html?q=1 HTTP/1.1\r\nUser-Agent: x\r\nHost: example.com:8080\r\nAccept: */*\r\n\r\n";

    #[test]
    fn http_host_found() {
        assert_eq!(request_host(REQ), Ok(Some(&b"example.com:8080"[..])));
        let cases: &[(&[u8], Option<&[u8]>)] = &[
            (b"POST / HTTP/1.0\r\nhost: a.b\r\n\r\nbody", Some(b"a.b")),
            (
                b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n\r\n",
                Some(b"239.255.255.250:1900"),
            ),
            (
                b"GET / HTTP/1.1\nHost:\t  spaced.example \t\n\n",
                Some(b"spaced.example"),
            ),
            (b"GET / HTTP/1.1\r\nHost:\r\n\r\n", Some(b"")),
            (
                b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n",
                Some(b"a.example:443"),
            ),
            (
                b"GET / HTTP/1.1\r\nHost: first\r\nHost: second\r\n\r\n",
                Some(b"first"),
            ),
            (
                b"GET / HTTP/1.1\r\nX-Host: no\r\nHostname: no\r\nHost : no\r\n\r\n",
                None,
            ),
            (b"GET / HTTP/1.1\r\n\r\nHost: after.body\r\n", None),
            (b"PROPFIND /dav HTTP/1.1\r\nDepth: 1\r\n\r\n", None),
        ];
        for (req, want) in cases {
            assert_eq!(request_host(req), Ok(*want), "{}", req.escape_ascii());
        }
    }

    #[test]
    fn http_not_a_request() {
        let cases: &[&[u8]] = &[
            b"get / HTTP/1.1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET /\r\n",
            b"GET / HTTP/1.1 \r\n\r\n",
            b"GET / HTTP/1.x\r\n",
            b"GET / HTTP/1.1\rX",
            b"-GET / HTTP/1.1\r\n\r\n",
            b" GET / HTTP/1.1\r\n\r\n",
            b"SSH-2.0-OpenSSH_8.9\r\n",
            b"\x16\x03\x01\x02\x00\x01",
            b"GETTINGVERYLONGMETHODNAMES / HTTP/1.1\r\n\r\n",
        ];
        for req in cases {
            assert_eq!(
                request_host(req),
                Err(HttpError::NotHttp),
                "{}",
                req.escape_ascii()
            );
        }
    }

    #[test]
    fn http_truncated_at_every_length() {
        let host_line_end = REQ.windows(2).position(|w| w == b"80").unwrap() + 6;
        for cut in 0..REQ.len() {
            let r = request_host(&REQ[..cut]);
            if cut < host_line_end {
                assert_eq!(r, Err(HttpError::Incomplete), "cut {cut}");
            } else {
                assert_eq!(r, Ok(Some(&b"example.com:8080"[..])), "cut {cut}");
            }
        }
        let no_host = b"GET / HTTP/1.1\r\nA: b\r\n\r\n";
        for cut in 0..no_host.len() {
            assert_eq!(request_host(&no_host[..cut]), Err(HttpError::Incomplete));
        }
        assert_eq!(request_host(no_host), Ok(None));
    }

    proptest! {
        #[test]
        fn http_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = request_host(&bytes);
            let mut req = b"GET / HTTP/1.1\r\n".to_vec();
            req.extend_from_slice(&bytes);
            prop_assert!(request_host(&req).is_ok() || request_host(&req) == Err(HttpError::Incomplete));
        }
    }
}
