//! `iotroute air` as a process (RAD-01, the inter-process radio): UDP sockets standing in
//! for node processes send ZEP v2 packets to the hub, which forwards what the radio model
//! lets through.
//!
//! Address plan: this binary uses 127.0.170.0/24 - 127.0.179.0/24, one block per test;
//! the hub on `.1` at the ZEP port, the nodes on `.2` and up (ephemeral ports).

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sim::zep::{DataRepr, LqiMode, NtpTimestamp, ZepRepr, ZEP_PORT};
use support::{addr, iotroute, Running};
use wisun::mac::fcs::{self, FcsKind};

fn start_hub(block: u8, extra: &[&str]) -> (Running, SocketAddr) {
    let hub = SocketAddr::from((addr(block, 1), ZEP_PORT));
    let mut cmd = iotroute();
    cmd.args(["air", "--bind", &addr(block, 1).to_string(), "--seed", "3"])
        .args(extra);
    (Running::start(cmd, "listening"), hub)
}

/// A node: a socket on `127.0.block.host`.
struct Node {
    socket: UdpSocket,
    device_id: u16,
    hub: SocketAddr,
}

impl Node {
    fn new(block: u8, host: u8, device_id: u16, hub: SocketAddr) -> Node {
        let socket = UdpSocket::bind((addr(block, host), 0)).expect("bind node socket");
        Node {
            socket,
            device_id,
            hub,
        }
    }

    fn send(&self, channel: u8, psdu: &[u8]) {
        let packet = DataRepr::to_hub(self.device_id, channel, 0, psdu)
            .to_vec()
            .expect("ZEP packet");
        self.socket.send_to(&packet, self.hub).expect("send to hub");
    }

    /// Listen on `channel` (a tune packet).
    fn tune(&self, channel: u8) {
        let packet = DataRepr::tune(self.device_id, channel, 0).to_vec().unwrap();
        self.socket.send_to(&packet, self.hub).expect("send to hub");
    }

    /// The next packet within `wait`, if any.
    fn recv(&self, wait: Duration) -> Option<Vec<u8>> {
        self.socket
            .set_read_timeout(Some(wait))
            .expect("read timeout");
        let mut buf = [0u8; 2048];
        match self.socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                assert_eq!(from, self.hub, "a packet from someone else than the hub");
                Some(buf[..n].to_vec())
            }
            Err(_) => None,
        }
    }
}

/// A 2015 data frame (PAN ID compression, short addresses) with its CRC-16.
fn frame(seq: u8, payload_len: usize) -> Vec<u8> {
    let mut mpdu = vec![0x41, 0xA8, seq, 0xCD, 0xAB, 0x02, 0x00, 0x01, 0x00];
    mpdu.extend((0..payload_len).map(|i| (i as u8).wrapping_mul(7)));
    fcs::append(&mpdu, FcsKind::Crc16).expect("FCS")
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("iotroute-air-{}-{name}", std::process::id()))
}

fn read_stats(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("--json-stats written at exit");
    serde_json::from_str(&text).expect("one JSON object")
}

const WAIT: Duration = Duration::from_secs(5);
const QUIET: Duration = Duration::from_millis(500);

