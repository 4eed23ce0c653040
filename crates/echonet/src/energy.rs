//! Cumulative energy: the meter's counter, the 8-digit reading the utility keeps, and
//! exact kWh.
//!
//! A 0x028E meter reports cumulative energy (0xE0, 0xE2, 0xE4) as a 9-digit counter
//! (0..=999,999,999) in the unit of 0xD4. The terminal keeps only the lower 8 digits
//! (TRM-03), so the reading wraps at 10^8 counts: 99,999.999 kWh with the 0.001 kWh unit,
//! but 9,999,999.9 kWh with 0.1 kWh. Every consumer of readings goes through this module,
//! so that the wrap point always follows the unit and no layer reinvents the arithmetic.
//!
//! Energy is kept as an exact integer of 0.0001 kWh (0.1 Wh), the finest unit 0xD4 can
//! name; floating point never touches a reading.

use core::fmt;
use core::str::FromStr;

use crate::ValueError;

/// EPC of the unit property of class 0x028E, used in errors.
const EPC_UNIT: u8 = 0xD4;

/// Largest counter value a 0x028E meter may report (9 digits).
pub const COUNTER_MAX: u32 = 999_999_999;

/// The modulus of the 8-digit reading the terminal keeps (TRM-03).
pub const READING_MODULUS: u32 = 100_000_000;

/// 0.0001 kWh units per kWh.
const SUBUNITS_PER_KWH: u64 = 10_000;

/// The unit of the cumulative energy counters, property 0xD4 of class 0x028E.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnergyUnit {
    /// 0x00: 1 kWh.
    Kwh1,
    /// 0x01: 0.1 kWh.
    Kwh0_1,
    /// 0x02: 0.01 kWh.
    Kwh0_01,
    /// 0x03: 0.001 kWh (1 Wh), the unit TRM-05 reports in.
    Kwh0_001,
    /// 0x04: 0.0001 kWh.
    Kwh0_0001,
    /// 0x0A: 10 kWh.
    Kwh10,
    /// 0x0B: 100 kWh.
    Kwh100,
    /// 0x0C: 1000 kWh.
    Kwh1000,
    /// 0x0D: 10000 kWh.
    Kwh10000,
}

impl EnergyUnit {
    pub const ALL: [EnergyUnit; 9] = [
        EnergyUnit::Kwh1,
        EnergyUnit::Kwh0_1,
        EnergyUnit::Kwh0_01,
        EnergyUnit::Kwh0_001,
        EnergyUnit::Kwh0_0001,
        EnergyUnit::Kwh10,
        EnergyUnit::Kwh100,
        EnergyUnit::Kwh1000,
        EnergyUnit::Kwh10000,
    ];

    /// The unit named by a 0xD4 byte.
    pub const fn from_code(code: u8) -> Result<EnergyUnit, ValueError> {
        Ok(match code {
            0x00 => EnergyUnit::Kwh1,
            0x01 => EnergyUnit::Kwh0_1,
            0x02 => EnergyUnit::Kwh0_01,
            0x03 => EnergyUnit::Kwh0_001,
            0x04 => EnergyUnit::Kwh0_0001,
            0x0A => EnergyUnit::Kwh10,
            0x0B => EnergyUnit::Kwh100,
            0x0C => EnergyUnit::Kwh1000,
            0x0D => EnergyUnit::Kwh10000,
            _ => {
                return Err(ValueError::Range {
                    epc: EPC_UNIT,
                    what: "unit code (0x00-0x04, 0x0A-0x0D)",
                })
            }
        })
    }

    /// The 0xD4 byte of this unit.
    pub const fn code(self) -> u8 {
        match self {
            EnergyUnit::Kwh1 => 0x00,
            EnergyUnit::Kwh0_1 => 0x01,
            EnergyUnit::Kwh0_01 => 0x02,
            EnergyUnit::Kwh0_001 => 0x03,
            EnergyUnit::Kwh0_0001 => 0x04,
            EnergyUnit::Kwh10 => 0x0A,
            EnergyUnit::Kwh100 => 0x0B,
            EnergyUnit::Kwh1000 => 0x0C,
            EnergyUnit::Kwh10000 => 0x0D,
        }
    }

