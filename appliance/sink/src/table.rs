//! What the sink knows of a table: the [`Table`] description (name,
//! documented columns, data-time column, how rows become a `RecordBatch`)
//! and the registry of every table ([`TABLES`]).
//!
//! A table's columns are declared once, in a list of [`Col`]s that carries
//! name, type, nullability and description; the Arrow schema, the column
//! documentation ([`ColumnDoc`]) and the builders' name check ([`Columns`])
//! all derive from it. Every description is also stored as Arrow field
//! metadata (`description`), so the files describe themselves.
//!
//! A new table is one file under `tables/`: a marker type implementing
//! [`Table`] for its row type, and one line in [`TABLES`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

use crate::tables::{
    Capture, FlowSizes, Flows, HeavyHitters, LabRuns, LabSessions, Probes, Scans, SketchState,
    Traffic, VideoSegments, VideoSessions, VideoWindows,
};

/// One table of the sink: its name, documented columns, which column holds
/// a row's data time, and how rows become columns.
///
/// Implemented by a marker type per table (see [`crate::tables`]); the sink
/// writes any table through one generic path ([`crate::Sink::write`]).
pub trait Table: 'static {
    /// What one row is before it becomes columns.
    type Row: Send + 'static;
    /// Name of the table: its folder under the sink root, its files' name
    /// prefix and their `tapscope.table` metadata.
    const NAME: &'static str;
    /// The column holding a row's data time: it picks the date partition
    /// and drives file rotation.
    const TIME_COLUMN: &'static str;
    /// Every column, in file order.
    fn columns() -> Vec<Col>;
    /// A row's data time, Unix ns (the value of [`Table::TIME_COLUMN`]).
    fn data_time(row: &Self::Row) -> u64;
    /// Pushes every column of `rows`, in file order, onto `c`.
    fn build(c: &mut Columns<'_>, tap_id: &str, rows: &[&Self::Row]) -> Result<(), ArrowError>;
}

/// What the sink knows of a table without its row type: enough to create
/// its folders, list and read its files, and document it.
#[derive(Clone, Copy, Debug)]
pub struct TableInfo {
    /// [`Table::NAME`].
    pub name: &'static str,
    /// [`Table::TIME_COLUMN`].
    pub time_column: &'static str,
    columns: fn() -> Vec<Col>,
}

impl TableInfo {
    /// The description of table `T`.
    pub const fn of<T: Table>() -> TableInfo {
        TableInfo {
            name: T::NAME,
            time_column: T::TIME_COLUMN,
            columns: T::columns,
        }
    }

    /// Every column, in file order, documented.
    pub fn column_docs(&self) -> Vec<ColumnDoc> {
        (self.columns)().iter().map(Col::doc).collect()
    }

    /// The Arrow schema of the table's files.
    pub fn schema(&self) -> SchemaRef {
        schema_of(&(self.columns)(), self.name)
    }
}

/// Every table the sink writes, in the order of [`crate::SinkStats::tables`].
pub const TABLES: &[TableInfo] = &[
    TableInfo::of::<Flows>(),
    TableInfo::of::<Capture>(),
    TableInfo::of::<HeavyHitters>(),
    TableInfo::of::<Scans>(),
    TableInfo::of::<FlowSizes>(),
    TableInfo::of::<SketchState>(),
    TableInfo::of::<Traffic>(),
    TableInfo::of::<Probes>(),
    TableInfo::of::<VideoSegments>(),
    TableInfo::of::<VideoSessions>(),
    TableInfo::of::<VideoWindows>(),
];

/// The video lab's tables (`tapscope lab video`), written by the lab
/// through a sink of their own ([`crate::Sink::open_tables`]).
pub const LAB_TABLES: &[TableInfo] = &[TableInfo::of::<LabRuns>(), TableInfo::of::<LabSessions>()];

/// The registered table named `name` (the appliance's or the lab's).
pub fn table_info(name: &str) -> Option<&'static TableInfo> {
    TABLES.iter().chain(LAB_TABLES).find(|t| t.name == name)
}

/// The column holding a table's data time (it picks the date partition).
pub fn data_time_column(table: &str) -> Option<&'static str> {
    table_info(table).map(|t| t.time_column)
}

