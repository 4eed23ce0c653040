//! One raw reading as the head end hands it over: what a terminal stored at one slot
//! boundary, and how and when it reached us. The MDMS keeps these unchanged for ever
//! (the evidence behind every derived slot) and derives slots from them.

use chrono::{DateTime, Utc};

use crate::ids::{SupplyPoint, TerminalId};

/// The counters wrap at 10^8 Wh (TRM-03: the lower 8 digits of the meter's count; at
/// 1 Wh per unit, TRM-05, that is 99,999.999 kWh).
pub const MODULUS: u32 = 100_000_000;

/// A cumulative counter in Wh, below [`MODULUS`]: a value of the type is always one the
/// terminal can have stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Counter(u32);

/// A counter of 10^8 or more: no terminal stores one (TRM-03).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("counter {0} Wh is not below 10^8 (TRM-03: the lower 8 digits)")]
pub struct CounterRange(pub u32);

impl Counter {
    /// The counter `wh`.
    ///
    /// # Errors
    /// [`CounterRange`] when `wh` is 10^8 or more.
    pub const fn new(wh: u32) -> Result<Self, CounterRange> {
        if wh < MODULUS {
            Ok(Self(wh))
        } else {
            Err(CounterRange(wh))
        }
    }

    /// Wh.
    #[must_use]
    pub const fn wh(self) -> u32 {
        self.0
    }
}

/// The reading interval in force when the row was stored (TRM-03: 30 minutes; TRM-11:
/// switchable to 15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Interval {
    /// 15 minutes (TRM-11).
    Quarter,
    /// 30 minutes (TRM-03).
    Half,
}

impl Interval {
    /// Minutes.
    #[must_use]
    pub const fn minutes(self) -> u8 {
        match self {
            Self::Quarter => 15,
            Self::Half => 30,
        }
    }

    /// Seconds.
    #[must_use]
    pub const fn seconds(self) -> i64 {
        self.minutes() as i64 * 60
    }

    /// The interval of `minutes` (15 or 30).
    #[must_use]
    pub const fn from_minutes(minutes: u8) -> Option<Self> {
        match minutes {
            15 => Some(Self::Quarter),
            30 => Some(Self::Half),
            _ => None,
        }
    }
}

/// The terminal's profile status byte (the IDIS "AMR profile status" layout of the load
/// profile, `dlms::cosem::model::status`, with the terminal's own bits 0 and 6 of
/// `nodes::terminal::store::Status`; a test in crates/iotroute holds the values equal).
/// Copied here rather than depended on: the MDMS needs five constants, not the DLMS
/// stack and the nodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Status(pub u8);

impl Status {
    /// Bit 0 (ours): read while the meter's ID was not the registered one (SEC-07).
    pub const METER_ID_MISMATCH: u8 = 0x01;
    /// Bit 1: the terminal's clock was not set (TRM-09).
    pub const CLOCK_INVALID: u8 = 0x02;
    /// Bit 2: data not valid: the meter could not be read for this boundary.
    pub const DATA_NOT_VALID: u8 = 0x04;
    /// Bit 5: the clock was adjusted during the interval.
    pub const CLOCK_ADJUSTED: u8 = 0x20;
    /// Bit 6 (ours): recovered afterwards from the meter's own history, not read at the
    /// boundary (TRM-06).
    pub const RECOVERED: u8 = 0x40;

    /// Whether `bit` is set.
    #[must_use]
    pub const fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
}

/// How the reading reached the head end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arrival {
    /// Pushed by the terminal at its boundary (or read by the smart meter's regular
    /// session).
    Pushed,
    /// Fetched later by the head end's backfill (TRM-06).
    Backfilled,
}

/// One raw reading: the counters a terminal stored at one slot boundary of one supply
/// point. The slot `[boundary, boundary + interval)` has the energy
/// `counter(boundary + interval) - counter(boundary)` (modulo 10^8).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawReading {
    /// The supply point metered.
    pub point: SupplyPoint,
    /// The terminal that read it.
    pub terminal: TerminalId,
    /// The slot boundary the counters belong to (the counters at that instant).
    pub boundary: DateTime<Utc>,
    /// The interval in force from this boundary.
    pub interval: Interval,
    /// Cumulative AC input (forward flow, ECHONET 0xE0), Wh modulo 10^8; `None` when
    /// the terminal could not read it (then [`Status::DATA_NOT_VALID`] is set).
    pub ac_in: Option<Counter>,
    /// Cumulative AC output (reverse flow, 0xE2), Wh modulo 10^8.
    pub ac_out: Option<Counter>,
    /// The terminal's status byte.
    pub status: Status,
    /// When the head end received it.
    pub received_at: DateTime<Utc>,
    /// Pushed at the boundary or backfilled later.
    pub arrival: Arrival,
}

/// Why a reading was refused at ingest (it is not stored; the caller still holds it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadingError {
    /// Every boundary of either interval is a multiple of 15 minutes since the epoch
    /// (JST is UTC+9 whole hours); anything else is no boundary a terminal stores.
    #[error("boundary {0} is not on a 15-minute boundary")]
    Misaligned(DateTime<Utc>),
    /// Stored to the nanosecond: only 1677 to 2262 fits.
    #[error("received_at {0} is outside the years 1677 to 2262")]
    ReceivedOutOfRange(DateTime<Utc>),
}

impl RawReading {
    /// Whether its counters can be used to derive energy: both present and not marked
    /// data-not-valid. A reading with one counter only is kept but not used: the two
    /// come from one read of the meter, so one missing casts doubt on the other.
    #[must_use]
    pub fn usable(&self) -> bool {
        self.ac_in.is_some() && self.ac_out.is_some() && !self.status.has(Status::DATA_NOT_VALID)
    }

    /// The reading without its delivery (when and how it came): two readings with the
    /// same measurement are one reading delivered twice.
    pub(crate) fn measurement(&self) -> Measurement<'_> {
        (
            &self.point,
            self.boundary,
            self.interval,
            self.terminal,
            self.ac_in,
            self.ac_out,
            self.status,
        )
    }

    /// Check what the types cannot: the boundary and the receipt time.
    ///
    /// # Errors
    /// [`ReadingError`].
    pub fn validate(&self) -> Result<(), ReadingError> {
        if self.boundary.timestamp_subsec_nanos() != 0
            || self
                .boundary
                .timestamp()
                .rem_euclid(Interval::Quarter.seconds())
                != 0
        {
            return Err(ReadingError::Misaligned(self.boundary));
        }
        if self.received_at.timestamp_nanos_opt().is_none() {
            return Err(ReadingError::ReceivedOutOfRange(self.received_at));
        }
        Ok(())
    }

    /// The order in which the readings of one boundary compete to be the one slots are
    /// derived from (docs/mdms.md, "Which reading counts"): usable before unusable, then
    /// the earliest received, pushed before backfilled, then the content, so that the
    /// choice depends on the set of readings only, never on the order they arrived in.
    pub(crate) fn precedence(&self) -> impl Ord + '_ {
        (
            !self.usable(),
            self.received_at,
            self.arrival,
            self.terminal,
            self.interval,
            self.ac_in,
            self.ac_out,
            self.status,
        )
    }
}

/// See [`RawReading::measurement`].
pub(crate) type Measurement<'a> = (
    &'a SupplyPoint,
    DateTime<Utc>,
    Interval,
    TerminalId,
    Option<Counter>,
    Option<Counter>,
    Status,
);
