//! `tapscope report`: the tables drawn as one self-contained HTML page.
//!
//! Every section reads its table through [`sink::read`] (batch by batch,
//! only the columns it needs, rows filtered by time and tap) and
//! aggregates while reading into per-bucket and per-key sums whose size
//! is bounded ([`agg`]): nothing grows with the table. The charts are
//! plotters' SVG (`chart`), inline in the page with an inline stylesheet
//! (`html`): the file opens anywhere, without network access or scripts.
//! A section whose table is missing, empty or outside the range says so
//! instead of drawing empty axes.
//!
//! - [`render`]: the page, for the options and the current time.
//! - [`serve`]: the page over HTTP on a loopback address, redrawn from the
//!   live tables when asked.
//! - [`TimeSpec`]: `--since` and `--until`.

use std::path::PathBuf;

mod agg;
mod chart;
mod html;
mod sections;
pub mod serve;
mod timespec;

pub use timespec::TimeSpec;

use sink::read::Filter;

/// What to draw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// Root folder of the tables.
    pub root: PathBuf,
    /// Only data at or after this time.
    pub since: Option<TimeSpec>,
    /// Only data before this time.
    pub until: Option<TimeSpec>,
    /// Only this tap's rows.
    pub tap: Option<String>,
    /// Served pages: seconds after which the browser reloads the page
    /// (None: a file, no reload).
    pub reload_s: Option<u32>,
}

/// One section of a drawn report, for the command's summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SectionSummary {
    /// Its anchor in the page (`traffic`, `capture`, ...).
    pub id: &'static str,
    /// Its heading.
    pub title: &'static str,
    /// Charts drawn in it.
    pub charts: usize,
    /// What it could not show, and why.
    pub missing: Vec<String>,
}

/// A drawn report.
#[derive(Clone, Debug)]
pub struct Report {
    /// The page.
    pub html: String,
    /// Its sections, in page order.
    pub sections: Vec<SectionSummary>,
}

/// What every section reads with.
pub(crate) struct Ctx {
    pub(crate) root: PathBuf,
    pub(crate) filter: Filter,
    pub(crate) now_unix_s: u64,
}

