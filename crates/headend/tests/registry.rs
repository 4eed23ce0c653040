//! The head end's registry of device points (機器点) and its block records (OPS-07): a
//! CSV import is checked whole (a bad row named by its line, nothing half-imported),
//! exports what was imported, and the SQLite store answers as the in-memory one; block
//! records are append-only in the database itself.

use chrono::{TimeZone, Utc};
use headend::blocks::{BlockAction, BlockError, BlockRecord};
use headend::registry::{parse_csv, to_csv, RegistryError, HEADER};
use headend::sqlite::SqliteHeadendStore;
use headend::storage::{HeadendError, HeadendStore, Imported, MemoryHeadendStore};
use proptest::prelude::*;

const GOOD: &str = "\
supply_point,terminal_id,pairing_id,smart_meter,meter_id,interval_min,retailer
0900000000000000000001,0211223344550001,IOT00901,02aabbccdd000001,4d2d30303031,30,A1239
0900000000000000000002,02:11:22:33:44:55:00:02,IOT00901,02aabbccdd000001,,15,A1239
0300000000000000000003,0211223344550003,IOT00302,02aabbccdd000002,4d2d30303033,30,B4563
";

fn db(name: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!(
        "iotroute-headend-{}-{name}.sqlite",
        std::process::id()
    ));
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", p.display()));
    }
    p
}

fn lines(text: &str) -> Vec<(u64, headend::registry::DevicePoint)> {
    (2..).zip(parse_csv(text.as_bytes()).unwrap()).collect()
}

#[test]
fn a_registry_imports_and_exports_as_it_was_given() {
    let points = parse_csv(GOOD.as_bytes()).unwrap();
    assert_eq!(points.len(), 3);
    assert_eq!(
        points[1].terminal_id.0,
        [2, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 2]
    );
    assert_eq!(points[1].meter_id, None);
    assert_eq!(points[0].supply_point.area(), 9);
    let csv = to_csv(&points);
    assert!(csv.starts_with(&HEADER.join(",")));
    // Ordered by supply point, EUI-64s as 16 hex digits.
    assert_eq!(
        csv.lines().nth(1),
        Some("0300000000000000000003,0211223344550003,IOT00302,02AABBCCDD000002,4D2D30303033,30,B4563")
    );
    assert_eq!(
        parse_csv(csv.as_bytes()).unwrap().len(),
        3,
        "the export imports again"
    );
    let path = db("roundtrip");
    {
        let mut s = SqliteHeadendStore::open(&path).unwrap();
        assert_eq!(
            s.import(&lines(GOOD)).unwrap(),
            Imported {
                added: 3,
                updated: 0,
                unchanged: 0
            }
        );
    }
    let mut s = SqliteHeadendStore::open(&path).unwrap();
    assert_eq!(to_csv(&s.points().unwrap()), csv);
    assert_eq!(
        s.import(&lines(&csv)).unwrap(),
        Imported {
            added: 0,
            updated: 0,
            unchanged: 3
        }
    );
}

/// Each bad file, and the line its error must name.
fn bad_files() -> Vec<(&'static str, String, u64)> {
    let good: Vec<&str> = GOOD.lines().collect();
    let with = |i: usize, row: &str| {
        let mut l = good.clone();
        l[i] = row;
        l.join("\n")
    };
    vec![
        (
            "header",
            with(
                0,
                "supply_point,terminal,pairing_id,smart_meter,meter_id,interval_min,retailer",
            ),
            1,
        ),
        (
            "supply point",
            with(
                2,
                "090000000000000000002,0211223344550002,IOT00901,02aabbccdd000001,,15,A1239",
            ),
            3,
        ),
        (
            "area",
            with(
                2,
                "1100000000000000000002,0211223344550002,IOT00901,02aabbccdd000001,,15,A1239",
            ),
            3,
        ),
        (
            "terminal",
            with(
                3,
                "0300000000000000000003,02112233445500,IOT00302,02aabbccdd000002,,30,B4563",
            ),
            4,
        ),
        (
            "pairing",
            with(
                3,
                "0300000000000000000003,0211223344550003,XOT00302,02aabbccdd000002,,30,B4563",
            ),
            4,
        ),
        (
            "interval",
            with(
                3,
                "0300000000000000000003,0211223344550003,IOT00302,02aabbccdd000002,,20,B4563",
            ),
            4,
        ),
        (
            "retailer",
            with(
                3,
                "0300000000000000000003,0211223344550003,IOT00302,02aabbccdd000002,,30,b4563",
            ),
            4,
        ),
        (
            "meter id",
            with(
                3,
                "0300000000000000000003,0211223344550003,IOT00302,02aabbccdd000002,4g,30,B4563",
            ),
            4,
        ),
        (
            "fields",
            with(
                3,
                "0300000000000000000003,0211223344550003,IOT00302,02aabbccdd000002,,30",
            ),
            4,
        ),
        (
            "same point",
            with(
                3,
                "0900000000000000000001,0211223344550003,IOT00302,02aabbccdd000002,,30,B4563",
            ),
            4,
        ),
        (
            "same terminal",
            with(
                3,
                "0300000000000000000003,0211223344550001,IOT00302,02aabbccdd000002,,30,B4563",
            ),
            4,
        ),
        (
            "pairing of the smart meter",
            with(
                2,
                "0900000000000000000002,0211223344550002,IOT00902,02aabbccdd000001,,15,A1239",
            ),
            3,
        ),
    ]
}

