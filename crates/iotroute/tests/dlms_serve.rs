//! `iotroute dlms serve` as a child process, read over UDP + the DLMS wrapper by our own
//! client (`dlms::client`) and by Gurux-Python (`interop/gurux_client.py`).
//!
//! Addresses: each test owns `127.0.12x.2` (blocks 120 and up), port 4059; the client
//! socket binds an ephemeral port on the same address.

mod support;

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Utc};
use dlms::cipher::{Keys, GREEN_BOOK_CLIENT_TITLE};
use dlms::client::{Authentication, Client, ClientSettings, Entropy, Event, Security};
use dlms::{CosemDateTime, Data, Obis};
use support::{addr, iotroute, Running};

const PORT: u16 = 4059;

/// Deterministic challenge bytes: the server's side of HLS uses the OS source.
struct TestEntropy;
impl Entropy for TestEntropy {
    fn fill(&self, out: &mut [u8]) -> bool {
        for (i, b) in out.iter_mut().enumerate() {
            *b = 0x41 + (i % 26) as u8;
        }
        true
    }
}

fn obis(s: &str) -> Obis {
    s.parse().expect("OBIS")
}

fn start(block: u8, extra: &[&str]) -> Running {
    let mut cmd = iotroute();
    cmd.args([
        "dlms",
        "serve",
        "--bind",
        &addr(block, 2).to_string(),
        "--port",
        &PORT.to_string(),
    ])
    .args(extra);
    Running::start(cmd, "listening")
}

/// One client association over a UDP socket, recording every datagram the server sent.
struct Conn {
    sock: UdpSocket,
    server: SocketAddr,
    client: Client<TestEntropy>,
    received: Vec<Vec<u8>>,
    sent: Vec<Vec<u8>>,
    /// Datagrams the client sent on its own (next-block requests, HLS reply).
    follow_ups: usize,
}

impl Conn {
    fn new(host: Ipv4Addr, settings: ClientSettings) -> Conn {
        let sock = UdpSocket::bind((host, 0)).expect("bind client");
        sock.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        Conn {
            sock,
            server: SocketAddr::from((host, PORT)),
            client: Client::new(settings, TestEntropy).expect("client"),
            received: Vec::new(),
            sent: Vec::new(),
            follow_ups: 0,
        }
    }

    fn recv(&mut self) -> Vec<u8> {
        let mut buf = vec![0u8; 65_536];
        let (n, from) = self.sock.recv_from(&mut buf).expect("no answer in time");
        assert_eq!(from, self.server, "answer from the address and port asked");
        buf.truncate(n);
        self.received.push(buf.clone());
        buf
    }

    /// Sends `datagram` and follows the exchange (HLS reply, next blocks) to its end.
    fn exchange(&mut self, datagram: Vec<u8>) -> Event {
        let mut d = datagram;
        loop {
            self.sock.send_to(&d, self.server).expect("send");
            self.sent.push(d);
            let answer = self.recv();
            match self
                .client
                .handle(&answer)
                .expect("client accepts the answer")
            {
                Event::Send(next) => {
                    self.follow_ups += 1;
                    d = next;
                }
                e => return e,
            }
        }
    }

    fn associate(&mut self) -> Event {
        let d = self.client.associate().expect("AARQ");
        self.exchange(d)
    }

    fn get(&mut self, class: u16, ln: &str, attr: i8, access: Option<(u8, &Data)>) -> Event {
        let d = self.client.get(class, obis(ln), attr, access).expect("GET");
        self.exchange(d)
    }

    fn value(&mut self, class: u16, ln: &str, attr: i8) -> Data {
        match self.get(class, ln, attr, None) {
            Event::Value(v) => v,
            e => panic!("{ln}:{attr}: {e:?}"),
        }
    }
}

fn settings(wport: u16, auth: Authentication, security: Security, max_pdu: u16) -> ClientSettings {
    let ciphered = auth == Authentication::HlsGmac || security != Security::None;
    ClientSettings {
        client_wport: wport,
        authentication: auth,
        security,
        keys: ciphered.then_some(Keys::GREEN_BOOK),
        system_title: ciphered.then_some(GREEN_BOOK_CLIENT_TITLE),
        max_pdu,
        ..ClientSettings::default()
    }
}

fn jst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("JST")
}

