//! What the emulated meter measures and remembers: the three counters, the half-hourly
//! history, the last fixed-time readings and its own clock. Serialisable, so that
//! `iotroute meter --state FILE` survives restarts.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, Timelike, Utc};
use echonet::energy::{EnergyUnit, COUNTER_MAX};
use echonet::objects::SLOTS_PER_DAY;
use serde::{Deserialize, Serialize};

use super::profile::Profile;
use crate::jst;

/// Which counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// 0xE0 / 0xE1 / 0xE6.
    Input,
    /// 0xE2 / 0xE3 / 0xE7.
    Output,
    /// 0xE4 / 0xE5 / 0xE8: output during a power outage; an emulated grid never fails,
    /// so it stays where it started.
    Outage,
}

/// One cumulative counter with the fraction of a unit not yet counted.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    pub value: u32,
    /// Energy accumulated and not yet a whole count, in millijoules (mWs); an integer so
    /// that constant power counts exactly and a saved state restores exactly.
    pub remainder_mj: u64,
    /// And the fraction of a millijoule below that, in picojoules (under 10^9): energy
    /// is counted exactly (milliwatts × nanoseconds), however often it is asked for.
    #[serde(default)]
    pub remainder_pj: u64,
}

impl Counter {
    pub fn new(value: u32) -> Counter {
        Counter {
            value: value.min(COUNTER_MAX),
            remainder_mj: 0,
            remainder_pj: 0,
        }
    }

    /// Adds `mj` millijoules, `mj_per_count` to a count, wrapping past 999,999,999 to 0
    /// like a real register.
    fn add(&mut self, pj: u128, pj_per_count: u128) {
        let total = u128::from(self.remainder_mj) * PJ_PER_MJ + u128::from(self.remainder_pj) + pj;
        let rest = total % pj_per_count;
        self.remainder_mj = u64::try_from(rest / PJ_PER_MJ).unwrap_or(u64::MAX);
        self.remainder_pj = u64::try_from(rest % PJ_PER_MJ).unwrap_or(0);
        let modulus = u128::from(COUNTER_MAX) + 1;
        let whole = (total / pj_per_count) % modulus;
        let next = (u128::from(self.value) + whole) % modulus;
        self.value = u32::try_from(next).unwrap_or(0);
    }
}

/// The readings of one meter-local day, slot `k` at `00:00 + k × 30 min`: the three
/// counters of each slot in one boxed block, [`NOT_RECORDED`] where none was (576
/// bytes a day, where three vectors of `Option<u32>` took 1,224 and a simulated run
/// holds a meter per terminal). Saved as three arrays with `null` where none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "SavedDay", try_from = "SavedDay")]
pub struct DayHistory {
    slots: Box<[[u32; 3]; SLOTS_PER_DAY]>,
}

/// A slot without a reading: above any counter (999,999,999 at most).
const NOT_RECORDED: u32 = u32::MAX;

impl DayHistory {
    fn empty() -> DayHistory {
        DayHistory {
            slots: Box::new([[NOT_RECORDED; 3]; SLOTS_PER_DAY]),
        }
    }

    /// The day's readings of counter `c`, slot by slot.
    pub fn channel(&self, c: Channel) -> Vec<Option<u32>> {
        let i = Self::column(c);
        self.slots
            .iter()
            .map(|s| Some(s[i]).filter(|v| *v != NOT_RECORDED))
            .collect()
    }

    /// Counter `c` at slot `k` of the day, if recorded.
    pub fn get(&self, c: Channel, k: usize) -> Option<u32> {
        let v = self.slots.get(k)?[Self::column(c)];
        (v != NOT_RECORDED).then_some(v)
    }

    const fn column(c: Channel) -> usize {
        match c {
            Channel::Input => 0,
            Channel::Output => 1,
            Channel::Outage => 2,
        }
    }
}

/// [`DayHistory`] as saved (`--state`).
#[derive(Serialize, Deserialize)]
struct SavedDay {
    input: Vec<Option<u32>>,
    output: Vec<Option<u32>>,
    outage: Vec<Option<u32>>,
}

impl From<DayHistory> for SavedDay {
    fn from(d: DayHistory) -> SavedDay {
        SavedDay {
            input: d.channel(Channel::Input),
            output: d.channel(Channel::Output),
            outage: d.channel(Channel::Outage),
        }
    }
}

