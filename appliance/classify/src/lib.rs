//! Flow classification on the control core.
//!
//! - [`catalog`]: the service catalog (built-in data file plus the user's
//!   own), matching names, address prefixes and ports to services.
//! - [`devices`]: local subnets and the device table (MAC, addresses,
//!   DHCP/mDNS names).
//! - [`labeler`]: the [`labeler::Classifier`]: names, services and devices
//!   for every flow, and the per-interval `traffic` rows.

pub mod catalog;
pub mod devices;
pub mod labeler;
