//! The identities a device point (機器点) is registered under: its supply point number
//! (供給地点特定番号, the MDMS's type) and its retailer's code (PPSエリア別コード), as
//! the EDI files carry them (docs/edi.md).

use core::fmt;
use core::str::FromStr;

/// The supply point number, the MDMS's (the head end hands it the readings keyed by it).
pub use mdms::SupplyPoint;

/// Why a retailer code was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("retailer code {0:?}: 5 characters of 0-9 A-Z expected")]
pub struct RetailerError(pub String);

/// A retailer's code (PPSエリア別コード): the 4-character OCCTO business code and a
/// 1-character area code, 5 characters of 0-9 A-Z, as the EDI files' sender and
/// receiver — the EDI files' own party code, whose rule it is.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RetailerCode(edi::PartyCode);

impl RetailerCode {
    /// The 5 characters.
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The code as the EDI files name their receiver.
    #[must_use]
    pub const fn code(&self) -> edi::PartyCode {
        self.0
    }
}

impl FromStr for RetailerCode {
    type Err = RetailerError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Self).map_err(|_| RetailerError(s.to_owned()))
    }
}

impl fmt::Display for RetailerCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RetailerCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RetailerCode({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retailer_code_is_5_characters_of_0_9_a_z() {
        assert_eq!("A1239".parse::<RetailerCode>().unwrap().as_str(), "A1239");
        for bad in ["A123", "A12399", "a1239", "A12-9", ""] {
            assert!(bad.parse::<RetailerCode>().is_err(), "{bad}");
        }
    }
}
