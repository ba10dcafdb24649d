//! The peers, run as child processes on the same pcap file, and how each one
//! proves it processed every packet.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use arrow::array::{Array, Int64Array, UInt64Array};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::sys::{run_child, which, ChildRun};

/// How many packets a peer says it saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// The peer reported this many packets.
    Count(u64),
    /// The peer did not say (why).
    Unknown(String),
}

/// A peer: how to run it on a file and how to read its packet count.
pub struct Peer {
    pub name: &'static str,
    /// The command line, for the report.
    pub cmdline: String,
    /// What its time includes.
    pub scope: &'static str,
    pub version: String,
    prog: PathBuf,
    args: Vec<String>,
    /// Where `tapscope replay` writes (emptied before every run).
    out_dir: Option<PathBuf>,
    seen: fn(&ChildRun, Option<&Path>) -> Seen,
    /// Extra facts from the peer's own output (e.g. its self-reported time).
    notes: fn(&ChildRun, Option<&Path>) -> Vec<String>,
}

/// One run of one peer.
#[derive(Clone, Debug)]
pub struct PeerRun {
    pub child: ChildRun,
    pub seen: Seen,
    pub notes: Vec<String>,
}

impl Peer {
    pub fn run(&self, work: &Path, rep: usize) -> Result<PeerRun> {
        if let Some(d) = &self.out_dir {
            if d.exists() {
                std::fs::remove_dir_all(d)?;
            }
        }
        let mut cmd = Command::new(&self.prog);
        cmd.args(&self.args);
        let tag = format!("{}-{rep}", self.name.replace(' ', "_"));
        let child = run_child(&mut cmd, work, &tag)?;
        let seen = match child.code {
            Some(0) => (self.seen)(&child, self.out_dir.as_deref()),
            Some(c) => Seen::Unknown(format!(
                "exit code {c}: {}",
                child.stderr.lines().last().unwrap_or("")
            )),
            None => Seen::Unknown("killed by a signal".into()),
        };
        let notes = (self.notes)(&child, self.out_dir.as_deref());
        Ok(PeerRun { child, seen, notes })
    }
}

fn no_notes(_: &ChildRun, _: Option<&Path>) -> Vec<String> {
    Vec::new()
}

/// A peer that is not installed, with why.
pub struct Missing {
    pub name: &'static str,
    pub why: String,
}

/// Builds the peers for `file`; `work` is a scratch folder (their cwd).
pub fn peers(
    file: &Path,
    work: &Path,
    tapscope: &Path,
    flow_capacity: usize,
) -> (Vec<Peer>, Vec<Missing>) {
    let f = file.display().to_string();
    // For the report: the file as FILE, the scratch folder as TMP.
    let w = work.display().to_string();
    let show = |prog: &str, args: &[String]| {
        format!("{prog} {}", args.join(" "))
            .replace(&f, "FILE")
            .replace(&w, "TMP")
    };
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for peer in [
        tcpdump(&f, &show),
        ndpi_reader(&f, &show),
        softflowd(&f, work, flow_capacity, &show),
        tapscope_replay(&f, work, tapscope, &show),
    ] {
        match peer {
            Ok(p) => found.push(p),
            Err(m) => missing.push(m),
        }
    }
    (found, missing)
}

/// A peer's command line for the report, from its program and arguments.
type Show<'a> = &'a dyn Fn(&str, &[String]) -> String;

/// `tcpdump --count` on `f`: reading the file through libpcap.
fn tcpdump(f: &str, show: Show<'_>) -> Result<Peer, Missing> {
    let Some(prog) = which("tcpdump") else {
        return Err(Missing {
            name: "tcpdump",
            why: "not installed (apt-get install tcpdump)".into(),
        });
    };
    // `--count` reads every record through libpcap and prints only
    // the count: the cost of reading the file, nothing else.
    let args = vec!["-n".into(), "-r".into(), f.to_string(), "--count".into()];
    Ok(Peer {
        name: "tcpdump",
        cmdline: show("tcpdump", &args),
        scope: "file read via libpcap only (baseline)",
        version: first_line(&prog, &["--version"], |l| l.starts_with("tcpdump")),
        prog,
        args,
        out_dir: None,
        seen: |c, _| tcpdump_seen(&c.stdout),
        notes: no_notes,
    })
}

