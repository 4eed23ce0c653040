//! `iotroute echonet get|discover` driven as a user would, against a fake device written
//! here, against `iotroute meter`, and against npm `echonet-lite` (el_device.js).
//!
//! Address plan (see tests/support and interop/README.md): each test owns one block
//! `127.0.N.0/24`, N from 110 to 119; the device on `.2`, our controller on `.3`, decoys
//! on `.9`. Every command binds a loopback address, so no multicast leaves `lo`.

mod support;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use echonet::{Eoj, Esv, Message, Property, Repr};
use serde_json::json;
use support::{addr, iotroute, json as stdout_json, run_with_timeout, start_meter};

const METER: Eoj = Eoj::new(0x02, 0x8E, 0x01);
const LIMIT: Duration = Duration::from_secs(30);

/// A socket as ECHONET nodes bind, polling every 50 ms so fake devices can stop.
fn udp(at: Ipv4Addr, port: u16) -> UdpSocket {
    support::udp_at(at, port, Duration::from_millis(50))
}

/// How the fake device answers a request; `None` stays silent.
type Behaviour = dyn Fn(&Message) -> Option<Message> + Send + Sync;

/// A fake ECHONET node on `addr:3610`, answering from `addr:reply_port`.
struct FakeDevice {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<(SocketAddr, Message)>>>,
    thread: Option<JoinHandle<()>>,
}

impl FakeDevice {
    fn start(at: Ipv4Addr, reply_port: u16, behaviour: Box<Behaviour>) -> FakeDevice {
        let sock = udp(at, 3610);
        let reply = if reply_port == 3610 {
            sock.try_clone().expect("clone")
        } else {
            udp(at, reply_port)
        };
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !stop2.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(Repr::Specified(req)) = Repr::parse_bytes(&buf[..n]) else {
                    continue;
                };
                seen2.lock().expect("lock").push((from, req.clone()));
                if let Some(answer) = behaviour(&req) {
                    let bytes = Repr::from(answer).to_vec().expect("answer encodes");
                    // ECHONET Lite answers to port 3610 of the requester.
                    let to = SocketAddr::new(from.ip(), 3610);
                    reply.send_to(&bytes, to).expect("send answer");
                }
            }
        });
        FakeDevice {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    fn seen(&self) -> Vec<(SocketAddr, Message)> {
        self.seen.lock().expect("lock").clone()
    }
}

