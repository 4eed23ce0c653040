//! The load profile as the handy terminal prints it (TRM-06): one row per slot of the
//! asked range, a slot the terminal holds no values for as a row of nulls with status
//! bit 2 (data not valid), so that a gap is never read as zero or skipped over.

use chrono::{DateTime, FixedOffset, TimeDelta};
use dlms::cosem::model::status;
use dlms::Data;
use serde::Serialize;

/// One slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// The slot boundary, RFC 3339 in the terminal's offset (JST).
    pub time: String,
    /// Cumulative AC input energy at the boundary, Wh; `None`: not valid.
    pub ac_in_wh: Option<u32>,
    /// Cumulative AC output energy, Wh; `None`: not valid.
    pub ac_out_wh: Option<u32>,
    /// The profile's status byte (docs/iot-route-cosem.md).
    pub status: u8,
    /// Taken afterwards from the meter's own history (status bit 6, ours).
    pub recovered: bool,
}

/// A profile row that is not {clock, AC input, AC output, status}.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("profile row {index}: {why}")]
pub struct RowError {
    /// Its position in the buffer.
    pub index: usize,
    /// What is wrong.
    pub why: String,
}

/// One buffer row, read.
struct Slot {
    time: DateTime<FixedOffset>,
    ac_in: u32,
    ac_out: u32,
    status: u8,
}

fn slot(index: usize, row: &Data) -> Result<Slot, RowError> {
    let bad = |why: &str| RowError {
        index,
        why: why.to_owned(),
    };
    let cells = row.elements().ok_or_else(|| bad("not a structure"))?;
    let [clock, ac_in, ac_out, st] = cells else {
        return Err(bad("not four columns"));
    };
    let time = clock
        .as_date_time()
        .and_then(|d| d.to_chrono_or(dlms::datetime::JST_DEVIATION))
        .ok_or_else(|| bad("the clock column is not a date-time"))?;
    let number = |d: &Data, what: &str| {
        d.as_i128()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| bad(what))
    };
    Ok(Slot {
        time,
        ac_in: number(ac_in, "AC input is not a 32-bit count")?,
        ac_out: number(ac_out, "AC output is not a 32-bit count")?,
        status: u8::try_from(number(st, "the status is not a byte")?)
            .map_err(|_| bad("the status is not a byte"))?,
    })
}

fn row(s: &Slot) -> Row {
    let valid = s.status & status::DATA_NOT_VALID == 0;
    Row {
        time: s.time.to_rfc3339(),
        ac_in_wh: valid.then_some(s.ac_in),
        ac_out_wh: valid.then_some(s.ac_out),
        status: s.status,
        recovered: s.status & status::RECOVERED != 0,
    }
}

fn missing(time: DateTime<FixedOffset>) -> Row {
    Row {
        time: time.to_rfc3339(),
        ac_in_wh: None,
        ac_out_wh: None,
        status: status::DATA_NOT_VALID,
        recovered: false,
    }
}

/// The rows of `buffer` (the profile's attribute 2), every slot boundary of `range`
/// (inclusive, at `period` seconds, JST boundaries) that the buffer lacks added as a
/// missing row, oldest first. Without a range only the buffer's rows, and the gaps
/// between them at `period`.
///
/// A boundary is a multiple of `period` from midnight JST; under the period in force now
/// a gap left while an older, longer period was in force reads as missing rows too.
///
/// # Errors
/// [`RowError`] for a row that is not the IoT-route profile's.
pub fn rows(
    buffer: &Data,
    range: Option<(DateTime<FixedOffset>, DateTime<FixedOffset>)>,
    period: u32,
) -> Result<Vec<Row>, RowError> {
    let slots = buffer
        .elements()
        .unwrap_or(&[])
        .iter()
        .enumerate()
        .map(|(i, r)| slot(i, r))
        .collect::<Result<Vec<_>, _>>()?;
    let step = TimeDelta::seconds(i64::from(period.max(60)));
    let (first, last) = match (range, slots.first(), slots.last()) {
        (Some((from, to)), _, _) => (boundary_at_or_after(from, step), to),
        (None, Some(f), Some(l)) => (f.time, l.time),
        _ => return Ok(Vec::new()),
    };
    let mut out = Vec::new();
    let mut next = first;
    for s in &slots {
        while next < s.time && next <= last {
            out.push(missing(next));
            next += step;
        }
        out.push(row(s));
        if next <= s.time {
            next = boundary_at_or_after(s.time + TimeDelta::seconds(1), step);
        }
    }
    while next <= last {
        out.push(missing(next));
        next += step;
    }
    Ok(out)
}

/// The first boundary (a multiple of `step` from midnight JST) at or after `t`.
fn boundary_at_or_after(t: DateTime<FixedOffset>, step: TimeDelta) -> DateTime<FixedOffset> {
    let t = t.with_timezone(&dlms::text::jst());
    let step_s = step.num_seconds().max(1);
    let since_midnight = i64::from(chrono::Timelike::num_seconds_from_midnight(&t));
    let rest = since_midnight.rem_euclid(step_s);
    let floor = t
        - TimeDelta::seconds(rest)
        - TimeDelta::nanoseconds(i64::from(chrono::Timelike::nanosecond(&t)));
    if floor == t {
        t
    } else {
        floor + step
    }
}

