//! A running daemon's status as the control protocol carries it: the
//! [`Status`] snapshot (stable JSON for `tapscope status --json`), shared by
//! the control core that builds it and the clients that read it.
//!
//! Plain data: no IO, no clock, no rendering. Every time in a snapshot is
//! its own (`started_unix_s + uptime_s` is "now").

use serde::{Deserialize, Serialize};

/// Version of the control protocol that carries [`Status`]. A client
/// reading a snapshot with `protocol` 0 got one from a daemon that did not
/// say (missing field).
pub const PROTOCOL_VERSION: u32 = 1;

/// Upper bounds (ms, inclusive) of the cumulative buckets of an
/// [`RttDistribution`], the `le` bounds of the Prometheus histogram; a last
/// bucket without bound (`+Inf`) is implied by `count`.
pub const RTT_BUCKETS_MS: [f64; 14] = [
    0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1_000.0, 2_500.0, 5_000.0, 10_000.0,
];

/// A snapshot of a running daemon. Serialised as JSON with these field
/// names; missing fields take their defaults and unknown fields are
/// ignored, so older and newer clients can read each other's snapshots.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Status {
    /// Control protocol version of the daemon ([`PROTOCOL_VERSION`]).
    pub protocol: u32,
    /// tapscope version of the daemon (`0.1.0`).
    pub version: String,
    /// The tap's id, as written in every table's `tap_id` column.
    pub tap_id: String,
    /// When the daemon started, Unix seconds (UTC).
    pub started_unix_s: u64,
    /// Seconds since the daemon started, at the time of the snapshot.
    pub uptime_s: u64,
    /// `live` (capture from an interface) or `replay` (capture files).
    pub mode: String,
    /// The capture interface (`eth1`); `None` in replay.
    pub interface: Option<String>,
    /// One entry per worker and its frame source.
    pub queues: Vec<QueueStatus>,
    /// Current rates, over the last few seconds.
    pub rates: Rates,
    /// Counters summed over all workers since the daemon started.
    pub totals: Counters,
    /// Local devices with the most traffic since the daemon started,
    /// largest first.
    pub top_devices: Vec<Usage>,
    /// Services with the most traffic since the daemon started, largest
    /// first.
    pub top_services: Vec<Usage>,
    /// Heavy-hitter rows of the latest reported sketch window, every
    /// counter, by counter then rank.
    pub heavy_hitters: Vec<HeavyHitterRow>,
    /// Recent scan rows (the latest windows that had any).
    pub scans: Vec<ScanRow>,
    /// Active probes; `None` when none are configured.
    pub probes: Option<ProbeSummary>,
    /// The Parquet output: files, bytes and the disk quota.
    pub files: FilesStatus,
    /// TCP handshake round-trip times measured at the tap. Left out of the
    /// JSON while no handshake has been measured (a reader then takes the
    /// empty default).
    #[serde(skip_serializing_if = "TcpRtt::is_empty")]
    pub tcp_rtt: TcpRtt,
    /// Video sessions playing now (latest first, up to 8), and the model
    /// estimating them.
    pub video: VideoStatus,
}

/// Video sessions in the status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VideoStatus {
    /// Version of the model (`none`: features only; empty: video sessions
    /// are off).
    pub model_version: String,
    /// Sessions ended since the start.
    pub sessions_ended: u64,
    /// Open sessions, latest first (up to 8).
    pub active: Vec<VideoSessionStatus>,
}

/// One open video session.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VideoSessionStatus {
    /// The device's name.
    pub device: String,
    /// Its address.
    pub device_ip: String,
    /// The video service.
    pub service: String,
    /// Start, Unix seconds.
    pub started_unix_s: f64,
    /// Bytes toward the device so far.
    pub bytes_down: u64,
    /// The latest window's estimated height, px (none until the first
    /// window closed, or without a model).
    pub resolution: Option<u32>,
    /// Estimated startup delay, s (once the first window closed).
    pub startup_delay_s: Option<f64>,
}

/// One worker and the frame source it polls.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct QueueStatus {
    /// The worker's index (the `worker` column of the tables).
    pub worker: u16,
    /// What it reads: `eth1 queue 0`, a capture file, `dispatcher`.
    pub source: String,
    /// How the source is bound: `xdp-zerocopy-native`, `xdp-copy-native`,
    /// `xdp-copy-generic`, `pcap`.
    pub capture_mode: String,
    /// Frames the worker received since the daemon started.
    pub packets: u64,
    /// Their wire bytes.
    pub bytes: u64,
    /// Share of poll-loop iterations that found frames, 0.0 to 1.0 (busy /
    /// (busy + idle)); `None` when the source does not poll.
    pub busy_poll_utilisation: Option<f64>,
}

