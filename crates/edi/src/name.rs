//! A file's name: `W4` + information code (4) + `YYYYMMDDHHMM` (the slot's start in
//! Japan time; `0000` for the time of a daily file) + update number (2) + split number
//! (4) + `.zip`, as the utilities name their W4 files (`../shared/spec/edi.md` §3; the
//! four-digit split number as their low-voltage files have it). Update and split numbers
//! start at 00 and 0000: the first issue of a message, in its first file.

use core::fmt;
use core::str::FromStr;

use chrono::{NaiveDate, NaiveDateTime, Timelike};

use crate::code::InfoCode;
use crate::error::EdiError;

/// The length of every name.
pub const LEN: usize = 28;

/// A file's name, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FileName {
    info: InfoCode,
    at: NaiveDateTime,
    update: u8,
    split: u16,
}

impl FileName {
    /// The name of the file `split` of issue `update` of the `info` message at `at` (a
    /// slot's start in Japan time, or midnight of the day of a daily message).
    ///
    /// # Errors
    /// [`EdiError::FileName`]: `at` not on the message's grid (a daily message at
    /// midnight, a slot on its interval's boundaries, whole minutes), `update` above 99,
    /// `split` above 9999.
    pub fn new(
        info: InfoCode,
        at: NaiveDateTime,
        update: u8,
        split: u16,
    ) -> Result<Self, EdiError> {
        let name = Self {
            info,
            at,
            update,
            split,
        };
        let why = if at.second() != 0 || at.nanosecond() != 0 {
            Some("the time is not a whole minute")
        } else if info.is_daily() && (at.hour(), at.minute()) != (0, 0) {
            Some("a daily file's time is 0000")
        } else if at.minute() % u32::from(info.interval_min()) != 0 {
            Some("the time is not a slot's start")
        } else if update > 99 {
            Some("update number above 99")
        } else if split > 9999 {
            Some("split number above 9999")
        } else if !(0..=9999).contains(&chrono::Datelike::year(&at)) {
            Some("year out of range")
        } else {
            None
        };
        match why {
            Some(why) => Err(EdiError::FileName {
                name: name.to_string(),
                why,
            }),
            None => Ok(name),
        }
    }

    /// The message it holds.
    #[must_use]
    pub const fn info(&self) -> InfoCode {
        self.info
    }

    /// The slot's start (Japan time), midnight for a daily file.
    #[must_use]
    pub const fn at(&self) -> NaiveDateTime {
        self.at
    }

    /// The day it is of.
    #[must_use]
    pub fn date(&self) -> NaiveDate {
        self.at.date()
    }

    /// Its update number: 0 for the first issue.
    #[must_use]
    pub const fn update(&self) -> u8 {
        self.update
    }

    /// Its split number: 0 for the first file of an issue.
    #[must_use]
    pub const fn split(&self) -> u16 {
        self.split
    }

    /// The same message, file and time at another update number.
    ///
    /// # Errors
    /// [`EdiError::FileName`] above 99.
    pub fn with_update(&self, update: u8) -> Result<Self, EdiError> {
        Self::new(self.info, self.at, update, self.split)
    }

    /// The name of the XML file inside the ZIP: the same with `.xml`.
    #[must_use]
    pub fn xml_name(&self) -> String {
        let mut s = self.to_string();
        s.truncate(LEN - 4);
        s.push_str(".xml");
        s
    }
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "W4{}{}{:02}{:04}.zip",
            self.info,
            self.at.format("%Y%m%d%H%M"),
            self.update,
            self.split
        )
    }
}

impl FromStr for FileName {
    type Err = EdiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let refuse = |why| EdiError::FileName {
            name: s.chars().take(64).collect(),
            why,
        };
        if s.len() != LEN || !s.is_ascii() {
            return Err(refuse("not 28 ASCII characters"));
        }
        let (head, tail) = (&s[..2], &s[LEN - 4..]);
        if head != "W4" || tail != ".zip" {
            return Err(refuse("not W4....zip"));
        }
        let digits = &s[2..LEN - 4];
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refuse("not digits between W4 and .zip"));
        }
        let info: InfoCode = digits[..4]
            .parse()
            .map_err(|_| refuse("unknown information code"))?;
        let at = NaiveDateTime::parse_from_str(&digits[4..16], "%Y%m%d%H%M")
            .map_err(|_| refuse("not a date and time"))?;
        let update = digits[16..18]
            .parse()
            .map_err(|_| refuse("update number"))?;
        let split = digits[18..22].parse().map_err(|_| refuse("split number"))?;
        let name = Self::new(info, at, update, split)?;
        // One spelling only: what we print back is what was given.
        if name.to_string() != s {
            return Err(refuse("not in its one spelling"));
        }
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
    }

    #[test]
    fn if01_names_are_w4_code_time_update_split() {
        let n = FileName::new(InfoCode::Slot30, at("2026-04-01 13:30"), 0, 0).unwrap();
        assert_eq!(n.to_string(), "W41130202604011330000000.zip");
        assert_eq!(n.xml_name(), "W41130202604011330000000.xml");
        assert_eq!(n.to_string().parse::<FileName>().unwrap(), n);
        let d = FileName::new(InfoCode::Daily30, at("2026-04-01 00:00"), 3, 12).unwrap();
        assert_eq!(d.to_string(), "W41140202604010000030012.zip");
        assert_eq!(d.to_string().parse::<FileName>().unwrap(), d);
        assert_eq!(d.with_update(4).unwrap().update(), 4);
    }

    #[test]
    fn if01_a_name_off_its_grid_or_range_is_refused() {
        assert!(FileName::new(InfoCode::Daily30, at("2026-04-01 00:30"), 0, 0).is_err());
        assert!(FileName::new(InfoCode::Slot30, at("2026-04-01 00:15"), 0, 0).is_err());
        assert!(FileName::new(InfoCode::Slot15, at("2026-04-01 00:15"), 0, 0).is_ok());
        assert!(FileName::new(InfoCode::Slot30, at("2026-04-01 00:30"), 100, 0).is_err());
        assert!(FileName::new(InfoCode::Slot30, at("2026-04-01 00:30"), 0, 10_000).is_err());
        for bad in [
            "W41130202604011330000000.ZIP",
            "W51130202604011330000000.zip",
            "W41110202604011330000000.zip",
            "W41130202613011330000000.zip",
            "W4113020260401133000000.zip",
            "W41130202604011315000000.zip",
            "W4+130202604011330000000.zip",
            "../../../../etc/passwd.zip..",
        ] {
            assert!(bad.parse::<FileName>().is_err(), "{bad}");
        }
    }
}
