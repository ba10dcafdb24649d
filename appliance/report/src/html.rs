//! The page around the charts: escaping, number and time formats, tables,
//! legends and the one stylesheet (inline: the file needs nothing else).

use std::fmt::Write as _;

use model::time::{civil_from_days, format_utc, time_of_day};
use plotters::style::RGBColor;

/// Text for HTML: `<`, `>`, `&`, quotes escaped, control characters
/// (names come from the network) dropped.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A name for a chart label: control characters dropped, at most `max`
/// characters (an ellipsis marks the cut).
pub(crate) fn short(s: &str, max: usize) -> String {
    let clean: String = s.chars().filter(|c| !c.is_control()).collect();
    if clean.chars().count() <= max {
        return clean;
    }
    let mut out: String = clean.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `1,234,567`.
pub(crate) fn group(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A value with an SI prefix: `950`, `1.2 k`, `3.4 M`, `5.0 G`.
pub(crate) fn si(v: f64) -> String {
    let a = v.abs();
    let (d, p) = if a >= 1e12 {
        (1e12, " T")
    } else if a >= 1e9 {
        (1e9, " G")
    } else if a >= 1e6 {
        (1e6, " M")
    } else if a >= 1e3 {
        (1e3, " k")
    } else {
        (1.0, "")
    };
    let x = v / d;
    if d == 1.0 {
        if x.fract() == 0.0 || a >= 100.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.2}")
        }
    } else if x.abs() >= 10.0 {
        format!("{x:.0}{p}")
    } else {
        format!("{x:.1}{p}")
    }
}

/// Bytes: `512 B`, `1.5 MB` (decimal units, as rates are).
pub(crate) fn bytes(v: f64) -> String {
    let s = si(v);
    if s.ends_with(|c: char| c.is_ascii_alphabetic()) {
        format!("{s}B")
    } else {
        format!("{s} B")
    }
}

/// A share as a percentage: `12.3 %`.
pub(crate) fn pct(part: f64, whole: f64) -> String {
    if whole <= 0.0 {
        return "–".into();
    }
    format!("{:.1} %", 100.0 * part / whole)
}

/// Unix µs as `2024-05-01 10:00:00 UTC`.
pub(crate) fn utc_us(t_us: i64) -> String {
    format_utc((t_us.max(0) / 1_000_000) as u64)
}

/// A time-axis label for Unix seconds, as precise as the axis' span needs.
pub(crate) fn axis_time(x: f64, span_s: f64) -> String {
    let s = x.max(0.0) as u64;
    let (y, m, d) = civil_from_days(s / 86_400);
    let (hh, mm, ss) = time_of_day(s);
    if span_s <= 600.0 {
        format!("{hh:02}:{mm:02}:{ss:02}")
    } else if span_s <= 2.0 * 86_400.0 {
        format!("{hh:02}:{mm:02}")
    } else if span_s <= 60.0 * 86_400.0 {
        format!("{m:02}-{d:02} {hh:02}h")
    } else {
        format!("{y:04}-{m:02}-{d:02}")
    }
}

/// `#rrggbb`.
pub(crate) fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// A legend under a chart: a swatch and a name per series.
pub(crate) fn legend(items: &[(String, RGBColor)]) -> String {
    let mut out = String::from("<ul class=\"legend\">");
    for (name, c) in items {
        let _ = write!(
            out,
            "<li><span class=\"swatch\" style=\"background:{}\"></span>{}</li>",
            hex(*c),
            esc(name)
        );
    }
    out.push_str("</ul>");
    out
}

/// A chart in its figure: `id` names it for the page's readers (and the
/// tests), the caption says what it shows.
pub(crate) fn figure(id: &str, caption: &str, svg: &str, legend_html: &str) -> String {
    format!(
        "<figure class=\"chart\" data-chart=\"{}\"><figcaption>{}</figcaption>{}{}</figure>\n",
        esc(id),
        esc(caption),
        svg,
        legend_html
    )
}

