//! `iotroute terminal --meter ADDR`: the terminal's meter side as a daemon — the
//! terminal node (`nodes::terminal::node`) reading the meter over ECHONET Lite at every
//! slot into its SQLite store (`DIR/readings.sqlite`), its DLMS model the store's view,
//! on the wall clock (`--speed`/`--start` scale it as `iotroute meter` does). The link
//! side, when there is one, serves the same model.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use nodes::controller::ControllerConfig;
use nodes::flood::{FloodConfig, FloodReport};
use nodes::terminal::node::{
    ManagementSecret, NodeError, NodeEvent, TerminalNode, TerminalNodeConfig,
};
use nodes::terminal::reader::ReaderConfig;
use nodes::terminal::settings::Settings;
use nodes::terminal::slots::Interval;
use nodes::terminal::store::{ReadingStore as _, SharedStore};

use crate::clock::ScaledClock;
use crate::state_file::{write_atomic, Access};
use crate::terminal_status::{
    Counters, FirmwareStatus, LedStatus, LinkStatus, MeterIdStatus, Status,
};
use crate::udp::Endpoint;

/// The store's file in the data directory.
pub const STORE_FILE: &str = "readings.sqlite";
/// The logs' directory in the data directory (SEC-09).
pub const LOGS_DIR: &str = "logs";
/// The settings clients changed (TRM-08), owner-only: they hold the passwords.
pub const SETTINGS_FILE: &str = "settings.json";

/// Open the log `name` (`event` or `access`) of the data directory at `now`.
///
/// # Errors
/// [`logs::LogError`] when the files cannot be used.
pub fn open_log(
    data: &Path,
    name: &str,
    now: DateTime<Utc>,
) -> Result<logs::FileLog, logs::LogError> {
    logs::FileLog::open(
        &data.join(LOGS_DIR),
        name,
        logs::Retention::default(),
        &rfc3339(now),
    )
}

/// A time as the logs write it: RFC 3339 in JST.
#[must_use]
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.with_timezone(&dlms::text::jst()).to_rfc3339()
}

/// Append to `log`, logging (not failing on) an error: evidence lost is reported, the
/// terminal goes on reading.
pub fn record(log: &mut logs::FileLog, now: DateTime<Utc>, kind: &str, details: serde_json::Value) {
    if let Err(e) = log.append(&rfc3339(now), kind, details) {
        tracing::error!(error = %e, kind, "log record not written");
    }
}

/// Why the meter side stopped.
#[derive(Debug, thiserror::Error)]
pub enum MeterSideError {
    /// The ECHONET socket failed.
    #[error("ECHONET socket: {0}")]
    Io(#[from] std::io::Error),
    /// The node failed (its store, most likely): readings cannot be kept.
    #[error("{0}")]
    Node(#[from] NodeError),
    /// The kept settings cannot be read: the terminal does not start on the command
    /// line's instead (they may be older than a change a client made).
    #[error("{path}: {why}")]
    Settings {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
}

/// The settings kept in `data`, if any.
fn kept_settings(data: &Path) -> Result<Option<Settings>, MeterSideError> {
    let path = data.join(SETTINGS_FILE);
    let bad = |why: String| MeterSideError::Settings {
        path: path.display().to_string(),
        why,
    };
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| bad(e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(bad(e.to_string())),
    }
}

/// The terminal's clock as the last `status.json` in `data` kept it; `None` without
/// one (a damaged one is logged and passed over: the store's newest row still keeps the
/// clock from going back by more than a slot).
fn kept_clock(data: &Path) -> Option<DateTime<Utc>> {
    let bytes = std::fs::read(data.join(crate::terminal_status::STATUS_FILE)).ok()?;
    match serde_json::from_slice::<Status>(&bytes).map(|s| DateTime::parse_from_rfc3339(&s.updated))
    {
        Ok(Ok(t)) => Some(t.with_timezone(&Utc)),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "the kept clock is not a time");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "status.json is damaged: the kept clock is not used");
            None
        }
    }
}

