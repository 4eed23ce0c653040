//! The emulated 0x028E meter, driven frame by frame with a virtual clock.

use chrono::{DateTime, Duration, TimeZone, Utc};
use echonet::objects::{MeterProperty, NodeProfileProperty, SuperclassProperty, Value};
use echonet::{ClassCode, Eoj, Esv, Message, Property, PropertyMap, Repr};
use nodes::meter::{Meter, MeterConfig, MeterState, Profile, METER_EOJ};
use proptest::prelude::*;

const CONTROLLER: Eoj = Eoj::CONTROLLER;
const METER: ClassCode = ClassCode::DISTRIBUTED_GENERATION_METER;

fn t0() -> DateTime<Utc> {
    // 2026-11-25 09:10 JST.
    Utc.with_ymd_and_hms(2026, 11, 25, 0, 10, 0).unwrap()
}

fn constant(input_w: f64, output_w: f64) -> MeterConfig {
    MeterConfig {
        profile: Profile::Constant { input_w, output_w },
        ..MeterConfig::default()
    }
}

fn ask(meter: &mut Meter, now: DateTime<Utc>, msg: Message) -> Option<Message> {
    let bytes = Repr::from(msg).to_vec().unwrap();
    meter
        .handle(now, &bytes)
        .map(|reply| match Repr::parse_bytes(&reply).unwrap() {
            Repr::Specified(m) => m,
            Repr::Arbitrary(_) => panic!("format 2 reply"),
        })
}

fn get(meter: &mut Meter, now: DateTime<Utc>, deoj: Eoj, epcs: &[u8]) -> Message {
    ask(meter, now, Message::get(7, CONTROLLER, deoj, epcs)).expect("Get unanswered")
}

fn decode(class: ClassCode, p: &Property) -> Value {
    Value::decode(class, p.epc, &p.edt).unwrap()
}

fn msg(tid: u16, esv: Esv, props: Vec<Property>) -> Message {
    Message::new(tid, CONTROLLER, METER_EOJ, esv, props)
}

#[test]
fn trm07_get_of_device_id_and_energy_answers_with_values() {
    let mut m = Meter::new(constant(0.0, 0.0), 123_456_789, 42, t0());
    let r = get(&mut m, t0(), METER_EOJ, &[0xD1, 0xD4, 0xE0, 0xE2]);
    assert_eq!(r.esv, Esv::GetRes);
    assert_eq!(r.tid, 7);
    assert_eq!(r.seoj, METER_EOJ);
    assert_eq!(r.deoj, CONTROLLER);
    assert_eq!(
        decode(METER, &r.props[0]),
        Value::Meter(MeterProperty::DeviceId(b"IOTROUTE-EMU-0001".to_vec()))
    );
    assert_eq!(r.props[1].edt, vec![0x03]);
    assert_eq!(r.props[2].edt, 123_456_789u32.to_be_bytes());
    assert_eq!(r.props[3].edt, 42u32.to_be_bytes());
}

#[test]
fn get_of_unknown_property_is_get_sna_with_pdc_zero() {
    let mut m = Meter::new(MeterConfig::default(), 0, 0, t0());
    let r = get(&mut m, t0(), METER_EOJ, &[0xE0, 0xF0, 0x97]);
    assert_eq!(r.esv, Esv::GetSna);
    assert_eq!(r.props.len(), 3);
    assert_eq!(r.props[0].edt.len(), 4);
    assert!(r.props[1].edt.is_empty());
    assert!(r.props[2].edt.is_empty());
    assert_eq!(m.stats().sna, 1);
}

