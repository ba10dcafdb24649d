//! Clocks, child processes and machine facts.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// CPU time consumed by the calling thread so far.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// What one child process cost.
#[derive(Clone, Debug)]
pub struct ChildRun {
    pub wall: Duration,
    pub user: Duration,
    pub sys: Duration,
    /// Exit code, or `None` if killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl ChildRun {
    pub fn cpu(&self) -> Duration {
        self.user + self.sys
    }
}

fn tv(t: libc::timeval) -> Duration {
    Duration::new(t.tv_sec as u64, (t.tv_usec as u32) * 1_000)
}

/// Runs `cmd` in `cwd` with stdout/stderr going to files there (no pipes,
/// so nothing in this process competes with the child while it runs), and
/// reaps it with `wait4` to get its own user and system CPU time (threads
/// and reaped descendants included).
pub fn run_child(cmd: &mut Command, cwd: &Path, tag: &str) -> Result<ChildRun> {
    let out_path = cwd.join(format!("{tag}.stdout"));
    let err_path = cwd.join(format!("{tag}.stderr"));
    let out = File::create(&out_path)?;
    let err = File::create(&err_path)?;
    cmd.current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let start = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: all-zero is a valid rusage.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = loop {
        // SAFETY: pid is our child; status and ru are valid and writable.
        let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if rc == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break rc;
    };
    let wall = start.elapsed();
    anyhow::ensure!(rc == pid, "wait4: {}", std::io::Error::last_os_error());
    // The child is reaped; `Child` does nothing on drop.
    drop(child);
    let code = if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else {
        None
    };
    Ok(ChildRun {
        wall,
        user: tv(ru.ru_utime),
        sys: tv(ru.ru_stime),
        code,
        stdout: String::from_utf8_lossy(&std::fs::read(&out_path)?).into_owned(),
        stderr: String::from_utf8_lossy(&std::fs::read(&err_path)?).into_owned(),
    })
}

/// First executable called `name` on PATH (or `name` itself if it has a slash).
pub fn which(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let exec = |p: &Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if name.contains('/') {
        let p = PathBuf::from(name);
        return exec(&p).then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    // softflowd and tcpdump live in sbin, which a non-root PATH may lack.
    dirs.extend(["/usr/sbin", "/sbin"].map(PathBuf::from));
    dirs.into_iter().map(|d| d.join(name)).find(|p| exec(p))
}

/// Facts about the machine the numbers were taken on.
#[derive(Clone, Debug, Default)]
pub struct Machine {
    pub cpu_model: String,
    pub logical_cpus: usize,
    pub kernel: String,
    pub loadavg_start: String,
    pub loadavg_end: String,
    /// rustc processes running when the benchmark started / ended (other
    /// people's builds compete for the same cores).
    pub rustc_start: usize,
    pub rustc_end: usize,
}

impl Machine {
    pub fn probe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|r| r.trim_start_matches([' ', '\t', ':']).trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let logical_cpus = cpuinfo
            .lines()
            .filter(|l| l.starts_with("processor"))
            .count();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        Machine {
            cpu_model,
            logical_cpus,
            kernel,
            loadavg_start: loadavg(),
            loadavg_end: String::new(),
            rustc_start: count_processes("rustc"),
            rustc_end: 0,
        }
    }

    pub fn finish(&mut self) {
        self.loadavg_end = loadavg();
        self.rustc_end = count_processes("rustc");
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Processes whose executable name is `comm` (from /proc/*/comm).
fn count_processes(comm: &str) -> usize {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return 0;
    };
    rd.filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read_to_string(e.path().join("comm"))
                .map(|c| c.trim() == comm)
                .unwrap_or(false)
        })
        .count()
}

/// Pins the calling thread to `core` (or the last core); returns the core id.
pub fn pin(core: Option<usize>) -> Option<usize> {
    let ids = core_affinity::get_core_ids()?;
    let id = match core {
        Some(c) => *ids.iter().find(|i| i.id == c)?,
        None => *ids.last()?,
    };
    core_affinity::set_for_current(id).then_some(id.id)
}
