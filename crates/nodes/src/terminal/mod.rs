//! The wireless terminal (無線端末) as one sans-IO node, built up piece by piece (issue
//! 11): the meter read at every slot into the store, the store's DLMS view, the ECHONET
//! side's gate; the link, LED and firmware slots are still the drivers' or to come.
//!
//! - [`store`]: one row per slot (the meter's cumulative energy in and out, lower 8
//!   digits, its status), the store trait the node writes through, an in-memory store.
//! - [`slots`]: slot boundaries (every :00/:30, or every 15 minutes, TRM-11).
//! - [`reader`]: reading the meter at every boundary over ECHONET Lite, retried within
//!   the slot; a meter that does not answer leaves a *missing* row, never a zero or a copy.
//! - [`guard`]: the ECHONET side's gate: only the meter's address passes (SEC-06),
//!   floods are detected (SEC-08).
//! - [`led`]: the LED's states and patterns (TRM-10).
//! - [`meters`]: the meters the node serves, a collection of one (SYS-04).
//! - [`node`]: all of it as one node, with the DLMS model as the store's view.
//! - [`view`]: the load profile's rows read from the store, not kept twice.
//! - [`settings`]: what clients change and a restart keeps (TRM-08).
//! - [`firmware`]: the signed image manifest (SEC-10).

pub mod firmware;
pub mod guard;
pub mod led;
pub mod meters;
pub mod node;
pub mod reader;
pub mod settings;
pub mod slots;
pub mod store;
pub mod view;
