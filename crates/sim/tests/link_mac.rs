//! The 802.15.4 MAC of `nodes::link::mac` over the simulated radio (`sim::Medium`):
//! secured delivery with acknowledgment (SEC-03), retransmission and duplicate
//! suppression, giving up on an absent peer, replay and unknown-key refusal, CSMA with
//! two senders, and the ARIB transmit budget (CON-01 ground).

use core::time::Duration;

use nodes::link::mac::{Mac, MacConfig, MacDst, MacError, MacIndication};
use sim::{Medium, NodeId, Outcome, PhyConfig, Position, PropagationConfig};
use wisun::mac::ack::enhanced_ack;
use wisun::mac::fcs::{self, FcsKind};
use wisun::mac::{Address, Eui64, FrameType, FrameVersion, Mpdu};

const CHANNEL: u8 = 33;
const PAN: u16 = 0x1234;
const KEY: [u8; 16] = [0x5A; 16];

struct Node {
    id: NodeId,
    mac: Mac,
    got: Vec<MacIndication>,
}

/// Nodes on one channel, an event loop, and an optional filter that loses frames.
struct Air {
    medium: Medium,
    nodes: Vec<Node>,
    now: Duration,
    /// Transmissions (in order, from 1) lost on the way to everyone.
    lose: Vec<u64>,
    transmissions: u64,
    /// Every PSDU sent, in order.
    log: Vec<(usize, Vec<u8>)>,
    /// Every frame received, in order: (node, whether it concerned the node).
    heard: Vec<(usize, bool)>,
}

fn eui(n: u8) -> Eui64 {
    Eui64([0x02, 0, 0, 0, 0, 0, 0, n])
}

impl Air {
    fn new(positions: &[(f64, f64)], tweak: impl Fn(&mut MacConfig)) -> Self {
        let prop = PropagationConfig {
            shadowing_sigma_db: 0.0,
            ..PropagationConfig::default()
        };
        let mut medium = Medium::new(3, prop, PhyConfig::default());
        let nodes = positions
            .iter()
            .enumerate()
            .map(|(i, &(x, y))| {
                let id = medium.add_node(Position::outdoor(x, y));
                medium.set_channel(id, Some(CHANNEL)).unwrap();
                let mut config = MacConfig::new(eui(u8::try_from(i).unwrap() + 1));
                tweak(&mut config);
                let mut mac = Mac::new(config);
                mac.set_pan(Some(PAN));
                mac.install_key(Duration::ZERO, 1, KEY, true).unwrap();
                Node {
                    id,
                    mac,
                    got: Vec::new(),
                }
            })
            .collect();
        Self {
            medium,
            nodes,
            now: Duration::ZERO,
            lose: Vec::new(),
            transmissions: 0,
            log: Vec::new(),
            heard: Vec::new(),
        }
    }

    fn transmit(&mut self, i: usize, psdu: Vec<u8>) {
        self.transmissions += 1;
        self.log.push((i, psdu.clone()));
        let lost = self.lose.contains(&self.transmissions);
        let frame = if lost { vec![0; psdu.len()] } else { psdu };
        // A lost frame still occupies the air: its bytes are garbage (bad FCS).
        self.medium
            .transmit(self.now, self.nodes[i].id, frame)
            .unwrap();
    }

    fn run(&mut self, until: Duration) {
        let phy = *self.medium.phy();
        let air = move |len: usize| phy.air_time(len);
        loop {
            let next = self
                .nodes
                .iter()
                .filter_map(|n| n.mac.next_wakeup())
                .chain(self.medium.next_end())
                .min();
            let Some(t) = next.filter(|t| *t <= until) else {
                break;
            };
            self.now = self.now.max(t);
            for report in self.medium.advance(self.now).unwrap() {
                for r in &report.receptions {
                    if r.outcome != Outcome::Received {
                        continue;
                    }
                    let i = self.nodes.iter().position(|n| n.id == r.node).unwrap();
                    #[allow(clippy::cast_possible_truncation)]
                    let rssi = r.rssi_dbm.round() as i16;
                    let (ack, ind) =
                        self.nodes[i]
                            .mac
                            .receive(self.now, &report.frame, rssi, r.lqi, &air);
                    self.nodes[i].got.extend(ind);
                    self.heard.push((i, self.nodes[i].mac.last_concerned()));
                    if let Some(a) = ack {
                        self.transmit(i, a);
                    }
                }
            }
            for i in 0..self.nodes.len() {
                let (medium, node) = (&mut self.medium, &mut self.nodes[i]);
                let id = node.id;
                let (psdu, ind) = node.mac.wake(
                    self.now,
                    &mut || medium.channel_busy(id, CHANNEL).unwrap(),
                    &air,
                );
                node.got.extend(ind);
                if let Some(p) = psdu {
                    self.transmit(i, p);
                }
            }
        }
        self.now = self.now.max(until);
    }