/// The last closed 30-minute slot now, UTC.
fn last_slot() -> DateTime<Utc> {
    let t = Utc::now().timestamp();
    DateTime::from_timestamp(t - t.rem_euclid(1800), 0).expect("time")
}

/// Selective access by range on the load profile's clock column, Gurux's form
/// (octet-string(12) from/to, all columns).
fn range(from: DateTime<Utc>, to: DateTime<Utc>) -> Data {
    let cosem = |t: DateTime<Utc>| {
        Data::clock_octet_string(&CosemDateTime::from_chrono_gurux(&t.with_timezone(&jst())))
    };
    Data::Structure(vec![
        Data::Structure(vec![
            Data::LongUnsigned(8),
            Data::OctetString(vec![0, 0, 1, 0, 0, 255]),
            Data::Integer(2),
            Data::LongUnsigned(0),
        ]),
        cosem(from),
        cosem(to),
        Data::Array(Vec::new()),
    ])
}

/// Reads both registers with scaler/unit and six hours of the profile by range; checks
/// what came back. Returns the profile rows.
fn read_management(c: &mut Conn) -> Vec<Data> {
    for ln in ["1-0:1.8.0.255", "1-0:2.8.0.255"] {
        let v = c.value(3, ln, 2);
        assert!(
            matches!(v, Data::DoubleLongUnsigned(_)),
            "{ln} value: {v:?}"
        );
        let su = c.value(3, ln, 3);
        let el = su.elements().expect("scaler_unit structure");
        assert_eq!(el.len(), 2, "{su:?}");
        assert_eq!(el[0], Data::Integer(0), "Wh: scaler 0");
        assert_eq!(el[1], Data::Enum(30), "unit Wh (30)");
    }
    let to = last_slot();
    let from = to - chrono::Duration::hours(6);
    let r = range(from, to);
    let Event::Value(Data::Array(rows)) = c.get(7, "1-0:99.1.0.255", 2, Some((1, &r))) else {
        panic!("profile by range")
    };
    assert!((12..=14).contains(&rows.len()), "{} rows", rows.len());
    let mut prev: Option<(DateTime<FixedOffset>, i128)> = None;
    for row in &rows {
        let cols = row.elements().expect("row");
        let t = cols[0]
            .as_date_time()
            .and_then(|d| d.to_chrono())
            .expect("clock column");
        assert!(t >= from && t <= to + chrono::Duration::minutes(30), "{t}");
        let e = cols[1].as_i128().expect("energy");
        if let Some((pt, pe)) = prev {
            assert!(t > pt && e >= pe, "rows ascending, energy growing");
        }
        prev = Some((t, e));
    }
    rows
}

/// The invocation counter of a ciphered APDU the server sent (glo-/general-glo- service
/// APDU, or the glo-initiate-response inside an AARE), `None` for a plain one.
fn server_ic(datagram: &[u8]) -> Option<u32> {
    let apdu = datagram.get(8..)?;
    let ber = |b: &[u8], i: usize| -> Option<usize> {
        match *b.get(i)? {
            n if n < 0x80 => Some(i + 1),
            0x81 => Some(i + 2),
            0x82 => Some(i + 3),
            _ => None,
        }
    };
    let ic_at = |i: usize| -> Option<u32> {
        Some(u32::from_be_bytes(apdu.get(i + 1..i + 5)?.try_into().ok()?))
    };
    match *apdu.first()? {
        0xC8..=0xCF => ic_at(ber(apdu, 1)?),
        0xDB => {
            let title = usize::from(*apdu.get(1)?);
            ic_at(ber(apdu, 2 + title)?)
        }
        0x61 => {
            let i = apdu.iter().position(|&b| b == 0xBE)?;
            (apdu.get(i + 2) == Some(&0x04) && apdu.get(i + 4) == Some(&0x28))
                .then_some(())
                .and_then(|()| ic_at(ber(apdu, i + 5)?))
        }
        _ => None,
    }
}

fn temp_state(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!(
        "iotroute-dlms-serve-{}-{name}.json",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&p);
    p
}

