//! Clock (class 8, version 0): the terminal's time in JST, set and adjusted by the smart
//! meter (TRM-09) and the handy terminal.
//!
//! Sans-IO: the clock is an offset from the `now` the caller passes in, so the same code
//! runs on a wall clock and under the simulator's virtual time.

use super::{
    datetime_of, from_cosem, logical_name_value, no_selector, put, to_cosem, AccessResult,
    CosemObject, Obis, Value, JST_DEVIATION,
};
use crate::apdu::DataRef as Data;
use crate::apdu::{ActionResult, DataAccessResult, SelectiveAccess};
use crate::datetime::CosemDateTime;
use chrono::{DateTime, Duration, Utc};
use dlms_cosem_rs::codec::Writer;

/// Clock status bit 0: invalid value.
pub const STATUS_INVALID: u8 = 0x01;
/// Clock status bit 1: doubtful value.
pub const STATUS_DOUBTFUL: u8 = 0x02;
/// Largest `shift_time` the Blue Book allows, in seconds.
pub const SHIFT_LIMIT_S: i64 = 900;
/// `clock_base` 1: internal crystal.
pub const CLOCK_BASE_CRYSTAL: u8 = 1;

/// A preset time waiting for `adjust_to_preset_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Preset {
    time: DateTime<Utc>,
    valid_from: DateTime<Utc>,
    valid_to: DateTime<Utc>,
}

/// The clock object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clock {
    logical_name: Obis,
    now: DateTime<Utc>,
    offset: Duration,
    time_zone: i16,
    status: u8,
    dst_begin: [u8; 12],
    dst_end: [u8; 12],
    dst_deviation: i8,
    dst_enabled: bool,
    measuring_period_s: u32,
    preset: Option<Preset>,
}

impl Clock {
    /// A clock in JST (time zone −540, no daylight saving: Japan has none) that reads
    /// `now` until told otherwise.
    #[must_use]
    pub fn new(logical_name: Obis, now: DateTime<Utc>) -> Self {
        Self {
            logical_name,
            now,
            offset: Duration::zero(),
            time_zone: JST_DEVIATION,
            status: 0,
            dst_begin: CosemDateTime::WILDCARD.to_bytes(),
            dst_end: CosemDateTime::WILDCARD.to_bytes(),
            dst_deviation: 0,
            dst_enabled: false,
            measuring_period_s: 1800,
            preset: None,
        }
    }

    /// Tell the clock what time the caller's time source says it is.
    pub fn set_now(&mut self, now: DateTime<Utc>) {
        self.now = now;
    }

    /// The clock's time at the caller's `now` (the source time plus the offset set by
    /// clients).
    #[must_use]
    pub fn time_at(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        // Checked: an offset a client set can never make the clock panic.
        now.checked_add_signed(self.offset).unwrap_or(now)
    }

    /// The clock's time at the last `now` given.
    #[must_use]
    pub fn time(&self) -> DateTime<Utc> {
        self.time_at(self.now)
    }

    /// The offset from the caller's time source, set by clients.
    #[must_use]
    pub const fn offset(&self) -> Duration {
        self.offset
    }

    /// The clock status byte.
    #[must_use]
    pub const fn status(&self) -> u8 {
        self.status
    }

    /// Put back an offset saved earlier (a restart).
    pub fn restore_offset(&mut self, offset: Duration) {
        self.offset = offset;
    }

    /// Set status bits (e.g. invalid until first synchronised).
    pub fn set_status(&mut self, status: u8) {
        self.status = status;
    }

    /// The time zone as a deviation (−540 for JST).
    #[must_use]
    pub const fn time_zone(&self) -> i16 {
        self.time_zone
    }

    /// The measuring period `adjust_to_measuring_period` rounds to (the model keeps it
    /// equal to the load profile's capture period).
    pub fn set_measuring_period(&mut self, seconds: u32) {
        self.measuring_period_s = seconds;
    }

    /// Set the clock to `target` (at the current `now`): the offset follows, and the
    /// invalid/doubtful bits clear since a client vouched for the time.
    pub fn set_time(&mut self, target: DateTime<Utc>) {
        self.offset = target - self.now;
        self.status &= !(STATUS_INVALID | STATUS_DOUBTFUL);
        tracing::info!(offset_s = self.offset.num_seconds(), "clock set");
    }

    /// Move the clock by `seconds`, saturating rather than overflowing.
    fn shift(&mut self, seconds: i64) {
        if let Some(o) = self.offset.checked_add(&Duration::seconds(seconds)) {
            self.offset = o;
        }
    }

    /// Round the clock's time to the nearest multiple of `step_s` seconds (ties up).
    fn round_to(&mut self, step_s: u32) {
        let step = i64::from(step_s.max(1));
        let t = self.time().timestamp();
        let rounded = (t + step / 2).div_euclid(step) * step;
        self.shift(rounded - t);
    }
}

/// Parameter of a method that must be `integer 0` (or absent, which some clients send).
fn zero_param(p: Option<&Data<'_>>) -> Result<(), ActionResult> {
    match p {
        None | Some(Data::Integer(0) | Data::Null | Data::Unsigned(0)) => Ok(()),
        Some(_) => Err(ActionResult::TypeUnmatched),
    }
}