    /// One count of this unit in 0.0001 kWh.
    pub const fn subunits(self) -> u64 {
        match self {
            EnergyUnit::Kwh0_0001 => 1,
            EnergyUnit::Kwh0_001 => 10,
            EnergyUnit::Kwh0_01 => 100,
            EnergyUnit::Kwh0_1 => 1_000,
            EnergyUnit::Kwh1 => 10_000,
            EnergyUnit::Kwh10 => 100_000,
            EnergyUnit::Kwh100 => 1_000_000,
            EnergyUnit::Kwh1000 => 10_000_000,
            EnergyUnit::Kwh10000 => 100_000_000,
        }
    }

    /// Decimal places needed to print a count of this unit exactly in kWh.
    pub const fn decimals(self) -> u8 {
        match self {
            EnergyUnit::Kwh0_0001 => 4,
            EnergyUnit::Kwh0_001 => 3,
            EnergyUnit::Kwh0_01 => 2,
            EnergyUnit::Kwh0_1 => 1,
            _ => 0,
        }
    }

    /// The energy of `counts` of this unit.
    pub const fn energy(self, counts: u32) -> Energy {
        Energy(counts as u64 * self.subunits())
    }

    /// The energy at which the 8-digit reading wraps to zero with this unit.
    pub const fn wrap(self) -> Energy {
        self.energy(READING_MODULUS)
    }
}

impl fmt::Display for EnergyUnit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            EnergyUnit::Kwh1 => "1",
            EnergyUnit::Kwh0_1 => "0.1",
            EnergyUnit::Kwh0_01 => "0.01",
            EnergyUnit::Kwh0_001 => "0.001",
            EnergyUnit::Kwh0_0001 => "0.0001",
            EnergyUnit::Kwh10 => "10",
            EnergyUnit::Kwh100 => "100",
            EnergyUnit::Kwh1000 => "1000",
            EnergyUnit::Kwh10000 => "10000",
        };
        write!(f, "{s} kWh")
    }
}

/// Serialises as operators write it, `"0.001 kWh"`.
#[cfg(feature = "serde")]
impl serde::Serialize for EnergyUnit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Parses a unit as the kWh figure it stands for: `0.001`, `1`, `10000` (an optional
/// ` kWh` or `kWh` suffix is accepted).
impl FromStr for EnergyUnit {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<EnergyUnit, ValueError> {
        let s = s.trim();
        let s = s
            .strip_suffix("kWh")
            .or_else(|| s.strip_suffix("kwh"))
            .unwrap_or(s)
            .trim();
        EnergyUnit::ALL
            .into_iter()
            .find(|u| {
                let mut buf = UnitName::default();
                let _ = fmt::write(&mut buf, format_args!("{u}"));
                buf.as_str().strip_suffix(" kWh") == Some(s)
            })
            .ok_or(ValueError::Range {
                epc: EPC_UNIT,
                what: "unit (one of 1, 0.1, 0.01, 0.001, 0.0001, 10, 100, 1000, 10000 kWh)",
            })
    }
}

/// A tiny fixed buffer so that unit names can be compared without `alloc`.
#[derive(Default)]
struct UnitName {
    buf: [u8; 16],
    len: usize,
}

impl UnitName {
    fn as_str(&self) -> &str {
        core::str::from_utf8(self.buf.get(..self.len).unwrap_or(&[])).unwrap_or("")
    }
}

impl fmt::Write for UnitName {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// An exact amount of energy, in 0.0001 kWh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Energy(pub u64);

impl Energy {
    pub const ZERO: Energy = Energy(0);

    /// Whole 0.0001 kWh units.
    pub const fn subunits(self) -> u64 {
        self.0
    }

    /// Watt-hours, truncated towards zero.
    pub const fn wh(self) -> u64 {
        self.0 / 10
    }

    /// This amount in counts of `unit`, truncated, and whether the division was exact.
    pub const fn counts(self, unit: EnergyUnit) -> (u64, bool) {
        (self.0 / unit.subunits(), self.0 % unit.subunits() == 0)
    }

    /// An approximate kWh figure for plots and JSON consumers that want a number.
    #[allow(clippy::cast_precision_loss)]
    pub fn kwh_f64(self) -> f64 {
        self.0 as f64 / SUBUNITS_PER_KWH as f64
    }

    /// Formats with exactly `decimals` places (0..=4), truncating any finer digits.
    pub fn display(self, decimals: u8) -> impl fmt::Display {
        KwhDisplay {
            energy: self,
            decimals: decimals.min(4),
        }
    }
}

impl core::ops::Add for Energy {
    type Output = Energy;
    fn add(self, rhs: Energy) -> Energy {
        Energy(self.0.saturating_add(rhs.0))
    }
}

/// Prints the exact amount with 4 decimals and ` kWh`.
impl fmt::Display for Energy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} kWh", self.display(4))
    }
}