#[test]
fn dlms_serve_public_reads_clock_and_ids_but_is_refused_energy_rad01() {
    let block = 120;
    let server = start(block, &[]);
    let host = addr(block, 2);
    // Garbage first: counted and dropped, the server goes on.
    let junk = UdpSocket::bind((host, 0)).expect("bind");
    for d in [
        &b"\x00"[..],
        b"\x00\x01\x00\x10\x00\x01\x00\x09\xC0",
        b"hello world",
    ] {
        junk.send_to(d, (host, PORT)).expect("send");
    }
    let mut c = Conn::new(
        host,
        settings(16, Authentication::None, Security::None, 1024),
    );
    assert_eq!(c.associate(), Event::Established);
    let clock = c.value(8, "0-0:1.0.0.255", 2);
    let t = clock
        .as_date_time()
        .expect("clock is a date-time")
        .to_chrono()
        .expect("clock with deviation");
    assert_eq!(t.offset().local_minus_utc(), 9 * 3600, "JST");
    assert!((t.with_timezone(&Utc) - Utc::now()).num_seconds().abs() < 10);
    assert!(matches!(
        c.value(1, "0-0:96.1.0.255", 2),
        Data::OctetString(_)
    ));
    assert!(matches!(
        c.value(1, "0-0:42.0.0.255", 2),
        Data::OctetString(_)
    ));
    for (class, ln) in [
        (3, "1-0:1.8.0.255"),
        (3, "1-0:2.8.0.255"),
        (7, "1-0:99.1.0.255"),
    ] {
        match c.get(class, ln, 2, None) {
            Event::AccessError { code, .. } => assert!(code == 3 || code == 4, "{ln}: {code}"),
            e => panic!("public association read {ln}: {e:?}"),
        }
    }
    let lines = server.terminate_and_collect().join("\n");
    assert!(lines.contains("malformed wrapper frame dropped"), "{lines}");
    assert!(lines.contains("malformed=3"), "{lines}");
}

#[test]
fn dlms_serve_management_no_security_reads_registers_and_profile_by_range_at_pdu_128_trm05_trm06() {
    let block = 121;
    let _server = start(block, &["--max-pdu", "128"]);
    let mut c = Conn::new(
        addr(block, 2),
        settings(1, Authentication::None, Security::None, 128),
    );
    assert_eq!(c.associate(), Event::Established);
    let before = c.follow_ups;
    read_management(&mut c);
    assert!(c.follow_ups > before, "the profile came in blocks");
}

#[test]
fn dlms_serve_management_and_maintenance_lls_refuse_a_wrong_password_and_read_with_the_right_one_sec02(
) {
    let block = 122;
    let _server = start(
        block,
        &[
            "--auth",
            "low",
            "--password",
            "secret42",
            "--max-pdu",
            "128",
        ],
    );
    let host = addr(block, 2);
    let low = |p: &[u8]| Authentication::Low {
        password: p.to_vec(),
    };
    let mut wrong = Conn::new(host, settings(1, low(b"12345678"), Security::None, 128));
    assert!(matches!(wrong.associate(), Event::Rejected { .. }));
    let mut c = Conn::new(host, settings(1, low(b"secret42"), Security::None, 128));
    assert_eq!(c.associate(), Event::Established);
    read_management(&mut c);
    // The maintenance association (handy terminal, wPort 32) uses the same password.
    let mut m = Conn::new(host, settings(32, low(b"wrong"), Security::None, 1024));
    assert!(matches!(m.associate(), Event::Rejected { .. }));
    let mut m = Conn::new(host, settings(32, low(b"secret42"), Security::None, 1024));
    assert_eq!(m.associate(), Event::Established);
    assert!(matches!(
        m.value(1, "0-0:128.0.1.255", 2),
        Data::VisibleString(_)
    ));
}

