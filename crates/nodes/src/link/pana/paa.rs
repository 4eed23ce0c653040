//! The smart meter's side of PANA: the PAA (PANA Authentication Agent), one session per
//! terminal (by its EUI-64).
//!
//! A PCI starts a session (or is refused with Result-Code AUTHORIZATION_REJECTED when
//! [`PaaConfig::max_sessions`] terminals are already held, SYS-03); the PAA leads
//! EAP-PSK, checks the terminal against the [`Registry`] (unknown ID, blocked) and MAC_P
//! (wrong password), and on success sends PAR\[C\] with the group keys encrypted under
//! PANA_PAA_ENCR_KEY. Open sessions answer pings, take group-key deliveries
//! ([`Paa::distribute`]: a rollover first delivers the next key inactive, then the switch
//! notice with it active), and end on either side's termination ([`Paa::remove`]).
//! Every failure is an event with its [`AuthFailure`], a log entry, and no key.
//!
//! A terminal whose password changed (TRM-08) authenticates with the PSK of its new one
//! ([`Paa::replace_psk`]), the old one refused; the registry still decides whether it may
//! authenticate at all (SYS-03).
//!
//! A PCI is not authenticated (PANA travels unsecured at layer 2): the places of
//! [`PaaConfig::max_sessions`] go to authenticated sessions only, checked again when an
//! authentication completes (refused with AUTHORIZATION_REJECTED, under AUTH, when they
//! are taken). Sessions still authenticating are bounded apart
//! ([`PaaConfig::max_half_open`], each for at most [`PaaConfig::half_open_lifetime`]):
//! PCIs spoofed from any EUI-64 can delay a join, never refuse a real terminal its place.
//! A PaC's requests must carry the next sequence number (RFC 5191 §5.1); a replayed or
//! out-of-order one is dropped and counted.

use core::time::Duration;
use std::collections::{BTreeMap, VecDeque};

use pana::avp::{result_code, termination_cause, Avp};
use pana::eap::Packet;
use pana::encr::{encrypt_avps, EncapContext, GroupKey, AES128_CTR};
use pana::psk::{
    key_setup, mac_s, verify_mac_p, PChannelPlain, PskMessage, ResultFlag, SessionKeys as PskKeys,
};
use pana::secret::Psk;
use pana::{AuthFailure, Flags, Message, MessageType};

use super::{random16, Entropy, Outstanding, PanaTimers, SessionKeys, INTEGRITY, KEY_ID, PRF};

/// A terminal's link address (EUI-64).
pub type Peer = [u8; 8];

/// Why a PaC request was dropped for its sequence number.
const OUT_OF_SEQUENCE: &str = "request out of sequence";

/// What the smart meter knows of terminals: the PSK of a registered one, or why not.
pub trait Registry {
    /// The PSK for ID_P.
    ///
    /// # Errors
    /// [`AuthFailure::UnknownId`] or [`AuthFailure::Blocked`].
    fn psk(&self, id_p: &[u8]) -> Result<Psk, AuthFailure>;
}

impl<F: Fn(&[u8]) -> Result<Psk, AuthFailure>> Registry for F {
    fn psk(&self, id_p: &[u8]) -> Result<Psk, AuthFailure> {
        self(id_p)
    }
}

/// Configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaaConfig {
    /// ID_S: the smart meter's identity.
    pub id_s: Vec<u8>,
    /// Terminals held at most (SYS-03: about 4).
    pub max_sessions: usize,
    /// Session-Lifetime granted, seconds.
    pub session_lifetime_s: u32,
    /// The Vendor-Id of the vendor AVPs (group keys, key request).
    pub vendor_id: u32,
    /// Sessions still authenticating held at most **(ours: 4)**; a PCI beyond them is
    /// dropped (no state kept, no answer).
    pub max_half_open: usize,
    /// How long a session may take to authenticate **(ours: 30 s**: a first
    /// authentication takes four round trips, a few seconds even with retransmissions
    /// on a lossy radio, and a PaC retransmits its PCI after 30 s, so a terminal kept
    /// out by a flood of spoofed PCIs gets in with its next PCI); then it is dropped.
    pub half_open_lifetime: Duration,
    /// Timers.
    pub timers: PanaTimers,
}

impl PaaConfig {
    /// Four terminals, a day's session, default timers.
    #[must_use]
    pub fn new(id_s: Vec<u8>) -> Self {
        Self {
            id_s,
            max_sessions: 4,
            session_lifetime_s: 86_400,
            vendor_id: pana::encr::VENDOR_ID,
            max_half_open: 4,
            half_open_lifetime: Duration::from_secs(30),
            timers: PanaTimers::default(),
        }
    }
}

/// What the smart meter must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaaEvent {
    /// A terminal authenticated: it holds the group keys now.
    Authenticated {
        /// Who.
        peer: Peer,
        /// Its authentication ID.
        id_p: Vec<u8>,
        /// The session.
        session_id: u32,
        /// The Key-Id of its new MSK: [`KEY_ID`] for a new session, more for a
        /// re-authentication inside one.
        key_id: u32,
    },
    /// A terminal's authentication failed (or it was refused for lack of room).
    Failed {
        /// Who.
        peer: Peer,
        /// Why.
        failure: AuthFailure,
    },
    /// A terminal asked for the next group key (its frame counter nears its limit).
    KeyRequested {
        /// Who.
        peer: Peer,
    },
    /// A terminal acknowledged a group-key delivery.
    KeyAcknowledged {
        /// Who.
        peer: Peer,
        /// The key index.
        index: u8,
        /// Whether it was the switch notice.
        active: bool,
    },
    /// A session ended: the terminal logged out, was removed, or its lifetime ran out.
    Terminated {
        /// Who.
        peer: Peer,
        /// The termination cause.
        cause: u32,
    },
    /// A terminal stopped answering our requests.
    Lost {
        /// Who.
        peer: Peer,
    },
}

