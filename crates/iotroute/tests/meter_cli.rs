//! `iotroute meter` as a process: ports, hostile input, state across restarts.

mod support;

use std::time::Duration;

use echonet::{Eoj, Message, Repr};
use support::{addr, exchange, start_meter, udp_at};

/// How long a test waits for one answer.
const WAIT: Duration = Duration::from_secs(3);

fn get_frame(tid: u16, epcs: &[u8]) -> Vec<u8> {
    Repr::from(Message::get(
        tid,
        Eoj::CONTROLLER,
        Eoj::new(0x02, 0x8E, 0x01),
        epcs,
    ))
    .to_vec()
    .expect("frame")
}

fn e0(reply: &[u8]) -> u32 {
    let Ok(Repr::Specified(m)) = Repr::parse_bytes(reply) else {
        panic!("reply is not a format 1 frame: {reply:02X?}")
    };
    let p = m.property(0xE0).expect("E0 in reply");
    u32::from_be_bytes(p.edt.as_slice().try_into().expect("4 bytes"))
}

#[test]
fn replies_leave_from_3610_and_go_to_3610_whatever_the_source_port() {
    let _meter = start_meter(addr(105, 2), &[]);
    let listener = udp_at(addr(105, 3), 3610, WAIT);
    // Ask from an ephemeral port, as npm echonet-lite asks from 23610.
    let asker = udp_at(addr(105, 3), 0, WAIT);
    asker
        .send_to(&get_frame(1, &[0xE0]), (addr(105, 2), 3610))
        .expect("send");
    let mut buf = [0u8; 1500];
    let (n, from) = listener.recv_from(&mut buf).expect("answer on port 3610");
    assert_eq!(from, std::net::SocketAddr::from((addr(105, 2), 3610)));
    e0(&buf[..n]);
}

#[test]
fn sec06_hostile_flood_is_counted_and_valid_requests_still_answered() {
    let meter = start_meter(addr(106, 2), &[]);
    let sock = udp_at(addr(106, 3), 3610, WAIT);
    let valid = get_frame(7, &[0xE0]);
    let mut opc = valid.clone();
    opc[11] = 40;
    let mut pdc = valid.clone();
    pdc[13] = 250;
    let hostile: [&[u8]; 5] = [
        &valid[..9],
        &opc,
        &pdc,
        &[0x10, 0x82, 0x00, 0x01, 0xAA, 0xBB],
        &[0xFF; 1400],
    ];
    for _ in 0..2000 {
        for h in hostile {
            sock.send_to(h, (addr(106, 2), 3610)).expect("send");
        }
    }
    // The meter still answers, and answers this request (TID 7), not noise. The flood may
    // have filled the socket buffer, so ask again as a controller would.
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut buf = [0u8; 1500];
    let answered = (0..20).any(|_| {
        sock.send_to(&valid, (addr(106, 2), 3610)).expect("send");
        matches!(sock.recv_from(&mut buf), Ok((n, _)) if Repr::parse_bytes(&buf[..n]).map(|r| r.tid()) == Ok(7))
    });
    assert!(answered, "no answer to a valid Get after the flood");
    let status = meter.terminate_and_collect();
    let log = status.join("\n");
    assert!(
        log.contains("malformed ECHONET Lite datagram dropped"),
        "{log}"
    );
    assert!(log.contains("format 2 frame dropped"), "{log}");
    let stats = log
        .lines()
        .find(|l| l.contains("meter stopped"))
        .expect("final stats logged");
    // The kernel drops what overflows the socket buffer; what arrived is counted, and the
    // log holds a bounded number of entries however many arrived.
    let malformed: u64 = stats
        .split("malformed: ")
        .nth(1)
        .and_then(|s| s.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .expect("malformed count");
    assert!(malformed >= 100, "{stats}");
    let entries = log
        .lines()
        .filter(|l| l.contains("datagram dropped") || l.contains("frame dropped"))
        .count();
    assert!(
        entries <= 20,
        "{entries} log entries for a flood: the log is not rate-limited:\n{}",
        log.lines().take(30).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn state_file_keeps_counters_across_a_restart() {
    let dir = std::env::temp_dir().join(format!("iotroute-meter-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let state = dir.join("meter.json");
    let state_arg = state.to_string_lossy().to_string();
    // 36 kW is 10 Wh per second: 10 counts of 0.001 kWh per second.
    let args = [
        "--profile",
        "constant:36000:0",
        "--start-in",
        "5000",
        "--state",
        &state_arg,
    ];
    let sock = udp_at(addr(107, 3), 3610, WAIT);
    let meter = start_meter(addr(107, 2), &args);
    std::thread::sleep(Duration::from_millis(1500));
    let (reply, _) = exchange(&sock, addr(107, 2), &get_frame(1, &[0xE0]));
    let before = e0(&reply);
    assert!(before > 5000, "counter did not advance: {before}");
    assert!(meter.terminate().success());
    assert!(state.exists(), "state file written on exit");
    // --start-in is ignored when a state exists.
    let args = [
        "--profile",
        "constant:36000:0",
        "--start-in",
        "0",
        "--state",
        &state_arg,
    ];
    let _meter = start_meter(addr(107, 2), &args);
    let (reply, _) = exchange(&sock, addr(107, 2), &get_frame(2, &[0xE0]));
    let after = e0(&reply);
    assert!(
        after >= before,
        "counter went back from {before} to {after}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn counter_started_near_the_top_wraps_to_zero_like_a_real_meter() {
    // 36 kW: 10 counts of 0.001 kWh per second, so 999,999,990 passes 999,999,999 within
    // about a second.
    let _meter = start_meter(
        addr(108, 2),
        &["--profile", "constant:36000:0", "--start-in", "999999990"],
    );
    let sock = udp_at(addr(108, 3), 3610, WAIT);
    std::thread::sleep(Duration::from_millis(2500));
    let (reply, _) = exchange(&sock, addr(108, 2), &get_frame(1, &[0xE0]));
    let value = e0(&reply);
    assert!(value < 1_000, "counter did not wrap: {value}");
}
