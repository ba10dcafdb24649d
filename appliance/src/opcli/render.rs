//! The human view of a daemon's status for `tapscope status` and `tapscope
//! top` ([`render`]), and the number formats the operator's tables share.
//!
//! Pure: no IO, no clock. Every time shown is derived from the snapshot
//! itself (`started_unix_s + uptime_s` is "now").
//!
//! The view never contains ANSI escape codes or other control characters:
//! names in a snapshot come from the network (DHCP and mDNS host names,
//! server names), so every string is cleaned before it is shown.

use model::status::{
    Counters, FilesStatus, HeavyHitterRow, ProbeSummary, Rates, ScanRow, Status, TcpRtt, Usage,
};
pub(crate) use model::time::format_utc;

/// The width callers pass to [`render`] when they know no better.
pub(crate) const DEFAULT_WIDTH: usize = 100;

/// Rows shown per list (top devices, top services, heavy hitters per
/// counter, recent scans).
const TOP_N: usize = 5;

/// Width of the label column of one-line sections.
const LABEL: usize = 11;

/// The human view of a snapshot: one screen, every line at most `width`
/// characters (longer ones end in `…`), no ANSI escape codes.
pub(crate) fn render(s: &Status, width: usize) -> String {
    let mut lines = Vec::new();
    lines.push(header(s));
    lines.push(String::new());
    capture(s, &mut lines);
    lines.push(row("rate", &rate(&s.rates)));
    drops(&s.totals, width, &mut lines);
    nic(s, &mut lines);
    flows(&s.totals, &mut lines);
    tcp_rtt(&s.tcp_rtt, &mut lines);
    lines.push(String::new());
    top_lists(s, width, &mut lines);
    video(s, &mut lines);
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
    if t.bad_timestamp > 0 {
        lines.push(row(
            "time",
            &format!(
                "{} packets with a bad timestamp (counted at the latest good time)",
                group(t.bad_timestamp)
            ),
        ));
    }
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

/// Video sessions playing now: device, service, estimated resolution and
/// startup delay; nothing when video sessions are off.
fn video(s: &Status, lines: &mut Vec<String>) {
    let v = &s.video;
    if v.model_version.is_empty() {
        return;
    }
    lines.push(String::new());
    lines.push(row(
        "video",
        &format!(
            "{} playing, {} ended   model {}",
            v.active.len(),
            group(v.sessions_ended),
            clean(&v.model_version)
        ),
    ));
    for a in v.active.iter().take(TOP_N) {
        let res = a.resolution.map_or("-".into(), |h| format!("{h}p"));
        let startup = a
            .startup_delay_s
            .map_or("-".into(), |d| format!("{d:.1} s"));
        lines.push(format!(
            "  {:<24} {:<14} {:>6}  startup {:>6}  {}",
            clean(&a.device),
            clean(&a.service),
            res,
            startup,
            human_bytes(a.bytes_down)
        ));
    }
}

/// The TCP handshake round-trip times since the start in a line; none
/// before the first handshake.
fn tcp_rtt(r: &TcpRtt, lines: &mut Vec<String>) {
    let d = &r.handshake;
    if d.count == 0 {
        return;
    }
    let q = |label: &str, v: Option<f64>| format!("{label} {}", v.map_or("-".into(), format_ms));
    let handshakes = if d.count == 1 {
        "handshake"
    } else {
        "handshakes"
    };
    lines.push(row(
        "tcp rtt",
        &format!(
            "{} {handshakes}   {}   {}   {}   {}",
            group(d.count),
            q("p50", d.p50_ms),
            q("p90", d.p90_ms),
            q("p99", d.p99_ms),
            q("max", d.max_ms),
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
        ("segments_dropped", t.segments_dropped),
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
pub(crate) fn truncate(s: &str, width: usize) -> String {
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
pub(crate) fn group(n: u64) -> String {
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
pub(crate) fn human_bytes(bytes: u64) -> String {
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
pub(crate) fn format_rate_bits(bits_per_s: f64) -> String {
    scaled(
        bits_per_s,
        1000.0,
        &["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"],
    )
}

/// A packet rate in decimal units: `3.5 pps`, `45.6 kpps`, `1.2 Mpps`;
/// `n/a` for a negative or non-finite rate.
pub(crate) fn format_rate_packets(packets_per_s: f64) -> String {
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
pub(crate) fn format_duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d {h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// How long ago, coarsely: `45 s ago`, `12 min ago`, `3 h ago`, `2 d ago`.
pub(crate) fn format_age(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86_400 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86_400),
    }
}

/// A time in ms with three significant digits: `0.412 ms`, `4.12 ms`,
/// `38.0 ms`, `212 ms`, `1.21 s`; `n/a` when negative or not finite.
pub(crate) fn format_ms(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        return "n/a".into();
    }
    let (v, unit) = if ms >= 999.5 {
        (ms / 1e3, "s")
    } else {
        (ms, "ms")
    };
    let digits = |v: f64| match v {
        v if v < 1.0 => 3,
        v if v < 10.0 => 2,
        v if v < 100.0 => 1,
        _ => 0,
    };
    let mut d = digits(v);
    let mut text = format!("{v:.d$}");
    // Rounding up may reach the next decade (9.996 -> 10.00).
    let shown: f64 = text.parse().unwrap_or(v);
    if digits(shown) < d {
        d = digits(shown);
        text = format!("{v:.d$}");
    }
    format!("{text} {unit}")
}

/// A fraction (0.0 to 1.0) as a percentage: `42.0 %`; `-` when not finite.
pub(crate) fn format_percent(fraction: f64) -> String {
    if fraction.is_finite() {
        format!("{:.1} %", fraction * 100.0)
    } else {
        "-".into()
    }
}

#[cfg(test)]
mod tests;
