//! What the smart meter runs on top of its link, as one piece: the DLMS sessions with
//! its terminals ([`Reader`]: readings, and the head end's commands carried out), the
//! image it may carry to them ([`Rollout`]), and the pushes they send ([`read_push`]) —
//! which datagram from a terminal goes where, and what to start when a terminal is due:
//! the image while one is pending, else what the head end asked for (a backfill, a
//! command) in the order it asked, else the smart meter's own reading. One session per
//! terminal at a time: what the head end asks for waits behind the one under way and
//! starts when it ends. Shared by the simulator and `iotroute smartmeter`, which only
//! schedule, send and report.

use core::time::Duration;
use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};

use super::image_push::{PushOutcome, Rollout};
use super::push::{read_push, Pushed};
use super::reader::{Carried, Change, Ended, Purpose, Reader, Reading};
use super::relay::SmartMeterRelay;
use super::DLMS_PORT;
use crate::link::smartmeter::{SmartMeter, SmartMeterEvent};
use wisun::mac::Eui64;

/// What a datagram from a terminal brought.
#[derive(Debug)]
pub enum Arrived {
    /// A push (TRM-05 slot, SEC-07/08 event), or one that does not read.
    Push(Result<Pushed, String>),
    /// A reading session completed (TRM-06).
    Reading(Reading),
    /// An image push ended (SEC-10).
    Firmware(PushOutcome),
    /// A head end's command was carried out, or refused (TRM-08/09/11).
    Command(Carried),
}

/// What an event of the smart meter's link came to ([`SmartMeterApp::link_event`]).
#[derive(Debug)]
pub enum Routed {
    /// A DLMS datagram from `from`: the reader's next request to send it, if any, and
    /// what arrived (told to the relay already).
    Dlms {
        /// The terminal.
        from: Eui64,
        /// The next request of its session.
        next: Option<Vec<u8>>,
        /// What the datagram brought.
        arrived: Option<Arrived>,
    },
    /// A terminal joined: what the head end asked of it while it was away starts (the
    /// AARQ to send it, `next`).
    Joined {
        /// The terminal.
        terminal: Eui64,
        /// The first request of the session that waited.
        next: Option<Vec<u8>>,
    },
    /// Any other event, for the driver to log or count: a terminal that left (its
    /// sessions ended, their backfills failed to the relay), a refusal or a foreign
    /// scan (an event of the relay's)...
    Other(SmartMeterEvent),
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
    /// The head end's backfills and commands waiting for their terminal (one session at a
    /// time), in the order it asked.
    queued: BTreeMap<[u8; 8], VecDeque<Purpose>>,
}

