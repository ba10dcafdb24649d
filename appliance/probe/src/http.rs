//! `http` / `https`: one GET over HTTP/1.1 (hyper's client connection over
//! our own TCP stream, TLS by rustls for https), with the time of each phase — name lookup, TCP connect, TLS handshake, first
//! byte of the answer, transfer of the rest — the status, the body size,
//! and for https the TLS version and the certificate's expiry.
//!
//! The certificate is always checked (web PKI roots, plus the task's
//! `ca_file`); with `verify_tls = false` a failed check is recorded in
//! `cert_error` and the exchange goes on.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper::client::conn::http1;
use hyper::{header, Request};
use hyper_util::rt::TokioIo;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use super::{ms_since, resolve, ErrorClass, ProbeError, ProbeKind, ProbeResult, ProbeTask};

/// Bodies beyond this are counted but the probe stops reading.
const MAX_BODY: u64 = 64 << 20;
/// The connection's read buffer: response headers beyond this are a
/// protocol error.
const MAX_HEAD: usize = 64 << 10;

/// A parsed `http://` or `https://` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// `https://`.
    pub https: bool,
    /// A name or an address (IPv6 without brackets).
    pub host: String,
    /// The port, the scheme's default when the URL has none.
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

/// One GET of the task's URL: the phases' timings, status, body size and
/// (https) TLS version and certificate expiry into `r`.
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

/// The stream under the HTTP connection. It notes when the first byte of
/// the answer arrives (the HTTP layer reports whole heads only), and reads
/// a TLS close without close_notify as the end of the stream: a body cut
/// short is still caught by its framing (length or chunks).
struct FirstByte<S> {
    inner: S,
    seen: Arc<Seen>,
}

/// What the stream under the HTTP connection saw.
#[derive(Debug, Default)]
struct Seen {
    /// When the first byte of the answer arrived.
    first: OnceLock<Instant>,
    /// The first error of the stream itself (the HTTP layer's own errors
    /// are the peer's fault; these keep their class: reset, refused, ...).
    io_error: OnceLock<ProbeError>,
}

impl<S: AsyncRead + Unpin> AsyncRead for FirstByte<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    let _ = self.seen.first.set(Instant::now());
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(self.seen.io_failed(e))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for FirstByte<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner)
            .poll_write(cx, buf)
            .map_err(|e| self.seen.io_failed(e))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner)
            .poll_write_vectored(cx, bufs)
            .map_err(|e| self.seen.io_failed(e))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner)
            .poll_flush(cx)
            .map_err(|e| self.seen.io_failed(e))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Seen {
    /// Notes the stream's first error and hands it on.
    fn io_failed(&self, e: io::Error) -> io::Error {
        let _ = self.io_error.set(ProbeError::io("HTTP exchange", &e));
        e
    }

    /// The class and message of a failed exchange: the stream's own error
    /// if it had one, else the peer not speaking HTTP properly.
    fn error(&self, e: hyper::Error) -> ProbeError {
        if let Some(io) = self.io_error.get() {
            return io.clone();
        }
        let message = if e.is_incomplete_message() {
            format!("the server closed the connection before a full answer ({e})")
        } else if e.is_parse() || e.is_parse_status() {
            format!("not an HTTP answer: {e}")
        } else {
            match std::error::Error::source(&e) {
                Some(s) => format!("HTTP exchange: {e}: {s}"),
                None => format!("HTTP exchange: {e}"),
            }
        };
        ProbeError::new(ErrorClass::Protocol, message)
    }
}

