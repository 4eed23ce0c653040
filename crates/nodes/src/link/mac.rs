//! One node's IEEE 802.15.4 MAC on the IoT route, sans-IO: what a terminal's or smart
//! meter's radio firmware does between the upper layers (6LoWPAN, the scan) and the air.
//!
//! - **Sending**: frames are queued ([`Mac::send_data`], [`Mac::send_frame`]) and go out
//!   one at a time: unslotted CSMA-CA (random back-off, then carrier sense — the caller
//!   answers the CCA from its medium), the ARIB STD-T108 budget
//!   ([`super::tx_budget`]), then the air. A unicast data frame asks for an
//!   acknowledgment and is retried up to [`MacConfig::max_retries`] times when none
//!   comes; the upper layer hears of a frame that never got through
//!   ([`MacIndication::SendFailed`]).
//! - **Security (SEC-03)**: data frames are secured with CCM* at
//!   [`MacConfig::security_level`] (default 5, ENC-MIC-32) under the active group key
//!   (key identifier mode 1, the key index from PANA's delivery); our frame counter is
//!   kept per key across rejoins and restarts and never repeats under a key
//!   ([`super::frame_counters`]), never wraps (the MAC reports "rekey needed" from the
//!   threshold on), and a received frame whose counter does not increase for its
//!   (sender, key) is refused and counted, across a rejoin under the same key too. A key
//!   superseded by a new send key is retired [`MacConfig::key_grace`] later (frames under
//!   it are refused from then on) and never taken again.
//!   Unsecured data frames are accepted only when [`MacConfig::accept_unsecured`] allows
//!   (PANA before a key exists; which ports may go unsecured is [`super::net`]'s rule);
//!   scan frames are always in the clear.
//! - **Receiving**: FCS, parse, addressing (our EUI-64 or broadcast, our PAN once we have
//!   one), duplicate detection (sender + sequence number), an acknowledgment when asked:
//!   an Enh-Ack for a frame version 2 (802.15.4-2015) frame, an Imm-Ack for an older
//!   one (802.15.4-2015 §6.7.4.2).
//! - **What came in (SEC-08)**: after each received frame, [`Mac::last_reception`] tells
//!   its source as the header claims it ([`FrameSource`]) and whether it was refused
//!   ([`Refusal`]), for the node's flood detection.
//!
//! Time is the caller's (`now` since an epoch); the back-off draws come from a generator
//! seeded by the EUI-64 (ours: reproducible simulations; a device would use its RNG).

use core::time::Duration;
use std::collections::VecDeque;

use super::few::Few;

use wisun::ccm_star::{self, key_check_value, Key, DEFAULT_LEVEL};
use wisun::mac::ack::{enhanced_ack, imm_ack};
use wisun::mac::counters::{OutgoingCounter, ReplayGuard};
use wisun::mac::fcs::{self, FcsKind};
use wisun::mac::{
    Address, AuxSecurityHeader, Eui64, Frame, FrameType, FrameVersion, Header, KeyIdentifier, Mpdu,
    SecurityLevel, BROADCAST,
};

use super::frame_counters::{CounterSnapshot, FrameCounters, KeyTag};
use super::tx_budget::{BudgetError, TxBudget, TxBudgetConfig};

/// Configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacConfig {
    /// Our extended address.
    pub eui64: Eui64,
    /// Level of secured frames.
    pub security_level: SecurityLevel,
    /// FCS on the air.
    pub fcs: FcsKind,
    /// How long to wait for an acknowledgment after a frame ends.
    pub ack_wait: Duration,
    /// Retransmissions of an unacknowledged frame (macMaxFrameRetries).
    pub max_retries: u8,
    /// Back-off unit (aUnitBackoffPeriod on this PHY, rounded).
    pub backoff_unit: Duration,
    /// macMinBE / macMaxBE.
    pub backoff_exponents: (u8, u8),
    /// Busy CCAs before a frame is given up (macMaxCsmaBackoffs).
    pub max_csma_backoffs: u8,
    /// ARIB STD-T108 rules.
    pub budget: TxBudgetConfig,
    /// Whether unsecured data frames are delivered (needed before PANA has given a key).
    pub accept_unsecured: bool,
    /// From this frame counter on (per key) the MAC reports that a new key is needed,
    /// while frames can still be sent (default 2^32 − 2^24).
    pub rekey_threshold: u32,
    /// How long a key superseded by a new send key is still accepted for receiving
    /// **(ours: 120 s)**: frames secured just before the switch, and senders whose
    /// switch notice is still being retransmitted, get through; after it the key is
    /// retired.
    pub key_grace: Duration,
}

