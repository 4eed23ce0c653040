//! The smart meter carries out the head end's settings on a terminal over the IoT route
//! (docs/a-route.md, methods 4, 7 and 8): its clock (TRM-09), its reading interval
//! (TRM-11) and its authentication password (TRM-08), each a DLMS session of its own
//! with the terminal, one at a time, and the outcome told back to the head end; and it
//! takes a password the handy terminal changed on the terminal (method 9, ours) at once,
//! without a session.
//!
//! Everything is ours and sans-IO, on one virtual clock: the smart meter's link, its
//! DLMS sessions and its A-route relay on one side; the terminal's link, its DLMS server
//! and its node (which acts on what a client changed) on the other; every frame
//! delivered at once. The head end is played by its end of the sealed A-route channel.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use dlms::apdu::DataRef;
use dlms::cipher::{Keys, SystemTitle, GREEN_BOOK_AK, GREEN_BOOK_EK};
use dlms::cosem::codes::{AUTH_PASSWORD, CLOCK};
use dlms::cosem::{Association, ModelConfig};
use dlms::relay::channel::Channel;
use dlms::relay::message::{Command, Outcome, Uplink};
use dlms::relay::stream::FrameReader;
use dlms::relay::{HEAD_END_WPORT, SMART_METER_WPORT};
use dlms::wrapper::Wpdu;
use dlms::{CosemDateTime, Data};
use echonet::Eoj;
use nodes::app::linked::LinkedTerminal;
use nodes::app::reader::{Purpose, Reader};
use nodes::app::relay::SmartMeterRelay;
use nodes::app::secrets::{dlms_password, TerminalSecrets};
use nodes::app::server::TerminalApp;
use nodes::app::smartmeter::{carry_out, Arrived, Routed, SmartMeterApp};
use nodes::app::DLMS_PORT;
use nodes::controller::ControllerConfig;
use nodes::flood::FloodConfig;
use nodes::link::mac::MacConfig;
use nodes::link::net::NetConfig;
use nodes::link::pana::paa::{PaaConfig, Registry};
use nodes::link::pana::{Entropy, PanaTimers};
use nodes::link::profile::LinkProfile;
use nodes::link::smartmeter::{JoinWindow, SmartMeter, SmartMeterConfig, SmartMeterEvent};
use nodes::link::terminal::{Terminal, TerminalConfig, TerminalEvent};
use nodes::terminal::meters::SERVED;
use nodes::terminal::node::{
    ManagementSecret, NodeEvent, Setting, TerminalNode, TerminalNodeConfig,
};
use nodes::terminal::reader::ReaderConfig;
use nodes::terminal::slots::Interval;
use nodes::terminal::store::MemoryStore;
use pana::psk::identity_from_eui64;
use pana::secret::Psk;
use pana::AuthFailure;
use wisun::mac::Eui64;
use wisun::PairingId;

const TERMINAL: Eui64 = Eui64([0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x10, 0x01]);
const METER: Eui64 = Eui64([0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x20, 0x01]);
const HES: SystemTitle = SystemTitle(*b"HES\x00\x00\x00\x00\x01");
/// The terminal's authentication password at the start: its link password, and the one
/// its management association's secret is derived from.
const PASSWORD: &[u8] = b"PASSWORD1234";
const NEW_PASSWORD: &[u8] = b"NEWPASSWORD-5678";
const CHANNEL: u8 = 33;

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

/// 12:10 JST, 1 April 2026: twenty minutes before a half-hour boundary.
fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-04-01T12:10:00+09:00")
        .unwrap()
        .with_timezone(&Utc)
}

fn air(len: usize) -> Duration {
    Duration::from_micros(80 * (len as u64 + 12))
}

fn keys() -> Keys {
    Keys::from_slices(&GREEN_BOOK_EK, &GREEN_BOOK_AK).unwrap()
}

fn pairing() -> PairingId {
    PairingId::from_codes("00", "12345678901").unwrap()
}

/// The terminal's link authenticating with `password`.
fn terminal_link(password: &[u8], now: Duration) -> Terminal {
    Terminal::new(
        TerminalConfig {
            mac: MacConfig::new(TERMINAL),
            pairing_id: pairing(),
            profile: LinkProfile::default(),
            channels: vec![CHANNEL],
            scan_window: Duration::from_millis(200),
            auth_id: identity_from_eui64(TERMINAL.0).into_bytes(),
            password: password.to_vec(),
            pana: PanaTimers::default(),
            backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(600),
            net: NetConfig::default(),
        },
        Box::new(Seeded(2)),
        now,
    )
}

