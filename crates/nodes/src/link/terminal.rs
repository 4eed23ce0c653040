//! The wireless terminal's radio side of the IoT route: active scan with the Pairing ID
//! over the configured channels (CON-01), choice of the smart meter with the strongest
//! beacon (CON-02), authentication as PaC (SEC-02), the group key in the MAC (SEC-03),
//! keep-alive, and on loss or refusal the next-best smart meter of the last scan, then a
//! new scan after an exponential back-off.
//!
//! Sans-IO: the caller tunes its medium to [`Terminal::channel`], feeds frames and time,
//! answers carrier sense and puts what comes out on the air.

use core::time::Duration;

use lowpan::UdpDatagram;
use pana::encr::GroupKey;
use pana::psk::identity_from_eui64;
use wisun::mac::beacon::enhanced_beacon_request;
use wisun::mac::{Address, Eui64};
use wisun::pairing_id::PairingIeContent;
use wisun::PairingId;

use super::frame_counters::CounterSnapshot;
use super::mac::{Mac, MacConfig, MacDst};
use super::net::{Net, NetConfig, NetError, NetEvent, PANA_PORT};
use super::pana::pac::{Pac, PacConfig, PacEvent, PacFailure};
use super::pana::{Entropy, PanaTimers};
use super::profile::LinkProfile;

/// Configuration.
#[derive(Debug, Clone)]
pub struct TerminalConfig {
    /// MAC settings (our EUI-64 among them).
    pub mac: MacConfig,
    /// The Pairing ID registered for our utility (CON-04).
    pub pairing_id: PairingId,
    /// What is not public and ours: the Pairing ID IE's format, the PANA Vendor-Id, the
    /// PSK derivation (must match the smart meters').
    pub profile: LinkProfile,
    /// Channels to scan, in order (33-60).
    pub channels: Vec<u8>,
    /// How long to listen for beacons on each channel **(ours: 200 ms — a beacon comes
    /// back within a few milliseconds plus the smart meter's CSMA)**.
    pub scan_window: Duration,
    /// Our authentication ID (ID_P).
    pub auth_id: Vec<u8>,
    /// Our password.
    pub password: Vec<u8>,
    /// PANA timers.
    pub pana: PanaTimers,
    /// First back-off before scanning again when no smart meter took us; doubles up to
    /// `max_backoff`.
    pub backoff: Duration,
    /// Longest back-off.
    pub max_backoff: Duration,
    /// The IPv6 interface.
    pub net: NetConfig,
}

/// A smart meter heard in a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Its EUI-64.
    pub eui64: Eui64,
    /// Its PAN.
    pub pan_id: u16,
    /// The channel.
    pub channel: u8,
    /// The beacon's signal strength, dBm.
    pub rssi_dbm: i16,
    /// Its LQI.
    pub lqi: u8,
}

/// What the terminal must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TerminalEvent {
    /// A scan ended with these smart meters, strongest first.
    Scanned(Vec<Candidate>),
    /// Authenticated to a smart meter: the link is up.
    Joined(Candidate),
    /// A smart meter refused us or failed to authenticate.
    JoinFailed {
        /// Which.
        meter: Eui64,
        /// Why.
        failure: PacFailure,
    },
    /// The PANA session was re-authenticated (RFC 5191 §4.3): new PANA keys, the group
    /// keys delivered again, the same link.
    Reauthenticated(Eui64),
    /// The link to the smart meter is gone (no answer to pings, terminated).
    Lost(Eui64),
    /// A UDP datagram from the smart meter (DLMS requests).
    Udp {
        /// The sender.
        from: Eui64,
        /// The datagram.
        datagram: UdpDatagram,
    },
    /// A group key was installed (`active`: we now send with it).
    KeyInstalled {
        /// Its index.
        index: u8,
        /// Whether it is the one we send with.
        active: bool,
    },
}

