//! The head end and the MDMS in the simulation: the registry of the run's device points
//! (in the database file `--db` when given, with the MDMS's tables; else the registry in
//! memory and the MDMS in a scratch file removed at the end: the MDMS grows with every
//! reading, about 23 KiB per point and day, which a large run cannot hold in memory) and
//! the head end as `iotroute headend serve` runs it (`headend::service`: the node with
//! each smart meter's A-route link, collection and its backfills; its counters and
//! records kept; the MDMS fed). Killed (`--kill-headend`), it loses what it held in
//! memory and starts again on the same database, as the program does after a kill -9.
//! Nothing of them is simulated: the simulator only carries the bytes and the time.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dlms::cipher::Keys;
use headend::collect::CollectConfig;
use headend::node::HeadEndFigures;
use headend::registry::DevicePoint;
use headend::service::HeadEndService;
use headend::sqlite::SqliteHeadendStore;
use headend::storage::HeadendStore as _;
use nodes::app::entropy::Seeded;
use wisun::mac::Eui64;

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

/// The MDMS's store: SQLite, each point's latest readings kept in front of it.
pub type MdmsStore = mdms::Tailed<mdms::SqliteStore>;

type Service = HeadEndService<SqliteHeadendStore, MdmsStore>;

/// The head end's process: running, or killed (its database outlives it).
#[derive(Debug)]
enum State {
    Up(Box<Service>),
    Down(Box<(SqliteHeadendStore, mdms::Mdms<MdmsStore>)>),
}