/// Documentation of one column, for the README and the status CLI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnDoc {
    /// The column's name.
    pub name: String,
    /// Arrow/Parquet logical type: `utf8`, `uint8`, `uint16`, `uint32`,
    /// `uint64`, `float64`, `bool`, `timestamp[us, UTC]`, `binary`,
    /// `list<float64>`, `list<struct>`.
    pub data_type: &'static str,
    /// Whether the column can hold nulls (unknown or not applicable).
    pub nullable: bool,
    /// What the column holds.
    pub description: String,
}

/// Column types used by the tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// UTF-8 text.
    Utf8,
    /// Unsigned 8-bit integer.
    U8,
    /// Unsigned 16-bit integer.
    U16,
    /// Unsigned 32-bit integer.
    U32,
    /// Unsigned 64-bit integer.
    U64,
    /// 64-bit float.
    F64,
    /// Boolean.
    Bool,
    /// Timestamp, microseconds, time zone "UTC".
    TsUs,
    /// Variable-length bytes.
    Binary,
    /// A list of 64-bit floats.
    F64List,
    /// A list of records: `list<struct<...>>` with these fields (each
    /// nullable only if its type's values can be missing; see the
    /// column's description).
    Records(&'static [(&'static str, Ty)]),
}

impl Ty {
    fn data_type(self) -> DataType {
        match self {
            Ty::Utf8 => DataType::Utf8,
            Ty::U8 => DataType::UInt8,
            Ty::U16 => DataType::UInt16,
            Ty::U32 => DataType::UInt32,
            Ty::U64 => DataType::UInt64,
            Ty::F64 => DataType::Float64,
            Ty::Bool => DataType::Boolean,
            Ty::TsUs => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Ty::Binary => DataType::Binary,
            Ty::F64List => DataType::List(Arc::new(Field::new("item", DataType::Float64, false))),
            Ty::Records(fields) => DataType::List(Arc::new(Field::new(
                "item",
                DataType::Struct(record_fields(fields)),
                false,
            ))),
        }
    }

    /// The type's name in [`ColumnDoc::data_type`].
    pub fn name(self) -> &'static str {
        match self {
            Ty::Utf8 => "utf8",
            Ty::U8 => "uint8",
            Ty::U16 => "uint16",
            Ty::U32 => "uint32",
            Ty::U64 => "uint64",
            Ty::F64 => "float64",
            Ty::Bool => "bool",
            Ty::TsUs => "timestamp[us, UTC]",
            Ty::Binary => "binary",
            Ty::F64List => "list<float64>",
            Ty::Records(_) => "list<struct>",
        }
    }
}

/// The Arrow fields of a [`Ty::Records`] record (all nullable, so a
/// missing value is null, never 0).
pub(crate) fn record_fields(fields: &[(&'static str, Ty)]) -> arrow::datatypes::Fields {
    fields
        .iter()
        .map(|(name, ty)| Field::new(*name, ty.data_type(), true))
        .collect()
}

/// A column declaration: name, type, nullability and description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Col {
    name: Cow<'static, str>,
    ty: Ty,
    nullable: bool,
    doc: Cow<'static, str>,
}

impl Col {
    /// A column whose name or description is built at run time.
    pub fn owned(name: String, ty: Ty, nullable: bool, doc: String) -> Col {
        Col {
            name: Cow::Owned(name),
            ty,
            nullable,
            doc: Cow::Owned(doc),
        }
    }

    /// The column's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its documentation.
    pub fn doc(&self) -> ColumnDoc {
        ColumnDoc {
            name: self.name.to_string(),
            data_type: self.ty.name(),
            nullable: self.nullable,
            description: self.doc.to_string(),
        }
    }
}

/// A column declaration from static text (for the tables' column lists).
pub const fn col(name: &'static str, ty: Ty, nullable: bool, doc: &'static str) -> Col {
    Col {
        name: Cow::Borrowed(name),
        ty,
        nullable,
        doc: Cow::Borrowed(doc),
    }
}

/// [`col`]'s `nullable`: the column may hold nulls.
pub const NULL: bool = true;
/// [`col`]'s `nullable`: the column never holds nulls.
pub const NOT_NULL: bool = false;

/// The Arrow schema of `cols`, with descriptions as field metadata and the
/// table's name as schema metadata.
fn schema_of(cols: &[Col], table: &str) -> SchemaRef {
    let fields: Vec<Field> = cols
        .iter()
        .map(|c| {
            Field::new(c.name.to_string(), c.ty.data_type(), c.nullable).with_metadata(
                HashMap::from([("description".to_string(), c.doc.to_string())]),
            )
        })
        .collect();
    Arc::new(Schema::new(fields).with_metadata(HashMap::from([(
        "tapscope.table".to_string(),
        table.to_string(),
    )])))
}

/// Collects a batch's arrays and checks them, by name, against the schema:
/// a builder that forgets or reorders a column fails loudly instead of
/// writing one column's data under another's name.
pub struct Columns<'s> {
    schema: &'s SchemaRef,
    arrays: Vec<ArrayRef>,
}

