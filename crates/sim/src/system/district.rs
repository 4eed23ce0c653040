//! A district of the run: a stretch of the street with its smart meters, the terminals
//! whose homes are next to them, and the radio they share — a world of its own on the
//! air, which no frame from another district reaches (the districts are farther apart
//! than [`PropagationConfig::reach_m`]). Its only tie to the rest of the system is the A
//! route: what its smart meters send the head end ([`Up`], in its outbox) and the head
//! end's bytes for them (its inbox, each at the time it arrives). So districts run side
//! by side, each up to a time the coordinator ([`super::LinkSim`]) gives it, and a run is
//! the same whichever thread runs which district.

use super::*;

/// What a district's smart meters send the head end, in the order they send it.
pub(super) enum Up {
    /// Its smart meters' relays' bytes.
    Bytes(a_route::Bytes),
    /// An event of the system, counted with the terminals' (an outage, a reboot).
    Event(&'static str),
}

/// What a district is made of, as the run placed it.
pub(super) struct Setup {
    pub number: usize,
    pub opts: std::sync::Arc<Options>,
    /// Its smart meters' indexes (each smart meter `i` is `meter_eui(i + 1)`).
    pub meters: core::ops::Range<u32>,
    pub medium: Medium,
    /// Its smart meters, in index order, then its terminals, in number order.
    pub nodes: Vec<Node>,
    pub origin: DateTime<Utc>,
    pub slots: Vec<Duration>,
    pub grid: tally::Grid,
    pub t0: std::time::Instant,
    pub pairing: PairingId,
    /// Whether frames are kept for the pcap.
    pub pcap: bool,
    /// When the head end starts again (its smart meters connect again then).
    pub restarts: BTreeSet<Duration>,
    pub outage_events: BTreeSet<(Duration, [u8; 8], bool)>,
    pub reboot_events: BTreeSet<(Duration, u32)>,
    pub swap_events: BTreeSet<(Duration, u32)>,
    pub flood_events: BTreeSet<(Duration, u32)>,
}

pub(super) struct District {
    number: usize,
    opts: std::sync::Arc<Options>,
    meters: core::ops::Range<u32>,
    medium: Medium,
    nodes: Vec<Node>,
    now: Duration,
    /// The wall-clock time of virtual time 0.
    origin: DateTime<Utc>,
    /// Frames sent, for the pcap (when one is written): (time, record).
    frames: Option<Vec<(Duration, Vec<u8>)>>,
    loss_rng: Seeded,
    tally: Tally,
    /// Slots scheduled: every boundary within the run; the next one's index.
    slots: Vec<Duration>,
    next_slot: usize,
    /// Reading sessions to start: (time, meter node index, terminal).
    starts: BTreeSet<(Duration, usize, [u8; 8])>,
    /// When each node next has something to do (its link's timers, its meter side's, its
    /// reading sessions'), by node index, and the same ordered by time: only nodes due or
    /// touched are woken, so an event costs what it touches, not the run's size.
    due_at: Vec<Option<Duration>>,
    due: BTreeSet<(Duration, usize)>,
    /// Nodes something happened to since they were last woken.
    touched: BTreeSet<usize>,
    /// Smart meters whose relay may have something for the head end.
    relays: BTreeSet<usize>,
    /// Node index by its medium ID.
    index_by_id: Vec<usize>,
    /// Smart meters' node indexes by EUI-64 (the head end names them so: looking for
    /// them through every node at each of its messages grew with the run).
    smart_meter_at: BTreeMap<Eui64, usize>,
    /// The instant virtual time 0 maps to, for the terminals' ECHONET controllers.
    t0: std::time::Instant,
    /// The head end's bytes on their way to its smart meters: (when they arrive, to
    /// which, bytes), in time order.
    inbox: VecDeque<(Duration, Eui64, Vec<u8>)>,
    /// What its smart meters sent the head end since the coordinator last took it:
    /// (when, what), in the order sent.
    outbox: Vec<(Duration, Up)>,
    /// Head end restarts still to come.
    restarts: BTreeSet<Duration>,
    /// Outages still to come: (time, smart meter, off).
    outage_events: BTreeSet<(Duration, [u8; 8], bool)>,
    /// Terminal reboots still to come: (time, terminal number).
    reboot_events: BTreeSet<(Duration, u32)>,
    /// Meter swaps still to come: (time, terminal number).
    swap_events: BTreeSet<(Duration, u32)>,
    /// Floods still to come: (time, terminal number).
    flood_events: BTreeSet<(Duration, u32)>,
    /// The Pairing ID of the run (a rebooting smart meter's).
    pairing: PairingId,
    /// What the radios of the districts merged into this one counted
    /// ([`District::merge`]).
    merged_radio: crate::medium::MediumStats,
}

impl District {
    pub fn new(s: Setup) -> Self {
        let count = s.nodes.len();
        let smart_meter_at = s
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(index, n)| match n {
                Node::Meter(m) => Some((m.eui, index)),
                Node::Terminal(_) => None,
            })
            .collect();
        let mut index_by_id = vec![usize::MAX; count];
        for (index, n) in s.nodes.iter().enumerate() {
            if let Some(slot) = index_by_id.get_mut(n.id().0 as usize) {
                *slot = index;
            }
        }
        // The first district draws its losses from the stream a run of one district
        // always did; each other from one of its own.
        let loss_stream = if s.number == 0 {
            2
        } else {
            stream_of(
                Use::DistrictLoss,
                u32::try_from(s.number).unwrap_or(u32::MAX),
                0,
            )
        };
        Self {
            number: s.number,
            loss_rng: Seeded::new(s.opts.seed, loss_stream),
            tally: Tally {
                terminals: tally::Tallies::new(
                    s.opts.terminals,
                    s.grid,
                    s.opts.smartmeters,
                    s.meters.clone(),
                ),
                injected_losses: 0,
                values_equal: 0,
                values_differ: 0,
                pushes_equal: 0,
                pushes_differ: 0,
                event_pushes: 0,
                retired: Default::default(),
            },
            opts: s.opts,
            meters: s.meters,
            medium: s.medium,
            nodes: s.nodes,
            now: Duration::ZERO,
            origin: s.origin,
            frames: s.pcap.then(Vec::new),
            slots: s.slots,
            next_slot: 0,
            starts: BTreeSet::new(),
            due_at: vec![None; count],
            due: BTreeSet::new(),
            touched: (0..count).collect(),
            relays: BTreeSet::new(),
            index_by_id,
            smart_meter_at,
            t0: s.t0,
            inbox: VecDeque::new(),
            outbox: Vec::new(),
            restarts: s.restarts,
            outage_events: s.outage_events,
            reboot_events: s.reboot_events,
            swap_events: s.swap_events,
            flood_events: s.flood_events,
            pairing: s.pairing,
            merged_radio: Default::default(),
        }
    }