impl Drop for FakeDevice {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The values of the fake meter: 0xE0 is 123,456,789 counts of 0.001 kWh.
fn fake_value(epc: u8) -> Option<Vec<u8>> {
    Some(match epc {
        0x80 => vec![0x30],
        0xD1 => b"FAKE-METER-01".to_vec(),
        0xD4 => vec![0x03],
        0xE0 => 123_456_789u32.to_be_bytes().to_vec(),
        0xE2 => 4_200u32.to_be_bytes().to_vec(),
        0xE4 => 1_000_000_000u32.to_be_bytes().to_vec(), // out of range on purpose
        _ => return None,
    })
}

/// Answers a Get to 028E01 like a meter: Get_Res, or Get_SNA with PDC 0 for what it lacks.
fn fake_meter(req: &Message) -> Option<Message> {
    if req.esv != Esv::Get || req.deoj != METER {
        return None;
    }
    let mut all = true;
    let props = req
        .props
        .iter()
        .map(|p| match fake_value(p.epc) {
            Some(v) => Property::new(p.epc, v),
            None => {
                all = false;
                Property::empty(p.epc)
            }
        })
        .collect();
    let esv = if all { Esv::GetRes } else { Esv::GetSna };
    Some(Message::new(req.tid, METER, req.seoj, esv, props))
}

fn echonet(args: &[&str]) -> Output {
    let mut cmd = iotroute();
    cmd.arg("echonet").args(args);
    run_with_timeout(cmd, LIMIT)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn trm07_get_reads_every_property_exit_0_with_kwh_from_the_same_answer() {
    let device = FakeDevice::start(addr(110, 2), 3610, Box::new(fake_meter));
    let out = echonet(&[
        "get",
        "--bind",
        "127.0.110.3",
        "--json",
        "127.0.110.2",
        "028E01",
        "E0",
        "e2",
        "0xD1",
        "D4",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = stdout_json(&out);
    assert_eq!(v["host"], "127.0.110.2");
    assert_eq!(v["eoj"], "028E01");
    assert_eq!(v["esv"], "72");
    assert_eq!(v["failed"], json!([]));
    let p = &v["properties"];
    assert_eq!(
        p["E0"],
        json!({"edt": "075BCD15", "value": {"cumulative_in": 123456789}, "kwh": "23456.789"})
    );
    assert_eq!(p["E2"]["kwh"], "4.200");
    assert_eq!(p["D1"]["edt"], "46414B452D4D455445522D3031");
    assert_eq!(p["D4"]["edt"], "03");
    assert_eq!(p.as_object().map(|o| o.len()), Some(4));
    // One Get only: D4 was in it.
    assert_eq!(device.seen().len(), 1);
}

#[test]
fn trm03_get_fetches_the_unit_once_and_prints_the_eight_digit_kwh() {
    let device = FakeDevice::start(addr(111, 2), 3610, Box::new(fake_meter));
    let out = echonet(&[
        "get",
        "--bind",
        "127.0.111.3",
        "127.0.111.2",
        "0x028e01",
        "E0",
        "80",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "E0  cumulative energy AC input  123456789 counts = 23456.789 kWh",
            "80  operation status  On",
        ]
    );
    let asked: Vec<Vec<u8>> = device
        .seen()
        .iter()
        .map(|(_, m)| m.props.iter().map(|p| p.epc).collect())
        .collect();
    assert_eq!(asked, [vec![0xE0, 0x80], vec![0xD4]]);
}

#[test]
fn get_sna_exits_2_and_names_the_failed_epcs() {
    let _device = FakeDevice::start(addr(112, 2), 3610, Box::new(fake_meter));
    let out = echonet(&[
        "get",
        "--bind",
        "127.0.112.3",
        "--json",
        "127.0.112.2",
        "028E01",
        "E0",
        "F0",
        "D4",
        "E4",
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let v = stdout_json(&out);
    assert_eq!(v["esv"], "52");
    assert_eq!(v["failed"], json!(["F0"]));
    assert_eq!(v["properties"]["E0"]["kwh"], "23456.789");
    // 0xE4 above 999,999,999: raw data and the decode error, no value, no kWh.
    let e4 = &v["properties"]["E4"];
    assert_eq!(e4["edt"], "3B9ACA00");
    assert!(
        e4["error"]
            .as_str()
            .is_some_and(|e| e.contains("out of range")),
        "{e4}"
    );
    assert!(e4.get("value").is_none() && e4.get("kwh").is_none());

    let human = echonet(&[
        "get",
        "--bind",
        "127.0.112.3",
        "127.0.112.2",
        "028E01",
        "F0",
        "E4",
    ]);
    assert_eq!(human.status.code(), Some(2));
    let text = stdout(&human);
    assert!(
        text.contains("E4  cumulative energy output during outage  raw 3B9ACA00 ("),
        "{text}"
    );
    assert!(
        text.contains("F0  (unknown property)  not served (Get_SNA 52)"),
        "{text}"
    );
}

#[test]
fn a_silent_device_exits_1_after_every_attempt_with_the_same_tid() {
    let device = FakeDevice::start(addr(113, 2), 3610, Box::new(|_: &Message| None));
    let started = Instant::now();
    let out = echonet(&[
        "get",
        "--bind",
        "127.0.113.3",
        "--timeout",
        "0.3",
        "--retries",
        "2",
        "--json",
        "127.0.113.2",
        "028E01",
        "E0",
    ]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let v = stdout_json(&out);
    assert_eq!(v["host"], "127.0.113.2");
    assert!(
        v["error"].as_str().is_some_and(|e| e.contains("no answer")),
        "{v}"
    );
    assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    assert!(
        took >= Duration::from_millis(900),
        "three attempts of 0.3 s: {took:?}"
    );
    let seen = device.seen();
    assert_eq!(seen.len(), 3, "one send and two resends");
    assert!(
        seen.iter().all(|(_, m)| m == &seen[0].1),
        "the same frame each time"
    );
    assert_eq!(
        seen[0].0,
        SocketAddr::from((addr(113, 3), 3610)),
        "sent from our port 3610"
    );
}

#[test]
fn sec06_get_ignores_the_source_port_but_not_the_source_address() {
    // The device answers from port 23610 as npm echonet-lite does; a decoy on another
    // address answers first with the same TID and a different value.
    let decoy_sock = udp(addr(114, 9), 3610);
    let decoy = move |req: &Message| {
        let mut m = fake_meter(req)?;
        m.props = vec![Property::new(0xE0, 1u32.to_be_bytes())];
        let bytes = Repr::from(m).to_vec().ok()?;
        decoy_sock
            .send_to(&bytes, (addr(114, 3), 3610))
            .expect("decoy send");
        std::thread::sleep(Duration::from_millis(50));
        fake_meter(req)
    };
    let _device = FakeDevice::start(addr(114, 2), 23610, Box::new(decoy));
    let out = echonet(&[
        "get",
        "--bind",
        "127.0.114.3",
        "--json",
        "127.0.114.2",
        "028E01",
        "E0",
        "D4",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = stdout_json(&out);
    assert_eq!(
        v["properties"]["E0"]["edt"], "075BCD15",
        "the decoy's answer was not taken"
    );
}

#[test]
fn bad_arguments_are_refused_before_anything_is_sent() {
    for args in [
        &["get", "127.0.0.1", "028E01", "7F"][..],
        &["get", "127.0.0.1", "028E1", "E0"],
        &["get", "127.0.0.1", "028E01"],
        &["get", "--timeout", "0", "127.0.0.1", "028E01", "E0"],
        &["get", "localhost", "028E01", "E0"],
    ] {
        let out = echonet(args);
        assert!(!out.status.success(), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn trm07_get_reads_the_emulated_meter() {
    let _meter = start_meter(
        addr(115, 2),
        &["--start-in", "123456789", "--start-out", "77"],
    );
    let out = echonet(&[
        "get",
        "--bind",
        "127.0.115.3",
        "--json",
        "127.0.115.2",
        "028E01",
        "D1",
        "D4",
        "E0",
        "E2",
        "9E",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = stdout_json(&out);
    let p = &v["properties"];
    assert_eq!(p["D4"]["value"], json!({"unit": "0.001 kWh"}));
    // The emulated meter counts on from its start value, and the lower 8 digits are kept.
    let e0 = p["E0"]["value"]["cumulative_in"].as_u64().unwrap_or(0);
    assert!((123_456_789..123_500_000).contains(&e0), "{e0}");
    let kwh = p["E0"]["kwh"].as_str().unwrap_or("");
    assert!(kwh.starts_with("234"), "{kwh}");
    assert!(p["E2"]["value"]["cumulative_out"]
        .as_u64()
        .is_some_and(|c| c >= 77));
    assert!(p["D1"]["edt"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(
        p["9E"]["value"],
        json!({"set_property_map": ["81", "98", "D5", "DA"]})
    );
}

#[test]
fn discover_finds_the_emulated_meter_by_multicast_on_loopback() {
    let _meter = start_meter(addr(116, 2), &[]);
    let out = echonet(&[
        "discover",
        "--bind",
        "127.0.116.3",
        "--timeout",
        "1",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = stdout_json(&out);
    let nodes = v["nodes"].as_array().cloned().unwrap_or_default();
    // Meters of tests running in parallel may answer too.
    assert!(
        nodes.contains(&json!({"address": "127.0.116.2", "instances": ["028E01"]})),
        "{v}"
    );

    let human = echonet(&["discover", "--bind", "127.0.116.3", "--timeout", "0.5"]);
    assert_eq!(human.status.code(), Some(0));
    assert!(
        stdout(&human).lines().any(|l| l == "127.0.116.2  028E01"),
        "{human:?}"
    );
}

#[test]
fn discover_without_any_node_exits_0_with_an_empty_list() {
    // Nobody on 127.0.117.0/24 answers; nodes of other tests may, so only the shape is
    // checked here.
    let out = echonet(&[
        "discover",
        "--bind",
        "127.0.117.3",
        "--timeout",
        "0.3",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = stdout_json(&out);
    assert!(v["nodes"].is_array());
    assert!(v.get("error").is_none());
}

#[test]
fn interop_get_reads_npm_echonet_lite_answering_from_port_23610() {
    let Some(dir) = support::node_dir() else {
        return;
    };
    let _device = support::ElDevice::start(&dir, addr(118, 2));
    let out = echonet(&[
        "get",
        "--bind",
        "127.0.118.3",
        "--json",
        "127.0.118.2",
        "028E01",
        "E0",
        "E2",
        "D1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let v = stdout_json(&out);
    // 12345678 counts of 0.01 kWh (D4 fetched with one extra Get).
    assert_eq!(v["properties"]["E0"]["edt"], "00BC614E");
    assert_eq!(v["properties"]["E0"]["kwh"], "123456.78");
    assert_eq!(v["properties"]["E2"]["kwh"], "123.45");

    let sna = echonet(&[
        "get",
        "--bind",
        "127.0.118.3",
        "--json",
        "127.0.118.2",
        "028E01",
        "E0",
        "FF",
    ]);
    assert_eq!(sna.status.code(), Some(2), "{sna:?}");
    assert_eq!(stdout_json(&sna)["failed"], json!(["FF"]));
}
