//! `iotroute terminal --maintenance ADDR:PORT`: the handy terminal's local interface
//! (TRM-06, TRM-08): DLMS/COSEM over UDP with the wrapper (IEC 62056-47), the
//! terminal's model served to the maintenance association (client wPort 32, LLS, the
//! terminal's authentication password) and to the public client (wPort 16). The
//! management association (wPort 1) is the smart meter's, over the IoT route only: a
//! frame for it here is dropped and counted (SEC-06: no more open than needed).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use dlms::cosem::AccessCode;
use dlms::server::access_record::{request_kind, Served};
use dlms::server::{Auth, Protection, ServeConfig, SharedModel, TerminalServer};
use dlms::wrapper::Wpdu;
use nodes::flood::{FloodConfig, FloodDetector, FloodReport, FloodSide};
use nodes::log_limit::LogLimiter;
use tokio::net::UdpSocket;

use crate::access_file::{self, SharedAccess};
use crate::clock::ScaledClock;
use nodes::app::entropy::ServerEntropy;

/// Client wPorts served here: public and maintenance.
const SERVED_WPORTS: [u16; 2] = [16, 32];

/// Why the interface stopped.
#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    /// The socket could not be bound or used.
    #[error("maintenance socket: {0}")]
    Io(#[from] std::io::Error),
    /// The DLMS server could not be built.
    #[error("maintenance server: {0}")]
    Server(String),
}

/// What the interface counts for `terminal status`.
#[derive(Debug, Default)]
pub struct Counters {
    /// Associations refused (a wrong password).
    pub auth_failures: std::sync::atomic::AtomicU64,
}

/// Datagrams of any kind one source may send within a second (ours): far above what a
/// request-and-answer client reaches (a 90-day backfill or a firmware push over loopback
/// run at 1,000 to 1,500 requests a second), so only a sender that does not wait for
/// answers passes it.
const ANY_SOURCE_LIMIT: u32 = 5_000;
/// The ExceptionResponse tag (a request the server could not take, e.g. outside an
/// association).
const EXCEPTION_RESPONSE: u8 = 0xD8;
/// Datagrams of any kind all sources together may send within a second (ours).
const ANY_TOTAL_LIMIT: u32 = 20_000;

