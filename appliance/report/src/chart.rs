//! The charts, drawn by plotters into SVG strings: stacked areas mirrored
//! around zero (down above, up below), lines over time, horizontal bars,
//! latency bands (SmokePing's style), and a histogram on a log axis.
//!
//! Every function takes the values to draw and returns the SVG, or the
//! drawing library's error as text; none is called without data (the
//! sections say what is missing instead of drawing empty axes).

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::agg::Buckets;
use crate::html::{axis_time, si};

/// Series colours (Tableau 10), then [`OTHER`] for the rest.
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0x4b, 0x4b, 0x8f),
];
/// The colour of "other" (everything outside the top series).
pub(crate) const OTHER: RGBColor = RGBColor(0xba, 0xb0, 0xac);
/// Loss colours of the probe charts: none, up to 5 %, up to 20 %, more.
pub(crate) const LOSS: [RGBColor; 4] = [
    RGBColor(0x1a, 0x98, 0x50),
    RGBColor(0x2b, 0x83, 0xba),
    RGBColor(0xfd, 0xae, 0x61),
    RGBColor(0xd7, 0x19, 0x1c),
];

/// Width of every chart, pixels.
const WIDTH: u32 = 960;
/// Height of a time chart.
const HEIGHT: u32 = 300;
const GRID_LIGHT: RGBColor = RGBColor(0xf0, 0xf0, 0xf0);
const GRID_BOLD: RGBColor = RGBColor(0xdc, 0xdc, 0xdc);
const FONT: (&str, u32) = ("sans-serif", 12);

/// The colour of series `i` of `n` top series (`i == n`: other).
pub(crate) fn color(i: usize, n: usize) -> RGBColor {
    if i >= n {
        OTHER
    } else {
        PALETTE[i % PALETTE.len()]
    }
}

/// The colour of a probe bucket's median by its loss (0.0 to 1.0).
pub(crate) fn loss_color(loss: f64) -> RGBColor {
    if loss <= 0.0 {
        LOSS[0]
    } else if loss <= 0.05 {
        LOSS[1]
    } else if loss <= 0.2 {
        LOSS[2]
    } else {
        LOSS[3]
    }
}

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Draws into a fresh SVG of `w` × `h` and returns its text.
fn svg(
    w: u32,
    h: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String>,
) -> Result<String, String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(buf)
}

/// A time chart's x range and label formatter.
fn time_x(b: &Buckets) -> (std::ops::Range<f64>, impl Fn(&f64) -> String) {
    let (x0, x1) = (b.x(0), b.end_x());
    let span = x1 - x0;
    (x0..x1, move |x: &f64| axis_time(*x, span))
}

/// The points of a step line: each bucket's value held across its width.
fn steps(b: &Buckets, v: &[f64]) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(v.len() * 2);
    for (i, y) in v.iter().enumerate() {
        out.push((b.x(i), *y));
        out.push((b.x(i + 1), *y));
    }
    out
}

/// One layer of a stacked chart: values per bucket (down ≥ 0, up ≥ 0).
pub(crate) struct Layer {
    pub(crate) color: RGBColor,
    pub(crate) down: Vec<f64>,
    pub(crate) up: Vec<f64>,
}

/// Layers stacked per bucket, down above the zero line and up below it
/// (values drawn as given; `y_desc` names their unit).
pub(crate) fn stacked_mirror(
    b: &Buckets,
    layers: &[Layer],
    y_desc: &str,
) -> Result<String, String> {
    // Cumulative sums, bottom layer first.
    let mut down_cum = vec![vec![0.0; b.n]; layers.len()];
    let mut up_cum = vec![vec![0.0; b.n]; layers.len()];
    for i in 0..b.n {
        let (mut d, mut u) = (0.0, 0.0);
        for (k, l) in layers.iter().enumerate() {
            d += l.down.get(i).copied().unwrap_or(0.0);
            u += l.up.get(i).copied().unwrap_or(0.0);
            down_cum[k][i] = d;
            up_cum[k][i] = -u;
        }
    }
    let top = down_cum
        .last()
        .map_or(0.0, |v| v.iter().copied().fold(0.0, f64::max));
    let bottom = up_cum
        .last()
        .map_or(0.0, |v| v.iter().copied().fold(0.0, f64::min));
    let pad = (top - bottom).max(1.0) * 0.06;
    let (xr, xfmt) = time_x(b);
    svg(WIDTH, HEIGHT, |root| {
        let mut c = ChartBuilder::on(root)
            .margin(8)
            .x_label_area_size(26)
            .y_label_area_size(70)
            .build_cartesian_2d(xr.clone(), (bottom - pad)..(top + pad))
            .map_err(err)?;
        c.configure_mesh()
            .x_labels(8)
            .y_labels(7)
            .x_label_formatter(&xfmt)
            .y_label_formatter(&|y| si(y.abs()))
            .y_desc(y_desc)
            .label_style(FONT)
            .light_line_style(GRID_LIGHT)
            .bold_line_style(GRID_BOLD)
            .draw()
            .map_err(err)?;
        // The top layer's cumulative sum first, each lower one painted over it.
        for (k, l) in layers.iter().enumerate().rev() {
            let fill = l.color.mix(0.9);
            c.draw_series(AreaSeries::new(steps(b, &down_cum[k]), 0.0, fill).border_style(l.color))
                .map_err(err)?;
            c.draw_series(AreaSeries::new(steps(b, &up_cum[k]), 0.0, fill).border_style(l.color))
                .map_err(err)?;
        }
        c.draw_series(LineSeries::new([(xr.start, 0.0), (xr.end, 0.0)], BLACK))
            .map_err(err)?;
        Ok(())
    })
}

