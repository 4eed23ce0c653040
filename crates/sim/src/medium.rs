//! Transmissions on the simulated 920 MHz channels over time.
//!
//! A node's radio listens on one channel (or is off) and is half duplex. A frame takes
//! its air time (preamble, SFD and PHR of the SUN FSK PHY plus the PSDU, at 100 kbps);
//! when it ends, every other node listening on that channel at its start gets an
//! [`Outcome`]: received with an RSSI and LQI, lost to a collision (the frames
//! overlapping it on the channel summed up to within the capture margin of it), lost
//! because the receiver was itself transmitting, or faded (the per-frame draw against
//! the success curve of [`crate::propagation`]). Carrier sense ([`Medium::channel_busy`])
//! sees what is on the air at a node above the carrier-sense level.
//!
//! A node hears only the nodes whose signal reaches it above a cut-off, 20 dB under the
//! sensitivity (found once per node, through cells as wide as the farthest such link can
//! be): below it no frame is received, nothing is sensed and no interference is counted,
//! so a frame costs what happens near its sender, not the run's size.
//!
//! Sans-IO and event-driven: the caller advances time monotonically with
//! [`Medium::advance`], which resolves every frame that has ended by then, and asks
//! [`Medium::next_end`] when to call it next. A frame is resolved only once every frame
//! that could overlap it has been submitted, because frames are submitted at their
//! start time and time never goes back.

use core::time::Duration;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use crate::propagation::{lqi, Position, PropagationConfig};
use crate::rng::Stream;

/// A node on the medium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

/// One transmission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TxId(pub u64);

/// The PHY's framing and rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhyConfig {
    /// Bits per second (JJ-300.10 方式A: 2GFSK 100 kbps).
    pub bitrate_bps: u32,
    /// Synchronisation header and PHY header in bytes: preamble 8 **(ours; the SUN FSK
    /// minimum is 4)** + SFD 2 + PHR 2.
    pub overhead_bytes: u32,
    /// The largest PSDU (SUN PHY: 2047 bytes).
    pub max_psdu: usize,
}

impl Default for PhyConfig {
    fn default() -> Self {
        Self {
            bitrate_bps: 100_000,
            overhead_bytes: 12,
            max_psdu: 2047,
        }
    }
}

impl PhyConfig {
    /// How long a PSDU of `len` bytes is on the air.
    #[must_use]
    pub fn air_time(&self, len: usize) -> Duration {
        let bits = (u64::try_from(len).unwrap_or(u64::MAX) + u64::from(self.overhead_bytes)) * 8;
        Duration::from_nanos(
            bits.saturating_mul(1_000_000_000) / u64::from(self.bitrate_bps.max(1)),
        )
    }
}

/// What happened to a frame at one receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Received intact.
    Received,
    /// Lost to overlapping frames on the channel.
    Collided,
    /// The receiver was transmitting during the frame (half duplex).
    ReceiverBusy,
    /// Lost on the draw against the success curve (too weak, fading).
    Faded,
}

/// One receiver's view of a frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reception {
    /// Who.
    pub node: NodeId,
    /// Received power, dBm.
    pub rssi_dbm: f64,
    /// The LQI it would report.
    pub lqi: u8,
    /// What happened.
    pub outcome: Outcome,
}

/// A frame that has ended, with what every listening node made of it.
#[derive(Debug, Clone, PartialEq)]
pub struct TxReport {
    /// Which transmission.
    pub tx: TxId,
    /// The sender.
    pub from: NodeId,
    /// The channel.
    pub channel: u8,
    /// When it started.
    pub start: Duration,
    /// When it ended (start + air time): when receivers have it.
    pub end: Duration,
    /// The PSDU.
    pub frame: Vec<u8>,
    /// Every node that was listening on the channel and could hear it at all (within
    /// 20 dB below the sensitivity), in node order.
    pub receptions: Vec<Reception>,
}

impl TxReport {
    /// The receivers that got the frame.
    pub fn delivered(&self) -> impl Iterator<Item = &Reception> {
        self.receptions
            .iter()
            .filter(|r| r.outcome == Outcome::Received)
    }
}

/// Why the medium refused a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediumError {
    /// No such node.
    #[error("no node {0:?}")]
    UnknownNode(NodeId),
    /// The node's radio is off.
    #[error("{0:?} has no channel set")]
    RadioOff(NodeId),
    /// The node is already transmitting.
    #[error("{0:?} is already transmitting")]
    Transmitting(NodeId),
    /// A PSDU longer than the PHY carries.
    #[error("frame of {len} bytes exceeds the PHY's {max}")]
    TooLong {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Time went backwards.
    #[error("time {now:?} is before {last:?}")]
    Past {
        /// The time given.
        now: Duration,
        /// The latest time seen.
        last: Duration,
    },
}

#[derive(Debug, Clone)]
struct Node {
    position: Position,
    channel: Option<u8>,
    /// When its latest frame ends (a radio sends one frame at a time).
    sending_until: Duration,
}

/// A square cell of [`PropagationConfig::reach_m`]: its nodes, and the frames they sent
/// lately.
#[derive(Debug, Default)]
struct Cell {
    nodes: Vec<u32>,
    /// Frames sent from the cell, in the order they started, with when each ends;
    /// dropped from the front once they end by the horizon (one that ends later
    /// may keep a few ended ones behind it a little longer).
    air: VecDeque<(TxId, Duration)>,
}

/// A node's links: the nodes that can hear it, in id order. Their path loss is not kept
/// ([`Medium::link_loss`] computes it when a listener list is made, about as often as a
/// radio changes channel): 4 bytes a link where the loss made it 12, and a node has some
/// 170 links.
#[derive(Debug)]
struct Links {
    nodes: Vec<u32>,
}

/// A frame's listeners: the nodes tuned to its channel that hear it above the cut-off,
/// with its RSSI at each, dBm. Shared between the node's kept list and each frame it
/// sends (a copy of the list per frame sent was an allocation per frame).
type Listeners = Arc<[(NodeId, f64)]>;

/// A frame as a node within its reach hears it (or as its sender sends it: a radio
/// that sends hears nothing else). Its times in nanoseconds ([`ns`]): 40 bytes where
/// two `Duration`s made it 56, in lists that every reception looks through.
#[derive(Debug, Clone, Copy)]
struct Heard {
    id: TxId,
    start_ns: u64,
    end_ns: u64,
    /// At this node; for the sender's own frame, minus infinity.
    rssi_dbm: f64,
    from: NodeId,
    channel: u8,
}

