//! The TOML configuration: every key has a default; a bad file yields a
//! [`ConfigError`] naming the file, the line and the key, and why.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datapath::flow::FlowConfig;
use datapath::sketch::{
    CounterSpec, Direction, Increment, KeyType, ProtoFilter, SketchParams, SketchPlan, MAX_COUNTERS,
};
use datapath::worker::WorkerConfig;
use serde::Deserialize;

use crate::classify::catalog::Catalog;
use crate::classify::devices::LocalNets;
use crate::classify::labeler::{Classifier, ClassifyConfig};

const NS: u64 = 1_000_000_000;

/// The whole configuration. See `tapscope.example.toml` for every key.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Written into every row; defaults to the host name.
    pub tap_id: String,
    pub capture: CaptureSection,
    pub flows: FlowsSection,
    pub output: OutputSection,
    pub classify: ClassifySection,
    pub control: ControlSection,
    pub sketch: SketchSection,
}

/// `[control]`: the control socket of `tapscope run`, and metrics.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ControlSection {
    /// Unix socket `tapscope status` and friends talk to; empty = none.
    pub socket: PathBuf,
    /// Prometheus text exposition at `http://ADDR/metrics`, e.g.
    /// `127.0.0.1:9464`; empty = off.
    pub metrics: String,
}

impl Default for ControlSection {
    fn default() -> Self {
        ControlSection {
            socket: PathBuf::from(crate::ctl::DEFAULT_SOCKET),
            metrics: String::new(),
        }
    }
}

/// `[classify]`: server names, services, devices and the `traffic` table.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ClassifySection {
    /// Subnets whose hosts are local devices (CIDR); empty = the private,
    /// CGNAT, link-local and unique-local ranges.
    pub local_subnets: Vec<String>,
    /// Length of a `traffic` interval, seconds.
    pub traffic_interval_s: u64,
    /// Your own service catalog (same format as the built-in one), merged
    /// over it; empty = built-in only.
    pub services_file: PathBuf,
}

