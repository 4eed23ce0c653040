//! The smart meter's side of the A route (docs/a-route.md), sans-IO: what it tells the
//! head end about the terminals it holds, and the head end's commands it takes.
//!
//! Application layer only (SEC-01, SEC-04): the head end hears the smart meter's own
//! messages — a terminal's slot push as a *readings* message, its rows read back as
//! more, its events, the outcome of each command — built from what the smart meter's DLMS
//! client read; no byte from the IoT route reaches the A route but as a value in one.
//! Only terminals the head end registered are spoken for (SYS-03): pushes of any other
//! are dropped here.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use dlms::apdu::ActionResult;
use dlms::cipher::{Keys, SystemTitle};
use dlms::cosem::EventCode;
use dlms::relay::channel::Channel;
use dlms::relay::message::{
    encode_answer, own_event, Arrival, Command, Outcome, Row, TerminalState, Uplink, ROWS_MAX,
};
use dlms::relay::stream::FrameReader;
use dlms::relay::{HEAD_END_WPORT, SMART_METER_WPORT};
use dlms::wrapper::{Wpdu, WrapperError};
use dlms::Data;

use super::push::{PushKind, Pushed};
use super::reader::{Carried, Change, Purpose, RowRead};
use super::smartmeter::Arrived;
use crate::link::smartmeter::SmartMeterEvent;
use crate::terminal::slots::Interval;

/// The profile status bit 2: the values are not a reading.
const DATA_NOT_VALID: u8 = dlms::cosem::model::status::DATA_NOT_VALID;

/// A terminal the head end registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// Its Pairing ID.
    pub pairing_id: [u8; 8],
    /// Its management association's secret.
    pub secret: Vec<u8>,
    /// Its reading interval (slot boundaries of its pushes and rows), from `switch` on.
    pub interval: Interval,
    /// TRM-11: the boundary its last interval switch takes effect at, and the interval
    /// before it (the one its rows and pushes before that boundary are of).
    pub switch: Option<(DateTime<Utc>, Interval)>,
    /// Blocked by the head end (OPS-07).
    pub blocked: bool,
}

impl Held {
    /// The interval its slot boundary at `at` is of.
    fn interval_at(&self, at: DateTime<Utc>) -> Interval {
        match self.switch {
            Some((from, before)) if at < from => before,
            _ => self.interval,
        }
    }
}

/// What the relay counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Messages sent to the head end.
    pub sent: u64,
    /// Frames from the head end refused (not sealed by it, replayed, not a command).
    pub refused: u64,
    /// Commands taken.
    pub commands: u64,
    /// Pushes of terminals the head end did not register, dropped.
    pub unregistered: u64,
    /// Events sent again on a new connection (the head end had not said it took them).
    pub events_resent: u64,
    /// Events dropped untaken: more than [`EVENTS_KEPT`] waited for the head end.
    pub events_dropped: u64,
}

/// Events kept until the head end says it took them, at most **(ours)**: a day of a
/// smart meter's own events under attack; beyond, the oldest go (counted and logged).
pub const EVENTS_KEPT: usize = 1024;

/// The smart meter's A-route side.
#[derive(Debug)]
pub struct SmartMeterRelay {
    channel: Channel,
    reader: FrameReader,
    number: u32,
    out: Vec<u8>,
    held: BTreeMap<[u8; 8], Held>,
    /// Events sent and not yet taken ([`Command::EventsTaken`]), oldest first: sent again
    /// after the hello of each new connection. In memory: a power cut loses them.
    untaken: VecDeque<Uplink>,
    stats: RelayStats,
}

impl SmartMeterRelay {
    /// The smart meter `own` (its EUI-64 as system title) talking to the head end
    /// `head_end` under `keys`; `sent`/`taken`: the counters kept from a previous run.
    #[must_use]
    pub fn new(
        own: SystemTitle,
        head_end: SystemTitle,
        keys: Keys,
        sent: u32,
        taken: Option<u32>,
    ) -> Self {
        Self {
            channel: Channel::new(own, head_end, keys, sent, taken),
            reader: FrameReader::new(),
            number: 0,
            out: Vec::new(),
            held: BTreeMap::new(),
            untaken: VecDeque::new(),
            stats: RelayStats::default(),
        }
    }

    /// What it counted.
    #[must_use]
    pub const fn stats(&self) -> RelayStats {
        self.stats
    }

    /// The counters to keep across a restart: the last this end spent, the last of the
    /// head end's taken.
    #[must_use]
    pub const fn counters(&self) -> (u32, Option<u32>) {
        (self.channel.sent(), self.channel.taken())
    }

