//! Reads every capture in `../shared/testdata/pcap/` with [`PcapSource`] and
//! checks it frame by frame against tshark on the same file: frame count,
//! wire and captured lengths (and their sums), and timestamps to the
//! nanosecond.
//!
//! Skips (with a message) only when the test data folder is missing; fails
//! when tshark is missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use datapath::source::pcap::PcapSource;
use datapath::source::{FrameSource, Poll};

const TESTDATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/testdata/pcap");

/// One frame as both readers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rec {
    wire_len: u64,
    cap_len: u64,
    ts_ns: u64,
}

struct Ours {
    frames: Vec<Rec>,
    invalid: u64,
    bytes_read: u64,
    file_len: Option<u64>,
}

fn read_ours(path: &Path) -> Result<Ours, String> {
    let mut src = PcapSource::open(path).map_err(|e| format!("open failed: {e}"))?;
    let mut frames = Vec::new();
    let mut polls = 0u64;
    loop {
        polls += 1;
        if polls > 10_000_000 {
            return Err("reader does not reach End".into());
        }
        let p = src.poll_batch(32, |f| {
            frames.push(Rec {
                wire_len: u64::from(f.wire_len),
                cap_len: f.data.len() as u64,
                ts_ns: f.ts_ns,
            })
        });
        match p {
            Poll::Frames(n) if (1..=32).contains(&n) => {}
            Poll::Frames(n) => return Err(format!("poll_batch returned Frames({n})")),
            Poll::Idle { .. } => return Err("a capture file returned Idle".into()),
            Poll::End => break,
        }
    }
    if src.poll_batch(32, |_| {}) != Poll::End {
        return Err("End is not final".into());
    }
    if src.packets_read() != frames.len() as u64 {
        return Err(format!(
            "packets_read() = {} but {} frames delivered",
            src.packets_read(),
            frames.len()
        ));
    }
    Ok(Ours {
        frames,
        invalid: src.stats().invalid,
        bytes_read: src.bytes_read(),
        file_len: src.file_len(),
    })
}

/// "1595957694.169758000" → Unix nanoseconds, without going through a float.
fn parse_epoch(s: &str) -> Option<u64> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut ns: String = frac.chars().take(9).collect();
    while ns.len() < 9 {
        ns.push('0');
    }
    let secs: u64 = secs.parse().ok()?;
    let ns: u64 = ns.parse().ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(ns)
}

struct Theirs {
    frames: Vec<Rec>,
    /// tshark's complaint, if it did not read the file cleanly.
    problem: Option<String>,
}

fn read_tshark(path: &Path) -> Result<Theirs, String> {
    let out = Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(path)
        .args(["-T", "fields", "-E", "separator=/t"])
        .args([
            "-e",
            "frame.len",
            "-e",
            "frame.cap_len",
            "-e",
            "frame.time_epoch",
        ])
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "tshark not found: this test compares the pcap reader with tshark; \
             install it (e.g. `apt-get install tshark`)"
        ),
        Err(e) => panic!("cannot run tshark: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.contains("Running as user"))
        .collect();
    let problem = (!out.status.success() || !complaints.is_empty())
        .then(|| format!("tshark {}: {}", out.status, complaints.join(" | ")));
    let mut frames = Vec::new();
    for (i, line) in stdout.lines().enumerate() {
        let f: Vec<&str> = line.split('\t').collect();
        let bad = || format!("tshark line {}: unexpected {line:?}", i + 1);
        if f.len() != 3 {
            return Err(bad());
        }
        frames.push(Rec {
            wire_len: f[0].parse().map_err(|_| bad())?,
            cap_len: f[1].parse().map_err(|_| bad())?,
            ts_ns: parse_epoch(f[2]).ok_or_else(bad)?,
        });
    }
    Ok(Theirs { frames, problem })
}

