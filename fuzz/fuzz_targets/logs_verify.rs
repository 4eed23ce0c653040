//! A log file and its head as `iotroute logs verify` reads them (SEC-09, SEC-06): any
//! bytes verify or name a bad record — never a panic (sequence numbers at the ends of
//! u64 included); and a verdict of "intact" means every line is a record whose hash
//! matches it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use logs::{verify, Hash, Head, Record};

fuzz_target!(|data: &[u8]| {
    let Some((numbers, rest)) = data.split_first_chunk::<16>() else {
        return;
    };
    let Ok(text) = core::str::from_utf8(rest) else {
        return;
    };
    let (a, b) = numbers.split_at(8);
    let first = u64::from_le_bytes(a.try_into().unwrap_or_default());
    let last = u64::from_le_bytes(b.try_into().unwrap_or_default());
    let lines: Vec<&str> = text.lines().collect();
    for head in [
        Head::empty(1, Hash::ZERO),
        Head {
            seq: last,
            ..Head::empty(first, Hash::ZERO)
        },
    ] {
        let _ = head.records();
        if verify(lines.iter().copied(), &head).is_ok() {
            for l in &lines {
                let r = Record::parse_line(l).expect("an intact log holds records");
                assert_eq!(r.digest(), r.hash);
            }
        }
    }
});
