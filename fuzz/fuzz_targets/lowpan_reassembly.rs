//! A sequence of 6LoWPAN packets and fragments from three link sources into one
//! Reassembler with small limits (RAD-01, SEC-06): never a panic, never more datagrams
//! in reassembly than the limit, and nothing left after the timeout.
//!
//! Input: records `ctrl len bytes[len]`; `ctrl & 3` picks the source (3 = the
//! terminal again), `ctrl >> 2` advances the clock by that many 100 ms steps.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use lowpan::{Config, LinkAddress, Reassembler};

const TERMINAL: LinkAddress = LinkAddress::Extended([2, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 2]);
const METER: LinkAddress = LinkAddress::Extended([2, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 1]);
const SOURCES: [LinkAddress; 4] = [
    TERMINAL,
    LinkAddress::Short(0x0001),
    LinkAddress::Extended([7; 8]),
    TERMINAL,
];

fuzz_target!(|data: &[u8]| {
    let config = Config {
        max_per_source: 2,
        max_total: 3,
        ..Config::default()
    };
    let mut r = Reassembler::new(config);
    let mut now = Duration::ZERO;
    let mut rest = data;
    while let [ctrl, len, tail @ ..] = rest {
        let take = usize::from(*len).min(tail.len());
        let (bytes, next) = tail.split_at(take);
        rest = next;
        now += Duration::from_millis(100 * u64::from(ctrl >> 2));
        let _ = r.receive(now, SOURCES[usize::from(ctrl & 3)], METER, bytes);
        assert!(
            r.in_reassembly() <= config.max_total,
            "total limit exceeded"
        );
    }
    r.expire(now + config.timeout);
    assert_eq!(
        r.in_reassembly(),
        0,
        "partial datagrams outlive the timeout"
    );
});