/// A profile row as the terminal writes it (for tests of this module).
#[cfg(test)]
fn buffer_row(time: &str, ac_in: u32, ac_out: u32, status: u8) -> Data {
    let t = DateTime::parse_from_rfc3339(time).unwrap();
    Data::Structure(vec![
        Data::clock_octet_string(&dlms::CosemDateTime::from_chrono(&t)),
        Data::DoubleLongUnsigned(ac_in),
        Data::DoubleLongUnsigned(ac_out),
        Data::Unsigned(status),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    #[test]
    fn trm06_a_slot_the_buffer_lacks_is_a_null_row_flagged_not_valid() {
        let buffer = Data::Array(vec![
            buffer_row("2026-12-05T10:00:00+09:00", 1000, 10, 0),
            buffer_row("2026-12-05T11:00:00+09:00", 0, 0, status::DATA_NOT_VALID),
            buffer_row("2026-12-05T11:30:00+09:00", 1200, 12, status::RECOVERED),
        ]);
        let range = (
            t("2026-12-05T09:45:00+09:00"),
            t("2026-12-05T12:00:00+09:00"),
        );
        let rows = rows(&buffer, Some(range), 1800).unwrap();
        let times: Vec<_> = rows.iter().map(|r| r.time.as_str()).collect();
        assert_eq!(
            times,
            [
                "2026-12-05T10:00:00+09:00",
                "2026-12-05T10:30:00+09:00",
                "2026-12-05T11:00:00+09:00",
                "2026-12-05T11:30:00+09:00",
                "2026-12-05T12:00:00+09:00",
            ]
        );
        assert_eq!(rows[0].ac_in_wh, Some(1000));
        for gap in [1, 2, 4] {
            assert_eq!((rows[gap].ac_in_wh, rows[gap].ac_out_wh), (None, None));
            assert_eq!(rows[gap].status & status::DATA_NOT_VALID, 4, "{gap}");
        }
        assert!(rows[3].recovered && !rows[0].recovered);
        assert_eq!(rows[3].ac_out_wh, Some(12));
    }

    #[test]
    fn trm06_without_a_range_only_the_gaps_between_rows_are_added() {
        let buffer = Data::Array(vec![
            buffer_row("2026-12-05T10:00:00+09:00", 1, 1, 0),
            buffer_row("2026-12-05T10:45:00+09:00", 2, 2, 0),
        ]);
        let rows = rows(&buffer, None, 900).unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[1].time, "2026-12-05T10:15:00+09:00");
        assert!(rows[1].ac_in_wh.is_none());
        assert!(super::rows(&Data::Array(vec![]), None, 1800)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn trm06_a_row_that_is_not_the_profiles_is_an_error_naming_it() {
        let buffer = Data::Array(vec![
            buffer_row("2026-12-05T10:00:00+09:00", 1, 1, 0),
            Data::Structure(vec![Data::Unsigned(1)]),
        ]);
        let e = rows(&buffer, None, 1800).unwrap_err();
        assert_eq!(e.index, 1);
    }

    proptest::proptest! {
        /// TRM-06: whatever subset of slots the buffer holds, the rows of a range are
        /// every boundary of it exactly once, in order; a stored row keeps its values
        /// unless flagged not valid; every other row is null and flagged.
        #[test]
        fn trm06_every_boundary_of_a_range_is_one_row(
            stored in proptest::collection::btree_map(0u32..96, (0u32..100_000_000, 0u8..=255), 0..40),
            from in 0u32..96,
            len in 0u32..96,
        ) {
            let base = t("2026-12-05T00:00:00+09:00");
            let at = |k: u32| base + TimeDelta::minutes(30 * i64::from(k));
            let buffer = Data::Array(
                stored
                    .iter()
                    .map(|(k, (wh, st))| buffer_row(&at(*k).to_rfc3339(), *wh, *wh / 2, *st))
                    .collect(),
            );
            let to = from + len;
            let rows = rows(&buffer, Some((at(from), at(to))), 1800).unwrap();
            let times: Vec<String> = rows.iter().map(|r| r.time.clone()).collect();
            let expected: Vec<String> = (from..=to).map(|k| at(k).to_rfc3339()).collect();
            // Stored rows outside the range were not selected by the server; here the
            // buffer holds them all, so they appear too: compare within the range.
            let inside: Vec<&String> = times
                .iter()
                .filter(|x| **x >= at(from).to_rfc3339() && **x <= at(to).to_rfc3339())
                .collect();
            proptest::prop_assert_eq!(inside, expected.iter().collect::<Vec<_>>());
            for r in &rows {
                let k = stored.iter().find(|(k, _)| at(**k).to_rfc3339() == r.time);
                match k {
                    Some((_, (wh, st))) if st & status::DATA_NOT_VALID == 0 => {
                        proptest::prop_assert_eq!(r.ac_in_wh, Some(*wh));
                        proptest::prop_assert_eq!(r.status, *st);
                    }
                    _ => {
                        proptest::prop_assert!(r.ac_in_wh.is_none() && r.ac_out_wh.is_none());
                        proptest::prop_assert!(r.status & status::DATA_NOT_VALID != 0);
                    }
                }
            }
        }

        /// Bad input: any structure a server might send is rows or a typed error, never a
        /// panic.
        #[test]
        fn trm06_any_buffer_is_rows_or_an_error(cells in proptest::collection::vec(0u8..5, 0..12)) {
            let row = Data::Structure(cells.iter().map(|c| match c {
                0 => Data::Unsigned(*c),
                1 => Data::DoubleLongUnsigned(u32::from(*c)),
                2 => Data::OctetString(vec![*c; usize::from(*c) * 3]),
                3 => Data::Null,
                _ => Data::Array(vec![]),
            }).collect());
            let _ = rows(&Data::Array(vec![row.clone(), row]), None, 1800);
        }
    }
}
