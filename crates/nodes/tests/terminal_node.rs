//! The terminal node whole on its meter side (TRM-02/03/05/06): the emulated meter read
//! over ECHONET Lite at every slot into the store, and a DLMS/COSEM client (ours, on the
//! wire through `TerminalServer`) reading what the smart meter reads — the registers and
//! the load profile by range — equal to the store's rows and the meter's values. A
//! missing slot is flagged data-not-valid in the profile; recovered later, its row holds
//! the meter's value. Restarted over the same store, the view is the same.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use dlms::client::{Authentication, Client, ClientSettings, Event as DlmsEvent, Security};
use dlms::cosem::{range_selector, ModelConfig};
use dlms::server::{Auth, Protection, ServeConfig, TerminalServer};
use dlms::{Data, Obis};
use echonet::Eoj;
use nodes::controller::ControllerConfig;
use nodes::flood::FloodConfig;
use nodes::meter::{Meter, MeterConfig};
use nodes::terminal::meters::SERVED;
use nodes::terminal::node::{TerminalNode, TerminalNodeConfig};
use nodes::terminal::reader::ReaderConfig;
use nodes::terminal::slots::Interval;
use nodes::terminal::store::{MemoryStore, MeterKey, Reading, SharedStore};

const PASSWORD: &[u8] = b"MGMTPASSWORD";

fn meter_ip() -> IpAddr {
    "127.0.0.2".parse().unwrap()
}

#[derive(Debug, Clone)]
struct Counting(std::sync::Arc<std::sync::atomic::AtomicU8>);
impl dlms::server::Entropy for Counting {
    fn fill(&self, out: &mut [u8]) -> bool {
        for b in out {
            *b = self.0.fetch_add(17, std::sync::atomic::Ordering::Relaxed);
        }
        true
    }
}
impl dlms::client::Entropy for Counting {
    fn fill(&self, out: &mut [u8]) -> bool {
        dlms::server::Entropy::fill(self, out)
    }
}

fn config() -> TerminalNodeConfig {
    TerminalNodeConfig {
        meter: meter_ip(),
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
        retention: TimeDelta::days(nodes::terminal::node::DEFAULT_RETENTION_DAYS),
        management_secret: nodes::terminal::node::ManagementSecret::Password,
    }
}

/// The node and its meter on one virtual clock.
struct Bench {
    t0: Instant,
    w0: DateTime<Utc>,
    wall: DateTime<Utc>,
    meter: Meter,
    node: TerminalNode,
    /// While true the meter does not answer.
    silent: bool,
    /// A flooder (SEC-08) and how far its flood has been sent.
    flood: Option<Flood>,
}

/// Datagrams at 10,000 a second from another address, within five seconds either side
/// of every slot boundary (when the meter is read): spoofed answers with guessed TIDs
/// and the meter's object, and every tenth one malformed.
struct Flood {
    from: SocketAddr,
    sent_until: DateTime<Utc>,
    sent: u64,
}

impl Flood {
    fn datagram(n: u64) -> Vec<u8> {
        if n % 10 == 0 {
            return vec![0x10, 0x81, 0xff];
        }
        let tid = u16::try_from(n % 65_536).unwrap().to_be_bytes();
        vec![
            0x10, 0x81, tid[0], tid[1], 0x02, 0x8E, 0x01, 0x05, 0xFF, 0x01, 0x72, 0x01, 0xE0, 0x04,
            0x00, 0x00, 0x00, 0x01,
        ]
    }
}

impl Bench {
    fn new(start: DateTime<Utc>, store: SharedStore, meter: Meter) -> Self {
        let mut node = TerminalNode::new(config(), store, start).unwrap();
        node.set_clock_valid(true);
        Self {
            t0: Instant::now(),
            w0: start,
            wall: start,
            meter,
            node,
            silent: false,
            flood: None,
        }
    }

    /// Send the flood's datagrams up to `to`.
    fn flood_to(&mut self, to: DateTime<Utc>) {
        let Some(f) = self.flood.as_mut() else {
            return;
        };
        let step = TimeDelta::microseconds(100);
        while f.sent_until < to {
            f.sent_until += step;
            let t = f.sent_until;
            let slot = t.timestamp().rem_euclid(1800);
            if slot > 5 && slot < 1795 {
                continue;
            }
            let now = self.t0 + (t - self.w0).to_std().unwrap();
            self.node
                .handle_echonet(now, t, f.from, &Flood::datagram(f.sent))
                .unwrap();
            f.sent += 1;
        }
    }

    fn run_until(&mut self, until: DateTime<Utc>) {
        loop {
            let (deadline, wall_due) = self.node.next_wakeup();
            let next = deadline
                .map(|t| self.w0 + TimeDelta::from_std(t - self.t0).unwrap())
                .map_or(wall_due, |d| d.min(wall_due));
            if next > until {
                self.flood_to(until);
                break;
            }
            self.flood_to(next);
            self.wall = self.wall.max(next);
            self.meter.advance(self.wall);
            let now = self.t0 + (self.wall - self.w0).to_std().unwrap();
            self.node.poll(now, self.wall).unwrap();
            while let Some(t) = self.node.poll_transmit() {
                if self.silent {
                    continue;
                }
                if let Some(reply) = self.meter.handle(self.wall, &t.bytes) {
                    self.node
                        .handle_echonet(now, self.wall, SocketAddr::new(meter_ip(), 3610), &reply)
                        .unwrap();
                }
            }
        }
        self.wall = until;
    }
}

/// Load profile rows as read: (time, AC input Wh, AC output Wh, status).
type ProfileRows = Vec<(DateTime<Utc>, u32, u32, u8)>;

