//! The Pairing ID (CON-03, CON-04): `"IOT"` + the 2-digit utility code + the last three
//! digits of the utility's 11-digit free code, 8 characters of 0-9 A-Z, registered in
//! advance in terminals and smart meters. It travels in the Enhanced Beacon Request and
//! the Enhanced Beacon (CON-01) as a vendor-specific Header IE.
//!
//! The IE the Wi-SUN profile uses is not public. [`PairingIeFormat`] is the one place
//! that says which OUI (and optional sub-type byte) we put in front of the 8 bytes; its
//! default is what the reference frames of the spec notes use (OUI 0x123456, no
//! sub-type), a placeholder until JJ-300.10 can be checked.

use alloc::vec::Vec;
use core::fmt;

use crate::mac::{HeaderIe, Oui};

/// OUI of the Pairing ID vendor IE (ours, unverified against JJ-300.10: the reference
/// frames' placeholder).
pub const PAIRING_IE_OUI: Oui = Oui(0x12_34_56);
/// Sub-type byte between the OUI and the Pairing ID (ours: none, as in the reference
/// frames).
pub const PAIRING_IE_SUBTYPE: Option<u8> = None;

/// Length of a Pairing ID.
pub const LEN: usize = 8;
const PREFIX: &[u8; 3] = b"IOT";

/// Why a Pairing ID or its parts were refused (CON-03).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PairingIdError {
    /// Not 8 characters.
    #[error("Pairing ID of {0} characters, expected 8")]
    Length(usize),
    /// A character outside 0-9 A-Z.
    #[error("character {offset} of the Pairing ID is {byte:#04x}, not 0-9 or A-Z")]
    Character {
        /// Its position.
        offset: usize,
        /// The byte.
        byte: u8,
    },
    /// Does not start with "IOT".
    #[error("Pairing ID does not start with \"IOT\"")]
    Prefix,
    /// The utility code is not two digits.
    #[error("utility code must be 2 digits")]
    UtilityCode,
    /// The free code is not eleven digits.
    #[error("utility free code must be 11 digits")]
    FreeCode,
}

/// A valid Pairing ID.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PairingId([u8; LEN]);

impl PairingId {
    /// From the utility code (2 digits) and its free code (11 digits), CON-03:
    /// `("00", "12345678901")` gives `IOT00901`.
    ///
    /// # Errors
    /// [`PairingIdError::UtilityCode`], [`PairingIdError::FreeCode`].
    pub fn from_codes(utility: &str, free_code: &str) -> Result<Self, PairingIdError> {
        let all_digits = |s: &str, n| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(utility, 2) {
            return Err(PairingIdError::UtilityCode);
        }
        if !all_digits(free_code, 11) {
            return Err(PairingIdError::FreeCode);
        }
        let mut id = [0; LEN];
        id[..3].copy_from_slice(PREFIX);
        id[3..5].copy_from_slice(utility.as_bytes());
        id[5..].copy_from_slice(&free_code.as_bytes()[8..]);
        Self::from_bytes(&id)
    }

    /// Validate 8 bytes (CON-03): 0-9 A-Z only, starting with "IOT".
    ///
    /// # Errors
    /// The first rule broken.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PairingIdError> {
        let id: [u8; LEN] = bytes
            .try_into()
            .map_err(|_| PairingIdError::Length(bytes.len()))?;
        if let Some((offset, &byte)) = id
            .iter()
            .enumerate()
            .find(|(_, b)| !(b.is_ascii_digit() || b.is_ascii_uppercase()))
        {
            return Err(PairingIdError::Character { offset, byte });
        }
        if !id.starts_with(PREFIX) {
            return Err(PairingIdError::Prefix);
        }
        Ok(Self(id))
    }

    /// The 8 bytes that go on the air.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; LEN] {
        &self.0
    }

    /// The ID as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Validated ASCII: never fails.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl core::str::FromStr for PairingId {
    type Err = PairingIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_bytes(s.as_bytes())
    }
}

impl fmt::Display for PairingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for PairingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PairingId({})", self.as_str())
    }
}

/// How the Pairing ID is wrapped in a vendor-specific Header IE (configurable because
/// the profile's IE is not public).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PairingIeFormat {
    /// The IE's OUI.
    pub oui: Oui,
    /// A sub-type byte before the 8 bytes, if any.
    pub subtype: Option<u8>,
}

