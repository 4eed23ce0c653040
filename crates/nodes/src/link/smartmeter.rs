//! The smart meter's radio side of the IoT route: a PAN coordinator on one channel that
//! answers Enhanced Beacon Requests carrying its Pairing ID (CON-01/04) while its join
//! window is open, runs the PAA for the terminals that join (SEC-02, at most
//! [`PaaConfig::max_sessions`], SYS-03), holds the group key and rolls it over (SEC-03),
//! and carries the smart meter's UDP traffic (DLMS readings) to its terminals.
//!
//! The group key is shared by every terminal of the PAN, so a terminal that leaves by
//! the operator's hand ([`SmartMeter::remove`], a blocked terminal) takes a working key
//! with it: the key is rolled at once, the next one delivered only to the terminals that
//! stay, and the old one retired after the switch (SEC-03, OPS-07). Until then the
//! removed terminal's frames still open, but no datagram from a terminal without a live
//! PANA session reaches the application.
//!
//! Sans-IO like everything in `nodes`: frames and `now` in, frames and
//! [`SmartMeterEvent`]s out; the caller's medium answers carrier sense.

use core::time::Duration;
use std::collections::BTreeSet;

use lowpan::UdpDatagram;
use pana::encr::GroupKey;
use pana::secret::Aes128Key;
use pana::AuthFailure;
use wisun::mac::beacon::enhanced_beacon;
use wisun::mac::Eui64;
use wisun::pairing_id::PairingIeContent;
use wisun::PairingId;

use super::frame_counters::CounterSnapshot;
use super::mac::{Mac, MacConfig, MacDst};
use super::net::{Net, NetConfig, NetError, NetEvent, PANA_PORT};
use super::pana::paa::{Paa, PaaConfig, PaaEvent, Registry};
use super::pana::{Entropy, KEY_ID};
use super::profile::LinkProfile;

/// When new terminals may join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinWindow {
    /// Always (a lab set-up).
    Always,
    /// Until this time (the window opened for 300-1800 s, like SKSTACK's `SKOPEN`).
    Until(Duration),
    /// Closed: only terminals already joined may authenticate again.
    Closed,
}

/// The join window lengths a smart meter takes: 0 (no limit) or 300-1800 s, as the HAN
/// coordinators' `SKOPEN <sec>` does (`../shared/spec/wisun-han.md`).
pub const JOIN_WINDOW_RANGE: core::ops::RangeInclusive<u64> = 300..=1800;

/// A join window length outside 0 and [`JOIN_WINDOW_RANGE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("join window of {seconds} s: 0 (no limit) or 300-1800 s")]
pub struct JoinWindowError {
    /// The length asked for.
    pub seconds: u64,
}

impl JoinWindow {
    /// The window opened at `now` for `length`: 0 leaves it open without limit.
    ///
    /// # Errors
    /// [`JoinWindowError`] for a length other than 0 or 300-1800 s (whole seconds).
    pub fn open_for(now: Duration, length: Duration) -> Result<Self, JoinWindowError> {
        let seconds = length.as_secs();
        if length.is_zero() {
            Ok(Self::Always)
        } else if length.subsec_nanos() == 0 && JOIN_WINDOW_RANGE.contains(&seconds) {
            Ok(Self::Until(now + length))
        } else {
            Err(JoinWindowError { seconds })
        }
    }
}

/// Configuration.
#[derive(Debug, Clone)]
pub struct SmartMeterConfig {
    /// MAC settings (our EUI-64 among them).
    pub mac: MacConfig,
    /// The PAN we coordinate.
    pub pan_id: u16,
    /// Our channel (33-60).
    pub channel: u8,
    /// The Pairing ID registered for our utility (CON-04).
    pub pairing_id: PairingId,
    /// What is not public and ours: the Pairing ID IE's format, the PANA Vendor-Id (the
    /// PAA's is this one, whatever `paa` says), the PSK derivation.
    pub profile: LinkProfile,
    /// The join window at start.
    pub join_window: JoinWindow,
    /// The PAA.
    pub paa: PaaConfig,
    /// How long a group key is used before the next one is rolled in **(ours: an hour
    /// in a simulation; a deployment would use days, SKSTACK allows 3600 s to 30 days)**.
    pub key_period: Duration,
    /// Between delivering the next key and the switch notice: time for every terminal
    /// to install it.
    pub switch_delay: Duration,
    /// The IPv6 interface.
    pub net: NetConfig,
}

