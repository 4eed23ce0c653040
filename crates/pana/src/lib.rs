//! Network-access authentication on the IoT route (SEC-02): PANA (RFC 5191) over UDP 716
//! with the smart meter as PAA and the wireless terminal as PaC, carrying EAP-PSK
//! (RFC 4764); the layer-2 group key delivered in an RFC 6786 Encryption-Encap AVP.
//!
//! Wire formats and key derivations only, `no_std` + `alloc`: nonces, keys and time come
//! from the caller, and the state machines live in `nodes`. Choices the public sources
//! leave open (PSK derivation, identities, algorithms) are in `docs/iot-route-link.md`.
//!
//! ```
//! use pana::{Avp, Flags, Message, MessageType};
//! use pana::keys::{self, Integrity};
//!
//! // A PAN[C] sealed with PANA_AUTH_KEY, then checked and parsed by the receiver.
//! # let msk = pana::secret::Msk::new([7; 64]);
//! # let seed = keys::Seed { i_par: b"PAR[S]", i_pan: b"PAN[S]", pac_nonce: &[1; 16], paa_nonce: &[2; 16], key_id: 1 };
//! let key = keys::pana_auth_key(keys::Prf::HmacSha256, Integrity::HmacSha256_128, &msk, &seed);
//! let pan = Message::new(MessageType::Auth, Flags::COMPLETE, 0x1234_5678, 5).with(Avp::KeyId(1));
//! let datagram = keys::emit_sealed(&pan, Integrity::HmacSha256_128, &key)?;
//!
//! let received = keys::parse_verified(&datagram, Integrity::HmacSha256_128, &key)?;
//! assert_eq!(received.key_id(), Some(1));
//! # Ok::<(), pana::AuthFailure>(())
//! ```
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
