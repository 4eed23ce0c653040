//! IEEE 802.15.4-2015 MAC frames for the IoT route (RAD-01): frame control, addressing
//! with the 2015 PAN ID compression table, the auxiliary security header, Header and
//! Payload IEs, MAC commands, the scan frames, FCS and frame counters.
//!
//! Why our own codec rather than smoltcp's: see docs/architecture.md.

pub mod ack;
mod address;
pub mod audit;
pub mod beacon;
mod command;
pub mod counters;
mod error;
pub mod fcs;
mod frame;
mod frame_control;
pub mod ie;
mod pan_id;
mod reader;
mod security;

pub use address::{Address, Eui64, BROADCAST};
pub use command::CommandId;
pub use error::FrameError;
pub(crate) use frame::check_body_layout;
pub use frame::{Frame, Header, Mpdu, SecuredFrame, MAX_PSDU_LEN};
pub use frame_control::{FrameControl, FrameType, FrameVersion};
pub use ie::{HeaderIe, MlmeSubIe, Oui, PayloadIe};
pub use security::{AuxSecurityHeader, KeyIdentifier, SecurityLevel};
