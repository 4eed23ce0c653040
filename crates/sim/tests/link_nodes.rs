//! Terminals and smart meters of `nodes::link` over the simulated radio (`sim::Medium`),
//! as issue 6 lists: the strongest of three smart meters is chosen (CON-02), a smart
//! meter with another Pairing ID never answers (CON-01), a fifth terminal is refused
//! (SYS-03), a wrong password never gets a key (SEC-02), a large DLMS-sized datagram
//! crosses fragmented and secured (SEC-03, RAD-01), the group key rolls over, and a lost
//! smart meter makes the terminal fall back to the next best (CON-02).

use core::time::Duration;
use std::collections::BTreeMap;

use dlms::cipher::{Keys, SystemTitle, GREEN_BOOK_AK, GREEN_BOOK_EK};
use dlms::relay::message::{Command, Uplink};
use headend::aroute::{FromSmartMeter, SmartMeterLink};
use lowpan::{Echo, EchoKind, Encoder, LinkAddress, Packet, UdpDatagram};
use nodes::app::push::read_push;
use nodes::app::reader::Reader;
use nodes::app::relay::SmartMeterRelay;
use nodes::app::secrets::TerminalSecrets;
use nodes::app::smartmeter::{Arrived, SmartMeterApp};
use nodes::link::frame_counters::CounterSnapshot;
use nodes::link::mac::{Mac, MacConfig, MacDst};
use nodes::link::net::{Net, NetConfig, NetError};
use nodes::link::pana::paa::{PaaConfig, Registry};
use nodes::link::pana::{Entropy, PanaTimers};
use nodes::link::profile::LinkProfile;
use nodes::link::smartmeter::{JoinWindow, SmartMeter, SmartMeterConfig, SmartMeterEvent};
use nodes::link::terminal::{Terminal, TerminalConfig, TerminalEvent};
use pana::psk::{identity_from_eui64, PskDerivation, SaltedSha256};
use pana::secret::Psk;
use pana::AuthFailure;
use proptest::prelude::*;
use sim::{Medium, NodeId, Outcome, PhyConfig, Position, PropagationConfig};
use wisun::ccm_star;
use wisun::mac::audit::{CaptureAudit, NonceReuse};
use wisun::mac::fcs::{self, FcsKind};
use wisun::mac::{Eui64, KeyIdentifier, Mpdu, Oui};
use wisun::pairing_id::PairingIeFormat;
use wisun::PairingId;

const PASSWORD: &[u8] = b"PASSWORD1234";
const SECOND: Duration = Duration::from_secs(1);

struct Seeded(u64);
impl Entropy for Seeded {
    fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *b = (self.0 >> 24) as u8;
        }
    }
}

fn pairing() -> PairingId {
    PairingId::from_codes("00", "12345678901").unwrap()
}

fn terminal_eui(n: u8) -> Eui64 {
    Eui64([0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x10, n])
}

fn meter_eui(n: u8) -> Eui64 {
    Eui64([0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x20, n])
}

enum Kind {
    Terminal(Box<Terminal>),
    Meter(Box<SmartMeter>),
}

struct Node {
    id: NodeId,
    kind: Kind,
    terminal_events: Vec<TerminalEvent>,
    meter_events: Vec<SmartMeterEvent>,
    /// Radio switched off by the test (a smart meter that disappears).
    off: bool,
    /// The frame counters the node asked to persist, last written (what a driver keeps
    /// on disk).
    persisted: Option<CounterSnapshot>,
}

struct World {
    medium: Medium,
    nodes: Vec<Node>,
    now: Duration,
    /// Every PSDU put on the air, in order.
    air_log: Vec<Vec<u8>>,
}

fn meter_config(n: u8, channel: u8, pairing_id: PairingId) -> SmartMeterConfig {
    SmartMeterConfig {
        mac: MacConfig::new(meter_eui(n)),
        pan_id: 0x1000 + u16::from(n),
        channel,
        pairing_id,
        profile: LinkProfile::default(),
        join_window: JoinWindow::Always,
        paa: PaaConfig::new(identity_from_eui64(meter_eui(n).0).into_bytes()),
        key_period: Duration::from_secs(3600),
        switch_delay: Duration::from_secs(60),
        net: NetConfig::default(),
    }
}

fn terminal_config(n: u8, password: &[u8]) -> TerminalConfig {
    TerminalConfig {
        mac: MacConfig::new(terminal_eui(n)),
        pairing_id: pairing(),
        profile: LinkProfile::default(),
        channels: vec![33, 35, 37],
        scan_window: Duration::from_millis(200),
        auth_id: identity_from_eui64(terminal_eui(n).0).into_bytes(),
        password: password.to_vec(),
        pana: PanaTimers::default(),
        backoff: Duration::from_secs(10),
        max_backoff: Duration::from_secs(600),
        net: NetConfig::default(),
    }
}

/// Every terminal 1..=9 registered with PASSWORD.
/// A smart meter (channel 33) and a terminal 6 m away that joined it: the world, the
/// smart meter's and the terminal's indices, and the PAN ID.
fn joined_pair() -> (World, usize, usize, u16) {
    let mut w = World::new();
    let config = meter_config(1, 33, pairing());
    let pan = config.pan_id;
    let m = w.add_meter(config, Position::outdoor(0.0, 0.0));
    let t = w.add_terminal(terminal_config(1, PASSWORD), Position::indoor(6.0, 0.0));
    w.run(20 * SECOND);
    assert_eq!(w.joined(t), vec![meter_eui(1)]);
    (w, m, t, pan)
}

fn registry() -> Box<dyn Registry + Send> {
    Box::new(|id_p: &[u8]| -> Result<Psk, AuthFailure> {
        (1..=9u8)
            .find(|n| identity_from_eui64(terminal_eui(*n).0).as_bytes() == id_p)
            .map(|_| SaltedSha256.derive(id_p, PASSWORD))
            .ok_or(AuthFailure::UnknownId)
    })
}

impl World {
    fn new() -> Self {
        let prop = PropagationConfig {
            shadowing_sigma_db: 0.0,
            ..PropagationConfig::default()
        };
        Self {
            medium: Medium::new(11, prop, PhyConfig::default()),
            nodes: Vec::new(),
            now: Duration::ZERO,
            air_log: Vec::new(),
        }
    }

    fn add_meter(&mut self, config: SmartMeterConfig, at: Position) -> usize {
        self.add_meter_with(config, registry(), at)
    }

    /// A smart meter with its own registry of terminals and passwords.
    fn add_meter_with(
        &mut self,
        config: SmartMeterConfig,
        registry: Box<dyn Registry + Send>,
        at: Position,
    ) -> usize {
        let id = self.medium.add_node(at);
        let seed = u64::from(config.mac.eui64.0[7]) + 1000;
        let m = SmartMeter::new(config, registry, Box::new(Seeded(seed)), self.now);
        self.nodes.push(Node {
            id,
            kind: Kind::Meter(Box::new(m)),
            terminal_events: Vec::new(),
            meter_events: Vec::new(),
            off: false,
            persisted: None,
        });
        self.nodes.len() - 1
    }

    fn add_terminal(&mut self, config: TerminalConfig, at: Position) -> usize {
        let id = self.medium.add_node(at);
        let seed = u64::from(config.mac.eui64.0[7]) + 1;
        let t = Terminal::new(config, Box::new(Seeded(seed)), self.now);
        self.nodes.push(Node {
            id,
            kind: Kind::Terminal(Box::new(t)),
            terminal_events: Vec::new(),
            meter_events: Vec::new(),
            off: false,
            persisted: None,
        });
        self.nodes.len() - 1
    }

