//! Properties of the radio medium over arbitrary schedules: no panic, every frame
//! resolved once, every listener given exactly one outcome, counters that add up, and
//! the same seed giving the same run.

use core::time::Duration;

use proptest::prelude::*;
use sim::{Medium, NodeId, Outcome, PhyConfig, Position, PropagationConfig};

/// (sender, start in ms, length, channel) per transmission.
fn schedule() -> impl Strategy<Value = Vec<(u32, u64, usize, u8)>> {
    prop::collection::vec((0u32..5, 0u64..2_000, 0usize..300, 33u8..36), 0..40)
}

/// Per resolved frame: its id and (receiver, outcome) pairs.
type RunView = Vec<(u64, Vec<(u32, Outcome)>)>;

fn run(seed: u64, sched: &[(u32, u64, usize, u8)]) -> (RunView, u64) {
    let mut m = Medium::new(seed, PropagationConfig::default(), PhyConfig::default());
    for i in 0..5 {
        let p = Position::outdoor(f64::from(i) * 40.0, f64::from(i % 2) * 30.0);
        let n = m.add_node(p);
        m.set_channel(n, Some(33)).unwrap();
    }
    let mut sched = sched.to_vec();
    sched.sort_by_key(|s| s.1);
    let mut reports = Vec::new();
    let mut sent = 0;
    for (from, start, len, channel) in sched {
        let now = Duration::from_millis(start);
        reports.extend(m.advance(now).unwrap());
        m.set_channel(NodeId(from), Some(channel)).unwrap();
        if m.transmit(now, NodeId(from), vec![0xA5; len]).is_ok() {
            sent += 1;
        }
    }
    reports.extend(m.advance(Duration::from_secs(10)).unwrap());
    assert!(m.next_end().is_none());
    let st = m.stats();
    let outcomes: u64 = reports.iter().map(|r| r.receptions.len() as u64).sum();
    assert_eq!(
        st.received + st.collided + st.receiver_busy + st.faded,
        outcomes
    );
    assert_eq!(st.frames, sent);
    let view = reports
        .iter()
        .map(|r| {
            let mut seen: Vec<u32> = r.receptions.iter().map(|x| x.node.0).collect();
            seen.dedup();
            assert_eq!(seen.len(), r.receptions.len(), "one outcome per listener");
            assert!(!seen.contains(&r.from.0), "a sender does not hear itself");
            (
                r.tx.0,
                r.receptions.iter().map(|x| (x.node.0, x.outcome)).collect(),
            )
        })
        .collect();
    (view, sent)
}

proptest! {
    #[test]
    fn rad01_every_frame_resolves_once_and_runs_are_reproducible(seed in any::<u64>(), sched in schedule()) {
        let (a, sent) = run(seed, &sched);
        prop_assert_eq!(a.len() as u64, sent);
        let mut ids: Vec<u64> = a.iter().map(|r| r.0).collect();
        ids.sort_unstable();
        ids.dedup();
        prop_assert_eq!(ids.len() as u64, sent);
        prop_assert_eq!(a, run(seed, &sched).0);
    }
}
