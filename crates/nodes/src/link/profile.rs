//! The parts of the IoT route that are not public, in one place (README: "what is ours").
//! The guideline and the public Wi-SUN HAN material fix the frames, PANA and EAP-PSK, but
//! not these three; what we use are **placeholders of ours**, each replaceable by a
//! deployment without touching the nodes:
//!
//! - the **Pairing ID vendor Header IE**'s OUI and sub-type, in the scan frames (ours: OUI
//!   12-34-56, no sub-type, as the reference frames of `../shared/spec/wisun-han.md`);
//! - the **Vendor-Id** of our PANA vendor AVPs carrying the group key and the key request
//!   (ours: 32473, the IANA enterprise number reserved for documentation, RFC 5612);
//! - the **PSK derivation** from a terminal's ID and password for EAP-PSK (ours: salted
//!   SHA-256, `pana::psk::SaltedSha256`).
//!
//! A terminal and the smart meters it joins must share the same profile; the command-line
//! programs take the OUI and the Vendor-Id as flags (`--pairing-oui`, `--vendor-id`).

use std::sync::Arc;

use pana::psk::{PskDerivation, SaltedSha256};
use pana::secret::Psk;
use wisun::pairing_id::PairingIeFormat;

/// A link profile; see the module documentation. `Default` is ours.
#[derive(Clone)]
pub struct LinkProfile {
    /// How the Pairing ID travels in the Enhanced Beacon (Request).
    pub pairing_format: PairingIeFormat,
    /// The Vendor-Id of the PANA vendor AVPs.
    pub vendor_id: u32,
    /// How a password becomes the EAP-PSK PSK.
    pub psk: Arc<dyn PskDerivation + Send + Sync>,
}

impl LinkProfile {
    /// The PSK of `auth_id` with `password` under this profile (the smart meter's
    /// registry and the terminal's PaC must agree).
    #[must_use]
    pub fn psk(&self, auth_id: &[u8], password: &[u8]) -> Psk {
        self.psk.derive(auth_id, password)
    }
}

impl Default for LinkProfile {
    fn default() -> Self {
        Self {
            pairing_format: PairingIeFormat::default(),
            vendor_id: pana::encr::VENDOR_ID,
            psk: Arc::new(SaltedSha256),
        }
    }
}

impl core::fmt::Debug for LinkProfile {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LinkProfile")
            .field("pairing_format", &self.pairing_format)
            .field("vendor_id", &self.vendor_id)
            .finish_non_exhaustive()
    }
}
