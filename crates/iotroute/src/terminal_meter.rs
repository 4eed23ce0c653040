//! `iotroute terminal --meter ADDR`: the terminal's meter side as a daemon — the
//! terminal node (`nodes::terminal::node`) reading the meter over ECHONET Lite at every
//! slot into its SQLite store (`DIR/readings.sqlite`), its DLMS model the store's view,
//! on the wall clock (`--speed`/`--start` scale it as `iotroute meter` does). The link
//! side, when there is one, serves the same model.

use std::net::IpAddr;
use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, Utc};
use nodes::controller::ControllerConfig;
use nodes::terminal::guard::GuardConfig;
use nodes::terminal::node::{NodeError, NodeEvent, TerminalNode, TerminalNodeConfig};
use nodes::terminal::reader::ReaderConfig;
use nodes::terminal::slots::Interval;
use nodes::terminal::store::ReadingStore as _;

use crate::clock::ScaledClock;
use crate::udp::Endpoint;

/// The store's file in the data directory.
pub const STORE_FILE: &str = "readings.sqlite";
/// The logs' directory in the data directory (SEC-09).
pub const LOGS_DIR: &str = "logs";

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
    t.with_timezone(&crate::link_app::jst()).to_rfc3339()
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
}

/// The node over the store in `data`, reading the meter at `meter`, its model set up by
/// `model` (IDs, passwords), `meter_id` registered if given (SEC-07), and the time its
/// clock starts at: `start`, or the newest
/// time the store holds when that is later — the terminal's clock never goes back
/// across a restart (TRM-09).
///
/// # Errors
/// [`MeterSideError`] when the store cannot be opened.
pub fn open_node(
    data: &Path,
    meter: IpAddr,
    model: dlms::cosem::ModelConfig,
    meter_id: Option<Vec<u8>>,
    start: DateTime<Utc>,
) -> Result<(TerminalNode, DateTime<Utc>), MeterSideError> {
    let mut dir = std::fs::DirBuilder::new();
    dir.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
    dir.create(data)?;
    let store = store::SqliteStore::open(&data.join(STORE_FILE)).map_err(NodeError::from)?;
    let kept = store
        .last()
        .map_err(NodeError::from)?
        .map(|r| r.read_at.unwrap_or(r.slot));
    let now = kept.map_or(start, |k| k.max(start));
    if now > start {
        tracing::info!(%now, %start, "the clock resumes where the store ends (it never goes back)");
    }
    let config = TerminalNodeConfig {
        meter,
        meter_eoj: echonet::Eoj::new(0x02, 0x8E, 0x01),
        interval: Interval::Half,
        reader: ReaderConfig::default(),
        controller: ControllerConfig {
            // Not the TID a previous run may still have answers on the way for.
            first_tid: u16::try_from(now.timestamp_subsec_micros() % 65_536).unwrap_or(1),
            ..ControllerConfig::default()
        },
        model,
        meter_id,
        guard: GuardConfig::default(),
    };
    Ok((TerminalNode::new(config, Box::new(store), now)?, now))
}

/// Run the meter side until `stop`: the node's timers on the scaled wall clock, its
/// ECHONET datagrams through `endpoint`; `served` wakes it after a DLMS request was
/// served (by the link or the maintenance interface), for the model's changes.
///
/// # Errors
/// [`MeterSideError`]: the socket or the store failed.
pub async fn run(
    mut node: TerminalNode,
    endpoint: Endpoint,
    clock: ScaledClock,
    served: std::sync::Arc<tokio::sync::Notify>,
    mut events: logs::FileLog,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), MeterSideError> {
    record(&mut events, clock.now(), "started", serde_json::json!({}));
    let mut buf = vec![0u8; 1500];
    tokio::pin!(stop);
    loop {
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
        tokio::select! {
            received = endpoint.recv(&mut buf) => {
                let r = received?;
                let Some(bytes) = buf.get(..r.len) else { continue };
                node.handle_echonet(Instant::now(), clock.now(), r.from, bytes)?;
            }
            () = tokio::time::sleep_until(at) => {
                node.poll(Instant::now(), clock.now())?;
            }
            // A DLMS request was served: the model may have changed (clock, interval).
            () = served.notified() => {
                node.poll(Instant::now(), clock.now())?;
            }
            () = &mut stop => break,
        }
        while let Some(event) = node.poll_event() {
            tracing::info!(?event, "terminal");
            let (kind, details) = event_record(&event);
            record(&mut events, clock.now(), kind, details);
        }
    }
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
    tracing::info!(
        read = stats.read,
        missing = stats.missing,
        recovered = stats.recovered,
        "meter side stopped"
    );
    Ok(())
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
        NodeEvent::MeterIdMismatch { registered, read } => (
            "meter_id_mismatch",
            serde_json::json!({
                "registered": dlms::hex::encode(registered),
                "read": dlms::hex::encode(read),
            }),
        ),
        NodeEvent::Dos(alarm) => (
            "dos_detected",
            serde_json::json!({
                "side": "echonet",
                "source": alarm.source.map(|s| s.to_string()),
                "datagrams": alarm.datagrams,
                "window_ms": u64::try_from(alarm.window.as_millis()).unwrap_or(u64::MAX),
            }),
        ),
    }
}

/// The ECHONET endpoint: `bind:3610`.
///
/// # Errors
/// When the socket cannot be bound.
pub fn endpoint(bind: IpAddr) -> Result<Endpoint, MeterSideError> {
    Ok(Endpoint::bind(bind, echonet::PORT)?)
}
