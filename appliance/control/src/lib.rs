//! The control core: it drains the workers' summaries, classifies flows,
//! feeds the sink, runs the probes, and answers operators.
//!
//! - [`control`]: the merge loop ([`control::Control`]).
//! - [`pipeline`]: what `replay` and `run` share: the core plan, signals and
//!   the control loop.
//! - [`ctl`]: the control socket (server and client) and the Prometheus
//!   endpoint.
//! - [`status`]: the status snapshot (its model is `model::status`) and
//!   its Prometheus text.
//! - [`probes`]: the control core's side of the probe thread.
//! - [`iface`]: interface facts from sysfs, promiscuous mode, bpffs.
//! - `rtt`: TCP handshake round-trip times (HDR histograms) for the status.

pub mod control;
pub mod ctl;
pub mod iface;
pub mod pipeline;
pub mod probes;
mod rtt;
pub mod signals;
pub mod status;
