//! What the smart meter runs on top of its link, as one piece: the reading sessions with
//! its terminals ([`Reader`]), the image it may carry to them ([`Rollout`]), and the
//! pushes they send ([`read_push`]) — which datagram from a terminal goes where, and
//! what to start when a terminal is due: the image while one is pending, else a backfill
//! the head end asked for, else the smart meter's own reading. Shared by the simulator and `iotroute
//! smartmeter`, which only schedule, send and report.

use core::time::Duration;
use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};

use super::image_push::{PushOutcome, Rollout};
use super::push::{read_push, Pushed};
use super::reader::{Purpose, Reader, Reading};

/// What a datagram from a terminal brought.
#[derive(Debug)]
pub enum Arrived {
    /// A push (TRM-05 slot, SEC-07/08 event), or one that does not read.
    Push(Result<Pushed, String>),
    /// A reading session completed (TRM-06).
    Reading(Reading),
    /// An image push ended (SEC-10).
    Firmware(PushOutcome),
}

/// Sessions given up for silence.
#[derive(Debug, Default)]
pub struct Stalled {
    /// Readings started again: the AARQ to send each terminal.
    pub restarted: Vec<([u8; 8], Vec<u8>)>,
    /// Image pushes that ended without an answer to `image_activate`.
    pub unanswered: Vec<([u8; 8], PushOutcome)>,
}

/// The reading sessions and the image rollout, if any.
#[derive(Debug)]
pub struct SmartMeterApp {
    reader: Reader,
    rollout: Option<Rollout>,
    /// The head end's backfills waiting for their terminal (one session at a time).
    backfills: BTreeMap<[u8; 8], VecDeque<Purpose>>,
}

impl SmartMeterApp {
    /// Readings by `reader`, and `rollout`'s image carried first to each terminal.
    #[must_use]
    pub const fn new(reader: Reader, rollout: Option<Rollout>) -> Self {
        Self {
            reader,
            rollout,
            backfills: BTreeMap::new(),
        }
    }

    /// The reading sessions (their counters).
    #[must_use]
    pub const fn reader(&self) -> &Reader {
        &self.reader
    }

    /// The image rollout, if any.
    #[must_use]
    pub const fn rollout(&self) -> Option<&Rollout> {
        self.rollout.as_ref()
    }

    /// A datagram from `terminal` at `now` (`wall` the smart meter's clock): the next
    /// request to send it, and what the datagram brought.
    pub fn datagram(
        &mut self,
        now: Duration,
        wall: DateTime<Utc>,
        terminal: [u8; 8],
        datagram: &[u8],
    ) -> (Option<Vec<u8>>, Option<Arrived>) {
        if let Some(pushed) = read_push(datagram) {
            return (None, Some(Arrived::Push(pushed)));
        }
        if let Some(answered) = self
            .rollout
            .as_mut()
            .and_then(|r| r.answer(now, terminal, datagram))
        {
            return (answered.next, answered.done.map(Arrived::Firmware));
        }
        let (next, reading) = self.reader.answer(now, wall, terminal, datagram);
        (next, reading.map(Arrived::Reading))
    }

    /// The head end's backfill `request` of `terminal`'s rows `from..=to`, queued: it
    /// starts when the terminal is next started ([`Self::start`]).
    pub fn backfill(
        &mut self,
        terminal: [u8; 8],
        request: u32,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) {
        self.backfills
            .entry(terminal)
            .or_default()
            .push_back(Purpose::Backfill { request, from, to });
    }

    /// The next backfill of `terminal` the head end asked for, started at `now` if one
    /// waits (its AARQ to send): what follows a session that ended.
    pub fn next_backfill(&mut self, now: Duration, terminal: [u8; 8]) -> Option<Vec<u8>> {
        let waiting = self.backfills.get(&terminal).is_some_and(|q| !q.is_empty());
        waiting.then(|| self.start(now, terminal)).flatten()
    }

