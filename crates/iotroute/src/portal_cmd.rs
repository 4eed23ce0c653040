//! `iotroute portal`: the public server (公開サーバ) for retailers over HTTPS with client
//! certificates (crates/portal, docs/edi.md), its certificates (`portal cert
//! issue|list|revoke`) and its audit (`portal audit`). Exit 0 ok, 1 on an error.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use edi::PartyCode;
use portal::server::{self, Portal};
use portal::tls::Authority;
use portal::{PortalStore, SqlitePortalStore};

/// `iotroute portal [--db FILE --listen ADDR:PORT --tls DIR] | cert ... | audit ...`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PortalArgs {
    #[command(subcommand)]
    action: Option<PortalAction>,
    #[command(flatten)]
    serve: ServeArgs,
}

/// Serving.
#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// The system's database (the head end's and the MDMS's file), which holds the
    /// published files and the audit.
    #[arg(long)]
    db: Option<PathBuf>,
    /// Where to listen for HTTPS (port 0: any free port; the address is printed).
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// The certificate directory: the local CA (made if missing), the portal's own
    /// certificate, the retailers' certificates issued and revoked.
    #[arg(long, default_value = "portal-tls")]
    tls: PathBuf,
    /// Publish from the MDMS in `--db` this often (s, m, h or d): each slot 10 s and 60 s
    /// after its close, each day an hour after its end, everything of `--lookback` again
    /// every `--recheck` (a late value re-issued); `0s`: serve only.
    #[arg(long, default_value = "10s", value_parser = crate::sim_cmd::parse_offset)]
    publish_every: Duration,
    /// How far back a recheck publishes again.
    #[arg(long, default_value = "2d", value_parser = crate::sim_cmd::parse_offset)]
    lookback: Duration,
    /// How often a recheck runs.
    #[arg(long, default_value = "10m", value_parser = crate::sim_cmd::parse_offset)]
    recheck: Duration,
    /// The sender code (JP06110) of the files published.
    #[arg(long, default_value = portal::rounds::SENDER)]
    sender: edi::PartyCode,
}

#[derive(Debug, clap::Subcommand)]
enum PortalAction {
    /// Retailer certificates of the portal's local CA.
    #[command(subcommand)]
    Cert(CertAction),
    /// Every request the portal answered or refused: who, what, when, result.
    Audit(AuditArgs),
    /// The operations pages' users (the utility's people).
    #[command(subcommand)]
    User(UserAction),
}

#[derive(Debug, clap::Subcommand)]
enum UserAction {
    /// Add a user: an operator acts (block, reconnect), a viewer only looks. The password
    /// (at least 12 characters) comes from IOTROUTE_PORTAL_PASSWORD, else from the first
    /// line of stdin — never from the command line; it is kept as an Argon2id hash only.
    Add {
        /// The system's database.
        #[arg(long)]
        db: PathBuf,
        /// The login name: letters, digits, '.', '_' or '-'.
        name: String,
        /// operator or viewer.
        #[arg(long, value_parser = ["operator", "viewer"])]
        role: String,
    },
    /// Every user and role (never a password or hash).
    List {
        /// The system's database.
        #[arg(long)]
        db: PathBuf,
    },
}

/// The environment variable a new user's password may come from.
const PASSWORD_ENV: &str = "IOTROUTE_PORTAL_PASSWORD";

#[derive(Debug, clap::Subcommand)]
enum CertAction {
    /// Issue a client certificate to a retailer (the local CA made first if missing):
    /// writes CODE.crt.pem, CODE.key.pem and CODE.p12 (both owner-only) to --out and
    /// prints the serial, then the PKCS#12 file's password.
    Issue {
        /// The certificate directory.
        #[arg(long)]
        tls: PathBuf,
        /// The retailer's five-character code (0-9, A-Z).
        #[arg(long)]
        retailer: PartyCode,
        /// Where to write the retailer's certificate and key.
        #[arg(long)]
        out: PathBuf,
    },
    /// Every certificate issued: serial, retailer, end of validity, state.
    List {
        /// The certificate directory.
        #[arg(long)]
        tls: PathBuf,
    },
    /// Revoke a certificate: refused from the next request on, on connections already
    /// open too.
    Revoke {
        /// The certificate directory.
        #[arg(long)]
        tls: PathBuf,
        /// The certificate's serial (hex, as `cert issue` and `cert list` print it).
        #[arg(long)]
        serial: String,
    },
}

