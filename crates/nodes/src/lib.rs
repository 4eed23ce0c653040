//! Sans-IO state machines of iotroute's nodes.
//!
//! Each node is a struct fed with `(now, event)` that returns what to send; none reads a
//! clock or a socket, so the same code runs under tokio with real sockets and under the
//! simulator with virtual time, and every test is deterministic.

pub mod app;
pub mod controller;
pub mod flood;
pub mod link;
pub mod log_limit;
pub mod meter;
pub mod queue;
pub mod terminal;

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, Timelike, Utc};
use echonet::objects::{Date, TimeOfDay};

/// Japan Standard Time (UTC+9, no daylight saving) as a local date and time: the clock
/// every meter, terminal and smart meter of the system keeps.
pub fn jst(now: DateTime<Utc>) -> NaiveDateTime {
    now.naive_utc() + Duration::hours(9)
}

/// The date part of `t` as ECHONET carries it (0x98); `None` outside years 1..=9999.
pub(crate) fn echonet_date(t: NaiveDateTime) -> Option<Date> {
    Date::new(
        u16::try_from(t.year()).ok()?,
        u8::try_from(t.month()).ok()?,
        u8::try_from(t.day()).ok()?,
    )
}

/// The time part of `t` as ECHONET carries it (0xDA, and 0x97 without seconds).
pub(crate) fn echonet_time(t: NaiveDateTime) -> Option<TimeOfDay> {
    TimeOfDay::new(
        u8::try_from(t.hour()).ok()?,
        u8::try_from(t.minute()).ok()?,
        u8::try_from(t.second()).ok()?,
    )
}
