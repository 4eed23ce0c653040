//! Network-access authentication on the IoT route (SEC-02): PANA (RFC 5191) over UDP 716
//! with the smart meter as PAA and the wireless terminal as PaC, carrying EAP-PSK
//! (RFC 4764); the layer-2 group key delivered in an RFC 6786 Encryption-Encap AVP.
//!
//! Wire formats and key derivations only, `no_std` + `alloc`: nonces, keys and time come
//! from the caller, and the state machines live in `nodes`. Choices the public sources
//! leave open (PSK derivation, identities, algorithms) are in `docs/iot-route-link.md`.
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

extern crate alloc;

pub mod avp;
pub mod eap;
pub mod encr;
pub mod error;
pub mod failure;
pub mod keys;
pub mod message;
pub mod psk;
pub mod secret;

pub use avp::Avp;
pub use error::{Error, ErrorKind};
pub use failure::AuthFailure;
pub use message::{Flags, Message, MessageType};