/// Keep the settings `node`'s model holds now (TRM-08), logging a failure; they are
/// returned for the link side.
fn keep_settings(node: &TerminalNode, data: &Path) -> Option<Settings> {
    let Ok(mut settings) = node.model().lock().map(|m| Settings::of(&m)) else {
        tracing::error!("model lock poisoned: settings not kept");
        return None;
    };
    settings.registered_meter = node.registered_meter().map(<[u8]>::to_vec);
    let written = serde_json::to_vec_pretty(&settings)
        .map_err(std::io::Error::other)
        .and_then(|bytes| write_atomic(&data.join(SETTINGS_FILE), &bytes, Access::OwnerOnly));
    if let Err(e) = written {
        tracing::error!(error = %e, "settings not kept");
    }
    Some(settings)
}

/// The node over the store in `data`, reading the meter at `meter`, its model set up by
/// `model` (IDs, the authentication password, which is also the maintenance
/// association's secret and gives the management one by `management_secret`) with the
/// settings kept in `data` put back over it, since a change made by a client wins
/// (TRM-08); `meter_id` registered if given (SEC-07), and
/// rows kept `retention_days`, and the time its clock starts at: `start`, or the terminal's clock kept in `data`
/// (`status.json`, written every second while it runs) or the newest time the store
/// holds when either is later — the terminal's clock never goes back across a restart
/// (TRM-09).
///
/// # Errors
/// [`MeterSideError`] when the store cannot be opened.
pub fn open_node(
    data: &Path,
    meter: IpAddr,
    mut model: dlms::cosem::ModelConfig,
    management_secret: ManagementSecret,
    meter_id: Option<Vec<u8>>,
    retention_days: u32,
    start: DateTime<Utc>,
) -> Result<(TerminalNode, DateTime<Utc>), MeterSideError> {
    let mut dir = std::fs::DirBuilder::new();
    dir.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
    dir.create(data)?;
    let store = store::SqliteStore::open(&data.join(STORE_FILE)).map_err(NodeError::from)?;
    let newest = store
        .last(nodes::terminal::meters::SERVED)
        .map_err(NodeError::from)?
        .map(|r| r.read_at.unwrap_or(r.slot));
    let now = [newest, kept_clock(data)]
        .into_iter()
        .flatten()
        .fold(start, DateTime::max);
    if now > start {
        tracing::info!(%now, %start, "the clock resumes where it was kept (it never goes back)");
    }
    let kept = kept_settings(data)?;
    if let Some(k) = &kept {
        k.apply_to(&mut model);
        tracing::info!(settings = ?k, "settings kept from a client's change");
    }
    let config = TerminalNodeConfig {
        meter,
        meter_eoj: echonet::Eoj::new(0x02, 0x8E, 0x01),
        interval: kept
            .as_ref()
            .and_then(Settings::interval)
            .unwrap_or(Interval::Half),
        reader: ReaderConfig::default(),
        controller: ControllerConfig {
            // Not the TID a previous run may still have answers on the way for.
            first_tid: u16::try_from(now.timestamp_subsec_micros() % 65_536).unwrap_or(1),
            ..ControllerConfig::default()
        },
        model,
        // A meter a client accepted wins over the command line's (SEC-07).
        meter_id: kept
            .as_ref()
            .and_then(|k| k.registered_meter.clone())
            .or(meter_id),
        guard: FloodConfig::default(),
        retention: chrono::TimeDelta::days(i64::from(retention_days)),
        management_secret,
    };
    let node = TerminalNode::new(config, SharedStore::new(store), now)?;
    // Secrets a client set on their own win over those the password gives.
    if let (Some(k), Ok(mut m)) = (&kept, node.model().lock()) {
        k.restore_secrets(&mut m);
    }
    Ok((node, now))
}

/// What the meter side shares with the terminal's other parts.
pub struct Wiring {
    /// Wakes it after a DLMS request was served (by the link or the maintenance
    /// interface): the model may have changed.
    pub served: std::sync::Arc<tokio::sync::Notify>,
    /// Where the link is (`None` without the IoT route), for the LED (TRM-10).
    pub link: Option<tokio::sync::watch::Receiver<LinkStatus>>,
    /// What the maintenance interface counts (refused associations, floods).
    pub maintenance: std::sync::Arc<crate::maintenance::Counters>,
    /// The data directory, where `status.json` goes.
    pub data: std::path::PathBuf,
    /// Settings a client changed, for the link side (TRM-08).
    pub settings: tokio::sync::watch::Sender<Option<Settings>>,
    /// Slot pushes for the link side to send to the smart meter (TRM-05); `None`
    /// without the IoT route.
    pub pushes: Option<PushSender>,
    /// Floods the maintenance interface and the radio detected, for the node to log and
    /// push (SEC-08).
    pub floods: Option<tokio::sync::mpsc::Receiver<FloodReport>>,
}

