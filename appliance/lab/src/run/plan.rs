//! The plan of a run (which session plays which title under which cap, in
//! a shuffled but seeded order) and its journal (`<out>/lab/run.json`),
//! which makes an interrupted run resumable.

use std::path::{Path, PathBuf};

use model::lab::LabSession;
use serde::{Deserialize, Serialize};

use crate::error::{LabError, Result};

/// What a run was asked to do. A rerun with the same folder continues only
/// if these are the same.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunParams {
    /// Sessions to play.
    pub sessions: u32,
    /// Length of each session, seconds.
    pub duration_s: u32,
    /// Bandwidth caps, Mbit/s.
    pub caps_mbps: Vec<f64>,
    /// Titles (synthetic sources) played.
    pub titles: Vec<String>,
    /// Seed of the order.
    pub seed: u64,
    /// The ladder ([`crate::content::Ladder::describe`]).
    pub ladder: String,
    /// The player adapter.
    pub player: String,
}

/// One planned session.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    /// Its place in the plan.
    pub index: u32,
    /// Cap, Mbit/s.
    pub cap_mbps: f64,
    /// Title.
    pub title: String,
}

/// Checks the numbers a user gives; the message says what is wrong.
pub fn validate(p: &RunParams) -> Result<()> {
    let bad = |m: String| Err(LabError::Invalid(m));
    if p.caps_mbps.is_empty() {
        return bad("--bandwidth: give at least one cap, Mbit/s (e.g. 0.5,1,2,5,20)".into());
    }
    for c in &p.caps_mbps {
        if !(c.is_finite() && *c > 0.0) {
            return bad(format!(
                "--bandwidth: a cap of {c} Mbit/s is not possible; caps must be positive"
            ));
        }
        if *c > 10_000.0 {
            return bad(format!(
                "--bandwidth: {c} Mbit/s is beyond what the lab's links can shape"
            ));
        }
    }
    if p.sessions == 0 {
        return bad("--sessions must be at least 1".into());
    }
    if !(p.sessions as usize).is_multiple_of(p.caps_mbps.len()) {
        return bad(format!(
            "--sessions {} is not a multiple of the {} caps: every cap gets the same number of sessions",
            p.sessions,
            p.caps_mbps.len()
        ));
    }
    if p.duration_s < 5 {
        return bad(format!(
            "--duration {}: sessions must last at least 5 seconds",
            p.duration_s
        ));
    }
    if p.titles.is_empty() {
        return bad("--titles must be at least 1".into());
    }
    Ok(())
}

/// The sessions of a run: every cap the same number of times, titles
/// spread evenly over each cap, the whole list shuffled with `seed`.
pub fn plan(p: &RunParams) -> Vec<Planned> {
    let per_cap = p.sessions as usize / p.caps_mbps.len().max(1);
    let mut list = Vec::with_capacity(p.sessions as usize);
    for (ci, cap) in p.caps_mbps.iter().enumerate() {
        for j in 0..per_cap {
            let title = p.titles[(j + ci) % p.titles.len()].clone();
            list.push((*cap, title));
        }
    }
    let mut rng = fastrand::Rng::with_seed(p.seed);
    rng.shuffle(&mut list);
    list.into_iter()
        .enumerate()
        .map(|(i, (cap_mbps, title))| Planned {
            index: i as u32,
            cap_mbps,
            title,
        })
        .collect()
}

/// The journal of a run: its parameters, its sessions so far and what of
/// it reached the tables.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Journal {
    /// Name of the run.
    pub run: String,
    /// Parameters; `None` only before the first save.
    pub params: Option<RunParams>,
    /// When the first attempt started.
    pub started_ns: u64,
    /// Every recorded session (ok or failed), in the order played.
    pub sessions: Vec<LabSession>,
    /// Sessions (by plan index) already in `lab_sessions` files.
    pub written: Vec<u32>,
    /// The `lab_runs` files the last attempt wrote (replaced by the next).
    pub run_files: Vec<PathBuf>,
}