#[derive(Debug, Clone)]
enum Phase {
    WaitPanS {
        i_par: Vec<u8>,
    },
    /// `old`: the keys of the open session being re-authenticated (every message
    /// carries AUTH under them); `key_id`: the Key-Id the new MSK gets.
    WaitPsk2 {
        i_par: Vec<u8>,
        i_pan: Vec<u8>,
        paa_nonce: [u8; 16],
        rand_s: [u8; 16],
        old: Option<SessionKeys>,
        key_id: u32,
    },
    WaitPsk4 {
        i_par: Vec<u8>,
        i_pan: Vec<u8>,
        paa_nonce: [u8; 16],
        pac_nonce: Vec<u8>,
        id_p: Vec<u8>,
        psk: PskKeys,
        old: Option<SessionKeys>,
        key_id: u32,
    },
    WaitPanC {
        keys: SessionKeys,
        id_p: Vec<u8>,
        i_par: Vec<u8>,
        i_pan: Vec<u8>,
        key_id: u32,
    },
    /// PAR[C] with a failure sent: waiting for PAN[C], then forgotten.
    Refused,
    Open {
        keys: SessionKeys,
        i_par: Vec<u8>,
        i_pan: Vec<u8>,
        key_id: u32,
    },
    /// PTR sent.
    Terminating {
        keys: SessionKeys,
    },
}

#[derive(Debug, Clone)]
struct Session {
    session_id: u32,
    phase: Phase,
    /// Sequence number of our last request.
    seq: u32,
    outstanding: Option<Outstanding>,
    /// What the outstanding request delivered, to report when acknowledged.
    delivering: Option<(u8, bool)>,
    /// Key deliveries waiting for the outstanding request to be answered.
    queue: VecDeque<GroupKey>,
    /// The PaC's last request and our answer (for its retransmissions).
    last_answer: Option<(u32, Vec<u8>)>,
    /// The sequence number the PaC's next request must carry (`None` until its first).
    expected_seq: Option<u32>,
    /// When the session started (a session not authenticated by
    /// [`PaaConfig::half_open_lifetime`] later is dropped).
    started: Duration,
    /// Set once authenticated (the lifetime granted).
    expires_at: Option<Duration>,
    /// When the PaC last sent something that passed our checks.
    last_heard: Duration,
}

/// The PAA.
pub struct Paa {
    config: PaaConfig,
    registry: Box<dyn Registry + Send>,
    /// PSKs in place of the registry's, by ID_P: terminals whose password changed since
    /// the registry was made (TRM-08).
    replaced: BTreeMap<Vec<u8>, Psk>,
    current: GroupKey,
    next: Option<GroupKey>,
    /// Boxed: a B-tree node holds eleven entries whatever their number, and a smart
    /// meter of a few terminals held eleven sessions' room each.
    sessions: BTreeMap<Peer, Box<Session>>,
    /// A new session a terminal started while it holds an authenticated one: kept apart
    /// until it authenticates and replaces the old one. A PCI is not authenticated (PANA
    /// travels unsecured at the MAC), so a forged one must not end a working session.
    joining: BTreeMap<Peer, Box<Session>>,
    dropped: u64,
    /// PCIs dropped because [`PaaConfig::max_half_open`] sessions were authenticating.
    half_open_refused: u64,
    /// PaC requests dropped for a sequence number out of order.
    out_of_order: u64,
}

impl core::fmt::Debug for Paa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Paa")
            .field("config", &self.config)
            .field("sessions", &self.sessions.len())
            .field("current_key_index", &self.current.index)
            .finish_non_exhaustive()
    }
}

type Out = (Vec<(Peer, Vec<u8>)>, Vec<PaaEvent>);

impl Paa {
    /// A PAA holding `group` as the active group key.
    #[must_use]
    pub fn new(config: PaaConfig, registry: Box<dyn Registry + Send>, group: GroupKey) -> Self {
        Self {
            config,
            registry,
            replaced: BTreeMap::new(),
            current: GroupKey {
                active: true,
                ..group
            },
            next: None,
            sessions: BTreeMap::new(),
            joining: BTreeMap::new(),
            dropped: 0,
            half_open_refused: 0,
            out_of_order: 0,
        }
    }

    /// From now on `id_p` proves `psk` (TRM-08: its password changed), not what the
    /// registry holds for it: its next authentication (a re-authentication inside its
    /// session included) with the old PSK fails. Whether `id_p` may authenticate at all
    /// is still the registry's to say (SYS-03: an unknown or blocked ID stays refused).
    pub fn replace_psk(&mut self, id_p: &[u8], psk: Psk) {
        self.replaced.insert(id_p.to_vec(), psk);
    }

    /// The PSK `id_p` must prove: the registry's, unless its password changed since.
    fn psk_of(&self, id_p: &[u8]) -> Result<Psk, AuthFailure> {
        let registered = self.registry.psk(id_p)?;
        Ok(self.replaced.get(id_p).cloned().unwrap_or(registered))
    }

    /// PCIs dropped for want of room among the sessions still authenticating.
    #[must_use]
    pub const fn half_open_refused(&self) -> u64 {
        self.half_open_refused
    }

