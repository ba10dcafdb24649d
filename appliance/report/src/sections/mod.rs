//! The report's sections, one module each, and the page around them.

use std::fmt::Write as _;

use plotters::style::RGBColor;
use sink::read::{overview, table_exists, ScanReport};

use crate::html::{self, esc, figure, legend, utc_us};
use crate::{Ctx, Options};

mod capture;
mod flow_sizes;
mod hitters;
mod overview;
mod probes;
mod traffic;
mod video;

/// One drawn section.
pub(crate) struct Section {
    pub(crate) id: &'static str,
    pub(crate) title: &'static str,
    /// What the section shows, in a sentence.
    pub(crate) about: &'static str,
    pub(crate) body: String,
    pub(crate) charts: usize,
    pub(crate) missing: Vec<String>,
}

impl Section {
    pub(crate) fn new(id: &'static str, title: &'static str, about: &'static str) -> Section {
        Section {
            id,
            title,
            about,
            body: String::new(),
            charts: 0,
            missing: Vec::new(),
        }
    }

    /// Adds a chart (or, if it could not be drawn, the reason).
    pub(crate) fn chart(
        &mut self,
        id: &str,
        caption: &str,
        svg: Result<String, String>,
        items: &[(String, RGBColor)],
    ) {
        match svg {
            Ok(svg) => {
                self.body
                    .push_str(&figure(id, caption, &svg, &legend(items)));
                self.charts += 1;
            }
            Err(e) => {
                let _ = writeln!(
                    self.body,
                    "<p class=\"error\">{}: the chart could not be drawn: {}</p>",
                    esc(caption),
                    esc(&e)
                );
                self.missing.push(format!("{id}: {e}"));
            }
        }
    }

    /// Says what is missing, in the page and in the summary.
    pub(crate) fn missing(&mut self, text: String) {
        self.body.push_str(&html::missing(&text));
        self.missing.push(text);
    }

    pub(crate) fn push(&mut self, html: &str) {
        self.body.push_str(html);
    }

    /// Names files a scan could not read.
    pub(crate) fn unreadable(&mut self, table: &str, r: &ScanReport) {
        if r.unreadable.is_empty() {
            return;
        }
        let mut names: Vec<String> = r
            .unreadable
            .iter()
            .take(5)
            .map(|(p, e)| format!("{} ({e})", p.display()))
            .collect();
        if r.unreadable.len() > 5 {
            names.push(format!("and {} more", r.unreadable.len() - 5));
        }
        self.missing(format!(
            "{} file(s) of {table} could not be read and are left out: {}",
            r.unreadable.len(),
            names.join("; ")
        ));
    }
}

/// Why a table has nothing to show, or None when it has complete files.
/// `writer` says what writes the table.
pub(crate) fn table_absent(ctx: &Ctx, table: &str, writer: &str) -> Option<String> {
    if !table_exists(&ctx.root, table) {
        return Some(format!(
            "No {table} table: {} has no {table} folder ({writer}).",
            ctx.root.display()
        ));
    }
    if overview(&ctx.root, table, None).files == 0 {
        return Some(format!(
            "The {table} table has no complete file: nothing was written to it, or its first \
             file is still open (a file appears in the folder once closed, every \
             output.rotate_interval_s, 300 s by default) ({writer})."
        ));
    }
    None
}

/// The message for a table whose files hold no row in the selection.
pub(crate) fn no_rows(ctx: &Ctx, table: &str, time_column: Option<&str>) -> String {
    let o = overview(&ctx.root, table, time_column);
    let range = o
        .time_range_us
        .map(|(a, b)| format!(" Its data runs from {} to {}.", utc_us(a), utc_us(b)))
        .unwrap_or_default();
    let taps = if o.taps.is_empty() {
        String::new()
    } else {
        format!(" Taps in it: {}.", o.taps.join(", "))
    };
    let f = &ctx.filter;
    let mut sel = Vec::new();
    if f.since_us.is_some() || f.until_us.is_some() {
        sel.push("time range");
    }
    if f.tap.is_some() {
        sel.push("tap");
    }
    let what = if sel.is_empty() {
        "none could be read".to_string()
    } else {
        format!("none in the selected {}", sel.join(" and "))
    };
    format!(
        "The {table} table has {} files and {} rows, {what}.{range}{taps}",
        o.files,
        html::group(o.rows)
    )
}

/// Every section, in page order.
pub(crate) fn all(ctx: &Ctx) -> Vec<Section> {
    let mut out = vec![overview::section(ctx)];
    out.extend(traffic::sections(ctx));
    out.push(capture::section(ctx));
    out.push(hitters::section(ctx));
    out.push(probes::section(ctx));
    out.push(flow_sizes::section(ctx));
    out.push(video::section(ctx));
    out
}

/// The page.
pub(crate) fn page(ctx: &Ctx, opts: &Options, sections: &[Section]) -> String {
    let mut out = String::with_capacity(256 * 1024);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">");
    // No favicon request: the page needs nothing but itself.
    out.push_str("<link rel=\"icon\" href=\"data:,\">");
    if let Some(s) = opts.reload_s {
        let _ = write!(out, "<meta http-equiv=\"refresh\" content=\"{s}\">");
    }
    let _ = writeln!(
        out,
        "<title>tapscope report: {}</title><style>{}</style></head><body>",
        esc(&ctx.root.display().to_string()),
        html::STYLE
    );
    let f = &ctx.filter;
    let bound = |t: Option<i64>, none: &str| t.map_or(none.to_string(), utc_us);
    let _ = writeln!(
        out,
        "<header><h1>tapscope report</h1><p>Tables under <code>{}</code>, drawn {}.</p>\
         <p>Data from {} to {}; tap: {}.{}</p></header>",
        esc(&ctx.root.display().to_string()),
        esc(&model::time::format_utc(ctx.now_unix_s)),
        esc(&bound(f.since_us, "the start")),
        esc(&bound(f.until_us, "the end")),
        esc(f.tap.as_deref().unwrap_or("all")),
        if opts.reload_s.is_some() {
            " Served from the live tables: reload for the latest complete files."
        } else {
            ""
        }
    );
    out.push_str("<nav>");
    for s in sections {
        let _ = write!(out, "<a href=\"#{}\">{}</a>", s.id, esc(s.title));
    }
    out.push_str("</nav>\n<main>\n");
    for s in sections {
        let _ = write!(
            out,
            "<section id=\"{}\" data-charts=\"{}\" data-missing=\"{}\"><h2>{}</h2><p class=\"about\">{}</p>\n{}</section>\n",
            s.id,
            s.charts,
            s.missing.len(),
            esc(s.title),
            esc(s.about),
            s.body
        );
    }
    out.push_str("</main></body></html>\n");
    out
}
