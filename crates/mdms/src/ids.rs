//! The two identifiers a reading carries: the supply point (供給地点特定番号, supply point
//! identification number) it is metered for, and the wireless terminal (無線端末) that read
//! it. Both are parsed from text a head end or an operator hands us, so each is a checked
//! newtype: a value of the type is always well formed.

use std::fmt;
use std::str::FromStr;

/// Why an identifier's text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// A supply point number is 22 digits.
    #[error("a supply point number is 22 digits, got {0} characters")]
    SupplyPointLength(usize),
    /// Only the digits 0-9.
    #[error("a supply point number holds digits only, found {0:?}")]
    SupplyPointDigit(char),
    /// The first two digits name one of the ten areas (01 Hokkaido ... 10 Okinawa).
    #[error("area code {0:02} is not one of 01 to 10")]
    AreaCode(u8),
    /// A terminal ID is an EUI-64: 16 hex digits, `:` or `-` between them allowed.
    #[error("a terminal ID is 16 hex digits (an EUI-64): {0}")]
    TerminalId(String),
}

/// A supply point identification number (供給地点特定番号): 22 digits, the first two the
/// area code of the general transmission and distribution utility (01 Hokkaido, 02 Tohoku,
/// 03 Tokyo, 04 Chubu, 05 Hokuriku, 06 Kansai, 07 Chugoku, 08 Shikoku, 09 Kyushu,
/// 10 Okinawa). The MDMS keys every series by it, so a malformed one is refused at the
/// door rather than stored as a point of its own.
///
/// Kept as its 22 ASCII digits inline, not as a `String`: every reading, slot, tail and
/// index entry of the system carries one, and a heap allocation each (32 bytes beside
/// the string's own 24) was a large share of what a million points hold. Ordered as its
/// text is (digits of one length compare as bytes).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SupplyPoint([u8; Self::LEN]);

impl SupplyPoint {
    /// The number of digits.
    pub const LEN: usize = 22;

    /// The area code (1 to 10).
    #[must_use]
    pub fn area(&self) -> u8 {
        // Checked at construction: two ASCII digits.
        self.0.iter().take(2).fold(0, |a, d| a * 10 + (d - b'0'))
    }

    /// The 22 digits.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Checked at construction: ASCII digits, which are UTF-8.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for SupplyPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SupplyPoint").field(&self.as_str()).finish()
    }
}

impl FromStr for SupplyPoint {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        if let Some(c) = s.chars().find(|c| !c.is_ascii_digit()) {
            return Err(IdError::SupplyPointDigit(c));
        }
        let digits: [u8; Self::LEN] = s
            .as_bytes()
            .try_into()
            .map_err(|_| IdError::SupplyPointLength(s.len()))?;
        let point = Self(digits);
        match point.area() {
            1..=10 => Ok(point),
            other => Err(IdError::AreaCode(other)),
        }
    }
}

impl fmt::Display for SupplyPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A wireless terminal's ID: its EUI-64, which is also its authentication ID (TRM-08:
/// it never changes). Written as 16 upper-case hex digits, as the rest of the project
/// prints EUI-64s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TerminalId(pub [u8; 8]);

impl FromStr for TerminalId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let bad = || IdError::TerminalId(s.chars().take(40).collect());
        let mut out = [0u8; 8];
        let mut n = 0usize;
        for c in s.chars().filter(|c| !matches!(c, ':' | '-')) {
            let v = c.to_digit(16).ok_or_else(bad)?;
            let byte = out.get_mut(n / 2).ok_or_else(bad)?;
            // A hex digit is below 16: the cast keeps it whole.
            *byte = (*byte << 4) | v as u8;
            n += 1;
        }
        if n == 16 {
            Ok(Self(out))
        } else {
            Err(bad())
        }
    }
}

impl fmt::Display for TerminalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02X}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kyushu_supply_point_is_accepted_and_malformed_ones_say_why() {
        let p: SupplyPoint = "0900000000000000000001".parse().unwrap();
        assert_eq!(p.area(), 9);
        assert_eq!(p.to_string(), "0900000000000000000001");
        assert_eq!(
            "090000000000000000001".parse::<SupplyPoint>(),
            Err(IdError::SupplyPointLength(21))
        );
        assert_eq!(
            "09000000000000000000x1".parse::<SupplyPoint>(),
            Err(IdError::SupplyPointDigit('x'))
        );
        assert_eq!(
            "1100000000000000000001".parse::<SupplyPoint>(),
            Err(IdError::AreaCode(11))
        );
        assert_eq!(
            "0000000000000000000001".parse::<SupplyPoint>(),
            Err(IdError::AreaCode(0))
        );
    }

    #[test]
    fn a_terminal_id_is_sixteen_hex_digits_with_separators_allowed() {
        let t: TerminalId = "00:1d:12:90:00:00:00:01".parse().unwrap();
        assert_eq!(t.to_string(), "001D129000000001");
        assert_eq!("001D129000000001".parse::<TerminalId>(), Ok(t));
        assert!("001D1290000000".parse::<TerminalId>().is_err());
        assert!("001D12900000000102".parse::<TerminalId>().is_err());
        assert!("001D12900000000G".parse::<TerminalId>().is_err());
    }
}
