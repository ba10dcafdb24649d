//! Just enough W3C WebDriver to drive Chromium through chromedriver: start
//! the driver (in the client's network namespace), open a session, navigate,
//! run scripts, and tear everything down again, also on error.
//!
//! chromedriver listens on 127.0.0.1 inside the client's namespace, so the
//! HTTP to it is made from a thread that entered that namespace first
//! ([`in_netns`]); `setns` there affects only that thread.

use std::fs::File;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cmd;
use crate::error::{LabError, Result};

/// Runs `f` on a new thread that first enters network namespace `ns`
/// (`/var/run/netns/<ns>`), or stays in the current one for `None`.
pub(crate) fn in_netns<T: Send>(
    ns: Option<&str>,
    f: impl FnOnce() -> Result<T> + Send,
) -> Result<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            if let Some(ns) = ns {
                enter_netns(ns)?;
            }
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(LabError::Player("the player's thread panicked".into())))
    })
}

/// Moves the calling thread into network namespace `ns`.
fn enter_netns(ns: &str) -> Result<()> {
    let path = Path::new("/var/run/netns").join(ns);
    let f = File::open(&path).map_err(|e| LabError::io(&path, e))?;
    // SAFETY: setns on a valid, open namespace descriptor; it changes only
    // the calling thread's network namespace.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if r != 0 {
        return Err(LabError::Player(format!(
            "entering network namespace {ns}: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

/// A free TCP port on 127.0.0.1 (in the calling thread's namespace).
fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| LabError::Player(format!("no free local port for chromedriver: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| LabError::Player(format!("no free local port for chromedriver: {e}")))
}

/// A running chromedriver, in its own process group; dropping it kills the
/// group and every process it started.
pub(crate) struct Driver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Driver {
    /// Starts `chromedriver` on a free port (inside `netns` via
    /// `ip netns exec` when given) and waits until it answers.
    pub(crate) fn start(
        chromedriver: &Path,
        netns: Option<&str>,
        log: &Path,
        stop: &AtomicBool,
    ) -> Result<Driver> {
        let port = free_port()?;
        let driver_args = [
            format!("--port={port}"),
            format!("--log-path={}", log.display()),
        ];
        let mut c = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(chromedriver);
                c
            }
            None => Command::new(chromedriver),
        };
        c.args(&driver_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let child = c
            .spawn()
            .map_err(|e| LabError::Player(format!("starting {}: {e}", chromedriver.display())))?;
        let mut d = Driver {
            child,
            port,
            log: log.to_path_buf(),
        };
        d.wait_ready(stop)?;
        Ok(d)
    }

    /// Polls `/status` until the driver is ready (20 s at most).
    fn wait_ready(&mut self, stop: &AtomicBool) -> Result<()> {
        let agent = agent();
        let url = format!("http://127.0.0.1:{}/status", self.port);
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            if stop.load(Ordering::Relaxed) {
                return Err(LabError::Interrupted);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(LabError::Player(format!(
                    "chromedriver exited at start ({status}): {}",
                    self.log_tail()
                )));
            }
            let ready = agent
                .get(&url)
                .config()
                .timeout_global(Some(Duration::from_secs(2)))
                .build()
                .call()
                .ok()
                .and_then(|mut r| r.body_mut().read_json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"].as_bool() == Some(true));
            if ready {
                return Ok(());
            }
            if Instant::now() > until {
                return Err(LabError::Player(format!(
                    "chromedriver did not answer on port {} within 20 s: {}",
                    self.port,
                    self.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The driver's base URL.
    pub(crate) fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The last lines of the driver's log, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        match std::fs::read(&self.log) {
            Ok(b) => cmd::tail(&b, 4),
            Err(_) => "(no chromedriver log)".into(),
        }
    }

    /// Kills the driver's process group and everything it started.
    fn kill(&mut self) {
        let Ok(pid) = i32::try_from(self.child.id()) else {
            return;
        };
        // The browser normally stays in the driver's group; collect its
        // descendants too in case one moved to a group of its own.
        let family = descendants(pid);
        // SAFETY: signalling our own child's process group and the
        // processes it started.
        unsafe {
            libc::kill(-pid, libc::SIGTERM);
        }
        let until = Instant::now() + Duration::from_secs(2);
        while Instant::now() < until {
            if matches!(self.child.try_wait(), Ok(Some(_))) && family.iter().all(|p| !alive(*p)) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // SAFETY: as above.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
            for p in &family {
                if alive(*p) {
                    libc::kill(*p, libc::SIGKILL);
                }
            }
        }
        let _ = self.child.wait();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Whether process `pid` exists and is not a zombie.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => stat_fields(&s).is_some_and(|(state, _)| state != 'Z'),
        Err(_) => false,
    }
}

/// State and parent pid from a `/proc/<pid>/stat` line.
fn stat_fields(stat: &str) -> Option<(char, i32)> {
    // The command name is in parentheses and may contain anything.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut it = rest.split_whitespace();
    let state = it.next()?.chars().next()?;
    let ppid = it.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Every process descended from `root` (children, their children, ...).
fn descendants(root: i32) -> Vec<i32> {
    let mut parent = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if let Ok(s) = std::fs::read_to_string(e.path().join("stat")) {
                if let Some((_, ppid)) = stat_fields(&s) {
                    parent.push((pid, ppid));
                }
            }
        }
    }
    let mut out = vec![];
    let mut frontier = vec![root];
    while let Some(p) = frontier.pop() {
        for &(c, pp) in &parent {
            if pp == p && !out.contains(&c) {
                out.push(c);
                frontier.push(c);
            }
        }
    }
    out
}

/// An HTTP agent that returns error statuses as responses (WebDriver puts
/// the reason in the body).
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// An open WebDriver session; dropping it closes the session (and with it
/// the browser).
pub(crate) struct Session {
    agent: ureq::Agent,
    base: String,
    id: Option<String>,
}

impl Session {
    /// Opens a session with `capabilities` (the `alwaysMatch` object).
    pub(crate) fn open(driver: &Driver, capabilities: Value) -> Result<Session> {
        let mut s = Session {
            agent: agent(),
            base: driver.base(),
            id: None,
        };
        let v = s
            .call(
                "POST",
                "/session",
                Some(json!({ "capabilities": { "alwaysMatch": capabilities } })),
                Duration::from_secs(60),
            )
            .map_err(|e| LabError::Player(format!("{e}; {}", driver.log_tail())))?;
        let id = v["sessionId"]
            .as_str()
            .ok_or_else(|| LabError::Player(format!("new session: no session id in {v}")))?;
        s.id = Some(id.to_string());
        Ok(s)
    }

    fn path(&self, tail: &str) -> String {
        format!("/session/{}{tail}", self.id.as_deref().unwrap_or(""))
    }

    /// Navigates to `url` and waits for the page to load.
    pub(crate) fn navigate(&self, url: &str) -> Result<()> {
        self.call(
            "POST",
            &self.path("/url"),
            Some(json!({ "url": url })),
            Duration::from_secs(40),
        )
        .map(|_| ())
    }

    /// Runs `script` (a function body) in the page and returns its value.
    pub(crate) fn execute(&self, script: &str) -> Result<Value> {
        self.call(
            "POST",
            &self.path("/execute/sync"),
            Some(json!({ "script": script, "args": [] })),
            Duration::from_secs(20),
        )
    }

    /// Closes the session (and the browser); errors are ignored.
    pub(crate) fn close(&mut self) {
        if self.id.is_some() {
            let _ = self.call("DELETE", &self.path(""), None, Duration::from_secs(10));
            self.id = None;
        }
    }

    /// One WebDriver command; returns its `value`, or the driver's error.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        timeout: Duration,
    ) -> Result<Value> {
        let url = format!("{}{path}", self.base);
        let fail = |e: String| LabError::Player(format!("WebDriver {method} {path}: {e}"));
        let t = Some(timeout);
        let res = match (method, body) {
            ("POST", Some(b)) => self
                .agent
                .post(&url)
                .config()
                .timeout_global(t)
                .build()
                .send_json(b),
            ("DELETE", _) => self
                .agent
                .delete(&url)
                .config()
                .timeout_global(t)
                .build()
                .call(),
            _ => self
                .agent
                .get(&url)
                .config()
                .timeout_global(t)
                .build()
                .call(),
        };
        let mut res = res.map_err(|e| fail(e.to_string()))?;
        let status = res.status();
        let v: Value = res
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_json()
            .map_err(|e| fail(format!("HTTP {status}: unreadable answer: {e}")))?;
        if status.is_success() {
            return Ok(v["value"].clone());
        }
        let err = v["value"]["error"].as_str().unwrap_or("unknown error");
        let msg = v["value"]["message"].as_str().unwrap_or("");
        let msg = msg.lines().next().unwrap_or("");
        Err(fail(format!("{err}: {msg}")))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_with_odd_names_parse() {
        let s = "1234 (chrome (x) y) S 77 1234 1234 0 -1 4194560";
        assert_eq!(stat_fields(s), Some(('S', 77)));
        assert_eq!(stat_fields("garbage"), None);
    }

    #[test]
    fn a_child_is_a_descendant_and_dies_with_its_group() {
        let mut c = Command::new("sleep");
        c.arg("30").process_group(0);
        let mut child = c.spawn().unwrap();
        let me = i32::try_from(std::process::id()).unwrap();
        let pid = i32::try_from(child.id()).unwrap();
        assert!(descendants(me).contains(&pid));
        assert!(alive(pid));
        // SAFETY: our own child's group.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        child.wait().unwrap();
        assert!(!alive(pid));
    }
}
