//! Storage behind the nodes' traits. For now: the wireless terminal's reading store on
//! SQLite ([`SqliteStore`], `nodes::terminal::store::ReadingStore`).
//!
//! Why SQLite (rusqlite with its bundled library) rather than redb: the head end and MDMS
//! will keep their data in SQL too (and may move to PostgreSQL), one engine and one way
//! of writing schemas for the whole project; SQLite's WAL with `synchronous=FULL` makes
//! every committed row survive a `kill -9` or a power cut, and its file is readable with
//! the `sqlite3` shell on any maintenance laptop. Each write is one transaction.

mod readings;

pub use readings::SqliteStore;
