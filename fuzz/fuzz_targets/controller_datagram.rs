//! Datagrams from anyone to the terminal-side controller while it waits for a meter
//! reading (SEC-06): never a panic, never a reading from another address than the
//! meter's, and at most one final event for the request.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use nodes::controller::{Controller, ControllerConfig, Event};
use nodes::meter::METER_EOJ;

fuzz_target!(|data: &[u8]| {
    let meter = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let stranger = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 66));
    let config = ControllerConfig {
        first_tid: 0x0100,
        ..ControllerConfig::default()
    };
    let mut c = Controller::new(config);
    let t0 = Instant::now();
    let id = c.read_meter(t0, meter, METER_EOJ).expect("request starts");
    while c.poll_transmit().is_some() {}
    let mut finals = 0;
    let mut rest = data;
    let mut step = 0u64;
    while let Some((&head, tail)) = rest.split_first() {
        // Low bits: length; top bit: which address it comes from.
        let len = usize::from(head & 0x7F).min(tail.len());
        let from = if head & 0x80 == 0 { meter } else { stranger };
        let (datagram, tail) = tail.split_at(len);
        rest = tail;
        step += 1;
        let now = t0 + Duration::from_millis(300 * step);
        c.handle_datagram(now, SocketAddr::new(from, 3610), datagram);
        c.handle_timeout(now);
        while c.poll_transmit().is_some() {}
        while let Some(event) = c.poll_event() {
            assert_eq!(event.id(), Some(id), "event for a request never made: {event:?}");
            if let Event::MeterRead { result: Ok(r), .. } = &event {
                assert_eq!(r.from, meter, "reading accepted from a stranger");
            }
            if event.is_final() {
                finals += 1;
            }
        }
    }
    assert!(finals <= 1, "{finals} final events for one request");
});
