//! A running daemon's status: the [`Status`] snapshot that the control
//! protocol carries (stable JSON for `tapscope status --json`), and its
//! human view for `tapscope status` and `tapscope top` ([`render`]).
//!
//! Pure: no IO, no clock. Every time shown is derived from the snapshot
//! itself (`started_unix_s + uptime_s` is "now").
//!
//! The view never contains ANSI escape codes or other control characters:
//! names in a snapshot come from the network (DHCP and mDNS host names,
//! server names), so every string is cleaned before it is shown.

use serde::{Deserialize, Serialize};

/// Version of the control protocol that carries [`Status`]. A client
/// reading a snapshot with `protocol` 0 got one from a daemon that did not
/// say (missing field).
pub const PROTOCOL_VERSION: u32 = 1;

/// The width callers pass to [`render`] when they know no better.
pub const DEFAULT_WIDTH: usize = 100;

/// Rows shown per list (top devices, top services, heavy hitters per
/// counter, recent scans).
const TOP_N: usize = 5;

/// Width of the label column of one-line sections.
const LABEL: usize = 11;

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
    /// The task's name, kind (`icmp`, `https`, ...) and target.
    pub name: String,
    pub kind: String,
    pub target: String,
    /// Its runs and failed runs since the daemon started.
    pub runs: u64,
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
}

/// The human view of a snapshot: one screen, every line at most `width`
/// characters (longer ones end in `…`), no ANSI escape codes.
pub fn render(s: &Status, width: usize) -> String {
    let mut lines = Vec::new();
    lines.push(header(s));
    lines.push(String::new());
    capture(s, &mut lines);
    lines.push(row("rate", &rate(&s.rates)));
    drops(&s.totals, width, &mut lines);
    nic(s, &mut lines);
    flows(&s.totals, &mut lines);
    lines.push(String::new());
    top_lists(s, width, &mut lines);
    lines.push(String::new());
    heavy_hitters(&s.heavy_hitters, &mut lines);
    lines.push(String::new());
    scans(s, &mut lines);
    lines.push(String::new());
    lines.push(row("probes", &probes(s.probes.as_ref())));
    probe_tasks(s, &mut lines);
    files(&s.files, &mut lines);

    let mut out = String::new();
    for l in lines {
        out.push_str(truncate(&l, width).trim_end());
        out.push('\n');
    }
    out
}

fn header(s: &Status) -> String {
    let mut h = String::from("tapscope");
    if !s.version.is_empty() {
        h += &format!(" {}", clean(&s.version));
    }
    if !s.tap_id.is_empty() {
        h += &format!("   tap {}", clean(&s.tap_id));
    }
    match (s.mode.is_empty(), &s.interface) {
        (false, Some(i)) => h += &format!("   {} on {}", clean(&s.mode), clean(i)),
        (false, None) => h += &format!("   {}", clean(&s.mode)),
        (true, Some(i)) => h += &format!("   on {}", clean(i)),
        (true, None) => {}
    }
    h += &format!("   up {}", format_duration(s.uptime_s));
    if s.started_unix_s > 0 {
        h += &format!(" (since {})", format_utc(s.started_unix_s));
    }
    h
}

fn capture(s: &Status, lines: &mut Vec<String>) {
    let t = &s.totals;
    if s.queues.is_empty() && t.packets == 0 && t.bytes == 0 {
        lines.push(row("capture", "no packets yet"));
        return;
    }
    let cols = |w: &str, src: &str, mode: &str, p: &str, b: &str, busy: &str| {
        format!(
            "{w:>6}  {}  {}  {p:>15}  {b:>10}  {busy:>7}",
            fit(src, 16),
            fit(mode, 20)
        )
    };
    lines.push(row(
        "capture",
        &cols("worker", "source", "mode", "packets", "bytes", "busy"),
    ));
    for q in &s.queues {
        let busy = q.busy_poll_utilisation.map_or("-".into(), format_percent);
        lines.push(row(
            "",
            &cols(
                &q.worker.to_string(),
                &clean(&q.source),
                &clean(&q.capture_mode),
                &group(q.packets),
                &human_bytes(q.bytes),
                &busy,
            ),
        ));
    }
    if s.queues.len() != 1 {
        lines.push(row(
            "",
            &cols(
                "",
                "total",
                "",
                &group(t.packets),
                &human_bytes(t.bytes),
                "",
            ),
        ));
    }
    lines.push(row(
        "parsed",
        &format!(
            "{} IP packets, {} not IP or not parsed",
            group(t.ip_packets),
            group(t.parse_errors)
        ),
    ));
}

fn rate(r: &Rates) -> String {
    if r.window_s.is_nan() || r.window_s <= 0.0 {
        return "not measured yet".into();
    }
    let window = if r.window_s.fract() == 0.0 {
        format!("{:.0} s", r.window_s)
    } else {
        format!("{:.1} s", r.window_s)
    };
    format!(
        "{}   {}   over the last {window}",
        format_rate_bits(r.bits_per_s),
        format_rate_packets(r.packets_per_s)
    )
}

fn flows(t: &Counters, lines: &mut Vec<String>) {
    let load = if t.flow_capacity > 0 {
        format!(
            "{} active of {} ({})",
            group(t.active_flows),
            group(t.flow_capacity),
            format_percent(t.active_flows as f64 / t.flow_capacity as f64)
        )
    } else {
        format!("{} active", group(t.active_flows))
    };
    lines.push(row(
        "flows",
        &format!(
            "{load}, {} created, {} written",
            group(t.flows_created),
            group(t.flows_written)
        ),
    ));
}