/// What the smart meter must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmartMeterEvent {
    /// A terminal authenticated and holds the group key.
    Joined {
        /// Its EUI-64.
        terminal: Eui64,
        /// Its authentication ID.
        id_p: Vec<u8>,
    },
    /// A terminal re-authenticated inside its session (RFC 5191 §4.3): new PANA keys,
    /// the same link.
    Reauthenticated {
        /// Its EUI-64.
        terminal: Eui64,
        /// The Key-Id of its new MSK.
        key_id: u32,
    },
    /// A terminal failed to authenticate, or was refused.
    Refused {
        /// Its EUI-64.
        terminal: Eui64,
        /// Why.
        failure: AuthFailure,
    },
    /// A terminal left (logout, removal, lost, session over).
    Left {
        /// Its EUI-64.
        terminal: Eui64,
    },
    /// A UDP datagram from a terminal (DLMS answers).
    Udp {
        /// The terminal.
        from: Eui64,
        /// The datagram.
        datagram: UdpDatagram,
    },
    /// A group key came into use.
    KeyActivated {
        /// Its index.
        index: u8,
    },
    /// A scan with another Pairing ID than ours (CON-03): not answered; a device
    /// looking for another smart meter, or probing (reported to the head end).
    ForeignScan {
        /// Who scanned, when it said.
        from: Option<Eui64>,
        /// The Pairing ID it asked for.
        pairing_id: PairingId,
    },
}

/// Counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SmartMeterStats {
    /// Beacon requests answered.
    pub beacons_sent: u64,
    /// Beacon requests ignored (another Pairing ID, none, or the window closed).
    pub requests_ignored: u64,
    /// Successful authentications (new sessions).
    pub authentications: u64,
    /// Re-authentications inside open sessions.
    pub reauthentications: u64,
    /// Failed or refused ones.
    pub refusals: u64,
    /// Group keys rolled in.
    pub rollovers: u64,
    /// Key requests from terminals (each rolls the key at most once per key).
    pub key_requests: u64,
    /// Rollovers started at once because a terminal was removed.
    pub removal_rollovers: u64,
    /// Datagrams dropped for coming from a terminal without a live PANA session.
    pub sessionless_dropped: u64,
}

/// A rollover under way: the next key was delivered; switch at `switch_at`.
#[derive(Debug, Clone)]
struct Rollover {
    key: GroupKey,
    switch_at: Duration,
}

/// The smart meter's link.
pub struct SmartMeter {
    settings: Settings,
    net: Net,
    paa: Paa,
    entropy: Box<dyn Entropy + Send>,
    join_window: JoinWindow,
    /// Terminals that joined at least once (they may authenticate again with the
    /// window closed).
    known: BTreeSet<[u8; 8]>,
    /// Terminals blocked (OPS-07): no authentication until reconnected.
    blocked: BTreeSet<[u8; 8]>,
    next_rollover: Duration,
    rollover: Option<Rollover>,
    /// The key index a terminal's key request already rolled away from: one
    /// request-driven rollover per key, so that a terminal cannot make us roll without end.
    requested_away_from: Option<u8>,
    /// The index of a rollover abandoned by a removal (the next key takes the one after).
    abandoned_index: Option<u8>,
    /// Every group key used, in order (for the key log).
    keys_used: Vec<(u8, [u8; 16])>,
    stats: SmartMeterStats,
}