/// The meter side's end of the slot pushes (TRM-05).
#[derive(Debug)]
pub struct PushSender {
    /// The queue.
    pub tx: tokio::sync::mpsc::Sender<Vec<u8>>,
    /// Wakes the link side.
    pub ready: std::sync::Arc<tokio::sync::Notify>,
}

/// The link side's end.
#[derive(Debug)]
pub struct PushQueue {
    /// The queue.
    pub rx: tokio::sync::mpsc::Receiver<Vec<u8>>,
    /// Signalled when a push was queued.
    pub ready: std::sync::Arc<tokio::sync::Notify>,
}

/// A queue for `depth` pushes between the two sides.
#[must_use]
pub fn push_queue(depth: usize) -> (PushSender, PushQueue) {
    let (tx, rx) = tokio::sync::mpsc::channel(depth);
    let ready = std::sync::Arc::new(tokio::sync::Notify::new());
    (
        PushSender {
            tx,
            ready: ready.clone(),
        },
        PushQueue { rx, ready },
    )
}

/// Run the meter side until `stop`: the node's timers on the scaled wall clock, its
/// ECHONET datagrams through `endpoint`, the link's phase from `wiring`; its events to
/// the event log and its state to `DIR/status.json` (`terminal status`).
///
/// # Errors
/// [`MeterSideError`]: the socket or the store failed.
pub async fn run(
    mut node: TerminalNode,
    endpoint: Endpoint,
    clock: ScaledClock,
    mut wiring: Wiring,
    mut events: logs::FileLog,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), MeterSideError> {
    record(&mut events, clock.now(), "started", serde_json::json!({}));
    if let Some(rx) = &wiring.link {
        node.set_link(rx.borrow().phase);
    }
    write_status(&node, &wiring, clock.now(), "running");
    // SEC-10 self-check: the store, the logs, the settings and the ECHONET socket are
    // open and the status written: a slot on trial confirms itself.
    match crate::firmware_slots::confirm_if_on_trial(&wiring.data) {
        Ok(Some(state)) => {
            record(
                &mut events,
                clock.now(),
                "firmware_confirmed",
                serde_json::json!({ "version": state.version, "slot": state.slot.map(|s| s.name()) }),
            );
            write_status(&node, &wiring, clock.now(), "running");
        }
        Ok(None) => {}
        Err(e) => tracing::error!(error = %e, "firmware confirmation not written"),
    }
    let mut buf = vec![0u8; 1500];
    let mut status_written = Some(Instant::now());
    let mut link_failures = 0;
    tokio::pin!(stop);
    let result = loop {
        while let Some(tx) = node.poll_transmit() {
            let to = tx.socket_addr(endpoint.multicast_target());
            if let Err(e) = endpoint.send_to(&tx.bytes, to).await {
                tracing::warn!(error = %e, %to, "ECHONET datagram not sent");
            }
        }
        let (deadline, wall_due) = node.next_wakeup();
        let by_wall = tokio::time::Instant::now() + clock.real_until(wall_due);
        let at = deadline
            .map(tokio::time::Instant::from_std)
            .map_or(by_wall, |d| d.min(by_wall));
        let link_changed = async {
            match wiring.link.as_mut() {
                Some(rx) => rx.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        let step = tokio::select! {
            received = endpoint.recv(&mut buf) => match received {
                Ok(r) => buf.get(..r.len).map_or(Ok(()), |bytes| {
                    node.handle_echonet(Instant::now(), clock.now(), r.from, bytes)
                        .map_err(MeterSideError::from)
                }),
                Err(e) => Err(e.into()),
            },
            () = tokio::time::sleep_until(at) => node.poll(Instant::now(), clock.now()).map_err(Into::into),
            // A DLMS request was served: the model may have changed (clock, interval).
            () = wiring.served.notified() => node.poll(Instant::now(), clock.now()).map_err(Into::into),
            alive = link_changed => {
                match wiring.link.as_ref().filter(|_| alive) {
                    Some(rx) => {
                        let link = rx.borrow().clone();
                        node.set_link(link.phase);
                        // SEC-09: a failed PANA authentication is evidence.
                        if link.auth_failures > link_failures {
                            record(
                                &mut events,
                                clock.now(),
                                "link_auth_failed",
                                serde_json::json!({
                                    "failures": link.auth_failures,
                                    "smart_meter": link.smart_meter,
                                }),
                            );
                            link_failures = link.auth_failures;
                        }
                    }
                    // The link side ended: no more changes to wait for.
                    None => wiring.link = None,
                }
                status_written = None;
                Ok(())
            }
            Some(alarm) = async {
                match wiring.floods.as_mut() {
                    Some(rx) => rx.recv().await,
                    None => std::future::pending().await,
                }
            } => node.report_flood(clock.now(), &alarm).map_err(Into::into),
            () = &mut stop => break Ok(()),
        };
        while let Some(push) = node.poll_push() {
            match &wiring.pushes {
                Some(p) => {
                    if p.tx.try_send(push).is_err() {
                        tracing::warn!("slot push dropped: the link side is behind");
                    }
                    p.ready.notify_one();
                }
                None => tracing::debug!("slot push not sent: no IoT route"),
            }
        }
        let mut changed = false;
        while let Some(event) = node.poll_event() {
            tracing::info!(?event, "terminal");
            if matches!(event, NodeEvent::SettingsChanged(_)) {
                if let Some(settings) = keep_settings(&node, &wiring.data) {
                    // The link side takes the Pairing ID and password from its next scan.
                    wiring.settings.send_replace(Some(settings));
                }
            }
            let (kind, details) = event_record(&event);
            record(&mut events, clock.now(), kind, details);
            changed = true;
            if let NodeEvent::FirmwareActivated { manifest, payload } = &event {
                if wiring.link.is_some() {
                    // The activation may have come over the IoT route: its answer leaves
                    // through the link side's radio queue, which the hand-over would cut.
                    tokio::time::sleep(HAND_OVER_GRACE).await;
                }
                install_and_hand_over(&node, &wiring, &mut events, clock.now(), manifest, payload);
            }
        }
        if step.is_err() {
            break step;
        }
        // Counters move with every datagram: at most one write a second for them.
        if changed || status_written.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
            write_status(&node, &wiring, clock.now(), "running");
            status_written = Some(Instant::now());
        }
    };
    let stats = node.reader_stats();
    record(
        &mut events,
        clock.now(),
        "stopped",
        serde_json::json!({
            "read": stats.read,
            "missing": stats.missing,
            "recovered": stats.recovered,
            "echonet_dropped": node.echonet_dropped(),
            "dos_events": node.dos_events(),
        }),
    );
    write_status(&node, &wiring, clock.now(), "stopped");
    tracing::info!(
        read = stats.read,
        missing = stats.missing,
        recovered = stats.recovered,
        "meter side stopped"
    );
    result
}

/// Write `DIR/status.json` (logging, not failing on, an error: the terminal goes on
/// reading).
fn write_status(node: &TerminalNode, wiring: &Wiring, now: DateTime<Utc>, state: &str) {
    let link = wiring.link.as_ref().map(|rx| rx.borrow().clone());
    let stats = node.reader_stats();
    let led = node.led();
    let status = Status {
        state: state.to_owned(),
        pid: std::process::id(),
        updated: rfc3339(node.clock(now)),
        led: LedStatus {
            state: led.name().to_owned(),
            pattern: led.pattern().to_owned(),
        },
        meter_id: MeterIdStatus {
            registered: node.registered_meter().map(dlms::hex::encode),
            last_read: None,
        },
        counters: Counters {
            echonet_dropped: node
                .echonet_dropped()
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            dos_events: node.dos_events(),
            auth_failures: link.as_ref().map_or(0, |l| l.auth_failures)
                + wiring
                    .maintenance
                    .auth_failures
                    .load(std::sync::atomic::Ordering::Relaxed),
            read: stats.read,
            missing: stats.missing,
            recovered: stats.recovered,
        },
        link,
        firmware: {
            let (version, slot) = crate::firmware_slots::running(&wiring.data);
            FirmwareStatus {
                version,
                slot: slot.map(|s| s.name().to_owned()),
            }
        },
    };
    if let Err(e) = status.write(&wiring.data) {
        tracing::warn!(error = %e, "status.json not written");
    }
}

/// SEC-10: install an activated image in the inactive slot and hand over to the
/// launcher (this process is replaced); when it cannot be installed, say so and go on.
/// How long the terminal on the IoT route waits after an activation before it hands
/// over to the new program (ours): long enough for the answer to the smart meter's
/// `image_activate` to leave by radio, retries included.
const HAND_OVER_GRACE: Duration = Duration::from_secs(2);

fn install_and_hand_over(
    node: &TerminalNode,
    wiring: &Wiring,
    events: &mut logs::FileLog,
    now: DateTime<Utc>,
    manifest: &nodes::terminal::firmware::Manifest,
    payload: &nodes::terminal::firmware::Packed,
) {
    let installed = crate::firmware_slots::install(&wiring.data, manifest, payload);
    // Installed or not, the transferred image has done its part (the program is in its
    // slot, or the image cannot be installed): its file goes (SEC-10).
    crate::image_file::ImageFile::under(&wiring.data).discard();
    match installed {
        Ok(state) => {
            let slot = state.trial.as_ref().map(|t| t.slot.name());
            record(
                events,
                now,
                "firmware_installed",
                serde_json::json!({ "version": manifest.version, "slot": slot }),
            );
            write_status(node, wiring, now, "updating");
            let e = crate::firmware_slots::hand_over();
            tracing::error!(error = %e, "hand-over to the launcher failed: the new slot waits for the next start");
            record(
                events,
                now,
                "firmware_hand_over_failed",
                serde_json::json!({ "error": e.to_string() }),
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "activated image not installed");
            record(
                events,
                now,
                "firmware_not_installed",
                serde_json::json!({ "error": e.to_string() }),
            );
        }
    }
}

/// A flood (SEC-08) as a log record's details: `side` (`echonet`, `maintenance`,
/// `radio`), `source` (`null`: all sources together), `datagrams` (or frames) within
/// `window_ms`.
pub fn dos_details(flood: &FloodReport) -> serde_json::Value {
    serde_json::json!({
        "side": flood.side.name(),
        "source": flood.source,
        "datagrams": flood.count,
        "window_ms": u64::try_from(flood.window.as_millis()).unwrap_or(u64::MAX),
    })
}

/// A node event as a log record: its kind and details.
fn event_record(event: &NodeEvent) -> (&'static str, serde_json::Value) {
    match event {
        NodeEvent::ClockSet { offset_s } => {
            ("clock_set", serde_json::json!({ "offset_s": offset_s }))
        }
        NodeEvent::MeterClock(Ok(())) => ("meter_clock_set", serde_json::json!({})),
        NodeEvent::MeterClock(Err(e)) => ("meter_clock_not_set", serde_json::json!({ "error": e })),
        NodeEvent::IntervalSwitch(i) => (
            "interval_switch",
            serde_json::json!({ "minutes": i.minutes() }),
        ),
        NodeEvent::IntervalSwitched { from, interval } => (
            "interval_switched",
            serde_json::json!({ "from": from.to_rfc3339(), "minutes": interval.minutes() }),
        ),
        NodeEvent::MeterIdMismatch { registered, read } => (
            "meter_id_mismatch",
            serde_json::json!({
                "registered": dlms::hex::encode(registered),
                "read": dlms::hex::encode(read),
            }),
        ),
        NodeEvent::SettingsChanged(setting) => (
            "settings_changed",
            serde_json::json!({ "setting": format!("{setting:?}") }),
        ),
        NodeEvent::Led(led) => (
            "led",
            serde_json::json!({ "state": led.name(), "pattern": led.pattern() }),
        ),
        NodeEvent::Dos(flood) => ("dos_detected", dos_details(flood)),
        NodeEvent::FirmwareActivated { manifest, .. } => (
            "firmware_activated",
            serde_json::json!({ "version": manifest.version, "size": manifest.size, "sha256": manifest.sha256 }),
        ),
        NodeEvent::FirmwareRefused(why) => {
            ("firmware_refused", serde_json::json!({ "reason": why }))
        }
    }
}

/// The ECHONET endpoint: `bind:3610`.
///
/// # Errors
/// When the socket cannot be bound.
pub fn endpoint(bind: IpAddr) -> Result<Endpoint, MeterSideError> {
    Ok(Endpoint::bind(bind, echonet::PORT)?)
}
