//! The video lab (`tapscope lab video`): labelled streaming sessions played
//! by a real ABR player in a real browser under bandwidth caps, captured
//! by tapscope from a mirror port, written as the `lab_runs` and
//! `lab_sessions` tables beside tapscope's own.
//!
//! The parts, each started by the lab and removed afterwards:
//! - [`content`]: a bitrate ladder of DASH renditions made once with
//!   ffmpeg from synthetic sources of different visual complexity, cached.
//! - [`net`]: client, router, server and tap network namespaces; the
//!   router caps both directions with tc and mirrors the client's port to
//!   a veth pair whose far end tapscope captures.
//! - [`server`]: nginx over HTTPS with a lab CA in the server namespace;
//!   its access log is a second record of every segment.
//! - [`player`]: a small interface to a player; the built-in adapter is
//!   dash.js in headless Chromium driven over WebDriver.
//! - [`truth`]: the player's events turned into ground truth.
//! - [`run`]: the plan (caps equally represented, seeded order), the
//!   sessions, resuming an interrupted run, the tables and the report.

pub mod cmd;
pub mod content;
mod error;
pub mod net;
pub mod player;
pub mod run;
pub mod server;
pub mod truth;

pub use error::{LabError, Result};
