//! The terminal's ECHONET Lite controller, driven by hand: every frame is built with
//! `echonet::Repr`, every instant derives from one base, so each run is the same.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use echonet::energy::EnergyUnit;
use echonet::{Eoj, Esv, Message, Property, PropertyMap, Repr};
use nodes::controller::{
    ClockError, ClockMethod, ClockStep, Controller, ControllerConfig, Destination, Event,
    ReadMeterError, RequestError, RequestId, Transmit,
};
use nodes::meter::{Meter, MeterConfig};
use proptest::prelude::*;

const METER: Eoj = Eoj::new(0x02, 0x8E, 0x01);

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn addr(s: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip(s), port)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn controller() -> Controller {
    Controller::new(ControllerConfig::default())
}

fn transmits(c: &mut Controller) -> Vec<Transmit> {
    std::iter::from_fn(|| c.poll_transmit()).collect()
}

fn events(c: &mut Controller) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn request(t: &Transmit) -> Message {
    match Repr::parse_bytes(&t.bytes) {
        Ok(Repr::Specified(m)) => m,
        other => panic!("controller sent {other:?}"),
    }
}

/// The one request the controller has just queued.
fn sent_one(c: &mut Controller) -> (Transmit, Message) {
    let mut t = transmits(c);
    assert_eq!(t.len(), 1, "exactly one datagram expected: {t:?}");
    let t = t.remove(0);
    let m = request(&t);
    (t, m)
}

/// An answer to `req` from object `seoj`.
fn answer(req: &Message, seoj: Eoj, esv: Esv, props: Vec<Property>) -> Vec<u8> {
    Repr::from(Message::new(req.tid, seoj, req.seoj, esv, props))
        .to_vec()
        .expect("answer encodes")
}

fn meter_values(e0: u32, e2: u32) -> Vec<Property> {
    vec![
        Property::new(0xD1, b"METER-0001".to_vec()),
        Property::new(0xD4, [0x03]),
        Property::new(0xE0, e0.to_be_bytes()),
        Property::new(0xE2, e2.to_be_bytes()),
    ]
}

#[test]
fn sec06_answers_are_matched_by_tid() {
    let t0 = Instant::now();
    let mut c = controller();
    let id = c.get(t0, ip("127.0.0.2"), METER, &[0xE0]).unwrap();
    let (t, req) = sent_one(&mut c);
    assert_eq!(t.destination, Destination::Unicast(ip("127.0.0.2")));
    assert_eq!(req.esv, Esv::Get);
    assert_eq!(req.seoj, Eoj::CONTROLLER);
    assert_eq!(req.deoj, METER);

    let mut wrong = req.clone();
    wrong.tid = req.tid.wrapping_add(7);
    let props = vec![Property::new(0xE0, 5u32.to_be_bytes())];
    let from = addr("127.0.0.2", 3610);
    c.handle_datagram(t0, from, &answer(&wrong, METER, Esv::GetRes, props.clone()));
    assert!(events(&mut c).is_empty());
    assert_eq!(c.stats().unsolicited, 1);

    c.handle_datagram(t0, from, &answer(&req, METER, Esv::GetRes, props.clone()));
    assert_eq!(
        events(&mut c),
        [Event::Response {
            id,
            from: ip("127.0.0.2"),
            seoj: METER,
            esv: Esv::GetRes,
            props: props.clone(),
        }]
    );
    assert_eq!(c.pending(), 0);
    assert_eq!(c.poll_timeout(), None);

    // The same answer again: the request has ended.
    c.handle_datagram(t0, from, &answer(&req, METER, Esv::GetRes, props));
    assert!(events(&mut c).is_empty());
    assert_eq!(c.stats().late, 1);
    assert_eq!(c.stats().answers, 1);
}

#[test]
fn sec06_answers_from_another_address_are_dropped() {
    let t0 = Instant::now();
    let mut c = controller();
    let id = c.get(t0, ip("127.0.0.2"), METER, &[0xE0]).unwrap();
    let (_, req) = sent_one(&mut c);
    let bytes = answer(
        &req,
        METER,
        Esv::GetRes,
        vec![Property::new(0xE0, [0, 0, 0, 1])],
    );

    c.handle_datagram(t0, addr("127.0.0.3", 3610), &bytes);
    assert!(events(&mut c).is_empty());
    assert_eq!(c.stats().mismatched, 1);
    assert_eq!(
        c.pending(),
        1,
        "the request still waits for the real answer"
    );

    c.handle_datagram(t0, addr("127.0.0.2", 3610), &bytes);
    assert!(matches!(&events(&mut c)[..], [Event::Response { id: got, .. }] if *got == id));
}

