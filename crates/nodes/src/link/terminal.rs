//! The wireless terminal's radio side of the IoT route: active scan with the Pairing ID
//! over the configured channels (CON-01), choice of the smart meter with the strongest
//! beacon (CON-02), authentication as PaC (SEC-02), the group key in the MAC (SEC-03),
//! keep-alive, and on loss or refusal the next-best smart meter of the last scan, then a
//! new scan after an exponential back-off.
//!
//! Flood detection (SEC-08): every frame handed to [`Terminal::receive`], refused or
//! not, is counted by its MAC source ([`RadioFloodLimits`]); an alarm is queued for
//! [`Terminal::take_flood_alarms`] and refuses nothing.
//!
//! Sans-IO: the caller tunes its medium to [`Terminal::channel`], feeds frames and time,
//! answers carrier sense and puts what comes out on the air.

use core::time::Duration;
use std::collections::VecDeque;

use lowpan::UdpDatagram;
use pana::encr::GroupKey;
use pana::psk::identity_from_eui64;
use wisun::mac::beacon::enhanced_beacon_request;
use wisun::mac::{Address, Eui64};
use wisun::pairing_id::PairingIeContent;
use wisun::PairingId;

use super::frame_counters::CounterSnapshot;
use super::mac::{FrameSource, Mac, MacConfig, MacDst};
use super::net::{Net, NetConfig, NetError, NetEvent, PANA_PORT};
use super::pana::pac::{Pac, PacConfig, PacEvent, PacFailure};
use super::pana::{Entropy, PanaTimers};
use super::profile::LinkProfile;
use crate::flood::{DosAlarm, FloodConfig, FloodDetector};

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
    /// Radio floods detected (SEC-08): the alarms queued for
    /// [`Terminal::take_flood_alarms`].
    pub floods_detected: u64,
}

/// The radio side's flood limits (SEC-08, ours). Every received frame counts in exactly
/// one of the two detectors, by its MAC source ([`FrameSource`]: the header's address,
/// or one pseudo-source for all the frames that do not parse), over one-second windows;
/// a source over its limit raises one alarm, then none of that kind for 60 s; all
/// sources together over the total limit (a flood spread over forged addresses) raise
/// one alarm with no source. At most 256 sources are tracked per detector.
///
/// At 100 kbit/s even an acknowledgment is 1.4 ms on the air and a data frame 3 ms or
/// more: no sender gets more than a few hundred frames a second on the air, an honest one
/// (CSMA-CA, waiting for acknowledgments) far fewer; the smart meter sends a few frames
/// per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RadioFloodLimits {
    /// Frames the MAC did not refuse (accepted, duplicates, acknowledgments, frames for
    /// another node or PAN): over 100 a second from one source, over 1,000 from all
    /// ([`FloodConfig::default`], as on the ECHONET side).
    pub frames: FloodConfig,
    /// Frames the MAC refused ([`super::mac::Refusal`]: bad FCS or malformed, MIC
    /// failure or unknown key, replay, unsecured): over 20 a second from one source (the
    /// unparsable ones together are one source), over 200 from all. No honest sender
    /// makes them at a rate; each one costs a parse, most an AES-CCM* pass.
    pub refused: FloodConfig,
}

impl Default for RadioFloodLimits {
    fn default() -> Self {
        Self {
            frames: FloodConfig::default(),
            refused: FloodConfig {
                source_limit: 20,
                total_limit: 200,
                ..FloodConfig::default()
            },
        }
    }
}

/// What a radio flood was made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RadioFloodKind {
    /// Frames the MAC did not refuse ([`RadioFloodLimits::frames`]).
    Frames,
    /// Frames the MAC refused ([`RadioFloodLimits::refused`]).
    Refused,
}

/// A flood on the radio side (SEC-08). Detection only: the frames went on to the MAC's
/// own rules, the smart meter's as ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RadioFlood {
    /// When (the caller's time).
    pub at: Duration,
    /// Which frames.
    pub kind: RadioFloodKind,
    /// The source over its limit (as the frames claim it: forged frames name whom they
    /// like), or `None` for all sources together.
    pub source: Option<FrameSource>,
    /// Frames of that kind counted within the window when the limit was passed.
    pub frames: u32,
    /// The window.
    pub window: Duration,
}

