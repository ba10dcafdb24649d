//! The `traffic` table: per interval, per device and service, bytes and
//! packets each way.

use std::sync::Arc;

use arrow::array::{ArrayRef, StringArray};
use arrow::error::ArrowError;
use model::rows::TrafficRow;

use crate::columns::{mac_array, opt_ip_array, repeat_str, ts_array, u64_array};
use crate::table::{col, Col, Columns, Table, Ty, NOT_NULL, NULL};

/// The `traffic` table.
#[derive(Clone, Copy, Debug)]
pub struct Traffic;

impl Table for Traffic {
    type Row = TrafficRow;
    const NAME: &'static str = "traffic";
    const TIME_COLUMN: &'static str = "interval_end";

    fn columns() -> Vec<Col> {
        TRAFFIC_COLS.to_vec()
    }

    fn data_time(row: &TrafficRow) -> u64 {
        row.end_ns
    }

    fn build(c: &mut Columns<'_>, tap_id: &str, rows: &[&TrafficRow]) -> Result<(), ArrowError> {
        let n = rows.len();
        let strs = |f: fn(&TrafficRow) -> &str| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| f(r))))
        };
        c.push("tap_id", repeat_str(tap_id, n))?;
        c.push("interval_start", ts_array(rows.iter().map(|r| r.start_ns)))?;
        c.push("interval_end", ts_array(rows.iter().map(|r| r.end_ns)))?;
        c.push(
            "device_mac",
            mac_array(
                rows.iter()
                    .map(|r| r.device_mac.as_ref().unwrap_or(&[0; 6])),
            ),
        )?;
        c.push(
            "device_ip",
            opt_ip_array(rows.iter().map(|r| Some(&r.device_ip))),
        )?;
        c.push("device_name", strs(|r| &r.device_name))?;
        c.push("service", strs(|r| &r.service))?;
        c.push("service_category", strs(|r| &r.category))?;
        c.push("bytes_down", u64_array(rows.iter().map(|r| r.bytes_down)))?;
        c.push("bytes_up", u64_array(rows.iter().map(|r| r.bytes_up)))?;
        c.push(
            "packets_down",
            u64_array(rows.iter().map(|r| r.packets_down)),
        )?;
        c.push("packets_up", u64_array(rows.iter().map(|r| r.packets_up)))?;
        c.push("flows", u64_array(rows.iter().map(|r| r.flows)))?;
        c.push(
            "kbps_down",
            u64_array(rows.iter().map(|r| kbps(r.bytes_down, r))),
        )?;
        c.push(
            "kbps_up",
            u64_array(rows.iter().map(|r| kbps(r.bytes_up, r))),
        )
    }
}

const TRAFFIC_COLS: &[Col] = &[
    col("tap_id", Ty::Utf8, NOT_NULL, "Id of the tap (sink tap_id, by default the hostname)."),
    col("interval_start", Ty::TsUs, NOT_NULL, "Packet-time start of the interval (UTC, inclusive); intervals are classify.traffic_interval_s long (default 5 s), aligned to multiples of it."),
    col("interval_end", Ty::TsUs, NOT_NULL, "Packet-time end of the interval (UTC, exclusive). The row's data time: it picks the date partition and drives file rotation."),
    col("device_mac", Ty::Utf8, NULL, "MAC of the device (the local end of its flows); null when the capture has no Ethernet header (the device is then its address)."),
    col("device_ip", Ty::Utf8, NOT_NULL, "Address of the device (the first one seen in the interval)."),
    col("device_name", Ty::Utf8, NOT_NULL, "Name of the device: DHCP hostname, else mDNS name, else Unknown-<ip>."),
    col("service", Ty::Utf8, NOT_NULL, "Service per the catalog, as the flows table's service (unknown when nothing matched)."),
    col("service_category", Ty::Utf8, NOT_NULL, "The service's category, unknown for service unknown."),
    col("bytes_down", Ty::U64, NOT_NULL, "Frame bytes toward the device in the interval (wire length, as flows' byte columns)."),
    col("bytes_up", Ty::U64, NOT_NULL, "Frame bytes from the device in the interval."),
    col("packets_down", Ty::U64, NOT_NULL, "Packets toward the device."),
    col("packets_up", Ty::U64, NOT_NULL, "Packets from the device."),
    col("flows", Ty::U64, NOT_NULL, "Flows of this device and service that carried packets in the interval."),
    col("kbps_down", Ty::U64, NOT_NULL, "bytes_down x 8 / interval length, in kbit/s (rounded down)."),
    col("kbps_up", Ty::U64, NOT_NULL, "bytes_up x 8 / interval length, in kbit/s (rounded down)."),
];

fn kbps(bytes: u64, r: &TrafficRow) -> u64 {
    let ns = r.end_ns.saturating_sub(r.start_ns).max(1) as u128;
    (bytes as u128 * 8 * 1_000_000 / ns) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{batch, TableInfo};
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::UInt64Type;

    #[test]
    fn traffic_batch_matches_its_schema_and_docs() {
        let schema = TableInfo::of::<Traffic>().schema();
        assert_eq!(
            TableInfo::of::<Traffic>().column_docs().len(),
            schema.fields().len()
        );
        let r = TrafficRow {
            start_ns: 5_000_000_000,
            end_ns: 10_000_000_000,
            device_mac: None,
            device_ip: std::net::Ipv4Addr::new(192, 168, 1, 7)
                .to_ipv6_mapped()
                .octets(),
            device_name: Arc::from("Unknown-192.168.1.7"),
            service: Arc::from("netflix"),
            category: Arc::from("video"),
            bytes_down: 625_000,
            bytes_up: 1_000,
            packets_down: 500,
            packets_up: 10,
            flows: 2,
        };
        let b = batch::<Traffic>(&schema, "t", &[&r]).unwrap();
        assert_eq!(b.num_rows(), 1);
        assert!(b.column_by_name("device_mac").unwrap().is_null(0));
        let ip = b.column_by_name("device_ip").unwrap().as_string::<i32>();
        assert_eq!(ip.value(0), "192.168.1.7");
        let k = b
            .column_by_name("kbps_down")
            .unwrap()
            .as_primitive::<UInt64Type>();
        assert_eq!(k.value(0), 1_000);
    }
}
