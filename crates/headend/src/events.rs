//! What the head end learns of each terminal besides its readings, kept for the
//! operations pages (OPS-06: collected, kept, reviewed): the events the smart meters
//! relay (a terminal's pushed events — a flood, the meter's ID changed — and the smart
//! meter's own about it — a failed authentication, a scan for another Pairing ID, the
//! terminal joined or left its IoT route) and the terminal's state at its smart meter
//! (joined, absent, blocked) whenever a hello tells one that differs from the last
//! known. Append-only, like the block records, and kept [`EVENTS_KEPT_DAYS`]: a row
//! leaves only past that (`iotroute headend prune`).

use chrono::{DateTime, Utc};
use dlms::Data;
use wisun::mac::Eui64;

/// How long the head end keeps a terminal event, days **(ours)**: more than a year, so
/// a yearly review (OPS-02, OPS-06) sees every event since the last one.
pub const EVENTS_KEPT_DAYS: u32 = 400;

/// Longest details kept, characters.
pub const DETAILS_MAX: usize = 400;

/// One event of a terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TerminalEvent {
    /// The terminal.
    pub terminal: Eui64,
    /// The smart meter that told it.
    pub smart_meter: Eui64,
    /// Its kind: an event's name (`dos`, `auth_failure`, `meter_id_mismatch`, `joined`,
    /// `left`, ... or `code_<code>`), or the state told by a hello (`joined`, `absent`,
    /// `blocked`).
    pub kind: String,
    /// The event code, for an event (docs/iot-route-cosem.md; ours from 200).
    pub code: Option<u16>,
    /// When it happened, as told (a state: when the hello came).
    pub at: DateTime<Utc>,
    /// When the head end received it.
    pub received_at: DateTime<Utc>,
    /// Its details as the event carried them, as text (at most [`DETAILS_MAX`]).
    pub details: String,
}

/// Whether `kind` tells the terminal's link state (joined, left — its smart meter's
/// events — or joined, absent, blocked — a hello's), not an alarm.
#[must_use]
pub fn is_state(kind: &str) -> bool {
    matches!(kind, "joined" | "left" | "absent" | "blocked")
}

/// An event's details as text: numbers as numbers, octet strings in hex, strings as
/// they are; cut at [`DETAILS_MAX`] characters.
#[must_use]
pub fn details_text(details: &[Data]) -> String {
    fn one(d: &Data, out: &mut String) {
        use std::fmt::Write as _;
        let _ = match d {
            Data::Null | Data::DontCare => write!(out, "-"),
            Data::Array(items) | Data::Structure(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    one(item, out);
                }
                out.push(']');
                Ok(())
            }
            Data::Boolean(b) => write!(out, "{b}"),
            Data::OctetString(b) | Data::BitString { bytes: b, .. } => {
                for byte in b {
                    let _ = write!(out, "{byte:02X}");
                }
                Ok(())
            }
            Data::VisibleString(b) | Data::Utf8String(b) => {
                write!(out, "{}", String::from_utf8_lossy(b))
            }
            Data::DoubleLong(v) | Data::DeltaDoubleLong(v) => write!(out, "{v}"),
            Data::DoubleLongUnsigned(v) | Data::DeltaDoubleLongUnsigned(v) => write!(out, "{v}"),
            Data::Bcd(v) | Data::Integer(v) | Data::DeltaInteger(v) => write!(out, "{v}"),
            Data::Long(v) | Data::DeltaLong(v) => write!(out, "{v}"),
            Data::Unsigned(v) | Data::Enum(v) | Data::DeltaUnsigned(v) => write!(out, "{v}"),
            Data::LongUnsigned(v) | Data::DeltaLongUnsigned(v) => write!(out, "{v}"),
            Data::Long64(v) => write!(out, "{v}"),
            Data::Long64Unsigned(v) => write!(out, "{v}"),
            Data::Float32(v) => write!(out, "{v}"),
            Data::Float64(v) => write!(out, "{v}"),
            other => write!(out, "{other:?}"),
        };
    }
    let mut out = String::new();
    for (i, d) in details.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        one(d, &mut out);
    }
    if out.chars().count() > DETAILS_MAX {
        out = out.chars().take(DETAILS_MAX - 1).collect();
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops06_event_details_read_as_text_and_are_bounded() {
        let d = [
            Data::OctetString(vec![0xFE, 0x80]),
            Data::DoubleLongUnsigned(1200),
            Data::Structure(vec![
                Data::VisibleString(b"radio".to_vec()),
                Data::Boolean(true),
            ]),
        ];
        assert_eq!(details_text(&d), "FE80, 1200, [radio, true]");
        let long = [Data::OctetString(vec![0xAB; 1000])];
        assert_eq!(details_text(&long).chars().count(), DETAILS_MAX);
        assert!(is_state("joined") && is_state("left") && !is_state("dos"));
    }
}
