//! IF-01 / SYS-02: what the portal publishes, in either store: a message per retailer
//! and slot or day, issued again whole under the next update number only when a value
//! changed, every issue kept, each retailer seeing only its own files.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use edi::{archive, PartyCode, Quality, Record};
use portal::publish::{digest, Issue};
use portal::{MemoryPortalStore, PortalError, PortalStore, Publisher, SqlitePortalStore};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn code(s: &str) -> PartyCode {
    s.parse().unwrap()
}

fn record(p: u32, start: DateTime<Utc>, interval_min: u8, quality: Quality) -> Record {
    Record {
        point: format!("09{p:020}").parse().unwrap(),
        terminal: [2, 0x1A, 0, 0, 0, 0, 0x10, p as u8],
        slot_start: start,
        interval_min,
        in_wh: 100 + p,
        out_wh: p,
        cum_in_wh: 1_000 * p,
        cum_out_wh: 10 * p,
        quality,
        received_at: (quality != Quality::Estimated).then(|| start + Duration::minutes(31)),
    }
}

fn stores() -> Vec<(&'static str, Box<dyn PortalStore>)> {
    vec![
        ("memory", Box::new(MemoryPortalStore::default())),
        ("sqlite", Box::new(SqlitePortalStore::in_memory().unwrap())),
    ]
}

fn names(store: &impl PortalStore, retailer: &str) -> Vec<String> {
    store
        .files(&code(retailer))
        .unwrap()
        .into_iter()
        .map(|l| l.name.to_string())
        .collect()
}

#[test]
fn if01_a_changed_value_reissues_the_message_and_the_old_issue_stays() {
    let start = utc("2026-04-01T13:30:00+09:00");
    for (kind, store) in stores() {
        let mut p = Publisher::new(code("9A01K"), store);
        let by = |q: Quality| {
            BTreeMap::from([(
                code("R0001"),
                vec![
                    record(1, start, 30, Quality::Measured),
                    record(2, start, 30, q),
                ],
            )])
        };
        let t = utc("2026-04-01T14:00:30+09:00");
        let first = p.slot(t, by(Quality::Estimated)).unwrap();
        assert_eq!(first.len(), 1, "{kind}");
        assert_eq!(first[0].records, 2);
        // The same values again: nothing new.
        assert!(
            p.slot(t + Duration::minutes(5), by(Quality::Estimated))
                .unwrap()
                .is_empty(),
            "{kind}"
        );
        // The estimate replaced by the reading: the whole message again, update 01.
        let second = p
            .slot(t + Duration::hours(2), by(Quality::Backfilled))
            .unwrap();
        assert_eq!(
            second[0].files[0].to_string(),
            "W41130202604011330010000.zip",
            "{kind}"
        );
        assert_eq!(
            names(p.store(), "R0001"),
            [
                "W41130202604011330000000.zip",
                "W41130202604011330010000.zip"
            ],
            "{kind}"
        );
        let latest = p
            .store()
            .file(&code("R0001"), &second[0].files[0])
            .unwrap()
            .unwrap();
        let m = archive::open(&second[0].files[0], &latest).unwrap();
        assert_eq!(m.records[1].quality, Quality::Backfilled, "{kind}");
        let listed = p.store().files(&code("R0001")).unwrap();
        assert_eq!(listed[1].size, latest.len() as u64);
        assert_eq!(listed[1].updated, t + Duration::hours(2));
    }
}

