//! The operator's commands: `tapscope status`, `top`, `flows`, `files` and
//! `counters`, clients of a running daemon's control socket ([`crate::ctl`]).
//!
//! Human output fits 100 columns and carries no escape codes unless `top`
//! runs on a terminal; `--json` prints the daemon's answer as JSON (the
//! shapes of [`model::status::Status`], [`classify::labeler::OpenFlow`],
//! [`control::ctl::FileEntry`] and [`config::CounterEntry`]). The status
//! view is [`render`]'s.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use rustix::event::{self, PollFd, PollFlags, Timespec};
use rustix::termios::{self, OptionalActions, Termios};

use classify::labeler::OpenFlow;
use config::CounterEntry;
use control::ctl::{self, ClientError, Command, FileEntry};
use model::status::Status;

pub(crate) mod render;

/// Width of the human output.
pub(crate) const WIDTH: usize = render::DEFAULT_WIDTH;

fn ask(socket: &Path, cmd: Command) -> Result<serde_json::Value> {
    ctl::request(socket, cmd).map_err(|e: ClientError| anyhow::anyhow!(e))
}

fn print_json(v: &serde_json::Value) -> Result<ExitCode> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(ExitCode::SUCCESS)
}

/// `tapscope status`.
pub(crate) fn status(socket: &Path, json: bool) -> Result<ExitCode> {
    let v = ask(socket, Command::Status)?;
    if json {
        return print_json(&v);
    }
    let s: Status = serde_json::from_value(v).context("reading the daemon's status")?;
    print!("{}", render::render(&s, WIDTH));
    Ok(ExitCode::SUCCESS)
}

/// `tapscope top`: the status view, refreshed every second; `q` quits.
/// On a terminal the screen is redrawn in place; otherwise each refresh is
/// printed plainly after the last.
pub(crate) fn top(socket: &Path, interval: Duration, iterations: Option<u64>) -> Result<ExitCode> {
    let tty = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    let _raw = if tty { RawMode::enter() } else { None };
    let mut n = 0u64;
    loop {
        let s: Status = serde_json::from_value(ask(socket, Command::Status)?)
            .context("reading the daemon's status")?;
        let view = render::render(&s, WIDTH);
        let mut o = std::io::stdout().lock();
        if tty {
            // Raw mode: lines need \r\n.
            write!(o, "\x1b[H\x1b[2J{}", view.replace('\n', "\r\n"))?;
            write!(o, "\r\n(q to quit)")?;
        } else {
            writeln!(o, "{view}")?;
        }
        o.flush()?;
        n += 1;
        if iterations.is_some_and(|i| n >= i) {
            break;
        }
        if tty {
            if key_within(interval) == Some(b'q') {
                break;
            }
        } else {
            std::thread::sleep(interval);
        }
    }
    if tty {
        print!("\r\n");
    }
    Ok(ExitCode::SUCCESS)
}

/// `tapscope flows [FILTER...]`.
pub(crate) fn flows(
    socket: &Path,
    filter: &[String],
    limit: usize,
    json: bool,
) -> Result<ExitCode> {
    let v = ask(
        socket,
        Command::Flows {
            filter: filter.join(" "),
            limit: Some(limit),
        },
    )?;
    if json {
        return print_json(&v);
    }
    let flows: Vec<OpenFlow> = serde_json::from_value(v).context("reading flows")?;
    print!("{}", render_flows(&flows));
    Ok(ExitCode::SUCCESS)
}

/// The human table of `tapscope flows`.
pub(crate) fn render_flows(flows: &[OpenFlow]) -> String {
    let mut s = String::new();
    if flows.is_empty() {
        s.push_str("no open flows match (flows appear after their first second)\n");
        return s;
    }
    s.push_str(&format!(
        "{:<5} {:<38} {:<22} {:<12} {:>9} {:>9}\n",
        "proto", "client -> server", "server name", "service", "up", "down"
    ));
    for f in flows {
        let proto = match f.protocol {
            6 => "tcp".to_string(),
            17 => "udp".to_string(),
            1 => "icmp".to_string(),
            58 => "icmp6".to_string(),
            p => p.to_string(),
        };
        let ends = format!(
            "{} -> {}",
            endpoint(&f.client_ip, f.client_port),
            endpoint(&f.server_ip, f.server_port)
        );
        s.push_str(&format!(
            "{:<5} {:<38} {:<22} {:<12} {:>9} {:>9}\n",
            proto,
            render::truncate(&ends, 38),
            render::truncate(f.server_name.as_deref().unwrap_or("-"), 22),
            render::truncate(&f.service, 12),
            render::human_bytes(f.c2s_bytes),
            render::human_bytes(f.s2c_bytes),
        ));
    }
    s
}

