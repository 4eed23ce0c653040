//! The head end with its database, as `iotroute headend serve` runs it and the simulator
//! drives it: the node ([`HeadEnd`]), the store of its registry, block records, A-route
//! counters and collection times ([`HeadendStore`]), and the MDMS it feeds. What the head
//! end must not forget is in the store before it matters — a counter before the frame
//! that spent it leaves (SEC-02), a block record before its command (OPS-07), a point's
//! first expected boundary when its collection starts (SYS-01), a command's end with what
//! it changed (TRM-08, TRM-11) — so that a restart, kill -9 included, is
//! [`HeadEndService::open`] on the same database: the counters go on, the blocks hold,
//! the commands without an end are sent again, the secrets and intervals changed by
//! command are the ones registered, and collection resumes where the MDMS stands,
//! backfilling what was missed.
//!
//! Commands (`iotroute headend set-clock|set-interval|set-password|terminal-secret`
//! append them) are acted on at the next [`HeadEndService::poll`], like blocks: sent to
//! the point's smart meter, and sent again on each of its hellos until their end comes
//! (so a smart meter not connected at the poll gets them when it connects; one that
//! restarted while carrying one out does it again, harmless for a setting, and its first
//! *done* is the one recorded).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use dlms::cipher::{Keys, SystemTitle};
use nodes::terminal::slots::Interval;
use wisun::mac::Eui64;

use crate::aroute::SmartMeterLink;
use crate::blocks::{BlockPeriod, BlockRecord};
use crate::collect::{CollectConfig, Resume};
use crate::commands::{self, CommandEnd, CommandKind, CommandOutcome};
use crate::feed::{FeedTally, MdmsFeed};
use crate::node::{HeadEnd, HeadEndFigures, HEAD_END_TITLE};
use crate::point::SupplyPoint;
use crate::registry::DevicePoint;
use crate::storage::{HeadendError, HeadendStore};

