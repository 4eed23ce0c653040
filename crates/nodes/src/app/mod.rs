//! What runs on top of the IoT-route link at each end, shared by the simulation
//! (`sim`) and the node programs (`iotroute terminal`, `iotroute smartmeter`): the
//! terminal's DLMS/COSEM server over UDP 4059 ([`server`]), the smart meter's DLMS
//! sessions (TRM-06 readings, the head end's TRM-08/09/11 settings, [`reader`]) and the
//! pushes it receives (TRM-05, [`push`]), each terminal's own DLMS secret ([`secrets`]),
//! and seeded randomness so that simulations repeat ([`entropy`]).
//!
//! A reading session: LLS association on the management client wPort (1), the terminal's
//! clock read and set when it is invalid or off by more than 10 s (TRM-09), both energy
//! registers, the load profile of the last six hours by range (backfill: a slot missed by
//! one reading is read by the next), release. A command's session: the same association,
//! one SET (the clock, the capture period or the password), release. A session with no
//! answer for [`reader::SESSION_TIMEOUT`] is dropped; the caller starts it again.

pub mod entropy;
pub mod household;
pub mod image_push;
pub mod linked;
pub mod push;
pub mod reader;
pub mod relay;
pub mod secrets;
pub mod server;
pub mod smartmeter;

/// DLMS/COSEM over UDP.
pub const DLMS_PORT: u16 = 4059;
/// The management association's client wPort.
const MANAGEMENT_WPORT: u16 = 1;