    /// A terminal the head end registered, if it is one.
    #[must_use]
    pub fn held(&self, terminal: [u8; 8]) -> Option<&Held> {
        self.held.get(&terminal)
    }

    /// Bytes for the head end's connection.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }

    /// A new connection: a fresh stream, and the hello (every terminal held and its
    /// state) first on it.
    pub fn connected(&mut self, now: DateTime<Utc>, joined: impl Fn([u8; 8]) -> bool) {
        self.reader = FrameReader::new();
        self.out.clear();
        let terminals = self
            .held
            .iter()
            .map(|(t, h)| {
                let state = if h.blocked {
                    TerminalState::Blocked
                } else if joined(*t) {
                    TerminalState::Joined
                } else {
                    TerminalState::Absent
                };
                (*t, state)
            })
            .collect();
        self.send(&Uplink::Hello { terminals }, now);
        // What the head end may not have (the connection broke before it said it took
        // them), in their order and with their numbers, by which it knows the ones it has.
        let untaken = std::mem::take(&mut self.untaken);
        for event in &untaken {
            self.send(event, now);
        }
        self.stats.events_resent += untaken.len() as u64;
        self.untaken = untaken;
    }

    /// Send an event numbered by the counter that seals it, kept until taken.
    fn send_event(
        &mut self,
        terminal: [u8; 8],
        code: u16,
        at: DateTime<Utc>,
        details: Vec<dlms::Data>,
        now: DateTime<Utc>,
    ) {
        let event = Uplink::Event {
            number: self.channel.sent().wrapping_add(1),
            terminal,
            code,
            at,
            details,
        };
        self.send(&event, now);
        if self.untaken.len() >= EVENTS_KEPT {
            self.untaken.pop_front();
            self.stats.events_dropped += 1;
            tracing::warn!(
                kept = EVENTS_KEPT,
                "A route: the oldest event not taken by the head end dropped"
            );
        }
        self.untaken.push_back(event);
    }

    /// Events the head end took, up to `upto`: not sent again.
    fn events_taken(&mut self, upto: u32) {
        self.untaken
            .retain(|e| !matches!(e, Uplink::Event { number, .. } if *number <= upto));
    }

    /// Events sent and not taken yet.
    #[must_use]
    pub fn untaken(&self) -> usize {
        self.untaken.len()
    }

    fn send(&mut self, message: &Uplink, now: DateTime<Utc>) {
        self.number = self.number.wrapping_add(1) & 0x00FF_FFFF;
        let framed = message
            .encode(self.number, now)
            .map_err(|e| e.to_string())
            .and_then(|plain| self.channel.seal(&plain).map_err(|e| e.to_string()))
            .and_then(|sealed| {
                Wpdu::new(SMART_METER_WPORT, HEAD_END_WPORT, &sealed)
                    .emit()
                    .map_err(|e| e.to_string())
            });
        match framed {
            Ok(bytes) => {
                self.out.extend_from_slice(&bytes);
                self.stats.sent += 1;
            }
            Err(e) => tracing::error!(error = %e, "A route: message not sent"),
        }
    }

    fn answer(&mut self, invoke_id: u8, result: ActionResult) {
        let framed = encode_answer(invoke_id, result)
            .map_err(|e| e.to_string())
            .and_then(|plain| self.channel.seal(&plain).map_err(|e| e.to_string()))
            .and_then(|sealed| {
                Wpdu::new(SMART_METER_WPORT, HEAD_END_WPORT, &sealed)
                    .emit()
                    .map_err(|e| e.to_string())
            });
        match framed {
            Ok(bytes) => self.out.extend_from_slice(&bytes),
            Err(e) => tracing::error!(error = %e, "A route: answer not sent"),
        }
    }

