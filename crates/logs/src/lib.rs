//! The wireless terminal's tamper-evident logs (SEC-09, OPS-06): the access log
//! (associations, SET/ACTION, handy-terminal sessions, authentication failures) and the
//! event log, as evidence of unauthorised access or infection.
//!
//! Each log is JSON Lines, one [`Record`] a line, each record carrying its sequence
//! number, time, kind, details, the previous record's SHA-256 and its own ([`record`]);
//! the head — where the file starts, its last sequence number and hash — is kept apart
//! ([`chain::Head`]), so that records cut off the end are found too. [`chain::verify`]
//! names the first edited, removed, inserted, reordered or missing record; [`FileLog`]
//! writes, rotates (the next file's first record links to the last one's) and keeps the
//! logs by count and age ([`Retention`]); `iotroute logs verify FILE` is
//! [`verify_file`].
//!
//! What this does not do: the chain has no secret, so someone who may rewrite both a
//! file and its head can forge a consistent history; the head kept apart (and later a
//! copy pushed off the device) is what makes a cut or an edit visible.

pub mod chain;
pub mod file;
pub mod record;

pub use chain::{verify, Broken, Head, Verified};
pub use file::{head_path, read_head, verify_file, FileLog, LogError, Retention};
pub use record::{Hash, Record, RecordError};
