//! The `lab_sessions` table: one row per session the video lab played,
//! with the player's ground truth and the addresses that join it to the
//! mirror capture's flows.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, StringArray, TimestampMicrosecondArray, UInt16Array,
    UInt32Array, UInt64Array,
};
use arrow::error::ArrowError;
use model::lab::LabSession;

use crate::columns::{list_offsets, records_array, repeat_str, ts_array, ts_us};
use crate::table::{col, Col, Columns, Table, Ty, NOT_NULL, NULL};

/// The `lab_sessions` table. The lab writes each attempt's sessions when
/// the attempt ends (the run's journal keeps them until then).
#[derive(Clone, Copy, Debug)]
pub struct LabSessions;

const RESOLUTION_CHANGE: &[(&str, Ty)] = &[
    ("at", Ty::TsUs),
    ("from_height", Ty::U32),
    ("to_height", Ty::U32),
    ("bitrate_kbps", Ty::U32),
];
const STALL: &[(&str, Ty)] = &[("start", Ty::TsUs), ("duration_ms", Ty::F64)];
const SEGMENT: &[(&str, Ty)] = &[
    ("media", Ty::Utf8),
    ("path", Ty::Utf8),
    ("rendition", Ty::Utf8),
    ("height", Ty::U32),
    ("index", Ty::U32),
    ("bytes", Ty::U64),
    ("request", Ty::TsUs),
    ("first_byte", Ty::TsUs),
    ("end", Ty::TsUs),
    ("completed", Ty::Bool),
    ("server_bytes", Ty::U64),
];

fn ts_opt(values: impl Iterator<Item = Option<u64>>) -> ArrayRef {
    Arc::new(
        TimestampMicrosecondArray::from_iter(values.map(|v| v.map(ts_us))).with_timezone("UTC"),
    )
}

impl Table for LabSessions {
    type Row = LabSession;
    const NAME: &'static str = "lab_sessions";
    const TIME_COLUMN: &'static str = "started_at";

    fn columns() -> Vec<Col> {
        LAB_SESSIONS_COLS.to_vec()
    }

    fn data_time(row: &LabSession) -> u64 {
        row.started_ns
    }

    fn build(c: &mut Columns<'_>, tap_id: &str, rows: &[&LabSession]) -> Result<(), ArrowError> {
        let n = rows.len();
        let s = |f: &dyn Fn(&LabSession) -> Option<&str>| -> ArrayRef {
            Arc::new(StringArray::from_iter(rows.iter().map(|r| f(r))))
        };
        let f64s = |f: &dyn Fn(&LabSession) -> Option<f64>| -> ArrayRef {
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| f(r))))
        };
        let u32s = |f: &dyn Fn(&LabSession) -> Option<u32>| -> ArrayRef {
            Arc::new(UInt32Array::from_iter(rows.iter().map(|r| f(r))))
        };
        c.push("tap_id", repeat_str(tap_id, n))?;
        c.push("run", s(&|r| Some(&r.run)))?;
        c.push("session", u32s(&|r| Some(r.session)))?;
        c.push("title", s(&|r| Some(&r.title)))?;
        c.push("cap_mbps", f64s(&|r| Some(r.cap_mbps)))?;
        c.push("started_at", ts_array(rows.iter().map(|r| r.started_ns)))?;
        c.push("ended_at", ts_array(rows.iter().map(|r| r.ended_ns)))?;
        c.push("status", s(&|r| Some(&r.status)))?;
        c.push("reason", s(&|r| r.reason.as_deref()))?;
        c.push("player", s(&|r| Some(&r.player)))?;
        c.push("device_ip", s(&|r| Some(&r.device_ip)))?;
        c.push("device_mac", s(&|r| Some(&r.device_mac)))?;
        c.push("server_ip", s(&|r| Some(&r.server_ip)))?;
        c.push(
            "server_port",
            Arc::new(UInt16Array::from_iter_values(
                rows.iter().map(|r| r.server_port),
            )),
        )?;
        c.push("server_name", s(&|r| Some(&r.server_name)))?;
        c.push("startup_delay_ms", f64s(&|r| r.startup_delay_ms))?;
        c.push("resolution_mean", f64s(&|r| r.resolution_mean))?;
        c.push("resolution_mode", u32s(&|r| r.resolution_mode))?;
        c.push("played_s", f64s(&|r| Some(r.played_s)))?;
        c.push("stall_count", u32s(&|r| Some(r.stalls.len() as u32)))?;
        c.push("stall_ms", f64s(&|r| Some(r.stall_ms)))?;
        c.push("segment_count", u32s(&|r| Some(r.segments.len() as u32)))?;
        c.push("server_segments", u32s(&|r| Some(r.server_segments)))?;
        c.push("matched_segments", u32s(&|r| Some(r.matched_segments)))?;

        let changes: Vec<_> = rows.iter().flat_map(|r| &r.resolution_changes).collect();
        c.push(
            "resolution_changes",
            records_array(
                RESOLUTION_CHANGE,
                list_offsets(rows.iter().map(|r| r.resolution_changes.len())),
                vec![
                    ts_array(changes.iter().map(|x| x.at_ns)),
                    Arc::new(UInt32Array::from_iter_values(
                        changes.iter().map(|x| x.from_height),
                    )),
                    Arc::new(UInt32Array::from_iter_values(
                        changes.iter().map(|x| x.to_height),
                    )),
                    Arc::new(UInt32Array::from_iter_values(
                        changes.iter().map(|x| x.bitrate_kbps),
                    )),
                ],
            )?,
        )?;
        let stalls: Vec<_> = rows.iter().flat_map(|r| &r.stalls).collect();
        c.push(
            "stalls",
            records_array(
                STALL,
                list_offsets(rows.iter().map(|r| r.stalls.len())),
                vec![
                    ts_array(stalls.iter().map(|x| x.start_ns)),
                    Arc::new(Float64Array::from_iter_values(
                        stalls.iter().map(|x| x.duration_ms),
                    )),
                ],
            )?,
        )?;
        let segs: Vec<_> = rows.iter().flat_map(|r| &r.segments).collect();
        let seg_str = |f: &dyn Fn(&model::lab::SegmentDownload) -> &str| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(segs.iter().map(|x| f(x))))
        };
        c.push(
            "segments",
            records_array(
                SEGMENT,
                list_offsets(rows.iter().map(|r| r.segments.len())),
                vec![
                    seg_str(&|x| &x.media),
                    seg_str(&|x| &x.path),
                    seg_str(&|x| &x.rendition),
                    Arc::new(UInt32Array::from_iter_values(segs.iter().map(|x| x.height))),
                    Arc::new(UInt32Array::from_iter_values(segs.iter().map(|x| x.index))),
                    Arc::new(UInt64Array::from_iter_values(segs.iter().map(|x| x.bytes))),
                    ts_array(segs.iter().map(|x| x.request_ns)),
                    ts_opt(segs.iter().map(|x| x.first_byte_ns)),
                    ts_array(segs.iter().map(|x| x.end_ns)),
                    Arc::new(BooleanArray::from_iter(
                        segs.iter().map(|x| Some(x.completed)),
                    )),
                    Arc::new(UInt64Array::from_iter(segs.iter().map(|x| x.server_bytes))),
                ],
            )?,
        )
    }
}