impl Bench {
    /// Poll the node now (a driver does after serving a DLMS request) and pass its
    /// ECHONET datagrams to the meter.
    fn poke(&mut self) {
        let now = self.t0 + (self.wall - self.w0).to_std().unwrap();
        self.node.poll(now, self.wall).unwrap();
        while let Some(t) = self.node.poll_transmit() {
            if let Some(reply) = self.meter.handle(self.wall, &t.bytes) {
                self.node
                    .handle_echonet(now, self.wall, SocketAddr::new(meter_ip(), 3610), &reply)
                    .unwrap();
            }
        }
    }
}

/// What a smart meter reads over DLMS: the AC input register and the load profile rows
/// (time, in Wh, out Wh, status) from `from` to `to`.
fn read_over_dlms(
    node: &TerminalNode,
    wall: DateTime<Utc>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> (u32, ProfileRows) {
    let jst = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
    let range = range_selector(&from.with_timezone(&jst), &to.with_timezone(&jst));
    let events = dlms_session(
        node,
        wall,
        vec![
            Box::new(|c| c.get(3, Obis::new(1, 0, 1, 8, 0, 255), 2, None).unwrap()),
            Box::new(move |c| {
                c.get(7, Obis::new(1, 0, 99, 1, 0, 255), 2, Some((1, &range)))
                    .unwrap()
            }),
        ],
    );
    let [DlmsEvent::Value(register), DlmsEvent::Value(Data::Array(rows))] = &events[..] else {
        panic!("register and profile: {events:?}");
    };
    let register = u32::try_from(register.as_i128().unwrap()).unwrap();
    let rows = rows
        .iter()
        .map(|row| {
            let Data::Structure(cols) = row else {
                panic!("{row:?}")
            };
            let time = cols[0]
                .as_date_time()
                .and_then(|d| d.to_chrono_or(dlms::datetime::JST_DEVIATION))
                .unwrap()
                .with_timezone(&Utc);
            let n = |i: usize| u32::try_from(cols[i].as_i128().unwrap()).unwrap();
            (time, n(1), n(2), u8::try_from(n(3)).unwrap())
        })
        .collect();
    (register, rows)
}

fn start() -> DateTime<Utc> {
    // 10:10 JST.
    Utc.with_ymd_and_hms(2026, 12, 5, 1, 10, 0).unwrap()
}

fn wh(r: &Reading) -> (u32, u32) {
    let w =
        |v: echonet::energy::MeterReading| u32::try_from(v.energy().wh() % 100_000_000).unwrap();
    (w(r.ac_in.unwrap()), w(r.ac_out.unwrap()))
}

#[test]
fn trm02_trm04_trm06_what_the_smart_meter_reads_over_dlms_is_what_the_meter_said() {
    let meter = Meter::new(
        MeterConfig::default(),
        123_456_789,
        5,
        start() - TimeDelta::days(1),
    );
    let mut b = Bench::new(start(), SharedStore::new(MemoryStore::new()), meter);
    // The 11:00 JST slot goes unanswered; it is recovered at 11:30 from the history.
    let eleven = Utc.with_ymd_and_hms(2026, 12, 5, 2, 0, 0).unwrap();
    b.run_until(eleven - TimeDelta::seconds(1));
    b.silent = true;
    b.run_until(eleven + TimeDelta::minutes(29));
    let (_, rows) = read_over_dlms(&b.node, b.wall, eleven, eleven);
    let not_valid = dlms::cosem::model::status::DATA_NOT_VALID;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].3 & not_valid,
        not_valid,
        "missing: flagged in the profile"
    );
    b.silent = false;
    b.run_until(start() + TimeDelta::hours(4));

    let stored = b.node.store().range(SERVED, start(), b.wall).unwrap();
    assert_eq!(stored.len(), 8);
    assert!(stored.iter().all(|r| !r.is_missing()));
    assert_eq!(stored.iter().filter(|r| r.recovered).count(), 1);
    let (register, rows) = read_over_dlms(&b.node, b.wall, start(), b.wall);
    assert_eq!(
        register,
        wh(stored.last().unwrap()).0,
        "the register is the newest slot"
    );
    let expected: ProfileRows = stored
        .iter()
        .map(|r| {
            let (i, o) = wh(r);
            let recovered = if r.recovered {
                dlms::cosem::model::status::RECOVERED
            } else {
                0
            };
            (r.slot, i, o, r.status.0 | recovered)
        })
        .collect();
    assert_eq!(rows, expected);
    assert_eq!(
        rows.iter()
            .filter(|r| r.3 & dlms::cosem::model::status::RECOVERED != 0)
            .map(|r| r.0)
            .collect::<Vec<_>>(),
        [eleven],
        "TRM-04: the recovered row says so in the profile (bit 6), the others do not"
    );
    // And those are the meter's own counters at the boundaries (its 30-minute history,
    // slot k at 00:00 + k × 30 min JST).
    let history = b
        .meter
        .state()
        .history_of(b.wall, nodes::meter::Channel::Input);
    for r in &stored {
        let k = usize::try_from(
            (r.slot - Utc.with_ymd_and_hms(2026, 12, 4, 15, 0, 0).unwrap()).num_minutes() / 30,
        )
        .unwrap();
        assert_eq!(
            r.ac_in.unwrap().digits(),
            history[k].unwrap() % 100_000_000,
            "slot {}",
            r.slot
        );
    }
}