    /// Its place among the run's districts (0 for the first).
    pub fn number(&self) -> usize {
        self.number
    }

    /// When it next has something to do, if anything.
    pub fn next_due(&self) -> Option<Duration> {
        self.due
            .first()
            .map(|d| d.0)
            .into_iter()
            .chain((!self.touched.is_empty()).then_some(self.now))
            .chain(self.medium.next_end())
            .chain(self.slots.get(self.next_slot).copied())
            .chain(self.starts.first().map(|s| s.0))
            .chain(self.inbox.front().map(|i| i.0))
            .chain(self.next_fault())
            .min()
    }

    /// The head end's `bytes` for smart meter `sm`, arriving at `at` (after every byte
    /// given it before).
    pub fn arriving(&mut self, at: Duration, sm: Eui64, bytes: Vec<u8>) {
        self.inbox.push_back((at, sm, bytes));
    }

    /// Everything due before `until`, in time order; what its smart meters send the head
    /// end meanwhile is in its outbox ([`Self::take_outbox`]).
    ///
    /// # Errors
    /// A node failed.
    pub fn run_until(&mut self, until: Duration) -> Result<(), String> {
        let phy = *self.medium.phy();
        let air = move |len: usize| phy.air_time(len);
        while let Some(t) = self.next_due().filter(|t| *t < until) {
            self.now = self.now.max(t);
            if self.next_fault().is_some_and(|t| t <= self.now) {
                self.reconnect();
                self.power();
                self.reboot()?;
                self.swap_meters();
                self.flood()?;
                // Rare: every node may have changed.
                self.touched.extend(0..self.nodes.len());
            }
            self.deliver(&air)?;
            if self
                .slots
                .get(self.next_slot)
                .is_some_and(|s| *s <= self.now)
            {
                self.boundary(self.now);
                self.next_slot += 1;
            }
            self.start_due_sessions();
            self.wake_nodes(&air)?;
            self.a_route();
        }
        Ok(())
    }

    /// What its smart meters sent the head end since it was last taken: (when, what).
    pub fn take_outbox(&mut self) -> Vec<(Duration, Up)> {
        std::mem::take(&mut self.outbox)
    }

