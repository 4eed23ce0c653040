//! The IoT-route link's behaviour (issue 6): what a wireless terminal's and a smart
//! meter's 920 MHz radio side does, sans-IO, on top of the wire formats of the `wisun`
//! and `pana` crates.
//!
//! - [`few`]: a map of a few entries kept inline (a MAC's keys, its senders).
//! - [`frame_counters`]: our CCM* frame counters per key, reserved ahead and persisted
//!   so that none ever repeats under a key.
//! - [`mac`]: one node's 802.15.4 MAC (CSMA-CA, acknowledgments and retries, CCM* with
//!   the group key, replay refusal, the transmit budget).
//! - [`net`]: UDP/IPv6 over 6LoWPAN over the MAC (fragmentation, reassembly, echo),
//!   and which traffic may go without layer-2 security.
//! - [`profile`]: what is not public and ours (Pairing ID IE OUI, PANA Vendor-Id, PSK
//!   derivation), in one place, replaceable.
//! - [`pana`]: network-access authentication (PANA + EAP-PSK), the terminal's PaC and
//!   the smart meter's PAA, delivering the layer-2 group key.
//! - [`terminal`]: the wireless terminal's link — scan with the Pairing ID, choice of the
//!   strongest smart meter, authentication, keep-alive, fall-back and back-off.
//! - [`smartmeter`]: the smart meter's link — beacons for its Pairing ID, join window,
//!   PAA, group-key rollover.
//! - [`tx_budget`]: the transmit-time rules of ARIB STD-T108 every sender obeys.

pub mod few;
pub mod frame_counters;
pub mod mac;
pub mod net;
pub mod pana;
pub mod profile;
pub mod smartmeter;
pub mod terminal;
pub mod tx_budget;
