//! What the crates of the appliance hand each other: the rows the control
//! core gives the sink ([`rows`]), the probe tasks and results
//! ([`probe`]) and the status snapshot the control socket carries
//! ([`status`]), and the video lab's runs and sessions ([`lab`]).
//! Plain data, no IO.

pub mod lab;
pub mod probe;
pub mod rows;
pub mod status;
pub mod time;
