//! The terminal's side of PANA: the PaC (PANA Client).
//!
//! `start` sends the PANA-Client-Initiation; [`Pac::handle`] answers the PAA's requests
//! step by step (PAR\[S\], EAP-PSK 1 and 3, PAR\[C\]), checking each (algorithms, ID_S,
//! MAC_S, the protected channel, the AUTH AVP) and failing with a typed reason; once open
//! it pings, installs the group keys the PAA sends (inactive first, then the switch
//! notice), answers a termination, and reports the link lost when pings go unanswered.
//! A repeated request (the PAA retransmitting because our answer was lost) gets the same
//! answer again; any other request must carry the next sequence number (RFC 5191 §5.1):
//! a replayed or out-of-order one — an old key delivery, an old switch notice — is
//! dropped and counted, never acted on.
//!
//! A message that fails a check is dropped and counted, not taken as the end of the
//! exchange: PANA travels unsecured at layer 2, so anyone in range can send one. That
//! holds for the first authentication too (an EAP-PSK 3 whose MAC_S or protected channel
//! does not verify, a PAR\[C\] whose AUTH does not). What cannot be told from a forgery
//! before a key exists — a refusal answering a wrong password, an EAP-PSK 1 from another
//! smart meter than the scan chose — still ends it. Sans-IO: `(now, datagram)` in,
//! datagrams and [`PacEvent`]s out.

use core::time::Duration;
use std::sync::Arc;

use pana::avp::{result_code, termination_cause, Avp};
use pana::eap::Packet;
use pana::encr::GroupKey;
use pana::psk::{
    key_setup, mac_p, verify_mac_s, PChannelPlain, PskDerivation, PskMessage, ResultFlag,
    SaltedSha256, SessionKeys as PskKeys,
};
use pana::secret::{Ak, Kdk};
use pana::{AuthFailure, Flags, Message, MessageType};

use super::{random16, Entropy, Outstanding, PanaTimers, SessionKeys, INTEGRITY, KEY_ID, PRF};

/// Why the PaC's authentication ended without a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PacFailure {
    /// A check of ours failed (MAC_S, protected channel, AUTH, algorithms...).
    #[error("{0}")]
    Auth(#[from] AuthFailure),
    /// The PAA refused us (PAR\[C\] with this Result-Code: 1 authentication rejected — a
    /// wrong password, an unknown or blocked terminal —, 2 authorization rejected — no
    /// room).
    #[error("refused by the smart meter (PANA Result-Code {0})")]
    Refused(u32),
    /// The PAA stopped answering.
    #[error("no answer from the smart meter")]
    Timeout,
}

/// What the terminal must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacEvent {
    /// Authenticated: the session is open; `keys` are the group keys delivered (the
    /// active one to send with, maybe a next one to receive with).
    Authenticated {
        /// The PANA session.
        session_id: u32,
        /// Seconds until the session must be renewed.
        lifetime_s: u32,
        /// The group keys.
        keys: Vec<GroupKey>,
    },
    /// A group key arrived in an open session (a rollover or the switch notice).
    GroupKey(GroupKey),
    /// The authentication failed; no key.
    Failed(PacFailure),
    /// The open session's PAA stopped answering pings (loss detection).
    Lost,
    /// The PAA ended the session (termination cause, e.g. 4 administrative).
    Terminated(u32),
}

/// Configuration.
pub struct PacConfig {
    /// ID_P: the terminal's authentication ID.
    pub id_p: Vec<u8>,
    /// The terminal's password.
    pub password: Vec<u8>,
    /// ID_S expected of the PAA, when known (the smart meter chosen by the scan).
    pub expected_id_s: Option<Vec<u8>>,
    /// How the password becomes the PSK (must match the smart meter's).
    pub derivation: Arc<dyn PskDerivation + Send + Sync>,
    /// The Vendor-Id of the vendor AVPs (group keys, key request).
    pub vendor_id: u32,
    /// Timers.
    pub timers: PanaTimers,
}

