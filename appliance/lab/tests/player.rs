//! The dash.js player in a real headless Chromium, against a small DASH
//! stream made here with ffmpeg and served over HTTPS by an nginx started
//! here. The tests named `browser_*` need chromium, chromedriver, ffmpeg,
//! nginx, openssl and dash.js (`npm install --prefix appliance/lab/node`).

use std::net::{IpAddr, Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lab::player::{DashJs, PlayRequest, Player, PlayerEvent};
use lab::LabError;

const HOST: &str = "cdn.tapscope-lab.test";

/// Fails with a clear message when a tool the browser tests need is absent.
fn require_tools(player: &DashJs) {
    let mut missing = player.missing();
    for t in ["ffmpeg", "nginx", "openssl"] {
        if !lab::cmd::have(t) && !Path::new("/usr/sbin").join(t).is_file() {
            missing.push(t.to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "the browser tests need: {}",
        missing.join(", ")
    );
}

fn sh(script: &str, what: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// 12 s of test pattern and tone as DASH: 180p and 360p video, AAC audio,
/// 2 s segments.
fn make_stream(www: &Path) {
    std::fs::create_dir_all(www).unwrap();
    let out = Command::new("ffmpeg")
        .current_dir(www)
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=24",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=48000",
            "-t",
            "12",
            "-map",
            "0:v",
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "48",
            "-keyint_min",
            "48",
            "-sc_threshold",
            "0",
            "-filter:v:0",
            "scale=-2:180",
            "-b:v:0",
            "250k",
            "-maxrate:v:0",
            "250k",
            "-bufsize:v:0",
            "500k",
            "-filter:v:1",
            "scale=-2:360",
            "-b:v:1",
            "700k",
            "-maxrate:v:1",
            "700k",
            "-bufsize:v:1",
            "1400k",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            "-f",
            "dash",
            "-seg_duration",
            "2",
            "-use_template",
            "1",
            "-use_timeline",
            "0",
            "-adaptation_sets",
            "id=0,streams=v id=1,streams=a",
            "manifest.mpd",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(www.join("manifest.mpd").is_file());
}

/// A self-signed certificate for [`HOST`]; returns the base64 SHA-256 of
/// its SubjectPublicKeyInfo.
fn make_cert(dir: &Path) -> String {
    let d = dir.display();
    sh(
        &format!(
            "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN={HOST} \
             -addext subjectAltName=DNS:{HOST} -keyout {d}/key.pem -out {d}/cert.pem 2>/dev/null"
        ),
        "openssl req",
    );
    sh(
        &format!(
            "openssl x509 -in {d}/cert.pem -pubkey -noout | openssl pkey -pubin -outform der \
             | openssl dgst -sha256 -binary | base64"
        ),
        "spki hash",
    )
}

/// nginx serving `www` over HTTPS on 127.0.0.1:`port`, with CORS; killed on drop.
struct Nginx(Child);

impl Nginx {
    fn start(dir: &Path, www: &Path, port: u16) -> Nginx {
        let d = dir.display();
        let conf = dir.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "user root;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
                 events {{ worker_connections 64; }}\n\
                 http {{\n\
                   types {{ application/dash+xml mpd; video/mp4 m4s mp4; }}\n\
                   access_log {d}/access.log;\n\
                   client_body_temp_path {d}/tmp;\n\
                   server {{\n\
                     listen 127.0.0.1:{port} ssl;\n\
                     server_name {HOST};\n\
                     ssl_certificate {d}/cert.pem;\n\
                     ssl_certificate_key {d}/key.pem;\n\
                     root {www};\n\
                     add_header Access-Control-Allow-Origin * always;\n\
                   }}\n\
                 }}\n",
                www = www.display()
            ),
        )
        .unwrap();
        let nginx = if lab::cmd::have("nginx") {
            "nginx".to_string()
        } else {
            "/usr/sbin/nginx".to_string()
        };
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(&conf)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut n = Nginx(child);
        let until = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                n.0.try_wait().unwrap().is_none(),
                "nginx exited: {}",
                std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
            );
            assert!(Instant::now() < until, "nginx did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        n
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGQUIT: graceful stop of master and workers.
        if let Ok(pid) = i32::try_from(self.0.id()) {
            // SAFETY: signalling our own child.
            unsafe {
                libc::kill(pid, libc::SIGQUIT);
            }
        }
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Processes whose command line mentions `dir` (a session's browser).
fn processes_using(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().to_string();
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if e.file_name()
            .to_str()
            .is_none_or(|s| s.parse::<u32>().is_err())
        {
            continue;
        }
        if let Ok(c) = std::fs::read(e.path().join("cmdline")) {
            let c = String::from_utf8_lossy(&c).replace('\0', " ");
            if c.contains(&needle) {
                out.push(format!("{}: {c}", e.file_name().to_string_lossy()));
            }
        }
    }
    out
}

fn request(manifest_url: String, spki: Vec<String>, work_dir: PathBuf, secs: u64) -> PlayRequest {
    PlayRequest {
        manifest_url,
        duration: Duration::from_secs(secs),
        resolve: vec![(HOST.to_string(), IpAddr::V4(Ipv4Addr::LOCALHOST))],
        spki,
        netns: None,
        work_dir,
        stop: Arc::new(AtomicBool::new(false)),
    }
}

#[test]
fn browser_dashjs_plays_a_dash_stream_over_https() {
    let mut player = DashJs::locate(None);
    require_tools(&player);
    let tmp = tempfile::tempdir().unwrap();
    let www = tmp.path().join("www");
    make_stream(&www);
    let spki = make_cert(tmp.path());
    let port = free_port();
    let nginx = Nginx::start(tmp.path(), &www, port);

    let work = tmp.path().join("session");
    let req = request(
        format!("https://{HOST}:{port}/manifest.mpd"),
        vec![spki],
        work.clone(),
        8,
    );
    let started = Instant::now();
    let log = player.play(&req).expect("play");
    let took = started.elapsed();
    drop(nginx);
    for e in &log.events {
        eprintln!("{e:?}");
    }

    assert_eq!(log.player, "dashjs");
    assert!(
        took >= Duration::from_secs(8) && took < Duration::from_secs(60),
        "{took:?}"
    );
    assert!(log.load_ns > 0 && log.end_ns > log.load_ns);
    let errors: Vec<_> = log
        .events
        .iter()
        .filter(|e| matches!(e, PlayerEvent::Error { .. }))
        .collect();
    assert!(errors.is_empty(), "player errors: {errors:?}");
    assert!(
        log.events
            .iter()
            .any(|e| matches!(e, PlayerEvent::Loaded { .. })),
        "no Loaded"
    );
    let playing = log
        .events
        .iter()
        .find_map(|e| match e {
            PlayerEvent::Playing { at_ns } => Some(*at_ns),
            _ => None,
        })
        .expect("a Playing event");
    assert!(playing >= log.load_ns && playing <= log.end_ns);
    assert!(
        log.events.iter().any(|e| matches!(e,
            PlayerEvent::QualityRendered { media, height, bitrate_kbps, .. }
                if media == "video" && [180, 360].contains(height) && *bitrate_kbps > 0)),
        "no video QualityRendered at 180p or 360p"
    );
    let frags: Vec<_> = log
        .events
        .iter()
        .filter_map(|e| match e {
            PlayerEvent::Fragment {
                media,
                init,
                bytes,
                height,
                index,
                request_ns,
                end_ns,
                url,
                ..
            } => Some((
                media.clone(),
                *init,
                *bytes,
                *height,
                *index,
                *request_ns,
                *end_ns,
                url.clone(),
            )),
            _ => None,
        })
        .collect();
    let video_init = frags
        .iter()
        .find(|f| f.0 == "video" && f.1)
        .expect("a video init segment");
    assert!(video_init.2 > 0 && video_init.4 == 0);
    let media: Vec<_> = frags.iter().filter(|f| f.0 == "video" && !f.1).collect();
    assert!(!media.is_empty(), "no video media segments");
    for f in &media {
        assert!(f.2 > 0, "empty segment {f:?}");
        assert!([180, 360].contains(&f.3), "odd height {f:?}");
        assert!(f.4 >= 1, "segment numbers start at 1: {f:?}");
        assert!(f.5 > 0 && f.6 >= f.5, "times {f:?}");
        assert!(f.7.starts_with(&format!("https://{HOST}:{port}/")), "{f:?}");
    }
    assert!(
        frags.iter().any(|f| f.0 == "audio" && !f.1 && f.2 > 0),
        "no audio segments"
    );

    // The page and dash.js came from the session folder, not the server.
    let access = std::fs::read_to_string(tmp.path().join("access.log")).unwrap();
    assert!(access.contains("GET /manifest.mpd"), "{access}");
    assert!(
        !access.contains(".html") && !access.contains("dash.all"),
        "{access}"
    );
    assert!(work.join("player.html").is_file() && work.join("dash.all.min.js").is_file());
    // Nothing of the browser is left running.
    assert!(
        processes_using(&work).is_empty(),
        "left over: {:?}",
        processes_using(&work)
    );
}

#[test]
fn browser_stop_interrupts_a_session_promptly() {
    let mut player = DashJs::locate(None);
    require_tools(&player);
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("session");
    // Nothing listens there: the player never starts, which is no error.
    let req = request(
        format!("https://{HOST}:{}/manifest.mpd", free_port()),
        vec![],
        work.clone(),
        120,
    );
    let stop = req.stop.clone();
    let setter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(4));
        stop.store(true, Ordering::Relaxed);
    });
    let started = Instant::now();
    let r = player.play(&req);
    setter.join().unwrap();
    assert!(matches!(r, Err(LabError::Interrupted)), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert!(
        processes_using(&work).is_empty(),
        "left over: {:?}",
        processes_using(&work)
    );
}

#[test]
fn browser_a_session_that_never_starts_has_no_playing_event() {
    let mut player = DashJs::locate(None);
    require_tools(&player);
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("session");
    let req = request(
        format!("https://{HOST}:{}/manifest.mpd", free_port()),
        vec![],
        work.clone(),
        3,
    );
    let log = player
        .play(&req)
        .expect("a player that never starts is not an error");
    assert!(log
        .events
        .iter()
        .any(|e| matches!(e, PlayerEvent::Loaded { .. })));
    assert!(!log
        .events
        .iter()
        .any(|e| matches!(e, PlayerEvent::Playing { .. })));
    assert!(
        processes_using(&work).is_empty(),
        "left over: {:?}",
        processes_using(&work)
    );
}
