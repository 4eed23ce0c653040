//! Interop with Wireshark (tshark 4.0, RAD-01): 802.15.4-2015 data frames carrying our
//! 6LoWPAN — an unfragmented ECHONET Lite datagram, a 1000-byte UDP datagram to port
//! 4059 fragmented into 127-byte frames, ICMPv6 echo request (to ff02::1, link broadcast)
//! and reply, a fragmented echo, and UDP with 4-bit compressed ports — in a link type 195
//! pcap (IEEE 802.15.4 with FCS). tshark must reassemble the fragments, find every UDP
//! checksum correct, and report no malformed packet and no expert warning.
//!
//! Skipped (listed in the `SKIPPED (n):` block of `scripts/test`) only when tshark is
//! missing and `CI` is unset; under `CI=1` a missing tshark fails the test.

mod support;

use std::path::PathBuf;
use std::process::Command;

use lowpan::{Echo, EchoKind, Encoder, LinkAddress, Packet, UdpDatagram, HOP_LIMIT};
use support::{data_frame, hex, to_hex, BUDGET_127, ECHONET_PAYLOAD, METER, PAN, TERMINAL};

/// pcap link type: IEEE 802.15.4 with FCS.
const LINKTYPE_IEEE802_15_4_WITHFCS: u32 = 195;

fn tshark_present() -> bool {
    match Command::new("tshark").arg("--version").output() {
        Ok(o) => o.status.success(),
        Err(_) => false,
    }
}

/// `None` when the test should be skipped (listed by `scripts/test`; a failure under
/// CI: [`support::skips::skip`]).
fn tshark_or_skip() -> Option<()> {
    if tshark_present() {
        return Some(());
    }
    support::skips::skip("tshark not found (scripts/test installs it)");
    None
}

/// The 1000-byte UDP payload to port 4059.
fn big_payload() -> Vec<u8> {
    (0..1000u32).map(|i| (i * 7 + 3) as u8).collect()
}

fn echo(src: LinkAddress, dst: std::net::Ipv6Addr, kind: EchoKind, len: usize) -> Packet {
    Packet::Echo(Echo {
        src: src.link_local(),
        dst,
        hop_limit: HOP_LIMIT,
        kind,
        ident: 0x4242,
        seq_no: 1,
        data: (0..len).map(|i| i as u8).collect(),
    })
}

/// Every frame of the capture, in order, with FCS.
fn frames() -> Vec<Vec<u8>> {
    let mut term = Encoder::new(0x0100);
    let mut meter = Encoder::new(0x0200);
    let all_nodes: std::net::Ipv6Addr = "ff02::1".parse().unwrap();
    let mut out = Vec::new();
    let mut seq = 0u8;
    let mut send = |enc: &mut Encoder, src: LinkAddress, dst: LinkAddress, p: Packet| {
        for piece in enc.encode(&p, src, dst, BUDGET_127).expect("encode") {
            seq = seq.wrapping_add(1);
            let frame = data_frame(seq, dst, src, Some(PAN), &piece);
            assert!(frame.len() <= 127, "frame of {} bytes", frame.len());
            out.push(frame);
        }
    };
    send(
        &mut meter,
        METER,
        TERMINAL,
        Packet::Udp(UdpDatagram::link_local(
            METER,
            TERMINAL,
            3610,
            3610,
            hex(ECHONET_PAYLOAD),
        )),
    );
    send(
        &mut term,
        TERMINAL,
        METER,
        Packet::Udp(UdpDatagram::link_local(
            TERMINAL,
            METER,
            4059,
            4059,
            big_payload(),
        )),
    );
    send(
        &mut term,
        TERMINAL,
        LinkAddress::BROADCAST,
        echo(TERMINAL, all_nodes, EchoKind::Request, 16),
    );
    send(
        &mut meter,
        METER,
        TERMINAL,
        echo(METER, TERMINAL.link_local(), EchoKind::Reply, 16),
    );
    send(
        &mut term,
        TERMINAL,
        METER,
        echo(TERMINAL, METER.link_local(), EchoKind::Request, 300),
    );
    send(
        &mut term,
        TERMINAL,
        METER,
        Packet::Udp(UdpDatagram::link_local(
            TERMINAL,
            METER,
            0xf0b1,
            0xf0b2,
            b"short ports".to_vec(),
        )),
    );
    out
}

fn write_pcap(name: &str, frames: &[Vec<u8>]) -> PathBuf {
    // Per process: other checkouts may share the target directory.
    let path =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{name}", std::process::id()));
    std::fs::write(&path, support::pcap(LINKTYPE_IEEE802_15_4_WITHFCS, frames))
        .expect("write pcap");
    path
}