impl<'s> Columns<'s> {
    /// An empty batch of `schema`.
    pub fn new(schema: &'s SchemaRef) -> Self {
        Columns {
            schema,
            arrays: Vec::with_capacity(schema.fields().len()),
        }
    }

    /// Appends the next column, which must be named `name` in the schema.
    pub fn push(&mut self, name: &str, array: ArrayRef) -> Result<(), ArrowError> {
        let i = self.arrays.len();
        match self.schema.fields().get(i) {
            Some(f) if f.name() == name => {
                self.arrays.push(array);
                Ok(())
            }
            other => Err(ArrowError::SchemaError(format!(
                "column {i} built as {name:?} but the schema has {:?}",
                other.map(|f| f.name().as_str())
            ))),
        }
    }

    /// The batch (fails if a column is missing or of the wrong type).
    pub fn finish(self) -> Result<RecordBatch, ArrowError> {
        RecordBatch::try_new(self.schema.clone(), self.arrays)
    }
}

/// One batch of table `T` from `rows` (`schema` is `T`'s).
pub(crate) fn batch<T: Table>(
    schema: &SchemaRef,
    tap_id: &str,
    rows: &[&T::Row],
) -> Result<RecordBatch, ArrowError> {
    let mut c = Columns::new(schema);
    T::build(&mut c, tap_id, rows)?;
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_registered_once_and_documented() {
        let mut names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
        assert_eq!(
            names,
            [
                "flows",
                "capture",
                "heavy_hitters",
                "scans",
                "flow_sizes",
                "sketch_state",
                "traffic",
                "probes",
                "video_segments",
                "video_sessions",
                "video_windows"
            ]
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TABLES.len());
        for t in TABLES {
            let docs = t.column_docs();
            let schema = t.schema();
            assert_eq!(docs.len(), schema.fields().len(), "{}", t.name);
            let mut cols: Vec<&str> = docs.iter().map(|d| d.name.as_str()).collect();
            for (d, f) in docs.iter().zip(schema.fields()) {
                assert_eq!(&d.name, f.name());
                assert!(
                    !d.description.is_empty(),
                    "{}.{} undocumented",
                    t.name,
                    d.name
                );
                assert_eq!(f.metadata().get("description"), Some(&d.description));
                assert_eq!(f.is_nullable(), d.nullable);
            }
            cols.sort_unstable();
            cols.dedup();
            assert_eq!(cols.len(), docs.len(), "{}: duplicate column names", t.name);
            let time = schema.field_with_name(t.time_column).unwrap();
            assert_eq!(time.data_type(), &Ty::TsUs.data_type(), "{}", t.name);
            assert!(!time.is_nullable(), "{}", t.name);
            assert_eq!(
                schema.metadata().get("tapscope.table").map(String::as_str),
                Some(t.name)
            );
        }
        assert_eq!(data_time_column("flows"), Some("flow_end"));
        assert_eq!(data_time_column("sketch_state"), Some("window_end"));
        assert_eq!(data_time_column("nonsense"), None);
    }

    #[test]
    fn a_builder_that_misnames_a_column_fails() {
        let schema = TableInfo::of::<Traffic>().schema();
        let mut c = Columns::new(&schema);
        let e = c
            .push("interval_end", crate::columns::repeat_str("x", 1))
            .unwrap_err();
        assert!(e.to_string().contains("tap_id"), "{e}");
    }
}
