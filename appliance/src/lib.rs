//! The tapscope appliance: configuration, the control core that merges
//! worker summaries, and the Parquet sinks.
//!
//! Invariant: only the [`sink`] module knows Arrow and Parquet.

pub mod sink;