impl Heard {
    /// Whether it was on the air at some time in [start, end), nanoseconds.
    const fn overlaps(&self, start_ns: u64, end_ns: u64) -> bool {
        self.start_ns < end_ns && self.end_ns > start_ns
    }

    /// Whether it is on the air at `now_ns`.
    const fn on_air_at(&self, now_ns: u64) -> bool {
        self.start_ns <= now_ns && now_ns < self.end_ns
    }

    /// Whether it ended by `t_ns`.
    const fn ended_by(&self, t_ns: u64) -> bool {
        self.end_ns <= t_ns
    }
}

/// A time of the run in nanoseconds: exact for the first 584 years of a run (later
/// times are all the same, the last nanosecond).
fn ns(t: Duration) -> u64 {
    u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)
}

#[derive(Debug, Clone)]
struct Tx {
    id: TxId,
    from: NodeId,
    channel: u8,
    start: Duration,
    end: Duration,
    frame: Vec<u8>,
    /// Listeners at the start (half of the reception decision is made then), with the
    /// frame's RSSI at each, dBm.
    listeners: Listeners,
    resolved: bool,
}

/// Counters over the whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediumStats {
    /// Frames sent.
    pub frames: u64,
    /// PSDU bytes sent.
    pub bytes: u64,
    /// Receptions that succeeded.
    pub received: u64,
    /// Receptions lost to collisions.
    pub collided: u64,
    /// Receptions lost because the receiver was transmitting.
    pub receiver_busy: u64,
    /// Receptions lost on the fading draw.
    pub faded: u64,
    /// Total air time, microseconds.
    pub air_time_us: u64,
}

impl core::ops::AddAssign for MediumStats {
    fn add_assign(&mut self, o: Self) {
        self.frames += o.frames;
        self.bytes += o.bytes;
        self.received += o.received;
        self.collided += o.collided;
        self.receiver_busy += o.receiver_busy;
        self.faded += o.faded;
        self.air_time_us += o.air_time_us;
    }
}

/// The shared radio medium.
#[derive(Debug)]
pub struct Medium {
    seed: u64,
    propagation: PropagationConfig,
    phy: PhyConfig,
    nodes: Vec<Node>,
    /// Nodes and their recent frames by square cell of [`PropagationConfig::reach_m`]: a
    /// frame's receivers are looked for in the 3 × 3 cells around its sender only, and
    /// so are the frames a radio tuning in may hear.
    cells: HashMap<(i64, i64), Cell>,
    /// Each node's links to the nodes that can hear it at all, found when it first
    /// sends.
    links: Vec<Option<Links>>,
    /// Each node's listeners on the channel it last sent on ([`Medium::listeners`]),
    /// kept until a node it links to changes channel or a node is placed near it: a
    /// frame's listeners were a walk through all its links (a few hundred, on every
    /// channel) at every frame, for the few tuned to its channel.
    listening: Vec<Option<(u8, Listeners)>>,
    frames: Stream,
    /// Frames on the air and those that ended but may still overlap one that has not,
    /// in the order they started (which is their ids' order).
    on_air: VecDeque<Tx>,
    /// Per node, the recent frames it hears (above the cut-off, on the channels it was
    /// tuned to) and its own, in the order they started: what a reception's interference
    /// and a carrier sense look through, instead of every frame on the air anywhere
    /// (which grows with the network: about 330 frames per resolution at 4,000
    /// terminals). A node placed while frames are on the air does not hear those.
    hearing: Vec<VecDeque<Heard>>,
    /// Nodes that left a channel lately, which, and when: each may still be a listener
    /// of a frame there that has not been resolved, and hears what else is sent there
    /// meanwhile (rare: a radio changes channel to scan or to join).
    left: Vec<(NodeId, u8, Duration)>,
    /// The longest air time of any frame sent so far.
    longest: Duration,
    /// The frames not resolved yet, by (end, id): the next to resolve is the first.
    unresolved: BTreeSet<(Duration, TxId)>,
    next_tx: u64,
    now: Duration,
    stats: MediumStats,
}

impl Medium {
    /// An empty medium under `seed`.
    #[must_use]
    pub fn new(seed: u64, propagation: PropagationConfig, phy: PhyConfig) -> Self {
        Self {
            seed,
            propagation,
            phy,
            nodes: Vec::new(),
            cells: HashMap::new(),
            links: Vec::new(),
            listening: Vec::new(),
            frames: Stream::new(seed, 0),
            on_air: VecDeque::new(),
            hearing: Vec::new(),
            left: Vec::new(),
            longest: Duration::ZERO,
            unresolved: BTreeSet::new(),
            next_tx: 0,
            now: Duration::ZERO,
            stats: MediumStats::default(),
        }
    }

    /// Place a node, radio off.
    pub fn add_node(&mut self, position: Position) -> NodeId {
        let id = NodeId(u32::try_from(self.nodes.len()).unwrap_or(u32::MAX));
        // Placed after nodes near it found their links: theirs are found again (only
        // nodes in the cells around can hear it).
        let near: Vec<u32> = self.near(&position).collect();
        for i in near {
            if let Some(l) = self.links.get_mut(i as usize) {
                *l = None;
            }
            if let Some(l) = self.listening.get_mut(i as usize) {
                *l = None;
            }
        }
        let cell = self.cell_of(&position);
        self.cells.entry(cell).or_default().nodes.push(id.0);
        self.links.push(None);
        self.listening.push(None);
        self.hearing.push(VecDeque::new());
        self.nodes.push(Node {
            position,
            channel: None,
            sending_until: Duration::ZERO,
        });
        id
    }

    /// Tune a node's radio (`None`: off).
    ///
    /// # Errors
    /// [`MediumError::UnknownNode`].
    pub fn set_channel(&mut self, node: NodeId, channel: Option<u8>) -> Result<(), MediumError> {
        let now = self.now;
        let n = self.node_mut(node)?;
        let before = core::mem::replace(&mut n.channel, channel);
        if before == channel {
            return Ok(());
        }
        if let Some(b) = before {
            self.left.push((node, b, now));
        }
        if let Some(c) = channel {
            self.tune_in(node, c);
        }
        // The nodes it links to (the links go both ways) no longer have it where their
        // listeners on the channel it left or joined say; their lists on other channels
        // still hold (dropping those was most of a scanning radio's cost: 181 links a
        // change, 178,000 changes at 10,000 terminals).
        self.ensure_links(node)?;
        if let Some(links) = self.links.get(node.0 as usize).and_then(Option::as_ref) {
            for &i in &links.nodes {
                if let Some(l) = self.listening.get_mut(i as usize) {
                    if l.as_ref()
                        .is_some_and(|(c, _)| [before, channel].contains(&Some(*c)))
                    {
                        *l = None;
                    }
                }
            }
        }
        Ok(())
    }

