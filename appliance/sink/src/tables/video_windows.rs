//! The `video_windows` table: one row per 10 s window of a video session,
//! with the features the model used and its predictions.

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, StringArray, UInt32Array};
use arrow::error::ArrowError;
use model::rows::{VideoWho, VideoWindowRow};

use crate::columns::{mac_array, opt_ip_array, repeat_str, ts_array};
use crate::table::{col, Col, Columns, Table, Ty, NOT_NULL, NULL};

/// The `video_windows` table.
#[derive(Clone, Copy, Debug)]
pub struct VideoWindows;

/// The columns naming a session (shared with `video_sessions`).
pub(crate) const WHO_COLS: &[Col] = &[
    col("tap_id", Ty::Utf8, NOT_NULL, "Id of the tap (sink tap_id, by default the hostname)."),
    col("session_id", Ty::Utf8, NOT_NULL, "The video session (video_sessions.session_id): its start in microseconds and a counter, unique in a run."),
    col("device_mac", Ty::Utf8, NULL, "MAC of the device (null without Ethernet)."),
    col("device_ip", Ty::Utf8, NOT_NULL, "Address of the device."),
    col("device_name", Ty::Utf8, NOT_NULL, "Name of the device (as flows.device_name)."),
    col("service", Ty::Utf8, NOT_NULL, "The video service (a service of category video in the catalog)."),
    col("model_version", Ty::Utf8, NOT_NULL, "Version of the model that made the estimates (video.model); none without one."),
];

pub(crate) fn push_who(
    c: &mut Columns<'_>,
    tap_id: &str,
    who: &[&VideoWho],
) -> Result<(), ArrowError> {
    let strs = |f: fn(&VideoWho) -> &str| -> ArrayRef {
        Arc::new(StringArray::from_iter_values(who.iter().map(|w| f(w))))
    };
    c.push("tap_id", repeat_str(tap_id, who.len()))?;
    c.push("session_id", strs(|w| &w.session_id))?;
    c.push(
        "device_mac",
        mac_array(who.iter().map(|w| w.device_mac.as_ref().unwrap_or(&[0; 6]))),
    )?;
    c.push(
        "device_ip",
        opt_ip_array(who.iter().map(|w| Some(&w.device_ip))),
    )?;
    c.push("device_name", strs(|w| &w.device_name))?;
    c.push("service", strs(|w| &w.service))?;
    c.push("model_version", strs(|w| &w.model_version))
}

impl Table for VideoWindows {
    type Row = VideoWindowRow;
    const NAME: &'static str = "video_windows";
    const TIME_COLUMN: &'static str = "window_end";

    fn columns() -> Vec<Col> {
        let mut cols = WHO_COLS.to_vec();
        cols.extend_from_slice(WINDOW_COLS);
        for (name, doc) in video::features::NAMES.iter().zip(video::features::DOCS) {
            cols.push(col(name, Ty::F64, NOT_NULL, doc));
        }
        cols
    }

    fn data_time(row: &VideoWindowRow) -> u64 {
        row.end_ns
    }

    fn build(
        c: &mut Columns<'_>,
        tap_id: &str,
        rows: &[&VideoWindowRow],
    ) -> Result<(), ArrowError> {
        let who: Vec<&VideoWho> = rows.iter().map(|r| &r.who).collect();
        push_who(c, tap_id, &who)?;
        c.push(
            "session_start",
            ts_array(rows.iter().map(|r| r.session_start_ns)),
        )?;
        c.push(
            "window_index",
            Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| r.index))),
        )?;
        c.push("window_start", ts_array(rows.iter().map(|r| r.start_ns)))?;
        c.push("window_end", ts_array(rows.iter().map(|r| r.end_ns)))?;
        c.push(
            "resolution",
            Arc::new(UInt32Array::from(
                rows.iter().map(|r| r.resolution).collect::<Vec<_>>(),
            )),
        )?;
        c.push(
            "probability",
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.probability).collect::<Vec<_>>(),
            )),
        )?;
        c.push(
            "startup_delay_s",
            Arc::new(Float64Array::from(
                rows.iter().map(|r| r.startup_s).collect::<Vec<_>>(),
            )),
        )?;
        for (i, name) in video::features::NAMES.iter().enumerate() {
            c.push(
                name,
                Arc::new(Float64Array::from_iter_values(
                    rows.iter().map(|r| r.features.values[i]),
                )),
            )?;
        }
        Ok(())
    }
}

const WINDOW_COLS: &[Col] = &[
    col("session_start", Ty::TsUs, NOT_NULL, "Start of the session (UTC): its first video packet."),
    col("window_index", Ty::U32, NOT_NULL, "Place of the window in the session: 0 is the first, starting at session_start; window n starts 10 n seconds later."),
    col("window_start", Ty::TsUs, NOT_NULL, "Start of the window (UTC)."),
    col("window_end", Ty::TsUs, NOT_NULL, "End of the window (UTC): 10 s after its start, or the session's last packet for its last window. The row's data time."),
    col("resolution", Ty::U32, NULL, "Estimated video height in the window (px, a class of the model: 144 to 1080); null without a model or when nothing came down."),
    col("probability", Ty::F64, NULL, "The model's probability for that height (share of its trees)."),
    col("startup_delay_s", Ty::F64, NULL, "Estimated startup delay (from the session's first packet to the first frame played), s; in the first window only."),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::table::{batch, TableInfo};
    use arrow::array::AsArray;
    use arrow::datatypes::{Float64Type, UInt32Type};

    #[test]
    fn a_window_row_with_every_feature() {
        let mut r = VideoWindowRow {
            who: VideoWho {
                session_id: "1-1".into(),
                device_mac: Some([2, 0, 0, 0, 0, 1]),
                device_ip: std::net::Ipv4Addr::new(10, 0, 0, 2)
                    .to_ipv6_mapped()
                    .octets(),
                device_name: "tv".into(),
                service: "netflix".into(),
                model_version: "none".into(),
            },
            session_start_ns: 1_000_000_000,
            index: 1,
            start_ns: 11_000_000_000,
            end_ns: 21_000_000_000,
            resolution: Some(720),
            probability: Some(0.75),
            startup_s: None,
            ..VideoWindowRow::default()
        };
        r.features.values[1] = 4.5;
        let schema = TableInfo::of::<VideoWindows>().schema();
        let b = batch::<VideoWindows>(&schema, "t", &[&r]).unwrap();
        assert_eq!(
            b.num_columns(),
            WHO_COLS.len() + WINDOW_COLS.len() + video::features::COUNT
        );
        let col = |n: &str| b.column_by_name(n).unwrap().clone();
        assert_eq!(col("device_ip").as_string::<i32>().value(0), "10.0.0.2");
        assert_eq!(col("resolution").as_primitive::<UInt32Type>().value(0), 720);
        assert!(col("startup_delay_s").is_null(0));
        assert_eq!(
            col("f_down_mbps").as_primitive::<Float64Type>().value(0),
            4.5
        );
    }
}