    /// PaC requests dropped for a sequence number out of order (replays among them).
    #[must_use]
    pub const fn out_of_order(&self) -> u64 {
        self.out_of_order
    }

    /// Sessions holding a place of [`PaaConfig::max_sessions`]: authenticated, or
    /// promised one (PAR\[C\] with success sent, PAN\[C\] awaited).
    fn authenticated(&self) -> usize {
        self.sessions
            .values()
            .filter(|s| s.expires_at.is_some() || matches!(s.phase, Phase::WaitPanC { .. }))
            .count()
    }

    /// Sessions still authenticating, the second sessions of held terminals included.
    fn half_open(&self) -> usize {
        self.sessions
            .values()
            .chain(self.joining.values())
            .filter(|s| s.expires_at.is_none() && !matches!(s.phase, Phase::Refused))
            .count()
    }

    /// Terminals with an open session.
    #[must_use]
    pub fn open_peers(&self) -> Vec<Peer> {
        self.sessions
            .iter()
            .filter(|(_, s)| matches!(s.phase, Phase::Open { .. }))
            .map(|(p, _)| *p)
            .collect()
    }

    /// Whether `peer` has an open session ([`Paa::open_peers`] without the list).
    #[must_use]
    pub fn is_open(&self, peer: &Peer) -> bool {
        self.sessions
            .get(peer)
            .is_some_and(|s| matches!(s.phase, Phase::Open { .. }))
    }

    /// The active group key and the next one, if a rollover is under way.
    #[must_use]
    pub const fn group_keys(&self) -> (&GroupKey, Option<&GroupKey>) {
        (&self.current, self.next.as_ref())
    }

    /// Messages dropped because a check failed or they came out of place.
    #[must_use]
    pub const fn dropped(&self) -> u64 {
        self.dropped
    }

    /// When [`Paa::poll`] next has something to do.
    #[must_use]
    pub fn next_timeout(&self) -> Option<Duration> {
        let idle = self.idle_limit();
        self.sessions
            .values()
            .chain(self.joining.values())
            .flat_map(|s| {
                [
                    s.outstanding.as_ref().map(|o| o.next_at),
                    s.expires_at,
                    idle_since(s).map(|t| t + idle),
                    (s.expires_at.is_none() && !matches!(s.phase, Phase::Refused))
                        .then_some(s.started + self.config.half_open_lifetime),
                ]
            })
            .flatten()
            .min()
    }

    /// How long an open session may stay silent before we ping it: two of the PaC's
    /// ping intervals, so a live terminal (which pings every interval) is never pinged.
    fn idle_limit(&self) -> Duration {
        self.config.timers.ping_interval * 2
    }

    /// Retransmissions and expiries due at `now`; a ping to each open session silent
    /// for [`Paa::idle_limit`] (a terminal that went away without a word must not hold
    /// one of the smart meter's few places, SYS-03, until its lifetime runs out).
    pub fn poll(&mut self, now: Duration) -> Out {
        let (mut out, mut events) = (Vec::new(), Vec::new());
        let timers = self.config.timers;
        let idle = self.idle_limit();
        let mut gone = Vec::new();
        let half_open_lifetime = self.config.half_open_lifetime;
        let stale = |s: &Session| {
            s.expires_at.is_none()
                && !matches!(s.phase, Phase::Refused)
                && now >= s.started + half_open_lifetime
        };
        self.joining.retain(|peer, s| {
            let keep = !stale(s);
            if !keep {
                tracing::info!(peer = ?peer, "PANA: a second session did not authenticate in time: dropped");
            }
            keep
        });
        for (peer, s) in &mut self.sessions {
            if stale(s) {
                tracing::info!(peer = ?peer, "PANA: session did not authenticate in time: dropped");
                gone.push(*peer);
                continue;
            }
            if idle_since(s).is_some_and(|t| now >= t + idle) {
                if let Some(ping) = ping(s, now, &timers) {
                    tracing::info!(peer = ?peer, "PANA: the terminal has been silent: pinging it");
                    out.push((*peer, ping));
                }
            }
            if s.expires_at.is_some_and(|t| now >= t) {
                tracing::info!(peer = ?peer, "PANA session lifetime over");
                events.push(PaaEvent::Terminated {
                    peer: *peer,
                    cause: termination_cause::SESSION_TIMEOUT,
                });
                gone.push(*peer);
                continue;
            }
            if let Some(o) = s.outstanding.as_mut() {
                match o.due(now, &timers) {
                    Ok(Some(b)) => out.push((*peer, b)),
                    Ok(None) => {}
                    Err(()) => {
                        if !matches!(s.phase, Phase::Refused) {
                            tracing::warn!(peer = ?peer, "PANA: terminal stopped answering");
                            events.push(PaaEvent::Lost { peer: *peer });
                        }
                        gone.push(*peer);
                    }
                }
            }
        }
        for p in gone {
            self.sessions.remove(&p);
            self.promote_orphan(p);
        }
        // A second session that stopped answering is dropped alone: the terminal's
        // authenticated one carries on (no event: nothing changed for it).
        self.joining.retain(|peer, s| {
            let Some(o) = s.outstanding.as_mut() else {
                return true;
            };
            match o.due(now, &timers) {
                Ok(Some(b)) => {
                    out.push((*peer, b));
                    true
                }
                Ok(None) => true,
                Err(()) => {
                    tracing::info!(peer = ?peer, "PANA: a second session went unanswered: dropped, the open one kept");
                    false
                }
            }
        });
        (out, events)
    }