/// TRM-06: the load profile is a view of the store, its rows kept once: the model keeps
/// none of its own, and a row that reaches the store — here one written there directly —
/// is what the next DLMS read shows, with no word to the model.
#[test]
fn trm06_the_load_profile_reads_the_store_and_keeps_no_copy() {
    let meter = Meter::new(MeterConfig::default(), 5_000, 5, start());
    let store = SharedStore::new(MemoryStore::new());
    let mut b = Bench::new(start(), store.clone(), meter);
    b.run_until(start() + TimeDelta::hours(2));
    {
        let model = b.node.model();
        let model = model.lock().unwrap();
        assert!(model.load_profile().is_view());
        assert!(model.load_profile().kept_rows().is_empty());
    }
    let (_, before) = read_over_dlms(&b.node, b.wall, start(), b.wall + TimeDelta::hours(1));
    let last = store.lock().unwrap().last(SERVED).unwrap().unwrap();
    let next = Reading {
        slot: last.slot + TimeDelta::minutes(30),
        ..last.clone()
    };
    store.lock().unwrap().put(SERVED, &next).unwrap();
    let (_, after) = read_over_dlms(&b.node, b.wall, start(), b.wall + TimeDelta::hours(1));
    assert_eq!(after.len(), before.len() + 1);
    assert_eq!(after[..before.len()], before[..]);
    let (time, wh_in, _, _) = after[before.len()];
    assert_eq!(time, next.slot);
    assert_eq!(wh_in, before[before.len() - 1].1);
}

#[test]
fn trm06_a_restarted_node_shows_the_same_profile_from_its_store() {
    let meter = Meter::new(MeterConfig::default(), 5_000, 5, start());
    let store = SharedStore::new(MemoryStore::new());
    let mut b = Bench::new(start(), store.clone(), meter);
    b.run_until(start() + TimeDelta::hours(2));
    let before = read_over_dlms(&b.node, b.wall, start(), b.wall);
    let wall = b.wall;
    drop(b);
    let again = TerminalNode::new(config(), store, wall).unwrap();
    assert_eq!(read_over_dlms(&again, wall, start(), wall), before);
    assert_eq!(before.1.len(), 4);
}

/// SYS-04: the node's rows are its meter's ([`SERVED`]); rows of another meter in the
/// same store (a terminal serving N meters, run before a rollback) are neither shown in
/// the DLMS view nor touched.
#[test]
fn sys04_rows_of_another_meter_in_the_store_stay_apart_from_the_served_one() {
    let meter = Meter::new(MeterConfig::default(), 5_000, 5, start());
    let store = SharedStore::new(MemoryStore::new());
    let mut b = Bench::new(start(), store.clone(), meter);
    b.run_until(start() + TimeDelta::hours(2));
    let before = read_over_dlms(&b.node, b.wall, start(), b.wall);
    let wall = b.wall;
    drop(b);
    let other = MeterKey(1);
    let served = store.lock().unwrap().range(SERVED, start(), wall).unwrap();
    assert_eq!(served.len(), 4);
    for row in &served {
        let foreign = Reading {
            ac_in: row.ac_in.map(|v| {
                echonet::energy::MeterReading::from_digits(v.digits() + 777, v.unit()).unwrap()
            }),
            meter_id: Some(b"ANOTHER-METER".to_vec()),
            ..row.clone()
        };
        store.lock().unwrap().put(other, &foreign).unwrap();
    }
    let foreign = store.lock().unwrap().range(other, start(), wall).unwrap();
    let again = TerminalNode::new(config(), store.clone(), wall).unwrap();
    assert_eq!(read_over_dlms(&again, wall, start(), wall), before);
    assert_ne!(again.registered_meter(), Some(&b"ANOTHER-METER"[..]));
    assert_eq!(
        store.lock().unwrap().range(other, start(), wall).unwrap(),
        foreign
    );
}

/// One request of a [`dlms_session`], made by the client.
type Request = Box<dyn Fn(&mut Client<Counting>) -> Vec<u8>>;

/// A management-client session on the node's model: run `requests` (each a function of
/// the client giving the request) and return the events answering them.
fn dlms_session(
    node: &TerminalNode,
    wall: DateTime<Utc>,
    requests: Vec<Request>,
) -> Vec<DlmsEvent> {
    let entropy = Counting(std::sync::Arc::default());
    let mut server = TerminalServer::new(
        node.model(),
        ServeConfig {
            auth: Auth::Low,
            protection: Protection::None,
            keys: None,
            system_title: *b"IRT00001",
            max_pdu: 1024,
            invocation_counter: 0,
        },
        entropy.clone(),
    )
    .unwrap();
    let mut client = Client::new(
        ClientSettings {
            client_wport: 1,
            server_wport: 1,
            authentication: Authentication::Low {
                password: PASSWORD.to_vec(),
            },
            security: Security::None,
            max_pdu: 1024,
            ..ClientSettings::default()
        },
        entropy,
    )
    .unwrap();
    let mut run = |client: &mut Client<Counting>, request: Vec<u8>| -> DlmsEvent {
        let mut request = request;
        loop {
            let frame = dlms::wrapper::Wpdu::parse(&request).unwrap();
            let mut out = vec![0u8; 8192];
            let n = server
                .handle(frame.source, wall, frame.apdu, &mut out)
                .unwrap()
                .unwrap();
            let answer = dlms::wrapper::Wpdu::new(1, frame.source, &out[..n])
                .emit()
                .unwrap();
            match client.handle(&answer).unwrap() {
                DlmsEvent::Send(next) => request = next,
                other => return other,
            }
        }
    };
    let aarq = client.associate().unwrap();
    assert!(matches!(run(&mut client, aarq), DlmsEvent::Established));
    requests
        .into_iter()
        .map(|make| {
            let request = make(&mut client);
            run(&mut client, request)
        })
        .collect()
}