#[test]
fn dlms_serve_management_hls_gmac_auth_enc_reads_and_refuses_a_replay_sec02_sec03() {
    let block = 123;
    let server = start(
        block,
        &[
            "--auth",
            "hls-gmac",
            "--security",
            "auth-enc",
            "--max-pdu",
            "128",
        ],
    );
    let mut c = Conn::new(
        addr(block, 2),
        settings(1, Authentication::HlsGmac, Security::AuthEnc, 128),
    );
    assert_eq!(c.associate(), Event::Established);
    read_management(&mut c);
    assert!(
        c.received.iter().filter_map(|d| server_ic(d)).count() > 3,
        "the server ciphered its answers"
    );
    // Replay the last ciphered request the client sent: refused with the counter error.
    let replayed = c.sent.last().expect("a request").clone();
    c.sock.send_to(&replayed, c.server).expect("send");
    let answer = c.recv();
    assert_eq!(
        answer.get(8),
        Some(&0xD8),
        "exception-response: {answer:02X?}"
    );
    assert_eq!(answer.get(10), Some(&6), "invocation-counter-error");
    // Reordered: two requests built in order, sent in the opposite order; the later
    // counter is served, the earlier one then refused.
    let first = c
        .client
        .get(8, obis("0-0:1.0.0.255"), 2, None)
        .expect("GET");
    let second = c
        .client
        .get(8, obis("0-0:1.0.0.255"), 2, None)
        .expect("GET");
    c.sock.send_to(&second, c.server).expect("send");
    let answer = c.recv();
    assert_ne!(answer.get(8), Some(&0xD8), "the later counter is served");
    c.sock.send_to(&first, c.server).expect("send");
    let answer = c.recv();
    assert_eq!(
        answer.get(8),
        Some(&0xD8),
        "exception-response: {answer:02X?}"
    );
    assert_eq!(answer.get(10), Some(&6), "invocation-counter-error");
    // A plain client on the management wPort is refused.
    let mut plain = Conn::new(
        addr(block, 2),
        settings(1, Authentication::None, Security::None, 128),
    );
    assert!(matches!(plain.associate(), Event::Rejected { .. }));
    let lines = server.terminate_and_collect().join("\n");
    assert!(
        lines.contains("replayed or reordered ciphered APDU refused"),
        "{lines}"
    );
    assert!(lines.contains("replays_refused=2"), "{lines}");
}

#[test]
fn dlms_serve_invocation_counter_survives_a_restart_sec03() {
    let block = 124;
    let state = temp_state("ic");
    let state_s = state.to_string_lossy().into_owned();
    let args = [
        "--auth",
        "hls-gmac",
        "--security",
        "auth-enc",
        "--max-pdu",
        "128",
        "--state",
        &state_s,
    ];
    let host = addr(block, 2);
    let mut used = Vec::new();
    let mut client_ic = 0;
    for run in 0..3 {
        let server = start(block, &args);
        let mut s = settings(1, Authentication::HlsGmac, Security::AuthEnc, 128);
        s.invocation_counter = client_ic;
        let mut c = Conn::new(host, s);
        assert_eq!(c.associate(), Event::Established);
        let first = c
            .received
            .iter()
            .find_map(|d| server_ic(d))
            .expect("a ciphered AARE");
        if run > 0 {
            let highest = used.iter().copied().max().expect("ICs of the first run");
            assert!(
                first > highest,
                "first IC after the restart {first} not above {highest}"
            );
        }
        read_management(&mut c);
        // A setting changed over the air in the first run is still there after each
        // restart.
        if run == 0 {
            let d = c
                .client
                .set(
                    1,
                    obis("0-0:128.0.1.255"),
                    2,
                    &Data::VisibleString(b"IOT00977".to_vec()),
                )
                .expect("SET");
            assert_eq!(c.exchange(d), Event::Done);
        }
        assert_eq!(
            c.value(1, "0-0:128.0.1.255", 2),
            Data::VisibleString(b"IOT00977".to_vec()),
            "run {run}"
        );
        used.extend(c.received.iter().filter_map(|d| server_ic(d)));
        client_ic = c.client.invocation_counter();
        // The first run is killed (SIGKILL: nothing saved at exit), the second ends with
        // SIGTERM (state saved): the reservation was on disk before any counter was
        // used either way, and the Pairing ID was saved when it changed.
        if run == 1 {
            server.terminate();
        } else {
            drop(server);
        }
    }
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&state).expect("state file")).expect("JSON");
    let reserved = saved["invocation_counter_reserved"].as_u64().expect("mark");
    assert!(used.iter().all(|&ic| u64::from(ic) <= reserved));
    let _ = std::fs::remove_file(&state);
}