/// A saved day that is not one: not 48 slots a counter, or a value above a counter's.
#[derive(Debug, thiserror::Error)]
#[error("saved meter history: {0}")]
pub struct SavedDayError(&'static str);

impl TryFrom<SavedDay> for DayHistory {
    type Error = SavedDayError;

    fn try_from(saved: SavedDay) -> Result<DayHistory, SavedDayError> {
        let mut day = DayHistory::empty();
        for (c, values) in [
            (Channel::Input, saved.input),
            (Channel::Output, saved.output),
            (Channel::Outage, saved.outage),
        ] {
            if values.len() != SLOTS_PER_DAY {
                return Err(SavedDayError("a day has 48 slots"));
            }
            for (slot, v) in day.slots.iter_mut().zip(values) {
                if let Some(v) = v {
                    if v > COUNTER_MAX {
                        return Err(SavedDayError("a counter above 999,999,999"));
                    }
                    slot[DayHistory::column(c)] = v;
                }
            }
        }
        Ok(day)
    }
}

/// A reading taken at the last half-hour boundary (0xE6-0xE8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedTime {
    pub at: NaiveDateTime,
    pub input: u32,
    pub output: u32,
    pub outage: u32,
}

/// The whole measuring state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeterState {
    pub input: Counter,
    pub output: Counter,
    pub outage: Counter,
    /// Days of history kept (0xD3).
    pub days_held: u16,
    pub history: BTreeMap<NaiveDate, DayHistory>,
    pub fixed: Option<FixedTime>,
    /// Meter-local time minus JST: zero until a controller sets the clock.
    pub clock_offset_ms: i64,
    /// 0xDB: whether a controller has set the clock.
    pub synchronised: bool,
    /// 0xD5: which day 0xE1/0xE3/0xE5 return.
    pub history_day: u16,
    /// 0x81.
    pub location: Vec<u8>,
    /// Wall-clock instant up to which the counters have been integrated.
    pub integrated_to: DateTime<Utc>,
}

/// The integration's grid, aligned to the meter's midnight: the power is constant
/// within each step (its value at the step's middle), which keeps the curve's shape
/// within a half hour.
const STEP_SECONDS: i64 = 60;

/// Picojoules in a millijoule.
const PJ_PER_MJ: u128 = 1_000_000_000;

impl MeterState {
    pub fn new(start_in: u32, start_out: u32, days_held: u16, now: DateTime<Utc>) -> MeterState {
        MeterState {
            input: Counter::new(start_in),
            output: Counter::new(start_out),
            outage: Counter::new(0),
            days_held: days_held.max(1),
            history: BTreeMap::new(),
            fixed: None,
            clock_offset_ms: 0,
            synchronised: false,
            history_day: 0,
            location: vec![0x00],
            integrated_to: now,
        }
    }

    /// The meter's own clock at `now`.
    pub fn local_time(&self, now: DateTime<Utc>) -> NaiveDateTime {
        jst(now) + Duration::milliseconds(self.clock_offset_ms)
    }

    /// Sets the meter's clock so that it reads `local` at `now` (TRM-09, from the
    /// controller's side).
    pub fn set_local_time(&mut self, now: DateTime<Utc>, local: NaiveDateTime) {
        self.clock_offset_ms = (local - jst(now)).num_milliseconds();
        self.synchronised = true;
    }

    pub fn counter(&self, c: Channel) -> u32 {
        match c {
            Channel::Input => self.input.value,
            Channel::Output => self.output.value,
            Channel::Outage => self.outage.value,
        }
    }

    /// Integrates the profile's power from the last call up to `now`, recording the
    /// counters at every half-hour boundary of the meter's clock on the way. A `now`
    /// earlier than the last call changes nothing.
    pub fn advance(&mut self, now: DateTime<Utc>, profile: &Profile, unit: EnergyUnit) {
        // Spans of nanoseconds fit an i64 up to 292 years: integrate a century at a time.
        let century = Duration::days(36_500);
        while self.integrated_to < now {
            let before = self.integrated_to;
            let to = before
                .checked_add_signed(century)
                .map_or(now, |c| now.min(c));
            self.integrate(to, profile, unit);
            if self.integrated_to == before {
                break;
            }
        }
    }

