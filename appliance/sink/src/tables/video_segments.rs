//! The `video_segments` table: one row per media segment detected in a
//! flow (a request and the downstream burst answering it).

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, UInt16Array, UInt32Array, UInt8Array};
use arrow::error::ArrowError;
use model::rows::SegmentRow;

use crate::columns::{ip_array, mac_array, opt_ip_array, opt_str, repeat_str, ts_array, u64_array};
use crate::table::{col, Col, Columns, Table, Ty, NOT_NULL, NULL};

/// The `video_segments` table.
#[derive(Clone, Copy, Debug)]
pub struct VideoSegments;

impl Table for VideoSegments {
    type Row = SegmentRow;
    const NAME: &'static str = "video_segments";
    const TIME_COLUMN: &'static str = "request_at";

    fn columns() -> Vec<Col> {
        COLS.to_vec()
    }

    fn data_time(row: &SegmentRow) -> u64 {
        row.seg.request_ns
    }

    fn build(c: &mut Columns<'_>, tap_id: &str, rows: &[&SegmentRow]) -> Result<(), ArrowError> {
        let n = rows.len();
        c.push("tap_id", repeat_str(tap_id, n))?;
        c.push(
            "request_at",
            ts_array(rows.iter().map(|r| r.seg.request_ns)),
        )?;
        c.push(
            "first_byte_at",
            ts_array(rows.iter().map(|r| r.seg.first_ns)),
        )?;
        c.push("last_byte_at", ts_array(rows.iter().map(|r| r.seg.last_ns)))?;
        c.push(
            "download_ms",
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| {
                r.seg.last_ns.saturating_sub(r.seg.request_ns) as f64 / 1e6
            }))) as ArrayRef,
        )?;
        c.push("bytes", u64_array(rows.iter().map(|r| r.seg.bytes)))?;
        c.push(
            "packets",
            Arc::new(UInt32Array::from_iter_values(
                rows.iter().map(|r| r.seg.packets),
            )),
        )?;
        c.push(
            "request_bytes",
            Arc::new(UInt32Array::from_iter_values(
                rows.iter().map(|r| r.seg.request_bytes),
            )),
        )?;
        c.push(
            "protocol",
            Arc::new(UInt8Array::from_iter_values(
                rows.iter().map(|r| r.protocol),
            )),
        )?;
        c.push(
            "client_ip",
            ip_array(rows.iter().map(|r| (r.ip_version, &r.client_ip))),
        )?;
        c.push(
            "client_port",
            Arc::new(UInt16Array::from_iter_values(
                rows.iter().map(|r| r.client_port),
            )),
        )?;
        c.push(
            "server_ip",
            ip_array(rows.iter().map(|r| (r.ip_version, &r.server_ip))),
        )?;
        c.push(
            "server_port",
            Arc::new(UInt16Array::from_iter_values(
                rows.iter().map(|r| r.server_port),
            )),
        )?;
        c.push(
            "server_name",
            opt_str(rows.iter().map(|r| r.labels.server_name.as_deref())),
        )?;
        c.push(
            "service",
            opt_str(
                rows.iter()
                    .map(|r| Some(r.labels.service.as_deref().unwrap_or("unknown"))),
            ),
        )?;
        c.push(
            "service_category",
            opt_str(
                rows.iter()
                    .map(|r| Some(r.labels.category.as_deref().unwrap_or("unknown"))),
            ),
        )?;
        c.push(
            "device_mac",
            mac_array(
                rows.iter()
                    .map(|r| r.labels.device_mac.as_ref().unwrap_or(&[0; 6])),
            ),
        )?;
        c.push(
            "device_ip",
            opt_ip_array(rows.iter().map(|r| r.labels.device_ip.as_ref())),
        )?;
        c.push(
            "device_name",
            opt_str(rows.iter().map(|r| r.labels.device_name.as_deref())),
        )
    }
}