#[test]
fn sec06_source_port_is_not_matched() {
    // npm echonet-lite answers from port 23610 to our 3610.
    let t0 = Instant::now();
    let mut c = controller();
    let id = c.get(t0, ip("127.0.0.2"), METER, &[0x80]).unwrap();
    let (_, req) = sent_one(&mut c);
    let bytes = answer(&req, METER, Esv::GetRes, vec![Property::new(0x80, [0x30])]);
    c.handle_datagram(t0, addr("127.0.0.2", 23610), &bytes);
    assert!(matches!(&events(&mut c)[..], [Event::Response { id: got, .. }] if *got == id));
    assert_eq!(c.stats().mismatched, 0);
}

#[test]
fn sec06_ipv4_mapped_source_matches_its_ipv4_target() {
    let t0 = Instant::now();
    let mut c = controller();
    c.get(t0, ip("127.0.0.2"), METER, &[0x80]).unwrap();
    let (_, req) = sent_one(&mut c);
    let bytes = answer(&req, METER, Esv::GetRes, vec![Property::new(0x80, [0x30])]);
    c.handle_datagram(t0, addr("::ffff:127.0.0.2", 3610), &bytes);
    assert!(matches!(&events(&mut c)[..], [Event::Response { .. }]));
}

#[test]
fn sec06_answering_object_and_service_must_match() {
    let t0 = Instant::now();
    let from = addr("127.0.0.2", 3610);
    let mut c = controller();
    let id = c.get(t0, ip("127.0.0.2"), METER, &[0x80]).unwrap();
    let (_, req) = sent_one(&mut c);
    let props = vec![Property::new(0x80, [0x30])];
    // Another instance of the class, the node profile, and a Set_Res to a Get.
    for (seoj, esv) in [
        (Eoj::new(0x02, 0x8E, 0x02), Esv::GetRes),
        (Eoj::NODE_PROFILE, Esv::GetRes),
        (METER, Esv::SetRes),
        (METER, Esv::InfcRes),
    ] {
        c.handle_datagram(t0, from, &answer(&req, seoj, esv, props.clone()));
    }
    assert!(events(&mut c).is_empty());
    assert_eq!(c.stats().mismatched, 4);

    // Instance 0 asks every instance of the class: any of them may answer.
    let mut c = controller();
    let any = Eoj::new(0x02, 0x8E, 0x00);
    let id2 = c.get(t0, ip("127.0.0.2"), any, &[0x80]).unwrap();
    let (_, req) = sent_one(&mut c);
    let other = Eoj::new(0x02, 0x8E, 0x02);
    c.handle_datagram(t0, from, &answer(&req, other, Esv::GetRes, props));
    assert!(
        matches!(&events(&mut c)[..], [Event::Response { id: got, seoj, .. }] if *got == id2 && *seoj == other)
    );
    let _ = id;
}

#[test]
fn retries_resend_the_same_frame_then_time_out() {
    let t0 = Instant::now();
    let config = ControllerConfig {
        timeout: Duration::from_secs(2),
        retries: 2,
        ..ControllerConfig::default()
    };
    let mut c = Controller::new(config);
    let id = c.get(t0, ip("127.0.0.2"), METER, &[0xE0]).unwrap();
    let (first, req) = sent_one(&mut c);
    assert_eq!(c.poll_timeout(), Some(t0 + ms(2000)));

    c.handle_timeout(t0 + ms(1999));
    assert!(transmits(&mut c).is_empty());
    c.handle_timeout(t0 + ms(2000));
    assert_eq!(
        transmits(&mut c),
        std::slice::from_ref(&first),
        "same frame, same TID"
    );
    assert_eq!(c.poll_timeout(), Some(t0 + ms(4000)));
    c.handle_timeout(t0 + ms(4000));
    assert_eq!(transmits(&mut c), [first]);
    assert!(events(&mut c).is_empty());
    c.handle_timeout(t0 + ms(6000));
    assert!(transmits(&mut c).is_empty());
    assert_eq!(events(&mut c), [Event::Timeout { id }]);
    assert_eq!(c.poll_timeout(), None);
    let stats = c.stats();
    assert_eq!((stats.sent, stats.retransmissions), (3, 2));

    // An answer after the end is late, not an event.
    let bytes = answer(&req, METER, Esv::GetRes, vec![Property::new(0xE0, [0; 4])]);
    c.handle_datagram(t0 + ms(6100), addr("127.0.0.2", 3610), &bytes);
    assert!(events(&mut c).is_empty());
    assert_eq!(c.stats().late, 1);
}

#[test]
fn an_answer_to_the_first_attempt_completes_after_a_resend() {
    let t0 = Instant::now();
    let mut c = controller();
    let id = c.get(t0, ip("127.0.0.2"), METER, &[0xE0]).unwrap();
    let (_, req) = sent_one(&mut c);
    c.handle_timeout(t0 + ms(2000));
    assert_eq!(transmits(&mut c).len(), 1);
    let bytes = answer(&req, METER, Esv::GetRes, vec![Property::new(0xE0, [0; 4])]);
    c.handle_datagram(t0 + ms(2100), addr("127.0.0.2", 3610), &bytes);
    assert!(matches!(&events(&mut c)[..], [Event::Response { id: got, .. }] if *got == id));
    // The answer to the resend arrives too: late.
    c.handle_datagram(t0 + ms(2200), addr("127.0.0.2", 3610), &bytes);
    assert!(events(&mut c).is_empty());
    assert_eq!(c.stats().late, 1);
}