/// One series of a line chart: a value per bucket (None: no data there).
pub(crate) struct Line {
    pub(crate) color: RGBColor,
    pub(crate) values: Vec<Option<f64>>,
}

/// Lines over time, broken where a series has no value; a point marks a
/// value whose neighbours are both missing (it would draw no line).
pub(crate) fn lines(b: &Buckets, series: &[Line], y_desc: &str) -> Result<String, String> {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .copied()
        .fold(0.0, f64::max);
    let (xr, xfmt) = time_x(b);
    let mid = |i: usize| b.x(i) + b.width_s() / 2.0;
    svg(WIDTH, HEIGHT, |root| {
        let mut c = ChartBuilder::on(root)
            .margin(8)
            .x_label_area_size(26)
            .y_label_area_size(70)
            .build_cartesian_2d(xr, 0.0..(max * 1.08).max(1.0))
            .map_err(err)?;
        c.configure_mesh()
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&xfmt)
            .y_label_formatter(&|y| si(*y))
            .y_desc(y_desc)
            .label_style(FONT)
            .light_line_style(GRID_LIGHT)
            .bold_line_style(GRID_BOLD)
            .draw()
            .map_err(err)?;
        // The first series widest, so one that another covers still shows.
        for (k, s) in series.iter().enumerate() {
            let style = s
                .color
                .stroke_width(if k == 0 && series.len() > 1 { 4 } else { 2 });
            let mut run: Vec<(f64, f64)> = Vec::new();
            let mut flush = |run: &mut Vec<(f64, f64)>| -> Result<(), String> {
                if run.len() == 1 {
                    c.draw_series(std::iter::once(Circle::new(run[0], 3, s.color.filled())))
                        .map_err(err)?;
                } else if run.len() > 1 {
                    c.draw_series(LineSeries::new(run.iter().copied(), style))
                        .map_err(err)?;
                }
                run.clear();
                Ok(())
            };
            for (i, v) in s.values.iter().enumerate() {
                match v {
                    Some(y) => run.push((mid(i), *y)),
                    None => flush(&mut run)?,
                }
            }
            flush(&mut run)?;
        }
        Ok(())
    })
}

/// Horizontal bars, one per item from the top, each split in two parts
/// (down, then up) drawn in `colors`.
pub(crate) fn hbars(
    items: &[(String, f64, f64)],
    colors: (RGBColor, RGBColor),
    x_desc: &str,
) -> Result<String, String> {
    let n = items.len();
    let max = items.iter().map(|i| i.1 + i.2).fold(0.0, f64::max).max(1.0);
    let h = 50 + 24 * n as u32;
    // Bars from the top: item 0 in the highest segment.
    let label = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) if *i < n => items[n - 1 - *i].0.clone(),
        _ => String::new(),
    };
    svg(WIDTH, h, |root| {
        let mut c = ChartBuilder::on(root)
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(230)
            .build_cartesian_2d(0.0..max * 1.05, (0..n).into_segmented())
            .map_err(err)?;
        c.configure_mesh()
            .disable_y_mesh()
            .x_labels(8)
            .y_labels(n.max(1))
            .x_label_formatter(&|x| si(*x))
            .y_label_formatter(&label)
            .x_desc(x_desc)
            .label_style(FONT)
            .light_line_style(GRID_LIGHT)
            .bold_line_style(GRID_BOLD)
            .draw()
            .map_err(err)?;
        for (k, (_, down, up)) in items.iter().enumerate() {
            let seg = n - 1 - k;
            let y0 = || SegmentValue::Exact(seg);
            let y1 = || SegmentValue::Exact(seg + 1);
            let mut a = Rectangle::new([(0.0, y0()), (*down, y1())], colors.0.filled());
            a.set_margin(4, 4, 0, 0);
            let mut b = Rectangle::new([(*down, y0()), (down + up, y1())], colors.1.filled());
            b.set_margin(4, 4, 0, 0);
            c.draw_series([a, b]).map_err(err)?;
        }
        Ok(())
    })
}