/// Draws the report of the tables under `opts.root` as they are now.
/// Never fails: what cannot be read is said in the page.
pub fn render(opts: &Options, now_unix_s: u64) -> Report {
    let to_us = |t: TimeSpec| (t.resolve(now_unix_s) as i64).saturating_mul(1_000_000);
    let ctx = Ctx {
        root: opts.root.clone(),
        filter: Filter {
            since_us: opts.since.map(to_us),
            until_us: opts.until.map(to_us),
            tap: opts.tap.clone(),
        },
        now_unix_s,
    };
    let sections = sections::all(&ctx);
    let html = sections::page(&ctx, opts, &sections);
    Report {
        html,
        sections: sections
            .into_iter()
            .map(|s| SectionSummary {
                id: s.id,
                title: s.title,
                charts: s.charts,
                missing: s.missing,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datapath::sketch::state::FlowSizeRow;
    use datapath::sketch::Increment;
    use model::probe::{ErrorClass, ProbeError, ProbeResult};
    use model::rows::{CaptureRow, TrafficRow};
    use sink::tables::{Capture, FlowSizes, Probes, Traffic};
    use sink::{Sink, SinkConfig};
    use std::sync::Arc;

    const SEC: u64 = 1_000_000_000;
    /// 2024-05-01T10:00:00Z.
    const T0: u64 = (1_714_521_600 + 36_000) * SEC;

    fn traffic(i: u64, device: &str, service: &str, down: u64) -> TrafficRow {
        TrafficRow {
            start_ns: T0 + i * 5 * SEC,
            end_ns: T0 + (i + 1) * 5 * SEC,
            device_mac: Some([2, 0, 0, 0, 0, 1]),
            device_ip: std::net::Ipv4Addr::new(10, 0, 0, 1)
                .to_ipv6_mapped()
                .octets(),
            device_name: Arc::from(device),
            service: Arc::from(service),
            category: Arc::from("video"),
            bytes_down: down,
            bytes_up: down / 20,
            packets_down: down / 1_000,
            packets_up: down / 20_000,
            flows: 1,
        }
    }

    fn probe(i: u64, ok: bool) -> ProbeResult {
        ProbeResult {
            task: Arc::from("gateway"),
            kind: "icmp",
            target: Arc::from("192.0.2.1"),
            started_ns: T0 + i * 10 * SEC,
            duration_ms: 900.0,
            ok,
            error: (!ok).then(|| ProbeError::new(ErrorClass::Timeout, "no echo reply")),
            sent: Some(5),
            received: Some(if ok { 5 } else { 0 }),
            loss: Some(if ok { 0.0 } else { 1.0 }),
            rtt_min_ms: ok.then_some(1.0 + i as f64 / 10.0),
            rtt_median_ms: ok.then_some(2.0 + i as f64 / 10.0),
            rtt_max_ms: ok.then_some(4.0 + i as f64 / 10.0),
            ..ProbeResult::default()
        }
    }

    /// Five minutes of traffic, capture, probes and flow sizes of tap `t1`.
    fn folder() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Sink::open(SinkConfig {
            root: dir.path().to_path_buf(),
            tap_id: "t1".into(),
            rotate_secs: 0,
            rotate_bytes: 0,
            quota_bytes: 0,
            row_group_rows: 1_000,
        })
        .unwrap();
        let mut rows = Vec::new();
        for i in 0..60 {
            rows.push(traffic(i, "laptop", "netflix", 1_000_000 + i * 10_000));
            rows.push(traffic(i, "phone", "zoom", 200_000));
        }
        s.write::<Traffic>(&rows).unwrap();
        let capture: Vec<CaptureRow> = (0..300)
            .map(|i| {
                let mut r = CaptureRow {
                    source: "pcap:test.pcap".into(),
                    capture_mode: "pcap".into(),
                    start_ns: T0 + i * SEC,
                    end_ns: T0 + (i + 1) * SEC,
                    ..Default::default()
                };
                r.counters.packets = 1_000 + i;
                r.counters.ip_packets = 990 + i;
                r.counters.parse_errors[datapath::parse::ParseError::NonIp.reason()] = 10;
                r
            })
            .collect();
        s.write::<Capture>(&capture).unwrap();
        let probes: Vec<ProbeResult> = (0..30).map(|i| probe(i, i % 7 != 3)).collect();
        s.write::<Probes>(&probes).unwrap();
        let sizes: Vec<FlowSizeRow> = [(1, 1, 40, 40), (2, 2, 30, 60), (100, 127, 5, 560)]
            .iter()
            .map(|&(low, high, flows, volume)| FlowSizeRow {
                start_ns: T0,
                end_ns: T0 + SEC,
                workers: 1,
                metric: Increment::Packets,
                low,
                high,
                flows,
                volume,
            })
            .collect();
        s.write::<FlowSizes>(&sizes).unwrap();
        s.close().unwrap();
        dir
    }

    fn section<'a>(r: &'a Report, id: &str) -> &'a SectionSummary {
        r.sections.iter().find(|s| s.id == id).unwrap()
    }

    /// The points of the `polygon`s in the figure `id` of a page.
    fn polygons(html: &str, id: &str) -> Vec<String> {
        let fig = html
            .split(&format!("data-chart=\"{id}\""))
            .nth(1)
            .and_then(|s| s.split("</figure>").next())
            .unwrap_or("");
        fig.split("<polygon ")
            .skip(1)
            .filter_map(|p| p.split("points=\"").nth(1))
            .map(|p| p.split('"').next().unwrap_or("").to_string())
            .collect()
    }

    #[test]
    fn every_section_draws_its_table() {
        let dir = folder();
        let opts = Options {
            root: dir.path().to_path_buf(),
            ..Default::default()
        };
        let r = render(&opts, 1_800_000_000);
        let ids: Vec<&str> = r.sections.iter().map(|s| s.id).collect();
        assert_eq!(
            ids,
            [
                "data",
                "traffic",
                "top",
                "capture",
                "hitters",
                "probes",
                "flow-sizes",
                "video"
            ]
        );
        assert_eq!(section(&r, "traffic").charts, 2);
        assert_eq!(section(&r, "top").charts, 2);
        // Packets and the parse errors; no NIC counters in these rows.
        assert_eq!(section(&r, "capture").charts, 2);
        assert_eq!(section(&r, "probes").charts, 1);
        assert_eq!(section(&r, "flow-sizes").charts, 1);
        for id in ["traffic", "top", "capture", "probes"] {
            assert!(
                section(&r, id).missing.is_empty(),
                "{id}: {:?}",
                section(&r, id)
            );
        }
        // Two services, stacked down and up: four areas.
        assert_eq!(polygons(&r.html, "traffic-service").len(), 4);
        // The failed probe runs are counted and classed.
        assert!(
            r.html.contains("timeout 4"),
            "30 runs, every 7th from the 4th failed"
        );
        assert!(r.html.contains(">netflix<") && r.html.contains(">laptop<"));
        // What is not there is said.
        assert!(section(&r, "video").missing[0].contains("No video session"));
        assert!(!section(&r, "hitters").missing.is_empty());
        assert!(!r.html.contains("<script"));
    }

    #[test]
    fn an_empty_folder_says_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let r = render(
            &Options {
                root: dir.path().to_path_buf(),
                ..Default::default()
            },
            1_800_000_000,
        );
        for s in &r.sections {
            assert_eq!(s.charts, 0, "{}", s.id);
            assert!(!s.missing.is_empty(), "{}", s.id);
        }
        assert!(r.html.contains("holds none of tapscope"));
        assert!(r.html.contains("<p class=\"missing\">No traffic table"));
    }

    #[test]
    fn the_selection_keeps_the_rows_in_range_and_of_the_tap() {
        let dir = folder();
        let at = |s: u64| Some(TimeSpec::At(s));
        let t0 = T0 / SEC;
        // The first minute: 12 traffic intervals of the 60.
        let r = render(
            &Options {
                root: dir.path().to_path_buf(),
                since: at(t0),
                until: at(t0 + 60),
                ..Default::default()
            },
            1_800_000_000,
        );
        assert_eq!(section(&r, "traffic").charts, 2);
        // netflix's first 11 intervals that end before t0 + 60 s:
        // 11 × 1 MB + 10 kB × (0 + ... + 10).
        let netflix: u64 = (0..11).map(|i| 1_000_000 + i * 10_000).sum();
        assert!(
            r.html
                .contains(&format!(">{}</td>", crate::html::bytes(netflix as f64))),
            "{netflix}"
        );
        // Another tap: nothing, and the page says which taps there are.
        let r = render(
            &Options {
                root: dir.path().to_path_buf(),
                tap: Some("t2".into()),
                ..Default::default()
            },
            1_800_000_000,
        );
        let m = &section(&r, "traffic").missing[0];
        assert!(
            m.contains("none in the selected tap") && m.contains("Taps in it: t1"),
            "{m}"
        );
        assert_eq!(r.sections.iter().map(|s| s.charts).sum::<usize>(), 0);
        // An age: relative to the time the report is drawn.
        let r = render(
            &Options {
                root: dir.path().to_path_buf(),
                since: Some(TimeSpec::Ago(3_600)),
                ..Default::default()
            },
            t0 + 3_600 + 120,
        );
        assert_eq!(section(&r, "capture").charts, 2);
        // Epochs ending at or after t0 + 120 s: 119 to 299.
        assert!(r.html.contains(">181</td>"), "the last 181 epochs");
    }
}
