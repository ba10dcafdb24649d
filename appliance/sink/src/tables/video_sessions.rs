//! The `video_sessions` table: one row per ended video session (a device
//! playing from a video service), with the model's estimates.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray, UInt32Array};
use arrow::error::ArrowError;
use model::rows::{VideoSessionRow, VideoWho};

use super::video_windows::{push_who, WHO_COLS};
use crate::columns::{ts_array, u64_array};
use crate::table::{col, Col, Columns, Table, Ty, NOT_NULL, NULL};

/// The `video_sessions` table.
#[derive(Clone, Copy, Debug)]
pub struct VideoSessions;

impl Table for VideoSessions {
    type Row = VideoSessionRow;
    const NAME: &'static str = "video_sessions";
    const TIME_COLUMN: &'static str = "end";

    fn columns() -> Vec<Col> {
        let mut cols = WHO_COLS.to_vec();
        cols.extend_from_slice(SESSION_COLS);
        cols
    }

    fn data_time(row: &VideoSessionRow) -> u64 {
        row.end_ns
    }

    fn build(
        c: &mut Columns<'_>,
        tap_id: &str,
        rows: &[&VideoSessionRow],
    ) -> Result<(), ArrowError> {
        let who: Vec<&VideoWho> = rows.iter().map(|r| &r.who).collect();
        push_who(c, tap_id, &who)?;
        let u32s = |f: fn(&VideoSessionRow) -> u32| -> ArrayRef {
            Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| f(r))))
        };
        let f64s = |f: fn(&VideoSessionRow) -> Option<f64>| -> ArrayRef {
            Arc::new(Float64Array::from(
                rows.iter().map(|r| f(r)).collect::<Vec<_>>(),
            ))
        };
        c.push(
            "server_names",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.server_names.as_str()),
            )),
        )?;
        c.push("start", ts_array(rows.iter().map(|r| r.start_ns)))?;
        c.push("end", ts_array(rows.iter().map(|r| r.end_ns)))?;
        c.push(
            "duration_s",
            f64s(|r| Some(r.end_ns.saturating_sub(r.start_ns) as f64 / 1e9)),
        )?;
        c.push("bytes_down", u64_array(rows.iter().map(|r| r.bytes_down)))?;
        c.push("bytes_up", u64_array(rows.iter().map(|r| r.bytes_up)))?;
        c.push("flows", u32s(|r| r.flows))?;
        c.push("segments", u64_array(rows.iter().map(|r| r.segments)))?;
        c.push("windows", u32s(|r| r.windows))?;
        c.push("startup_delay_s", f64s(|r| r.startup_s))?;
        c.push("resolution_mean", f64s(|r| r.resolution_mean))?;
        c.push(
            "resolution_last",
            Arc::new(UInt32Array::from(
                rows.iter().map(|r| r.resolution_last).collect::<Vec<_>>(),
            )),
        )?;
        c.push("resolution_switches", u32s(|r| r.resolution_switches))?;
        c.push(
            "end_reason",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.end_reason),
            )),
        )
    }
}

const SESSION_COLS: &[Col] = &[
    col("server_names", Ty::Utf8, NOT_NULL, "Server names of the session's flows, comma-separated (up to 8; empty if none was seen)."),
    col("start", Ty::TsUs, NOT_NULL, "First video packet of the session (UTC)."),
    col("end", Ty::TsUs, NOT_NULL, "Last video packet of the session (UTC, to the epoch). The row's data time."),
    col("duration_s", Ty::F64, NOT_NULL, "end - start, s."),
    col("bytes_down", Ty::U64, NOT_NULL, "Frame bytes toward the device in the session's flows."),
    col("bytes_up", Ty::U64, NOT_NULL, "Frame bytes from the device."),
    col("flows", Ty::U32, NOT_NULL, "Flows of the session."),
    col("segments", Ty::U64, NOT_NULL, "Media segments detected in them (video_segments)."),
    col("windows", Ty::U32, NOT_NULL, "Rows in video_windows."),
    col("startup_delay_s", Ty::F64, NULL, "Estimated startup delay, s: from the first packet to the first frame played (the model's estimate from the first window); null without a model."),
    col("resolution_mean", Ty::F64, NULL, "Estimated height, px, time-weighted over the windows with traffic; null without a model."),
    col("resolution_last", Ty::U32, NULL, "Estimated height of the last window with traffic, px."),
    col("resolution_switches", Ty::U32, NOT_NULL, "Changes of estimated height from one window to the next."),
    col("end_reason", Ty::Utf8, NOT_NULL, "idle (no packet for video.session_idle_s), closed (every flow ended and none started within video.session_closed_gap_s) or end_of_capture (end of a replay, or the stop)."),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{batch, TableInfo};
    use arrow::array::AsArray;
    use arrow::datatypes::Float64Type;

    #[test]
    fn a_session_row() {
        let r = VideoSessionRow {
            who: VideoWho {
                session_id: "1-1".into(),
                device_ip: std::net::Ipv4Addr::new(10, 0, 0, 2)
                    .to_ipv6_mapped()
                    .octets(),
                device_name: "tv".into(),
                service: "netflix".into(),
                model_version: "v1".into(),
                ..VideoWho::default()
            },
            server_names: "a.example,b.example".into(),
            start_ns: 1_000_000_000,
            end_ns: 31_500_000_000,
            startup_s: Some(1.25),
            end_reason: "idle",
            ..VideoSessionRow::default()
        };
        let schema = TableInfo::of::<VideoSessions>().schema();
        let b = batch::<VideoSessions>(&schema, "t", &[&r]).unwrap();
        let col = |n: &str| b.column_by_name(n).unwrap().clone();
        assert_eq!(
            col("duration_s").as_primitive::<Float64Type>().value(0),
            30.5
        );
        assert_eq!(
            col("startup_delay_s")
                .as_primitive::<Float64Type>()
                .value(0),
            1.25
        );
        assert!(col("resolution_mean").is_null(0));
        assert!(col("device_mac").is_null(0));
        assert_eq!(col("end_reason").as_string::<i32>().value(0), "idle");
    }
}