#[test]
fn if01_each_retailer_sees_only_its_own_files_under_the_same_names() {
    let start = utc("2026-04-01T00:00:00+09:00");
    for (kind, store) in stores() {
        let mut p = Publisher::new(code("9A01K"), store);
        let by = BTreeMap::from([
            (code("R0001"), vec![record(1, start, 30, Quality::Measured)]),
            (
                code("R0002"),
                vec![
                    record(2, start, 30, Quality::Measured),
                    record(3, start, 30, Quality::Flagged),
                ],
            ),
        ]);
        p.slot(utc("2026-04-01T00:30:20+09:00"), by).unwrap();
        let name = "W41130202604010000000000.zip";
        assert_eq!(names(p.store(), "R0001"), [name], "{kind}");
        assert_eq!(names(p.store(), "R0002"), [name], "{kind}");
        assert!(names(p.store(), "R0003").is_empty());
        let n: edi::FileName = name.parse().unwrap();
        let one = archive::open(&n, &p.store().file(&code("R0001"), &n).unwrap().unwrap()).unwrap();
        let two = archive::open(&n, &p.store().file(&code("R0002"), &n).unwrap().unwrap()).unwrap();
        assert_eq!((one.receiver, one.records.len()), (code("R0001"), 1));
        assert_eq!((two.receiver, two.records.len()), (code("R0002"), 2));
        assert_eq!(p.store().file(&code("R0003"), &n).unwrap(), None, "{kind}");
    }
}

#[test]
fn if01_daily_and_15_minute_points_go_in_messages_of_their_own() {
    let midnight = utc("2026-04-01T00:00:00+09:00");
    for (kind, store) in stores() {
        let mut p = Publisher::new(code("9A01K"), store);
        let mut records = Vec::new();
        for s in 0..48 {
            records.push(record(
                1,
                midnight + Duration::minutes(30 * s),
                30,
                Quality::Measured,
            ));
        }
        for s in 0..96 {
            records.push(record(
                2,
                midnight + Duration::minutes(15 * s),
                15,
                Quality::Recovered,
            ));
        }
        let date = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
        let out = p
            .daily(
                utc("2026-04-02T01:00:00+09:00"),
                date,
                BTreeMap::from([(code("R0001"), records)]),
            )
            .unwrap();
        let counts: Vec<_> = out.iter().map(|o| o.records).collect();
        assert_eq!(counts, [96, 48], "{kind}: 15-minute first (by interval)");
        assert_eq!(
            names(p.store(), "R0001"),
            [
                "W41140202604010000000000.zip",
                "W41160202604010000000000.zip"
            ],
            "{kind}"
        );
    }
}

#[test]
fn if01_a_store_takes_only_the_next_issue_and_never_replaces_a_file() {
    let start = utc("2026-04-01T13:30:00+09:00");
    let created = utc("2026-04-01T14:00:30+09:00");
    for (kind, mut store) in stores() {
        let records = vec![record(1, start, 30, Quality::Measured)];
        let issue = |update: u8| {
            let files = edi::files::slot(
                code("9A01K"),
                code("R0001"),
                created,
                update,
                records.clone(),
            )
            .unwrap();
            Issue {
                retailer: code("R0001"),
                info: edi::InfoCode::Slot30,
                at: records[0].local_start(),
                update,
                digest: digest(&records),
                created,
                files,
            }
        };
        assert!(
            matches!(store.put_issue(&issue(1)), Err(PortalError::Refused(_))),
            "{kind}: not first"
        );
        store.put_issue(&issue(0)).unwrap();
        assert!(
            matches!(store.put_issue(&issue(0)), Err(PortalError::Refused(_))),
            "{kind}: again"
        );
        assert!(
            matches!(store.put_issue(&issue(2)), Err(PortalError::Refused(_))),
            "{kind}: skipped"
        );
        store.put_issue(&issue(1)).unwrap();
        assert_eq!(names(&store, "R0001").len(), 2, "{kind}");
    }
}

#[test]
fn if01_after_99_updates_a_message_is_refused_with_its_own_error() {
    let start = utc("2026-04-01T13:30:00+09:00");
    let mut p = Publisher::new(code("9A01K"), MemoryPortalStore::default());
    for i in 0..100u32 {
        let mut r = record(1, start, 30, Quality::Measured);
        r.in_wh = i;
        p.slot(
            start + Duration::minutes(31),
            BTreeMap::from([(code("R0001"), vec![r])]),
        )
        .unwrap();
    }
    let mut r = record(1, start, 30, Quality::Measured);
    r.in_wh = 1_000;
    assert!(matches!(
        p.slot(
            start + Duration::hours(9),
            BTreeMap::from([(code("R0001"), vec![r])])
        ),
        Err(PortalError::UpdatesExhausted { .. })
    ));
}