impl Default for ClassifySection {
    fn default() -> Self {
        ClassifySection {
            local_subnets: Vec::new(),
            traffic_interval_s: 5,
            services_file: PathBuf::new(),
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct CaptureSection {
    /// Mirror interface for `tapscope run`.
    pub interface: String,
    /// Worker threads for replay (live capture uses one per RX queue).
    pub workers: usize,
    /// Frames taken from a source per poll.
    pub batch_size: usize,
    /// Epoch length: how often workers hand summaries to the control core.
    pub epoch_ms: u64,
    /// Pin workers to cores (one core each, the control core apart).
    pub pin_cores: bool,
    /// Live capture: RX queues to capture (one worker each); 0 = all.
    pub queues: usize,
    /// AF_XDP UMEM frames per queue (a power of two).
    pub umem_frames: u32,
    /// AF_XDP frame size: 2048, or 4096 for jumbo frames.
    pub frame_size: u32,
    /// AF_XDP RX ring size per queue (a power of two).
    pub rx_ring: u32,
    /// XDP attach mode: "auto" (native, else generic), "native" or "generic".
    pub xdp_mode: String,
    /// Zero-copy: "auto" (try, fall back to copy), "off" or "required".
    pub zero_copy: String,
    /// When idle, block in poll(2) for up to this long after 1024 empty
    /// polls; 0 = pure busy-polling (one core at 100% per queue).
    pub idle_wait_ms: u64,
    /// Adaptive polling: after a poll that found less than a quarter batch,
    /// sleep this many microseconds so frames gather in the RX ring; 0 =
    /// spin. Under load polls fill their batch and no sleep happens.
    pub coalesce_us: u32,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FlowsSection {
    /// Flow table capacity per worker.
    pub capacity: usize,
    pub tcp_idle_timeout_s: u64,
    pub udp_idle_timeout_s: u64,
    pub other_idle_timeout_s: u64,
    pub tcp_closed_linger_s: u64,
    pub active_timeout_s: u64,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OutputSection {
    /// Root of the Parquet tables.
    pub dir: PathBuf,
    pub rotate_interval_s: u64,
    pub rotate_size_mb: u64,
    /// Retention quota over all tables; 0 means none.
    pub quota_mb: u64,
    pub row_group_rows: usize,
}

/// `[sketch]`: heavy hitters, scans and flow sizes per window.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SketchSection {
    /// Count-min error ε, relative to a counter's total in the window.
    pub error: f64,
    /// Probability that an estimate is within ε·total of the truth.
    pub confidence: f64,
    /// Keys reported per counter per window.
    pub top_k: usize,
    /// Conservative update (tighter) or plain count-min (exactly additive).
    pub conservative_update: bool,
    /// Reporting window, in epochs.
    pub window_epochs: u64,
    /// Scan detection on probes.
    pub scans: bool,
    pub port_scan_threshold: u64,
    pub host_scan_threshold: u64,
    /// Buckets per row of the scan sketches.
    pub scan_width: u32,
    /// Flow-size histograms.
    pub flow_sizes: bool,
    /// Write each window's merged state (table `sketch_state`).
    pub write_state: bool,
    /// Sketch updates per second per worker (one per flow and direction
    /// active in an epoch) above which light updates are sampled
    /// (threshold sampling, see `datapath::sketch::Sketches`); 0 = never.
    pub sample_above_updates: u64,
    /// `[[sketch.counters]]`; replaces the default set when given.
    pub counters: Vec<CounterEntry>,
}

/// One `[[sketch.counters]]` entry.
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CounterEntry {
    pub name: String,
    /// `src`, `dst`, `src_dst`, `src_dport`, `dport` or `five_tuple`.
    pub key: String,
    /// `packets` or `bytes` (default `bytes`).
    #[serde(default = "default_increment")]
    pub increment: String,
    /// `any`, `tcp`, `udp` or `icmp` (default `any`).
    #[serde(default = "default_any")]
    pub protocol: String,
    /// `any`, `c2s` or `s2c` (default `any`).
    #[serde(default = "default_any")]
    pub direction: String,
}

fn default_increment() -> String {
    "bytes".into()
}

fn default_any() -> String {
    "any".into()
}

impl CounterEntry {
    /// The counter this entry describes, or the name of its bad field.
    pub fn spec(&self) -> Result<CounterSpec, (&'static str, String)> {
        let one_of = |field: &'static str, v: &str, names: &[&str]| {
            (
                field,
                format!(
                    "\"{v}\" is not one of {}",
                    names
                        .iter()
                        .map(|n| format!("\"{n}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        };
        if !datapath::sketch::valid_name(&self.name) {
            return Err((
                "name",
                format!(
                    "\"{}\" must be 1 to 64 letters, digits, '_' or '-'",
                    self.name
                ),
            ));
        }
        let key = KeyType::from_name(&self.key).ok_or_else(|| {
            let names: Vec<&str> = KeyType::ALL.iter().map(|k| k.name()).collect();
            one_of("key", &self.key, &names)
        })?;
        let increment = Increment::from_name(&self.increment)
            .ok_or_else(|| one_of("increment", &self.increment, &["packets", "bytes"]))?;
        let protocol = ProtoFilter::from_name(&self.protocol)
            .ok_or_else(|| one_of("protocol", &self.protocol, &["any", "tcp", "udp", "icmp"]))?;
        let direction = Direction::from_name(&self.direction)
            .ok_or_else(|| one_of("direction", &self.direction, &["any", "c2s", "s2c"]))?;
        Ok(CounterSpec {
            name: self.name.clone(),
            key,
            increment,
            protocol,
            direction,
        })
    }

    pub fn from_spec(c: &CounterSpec) -> CounterEntry {
        CounterEntry {
            name: c.name.clone(),
            key: c.key.name().into(),
            increment: c.increment.name().into(),
            protocol: c.protocol.name().into(),
            direction: c.direction.name().into(),
        }
    }
}

/// Counter specs as configuration entries (for the status socket).
pub fn counter_entries(specs: &[CounterSpec]) -> Vec<CounterEntry> {
    specs.iter().map(CounterEntry::from_spec).collect()
}

impl Default for SketchSection {
    fn default() -> Self {
        let p = SketchParams::default();
        SketchSection {
            error: p.error,
            confidence: p.confidence,
            top_k: p.top_k,
            conservative_update: p.conservative,
            window_epochs: 1,
            scans: p.scans,
            port_scan_threshold: p.port_scan_threshold,
            host_scan_threshold: p.host_scan_threshold,
            scan_width: p.scan_width,
            flow_sizes: p.flow_sizes,
            write_state: p.write_state,
            sample_above_updates: p.sample_above_updates,
            counters: CounterSpec::defaults()
                .iter()
                .map(CounterEntry::from_spec)
                .collect(),
        }
    }
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
        }
    }
}

impl Default for CaptureSection {
    fn default() -> Self {
        CaptureSection {
            interface: "eth1".into(),
            workers: 1,
            batch_size: 64,
            epoch_ms: 1000,
            pin_cores: true,
            queues: 0,
            umem_frames: 32_768,
            frame_size: 2048,
            rx_ring: 16_384,
            xdp_mode: "auto".into(),
            zero_copy: "auto".into(),
            idle_wait_ms: 1,
            coalesce_us: 200,
        }
    }
}

impl Default for FlowsSection {
    fn default() -> Self {
        let f = FlowConfig::default();
        FlowsSection {
            capacity: f.capacity,
            tcp_idle_timeout_s: f.tcp_idle_ns / NS,
            udp_idle_timeout_s: f.udp_idle_ns / NS,
            other_idle_timeout_s: f.other_idle_ns / NS,
            tcp_closed_linger_s: f.tcp_closed_linger_ns / NS,
            active_timeout_s: f.active_timeout_ns / NS,
        }
    }
}

impl Default for OutputSection {
    fn default() -> Self {
        OutputSection {
            dir: PathBuf::from("/var/lib/tapscope"),
            rotate_interval_s: 300,
            rotate_size_mb: 128,
            quota_mb: 0,
            row_group_rows: 65_536,
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

/// Checks that a key's integer value lies in a range.
type RangeCheck<'a> = dyn Fn(&str, u64, u64, u64) -> Result<(), ConfigError> + 'a;

/// A configuration problem, located as precisely as possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: Option<usize>,
    /// Dotted key, e.g. `flows.capacity`, when known.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(k) = &self.key {
            write!(f, ": `{k}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.to_path_buf(),
            line: None,
            key: None,
            message: format!("cannot read: {e}"),
        })?;
        Config::parse(&text, path)
    }

    /// Parses and validates configuration text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let (line, key) = match e.span() {
                Some(span) => locate(text, span.start),
                None => (None, None),
            };
            ConfigError {
                file: path.to_path_buf(),
                line,
                key,
                message: e.message().trim().to_string(),
            }
        })?;
        cfg.validate(text, path)?;
        Ok(cfg)
    }

    fn validate(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        let err = |key: &str, message: String| {
            let line = find_key_line(text, key);
            ConfigError {
                file: path.to_path_buf(),
                line,
                key: Some(key.to_string()),
                message,
            }
        };
        let range = |key: &str, v: u64, lo: u64, hi: u64| {
            if v < lo || v > hi {
                Err(err(
                    key,
                    format!("{v} is out of range: must be {lo} to {hi}"),
                ))
            } else {
                Ok(())
            }
        };
        if self.tap_id.is_empty() || self.tap_id.len() > 64 {
            return Err(err("tap_id", "must be 1 to 64 characters".into()));
        }
        if !self
            .tap_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return Err(err(
                "tap_id",
                "may hold only letters, digits, '-', '_' and '.' (it is part of file names)".into(),
            ));
        }
        range("capture.workers", self.capture.workers as u64, 1, 256)?;
        range(
            "capture.batch_size",
            self.capture.batch_size as u64,
            1,
            4096,
        )?;
        range("capture.epoch_ms", self.capture.epoch_ms, 10, 3_600_000)?;
        range("capture.queues", self.capture.queues as u64, 0, 256)?;
        let pow2 = |key: &str, v: u32, lo: u32, hi: u32| {
            if !v.is_power_of_two() || v < lo || v > hi {
                Err(err(
                    key,
                    format!("{v} must be a power of two from {lo} to {hi}"),
                ))
            } else {
                Ok(())
            }
        };
        pow2("capture.umem_frames", self.capture.umem_frames, 64, 1 << 20)?;
        pow2("capture.frame_size", self.capture.frame_size, 2048, 4096)?;
        pow2("capture.rx_ring", self.capture.rx_ring, 64, 1 << 16)?;
        if !matches!(
            self.capture.xdp_mode.as_str(),
            "auto" | "native" | "generic"
        ) {
            return Err(err(
                "capture.xdp_mode",
                format!(
                    "\"{}\" is not one of \"auto\", \"native\", \"generic\"",
                    self.capture.xdp_mode
                ),
            ));
        }
        if !matches!(self.capture.zero_copy.as_str(), "auto" | "off" | "required") {
            return Err(err(
                "capture.zero_copy",
                format!(
                    "\"{}\" is not one of \"auto\", \"off\", \"required\"",
                    self.capture.zero_copy
                ),
            ));
        }
        range("capture.idle_wait_ms", self.capture.idle_wait_ms, 0, 1000)?;
        range(
            "capture.coalesce_us",
            self.capture.coalesce_us as u64,
            0,
            1000,
        )?;
        // The RX ring must hold what arrives during a sleep at line rate.
        if self.capture.coalesce_us > 0
            && (self.capture.rx_ring as u64) < self.capture.coalesce_us as u64 * 15 * 2
        {
            return Err(err(
                "capture.coalesce_us",
                format!(
                    "{} us at 14.88 Mpps needs capture.rx_ring >= {}",
                    self.capture.coalesce_us,
                    (self.capture.coalesce_us as u64 * 30).next_power_of_two()
                ),
            ));
        }
        range("flows.capacity", self.flows.capacity as u64, 16, 1 << 28)?;
        range(
            "flows.tcp_idle_timeout_s",
            self.flows.tcp_idle_timeout_s,
            1,
            86_400,
        )?;
        range(
            "flows.udp_idle_timeout_s",
            self.flows.udp_idle_timeout_s,
            1,
            86_400,
        )?;
        range(
            "flows.other_idle_timeout_s",
            self.flows.other_idle_timeout_s,
            1,
            86_400,
        )?;
        range(
            "flows.tcp_closed_linger_s",
            self.flows.tcp_closed_linger_s,
            0,
            600,
        )?;
        range(
            "flows.active_timeout_s",
            self.flows.active_timeout_s,
            1,
            86_400,
        )?;
        range(
            "output.rotate_interval_s",
            self.output.rotate_interval_s,
            1,
            86_400,
        )?;
        range(
            "output.rotate_size_mb",
            self.output.rotate_size_mb,
            1,
            1 << 20,
        )?;
        range(
            "output.row_group_rows",
            self.output.row_group_rows as u64,
            1024,
            1 << 24,
        )?;
        if self.output.dir.as_os_str().is_empty() {
            return Err(err("output.dir", "must not be empty".into()));
        }
        range(
            "classify.traffic_interval_s",
            self.classify.traffic_interval_s,
            1,
            86_400,
        )?;
        let epoch_s = self.capture.epoch_ms as f64 / 1000.0;
        if !(self.classify.traffic_interval_s * 1000).is_multiple_of(self.capture.epoch_ms.max(1)) {
            return Err(err(
                "classify.traffic_interval_s",
                format!("must be a multiple of the epoch ({epoch_s} s)"),
            ));
        }
        if let Err(e) = LocalNets::parse(self.classify.local_subnets.iter().map(String::as_str)) {
            return Err(err("classify.local_subnets", e));
        }
        if !self.control.metrics.is_empty()
            && self
                .control
                .metrics
                .parse::<std::net::SocketAddr>()
                .is_err()
        {
            return Err(err(
                "control.metrics",
                format!(
                    "`{}` is not an address:port such as 127.0.0.1:9464",
                    self.control.metrics
                ),
            ));
        }
        if !self.classify.services_file.as_os_str().is_empty() {
            if let Err(e) = Catalog::with_user_file(&self.classify.services_file) {
                return Err(err("classify.services_file", e.to_string()));
            }
        }
        self.validate_sketch(&err, &range)
    }

    fn validate_sketch(
        &self,
        err: &dyn Fn(&str, String) -> ConfigError,
        range: &RangeCheck<'_>,
    ) -> Result<(), ConfigError> {
        let k = &self.sketch;
        let frange = |key: &str, v: f64, lo: f64, hi: f64| {
            if v.is_nan() || v < lo || v > hi {
                Err(err(
                    key,
                    format!("{v} is out of range: must be {lo} to {hi}"),
                ))
            } else {
                Ok(())
            }
        };
        frange("sketch.error", k.error, 0.0001, 0.5)?;
        frange("sketch.confidence", k.confidence, 0.5, 0.9999)?;
        range("sketch.top_k", k.top_k as u64, 1, 1000)?;
        range("sketch.window_epochs", k.window_epochs, 1, 3600)?;
        range(
            "sketch.port_scan_threshold",
            k.port_scan_threshold,
            1,
            1_000_000,
        )?;
        range(
            "sketch.host_scan_threshold",
            k.host_scan_threshold,
            1,
            1_000_000,
        )?;
        range("sketch.scan_width", k.scan_width as u64, 64, 1 << 18)?;
        if k.counters.len() > MAX_COUNTERS {
            return Err(err(
                "sketch.counters",
                format!("{} counters: at most {MAX_COUNTERS}", k.counters.len()),
            ));
        }
        for (i, c) in k.counters.iter().enumerate() {
            let key = |field: &str| format!("sketch.counters[{i}].{field}");
            if let Err((field, message)) = c.spec() {
                return Err(err(&key(field), message));
            }
            if k.counters[..i].iter().any(|o| o.name == c.name) {
                return Err(err(
                    &key("name"),
                    format!("\"{}\" names two counters", c.name),
                ));
            }
        }
        Ok(())
    }

    /// The sketches every worker computes (generation 0).
    /// The catalog and local subnets of `[classify]`.
    pub fn catalog_and_local(&self) -> Result<(Arc<Catalog>, LocalNets), ConfigError> {
        let c = self.classifier(1)?;
        Ok((
            Arc::new(c.catalog().clone()),
            if self.classify.local_subnets.is_empty() {
                LocalNets::default()
            } else {
                LocalNets::parse(self.classify.local_subnets.iter().map(String::as_str)).map_err(
                    |e| ConfigError {
                        file: PathBuf::new(),
                        line: None,
                        key: Some("classify.local_subnets".into()),
                        message: e,
                    },
                )?
            },
        ))
    }

    /// The classifier for `workers` workers (catalog, local subnets,
    /// interval). The configuration was validated, so this fails only if
    /// the services file changed since.
    pub fn classifier(&self, workers: usize) -> Result<Classifier, ConfigError> {
        let catalog = if self.classify.services_file.as_os_str().is_empty() {
            Catalog::builtin()
        } else {
            Catalog::with_user_file(&self.classify.services_file).map_err(|e| ConfigError {
                file: self.classify.services_file.clone(),
                line: None,
                key: None,
                message: e.to_string(),
            })?
        };
        let local = if self.classify.local_subnets.is_empty() {
            LocalNets::default()
        } else {
            LocalNets::parse(self.classify.local_subnets.iter().map(String::as_str)).map_err(
                |e| ConfigError {
                    file: PathBuf::new(),
                    line: None,
                    key: Some("classify.local_subnets".into()),
                    message: e,
                },
            )?
        };
        Ok(Classifier::new(
            Arc::new(catalog),
            ClassifyConfig {
                local,
                interval_ns: self.classify.traffic_interval_s * NS,
            },
            workers,
        ))
    }

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
            },
            ..WorkerConfig::default()
        }
    }
}

