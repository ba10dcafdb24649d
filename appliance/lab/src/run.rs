//! A run of the video lab: the plan, the rig (network, server, capture),
//! one session after another, the journal that makes it resumable, the
//! tables and the report.
//!
//! A session is recorded (ok or failed, with its reason) in the journal as
//! soon as it ends; an interrupted session is not recorded and is played
//! again by the next attempt. The `lab_sessions` and `lab_runs` rows are
//! written when an attempt ends (also on Ctrl-C), after the capture has
//! stopped, so every file is complete.

pub mod capture;
pub mod matching;
pub mod plan;
pub mod report;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use model::lab::{LabRun, LabSession};
use sink::tables::{LabRuns, LabSessions};
use sink::{Sink, SinkConfig, LAB_TABLES};

use crate::cmd::have;
use crate::content::{self, Content, Ladder};
use crate::error::{LabError, Result};
use crate::net::{LabNet, CLIENT_IP, SERVER_IP, TAP_IFACE};
use crate::player::{DashJs, PlayRequest, Player};
use crate::server::{self, Server, ServerConfig, Tls};
use crate::truth::ground_truth;
use capture::{Capture, Recorder};
use plan::{Journal, Planned, RunParams};

/// The lab's video server name (TLS SNI, the services file's domain).
pub const SERVER_NAME: &str = "cdn.tapscope-lab.test";
/// The services file's domain: the server name's parent.
pub const SERVER_DOMAIN: &str = "tapscope-lab.test";
/// Pause between sessions, so their flows are apart in time.
const GAP: Duration = Duration::from_secs(2);

/// Which ladder to encode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LadderKind {
    /// 144p to 1080p, 4 s segments ([`Ladder::full`]).
    Full,
    /// 144p, 360p, 720p, 2 s segments, fast to encode ([`Ladder::small`]).
    Small,
}

/// What `tapscope lab video` was asked.
#[derive(Clone, Debug)]
pub struct LabOptions {
    /// Sessions to play (a multiple of the number of caps).
    pub sessions: u32,
    /// Length of each session, seconds.
    pub duration_s: u32,
    /// Bandwidth caps, Mbit/s.
    pub caps_mbps: Vec<f64>,
    /// Number of titles (the first K of [`content::SOURCES`]).
    pub titles: usize,
    /// Seed of the session order.
    pub seed: u64,
    /// Output folder: tapscope's tables, the lab's tables and the journal.
    pub out: PathBuf,
    /// Where the encoded ladder is cached between runs.
    pub cache: PathBuf,
    /// The ladder.
    pub ladder: LadderKind,
    /// The tapscope binary for the mirror capture.
    pub tapscope: PathBuf,
    /// dash.js (`dash.all.min.js`), if not found by itself.
    pub dashjs: Option<PathBuf>,
    /// Write the client port's packets to `<out>/lab/mirror-<unix s>.pcap`
    /// with this many bytes of each (0: whole packets); `None`: no pcap.
    pub pcap_snaplen: Option<u32>,
}

/// How an attempt ended.
#[derive(Debug)]
pub struct Outcome {
    /// The run's journal after the attempt.
    pub journal: Journal,
    /// Every planned session is recorded.
    pub finished: bool,
    /// Stopped by SIGINT/SIGTERM.
    pub interrupted: bool,
    /// The terminal report.
    pub report: String,
    /// The mirror capture's queue mode (`xdp-copy`, ...), if it ran.
    pub capture_mode: Option<String>,
}

/// Content length for sessions of `duration_s`: the session plus room for
/// a slow start, in whole half-minutes, so runs of similar length share
/// the cache.
pub fn content_length(duration_s: u32) -> u32 {
    (duration_s + 20).div_ceil(30) * 30
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::SeqCst);
}

/// Installs SIGINT/SIGTERM handlers; the returned flag is set when one
/// arrives (checked between and during sessions).
pub fn stop_on_signals() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let f = flag.clone();
    std::thread::Builder::new()
        .name("lab-signals".into())
        .spawn(move || loop {
            if SIGNALLED.load(Ordering::SeqCst) {
                f.store(true, Ordering::SeqCst);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        })
        .expect("spawning the signal watcher");
    flag
}

