//! The `lab_runs` table: one row per run of the video lab.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Float64Array, StringArray, UInt32Array, UInt64Array};
use arrow::error::ArrowError;
use model::lab::LabRun;

use crate::columns::{list_offsets, repeat_str, ts_array};
use crate::table::{col, Col, Columns, Table, Ty, NOT_NULL, NULL};

/// The `lab_runs` table. The lab writes one row per attempt at a run; a
/// rerun that continues a run replaces the earlier attempt's row.
#[derive(Clone, Copy, Debug)]
pub struct LabRuns;

impl Table for LabRuns {
    type Row = LabRun;
    const NAME: &'static str = "lab_runs";
    const TIME_COLUMN: &'static str = "started_at";

    fn columns() -> Vec<Col> {
        LAB_RUNS_COLS.to_vec()
    }

    fn data_time(row: &LabRun) -> u64 {
        row.started_ns
    }

    fn build(c: &mut Columns<'_>, tap_id: &str, rows: &[&LabRun]) -> Result<(), ArrowError> {
        let n = rows.len();
        let s = |f: &dyn Fn(&LabRun) -> String| -> ArrayRef {
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| f(r))))
        };
        let u32s = |f: &dyn Fn(&LabRun) -> u32| -> ArrayRef {
            Arc::new(UInt32Array::from_iter_values(rows.iter().map(|r| f(r))))
        };
        c.push("tap_id", repeat_str(tap_id, n))?;
        c.push("run", s(&|r| r.run.clone()))?;
        c.push("started_at", ts_array(rows.iter().map(|r| r.started_ns)))?;
        c.push(
            "ended_at",
            Arc::new(
                arrow::array::TimestampMicrosecondArray::from_iter(
                    rows.iter().map(|r| r.ended_ns.map(crate::columns::ts_us)),
                )
                .with_timezone("UTC"),
            ),
        )?;
        c.push("sessions_planned", u32s(&|r| r.sessions_planned))?;
        c.push("sessions_ok", u32s(&|r| r.sessions_ok))?;
        c.push("sessions_failed", u32s(&|r| r.sessions_failed))?;
        c.push(
            "caps_mbps",
            list_f64(rows.iter().map(|r| r.caps_mbps.as_slice()))?,
        )?;
        c.push("session_s", u32s(&|r| r.session_s))?;
        c.push("titles", s(&|r| r.titles.join(",")))?;
        c.push(
            "seed",
            Arc::new(UInt64Array::from_iter_values(rows.iter().map(|r| r.seed))),
        )?;
        c.push("player", s(&|r| r.player.clone()))?;
        c.push("ladder", s(&|r| r.ladder.clone()))?;
        c.push(
            "finished",
            Arc::new(BooleanArray::from_iter(
                rows.iter().map(|r| Some(r.finished)),
            )),
        )
    }
}

/// A `list<float64>` column.
fn list_f64<'a>(rows: impl Iterator<Item = &'a [f64]> + Clone) -> Result<ArrayRef, ArrowError> {
    use arrow::buffer::OffsetBuffer;
    use arrow::datatypes::{DataType, Field};
    let offsets = list_offsets(rows.clone().map(<[f64]>::len));
    let values = Float64Array::from_iter_values(rows.flat_map(|r| r.iter().copied()));
    Ok(Arc::new(arrow::array::ListArray::try_new(
        Arc::new(Field::new("item", DataType::Float64, false)),
        OffsetBuffer::new(offsets.into()),
        Arc::new(values),
        None,
    )?))
}

const LAB_RUNS_COLS: &[Col] = &[
    col(
        "tap_id",
        Ty::Utf8,
        NOT_NULL,
        "Id of the machine that ran the lab.",
    ),
    col(
        "run",
        Ty::Utf8,
        NOT_NULL,
        "Name of the run; lab_sessions.run joins here.",
    ),
    col(
        "started_at",
        Ty::TsUs,
        NOT_NULL,
        "When the run's first attempt started (UTC). The row's data time.",
    ),
    col(
        "ended_at",
        Ty::TsUs,
        NULL,
        "When the latest attempt ended (UTC).",
    ),
    col(
        "sessions_planned",
        Ty::U32,
        NOT_NULL,
        "Sessions in the run's plan.",
    ),
    col(
        "sessions_ok",
        Ty::U32,
        NOT_NULL,
        "Sessions recorded with status ok.",
    ),
    col(
        "sessions_failed",
        Ty::U32,
        NOT_NULL,
        "Sessions recorded with another status (see lab_sessions.reason).",
    ),
    col(
        "caps_mbps",
        Ty::F64List,
        NOT_NULL,
        "Bandwidth caps of the run, Mbit/s, each used by the same number of sessions.",
    ),
    col(
        "session_s",
        Ty::U32,
        NOT_NULL,
        "Length of each session, seconds.",
    ),
    col(
        "titles",
        Ty::Utf8,
        NOT_NULL,
        "Titles played, comma-separated.",
    ),
    col(
        "seed",
        Ty::U64,
        NOT_NULL,
        "Seed of the shuffled session order.",
    ),
    col(
        "player",
        Ty::Utf8,
        NOT_NULL,
        "Player adapter (dashjs: dash.js in headless Chromium).",
    ),
    col(
        "ladder",
        Ty::Utf8,
        NOT_NULL,
        "The bitrate ladder: renditions with their bitrates, audio, segment and title length.",
    ),
    col(
        "finished",
        Ty::Bool,
        NOT_NULL,
        "Every planned session was recorded.",
    ),
];
