//! The lab's video server: nginx over HTTPS (HTTP/2, TLS 1.2/1.3) with a
//! certificate from a lab CA, serving the prepared content. Its access
//! log, one JSON line per request, is a second record of every segment.

use std::fmt::Write as _;
use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cmd;
use crate::error::{LabError, Result};

/// How long nginx gets to accept TLS connections after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long nginx gets to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// The lab CA and the server's certificate.
#[derive(Debug, Clone)]
pub struct Tls {
    /// The folder holding all the files.
    pub dir: PathBuf,
    /// The CA certificate (PEM), for clients to trust.
    pub ca_cert: PathBuf,
    /// The server certificate (PEM), signed by the CA.
    pub cert: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
    /// Base64 of the SHA-256 of the server certificate's
    /// SubjectPublicKeyInfo, as Chromium's
    /// `--ignore-certificate-errors-spki-list` takes it.
    pub spki_sha256: String,
}

/// Makes a lab CA and a server certificate for `server_name` (ECDSA P-256,
/// SAN `DNS:server_name`) in `dir` with the openssl command.
pub fn make_tls(dir: &Path, server_name: &str) -> Result<Tls> {
    check_name(server_name)?;
    if !cmd::have("openssl") {
        return Err(LabError::Missing(vec!["openssl".to_string()]));
    }
    fs::create_dir_all(dir).map_err(|e| LabError::io(dir, e))?;
    let p = |f: &str| dir.join(f);
    let s = |f: &str| p(f).to_string_lossy().into_owned();
    let (ca_key, ca_cert, key, csr, cert, ext, srl, spki) = (
        s("ca.key"),
        s("ca.pem"),
        s("server.key"),
        s("server.csr"),
        s("server.pem"),
        s("server.ext"),
        s("ca.srl"),
        s("spki.der"),
    );
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut a = vec!["req", "-x509", "-sha256", "-days", "3650"];
    a.extend(ec);
    a.extend([
        "-keyout",
        &ca_key,
        "-out",
        &ca_cert,
        "-subj",
        "/CN=tapscope lab CA",
    ]);
    a.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
    a.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    cmd::run("openssl", &a)?;

    let subj = format!("/CN={server_name}");
    let mut a = vec!["req", "-new"];
    a.extend(ec);
    a.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
    cmd::run("openssl", &a)?;

    let extensions = format!(
        "basicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\n\
         subjectAltName=DNS:{server_name}\n\
         subjectKeyIdentifier=hash\n\
         authorityKeyIdentifier=keyid,issuer\n"
    );
    fs::write(p("server.ext"), extensions).map_err(|e| LabError::io(p("server.ext"), e))?;
    cmd::run(
        "openssl",
        &[
            "x509",
            "-req",
            "-sha256",
            "-days",
            "365",
            "-in",
            &csr,
            "-CA",
            &ca_cert,
            "-CAkey",
            &ca_key,
            "-CAserial",
            &srl,
            "-CAcreateserial",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ],
    )?;
    cmd::run("openssl", &["verify", "-CAfile", &ca_cert, &cert])?;
    for k in [&ca_key, &key] {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(k, fs::Permissions::from_mode(0o600))
            .map_err(|e| LabError::io(k, e))?;
    }

    cmd::run(
        "openssl",
        &[
            "pkey", "-in", &key, "-pubout", "-outform", "DER", "-out", &spki,
        ],
    )?;
    let digest = cmd::run("openssl", &["dgst", "-sha256", "-binary", &spki])?.stdout;
    if digest.len() != 32 {
        return Err(LabError::Command {
            what: format!("openssl dgst -sha256 -binary {spki}"),
            detail: format!("{} bytes instead of 32", digest.len()),
        });
    }
    Ok(Tls {
        dir: dir.to_path_buf(),
        ca_cert: p("ca.pem"),
        cert: p("server.pem"),
        key: p("server.key"),
        spki_sha256: base64(&digest),
    })
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A DNS name usable in a certificate and nginx's configuration.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    if ok {
        Ok(())
    } else {
        Err(LabError::Invalid(format!(
            "server name {name:?} is not a DNS name"
        )))
    }
}