/// Where the link is, for the LED (TRM-10) and `terminal status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPhase {
    /// Looking for a smart meter (scanning, or waiting to scan again).
    Scanning,
    /// Authenticating to one (PANA + EAP-PSK).
    Authenticating(Candidate),
    /// Linked to it.
    Connected(Candidate),
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TerminalStats {
    /// Scans started.
    pub scans: u64,
    /// Beacons with our Pairing ID heard.
    pub beacons: u64,
    /// Beacons ignored (another Pairing ID, none, or invalid).
    pub beacons_ignored: u64,
    /// Authentications that succeeded.
    pub joins: u64,
    /// Authentications that failed.
    pub join_failures: u64,
    /// Links lost.
    pub losses: u64,
    /// Sessions re-authenticated before their lifetime ran out.
    pub renewals: u64,
    /// Key requests sent (our frame counter neared its limit).
    pub key_requests: u64,
}

#[derive(Debug)]
enum State {
    /// Listening on `channels[index]` until `until`, beacons collected so far.
    Scanning {
        index: usize,
        until: Duration,
        found: Vec<Candidate>,
    },
    /// Authenticating to `candidates[index]`.
    Joining {
        candidates: Vec<Candidate>,
        index: usize,
        pac: Box<Pac>,
    },
    /// Linked to `candidates[index]`.
    Connected {
        candidates: Vec<Candidate>,
        index: usize,
        pac: Box<Pac>,
    },
    /// Waiting to scan again.
    Backoff { until: Duration },
}

/// The terminal's link.
pub struct Terminal {
    config: TerminalConfig,
    net: Net,
    entropy: Box<dyn Entropy + Send>,
    state: State,
    backoff: Duration,
    /// When to authenticate again, before the PANA session's lifetime runs out.
    renew_at: Option<Duration>,
    /// The send key we asked the smart meter to replace (once per key).
    key_requested: Option<u8>,
    stats: TerminalStats,
}

