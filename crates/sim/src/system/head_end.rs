//! The head end and the MDMS in the simulation: the registry of the run's device points
//! (in the database file `--db` when given, with the MDMS's tables; else in memory),
//! each smart meter's A-route connection (`headend::aroute` against the smart meter's
//! `nodes::app::relay`, bytes carried at once), collection with its backfills
//! (`headend::collect`) and the MDMS taking every row passed on (`mdms` on SQLite).
//! Nothing of them is simulated: the simulator only carries the bytes and the time.

use core::time::Duration;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dlms::cipher::{Keys, SystemTitle};
use dlms::relay::message::{Arrival, Command, Uplink};
use headend::aroute::{FromSmartMeter, SmartMeterLink};
use headend::collect::{CollectConfig, Collected, Collector};
use headend::registry::DevicePoint;
use nodes::app::entropy::Seeded;
use wisun::mac::Eui64;

/// The head end's system title (ours).
pub(super) const HEAD_END_TITLE: SystemTitle = SystemTitle(*b"HES\x00\x00\x00\x00\x01");

/// How often the head end looks for gaps.
const POLL: Duration = Duration::from_secs(60);

/// A smart meter's A-route keys, from the run's seed (the key pair the utility gives
/// each smart meter at installation).
pub(super) fn keys_of(seed: u64, sm: Eui64) -> Keys {
    let rng = Seeded::new(seed ^ u64::from_be_bytes(sm.0), 0xA0);
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next().to_be_bytes());
    }
    Keys::from_slices(&bytes[..16], &bytes[16..]).unwrap_or_else(|_| unreachable!("16-byte keys"))
}

/// What the head end counted.
#[derive(Debug, Clone, Default)]
pub(super) struct HeadEndFigures {
    /// Messages taken from the smart meters.
    pub messages: u64,
    /// Frames refused on the A route.
    pub refused: u64,
    /// Backfills asked for.
    pub backfills: u64,
    /// Rows passed on to the MDMS.
    pub rows: u64,
    /// Readings the MDMS refused, or kept as conflicts.
    pub mdms_rejected: u64,
    pub mdms_conflicts: u64,
    /// Events of the terminals, by kind.
    pub events: BTreeMap<String, u64>,
    /// Seconds from each slot's close to its row reaching the MDMS (rows read at their
    /// slot).
    pub latencies: Vec<f64>,
}

/// The head end and its MDMS.
pub(super) struct HeadEndSim {
    collector: Collector,
    /// The registry and its block records.
    registry: headend::sqlite::SqliteHeadendStore,
    /// Numbers of the commands that are not backfills (from the top half, apart from
    /// the collector's).
    next_request: u32,
    links: BTreeMap<Eui64, SmartMeterLink>,
    pub mdms: mdms::Mdms<mdms::SqliteStore>,
    pub points: Vec<DevicePoint>,
    next_poll: Duration,
    pub figures: HeadEndFigures,
    /// Each terminal's management association secret (the registry's), for its
    /// registration.
    secrets: BTreeMap<Eui64, Vec<u8>>,
}

impl HeadEndSim {
    /// The head end of `points`, expecting their slots from `since`, with a link to each
    /// of `smart_meters`; registry and MDMS in the database file `db` (else in memory).
    pub fn new(
        seed: u64,
        points: Vec<DevicePoint>,
        smart_meters: &[Eui64],
        since: DateTime<Utc>,
        db: Option<&std::path::Path>,
        secrets: BTreeMap<Eui64, Vec<u8>>,
    ) -> Result<Self, String> {
        use headend::storage::HeadendStore as _;
        let mut registry = match db {
            Some(path) => headend::sqlite::SqliteHeadendStore::open(path),
            None => headend::sqlite::SqliteHeadendStore::in_memory(),
        }
        .map_err(|e| e.to_string())?;
        let lines: Vec<(u64, DevicePoint)> = (2..).zip(points.iter().cloned()).collect();
        registry.import(&lines).map_err(|e| e.to_string())?;
        let links = smart_meters
            .iter()
            .map(|sm| {
                (
                    *sm,
                    SmartMeterLink::new(
                        HEAD_END_TITLE,
                        SystemTitle(sm.0),
                        keys_of(seed, *sm),
                        0,
                        None,
                    ),
                )
            })
            .collect();
        let store = match db {
            Some(path) => mdms::SqliteStore::open(path),
            None => mdms::SqliteStore::in_memory(),
        }
        .map_err(|e| e.to_string())?;
        let mdms = mdms::Mdms::new(store, mdms::Vee::default()).map_err(|e| e.to_string())?;
        Ok(Self {
            collector: Collector::new(CollectConfig::default(), &points, since),
            registry,
            next_request: 1 << 31,
            links,
            mdms,
            points,
            next_poll: Duration::ZERO,
            figures: HeadEndFigures::default(),
            secrets,
        })
    }

    /// When the head end next looks for gaps.
    pub const fn next_poll(&self) -> Duration {
        self.next_poll
    }

