//! The `sketch_state` table: per window, the merged sketches in binary form.

use std::sync::Arc;

use arrow::array::{BinaryArray, UInt16Array, UInt32Array};
use arrow::error::ArrowError;
use model::rows::SketchStateRow;

use super::window_cols;
use crate::table::{col, Col, Columns, Table, Ty, NOT_NULL};

/// The `sketch_state` table.
#[derive(Clone, Copy, Debug)]
pub struct SketchState;

impl Table for SketchState {
    type Row = SketchStateRow;
    const NAME: &'static str = "sketch_state";
    const TIME_COLUMN: &'static str = "window_end";

    fn columns() -> Vec<Col> {
        SKETCH_STATE_COLS.to_vec()
    }

    fn data_time(row: &SketchStateRow) -> u64 {
        row.end_ns
    }

    fn build(
        c: &mut Columns<'_>,
        tap_id: &str,
        rows: &[&SketchStateRow],
    ) -> Result<(), ArrowError> {
        window_cols(c, tap_id, rows, |r| (r.start_ns, r.end_ns, r.workers))?;
        c.push(
            "snapshots",
            Arc::new(UInt32Array::from_iter_values(
                rows.iter().map(|r| r.snapshots),
            )),
        )?;
        c.push(
            "format_version",
            Arc::new(UInt16Array::from_iter_values(
                rows.iter().map(|r| r.format_version),
            )),
        )?;
        c.push(
            "state",
            Arc::new(BinaryArray::from_iter_values(
                rows.iter().map(|r| r.state.as_slice()),
            )),
        )
    }
}

const SKETCH_STATE_COLS: &[Col] = &[
    col("tap_id", Ty::Utf8, NOT_NULL, "Id of the tap (sink tap_id, by default the hostname)."),
    col("window_start", Ty::TsUs, NOT_NULL, super::WINDOW_START),
    col("window_end", Ty::TsUs, NOT_NULL, super::WINDOW_END),
    col("workers", Ty::U16, NOT_NULL, super::WORKERS),
    col("snapshots", Ty::U32, NOT_NULL, "Worker-epoch snapshots merged into the state."),
    col("format_version", Ty::U16, NOT_NULL, "Version of the binary form of state (see datapath::sketch::state)."),
    col("state", Ty::Binary, NOT_NULL, "The window's merged sketches (count-min tables and candidate keys per counter, scan sketches, flow-size histograms) in tapscope's versioned binary form; states of several windows or taps merge with datapath::sketch::merge_encoded."),
];
