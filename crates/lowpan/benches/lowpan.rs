//! Criterion benchmarks of the 6LoWPAN + UDP path (issue 6's figure "a full 6LoWPAN + UDP
//! encode/decode"): what a sender and a receiver do with one UDP datagram between
//! EUI-64-derived link-local addresses, MAC framing and CCM* excluded (`wisun`'s bench
//! times those).
//!
//! Group `lowpan_udp`, `Throughput::Elements(1)` (one datagram encoded and decoded per
//! iteration):
//!
//! - `unfragmented_100`: a 91-byte UDP payload to port 4059 in one 100-byte 6LoWPAN
//!   packet (the MAC payload of `wisun`'s frame bench): `Encoder::encode` (UDP checksum,
//!   IPHC + NHC UDP), then `Reassembler::receive` (decompression, rebuilt IPv6 datagram, checksum
//!   check, the packet's payload copied out).
//! - `fragmented_1232`: the largest UDP payload, 1232 bytes, in 94-byte MAC payloads (a
//!   127-byte frame with extended addresses, the destination PAN, CCM* level 5 with key
//!   identifier mode 1 and CRC-16): 15 fragments encoded, then reassembled in order.
//!
//! Before timing, the bench checks that the datagram comes back equal.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use lowpan::{Encoder, LinkAddress, Packet, Reassembler, UdpDatagram};

const TERMINAL: LinkAddress = LinkAddress::Extended([2, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 2]);
const METER: LinkAddress = LinkAddress::Extended([2, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 1]);
/// 127 − MAC header (21) − auxiliary security header (6) − MIC (4) − FCS (2).
const BUDGET_SECURED_127: usize = 94;
/// IPHC (2) + NHC UDP (7) + 91 payload bytes: exactly one 100-byte packet.
const UNFRAGMENTED_BUDGET: usize = 100;

fn datagram(len: usize) -> Packet {
    let payload = (0..len).map(|i| (i * 31 + 7) as u8).collect();
    Packet::Udp(UdpDatagram::link_local(
        TERMINAL, METER, 4059, 4059, payload,
    ))
}

/// Encode and decode `packet` once; the tag and the clock advance so no two datagrams
/// look alike to the reassembler.
fn round_trip(
    encoder: &mut Encoder,
    reassembler: &mut Reassembler,
    now: &mut Duration,
    packet: &Packet,
    budget: usize,
) -> Option<Packet> {
    *now += Duration::from_millis(1);
    let pieces = encoder
        .encode(packet, TERMINAL, METER, budget)
        .expect("encode");
    let mut out = None;
    for piece in &pieces {
        out = reassembler
            .receive(*now, TERMINAL, METER, piece)
            .expect("receive");
    }
    out
}

fn check(packet: &Packet, budget: usize, fragments: usize) {
    let pieces = Encoder::new(0)
        .encode(packet, TERMINAL, METER, budget)
        .expect("encode");
    assert_eq!(pieces.len(), fragments, "fragment count");
    let mut now = Duration::ZERO;
    let got = round_trip(
        &mut Encoder::new(0),
        &mut Reassembler::default(),
        &mut now,
        packet,
        budget,
    );
    assert_eq!(got.as_ref(), Some(packet), "round trip");
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("lowpan_udp");
    group.throughput(Throughput::Elements(1));
    for (name, packet, budget) in [
        ("unfragmented_100", datagram(91), UNFRAGMENTED_BUDGET),
        ("fragmented_1232", datagram(1232), BUDGET_SECURED_127),
    ] {
        let mut encoder = Encoder::new(0);
        let mut reassembler = Reassembler::default();
        let mut now = Duration::ZERO;
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(round_trip(
                    &mut encoder,
                    &mut reassembler,
                    &mut now,
                    black_box(&packet),
                    budget,
                ))
            });
        });
    }
    group.finish();
}

fn main() {
    check(&datagram(91), UNFRAGMENTED_BUDGET, 1);
    check(&datagram(1232), BUDGET_SECURED_127, 15);
    // Short defaults, as the other benches; command-line flags still override them.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench(&mut c);
    c.final_summary();
}
