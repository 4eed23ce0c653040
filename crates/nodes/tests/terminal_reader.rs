//! The terminal reading its meter at every slot (TRM-03/04/07): the emulated 0x028E meter
//! (`nodes::meter`), the ECHONET controller and the slot reader in virtual time, every
//! datagram passed by hand. A meter that does not answer leaves a missing row — never a
//! zero or a copy —, a second attempt that gets through is a normal reading, slots missed
//! while the terminal was down are missing rows, rows taken before the clock is set are
//! flagged (TRM-09).

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use echonet::Eoj;
use nodes::controller::{Controller, ControllerConfig};
use nodes::meter::{Channel, Meter, MeterConfig};
use nodes::terminal::reader::{ReaderConfig, SlotReader};
use nodes::terminal::slots::Interval;
use nodes::terminal::store::{MemoryStore, MeterKey, Reading, ReadingStore, Status};

const METER_EOJ: Eoj = Eoj::new(0x02, 0x8E, 0x01);

fn meter_ip() -> IpAddr {
    "127.0.0.2".parse().unwrap()
}

/// Meter, controller and reader on one virtual clock.
struct Bench {
    t0: Instant,
    w0: DateTime<Utc>,
    wall: DateTime<Utc>,
    meter: Meter,
    controller: Controller,
    reader: SlotReader,
    store: MemoryStore,
    /// Wall-clock spans (from, to) during which the meter does not answer.
    silent: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    /// The meter's AC input counter at each boundary the reader read, as it answered.
    truth: Vec<(DateTime<Utc>, u32)>,
}

impl Bench {
    fn new(start: DateTime<Utc>, store: MemoryStore) -> Self {
        Self::with_meter_since(start, start, store)
    }

    /// The meter running (and keeping its history) since `since`.
    fn with_meter_since(start: DateTime<Utc>, since: DateTime<Utc>, store: MemoryStore) -> Self {
        let mut store = store;
        let reader = SlotReader::resume(
            ReaderConfig::default(),
            MeterKey::FIRST,
            meter_ip(),
            METER_EOJ,
            Interval::Half,
            start,
            &mut store,
        )
        .unwrap();
        Self {
            t0: Instant::now(),
            w0: start,
            wall: start,
            meter: {
                let mut m = Meter::new(MeterConfig::default(), 123_456_789, 5, since);
                m.advance(start);
                m
            },
            controller: Controller::new(ControllerConfig::default()),
            reader,
            store,
            silent: Vec::new(),
            truth: Vec::new(),
        }
    }

    fn instant(&self, wall: DateTime<Utc>) -> Instant {
        self.t0 + (wall - self.w0).to_std().unwrap_or_default()
    }

    fn wall_of(&self, t: Instant) -> DateTime<Utc> {
        self.w0 + TimeDelta::from_std(t - self.t0).unwrap_or_default()
    }

    fn meter_silent(&self) -> bool {
        self.silent
            .iter()
            .any(|(a, b)| self.wall >= *a && self.wall < *b)
    }