impl core::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Terminal")
            .field("eui64", &self.net.mac().eui64())
            .field("meter", &self.meter())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Terminal {
    /// A terminal that starts scanning at `now`.
    pub fn new(
        config: TerminalConfig,
        mut entropy: Box<dyn Entropy + Send>,
        now: Duration,
    ) -> Self {
        let tag = {
            let mut b = [0; 2];
            entropy.fill(&mut b);
            u16::from_be_bytes(b)
        };
        let net = Net::new(Mac::new(config.mac.clone()), config.net.clone(), tag);
        let mut t = Self {
            backoff: config.backoff,
            config,
            net,
            entropy,
            state: State::Backoff { until: now },
            renew_at: None,
            key_requested: None,
            stats: TerminalStats::default(),
        };
        t.scan(now);
        t
    }

    /// Our EUI-64.
    #[must_use]
    pub const fn eui64(&self) -> Eui64 {
        self.net.mac().eui64()
    }

    /// Counters.
    #[must_use]
    pub const fn stats(&self) -> TerminalStats {
        self.stats
    }

    /// The interface (for its counters).
    #[must_use]
    pub const fn net(&self) -> &Net {
        &self.net
    }

    /// The channel the radio must listen on now (`None`: radio idle, backing off).
    #[must_use]
    pub fn channel(&self) -> Option<u8> {
        match &self.state {
            State::Scanning { index, .. } => self.config.channels.get(*index).copied(),
            State::Joining {
                candidates, index, ..
            }
            | State::Connected {
                candidates, index, ..
            } => candidates.get(*index).map(|c| c.channel),
            State::Backoff { .. } => None,
        }
    }

    /// A new Pairing ID (TRM-08, set by a client over DLMS): used from the next scan;
    /// the link up now stays up.
    pub fn set_pairing_id(&mut self, id: PairingId) {
        tracing::info!("new Pairing ID: used from the next scan");
        self.config.pairing_id = id;
        // The other smart meters of the last scan answered the old ID: none of them is
        // a fallback any more (the one linked now stays until it is lost).
        match &mut self.state {
            State::Scanning { found, .. } => found.clear(),
            State::Joining {
                candidates, index, ..
            }
            | State::Connected {
                candidates, index, ..
            } => {
                let current = candidates.get(*index).copied();
                candidates.clear();
                candidates.extend(current);
                *index = 0;
            }
            State::Backoff { .. } => {}
        }
    }

    /// A new authentication password (TRM-08): used from the next authentication to a
    /// smart meter; a re-authentication inside the session up now keeps its key.
    pub fn set_password(&mut self, password: Vec<u8>) {
        tracing::info!("new authentication password: used from the next authentication");
        self.config.password = password;
    }

    /// Where the link is.
    #[must_use]
    pub fn phase(&self) -> LinkPhase {
        match &self.state {
            State::Scanning { .. } | State::Backoff { .. } => LinkPhase::Scanning,
            State::Joining {
                candidates, index, ..
            } => candidates
                .get(*index)
                .map_or(LinkPhase::Scanning, |c| LinkPhase::Authenticating(*c)),
            State::Connected {
                candidates, index, ..
            } => candidates
                .get(*index)
                .map_or(LinkPhase::Scanning, |c| LinkPhase::Connected(*c)),
        }
    }

    /// The smart meter we are linked to.
    #[must_use]
    pub fn meter(&self) -> Option<Eui64> {
        match &self.state {
            State::Connected {
                candidates, index, ..
            } => candidates.get(*index).map(|c| c.eui64),
            _ => None,
        }
    }

    /// Send a UDP datagram to the smart meter we are linked to, secured.
    ///
    /// # Errors
    /// [`NetError`]; nothing is sent while not linked.
    pub fn send_udp(
        &mut self,
        now: Duration,
        ports: (u16, u16),
        payload: Vec<u8>,
    ) -> Result<(), NetError> {
        let Some(meter) = self.meter() else {
            return Err(NetError::Encode("not linked to a smart meter".to_owned()));
        };
        let events = self
            .net
            .send_udp(now, MacDst::Unicast(meter), ports, payload, true)?;
        if events.contains(&NetEvent::RekeyNeeded) {
            self.request_key(now);
        }
        Ok(())
    }

    /// Start a scan on the first channel.
    fn scan(&mut self, now: Duration) {
        self.stats.scans += 1;
        self.net.mac_mut().set_pan(None);
        self.net.mac_mut().clear_keys();
        self.state = State::Scanning {
            index: 0,
            until: now + self.config.scan_window,
            found: Vec::new(),
        };
        self.send_beacon_request(now);
    }

    fn send_beacon_request(&mut self, now: Duration) {
        let ebr = enhanced_beacon_request(
            0,
            self.eui64(),
            &self.config.pairing_id,
            &self.config.profile.pairing_format,
        );
        if let Err(e) = self.net.mac_mut().send_frame(now, ebr) {
            tracing::warn!(error = %e, "beacon request not sent");
        }
    }

    /// When [`Terminal::wake`] next has something to do.
    #[must_use]
    pub fn next_wakeup(&self) -> Option<Duration> {
        let own = match &self.state {
            State::Scanning { until, .. } | State::Backoff { until } => Some(*until),
            State::Joining { pac, .. } => pac.next_timeout(),
            State::Connected { pac, .. } => [pac.next_timeout(), self.renew_at]
                .into_iter()
                .flatten()
                .min(),
        };
        [own, self.net.next_wakeup()].into_iter().flatten().min()
    }

    /// Timers due at `now` and the next frame to put on the air, if any.
    pub fn wake(
        &mut self,
        now: Duration,
        channel_busy: &mut dyn FnMut() -> bool,
        air_time: &dyn Fn(usize) -> Duration,
    ) -> (Option<Vec<u8>>, Vec<TerminalEvent>) {
        let mut events = Vec::new();
        self.timers(now, &mut events);
        let (psdu, net_events) = self.net.wake(now, channel_busy, air_time);
        for e in net_events {
            self.net_event(now, e, &mut events);
        }
        (psdu, events)
    }

    /// A frame received: the acknowledgment to send at once, if any, and events.
    pub fn receive(
        &mut self,
        now: Duration,
        psdu: &[u8],
        rssi_dbm: i16,
        lqi: u8,
        air_time: &dyn Fn(usize) -> Duration,
    ) -> (Option<Vec<u8>>, Vec<TerminalEvent>) {
        let (ack, net_events) = self.net.receive(now, psdu, rssi_dbm, lqi, air_time);
        let mut events = Vec::new();
        for e in net_events {
            self.net_event(now, e, &mut events);
        }
        (ack, events)
    }

    fn timers(&mut self, now: Duration, events: &mut Vec<TerminalEvent>) {
        if matches!(self.state, State::Connected { .. }) && self.renew_at.is_some_and(|t| now >= t)
        {
            self.renew(now);
            return;
        }
        match &mut self.state {
            State::Scanning {
                index,
                until,
                found,
            } if now >= *until => {
                if *index + 1 < self.config.channels.len() {
                    *index += 1;
                    *until = now + self.config.scan_window;
                    self.send_beacon_request(now);
                } else {
                    let mut found = core::mem::take(found);
                    // CON-02: the strongest first.
                    found.sort_by(|a, b| {
                        b.rssi_dbm.cmp(&a.rssi_dbm).then(a.eui64.0.cmp(&b.eui64.0))
                    });
                    events.push(TerminalEvent::Scanned(found.clone()));
                    self.try_candidate(now, found, 0);
                }
            }
            State::Backoff { until } if now >= *until => self.scan(now),
            State::Joining { pac, .. } | State::Connected { pac, .. } => {
                let (out, pac_events) = pac.poll(now);
                for bytes in out {
                    self.send_pana(now, bytes);
                }
                for e in pac_events {
                    self.pac_event(now, e, events);
                }
            }
            _ => {}
        }
    }

    /// Re-authenticate the PANA session before its lifetime runs out **(ours: at 90 % of
    /// it)**, inside the session: PNR with the A flag, EAP-PSK again under the current
    /// AUTH key (RFC 5191 §4.3). The link stays up meanwhile; the PAR[C] that ends it
    /// brings a new lifetime. With a request of ours in flight (a ping still retrying),
    /// try again a second later.
    fn renew(&mut self, now: Duration) {
        self.renew_at = None;
        let State::Connected { pac, .. } = &mut self.state else {
            return;
        };
        if let Some(pnr) = pac.reauthenticate(now) {
            tracing::info!(meter = ?self.meter(), "re-authenticating the PANA session");
            self.send_pana(now, pnr);
        } else {
            self.renew_at = Some(now + Duration::from_secs(1));
        }
    }

    /// Our frame counter under the send key nears its limit (SEC-03: it must never
    /// wrap): ask the smart meter for the next group key, once per key. With a request of
    /// ours in flight, the next frame's notice asks again.
    fn request_key(&mut self, now: Duration) {
        let key = self.net.mac().tx_key();
        if key.is_none() || key == self.key_requested {
            return;
        }
        let State::Connected { pac, .. } = &mut self.state else {
            return;
        };
        if let Some(pnr) = pac.request_key(now) {
            tracing::info!(index = ?key, "frame counter near its limit: asking for the next group key");
            self.key_requested = key;
            self.stats.key_requests += 1;
            self.send_pana(now, pnr);
        }
    }

    /// A group key from the PAA into the MAC: whether it was taken (a key we retired is
    /// not, SEC-03).
    fn install_key(&mut self, now: Duration, k: &GroupKey) -> bool {
        match self
            .net
            .mac_mut()
            .install_key(now, k.index, *k.key.as_bytes(), k.active)
        {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "group key not installed");
                false
            }
        }
    }

    /// Our frame counters to persist, when a reservation moved (SEC-03): the driver
    /// writes them before the next frame goes on the air.
    pub fn take_counter_snapshot(&mut self) -> Option<CounterSnapshot> {
        self.net.mac_mut().take_counter_snapshot()
    }

    /// Resume the frame counters persisted by an earlier run (before the first secured
    /// frame: right after [`Terminal::new`]).
    pub fn restore_counters(&mut self, snapshot: &CounterSnapshot) {
        self.net.mac_mut().restore_counters(snapshot);
    }

    fn pac_config(&self, c: &Candidate) -> PacConfig {
        let mut config = PacConfig::new(self.config.auth_id.clone(), self.config.password.clone());
        config.expected_id_s = Some(identity_from_eui64(c.eui64.0).into_bytes());
        config.derivation = self.config.profile.psk.clone();
        config.vendor_id = self.config.profile.vendor_id;
        config.timers = self.config.pana;
        config
    }

    /// Authenticate to `candidates[index]`, or back off when none is left.
    fn try_candidate(&mut self, now: Duration, candidates: Vec<Candidate>, index: usize) {
        self.renew_at = None;
        let Some(c) = candidates.get(index).copied() else {
            let until = now + self.backoff;
            tracing::info!(backoff = ?self.backoff, "no smart meter took us: scanning again later");
            self.backoff = (self.backoff * 2).min(self.config.max_backoff);
            self.net.mac_mut().set_pan(None);
            self.state = State::Backoff { until };
            return;
        };
        self.net.mac_mut().set_pan(Some(c.pan_id));
        self.net.mac_mut().clear_keys();
        let mut pac = Box::new(Pac::new(self.pac_config(&c)));
        match pac.start(now) {
            Ok(pci) => {
                self.state = State::Joining {
                    candidates,
                    index,
                    pac,
                };
                self.send_pana(now, pci);
            }
            Err(e) => tracing::error!(error = %e, "PANA could not start"),
        }
    }

    fn send_pana(&mut self, now: Duration, bytes: Vec<u8>) {
        let meter = match &self.state {
            State::Joining {
                candidates, index, ..
            }
            | State::Connected {
                candidates, index, ..
            } => candidates.get(*index).map(|c| c.eui64),
            _ => None,
        };
        if let Some(m) = meter {
            if let Err(e) = self.net.send_udp(
                now,
                MacDst::Unicast(m),
                (PANA_PORT, PANA_PORT),
                bytes,
                false,
            ) {
                tracing::warn!(error = %e, "PANA message not sent");
            }
        }
    }

    fn net_event(&mut self, now: Duration, e: NetEvent, events: &mut Vec<TerminalEvent>) {
        match e {
            NetEvent::Frame {
                frame,
                rssi_dbm,
                lqi,
                ..
            } if frame.is_enhanced_beacon() => {
                let State::Scanning { index, found, .. } = &mut self.state else {
                    return;
                };
                let ours = matches!(
                    self.config.profile.pairing_format.find(&frame.header.header_ies),
                    PairingIeContent::Valid(id) if id == self.config.pairing_id
                );
                let (Some(Address::Extended(eui64)), Some(pan_id)) =
                    (frame.header.src, frame.header.src_pan)
                else {
                    self.stats.beacons_ignored += 1;
                    return;
                };
                if !ours {
                    self.stats.beacons_ignored += 1;
                    return;
                }
                self.stats.beacons += 1;
                let channel = self.config.channels.get(*index).copied().unwrap_or(0);
                if !found.iter().any(|c| c.eui64 == eui64) {
                    found.push(Candidate {
                        eui64,
                        pan_id,
                        channel,
                        rssi_dbm,
                        lqi,
                    });
                }
            }
            NetEvent::Udp { datagram, from, .. } if datagram.dst_port == PANA_PORT => {
                let (answer, pac_events) = match &mut self.state {
                    State::Joining {
                        pac,
                        candidates,
                        index,
                    }
                    | State::Connected {
                        pac,
                        candidates,
                        index,
                    } if candidates.get(*index).map(|c| c.eui64) == Some(from) => {
                        pac.handle(now, &mut *self.entropy, &datagram.payload)
                    }
                    _ => return,
                };
                if let Some(a) = answer {
                    self.send_pana(now, a);
                }
                for e in pac_events {
                    self.pac_event(now, e, events);
                }
            }
            NetEvent::Udp { datagram, from, .. } => {
                if self.meter() == Some(from) {
                    events.push(TerminalEvent::Udp { from, datagram });
                }
            }
            NetEvent::RekeyNeeded => self.request_key(now),
            NetEvent::Frame { .. } | NetEvent::SendFailed { .. } => {}
        }
    }

    fn pac_event(&mut self, now: Duration, e: PacEvent, events: &mut Vec<TerminalEvent>) {
        let state = core::mem::replace(&mut self.state, State::Backoff { until: now });
        match (state, e) {
            (
                State::Joining {
                    candidates,
                    index,
                    pac,
                },
                PacEvent::Authenticated {
                    keys, lifetime_s, ..
                },
            ) => {
                self.renew_at = (lifetime_s > 0)
                    .then(|| now + Duration::from_secs(u64::from(lifetime_s)) * 9 / 10);
                for k in &keys {
                    if self.install_key(now, k) {
                        events.push(TerminalEvent::KeyInstalled {
                            index: k.index,
                            active: k.active,
                        });
                    }
                }
                self.stats.joins += 1;
                self.backoff = self.config.backoff;
                if let Some(c) = candidates.get(index) {
                    tracing::info!(meter = ?c.eui64, channel = c.channel, "joined");
                    events.push(TerminalEvent::Joined(*c));
                }
                self.state = State::Connected {
                    candidates,
                    index,
                    pac,
                };
            }
            (
                state @ State::Connected { .. },
                PacEvent::Authenticated {
                    keys, lifetime_s, ..
                },
            ) => {
                self.renew_at = (lifetime_s > 0)
                    .then(|| now + Duration::from_secs(u64::from(lifetime_s)) * 9 / 10);
                self.state = state;
                for k in &keys {
                    let known = self.net.mac().has_key(k.index);
                    if self.install_key(now, k) && !known {
                        events.push(TerminalEvent::KeyInstalled {
                            index: k.index,
                            active: k.active,
                        });
                    }
                }
                self.stats.renewals += 1;
                if let Some(m) = self.meter() {
                    tracing::info!(meter = ?m, "PANA session re-authenticated");
                    events.push(TerminalEvent::Reauthenticated(m));
                }
            }
            (state @ State::Connected { .. }, PacEvent::GroupKey(k)) => {
                self.state = state;
                if self.install_key(now, &k) {
                    if k.active {
                        // A new send key: its counter starts afresh (indices wrap 255 → 1).
                        self.key_requested = None;
                    }
                    events.push(TerminalEvent::KeyInstalled {
                        index: k.index,
                        active: k.active,
                    });
                }
            }
            (
                State::Joining {
                    candidates, index, ..
                }
                | State::Connected {
                    candidates, index, ..
                },
                PacEvent::Failed(failure),
            ) => {
                self.stats.join_failures += 1;
                if let Some(c) = candidates.get(index) {
                    tracing::warn!(meter = ?c.eui64, %failure, "authentication failed");
                    events.push(TerminalEvent::JoinFailed {
                        meter: c.eui64,
                        failure,
                    });
                }
                // The next-best smart meter of the same scan.
                self.try_candidate(now, candidates, index + 1);
            }
            (
                State::Connected {
                    candidates, index, ..
                },
                PacEvent::Lost | PacEvent::Terminated(_),
            ) => {
                self.stats.losses += 1;
                if let Some(c) = candidates.get(index) {
                    tracing::warn!(meter = ?c.eui64, "link lost");
                    events.push(TerminalEvent::Lost(c.eui64));
                }
                self.try_candidate(now, candidates, index + 1);
            }
            (state, e) => {
                tracing::debug!(event = ?e, "PANA event ignored in this state");
                self.state = state;
            }
        }
    }
}