/// Line number (1-based) of a byte offset, and the dotted key defined on
/// that line, if it is a `key = value` line.
fn locate(text: &str, offset: usize) -> (Option<usize>, Option<String>) {
    let offset = offset.min(text.len());
    let line_no = text[..offset].matches('\n').count() + 1;
    let mut sections = Sections::default();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        sections.see(t);
        let section = &sections.current;
        if i + 1 == line_no {
            let key = t.split_once('=').map(|(k, _)| {
                let k = k.trim().trim_matches('"');
                if section.is_empty() {
                    k.to_string()
                } else {
                    format!("{section}.{k}")
                }
            });
            return (Some(line_no), key);
        }
    }
    (Some(line_no), None)
}

/// Line (1-based) where a dotted key is set, if it is set in the text.
fn find_key_line(text: &str, dotted: &str) -> Option<usize> {
    let (want_section, want_key) = match dotted.rsplit_once('.') {
        Some((s, k)) => (s, k),
        None => ("", dotted),
    };
    let mut sections = Sections::default();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if sections.see(t) {
            if sections.current == dotted {
                // A whole table (e.g. `sketch.counters[1]`): its header.
                return Some(i + 1);
            }
            continue;
        }
        if let Some((k, _)) = t.split_once('=') {
            let k = k.trim().trim_matches('"');
            if sections.current == want_section && k == want_key {
                return Some(i + 1);
            }
            // An inline array of tables (`counters = [...]`): its key.
            if dotted.starts_with(&format!("{}.{k}[", sections.current))
                || (sections.current.is_empty() && dotted.starts_with(&format!("{k}[")))
            {
                return Some(i + 1);
            }
        }
    }
    None
}