#[test]
fn trm09_clock_set_by_setc_of_date_and_time() {
    let mut m = Meter::new(MeterConfig::default(), 0, 0, t0());
    let before = get(&mut m, t0(), METER_EOJ, &[0xDB]);
    assert_eq!(before.props[0].edt, vec![0x42]);
    let set = msg(
        9,
        Esv::SetC,
        vec![
            Property::new(0x98, vec![0x07, 0xEB, 1, 2]),
            Property::new(0xDA, vec![3, 4, 5]),
        ],
    );
    let r = ask(&mut m, t0(), set).unwrap();
    assert_eq!(r.esv, Esv::SetRes);
    assert!(r.props.iter().all(|p| p.edt.is_empty()));
    let later = t0() + Duration::seconds(10);
    let now = get(&mut m, later, METER_EOJ, &[0x98, 0xDA, 0xDB]);
    assert_eq!(now.props[0].edt, vec![0x07, 0xEB, 1, 2]);
    assert_eq!(now.props[1].edt, vec![3, 4, 15]);
    assert_eq!(now.props[2].edt, vec![0x41]);
}

#[test]
fn setc_of_read_only_or_invalid_value_is_sna_echoing_the_request() {
    let mut m = Meter::new(MeterConfig::default(), 0, 0, t0());
    let set = msg(
        1,
        Esv::SetC,
        vec![
            Property::new(0xE0, vec![0, 0, 0, 1]), // read-only
            Property::new(0xDA, vec![25, 0, 0]),   // hour out of range
            Property::new(0xD5, vec![0, 1]),       // fine
            Property::new(0xD5, vec![0x03, 0xE7]), // beyond the 45 days held
        ],
    );
    let r = ask(&mut m, t0(), set).unwrap();
    assert_eq!(r.esv, Esv::SetCSna);
    assert_eq!(r.props[0], Property::new(0xE0, vec![0, 0, 0, 1]));
    assert_eq!(r.props[1], Property::new(0xDA, vec![25, 0, 0]));
    assert_eq!(r.props[2], Property::empty(0xD5));
    assert_eq!(r.props[3], Property::new(0xD5, vec![0x03, 0xE7]));
}

#[test]
fn seti_is_silent_when_accepted_and_sna_when_refused() {
    let mut m = Meter::new(MeterConfig::default(), 0, 0, t0());
    let ok = msg(1, Esv::SetI, vec![Property::new(0xD5, vec![0, 2])]);
    assert!(ask(&mut m, t0(), ok).is_none());
    assert_eq!(
        get(&mut m, t0(), METER_EOJ, &[0xD5]).props[0].edt,
        vec![0, 2]
    );
    let bad = msg(2, Esv::SetI, vec![Property::new(0xE2, vec![0, 0, 0, 0])]);
    let r = ask(&mut m, t0(), bad).unwrap();
    assert_eq!(r.esv, Esv::SetISna);
}

#[test]
fn inf_req_setget_and_infc_are_answered() {
    let mut m = Meter::new(MeterConfig::default(), 5, 6, t0());
    let r = ask(
        &mut m,
        t0(),
        msg(3, Esv::InfReq, vec![Property::empty(0x80)]),
    )
    .unwrap();
    assert_eq!((r.esv, r.props[0].edt.to_vec()), (Esv::Inf, vec![0x30]));

    let mut sg = msg(4, Esv::SetGet, vec![Property::new(0xD5, vec![0, 1])]);
    sg.get_props = vec![Property::empty(0xD5), Property::empty(0xE0)];
    let r = ask(&mut m, t0(), sg.clone()).unwrap();
    assert_eq!(r.esv, Esv::SetGetRes);
    assert_eq!(r.props, vec![Property::empty(0xD5)]);
    assert_eq!(r.get_props[0].edt, vec![0, 1]);
    assert_eq!(r.get_props[1].edt, 5u32.to_be_bytes());

    sg.get_props.push(Property::empty(0xF1));
    let r = ask(&mut m, t0(), sg).unwrap();
    assert_eq!(r.esv, Esv::SetGetSna);
    assert!(r.get_props[2].edt.is_empty());

    let infc = msg(5, Esv::Infc, vec![Property::new(0x80, vec![0x30])]);
    let r = ask(&mut m, t0(), infc).unwrap();
    assert_eq!(r.esv, Esv::InfcRes);
    assert_eq!(r.props, vec![Property::empty(0x80)]);
}

