//! The rows that cross from the control core to the sink: each one a
//! table's row before it becomes columns.

use std::sync::Arc;

use datapath::epoch::{CaptureCounters, FlowRecord};

/// One row of the `capture` table: one worker's counters over one epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureRow {
    /// Index of the worker core.
    pub worker: u16,
    /// Where the worker's frames come from, e.g. `pcap:netflix.pcap` or
    /// `xdp:eth1/q0`.
    pub source: String,
    /// How they are captured, e.g. `pcap` or `xdp-zerocopy-native`.
    pub capture_mode: String,
    /// Packet-time bounds of the epoch, Unix ns (`end_ns` exclusive).
    pub start_ns: u64,
    pub end_ns: u64,
    pub counters: CaptureCounters,
    /// Live capture, the first worker's rows only: the interface's own
    /// counters over the epoch.
    pub nic: Option<NicRow>,
}

/// Interface-level counters over one epoch (see `iface::NicStats`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NicRow {
    pub rx_packets: u64,
    pub rx_dropped: u64,
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub carrier: bool,
    pub carrier_changes: u64,
}

/// What the classifier says of a flow, as written to `flows`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowLabels {
    pub server_name: Option<Arc<str>>,
    pub name_source: Option<&'static str>,
    pub alpn: Option<Arc<str>>,
    /// None = `unknown`.
    pub service: Option<Arc<str>>,
    pub category: Option<Arc<str>>,
    pub service_match: Option<&'static str>,
    pub direction: Option<&'static str>,
    pub device_mac: Option<[u8; 6]>,
    pub device_ip: Option<[u8; 16]>,
    pub device_name: Option<Arc<str>>,
}

/// One `flows` row: a finished flow and its labels.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowRow {
    pub rec: FlowRecord,
    pub labels: FlowLabels,
}

impl From<FlowRecord> for FlowRow {
    fn from(rec: FlowRecord) -> FlowRow {
        FlowRow {
            rec,
            labels: FlowLabels::default(),
        }
    }
}

/// One row of `traffic`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrafficRow {
    pub start_ns: u64,
    pub end_ns: u64,
    pub device_mac: Option<[u8; 6]>,
    pub device_ip: [u8; 16],
    pub device_name: Arc<str>,
    /// Service name (`unknown` when none matched) and category.
    pub service: Arc<str>,
    pub category: Arc<str>,
    /// Toward the device, and from it.
    pub bytes_down: u64,
    pub bytes_up: u64,
    pub packets_down: u64,
    pub packets_up: u64,
    /// Flows that carried packets in the interval.
    pub flows: u64,
}

/// One row of `sketch_state`: a window's merged sketches in binary form.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SketchStateRow {
    pub start_ns: u64,
    pub end_ns: u64,
    pub workers: u32,
    pub snapshots: u32,
    pub format_version: u16,
    pub state: Vec<u8>,
}
