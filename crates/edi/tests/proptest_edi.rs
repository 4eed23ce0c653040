//! IF-01: properties of the EDI files over arbitrary values: whatever a message holds
//! reads back unchanged through its XML and ZIP, names read back as printed, and no
//! input makes the readers panic.

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};
use edi::{archive, read, FileName, InfoCode, Message, PartyCode, Quality, Record};
use proptest::prelude::*;

fn party() -> impl Strategy<Value = PartyCode> {
    "[0-9A-Z]{5}".prop_map(|s| s.parse().unwrap())
}

fn quality() -> impl Strategy<Value = Quality> {
    prop::sample::select(Quality::ALL.to_vec())
}

/// Records of `n` distinct points at the `slot`-th slot of 2026-04-01 (Japan time).
fn records(interval: u8) -> impl Strategy<Value = Vec<Record>> {
    let slots = 24 * 60 / u32::from(interval);
    (
        0..slots,
        prop::collection::btree_set("[0-9]{22}", 1..12),
        prop::collection::vec(
            (
                any::<[u8; 8]>(),
                [
                    0u32..100_000_000,
                    0..100_000_000,
                    0..100_000_000,
                    0..100_000_000,
                ],
                quality(),
                0i64..10_000_000_000,
            ),
            12,
        ),
    )
        .prop_map(move |(slot, points, values)| {
            let midnight = DateTime::parse_from_rfc3339("2026-04-01T00:00:00+09:00")
                .unwrap()
                .with_timezone(&Utc);
            let start = midnight + Duration::minutes(i64::from(slot * u32::from(interval)));
            points
                .into_iter()
                .zip(values)
                .map(|(point, (terminal, v, quality, late_ns))| Record {
                    point: point.parse().unwrap(),
                    terminal,
                    slot_start: start,
                    interval_min: interval,
                    in_wh: v[0],
                    out_wh: v[1],
                    cum_in_wh: v[2],
                    cum_out_wh: v[3],
                    quality,
                    received_at: (quality != Quality::Estimated)
                        .then(|| start + Duration::nanoseconds(late_ns)),
                })
                .collect()
        })
}

proptest! {
    #[test]
    fn if01_any_slot_message_reads_back_unchanged(
        sender in party(),
        receiver in party(),
        created_s in 1_700_000_000i64..1_900_000_000,
        records in prop_oneof![records(30), records(15)],
    ) {
        let created = DateTime::from_timestamp(created_s, 0).unwrap();
        let m = Message::slot(sender, receiver, created, records).unwrap();
        prop_assert_eq!(&read::message(&m.to_xml()).unwrap(), &m);
        let name = FileName::new(m.info, m.file_time(), 0, 0).unwrap();
        prop_assert_eq!(archive::open(&name, &archive::pack(&name, &m).unwrap()).unwrap(), m);
    }

    #[test]
    fn if01_any_daily_message_reads_back_unchanged(
        a in records(30),
        b in records(30),
        sender in party(),
        receiver in party(),
    ) {
        // Two slots' records (a point may be in both, or in one).
        let date = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
        let created = DateTime::from_timestamp(1_775_000_000, 0).unwrap();
        let m = Message::daily(sender, receiver, created, date, dedup([a, b].concat())).unwrap();
        prop_assert_eq!(&read::message(&m.to_xml()).unwrap(), &m);
    }

    #[test]
    fn if01_energies_and_times_are_written_as_chrono_and_format_write_them(
        wh in any::<u32>(),
        secs in -80_000_000_000i64..300_000_000_000,
        nanos in prop_oneof![
            Just(0u32),
            (1u32..1_000).prop_map(|m| m * 1_000_000),
            (1u32..1_000_000).prop_map(|u| u * 1_000),
            0u32..1_000_000_000,
        ],
    ) {
        // The writers made by hand (no allocation a value) against the formatting they
        // replaced, over every energy and the times chrono can hold, years past 9999
        // and before 0 included.
        prop_assert_eq!(edi::message::kwh(wh), format!("{}.{:03}", wh / 1000, wh % 1000));
        let t = DateTime::from_timestamp(secs, nanos).unwrap();
        let chrono = t
            .with_timezone(&edi::message::JST)
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false);
        prop_assert_eq!(edi::message::jst(t), chrono);
    }

    #[test]
    fn if01_file_names_read_back_as_printed(
        code in prop::sample::select(InfoCode::ALL.to_vec()),
        day in 0i64..20_000,
        slot in 0u32..96,
        update in 0u8..100,
        split in 0u16..10_000,
    ) {
        let date = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + Duration::days(day);
        let minutes = if code.is_daily() { 0 } else { slot % (24 * 60 / u32::from(code.interval_min())) * u32::from(code.interval_min()) };
        let at: NaiveDateTime = date.and_hms_opt(minutes / 60, minutes % 60, 0).unwrap();
        let name = FileName::new(code, at, update, split).unwrap();
        prop_assert_eq!(name.to_string().parse::<FileName>().unwrap(), name);
    }

    #[test]
    fn if01_no_name_makes_the_parser_panic(s in "\\PC{0,40}") {
        let _ = s.parse::<FileName>();
    }

    #[test]
    fn if01_a_damaged_message_is_read_or_refused_never_a_panic(
        records in records(30),
        at in any::<prop::sample::Index>(),
        with in any::<u8>(),
    ) {
        let created = DateTime::from_timestamp(1_775_000_000, 0).unwrap();
        let sender: PartyCode = "9A01K".parse().unwrap();
        let m = Message::slot(sender, sender, created, records).unwrap();
        let mut xml = m.to_xml().into_bytes();
        let i = at.index(xml.len());
        xml[i] = with;
        if let Ok(text) = String::from_utf8(xml) {
            let _ = read::message(&text);
        }
        let name = FileName::new(m.info, m.file_time(), 0, 0).unwrap();
        let mut zip = archive::pack(&name, &m).unwrap();
        let j = at.index(zip.len());
        zip[j] ^= with | 1;
        let _ = archive::open(&name, &zip);
    }
}

/// Each (point, slot) once: the first.
fn dedup(mut records: Vec<Record>) -> Vec<Record> {
    records.sort_by_key(|r| (r.slot_start, r.point));
    records.dedup_by(|b, a| (a.slot_start, a.point) == (b.slot_start, b.point));
    records
}