    /// The frames sent since they were last taken, for the pcap: (time, record).
    pub fn take_frames(&mut self) -> Vec<(Duration, Vec<u8>)> {
        self.frames.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Whether every fault planned for it is past.
    pub fn plans_done(&self) -> bool {
        self.next_fault().is_none()
    }

    /// The districts of a run, once over, as one for its report: their nodes in the
    /// order a run of one district holds them (the smart meters by index, then the
    /// terminals by number), their tallies and counters together.
    pub fn merge(districts: Vec<Self>) -> Option<Self> {
        let mut districts = districts.into_iter();
        let mut whole = districts.next()?;
        let mut nodes = std::mem::take(&mut whole.nodes);
        let mut tallies = Vec::new();
        for d in districts {
            let Self {
                medium,
                meters,
                tally,
                nodes: theirs,
                ..
            } = d;
            whole.merged_radio += medium.stats();
            whole.meters.end = whole.meters.end.max(meters.end);
            tallies.push(whole.tally.absorb(tally));
            nodes.extend(theirs);
        }
        whole.tally.terminals = whole.tally.terminals.merge(tallies);
        nodes.sort_by_key(|n| match n {
            Node::Meter(m) => (0, m.index),
            Node::Terminal(t) => (1, t.k),
        });
        whole.nodes = nodes;
        Some(whole)
    }

    /// Its smart meters connect to the head end again when it started again.
    fn reconnect(&mut self) {
        let wall = self.utc(self.now);
        while self.restarts.first().is_some_and(|t| *t <= self.now) {
            self.restarts.pop_first();
            for n in &mut self.nodes {
                if let Node::Meter(m) = n {
                    if !m.down {
                        let joined = m.link.terminals();
                        m.relay.connected(wall, |t| joined.contains(&Eui64(t)));
                    }
                }
            }
        }
    }

    fn utc(&self, t: Duration) -> DateTime<Utc> {
        self.origin + chrono::Duration::from_std(t).unwrap_or_default()
    }

    /// The monotonic instant of virtual time `t` (the controller's clock).
    fn instant(&self, t: Duration) -> std::time::Instant {
        self.t0 + t
    }

    /// When a terminal node next has something to do, in virtual time.
    fn node_wakeup(&self, node: &nodes::terminal::node::TerminalNode) -> Duration {
        let (deadline, wall) = node.next_wakeup();
        let by_wall = (wall - self.origin).to_std().unwrap_or_default();
        deadline.map_or(by_wall, |d| {
            by_wall.min(d.saturating_duration_since(self.t0))
        })
    }

    /// Terminal `index`'s meter side at `now` ([`meter_side::drive`]).
    fn drive_meter_side(&mut self, index: usize) -> Result<(), String> {
        let at = meter_side::At {
            virtual_now: self.now,
            now: self.instant(self.now),
            wall: self.utc(self.now),
        };
        match &mut self.nodes[index] {
            Node::Terminal(t) => meter_side::drive(t, at, &mut self.tally.terminals),
            Node::Meter(_) => Ok(()),
        }
    }

    /// What terminal `key.0`'s meter counted for the slot at `key.1` (Unix seconds), Wh
    /// (in, out), lower 8 digits: when the terminal read it for the slot; else — a row
    /// the terminal recovered after missing the slot (TRM-04) — the meter's own history
    /// record of that boundary.
    fn truth(&self, key: ([u8; 8], i64)) -> Option<(u32, u32)> {
        self.tally.terminals.truth(key.0, key.1).or_else(|| {
            // Found by its number (not a search of every node: at a million terminals,
            // each row recovered cost a million steps).
            match self.nodes.get(self.terminal_index(terminal_of(key.0))?)? {
                Node::Terminal(t) if t.route.link().eui64().0 == key.0 => self.truth_of(t, key),
                _ => None,
            }
        })
    }

    /// [`LinkSim::truth`] of terminal `t`'s own slot.
    fn truth_of(&self, t: &TerminalSim, key: ([u8; 8], i64)) -> Option<(u32, u32)> {
        self.tally.terminals.truth(key.0, key.1).or_else(|| {
            let at = DateTime::from_timestamp(key.1, 0)?;
            recorded(&t.meter, at)
        })
    }

    fn all_arrived(&self) -> bool {
        self.tally.terminals.all_arrived()
    }

    /// The virtual time of Unix second `unix`.
    fn at(&self, unix: i64) -> Duration {
        Duration::from_secs(u64::try_from(unix - self.origin.timestamp()).unwrap_or(0))
    }

    /// When its next planned fault (or the head end's restart) is due, if one is.
    fn next_fault(&self) -> Option<Duration> {
        self.restarts
            .first()
            .copied()
            .into_iter()
            .chain(self.outage_events.first().map(|o| o.0))
            .chain(self.reboot_events.first().map(|r| r.0))
            .chain(self.swap_events.first().map(|r| r.0))
            .chain(self.flood_events.first().map(|r| r.0))
            .min()
    }

    /// Node `index` after it was woken or touched: its radio listens where its link
    /// says, and it is due again when its next timer is.
    fn reschedule(&mut self, index: usize) {
        let (id, channel, next) = match &self.nodes[index] {
            Node::Terminal(t) => (
                t.id,
                t.route.link().channel(),
                t.route
                    .link()
                    .next_wakeup()
                    .into_iter()
                    .chain(Some(self.node_wakeup(&t.node)))
                    .min(),
            ),
            Node::Meter(m) if m.down => (m.id, None, None),
            Node::Meter(m) => (
                m.id,
                Some(m.link.channel()),
                m.link
                    .next_wakeup()
                    .into_iter()
                    .chain(m.app.next_deadline())
                    .min(),
            ),
        };
        let _ = self.medium.set_channel(id, channel);
        if self.due_at[index] == next {
            return;
        }
        if let Some(old) = self.due_at[index].take() {
            self.due.remove(&(old, index));
        }
        if let Some(at) = next {
            self.due_at[index] = Some(at);
            self.due.insert((at, index));
        }
    }

    fn transmit(&mut self, index: usize, psdu: Vec<u8>) {
        let id = self.nodes[index].id();
        if self.frames.is_some() {
            let channel = match &self.nodes[index] {
                Node::Terminal(t) => t.route.link().channel(),
                Node::Meter(m) => Some(m.link.channel()),
            };
            if let Some(ch) = channel {
                // The RSS a sniffer next to the best-placed other node would see.
                let rss = self
                    .nodes
                    .iter()
                    .map(Node::id)
                    .filter(|n| *n != id)
                    .filter_map(|to| self.medium.rssi_dbm(id, to, ch).ok())
                    .fold(f64::NEG_INFINITY, f64::max);
                if let Ok(channel) = wisun::channel::Channel::new(u16::from(ch)) {
                    #[allow(clippy::cast_possible_truncation)]
                    let tap = TapHeader::received(FcsKind::Crc16, channel, rss as f32);
                    let now = self.now;
                    if let Some(frames) = self.frames.as_mut() {
                        frames.push((now, tap.wrap(&psdu)));
                    }
                }
            }
        }
        if let Err(e) = self.medium.transmit(self.now, id, psdu) {
            tracing::debug!(error = %e, "frame not put on the air");
        }
    }

    /// Frames that ended by now, to their receivers; acknowledgments back at once.
    fn deliver(&mut self, air: &dyn Fn(usize) -> Duration) -> Result<(), String> {
        let reports = self.medium.advance(self.now).map_err(|e| e.to_string())?;
        for report in reports {
            for r in report
                .receptions
                .iter()
                .filter(|r| r.outcome == Outcome::Received)
            {
                if self.opts.loss > 0.0 && self.loss_rng.unit() < self.opts.loss {
                    self.tally.injected_losses += 1;
                    continue;
                }
                let Some(index) = self.index_of(r.node) else {
                    continue;
                };
                if matches!(&self.nodes[index], Node::Meter(m) if m.down) {
                    continue;
                }
                #[allow(clippy::cast_possible_truncation)]
                let rssi = r.rssi_dbm.round() as i16;
                let now = self.now;
                let (ack, actions, concerned, flood) = match &mut self.nodes[index] {
                    Node::Terminal(t) => {
                        let link = t.route.link_mut();
                        let (ack, ev) = link.receive(now, &report.frame, rssi, r.lqi, air);
                        let concerned = link.net().mac().last_concerned();
                        // A flood its radio found (counting every frame it hears) is
                        // reported at once, whoever the frame was for.
                        let flood = link.flood_alarms_pending();
                        (ack, Actions::Terminal(ev), concerned, flood)
                    }
                    Node::Meter(m) => {
                        let (ack, ev) = m.link.receive(now, &report.frame, rssi, r.lqi, air);
                        let concerned = m.link.net().mac().last_concerned();
                        (ack, Actions::Meter(ev), concerned, false)
                    }
                };
                if let Some(a) = ack {
                    self.transmit(index, a);
                }
                // A frame that was not for the node (a neighbour's) changed nothing it
                // acts on: it is not woken for it, nor acts (most frames a node hears).
                let acts = concerned || !actions.is_empty();
                if acts {
                    self.touched.insert(index);
                }
                if acts || flood {
                    self.act(index, actions);
                }
            }
        }
        Ok(())
    }

    fn index_of(&self, id: NodeId) -> Option<usize> {
        self.index_by_id
            .get(id.0 as usize)
            .copied()
            .filter(|i| *i < self.nodes.len())
    }

    /// Wake the nodes due by now and those touched, in the order of their index.
    fn wake_nodes(&mut self, air: &dyn Fn(usize) -> Duration) -> Result<(), String> {
        while let Some(&(at, index)) = self.due.first() {
            if at > self.now {
                break;
            }
            self.due.pop_first();
            self.due_at[index] = None;
            self.touched.insert(index);
        }
        for index in std::mem::take(&mut self.touched) {
            self.wake(index, air)?;
            self.reschedule(index);
        }
        Ok(())
    }

    /// Node `index` at `now`: its meter side, its reading sessions that stalled, its
    /// link's timers (a frame to send), and what came of them.
    fn wake(&mut self, index: usize, air: &dyn Fn(usize) -> Duration) -> Result<(), String> {
        self.restart_stalled_sessions(index);
        self.drive_meter_side(index)?;
        let now = self.now;
        let medium = &mut self.medium;
        let (psdu, actions) = match &mut self.nodes[index] {
            Node::Terminal(t) => {
                let (id, ch) = (t.id, t.route.link().channel());
                let (p, ev) = t.route.link_mut().wake(
                    now,
                    &mut || ch.is_some_and(|c| medium.channel_busy(id, c).unwrap_or(true)),
                    air,
                );
                (p, Actions::Terminal(ev))
            }
            Node::Meter(m) if m.down => return Ok(()),
            Node::Meter(m) => {
                let (id, ch) = (m.id, m.link.channel());
                let (p, ev) = m.link.wake(
                    now,
                    &mut || medium.channel_busy(id, ch).unwrap_or(true),
                    air,
                );
                (p, Actions::Meter(ev))
            }
        };
        if let Some(p) = psdu {
            self.transmit(index, p);
        }
        self.act(index, actions);
        Ok(())
    }

    /// A slot boundary: every smart meter schedules a reading of each of its terminals
    /// it has not read since it joined, or not for [`READ_EVERY`], a few seconds apart
    /// (the terminals read their meters on their own and push each slot; the reading
    /// sets a terminal's clock and reads back what pushes missed).
    fn boundary(&mut self, at: Duration) {
        let mut plans = Vec::new();
        for (index, n) in self.nodes.iter_mut().enumerate() {
            if let Node::Meter(m) = n {
                if m.down {
                    continue;
                }
                let joined = m.link.terminals();
                m.last_read.retain(|t, _| joined.contains(&Eui64(*t)));
                for (k, terminal) in joined.into_iter().enumerate() {
                    if m.last_read
                        .get(&terminal.0)
                        .is_some_and(|last| at < *last + READ_EVERY)
                    {
                        continue;
                    }
                    m.last_read.insert(terminal.0, at);
                    let offset = Duration::from_secs(3 + 4 * u64::try_from(k).unwrap_or(0))
                        + Duration::from_millis(m.rng.next() % 1000);
                    plans.push((at + offset, index, terminal.0));
                }
            }
        }
        self.starts.extend(plans);
    }

    fn start_due_sessions(&mut self) {
        while let Some(&(t, index, terminal)) = self.starts.first() {
            if t > self.now {
                break;
            }
            self.starts.pop_first();
            self.start_session(index, terminal);
        }
    }

    /// Start reading `terminal` from smart meter `index` (a reading still going from the
    /// previous slot reads this slot's row too, so it is left alone).
    fn start_session(&mut self, index: usize, terminal: [u8; 8]) {
        let now = self.now;
        let Node::Meter(m) = &mut self.nodes[index] else {
            return;
        };
        if m.down {
            return;
        }
        if let Some(aarq) = m.app.start(now, terminal) {
            send(&mut m.link, now, terminal, aarq);
        }
        self.touched.insert(index);
    }

    /// Smart meter `index`'s reading sessions that stalled, started again.
    fn restart_stalled_sessions(&mut self, index: usize) {
        let now = self.now;
        if let Node::Meter(m) = &mut self.nodes[index] {
            if m.down {
                return;
            }
            let stalled = m.app.stalled(now, |t| m.link.is_joined(Eui64(t)));
            for (terminal, aarq) in stalled.restarted {
                send(&mut m.link, now, terminal, aarq);
            }
        }
    }

    fn act(&mut self, index: usize, actions: Actions) {
        if matches!(actions, Actions::Meter(_)) {
            self.relays.insert(index);
        }
        match actions {
            Actions::Terminal(events) => {
                let (now, wall) = (self.now, self.utc(self.now));
                if let Node::Terminal(t) = &mut self.nodes[index] {
                    let handled = t.route.handle(now, wall, events);
                    t.model_touched |= handled.served.iter().any(|s| !s.is_get());
                    for e in handled.events {
                        tracing::trace!(terminal = %eui_text(t.route.link().eui64()), event = ?e, "link");
                    }
                    t.report_floods(wall);
                    t.show_link();
                }
            }
            Actions::Meter(events) => {
                let (now, wall) = (self.now, self.utc(self.now));
                for e in events {
                    let Node::Meter(m) = &mut self.nodes[index] else {
                        return;
                    };
                    let routed = m
                        .app
                        .link_event(Some(&mut m.relay), &mut m.link, e, now, wall);
                    match routed {
                        Routed::Dlms {
                            from,
                            next,
                            arrived,
                        } => {
                            // A password its terminal took is kept before the relay's
                            // output leaves (TRM-08); a session that ended makes way for
                            // what the head end asked for next (`next`).
                            if let Some(Arrived::Command(carried)) = &arrived {
                                m.keep_password(from.0, carried);
                            }
                            if let Some(bytes) = next {
                                send(&mut m.link, now, from.0, bytes);
                            }
                            self.read(from, arrived);
                        }
                        // What the head end asked while the terminal was away.
                        Routed::Joined {
                            terminal,
                            next: Some(bytes),
                        } => send(&mut m.link, now, terminal.0, bytes),
                        Routed::Joined { next: None, .. } | Routed::Other(_) => {}
                    }
                }
            }
        }
    }

    /// What the smart meter read of terminal `from` (on its way to the head end
    /// already): a completed reading marks the slots whose rows it brought.
    fn read(&mut self, from: Eui64, arrived: Option<Arrived>) {
        let reading = match arrived {
            Some(Arrived::Push(pushed)) => return self.pushed(from, pushed),
            Some(Arrived::Reading(r)) => Some(r),
            Some(Arrived::Firmware(_) | Arrived::Command(_)) | None => None,
        };
        // Rows of scheduled slots count (rows from before the start do not); the first
        // time a valid one arrives fixes its delay after the slot, and its values are checked
        // against what the terminal's meter counted then.
        for row in reading.map(|r| r.rows).unwrap_or_default() {
            if row.time.timestamp_subsec_nanos() != 0 {
                continue;
            }
            let key = (from.0, row.time.timestamp());
            // A row marked not valid (the terminal could not read its meter then) is no
            // reading yet: the one it recovers later is.
            let not_valid = row
                .status
                .is_some_and(|st| st & dlms::cosem::model::status::DATA_NOT_VALID != 0);
            let arrival = SlotArrival {
                delay: self.now.saturating_sub(self.at(key.1)),
                ac_in_wh: row.ac_in_wh,
                ac_out_wh: row.ac_out_wh,
                status: row.status,
            };
            if not_valid || !self.tally.terminals.arrive(from.0, key.1, arrival) {
                continue;
            }
            if self.row_matches(key, &arrival) {
                self.tally.values_equal += 1;
            } else {
                self.tally.values_differ += 1;
                tracing::warn!(terminal = %eui_text(from), slot = %row.time, ?row, truth = ?self.truth(key), "a reading differs from the meter's count");
            }
        }
    }

    /// A push from terminal `from`: a slot push is checked against what its meter
    /// counted at the slot it was captured after (TRM-05); events are counted.
    fn pushed(&mut self, from: Eui64, pushed: Result<nodes::app::push::Pushed, String>) {
        let p = match pushed {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(terminal = %eui_text(from), error = %e, "push refused");
                self.tally.pushes_differ += 1;
                return;
            }
        };
        let nodes::app::push::PushKind::Slot {
            energy_in_wh,
            energy_out_wh,
            status,
        } = p.what
        else {
            self.tally.event_pushes += 1;
            return;
        };
        // The slot: the newest boundary at or before the capture (the terminal's own:
        // its interval may have switched, TRM-11).
        let slot = p.captured_at.map(|t| {
            let t = t.with_timezone(&Utc);
            let interval = self.tally.terminals.interval_at(from.0, t.timestamp());
            interval.floor(t).timestamp()
        });

        let truth = slot.and_then(|s| self.truth((from.0, s)));
        if truth.is_some_and(|(i, o)| energy_in_wh == Some(i) && energy_out_wh == Some(o)) {
            self.tally.pushes_equal += 1;
            // A slot push is the slot's reading arriving too (late, when the terminal
            // held it while it could not reach its smart meter).
            let Some(slot) = slot else {
                return;
            };
            let arrival = SlotArrival {
                delay: self.now.saturating_sub(self.at(slot)),
                ac_in_wh: energy_in_wh,
                ac_out_wh: energy_out_wh,
                status,
            };
            if self.tally.terminals.arrive(from.0, slot, arrival) {
                self.tally.values_equal += 1;
            }
        } else {
            self.tally.pushes_differ += 1;
            tracing::warn!(terminal = %eui_text(from), ?slot, ?energy_in_wh, ?truth, "a push differs from the meter's count");
        }
    }

