//! Flow sizes (the `flow_sizes` table): how many flow records fall in
//! each size bucket, and how much of the volume the flows up to each size
//! carried.

use std::collections::BTreeMap;

use sink::read::scan;

use super::{no_rows, table_absent, Section};
use crate::chart::{self, SizeBar, PALETTE};
use crate::html::{bytes, group, para, pct, si};
use crate::Ctx;

pub(crate) fn section(ctx: &Ctx) -> Section {
    let mut s = Section::new(
        "flow-sizes",
        "Flow sizes",
        "Flow records per size bucket (flow_sizes: the sketch windows' histograms summed), \
         on a logarithmic size axis, with the cumulative share of the volume the flows up to \
         each size carried: mice and elephants.",
    );
    if let Some(why) = table_absent(ctx, "flow_sizes", "written by tapscope run and replay") {
        s.missing(why);
        return s;
    }
    // (metric, bucket_low) -> (bucket_high, flows, volume): at most a few
    // hundred buckets per metric, whatever the table's size.
    let mut hist: BTreeMap<(String, u64), (u64, f64, f64)> = BTreeMap::new();
    let r = scan(
        &ctx.root,
        "flow_sizes",
        None,
        &["metric", "bucket_low", "bucket_high", "flows", "volume"],
        &ctx.filter,
        |r| {
            let (Some(m), Some(lo)) = (r.str(0), r.u64(1)) else {
                return;
            };
            if hist.len() > 4_096 && !hist.contains_key(&(m.to_string(), lo)) {
                return;
            }
            let e = hist.entry((m.to_string(), lo)).or_insert((lo, 0.0, 0.0));
            e.0 = e.0.max(r.u64(2).unwrap_or(lo));
            e.1 += r.f64(3).unwrap_or(0.0);
            e.2 += r.f64(4).unwrap_or(0.0);
        },
    );
    s.unreadable("flow_sizes", &r);
    if hist.is_empty() {
        s.missing(no_rows(ctx, "flow_sizes", None));
        return s;
    }
    for (metric, unit) in [("packets", "packets per flow"), ("bytes", "bytes per flow")] {
        let rows: Vec<(u64, u64, f64, f64)> = hist
            .iter()
            .filter(|((m, _), _)| m == metric)
            .map(|((_, lo), (hi, f, v))| (*lo, *hi, *f, *v))
            .collect();
        if rows.is_empty() {
            s.push(&para(&format!("No {metric} histogram in the selection.")));
            continue;
        }
        let flows: f64 = rows.iter().map(|r| r.2).sum();
        let volume: f64 = rows.iter().map(|r| r.3).sum();
        let mut cum = 0.0;
        let bars: Vec<SizeBar> = rows
            .iter()
            .map(|&(low, high, f, v)| {
                cum += v;
                SizeBar {
                    low,
                    high,
                    flows: f,
                    cum_volume_pct: if volume > 0.0 {
                        100.0 * cum / volume
                    } else {
                        0.0
                    },
                }
            })
            .collect();
        s.chart(
            &format!("flow-sizes-{metric}"),
            &format!("Flow records by {unit} (bars) and the cumulative share of {metric} (line)"),
            chart::size_histogram(&bars, unit),
            &[
                ("flow records".into(), PALETTE[0]),
                (
                    format!("% of all {metric}, flows up to this size"),
                    PALETTE[1],
                ),
            ],
        );
        // The median flow, and what the largest tenth of the flows carried.
        let mut seen = 0.0;
        let median = rows
            .iter()
            .find(|r| {
                seen += r.2;
                seen >= flows / 2.0
            })
            .map(|r| (r.0, r.1));
        let (mut top_flows, mut top_volume) = (0.0, 0.0);
        for r in rows.iter().rev() {
            if top_flows >= flows / 10.0 {
                break;
            }
            top_flows += r.2;
            top_volume += r.3;
        }
        let fmt = |v: u64| {
            if metric == "bytes" {
                bytes(v as f64)
            } else {
                si(v as f64)
            }
        };
        s.push(&para(&format!(
            "{} flow records, {} {metric} in all. The median flow is in the {}–{} bucket; the \
             largest {} of the flows ({}) carried {} of the {metric}.",
            group(flows as u64),
            if metric == "bytes" {
                bytes(volume)
            } else {
                si(volume)
            },
            median.map_or("?".into(), |m| fmt(m.0)),
            median.map_or("?".into(), |m| fmt(m.1)),
            pct(top_flows, flows),
            group(top_flows as u64),
            pct(top_volume, volume)
        )));
    }
    s
}
