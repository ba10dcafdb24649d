//! The control socket: how `tapscope status`, `top`, `flows`, `files` and
//! `counters` talk to a running daemon.
//!
//! A Unix stream socket (default `/run/tapscope/tapscope.sock`), created
//! mode 0660 owned by root and the `tapscope` group when that group exists
//! (0600, root only, otherwise), served by the control core between its
//! polls: one JSON request line in, one JSON response line out, then the
//! connection closes. Every message carries `protocol`
//! ([`crate::status::PROTOCOL_VERSION`]); a server answers requests of a
//! newer protocol with an error naming both versions.

use std::ffi::CString;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::status::PROTOCOL_VERSION;

pub use config::DEFAULT_SOCKET;
/// The group allowed to use the socket besides root.
pub const GROUP: &str = "tapscope";
/// Longest request accepted.
const MAX_REQUEST: u64 = 64 * 1024;

/// A request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// The client's protocol version ([`PROTOCOL_VERSION`]).
    pub protocol: u32,
    /// What it asks for.
    #[serde(flatten)]
    pub command: Command,
}

/// What a client asks for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// The whole status snapshot.
    Status,
    /// Open flows (as of the last epoch), optionally filtered.
    Flows {
        /// Words every shown flow matches (address, name, service, device).
        #[serde(default)]
        filter: String,
        /// Most flows to return (50 when absent).
        #[serde(default)]
        limit: Option<usize>,
    },
    /// Complete Parquet files, optionally only those modified since.
    Files {
        /// Only files closed at or after this time, Unix seconds.
        #[serde(default)]
        since_unix_s: Option<u64>,
    },
    /// The sketch counters now.
    CountersList,
    /// Adds a counter (takes effect at the next epoch).
    CountersAdd {
        /// The new counter's name.
        name: String,
        /// What it counts by (`src`, `dst`, `src_dport`, ...).
        key: String,
        /// `bytes` (the default) or `packets`.
        #[serde(default = "default_increment")]
        increment: String,
        /// The counter's protocol filter (`protocol` names the message's
        /// protocol version on the wire).
        #[serde(default = "default_any", rename = "ip_protocol")]
        protocol: String,
        /// Which packets it counts by direction (`any` by default).
        #[serde(default = "default_any")]
        direction: String,
    },
    /// Removes a counter by name.
    CountersRm {
        /// The counter's name.
        name: String,
    },
    /// Re-reads the configuration file (as SIGHUP does).
    Reload,
}

fn default_increment() -> String {
    "bytes".into()
}

fn default_any() -> String {
    "any".into()
}

/// A response: `ok` with a `result`, or an `error`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// The daemon's protocol version ([`PROTOCOL_VERSION`]).
    pub protocol: u32,
    /// Whether the command was carried out.
    pub ok: bool,
    /// What it answered, when `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
    /// Why not, when not `ok`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Response {
    /// A carried-out command and its result.
    pub fn ok(result: serde_json::Value) -> Response {
        Response {
            protocol: PROTOCOL_VERSION,
            ok: true,
            result: Some(result),
            error: None,
        }
    }

    /// A refused or failed command and why.
    pub fn err(msg: impl Into<String>) -> Response {
        Response {
            protocol: PROTOCOL_VERSION,
            ok: false,
            result: None,
            error: Some(msg.into()),
        }
    }
}

/// The daemon's end: a non-blocking listener polled by the control core.
pub struct CtlServer {
    listener: UnixListener,
    path: PathBuf,
}

impl CtlServer {
    /// Creates the socket at `path` (and its folder), replacing a stale one
    /// left by a killed daemon; refuses if another daemon answers there.
    pub fn bind(path: &Path) -> io::Result<CtlServer> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        if path.exists() {
            match UnixStream::connect(path) {
                Ok(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrInUse,
                        format!("another tapscope answers on {}", path.display()),
                    ))
                }
                Err(_) => std::fs::remove_file(path)?,
            }
        }
        let listener = UnixListener::bind(path)?;
        listener.set_nonblocking(true)?;
        let gid = group_id(GROUP);
        let mode = if gid.is_some() { 0o660 } else { 0o600 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        if let Some(gid) = gid {
            std::os::unix::fs::chown(path, None, Some(gid))?;
        }
        Ok(CtlServer {
            listener,
            path: path.to_path_buf(),
        })
    }

    /// Where the socket is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Answers every pending connection with `handle`. Never blocks for
    /// long: a client has 200 ms to send its request line.
    pub fn serve(&mut self, mut handle: impl FnMut(Command) -> Response) {
        loop {
            let (stream, _) = match self.listener.accept() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::warn!("control socket: accept: {e}");
                    return;
                }
            };
            if let Err(e) = answer(stream, &mut handle) {
                tracing::debug!("control socket: {e}");
            }
        }
    }
}

