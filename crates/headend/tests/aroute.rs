//! The A route end to end between the smart meter's relay (`nodes::app::relay`) and the
//! head end's link (`headend::aroute`), over a byte pipe: registration, relayed pushes,
//! backfills in several messages, refusals; and (SEC-01, SEC-04) whatever comes from the
//! IoT route, what reaches the head end is only the relay's own messages about the
//! terminals the head end registered.

use chrono::{DateTime, FixedOffset, TimeZone, Utc};
use dlms::apdu::ActionResult;
use dlms::cipher::{Keys, SystemTitle, GREEN_BOOK_AK, GREEN_BOOK_EK};
use dlms::relay::message::{Arrival, Command, Outcome, Uplink};
use headend::aroute::{FromSmartMeter, SmartMeterLink};
use nodes::app::push::{read_push, PushKind, Pushed};
use nodes::app::reader::RowRead;
use nodes::app::relay::SmartMeterRelay;
use proptest::prelude::*;

const SM: [u8; 8] = [0x02, 0xAA, 0xBB, 0xCC, 0xDD, 0, 0, 1];
const HES: SystemTitle = SystemTitle(*b"HES\x00\x00\x00\x00\x01");
const T1: [u8; 8] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 1];
const T2: [u8; 8] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 2];

fn keys() -> Keys {
    Keys::from_slices(&GREEN_BOOK_EK, &GREEN_BOOK_AK).unwrap()
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 31, 15, 30, 5).unwrap()
}

fn ends() -> (SmartMeterRelay, SmartMeterLink) {
    (
        SmartMeterRelay::new(SystemTitle(SM), HES, keys(), 0, None),
        SmartMeterLink::new(HES, SystemTitle(SM), keys(), 0, None),
    )
}

/// The head end commands; the smart meter takes what it takes; the answers come back.
fn command(
    sm: &mut SmartMeterRelay,
    hes: &mut SmartMeterLink,
    c: &Command,
) -> (Vec<Command>, ActionResult) {
    let id = hes.command(c).unwrap();
    let taken = sm.received(&hes.take_output()).unwrap();
    let answers = hes.received(&sm.take_output()).unwrap();
    let [FromSmartMeter::Answer { invoke_id, result }] = answers.as_slice() else {
        panic!("{answers:?}");
    };
    assert_eq!(*invoke_id, id);
    (taken, *result)
}

fn messages(sm: &mut SmartMeterRelay, hes: &mut SmartMeterLink) -> Vec<Uplink> {
    hes.received(&sm.take_output())
        .unwrap()
        .into_iter()
        .map(|m| match m {
            FromSmartMeter::Message(m) => m,
            other => panic!("{other:?}"),
        })
        .collect()
}

fn jst(h: u32, m: u32, s: u32) -> DateTime<FixedOffset> {
    FixedOffset::east_opt(9 * 3600)
        .unwrap()
        .with_ymd_and_hms(2026, 4, 1, h, m, s)
        .unwrap()
}

fn slot_push(at: DateTime<FixedOffset>, wh: u32) -> Pushed {
    Pushed {
        number: 1,
        captured_at: Some(at),
        what: PushKind::Slot {
            energy_in_wh: Some(wh),
            energy_out_wh: Some(3),
            status: Some(0),
        },
    }
}

fn register(terminal: [u8; 8]) -> Command {
    Command::Register {
        terminal,
        pairing_id: *b"IOT00901",
        secret: b"secret-1".to_vec(),
        interval_min: 30,
        switched: None,
    }
}

