//! The TOML configuration: every key has a default; a bad file yields a
//! [`ConfigError`] naming the file, the line and the key, and why.
//!
//! serde reads the file into typed sections (enumerated values are enums,
//! each `[[probes]]` kind its own struct, unknown keys rejected); the
//! checks serde cannot make (ranges, addresses, files) follow in
//! `validate.rs`. Errors of both are placed by the TOML parser's spans
//! ([`classify::toml_span`]).

#![warn(missing_docs)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use classify::catalog::Catalog;
use classify::devices::LocalNets;
use classify::labeler::{Classifier, ClassifyConfig, SegmentRows};
use classify::toml_span::{unknown_field, SpanIndex};
use datapath::flow::segment::SegmentConfig;
use datapath::flow::FlowConfig;
use datapath::sketch::{SketchParams, SketchPlan};
use datapath::timeguard::TimeGuardConfig;
use datapath::worker::WorkerConfig;
use probe::{ProbeKind, ProbeTask};
use serde::Deserialize;

mod counters;
mod error;
mod probes;
mod sections;
mod validate;

pub use counters::{counter_entries, CounterEntry};
pub use error::ConfigError;
pub use probes::{
    Common, DnsEntry, EntryError, HttpEntry, HttpsEntry, IcmpEntry, NtpEntry, ProbeEntry, TcpEntry,
    ThroughputEntry, ThroughputProtocol, TracerouteEntry, UdpEchoEntry,
};
pub use sections::{
    CaptureSection, ClassifySection, ControlSection, FlowsSection, OutputSection, ProbeSection,
    SketchSection, VideoSection, XdpMode, ZeroCopyMode, DEFAULT_SOCKET,
};

const NS: u64 = 1_000_000_000;

/// The whole configuration. See `tapscope.example.toml` for every key.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Written into every row; defaults to the host name.
    pub tap_id: String,
    /// `[capture]`: sources and workers.
    pub capture: CaptureSection,
    /// `[flows]`: the flow tables.
    pub flows: FlowsSection,
    /// `[output]`: the Parquet tables.
    pub output: OutputSection,
    /// `[classify]`: names, services, devices.
    pub classify: ClassifySection,
    /// `[control]`: socket and metrics.
    pub control: ControlSection,
    /// `[sketch]`: heavy hitters, scans, flow sizes.
    pub sketch: SketchSection,
    /// `[probe]`: how the probes run.
    pub probe: ProbeSection,
    /// `[video]`: media segment detection.
    pub video: VideoSection,
    /// `[[probes]]`: the probe tasks.
    pub probes: Vec<ProbeEntry>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            tap_id: default_tap_id(),
            capture: CaptureSection::default(),
            flows: FlowsSection::default(),
            output: OutputSection::default(),
            classify: ClassifySection::default(),
            control: ControlSection::default(),
            sketch: SketchSection::default(),
            probe: ProbeSection::default(),
            video: VideoSection::default(),
            probes: Vec::new(),
        }
    }
}