/// Where and what the server serves.
#[derive(Debug, Clone)]
pub struct ServerConfig<'a> {
    /// The network namespace to run in; `None` for the current one.
    pub netns: Option<&'a str>,
    /// The address to listen on.
    pub listen: IpAddr,
    /// The TCP port.
    pub port: u16,
    /// The name clients use (TLS SNI, the certificate's SAN).
    pub server_name: &'a str,
    /// The folder served as `/`.
    pub content_root: &'a Path,
    /// A folder for the configuration, logs, pid and temporary files.
    pub work_dir: &'a Path,
    /// The certificate and key.
    pub tls: &'a Tls,
}

/// The files of one server under its work folder.
#[derive(Debug, Clone)]
struct Files {
    conf: PathBuf,
    pid: PathBuf,
    error_log: PathBuf,
    access_log: PathBuf,
    stderr: PathBuf,
    temp: PathBuf,
}

impl Files {
    fn new(work: &Path) -> Files {
        Files {
            conf: work.join("nginx.conf"),
            pid: work.join("nginx.pid"),
            error_log: work.join("error.log"),
            access_log: work.join("access.log"),
            stderr: work.join("nginx.stderr"),
            temp: work.join("temp"),
        }
    }
}

/// A path for nginx's configuration: absolute, and free of characters
/// nginx would read as syntax or variables.
fn conf_path(p: &Path) -> Result<String> {
    let s = p.to_str().unwrap_or("");
    if !p.is_absolute() || s.is_empty() || s.contains(['"', '\\', '$', '\n', '\r', '{', '}', ';']) {
        return Err(LabError::Invalid(format!(
            "{}: nginx needs an absolute path without quotes, backslashes, $, braces or semicolons",
            p.display()
        )));
    }
    Ok(format!("\"{s}\""))
}

/// The access log format: one JSON object per request, every value a
/// string.
const LOG_FORMAT: &str = r#"'{"msec":"$msec","request_time":"$request_time","request_uri":"$request_uri","status":"$status","bytes_sent":"$bytes_sent","body_bytes_sent":"$body_bytes_sent","remote_addr":"$remote_addr","remote_port":"$remote_port","connection":"$connection","connection_requests":"$connection_requests","server_protocol":"$server_protocol"}'"#;