impl Drop for CtlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn answer(stream: UnixStream, handle: &mut impl FnMut(Command) -> Response) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    stream.set_write_timeout(Some(Duration::from_millis(500)))?;
    let mut line = String::new();
    BufReader::new((&stream).take(MAX_REQUEST)).read_line(&mut line)?;
    let resp = match serde_json::from_str::<Request>(&line) {
        Ok(r) if r.protocol > PROTOCOL_VERSION => Response::err(format!(
            "request protocol {} is newer than this daemon's ({PROTOCOL_VERSION}): \
             update tapscope on the box",
            r.protocol
        )),
        Ok(r) => handle(r.command),
        Err(e) => Response::err(format!("bad request: {e}")),
    };
    let mut out = serde_json::to_vec(&resp).map_err(io::Error::other)?;
    out.push(b'\n');
    (&stream).write_all(&out)
}

/// The Prometheus endpoint: plain HTTP on a TCP address (localhost by
/// configuration), answering `GET /metrics` between the control core's
/// polls; anything else gets 404.
pub struct MetricsServer {
    listener: std::net::TcpListener,
}

impl MetricsServer {
    /// Listens on `addr` (`127.0.0.1:9464`), without blocking.
    pub fn bind(addr: &str) -> io::Result<MetricsServer> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(MetricsServer { listener })
    }

    /// The address it listens on (the port chosen when `:0` was asked).
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Answers every pending connection; `body` renders the exposition.
    pub fn serve(&mut self, mut body: impl FnMut() -> String) {
        loop {
            let (stream, _) = match self.listener.accept() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => return,
            };
            let _ = answer_http(stream, &mut body);
        }
    }
}

fn answer_http(stream: std::net::TcpStream, body: &mut impl FnMut() -> String) -> io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    stream.set_write_timeout(Some(Duration::from_millis(500)))?;
    let mut line = String::new();
    BufReader::new((&stream).take(8192)).read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let resp = if method == "GET" && (target == "/metrics" || target.starts_with("/metrics?")) {
        let b = body();
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{b}",
            b.len()
        )
    } else {
        "HTTP/1.1 404 Not Found\r\nContent-Length: 20\r\nConnection: close\r\n\r\ntry GET /metrics\r\n\r\n"
            .to_string()
    };
    (&stream).write_all(resp.as_bytes())
}

/// Why a client could not get an answer, in words for an operator.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answers on the socket's path.
    #[error("tapscope is not running: no daemon answers on {0} (start it with `tapscope run` or the tapscope service)")]
    NotRunning(PathBuf),
    /// The socket exists but this user may not use it.
    #[error("permission denied on {0}: run as root or as a member of the `{GROUP}` group")]
    Denied(PathBuf),
    /// Another error talking over the socket.
    #[error("control socket {0}: {1}")]
    Io(PathBuf, io::Error),
    /// The answer could not be read.
    #[error("the daemon answered with something unreadable: {0}")]
    Protocol(String),
    /// The daemon refused the command; its reason.
    #[error("{0}")]
    Refused(String),
}

