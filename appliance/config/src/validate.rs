//! The checks serde cannot make: ranges, names, addresses, files. Each
//! failure names the dotted key; [`Config::parse`] places it in the text.

use std::path::Path;

use classify::catalog::Catalog;
use classify::devices::LocalNets;
use classify::toml_span::SpanIndex;
use datapath::sketch::MAX_COUNTERS;

use crate::{Config, ConfigError};

/// A failed check: the dotted key and what is wrong.
type Failure = (String, String);

/// An integer key's range.
fn range(key: &str, v: u64, lo: u64, hi: u64) -> Result<(), Failure> {
    if v < lo || v > hi {
        Err((
            key.into(),
            format!("{v} is out of range: must be {lo} to {hi}"),
        ))
    } else {
        Ok(())
    }
}

/// A float key's range (NaN is out of every range).
fn frange(key: &str, v: f64, lo: f64, hi: f64) -> Result<(), Failure> {
    if v.is_nan() || v < lo || v > hi {
        Err((
            key.into(),
            format!("{v} is out of range: must be {lo} to {hi}"),
        ))
    } else {
        Ok(())
    }
}

/// A power of two within a range.
fn pow2(key: &str, v: u32, lo: u32, hi: u32) -> Result<(), Failure> {
    if !v.is_power_of_two() || v < lo || v > hi {
        Err((
            key.into(),
            format!("{v} must be a power of two from {lo} to {hi}"),
        ))
    } else {
        Ok(())
    }
}

fn fail<T>(key: &str, message: impl Into<String>) -> Result<T, Failure> {
    Err((key.into(), message.into()))
}

impl Config {
    /// Checks what serde could not; a failure is placed at its key's line
    /// in `text`.
    pub(crate) fn validate(&self, text: &str, path: &Path) -> Result<(), ConfigError> {
        self.check_all().map_err(|(key, message)| {
            ConfigError::at_key(path.to_path_buf(), &SpanIndex::new(text), &key, message)
        })
    }