impl SmartMeterApp {
    /// Readings by `reader`, and `rollout`'s image carried first to each terminal.
    #[must_use]
    pub const fn new(reader: Reader, rollout: Option<Rollout>) -> Self {
        Self {
            reader,
            rollout,
            queued: BTreeMap::new(),
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

    /// What the smart meter makes of an event of its link at `now` (`wall`), the one path
    /// of the simulator and `iotroute smartmeter` (SEC-01, SEC-04, SEC-05): a datagram on
    /// the DLMS port goes to the reader (or reads as a push), and what arrived to the
    /// relay, which builds its own message of the values; a terminal that left ends its
    /// sessions; a refusal or a foreign scan becomes the relay's own event. Nothing else
    /// reaches the relay, and no path hands it a packet or a datagram's bytes; a join and a
    /// leave become its own events too (the head end's view of the link, OPS-06).
    pub fn link_event(
        &mut self,
        relay: Option<&mut SmartMeterRelay>,
        link: &mut SmartMeter,
        event: SmartMeterEvent,
        now: Duration,
        wall: DateTime<Utc>,
    ) -> Routed {
        match event {
            SmartMeterEvent::Udp { from, datagram } if datagram.src_port == DLMS_PORT => {
                let (next, arrived) = self.datagram(now, wall, from.0, &datagram.payload, link);
                if let (Some(relay), Some(a)) = (relay, &arrived) {
                    relay.arrived(from.0, a, wall);
                }
                Routed::Dlms {
                    from,
                    next,
                    arrived,
                }
            }
            SmartMeterEvent::Joined { terminal, id_p } => {
                if let Some(relay) = relay {
                    relay.link_event(&SmartMeterEvent::Joined { terminal, id_p }, wall);
                }
                Routed::Joined {
                    terminal,
                    next: self.next_queued(now, terminal.0),
                }
            }
            SmartMeterEvent::Left { terminal } => {
                let dropped = self.forget(terminal.0);
                if let Some(relay) = relay {
                    relay.left(&dropped, wall);
                    relay.link_event(&SmartMeterEvent::Left { terminal }, wall);
                }
                Routed::Other(SmartMeterEvent::Left { terminal })
            }
            other => {
                if let Some(relay) = relay {
                    relay.link_event(&other, wall);
                }
                Routed::Other(other)
            }
        }
    }

    /// A datagram from `terminal` at `now` (`wall` the smart meter's clock): the next
    /// request to send it, and what the datagram brought. A session that ended makes way
    /// for what the head end asked for next of this terminal (its AARQ the request to
    /// send); a new password the terminal took is the one `link` and every session use
    /// from now on (TRM-08).
    pub fn datagram(
        &mut self,
        now: Duration,
        wall: DateTime<Utc>,
        terminal: [u8; 8],
        datagram: &[u8],
        link: &mut SmartMeter,
    ) -> (Option<Vec<u8>>, Option<Arrived>) {
        if let Some(pushed) = read_push(datagram) {
            return (None, Some(Arrived::Push(pushed)));
        }
        if let Some(answered) = self
            .rollout
            .as_mut()
            .and_then(|r| r.answer(now, terminal, datagram))
        {
            let next = answered.next.or_else(|| self.next_queued(now, terminal));
            return (next, answered.done.map(Arrived::Firmware));
        }
        let (next, ended) = self.reader.answer(now, wall, terminal, datagram);
        if let Some(password) = match &ended {
            Some(Ended::Carried(c)) => c.new_password(),
            _ => None,
        } {
            self.adopt_password(terminal, password, link);
        }
        let next = next.or_else(|| self.next_queued(now, terminal));
        let arrived = ended.map(|e| match e {
            Ended::Read(r) => Arrived::Reading(r),
            Ended::Carried(c) => Arrived::Command(c),
        });
        (next, arrived)
    }

    /// TRM-08: `terminal`'s password is `password` now (it took it from a session of
    /// ours, or the handy terminal changed it and the head end told us): the DLMS secret
    /// derived from it opens its sessions from now on (readings, commands, image pushes),
    /// and `link`'s PAA takes only it at the terminal's next PANA authentication, whether
    /// or not it authenticated since the start. `false`, nothing changed, for a terminal
    /// whose DLMS secret the smart meter does not hold (SYS-03: a password registers
    /// nobody).
    fn adopt_password(
        &mut self,
        terminal: [u8; 8],
        password: &[u8],
        link: &mut SmartMeter,
    ) -> bool {
        if !self.reader.secrets_mut().change(terminal, password) {
            return false;
        }
        if let Some(r) = self.rollout.as_mut() {
            r.secrets_mut().change(terminal, password);
        }
        link.set_password(wisun::mac::Eui64(terminal), password);
        true
    }

    /// What the head end asked of `terminal` (a backfill, a command), queued behind what
    /// it asked before: it starts when the terminal is next started ([`Self::start`]) or
    /// its session under way ends.
    pub fn queue(&mut self, terminal: [u8; 8], purpose: Purpose) {
        self.queued.entry(terminal).or_default().push_back(purpose);
    }

    /// What the head end asked for next of `terminal`, started at `now` if something
    /// waits and no session with it is under way (its AARQ to send).
    fn next_queued(&mut self, now: Duration, terminal: [u8; 8]) -> Option<Vec<u8>> {
        let waiting = self.queued.get(&terminal).is_some_and(|q| !q.is_empty());
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
            .queued
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

    /// `terminal` left: its sessions are dropped. The head end's commands (the one
    /// under way and those that waited) wait for it to join again — a terminal
    /// rebooting or out of range for a while is the usual case, and the head end's
    /// record stays pending; its backfills end (their request numbers returned: they
    /// failed, and the collection asks again).
    pub fn forget(&mut self, terminal: [u8; 8]) -> Vec<u32> {
        let running = self.reader.forget(terminal);
        if let Some(r) = self.rollout.as_mut() {
            r.forget(terminal);
        }
        let (commands, ended): (VecDeque<Purpose>, VecDeque<Purpose>) = running
            .into_iter()
            .chain(self.queued.remove(&terminal).unwrap_or_default())
            .partition(|p| matches!(p, Purpose::Command { .. }));
        if !commands.is_empty() {
            self.queued.insert(terminal, commands);
        }
        ended.iter().filter_map(Purpose::request).collect()
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
/// already, docs/a-route.md): a backfill or a setting (TRM-08 password, TRM-09 clock,
/// TRM-11 interval) queued and started when the terminal is free, a block or reconnect
/// at the link (OPS-07), a terminal let go, a password the terminal has already (TRM-08,
/// changed by the handy terminal) taken at once without a session; the outcome told back
/// through `relay` — at once for what cannot be done (arguments the terminal would
/// refuse, a terminal without a DLMS secret, a backfill of a terminal not joined) and
/// for a password taken, else when its session ends ([`SmartMeterApp::datagram`]); a
/// setting for a terminal not joined waits for it to join.
///
/// A password taken at once comes back (`Some`: its terminal, its outcome): its *done* is in
/// `relay`'s output, so a caller that keeps passwords durably keeps it before that output
/// leaves, as for a password a session changed ([`Arrived::Command`]).
pub fn carry_out(
    command: dlms::relay::message::Command,
    now: Duration,
    wall: DateTime<Utc>,
    link: &mut SmartMeter,
    app: &mut SmartMeterApp,
    relay: &mut super::relay::SmartMeterRelay,
) -> Option<([u8; 8], Carried)> {
    use dlms::relay::message::{Command, Outcome};
    use wisun::mac::Eui64;
    let (request, terminal, purpose) = match command {
        // The relay keeps these itself.
        Command::Register { .. } | Command::EventsTaken { .. } => return None,
        Command::Forget { terminal } => {
            link.remove(now, Eui64(terminal));
            return None;
        }
        Command::Block { request, terminal } => {
            link.block(now, Eui64(terminal));
            relay.done(request, Outcome::Done, "", wall);
            return None;
        }
        Command::Reconnect { request, terminal } => {
            link.reconnect(Eui64(terminal));
            relay.done(request, Outcome::Done, "", wall);
            return None;
        }
        Command::Backfill {
            request,
            terminal,
            from,
            to,
        } => (request, terminal, Purpose::Backfill { request, from, to }),
        Command::SetClock { request, terminal } => (
            request,
            terminal,
            Purpose::Command {
                request,
                change: Change::Clock,
            },
        ),
        Command::SetInterval {
            request,
            terminal,
            minutes,
        } => {
            // TRM-11: 30 or 15 minutes, nothing else.
            let Some(interval) = crate::terminal::slots::Interval::from_minutes(minutes) else {
                let why = format!("an interval of {minutes} minutes: 15 or 30 (TRM-11)");
                relay.done(request, Outcome::Failed, &why, wall);
                return None;
            };
            let change = Change::Interval(interval);
            (request, terminal, Purpose::Command { request, change })
        }
        Command::SetPassword {
            request,
            terminal,
            password,
        } => {
            if let Err(why) = password_length(&password) {
                relay.done(request, Outcome::Failed, &why, wall);
                return None;
            }
            let change = Change::Password(password);
            (request, terminal, Purpose::Command { request, change })
        }
        Command::TakePassword {
            request,
            terminal,
            password,
        } => {
            let carried = take_password(request, terminal, password, link, app);
            relay.carried(terminal, &carried, wall);
            return Some((terminal, carried));
        }
    };
    if !app.reader().holds_secret(terminal) {
        let why = "the smart meter holds no DLMS secret for the terminal";
        relay.done(request, Outcome::Failed, why, wall);
        return None;
    }
    if !link.is_joined(Eui64(terminal)) {
        // A setting waits for the terminal to join ([`Routed::Joined`]); a backfill
        // ends, and the collection asks again.
        if matches!(purpose, Purpose::Command { .. }) {
            tracing::info!(request, terminal = %dlms::hex::encode(&terminal), "the terminal is not joined: the command waits for it");
            app.queue(terminal, purpose);
        } else {
            relay.done(request, Outcome::Failed, "the terminal is not joined", wall);
        }
        return None;
    }
    app.queue(terminal, purpose);
    if let Some(aarq) = app.start(now, terminal) {
        let port = super::DLMS_PORT;
        if let Err(e) = link.send_udp(now, Eui64(terminal), (port, port), aarq) {
            tracing::warn!(error = %e, "the head end's request not sent: its session is started again when it times out");
        }
    }
    None
}

/// TRM-08: whether `password` is one the terminal takes (and its link as a PSK's): 8 to
/// 32 bytes; else why not (its length, never the bytes).
fn password_length(password: &[u8]) -> Result<(), String> {
    let allowed = dlms::cosem::data::PASSWORD_MIN..=dlms::cosem::data::PASSWORD_MAX;
    if allowed.contains(&password.len()) {
        return Ok(());
    }
    Err(format!(
        "a password of {} bytes: {} to {} (TRM-08)",
        password.len(),
        allowed.start(),
        allowed.end()
    ))
}

/// TRM-08, method 9 (ours): `terminal`'s password is `password` already (the handy
/// terminal changed it): taken at once, no session — the terminal is typically off the
/// link, its authentication failing with the new password until the smart meter knows
/// it. Done when taken; failed for a length the terminal does not take or a terminal
/// whose DLMS secret the smart meter does not hold (nothing changed).
fn take_password(
    request: u32,
    terminal: [u8; 8],
    password: Vec<u8>,
    link: &mut SmartMeter,
    app: &mut SmartMeterApp,
) -> Carried {
    use dlms::relay::message::Outcome;
    let (outcome, why) = match password_length(&password) {
        Err(why) => (Outcome::Failed, why),
        Ok(()) if !app.adopt_password(terminal, &password, link) => (
            Outcome::Failed,
            "the smart meter holds no DLMS secret for the terminal".to_owned(),
        ),
        Ok(()) => {
            tracing::info!(terminal = %dlms::hex::encode(&terminal), request, "the terminal's password taken (changed by the handy terminal)");
            (Outcome::Done, String::new())
        }
    };
    Carried {
        request,
        change: Change::Password(password),
        outcome,
        why,
    }
}
