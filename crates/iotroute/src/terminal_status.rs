//! `iotroute terminal status --data DIR [--json]`: what a running (or stopped) terminal
//! shows — its state, LED (TRM-10), meter ID (SEC-07), last readings, link, counters
//! (SEC-06/08) and firmware.
//!
//! The terminal keeps a snapshot in `DIR/status.json` (written atomically when something
//! shows a change, and at most once a second for the counters); `status` reads it, adds
//! the newest rows from the store (`DIR/readings.sqlite`, read while the terminal writes:
//! SQLite's WAL allows it) and says `down` when the process that wrote it is gone.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nodes::terminal::led::LinkView;
use nodes::terminal::meters::SERVED;
use nodes::terminal::store::{Reading, ReadingStore as _};
use serde::{Deserialize, Serialize};

use crate::state_file::{write_atomic, Access};
use crate::terminal_meter::STORE_FILE;

/// The snapshot's file in the data directory.
pub const STATUS_FILE: &str = "status.json";

/// The link as the terminal last saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStatus {
    /// `scanning`, `authenticating` or `connected`.
    pub phase: LinkView,
    /// The smart meter's EUI-64 (authenticating to or linked to).
    pub smart_meter: Option<String>,
    /// Its channel.
    pub channel: Option<u8>,
    /// Its beacon's RSSI, dBm.
    pub rssi_dbm: Option<i16>,
    /// The group key index we send with.
    pub key_id: Option<u8>,
    /// PANA authentications that failed.
    pub auth_failures: u64,
}

impl LinkStatus {
    /// Before the link has told anything: scanning.
    #[must_use]
    pub const fn starting() -> Self {
        Self {
            phase: LinkView::Scanning,
            smart_meter: None,
            channel: None,
            rssi_dbm: None,
            key_id: None,
            auth_failures: 0,
        }
    }
}

/// The LED as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedStatus {
    /// Its state's name.
    pub state: String,
    /// The pattern shown.
    pub pattern: String,
}

/// The meter's ID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterIdStatus {
    /// The registered ID (hex).
    pub registered: Option<String>,
    /// The ID of the newest reading (hex).
    pub last_read: Option<String>,
}

/// The counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// ECHONET Lite datagrams dropped, by reason (SEC-06).
    pub echonet_dropped: std::collections::BTreeMap<String, u64>,
    /// Floods detected (SEC-08).
    pub dos_events: u64,
    /// Authentications refused: PANA on the link and associations on the maintenance
    /// interface.
    pub auth_failures: u64,
    /// Slots read, left missing, recovered since start.
    pub read: u64,
    pub missing: u64,
    pub recovered: u64,
}

/// The firmware.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirmwareStatus {
    /// The running image's version (the factory image's is 1, ours; then the signed
    /// manifest's).
    pub version: u32,
    /// The slot it runs from (`a`, `b`); `None`: the factory image (SEC-10).
    pub slot: Option<String>,
}

/// The snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// `running` or `stopped` as written; `status` says `down` when the writer is gone.
    pub state: String,
    /// The process.
    pub pid: u32,
    /// When written, on the terminal's clock (RFC 3339): also the clock the terminal
    /// resumes from at its next start when that is ahead (it never goes back).
    pub updated: String,
    pub led: LedStatus,
    pub meter_id: MeterIdStatus,
    /// `None` without the IoT route.
    pub link: Option<LinkStatus>,
    pub counters: Counters,
    pub firmware: FirmwareStatus,
}

impl Status {
    /// Write it into `data` atomically.
    ///
    /// # Errors
    /// The file could not be written.
    pub fn write(&self, data: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        write_atomic(&data.join(STATUS_FILE), &bytes, Access::Default)
    }
}

/// Arguments of `iotroute terminal status`.
/// Keep `DIR/status.json` for a terminal without a meter side (the link alone, a lab
/// set-up): its state, the LED of its link (TRM-10), the link, the PANA refusals and the
/// firmware; no meter, no readings. Written at start, at every change of the link and
/// as `stopped` at the end.
pub async fn keep_link_only(
    data: &Path,
    clock: crate::clock::ScaledClock,
    mut link: tokio::sync::watch::Receiver<LinkStatus>,
    stop: impl std::future::Future<Output = ()>,
) {
    let write = |link: &LinkStatus, state: &str| {
        let led = nodes::terminal::led::Led::of(nodes::terminal::led::LedInputs {
            link: link.phase,
            meter_ok: true,
            updating: false,
            error: false,
        });
        let (version, slot) = crate::firmware_slots::running(data);
        let status = Status {
            state: state.to_owned(),
            pid: std::process::id(),
            updated: crate::terminal_meter::rfc3339(clock.now()),
            led: LedStatus {
                state: led.name().to_owned(),
                pattern: led.pattern().to_owned(),
            },
            meter_id: MeterIdStatus::default(),
            link: Some(link.clone()),
            counters: Counters {
                auth_failures: link.auth_failures,
                ..Counters::default()
            },
            firmware: FirmwareStatus {
                version,
                slot: slot.map(|s| s.name().to_owned()),
            },
        };
        if let Err(e) = status.write(data) {
            tracing::warn!(error = %e, "status.json not written");
        }
    };
    write(&link.borrow(), "running");
    tokio::pin!(stop);
    loop {
        tokio::select! {
            changed = link.changed() => {
                if changed.is_err() {
                    break;
                }
                write(&link.borrow_and_update(), "running");
            }
            () = &mut stop => break,
        }
    }
    write(&link.borrow(), "stopped");
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The terminal's data directory (as given to `iotroute terminal --data`).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// How many of the newest readings to show.
    #[arg(long, default_value = "4")]
    pub readings: usize,
}