/// `ndpiReader -i` on `f`: parse, flows and DPI classification.
fn ndpi_reader(f: &str, show: Show<'_>) -> Result<Peer, Missing> {
    let Some(prog) = which("ndpiReader") else {
        return Err(Missing {
            name: "ndpiReader",
            why: "not installed (apt-get install libndpi-bin)".into(),
        });
    };
    // Not `-q`: quiet mode also drops the final summary, which holds
    // the packet count we check. The summary is ~80 lines at exit.
    // Its cwd is the scratch folder: nDPI 4.2 creates two empty
    // CSV files (ses_/des_result.csv) there at start.
    let args = vec!["-i".into(), f.to_string()];
    Ok(Peer {
        name: "ndpiReader",
        cmdline: show("ndpiReader", &args),
        scope: "file read + parse + flow table + DPI classification",
        version: ndpi_version(&prog),
        prog,
        args,
        out_dir: None,
        seen: |c, _| ndpi_seen(&c.stdout),
        notes: |c, _| {
            let mut v = Vec::new();
            for key in [
                "Packet Processing Time:",
                "Setup Time:",
                "Unique flows:",
                "nDPI throughput:",
            ] {
                if let Some(l) = c.stdout.lines().find(|l| l.trim_start().starts_with(key)) {
                    v.push(format!("{} {}", key, l.trim_start()[key.len()..].trim()));
                }
            }
            v
        },
    })
}

/// `softflowd -r` on `f`: parse and NetFlow accounting, nothing exported.
fn softflowd(f: &str, work: &Path, flow_capacity: usize, show: Show<'_>) -> Result<Peer, Missing> {
    let Some(prog) = which("softflowd") else {
        return Err(Missing {
            name: "softflowd",
            why: "not installed (apt-get install softflowd)".into(),
        });
    };
    // -d: foreground, exits at the end of the file and prints its
    // statistics. No -n: without a collector softflowd exports
    // nothing (no socket is opened; checked with strace). -6: track
    // IPv6 too (v5 export would otherwise ignore it). -m: the same
    // flow capacity as tapscope's worker (default 8192). -p/-c: pid
    // file and control socket in the scratch folder, not /var/run.
    let args = vec![
        "-d".into(),
        "-6".into(),
        "-m".into(),
        flow_capacity.to_string(),
        "-p".into(),
        work.join("softflowd.pid").display().to_string(),
        "-c".into(),
        work.join("softflowd.ctl").display().to_string(),
        "-r".into(),
        f.to_string(),
    ];
    Ok(Peer {
        name: "softflowd",
        cmdline: show("softflowd", &args),
        scope: "file read + parse + flow table (NetFlow accounting, no export)",
        version: first_line(&prog, &["-h"], |l| l.contains("version"))
            .split("version ")
            .nth(1)
            .and_then(|v| v.split_whitespace().next())
            .map(|v| v.trim_end_matches('.').to_string())
            .unwrap_or_default(),
        prog,
        args,
        out_dir: None,
        seen: |c, _| softflowd_seen(&c.stdout),
        notes: |c, _| {
            c.stdout
                .lines()
                .filter(|l| l.starts_with("Ignored packets:") || l.starts_with("Flows expired:"))
                .map(str::to_string)
                .collect()
        },
    })
}

/// `tapscope replay` on `f`: the whole product, Parquet included.
fn tapscope_replay(f: &str, work: &Path, tapscope: &Path, show: Show<'_>) -> Result<Peer, Missing> {
    if which(&tapscope.display().to_string()).is_none() {
        return Err(Missing {
            name: "tapscope replay",
            why: format!(
                "{} not found (cargo build --release -p tapscope, or --tapscope PATH)",
                tapscope.display()
            ),
        });
    }
    let out = work.join("tapscope-out");
    let args = vec![
        "replay".into(),
        f.to_string(),
        "--out".into(),
        out.display().to_string(),
        "-q".into(),
    ];
    Ok(Peer {
        name: "tapscope replay",
        cmdline: show("tapscope", &args),
        scope: "file read + parse + flow table + Parquet writing (all threads)",
        version: first_line(tapscope, &["--version"], |_| true),
        prog: tapscope.to_path_buf(),
        args,
        out_dir: Some(out),
        seen: |_, out| match out.map(capture_packets) {
            Some(Ok(n)) => Seen::Count(n),
            Some(Err(e)) => Seen::Unknown(format!("capture table unreadable: {e:#}")),
            None => Seen::Unknown("no output folder".into()),
        },
        notes: |_, out| {
            let Some(out) = out else { return Vec::new() };
            let mut v = Vec::new();
            for table in ["flows", "capture"] {
                let mut files = Vec::new();
                if collect_parquet(&out.join(table), &mut files).is_ok() {
                    v.push(format!("wrote {} Parquet files in `{table}`", files.len()));
                }
            }
            v
        },
    })
}