/// Everything a run needs that is not installed (program names, with what
/// installs them).
pub fn missing_tools(opts: &LabOptions, player: &dyn Player) -> Vec<String> {
    let mut missing: Vec<String> = ["ip", "tc", "ffmpeg", "nginx", "openssl"]
        .iter()
        .filter(|p| !have(p))
        .map(|p| p.to_string())
        .collect();
    if opts.pcap_snaplen.is_some() && !have("tcpdump") {
        missing.push("tcpdump (or --no-pcap)".into());
    }
    missing.extend(player.missing());
    if !opts.tapscope.is_file() {
        missing.push(format!("the tapscope binary ({})", opts.tapscope.display()));
    }
    missing
}

/// The run's parameters from the options.
pub fn params(opts: &LabOptions, player: &dyn Player) -> Result<RunParams> {
    if opts.titles == 0 || opts.titles > content::SOURCES.len() {
        return Err(LabError::Invalid(format!(
            "--titles {}: between 1 and {} ({})",
            opts.titles,
            content::SOURCES.len(),
            content::SOURCES.join(", ")
        )));
    }
    let p = RunParams {
        sessions: opts.sessions,
        duration_s: opts.duration_s,
        caps_mbps: opts.caps_mbps.clone(),
        titles: content::SOURCES[..opts.titles]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        seed: opts.seed,
        ladder: ladder(opts).describe(),
        player: player.name().to_string(),
    };
    plan::validate(&p)?;
    Ok(p)
}

fn ladder(opts: &LabOptions) -> Ladder {
    let len = content_length(opts.duration_s);
    match opts.ladder {
        LadderKind::Full => Ladder::full(len),
        LadderKind::Small => Ladder::small(len),
    }
}

/// The rig of one attempt. Fields drop in order: capture, then server, then
/// the network (whose namespaces must outlive the processes inside).
struct Rig {
    recorder: Option<Recorder>,
    capture: Option<Capture>,
    server: Option<Server>,
    net: LabNet,
    tls: Tls,
}

/// Runs (or continues) the lab in `opts.out`. `progress` gets a line per
/// step and per session.
pub fn run_video_lab(opts: &LabOptions, progress: &mut dyn FnMut(&str)) -> Result<Outcome> {
    let mut player = DashJs::locate(opts.dashjs.as_deref());
    let params = params(opts, &player)?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(LabError::Invalid(
            "the lab needs root: it creates network namespaces, shapes links with tc and captures with AF_XDP".into(),
        ));
    }
    let missing = missing_tools(opts, &player);
    if !missing.is_empty() {
        return Err(LabError::Missing(missing));
    }
    std::fs::create_dir_all(&opts.out).map_err(|e| LabError::io(&opts.out, e))?;
    let out = opts
        .out
        .canonicalize()
        .map_err(|e| LabError::io(&opts.out, e))?;
    std::fs::create_dir_all(&opts.cache).map_err(|e| LabError::io(&opts.cache, e))?;
    let cache = opts
        .cache
        .canonicalize()
        .map_err(|e| LabError::io(&opts.cache, e))?;
    let opts = &LabOptions {
        cache,
        ..opts.clone()
    };
    let mut journal = match Journal::load(&out)? {
        Some(j) => {
            if j.params.as_ref() != Some(&params) {
                return Err(LabError::Invalid(format!(
                    "{} holds run {} made with other parameters ({}); rerun with the same ones to continue it, or use another --out",
                    out.display(),
                    j.run,
                    j.params.as_ref().map_or("none".into(), describe_params)
                )));
            }
            progress(&format!(
                "continuing run {}: {} of {} sessions recorded",
                j.run,
                j.sessions.len(),
                params.sessions
            ));
            j
        }
        None => Journal {
            run: run_name(&out),
            params: Some(params.clone()),
            started_ns: now_ns(),
            ..Default::default()
        },
    };
    journal.save(&out)?;

    let stop = stop_on_signals();
    let todo: Vec<Planned> = plan::plan(&params)
        .into_iter()
        .filter(|p| !journal.has(p.index))
        .collect();
    let mut interrupted = false;
    let mut capture_mode = None;
    let mut failure = None;
    if !todo.is_empty() {
        let r = play_all(
            opts,
            &out,
            &params,
            &todo,
            &mut player,
            &mut journal,
            &stop,
            progress,
        );
        match r {
            Ok(mode) => capture_mode = Some(mode),
            Err((mode, LabError::Interrupted)) => {
                capture_mode = mode;
                interrupted = true;
            }
            Err((mode, e)) => {
                capture_mode = mode;
                failure = Some(e);
            }
        }
    }
    interrupted |= stop.load(Ordering::SeqCst);
    let finished = journal.sessions.len() as u32 >= params.sessions;
    write_tables(&out, &mut journal, &params, finished)?;
    journal.save(&out)?;
    if let Some(e) = failure {
        return Err(e);
    }
    Ok(Outcome {
        report: {
            let mut r = report::summary(&journal.sessions, params.sessions);
            r.push_str(&report::compare(
                &journal.sessions,
                &report::read_estimates(&out),
            ));
            r
        },
        journal,
        finished,
        interrupted,
        capture_mode,
    })
}