    /// Whether a row the smart meter received holds the meter's own count for its slot.
    fn row_matches(&self, key: ([u8; 8], i64), row: &SlotArrival) -> bool {
        matches_truth(self.truth(key), row)
    }

    /// Outages due at `now`: a smart meter goes silent, or boots afresh — a new link and
    /// reading sessions, its A-route counters kept (a counter is never used twice), a
    /// hello to the head end, which registers its terminals again.
    fn power(&mut self) {
        let (now, wall) = (self.now, self.utc(self.now));
        for (_, sm, off) in take_due(&mut self.outage_events, now) {
            let Some(Node::Meter(m)) = self
                .nodes
                .iter_mut()
                .find(|n| matches!(n, Node::Meter(m) if m.eui.0 == sm))
            else {
                tracing::warn!(smart_meter = %dlms::hex::encode(&sm), "outage of a smart meter not in the run");
                continue;
            };
            if off {
                tracing::info!(smart_meter = %eui_text(m.eui), "outage: off");
                m.down = true;
                self.outbox.push((now, Up::Event("outage")));
                continue;
            }
            m.boots += 1;
            let (retired_link, retired_sessions) = &mut self.tally.retired;
            m.count_into(retired_link, retired_sessions);
            let (mut link, app) = boot_meter(
                &self.opts,
                m.index,
                m.boots,
                now,
                self.pairing,
                &m.kept_passwords,
            );
            // SEC-03: its frame counters were on its flash: it goes on from them.
            if let Some(counters) = m.link.take_counter_snapshot() {
                m.counters = Some(counters);
            }
            if let Some(counters) = &m.counters {
                link.restore_counters(counters);
            }
            m.link = link;
            m.app = app;
            m.last_read.clear();
            let (sent, taken) = m.relay.counters();
            m.relay = nodes::app::relay::SmartMeterRelay::new(
                dlms::cipher::SystemTitle(m.eui.0),
                headend::node::HEAD_END_TITLE,
                head_end::keys_of(self.opts.seed, m.eui),
                sent,
                taken,
            );
            m.relay.connected(wall, |_| false);
            m.down = false;
            tracing::info!(smart_meter = %eui_text(m.eui), "outage: on again");
        }
        self.starts.retain(
            |(_, index, _)| !matches!(self.nodes.get(*index), Some(Node::Meter(m)) if m.down),
        );
    }