/// A probe task's latency per bucket: the band from the lowest to the
/// highest RTT (grey), the median as a bar coloured by loss, and a red
/// triangle at the top where every run of the bucket failed.
pub(crate) struct Band {
    pub(crate) lo: Vec<Option<f64>>,
    pub(crate) hi: Vec<Option<f64>>,
    pub(crate) median: Vec<Option<f64>>,
    pub(crate) loss: Vec<f64>,
    pub(crate) all_failed: Vec<bool>,
}

/// Draws a [`Band`] (ms).
pub(crate) fn band(b: &Buckets, d: &Band) -> Result<String, String> {
    let max =
        d.hi.iter()
            .chain(&d.median)
            .flatten()
            .copied()
            .fold(0.0, f64::max)
            .max(1.0)
            * 1.15;
    let (xr, xfmt) = time_x(b);
    svg(WIDTH, 260, |root| {
        let mut c = ChartBuilder::on(root)
            .margin(8)
            .x_label_area_size(26)
            .y_label_area_size(70)
            .build_cartesian_2d(xr, 0.0..max)
            .map_err(err)?;
        c.configure_mesh()
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&xfmt)
            .y_label_formatter(&|y| si(*y))
            .y_desc("ms")
            .label_style(FONT)
            .light_line_style(GRID_LIGHT)
            .bold_line_style(GRID_BOLD)
            .draw()
            .map_err(err)?;
        let smoke = RGBColor(0x9a, 0xa7, 0xb8).mix(0.45);
        // The band, one polygon per run of buckets that have both ends.
        let mut i = 0;
        while i < b.n {
            let mut upper = Vec::new();
            let mut lower = Vec::new();
            while i < b.n {
                let (Some(lo), Some(hi)) = (d.lo[i], d.hi[i]) else {
                    break;
                };
                // At least a pixel tall, so a steady RTT still shows.
                let hi = hi.max(lo + max / 250.0);
                upper.push((b.x(i), hi));
                upper.push((b.x(i + 1), hi));
                lower.push((b.x(i), lo));
                lower.push((b.x(i + 1), lo));
                i += 1;
            }
            if !upper.is_empty() {
                lower.reverse();
                upper.extend(lower);
                c.draw_series(std::iter::once(Polygon::new(upper, smoke.filled())))
                    .map_err(err)?;
            }
            i += 1;
        }
        for (i, m) in d.median.iter().enumerate() {
            if let Some(m) = m {
                let style = loss_color(d.loss[i]).stroke_width(3);
                c.draw_series(LineSeries::new([(b.x(i), *m), (b.x(i + 1), *m)], style))
                    .map_err(err)?;
            }
        }
        let failed: Vec<(f64, f64)> = (0..b.n)
            .filter(|&i| d.all_failed[i])
            .map(|i| (b.x(i) + b.width_s() / 2.0, max * 0.95))
            .collect();
        c.draw_series(
            failed
                .into_iter()
                .map(|p| TriangleMarker::new(p, 6, LOSS[3].filled())),
        )
        .map_err(err)?;
        Ok(())
    })
}

/// One bucket of a size histogram: smallest and largest size, flows.
pub(crate) struct SizeBar {
    pub(crate) low: u64,
    pub(crate) high: u64,
    pub(crate) flows: f64,
    /// Share of the total volume in this bucket and the smaller ones, %.
    pub(crate) cum_volume_pct: f64,
}