    /// Deliver a group key to every open session: inactive, to be installed for
    /// receiving (the first half of a rollover); or active, the switch notice. The PAA
    /// itself takes an active key as its current one.
    pub fn distribute(&mut self, now: Duration, key: GroupKey) -> Vec<(Peer, Vec<u8>)> {
        if key.active {
            self.current = key.clone();
            self.next = None;
        } else {
            self.next = Some(key.clone());
        }
        let (timers, vendor) = (self.config.timers, self.config.vendor_id);
        let mut out = Vec::new();
        for (peer, s) in &mut self.sessions {
            if !matches!(s.phase, Phase::Open { .. }) {
                continue;
            }
            s.queue.push_back(key.clone());
            if s.outstanding.is_none() {
                if let Some(b) = send_next_key(s, now, &timers, vendor) {
                    out.push((*peer, b));
                }
            }
        }
        out
    }

    /// Take back a key delivery not yet sent (a rollover abandoned because a terminal
    /// was removed): the terminals that stay get the next key instead.
    pub fn withdraw(&mut self, index: u8) {
        if self.next.as_ref().is_some_and(|k| k.index == index) {
            self.next = None;
        }
        for s in self.sessions.values_mut() {
            s.queue.retain(|k| k.index != index);
        }
    }

    /// Whether `peer` holds a live, authenticated session: open, or re-authenticating
    /// inside one. Only such a terminal may speak to the smart meter's application.
    #[must_use]
    pub fn is_live(&self, peer: Peer) -> bool {
        self.sessions.get(&peer).is_some_and(|s| match &s.phase {
            Phase::Open { .. } => true,
            Phase::WaitPsk2 { old, .. } | Phase::WaitPsk4 { old, .. } => old.is_some(),
            Phase::WaitPanC { key_id, .. } => *key_id > KEY_ID,
            Phase::WaitPanS { .. } | Phase::Refused | Phase::Terminating { .. } => false,
        })
    }

    /// End a terminal's session (operator's removal): PTR, cause administrative.
    pub fn remove(&mut self, now: Duration, peer: Peer) -> Option<Vec<u8>> {
        let timers = self.config.timers;
        self.joining.remove(&peer);
        let s = self.sessions.get_mut(&peer)?;
        let Phase::Open { keys, .. } = &s.phase else {
            self.sessions.remove(&peer);
            return None;
        };
        let keys = keys.clone();
        s.seq = s.seq.wrapping_add(1);
        let ptr = keys
            .seal(
                Message::new(
                    MessageType::Termination,
                    Flags::REQUEST,
                    s.session_id,
                    s.seq,
                )
                .with(Avp::TerminationCause(termination_cause::ADMINISTRATIVE)),
            )
            .ok()?;
        s.outstanding = Some(Outstanding::new(ptr.clone(), s.seq, now, &timers));
        s.phase = Phase::Terminating { keys };
        Some(ptr)
    }

    /// One datagram from terminal `peer`.
    pub fn handle(
        &mut self,
        now: Duration,
        entropy: &mut dyn Entropy,
        peer: Peer,
        datagram: &[u8],
    ) -> Out {
        let m = match Message::parse(datagram) {
            Ok(m) => m,
            Err(e) => {
                self.dropped += 1;
                tracing::debug!(peer = ?peer, error = %e, "malformed PANA message dropped");
                return (Vec::new(), Vec::new());
            }
        };
        if m.kind == MessageType::ClientInitiation {
            return self.initiation(now, entropy, peer);
        }
        let second = self.enter_joining(peer, m.session_id);
        let result = self.step(now, entropy, peer, datagram, &m);
        if result.is_ok() {
            if let Some(s) = self.sessions.get_mut(&peer) {
                s.last_heard = now;
                if m.flags.is_request() && s.session_id == m.session_id {
                    s.expected_seq = Some(m.seq.wrapping_add(1));
                }
            }
        }
        if second {
            self.leave_joining(peer);
        }
        match result {
            Ok(out) => out,
            Err(why) => {
                self.dropped += 1;
                if why == OUT_OF_SEQUENCE {
                    self.out_of_order += 1;
                }
                tracing::debug!(peer = ?peer, why, seq = m.seq, "PANA message dropped");
                (Vec::new(), Vec::new())
            }
        }
    }

    /// A message of `peer`'s second session: swap it in for [`Paa::step`], which works
    /// on `sessions`. True when swapped.
    fn enter_joining(&mut self, peer: Peer, session_id: u32) -> bool {
        self.promote_orphan(peer);
        let (Some(held), Some(second)) =
            (self.sessions.get_mut(&peer), self.joining.get_mut(&peer))
        else {
            return false;
        };
        if held.session_id == session_id || second.session_id != session_id {
            return false;
        }
        core::mem::swap(held, second);
        true
    }

    /// A second session whose first one has ended (lost, expired, terminated) becomes
    /// the terminal's session.
    fn promote_orphan(&mut self, peer: Peer) {
        if !self.sessions.contains_key(&peer) {
            if let Some(second) = self.joining.remove(&peer) {
                self.sessions.insert(peer, second);
            }
        }
    }

    /// After a step on the second session: authenticated, it replaces the old one;
    /// ended (a refusal answered), the old one comes back; otherwise both go back.
    fn leave_joining(&mut self, peer: Peer) {
        let Some(old) = self.joining.remove(&peer) else {
            return;
        };
        match self.sessions.get_mut(&peer) {
            None => {
                self.sessions.insert(peer, old);
            }
            Some(new) if matches!(new.phase, Phase::Open { .. }) => {
                tracing::info!(peer = ?peer, "PANA: the terminal's new session replaces its old one");
            }
            Some(new) => {
                let new = core::mem::replace(new, old);
                self.joining.insert(peer, new);
            }
        }
    }