    /// Bytes from the head end: the commands taken, for the smart meter to carry out
    /// (each answered already; its outcome goes back with [`Self::done`]). Registering
    /// and forgetting terminals the relay does itself, and returns them too (the smart
    /// meter's readers need the secret).
    ///
    /// # Errors
    /// [`WrapperError`]: the stream is not frames; the caller closes the connection.
    pub fn received(&mut self, bytes: &[u8]) -> Result<Vec<Command>, WrapperError> {
        self.reader.push(bytes);
        let mut taken = Vec::new();
        while let Some(frame) = self.reader.next_frame()? {
            let plain = match self.channel.open(&frame.apdu) {
                Ok(p) => p,
                Err(e) => {
                    self.stats.refused += 1;
                    tracing::warn!(error = %e, "A route: frame refused");
                    continue;
                }
            };
            let (invoke_id, command) = match dlms::relay::message::Command::decode(&plain) {
                Ok(c) => c,
                Err(e) => {
                    self.stats.refused += 1;
                    tracing::warn!(error = %e, "A route: not a command");
                    if let Some(id) = invoke_id_of(&plain) {
                        self.answer(id, ActionResult::TypeUnmatched);
                    }
                    continue;
                }
            };
            if let Command::EventsTaken { upto } = command {
                self.events_taken(upto);
                self.answer(invoke_id, ActionResult::Success);
                continue;
            }
            if let Some(result) = self.take(&command) {
                self.answer(invoke_id, result);
                continue;
            }
            self.answer(invoke_id, ActionResult::Success);
            self.stats.commands += 1;
            taken.push(command);
        }
        Ok(taken)
    }

    /// Act on a command the relay keeps itself; `Some(result)` when it is refused.
    fn take(&mut self, command: &Command) -> Option<ActionResult> {
        let terminal = match command {
            Command::Register {
                terminal,
                pairing_id,
                secret,
                interval_min,
                switched,
            } => {
                let interval = Interval::from_minutes(*interval_min)?;
                let was = self.held.get(terminal);
                let blocked = was.is_some_and(|h| h.blocked);
                // TRM-11: the switch the head end knows of (a smart meter that restarted
                // knew none); else, registered again with the interval it switched to,
                // the switch it held.
                let told = match switched {
                    Some((at, before)) => Some((*at, Interval::from_minutes(*before)?)),
                    None => None,
                };
                let switch = told.or_else(|| {
                    was.filter(|h| h.interval == interval)
                        .and_then(|h| h.switch)
                });
                self.held.insert(
                    *terminal,
                    Held {
                        pairing_id: *pairing_id,
                        secret: secret.clone(),
                        interval,
                        switch,
                        blocked,
                    },
                );
                return None;
            }
            Command::EventsTaken { .. } => return None,
            Command::Forget { terminal }
            | Command::Backfill { terminal, .. }
            | Command::SetClock { terminal, .. }
            | Command::Block { terminal, .. }
            | Command::Reconnect { terminal, .. }
            | Command::SetInterval { terminal, .. }
            | Command::SetPassword { terminal, .. }
            | Command::TakePassword { terminal, .. } => *terminal,
        };
        let Some(held) = self.held.get_mut(&terminal) else {
            return Some(ActionResult::ObjectUnavailable);
        };
        // A new interval is held once the terminal took it ([`Self::carried`]).
        match command {
            Command::Forget { .. } => {
                self.held.remove(&terminal);
            }
            Command::Block { .. } => held.blocked = true,
            Command::Reconnect { .. } => held.blocked = false,
            _ => {}
        }
        None
    }

    /// A push of `terminal` (TRM-05 slot, or an event) arrived at `now`: told to the
    /// head end if it registered the terminal and has not blocked it.
    pub fn pushed(&mut self, terminal: [u8; 8], pushed: &Pushed, now: DateTime<Utc>) {
        let Some(held) = self.held.get(&terminal).filter(|h| !h.blocked) else {
            self.stats.unregistered += 1;
            tracing::debug!(terminal = %dlms::hex::encode(&terminal), "push of a terminal not registered (or blocked): not relayed");
            return;
        };
        let message = match &pushed.what {
            PushKind::Slot {
                energy_in_wh,
                energy_out_wh,
                status,
            } => {
                let Some(captured) = pushed.captured_at else {
                    tracing::warn!("a slot push without its time: not relayed");
                    return;
                };
                let captured = captured.with_timezone(&Utc);
                let interval = held.interval_at(captured);
                Uplink::Readings {
                    terminal,
                    arrival: Arrival::Pushed,
                    request: 0,
                    rows: vec![row(
                        interval.floor(captured),
                        *energy_in_wh,
                        *energy_out_wh,
                        *status,
                        interval,
                    )],
                }
            }
            PushKind::Event { code, details } => {
                if *code == EventCode::IntervalSwitched.code() {
                    self.switched(terminal, details);
                }
                let at = pushed.captured_at.map_or(now, |t| t.with_timezone(&Utc));
                self.send_event(terminal, *code, at, details.clone(), now);
                return;
            }
        };
        self.send(&message, now);
    }

