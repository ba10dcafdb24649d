//! Capture health (the `capture` table): frames per second, drops and
//! unparsed frames by cause, and the interface's own counters.

use sink::read::scan;

use super::{no_rows, table_absent, Section};
use crate::agg::{Bounded, Span};
use crate::chart::{self, Line, PALETTE};
use crate::html::{bytes, esc, group, para, table};
use crate::Ctx;

/// Drop causes: column and what it means in a few words. Two derived
/// causes follow: frames that are not IP, and parse errors.
const CAUSES: &[(&str, &str)] = &[
    ("src_dropped", "NIC/XDP drops"),
    ("src_ring_full", "rx ring full"),
    ("src_fill_ring_empty", "fill ring empty"),
    ("src_invalid_descs", "invalid descriptors or records"),
    ("flow_table_full", "flow table full (evicted)"),
    ("summary_queue_full", "summary queue full"),
    ("records_dropped", "flow records dropped"),
    ("activity_dropped", "activity dropped"),
    ("name_events_dropped", "names dropped"),
    ("name_reasm_full", "name reassembly buffers full"),
];
const NIC: &[(&str, &str)] = &[
    ("nic_rx_dropped", "NIC rx dropped"),
    ("nic_rx_missed", "NIC rx missed"),
    ("nic_rx_errors", "NIC rx errors"),
    ("carrier_changes", "carrier changes"),
];

// Column indices of the scan.
const START: usize = 0;
const PACKETS: usize = 1;
const BYTES: usize = 2;
const IP_PACKETS: usize = 3;
const PARSE_TOTAL: usize = 4;
const PARSE_NON_IP: usize = 5;
const SOURCE: usize = 6;
const MODE: usize = 7;
const NIC_RX: usize = 8;
const LINK_UP: usize = 9;
const CAUSE0: usize = 10;
const NIC0: usize = CAUSE0 + CAUSES.len();

fn columns() -> Vec<&'static str> {
    let mut c = vec![
        "epoch_start",
        "packets",
        "bytes",
        "ip_packets",
        "parse_errors_total",
        "parse_non_ip",
        "source",
        "capture_mode",
        "nic_rx_packets",
        "link_up",
    ];
    c.extend(CAUSES.iter().map(|c| c.0));
    c.extend(NIC.iter().map(|c| c.0));
    c
}

/// Causes drawn: the table's, then not-IP and parse errors.
const N_CAUSES: usize = CAUSES.len() + 2;

fn cause_name(k: usize) -> String {
    match k.checked_sub(CAUSES.len()) {
        None => format!("{} ({})", CAUSES[k].1, CAUSES[k].0),
        Some(0) => "not IP: ARP, LLDP, STP… (parse_non_ip)".into(),
        Some(_) => "parse errors (parse_errors_total − parse_non_ip)".into(),
    }
}

