//! OPS-06: the terminals' events the head end collects, in both stores: kept in their
//! order, read newest first, of one terminal or all, at most as many as asked; in the
//! database append-only (an UPDATE or DELETE refused by triggers); the highest number of
//! a smart meter's events kept, kept with them, only growing, across a reopening.

use chrono::{TimeDelta, TimeZone, Utc};
use headend::events::TerminalEvent;
use headend::sqlite::SqliteHeadendStore;
use headend::storage::{HeadendStore, MemoryHeadendStore};
use wisun::mac::Eui64;

fn event(terminal: u8, kind: &str, second: i64) -> TerminalEvent {
    let at = Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap() + TimeDelta::seconds(second);
    TerminalEvent {
        terminal: Eui64([2, 0, 0, 0, 0, 0, 0, terminal]),
        smart_meter: Eui64([2, 0, 0, 0, 0, 0, 1, 0]),
        kind: kind.to_owned(),
        code: (kind == "dos").then_some(13),
        at,
        received_at: at + TimeDelta::milliseconds(250),
        details: format!("{kind} of {terminal}"),
    }
}

/// A directory of its own for a database file: (the directory, the file's path).
fn fresh_db(name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("system.db");
    (dir, path)
}

#[test]
fn ops06_events_are_kept_in_order_and_read_newest_first_by_terminal() {
    let (dir, path) = fresh_db("headend-events");
    let stores: Vec<Box<dyn HeadendStore>> = vec![
        Box::new(MemoryHeadendStore::new()),
        Box::new(SqliteHeadendStore::open(&path).unwrap()),
    ];
    let all = [
        event(1, "joined", 0),
        event(2, "joined", 1),
        event(1, "dos", 5),
        event(2, "left", 9),
    ];
    for mut store in stores {
        store.record_events(&all[..2], None).unwrap();
        store.record_events(&[], None).unwrap();
        store.record_events(&all[2..], None).unwrap();
        let newest_first: Vec<TerminalEvent> = all.iter().rev().cloned().collect();
        assert_eq!(store.events(None, 100).unwrap(), newest_first);
        assert_eq!(store.events(None, 1).unwrap(), newest_first[..1]);
        let one = store.events(Some(all[0].terminal), 100).unwrap();
        assert_eq!(one, [all[2].clone(), all[0].clone()]);
        assert_eq!(store.events(Some(Eui64([9; 8])), 100).unwrap(), []);
    }
    let db = rusqlite::Connection::open(&path).unwrap();
    for sql in [
        "UPDATE terminal_events SET details = 'nothing happened'",
        "DELETE FROM terminal_events",
    ] {
        assert!(db.execute(sql, []).is_err(), "{sql}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ops06_events_and_logs_leave_only_past_their_retention() {
    use headend::collected::{collect, LOGS_KEPT_DAYS};
    use headend::events::EVENTS_KEPT_DAYS;
    let (dir, path) = fresh_db("headend-retention");
    // To the millisecond, as the database keeps times.
    let now = chrono::DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
    let aged =
        |days: u32, hours: i64| now - TimeDelta::days(i64::from(days)) + TimeDelta::hours(hours);
    let at = |t| TerminalEvent {
        received_at: t,
        at: t,
        ..event(1, "dos", 0)
    };
    let stores: Vec<Box<dyn HeadendStore>> = vec![
        Box::new(MemoryHeadendStore::new()),
        Box::new(SqliteHeadendStore::open(&path).unwrap()),
    ];
    for mut store in stores {
        // One just past the retention, one just inside it.
        store
            .record_events(
                &[
                    at(aged(EVENTS_KEPT_DAYS, -1)),
                    at(aged(EVENTS_KEPT_DAYS, 1)),
                ],
                None,
            )
            .unwrap();
        for hours in [-1, 1] {
            let log = collect(
                Eui64([2; 8]),
                "event.jsonl",
                b"",
                "{}",
                "sato",
                aged(LOGS_KEPT_DAYS, hours),
            )
            .unwrap();
            store.keep_log(&log, b"", "{}").unwrap();
        }
        assert_eq!(store.prune(now).unwrap(), (1, 1));
        assert_eq!(
            store.events(None, 10).unwrap(),
            [at(aged(EVENTS_KEPT_DAYS, 1))]
        );
        assert_eq!(store.collected_logs().unwrap().len(), 1);
        assert_eq!(store.prune(now).unwrap(), (0, 0));
    }
    // What is inside its retention the database keeps whatever asks.
    let db = rusqlite::Connection::open(&path).unwrap();
    for sql in ["DELETE FROM terminal_events", "DELETE FROM collected_logs"] {
        assert!(db.execute(sql, []).is_err(), "{sql}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ops06_the_highest_event_number_of_a_smart_meter_is_kept_with_its_events_and_only_grows() {
    let (dir, path) = fresh_db("headend-events-taken");
    let (sm, other) = (
        Eui64([2, 0, 0, 0, 0, 0, 1, 0]),
        Eui64([2, 0, 0, 0, 0, 0, 1, 1]),
    );
    let stores: Vec<Box<dyn HeadendStore>> = vec![
        Box::new(MemoryHeadendStore::new()),
        Box::new(SqliteHeadendStore::open(&path).unwrap()),
    ];
    for mut store in stores {
        assert_eq!(store.events_taken(sm).unwrap(), None);
        store
            .record_events(&[event(1, "dos", 0)], Some((sm, 7)))
            .unwrap();
        // Sent again, older: nothing new, and the number does not go back.
        store.record_events(&[], Some((sm, 5))).unwrap();
        assert_eq!(store.events_taken(sm).unwrap(), Some(7));
        assert_eq!(store.events_taken(other).unwrap(), None);
        assert_eq!(store.events(None, 10).unwrap().len(), 1);
    }
    let store = SqliteHeadendStore::open(&path).unwrap();
    assert_eq!(
        store.events_taken(sm).unwrap(),
        Some(7),
        "kept across a reopening"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
