//! Where the head end keeps its registry and block records: behind [`HeadendStore`], so
//! that a server database can take SQLite's place ([`crate::sqlite`]) without touching
//! the head end. Every implementation applies the same rules
//! ([`crate::registry::check_together`], [`crate::blocks::check`]) inside its write, so
//! that what is checked is what is written.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use wisun::mac::Eui64;

use crate::blocks::{self, BlockError, BlockRecord};
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
}
