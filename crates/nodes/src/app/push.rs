//! The pushes a terminal sends (TRM-05), as the smart meter reads them.

use chrono::{DateTime, FixedOffset};
use dlms::wrapper::Wpdu;
use dlms::Data;

/// A push a terminal sent, as the smart meter reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pushed {
    /// The push number (long invoke id).
    pub number: u32,
    /// When the terminal captured it (its clock).
    pub captured_at: Option<DateTime<FixedOffset>>,
    /// What it carries.
    pub what: PushKind,
}

/// A slot's values or an event.
#[derive(Debug, Clone, PartialEq)]
pub enum PushKind {
    /// A slot push (TRM-05).
    Slot {
        /// AC input, Wh.
        energy_in_wh: Option<u32>,
        /// AC output, Wh.
        energy_out_wh: Option<u32>,
        /// The load-profile status.
        status: Option<u8>,
    },
    /// An event push (ours): the event log's code and its details (SEC-07: registered
    /// and read meter IDs; SEC-08: the flood's source and count).
    Event {
        /// The event code.
        code: u16,
        /// The details as the terminal pushed them (the smart meter relays them so).
        details: Vec<Data>,
    },
}

impl PushKind {
    /// An event's details in plain JSON (`@HEX` octet strings, numbers), for logs.
    #[must_use]
    pub fn details_json(details: &[Data]) -> Vec<serde_json::Value> {
        details
            .iter()
            .map(|d| dlms::text::plain(d, false))
            .collect()
    }
}

/// The push in `datagram`, if it is one (a wrapper frame to the management client's
/// wPort carrying a Data-Notification): `None` for anything else (an answer), `Some(Err)`
/// for a push that does not read. Plain: the IoT route below is CCM*-secured.
pub fn read_push(datagram: &[u8]) -> Option<Result<Pushed, String>> {
    let frame = Wpdu::parse(datagram).ok()?;
    if frame.destination != dlms::push::PUSH_DESTINATION_WPORT || frame.apdu.first() != Some(&0x0F)
    {
        return None;
    }
    let n = match dlms::push::PushListener::new(None).handle(frame.apdu) {
        Ok(n) => n,
        Err(e) => return Some(Err(e.to_string())),
    };
    let body = n.body.elements().unwrap_or(&[]);
    let number = |i: usize| body.get(i).and_then(Data::as_i128);
    let what = match body.first() {
        // An event push: {event code, clock, details}.
        Some(Data::LongUnsigned(code)) => PushKind::Event {
            code: *code,
            details: body.get(2).and_then(Data::elements).unwrap_or(&[]).to_vec(),
        },
        // The push setup's objects: (push setup, clock, AC input, AC output, status).
        _ => PushKind::Slot {
            energy_in_wh: number(2).and_then(|v| u32::try_from(v).ok()),
            energy_out_wh: number(3).and_then(|v| u32::try_from(v).ok()),
            status: number(4).and_then(|v| u8::try_from(v).ok()),
        },
    };
    Some(Ok(Pushed {
        number: n.long_invoke_id,
        captured_at: n
            .captured_at
            .and_then(|t| t.to_chrono_or(dlms::datetime::JST_DEVIATION)),
        what,
    }))
}