#[test]
fn if01_published_files_outlive_the_process_and_cannot_be_changed_in_the_database() {
    let dir = std::env::temp_dir().join(format!("portal-sqlite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("system.db");
    let start = utc("2026-04-01T13:30:00+09:00");
    {
        let mut p = Publisher::new(code("9A01K"), SqlitePortalStore::open(&path).unwrap());
        p.slot(
            start + Duration::minutes(31),
            BTreeMap::from([(code("R0001"), vec![record(1, start, 30, Quality::Measured)])]),
        )
        .unwrap();
    }
    let store = SqlitePortalStore::open(&path).unwrap();
    assert_eq!(names(&store, "R0001"), ["W41130202604011330000000.zip"]);
    let db = rusqlite_connection(&path);
    assert!(db.execute("DELETE FROM portal_file", []).is_err());
    assert!(db
        .execute("UPDATE portal_file SET zip = x'00'", [])
        .is_err());
    assert!(db.execute("DELETE FROM portal_issue", []).is_err());
    drop(db);
    let _ = std::fs::remove_dir_all(dir);
}

fn rusqlite_connection(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

/// The daily messages made a part at a time (as the rounds make them, never holding
/// the day) are the files `edi::files::daily` makes of the whole day: split after
/// 10,000 points, byte for byte.
#[test]
fn if01_a_daily_message_made_a_part_at_a_time_is_the_message_made_whole() {
    let midnight = utc("2026-04-01T00:00:00+09:00");
    let date = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
    let created = utc("2026-04-02T01:00:00+09:00");
    let points = edi::message::POINTS_PER_FILE as u32 + 2;
    let day: Vec<Record> = (1..=points)
        .flat_map(|p| {
            [0, 1].map(|s| {
                record(
                    p,
                    midnight + Duration::minutes(30 * s),
                    30,
                    Quality::Measured,
                )
            })
        })
        .collect();
    let whole =
        edi::files::daily(code("9A01K"), code("R0001"), created, date, 0, day.clone()).unwrap();
    assert_eq!(whole.len(), 2, "10,002 points: two files");
    let mut p = Publisher::new(code("9A01K"), MemoryPortalStore::default());
    let out = p
        .daily(created, date, BTreeMap::from([(code("R0001"), day)]))
        .unwrap();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].records, 2 * points as usize);
    let names: Vec<_> = whole.iter().map(|f| f.name).collect();
    assert_eq!(out[0].files, names);
    for f in &whole {
        assert_eq!(
            p.store().file(&code("R0001"), &f.name).unwrap().as_ref(),
            Some(&f.zip),
            "{}",
            f.name
        );
    }
}

/// A day read twice (digested, then made into files) that changed in between issues
/// nothing: the digest kept would not be that of the files.
#[test]
fn if01_a_day_whose_records_changed_while_its_files_were_made_issues_nothing() {
    let midnight = utc("2026-04-01T00:00:00+09:00");
    let date = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
    let created = utc("2026-04-02T01:00:00+09:00");
    let digested = [record(1, midnight, 30, Quality::Estimated)];
    let mut changed = digested[0].clone();
    changed.quality = Quality::Backfilled;
    changed.received_at = Some(created);
    for (kind, store) in stores() {
        let mut p = Publisher::new(code("9A01K"), store);
        let mut d = portal::publish::Digest::default();
        d.add(&digested[0]);
        let out = p.daily_streamed(
            created,
            date,
            BTreeMap::from([((code("R0001"), 30), d)]),
            &mut |give| give(code("R0001"), changed.clone()),
        );
        assert!(
            matches!(out, Err(PortalError::Changed { .. })),
            "{kind}: {out:?}"
        );
        assert!(names(p.store(), "R0001").is_empty(), "{kind}");
    }
}
