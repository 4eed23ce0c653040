//! The wireless terminal (無線端末) as one sans-IO node, built up piece by piece (issue
//! 11): so far the reading of the meter at every slot into the store (TRM-03/04/07).
//!
//! - [`store`]: one row per slot (the meter's cumulative energy in and out, lower 8
//!   digits, its status), the store trait the node writes through, an in-memory store.
//! - [`slots`]: slot boundaries (every :00/:30, or every 15 minutes, TRM-11).
//! - [`reader`]: reading the meter at every boundary over ECHONET Lite, retried within
//!   the slot; a meter that does not answer leaves a *missing* row, never a zero or a copy.

pub mod firmware;
pub mod node;
pub mod reader;
pub mod slots;
pub mod store;
