//! The public server (公開サーバ), IF-01 / SYS-02: what it publishes to each retailer —
//! the EDI files of the retailer's device points (`edi`), issued again whole under the
//! next update number whenever a value changes (an estimate replaced by the reading, a
//! slot backfilled), the older issues kept — and the store they are kept in, SQLite in
//! the system's database file by default.
//!
//! The HTTPS interface for retailers with client certificates of the portal's own CA
//! ([`server`], [`tls`]) audits every request; the retailer's side ([`client`],
//! [`holdings`]) fetches and keeps the latest values. What it publishes it reads from
//! the MDMS ([`source`]) in rounds ([`rounds`]). The operations pages ([`ops`],
//! [`users`], [`records`]) are the utility's: points, a point's curve, OPS-07's block and
//! reconnect, events, incidents, risks, vulnerability notes, log review.

pub mod client;
pub mod error;
pub mod holdings;
pub mod ops;
pub mod publish;
pub mod records;
pub mod rounds;
pub mod server;
pub mod source;
pub mod sqlite;
pub mod store;
pub mod tls;
pub mod users;

pub use error::PortalError;
pub use publish::{Published, Publisher};
pub use sqlite::SqlitePortalStore;
pub use store::{AuditEntry, Listed, MemoryPortalStore, PortalStore};
