//! tapscope itself as the lab's network side: `tapscope run` on the tap
//! namespace's end of the mirror link, writing its tables into the run's
//! folder.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::{LabError, Result};

/// How long `tapscope run` may take to bind its queues.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long it may take to flush its flows and close its files.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// The services file that labels the lab's server as a video service.
pub fn services_toml(server_domain: &str) -> String {
    format!(
        "# The video lab's server: labelled as a video service like any other.\n\
         [[service]]\n\
         name = \"tapscope-lab\"\n\
         display = \"tapscope lab video\"\n\
         category = \"video\"\n\
         domains = [\"{server_domain}\"]\n"
    )
}

/// The configuration to replay the run's pcap with (the lab's services
/// file, nothing else).
pub fn replay_toml(services: &Path) -> String {
    format!(
        "# Written by tapscope lab video: tapscope replay --config THIS lab/mirror-*.pcap --out DIR\n\
         [classify]\n\
         services_file = \"{}\"\n",
        services.display()
    )
}

/// The capture's configuration.
pub fn config_toml(iface: &str, out: &Path, services: &Path, socket: &Path) -> String {
    format!(
        "# Written by tapscope lab video for its mirror capture.\n\
         [capture]\n\
         interface = \"{iface}\"\n\n\
         [output]\n\
         dir = \"{}\"\n\n\
         [classify]\n\
         services_file = \"{}\"\n\n\
         [control]\n\
         socket = \"{}\"\n",
        out.display(),
        services.display(),
        socket.display()
    )
}

/// A running `tapscope run`. Dropping it stops it.
pub struct Capture {
    child: Option<Child>,
    /// The capture's log (its standard error).
    pub log: PathBuf,
    /// The mode its queue got (`xdp-copy`, `xdp-zerocopy`, ...).
    pub mode: String,
}

impl Capture {
    /// Starts `tapscope run` in namespace `ns` on `iface` with `config`,
    /// and waits until its queue is bound.
    pub fn start(
        tapscope: &Path,
        ns: &str,
        iface: &str,
        out: &Path,
        config: &Path,
        log: &Path,
    ) -> Result<Capture> {
        let what = format!("tapscope run on {iface} (namespace {ns})");
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(tapscope)
            .arg("run")
            .arg("--config")
            .arg(config)
            .args(["--iface", iface])
            .arg("--out")
            .arg(out)
            .env("TAPSCOPE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group: a Ctrl-C reaches the lab, which stops
            // the capture last, after the session in progress.
            .process_group(0)
            .spawn()
            .map_err(|e| LabError::Command {
                what: what.clone(),
                detail: e.to_string(),
            })?;
        let stderr = child.stderr.take().expect("piped");
        let mut file = std::fs::File::create(log).map_err(|e| LabError::io(log, e))?;
        let (tx, rx) = mpsc::channel::<String>();
        std::thread::Builder::new()
            .name("lab-capture-log".into())
            .spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                    let _ = writeln!(file, "{line}");
                    let _ = tx.send(line);
                }
            })
            .map_err(|e| LabError::io(log, e))?;
        let mut cap = Capture {
            child: Some(child),
            log: log.to_path_buf(),
            mode: String::new(),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let mut seen = Vec::new();
        let needle = format!("{iface} queue 0: ");
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    if let Some(i) = line.find(&needle) {
                        cap.mode = line[i + needle.len()..].trim().to_string();
                        return Ok(cap);
                    }
                    seen.push(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout) if !left.is_zero() => {}
                Err(_) => {
                    let exited = cap.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
                    cap.stop_now();
                    let tail = seen.iter().rev().take(6).rev().cloned().collect::<Vec<_>>();
                    return Err(LabError::Command {
                        what,
                        detail: format!(
                            "{}: {}",
                            exited.map_or("did not bind its queue in time".to_string(), |s| s
                                .to_string()),
                            if tail.is_empty() {
                                "(no output)".into()
                            } else {
                                tail.join(" | ")
                            }
                        ),
                    });
                }
            }
        }
    }

    /// Whether the capture is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Stops the capture with SIGTERM (it writes its last flows and closes
    /// its files) and waits; an error if it had to be killed or failed.
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(s)) if s.success() => return Ok(()),
                Ok(Some(s)) => {
                    return Err(LabError::Command {
                        what: "tapscope run (mirror capture)".into(),
                        detail: format!("{s}; see {}", self.log.display()),
                    })
                }
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(LabError::Command {
                        what: "tapscope run (mirror capture)".into(),
                        detail: format!("did not stop within {STOP_TIMEOUT:?}; killed"),
                    });
                }
            }
        }
    }

    fn stop_now(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("lab: {e}");
        }
    }
}