#[test]
fn zero_retries_means_one_attempt() {
    let t0 = Instant::now();
    let config = ControllerConfig {
        retries: 0,
        timeout: ms(500),
        ..ControllerConfig::default()
    };
    let mut c = Controller::new(config);
    let id = c.get(t0, ip("127.0.0.2"), METER, &[0xE0]).unwrap();
    sent_one(&mut c);
    c.handle_timeout(t0 + ms(500));
    assert!(transmits(&mut c).is_empty());
    assert_eq!(events(&mut c), [Event::Timeout { id }]);
}

#[test]
fn get_sna_reports_the_failed_epcs() {
    let t0 = Instant::now();
    let mut c = controller();
    let id = c
        .get(t0, ip("127.0.0.2"), METER, &[0xE0, 0xF0, 0xD1])
        .unwrap();
    let (_, req) = sent_one(&mut c);
    let props = vec![
        Property::new(0xE0, [0, 0, 0, 9]),
        Property::empty(0xF0),
        Property::new(0xD1, *b"ID"),
    ];
    c.handle_datagram(
        t0,
        addr("127.0.0.2", 3610),
        &answer(&req, METER, Esv::GetSna, props.clone()),
    );
    assert_eq!(
        events(&mut c),
        [Event::Sna {
            id,
            from: ip("127.0.0.2"),
            seoj: METER,
            esv: Esv::GetSna,
            failed: vec![0xF0],
            props,
        }]
    );
}

#[test]
fn setc_sna_reports_the_refused_epcs_and_set_res_succeeds() {
    let t0 = Instant::now();
    let mut c = controller();
    let props = vec![Property::new(0x81, [0x08]), Property::new(0xD5, [0, 1])];
    let id = c.set(t0, ip("127.0.0.2"), METER, props, true).unwrap();
    let (_, req) = sent_one(&mut c);
    assert_eq!(req.esv, Esv::SetC);
    // 0x81 accepted (PDC 0), 0xD5 refused (our EDT echoed).
    let reply = vec![Property::empty(0x81), Property::new(0xD5, [0, 1])];
    c.handle_datagram(
        t0,
        addr("127.0.0.2", 3610),
        &answer(&req, METER, Esv::SetCSna, reply),
    );
    assert!(
        matches!(&events(&mut c)[..], [Event::Sna { id: got, esv: Esv::SetCSna, failed, .. }] if *got == id && failed == &[0xD5])
    );

    let id = c
        .set(
            t0,
            ip("127.0.0.2"),
            METER,
            vec![Property::new(0x81, [0x08])],
            true,
        )
        .unwrap();
    let (_, req) = sent_one(&mut c);
    let reply = vec![Property::empty(0x81)];
    c.handle_datagram(
        t0,
        addr("127.0.0.2", 3610),
        &answer(&req, METER, Esv::SetRes, reply),
    );
    assert!(
        matches!(&events(&mut c)[..], [Event::Response { id: got, esv: Esv::SetRes, .. }] if *got == id)
    );
}

#[test]
fn seti_is_sent_once_and_ends_without_an_sna() {
    let t0 = Instant::now();
    let mut c = controller();
    let id = c
        .set(
            t0,
            ip("127.0.0.2"),
            METER,
            vec![Property::new(0x81, [0x08])],
            false,
        )
        .unwrap();
    let (_, req) = sent_one(&mut c);
    assert_eq!(req.esv, Esv::SetI);
    c.handle_timeout(t0 + ms(2000));
    assert!(transmits(&mut c).is_empty(), "SetI is not retried");
    assert_eq!(events(&mut c), [Event::NoSna { id }]);
}

#[test]
fn requests_that_cannot_be_matched_or_sent_are_refused() {
    let t0 = Instant::now();
    let mut c = controller();
    assert_eq!(
        c.get(t0, ip("224.0.23.0"), METER, &[0x80]),
        Err(RequestError::NotUnicast(ip("224.0.23.0")))
    );
    assert_eq!(
        c.get(t0, ip("0.0.0.0"), METER, &[0x80]),
        Err(RequestError::NotUnicast(ip("0.0.0.0")))
    );
    assert_eq!(
        c.get(t0, ip("127.0.0.2"), METER, &[]),
        Err(RequestError::NoProperties)
    );
    assert_eq!(
        c.read_meter(t0, ip("127.0.0.2"), Eoj::NODE_PROFILE),
        Err(RequestError::NotAMeter(Eoj::NODE_PROFILE))
    );
    assert!(matches!(
        c.get(t0, ip("127.0.0.2"), METER, &[0x80; 256]),
        Err(RequestError::Encode(_))
    ));
    assert!(transmits(&mut c).is_empty());
    assert_eq!(c.pending(), 0);
}

