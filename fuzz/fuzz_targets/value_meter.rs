//! Properties of the distributed generation electric energy meter (0x028E) as the meter
//! answers them: first byte EPC, rest EDT. Decoding never panics; what decodes round
//! trips exactly, and cumulative counters stay within their 9 digits.
#![no_main]

use echonet::energy::COUNTER_MAX;
use echonet::objects::{MeterProperty, Value, SLOTS_PER_DAY};
use echonet::ClassCode;
use libfuzzer_sys::fuzz_target;

include!("../common/value_check.rs");

fuzz_target!(|data: &[u8]| {
    let Some(Value::Meter(p)) = check_value(ClassCode::DISTRIBUTED_GENERATION_METER, data) else {
        return;
    };
    if let Some(counts) = p.cumulative_counts() {
        assert!(counts <= COUNTER_MAX);
    }
    match p {
        MeterProperty::HistoryIn(h)
        | MeterProperty::HistoryOut(h)
        | MeterProperty::HistoryOutage(h) => {
            assert_eq!(h.slots.len(), SLOTS_PER_DAY);
            assert!(h.slots.iter().flatten().all(|&v| v <= COUNTER_MAX));
        }
        MeterProperty::FixedTimeIn(r)
        | MeterProperty::FixedTimeOut(r)
        | MeterProperty::FixedTimeOutage(r) => {
            assert!(r.value.is_none_or(|v| v <= COUNTER_MAX));
            assert!(r.time.minute % 30 == 0 && r.time.second == 0);
        }
        _ => {}
    }
});
