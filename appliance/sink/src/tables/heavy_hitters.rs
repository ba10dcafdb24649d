//! The `heavy_hitters` table: per window and counter, the keys with the
//! largest count-min estimates.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray, StringBuilder, UInt16Array, UInt32Array, UInt8Array};
use arrow::error::ArrowError;
use datapath::sketch::state::HeavyHitter;
use datapath::sketch::SketchKey;
use model::rows::packet_ip_addr;

use super::{rank_u16, window_cols};
use crate::columns::{protocol_text, u64_array};
use crate::table::{col, Col, Columns, Table, Ty, NOT_NULL, NULL};

/// The `heavy_hitters` table.
#[derive(Clone, Copy, Debug)]
pub struct HeavyHitters;

impl Table for HeavyHitters {
    type Row = HeavyHitter;
    const NAME: &'static str = "heavy_hitters";
    const TIME_COLUMN: &'static str = "window_end";

    fn columns() -> Vec<Col> {
        HEAVY_HITTERS_COLS.to_vec()
    }

    fn data_time(row: &HeavyHitter) -> u64 {
        row.end_ns
    }

    fn build(c: &mut Columns<'_>, tap_id: &str, rows: &[&HeavyHitter]) -> Result<(), ArrowError> {
        window_cols(c, tap_id, rows, |r| (r.start_ns, r.end_ns, r.workers))?;
        let text = |f: fn(&HeavyHitter) -> &'static str| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| f(r))))
        };
        c.push(
            "counter",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.counter.name.as_str()),
            )),
        )?;
        c.push("key_type", text(|r| r.counter.key.name()))?;
        c.push("increment", text(|r| r.counter.increment.name()))?;
        c.push("protocol", text(|r| r.counter.protocol.name()))?;
        c.push("direction", text(|r| r.counter.direction.name()))?;
        c.push(
            "rank",
            Arc::new(UInt16Array::from_iter_values(
                rows.iter().map(|r| rank_u16(r.rank)),
            )),
        )?;
        c.push(
            "key",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| key_text(r)),
            )),
        )?;
        c.push(
            "src_ip",
            opt_ip(rows, |r| r.counter.key.has_src_ip(), |r| &r.key.src_ip),
        )?;
        c.push(
            "dst_ip",
            opt_ip(rows, |r| r.counter.key.has_dst_ip(), |r| &r.key.dst_ip),
        )?;
        c.push(
            "src_port",
            Arc::new(UInt16Array::from_iter(
                rows.iter()
                    .map(|r| r.counter.key.has_src_port().then_some(r.key.src_port)),
            )),
        )?;
        c.push(
            "dst_port",
            Arc::new(UInt16Array::from_iter(
                rows.iter()
                    .map(|r| r.counter.key.has_dst_port().then_some(r.key.dst_port)),
            )),
        )?;
        c.push(
            "ip_protocol",
            Arc::new(UInt8Array::from_iter(rows.iter().map(|r| {
                r.counter.key.has_protocol().then_some(r.key.protocol.0)
            }))),
        )?;
        c.push("estimate", u64_array(rows.iter().map(|r| r.estimate)))?;
        c.push("error_bound", u64_array(rows.iter().map(|r| r.error_bound)))?;
        c.push("total", u64_array(rows.iter().map(|r| r.total)))?;
        c.push(
            "sampling",
            Arc::new(UInt32Array::from_iter_values(
                rows.iter().map(|r| r.sampling),
            )),
        )
    }
}

