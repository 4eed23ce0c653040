//! The PaC and PAA state machines against each other over a simulated link with virtual
//! time (SEC-02 authentication, SEC-03 group-key delivery, SYS-03 capacity): success,
//! every typed failure, loss and retransmission, keep-alive and loss detection, rollover,
//! removal, forged messages.

use core::time::Duration;
use std::collections::VecDeque;

use nodes::link::pana::paa::{Paa, PaaConfig, PaaEvent, Peer};
use nodes::link::pana::pac::{Pac, PacConfig, PacEvent, PacFailure};
use nodes::link::pana::{Entropy, PanaTimers};
use pana::encr::GroupKey;
use pana::psk::{identity_from_eui64, PskDerivation, SaltedSha256};
use pana::secret::Aes128Key;
use pana::{avp, AuthFailure, Flags, Message, MessageType};

const METER: Peer = [0x02, 0, 0, 0, 0, 0, 0, 0xFE];
const PASSWORD: &[u8] = b"0123456789AB";

/// Deterministic bytes (the machines never choose randomness themselves).
struct Counter(u8);
impl Entropy for Counter {
    fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            self.0 = self.0.wrapping_mul(31).wrapping_add(7);
            *b = self.0;
        }
    }
}

fn terminal_eui(n: u8) -> Peer {
    [0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, n]
}

fn group(index: u8, active: bool) -> GroupKey {
    GroupKey {
        index,
        active,
        lifetime_s: 86_400,
        key: Aes128Key::new([index; 16]),
    }
}

/// The registry: terminals 1..=9 registered with PASSWORD, 9 blocked.
fn paa(max: usize) -> Paa {
    let mut config = PaaConfig::new(identity_from_eui64(METER).into_bytes());
    config.max_sessions = max;
    let registry = |id_p: &[u8]| {
        let n = (1..=9u8).find(|n| identity_from_eui64(terminal_eui(*n)).as_bytes() == id_p);
        match n {
            Some(9) => Err(AuthFailure::Blocked),
            Some(_) => Ok(SaltedSha256.derive(id_p, PASSWORD)),
            None => Err(AuthFailure::UnknownId),
        }
    };
    Paa::new(config, Box::new(registry), group(1, true))
}

fn pac(n: u8, password: &[u8]) -> Pac {
    Pac::new(PacConfig::new(
        identity_from_eui64(terminal_eui(n)).into_bytes(),
        password.to_vec(),
    ))
}

/// The link between one PAA and several PaCs, with virtual time and a loss pattern.
struct Net {
    now: Duration,
    paa: Paa,
    pacs: Vec<(Peer, Pac)>,
    /// (to PAA?, peer, bytes)
    queue: VecDeque<(bool, Peer, Vec<u8>)>,
    pac_events: Vec<(Peer, PacEvent)>,
    paa_events: Vec<PaaEvent>,
    /// Datagrams sent so far; those whose number is listed are lost.
    sent: usize,
    lose: Vec<usize>,
    /// While false, nothing reaches the PAA (it is "gone").
    paa_reachable: bool,
    /// Every datagram delivered, in order: (to PAA?, bytes).
    delivered: Vec<(bool, Vec<u8>)>,
    entropy: Counter,
}

impl Net {
    fn new(paa: Paa) -> Self {
        Self {
            now: Duration::ZERO,
            paa,
            pacs: Vec::new(),
            queue: VecDeque::new(),
            pac_events: Vec::new(),
            paa_events: Vec::new(),
            sent: 0,
            lose: Vec::new(),
            paa_reachable: true,
            delivered: Vec::new(),
            entropy: Counter(1),
        }
    }

    fn send(&mut self, to_paa: bool, peer: Peer, bytes: Vec<u8>) {
        self.sent += 1;
        if self.lose.contains(&self.sent) || (to_paa && !self.paa_reachable) {
            return;
        }
        self.delivered.push((to_paa, bytes.clone()));
        self.queue.push_back((to_paa, peer, bytes));
    }

    fn join(&mut self, n: u8, password: &[u8]) {
        let mut p = pac(n, password);
        let pci = p.start(self.now).unwrap();
        let peer = terminal_eui(n);
        self.pacs.push((peer, p));
        self.send(true, peer, pci);
    }