impl core::fmt::Debug for PacConfig {
    /// The password never reaches a log (SEC-02).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PacConfig")
            .field("id_p", &String::from_utf8_lossy(&self.id_p))
            .field("expected_id_s", &self.expected_id_s)
            .field("timers", &self.timers)
            .finish_non_exhaustive()
    }
}

impl PacConfig {
    /// With our default PSK derivation and timers.
    #[must_use]
    pub fn new(id_p: Vec<u8>, password: Vec<u8>) -> Self {
        Self {
            id_p,
            password,
            expected_id_s: None,
            derivation: Arc::new(SaltedSha256),
            vendor_id: pana::encr::VENDOR_ID,
            timers: PanaTimers::default(),
        }
    }
}

/// What the PaC remembers of the exchange so far.
#[derive(Debug, Clone)]
enum State {
    Idle,
    /// PCI sent.
    Initiated,
    /// PAN[S] sent: I_PAR and I_PAN kept for the key derivation.
    Started {
        i_par: Vec<u8>,
        i_pan: Vec<u8>,
    },
    /// EAP-PSK 2 sent. `old`: the keys of the session being re-authenticated.
    Psk2 {
        i_par: Vec<u8>,
        i_pan: Vec<u8>,
        pac_nonce: [u8; 16],
        paa_nonce: Vec<u8>,
        rand_p: [u8; 16],
        id_s: Vec<u8>,
        ak: Ak,
        kdk: Kdk,
        old: Option<SessionKeys>,
        key_id: u32,
    },
    /// EAP-PSK 4 sent: the MSK is known, waiting for PAR[C].
    Psk4 {
        keys: SessionKeys,
        i_par: Vec<u8>,
        i_pan: Vec<u8>,
        key_id: u32,
    },
    Open {
        keys: SessionKeys,
        i_par: Vec<u8>,
        i_pan: Vec<u8>,
        key_id: u32,
    },
    /// PNR with the A flag sent: waiting for the PAA's EAP-PSK 1 of a re-authentication.
    Reauth {
        old: SessionKeys,
        i_par: Vec<u8>,
        i_pan: Vec<u8>,
        key_id: u32,
    },
    Done,
}

/// The PaC.
pub struct Pac {
    config: PacConfig,
    state: State,
    session_id: u32,
    /// Sequence number of our next request (PNR, PTR).
    next_seq: u32,
    /// The PAA's last request seen and our answer to it (for its retransmissions).
    last_answer: Option<(u32, Vec<u8>)>,
    /// The sequence number the PAA's next request must carry (RFC 5191 §5.1); `None`
    /// until its first request of the session.
    expected_seq: Option<u32>,
    /// Requests dropped for a sequence number out of order (replays among them).
    out_of_order: u64,
    /// Our request in flight (PCI, ping, termination).
    outstanding: Option<Outstanding>,
    next_ping: Option<Duration>,
    /// When to give up waiting for the PAA's next message (an exchange under way with no
    /// request of ours in flight).
    deadline: Option<Duration>,
    /// Requests that failed a check (counted, not answered).
    dropped: u64,
}

impl core::fmt::Debug for Pac {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pac")
            .field("config", &self.config)
            .field("session_id", &self.session_id)
            .field("open", &self.is_open())
            .finish_non_exhaustive()
    }
}

impl Pac {
    /// A PaC that has not started.
    #[must_use]
    pub const fn new(config: PacConfig) -> Self {
        Self {
            config,
            state: State::Idle,
            session_id: 0,
            next_seq: 1,
            last_answer: None,
            expected_seq: None,
            out_of_order: 0,
            outstanding: None,
            next_ping: None,
            deadline: None,
            dropped: 0,
        }
    }

    /// Whether a session is open.
    #[must_use]
    pub const fn is_open(&self) -> bool {
        matches!(self.state, State::Open { .. })
    }