#[test]
fn a_bad_row_is_named_by_its_line_and_nothing_is_imported() {
    for (what, text, line) in bad_files() {
        let e = parse_csv(text.as_bytes()).unwrap_err();
        assert_eq!(e.line(), line, "{what}: {e}");
    }
    // Past the file: a row that contradicts the registry as it is.
    let mut s = SqliteHeadendStore::in_memory().unwrap();
    s.import(&lines(GOOD)).unwrap();
    let before = s.points().unwrap();
    let other_point =
        "supply_point,terminal_id,pairing_id,smart_meter,meter_id,interval_min,retailer
0900000000000000000009,0211223344550009,IOT00901,02aabbccdd000009,,30,A1239
0900000000000000000010,0211223344550001,IOT00901,02aabbccdd000009,,30,A1239
";
    let e = s.import(&lines(other_point)).unwrap_err();
    assert!(
        matches!(
            &e,
            HeadendError::Registry(RegistryError::Conflict { line: 3, .. })
        ),
        "{e}"
    );
    assert_eq!(s.points().unwrap(), before, "nothing half-imported");
}

#[test]
fn sys03_a_smart_meter_serves_at_most_four_terminals() {
    let mut text = HEADER.join(",");
    for n in 1..=5 {
        text.push_str(&format!(
            "\n09000000000000000000{n:02},02112233445500{n:02},IOT00901,02aabbccdd000001,,30,A1239"
        ));
    }
    let e = parse_csv(text.as_bytes()).unwrap_err();
    assert_eq!(e.line(), 6, "{e}");
    assert!(e.to_string().contains("SYS-03"), "{e}");
}

fn record(action: BlockAction, minute: u32) -> BlockRecord {
    BlockRecord {
        point: "0900000000000000000001".parse().unwrap(),
        action,
        at: Utc.with_ymd_and_hms(2026, 4, 1, 6, minute, 0).unwrap(),
        reason: "sim".to_owned(),
        by: "sim".to_owned(),
    }
}

#[test]
fn ops07_block_records_are_kept_append_only_in_the_database() {
    let path = db("blocks");
    {
        let mut s = SqliteHeadendStore::open(&path).unwrap();
        s.import(&lines(GOOD)).unwrap();
        s.record_block(&record(BlockAction::Block, 0)).unwrap();
        assert!(matches!(
            s.record_block(&record(BlockAction::Block, 1)),
            Err(HeadendError::Block(BlockError::AlreadyBlocked(_)))
        ));
        let mut unknown = record(BlockAction::Block, 1);
        unknown.point = "0900000000000000000077".parse().unwrap();
        assert!(matches!(
            s.record_block(&unknown),
            Err(HeadendError::Block(BlockError::Unknown(_)))
        ));
        s.record_block(&record(BlockAction::Reconnect, 30)).unwrap();
    }
    let s = SqliteHeadendStore::open(&path).unwrap();
    assert_eq!(
        s.block_records().unwrap(),
        vec![
            record(BlockAction::Block, 0),
            record(BlockAction::Reconnect, 30)
        ]
    );
    // Not even by hand: the database refuses to change or drop a record.
    let raw = rusqlite::Connection::open(&path).unwrap();
    assert!(raw
        .execute("UPDATE block_records SET reason = 'nothing'", [])
        .is_err());
    assert!(raw.execute("DELETE FROM block_records", []).is_err());
    assert_eq!(s.block_records().unwrap().len(), 2);
}

