//! Power profiles that drive the emulated meter's counters.
//!
//! The default, `household`, is a roof-top PV system with a household-shaped load behind
//! the same meter: AC output follows the sun between 06:00 and 18:00 JST with a weather
//! factor per day, AC input follows a household load curve with morning and evening
//! peaks. Both are deterministic functions of local time so that a run can be repeated.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDateTime, Timelike};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What the meter sees flowing, in W, at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Power {
    /// AC input (0xE0 grows with it).
    pub input_w: f64,
    /// AC output (0xE2 grows with it).
    pub output_w: f64,
}

/// How the counters advance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Profile {
    /// PV generation plus a household load, `pv_peak_w` at a clear noon.
    Household { pv_peak_w: f64, base_load_w: f64 },
    /// Constant input and output power.
    Constant { input_w: f64, output_w: f64 },
}

impl Default for Profile {
    fn default() -> Profile {
        Profile::Household {
            pv_peak_w: 4_000.0,
            base_load_w: 150.0,
        }
    }
}

impl Profile {
    /// Power at local (JST) time `t`.
    pub fn power_at(&self, t: NaiveDateTime) -> Power {
        self.power_in_day(
            u64::from(t.date().num_days_from_ce().unsigned_abs()),
            t.num_seconds_from_midnight(),
        )
    }

    /// Power at `second` (0..86,400) of the local day `day` (days from the common era,
    /// as `Datelike::num_days_from_ce`): what [`Profile::power_at`] computes, for callers
    /// that step through time in integers (the meter's integration, every 60 s of every
    /// meter in a simulation) without building a date at each step.
    pub fn power_in_day(&self, day: u64, second: u32) -> Power {
        match *self {
            Profile::Constant { input_w, output_w } => Power { input_w, output_w },
            Profile::Household {
                pv_peak_w,
                base_load_w,
            } => {
                let shapes = Shapes::at(second);
                Power {
                    input_w: base_load_w
                        + 4.0 * base_load_w * shapes.morning
                        + 6.0 * base_load_w * shapes.evening,
                    output_w: pv_peak_w * shapes.solar * weather(day, u64::from(second / 1800)),
                }
            }
        }
    }
}

/// The household profile's shapes at one second of the day: the sun's clear-sky bell
/// between 06:00 and 18:00 (1.0 at noon), and the load's morning (07-09) and evening
/// (18-22) peaks (1.0 at their centres), on top of its base load.
#[derive(Debug, Clone, Copy)]
struct Shapes {
    solar: f64,
    morning: f64,
    evening: f64,
}

/// A meter integrates at the middle of each minute: [`Shapes`] there, computed once.
/// A simulation asks for them for every minute of every meter, and the `sin`, `powf`
/// and `exp` behind them were a few per cent of its time.
static MINUTES: std::sync::OnceLock<Vec<Shapes>> = std::sync::OnceLock::new();

impl Shapes {
    /// At `second` (0..86,400) of the day: from the table at a minute's middle, the
    /// same values as computed.
    fn at(second: u32) -> Self {
        if second % 60 == 30 {
            let table =
                MINUTES.get_or_init(|| (0..1440).map(|m| Self::computed(m * 60 + 30)).collect());
            if let Some(s) = table.get(second as usize / 60) {
                return *s;
            }
        }
        Self::computed(second)
    }

    fn computed(second: u32) -> Self {
        let hour = f64::from(second) / 3600.0;
        let peak = |centre: f64, width: f64| {
            let d = (hour - centre) / width;
            (-d * d).exp()
        };
        Self {
            solar: if (6.0..18.0).contains(&hour) {
                let x = (hour - 6.0) / 12.0 * std::f64::consts::PI;
                x.sin().powf(1.5)
            } else {
                0.0
            },
            morning: peak(7.5, 0.8),
            evening: peak(19.5, 1.5),
        }
    }
}

/// Cloud cover: a factor 0.3..=1.0 per day, varied a little per half hour (`slot`
/// 0..48 of the day).
fn weather(day: u64, slot: u64) -> f64 {
    let daily = 0.3 + 0.7 * unit_hash(day);
    let jitter = 0.85 + 0.15 * unit_hash(day * 64 + slot + 0x9E37);
    daily * jitter
}

/// A deterministic number in 0..1 from `x` (splitmix64).
fn unit_hash(x: u64) -> f64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    #[allow(clippy::cast_precision_loss)]
    let v = (z >> 11) as f64 / (1u64 << 53) as f64;
    v
}

/// A profile that does not parse.
#[derive(Debug, Error)]
#[error("profile must be `household` or `constant:IN_W:OUT_W` (non-negative watts), not `{0}`")]
pub struct ProfileParseError(String);

impl FromStr for Profile {
    type Err = ProfileParseError;

    /// `household` or `constant:IN_W:OUT_W`.
    fn from_str(s: &str) -> Result<Profile, ProfileParseError> {
        let err = || ProfileParseError(s.to_owned());
        if s == "household" {
            return Ok(Profile::default());
        }
        let rest = s.strip_prefix("constant:").ok_or_else(err)?;
        let (i, o) = rest.split_once(':').ok_or_else(err)?;
        let parse = |v: &str| {
            v.parse::<f64>()
                .ok()
                .filter(|w| w.is_finite() && *w >= 0.0 && *w <= 1e9)
                .ok_or_else(err)
        };
        Ok(Profile::Constant {
            input_w: parse(i)?,
            output_w: parse(o)?,
        })
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Profile::Household { pv_peak_w, .. } => write!(f, "household (PV peak {pv_peak_w} W)"),
            Profile::Constant { input_w, output_w } => write!(f, "constant:{input_w}:{output_w}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn the_shapes_kept_per_minute_are_the_ones_computed_to_the_bit() {
        for second in 0..86_400 {
            let (kept, computed) = (Shapes::at(second), Shapes::computed(second));
            for (a, b) in [
                (kept.solar, computed.solar),
                (kept.morning, computed.morning),
                (kept.evening, computed.evening),
            ] {
                assert_eq!(a.to_bits(), b.to_bits(), "second {second}");
            }
        }
    }

    fn at(h: u32, m: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 25)
            .and_then(|d| d.and_hms_opt(h, m, 0))
            .unwrap()
    }

    #[test]
    fn household_generates_by_day_and_not_at_night() {
        let p = Profile::default();
        assert_eq!(p.power_at(at(2, 0)).output_w, 0.0);
        assert!(p.power_at(at(12, 0)).output_w > 1_000.0);
        assert!(p.power_at(at(20, 0)).input_w > p.power_at(at(3, 0)).input_w);
        assert!(p.power_at(at(3, 0)).input_w >= 150.0);
    }

    #[test]
    fn profiles_parse() {
        assert_eq!("household".parse::<Profile>().unwrap(), Profile::default());
        assert_eq!(
            "constant:500:1500".parse::<Profile>().unwrap(),
            Profile::Constant {
                input_w: 500.0,
                output_w: 1500.0
            }
        );
        for bad in ["constant:-1:0", "constant:1", "sunny", "constant:nan:1"] {
            assert!(bad.parse::<Profile>().is_err(), "{bad}");
        }
    }
}