fn tshark(path: &PathBuf, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-o", "udp.check_checksum:TRUE"])
        .args(args)
        .output()
        .expect("run tshark");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// What tshark says about each frame, one `|`-separated row per frame.
fn fields(path: &PathBuf, names: &[&str]) -> Vec<Vec<String>> {
    let mut args = vec!["-T", "fields", "-E", "separator=|"];
    for n in names {
        args.extend(["-e", n]);
    }
    tshark(path, &args)
        .lines()
        .map(|l| l.split('|').map(str::to_owned).collect())
        .collect()
}

/// The frames tshark finds malformed or with an expert warning or error.
fn complaints(path: &PathBuf) -> String {
    tshark(
        path,
        &["-Y", r#"_ws.malformed || _ws.expert.severity >= "warning""#],
    )
}

const FIELDS: [&str; 12] = [
    "wpan.fcs_ok",
    "6lowpan.reassembled.length",
    "6lowpan.fragment.count",
    "ipv6.src",
    "ipv6.dst",
    "udp.srcport",
    "udp.dstport",
    "udp.length",
    "udp.checksum.status",
    "icmpv6.type",
    "icmpv6.checksum.status",
    "data.data",
];

#[test]
fn rad01_tshark_reassembles_our_6lowpan_and_finds_udp_checksums_good() {
    if tshark_or_skip().is_none() {
        return;
    }
    let frames = frames();
    let path = write_pcap("lowpan_tshark_interop.pcap", &frames);
    assert_eq!(complaints(&path), "", "malformed or expert warnings");

    let rows = fields(&path, &FIELDS);
    assert_eq!(rows.len(), frames.len(), "one row per frame");
    assert!(rows.iter().all(|r| r[0] == "1"), "every FCS correct");
    // The rows where tshark shows IPv6: one per datagram, in the last fragment's frame.
    let datagrams: Vec<Vec<&str>> = rows
        .iter()
        .filter(|r| !r[3].is_empty())
        .map(|r| r[1..].iter().map(String::as_str).collect())
        .collect();
    let (term, meter) = ("fe80::11:2233:4455:2", "fe80::11:2233:4455:1");
    let big = to_hex(&big_payload());
    let echo_data = to_hex(&(0..16u8).collect::<Vec<_>>());
    let expected: Vec<Vec<&str>> = vec![
        // reassembled length, fragments, src, dst, sport, dport, UDP length,
        // UDP checksum status (1 = good), ICMPv6 type, ICMPv6 checksum status, data
        vec![
            "",
            "",
            meter,
            term,
            "3610",
            "3610",
            "22",
            "1",
            "",
            "",
            ECHONET_PAYLOAD,
        ],
        vec![
            "1048", "11", term, meter, "4059", "4059", "1008", "1", "", "", &big,
        ],
        vec![
            "", "", term, "ff02::1", "", "", "", "", "128", "1", &echo_data,
        ],
        vec!["", "", meter, term, "", "", "", "", "129", "1", &echo_data],
        vec!["348", "4", term, meter, "", "", "", "", "128", "1", ""],
        vec![
            "",
            "",
            term,
            meter,
            "61617",
            "61618",
            "19",
            "1",
            "",
            "",
            "73686f727420706f727473",
        ],
    ];
    // the 300-byte echo's data is checked by length only (tshark's data field)
    let mut got = datagrams.clone();
    got[4][10] = "";
    assert_eq!(got, expected);
    assert_eq!(datagrams[4][10].len(), 600, "300 bytes of echo data");
}

/// The check above can fail: a datagram with one wrong byte shows up as a bad UDP
/// checksum and is caught by the complaints filter.
#[test]
fn rad01_tshark_flags_a_bad_udp_checksum() {
    if tshark_or_skip().is_none() {
        return;
    }
    let mut frames = frames();
    let first = &mut frames[0];
    let payload_end = first.len() - 2;
    first[payload_end - 1] ^= 0x01;
    let fcs = support::crc16_kermit(&first[..payload_end]);
    first[payload_end..].copy_from_slice(&fcs.to_le_bytes());
    let path = write_pcap("lowpan_tshark_bad_checksum.pcap", &frames);
    let complaints = complaints(&path);
    assert_eq!(complaints.lines().count(), 1, "{complaints}");
    let rows = fields(&path, &["wpan.fcs_ok", "udp.checksum.status"]);
    assert_eq!(rows[0], ["1", "0"], "FCS good, UDP checksum bad");
}
