//! The public server (公開サーバ), IF-01 / SYS-02: what it publishes to each retailer —
//! the EDI files of the retailer's device points (`edi`), issued again whole under the
//! next update number whenever a value changes (an estimate replaced by the reading, a
//! slot backfilled), the older issues kept — and the store they are kept in, SQLite in
//! the system's database file by default.
//!
//! Being built (issue 13): the HTTPS interface with client certificates, the audit,
//! the operations pages and the simulator's publication are not here yet.

pub mod error;
pub mod publish;
pub mod sqlite;
pub mod store;

pub use error::PortalError;
pub use publish::{Published, Publisher};
pub use sqlite::SqlitePortalStore;
pub use store::{Listed, MemoryPortalStore, PortalStore};
