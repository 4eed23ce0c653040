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
use nodes::terminal::node::{NodeError, TerminalNode, TerminalNodeConfig};
use nodes::terminal::reader::ReaderConfig;
use nodes::terminal::slots::Interval;
use nodes::terminal::store::ReadingStore as _;

use crate::clock::ScaledClock;
use crate::udp::Endpoint;

/// The store's file in the data directory.
pub const STORE_FILE: &str = "readings.sqlite";

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
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), MeterSideError> {
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
        }
    }
    let stats = node.reader_stats();
    tracing::info!(
        read = stats.read,
        missing = stats.missing,
        recovered = stats.recovered,
        "meter side stopped"
    );
    Ok(())
}

/// The ECHONET endpoint: `bind:3610`.
///
/// # Errors
/// When the socket cannot be bound.
pub fn endpoint(bind: IpAddr) -> Result<Endpoint, MeterSideError> {
    Ok(Endpoint::bind(bind, echonet::PORT)?)
}
