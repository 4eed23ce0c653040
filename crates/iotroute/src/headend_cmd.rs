//! `iotroute headend ...`: the head end's registry of device points (機器点), its block
//! and reconnect records (OPS-07) and its commands to the terminals (clock TRM-09,
//! interval TRM-11, password TRM-08) and to their smart meters (a terminal's password
//! the handy terminal changed, TRM-08) in the database file `--db`. Exit codes: 0 done, 1
//! error (a bad file, a database that fails, a usage error), 2 refused (a block of a
//! point blocked already, a reconnect of one that is not, a point not registered, an
//! interval other than 15 or 30, a password outside 8..32 bytes).
//!
//! A password never comes from the command line (any local user reads argv): from
//! [`ENV_NEW_PASSWORD`], else one line of stdin.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use headend::blocks::{periods, BlockAction, BlockRecord};
use headend::commands::{CommandError, CommandRecord, NewPassword, Setting};
use headend::point::SupplyPoint;
use headend::registry::{eui64_text, parse_csv, to_csv};
use headend::sqlite::SqliteHeadendStore;
use headend::storage::{HeadendError, HeadendStore};

/// `iotroute headend ...`.
#[derive(Debug, clap::Subcommand)]
pub enum HeadendCommand {
    /// The registry of device points.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Block a point's terminal (OPS-07): recorded with reason, time and who; the smart
    /// meter revokes and drops the terminal.
    Block(BlockArgs),
    /// Reconnect a blocked point (OPS-07); the blocked period is backfilled from the
    /// terminal's store.
    Reconnect(BlockArgs),
    /// Run the head end: smart meters connect over TCP (the A route, docs/a-route.md);
    /// readings go to the MDMS in the same database, gaps are backfilled.
    Serve(crate::headend_serve::ServeArgs),
    /// List every blocked period: point, from, to, reason, by.
    Blocks {
        /// The database file.
        #[arg(long)]
        db: PathBuf,
        /// As a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Set a point's terminal clock to its smart meter's (TRM-09): recorded, then sent
    /// by the running head end at its next poll.
    SetClock(CommandArgs),
    /// Switch a point's terminal to reading every MINUTES (15 or 30, TRM-11): recorded,
    /// sent by the running head end; once done, the registry's interval too.
    SetInterval {
        #[command(flatten)]
        args: CommandArgs,
        /// 15 or 30.
        minutes: String,
    },
    /// Change a point's terminal authentication password (TRM-08; the ID never
    /// changes): the new one (8 to 32 bytes) from $IOTROUTE_NEW_PASSWORD, else one line
    /// of stdin, never the command line. Recorded, sent by the running head end; once
    /// done, the terminal is registered with the DLMS secret derived from it.
    SetPassword(CommandArgs),
    /// Record the authentication password a point's terminal has now (TRM-08: changed by
    /// the handy terminal): the password (8 to 32 bytes) from $IOTROUTE_NEW_PASSWORD,
    /// else one line of stdin, never the command line. Recorded, sent by the running head
    /// end to the terminal's smart meter, which takes it without a session with the
    /// terminal (off the link until then); once done, the terminal is registered with the
    /// DLMS secret derived from it.
    TerminalSecret(CommandArgs),
    /// List every command: number, point, what, when, by, outcome (pending, done,
    /// refused, failed) and why.
    Commands {
        /// The database file.
        #[arg(long)]
        db: PathBuf,
        /// As a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Remove the terminal events and collected logs past their retention (OPS-06:
    /// events 400 days, logs 1,095, ours); nothing younger can be removed.
    Prune {
        /// The database file.
        #[arg(long)]
        db: PathBuf,
    },
    /// Terminal logs collected (OPS-06): verified against their heads and kept whole.
    #[command(subcommand)]
    Logs(LogsCommand),
    /// List the terminals' events the smart meters relayed and the states their hellos
    /// told (OPS-06), newest first: received, terminal, smart meter, kind, code, when it
    /// happened, details.
    Events {
        /// The database file.
        #[arg(long)]
        db: PathBuf,
        /// Only this terminal's (16 hex digits).
        #[arg(long)]
        terminal: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        /// As a JSON array.
        #[arg(long)]
        json: bool,
    },
}

/// `iotroute headend logs ...`.
#[derive(Debug, clap::Subcommand)]
pub enum LogsCommand {
    /// Collect a terminal's access or event log (SEC-09: `DIR/logs/NAME.jsonl`, its head
    /// `NAME.head.json` beside it): verified against the head, then kept whole with the
    /// verdict, intact or not (evidence either way). Prints the number and the verdict.
    Collect {
        /// The database file.
        #[arg(long)]
        db: PathBuf,
        /// The terminal it is of (16 hex digits).
        #[arg(long)]
        terminal: String,
        /// Who collects it (recorded).
        #[arg(long)]
        by: String,
        /// The log file.
        file: PathBuf,
    },
    /// List the collected logs: number, terminal, file, collected, by, records, verdict.
    List {
        /// The database file.
        #[arg(long)]
        db: PathBuf,
        /// As a JSON array.
        #[arg(long)]
        json: bool,
    },
}

/// Where a new password comes from when not from stdin.
pub const ENV_NEW_PASSWORD: &str = "IOTROUTE_NEW_PASSWORD";

/// A command for a point's terminal.
#[derive(Debug, clap::Args)]
pub struct CommandArgs {
    /// The database file.
    #[arg(long)]
    db: PathBuf,
    /// The supply point (22 digits).
    point: SupplyPoint,
    /// Who asks (recorded).
    #[arg(long)]
    by: String,
}

/// `iotroute headend registry ...`.
#[derive(Debug, clap::Subcommand)]
pub enum RegistryCommand {
    /// Add or replace (by supply point) the points of a CSV file with the header
    /// `supply_point,terminal_id,pairing_id,smart_meter,meter_id,interval_min,retailer`
    /// (EUI-64s as 16 hex digits, meter ID in hex or empty, interval 15 or 30, retailer
    /// 5 characters); a bad row is named by its line and nothing is imported.
    Import {
        /// The database file.
        #[arg(long)]
        db: PathBuf,
        /// The CSV file.
        csv: PathBuf,
    },
    /// Write the registry as CSV (same header, ordered by supply point).
    Export {
        /// The database file.
        #[arg(long)]
        db: PathBuf,
        /// Where (standard output when absent or `-`).
        csv: Option<PathBuf>,
    },
}

/// A block or reconnect.
#[derive(Debug, clap::Args)]
pub struct BlockArgs {
    /// The database file.
    #[arg(long)]
    db: PathBuf,
    /// The supply point (22 digits).
    point: SupplyPoint,
    /// Why (recorded).
    #[arg(long)]
    reason: String,
    /// Who decided (recorded).
    #[arg(long)]
    by: String,
}

fn open(db: &Path) -> Result<SqliteHeadendStore, ExitCode> {
    SqliteHeadendStore::open(db).map_err(|e| fail(&e))
}

fn fail(e: &HeadendError) -> ExitCode {
    tracing::warn!(error = %e, "head end command failed");
    eprintln!("error: {e}");
    match e {
        HeadendError::Block(_) | HeadendError::Command(_) => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    }
}

/// Run it.
pub async fn run(cmd: HeadendCommand) -> ExitCode {
    match cmd {
        HeadendCommand::Serve(args) => crate::headend_serve::serve(args).await,
        HeadendCommand::Registry(RegistryCommand::Import { db, csv }) => import(&db, &csv),
        HeadendCommand::Registry(RegistryCommand::Export { db, csv }) => export(&db, csv),
        HeadendCommand::Block(args) => block(args, BlockAction::Block),
        HeadendCommand::Reconnect(args) => block(args, BlockAction::Reconnect),
        HeadendCommand::Blocks { db, json } => blocks(&db, json),
        HeadendCommand::Logs(LogsCommand::Collect {
            db,
            terminal,
            by,
            file,
        }) => collect_log(&db, &terminal, &by, &file),
        HeadendCommand::Logs(LogsCommand::List { db, json }) => list_logs(&db, json),
        HeadendCommand::Prune { db } => prune(&db),
        HeadendCommand::Events {
            db,
            terminal,
            limit,
            json,
        } => events(&db, terminal.as_deref(), limit, json),
        HeadendCommand::SetClock(args) => command(&args, Ok(Setting::Clock)),
        HeadendCommand::SetInterval { args, minutes } => command(
            &args,
            headend::commands::interval(&minutes).map(Setting::Interval),
        ),
        HeadendCommand::SetPassword(args) => command(&args, password().map(Setting::Password)),
        HeadendCommand::TerminalSecret(args) => {
            command(&args, password().map(Setting::TerminalSecret))
        }
        HeadendCommand::Commands { db, json } => list_commands(&db, json),
    }
}

/// The password of a `set-password` or `terminal-secret`: [`ENV_NEW_PASSWORD`], else one
/// line of stdin (its line end dropped). The errors say its length, never the password.
fn password() -> Result<NewPassword, CommandError> {
    let text = match std::env::var(ENV_NEW_PASSWORD) {
        Ok(v) => v,
        Err(_) => {
            let mut line = String::new();
            if let Err(e) = std::io::stdin().read_line(&mut line) {
                tracing::warn!(error = %e, "new password not read from stdin");
            }
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    NewPassword::new(text.into_bytes())
}

fn command(args: &CommandArgs, setting: Result<Setting, CommandError>) -> ExitCode {
    let setting = match setting {
        Ok(s) => s,
        Err(e) => return fail(&HeadendError::Command(e)),
    };
    let mut store = match open(&args.db) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let at = chrono::Utc::now();
    match store.record_command(&args.point, &setting, at, &args.by) {
        Ok(seq) => {
            let kind = setting.kind().name();
            tracing::info!(seq, point = %args.point, kind, by = %args.by, "command recorded");
            crate::stdout::outln!(
                "{kind} {} recorded as command {seq} at {}",
                args.point,
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

/// A command as listed: its outcome `pending` until its end.
fn listed(r: &CommandRecord) -> serde_json::Value {
    let time =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    serde_json::json!({
        "seq": r.seq,
        "point": r.point.as_str(),
        "kind": r.kind,
        "minutes": r.minutes,
        "at": time(r.at),
        "by": r.by,
        "outcome": r.end.as_ref().map_or("pending", |e| e.outcome.name()),
        "reason": r.end.as_ref().map(|e| e.reason.clone()),
        "outcome_at": r.end.as_ref().map(|e| time(e.at)),
    })
}

fn list_commands(db: &Path, json: bool) -> ExitCode {
    let store = match open(db) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let records = match store.command_records() {
        Ok(r) => r,
        Err(e) => return fail(&e),
    };
    let list: Vec<serde_json::Value> = records.iter().map(listed).collect();
    if json {
        crate::stdout::outln!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".to_owned())
        );
        return ExitCode::SUCCESS;
    }
    crate::stdout::outln!(
        "seq  point                   command          at                    by / outcome (why)"
    );
    for (r, l) in records.iter().zip(&list) {
        let what = match r.minutes {
            Some(m) => format!("{} {m}", r.kind.name()),
            None => r.kind.name().to_owned(),
        };
        let why = r
            .end
            .as_ref()
            .filter(|e| !e.reason.is_empty())
            .map(|e| format!(" ({})", e.reason))
            .unwrap_or_default();
        crate::stdout::outln!(
            "{:<4} {:<23} {:<16} {:<21} {} / {}{why}",
            r.seq,
            r.point,
            what,
            l["at"].as_str().unwrap_or_default(),
            r.by,
            l["outcome"].as_str().unwrap_or_default(),
        );
    }
    ExitCode::SUCCESS
}

fn import(db: &Path, csv: &Path) -> ExitCode {
    let text = match std::fs::read(csv) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {}: {e}", csv.display());
            return ExitCode::FAILURE;
        }
    };
    let points = match parse_csv(&text) {
        Ok(p) => p,
        Err(e) => return fail(&HeadendError::Registry(e)),
    };
    // Lines again for the checks against the registry: the header is line 1 and every
    // record one line (the parser refused anything else).
    let rows: Vec<_> = (2..).zip(points).collect();
    let mut store = match open(db) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match store.import(&rows) {
        Ok(done) => {
            tracing::info!(
                added = done.added,
                updated = done.updated,
                unchanged = done.unchanged,
                "registry imported"
            );
            crate::stdout::outln!(
                "imported {}: {} added, {} updated, {} unchanged",
                csv.display(),
                done.added,
                done.updated,
                done.unchanged
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn export(db: &Path, csv: Option<PathBuf>) -> ExitCode {
    let store = match open(db) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let text = match store.points() {
        Ok(p) => to_csv(&p),
        Err(e) => return fail(&e),
    };
    match csv.filter(|p| p.as_os_str() != "-") {
        None => {
            crate::stdout::out!("{text}");
            ExitCode::SUCCESS
        }
        Some(path) => match std::fs::write(&path, text) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                ExitCode::FAILURE
            }
        },
    }
}

fn block(args: BlockArgs, action: BlockAction) -> ExitCode {
    let mut store = match open(&args.db) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let record = BlockRecord {
        point: args.point,
        action,
        at: chrono::Utc::now(),
        reason: args.reason,
        by: args.by,
    };
    match store.record_block(&record) {
        Ok(()) => {
            tracing::info!(point = %record.point, action = action.name(), reason = %record.reason, by = %record.by, "OPS-07");
            crate::stdout::outln!(
                "{} {} at {}",
                action.name(),
                record.point,
                record.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn blocks(db: &Path, json: bool) -> ExitCode {
    let store = match open(db) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let list = match store.block_records() {
        Ok(r) => periods(&r),
        Err(e) => return fail(&e),
    };
    if json {
        crate::stdout::outln!(
            "{}",
            serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".to_owned())
        );
        return ExitCode::SUCCESS;
    }
    crate::stdout::outln!(
        "point                   from                  to                    reason / by"
    );
    let time =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for p in &list {
        crate::stdout::outln!(
            "{:<23} {:<21} {:<21} {} / {}",
            p.point,
            time(p.from),
            p.to.map_or_else(|| "(blocked)".to_owned(), time),
            p.reason,
            p.by
        );
    }
    ExitCode::SUCCESS
}

fn events(db: &Path, terminal: Option<&str>, limit: usize, json: bool) -> ExitCode {
    let terminal = match terminal.map(headend::registry::parse_eui64).transpose() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: --terminal: {e}");
            return ExitCode::FAILURE;
        }
    };
    let store = match open(db) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let list = match store.events(terminal, limit) {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    let time =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    if json {
        let rows: Vec<serde_json::Value> = list
            .iter()
            .map(|e| {
                serde_json::json!({
                    "received_at": time(e.received_at),
                    "terminal": eui64_text(e.terminal),
                    "smart_meter": eui64_text(e.smart_meter),
                    "kind": e.kind,
                    "code": e.code,
                    "at": time(e.at),
                    "details": e.details,
                })
            })
            .collect();
        crate::stdout::outln!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".to_owned())
        );
        return ExitCode::SUCCESS;
    }
    for e in &list {
        crate::stdout::outln!(
            "{} {} {} {:<18} {:>5} {} {}",
            time(e.received_at),
            eui64_text(e.terminal),
            eui64_text(e.smart_meter),
            e.kind,
            e.code.map_or_else(|| "-".to_owned(), |c| c.to_string()),
            time(e.at),
            e.details
        );
    }
    ExitCode::SUCCESS
}

fn collect_log(db: &Path, terminal: &str, by: &str, file: &Path) -> ExitCode {
    let terminal = match headend::registry::parse_eui64(terminal) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: --terminal: {e}");
            return ExitCode::FAILURE;
        }
    };
    let read = |path: &Path| std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()));
    let head_path = logs::head_path(file);
    let (content, head) = match (read(file), read(&head_path)) {
        (Ok(c), Ok(h)) => (c, String::from_utf8_lossy(&h).into_owned()),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let log =
        match headend::collected::collect(terminal, &name, &content, &head, by, chrono::Utc::now())
        {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: {}: {e}", file.display());
                return ExitCode::FAILURE;
            }
        };
    let mut store = match open(db) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match store.keep_log(&log, &content, &head) {
        Ok(seq) => {
            tracing::info!(seq, terminal = %eui64_text(terminal), file = %name, verdict = %log.verdict.text(), by, "OPS-06: terminal log collected");
            crate::stdout::outln!("{seq} {}", log.verdict.text());
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn list_logs(db: &Path, json: bool) -> ExitCode {
    let store = match open(db) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let list = match store.collected_logs() {
        Ok(l) => l,
        Err(e) => return fail(&e),
    };
    let time =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    if json {
        let rows: Vec<serde_json::Value> = list
            .iter()
            .map(|l| {
                serde_json::json!({
                    "seq": l.seq,
                    "terminal": eui64_text(l.terminal),
                    "name": l.name,
                    "collected_at": time(l.collected_at),
                    "by": l.by,
                    "first_seq": l.first_seq,
                    "last_seq": l.last_seq,
                    "verdict": l.verdict.text(),
                })
            })
            .collect();
        crate::stdout::outln!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".to_owned())
        );
        return ExitCode::SUCCESS;
    }
    for l in &list {
        crate::stdout::outln!(
            "{} {} {} {} {} {}..{} {}",
            l.seq,
            eui64_text(l.terminal),
            l.name,
            time(l.collected_at),
            l.by,
            l.first_seq,
            l.last_seq,
            l.verdict.text()
        );
    }
    ExitCode::SUCCESS
}

fn prune(db: &Path) -> ExitCode {
    let mut store = match open(db) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match store.prune(chrono::Utc::now()) {
        Ok((events, logs)) => {
            tracing::info!(events, logs, "OPS-06: past their retention, removed");
            crate::stdout::outln!(
                "{events} events (kept {} days) and {logs} collected logs (kept {} days) past their retention removed",
                headend::events::EVENTS_KEPT_DAYS,
                headend::collected::LOGS_KEPT_DAYS
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}
