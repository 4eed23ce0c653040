//! Readings for the tests: one Kyushu supply point, one terminal, boundaries counted in
//! 15-minute steps from 2026-12-05 00:00 JST.

#![allow(dead_code)] // each test binary uses its own part

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use mdms::{
    Arrival, Counter, Filter, Format, Interval, Mdms, MdmsStore, RawReading, Status, SupplyPoint,
    TerminalId,
};

pub fn point() -> SupplyPoint {
    "0900000000000000000001".parse().unwrap()
}

pub fn other_point() -> SupplyPoint {
    "0100000000000000000002".parse().unwrap()
}

pub const TERMINAL: TerminalId = TerminalId([0x00, 0x1D, 0x12, 0x90, 0, 0, 0, 1]);

/// Boundary `q` quarter-hours after 2026-12-05 00:00 JST.
pub fn at(q: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 4, 15, 0, 0).unwrap() + TimeDelta::minutes(15 * q)
}

/// A reading pushed 5 s after its boundary, on the 30-minute interval.
pub fn pushed(q: i64, ac_in: u32, ac_out: u32) -> RawReading {
    RawReading {
        point: point(),
        terminal: TERMINAL,
        boundary: at(q),
        interval: Interval::Half,
        ac_in: Some(Counter::new(ac_in).unwrap()),
        ac_out: Some(Counter::new(ac_out).unwrap()),
        status: Status::default(),
        received_at: at(q) + TimeDelta::seconds(5),
        arrival: Arrival::Pushed,
    }
}

/// The same reading fetched by backfill at `received`.
pub fn backfilled(q: i64, ac_in: u32, ac_out: u32, received: DateTime<Utc>) -> RawReading {
    RawReading {
        arrival: Arrival::Backfilled,
        received_at: received,
        ..pushed(q, ac_in, ac_out)
    }
}

/// The terminal's row for a boundary whose meter did not answer.
pub fn missing(q: i64) -> RawReading {
    RawReading {
        ac_in: None,
        ac_out: None,
        status: Status(Status::DATA_NOT_VALID),
        ..pushed(q, 0, 0)
    }
}

pub fn export<S: MdmsStore>(m: &Mdms<S>, filter: &Filter, format: Format) -> String {
    let mut out = Vec::new();
    m.export(filter, &mut out, format).unwrap();
    String::from_utf8(out).unwrap()
}

pub fn csv<S: MdmsStore>(m: &Mdms<S>) -> String {
    export(m, &Filter::default(), Format::Csv)
}