    /// Register with smart meter `sm` each of its points' terminals that `held` lacks
    /// (its hello: after its first start, or a reboot that lost them).
    fn register(&mut self, sm: Eui64, held: &[[u8; 8]]) -> Vec<(Eui64, Vec<u8>)> {
        let commands: Vec<(Eui64, Command)> = self
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
                    },
                )
            })
            .collect();
        self.send(commands)
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

    /// Block (`true`) or reconnect `point` at `wall` (OPS-07), recorded with `reason`
    /// and `by`: the command's bytes for its smart meter.
    ///
    /// # Errors
    /// The point is not registered, or the record is refused (blocked already, ...).
    pub fn block(
        &mut self,
        point: &mdms::SupplyPoint,
        blocked: bool,
        wall: DateTime<Utc>,
        reason: &str,
        by: &str,
    ) -> Result<Vec<(Eui64, Vec<u8>)>, String> {
        use headend::storage::HeadendStore as _;
        let p = self
            .points
            .iter()
            .find(|p| &p.supply_point == point)
            .cloned()
            .ok_or_else(|| format!("supply point {point} is not registered"))?;
        let action = if blocked {
            headend::blocks::BlockAction::Block
        } else {
            headend::blocks::BlockAction::Reconnect
        };
        self.registry
            .record_block(&headend::blocks::BlockRecord {
                point: point.clone(),
                action,
                at: wall,
                reason: reason.to_owned(),
                by: by.to_owned(),
            })
            .map_err(|e| e.to_string())?;
        *self
            .figures
            .events
            .entry(action.name().to_owned())
            .or_default() += 1;
        self.collector.set_blocked(p.terminal_id, blocked);
        self.next_request = self.next_request.wrapping_add(1).max(1 << 31);
        let (request, terminal) = (self.next_request, p.terminal_id.0);
        let command = if blocked {
            Command::Block { request, terminal }
        } else {
            Command::Reconnect { request, terminal }
        };
        Ok(self.send(vec![(p.smart_meter, command)]))
    }

    /// An event of the system (an outage), counted with the terminals' events.
    pub fn count_event(&mut self, kind: &str) {
        *self.figures.events.entry(kind.to_owned()).or_default() += 1;
    }

    /// Every blocked period recorded (OPS-07).
    pub fn blocks(&self) -> Vec<headend::blocks::BlockPeriod> {
        use headend::storage::HeadendStore as _;
        self.registry
            .block_records()
            .map(|r| headend::blocks::periods(&r))
            .unwrap_or_default()
    }

    /// Bytes from smart meter `sm` at `wall`: the commands they call for (the
    /// registrations a hello lacks), for each smart meter.
    pub fn take_bytes(
        &mut self,
        sm: Eui64,
        bytes: &[u8],
        wall: DateTime<Utc>,
    ) -> Vec<(Eui64, Vec<u8>)> {
        let Some(link) = self.links.get_mut(&sm) else {
            return Vec::new();
        };
        let taken = match link.received(bytes) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(%sm, error = %e, "A route stream broken");
                return Vec::new();
            }
        };
        let mut commands = Vec::new();
        self.figures.refused = self.links.values().map(|l| l.refused).sum();
        let mut passed = Vec::new();
        for item in taken {
            let FromSmartMeter::Message(message) = item else {
                continue;
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
                    request, outcome, ..
                } => self.collector.done(request, outcome, wall),
                Uplink::Event { code, .. } => {
                    *self.figures.events.entry(event_kind(code)).or_default() += 1;
                }
                Uplink::Hello { terminals } => {
                    let held: Vec<[u8; 8]> = terminals.iter().map(|(t, _)| *t).collect();
                    commands.extend(self.register(sm, &held));
                }
            }
        }
        self.pass_on(&passed);
        commands
    }

    /// Rows passed on, into the MDMS in one batch.
    fn pass_on(&mut self, passed: &[Collected]) {
        if passed.is_empty() {
            return;
        }
        let batch: Vec<mdms::RawReading> = passed.iter().map(raw).collect();
        for c in passed {
            if c.arrival == Arrival::Pushed {
                let close = c.row.at;
                self.figures
                    .latencies
                    .push((c.received_at - close).num_milliseconds() as f64 / 1000.0);
            }
        }
        self.figures.rows += u64::try_from(batch.len()).unwrap_or(u64::MAX);
        match self.mdms.ingest(&batch) {
            Ok(report) => {
                self.figures.mdms_rejected += u64::try_from(report.rejected.len()).unwrap_or(0);
                self.figures.mdms_conflicts += report.conflict;
            }
            Err(e) => tracing::error!(error = %e, "MDMS ingest failed"),
        }
    }

    /// Gaps at `now` (`wall`): the backfill commands' bytes for each smart meter.
    pub fn poll(&mut self, now: Duration, wall: DateTime<Utc>) -> Vec<(Eui64, Vec<u8>)> {
        if now < self.next_poll {
            return Vec::new();
        }
        self.next_poll = now + POLL;
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

/// The report's name for a terminal's event code.
fn event_kind(code: u16) -> String {
    use dlms::cosem::EventCode;
    use nodes::app::relay::own_event;
    match code {
        own_event::AUTH_FAILURE => return "auth_failure".to_owned(),
        own_event::FOREIGN_PAIRING_SCAN => return "foreign_pairing_scan".to_owned(),
        _ => {}
    }
    match EventCode::from_code(code) {
        Some(EventCode::MeterIdChanged) => "meter_id_mismatch".to_owned(),
        Some(EventCode::FloodDetected) => "dos".to_owned(),
        Some(other) => other.name().to_owned(),
        None => format!("code_{code}"),
    }
}
