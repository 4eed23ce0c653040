//! The distributed generation electric energy meter, class 0x028E
//! (分散型電源電力量メータクラス, Appendix Release Q and later).
//!
//! Layouts follow the Appendix where its text is known to us and the Machine Readable
//! Appendix shipped in PyPI `uecho` for names and access rules; where neither fixes a
//! length, the choice is ours and is written in `docs/echonet-028e.md`.

use alloc::vec::Vec;
use core::fmt;

use super::fields::{bounded, exact, u32_at, Date, Hex, TimeOfDay};
use crate::energy::{EnergyUnit, COUNTER_MAX};
use crate::{ClassCode, ValueError};

/// Half-hour slots in one day of history (0xE1, 0xE3, 0xE5).
pub const SLOTS_PER_DAY: usize = 48;
/// The value that marks a slot or a fixed-time reading as not measured.
pub const NOT_MEASURED: u32 = 0xFFFF_FFFE;
/// Largest day offset 0xD5 accepts (and largest 0xD3 minus one).
pub const MAX_HISTORY_DAYS: u16 = 999;
/// Longest raw identifier (0xD0, 0xD1, 0xD6) we accept.
pub const MAX_ID_LEN: usize = 64;
/// Signed power values reserved for overflow (0x7FFFFFFE) and underflow (0x80000000).
const POWER_MIN: i32 = -2_147_483_647;
const POWER_MAX: i32 = 2_147_483_645;
/// EDT length of a history property: day (2) + 48 × 4.
pub const HISTORY_LEN: usize = 2 + 4 * SLOTS_PER_DAY;

/// One day of half-hourly cumulative readings: slot `k` holds the counter at
/// `00:00 + k × 30 min` of the day `day` days before today; `None` is not measured.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct History {
    pub day: u16,
    pub slots: Vec<Option<u32>>,
}

impl History {
    fn decode(epc: u8, edt: &[u8]) -> Result<History, ValueError> {
        if edt.len() != HISTORY_LEN {
            return Err(ValueError::Length {
                epc,
                expected: "194 (day + 48 × 4)",
                actual: edt.len(),
            });
        }
        let day = u16::from_be_bytes([edt[0], edt[1]]);
        if day > MAX_HISTORY_DAYS {
            return Err(ValueError::Range {
                epc,
                what: "history day (0-999)",
            });
        }
        let slots = (0..SLOTS_PER_DAY)
            .map(|k| counter_or_unmeasured(epc, u32_at(edt, 2 + 4 * k)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(History { day, slots })
    }

    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(HISTORY_LEN);
        v.extend_from_slice(&self.day.to_be_bytes());
        for k in 0..SLOTS_PER_DAY {
            let value = self.slots.get(k).copied().flatten().unwrap_or(NOT_MEASURED);
            v.extend_from_slice(&value.to_be_bytes());
        }
        v
    }
}

/// A cumulative reading taken at a fixed time (0xE6-0xE8): on the hour or half hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FixedTimeReading {
    pub date: Date,
    pub time: TimeOfDay,
    pub value: Option<u32>,
}

impl FixedTimeReading {
    fn decode(epc: u8, edt: &[u8]) -> Result<FixedTimeReading, ValueError> {
        let b = exact::<11>(epc, edt, "11 (YYYY MM DD hh mm ss + 4)")?;
        let date = Date::decode_at(epc, &b[..4])?;
        let time = TimeOfDay::decode_hms(epc, &b[4..7])?;
        if time.minute % 30 != 0 || time.second != 0 {
            return Err(ValueError::Range {
                epc,
                what: "fixed time (on the hour or half hour)",
            });
        }
        let value = counter_or_unmeasured(epc, u32_at(&b, 7))?;
        Ok(FixedTimeReading { date, time, value })
    }

    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(11);
        v.extend_from_slice(&self.date.to_bytes());
        v.extend_from_slice(&self.time.to_hms());
        v.extend_from_slice(&self.value.unwrap_or(NOT_MEASURED).to_be_bytes());
        v
    }
}

fn counter_or_unmeasured(epc: u8, raw: u32) -> Result<Option<u32>, ValueError> {
    match raw {
        NOT_MEASURED => Ok(None),
        v if v <= COUNTER_MAX => Ok(Some(v)),
        _ => Err(ValueError::Range {
            epc,
            what: "cumulative energy (0-999,999,999 or 0xFFFFFFFE)",
        }),
    }
}

fn counter(epc: u8, edt: &[u8]) -> Result<u32, ValueError> {
    let v = u32::from_be_bytes(exact::<4>(epc, edt, "4")?);
    if v > COUNTER_MAX {
        return Err(ValueError::Range {
            epc,
            what: "cumulative energy (0-999,999,999)",
        });
    }
    Ok(v)
}

fn power(epc: u8, edt: &[u8]) -> Result<i32, ValueError> {
    let v = i32::from_be_bytes(exact::<4>(epc, edt, "4")?);
    if !(POWER_MIN..=POWER_MAX).contains(&v) {
        return Err(ValueError::Range {
            epc,
            what: "instantaneous power (-2,147,483,647..=2,147,483,645 W)",
        });
    }
    Ok(v)
}