#[test]
fn rad01_air_delivers_a_near_frame_byte_identical_only_on_its_channel_and_in_range() {
    let block = 170;
    let pcap = temp_path("delivery.pcap");
    let stats = temp_path("delivery.json");
    let (hub_proc, hub) = start_hub(
        block,
        &[
            "--shadowing",
            "0",
            "--node",
            "1=0,0",
            "--node",
            "2=20,0",
            "--node",
            "3=0,20",
            "--node",
            "4=3000,0",
            "--pcap",
            pcap.to_str().unwrap(),
            "--json-stats",
            stats.to_str().unwrap(),
        ],
    );
    let a = Node::new(block, 2, 1, hub);
    let b = Node::new(block, 3, 2, hub);
    let c = Node::new(block, 4, 3, hub);
    let far = Node::new(block, 5, 4, hub);
    b.tune(33);
    c.tune(34);
    far.tune(33);
    a.tune(33);
    // The tunes are in the hub's queue ahead of the frame; the pause only spares a
    // retry on a very slow machine.
    std::thread::sleep(Duration::from_millis(100));
    let psdu = frame(1, 40);
    a.send(33, &psdu);

    let got = b
        .recv(WAIT)
        .expect("B (same channel, 20 m) receives A's frame");
    let ZepRepr::Data(d) = ZepRepr::parse(&got).expect("ZEP v2 from the hub") else {
        panic!("not a data packet");
    };
    assert_eq!(d.psdu, &psdu[..], "PSDU byte-identical, FCS included");
    assert_eq!((d.channel, d.device_id, d.mode), (33, 2, LqiMode::Crc));
    let rssi = d.rssi_dbm.expect("RSSI carried");
    // 13 dBm, 20 m, n = 3.5, no shadowing: about -64 dBm.
    assert!((-75..=-55).contains(&rssi), "RSSI {rssi} dBm");
    assert!((25..=60).contains(&d.lqi), "LQI {}", d.lqi);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let stamped = d.timestamp.to_unix();
    assert!(
        now.abs_diff(stamped) < Duration::from_secs(60),
        "timestamp {stamped:?} vs now {now:?}"
    );

    assert_eq!(c.recv(QUIET), None, "C listens on channel 34");
    assert_eq!(far.recv(QUIET), None, "the node 3 km away hears nothing");
    assert_eq!(a.recv(QUIET), None, "a sender does not hear itself");

    // A frame from C on 34 reaches nobody; B answers A on 33.
    c.send(34, &frame(2, 10));
    let reply = frame(3, 20);
    b.send(33, &reply);
    let got = a.recv(WAIT).expect("A receives B's frame");
    let Ok(ZepRepr::Data(d)) = ZepRepr::parse(&got) else {
        panic!("not a data packet");
    };
    assert_eq!((d.psdu, d.device_id), (&reply[..], 1));

    let lines = hub_proc.terminate_and_collect();
    assert!(
        lines.iter().any(|l| l.contains("air: 3 frames")),
        "summary at exit: {lines:?}"
    );
    let s = read_stats(&stats);
    assert_eq!(s["frames"], 3, "{s}");
    assert_eq!(s["deliveries"], 2, "{s}");
    assert_eq!(s["tunes"], 4, "{s}");
    assert_eq!(s["nodes"], 4, "{s}");

    let file = std::fs::read(&pcap).expect("pcap written");
    let (linktype, records) = wisun::pcap::read(&file).expect("a pcap we read");
    assert_eq!(linktype, 283);
    assert_eq!(records.len(), 3, "every frame on the air");
    if support::tshark_or_skip() {
        let out = Command::new("tshark")
            .args(["-r", pcap.to_str().unwrap(), "-T", "fields"])
            .args([
                "-e",
                "wpan-tap.ch_num",
                "-e",
                "wpan-tap.rss",
                "-e",
                "wpan.fcs_ok",
            ])
            .output()
            .expect("run tshark");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "tshark: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
        assert_eq!(rows.len(), 3, "{text}");
        let channels: Vec<&str> = rows.iter().map(|r| r[0]).collect();
        assert_eq!(channels, ["33", "34", "33"], "{text}");
        for r in [&rows[0], &rows[2]] {
            let rss: f64 = r[1].parse().unwrap_or_else(|_| panic!("RSS in {text}"));
            assert!((-80.0..-30.0).contains(&rss), "{text}");
        }
        for r in &rows {
            assert!(
                r.get(2).is_some_and(|f| *f == "1" || *f == "True"),
                "FCS good: {text}"
            );
        }
    }
    let _ = std::fs::remove_file(&pcap);
    let _ = std::fs::remove_file(&stats);
}

#[test]
fn rad01_air_overlapping_frames_collide() {
    let block = 171;
    let stats = temp_path("collide.json");
    let (hub_proc, hub) = start_hub(
        block,
        &[
            "--shadowing",
            "0",
            "--node",
            "1=0,0",
            "--node",
            "2=10,0",
            "--node",
            "3=20,0",
            "--json-stats",
            stats.to_str().unwrap(),
        ],
    );
    // A and C stand 10 m either side of B: equal power at B, far inside the capture
    // margin, so overlapping frames destroy each other there.
    let a = Node::new(block, 2, 1, hub);
    let b = Node::new(block, 3, 2, hub);
    let c = Node::new(block, 4, 3, hub);
    for n in [&a, &b, &c] {
        n.tune(33);
    }
    std::thread::sleep(Duration::from_millis(100));
    // 127-byte frames are 11.1 ms on the air; sent back to back they overlap unless the
    // machine stalls between the two sends, so a pair that did not overlap is tried again.
    let mut collided = false;
    for attempt in 0..5u8 {
        a.send(33, &frame(2 * attempt, 116));
        c.send(33, &frame(2 * attempt + 1, 116));
        let mut heard = 0;
        while b.recv(QUIET * 2).is_some() {
            heard += 1;
        }
        // Drain what A and C heard of each other (nothing when they overlapped).
        while a.recv(Duration::from_millis(50)).is_some() {}
        while c.recv(Duration::from_millis(50)).is_some() {}
        if heard == 0 {
            collided = true;
            break;
        }
        eprintln!("attempt {attempt}: the frames did not overlap ({heard} heard); again");
    }
    assert!(collided, "B received a frame of every overlapping pair");
    assert!(hub_proc.terminate().success());
    let s = read_stats(&stats);
    assert!(s["collided"].as_u64().unwrap() >= 2, "{s}");
    assert!(s["receiver_busy"].as_u64().unwrap() >= 2, "{s}");
    let _ = std::fs::remove_file(&stats);
}