impl MacConfig {
    /// Defaults for `eui64` (ours where 802.15.4 leaves a range: ack wait 10 ms, 3
    /// retries, BE 3..5 with a 1 ms unit, 4 busy CCAs).
    #[must_use]
    pub fn new(eui64: Eui64) -> Self {
        Self {
            eui64,
            security_level: DEFAULT_LEVEL,
            fcs: FcsKind::Crc16,
            ack_wait: Duration::from_millis(10),
            max_retries: 3,
            backoff_unit: Duration::from_millis(1),
            backoff_exponents: (3, 5),
            max_csma_backoffs: 4,
            budget: TxBudgetConfig::default(),
            accept_unsecured: true,
            rekey_threshold: OutgoingCounter::DEFAULT_REKEY_THRESHOLD,
            key_grace: Duration::from_secs(120),
        }
    }
}

/// Where a data frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacDst {
    /// Every node on the channel (no acknowledgment).
    Broadcast,
    /// One node.
    Unicast(Eui64),
}

/// What the MAC tells the layers above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MacIndication {
    /// A data frame for us.
    Data {
        /// The sender.
        src: Eui64,
        /// Whether it was broadcast.
        broadcast: bool,
        /// The MAC payload (6LoWPAN).
        payload: Vec<u8>,
        /// The key index it was secured with (`None`: in the clear).
        key_index: Option<u8>,
        /// Received signal strength, dBm.
        rssi_dbm: i16,
        /// Link quality.
        lqi: u8,
    },
    /// Any other frame for us or broadcast (scan frames): the upper layer decides.
    Frame {
        /// The frame.
        frame: Frame,
        /// Received signal strength, dBm.
        rssi_dbm: i16,
        /// Link quality.
        lqi: u8,
    },
    /// A frame that was never acknowledged (or could not get the channel): the link to
    /// `dst` may be gone.
    SendFailed {
        /// Where it was going.
        dst: MacDst,
    },
    /// The send counter passed the rekey threshold: a new group key is needed soon.
    RekeyNeeded,
}

/// Who sent a received frame, as its header claims (unauthenticated: a forged frame names
/// whom it likes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FrameSource {
    /// The header's source address.
    Address(Address),
    /// A frame that parsed but carries no source address (an Imm-Ack, ...).
    NoAddress,
    /// A frame whose FCS fails or that does not parse: nothing in it can be read.
    Unparsable,
}

impl crate::flood::FloodKey for FrameSource {}

impl core::fmt::Display for FrameSource {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Address(Address::Extended(e)) => write!(f, "{e}"),
            Self::Address(Address::Short(s)) => write!(f, "short:{s:04x}"),
            Self::NoAddress => f.write_str("no-source-address"),
            Self::Unparsable => f.write_str("unparsable"),
        }
    }
}

/// Why the MAC refused a received frame: what no honest sender in range produces at a
/// rate (a frame for another node or another PAN is not refused but overheard; a
/// duplicate is a lost acknowledgment's retransmission).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// Bad FCS, or the frame does not parse.
    Malformed,
    /// A secured frame whose key is unknown or whose MIC fails.
    Security,
    /// A secured frame whose counter does not increase.
    Replay,
    /// An unsecured data frame while those are not accepted.
    Unsecured,
}