/// Flows per size bucket on a log size axis (bars) and the cumulative
/// share of volume (line, right axis).
pub(crate) fn size_histogram(bars: &[SizeBar], x_desc: &str) -> Result<String, String> {
    let lo = bars.iter().map(|b| b.low.max(1)).min().unwrap_or(1) as f64;
    let hi = bars.iter().map(|b| b.high + 1).max().unwrap_or(2) as f64;
    let (lo, hi) = (lo / 1.3, (hi * 1.3).max(lo * 2.0));
    let max = bars.iter().map(|b| b.flows).fold(0.0, f64::max).max(1.0) * 1.1;
    let bar = PALETTE[0];
    let line = PALETTE[1];
    svg(WIDTH, HEIGHT, |root| {
        let mut c = ChartBuilder::on(root)
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .right_y_label_area_size(50)
            .build_cartesian_2d((lo..hi).log_scale(), 0.0..max)
            .map_err(err)?
            .set_secondary_coord((lo..hi).log_scale(), 0.0..100.0);
        c.configure_mesh()
            .x_labels(10)
            .y_labels(6)
            .x_label_formatter(&|x| si(*x))
            .y_label_formatter(&|y| si(*y))
            .x_desc(x_desc)
            .y_desc("flow records")
            .label_style(FONT)
            .light_line_style(GRID_LIGHT)
            .bold_line_style(GRID_BOLD)
            .draw()
            .map_err(err)?;
        c.configure_secondary_axes()
            .y_labels(6)
            .y_label_formatter(&|v| format!("{v:.0}"))
            .y_desc("% of volume (cumulative)")
            .label_style(FONT)
            .draw()
            .map_err(err)?;
        // A size-0 bucket has no place on a log axis (no flow has 0 packets).
        c.draw_series(bars.iter().filter(|s| s.high > 0).map(|s| {
            let x0 = s.low.max(1) as f64;
            let x1 = (s.high + 1) as f64;
            let mut r = Rectangle::new([(x0, 0.0), (x1, s.flows)], bar.mix(0.85).filled());
            r.set_margin(0, 0, 1, 1);
            r
        }))
        .map_err(err)?;
        c.draw_secondary_series(LineSeries::new(
            bars.iter().map(|s| ((s.high + 1) as f64, s.cum_volume_pct)),
            line.stroke_width(2),
        ))
        .map_err(err)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets() -> Buckets {
        Buckets::choose(1_714_521_600_000_000, 1_714_521_900_000_000, 5)
    }

    /// Polygons and polylines of an SVG with their point lists.
    fn shapes(svg: &str, tag: &str) -> Vec<String> {
        svg.split(&format!("<{tag} "))
            .skip(1)
            .filter_map(|s| s.split("points=\"").nth(1))
            .map(|s| s.split('"').next().unwrap_or("").to_string())
            .collect()
    }

    #[test]
    fn stacked_areas_draw_one_polygon_per_layer_and_direction() {
        let b = buckets();
        let layers: Vec<Layer> = (0..3)
            .map(|k| Layer {
                color: color(k, 2),
                down: (0..b.n).map(|i| (i * (k + 1)) as f64).collect(),
                up: vec![5.0; b.n],
            })
            .collect();
        let s = stacked_mirror(&b, &layers, "bit/s").unwrap();
        assert!(s.starts_with("<svg"));
        assert_eq!(shapes(&s, "polygon").len(), 6, "{s}");
        assert!(s.contains("bit/s"));
    }

    #[test]
    fn lines_break_at_gaps_and_mark_lone_points() {
        let b = buckets();
        let mut v: Vec<Option<f64>> = vec![Some(1.0); b.n];
        v[5] = None;
        v[7] = None;
        let s = lines(
            &b,
            &[Line {
                color: PALETTE[0],
                values: v,
            }],
            "x",
        )
        .unwrap();
        // Two polylines with data (before 5 and after 7) besides the axes,
        // and bucket 6 alone as a circle.
        assert_eq!(s.matches("<circle").count(), 1, "{s}");
        let data: Vec<String> = shapes(&s, "polyline")
            .into_iter()
            .filter(|p| p.split_whitespace().count() > 2)
            .collect();
        assert_eq!(data.len(), 2, "{data:?}");
    }

    #[test]
    fn names_in_charts_are_escaped() {
        let s = hbars(
            &[("<b>&co".into(), 10.0, 5.0), ("x".into(), 1.0, 0.0)],
            (PALETTE[0], PALETTE[1]),
            "bytes",
        )
        .unwrap();
        assert!(s.contains("&lt;b&gt;&amp;co"), "{s}");
        assert!(!s.contains("<b>"));
        // Four bars.
        assert_eq!(s.matches("<rect").count(), 5, "{s}");
    }

    #[test]
    fn band_and_histogram_draw() {
        let b = buckets();
        let n = b.n;
        let d = Band {
            lo: (0..n).map(|i| (i != 3).then_some(1.0)).collect(),
            hi: (0..n).map(|i| (i != 3).then_some(3.0)).collect(),
            median: (0..n).map(|i| (i != 3).then_some(2.0)).collect(),
            loss: (0..n).map(|i| if i == 4 { 0.5 } else { 0.0 }).collect(),
            all_failed: (0..n).map(|i| i == 3).collect(),
        };
        let s = band(&b, &d).unwrap();
        assert_eq!(
            shapes(&s, "polygon").len(),
            3,
            "two band runs and a triangle"
        );
        // The lossy bucket's median in the loss colour, the failed one's triangle too.
        assert!(
            s.matches(&crate::html::hex(LOSS[3]).to_uppercase()).count() >= 2,
            "{s}"
        );
        let h = size_histogram(
            &[
                SizeBar {
                    low: 1,
                    high: 1,
                    flows: 10.0,
                    cum_volume_pct: 5.0,
                },
                SizeBar {
                    low: 100,
                    high: 127,
                    flows: 3.0,
                    cum_volume_pct: 100.0,
                },
            ],
            "packets",
        )
        .unwrap();
        assert!(h.matches("<rect").count() >= 3);
    }
}