    /// Messages dropped because a check failed (forged, replayed, out of place).
    #[must_use]
    pub const fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Of those, requests whose sequence number was not the next one (replayed or out
    /// of order).
    #[must_use]
    pub const fn out_of_order(&self) -> u64 {
        self.out_of_order
    }

    /// Begin (or begin again): the PANA-Client-Initiation to send.
    ///
    /// # Errors
    /// Only if the message cannot be encoded (never for this fixed message).
    pub fn start(&mut self, now: Duration) -> Result<Vec<u8>, PacFailure> {
        let pci = Message::new(MessageType::ClientInitiation, Flags::NONE, 0, 0)
            .emit()
            .map_err(AuthFailure::from)?;
        self.state = State::Initiated;
        self.session_id = 0;
        self.last_answer = None;
        self.expected_seq = None;
        self.next_ping = None;
        self.outstanding = Some(Outstanding::new(pci.clone(), 0, now, &self.config.timers));
        self.arm_deadline(now);
        Ok(pci)
    }

    /// Wait for the PAA at most [`PanaTimers::give_up_after`] from `now` while an
    /// exchange is under way; no deadline once open or done.
    fn arm_deadline(&mut self, now: Duration) {
        self.deadline = match self.state {
            State::Idle | State::Open { .. } | State::Done => None,
            _ => Some(now + self.config.timers.give_up_after()),
        };
    }

    /// Whether the state holds an authenticated session (open, or re-authenticating):
    /// losing it then is `Lost`, not a failed authentication.
    fn in_session(&self) -> bool {
        match &self.state {
            State::Open { .. } | State::Reauth { .. } => true,
            State::Psk2 { old, .. } => old.is_some(),
            State::Psk4 { key_id, .. } => *key_id > KEY_ID,
            _ => false,
        }
    }

    /// The PAA is gone: done, and the event that says what was lost (a re-authentication
    /// left unanswered loses the session too).
    fn give_up(&mut self) -> PacEvent {
        let event = if self.in_session() {
            PacEvent::Lost
        } else {
            PacEvent::Failed(PacFailure::Timeout)
        };
        self.state = State::Done;
        self.next_ping = None;
        self.deadline = None;
        event
    }

    /// When [`Pac::poll`] next has something to do.
    #[must_use]
    pub fn next_timeout(&self) -> Option<Duration> {
        let retry = self.outstanding.as_ref().map(|o| o.next_at);
        // A ping and the wait for the PAA both wait for the request in flight (its own
        // retries end the wait otherwise).
        let idle = |t: Option<Duration>| t.filter(|_| self.outstanding.is_none());
        [retry, idle(self.next_ping), idle(self.deadline)]
            .into_iter()
            .flatten()
            .min()
    }

    /// Retransmissions and pings due at `now`: datagrams to send, and events.
    pub fn poll(&mut self, now: Duration) -> (Vec<Vec<u8>>, Vec<PacEvent>) {
        let mut out = Vec::new();
        let mut events = Vec::new();
        if let Some(o) = self.outstanding.as_mut() {
            match o.due(now, &self.config.timers) {
                Ok(Some(b)) => out.push(b),
                Ok(None) => {}
                Err(()) => {
                    self.outstanding = None;
                    events.push(self.give_up());
                }
            }
        }
        if self.outstanding.is_none() && self.deadline.is_some_and(|t| now >= t) {
            tracing::warn!("PANA: the PAA stopped answering mid-exchange");
            events.push(self.give_up());
        }
        if self.next_ping.is_some_and(|t| now >= t) && self.outstanding.is_none() {
            if let State::Open { keys, .. } = &self.state {
                let seq = self.next_seq;
                self.next_seq = self.next_seq.wrapping_add(1);
                let ping = Message::new(
                    MessageType::Notification,
                    Flags::REQUEST | Flags::PING,
                    self.session_id,
                    seq,
                );
                if let Ok(b) = keys.seal(ping) {
                    self.outstanding =
                        Some(Outstanding::new(b.clone(), seq, now, &self.config.timers));
                    out.push(b);
                }
            }
            self.next_ping = Some(now + self.config.timers.ping_interval);
        }
        (out, events)
    }

    /// A new password (TRM-08): the PSK of the next EAP-PSK exchange, the next
    /// re-authentication inside this session included.
    pub fn set_password(&mut self, password: Vec<u8>) {
        self.config.password = password;
    }

    /// Re-authenticate an open session (RFC 5191 §4.3: PNR with the A flag; the PAA then
    /// runs EAP-PSK again inside the session, every message under the current AUTH key,
    /// and PAR\[C\] brings the next Key-Id and the group keys). The PNR to send, or `None`
    /// when no session is open or a request is in flight.
    pub fn reauthenticate(&mut self, now: Duration) -> Option<Vec<u8>> {
        if self.outstanding.is_some() {
            return None;
        }
        let State::Open {
            keys,
            i_par,
            i_pan,
            key_id,
        } = &self.state
        else {
            return None;
        };
        let seq = self.next_seq;
        let pnr = keys
            .seal(Message::new(
                MessageType::Notification,
                Flags::REQUEST | Flags::REAUTH,
                self.session_id,
                seq,
            ))
            .ok()?;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.state = State::Reauth {
            old: keys.clone(),
            i_par: i_par.clone(),
            i_pan: i_pan.clone(),
            key_id: *key_id,
        };
        self.next_ping = None;
        self.outstanding = Some(Outstanding::new(pnr.clone(), seq, now, &self.config.timers));
        self.arm_deadline(now);
        Some(pnr)
    }

    /// A frame of ours to the PAA was never acknowledged: ping it at the next poll instead
    /// of at the end of the keep-alive interval **(ours)**, so a smart meter gone silent is
    /// noticed at the terminal's next frame, not up to a whole interval later. Nothing
    /// changes while no session is open or a request of ours is in flight (its own
    /// retries find out).
    pub fn doubt(&mut self, now: Duration) {
        if matches!(self.state, State::Open { .. }) && self.outstanding.is_none() {
            self.next_ping = self.next_ping.map(|t| t.min(now));
        }
    }

    /// Ask the PAA for the next group key (our key request AVP in a PNR under the AUTH
    /// key): our frame counter under the current key nears its limit. The PNR to send, or
    /// `None` when no session is open or a request is in flight (ask again later).
    pub fn request_key(&mut self, now: Duration) -> Option<Vec<u8>> {
        if self.outstanding.is_some() {
            return None;
        }
        let State::Open { keys, .. } = &self.state else {
            return None;
        };
        let seq = self.next_seq;
        let pnr = keys
            .seal(
                Message::new(
                    MessageType::Notification,
                    Flags::REQUEST,
                    self.session_id,
                    seq,
                )
                .with(pana::encr::key_request(self.config.vendor_id)),
            )
            .ok()?;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.outstanding = Some(Outstanding::new(pnr.clone(), seq, now, &self.config.timers));
        Some(pnr)
    }

    /// End an open session ourselves (PTR, cause logout).
    pub fn terminate(&mut self, now: Duration) -> Option<Vec<u8>> {
        let State::Open { keys, .. } = &self.state else {
            return None;
        };
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        let ptr = keys
            .seal(
                Message::new(
                    MessageType::Termination,
                    Flags::REQUEST,
                    self.session_id,
                    seq,
                )
                .with(Avp::TerminationCause(termination_cause::LOGOUT)),
            )
            .ok()?;
        self.outstanding = Some(Outstanding::new(ptr.clone(), seq, now, &self.config.timers));
        self.next_ping = None;
        self.state = State::Done;
        Some(ptr)
    }

    /// One datagram from the PAA: the answer to send (if any) and events.
    pub fn handle(
        &mut self,
        now: Duration,
        entropy: &mut dyn Entropy,
        datagram: &[u8],
    ) -> (Option<Vec<u8>>, Vec<PacEvent>) {
        let m = match Message::parse(datagram) {
            Ok(m) => m,
            Err(e) => {
                self.dropped += 1;
                tracing::debug!(error = %e, "malformed PANA message dropped");
                return (None, Vec::new());
            }
        };
        if !m.flags.is_request() {
            self.answer_received(now, datagram, &m);
            return (None, Vec::new());
        }
        // A retransmitted request: the same answer again.
        if let Some((seq, bytes)) = &self.last_answer {
            if *seq == m.seq && m.session_id == self.session_id {
                // The PAA is still there, retrying: keep waiting for it.
                let again = bytes.clone();
                self.arm_deadline(now);
                return (Some(again), Vec::new());
            }
        }
        if self.expected_seq.is_some_and(|want| m.seq != want) {
            self.dropped += 1;
            self.out_of_order += 1;
            tracing::debug!(seq = m.seq, expected = ?self.expected_seq, "PANA request out of sequence dropped");
            return (None, Vec::new());
        }
        match self.request(now, entropy, datagram, &m) {
            Ok((answer, events)) => {
                if let Some(a) = &answer {
                    self.last_answer = Some((m.seq, a.clone()));
                }
                self.expected_seq = Some(m.seq.wrapping_add(1));
                // The exchange moved on: wait for the PAA's next message afresh.
                self.arm_deadline(now);
                (answer, events)
            }
            Err(Step::Ignore(why)) => {
                self.dropped += 1;
                tracing::debug!(why, seq = m.seq, "PANA request dropped");
                (None, Vec::new())
            }
            Err(Step::Fail(f)) => {
                tracing::warn!(failure = %f, "PANA authentication failed");
                self.state = State::Done;
                self.outstanding = None;
                self.next_ping = None;
                self.deadline = None;
                (None, vec![PacEvent::Failed(f)])
            }
        }
    }

    /// An answer to one of our requests (ping, termination): stop retransmitting it.
    fn answer_received(&mut self, now: Duration, datagram: &[u8], m: &Message) {
        let Some(o) = &self.outstanding else {
            self.dropped += 1;
            return;
        };
        if o.seq != m.seq || m.session_id != self.session_id {
            self.dropped += 1;
            return;
        }
        if let State::Open { keys, .. } | State::Reauth { old: keys, .. } = &self.state {
            if keys.verify(datagram).is_err() {
                self.dropped += 1;
                return;
            }
            self.next_ping = Some(now + self.config.timers.ping_interval);
        }
        self.outstanding = None;
        self.arm_deadline(now);
    }

    fn request(
        &mut self,
        now: Duration,
        entropy: &mut dyn Entropy,
        datagram: &[u8],
        m: &Message,
    ) -> Result<(Option<Vec<u8>>, Vec<PacEvent>), Step> {
        // Each step sets the state it leads to; a dropped request changes nothing.
        let before = core::mem::replace(&mut self.state, State::Done);
        let result = self.step(now, entropy, datagram, m, before.clone());
        if let Err(Step::Ignore(_)) = result {
            self.state = before;
        }
        result
    }

    #[allow(clippy::too_many_lines)]
    fn step(
        &mut self,
        now: Duration,
        entropy: &mut dyn Entropy,
        datagram: &[u8],
        m: &Message,
        state: State,
    ) -> Result<(Option<Vec<u8>>, Vec<PacEvent>), Step> {
        let answer = |flags: Flags| Message::new(m.kind, flags, m.session_id, m.seq);
        match (state, m.kind) {
            (State::Initiated, MessageType::Auth) if m.flags.contains(Flags::START) => {
                check_algorithms(m)?;
                self.outstanding = None;
                self.session_id = m.session_id;
                let pan = answer(Flags::START)
                    .with(Avp::PrfAlgorithm(PRF.id()))
                    .with(Avp::IntegrityAlgorithm(INTEGRITY.id()))
                    .with(Avp::EncryptionAlgorithm(pana::encr::AES128_CTR))
                    .emit()
                    .map_err(fail)?;
                self.state = State::Started {
                    i_par: datagram.to_vec(),
                    i_pan: pan.clone(),
                };
                Ok((Some(pan), Vec::new()))
            }
            (State::Initiated | State::Started { .. }, MessageType::Auth)
                if m.flags.contains(Flags::COMPLETE) =>
            {
                // Refused before (or instead of) EAP: no room, or an early rejection.
                self.session_id = m.session_id;
                self.refused(m)
            }
            (State::Started { i_par, i_pan }, MessageType::Auth) => {
                self.first_message(entropy, m, i_par, i_pan, None, KEY_ID)
            }
            (
                State::Reauth {
                    old,
                    i_par,
                    i_pan,
                    key_id,
                },
                MessageType::Auth,
            ) if !m.flags.contains(Flags::COMPLETE) => {
                old.verify(datagram)
                    .map_err(|_| Step::Ignore("AUTH does not verify"))?;
                self.first_message(entropy, m, i_par, i_pan, Some(old), key_id.wrapping_add(1))
            }
            (
                State::Psk2 {
                    i_par,
                    i_pan,
                    pac_nonce,
                    paa_nonce,
                    rand_p,
                    id_s,
                    ak,
                    kdk,
                    old,
                    key_id,
                },
                MessageType::Auth,
            ) if !m.flags.contains(Flags::COMPLETE) => {
                if let Some(k) = &old {
                    k.verify(datagram)
                        .map_err(|_| Step::Ignore("AUTH does not verify"))?;
                }
                let eap = m.eap_payload().ok_or(Step::Ignore("no EAP payload"))?;
                let (id, msg) = PskMessage::parse_eap(eap)
                    .map_err(|_| Step::Ignore("EAP-PSK 3 does not parse"))?;
                let PskMessage::Third { rand_s, mac_s, .. } = msg else {
                    return Err(Step::Ignore("expected EAP-PSK 3"));
                };
                // Only the smart meter holding our PSK can make MAC_S and the protected
                // channel: a message failing them is someone else's, dropped.
                verify_mac_s(&ak, &id_s, &rand_p, &mac_s)
                    .map_err(|_| Step::Ignore("EAP-PSK 3: MAC_S does not verify"))?;
                let psk_keys = PskKeys::derive(&kdk, &rand_p);
                let (opened, plain) = PskMessage::open_pchannel(eap, &psk_keys.tek)
                    .map_err(|_| Step::Ignore("EAP-PSK 3: protected channel does not open"))?;
                let PskMessage::Third { pchannel, .. } = opened else {
                    return Err(Step::Ignore("expected EAP-PSK 3"));
                };
                if plain.result != ResultFlag::DoneSuccess {
                    return Err(Step::Fail(AuthFailure::Rejected.into()));
                }
                let psk4 = PskMessage::seal_fourth(
                    id,
                    rand_s,
                    &psk_keys.tek,
                    pchannel.nonce.wrapping_add(1),
                    &PChannelPlain::done(ResultFlag::DoneSuccess),
                )
                .map_err(fail)?;
                let pan = SessionKeys::emit_maybe_sealed(
                    old.as_ref(),
                    answer(Flags::NONE).with(Avp::EapPayload(psk4)),
                )
                .map_err(|e| Step::Fail(e.into()))?;
                let keys = SessionKeys::derive(
                    &psk_keys.msk,
                    (&i_par, &i_pan),
                    &pac_nonce,
                    &paa_nonce,
                    key_id,
                );
                self.state = State::Psk4 {
                    keys,
                    i_par,
                    i_pan,
                    key_id,
                };
                Ok((Some(pan), Vec::new()))
            }
            // A refusal of our password comes before any key exists: unauthenticated.
            (State::Psk2 { .. }, MessageType::Auth)
                if m.flags.contains(Flags::COMPLETE)
                    && m.result_code() != Some(result_code::SUCCESS) =>
            {
                self.refused(m)
            }
            (
                State::Psk4 {
                    keys,
                    i_par,
                    i_pan,
                    key_id,
                },
                MessageType::Auth,
            ) if m.flags.contains(Flags::COMPLETE) => {
                // Past EAP-PSK 4 the PAA has the session's keys: whatever it says now,
                // a refusal included, carries AUTH; without it, it is not the PAA.
                keys.verify(datagram)
                    .map_err(|_| Step::Ignore("PAR[C] AUTH does not verify"))?;
                if m.result_code() != Some(result_code::SUCCESS) {
                    return self.refused(m);
                }
                if let Some(Packet::Failure { .. }) =
                    m.eap_payload().and_then(|e| Packet::parse(e).ok())
                {
                    return Err(Step::Fail(AuthFailure::Rejected.into()));
                }
                let group = keys
                    .group_keys(m, self.config.vendor_id)
                    .map_err(|e| Step::Fail(e.into()))?;
                if group.is_empty() {
                    return Err(Step::Fail(AuthFailure::NoGroupKey.into()));
                }
                let lifetime_s = m
                    .avps
                    .iter()
                    .find_map(|a| match a {
                        Avp::SessionLifetime(s) => Some(*s),
                        _ => None,
                    })
                    .unwrap_or(0);
                let pan = keys
                    .seal(answer(Flags::COMPLETE).with(Avp::KeyId(key_id)))
                    .map_err(|e| Step::Fail(e.into()))?;
                self.state = State::Open {
                    keys,
                    i_par,
                    i_pan,
                    key_id,
                };
                self.next_ping = Some(now + self.config.timers.ping_interval);
                Ok((
                    Some(pan),
                    vec![PacEvent::Authenticated {
                        session_id: self.session_id,
                        lifetime_s,
                        keys: group,
                    }],
                ))
            }
            (
                State::Open {
                    keys,
                    i_par,
                    i_pan,
                    key_id,
                },
                MessageType::Notification,
            ) => {
                keys.verify(datagram)
                    .map_err(|_| Step::Ignore("AUTH does not verify"))?;
                let group = keys
                    .group_keys(m, self.config.vendor_id)
                    .map_err(|_| Step::Ignore("bad key delivery"))?;
                let flags = if m.flags.contains(Flags::PING) {
                    Flags::PING
                } else {
                    Flags::NONE
                };
                let pna = keys
                    .seal(answer(flags))
                    .map_err(|_| Step::Ignore("answer not sealed"))?;
                self.state = State::Open {
                    keys,
                    i_par,
                    i_pan,
                    key_id,
                };
                Ok((
                    Some(pna),
                    group.into_iter().map(PacEvent::GroupKey).collect(),
                ))
            }
            (State::Open { keys, .. }, MessageType::Termination) => {
                keys.verify(datagram)
                    .map_err(|_| Step::Ignore("AUTH does not verify"))?;
                let cause = m
                    .avps
                    .iter()
                    .find_map(|a| match a {
                        Avp::TerminationCause(c) => Some(*c),
                        _ => None,
                    })
                    .unwrap_or(0);
                let pta = keys
                    .seal(answer(Flags::NONE))
                    .map_err(|_| Step::Ignore("answer not sealed"))?;
                self.state = State::Done;
                self.next_ping = None;
                self.outstanding = None;
                Ok((Some(pta), vec![PacEvent::Terminated(cause)]))
            }
            _ => Err(Step::Ignore("unexpected here")),
        }
    }
}

impl Pac {
    /// The PAR carrying EAP-PSK 1 (a first authentication, or a re-authentication whose
    /// messages go under the session's current AUTH key `old`): EAP-PSK 2 back.
    fn first_message(
        &mut self,
        entropy: &mut dyn Entropy,
        m: &Message,
        i_par: Vec<u8>,
        i_pan: Vec<u8>,
        old: Option<SessionKeys>,
        key_id: u32,
    ) -> Result<(Option<Vec<u8>>, Vec<PacEvent>), Step> {
        let eap = m.eap_payload().ok_or(Step::Ignore("no EAP payload"))?;
        let (id, msg) = PskMessage::parse_eap(eap).map_err(fail)?;
        let PskMessage::First { rand_s, id_s } = msg else {
            return Err(Step::Ignore("expected EAP-PSK 1"));
        };
        if let Some(want) = &self.config.expected_id_s {
            if *want != id_s {
                return Err(Step::Fail(AuthFailure::IdSMismatch.into()));
            }
        }
        let paa_nonce = m.nonce().ok_or(Step::Ignore("no Nonce"))?.to_vec();
        let psk = self
            .config
            .derivation
            .derive(&self.config.id_p, &self.config.password);
        let (ak, kdk) = key_setup(&psk);
        let rand_p = random16(entropy);
        let pac_nonce = random16(entropy);
        let psk2 = PskMessage::Second {
            rand_s,
            rand_p,
            mac_p: mac_p(&ak, &self.config.id_p, &id_s, &rand_s, &rand_p),
            id_p: self.config.id_p.clone(),
        };
        let pan = SessionKeys::emit_maybe_sealed(
            old.as_ref(),
            Message::new(m.kind, Flags::NONE, m.session_id, m.seq)
                .with(Avp::Nonce(pac_nonce.to_vec()))
                .with(Avp::EapPayload(psk2.emit_eap(id).map_err(fail)?)),
        )
        .map_err(|e| Step::Fail(e.into()))?;
        self.state = State::Psk2 {
            i_par,
            i_pan,
            pac_nonce,
            paa_nonce,
            rand_p,
            id_s,
            ak,
            kdk,
            old,
            key_id,
        };
        Ok((Some(pan), Vec::new()))
    }