/// What became of the last frame handed to [`Mac::receive`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reception {
    /// Its source.
    pub source: FrameSource,
    /// Why it was refused (`None`: accepted, a duplicate, an acknowledgment, or a frame
    /// for another node or PAN).
    pub refusal: Option<Refusal>,
}

/// Why a frame was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MacError {
    /// No active key to secure with.
    #[error("no active key for a secured frame")]
    NoKey,
    /// No PAN yet (not associated with a smart meter).
    #[error("no PAN ID yet")]
    NoPan,
    /// The frame counter is exhausted: a new key first.
    #[error("frame counter exhausted")]
    CounterExhausted,
    /// The frame could not be built (too long for the PHY...).
    #[error("frame not built: {0}")]
    Build(String),
    /// A key we retired was handed to us again: never taken back (its counters and
    /// frames belong to the past; a replayed key delivery would bring it).
    #[error("key index {0} was retired and is not taken again")]
    RetiredKey(u8),
}

/// What the MAC counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MacStats {
    /// Frames put on the air (acks included).
    pub sent: u64,
    /// Of those, retransmissions.
    pub retransmissions: u64,
    /// Frames given up.
    pub failed: u64,
    /// Frames received and accepted.
    pub received: u64,
    /// Duplicates dropped (acknowledged again).
    pub duplicates: u64,
    /// Frames dropped: bad FCS, malformed, not for us.
    pub dropped: u64,
    /// Secured frames whose MIC failed or whose key is unknown.
    pub security_failures: u64,
    /// Secured frames refused as replays.
    pub replays: u64,
    /// Unsecured data frames refused.
    pub unsecured_refused: u64,
    /// Keys retired after their grace period.
    pub keys_retired: u64,
    /// Bursts the ARIB budget deferred or refused.
    pub budget_deferrals: u64,
}

#[derive(Debug, Clone)]
struct Pending {
    psdu: Vec<u8>,
    dst: MacDst,
    seq: u8,
    ack: bool,
    retries: u8,
    busy_ccas: u8,
    /// When to attempt (back-off end, budget).
    at: Duration,
}

/// A frame on the air or waiting for its acknowledgment.
#[derive(Debug, Clone)]
struct AwaitingAck {
    pending: Pending,
    deadline: Duration,
}

/// The MAC.
#[derive(Debug)]
pub struct Mac {
    config: MacConfig,
    pan_id: Option<u16>,
    seq: u8,
    /// By index: one key, two in a rollover's overlap.
    keys: Few<u8, Key, 2>,
    tx_key: Option<u8>,
    /// Our frame counters, per key (the nonce holds no key: a counter is unique only per
    /// key), kept across rejoins and restarts.
    counters: FrameCounters,
    /// The key each index named last, kept when the keys are forgotten: the replay
    /// records of an index stay while it names the same key (a rejoin under it), and go
    /// when it names another.
    index_tags: Few<u8, KeyTag, 2>,
    /// When each superseded key is retired.
    retire_at: Few<u8, Duration, 1>,
    /// Keys retired (most recent last, bounded): never installed again.
    retired: VecDeque<KeyTag>,
    replay: ReplayGuard,
    queue: VecDeque<Pending>,
    awaiting: Option<AwaitingAck>,
    /// Last sequence number seen per sender (duplicate detection).
    last_seq: Few<[u8; 8], u8, 1>,
    budget: TxBudget,
    rng: u64,
    stats: MacStats,
    last_reception: Option<Reception>,
    /// Whether the last frame received concerned this node ([`Mac::last_concerned`]).
    concerned: bool,
}

impl Mac {
    /// A MAC with no PAN and no key.
    #[must_use]
    pub fn new(config: MacConfig) -> Self {
        let seed = u64::from_be_bytes(config.eui64.0) | 1;
        Self {
            budget: TxBudget::new(config.budget),
            config,
            pan_id: None,
            seq: 0,
            keys: Few::new(),
            tx_key: None,
            counters: FrameCounters::new(),
            index_tags: Few::new(),
            retire_at: Few::new(),
            retired: VecDeque::new(),
            replay: ReplayGuard::new(),
            queue: VecDeque::new(),
            awaiting: None,
            last_seq: Few::new(),
            rng: seed,
            stats: MacStats::default(),
            last_reception: None,
            concerned: false,
        }
    }

