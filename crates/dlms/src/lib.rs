//! DLMS/COSEM for iotroute: the application layer of the IoT route (RAD-01, TRM-02,
//! TRM-05) between the wireless terminal (server) and the smart meter (client).
//!
//! Built on the crate `dlms-cosem-rs` (pinned `=0.1.0`), which only this crate names, so
//! that replacing it touches nothing else. Every public type here is either ours or a
//! re-export under a module of ours ([`apdu`]); callers never write the upstream path.
//!
//! - [`obis`]: logical names, parsed and printed as `A-B:C.D.E.F`.
//! - [`data`]: A-XDR `Data` values, owned, with the COSEM date/time forms in [`datetime`].
//! - [`apdu`]: xDLMS and ACSE APDUs, decode/encode entry points.
//! - [`wrapper`]: the DLMS wrapper (IEC 62056-4-7) that carries APDUs over UDP.
//! - [`cipher`]: security suite 0 (AES-128-GCM): deciphering and ciphering of `glo-`,
//!   `ded-` and `general-glo-ciphering` APDUs.
//! - [`client`]: a sans-IO client association over the wrapper (AARQ/LLS/HLS-GMAC, GET
//!   with block reassembly, SET, ACTION, release).
//! - [`push`]: Data-Notification pushes: the terminal's sender and the listener.
//! - [`translate`]: an APDU or wrapper frame to XML or JSON, for `iotroute dlms translate`.

pub mod apdu;
pub mod cipher;
pub mod client;
pub mod cosem;
pub mod data;
pub mod datetime;
pub mod error;
pub mod hex;
pub mod obis;
pub mod push;
pub mod relay;
pub mod server;
pub mod session;
pub mod text;
pub mod translate;
pub mod wrapper;

pub use data::Data;
pub use datetime::{ClockStatus, CosemDate, CosemDateTime, CosemTime};
pub use error::{CodecError, CodecErrorKind};
pub use obis::{Obis, ObisError};
