//! Contract suite: every message type round-trips through its wire form, and bad input is refused with a reason.

mod fixtures;
mod plan;
mod rejection;
mod round_trip;
mod spec;