impl core::fmt::Debug for SmartMeter {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SmartMeter")
            .field("eui64", &self.net.mac().eui64())
            .field("channel", &self.settings.channel)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// What the link keeps of its configuration: not the MAC's, the interface's and the
/// PAA's, which those keep (a copy of each, 328 bytes and the PAA's ID, was held here
/// besides).
#[derive(Debug, Clone)]
struct Settings {
    pan_id: u16,
    channel: u8,
    pairing_id: PairingId,
    profile: LinkProfile,
    key_period: Duration,
    switch_delay: Duration,
}

impl SmartMeter {
    /// A smart meter on its channel with a first group key (index 1) drawn from
    /// `entropy`.
    pub fn new(
        config: SmartMeterConfig,
        registry: Box<dyn Registry + Send>,
        mut entropy: Box<dyn Entropy + Send>,
        now: Duration,
    ) -> Self {
        let SmartMeterConfig {
            mac,
            pan_id,
            channel,
            pairing_id,
            profile,
            join_window,
            paa,
            key_period,
            switch_delay,
            net,
        } = config;
        let first = new_key(&mut *entropy, 1, key_period);
        let mut mac = Mac::new(mac);
        mac.set_pan(Some(pan_id));
        if let Err(e) = mac.install_key(now, first.index, *first.key.as_bytes(), true) {
            // A MAC that has just been made has retired nothing.
            tracing::error!(error = %e, "first group key not installed");
        }
        let tag = {
            let mut b = [0; 2];
            entropy.fill(&mut b);
            u16::from_be_bytes(b)
        };
        let net = Net::new(mac, net, tag);
        let keys_used = vec![(first.index, *first.key.as_bytes())];
        let paa = Paa::new(
            PaaConfig {
                vendor_id: profile.vendor_id,
                ..paa
            },
            registry,
            first,
        );
        Self {
            join_window,
            next_rollover: now + key_period,
            settings: Settings {
                pan_id,
                channel,
                pairing_id,
                profile,
                key_period,
                switch_delay,
            },
            net,
            paa,
            entropy,
            known: BTreeSet::new(),
            blocked: BTreeSet::new(),
            rollover: None,
            requested_away_from: None,
            abandoned_index: None,
            keys_used,
            stats: SmartMeterStats::default(),
        }
    }

    /// Our EUI-64.
    #[must_use]
    pub const fn eui64(&self) -> Eui64 {
        self.net.mac().eui64()
    }

    /// The channel we listen and send on.
    #[must_use]
    pub const fn channel(&self) -> u8 {
        self.settings.channel
    }

    /// Counters.
    #[must_use]
    pub const fn stats(&self) -> SmartMeterStats {
        self.stats
    }

    /// The interface (for its counters).
    #[must_use]
    pub const fn net(&self) -> &Net {
        &self.net
    }

    /// Every group key used so far, in order.
    #[must_use]
    pub fn keys_used(&self) -> &[(u8, [u8; 16])] {
        &self.keys_used
    }

    /// Terminals with an open session.
    #[must_use]
    pub fn terminals(&self) -> Vec<Eui64> {
        self.paa.open_peers().into_iter().map(Eui64).collect()
    }

    /// Whether `terminal` has an open session: asked at every wake and every command,
    /// where [`SmartMeter::terminals`] built a list each time.
    #[must_use]
    pub fn is_joined(&self, terminal: Eui64) -> bool {
        self.paa.is_open(&terminal.0)
    }

    /// Open the join window for `length` (0: without limit; else 300-1800 s).
    ///
    /// # Errors
    /// [`JoinWindowError`]: the window stays as it was.
    pub fn open_join_window(
        &mut self,
        now: Duration,
        length: Duration,
    ) -> Result<(), JoinWindowError> {
        self.join_window = JoinWindow::open_for(now, length)
            .inspect_err(|e| tracing::warn!(error = %e, "join window not opened"))?;
        Ok(())
    }

    fn window_open(&self, now: Duration) -> bool {
        match self.join_window {
            JoinWindow::Always => true,
            JoinWindow::Until(t) => now < t,
            JoinWindow::Closed => false,
        }
    }

    /// Remove a terminal (operator's command, or a blocked terminal): its session ends
    /// with a PTR, and the group key it holds is rolled at once — the next key goes to
    /// the terminals that stay, not to it (a rollover under way, whose key it already
    /// has, is abandoned).
    pub fn remove(&mut self, now: Duration, terminal: Eui64) {
        self.known.remove(&terminal.0);
        if let Some(ptr) = self.paa.remove(now, terminal.0) {
            let _ = self.send_pana(now, terminal, ptr);
        }
        if let Some(abandoned) = self.rollover.take() {
            self.paa.withdraw(abandoned.key.index);
            self.net.mac_mut().retire_key(abandoned.key.index);
            self.abandoned_index = Some(abandoned.key.index);
        }
        self.stats.removal_rollovers += 1;
        tracing::info!(terminal = ?terminal, "terminal removed: rolling the group key now");
        self.next_rollover = now;
    }