fn drops(t: &Counters, width: usize, lines: &mut Vec<String>) {
    let all = [
        ("nic_rx_dropped", t.nic_rx_dropped),
        ("nic_rx_missed", t.nic_rx_missed),
        ("src_dropped", t.src_dropped),
        ("src_ring_full", t.src_ring_full),
        ("src_fill_ring_empty", t.src_fill_ring_empty),
        ("src_invalid_descs", t.src_invalid_descs),
        ("summary_queue_full", t.summary_queue_full),
        ("records_dropped", t.records_dropped),
        ("activity_dropped", t.activity_dropped),
        ("flow_table_full", t.flow_table_full),
        ("name_events_dropped", t.name_events_dropped),
        ("name_reasm_full", t.name_reasm_full),
    ];
    let items: Vec<String> = all
        .iter()
        .filter(|(_, v)| *v > 0)
        .map(|(n, v)| format!("{n} {}", group(*v)))
        .collect();
    if items.is_empty() {
        lines.push(row("drops", "none"));
        return;
    }
    let mut line = row("drops", "");
    let mut first = true;
    for (i, item) in items.iter().enumerate() {
        let piece = if i + 1 < items.len() {
            format!("{item},")
        } else {
            item.clone()
        };
        let sep = if first { "" } else { " " };
        if !first && line.chars().count() + sep.len() + piece.chars().count() > width {
            lines.push(line);
            line = row("", "");
            first = true;
        }
        if !first {
            line.push(' ');
        }
        line += &piece;
        first = false;
    }
    lines.push(line);
}

fn nic(s: &Status, lines: &mut Vec<String>) {
    let t = &s.totals;
    let counted = t.nic_rx_packets > 0
        || t.nic_rx_dropped > 0
        || t.nic_rx_missed > 0
        || t.carrier_changes > 0;
    if t.link_up.is_none() && !counted {
        if s.mode == "live" {
            lines.push(row("nic", "counters not read"));
        }
        return;
    }
    let link = match t.link_up {
        Some(true) => "link up",
        Some(false) => "link DOWN",
        None => "link state unknown",
    };
    let changes = match t.carrier_changes {
        1 => "1 carrier change".to_string(),
        n => format!("{} carrier changes", group(n)),
    };
    lines.push(row(
        "nic",
        &format!(
            "{link}, {changes}; {} received, {} dropped, {} missed",
            group(t.nic_rx_packets),
            group(t.nic_rx_dropped),
            group(t.nic_rx_missed)
        ),
    ));
}

/// Width of one top list's rows: two spaces, the name, a space, the bytes.
const USAGE_ROW: usize = 2 + USAGE_NAME + 1 + 10;
const USAGE_NAME: usize = 34;
/// Column where the second list starts when the two stand side by side.
const USAGE_SECOND: usize = USAGE_ROW + 3;

fn usage_block(title: &str, list: &[Usage]) -> Vec<String> {
    let mut sorted: Vec<&Usage> = list.iter().collect();
    sorted.sort_by_key(|u| std::cmp::Reverse(u.bytes));
    let mut out = vec![title.to_string()];
    if sorted.is_empty() {
        out.push("  none yet".into());
    }
    for u in sorted.into_iter().take(TOP_N) {
        out.push(format!(
            "  {} {:>10}",
            fit(&clean(&u.name), USAGE_NAME),
            human_bytes(u.bytes)
        ));
    }
    out
}

fn top_lists(s: &Status, width: usize, lines: &mut Vec<String>) {
    let devices = usage_block("top devices", &s.top_devices);
    let services = usage_block("top services", &s.top_services);
    if width >= USAGE_SECOND + USAGE_ROW {
        for i in 0..devices.len().max(services.len()) {
            let left = devices.get(i).map_or("", String::as_str);
            let right = services.get(i).map_or("", String::as_str);
            lines.push(format!("{left:<USAGE_SECOND$}{right}"));
        }
    } else {
        lines.extend(devices);
        lines.push(String::new());
        lines.extend(services);
    }
}

fn heavy_hitters(rows: &[HeavyHitterRow], lines: &mut Vec<String>) {
    if rows.is_empty() {
        lines.push("heavy hitters".into());
        lines.push("  none yet".into());
        return;
    }
    lines.push(format!(
        "{:<20}  {:>4}  {:>11}  {:>7}  key",
        "heavy hitters", "rank", "estimate", "share"
    ));
    let mut counters: Vec<&str> = Vec::new();
    for r in rows {
        if !counters.contains(&r.counter.as_str()) {
            counters.push(&r.counter);
        }
    }
    for c in counters {
        let mut ranked: Vec<&HeavyHitterRow> = rows.iter().filter(|r| r.counter == c).collect();
        ranked.sort_by_key(|r| r.rank);
        for (i, r) in ranked.into_iter().take(TOP_N).enumerate() {
            let estimate = if c.ends_with("bytes") {
                human_bytes(r.estimate)
            } else {
                group(r.estimate)
            };
            let name = if i == 0 { clean(c) } else { String::new() };
            lines.push(format!(
                "  {}  {:>4}  {estimate:>11}  {:>7}  {}",
                fit(&name, 18),
                r.rank,
                format_percent(r.share),
                clean(&r.key)
            ));
        }
    }
}