#[test]
fn sec06_malformed_and_unsolicited_frames_are_counted() {
    let t0 = Instant::now();
    let mut c = controller();
    let from = addr("127.0.0.9", 3610);
    c.handle_datagram(t0, from, &[]);
    c.handle_datagram(t0, from, b"not echonet");
    c.handle_datagram(t0, from, &[0x10, 0x81, 0x00, 0x01, 0x05, 0xFF, 0x01]);
    assert_eq!(c.stats().malformed, 3);

    // A Get addressed to us, a format 2 frame, a response nobody asked for.
    let get = Repr::from(Message::get(1, Eoj::CONTROLLER, Eoj::CONTROLLER, &[0x80]));
    c.handle_datagram(t0, from, &get.to_vec().unwrap());
    let f2 = Repr::Arbitrary(echonet::ArbitraryMessage {
        tid: 1,
        edata: vec![1, 2],
    });
    c.handle_datagram(t0, from, &f2.to_vec().unwrap());
    let res = Message::new(
        1,
        METER,
        Eoj::CONTROLLER,
        Esv::GetRes,
        vec![Property::new(0x80, [0x30])],
    );
    c.handle_datagram(t0, from, &Repr::from(res).to_vec().unwrap());
    assert_eq!(c.stats().unsolicited, 3);
    assert!(events(&mut c).is_empty());
}

#[test]
fn inf_is_counted_and_surfaced_only_on_request() {
    let t0 = Instant::now();
    let from = addr("127.0.0.2", 3610);
    let inf = Message::new(
        3,
        Eoj::NODE_PROFILE,
        Eoj::NODE_PROFILE,
        Esv::Inf,
        vec![Property::new(0xD5, [1, 0x02, 0x8E, 0x01])],
    );
    let bytes = Repr::from(inf.clone()).to_vec().unwrap();

    let mut c = controller();
    c.handle_datagram(t0, from, &bytes);
    assert!(events(&mut c).is_empty());
    assert_eq!(c.stats().notifications, 1);

    let mut c = Controller::new(ControllerConfig {
        surface_notifications: true,
        ..ControllerConfig::default()
    });
    c.handle_datagram(t0, from, &bytes);
    assert_eq!(
        events(&mut c),
        [Event::Notification {
            from: ip("127.0.0.2"),
            seoj: Eoj::NODE_PROFILE,
            props: inf.props,
        }]
    );
}

#[test]
fn trm07_trm03_read_meter_asks_d1_d4_e0_e2_and_keeps_eight_digits() {
    let t0 = Instant::now();
    let mut c = controller();
    let id = c.read_meter(t0, ip("127.0.0.2"), METER).unwrap();
    let (_, req) = sent_one(&mut c);
    let asked: Vec<u8> = req.props.iter().map(|p| p.epc).collect();
    assert_eq!(asked, [0xD1, 0xD4, 0xE0, 0xE2]);
    assert!(req.props.iter().all(|p| p.edt.is_empty()));

    // 123,456,789 counts of 0.001 kWh: above 99,999,999, the lower 8 digits are kept.
    let bytes = answer(&req, METER, Esv::GetRes, meter_values(123_456_789, 42));
    c.handle_datagram(t0, addr("127.0.0.2", 3610), &bytes);
    let ev = events(&mut c);
    let [Event::MeterRead {
        id: got,
        result: Ok(r),
    }] = &ev[..]
    else {
        panic!("one successful reading expected: {ev:?}");
    };
    assert_eq!(*got, id);
    assert_eq!(r.from, ip("127.0.0.2"));
    assert_eq!(r.eoj, METER);
    assert_eq!(r.device_id, b"METER-0001");
    assert_eq!(r.unit, EnergyUnit::Kwh0_001);
    assert_eq!(r.counter_in, 123_456_789);
    assert_eq!(r.input.digits(), 23_456_789);
    assert_eq!(r.input.to_string(), "23456.789 kWh");
    assert_eq!(r.output.digits(), 42);
    assert_eq!(r.output.to_string(), "0.042 kWh");
}

#[test]
fn trm03_read_meter_refuses_a_counter_above_nine_digits() {
    let t0 = Instant::now();
    let mut c = controller();
    let id = c.read_meter(t0, ip("127.0.0.2"), METER).unwrap();
    let (_, req) = sent_one(&mut c);
    let bytes = answer(&req, METER, Esv::GetRes, meter_values(1_000_000_000, 0));
    c.handle_datagram(t0, addr("127.0.0.2", 3610), &bytes);
    let ev = events(&mut c);
    assert!(
        matches!(&ev[..], [Event::MeterRead { id: got, result: Err(ReadMeterError::Value { epc: 0xE0, .. }) }] if *got == id),
        "{ev:?}"
    );
}