/// Why the head end could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Its store failed.
    #[error("head end store: {0}")]
    Store(#[from] HeadendError),
    /// The MDMS failed.
    #[error("MDMS: {0}")]
    Mdms(#[from] mdms::MdmsError),
    /// The MDMS's thread could not start.
    #[error("MDMS thread: {0}")]
    Thread(#[from] std::io::Error),
    /// Nothing to collect.
    #[error("no device points: import a registry first")]
    NoPoints,
}

/// Readings handed to the MDMS in one batch at most (more wait for the next); the MDMS
/// takes the batches waiting for it in one transaction ([`crate::feed::MERGED`]). Each
/// transaction writes every page it touched once (to the WAL, then back by the
/// checkpoint), so the fewer a boundary takes, the less is written: at 1,024 a
/// boundary of 10,000 terminals took ten and the MDMS thread spent as long in the
/// kernel writing pages as in its own work; at a million points 16,384 cost 24 µs a
/// reading, 131,072 11 (`scripts/bench mdms`). A kill -9 loses what is not committed
/// to the backfill.
pub const BATCH: usize = 65_536;

/// Bytes for smart meters, each after the counters that sealed them were kept.
pub type Outgoing = Vec<(Eui64, Vec<u8>)>;

/// The head end, its store and its MDMS (on a thread of its own: [`MdmsFeed`]).
#[derive(Debug)]
pub struct HeadEndService<H, M: mdms::MdmsStore + Send + 'static> {
    node: HeadEnd,
    store: H,
    mdms: MdmsFeed<M>,
    /// Block records acted on (OPS-07): `iotroute headend block|reconnect` append them
    /// to the database while the head end runs.
    blocks_seen: usize,
    /// Command records handed to the node in this process, until their end.
    commands_sent: BTreeSet<u64>,
    /// Readings taken and not in the MDMS yet: it takes them [`BATCH`] at a time, or
    /// whatever there is at each poll — one transaction per smart meter's message was
    /// a commit (on a file, a sync) per message. Lost with the process like anything
    /// else in memory: the collection, resumed from the MDMS, backfills them.
    pending: Vec<mdms::RawReading>,
    /// Each smart meter's A-route counters as the store holds them: a message's reply
    /// and its counters' write leave together, and the same counters are not written
    /// again for each further message of the same batch (SEC-02).
    counters_kept: BTreeMap<Eui64, (u32, Option<u32>)>,
}

impl<H: HeadendStore, M: mdms::MdmsStore + Send + 'static> HeadEndService<H, M> {
    /// Start (or restart) the head end at `now` on `store` and `mdms`: the registry's
    /// points, a link to each smart meter of `keys` from the counters kept, terminals
    /// registered with `secrets`; each point collected from its first start (`now` for a
    /// point never collected), the boundaries the MDMS holds not asked for again, the
    /// blocks in force held. A terminal whose password was changed by command is
    /// registered with the secret derived from its new one (kept in the store), not the
    /// one of `secrets` (TRM-08).
    ///
    /// # Errors
    /// [`ServiceError`]: a store fails, the registry is empty, or the MDMS's thread
    /// cannot start.
    pub fn open(
        mut store: H,
        mdms: mdms::Mdms<M>,
        keys: BTreeMap<Eui64, Keys>,
        mut secrets: BTreeMap<Eui64, Vec<u8>>,
        config: CollectConfig,
        now: DateTime<Utc>,
    ) -> Result<Self, ServiceError> {
        // TRM-08: a secret changed by command wins over the file's, which knows only the
        // password the terminal was installed with.
        secrets.extend(store.terminal_secrets()?);
        let points = store.points()?;
        if points.is_empty() {
            return Err(ServiceError::NoPoints);
        }
        for p in &points {
            store.start_collection(&p.supply_point, now)?;
        }
        let since = store.collection_since()?;
        let mut collected = BTreeMap::new();
        for p in &points {
            let from = since.get(&p.supply_point).copied();
            let held: BTreeMap<DateTime<Utc>, Interval> = mdms
                .readings(&p.supply_point, from, None)?
                .iter()
                .filter(|r| r.usable())
                .filter_map(|r| Some((r.boundary, Interval::from_minutes(r.interval.minutes())?)))
                .collect();
            collected.insert(p.supply_point.clone(), held);
        }
        let resume = Resume {
            from: now,
            since,
            collected,
        };
        let mut links = BTreeMap::new();
        let mut counters_kept = BTreeMap::new();
        for (sm, k) in keys {
            let kept = store.a_route_counters(sm)?;
            if let Some(kept) = kept {
                counters_kept.insert(sm, kept);
            }
            let (sent, taken) = kept.unwrap_or((0, None));
            let mut link = SmartMeterLink::new(HEAD_END_TITLE, SystemTitle(sm.0), k, sent, taken);
            link.set_events_taken(store.events_taken(sm)?);
            links.insert(sm, link);
        }
        let mut node = HeadEnd::new(config, points, &resume, links, secrets);
        let records = store.block_records()?;
        let blocked: Vec<SupplyPoint> = crate::blocks::periods(&records)
            .iter()
            .filter(|p| p.to.is_none())
            .filter_map(|p| p.point.parse().ok())
            .collect();
        node.restore_blocked(&blocked);
        Ok(Self {
            node,
            store,
            mdms: MdmsFeed::start(mdms)?,
            blocks_seen: records.len(),
            commands_sent: BTreeSet::new(),
            pending: Vec::new(),
            counters_kept,
        })
    }

    /// The store and the MDMS back, with what the MDMS refused and kept as conflicts:
    /// what outlives the head end's process (killed, as with -9: readings not flushed
    /// to the MDMS are not in it; the ones flushed are, their transactions finished).
    #[must_use]
    pub fn into_parts(self) -> (H, mdms::Mdms<M>, FeedTally) {
        let (mdms, tally) = self.mdms.finish();
        (self.store, mdms, tally)
    }

    /// The registered points.
    #[must_use]
    pub fn points(&self) -> &[DevicePoint] {
        self.node.points()
    }

    /// What the head end counted since it started.
    #[must_use]
    pub const fn figures(&self) -> &HeadEndFigures {
        self.node.figures()
    }

    /// Whether it has keys for smart meter `sm`.
    #[must_use]
    pub fn knows(&self, sm: Eui64) -> bool {
        self.node.link(sm).is_some()
    }

    /// Smart meter `sm`'s A-route counters as its link has them: (the last the head end
    /// spent, the last of the smart meter's taken).
    #[must_use]
    pub fn counters(&self, sm: Eui64) -> Option<(u32, Option<u32>)> {
        self.node.link(sm).map(SmartMeterLink::counters)
    }

    /// Smart meter `sm` connected again: a fresh stream.
    pub fn reconnected(&mut self, sm: Eui64) {
        self.node.reconnected(sm);
    }

    /// An event the driver saw (an outage, a reboot), counted with the others.
    pub fn count_event(&mut self, kind: &str) {
        self.node.count_event(kind);
    }

    /// The slots of every point expected in `[from, to]` not collected yet.
    #[must_use]
    pub fn missing(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> BTreeMap<SupplyPoint, usize> {
        self.node.missing(from, to)
    }

    /// Every blocked period recorded (OPS-07).
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    pub fn block_periods(&self) -> Result<Vec<BlockPeriod>, HeadendError> {
        Ok(crate::blocks::periods(&self.store.block_records()?))
    }

    /// Bytes from smart meter `sm` at `wall`: its readings into the MDMS, its counters
    /// kept, and what it calls for (the registrations a hello lacks).
    ///
    /// # Errors
    /// The stream is not frames: the driver closes the connection.
    pub fn take_bytes(
        &mut self,
        sm: Eui64,
        bytes: &[u8],
        wall: DateTime<Utc>,
    ) -> Result<Outgoing, dlms::wrapper::WrapperError> {
        let taken = self.node.take_bytes(sm, bytes, wall)?;
        let mut out = taken.to_smart_meters;
        let relayed = taken.relayed_events.map(|n| (sm, n));
        match self.store.record_events(&taken.events, relayed) {
            // Kept: the smart meter may forget them (not before: it sends them again).
            Ok(()) => out.extend(relayed.and_then(|(sm, n)| self.node.events_kept(sm, n))),
            Err(e) => {
                tracing::error!(error = %e, events = taken.events.len(), "terminal events not kept");
            }
        }
        self.pending.extend(taken.readings);
        if self.pending.len() >= BATCH {
            self.flush();
        }
        for (request, outcome, reason) in taken.carried {
            self.finish(request, outcome.into(), reason, wall);
        }
        self.keep_counters(sm);
        Ok(self.outgoing(out))
    }

    /// At `wall`: the blocks and reconnects recorded since the last look acted on, the
    /// commands without an end not sent yet sent, and the backfills of gaps asked for.
    pub fn poll(&mut self, wall: DateTime<Utc>) -> Outgoing {
        self.flush();
        let mut out = self.act_on_blocks();
        out.extend(self.act_on_commands(wall));
        let gaps = self.node.poll(wall);
        out.extend(self.outgoing(gaps));
        out
    }

    /// The readings taken so far handed to the MDMS, to take in one transaction.
    pub fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        self.mdms.ingest(std::mem::take(&mut self.pending));
    }

    /// Run `then` on the MDMS once every reading taken so far is in it (handed over
    /// now), without waiting for it: the public server's publication, downstream.
    pub fn then(&mut self, then: impl FnOnce(&mdms::Mdms<M>) + Send + 'static) {
        self.flush();
        self.mdms.then(then);
    }

    /// The readings taken so far in the MDMS: handed over, and every transaction
    /// finished (a graceful stop's last step). What the MDMS refused and kept as
    /// conflicts since the start.
    pub fn settle(&mut self) -> FeedTally {
        self.flush();
        self.mdms.settle()
    }

    /// Record a block or reconnect (OPS-07) and act on it at once.
    ///
    /// # Errors
    /// [`HeadendError`]: refused (not registered, blocked already, ...) or not kept.
    pub fn record_block(&mut self, record: &BlockRecord) -> Result<Outgoing, HeadendError> {
        self.store.record_block(record)?;
        Ok(self.act_on_blocks())
    }

    /// Record a command for `point`'s terminal (`iotroute headend set-clock|set-password`
    /// append them to the database the same way): sent at the next [`Self::poll`]. Its
    /// number.
    ///
    /// # Errors
    /// [`HeadendError`]: refused (not registered, ...) or not kept.
    pub fn record_command(
        &mut self,
        point: &SupplyPoint,
        setting: &commands::Setting,
        at: DateTime<Utc>,
        by: &str,
    ) -> Result<u64, HeadendError> {
        self.store.record_command(point, setting, at, by)
    }

    /// Every command recorded, oldest first, with its end once it came.
    ///
    /// # Errors
    /// [`HeadendError::Backend`].
    pub fn command_records(&self) -> Result<Vec<commands::CommandRecord>, HeadendError> {
        self.store.command_records()
    }

    /// Act on the block records appended since the last look: the commands go to the
    /// smart meters (one not connected gets them on its hello).
    fn act_on_blocks(&mut self) -> Outgoing {
        let records = match self.store.block_records() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "block records not read");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for r in records.iter().skip(self.blocks_seen) {
            let blocked = r.action == crate::blocks::BlockAction::Block;
            match self.node.block(&r.point, blocked) {
                Ok(bytes) => {
                    tracing::info!(point = %r.point, action = r.action.name(), reason = %r.reason, by = %r.by, "OPS-07");
                    out.extend(bytes);
                }
                Err(e) => tracing::warn!(error = %e, "block record not acted on"),
            }
        }
        self.blocks_seen = records.len();
        self.outgoing(out)
    }

    /// Send the commands without an end that this process has not sent (recorded since
    /// the last look, or before a restart); one the node cannot send (its point no
    /// longer registered) ends failed.
    fn act_on_commands(&mut self, wall: DateTime<Utc>) -> Outgoing {
        let pending = match self.store.pending_commands() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "command records not read");
                return Vec::new();
            }
        };
        let mut out = Vec::new();
        for (seq, point, setting) in pending {
            if self.commands_sent.contains(&seq) {
                continue;
            }
            match self.node.command(seq, &point, &setting) {
                Ok((request, bytes)) => {
                    tracing::info!(seq, request, %point, kind = setting.kind().name(), "command sent");
                    self.commands_sent.insert(seq);
                    out.extend(bytes);
                }
                Err(e) => {
                    tracing::warn!(seq, error = %e, "command not sent");
                    if let Some(request) = commands::request_of(seq) {
                        self.finish(request, CommandOutcome::Failed, e.to_string(), wall);
                    }
                }
            }
        }
        self.outgoing(out)
    }

    /// Command `request` ended: its end recorded with what it changed (the registry's
    /// interval, TRM-11; the terminal's secret, TRM-08, for a new password or one the
    /// smart meter took), and the node told, so that the
    /// terminal's next registration carries them. A refusal or failure changes nothing.
    fn finish(
        &mut self,
        request: u32,
        outcome: CommandOutcome,
        reason: String,
        wall: DateTime<Utc>,
    ) {
        let Some(seq) = commands::seq_of(request) else {
            return;
        };
        self.commands_sent.remove(&seq);
        let end = CommandEnd {
            outcome,
            reason,
            at: wall,
        };
        let record = match self.store.finish_command(seq, &end) {
            Ok(Some(r)) => r,
            Ok(None) => {
                tracing::debug!(seq, "end of a command ended already, or unknown");
                return;
            }
            Err(e) => {
                tracing::error!(seq, error = %e, "command end not recorded");
                return;
            }
        };
        tracing::info!(seq, point = %record.point, kind = record.kind.name(), outcome = outcome.name(), reason = %end.reason, "command ended");
        if outcome != CommandOutcome::Done {
            return;
        }
        match record.kind {
            CommandKind::SetClock => {}
            CommandKind::SetInterval => {
                if let Some(i) = record
                    .minutes
                    .and_then(nodes::terminal::slots::Interval::from_minutes)
                {
                    self.node.set_interval(&record.point, i);
                }
            }
            CommandKind::SetPassword | CommandKind::TerminalSecret => {
                let Some(terminal) = self
                    .node
                    .points()
                    .iter()
                    .find(|p| p.supply_point == record.point)
                    .map(|p| p.terminal_id)
                else {
                    return;
                };
                match self.store.terminal_secrets() {
                    Ok(mut s) => {
                        if let Some(secret) = s.remove(&terminal) {
                            self.node.set_secret(terminal, secret);
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "terminal secrets not read"),
                }
            }
        }
    }

    /// Keep smart meter `sm`'s counters as its link has them now (written unless the
    /// store holds them already).
    fn keep_counters(&mut self, sm: Eui64) -> bool {
        let Some(link) = self.node.link(sm) else {
            return true;
        };
        let counters = link.counters();
        if self.counters_kept.get(&sm) == Some(&counters) {
            return true;
        }
        match self.store.set_a_route_counters(sm, counters.0, counters.1) {
            Ok(()) => {
                self.counters_kept.insert(sm, counters);
                true
            }
            Err(e) => {
                tracing::error!(%sm, error = %e, "A-route counters not kept");
                false
            }
        }
    }

    /// `out` with the counters that sealed each smart meter's bytes kept first (SEC-02);
    /// bytes whose counters could not be kept do not leave.
    fn outgoing(&mut self, out: Outgoing) -> Outgoing {
        out.into_iter()
            .filter(|(sm, _)| self.keep_counters(*sm))
            .collect()
    }
}
