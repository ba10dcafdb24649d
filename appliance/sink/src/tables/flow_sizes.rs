//! The `flow_sizes` table: per window, the distribution of flow sizes.

use std::sync::Arc;

use crate::columns::u64_array;
use arrow::array::StringArray;
use arrow::error::ArrowError;
use datapath::sketch::state::FlowSizeRow;

use super::window_cols;
use crate::table::{col, Col, Columns, Table, Ty, NOT_NULL};

/// The `flow_sizes` table.
#[derive(Clone, Copy, Debug)]
pub struct FlowSizes;

impl Table for FlowSizes {
    type Row = FlowSizeRow;
    const NAME: &'static str = "flow_sizes";
    const TIME_COLUMN: &'static str = "window_end";

    fn columns() -> Vec<Col> {
        FLOW_SIZES_COLS.to_vec()
    }

    fn data_time(row: &FlowSizeRow) -> u64 {
        row.end_ns
    }

    fn build(c: &mut Columns<'_>, tap_id: &str, rows: &[&FlowSizeRow]) -> Result<(), ArrowError> {
        window_cols(c, tap_id, rows, |r| (r.start_ns, r.end_ns, r.workers))?;
        c.push(
            "metric",
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r.metric.name()),
            )),
        )?;
        c.push("bucket_low", u64_array(rows.iter().map(|r| r.low)))?;
        c.push("bucket_high", u64_array(rows.iter().map(|r| r.high)))?;
        c.push("flows", u64_array(rows.iter().map(|r| r.flows)))?;
        c.push("volume", u64_array(rows.iter().map(|r| r.volume)))
    }
}

const FLOW_SIZES_COLS: &[Col] = &[
    col("tap_id", Ty::Utf8, NOT_NULL, "Id of the tap (sink tap_id, by default the hostname)."),
    col("window_start", Ty::TsUs, NOT_NULL, super::WINDOW_START),
    col("window_end", Ty::TsUs, NOT_NULL, super::WINDOW_END),
    col("workers", Ty::U16, NOT_NULL, super::WORKERS),
    col("metric", Ty::Utf8, NOT_NULL, "packets or bytes: the flow size measured (both directions; bytes are frame bytes on the wire)."),
    col("bucket_low", Ty::U64, NOT_NULL, "Smallest size in the bucket (inclusive). Buckets: 0 to 7 one each, then four per power of two."),
    col("bucket_high", Ty::U64, NOT_NULL, "Largest size in the bucket (inclusive)."),
    col("flows", Ty::U64, NOT_NULL, "Flow records of the window (finished flows, and parts of long flows cut by the active timeout) whose size falls in the bucket. Only non-empty buckets have rows."),
    col("volume", Ty::U64, NOT_NULL, "Sum of those flows' sizes: packets or bytes carried by flows of this size."),
];
