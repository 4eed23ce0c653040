//! A frame counter file as a terminal reads it at start (SEC-03, SEC-06): any bytes
//! either fail to parse as a table (the driver refuses to start) or restore one from
//! which no counter below a kept reservation is ever handed out again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nodes::link::frame_counters::{CounterSnapshot, FrameCounters};

fuzz_target!(|data: &[u8]| {
    let Ok(snapshot) = serde_json::from_slice::<CounterSnapshot>(data) else {
        return;
    };
    let mut table = FrameCounters::restore(&snapshot);
    // Names may spell one key twice (upper and lower case): the highest reservation
    // counts.
    let mut kept: std::collections::BTreeMap<[u8; 8], u32> = Default::default();
    for (name, &reserved) in &snapshot.keys {
        if let Some(tag) = parse(name) {
            let r = kept.entry(tag).or_insert(reserved);
            *r = (*r).max(reserved);
        }
    }
    for (tag, reserved) in kept {
        if let Ok(next) = table.allocate(tag, u32::MAX) {
            assert!(next.counter >= reserved, "{tag:02x?}: {} below {reserved}", next.counter);
        }
    }
    let _ = table.take_snapshot();
});

fn parse(s: &str) -> Option<[u8; 8]> {
    if s.len() != 16 || !s.is_ascii() {
        return None;
    }
    let mut tag = [0; 8];
    for (i, b) in tag.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(tag)
}