    fn check_all(&self) -> Result<(), Failure> {
        if self.tap_id.is_empty() || self.tap_id.len() > 64 {
            return fail("tap_id", "must be 1 to 64 characters");
        }
        if !self
            .tap_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return fail(
                "tap_id",
                "may hold only letters, digits, '-', '_' and '.' (it is part of file names)",
            );
        }
        self.check_capture()?;
        self.check_flows_and_output()?;
        self.check_classify_and_control()?;
        self.check_sketch()?;
        self.check_video()?;
        self.check_probes()
    }

    fn check_video(&self) -> Result<(), Failure> {
        let v = &self.video;
        if !matches!(v.segments.as_str(), "video" | "all" | "off") {
            return fail("video.segments", "must be video, all or off");
        }
        range(
            "video.request_min_payload",
            v.request_min_payload as u64,
            1,
            1500,
        )?;
        range("video.segment_min_bytes", v.segment_min_bytes, 1, 1 << 30)?;
        if !(v.segment_idle_s >= 0.05 && v.segment_idle_s <= 600.0) {
            return fail("video.segment_idle_s", "must be between 0.05 and 600");
        }
        if !(v.session_idle_s >= 1.0 && v.session_idle_s <= 3600.0) {
            return fail("video.session_idle_s", "must be between 1 and 3600");
        }
        if !(v.session_closed_gap_s >= 0.0 && v.session_closed_gap_s <= v.session_idle_s) {
            return fail(
                "video.session_closed_gap_s",
                "must be between 0 and video.session_idle_s",
            );
        }
        range(
            "video.session_min_segments",
            v.session_min_segments,
            0,
            1000,
        )?;
        if v.sessions && v.segments == "off" {
            return fail(
                "video.sessions",
                "needs segment detection (video.segments = video or all)",
            );
        }
        if let Err(e) = self.video_model() {
            return fail("video.model", &e);
        }
        Ok(())
    }

    fn check_capture(&self) -> Result<(), Failure> {
        let c = &self.capture;
        range("capture.workers", c.workers as u64, 1, 256)?;
        range("capture.batch_size", c.batch_size as u64, 1, 4096)?;
        range("capture.epoch_ms", c.epoch_ms, 10, 3_600_000)?;
        range("capture.queues", c.queues as u64, 0, 256)?;
        pow2("capture.umem_frames", c.umem_frames, 64, 1 << 20)?;
        pow2("capture.frame_size", c.frame_size, 2048, 4096)?;
        pow2("capture.rx_ring", c.rx_ring, 64, 1 << 16)?;
        range("capture.idle_wait_ms", c.idle_wait_ms, 0, 1000)?;
        range("capture.coalesce_us", c.coalesce_us as u64, 0, 1000)?;
        // Up to 100 years.
        range(
            "capture.max_time_jump_s",
            c.max_time_jump_s,
            1,
            3_155_760_000,
        )?;
        // The RX ring must hold what arrives during a sleep at line rate.
        if c.coalesce_us > 0 && (c.rx_ring as u64) < c.coalesce_us as u64 * 15 * 2 {
            return fail(
                "capture.coalesce_us",
                format!(
                    "{} us at 14.88 Mpps needs capture.rx_ring >= {}",
                    c.coalesce_us,
                    (c.coalesce_us as u64 * 30).next_power_of_two()
                ),
            );
        }
        Ok(())
    }

    fn check_flows_and_output(&self) -> Result<(), Failure> {
        let f = &self.flows;
        range("flows.capacity", f.capacity as u64, 16, 1 << 28)?;
        range("flows.tcp_idle_timeout_s", f.tcp_idle_timeout_s, 1, 86_400)?;
        range("flows.udp_idle_timeout_s", f.udp_idle_timeout_s, 1, 86_400)?;
        range(
            "flows.other_idle_timeout_s",
            f.other_idle_timeout_s,
            1,
            86_400,
        )?;
        range("flows.tcp_closed_linger_s", f.tcp_closed_linger_s, 0, 600)?;
        range("flows.active_timeout_s", f.active_timeout_s, 1, 86_400)?;
        let o = &self.output;
        range("output.rotate_interval_s", o.rotate_interval_s, 1, 86_400)?;
        range("output.rotate_size_mb", o.rotate_size_mb, 1, 1 << 20)?;
        range(
            "output.row_group_rows",
            o.row_group_rows as u64,
            1024,
            1 << 24,
        )?;
        if o.dir.as_os_str().is_empty() {
            return fail("output.dir", "must not be empty");
        }
        Ok(())
    }

    fn check_classify_and_control(&self) -> Result<(), Failure> {
        let c = &self.classify;
        range(
            "classify.traffic_interval_s",
            c.traffic_interval_s,
            1,
            86_400,
        )?;
        let epoch_s = self.capture.epoch_ms as f64 / 1000.0;
        if !(c.traffic_interval_s * 1000).is_multiple_of(self.capture.epoch_ms.max(1)) {
            return fail(
                "classify.traffic_interval_s",
                format!("must be a multiple of the epoch ({epoch_s} s)"),
            );
        }
        if let Err(e) = LocalNets::parse(c.local_subnets.iter().map(String::as_str)) {
            return fail("classify.local_subnets", e);
        }
        let metrics = &self.control.metrics;
        if !metrics.is_empty() && metrics.parse::<std::net::SocketAddr>().is_err() {
            return fail(
                "control.metrics",
                format!("`{metrics}` is not an address:port such as 127.0.0.1:9464"),
            );
        }
        if !c.services_file.as_os_str().is_empty() {
            if let Err(e) = Catalog::with_user_file(&c.services_file) {
                return fail("classify.services_file", e.to_string());
            }
        }
        Ok(())
    }

    fn check_sketch(&self) -> Result<(), Failure> {
        let k = &self.sketch;
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
            return fail(
                "sketch.counters",
                format!("{} counters: at most {MAX_COUNTERS}", k.counters.len()),
            );
        }
        for (i, c) in k.counters.iter().enumerate() {
            let key = |field: &str| format!("sketch.counters[{i}].{field}");
            if let Err((field, message)) = c.spec() {
                return fail(&key(field), message);
            }
            if k.counters[..i].iter().any(|o| o.name == c.name) {
                return fail(&key("name"), format!("\"{}\" names two counters", c.name));
            }
        }
        Ok(())
    }

    fn check_probes(&self) -> Result<(), Failure> {
        let p = &self.probe;
        range("probe.max_concurrent", p.max_concurrent as u64, 1, 256)?;
        range("probe.buffer_rows", p.buffer_rows as u64, 1, 10_000_000)?;
        range("probe.flush_interval_s", p.flush_interval_s, 1, 86_400)?;
        frange("probe.jitter", p.jitter, 0.0, 0.5)
            .map_err(|(k, _)| (k, format!("{} is out of range: must be 0 to 0.5", p.jitter)))?;
        for (i, e) in self.probes.iter().enumerate() {
            if let Err((field, message)) = e.task() {
                return fail(&format!("probes[{i}].{field}"), message);
            }
            let name = e.common().name;
            if self.probes[..i].iter().any(|o| o.common().name == name) {
                return fail(
                    &format!("probes[{i}].name"),
                    format!("\"{name}\" names two probe tasks"),
                );
            }
        }
        Ok(())
    }
}
