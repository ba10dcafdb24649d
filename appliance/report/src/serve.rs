//! `tapscope report --serve`: the report over HTTP, redrawn from the live
//! tables.
//!
//! A small blocking server on `std::net`: one connection at a time, one
//! page. A request for `/` redraws the report unless the last drawing is
//! younger than [`ServeOptions::min_redraw`] (so a reloading browser cannot
//! keep the box busy); the page reloads itself every
//! [`ServeOptions::reload_s`] seconds. It listens on loopback addresses
//! only unless told otherwise: the report has no authentication, and on a
//! tap it is reached through `ssh -L`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::{render, Options};

/// Errors of the server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address does not parse or resolve.
    #[error("`{0}`: expected an address and port, e.g. 127.0.0.1:8080")]
    Address(String),
    /// A non-loopback address without the flag that allows it.
    #[error(
        "refusing to serve the report on {0}: not a loopback address, and the report has no \
         authentication. Serve on 127.0.0.1 and reach it with `ssh -L PORT:127.0.0.1:PORT \
         admin@tap`, or pass --allow-remote to serve on {0} anyway"
    )]
    NotLoopback(SocketAddr),
    /// Binding failed.
    #[error("listening on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
}

/// How to serve.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// What to draw (its `reload_s` is set from [`ServeOptions::reload_s`]).
    pub report: Options,
    /// Seconds after which the browser reloads the page.
    pub reload_s: u32,
    /// A request within this time of the last drawing gets that drawing.
    pub min_redraw: Duration,
    /// Stop after this many requests (None: serve until the process ends).
    pub max_requests: Option<u64>,
}

/// The listening socket for `addr` (`host:port`): every address it
/// resolves to must be a loopback address unless `allow_remote`.
pub fn bind(addr: &str, allow_remote: bool) -> Result<TcpListener, ServeError> {
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|_| ServeError::Address(addr.to_string()))?
        .collect();
    let Some(first) = addrs.first().copied() else {
        return Err(ServeError::Address(addr.to_string()));
    };
    if !allow_remote {
        if let Some(a) = addrs.iter().find(|a| !a.ip().is_loopback()) {
            return Err(ServeError::NotLoopback(*a));
        }
    }
    TcpListener::bind(first).map_err(|source| ServeError::Bind {
        addr: first,
        source,
    })
}

/// Serves the report on `listener` until `opts.max_requests` requests were
/// answered (or forever). A connection's errors end that connection only.
pub fn serve(listener: TcpListener, opts: &ServeOptions) {
    let mut report = opts.report.clone();
    report.reload_s = Some(opts.reload_s.max(1));
    let mut cache: Option<(Instant, String)> = None;
    let mut served = 0u64;
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let _ = handle(stream, &report, opts.min_redraw, &mut cache);
        served += 1;
        if opts.max_requests.is_some_and(|m| served >= m) {
            return;
        }
    }
}

fn now_unix_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Answers one request.
fn handle(
    mut stream: TcpStream,
    report: &Options,
    min_redraw: Duration,
    cache: &mut Option<(Instant, String)>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(30)))?;
    let head = read_head(&mut stream)?;
    let line = head.lines().next().unwrap_or("");
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    if method != "GET" && method != "HEAD" {
        return respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            b"GET only\n",
            true,
        );
    }
    if path != "/" && path != "/report.html" {
        return respond(
            &mut stream,
            "404 Not Found",
            "text/plain",
            b"the report is at /\n",
            true,
        );
    }
    let fresh = cache
        .as_ref()
        .is_some_and(|(at, _)| at.elapsed() < min_redraw);
    if !fresh {
        *cache = Some((Instant::now(), render(report, now_unix_s()).html));
    }
    let body = cache.as_ref().map_or("", |(_, b)| b.as_str());
    respond(
        &mut stream,
        "200 OK",
        "text/html; charset=utf-8",
        body.as_bytes(),
        method == "GET",
    )
}

/// The request line and headers (at most 16 KiB).
fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn respond(
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &[u8],
    with_body: bool,
) -> std::io::Result<()> {
    // The page has no scripts and loads nothing: say so to the browser.
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; img-src data:\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    if with_body {
        stream.write_all(body)?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_without_the_flag() {
        for a in ["0.0.0.0:0", "192.0.2.1:8080", "[::]:0"] {
            assert!(
                matches!(bind(a, false), Err(ServeError::NotLoopback(_))),
                "{a}"
            );
        }
        assert!(matches!(
            bind("nonsense", false),
            Err(ServeError::Address(_))
        ));
        assert!(bind("127.0.0.1:0", false).is_ok());
        assert!(bind("localhost:0", false).is_ok());
        // Allowed with the flag (the unspecified address binds here).
        assert!(bind("0.0.0.0:0", true).is_ok());
        let msg = bind("0.0.0.0:0", false).unwrap_err().to_string();
        assert!(
            msg.contains("ssh -L") && msg.contains("--allow-remote"),
            "{msg}"
        );
    }

    fn get(addr: SocketAddr, req: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_the_page_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let l = bind("127.0.0.1:0", false).unwrap();
        let addr = l.local_addr().unwrap();
        let opts = ServeOptions {
            report: Options {
                root: dir.path().to_path_buf(),
                ..Default::default()
            },
            reload_s: 30,
            min_redraw: Duration::from_secs(5),
            max_requests: Some(4),
        };
        let t = std::thread::spawn(move || serve(l, &opts));
        let page = get(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
        assert!(page.contains("<meta http-equiv=\"refresh\" content=\"30\">"));
        assert!(page.contains("No traffic table"));
        let len: usize = page
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, page.split_once("\r\n\r\n").unwrap().1.len());
        assert!(get(addr, "GET /etc/passwd HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
        assert!(get(addr, "POST / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
        let head = get(addr, "HEAD /report.html HTTP/1.1\r\n\r\n");
        assert!(
            head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"),
            "{head}"
        );
        t.join().unwrap();
    }
}