/// The packets of the client's port written to a pcap file by tcpdump on
/// the router (the same packets the mirror carries), so that the run's
/// traffic can be replayed later (`tapscope replay`) by a newer tapscope
/// or any other tool.
pub struct Recorder {
    child: Option<Child>,
    path: PathBuf,
    lines: Arc<Mutex<Vec<String>>>,
}

/// What tcpdump said when it stopped.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Packets written.
    pub captured: u64,
    /// Packets the kernel dropped before tcpdump read them.
    pub dropped: u64,
}

impl Recorder {
    /// Starts tcpdump in namespace `ns` on `iface`, writing `path` with
    /// `snaplen` bytes of each packet (0: whole packets), and waits until
    /// it listens.
    pub fn start(ns: &str, iface: &str, path: &Path, snaplen: u32) -> Result<Recorder> {
        let what = format!("tcpdump on {iface} (namespace {ns})");
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "tcpdump", "-i", iface, "-n", "-U"])
            .args(["-s", &snaplen.to_string(), "-w"])
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| LabError::Command {
                what: what.clone(),
                detail: e.to_string(),
            })?;
        let stderr = child.stderr.take().expect("piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<()>();
        let keep = Arc::clone(&lines);
        std::thread::Builder::new()
            .name("lab-tcpdump".into())
            .spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                    let listening = line.contains("listening on");
                    keep.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                    if listening {
                        let _ = tx.send(());
                    }
                }
            })
            .map_err(|e| LabError::io(path, e))?;
        let mut rec = Recorder {
            child: Some(child),
            path: path.to_path_buf(),
            lines,
        };
        if rx.recv_timeout(START_TIMEOUT).is_err() {
            rec.kill();
            let said = rec
                .lines
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .join(" | ");
            return Err(LabError::Command {
                what,
                detail: format!(
                    "did not start listening: {}",
                    if said.is_empty() {
                        "(no output)"
                    } else {
                        &said
                    }
                ),
            });
        }
        Ok(rec)
    }

    /// The pcap file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops tcpdump (SIGINT: it flushes and closes the file) and returns
    /// its counts.
    pub fn stop(&mut self) -> Result<Recorded> {
        let Some(mut child) = self.child.take() else {
            return Ok(Recorded::default());
        };
        // SAFETY: kill(2) on our own child's process group (tcpdump under
        // `ip netns exec`, which execs it in place).
        unsafe { libc::kill(-(child.id() as i32), libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(LabError::Command {
                        what: "tcpdump".into(),
                        detail: "did not stop within 10 s; killed".into(),
                    });
                }
            }
        }
        // The reader thread sees the counts once tcpdump's stderr closes.
        std::thread::sleep(Duration::from_millis(100));
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        Ok(tcpdump_counts(&lines))
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("lab: {e}");
        }
    }
}

/// tcpdump's closing counts (`N packets captured`, `N packets dropped by
/// kernel`).
fn tcpdump_counts(lines: &[String]) -> Recorded {
    let mut r = Recorded::default();
    for l in lines {
        let mut words = l.split_whitespace();
        let (Some(n), Some(_packets)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        let rest: Vec<&str> = words.collect();
        match rest.as_slice() {
            ["captured"] => r.captured = n,
            ["dropped", "by", "kernel"] => r.dropped = n,
            _ => {}
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_capture_config_and_services_file_are_valid_toml() {
        let c = config_toml(
            "m1",
            Path::new("/tmp/out"),
            Path::new("/tmp/s.toml"),
            Path::new("/tmp/t.sock"),
        );
        let v: toml::Value = toml::from_str(&c).unwrap();
        assert_eq!(v["capture"]["interface"].as_str(), Some("m1"));
        assert_eq!(v["classify"]["services_file"].as_str(), Some("/tmp/s.toml"));
        let s: toml::Value = toml::from_str(&services_toml("lab.test")).unwrap();
        assert_eq!(s["service"][0]["category"].as_str(), Some("video"));
        assert_eq!(s["service"][0]["domains"][0].as_str(), Some("lab.test"));
        let r: toml::Value = toml::from_str(&replay_toml(Path::new("/o/lab/s.toml"))).unwrap();
        assert_eq!(
            r["classify"]["services_file"].as_str(),
            Some("/o/lab/s.toml")
        );
    }

    #[test]
    fn tcpdump_counts_are_read() {
        let lines: Vec<String> = [
            "tcpdump: listening on rc, link-type EN10MB (Ethernet), snapshot length 262144 bytes",
            "1234 packets captured",
            "1240 packets received by filter",
            "6 packets dropped by kernel",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            tcpdump_counts(&lines),
            Recorded {
                captured: 1234,
                dropped: 6
            }
        );
        assert_eq!(tcpdump_counts(&[]), Recorded::default());
    }
}
