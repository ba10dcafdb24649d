//! The one error of the crate: a configuration problem, located.

use std::fmt;
use std::path::PathBuf;

use classify::toml_span::{Located, SpanIndex};

/// A configuration problem, located as precisely as possible: shown as
/// `FILE:LINE: `KEY`: MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}{}: {message}", .file.display(), Line(*.line), Key(.key.as_deref()))]
pub struct ConfigError {
    /// The file (empty when the problem is not in one).
    pub file: PathBuf,
    /// Line (1-based), when known.
    pub line: Option<usize>,
    /// Dotted key, e.g. `flows.capacity` or `probes[1].kind`, when known.
    pub key: Option<String>,
    /// What is wrong and, where it helps, what would be right.
    pub message: String,
}

struct Line(Option<usize>);

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(l) => write!(f, ":{l}"),
            None => Ok(()),
        }
    }
}

struct Key<'a>(Option<&'a str>);

impl fmt::Display for Key<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(k) => write!(f, ": `{k}`"),
            None => Ok(()),
        }
    }
}

impl ConfigError {
    /// A problem with no place in a file.
    pub(crate) fn unplaced(file: PathBuf, key: Option<&str>, message: String) -> ConfigError {
        ConfigError {
            file,
            line: None,
            key: key.map(str::to_string),
            message,
        }
    }

    /// A problem with the value of a dotted key of `text`.
    pub(crate) fn at_key(
        file: PathBuf,
        index: &SpanIndex<'_>,
        key: &str,
        message: String,
    ) -> ConfigError {
        ConfigError {
            file,
            line: index.line_of(key),
            key: Some(key.to_string()),
            message,
        }
    }

    /// A problem serde found while reading `text`.
    pub(crate) fn from_toml(
        file: PathBuf,
        index: &SpanIndex<'_>,
        e: &toml::de::Error,
    ) -> ConfigError {
        let Located { line, key, message } = index.locate(e);
        ConfigError {
            file,
            line,
            key,
            message,
        }
    }
}