fn default_tap_id() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "tap".to_string())
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::unplaced(path.to_path_buf(), None, format!("cannot read: {e}"))
        })?;
        Config::parse(&text, path)
    }

    /// Parses and validates configuration text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let index = SpanIndex::new(text);
            let mut err = ConfigError::from_toml(path.to_path_buf(), &index, &e);
            explain_probe_key(&mut err, &index, e.message());
            place_in_probe_entry(&mut err, &index);
            err
        })?;
        cfg.validate(text, path)?;
        Ok(cfg)
    }

    /// The probe tasks (validated by `parse`; an entry that is not valid,
    /// only possible for a Config built in code, is left out).
    pub fn probe_tasks(&self) -> Vec<ProbeTask> {
        self.probes.iter().filter_map(|e| e.task().ok()).collect()
    }

    /// The probe scheduler's settings.
    pub fn probe_settings(&self) -> probe::scheduler::Settings {
        probe::scheduler::Settings {
            max_concurrent: self.probe.max_concurrent,
            jitter: self.probe.jitter,
            buffer_rows: self.probe.buffer_rows,
            flush_every: Duration::from_secs(self.probe.flush_interval_s),
            once: false,
        }
    }

    /// The catalog and local subnets of `[classify]`. The configuration
    /// was validated, so this fails only if the services file changed since.
    pub fn catalog_and_local(&self) -> Result<(Arc<Catalog>, LocalNets), ConfigError> {
        let c = &self.classify;
        let catalog = if c.services_file.as_os_str().is_empty() {
            Catalog::builtin()
        } else {
            Catalog::with_user_file(&c.services_file)
                .map_err(|e| ConfigError::unplaced(c.services_file.clone(), None, e.to_string()))?
        };
        let local = if c.local_subnets.is_empty() {
            LocalNets::default()
        } else {
            LocalNets::parse(c.local_subnets.iter().map(String::as_str)).map_err(|e| {
                ConfigError::unplaced(Default::default(), Some("classify.local_subnets"), e)
            })?
        };
        Ok((Arc::new(catalog), local))
    }

    /// The classifier for `workers` workers (catalog, local subnets,
    /// interval).
    pub fn classifier(&self, workers: usize) -> Result<Classifier, ConfigError> {
        let (catalog, local) = self.catalog_and_local()?;
        Ok(Classifier::new(
            catalog,
            ClassifyConfig {
                local,
                interval_ns: self.classify.traffic_interval_s * NS,
                segments: match self.video.segments.as_str() {
                    "all" => SegmentRows::All,
                    "off" => SegmentRows::Off,
                    _ => SegmentRows::Video,
                },
                video_sessions: self.video.sessions && self.video.segments != "off",
            },
            workers,
        ))
    }

    /// Video session settings, or None when `video.sessions` is off.
    pub fn video_sessions(&self) -> Option<video::session::SessionConfig> {
        let v = &self.video;
        v.sessions.then(|| video::session::SessionConfig {
            session_idle_ns: (v.session_idle_s * NS as f64) as u64,
            closed_gap_ns: (v.session_closed_gap_s * NS as f64) as u64,
            close_lag_ns: ((v.segment_idle_s + 2.0) * NS as f64) as u64,
            // A finished flow is reported after its linger and the epoch.
            reorder_ns: (self.flows.tcp_closed_linger_s + 4) * NS,
            min_segments: v.session_min_segments,
            ..video::session::SessionConfig::default()
        })
    }

    /// The video model `video.model` names (the built-in one when empty,
    /// none for `none`), read and checked against the features the
    /// appliance computes.
    pub fn video_model(&self) -> Result<Option<Arc<video::model::Model>>, String> {
        let known = video::features::NAMES;
        let m = self.video.model.trim();
        if m == "none" {
            return Ok(None);
        }
        let (text, from) = if m.is_empty() {
            (
                video::model::DEFAULT_MODEL.to_string(),
                "the built-in model",
            )
        } else {
            let t = std::fs::read_to_string(m).map_err(|e| format!("reading {m}: {e}"))?;
            (t, m)
        };
        video::model::Model::from_json(&text, known)
            .map(|x| Some(Arc::new(x)))
            .map_err(|e| format!("{from}: {e}"))
    }

    /// The sketches every worker computes (generation 0).
    pub fn sketch_plan(&self) -> SketchPlan {
        let k = &self.sketch;
        SketchPlan {
            generation: 0,
            params: SketchParams {
                error: k.error,
                confidence: k.confidence,
                top_k: k.top_k,
                conservative: k.conservative_update,
                scans: k.scans,
                scan_width: k.scan_width,
                port_scan_threshold: k.port_scan_threshold,
                host_scan_threshold: k.host_scan_threshold,
                flow_sizes: k.flow_sizes,
                window_ns: self.capture.epoch_ms * 1_000_000 * k.window_epochs,
                write_state: k.write_state,
                sample_above_updates: k.sample_above_updates,
            },
            // Validated by `parse`; a bad entry (only possible for a Config
            // built in code) is left out rather than guessed at.
            counters: k.counters.iter().filter_map(|c| c.spec().ok()).collect(),
        }
    }

    /// Worker settings for worker `id`.
    pub fn worker(&self, id: u16) -> WorkerConfig {
        let f = &self.flows;
        WorkerConfig {
            id,
            epoch_ns: self.capture.epoch_ms * 1_000_000,
            batch_size: self.capture.batch_size,
            flows: FlowConfig {
                capacity: f.capacity,
                tcp_idle_ns: f.tcp_idle_timeout_s * NS,
                udp_idle_ns: f.udp_idle_timeout_s * NS,
                other_idle_ns: f.other_idle_timeout_s * NS,
                tcp_closed_linger_ns: f.tcp_closed_linger_s * NS,
                active_timeout_ns: f.active_timeout_s * NS,
                worker: id,
                segments: SegmentConfig {
                    enabled: self.video.segments != "off",
                    request_min_payload: self.video.request_min_payload,
                    min_bytes: self.video.segment_min_bytes,
                    idle_ns: (self.video.segment_idle_s * NS as f64) as u64,
                },
                ..FlowConfig::default()
            },
            time: self.time_guard(),
            ..WorkerConfig::default()
        }
    }

    /// Which timestamps may move time (`capture.max_time_jump_s`), with no
    /// ceiling (a replay sets one: [`TimeGuardConfig::with_ceiling_from`]).
    pub fn time_guard(&self) -> TimeGuardConfig {
        TimeGuardConfig {
            max_jump_ns: self.capture.max_time_jump_s.saturating_mul(NS),
            ceiling_ns: u64::MAX,
        }
    }
}