    /// Deliver everything, advancing time to the next timer when idle, until `until`.
    fn run_until(&mut self, until: Duration) {
        loop {
            while let Some((to_paa, peer, bytes)) = self.queue.pop_front() {
                if to_paa {
                    let (out, ev) = self.paa.handle(self.now, &mut self.entropy, peer, &bytes);
                    self.paa_events.extend(ev);
                    for (p, b) in out {
                        self.send(false, p, b);
                    }
                } else if let Some(i) = self.pacs.iter().position(|(p, _)| *p == peer) {
                    let (answer, ev) = self.pacs[i].1.handle(self.now, &mut self.entropy, &bytes);
                    self.pac_events.extend(ev.into_iter().map(|e| (peer, e)));
                    if let Some(a) = answer {
                        self.send(true, peer, a);
                    }
                }
            }
            let next = self
                .pacs
                .iter()
                .filter_map(|(_, p)| p.next_timeout())
                .chain(self.paa.next_timeout())
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    let (out, ev) = self.paa.poll(self.now);
                    self.paa_events.extend(ev);
                    for (p, b) in out {
                        self.send(false, p, b);
                    }
                    for i in 0..self.pacs.len() {
                        let peer = self.pacs[i].0;
                        let (out, ev) = self.pacs[i].1.poll(self.now);
                        self.pac_events.extend(ev.into_iter().map(|e| (peer, e)));
                        for b in out {
                            self.send(true, peer, b);
                        }
                    }
                }
                _ => break,
            }
        }
        self.now = self.now.max(until);
    }

    fn pac_events_of(&self, n: u8) -> Vec<PacEvent> {
        self.pac_events
            .iter()
            .filter(|(p, _)| *p == terminal_eui(n))
            .map(|(_, e)| e.clone())
            .collect()
    }
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn sec02_sec03_terminal_authenticates_and_receives_the_group_key() {
    let mut net = Net::new(paa(4));
    net.join(1, PASSWORD);
    net.run_until(10 * SECOND);
    let ev = net.pac_events_of(1);
    let [PacEvent::Authenticated {
        keys, lifetime_s, ..
    }] = ev.as_slice()
    else {
        panic!("{ev:?}");
    };
    assert_eq!(*lifetime_s, 86_400);
    assert_eq!(keys, &vec![group(1, true)]);
    assert!(matches!(
        net.paa_events.as_slice(),
        [PaaEvent::Authenticated { peer, .. }] if *peer == terminal_eui(1)
    ));
    assert_eq!(net.paa.open_peers(), vec![terminal_eui(1)]);
    assert!(net.pacs[0].1.is_open());
}

#[test]
fn sec02_wrong_password_unknown_and_blocked_terminals_get_no_key() {
    let mut net = Net::new(paa(4));
    net.join(1, b"WRONGPASSWRD");
    net.join(7, PASSWORD);
    net.join(9, PASSWORD);
    net.run_until(30 * SECOND);
    assert_eq!(
        net.pac_events_of(1),
        vec![PacEvent::Failed(PacFailure::Refused(1))]
    );
    assert_eq!(
        net.pac_events_of(9),
        vec![PacEvent::Failed(PacFailure::Refused(1))]
    );
    let failures: Vec<(Peer, AuthFailure)> = net
        .paa_events
        .iter()
        .filter_map(|e| match e {
            PaaEvent::Failed { peer, failure } => Some((*peer, *failure)),
            _ => None,
        })
        .collect();
    assert!(failures.contains(&(terminal_eui(1), AuthFailure::MacPMismatch)));
    assert!(failures.contains(&(terminal_eui(9), AuthFailure::Blocked)));
    assert_eq!(net.paa.open_peers(), vec![terminal_eui(7)]);
    // The refused sessions were answered (PAN[C]) and forgotten: no retransmission runs
    // out into a "lost" terminal.
    net.run_until(300 * SECOND);
    assert!(!net
        .paa_events
        .iter()
        .any(|e| matches!(e, PaaEvent::Lost { .. })));
}

/// The failures the PAA reported, by terminal.
fn failures(net: &Net) -> Vec<(Peer, AuthFailure)> {
    net.paa_events
        .iter()
        .filter_map(|e| match e {
            PaaEvent::Failed { peer, failure } => Some((*peer, *failure)),
            _ => None,
        })
        .collect()
}

/// TRM-08 with SYS-03: once a terminal's password changed ([`Paa::replace_psk`]), its
/// next authentication with the new one is accepted and one with the old one refused;
/// a replaced PSK registers nobody (an unknown ID stays unknown) and lifts no block.
#[test]
fn trm08_sys03_a_replaced_psk_is_the_one_proved_and_the_registry_still_decides() {
    const NEW: &[u8] = b"NEWPASSWORD-8";
    let id = |n| identity_from_eui64(terminal_eui(n)).into_bytes();
    let mut p = paa(4);
    for n in [1, 2, 9] {
        p.replace_psk(&id(n), SaltedSha256.derive(&id(n), NEW));
    }
    p.replace_psk(
        b"NOT-REGISTERED",
        SaltedSha256.derive(b"NOT-REGISTERED", NEW),
    );
    let mut net = Net::new(p);
    net.join(1, PASSWORD);
    net.join(2, NEW);
    net.join(3, PASSWORD);
    net.join(9, NEW);
    let mut unknown = PacConfig::new(b"NOT-REGISTERED".to_vec(), NEW.to_vec());
    unknown.timers.retransmit = SECOND;
    let mut pac = Pac::new(unknown);
    let pci = pac.start(Duration::ZERO).unwrap();
    net.pacs.push((terminal_eui(5), pac));
    net.send(true, terminal_eui(5), pci);
    net.run_until(30 * SECOND);
    let failures = failures(&net);
    assert!(
        failures.contains(&(terminal_eui(1), AuthFailure::MacPMismatch)),
        "the old password is refused: {failures:?}"
    );
    assert!(failures.contains(&(terminal_eui(9), AuthFailure::Blocked)));
    assert!(failures.contains(&(terminal_eui(5), AuthFailure::UnknownId)));
    assert_eq!(
        net.paa.open_peers(),
        vec![terminal_eui(2), terminal_eui(3)],
        "the new password opens 2; 3, unchanged, keeps its own"
    );
}