/// nginx's configuration for `cfg`, with everything nginx writes under
/// the work folder.
fn render_conf(cfg: &ServerConfig, files: &Files) -> Result<String> {
    check_name(cfg.server_name)?;
    let q = conf_path;
    let temp = |sub: &str| q(&files.temp.join(sub));
    let listen = SocketAddr::new(cfg.listen, cfg.port);
    let mut c = String::new();
    let w = &mut c;
    // Writing to a String cannot fail.
    let _ = writeln!(
        w,
        "# tapscope video lab server, written by the lab; started with -g 'daemon off;'."
    );
    let _ = writeln!(w, "user root;");
    let _ = writeln!(w, "worker_processes 1;");
    let _ = writeln!(w, "pid {};", q(&files.pid)?);
    let _ = writeln!(w, "error_log {} notice;", q(&files.error_log)?);
    let _ = writeln!(w, "events {{\n    worker_connections 1024;\n}}");
    let _ = writeln!(w, "http {{");
    let _ = writeln!(
        w,
        "    types {{\n        application/dash+xml mpd;\n        video/iso.segment m4s;\n        \
         video/mp4 mp4;\n        text/html html;\n        application/javascript js;\n        \
         application/json json;\n        text/plain txt;\n    }}"
    );
    let _ = writeln!(w, "    default_type application/octet-stream;");
    let _ = writeln!(w, "    log_format lab escape=json {LOG_FORMAT};");
    let _ = writeln!(w, "    access_log {} lab;", q(&files.access_log)?);
    let _ = writeln!(w, "    client_body_temp_path {};", temp("body")?);
    let _ = writeln!(w, "    proxy_temp_path {};", temp("proxy")?);
    let _ = writeln!(w, "    fastcgi_temp_path {};", temp("fastcgi")?);
    let _ = writeln!(w, "    uwsgi_temp_path {};", temp("uwsgi")?);
    let _ = writeln!(w, "    scgi_temp_path {};", temp("scgi")?);
    let _ = writeln!(
        w,
        "    sendfile on;\n    tcp_nopush on;\n    tcp_nodelay on;"
    );
    let _ = writeln!(
        w,
        "    keepalive_timeout 75s;\n    keepalive_requests 100000;"
    );
    let _ = writeln!(w, "    server_tokens off;");
    let _ = writeln!(w, "    server {{");
    let _ = writeln!(w, "        listen {listen} ssl http2;");
    let _ = writeln!(w, "        server_name {};", cfg.server_name);
    let _ = writeln!(w, "        ssl_certificate {};", q(&cfg.tls.cert)?);
    let _ = writeln!(w, "        ssl_certificate_key {};", q(&cfg.tls.key)?);
    let _ = writeln!(w, "        ssl_protocols TLSv1.2 TLSv1.3;");
    let _ = writeln!(w, "        ssl_session_cache shared:lab:1m;");
    let _ = writeln!(w, "        root {};", q(cfg.content_root)?);
    let _ = writeln!(
        w,
        "        add_header Access-Control-Allow-Origin * always;"
    );
    let _ = writeln!(
        w,
        "        add_header Access-Control-Allow-Methods \"GET, HEAD, OPTIONS\" always;"
    );
    let _ = writeln!(
        w,
        "        add_header Access-Control-Allow-Headers \"Range, Content-Type\" always;"
    );
    let _ = writeln!(
        w,
        "        add_header Access-Control-Expose-Headers \"Content-Length, Content-Range\" always;"
    );
    // Every request reaches the server (and its log): without this the
    // browser answers repeated init-segment requests from its cache, and
    // the player's list of downloads would hold requests no network saw.
    let _ = writeln!(w, "        add_header Cache-Control no-store always;");
    let _ = writeln!(w, "        location / {{");
    let _ = writeln!(w, "            if ($request_method = OPTIONS) {{\n                return 204;\n            }}");
    let _ = writeln!(w, "        }}\n    }}\n}}");
    Ok(c)
}

/// A running nginx: its master process leads its own process group.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    files: Files,
    origin: String,
}

