//! Known answers (RAD-01): the 6LoWPAN part of the reference frames in the spec notes
//! (`wisun-han.md` §3 and Appendix B, built by `wisun-han-vectors/mkframes.py` with
//! scapy's UDP checksum), reproduced from the same inputs and decoded back.

mod support;

use std::time::Duration;

use lowpan::{Encoder, LinkAddress, Packet, Reassembler, UdpDatagram};
use support::{
    data_frame, hex, DATA_PLAINTEXT, DATA_UDP_PAYLOAD, ECHONET_FRAME, ECHONET_PAYLOAD, METER,
    TERMINAL,
};

fn encode_one(src: LinkAddress, dst: LinkAddress, port: u16, payload: &str) -> Vec<u8> {
    let packet = Packet::Udp(UdpDatagram::link_local(src, dst, port, port, hex(payload)));
    let mut pieces = Encoder::new(0)
        .encode(&packet, src, dst, 100)
        .expect("encode");
    assert_eq!(pieces.len(), 1, "fits one frame");
    pieces.remove(0)
}

#[test]
fn rad01_reproduces_the_plain_echonet_frame_of_appendix_b() {
    let lowpan = encode_one(METER, TERMINAL, 3610, ECHONET_PAYLOAD);
    // IPHC 7f33 | UDP NHC f0 0e1a 0e1a, checksum 37d0 | ECHONET Lite
    assert_eq!(
        support::to_hex(&lowpan),
        format!("7f33f00e1a0e1a37d0{ECHONET_PAYLOAD}")
    );
    let frame = data_frame(4, TERMINAL, METER, None, &lowpan);
    assert_eq!(support::to_hex(&frame), ECHONET_FRAME);
}

#[test]
fn rad01_reproduces_the_plaintext_of_the_secured_data_frame() {
    let lowpan = encode_one(TERMINAL, METER, 4059, DATA_UDP_PAYLOAD);
    assert_eq!(support::to_hex(&lowpan), DATA_PLAINTEXT);
}

#[test]
fn rad01_decodes_the_reference_payloads() {
    let mut r = Reassembler::default();
    let frame = hex(ECHONET_FRAME);
    // MAC header: FCF, sequence number, two extended addresses, no PAN IDs (PAN ID
    // Compression with extended/extended); the FCS at the end
    let echonet = &frame[19..frame.len() - 2];
    let got = r
        .receive(Duration::ZERO, METER, TERMINAL, echonet)
        .expect("decode")
        .expect("complete");
    assert_eq!(
        got,
        Packet::Udp(UdpDatagram::link_local(
            METER,
            TERMINAL,
            3610,
            3610,
            hex(ECHONET_PAYLOAD)
        ))
    );
    assert_eq!(
        got.src(),
        "fe80::11:2233:4455:1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
    );
    let got = r
        .receive(Duration::ZERO, TERMINAL, METER, &hex(DATA_PLAINTEXT))
        .expect("decode")
        .expect("complete");
    assert_eq!(
        got,
        Packet::Udp(UdpDatagram::link_local(
            TERMINAL,
            METER,
            4059,
            4059,
            hex(DATA_UDP_PAYLOAD)
        ))
    );
}