    /// Rows of `terminal` the smart meter read on its own (its periodic reading: the
    /// profile's last hours), oldest first: the newest as read at its slot (*pushed*),
    /// the older ones as read back (*backfilled*, request 0) — the head end keeps only
    /// what it lacks.
    pub fn read(&mut self, terminal: [u8; 8], rows: &[RowRead], now: DateTime<Utc>) {
        let Some(held) = self.held.get(&terminal).filter(|h| !h.blocked) else {
            self.stats.unregistered += 1;
            return;
        };
        let rows = rows_of(rows, |at| held.interval_at(at));
        let Some((newest, older)) = rows.split_last() else {
            return;
        };
        self.send_rows(terminal, Arrival::Backfilled, 0, older, now);
        self.send_rows(
            terminal,
            Arrival::Pushed,
            0,
            std::slice::from_ref(newest),
            now,
        );
    }

    /// Rows of `terminal` read back for backfill `request`, then its end.
    pub fn backfilled(
        &mut self,
        terminal: [u8; 8],
        request: u32,
        rows: &[RowRead],
        now: DateTime<Utc>,
    ) {
        let held = self.held.get(&terminal);
        let rows = rows_of(rows, |at| {
            held.map_or(Interval::Half, |h| h.interval_at(at))
        });
        self.send_rows(terminal, Arrival::Backfilled, request, &rows, now);
        self.done(request, Outcome::Done, "", now);
    }

    /// `rows` as *readings* messages of at most [`ROWS_MAX`] rows.
    fn send_rows(
        &mut self,
        terminal: [u8; 8],
        arrival: Arrival,
        request: u32,
        rows: &[Row],
        now: DateTime<Utc>,
    ) {
        for chunk in rows.chunks(ROWS_MAX) {
            self.send(
                &Uplink::Readings {
                    terminal,
                    arrival,
                    request,
                    rows: chunk.to_vec(),
                },
                now,
            );
        }
    }

    /// What a terminal's datagram brought the smart meter (`nodes::app::smartmeter`),
    /// told to the head end: a push, a reading's rows (a backfill's with its end).
    pub fn arrived(&mut self, terminal: [u8; 8], arrived: &Arrived, now: DateTime<Utc>) {
        match arrived {
            Arrived::Push(Ok(pushed)) => self.pushed(terminal, pushed, now),
            Arrived::Reading(r) => match r.purpose {
                Purpose::Backfill { request, .. } => {
                    self.backfilled(terminal, request, &r.rows, now);
                }
                Purpose::Periodic => self.read(terminal, &r.rows, now),
                // A command's session ends as `Arrived::Command`, never as a reading.
                Purpose::Command { .. } => {}
            },
            Arrived::Command(c) => self.carried(terminal, c, now),
            Arrived::Push(Err(_)) | Arrived::Firmware(_) => {}
        }
    }

    /// The terminal says its rows follow a new interval from a boundary on (TRM-11, event
    /// 16: `{seconds, boundary}`): what its rows and pushes are labelled by, whatever
    /// [`Self::carried`] expected (a command whose *done* came just after the boundary
    /// it switched at), or a change the smart meter did not make (the handy terminal's).
    fn switched(&mut self, terminal: [u8; 8], details: &[Data]) {
        let switch = match details {
            [Data::DoubleLongUnsigned(seconds), Data::OctetString(clock)] => {
                let from = dlms::datetime::CosemDateTime::from_slice(clock)
                    .and_then(|t| t.to_chrono_or(dlms::datetime::JST_DEVIATION));
                Interval::from_seconds(*seconds).zip(from)
            }
            _ => None,
        };
        let Some((interval, from)) = switch else {
            tracing::warn!(terminal = %dlms::hex::encode(&terminal), ?details, "interval switch event that does not read: labels unchanged");
            return;
        };
        let Some(held) = self.held.get_mut(&terminal) else {
            return;
        };
        let from = from.with_timezone(&Utc);
        // The interval before: the one the terminal switched from, known to the relay
        // as the switch it expected (its command's) or as the one in force.
        let before = match held.switch {
            Some((_, old)) if held.interval == interval => old,
            _ => held.interval,
        };
        tracing::info!(terminal = %dlms::hex::encode(&terminal), %from, minutes = interval.minutes(), "terminal switched interval");
        held.switch = Some((from, before));
        held.interval = interval;
    }

