//! Video quality from encrypted traffic, on the control core.
//!
//! - [`session`]: video sessions per device and video service, cut by an
//!   idle gap or by the end of all their flows, and their 10 s windows;
//! - [`features`]: the features of a window (network, transport and
//!   segment groups), named as the `video_windows` columns;
//! - [`model`]: tree ensembles (a resolution classifier, a startup-delay
//!   regressor) read from the JSON file the trainer exports, evaluated here.

pub mod features;
pub mod model;
pub mod session;