    /// Terminal reboots due at `now`: each boots again 30 s later, its node rebuilt from
    /// its store (slots missed meanwhile written missing and recovered from its meter),
    /// a new link that scans and joins again, its clock unset until its smart meter sets
    /// it (TRM-09).
    fn reboot(&mut self) -> Result<(), String> {
        let (now, wall) = (self.now, self.utc(self.now));
        let opts = self.opts.clone();
        for (_, k) in take_due(&mut self.reboot_events, now) {
            let seed = opts.seed;
            let Some(t) = self.terminal_mut(k) else {
                continue;
            };
            t.boots += 1;
            let boot = now + Duration::from_secs(30);
            let stream = stream_of(Use::TerminalLink, k, t.boots);
            let config = t.route.link().config();
            let mut link = Terminal::new(config, Box::new(Seeded::new(seed, stream)), boot);
            // SEC-03: its frame counters are on its flash (as `iotroute terminal` keeps
            // them in DIR): it goes on from its reservations, never reusing a nonce.
            if let Some(counters) = t.route.link_mut().take_counter_snapshot() {
                t.counters = Some(counters);
            }
            if let Some(counters) = &t.counters {
                link.restore_counters(counters);
            }
            // TRM-11: the interval a client set, kept as `iotroute terminal` keeps its
            // settings (read from the model).
            let interval = t
                .node
                .model()
                .lock()
                .map_err(|_| "model lock poisoned".to_owned())
                .map(|m| nodes::terminal::settings::Settings::of(&m).interval())?
                .unwrap_or(opts.interval);
            let node = nodes::terminal::node::TerminalNode::new(
                node_config(
                    terminal_eui(k),
                    t.first_tid,
                    t.node_password.clone(),
                    interval,
                ),
                t.store.clone(),
                wall + chrono::Duration::seconds(30),
            )
            .map_err(|e| e.to_string())?;
            let app = TerminalApp::serving(
                node.model(),
                u64::from(k),
                seed ^ stream_of(Use::TerminalApp, k, t.boots),
            )?;
            t.route = LinkedTerminal::new(link, app);
            t.node = node;
            t.model_touched = true;
            tracing::info!(terminal = %eui_text(terminal_eui(k)), "terminal rebooted");
            self.outbox.push((now, Up::Event("reboot")));
        }
        Ok(())
    }