#[test]
fn sys03_registered_terminals_are_relayed_and_commanded_and_others_are_not() {
    let (mut sm, mut hes) = ends();
    sm.connected(now(), |_| false);
    assert_eq!(
        messages(&mut sm, &mut hes),
        vec![Uplink::Hello { terminals: vec![] }]
    );

    let (taken, result) = command(&mut sm, &mut hes, &register(T1));
    assert_eq!((taken, result), (vec![register(T1)], ActionResult::Success));
    assert_eq!(sm.held(T1).unwrap().secret, b"secret-1");
    let backfill_t2 = Command::Backfill {
        request: 9,
        terminal: T2,
        from: now(),
        to: now(),
    };
    let (taken, result) = command(&mut sm, &mut hes, &backfill_t2);
    assert_eq!((taken.len(), result), (0, ActionResult::ObjectUnavailable));

    // A slot push of T1, read 4 s after 00:30 JST: its row is the 00:30 boundary's.
    sm.pushed(T1, &slot_push(jst(0, 30, 4), 1234), now());
    sm.pushed(T2, &slot_push(jst(0, 30, 4), 99), now());
    let got = messages(&mut sm, &mut hes);
    let [Uplink::Readings {
        terminal,
        arrival,
        request,
        rows,
    }] = got.as_slice()
    else {
        panic!("{got:?}");
    };
    assert_eq!((*terminal, *arrival, *request), (T1, Arrival::Pushed, 0));
    assert_eq!(rows[0].at, jst(0, 30, 0).with_timezone(&Utc));
    assert_eq!(
        (rows[0].in_wh, rows[0].out_wh, rows[0].interval_min),
        (1234, 3, 30)
    );
    assert_eq!(sm.stats().unregistered, 1, "T2's push was dropped");

    // A backfill of 200 rows comes as 192 + 8, then its end.
    let backfill = Command::Backfill {
        request: 7,
        terminal: T1,
        from: now(),
        to: now(),
    };
    let (taken, _) = command(&mut sm, &mut hes, &backfill);
    assert_eq!(taken, vec![backfill]);
    let rows: Vec<RowRead> = (0..200)
        .map(|k| RowRead {
            time: jst(0, 0, 0) + chrono::TimeDelta::minutes(30 * k),
            ac_in_wh: Some(u32::try_from(k).unwrap()),
            ac_out_wh: if k == 5 { None } else { Some(0) },
            status: Some(0),
        })
        .collect();
    sm.backfilled(T1, 7, &rows, now());
    let got = messages(&mut sm, &mut hes);
    assert_eq!(got.len(), 3);
    let sizes: Vec<usize> = got
        .iter()
        .filter_map(|m| match m {
            Uplink::Readings {
                rows,
                arrival: Arrival::Backfilled,
                request: 7,
                ..
            } => Some(rows.len()),
            _ => None,
        })
        .collect();
    assert_eq!(sizes, vec![192, 8]);
    let Uplink::Readings { rows, .. } = &got[0] else {
        panic!()
    };
    assert_eq!(
        rows[5].status & 0x04,
        0x04,
        "a row missing a value is not valid"
    );
    assert_eq!(
        got[2],
        Uplink::Done {
            request: 7,
            outcome: Outcome::Done,
            text: String::new()
        }
    );

    // Blocked: its pushes stop.
    command(
        &mut sm,
        &mut hes,
        &Command::Block {
            request: 8,
            terminal: T1,
        },
    );
    sm.pushed(T1, &slot_push(jst(1, 0, 4), 1300), now());
    assert!(messages(&mut sm, &mut hes).is_empty());
}

#[test]
fn sec02_frames_replayed_or_forged_on_the_a_route_are_refused_both_ways() {
    let (mut sm, mut hes) = ends();
    command(&mut sm, &mut hes, &register(T1));
    sm.pushed(T1, &slot_push(jst(0, 30, 4), 1), now());
    let bytes = sm.take_output();
    assert_eq!(hes.received(&bytes).unwrap().len(), 1);
    assert_eq!(hes.received(&bytes).unwrap().len(), 0, "replayed");
    assert_eq!(hes.refused, 1);
    // A command sealed by someone else than the head end.
    let mut stranger = SmartMeterLink::new(
        SystemTitle(*b"XXX\x00\x00\x00\x00\x09"),
        SystemTitle(SM),
        keys(),
        500,
        None,
    );
    stranger.command(&Command::Forget { terminal: T1 }).unwrap();
    assert!(sm.received(&stranger.take_output()).unwrap().is_empty());
    assert_eq!(sm.stats().refused, 1);
    assert!(sm.held(T1).is_some());
}

