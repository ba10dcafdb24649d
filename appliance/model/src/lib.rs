//! What the crates of the appliance hand each other: the rows the control
//! core gives the sink ([`rows`]) and the probe tasks and results
//! ([`probe`]). Plain data, no IO.

pub mod probe;
pub mod rows;
pub mod time;
