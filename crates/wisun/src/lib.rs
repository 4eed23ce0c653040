//! The IoT-route link below the DLMS wrapper (Wi-SUN Enhanced HAN, RAD-01): wire formats
//! and the cryptography that goes with them, `no_std` + `alloc` so that a terminal's
//! firmware could carry the same code as our simulator.
//!
//! Everything here is a pure function of bytes: no clock, no socket, no randomness
//! (callers pass nonces and keys in). The state machines that use these formats live in
//! `nodes`; choices the public sources leave open are collected in
//! `docs/iot-route-link.md`.
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

extern crate alloc;

pub mod ccm_star;
pub mod channel;
pub mod mac;
pub mod pairing_id;
pub mod pcap;

pub use pairing_id::PairingId;