/// A datagram to the smart meter's DLMS port: bytes, or a well-formed push (a wrapper
/// frame to the management client with a Data-Notification) of any body — slot-like,
/// event-like or other.
fn datagram() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        any::<u32>().prop_map(dlms::Data::DoubleLongUnsigned),
        any::<u16>().prop_map(dlms::Data::LongUnsigned),
        any::<u8>().prop_map(dlms::Data::Unsigned),
        prop::collection::vec(any::<u8>(), 0..24).prop_map(dlms::Data::OctetString),
    ];
    let body = prop::collection::vec(value, 0..6).prop_map(dlms::Data::Structure);
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..120),
        (body, any::<bool>()).prop_map(|(body, dated)| {
            let mut sender = dlms::push::PushSender::new(None, None, SystemTitle(T1), 0).unwrap();
            let at = dated.then(|| dlms::CosemDateTime::from_chrono(&jst(0, 30, 4)));
            let apdu = sender.notify(at, &body).unwrap();
            dlms::wrapper::Wpdu::new(1, dlms::push::PUSH_DESTINATION_WPORT, &apdu)
                .emit()
                .unwrap()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// SEC-01, SEC-04: arbitrary datagrams from the IoT route (anything a terminal or an
    /// intruder on the link could send the smart meter's DLMS port) go through what the
    /// smart meter does with them; the head end receives nothing but well-formed
    /// messages of the relay, each about a terminal it registered — never the bytes.
    #[test]
    fn sec01_sec04_nothing_from_the_iot_route_reaches_the_head_end_but_relay_messages(
        datagrams in prop::collection::vec(datagram(), 1..20),
        from_t1 in prop::collection::vec(any::<bool>(), 20),
    ) {
        let (mut sm, mut hes) = ends();
        command(&mut sm, &mut hes, &register(T1));
        for (i, d) in datagrams.iter().enumerate() {
            let terminal = if from_t1[i % from_t1.len()] { T1 } else { T2 };
            if let Some(Ok(pushed)) = read_push(d) {
                sm.pushed(terminal, &pushed, now());
            }
        }
        let out = sm.take_output();
        for d in &datagrams {
            if d.len() >= 8 {
                prop_assert!(!out.windows(d.len()).any(|w| w == d.as_slice()), "a datagram's bytes on the A route");
            }
        }
        for m in hes.received(&out).unwrap() {
            let FromSmartMeter::Message(m) = m else { panic!("{m:?}") };
            match m {
                Uplink::Readings { terminal, .. } | Uplink::Event { terminal, .. } => prop_assert_eq!(terminal, T1),
                other => prop_assert!(false, "{:?}", other),
            }
        }
        prop_assert_eq!(hes.refused, 0);
    }
}

/// OPS-06 (ours): the smart meter keeps an event until the head end says it took it: a
/// new connection's hello is followed by it again, with its number; once taken, it is
/// not sent again; at most `EVENTS_KEPT` wait, the oldest dropped and counted.
#[test]
fn ops06_the_smart_meter_sends_an_event_again_until_the_head_end_took_it() {
    use dlms::relay::message::own_event;
    let (mut sm, mut hes) = ends();
    sm.connected(now(), |_| false);
    messages(&mut sm, &mut hes);
    sm.own_event(T1, own_event::AUTH_FAILURE, vec![], now());
    drop(sm.take_output()); // lost with the connection
    sm.connected(now(), |_| false);
    hes.reconnected();
    let got = messages(&mut sm, &mut hes);
    let [Uplink::Hello { .. }, Uplink::Event { number, code, .. }] = got.as_slice() else {
        panic!("{got:?}");
    };
    assert_eq!(*code, own_event::AUTH_FAILURE);
    hes.took_events(*number).unwrap();
    assert!(sm.received(&hes.take_output()).unwrap().is_empty());
    assert_eq!(sm.untaken(), 0);
    sm.connected(now(), |_| false);
    hes.reconnected();
    assert_eq!(
        messages(&mut sm, &mut hes),
        vec![Uplink::Hello { terminals: vec![] }]
    );
    for _ in 0..nodes::app::relay::EVENTS_KEPT + 3 {
        sm.own_event(T1, own_event::AUTH_FAILURE, vec![], now());
    }
    assert_eq!(sm.untaken(), nodes::app::relay::EVENTS_KEPT);
    assert_eq!(sm.stats().events_dropped, 3);
}