impl Server {
    /// Writes the configuration into the work folder, starts nginx (in
    /// the namespace, if any) and waits until it has written its pid file
    /// (it holds the port) and completes a TLS handshake for the server
    /// name; fails with the end of nginx's error log if it exits or does
    /// not get there within 10 s.
    pub fn start(cfg: &ServerConfig) -> Result<Server> {
        let missing: Vec<String> = ["nginx", "openssl", "ip"]
            .into_iter()
            .filter(|p| !cmd::have(p) && (*p != "ip" || cfg.netns.is_some()))
            .map(String::from)
            .collect();
        if !missing.is_empty() {
            return Err(LabError::Missing(missing));
        }
        if !cfg.content_root.is_dir() {
            return Err(LabError::Invalid(format!(
                "content root {} is not a folder",
                cfg.content_root.display()
            )));
        }
        if cfg.port == 0 {
            return Err(LabError::Invalid("server port 0".into()));
        }
        for f in [&cfg.tls.cert, &cfg.tls.key, &cfg.tls.ca_cert] {
            if !f.is_file() {
                return Err(LabError::Invalid(format!(
                    "TLS file {} is missing",
                    f.display()
                )));
            }
        }
        let work = cfg.work_dir;
        let files = Files::new(work);
        fs::create_dir_all(&files.temp).map_err(|e| LabError::io(&files.temp, e))?;
        for f in [
            &files.access_log,
            &files.error_log,
            &files.pid,
            &files.stderr,
        ] {
            match fs::remove_file(f) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(LabError::io(f, e))
                }
                _ => {}
            }
        }
        let conf = render_conf(cfg, &files)?;
        fs::write(&files.conf, conf).map_err(|e| LabError::io(&files.conf, e))?;

        let conf_s = files.conf.to_string_lossy().into_owned();
        let prefix = format!("{}/", work.to_string_lossy());
        let err_s = files.error_log.to_string_lossy().into_owned();
        let nginx_args = [
            "-p",
            &prefix,
            "-e",
            &err_s,
            "-c",
            &conf_s,
            "-g",
            "daemon off;",
        ];
        let mut c = match cfg.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "nginx"]).args(nginx_args);
                c
            }
            None => {
                let mut c = Command::new("nginx");
                c.args(nginx_args);
                c
            }
        };
        let stderr = fs::File::create(&files.stderr).map_err(|e| LabError::io(&files.stderr, e))?;
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .process_group(0);
        let what = format!("nginx -c {conf_s}");
        let child = c.spawn().map_err(|e| LabError::Command {
            what: what.clone(),
            detail: e.to_string(),
        })?;
        let mut server = Server {
            child: Some(child),
            files,
            origin: format!("https://{}:{}", cfg.server_name, cfg.port),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if !server.running() {
                let detail = format!("nginx exited: {}", server.log_tails());
                server.stop();
                return Err(LabError::Command { what, detail });
            }
            // nginx writes its pid file only once it holds its listening
            // socket, so a handshake then is with this nginx and not with
            // another one on the same port.
            if server.pid_file_written() && handshake(cfg, Duration::from_secs(2)) {
                return Ok(server);
            }
            if Instant::now() >= deadline {
                let detail = format!(
                    "no TLS handshake on {} within {} s: {}",
                    SocketAddr::new(cfg.listen, cfg.port),
                    START_TIMEOUT.as_secs(),
                    server.log_tails()
                );
                server.stop();
                return Err(LabError::Command { what, detail });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `https://<server name>:<port>`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The access log file.
    pub fn access_log_path(&self) -> &Path {
        &self.files.access_log
    }

    /// Whether the nginx master is still running.
    pub fn running(&mut self) -> bool {
        self.child.as_ref().is_some_and(|c| !exited(c.id()))
    }

    /// Every complete line of the access log so far.
    pub fn access_log(&self) -> Result<Vec<AccessEntry>> {
        read_access_log(&self.files.access_log)
    }

    /// Stops nginx: SIGTERM to its process group, SIGKILL after 5 s; then
    /// whatever is left of the group is killed. Idempotent.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = child.id() as libc::pid_t;
        // The master is not reaped until the end, so its pid (the group's
        // id) cannot be reused meanwhile.
        // SAFETY: signalling our own child's process group.
        unsafe { libc::killpg(pid, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while !exited(pid as u32) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above; the group may already be empty (ESRCH).
        unsafe { libc::killpg(pid, libc::SIGKILL) };
        let _ = child.wait();
    }

    /// Whether nginx's pid file names this server's master.
    fn pid_file_written(&self) -> bool {
        let pid = fs::read_to_string(&self.files.pid).ok();
        let pid = pid.and_then(|p| p.trim().parse::<u32>().ok());
        pid.is_some() && pid == self.child.as_ref().map(Child::id)
    }

    /// The last problems nginx logged: its error log without notices, or
    /// else its standard error.
    fn log_tails(&self) -> String {
        let log = fs::read_to_string(&self.files.error_log).unwrap_or_default();
        let problems: Vec<&str> = log.lines().filter(|l| !l.contains("[notice]")).collect();
        if !problems.iter().all(|l| l.trim().is_empty()) {
            let text = problems.join("\n");
            return format!(
                "{}: {}",
                self.files.error_log.display(),
                cmd::tail(text.as_bytes(), 3)
            );
        }
        cmd::tail(&fs::read(&self.files.stderr).unwrap_or_default(), 3)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether child `pid` has exited, without reaping it.
fn exited(pid: u32) -> bool {
    // SAFETY: waitid on our own child with WNOWAIT only inspects it; the
    // siginfo is plain data.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        // An error (ECHILD) means there is nothing left to wait for.
        r != 0 || info.si_pid() != 0
    }
}

/// Whether a TLS handshake with the server, verified against the lab CA
/// for the server name, succeeds from inside its namespace.
fn handshake(cfg: &ServerConfig, limit: Duration) -> bool {
    let connect = SocketAddr::new(cfg.listen, cfg.port).to_string();
    let ca = cfg.tls.ca_cert.to_string_lossy().into_owned();
    let args = [
        "s_client",
        "-connect",
        &connect,
        "-servername",
        cfg.server_name,
        "-verify_hostname",
        cfg.server_name,
        "-CAfile",
        &ca,
        "-verify_return_error",
        "-alpn",
        "h2",
        "-brief",
    ];
    let mut c = match cfg.netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns, "openssl"]).args(args);
            c
        }
        None => {
            let mut c = Command::new("openssl");
            c.args(args);
            c
        }
    };
    let Ok(mut child) = c
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let deadline = Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// One request in the server's access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEntry {
    /// When the request started (the log time less the request time),
    /// ns since the Unix epoch, millisecond precision.
    pub start_ns: u64,
    /// When the response was sent (the log time), ns since the Unix epoch.
    pub end_ns: u64,
    /// The request path without the query string.
    pub path: String,
    /// The HTTP status.
    pub status: u16,
    /// Bytes sent to the client, headers included (`$bytes_sent`).
    pub bytes_sent: u64,
    /// Bytes of the body sent (`$body_bytes_sent`).
    pub body_bytes: u64,
    /// The client's address and port.
    pub client: SocketAddr,
    /// nginx's connection serial number.
    pub connection: u64,
    /// The number of this request on its connection.
    pub connection_requests: u32,
    /// `HTTP/2.0`, `HTTP/1.1`, ...
    pub protocol: String,
}