#[test]
fn trm09_a_clock_set_over_dlms_becomes_the_terminals_and_the_meters() {
    let meter = Meter::new(MeterConfig::default(), 5_000, 5, start());
    let mut b = Bench::new(start(), SharedStore::new(MemoryStore::new()), meter);
    // Not set yet: rows are flagged.
    b.node = TerminalNode::new(config(), SharedStore::new(MemoryStore::new()), start()).unwrap();
    b.run_until(start() + TimeDelta::minutes(40));
    let invalid = dlms::cosem::model::status::CLOCK_INVALID;
    let rows = b.node.store().range(SERVED, start(), b.wall).unwrap();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].status.has(invalid));
    // The smart meter shifts the terminal's clock by 10 minutes (shift_time, method 6).
    let events = dlms_session(
        &b.node,
        b.wall,
        vec![Box::new(|c| {
            c.action(8, Obis::new(0, 0, 1, 0, 0, 255), 6, Some(&Data::Long(600)))
                .unwrap()
        })],
    );
    assert!(
        matches!(events[0], DlmsEvent::ActionResult { .. }),
        "{events:?}"
    );
    // The driver polls the node after serving a request (the model may have changed).
    b.poke();
    let events: Vec<_> = std::iter::from_fn(|| b.node.poll_event()).collect();
    assert_eq!(
        events,
        vec![
            nodes::terminal::node::NodeEvent::ClockSet { offset_s: 600 },
            nodes::terminal::node::NodeEvent::MeterClock(Ok(()))
        ]
    );
    // The meter keeps the terminal's time now (JST), and the rows are no longer flagged.
    let meter_time = b.meter.state().local_time(b.wall);
    let terminal_time = (b.wall + TimeDelta::minutes(10) + TimeDelta::hours(9)).naive_utc();
    assert!(
        (meter_time - terminal_time).num_seconds().abs() <= 1,
        "{meter_time} vs {terminal_time}"
    );
    b.run_until(start() + TimeDelta::minutes(100));
    let rows = b
        .node
        .store()
        .range(SERVED, start(), b.wall + TimeDelta::hours(1))
        .unwrap();
    assert!(rows.len() >= 3);
    assert!(rows[1..].iter().all(|r| !r.status.has(invalid)), "{rows:?}");
    // The slots follow the terminal's clock: the 11:30 JST row was read when the
    // driver's clock said 11:20.
    let row = rows
        .iter()
        .find(|r| r.slot == Utc.with_ymd_and_hms(2026, 12, 5, 2, 30, 0).unwrap())
        .unwrap();
    assert_eq!(row.read_at, Some(row.slot));
}

/// A client sets the load profile's capture period to `seconds` (TRM-11), and the driver
/// polls the node after serving it.
fn set_capture_period(b: &mut Bench, seconds: u32) {
    let events = dlms_session(
        &b.node,
        b.wall,
        vec![Box::new(move |c| {
            c.set(
                7,
                Obis::new(1, 0, 99, 1, 0, 255),
                4,
                &Data::DoubleLongUnsigned(seconds),
            )
            .unwrap()
        })],
    );
    assert!(matches!(events[0], DlmsEvent::Done), "{events:?}");
    b.poke();
}

/// The rows the node keeps since the start: each slot (JST, `HH:MM`) and its interval.
fn slots_and_minutes(b: &Bench) -> Vec<(String, u8)> {
    b.node
        .store()
        .range(SERVED, start(), b.wall)
        .unwrap()
        .iter()
        .map(|r| {
            (
                (r.slot + TimeDelta::hours(9)).format("%H:%M").to_string(),
                r.interval.minutes(),
            )
        })
        .collect()
}

#[test]
fn trm11_the_15_minute_switch_takes_effect_at_the_next_boundary_no_slot_lost_or_doubled() {
    use nodes::terminal::node::NodeEvent;
    let meter = Meter::new(MeterConfig::default(), 5_000, 5, start());
    let store = SharedStore::new(MemoryStore::new());
    let mut b = Bench::new(start(), store.clone(), meter);
    b.run_until(start() + TimeDelta::minutes(30)); // 10:40 JST: the 10:30 row is in.
    set_capture_period(&mut b, 900);
    b.run_until(start() + TimeDelta::hours(2));
    let slots = slots_and_minutes(&b);
    let expect: Vec<(String, u8)> = [
        ("10:30", 30),
        ("11:00", 15),
        ("11:15", 15),
        ("11:30", 15),
        ("11:45", 15),
        ("12:00", 15),
    ]
    .iter()
    .map(|(t, m)| ((*t).to_owned(), *m))
    .collect();
    assert_eq!(slots, expect);
    // The node says when the switch was asked for and where it took effect: the boundary
    // the rows follow the new interval from (what a driver expects the slots by).
    let jst = |h: u32, m: u32| Utc.with_ymd_and_hms(2026, 12, 5, h - 9, m, 0).unwrap();
    let switches: Vec<_> = std::iter::from_fn(|| b.node.poll_event())
        .filter(|e| {
            matches!(
                e,
                NodeEvent::IntervalSwitch(_) | NodeEvent::IntervalSwitched { .. }
            )
        })
        .collect();
    assert_eq!(
        switches,
        [
            NodeEvent::IntervalSwitch(Interval::Quarter),
            NodeEvent::IntervalSwitched {
                from: jst(11, 0),
                interval: Interval::Quarter
            }
        ]
    );
    assert_eq!(b.node.interval(), Interval::Quarter);
    // And the smart meter is told where (event 16: its relay labels the rows by it).
    let boundary = dlms::cosem::to_cosem(jst(11, 0), dlms::datetime::JST_DEVIATION, 0);
    assert!(
        event_pushes(&mut b.node).contains(&(
            16,
            vec![
                dlms::Data::DoubleLongUnsigned(900),
                dlms::Data::clock_octet_string(&boundary)
            ]
        )),
        "no interval switch pushed"
    );
    // Restarted at 12:20 with 30 minutes (a driver that lost the switch, or a client
    // that set it back while it was down): the boundary it writes first follows 30
    // minutes, and the node says so at once.
    let node = TerminalNode::new(config(), store, jst(12, 40)).unwrap();
    let mut node = node;
    let events: Vec<_> = std::iter::from_fn(|| node.poll_event()).collect();
    assert!(
        events.contains(&NodeEvent::IntervalSwitched {
            from: jst(12, 30),
            interval: Interval::Half
        }),
        "{events:?}"
    );
    assert_eq!(node.interval(), Interval::Half);
}