/// Why there is no status to show.
#[derive(Debug, thiserror::Error)]
enum StatusError {
    #[error("{path}: {source} (has a terminal run with this --data?)")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a status snapshot: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("store: {0}")]
    Store(String),
}

/// Run `iotroute terminal status`.
pub fn run(args: &StatusArgs) -> ExitCode {
    match report(args) {
        Ok(text) => {
            crate::stdout::outln!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "no status");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn report(args: &StatusArgs) -> Result<String, StatusError> {
    let path = args.data.join(STATUS_FILE);
    let shown = path.display().to_string();
    let bytes = std::fs::read(&path).map_err(|source| StatusError::Read {
        path: shown.clone(),
        source,
    })?;
    let mut status: Status =
        serde_json::from_slice(&bytes).map_err(|source| StatusError::Parse {
            path: shown.clone(),
            source,
        })?;
    if status.state == "running" && !alive(status.pid) {
        status.state = "down".to_owned();
    }
    let rows = newest_rows(&args.data, args.readings)?;
    if let Some(id) = rows.iter().rev().find_map(|r| r.meter_id.as_deref()) {
        status.meter_id.last_read = Some(dlms::hex::encode(id));
    }
    let readings: Vec<serde_json::Value> = rows.iter().map(row_json).collect();
    if args.json {
        let mut v = serde_json::to_value(&status).map_err(|e| StatusError::Store(e.to_string()))?;
        v["last_readings"] = serde_json::Value::Array(readings);
        return serde_json::to_string_pretty(&v).map_err(|e| StatusError::Store(e.to_string()));
    }
    Ok(text(&status, &readings))
}

/// Whether the process `pid` still runs (Linux: `/proc/PID`).
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The `n` newest rows of the meter the terminal serves, oldest first.
fn newest_rows(data: &Path, n: usize) -> Result<Vec<Reading>, StatusError> {
    let file = data.join(STORE_FILE);
    if !file.exists() {
        return Ok(Vec::new());
    }
    let store = store::SqliteStore::open(&file).map_err(|e| StatusError::Store(e.to_string()))?;
    let Some(last) = store
        .last(SERVED)
        .map_err(|e| StatusError::Store(e.to_string()))?
    else {
        return Ok(Vec::new());
    };
    let span = chrono::TimeDelta::minutes(30) * i32::try_from(n).unwrap_or(i32::MAX);
    let rows = store
        .range(SERVED, last.slot - span, last.slot)
        .map_err(|e| StatusError::Store(e.to_string()))?;
    Ok(rows[rows.len().saturating_sub(n)..].to_vec())
}

fn row_json(r: &Reading) -> serde_json::Value {
    serde_json::json!({
        "time": crate::terminal_meter::rfc3339(r.slot),
        "ac_in_wh": r.ac_in.map(|v| v.digits()),
        "ac_out_wh": r.ac_out.map(|v| v.digits()),
        "status": r.status.0,
        "recovered": r.recovered,
    })
}

fn text(s: &Status, readings: &[serde_json::Value]) -> String {
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    let mut out = format!(
        "state     {} (pid {}, as of {})\nled       {} ({})\nmeter id  registered {}, last read {}\n",
        s.state,
        s.pid,
        s.updated,
        s.led.state,
        s.led.pattern,
        or_dash(&s.meter_id.registered),
        or_dash(&s.meter_id.last_read),
    );
    match &s.link {
        Some(l) => out.push_str(&format!(
            "link      {:?} smart meter {} channel {} rssi {} dBm key {}\n",
            l.phase,
            or_dash(&l.smart_meter),
            l.channel.map_or_else(|| "-".to_owned(), |c| c.to_string()),
            l.rssi_dbm.map_or_else(|| "-".to_owned(), |r| r.to_string()),
            l.key_id.map_or_else(|| "-".to_owned(), |k| k.to_string()),
        )),
        None => out.push_str("link      none (no --air)\n"),
    }
    let c = &s.counters;
    out.push_str(&format!(
        "counters  read {} missing {} recovered {} dos_events {} auth_failures {} echonet_dropped {:?}\nfirmware  {} (slot {})\n",
        c.read,
        c.missing,
        c.recovered,
        c.dos_events,
        c.auth_failures,
        c.echonet_dropped,
        s.firmware.version,
        or_dash(&s.firmware.slot),
    ));
    for r in readings {
        out.push_str(&format!(
            "reading   {} in {} out {} status {} recovered {}\n",
            r["time"].as_str().unwrap_or("-"),
            r["ac_in_wh"],
            r["ac_out_wh"],
            r["status"],
            r["recovered"],
        ));
    }
    out.trim_end().to_owned()
}
