//! Running the outside programs the lab is made of (ip, tc, ffmpeg, nginx,
//! openssl, chromedriver), with errors that say which one failed and why.

use std::process::{Command, Output, Stdio};

use crate::error::{LabError, Result};

/// Runs `program args...` to completion; an error carries the exit status
/// and the last lines of its standard error.
pub fn run(program: &str, args: &[&str]) -> Result<Output> {
    let mut c = Command::new(program);
    c.args(args);
    run_cmd(&mut c, &describe(program, args))
}

/// Runs `program args...` inside network namespace `ns` (`ip netns exec`).
pub fn run_in(ns: &str, program: &str, args: &[&str]) -> Result<Output> {
    let mut all = vec!["netns", "exec", ns, program];
    all.extend_from_slice(args);
    let mut c = Command::new("ip");
    c.args(&all);
    run_cmd(
        &mut c,
        &format!("{} (in namespace {ns})", describe(program, args)),
    )
}

/// Runs a prepared command to completion, standard input closed.
pub fn run_cmd(c: &mut Command, what: &str) -> Result<Output> {
    let out = c
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::Command {
            what: what.to_string(),
            detail: e.to_string(),
        })?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(LabError::Command {
            what: what.to_string(),
            detail: format!("{}: {}", out.status, tail(&out.stderr, 6)),
        })
    }
}

/// `program arg1 arg2 ...`, shortened for messages.
pub fn describe(program: &str, args: &[&str]) -> String {
    let mut s = program.to_string();
    for a in args.iter().take(8) {
        s.push(' ');
        s.push_str(a);
    }
    if args.len() > 8 {
        s.push_str(" ...");
    }
    s
}

/// The last `n` non-empty lines of `bytes`, joined with " | ".
pub fn tail(bytes: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(n);
    let t = lines[start..].join(" | ");
    if t.is_empty() {
        "(no output)".to_string()
    } else {
        t
    }
}

/// Whether `program` is on `PATH` (or is an existing path).
pub fn have(program: &str) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail(b"a\n\nb\nc\n", 2), "b | c");
        assert_eq!(tail(b"", 2), "(no output)");
    }

    #[test]
    fn a_failing_command_says_what_and_why() {
        let e = run("sh", &["-c", "echo boom >&2; exit 3"]).unwrap_err();
        let s = e.to_string();
        assert!(
            s.contains("sh -c") && s.contains("boom") && s.contains("3"),
            "{s}"
        );
        assert!(run("/nonexistent/tool", &[]).is_err());
        assert!(have("sh") && !have("no-such-tool-here"));
    }
}
