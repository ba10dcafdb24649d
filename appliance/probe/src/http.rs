//! `http` / `https`: one GET over HTTP/1.1 (TLS by rustls for https), with
//! the time of each phase — name lookup, TCP connect, TLS handshake, first
//! byte of the answer, transfer of the rest — the status, the body size,
//! and for https the TLS version and the certificate's expiry.
//!
//! The certificate is always checked (web PKI roots, plus the task's
//! `ca_file`); with `verify_tls = false` a failed check is recorded in
//! `cert_error` and the exchange goes on.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{ms_since, resolve, ErrorClass, ProbeError, ProbeKind, ProbeResult, ProbeTask};

/// Bodies beyond this are counted but the probe stops reading.
const MAX_BODY: u64 = 64 << 20;
/// Response headers beyond this are a protocol error.
const MAX_HEAD: usize = 64 << 10;

/// A parsed `http://` or `https://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    /// The Host header: the host, bracketed for IPv6, with a non-default port.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match (self.https, self.port) {
            (true, 443) | (false, 80) => host,
            _ => format!("{host}:{}", self.port),
        }
    }
}

/// Parses `target`; without a scheme, `https` decides it.
pub fn parse_url(target: &str, https: bool) -> Result<Url, String> {
    let (https, rest) = if let Some(r) = target.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = target.strip_prefix("http://") {
        (false, r)
    } else if target.contains("://") {
        return Err(format!("`{target}`: only http:// and https:// URLs"));
    } else {
        (https, target)
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if authority.contains('@') {
        return Err(format!("`{target}`: user info in URLs is not supported"));
    }
    let (host, port) = super::split_host_port(authority)?;
    if host.is_empty() {
        return Err(format!("`{target}`: no host"));
    }
    Ok(Url {
        https,
        port: port.unwrap_or(if https { 443 } else { 80 }),
        host,
        path,
    })
}

/// Checks the certificate as web PKI does, remembers the end-entity
/// certificate and the verdict, and lets the handshake go on when
/// verification is off.
#[derive(Debug)]
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    enforce: bool,
    seen: Mutex<Option<(Vec<u8>, Option<rustls::Error>)>>,
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict =
            self.inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now);
        if let Ok(mut s) = self.seen.lock() {
            *s = Some((end_entity.to_vec(), verdict.as_ref().err().cloned()));
        }
        match verdict {
            Err(e) if self.enforce => Err(e),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The class of a certificate verification error.
pub fn cert_error_class(e: &rustls::Error) -> ErrorClass {
    match e {
        rustls::Error::InvalidCertificate(
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. },
        ) => ErrorClass::CertExpired,
        rustls::Error::InvalidCertificate(_) => ErrorClass::CertInvalid,
        _ => ErrorClass::TlsHandshake,
    }
}

/// notAfter of a DER certificate, Unix seconds.
pub fn not_after(der: &[u8]) -> Option<i64> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(cert.validity().not_after.timestamp())
}

