//! The A route between a smart meter and the head end **(ours: the real SM network
//! protocol is not public)** — docs/a-route.md byte for byte. DLMS/COSEM end to end, so
//! that the smart meter relays at the application layer only (SEC-01/04/05): what
//! reaches the head end is the smart meter's own messages about its terminals, never a
//! packet from the IoT route.
//!
//! - [`stream`]: DLMS wrapper frames (IEC 62056-4-7) over a TCP stream.
//! - [`channel`]: every APDU sealed with security suite 0 (AES-128-GCM, authenticated and
//!   encrypted, `general-glo-ciphering` carrying the sender's system title), its
//!   invocation counter only ever increasing on each side.
//! - [`message`]: what the smart meter tells (Data-Notifications: readings, events,
//!   command outcomes, hello) and what the head end commands (ACTION-Requests on the
//!   relay object).

pub mod channel;
pub mod message;
pub mod stream;

use crate::Obis;

/// The relay object's class **(ours**, manufacturer-specific range from 8192).
pub const RELAY_CLASS: u16 = 8192;
/// The relay object's logical name **(ours**, manufacturer-specific group E 128).
pub const RELAY_OBIS: Obis = Obis::new(0, 0, 128, 1, 0, 255);
/// The smart meter's wPort on the A route (its management logical device).
pub const SMART_METER_WPORT: u16 = 1;
/// The head end's wPort on the A route **(ours)**.
pub const HEAD_END_WPORT: u16 = 102;
