//! The head end as one sans-IO node: each smart meter's A-route link
//! ([`crate::aroute`]), collection with its backfills ([`crate::collect`]), the
//! registrations a smart meter's hello lacks, blocks and reconnects (OPS-07), the
//! settings commanded (clock, interval, password, a terminal's password for its smart
//! meter to take: [`crate::commands`]), and the
//! terminals' events counted by kind. Fed the smart meters' bytes and the time, it answers
//! with the bytes for each smart meter and the readings for the MDMS, which the driver
//! hands on (in process in the simulator; a message log or another program later).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dlms::apdu::ActionResult;
use dlms::cipher::SystemTitle;
use dlms::relay::message::{Arrival, Command, Outcome, TerminalState, Uplink};
use wisun::mac::Eui64;

use crate::aroute::{FromSmartMeter, SmartMeterLink};
use crate::collect::{CollectConfig, Collected, Collector, Resume};
use crate::commands::{self, CommandError, Setting};
use crate::events::{self, TerminalEvent};
use crate::registry::DevicePoint;

/// The head end's system title on the A route **(ours)**.
pub const HEAD_END_TITLE: SystemTitle = SystemTitle(*b"HES\x00\x00\x00\x00\x01");

/// What the head end counted.
#[derive(Debug, Clone, Default)]
pub struct HeadEndFigures {
    /// Messages taken from the smart meters.
    pub messages: u64,
    /// Frames refused on the A route.
    pub refused: u64,
    /// Backfills asked for.
    pub backfills: u64,
    /// Rows passed on to the MDMS.
    pub rows: u64,
    /// Events by kind (`auth_failure`, `foreign_pairing_scan`, `meter_id_mismatch`,
    /// `dos`, ... and the driver's: `outage`, `reboot`, `block`, `reconnect`).
    pub events: BTreeMap<String, u64>,
    /// Milliseconds from a slot's close to its row passed on (rows read at their slot),
    /// counted by value (ms → rows): a list of every row's took 8 bytes a row (0.4 GB a
    /// day at a million terminals); the counts grow with the distinct values only.
    pub latencies: BTreeMap<i64, u64>,
}

/// Bytes for each smart meter, in the order they are to be sent.
pub type ForSmartMeters = Vec<(Eui64, Vec<u8>)>;

/// What bytes from a smart meter brought.
#[derive(Debug, Default)]
pub struct Taken {
    /// Bytes for smart meters (registrations a hello lacked).
    pub to_smart_meters: Vec<(Eui64, Vec<u8>)>,
    /// Readings for the MDMS, each slot boundary once.
    pub readings: Vec<mdms::RawReading>,
    /// The ends of settings commanded ([`HeadEnd::command`]): request, outcome, why —
    /// the smart meter's *done*, or its refusal of the command itself (failed).
    pub carried: Vec<(u32, Outcome, String)>,
    /// The terminals' events, and their states that differ from the last known, for
    /// the store (OPS-06).
    pub events: Vec<TerminalEvent>,
    /// The highest number of the smart meter's events these bytes carried, new or sent
    /// again: once `events` are kept, [`HeadEnd::events_kept`] tells the smart meter.
    pub relayed_events: Option<u32>,
}

/// The head end.
#[derive(Debug)]
pub struct HeadEnd {
    collector: Collector,
    links: BTreeMap<Eui64, SmartMeterLink>,
    points: Vec<DevicePoint>,
    /// Each terminal's management association secret (the registry's), for its
    /// registration with its smart meter.
    secrets: BTreeMap<Eui64, Vec<u8>>,
    /// Numbers of blocks and reconnects: from `1 << 31` up to
    /// [`commands::COMMAND_REQUESTS`] (the collector counts below, the settings'
    /// numbers are above).
    next_request: u32,
    /// Settings commanded whose end has not come, by request: sent again to a smart
    /// meter that says hello (it may have restarted, or never had them: a smart meter
    /// not connected gets its commands on its hello).
    commands: BTreeMap<u32, (Eui64, Command)>,
    /// Which pending setting each invoke id sent to a smart meter carried, to take its
    /// refusal (the answer names the invoke id, not the request).
    invoked: BTreeMap<(Eui64, u8), u32>,
    figures: HeadEndFigures,
    /// Terminals blocked (OPS-07): told again to a smart meter that says hello (a
    /// reboot forgets).
    blocked: std::collections::BTreeSet<Eui64>,
    /// Each terminal's state as its smart meter's last hello told it: a hello that
    /// tells another is an event (a head end that starts knows none: the first hello
    /// tells them all).
    states: BTreeMap<Eui64, TerminalState>,
}