/// A table: header cells, then rows of cells (already escaped HTML);
/// columns after the first are right-aligned numbers unless `text_cols`
/// says otherwise.
pub(crate) fn table(head: &[&str], rows: &[Vec<String>], text_cols: usize) -> String {
    let mut out = String::from("<table><thead><tr>");
    for (i, h) in head.iter().enumerate() {
        let class = if i < text_cols { "" } else { " class=\"n\"" };
        let _ = write!(out, "<th{class}>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for r in rows {
        out.push_str("<tr>");
        for (i, c) in r.iter().enumerate() {
            let class = if i < text_cols { "" } else { " class=\"n\"" };
            let _ = write!(out, "<td{class}>{c}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>\n");
    out
}

/// A note saying what is missing and why (escaped here).
pub(crate) fn missing(text: &str) -> String {
    format!("<p class=\"missing\">{}</p>\n", esc(text))
}

/// A plain paragraph (escaped here).
pub(crate) fn para(text: &str) -> String {
    format!("<p>{}</p>\n", esc(text))
}

/// The stylesheet.
pub(crate) const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;\
margin:0;color:#222;background:#f6f7f9}\
header{background:#1f2d3d;color:#fff;padding:16px 28px}\
header h1{margin:0 0 4px;font-size:22px}header p{margin:2px 0;color:#cfd8e3;font-size:13px}\
header code{background:#2e4157;color:#fff}\
nav{padding:8px 28px;background:#e9edf2;font-size:13px}nav a{margin-right:14px;color:#1f4e79}\
main{padding:8px 28px 40px;max-width:1040px}\
section{background:#fff;border:1px solid #dde3ea;border-radius:6px;padding:8px 20px 16px;margin:18px 0}\
h2{font-size:18px;margin:10px 0}h3{font-size:15px;margin:14px 0 6px}\
figure.chart{margin:10px 0 16px}figure.chart svg{max-width:100%;height:auto;display:block}\
figcaption{font-size:13px;color:#444;margin-bottom:4px}\
ul.legend{list-style:none;padding:0;margin:4px 0 0;font-size:12px;display:flex;flex-wrap:wrap;gap:4px 14px}\
.swatch{display:inline-block;width:11px;height:11px;margin-right:5px;vertical-align:-1px;border-radius:2px}\
table{border-collapse:collapse;font-size:13px;margin:8px 0}\
th,td{padding:3px 10px;border-bottom:1px solid #e3e7ec;text-align:left}\
th.n,td.n{text-align:right;font-variant-numeric:tabular-nums}\
p.missing{background:#fff6e0;border-left:4px solid #e0a800;padding:8px 12px;font-size:14px}\
p.error{background:#fdecea;border-left:4px solid #d62728;padding:8px 12px;font-size:14px}\
code{background:#eef1f4;padding:1px 4px;border-radius:3px}\
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(esc("<a href='x'>&\u{7}"), "&lt;a href=&#39;x&#39;&gt;&amp;");
        assert_eq!(short("abcdef", 4), "abc…");
        assert_eq!(short("ab\ncd", 10), "abcd");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(group(12), "12");
        assert_eq!(si(950.0), "950");
        assert_eq!(si(1_234.0), "1.2 k");
        assert_eq!(si(-3_400_000.0), "-3.4 M");
        assert_eq!(si(50_000.0), "50 k");
        assert_eq!(si(0.25), "0.25");
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1_500_000.0), "1.5 MB");
        assert_eq!(pct(1.0, 4.0), "25.0 %");
        assert_eq!(pct(1.0, 0.0), "–");
        assert_eq!(axis_time(1_714_557_630.0, 300.0), "10:00:30");
        assert_eq!(axis_time(1_714_557_630.0, 86_400.0), "10:00");
        assert_eq!(axis_time(1_714_557_630.0, 10.0 * 86_400.0), "05-01 10h");
        assert_eq!(axis_time(1_714_557_630.0, 400.0 * 86_400.0), "2024-05-01");
        assert_eq!(hex(RGBColor(255, 0, 16)), "#ff0010");
    }
}