#[test]
fn sec02_unknown_terminal_is_refused() {
    let mut config = PacConfig::new(b"NOT-REGISTERED".to_vec(), PASSWORD.to_vec());
    config.timers.retransmit = SECOND;
    let mut net = Net::new(paa(4));
    let mut p = Pac::new(config);
    let pci = p.start(Duration::ZERO).unwrap();
    net.pacs.push((terminal_eui(5), p));
    net.send(true, terminal_eui(5), pci);
    net.run_until(30 * SECOND);
    assert_eq!(
        net.pac_events_of(5),
        vec![PacEvent::Failed(PacFailure::Refused(1))]
    );
    assert!(net.paa_events.contains(&PaaEvent::Failed {
        peer: terminal_eui(5),
        failure: AuthFailure::UnknownId
    }));
}

#[test]
fn sys03_a_fifth_terminal_is_refused_for_lack_of_room() {
    let mut net = Net::new(paa(4));
    for n in 1..=5 {
        net.join(n, PASSWORD);
    }
    net.run_until(30 * SECOND);
    assert_eq!(net.paa.open_peers().len(), 4);
    assert_eq!(
        net.pac_events_of(5),
        vec![PacEvent::Failed(PacFailure::Refused(2))]
    );
    assert!(net.paa_events.contains(&PaaEvent::Failed {
        peer: terminal_eui(5),
        failure: AuthFailure::NoRoom
    }));
}

#[test]
fn sec02_lost_messages_are_retransmitted_and_the_exchange_completes() {
    let mut net = Net::new(paa(4));
    // Lose the first PAR[S] (2nd datagram) and the PAN carrying EAP-PSK 2 (5th, counting
    // the first PAR[S] that was lost... and its retransmission).
    net.lose = vec![2, 6];
    net.join(1, PASSWORD);
    net.run_until(60 * SECOND);
    assert!(
        matches!(
            net.pac_events_of(1).as_slice(),
            [PacEvent::Authenticated { .. }]
        ),
        "{:?}",
        net.pac_events
    );
    assert!(net.now >= 2 * SECOND, "needed a retransmission timer");
}

#[test]
fn sec03_rollover_delivers_the_next_key_inactive_then_the_switch_notice() {
    let mut net = Net::new(paa(4));
    net.join(1, PASSWORD);
    net.join(2, PASSWORD);
    net.run_until(10 * SECOND);
    let out = net.paa.distribute(net.now, group(2, false));
    assert_eq!(out.len(), 2, "one PNR per open session");
    for (p, b) in out {
        net.send(false, p, b);
    }
    net.run_until(20 * SECOND);
    let out = net.paa.distribute(net.now, group(2, true));
    for (p, b) in out {
        net.send(false, p, b);
    }
    net.run_until(30 * SECOND);
    for n in [1, 2] {
        let keys: Vec<GroupKey> = net
            .pac_events_of(n)
            .into_iter()
            .filter_map(|e| match e {
                PacEvent::GroupKey(k) => Some(k),
                _ => None,
            })
            .collect();
        assert_eq!(keys, vec![group(2, false), group(2, true)], "terminal {n}");
    }
    let acks = net
        .paa_events
        .iter()
        .filter(|e| matches!(e, PaaEvent::KeyAcknowledged { index: 2, .. }))
        .count();
    assert_eq!(acks, 4);
    assert_eq!(net.paa.group_keys().0, &group(2, true));
    // A terminal joining now gets key 2 as the active one.
    net.join(3, PASSWORD);
    net.run_until(40 * SECOND);
    assert!(matches!(
        net.pac_events_of(3).as_slice(),
        [PacEvent::Authenticated { keys, .. }] if keys == &vec![group(2, true)]
    ));
}

#[test]
fn con02_pings_keep_the_session_and_silence_is_detected_as_loss() {
    let mut net = Net::new(paa(4));
    net.join(1, PASSWORD);
    net.run_until(10 * SECOND);
    // Three ping intervals with the PAA answering: nothing happens.
    let ping = PanaTimers::default().ping_interval;
    net.run_until(3 * ping + 20 * SECOND);
    assert_eq!(net.pac_events_of(1).len(), 1);
    assert!(net.pacs[0].1.is_open());
    let pings = |net: &Net| {
        net.delivered
            .iter()
            .filter(|(to_paa, b)| {
                *to_paa
                    && Message::parse(b).is_ok_and(|m| {
                        m.kind == MessageType::Notification && m.flags.contains(Flags::PING)
                    })
            })
            .count()
    };
    assert_eq!(pings(&net), 3);
    // The smart meter disappears: the next ping goes unanswered through its retries.
    net.paa_reachable = false;
    net.run_until(4 * ping + 200 * SECOND);
    assert_eq!(net.pac_events_of(1).last(), Some(&PacEvent::Lost));
    assert!(!net.pacs[0].1.is_open());
}

#[test]
fn con02_a_doubt_pings_at_once_and_finds_a_silent_paa_gone() {
    let mut net = Net::new(paa(4));
    net.join(1, PASSWORD);
    net.run_until(10 * SECOND);
    // A frame of the terminal's went unacknowledged: the PaC pings now, not an interval
    // later, and the unanswered ping loses the session within its retransmission span.
    net.paa_reachable = false;
    net.pacs[0].1.doubt(net.now);
    let span = PanaTimers::default().give_up_after();
    net.run_until(10 * SECOND + span);
    assert_eq!(net.pac_events_of(1).last(), Some(&PacEvent::Lost));
    assert!(!net.pacs[0].1.is_open());
}

