//! `iotroute logs verify FILE`: check a terminal's access or event log (SEC-09) against
//! the head kept beside it (`FILE` → `FILE`'s stem + `.head.json`): exit 0 when intact,
//! 1 naming the first bad record and why (edited, removed, inserted, reordered, cut off).

use std::path::PathBuf;
use std::process::ExitCode;

/// `iotroute logs ...`.
#[derive(Debug, clap::Subcommand)]
pub enum LogsCommand {
    /// Verify a log file against the head beside it: exit 0 intact, 1 with the first bad
    /// record and why.
    Verify {
        /// The log file (`DIR/logs/access.jsonl`, `event.jsonl`, or a rotated
        /// `NAME-<first seq>.jsonl`).
        file: PathBuf,
    },
}

/// Run it.
pub fn run(cmd: &LogsCommand) -> ExitCode {
    match cmd {
        LogsCommand::Verify { file } => match logs::verify_file(file) {
            Ok(v) if v.last_seq < v.first_seq => {
                crate::stdout::outln!(
                    "{}: intact, empty (starts at record {})",
                    file.display(),
                    v.first_seq
                );
                ExitCode::SUCCESS
            }
            Ok(v) => {
                crate::stdout::outln!(
                    "{}: intact, records {} to {} (last hash {})",
                    file.display(),
                    v.first_seq,
                    v.last_seq,
                    v.last_hash.to_hex()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::warn!(error = %e, "log does not verify");
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
