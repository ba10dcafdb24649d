//! Video sessions (the `video_sessions` table, written once video quality
//! inference is in place). The section is ready for it: when the folder
//! exists its files are read by their own schema (a time column, and
//! `service`, a startup delay and a resolution column when present);
//! when it does not, the section says so.

use std::collections::BTreeMap;

use sink::read::{scan, table_columns, table_exists, ValueKind};

use super::{no_rows, Section};
use crate::agg::{Bounded, Span};
use crate::chart::{self, Line, PALETTE};
use crate::html::{esc, group, short, si, table};
use crate::Ctx;

/// The table.
pub(crate) const TABLE: &str = "video_sessions";
/// Time columns looked for first, in order (else the first timestamp).
const TIME_COLUMNS: &[&str] = &["session_start", "start", "started_at", "window_start"];
/// Services drawn.
const TOP: usize = 8;

/// The table's columns as found: time, service, startup delay, resolution.
struct Schema {
    time: String,
    service: Option<String>,
    startup: Option<String>,
    resolution: Option<String>,
}

fn schema(ctx: &Ctx) -> Option<Schema> {
    let cols = table_columns(&ctx.root, TABLE)?;
    let has = |n: &str, k: ValueKind| cols.iter().any(|(c, kk)| c == n && *kk == k);
    let time = TIME_COLUMNS
        .iter()
        .find(|c| has(c, ValueKind::Time))
        .map(|c| c.to_string())
        .or_else(|| {
            cols.iter()
                .find(|c| c.1 == ValueKind::Time)
                .map(|c| c.0.clone())
        })?;
    let numeric = |k: ValueKind| matches!(k, ValueKind::Integer | ValueKind::Float);
    Some(Schema {
        time,
        service: has("service", ValueKind::Text).then(|| "service".into()),
        startup: cols
            .iter()
            .find(|(c, k)| c.contains("startup") && numeric(*k))
            .map(|c| c.0.clone()),
        resolution: cols
            .iter()
            .find(|(c, k)| c.contains("resolution") && (*k == ValueKind::Text || numeric(*k)))
            .map(|c| c.0.clone()),
    })
}

/// The table's time column, if it has files with one.
pub(crate) fn time_column(ctx: &Ctx) -> Option<String> {
    schema(ctx).map(|s| s.time)
}

#[derive(Clone, Debug, Default)]
struct Service {
    sessions: u64,
    startup_sum: f64,
    startup_n: u64,
    resolutions: BTreeMap<String, u64>,
}

pub(crate) fn section(ctx: &Ctx) -> Section {
    let mut s = Section::new(
        "video",
        "Video sessions",
        "Detected video sessions per service over time, their startup delay and \
         resolution (video_sessions table).",
    );
    if !table_exists(&ctx.root, TABLE) {
        s.missing(format!(
            "No video_sessions table: {} has no video_sessions folder (tapscope run and \
             replay write it with [video] sessions on).",
            ctx.root.display()
        ));
        return s;
    }
    let Some(sc) = schema(ctx) else {
        s.missing(
            "No video session in the video_sessions table: no complete file with a row yet \
             (a session needs flows of a video service and at least \
             video.session_min_segments media segments)."
                .into(),
        );
        return s;
    };
    let none = "-";
    let cols: Vec<&str> = [
        Some(sc.time.as_str()),
        Some(sc.service.as_deref().unwrap_or(none)),
        Some(sc.startup.as_deref().unwrap_or(none)),
        Some(sc.resolution.as_deref().unwrap_or(none)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let resolution = |r: &sink::read::Row<'_>| {
        r.str(3)
            .map(str::to_string)
            .or_else(|| r.u64(3).map(|v| format!("{v}p")))
    };
    let mut services: Bounded<Service> = Bounded::new(10_000, |v| v.sessions as f64);
    let mut span = Span::default();
    let r = scan(&ctx.root, TABLE, Some(&sc.time), &cols, &ctx.filter, |r| {
        let Some(t) = r.time_us(0) else { return };
        span.add(Some(t), Some(t));
        let v = services.entry(r.str(1).unwrap_or("video"));
        v.sessions += 1;
        if let Some(d) = r.f64(2) {
            v.startup_sum += d;
            v.startup_n += 1;
        }
        if let Some(res) = resolution(r) {
            if v.resolutions.len() < 32 || v.resolutions.contains_key(&res) {
                *v.resolutions.entry(res).or_insert(0) += 1;
            }
        }
    });
    s.unreadable(TABLE, &r);
    let Some(b) = span.buckets(60) else {
        s.missing(no_rows(ctx, TABLE, Some(&sc.time)));
        return s;
    };
    let top: Vec<String> = services
        .ranked()
        .iter()
        .take(TOP)
        .map(|(k, _)| k.to_string())
        .collect();
    let mut count = vec![vec![Some(0.0); b.n]; top.len()];
    let mut startup = vec![vec![(0.0, 0u64); b.n]; top.len()];
    scan(&ctx.root, TABLE, Some(&sc.time), &cols, &ctx.filter, |r| {
        let Some(i) = r.time_us(0).and_then(|t| b.index(t)) else {
            return;
        };
        let Some(k) = top.iter().position(|t| t == r.str(1).unwrap_or("video")) else {
            return;
        };
        let c: &mut Option<f64> = &mut count[k][i];
        *c = Some(c.unwrap_or(0.0) + 1.0);
        if let Some(d) = r.f64(2) {
            startup[k][i].0 += d;
            startup[k][i].1 += 1;
        }
    });
    let items: Vec<(String, _)> = top
        .iter()
        .enumerate()
        .map(|(k, n)| (short(n, 40), PALETTE[k % PALETTE.len()]))
        .collect();
    let series: Vec<Line> = count
        .into_iter()
        .enumerate()
        .map(|(k, values)| Line {
            color: PALETTE[k % PALETTE.len()],
            values,
        })
        .collect();
    s.chart(
        "video-sessions",
        &format!(
            "Video sessions per service ({} s buckets, by {})",
            b.width_s(),
            sc.time
        ),
        chart::lines(&b, &series, "sessions"),
        &items,
    );
    if let Some(col) = &sc.startup {
        let series: Vec<Line> = startup
            .iter()
            .enumerate()
            .map(|(k, v)| Line {
                color: PALETTE[k % PALETTE.len()],
                values: v
                    .iter()
                    .map(|(s, n)| (*n > 0).then(|| s / *n as f64))
                    .collect(),
            })
            .collect();
        s.chart(
            "video-startup",
            &format!("Mean {col} per service and bucket"),
            chart::lines(&b, &series, col),
            &items,
        );
    }
    let rows: Vec<Vec<String>> = services
        .ranked()
        .iter()
        .take(30)
        .map(|(n, v)| {
            let mut res: Vec<(&String, &u64)> = v.resolutions.iter().collect();
            res.sort_by(|a, b| b.1.cmp(a.1));
            let res: Vec<String> = res
                .iter()
                .take(4)
                .map(|(r, c)| format!("{r} {c}"))
                .collect();
            vec![
                esc(n),
                esc(&res.join(", ")),
                group(v.sessions),
                if v.startup_n > 0 {
                    si(v.startup_sum / v.startup_n as f64)
                } else {
                    "–".into()
                },
            ]
        })
        .collect();
    let startup_head = format!("mean {}", sc.startup.as_deref().unwrap_or("startup"));
    s.push(&table(
        &["service", "resolutions", "sessions", &startup_head],
        &rows,
        2,
    ));
    s
}