#[test]
fn node_profile_describes_the_node_and_maps_list_what_is_served() {
    let mut m = Meter::new(MeterConfig::default(), 0, 0, t0());
    let r = get(
        &mut m,
        t0(),
        Eoj::NODE_PROFILE,
        &[0xD3, 0xD4, 0xD6, 0xD7, 0x82, 0x83, 0x8A, 0x9F],
    );
    assert_eq!(r.esv, Esv::GetRes);
    let np = ClassCode::NODE_PROFILE;
    assert_eq!(
        decode(np, &r.props[2]),
        Value::NodeProfile(NodeProfileProperty::InstanceList(vec![METER_EOJ]))
    );
    assert_eq!(
        decode(np, &r.props[3]),
        Value::NodeProfile(NodeProfileProperty::ClassList(vec![METER]))
    );
    // Every EPC in the meter's Get map must answer; every EPC outside it must not.
    let maps = get(&mut m, t0(), METER_EOJ, &[0x9D, 0x9E, 0x9F]);
    let Value::Superclass(SuperclassProperty::GetPropertyMap(getmap)) =
        decode(METER, &maps.props[2])
    else {
        panic!("no get map")
    };
    assert!(getmap.len() >= 16, "the meter's map uses the bitmap form");
    assert_eq!(maps.props[2].edt.len(), 17);
    for epc in 0x80..=0xFFu8 {
        let r = get(&mut m, t0(), METER_EOJ, &[epc]);
        assert_eq!(r.esv == Esv::GetRes, getmap.contains(epc), "EPC {epc:02X}");
        if r.esv == Esv::GetRes {
            decode(METER, &r.props[0]);
        }
    }
    let Value::Superclass(SuperclassProperty::SetPropertyMap(setmap)) =
        decode(METER, &maps.props[1])
    else {
        panic!("no set map")
    };
    assert_eq!(
        setmap,
        PropertyMap::from_epcs(&[0x81, 0x98, 0xD5, 0xDA]).unwrap()
    );
}

#[test]
fn counter_wraps_past_999_999_999_to_zero() {
    // 3.6 kW is 1 Wh per second: one count of 0.001 kWh per second.
    let mut m = Meter::new(constant(3600.0, 0.0), 999_999_990, 0, t0());
    let r = get(&mut m, t0() + Duration::seconds(15), METER_EOJ, &[0xE0]);
    assert_eq!(r.props[0].edt, 5u32.to_be_bytes());
}

#[test]
fn history_of_today_and_yesterday_through_d5() {
    let mut m = Meter::new(constant(1000.0, 2000.0), 0, 0, t0());
    let next_day = t0() + Duration::days(1);
    let r = get(&mut m, next_day, METER_EOJ, &[0xE1, 0xE3]);
    let Value::Meter(MeterProperty::HistoryIn(today)) = decode(METER, &r.props[0]) else {
        panic!("no history")
    };
    assert_eq!(today.day, 0);
    // Today 00:00 JST: 14 h 50 min after the start at 09:10 JST.
    assert_eq!(today.slots[0], Some(14_833));
    let set = msg(1, Esv::SetC, vec![Property::new(0xD5, vec![0, 1])]);
    ask(&mut m, next_day, set).unwrap();
    let r = get(&mut m, next_day, METER_EOJ, &[0xE3]);
    let Value::Meter(MeterProperty::HistoryOut(yesterday)) = decode(METER, &r.props[0]) else {
        panic!("no history")
    };
    assert_eq!(yesterday.day, 1);
    assert_eq!(yesterday.slots[18], None); // 09:00, before the start
    assert_eq!(yesterday.slots[19], Some(666)); // 09:30: 20 min at 2 kW
}