/// One access log line as nginx writes it.
#[derive(serde::Deserialize)]
struct RawEntry {
    msec: String,
    request_time: String,
    request_uri: String,
    status: String,
    bytes_sent: String,
    body_bytes_sent: String,
    remote_addr: String,
    remote_port: String,
    connection: String,
    connection_requests: String,
    server_protocol: String,
}

/// Reads every complete line of access log `path`; a missing file is an
/// empty log.
pub fn read_access_log(path: &Path) -> Result<Vec<AccessEntry>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(LabError::io(path, e)),
    };
    // A last line without its newline is still being written.
    let complete = text.rfind('\n').map_or("", |i| &text[..i]);
    complete
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            parse_access_line(l).map_err(|e| {
                LabError::io(
                    path,
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("line {}: {e}", i + 1),
                    ),
                )
            })
        })
        .collect()
}

/// Parses one access log line.
pub fn parse_access_line(line: &str) -> std::result::Result<AccessEntry, String> {
    let r: RawEntry = serde_json::from_str(line).map_err(|e| e.to_string())?;
    fn num<T: std::str::FromStr>(field: &str, v: &str) -> std::result::Result<T, String> {
        v.parse()
            .map_err(|_| format!("{field}: {v:?} is not a number"))
    }
    let end_ns = decimal_ns(&r.msec).ok_or_else(|| format!("msec: {:?}", r.msec))?;
    let took =
        decimal_ns(&r.request_time).ok_or_else(|| format!("request_time: {:?}", r.request_time))?;
    let ip: IpAddr = r
        .remote_addr
        .parse()
        .map_err(|_| format!("remote_addr: {:?} is not an IP address", r.remote_addr))?;
    let path = r
        .request_uri
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .to_string();
    Ok(AccessEntry {
        start_ns: end_ns.saturating_sub(took),
        end_ns,
        path,
        status: num("status", &r.status)?,
        bytes_sent: num("bytes_sent", &r.bytes_sent)?,
        body_bytes: num("body_bytes_sent", &r.body_bytes_sent)?,
        client: SocketAddr::new(ip, num("remote_port", &r.remote_port)?),
        connection: num("connection", &r.connection)?,
        connection_requests: num("connection_requests", &r.connection_requests)?,
        protocol: r.server_protocol,
    })
}

