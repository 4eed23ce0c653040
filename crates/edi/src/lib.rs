//! The EDI files the public server (公開サーバ) gives retailers, IF-01 / SYS-02: the
//! 機器点 (device point) values of the Specified Metering System in the tree of the
//! inter-business EDI common standard (CII XML/EDI: `SBD-MSG / JPMGRP / JPMGH / JPTRM`),
//! as the utilities' data-provision systems serve the 30-minute energy of supply points
//! (`../shared/spec/edi.md`).
//!
//! The 機器点 variant of the standard is not public: its information codes, the header
//! fields' meaning and the elements beyond supply point, status and AC input are **ours**,
//! written in docs/edi.md with an example file. Two messages, each per retailer:
//!
//! - the slot message: one slot, every device point of the retailer whose value for it
//!   is known ([`InfoCode::Slot30`], [`InfoCode::Slot15`]);
//! - the daily message: every slot of one day (48, or 96 at 15 minutes)
//!   ([`InfoCode::Daily30`], [`InfoCode::Daily15`]).
//!
//! A message travels as one XML file in a ZIP named as [`FileName`] says; a value that
//! changes later is published again whole under the next update number.
//!
//! Sans-IO: building and reading bytes, no files, no network.

pub mod archive;
pub mod code;
pub mod error;
pub mod files;
pub mod message;
pub mod name;
pub mod read;
mod write;

pub use code::{InfoCode, PartyCode, SupplyPoint};
pub use error::EdiError;
pub use message::{Message, Quality, Record};
pub use name::FileName;