    /// Our address.
    #[must_use]
    pub const fn eui64(&self) -> Eui64 {
        self.config.eui64
    }

    /// What it was made with (the one copy: the link above keeps none).
    #[must_use]
    pub const fn config(&self) -> &MacConfig {
        &self.config
    }

    /// The counters.
    #[must_use]
    pub const fn stats(&self) -> MacStats {
        self.stats
    }

    /// The PAN we are in (the smart meter's; `None` while scanning).
    #[must_use]
    pub const fn pan_id(&self) -> Option<u16> {
        self.pan_id
    }

    /// Join (or leave) a PAN.
    pub fn set_pan(&mut self, pan_id: Option<u16>) {
        self.pan_id = pan_id;
    }

    /// Keys remembered as retired.
    const MAX_RETIRED: usize = 64;

    /// Install a group key at `now`; `transmit` makes it the one we send with, and the
    /// keys it supersedes are retired [`MacConfig::key_grace`] later (SEC-03).
    ///
    /// # Errors
    /// [`MacError::RetiredKey`]: a key we retired before is never taken again.
    pub fn install_key(
        &mut self,
        now: Duration,
        index: u8,
        key: Key,
        transmit: bool,
    ) -> Result<(), MacError> {
        let tag = key_check_value(&key);
        if self.retired.contains(&tag) {
            tracing::warn!(index, "a retired key handed to us again: refused (SEC-03)");
            return Err(MacError::RetiredKey(index));
        }
        if self
            .index_tags
            .insert(index, tag)
            .is_some_and(|old| old != tag)
        {
            // An index reused for a new key (indices wrap 255 → 1): what we knew of the
            // old key's senders says nothing about the new one's.
            self.replay.retire_key(index);
        }
        self.keys.insert(index, key);
        self.retire_at.remove(index);
        if transmit && self.tx_key != Some(index) {
            self.tx_key = Some(index);
            let until = now + self.config.key_grace;
            for other in self.keys.keys().filter(|&i| i != index) {
                if !self.retire_at.contains_key(other) {
                    self.retire_at.insert(other, until);
                }
            }
        }
        Ok(())
    }

    /// Retire the key `index` now: frames under it are refused from now on, and it is
    /// never taken again.
    pub fn retire_key(&mut self, index: u8) {
        self.retire_at.remove(index);
        let Some(key) = self.keys.remove(index) else {
            return;
        };
        if self.tx_key == Some(index) {
            self.tx_key = None;
        }
        if self.retired.len() >= Self::MAX_RETIRED {
            self.retired.pop_front();
        }
        self.retired.push_back(key_check_value(&key));
        self.stats.keys_retired += 1;
        tracing::info!(index, "group key retired");
    }

    /// Forget every key (a new PAN, a lost link). Their frame counters and replay
    /// records stay: the same key may come back (a rejoin), and must not see a counter
    /// again.
    pub fn clear_keys(&mut self) {
        self.keys.clear();
        self.retire_at.clear();
        self.tx_key = None;
    }

    /// Our frame counter table to persist, when a reservation moved since the last call
    /// (see [`super::frame_counters`]): written by the driver before the next frame goes
    /// on the air.
    pub fn take_counter_snapshot(&mut self) -> Option<CounterSnapshot> {
        self.counters.take_snapshot()
    }

    /// Resume the frame counters a driver kept (at start, before any frame is sent).
    pub fn restore_counters(&mut self, snapshot: &CounterSnapshot) {
        self.counters = FrameCounters::restore(snapshot);
    }

    /// Whether we can send secured frames.
    #[must_use]
    pub const fn has_tx_key(&self) -> bool {
        self.tx_key.is_some()
    }