/// SEC-02: a ciphered session recorded before a SIGKILL cannot be replayed after the
/// restart. The management association uses LLS with suite-0 authenticated encryption,
/// so a recorded AARQ would open it again if its counter were accepted; the window is on
/// disk before any reply leaves, whatever the 60-second save timer says.
#[test]
fn sec02_a_request_replayed_after_sigkill_is_refused() {
    let block = 149;
    let state = temp_state("replay");
    let state_s = state.to_string_lossy().into_owned();
    let args = [
        "--auth",
        "low",
        "--security",
        "auth-enc",
        "--state",
        &state_s,
    ];
    let host = addr(block, 2);
    let lls = || {
        let mut s = settings(
            1,
            Authentication::Low {
                password: b"12345678".to_vec(),
            },
            Security::AuthEnc,
            1024,
        );
        s.invocation_counter = 1_000;
        s
    };
    let server = start(block, &args);
    let mut c = Conn::new(host, lls());
    assert_eq!(c.associate(), Event::Established);
    c.value(8, "0-0:1.0.0.255", 2);
    let recorded = c.sent.clone();
    assert_eq!(recorded.len(), 2, "AARQ and GET");
    // SIGKILL, well within the save interval: nothing is written at exit.
    drop(server);
    let server = start(block, &args);
    // The same client state again builds the very AARQ recorded (LLS has no challenge).
    let mut replay = Conn::new(host, lls());
    let aarq = replay.client.associate().expect("AARQ");
    assert_eq!(aarq, recorded[0], "the recorded AARQ, byte for byte");
    replay.sock.send_to(&aarq, replay.server).expect("send");
    let answer = replay.recv();
    match replay.client.handle(&answer) {
        Ok(Event::Exception(e)) => assert!(e.contains("InvocationCounterError"), "{e}"),
        other => panic!("the replayed AARQ was not refused as a replay: {other:?}"),
    }
    // The recorded GET is not served either (no association: an exception-response).
    replay
        .sock
        .send_to(&recorded[1], replay.server)
        .expect("send");
    let answer = replay.recv();
    assert_eq!(
        answer.get(8),
        Some(&0xD8),
        "the replayed GET was answered: {answer:02X?}"
    );
    // A client above the window reads at once.
    let mut fresh_settings = lls();
    fresh_settings.invocation_counter = c.client.invocation_counter() + 1;
    let mut fresh = Conn::new(host, fresh_settings);
    assert_eq!(fresh.associate(), Event::Established);
    fresh.value(8, "0-0:1.0.0.255", 2);
    let lines = server.terminate_and_collect().join("\n");
    assert!(lines.contains("replays_refused=1"), "{lines}");
    let _ = std::fs::remove_file(&state);
}