impl RadioFlood {
    /// The source as text (an EUI-64 `02:11:…`, `short:1234`, `unparsable`,
    /// `no-source-address`); empty for all sources together.
    #[must_use]
    pub fn source_text(&self) -> String {
        self.source.map(|s| s.to_string()).unwrap_or_default()
    }

    /// The alarm as the terminal node reports it (SEC-08: event log, push).
    #[must_use]
    pub fn report(&self) -> crate::flood::FloodReport {
        crate::flood::FloodReport {
            side: crate::flood::FloodSide::Radio,
            source: self.source.map(|s| s.to_string()),
            count: self.frames,
            window: self.window,
        }
    }
}

/// The radio side's two detectors and the alarms not yet taken.
#[derive(Debug)]
struct RadioFloodWatch {
    frames: FloodDetector<FrameSource, Duration>,
    /// Made at the first refused frame, under `refused_limits`: a terminal may hear
    /// none in its life (none in a simulated day of a thousand), and the detector
    /// took 336 bytes of every terminal of a large simulation.
    refused: Option<Box<FloodDetector<FrameSource, Duration>>>,
    refused_limits: FloodConfig,
    alarms: VecDeque<RadioFlood>,
}

impl RadioFloodWatch {
    /// Alarms kept until taken (the oldest go first): a driver that never takes them
    /// must not grow us without end.
    const MAX_QUEUED: usize = 64;

    fn new(limits: RadioFloodLimits) -> Self {
        Self {
            frames: FloodDetector::new(limits.frames),
            refused: None,
            refused_limits: limits.refused,
            alarms: VecDeque::new(),
        }
    }

    /// Count one frame; the alarm it raises, if any.
    fn count(&mut self, now: Duration, source: FrameSource, refused: bool) -> Option<RadioFlood> {
        let (kind, detector) = if refused {
            let limits = self.refused_limits;
            let made = self
                .refused
                .get_or_insert_with(|| Box::new(FloodDetector::new(limits)));
            (RadioFloodKind::Refused, &mut **made)
        } else {
            (RadioFloodKind::Frames, &mut self.frames)
        };
        let DosAlarm {
            source,
            datagrams,
            window,
        } = detector.count(now, source)?;
        let alarm = RadioFlood {
            at: now,
            kind,
            source,
            frames: datagrams,
            window,
        };
        if self.alarms.len() >= Self::MAX_QUEUED {
            self.alarms.pop_front();
        }
        self.alarms.push_back(alarm);
        Some(alarm)
    }
}

#[derive(Debug)]
enum State {
    /// Listening on `channels[index]` until `until`, beacons collected so far.
    Scanning {
        index: usize,
        until: Duration,
        found: Vec<Candidate>,
    },
    /// Authenticating to `current`, `candidates[index]` (kept beside the list: looked
    /// at whenever the terminal is woken, it costs no second cache miss).
    Joining {
        candidates: Vec<Candidate>,
        index: usize,
        current: Candidate,
        pac: Box<Pac>,
    },
    /// Linked to `current`, `candidates[index]`.
    Connected {
        candidates: Vec<Candidate>,
        index: usize,
        current: Candidate,
        pac: Box<Pac>,
    },
    /// Waiting to scan again.
    Backoff { until: Duration },
}

