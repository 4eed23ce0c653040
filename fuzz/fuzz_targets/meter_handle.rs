//! A sequence of datagrams from the LAN to the emulated meter (SEC-06): it must never
//! panic, must answer only with well-formed frames, and must answer nothing that is not a
//! well-formed request for one of its objects. Input: datagrams separated by a length
//! byte each, so that state built by one (a Set) meets the next.
#![no_main]

use chrono::{Duration, TimeZone, Utc};
use echonet::Repr;
use libfuzzer_sys::fuzz_target;
use nodes::meter::{Meter, MeterConfig};

fuzz_target!(|data: &[u8]| {
    let t0 = Utc.with_ymd_and_hms(2026, 11, 25, 0, 0, 0).unwrap();
    let mut meter = Meter::new(MeterConfig::default(), 999_999_000, 0, t0);
    let mut rest = data;
    let mut now = t0;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (datagram, tail) = tail.split_at(len);
        rest = tail;
        now += Duration::seconds(7);
        let reply = meter.handle(now, datagram);
        let request = Repr::parse_bytes(datagram);
        if let Some(reply) = reply {
            let Ok(Repr::Specified(req)) = request else {
                panic!("answered a datagram that is not a format 1 frame");
            };
            assert!(req.esv.is_request() || req.esv == echonet::Esv::Infc, "answered {:?}", req.esv);
            let Ok(Repr::Specified(answer)) = Repr::parse_bytes(&reply) else {
                panic!("reply is not a well-formed frame");
            };
            assert_eq!(answer.tid, req.tid);
            assert_eq!(answer.deoj, req.seoj);
        }
    }
});