    /// Floods due at `now` (SEC-08): a second of ECHONET Lite datagrams at 2,000/s from
    /// another address on the terminal's home network, into its node's gate; its meter
    /// keeps being read.
    fn flood(&mut self) -> Result<(), String> {
        const FLOODER: std::net::IpAddr =
            std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 1, 66));
        let (now, wall) = (self.now, self.utc(self.now));
        for (_, k) in take_due(&mut self.flood_events, now) {
            let t0 = self.instant(now);
            let Some(t) = self.terminal_mut(k) else {
                continue;
            };
            // A Get of the meter's energy, as if it were a controller's: dropped unparsed.
            let junk = [
                0x10, 0x81, 0x00, 0x01, 0x05, 0xFF, 0x01, 0x02, 0x8E, 0x01, 0x62, 0x01, 0xE0, 0x00,
            ];
            let from = std::net::SocketAddr::new(FLOODER, echonet::PORT);
            for i in 0..2000u32 {
                let offset = Duration::from_micros(u64::from(i) * 500);
                t.node
                    .handle_echonet(t0 + offset, wall, from, &junk)
                    .map_err(|e| e.to_string())?;
            }
            t.drain_events();
            t.send_pushes(now);
            tracing::info!(terminal = %eui_text(terminal_eui(k)), "flood (SEC-08)");
        }
        Ok(())
    }

    /// Meter swaps due at `now` (SEC-07): the terminal's meter replaced by another, its
    /// own ID and counters.
    fn swap_meters(&mut self) {
        let (wall, opts) = (self.utc(self.now), self.opts.clone());
        for (_, k) in take_due(&mut self.swap_events, self.now) {
            let Some(t) = self.terminal_mut(k) else {
                continue;
            };
            let config = nodes::meter::MeterConfig {
                device_id: format!("WRONG-METER-{k:04}").into_bytes(),
                ..opts.meter.clone()
            };
            let mut meter = nodes::meter::Meter::new(
                config,
                7_000_000,
                5_000,
                wall - chrono::Duration::days(1),
            );
            meter.advance(wall);
            t.meter = meter;
            tracing::info!(terminal = %eui_text(terminal_eui(k)), "meter swapped (SEC-07)");
        }
    }

    /// The A route at `now`: the head end's bytes that reach its smart meters by now
    /// and the commands they bring carried out, and what each smart meter's relay has
    /// for the head end, to the outbox.
    fn a_route(&mut self) {
        let now = self.now;
        while self.inbox.front().is_some_and(|a| a.0 <= now) {
            let Some((_, sm, bytes)) = self.inbox.pop_front() else {
                break;
            };
            let up = |&index: &usize| matches!(&self.nodes[index], Node::Meter(m) if !m.down);
            let Some(index) = self.smart_meter_at.get(&sm).copied().filter(up) else {
                tracing::debug!(%sm, "A route: the smart meter is down, the bytes are lost");
                continue;
            };
            let commands = match &mut self.nodes[index] {
                Node::Meter(m) => match m.relay.received(&bytes) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(error = %e, "A route stream broken");
                        continue;
                    }
                },
                Node::Terminal(_) => continue,
            };
            for command in commands {
                self.carry_out(index, command);
            }
            // What it answers goes back below.
            self.relays.insert(index);
        }
        let mut to_hes = Vec::new();
        for index in std::mem::take(&mut self.relays) {
            if let Node::Meter(m) = &mut self.nodes[index] {
                let bytes = m.relay.take_output();
                if !m.down && !bytes.is_empty() {
                    to_hes.push((m.eui, bytes));
                }
            }
        }
        if !to_hes.is_empty() {
            self.outbox.push((now, Up::Bytes(to_hes)));
        }
    }

    /// A command the head end gave smart meter `index`.
    fn carry_out(&mut self, index: usize, command: Command) {
        let (now, wall) = (self.now, self.utc(self.now));
        self.touched.insert(index);
        if let Node::Meter(m) = &mut self.nodes[index] {
            let taken = nodes::app::smartmeter::carry_out(
                command,
                now,
                wall,
                &mut m.link,
                &mut m.app,
                &mut m.relay,
            );
            if let Some((terminal, carried)) = taken {
                m.keep_password(terminal, &carried);
            }
        }
    }

    /// Every group key used, in Wireshark's key-table form.
    pub fn keys(&self) -> String {
        let mut text = String::new();
        for n in &self.nodes {
            if let Node::Meter(m) = n {
                for (index, key) in m.link.keys_used() {
                    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
                    text.push_str(&format!("\"{hex}\",\"{index}\",\"No hash\"\n"));
                }
            }
        }
        text
    }

    /// What the run did, and whether every reading arrived with the meter's values.
    /// The summary; `settled_after`: how long after the last slot's end backfill
    /// settled (`None`: it had not within [`SETTLE_MAX`]).
    pub fn report(
        mut self,
        settled_after: Option<Duration>,
        public: report::PublicFigures,
        hes: &head_end::HeadEndSim,
        command_seqs: &[u64],
    ) -> Report {
        let mut st = self.medium.stats();
        st += self.merged_radio;
        // What smart meters counted before they rebooted, and what everyone counts now.
        let (mut link, mut sessions) = self.tally.retired;
        for n in &self.nodes {
            match n {
                Node::Terminal(t) => {
                    let (net, mac) = (
                        t.route.link().net().stats(),
                        t.route.link().net().mac().stats(),
                    );
                    link.mac_retransmissions += mac.retransmissions;
                    link.frames_given_up += mac.failed;
                    link.fragments += net.fragments_sent;
                }
                Node::Meter(m) => m.count_into(&mut link, &mut sessions),
            }
        }
        let pushes_made = self
            .nodes
            .iter()
            .map(|n| match n {
                Node::Terminal(t) => t.pushes_made,
                Node::Meter(_) => 0,
            })
            .sum();
        let mut system = self.system_figures(hes);
        system.intervals_differ = self.intervals_differ(hes);
        // The terminals' records last, each terminal let go once its record is made: the
        // records (about 3.5 KiB a terminal and day) and the whole run (about ten times
        // that) were held at once at the run's end, its peak.
        let terminals: Vec<TerminalRecord> = std::mem::take(&mut self.nodes)
            .into_iter()
            .filter_map(|n| match n {
                Node::Terminal(t) if !t.attacker => Some(self.terminal_record(&t)),
                _ => None,
            })
            .collect();
        let readings = report::ReadingFigures {
            scheduled: self.tally.terminals.expected(),
            arrived: terminals.iter().map(|t| t.readings_arrived).sum(),
            longest_delay_s: self.tally.terminals.longest_delay().as_secs_f64(),
            values_equal: self.tally.values_equal,
            values_differ: self.tally.values_differ,
        };
        let pushes = report::PushFigures {
            made: pushes_made,
            equal: self.tally.pushes_equal,
            differ: self.tally.pushes_differ,
            events: self.tally.event_pushes,
        };
        let commands: Vec<CommandRecord> = hes
            .commands(command_seqs)
            .iter()
            .map(CommandRecord::of)
            .collect();
        Report {
            ok: self.all_arrived()
                && readings.values_differ == 0
                && pushes.differ == 0
                && system.lost == 0
                && system.doubled == 0
                && system.values_differ == 0
                && system.intervals_differ == 0
                && commands.len() == usize::try_from(self.opts.commands).unwrap_or(usize::MAX)
                && commands.iter().all(CommandRecord::done),
            terminals_count: self.opts.terminals,
            smartmeters: self.opts.smartmeters,
            start: self.opts.start.with_timezone(&jst()),
            days: self.opts.duration.as_secs_f64() / 86_400.0,
            interval_min: self.opts.interval.minutes(),
            simulated_s: self.opts.duration.as_secs_f64(),
            settled_s: settled_after.map(|d| d.as_secs_f64()),
            seed: self.opts.seed,
            radio: report::RadioFigures {
                frames: st.frames,
                bytes: st.bytes,
                air_time_s: Duration::from_micros(st.air_time_us).as_secs_f64(),
                received: st.received,
                collided: st.collided,
                faded: st.faded,
                receiver_busy: st.receiver_busy,
                injected_losses: self.tally.injected_losses,
            },
            link,
            sessions,
            readings,
            pushes,
            system,
            public,
            commands,
            terminals,
            not_built: report::not_built(self.opts.commands > 0),
        }
    }

    /// Every expected slot of every point against the MDMS: its quality, and its energy
    /// and counters against what the terminal's meter counted at both boundaries.
    fn system_figures(&self, hes: &head_end::HeadEndSim) -> SystemFigures {
        let f = hes.figures();
        let (mdms_rejected, mdms_conflicts) = hes.mdms_refusals();
        let mut y = SystemFigures {
            points: hes.points().len(),
            latency_s: report::Latency::of_counts(&f.latencies),
            events: f.events.clone(),
            a_route_messages: f.messages,
            a_route_refused: f.refused,
            backfills: f.backfills,
            blocks: hes.blocks(),
            mdms_rejected,
            mdms_conflicts,
            ..SystemFigures::default()
        };
        let (Some(first), Some(last), Some(mdms)) =
            (self.slots.first(), self.slots.last(), hes.mdms())
        else {
            return y;
        };
        let (from, to) = (self.utc(*first), self.utc(*last));
        let modulus = 100_000_000u32;
        // The MDMS read a slot start at a time, every point's slots at once, in the
        // order its store keeps them (by time, then point): a point at a time was a seek
        // per quarter hour per point, 96 million at a million points.
        let points = hes.points();
        let index: HashMap<&mdms::SupplyPoint, usize> = points
            .iter()
            .enumerate()
            .map(|(i, p)| (&p.supply_point, i))
            .collect();
        // Per point: the starts it has a slot for, and its estimated slots.
        let mut kept = vec![(0u64, 0u64); points.len()];
        let mut start = from;
        while start < to {
            let slots = match mdms::MdmsStore::slots_starting(mdms.store(), start) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "MDMS not read");
                    Vec::new()
                }
            };
            start += chrono::Duration::minutes(15);
            // Ordered by point: a point's second slot of a start comes right after its first.
            let mut previous: Option<&mdms::SupplyPoint> = None;
            for slot in &slots {
                let Some(&i) = index.get(&slot.point) else {
                    continue;
                };
                let p = &points[i];
                if slot.quality == mdms::Quality::Estimated {
                    kept[i].1 += 1;
                }
                if previous.replace(&slot.point) == Some(&slot.point) {
                    y.doubled += 1;
                    continue;
                }
                kept[i].0 += 1;
                match slot.quality {
                    mdms::Quality::Measured => y.measured += 1,
                    mdms::Quality::Recovered => y.recovered += 1,
                    mdms::Quality::Backfilled => y.backfilled += 1,
                    mdms::Quality::Estimated => y.estimated += 1,
                    mdms::Quality::Flagged => y.flagged += 1,
                }
                let end = slot.start + chrono::Duration::minutes(i64::from(slot.minutes));
                let t = p.terminal_id.0;
                let truth = |at: DateTime<Utc>| self.truth((t, at.timestamp()));
                let equal = match (truth(slot.start), truth(end)) {
                    (Some(a), Some(b)) => {
                        slot.cum_in == b.0
                            && slot.cum_out == b.1
                            && slot.in_wh == (b.0 + modulus - a.0) % modulus
                            && slot.out_wh == (b.1 + modulus - a.1) % modulus
                    }
                    _ => false,
                };
                // Not a reading (estimated), or not to be trusted (flagged, SEC-07).
                if matches!(
                    slot.quality,
                    mdms::Quality::Estimated | mdms::Quality::Flagged
                ) {
                    continue;
                }
                if equal {
                    y.values_equal += 1;
                } else {
                    y.values_differ += 1;
                    tracing::warn!(point = %p.supply_point, start = %slot.start, ?slot, "an MDMS slot differs from the meter's counts");
                }
            }
        }
        // Each point's slots: between two boundaries its terminal was expected to read
        // (its own, once its interval switched: TRM-11).
        for (p, (starts, estimated)) in points.iter().zip(kept) {
            let boundaries = self.tally.terminals.boundaries(p.terminal_id.0).count();
            let expected = u64::try_from(boundaries.saturating_sub(1)).unwrap_or(0);
            y.expected += expected;
            y.lost += expected.saturating_sub(starts.saturating_sub(estimated));
        }
        y
    }

    /// Registered points whose terminal's capture period is not the registry's interval
    /// (TRM-11), each logged.
    fn intervals_differ(&self, hes: &head_end::HeadEndSim) -> u64 {
        let registered: HashMap<[u8; 8], Interval> = hes
            .registry()
            .iter()
            .map(|p| (p.terminal_id.0, p.interval))
            .collect();
        let mut differ = 0;
        for n in &self.nodes {
            let Node::Terminal(t) = n else {
                continue;
            };
            let eui = t.route.link().eui64();
            let Some(interval) = registered.get(&eui.0) else {
                continue;
            };
            let period = t.node.model().lock().map(|m| m.capture_period()).ok();
            if period != u32::try_from(interval.seconds()).ok() {
                tracing::warn!(terminal = %eui_text(eui), ?period, registered = interval.minutes(), "terminal on another interval than the registry's");
                differ += 1;
            }
        }
        differ
    }

    /// One terminal's part of the report: each slot's meter count against what its smart
    /// meter received.
    fn terminal_record(&self, t: &TerminalSim) -> TerminalRecord {
        let eui = t.route.link().eui64();
        let slots: Vec<SlotRecord> = self
            .tally
            .terminals
            .boundaries(eui.0)
            .map(|unix| {
                let key = (eui.0, unix);
                let truth = self.truth_of(t, key);
                let got = self.tally.terminals.arrival(eui.0, unix);
                SlotRecord {
                    slot: self.utc(self.at(unix)).with_timezone(&jst()),
                    meter_in_wh: truth.map(|t| t.0),
                    meter_out_wh: truth.map(|t| t.1),
                    received_in_wh: got.and_then(|r| r.ac_in_wh),
                    received_out_wh: got.and_then(|r| r.ac_out_wh),
                    received_status: got.and_then(|r| r.status),
                    delay_s: got.map(|r| r.delay.as_secs_f64()),
                    equal: got.is_some_and(|r| matches_truth(truth, &r)),
                }
            })
            .collect();
        let led = t.node.led();
        TerminalRecord {
            eui64: eui_text(eui),
            smart_meter: t.route.link().meter().map(eui_text),
            readings_arrived: slots.iter().filter(|s| s.delay_s.is_some()).count(),
            slots,
            led: led.name(),
            led_pattern: led.pattern(),
            led_changes: t.led_changes,
            dos_events: t.node.dos_events(),
        }
    }

    /// Terminal `k`, if it is one of its own (found by its number, not by a search).
    fn terminal_mut(&mut self, k: u32) -> Option<&mut TerminalSim> {
        let index = self.terminal_index(k)?;
        match self.nodes.get_mut(index)? {
            Node::Terminal(t) if t.k == k => Some(t),
            _ => None,
        }
    }

    /// Where terminal `k` is among its nodes: after its smart meters, its terminals in
    /// number order ([`terminal_place`]).
    fn terminal_index(&self, k: u32) -> Option<usize> {
        terminal_place(k, self.opts.smartmeters, &self.meters).map(|n| self.meters.len() + n)
    }
}