    fn data(&self, i: usize) -> Vec<(Eui64, Vec<u8>, Option<u8>)> {
        self.nodes[i]
            .got
            .iter()
            .filter_map(|g| match g {
                MacIndication::Data {
                    src,
                    payload,
                    key_index,
                    ..
                } => Some((*src, payload.clone(), *key_index)),
                _ => None,
            })
            .collect()
    }
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn sec03_secured_unicast_is_delivered_once_and_acknowledged() {
    let mut air = Air::new(&[(0.0, 0.0), (20.0, 0.0)], |_| {});
    air.nodes[0]
        .mac
        .send_data(air.now, MacDst::Unicast(eui(2)), b"hello".to_vec(), true)
        .unwrap();
    air.run(SECOND);
    assert_eq!(air.data(1), vec![(eui(1), b"hello".to_vec(), Some(1))]);
    let a = air.nodes[0].mac.stats();
    assert_eq!((a.sent, a.retransmissions, a.failed), (1, 0, 0));
    assert_eq!(air.nodes[1].mac.stats().sent, 1, "one acknowledgment");
    // On the air the payload is not in the clear (ENC-MIC-32).
    assert!(!air.log[0].1.windows(5).any(|w| w == b"hello"));
}

/// What the simulator relies on to leave a node asleep: a frame it overhears (another
/// node's data, the acknowledgment another node awaited) does not concern it; its own
/// data and the acknowledgment it awaited do.
#[test]
fn rad01_only_a_nodes_own_frames_and_acknowledgments_concern_it() {
    let mut air = Air::new(&[(0.0, 0.0), (20.0, 0.0), (10.0, 10.0)], |_| {});
    air.nodes[0]
        .mac
        .send_data(air.now, MacDst::Unicast(eui(2)), b"hello".to_vec(), true)
        .unwrap();
    air.run(SECOND);
    assert_eq!(air.data(1).len(), 1);
    // The data frame: node 1 (for it) and node 2 (overheard); the acknowledgment: node 0
    // (awaited) and node 2 (overheard).
    let mut heard = air.heard.clone();
    heard.sort_unstable();
    assert_eq!(heard, vec![(0, true), (1, true), (2, false), (2, false)]);
    // A stray acknowledgment (nothing awaited) concerns nobody.
    let stray = fcs::append(
        &enhanced_ack(7, Address::Extended(eui(1))).emit().unwrap(),
        FcsKind::Crc16,
    )
    .unwrap();
    let phy = *air.medium.phy();
    let _ = air.nodes[0]
        .mac
        .receive(air.now, &stray, -60, 200, &|n| phy.air_time(n));
    assert!(!air.nodes[0].mac.last_concerned());
}

#[test]
fn rad01_a_lost_acknowledgment_means_a_retransmission_and_a_dropped_duplicate() {
    let mut air = Air::new(&[(0.0, 0.0), (20.0, 0.0)], |_| {});
    air.lose = vec![2]; // the first acknowledgment
    air.nodes[0]
        .mac
        .send_data(air.now, MacDst::Unicast(eui(2)), b"once".to_vec(), true)
        .unwrap();
    air.run(SECOND);
    assert_eq!(air.data(1).len(), 1, "delivered once");
    assert_eq!(air.nodes[0].mac.stats().retransmissions, 1);
    assert_eq!(air.nodes[1].mac.stats().duplicates, 1);
    assert!(!air.nodes[0]
        .got
        .iter()
        .any(|g| matches!(g, MacIndication::SendFailed { .. })));
}

#[test]
fn rad01_an_absent_peer_is_reported_after_the_retries() {
    let mut air = Air::new(&[(0.0, 0.0), (20.0, 0.0)], |_| {});
    air.medium.set_channel(air.nodes[1].id, None).unwrap();
    air.nodes[0]
        .mac
        .send_data(air.now, MacDst::Unicast(eui(2)), b"anyone?".to_vec(), true)
        .unwrap();
    air.run(SECOND);
    assert_eq!(air.nodes[0].mac.stats().retransmissions, 3);
    assert_eq!(
        air.nodes[0].got,
        vec![MacIndication::SendFailed {
            dst: MacDst::Unicast(eui(2))
        }]
    );
}

#[test]
fn sec03_a_replayed_frame_and_an_unknown_key_are_refused() {
    let mut air = Air::new(&[(0.0, 0.0), (20.0, 0.0)], |_| {});
    for text in [&b"one"[..], b"two"] {
        air.nodes[0]
            .mac
            .send_data(air.now, MacDst::Broadcast, text.to_vec(), true)
            .unwrap();
        air.run(air.now + SECOND);
    }
    assert_eq!(air.data(1).len(), 2);
    let phy = *air.medium.phy();
    let air_time = move |l: usize| phy.air_time(l);
    // The first frame recorded and sent again: its counter is below the last accepted.
    let first = air.log[0].1.clone();
    let (ack, ind) = air.nodes[1]
        .mac
        .receive(air.now, &first, -50, 57, &air_time);
    assert_eq!((ack, ind), (None, Vec::new()));
    assert_eq!(air.nodes[1].mac.stats().replays, 1);
    // The last frame again is indistinguishable from a retransmission: dropped as a
    // duplicate, delivered no second time either.
    let last = air.log[1].1.clone();
    let (_, ind) = air.nodes[1].mac.receive(air.now, &last, -50, 57, &air_time);
    assert!(ind.is_empty());
    assert_eq!(air.nodes[1].mac.stats().duplicates, 1);
    // Under a key index the receiver does not hold.
    air.nodes[0]
        .mac
        .install_key(Duration::ZERO, 7, [1; 16], true)
        .unwrap();
    air.nodes[0]
        .mac
        .send_data(air.now, MacDst::Broadcast, b"three".to_vec(), true)
        .unwrap();
    air.run(air.now + SECOND);
    assert_eq!(air.data(1).len(), 2);
    assert_eq!(air.nodes[1].mac.stats().security_failures, 1);
}

#[test]
fn sec03_unsecured_data_is_refused_once_keys_are_required() {
    let mut air = Air::new(&[(0.0, 0.0), (20.0, 0.0)], |c| c.accept_unsecured = false);
    air.nodes[0]
        .mac
        .send_data(air.now, MacDst::Broadcast, b"plain".to_vec(), false)
        .unwrap();
    air.run(SECOND);
    assert!(air.data(1).is_empty());
    assert_eq!(air.nodes[1].mac.stats().unsecured_refused, 1);
}

#[test]
fn rad01_two_senders_share_the_channel_by_carrier_sense() {
    let mut air = Air::new(&[(0.0, 0.0), (20.0, 0.0), (0.0, 20.0)], |_| {});
    for round in 0..10u8 {
        for i in [0, 2] {
            air.nodes[i]
                .mac
                .send_data(air.now, MacDst::Unicast(eui(2)), vec![round; 60], true)
                .unwrap();
        }
        air.run(air.now + SECOND);
    }
    let got = air.data(1);
    assert_eq!(got.iter().filter(|(s, ..)| *s == eui(1)).count(), 10);
    assert_eq!(got.iter().filter(|(s, ..)| *s == eui(3)).count(), 10);
    for i in [0, 2] {
        assert_eq!(air.nodes[i].mac.stats().failed, 0);
    }
}

#[test]
fn con01_the_arib_budget_defers_a_sender_that_used_its_hour() {
    let mut air = Air::new(&[(0.0, 0.0), (20.0, 0.0)], |c| {
        c.budget.max_per_window = Duration::from_millis(25);
    });
    for _ in 0..3 {
        air.nodes[0]
            .mac
            .send_data(air.now, MacDst::Broadcast, vec![0; 100], true)
            .unwrap();
    }
    air.run(10 * SECOND);
    // Each frame is about 11 ms on the air (139 bytes with SHR/PHR): two fit in the 25 ms
    // allowance, the third waits for the window to slide (an hour later).
    assert_eq!(air.data(1).len(), 2);
    assert!(air.nodes[0].mac.stats().budget_deferrals >= 1);
    air.run(3700 * SECOND);
    assert_eq!(air.data(1).len(), 3);
}

#[test]
fn rad01_a_2015_frame_is_acknowledged_with_an_enh_ack_naming_its_sender() {
    let mut air = Air::new(&[(0.0, 0.0), (20.0, 0.0), (10.0, 5.0)], |_| {});
    air.nodes[0]
        .mac
        .send_data(air.now, MacDst::Unicast(eui(2)), b"ack me".to_vec(), true)
        .unwrap();
    air.run(SECOND);
    let (from, ack) = &air.log[1];
    assert_eq!(*from, 1);
    let mpdu = fcs::strip(ack, FcsKind::Crc16).unwrap();
    let Mpdu::Plain(frame) = Mpdu::parse(mpdu).unwrap() else {
        panic!("an acknowledgment is not secured");
    };
    // 802.15.4-2015 §6.7.4.2: a frame version 2 frame gets an Enh-Ack.
    assert_eq!(frame.header.frame_type, FrameType::Ack);
    assert_eq!(frame.header.version, FrameVersion::V2015);
    assert_eq!(frame.header.dst, Some(Address::Extended(eui(1))));
    let a = air.nodes[0].mac.stats();
    assert_eq!((a.sent, a.retransmissions), (1, 0), "the Enh-Ack was taken");
    // An Enh-Ack naming someone else with our sequence number acknowledges nothing.
    air.nodes[0]
        .mac
        .send_data(air.now, MacDst::Unicast(eui(2)), b"again".to_vec(), true)
        .unwrap();
    let seq = {
        let (_, p) = &air.log[0];
        let Mpdu::Secured(f) = Mpdu::parse(fcs::strip(p, FcsKind::Crc16).unwrap()).unwrap() else {
            panic!("secured");
        };
        f.header.sequence_number.unwrap().wrapping_add(1)
    };
    air.medium.set_channel(air.nodes[1].id, None).unwrap();
    let other = fcs::append(
        &enhanced_ack(seq, Address::Extended(eui(3))).emit().unwrap(),
        FcsKind::Crc16,
    )
    .unwrap();
    let t = air.nodes[0].mac.next_wakeup().unwrap();
    air.now = t;
    let phy = *air.medium.phy();
    let (psdu, _) = air.nodes[0]
        .mac
        .wake(t, &mut || false, &|l| phy.air_time(l));
    assert!(psdu.is_some());
    let (_, _) = air.nodes[0]
        .mac
        .receive(t + SECOND / 1000, &other, -40, 255, &|l| phy.air_time(l));
    air.run(air.now + SECOND);
    assert!(
        air.nodes[0].mac.stats().retransmissions >= 1,
        "not taken as ours"
    );
}

#[test]
fn sec03_a_superseded_key_is_retired_after_the_grace_period_and_never_taken_back() {
    let mut air = Air::new(&[(0.0, 0.0), (20.0, 0.0)], |c| {
        c.key_grace = Duration::from_secs(10);
    });
    let now = air.now;
    // Node 2 switches to key 2; node 1 still sends under key 1 for a while.
    air.nodes[1]
        .mac
        .install_key(now, 2, [0x22; 16], true)
        .unwrap();
    air.nodes[0]
        .mac
        .send_data(
            now,
            MacDst::Unicast(eui(2)),
            b"old key, in grace".to_vec(),
            true,
        )
        .unwrap();
    air.run(SECOND);
    assert_eq!(air.data(1).len(), 1, "accepted within the grace period");
    air.run(20 * SECOND);
    assert!(!air.nodes[1].mac.has_key(1), "retired");
    assert_eq!(air.nodes[1].mac.stats().keys_retired, 1);
    let now = air.now;
    air.nodes[0]
        .mac
        .send_data(
            now,
            MacDst::Unicast(eui(2)),
            b"old key, too late".to_vec(),
            true,
        )
        .unwrap();
    air.run(now + SECOND);
    assert_eq!(air.data(1).len(), 1, "refused after it");
    assert!(air.nodes[1].mac.stats().security_failures >= 1);
    // A delivery of the retired key (a replayed PANA message, say) is refused.
    assert_eq!(
        air.nodes[1].mac.install_key(air.now, 1, KEY, false),
        Err(MacError::RetiredKey(1))
    );
}