    /// The index of the key we send with.
    #[must_use]
    pub const fn tx_key(&self) -> Option<u8> {
        self.tx_key
    }

    /// Whether the key `index` is installed.
    #[must_use]
    pub fn has_key(&self, index: u8) -> bool {
        self.keys.contains_key(index)
    }

    /// The key indices installed (for the key log: `sim --keys`).
    #[must_use]
    pub fn key_indices(&self) -> Vec<u8> {
        self.keys.keys().collect()
    }

    /// Queue a data frame carrying `payload` to `dst`, secured when `secure`.
    ///
    /// # Errors
    /// [`MacError`]: no PAN, no key, counter exhausted, or too long.
    pub fn send_data(
        &mut self,
        now: Duration,
        dst: MacDst,
        payload: Vec<u8>,
        secure: bool,
    ) -> Result<Vec<MacIndication>, MacError> {
        let pan = self.pan_id.ok_or(MacError::NoPan)?;
        let seq = self.next_seq();
        let to = match dst {
            MacDst::Broadcast => Address::Short(BROADCAST),
            MacDst::Unicast(e) => Address::Extended(e),
        };
        let mut header = Header::new_2015(
            FrameType::Data,
            Some(seq),
            (Some(pan), Some(to)),
            (None, Some(Address::Extended(self.config.eui64))),
        )
        .ok_or_else(|| MacError::Build("no PAN ID compression row".to_owned()))?;
        let ack = matches!(dst, MacDst::Unicast(_));
        header.ack_request = ack;
        let frame = Frame {
            header,
            payload_ies: Vec::new(),
            payload,
        };
        let mut indications = Vec::new();
        let mpdu = if secure {
            let index = self.tx_key.ok_or(MacError::NoKey)?;
            let key = *self.keys.get(index).ok_or(MacError::NoKey)?;
            let next = self
                .counters
                .allocate(key_check_value(&key), self.config.rekey_threshold)
                .map_err(|_| MacError::CounterExhausted)?;
            if next.rekey_needed {
                indications.push(MacIndication::RekeyNeeded);
            }
            let mut frame = frame;
            frame.header.security = Some(AuxSecurityHeader::new(
                self.config.security_level,
                next.counter,
                index,
            ));
            // In the payload's own buffer (6LoWPAN leaves room for header, MIC and FCS).
            ccm_star::secure_owned(frame, &key).map_err(|e| MacError::Build(e.to_string()))?
        } else {
            frame.emit().map_err(|e| MacError::Build(e.to_string()))?
        };
        self.enqueue(now, mpdu, dst, seq, ack)?;
        Ok(indications)
    }

    /// Queue a frame built by the caller (the scan's EBR and EB), unsecured, no ack. Its
    /// sequence number is ours.
    ///
    /// # Errors
    /// [`MacError::Build`].
    pub fn send_frame(&mut self, now: Duration, mut frame: Frame) -> Result<(), MacError> {
        let seq = self.next_seq();
        frame.header.sequence_number = Some(seq);
        let mpdu = frame.emit().map_err(|e| MacError::Build(e.to_string()))?;
        self.enqueue(now, mpdu, MacDst::Broadcast, seq, false)
    }

    fn enqueue(
        &mut self,
        now: Duration,
        mut mpdu: Vec<u8>,
        dst: MacDst,
        seq: u8,
        ack: bool,
    ) -> Result<(), MacError> {
        fcs::append_in_place(&mut mpdu, self.config.fcs)
            .map_err(|e| MacError::Build(e.to_string()))?;
        let psdu = mpdu;
        let at = now + self.backoff(0);
        self.queue.push_back(Pending {
            psdu,
            dst,
            seq,
            ack,
            retries: 0,
            busy_ccas: 0,
            at,
        });
        Ok(())
    }

    /// The next sequence number (DSN).
    fn next_seq(&mut self) -> u8 {
        let s = self.seq;
        self.seq = self.seq.wrapping_add(1);
        s
    }