    fn run_until(&mut self, until: DateTime<Utc>) {
        loop {
            let next = [
                Some(self.reader.next_wakeup()),
                self.controller.poll_timeout().map(|t| self.wall_of(t)),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap();
            if next > until {
                break;
            }
            self.wall = self.wall.max(next);
            self.meter.advance(self.wall);
            let now = self.instant(self.wall);
            self.controller.handle_timeout(now);
            self.reader
                .poll(now, self.wall, &mut self.controller, &mut self.store)
                .unwrap();
            while let Some(t) = self.controller.poll_transmit() {
                if self.meter_silent() {
                    continue;
                }
                if let Some(reply) = self.meter.handle(self.wall, &t.bytes) {
                    let counter = self.meter.state().counter(Channel::Input);
                    self.controller
                        .handle_datagram(now, SocketAddr::new(meter_ip(), 3610), &reply);
                    self.truth.push((self.wall, counter));
                }
            }
            while let Some(e) = self.controller.poll_event() {
                self.reader
                    .handle(now, self.wall, &e, &mut self.controller, &mut self.store)
                    .unwrap();
            }
            // A recovery step may have queued the next request.
            while let Some(t) = self.controller.poll_transmit() {
                if self.meter_silent() {
                    continue;
                }
                if let Some(reply) = self.meter.handle(self.wall, &t.bytes) {
                    self.controller
                        .handle_datagram(now, SocketAddr::new(meter_ip(), 3610), &reply);
                }
            }
            while let Some(e) = self.controller.poll_event() {
                self.reader
                    .handle(now, self.wall, &e, &mut self.controller, &mut self.store)
                    .unwrap();
            }
        }
        self.wall = until;
    }

    fn rows(&self) -> Vec<Reading> {
        self.store
            .range(MeterKey::FIRST, self.w0 - TimeDelta::days(10), self.wall)
            .unwrap()
    }
}

fn start() -> DateTime<Utc> {
    // 10:10 JST.
    Utc.with_ymd_and_hms(2026, 12, 5, 1, 10, 0).unwrap()
}

#[test]
fn trm03_trm07_the_meter_is_read_at_every_boundary_and_its_lower_8_digits_stored() {
    let mut b = Bench::new(start(), MemoryStore::new());
    b.reader.set_clock_valid(true);
    b.run_until(start() + TimeDelta::days(1));
    let rows = b.rows();
    assert_eq!(rows.len(), 48);
    let first = Interval::Half.next_after(start());
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.slot, first + TimeDelta::minutes(30 * i as i64));
        assert_eq!(r.read_at, Some(r.slot), "read at its boundary");
        assert_eq!(r.status, Status::default());
        assert!(!r.recovered);
        assert_eq!(
            r.meter_id.as_deref(),
            Some(&MeterConfig::default().device_id[..])
        );
        let counter = b
            .truth
            .iter()
            .find(|(t, _)| *t == r.slot)
            .map(|(_, c)| *c)
            .expect("the meter answered at the boundary");
        assert_eq!(
            r.ac_in.unwrap().digits(),
            counter % 100_000_000,
            "lower 8 digits"
        );
    }
    // The counters only grow (a household with PV exports and imports).
    let values: Vec<u32> = rows.iter().map(|r| r.ac_in.unwrap().digits()).collect();
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");
    assert_eq!(b.reader.stats().read, 48);
}

#[test]
fn trm03_a_silent_meter_leaves_a_missing_row_never_a_zero_or_a_copy() {
    let mut b = Bench::new(start(), MemoryStore::new());
    b.reader.set_clock_valid(true);
    // Silent for the whole of the 11:00 JST slot.
    let eleven = Utc.with_ymd_and_hms(2026, 12, 5, 2, 0, 0).unwrap();
    b.silent.push((eleven, eleven + TimeDelta::minutes(30)));
    b.run_until(eleven + TimeDelta::minutes(30) - TimeDelta::seconds(1));
    let rows = b.rows();
    let missing: Vec<&Reading> = rows.iter().filter(|r| r.is_missing()).collect();
    assert_eq!(missing.len(), 1, "{rows:?}");
    let m = missing[0];
    assert_eq!(m.slot, eleven);
    assert!(m.status.has(Status::DATA_NOT_VALID));
    assert_eq!((m.ac_in, m.ac_out, m.read_at), (None, None, None));
    assert!(!m.recovered);
    assert_eq!(b.reader.stats().retries, 2, "three attempts in the slot");
}

#[test]
fn trm03_a_meter_that_answers_the_second_attempt_gives_a_reading() {
    let mut b = Bench::new(start(), MemoryStore::new());
    let eleven = Utc.with_ymd_and_hms(2026, 12, 5, 2, 0, 0).unwrap();
    // Silent long enough for the controller's own retransmissions to run out.
    b.silent.push((eleven, eleven + TimeDelta::seconds(30)));
    b.run_until(start() + TimeDelta::hours(2));
    let row = b.rows().into_iter().find(|r| r.slot == eleven).unwrap();
    assert!(!row.is_missing());
    assert_eq!(row.read_at, Some(eleven + TimeDelta::seconds(6 + 60)));
    assert_eq!(b.reader.stats().retries, 1);
}

/// A store whose newest row is a reading at `last` (the terminal stopped after it).
fn store_ending_at(last: DateTime<Utc>) -> MemoryStore {
    let mut store = MemoryStore::new();
    let unit = echonet::energy::EnergyUnit::from_code(0x02).unwrap();
    store
        .put(
            MeterKey::FIRST,
            &Reading {
                slot: last,
                interval: Interval::Half,
                ac_in: echonet::energy::MeterReading::from_digits(1, unit).ok(),
                ac_out: echonet::energy::MeterReading::from_digits(1, unit).ok(),
                meter_id: None,
                status: Status::default(),
                recovered: false,
                read_at: Some(last),
            },
        )
        .unwrap();
    store
}

