//! The lab's HTTPS server for real: nginx in a network namespace of its
//! own, fetched from with curl over HTTP/2 and HTTP/1.1, its access log
//! checked against the files served. Needs root (`ip netns`); the tests
//! are named `root_*` and skip themselves without it.

use std::fs;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lab::server::{self, Server, ServerConfig};
use lab::{cmd, LabError};

const NAME: &str = "video.lab.test";

/// Whether this machine can run the tests; says why not.
fn able() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root; skipped");
        return false;
    }
    let missing: Vec<&str> = ["ip", "nginx", "openssl", "curl"]
        .into_iter()
        .filter(|p| !cmd::have(p))
        .collect();
    if !missing.is_empty() {
        eprintln!("missing {missing:?}; skipped");
        return false;
    }
    true
}

/// A fresh network namespace with loopback up, removed on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("tslab-{tag}-{}", std::process::id());
        let _ = cmd::run("ip", &["netns", "del", &name]);
        cmd::run("ip", &["netns", "add", &name]).unwrap();
        let ns = Netns(name);
        cmd::run_in(&ns.0, "ip", &["link", "set", "lo", "up"]).unwrap();
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = cmd::run("ip", &["netns", "del", &self.0]);
    }
}

/// A content root holding `t/seg.m4s` (300 kB) and `t/manifest.mpd`.
fn content(dir: &Path) -> u64 {
    let t = dir.join("t");
    fs::create_dir_all(&t).unwrap();
    let mut rng = fastrand::Rng::with_seed(7);
    let seg: Vec<u8> = (0..300_000).map(|_| rng.u8(..)).collect();
    fs::write(t.join("seg.m4s"), &seg).unwrap();
    fs::write(t.join("manifest.mpd"), "<MPD/>\n").unwrap();
    seg.len() as u64
}