#[test]
fn trm07_read_meter_reports_sna_missing_values_and_timeout() {
    let t0 = Instant::now();
    let from = addr("127.0.0.2", 3610);
    let mut c = controller();

    c.read_meter(t0, ip("127.0.0.2"), METER).unwrap();
    let (_, req) = sent_one(&mut c);
    let mut props = meter_values(1, 2);
    props[0] = Property::empty(0xD1);
    c.handle_datagram(t0, from, &answer(&req, METER, Esv::GetSna, props));
    assert!(matches!(
        &events(&mut c)[..],
        [Event::MeterRead { result: Err(ReadMeterError::Refused { esv: Esv::GetSna, failed }), .. }] if failed == &[0xD1]
    ));

    c.read_meter(t0, ip("127.0.0.2"), METER).unwrap();
    let (_, req) = sent_one(&mut c);
    let mut props = meter_values(1, 2);
    props.pop();
    c.handle_datagram(t0, from, &answer(&req, METER, Esv::GetRes, props));
    assert!(matches!(
        &events(&mut c)[..],
        [Event::MeterRead {
            result: Err(ReadMeterError::Missing { epc: 0xE2 }),
            ..
        }]
    ));

    c.read_meter(t0, ip("127.0.0.2"), METER).unwrap();
    let (_, req) = sent_one(&mut c);
    let mut props = meter_values(1, 2);
    props[1] = Property::new(0xD4, [0x07]);
    c.handle_datagram(t0, from, &answer(&req, METER, Esv::GetRes, props));
    assert!(matches!(
        &events(&mut c)[..],
        [Event::MeterRead {
            result: Err(ReadMeterError::Value { epc: 0xD4, .. }),
            ..
        }]
    ));

    let id = c.read_meter(t0, ip("127.0.0.2"), METER).unwrap();
    sent_one(&mut c);
    for k in 1..=3 {
        c.handle_timeout(t0 + ms(2000 * k));
    }
    assert_eq!(
        events(&mut c),
        [Event::MeterRead {
            id,
            result: Err(ReadMeterError::Timeout)
        }]
    );
}

/// Runs `set_clock` up to the SetC: answers the Get of 0x9E with `set_map` after 300 ms.
fn clock_until_setc(set_map: &[u8]) -> (Controller, RequestId, Instant, Option<Message>) {
    let t0 = Instant::now();
    let mut c = controller();
    let jst = NaiveDate::from_ymd_opt(2026, 11, 25)
        .and_then(|d| d.and_hms_milli_opt(23, 59, 59, 800))
        .unwrap();
    let id = c.set_clock(t0, ip("127.0.0.2"), METER, jst).unwrap();
    let (_, req) = sent_one(&mut c);
    assert_eq!(req.esv, Esv::Get);
    assert_eq!(req.props, [Property::empty(0x9E)]);
    let map = PropertyMap::from_epcs(set_map).unwrap().encode();
    let bytes = answer(&req, METER, Esv::GetRes, vec![Property::new(0x9E, map)]);
    c.handle_datagram(t0 + ms(300), addr("127.0.0.2", 3610), &bytes);
    let setc = transmits(&mut c).first().map(request);
    (c, id, t0, setc)
}

#[test]
fn trm09_set_clock_writes_date_and_hms_when_0x98_and_0xda_are_settable() {
    let (mut c, id, t0, setc) = clock_until_setc(&[0x81, 0x97, 0x98, 0xD5, 0xDA]);
    let setc = setc.expect("a SetC");
    assert_eq!(setc.esv, Esv::SetC);
    assert_eq!(setc.deoj, METER);
    // 23:59:59.800 plus the 300 ms spent reading the map: the next day, 00:00:00.
    assert_eq!(
        setc.props,
        [
            Property::new(0x98, [0x07, 0xEA, 11, 26]),
            Property::new(0xDA, [0, 0, 0]),
        ]
    );
    let reply = vec![Property::empty(0x98), Property::empty(0xDA)];
    c.handle_datagram(
        t0 + ms(400),
        addr("127.0.0.2", 3610),
        &answer(&setc, METER, Esv::SetRes, reply),
    );
    let ev = events(&mut c);
    let [Event::ClockSet {
        id: got,
        result: Ok(outcome),
    }] = &ev[..]
    else {
        panic!("clock set expected: {ev:?}");
    };
    assert_eq!(*got, id);
    assert_eq!(outcome.method, ClockMethod::DateAndTimeHms);
    assert_eq!(outcome.written.to_string(), "2026-11-26 00:00:00");
}

#[test]
fn trm09_set_clock_falls_back_to_0x97_and_0x98() {
    let (mut c, id, t0, setc) = clock_until_setc(&[0x97, 0x98]);
    let setc = setc.expect("a SetC");
    assert_eq!(
        setc.props,
        [
            Property::new(0x98, [0x07, 0xEA, 11, 26]),
            Property::new(0x97, [0, 0]),
        ]
    );
    let reply = vec![Property::empty(0x98), Property::empty(0x97)];
    c.handle_datagram(
        t0 + ms(400),
        addr("127.0.0.2", 3610),
        &answer(&setc, METER, Esv::SetRes, reply),
    );
    assert!(matches!(
        &events(&mut c)[..],
        [Event::ClockSet { id: got, result: Ok(o) }] if *got == id && o.method == ClockMethod::DateAndTimeHm
    ));
}

