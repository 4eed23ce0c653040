//! Simulated media for iotroute: what `iotroute sim` runs the real nodes over, in place
//! of radios (DESIGN: "nothing is simulated inside a node: the simulator replaces only
//! the medium and the clock").
//!
//! - [`propagation`]: the 920 MHz link budget — log-distance path loss with log-normal
//!   shadowing frozen per link, building entry loss, receiver sensitivity, RSSI and LQI,
//!   the probability that a frame survives.
//! - [`medium`]: transmissions on channels over time — air time at 100 kbps, carrier
//!   sense, half duplex, collisions where transmissions overlap, delivery with RSSI/LQI.
//! - [`zep`]: ZEP v2 over UDP, how `iotroute air` carries frames between processes.
//!
//! Seeded and deterministic: the same seed and the same calls give the same deliveries
//! on every machine (ChaCha8, and no iteration over hash maps). Sans-IO: time is passed
//! in, as a [`core::time::Duration`] since the start of the simulation.

pub mod medium;
pub mod propagation;
mod rng;
pub mod system;
pub mod zep;

pub use medium::{
    Medium, MediumError, MediumStats, NodeId, Outcome, PhyConfig, Reception, TxId, TxReport,
};
pub use propagation::{Position, PropagationConfig};
