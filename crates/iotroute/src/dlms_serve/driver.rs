//! One `dlms serve` process's moving parts between datagrams: the sans-IO server, the
//! state file, the push sender and the counters printed at exit. The socket and the
//! timers stay in `serve`'s loop; everything here is testable without them.

use std::net::SocketAddr;

use chrono::{DateTime, Utc};
use dlms::cosem::{to_cosem, JST_DEVIATION};
use dlms::push::{PushSender, PUSH_DESTINATION_WPORT};
use dlms::server::{SharedModel, TerminalServer};
use dlms::wrapper::Wpdu;
use nodes::log_limit::LogLimiter;
use tokio::net::UdpSocket;

use super::state::{Counter, ReplayMark, StateStore};
use super::{OsEntropy, SERVER_WPORT};

/// The management client's wPort (the smart meter).
const MANAGEMENT_WPORT: u16 = 1;

/// What the server counted; printed at exit.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub frames: u64,
    pub answered: u64,
    pub malformed: u64,
    pub wrong_wport: u64,
    pub engine_errors: u64,
    pub replays_refused: u64,
    pub deciphering_errors: u64,
    pub pushes: u64,
}

/// Where pushes go and what builds them.
pub struct Pushes {
    sender: PushSender,
    /// `--push-to`.
    configured: Option<SocketAddr>,
    /// The address the management client (the smart meter) last spoke from.
    paired: Option<SocketAddr>,
}

impl Pushes {
    pub const fn new(sender: PushSender, configured: Option<SocketAddr>) -> Self {
        Self {
            sender,
            configured,
            paired: None,
        }
    }

    /// Where a push goes **(ours)**: the push setup's destination when a client set one
    /// (text `host:port`), else `--push-to`, else the smart meter that last used the
    /// management association (push setup's empty destination: "the paired smart
    /// meter").
    fn destination(&self, setup_destination: &[u8]) -> Result<Option<SocketAddr>, String> {
        if !setup_destination.is_empty() {
            return std::str::from_utf8(setup_destination)
                .ok()
                .and_then(|t| t.parse().ok())
                .map(Some)
                .ok_or_else(|| {
                    format!(
                        "push setup destination {:02X?} is not host:port",
                        setup_destination
                    )
                });
        }
        Ok(self.configured.or(self.paired))
    }
}

pub struct Driver {
    pub server: TerminalServer<OsEntropy>,
    pub store: StateStore,
    pub pushes: Pushes,
    pub stats: Stats,
    pub limiter: LogLimiter,
}

impl Driver {
    /// The management association's replay window, to save.
    pub fn replay_mark(&self) -> Option<ReplayMark> {
        self.server
            .replay_window()
            .map(|(system_title, highest)| ReplayMark {
                system_title,
                highest,
            })
    }