/// Rates over a recent window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rates {
    /// Frames per second.
    pub packets_per_s: f64,
    /// Wire bits per second.
    pub bits_per_s: f64,
    /// Length of the window the rates were measured over, seconds; 0 when
    /// not measured yet.
    pub window_s: f64,
}

/// Counters summed over all workers since the daemon started. Names and
/// meanings are those of the `capture` table (ARCHITECTURE.md, "Counters
/// and what they mean").
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    /// Frames received from the sources.
    pub packets: u64,
    /// Their wire bytes.
    pub bytes: u64,
    /// Frames that became flow packets.
    pub ip_packets: u64,
    /// Frames that did not (`parse_errors_total`: non-IP, truncated,
    /// malformed); `packets = ip_packets + parse_errors`.
    pub parse_errors: u64,
    /// Flows opened.
    pub flows_created: u64,
    /// Flow records written to the `flows` table.
    pub flows_written: u64,
    /// Flows in the tables now (gauge).
    pub active_flows: u64,
    /// Flow table slots, total over workers; 0 when unknown.
    pub flow_capacity: u64,
    /// Finished-flow records lost because no summary buffer was free.
    pub records_dropped: u64,
    /// Hand-overs that found no free summary.
    pub summary_queue_full: u64,
    /// Frames the source dropped (AF_XDP: the kernel's `rx_dropped`).
    pub src_dropped: u64,
    /// Frames lost because the RX ring was full.
    pub src_ring_full: u64,
    /// Times the fill ring was empty (why `src_dropped` climbs).
    pub src_fill_ring_empty: u64,
    /// Invalid descriptors; in replay, unreadable capture-file records.
    pub src_invalid_descs: u64,
    /// Flows evicted early because a flow table was full.
    pub flow_table_full: u64,
    /// Names lost because an epoch's name log was full.
    pub name_events_dropped: u64,
    /// Flows left without a name because every reassembly buffer was busy.
    pub name_reasm_full: u64,
    /// Per-flow activity lost (missing from `traffic`).
    pub activity_dropped: u64,
    /// Frames whose timestamp was too far from the workers' time: counted
    /// as usual, at the latest good time (`capture.max_time_jump_s`).
    pub bad_timestamp: u64,
    /// Media segments lost because a worker's segment log was full.
    #[serde(default)]
    pub segments_dropped: u64,
    /// Frames the capture interface received (its own sysfs counter).
    pub nic_rx_packets: u64,
    /// Frames the interface dropped.
    pub nic_rx_dropped: u64,
    /// Frames the interface missed (its buffers were full).
    pub nic_rx_missed: u64,
    /// Whether the capture interface's link is up; `None` when not read
    /// (replay).
    pub link_up: Option<bool>,
    /// Times the interface's carrier went down or up.
    pub carrier_changes: u64,
}

/// Traffic of one device or service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    /// Device name (DHCP or mDNS host name, else `Unknown-<ip>`) or
    /// service name from the catalog.
    pub name: String,
    /// Frame bytes, both directions.
    pub bytes: u64,
}

/// One row of the `heavy_hitters` table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HeavyHitterRow {
    /// The counter's name (`src_bytes`, `src_dport_packets`). The view
    /// shows the estimates of counters whose name ends in `bytes` as byte
    /// sizes, others as counts.
    pub counter: String,
    /// 1 = largest estimate.
    pub rank: u16,
    /// The key as text (`10.0.0.1`, `10.0.0.1 > tcp/443`).
    pub key: String,
    /// Packets or bytes of the key in the window (count-min estimate).
    pub estimate: u64,
    /// The key's share of the counter's total, 0.0 to 1.0.
    pub share: f64,
}

/// One row of the `scans` table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScanRow {
    /// `port_scan` or `host_scan`.
    pub kind: String,
    /// The probing source.
    pub src_ip: String,
    /// Estimated distinct destination ports or hosts probed.
    pub distinct: u64,
    /// End of the window it was seen in, Unix seconds (UTC).
    pub window_end_unix_s: u64,
}

/// Active probes since the daemon started.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeSummary {
    /// Probe runs.
    pub runs: u64,
    /// Runs that failed.
    pub failures: u64,
    /// Runs in progress now.
    pub running: u64,
    /// Rows waiting to be written to the `probes` table (a write failed,
    /// or the next periodic write is not due yet).
    pub buffered: u64,
    /// Rows dropped because the buffer was full (`probe.buffer_rows`).
    pub dropped: u64,
    /// Failed writes of the `probes` table (the rows stayed buffered).
    pub write_errors: u64,
    /// The last write error, while rows wait because of it.
    pub write_error: Option<String>,
    /// One entry per task, in configuration order: its latest result.
    pub tasks: Vec<ProbeTaskStatus>,
}