#[test]
fn con02_a_doubt_with_the_paa_answering_keeps_the_session() {
    let mut net = Net::new(paa(4));
    net.join(1, PASSWORD);
    net.run_until(10 * SECOND);
    net.pacs[0].1.doubt(net.now);
    net.run_until(20 * SECOND);
    assert_eq!(net.pac_events_of(1).len(), 1);
    assert!(net.pacs[0].1.is_open());
    // The answered ping starts a whole interval again: the next comes one interval on.
    assert_eq!(
        net.pacs[0].1.next_timeout(),
        Some(10 * SECOND + PanaTimers::default().ping_interval)
    );
}

#[test]
fn sys03_the_smart_meter_removes_a_terminal() {
    let mut net = Net::new(paa(4));
    net.join(1, PASSWORD);
    net.run_until(10 * SECOND);
    let ptr = net.paa.remove(net.now, terminal_eui(1)).unwrap();
    net.send(false, terminal_eui(1), ptr);
    net.run_until(20 * SECOND);
    assert_eq!(net.pac_events_of(1).last(), Some(&PacEvent::Terminated(4)));
    assert!(net.paa_events.contains(&PaaEvent::Terminated {
        peer: terminal_eui(1),
        cause: 4
    }));
    assert!(net.paa.open_peers().is_empty());
}

#[test]
fn sec02_a_forged_key_delivery_is_dropped_without_effect() {
    let mut net = Net::new(paa(4));
    net.join(1, PASSWORD);
    net.run_until(10 * SECOND);
    let (peer, mut pnr) = net.paa.distribute(net.now, group(2, false)).remove(0);
    let last = pnr.len() - 1;
    pnr[last] ^= 1; // the AUTH value
    let before = net.pacs[0].1.dropped();
    let (answer, events) = net.pacs[0].1.handle(net.now, &mut net.entropy, &pnr);
    assert_eq!((answer, events), (None, Vec::new()));
    assert_eq!(net.pacs[0].1.dropped(), before + 1);
    assert_eq!(peer, terminal_eui(1));
}

#[test]
fn sec02_a_terminal_expecting_another_smart_meter_fails_on_id_s() {
    let mut config = PacConfig::new(
        identity_from_eui64(terminal_eui(1)).into_bytes(),
        PASSWORD.to_vec(),
    );
    config.expected_id_s = Some(b"SOMEONE ELSE".to_vec());
    let mut net = Net::new(paa(4));
    let mut p = Pac::new(config);
    let pci = p.start(Duration::ZERO).unwrap();
    net.pacs.push((terminal_eui(1), p));
    net.send(true, terminal_eui(1), pci);
    net.run_until(5 * SECOND);
    assert_eq!(
        net.pac_events_of(1),
        vec![PacEvent::Failed(PacFailure::Auth(AuthFailure::IdSMismatch))]
    );
}

/// Terminal 1 joined; then its PaC asks to re-authenticate (PNR with the A flag).
fn reauthenticated(lose: Vec<usize>) -> Net {
    let mut net = Net::new(paa(4));
    net.join(1, PASSWORD);
    net.run_until(10 * SECOND);
    net.lose = lose.into_iter().map(|n| n + net.sent).collect();
    let pnr = net.pacs[0].1.reauthenticate(net.now).unwrap();
    net.send(true, terminal_eui(1), pnr);
    net.run_until(60 * SECOND);
    net
}

#[test]
fn sec02_a_session_reauthenticates_inside_itself_under_its_auth_key() {
    let mut net = Net::new(paa(4));
    net.join(1, PASSWORD);
    net.run_until(10 * SECOND);
    // A key delivery under the first session key, kept to replay later.
    let (_, old_pnr) = net.paa.distribute(net.now, group(2, false)).remove(0);
    net.send(false, terminal_eui(1), old_pnr.clone());
    net.run_until(20 * SECOND);
    let mark = net.delivered.len();
    let pnr = net.pacs[0].1.reauthenticate(net.now).unwrap();
    assert!(
        net.pacs[0].1.reauthenticate(net.now).is_none(),
        "one at a time"
    );
    net.send(true, terminal_eui(1), pnr);
    net.run_until(30 * SECOND);
    let ev = net.pac_events_of(1);
    let [PacEvent::Authenticated { .. }, PacEvent::GroupKey(_), PacEvent::Authenticated {
        keys, lifetime_s, ..
    }] = ev.as_slice()
    else {
        panic!("{ev:?}");
    };
    assert_eq!(*lifetime_s, 86_400);
    assert_eq!(
        keys,
        &vec![group(1, true), group(2, false)],
        "current and next again"
    );
    assert!(net.pacs[0].1.is_open());
    assert_eq!(net.paa.open_peers(), vec![terminal_eui(1)]);
    assert!(matches!(
        net.paa_events.last(),
        Some(PaaEvent::Authenticated { peer, key_id: 2, .. }) if *peer == terminal_eui(1)
    ));
    // RFC 5191 §4.3: PNR[A], PNA[A], then EAP-PSK 1-4 and PAR[C]/PAN[C]: every one of
    // them sealed under the session's AUTH key, the completion naming Key-Id 2.
    let exchange: Vec<(bool, Message)> = net.delivered[mark..]
        .iter()
        .map(|(to_paa, b)| (*to_paa, Message::parse(b).unwrap()))
        .collect();
    let kinds: Vec<(bool, MessageType, bool)> = exchange
        .iter()
        .map(|(to_paa, m)| (*to_paa, m.kind, m.flags.is_request()))
        .collect();
    use MessageType::{Auth, Notification};
    assert_eq!(
        kinds,
        vec![
            (true, Notification, true),
            (false, Notification, false),
            (false, Auth, true),
            (true, Auth, false),
            (false, Auth, true),
            (true, Auth, false),
            (false, Auth, true),
            (true, Auth, false),
        ]
    );
    assert!(exchange[..2]
        .iter()
        .all(|(_, m)| m.flags.contains(Flags::REAUTH)));
    assert!(exchange
        .iter()
        .all(|(_, m)| m.avp(avp::code::AUTH).is_some()));
    let (_, pan_c) = exchange.last().unwrap();
    assert!(pan_c.flags.contains(Flags::COMPLETE));
    assert_eq!(pan_c.key_id(), Some(2));
    // The first session key is gone: what it sealed no longer verifies.
    let before = net.pacs[0].1.dropped();
    let (answer, events) = net.pacs[0].1.handle(net.now, &mut net.entropy, &old_pnr);
    assert_eq!((answer, events), (None, Vec::new()));
    assert_eq!(net.pacs[0].1.dropped(), before + 1);
    // The new one carries on: pings answered, the switch notice delivered.
    for (p, b) in net.paa.distribute(net.now, group(2, true)) {
        net.send(false, p, b);
    }
    net.run_until(2000 * SECOND);
    assert_eq!(
        net.pac_events_of(1).last(),
        Some(&PacEvent::GroupKey(group(2, true)))
    );
    assert!(net.pacs[0].1.is_open());
}