/// Serve `model` on `bind` until `stop`, counting refused associations in `counters`
/// and handing floods to the node (`floods`). Floods (SEC-08) are counted twice: every
/// datagram against [`ANY_SOURCE_LIMIT`] / [`ANY_TOTAL_LIMIT`] a second, and datagrams
/// refused (not a wrapper frame, a client not served, an association refused, a request
/// not answered or answered with an exception) against 100 a second from one source, 1,000 from all; an alarm is
/// logged to the access log as `dos_detected`, once per source and kind per 60 s, and
/// handed to the node. Every datagram is still answered on its merits (the handy
/// terminal may come from any address).
///
/// # Errors
/// [`MaintenanceError`] when the socket cannot be bound or the server built.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    bind: SocketAddr,
    model: SharedModel,
    clock: ScaledClock,
    seed: u64,
    served: std::sync::Arc<tokio::sync::Notify>,
    counters: std::sync::Arc<Counters>,
    access: SharedAccess,
    floods: Option<tokio::sync::mpsc::Sender<FloodReport>>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), MaintenanceError> {
    let socket = UdpSocket::bind(bind).await?;
    let log = AccessLog(model.clone());
    let mut server = TerminalServer::new(
        model,
        ServeConfig {
            auth: Auth::Low,
            protection: Protection::None,
            keys: None,
            system_title: *b"IRTHANDY",
            max_pdu: 1024,
            invocation_counter: 0,
        },
        ServerEntropy::new(seed),
    )
    .map_err(|e| MaintenanceError::Server(e.to_string()))?;
    eprintln!(
        "maintenance interface listening on {}",
        socket.local_addr()?
    );
    let mut buf = vec![0u8; 4096];
    let mut out = vec![0u8; 8192];
    let mut refused: u64 = 0;
    let mut any_flood = FloodDetector::new(FloodConfig {
        source_limit: ANY_SOURCE_LIMIT,
        total_limit: ANY_TOTAL_LIMIT,
        ..FloodConfig::default()
    });
    let mut refused_flood = FloodDetector::new(FloodConfig::default());
    let mut refusal_budget = LogLimiter::default();
    tokio::pin!(stop);
    loop {
        let (n, from) = tokio::select! {
            r = socket.recv_from(&mut buf) => r?,
            () = &mut stop => break,
        };
        let any = any_flood.count(std::time::Instant::now(), from.ip());
        // Whether the datagram was refused (SEC-08 counts those apart).
        let refusal = 'datagram: {
            let Some(bytes) = buf.get(..n) else {
                break 'datagram true;
            };
            let frame = match Wpdu::parse(bytes) {
                Ok(f) => f,
                Err(e) => {
                    tracing::debug!(%from, error = %e, "maintenance: not a wrapper frame, dropped");
                    break 'datagram true;
                }
            };
            if !SERVED_WPORTS.contains(&frame.source) {
                // Logged within a budget: a flood of such frames cannot fill the disk;
                // the record after a held-back stretch says how many were held back.
                if let Some(held_back) = refusal_budget.allow_monotonic(std::time::Instant::now()) {
                    tracing::warn!(%from, wport = frame.source, held_back, "maintenance: a client this interface does not serve, dropped");
                    log.record(&clock, AccessCode::ClientRefused, frame.source);
                    access_file::with(&access, |a| {
                        a.record(
                            clock.now(),
                            "refused",
                            serde_json::json!({ "interface": "maintenance", "from": from.to_string(), "client": frame.source, "request": request_kind(frame.apdu), "held_back": held_back }),
                        );
                    });
                }
                break 'datagram true;
            }
            let answer = match server.handle(frame.source, clock.now(), frame.apdu, &mut out) {
                Ok(Some(len)) => out.get(..len),
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(%from, error = %e, "maintenance: request not served");
                    None
                }
            };
            served.notify_one();
            let what = Served::of(frame.source, frame.apdu, answer);
            if let (Some(code), false) = (what.access, what.image_block) {
                log.record(&clock, code, frame.source);
            }
            if what.accepted == Some(false) {
                counters.auth_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%from, client = frame.source, "maintenance: association refused");
            }
            // SEC-09: who asked what, and what the terminal answered.
            access_file::with(&access, |a| {
                a.served(clock.now(), "maintenance", &from.to_string(), &what);
            });
            let Some(apdu) = answer else {
                break 'datagram true;
            };
            match Wpdu::new(frame.destination, frame.source, apdu).emit() {
                Ok(reply) => {
                    if let Err(e) = socket.send_to(&reply, from).await {
                        tracing::warn!(%from, error = %e, "maintenance: answer not sent");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "maintenance: answer not framed"),
            }
            // A refused association, or a request outside one (an exception answer).
            what.accepted == Some(false) || apdu.first() == Some(&EXCEPTION_RESPONSE)
        };
        if refusal {
            refused += 1;
        }
        let refused_alarm = refusal
            .then(|| refused_flood.count(std::time::Instant::now(), from.ip()))
            .flatten();
        for alarm in [any, refused_alarm].into_iter().flatten() {
            log.record(&clock, AccessCode::FloodDetected, 0);
            let report = alarm.report(FloodSide::Maintenance);
            access_file::with(&access, |a| {
                a.record(
                    clock.now(),
                    "dos_detected",
                    crate::terminal_meter::dos_details(&report),
                );
            });
            // To the node: counted, the event log and an event push (SEC-08). Alarms are
            // few (one per source and kind a minute), so waiting for room loses none.
            if let Some(tx) = &floods {
                if tx.send(report).await.is_err() {
                    tracing::warn!("flood not reported: the meter side has stopped");
                }
            }
        }
    }
    tracing::info!(refused, "maintenance interface stopped");
    Ok(())
}

/// The model's access log (SEC-09, readable over DLMS by the handy terminal and the
/// smart meter), beside the access log file.
struct AccessLog(SharedModel);

impl AccessLog {
    fn record(&self, clock: &ScaledClock, code: AccessCode, client: u16) {
        match self.0.lock() {
            Ok(mut m) => m.log_access(clock.now(), code, client),
            Err(_) => tracing::error!("model lock poisoned: access not recorded in the model"),
        }
    }
}