/// `curl` in namespace `ns` against the server; returns its `-w` output.
fn curl(ns: &str, ca: &Path, port: u16, extra: &[&str], path: &str) -> String {
    let resolve = format!("{NAME}:{port}:127.0.0.1");
    let url = format!("https://{NAME}:{port}{path}");
    let ca = ca.to_string_lossy();
    let mut args = vec![
        "-sS",
        "--fail",
        "--max-time",
        "10",
        "--cacert",
        &ca,
        "--resolve",
        &resolve,
        "-o",
        "/dev/null",
    ];
    args.extend_from_slice(extra);
    args.push(&url);
    let out = cmd::run_in(ns, "curl", &args).unwrap();
    String::from_utf8(out.stdout).unwrap()
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[test]
fn root_serves_https_over_h2_and_logs_every_request() {
    if !able() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let size = content(&root);
    let tls = server::make_tls(&tmp.path().join("tls"), NAME).unwrap();
    // The same pin as the usual pipeline from the certificate gives.
    let pipeline = format!(
        "openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform der \
         | openssl dgst -sha256 -binary | openssl enc -base64 -A",
        tls.cert.display()
    );
    let pin = cmd::run("sh", &["-c", &pipeline]).unwrap().stdout;
    assert_eq!(String::from_utf8(pin).unwrap().trim(), tls.spki_sha256);
    let ns = Netns::new("srv");
    let port = fastrand::u16(20000..60000);
    let work = tmp.path().join("work");
    let t0 = now_ns();
    let mut srv = Server::start(&ServerConfig {
        netns: Some(&ns.0),
        listen: IpAddr::from([127, 0, 0, 1]),
        port,
        server_name: NAME,
        content_root: &root,
        work_dir: &work,
        tls: &tls,
    })
    .unwrap();
    assert!(srv.running());
    assert_eq!(srv.origin(), format!("https://{NAME}:{port}"));
    // The readiness check made no request.
    assert!(srv.access_log().unwrap().is_empty());

    let w = "%{http_version} %{size_download} %{content_type}";
    let h2 = curl(
        &ns.0,
        &tls.ca_cert,
        port,
        &["--http2", "-w", w],
        "/t/seg.m4s?x=1",
    );
    assert_eq!(h2, format!("2 {size} video/iso.segment"));
    let h1 = curl(
        &ns.0,
        &tls.ca_cert,
        port,
        &["--http1.1", "-w", w],
        "/t/manifest.mpd",
    );
    assert_eq!(h1, "1.1 7 application/dash+xml");
    // CORS for a page loaded from file://.
    let headers = tmp.path().join("headers");
    let hs = headers.to_string_lossy().into_owned();
    curl(
        &ns.0,
        &tls.ca_cert,
        port,
        &["-D", &hs, "-H", "Origin: null"],
        "/t/manifest.mpd",
    );
    let headers = fs::read_to_string(&headers).unwrap().to_ascii_lowercase();
    assert!(
        headers.contains("access-control-allow-origin: *"),
        "{headers}"
    );

    // nginx writes the line after the response; give it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    let log = loop {
        let log = srv.access_log().unwrap();
        if log.len() >= 3 || Instant::now() > deadline {
            break log;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(log.len(), 3, "{log:#?}");
    let seg = &log[0];
    assert_eq!(seg.path, "/t/seg.m4s");
    assert_eq!(seg.status, 200);
    assert_eq!(seg.body_bytes, size);
    assert!(seg.bytes_sent > seg.body_bytes, "{seg:?}");
    assert_eq!(seg.protocol, "HTTP/2.0");
    assert_eq!(seg.client.ip(), IpAddr::from([127, 0, 0, 1]));
    assert_ne!(seg.client.port(), port);
    assert_eq!(seg.connection_requests, 1);
    assert!(
        t0 - 1_000_000_000 <= seg.start_ns && seg.start_ns <= seg.end_ns,
        "{seg:?}"
    );
    assert!(seg.end_ns <= now_ns() + 1_000_000_000, "{seg:?}");
    let mpd = &log[1];
    assert_eq!(
        (mpd.path.as_str(), mpd.body_bytes, mpd.protocol.as_str()),
        ("/t/manifest.mpd", 7, "HTTP/1.1")
    );
    assert_ne!(mpd.connection, seg.connection);

    srv.stop();
    assert!(!srv.running());
    let pids = cmd::run("ip", &["netns", "pids", &ns.0]).unwrap();
    assert!(
        pids.stdout.iter().all(u8::is_ascii_whitespace),
        "left in the namespace: {pids:?}"
    );
    // The log stays readable after the server has stopped.
    assert_eq!(srv.access_log().unwrap().len(), 3);
}

#[test]
fn root_a_bad_root_or_a_port_in_use_is_a_clear_error() {
    if !able() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    content(&root);
    let tls = server::make_tls(&tmp.path().join("tls"), NAME).unwrap();
    let ns = Netns::new("busy");
    let port = fastrand::u16(20000..60000);
    let (w1, w2) = (tmp.path().join("w1"), tmp.path().join("w2"));
    let cfg = ServerConfig {
        netns: Some(&ns.0),
        listen: IpAddr::from([127, 0, 0, 1]),
        port,
        server_name: NAME,
        content_root: &root,
        work_dir: &w1,
        tls: &tls,
    };

    let missing = tmp.path().join("no-such-folder");
    let e = Server::start(&ServerConfig {
        content_root: &missing,
        ..cfg.clone()
    })
    .unwrap_err();
    assert!(matches!(e, LabError::Invalid(_)), "{e}");
    assert!(e.to_string().contains("no-such-folder"), "{e}");

    let _first = Server::start(&cfg).unwrap();
    let started = Instant::now();
    let e = Server::start(&ServerConfig {
        work_dir: &w2,
        ..cfg.clone()
    })
    .unwrap_err();
    let s = e.to_string();
    eprintln!("port in use: {s}");
    assert!(s.contains("Address already in use"), "{s}");
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "{:?}",
        started.elapsed()
    );

    // Not listening at all: a namespace without the address.
    let e = Server::start(&ServerConfig {
        listen: IpAddr::from([10, 255, 0, 1]),
        work_dir: &w2,
        ..cfg.clone()
    })
    .unwrap_err();
    eprintln!("no such address: {e}");
    assert!(
        e.to_string().contains("Cannot assign requested address"),
        "{e}"
    );

    // A namespace that does not exist.
    let e = Server::start(&ServerConfig {
        netns: Some("tslab-no-such-ns"),
        work_dir: &w2,
        ..cfg.clone()
    })
    .unwrap_err();
    eprintln!("no such namespace: {e}");
    assert!(e.to_string().contains("tslab-no-such-ns"), "{e}");
    drop(_first);
    let pids = Command::new("ip")
        .args(["netns", "pids", &ns.0])
        .output()
        .unwrap();
    assert!(pids.stdout.iter().all(u8::is_ascii_whitespace), "{pids:?}");
}