    /// `terminal` is due at `now`: the AARQ to send it — the image first while it is
    /// pending (one association at a time with each terminal; its readings wait), else
    /// a backfill the head end asked for, else a reading; nothing while a session with
    /// it is under way.
    pub fn start(&mut self, now: Duration, terminal: [u8; 8]) -> Option<Vec<u8>> {
        if self.reader.busy(terminal) {
            return None;
        }
        if let Some(r) = self.rollout.as_mut().filter(|r| r.pending(terminal)) {
            return r.start(now, terminal);
        }
        let purpose = self
            .backfills
            .get_mut(&terminal)
            .and_then(VecDeque::pop_front)
            .unwrap_or(Purpose::Periodic);
        self.reader.start(now, terminal, purpose, false)
    }

    /// Sessions silent at `now`: the readings of terminals still `linked` start again;
    /// image pushes silent before `image_activate` are dropped (started again when the
    /// terminal is next due), those silent after it end.
    pub fn stalled(&mut self, now: Duration, linked: impl Fn([u8; 8]) -> bool) -> Stalled {
        let restarted = self
            .reader
            .stalled(now)
            .into_iter()
            .filter(|(t, _)| linked(*t))
            .filter_map(|(t, purpose)| {
                tracing::debug!(terminal = %dlms::hex::encode(&t), "reading session timed out: starting again");
                self.reader.start(now, t, purpose, true).map(|aarq| (t, aarq))
            })
            .collect();
        let unanswered = self
            .rollout
            .as_mut()
            .map(|r| r.stalled(now))
            .unwrap_or_default();
        Stalled {
            restarted,
            unanswered,
        }
    }

    /// `terminal` left: its sessions are dropped, and the backfills that waited for it
    /// (their request numbers returned: they failed).
    pub fn forget(&mut self, terminal: [u8; 8]) -> Vec<u32> {
        self.reader.forget(terminal);
        if let Some(r) = self.rollout.as_mut() {
            r.forget(terminal);
        }
        self.backfills
            .remove(&terminal)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|p| match p {
                Purpose::Backfill { request, .. } => Some(request),
                Purpose::Periodic => None,
            })
            .collect()
    }

    /// When the next session under way is given up for silence.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Duration> {
        [
            self.reader.next_deadline(),
            self.rollout.as_ref().and_then(Rollout::next_deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// What the smart meter does with a command the head end gave it (its relay took it
/// already, docs/a-route.md): a backfill queued and started when the terminal is free, a
/// block or reconnect at the link (OPS-07), a terminal let go; the outcome told back
/// through `relay` (a backfill's with its rows, when it ends).
pub fn carry_out(
    command: dlms::relay::message::Command,
    now: Duration,
    wall: DateTime<Utc>,
    link: &mut crate::link::smartmeter::SmartMeter,
    app: &mut SmartMeterApp,
    relay: &mut super::relay::SmartMeterRelay,
) {
    use dlms::relay::message::{Command, Outcome};
    use wisun::mac::Eui64;
    match command {
        Command::Register { .. } => {}
        Command::Backfill {
            request,
            terminal,
            from,
            to,
        } => {
            if !link.terminals().contains(&Eui64(terminal)) {
                relay.done(request, Outcome::Failed, "the terminal is not joined", wall);
                return;
            }
            app.backfill(terminal, request, from, to);
            if let Some(aarq) = app.start(now, terminal) {
                let port = super::DLMS_PORT;
                if let Err(e) = link.send_udp(now, Eui64(terminal), (port, port), aarq) {
                    tracing::warn!(error = %e, "backfill request not sent");
                }
            }
        }
        Command::Forget { terminal } => link.remove(now, Eui64(terminal)),
        Command::Block { request, terminal } => {
            link.block(now, Eui64(terminal));
            relay.done(request, Outcome::Done, "", wall);
        }
        Command::Reconnect { request, terminal } => {
            link.reconnect(Eui64(terminal));
            relay.done(request, Outcome::Done, "", wall);
        }
        Command::SetClock { request, .. }
        | Command::SetInterval { request, .. }
        | Command::SetPassword { request, .. } => {
            relay.done(
                request,
                Outcome::Failed,
                "not carried out by the smart meter yet",
                wall,
            );
        }
    }
}