    fn initiation(&mut self, now: Duration, entropy: &mut dyn Entropy, peer: Peer) -> Out {
        let waiting =
            |s: Option<&Box<Session>>| s.is_some_and(|s| matches!(s.phase, Phase::WaitPanS { .. }));
        if waiting(self.sessions.get(&peer)) || waiting(self.joining.get(&peer)) {
            // The PaC repeated its PCI: our PAR[S] is already on its way again.
            return (Vec::new(), Vec::new());
        }
        // A terminal that starts over (it restarted, or someone sends PCIs in its name)
        // while it holds an authenticated session: the new session runs beside it and
        // replaces it only once it authenticates.
        let beside = self
            .sessions
            .get(&peer)
            .is_some_and(|s| s.expires_at.is_some());
        if !beside && self.sessions.remove(&peer).is_some() {
            tracing::info!(peer = ?peer, "PANA: terminal starts a new session");
        }
        if self.half_open() >= self.config.max_half_open {
            // No state, no answer: a flood of spoofed PCIs costs us nothing and keeps no
            // real terminal out once it stops (each half-open session is short-lived).
            self.half_open_refused += 1;
            tracing::warn!(peer = ?peer, limit = self.config.max_half_open, "PANA: too many sessions authenticating: PCI dropped");
            return (Vec::new(), Vec::new());
        }
        let mut sid = [0; 4];
        entropy.fill(&mut sid);
        // Session IDs name sessions across terminals (and a terminal's two sessions):
        // never one in use, whatever the entropy gave.
        let mut session_id = u32::from_be_bytes(sid) | 1;
        while self
            .sessions
            .values()
            .chain(self.joining.values())
            .any(|s| s.session_id == session_id)
        {
            session_id = session_id.wrapping_add(2);
        }
        let mut seq = [0; 4];
        entropy.fill(&mut seq);
        let seq = u32::from_be_bytes(seq) & 0x7FFF_FFFF;
        let timers = self.config.timers;
        let held = self.authenticated();
        if !beside && held >= self.config.max_sessions {
            tracing::warn!(peer = ?peer, held, "PANA: no room for another terminal (SYS-03)");
            let Ok(par_c) = Message::new(
                MessageType::Auth,
                Flags::REQUEST | Flags::COMPLETE,
                session_id,
                seq,
            )
            .with(Avp::ResultCode(result_code::AUTHORIZATION_REJECTED))
            .emit() else {
                return (Vec::new(), Vec::new());
            };
            self.sessions.insert(
                peer,
                Box::new(refused_session(
                    session_id,
                    seq,
                    par_c.clone(),
                    now,
                    &timers,
                )),
            );
            return (
                vec![(peer, par_c)],
                vec![PaaEvent::Failed {
                    peer,
                    failure: AuthFailure::NoRoom,
                }],
            );
        }
        let Ok(par_s) = Message::new(
            MessageType::Auth,
            Flags::REQUEST | Flags::START,
            session_id,
            seq,
        )
        .with(Avp::PrfAlgorithm(PRF.id()))
        .with(Avp::IntegrityAlgorithm(INTEGRITY.id()))
        .with(Avp::EncryptionAlgorithm(AES128_CTR))
        .emit() else {
            return (Vec::new(), Vec::new());
        };
        let session = Box::new(Session {
            session_id,
            phase: Phase::WaitPanS {
                i_par: par_s.clone(),
            },
            seq,
            outstanding: Some(Outstanding::new(par_s.clone(), seq, now, &timers)),
            delivering: None,
            queue: VecDeque::new(),
            last_answer: None,
            expected_seq: None,
            started: now,
            expires_at: None,
            last_heard: now,
        });
        if beside {
            tracing::info!(peer = ?peer, "PANA: a second session for an authenticated terminal");
            self.joining.insert(peer, session);
        } else {
            self.sessions.insert(peer, session);
        }
        (vec![(peer, par_s)], Vec::new())
    }

