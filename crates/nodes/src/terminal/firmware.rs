//! The terminal's firmware image (SEC-10) **(ours)**: what the vendor signs and the
//! terminal installs. The signed part is a manifest and the payload:
//!
//! ```text
//! IRTFW1\n{"target":"iotroute-terminal","version":N,"size":S,"sha256":"<64 hex>"}\n<payload>
//! ```
//!
//! followed by the signature trailer of `dlms::cosem::image::sign_image` (ECDSA P-256 /
//! SHA-256 over the image identifier `<target>-<version>` and the firmware) — the one
//! scheme the DLMS image transfer already verifies. The manifest says which device the
//! payload is for, its version (no downgrade) and its size and SHA-256, checked again
//! after the signature.

use serde::{Deserialize, Serialize};

/// What the firmware starts with.
pub const MAGIC: &[u8] = b"IRTFW1\n";
/// The target of the terminal's own images.
pub const TERMINAL_TARGET: &str = "iotroute-terminal";

/// The manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Which device the payload runs on.
    pub target: String,
    /// The version: an image older than the running one is refused.
    pub version: u32,
    /// Payload bytes.
    pub size: u64,
    /// SHA-256 of the payload, hex.
    pub sha256: String,
}

/// Why firmware is not an image of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FirmwareError {
    /// Not starting with [`MAGIC`].
    #[error("not an iotroute firmware image (no IRTFW1 header)")]
    Magic,
    /// The manifest line is not a manifest.
    #[error("manifest: {0}")]
    Manifest(String),
    /// The payload's size or SHA-256 is not what the manifest says.
    #[error("payload does not match its manifest ({0})")]
    Payload(&'static str),
    /// An image for another device.
    #[error("image for {got:?}, this is {want:?}")]
    Target {
        /// Ours.
        want: String,
        /// The image's.
        got: String,
    },
    /// Not newer than what runs.
    #[error("version {got} is not newer than the running {running} (no downgrade)")]
    Downgrade {
        /// Running.
        running: u32,
        /// The image's.
        got: u32,
    },
}

impl Manifest {
    /// The manifest of `payload` for `target`, `version`.
    #[must_use]
    pub fn of(target: &str, version: u32, payload: &[u8]) -> Self {
        Self {
            target: target.to_owned(),
            version,
            size: payload.len() as u64,
            sha256: sha256_hex(payload),
        }
    }

    /// The image identifier the signature covers: `<target>-<version>`.
    #[must_use]
    pub fn identifier(&self) -> String {
        format!("{}-{}", self.target, self.version)
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The firmware (before signing): header, manifest, payload.
#[must_use]
pub fn firmware(manifest: &Manifest, payload: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(
        serde_json::to_string(manifest)
            .unwrap_or_default()
            .as_bytes(),
    );
    out.push(b'\n');
    out.extend_from_slice(payload);
    out
}

/// Read firmware (the signature already verified): its manifest and payload, the payload
/// checked against the manifest.
///
/// # Errors
/// [`FirmwareError`].
pub fn parse(firmware: &[u8]) -> Result<(Manifest, &[u8]), FirmwareError> {
    let rest = firmware.strip_prefix(MAGIC).ok_or(FirmwareError::Magic)?;
    let end = rest
        .iter()
        .position(|b| *b == b'\n')
        .ok_or_else(|| FirmwareError::Manifest("no end of line".to_owned()))?;
    let (line, payload) = (&rest[..end], &rest[end + 1..]);
    let manifest: Manifest =
        serde_json::from_slice(line).map_err(|e| FirmwareError::Manifest(e.to_string()))?;
    if manifest.size != payload.len() as u64 {
        return Err(FirmwareError::Payload("size"));
    }
    if manifest.sha256 != sha256_hex(payload) {
        return Err(FirmwareError::Payload("SHA-256"));
    }
    Ok((manifest, payload))
}

/// Whether the terminal running `running` of `target` may install `manifest`.
///
/// # Errors
/// [`FirmwareError::Target`], [`FirmwareError::Downgrade`].
pub fn acceptable(manifest: &Manifest, target: &str, running: u32) -> Result<(), FirmwareError> {
    if manifest.target != target {
        return Err(FirmwareError::Target {
            want: target.to_owned(),
            got: manifest.target.clone(),
        });
    }
    if manifest.version <= running {
        return Err(FirmwareError::Downgrade {
            running,
            got: manifest.version,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec10_firmware_round_trips_and_a_changed_payload_or_manifest_is_refused() {
        let payload = b"\x7fELF...a terminal executable".to_vec();
        let m = Manifest::of(TERMINAL_TARGET, 7, &payload);
        let fw = firmware(&m, &payload);
        assert_eq!(parse(&fw), Ok((m.clone(), &payload[..])));
        assert_eq!(m.identifier(), "iotroute-terminal-7");
        let mut changed = fw.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        assert_eq!(parse(&changed), Err(FirmwareError::Payload("SHA-256")));
        let mut longer = fw.clone();
        longer.push(0);
        assert_eq!(parse(&longer), Err(FirmwareError::Payload("size")));
        assert_eq!(parse(b"ELF"), Err(FirmwareError::Magic));
        assert!(matches!(
            parse(b"IRTFW1\n{\"target\":1}\n"),
            Err(FirmwareError::Manifest(_))
        ));
        assert!(acceptable(&m, TERMINAL_TARGET, 6).is_ok());
        assert_eq!(
            acceptable(&m, TERMINAL_TARGET, 7),
            Err(FirmwareError::Downgrade { running: 7, got: 7 })
        );
        assert!(acceptable(&m, "another-device", 1).is_err());
    }
}