impl CosemObject for Clock {
    fn class_id(&self) -> u16 {
        8
    }
    fn version(&self) -> u8 {
        0
    }
    fn logical_name(&self) -> Obis {
        self.logical_name
    }
    fn attribute_count(&self) -> i8 {
        9
    }
    fn method_count(&self) -> i8 {
        6
    }

    fn get(
        &self,
        attribute: i8,
        selective: Option<&SelectiveAccess<'_>>,
        w: &mut dyn Writer,
    ) -> AccessResult<()> {
        no_selector(selective)?;
        let v = match attribute {
            1 => logical_name_value(self.logical_name),
            // octet-string(12), the Blue Book's type for `time` (and what Gurux sends).
            2 => Value::OctetString(
                to_cosem(self.time(), self.time_zone, self.status)
                    .to_bytes()
                    .to_vec(),
            ),
            3 => Value::Long(self.time_zone),
            4 => Value::Unsigned(self.status),
            5 => Value::OctetString(self.dst_begin.to_vec()),
            6 => Value::OctetString(self.dst_end.to_vec()),
            7 => Value::Integer(self.dst_deviation),
            8 => Value::Boolean(self.dst_enabled),
            9 => Value::Enum(CLOCK_BASE_CRYSTAL),
            _ => return Err(DataAccessResult::ObjectUndefined),
        };
        put(w, &v)
    }

    fn set(&mut self, attribute: i8, value: &Data<'_>) -> AccessResult<()> {
        match attribute {
            2 => {
                let dt = datetime_of(value).ok_or(DataAccessResult::TypeUnmatched)?;
                // The deviation the client wrote is honoured (a client in UTC sends 0,
                // Gurux in Japan sends −540); a missing one means our time zone.
                let target =
                    from_cosem(&dt, self.time_zone).ok_or(DataAccessResult::OtherReason)?;
                self.set_time(target);
                Ok(())
            }
            3 => match value {
                Data::Long(tz) if (-720..=840).contains(tz) => {
                    self.time_zone = *tz;
                    Ok(())
                }
                Data::Long(_) => Err(DataAccessResult::OtherReason),
                _ => Err(DataAccessResult::TypeUnmatched),
            },
            5 | 6 => {
                let dt = datetime_of(value).ok_or(DataAccessResult::TypeUnmatched)?;
                if attribute == 5 {
                    self.dst_begin = dt.to_bytes();
                } else {
                    self.dst_end = dt.to_bytes();
                }
                Ok(())
            }
            7 => match value {
                Data::Integer(d) => {
                    self.dst_deviation = *d;
                    Ok(())
                }
                _ => Err(DataAccessResult::TypeUnmatched),
            },
            8 => match value {
                Data::Boolean(b) => {
                    self.dst_enabled = *b;
                    Ok(())
                }
                _ => Err(DataAccessResult::TypeUnmatched),
            },
            1 | 4 | 9 => Err(DataAccessResult::ReadWriteDenied),
            _ => Err(DataAccessResult::ObjectUndefined),
        }
    }

    fn invoke(
        &mut self,
        method: i8,
        p: Option<&Data<'_>>,
        _w: &mut dyn Writer,
    ) -> Result<bool, ActionResult> {
        match method {
            // adjust_to_quarter: nearest *:00, *:15, *:30, *:45.
            1 => {
                zero_param(p)?;
                self.round_to(900);
            }
            // adjust_to_measuring_period: nearest capture boundary.
            2 => {
                zero_param(p)?;
                self.round_to(self.measuring_period_s);
            }
            // adjust_to_minute: nearest minute (seconds ≥ 30 round up).
            3 => {
                zero_param(p)?;
                self.round_to(60);
            }
            // adjust_to_preset_time: only inside the preset's validity interval.
            4 => {
                zero_param(p)?;
                let preset = self.preset.ok_or(ActionResult::OtherReason)?;
                let t = self.time();
                if t < preset.valid_from || t > preset.valid_to {
                    return Err(ActionResult::OtherReason);
                }
                self.set_time(preset.time);
                self.preset = None;
            }
            // preset_adjusting_time: structure { preset_time, validity_interval_start,
            // validity_interval_end }.
            5 => {
                let s = p
                    .and_then(Data::as_structure)
                    .ok_or(ActionResult::TypeUnmatched)?;
                let field = |i: usize| -> Result<DateTime<Utc>, ActionResult> {
                    let v = s.get(i).map_err(|_| ActionResult::TypeUnmatched)?;
                    let dt = datetime_of(&v).ok_or(ActionResult::TypeUnmatched)?;
                    from_cosem(&dt, self.time_zone).ok_or(ActionResult::OtherReason)
                };
                let preset = Preset {
                    time: field(0)?,
                    valid_from: field(1)?,
                    valid_to: field(2)?,
                };
                self.preset = Some(preset);
            }
            // shift_time: long, −900..=900 seconds.
            6 => {
                let s = match p {
                    Some(Data::Long(s)) => i64::from(*s),
                    _ => return Err(ActionResult::TypeUnmatched),
                };
                if !(-SHIFT_LIMIT_S..=SHIFT_LIMIT_S).contains(&s) {
                    return Err(ActionResult::OtherReason);
                }
                self.shift(s);
            }
            _ => return Err(ActionResult::ObjectUndefined),
        }
        Ok(false)
    }
}