    #[allow(clippy::too_many_lines)]
    fn step(
        &mut self,
        now: Duration,
        entropy: &mut dyn Entropy,
        peer: Peer,
        datagram: &[u8],
        m: &Message,
    ) -> Result<Out, &'static str> {
        let timers = self.config.timers;
        let vendor_id = self.config.vendor_id;
        let lifetime = self.config.session_lifetime_s;
        let (current, next) = (self.current.clone(), self.next.clone());
        // Whether a new session may have a place (SYS-03): counted when it completes.
        let full = self.authenticated() >= self.config.max_sessions;
        let s = self.sessions.get_mut(&peer).ok_or("no session")?;
        if m.session_id != s.session_id {
            return Err("another session");
        }
        // A retransmitted request of the PaC: the same answer again; any other request
        // must be the next in sequence (RFC 5191 §5.1).
        if m.flags.is_request() {
            if let Some((seq, bytes)) = &s.last_answer {
                if *seq == m.seq {
                    return Ok((vec![(peer, bytes.clone())], Vec::new()));
                }
            }
            if s.expected_seq.is_some_and(|want| m.seq != want) {
                return Err(OUT_OF_SEQUENCE);
            }
        } else if s.outstanding.as_ref().map(|o| o.seq) != Some(m.seq) {
            return Err("answer to nothing outstanding");
        }
        let phase = s.phase.clone();
        let mut events = Vec::new();
        let mut out = Vec::new();
        match (phase, m.kind, m.flags.is_request()) {
            (Phase::WaitPanS { i_par }, MessageType::Auth, false)
                if m.flags.contains(Flags::START) =>
            {
                let paa_nonce = random16(entropy);
                let rand_s = random16(entropy);
                let psk1 = PskMessage::First {
                    rand_s,
                    id_s: self.config.id_s.clone(),
                };
                s.seq = s.seq.wrapping_add(1);
                let par = Message::new(MessageType::Auth, Flags::REQUEST, s.session_id, s.seq)
                    .with(Avp::Nonce(paa_nonce.to_vec()))
                    .with(Avp::EapPayload(
                        psk1.emit_eap(1).map_err(|_| "EAP not encoded")?,
                    ))
                    .emit()
                    .map_err(|_| "PAR not encoded")?;
                s.outstanding = Some(Outstanding::new(par.clone(), s.seq, now, &timers));
                s.phase = Phase::WaitPsk2 {
                    i_par,
                    i_pan: datagram.to_vec(),
                    paa_nonce,
                    rand_s,
                    old: None,
                    key_id: KEY_ID,
                };
                out.push((peer, par));
            }
            (
                Phase::WaitPsk2 {
                    i_par,
                    i_pan,
                    paa_nonce,
                    rand_s,
                    old,
                    key_id,
                },
                MessageType::Auth,
                false,
            ) => {
                if let Some(k) = &old {
                    k.verify(datagram).map_err(|_| "PAN AUTH does not verify")?;
                }
                let eap = m.eap_payload().ok_or("no EAP payload")?;
                let (_, msg) = PskMessage::parse_eap(eap).map_err(|_| "bad EAP-PSK")?;
                let PskMessage::Second {
                    rand_s: echoed,
                    rand_p,
                    mac_p,
                    id_p,
                } = msg
                else {
                    return Err("expected EAP-PSK 2");
                };
                let pac_nonce = m.nonce().ok_or("no Nonce")?.to_vec();
                let checked = (|| {
                    if echoed != rand_s {
                        return Err(AuthFailure::RandSMismatch);
                    }
                    let psk = self.psk_of(&id_p)?;
                    let (ak, kdk) = key_setup(&psk);
                    verify_mac_p(&ak, &id_p, &self.config.id_s, &rand_s, &rand_p, &mac_p)?;
                    Ok((ak, kdk))
                })();
                let s = self.sessions.get_mut(&peer).ok_or("no session")?;
                s.seq = s.seq.wrapping_add(1);
                match checked {
                    Err(failure) => {
                        tracing::warn!(peer = ?peer, id_p = %String::from_utf8_lossy(&id_p), %failure, "PANA authentication failed");
                        let par_c = Message::new(
                            MessageType::Auth,
                            Flags::REQUEST | Flags::COMPLETE,
                            s.session_id,
                            s.seq,
                        )
                        .with(Avp::EapPayload(
                            Packet::Failure { id: 2 }
                                .emit()
                                .map_err(|_| "EAP not encoded")?,
                        ))
                        .with(Avp::ResultCode(result_code::AUTHENTICATION_REJECTED))
                        .emit()
                        .map_err(|_| "PAR not encoded")?;
                        s.outstanding = Some(Outstanding::new(par_c.clone(), s.seq, now, &timers));
                        s.phase = Phase::Refused;
                        out.push((peer, par_c));
                        events.push(PaaEvent::Failed { peer, failure });
                    }
                    Ok((ak, kdk)) => {
                        let psk = PskKeys::derive(&kdk, &rand_p);
                        let psk3 = PskMessage::seal_third(
                            2,
                            rand_s,
                            mac_s(&ak, &self.config.id_s, &rand_p),
                            &psk.tek,
                            0,
                            &PChannelPlain::done(ResultFlag::DoneSuccess),
                        )
                        .map_err(|_| "EAP-PSK 3 not sealed")?;
                        let par = SessionKeys::emit_maybe_sealed(
                            old.as_ref(),
                            Message::new(MessageType::Auth, Flags::REQUEST, s.session_id, s.seq)
                                .with(Avp::EapPayload(psk3)),
                        )
                        .map_err(|_| "PAR not encoded")?;
                        s.outstanding = Some(Outstanding::new(par.clone(), s.seq, now, &timers));
                        s.phase = Phase::WaitPsk4 {
                            i_par,
                            i_pan,
                            paa_nonce,
                            pac_nonce,
                            id_p,
                            psk,
                            old,
                            key_id,
                        };
                        out.push((peer, par));
                    }
                }
            }
            (
                Phase::WaitPsk4 {
                    i_par,
                    i_pan,
                    paa_nonce,
                    pac_nonce,
                    id_p,
                    psk,
                    old,
                    key_id,
                },
                MessageType::Auth,
                false,
            ) => {
                if let Some(k) = &old {
                    k.verify(datagram).map_err(|_| "PAN AUTH does not verify")?;
                }
                let eap = m.eap_payload().ok_or("no EAP payload")?;
                let opened = PskMessage::open_pchannel(eap, &psk.tek).and_then(|(msg, plain)| {
                    let PskMessage::Fourth { pchannel, .. } = msg else {
                        return Err(AuthFailure::Rejected);
                    };
                    if pchannel.nonce != 1 {
                        return Err(AuthFailure::PChannelNonce {
                            got: pchannel.nonce,
                            expected: 1,
                        });
                    }
                    if plain.result == ResultFlag::DoneSuccess {
                        Ok(())
                    } else {
                        Err(AuthFailure::Rejected)
                    }
                });
                if let Err(failure) = opened {
                    // A forged or garbled fourth message: the genuine one may still come.
                    tracing::warn!(peer = ?peer, %failure, "EAP-PSK 4 refused");
                    return Err("EAP-PSK 4 does not verify");
                }
                let keys =
                    SessionKeys::derive(&psk.msk, (&i_par, &i_pan), &pac_nonce, &paa_nonce, key_id);
                s.seq = s.seq.wrapping_add(1);
                if old.is_none() && full {
                    // Authenticated, but the places went to others meanwhile: refused
                    // under AUTH (the PaC takes no unauthenticated word past EAP-PSK 4).
                    tracing::warn!(peer = ?peer, "PANA: no room left for the terminal as it completes (SYS-03)");
                    let par_c = keys
                        .seal(eap_success_par_c(s, result_code::AUTHORIZATION_REJECTED)?)
                        .map_err(|_| "PAR[C] not sealed")?;
                    s.outstanding = Some(Outstanding::new(par_c.clone(), s.seq, now, &timers));
                    s.phase = Phase::Refused;
                    out.push((peer, par_c));
                    events.push(PaaEvent::Failed {
                        peer,
                        failure: AuthFailure::NoRoom,
                    });
                    return Ok((out, events));
                }
                let vendor = self.config.vendor_id;
                let mut delivered = vec![current.to_avp(vendor)];
                if let Some(n) = &next {
                    delivered.push(n.to_avp(vendor));
                }
                let ctx = EncapContext {
                    key_id,
                    session_id: s.session_id,
                    seq: s.seq,
                };
                let encap =
                    encrypt_avps(&keys.encr, ctx, &delivered).map_err(|_| "not encrypted")?;
                let par_c = keys
                    .seal(
                        eap_success_par_c(s, result_code::SUCCESS)?
                            .with(Avp::SessionLifetime(lifetime))
                            .with(Avp::KeyId(key_id))
                            .with(encap),
                    )
                    .map_err(|_| "PAR[C] not sealed")?;
                s.outstanding = Some(Outstanding::new(par_c.clone(), s.seq, now, &timers));
                s.phase = Phase::WaitPanC {
                    keys,
                    id_p,
                    i_par,
                    i_pan,
                    key_id,
                };
                out.push((peer, par_c));
            }
            (
                Phase::WaitPanC {
                    keys,
                    id_p,
                    i_par,
                    i_pan,
                    key_id,
                },
                MessageType::Auth,
                false,
            ) if m.flags.contains(Flags::COMPLETE) => {
                keys.verify(datagram)
                    .map_err(|_| "PAN[C] AUTH does not verify")?;
                s.outstanding = None;
                s.phase = Phase::Open {
                    keys,
                    i_par,
                    i_pan,
                    key_id,
                };
                s.expires_at = Some(now + Duration::from_secs(u64::from(lifetime)));
                tracing::info!(peer = ?peer, id_p = %String::from_utf8_lossy(&id_p), key_id, "PANA: terminal authenticated");
                events.push(PaaEvent::Authenticated {
                    peer,
                    id_p,
                    session_id: s.session_id,
                    key_id,
                });
            }
            (Phase::Refused, MessageType::Auth, false) => {
                self.sessions.remove(&peer);
            }
            (
                Phase::Open {
                    keys,
                    i_par,
                    i_pan,
                    key_id,
                },
                MessageType::Notification,
                true,
            ) if m.flags.contains(Flags::REAUTH) => {
                // RFC 5191 §4.3: the PaC asks to re-authenticate; PNA[A], then EAP-PSK
                // again inside the session, every message under the current AUTH key.
                keys.verify(datagram)
                    .map_err(|_| "PNR AUTH does not verify")?;
                if s.outstanding.is_some() {
                    return Err("a request of ours is in flight");
                }
                let pna = keys
                    .seal(Message::new(m.kind, Flags::REAUTH, s.session_id, m.seq))
                    .map_err(|_| "PNA not sealed")?;
                s.last_answer = Some((m.seq, pna.clone()));
                out.push((peer, pna));
                let paa_nonce = random16(entropy);
                let rand_s = random16(entropy);
                let psk1 = PskMessage::First {
                    rand_s,
                    id_s: self.config.id_s.clone(),
                };
                s.seq = s.seq.wrapping_add(1);
                let par = keys
                    .seal(
                        Message::new(MessageType::Auth, Flags::REQUEST, s.session_id, s.seq)
                            .with(Avp::Nonce(paa_nonce.to_vec()))
                            .with(Avp::EapPayload(
                                psk1.emit_eap(1).map_err(|_| "EAP not encoded")?,
                            )),
                    )
                    .map_err(|_| "PAR not sealed")?;
                s.outstanding = Some(Outstanding::new(par.clone(), s.seq, now, &timers));
                s.phase = Phase::WaitPsk2 {
                    i_par,
                    i_pan,
                    paa_nonce,
                    rand_s,
                    old: Some(keys),
                    key_id: key_id.wrapping_add(1),
                };
                out.push((peer, par));
            }
            (Phase::Open { keys, .. }, MessageType::Notification, true) => {
                keys.verify(datagram)
                    .map_err(|_| "PNR AUTH does not verify")?;
                let vendor = self.config.vendor_id;
                if m.avps.iter().any(|a| pana::encr::is_key_request(a, vendor)) {
                    tracing::info!(peer = ?peer, "PANA: the terminal asks for the next group key");
                    events.push(PaaEvent::KeyRequested { peer });
                }
                let flags = if m.flags.contains(Flags::PING) {
                    Flags::PING
                } else {
                    Flags::NONE
                };
                let pna = keys
                    .seal(Message::new(m.kind, flags, s.session_id, m.seq))
                    .map_err(|_| "PNA not sealed")?;
                s.last_answer = Some((m.seq, pna.clone()));
                out.push((peer, pna));
            }
            (Phase::Open { keys, .. }, MessageType::Notification, false) => {
                keys.verify(datagram)
                    .map_err(|_| "PNA AUTH does not verify")?;
                s.outstanding = None;
                if let Some((index, active)) = s.delivering.take() {
                    events.push(PaaEvent::KeyAcknowledged {
                        peer,
                        index,
                        active,
                    });
                }
                if let Some(b) = send_next_key(s, now, &timers, vendor_id) {
                    out.push((peer, b));
                }
            }
            (
                Phase::Open { keys, .. } | Phase::Terminating { keys },
                MessageType::Termination,
                true,
            ) => {
                keys.verify(datagram)
                    .map_err(|_| "PTR AUTH does not verify")?;
                let cause = m
                    .avps
                    .iter()
                    .find_map(|a| match a {
                        Avp::TerminationCause(c) => Some(*c),
                        _ => None,
                    })
                    .unwrap_or(0);
                let pta = keys
                    .seal(Message::new(m.kind, Flags::NONE, s.session_id, m.seq))
                    .map_err(|_| "PTA not sealed")?;
                out.push((peer, pta));
                events.push(PaaEvent::Terminated { peer, cause });
                self.sessions.remove(&peer);
            }
            (Phase::Terminating { keys }, MessageType::Termination, false) => {
                keys.verify(datagram)
                    .map_err(|_| "PTA AUTH does not verify")?;
                events.push(PaaEvent::Terminated {
                    peer,
                    cause: termination_cause::ADMINISTRATIVE,
                });
                self.sessions.remove(&peer);
            }
            _ => return Err("unexpected here"),
        }
        Ok((out, events))
    }
}