impl Default for PairingIeFormat {
    fn default() -> Self {
        Self {
            oui: PAIRING_IE_OUI,
            subtype: PAIRING_IE_SUBTYPE,
        }
    }
}

/// What a Header IE list says about a Pairing ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairingIeContent {
    /// No Pairing ID IE.
    Absent,
    /// An IE of our format with a valid Pairing ID.
    Valid(PairingId),
    /// An IE of our format whose content is not a valid Pairing ID.
    Invalid(PairingIdError),
}

impl PairingIeFormat {
    /// The Header IE carrying `id` (CON-01).
    #[must_use]
    pub fn header_ie(&self, id: &PairingId) -> HeaderIe {
        let mut data = Vec::with_capacity(LEN + 1);
        data.extend(self.subtype);
        data.extend_from_slice(id.as_bytes());
        HeaderIe::Vendor {
            oui: self.oui,
            data,
        }
    }

    /// The Pairing ID in the first Header IE of this format (OUI and sub-type match).
    #[must_use]
    pub fn find(&self, ies: &[HeaderIe]) -> PairingIeContent {
        for ie in ies {
            let HeaderIe::Vendor { oui, data } = ie else {
                continue;
            };
            if *oui != self.oui {
                continue;
            }
            let content = match self.subtype {
                None => Some(&data[..]),
                Some(st) => data
                    .split_first()
                    .filter(|(b, _)| **b == st)
                    .map(|(_, r)| r),
            };
            if let Some(content) = content {
                return match PairingId::from_bytes(content) {
                    Ok(id) => PairingIeContent::Valid(id),
                    Err(e) => PairingIeContent::Invalid(e),
                };
            }
        }
        PairingIeContent::Absent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn con03_pairing_id_from_utility_and_free_code() {
        let id = PairingId::from_codes("00", "12345678901").unwrap();
        assert_eq!(id.as_str(), "IOT00901");
        assert_eq!(id.as_bytes(), b"IOT00901");
    }

    #[test]
    fn con03_malformed_codes_and_ids_are_refused() {
        assert_eq!(
            PairingId::from_codes("0", "12345678901"),
            Err(PairingIdError::UtilityCode)
        );
        assert_eq!(
            PairingId::from_codes("0A", "12345678901"),
            Err(PairingIdError::UtilityCode)
        );
        assert_eq!(
            PairingId::from_codes("00", "1234567890"),
            Err(PairingIdError::FreeCode)
        );
        assert_eq!(
            PairingId::from_codes("00", "1234567890x"),
            Err(PairingIdError::FreeCode)
        );
        assert_eq!(
            "IOT0090".parse::<PairingId>(),
            Err(PairingIdError::Length(7))
        );
        assert_eq!(
            "IOT0090a".parse::<PairingId>(),
            Err(PairingIdError::Character {
                offset: 7,
                byte: b'a'
            })
        );
        assert_eq!("XOT00901".parse::<PairingId>(), Err(PairingIdError::Prefix));
        assert!("IOTZZ9A1".parse::<PairingId>().is_ok());
    }

    #[test]
    fn con01_con04_pairing_ie_found_only_in_our_format() {
        let id: PairingId = "IOT00901".parse().unwrap();
        let fmt = PairingIeFormat::default();
        let ies = [
            HeaderIe::Vendor {
                oui: Oui(0xabcdef),
                data: b"IOT00902".to_vec(),
            },
            fmt.header_ie(&id),
        ];
        assert_eq!(fmt.find(&ies), PairingIeContent::Valid(id));
        let with_subtype = PairingIeFormat {
            oui: PAIRING_IE_OUI,
            subtype: Some(1),
        };
        assert_eq!(with_subtype.find(&ies), PairingIeContent::Absent);
        let ie = with_subtype.header_ie(&id);
        assert_eq!(
            with_subtype.find(core::slice::from_ref(&ie)),
            PairingIeContent::Valid(id)
        );
        let bad = [HeaderIe::Vendor {
            oui: PAIRING_IE_OUI,
            data: b"iot".to_vec(),
        }];
        assert_eq!(
            fmt.find(&bad),
            PairingIeContent::Invalid(PairingIdError::Length(3))
        );
    }
}