    /// `node` just tuned to `channel`: the frames on the air there that it hears join its
    /// list (a frame's listeners were those tuned to its channel when it started), in
    /// the order they started.
    fn tune_in(&mut self, node: NodeId, channel: u8) {
        let horizon = self.horizon();
        let Some(at) = self.nodes.get(node.0 as usize).map(|n| n.position) else {
            return;
        };
        // The senders it may hear are in the cells around it (a link reaches no further
        // than a cell), and so are their frames still on the air: a walk through every
        // frame on the air anywhere (thousands while a large network joins, at every
        // channel a scanning terminal tried) was a third of the main thread at 100,000
        // terminals, and a look at every node around (a thousand) a tenth at 10,000.
        let mut caught: Vec<Heard> = Vec::new();
        for cell in self.cells_around(&at) {
            for &(id, end) in &cell.air {
                if end <= horizon {
                    continue;
                }
                let Some(t) = self.on_air_at(id).and_then(|i| self.on_air.get(i)) else {
                    continue;
                };
                if t.channel != channel || t.from == node {
                    continue;
                }
                if let Some(rssi_dbm) = self.heard_at(t.from, node, channel) {
                    caught.push(Heard {
                        id: t.id,
                        start_ns: ns(t.start),
                        end_ns: ns(t.end),
                        rssi_dbm,
                        from: t.from,
                        channel,
                    });
                }
            }
        }
        if caught.is_empty() {
            return;
        }
        if let Some(list) = self.hearing.get_mut(node.0 as usize) {
            let mut all: Vec<Heard> = list.drain(..).chain(caught).collect();
            all.sort_by_key(|h| h.id);
            all.dedup_by_key(|h| h.id);
            list.extend(all);
        }
    }

    /// What `to` receives of `from` on `channel`, dBm, if above the cut-off (`from`'s
    /// links found).
    fn heard_at(&self, from: NodeId, to: NodeId, channel: u8) -> Option<f64> {
        let links = self.links.get(from.0 as usize)?.as_ref()?;
        links.nodes.binary_search(&to.0).ok()?;
        let reference = crate::propagation::reference_loss_db(channel);
        let rssi = self
            .propagation
            .rssi_dbm(reference + self.link_loss(from.0, to.0)?);
        (rssi >= self.propagation.sensitivity_dbm - 20.0).then_some(rssi)
    }

    /// The path loss between nodes `a` and `b` without the channel's reference loss
    /// (dB): distance, building and the seed's shadowing, the same both ways (the pair
    /// taken in id order): what [`Medium::rssi_dbm`] and every listener list use.
    fn link_loss(&self, a: u32, b: u32) -> Option<f64> {
        let (lo, hi) = (a.min(b), a.max(b));
        let p = self.nodes.get(lo as usize)?.position;
        let q = self.nodes.get(hi as usize)?.position;
        let prop = self.propagation;
        let shadow = prop.shadowing_db(self.seed, lo, hi);
        Some(prop.path_loss_db(&p, &q, 33, shadow) - crate::propagation::reference_loss_db(33))
    }

    /// Frames that ended by then can overlap nothing still to be resolved or sensed: the
    /// next frame to resolve (the one that ends first), and any to come, started after.
    fn horizon(&self) -> Duration {
        let first_end = self
            .unresolved
            .first()
            .map_or(self.now, |u| u.0.min(self.now));
        first_end.saturating_sub(self.longest)
    }

    /// The counters so far.
    #[must_use]
    pub const fn stats(&self) -> MediumStats {
        self.stats
    }

    /// The PHY parameters.
    #[must_use]
    pub const fn phy(&self) -> &PhyConfig {
        &self.phy
    }

    /// Received power at `to` of a frame from `from` on `channel`, dBm.
    ///
    /// # Errors
    /// [`MediumError::UnknownNode`].
    pub fn rssi_dbm(&self, from: NodeId, to: NodeId, channel: u8) -> Result<f64, MediumError> {
        self.node(from)?;
        let loss = self
            .link_loss(from.0, to.0)
            .ok_or(MediumError::UnknownNode(to))?;
        let reference = crate::propagation::reference_loss_db(channel);
        Ok(self.propagation.rssi_dbm(reference + loss))
    }

    /// Whether `node` senses `channel` busy at `now` (carrier sense before sending:
    /// ARIB STD-T108).
    ///
    /// # Errors
    /// [`MediumError::UnknownNode`].
    pub fn channel_busy(&mut self, node: NodeId, channel: u8) -> Result<bool, MediumError> {
        let now = self.now;
        let sense = self.propagation.carrier_sense_dbm;
        if self.node(node)?.channel != Some(channel) {
            // Sensing a channel the radio is not (yet) tuned to: its list does not
            // follow that channel; the frames on the air do.
            return Ok(self.on_air.iter().any(|t| {
                t.channel == channel
                    && t.from != node
                    && t.start <= now
                    && now < t.end
                    && self
                        .heard_at(t.from, node, channel)
                        .is_some_and(|rssi| rssi >= sense)
            }));
        }
        let now_ns = ns(now);
        Ok(self
            .hearing
            .get(node.0 as usize)
            .ok_or(MediumError::UnknownNode(node))?
            .iter()
            .any(|h| {
                h.channel == channel && h.from != node && h.on_air_at(now_ns) && h.rssi_dbm >= sense
            }))
    }

    /// `from`'s links, found if not yet.
    fn ensure_links(&mut self, from: NodeId) -> Result<(), MediumError> {
        let index = from.0 as usize;
        if self
            .links
            .get(index)
            .ok_or(MediumError::UnknownNode(from))?
            .is_none()
        {
            let found = self.find_links(from)?;
            if let Some(l) = self.links.get_mut(index) {
                *l = Some(found);
            }
        }
        Ok(())
    }