/// The request and the answer over `s` (TCP, or TLS over it), through
/// hyper's HTTP/1.1 client connection; returns the status. The timings
/// start when the request is handed to the connection (on a fast path the
/// answer may be queued before the write returns): first byte of the
/// answer, then transfer of the rest. Each figure is in `r` as soon as it
/// is known, so a run cut short by its timeout keeps what it reached.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    s: S,
    url: &Url,
    r: &mut ProbeResult,
) -> Result<u16, ProbeError> {
    let seen = Arc::new(Seen::default());
    let io = TokioIo::new(FirstByte {
        inner: s,
        seen: seen.clone(),
    });
    let http_error = |e| seen.error(e);
    let (mut sender, conn) = http1::Builder::new()
        .title_case_headers(true)
        .max_buf_size(MAX_HEAD)
        .handshake::<_, Empty<Bytes>>(io)
        .await
        .map_err(http_error)?;
    let req = Request::get(url.path.as_str())
        .header(header::HOST, url.authority())
        .header(
            header::USER_AGENT,
            concat!("tapscope/", env!("CARGO_PKG_VERSION")),
        )
        .header(header::ACCEPT, "*/*")
        .header(header::CONNECTION, "close")
        .body(Empty::new())
        .map_err(|e| ProbeError::new(ErrorClass::Io, format!("`{}`: {e}", url.path)))?;
    let t = Instant::now();
    let fill = FirstByteInto {
        r,
        t,
        seen: seen.clone(),
    };
    let mut conn = Driven {
        conn: Box::pin(conn),
        done: false,
        err: None,
    };
    let resp = conn
        .run(async {
            sender.ready().await?;
            sender.send_request(req).await
        })
        .await
        .map_err(http_error)?;
    let status = resp.status().as_u16();
    fill.r.http_status = Some(status);
    let mut body = resp.into_body();
    let size = conn
        .run(async {
            let mut size = 0u64;
            while size < MAX_BODY {
                match body.frame().await {
                    Some(frame) => size += frame?.data_ref().map_or(0, |d| d.len() as u64),
                    None => break,
                }
            }
            Ok(size)
        })
        .await
        .map_err(http_error)?;
    let first_byte_ms = fill.first_byte_ms().unwrap_or(0.0);
    fill.r.transfer_ms = Some((ms_since(t) - first_byte_ms).max(0.0));
    fill.r.body_bytes = Some(size);
    Ok(status)
}

/// Writes the time to the first byte into the result when the exchange
/// ends, however it ends (a run that reaches its timeout drops the
/// exchange where it is).
struct FirstByteInto<'a> {
    r: &'a mut ProbeResult,
    /// When the request was handed over.
    t: Instant,
    seen: Arc<Seen>,
}

impl FirstByteInto<'_> {
    fn first_byte_ms(&self) -> Option<f64> {
        self.seen
            .first
            .get()
            .map(|f| f.saturating_duration_since(self.t).as_secs_f64() * 1e3)
    }
}

impl Drop for FirstByteInto<'_> {
    fn drop(&mut self) {
        self.r.first_byte_ms = self.first_byte_ms();
    }
}

/// The HTTP connection (the future that does its IO), driven while the
/// request's futures wait on it.
struct Driven<C> {
    conn: Pin<Box<C>>,
    /// The connection has ended (it is not polled again).
    done: bool,
    /// How it failed, if it did.
    err: Option<hyper::Error>,
}

