//! ECHONET Lite wire format, `no_std` + `alloc`.
//!
//! The layout follows smoltcp's `wire` module: [`Frame`] is a checked view over a byte
//! buffer, [`Repr`] is the high-level representation with `parse` and `emit`. Every
//! malformed input is a typed [`FrameError`] or [`ValueError`], never a panic: these bytes
//! come from the user's LAN and must be treated as hostile (SEC-06, SEC-08).
//!
//! Above the frame sit the property maps ([`PropertyMap`]), the typed property values of
//! the node profile, the device superclass and the distributed generation electric energy
//! meter class 0x028E ([`objects`]), and the one conversion every later layer relies on:
//! the meter's 9-digit counter to the 8-digit reading the utility keeps ([`energy`]).
#![no_std]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod edt;
pub mod energy;
mod eoj;
mod error;
mod esv;
mod frame;
pub mod objects;
mod propmap;

pub use edt::Edt;
pub use eoj::{ClassCode, Eoj, EojParseError};
pub use error::{FrameError, ValueError};
pub use esv::Esv;
pub use frame::{
    ArbitraryMessage, Frame, Message, MessageRef, Property, PropertyIter, PropertyRef, Repr, EHD1,
    EHD2_ARBITRARY, EHD2_SPECIFIED, HEADER_LEN,
};
pub use propmap::PropertyMap;

/// UDP (and TCP) port of ECHONET Lite, fixed by the specification.
pub const PORT: u16 = 3610;

/// IPv4 multicast group for ECHONET Lite announcements and searches.
pub const MULTICAST_V4: [u8; 4] = [224, 0, 23, 0];

/// IPv6 multicast group (link-local scope) for ECHONET Lite.
pub const MULTICAST_V6: [u16; 8] = [0xff02, 0, 0, 0, 0, 0, 0, 1];