    fn run(&mut self, until: Duration) {
        let phy = *self.medium.phy();
        let air = move |len: usize| phy.air_time(len);
        let mut stalled = 0u32;
        loop {
            for n in &self.nodes {
                let ch = match (&n.kind, n.off) {
                    (_, true) => None,
                    (Kind::Terminal(t), _) => t.channel(),
                    (Kind::Meter(m), _) => Some(m.channel()),
                };
                self.medium.set_channel(n.id, ch).unwrap();
            }
            let next = self
                .nodes
                .iter()
                .filter_map(|n| match &n.kind {
                    Kind::Terminal(t) => t.next_wakeup(),
                    Kind::Meter(m) => m.next_wakeup(),
                })
                .chain(self.medium.next_end())
                .min();
            let Some(t) = next.filter(|t| *t <= until) else {
                break;
            };
            // A node that keeps asking to be woken at a time already handled would spin
            // here forever: fail instead.
            if t <= self.now {
                stalled += 1;
                assert!(stalled < 10_000, "no progress at {:?}", self.now);
            } else {
                stalled = 0;
            }
            self.now = self.now.max(t);
            let mut to_send = Vec::new();
            for report in self.medium.advance(self.now).unwrap() {
                for r in report
                    .receptions
                    .iter()
                    .filter(|r| r.outcome == Outcome::Received)
                {
                    let i = self.nodes.iter().position(|n| n.id == r.node).unwrap();
                    let rssi = r.rssi_dbm.round() as i16;
                    let node = &mut self.nodes[i];
                    let ack = match &mut node.kind {
                        Kind::Terminal(t) => {
                            let (ack, ev) = t.receive(self.now, &report.frame, rssi, r.lqi, &air);
                            node.terminal_events.extend(ev);
                            ack
                        }
                        Kind::Meter(m) => {
                            let (ack, ev) = m.receive(self.now, &report.frame, rssi, r.lqi, &air);
                            node.meter_events.extend(ev);
                            ack
                        }
                    };
                    if let Some(a) = ack {
                        to_send.push((i, a));
                    }
                }
            }
            for (i, a) in to_send {
                if !self.nodes[i].off {
                    self.air_log.push(a.clone());
                    let _ = self.medium.transmit(self.now, self.nodes[i].id, a);
                }
            }
            for i in 0..self.nodes.len() {
                let (medium, node) = (&mut self.medium, &mut self.nodes[i]);
                let id = node.id;
                let psdu = match &mut node.kind {
                    Kind::Terminal(t) => {
                        let ch = t.channel();
                        let (p, ev) = t.wake(
                            self.now,
                            &mut || ch.is_some_and(|c| medium.channel_busy(id, c).unwrap()),
                            &air,
                        );
                        node.terminal_events.extend(ev);
                        p
                    }
                    Kind::Meter(m) => {
                        let ch = m.channel();
                        let (p, ev) =
                            m.wake(self.now, &mut || medium.channel_busy(id, ch).unwrap(), &air);
                        node.meter_events.extend(ev);
                        p
                    }
                };
                // As a driver does: the counters persisted before the frame goes out.
                let snapshot = match &mut node.kind {
                    Kind::Terminal(t) => t.take_counter_snapshot(),
                    Kind::Meter(m) => m.take_counter_snapshot(),
                };
                if snapshot.is_some() {
                    node.persisted = snapshot;
                }
                if let Some(p) = psdu {
                    if !node.off {
                        self.air_log.push(p.clone());
                        let _ = medium.transmit(self.now, id, p);
                    }
                }
            }
        }
        self.now = self.now.max(until);
    }

    fn terminal(&self, i: usize) -> &Terminal {
        match &self.nodes[i].kind {
            Kind::Terminal(t) => t,
            Kind::Meter(_) => panic!("not a terminal"),
        }
    }

    fn terminal_mut(&mut self, i: usize) -> &mut Terminal {
        match &mut self.nodes[i].kind {
            Kind::Terminal(t) => t,
            Kind::Meter(_) => panic!("not a terminal"),
        }
    }

    fn meter(&mut self, i: usize) -> &mut SmartMeter {
        match &mut self.nodes[i].kind {
            Kind::Meter(m) => m,
            Kind::Terminal(_) => panic!("not a smart meter"),
        }
    }