#[test]
fn sec02_a_reauthentication_survives_lost_messages() {
    // Lose the PNA[A] (2nd datagram of the exchange) and the PAN with EAP-PSK 2 (4th,
    // counting the PAR it answers).
    let net = reauthenticated(vec![2, 4]);
    let ev = net.pac_events_of(1);
    assert!(
        matches!(
            ev.as_slice(),
            [
                PacEvent::Authenticated { .. },
                PacEvent::Authenticated { .. }
            ]
        ),
        "{ev:?}"
    );
    assert!(matches!(
        net.paa_events.last(),
        Some(PaaEvent::Authenticated { key_id: 2, .. })
    ));
}

#[test]
fn sec02_a_forged_reauthentication_request_is_ignored() {
    let mut net = Net::new(paa(4));
    net.join(1, PASSWORD);
    net.run_until(10 * SECOND);
    let mut pnr = net.pacs[0].1.reauthenticate(net.now).unwrap();
    let last = pnr.len() - 1;
    pnr[last] ^= 1; // the AUTH value
    let (out, events) = net
        .paa
        .handle(net.now, &mut net.entropy, terminal_eui(1), &pnr);
    assert_eq!((out, events), (Vec::new(), Vec::new()));
    assert_eq!(net.paa.open_peers(), vec![terminal_eui(1)]);
}

#[test]
fn con02_an_unanswered_reauthentication_loses_the_session() {
    let mut net = Net::new(paa(4));
    net.join(1, PASSWORD);
    net.run_until(10 * SECOND);
    net.paa_reachable = false;
    let pnr = net.pacs[0].1.reauthenticate(net.now).unwrap();
    net.send(true, terminal_eui(1), pnr);
    net.run_until(200 * SECOND);
    assert_eq!(net.pac_events_of(1).last(), Some(&PacEvent::Lost));
    assert!(!net.pacs[0].1.is_open());
}

#[test]
fn sec02_a_forged_pci_does_not_end_an_open_session() {
    let mut net = Net::new(paa(4));
    net.join(1, PASSWORD);
    net.run_until(10 * SECOND);
    // Someone sends a PCI in terminal 1's name (PANA is unsecured at the MAC): the PAA
    // starts a second session beside the open one; its PAR[S] reaches the real PaC,
    // which ignores it; the second session times out alone.
    let forged = pac(1, b"NOTHEPASSWRD").start(net.now).unwrap();
    net.send(true, terminal_eui(1), forged);
    net.run_until(2000 * SECOND);
    assert!(net.pacs[0].1.is_open());
    assert_eq!(net.paa.open_peers(), vec![terminal_eui(1)]);
    assert_eq!(net.pac_events_of(1).len(), 1, "{:?}", net.pac_events);
    assert!(
        !net.paa_events
            .iter()
            .any(|e| matches!(e, PaaEvent::Lost { .. } | PaaEvent::Terminated { .. })),
        "{:?}",
        net.paa_events
    );
    // The open session still gets its keys.
    let out = net.paa.distribute(net.now, group(2, false));
    assert_eq!(out.len(), 1);
    for (p, b) in out {
        net.send(false, p, b);
    }
    net.run_until(2010 * SECOND);
    assert_eq!(
        net.pac_events_of(1).last(),
        Some(&PacEvent::GroupKey(group(2, false)))
    );
}

