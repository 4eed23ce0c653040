//! TRM-03 arithmetic on whatever a meter reports: two 4-byte counters and a 0xD4 unit
//! byte (any trailing bytes are tried as a unit name). Nothing panics or overflows, the
//! kept reading is the counter's lower 8 digits, and the delta between two readings is
//! below 10^8 counts and equal to the modular difference computed here independently.
#![no_main]

use echonet::energy::{EnergyUnit, MeterReading, COUNTER_MAX, READING_MODULUS};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((head, tail)) = data.split_first_chunk::<9>() else {
        return;
    };
    let earlier = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    let later = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
    if let Ok(text) = core::str::from_utf8(tail) {
        if let Ok(unit) = text.parse::<EnergyUnit>() {
            assert_eq!(EnergyUnit::from_code(unit.code()), Ok(unit));
        }
    }
    let Ok(unit) = EnergyUnit::from_code(head[8]) else {
        return;
    };
    assert_eq!(unit.code(), head[8]);

    let a = MeterReading::from_counter(earlier, unit);
    let b = MeterReading::from_counter(later, unit);
    assert_eq!(a.is_ok(), earlier <= COUNTER_MAX);
    assert_eq!(b.is_ok(), later <= COUNTER_MAX);
    let (Ok(a), Ok(b)) = (a, b) else {
        return;
    };
    assert_eq!(a.digits(), earlier % READING_MODULUS);
    assert_eq!(b.digits(), later % READING_MODULUS);
    assert_eq!(a.energy(), unit.energy(a.digits()));
    let _ = format!("{a} {b} {}", unit.wrap());

    let delta = b.since(a).expect("same unit");
    let (counts, exact) = delta.counts(unit);
    assert!(exact, "{delta:?} is not a whole number of {unit}");
    assert!(counts < u64::from(READING_MODULUS), "{counts} counts");
    let m = u64::from(READING_MODULUS);
    let want = (u64::from(later % READING_MODULUS) + m - u64::from(earlier % READING_MODULUS)) % m;
    assert_eq!(counts, want);
    // Adding the delta to the earlier reading gives the later one, modulo 10^8.
    assert_eq!((u64::from(a.digits()) + counts) % m, u64::from(b.digits()));
});
