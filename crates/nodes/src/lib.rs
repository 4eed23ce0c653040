//! Sans-IO state machines of iotroute's nodes.
//!
//! Each node is a struct fed with `(now, event)` that returns what to send; none reads a
//! clock or a socket, so the same code runs under tokio with real sockets and under the
//! simulator with virtual time, and every test is deterministic.

pub mod controller;
pub mod log_limit;
pub mod meter;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};

/// Japan Standard Time (UTC+9, no daylight saving) as a local date and time: the clock
/// every meter, terminal and smart meter of the system keeps.
pub fn jst(now: DateTime<Utc>) -> NaiveDateTime {
    now.naive_utc() + Duration::hours(9)
}
