//! The meter data management system (MDMS, メータデータ管理システム) of the Specified
//! Metering System: it takes the raw interval readings the head end (HES) collects from
//! the wireless terminals, keeps them unchanged, derives each supply point's slot
//! energies with VEE (validation, editing, estimation) and a quality per slot, and
//! exports them for the wheeling system and the public server. The utility runs it
//! (OPS-09).
//!
//! The rules (which reading counts, quality precedence, estimates, conflicts, the
//! interval switch) are in docs/mdms.md; [`Mdms`] applies them over any [`MdmsStore`]:
//! [`MemoryStore`] for tests and [`SqliteStore`] as the embedded default.

mod engine;
mod error;
mod export;
mod ids;
#[cfg(test)]
mod questions;
mod reading;
mod slot;
mod sqlite;
mod store;
mod tail;
mod vee;

pub use engine::{IngestReport, Mdms, Rejected};
pub use error::MdmsError;
pub use export::{jst, kwh, Format, COLUMNS};
pub use ids::{IdError, SupplyPoint, TerminalId};
pub use reading::{
    Arrival, Counter, CounterRange, Interval, RawReading, ReadingError, Status, MODULUS,
};
pub use slot::{Quality, QualityCounts, Slot, UnknownQuality};
pub use sqlite::{Durability, SqliteStore};
pub use store::{Filter, MdmsStore, MemoryStore};
pub use tail::Tailed;
pub use vee::Vee;