#[test]
fn trm11_the_30_minute_switch_waits_for_a_full_or_half_hour() {
    use nodes::terminal::node::NodeEvent;
    let meter = Meter::new(MeterConfig::default(), 5_000, 5, start());
    let mut b = Bench::new(start(), SharedStore::new(MemoryStore::new()), meter);
    b.node = TerminalNode::new(
        TerminalNodeConfig {
            interval: Interval::Quarter,
            ..config()
        },
        SharedStore::new(MemoryStore::new()),
        start(),
    )
    .unwrap();
    b.node.set_clock_valid(true);
    // The capture period its clients read is the interval it reads on.
    assert_eq!(b.node.model().lock().unwrap().capture_period(), 900);
    b.run_until(start() + TimeDelta::minutes(30)); // 10:40 JST, on 15 minutes.
    set_capture_period(&mut b, 1800);
    b.run_until(start() + TimeDelta::hours(2));
    let slots = slots_and_minutes(&b);
    // 10:45 is no boundary of 30 minutes: read on 15, and 11:00 starts the first
    // 30-minute slot.
    let expect: Vec<(String, u8)> = [
        ("10:15", 15),
        ("10:30", 15),
        ("10:45", 15),
        ("11:00", 30),
        ("11:30", 30),
        ("12:00", 30),
    ]
    .iter()
    .map(|(t, m)| ((*t).to_owned(), *m))
    .collect();
    assert_eq!(slots, expect);
    let switched: Vec<_> = std::iter::from_fn(|| b.node.poll_event())
        .filter(|e| matches!(e, NodeEvent::IntervalSwitched { .. }))
        .collect();
    assert_eq!(
        switched,
        [NodeEvent::IntervalSwitched {
            from: Utc.with_ymd_and_hms(2026, 12, 5, 2, 0, 0).unwrap(),
            interval: Interval::Half
        }]
    );
}

#[test]
fn sec07_readings_from_another_meter_are_flagged_until_it_is_accepted() {
    let meter = Meter::new(MeterConfig::default(), 5_000, 5, start());
    let real_id = MeterConfig::default().device_id;
    let mut b = Bench::new(start(), SharedStore::new(MemoryStore::new()), meter);
    b.node = TerminalNode::new(
        TerminalNodeConfig {
            meter_id: Some(b"REGISTERED-METER".to_vec()),
            ..config()
        },
        SharedStore::new(MemoryStore::new()),
        start(),
    )
    .unwrap();
    b.node.set_clock_valid(true);
    b.run_until(start() + TimeDelta::minutes(70));
    let mismatch = nodes::terminal::store::Status::METER_ID_MISMATCH;
    let rows = b.node.store().range(SERVED, start(), b.wall).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.status.has(mismatch)), "{rows:?}");
    let events: Vec<_> = std::iter::from_fn(|| b.node.poll_event()).collect();
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0],
        nodes::terminal::node::NodeEvent::MeterIdMismatch {
            registered: b"REGISTERED-METER".to_vec(),
            read: real_id.clone()
        }
    );
    // One event to the smart meter with both IDs, not one per flagged row.
    assert_eq!(
        event_pushes(&mut b.node),
        [(
            7,
            vec![
                dlms::Data::OctetString(b"REGISTERED-METER".to_vec()),
                dlms::Data::OctetString(real_id.clone())
            ]
        )]
    );
    // The DLMS view says it too: the profile's status bit, and the meter ID object holds
    // the ID read (its change logged by the model).
    let (_, profile) = read_over_dlms(&b.node, b.wall, start(), b.wall);
    assert!(profile.iter().all(|r| r.3 & mismatch != 0));
    assert_eq!(b.node.model().lock().unwrap().meter_id(), &real_id[..]);
    // Accepted over DLMS (the handy terminal or the smart meter writes the connected
    // meter's ID back): the next rows are not flagged, and the driver is told to keep it.
    b.node
        .model()
        .lock()
        .unwrap()
        .set(
            dlms::cosem::Association::Maintenance,
            1,
            dlms::cosem::codes::METER_ID,
            2,
            None,
            &dlms::apdu::DataRef::OctetString(&real_id),
        )
        .unwrap();
    b.run_until(start() + TimeDelta::minutes(130));
    assert!(
        std::iter::from_fn(|| b.node.poll_event()).any(|e| e
            == nodes::terminal::node::NodeEvent::SettingsChanged(
                nodes::terminal::node::Setting::RegisteredMeter
            )),
        "the acceptance is reported"
    );
    assert_eq!(b.node.registered_meter(), Some(&real_id[..]));
    let rows = b.node.store().range(SERVED, start(), b.wall).unwrap();
    assert_eq!(rows.len(), 4);
    assert!(
        rows[2..].iter().all(|r| !r.status.has(mismatch)),
        "{rows:?}"
    );
}