    /// [`MeterState::advance`] over a span that fits in i64 nanoseconds, over the
    /// 60-second grid of the meter's clock (which half-hour boundaries are on): each
    /// grid step at the power of its middle, in integer milliwatts × nanoseconds. So
    /// the counters at an instant do not depend on how often, or when, they were asked
    /// for before (a meter read every second counts what one read every half hour
    /// does; a simulation wakes its terminals at times of the radio's choosing).
    /// Computed in integer nanoseconds from the local midnight before the start (a
    /// simulation integrates its meters often: building dates at each step was a sixth
    /// of its time).
    fn integrate(&mut self, to: DateTime<Utc>, profile: &Profile, unit: EnergyUnit) {
        const SECOND: i64 = 1_000_000_000;
        const DAY: i64 = 86_400 * SECOND;
        const HALF_HOUR: i64 = 1800 * SECOND;
        const STEP: i64 = STEP_SECONDS * SECOND;
        // One count is `unit` kWh: 0.0001 kWh is 360 Ws, 360,000 mWs.
        let pj_per_count = u128::from(unit.subunits()) * 360_000 * PJ_PER_MJ;
        let from = self.integrated_to;
        let local_from = self.local_time(from);
        let first_day = i64::from(local_from.date().num_days_from_ce());
        let start = i64::from(local_from.num_seconds_from_midnight()) * SECOND
            + i64::from(local_from.nanosecond());
        let end = start + (to - from).num_nanoseconds().unwrap_or(0);
        // The energy of the steps since the counters last took some: they take it at
        // each half hour (recorded) and at the end, not at every step — the same counts,
        // integer division being exact, for a division in 128 bits of every step (of
        // every meter of a simulation, a thirtieth of its time).
        let (mut pj_in, mut pj_out) = (0u128, 0u128);
        let mut t = start;
        while t < end {
            let step_start = t.div_euclid(STEP) * STEP;
            let until = end.min(step_start + STEP);
            let mid = step_start + STEP / 2;
            let day = (first_day + mid.div_euclid(DAY)).unsigned_abs();
            let second = u32::try_from(mid.rem_euclid(DAY) / SECOND).unwrap_or(0);
            let power = profile.power_in_day(day, second);
            let ns = (until - t).unsigned_abs();
            // At most 2^64 mW × 60 s a step, 2^125 pJ over the century integrated at
            // once: no overflow.
            pj_in = pj_in.saturating_add(picojoules(power.input_w, ns));
            pj_out = pj_out.saturating_add(picojoules(power.output_w, ns));
            t = until;
            if t.rem_euclid(HALF_HOUR) == 0 {
                self.input.add(core::mem::take(&mut pj_in), pj_per_count);
                self.output.add(core::mem::take(&mut pj_out), pj_per_count);
                self.record(local_from + Duration::nanoseconds(t - start));
            }
        }
        self.input.add(pj_in, pj_per_count);
        self.output.add(pj_out, pj_per_count);
        self.integrated_to = from + Duration::nanoseconds(end - start);
    }

    /// Stores the counters as the reading of the half-hour boundary `at`.
    fn record(&mut self, at: NaiveDateTime) {
        let slot = usize::try_from(at.hour() * 2 + at.minute() / 30).unwrap_or(0);
        let (i, o, g) = (self.input.value, self.output.value, self.outage.value);
        let day = self
            .history
            .entry(at.date())
            .or_insert_with(DayHistory::empty);
        if let Some(s) = day.slots.get_mut(slot) {
            *s = [i, o, g];
        }
        self.fixed = Some(FixedTime {
            at,
            input: i,
            output: o,
            outage: g,
        });
        let keep_from = at.date() - Duration::days(i64::from(self.days_held) - 1);
        // Dropped in place: `split_off` built a new map at every half hour of every
        // meter of a simulation.
        while self
            .history
            .first_key_value()
            .is_some_and(|(d, _)| *d < keep_from)
        {
            self.history.pop_first();
        }
    }

    /// The history of the day `history_day` days before the meter's today.
    pub fn history_of(&self, now: DateTime<Utc>, channel: Channel) -> Vec<Option<u32>> {
        let day = self.local_time(now).date() - Duration::days(i64::from(self.history_day));
        self.history
            .get(&day)
            .map(|d| d.channel(channel))
            .unwrap_or_else(|| vec![None; SLOTS_PER_DAY])
    }
}

