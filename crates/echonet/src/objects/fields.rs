//! Field types shared by several classes: dates, times, status bytes, and the
//! length-checked readers every decoder uses.

use alloc::vec::Vec;
use core::fmt;

use crate::ValueError;

/// Checks that `edt` is exactly `N` bytes and returns it as an array.
pub(crate) fn exact<const N: usize>(
    epc: u8,
    edt: &[u8],
    expected: &'static str,
) -> Result<[u8; N], ValueError> {
    edt.try_into().map_err(|_| ValueError::Length {
        epc,
        expected,
        actual: edt.len(),
    })
}

/// Checks that `edt` is between `min` and `max` bytes long.
pub(crate) fn bounded(
    epc: u8,
    edt: &[u8],
    min: usize,
    max: usize,
    expected: &'static str,
) -> Result<Vec<u8>, ValueError> {
    if (min..=max).contains(&edt.len()) {
        Ok(edt.to_vec())
    } else {
        Err(ValueError::Length {
            epc,
            expected,
            actual: edt.len(),
        })
    }
}

pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// Writes hex octets without separators.
pub(crate) struct Hex<'a>(pub &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// A calendar date as ECHONET carries it: YYYY (2 bytes) MM DD.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Date {
    pub year: u16,
    pub month: u8,
    pub day: u8,
}

impl Date {
    /// A date that exists in the Gregorian calendar, years 1..=9999.
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        let valid = (1..=9999).contains(&year)
            && (1..=12).contains(&month)
            && day >= 1
            && day <= days_in_month(year, month);
        valid.then_some(Date { year, month, day })
    }

    pub(crate) fn decode_at(epc: u8, b: &[u8]) -> Result<Date, ValueError> {
        match b {
            &[y0, y1, month, day, ..] => {
                Date::new(u16::from_be_bytes([y0, y1]), month, day).ok_or(ValueError::Range {
                    epc,
                    what: "date (YYYY 1-9999, MM 1-12, DD within the month)",
                })
            }
            _ => Err(ValueError::Length {
                epc,
                expected: "4 (YYYY MM DD)",
                actual: b.len(),
            }),
        }
    }

    pub fn to_bytes(self) -> [u8; 4] {
        let [y0, y1] = self.year.to_be_bytes();
        [y0, y1, self.month, self.day]
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A time of day: hours, minutes and seconds (seconds are 0 where the property carries
/// only HH MM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TimeOfDay {
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

impl TimeOfDay {
    pub fn new(hour: u8, minute: u8, second: u8) -> Option<TimeOfDay> {
        (hour < 24 && minute < 60 && second < 60).then_some(TimeOfDay {
            hour,
            minute,
            second,
        })
    }

    pub(crate) fn decode_hms(epc: u8, b: &[u8]) -> Result<TimeOfDay, ValueError> {
        match b {
            &[h, m, s, ..] => TimeOfDay::new(h, m, s).ok_or(ValueError::Range {
                epc,
                what: "time (hh 0-23, mm 0-59, ss 0-59)",
            }),
            _ => Err(ValueError::Length {
                epc,
                expected: "3 (hh mm ss)",
                actual: b.len(),
            }),
        }
    }

    pub(crate) fn decode_hm(epc: u8, b: &[u8]) -> Result<TimeOfDay, ValueError> {
        let [h, m] = exact::<2>(epc, b, "2 (hh mm)")?;
        TimeOfDay::new(h, m, 0).ok_or(ValueError::Range {
            epc,
            what: "time (hh 0-23, mm 0-59)",
        })
    }

    pub fn to_hms(self) -> [u8; 3] {
        [self.hour, self.minute, self.second]
    }

    pub fn to_hm(self) -> [u8; 2] {
        [self.hour, self.minute]
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}:{:02}", self.hour, self.minute, self.second)
    }
}

/// Operation status (0x80): 0x30 on, 0x31 off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum OperationStatus {
    On,
    Off,
}

impl OperationStatus {
    pub(crate) fn decode(epc: u8, edt: &[u8]) -> Result<OperationStatus, ValueError> {
        match exact::<1>(epc, edt, "1")? {
            [0x30] => Ok(OperationStatus::On),
            [0x31] => Ok(OperationStatus::Off),
            _ => Err(ValueError::Range {
                epc,
                what: "operation status (0x30 on, 0x31 off)",
            }),
        }
    }

    pub fn code(self) -> u8 {
        match self {
            OperationStatus::On => 0x30,
            OperationStatus::Off => 0x31,
        }
    }
}

/// Identification number (0x83): 0xFE, the 3-byte manufacturer code, and 13 bytes the
/// manufacturer assigns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct IdentificationNumber {
    pub maker: [u8; 3],
    pub unique: [u8; 13],
}

impl IdentificationNumber {
    pub(crate) fn decode(epc: u8, edt: &[u8]) -> Result<IdentificationNumber, ValueError> {
        let b = exact::<17>(epc, edt, "17 (0xFE, maker code, 13 bytes)")?;
        let (head, rest) = b.split_at(4);
        if head.first() != Some(&0xFE) {
            return Err(ValueError::Range {
                epc,
                what: "identification number (first byte 0xFE)",
            });
        }
        let mut maker = [0; 3];
        maker.copy_from_slice(head.get(1..4).unwrap_or(&[0; 3]));
        let mut unique = [0; 13];
        unique.copy_from_slice(rest);
        Ok(IdentificationNumber { maker, unique })
    }

    pub fn to_bytes(self) -> Vec<u8> {
        let mut v = Vec::with_capacity(17);
        v.push(0xFE);
        v.extend_from_slice(&self.maker);
        v.extend_from_slice(&self.unique);
        v
    }
}

impl fmt::Display for IdentificationNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FE{}{}", Hex(&self.maker), Hex(&self.unique))
    }
}