/// SEC-06/SEC-08: a flood of 10,000 datagrams a second from another address around every
/// slot boundary: every datagram is dropped unparsed and counted, the flood raises one
/// event per hold-off (not one per datagram), and readings keep flowing: no slot missing,
/// every value the meter's.
#[test]
fn sec08_a_flood_from_another_address_is_detected_and_no_reading_is_lost() {
    let meter = Meter::new(MeterConfig::default(), 5_000, 5, start());
    let mut b = Bench::new(start(), SharedStore::new(MemoryStore::new()), meter);
    let flooder: SocketAddr = "127.0.0.66:3610".parse().unwrap();
    b.flood = Some(Flood {
        from: flooder,
        sent_until: start(),
        sent: 0,
    });
    b.run_until(start() + TimeDelta::minutes(125));
    let sent = b.flood.as_ref().unwrap().sent;
    assert!(sent >= 4 * 100_000, "{sent}");
    let rows = b.node.store().range(SERVED, start(), b.wall).unwrap();
    assert_eq!(rows.len(), 4, "{rows:?}");
    for r in &rows {
        assert!(!r.is_missing(), "{r:?}");
        assert_eq!(r.status.0, 0, "{r:?}");
    }
    // What the smart meter reads is what the meter said.
    let (_, profile) = read_over_dlms(&b.node, b.wall, start(), b.wall);
    assert_eq!(profile.len(), 4);
    for (row, p) in rows.iter().zip(&profile) {
        assert_eq!((p.1, p.2), wh(row));
    }
    let dropped = b.node.echonet_dropped();
    assert_eq!(dropped["foreign_source"], sent, "{dropped:?}");
    assert_eq!(
        dropped["malformed"] + dropped["mismatched"],
        0,
        "{dropped:?}"
    );
    // Four boundaries (10:30 to 12:00) 30 minutes apart, a hold-off of 60 s: one event
    // per boundary.
    let alarms: Vec<_> = std::iter::from_fn(|| b.node.poll_event())
        .filter_map(|e| match e {
            nodes::terminal::node::NodeEvent::Dos(a) => Some(a),
            _ => None,
        })
        .collect();
    assert_eq!(alarms.len(), 4, "{alarms:?}");
    assert!(alarms
        .iter()
        .all(|a| a.source == Some(flooder.ip().to_string())
            && a.side == nodes::flood::FloodSide::Echonet));
    assert_eq!(b.node.dos_events(), 4);
    // Each pushed to the smart meter as an event (code 13, ours) naming the source.
    let pushed = event_pushes(&mut b.node);
    assert_eq!(pushed.len(), 4, "{pushed:?}");
    for (code, details) in &pushed {
        assert_eq!(*code, 13);
        assert_eq!(details[0], dlms::Data::OctetString(b"127.0.0.66".to_vec()));
    }
}

/// The event pushes (SEC-07/08) queued by the node: (event code, details); slot pushes
/// are skipped.
fn event_pushes(node: &mut TerminalNode) -> Vec<(u16, Vec<dlms::Data>)> {
    let mut listener = dlms::push::PushListener::new(None);
    std::iter::from_fn(|| node.poll_push())
        .filter_map(|d| {
            let frame = dlms::wrapper::Wpdu::parse(&d).unwrap();
            let body = listener.handle(frame.apdu).unwrap().body;
            match body.elements().unwrap() {
                [dlms::Data::LongUnsigned(code), _clock, details] => {
                    Some((*code, details.elements().unwrap().to_vec()))
                }
                _ => None,
            }
        })
        .collect()
}

/// TRM-10: the LED follows the link the driver reports and the meter: connected only
/// when linked with the meter answering; a slot the meter left unanswered shows the
/// meter error until a slot is read again; every change is an event (logged); an alarm
/// and its end are pushed to the head end.
#[test]
fn trm10_the_led_shows_the_link_and_the_meter() {
    use nodes::terminal::led::{Led, LinkView};
    use nodes::terminal::node::NodeEvent;
    let meter = Meter::new(MeterConfig::default(), 5_000, 5, start());
    let mut b = Bench::new(start(), SharedStore::new(MemoryStore::new()), meter);
    let leds = |b: &mut Bench| -> Vec<Led> {
        std::iter::from_fn(|| b.node.poll_event())
            .filter_map(|e| match e {
                NodeEvent::Led(l) => Some(l),
                _ => None,
            })
            .collect()
    };
    // No IoT route: off, whatever the meter does.
    assert_eq!(b.node.led(), Led::Off);
    b.node.set_link(LinkView::Scanning);
    b.node.set_link(LinkView::Authenticating);
    b.node.set_link(LinkView::Connected);
    assert_eq!(
        leds(&mut b),
        [Led::Scanning, Led::Authenticating, Led::Connected]
    );
    b.run_until(start() + TimeDelta::minutes(25));
    assert_eq!(b.node.led(), Led::Connected);
    // The meter stops answering: the 10:30 slot is missing.
    b.silent = true;
    b.run_until(start() + TimeDelta::minutes(55));
    assert_eq!(b.node.led(), Led::MeterError);
    // It answers again: the 11:00 slot is read.
    b.silent = false;
    b.run_until(start() + TimeDelta::minutes(85));
    assert_eq!(b.node.led(), Led::Connected);
    assert_eq!(leds(&mut b), [Led::MeterError, Led::Connected]);
    // The head end is told of the alarm and of its end (event 15, pushed), not of the
    // link's phases before them.
    let told = |name: &str| {
        (
            15,
            vec![dlms::Data::VisibleString(name.as_bytes().to_vec())],
        )
    };
    assert_eq!(
        event_pushes(&mut b.node),
        [told("meter_error"), told("connected")]
    );
    // The link lost: scanning again; the meter's state does not hide it.
    b.node.set_link(LinkView::Scanning);
    assert_eq!(leds(&mut b), [Led::Scanning]);
    b.node.set_link(LinkView::Connected);
    b.run_until(start() + TimeDelta::minutes(90));
    assert_eq!(
        event_pushes(&mut b.node),
        [],
        "a rejoin is its smart meter's to tell"
    );
}