    /// Block a terminal (OPS-07: judged high-risk): removed as by
    /// [`SmartMeter::remove`] — session ended, group key rolled at once — and refused
    /// every new authentication, join window open or not, until
    /// [`SmartMeter::reconnect`].
    pub fn block(&mut self, now: Duration, terminal: Eui64) {
        tracing::warn!(terminal = ?terminal, "terminal blocked");
        self.blocked.insert(terminal.0);
        self.remove(now, terminal);
    }

    /// Lift a block: the terminal may authenticate again (and joins as a terminal that
    /// was known before, join window closed or not).
    pub fn reconnect(&mut self, terminal: Eui64) {
        if self.blocked.remove(&terminal.0) {
            tracing::info!(terminal = ?terminal, "terminal reconnected");
            self.known.insert(terminal.0);
        }
    }

    /// `terminal`'s authentication password is `password` now (TRM-08: the head end's
    /// command, carried out over DLMS, or the terminal's own password changed by the
    /// handy terminal and told by the head end): its next PANA authentication — a
    /// re-authentication inside the session up now included — must prove this one, and
    /// the old one is refused. The session up now stays up. Whether or not the terminal
    /// authenticated here since the start: the PSK is derived with the ID the terminal
    /// authenticates with, its EUI-64 (docs/iot-route-link.md, "Identities", as the
    /// registry knows it). The registry still decides whether it may authenticate at all
    /// (SYS-03); the password itself is kept only as the PSK derived from it.
    pub fn set_password(&mut self, terminal: Eui64, password: &[u8]) {
        let id_p = pana::psk::identity_from_eui64(terminal.0).into_bytes();
        let psk = self.settings.profile.psk(&id_p, password);
        self.paa.replace_psk(&id_p, psk);
        tracing::info!(terminal = ?terminal, "new authentication password: proved from the next authentication");
    }

    /// Terminals blocked.
    #[must_use]
    pub fn blocked(&self) -> Vec<Eui64> {
        self.blocked.iter().copied().map(Eui64).collect()
    }

    /// Our frame counters to persist, when a reservation moved (SEC-03).
    pub fn take_counter_snapshot(&mut self) -> Option<CounterSnapshot> {
        self.net.mac_mut().take_counter_snapshot()
    }

    /// Resume the frame counters persisted by an earlier run (right after
    /// [`SmartMeter::new`], before any frame is sent).
    pub fn restore_counters(&mut self, snapshot: &CounterSnapshot) {
        self.net.mac_mut().restore_counters(snapshot);
    }

    /// Send a UDP datagram to a joined terminal, secured with the group key.
    ///
    /// # Errors
    /// [`NetError`].
    pub fn send_udp(
        &mut self,
        now: Duration,
        to: Eui64,
        ports: (u16, u16),
        payload: Vec<u8>,
    ) -> Result<(), NetError> {
        let events = self
            .net
            .send_udp(now, MacDst::Unicast(to), ports, payload, true)?;
        if events.contains(&NetEvent::RekeyNeeded) && self.rollover.is_none() {
            // The frame counter under this key nears its end: roll now.
            self.next_rollover = self.next_rollover.min(now);
        }
        Ok(())
    }

    fn send_pana(&mut self, now: Duration, to: Eui64, bytes: Vec<u8>) -> Result<(), NetError> {
        // PANA goes in the clear at layer 2 (its own AUTH protects it): a terminal
        // without the key must be able to read it.
        self.net
            .send_udp(
                now,
                MacDst::Unicast(to),
                (PANA_PORT, PANA_PORT),
                bytes,
                false,
            )
            .map(|_| ())
    }

