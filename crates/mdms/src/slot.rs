//! A derived slot: the energy of one interval of one supply point, with its quality.
//! Slots are computed from the raw readings (crate::derive) and may be recomputed when
//! more readings arrive; the readings never change.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use crate::ids::{SupplyPoint, TerminalId};
use crate::reading::{Arrival, RawReading, Status};

/// How far a slot's values can be trusted. The variants are in precedence order: when
/// several apply to a slot, the greatest wins (docs/mdms.md, "Quality").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Quality {
    /// Both counters read at their boundaries and pushed at once.
    Measured,
    /// A counter arrived later, by the head end's backfill (TRM-06).
    Backfilled,
    /// A counter was taken by the terminal from the meter's own history (TRM-06,
    /// status bit 6).
    Recovered,
    /// The energy is not the readings' difference: interpolated across a gap, or
    /// set to zero where the readings fail validation (VEE).
    Estimated,
    /// A counter was read while the meter's ID did not match the registered one
    /// (SEC-07, status bit 0): possibly another meter's count, to be reviewed.
    Flagged,
}

impl Quality {
    /// Every quality, in precedence order.
    pub const ALL: [Self; 5] = [
        Self::Measured,
        Self::Backfilled,
        Self::Recovered,
        Self::Estimated,
        Self::Flagged,
    ];

    /// The quality a single reading gives the slots it bounds.
    #[must_use]
    pub fn of(reading: &RawReading) -> Self {
        if reading.status.has(Status::METER_ID_MISMATCH) {
            Self::Flagged
        } else if reading.status.has(Status::RECOVERED) {
            Self::Recovered
        } else if reading.arrival == Arrival::Backfilled {
            Self::Backfilled
        } else {
            Self::Measured
        }
    }

    /// The name in the export.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Measured => "measured",
            Self::Backfilled => "backfilled",
            Self::Recovered => "recovered",
            Self::Estimated => "estimated",
            Self::Flagged => "flagged",
        }
    }
}

impl fmt::Display for Quality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A quality name that is not one of the five (a stored row this program did not write).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("quality {0:?} is not one of measured, backfilled, recovered, estimated, flagged")]
pub struct UnknownQuality(pub String);

impl FromStr for Quality {
    type Err = UnknownQuality;

    fn from_str(s: &str) -> Result<Self, UnknownQuality> {
        Self::ALL
            .into_iter()
            .find(|q| q.as_str() == s)
            .ok_or_else(|| UnknownQuality(s.to_owned()))
    }
}

/// One slot of one supply point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// The supply point.
    pub point: SupplyPoint,
    /// The terminal of the latest reading at or before the slot's end.
    pub terminal: TerminalId,
    /// The slot's start (a boundary).
    pub start: DateTime<Utc>,
    /// Its length: 15 or 30 minutes.
    pub minutes: u8,
    /// AC input energy in the slot, Wh.
    pub in_wh: u32,
    /// AC output energy in the slot, Wh.
    pub out_wh: u32,
    /// The AC input counter at the slot's end, Wh modulo 10^8.
    pub cum_in: u32,
    /// The AC output counter at the slot's end.
    pub cum_out: u32,
    /// How far it can be trusted.
    pub quality: Quality,
    /// When the last of the readings it was derived from was received; `None` when its
    /// values are estimated.
    pub received_at: Option<DateTime<Utc>>,
}

/// How many slots of each quality.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QualityCounts {
    /// [`Quality::Measured`].
    pub measured: u64,
    /// [`Quality::Recovered`].
    pub recovered: u64,
    /// [`Quality::Backfilled`].
    pub backfilled: u64,
    /// [`Quality::Estimated`].
    pub estimated: u64,
    /// [`Quality::Flagged`].
    pub flagged: u64,
}

impl QualityCounts {
    /// Count one slot of quality `q`.
    pub fn add(&mut self, q: Quality) {
        let n = match q {
            Quality::Measured => &mut self.measured,
            Quality::Recovered => &mut self.recovered,
            Quality::Backfilled => &mut self.backfilled,
            Quality::Estimated => &mut self.estimated,
            Quality::Flagged => &mut self.flagged,
        };
        *n += 1;
    }

    /// All slots counted.
    #[must_use]
    pub const fn total(&self) -> u64 {
        self.measured + self.recovered + self.backfilled + self.estimated + self.flagged
    }
}
