//! `iotroute retailer fetch`: what a retailer runs against the public server (外部サーバ
//! side of IF-01): list its files, download those it does not hold yet (or a higher
//! update), verify and keep them, and with `--csv` write one CSV per day of the latest
//! value of each device point and slot. A second run fetches nothing new; a network
//! error or a bad file leaves what it had untouched (files are written whole or not at
//! all). Exit 0 when every file was fetched and verified, 1 otherwise.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use edi::{archive, FileName, PartyCode};
use portal::client::PortalClient;
use portal::holdings::{self, Latest};

/// `iotroute retailer ...`.
#[derive(Debug, clap::Subcommand)]
pub enum RetailerCommand {
    /// Fetch the retailer's new files from the public server.
    Fetch(FetchArgs),
}

/// Where from, as whom, where to.
#[derive(Debug, clap::Args)]
pub struct FetchArgs {
    /// The portal's retailer interface, e.g. https://127.0.0.1:8443/30min/.
    #[arg(long)]
    url: String,
    /// The retailer's certificate (PEM), from `iotroute portal cert issue`.
    #[arg(long)]
    cert: PathBuf,
    /// Its private key (PEM).
    #[arg(long)]
    key: PathBuf,
    /// The portal's CA certificate (PEM): the only one trusted for the server.
    #[arg(long)]
    ca: PathBuf,
    /// Where the files go (`DIR/files/NAME.zip`, and `DIR/csv/YYYY-MM-DD.csv`).
    #[arg(long)]
    out: PathBuf,
    /// Also write one CSV per day: supply_point,slot_start,in_kwh,out_kwh,quality,update.
    #[arg(long)]
    csv: bool,
    /// Fetch again after this long (s, m, h or d: `10m`), until SIGTERM or Ctrl-C.
    #[arg(long, value_parser = crate::sim_cmd::parse_offset)]
    every: Option<core::time::Duration>,
}

/// Run it.
pub async fn run(cmd: RetailerCommand) -> ExitCode {
    let RetailerCommand::Fetch(args) = cmd;
    loop {
        let ok = match fetch(&args).await {
            Ok(report) => {
                crate::stdout::outln!(
                    "fetched {} file(s), {} held, {} refused",
                    report.fetched,
                    report.held,
                    report.refused
                );
                report.refused == 0
            }
            Err(e) => {
                tracing::warn!(error = %e, "retailer fetch failed");
                eprintln!("error: {e}");
                false
            }
        };
        let Some(every) = args.every else {
            return if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        };
        tokio::select! {
            () = crate::shutdown::signal() => return ExitCode::SUCCESS,
            () = tokio::time::sleep(every) => {}
        }
    }
}

struct Report {
    fetched: usize,
    held: usize,
    refused: usize,
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Write `bytes` to `path` whole or not at all (a temporary file renamed over it).
fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("part");
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("{}: {e}", path.display())
    })
}

/// The files held in `dir`.
fn held(dir: &Path) -> Result<BTreeSet<FileName>, String> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeSet::new()),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    Ok(entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
        .collect())
}

async fn fetch(args: &FetchArgs) -> Result<Report, String> {
    let cert = read(&args.cert)?;
    let me: PartyCode = portal::tls::retailer_of(&cert)
        .ok_or_else(|| format!("{}: not a retailer certificate", args.cert.display()))?;
    let files_dir = args.out.join("files");
    std::fs::create_dir_all(&files_dir).map_err(|e| format!("{}: {e}", files_dir.display()))?;
    let mut have = held(&files_dir)?;
    let mut client = PortalClient::connect(&args.url, &cert, &read(&args.key)?, &read(&args.ca)?)
        .await
        .map_err(|e| e.to_string())?;
    let listed: Vec<FileName> = client
        .list()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|f| f.name)
        .collect();
    let (mut fetched, mut refused) = (0, 0);
    for name in holdings::to_fetch(&listed, &have) {
        let zip = client.file(&name).await.map_err(|e| e.to_string())?;
        match archive::open(&name, &zip) {
            Ok(m) if m.receiver == me => {
                write_whole(&files_dir.join(name.to_string()), &zip)?;
                have.insert(name);
                fetched += 1;
            }
            Ok(m) => {
                refused += 1;
                tracing::warn!(file = %name, receiver = %m.receiver, "a file for another retailer: not kept");
            }
            Err(e) => {
                refused += 1;
                tracing::warn!(file = %name, error = %e, "a bad file: not kept");
            }
        }
    }
    if args.csv {
        write_csv(&args.out, &files_dir, &have)?;
    }
    Ok(Report {
        fetched,
        held: have.len(),
        refused,
    })
}

/// One CSV per day of the latest values of every file held.
fn write_csv(out: &Path, files_dir: &Path, have: &BTreeSet<FileName>) -> Result<(), String> {
    let mut latest = Latest::default();
    for name in have {
        let path = files_dir.join(name.to_string());
        let zip = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let m = archive::open(name, &zip).map_err(|e| format!("{}: {e}", path.display()))?;
        latest.add(&m, name.update());
    }
    let csv_dir = out.join("csv");
    std::fs::create_dir_all(&csv_dir).map_err(|e| format!("{}: {e}", csv_dir.display()))?;
    for (day, text) in latest.csv_by_day() {
        write_whole(&csv_dir.join(format!("{day}.csv")), text.as_bytes())?;
    }
    Ok(())
}