const COLS: &[Col] = &[
    col("tap_id", Ty::Utf8, NOT_NULL, "Id of the tap (sink tap_id, by default the hostname)."),
    col("request_at", Ty::TsUs, NOT_NULL, "When the request was seen: the first upstream packet with at least video.request_min_payload bytes of payload after the previous burst (UTC). The row's data time."),
    col("first_byte_at", Ty::TsUs, NOT_NULL, "First downstream payload of the burst (UTC)."),
    col("last_byte_at", Ty::TsUs, NOT_NULL, "Last downstream payload of the burst (UTC): the next request, the flow's end or video.segment_idle_s of silence closed it."),
    col("download_ms", Ty::F64, NOT_NULL, "last_byte_at - request_at, milliseconds."),
    col("bytes", Ty::U64, NOT_NULL, "Downstream transport payload of the burst (TLS records, QUIC packets: headers of the application layer included); at least video.segment_min_bytes."),
    col("packets", Ty::U32, NOT_NULL, "Downstream packets with payload in the burst."),
    col("request_bytes", Ty::U32, NOT_NULL, "Upstream payload of the request (requests sent before any answer are merged)."),
    col("protocol", Ty::U8, NOT_NULL, "6 (TCP) or 17 (UDP: QUIC)."),
    col("client_ip", Ty::Utf8, NOT_NULL, "The requesting end, as flows.client_ip."),
    col("client_port", Ty::U16, NOT_NULL, "Client's port: with the other endpoint columns it joins flows."),
    col("server_ip", Ty::Utf8, NOT_NULL, "The server, as flows.server_ip."),
    col("server_port", Ty::U16, NOT_NULL, "Server's port (443 or 80)."),
    col("server_name", Ty::Utf8, NULL, "The flow's server name when the segment was written (as flows.server_name)."),
    col("service", Ty::Utf8, NOT_NULL, "The flow's service (as flows.service)."),
    col("service_category", Ty::Utf8, NOT_NULL, "The service's category (video for streaming services)."),
    col("device_mac", Ty::Utf8, NULL, "MAC of the flow's device (its local end); null without Ethernet or when the flow is not local."),
    col("device_ip", Ty::Utf8, NULL, "Address of the flow's device; null when neither end is local."),
    col("device_name", Ty::Utf8, NULL, "Name of the device (as flows.device_name)."),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{batch, TableInfo};
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, UInt64Type};
    use datapath::flow::segment::SegmentRecord;
    use model::rows::FlowLabels;

    #[test]
    fn segment_batch_matches_its_schema() {
        let schema = TableInfo::of::<VideoSegments>().schema();
        let ip = |a: [u8; 4]| std::net::Ipv4Addr::from(a).to_ipv6_mapped().octets();
        let r = SegmentRow {
            seg: SegmentRecord {
                flow_id: 9,
                request_ns: 1_000_000_000,
                first_ns: 1_020_000_000,
                last_ns: 1_500_000_000,
                bytes: 250_000,
                packets: 180,
                request_bytes: 95,
                ..SegmentRecord::default()
            },
            ip_version: 4,
            protocol: 6,
            client_ip: ip([192, 168, 1, 7]),
            server_ip: ip([198, 51, 100, 10]),
            client_port: 40_000,
            server_port: 443,
            labels: FlowLabels {
                server_name: Some(Arc::from("cdn.example")),
                service: Some(Arc::from("netflix")),
                category: Some(Arc::from("video")),
                device_mac: Some([2, 0, 0, 0, 0, 7]),
                device_ip: Some(ip([192, 168, 1, 7])),
                ..FlowLabels::default()
            },
        };
        let unlabelled = SegmentRow {
            labels: FlowLabels::default(),
            ..r.clone()
        };
        let b = batch::<VideoSegments>(&schema, "t", &[&r, &unlabelled]).unwrap();
        assert_eq!(b.num_rows(), 2);
        let s = |c: &str| b.column_by_name(c).unwrap().as_string::<i32>().clone();
        assert_eq!(s("server_ip").value(0), "198.51.100.10");
        assert_eq!(s("device_mac").value(0), "02:00:00:00:00:07");
        assert_eq!(s("service").value(0), "netflix");
        assert_eq!(s("service").value(1), "unknown");
        assert!(s("device_ip").is_null(1));
        let ms = b.column_by_name("download_ms").unwrap();
        assert_eq!(ms.as_primitive::<Float64Type>().value(0), 500.0);
        let bytes = b.column_by_name("bytes").unwrap();
        assert_eq!(bytes.as_primitive::<UInt64Type>().value(0), 250_000);
    }
}