fn endpoint(ip: &str, port: u16) -> String {
    if port == 0 {
        ip.to_string()
    } else if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// `tapscope files [--since T]`.
pub(crate) fn files(socket: &Path, since: Option<&str>, json: bool) -> Result<ExitCode> {
    let since = since
        .map(|s| ctl::parse_since(s, ctl::now_unix_s()))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let v = ask(
        socket,
        Command::Files {
            since_unix_s: since,
        },
    )?;
    if json {
        return print_json(&v);
    }
    let files: Vec<FileEntry> = serde_json::from_value(v).context("reading files")?;
    print!("{}", render_files(&files));
    Ok(ExitCode::SUCCESS)
}

/// The human table of `tapscope files`.
pub(crate) fn render_files(files: &[FileEntry]) -> String {
    let mut s = String::new();
    if files.is_empty() {
        s.push_str("no complete files (yet)\n");
        return s;
    }
    s.push_str(&format!(
        "{:<14} {:>9}  {:<31} path\n",
        "table", "size", "data from - to (UTC)"
    ));
    let mut total = 0;
    for f in files {
        total += f.bytes;
        let range = match (f.first_unix_s, f.last_unix_s) {
            (Some(a), Some(b)) => {
                let (a, b) = (render::format_utc(a), render::format_utc(b));
                // "2024-05-01 10:15:00 - 10:19:59" when on one day.
                let b = if a[..10] == b[..10] {
                    b[11..19].to_string()
                } else {
                    b[..19].to_string()
                };
                format!("{} - {b}", &a[..19])
            }
            _ => format!("{} (closed)", &render::format_utc(f.modified_unix_s)[..19]),
        };
        let line = format!(
            "{:<14} {:>9}  {:<31} {}",
            f.table,
            render::human_bytes(f.bytes),
            range,
            f.path
        );
        s.push_str(&render::truncate(&line, WIDTH));
        s.push('\n');
    }
    s.push_str(&format!(
        "{} files, {}\n",
        render::group(files.len() as u64),
        render::human_bytes(total)
    ));
    s
}

/// `tapscope reload`.
pub(crate) fn reload(socket: &Path, json: bool) -> Result<ExitCode> {
    let v = ask(socket, Command::Reload)?;
    if json {
        return print_json(&v);
    }
    let done: Vec<String> = serde_json::from_value(v).context("reading the reload report")?;
    println!("configuration reloaded:");
    for d in done {
        println!("  {d}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `tapscope counters list|add|rm`.
pub(crate) fn counters(socket: &Path, cmd: Command, json: bool) -> Result<ExitCode> {
    let v = ask(socket, cmd)?;
    if json {
        return print_json(&v);
    }
    let list: Vec<CounterEntry> = serde_json::from_value(v).context("reading counters")?;
    print!("{}", render_counters(&list));
    Ok(ExitCode::SUCCESS)
}

/// The human table of `tapscope counters`.
pub(crate) fn render_counters(list: &[CounterEntry]) -> String {
    let mut s = format!(
        "{:<24} {:<11} {:<9} {:<9} {:<9}\n",
        "name", "key", "increment", "protocol", "direction"
    );
    for c in list {
        s.push_str(&format!(
            "{:<24} {:<11} {:<9} {:<9} {:<9}\n",
            render::truncate(&c.name, 24),
            c.key.name(),
            c.increment.name(),
            c.protocol.name(),
            c.direction.name()
        ));
    }
    if list.is_empty() {
        s.push_str("(no counters: heavy hitters are off)\n");
    }
    s
}

/// The terminal in raw mode (no echo, no line buffering) until dropped.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    fn enter() -> Option<RawMode> {
        let stdin = rustix::stdio::stdin();
        let saved = termios::tcgetattr(stdin).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(stdin, OptionalActions::Now, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(rustix::stdio::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// A key pressed within `wait` on stdin, if any.
fn key_within(wait: Duration) -> Option<u8> {
    let stdin = rustix::stdio::stdin();
    let mut fds = [PollFd::new(&stdin, PollFlags::IN)];
    let timeout = Timespec::try_from(wait).ok()?;
    if event::poll(&mut fds, Some(&timeout)).ok()? == 0 {
        return None;
    }
    let mut b = [0u8; 1];
    (rustix::io::read(stdin, &mut b).ok()? == 1).then_some(b[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_and_file_tables_fit_100_columns() {
        let f = OpenFlow {
            flow_id: 1,
            protocol: 6,
            client_ip: "2001:db8:1234:5678:9abc:def0:1234:5678".into(),
            client_port: 50_123,
            server_ip: "2001:db8::1".into(),
            server_port: 443,
            server_name: Some("a-very-long-server-name.video.example.com".into()),
            service: "netflix".into(),
            device: "phone".into(),
            c2s_packets: 10,
            c2s_bytes: 12_345,
            s2c_packets: 20,
            s2c_bytes: 9_876_543,
            first_unix_s: 0,
            last_unix_s: 0,
        };
        let t = render_flows(&[f]);
        assert!(t.lines().all(|l| l.chars().count() <= WIDTH), "{t}");
        assert!(t.contains("netflix"));
        let files = render_files(&[FileEntry {
            table: "flows".into(),
            path:
                "flows/date=2024-05-01/flows-tap-20240501T101500Z-1714558500000p42-000003.parquet"
                    .into(),
            bytes: 1_234_567,
            modified_unix_s: 1_714_558_800,
            date: "2024-05-01".into(),
            first_unix_s: Some(1_714_558_500),
            last_unix_s: Some(1_714_558_799),
        }]);
        assert!(files.lines().all(|l| l.chars().count() <= WIDTH), "{files}");
        assert!(files.contains("2024-05-01 10:15:00 - 10:19:59"), "{files}");
        assert!(render_files(&[]).contains("no complete files"));
    }
}