impl<C: Future<Output = Result<(), hyper::Error>>> Driven<C> {
    /// Runs `work` while driving the connection. When both fail, the
    /// connection's error says why (the request's is then only that it
    /// was dropped).
    async fn run<T>(
        &mut self,
        work: impl Future<Output = Result<T, hyper::Error>>,
    ) -> Result<T, hyper::Error> {
        tokio::pin!(work);
        loop {
            tokio::select! {
                w = &mut work => {
                    return match w {
                        Err(e) if (e.is_canceled() || e.is_closed()) && self.err.is_some() => {
                            Err(self.err.take().unwrap_or(e))
                        }
                        w => w,
                    };
                }
                c = self.conn.as_mut(), if !self.done => {
                    self.done = true;
                    self.err = c.err();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

    fn exchange_over(answer: &'static [u8]) -> (Result<u16, ProbeError>, ProbeResult, String) {
        exchange_split(answer, answer.len() / 2, 20)
    }

    /// Runs `exchange` against a server that reads the request, then
    /// writes `answer` in two parts (cut at `mid`, `pause_ms` apart) and
    /// hangs up; returns what the exchange gave and the request it sent.
    fn exchange_split(
        answer: &[u8],
        mid: usize,
        pause_ms: u64,
    ) -> (Result<u16, ProbeError>, ProbeResult, String) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let answer = answer.to_vec();
        rt.block_on(async {
            let (client, mut server) = tokio::io::duplex(1 << 16);
            let srv = tokio::spawn(async move {
                let mut req = vec![0u8; 4096];
                let n = server.read(&mut req).await.unwrap();
                let mid = mid.min(answer.len());
                // The client may hang up early (a bad answer): ignore errors.
                let _ = server.write_all(&answer[..mid]).await;
                tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
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

    /// A stream that, once the request is written, reads `data`, then
    /// fails with `err`; writes go nowhere.
    struct Failing {
        data: &'static [u8],
        err: Option<io::Error>,
        asked: bool,
        reader: Option<std::task::Waker>,
    }

    impl AsyncRead for Failing {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            if !self.asked {
                self.reader = Some(cx.waker().clone());
                return Poll::Pending;
            }
            if !self.data.is_empty() {
                let n = self.data.len().min(buf.remaining());
                buf.put_slice(&self.data[..n]);
                self.data = &self.data[n..];
                return Poll::Ready(Ok(()));
            }
            match self.err.take() {
                Some(e) => Poll::Ready(Err(e)),
                None => Poll::Ready(Ok(())),
            }
        }
    }

    impl AsyncWrite for Failing {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.asked = true;
            if let Some(w) = self.reader.take() {
                w.wake();
            }
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    fn exchange_failing(
        answer: &'static [u8],
        err: io::Error,
    ) -> (Result<u16, ProbeError>, ProbeResult, ()) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let url = parse_url("http://web.example/", false).unwrap();
        let mut r = ProbeResult::default();
        let s = Failing {
            data: answer,
            err: Some(err),
            asked: false,
            reader: None,
        };
        let res = rt.block_on(exchange(s, &url, &mut r));
        (res, r, ())
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
        let e = res.unwrap_err();
        assert_eq!(e.class, ErrorClass::Protocol, "{e:?}");
        let (res, r, _) = exchange_over(b"SSH-2.0-OpenSSH_9.2\r\n");
        let e = res.unwrap_err();
        assert_eq!(e.class, ErrorClass::Protocol, "{e:?}");
        assert_eq!(r.http_status, None);
        assert!(r.first_byte_ms.is_some(), "the first byte did come");
        assert_eq!(r.transfer_ms, None);
    }

    #[test]
    fn chunked_bodies_are_counted_across_reads() {
        let body =
            "4\r\nWiki\r\n5;ext=1\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nX-Trailer: 1\r\n\r\n";
        let answer = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
        let head = answer.len() - body.len();
        for split in 1..body.len() {
            let (res, r, _) = exchange_split(answer.as_bytes(), head + split, 1);
            assert_eq!(res, Ok(200), "split {split}");
            assert_eq!(r.body_bytes, Some(23), "split {split}");
        }
        let (res, _, _) =
            exchange_over(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
        let e = res.unwrap_err();
        assert_eq!(e.class, ErrorClass::Protocol, "{e:?}");
    }

    #[test]
    fn body_framing() {
        let (res, r, _) =
            exchange_over(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\ntwelve bytes");
        assert_eq!((res, r.body_bytes), (Ok(200), Some(12)));
        let (res, r, _) = exchange_over(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n");
        assert_eq!((res, r.body_bytes), (Ok(204), Some(0)));
        // Chunked wins over a length; the coding is not undone, the
        // chunks' data is counted.
        let (res, r, _) = exchange_over(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 5\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        );
        assert_eq!((res, r.body_bytes), (Ok(200), Some(3)));
        let (res, r, _) = exchange_over(b"HTTP/1.1 200 OK\r\n\r\nuntil close");
        assert_eq!((res, r.body_bytes), (Ok(200), Some(11)));
        let (res, _, _) = exchange_over(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n");
        let e = res.unwrap_err();
        assert_eq!(e.class, ErrorClass::Protocol, "{e:?}");
        // Headers beyond the read buffer.
        let long = format!(
            "HTTP/1.1 200 OK\r\nX-Long: {}\r\n\r\n",
            "a".repeat(MAX_HEAD + 10)
        );
        let (res, r, _) = exchange_split(long.as_bytes(), 100, 1);
        let e = res.unwrap_err();
        assert_eq!(e.class, ErrorClass::Protocol, "{e:?}");
        assert_eq!(r.http_status, None);
    }

    #[test]
    fn a_reset_keeps_its_io_class_and_a_close_without_notify_ends_the_body() {
        let e = io::Error::from_raw_os_error(libc::ECONNRESET);
        let (res, r, _) = exchange_failing(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nsome", e);
        let e = res.unwrap_err();
        assert_eq!(e.class, ErrorClass::Io, "{e:?}");
        assert_eq!(r.http_status, Some(200));
        assert_eq!(r.transfer_ms, None);
        let e = io::Error::from(io::ErrorKind::UnexpectedEof);
        let (res, r, _) = exchange_failing(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", e);
        assert_eq!((res, r.body_bytes), (Ok(200), Some(13)));
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
