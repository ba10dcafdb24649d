//! Heavy hitters and scans per window (the `heavy_hitters` and `scans`
//! tables): the largest keys of each counter over time, and the sources
//! that probed many ports or hosts.

use std::collections::BTreeMap;

use sink::read::scan;

use super::{no_rows, table_absent, Section};
use crate::agg::{Bounded, Span};
use crate::chart::{self, Line, PALETTE};
use crate::html::{esc, group, para, pct, short, si, table};
use crate::Ctx;

/// Keys drawn per counter, and scanners drawn.
const TOP_LINES: usize = 6;
/// Rows of each counter's list.
const TOP_LIST: usize = 10;
/// Counters drawn (a configuration has at most 16).
const MAX_COUNTERS: usize = 16;
/// Most keys kept per counter while summing (memory bound).
const MAX_KEYS: usize = 20_000;

#[derive(Clone, Copy, Debug, Default)]
struct KeyAgg {
    estimate: f64,
    windows: u64,
}

struct Counter {
    increment: String,
    windows: u64,
    total: f64,
    last_window: Option<i64>,
    keys: Bounded<KeyAgg>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Scanner {
    windows: u64,
    max_distinct: f64,
    saturated: bool,
}

pub(crate) fn section(ctx: &Ctx) -> Section {
    let mut s = Section::new(
        "hitters",
        "Heavy hitters and scans",
        "Per sketch window: the keys with the largest counts of each counter \
         (heavy_hitters: count-min estimates of the window's top keys, summed per bucket), \
         and the sources that probed many distinct ports or hosts (scans).",
    );
    let windows = heavy_hitters(ctx, &mut s);
    scans(ctx, &mut s, windows);
    s
}

/// Draws the heavy hitters; returns the windows seen (of the first counter).
fn heavy_hitters(ctx: &Ctx, s: &mut Section) -> u64 {
    s.push("<h3>Heavy hitters</h3>");
    if let Some(why) = table_absent(ctx, "heavy_hitters", "written by tapscope run and replay") {
        s.missing(why);
        return 0;
    }
    const COLS: &[&str] = &[
        "counter",
        "increment",
        "key",
        "estimate",
        "total",
        "window_start",
    ];
    let mut counters: BTreeMap<String, Counter> = BTreeMap::new();
    let mut span = Span::default();
    let r = scan(&ctx.root, "heavy_hitters", None, COLS, &ctx.filter, |r| {
        let Some(name) = r.str(0) else { return };
        if !counters.contains_key(name) {
            if counters.len() >= MAX_COUNTERS {
                return;
            }
            counters.insert(
                name.to_string(),
                Counter {
                    increment: r.str(1).unwrap_or("").to_string(),
                    windows: 0,
                    total: 0.0,
                    last_window: None,
                    keys: Bounded::new(MAX_KEYS, |k: &KeyAgg| k.estimate),
                },
            );
        }
        let c = counters.get_mut(name).expect("inserted above");
        let w = r.time_us(5);
        // A window's rows are written together: count it (and its total) once.
        if w != c.last_window {
            c.last_window = w;
            c.windows += 1;
            c.total += r.f64(4).unwrap_or(0.0);
        }
        let k = c.keys.entry(r.str(2).unwrap_or("?"));
        k.estimate += r.f64(3).unwrap_or(0.0);
        k.windows += 1;
        span.add(w, r.data_time_us());
    });
    s.unreadable("heavy_hitters", &r);
    let Some(b) = span.buckets(1) else {
        s.missing(no_rows(ctx, "heavy_hitters", None));
        return 0;
    };
    let tops: BTreeMap<&str, Vec<String>> = counters
        .iter()
        .map(|(n, c)| {
            let keys = c
                .keys
                .ranked()
                .iter()
                .take(TOP_LINES)
                .map(|(k, _)| k.to_string())
                .collect();
            (n.as_str(), keys)
        })
        .collect();
    let mut per: BTreeMap<&str, Vec<Vec<Option<f64>>>> = tops
        .iter()
        .map(|(n, keys)| (*n, vec![vec![None; b.n]; keys.len()]))
        .collect();
    scan(
        &ctx.root,
        "heavy_hitters",
        None,
        &COLS[..6],
        &ctx.filter,
        |r| {
            let (Some(name), Some(key)) = (r.str(0), r.str(2)) else {
                return;
            };
            let (Some(keys), Some(i)) = (tops.get(name), r.time_us(5).and_then(|t| b.index(t)))
            else {
                return;
            };
            if let Some(k) = keys.iter().position(|x| x == key) {
                let v = &mut per.get_mut(name).expect("same keys as tops")[k][i];
                *v = Some(v.unwrap_or(0.0) + r.f64(3).unwrap_or(0.0));
            }
        },
    );
    let mut first_windows = 0;
    for (name, c) in &counters {
        first_windows = first_windows.max(c.windows);
        let keys = &tops[name.as_str()];
        let bytes = c.increment == "bytes";
        let (unit, mult) = if bytes {
            ("bit/s", 8.0)
        } else {
            ("packets/s", 1.0)
        };
        let series: Vec<Line> = per[name.as_str()]
            .iter()
            .enumerate()
            .map(|(k, v)| Line {
                color: PALETTE[k % PALETTE.len()],
                values: v
                    .iter()
                    .map(|x| x.map(|x| x * mult / b.width_s()))
                    .collect(),
            })
            .collect();
        let items: Vec<(String, _)> = keys
            .iter()
            .enumerate()
            .map(|(k, key)| (short(key, 48), PALETTE[k % PALETTE.len()]))
            .collect();
        s.chart(
            &format!("hh-{name}"),
            &format!(
                "{name} ({}): the {} largest keys, {unit} while in a window's top list ({} s \
                 buckets, {} windows)",
                c.increment,
                keys.len(),
                b.width_s(),
                group(c.windows)
            ),
            chart::lines(&b, &series, unit),
            &items,
        );
        let rows: Vec<Vec<String>> = c
            .keys
            .ranked()
            .iter()
            .take(TOP_LIST)
            .map(|(k, v)| {
                vec![
                    esc(k),
                    group(v.windows),
                    si(v.estimate),
                    pct(v.estimate, c.total),
                ]
            })
            .collect();
        s.push(&table(
            &[
                "key",
                "windows in top list",
                &format!("{} (sum of estimates)", c.increment),
                "share of all",
            ],
            &rows,
            1,
        ));
        if c.keys.pruned {
            s.missing(format!(
                "{name}: more than {MAX_KEYS} distinct keys: the smallest were dropped while \
                 summing."
            ));
        }
    }
    first_windows
}

fn scans(ctx: &Ctx, s: &mut Section, windows: u64) {
    s.push("<h3>Scans</h3>");
    let no_scans = || {
        para(&format!(
            "No scans: no source passed the scan thresholds (sketch.port_scan_threshold \
             distinct ports, sketch.host_scan_threshold distinct hosts) in the {} windows of \
             heavy_hitters.",
            group(windows)
        ))
    };
    if let Some(why) = table_absent(ctx, "scans", "written by tapscope run and replay") {
        // The sink writes a scans file only when a window has a scan.
        if windows > 0 && sink::read::table_exists(&ctx.root, "scans") {
            s.push(&no_scans());
        } else {
            s.missing(why);
        }
        return;
    }
    const COLS: &[&str] = &["kind", "src_ip", "distinct", "window_start", "saturated"];
    let key = |r: &sink::read::Row<'_>| {
        format!("{} {}", r.str(0).unwrap_or("?"), r.str(1).unwrap_or("?"))
    };
    let mut scanners: Bounded<Scanner> = Bounded::new(20_000, |v| v.max_distinct);
    let mut span = Span::default();
    let r = scan(&ctx.root, "scans", None, COLS, &ctx.filter, |r| {
        let v = scanners.entry(&key(r));
        v.windows += 1;
        v.max_distinct = v.max_distinct.max(r.f64(2).unwrap_or(0.0));
        v.saturated |= r.bool(4).unwrap_or(false);
        span.add(r.time_us(3), r.data_time_us());
    });
    s.unreadable("scans", &r);
    let Some(b) = span.buckets(1) else {
        if sink::read::overview(&ctx.root, "scans", None).rows > 0 {
            // Scans exist, outside the selection.
            s.missing(no_rows(ctx, "scans", None));
        } else {
            s.push(&no_scans());
        }
        return;
    };
    let top: Vec<String> = scanners
        .ranked()
        .iter()
        .take(TOP_LINES)
        .map(|(k, _)| k.to_string())
        .collect();
    let mut per = vec![vec![None; b.n]; top.len()];
    scan(&ctx.root, "scans", None, COLS, &ctx.filter, |r| {
        let Some(i) = r.time_us(3).and_then(|t| b.index(t)) else {
            return;
        };
        if let Some(k) = top.iter().position(|x| *x == key(r)) {
            let v: &mut Option<f64> = &mut per[k][i];
            *v = Some(v.unwrap_or(0.0).max(r.f64(2).unwrap_or(0.0)));
        }
    });
    let series: Vec<Line> = per
        .into_iter()
        .enumerate()
        .map(|(k, values)| Line {
            color: PALETTE[k % PALETTE.len()],
            values,
        })
        .collect();
    let items: Vec<(String, _)> = top
        .iter()
        .enumerate()
        .map(|(k, n)| (short(n, 48), PALETTE[k % PALETTE.len()]))
        .collect();
    s.chart(
        "scans",
        &format!(
            "Distinct ports (port_scan) or hosts (host_scan) probed per window, the largest \
             in each {} s bucket",
            b.width_s()
        ),
        chart::lines(&b, &series, "distinct"),
        &items,
    );
    let rows: Vec<Vec<String>> = scanners
        .ranked()
        .iter()
        .take(20)
        .map(|(k, v)| {
            let (kind, src) = k.split_once(' ').unwrap_or((k, ""));
            vec![
                esc(src),
                esc(kind),
                group(v.windows),
                format!(
                    "{}{}",
                    si(v.max_distinct),
                    if v.saturated { " (saturated)" } else { "" }
                ),
            ]
        })
        .collect();
    s.push(&table(
        &["source", "kind", "windows", "most distinct"],
        &rows,
        2,
    ));
}
