//! The sections of the file (`[capture]`, `[flows]`, ...) and their
//! defaults. What a value may be is checked in `validate.rs`.

use std::path::PathBuf;

use datapath::flow::segment::SegmentConfig;
use datapath::flow::FlowConfig;
use datapath::sketch::{CounterSpec, SketchParams};
use serde::{Deserialize, Serialize};

use crate::counters::CounterEntry;

const NS: u64 = 1_000_000_000;

/// Where the daemon listens unless configured otherwise.
pub const DEFAULT_SOCKET: &str = "/run/tapscope/tapscope.sock";

/// `[capture]`: the frame sources and the workers.
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
    /// XDP attach mode.
    pub xdp_mode: XdpMode,
    /// AF_XDP zero-copy.
    pub zero_copy: ZeroCopyMode,
    /// When idle, block in poll(2) for up to this long after 1024 empty
    /// polls; 0 = pure busy-polling (one core at 100% per queue).
    pub idle_wait_ms: u64,
    /// Adaptive polling: after a poll that found less than a quarter batch,
    /// sleep this many microseconds so frames gather in the RX ring; 0 =
    /// spin. Under load polls fill their batch and no sleep happens.
    pub coalesce_us: u32,
    /// A packet whose timestamp is further than this from the worker's
    /// time (before or after) is counted in `bad_timestamp` and accounted
    /// at the latest good time; a clock step forward that persists is
    /// accepted (see `datapath::timeguard`).
    pub max_time_jump_s: u64,
}

/// `capture.xdp_mode`: how the XDP program is attached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum XdpMode {
    /// Native (in the driver), else generic.
    #[default]
    Auto,
    /// In the driver only.
    Native,
    /// Generic (skb) mode only.
    Generic,
}

/// `capture.zero_copy`: whether AF_XDP maps the NIC's buffers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ZeroCopyMode {
    /// Try zero-copy, fall back to copy mode.
    #[default]
    Auto,
    /// Copy mode only.
    Off,
    /// Zero-copy or fail.
    Required,
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
            xdp_mode: XdpMode::Auto,
            zero_copy: ZeroCopyMode::Auto,
            idle_wait_ms: 1,
            coalesce_us: 200,
            max_time_jump_s: 86_400,
        }
    }
}

/// `[flows]`: the flow table of each worker.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FlowsSection {
    /// Flow table capacity per worker.
    pub capacity: usize,
    /// A TCP flow silent this long ends (`idle`).
    pub tcp_idle_timeout_s: u64,
    /// A UDP flow silent this long ends.
    pub udp_idle_timeout_s: u64,
    /// Any other flow silent this long ends.
    pub other_idle_timeout_s: u64,
    /// A closed TCP flow is kept this long for late packets.
    pub tcp_closed_linger_s: u64,
    /// A flow still active after this long is written and goes on as a
    /// new record.
    pub active_timeout_s: u64,
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

/// `[video]`: media segment detection and the `video_segments` table.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct VideoSection {
    /// Which segments become `video_segments` rows: `video` (flows of a
    /// video-category service), `all` (every flow on a web port) or `off`
    /// (no detection at all).
    pub segments: String,
    /// Smallest upstream payload that counts as a request, bytes.
    pub request_min_payload: u16,
    /// Smallest downstream burst reported as a segment, bytes.
    pub segment_min_bytes: u64,
    /// A burst silent this long is closed, seconds.
    pub segment_idle_s: f64,
    /// Video sessions and their 10 s windows (`video_sessions`,
    /// `video_windows`, status), with the model's inference.
    pub sessions: bool,
    /// A session with no packet for this long ends, seconds.
    pub session_idle_s: f64,
    /// A session whose flows all ended ends after this long without a new
    /// one, seconds.
    pub session_closed_gap_s: f64,
    /// A session is written once it had this many media segments (fewer:
    /// a visit to the service's site, not a play).
    pub session_min_segments: u64,
    /// The model file (JSON trees from the trainer); empty: the one built
    /// in; `none`: no inference (features only).
    pub model: String,
}

impl Default for VideoSection {
    fn default() -> Self {
        let s = SegmentConfig::default();
        VideoSection {
            segments: "video".into(),
            request_min_payload: s.request_min_payload,
            segment_min_bytes: s.min_bytes,
            segment_idle_s: s.idle_ns as f64 / NS as f64,
            sessions: true,
            session_idle_s: 20.0,
            session_closed_gap_s: 2.0,
            session_min_segments: 2,
            model: String::new(),
        }
    }
}

/// `[output]`: the Parquet tables.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct OutputSection {
    /// Root of the Parquet tables.
    pub dir: PathBuf,
    /// A table's open file is completed this often.
    pub rotate_interval_s: u64,
    /// ... or when it reaches this size.
    pub rotate_size_mb: u64,
    /// Retention quota over all tables; 0 means none.
    pub quota_mb: u64,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
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
    /// Distinct ports of one host a source must probe to be a port scan.
    pub port_scan_threshold: u64,
    /// Distinct hosts a source must probe to be a host scan.
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