#[test]
fn trm03_slots_missed_while_the_terminal_was_down_are_missing_rows() {
    let last = Utc.with_ymd_and_hms(2026, 12, 4, 23, 30, 0).unwrap();
    let store = store_ending_at(last);
    // Up again at 10:10 JST (01:10 UTC): 00:00 and 00:30 and 01:00 UTC were missed.
    let mut b = Bench::new(start(), store);
    assert_eq!(b.reader.stats().missing, 3);
    b.run_until(start() + TimeDelta::hours(1));
    let rows = b.rows();
    let missing: Vec<DateTime<Utc>> = rows
        .iter()
        .filter(|r| r.is_missing())
        .map(|r| r.slot)
        .collect();
    assert_eq!(
        missing,
        (1..=3)
            .map(|i| last + TimeDelta::minutes(30 * i))
            .collect::<Vec<_>>()
    );
    assert_eq!(rows.iter().filter(|r| !r.is_missing()).count(), 1 + 2);
}

#[test]
fn trm09_rows_taken_before_the_clock_is_set_are_flagged() {
    let mut b = Bench::new(start(), MemoryStore::new());
    b.run_until(start() + TimeDelta::minutes(40));
    b.reader.set_clock_valid(true);
    b.run_until(start() + TimeDelta::minutes(70));
    let rows = b.rows();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].status.has(Status::CLOCK_INVALID));
    assert!(!rows[1].status.has(Status::CLOCK_INVALID));
}

#[test]
fn trm03_a_slot_the_meter_did_not_answer_for_is_recovered_from_its_history() {
    let mut b = Bench::new(start(), MemoryStore::new());
    b.reader.set_clock_valid(true);
    let eleven = Utc.with_ymd_and_hms(2026, 12, 5, 2, 0, 0).unwrap();
    b.silent.push((eleven, eleven + TimeDelta::minutes(30)));
    b.run_until(start() + TimeDelta::hours(3));
    let rows = b.rows();
    let i = rows.iter().position(|r| r.slot == eleven).unwrap();
    let row = &rows[i];
    // Filled at the next reading (11:30) from the meter's 30-minute history: the value
    // it recorded at 11:00, between its neighbours, marked recovered.
    assert!(row.recovered, "{row:?}");
    assert!(!row.status.has(Status::DATA_NOT_VALID));
    assert_eq!(row.read_at, Some(eleven + TimeDelta::minutes(30)));
    let recorded = b.meter.state().history_of(b.wall, Channel::Input)[22].unwrap();
    assert_eq!(row.ac_in.unwrap().digits(), recorded % 100_000_000);
    let (before, after) = (rows[i - 1].ac_in.unwrap(), rows[i + 1].ac_in.unwrap());
    assert!(before.digits() < row.ac_in.unwrap().digits());
    assert!(row.ac_in.unwrap().digits() < after.digits());
    assert_eq!(b.reader.stats().recovered, 1);
    assert_eq!(rows.iter().filter(|r| r.is_missing()).count(), 0);
}

#[test]
fn trm03_slots_missed_while_down_are_recovered_when_the_meter_kept_them() {
    let last = Utc.with_ymd_and_hms(2026, 12, 4, 13, 30, 0).unwrap(); // 22:30 JST
    let store = store_ending_at(last);
    // The meter ran (and kept its history) all along; the terminal is back at 10:10 JST.
    let mut b = Bench::with_meter_since(start(), start() - TimeDelta::days(2), store);
    assert_eq!(
        b.reader.stats().missing,
        23,
        "23:00 JST yesterday to 10:00 today"
    );
    b.run_until(start() + TimeDelta::minutes(30));
    let rows = b.rows();
    let gap: Vec<&Reading> = rows
        .iter()
        .filter(|r| r.slot > last && r.slot < start())
        .collect();
    assert_eq!(gap.len(), 23);
    assert!(
        gap.iter().all(|r| r.recovered && !r.is_missing()),
        "{gap:?}"
    );
    // Two days of history asked for: yesterday's (23:00, 23:30) and today's.
    assert_eq!(b.reader.stats().recovered, 23);
    let values: Vec<u32> = rows
        .iter()
        .skip(1)
        .map(|r| r.ac_in.unwrap().digits())
        .collect();
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");
}
