//! The head end's registry CSV (an operator's file, untrusted): whatever the bytes,
//! `parse_csv` never panics; what it accepts exports and parses again to the same
//! points.
#![no_main]

use headend::registry::{parse_csv, to_csv};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(points) = parse_csv(data) {
        let again = parse_csv(to_csv(&points).as_bytes()).expect("an export parses");
        let mut sorted = points;
        sorted.sort_by(|a, b| a.supply_point.cmp(&b.supply_point));
        assert_eq!(again, sorted);
    }
});
