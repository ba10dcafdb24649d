//! Traffic over time per device and per service (the `traffic` table:
//! what NetMicroscope shows as KbpsDw / KbpsUp), and the top services and
//! devices.
//!
//! Two passes over the table: the first sums bytes per device and per
//! service (bounded maps) and finds the time span; the second sums bytes
//! per bucket for the top devices and services (everything else is
//! "other").

use sink::read::{scan, Row};

use super::{no_rows, table_absent, Section};
use crate::agg::{series_of, Bounded, Buckets, Span};
use crate::chart::{self, color, Layer, PALETTE};
use crate::html::{bytes, esc, pct, table};
use crate::Ctx;

/// Devices and services drawn as their own layer; the rest is "other".
const TOP_LAYERS: usize = 8;
/// Rows in the top lists.
const TOP_LIST: usize = 15;
/// Most devices or services kept while summing (memory bound).
const MAX_KEYS: usize = 50_000;

const COLUMNS: &[&str] = &[
    "device_name",
    "device_ip",
    "service",
    "bytes_down",
    "bytes_up",
    "interval_start",
];

#[derive(Clone, Copy, Debug, Default)]
struct Tot {
    down: f64,
    up: f64,
}

fn score(t: &Tot) -> f64 {
    t.down + t.up
}

fn device<'a>(r: &Row<'a>) -> &'a str {
    r.str(0).or_else(|| r.str(1)).unwrap_or("unknown")
}

/// What the first pass found.
struct Totals {
    devices: Bounded<Tot>,
    services: Bounded<Tot>,
    span: Span,
}

fn totals(ctx: &Ctx) -> (Totals, sink::read::ScanReport) {
    let mut t = Totals {
        devices: Bounded::new(MAX_KEYS, score),
        services: Bounded::new(MAX_KEYS, score),
        span: Span::default(),
    };
    let r = scan(&ctx.root, "traffic", None, COLUMNS, &ctx.filter, |r| {
        let (down, up) = (r.f64(3).unwrap_or(0.0), r.f64(4).unwrap_or(0.0));
        let d = t.devices.entry(device(r));
        d.down += down;
        d.up += up;
        let s = t.services.entry(r.str(2).unwrap_or("unknown"));
        s.down += down;
        s.up += up;
        t.span.add(r.time_us(5), r.data_time_us());
    });
    (t, r)
}

/// Bytes per bucket and series, down and up.
struct Series {
    down: Vec<Vec<f64>>,
    up: Vec<Vec<f64>>,
}

impl Series {
    fn new(series: usize, n: usize) -> Series {
        Series {
            down: vec![vec![0.0; n]; series],
            up: vec![vec![0.0; n]; series],
        }
    }
}

pub(crate) fn sections(ctx: &Ctx) -> [Section; 2] {
    let mut over = Section::new(
        "traffic",
        "Traffic over time",
        "Bit rate per service and per device from the traffic table (bytes per interval, \
         summed per bucket): down, toward the devices, above the zero line, up below it, \
         stacked.",
    );
    let mut top = Section::new(
        "top",
        "Top services and devices",
        "Bytes down and up over the whole range, per service and per device (traffic table).",
    );
    if let Some(why) = table_absent(ctx, "traffic", "written by tapscope run and replay") {
        over.missing(why.clone());
        top.missing(why);
        return [over, top];
    }
    let (t, r) = totals(ctx);
    over.unreadable("traffic", &r);
    let Some(b) = t.span.buckets(1) else {
        let why = no_rows(ctx, "traffic", None);
        over.missing(why.clone());
        top.missing(why);
        return [over, top];
    };
    let top_devices: Vec<String> = t
        .devices
        .ranked()
        .iter()
        .take(TOP_LAYERS)
        .map(|(k, _)| k.to_string())
        .collect();
    let top_services: Vec<String> = t
        .services
        .ranked()
        .iter()
        .take(TOP_LAYERS)
        .map(|(k, _)| k.to_string())
        .collect();
    let mut dev = Series::new(top_devices.len() + 1, b.n);
    let mut svc = Series::new(top_services.len() + 1, b.n);
    scan(&ctx.root, "traffic", None, COLUMNS, &ctx.filter, |r| {
        let Some(i) = r.time_us(5).or(r.data_time_us()).and_then(|t| b.index(t)) else {
            return;
        };
        let (down, up) = (r.f64(3).unwrap_or(0.0), r.f64(4).unwrap_or(0.0));
        let d = series_of(&top_devices, device(r));
        dev.down[d][i] += down;
        dev.up[d][i] += up;
        let s = series_of(&top_services, r.str(2).unwrap_or("unknown"));
        svc.down[s][i] += down;
        svc.up[s][i] += up;
    });
    let bucket = format!("{} s buckets", b.width_s());
    for (id, what, names, series) in [
        ("traffic-service", "service", &top_services, &svc),
        ("traffic-device", "device", &top_devices, &dev),
    ] {
        let (layers, items) = layers(&b, names, series);
        over.chart(
            id,
            &format!(
                "Bit rate per {what}: down above zero, up below ({bucket}; the {} largest \
                 {what}s, the rest as other)",
                TOP_LAYERS
            ),
            chart::stacked_mirror(&b, &layers, "bit/s  (down ↑  up ↓)"),
            &items,
        );
    }
    for (id, what, totals) in [
        ("top-services", "service", &t.services),
        ("top-devices", "device", &t.devices),
    ] {
        let ranked = totals.ranked();
        let all: f64 = ranked.iter().map(|(_, v)| score(v)).sum();
        let items: Vec<(String, f64, f64)> = ranked
            .iter()
            .take(TOP_LIST)
            .map(|(k, v)| (crate::html::short(k, 32), v.down, v.up))
            .collect();
        top.push(&format!("<h3>{}s</h3>", capital(what)));
        top.chart(
            id,
            &format!(
                "Bytes per {what}, the {} largest: down, then up",
                items.len()
            ),
            chart::hbars(&items, (PALETTE[0], PALETTE[1]), "bytes"),
            &[("down".into(), PALETTE[0]), ("up".into(), PALETTE[1])],
        );
        let rows: Vec<Vec<String>> = ranked
            .iter()
            .take(TOP_LIST)
            .map(|(k, v)| vec![esc(k), bytes(v.down), bytes(v.up), pct(score(v), all)])
            .collect();
        top.push(&table(&[what, "down", "up", "share"], &rows, 1));
        if totals.pruned {
            top.missing(format!(
                "More than {MAX_KEYS} distinct {what}s: the smallest were dropped while \
                 summing, so their bytes are missing from this list."
            ));
        }
    }
    [over, top]
}

/// The layers of a stacked chart (bit/s) and their legend: the top keys,
/// then "other" when it carried anything.
fn layers(
    b: &Buckets,
    names: &[String],
    s: &Series,
) -> (Vec<Layer>, Vec<(String, plotters::style::RGBColor)>) {
    let rate = 8.0 / b.width_s();
    let mut layers = Vec::new();
    let mut items = Vec::new();
    for k in 0..=names.len() {
        let total: f64 = s.down[k].iter().chain(&s.up[k]).sum();
        if k == names.len() && total == 0.0 {
            continue;
        }
        let c = color(k, names.len());
        layers.push(Layer {
            color: c,
            down: s.down[k].iter().map(|v| v * rate).collect(),
            up: s.up[k].iter().map(|v| v * rate).collect(),
        });
        items.push((
            names
                .get(k)
                .map_or("other".to_string(), |n| crate::html::short(n, 40)),
            c,
        ));
    }
    (layers, items)
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}
