//! The logical names (OBIS codes) of the IoT-route object model, and why each was chosen
//! (`docs/iot-route-cosem.md` has the table).
//!
//! Standard codes wherever the Blue Book has one; the two settings with no standard
//! object (Pairing ID, the device authentication password) are in the
//! manufacturer-specific range (value group C = 128), so that they can never collide with
//! a code a utility's client gives another meaning.

use super::Obis;

/// Clock (class 8). Standard.
pub const CLOCK: Obis = Obis::new(0, 0, 1, 0, 0, 255);
/// Current association, Association LN (class 15). Standard.
pub const ASSOCIATION: Obis = Obis::new(0, 0, 40, 0, 0, 255);
/// SAP assignment (class 17). Standard.
pub const SAP_ASSIGNMENT: Obis = Obis::new(0, 0, 41, 0, 0, 255);
/// COSEM logical device name (class 1). Standard.
pub const LOGICAL_DEVICE_NAME: Obis = Obis::new(0, 0, 42, 0, 0, 255);
/// Security setup (class 64). Standard.
pub const SECURITY_SETUP: Obis = Obis::new(0, 0, 43, 0, 0, 255);
/// The management client's invocation counter (class 1, double-long-unsigned): the
/// highest counter the server accepted from the management client under security setup
/// 0-0:43.0.0.255. Standard (Blue Book "invocation counter", 0-0:43.1.e.255 for security
/// setup e; the object IDIS meters serve and Gurux clients read). Readable by the public
/// client, so that a client that kept no counter (a replaced head end, a Gurux client)
/// resumes above it instead of being refused as a replay (SEC-02).
pub const MANAGEMENT_INVOCATION_COUNTER: Obis = Obis::new(0, 0, 43, 1, 0, 255);
/// Image transfer (class 18), SEC-10. Standard.
pub const IMAGE_TRANSFER: Obis = Obis::new(0, 0, 44, 0, 0, 255);
/// Push setup (class 40) for the slot push. Standard (push setup 1: `0-0:25.9.0.255`).
pub const PUSH_SETUP: Obis = Obis::new(0, 0, 25, 9, 0, 255);
/// Terminal ID = authentication ID (class 1, read-only, TRM-08). Standard
/// "device ID 1" (manufacturing number).
pub const TERMINAL_ID: Obis = Obis::new(0, 0, 96, 1, 0, 255);
/// Meter ID: the ECHONET Lite 0xD1 device ID of the connected meter (class 1, SEC-07).
/// Standard "device ID 2".
pub const METER_ID: Obis = Obis::new(0, 0, 96, 1, 1, 255);
/// Load-profile status (class 1, unsigned, the status column of the profile). Standard
/// "status register 1"; its bits follow the IDIS "AMR profile status" layout.
pub const PROFILE_STATUS: Obis = Obis::new(0, 0, 96, 10, 1, 255);
/// Event code (class 1, long-unsigned), the value column of the event log. Standard
/// "event object".
pub const EVENT_CODE: Obis = Obis::new(0, 0, 96, 11, 0, 255);
/// Cumulative energy, AC input = forward flow at the device point (TRM-07 0xE0), class 3.
/// Standard "active energy import (+A), total".
pub const ENERGY_AC_INPUT: Obis = Obis::new(1, 0, 1, 8, 0, 255);
/// Cumulative energy, AC output = reverse flow (TRM-07 0xE2), class 3.
/// Standard "active energy export (−A), total".
pub const ENERGY_AC_OUTPUT: Obis = Obis::new(1, 0, 2, 8, 0, 255);
/// The 30/15-minute load profile (class 7), TRM-06/TRM-11. Standard "load profile 1".
pub const LOAD_PROFILE: Obis = Obis::new(1, 0, 99, 1, 0, 255);
/// Event log (class 7), SEC-09. Standard "event log" (`0-0:99.98.0.255`).
pub const EVENT_LOG: Obis = Obis::new(0, 0, 99, 98, 0, 255);
/// Access code (class 1, long-unsigned), the kind column of the access log. **Ours**,
/// manufacturer-specific (E = 128): the Blue Book has no access-record object.
pub const ACCESS_CODE: Obis = Obis::new(0, 0, 96, 11, 128, 255);
/// Access client (class 1, long-unsigned), the client wPort column of the access log.
/// **Ours**, manufacturer-specific (E = 129).
pub const ACCESS_CLIENT: Obis = Obis::new(0, 0, 96, 11, 129, 255);
/// Access log (class 7), SEC-09: associations, releases, SET and ACTION requests and
/// their outcome. **Ours**, manufacturer-specific (E = 128).
pub const ACCESS_LOG: Obis = Obis::new(0, 0, 99, 98, 128, 255);
/// Pairing ID (class 1, visible-string(8), CON-03/TRM-08). **Ours**, manufacturer-specific
/// (C = 128): no standard object names a Wi-SUN IoT-route Pairing ID.
pub const PAIRING_ID: Obis = Obis::new(0, 0, 128, 0, 1, 255);
/// Device authentication password (class 1, octet-string, write-only, TRM-08). **Ours**,
/// manufacturer-specific (C = 128): the IoT-route link password is not an Association
/// LN secret (that one guards DLMS associations, not the radio's device authentication).
pub const AUTH_PASSWORD: Obis = Obis::new(0, 0, 128, 0, 2, 255);