impl HeadEnd {
    /// The head end of `points`, collecting their slots as `resume` says, over `links`
    /// (one per smart meter), registering terminals with `secrets`.
    #[must_use]
    pub fn new(
        config: CollectConfig,
        points: Vec<DevicePoint>,
        resume: &Resume,
        links: BTreeMap<Eui64, SmartMeterLink>,
        secrets: BTreeMap<Eui64, Vec<u8>>,
    ) -> Self {
        Self {
            collector: Collector::new(config, &points, resume),
            links,
            points,
            secrets,
            next_request: 1 << 31,
            commands: BTreeMap::new(),
            invoked: BTreeMap::new(),
            figures: HeadEndFigures::default(),
            blocked: std::collections::BTreeSet::new(),
            states: BTreeMap::new(),
        }
    }

    /// The registered points.
    #[must_use]
    pub fn points(&self) -> &[DevicePoint] {
        &self.points
    }

    /// What it counted.
    #[must_use]
    pub const fn figures(&self) -> &HeadEndFigures {
        &self.figures
    }

    /// The slots of every point expected in `[from, to]` not collected yet (with a
    /// valid value): whether backfill has settled.
    #[must_use]
    pub fn missing(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> BTreeMap<crate::point::SupplyPoint, usize> {
        self.collector.missing(from, to)
    }

    /// An event the driver saw (an outage, a reboot), counted with the others.
    pub fn count_event(&mut self, kind: &str) {
        *self.figures.events.entry(kind.to_owned()).or_default() += 1;
    }

    /// Smart meter `sm`'s link (its counters, to keep across restarts).
    #[must_use]
    pub fn link(&self, sm: Eui64) -> Option<&SmartMeterLink> {
        self.links.get(&sm)
    }

    /// Smart meter `sm` connected again: a fresh stream (the answers to what was sent
    /// before will not come).
    pub fn reconnected(&mut self, sm: Eui64) {
        if let Some(link) = self.links.get_mut(&sm) {
            link.reconnected();
        }
        self.invoked.retain(|(s, _), _| *s != sm);
    }

    /// The number of the next block or reconnect, within its range.
    fn block_request(&mut self) -> u32 {
        self.next_request = self.next_request.wrapping_add(1);
        if !((1 << 31) + 1..commands::COMMAND_REQUESTS).contains(&self.next_request) {
            self.next_request = (1 << 31) + 1;
        }
        self.next_request
    }

    /// Register with smart meter `sm` each of its points' terminals that `held` lacks
    /// (its hello: after its first start, or a reboot that lost them), and block again
    /// those blocked.
    fn register(&mut self, sm: Eui64, held: &[[u8; 8]]) -> Vec<(Eui64, Vec<u8>)> {
        let mut commands: Vec<(Eui64, Command)> = self
            .points
            .iter()
            .filter(|p| p.smart_meter == sm && !held.contains(&p.terminal_id.0))
            .map(|p| {
                (
                    sm,
                    Command::Register {
                        terminal: p.terminal_id.0,
                        pairing_id: *p.pairing_id.as_bytes(),
                        secret: self
                            .secrets
                            .get(&p.terminal_id)
                            .cloned()
                            .unwrap_or_default(),
                        interval_min: p.interval.minutes(),
                        // TRM-11: where its rows' interval changed, for those read back.
                        switched: self
                            .collector
                            .last_switch(p.terminal_id)
                            .map(|(at, before)| (at, before.minutes())),
                    },
                )
            })
            .collect();
        let blocked: Vec<Eui64> = self
            .points
            .iter()
            .filter(|p| p.smart_meter == sm && self.blocked.contains(&p.terminal_id))
            .map(|p| p.terminal_id)
            .collect();
        for terminal in blocked {
            let request = self.block_request();
            commands.push((
                sm,
                Command::Block {
                    request,
                    terminal: terminal.0,
                },
            ));
        }
        let mut out = self.send(commands);
        let pending: Vec<(u32, Command)> = self
            .commands
            .iter()
            .filter(|(_, (s, _))| *s == sm)
            .map(|(r, (_, c))| (*r, c.clone()))
            .collect();
        for (request, command) in pending {
            out.extend(self.send_setting(sm, request, &command));
        }
        out
    }

    /// Send a setting's `command` (number `request`) to `sm`, remembering which invoke
    /// id carried it.
    fn send_setting(
        &mut self,
        sm: Eui64,
        request: u32,
        command: &Command,
    ) -> Option<(Eui64, Vec<u8>)> {
        let Some(link) = self.links.get_mut(&sm) else {
            tracing::warn!(%sm, "no A-route link to this smart meter");
            return None;
        };
        match link.command(command) {
            Ok(invoke_id) => {
                self.invoked.insert((sm, invoke_id), request);
                Some((sm, link.take_output()))
            }
            Err(e) => {
                tracing::error!(error = %e, "command not sent");
                None
            }
        }
    }

    fn send(&mut self, commands: Vec<(Eui64, Command)>) -> Vec<(Eui64, Vec<u8>)> {
        let mut out: BTreeMap<Eui64, Vec<u8>> = BTreeMap::new();
        for (sm, command) in commands {
            let Some(link) = self.links.get_mut(&sm) else {
                tracing::warn!(%sm, "no A-route link to this smart meter");
                continue;
            };
            if let Err(e) = link.command(&command) {
                tracing::error!(error = %e, "command not sent");
                continue;
            }
            out.entry(sm).or_default().extend(link.take_output());
        }
        out.into_iter().collect()
    }

    /// Smart meter `sm`'s events up to `upto` are kept (the caller recorded
    /// [`Taken::events`]): told to it, so that it does not send them again; the bytes.
    pub fn events_kept(&mut self, sm: Eui64, upto: u32) -> Option<(Eui64, Vec<u8>)> {
        let link = self.links.get_mut(&sm)?;
        match link.took_events(upto) {
            Ok(()) => Some((sm, link.take_output())),
            Err(e) => {
                tracing::error!(%sm, error = %e, "events taken not told");
                None
            }
        }
    }

    /// The blocks in force when the head end starts (OPS-07, from its records): no
    /// backfill of them, and each smart meter blocks them again on its hello.
    pub fn restore_blocked(&mut self, points: &[mdms::SupplyPoint]) {
        for p in self
            .points
            .iter()
            .filter(|p| points.contains(&p.supply_point))
        {
            self.collector.set_blocked(p.terminal_id, true);
            self.blocked.insert(p.terminal_id);
        }
    }

    /// Block (`true`) or reconnect `point` (OPS-07; the record is the caller's): no
    /// backfill of it while blocked, and the command for its smart meter.
    ///
    /// # Errors
    /// The point is not registered.
    pub fn block(
        &mut self,
        point: &mdms::SupplyPoint,
        blocked: bool,
    ) -> Result<Vec<(Eui64, Vec<u8>)>, String> {
        let p = self
            .points
            .iter()
            .find(|p| &p.supply_point == point)
            .cloned()
            .ok_or_else(|| format!("supply point {point} is not registered"))?;
        self.count_event(if blocked { "block" } else { "reconnect" });
        self.collector.set_blocked(p.terminal_id, blocked);
        if blocked {
            self.blocked.insert(p.terminal_id);
        } else {
            self.blocked.remove(&p.terminal_id);
        }
        let (request, terminal) = (self.block_request(), p.terminal_id.0);
        let command = if blocked {
            Command::Block { request, terminal }
        } else {
            Command::Reconnect { request, terminal }
        };
        Ok(self.send(vec![(p.smart_meter, command)]))
    }

    /// Command `setting` of `point`'s terminal, as command record `seq` (its request
    /// number is the record's, [`commands::request_of`]): the bytes for its smart meter,
    /// and the command kept until its end, to be sent again on the smart meter's hello.
    /// Its end comes in [`Taken::carried`]; what it changes (the interval, the secret)
    /// is the caller's to tell ([`Self::set_interval`], [`Self::set_secret`]) once done.
    ///
    /// # Errors
    /// [`CommandError::Unknown`]: the point is not registered; [`CommandError::Full`]:
    /// `seq` has no request number.
    pub fn command(
        &mut self,
        seq: u64,
        point: &mdms::SupplyPoint,
        setting: &Setting,
    ) -> Result<(u32, ForSmartMeters), CommandError> {
        let p = self
            .points
            .iter()
            .find(|p| &p.supply_point == point)
            .ok_or_else(|| CommandError::Unknown(point.to_string()))?;
        let (sm, terminal) = (p.smart_meter, p.terminal_id.0);
        let request = commands::request_of(seq).ok_or(CommandError::Full(seq))?;
        let command = match setting {
            Setting::Clock => Command::SetClock { request, terminal },
            Setting::Interval(i) => Command::SetInterval {
                request,
                terminal,
                minutes: i.minutes(),
            },
            Setting::Password(pw) => Command::SetPassword {
                request,
                terminal,
                password: pw.expose().to_vec(),
            },
            Setting::TerminalSecret(pw) => Command::TakePassword {
                request,
                terminal,
                password: pw.expose().to_vec(),
            },
        };
        self.commands.insert(request, (sm, command.clone()));
        Ok((
            request,
            self.send_setting(sm, request, &command)
                .into_iter()
                .collect(),
        ))
    }

    /// `point`'s terminal reads every `interval` now (TRM-11, its command done): the
    /// interval it is registered with from now on.
    pub fn set_interval(
        &mut self,
        point: &mdms::SupplyPoint,
        interval: nodes::terminal::slots::Interval,
    ) {
        if let Some(p) = self.points.iter_mut().find(|p| &p.supply_point == point) {
            p.interval = interval;
        }
    }

    /// `terminal`'s management association secret is `secret` now (TRM-08, its new
    /// password taken): the one it is registered with from now on.
    pub fn set_secret(&mut self, terminal: Eui64, secret: Vec<u8>) {
        self.secrets.insert(terminal, secret);
    }

    /// Bytes from smart meter `sm` at `wall`.
    ///
    /// # Errors
    /// The stream is not frames: the driver closes the connection.
    pub fn take_bytes(
        &mut self,
        sm: Eui64,
        bytes: &[u8],
        wall: DateTime<Utc>,
    ) -> Result<Taken, dlms::wrapper::WrapperError> {
        let Some(link) = self.links.get_mut(&sm) else {
            tracing::warn!(%sm, "bytes of a smart meter the head end has no keys for");
            return Ok(Taken::default());
        };
        let refused_before = link.refused;
        // Events numbered up to this the head end has (kept, or taken from these bytes).
        let mut has_events_to = link.events_taken();
        let items = link.received(bytes);
        // Kept as it changes: summed over every smart meter at each message, it was a
        // head end's cost growing with the number of smart meters.
        self.figures.refused += link.refused - refused_before;
        let items = items?;
        let mut taken = Taken::default();
        let mut passed = Vec::new();
        for item in items {
            let message = match item {
                FromSmartMeter::Message(m) => m,
                FromSmartMeter::Answer { invoke_id, result } => {
                    if let Some(request) = self.invoked.remove(&(sm, invoke_id)) {
                        if result != ActionResult::Success
                            && self.commands.remove(&request).is_some()
                        {
                            let why = format!("the smart meter refused the command: {result:?}");
                            taken.carried.push((request, Outcome::Failed, why));
                        }
                    }
                    continue;
                }
            };
            self.figures.messages += 1;
            match message {
                Uplink::Readings {
                    terminal,
                    arrival,
                    rows,
                    ..
                } => match self
                    .collector
                    .readings(sm, Eui64(terminal), arrival, &rows, wall)
                {
                    Ok(rows) => passed.extend(rows),
                    Err(e) => tracing::warn!(error = %e, "rows not taken"),
                },
                Uplink::Done {
                    request,
                    outcome,
                    text,
                } => {
                    // A setting's number names its record even after a restart of the
                    // head end: its end is the caller's to record, whether or not this
                    // process sent it.
                    if commands::seq_of(request).is_some() {
                        self.commands.remove(&request);
                        taken.carried.push((request, outcome, text));
                    } else {
                        self.collector.done(request, outcome, wall);
                    }
                }
                Uplink::Event {
                    number,
                    terminal,
                    code,
                    at,
                    details,
                } => {
                    taken.relayed_events = taken.relayed_events.max(Some(number));
                    if has_events_to.is_some_and(|n| number <= n) {
                        tracing::debug!(%sm, number, "an event sent again: kept already");
                        continue;
                    }
                    has_events_to = Some(number);
                    let kind = event_kind(code);
                    // A link's state is kept (below), not counted with the alarms.
                    if events::is_state(&kind) {
                        let up = if kind == "joined" {
                            TerminalState::Joined
                        } else {
                            TerminalState::Absent
                        };
                        self.states.insert(Eui64(terminal), up);
                    } else {
                        self.count_event(&kind);
                    }
                    taken.events.push(TerminalEvent {
                        terminal: Eui64(terminal),
                        smart_meter: sm,
                        kind,
                        code: Some(code),
                        at,
                        received_at: wall,
                        details: events::details_text(&details),
                    });
                }
                Uplink::Hello { terminals } => {
                    for (t, state) in &terminals {
                        let terminal = Eui64(*t);
                        if self.states.insert(terminal, *state) != Some(*state) {
                            taken.events.push(TerminalEvent {
                                terminal,
                                smart_meter: sm,
                                kind: state_name(*state).to_owned(),
                                code: None,
                                at: wall,
                                received_at: wall,
                                details: String::new(),
                            });
                        }
                    }
                    let held: Vec<[u8; 8]> = terminals.iter().map(|(t, _)| *t).collect();
                    taken.to_smart_meters.extend(self.register(sm, &held));
                }
            }
        }
        for c in &passed {
            if c.arrival == Arrival::Pushed {
                let ms = (c.received_at - c.row.at).num_milliseconds();
                *self.figures.latencies.entry(ms).or_default() += 1;
            }
        }
        taken.readings = passed.iter().map(raw).collect();
        self.figures.rows += u64::try_from(taken.readings.len()).unwrap_or(u64::MAX);
        Ok(taken)
    }

    /// Gaps at `wall`: the backfill commands' bytes for each smart meter.
    pub fn poll(&mut self, wall: DateTime<Utc>) -> Vec<(Eui64, Vec<u8>)> {
        let commands = self.collector.poll(wall);
        self.figures.backfills += u64::try_from(commands.len()).unwrap_or(0);
        self.send(commands)
    }
}

/// A row passed on, as the MDMS takes it.
fn raw(c: &Collected) -> mdms::RawReading {
    let interval = mdms::Interval::from_minutes(c.row.interval_min).unwrap_or(mdms::Interval::Half);
    let valid = c.row.status & dlms::cosem::model::status::DATA_NOT_VALID == 0;
    let counter = |wh: u32| valid.then(|| mdms::Counter::new(wh).ok()).flatten();
    mdms::RawReading {
        point: c.point.clone(),
        terminal: mdms::TerminalId(c.terminal.0),
        boundary: c.row.at,
        interval,
        ac_in: counter(c.row.in_wh),
        ac_out: counter(c.row.out_wh),
        status: mdms::Status(c.row.status),
        received_at: c.received_at,
        arrival: match c.arrival {
            Arrival::Pushed => mdms::Arrival::Pushed,
            Arrival::Backfilled => mdms::Arrival::Backfilled,
        },
    }
}

/// A terminal state's name, as the events keep it ([`events::is_state`]).
const fn state_name(state: TerminalState) -> &'static str {
    match state {
        TerminalState::Absent => "absent",
        TerminalState::Joined => "joined",
        TerminalState::Blocked => "blocked",
    }
}

/// The name of an event code, for the figures.
fn event_kind(code: u16) -> String {
    use dlms::cosem::EventCode;
    use dlms::relay::message::own_event;
    match code {
        own_event::AUTH_FAILURE => return "auth_failure".to_owned(),
        own_event::FOREIGN_PAIRING_SCAN => return "foreign_pairing_scan".to_owned(),
        own_event::JOINED => return "joined".to_owned(),
        own_event::LEFT => return "left".to_owned(),
        _ => {}
    }
    match EventCode::from_code(code) {
        Some(EventCode::MeterIdChanged) => "meter_id_mismatch".to_owned(),
        Some(EventCode::FloodDetected) => "dos".to_owned(),
        Some(other) => other.name().to_owned(),
        None => format!("code_{code}"),
    }
}
