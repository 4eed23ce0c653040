//! Where the head end keeps its registry, block and command records: behind
//! [`HeadendStore`], so that a server database can take SQLite's place
//! ([`crate::sqlite`]) without touching the head end. Every implementation applies the
//! same rules ([`crate::registry::check_together`], [`crate::blocks::check`],
//! [`crate::commands::check`], [`effect`]) inside its write, so that what is checked is
//! what is written.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use wisun::mac::Eui64;

use crate::blocks::{self, BlockError, BlockRecord};
use crate::collected::CollectedLog;
use crate::commands::{
    self, CommandEnd, CommandError, CommandOutcome, CommandRecord, NewPassword, Setting,
};
use crate::events::TerminalEvent;
use crate::point::SupplyPoint;
use crate::registry::{self, DevicePoint, RegistryError};

/// Why the head end's store refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadendError {
    /// A registry import was refused (nothing of it kept).
    #[error("registry: {0}")]
    Registry(#[from] RegistryError),
    /// A block or reconnect was refused.
    #[error("{0}")]
    Block(#[from] BlockError),
    /// A command was refused.
    #[error("{0}")]
    Command(#[from] CommandError),
    /// The database failed.
    #[error("database: {0}")]
    Backend(String),
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Imported {
    /// Points new to the registry.
    pub added: usize,
    /// Points whose row changed.
    pub updated: usize,
    /// Points as they were.
    pub unchanged: usize,
}

/// The head end's storage.
pub trait HeadendStore {
    /// Every device point, ordered by supply point.
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    fn points(&self) -> Result<Vec<DevicePoint>, HeadendError>;

    /// The point `point`, if registered.
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    fn point(&self, point: &SupplyPoint) -> Result<Option<DevicePoint>, HeadendError>;

    /// The point whose terminal is `terminal`, if registered.
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    fn point_of_terminal(&self, terminal: Eui64) -> Result<Option<DevicePoint>, HeadendError>;

    /// The points whose supply point or terminal (16 hex digits, either case) holds
    /// `needle` (all for an empty one), by supply point: `limit` of them from `offset`,
    /// and how many there are in all (a page of the operations pages).
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    fn find_points(
        &self,
        needle: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<DevicePoint>, usize), HeadendError>;

    /// Add or replace (by supply point) the points of an import, each with its file
    /// line, all or nothing.
    ///
    /// # Errors
    /// [`HeadendError::Registry`] naming the first bad line; [`HeadendError::Backend`].
    fn import(&mut self, rows: &[(u64, DevicePoint)]) -> Result<Imported, HeadendError>;

    /// Every block and reconnect, oldest first.
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    fn block_records(&self) -> Result<Vec<BlockRecord>, HeadendError>;

    /// Append a block or reconnect of a registered point (OPS-07).
    ///
    /// # Errors
    /// [`HeadendError::Block`]; [`HeadendError::Backend`].
    fn record_block(&mut self, record: &BlockRecord) -> Result<(), HeadendError>;

    /// Each point's first boundary expected (SYS-01): from when the head end first
    /// collected it, kept so that a restarted head end (kill -9 included) still expects
    /// and backfills every slot since.
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    fn collection_since(&self) -> Result<BTreeMap<SupplyPoint, DateTime<Utc>>, HeadendError>;

    /// Expect `point`'s slots from `since`, unless they are expected already (the
    /// first start keeps its time).
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    fn start_collection(
        &mut self,
        point: &SupplyPoint,
        since: DateTime<Utc>,
    ) -> Result<(), HeadendError>;

    /// The A-route counters kept for smart meter `sm` (SEC-02): the last the head end
    /// spent, the last of the smart meter's taken.
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    fn a_route_counters(&self, sm: Eui64) -> Result<Option<(u32, Option<u32>)>, HeadendError>;

    /// Keep them — before the frame that spent `sent` leaves: a counter used twice
    /// under one key is GCM nonce reuse.
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    fn set_a_route_counters(
        &mut self,
        sm: Eui64,
        sent: u32,
        taken: Option<u32>,
    ) -> Result<(), HeadendError>;

    /// Append a command for a registered point's terminal, pending; its number. A new
    /// password is kept until the command's end, for the head end to send (again, to a
    /// smart meter that says hello before the end).
    ///
    /// # Errors
    /// [`HeadendError::Command`]; [`HeadendError::Backend`].
    fn record_command(
        &mut self,
        point: &SupplyPoint,
        setting: &Setting,
        at: DateTime<Utc>,
        by: &str,
    ) -> Result<u64, HeadendError>;

    /// Every command, oldest first.
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    fn command_records(&self) -> Result<Vec<CommandRecord>, HeadendError>;

    /// The commands without an end, oldest first, each with what it sets.
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    fn pending_commands(&self) -> Result<Vec<(u64, SupplyPoint, Setting)>, HeadendError>;

    /// Record command `seq`'s end, once, with its [`effect`] in the same write: the
    /// registry's interval or the terminal's secret on done, the new password dropped
    /// whatever the outcome. The record as it ends; `None` for a command unknown or
    /// ended already (a *done* told twice changes nothing).
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    fn finish_command(
        &mut self,
        seq: u64,
        end: &CommandEnd,
    ) -> Result<Option<CommandRecord>, HeadendError>;

    /// The terminals' management association secrets changed by command (TRM-08): they
    /// override the secrets file's.
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    fn terminal_secrets(&self) -> Result<BTreeMap<Eui64, Vec<u8>>, HeadendError>;

    /// Keep `events` (OPS-06), in their order, after those kept, and with them, in the
    /// same write, `relayed`: a smart meter and the highest number of its events these
    /// are or it sent again, the number from which on its events are new
    /// ([`Self::events_taken`]; it only grows).
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    fn record_events(
        &mut self,
        events: &[TerminalEvent],
        relayed: Option<(Eui64, u32)>,
    ) -> Result<(), HeadendError>;

    /// The highest number of smart meter `sm`'s events kept (docs/a-route.md: one
    /// numbered at or below it, sent again, is kept already).
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    fn events_taken(&self, sm: Eui64) -> Result<Option<u32>, HeadendError>;

    /// The `limit` latest events, of `terminal` only if given, newest first.
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    fn events(
        &self,
        terminal: Option<Eui64>,
        limit: usize,
    ) -> Result<Vec<TerminalEvent>, HeadendError>;

    /// Keep a collected terminal log (OPS-06) with its `content` and `head`: its number.
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    fn keep_log(
        &mut self,
        log: &CollectedLog,
        content: &[u8],
        head: &str,
    ) -> Result<u64, HeadendError>;

    /// Every collected log, without content, by number.
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    fn collected_logs(&self) -> Result<Vec<CollectedLog>, HeadendError>;

    /// The content of collected log `seq`, if kept.
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    fn log_content(&self, seq: u64) -> Result<Option<Vec<u8>>, HeadendError>;

    /// Remove the terminal events and collected logs past their retention at `now`
    /// (OPS-06): how many of each.
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    fn prune(&mut self, now: DateTime<Utc>) -> Result<(u64, u64), HeadendError>;
}

/// What a command's end changes besides its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Nothing (a clock set, or a command not done).
    Nothing,
    /// The point's interval in the registry (TRM-11): what the head end registers the
    /// terminal with on its smart meter's hello.
    Interval(SupplyPoint, nodes::terminal::slots::Interval),
    /// The terminal's management association secret (TRM-08): derived from its new
    /// password as the terminal and the smart meter derive it, for its registration.
    Secret(Eui64, Vec<u8>),
}

/// What `record` ending with `outcome` changes, given the registered `points` and the
/// new password kept for it: only a done changes anything (until then the old secret
/// and interval stay the head end's).
#[must_use]
pub fn effect(
    points: &[DevicePoint],
    record: &CommandRecord,
    password: Option<&NewPassword>,
    outcome: CommandOutcome,
) -> Effect {
    // TRM-08, TRM-11: until the terminal took it, the old setting is the terminal's.
    if outcome != CommandOutcome::Done {
        return Effect::Nothing;
    }
    let Some(point) = points.iter().find(|p| p.supply_point == record.point) else {
        return Effect::Nothing;
    };
    match (record.kind, record.minutes, password) {
        (commands::CommandKind::SetInterval, Some(m), _) => {
            nodes::terminal::slots::Interval::from_minutes(m).map_or(Effect::Nothing, |i| {
                Effect::Interval(point.supply_point.clone(), i)
            })
        }
        (kind, _, Some(pw)) if kind.carries_password() => Effect::Secret(
            point.terminal_id,
            nodes::app::secrets::dlms_password(point.terminal_id.0, pw.expose()),
        ),
        _ => Effect::Nothing,
    }
}

/// What importing `rows` over `kept` does (the rules checked first).
///
/// # Errors
/// [`RegistryError`].
pub fn plan_import(
    rows: &[(u64, DevicePoint)],
    kept: &[DevicePoint],
) -> Result<Imported, RegistryError> {
    registry::check_together(rows, kept)?;
    let by_point: BTreeMap<&SupplyPoint, &DevicePoint> =
        kept.iter().map(|p| (&p.supply_point, p)).collect();
    let mut done = Imported::default();
    for (_, p) in rows {
        match by_point.get(&p.supply_point) {
            None => done.added += 1,
            Some(k) if *k == p => done.unchanged += 1,
            Some(_) => done.updated += 1,
        }
    }
    Ok(done)
}

/// Whether `record` may be appended to `records` (every point's) for the registered
/// `points`.
///
/// # Errors
/// [`BlockError`].
pub fn check_block(
    points: &[DevicePoint],
    records: &[BlockRecord],
    record: &BlockRecord,
) -> Result<(), BlockError> {
    if !points.iter().any(|p| p.supply_point == record.point) {
        return Err(BlockError::Unknown(record.point.to_string()));
    }
    let before: Vec<BlockRecord> = records
        .iter()
        .filter(|r| r.point == record.point)
        .cloned()
        .collect();
    blocks::check(&before, record)
}

/// The head end's store in memory (tests, the simulator's model).
#[derive(Debug, Clone, Default)]
pub struct MemoryHeadendStore {
    points: BTreeMap<SupplyPoint, DevicePoint>,
    blocks: Vec<BlockRecord>,
    counters: BTreeMap<Eui64, (u32, Option<u32>)>,
    since: BTreeMap<SupplyPoint, DateTime<Utc>>,
    commands: Vec<CommandRecord>,
    passwords: BTreeMap<u64, NewPassword>,
    secrets: BTreeMap<Eui64, Vec<u8>>,
    events: Vec<TerminalEvent>,
    events_taken: BTreeMap<Eui64, u32>,
    logs: Vec<(CollectedLog, Vec<u8>)>,
}

impl MemoryHeadendStore {
    /// Empty.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl HeadendStore for MemoryHeadendStore {
    fn points(&self) -> Result<Vec<DevicePoint>, HeadendError> {
        Ok(self.points.values().cloned().collect())
    }

    fn point(&self, point: &SupplyPoint) -> Result<Option<DevicePoint>, HeadendError> {
        Ok(self.points.get(point).cloned())
    }

    fn point_of_terminal(&self, terminal: Eui64) -> Result<Option<DevicePoint>, HeadendError> {
        Ok(self
            .points
            .values()
            .find(|p| p.terminal_id == terminal)
            .cloned())
    }

    fn find_points(
        &self,
        needle: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<DevicePoint>, usize), HeadendError> {
        let needle = needle.to_ascii_uppercase();
        let found: Vec<&DevicePoint> = self
            .points
            .values()
            .filter(|p| {
                p.supply_point.as_str().contains(&needle)
                    || crate::registry::eui64_text(p.terminal_id).contains(&needle)
            })
            .collect();
        let page = found
            .iter()
            .skip(offset)
            .take(limit)
            .map(|p| (*p).clone())
            .collect();
        Ok((page, found.len()))
    }

    fn import(&mut self, rows: &[(u64, DevicePoint)]) -> Result<Imported, HeadendError> {
        let kept: Vec<DevicePoint> = self.points.values().cloned().collect();
        let done = plan_import(rows, &kept)?;
        for (_, p) in rows {
            self.points.insert(p.supply_point.clone(), p.clone());
        }
        Ok(done)
    }

    fn block_records(&self) -> Result<Vec<BlockRecord>, HeadendError> {
        Ok(self.blocks.clone())
    }

    fn record_block(&mut self, record: &BlockRecord) -> Result<(), HeadendError> {
        let points: Vec<DevicePoint> = self.points.values().cloned().collect();
        check_block(&points, &self.blocks, record)?;
        self.blocks.push(record.clone());
        Ok(())
    }

    fn collection_since(&self) -> Result<BTreeMap<SupplyPoint, DateTime<Utc>>, HeadendError> {
        Ok(self.since.clone())
    }

    fn start_collection(
        &mut self,
        point: &SupplyPoint,
        since: DateTime<Utc>,
    ) -> Result<(), HeadendError> {
        self.since.entry(point.clone()).or_insert(since);
        Ok(())
    }

    fn a_route_counters(&self, sm: Eui64) -> Result<Option<(u32, Option<u32>)>, HeadendError> {
        Ok(self.counters.get(&sm).copied())
    }

    fn set_a_route_counters(
        &mut self,
        sm: Eui64,
        sent: u32,
        taken: Option<u32>,
    ) -> Result<(), HeadendError> {
        self.counters.insert(sm, (sent, taken));
        Ok(())
    }

    fn record_command(
        &mut self,
        point: &SupplyPoint,
        setting: &Setting,
        at: DateTime<Utc>,
        by: &str,
    ) -> Result<u64, HeadendError> {
        let points: Vec<DevicePoint> = self.points.values().cloned().collect();
        commands::check(&points, point, by)?;
        let seq = u64::try_from(self.commands.len()).unwrap_or(u64::MAX) + 1;
        if commands::request_of(seq).is_none() {
            return Err(CommandError::Full(seq).into());
        }
        self.commands.push(CommandRecord {
            seq,
            point: point.clone(),
            kind: setting.kind(),
            minutes: match setting {
                Setting::Interval(i) => Some(i.minutes()),
                _ => None,
            },
            at,
            by: by.to_owned(),
            end: None,
        });
        if let Some(pw) = setting.password() {
            self.passwords.insert(seq, pw.clone());
        }
        Ok(seq)
    }

    fn command_records(&self) -> Result<Vec<CommandRecord>, HeadendError> {
        Ok(self.commands.clone())
    }

    fn pending_commands(&self) -> Result<Vec<(u64, SupplyPoint, Setting)>, HeadendError> {
        let mut out = Vec::new();
        for r in self.commands.iter().filter(|r| r.end.is_none()) {
            out.push((
                r.seq,
                r.point.clone(),
                setting_of(r, self.passwords.get(&r.seq))?,
            ));
        }
        Ok(out)
    }

    fn finish_command(
        &mut self,
        seq: u64,
        end: &CommandEnd,
    ) -> Result<Option<CommandRecord>, HeadendError> {
        let points: Vec<DevicePoint> = self.points.values().cloned().collect();
        let Some(record) = self
            .commands
            .iter_mut()
            .find(|r| r.seq == seq && r.end.is_none())
        else {
            return Ok(None);
        };
        let password = self.passwords.remove(&seq);
        match effect(&points, record, password.as_ref(), end.outcome) {
            Effect::Nothing => {}
            Effect::Interval(point, interval) => {
                if let Some(p) = self.points.get_mut(&point) {
                    p.interval = interval;
                }
            }
            Effect::Secret(terminal, secret) => {
                self.secrets.insert(terminal, secret);
            }
        }
        record.end = Some(end.clone());
        Ok(Some(record.clone()))
    }

    fn terminal_secrets(&self) -> Result<BTreeMap<Eui64, Vec<u8>>, HeadendError> {
        Ok(self.secrets.clone())
    }

    fn record_events(
        &mut self,
        events: &[TerminalEvent],
        relayed: Option<(Eui64, u32)>,
    ) -> Result<(), HeadendError> {
        self.events.extend_from_slice(events);
        if let Some((sm, n)) = relayed {
            let upto = self.events_taken.entry(sm).or_insert(n);
            *upto = (*upto).max(n);
        }
        Ok(())
    }

    fn events_taken(&self, sm: Eui64) -> Result<Option<u32>, HeadendError> {
        Ok(self.events_taken.get(&sm).copied())
    }

    fn events(
        &self,
        terminal: Option<Eui64>,
        limit: usize,
    ) -> Result<Vec<TerminalEvent>, HeadendError> {
        Ok(self
            .events
            .iter()
            .rev()
            .filter(|e| terminal.is_none_or(|t| e.terminal == t))
            .take(limit)
            .cloned()
            .collect())
    }

    fn keep_log(
        &mut self,
        log: &CollectedLog,
        content: &[u8],
        _head: &str,
    ) -> Result<u64, HeadendError> {
        let seq = self.logs.len() as u64 + 1;
        self.logs
            .push((CollectedLog { seq, ..log.clone() }, content.to_vec()));
        Ok(seq)
    }

    fn collected_logs(&self) -> Result<Vec<CollectedLog>, HeadendError> {
        Ok(self.logs.iter().map(|(l, _)| l.clone()).collect())
    }

    fn prune(&mut self, now: DateTime<Utc>) -> Result<(u64, u64), HeadendError> {
        let before = |days: u32| now - chrono::TimeDelta::days(i64::from(days));
        let (events, logs) = (self.events.len(), self.logs.len());
        let kept = before(crate::events::EVENTS_KEPT_DAYS);
        self.events.retain(|e| e.received_at >= kept);
        let kept = before(crate::collected::LOGS_KEPT_DAYS);
        self.logs.retain(|(l, _)| l.collected_at >= kept);
        Ok((
            (events - self.events.len()) as u64,
            (logs - self.logs.len()) as u64,
        ))
    }

    fn log_content(&self, seq: u64) -> Result<Option<Vec<u8>>, HeadendError> {
        Ok(self
            .logs
            .iter()
            .find(|(l, _)| l.seq == seq)
            .map(|(_, c)| c.clone()))
    }
}

/// What pending record `r` sets, with the new password kept for it.
///
/// # Errors
/// [`HeadendError::Backend`]: a record the store could not have written (an interval
/// missing, a `set-password` or `terminal-secret` without its password).
pub fn setting_of(
    r: &CommandRecord,
    password: Option<&NewPassword>,
) -> Result<Setting, HeadendError> {
    let missing = |what: &str| HeadendError::Backend(format!("command {}: {what}", r.seq));
    Ok(match r.kind {
        commands::CommandKind::SetClock => Setting::Clock,
        commands::CommandKind::SetInterval => Setting::Interval(
            r.minutes
                .and_then(nodes::terminal::slots::Interval::from_minutes)
                .ok_or_else(|| missing("no interval"))?,
        ),
        commands::CommandKind::SetPassword => Setting::Password(
            password
                .cloned()
                .ok_or_else(|| missing("no password kept"))?,
        ),
        commands::CommandKind::TerminalSecret => Setting::TerminalSecret(
            password
                .cloned()
                .ok_or_else(|| missing("no password kept"))?,
        ),
    })
}