#[test]
fn sec02_a_restarted_terminal_replaces_its_session_only_by_authenticating() {
    let mut net = Net::new(paa(1));
    net.join(1, PASSWORD);
    net.run_until(10 * SECOND);
    // A second session with a wrong password: refused, the first one stays.
    net.pacs[0].1 = pac(1, b"WRONGPASSWRD");
    let pci = net.pacs[0].1.start(net.now).unwrap();
    net.send(true, terminal_eui(1), pci);
    net.run_until(20 * SECOND);
    assert!(matches!(
        net.pac_events_of(1).last(),
        Some(PacEvent::Failed(PacFailure::Refused(1)))
    ));
    assert_eq!(net.paa.open_peers(), vec![terminal_eui(1)]);
    // The terminal restarts with its password: a new session, in room 1 of 1 since it
    // is the same terminal, replacing the old one once it authenticates.
    net.pacs[0].1 = pac(1, PASSWORD);
    let pci = net.pacs[0].1.start(net.now).unwrap();
    net.send(true, terminal_eui(1), pci);
    net.run_until(30 * SECOND);
    assert!(
        matches!(
            net.pac_events_of(1).last(),
            Some(PacEvent::Authenticated { .. })
        ),
        "{:?}\n{:?}",
        net.pac_events,
        net.paa_events
    );
    assert!(net.pacs[0].1.is_open());
    assert_eq!(net.paa.open_peers(), vec![terminal_eui(1)]);
    let authenticated = net
        .paa_events
        .iter()
        .filter(|e| matches!(e, PaaEvent::Authenticated { .. }))
        .count();
    assert_eq!(authenticated, 2);
    // One session: a key delivery goes out once and reaches the new PaC.
    let out = net.paa.distribute(net.now, group(2, false));
    assert_eq!(out.len(), 1);
    for (p, b) in out {
        net.send(false, p, b);
    }
    net.run_until(40 * SECOND);
    assert_eq!(
        net.pac_events_of(1).last(),
        Some(&PacEvent::GroupKey(group(2, false)))
    );
}

/// What an attacker on the channel throws at a session.
#[derive(Debug, Clone)]
enum Junk {
    /// Arbitrary bytes.
    Bytes(Vec<u8>),
    /// A genuine message seen earlier, one bit flipped.
    Flipped(usize, usize),
    /// A genuine message seen earlier, again.
    Replayed(usize),
}

fn junk() -> impl proptest::strategy::Strategy<Value = Junk> {
    use proptest::prelude::*;
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..120).prop_map(Junk::Bytes),
        (any::<usize>(), any::<usize>()).prop_map(|(m, b)| Junk::Flipped(m, b)),
        any::<usize>().prop_map(Junk::Replayed),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// SEC-02: datagrams from someone else — arbitrary, damaged or replayed copies of
    /// the session's own messages — sent to the PAA in the terminal's name and to the
    /// PaC, before and during a re-authentication, never panic, never end the session
    /// and never stop the re-authentication from completing with the next Key-Id.
    #[test]
    fn sec02_junk_on_the_channel_cannot_end_or_steer_a_session(
        before in proptest::collection::vec(junk(), 0..6),
        during in proptest::collection::vec(junk(), 0..6),
    ) {
        let mut net = Net::new(paa(4));
        net.join(1, PASSWORD);
        net.run_until(10 * SECOND);
        let seen: Vec<(bool, Vec<u8>)> = net.delivered.clone();
        let throw = |net: &mut Net, junk: &[Junk]| {
            for j in junk {
                let (to_paa, bytes) = match j {
                    Junk::Bytes(b) => (b.len() % 2 == 0, b.clone()),
                    Junk::Flipped(m, bit) => {
                        let (to_paa, mut b) = seen[m % seen.len()].clone();
                        let at = bit % (b.len() * 8);
                        b[at / 8] ^= 1 << (at % 8);
                        (to_paa, b)
                    }
                    Junk::Replayed(m) => seen[m % seen.len()].clone(),
                };
                if to_paa {
                    let (out, ev) = net.paa.handle(net.now, &mut net.entropy, terminal_eui(1), &bytes);
                    net.paa_events.extend(ev);
                    for (p, b) in out {
                        net.send(false, p, b);
                    }
                } else {
                    let (answer, ev) = net.pacs[0].1.handle(net.now, &mut net.entropy, &bytes);
                    net.pac_events.extend(ev.into_iter().map(|e| (terminal_eui(1), e)));
                    if let Some(a) = answer {
                        net.send(true, terminal_eui(1), a);
                    }
                }
            }
        };
        throw(&mut net, &before);
        net.run_until(20 * SECOND);
        let pnr = net.pacs[0].1.reauthenticate(net.now);
        proptest::prop_assert!(pnr.is_some(), "{:?}", net.pac_events);
        net.send(true, terminal_eui(1), pnr.unwrap_or_default());
        throw(&mut net, &during);
        net.run_until(200 * SECOND);
        proptest::prop_assert!(net.pacs[0].1.is_open(), "{:?}", net.pac_events);
        proptest::prop_assert_eq!(net.paa.open_peers(), vec![terminal_eui(1)]);
        proptest::prop_assert!(
            net.paa_events.iter().any(|e| matches!(e, PaaEvent::Authenticated { key_id: 2, .. })),
            "{:?}",
            net.paa_events
        );
        let ended = net
            .paa_events
            .iter()
            .any(|e| matches!(e, PaaEvent::Lost { .. } | PaaEvent::Terminated { .. }));
        proptest::prop_assert!(!ended, "{:?}", net.paa_events);
    }
}