struct KwhDisplay {
    energy: Energy,
    decimals: u8,
}

impl fmt::Display for KwhDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.energy.0 / SUBUNITS_PER_KWH;
        let frac = self.energy.0 % SUBUNITS_PER_KWH;
        if self.decimals == 0 {
            return write!(f, "{whole}");
        }
        let drop = 10u64.pow(u32::from(4 - self.decimals));
        write!(
            f,
            "{whole}.{:0width$}",
            frac / drop,
            width = usize::from(self.decimals)
        )
    }
}

/// What the terminal keeps of one cumulative energy reading: the lower 8 digits of the
/// meter's counter and the unit they count in (TRM-03).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MeterReading {
    digits: u32,
    unit: EnergyUnit,
}

impl MeterReading {
    /// TRM-03: take the meter's 9-digit counter and keep its lower 8 digits.
    ///
    /// A counter above 999,999,999 is not a valid 0x028E value and is refused rather
    /// than reduced: silently altering a reading is worse than reporting it.
    pub const fn from_counter(counter: u32, unit: EnergyUnit) -> Result<MeterReading, ValueError> {
        if counter > COUNTER_MAX {
            return Err(ValueError::Range {
                epc: 0xE0,
                what: "cumulative energy counter (0..=999,999,999)",
            });
        }
        Ok(MeterReading {
            digits: counter % READING_MODULUS,
            unit,
        })
    }

    /// A reading already reduced to 8 digits, as stored or sent upstream.
    pub const fn from_digits(digits: u32, unit: EnergyUnit) -> Result<MeterReading, ValueError> {
        if digits >= READING_MODULUS {
            return Err(ValueError::Range {
                epc: 0xE0,
                what: "8-digit reading (0..=99,999,999)",
            });
        }
        Ok(MeterReading { digits, unit })
    }

    /// The 8 digits kept.
    pub const fn digits(self) -> u32 {
        self.digits
    }

    pub const fn unit(self) -> EnergyUnit {
        self.unit
    }

    /// The exact energy the 8 digits stand for.
    pub const fn energy(self) -> Energy {
        self.unit.energy(self.digits)
    }

    /// Energy metered from `earlier` to `self`, modulo 10^8 counts, so that a reading
    /// that wrapped past 99,999,999 still yields the right amount. Fails when the unit
    /// changed between the two readings: the difference is then meaningless.
    pub fn since(self, earlier: MeterReading) -> Result<Energy, ValueError> {
        if self.unit != earlier.unit {
            return Err(ValueError::Range {
                epc: EPC_UNIT,
                what: "unit changed between the two readings",
            });
        }
        let counts = (self.digits + READING_MODULUS - earlier.digits) % READING_MODULUS;
        Ok(self.unit.energy(counts))
    }
}