/// The smart meter (link, sessions, relay), the terminal (link, server, node) and the
/// head end's end of the A route.
struct Rig {
    t0: Instant,
    now: Duration,
    meter: SmartMeter,
    app: SmartMeterApp,
    relay: SmartMeterRelay,
    terminal: LinkedTerminal,
    node: TerminalNode,
    /// The head end's end of the A route.
    hes: Channel,
    frames: FrameReader,
    /// What the smart meter's sessions ended with, in order.
    arrived: Vec<Arrived>,
    /// The smart meter link's events other than datagrams.
    link_events: Vec<SmartMeterEvent>,
    /// The terminal node's events.
    node_events: Vec<NodeEvent>,
}

impl Rig {
    /// Nothing joined yet; the head end registered the terminal (30 minutes).
    fn new() -> Self {
        // SYS-03: the smart meter authenticates the one terminal it was given.
        let registry: Box<dyn Registry + Send> =
            Box::new(|id_p: &[u8]| -> Result<Psk, AuthFailure> {
                (id_p == identity_from_eui64(TERMINAL.0).as_bytes())
                    .then(|| LinkProfile::default().psk(id_p, PASSWORD))
                    .ok_or(AuthFailure::UnknownId)
            });
        let meter = SmartMeter::new(
            SmartMeterConfig {
                mac: MacConfig::new(METER),
                pan_id: 0x1001,
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
        let secrets = TerminalSecrets::from_link_passwords([(TERMINAL.0, PASSWORD)]);
        let node = TerminalNode::new(
            TerminalNodeConfig {
                meter: "127.0.0.2".parse().unwrap(),
                meter_eoj: Eoj::new(0x02, 0x8E, 0x01),
                interval: Interval::Half,
                reader: ReaderConfig::default(),
                controller: ControllerConfig::default(),
                model: ModelConfig {
                    auth_password: PASSWORD.to_vec(),
                    ..ModelConfig::default()
                },
                meter_id: None,
                guard: FloodConfig::default(),
                retention: TimeDelta::days(1),
                management_secret: ManagementSecret::Derived { eui64: TERMINAL.0 },
            },
            nodes::terminal::store::SharedStore::new(MemoryStore::new()),
            start(),
        )
        .unwrap();
        let server = TerminalApp::serving(node.model(), 1, 7).unwrap();
        let mut rig = Self {
            t0: Instant::now(),
            now: Duration::ZERO,
            meter,
            app: SmartMeterApp::new(Reader::new(3, secrets), None),
            relay: SmartMeterRelay::new(SystemTitle(METER.0), HES, keys(), 0, None),
            terminal: LinkedTerminal::new(terminal_link(PASSWORD, Duration::ZERO), server),
            node,
            hes: Channel::new(HES, SystemTitle(METER.0), keys(), 0, None),
            frames: FrameReader::new(),
            arrived: Vec::new(),
            link_events: Vec::new(),
            node_events: Vec::new(),
        };
        rig.command(Command::Register {
            terminal: TERMINAL.0,
            pairing_id: *b"IOT00001",
            secret: dlms_password(TERMINAL.0, PASSWORD),
            interval_min: 30,
            switched: None,
        });
        rig
    }

    /// Joined.
    fn joined() -> Self {
        let mut rig = Self::new();
        rig.run(Duration::from_secs(10));
        assert!(rig.joined_now(), "{:?}", rig.link_events);
        rig
    }

    fn joined_now(&self) -> bool {
        self.meter.terminals().contains(&TERMINAL)
    }

    fn wall(&self) -> DateTime<Utc> {
        start() + TimeDelta::from_std(self.now).unwrap()
    }

    /// The head end sends `command`: the relay takes it, the smart meter carries it out.
    fn command(&mut self, command: Command) {
        let apdu = command.encode(1).unwrap();
        let sealed = self.hes.seal(&apdu).unwrap();
        let frame = Wpdu::new(HEAD_END_WPORT, SMART_METER_WPORT, &sealed)
            .emit()
            .unwrap();
        for c in self.relay.received(&frame).unwrap() {
            let (now, wall) = (self.now, self.wall());
            carry_out(
                c,
                now,
                wall,
                &mut self.meter,
                &mut self.app,
                &mut self.relay,
            );
        }
    }

    /// The *done* messages the head end received so far: (request, outcome, why).
    fn done(&mut self) -> Vec<(u32, Outcome, String)> {
        self.frames.push(&self.relay.take_output());
        let mut done = Vec::new();
        while let Some(frame) = self.frames.next_frame().unwrap() {
            let plain = self.hes.open(&frame.apdu).unwrap();
            if let Ok(Uplink::Done {
                request,
                outcome,
                text,
            }) = Uplink::decode(&plain)
            {
                done.push((request, outcome, text));
            }
        }
        done
    }

    /// Run everything until `until` (from now).
    fn run(&mut self, for_: Duration) {
        let until = self.now + for_;
        let mut stalled = 0;
        loop {
            let (node_mono, node_wall) = self.node.next_wakeup();
            let node = [
                node_mono.map(|i| i.saturating_duration_since(self.t0)),
                (node_wall - start()).to_std().ok(),
            ];
            let next = [self.terminal.link().next_wakeup(), self.meter.next_wakeup()]
                .into_iter()
                .chain(node)
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
            self.poll_node();
            let now = self.now;
            let (psdu, events) = self.terminal.link_mut().wake(now, &mut || false, &air);
            self.terminal_events(events);
            if let Some(p) = psdu {
                let (ack, events) = self.meter.receive(now, &p, -60, 200, &air);
                self.meter_events(events);
                if let Some(a) = ack {
                    self.terminal_receives(&a);
                }
            }
            let (psdu, events) = self.meter.wake(now, &mut || false, &air);
            self.meter_events(events);
            if let Some(p) = psdu {
                if let Some(a) = self.terminal_receives(&p) {
                    let (_, events) = self.meter.receive(now, &a, -60, 200, &air);
                    self.meter_events(events);
                }
            }
        }
        self.now = self.now.max(until);
    }

    fn terminal_receives(&mut self, psdu: &[u8]) -> Option<Vec<u8>> {
        let (ack, events) = self
            .terminal
            .link_mut()
            .receive(self.now, psdu, -60, 200, &air);
        self.terminal_events(events);
        ack
    }

    /// The terminal answers DLMS on its link; its node acts on what a client changed,
    /// and its driver gives the link a new password (as `iotroute terminal` does).
    fn terminal_events(&mut self, events: Vec<TerminalEvent>) {
        let (now, wall) = (self.now, self.wall());
        let handled = self.terminal.handle(now, wall, events);
        if !handled.served.is_empty() {
            self.poll_node();
        }
    }

    fn poll_node(&mut self) {
        self.node
            .poll(self.t0 + self.now, self.wall())
            .expect("the node polls");
        while let Some(e) = self.node.poll_event() {
            if e == NodeEvent::SettingsChanged(Setting::AuthPassword) {
                let password = self.node.model().lock().unwrap().auth_password().to_vec();
                self.terminal.link_mut().set_password(password);
            }
            self.node_events.push(e);
        }
        while self.node.poll_transmit().is_some() {}
        while self.node.poll_push().is_some() {}
    }

    /// The smart meter's link events, as the simulator and `iotroute smartmeter` take
    /// them (`SmartMeterApp::link_event`): DLMS answers to its sessions and joins (the
    /// next request sent, what ended told to the head end), the rest kept.
    fn meter_events(&mut self, events: Vec<SmartMeterEvent>) {
        let (now, wall) = (self.now, self.wall());
        for e in events {
            let (to, next) =
                match self
                    .app
                    .link_event(Some(&mut self.relay), &mut self.meter, e, now, wall)
                {
                    Routed::Dlms {
                        from,
                        next,
                        arrived,
                    } => {
                        self.arrived.extend(arrived);
                        (from, next)
                    }
                    Routed::Joined { terminal, next } => (terminal, next),
                    Routed::Other(other) => {
                        self.link_events.push(other);
                        continue;
                    }
                };
            if let Some(bytes) = next {
                self.meter
                    .send_udp(now, to, (DLMS_PORT, DLMS_PORT), bytes)
                    .unwrap();
            }
        }
    }

    /// The smart meter's own reading of the terminal, started now.
    fn read(&mut self) {
        let aarq = self
            .app
            .start(self.now, TERMINAL.0)
            .expect("a reading starts");
        self.meter
            .send_udp(self.now, TERMINAL, (DLMS_PORT, DLMS_PORT), aarq)
            .unwrap();
    }

    /// How far the terminal's DLMS clock is from the smart meter's (true) time.
    fn clock_offset(&self) -> TimeDelta {
        self.node.model().lock().unwrap().clock().offset()
    }

    fn readings(&self) -> usize {
        self.arrived
            .iter()
            .filter(|a| matches!(a, Arrived::Reading(_)))
            .count()
    }
}

/// TRM-09: the head end's SetClock sets a terminal clock only 5 s off — within the
/// tolerance, so the smart meter's own reading leaves it alone — to the smart meter's
/// time, and the head end hears it was done.
#[test]
fn trm09_set_clock_sets_a_terminal_clock_a_reading_would_leave_alone() {
    let mut rig = Rig::joined();
    // The terminal's clock set 5 s ahead (by the handy terminal, say).
    {
        let model = rig.node.model();
        let mut m = model.lock().unwrap();
        m.set_now(rig.wall());
        let ahead = CosemDateTime::from_chrono(
            &(rig.wall() + TimeDelta::seconds(5)).with_timezone(&dlms::text::jst()),
        );
        let Data::OctetString(bytes) = Data::clock_octet_string(&ahead) else {
            unreachable!("a clock is an octet string");
        };
        m.set(
            Association::Maintenance,
            8,
            CLOCK,
            2,
            None,
            &DataRef::OctetString(&bytes),
        )
        .unwrap();
    }
    rig.poll_node();
    assert_eq!(rig.clock_offset().num_seconds(), 5);

    rig.read();
    rig.run(Duration::from_secs(10));
    assert_eq!(rig.readings(), 1, "{:?}", rig.arrived);
    assert_eq!(
        rig.app.reader().clock_sets,
        0,
        "5 s is within the tolerance"
    );
    assert_eq!(rig.clock_offset().num_seconds(), 5);

    rig.command(Command::SetClock {
        request: 11,
        terminal: TERMINAL.0,
    });
    rig.run(Duration::from_secs(10));
    assert_eq!(rig.done(), vec![(11, Outcome::Done, String::new())]);
    assert_eq!(rig.app.reader().clock_sets, 1);
    let off = rig.clock_offset();
    assert!(off.abs() < TimeDelta::seconds(1), "{off}");
    assert!(
        rig.node_events
            .iter()
            .any(|e| matches!(e, NodeEvent::ClockSet { offset_s: 0 })),
        "the node took the clock: {:?}",
        rig.node_events
    );
}

/// TRM-11: SetInterval 15 makes the terminal's capture period 900 s; its slot reader
/// switches at the next boundary (12:30 read, then 12:45, 13:00); the smart meter's relay
/// holds the new interval once it is done. An interval other than 15 or 30 fails at once.
#[test]
fn trm11_set_interval_15_switches_the_terminal_at_its_next_boundary() {
    let mut rig = Rig::joined();
    rig.command(Command::SetInterval {
        request: 21,
        terminal: TERMINAL.0,
        minutes: 15,
    });
    // Before it is done, the relay holds the old interval.
    assert_eq!(rig.relay.held(TERMINAL.0).unwrap().interval, Interval::Half);
    rig.run(Duration::from_secs(10));
    assert_eq!(rig.done(), vec![(21, Outcome::Done, String::new())]);
    assert_eq!(rig.node.model().lock().unwrap().capture_period(), 900);
    assert!(
        rig.node_events
            .contains(&NodeEvent::IntervalSwitch(Interval::Quarter)),
        "{:?}",
        rig.node_events
    );
    assert_eq!(
        rig.relay.held(TERMINAL.0).unwrap().interval,
        Interval::Quarter
    );
    // Its rows and pushes before 12:30, where the terminal switches, are of 30 minutes.
    assert_eq!(
        rig.relay.held(TERMINAL.0).unwrap().switch,
        Some((
            <Utc as chrono::TimeZone>::with_ymd_and_hms(&Utc, 2026, 4, 1, 3, 30, 0).unwrap(),
            Interval::Half
        ))
    );
    // 12:10 → 13:05: the slots the terminal keeps.
    rig.run(Duration::from_secs(55 * 60));
    let slots: Vec<String> = rig
        .node
        .store()
        .range(SERVED, start(), rig.wall())
        .unwrap()
        .iter()
        .map(|r| {
            r.slot
                .with_timezone(&dlms::text::jst())
                .format("%H:%M")
                .to_string()
        })
        .collect();
    assert_eq!(slots, ["12:30", "12:45", "13:00"]);

    // Not 15 or 30 (the relay's decoder refuses it; a caller in process may not).
    let (now, wall) = (rig.now, rig.wall());
    carry_out(
        Command::SetInterval {
            request: 22,
            terminal: TERMINAL.0,
            minutes: 20,
        },
        now,
        wall,
        &mut rig.meter,
        &mut rig.app,
        &mut rig.relay,
    );
    let done = rig.done();
    assert!(
        matches!(done.as_slice(), [(22, Outcome::Failed, why)] if why.contains("15 or 30")),
        "{done:?}"
    );
    assert_eq!(rig.node.model().lock().unwrap().capture_period(), 900);
}

/// TRM-08: SetPassword changes the terminal's authentication password; from then on the
/// smart meter uses the new one — its next DLMS session opens with the secret derived
/// from it, and its PAA takes the new one at the terminal's next PANA authentication
/// while the old one is refused there and by the terminal's DLMS server. A password of
/// a length the terminal does not take fails at once, changing nothing.
#[test]
fn trm08_set_password_is_the_terminals_and_the_smart_meters_from_then_on() {
    let mut rig = Rig::joined();
    rig.command(Command::SetPassword {
        request: 31,
        terminal: TERMINAL.0,
        password: b"short".to_vec(),
    });
    let done = rig.done();
    assert!(
        matches!(done.as_slice(), [(31, Outcome::Failed, why)] if why.contains("8 to 32")),
        "{done:?}"
    );

    rig.command(Command::SetPassword {
        request: 32,
        terminal: TERMINAL.0,
        password: NEW_PASSWORD.to_vec(),
    });
    rig.run(Duration::from_secs(10));
    assert_eq!(rig.done(), vec![(32, Outcome::Done, String::new())]);
    {
        let model = rig.node.model();
        let m = model.lock().unwrap();
        assert_eq!(m.auth_password(), NEW_PASSWORD);
        assert_eq!(
            m.association_secret(Association::Management),
            dlms_password(TERMINAL.0, NEW_PASSWORD).as_slice()
        );
    }

    // DLMS: the smart meter's next session opens with the new secret...
    rig.read();
    rig.run(Duration::from_secs(10));
    assert_eq!(rig.readings(), 1, "{:?}", rig.arrived);
    assert_eq!(rig.app.reader().refused, 0);
    // ...and the old one is refused by the terminal.
    let mut old = Reader::new(
        9,
        TerminalSecrets::from_link_passwords([(TERMINAL.0, PASSWORD)]),
    );
    let mut server = TerminalApp::serving(rig.node.model(), 1, 8).unwrap();
    let aarq = old
        .start(rig.now, TERMINAL.0, Purpose::Periodic, false)
        .unwrap();
    let (_, aare) = server.answer(rig.wall(), &aarq).unwrap();
    let _ = old.answer(rig.now, rig.wall(), TERMINAL.0, &aare.unwrap());
    assert_eq!(old.refused, 1, "the old secret opens nothing");

    // PANA: the session ends; the terminal comes back with the old password: refused.
    let now = rig.now;
    rig.meter.remove(now, TERMINAL);
    rig.run(Duration::from_secs(5));
    assert!(!rig.joined_now());
    rig.link_events.clear();
    let server = TerminalApp::serving(rig.node.model(), 1, 9).unwrap();
    rig.terminal = LinkedTerminal::new(terminal_link(PASSWORD, rig.now), server);
    rig.run(Duration::from_secs(10));
    assert!(!rig.joined_now());
    assert!(
        rig.link_events.iter().any(|e| matches!(
            e,
            SmartMeterEvent::Refused {
                terminal: TERMINAL,
                failure: AuthFailure::MacPMismatch
            }
        )),
        "{:?}",
        rig.link_events
    );
    // With the new one: accepted.
    let server = TerminalApp::serving(rig.node.model(), 1, 10).unwrap();
    rig.terminal = LinkedTerminal::new(terminal_link(NEW_PASSWORD, rig.now), server);
    rig.run(Duration::from_secs(20));
    assert!(rig.joined_now(), "{:?}", rig.link_events);
}

/// A command for a terminal that is not joined (rebooting, out of range a while) waits
/// for it: nothing is done until it joins, then each is carried out, in order. A
/// backfill for it ends at once (the collection asks again).
#[test]
fn trm09_trm11_a_command_for_a_terminal_not_joined_waits_until_it_joins() {
    let mut rig = Rig::new();
    assert!(!rig.joined_now());
    rig.command(Command::SetClock {
        request: 41,
        terminal: TERMINAL.0,
    });
    rig.command(Command::SetInterval {
        request: 42,
        terminal: TERMINAL.0,
        minutes: 15,
    });
    rig.command(Command::Backfill {
        request: 43,
        terminal: TERMINAL.0,
        from: start(),
        to: start(),
    });
    assert_eq!(
        rig.done(),
        vec![(43, Outcome::Failed, "the terminal is not joined".to_owned())]
    );
    assert_eq!(rig.node.model().lock().unwrap().capture_period(), 1800);
    rig.run(Duration::from_secs(30));
    assert!(rig.joined_now(), "{:?}", rig.link_events);
    assert_eq!(
        rig.done(),
        vec![
            (41, Outcome::Done, String::new()),
            (42, Outcome::Done, String::new())
        ]
    );
    assert_eq!(rig.node.model().lock().unwrap().capture_period(), 900);
}

/// One session per terminal at a time: commands given while a reading runs wait behind
/// it, in the order given, and are carried out when it ends.
#[test]
fn trm09_trm11_commands_wait_behind_the_session_under_way() {
    let mut rig = Rig::joined();
    rig.read();
    rig.command(Command::SetInterval {
        request: 51,
        terminal: TERMINAL.0,
        minutes: 15,
    });
    rig.command(Command::SetClock {
        request: 52,
        terminal: TERMINAL.0,
    });
    assert!(rig.done().is_empty(), "nothing done yet");
    rig.run(Duration::from_secs(20));
    let order: Vec<String> = rig
        .arrived
        .iter()
        .map(|a| match a {
            Arrived::Reading(_) => "reading".to_owned(),
            Arrived::Command(c) => format!("{:?} {:?}", c.change, c.outcome),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        order,
        ["reading", "Interval(Quarter) Done", "Clock Done"],
        "{:?}",
        rig.arrived
    );
    assert_eq!(
        rig.done(),
        vec![
            (51, Outcome::Done, String::new()),
            (52, Outcome::Done, String::new())
        ]
    );
    assert_eq!(rig.node.model().lock().unwrap().capture_period(), 900);
}

/// A terminal that leaves before the head end's commands are carried out: the one
/// under way and the one waiting wait for it to join again (the head end's records stay
/// pending), then are carried out.
#[test]
fn trm09_trm11_the_commands_of_a_terminal_that_left_wait_for_it() {
    let mut rig = Rig::joined();
    rig.command(Command::SetClock {
        request: 61,
        terminal: TERMINAL.0,
    });
    rig.command(Command::SetInterval {
        request: 62,
        terminal: TERMINAL.0,
        minutes: 15,
    });
    // The terminal leaves before it answered.
    let dropped = rig.app.forget(TERMINAL.0);
    assert!(dropped.is_empty(), "{dropped:?}");
    let wall = rig.wall();
    rig.relay.left(&dropped, wall);
    assert!(rig.done().is_empty());
    // It joins again: both are carried out.
    let link = rig.meter.terminals();
    assert!(link.contains(&TERMINAL));
    let next = rig.app.link_event(
        Some(&mut rig.relay),
        &mut rig.meter,
        SmartMeterEvent::Joined {
            terminal: TERMINAL,
            id_p: identity_from_eui64(TERMINAL.0).into_bytes(),
        },
        rig.now,
        wall,
    );
    let Routed::Joined {
        next: Some(aarq), ..
    } = next
    else {
        panic!("{next:?}");
    };
    rig.meter
        .send_udp(rig.now, TERMINAL, (DLMS_PORT, DLMS_PORT), aarq)
        .unwrap();
    rig.run(Duration::from_secs(20));
    assert_eq!(
        rig.done(),
        vec![
            (61, Outcome::Done, String::new()),
            (62, Outcome::Done, String::new())
        ]
    );
}

/// A command for a joined terminal whose DLMS secret the smart meter does not hold (it
/// cannot open a session) fails at once, with the reason, rather than never.
#[test]
fn trm09_a_command_without_the_terminals_dlms_secret_fails_with_the_reason() {
    let mut rig = Rig::joined();
    rig.app = SmartMeterApp::new(Reader::new(3, TerminalSecrets::default()), None);
    rig.command(Command::SetClock {
        request: 71,
        terminal: TERMINAL.0,
    });
    let done = rig.done();
    assert!(
        matches!(done.as_slice(), [(71, Outcome::Failed, why)] if why.contains("no DLMS secret")),
        "{done:?}"
    );
}

/// The handy terminal changes the terminal's authentication password to `password` on
/// its maintenance association (`iotroute handy password`); the terminal's link takes it.
fn changed_by_the_handy_terminal(rig: &mut Rig, password: &[u8]) {
    rig.node
        .model()
        .lock()
        .unwrap()
        .set(
            Association::Maintenance,
            1,
            AUTH_PASSWORD,
            2,
            None,
            &DataRef::OctetString(password),
        )
        .unwrap();
    rig.poll_node();
}

fn refused_with_mac_p_mismatch(events: &[SmartMeterEvent]) -> bool {
    events.iter().any(|e| {
        matches!(
            e,
            SmartMeterEvent::Refused {
                terminal: TERMINAL,
                failure: AuthFailure::MacPMismatch
            }
        )
    })
}

/// TRM-08, method 9 (ours): a terminal whose password the handy terminal changed, never
/// authenticated since the smart meter started, fails to authenticate with its new
/// password until the head end's TakePassword: taken at once, no session (done before
/// any frame to the terminal), after which the terminal joins with the new password, the
/// smart meter reads it with the DLMS secret derived from it, and the old password is
/// refused. A password of a length the terminal does not take, or for a terminal whose
/// DLMS secret the smart meter does not hold, fails at once and changes nothing.
#[test]
fn trm08_take_password_admits_a_terminal_never_seen_since_the_start_with_its_new_password_only() {
    let mut rig = Rig::new();
    changed_by_the_handy_terminal(&mut rig, NEW_PASSWORD);
    rig.run(Duration::from_secs(30));
    assert!(!rig.joined_now());
    assert!(
        refused_with_mac_p_mismatch(&rig.link_events),
        "the smart meter does not know the new password yet: {:?}",
        rig.link_events
    );

    rig.command(Command::TakePassword {
        request: 81,
        terminal: TERMINAL.0,
        password: b"short".to_vec(),
    });
    let (now, wall) = (rig.now, rig.wall());
    let carried = carry_out(
        Command::TakePassword {
            request: 82,
            terminal: METER.0,
            password: NEW_PASSWORD.to_vec(),
        },
        now,
        wall,
        &mut rig.meter,
        &mut rig.app,
        &mut rig.relay,
    );
    assert_eq!(carried.map(|(_, c)| c.outcome), Some(Outcome::Failed));
    let done = rig.done();
    assert!(
        matches!(done.as_slice(), [(81, Outcome::Failed, short), (82, Outcome::Failed, held)]
            if short.contains("8 to 32") && held.contains("no DLMS secret")),
        "{done:?}"
    );
    rig.link_events.clear();
    rig.run(Duration::from_secs(60));
    assert!(!rig.joined_now(), "nothing changed: {:?}", rig.link_events);

    rig.command(Command::TakePassword {
        request: 83,
        terminal: TERMINAL.0,
        password: NEW_PASSWORD.to_vec(),
    });
    assert_eq!(
        rig.done(),
        vec![(83, Outcome::Done, String::new())],
        "at once, without a session"
    );
    rig.run(Duration::from_secs(700));
    assert!(rig.joined_now(), "{:?}", rig.link_events);
    // DLMS: the smart meter reads it with the secret derived from the new password.
    rig.read();
    rig.run(Duration::from_secs(10));
    assert_eq!(rig.readings(), 1, "{:?}", rig.arrived);
    assert_eq!(rig.app.reader().refused, 0);

    // PANA: the terminal comes back with the old password: refused.
    let now = rig.now;
    rig.meter.remove(now, TERMINAL);
    rig.run(Duration::from_secs(5));
    rig.link_events.clear();
    let server = TerminalApp::serving(rig.node.model(), 1, 11).unwrap();
    rig.terminal = LinkedTerminal::new(terminal_link(PASSWORD, rig.now), server);
    rig.run(Duration::from_secs(10));
    assert!(!rig.joined_now());
    assert!(
        refused_with_mac_p_mismatch(&rig.link_events),
        "{:?}",
        rig.link_events
    );
}