fn tls_config(task: &ProbeTask) -> Result<(Arc<rustls::ClientConfig>, Arc<Recording>), ProbeError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(f) = &task.params.ca_file {
        let certs = CertificateDer::pem_file_iter(f)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| {
                ProbeError::new(ErrorClass::Io, format!("reading {}: {e}", f.display()))
            })?;
        for c in certs {
            roots
                .add(c)
                .map_err(|e| ProbeError::new(ErrorClass::Io, format!("{}: {e}", f.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| ProbeError::new(ErrorClass::Io, format!("certificate verifier: {e}")))?;
    let rec = Arc::new(Recording {
        inner,
        enforce: task.params.verify_tls,
        seen: Mutex::new(None),
    });
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ProbeError::new(ErrorClass::Io, e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(rec.clone())
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(cfg), rec))
}

pub async fn run(task: &ProbeTask, r: &mut ProbeResult) -> Result<(), ProbeError> {
    let url = parse_url(&task.target, task.kind == ProbeKind::Https)
        .map_err(|e| ProbeError::new(ErrorClass::Io, e))?;
    let t0 = Instant::now();
    // Name lookup.
    let addr = match (&task.params.server, url.host.parse::<IpAddr>()) {
        (_, Ok(ip)) => SocketAddr::new(ip, url.port),
        (Some(server), Err(_)) => {
            let (ip, ms) =
                super::dns::lookup(server, &url.host, task.params.wait.max(task.timeout / 4))
                    .await?;
            r.dns_ms = Some(ms);
            SocketAddr::new(ip, url.port)
        }
        (None, Err(_)) => {
            let (a, ms) = resolve(&url.host, url.port).await?;
            r.dns_ms = ms;
            a
        }
    };
    r.address = Some(addr.to_string());
    // TCP.
    let t = Instant::now();
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| ProbeError::io(&format!("connecting to {addr}"), &e))?;
    r.connect_ms = Some(ms_since(t));
    let _ = tcp.set_nodelay(true);
    let res = if url.https {
        let (cfg, rec) = tls_config(task)?;
        let name = ServerName::try_from(url.host.clone())
            .map_err(|e| ProbeError::new(ErrorClass::Io, format!("`{}`: {e}", url.host)))?;
        let t = Instant::now();
        let hs = tokio_rustls::TlsConnector::from(cfg)
            .connect(name, tcp)
            .await;
        // What the certificate check found, whether or not it stopped us.
        let seen = rec.seen.lock().ok().and_then(|mut s| s.take());
        if let Some((der, verdict)) = &seen {
            r.cert_not_after_s = not_after(der);
            r.cert_days_left = r
                .cert_not_after_s
                .map(|na| (na as f64 - r.started_ns as f64 / 1e9) / 86_400.0);
            if let Some(e) = verdict {
                let class = cert_error_class(e);
                r.details = Some(serde_json::json!({
                    "cert_error": class.name(),
                    "cert_error_message": e.to_string(),
                }));
            }
        }
        let tls = match hs {
            Ok(s) => s,
            Err(e) => {
                let class = e
                    .get_ref()
                    .and_then(|i| i.downcast_ref::<rustls::Error>())
                    .map_or(ErrorClass::of_io(&e), cert_error_class);
                let class = match class {
                    ErrorClass::Io => ErrorClass::TlsHandshake,
                    c => c,
                };
                return Err(ProbeError::new(
                    class,
                    format!("TLS handshake with {addr}: {e}"),
                ));
            }
        };
        r.tls_ms = Some(ms_since(t));
        r.tls_version = tls.get_ref().1.protocol_version().map(|v| match v {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_string(),
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_string(),
            other => format!("{other:?}"),
        });
        exchange(tls, &url, r).await
    } else {
        exchange(tcp, &url, r).await
    };
    r.total_ms = Some(ms_since(t0));
    let status = res?;
    let expected = if task.params.expect_status.is_empty() {
        (200..400).contains(&status)
    } else {
        task.params.expect_status.contains(&status)
    };
    if !expected {
        return Err(ProbeError::new(
            ErrorClass::HttpStatus,
            format!(
                "status {status}, expected {}",
                if task.params.expect_status.is_empty() {
                    "200 to 399".to_string()
                } else {
                    task.params
                        .expect_status
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
        ));
    }
    Ok(())
}

/// The request and the answer; returns the status.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    url: &Url,
    r: &mut ProbeResult,
) -> Result<u16, ProbeError> {
    let io = |e: io::Error| ProbeError::io("HTTP exchange", &e);
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: tapscope/{}\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        url.path,
        url.authority(),
        env!("CARGO_PKG_VERSION")
    );
    // From the start of the request: on a fast path the answer may be
    // queued before the write returns.
    let t = Instant::now();
    s.write_all(req.as_bytes()).await.map_err(io)?;
    s.flush().await.map_err(io)?;
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 16384];
    // Headers.
    let mut read_more = true;
    let (status, head_len, body) = loop {
        if read_more {
            let n = s.read(&mut chunk).await.map_err(io)?;
            if n == 0 {
                return Err(ProbeError::new(
                    ErrorClass::Protocol,
                    "the server closed the connection before a full answer",
                ));
            }
            if r.first_byte_ms.is_none() {
                r.first_byte_ms = Some(ms_since(t));
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        read_more = true;
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let code = resp.code.unwrap_or(0);
                // 1xx answers precede the real one.
                if (100..200).contains(&code) {
                    buf.drain(..len);
                    // The final answer may be in the same read.
                    read_more = false;
                    continue;
                }
                break (
                    code,
                    len,
                    body_kind(resp.headers)
                        .map_err(|e| ProbeError::new(ErrorClass::Protocol, e))?,
                );
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) => {
                return Err(ProbeError::new(
                    ErrorClass::Protocol,
                    "response headers too long",
                ))
            }
            Err(e) => {
                return Err(ProbeError::new(
                    ErrorClass::Protocol,
                    format!("not an HTTP answer: {e}"),
                ))
            }
        }
    };
    r.http_status = Some(status);
    let mut rest = buf.split_off(head_len);
    let size = match body {
        Body::Length(n) => {
            let mut got = rest.len() as u64;
            while got < n && got < MAX_BODY {
                let k = s.read(&mut chunk).await.map_err(io)?;
                if k == 0 {
                    return Err(ProbeError::new(
                        ErrorClass::Protocol,
                        format!("body ended after {got} of {n} bytes"),
                    ));
                }
                got += k as u64;
            }
            got.min(n)
        }
        Body::UntilClose => {
            let mut got = rest.len() as u64;
            loop {
                let k = match s.read(&mut chunk).await {
                    Ok(k) => k,
                    // A TLS server that closes without close_notify.
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
                    Err(e) => return Err(io(e)),
                };
                if k == 0 || got >= MAX_BODY {
                    break got;
                }
                got += k as u64;
            }
        }
        Body::Chunked => {
            let mut dec = Chunked::default();
            let mut size = 0u64;
            loop {
                let (n, done) = dec
                    .feed(&rest)
                    .map_err(|e| ProbeError::new(ErrorClass::Protocol, e))?;
                size += n;
                if done || size >= MAX_BODY {
                    break size;
                }
                rest.clear();
                let k = s.read(&mut chunk).await.map_err(io)?;
                if k == 0 {
                    return Err(ProbeError::new(
                        ErrorClass::Protocol,
                        "chunked body ended early",
                    ));
                }
                rest.extend_from_slice(&chunk[..k]);
            }
        }
        Body::None => 0,
    };
    r.transfer_ms = Some((ms_since(t) - r.first_byte_ms.unwrap_or(0.0)).max(0.0));
    r.body_bytes = Some(size);
    Ok(status)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Body {
    Length(u64),
    Chunked,
    UntilClose,
    None,
}