    /// A random back-off of `0..2^BE - 1` units, BE growing with the busy CCAs.
    fn backoff(&mut self, busy: u8) -> Duration {
        let (min_be, max_be) = self.config.backoff_exponents;
        let be = (min_be + busy).min(max_be);
        // xorshift64*: reproducible per EUI-64.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let r = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        let slots = r % (1u64 << be);
        self.config.backoff_unit * u32::try_from(slots).unwrap_or(0)
    }

    /// When [`Mac::wake`] next has something to do.
    #[must_use]
    pub fn next_wakeup(&self) -> Option<Duration> {
        let frame = match &self.awaiting {
            Some(a) => Some(a.deadline),
            None => self.queue.front().map(|p| p.at),
        };
        [frame, self.retire_at.values().min().copied()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Retire the superseded keys whose grace period is over.
    fn retire_due(&mut self, now: Duration) {
        // Asked at every wake: an empty map is told by its length, without reading its
        // node (a cache miss per wake of a large network's nodes).
        if self.retire_at.is_empty() {
            return;
        }
        let due: Vec<u8> = self
            .retire_at
            .iter()
            .filter(|(_, &at)| now >= at)
            .map(|(i, _)| i)
            .collect();
        for index in due {
            self.retire_key(index);
        }
    }

    /// Do what is due at `now`: give up waiting for an acknowledgment, or attempt the
    /// next frame. `channel_busy` is the carrier sense (asked only when a frame is about
    /// to go); `air_time` gives a PSDU's time on the air. Returns the PSDU to transmit
    /// now, if any, and indications.
    pub fn wake(
        &mut self,
        now: Duration,
        channel_busy: &mut dyn FnMut() -> bool,
        air_time: &dyn Fn(usize) -> Duration,
    ) -> (Option<Vec<u8>>, Vec<MacIndication>) {
        let mut indications = Vec::new();
        self.retire_due(now);
        if let Some(a) = &self.awaiting {
            if now < a.deadline {
                return (None, indications);
            }
            let Some(AwaitingAck { mut pending, .. }) = self.awaiting.take() else {
                return (None, indications);
            };
            if pending.retries < self.config.max_retries {
                pending.retries += 1;
                pending.busy_ccas = 0;
                pending.at = now + self.backoff(0);
                self.stats.retransmissions += 1;
                self.queue.push_front(pending);
            } else {
                self.stats.failed += 1;
                indications.push(MacIndication::SendFailed { dst: pending.dst });
            }
        }
        let Some(front) = self.queue.front() else {
            return (None, indications);
        };
        if now < front.at {
            return (None, indications);
        }
        let air = air_time(front.psdu.len());
        if channel_busy() {
            let Some(mut p) = self.queue.pop_front() else {
                return (None, indications);
            };
            p.busy_ccas += 1;
            if p.busy_ccas > self.config.max_csma_backoffs {
                self.stats.failed += 1;
                indications.push(MacIndication::SendFailed { dst: p.dst });
            } else {
                p.at = now + self.config.budget.carrier_sense + self.backoff(p.busy_ccas);
                self.queue.push_front(p);
            }
            return (None, indications);
        }
        match self.budget.check(now, air) {
            Ok(()) => {}
            Err(BudgetError::NotYet { at }) => {
                self.stats.budget_deferrals += 1;
                if let Some(p) = self.queue.front_mut() {
                    p.at = at;
                }
                return (None, indications);
            }
            Err(BudgetError::BurstTooLong { .. }) => {
                self.stats.budget_deferrals += 1;
                self.stats.failed += 1;
                if let Some(p) = crate::queue::pop_front(&mut self.queue) {
                    indications.push(MacIndication::SendFailed { dst: p.dst });
                }
                return (None, indications);
            }
        }
        // Its room freed when it leaves the queue empty (most frames go alone); not at
        // the busy channel's pop above, which puts the frame back.
        let Some(p) = crate::queue::pop_front(&mut self.queue) else {
            return (None, indications);
        };
        self.budget.record(now, air);
        self.stats.sent += 1;
        let psdu = p.psdu.clone();
        if p.ack {
            self.awaiting = Some(AwaitingAck {
                deadline: now + air + self.config.ack_wait,
                pending: p,
            });
        }
        (Some(psdu), indications)
    }

    /// A PSDU received at `now` with its signal: the acknowledgment to send at once (if
    /// one was asked for) and indications. What became of it: [`Mac::last_reception`].
    pub fn receive(
        &mut self,
        now: Duration,
        psdu: &[u8],
        rssi_dbm: i16,
        lqi: u8,
        air_time: &dyn Fn(usize) -> Duration,
    ) -> (Option<Vec<u8>>, Vec<MacIndication>) {
        self.retire_due(now);
        self.concerned = false;
        let malformed = Reception {
            source: FrameSource::Unparsable,
            refusal: Some(Refusal::Malformed),
        };
        self.last_reception = Some(malformed);
        let Ok(mpdu) = fcs::strip(psdu, self.config.fcs) else {
            self.stats.dropped += 1;
            return (None, Vec::new());
        };
        // A frame for another node (or an acknowledgment) is checked whole, as one for
        // us, but not made: most of what a node hears is its neighbours' traffic, and
        // a copy of each body was an allocation a frame heard.
        let parsed = Mpdu::parse_header(mpdu).and_then(|(header, end)| {
            if header.frame_type != FrameType::Ack && self.for_us(&header) {
                let mpdu = Mpdu::parse_body(header.clone(), mpdu, end)?;
                Ok((header, Some(mpdu)))
            } else {
                Mpdu::check_body(&header, mpdu, end).map(|()| (header, None))
            }
        });
        let (header, parsed) = match parsed {
            Ok(m) => m,
            Err(e) => {
                self.stats.dropped += 1;
                tracing::debug!(error = %e, "malformed MAC frame dropped");
                return (None, Vec::new());
            }
        };
        let source = header
            .src
            .map_or(FrameSource::NoAddress, FrameSource::Address);
        self.last_reception = Some(Reception {
            source,
            refusal: None,
        });
        if header.frame_type == FrameType::Ack {
            self.acknowledged(&header);
            return (None, Vec::new());
        }
        let Some(parsed) = parsed else {
            self.stats.dropped += 1;
            return (None, Vec::new());
        };
        self.concerned = true;
        // The acknowledgment goes out as soon as the frame checks (FCS, addressing),
        // before security processing, as 802.15.4 radios do: a retransmission whose
        // first acknowledgment was lost is acknowledged again, then dropped below as the
        // duplicate it is.
        let ack = if header.ack_request {
            header.sequence_number.and_then(|s| {
                let ack = match (header.version, header.src) {
                    (FrameVersion::V2015, Some(originator)) => enhanced_ack(s, originator),
                    _ => imm_ack(s, false),
                };
                let psdu = ack
                    .emit()
                    .ok()
                    .and_then(|m| fcs::append(&m, self.config.fcs).ok())?;
                let air = air_time(psdu.len());
                self.budget.record(now, air);
                self.stats.sent += 1;
                Some(psdu)
            })
        } else {
            None
        };
        let src = header.src_eui64();
        let repeat = match (src, header.sequence_number) {
            (Some(src), Some(seq)) if header.frame_type == FrameType::Data => {
                self.last_seq.get(src.0) == Some(&seq)
            }
            _ => false,
        };
        let (frame, key_index) = match parsed {
            Mpdu::Plain(f) => (f, None),
            Mpdu::Secured(secured) => {
                let keys = &self.keys;
                let lookup =
                    |id: &KeyIdentifier, _src: Eui64| id.index().and_then(|i| keys.get(i).copied());
                // The frame as already parsed: decrypted in place, not parsed again.
                match ccm_star::open_parsed(mpdu, secured, &lookup) {
                    Ok(opened) => {
                        let index = opened
                            .frame
                            .header
                            .security
                            .and_then(|s| s.key_id.index())
                            .unwrap_or(0);
                        let last = self.replay.last(opened.source, index);
                        if repeat && last == Some(opened.frame_counter) {
                            // Our acknowledgment was lost: the same frame again.
                            self.stats.duplicates += 1;
                            return (ack, Vec::new());
                        }
                        if self
                            .replay
                            .accept(opened.source, index, opened.frame_counter)
                            .is_err()
                        {
                            self.stats.replays += 1;
                            self.refused(Refusal::Replay);
                            tracing::debug!(src = ?opened.source, counter = opened.frame_counter, "replayed frame refused");
                            return (ack, Vec::new());
                        }
                        (opened.frame, Some(index))
                    }
                    Err(e) => {
                        self.stats.security_failures += 1;
                        self.refused(Refusal::Security);
                        tracing::debug!(error = %e, "secured frame does not open");
                        return (ack, Vec::new());
                    }
                }
            }
        };
        if key_index.is_none() && repeat {
            self.stats.duplicates += 1;
            return (ack, Vec::new());
        }
        if let (Some(src), Some(seq)) = (src, header.sequence_number) {
            if header.frame_type == FrameType::Data {
                self.last_seq.insert(src.0, seq);
            }
        }
        self.stats.received += 1;
        let indication = match (header.frame_type, src) {
            (FrameType::Data, Some(src)) => {
                if key_index.is_none() && !self.config.accept_unsecured {
                    self.stats.unsecured_refused += 1;
                    self.refused(Refusal::Unsecured);
                    return (ack, Vec::new());
                }
                MacIndication::Data {
                    src,
                    broadcast: matches!(header.dst, Some(Address::Short(BROADCAST))),
                    payload: frame.payload,
                    key_index,
                    rssi_dbm,
                    lqi,
                }
            }
            _ => MacIndication::Frame {
                frame,
                rssi_dbm,
                lqi,
            },
        };
        (ack, vec![indication])
    }

    /// What became of the last frame handed to [`Mac::receive`] (`None` before the
    /// first).
    #[must_use]
    pub const fn last_reception(&self) -> Option<Reception> {
        self.last_reception
    }

    /// Whether the last frame handed to [`Mac::receive`] concerned this node: a frame
    /// for it (its address or broadcast, in its PAN) or the acknowledgment it awaited.
    /// One that did not — another node's or PAN's, a stray acknowledgment, a malformed
    /// frame — changed nothing but the counters, so a driver need not wake the node for
    /// it: most of what a node hears on a busy channel is its neighbours' traffic.
    #[must_use]
    pub const fn last_concerned(&self) -> bool {
        self.concerned
    }

    /// The frame being received was refused for `why`.
    fn refused(&mut self, why: Refusal) {
        if let Some(r) = &mut self.last_reception {
            r.refusal = Some(why);
        }
    }

    /// Whether a frame is addressed to us (or broadcast) in our PAN (any PAN while we
    /// have none: scanning).
    fn for_us(&self, h: &Header) -> bool {
        let addressed = match h.dst {
            None => true,
            Some(Address::Short(s)) => s == BROADCAST,
            Some(Address::Extended(e)) => e == self.config.eui64,
        };
        let pan_ok = match (self.pan_id, h.dst_pan) {
            (Some(ours), Some(theirs)) => theirs == ours || theirs == BROADCAST,
            _ => true,
        };
        addressed && pan_ok
    }

    fn acknowledged(&mut self, h: &Header) {
        // An Enh-Ack names the originator (ours: always); an Imm-Ack only the sequence.
        let ours = match h.dst {
            None => true,
            Some(Address::Extended(e)) => e == self.config.eui64,
            Some(Address::Short(_)) => false,
        };
        let matches = ours
            && self
                .awaiting
                .as_ref()
                .is_some_and(|a| h.sequence_number == Some(a.pending.seq));
        if matches {
            self.awaiting = None;
            self.concerned = true;
        }
    }
}