    /// The wrapper datagram of one push of the push setup's objects as they are at
    /// `now`, and where it goes; `None` (logged) when there is nowhere to send it or it
    /// cannot be built.
    pub fn build_push(
        &mut self,
        model: &SharedModel,
        now: DateTime<Utc>,
    ) -> Option<(Vec<u8>, SocketAddr)> {
        let (body, setup_destination, clock) = match model.lock() {
            Ok(mut m) => {
                m.set_now(now);
                (
                    m.push_body(),
                    m.push_setup().destination().to_vec(),
                    m.clock_time(),
                )
            }
            Err(_) => return None,
        };
        let to = match self.pushes.destination(&setup_destination) {
            Ok(Some(to)) => to,
            Ok(None) => {
                tracing::debug!("no push destination yet (no --push-to, no smart meter seen)");
                return None;
            }
            Err(e) => {
                tracing::warn!("{e}: push not sent");
                return None;
            }
        };
        let sender = &mut self.pushes.sender;
        if sender.ciphered()
            && !self
                .store
                .ensure(Counter::Push, sender.invocation_counter())
        {
            return None;
        }
        let apdu = match sender.notify(Some(to_cosem(clock, JST_DEVIATION, 0)), &body) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "push not built");
                return None;
            }
        };
        if sender.ciphered()
            && !self
                .store
                .covers(Counter::Push, sender.invocation_counter())
        {
            tracing::error!(
                ic = sender.invocation_counter(),
                "push counter not persisted: push withheld"
            );
            return None;
        }
        match Wpdu::new(SERVER_WPORT, PUSH_DESTINATION_WPORT, &apdu).emit() {
            Ok(d) => Some((d, to)),
            Err(e) => {
                tracing::error!(error = %e, "push not framed");
                None
            }
        }
    }

    /// Build and send one push.
    pub async fn push(&mut self, socket: &UdpSocket, model: &SharedModel, now: DateTime<Utc>) {
        let Some((datagram, to)) = self.build_push(model, now) else {
            return;
        };
        match socket.send_to(&datagram, to).await {
            Ok(_) => {
                self.stats.pushes += 1;
                tracing::info!(%to, ic = self.pushes.sender.invocation_counter(), "push sent");
            }
            Err(e) => tracing::warn!(%to, error = %e, "push not sent"),
        }
    }

    /// The reply datagram to one received datagram, if any.
    pub fn answer(
        &mut self,
        now: DateTime<Utc>,
        from: SocketAddr,
        datagram: &[u8],
        out: &mut [u8],
    ) -> Option<Vec<u8>> {
        let frame = match Wpdu::parse(datagram) {
            Ok(f) => f,
            Err(e) => {
                self.stats.malformed += 1;
                if let Some(held) = self.limiter.allow(now) {
                    tracing::warn!(%from, len = datagram.len(), error = %e, held_back = held, total = self.stats.malformed, "malformed wrapper frame dropped");
                }
                return None;
            }
        };
        if frame.destination != SERVER_WPORT {
            self.stats.wrong_wport += 1;
            if let Some(held) = self.limiter.allow(now) {
                tracing::warn!(%from, destination = frame.destination, held_back = held, "frame for another server wPort dropped");
            }
            return None;
        }
        if !self
            .store
            .ensure(Counter::Association, self.server.invocation_counter())
        {
            return None;
        }
        let window_before = self.replay_mark();
        let n = match self.server.handle(frame.source, now, frame.apdu, out) {
            Ok(Some(n)) => n,
            Ok(None) => {
                self.stats.wrong_wport += 1;
                if let Some(held) = self.limiter.allow(now) {
                    tracing::warn!(%from, source = frame.source, held_back = held, "frame from a client wPort we do not serve dropped");
                }
                return None;
            }
            Err(e) => {
                self.stats.engine_errors += 1;
                if let Some(held) = self.limiter.allow(now) {
                    tracing::warn!(%from, source = frame.source, error = %e, held_back = held, "APDU refused");
                }
                return None;
            }
        };
        let ic = self.server.invocation_counter();
        if !self.store.covers(Counter::Association, ic) {
            // Cannot happen while the headroom exceeds one request's spending; never send a
            // counter that a crash now would let the next run reuse.
            tracing::error!(
                ic,
                reserved = self.store.reserved(Counter::Association),
                "invocation counter not persisted: reply withheld"
            );
            return None;
        }
        // The engine accepted a ciphered APDU above its window: the new window goes to disk
        // before anything answers it (and before anything it changed is acted on), or a
        // kill between now and the next save would let a recording of it be accepted
        // again after the restart (SEC-02).
        if let Some(mark) = self.replay_mark().filter(|m| Some(*m) != window_before) {
            let model = self
                .server
                .model()
                .lock()
                .ok()
                .filter(|m| m.has_changes())
                .map(|m| m.snapshot());
            if !self.store.persist_replay(model, mark) {
                self.stats.engine_errors += 1;
                tracing::error!(
                    highest = mark.highest,
                    "replay window not persisted: reply withheld"
                );
                return None;
            }
        }
        let reply = out.get(..n)?;
        // exception-response (D8), service-error invocation-counter-error (6) or
        // deciphering-error (5): the engine's refusal of a replayed or forged ciphered APDU.
        match reply {
            [0xD8, _, 6, ..] => {
                self.stats.replays_refused += 1;
                if let Some(held) = self.limiter.allow(now) {
                    tracing::warn!(%from, source = frame.source, total = self.stats.replays_refused, held_back = held, "replayed or reordered ciphered APDU refused");
                }
            }
            [0xD8, _, 5, ..] => {
                self.stats.deciphering_errors += 1;
                if let Some(held) = self.limiter.allow(now) {
                    tracing::warn!(%from, source = frame.source, total = self.stats.deciphering_errors, held_back = held, "APDU that does not decipher refused");
                }
            }
            // A GET/SET/ACTION response, plain or ciphered: only an open association
            // gets one, so this client is the smart meter a push goes back to (not an
            // AARQ that may yet fail authentication).
            [0xC4 | 0xC5 | 0xC7 | 0xCC | 0xCD | 0xCF | 0xD4 | 0xD5 | 0xD7 | 0xDB | 0xDC, ..]
                if frame.source == MANAGEMENT_WPORT =>
            {
                self.pushes.paired = Some(from);
            }
            _ => {}
        }
        match Wpdu::new(SERVER_WPORT, frame.source, reply).emit() {
            Ok(d) => Some(d),
            Err(e) => {
                tracing::error!(error = %e, "reply not framed");
                None
            }
        }
    }
}