    /// Start sending `frame` from `from` on its channel at `now`; returns the
    /// transmission and when it ends.
    ///
    /// # Errors
    /// [`MediumError`]: unknown node, radio off, already transmitting, too long, or `now`
    /// before the latest time seen.
    pub fn transmit(
        &mut self,
        now: Duration,
        from: NodeId,
        frame: Vec<u8>,
    ) -> Result<(TxId, Duration), MediumError> {
        self.set_now(now)?;
        let sender = self.node(from)?;
        let channel = sender.channel.ok_or(MediumError::RadioOff(from))?;
        if frame.len() > self.phy.max_psdu {
            return Err(MediumError::TooLong {
                len: frame.len(),
                max: self.phy.max_psdu,
            });
        }
        if sender.sending_until > now {
            return Err(MediumError::Transmitting(from));
        }
        let air = self.phy.air_time(frame.len());
        self.longest = self.longest.max(air);
        let end = now + air;
        let id = TxId(self.next_tx);
        self.next_tx += 1;
        let sender = self.node_mut(from)?;
        sender.sending_until = end;
        let at = sender.position;
        let horizon = self.horizon();
        let cell = self.cell_of(&at);
        if let Some(c) = self.cells.get_mut(&cell) {
            while c.air.front().is_some_and(|&(_, e)| e <= horizon) {
                c.air.pop_front();
            }
            c.air.push_back((id, end));
        }
        let listeners = self.listeners(from, channel)?;
        self.stats.frames += 1;
        self.stats.bytes += u64::try_from(frame.len()).unwrap_or(u64::MAX);
        self.stats.air_time_us += u64::try_from(air.as_micros()).unwrap_or(u64::MAX);
        self.unresolved.insert((end, id));
        self.hear(
            Heard {
                id,
                start_ns: ns(now),
                end_ns: ns(end),
                rssi_dbm: f64::NEG_INFINITY,
                from,
                channel,
            },
            &listeners,
        );
        self.on_air.push_back(Tx {
            id,
            from,
            channel,
            start: now,
            end,
            frame,
            listeners,
            resolved: false,
        });
        Ok((id, end))
    }