#[test]
fn sec03_a_key_request_reaches_the_paa_once_and_only_under_the_auth_key() {
    let mut net = Net::new(paa(4));
    net.join(1, PASSWORD);
    net.run_until(10 * SECOND);
    let count = |net: &Net| {
        net.paa_events
            .iter()
            .filter(|e| matches!(e, PaaEvent::KeyRequested { peer } if *peer == terminal_eui(1)))
            .count()
    };
    // A forged copy (AUTH broken) changes nothing.
    let genuine = net.pacs[0].1.request_key(net.now).unwrap();
    assert!(
        net.pacs[0].1.request_key(net.now).is_none(),
        "one at a time"
    );
    let mut forged = genuine.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let (out, events) = net
        .paa
        .handle(net.now, &mut net.entropy, terminal_eui(1), &forged);
    assert_eq!((out.len(), events), (0, Vec::new()));
    // The genuine one, with its first answer lost: retransmitted, answered again, one
    // event.
    let before = net.sent;
    net.lose = vec![before + 2];
    net.send(true, terminal_eui(1), genuine);
    net.run_until(60 * SECOND);
    assert!(net.sent >= before + 4, "PNR, lost PNA, PNR again, PNA");
    assert_eq!(count(&net), 1, "{:?}", net.paa_events);
    assert!(net.pacs[0].1.is_open());
    assert!(
        net.pacs[0].1.request_key(net.now).is_some(),
        "answered: free again"
    );
}

#[test]
fn con02_a_pac_left_waiting_by_a_vanished_paa_gives_up() {
    // The PAA answers the PCI, then hears nothing more: the PaC, waiting for the next
    // PAR with no request of its own in flight, must not wait for ever.
    let mut net = Net::new(paa(4));
    net.join(1, PASSWORD);
    net.lose = (3..200).collect(); // everything after PCI and PAR[S]
    net.run_until(1000 * SECOND);
    assert_eq!(
        net.pac_events_of(1),
        vec![PacEvent::Failed(PacFailure::Timeout)]
    );
    assert_eq!(
        net.pacs[0].1.next_timeout(),
        None,
        "done, nothing left to do"
    );
}

#[test]
fn con02_a_reauthentication_left_half_way_loses_the_session() {
    let mut net = Net::new(paa(4));
    net.join(1, PASSWORD);
    net.run_until(10 * SECOND);
    let pnr = net.pacs[0].1.reauthenticate(net.now).unwrap();
    // PNR[A], PNA[A] and EAP-PSK 1 get through, then nothing.
    net.lose = (net.sent + 4..net.sent + 200).collect();
    net.send(true, terminal_eui(1), pnr);
    net.run_until(1000 * SECOND);
    assert_eq!(net.pac_events_of(1).last(), Some(&PacEvent::Lost));
    assert!(!net.pacs[0].1.is_open());
}

#[test]
fn sys03_a_terminal_gone_silent_is_pinged_and_its_place_freed() {
    let mut net = Net::new(paa(1));
    net.join(1, PASSWORD);
    net.run_until(10 * SECOND);
    assert_eq!(net.paa.open_peers(), vec![terminal_eui(1)]);
    // The terminal is switched off without a word: after two of its ping intervals of
    // silence the PAA pings it, and the unanswered ping frees the place.
    net.pacs.clear();
    let ping = PanaTimers::default().ping_interval;
    net.run_until(10 * SECOND + 2 * ping + 90 * SECOND);
    assert!(net.paa_events.contains(&PaaEvent::Lost {
        peer: terminal_eui(1)
    }));
    assert!(net.paa.open_peers().is_empty());
    net.join(2, PASSWORD);
    net.run_until(10 * SECOND + 2 * ping + 110 * SECOND);
    assert_eq!(net.paa.open_peers(), vec![terminal_eui(2)]);
}

#[test]
fn con02_the_paa_never_pings_a_terminal_that_keeps_pinging() {
    let mut net = Net::new(paa(4));
    net.join(1, PASSWORD);
    net.run_until(5 * PanaTimers::default().ping_interval);
    let paa_pings = net
        .delivered
        .iter()
        .filter(|(to_paa, b)| {
            !to_paa
                && Message::parse(b).is_ok_and(|m| {
                    m.kind == MessageType::Notification
                        && m.flags.is_request()
                        && m.flags.contains(Flags::PING)
                })
        })
        .count();
    assert_eq!(paa_pings, 0);
    assert!(net.pacs[0].1.is_open());
}

/// The one datagram a PAA step sent.
fn only(out: Vec<(Peer, Vec<u8>)>) -> Vec<u8> {
    assert_eq!(out.len(), 1, "{out:?}");
    out.into_iter().next().unwrap().1
}