fn body_kind(headers: &[httparse::Header<'_>]) -> Result<Body, String> {
    let get = |name: &str| {
        headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| String::from_utf8_lossy(h.value).trim().to_ascii_lowercase())
    };
    if let Some(te) = get("transfer-encoding") {
        if te.ends_with("chunked") {
            return Ok(Body::Chunked);
        }
    }
    match get("content-length") {
        Some(v) => v
            .parse()
            .map(|n| if n == 0 { Body::None } else { Body::Length(n) })
            .map_err(|_| format!("bad content-length `{v}`")),
        None => Ok(Body::UntilClose),
    }
}

/// A streaming decoder of a chunked body that counts its data bytes.
#[derive(Debug, Default)]
pub(crate) struct Chunked {
    /// Bytes of the current line (size line or trailer), not yet complete.
    line: Vec<u8>,
    /// Data bytes left in the current chunk, then its CRLF.
    left: u64,
    crlf_left: u8,
    /// The last chunk was seen: reading trailers.
    trailers: bool,
}

impl Chunked {
    /// Feeds bytes; returns the data bytes among them and whether the body
    /// ended.
    pub(crate) fn feed(&mut self, mut b: &[u8]) -> Result<(u64, bool), String> {
        let mut data = 0;
        while !b.is_empty() {
            if self.left > 0 {
                let k = (self.left as usize).min(b.len());
                data += k as u64;
                self.left -= k as u64;
                b = &b[k..];
                if self.left == 0 {
                    self.crlf_left = 2;
                }
                continue;
            }
            if self.crlf_left > 0 {
                self.crlf_left -= 1;
                b = &b[1..];
                continue;
            }
            let Some(nl) = b.iter().position(|&c| c == b'\n') else {
                self.line.extend_from_slice(b);
                if self.line.len() > 4096 {
                    return Err("chunk line too long".into());
                }
                break;
            };
            self.line.extend_from_slice(&b[..nl]);
            b = &b[nl + 1..];
            let line = String::from_utf8_lossy(&self.line).trim().to_string();
            self.line.clear();
            if self.trailers {
                if line.is_empty() {
                    return Ok((data, true));
                }
                continue;
            }
            let hex = line.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(hex, 16)
                .map_err(|_| format!("bad chunk size line `{line}`"))?;
            if size == 0 {
                self.trailers = true;
            } else {
                self.left = size;
            }
        }
        Ok((data, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("https://web.example:8443/a/b?c=1", false).unwrap();
        assert_eq!(
            u,
            Url {
                https: true,
                host: "web.example".into(),
                port: 8443,
                path: "/a/b?c=1".into()
            }
        );
        assert_eq!(u.authority(), "web.example:8443");
        let u = parse_url("10.0.0.1", false).unwrap();
        assert_eq!((u.https, u.port, u.path.as_str()), (false, 80, "/"));
        assert_eq!(u.authority(), "10.0.0.1");
        let u = parse_url("[2001:db8::1]?x", true).unwrap();
        assert_eq!((u.port, u.path.as_str()), (443, "/?x"));
        assert_eq!(u.authority(), "[2001:db8::1]");
        assert!(parse_url("ftp://x/", false).is_err());
        assert!(parse_url("http://user@x/", false).is_err());
        assert!(parse_url("http:///", false).is_err());
    }

    #[test]
    fn chunked_bodies_are_counted_across_reads() {
        let body = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\n";
        for split in 1..body.len() {
            let mut d = Chunked::default();
            let (a, done_a) = d.feed(&body[..split]).unwrap();
            let (b, done_b) = if done_a {
                (0, true)
            } else {
                d.feed(&body[split..]).unwrap()
            };
            assert!(done_b, "split {split}");
            assert_eq!(a + b, 23, "split {split}");
        }
        assert!(Chunked::default().feed(b"zz\r\n").is_err());
    }

    fn exchange_over(answer: &'static [u8]) -> (Result<u16, ProbeError>, ProbeResult, String) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let (client, mut server) = tokio::io::duplex(1 << 16);
            let srv = tokio::spawn(async move {
                let mut req = vec![0u8; 4096];
                let n = server.read(&mut req).await.unwrap();
                // Split the answer over two writes.
                let mid = answer.len() / 2;
                // The client may hang up early (a bad answer): ignore errors.
                let _ = server.write_all(&answer[..mid]).await;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                let _ = server.write_all(&answer[mid..]).await;
                drop(server);
                String::from_utf8_lossy(&req[..n]).into_owned()
            });
            let url = parse_url("http://web.example:8080/x?y=1", false).unwrap();
            let mut r = ProbeResult::default();
            let res = exchange(client, &url, &mut r).await;
            (res, r, srv.await.unwrap())
        })
    }