/// The head end, its registry and its MDMS.
pub(super) struct HeadEndSim {
    /// `None` only while it changes.
    state: Option<State>,
    /// What it starts with each time: the smart meters' keys, the terminals' secrets.
    keys: BTreeMap<Eui64, Keys>,
    secrets: BTreeMap<Eui64, Vec<u8>>,
    points: Vec<DevicePoint>,
    /// What it counted before it was killed (the figures of a process die with it).
    retired: HeadEndFigures,
    retired_rejected: u64,
    retired_conflicts: u64,
    /// The database file of the MDMS (and the public server's files): `--db`, else in
    /// the scratch directory.
    db: std::path::PathBuf,
    /// Where the MDMS is kept without `--db` (removed with it, after the MDMS: fields
    /// drop in order).
    _scratch: Option<tempfile::TempDir>,
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
        let mut registry = match db {
            Some(path) => SqliteHeadendStore::open(path),
            None => SqliteHeadendStore::in_memory(),
        }
        .map_err(|e| e.to_string())?;
        let lines: Vec<(u64, DevicePoint)> = (2..).zip(points.iter().cloned()).collect();
        registry.import(&lines).map_err(|e| e.to_string())?;
        let keys = smart_meters
            .iter()
            .map(|sm| (*sm, keys_of(seed, *sm)))
            .collect();
        let (path, scratch) = match db {
            Some(path) => (path.to_owned(), None),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("iotroute-sim-")
                    .tempdir()
                    .map_err(|e| format!("scratch directory for the MDMS: {e}"))?;
                (dir.path().join("mdms.db"), Some(dir))
            }
        };
        let store = mdms::SqliteStore::open_with(&path, mdms::Durability::Relaxed)
            .map_err(|e| e.to_string())?;
        let mdms = mdms::Mdms::new(mdms::Tailed::new(store), mdms::Vee::default())
            .map_err(|e| e.to_string())?;
        let mut hes = Self {
            state: Some(State::Down(Box::new((registry, mdms)))),
            keys,
            secrets,
            points,
            retired: HeadEndFigures::default(),
            retired_rejected: 0,
            retired_conflicts: 0,
            db: path,
            _scratch: scratch,
        };
        hes.start(since)?;
        Ok(hes)
    }

    /// Start it at `wall` on its database (again, after a kill).
    pub fn start(&mut self, wall: DateTime<Utc>) -> Result<(), String> {
        match self.state.take() {
            Some(State::Down(parts)) => {
                let (store, mdms) = *parts;
                let service = HeadEndService::open(
                    store,
                    mdms,
                    self.keys.clone(),
                    self.secrets.clone(),
                    CollectConfig::default(),
                    wall,
                )
                .map_err(|e| e.to_string())?;
                self.state = Some(State::Up(Box::new(service)));
                Ok(())
            }
            other => {
                self.state = other;
                Ok(())
            }
        }
    }

    /// Kill it (-9): what it held in memory is gone — its links' streams, backfills
    /// under way, readings not yet handed to the MDMS, what it had counted — the
    /// database stays. The batches already handed to the MDMS's thread are taken in
    /// first (a real kill could lose those too: its collection, resumed from the MDMS,
    /// backfills them like the ones it held).
    pub fn kill(&mut self) {
        if let Some(State::Up(service)) = self.state.take() {
            merge(&mut self.retired, service.figures());
            let (store, mdms, tally) = service.into_parts();
            self.retired_rejected += tally.rejected;
            self.retired_conflicts += tally.conflicts;
            self.state = Some(State::Down(Box::new((store, mdms))));
        }
    }

    /// The run's end: what it took handed to the MDMS, then stopped, its figures kept,
    /// so that the MDMS can be read ([`Self::mdms`]).
    pub fn stop(&mut self) {
        if let Some(s) = self.service() {
            s.flush();
        }
        self.kill();
    }

    fn service(&mut self) -> Option<&mut Service> {
        match &mut self.state {
            Some(State::Up(s)) => Some(s),
            _ => None,
        }
    }

    /// The database file of the MDMS (and of the public server's files).
    pub fn db(&self) -> &std::path::Path {
        &self.db
    }

    /// Run `then` on the MDMS once every reading the head end took by now is in it: on
    /// the MDMS's thread, without waiting, while the head end runs; at once while it is
    /// down (the MDMS then holds everything it took).
    pub fn then(&mut self, then: impl FnOnce(&mdms::Mdms<MdmsStore>) + Send + 'static) {
        match &mut self.state {
            Some(State::Up(s)) => s.then(then),
            Some(State::Down(parts)) => then(&parts.1),
            None => {}
        }
    }

    /// The registered points.
    pub fn points(&self) -> &[DevicePoint] {
        &self.points
    }

    /// The registry as the head end holds it now: an interval switched by command
    /// included (TRM-11), where [`HeadEndSim::points`] is the run's as imported.
    pub fn registry(&self) -> Vec<DevicePoint> {
        match &self.state {
            Some(State::Up(s)) => s.points().to_vec(),
            Some(State::Down(parts)) => parts.0.points().unwrap_or_else(|e| {
                tracing::error!(error = %e, "registry not read");
                Vec::new()
            }),
            None => Vec::new(),
        }
    }

    /// The MDMS, once the head end is down (killed, or stopped at the run's end: while
    /// it runs, the MDMS is its thread's).
    pub fn mdms(&self) -> Option<&mdms::Mdms<MdmsStore>> {
        match &self.state {
            Some(State::Down(parts)) => Some(&parts.1),
            _ => None,
        }
    }

    /// What the head end counted, over all its lives.
    pub fn figures(&self) -> HeadEndFigures {
        let mut all = self.retired.clone();
        if let Some(State::Up(s)) = &self.state {
            merge(&mut all, s.figures());
        }
        all
    }

    /// Readings the MDMS refused, and kept as conflicts, over all its lives that ended
    /// (every one, once [`Self::stop`]ped).
    pub const fn mdms_refusals(&self) -> (u64, u64) {
        (self.retired_rejected, self.retired_conflicts)
    }

    /// Where smart meter `sm`'s own A-route counters must be for the head end to take
    /// its frames and it the head end's: (its last spent, the head end's last taken by
    /// it), from what the head end kept.
    pub fn peer_counters(&self, sm: Eui64) -> (u32, Option<u32>) {
        let kept = match &self.state {
            Some(State::Up(s)) => s.counters(sm),
            _ => None,
        };
        kept.map_or((0, None), |(sent, taken)| {
            (taken.unwrap_or(0), (sent > 0).then_some(sent))
        })
    }

    /// Whether every point's slots in `[from, to]` were collected (backfill settled).
    pub fn settled(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        matches!(&self.state, Some(State::Up(s)) if s.missing(from, to).is_empty())
    }

    /// An event of the system (an outage, a reboot), counted with the terminals' events.
    pub fn count_event(&mut self, kind: &str) {
        match self.service() {
            Some(s) => s.count_event(kind),
            None => *self.retired.events.entry(kind.to_owned()).or_default() += 1,
        }
    }

    /// Block (`true`) or reconnect `point` at `wall` (OPS-07), recorded with `reason`
    /// and `by`: the command's bytes for its smart meter (none while the head end is
    /// down: it acts on the record when it starts).
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
        let action = if blocked {
            headend::blocks::BlockAction::Block
        } else {
            headend::blocks::BlockAction::Reconnect
        };
        let record = headend::blocks::BlockRecord {
            point: point.clone(),
            action,
            at: wall,
            reason: reason.to_owned(),
            by: by.to_owned(),
        };
        match &mut self.state {
            Some(State::Up(s)) => s.record_block(&record).map_err(|e| e.to_string()),
            Some(State::Down(parts)) => {
                parts.0.record_block(&record).map_err(|e| e.to_string())?;
                *self
                    .retired
                    .events
                    .entry(action.name().to_owned())
                    .or_default() += 1;
                Ok(Vec::new())
            }
            None => Ok(Vec::new()),
        }
    }

    /// Every blocked period recorded (OPS-07).
    pub fn blocks(&self) -> Vec<headend::blocks::BlockPeriod> {
        let records = match &self.state {
            Some(State::Up(s)) => return s.block_periods().unwrap_or_default(),
            Some(State::Down(parts)) => parts.0.block_records().unwrap_or_default(),
            None => Vec::new(),
        };
        headend::blocks::periods(&records)
    }

    /// Record an operator's command for `point`'s terminal at `wall`, by `sim`, in the
    /// head end's database, as `iotroute headend set-clock|set-password` does (TRM-08,
    /// TRM-09): the running head end sends it at its next poll; one that is down, when it
    /// starts again. Its number.
    ///
    /// # Errors
    /// The point is not registered, or the record is refused.
    pub fn record_command(
        &mut self,
        point: &mdms::SupplyPoint,
        setting: &headend::commands::Setting,
        wall: DateTime<Utc>,
    ) -> Result<u64, String> {
        match &mut self.state {
            Some(State::Up(s)) => s.record_command(point, setting, wall, "sim"),
            Some(State::Down(parts)) => parts.0.record_command(point, setting, wall, "sim"),
            None => return Err("the head end is changing".to_owned()),
        }
        .map_err(|e| e.to_string())
    }

    /// The command records numbered `seqs`, oldest first, each with its end once it came.
    pub fn commands(&self, seqs: &[u64]) -> Vec<headend::commands::CommandRecord> {
        let records = match &self.state {
            Some(State::Up(s)) => s.command_records(),
            Some(State::Down(parts)) => parts.0.command_records(),
            None => Ok(Vec::new()),
        };
        records
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "command records not read");
                Vec::new()
            })
            .into_iter()
            .filter(|r| seqs.contains(&r.seq))
            .collect()
    }

    /// Bytes from smart meter `sm` at `wall`: what they bring goes to the MDMS; the
    /// commands they call for (the registrations a hello lacks), for each smart meter.
    /// While the head end is down they are lost (its connection refused, or the bytes
    /// in its buffers when it died).
    pub fn take_bytes(
        &mut self,
        sm: Eui64,
        bytes: &[u8],
        wall: DateTime<Utc>,
    ) -> Vec<(Eui64, Vec<u8>)> {
        let Some(service) = self.service() else {
            tracing::debug!(%sm, "the head end is down: the bytes are lost");
            return Vec::new();
        };
        service.take_bytes(sm, bytes, wall).unwrap_or_else(|e| {
            tracing::error!(%sm, error = %e, "A route stream broken");
            Vec::new()
        })
    }

    /// At `wall`: blocks acted on and gaps' backfills asked for, the bytes for each
    /// smart meter.
    pub fn poll(&mut self, wall: DateTime<Utc>) -> Vec<(Eui64, Vec<u8>)> {
        self.service().map(|s| s.poll(wall)).unwrap_or_default()
    }
}

/// `more` added to `into`.
fn merge(into: &mut HeadEndFigures, more: &HeadEndFigures) {
    into.messages += more.messages;
    into.refused += more.refused;
    into.backfills += more.backfills;
    into.rows += more.rows;
    for (kind, n) in &more.events {
        *into.events.entry(kind.clone()).or_default() += n;
    }
    for (ms, n) in &more.latencies {
        *into.latencies.entry(*ms).or_default() += n;
    }
}
