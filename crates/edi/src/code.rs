//! The codes a message names: its information code (情報区分コード, JP00002), the sender
//! and receiver (five-character party codes: the four-character OCCTO business code and
//! an area code), and the supply point (供給地点特定番号, 22 digits, the first two the
//! area).

use core::fmt;
use core::str::FromStr;

use crate::error::EdiError;

/// A sender or receiver code (JP06110, JP06112): five characters of 0-9 and A-Z.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartyCode([u8; 5]);

impl PartyCode {
    /// The code as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and capitals are ever stored.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl FromStr for PartyCode {
    type Err = EdiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes: [u8; 5] = s
            .as_bytes()
            .try_into()
            .map_err(|_| EdiError::PartyCode(s.to_owned()))?;
        if bytes
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        {
            Ok(Self(bytes))
        } else {
            Err(EdiError::PartyCode(s.to_owned()))
        }
    }
}

impl fmt::Display for PartyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A supply point number (供給地点特定番号, JP06400): 22 digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SupplyPoint([u8; 22]);

impl SupplyPoint {
    /// The number as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl FromStr for SupplyPoint {
    type Err = EdiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes: [u8; 22] = s
            .as_bytes()
            .try_into()
            .map_err(|_| EdiError::SupplyPoint(s.to_owned()))?;
        if bytes.iter().all(u8::is_ascii_digit) {
            Ok(Self(bytes))
        } else {
            Err(EdiError::SupplyPoint(s.to_owned()))
        }
    }
}

impl fmt::Display for SupplyPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The information code of a device-point message (JP00002) **(ours)**: in the W4
/// family of the 30-minute energy messages (0110/1110 the slot, 0120/1120 the day for
/// supply points), new codes so that a retailer's importer of supply-point files never
/// takes a device point's values for a supply point's; one code per interval, so that a
/// message's slot numbers (JP06219) count on one grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InfoCode {
    /// One 30-minute slot of every device point of a retailer: 1130.
    Slot30,
    /// The 48 slots of a day: 1140.
    Daily30,
    /// One 15-minute slot: 1150.
    Slot15,
    /// The 96 slots of a day: 1160.
    Daily15,
}

impl InfoCode {
    /// Every code.
    pub const ALL: [Self; 4] = [Self::Slot30, Self::Daily30, Self::Slot15, Self::Daily15];

    /// The four digits.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Slot30 => "1130",
            Self::Daily30 => "1140",
            Self::Slot15 => "1150",
            Self::Daily15 => "1160",
        }
    }

    /// The slot length of the points it carries, minutes.
    #[must_use]
    pub const fn interval_min(self) -> u8 {
        match self {
            Self::Slot30 | Self::Daily30 => 30,
            Self::Slot15 | Self::Daily15 => 15,
        }
    }

    /// Whether it is a daily message (else a slot message).
    #[must_use]
    pub const fn is_daily(self) -> bool {
        matches!(self, Self::Daily30 | Self::Daily15)
    }

    /// The slot message for points of `interval_min` minutes.
    #[must_use]
    pub const fn slot(interval_min: u8) -> Option<Self> {
        match interval_min {
            30 => Some(Self::Slot30),
            15 => Some(Self::Slot15),
            _ => None,
        }
    }

    /// The daily message for points of `interval_min` minutes.
    #[must_use]
    pub const fn daily(interval_min: u8) -> Option<Self> {
        match interval_min {
            30 => Some(Self::Daily30),
            15 => Some(Self::Daily15),
            _ => None,
        }
    }
}

impl FromStr for InfoCode {
    type Err = EdiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| EdiError::InfoCode(s.to_owned()))
    }
}

impl fmt::Display for InfoCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if01_party_codes_are_five_digits_or_capitals() {
        assert_eq!("A1B2C".parse::<PartyCode>().unwrap().as_str(), "A1B2C");
        for bad in ["A1B2", "A1B2C3", "a1b2c", "A1B2-", "ＡＢＣＤＥ"] {
            assert!(bad.parse::<PartyCode>().is_err(), "{bad}");
        }
    }

    #[test]
    fn if01_supply_points_are_22_digits() {
        let p = "0900000000000000000001";
        assert_eq!(p.parse::<SupplyPoint>().unwrap().to_string(), p);
        for bad in [
            "090000000000000000000",
            "09000000000000000000012",
            "09000000000000000000a1",
        ] {
            assert!(bad.parse::<SupplyPoint>().is_err(), "{bad}");
        }
    }

    #[test]
    fn if01_information_codes_round_trip_and_name_their_interval() {
        for c in InfoCode::ALL {
            assert_eq!(c.as_str().parse::<InfoCode>().unwrap(), c);
            let i = c.interval_min();
            let same = if c.is_daily() {
                InfoCode::daily(i)
            } else {
                InfoCode::slot(i)
            };
            assert_eq!(same, Some(c));
        }
        assert!("1110".parse::<InfoCode>().is_err());
    }
}