const LAB_SESSIONS_COLS: &[Col] = &[
    col("tap_id", Ty::Utf8, NOT_NULL, "Id of the machine that ran the lab."),
    col("run", Ty::Utf8, NOT_NULL, "The run (lab_runs.run)."),
    col("session", Ty::U32, NOT_NULL, "Place of the session in the run's plan (0-based); (run, session) is unique."),
    col("title", Ty::Utf8, NOT_NULL, "Title played (its synthetic source: testsrc2, mandelbrot, life, noise, bars, ...)."),
    col("cap_mbps", Ty::F64, NOT_NULL, "Bandwidth cap in both directions, Mbit/s (token bucket on the router)."),
    col("started_at", Ty::TsUs, NOT_NULL, "When the player was asked to load the manifest (UTC). The row's data time; join to flows by time from here."),
    col("ended_at", Ty::TsUs, NOT_NULL, "When the session was stopped (UTC)."),
    col("status", Ty::Utf8, NOT_NULL, "ok, no_playback (the player never started), player_error, browser_error, server_error or interrupted."),
    col("reason", Ty::Utf8, NULL, "Why the status is not ok; null when ok."),
    col("player", Ty::Utf8, NOT_NULL, "Player adapter (dashjs)."),
    col("device_ip", Ty::Utf8, NOT_NULL, "The client's address: the device in the flows table."),
    col("device_mac", Ty::Utf8, NOT_NULL, "The client's MAC address as the tap sees it."),
    col("server_ip", Ty::Utf8, NOT_NULL, "The video server's address."),
    col("server_port", Ty::U16, NOT_NULL, "The video server's TCP port."),
    col("server_name", Ty::Utf8, NOT_NULL, "The server name the player used (TLS SNI); the lab's services file labels it as a video service."),
    col("startup_delay_ms", Ty::F64, NULL, "From started_at to the first frame played (the player's first playing event), ms; null if playback never started."),
    col("resolution_mean", Ty::F64, NULL, "Time-weighted mean height of the rendered video while playing (stalls excluded); null if it never played."),
    col("resolution_mode", Ty::U32, NULL, "The height rendered for the longest time while playing."),
    col("played_s", Ty::F64, NOT_NULL, "Seconds spent playing (after startup, stalls excluded)."),
    col("stall_count", Ty::U32, NOT_NULL, "Stalls after playback started."),
    col("stall_ms", Ty::F64, NOT_NULL, "Total stall time, ms (a stall still open at the end counts up to ended_at)."),
    col("segment_count", Ty::U32, NOT_NULL, "Segments (init and media, audio and video) the player downloaded."),
    col("server_segments", Ty::U32, NOT_NULL, "Segment requests the server's access log has for this session."),
    col("matched_segments", Ty::U32, NOT_NULL, "Player segments matched one for one to an access-log line (same path, same client connection window)."),
    col("resolution_changes", Ty::Records(RESOLUTION_CHANGE), NOT_NULL, "Every change of rendered video resolution, in order: at (UTC), from_height (0 for the first), to_height, bitrate_kbps of the new rendition."),
    col("stalls", Ty::Records(STALL), NOT_NULL, "Every stall after playback started: start (UTC) and duration_ms."),
    col("segments", Ty::Records(SEGMENT), NOT_NULL, "Every segment downloaded, in request order: media (video/audio), path, rendition, height (0 for audio), index (0 = init segment), bytes (body, as the player got it), request, first_byte and end (UTC), completed (false: abandoned, failed or in flight at the session's end), server_bytes (the access log's bytes sent, headers included; null if unmatched)."),
];