#[test]
fn trm09_set_clock_reports_a_clock_that_is_not_settable() {
    // 0xDA alone, without the date, is not enough.
    let (mut c, id, _, setc) = clock_until_setc(&[0x81, 0xDA]);
    assert!(setc.is_none(), "nothing is written");
    let ev = events(&mut c);
    let [Event::ClockSet {
        id: got,
        result: Err(ClockError::NotSettable { set_map }),
    }] = &ev[..]
    else {
        panic!("not settable expected: {ev:?}");
    };
    assert_eq!(*got, id);
    assert_eq!(set_map.iter().collect::<Vec<_>>(), [0x81, 0xDA]);
    assert!(ev[0].clone().is_final());
    assert!(ClockError::NotSettable { set_map: *set_map }
        .to_string()
        .starts_with("clock not settable"));
}

#[test]
fn trm09_set_clock_reports_refusal_and_timeouts() {
    let (mut c, _, t0, setc) = clock_until_setc(&[0x98, 0xDA]);
    let setc = setc.expect("a SetC");
    let reply = vec![Property::empty(0x98), Property::new(0xDA, [0, 0, 0])];
    c.handle_datagram(
        t0 + ms(400),
        addr("127.0.0.2", 3610),
        &answer(&setc, METER, Esv::SetCSna, reply),
    );
    assert!(matches!(
        &events(&mut c)[..],
        [Event::ClockSet { result: Err(ClockError::Refused { failed }), .. }] if failed == &[0xDA]
    ));

    let (mut c, id, t0, _) = clock_until_setc(&[0x98, 0xDA]);
    for k in 1..=3 {
        c.handle_timeout(t0 + ms(300 + 2000 * k));
    }
    assert_eq!(
        events(&mut c),
        [Event::ClockSet {
            id,
            result: Err(ClockError::Timeout {
                step: ClockStep::Write
            })
        }]
    );
}

