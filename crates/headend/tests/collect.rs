//! Collection's invariant, as a property: whatever is lost, repeated or reordered on the
//! way (pushes, backfill answers, whole backfills), once backfills have settled every
//! slot of every point has been passed on exactly once with the terminal's value —
//! none lost, none doubled.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use dlms::relay::message::{Arrival, Command, Outcome, Row};
use headend::collect::{CollectConfig, Collector, Resume};
use headend::registry::DevicePoint;
use nodes::terminal::slots::Interval;
use proptest::prelude::*;
use wisun::mac::Eui64;

const SM: Eui64 = Eui64([2, 0xAA, 0, 0, 0, 0, 0, 1]);

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 31, 15, 0, 0).unwrap()
}

fn point(n: u8) -> DevicePoint {
    DevicePoint {
        supply_point: format!("09{:020}", n).parse().unwrap(),
        terminal_id: Eui64([2, 0x11, 0, 0, 0, 0, 0, n]),
        pairing_id: wisun::pairing_id::PairingId::from_bytes(b"IOT00901").unwrap(),
        smart_meter: SM,
        meter_id: None,
        interval: Interval::Half,
        retailer: "A1239".parse().unwrap(),
    }
}

/// The terminal's value at boundary `k`.
fn truth(terminal: u8, k: i64) -> Row {
    Row {
        at: start() + TimeDelta::minutes(30 * k),
        in_wh: u32::try_from(k).unwrap() * 100 + u32::from(terminal),
        out_wh: 7,
        status: 0,
        interval_min: 30,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn every_slot_is_passed_on_exactly_once_whatever_is_lost(
        terminals in 1u8..4,
        slots in 4i64..60,
        push_lost in prop::collection::vec(any::<bool>(), 240),
        push_doubled in prop::collection::vec(any::<bool>(), 240),
        answer_lost in prop::collection::vec(any::<bool>(), 64),
    ) {
        let points: Vec<DevicePoint> = (1..=terminals).map(point).collect();
        let mut c = Collector::new(CollectConfig::default(), &points, &Resume::fresh(start()));
        let mut passed: BTreeMap<(u8, DateTime<Utc>), Vec<Row>> = BTreeMap::new();
        let mut take = |c: &mut Collector, t: u8, arrival, rows: &[Row], now| {
            for got in c.readings(SM, point(t).terminal_id, arrival, rows, now).unwrap() {
                passed.entry((t, got.row.at)).or_default().push(got.row);
            }
        };
        let mut answers = answer_lost.iter().cycle();
        // Fairness, without which no retrying gets anything through: a terminal's
        // backfill answers are not lost more than 3 times in a row (the 64 losses cycle
        // over all terminals' answers, and a phase could starve one for ever).
        let mut lost_in_a_row: BTreeMap<u8, u32> = BTreeMap::new();
        let end = start() + TimeDelta::minutes(30 * slots);
        let mut now = start();
        while now <= end + TimeDelta::days(2) {
            // Every 5 minutes: the pushes of a boundary that came, then what is due.
            if now <= end && now == Interval::Half.floor(now) {
                let k = (now - start()).num_minutes() / 30;
                for t in 1..=terminals {
                    let i = usize::try_from(k).unwrap() * 3 + usize::from(t) - 1;
                    if !push_lost[i % push_lost.len()] {
                        take(&mut c, t, Arrival::Pushed, &[truth(t, k)], now);
                        if push_doubled[i % push_doubled.len()] {
                            take(&mut c, t, Arrival::Pushed, &[truth(t, k)], now);
                        }
                    }
                }
            }
            for (sm, command) in c.poll(now) {
                prop_assert_eq!(sm, SM);
                let Command::Backfill { request, terminal, from, to } = command else {
                    panic!("{command:?}");
                };
                let t = terminal[7];
                let streak = lost_in_a_row.entry(t).or_default();
                if *answers.next().unwrap() && *streak < 3 {
                    *streak += 1;
                    continue; // lost on the way: the head end times it out
                }
                *streak = 0;
                let rows: Vec<Row> = (0..=slots)
                    .map(|k| truth(t, k))
                    .filter(|r| r.at >= from && r.at <= to && r.at <= end)
                    .collect();
                take(&mut c, t, Arrival::Backfilled, &rows, now);
                c.done(request, Outcome::Done, now);
            }
            now += TimeDelta::minutes(5);
        }
        for t in 1..=terminals {
            for k in 0..=slots {
                let rows = passed.get(&(t, truth(t, k).at));
                prop_assert_eq!(rows, Some(&vec![truth(t, k)]), "terminal {} slot {}", t, k);
            }
        }
        prop_assert_eq!(passed.len(), usize::from(terminals) * usize::try_from(slots + 1).unwrap());
    }
}