/// The table a line of TOML is in: `[a.b]` is `a.b`; the n-th `[[a.b]]`
/// (from 0) is `a.b[n]`, as configuration errors name them.
#[derive(Default)]
struct Sections {
    current: String,
    arrays: std::collections::HashMap<String, usize>,
}

impl Sections {
    /// Notes a trimmed line; true if it is a table header.
    fn see(&mut self, t: &str) -> bool {
        if t.starts_with("[[") && t.ends_with("]]") {
            let name = t[2..t.len() - 2].trim().to_string();
            let n = self.arrays.entry(name.clone()).or_insert(0);
            self.current = format!("{name}[{n}]");
            *n += 1;
            true
        } else if t.starts_with('[') && t.ends_with(']') {
            self.current = t[1..t.len() - 1].trim().to_string();
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("tapscope.toml"))
    }

    #[test]
    fn empty_file_gives_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.flows, FlowsSection::default());
        assert_eq!(c.capture.epoch_ms, 1000);
    }

    #[test]
    fn example_file_parses_and_matches_defaults() {
        let text = include_str!("../../tapscope.example.toml");
        let c = parse(text).unwrap();
        let d = Config::default();
        assert_eq!(c.capture, d.capture);
        assert_eq!(c.flows, d.flows);
        assert_eq!(c.output, d.output);
        assert_eq!(c.sketch, d.sketch);
    }

    #[test]
    fn sketch_defaults_and_plan() {
        let c = parse("[capture]\nepoch_ms = 500\n[sketch]\nwindow_epochs = 4\n").unwrap();
        let p = c.sketch_plan();
        assert_eq!(p.counters, CounterSpec::defaults());
        assert_eq!(p.params.window_ns, 2 * NS);
        assert_eq!(p.params.top_k, 20);
        assert!(p.params.conservative && p.params.scans && p.params.flow_sizes);
        assert_eq!(p.validate(), Ok(()));
    }

    #[test]
    fn sketch_counters_replace_the_defaults() {
        let text = "[sketch]\ntop_k = 5\n\n[[sketch.counters]]\nname = \"udp_services\"\nkey = \"dport\"\nincrement = \"packets\"\nprotocol = \"udp\"\n\n[[sketch.counters]]\nname = \"uploads\"\nkey = \"src\"\ndirection = \"c2s\"\n";
        let p = parse(text).unwrap().sketch_plan();
        assert_eq!(p.params.top_k, 5);
        assert_eq!(
            p.counters,
            vec![
                CounterSpec {
                    protocol: ProtoFilter::Udp,
                    ..CounterSpec::new("udp_services", KeyType::Dport, Increment::Packets)
                },
                CounterSpec {
                    direction: Direction::ClientToServer,
                    ..CounterSpec::new("uploads", KeyType::Src, Increment::Bytes)
                },
            ]
        );
        let none = parse("[sketch]\ncounters = []\n").unwrap().sketch_plan();
        assert!(none.counters.is_empty());
    }

    #[test]
    fn bad_sketch_counter_names_its_entry_line_and_field() {
        let text = "[sketch]\n[[sketch.counters]]\nname = \"a\"\nkey = \"src\"\n[[sketch.counters]]\nname = \"b\"\nkey = \"sources\"\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("sketch.counters[1].key"));
        assert_eq!(e.line, Some(7));
        assert!(
            e.message.contains("\"sources\" is not one of \"src\""),
            "{}",
            e.message
        );
        let shown = e.to_string();
        assert!(
            shown.starts_with("tapscope.toml:7: `sketch.counters[1].key`:"),
            "{shown}"
        );
        // Unknown fields and duplicate names, located the same way.
        let e = parse("[[sketch.counters]]\nname = \"a\"\nkey = \"src\"\nkind = 1\n").unwrap_err();
        assert_eq!(e.line, Some(4));
        assert_eq!(e.key.as_deref(), Some("sketch.counters[0].kind"));
        assert!(e.message.contains("unknown field `kind`"), "{}", e.message);
        let e = parse("[[sketch.counters]]\nname = \"a\"\nkey = \"src\"\n[[sketch.counters]]\nname = \"a\"\nkey = \"dst\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("sketch.counters[1].name"));
        assert_eq!(e.line, Some(5));
        let e = parse("[sketch]\nerror = 2.0\n").unwrap_err();
        assert_eq!((e.key.as_deref(), e.line), (Some("sketch.error"), Some(2)));
        let e = parse("[sketch]\nconfidence = 1\n").unwrap_err();
        assert_eq!(e.line, Some(2));
    }

    #[test]
    fn wrong_type_names_line_and_key() {
        let e = parse("tap_id = \"t1\"\n\n[flows]\ncapacity = \"lots\"\n").unwrap_err();
        assert_eq!(e.line, Some(4));
        assert_eq!(e.key.as_deref(), Some("flows.capacity"));
        let shown = e.to_string();
        assert!(
            shown.starts_with("tapscope.toml:4: `flows.capacity`:"),
            "{shown}"
        );
        assert!(shown.contains("invalid type"), "{shown}");
    }

    #[test]
    fn unknown_key_is_rejected_with_its_line() {
        let e = parse("[flows]\ncapacty = 10\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert!(
            e.message.contains("unknown field `capacty`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn out_of_range_value_names_key_and_range() {
        let e = parse("[capture]\nworkers = 2\nepoch_ms = 5\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("capture.epoch_ms"));
        assert_eq!(e.line, Some(3));
        assert!(e.message.contains("must be 10 to"), "{}", e.message);
    }

    #[test]
    fn tap_id_must_be_file_name_safe() {
        let e = parse("tap_id = \"a/b\"\n").unwrap_err();
        assert_eq!(e.key.as_deref(), Some("tap_id"));
        assert_eq!(e.line, Some(1));
    }

    #[test]
    fn worker_config_carries_timeouts() {
        let c = parse("[flows]\nudp_idle_timeout_s = 7\n").unwrap();
        let w = c.worker(3);
        assert_eq!(w.flows.udp_idle_ns, 7 * NS);
        assert_eq!(w.flows.worker, 3);
        assert_eq!(w.id, 3);
    }
}