/// Whether `row` (valid) carries the meter's count `truth`.
fn matches_truth(truth: Option<(u32, u32)>, row: &SlotArrival) -> bool {
    let not_valid = dlms::cosem::model::status::DATA_NOT_VALID;
    truth.is_some_and(|(i, o)| {
        row.ac_in_wh == Some(i)
            && row.ac_out_wh == Some(o)
            && row.status.is_some_and(|s| s & not_valid == 0)
    })
}

enum Actions {
    Terminal(Vec<TerminalEvent>),
    Meter(Vec<SmartMeterEvent>),
}

impl Actions {
    fn is_empty(&self) -> bool {
        match self {
            Self::Terminal(e) => e.is_empty(),
            Self::Meter(e) => e.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each district's terminals are found where the run placed them: in number order,
    /// those whose home is one of its smart meters (and, the districts merged, every
    /// terminal at `k - 1`); and each place is its terminal's.
    #[test]
    fn a_terminal_is_found_where_its_district_holds_it() {
        let m = 5;
        for meters in [0..3, 3..5, 0..5] {
            let placed: Vec<u32> = (1..=23)
                .filter(|k| meters.contains(&home_of(*k, m)))
                .collect();
            for (n, k) in placed.iter().enumerate() {
                assert_eq!(terminal_place(*k, m, &meters), Some(n), "{k}");
                assert_eq!(placed_terminal(n, m, &meters), *k);
            }
            for k in (1..=23).filter(|k| !placed.contains(k)) {
                assert_eq!(terminal_place(k, m, &meters), None, "{k}");
            }
            for terminals in 0..=23 {
                let own = placed.iter().filter(|k| **k <= terminals).count();
                assert_eq!(placed_count(terminals, m, &meters), own, "{terminals}");
            }
        }
        assert_eq!(terminal_place(0, m, &(0..5)), None);
    }

    #[test]
    fn a_smart_meter_is_known_by_its_eui_only_in_its_run() {
        assert_eq!(meter_index(meter_eui(1), 3), Some(0));
        assert_eq!(meter_index(meter_eui(3), 3), Some(2));
        assert_eq!(meter_index(meter_eui(4), 3), None);
        assert_eq!(meter_index(terminal_eui(1), 3), None);
    }
}