/// The PAR\[C\] closing a successful EAP-PSK exchange (EAP-Success) with `result`: the
/// session granted, or no place left for it. The caller adds what else it carries and
/// seals it.
fn eap_success_par_c(s: &Session, result: u32) -> Result<Message, &'static str> {
    Ok(Message::new(
        MessageType::Auth,
        Flags::REQUEST | Flags::COMPLETE,
        s.session_id,
        s.seq,
    )
    .with(Avp::EapPayload(
        Packet::Success { id: 2 }
            .emit()
            .map_err(|_| "EAP not encoded")?,
    ))
    .with(Avp::ResultCode(result)))
}

/// A session that only waits for the PAN[C] answering our refusal.
fn refused_session(
    session_id: u32,
    seq: u32,
    par_c: Vec<u8>,
    now: Duration,
    timers: &PanaTimers,
) -> Session {
    Session {
        session_id,
        phase: Phase::Refused,
        seq,
        outstanding: Some(Outstanding::new(par_c, seq, now, timers)),
        delivering: None,
        queue: VecDeque::new(),
        last_answer: None,
        expected_seq: None,
        started: now,
        expires_at: None,
        last_heard: now,
    }
}

/// Since when an open session with nothing in flight has been silent (`None` when it is
/// not open or a request of ours is out).
fn idle_since(s: &Session) -> Option<Duration> {
    (matches!(s.phase, Phase::Open { .. }) && s.outstanding.is_none()).then_some(s.last_heard)
}

