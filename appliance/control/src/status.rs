//! A running daemon's status on the control core. The snapshot itself, the
//! wire model shared with the clients, is [`model::status`] (re-exported
//! here: [`Status`], [`PROTOCOL_VERSION`], ...); the control core builds it
//! ([`crate::control::Control::status`]) and exports it to Prometheus
//! ([`prometheus()`]). Its human view belongs to the `tapscope` binary, the
//! only one that shows it.

pub use model::status::*;

mod prometheus;

pub use prometheus::prometheus;