#[test]
fn rad01_air_drops_malformed_and_oversized_packets_and_keeps_serving() {
    let block = 172;
    let stats = temp_path("malformed.json");
    let (hub_proc, hub) = start_hub(block, &["--json-stats", stats.to_str().unwrap()]);
    // Unplaced nodes stand on the 10 m ring: in range of each other.
    let a = Node::new(block, 2, 0x0101, hub);
    let b = Node::new(block, 3, 0x0102, hub);
    b.tune(40);
    a.socket.send_to(b"not zep", hub).unwrap();
    // A 128-byte PSDU: the length byte says 128, which ZEP cannot carry.
    let mut long = DataRepr::to_hub(0x0101, 40, 0, &[0u8; 127])
        .to_vec()
        .unwrap();
    long[31] = 128;
    long.push(0);
    a.socket.send_to(&long, hub).unwrap();
    let psdu = frame(9, 100);
    a.send(40, &psdu);
    let got = b.recv(WAIT).expect("the hub still forwards");
    let Ok(ZepRepr::Data(d)) = ZepRepr::parse(&got) else {
        panic!("not a data packet");
    };
    assert_eq!((d.psdu, d.channel, d.device_id), (&psdu[..], 40, 0x0102));
    assert!(hub_proc.terminate().success());
    let s = read_stats(&stats);
    assert_eq!(s["malformed"], 2, "{s}");
    assert_eq!(s["frames"], 1, "{s}");
    let _ = std::fs::remove_file(&stats);
}

/// One IPv4/UDP datagram (UDP checksum 0, allowed over IPv4) as a LINKTYPE_IPV4 record.
fn ipv4_udp(src: SocketAddr, dst: SocketAddr, payload: &[u8]) -> Vec<u8> {
    let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (src, dst) else {
        panic!("IPv4 only");
    };
    let total = u16::try_from(20 + 8 + payload.len()).unwrap();
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&src.ip().octets());
    ip.extend_from_slice(&dst.ip().octets());
    let sum = ip
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum::<u32>();
    let sum = (sum & 0xFFFF) + (sum >> 16);
    let sum = !(((sum & 0xFFFF) + (sum >> 16)) as u16);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    ip.extend_from_slice(&src.port().to_be_bytes());
    ip.extend_from_slice(&dst.port().to_be_bytes());
    ip.extend_from_slice(&(total - 20).to_be_bytes());
    ip.extend_from_slice(&[0, 0]);
    ip.extend_from_slice(payload);
    ip
}

#[test]
fn rad01_air_packets_both_ways_are_zep_v2_to_wireshark() {
    let block = 173;
    let (hub_proc, hub) = start_hub(block, &["--shadowing", "0"]);
    let a = Node::new(block, 2, 0x0A01, hub);
    let b = Node::new(block, 3, 0x0A02, hub);
    b.tune(45);
    std::thread::sleep(Duration::from_millis(100));
    let psdu = frame(0x5A, 60);
    let sent = DataRepr {
        channel: 45,
        device_id: 0x0A01,
        mode: LqiMode::Crc,
        lqi: 255,
        rssi_dbm: None,
        timestamp: NtpTimestamp::from_unix(Duration::from_secs(1_795_564_800)),
        sequence: 77,
        psdu: &psdu,
    }
    .to_vec()
    .unwrap();
    a.socket.send_to(&sent, hub).unwrap();
    let got = b.recv(WAIT).expect("B receives A's frame");
    drop(hub_proc);

    if !support::tshark_or_skip() {
        return;
    }
    let mut file = wisun::pcap::file_header(228).to_vec(); // LINKTYPE_IPV4
    let a_addr = a.socket.local_addr().unwrap();
    let b_addr = b.socket.local_addr().unwrap();
    wisun::pcap::record(&mut file, 1_795_564_800, 0, &ipv4_udp(a_addr, hub, &sent));
    wisun::pcap::record(
        &mut file,
        1_795_564_800,
        20_000,
        &ipv4_udp(hub, b_addr, &got),
    );
    let path = temp_path("zep.pcap");
    std::fs::write(&path, &file).unwrap();
    let fields = [
        "zep.version",
        "zep.type",
        "zep.channel_id",
        "zep.device_id",
        "zep.lqi_mode",
        "zep.seqno",
        "zep.length",
        "wpan.seq_no",
        "wpan.fcs_ok",
        "_ws.expert",
        "_ws.malformed",
    ];
    let mut cmd = Command::new("tshark");
    cmd.args([
        "-r",
        path.to_str().unwrap(),
        "-T",
        "fields",
        "-E",
        "separator=|",
    ]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().expect("run tshark");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("tshark:\n{text}");
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), 2, "{text}");
    let bool_true = |v: &str| v == "1" || v == "True";
    for (row, device_id) in rows.iter().zip([0x0A01u16, 0x0A02]) {
        assert_eq!(
            &row[..4],
            ["2", "1", "45", &device_id.to_string()],
            "{text}"
        );
        assert!(bool_true(row[4]), "CRC mode: {text}");
        assert_eq!(row[6], psdu.len().to_string(), "{text}");
        assert_eq!(
            row[7], "90",
            "the 802.15.4 frame decoded (sequence 0x5A): {text}"
        );
        assert!(bool_true(row[8]), "FCS checked and good: {text}");
        assert_eq!(
            (row[9], row[10]),
            ("", ""),
            "no expert info, nothing malformed: {text}"
        );
    }
    assert_eq!(rows[0][5], "77", "{text}");
    let _ = std::fs::remove_file(&path);
}