    /// A command carried out on `terminal`, or refused: its end told, and a new interval
    /// the terminal took held (TRM-11: its rows and pushes are of it from the boundary
    /// the terminal switches at — the next one of both intervals, as
    /// [`crate::terminal::reader::SlotReader::switch_interval`] does —, of the old one
    /// before).
    pub fn carried(&mut self, terminal: [u8; 8], carried: &Carried, now: DateTime<Utc>) {
        if let (Change::Interval(i), Outcome::Done, Some(held)) = (
            &carried.change,
            carried.outcome,
            self.held.get_mut(&terminal),
        ) {
            if *i != held.interval {
                let coarser = if i.seconds() > held.interval.seconds() {
                    *i
                } else {
                    held.interval
                };
                held.switch = Some((coarser.next_after(now), held.interval));
                held.interval = *i;
            }
        }
        self.done(carried.request, carried.outcome, &carried.why, now);
    }

    /// What the smart meter's link reported that the head end hears of: an
    /// authentication refused, a scan for another Pairing ID, a terminal joined or
    /// left (its own events; a re-authentication inside a session is not news).
    pub fn link_event(&mut self, event: &SmartMeterEvent, now: DateTime<Utc>) {
        match event {
            SmartMeterEvent::Joined { terminal, .. } => {
                self.own_event(terminal.0, own_event::JOINED, Vec::new(), now);
            }
            SmartMeterEvent::Left { terminal } => {
                self.own_event(terminal.0, own_event::LEFT, Vec::new(), now);
            }
            SmartMeterEvent::Refused { terminal, failure } => {
                let why = dlms::Data::VisibleString(failure.to_string().into_bytes());
                self.own_event(terminal.0, own_event::AUTH_FAILURE, vec![why], now);
            }
            SmartMeterEvent::ForeignScan { from, pairing_id } => {
                let asked = dlms::Data::VisibleString(pairing_id.as_bytes().to_vec());
                let device = from.map_or([0; 8], |e| e.0);
                self.own_event(device, own_event::FOREIGN_PAIRING_SCAN, vec![asked], now);
            }
            _ => {}
        }
    }

    /// Backfills that waited for a terminal that left (`SmartMeterApp::forget`): failed.
    pub fn left(&mut self, dropped: &[u32], now: DateTime<Utc>) {
        for request in dropped {
            self.done(*request, Outcome::Failed, "the terminal left", now);
        }
    }

    /// The smart meter's own event `code` (`dlms::relay::message::own_event`) about
    /// device `device` at `now` — registered or not: an intruder is what the head end
    /// must hear of.
    pub fn own_event(
        &mut self,
        device: [u8; 8],
        code: u16,
        details: Vec<dlms::Data>,
        now: DateTime<Utc>,
    ) {
        self.send_event(device, code, now, details, now);
    }

    /// A command's end.
    pub fn done(&mut self, request: u32, outcome: Outcome, why: &str, now: DateTime<Utc>) {
        let text: String = why.chars().take(dlms::relay::message::TEXT_MAX).collect();
        self.send(
            &Uplink::Done {
                request,
                outcome,
                text,
            },
            now,
        );
    }
}

/// Rows the smart meter read, as the A route carries them, each of the interval
/// `interval_at` its time.
fn rows_of(rows: &[RowRead], interval_at: impl Fn(DateTime<Utc>) -> Interval) -> Vec<Row> {
    rows.iter()
        .map(|r| {
            let at = r.time.with_timezone(&Utc);
            row(at, r.ac_in_wh, r.ac_out_wh, r.status, interval_at(at))
        })
        .collect()
}

/// A row as the A route carries it: values missing make it not valid.
fn row(
    at: DateTime<Utc>,
    in_wh: Option<u32>,
    out_wh: Option<u32>,
    status: Option<u8>,
    interval: Interval,
) -> Row {
    let complete = in_wh.is_some() && out_wh.is_some() && status.is_some();
    Row {
        at,
        in_wh: in_wh.unwrap_or(0),
        out_wh: out_wh.unwrap_or(0),
        status: status.unwrap_or(0) | if complete { 0 } else { DATA_NOT_VALID },
        interval_min: interval.minutes(),
    }
}