#[test]
fn discovery_collects_every_node_for_its_window() {
    let t0 = Instant::now();
    let mut c = controller();
    let id = c.discover(t0).unwrap();
    let (t, req) = sent_one(&mut c);
    assert_eq!(t.destination, Destination::Multicast);
    assert_eq!(req.deoj, Eoj::NODE_PROFILE);
    assert_eq!(req.props, [Property::empty(0xD6)]);
    assert_eq!(c.poll_timeout(), Some(t0 + ms(2000)));

    let list = |eojs: &[Eoj]| {
        let mut edt = vec![eojs.len() as u8];
        for e in eojs {
            edt.extend(e.to_bytes());
        }
        vec![Property::new(0xD6, edt)]
    };
    let meter2 = Eoj::new(0x02, 0x79, 0x01);
    let a = answer(&req, Eoj::NODE_PROFILE, Esv::GetRes, list(&[METER]));
    let b = answer(&req, Eoj::NODE_PROFILE, Esv::GetRes, list(&[METER, meter2]));
    c.handle_datagram(t0 + ms(10), addr("127.0.0.2", 3610), &a);
    c.handle_datagram(t0 + ms(20), addr("192.0.2.7", 23610), &b);
    c.handle_datagram(t0 + ms(30), addr("127.0.0.2", 3610), &a); // twice: late
    let bad = answer(&req, METER, Esv::GetRes, list(&[METER])); // not a node profile
    c.handle_datagram(t0 + ms(40), addr("127.0.0.4", 3610), &bad);
    let broken = answer(
        &req,
        Eoj::NODE_PROFILE,
        Esv::GetRes,
        vec![Property::new(0xD6, [2, 1])],
    );
    c.handle_datagram(t0 + ms(50), addr("127.0.0.5", 3610), &broken);

    c.handle_timeout(t0 + ms(1999));
    assert!(transmits(&mut c).is_empty(), "discovery is not resent");
    c.handle_timeout(t0 + ms(2000));
    let ev = events(&mut c);
    assert_eq!(ev.len(), 3, "{ev:?}");
    let nodes: BTreeMap<IpAddr, Vec<Eoj>> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Discovered { id: got, node } if *got == id => {
                Some((node.addr, node.instances.clone()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(nodes[&ip("127.0.0.2")], [METER]);
    assert_eq!(nodes[&ip("192.0.2.7")], [METER, meter2]);
    assert_eq!(ev[2], Event::DiscoveryDone { id, nodes: 2 });
    let s = c.stats();
    assert_eq!((s.late, s.mismatched, s.bad_values), (1, 1, 1));
}

#[test]
fn cancel_forgets_a_request_without_an_event() {
    let t0 = Instant::now();
    let mut c = controller();
    let id = c.get(t0, ip("127.0.0.2"), METER, &[0x80]).unwrap();
    let (_, req) = sent_one(&mut c);
    assert!(c.cancel(id));
    assert!(!c.cancel(id));
    c.handle_timeout(t0 + ms(10_000));
    let bytes = answer(&req, METER, Esv::GetRes, vec![Property::new(0x80, [0x30])]);
    c.handle_datagram(t0, addr("127.0.0.2", 3610), &bytes);
    assert!(events(&mut c).is_empty());
    assert_eq!(c.stats().late, 1);
}

/// Hands every queued datagram to the emulated meter at 127.0.0.2 and its answers back.
fn exchange(c: &mut Controller, meter: &mut Meter, now: Instant, utc: DateTime<Utc>) {
    for _ in 0..4 {
        let out = transmits(c);
        if out.is_empty() {
            return;
        }
        for t in out {
            assert_eq!(t.destination, Destination::Unicast(ip("127.0.0.2")));
            if let Some(reply) = meter.handle(utc, &t.bytes) {
                c.handle_datagram(now, addr("127.0.0.2", 3610), &reply);
            }
        }
    }
}

#[test]
fn trm07_trm09_controller_reads_and_sets_the_emulated_meter() {
    let t0 = Instant::now();
    let utc = Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap();
    let mut meter = Meter::new(MeterConfig::default(), 123_456_789, 5, utc);
    let mut c = controller();

    let id = c.read_meter(t0, ip("127.0.0.2"), METER).unwrap();
    exchange(&mut c, &mut meter, t0, utc);
    let ev = events(&mut c);
    let [Event::MeterRead {
        id: got,
        result: Ok(r),
    }] = &ev[..]
    else {
        panic!("a reading expected: {ev:?}");
    };
    assert_eq!(*got, id);
    assert_eq!(r.device_id, MeterConfig::default().device_id);
    assert_eq!(r.counter_in, 123_456_789);
    assert_eq!(r.input.digits(), 23_456_789);
    assert_eq!(r.output.digits(), 5);

    // The meter keeps JST 12:00 at 03:00 UTC; set it one hour and 7 seconds ahead.
    let jst = NaiveDate::from_ymd_opt(2026, 11, 25)
        .and_then(|d| d.and_hms_opt(13, 0, 7))
        .unwrap();
    let id = c.set_clock(t0, ip("127.0.0.2"), METER, jst).unwrap();
    exchange(&mut c, &mut meter, t0, utc);
    let ev = events(&mut c);
    assert!(
        matches!(&ev[..], [Event::ClockSet { id: got, result: Ok(o) }] if *got == id && o.method == ClockMethod::DateAndTimeHms),
        "{ev:?}"
    );
    assert_eq!(meter.state().local_time(utc), jst);
    assert_eq!(c.stats().mismatched + c.stats().unsolicited, 0);
}

/// A datagram for the property tests: raw bytes, or a well-formed frame with a TID near
/// the controller's, any objects, any service and random properties.
fn datagram() -> impl Strategy<Value = Vec<u8>> {
    let frame = (
        0u16..8,
        prop::sample::select(vec![
            METER,
            Eoj::new(0x02, 0x8E, 0x00),
            Eoj::NODE_PROFILE,
            Eoj::CONTROLLER,
        ]),
        prop::sample::select(Esv::ALL.to_vec()),
        prop::collection::vec(
            (0x80u8..=0xFF, prop::collection::vec(any::<u8>(), 0..8)),
            0..5,
        ),
    )
        .prop_map(|(tid, seoj, esv, props)| {
            let props = props
                .into_iter()
                .map(|(e, d)| Property::new(e, d))
                .collect();
            let mut m = Message::new(tid, seoj, Eoj::CONTROLLER, esv, props);
            if esv.has_two_lists() {
                m.get_props = vec![Property::empty(0xE0)];
            }
            Repr::from(m).to_vec().unwrap_or_default()
        });
    prop_oneof![prop::collection::vec(any::<u8>(), 0..64), frame]
}

fn source() -> impl Strategy<Value = SocketAddr> {
    (
        prop::sample::select(vec!["127.0.0.2", "127.0.0.3", "::1", "::ffff:127.0.0.2"]),
        prop::sample::select(vec![3610u16, 23610, 1]),
    )
        .prop_map(|(a, p)| SocketAddr::new(a.parse().unwrap_or(IpAddr::from([127, 0, 0, 2])), p))
}

proptest! {
    /// SEC-06: hostile datagrams never panic and never produce an event for a request
    /// nobody made; each request ends at most once.
    #[test]
    fn sec06_random_datagrams_never_forge_events(
        made in 0usize..5,
        input in prop::collection::vec((source(), datagram(), 0u64..3000), 0..40),
    ) {
        let t0 = Instant::now();
        let mut c = Controller::new(ControllerConfig { first_tid: 0, ..ControllerConfig::default() });
        let mut ids = Vec::new();
        for k in 0..made {
            let target = ip("127.0.0.2");
            let id = match k {
                0 => c.read_meter(t0, target, METER),
                1 => c.discover(t0),
                2 => c.set_clock(t0, target, METER, NaiveDate::from_ymd_opt(2026, 11, 25).and_then(|d| d.and_hms_opt(12, 0, 0)).unwrap_or_default()),
                3 => c.set(t0, target, Eoj::new(0x02, 0x8E, 0x00), vec![Property::new(0x81, [1])], true),
                _ => c.get(t0, target, METER, &[0xE0, 0xE2]),
            };
            ids.push(id.unwrap());
        }
        let mut finals = BTreeMap::new();
        let mut now = t0;
        for (from, bytes, wait) in input {
            now += ms(wait);
            c.handle_timeout(now);
            c.handle_datagram(now, from, &bytes);
            while c.poll_transmit().is_some() {}
            while let Some(ev) = c.poll_event() {
                let id = ev.id();
                prop_assert!(id.is_some_and(|id| ids.contains(&id)), "event for no request: {:?}", ev);
                if ev.is_final() {
                    *finals.entry(id).or_insert(0) += 1;
                }
            }
        }
        prop_assert!(finals.values().all(|n| *n == 1), "{:?}", finals);
    }

    /// Without any request, nothing at all comes out.
    #[test]
    fn sec06_an_idle_controller_emits_nothing(
        input in prop::collection::vec((source(), datagram()), 0..40),
    ) {
        let t0 = Instant::now();
        let mut c = controller();
        for (from, bytes) in input {
            c.handle_datagram(t0, from, &bytes);
        }
        prop_assert!(c.poll_event().is_none());
        prop_assert!(c.poll_transmit().is_none());
        prop_assert_eq!(c.stats().answers, 0);
    }
}

#[test]
fn trm03_read_history_sets_the_day_then_reads_e1_and_e3() {
    let t0 = Instant::now();
    let utc = Utc.with_ymd_and_hms(2026, 11, 25, 3, 0, 0).unwrap();
    let mut meter = Meter::new(
        MeterConfig::default(),
        123_456_789,
        5,
        utc - chrono::Duration::days(2),
    );
    meter.advance(utc);
    let mut c = controller();
    let id = c.read_history(t0, ip("127.0.0.2"), METER, 1).unwrap();
    // First the SetC of 0xD5.
    let (_, set) = sent_one(&mut c);
    assert_eq!(set.esv, Esv::SetC);
    assert_eq!(set.props[0].epc, 0xD5);
    assert_eq!(set.props[0].edt.as_slice(), &[0, 1][..]);
    let reply = meter
        .handle(utc, &Repr::from(set.clone()).to_vec().unwrap())
        .unwrap();
    c.handle_datagram(t0, addr("127.0.0.2", 3610), &reply);
    // Then one Get of the ID, the unit and both histories.
    let (_, get) = sent_one(&mut c);
    assert_eq!(get.esv, Esv::Get);
    let epcs: Vec<u8> = get.props.iter().map(|p| p.epc).collect();
    assert_eq!(epcs, vec![0xD1, 0xD4, 0xE1, 0xE3]);
    let reply = meter
        .handle(utc, &Repr::from(get.clone()).to_vec().unwrap())
        .unwrap();
    c.handle_datagram(t0, addr("127.0.0.2", 3610), &reply);
    let ev = events(&mut c);
    let [Event::HistoryRead {
        id: got,
        result: Ok(h),
    }] = &ev[..]
    else {
        panic!("a history expected: {ev:?}");
    };
    assert_eq!(*got, id);
    assert_eq!((h.day, h.input.len(), h.output.len()), (1, 48, 48));
    // Yesterday was recorded in full (the meter ran for two days), lower 8 digits kept.
    assert!(h.input.iter().all(Option::is_some));
    assert!(h.input.iter().flatten().all(|v| v.digits() < 100_000_000));

    // A meter answering another day than the one set is refused, not trusted.
    let id = c.read_history(t0, ip("127.0.0.2"), METER, 2).unwrap();
    let (_, set) = sent_one(&mut c);
    c.handle_datagram(
        t0,
        addr("127.0.0.2", 3610),
        &answer(
            &set,
            METER,
            Esv::SetRes,
            vec![Property::new(0xD5, Vec::new())],
        ),
    );
    let (_, get) = sent_one(&mut c);
    let mut day3 = vec![0u8, 3];
    day3.extend(std::iter::repeat_n(0u8, 4 * 48));
    let props = vec![
        Property::new(0xD1, b"METER-0001".to_vec()),
        Property::new(0xD4, [0x02]),
        Property::new(0xE1, day3.clone()),
        Property::new(0xE3, day3),
    ];
    c.handle_datagram(
        t0,
        addr("127.0.0.2", 3610),
        &answer(&get, METER, Esv::GetRes, props),
    );
    assert_eq!(
        events(&mut c),
        [Event::HistoryRead {
            id,
            result: Err(ReadMeterError::WrongDay { asked: 2, got: 3 })
        }]
    );
}