/// The terminal's link.
pub struct Terminal {
    settings: Settings,
    net: Net,
    entropy: Box<dyn Entropy + Send>,
    state: State,
    backoff: Duration,
    /// When to authenticate again, before the PANA session's lifetime runs out.
    renew_at: Option<Duration>,
    /// The send key we asked the smart meter to replace (once per key).
    key_requested: Option<u8>,
    /// SEC-08 on the radio side.
    floods: RadioFloodWatch,
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

/// The link's configuration less the MAC's and the interface's, which those layers
/// keep (one copy each, where the link held a second: 224 bytes of a terminal a large
/// simulation holds a million of); [`Terminal::config`] puts the three together.
#[derive(Debug, Clone)]
struct Settings {
    pairing_id: PairingId,
    profile: LinkProfile,
    channels: Vec<u8>,
    scan_window: Duration,
    auth_id: Vec<u8>,
    password: Vec<u8>,
    pana: PanaTimers,
    backoff: Duration,
    max_backoff: Duration,
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
        let net = Net::new(Mac::new(config.mac), config.net, tag);
        let mut t = Self {
            backoff: config.backoff,
            settings: Settings {
                pairing_id: config.pairing_id,
                profile: config.profile,
                channels: config.channels,
                scan_window: config.scan_window,
                auth_id: config.auth_id,
                password: config.password,
                pana: config.pana,
                backoff: config.backoff,
                max_backoff: config.max_backoff,
            },
            net,
            entropy,
            state: State::Backoff { until: now },
            renew_at: None,
            key_requested: None,
            floods: RadioFloodWatch::new(RadioFloodLimits::default()),
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

    /// Replace the radio flood limits (SEC-08; the counts start again).
    pub fn set_flood_limits(&mut self, limits: RadioFloodLimits) {
        self.floods = RadioFloodWatch::new(limits);
    }

    /// Whether a flood was found that [`Terminal::take_flood_alarms`] has not taken.
    #[must_use]
    pub fn flood_alarms_pending(&self) -> bool {
        !self.floods.alarms.is_empty()
    }

    /// The radio floods detected since the last call, oldest first (at most 64 kept; all
    /// are counted in [`TerminalStats::floods_detected`]): for the driver to log and
    /// report.
    pub fn take_flood_alarms(&mut self) -> Vec<RadioFlood> {
        self.floods.alarms.drain(..).collect()
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
            State::Scanning { index, .. } => self.settings.channels.get(*index).copied(),
            State::Joining { current, .. } | State::Connected { current, .. } => {
                Some(current.channel)
            }
            State::Backoff { .. } => None,
        }
    }

    /// A new Pairing ID (TRM-08, set by a client over DLMS): used from the next scan;
    /// the link up now stays up.
    pub fn set_pairing_id(&mut self, id: PairingId) {
        tracing::info!("new Pairing ID: used from the next scan");
        self.settings.pairing_id = id;
        // The other smart meters of the last scan answered the old ID: none of them is
        // a fallback any more (the one linked now stays until it is lost).
        match &mut self.state {
            State::Scanning { found, .. } => found.clear(),
            State::Joining {
                candidates,
                index,
                current,
                ..
            }
            | State::Connected {
                candidates,
                index,
                current,
                ..
            } => {
                candidates.clear();
                candidates.push(*current);
                *index = 0;
            }
            State::Backoff { .. } => {}
        }
    }

    /// Its configuration as it stands (a new password or Pairing ID included): what
    /// it boots with again.
    #[must_use]
    pub fn config(&self) -> TerminalConfig {
        let s = self.settings.clone();
        TerminalConfig {
            mac: self.net.mac().config().clone(),
            pairing_id: s.pairing_id,
            profile: s.profile,
            channels: s.channels,
            scan_window: s.scan_window,
            auth_id: s.auth_id,
            password: s.password,
            pana: s.pana,
            backoff: s.backoff,
            max_backoff: s.max_backoff,
            net: self.net.config().clone(),
        }
    }

    /// A new authentication password (TRM-08): used from the next authentication to a
    /// smart meter, the next re-authentication inside the session up now included (an
    /// authentication under way goes on with the password it started with).
    pub fn set_password(&mut self, password: Vec<u8>) {
        tracing::info!("new authentication password: used from the next authentication");
        if let State::Connected { pac, .. } = &mut self.state {
            pac.set_password(password.clone());
        }
        self.settings.password = password;
    }

    /// Where the link is.
    #[must_use]
    pub fn phase(&self) -> LinkPhase {
        match &self.state {
            State::Scanning { .. } | State::Backoff { .. } => LinkPhase::Scanning,
            State::Joining { current, .. } => LinkPhase::Authenticating(*current),
            State::Connected { current, .. } => LinkPhase::Connected(*current),
        }
    }

    /// The smart meter we are linked to.
    #[must_use]
    pub fn meter(&self) -> Option<Eui64> {
        match &self.state {
            State::Connected { current, .. } => Some(current.eui64),
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
            until: now + self.settings.scan_window,
            found: Vec::new(),
        };
        self.send_beacon_request(now);
    }