    #[test]
    fn http_exchanges() {
        let (res, r, req) = exchange_over(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        );
        assert!(
            req.starts_with("GET /x?y=1 HTTP/1.1\r\nHost: web.example:8080\r\n"),
            "{req}"
        );
        assert_eq!(res, Ok(200));
        assert_eq!((r.http_status, r.body_bytes), (Some(200), Some(11)));
        assert!(r.first_byte_ms.is_some() && r.transfer_ms.is_some());
        let (res, r, _) =
            exchange_over(b"HTTP/1.0 404 Not Found\r\nContent-Length: 9\r\n\r\nnot here!");
        assert_eq!(res, Ok(404));
        assert_eq!(r.body_bytes, Some(9));
        let (res, r, _) = exchange_over(b"HTTP/1.1 200 OK\r\n\r\nuntil the end");
        assert_eq!(res, Ok(200));
        assert_eq!(r.body_bytes, Some(13));
        let (res, _, _) = exchange_over(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
        assert_eq!(res.unwrap_err().class, ErrorClass::Protocol);
        let (res, r, _) = exchange_over(b"SSH-2.0-OpenSSH_9.2\r\n");
        assert_eq!(res.unwrap_err().class, ErrorClass::Protocol);
        assert_eq!(r.http_status, None);
        assert!(r.first_byte_ms.is_some(), "the first byte did come");
        assert_eq!(r.transfer_ms, None);
    }

    #[test]
    fn body_framing() {
        let h = |n: &'static str, v: &'static [u8]| httparse::Header { name: n, value: v };
        assert_eq!(
            body_kind(&[h("Content-Length", b"12")]),
            Ok(Body::Length(12))
        );
        assert_eq!(body_kind(&[h("content-length", b"0")]), Ok(Body::None));
        assert_eq!(
            body_kind(&[
                h("Transfer-Encoding", b"gzip, chunked"),
                h("Content-Length", b"5")
            ]),
            Ok(Body::Chunked)
        );
        assert_eq!(body_kind(&[]), Ok(Body::UntilClose));
        assert!(body_kind(&[h("Content-Length", b"x")]).is_err());
    }

    #[test]
    fn certificate_errors_are_classified() {
        let e = rustls::Error::InvalidCertificate(CertificateError::Expired);
        assert_eq!(cert_error_class(&e), ErrorClass::CertExpired);
        let e = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(cert_error_class(&e), ErrorClass::CertInvalid);
        let e = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        assert_eq!(cert_error_class(&e), ErrorClass::CertInvalid);
        let e = rustls::Error::HandshakeNotComplete;
        assert_eq!(cert_error_class(&e), ErrorClass::TlsHandshake);
    }
}
