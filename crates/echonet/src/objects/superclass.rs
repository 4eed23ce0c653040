//! The device object super class (機器オブジェクトスーパークラス): properties every device
//! object carries, and the ones the profile object super class shares with it.

use alloc::vec::Vec;
use core::fmt;

use super::fields::{exact, Date, Hex, IdentificationNumber, OperationStatus, TimeOfDay};
use crate::{PropertyMap, ValueError};

/// A typed property of the device object super class.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum SuperclassProperty {
    /// 0x80.
    OperationStatus(OperationStatus),
    /// 0x81: one location code, or 0xFF followed by 16 bytes of position information.
    InstallationLocation(
        #[cfg_attr(feature = "serde", serde(serialize_with = "super::hex"))] Vec<u8>,
    ),
    /// 0x82: the Appendix release the object follows (`'Q'` for Release Q) and its
    /// revision; the first two bytes are always 0.
    StandardVersion { release: char, revision: u8 },
    /// 0x83.
    IdentificationNumber(IdentificationNumber),
    /// 0x88: whether a fault has occurred (0x41) or not (0x42).
    FaultStatus(bool),
    /// 0x8A: the manufacturer code assigned by the ECHONET Consortium.
    ManufacturerCode(#[cfg_attr(feature = "serde", serde(serialize_with = "super::hex"))] [u8; 3]),
    /// 0x97: hours and minutes.
    CurrentTime(TimeOfDay),
    /// 0x98.
    CurrentDate(Date),
    /// 0x9D: properties announced on change.
    StatusChangeAnnouncementMap(PropertyMap),
    /// 0x9E: properties that accept Set.
    SetPropertyMap(PropertyMap),
    /// 0x9F: properties that answer Get.
    GetPropertyMap(PropertyMap),
}

impl SuperclassProperty {
    /// The EPCs this type decodes.
    pub const EPCS: [u8; 11] = [
        0x80, 0x81, 0x82, 0x83, 0x88, 0x8A, 0x97, 0x98, 0x9D, 0x9E, 0x9F,
    ];

    pub fn decode(epc: u8, edt: &[u8]) -> Result<SuperclassProperty, ValueError> {
        use SuperclassProperty as P;
        Ok(match epc {
            0x80 => P::OperationStatus(OperationStatus::decode(epc, edt)?),
            0x81 => match edt {
                [code] if *code != 0xFF => P::InstallationLocation(edt.to_vec()),
                [0xFF, rest @ ..] if rest.len() == 16 => P::InstallationLocation(edt.to_vec()),
                _ => {
                    return Err(ValueError::Length {
                        epc,
                        expected: "1 (location code), or 17 (0xFF and position)",
                        actual: edt.len(),
                    })
                }
            },
            0x82 => match exact::<4>(epc, edt, "4")? {
                [0, 0, release @ b'A'..=b'Z', revision] => P::StandardVersion {
                    release: char::from(release),
                    revision,
                },
                _ => {
                    return Err(ValueError::Range {
                        epc,
                        what: "standard version (00 00, release letter A-Z, revision)",
                    })
                }
            },
            0x83 => P::IdentificationNumber(IdentificationNumber::decode(epc, edt)?),
            0x88 => match exact::<1>(epc, edt, "1")? {
                [0x41] => P::FaultStatus(true),
                [0x42] => P::FaultStatus(false),
                _ => {
                    return Err(ValueError::Range {
                        epc,
                        what: "fault status (0x41 fault, 0x42 no fault)",
                    })
                }
            },
            0x8A => P::ManufacturerCode(exact::<3>(epc, edt, "3")?),
            0x97 => P::CurrentTime(TimeOfDay::decode_hm(epc, edt)?),
            0x98 => {
                exact::<4>(epc, edt, "4 (YYYY MM DD)")?;
                P::CurrentDate(Date::decode_at(epc, edt)?)
            }
            0x9D => P::StatusChangeAnnouncementMap(PropertyMap::decode(edt)?),
            0x9E => P::SetPropertyMap(PropertyMap::decode(edt)?),
            0x9F => P::GetPropertyMap(PropertyMap::decode(edt)?),
            _ => return Err(ValueError::UnknownProperty { class: 0x0000, epc }),
        })
    }

    pub fn epc(&self) -> u8 {
        use SuperclassProperty as P;
        match self {
            P::OperationStatus(_) => 0x80,
            P::InstallationLocation(_) => 0x81,
            P::StandardVersion { .. } => 0x82,
            P::IdentificationNumber(_) => 0x83,
            P::FaultStatus(_) => 0x88,
            P::ManufacturerCode(_) => 0x8A,
            P::CurrentTime(_) => 0x97,
            P::CurrentDate(_) => 0x98,
            P::StatusChangeAnnouncementMap(_) => 0x9D,
            P::SetPropertyMap(_) => 0x9E,
            P::GetPropertyMap(_) => 0x9F,
        }
    }

    /// The EDT of this value. Fails when the value lies outside what its EDT can carry
    /// (fields are public, so such a value can be built): every EDT returned decodes back
    /// to exactly this value.
    pub fn encode(&self) -> Result<Vec<u8>, ValueError> {
        super::checked_encode(self, self.epc(), self.bytes(), Self::decode)
    }

    fn bytes(&self) -> Vec<u8> {
        use SuperclassProperty as P;
        match self {
            P::OperationStatus(s) => alloc::vec![s.code()],
            P::InstallationLocation(b) => b.clone(),
            P::StandardVersion { release, revision } => {
                alloc::vec![0, 0, u8::try_from(*release).unwrap_or(b'?'), *revision]
            }
            P::IdentificationNumber(id) => id.to_bytes(),
            P::FaultStatus(fault) => alloc::vec![if *fault { 0x41 } else { 0x42 }],
            P::ManufacturerCode(code) => code.to_vec(),
            P::CurrentTime(t) => t.to_hm().to_vec(),
            P::CurrentDate(d) => d.to_bytes().to_vec(),
            P::StatusChangeAnnouncementMap(m) | P::SetPropertyMap(m) | P::GetPropertyMap(m) => {
                m.encode()
            }
        }
    }
}

impl fmt::Display for SuperclassProperty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use SuperclassProperty as P;
        match self {
            P::OperationStatus(s) => write!(f, "{s:?}"),
            P::InstallationLocation(b) => write!(f, "location {}", Hex(b)),
            P::StandardVersion { release, revision } => {
                write!(f, "Release {release} rev. {revision}")
            }
            P::IdentificationNumber(id) => write!(f, "{id}"),
            P::FaultStatus(true) => f.write_str("fault"),
            P::FaultStatus(false) => f.write_str("no fault"),
            P::ManufacturerCode(code) => write!(f, "maker {}", Hex(code)),
            P::CurrentTime(t) => write!(f, "{:02}:{:02}", t.hour, t.minute),
            P::CurrentDate(d) => write!(f, "{d}"),
            P::StatusChangeAnnouncementMap(m) | P::SetPropertyMap(m) | P::GetPropertyMap(m) => {
                write!(f, "{m}")
            }
        }
    }
}
