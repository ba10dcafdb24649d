//! Probe results (the `probes` table) as SmokePing draws them: per task,
//! the spread of round-trip times per bucket as a grey band, the median
//! as a bar coloured by loss, and failed runs marked.

use std::collections::BTreeMap;

use sink::read::{scan, Row};

use super::{no_rows, table_absent, Section};
use crate::agg::{Bounded, Span};
use crate::chart::{self, Band, LOSS};
use crate::html::{esc, group, pct, short, si, table};
use crate::Ctx;

/// Tasks drawn (all are listed).
const MAX_CHARTS: usize = 16;

const COLS: &[&str] = &[
    "task",
    "kind",
    "target",
    "ok",
    "error_class",
    "loss",
    "rtt_min_ms",
    "rtt_median_ms",
    "rtt_max_ms",
    "total_ms",
    "connect_ms",
    "ntp_delay_ms",
    "duration_ms",
    "started_at",
];

/// A run's latency: its median RTT, else its whole time (http, dns), its
/// connect time (tcp), its NTP delay, else (when it succeeded) its length.
fn latency(r: &Row<'_>) -> Option<f64> {
    r.f64(7)
        .or_else(|| r.f64(9))
        .or_else(|| r.f64(10))
        .or_else(|| r.f64(11))
        .or_else(|| r.bool(3).filter(|ok| *ok).and_then(|_| r.f64(12)))
}

/// A run's loss: its loss column, else 1 for a failed run and 0 otherwise.
fn loss(r: &Row<'_>) -> f64 {
    r.f64(5)
        .unwrap_or(if r.bool(3) == Some(false) { 1.0 } else { 0.0 })
}

#[derive(Clone, Debug, Default)]
struct Task {
    kind: String,
    target: String,
    runs: u64,
    failed: u64,
    loss: f64,
    latency_sum: f64,
    latency_n: u64,
    first_us: i64,
    last_us: i64,
    errors: BTreeMap<String, u64>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    runs: u64,
    failed: u64,
    loss: f64,
    lo: Option<f64>,
    hi: Option<f64>,
    median_sum: f64,
    median_n: u64,
}