    /// The nodes in the 3 × 3 cells around `at`: every node that can hear a sender there
    /// or be heard by it.
    fn near(&self, at: &Position) -> impl Iterator<Item = u32> + '_ {
        self.cells_around(at).flat_map(|c| c.nodes.iter().copied())
    }

    /// The 3 × 3 cells around `at` that hold a node.
    fn cells_around(&self, at: &Position) -> impl Iterator<Item = &Cell> + '_ {
        let (cx, cy) = self.cell_of(at);
        (cx - 1..=cx + 1)
            .flat_map(move |x| (cy - 1..=cy + 1).map(move |y| (x, y)))
            .filter_map(|c| self.cells.get(&c))
    }

    /// The cell of a position.
    fn cell_of(&self, p: &Position) -> (i64, i64) {
        let reach = self.propagation.reach_m();
        #[allow(clippy::cast_possible_truncation)]
        let cell = |v: f64| (v / reach).floor() as i64;
        (cell(p.x), cell(p.y))
    }

    /// The nodes on `channel` that hear `from` above the cut-off (20 dB under the
    /// sensitivity; below it no reception is counted), with the RSSI at each, in the
    /// order they were added (the run's randomness is drawn in that order).
    fn listeners(&mut self, from: NodeId, channel: u8) -> Result<Listeners, MediumError> {
        let index = from.0 as usize;
        if let Some(Some((c, kept))) = self.listening.get(index) {
            if *c == channel {
                return Ok(Arc::clone(kept));
            }
        }
        let found = self.find_listeners(from, channel)?;
        if let Some(l) = self.listening.get_mut(index) {
            *l = Some((channel, Arc::clone(&found)));
        }
        Ok(found)
    }

    /// [`Medium::listeners`] found from the links.
    fn find_listeners(&mut self, from: NodeId, channel: u8) -> Result<Listeners, MediumError> {
        let index = from.0 as usize;
        self.ensure_links(from)?;
        let floor = self.propagation.sensitivity_dbm - 20.0;
        let reference = crate::propagation::reference_loss_db(channel);
        let links = self.links.get(index).and_then(Option::as_ref);
        Ok(links
            .into_iter()
            .flat_map(|l| l.nodes.iter().copied())
            .filter(|&i| {
                self.nodes
                    .get(i as usize)
                    .is_some_and(|n| n.channel == Some(channel))
            })
            .filter_map(|i| {
                let loss = self.link_loss(from.0, i)?;
                Some((NodeId(i), self.propagation.rssi_dbm(reference + loss)))
            })
            .filter(|(_, rssi)| *rssi >= floor)
            .collect())
    }

    /// The links of `from`: every node within reach (3 × 3 cells around it) whose
    /// path loss, shadowing and building included, leaves a frame above the cut-off on
    /// some channel. The loss is the one [`Medium::rssi_dbm`] computes.
    fn find_links(&self, from: NodeId) -> Result<Links, MediumError> {
        let at = self.node(from)?.position;
        let prop = self.propagation;
        let best = crate::propagation::reference_loss_db(33)
            .min(crate::propagation::reference_loss_db(59));
        let floor = prop.sensitivity_dbm - 20.0;
        let (reach, reach_through_walls) =
            (prop.reach_m(), prop.reach_through_m(prop.building_loss_db));
        let mut links: Vec<u32> = self
            .near(&at)
            .filter(|&i| i != from.0)
            .filter(|&i| {
                // A link is the same both ways (distance, building, shadowing): a node
                // whose links are found already has this one, or it is below the cut-off.
                if let Some(theirs) = self.links.get(i as usize).and_then(Option::as_ref) {
                    return theirs.nodes.binary_search(&from.0).is_ok();
                }
                let Some(to) = self.nodes.get(i as usize).map(|n| n.position) else {
                    return false;
                };
                // Too far for any shadowing to bring it above the cut-off: not drawn
                // (most of the nodes in the cells around are).
                let reach = if at.indoor == to.indoor {
                    reach
                } else {
                    reach_through_walls
                };
                if at.distance(&to) > reach {
                    return false;
                }
                self.link_loss(from.0, i)
                    .is_some_and(|loss| prop.rssi_dbm(best + loss) >= floor)
            })
            .collect();
        links.sort_unstable();
        links.shrink_to_fit();
        Ok(Links { nodes: links })
    }

    /// When the next unresolved frame ends, if any: call [`Medium::advance`] then.
    #[must_use]
    pub fn next_end(&self) -> Option<Duration> {
        self.unresolved.first().map(|(end, _)| *end)
    }

    /// A frame just sent, to its sender's list, to its listeners' (the nodes tuned to
    /// its channel that hear it above the cut-off, 20 dB under the sensitivity: below it
    /// a sender neither carries a frame, nor is sensed — the carrier-sense level is far
    /// above —, nor adds interference worth counting), and to those of the nodes that
    /// left its channel since the horizon and hear it (they may still be the listeners
    /// of a frame there to resolve). This keeps a frame's cost to the nodes near it, not
    /// the run's size. Each list is pruned of the frames that can overlap nothing any
    /// more, and stays in the order frames started (ids' order), so interference adds
    /// up in one order.
    fn hear(&mut self, sent: Heard, listeners: &[(NodeId, f64)]) {
        let horizon = self.horizon();
        let horizon_ns = ns(horizon);
        let push = |list: &mut VecDeque<Heard>, h: Heard| {
            while list.front().is_some_and(|old| old.ended_by(horizon_ns)) {
                list.pop_front();
            }
            list.push_back(h);
        };
        if let Some(own) = self.hearing.get_mut(sent.from.0 as usize) {
            push(own, sent);
        }
        for &(node, rssi_dbm) in listeners {
            if let Some(list) = self.hearing.get_mut(node.0 as usize) {
                push(list, Heard { rssi_dbm, ..sent });
            }
        }
        self.left.retain(|&(_, _, at)| at >= horizon);
        let mut away: Vec<(NodeId, f64)> = Vec::new();
        for &(node, c, _) in &self.left {
            if c != sent.channel || node == sent.from {
                continue;
            }
            // Back on it: a listener already; twice away: once. (Asked only of those
            // that left this channel: a node's state is a load from memory, and while a
            // large network joins, thousands of radios left a channel lately.)
            let back = self.node(node).is_ok_and(|n| n.channel == Some(c));
            if back || away.iter().any(|a| a.0 == node) {
                continue;
            }
            if let Some(rssi) = self.heard_at(sent.from, node, sent.channel) {
                away.push((node, rssi));
            }
        }
        for (node, rssi_dbm) in away {
            if let Some(list) = self.hearing.get_mut(node.0 as usize) {
                push(list, Heard { rssi_dbm, ..sent });
            }
        }
    }

    /// Move time to `now` and resolve every frame that ended by then, in end order.
    ///
    /// # Errors
    /// [`MediumError::Past`].
    pub fn advance(&mut self, now: Duration) -> Result<Vec<TxReport>, MediumError> {
        self.set_now(now)?;
        let mut reports = Vec::new();
        while let Some(&(end, id)) = self.unresolved.first() {
            if end > now {
                break;
            }
            self.unresolved.pop_first();
            if let Some(i) = self.on_air_at(id) {
                if let Some(report) = self.resolve(i)? {
                    reports.push(report);
                }
            }
        }
        self.forget_old();
        Ok(reports)
    }

    /// Where frame `id` is in [`Medium::on_air`], if it is still there.
    fn on_air_at(&self, id: TxId) -> Option<usize> {
        self.on_air.binary_search_by_key(&id, |t| t.id).ok()
    }

    fn resolve(&mut self, index: usize) -> Result<Option<TxReport>, MediumError> {
        // The frame and its listeners go with the report; what stays is what another
        // frame's resolution needs of it (sender, channel, times).
        let Some(tx) = self.on_air.get_mut(index).map(|t| Tx {
            frame: core::mem::take(&mut t.frame),
            listeners: core::mem::take(&mut t.listeners),
            ..*t
        }) else {
            return Ok(None);
        };
        // Frames overlapping it from senders that its listeners may hear (or that are
        // its listeners): within two cells of its sender.
        let mut receptions = Vec::with_capacity(tx.listeners.len());
        let (start_ns, end_ns) = (ns(tx.start), ns(tx.end));
        for &(node, rssi) in tx.listeners.iter() {
            if rssi < self.propagation.sensitivity_dbm - 20.0 {
                continue;
            }
            // What else the listener heard (or sent) while the frame was on the air, in
            // one look through its recent frames (the listener's own sending ends it):
            // the list is a cache miss at each listener, and was looked through twice.
            let mut busy = false;
            let mut interference_mw = 0.0;
            for h in self
                .hearing
                .get(node.0 as usize)
                .ok_or(MediumError::UnknownNode(node))?
                .iter()
                .filter(|h| h.id != tx.id && h.overlaps(start_ns, end_ns))
            {
                if h.from == node {
                    busy = true;
                    break;
                }
                if h.channel == tx.channel {
                    interference_mw += dbm_to_mw(h.rssi_dbm);
                }
            }
            let outcome = if busy {
                Outcome::ReceiverBusy
            } else {
                let sir_ok = interference_mw <= 0.0
                    || mw_to_dbm(dbm_to_mw(rssi) / interference_mw) >= self.propagation.capture_db;
                if !sir_ok {
                    Outcome::Collided
                } else if self.frames.uniform() < self.propagation.success_probability(rssi) {
                    Outcome::Received
                } else {
                    Outcome::Faded
                }
            };
            match outcome {
                Outcome::Received => self.stats.received += 1,
                Outcome::Collided => self.stats.collided += 1,
                Outcome::ReceiverBusy => self.stats.receiver_busy += 1,
                Outcome::Faded => self.stats.faded += 1,
            }
            receptions.push(Reception {
                node,
                rssi_dbm: rssi,
                lqi: lqi(rssi),
                outcome,
            });
        }
        if let Some(t) = self.on_air.get_mut(index) {
            t.resolved = true;
        }
        Ok(Some(TxReport {
            tx: tx.id,
            from: tx.from,
            channel: tx.channel,
            start: tx.start,
            end: tx.end,
            frame: tx.frame,
            receptions,
        }))
    }

    /// Drop resolved frames nothing unresolved or to come can overlap any more: those
    /// at the front (the earliest started) that ended by the horizon. Popped one at a
    /// time, in constant time each: looking for the first unresolved frame from the
    /// front at every advance, and moving what stayed, grew with the frames on the air
    /// (6 % of the main thread of a run of 10,000 terminals).
    fn forget_old(&mut self) {
        let horizon = self.horizon();
        while self
            .on_air
            .front()
            .is_some_and(|t| t.resolved && t.end <= horizon)
        {
            self.on_air.pop_front();
        }
    }

    fn set_now(&mut self, now: Duration) -> Result<(), MediumError> {
        if now < self.now {
            return Err(MediumError::Past {
                now,
                last: self.now,
            });
        }
        self.now = now;
        Ok(())
    }

    fn node(&self, id: NodeId) -> Result<&Node, MediumError> {
        self.nodes
            .get(id.0 as usize)
            .ok_or(MediumError::UnknownNode(id))
    }

    fn node_mut(&mut self, id: NodeId) -> Result<&mut Node, MediumError> {
        self.nodes
            .get_mut(id.0 as usize)
            .ok_or(MediumError::UnknownNode(id))
    }
}

