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

use classify::catalog::Catalog;
use classify::devices::LocalNets;
use classify::labeler::{Classifier, ClassifyConfig};
use probe::{ProbeKind, ProbeParams, ProbeTask};
use std::time::Duration;

const NS: u64 = 1_000_000_000;

/// Where the daemon listens unless configured otherwise.
pub const DEFAULT_SOCKET: &str = "/run/tapscope/tapscope.sock";

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
    /// `[probe]`: how the probes run.
    pub probe: ProbeSection,
    /// `[[probes]]`: the probe tasks.
    pub probes: Vec<ProbeEntry>,
}

/// `[probe]`: the probe scheduler and its buffer.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ProbeSection {
    /// Probe runs at once, all tasks together.
    pub max_concurrent: usize,
    /// Each interval is stretched or shrunk by up to this share (uniform).
    pub jitter: f64,
    /// Probe rows kept in memory while the table cannot be written; the
    /// oldest beyond it are dropped and counted.
    pub buffer_rows: usize,
    /// Probe rows are written as a complete file this often.
    pub flush_interval_s: u64,
}

impl Default for ProbeSection {
    fn default() -> Self {
        let s = probe::scheduler::Settings::default();
        ProbeSection {
            max_concurrent: s.max_concurrent,
            jitter: s.jitter,
            buffer_rows: s.buffer_rows,
            flush_interval_s: s.flush_every.as_secs(),
        }
    }
}

/// One `[[probes]]` task. Keys other than name, kind, target, interval_s
/// and timeout_s apply to some kinds only (see `tapscope.example.toml`).
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProbeEntry {
    pub name: String,
    pub kind: String,
    pub target: String,
    pub interval_s: Option<f64>,
    pub timeout_s: Option<f64>,
    pub count: Option<u32>,
    pub interval_ms: Option<u64>,
    pub wait_ms: Option<u64>,
    pub size: Option<usize>,
    pub port: Option<u16>,
    pub server: Option<String>,
    pub qtype: Option<String>,
    pub expect: Option<Vec<String>>,
    pub expect_status: Option<Vec<u16>>,
    pub verify_tls: Option<bool>,
    pub ca_file: Option<PathBuf>,
    pub max_hops: Option<u8>,
    pub probes_per_hop: Option<u8>,
    pub duration_s: Option<u64>,
    pub reverse: Option<bool>,
    pub protocol: Option<String>,
    pub bandwidth: Option<String>,
    pub iperf3: Option<String>,
}

/// The keys of a `[[probes]]` entry that apply to `kind`, beyond the
/// common ones.
fn probe_keys(kind: ProbeKind) -> &'static [&'static str] {
    match kind {
        ProbeKind::Icmp => &["count", "interval_ms", "wait_ms", "size"],
        ProbeKind::UdpEcho => &["count", "interval_ms", "wait_ms", "size", "port"],
        ProbeKind::Tcp => &["port"],
        ProbeKind::Dns => &["server", "port", "qtype", "expect", "wait_ms"],
        ProbeKind::Http => &["expect_status", "server", "wait_ms"],
        ProbeKind::Https => &[
            "expect_status",
            "server",
            "wait_ms",
            "verify_tls",
            "ca_file",
        ],
        ProbeKind::Ntp => &["port", "wait_ms"],
        ProbeKind::Traceroute => &["max_hops", "probes_per_hop", "wait_ms", "size"],
        ProbeKind::Throughput => &[
            "port",
            "duration_s",
            "reverse",
            "protocol",
            "bandwidth",
            "iperf3",
        ],
    }
}

