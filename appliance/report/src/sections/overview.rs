//! The data the report was drawn from: each table's files, rows, time
//! range and taps, from the files' footers.

use sink::read::{overview, table_exists};

use super::Section;
use crate::html::{bytes, esc, group, table, utc_us};
use crate::Ctx;

/// The tables the report reads, in page order.
const TABLES: &[&str] = &[
    "traffic",
    "capture",
    "heavy_hitters",
    "scans",
    "probes",
    "flow_sizes",
    "flows",
    super::video::TABLE,
];

pub(crate) fn section(ctx: &Ctx) -> Section {
    let mut s = Section::new(
        "data",
        "Data",
        "The tables the report reads: complete files only (files being written are not read).",
    );
    if !ctx.root.is_dir() {
        s.missing(format!(
            "{} is not a folder: there are no tables to read.",
            ctx.root.display()
        ));
        return s;
    }
    let mut rows = Vec::new();
    let mut absent = Vec::new();
    let mut taps: Vec<String> = Vec::new();
    for t in TABLES {
        if !table_exists(&ctx.root, t) {
            absent.push(*t);
            rows.push(vec![
                esc(t),
                "no folder".into(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
            continue;
        }
        // The sink registers every table but video_sessions, whose time
        // column comes from its files.
        let tcol = (*t == super::video::TABLE)
            .then(|| super::video::time_column(ctx))
            .flatten();
        let o = overview(&ctx.root, t, tcol.as_deref());
        for tap in &o.taps {
            if !taps.contains(tap) {
                taps.push(tap.clone());
            }
        }
        let (first, last) = o
            .time_range_us
            .map_or((String::new(), String::new()), |(a, b)| {
                (utc_us(a), utc_us(b))
            });
        rows.push(vec![
            esc(t),
            group(o.files as u64),
            bytes(o.bytes as f64),
            group(o.rows),
            esc(&first),
            esc(&last),
        ]);
        if !o.unreadable.is_empty() {
            s.missing(format!(
                "{} file(s) of {t} have no readable footer (for example {}): they are left out.",
                o.unreadable.len(),
                o.unreadable[0].0.display()
            ));
        }
    }
    s.push(&table(
        &["table", "files", "size", "rows", "first data", "last data"],
        &rows,
        1,
    ));
    taps.sort();
    if !taps.is_empty() {
        s.push(&crate::html::para(&format!("Taps: {}.", taps.join(", "))));
    }
    if absent.len() == TABLES.len() {
        s.missing(format!(
            "{} holds none of tapscope's tables: point the report at the output folder \
             (output.dir, /var/lib/tapscope on the appliance) or at a copy of it.",
            ctx.root.display()
        ));
    }
    s
}