fn check(path: &Path) -> Result<String, String> {
    let ours = read_ours(path)?;
    let theirs = read_tshark(path)?;
    let (a, b) = (&ours.frames, &theirs.frames);
    let sum = |v: &[Rec], f: fn(&Rec) -> u64| v.iter().map(f).sum::<u64>();
    let mut errors = Vec::new();
    if a.len() != b.len() {
        errors.push(format!("frames: ours {} tshark {}", a.len(), b.len()));
    }
    let (wa, wb) = (sum(a, |r| r.wire_len), sum(b, |r| r.wire_len));
    if wa != wb {
        errors.push(format!("sum of wire lengths: ours {wa} tshark {wb}"));
    }
    let (ca, cb) = (sum(a, |r| r.cap_len), sum(b, |r| r.cap_len));
    if ca != cb {
        errors.push(format!("sum of captured lengths: ours {ca} tshark {cb}"));
    }
    if a.first().map(|r| r.ts_ns) != b.first().map(|r| r.ts_ns) {
        errors.push(format!(
            "first timestamp: ours {:?} tshark {:?}",
            a.first().map(|r| r.ts_ns),
            b.first().map(|r| r.ts_ns)
        ));
    }
    if a.last().map(|r| r.ts_ns) != b.last().map(|r| r.ts_ns) {
        errors.push(format!(
            "last timestamp: ours {:?} tshark {:?}",
            a.last().map(|r| r.ts_ns),
            b.last().map(|r| r.ts_ns)
        ));
    }
    if let Some(i) = (0..a.len().min(b.len())).find(|&i| a[i] != b[i]) {
        errors.push(format!(
            "first differing frame #{}: ours {:?} tshark {:?}",
            i + 1,
            a[i],
            b[i]
        ));
    }
    // A file tshark reads cleanly must be clean for us too, and consumed to
    // its last byte.
    if theirs.problem.is_none() {
        if ours.invalid != 0 {
            errors.push(format!("{} invalid records; tshark saw none", ours.invalid));
        }
        if Some(ours.bytes_read) != ours.file_len {
            errors.push(format!(
                "bytes_read {} != file_len {:?}",
                ours.bytes_read, ours.file_len
            ));
        }
    }
    if errors.is_empty() {
        Ok(format!(
            "{} frames, {wa} bytes, invalid {}{}",
            a.len(),
            ours.invalid,
            theirs
                .problem
                .map(|p| format!(" ({p})"))
                .unwrap_or_default()
        ))
    } else {
        if let Some(p) = theirs.problem {
            errors.push(p);
        }
        Err(errors.join("; "))
    }
}

#[test]
fn pcap_every_capture_matches_tshark() {
    let dir = Path::new(TESTDATA);
    if !dir.is_dir() {
        println!(
            "SKIPPED: test captures not found at {} (the shared folder beside the checkout)",
            dir.display()
        );
        return;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list testdata")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no files in {}", dir.display());

    // Two threads: tshark dominates the run time.
    let queue = Mutex::new(files.clone());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let Some(path) = queue.lock().unwrap().pop() else {
                    break;
                };
                let r = check(&path);
                results.lock().unwrap().push((path, r));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(results.len(), files.len());
    let mut failures = Vec::new();
    for (path, r) in &results {
        let name = path.file_name().unwrap().to_string_lossy();
        match r {
            Ok(summary) => println!("ok   {name}: {summary}"),
            Err(e) => {
                println!("FAIL {name}: {e}");
                failures.push(format!("{name}: {e}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} captures differ from tshark:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn pcap_tshark_epoch_strings_parse_exactly() {
    assert_eq!(
        parse_epoch("1595957694.169758000"),
        Some(1_595_957_694_169_758_000)
    );
    assert_eq!(
        parse_epoch("1722540110.397706326"),
        Some(1_722_540_110_397_706_326)
    );
    assert_eq!(parse_epoch("1.5"), Some(1_500_000_000));
    assert_eq!(parse_epoch("7"), Some(7_000_000_000));
    assert_eq!(parse_epoch("-1.5"), None);
}
