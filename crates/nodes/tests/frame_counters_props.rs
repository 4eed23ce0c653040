//! Property (SEC-03): whatever a node sends under whatever keys, however often it is
//! killed and restarted from what its driver last wrote, and however many keys it forgets,
//! no (key, frame counter) is ever handed out twice.

use std::collections::BTreeSet;

use nodes::link::frame_counters::{CounterSnapshot, FrameCounters, KeyTag};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Send `n` frames under key `k`.
    Send { k: u8, n: u16 },
    /// Killed: restarted from the last snapshot the driver wrote.
    Kill,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u8..24, 1u16..1500).prop_map(|(k, n)| Op::Send { k, n }),
        1 => Just(Op::Kill),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn sec03_no_key_and_counter_is_ever_used_twice(ops in prop::collection::vec(op(), 1..40)) {
        let mut table = FrameCounters::new();
        let mut on_disk = CounterSnapshot::default();
        let mut used: BTreeSet<(KeyTag, u32)> = BTreeSet::new();
        for op in ops {
            match op {
                Op::Send { k, n } => {
                    for _ in 0..n {
                        let tag = [k; 8];
                        let next = table.allocate(tag, u32::MAX).unwrap();
                        // The driver writes before the frame goes out.
                        if let Some(s) = table.take_snapshot() {
                            on_disk = s;
                        }
                        prop_assert!(used.insert((tag, next.counter)), "key {k} counter {} twice", next.counter);
                    }
                }
                Op::Kill => table = FrameCounters::restore(&on_disk),
            }
        }
    }
}