/// Sends one command and returns its result.
pub fn request(path: &Path, command: Command) -> Result<serde_json::Value, ClientError> {
    let p = path.to_path_buf();
    let stream = UnixStream::connect(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
            ClientError::NotRunning(p.clone())
        }
        io::ErrorKind::PermissionDenied => ClientError::Denied(p.clone()),
        _ => ClientError::Io(p.clone(), e),
    })?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| ClientError::Io(p.clone(), e))?;
    let req = Request {
        protocol: PROTOCOL_VERSION,
        command,
    };
    let mut line = serde_json::to_vec(&req).map_err(|e| ClientError::Protocol(e.to_string()))?;
    line.push(b'\n');
    (&stream)
        .write_all(&line)
        .map_err(|e| ClientError::Io(p.clone(), e))?;
    let mut resp = String::new();
    BufReader::new(&stream)
        .read_line(&mut resp)
        .map_err(|e| ClientError::Io(p.clone(), e))?;
    if resp.is_empty() {
        return Err(ClientError::Protocol("empty answer".into()));
    }
    let r: Response =
        serde_json::from_str(&resp).map_err(|e| ClientError::Protocol(e.to_string()))?;
    if r.ok {
        Ok(r.result.unwrap_or(serde_json::Value::Null))
    } else {
        Err(ClientError::Refused(
            r.error.unwrap_or_else(|| "refused without a reason".into()),
        ))
    }
}

/// The gid of `name`, if the group exists.
fn group_id(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: getgrnam returns a pointer to static storage or null; the
    // gid is read at once.
    let g = unsafe { libc::getgrnam(c.as_ptr()) };
    (!g.is_null()).then(|| unsafe { (*g).gr_gid })
}

/// The complete files (`tapscope files`): the sink knows its layout.
pub use sink::files::{list_files, FileEntry};

/// Unix seconds now.
pub fn now_unix_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Parses `--since`: Unix seconds, or an age such as `90s`, `15m`, `2h`, `1d`.
pub fn parse_since(s: &str, now: u64) -> Result<u64, String> {
    let s = s.trim();
    if let Ok(v) = s.parse::<u64>() {
        return Ok(v);
    }
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}`: expected Unix seconds or an age like 15m, 2h, 1d"))?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{s}`: unit must be s, m, h or d")),
    };
    Ok(now.saturating_sub(n * mult))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_a_stable_wire_form() {
        let r = Request {
            protocol: 1,
            command: Command::Files {
                since_unix_s: Some(5),
            },
        };
        let j = serde_json::to_string(&r).unwrap();
        assert_eq!(j, r#"{"protocol":1,"command":"files","since_unix_s":5}"#);
        let back: Request = serde_json::from_str(r#"{"protocol":1,"command":"status"}"#).unwrap();
        assert_eq!(back.command, Command::Status);
        let add: Request = serde_json::from_str(
            r#"{"protocol":1,"command":"counters_add","name":"x","key":"dst"}"#,
        )
        .unwrap();
        assert!(
            matches!(add.command, Command::CountersAdd { ref increment, .. } if increment == "bytes")
        );
    }

    #[test]
    fn since_takes_seconds_or_ages() {
        assert_eq!(parse_since("1700000000", 0), Ok(1_700_000_000));
        assert_eq!(parse_since("15m", 10_000), Ok(10_000 - 900));
        assert_eq!(parse_since("1d", 100_000), Ok(100_000 - 86_400));
        assert!(parse_since("3 weeks", 0).is_err());
        assert!(parse_since("5y", 0).is_err());
    }

    #[test]
    fn a_server_answers_and_a_missing_daemon_is_said_plainly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/t.sock");
        assert!(matches!(
            request(&path, Command::Status),
            Err(ClientError::NotRunning(_))
        ));
        let mut server = CtlServer::bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert!(mode == 0o600 || mode == 0o660, "{mode:o}");
        // A second daemon on the same path is refused.
        assert!(CtlServer::bind(&path).is_err());
        let client = std::thread::spawn({
            let path = path.clone();
            move || request(&path, Command::CountersList)
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let mut served = false;
        while !served && std::time::Instant::now() < deadline {
            server.serve(|c| {
                served = true;
                assert_eq!(c, Command::CountersList);
                Response::ok(serde_json::json!(["a", "b"]))
            });
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            client.join().unwrap().unwrap(),
            serde_json::json!(["a", "b"])
        );
        drop(server);
        assert!(!path.exists(), "the socket is removed on shutdown");
        // A stale socket file (no listener) is replaced.
        let _l = UnixListener::bind(&path).unwrap();
        drop(_l);
        assert!(CtlServer::bind(&path).is_ok());
    }
}