impl Journal {
    /// The journal's file under `out`.
    pub fn path(out: &Path) -> PathBuf {
        out.join("lab").join("run.json")
    }

    /// The journal in `out`, if a run was started there.
    pub fn load(out: &Path) -> Result<Option<Journal>> {
        let path = Journal::path(out);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                LabError::Invalid(format!(
                    "{}: not a lab journal ({e}); move it away to start a new run",
                    path.display()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LabError::io(path, e)),
        }
    }

    /// Saves the journal atomically (written beside, then renamed).
    pub fn save(&self, out: &Path) -> Result<()> {
        let path = Journal::path(out);
        let dir = path.parent().unwrap_or(out);
        std::fs::create_dir_all(dir).map_err(|e| LabError::io(dir, e))?;
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| LabError::Invalid(format!("encoding the journal: {e}")))?;
        std::fs::write(&tmp, bytes).map_err(|e| LabError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| LabError::io(&path, e))
    }

    /// Whether plan entry `index` is recorded.
    pub fn has(&self, index: u32) -> bool {
        self.sessions.iter().any(|s| s.session == index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> RunParams {
        RunParams {
            sessions: 40,
            duration_s: 60,
            caps_mbps: vec![0.5, 1.0, 2.0, 5.0, 20.0],
            titles: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            seed: 7,
            ladder: "l".into(),
            player: "dashjs".into(),
        }
    }

    #[test]
    fn every_cap_equally_and_titles_spread() {
        let p = plan(&params());
        assert_eq!(p.len(), 40);
        for cap in [0.5, 1.0, 2.0, 5.0, 20.0] {
            let of_cap: Vec<_> = p.iter().filter(|s| s.cap_mbps == cap).collect();
            assert_eq!(of_cap.len(), 8);
            for t in ["a", "b", "c", "d"] {
                assert_eq!(
                    of_cap.iter().filter(|s| s.title == t).count(),
                    2,
                    "{cap} {t}"
                );
            }
        }
        // Seeded: the same seed gives the same order, another seed another.
        assert_eq!(p, plan(&params()));
        let other = plan(&RunParams {
            seed: 8,
            ..params()
        });
        assert_ne!(p, other);
        // Shuffled: not grouped by cap.
        assert!(p.windows(2).any(|w| w[0].cap_mbps != w[1].cap_mbps));
        assert!(p.iter().enumerate().all(|(i, s)| s.index == i as u32));
    }

    #[test]
    fn bad_numbers_are_refused_with_a_reason() {
        let check = |f: &dyn Fn(&mut RunParams), needle: &str| {
            let mut p = params();
            f(&mut p);
            let e = validate(&p).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        };
        check(&|p| p.caps_mbps = vec![0.0, 1.0], "positive");
        check(&|p| p.caps_mbps = vec![-2.0, 1.0], "positive");
        check(&|p| p.caps_mbps.clear(), "at least one cap");
        check(&|p| p.sessions = 41, "multiple");
        check(&|p| p.sessions = 0, "at least 1");
        check(&|p| p.duration_s = 0, "at least 5");
        check(&|p| p.titles.clear(), "titles");
        assert!(validate(&params()).is_ok());
    }

    #[test]
    fn journal_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Journal::load(dir.path()).unwrap().is_none());
        let j = Journal {
            run: "r".into(),
            params: Some(params()),
            started_ns: 5,
            sessions: vec![LabSession {
                session: 3,
                ..Default::default()
            }],
            written: vec![],
            run_files: vec![],
        };
        j.save(dir.path()).unwrap();
        let back = Journal::load(dir.path()).unwrap().unwrap();
        assert_eq!(back.params, j.params);
        assert!(back.has(3) && !back.has(2));
        std::fs::write(Journal::path(dir.path()), "garbage").unwrap();
        assert!(Journal::load(dir.path()).is_err());
    }
}