/// TRM-08: settings changed over DLMS are reported for the driver to keep, the new
/// authentication password becomes the maintenance association's (the handy terminal's
/// next association), and the terminal ID's SET is refused with read-write-denied.
#[test]
fn trm08_settings_changed_over_dlms_are_reported_and_the_password_is_the_handy_terminals() {
    use dlms::cosem::Association;
    use nodes::terminal::node::{NodeEvent, Setting};
    let meter = Meter::new(MeterConfig::default(), 5_000, 5, start());
    let mut b = Bench::new(start(), SharedStore::new(MemoryStore::new()), meter);
    let before = nodes::terminal::settings::Settings::of(&b.node.model().lock().unwrap());
    let events = dlms_session(
        &b.node,
        b.wall,
        vec![
            Box::new(|c| {
                c.set(
                    1,
                    Obis::new(0, 0, 128, 0, 2, 255),
                    2,
                    &Data::OctetString(b"NEWPASSWORD1".to_vec()),
                )
                .unwrap()
            }),
            Box::new(|c| {
                c.set(
                    1,
                    Obis::new(0, 0, 128, 0, 1, 255),
                    2,
                    &Data::VisibleString(b"IOT00777".to_vec()),
                )
                .unwrap()
            }),
            // The terminal ID (0-0:96.1.0.255) can never be changed.
            Box::new(|c| {
                c.set(
                    1,
                    Obis::new(0, 0, 96, 1, 0, 255),
                    2,
                    &Data::OctetString(b"ANOTHER-ID".to_vec()),
                )
                .unwrap()
            }),
        ],
    );
    assert_eq!(events.len(), 3, "{events:?}");
    let shown: Vec<String> = events.iter().map(|e| format!("{e:?}")).collect();
    assert_eq!(shown[..2], ["Done", "Done"], "{shown:?}");
    assert!(shown[2].contains("ReadWriteDenied"), "{shown:?}");
    b.poke();
    let changed: Vec<_> = std::iter::from_fn(|| b.node.poll_event())
        .filter_map(|e| match e {
            NodeEvent::SettingsChanged(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(changed, [Setting::AuthPassword, Setting::PairingId]);
    let model = b.node.model();
    let m = model.lock().unwrap();
    assert_eq!(
        m.association_secret(Association::Maintenance),
        b"NEWPASSWORD1"
    );
    let after = nodes::terminal::settings::Settings::of(&m);
    assert_eq!(after.pairing_id, "IOT00777");
    assert_ne!(after, before);
}

/// Retention: once a slot is stored, rows older than the retention before it are
/// dropped, so the store stays bounded; the newer ones are untouched.
#[test]
fn trm03_rows_past_retention_are_dropped_after_each_slot() {
    let meter = Meter::new(MeterConfig::default(), 5_000, 5, start());
    let mut b = Bench::new(start(), SharedStore::new(MemoryStore::new()), meter);
    b.node = TerminalNode::new(
        TerminalNodeConfig {
            retention: TimeDelta::days(1),
            ..config()
        },
        SharedStore::new(MemoryStore::new()),
        start(),
    )
    .unwrap();
    b.node.set_clock_valid(true);
    b.run_until(start() + TimeDelta::days(2));
    let rows = b.node.store().range(SERVED, start(), b.wall).unwrap();
    let newest = rows.last().unwrap().slot;
    assert_eq!(rows.first().unwrap().slot, newest - TimeDelta::days(1));
    assert_eq!(rows.len(), 49, "one day of half hours, both ends");
    assert!(rows.iter().all(|r| !r.is_missing()));
}

/// TRM-05: at each slot the node pushes a Data-Notification of the push setup's objects
/// (push setup, clock, AC input, AC output, status) — one per new slot, none for the
/// rows restored at start — whose registers are the slot's stored values.
#[test]
fn trm05_a_data_notification_goes_out_at_each_slot_with_the_slots_values() {
    let meter = Meter::new(
        MeterConfig::default(),
        123_456_789,
        5,
        start() - TimeDelta::days(1),
    );
    let mut b = Bench::new(start(), SharedStore::new(MemoryStore::new()), meter);
    assert!(b.node.poll_push().is_none(), "nothing pushed at start");
    b.run_until(start() + TimeDelta::hours(2));
    let stored = b.node.store().range(SERVED, start(), b.wall).unwrap();
    assert_eq!(stored.len(), 4, "10:30, 11:00, 11:30, 12:00");
    let mut listener = dlms::push::PushListener::new(None);
    let mut pushed = Vec::new();
    while let Some(datagram) = b.node.poll_push() {
        let frame = dlms::wrapper::Wpdu::parse(&datagram).unwrap();
        assert_eq!((frame.source, frame.destination), (1, 1));
        let n = listener.handle(frame.apdu).unwrap();
        let body = n.body.elements().unwrap().to_vec();
        assert_eq!(body.len(), 5, "{body:?}");
        pushed.push((
            n.long_invoke_id,
            body[2].as_i128().unwrap(),
            body[3].as_i128().unwrap(),
        ));
    }
    // Every slot once, the first one of an empty store too, numbered from 1.
    let expected: Vec<_> = stored
        .iter()
        .zip(1u32..)
        .map(|(r, id)| {
            let (i, o) = wh(r);
            (id, i128::from(i), i128::from(o))
        })
        .collect();
    assert_eq!(pushed, expected);
}

/// One whole reading of the terminal by a smart meter holding `secrets`: whether it
/// completed.
fn smart_meter_reads(
    app: &mut nodes::app::server::TerminalApp,
    secrets: nodes::app::secrets::TerminalSecrets,
    terminal: [u8; 8],
    wall: DateTime<Utc>,
) -> bool {
    let mut reader = nodes::app::reader::Reader::new(1, secrets);
    let mut request = reader.start(
        std::time::Duration::ZERO,
        terminal,
        nodes::app::reader::Purpose::Periodic,
        false,
    );
    for _ in 0..64 {
        let Some(answer) = request.and_then(|r| app.answer(wall, &r)).and_then(|a| a.1) else {
            return false;
        };
        let (next, reading) = reader.answer(std::time::Duration::ZERO, wall, terminal, &answer);
        if reading.is_some() {
            return true;
        }
        request = next;
    }
    false
}

/// TRM-08 with SEC-02: on the IoT route the management association's secret is derived
/// from the terminal's EUI-64 and its authentication password, so a password changed
/// by a client gives the smart meter's association a new secret from the next
/// association: a smart meter holding the new password reads the terminal, one holding
/// the old is refused.
#[test]
fn trm08_sec02_a_new_password_gives_the_management_association_its_new_derived_secret() {
    use dlms::cosem::Association;
    use nodes::app::secrets::{dlms_password, TerminalSecrets};
    const EUI: [u8; 8] = [0x02, 0x1A, 0, 0, 0, 0, 0x10, 7];
    let secrets = |pw: &[u8]| TerminalSecrets::from_link_passwords([(EUI, pw)]);
    let meter = Meter::new(MeterConfig::default(), 5_000, 5, start());
    let mut b = Bench::new(start(), SharedStore::new(MemoryStore::new()), meter);
    b.node = TerminalNode::new(
        TerminalNodeConfig {
            management_secret: nodes::terminal::node::ManagementSecret::Derived { eui64: EUI },
            ..config()
        },
        SharedStore::new(MemoryStore::new()),
        start(),
    )
    .unwrap();
    b.node.set_clock_valid(true);
    b.run_until(start() + TimeDelta::minutes(25));
    assert_eq!(
        b.node
            .model()
            .lock()
            .unwrap()
            .association_secret(Association::Management),
        dlms_password(EUI, PASSWORD).as_slice()
    );
    let mut app = nodes::app::server::TerminalApp::serving(b.node.model(), 7, 1).unwrap();
    assert!(smart_meter_reads(&mut app, secrets(PASSWORD), EUI, b.wall));

    // The handy terminal changes the password (maintenance association).
    b.node
        .model()
        .lock()
        .unwrap()
        .set(
            Association::Maintenance,
            1,
            Obis::new(0, 0, 128, 0, 2, 255),
            2,
            None,
            &dlms::apdu::DataRef::OctetString(b"NEWPASSWORD1"),
        )
        .unwrap();
    b.poke();
    assert_eq!(
        b.node
            .model()
            .lock()
            .unwrap()
            .association_secret(Association::Management),
        dlms_password(EUI, b"NEWPASSWORD1").as_slice()
    );
    assert!(smart_meter_reads(
        &mut app,
        secrets(b"NEWPASSWORD1"),
        EUI,
        b.wall
    ));
    assert!(!smart_meter_reads(&mut app, secrets(PASSWORD), EUI, b.wall));
}

/// TRM-03/TRM-10: a poll has work only when a timer of the node's is due or an LED
/// change waits to be told (`has_work`); a driver polls only then, or when its DLMS
/// server may have changed the model, and loses nothing: each assertion fails when
/// `has_work` forgets the reader's boundary, or the LED change to tell.
#[test]
fn trm03_trm10_a_poll_has_work_at_a_boundary_or_with_an_led_change_to_tell() {
    use nodes::terminal::led::{Led, LinkView};
    let meter = Meter::new(MeterConfig::default(), 5_000, 5, start());
    let mut b = Bench::new(start(), SharedStore::new(MemoryStore::new()), meter);
    let at = |b: &Bench, wall: DateTime<Utc>| b.t0 + (wall - b.w0).to_std().unwrap();
    // The meter silent at 10:30 and 11:00 (the alarm told), the route lost meanwhile;
    // the meter back at 11:30: the LED shows the route searching, not told.
    b.silent = true;
    b.run_until(start() + TimeDelta::minutes(55));
    b.node.set_link(LinkView::Scanning);
    b.silent = false;
    b.run_until(start() + TimeDelta::minutes(85));
    assert_eq!(b.node.led(), Led::Scanning);
    assert!(
        !b.node.has_work(at(&b, b.wall), b.wall),
        "between boundaries"
    );
    let (_, boundary) = b.node.next_wakeup();
    assert!(boundary > b.wall);
    assert!(
        b.node.has_work(at(&b, boundary), boundary),
        "the reader's boundary"
    );
    // The route found again: the end of the alarm is told at once, no timer due.
    b.node.set_link(LinkView::Connected);
    assert!(
        b.node.has_work(at(&b, b.wall), b.wall),
        "an LED change to tell"
    );
    b.poke();
    assert!(!b.node.has_work(at(&b, b.wall), b.wall), "told");
}