/// serde's `unknown field` in a `[[probes]]` entry: a key of another
/// kind is said to not apply to this one.
fn explain_probe_key(err: &mut ConfigError, index: &SpanIndex<'_>, serde_says: &str) {
    let (Some(key), Some(field)) = (err.key.as_deref(), unknown_field(serde_says)) else {
        return;
    };
    let Some(entry) = key
        .strip_suffix(field)
        .and_then(|k| k.strip_suffix('.'))
        .filter(|e| e.starts_with("probes["))
    else {
        return;
    };
    let kind = index
        .str_at(&format!("{entry}.kind"))
        .and_then(ProbeKind::from_name);
    if let Some(kind) = kind {
        err.message = ProbeEntry::unknown_key_message(kind, field, &err.message);
    }
}

/// serde reads a `[[probes]]` entry through a buffer (to find `kind`
/// first), so a wrong value in it is reported against the whole entry.
/// Each of the entry's keys is read again alone with the entry's kind; the
/// one that fails the same way is the key at fault.
fn place_in_probe_entry(err: &mut ConfigError, index: &SpanIndex<'_>) {
    let Some(entry) = err
        .key
        .clone()
        .filter(|k| k.starts_with("probes[") && k.ends_with(']'))
    else {
        return;
    };
    let Some(kind) = index.text_of(&format!("{entry}.kind")) else {
        return;
    };
    for key in index.keys_at(&entry) {
        if matches!(key, "name" | "kind" | "target") {
            continue;
        }
        let Some(value) = index.text_of(&format!("{entry}.{key}")) else {
            continue;
        };
        let alone = format!("name = \"n\"\ntarget = \"t\"\nkind = {kind}\n{key} = {value}\n");
        let same = toml::from_str::<ProbeEntry>(&alone)
            .err()
            .is_some_and(|e| classify::toml_span::house_message(e.message().trim()) == err.message);
        if same {
            let key = format!("{entry}.{key}");
            err.line = index.line_of(&key).or(err.line);
            err.key = Some(key);
            return;
        }
    }
}

#[cfg(test)]
mod tests;