pub(crate) fn section(ctx: &Ctx) -> Section {
    let mut s = Section::new(
        "capture",
        "Capture health",
        "Frames per second, every drop and unparsed frame by cause, and the mirror \
         interface's own counters (capture table: one row per worker per epoch, summed).",
    );
    if let Some(why) = table_absent(ctx, "capture", "written by tapscope run and replay") {
        s.missing(why);
        return s;
    }
    let cols = columns();
    let mut span = Span::default();
    let mut sources: Bounded<u64> = Bounded::new(1_000, |v| *v as f64);
    let mut modes: Bounded<u64> = Bounded::new(100, |v| *v as f64);
    let r = scan(&ctx.root, "capture", None, &cols, &ctx.filter, |r| {
        span.add(r.time_us(START), r.data_time_us());
        *sources.entry(r.str(SOURCE).unwrap_or("?")) += 1;
        *modes.entry(r.str(MODE).unwrap_or("?")) += 1;
    });
    s.unreadable("capture", &r);
    let Some(b) = span.buckets(1) else {
        s.missing(no_rows(ctx, "capture", None));
        return s;
    };
    let n = b.n;
    let mut packets = vec![0.0; n];
    let mut ip = vec![0.0; n];
    let mut nic_rx: Vec<Option<f64>> = vec![None; n];
    let mut causes = vec![vec![0.0; n]; N_CAUSES];
    let mut nic = vec![vec![0.0; n]; NIC.len() + 1];
    let mut cause_tot = [0u64; N_CAUSES];
    let mut nic_tot = [0u64; NIC.len() + 1];
    let (mut rows, mut tot_packets, mut tot_bytes, mut tot_ip, mut nic_rows) = (0u64, 0, 0, 0, 0);
    let mut tot_nic_rx = 0u64;
    scan(&ctx.root, "capture", None, &cols, &ctx.filter, |r| {
        let Some(i) = r
            .time_us(START)
            .or(r.data_time_us())
            .and_then(|t| b.index(t))
        else {
            return;
        };
        rows += 1;
        let p = r.u64(PACKETS).unwrap_or(0);
        tot_packets += p;
        tot_bytes += r.u64(BYTES).unwrap_or(0);
        let ipp = r.u64(IP_PACKETS).unwrap_or(0);
        tot_ip += ipp;
        packets[i] += p as f64;
        ip[i] += ipp as f64;
        let total = r.u64(PARSE_TOTAL).unwrap_or(0);
        let non_ip = r.u64(PARSE_NON_IP).unwrap_or(0);
        for k in 0..N_CAUSES {
            let v = match k.checked_sub(CAUSES.len()) {
                None => r.u64(CAUSE0 + k).unwrap_or(0),
                Some(0) => non_ip,
                Some(_) => total.saturating_sub(non_ip),
            };
            cause_tot[k] += v;
            causes[k][i] += v as f64;
        }
        if let Some(rx) = r.u64(NIC_RX) {
            nic_rows += 1;
            tot_nic_rx += rx;
            *nic_rx[i].get_or_insert(0.0) += rx as f64;
            for k in 0..NIC.len() {
                let v = r.u64(NIC0 + k).unwrap_or(0);
                nic_tot[k] += v;
                nic[k][i] += v as f64;
            }
            if r.bool(LINK_UP) == Some(false) {
                nic_tot[NIC.len()] += 1;
                nic[NIC.len()][i] += 1.0;
            }
        }
    });
    let per_s = 1.0 / b.width_s();
    let rate = |v: &[f64]| -> Vec<Option<f64>> { v.iter().map(|x| Some(x * per_s)).collect() };
    let mut series = vec![
        Line {
            color: PALETTE[0],
            values: rate(&packets),
        },
        Line {
            color: PALETTE[4],
            values: rate(&ip),
        },
    ];
    let mut items = vec![
        ("frames received (packets)".to_string(), PALETTE[0]),
        ("flow packets (ip_packets)".to_string(), PALETTE[4]),
    ];
    if nic_rows > 0 {
        series.push(Line {
            color: PALETTE[2],
            values: nic_rx.iter().map(|v| v.map(|x| x * per_s)).collect(),
        });
        items.push(("NIC received (nic_rx_packets)".into(), PALETTE[2]));
    }
    let bucket = format!("{} s buckets", b.width_s());
    s.chart(
        "capture-packets",
        &format!("Frames per second ({bucket})"),
        chart::lines(&b, &series, "packets/s"),
        &items,
    );

    let drawn: Vec<usize> = (0..N_CAUSES).filter(|&k| cause_tot[k] > 0).collect();
    if drawn.is_empty() {
        s.push(&para(&format!(
            "No drops and no unparsed frames in {} epoch rows: every counter is 0.",
            group(rows)
        )));
    } else {
        let series: Vec<Line> = drawn
            .iter()
            .enumerate()
            .map(|(j, &k)| Line {
                color: PALETTE[j % PALETTE.len()],
                values: rate(&causes[k]),
            })
            .collect();
        let items: Vec<(String, _)> = drawn
            .iter()
            .enumerate()
            .map(|(j, &k)| (cause_name(k), PALETTE[j % PALETTE.len()]))
            .collect();
        s.chart(
            "capture-drops",
            &format!(
                "Drops and unparsed frames per second, by cause ({bucket}; causes that \
                 stayed 0 are not drawn)"
            ),
            chart::lines(&b, &series, "per second"),
            &items,
        );
    }

    if nic_rows == 0 {
        s.push(&para(
            "No NIC counters: they come from live capture (tapscope run), on the first \
             worker's rows; replayed captures have none.",
        ));
    } else if nic_tot.iter().all(|v| *v == 0) {
        s.push(&para(&format!(
            "NIC counters over {} epochs: no drops, misses, errors or carrier changes; the \
             link was up throughout.",
            group(nic_rows)
        )));
    } else {
        let drawn: Vec<usize> = (0..=NIC.len()).filter(|&k| nic_tot[k] > 0).collect();
        let name = |k: usize| {
            NIC.get(k).map_or(
                "epochs with the link down (link_up = false)".to_string(),
                |c| format!("{} ({})", c.1, c.0),
            )
        };
        let series: Vec<Line> = drawn
            .iter()
            .enumerate()
            .map(|(j, &k)| Line {
                color: PALETTE[(j + 2) % PALETTE.len()],
                values: nic[k].iter().map(|v| Some(*v)).collect(),
            })
            .collect();
        let items: Vec<(String, _)> = drawn
            .iter()
            .enumerate()
            .map(|(j, &k)| (name(k), PALETTE[(j + 2) % PALETTE.len()]))
            .collect();
        s.chart(
            "capture-nic",
            &format!("The mirror interface's own counters per bucket ({bucket})"),
            chart::lines(&b, &series, "count per bucket"),
            &items,
        );
    }

    let mut rows_html = vec![
        vec!["epoch rows (workers × epochs)".into(), group(rows)],
        vec!["frames received".into(), group(tot_packets)],
        vec!["bytes received".into(), bytes(tot_bytes as f64)],
        vec!["flow packets".into(), group(tot_ip)],
    ];
    if nic_rows > 0 {
        rows_html.push(vec!["NIC received".into(), group(tot_nic_rx)]);
    }
    for (k, t) in cause_tot.iter().enumerate() {
        rows_html.push(vec![esc(&cause_name(k)), group(*t)]);
    }
    if nic_rows > 0 {
        for (k, c) in NIC.iter().enumerate() {
            rows_html.push(vec![esc(&format!("{} ({})", c.1, c.0)), group(nic_tot[k])]);
        }
        rows_html.push(vec![
            "epochs with the link down".into(),
            group(nic_tot[NIC.len()]),
        ]);
    }
    s.push(&table(&["counter", "total"], &rows_html, 1));
    let list = |b: &Bounded<u64>| {
        b.ranked()
            .iter()
            .take(12)
            .map(|(k, _)| esc(k))
            .collect::<Vec<_>>()
            .join(", ")
    };
    s.push(&format!(
        "<p>Sources: {}. Capture modes: {}.</p>\n",
        list(&sources),
        list(&modes)
    ));
    s
}