impl ProbeEntry {
    /// The optional keys this entry sets.
    fn keys_set(&self) -> Vec<&'static str> {
        let mut k = Vec::new();
        let mut set = |name: &'static str, is: bool| {
            if is {
                k.push(name);
            }
        };
        set("count", self.count.is_some());
        set("interval_ms", self.interval_ms.is_some());
        set("wait_ms", self.wait_ms.is_some());
        set("size", self.size.is_some());
        set("port", self.port.is_some());
        set("server", self.server.is_some());
        set("qtype", self.qtype.is_some());
        set("expect", self.expect.is_some());
        set("expect_status", self.expect_status.is_some());
        set("verify_tls", self.verify_tls.is_some());
        set("ca_file", self.ca_file.is_some());
        set("max_hops", self.max_hops.is_some());
        set("probes_per_hop", self.probes_per_hop.is_some());
        set("duration_s", self.duration_s.is_some());
        set("reverse", self.reverse.is_some());
        set("protocol", self.protocol.is_some());
        set("bandwidth", self.bandwidth.is_some());
        set("iperf3", self.iperf3.is_some());
        k
    }

    /// The task, or the key at fault and why.
    pub fn task(&self) -> Result<ProbeTask, (&'static str, String)> {
        let kind = ProbeKind::from_name(&self.kind).ok_or_else(|| {
            (
                "kind",
                format!(
                    "\"{}\" is not one of {}",
                    self.kind,
                    ProbeKind::ALL
                        .iter()
                        .map(|k| format!("\"{}\"", k.name()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })?;
        if self.name.is_empty()
            || self.name.len() > 64
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err((
                "name",
                format!(
                    "\"{}\" must be 1 to 64 letters, digits, '_', '-' or '.'",
                    self.name
                ),
            ));
        }
        if self.target.trim().is_empty() {
            return Err(("target", "must not be empty".into()));
        }
        let allowed = probe_keys(kind);
        if let Some(k) = self.keys_set().into_iter().find(|k| !allowed.contains(k)) {
            return Err((
                k,
                format!(
                    "does not apply to kind \"{}\" (its keys: {})",
                    kind.name(),
                    allowed.join(", ")
                ),
            ));
        }
        let d = ProbeParams::default();
        let ms = Duration::from_millis;
        let params = ProbeParams {
            count: self.count.unwrap_or(if kind == ProbeKind::UdpEcho {
                10
            } else {
                d.count
            }),
            spacing: self.interval_ms.map_or(d.spacing, ms),
            wait: self.wait_ms.map_or(d.wait, ms),
            size: self.size.unwrap_or(d.size),
            port: self.port,
            server: self.server.clone(),
            qtype: self.qtype.clone().unwrap_or(d.qtype),
            expect: self.expect.clone().unwrap_or_default(),
            expect_status: self.expect_status.clone().unwrap_or_default(),
            verify_tls: self.verify_tls.unwrap_or(true),
            ca_file: self.ca_file.clone(),
            max_hops: self.max_hops.unwrap_or(d.max_hops),
            probes_per_hop: self.probes_per_hop.unwrap_or(d.probes_per_hop),
            duration: self.duration_s.map_or(d.duration, Duration::from_secs),
            reverse: self.reverse.unwrap_or(false),
            udp: self.protocol.as_deref() == Some("udp"),
            bandwidth: self.bandwidth.clone(),
            iperf3: self.iperf3.clone().unwrap_or(d.iperf3),
        };
        let range = |key: &'static str, v: u64, lo: u64, hi: u64| {
            if v < lo || v > hi {
                Err((key, format!("{v} is out of range: must be {lo} to {hi}")))
            } else {
                Ok(())
            }
        };
        range("count", params.count as u64, 1, 1000)?;
        range("interval_ms", params.spacing.as_millis() as u64, 1, 60_000)?;
        range("wait_ms", params.wait.as_millis() as u64, 10, 60_000)?;
        range("size", params.size as u64, 0, 8192)?;
        range("max_hops", params.max_hops as u64, 1, 64)?;
        range("probes_per_hop", params.probes_per_hop as u64, 1, 10)?;
        range("duration_s", params.duration.as_secs(), 1, 3600)?;
        if let Some(p) = &self.protocol {
            if p != "tcp" && p != "udp" {
                return Err((
                    "protocol",
                    format!("\"{p}\" is not one of \"tcp\", \"udp\""),
                ));
            }
        }
        if let Some(s) = &self.server {
            probe::dns::server_of(Some(s), 53).map_err(|e| ("server", e.message))?;
        }
        if let Some(q) = &self.qtype {
            probe::dns::check_qtype(q).map_err(|e| ("qtype", e))?;
        }
        if let Some(f) = &self.ca_file {
            if !f.is_file() {
                return Err(("ca_file", format!("{}: no such file", f.display())));
            }
        }
        match kind {
            ProbeKind::Http | ProbeKind::Https => {
                probe::http::parse_url(&self.target, kind == ProbeKind::Https)
                    .map_err(|e| ("target", e))?;
            }
            ProbeKind::Dns => {
                probe::dns::check_name(&self.target).map_err(|e| ("target", e))?;
            }
            _ => {
                let (_, port) = probe::split_host_port(&self.target).map_err(|e| ("target", e))?;
                if kind == ProbeKind::Tcp && port.or(self.port).is_none() {
                    return Err(("target", "tcp needs a port: host:port, or port = N".into()));
                }
            }
        }
        let interval = self.interval_s.unwrap_or(60.0);
        if !(0.1..=86_400.0).contains(&interval) {
            return Err((
                "interval_s",
                format!("{interval} is out of range: must be 0.1 to 86400"),
            ));
        }
        let default_timeout = match kind {
            ProbeKind::Icmp | ProbeKind::UdpEcho => {
                probe::icmp::round_time(params.count, params.spacing, params.wait)
                    + Duration::from_secs(2)
            }
            ProbeKind::Traceroute => params.wait * params.max_hops as u32 + Duration::from_secs(5),
            ProbeKind::Throughput => params.duration + Duration::from_secs(15),
            ProbeKind::Http | ProbeKind::Https => Duration::from_secs(30),
            ProbeKind::Tcp => Duration::from_secs(10),
            ProbeKind::Dns | ProbeKind::Ntp => Duration::from_secs(5),
        };
        let timeout = match self.timeout_s {
            Some(t) if !(0.1..=7200.0).contains(&t) => {
                return Err((
                    "timeout_s",
                    format!("{t} is out of range: must be 0.1 to 7200"),
                ))
            }
            Some(t) => Duration::from_secs_f64(t),
            None => default_timeout,
        };
        Ok(ProbeTask {
            name: Arc::from(self.name.as_str()),
            kind,
            target: Arc::from(self.target.trim()),
            interval: Duration::from_secs_f64(interval),
            timeout,
            params,
        })
    }
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
            socket: PathBuf::from(DEFAULT_SOCKET),
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
            probe: ProbeSection::default(),
            probes: Vec::new(),
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
        self.validate_sketch(&err, &range)?;
        self.validate_probes(&err, &range)
    }

    fn validate_probes(
        &self,
        err: &dyn Fn(&str, String) -> ConfigError,
        range: &RangeCheck<'_>,
    ) -> Result<(), ConfigError> {
        let p = &self.probe;
        range("probe.max_concurrent", p.max_concurrent as u64, 1, 256)?;
        range("probe.buffer_rows", p.buffer_rows as u64, 1, 10_000_000)?;
        range("probe.flush_interval_s", p.flush_interval_s, 1, 86_400)?;
        if p.jitter.is_nan() || !(0.0..=0.5).contains(&p.jitter) {
            return Err(err(
                "probe.jitter",
                format!("{} is out of range: must be 0 to 0.5", p.jitter),
            ));
        }
        for (i, e) in self.probes.iter().enumerate() {
            if let Err((field, message)) = e.task() {
                return Err(err(&format!("probes[{i}].{field}"), message));
            }
            if self.probes[..i].iter().any(|o| o.name == e.name) {
                return Err(err(
                    &format!("probes[{i}].name"),
                    format!("\"{}\" names two probe tasks", e.name),
                ));
            }
        }
        Ok(())
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
        let text = include_str!("../../../tapscope.example.toml");
        let c = parse(text).unwrap();
        let d = Config::default();
        assert_eq!(c.capture, d.capture);
        assert_eq!(c.flows, d.flows);
        assert_eq!(c.output, d.output);
        assert_eq!(c.sketch, d.sketch);
        assert_eq!(c.probe, d.probe);
        // The example's tasks are commented out: none run by default.
        assert!(c.probes.is_empty());
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
    fn probe_tasks_parse_with_defaults() {
        let text = "[probe]\nmax_concurrent = 2\n\n[[probes]]\nname = \"gw\"\nkind = \"icmp\"\ntarget = \"192.0.2.1\"\ninterval_s = 30\ncount = 10\n\n[[probes]]\nname = \"web\"\nkind = \"https\"\ntarget = \"https://example.org/\"\nexpect_status = [200, 301]\nverify_tls = false\n";
        let c = parse(text).unwrap();
        assert_eq!(c.probe_settings().max_concurrent, 2);
        let t = c.probe_tasks();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].kind, ProbeKind::Icmp);
        assert_eq!(t[0].interval, Duration::from_secs(30));
        assert_eq!(t[0].params.count, 10);
        // 9 x 200 ms + 1 s wait + 2 s.
        assert_eq!(t[0].timeout, Duration::from_millis(4800));
        assert_eq!(t[1].params.expect_status, vec![200, 301]);
        assert!(!t[1].params.verify_tls);
        assert_eq!(t[1].timeout, Duration::from_secs(30));
    }

    #[test]
    fn bad_probe_entries_name_their_line_and_key() {
        let head = "[[probes]]\nname = \"a\"\nkind = \"tcp\"\ntarget = \"192.0.2.1:22\"\n";
        let e = parse(&format!(
            "{head}[[probes]]\nname = \"b\"\nkind = \"smtp\"\ntarget = \"x\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("probes[1].kind"));
        assert_eq!(e.line, Some(7));
        assert!(
            e.message.contains("\"smtp\" is not one of \"icmp\""),
            "{}",
            e.message
        );
        let e = parse(&format!("{head}qtype = \"MX\"\n")).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("probes[0].qtype"));
        assert_eq!(e.line, Some(5));
        assert!(
            e.message.contains("does not apply to kind \"tcp\""),
            "{}",
            e.message
        );
        let e = parse("[[probes]]\nname = \"a\"\nkind = \"tcp\"\ntarget = \"192.0.2.1\"\n")
            .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("probes[0].target"));
        assert!(e.message.contains("needs a port"), "{}", e.message);
        let e = parse(&format!(
            "{head}[[probes]]\nname = \"a\"\nkind = \"icmp\"\ntarget = \"192.0.2.1\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("probes[1].name"));
        assert_eq!(e.line, Some(6));
        let e = parse("[[probes]]\nname = \"d\"\nkind = \"dns\"\ntarget = \"example.org\"\nserver = \"dns.example\"\n").unwrap_err();
        assert_eq!(
            (e.key.as_deref(), e.line),
            (Some("probes[0].server"), Some(5))
        );
        let e = parse("[[probes]]\nname = \"h\"\nkind = \"http\"\ntarget = \"ftp://x/\"\n")
            .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("probes[0].target"));
        let e = parse("[[probes]]\nname = \"h\"\nkind = \"icmp\"\ntarget = \"x\"\ncount = 0\n")
            .unwrap_err();
        assert_eq!(
            (e.key.as_deref(), e.line),
            (Some("probes[0].count"), Some(5))
        );
        let e = parse("[[probes]]\nname = \"h\"\nkind = \"icmp\"\ntarget = \"x\"\ncolor = 1\n")
            .unwrap_err();
        assert_eq!(e.line, Some(5));
        assert!(e.message.contains("unknown field `color`"), "{}", e.message);
        let e = parse("[probe]\njitter = 0.9\n").unwrap_err();
        assert_eq!((e.key.as_deref(), e.line), (Some("probe.jitter"), Some(2)));
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
