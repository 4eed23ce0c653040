//! The identities a device point (機器点) is registered under: its supply point number
//! (供給地点特定番号) and its retailer's code (PPSエリア別コード), as the EDI files
//! carry them (docs/edi.md).

use core::fmt;
use core::str::FromStr;

/// Why an identity was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PointError {
    /// Not 22 digits.
    #[error("supply point {0:?}: 22 digits expected")]
    SupplyPointDigits(String),
    /// The first two digits are no area code (01 Hokkaido .. 10 Okinawa).
    #[error("supply point {0:?}: area code {1:02} is not one of 01 to 10")]
    Area(String, u8),
    /// Not 5 characters of 0-9 A-Z.
    #[error("retailer code {0:?}: 5 characters of 0-9 A-Z expected")]
    Retailer(String),
}

/// A supply point number (供給地点特定番号): 22 digits, the first two the area
/// (01 北海道 Hokkaido … 09 九州 Kyushu, 10 沖縄 Okinawa). How the other 20 digits are
/// built (and whether one is a check digit) is not public: they are taken as they come.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SupplyPoint(String);

impl SupplyPoint {
    /// Its area code (1 to 10).
    #[must_use]
    pub fn area(&self) -> u8 {
        self.0
            .as_bytes()
            .iter()
            .take(2)
            .fold(0, |n, d| n * 10 + (d - b'0'))
    }

    /// The 22 digits.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SupplyPoint {
    type Err = PointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 22 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PointError::SupplyPointDigits(s.to_owned()));
        }
        let point = Self(s.to_owned());
        match point.area() {
            1..=10 => Ok(point),
            other => Err(PointError::Area(s.to_owned(), other)),
        }
    }
}

impl fmt::Display for SupplyPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for SupplyPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SupplyPoint({})", self.0)
    }
}

/// A retailer's code (PPSエリア別コード): the 4-character OCCTO business code and a
/// 1-character area code, 5 characters of 0-9 A-Z, as the EDI files' sender and
/// receiver.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RetailerCode(String);

impl RetailerCode {
    /// The 5 characters.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for RetailerCode {
    type Err = PointError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() == 5
            && s.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
        {
            Ok(Self(s.to_owned()))
        } else {
            Err(PointError::Retailer(s.to_owned()))
        }
    }
}

impl fmt::Display for RetailerCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RetailerCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RetailerCode({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_supply_point_is_22_digits_in_an_area() {
        let p: SupplyPoint = "0900000000000000000001".parse().unwrap();
        assert_eq!(p.area(), 9);
        assert_eq!(p.to_string(), "0900000000000000000001");
        for bad in [
            "090000000000000000000",   // 21
            "09000000000000000000011", // 23
            "09000000000000000000O1",  // a letter
            "0000000000000000000001",  // area 00
            "1100000000000000000001",  // area 11
            "０900000000000000000001", // a wide digit
        ] {
            assert!(bad.parse::<SupplyPoint>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_retailer_code_is_5_characters_of_0_9_a_z() {
        assert_eq!("A1239".parse::<RetailerCode>().unwrap().as_str(), "A1239");
        for bad in ["A123", "A12399", "a1239", "A12-9", ""] {
            assert!(bad.parse::<RetailerCode>().is_err(), "{bad}");
        }
    }
}