/// A registry of `n` valid points, some smart meters shared.
fn registry(n: usize, seed: u8) -> String {
    let mut text = HEADER.join(",");
    for i in 0..n {
        let sm = i / 3;
        text.push_str(&format!(
            "\n{:02}{:020},02{:02x}{:012x},IOT{:05},02aabbcc{:08x},{},{},R{:04}",
            1 + (i + usize::from(seed)) % 10,
            i,
            seed,
            i,
            sm,
            sm,
            if i % 4 == 0 {
                String::new()
            } else {
                format!("{:04x}", i)
            },
            if i % 2 == 0 { 30 } else { 15 },
            i % 3,
        ));
    }
    text
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn sqlite_and_memory_import_alike_and_a_broken_field_names_its_line(
        n in 1usize..12,
        seed in any::<u8>(),
        row in any::<prop::sample::Index>(),
        column in 0usize..7,
        junk in "[^,\n\"]{0,6}",
    ) {
        let text = registry(n, seed);
        let mut sql = SqliteHeadendStore::in_memory().unwrap();
        let mut mem = MemoryHeadendStore::new();
        let rows = lines(&text);
        prop_assert_eq!(sql.import(&rows), mem.import(&rows));
        prop_assert_eq!(sql.points(), mem.points());
        prop_assert_eq!(to_csv(&sql.points().unwrap()), to_csv(&parse_csv(text.as_bytes()).unwrap()));
        // One field replaced by junk: either still valid, or refused naming that line.
        let mut l: Vec<String> = text.lines().map(str::to_owned).collect();
        let i = 1 + row.index(n);
        let mut fields: Vec<String> = l[i].split(',').map(str::to_owned).collect();
        fields[column] = junk;
        l[i] = fields.join(",");
        let broken = l.join("\n");
        if let Err(e) = parse_csv(broken.as_bytes()) {
            prop_assert_eq!(e.line(), u64::try_from(i + 1).unwrap(), "{}", e);
        }
    }

    /// The operations pages' search and pages, and one point by its supply point:
    /// alike in both stores, each page the slice of every match a filter would give.
    #[test]
    fn ops_points_are_found_by_point_or_terminal_a_page_at_a_time_alike_in_both_stores(
        n in 1usize..40,
        seed in any::<u8>(),
        needle in "[0-9a-fA-F]{0,3}",
        offset in 0usize..45,
        limit in 0usize..12,
    ) {
        let rows = lines(&registry(n, seed));
        let mut sql = SqliteHeadendStore::in_memory().unwrap();
        let mut mem = MemoryHeadendStore::new();
        sql.import(&rows).unwrap();
        mem.import(&rows).unwrap();
        let all = mem.points().unwrap();
        let upper = needle.to_ascii_uppercase();
        let matching: Vec<_> = all
            .iter()
            .filter(|p| {
                p.supply_point.as_str().contains(&upper)
                    || headend::registry::eui64_text(p.terminal_id).contains(&upper)
            })
            .cloned()
            .collect();
        let page: Vec<_> = matching.iter().skip(offset).take(limit).cloned().collect();
        prop_assert_eq!(sql.find_points(&needle, offset, limit).unwrap(), (page.clone(), matching.len()));
        prop_assert_eq!(mem.find_points(&needle, offset, limit).unwrap(), (page, matching.len()));
        for p in &all {
            prop_assert_eq!(sql.point(&p.supply_point).unwrap(), Some(p.clone()));
            prop_assert_eq!(mem.point(&p.supply_point).unwrap(), Some(p.clone()));
            prop_assert_eq!(sql.point_of_terminal(p.terminal_id).unwrap(), Some(p.clone()));
            prop_assert_eq!(mem.point_of_terminal(p.terminal_id).unwrap(), Some(p.clone()));
        }
        let stranger: headend::point::SupplyPoint = "0999999999999999999999".parse().unwrap();
        prop_assert_eq!(sql.point(&stranger).unwrap(), None);
        prop_assert_eq!(sql.point_of_terminal(wisun::mac::Eui64([0xFF; 8])).unwrap(), None);
    }

    #[test]
    fn any_bytes_parse_or_are_refused_without_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_csv(&bytes);
    }
}

/// SEC-02: the A-route counters of each smart meter survive a restart of the head end
/// (kept before the frame that spends them leaves), alike in both stores.
#[test]
fn sec02_a_route_counters_are_kept_per_smart_meter() {
    let path = db("counters");
    let sm = wisun::mac::Eui64([2, 0x5A, 0, 0, 0, 0, 0x20, 1]);
    let other = wisun::mac::Eui64([2, 0x5A, 0, 0, 0, 0, 0x20, 2]);
    {
        let mut s = SqliteHeadendStore::open(&path).unwrap();
        assert_eq!(s.a_route_counters(sm).unwrap(), None);
        s.set_a_route_counters(sm, 7, None).unwrap();
        s.set_a_route_counters(sm, 9, Some(41)).unwrap();
        s.set_a_route_counters(other, 1, Some(2)).unwrap();
    }
    let s = SqliteHeadendStore::open(&path).unwrap();
    assert_eq!(s.a_route_counters(sm).unwrap(), Some((9, Some(41))));
    assert_eq!(s.a_route_counters(other).unwrap(), Some((1, Some(2))));
    let mut m = MemoryHeadendStore::new();
    m.set_a_route_counters(sm, 9, Some(41)).unwrap();
    assert_eq!(
        m.a_route_counters(sm).unwrap(),
        s.a_route_counters(sm).unwrap()
    );
}