fn history_day(epc: u8, edt: &[u8], min: u16) -> Result<u16, ValueError> {
    let v = u16::from_be_bytes(exact::<2>(epc, edt, "2")?);
    if !(min..=MAX_HISTORY_DAYS).contains(&v) {
        return Err(ValueError::Range {
            epc,
            what: "history day count (0-999; days held at least 1)",
        });
    }
    Ok(v)
}

/// A typed property of class 0x028E. The current date 0x98 is the super class's.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum MeterProperty {
    /// 0xD0: the kind of device metered, raw octets.
    DeviceType(#[cfg_attr(feature = "serde", serde(serialize_with = "super::hex"))] Vec<u8>),
    /// 0xD1: the meter's device ID (TRM-07, SEC-07), raw octets.
    DeviceId(#[cfg_attr(feature = "serde", serde(serialize_with = "super::hex"))] Vec<u8>),
    /// 0xD2: tolerance class code.
    ToleranceClass(u8),
    /// 0xD3: days of 30-minute history the meter holds.
    HistoryDaysHeld(u16),
    /// 0xD4: unit of 0xE0, 0xE2, 0xE4 and their histories.
    Unit(EnergyUnit),
    /// 0xD5: which day (0 = today) 0xE1, 0xE3, 0xE5 return.
    HistoryDay(u16),
    /// 0xD6: identification number of the metered device, raw octets.
    MeteredDeviceId(#[cfg_attr(feature = "serde", serde(serialize_with = "super::hex"))] Vec<u8>),
    /// 0xDA: current time of day.
    CurrentTime(TimeOfDay),
    /// 0xDB: whether the meter's clock is synchronised (0x41) or not (0x42).
    TimeSynchronised(bool),
    /// 0xE0: cumulative energy, AC input, in 0xD4 units.
    CumulativeIn(u32),
    /// 0xE1.
    HistoryIn(History),
    /// 0xE2: cumulative energy, AC output, in 0xD4 units.
    CumulativeOut(u32),
    /// 0xE3.
    HistoryOut(History),
    /// 0xE4: cumulative energy output during a power outage (self-sustained output).
    CumulativeOutage(u32),
    /// 0xE5.
    HistoryOutage(History),
    /// 0xE6.
    FixedTimeIn(FixedTimeReading),
    /// 0xE7.
    FixedTimeOut(FixedTimeReading),
    /// 0xE8.
    FixedTimeOutage(FixedTimeReading),
    /// 0xE9: instantaneous power, AC input/output, W (positive: input).
    InstantaneousPower(i32),
    /// 0xEA: instantaneous power output during a power outage, W.
    InstantaneousPowerOutage(i32),
}

impl MeterProperty {
    /// The EPCs this type decodes.
    pub const EPCS: [u8; 20] = [
        0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xDA, 0xDB, 0xE0, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5,
        0xE6, 0xE7, 0xE8, 0xE9, 0xEA,
    ];

    pub fn decode(epc: u8, edt: &[u8]) -> Result<MeterProperty, ValueError> {
        use MeterProperty as P;
        const RAW: &str = "1-64 octets";
        Ok(match epc {
            0xD0 => P::DeviceType(bounded(epc, edt, 1, MAX_ID_LEN, RAW)?),
            0xD1 => P::DeviceId(bounded(epc, edt, 1, MAX_ID_LEN, RAW)?),
            0xD2 => P::ToleranceClass(exact::<1>(epc, edt, "1")?[0]),
            0xD3 => P::HistoryDaysHeld(history_day(epc, edt, 1)?),
            0xD4 => P::Unit(EnergyUnit::from_code(exact::<1>(epc, edt, "1")?[0])?),
            0xD5 => P::HistoryDay(history_day(epc, edt, 0)?),
            0xD6 => P::MeteredDeviceId(bounded(epc, edt, 1, MAX_ID_LEN, RAW)?),
            0xDA => {
                exact::<3>(epc, edt, "3 (hh mm ss)")?;
                P::CurrentTime(TimeOfDay::decode_hms(epc, edt)?)
            }
            0xDB => match exact::<1>(epc, edt, "1")? {
                [0x41] => P::TimeSynchronised(true),
                [0x42] => P::TimeSynchronised(false),
                _ => {
                    return Err(ValueError::Range {
                        epc,
                        what: "time synchronisation (0x41 synchronised, 0x42 not)",
                    })
                }
            },
            0xE0 => P::CumulativeIn(counter(epc, edt)?),
            0xE1 => P::HistoryIn(History::decode(epc, edt)?),
            0xE2 => P::CumulativeOut(counter(epc, edt)?),
            0xE3 => P::HistoryOut(History::decode(epc, edt)?),
            0xE4 => P::CumulativeOutage(counter(epc, edt)?),
            0xE5 => P::HistoryOutage(History::decode(epc, edt)?),
            0xE6 => P::FixedTimeIn(FixedTimeReading::decode(epc, edt)?),
            0xE7 => P::FixedTimeOut(FixedTimeReading::decode(epc, edt)?),
            0xE8 => P::FixedTimeOutage(FixedTimeReading::decode(epc, edt)?),
            0xE9 => P::InstantaneousPower(power(epc, edt)?),
            0xEA => P::InstantaneousPowerOutage(power(epc, edt)?),
            _ => {
                return Err(ValueError::UnknownProperty {
                    class: ClassCode::DISTRIBUTED_GENERATION_METER.0,
                    epc,
                })
            }
        })
    }

    pub fn epc(&self) -> u8 {
        use MeterProperty as P;
        match self {
            P::DeviceType(_) => 0xD0,
            P::DeviceId(_) => 0xD1,
            P::ToleranceClass(_) => 0xD2,
            P::HistoryDaysHeld(_) => 0xD3,
            P::Unit(_) => 0xD4,
            P::HistoryDay(_) => 0xD5,
            P::MeteredDeviceId(_) => 0xD6,
            P::CurrentTime(_) => 0xDA,
            P::TimeSynchronised(_) => 0xDB,
            P::CumulativeIn(_) => 0xE0,
            P::HistoryIn(_) => 0xE1,
            P::CumulativeOut(_) => 0xE2,
            P::HistoryOut(_) => 0xE3,
            P::CumulativeOutage(_) => 0xE4,
            P::HistoryOutage(_) => 0xE5,
            P::FixedTimeIn(_) => 0xE6,
            P::FixedTimeOut(_) => 0xE7,
            P::FixedTimeOutage(_) => 0xE8,
            P::InstantaneousPower(_) => 0xE9,
            P::InstantaneousPowerOutage(_) => 0xEA,
        }
    }

    /// The EDT of this value. Fails when the value lies outside what its EDT can carry
    /// (fields are public, so such a value can be built): every EDT returned decodes back
    /// to exactly this value.
    pub fn encode(&self) -> Result<Vec<u8>, ValueError> {
        super::checked_encode(self, self.epc(), self.bytes(), Self::decode)
    }

    fn bytes(&self) -> Vec<u8> {
        use MeterProperty as P;
        match self {
            P::DeviceType(b) | P::DeviceId(b) | P::MeteredDeviceId(b) => b.clone(),
            P::ToleranceClass(c) => alloc::vec![*c],
            P::HistoryDaysHeld(d) | P::HistoryDay(d) => d.to_be_bytes().to_vec(),
            P::Unit(u) => alloc::vec![u.code()],
            P::CurrentTime(t) => t.to_hms().to_vec(),
            P::TimeSynchronised(s) => alloc::vec![if *s { 0x41 } else { 0x42 }],
            P::CumulativeIn(v) | P::CumulativeOut(v) | P::CumulativeOutage(v) => {
                v.to_be_bytes().to_vec()
            }
            P::HistoryIn(h) | P::HistoryOut(h) | P::HistoryOutage(h) => h.encode(),
            P::FixedTimeIn(r) | P::FixedTimeOut(r) | P::FixedTimeOutage(r) => r.encode(),
            P::InstantaneousPower(w) | P::InstantaneousPowerOutage(w) => w.to_be_bytes().to_vec(),
        }
    }

    /// The counter of 0xE0, 0xE2 or 0xE4, for conversion with the 0xD4 unit.
    pub fn cumulative_counts(&self) -> Option<u32> {
        match self {
            MeterProperty::CumulativeIn(v)
            | MeterProperty::CumulativeOut(v)
            | MeterProperty::CumulativeOutage(v) => Some(*v),
            _ => None,
        }
    }
}

impl fmt::Display for MeterProperty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use MeterProperty as P;
        match self {
            P::DeviceType(b) | P::DeviceId(b) | P::MeteredDeviceId(b) => write!(f, "{}", Hex(b)),
            P::ToleranceClass(c) => write!(f, "class 0x{c:02X}"),
            P::HistoryDaysHeld(d) => write!(f, "{d} days"),
            P::HistoryDay(d) => write!(f, "day -{d}"),
            P::Unit(u) => write!(f, "{u}"),
            P::CurrentTime(t) => write!(f, "{t}"),
            P::TimeSynchronised(true) => f.write_str("synchronised"),
            P::TimeSynchronised(false) => f.write_str("not synchronised"),
            P::CumulativeIn(v) | P::CumulativeOut(v) | P::CumulativeOutage(v) => {
                write!(f, "{v} counts")
            }
            P::HistoryIn(h) | P::HistoryOut(h) | P::HistoryOutage(h) => {
                let measured = h.slots.iter().filter(|s| s.is_some()).count();
                write!(f, "day -{}: {measured}/48 slots measured", h.day)?;
                if let Some(Some(last)) = h.slots.iter().rev().find(|s| s.is_some()) {
                    write!(f, ", last {last} counts")?;
                }
                Ok(())
            }
            P::FixedTimeIn(r) | P::FixedTimeOut(r) | P::FixedTimeOutage(r) => {
                write!(f, "{} {} ", r.date, r.time)?;
                match r.value {
                    Some(v) => write!(f, "{v} counts"),
                    None => f.write_str("not measured"),
                }
            }
            P::InstantaneousPower(w) | P::InstantaneousPowerOutage(w) => write!(f, "{w} W"),
        }
    }
}
