//! Flow classification on the control core.
//!
//! - [`catalog`]: the service catalog (built-in data file plus the user's
//!   own), matching names, address prefixes and ports to services.
//! - [`devices`]: local subnets and the device table (MAC, addresses,
//!   DHCP/mDNS names).
//! - [`labeler`]: the [`labeler::Classifier`]: names, services and devices
//!   for every flow, and the per-interval `traffic` rows.
//! - [`toml_span`]: lines and dotted keys of TOML errors, from the parser's
//!   spans (the catalog file and the configuration).

#![warn(missing_docs)]

pub mod catalog;
pub mod devices;
pub mod labeler;
pub mod toml_span;