fn scans(s: &Status, lines: &mut Vec<String>) {
    lines.push("recent scans".into());
    if s.scans.is_empty() {
        lines.push("  none".into());
        return;
    }
    let mut sorted: Vec<&ScanRow> = s.scans.iter().collect();
    sorted.sort_by(|a, b| {
        b.window_end_unix_s
            .cmp(&a.window_end_unix_s)
            .then(b.distinct.cmp(&a.distinct))
    });
    let shown = &sorted[..sorted.len().min(TOP_N)];
    let ip_width = shown
        .iter()
        .map(|r| clean(&r.src_ip).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(7, 39);
    let now = s.started_unix_s.saturating_add(s.uptime_s);
    for r in shown {
        let unit = match r.kind.as_str() {
            "port_scan" => "ports",
            "host_scan" => "hosts",
            _ => "distinct",
        };
        let mut when = format_utc(r.window_end_unix_s);
        if s.started_unix_s > 0 && now >= r.window_end_unix_s {
            when += &format!(" ({})", format_age(now - r.window_end_unix_s));
        }
        lines.push(format!(
            "  {}  {}  {:>9} {unit:<5}  {when}",
            fit(&clean(&r.kind), 9),
            fit(&clean(&r.src_ip), ip_width),
            group(r.distinct)
        ));
    }
    if sorted.len() > shown.len() {
        lines.push(format!(
            "  and {} more",
            group((sorted.len() - shown.len()) as u64)
        ));
    }
}

fn probes(p: Option<&ProbeSummary>) -> String {
    let mut text = match p {
        None => return "not configured".into(),
        Some(p) if p.runs == 0 => "none run yet".into(),
        Some(p) => format!(
            "{} runs, {} failed ({})",
            group(p.runs),
            group(p.failures),
            format_percent(p.failures as f64 / p.runs as f64)
        ),
    };
    let p = p.expect("matched above");
    if p.buffered > 0 && p.write_error.is_some() {
        text += &format!(", {} rows waiting for the disk", group(p.buffered));
    }
    if p.dropped > 0 {
        text += &format!(", {} rows dropped (buffer full)", group(p.dropped));
    }
    text
}

/// One line per probe task: its latest result.
fn probe_tasks(s: &Status, lines: &mut Vec<String>) {
    let Some(p) = &s.probes else { return };
    let now = s.started_unix_s + s.uptime_s;
    let name_w = p
        .tasks
        .iter()
        .map(|t| t.name.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(4, 16);
    for t in &p.tasks {
        let state = match t.ok {
            None => "-",
            Some(true) => "ok",
            Some(false) => "FAIL",
        };
        let when = t
            .last_unix_s
            .map_or("-".to_string(), |at| format_age(now.saturating_sub(at)));
        let text = if t.ok.is_none() {
            "not run yet".to_string()
        } else {
            clean(&t.summary)
        };
        lines.push(format!(
            "  {}  {}  {state:<4}  {when:>10}  {text}",
            fit(&clean(&t.name), name_w),
            fit(&clean(&t.kind), 10),
        ));
    }
    if let Some(e) = &p.write_error {
        lines.push(format!("  write error: {}", clean(e)));
    }
}

fn files(f: &FilesStatus, lines: &mut Vec<String>) {
    let mut text = if f.complete_files == 0 {
        "none complete yet".to_string()
    } else {
        format!(
            "{} complete, {} written",
            group(f.complete_files),
            human_bytes(f.bytes_written)
        )
    };
    if f.deleted_files > 0 {
        text += &format!(", {} deleted by the quota", group(f.deleted_files));
    }
    if !f.output_dir.is_empty() {
        text += &format!(", in {}", clean(&f.output_dir));
    }
    lines.push(row("files", &text));
    let disk = match f.quota_bytes {
        None => format!("{} used, no quota", human_bytes(f.disk_used_bytes)),
        Some(0) => format!("{} used, quota 0 B", human_bytes(f.disk_used_bytes)),
        Some(q) => format!(
            "{} used of {} quota ({})",
            human_bytes(f.disk_used_bytes),
            human_bytes(q),
            format_percent(f.disk_used_bytes as f64 / q as f64)
        ),
    };
    lines.push(row("disk", &disk));
}

/// A one-line section: the label in its column, then the text.
fn row(label: &str, text: &str) -> String {
    format!("{label:<LABEL$}{text}")
}

/// `s` cut to `width` characters and padded to exactly `width`.
fn fit(s: &str, width: usize) -> String {
    format!("{:<width$}", truncate(s, width))
}

/// `s` with control characters (ANSI escapes among them) and bidirectional
/// overrides replaced by `?`, so that text from the network cannot drive
/// the operator's terminal or reorder what it shows.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// `s` cut to at most `width` characters (not bytes), ending in `…` when
/// cut.
pub fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(width - 1).collect();
    out.push('…');
    out
}

/// A count with thousands separators: `1,234,567`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A byte size in binary units: `512 B`, `1.5 KiB`, `1.2 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    scaled(
        bytes as f64,
        1024.0,
        &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"],
    )
}

/// A bit rate in decimal units: `950 bit/s`, `12.3 Mbit/s`; `n/a` for a
/// negative or non-finite rate.
pub fn format_rate_bits(bits_per_s: f64) -> String {
    scaled(
        bits_per_s,
        1000.0,
        &["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"],
    )
}

/// A packet rate in decimal units: `3.5 pps`, `45.6 kpps`, `1.2 Mpps`;
/// `n/a` for a negative or non-finite rate.
pub fn format_rate_packets(packets_per_s: f64) -> String {
    scaled(packets_per_s, 1000.0, &["pps", "kpps", "Mpps", "Gpps"])
}

/// `v` in the largest unit that keeps it under `base`, one decimal (none
/// for the base unit from 10 up).
fn scaled(v: f64, base: f64, units: &[&str]) -> String {
    if !v.is_finite() || v < 0.0 {
        return "n/a".into();
    }
    if v == 0.0 {
        return format!("0 {}", units[0]);
    }
    let mut v = v;
    let mut i = 0;
    loop {
        let digits = if i == 0 && v >= 10.0 { 0 } else { 1 };
        let text = format!("{v:.digits$}");
        let shown: f64 = text.parse().unwrap_or(v);
        if shown >= base && i + 1 < units.len() {
            v /= base;
            i += 1;
            continue;
        }
        return format!("{text} {}", units[i]);
    }
}