    fn joined(&self, i: usize) -> Vec<Eui64> {
        self.nodes[i]
            .terminal_events
            .iter()
            .filter_map(|e| match e {
                TerminalEvent::Joined(c) => Some(c.eui64),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn con02_a_terminal_picks_the_strongest_of_three_smart_meters() {
    let mut w = World::new();
    w.add_meter(meter_config(1, 33, pairing()), Position::outdoor(60.0, 0.0));
    w.add_meter(meter_config(2, 35, pairing()), Position::outdoor(8.0, 0.0));
    w.add_meter(meter_config(3, 37, pairing()), Position::outdoor(0.0, 30.0));
    let t = w.add_terminal(terminal_config(1, PASSWORD), Position::indoor(0.0, 0.0));
    w.run(30 * SECOND);
    let scanned = w.nodes[t]
        .terminal_events
        .iter()
        .find_map(|e| match e {
            TerminalEvent::Scanned(c) => Some(c.clone()),
            _ => None,
        })
        .expect("a scan result");
    assert_eq!(
        scanned.iter().map(|c| c.eui64).collect::<Vec<_>>(),
        vec![meter_eui(2), meter_eui(3), meter_eui(1)],
        "strongest first: {scanned:?}"
    );
    assert_eq!(w.joined(t), vec![meter_eui(2)]);
    assert_eq!(w.terminal(t).meter(), Some(meter_eui(2)));
}

#[test]
fn con01_a_smart_meter_with_another_pairing_id_never_answers() {
    let mut w = World::new();
    let other = PairingId::from_codes("07", "99999999999").unwrap();
    let stranger = w.add_meter(meter_config(1, 33, other), Position::outdoor(5.0, 0.0));
    let ours = w.add_meter(meter_config(2, 35, pairing()), Position::outdoor(40.0, 0.0));
    let t = w.add_terminal(terminal_config(1, PASSWORD), Position::indoor(0.0, 0.0));
    w.run(30 * SECOND);
    assert_eq!(w.joined(t), vec![meter_eui(2)]);
    let s = w.meter(stranger).stats();
    assert_eq!(s.beacons_sent, 0);
    assert!(s.requests_ignored >= 1);
    assert_eq!(w.meter(ours).stats().beacons_sent, 1);
}

#[test]
fn sys03_a_fifth_terminal_is_refused() {
    let mut w = World::new();
    let m = w.add_meter(meter_config(1, 33, pairing()), Position::outdoor(0.0, 0.0));
    let ts: Vec<usize> = (1..=5u8)
        .map(|n| {
            let at = Position::indoor(f64::from(n) * 3.0, 5.0);
            w.add_terminal(terminal_config(n, PASSWORD), at)
        })
        .collect();
    w.run(120 * SECOND);
    let joined: usize = ts.iter().map(|&t| w.joined(t).len()).sum();
    assert_eq!(joined, 4);
    assert_eq!(w.meter(m).terminals().len(), 4);
    let refused = ts
        .iter()
        .find(|&&t| w.joined(t).is_empty())
        .copied()
        .unwrap();
    assert!(w.nodes[refused].terminal_events.iter().any(|e| matches!(
        e,
        TerminalEvent::JoinFailed {
            failure: nodes::link::pana::pac::PacFailure::Refused(2),
            ..
        }
    )));
    assert!(w.nodes[m].meter_events.iter().any(|e| matches!(
        e,
        SmartMeterEvent::Refused {
            failure: AuthFailure::NoRoom,
            ..
        }
    )));
}

#[test]
fn sec02_a_wrong_password_never_gets_a_key() {
    let mut w = World::new();
    let m = w.add_meter(meter_config(1, 33, pairing()), Position::outdoor(0.0, 0.0));
    let t = w.add_terminal(
        terminal_config(1, b"NOTTHEPASSWD"),
        Position::indoor(5.0, 0.0),
    );
    w.run(60 * SECOND);
    assert!(w.joined(t).is_empty());
    assert!(!w.nodes[t]
        .terminal_events
        .iter()
        .any(|e| matches!(e, TerminalEvent::KeyInstalled { .. })));
    assert!(!w.terminal(t).net().mac().has_tx_key());
    assert!(w.nodes[m].meter_events.iter().any(|e| matches!(
        e,
        SmartMeterEvent::Refused {
            failure: AuthFailure::MacPMismatch,
            ..
        }
    )));
}

#[test]
fn sec03_rad01_a_large_datagram_crosses_fragmented_and_secured_and_keys_roll_over() {
    let mut w = World::new();
    let mut config = meter_config(1, 33, pairing());
    config.key_period = Duration::from_secs(300);
    let m = w.add_meter(config, Position::outdoor(0.0, 0.0));
    let t = w.add_terminal(terminal_config(1, PASSWORD), Position::indoor(6.0, 0.0));
    w.run(20 * SECOND);
    assert_eq!(w.joined(t), vec![meter_eui(1)]);
    let big: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let now = w.now;
    w.meter(m)
        .send_udp(now, terminal_eui(1), (4059, 4059), big.clone())
        .unwrap();
    w.run(40 * SECOND);
    let got: Vec<Vec<u8>> = w.nodes[t]
        .terminal_events
        .iter()
        .filter_map(|e| match e {
            TerminalEvent::Udp { datagram, .. } => Some(datagram.payload.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(got, vec![big]);
    assert!(w.meter(m).net().stats().fragments_sent >= 5);
    // Past the key period and the switch delay: key 2 installed, then active.
    w.run(400 * SECOND);
    let keys: Vec<(u8, bool)> = w.nodes[t]
        .terminal_events
        .iter()
        .filter_map(|e| match e {
            TerminalEvent::KeyInstalled { index, active } => Some((*index, *active)),
            _ => None,
        })
        .collect();
    assert_eq!(keys, vec![(1, true), (2, false), (2, true)]);
    assert_eq!(w.meter(m).keys_used().len(), 2);
    // The link still carries data under the new key, both ways.
    let now = w.now;
    w.meter(m)
        .send_udp(now, terminal_eui(1), (4059, 4059), b"after".to_vec())
        .unwrap();
    w.run(410 * SECOND);
    assert!(w.nodes[t].terminal_events.iter().any(|e| matches!(
        e,
        TerminalEvent::Udp { datagram, .. } if datagram.payload == b"after"
    )));
}

#[test]
fn con02_a_lost_smart_meter_makes_the_terminal_fall_back_to_the_next_best() {
    let mut w = World::new();
    let near = w.add_meter(meter_config(1, 33, pairing()), Position::outdoor(5.0, 0.0));
    w.add_meter(meter_config(2, 35, pairing()), Position::outdoor(30.0, 0.0));
    let mut tc = terminal_config(1, PASSWORD);
    tc.pana.ping_interval = Duration::from_secs(60);
    let t = w.add_terminal(tc, Position::indoor(0.0, 0.0));
    w.run(20 * SECOND);
    assert_eq!(w.joined(t), vec![meter_eui(1)]);
    w.nodes[near].off = true;
    w.run(300 * SECOND);
    assert_eq!(w.joined(t), vec![meter_eui(1), meter_eui(2)]);
    assert!(w.nodes[t]
        .terminal_events
        .contains(&TerminalEvent::Lost(meter_eui(1))));
}

#[test]
fn con02_an_unacknowledged_frame_finds_a_lost_smart_meter_without_waiting_for_a_ping() {
    let mut w = World::new();
    let near = w.add_meter(meter_config(1, 33, pairing()), Position::outdoor(5.0, 0.0));
    w.add_meter(meter_config(2, 35, pairing()), Position::outdoor(30.0, 0.0));
    // The default keep-alive (two hours): the loss must be found by the frame itself.
    let t = w.add_terminal(terminal_config(1, PASSWORD), Position::indoor(0.0, 0.0));
    w.run(20 * SECOND);
    assert_eq!(w.joined(t), vec![meter_eui(1)]);
    w.nodes[near].off = true;
    let now = w.now;
    w.terminal_mut(t)
        .send_udp(now, (4059, 4059), b"reading".to_vec())
        .unwrap();
    // The MAC's retries, then the ping's (62 s), then a scan and a join.
    w.run(w.now + 120 * SECOND);
    assert!(w.nodes[t]
        .terminal_events
        .contains(&TerminalEvent::Lost(meter_eui(1))));
    assert_eq!(w.joined(t), vec![meter_eui(1), meter_eui(2)]);
}

#[test]
fn sec03_a_smart_meter_nearing_its_counter_limit_rolls_its_key_at_once() {
    let mut w = World::new();
    let mut config = meter_config(1, 33, pairing());
    config.key_period = Duration::from_secs(86_400);
    config.mac.rekey_threshold = 20;
    let m = w.add_meter(config, Position::outdoor(0.0, 0.0));
    let t = w.add_terminal(terminal_config(1, PASSWORD), Position::indoor(6.0, 0.0));
    w.run(20 * SECOND);
    assert_eq!(w.joined(t), vec![meter_eui(1)]);
    for i in 0..30u8 {
        let now = w.now;
        w.meter(m)
            .send_udp(now, terminal_eui(1), (4059, 4059), vec![i; 20])
            .unwrap();
        w.run(w.now + SECOND);
    }
    // Long before the day's key period: the counter threshold rolled the key.
    w.run(w.now + 120 * SECOND);
    assert_eq!(w.meter(m).keys_used().len(), 2);
    assert!(w.nodes[t]
        .terminal_events
        .contains(&TerminalEvent::KeyInstalled {
            index: 2,
            active: true
        }));
    let got = w.nodes[t]
        .terminal_events
        .iter()
        .filter(|e| matches!(e, TerminalEvent::Udp { .. }))
        .count();
    assert_eq!(got, 30, "nothing lost across the switch");
}

#[test]
fn sec02_a_terminal_reauthenticates_inside_its_session_before_the_lifetime_runs_out() {
    let mut w = World::new();
    let mut config = meter_config(1, 33, pairing());
    config.paa.session_lifetime_s = 300;
    // The join window closes after a minute: re-authentication is not a new join.
    config.join_window = JoinWindow::Until(60 * SECOND);
    let m = w.add_meter(config, Position::outdoor(0.0, 0.0));
    let t = w.add_terminal(terminal_config(1, PASSWORD), Position::indoor(6.0, 0.0));
    w.run(1000 * SECOND);
    // Joined once, then re-authenticated at 270 s intervals (PNR[A], RFC 5191 §4.3):
    // never lost, never expired, one session all along.
    assert_eq!(w.joined(t), vec![meter_eui(1)]);
    let renewed = w.nodes[t]
        .terminal_events
        .iter()
        .filter(|e| matches!(e, TerminalEvent::Reauthenticated(_)))
        .count();
    assert!(renewed >= 3, "{:?}", w.nodes[t].terminal_events);
    assert_eq!(w.terminal(t).stats().renewals, renewed as u64);
    assert_eq!(w.terminal(t).stats().joins, 1);
    // Each re-authentication names the next MSK.
    let key_ids: Vec<u32> = w.nodes[m]
        .meter_events
        .iter()
        .filter_map(|e| match e {
            SmartMeterEvent::Reauthenticated { terminal, key_id } => {
                assert_eq!(*terminal, terminal_eui(1));
                Some(*key_id)
            }
            _ => None,
        })
        .collect();
    assert_eq!(key_ids, (2..2 + renewed as u32).collect::<Vec<_>>());
    let stats = w.meter(m).stats();
    assert_eq!(
        (stats.authentications, stats.reauthentications),
        (1, renewed as u64)
    );
    assert!(!w.nodes[t]
        .terminal_events
        .iter()
        .any(|e| matches!(e, TerminalEvent::Lost(_))));
    assert!(!w.nodes[m]
        .meter_events
        .iter()
        .any(|e| matches!(e, SmartMeterEvent::Left { .. })));
    let now = w.now;
    w.meter(m)
        .send_udp(now, terminal_eui(1), (4059, 4059), b"still here".to_vec())
        .unwrap();
    w.run(1010 * SECOND);
    assert!(w.nodes[t].terminal_events.iter().any(|e| matches!(
        e,
        TerminalEvent::Udp { datagram, .. } if datagram.payload == b"still here"
    )));
}

#[test]
fn sys03_con01_a_removed_terminal_stays_out_once_the_join_window_has_closed() {
    let mut w = World::new();
    let mut config = meter_config(1, 33, pairing());
    config.join_window = JoinWindow::Until(60 * SECOND);
    let m = w.add_meter(config, Position::outdoor(0.0, 0.0));
    let t = w.add_terminal(terminal_config(1, PASSWORD), Position::indoor(6.0, 0.0));
    w.run(30 * SECOND);
    assert_eq!(w.joined(t), vec![meter_eui(1)]);
    // The operator removes it after the window closed.
    w.run(100 * SECOND);
    let now = w.now;
    w.meter(m).remove(now, terminal_eui(1));
    w.run(900 * SECOND);
    assert!(w.nodes[m].meter_events.contains(&SmartMeterEvent::Left {
        terminal: terminal_eui(1)
    }));
    assert!(w.nodes[t]
        .terminal_events
        .contains(&TerminalEvent::Lost(meter_eui(1))));
    // Its scans are not answered any more: it stays out.
    assert_eq!(w.joined(t).len(), 1);
    assert!(w.meter(m).terminals().is_empty());
    assert!(w.meter(m).stats().requests_ignored >= 1);
}

#[test]
fn sys03_con01_the_join_window_opens_for_0_or_300_to_1800_seconds() {
    assert_eq!(
        JoinWindow::open_for(10 * SECOND, Duration::ZERO),
        Ok(JoinWindow::Always)
    );
    assert_eq!(
        JoinWindow::open_for(10 * SECOND, 300 * SECOND),
        Ok(JoinWindow::Until(310 * SECOND))
    );
    assert_eq!(
        JoinWindow::open_for(Duration::ZERO, 1800 * SECOND),
        Ok(JoinWindow::Until(1800 * SECOND))
    );
    for bad in [
        SECOND,
        299 * SECOND,
        1801 * SECOND,
        Duration::from_millis(300_500),
    ] {
        assert!(
            JoinWindow::open_for(Duration::ZERO, bad).is_err(),
            "{bad:?}"
        );
    }
    // A closed smart meter: a refused length leaves it closed (the new terminal's scans
    // go unanswered); a valid one lets the terminal in.
    let mut w = World::new();
    let mut config = meter_config(1, 33, pairing());
    config.join_window = JoinWindow::Closed;
    let m = w.add_meter(config, Position::outdoor(0.0, 0.0));
    let t = w.add_terminal(terminal_config(1, PASSWORD), Position::indoor(6.0, 0.0));
    let now = w.now;
    assert!(w.meter(m).open_join_window(now, 200 * SECOND).is_err());
    w.run(60 * SECOND);
    assert!(w.joined(t).is_empty());
    let now = w.now;
    assert!(w.meter(m).open_join_window(now, 300 * SECOND).is_ok());
    w.run(400 * SECOND);
    assert_eq!(w.joined(t), vec![meter_eui(1)]);
}

#[test]
fn sec03_a_terminal_nearing_its_counter_limit_asks_for_the_next_key() {
    let mut w = World::new();
    let mut config = meter_config(1, 33, pairing());
    config.key_period = Duration::from_secs(86_400);
    let m = w.add_meter(config, Position::outdoor(0.0, 0.0));
    let mut tconfig = terminal_config(1, PASSWORD);
    tconfig.mac.rekey_threshold = 20;
    let t = w.add_terminal(tconfig, Position::indoor(6.0, 0.0));
    w.run(20 * SECOND);
    assert_eq!(w.joined(t), vec![meter_eui(1)]);
    for i in 0..40u8 {
        let now = w.now;
        w.terminal_mut(t)
            .send_udp(now, (4059, 4059), vec![i; 20])
            .unwrap();
        w.run(w.now + SECOND);
    }
    w.run(w.now + 120 * SECOND);
    // Long before the day's key period: the terminal's key request rolled the key, once.
    assert_eq!(w.terminal(t).stats().key_requests, 1);
    assert_eq!(w.meter(m).stats().key_requests, 1);
    assert_eq!(w.meter(m).keys_used().len(), 2);
    assert!(w.nodes[t]
        .terminal_events
        .contains(&TerminalEvent::KeyInstalled {
            index: 2,
            active: true
        }));
    let got = w.nodes[m]
        .meter_events
        .iter()
        .filter(|e| matches!(e, SmartMeterEvent::Udp { .. }))
        .count();
    assert_eq!(got, 40, "nothing lost across the switch");
}

/// The secured frames on the air that share a CCM* nonce under one key (SEC-03).
fn nonce_reuse(log: &[Vec<u8>]) -> Vec<NonceReuse> {
    let mut audit = CaptureAudit::new();
    for psdu in log {
        if let Ok(mpdu) = fcs::strip(psdu, FcsKind::Crc16) {
            audit.add(mpdu);
        }
    }
    assert_eq!(audit.imm_acks_to_2015, 0, "2015 frames get Enh-Acks");
    audit.reused().to_vec()
}

/// Someone in range with a radio of its own: builds frames as a node would, with the
/// addresses and keys the test gives it.
struct Intruder {
    mac: Mac,
    encoder: Encoder,
}

impl Intruder {
    /// Posing as `eui64` in `pan`, holding `key` (index, bytes) if any, its frame counter
    /// starting at `counter` (above what the real node used).
    fn new(eui64: Eui64, pan: u16, key: Option<(u8, [u8; 16])>, counter: u32) -> Self {
        let mut config = MacConfig::new(eui64);
        // Each frame once: nobody acknowledges the intruder.
        config.max_retries = 0;
        let mut mac = Mac::new(config);
        mac.set_pan(Some(pan));
        if let Some((index, bytes)) = key {
            mac.install_key(Duration::ZERO, index, bytes, true).unwrap();
            // Its own counter table: every key starts at the floor.
            mac.restore_counters(&CounterSnapshot {
                floor: counter,
                keys: BTreeMap::new(),
            });
        }
        Self {
            mac,
            encoder: Encoder::new(0x7777),
        }
    }

    /// The PSDUs carrying `packet` to `dst`, secured when `secure`.
    fn frames(&mut self, now: Duration, dst: Eui64, packet: &Packet, secure: bool) -> Vec<Vec<u8>> {
        let own = LinkAddress::Extended(self.mac.eui64().0);
        let pieces = self
            .encoder
            .encode(packet, own, LinkAddress::Extended(dst.0), 60)
            .unwrap();
        self.raw(now, dst, pieces, secure)
    }

    /// The PSDUs carrying each of `payloads` (6LoWPAN frames, or anything) as a MAC
    /// payload to `dst`, secured when `secure`.
    fn raw(
        &mut self,
        now: Duration,
        dst: Eui64,
        payloads: Vec<Vec<u8>>,
        secure: bool,
    ) -> Vec<Vec<u8>> {
        let n = payloads.len();
        for piece in payloads {
            self.mac
                .send_data(now, MacDst::Unicast(dst), piece, secure)
                .unwrap();
        }
        let air = |len: usize| PhyConfig::default().air_time(len);
        let mut out: Vec<Vec<u8>> = Vec::new();
        while let Some(t) = self.mac.next_wakeup() {
            if let (Some(p), _) = self.mac.wake(t, &mut || false, &air) {
                out.push(p);
            }
        }
        assert_eq!(out.len(), n);
        out
    }
}

fn udp(from: Eui64, to: Eui64, port: u16, payload: &[u8]) -> Packet {
    Packet::Udp(UdpDatagram::link_local(
        LinkAddress::Extended(from.0),
        LinkAddress::Extended(to.0),
        port,
        port,
        payload.to_vec(),
    ))
}

impl World {
    fn udp_to_meter(&self, m: usize) -> Vec<Vec<u8>> {
        self.nodes[m]
            .meter_events
            .iter()
            .filter_map(|e| match e {
                SmartMeterEvent::Udp { datagram, .. } => Some(datagram.payload.clone()),
                _ => None,
            })
            .collect()
    }

    fn send_from_terminal(&mut self, t: usize, payloads: core::ops::Range<u8>) {
        for i in payloads {
            let now = self.now;
            self.terminal_mut(t)
                .send_udp(now, (4059, 4059), vec![i; 30])
                .unwrap();
            self.run(self.now + SECOND);
        }
    }

    /// Deliver `psdus` to node `i` as if received at once.
    fn inject(&mut self, i: usize, psdus: &[Vec<u8>]) {
        let phy = *self.medium.phy();
        let air = move |len: usize| phy.air_time(len);
        let now = self.now;
        for p in psdus {
            let node = &mut self.nodes[i];
            match &mut node.kind {
                Kind::Terminal(t) => {
                    let (_, ev) = t.receive(now, p, -50, 255, &air);
                    node.terminal_events.extend(ev);
                }
                Kind::Meter(m) => {
                    let (_, ev) = m.receive(now, p, -50, 255, &air);
                    node.meter_events.extend(ev);
                }
            }
        }
    }
}

#[test]
fn sec03_a_terminal_that_rejoins_its_smart_meter_never_repeats_a_frame_counter() {
    let mut w = World::new();
    let m = w.add_meter(meter_config(1, 33, pairing()), Position::outdoor(0.0, 0.0));
    let mut tc = terminal_config(1, PASSWORD);
    tc.pana.ping_interval = Duration::from_secs(60);
    let t = w.add_terminal(tc, Position::indoor(6.0, 0.0));
    w.run(20 * SECOND);
    assert_eq!(w.joined(t), vec![meter_eui(1)]);
    w.send_from_terminal(t, 0..10);
    // The smart meter goes quiet long enough for the terminal to give it up, then
    // comes back: the terminal scans, joins it again and gets the same group key.
    w.nodes[m].off = true;
    let off_at = w.now;
    while !w.nodes[t]
        .terminal_events
        .contains(&TerminalEvent::Lost(meter_eui(1)))
    {
        assert!(w.now < off_at + 600 * SECOND, "the link was never lost");
        w.run(w.now + 10 * SECOND);
    }
    w.nodes[m].off = false;
    w.run(w.now + 120 * SECOND);
    assert_eq!(w.joined(t), vec![meter_eui(1), meter_eui(1)]);
    assert_eq!(w.meter(m).keys_used().len(), 1, "the same key as before");
    w.send_from_terminal(t, 10..20);
    // Readings go on at once: nothing refused as a replay, no nonce used twice.
    assert_eq!(
        w.udp_to_meter(m).len(),
        20,
        "{:?}",
        w.meter(m).net().mac().stats()
    );
    assert_eq!(w.meter(m).net().mac().stats().replays, 0);
    assert_eq!(nonce_reuse(&w.air_log), Vec::new());
}

#[test]
fn sec03_a_restarted_terminal_resumes_above_its_persisted_frame_counters() {
    let mut w = World::new();
    let m = w.add_meter(meter_config(1, 33, pairing()), Position::outdoor(0.0, 0.0));
    let t = w.add_terminal(terminal_config(1, PASSWORD), Position::indoor(6.0, 0.0));
    w.run(20 * SECOND);
    assert_eq!(w.joined(t), vec![meter_eui(1)]);
    w.send_from_terminal(t, 0..10);
    // Killed and started again: a new process with what its driver wrote to disk.
    let kept = w.nodes[t].persisted.clone().expect("counters persisted");
    let mut restarted = Terminal::new(terminal_config(1, PASSWORD), Box::new(Seeded(77)), w.now);
    restarted.restore_counters(&kept);
    w.nodes[t].kind = Kind::Terminal(Box::new(restarted));
    w.nodes[t].terminal_events.clear();
    w.run(w.now + 60 * SECOND);
    assert_eq!(w.joined(t), vec![meter_eui(1)]);
    w.send_from_terminal(t, 10..20);
    assert_eq!(w.udp_to_meter(m).len(), 20);
    assert_eq!(w.meter(m).net().mac().stats().replays, 0);
    assert_eq!(nonce_reuse(&w.air_log), Vec::new());
}

#[test]
fn sec03_ops07_a_removed_terminal_loses_the_link_and_the_next_group_key() {
    let mut w = World::new();
    let mut config = meter_config(1, 33, pairing());
    config.join_window = JoinWindow::Until(60 * SECOND);
    let pan = config.pan_id;
    let m = w.add_meter(config, Position::outdoor(0.0, 0.0));
    let t1 = w.add_terminal(terminal_config(1, PASSWORD), Position::indoor(6.0, 0.0));
    let t2 = w.add_terminal(terminal_config(2, PASSWORD), Position::indoor(-6.0, 0.0));
    w.run(40 * SECOND);
    assert_eq!(w.joined(t1), vec![meter_eui(1)]);
    assert_eq!(w.joined(t2), vec![meter_eui(1)]);
    // What the removed terminal walks away with: the group key.
    let (index, old_key) = w.meter(m).keys_used()[0];
    w.run(100 * SECOND);
    let now = w.now;
    w.meter(m).remove(now, terminal_eui(1));
    assert_eq!(w.meter(m).stats().removal_rollovers, 1);
    // At once: its frames still open under the old key, but no datagram of a terminal
    // without a session reaches the application.
    let mut removed = Intruder::new(terminal_eui(1), pan, Some((index, old_key)), 1_000_000);
    let forged = removed.frames(
        now,
        meter_eui(1),
        &udp(terminal_eui(1), meter_eui(1), 4059, b"reading?"),
        true,
    );
    let before = w.udp_to_meter(m).len();
    w.inject(m, &forged);
    assert_eq!(w.udp_to_meter(m).len(), before);
    assert_eq!(w.meter(m).stats().sessionless_dropped, 1);
    // The key rolls at once: the next one reaches the terminal that stays, not the
    // removed one; after the switch and the grace period the old key is retired.
    w.run(w.now + 300 * SECOND);
    assert!(w.nodes[t2]
        .terminal_events
        .contains(&TerminalEvent::KeyInstalled {
            index: index + 1,
            active: true
        }));
    assert!(!w.nodes[t1]
        .terminal_events
        .iter()
        .any(|e| matches!(e, TerminalEvent::KeyInstalled { index: i, .. } if *i != index)));
    assert!(!w.meter(m).net().mac().has_key(index), "old key retired");
    let failures = w.meter(m).net().mac().stats().security_failures;
    let later = removed.frames(
        w.now,
        meter_eui(1),
        &udp(terminal_eui(1), meter_eui(1), 4059, b"again"),
        true,
    );
    w.inject(m, &later);
    assert_eq!(
        w.meter(m).net().mac().stats().security_failures,
        failures + 1
    );
    assert_eq!(w.udp_to_meter(m).len(), before);
    // What the others exchange under the new key stays closed to the old key.
    let mark = w.air_log.len();
    let now = w.now;
    w.meter(m)
        .send_udp(now, terminal_eui(2), (4059, 4059), b"for t2 only".to_vec())
        .unwrap();
    w.run(w.now + 10 * SECOND);
    assert!(w.nodes[t2].terminal_events.iter().any(|e| matches!(
        e,
        TerminalEvent::Udp { datagram, .. } if datagram.payload == b"for t2 only"
    )));
    let new_frames: Vec<&Vec<u8>> = w.air_log[mark..]
        .iter()
        .filter(|p| {
            fcs::strip(p, FcsKind::Crc16)
                .ok()
                .and_then(|mpdu| Mpdu::parse(mpdu).ok())
                .is_some_and(|f| matches!(f, Mpdu::Secured(_)))
        })
        .collect();
    assert!(!new_frames.is_empty());
    for p in new_frames {
        let mpdu = fcs::strip(p, FcsKind::Crc16).unwrap();
        let with_old = |_: &KeyIdentifier, _: Eui64| Some(old_key);
        assert!(ccm_star::open(mpdu, &with_old).is_err());
    }
}

#[test]
fn sec03_only_pana_travels_unsecured_between_the_nodes() {
    let (mut w, _, t, pan) = joined_pair();
    // The interface the nodes use never sends anything but PANA in the clear.
    let now = w.now;
    let mut mac = Mac::new(MacConfig::new(meter_eui(1)));
    mac.set_pan(Some(pan));
    let mut net = Net::new(mac, NetConfig::default(), 1);
    let to = MacDst::Unicast(terminal_eui(1));
    assert_eq!(
        net.send_udp(now, to, (4059, 4059), b"x".to_vec(), false),
        Err(NetError::MustBeSecured(4059))
    );
    assert!(net
        .send_udp(now, to, (716, 716), b"pana".to_vec(), false)
        .is_ok());
    // Someone posing as the smart meter, in the clear: a DLMS request and an echo.
    let mut spoof = Intruder::new(meter_eui(1), pan, None, 0);
    let dlms = spoof.frames(
        now,
        terminal_eui(1),
        &udp(meter_eui(1), terminal_eui(1), 4059, b"GET"),
        false,
    );
    let echo = Packet::Echo(Echo {
        src: LinkAddress::Extended(meter_eui(1).0).link_local(),
        dst: LinkAddress::Extended(terminal_eui(1).0).link_local(),
        hop_limit: 64,
        kind: EchoKind::Request,
        ident: 1,
        seq_no: 1,
        data: b"anyone there?".to_vec(),
    });
    let ping = spoof.frames(now, terminal_eui(1), &echo, false);
    let sent_before = w.terminal(t).net().mac().stats().sent;
    w.inject(t, &dlms);
    w.inject(t, &ping);
    w.run(w.now + 5 * SECOND);
    assert!(!w.nodes[t]
        .terminal_events
        .iter()
        .any(|e| matches!(e, TerminalEvent::Udp { .. })));
    let stats = w.terminal(t).net().stats();
    assert_eq!(stats.unsecured_refused, 1);
    assert_eq!((stats.echoes_refused, stats.echoes_answered), (1, 0));
    // Its only frames since: the acknowledgments of the two injected frames.
    assert_eq!(w.terminal(t).net().mac().stats().sent, sent_before + 2);
}

#[test]
fn sec03_unsecured_fragments_never_join_or_kill_a_secured_datagram() {
    let (mut w, m, t, pan) = joined_pair();
    let (index, key) = w.meter(m).keys_used()[0];
    // The smart meter's fragments (what its radio would send, under the key), and
    // someone else's in the clear posing as it, with the same datagram tags.
    let mut meter = Intruder::new(meter_eui(1), pan, Some((index, key)), 1_000_000);
    let mut spoof = Intruder::new(meter_eui(1), pan, None, 0);
    let to_t = |payload: &[u8]| udp(meter_eui(1), terminal_eui(1), 4059, payload);
    let (real_a, fake_a) = ([0xA5; 300], [0x5A; 300]);
    let real = meter.frames(w.now, terminal_eui(1), &to_t(&real_a), true);
    let fake = spoof.frames(w.now, terminal_eui(1), &to_t(&fake_a), false);
    assert!(real.len() >= 3 && fake.len() == real.len());
    // A spoofed fragment in the middle of a secured datagram: it used to clash with the
    // real one (overlap) and kill the datagram.
    w.inject(t, &real[..1]);
    w.inject(t, &fake[1..2]);
    w.inject(t, &real[1..]);
    // A spoofed first fragment where the real one was lost, completed by the real
    // secured fragments: it used to be delivered as a secured datagram.
    let (real_b, fake_b) = ([0xB6; 300], [0x6B; 300]);
    let real = meter.frames(w.now, terminal_eui(1), &to_t(&real_b), true);
    let fake = spoof.frames(w.now, terminal_eui(1), &to_t(&fake_b), false);
    w.inject(t, &fake[..1]);
    w.inject(t, &real[1..]);
    let got = |w: &World| -> Vec<Vec<u8>> {
        w.nodes[t]
            .terminal_events
            .iter()
            .filter_map(|e| match e {
                TerminalEvent::Udp { datagram, .. } => Some(datagram.payload.clone()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(got(&w), vec![real_a.to_vec()]);
    // The smart meter sends it again (its first fragment never got through): whole,
    // secured, delivered.
    let again = meter.frames(w.now, terminal_eui(1), &to_t(&real_b), true);
    w.inject(t, &again);
    assert_eq!(got(&w), vec![real_a.to_vec(), real_b.to_vec()]);
}

#[test]
fn con04_sec03_terminal_and_smart_meter_share_the_link_profile_or_never_link() {
    let custom = LinkProfile {
        pairing_format: PairingIeFormat {
            oui: Oui(0x00AB_CDEF),
            subtype: Some(7),
        },
        vendor_id: 4,
        ..LinkProfile::default()
    };
    // Both on the deployment's own profile: they link, the group key arrives.
    let mut w = World::new();
    let mut mc = meter_config(1, 33, pairing());
    mc.profile = custom.clone();
    w.add_meter(mc, Position::outdoor(0.0, 0.0));
    let mut tc = terminal_config(1, PASSWORD);
    tc.profile = custom.clone();
    let t = w.add_terminal(tc, Position::indoor(6.0, 0.0));
    w.run(30 * SECOND);
    assert_eq!(w.joined(t), vec![meter_eui(1)]);
    assert!(w.terminal(t).net().mac().has_tx_key());
    // Another Pairing ID IE format: the smart meter does not hear its own Pairing ID.
    let mut w = World::new();
    let m = w.add_meter(meter_config(1, 33, pairing()), Position::outdoor(0.0, 0.0));
    let mut tc = terminal_config(1, PASSWORD);
    tc.profile = LinkProfile {
        pairing_format: custom.pairing_format,
        ..LinkProfile::default()
    };
    let t = w.add_terminal(tc, Position::indoor(6.0, 0.0));
    w.run(30 * SECOND);
    assert!(w.joined(t).is_empty());
    assert_eq!(w.meter(m).stats().beacons_sent, 0);
    // Another Vendor-Id: authenticated, but no group key it can read — no link.
    let mut w = World::new();
    w.add_meter(meter_config(1, 33, pairing()), Position::outdoor(0.0, 0.0));
    let mut tc = terminal_config(1, PASSWORD);
    tc.profile = LinkProfile {
        vendor_id: 4,
        ..LinkProfile::default()
    };
    let t = w.add_terminal(tc, Position::indoor(6.0, 0.0));
    w.run(30 * SECOND);
    assert!(w.joined(t).is_empty());
    assert!(!w.terminal(t).net().mac().has_tx_key());
    assert!(w.nodes[t].terminal_events.iter().any(|e| matches!(
        e,
        TerminalEvent::JoinFailed {
            failure: nodes::link::pana::pac::PacFailure::Auth(AuthFailure::NoGroupKey),
            ..
        }
    )));
}

#[test]
fn ops07_sec03_a_blocked_terminal_stays_out_with_the_window_open_until_reconnected() {
    let mut w = World::new();
    let m = w.add_meter(meter_config(1, 33, pairing()), Position::outdoor(0.0, 0.0));
    let mut tc = terminal_config(1, PASSWORD);
    tc.backoff = Duration::from_secs(5);
    tc.max_backoff = Duration::from_secs(20);
    let t = w.add_terminal(tc, Position::indoor(6.0, 0.0));
    w.run(20 * SECOND);
    assert_eq!(w.joined(t), vec![meter_eui(1)]);
    let now = w.now;
    w.meter(m).block(now, terminal_eui(1));
    assert_eq!(w.meter(m).stats().removal_rollovers, 1, "the key rolls");
    // The join window is open (Always), yet it stays out however often it tries.
    w.run(w.now + 300 * SECOND);
    assert_eq!(w.joined(t), vec![meter_eui(1)]);
    assert!(w.meter(m).terminals().is_empty());
    assert_eq!(w.meter(m).blocked(), vec![terminal_eui(1)]);
    assert!(w.nodes[m].meter_events.iter().any(|e| matches!(
        e,
        SmartMeterEvent::Refused {
            failure: AuthFailure::Blocked,
            ..
        }
    )));
    assert!(!w.terminal(t).net().mac().has_tx_key());
    // Reconnected: it joins again with its next attempt and gets the current key.
    w.meter(m).reconnect(terminal_eui(1));
    w.run(w.now + 120 * SECOND);
    assert_eq!(w.joined(t), vec![meter_eui(1), meter_eui(1)]);
    assert!(w.terminal(t).net().mac().has_tx_key());
    assert!(w.meter(m).blocked().is_empty());
}

/// TRM-08/CON-01: a Pairing ID changed while linked is used from the next scan: once its
/// smart meter is gone, the terminal joins the one with the new ID, not another with the
/// old ID; a changed password is the one that authenticates there.
#[test]
fn trm08_con01_a_new_pairing_id_and_password_are_used_from_the_next_scan() {
    let mut w = World::new();
    let new_id = PairingId::from_codes("07", "99999999999").unwrap();
    let near = w.add_meter(meter_config(1, 33, pairing()), Position::outdoor(5.0, 0.0));
    w.add_meter(meter_config(2, 35, pairing()), Position::outdoor(20.0, 0.0));
    // The smart meter with the new ID knows the terminal by its new password only.
    let knows_new = Box::new(|id_p: &[u8]| -> Result<Psk, AuthFailure> {
        (identity_from_eui64(terminal_eui(1).0).as_bytes() == id_p)
            .then(|| SaltedSha256.derive(id_p, b"NEWPASSWORD1"))
            .ok_or(AuthFailure::UnknownId)
    });
    w.add_meter_with(
        meter_config(3, 37, new_id),
        knows_new,
        Position::outdoor(30.0, 0.0),
    );
    let mut tc = terminal_config(1, PASSWORD);
    tc.pana.ping_interval = Duration::from_secs(60);
    let t = w.add_terminal(tc, Position::indoor(0.0, 0.0));
    w.run(20 * SECOND);
    assert_eq!(w.joined(t), vec![meter_eui(1)]);
    w.terminal_mut(t).set_pairing_id(new_id);
    w.terminal_mut(t).set_password(b"NEWPASSWORD1".to_vec());
    // Still linked: the change waits for the next scan.
    w.run(40 * SECOND);
    assert_eq!(w.terminal(t).meter(), Some(meter_eui(1)));
    w.nodes[near].off = true;
    w.run(400 * SECOND);
    assert_eq!(w.joined(t), vec![meter_eui(1), meter_eui(3)]);
}

/// TRM-08: a password changed while the terminal is connected is the one its next
/// re-authentication inside the session proves: once the smart meter registers the new
/// password the session goes on renewing, never lost, never a new join.
#[test]
fn trm08_sec02_the_next_reauthentication_proves_the_new_password() {
    use std::sync::{Arc, Mutex};
    const NEW: &[u8] = b"NEWPASSWORD1";
    let registered = Arc::new(Mutex::new(PASSWORD.to_vec()));
    let held = registered.clone();
    let registry: Box<dyn Registry + Send> =
        Box::new(move |id_p: &[u8]| -> Result<Psk, AuthFailure> {
            if identity_from_eui64(terminal_eui(1).0).as_bytes() != id_p {
                return Err(AuthFailure::UnknownId);
            }
            let password = held.lock().map_err(|_| AuthFailure::UnknownId)?.clone();
            Ok(SaltedSha256.derive(id_p, &password))
        });
    let mut w = World::new();
    let mut config = meter_config(1, 33, pairing());
    config.paa.session_lifetime_s = 300;
    let m = w.add_meter_with(config, registry, Position::outdoor(0.0, 0.0));
    let t = w.add_terminal(terminal_config(1, PASSWORD), Position::indoor(6.0, 0.0));
    w.run(100 * SECOND);
    assert_eq!(w.joined(t), vec![meter_eui(1)]);
    // The password changes at both ends (the head end tells the smart meter).
    w.terminal_mut(t).set_password(NEW.to_vec());
    *registered.lock().unwrap() = NEW.to_vec();
    w.run(1000 * SECOND);
    let renewed = w.nodes[t]
        .terminal_events
        .iter()
        .filter(|e| matches!(e, TerminalEvent::Reauthenticated(_)))
        .count();
    assert!(renewed >= 3, "{:?}", w.nodes[t].terminal_events);
    assert_eq!(w.terminal(t).stats().joins, 1, "one session all along");
    assert!(!w.nodes[t]
        .terminal_events
        .iter()
        .any(|e| matches!(e, TerminalEvent::Lost(_))));
    assert_eq!(w.meter(m).stats().reauthentications, renewed as u64);
}

/// What anyone holding the group key can send the smart meter from the IoT route as the
/// terminal: UDP to any port (the DLMS port among them, with bytes or a well-formed push of
/// any body), an ICMPv6 echo, or an uncompressed IPv6 packet (6LoWPAN dispatch 0x41) of any
/// header — any next header, any addresses — and payload.
#[derive(Debug, Clone)]
enum Sent {
    Packet(Packet),
    Ipv6(Vec<u8>),
}

fn sent() -> impl Strategy<Value = Sent> {
    let (t, m) = (terminal_eui(1), meter_eui(1));
    let value = prop_oneof![
        any::<u32>().prop_map(dlms::Data::DoubleLongUnsigned),
        any::<u16>().prop_map(dlms::Data::LongUnsigned),
        prop::collection::vec(any::<u8>(), 0..24).prop_map(dlms::Data::OctetString),
    ];
    let push = prop::collection::vec(value, 0..6).prop_map(move |body| {
        let mut sender =
            dlms::push::PushSender::new(None, None, dlms::cipher::SystemTitle(t.0), 0).unwrap();
        let apdu = sender.notify(None, &dlms::Data::Structure(body)).unwrap();
        let wpdu = dlms::wrapper::Wpdu::new(1, dlms::push::PUSH_DESTINATION_WPORT, &apdu)
            .emit()
            .unwrap();
        Sent::Packet(udp(t, m, 4059, &wpdu))
    });
    prop_oneof![
        (
            any::<u16>(),
            any::<u16>(),
            prop::collection::vec(any::<u8>(), 0..160)
        )
            .prop_map(move |(from, to, payload)| Sent::Packet(Packet::Udp(
                UdpDatagram::link_local(
                    LinkAddress::Extended(t.0),
                    LinkAddress::Extended(m.0),
                    from,
                    to,
                    payload,
                )
            ))),
        prop::collection::vec(any::<u8>(), 0..160)
            .prop_map(move |p| Sent::Packet(udp(t, m, 4059, &p))),
        push,
        (
            any::<bool>(),
            any::<u16>(),
            any::<u16>(),
            prop::collection::vec(any::<u8>(), 0..64)
        )
            .prop_map(
                move |(request, ident, seq_no, data)| Sent::Packet(Packet::Echo(Echo {
                    src: LinkAddress::Extended(t.0).link_local(),
                    dst: LinkAddress::Extended(m.0).link_local(),
                    hop_limit: 64,
                    kind: if request {
                        EchoKind::Request
                    } else {
                        EchoKind::Reply
                    },
                    ident,
                    seq_no,
                    data,
                }))
            ),
        prop::collection::vec(any::<u8>(), 40..100).prop_map(|ipv6| {
            let mut payload = vec![0x41];
            payload.extend(ipv6);
            Sent::Ipv6(payload)
        }),
    ]
}

/// A smart meter's relay (A-route end) and the head end's end of it, the terminal
/// registered.
fn registered() -> (SmartMeterRelay, SmartMeterLink) {
    let keys = || Keys::from_slices(&GREEN_BOOK_EK, &GREEN_BOOK_AK).unwrap();
    let hes_title = SystemTitle(*b"HES\x00\x00\x00\x00\x01");
    let own = SystemTitle(meter_eui(1).0);
    let mut relay = SmartMeterRelay::new(own, hes_title, keys(), 0, None);
    let mut hes = SmartMeterLink::new(hes_title, own, keys(), 0, None);
    hes.command(&Command::Register {
        terminal: terminal_eui(1).0,
        pairing_id: *b"IOT00901",
        secret: b"secret-1".to_vec(),
        interval_min: 30,
        switched: None,
    })
    .unwrap();
    relay.received(&hes.take_output()).unwrap();
    hes.received(&relay.take_output()).unwrap();
    (relay, hes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// SEC-01, SEC-04, SEC-05: packets thrown at the smart meter's whole link from the IoT
    /// route — secured with the group key as the terminal would, so that they pass the
    /// MAC and reach its IPv6 stack — go through what the smart meter does with its link's
    /// events (`SmartMeterApp::link_event`, the simulator's and `iotroute smartmeter`'s one
    /// path). The head end receives nothing but the relay's own well-formed messages about
    /// the terminal it registered, never a packet's bytes.
    #[test]
    fn sec01_sec04_sec05_packets_from_the_iot_route_reach_the_head_end_only_as_relay_messages(
        thrown in prop::collection::vec(sent(), 1..10),
    ) {
        let (mut w, m, _, pan) = joined_pair();
        // The smart meter's relay with the terminal registered by the head end; and the
        // same again, told only what the well-formed pushes among the packets hold.
        let (mut relay, mut hes) = registered();
        let (mut reference, mut reference_hes) = registered();
        let mut app = SmartMeterApp::new(
            Reader::new(1, TerminalSecrets::from_link_passwords([(terminal_eui(1).0, PASSWORD)])),
            None,
        );
        // Anyone holding the group key, posing as the terminal.
        let (index, key) = w.meter(m).keys_used()[0];
        let mut sender = Intruder::new(terminal_eui(1), pan, Some((index, key)), 1_000_000);
        w.nodes[m].meter_events.clear();
        let now = w.now;
        for s in &thrown {
            let frames = match s {
                Sent::Packet(p) => sender.frames(now, meter_eui(1), p, true),
                Sent::Ipv6(b) => sender.raw(now, meter_eui(1), vec![b.clone()], true),
            };
            w.inject(m, &frames);
        }
        let wall = chrono::DateTime::from_timestamp(1_775_000_000, 0).unwrap();
        let events = std::mem::take(&mut w.nodes[m].meter_events);
        // Every UDP datagram reached the smart meter's stack (the test is not vacuous).
        let udp_sent = thrown.iter().filter(|s| matches!(s, Sent::Packet(Packet::Udp(_)))).count();
        let udp_taken = events.iter().filter(|e| matches!(e, SmartMeterEvent::Udp { .. })).count();
        prop_assert_eq!(udp_taken, udp_sent, "{:?}", events);
        for e in events {
            let _ = app.link_event(Some(&mut relay), w.meter(m), e, now, wall);
        }
        for s in &thrown {
            if let Sent::Packet(Packet::Udp(u)) = s {
                if u.src_port == 4059 {
                    if let Some(pushed) = read_push(&u.payload) {
                        reference.arrived(terminal_eui(1).0, &Arrived::Push(pushed), wall);
                    }
                }
            }
        }
        let got = hes.received(&relay.take_output()).unwrap();
        for message in &got {
            match message {
                FromSmartMeter::Message(Uplink::Readings { terminal, .. } | Uplink::Event { terminal, .. }) => {
                    prop_assert_eq!(*terminal, terminal_eui(1).0);
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }
        // Exactly what the pushes' values make: nothing of the rest, no bytes passed on.
        prop_assert_eq!(got, reference_hes.received(&reference.take_output()).unwrap());
        prop_assert_eq!(hes.refused, 0);
    }
}