#[derive(Debug, clap::Args)]
struct AuditArgs {
    /// The system's database.
    #[arg(long)]
    db: PathBuf,
    /// A JSON array instead of lines.
    #[arg(long)]
    json: bool,
    /// Remove the entries past their retention (OPS-06: 400 days, ours) instead of
    /// listing; nothing younger can be removed.
    #[arg(long, conflicts_with = "json")]
    prune: bool,
}

/// Run it.
pub async fn run(args: PortalArgs) -> ExitCode {
    let result = match args.action {
        Some(PortalAction::Cert(c)) => cert(&c),
        Some(PortalAction::Audit(a)) => audit(&a),
        Some(PortalAction::User(u)) => user(&u),
        None => serve(args.serve).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::warn!(error = %e, "portal failed");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let db = args.db.ok_or("--db FILE is required to serve")?;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let publication = if args.publish_every.is_zero() {
        None
    } else {
        let span = |d: Duration| chrono::TimeDelta::from_std(d).map_err(|e| e.to_string());
        Some(crate::portal_publish::start(
            crate::portal_publish::PublishConfig {
                db: db.clone(),
                sender: args.sender,
                every: args.publish_every,
                lookback: span(args.lookback)?,
                recheck: span(args.recheck)?,
            },
            stop.clone(),
        )?)
    };
    let served = serve_db(&db, args.listen, &args.tls).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(p) = publication {
        let _ = tokio::task::spawn_blocking(move || p.join()).await;
    }
    served
}

/// Serve the files of the database `db` on `listen` with the certificates of `tls_dir`
/// until SIGTERM or Ctrl-C (`iotroute portal`, and `iotroute sim --serve` after its run).
pub(crate) async fn serve_db(db: &Path, listen: SocketAddr, tls_dir: &Path) -> Result<(), String> {
    let store = SqlitePortalStore::open(db).map_err(|e| format!("{}: {e}", db.display()))?;
    let authority = Authority::open(tls_dir).map_err(|e| e.to_string())?;
    let names = vec![listen.ip().to_string()];
    let tls = server::server_config(&authority, &names).map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("{listen}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let headend = headend::sqlite::SqliteHeadendStore::open(db)
        .map_err(|e| format!("{}: the head end's store: {e}", db.display()))?;
    let mdms = mdms::SqliteStore::open(db)
        .map_err(|e| format!("{}: the MDMS store: {e}", db.display()))?;
    let portal = Arc::new(Portal {
        store: Mutex::new(store),
        authority,
        ops: portal::ops::Ops::new(Box::new(headend), Box::new(mdms)),
    });
    tracing::info!(listen = %bound, "portal listening");
    crate::stdout::outln!(
        "portal listening on https://{bound}/30min/ (CA {})",
        tls_dir.join("ca.crt.pem").display()
    );
    let _ = std::io::stdout().flush();
    server::serve(
        listener,
        tls,
        server::router(portal),
        crate::shutdown::signal(),
    )
    .await
    .map_err(|e| e.to_string())
}

/// Issue `retailer` a certificate of the CA in `tls` into `out` (CODE.crt.pem,
/// CODE.key.pem, CODE.p12): the serial and the PKCS#12 password.
pub(crate) fn issue_into(
    tls: &Path,
    retailer: PartyCode,
    out: &Path,
) -> Result<(String, String), String> {
    let authority = Authority::open(tls).map_err(|e| e.to_string())?;
    let id = authority
        .issue(retailer, Utc::now())
        .map_err(|e| e.to_string())?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    write(
        &out.join(format!("{retailer}.crt.pem")),
        &id.cert_pem,
        false,
    )?;
    write(&out.join(format!("{retailer}.key.pem")), &id.key_pem, true)?;
    write_bytes(&out.join(format!("{retailer}.p12")), &id.p12)?;
    Ok((id.issued.serial, id.p12_password))
}

fn cert(action: &CertAction) -> Result<(), String> {
    let now = Utc::now();
    match action {
        CertAction::Issue { tls, retailer, out } => {
            let (serial, password) = issue_into(tls, *retailer, out)?;
            crate::stdout::outln!("{serial}");
            crate::stdout::outln!("p12 password: {password}");
            Ok(())
        }
        CertAction::List { tls } => {
            let authority = Authority::open(tls).map_err(|e| e.to_string())?;
            for i in authority.list().map_err(|e| e.to_string())? {
                let state = match i.revoked {
                    Some(t) => format!("revoked {}", t.to_rfc3339_opts(SecondsFormat::Secs, true)),
                    None if i.not_after <= now => "expired".to_owned(),
                    None => "valid".to_owned(),
                };
                crate::stdout::outln!(
                    "{} {} {} {state}",
                    i.serial,
                    i.retailer,
                    i.not_after.to_rfc3339_opts(SecondsFormat::Secs, true)
                );
            }
            Ok(())
        }
        CertAction::Revoke { tls, serial } => {
            let authority = Authority::open(tls).map_err(|e| e.to_string())?;
            let i = authority.revoke(serial, now).map_err(|e| e.to_string())?;
            crate::stdout::outln!("{} {} revoked", i.serial, i.retailer);
            Ok(())
        }
    }
}

/// Write `text` to `path`, owner-only when `secret`.
fn write(path: &Path, text: &str, secret: bool) -> Result<(), String> {
    write_file(path, text.as_bytes(), secret)
}

/// Write the secret `bytes` to `path`, owner-only.
fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), String> {
    write_file(path, bytes, true)
}

fn write_file(path: &Path, bytes: &[u8], secret: bool) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn user(action: &UserAction) -> Result<(), String> {
    match action {
        UserAction::Add { db, name, role } => {
            let role = portal::users::Role::parse(role).ok_or("--role: operator or viewer")?;
            let password = match std::env::var(PASSWORD_ENV) {
                Ok(p) => p,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .map_err(|e| format!("stdin: {e}"))?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            let new = portal::users::User::new(name, role, password.as_bytes())
                .map_err(|e| e.to_string())?;
            let mut store = SqlitePortalStore::open(db).map_err(|e| e.to_string())?;
            store.add_user(&new).map_err(|e| e.to_string())?;
            tracing::info!(user = %name, role = role.as_str(), "portal user added");
            crate::stdout::outln!("{name} {}", role.as_str());
            Ok(())
        }
        UserAction::List { db } => {
            if !db.exists() {
                return Err(format!("{}: no such database", db.display()));
            }
            let store = SqlitePortalStore::open(db).map_err(|e| e.to_string())?;
            for u in store.users().map_err(|e| e.to_string())? {
                crate::stdout::outln!("{} {}", u.name, u.role.as_str());
            }
            Ok(())
        }
    }
}

fn audit(args: &AuditArgs) -> Result<(), String> {
    if !args.db.exists() {
        return Err(format!("{}: no such database", args.db.display()));
    }
    let mut store = SqlitePortalStore::open(&args.db).map_err(|e| e.to_string())?;
    if args.prune {
        let removed = store.prune_audit(Utc::now()).map_err(|e| e.to_string())?;
        tracing::info!(
            removed,
            "OPS-06: audit entries past their retention removed"
        );
        crate::stdout::outln!(
            "{removed} audit entries past their retention ({} days) removed",
            portal::store::AUDIT_KEPT_DAYS
        );
        return Ok(());
    }
    let entries = store.audit(None).map_err(|e| e.to_string())?;
    let at = |e: &portal::AuditEntry| {
        e.at.with_timezone(&edi::message::JST)
            .to_rfc3339_opts(SecondsFormat::Millis, false)
    };
    if args.json {
        let list: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "at": at(e), "who": e.who, "serial": e.serial, "what": e.what, "result": e.result,
                })
            })
            .collect();
        crate::stdout::outln!("{}", serde_json::Value::Array(list));
    } else {
        for e in &entries {
            crate::stdout::outln!(
                "{} {} {} {} {}",
                at(e),
                e.who,
                e.serial.as_deref().unwrap_or("-"),
                e.result,
                e.what
            );
        }
    }
    Ok(())
}