/// A duration as `04:05:06`, or `3d 04:05:06` from a day up.
pub fn format_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// How long ago, coarsely: `45 s ago`, `12 min ago`, `3 h ago`, `2 d ago`.
pub fn format_age(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

/// A fraction (0.0 to 1.0) as a percentage: `42.0 %`; `-` when not finite.
pub fn format_percent(fraction: f64) -> String {
    if fraction.is_finite() {
        format!("{:.1} %", fraction * 100.0)
    } else {
        "-".into()
    }
}

pub use model::time::format_utc;

/// The snapshot in the Prometheus text exposition format (version 0.0.4):
/// the same counters as the status view, `tapscope_` prefixed, counters
/// ending in `_total`.
pub fn prometheus(s: &Status) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let esc = |v: &str| {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    };
    let mut metric = |name: &str, kind: &str, help: &str, samples: &[(String, f64)]| {
        let _ = writeln!(o, "# HELP tapscope_{name} {help}");
        let _ = writeln!(o, "# TYPE tapscope_{name} {kind}");
        for (labels, v) in samples {
            let _ = writeln!(o, "tapscope_{name}{labels} {v}");
        }
    };
    let one = |v: u64| vec![(String::new(), v as f64)];
    let t = &s.totals;
    metric(
        "uptime_seconds",
        "gauge",
        "Seconds since the daemon started.",
        &one(s.uptime_s),
    );
    metric(
        "packets_total",
        "counter",
        "Frames received, all queues.",
        &one(t.packets),
    );
    metric(
        "bytes_total",
        "counter",
        "Wire bytes received, all queues.",
        &one(t.bytes),
    );
    metric(
        "ip_packets_total",
        "counter",
        "Frames that became flow packets.",
        &one(t.ip_packets),
    );
    metric(
        "parse_errors_total",
        "counter",
        "Frames not parsed into a flow packet (non-IP included).",
        &one(t.parse_errors),
    );
    let q: Vec<(String, f64)> = s
        .queues
        .iter()
        .map(|q| {
            (
                format!(
                    "{{worker=\"{}\",mode=\"{}\"}}",
                    q.worker,
                    esc(&q.capture_mode)
                ),
                q.packets as f64,
            )
        })
        .collect();
    metric(
        "queue_packets_total",
        "counter",
        "Frames received per worker (RX queue).",
        &q,
    );
    let drops: Vec<(String, f64)> = [
        ("src_dropped", t.src_dropped),
        ("src_ring_full", t.src_ring_full),
        ("src_fill_ring_empty", t.src_fill_ring_empty),
        ("src_invalid_descs", t.src_invalid_descs),
        ("records_dropped", t.records_dropped),
        ("summary_queue_full", t.summary_queue_full),
        ("flow_table_full", t.flow_table_full),
        ("name_events_dropped", t.name_events_dropped),
        ("name_reasm_full", t.name_reasm_full),
        ("activity_dropped", t.activity_dropped),
        ("nic_rx_dropped", t.nic_rx_dropped),
        ("nic_rx_missed", t.nic_rx_missed),
    ]
    .iter()
    .map(|(c, v)| (format!("{{cause=\"{c}\"}}"), *v as f64))
    .collect();
    metric(
        "drops_total",
        "counter",
        "Drops by cause (see the capture table's columns).",
        &drops,
    );
    metric(
        "flows_active",
        "gauge",
        "Flows in the workers' tables.",
        &one(t.active_flows),
    );
    metric(
        "flow_capacity",
        "gauge",
        "Flow table capacity, all workers.",
        &one(t.flow_capacity),
    );
    metric(
        "flows_created_total",
        "counter",
        "Flows created.",
        &one(t.flows_created),
    );
    metric(
        "flows_written_total",
        "counter",
        "Flow records written.",
        &one(t.flows_written),
    );
    if let Some(p) = &s.probes {
        metric(
            "probe_runs_total",
            "counter",
            "Probe runs, all tasks.",
            &one(p.runs),
        );
        metric(
            "probe_failures_total",
            "counter",
            "Probe runs that failed, all tasks.",
            &one(p.failures),
        );
        metric(
            "probe_rows_buffered",
            "gauge",
            "Probe rows waiting to be written.",
            &one(p.buffered),
        );
        metric(
            "probe_rows_dropped_total",
            "counter",
            "Probe rows dropped because the buffer was full.",
            &one(p.dropped),
        );
        let task = |t: &ProbeTaskStatus| {
            format!("{{task=\"{}\",kind=\"{}\"}}", esc(&t.name), esc(&t.kind))
        };
        let ok: Vec<(String, f64)> = p
            .tasks
            .iter()
            .filter_map(|t| t.ok.map(|ok| (task(t), ok as u64 as f64)))
            .collect();
        metric(
            "probe_ok",
            "gauge",
            "1 when the task's latest run succeeded.",
            &ok,
        );
        let ms: Vec<(String, f64)> = p
            .tasks
            .iter()
            .filter_map(|t| t.rtt_ms.map(|v| (task(t), v / 1e3)))
            .collect();
        metric(
            "probe_latest_seconds",
            "gauge",
            "The task's latest main time (median RTT, else total, connect or NTP delay).",
            &ms,
        );
    }
    if let Some(up) = t.link_up {
        metric(
            "link_up",
            "gauge",
            "1 when the capture interface has carrier.",
            &one(up as u64),
        );
        metric(
            "carrier_changes_total",
            "counter",
            "Link up/down transitions.",
            &one(t.carrier_changes),
        );
        metric(
            "nic_rx_packets_total",
            "counter",
            "Frames the interface received.",
            &one(t.nic_rx_packets),
        );
    }
    let svc: Vec<(String, f64)> = s
        .top_services
        .iter()
        .map(|u| (format!("{{service=\"{}\"}}", esc(&u.name)), u.bytes as f64))
        .collect();
    metric(
        "service_bytes_total",
        "counter",
        "Bytes per service (the top services).",
        &svc,
    );
    metric(
        "files_complete_total",
        "counter",
        "Complete Parquet files written.",
        &one(s.files.complete_files),
    );
    metric(
        "files_bytes_written_total",
        "counter",
        "Bytes of complete Parquet files written.",
        &one(s.files.bytes_written),
    );
    metric(
        "disk_used_bytes",
        "gauge",
        "Bytes of complete files in the output folder.",
        &one(s.files.disk_used_bytes),
    );
    if let Some(q) = s.files.quota_bytes {
        metric("quota_bytes", "gauge", "The retention quota.", &one(q));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn hh(counter: &str, rank: u16, key: &str, estimate: u64, share: f64) -> HeavyHitterRow {
        HeavyHitterRow {
            counter: counter.into(),
            rank,
            key: key.into(),
            estimate,
            share,
        }
    }

    fn usage(name: &str, bytes: u64) -> Usage {
        Usage {
            name: name.into(),
            bytes,
        }
    }

    fn scan(kind: &str, src_ip: &str, distinct: u64, window_end_unix_s: u64) -> ScanRow {
        ScanRow {
            kind: kind.into(),
            src_ip: src_ip.into(),
            distinct,
            window_end_unix_s,
        }
    }

    /// A fully populated snapshot: a live tap three days into its run.
    fn fixture() -> Status {
        Status {
            protocol: PROTOCOL_VERSION,
            version: "0.1.0".into(),
            tap_id: "lab-tap-01".into(),
            started_unix_s: 1_748_764_800,
            uptime_s: 273_906,
            mode: "live".into(),
            interface: Some("eth1".into()),
            queues: vec![
                QueueStatus {
                    worker: 0,
                    source: "eth1 queue 0".into(),
                    capture_mode: "xdp-zerocopy-native".into(),
                    packets: 120_345_678,
                    bytes: 105_300_000_000,
                    busy_poll_utilisation: Some(0.42),
                },
                QueueStatus {
                    worker: 1,
                    source: "eth1 queue 1".into(),
                    capture_mode: "xdp-copy-native".into(),
                    packets: 119_002_003,
                    bytes: 104_470_000_000,
                    busy_poll_utilisation: None,
                },
            ],
            rates: Rates {
                packets_per_s: 145_600.0,
                bits_per_s: 1_234_000_000.0,
                window_s: 5.0,
            },
            totals: Counters {
                packets: 239_347_681,
                bytes: 209_770_000_000,
                ip_packets: 239_300_000,
                parse_errors: 47_681,
                flows_created: 1_234_567,
                flows_written: 1_153_333,
                active_flows: 81_234,
                flow_capacity: 262_144,
                records_dropped: 3,
                summary_queue_full: 1,
                src_dropped: 1_024,
                src_ring_full: 0,
                src_fill_ring_empty: 1_024,
                src_invalid_descs: 0,
                flow_table_full: 12,
                name_events_dropped: 0,
                name_reasm_full: 7,
                activity_dropped: 0,
                nic_rx_packets: 239_350_000,
                nic_rx_dropped: 0,
                nic_rx_missed: 0,
                link_up: Some(true),
                carrier_changes: 2,
            },
            top_devices: vec![
                usage("alice-laptop", 41 * GIB + GIB / 5),
                usage("living-room-tv", 60 * GIB),
                usage("Unknown-192.168.1.77", 512 * 1024 * 1024),
                usage("bobs-iphone", 3 * GIB + GIB / 2),
                usage("printer", 1_500_000),
                usage("thermostat", 20_000),
            ],
            top_services: vec![
                usage("Netflix", 58 * GIB),
                usage("YouTube", 21 * GIB),
                usage("Zoom", 9 * GIB + GIB / 10),
                usage("unknown", 4 * GIB),
            ],
            heavy_hitters: vec![
                hh("src_bytes", 1, "192.168.1.20", 412_000_000, 0.412),
                hh("src_bytes", 2, "192.168.1.31", 120_000_000, 0.12),
                hh("src_bytes", 3, "10.8.0.2", 64_500_000, 0.0645),
                hh("dst_bytes", 1, "198.51.100.7", 388_000_000, 0.388),
                hh(
                    "dst_bytes",
                    2,
                    "2001:db8:85a3::8a2e:370:7334",
                    97_000_000,
                    0.097,
                ),
                hh(
                    "src_dport_packets",
                    1,
                    "192.168.1.20 > tcp/443",
                    96_200,
                    0.385,
                ),
                hh(
                    "src_dport_packets",
                    2,
                    "192.168.1.31 > udp/443",
                    40_100,
                    0.16,
                ),
                hh(
                    "src_dport_packets",
                    3,
                    "192.168.1.66 > tcp/22",
                    12_004,
                    0.048,
                ),
                hh(
                    "src_dport_packets",
                    4,
                    "192.168.1.20 > udp/53",
                    3_100,
                    0.0124,
                ),
                hh(
                    "src_dport_packets",
                    5,
                    "192.168.1.31 > udp/53",
                    2_950,
                    0.0118,
                ),
                hh("src_dport_packets", 6, "192.168.1.9 > udp/123", 20, 0.0001),
            ],
            scans: vec![
                scan("host_scan", "192.168.1.66", 87, 1_749_038_640),
                scan("port_scan", "192.168.1.66", 1_024, 1_749_038_700),
                scan("port_scan", "203.0.113.9", 3_190, 1_749_037_200),
            ],
            probes: Some(ProbeSummary {
                runs: 120,
                failures: 2,
                ..ProbeSummary::default()
            }),
            files: FilesStatus {
                complete_files: 1_042,
                bytes_written: 13_200_000_000,
                disk_used_bytes: 9_800_000_000,
                quota_bytes: Some(20_000 * 1024 * 1024),
                deleted_files: 31,
                output_dir: "/var/lib/tapscope".into(),
            },
        }
    }

    const SNAPSHOT: &str = "\
tapscope 0.1.0   tap lab-tap-01   live on eth1   up 3d 04:05:06 (since 2025-06-01 08:00:00 UTC)

capture    worker  source            mode                          packets       bytes     busy
                0  eth1 queue 0      xdp-zerocopy-native       120,345,678    98.1 GiB   42.0 %
                1  eth1 queue 1      xdp-copy-native           119,002,003    97.3 GiB        -
                   total                                       239,347,681   195.4 GiB
parsed     239,300,000 IP packets, 47,681 not IP or not parsed
rate       1.2 Gbit/s   145.6 kpps   over the last 5 s
drops      src_dropped 1,024, src_fill_ring_empty 1,024, summary_queue_full 1, records_dropped 3,
           flow_table_full 12, name_reasm_full 7
nic        link up, 2 carrier changes; 239,350,000 received, 0 dropped, 0 missed
flows      81,234 active of 262,144 (31.0 %), 1,234,567 created, 1,153,333 written

top devices                                       top services
  living-room-tv                       60.0 GiB     Netflix                              58.0 GiB
  alice-laptop                         41.2 GiB     YouTube                              21.0 GiB
  bobs-iphone                           3.5 GiB     Zoom                                  9.1 GiB
  Unknown-192.168.1.77                512.0 MiB     unknown                               4.0 GiB
  printer                               1.4 MiB

heavy hitters         rank     estimate    share  key
  src_bytes              1    392.9 MiB   41.2 %  192.168.1.20
                         2    114.4 MiB   12.0 %  192.168.1.31
                         3     61.5 MiB    6.5 %  10.8.0.2
  dst_bytes              1    370.0 MiB   38.8 %  198.51.100.7
                         2     92.5 MiB    9.7 %  2001:db8:85a3::8a2e:370:7334
  src_dport_packets      1       96,200   38.5 %  192.168.1.20 > tcp/443
                         2       40,100   16.0 %  192.168.1.31 > udp/443
                         3       12,004    4.8 %  192.168.1.66 > tcp/22
                         4        3,100    1.2 %  192.168.1.20 > udp/53
                         5        2,950    1.2 %  192.168.1.31 > udp/53

recent scans
  port_scan  192.168.1.66      1,024 ports  2025-06-04 12:05:00 UTC (6 s ago)
  host_scan  192.168.1.66         87 hosts  2025-06-04 12:04:00 UTC (1 min ago)
  port_scan  203.0.113.9       3,190 ports  2025-06-04 11:40:00 UTC (25 min ago)

probes     120 runs, 2 failed (1.7 %)
files      1,042 complete, 12.3 GiB written, 31 deleted by the quota, in /var/lib/tapscope
disk       9.1 GiB used of 19.5 GiB quota (46.7 %)
";

    #[test]
    fn render_snapshot() {
        let out = render(&fixture(), DEFAULT_WIDTH);
        for l in out.lines() {
            assert!(l.chars().count() <= 100, "too long: {l:?}");
        }
        assert_eq!(out, SNAPSHOT, "\n{out}");
    }

    #[test]
    fn render_probe_tasks_snapshot() {
        let mut s = fixture();
        let now = s.started_unix_s + s.uptime_s;
        let task =
            |name: &str, kind: &str, ok: Option<bool>, summary: &str, age: u64| ProbeTaskStatus {
                name: name.into(),
                kind: kind.into(),
                target: "x".into(),
                runs: 10,
                failures: u64::from(ok == Some(false)),
                last_unix_s: ok.map(|_| now - age),
                ok,
                error_class: None,
                summary: summary.into(),
                rtt_ms: ok.map(|_| 0.41),
            };
        s.probes = Some(ProbeSummary {
            runs: 40,
            failures: 3,
            running: 1,
            buffered: 12,
            dropped: 2,
            write_errors: 4,
            write_error: Some(
                "creating /var/lib/tapscope/.inprogress/probes/x: No space left on device".into(),
            ),
            tasks: vec![
                task(
                    "gateway",
                    "icmp",
                    Some(true),
                    "rtt 0.41 ms (min 0.30 ms, max 0.90 ms), loss 0 %",
                    12,
                ),
                task(
                    "intranet-https",
                    "https",
                    Some(false),
                    "cert_expired: TLS handshake with 10.1.0.5:443: invalid peer certificate: Expired",
                    75,
                ),
                task("iperf", "throughput", None, "", 0),
            ],
        });
        let out = render(&s, DEFAULT_WIDTH);
        let start = out.find("\nprobes").unwrap() + 1;
        let end = out.find("\nfiles").unwrap() + 1;
        let expected = "\
probes     40 runs, 3 failed (7.5 %), 12 rows waiting for the disk, 2 rows dropped (buffer full)
  gateway         icmp        ok      12 s ago  rtt 0.41 ms (min 0.30 ms, max 0.90 ms), loss 0 %
  intranet-https  https       FAIL   1 min ago  cert_expired: TLS handshake with 10.1.0.5:443: inva…
  iperf           throughput  -              -  not run yet
  write error: creating /var/lib/tapscope/.inprogress/probes/x: No space left on device
";
        assert_eq!(&out[start..end], expected, "\n{}", &out[start..end]);
        for l in out.lines() {
            assert!(l.chars().count() <= 100, "too long: {l:?}");
        }
        let p = prometheus(&s);
        assert!(
            p.contains("tapscope_probe_ok{task=\"gateway\",kind=\"icmp\"} 1\n"),
            "{p}"
        );
        assert!(p.contains("tapscope_probe_ok{task=\"intranet-https\",kind=\"https\"} 0\n"));
        assert!(p.contains("tapscope_probe_rows_dropped_total 2\n"));
        assert!(!p.contains("tapscope_probe_ok{task=\"iperf\""));
    }

    #[test]
    fn render_fits_any_width() {
        let mut noisy = fixture();
        noisy.top_devices.push(usage(&"x".repeat(300), 1));
        noisy.heavy_hitters.push(hh(
            &"c".repeat(64),
            1,
            "tcp [2001:db8:85a3::8a2e:370:7334]:40000 > [2001:db8:85a3::8a2e:370:7335]:443",
            1,
            0.5,
        ));
        noisy.files.output_dir = "/ü".repeat(100);
        for s in [fixture(), noisy, Status::default()] {
            for width in [0, 1, 2, 10, 40, 60, 80, 96, 97, 100, 120] {
                let out = render(&s, width);
                for l in out.lines() {
                    assert!(l.chars().count() <= width, "{width}: {l:?}");
                }
            }
        }
        let narrow = render(&fixture(), 80);
        assert!(narrow.contains("\ntop devices\n"), "{narrow}");
        assert!(narrow.contains("\ntop services\n"), "{narrow}");
        assert!(narrow.contains('…'), "{narrow}");
    }

    #[test]
    fn render_default_says_nothing_yet() {
        let out = render(&Status::default(), DEFAULT_WIDTH);
        let expected = "\
tapscope   up 00:00:00

capture    no packets yet
rate       not measured yet
drops      none
flows      0 active, 0 created, 0 written

top devices                                       top services
  none yet                                          none yet

heavy hitters
  none yet

recent scans
  none

probes     not configured
files      none complete yet
disk       0 B used, no quota
";
        assert_eq!(out, expected, "\n{out}");
    }

    #[test]
    fn render_replay_and_edge_cases() {
        let mut s = fixture();
        s.mode = "replay".into();
        s.interface = None;
        s.uptime_s = 65;
        s.queues.truncate(1);
        s.totals = Counters {
            packets: 1_793,
            bytes: 1_100_000,
            ip_packets: 1_791,
            parse_errors: 2,
            ..Counters::default()
        };
        s.probes = Some(ProbeSummary::default());
        s.files.quota_bytes = None;
        s.scans = (0..8)
            .map(|i| scan("port_scan", "10.0.0.1", 100 + i, 1_748_764_800))
            .collect();
        let out = render(&s, DEFAULT_WIDTH);
        assert!(out.starts_with("tapscope 0.1.0   tap lab-tap-01   replay   up 00:01:05 (since "));
        assert!(
            !out.contains("total"),
            "one queue needs no total row\n{out}"
        );
        assert!(!out.contains("\nnic"), "replay has no interface\n{out}");
        assert!(out.contains("\ndrops      none\n"));
        assert!(out.contains("\nflows      0 active, 0 created"));
        assert!(out.contains("\n  and 3 more\n"));
        assert!(out.contains("\nprobes     none run yet\n"));
        assert!(out.contains("used, no quota\n"));

        let mut live = Status {
            mode: "live".into(),
            ..Status::default()
        };
        assert!(render(&live, 100).contains("\nnic        counters not read\n"));
        live.totals.link_up = Some(false);
        live.totals.carrier_changes = 1;
        assert!(render(&live, 100).contains("\nnic        link DOWN, 1 carrier change;"));
    }

    #[test]
    fn render_cleans_control_characters() {
        let mut s = fixture();
        s.top_devices[0].name = "evil\x1b[2J\x1b]0;owned\x07\u{202E}gpj.exe\r\n".into();
        s.heavy_hitters[0].key = "\x1b[31mred".into();
        s.tap_id = "tap\u{9b}31m".into();
        let out = render(&s, DEFAULT_WIDTH);
        assert!(
            !out.chars()
                .any(|c| (c.is_control() && c != '\n') || c == '\u{202E}'),
            "{out:?}"
        );
        assert!(out.contains("evil?[2J?]0;owned??gpj.exe??"), "{out}");
        assert_eq!(out.lines().count(), SNAPSHOT.lines().count());
    }

    #[test]
    fn json_round_trip() {
        let s = fixture();
        let text = serde_json::to_string_pretty(&s).unwrap();
        let back: Status = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s);
        let empty: Status =
            serde_json::from_str(&serde_json::to_string(&Status::default()).unwrap()).unwrap();
        assert_eq!(empty, Status::default());
    }

    fn keys(v: &serde_json::Value) -> Vec<&str> {
        let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        k.sort_unstable();
        k
    }

    fn sorted(mut v: Vec<&str>) -> Vec<&str> {
        v.sort_unstable();
        v
    }

    #[test]
    fn json_field_names_are_stable() {
        let v = serde_json::to_value(fixture()).unwrap();
        assert_eq!(
            keys(&v),
            sorted(vec![
                "protocol",
                "version",
                "tap_id",
                "started_unix_s",
                "uptime_s",
                "mode",
                "interface",
                "queues",
                "rates",
                "totals",
                "top_devices",
                "top_services",
                "heavy_hitters",
                "scans",
                "probes",
                "files",
            ])
        );
        assert_eq!(
            keys(&v["queues"][0]),
            sorted(vec![
                "worker",
                "source",
                "capture_mode",
                "packets",
                "bytes",
                "busy_poll_utilisation",
            ])
        );
        assert_eq!(
            keys(&v["rates"]),
            sorted(vec!["packets_per_s", "bits_per_s", "window_s"])
        );
        assert_eq!(
            keys(&v["totals"]),
            sorted(vec![
                "packets",
                "bytes",
                "ip_packets",
                "parse_errors",
                "flows_created",
                "flows_written",
                "active_flows",
                "flow_capacity",
                "records_dropped",
                "summary_queue_full",
                "src_dropped",
                "src_ring_full",
                "src_fill_ring_empty",
                "src_invalid_descs",
                "flow_table_full",
                "name_events_dropped",
                "name_reasm_full",
                "activity_dropped",
                "nic_rx_packets",
                "nic_rx_dropped",
                "nic_rx_missed",
                "link_up",
                "carrier_changes",
            ])
        );
        assert_eq!(keys(&v["top_devices"][0]), sorted(vec!["name", "bytes"]));
        assert_eq!(keys(&v["top_services"][0]), sorted(vec!["name", "bytes"]));
        assert_eq!(
            keys(&v["heavy_hitters"][0]),
            sorted(vec!["counter", "rank", "key", "estimate", "share"])
        );
        assert_eq!(
            keys(&v["scans"][0]),
            sorted(vec!["kind", "src_ip", "distinct", "window_end_unix_s"])
        );
        assert_eq!(
            keys(&v["probes"]),
            sorted(vec![
                "runs",
                "failures",
                "running",
                "buffered",
                "dropped",
                "write_errors",
                "write_error",
                "tasks",
            ])
        );
        assert_eq!(
            keys(&v["files"]),
            sorted(vec![
                "complete_files",
                "bytes_written",
                "disk_used_bytes",
                "quota_bytes",
                "deleted_files",
                "output_dir",
            ])
        );
        assert_eq!(v["protocol"], 1);
        assert_eq!(v["interface"], "eth1");
        assert!(v["queues"][1]["busy_poll_utilisation"].is_null());
    }

    #[test]
    fn json_tolerates_unknown_and_missing_fields() {
        let text = r#"{
            "protocol": 2,
            "version": "0.9.0",
            "from_the_future": {"nested": [1, 2, 3]},
            "queues": [{"worker": 3, "packets": 10, "new_gauge": 1.5}],
            "totals": {"packets": 7, "link_up": false},
            "probes": {"runs": 4},
            "files": {"quota_bytes": null}
        }"#;
        let s: Status = serde_json::from_str(text).unwrap();
        assert_eq!(s.protocol, 2);
        assert_eq!(s.version, "0.9.0");
        assert_eq!(s.tap_id, "");
        assert_eq!(s.interface, None);
        assert_eq!(
            s.queues,
            vec![QueueStatus {
                worker: 3,
                packets: 10,
                ..QueueStatus::default()
            }]
        );
        assert_eq!(s.totals.packets, 7);
        assert_eq!(s.totals.link_up, Some(false));
        assert_eq!(s.totals.bytes, 0);
        assert_eq!(s.rates, Rates::default());
        assert_eq!(
            s.probes,
            Some(ProbeSummary {
                runs: 4,
                ..ProbeSummary::default()
            })
        );
        assert_eq!(s.files, FilesStatus::default());
        render(&s, DEFAULT_WIDTH);

        let empty: Status = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, Status::default());
    }

    #[test]
    fn counts_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1_000), "1,000");
        assert_eq!(group(123_456), "123,456");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(group(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn bytes_use_binary_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(human_bytes(GIB + GIB / 5), "1.2 GiB");
        assert_eq!(human_bytes(5 << 40), "5.0 TiB");
        assert_eq!(human_bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn bit_rates_use_decimal_units() {
        assert_eq!(format_rate_bits(0.0), "0 bit/s");
        assert_eq!(format_rate_bits(0.5), "0.5 bit/s");
        assert_eq!(format_rate_bits(950.0), "950 bit/s");
        assert_eq!(format_rate_bits(999.7), "1.0 kbit/s");
        assert_eq!(format_rate_bits(12_300_000.0), "12.3 Mbit/s");
        assert_eq!(format_rate_bits(999_960.0), "1.0 Mbit/s");
        assert_eq!(format_rate_bits(9.87e9), "9.9 Gbit/s");
        assert_eq!(format_rate_bits(4.0e15), "4000.0 Tbit/s");
        assert_eq!(format_rate_bits(-1.0), "n/a");
        assert_eq!(format_rate_bits(f64::NAN), "n/a");
        assert_eq!(format_rate_bits(f64::INFINITY), "n/a");
    }

    #[test]
    fn packet_rates_use_decimal_units() {
        assert_eq!(format_rate_packets(0.0), "0 pps");
        assert_eq!(format_rate_packets(3.5), "3.5 pps");
        assert_eq!(format_rate_packets(120.0), "120 pps");
        assert_eq!(format_rate_packets(45_600.0), "45.6 kpps");
        assert_eq!(format_rate_packets(14_880_000.0), "14.9 Mpps");
        assert_eq!(format_rate_packets(f64::NAN), "n/a");
    }

    #[test]
    fn durations_and_ages() {
        assert_eq!(format_duration(0), "00:00:00");
        assert_eq!(format_duration(59), "00:00:59");
        assert_eq!(format_duration(3_600 * 23 + 61), "23:01:01");
        assert_eq!(format_duration(86_400), "1d 00:00:00");
        assert_eq!(format_duration(273_906), "3d 04:05:06");
        assert_eq!(format_duration(400 * 86_400 + 1), "400d 00:00:01");
        assert_eq!(format_age(0), "0 s ago");
        assert_eq!(format_age(59), "59 s ago");
        assert_eq!(format_age(60), "1 min ago");
        assert_eq!(format_age(3_599), "59 min ago");
        assert_eq!(format_age(7_300), "2 h ago");
        assert_eq!(format_age(3 * 86_400), "3 d ago");
    }

    #[test]
    fn percentages() {
        assert_eq!(format_percent(0.0), "0.0 %");
        assert_eq!(format_percent(0.42), "42.0 %");
        assert_eq!(format_percent(0.0645), "6.5 %");
        assert_eq!(format_percent(1.0), "100.0 %");
        assert_eq!(format_percent(f64::INFINITY), "-");
        assert_eq!(format_percent(f64::NAN), "-");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_748_764_800), "2025-06-01 08:00:00 UTC");
        assert_eq!(format_utc(1_767_225_599), "2025-12-31 23:59:59 UTC");
        assert_eq!(format_utc(4_107_542_400), "2100-03-01 00:00:00 UTC");
    }

    #[test]
    fn truncation_counts_chars_not_bytes() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
        assert_eq!(truncate("abcd", 1), "…");
        assert_eq!(truncate("abcd", 0), "");
        assert_eq!(truncate("", 0), "");
        assert_eq!(truncate("grüße", 5), "grüße");
        assert_eq!(truncate("grüßeñ", 5), "grüß…");
        assert_eq!(truncate("日本語テキスト", 4), "日本語…");
        assert_eq!(truncate("µs…", 3), "µs…");
    }

    #[test]
    fn prometheus_exposition_has_help_type_and_values() {
        let mut s = Status::default();
        s.totals.packets = 42;
        s.totals.src_ring_full = 3;
        s.top_services.push(Usage {
            name: "we\"ird".into(),
            bytes: 7,
        });
        let text = prometheus(&s);
        assert!(text.contains("# TYPE tapscope_packets_total counter\ntapscope_packets_total 42\n"));
        assert!(text.contains("tapscope_drops_total{cause=\"src_ring_full\"} 3\n"));
        assert!(text.contains("tapscope_service_bytes_total{service=\"we\\\"ird\"} 7\n"));
        assert!(
            !text.contains("tapscope_link_up"),
            "no link state in replay"
        );
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (name, value) = line.rsplit_once(' ').unwrap();
            assert!(name.starts_with("tapscope_"), "{line}");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }
}
