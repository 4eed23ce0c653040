//! One 6LoWPAN packet (RAD-01): IPHC + NHC UDP decompression, a FRAG1's headers, the
//! rebuilt IPv6 datagram and its UDP or ICMPv6 parse must never panic, and a packet we
//! accept must re-encode and decode to the same packet.
//!
//! Input: byte 0 picks the link source (by `% 3`) and destination (by `/ 3 % 3`) from
//! the tables below, as the MAC header would give them; the rest is the MAC payload.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use lowpan::{Encoder, LinkAddress, Reassembler};

const TERMINAL: LinkAddress = LinkAddress::Extended([2, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 2]);
const METER: LinkAddress = LinkAddress::Extended([2, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 1]);
const SOURCES: [LinkAddress; 3] = [TERMINAL, METER, LinkAddress::Short(0x0001)];
const DESTINATIONS: [LinkAddress; 3] = [METER, TERMINAL, LinkAddress::BROADCAST];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let src = SOURCES[usize::from(pick % 3)];
    let dst = DESTINATIONS[usize::from(pick / 3 % 3)];
    let mut r = Reassembler::default();
    let Ok(Some(packet)) = r.receive(Duration::ZERO, src, dst, bytes) else {
        return;
    };
    let pieces = Encoder::new(0)
        .encode(&packet, src, dst, 2047)
        .expect("an accepted packet re-encodes");
    assert_eq!(pieces.len(), 1, "a decoded packet fits 2047 bytes");
    let again = Reassembler::default()
        .receive(Duration::ZERO, src, dst, &pieces[0])
        .expect("re-encoded packet decodes");
    assert_eq!(again, Some(packet), "decode(encode(p)) differs");
});