const HEAVY_HITTERS_COLS: &[Col] = &[
    col("tap_id", Ty::Utf8, NOT_NULL, "Id of the tap (sink tap_id, by default the hostname)."),
    col("window_start", Ty::TsUs, NOT_NULL, super::WINDOW_START),
    col("window_end", Ty::TsUs, NOT_NULL, super::WINDOW_END),
    col("workers", Ty::U16, NOT_NULL, super::WORKERS),
    col("counter", Ty::Utf8, NOT_NULL, "Name of the counter (sketch.counters name)."),
    col("key_type", Ty::Utf8, NOT_NULL, "What the counter counts by: src, dst, src_dst, src_dport (source, protocol and destination port), dport (protocol and destination port) or five_tuple."),
    col("increment", Ty::Utf8, NOT_NULL, "What the counter adds per packet: packets (1) or bytes (frame length on the wire)."),
    col("protocol", Ty::Utf8, NOT_NULL, "The counter's protocol filter: any, tcp, udp or icmp (ICMP and ICMPv6)."),
    col("direction", Ty::Utf8, NOT_NULL, "The counter's direction filter: any, c2s (packets from a flow's client, its initiator, to the server) or s2c."),
    col("rank", Ty::U16, NOT_NULL, "1 for the key with the largest estimate in the window, up to sketch.top_k; ties ranked by key."),
    col("key", Ty::Utf8, NOT_NULL, "The key as text: an address; 'src > dst'; 'src > tcp/443'; 'tcp/443'; or 'tcp src:port > dst:port' (IPv6 in brackets)."),
    col("src_ip", Ty::Utf8, NULL, "Source address of the key (dotted quad or RFC 5952); null when the key type has none (dst, dport)."),
    col("dst_ip", Ty::Utf8, NULL, "Destination address of the key; null when the key type has none (src, src_dport, dport)."),
    col("src_port", Ty::U16, NULL, "Source port (five_tuple only; 0 for protocols without ports)."),
    col("dst_port", Ty::U16, NULL, "Destination port (src_dport, dport, five_tuple; 0 for protocols without ports)."),
    col("ip_protocol", Ty::U8, NULL, "IP protocol number of the key (src_dport, dport, five_tuple)."),
    col("estimate", Ty::U64, NOT_NULL, "Count-min estimate of the key's packets or bytes in the window. Never below the true count when sampling is 1."),
    col("error_bound", Ty::U64, NOT_NULL, "How far the estimate may be from the true count, with probability about sketch.confidence: ceil(epsilon x N) for the count-min sketch (epsilon = e / its width, at most sketch.error; N = total when sampling is 1), plus z x sqrt((sampling - 1) x largest increment x estimate) when packets were sampled."),
    col("total", Ty::U64, NOT_NULL, "Exact sum of the counter's increments in the window, over all keys (estimate / total is the key's share)."),
    col("sampling", Ty::U32, NOT_NULL, "1 when every update reached the sketch; 2^s when a worker's update rate passed sketch.sample_above_updates and one update in 2^s did, weighted 2^s (the estimate is then unbiased, no longer an upper bound)."),
];

/// The `key` column's text for a heavy hitter.
pub fn key_text(h: &HeavyHitter) -> String {
    use datapath::sketch::KeyType::*;
    let k: &SketchKey = &h.key;
    let src = || packet_ip_addr(k.ip_version, &k.src_ip).to_string();
    let dst = || packet_ip_addr(k.ip_version, &k.dst_ip).to_string();
    let with_port = |ip: String, port: u16| {
        if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        }
    };
    match h.counter.key {
        Src => src(),
        Dst => dst(),
        SrcDst => format!("{} > {}", src(), dst()),
        SrcDport => format!("{} > {}/{}", src(), protocol_text(k.protocol), k.dst_port),
        Dport => format!("{}/{}", protocol_text(k.protocol), k.dst_port),
        FiveTuple => format!(
            "{} {} > {}",
            protocol_text(k.protocol),
            with_port(src(), k.src_port),
            with_port(dst(), k.dst_port)
        ),
    }
}

fn opt_ip<'a>(
    rows: &'a [&'a HeavyHitter],
    present: impl Fn(&HeavyHitter) -> bool,
    ip: impl Fn(&'a HeavyHitter) -> &'a [u8; 16],
) -> ArrayRef {
    let mut b = StringBuilder::new();
    for r in rows {
        if present(r) {
            let _ = write!(b, "{}", packet_ip_addr(r.key.ip_version, ip(r)));
            b.append_value("");
        } else {
            b.append_null();
        }
    }
    Arc::new(b.finish())
}

#[cfg(test)]
mod tests;
