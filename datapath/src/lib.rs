//! tapscope's packet path.
//!
//! Everything a pinned worker core does per packet lives here: zero-copy wire
//! views ([`wire`]), the one-pass frame parser ([`parse`]), the per-core flow
//! engine ([`flow`]), name extraction ([`names`]: DNS, TLS/QUIC SNI, HTTP
//! Host, DHCP/mDNS device names), the sketches ([`sketch`]: heavy hitters, scans, flow
//! sizes), frame sources ([`source`]), the guard against wild timestamps
//! ([`timeguard`]) and the worker loop ([`worker`]) that hands
//! [`epoch::EpochSummary`] values to the control core.
//!
//! Invariants: this crate does not depend on tokio or on Arrow/Parquet; the
//! per-packet path neither allocates, locks nor makes syscalls; the flow
//! engine is clock-free and takes `now` as an argument.

pub mod epoch;
pub mod flow;
pub mod names;
pub mod parse;
pub mod sketch;
pub mod source;
pub mod timeguard;
pub mod wire;
pub mod worker;