/// `tcpdump --count` prints "1000000 packets".
fn tcpdump_seen(out: &str) -> Seen {
    out.lines()
        .find_map(|l| {
            l.strip_suffix(" packets")
                .and_then(|n| n.trim().parse().ok())
        })
        .map_or_else(|| Seen::Unknown("no count printed".into()), Seen::Count)
}

/// ndpiReader's summary: "IP packets:   123   of 456 packets total".
fn ndpi_seen(out: &str) -> Seen {
    out.lines()
        .find(|l| l.trim_start().starts_with("IP packets:"))
        .and_then(|l| {
            let toks: Vec<&str> = l.split_whitespace().collect();
            let i = toks.iter().position(|t| *t == "of")?;
            toks.get(i + 1)?.parse().ok()
        })
        .map_or_else(
            || Seen::Unknown("no packet total in summary".into()),
            Seen::Count,
        )
}

/// softflowd counts a frame either in "Packets processed" (IP, including
/// runts it then ignores as "too short") or as non-IP:
/// "Ignored packets: K (N non-IP, B too short)".
fn softflowd_seen(out: &str) -> Seen {
    let processed = out.lines().find_map(|l| {
        l.strip_prefix("Packets processed:")?
            .trim()
            .parse::<u64>()
            .ok()
    });
    let non_ip = out.lines().find_map(|l| {
        let rest = l.strip_prefix("Ignored packets:")?;
        let inner = rest.split('(').nth(1)?;
        inner.split_whitespace().next()?.parse::<u64>().ok()
    });
    match (processed, non_ip) {
        (Some(p), Some(n)) => Seen::Count(p + n),
        _ => Seen::Unknown("no statistics printed".into()),
    }
}

/// Sum of `packets` over every file of the `capture` table under `out`:
/// what `tapscope replay` itself recorded as received.
fn capture_packets(out: &Path) -> Result<u64> {
    let mut files = Vec::new();
    collect_parquet(&out.join("capture"), &mut files)?;
    anyhow::ensure!(
        !files.is_empty(),
        "no capture files under {}",
        out.display()
    );
    let mut total = 0u64;
    for p in files {
        let f = File::open(&p).with_context(|| p.display().to_string())?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(f)?.build()?;
        for batch in reader {
            let batch = batch?;
            let col = batch
                .column_by_name("packets")
                .context("no `packets` column")?;
            if let Some(a) = col.as_any().downcast_ref::<UInt64Array>() {
                total += a.iter().flatten().sum::<u64>();
            } else if let Some(a) = col.as_any().downcast_ref::<Int64Array>() {
                total += a.iter().flatten().map(|v| v as u64).sum::<u64>();
            } else {
                anyhow::bail!("`packets` has type {}", col.data_type());
            }
        }
    }
    Ok(total)
}

fn collect_parquet(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| dir.display().to_string())? {
        let p = e?.path();
        if p.is_dir() {
            collect_parquet(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "parquet") {
            out.push(p);
        }
    }
    Ok(())
}

/// First line of `prog args` output (stdout then stderr) matching `pick`.
fn first_line(prog: &Path, args: &[&str], pick: fn(&str) -> bool) -> String {
    let Ok(o) = Command::new(prog).args(args).output() else {
        return String::new();
    };
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && pick(l))
        .unwrap_or("")
        .to_string()
}

/// "Welcome to nDPI 4.2.0" from `ndpiReader -h`.
fn ndpi_version(prog: &Path) -> String {
    first_line(prog, &["-h"], |l| l.contains("nDPI"))
        .split_whitespace()
        .last()
        .unwrap_or("")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_counts_from_their_own_output() {
        assert_eq!(tcpdump_seen("1000000 packets\n"), Seen::Count(1_000_000));
        assert!(matches!(tcpdump_seen(""), Seen::Unknown(_)));
        let ndpi = "Traffic statistics:\n\tEthernet bytes:        1049448\n\
                    \tIP packets:            1793          of 1800 packets total\n";
        assert_eq!(ndpi_seen(ndpi), Seen::Count(1800));
        assert!(matches!(ndpi_seen("Using nDPI (4.2.0)"), Seen::Unknown(_)));
        let sf = "Number of active flows: 0\nPackets processed: 49326\nFragments: 0\n\
                  Ignored packets: 718 (674 non-IP, 44 too short)\n";
        assert_eq!(softflowd_seen(sf), Seen::Count(50_000));
        assert!(matches!(
            softflowd_seen("Packets processed: 3\n"),
            Seen::Unknown(_)
        ));
    }
}