    /// When [`SmartMeter::wake`] next has something to do.
    #[must_use]
    pub fn next_wakeup(&self) -> Option<Duration> {
        [
            self.net.next_wakeup(),
            self.paa.next_timeout(),
            // During a rollover only its switch is pending.
            self.rollover
                .as_ref()
                .map_or(Some(self.next_rollover), |r| Some(r.switch_at)),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Timers due at `now` (PANA retransmissions, rollover) and the next frame to put on
    /// the air, if any.
    pub fn wake(
        &mut self,
        now: Duration,
        channel_busy: &mut dyn FnMut() -> bool,
        air_time: &dyn Fn(usize) -> Duration,
    ) -> (Option<Vec<u8>>, Vec<SmartMeterEvent>) {
        let mut events = Vec::new();
        let (out, paa_events) = self.paa.poll(now);
        for (peer, bytes) in out {
            let _ = self.send_pana(now, Eui64(peer), bytes);
        }
        events.extend(self.paa_events(now, paa_events));
        self.rollover_step(now, &mut events);
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
    ) -> (Option<Vec<u8>>, Vec<SmartMeterEvent>) {
        let (ack, net_events) = self.net.receive(now, psdu, rssi_dbm, lqi, air_time);
        let mut events = Vec::new();
        for e in net_events {
            self.net_event(now, e, &mut events);
        }
        (ack, events)
    }

    fn net_event(&mut self, now: Duration, e: NetEvent, events: &mut Vec<SmartMeterEvent>) {
        match e {
            NetEvent::Frame { frame, .. } if frame.is_enhanced_beacon_request() => {
                self.beacon_request(now, &frame, events);
            }
            NetEvent::Udp { datagram, from, .. } if datagram.dst_port == PANA_PORT => {
                let is_pci = pana::Message::parse(&datagram.payload)
                    .is_ok_and(|m| m.kind == pana::MessageType::ClientInitiation);
                if is_pci && self.blocked.contains(&from.0) {
                    tracing::warn!(terminal = ?from, "PANA start refused: terminal blocked (OPS-07)");
                    self.stats.refusals += 1;
                    events.push(SmartMeterEvent::Refused {
                        terminal: from,
                        failure: AuthFailure::Blocked,
                    });
                    return;
                }
                if is_pci && !self.window_open(now) && !self.known.contains(&from.0) {
                    tracing::info!(terminal = ?from, "PANA start refused: join window closed");
                    self.stats.refusals += 1;
                    return;
                }
                let (out, paa_events) =
                    self.paa
                        .handle(now, &mut *self.entropy, from.0, &datagram.payload);
                for (peer, bytes) in out {
                    let _ = self.send_pana(now, Eui64(peer), bytes);
                }
                events.extend(self.paa_events(now, paa_events));
            }
            NetEvent::Udp { datagram, from, .. } => {
                // The group key is shared: holding it proves nothing of who sends. Only a
                // terminal with a live session speaks to the application (SEC-03).
                if self.paa.is_live(from.0) {
                    events.push(SmartMeterEvent::Udp { from, datagram });
                } else {
                    self.stats.sessionless_dropped += 1;
                    tracing::warn!(terminal = ?from, port = datagram.dst_port, "datagram from a terminal without a live session dropped");
                }
            }
            NetEvent::RekeyNeeded if self.rollover.is_none() => {
                // The frame counter is running out under this key: roll now.
                self.next_rollover = now;
            }
            NetEvent::Frame { .. } | NetEvent::SendFailed { .. } | NetEvent::RekeyNeeded => {}
        }
    }

    fn paa_events(&mut self, now: Duration, paa_events: Vec<PaaEvent>) -> Vec<SmartMeterEvent> {
        let mut out = Vec::new();
        for e in paa_events {
            match e {
                PaaEvent::Authenticated { peer, key_id, .. } if key_id > KEY_ID => {
                    self.stats.reauthentications += 1;
                    out.push(SmartMeterEvent::Reauthenticated {
                        terminal: Eui64(peer),
                        key_id,
                    });
                }
                PaaEvent::Authenticated { peer, id_p, .. } => {
                    self.stats.authentications += 1;
                    self.known.insert(peer);
                    out.push(SmartMeterEvent::Joined {
                        terminal: Eui64(peer),
                        id_p,
                    });
                }
                PaaEvent::Failed { peer, failure } => {
                    self.stats.refusals += 1;
                    out.push(SmartMeterEvent::Refused {
                        terminal: Eui64(peer),
                        failure,
                    });
                }
                PaaEvent::Terminated { peer, .. } | PaaEvent::Lost { peer } => {
                    out.push(SmartMeterEvent::Left {
                        terminal: Eui64(peer),
                    });
                }
                PaaEvent::KeyRequested { peer } => {
                    self.stats.key_requests += 1;
                    let current = self.paa.group_keys().0.index;
                    if self.rollover.is_none() && self.requested_away_from != Some(current) {
                        // Its frame counter is running out under this key: roll now.
                        tracing::info!(terminal = ?Eui64(peer), index = current, "a terminal's key request rolls the group key");
                        self.requested_away_from = Some(current);
                        self.next_rollover = self.next_rollover.min(now);
                    }
                }
                PaaEvent::KeyAcknowledged { .. } => {}
            }
        }
        out
    }

    /// Answer an Enhanced Beacon Request with our Enhanced Beacon when it carries our
    /// Pairing ID and the join window is open (CON-01); otherwise stay silent.
    fn beacon_request(
        &mut self,
        now: Duration,
        frame: &wisun::mac::Frame,
        events: &mut Vec<SmartMeterEvent>,
    ) {
        let asked = self
            .settings
            .profile
            .pairing_format
            .find(&frame.header.header_ies);
        let ours = matches!(asked, PairingIeContent::Valid(id) if id == self.settings.pairing_id);
        if let PairingIeContent::Valid(other) = asked {
            if other != self.settings.pairing_id {
                events.push(SmartMeterEvent::ForeignScan {
                    from: frame.header.src_eui64(),
                    pairing_id: other,
                });
            }
        }
        if !ours || !self.window_open(now) {
            self.stats.requests_ignored += 1;
            return;
        }
        let eb = enhanced_beacon(
            0,
            self.settings.pan_id,
            self.eui64(),
            &self.settings.pairing_id,
            &self.settings.profile.pairing_format,
        );
        if self.net.mac_mut().send_frame(now, eb).is_ok() {
            self.stats.beacons_sent += 1;
        }
    }

    /// Roll the group key over: deliver the next one (inactive) at `next_rollover`, send
    /// the switch notice `switch_delay` later and start sending with it.
    fn rollover_step(&mut self, now: Duration, events: &mut Vec<SmartMeterEvent>) {
        if let Some(r) = self.rollover.take() {
            if now < r.switch_at {
                self.rollover = Some(r);
                return;
            }
            let active = GroupKey {
                active: true,
                ..r.key.clone()
            };
            for (peer, bytes) in self.paa.distribute(now, active) {
                let _ = self.send_pana(now, Eui64(peer), bytes);
            }
            // The keys it supersedes are retired after the MAC's grace period.
            if let Err(e) =
                self.net
                    .mac_mut()
                    .install_key(now, r.key.index, *r.key.key.as_bytes(), true)
            {
                tracing::error!(error = %e, "next group key not installed");
            }
            self.stats.rollovers += 1;
            self.next_rollover = now + self.settings.key_period;
            tracing::info!(index = r.key.index, "group key switched");
            events.push(SmartMeterEvent::KeyActivated { index: r.key.index });
            return;
        }
        if now < self.next_rollover {
            return;
        }
        // After an abandoned rollover, past its index too: every key has its own index
        // while it may still be held somewhere.
        let after = self
            .abandoned_index
            .take()
            .unwrap_or(self.paa.group_keys().0.index);
        let mut index = next_index(after);
        if index == self.paa.group_keys().0.index {
            index = next_index(index);
        }
        let key = new_key(&mut *self.entropy, index, self.settings.key_period);
        self.keys_used.push((key.index, *key.key.as_bytes()));
        if let Err(e) = self
            .net
            .mac_mut()
            .install_key(now, key.index, *key.key.as_bytes(), false)
        {
            tracing::error!(error = %e, "next group key not installed");
            self.next_rollover = now + self.settings.switch_delay;
            return;
        }
        for (peer, bytes) in self.paa.distribute(now, key.clone()) {
            let _ = self.send_pana(now, Eui64(peer), bytes);
        }
        tracing::info!(index, "next group key delivered");
        self.rollover = Some(Rollover {
            key,
            switch_at: now + self.settings.switch_delay,
        });
    }
}

/// The key index after `index`: 1..=255, never 0 (802.15.4 keeps 0 out of use).
const fn next_index(index: u8) -> u8 {
    if index == u8::MAX {
        1
    } else {
        index + 1
    }
}

fn new_key(entropy: &mut dyn Entropy, index: u8, key_period: Duration) -> GroupKey {
    let mut key = [0; 16];
    entropy.fill(&mut key);
    GroupKey {
        index,
        active: false,
        lifetime_s: u32::try_from(key_period.as_secs()).unwrap_or(u32::MAX),
        key: Aes128Key::new(key),
    }
}