fn describe_params(p: &RunParams) -> String {
    format!(
        "--sessions {} --duration {} --bandwidth {} --titles {} --seed {}, ladder {}",
        p.sessions,
        p.duration_s,
        p.caps_mbps
            .iter()
            .map(f64::to_string)
            .collect::<Vec<_>>()
            .join(","),
        p.titles.len(),
        p.seed,
        p.ladder
    )
}

/// `lab-<folder name>-<start time>`.
fn run_name(out: &Path) -> String {
    let base = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "lab".into());
    let secs = now_ns() / 1_000_000_000;
    format!("{base}-{secs}")
}

/// A namespace prefix for `out`: the same for every attempt at a run (so a
/// rerun deletes what a killed attempt left), short enough for names.
fn ns_prefix(out: &Path) -> String {
    let mut h: u32 = 2166136261;
    for b in out.as_os_str().as_encoded_bytes() {
        h = (h ^ *b as u32).wrapping_mul(16777619);
    }
    format!("tsl{:05x}", h & 0xfffff)
}

#[allow(clippy::too_many_arguments)]
fn play_all(
    opts: &LabOptions,
    out: &Path,
    params: &RunParams,
    todo: &[Planned],
    player: &mut dyn Player,
    journal: &mut Journal,
    stop: &Arc<AtomicBool>,
    progress: &mut dyn FnMut(&str),
) -> std::result::Result<String, (Option<String>, LabError)> {
    let content = content::prepare(&opts.cache, &ladder(opts), params.titles.len(), &mut |l| {
        progress(l)
    });
    // A Ctrl-C from a terminal also reaches ffmpeg, which then fails: that
    // is an interruption, not an encoding error. Titles made so far stay
    // in the cache.
    if stop.load(Ordering::SeqCst) {
        return Err((None, LabError::Interrupted));
    }
    let content = content.map_err(|e| (None, e))?;
    let work = out.join("lab").join("work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| (None, LabError::io(&work, e)))?;
    let mut rig =
        setup(opts, out, &work, &content, todo[0].cap_mbps, progress).map_err(|e| (None, e))?;
    let mode = rig.capture.as_ref().map(|c| c.mode.clone());
    let r = sessions(
        &mut rig, &content, params, todo, player, journal, out, &work, stop, progress,
    );
    // Teardown in order, reporting the capture's own failure: the server
    // first (its last packets, the connections' FINs, reach both the pcap
    // and the capture), then the pcap, then the capture.
    let access = rig
        .server
        .as_ref()
        .map(|s| s.access_log_path().to_path_buf());
    if let Some(mut server) = rig.server.take() {
        server.stop();
        // Long enough for the closing handshakes to drain through the
        // lowest cap.
        std::thread::sleep(Duration::from_millis(1500));
    }
    if let Some(mut rec) = rig.recorder.take() {
        match rec.stop() {
            Ok(n) => progress(&format!(
                "pcap: {} packets in {}{}",
                n.captured,
                rec.path().display(),
                if n.dropped > 0 {
                    format!(", {} dropped by the kernel", n.dropped)
                } else {
                    String::new()
                }
            )),
            Err(e) => progress(&format!("pcap: {e}")),
        }
    }
    let stopped = rig.capture.take().map_or(Ok(()), |mut c| c.stop());
    drop(rig);
    // The server's access log stays with the run: a record of every
    // request that does not depend on the player.
    if let Some(a) = access {
        let keep = out
            .join("lab")
            .join(format!("access-{}.log", now_ns() / 1_000_000_000));
        if let Err(e) = std::fs::copy(&a, &keep) {
            progress(&format!("keeping the access log {}: {e}", a.display()));
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    match (r, stopped) {
        (Err(e), _) => Err((mode, e)),
        (Ok(()), Err(e)) => Err((mode, e)),
        (Ok(()), Ok(())) => Ok(mode.unwrap_or_default()),
    }
}

fn setup(
    opts: &LabOptions,
    out: &Path,
    work: &Path,
    content: &Content,
    first_cap: f64,
    progress: &mut dyn FnMut(&str),
) -> Result<Rig> {
    let tls = server::make_tls(&work.join("tls"), SERVER_NAME)?;
    let net = LabNet::create(&ns_prefix(out), first_cap)?;
    progress(&format!(
        "network: {} (client {CLIENT_IP}) → {} → {} (server {SERVER_IP}), mirror onto {TAP_IFACE} in {}",
        net.client, net.router, net.server, net.tap
    ));
    let mut rig = Rig {
        recorder: None,
        capture: None,
        server: None,
        net,
        tls,
    };
    let server_dir = work.join("server");
    std::fs::create_dir_all(&server_dir).map_err(|e| LabError::io(&server_dir, e))?;
    rig.server = Some(Server::start(&ServerConfig {
        netns: Some(&rig.net.server),
        listen: IpAddr::V4(SERVER_IP),
        port: 443,
        server_name: SERVER_NAME,
        content_root: &content.root,
        work_dir: &server_dir,
        tls: &rig.tls,
    })?);
    // Kept with the run: the services file names the lab's server, and
    // replay.toml lets the run's pcap be replayed with the same labels.
    let services = out.join("lab").join("services.toml");
    write(&services, &capture::services_toml(SERVER_DOMAIN))?;
    write(
        &out.join("lab").join("replay.toml"),
        &capture::replay_toml(&services),
    )?;
    let config = work.join("capture.toml");
    let socket = PathBuf::from(format!("/tmp/tapscope-lab-{}.sock", std::process::id()));
    write(
        &config,
        &capture::config_toml(TAP_IFACE, out, &services, &socket),
    )?;
    let cap = Capture::start(
        &opts.tapscope,
        &rig.net.tap,
        TAP_IFACE,
        out,
        &config,
        &out.join("lab").join("capture.log"),
    )?;
    progress(&format!(
        "capture: tapscope run on {TAP_IFACE} ({}), status with `tapscope status --socket {}`",
        cap.mode,
        socket.display()
    ));
    rig.capture = Some(cap);
    if let Some(snaplen) = opts.pcap_snaplen {
        let path = out
            .join("lab")
            .join(format!("mirror-{}.pcap", now_ns() / 1_000_000_000));
        let rec = Recorder::start(&rig.net.router, "rc", &path, snaplen)?;
        progress(&format!(
            "pcap: the client port's packets into {} ({})",
            path.display(),
            if snaplen == 0 {
                "whole packets".to_string()
            } else {
                format!("first {snaplen} bytes of each")
            }
        ));
        rig.recorder = Some(rec);
    }
    Ok(rig)
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| LabError::io(path, e))
}

#[allow(clippy::too_many_arguments)]
fn sessions(
    rig: &mut Rig,
    content: &Content,
    params: &RunParams,
    todo: &[Planned],
    player: &mut dyn Player,
    journal: &mut Journal,
    out: &Path,
    work: &Path,
    stop: &Arc<AtomicBool>,
    progress: &mut dyn FnMut(&str),
) -> Result<()> {
    for (i, p) in todo.iter().enumerate() {
        if stop.load(Ordering::SeqCst) {
            return Err(LabError::Interrupted);
        }
        if !rig.capture.as_mut().is_some_and(|c| c.running()) {
            return Err(LabError::Command {
                what: "tapscope run (mirror capture)".into(),
                detail: format!(
                    "exited during the run; see {}",
                    out.join("lab/capture.log").display()
                ),
            });
        }
        rig.net.set_cap(p.cap_mbps)?;
        sleep_unless(stop, Duration::from_secs(1))?;
        let s = play_one(rig, content, params, p, player, journal, work, stop)?;
        progress(&format!(
            "session {}/{} (#{}) {} at {} Mbit/s: {}",
            i + 1,
            todo.len(),
            p.index,
            p.title,
            p.cap_mbps,
            session_line(&s)
        ));
        journal.sessions.push(s);
        journal.save(out)?;
        sleep_unless(stop, GAP)?;
    }
    Ok(())
}

fn sleep_unless(stop: &AtomicBool, d: Duration) -> Result<()> {
    let end = std::time::Instant::now() + d;
    while std::time::Instant::now() < end {
        if stop.load(Ordering::SeqCst) {
            return Err(LabError::Interrupted);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn session_line(s: &LabSession) -> String {
    if s.status != "ok" {
        return format!("{} ({})", s.status, s.reason.as_deref().unwrap_or(""));
    }
    format!(
        "startup {:.0} ms, resolution {:.0}p mean, {} stalls ({:.1} s), {} segments ({} in the server log)",
        s.startup_delay_ms.unwrap_or(f64::NAN),
        s.resolution_mean.unwrap_or(f64::NAN),
        s.stalls.len(),
        s.stall_ms / 1000.0,
        s.segments.len(),
        s.matched_segments
    )
}

#[allow(clippy::too_many_arguments)]
fn play_one(
    rig: &mut Rig,
    content: &Content,
    params: &RunParams,
    p: &Planned,
    player: &mut dyn Player,
    journal: &Journal,
    work: &Path,
    stop: &Arc<AtomicBool>,
) -> Result<LabSession> {
    let title = content
        .titles
        .iter()
        .find(|t| t.name == p.title)
        .ok_or_else(|| LabError::Invalid(format!("title {} is not in the content", p.title)))?;
    let dir = work.join(format!("session-{}", p.index));
    std::fs::create_dir_all(&dir).map_err(|e| LabError::io(&dir, e))?;
    let req = PlayRequest {
        manifest_url: format!("https://{SERVER_NAME}{}", title.manifest),
        duration: Duration::from_secs(params.duration_s as u64),
        resolve: vec![(SERVER_NAME.to_string(), IpAddr::V4(SERVER_IP))],
        spki: vec![rig.tls.spki_sha256.clone()],
        netns: Some(rig.net.client.clone()),
        work_dir: dir.clone(),
        stop: stop.clone(),
    };
    let started = now_ns();
    let result = player.play(&req);
    let ended = now_ns();
    let _ = std::fs::remove_dir_all(&dir);
    let mut s = LabSession {
        run: journal.run.clone(),
        session: p.index,
        title: p.title.clone(),
        cap_mbps: p.cap_mbps,
        started_ns: started,
        ended_ns: ended,
        status: "ok".into(),
        player: player.name().to_string(),
        device_ip: CLIENT_IP.to_string(),
        device_mac: rig.net.client_mac.clone(),
        server_ip: SERVER_IP.to_string(),
        server_port: 443,
        server_name: SERVER_NAME.to_string(),
        ..Default::default()
    };
    match result {
        Err(LabError::Interrupted) => return Err(LabError::Interrupted),
        Err(e) => {
            s.status = "browser_error".into();
            s.reason = Some(e.to_string());
        }
        Ok(log) => {
            let t = ground_truth(&log);
            if log.load_ns > 0 {
                s.started_ns = log.load_ns;
            }
            if log.end_ns > s.started_ns {
                s.ended_ns = log.end_ns;
            }
            s.startup_delay_ms = t.startup_delay_ms;
            s.resolution_mean = t.resolution_mean;
            s.resolution_mode = t.resolution_mode;
            s.played_s = t.played_s;
            s.resolution_changes = t.resolution_changes;
            s.stalls = t.stalls;
            s.stall_ms = t.stall_ms;
            s.segments = t.segments;
            if s.startup_delay_ms.is_none() {
                s.status = if t.errors.is_empty() {
                    "no_playback"
                } else {
                    "player_error"
                }
                .into();
                s.reason = Some(if t.errors.is_empty() {
                    format!(
                        "the player did not start playing within {} s",
                        params.duration_s
                    )
                } else {
                    t.errors.join("; ")
                });
            }
        }
    }
    let server = rig.server.as_mut().expect("server started");
    if !server.running() {
        s.status = "server_error".into();
        s.reason = Some("the HTTPS server exited during the session".into());
    }
    let log = server.access_log()?;
    let entries = matching::session_entries(
        &log,
        IpAddr::V4(CLIENT_IP),
        s.started_ns.saturating_sub(1_000_000_000),
        s.ended_ns + 2_000_000_000,
    );
    s.server_segments = entries.len() as u32;
    s.matched_segments = matching::match_segments(&mut s.segments, &entries);
    Ok(s)
}

/// Writes the sessions not yet in `lab_sessions` and this attempt's
/// `lab_runs` row (replacing the previous attempt's file).
fn write_tables(
    out: &Path,
    journal: &mut Journal,
    params: &RunParams,
    finished: bool,
) -> Result<()> {
    let sink_err = |table: &'static str| {
        move |e: sink::SinkError| LabError::Sink {
            table,
            detail: e.to_string(),
        }
    };
    let mut sink = Sink::open_tables(
        SinkConfig {
            root: out.to_path_buf(),
            ..SinkConfig::default()
        },
        LAB_TABLES,
    )
    .map_err(sink_err("lab_sessions"))?;
    let new: Vec<LabSession> = journal
        .sessions
        .iter()
        .filter(|s| !journal.written.contains(&s.session))
        .cloned()
        .collect();
    if !new.is_empty() {
        sink.write::<LabSessions>(&new)
            .map_err(sink_err("lab_sessions"))?;
        sink.close().map_err(sink_err("lab_sessions"))?;
        journal.written.extend(new.iter().map(|s| s.session));
    }
    for f in journal.run_files.drain(..) {
        let _ = std::fs::remove_file(&f);
    }
    let before = parquet_files(&out.join("lab_runs"));
    let ok = journal.sessions.iter().filter(|s| s.status == "ok").count() as u32;
    let row = LabRun {
        run: journal.run.clone(),
        started_ns: journal.started_ns,
        ended_ns: Some(now_ns()),
        sessions_planned: params.sessions,
        sessions_ok: ok,
        sessions_failed: journal.sessions.len() as u32 - ok,
        caps_mbps: params.caps_mbps.clone(),
        session_s: params.duration_s,
        titles: params.titles.clone(),
        seed: params.seed,
        player: params.player.clone(),
        ladder: params.ladder.clone(),
        finished,
    };
    sink.write::<LabRuns>(&[row])
        .map_err(sink_err("lab_runs"))?;
    sink.close().map_err(sink_err("lab_runs"))?;
    journal.run_files = parquet_files(&out.join("lab_runs"))
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    Ok(())
}

/// Every `.parquet` file under `dir` (recursively).
fn parquet_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_longer_than_a_session() {
        assert_eq!(content_length(20), 60);
        assert_eq!(content_length(60), 90);
        for d in [5, 20, 45, 60, 120] {
            assert!(content_length(d) >= d + 20);
        }
    }

    #[test]
    fn namespace_prefix_is_stable_and_short() {
        let a = ns_prefix(Path::new("/tmp/a"));
        assert_eq!(a, ns_prefix(Path::new("/tmp/a")));
        assert_ne!(a, ns_prefix(Path::new("/tmp/b")));
        // the namespace names add one letter and interface names stay under IFNAMSIZ
        assert!(a.len() < 15, "{a}");
    }
}
