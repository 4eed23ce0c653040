//! The head end and the MDMS in the simulation: the registry of the run's device points
//! (in the database file `--db` when given, with the MDMS's tables; else in memory), the
//! head end node (`headend::node::HeadEnd`: each smart meter's A-route link, collection
//! and its backfills) and the MDMS taking every reading it passes on (`mdms` on SQLite).
//! Nothing of them is simulated: the simulator only carries the bytes and the time.

use core::time::Duration;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dlms::cipher::{Keys, SystemTitle};
use headend::aroute::SmartMeterLink;
use headend::collect::CollectConfig;
use headend::node::{HeadEnd, HeadEndFigures, HEAD_END_TITLE};
use headend::registry::DevicePoint;
use headend::storage::HeadendStore as _;
use nodes::app::entropy::Seeded;
use wisun::mac::Eui64;

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

/// The head end, its registry and its MDMS.
pub(super) struct HeadEndSim {
    node: HeadEnd,
    /// The registry and its block records.
    registry: headend::sqlite::SqliteHeadendStore,
    pub mdms: mdms::Mdms<mdms::SqliteStore>,
    next_poll: Duration,
    /// Readings the MDMS refused, or kept as conflicts.
    pub mdms_rejected: u64,
    pub mdms_conflicts: u64,
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
            Some(path) => headend::sqlite::SqliteHeadendStore::open(path),
            None => headend::sqlite::SqliteHeadendStore::in_memory(),
        }
        .map_err(|e| e.to_string())?;
        let lines: Vec<(u64, DevicePoint)> = (2..).zip(points.iter().cloned()).collect();
        registry.import(&lines).map_err(|e| e.to_string())?;
        let links = smart_meters
            .iter()
            .map(|sm| {
                let keys = keys_of(seed, *sm);
                let link = SmartMeterLink::new(HEAD_END_TITLE, SystemTitle(sm.0), keys, 0, None);
                (*sm, link)
            })
            .collect();
        let store = match db {
            Some(path) => mdms::SqliteStore::open(path),
            None => mdms::SqliteStore::in_memory(),
        }
        .map_err(|e| e.to_string())?;
        let mdms = mdms::Mdms::new(store, mdms::Vee::default()).map_err(|e| e.to_string())?;
        Ok(Self {
            node: HeadEnd::new(CollectConfig::default(), points, since, links, secrets),
            registry,
            mdms,
            next_poll: Duration::ZERO,
            mdms_rejected: 0,
            mdms_conflicts: 0,
        })
    }

    /// The registered points.
    pub fn points(&self) -> &[DevicePoint] {
        self.node.points()
    }

    /// What the head end counted.
    pub const fn figures(&self) -> &HeadEndFigures {
        self.node.figures()
    }

    /// When the head end next looks for gaps.
    pub const fn next_poll(&self) -> Duration {
        self.next_poll
    }

    /// Whether every point's slots in `[from, to]` were collected (backfill settled).
    pub fn settled(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        self.node.missing(from, to).is_empty()
    }

    /// An event of the system (an outage, a reboot), counted with the terminals' events.
    pub fn count_event(&mut self, kind: &str) {
        self.node.count_event(kind);
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
        self.node.block(point, blocked)
    }

    /// Every blocked period recorded (OPS-07).
    pub fn blocks(&self) -> Vec<headend::blocks::BlockPeriod> {
        self.registry
            .block_records()
            .map(|r| headend::blocks::periods(&r))
            .unwrap_or_default()
    }

    /// Bytes from smart meter `sm` at `wall`: what they bring goes to the MDMS; the
    /// commands they call for (the registrations a hello lacks), for each smart meter.
    pub fn take_bytes(
        &mut self,
        sm: Eui64,
        bytes: &[u8],
        wall: DateTime<Utc>,
    ) -> Vec<(Eui64, Vec<u8>)> {
        let taken = match self.node.take_bytes(sm, bytes, wall) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(%sm, error = %e, "A route stream broken");
                return Vec::new();
            }
        };
        if !taken.readings.is_empty() {
            match self.mdms.ingest(&taken.readings) {
                Ok(report) => {
                    self.mdms_rejected += u64::try_from(report.rejected.len()).unwrap_or(0);
                    self.mdms_conflicts += report.conflict;
                }
                Err(e) => tracing::error!(error = %e, "MDMS ingest failed"),
            }
        }
        taken.to_smart_meters
    }

    /// Gaps at `now` (`wall`): the backfill commands' bytes for each smart meter.
    pub fn poll(&mut self, now: Duration, wall: DateTime<Utc>) -> Vec<(Eui64, Vec<u8>)> {
        if now < self.next_poll {
            return Vec::new();
        }
        self.next_poll = now + POLL;
        self.node.poll(wall)
    }
}