/// Gurux-Python's client (`interop/gurux_client.py`, a separate process: GPL-2.0) reads
/// our server: clock, both registers with scaler/unit, the profile's capture objects and
/// six hours by range, at PDU 128 (block transfer), with no security, LLS and HLS-GMAC +
/// suite 0 under both glo- and general-glo-ciphering.
#[test]
fn dlms_serve_gurux_client_reads_in_every_mode_rad01_trm05_trm06_sec02() {
    let Some(python) = support::python() else {
        return;
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/gurux_client.py");
    let hls = ["--auth", "hls-gmac", "--security", "auth-enc"];
    let modes: [(&str, u8, &[&str]); 4] = [
        ("none", 125, &[]),
        ("lls", 126, &["--auth", "low"]),
        ("hls-glo", 127, &hls),
        ("hls-general-glo", 128, &hls),
    ];
    for (mode, block, extra) in modes {
        let mut args = vec!["--max-pdu", "128"];
        args.extend_from_slice(extra);
        let server = start(block, &args);
        let mut cmd = std::process::Command::new(&python);
        cmd.arg(&script).arg(addr(block, 2).to_string()).args([
            "--bind",
            &addr(block, 3).to_string(),
            "--mode",
            mode,
        ]);
        let out = support::run_with_timeout(cmd, Duration::from_secs(60));
        assert!(
            out.status.success(),
            "{mode}: {}\nserver: {}",
            String::from_utf8_lossy(&out.stderr),
            server.drain().join("\n")
        );
        let j = support::json(&out);
        let clock = DateTime::parse_from_rfc3339(j["clock"].as_str().expect("clock")).expect("ISO");
        assert_eq!(clock.offset().local_minus_utc(), 9 * 3600, "{mode}: JST");
        assert!(
            (clock.with_timezone(&Utc) - Utc::now()).num_seconds().abs() < 30,
            "{mode}"
        );
        for ln in ["1.0.1.8.0.255", "1.0.2.8.0.255"] {
            let r = &j["registers"][ln];
            assert!(r["value"].as_u64().is_some(), "{mode} {ln}: {r}");
            assert_eq!(r["unit"], 30, "{mode} {ln}: Wh");
            assert_eq!(r["scaler"].as_f64(), Some(1.0), "{mode} {ln}: 10^0");
        }
        assert_eq!(j["capture_objects"][0], "8:0.0.1.0.0.255:2", "{mode}");
        let rows = j["profile"].as_array().expect("profile");
        assert!(
            (12..=14).contains(&rows.len()),
            "{mode}: {} rows",
            rows.len()
        );
        let last_in = rows.last().expect("a row")[1].as_u64().expect("AC input");
        assert!(j["registers"]["1.0.1.8.0.255"]["value"].as_u64() >= Some(last_in));
        assert!(
            j["blocks"].as_u64() > Some(0),
            "{mode}: PDU 128 forces blocks"
        );
        let tags: Vec<&str> = j["request_tags"]
            .as_array()
            .expect("tags")
            .iter()
            .filter_map(|t| t.as_str())
            .collect();
        match mode {
            "hls-glo" => assert!(tags.contains(&"C8") && !tags.contains(&"DB"), "{tags:?}"),
            "hls-general-glo" => assert!(tags.contains(&"DB"), "{tags:?}"),
            _ => assert!(tags.contains(&"C0"), "{tags:?}"),
        }
        drop(server);
    }
}

/// SEC-02 with a client we did not write: Gurux-Python's client keeps no invocation
/// counter (it starts at 0), so after another client has used the management association
/// it is refused as a replay, unless it first reads 0-0:43.1.0.255 over the public
/// association and starts above it, as Gurux's own reader does (`--invocation-counter`).
#[test]
fn sec02_a_gurux_client_without_stored_state_resumes_above_the_served_invocation_counter() {
    let Some(python) = support::python() else {
        return;
    };
    let block = 119;
    let host = addr(block, 2);
    let server = start(block, &["--auth", "hls-gmac", "--security", "auth-enc"]);
    let mut s = settings(1, Authentication::HlsGmac, Security::AuthEnc, 1024);
    s.invocation_counter = 1_000_000;
    let mut ours = Conn::new(host, s);
    assert_eq!(ours.associate(), Event::Established);
    ours.value(8, "0-0:1.0.0.255", 2);
    let used = ours.client.invocation_counter();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/gurux_client.py");
    let gurux = |extra: &[&str]| {
        let mut cmd = std::process::Command::new(&python);
        cmd.arg(&script)
            .arg(host.to_string())
            .args(["--bind", &addr(block, 3).to_string(), "--mode", "hls-glo"])
            .args(["--timeout", "2"])
            .args(extra);
        support::run_with_timeout(cmd, Duration::from_secs(60))
    };
    let stateless = gurux(&[]);
    let why = String::from_utf8_lossy(&stateless.stderr);
    assert!(
        !stateless.status.success() && why.contains("Invocation counter is invalid"),
        "Gurux from counter 0 must be refused as a replay: {why}"
    );
    let out = gurux(&["--invocation-counter", "0.0.43.1.0.255"]);
    assert!(
        out.status.success(),
        "{}\nserver: {}",
        String::from_utf8_lossy(&out.stderr),
        server.drain().join("\n")
    );
    let j = support::json(&out);
    assert_eq!(j["invocation_counter_read"], u64::from(used), "{j}");
    assert!(
        j["registers"]["1.0.1.8.0.255"]["value"].as_u64().is_some(),
        "{j}"
    );
}

#[test]
fn sec10_serve_takes_the_vendor_image_key_and_refuses_a_malformed_one() {
    // The P-256 base point, uncompressed: a valid public key.
    const G: &str = "046B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C2964FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5";
    let block = 129;
    let server = start(block, &["--image-key", G]);
    drop(server);
    let mut cmd = iotroute();
    cmd.args(["dlms", "serve", "--bind", &addr(block, 3).to_string()])
        .args(["--image-key", "0400"]);
    let out = support::run_with_timeout(cmd, Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--image-key"));
}