/// Energy of `watts`, taken to the milliwatt, over `ns` nanoseconds, in picojoules:
/// exact, so that energy adds up the same however the time is cut.
fn picojoules(watts: f64, ns: u64) -> u128 {
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let milliwatts = (watts.max(0.0) * 1000.0).round() as u64;
    u128::from(milliwatts) * u128::from(ns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, h, m, s).unwrap()
    }

    #[test]
    fn constant_power_counts_exactly() {
        // 1 kW for one hour is 1 kWh = 1000 counts of 0.001 kWh.
        let profile = Profile::Constant {
            input_w: 1000.0,
            output_w: 500.0,
        };
        let mut s = MeterState::new(0, 0, 7, utc(0, 0, 0));
        s.advance(utc(1, 0, 0), &profile, EnergyUnit::Kwh0_001);
        assert_eq!(s.input.value, 1000);
        assert_eq!(s.output.value, 500);
    }

    #[test]
    fn counter_wraps_past_nine_digits() {
        let profile = Profile::Constant {
            input_w: 3600.0,
            output_w: 0.0,
        };
        // 3.6 kW for 10 s = 10 Wh = 10 counts of 0.001 kWh.
        let mut s = MeterState::new(999_999_995, 0, 7, utc(0, 0, 0));
        s.advance(utc(0, 0, 10), &profile, EnergyUnit::Kwh0_001);
        assert_eq!(s.input.value, 5);
    }

    #[test]
    fn history_records_each_half_hour_of_the_meter_clock() {
        let profile = Profile::Constant {
            input_w: 1000.0,
            output_w: 0.0,
        };
        // 00:10 UTC is 09:10 JST.
        let mut s = MeterState::new(0, 0, 2, utc(0, 10, 0));
        s.advance(utc(1, 10, 0), &profile, EnergyUnit::Kwh0_001);
        let today = s.history_of(utc(1, 10, 0), Channel::Input);
        assert_eq!(today[18], None); // 09:00, before the meter started
        assert_eq!(today[19], Some(333)); // 09:30: 20 minutes at 1 kW
        assert_eq!(today[20], Some(833)); // 10:00
        assert_eq!(s.fixed.unwrap().input, 833);
    }

    #[test]
    fn history_keeps_only_the_days_held() {
        let profile = Profile::Constant {
            input_w: 10.0,
            output_w: 0.0,
        };
        let start = utc(0, 0, 0);
        let mut s = MeterState::new(0, 0, 2, start);
        s.advance(start + Duration::days(3), &profile, EnergyUnit::Kwh0_001);
        assert_eq!(s.history.len(), 2);
    }

    #[test]
    fn setting_the_clock_moves_the_local_time() {
        let mut s = MeterState::new(0, 0, 2, utc(0, 0, 0));
        let target = NaiveDate::from_ymd_opt(2030, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        s.set_local_time(utc(0, 0, 0), target);
        assert_eq!(s.local_time(utc(0, 0, 5)), target + Duration::seconds(5));
        assert!(s.synchronised);
    }

    /// The history is kept compact but saved as before (`--state` files of earlier
    /// versions load): three arrays of 48 with `null` where no reading was recorded; a
    /// saved day that is not one is refused, not read as something else.
    #[test]
    fn the_history_is_saved_as_three_arrays_and_a_bad_one_refused() {
        let profile = Profile::Constant {
            input_w: 1000.0,
            output_w: 0.0,
        };
        let mut s = MeterState::new(7, 0, 7, utc(0, 10, 0));
        s.advance(utc(1, 0, 0), &profile, EnergyUnit::Kwh0_001);
        let json = serde_json::to_value(&s).unwrap();
        let day = json["history"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .clone();
        let input = day["input"].as_array().unwrap();
        assert_eq!(input.len(), 48);
        // 09:30 and 10:00 JST (00:30 and 01:00 UTC) recorded, nothing else.
        assert_eq!(input[19], serde_json::json!(7 + 333));
        assert_eq!(input[20], serde_json::json!(7 + 833));
        assert_eq!(input.iter().filter(|v| v.is_null()).count(), 46);
        assert_eq!(day["outage"][19], serde_json::json!(0));
        let back: MeterState = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.history_of(utc(1, 0, 0), Channel::Input)[20], Some(840));
        for bad in [
            serde_json::json!(vec![serde_json::Value::Null; 47]),
            serde_json::json!(vec![1_000_000_000u32; 48]),
        ] {
            let mut j = json.clone();
            let key = j["history"]
                .as_object()
                .unwrap()
                .keys()
                .next()
                .unwrap()
                .clone();
            j["history"][&key]["input"] = bad;
            let e = serde_json::from_value::<MeterState>(j).unwrap_err();
            assert!(e.to_string().contains("saved meter history"), "{e}");
        }
    }

    proptest::proptest! {
        /// The counters and the history at an instant are the same however often the
        /// meter was integrated on the way (a simulation wakes its terminals, which
        /// integrate their meters, at times the radio decides).
        #[test]
        fn the_counters_do_not_depend_on_how_often_they_are_asked(
            cuts in proptest::collection::vec(0u64..6 * 3_600_000_000_000, 0..40),
            unit in proptest::sample::select(vec![EnergyUnit::Kwh0_0001, EnergyUnit::Kwh0_001, EnergyUnit::Kwh0_1]),
        ) {
            let profile = Profile::Household { pv_peak_w: 4321.5, base_load_w: 377.25 };
            let start = utc(1, 2, 3) + Duration::nanoseconds(123_456_789);
            let end = start + Duration::hours(6);
            let mut once = MeterState::new(1234, 56, 7, start);
            once.advance(end, &profile, unit);
            let mut often = MeterState::new(1234, 56, 7, start);
            let mut cuts = cuts;
            cuts.sort_unstable();
            for c in cuts {
                let at = start + Duration::nanoseconds(i64::try_from(c).unwrap());
                often.advance(at, &profile, unit);
            }
            often.advance(end, &profile, unit);
            proptest::prop_assert_eq!(once, often);
        }
    }
}
