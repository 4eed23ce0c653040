//! `iotroute mdms export`: the MDMS's slots (crates/mdms, docs/mdms.md) from its SQLite
//! store as CSV or JSON on stdout, ordered by point then slot. Exit 0 ok, 1 on an error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use mdms::{Filter, Format, Mdms, SqliteStore, SupplyPoint};

/// `iotroute mdms ...`.
#[derive(Debug, clap::Subcommand)]
pub enum MdmsCommand {
    /// Export the slots (supply point, terminal, start, length, energies, counters,
    /// quality, receipt) as CSV or JSON, ordered by point then slot.
    Export(ExportArgs),
}

/// The export's filter and format.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The MDMS store (SQLite); it must exist.
    #[arg(long)]
    db: PathBuf,
    /// Only this supply point (22 digits).
    #[arg(long)]
    point: Option<SupplyPoint>,
    /// Slots starting at or after this time (RFC 3339, e.g. 2026-12-05T00:00:00+09:00).
    #[arg(long)]
    from: Option<DateTime<Utc>>,
    /// Slots starting before this time (RFC 3339).
    #[arg(long)]
    to: Option<DateTime<Utc>>,
    /// csv or json.
    #[arg(long, value_enum)]
    format: FormatArg,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Csv,
    Json,
}

/// Run it.
pub fn run(cmd: &MdmsCommand) -> ExitCode {
    match cmd {
        MdmsCommand::Export(args) => match export(args) {
            Ok(rows) => {
                tracing::debug!(rows, "mdms export written");
                ExitCode::SUCCESS
            }
            Err(e) => {
                tracing::warn!(error = %e, db = %args.db.display(), "mdms export failed");
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

fn export(args: &ExportArgs) -> Result<u64, mdms::MdmsError> {
    let mdms = Mdms::open(SqliteStore::open_existing(&args.db)?)?;
    let filter = Filter {
        point: args.point.clone(),
        from: args.from,
        to: args.to,
    };
    let format = match args.format {
        FormatArg::Csv => Format::Csv,
        FormatArg::Json => Format::Json,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let rows = mdms.export(&filter, &mut out, format)?;
    out.flush()?;
    Ok(rows)
}