pub(crate) fn section(ctx: &Ctx) -> Section {
    let mut s = Section::new(
        "probes",
        "Probes: latency and loss",
        "Per probe task (probes table), SmokePing style: the grey band spans the lowest to \
         the highest round-trip time of the runs in each bucket, the bar is their median \
         coloured by loss, a red triangle marks a bucket whose runs all failed. Kinds \
         without RTTs use their total time (http, https, dns), connect time (tcp) or NTP \
         delay.",
    );
    if let Some(why) = table_absent(
        ctx,
        "probes",
        "written when [[probes]] tasks are configured: tapscope run, or tapscope probe",
    ) {
        s.missing(why);
        return s;
    }
    let mut tasks: Bounded<Task> = Bounded::new(1_000, |t| t.runs as f64);
    let mut span = Span::default();
    let r = scan(&ctx.root, "probes", None, COLS, &ctx.filter, |r| {
        let Some(t0) = r.time_us(13) else { return };
        span.add(Some(t0), Some(t0));
        let t = tasks.entry(r.str(0).unwrap_or("?"));
        if t.runs == 0 {
            t.kind = r.str(1).unwrap_or("").to_string();
            t.target = r.str(2).unwrap_or("").to_string();
            t.first_us = t0;
        }
        t.runs += 1;
        t.first_us = t.first_us.min(t0);
        t.last_us = t.last_us.max(t0);
        t.loss += loss(r);
        if r.bool(3) == Some(false) {
            t.failed += 1;
            let class = r.str(4).unwrap_or("unknown");
            if t.errors.len() < 32 || t.errors.contains_key(class) {
                *t.errors.entry(class.to_string()).or_insert(0) += 1;
            }
        }
        if let Some(l) = latency(r) {
            t.latency_sum += l;
            t.latency_n += 1;
        }
    });
    s.unreadable("probes", &r);
    // Buckets no narrower than the busiest task's interval between runs.
    let interval_s = tasks
        .ranked()
        .first()
        .filter(|(_, t)| t.runs > 1)
        .map_or(1, |(_, t)| {
            ((t.last_us - t.first_us) / (t.runs as i64 - 1) / 1_000_000).max(1)
        });
    let Some(b) = span.buckets(interval_s) else {
        s.missing(no_rows(ctx, "probes", None));
        return s;
    };
    let mut names: Vec<String> = tasks.ranked().iter().map(|(k, _)| k.to_string()).collect();
    names.sort();
    let drawn: Vec<String> = names.iter().take(MAX_CHARTS).cloned().collect();
    let mut per = vec![vec![Bucket::default(); b.n]; drawn.len()];
    scan(&ctx.root, "probes", None, COLS, &ctx.filter, |r| {
        let (Some(name), Some(i)) = (r.str(0), r.time_us(13).and_then(|t| b.index(t))) else {
            return;
        };
        let Some(k) = drawn.iter().position(|d| d == name) else {
            return;
        };
        let bk = &mut per[k][i];
        bk.runs += 1;
        bk.loss += loss(r);
        if r.bool(3) == Some(false) {
            bk.failed += 1;
        }
        if let Some(m) = latency(r) {
            bk.median_sum += m;
            bk.median_n += 1;
            let lo = r.f64(6).unwrap_or(m).min(m);
            let hi = r.f64(8).unwrap_or(m).max(m);
            bk.lo = Some(bk.lo.map_or(lo, |x| x.min(lo)));
            bk.hi = Some(bk.hi.map_or(hi, |x| x.max(hi)));
        }
    });
    let items = [
        (
            "RTT min–max".to_string(),
            plotters::style::RGBColor(0x9a, 0xa7, 0xb8),
        ),
        ("median, no loss".into(), LOSS[0]),
        ("loss ≤ 5 %".into(), LOSS[1]),
        ("loss ≤ 20 %".into(), LOSS[2]),
        ("loss > 20 %; ▲ all runs failed".into(), LOSS[3]),
    ];
    for (k, name) in drawn.iter().enumerate() {
        let t = tasks.entry(name).clone();
        let bks = &per[k];
        let band = Band {
            lo: bks.iter().map(|x| x.lo).collect(),
            hi: bks.iter().map(|x| x.hi).collect(),
            median: bks
                .iter()
                .map(|x| (x.median_n > 0).then(|| x.median_sum / x.median_n as f64))
                .collect(),
            loss: bks
                .iter()
                .map(|x| {
                    if x.runs > 0 {
                        x.loss / x.runs as f64
                    } else {
                        0.0
                    }
                })
                .collect(),
            all_failed: bks
                .iter()
                .map(|x| x.runs > 0 && x.failed == x.runs)
                .collect(),
        };
        s.chart(
            &format!("probe-{}", slug(name)),
            &format!(
                "{} ({} {}): {} runs, {} failed ({} s buckets)",
                short(name, 40),
                t.kind,
                short(&t.target, 60),
                group(t.runs),
                group(t.failed),
                b.width_s()
            ),
            chart::band(&b, &band),
            &items,
        );
    }
    if names.len() > drawn.len() {
        s.missing(format!(
            "{} tasks: the first {MAX_CHARTS} by name are drawn, all are listed below.",
            names.len()
        ));
    }
    let rows: Vec<Vec<String>> = names
        .iter()
        .map(|n| {
            let t = tasks.entry(n).clone();
            let errors: Vec<String> = t.errors.iter().map(|(c, v)| format!("{c} {v}")).collect();
            vec![
                esc(n),
                esc(&t.kind),
                esc(&t.target),
                esc(&errors.join(", ")),
                group(t.runs),
                group(t.failed),
                pct(t.loss, t.runs as f64),
                if t.latency_n > 0 {
                    format!("{} ms", si(t.latency_sum / t.latency_n as f64))
                } else {
                    "–".into()
                },
            ]
        })
        .collect();
    s.push(&table(
        &[
            "task",
            "kind",
            "target",
            "errors",
            "runs",
            "failed",
            "mean loss",
            "mean latency",
        ],
        &rows,
        4,
    ));
    s
}

/// A task name as an id: letters, digits, `-`, `_`, `.`.
fn slug(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}