/// Our ping (PNR with the P flag) to an open session, made the request in flight: a
/// silent terminal either answers or is reported lost when the retries run out.
fn ping(s: &mut Session, now: Duration, timers: &PanaTimers) -> Option<Vec<u8>> {
    let Phase::Open { keys, .. } = &s.phase else {
        return None;
    };
    let seq = s.seq.wrapping_add(1);
    let pnr = keys
        .seal(Message::new(
            MessageType::Notification,
            Flags::REQUEST | Flags::PING,
            s.session_id,
            seq,
        ))
        .ok()?;
    s.seq = seq;
    s.outstanding = Some(Outstanding::new(pnr.clone(), seq, now, timers));
    Some(pnr)
}

/// Send the next queued key delivery of an open session (a PNR with the key in an
/// Encryption-Encap AVP).
fn send_next_key(
    s: &mut Session,
    now: Duration,
    timers: &PanaTimers,
    vendor: u32,
) -> Option<Vec<u8>> {
    let Phase::Open { keys, key_id, .. } = &s.phase else {
        return None;
    };
    let key_id = *key_id;
    let key = s.queue.pop_front()?;
    s.seq = s.seq.wrapping_add(1);
    let ctx = EncapContext {
        key_id,
        session_id: s.session_id,
        seq: s.seq,
    };
    let encap = encrypt_avps(&keys.encr, ctx, &[key.to_avp(vendor)]).ok()?;
    let pnr = keys
        .seal(
            Message::new(
                MessageType::Notification,
                Flags::REQUEST,
                s.session_id,
                s.seq,
            )
            .with(Avp::KeyId(key_id))
            .with(encap),
        )
        .ok()?;
    s.outstanding = Some(Outstanding::new(pnr.clone(), s.seq, now, timers));
    s.delivering = Some((key.index, key.active));
    Some(pnr)
}