    fn send_beacon_request(&mut self, now: Duration) {
        let ebr = enhanced_beacon_request(
            0,
            self.eui64(),
            &self.settings.pairing_id,
            &self.settings.profile.pairing_format,
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

    /// A frame received: the acknowledgment to send at once, if any, and events. Every
    /// frame is counted for flood detection (SEC-08), refused or not; a flood raises an
    /// alarm ([`Terminal::take_flood_alarms`]) and never refuses a frame.
    pub fn receive(
        &mut self,
        now: Duration,
        psdu: &[u8],
        rssi_dbm: i16,
        lqi: u8,
        air_time: &dyn Fn(usize) -> Duration,
    ) -> (Option<Vec<u8>>, Vec<TerminalEvent>) {
        let (ack, net_events) = self.net.receive(now, psdu, rssi_dbm, lqi, air_time);
        if let Some(r) = self.net.mac().last_reception() {
            if let Some(alarm) = self.floods.count(now, r.source, r.refusal.is_some()) {
                self.stats.floods_detected += 1;
                tracing::warn!(
                    source = %alarm.source_text(),
                    kind = ?alarm.kind,
                    frames = alarm.frames,
                    "SEC-08: radio flood detected (nothing refused for it)"
                );
            }
        }
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
                if *index + 1 < self.settings.channels.len() {
                    *index += 1;
                    *until = now + self.settings.scan_window;
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
        let mut config = PacConfig::new(
            self.settings.auth_id.clone(),
            self.settings.password.clone(),
        );
        config.expected_id_s = Some(identity_from_eui64(c.eui64.0).into_bytes());
        config.derivation = self.settings.profile.psk.clone();
        config.vendor_id = self.settings.profile.vendor_id;
        config.timers = self.settings.pana;
        config
    }

    /// Authenticate to `candidates[index]`, or back off when none is left.
    fn try_candidate(&mut self, now: Duration, candidates: Vec<Candidate>, index: usize) {
        self.renew_at = None;
        let Some(c) = candidates.get(index).copied() else {
            let until = now + self.backoff;
            tracing::info!(backoff = ?self.backoff, "no smart meter took us: scanning again later");
            self.backoff = (self.backoff * 2).min(self.settings.max_backoff);
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
                    current: c,
                    pac,
                };
                self.send_pana(now, pci);
            }
            Err(e) => tracing::error!(error = %e, "PANA could not start"),
        }
    }

    fn send_pana(&mut self, now: Duration, bytes: Vec<u8>) {
        let meter = match &self.state {
            State::Joining { current, .. } | State::Connected { current, .. } => {
                Some(current.eui64)
            }
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
                    self.settings.profile.pairing_format.find(&frame.header.header_ies),
                    PairingIeContent::Valid(id) if id == self.settings.pairing_id
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
                let channel = self.settings.channels.get(*index).copied().unwrap_or(0);
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
                    State::Joining { pac, current, .. } | State::Connected { pac, current, .. }
                        if current.eui64 == from =>
                    {
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
            NetEvent::SendFailed {
                dst: MacDst::Unicast(dst),
            } => {
                if let State::Connected { pac, current, .. } = &mut self.state {
                    if current.eui64 == dst {
                        pac.doubt(now);
                    }
                }
            }
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
                    current,
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
                self.backoff = self.settings.backoff;
                tracing::info!(meter = ?current.eui64, channel = current.channel, "joined");
                events.push(TerminalEvent::Joined(current));
                self.state = State::Connected {
                    candidates,
                    index,
                    current,
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
                    candidates,
                    index,
                    current,
                    ..
                }
                | State::Connected {
                    candidates,
                    index,
                    current,
                    ..
                },
                PacEvent::Failed(failure),
            ) => {
                self.stats.join_failures += 1;
                tracing::warn!(meter = ?current.eui64, %failure, "authentication failed");
                events.push(TerminalEvent::JoinFailed {
                    meter: current.eui64,
                    failure,
                });
                // The next-best smart meter of the same scan.
                self.try_candidate(now, candidates, index + 1);
            }
            (
                State::Connected {
                    candidates,
                    index,
                    current,
                    ..
                },
                PacEvent::Lost | PacEvent::Terminated(_),
            ) => {
                self.stats.losses += 1;
                tracing::warn!(meter = ?current.eui64, "link lost");
                events.push(TerminalEvent::Lost(current.eui64));
                self.try_candidate(now, candidates, index + 1);
            }
            (state, e) => {
                tracing::debug!(event = ?e, "PANA event ignored in this state");
                self.state = state;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::mac::{Reception, Refusal};
    use crate::link::pana::paa::{PaaConfig, Registry};
    use crate::link::smartmeter::{JoinWindow, SmartMeter, SmartMeterConfig};
    use pana::psk::{PskDerivation, SaltedSha256};
    use pana::secret::Psk;
    use pana::AuthFailure;
    use wisun::ccm_star::{self, DEFAULT_LEVEL};
    use wisun::mac::fcs::{self, FcsKind};
    use wisun::mac::{AuxSecurityHeader, Frame, FrameType, Header};

    const PASSWORD: &[u8] = b"PASSWORD1234";
    const CHANNEL: u8 = 33;
    const PAN: u16 = 0x1001;
    const DLMS: (u16, u16) = (4059, 4059);

    struct Seeded(u64);
    impl Entropy for Seeded {
        fn fill(&mut self, out: &mut [u8]) {
            for b in out {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                *b = self.0.to_be_bytes()[4];
            }
        }
    }

    const TERMINAL: Eui64 = Eui64([0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x10, 0x01]);
    const METER: Eui64 = Eui64([0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x20, 0x01]);
    const ATTACKER: Eui64 = Eui64([0x02, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66]);

    fn pairing() -> PairingId {
        PairingId::from_codes("00", "12345678901").unwrap()
    }

    /// ~100 kbit/s with 12 bytes of PHY framing.
    fn air(len: usize) -> Duration {
        Duration::from_micros(80 * (len as u64 + 12))
    }

    /// A smart meter and a terminal on one channel, every frame delivered at once.
    struct Pair {
        terminal: Terminal,
        meter: SmartMeter,
        now: Duration,
        events: Vec<TerminalEvent>,
    }

    impl Pair {
        fn new() -> Self {
            let registry: Box<dyn Registry + Send> =
                Box::new(|id_p: &[u8]| -> Result<Psk, AuthFailure> {
                    (id_p == identity_from_eui64(TERMINAL.0).as_bytes())
                        .then(|| SaltedSha256.derive(id_p, PASSWORD))
                        .ok_or(AuthFailure::UnknownId)
                });
            let meter = SmartMeter::new(
                SmartMeterConfig {
                    mac: MacConfig::new(METER),
                    pan_id: PAN,
                    channel: CHANNEL,
                    pairing_id: pairing(),
                    profile: LinkProfile::default(),
                    join_window: JoinWindow::Always,
                    paa: PaaConfig::new(identity_from_eui64(METER.0).into_bytes()),
                    key_period: Duration::from_secs(3600),
                    switch_delay: Duration::from_secs(60),
                    net: NetConfig::default(),
                },
                registry,
                Box::new(Seeded(1001)),
                Duration::ZERO,
            );
            let terminal = Terminal::new(
                TerminalConfig {
                    mac: MacConfig::new(TERMINAL),
                    pairing_id: pairing(),
                    profile: LinkProfile::default(),
                    channels: vec![CHANNEL],
                    scan_window: Duration::from_millis(200),
                    auth_id: identity_from_eui64(TERMINAL.0).into_bytes(),
                    password: PASSWORD.to_vec(),
                    pana: PanaTimers::default(),
                    backoff: Duration::from_secs(10),
                    max_backoff: Duration::from_secs(600),
                    net: NetConfig::default(),
                },
                Box::new(Seeded(2)),
                Duration::ZERO,
            );
            Self {
                terminal,
                meter,
                now: Duration::ZERO,
                events: Vec::new(),
            }
        }

        /// A joined pair.
        fn joined() -> Self {
            let mut p = Self::new();
            p.run(Duration::from_secs(10));
            assert_eq!(p.terminal.meter(), Some(METER), "{:?}", p.events);
            p
        }

        fn on_air(&self) -> bool {
            self.terminal.channel() == Some(self.meter.channel())
        }

        /// Run both nodes until `until`.
        fn run(&mut self, until: Duration) {
            let mut stalled = 0;
            loop {
                let next = [self.terminal.next_wakeup(), self.meter.next_wakeup()]
                    .into_iter()
                    .flatten()
                    .min();
                let Some(t) = next.filter(|t| *t <= until) else {
                    break;
                };
                if t <= self.now {
                    stalled += 1;
                    assert!(stalled < 10_000, "no progress at {:?}", self.now);
                } else {
                    stalled = 0;
                }
                self.now = self.now.max(t);
                let now = self.now;
                let (psdu, events) = self.terminal.wake(now, &mut || false, &air);
                self.events.extend(events);
                if let Some(p) = psdu.filter(|_| self.on_air()) {
                    let (ack, _) = self.meter.receive(now, &p, -60, 200, &air);
                    if let Some(a) = ack {
                        self.terminal_receives(&a);
                    }
                }
                let (psdu, _) = self.meter.wake(now, &mut || false, &air);
                if let Some(p) = psdu.filter(|_| self.on_air()) {
                    if let Some(a) = self.terminal_receives(&p) {
                        let _ = self.meter.receive(now, &a, -60, 200, &air);
                    }
                }
            }
            self.now = self.now.max(until);
        }

        /// A frame to the terminal at the current time: its acknowledgment.
        fn terminal_receives(&mut self, psdu: &[u8]) -> Option<Vec<u8>> {
            let (ack, events) = self.terminal.receive(self.now, psdu, -60, 200, &air);
            self.events.extend(events);
            ack
        }

        /// Frames at `per_second` from `start` for one second; the meter sends a DLMS
        /// datagram to the terminal every 100 ms meanwhile.
        fn flood(&mut self, start: Duration, per_second: u32, frame: &dyn Fn(u32) -> Vec<u8>) {
            self.run(start);
            let step = Duration::from_secs(1) / per_second;
            for i in 0..per_second {
                let now = start + step * i;
                if i % (per_second / 10) == 0 {
                    self.meter
                        .send_udp(now, TERMINAL, DLMS, vec![0xC0, 0x01, 0x81])
                        .unwrap();
                }
                self.run(now);
                self.terminal_receives(&frame(i));
            }
        }

        /// The DLMS datagrams the terminal delivered.
        fn datagrams(&self) -> usize {
            self.events
                .iter()
                .filter(|e| matches!(e, TerminalEvent::Udp { from, .. } if *from == METER))
                .count()
        }
    }

    /// A data frame secured under a key nobody gave out, claiming to come from `from`.
    fn forged(from: Eui64, counter: u32) -> Vec<u8> {
        forged_to(TERMINAL, from, counter)
    }

    /// [`forged`], to `to`.
    fn forged_to(to: Eui64, from: Eui64, counter: u32) -> Vec<u8> {
        let mut header = Header::new_2015(
            FrameType::Data,
            Some(counter.to_be_bytes()[3]),
            (Some(PAN), Some(Address::Extended(to))),
            (None, Some(Address::Extended(from))),
        )
        .unwrap();
        header.ack_request = true;
        header.security = Some(AuxSecurityHeader::new(DEFAULT_LEVEL, counter, 1));
        let frame = Frame {
            header,
            payload_ies: Vec::new(),
            payload: vec![0x41; 24],
        };
        let mpdu = ccm_star::secure_owned(frame, &[0x5a; 16]).unwrap();
        fcs::append(&mpdu, FcsKind::Crc16).unwrap()
    }

    /// Bytes that are no frame: a bad FCS, or a good FCS over garbage.
    fn garbage(i: u32) -> Vec<u8> {
        let bytes: Vec<u8> = (0..3 + i % 20)
            .map(|j| (i ^ j).to_be_bytes()[3] | 0x07)
            .collect();
        if i % 2 == 0 {
            bytes
        } else {
            fcs::append(&bytes, FcsKind::Crc16).unwrap()
        }
    }

    #[test]
    fn trm08_a_terminal_boots_again_with_its_configuration_and_the_changes_since() {
        let mut p = Pair::new();
        let net = NetConfig {
            max_psdu: 200,
            unsecured_ports: vec![PANA_PORT, 61_000],
            ..NetConfig::default()
        };
        let mut mac = MacConfig::new(TERMINAL);
        mac.max_retries = 7;
        let given = TerminalConfig {
            mac: mac.clone(),
            channels: vec![CHANNEL, CHANNEL + 2],
            backoff: Duration::from_secs(11),
            net,
            ..p.terminal.config()
        };
        p.terminal = Terminal::new(given.clone(), Box::new(Seeded(3)), Duration::ZERO);
        p.terminal.set_password(b"0123456789AB".to_vec());
        p.terminal
            .set_pairing_id(PairingId::from_codes("00", "98765432109").unwrap());
        let again = p.terminal.config();
        assert_eq!(again.mac, mac, "the MAC's part, which the MAC keeps");
        assert_eq!(
            again.net.max_psdu, 200,
            "the interface's part, which it keeps"
        );
        assert_eq!(again.net.unsecured_ports, vec![PANA_PORT, 61_000]);
        assert_eq!(again.channels, given.channels);
        assert_eq!(again.backoff, Duration::from_secs(11));
        assert_eq!(again.max_backoff, given.max_backoff);
        assert_eq!(again.scan_window, given.scan_window);
        assert_eq!(again.auth_id, given.auth_id);
        assert_eq!(again.password, b"0123456789AB", "the new password");
        assert_eq!(
            again.pairing_id,
            PairingId::from_codes("00", "98765432109").unwrap()
        );
    }

    #[test]
    fn sec08_a_forged_flood_raises_one_alarm_per_60_s_and_the_meter_gets_through() {
        let mut p = Pair::joined();
        assert!(
            p.terminal.floods.refused.is_none(),
            "no refused-frame detector before a refused frame"
        );
        let start = p.now;
        let before = p.datagrams();
        let mut alarms = Vec::new();
        // 10,000 forged frames a second from another address, three times: 30 s and 61 s
        // after the first.
        for offset in [0, 30, 61] {
            p.flood(start + Duration::from_secs(offset), 10_000, &|i| {
                forged(ATTACKER, i)
            });
            alarms.extend(p.terminal.take_flood_alarms());
        }
        p.run(p.now + Duration::from_secs(1));
        assert_eq!(alarms.len(), 2, "{alarms:?}");
        for (a, offset) in alarms.iter().zip([0, 61]) {
            assert_eq!(a.kind, RadioFloodKind::Refused);
            assert_eq!(
                a.source,
                Some(FrameSource::Address(Address::Extended(ATTACKER)))
            );
            assert_eq!(a.source_text(), "02:66:66:66:66:66:66:66");
            assert_eq!(
                a.frames,
                RadioFloodLimits::default().refused.source_limit + 1
            );
            let since = a.at - start - Duration::from_secs(offset);
            assert!(since < Duration::from_secs(1), "{a:?}");
        }
        assert_eq!(p.terminal.stats().floods_detected, 2);
        assert!(p.terminal.take_flood_alarms().is_empty());
        // Detection only: the smart meter's datagrams all got through, the link is up.
        assert_eq!(p.datagrams() - before, 30);
        assert_eq!(p.terminal.meter(), Some(METER));
        assert!(p.terminal.net().mac().stats().security_failures >= 30_000);
    }

    /// A neighbour's frame is checked, not made (the MAC keeps nothing of it), and
    /// refused as a frame for us would be: cut short of its MIC it is malformed, counted
    /// under no source; whole, it is its sender's and dropped, not refused.
    #[test]
    fn sec08_a_frame_for_another_node_is_refused_as_one_for_us() {
        let mut p = Pair::joined();
        let neighbour = Eui64([0x02, 0, 0, 0, 0, 0, 0, 0x77]);
        let whole = forged_to(neighbour, ATTACKER, 1);
        let mut cut = fcs::strip(&whole, FcsKind::Crc16).unwrap().to_vec();
        cut.truncate(cut.len() - 26);
        let cut = fcs::append(&cut, FcsKind::Crc16).unwrap();
        for (psdu, reception) in [
            (
                whole,
                Reception {
                    source: FrameSource::Address(Address::Extended(ATTACKER)),
                    refusal: None,
                },
            ),
            (
                cut,
                Reception {
                    source: FrameSource::Unparsable,
                    refusal: Some(Refusal::Malformed),
                },
            ),
        ] {
            assert_eq!(p.terminal_receives(&psdu), None);
            let mac = p.terminal.net().mac();
            assert_eq!(mac.last_reception(), Some(reception));
            assert!(!mac.last_concerned());
        }
    }

    #[test]
    fn sec08_a_malformed_flood_is_detected_under_the_unparsable_source() {
        let mut p = Pair::joined();
        let before = p.datagrams();
        let start = p.now;
        p.flood(start, 10_000, &garbage);
        let alarms = p.terminal.take_flood_alarms();
        assert_eq!(alarms.len(), 1, "{alarms:?}");
        assert_eq!(alarms[0].kind, RadioFloodKind::Refused);
        assert_eq!(alarms[0].source, Some(FrameSource::Unparsable));
        assert_eq!(alarms[0].source_text(), "unparsable");
        assert_eq!(
            p.terminal.net().mac().last_reception().map(|r| r.refusal),
            Some(Some(Refusal::Malformed))
        );
        assert_eq!(p.terminal.stats().floods_detected, 1);
        p.run(p.now + Duration::from_secs(1));
        assert_eq!(p.datagrams() - before, 10);
    }

    #[test]
    fn sec08_forged_frames_spread_over_many_addresses_raise_the_total_alarm() {
        let mut p = Pair::joined();
        let start = p.now;
        // 5,000 addresses, one frame each, within one second: no source over its limit.
        p.flood(start, 5_000, &|i| {
            let mut from = ATTACKER.0;
            from[4..].copy_from_slice(&i.to_be_bytes());
            forged(Eui64(from), 1)
        });
        let alarms = p.terminal.take_flood_alarms();
        assert_eq!(alarms.len(), 1, "{alarms:?}");
        assert_eq!(alarms[0].source, None);
        assert_eq!(alarms[0].source_text(), "");
        assert_eq!(alarms[0].kind, RadioFloodKind::Refused);
        assert_eq!(
            alarms[0].frames,
            RadioFloodLimits::default().refused.total_limit + 1
        );
    }

    #[test]
    fn sec08_a_flood_of_frames_for_another_pan_counts_as_frames() {
        let mut p = Pair::joined();
        let start = p.now;
        // Unsecured frames in another PAN: not refused, overheard; still a flood.
        let other_pan = |i: u32| {
            let header = Header::new_2015(
                FrameType::Data,
                Some(i.to_be_bytes()[3]),
                (Some(0x2002), Some(Address::Extended(TERMINAL))),
                (None, Some(Address::Short(0x0042))),
            )
            .unwrap();
            let frame = Frame {
                header,
                payload_ies: Vec::new(),
                payload: vec![0x41; 8],
            };
            fcs::append(&frame.emit().unwrap(), FcsKind::Crc16).unwrap()
        };
        p.flood(start, 10_000, &other_pan);
        let alarms = p.terminal.take_flood_alarms();
        assert_eq!(alarms.len(), 1, "{alarms:?}");
        assert_eq!(alarms[0].kind, RadioFloodKind::Frames);
        assert_eq!(
            alarms[0].source,
            Some(FrameSource::Address(Address::Short(0x42)))
        );
        assert_eq!(alarms[0].source_text(), "short:0042");
        assert_eq!(
            alarms[0].frames,
            RadioFloodLimits::default().frames.source_limit + 1
        );
    }

    #[test]
    fn sec08_the_joined_meter_at_a_normal_rate_raises_none() {
        let mut p = Pair::joined();
        let before = p.datagrams();
        let start = p.now;
        // Ten datagrams a second for two minutes (a reading is a few per slot), with our
        // answers and every acknowledgment, the keep-alive and the joining before.
        for i in 0..1_200u32 {
            let now = start + Duration::from_millis(100) * i;
            p.run(now);
            p.meter
                .send_udp(now, TERMINAL, DLMS, vec![0xC0, 0x01, 0x81])
                .unwrap();
            if i % 2 == 0 {
                p.terminal
                    .send_udp(now, DLMS, vec![0xC4, 0x01, 0x81, 0x00])
                    .unwrap();
            }
        }
        p.run(p.now + Duration::from_secs(1));
        assert_eq!(p.datagrams() - before, 1_200);
        assert!(p.terminal.net().mac().stats().received >= 1_200);
        assert_eq!(p.terminal.take_flood_alarms(), Vec::new());
        assert_eq!(p.terminal.stats().floods_detected, 0);
    }
}