fn dbm_to_mw(dbm: f64) -> f64 {
    10f64.powf(dbm / 10.0)
}

fn mw_to_dbm(mw: f64) -> f64 {
    10.0 * mw.log10()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The listeners a frame is resolved for, found through the cells and each node's
    /// links, are exactly the nodes on its channel that [`Medium::rssi_dbm`] puts at or
    /// above the cut-off — over a town 20 km wide, indoors and out, with the model's
    /// shadowing — and get the same RSSI.
    #[test]
    fn listeners_found_by_cells_and_links_are_every_node_above_the_cut_off() {
        let mut m = Medium::new(7, PropagationConfig::default(), PhyConfig::default());
        let mut place = crate::rng::Stream::new(3, 9);
        let ids: Vec<NodeId> = (0..600)
            .map(|k| {
                let (x, y) = (place.uniform() * 20_000.0, place.uniform() * 2_000.0);
                let p = if k % 3 == 0 {
                    Position::outdoor(x, y)
                } else {
                    Position::indoor(x, y)
                };
                m.add_node(p)
            })
            .collect();
        for (k, id) in ids.iter().enumerate() {
            m.set_channel(*id, Some(if k % 2 == 0 { 33 } else { 35 }))
                .unwrap();
        }
        let floor = m.propagation.sensitivity_dbm - 20.0;
        let check = |m: &mut Medium, on_33: &dyn Fn(usize) -> bool| {
            for from in ids.iter().step_by(7) {
                let found = m.listeners(*from, 33).unwrap();
                let mut brute = Vec::new();
                for (k, to) in ids.iter().enumerate() {
                    if to != from && on_33(k) {
                        // Computed here from the model's terms, not by the medium.
                        let (a, b) = (m.node(*from).unwrap(), m.node(*to).unwrap());
                        let (lo, hi) = (from.0.min(to.0), from.0.max(to.0));
                        let prop = m.propagation;
                        let shadow = prop.shadowing_db(m.seed, lo, hi);
                        let rssi =
                            prop.rssi_dbm(prop.path_loss_db(&a.position, &b.position, 33, shadow));
                        if rssi >= floor {
                            brute.push((*to, rssi));
                        }
                    }
                }
                assert_eq!(found.len(), brute.len(), "from {from:?}");
                for ((a, ra), (b, rb)) in found.iter().zip(&brute) {
                    assert_eq!(a, b);
                    assert!((ra - rb).abs() < 1e-9, "{ra} {rb}");
                }
            }
        };
        check(&mut m, &|k| k % 2 == 0);
        // Listeners kept from the first look follow the nodes that change channel.
        for (k, id) in ids.iter().enumerate().filter(|(k, _)| k % 5 == 0) {
            m.set_channel(*id, Some(if k % 2 == 0 { 35 } else { 33 }))
                .unwrap();
        }
        check(&mut m, &|k| (k % 2 == 0) != (k % 5 == 0));
    }

    fn quiet() -> PropagationConfig {
        PropagationConfig {
            shadowing_sigma_db: 0.0,
            ..PropagationConfig::default()
        }
    }

    fn medium(prop: PropagationConfig) -> (Medium, NodeId, NodeId, NodeId) {
        let mut m = Medium::new(1, prop, PhyConfig::default());
        let a = m.add_node(Position::outdoor(0.0, 0.0));
        let b = m.add_node(Position::outdoor(20.0, 0.0));
        let c = m.add_node(Position::outdoor(0.0, 25.0));
        for n in [a, b, c] {
            m.set_channel(n, Some(33)).unwrap();
        }
        (m, a, b, c)
    }

    const MS: Duration = Duration::from_millis(1);

    /// A link is a node's id only: its loss is computed when needed (the listeners test
    /// above holds it to what `rssi_dbm` computes), not kept beside it.
    #[test]
    fn a_link_is_kept_in_4_bytes() {
        let mut m = Medium::new(7, PropagationConfig::default(), PhyConfig::default());
        let a = m.add_node(Position::outdoor(0.0, 0.0));
        let b = m.add_node(Position::outdoor(30.0, 0.0));
        m.ensure_links(a).unwrap();
        let links = m.links[a.0 as usize].as_ref().unwrap();
        assert_eq!(links.nodes, [b.0]);
        assert_eq!(
            core::mem::size_of::<Links>(),
            core::mem::size_of::<Vec<u32>>()
        );
    }

    #[test]
    fn a_frame_heard_is_kept_in_40_bytes() {
        assert_eq!(core::mem::size_of::<Heard>(), 40);
    }

    #[test]
    fn rad01_air_time_at_100_kbps() {
        // 100 bytes + 12 of SHR/PHR = 896 bits = 8.96 ms.
        assert_eq!(
            PhyConfig::default().air_time(100),
            Duration::from_micros(8960)
        );
    }

    #[test]
    fn rad01_a_near_frame_is_received_with_rssi_and_lqi_at_its_end() {
        let (mut m, a, b, _) = medium(quiet());
        let (tx, end) = m.transmit(Duration::ZERO, a, vec![1, 2, 3]).unwrap();
        assert_eq!(m.next_end(), Some(end));
        assert!(m.advance(end - Duration::from_nanos(1)).unwrap().is_empty());
        let reports = m.advance(end).unwrap();
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].tx, tx);
        let got: Vec<NodeId> = reports[0].delivered().map(|r| r.node).collect();
        assert_eq!(got, vec![b, NodeId(2)]);
        let r = reports[0].receptions[0];
        assert!(r.rssi_dbm < 0.0 && r.rssi_dbm > -80.0, "{}", r.rssi_dbm);
        assert_eq!(r.lqi, lqi(r.rssi_dbm));
        assert_eq!(m.stats().received, 2);
    }

    #[test]
    fn rad01_overlapping_frames_of_equal_strength_collide_and_half_duplex_holds() {
        let (mut m, a, b, c) = medium(quiet());
        // a and c both reach b at similar power; both start within each other's frame.
        m.transmit(Duration::ZERO, a, vec![0; 50]).unwrap();
        m.transmit(MS, c, vec![0; 50]).unwrap();
        let reports = m.advance(Duration::from_secs(1)).unwrap();
        assert_eq!(reports.len(), 2);
        for r in &reports {
            let at_b = r.receptions.iter().find(|x| x.node == b).unwrap();
            assert_eq!(at_b.outcome, Outcome::Collided);
            // a and c were each transmitting while the other's frame was on the air.
            let other = if r.from == a { c } else { a };
            let at_other = r.receptions.iter().find(|x| x.node == other).unwrap();
            assert_eq!(at_other.outcome, Outcome::ReceiverBusy);
        }
    }

    /// Interference comes from every overlapping sender a listener hears, which may be
    /// two cells from the frame's sender (the listener one cell from each): such a
    /// sender, as strong at the listener as the frame, makes it collide there.
    #[test]
    fn rad01_a_sender_two_cells_away_interferes_at_a_listener_between() {
        let reach = quiet().reach_m();
        let mut m = Medium::new(1, quiet(), PhyConfig::default());
        let a = m.add_node(Position::outdoor(0.95 * reach, 0.0));
        let listener = m.add_node(Position::outdoor(1.5 * reach, 0.0));
        let far = m.add_node(Position::outdoor(2.05 * reach, 0.0));
        for n in [a, listener, far] {
            m.set_channel(n, Some(33)).unwrap();
        }
        m.transmit(Duration::ZERO, a, vec![0; 50]).unwrap();
        m.transmit(MS, far, vec![0; 50]).unwrap();
        let reports = m.advance(Duration::from_secs(1)).unwrap();
        let from_a = reports.iter().find(|r| r.from == a).unwrap();
        let at = from_a
            .receptions
            .iter()
            .find(|x| x.node == listener)
            .unwrap();
        assert_eq!(at.outcome, Outcome::Collided);
    }

    /// Each node keeps the frames it hears (the cost of a frame stays with the nodes
    /// near it); what a radio tuned or left meanwhile must still count. A listener that
    /// leaves the channel during a frame still counts what is sent there after it left;
    /// one that tunes in during a frame hears it (carrier sense, interference).
    #[test]
    fn rad01_tuning_in_and_leaving_during_a_frame_keep_what_the_air_holds() {
        let (mut m, a, b, c) = medium(quiet());
        // b is a listener of a's frame, leaves the channel, c then collides it there.
        m.transmit(Duration::ZERO, a, vec![0; 50]).unwrap();
        m.set_channel(b, Some(35)).unwrap();
        m.transmit(MS, c, vec![0; 50]).unwrap();
        let reports = m.advance(Duration::from_secs(1)).unwrap();
        let from_a = reports.iter().find(|r| r.from == a).unwrap();
        let at_b = from_a.receptions.iter().find(|x| x.node == b).unwrap();
        assert_eq!(at_b.outcome, Outcome::Collided);
        // b, on 35, tunes to 33 while a sends there: it senses the channel busy, and a
        // frame it then receives from c on 33 collides with a's.
        let t = Duration::from_secs(2);
        m.transmit(t, a, vec![0; 100]).unwrap();
        m.advance(t + MS).unwrap();
        assert!(!m.channel_busy(b, 35).unwrap());
        // Asked about 33 before it is tuned there (a link that just changed channel).
        assert!(m.channel_busy(b, 33).unwrap());
        m.set_channel(b, Some(33)).unwrap();
        assert!(m.channel_busy(b, 33).unwrap());
        m.transmit(t + MS, c, vec![0; 50]).unwrap();
        let reports = m.advance(t + Duration::from_secs(1)).unwrap();
        let from_c = reports.iter().find(|r| r.from == c).unwrap();
        let at_b = from_c.receptions.iter().find(|x| x.node == b).unwrap();
        assert_eq!(at_b.outcome, Outcome::Collided);
    }

    /// A radio tuning in catches exactly the frames on the air there that it hears, its
    /// senders' earlier frames not yet forgotten included: what a walk through every
    /// frame on the air finds, found from the nodes around it and each one's latest frame
    /// back (nodes far off, other channels, frames forgotten, its own left out).
    #[test]
    fn rad01_tuning_in_catches_what_a_walk_through_the_whole_air_finds() {
        let (mut m, a, b, c) = medium(quiet());
        let far = m.add_node(Position::outdoor(5_000.0, 0.0));
        let d = m.add_node(Position::outdoor(30.0, 30.0));
        for n in [far, d] {
            m.set_channel(n, Some(33)).unwrap();
        }
        // b left 33 long before (not among the radios that left lately any more).
        m.set_channel(b, Some(35)).unwrap();
        let t = Duration::from_secs(1);
        m.transmit(t, a, vec![0; 10]).unwrap();
        m.advance(t + 10 * MS).unwrap();
        // A long frame holds the horizon back; c sends three short ones under it, the
        // first two ended when b tunes in; d sends on 35 and on 33; far is out of reach.
        let t = Duration::from_secs(2);
        m.transmit(t, a, vec![0; 250]).unwrap();
        m.transmit(t + MS, c, vec![0; 10]).unwrap();
        m.transmit(t + MS, far, vec![0; 10]).unwrap();
        m.advance(t + 3 * MS).unwrap();
        m.transmit(t + 4 * MS, c, vec![0; 10]).unwrap();
        m.set_channel(d, Some(35)).unwrap();
        m.transmit(t + 4 * MS, d, vec![0; 10]).unwrap();
        m.advance(t + 6 * MS).unwrap();
        m.set_channel(d, Some(33)).unwrap();
        m.transmit(t + 7 * MS, c, vec![0; 10]).unwrap();
        m.transmit(t + 7 * MS, d, vec![0; 10]).unwrap();
        m.advance(t + 8 * MS).unwrap();
        assert!(m.left.iter().all(|l| l.0 != b), "b left long ago");
        let horizon = m.horizon();
        let on_air: Vec<TxId> = m
            .on_air
            .iter()
            .filter(|t| t.channel == 33 && t.from != b && t.end > horizon)
            .filter(|t| m.heard_at(t.from, b, 33).is_some())
            .map(|t| t.id)
            .collect();
        assert_eq!(on_air.len(), 5, "a's, c's three and d's on 33: {on_air:?}");
        // With what b heard on 35 (d's frame there).
        let mut expected: Vec<TxId> = on_air
            .into_iter()
            .chain(m.hearing[b.0 as usize].iter().map(|h| h.id))
            .collect();
        expected.sort_unstable();
        expected.dedup();
        m.set_channel(b, Some(33)).unwrap();
        let caught: Vec<TxId> = m.hearing[b.0 as usize].iter().map(|h| h.id).collect();
        assert_eq!(caught, expected);
    }

    /// A node's list forgets only frames that can overlap nothing still to resolve: a
    /// short frame that ended long before a long one it overlapped ends still collides
    /// it, though other frames joined the list meanwhile.
    #[test]
    fn rad01_a_short_frame_collides_a_long_one_resolved_after_it() {
        let (mut m, a, b, c) = medium(quiet());
        let e = m.add_node(Position::outdoor(420.0, 0.0));
        m.set_channel(e, Some(33)).unwrap();
        let floor = m.propagation.sensitivity_dbm - 20.0;
        let from_e = m.rssi_dbm(e, b, 33).unwrap();
        assert!(from_e >= floor && from_e < m.rssi_dbm(a, b, 33).unwrap() - 20.0);
        m.transmit(Duration::ZERO, c, vec![0; 10]).unwrap();
        m.transmit(MS, a, vec![0; 250]).unwrap();
        m.advance(5 * MS).unwrap();
        // Heard at b too, far too weak to matter: its arrival prunes b's list.
        m.transmit(10 * MS, e, vec![0; 10]).unwrap();
        let reports = m.advance(Duration::from_secs(1)).unwrap();
        let from_a = reports.iter().find(|r| r.from == a).unwrap();
        let at_b = from_a.receptions.iter().find(|x| x.node == b).unwrap();
        assert_eq!(at_b.outcome, Outcome::Collided);
    }

    #[test]
    fn rad01_a_much_stronger_frame_captures_the_receiver() {
        let (mut m, a, b, _) = medium(quiet());
        let far = m.add_node(Position::outdoor(150.0, 0.0));
        m.set_channel(far, Some(33)).unwrap();
        m.transmit(Duration::ZERO, a, vec![0; 50]).unwrap();
        m.transmit(MS, far, vec![0; 50]).unwrap();
        let reports = m.advance(Duration::from_secs(1)).unwrap();
        let from_a = reports.iter().find(|r| r.from == a).unwrap();
        let at_b = from_a.receptions.iter().find(|x| x.node == b).unwrap();
        assert_eq!(
            at_b.outcome,
            Outcome::Received,
            "{} dB margin",
            at_b.rssi_dbm
        );
    }

    #[test]
    fn rad01_other_channels_neither_hear_nor_interfere() {
        let (mut m, a, b, c) = medium(quiet());
        m.set_channel(c, Some(35)).unwrap();
        m.transmit(Duration::ZERO, a, vec![0; 50]).unwrap();
        m.transmit(MS, c, vec![0; 50]).unwrap();
        let reports = m.advance(Duration::from_secs(1)).unwrap();
        let from_a = reports.iter().find(|r| r.from == a).unwrap();
        assert_eq!(
            from_a.delivered().map(|r| r.node).collect::<Vec<_>>(),
            vec![b]
        );
        let from_c = reports.iter().find(|r| r.from == c).unwrap();
        assert!(from_c.receptions.is_empty());
    }

    #[test]
    fn rad01_carrier_sense_sees_a_frame_on_the_air() {
        let (mut m, a, b, _) = medium(quiet());
        m.transmit(Duration::ZERO, a, vec![0; 200]).unwrap();
        m.advance(MS).unwrap();
        assert!(m.channel_busy(b, 33).unwrap());
        assert!(!m.channel_busy(b, 35).unwrap());
        assert_eq!(
            m.transmit(MS, a, vec![0]),
            Err(MediumError::Transmitting(a))
        );
        m.advance(Duration::from_secs(1)).unwrap();
        assert!(!m.channel_busy(b, 33).unwrap());
    }

    #[test]
    fn rad01_beyond_range_frames_fade_and_the_run_is_reproducible() {
        let run = |seed| {
            let mut m = Medium::new(seed, PropagationConfig::default(), PhyConfig::default());
            let a = m.add_node(Position::outdoor(0.0, 0.0));
            let b = m.add_node(Position::indoor(75.0, 0.0));
            m.set_channel(a, Some(33)).unwrap();
            m.set_channel(b, Some(33)).unwrap();
            let mut outcomes = Vec::new();
            for i in 0..200u64 {
                let (_, end) = m.transmit(Duration::from_secs(i), a, vec![0; 20]).unwrap();
                for r in m.advance(end).unwrap() {
                    outcomes.extend(r.receptions.iter().map(|x| x.outcome));
                }
            }
            outcomes
        };
        let one = run(5);
        assert_eq!(one, run(5), "same seed, same outcomes");
        let received = one.iter().filter(|o| **o == Outcome::Received).count();
        // Near the edge of the link budget: some frames arrive and some fade.
        assert!(
            received > 0 && received < one.len(),
            "{received} of {}",
            one.len()
        );
    }

    #[test]
    fn errors_are_typed() {
        let (mut m, a, _, _) = medium(quiet());
        assert_eq!(
            m.transmit(Duration::ZERO, NodeId(99), vec![]),
            Err(MediumError::UnknownNode(NodeId(99)))
        );
        assert!(matches!(
            m.transmit(Duration::ZERO, a, vec![0; 2048]),
            Err(MediumError::TooLong { len: 2048, .. })
        ));
        m.advance(Duration::from_secs(2)).unwrap();
        assert!(matches!(
            m.advance(Duration::from_secs(1)),
            Err(MediumError::Past { .. })
        ));
        m.set_channel(a, None).unwrap();
        assert_eq!(
            m.transmit(Duration::from_secs(3), a, vec![]),
            Err(MediumError::RadioOff(a))
        );
    }
}