#[test]
fn sec06_malformed_and_format2_datagrams_are_counted_and_the_meter_keeps_answering() {
    let mut m = Meter::new(MeterConfig::default(), 0, 0, t0());
    let valid = Repr::from(Message::get(1, CONTROLLER, METER_EOJ, &[0xE0]))
        .to_vec()
        .unwrap();
    let mut opc_overrun = valid.clone();
    opc_overrun[11] = 9;
    let mut pdc_overrun = valid.clone();
    pdc_overrun[13] = 200;
    let hostile: Vec<Vec<u8>> = vec![
        vec![],
        valid[..valid.len() - 1].to_vec(),
        opc_overrun,
        pdc_overrun,
        vec![0x10, 0x81, 0, 1, 5, 0xFF, 1, 2, 0x8E, 1, 0x99, 0], // unknown ESV
        vec![0x10, 0x82, 0, 1, 0xDE, 0xAD],                      // format 2
    ];
    for _ in 0..1000 {
        for h in &hostile {
            assert!(m.handle(t0(), h).is_none());
        }
    }
    assert_eq!(m.stats().malformed, 5000);
    assert_eq!(m.stats().unsupported, 1000);
    assert!(m.handle(t0(), &valid).is_some());
}

#[test]
fn frames_for_other_objects_and_responses_are_ignored() {
    let mut m = Meter::new(MeterConfig::default(), 0, 0, t0());
    let other = Message::get(1, CONTROLLER, Eoj::new(0x02, 0x88, 0x01), &[0xE0]);
    assert!(ask(&mut m, t0(), other).is_none());
    let response = msg(1, Esv::GetRes, vec![Property::new(0xE0, vec![0; 4])]);
    assert!(ask(&mut m, t0(), response).is_none());
    assert_eq!(m.stats().ignored, 2);
    // Instance 0 addresses every instance of the class.
    let r = get(&mut m, t0(), Eoj::new(0x02, 0x8E, 0x00), &[0x80]);
    assert_eq!(r.seoj, METER_EOJ);
}

#[test]
fn announcement_is_an_inf_of_the_instance_list() {
    let mut m = Meter::new(MeterConfig::default(), 0, 0, t0());
    let Repr::Specified(a) = Repr::parse_bytes(&m.announcement()).unwrap() else {
        panic!("format 2")
    };
    assert_eq!(
        (a.esv, a.seoj, a.deoj),
        (Esv::Inf, Eoj::NODE_PROFILE, Eoj::NODE_PROFILE)
    );
    assert_eq!(
        a.props,
        vec![Property::new(0xD5, vec![1, 0x02, 0x8E, 0x01])]
    );
}

#[test]
fn state_survives_a_save_and_restore() {
    let mut m = Meter::new(constant(1000.0, 0.0), 0, 0, t0());
    m.advance(t0() + Duration::hours(2));
    let saved = serde_json::to_string(m.state()).unwrap();
    let state: MeterState = serde_json::from_str(&saved).unwrap();
    let mut back = Meter::from_state(constant(1000.0, 0.0), state);
    assert_eq!(back.state(), m.state());
    let r = get(&mut back, t0() + Duration::hours(2), METER_EOJ, &[0xE0]);
    assert_eq!(r.props[0].edt, 2000u32.to_be_bytes());
}

proptest! {
    #[test]
    fn sec06_random_datagrams_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let mut m = Meter::new(MeterConfig::default(), 0, 0, t0());
        if let Some(r) = m.handle(t0(), &bytes) {
            // Whatever we answer is itself a well-formed frame.
            prop_assert!(Repr::parse_bytes(&r).is_ok());
        }
    }

    #[test]
    fn every_listed_property_answers_a_valid_value(idx in 0usize..30, secs in 0i64..200_000) {
        let mut m = Meter::new(MeterConfig::default(), 999_000_000, 0, t0());
        let epc = Meter::get_map().iter().nth(idx).unwrap();
        let r = get(&mut m, t0() + Duration::seconds(secs), METER_EOJ, &[epc]);
        prop_assert_eq!(r.esv, Esv::GetRes);
        let v = Value::decode(METER, epc, &r.props[0].edt);
        prop_assert!(v.is_ok(), "{:02X}: {:?}", epc, v);
    }
}