    /// A PAR[C] refusing us: answered with PAN[C] (no AUTH: there is no key) so that the
    /// PAA stops retransmitting, and reported.
    fn refused(&mut self, m: &Message) -> Result<(Option<Vec<u8>>, Vec<PacEvent>), Step> {
        let code = m
            .result_code()
            .unwrap_or(result_code::AUTHENTICATION_REJECTED);
        let pan = Message::new(m.kind, Flags::COMPLETE, m.session_id, m.seq)
            .emit()
            .map_err(fail)?;
        self.state = State::Done;
        self.outstanding = None;
        self.next_ping = None;
        tracing::warn!(result_code = code, "PANA: refused by the smart meter");
        Ok((Some(pan), vec![PacEvent::Failed(PacFailure::Refused(code))]))
    }
}

/// How a request went wrong.
#[derive(Debug)]
enum Step {
    /// Not for this state, or forged: dropped and counted, state unchanged.
    Ignore(&'static str),
    /// The authentication has failed.
    Fail(PacFailure),
}

fn fail(e: pana::Error) -> Step {
    Step::Fail(AuthFailure::from(e).into())
}

/// The PAA must offer the algorithms we implement.
fn check_algorithms(m: &Message) -> Result<(), Step> {
    let offered = |pick: fn(&Avp) -> Option<u32>, want: u32| {
        let all: Vec<u32> = m.avps.iter().filter_map(pick).collect();
        if all.contains(&want) {
            Ok(())
        } else {
            Err(Step::Fail(
                AuthFailure::Algorithm(all.first().copied().unwrap_or(0)).into(),
            ))
        }
    };
    offered(
        |a| match a {
            Avp::PrfAlgorithm(p) => Some(*p),
            _ => None,
        },
        PRF.id(),
    )?;
    offered(
        |a| match a {
            Avp::IntegrityAlgorithm(p) => Some(*p),
            _ => None,
        },
        INTEGRITY.id(),
    )
}
