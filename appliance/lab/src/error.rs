//! What can go wrong in the lab, worded for the person running it.

use std::path::PathBuf;

/// A lab failure. Every variant names what failed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// Tools the lab needs are not installed.
    #[error("missing: {}; install them with `scripts/deps lab`", .0.join(", "))]
    Missing(Vec<String>),
    /// A command could not be started or exited with an error.
    #[error("{what} failed: {detail}")]
    Command {
        /// What was being done (`ffmpeg (title t1)`, `ip netns add ...`).
        what: String,
        /// Exit status and the end of its standard error.
        detail: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The player or its browser failed.
    #[error("player: {0}")]
    Player(String),
    /// The request makes no sense (a cap of 0, a negative duration, ...).
    #[error("{0}")]
    Invalid(String),
    /// The run was interrupted (SIGINT/SIGTERM).
    #[error("interrupted")]
    Interrupted,
    /// Writing a table failed.
    #[error("writing {table}: {detail}")]
    Sink {
        /// The table.
        table: &'static str,
        /// The error.
        detail: String,
    },
}

impl LabError {
    /// An IO error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> LabError {
        LabError::Io {
            path: path.into(),
            source,
        }
    }
}

/// The lab's result type.
pub type Result<T, E = LabError> = std::result::Result<T, E>;