/// Seconds written as a decimal (`1700000000.123`) in nanoseconds,
/// exactly.
fn decimal_ns(s: &str) -> Option<u64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digits(int) || !digits(frac) || frac.len() > 9 {
        return None;
    }
    let frac_ns: u64 = if frac.is_empty() {
        0
    } else {
        frac.parse::<u64>().ok()? * 10u64.pow(9 - frac.len() as u32)
    };
    int.parse::<u64>()
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(frac_ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"msec":"1700000000.250","request_time":"0.125","request_uri":"/life/chunk-2-00007.m4s?t=1","status":"200","bytes_sent":"48211","body_bytes_sent":"48000","remote_addr":"10.99.1.2","remote_port":"40312","connection":"17","connection_requests":"3","server_protocol":"HTTP/2.0"}"#;

    #[test]
    fn access_lines_are_parsed() {
        let e = parse_access_line(LINE).unwrap();
        assert_eq!(
            e,
            AccessEntry {
                start_ns: 1_700_000_000_125_000_000,
                end_ns: 1_700_000_000_250_000_000,
                path: "/life/chunk-2-00007.m4s".into(),
                status: 200,
                bytes_sent: 48211,
                body_bytes: 48000,
                client: "10.99.1.2:40312".parse().unwrap(),
                connection: 17,
                connection_requests: 3,
                protocol: "HTTP/2.0".into(),
            }
        );
        let v6 = LINE
            .replace("10.99.1.2", "fd00::2")
            .replace("/life/chunk-2-00007.m4s?t=1", "/a\\\"b.mpd");
        let e = parse_access_line(&v6).unwrap();
        assert_eq!(e.client, "[fd00::2]:40312".parse().unwrap());
        assert_eq!(e.path, "/a\"b.mpd");
        assert!(parse_access_line(&LINE.replace("\"200\"", "\"-\""))
            .unwrap_err()
            .contains("status"));
        assert!(parse_access_line(&LINE.replace("10.99.1.2", "unix:")).is_err());
        assert!(parse_access_line("not json").is_err());
    }

    #[test]
    fn decimals_become_nanoseconds() {
        assert_eq!(decimal_ns("0.000"), Some(0));
        assert_eq!(decimal_ns("12"), Some(12_000_000_000));
        assert_eq!(decimal_ns("1.5"), Some(1_500_000_000));
        assert_eq!(
            decimal_ns("1700000000.123"),
            Some(1_700_000_000_123_000_000)
        );
        for bad in ["", ".5", "1.-2", "1.2.3", "-1", "1.0000000001"] {
            assert_eq!(decimal_ns(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_log_is_read_line_by_line() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("access.log");
        assert!(read_access_log(&p).unwrap().is_empty());
        // The unfinished last line is left for later.
        fs::write(&p, format!("{LINE}\n{LINE}\n{{\"msec\"")).unwrap();
        assert_eq!(read_access_log(&p).unwrap().len(), 2);
        fs::write(&p, format!("{LINE}\nbroken\n")).unwrap();
        let e = read_access_log(&p).unwrap_err().to_string();
        assert!(e.contains("access.log") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn base64_matches_the_standard() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xff, 0xfe, 0xfd, 0x00]), "//79AA==");
    }

    fn tls() -> Tls {
        Tls {
            dir: "/lab/tls".into(),
            ca_cert: "/lab/tls/ca.pem".into(),
            cert: "/lab/tls/server.pem".into(),
            key: "/lab/tls/server.key".into(),
            spki_sha256: String::new(),
        }
    }

    #[test]
    fn the_configuration_is_rendered() {
        let tls = tls();
        let cfg = ServerConfig {
            netns: Some("srv"),
            listen: "10.99.2.2".parse().unwrap(),
            port: 443,
            server_name: "video.lab.test",
            content_root: Path::new("/cache/abc"),
            work_dir: Path::new("/run/lab/server"),
            tls: &tls,
        };
        let c = render_conf(&cfg, &Files::new(cfg.work_dir)).unwrap();
        for want in [
            "user root;",
            "pid \"/run/lab/server/nginx.pid\";",
            "error_log \"/run/lab/server/error.log\" notice;",
            "access_log \"/run/lab/server/access.log\" lab;",
            "log_format lab escape=json '{\"msec\":\"$msec\",\"request_time\":\"$request_time\"",
            "\"server_protocol\":\"$server_protocol\"}';",
            "client_body_temp_path \"/run/lab/server/temp/body\";",
            "listen 10.99.2.2:443 ssl http2;",
            "server_name video.lab.test;",
            "ssl_certificate \"/lab/tls/server.pem\";",
            "ssl_certificate_key \"/lab/tls/server.key\";",
            "ssl_protocols TLSv1.2 TLSv1.3;",
            "root \"/cache/abc\";",
            "application/dash+xml mpd;",
            "video/iso.segment m4s;",
            "sendfile on;",
            "add_header Access-Control-Allow-Origin * always;",
            "add_header Cache-Control no-store always;",
        ] {
            assert!(c.contains(want), "{want} not in\n{c}");
        }
        assert_eq!(c.matches('{').count(), c.matches('}').count());

        let v6 = ServerConfig {
            listen: "::1".parse().unwrap(),
            port: 8443,
            ..cfg.clone()
        };
        let c = render_conf(&v6, &Files::new(v6.work_dir)).unwrap();
        assert!(c.contains("listen [::1]:8443 ssl http2;"), "{c}");

        for (root, name) in [
            ("/a$b", "x.test"),
            ("relative", "x.test"),
            ("/ok", "bad name;"),
        ] {
            let bad = ServerConfig {
                content_root: Path::new(root),
                server_name: name,
                ..cfg.clone()
            };
            let e = render_conf(&bad, &Files::new(bad.work_dir)).unwrap_err();
            assert!(matches!(e, LabError::Invalid(_)), "{e}");
        }
    }

    /// nginx itself accepts the configuration (`nginx -t`), when installed.
    #[test]
    fn nginx_accepts_the_configuration() {
        if !cmd::have("nginx") || !cmd::have("openssl") {
            eprintln!("nginx or openssl is not installed; skipped");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let tls = make_tls(&tmp.path().join("tls"), "video.lab.test").unwrap();
        assert_eq!(tls.spki_sha256.len(), 44);
        let work = tmp.path().join("work");
        let cfg = ServerConfig {
            netns: None,
            listen: "127.0.0.1".parse().unwrap(),
            port: 443,
            server_name: "video.lab.test",
            content_root: tmp.path(),
            work_dir: &work,
            tls: &tls,
        };
        let files = Files::new(&work);
        fs::create_dir_all(&files.temp).unwrap();
        fs::write(&files.conf, render_conf(&cfg, &files).unwrap()).unwrap();
        let conf = files.conf.to_string_lossy().into_owned();
        let err = files.error_log.to_string_lossy().into_owned();
        let prefix = format!("{}/", work.display());
        cmd::run(
            "nginx",
            &["-t", "-q", "-p", &prefix, "-e", &err, "-c", &conf],
        )
        .unwrap();
    }

    #[test]
    fn tls_names_are_checked() {
        for ok in ["video.lab.test", "localhost", "a-b.c"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a..b", "a b", "a;b", "x/y", ".a"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }
}