#[test]
fn sec02_forged_messages_during_the_first_authentication_are_dropped_not_fatal() {
    let mut paa = paa(4);
    let mut pac = pac(1, PASSWORD);
    let mut e = Counter(1);
    let t = terminal_eui(1);
    let now = SECOND;
    let pci = pac.start(now).unwrap();
    let par_s = only(paa.handle(now, &mut e, t, &pci).0);
    let pan_s = pac.handle(now, &mut e, &par_s).0.unwrap();
    let psk1 = only(paa.handle(now, &mut e, t, &pan_s).0);
    let psk2 = pac.handle(now, &mut e, &psk1).0.unwrap();
    let psk3 = only(paa.handle(now, &mut e, t, &psk2).0);
    // Someone in range answers first with a damaged MAC_S, then a damaged protected
    // channel (the EAP-PSK 3 layout: EAP header 4, type, flags, RAND_S 16, MAC_S 16,
    // PCHANNEL).
    let mut m = Message::parse(&psk3).unwrap();
    for at in [22, 40] {
        let mut forged = m.clone();
        for a in &mut forged.avps {
            if let avp::Avp::EapPayload(v) = a {
                v[at] ^= 1;
            }
        }
        let (answer, events) = pac.handle(now, &mut e, &forged.emit().unwrap());
        assert_eq!((answer, events), (None, Vec::new()), "byte {at}");
    }
    // ... and a refusal in the PAA's name, which past EAP-PSK 2 it can't be.
    m.flags = Flags::REQUEST | Flags::COMPLETE;
    m.avps = vec![avp::Avp::ResultCode(
        avp::result_code::AUTHENTICATION_REJECTED,
    )];
    let psk4 = pac
        .handle(now, &mut e, &psk3)
        .0
        .expect("the real EAP-PSK 3 answered");
    let par_c = only(paa.handle(now, &mut e, t, &psk4).0);
    let mut bad_auth = par_c.clone();
    let last = bad_auth.len() - 1;
    bad_auth[last] ^= 1;
    let (answer, events) = pac.handle(now, &mut e, &bad_auth);
    assert_eq!((answer, events), (None, Vec::new()));
    let refusal = Message {
        seq: Message::parse(&par_c).unwrap().seq,
        ..m
    };
    let (answer, events) = pac.handle(now, &mut e, &refusal.emit().unwrap());
    assert_eq!((answer, events), (None, Vec::new()));
    assert_eq!(pac.dropped(), 4);
    // The real PAR[C] still opens the session.
    let (answer, events) = pac.handle(now, &mut e, &par_c);
    assert!(answer.is_some());
    assert!(matches!(
        events.as_slice(),
        [PacEvent::Authenticated { .. }]
    ));
    assert!(pac.is_open());
}

#[test]
fn sec02_sec03_a_replayed_key_delivery_or_switch_notice_is_dropped_and_counted() {
    let mut net = Net::new(paa(4));
    net.join(1, PASSWORD);
    net.run_until(10 * SECOND);
    let mark = net.delivered.len();
    for key in [
        group(2, false),
        group(2, true),
        group(3, false),
        group(3, true),
    ] {
        for (p, b) in net.paa.distribute(net.now, key) {
            net.send(false, p, b);
        }
        net.run_until(net.now + 10 * SECOND);
    }
    let deliveries: Vec<Vec<u8>> = net.delivered[mark..]
        .iter()
        .filter(|(to_paa, _)| !to_paa)
        .map(|(_, b)| b.clone())
        .collect();
    assert_eq!(deliveries.len(), 4);
    let events_before = net.pac_events_of(1).len();
    // The old deliveries again, each AUTH still valid in this session: none re-installs
    // key 2 (the last one is a retransmission by its sequence number: answered again,
    // not acted on).
    for old in &deliveries {
        let (_, events) = net.pacs[0].1.handle(net.now, &mut net.entropy, old);
        assert_eq!(events, Vec::new());
    }
    assert_eq!(net.pac_events_of(1).len(), events_before);
    assert_eq!(net.pacs[0].1.out_of_order(), 3);
}

#[test]
fn sys03_spoofed_pcis_cannot_take_a_real_terminals_place() {
    let mut net = Net::new(paa(4));
    // PCIs in twenty made-up names, never followed up.
    for n in 0..20u8 {
        let pci = pac(50 + n, PASSWORD).start(net.now).unwrap();
        net.send(true, [0x02, 0xEE, 0, 0, 0, 0, 0, n], pci);
    }
    net.run_until(SECOND);
    assert_eq!(net.paa.half_open_refused(), 16);
    // A real terminal right after: kept waiting while the half-open sessions last, never
    // refused, then let in.
    net.join(1, PASSWORD);
    net.run_until(200 * SECOND);
    assert!(
        matches!(
            net.pac_events_of(1).as_slice(),
            [PacEvent::Authenticated { .. }]
        ),
        "{:?}",
        net.pac_events_of(1)
    );
    assert_eq!(net.paa.open_peers(), vec![terminal_eui(1)]);
    assert!(!net.paa_events.iter().any(|e| matches!(
        e,
        PaaEvent::Failed {
            failure: AuthFailure::NoRoom,
            ..
        }
    )));
}

#[test]
fn sec02_a_replayed_pac_request_is_dropped_and_counted_by_the_paa() {
    let mut net = Net::new(paa(4));
    net.join(1, PASSWORD);
    net.run_until(10 * SECOND);
    let mark = net.delivered.len();
    // Two ping intervals: two pings of the PaC.
    net.run_until(10 * SECOND + 2 * PanaTimers::default().ping_interval + 100 * SECOND);
    let pings: Vec<Vec<u8>> = net.delivered[mark..]
        .iter()
        .filter(|(to_paa, _)| *to_paa)
        .map(|(_, b)| b.clone())
        .collect();
    assert_eq!(pings.len(), 2);
    let (out, events) = net
        .paa
        .handle(net.now, &mut net.entropy, terminal_eui(1), &pings[0]);
    assert!(out.is_empty() && events.is_empty());
    assert_eq!(net.paa.out_of_order(), 1);
    // The last one is a retransmission to the PAA: answered again.
    let (out, _) = net
        .paa
        .handle(net.now, &mut net.entropy, terminal_eui(1), &pings[1]);
    assert_eq!(out.len(), 1);
}
