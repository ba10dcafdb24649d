//! The tapscope appliance: configuration, the control core that merges
//! worker summaries, the Parquet sinks, and the commands of the `tapscope`
//! binary.
//!
//! Invariant: only the [`sink`] module knows Arrow and Parquet.

pub mod classify;
pub mod config;
pub mod control;
pub mod ctl;
pub mod demo;
pub mod gen;
pub mod iface;
pub mod live;
pub mod opcli;
pub mod pipeline;
pub mod probe;
pub mod replay;
pub mod sink;
pub mod status;