/// The invoke id of an ACTION-Request whose parameters did not read (to refuse it).
fn invoke_id_of(plain: &[u8]) -> Option<u8> {
    match plain {
        [0xC3, 0x01, id, ..] => Some(*id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn trm11_a_boundary_before_the_switch_is_of_the_old_interval() {
        let switch_at = Utc.with_ymd_and_hms(2026, 4, 1, 14, 0, 0).unwrap();
        let held = Held {
            pairing_id: [0; 8],
            secret: Vec::new(),
            interval: Interval::Half,
            switch: Some((switch_at, Interval::Quarter)),
            blocked: false,
        };
        let quarter_before = switch_at - chrono::TimeDelta::minutes(15);
        assert_eq!(held.interval_at(quarter_before), Interval::Quarter);
        assert_eq!(held.interval_at(switch_at), Interval::Half);
        let rows = rows_of(
            &[RowRead {
                time: quarter_before.fixed_offset(),
                ac_in_wh: Some(1),
                ac_out_wh: Some(2),
                status: Some(0),
            }],
            |at| held.interval_at(at),
        );
        assert_eq!(rows[0].interval_min, 15);
    }

    /// A smart meter that restarted learns a terminal's switch from its registration
    /// (method 1's fifth field): the rows it reads back from before the switch are of the
    /// old interval, not the registered one (fails when the relay drops the field).
    #[test]
    fn trm11_a_registration_after_a_restart_brings_the_switch_back() {
        let terminal = [2, 0x1A, 0, 0, 0, 0, 0x10, 1];
        let switch_at = Utc.with_ymd_and_hms(2026, 4, 1, 5, 0, 0).unwrap();
        let mut relay = SmartMeterRelay::new(
            SystemTitle(*b"SMT00001"),
            SystemTitle(*b"HES00001"),
            Keys::GREEN_BOOK,
            0,
            None,
        );
        let register = |switched| Command::Register {
            terminal,
            pairing_id: *b"IOT00001",
            secret: b"K".to_vec(),
            interval_min: 15,
            switched,
        };
        assert_eq!(relay.take(&register(Some((switch_at, 30)))), None);
        let held = relay.held(terminal).cloned().unwrap();
        assert_eq!(held.switch, Some((switch_at, Interval::Half)));
        let before = switch_at - chrono::TimeDelta::minutes(30);
        assert_eq!(held.interval_at(before), Interval::Half);
        assert_eq!(held.interval_at(switch_at), Interval::Quarter);
        // Registered again without it (a head end that knows of none): the switch held
        // stays, as before.
        assert_eq!(relay.take(&register(None)), None);
        assert_eq!(
            relay.held(terminal).and_then(|h| h.switch),
            Some((switch_at, Interval::Half))
        );
    }

    /// The terminal's event 16 says where it switched: it wins over what the relay
    /// expected when the command's *done* came (just after the boundary it switched at).
    #[test]
    fn trm11_the_terminals_switch_event_sets_the_boundary_the_rows_are_labelled_by() {
        let terminal = [2, 0x1A, 0, 0, 0, 0, 0x10, 1];
        let mut relay = SmartMeterRelay::new(
            SystemTitle(*b"SMT00001"),
            SystemTitle(*b"HES00001"),
            Keys::GREEN_BOOK,
            0,
            None,
        );
        relay.held.insert(
            terminal,
            Held {
                pairing_id: [0; 8],
                secret: Vec::new(),
                interval: Interval::Quarter,
                switch: None,
                blocked: false,
            },
        );
        let boundary = Utc.with_ymd_and_hms(2026, 4, 1, 8, 30, 0).unwrap();
        // The done at 17:30:00.148 JST: the relay expects the switch at 18:00.
        relay.carried(
            terminal,
            &Carried {
                request: 7,
                change: Change::Interval(Interval::Half),
                outcome: Outcome::Done,
                why: String::new(),
            },
            boundary + chrono::TimeDelta::milliseconds(148),
        );
        let expected = relay.held(terminal).unwrap().switch;
        assert_eq!(
            expected,
            Some((boundary + chrono::TimeDelta::minutes(30), Interval::Quarter))
        );
        // The terminal switched at 17:30.
        let clock = dlms::cosem::to_cosem(boundary, dlms::datetime::JST_DEVIATION, 0);
        relay.switched(
            terminal,
            &[
                Data::DoubleLongUnsigned(1800),
                Data::clock_octet_string(&clock),
            ],
        );
        let held = relay.held(terminal).unwrap();
        assert_eq!(held.switch, Some((boundary, Interval::Quarter)));
        assert_eq!(held.interval_at(boundary), Interval::Half);
        assert_eq!(
            held.interval_at(boundary - chrono::TimeDelta::minutes(15)),
            Interval::Quarter
        );
        // An event that does not read changes nothing.
        relay.switched(terminal, &[Data::DoubleLongUnsigned(1800)]);
        assert_eq!(
            relay.held(terminal).unwrap().switch,
            Some((boundary, Interval::Quarter))
        );
    }
}
