//! A household's consumption and PV export, for the demo models that `dlms serve` and
//! `sim --link` serve: the registers grow like a home's, continuing the shape the demo
//! filler gives the load profile.

use chrono::{DateTime, Duration, Timelike, Utc};
use dlms::cosem::IotRouteModel;

/// Household power (W) at `t`: import and PV export by the JST hour, as the demo filler
/// shapes its slots, so that live growth continues the demo profile's pattern.
fn household_w(t: DateTime<Utc>) -> (f64, f64) {
    let hour = (t + Duration::hours(9)).hour();
    let import = match hour {
        0..=5 => 240.0,
        6..=8 => 760.0,
        9..=16 => 400.0,
        17..=22 => 920.0,
        _ => 440.0,
    };
    let export = match hour {
        9 | 14 => 300.0,
        10 | 13 => 600.0,
        11 | 12 => 840.0,
        _ => 0.0,
    };
    (import, export)
}

/// The registers, growing with [`household_w`]; fractions of a Wh carried over.
#[derive(Debug)]
pub struct Household {
    last: DateTime<Utc>,
    carry: (f64, f64),
}

impl Household {
    /// Registers that start growing at `now`.
    #[must_use]
    pub const fn new(now: DateTime<Utc>) -> Self {
        Self {
            last: now,
            carry: (0.0, 0.0),
        }
    }

    /// Grow `model`'s registers by the energy used and exported since the last call.
    pub fn advance(&mut self, model: &mut IotRouteModel, now: DateTime<Utc>) {
        let dt = (now - self.last).num_milliseconds();
        if dt <= 0 {
            return;
        }
        self.last = now;
        // At most an hour at once: a suspended machine does not make a jump.
        #[allow(clippy::cast_precision_loss)]
        let hours = dt.min(3_600_000) as f64 / 3_600_000.0;
        let (pi, pe) = household_w(now);
        self.carry.0 += pi * hours;
        self.carry.1 += pe * hours;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let (di, de) = (self.carry.0.floor() as u32, self.carry.1.floor() as u32);
        self.carry.0 -= f64::from(di);
        self.carry.1 -= f64::from(de);
        if di > 0 || de > 0 {
            let (i, e) = model.energy();
            model.set_energy(i.wrapping_add(di), e.wrapping_add(de));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use dlms::cosem::ModelConfig;

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, h, m, s).unwrap()
    }

    #[test]
    fn trm05_registers_grow_like_a_household() {
        // 09:00 UTC = 18:00 JST: evening import 920 W, no PV export.
        let mut m = IotRouteModel::new(&ModelConfig::default(), t(9, 0, 0)).unwrap();
        m.set_energy(1000, 2000);
        let mut h = Household::new(t(9, 0, 0));
        for minute in 1..=60 {
            h.advance(&mut m, t(9, 0, 0) + Duration::minutes(minute));
        }
        let (i, e) = m.energy();
        assert!((1919..=1920).contains(&i), "{i}");
        assert_eq!(e, 2000);
        // Noon JST (03:00 UTC): PV export.
        h.advance(&mut m, t(3, 0, 0));
        h.last = t(3, 0, 0);
        h.advance(&mut m, t(3, 30, 0));
        assert!(m.energy().1 > 2000);
    }
}
