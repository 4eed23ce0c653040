//! Slot pushes end to end: `iotroute dlms serve --push-to` sends a Data-Notification
//! when a client invokes push setup's `push` (and at each closed slot), and `iotroute
//! dlms listen` receives it as the smart meter does, refusing replays and forgeries.
//!
//! The test stands between the two: serve pushes to a socket the test owns, which
//! forwards what it received to `listen` (and replays and alters copies of it).
//!
//! Addresses: each test owns `127.0.N.0/24`, N from 160 to 169: serve on `.2`, listen on
//! `.3`, the test's relay socket on `.5`.

mod support;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use serde_json::Value;
use support::{addr, iotroute, run_with_timeout, Running};

const LIMIT: Duration = Duration::from_secs(60);
const HLS: [&str; 4] = ["--auth", "hls-gmac", "--security", "auth-enc"];

fn serve(block: u8, push_to: SocketAddr, extra: &[&str]) -> Running {
    let mut cmd = iotroute();
    cmd.args(["dlms", "serve", "--bind", &addr(block, 2).to_string()])
        .args(["--push-to", &push_to.to_string()])
        .args(HLS)
        .args(extra);
    Running::start(cmd, "listening")
}

/// `dlms action` invoking push on the management association; the client's counter
/// kept in a file per block (two runs within a tenth of a second would otherwise start
/// from the same time-based counter).
fn request_push(block: u8) {
    let ic_file = std::env::temp_dir().join(format!(
        "iotroute-push-client-ic-{block}-{}.json",
        std::process::id()
    ));
    let mut cmd = iotroute();
    cmd.args(["dlms", "action", "--host", &addr(block, 2).to_string()])
        .args(["--client", "1", "--ic-file", &ic_file.to_string_lossy()])
        .args(HLS)
        .args(["0-0:25.9.0.255:1", "0"]);
    let out = run_with_timeout(cmd, LIMIT);
    assert!(
        out.status.success(),
        "push action failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn relay(block: u8) -> UdpSocket {
    let s = UdpSocket::bind((addr(block, 5), 5000)).expect("relay socket");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    s
}

fn receive(s: &UdpSocket) -> Vec<u8> {
    let mut buf = [0u8; 4096];
    let (n, _) = s.recv_from(&mut buf).expect("no push arrived");
    buf[..n].to_vec()
}

/// The invocation counter of a general-glo-ciphered push in a wrapper frame: wrapper
/// (8) + tag DB + title length 08 + title (8) + length + SC + IC.
fn push_ic(datagram: &[u8]) -> u32 {
    assert_eq!(datagram[8], 0xDB, "general-glo-ciphering");
    let ic = &datagram[8 + 1 + 1 + 8 + 1 + 1..][..4];
    u32::from_be_bytes(ic.try_into().unwrap())
}

/// `dlms listen`, killed if the test fails before collecting it.
struct Listener(Option<std::process::Child>);

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn trm06_sec02_serve_pushes_ciphered_and_listen_refuses_replay_and_forgery() {
    let block = 160;
    let relay = relay(block);
    let _serve = serve(block, relay.local_addr().unwrap(), &[]);
    let mut cmd = iotroute();
    cmd.args(["dlms", "listen", "--bind", &addr(block, 3).to_string()])
        .args([
            "--security",
            "auth-enc",
            "--count",
            "2",
            "--timeout",
            "40",
            "--json",
        ]);
    let mut listen = Listener(Some(
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("listen"),
    ));
    // Give the listener a moment to bind: datagrams sent before are lost, and then the
    // test fails on its timeout rather than passing wrongly.
    std::thread::sleep(Duration::from_millis(500));
    let to_listen = SocketAddr::from((addr(block, 3), 4059));

    request_push(block);
    let first = receive(&relay);
    assert_eq!(&first[..6], &[0, 1, 0, 1, 0, 1], "wrapper v1, wPort 1 -> 1");
    assert!(push_ic(&first) >= 0x8000_0000, "push counters from 2^31");
    relay.send_to(&first, to_listen).unwrap();
    relay.send_to(&first, to_listen).unwrap(); // replay
                                               // A forgery with a fresh counter far ahead: it must fail the tag and must not move
                                               // the window, or the genuine second push (counter + 1) would be refused next.
    let mut forged = first.clone();
    let at = 8 + 1 + 1 + 8 + 1 + 1;
    forged[at..at + 4].copy_from_slice(&(push_ic(&first) + 100).to_be_bytes());
    relay.send_to(&forged, to_listen).unwrap();
    request_push(block);
    let second = receive(&relay);
    assert!(push_ic(&second) > push_ic(&first));
    relay.send_to(&second, to_listen).unwrap();

    let out = listen
        .0
        .take()
        .expect("running")
        .wait_with_output()
        .expect("listen output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "listen: {stderr}");
    let pushes: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(pushes.len(), 2, "{pushes:?}");
    assert!(stderr.contains("\"replay\": 1"), "{stderr}");
    assert!(stderr.contains("\"does-not-decipher\": 1"), "{stderr}");
    for (p, raw) in pushes.iter().zip([&first, &second]) {
        assert_eq!(p["system_title"], "4D4D4D0000BC614E");
        assert_eq!(p["invocation_counter"], u64::from(push_ic(raw)));
        assert_eq!(
            (p["source_wport"].as_u64(), p["destination_wport"].as_u64()),
            (Some(1), Some(1))
        );
        let at = p["captured_at"].as_str().expect("captured_at");
        assert!(at.ends_with("+09:00"), "{at}");
        let body = p["body"].as_array().expect("structure");
        assert_eq!(
            body.len(),
            5,
            "push setup, clock, AC in, AC out, status: {body:?}"
        );
        assert_eq!(body[0], "@0000190900FF", "the push setup's logical name");
        assert!(
            body[1].as_str().is_some_and(|c| c.ends_with("+09:00")),
            "clock {}",
            body[1]
        );
        assert!(
            body[2].as_u64().is_some_and(|wh| wh > 0),
            "AC input {}",
            body[2]
        );
    }
    assert_eq!(pushes[1]["long_invoke_id"].as_u64(), Some(2));
}

#[test]
fn sec03_push_counters_survive_a_serve_restart() {
    let block = 161;
    let relay = relay(block);
    let state =
        std::env::temp_dir().join(format!("iotroute-push-state-{}.json", std::process::id()));
    let _ = std::fs::remove_file(&state);
    let state_s = state.to_string_lossy().into_owned();
    let mut ics = Vec::new();
    for _ in 0..2 {
        let s = serve(block, relay.local_addr().unwrap(), &["--state", &state_s]);
        request_push(block);
        ics.push(push_ic(&receive(&relay)));
        assert!(s.terminate().success());
    }
    let saved: Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let _ = std::fs::remove_file(&state);
    // The second run resumed above the first run's reservation mark, not at its last
    // counter + 1: whatever the first run spent is below it.
    assert!(ics[1] > ics[0] + 1, "{ics:?}");
    assert!(saved["push_invocation_counter_reserved"].as_u64() >= Some(u64::from(ics[1])));
    assert!(
        saved["client_replay"]["highest"].as_u64().is_some(),
        "{saved}"
    );
}