/// Prints the reading as exact kWh with the decimals its unit carries.
impl fmt::Display for MeterReading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} kWh", self.energy().display(self.unit.decimals()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn unit_codes_round_trip_and_others_are_refused() {
        for u in EnergyUnit::ALL {
            assert_eq!(EnergyUnit::from_code(u.code()), Ok(u));
            assert_eq!(u.to_string().strip_suffix(" kWh").unwrap().parse(), Ok(u));
        }
        for code in [0x05, 0x09, 0x0E, 0xFF] {
            assert!(EnergyUnit::from_code(code).is_err());
        }
        assert!("0.5".parse::<EnergyUnit>().is_err());
        assert_eq!("0.001 kWh".parse(), Ok(EnergyUnit::Kwh0_001));
    }

    #[test]
    fn trm03_keeps_the_lower_eight_digits() {
        let r = MeterReading::from_counter(987_654_321, EnergyUnit::Kwh0_001).unwrap();
        assert_eq!(r.digits(), 87_654_321);
        assert_eq!(r.to_string(), "87654.321 kWh");
        assert!(MeterReading::from_counter(1_000_000_000, EnergyUnit::Kwh0_001).is_err());
        assert!(MeterReading::from_digits(100_000_000, EnergyUnit::Kwh0_001).is_err());
    }

    #[test]
    fn trm03_kwh_is_exact_for_every_unit() {
        let cases = [
            (EnergyUnit::Kwh1, "12345678 kWh"),
            (EnergyUnit::Kwh0_1, "1234567.8 kWh"),
            (EnergyUnit::Kwh0_01, "123456.78 kWh"),
            (EnergyUnit::Kwh0_001, "12345.678 kWh"),
            (EnergyUnit::Kwh0_0001, "1234.5678 kWh"),
            (EnergyUnit::Kwh10, "123456780 kWh"),
            (EnergyUnit::Kwh10000, "123456780000 kWh"),
        ];
        for (unit, text) in cases {
            let r = MeterReading::from_counter(12_345_678, unit).unwrap();
            assert_eq!(r.to_string(), text, "{unit}");
        }
    }

    #[test]
    fn trm03_delta_wraps_modulo_ten_to_the_eight_for_every_unit() {
        for unit in EnergyUnit::ALL {
            let before = MeterReading::from_counter(99_999_990, unit).unwrap();
            // The 9-digit counter passed 100,000,000 and its lower 8 digits restarted.
            let after = MeterReading::from_counter(100_000_015, unit).unwrap();
            assert_eq!(after.digits(), 15);
            assert_eq!(after.since(before), Ok(unit.energy(25)));
            // And the 9-digit counter itself wrapping to 0 gives the same answer.
            let before = MeterReading::from_counter(999_999_990, unit).unwrap();
            let after = MeterReading::from_counter(15, unit).unwrap();
            assert_eq!(after.since(before), Ok(unit.energy(25)));
        }
    }

    #[test]
    fn wrap_point_follows_the_unit() {
        assert_eq!(
            EnergyUnit::Kwh0_001.wrap().display(3).to_string(),
            "100000.000"
        );
        assert_eq!(
            EnergyUnit::Kwh0_1.wrap().display(1).to_string(),
            "10000000.0"
        );
        assert_eq!(
            EnergyUnit::Kwh10000.wrap().display(0).to_string(),
            "1000000000000"
        );
    }

    #[test]
    fn delta_with_changed_unit_is_refused() {
        let a = MeterReading::from_counter(10, EnergyUnit::Kwh0_01).unwrap();
        let b = MeterReading::from_counter(20, EnergyUnit::Kwh0_001).unwrap();
        assert!(b.since(a).is_err());
    }

    #[test]
    fn display_truncates_to_the_requested_decimals() {
        assert_eq!(Energy(123_456_789).display(3).to_string(), "12345.678");
        assert_eq!(Energy(123_456_789).display(0).to_string(), "12345");
        assert_eq!(Energy(5).to_string(), "0.0005 kWh");
        assert_eq!(Energy(123_456_789).wh(), 12_345_678);
        assert_eq!(
            Energy(123_456_789).counts(EnergyUnit::Kwh0_001),
            (12_345_678, false)
        );
    }
}