/// The latest result of one probe task.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProbeTaskStatus {
    /// The task's name.
    pub name: String,
    /// Its kind (`icmp`, `https`, ...).
    pub kind: String,
    /// Its target (host, address or URL).
    pub target: String,
    /// Its runs since the daemon started.
    pub runs: u64,
    /// Its failed runs since the daemon started.
    pub failures: u64,
    /// Start of the latest run, Unix seconds; `None` before the first.
    pub last_unix_s: Option<u64>,
    /// Whether the latest run succeeded; `None` before the first.
    pub ok: Option<bool>,
    /// Its error class (`timeout`, `refused`, `cert_expired`, ...).
    pub error_class: Option<String>,
    /// The latest result in a line: the kind's main figures, or the error.
    pub summary: String,
    /// The latest run's main time, ms: median RTT, else total time, else
    /// connect time, else NTP delay.
    pub rtt_ms: Option<f64>,
}

/// The Parquet output.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FilesStatus {
    /// Files completed (moved into their table folders) since the daemon
    /// started.
    pub complete_files: u64,
    /// Their bytes.
    pub bytes_written: u64,
    /// Bytes the tables take on disk now.
    pub disk_used_bytes: u64,
    /// `output.quota_mb` in bytes; `None` when there is no quota.
    pub quota_bytes: Option<u64>,
    /// Oldest complete files deleted to stay under the quota.
    pub deleted_files: u64,
    /// The output directory.
    pub output_dir: String,
    /// Rows dropped because the sink fell behind (its queue was full),
    /// all tables.
    pub rows_dropped: u64,
    /// Rows lost to failed writes, all tables.
    pub rows_lost: u64,
    /// Failed writes, closes, renames, fsyncs and retention deletions.
    pub write_errors: u64,
    /// The sink's latest write error, if any since the daemon started.
    pub write_error: Option<String>,
}

/// TCP handshake round-trip times as the tap sees them, from the flow
/// records of TCP flows whose handshake was seen (each handshake counted
/// once, in the flow's first record). A flow's times join when its record
/// is merged, at the flow's end (or its first active-timeout split).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TcpRtt {
    /// SYN to the ACK that completes the handshake: the client-to-server
    /// round trip wherever the tap sits (`tcp_rtt_syn_ms + tcp_rtt_ack_ms`
    /// of the `flows` table; what tshark calls the initial RTT), since the
    /// daemon started.
    pub handshake: RttDistribution,
    /// SYN to SYN/ACK: tap to server and back (`tcp_rtt_syn_ms`), since the
    /// daemon started.
    pub server_side: RttDistribution,
    /// SYN/ACK to the client's ACK: tap to client and back
    /// (`tcp_rtt_ack_ms`), since the daemon started.
    pub client_side: RttDistribution,
    /// The handshake RTT of flows whose record ended within the latest
    /// `recent_window_s` seconds of packet time (no buckets).
    pub recent: RttDistribution,
    /// Length of the recent window, seconds.
    pub recent_window_s: u64,
}

impl TcpRtt {
    /// True when no handshake has been measured.
    pub fn is_empty(&self) -> bool {
        self.handshake.count == 0 && self.server_side.count == 0 && self.client_side.count == 0
    }
}

/// A distribution of round-trip times. Quantiles are nearest-rank values
/// read from a histogram that keeps 3 significant digits (each at most
/// 0.1 % above the exact value); `None` while `count` is 0.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RttDistribution {
    /// Times measured.
    pub count: u64,
    /// Their exact sum, ms.
    pub sum_ms: f64,
    /// Median, ms.
    pub p50_ms: Option<f64>,
    /// 90th percentile, ms.
    pub p90_ms: Option<f64>,
    /// 99th percentile, ms.
    pub p99_ms: Option<f64>,
    /// Largest, ms.
    pub max_ms: Option<f64>,
    /// Exact cumulative counts at the bounds of [`RTT_BUCKETS_MS`], in
    /// that order (empty when not kept).
    pub buckets: Vec<RttBucket>,
}

/// One cumulative bucket: how many times were at most `le_ms`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RttBucket {
    /// Upper bound, ms (inclusive).
    pub le_ms: f64,
    /// Times at most `le_ms`.
    pub count: u64,
}

#[cfg(any(test, feature = "fixture"))]
pub mod fixture;

#[cfg(test)]
mod tests;
