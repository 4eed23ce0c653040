//! `iotroute dlms get|set|action` driven as a user would: against an in-process server (a
//! UDP loop written here around `dlms::server::TerminalServer` over the demo-filled
//! IoT-route model, so that the client is tested without trusting `dlms serve`), and end
//! to end against `iotroute dlms serve` as a child process.
//!
//! Addresses: each test owns `127.0.N.0/24`, N from 130 to 148: the server on `.2`
//! port 4059, the client binding an ephemeral port on `.3`.

mod support;

use std::net::{Ipv4Addr, UdpSocket};
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Duration as ChronoDuration, FixedOffset, Timelike, Utc};
use dlms::cosem::{IotRouteModel, ModelConfig};
use dlms::server::{shared, Auth, Entropy, Keys, Protection, ServeConfig, TerminalServer};
use dlms::wrapper::Wpdu;
use serde_json::Value;
use support::{addr, iotroute, json, run_with_timeout, Running};

const PORT: u16 = 4059;
const LIMIT: Duration = Duration::from_secs(60);

/// Challenge bytes for the in-process server (the client under test uses the OS source).
#[derive(Debug, Clone, Copy)]
struct TestEntropy;
impl Entropy for TestEntropy {
    fn fill(&self, out: &mut [u8]) -> bool {
        for (i, b) in out.iter_mut().enumerate() {
            *b = 0x61 + (i % 26) as u8;
        }
        true
    }
}

/// A TerminalServer answering wrapper datagrams on `addr:4059` until dropped.
struct InProcess {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// The first two bytes (hex) of every APDU received: `C003` is a
    /// GET-Request-With-List, `C101` a SET-Request-Normal (plain APDUs only).
    seen: Arc<Mutex<Vec<String>>>,
}

impl InProcess {
    /// The service requests received (AARQ and RLRQ left out), and forget them.
    fn take_requests(&self) -> Vec<String> {
        std::mem::take(&mut *self.seen.lock().expect("lock"))
            .into_iter()
            .filter(|k| !k.starts_with("60") && !k.starts_with("62"))
            .collect()
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_in_process(at: Ipv4Addr, auth: Auth, protection: Protection) -> InProcess {
    serve_dropping(at, auth, protection, 0, 1)
}

/// As [`serve_in_process`], but the first `drop` datagrams are lost on the way in and
/// every answer is sent `copies` times (duplicated by the network).
fn serve_dropping(
    at: Ipv4Addr,
    auth: Auth,
    protection: Protection,
    drop: usize,
    copies: usize,
) -> InProcess {
    serve_with(at, auth, protection, drop, copies, false)
}

/// As [`serve_dropping`]; with `refuse_lists`, a server that announces multiple
/// references and answers every plain list request (GET, SET, ACTION) with an
/// exception-response, as a server that mishandles lists would.
fn serve_with(
    at: Ipv4Addr,
    auth: Auth,
    protection: Protection,
    drop: usize,
    copies: usize,
    refuse_lists: bool,
) -> InProcess {
    let now = Utc::now();
    let mut model = IotRouteModel::new(&ModelConfig::default(), now).expect("model");
    model.fill_demo(2, now).unwrap();
    let config = ServeConfig {
        auth,
        protection,
        keys: Some(Keys {
            ek: dlms::cipher::GREEN_BOOK_EK,
            ak: dlms::cipher::GREEN_BOOK_AK,
        }),
        system_title: dlms::cipher::GREEN_BOOK_SERVER_TITLE.0,
        max_pdu: 1024,
        invocation_counter: 0,
    };
    let mut server = TerminalServer::new(shared(model), config, TestEntropy).expect("server");
    let sock = UdpSocket::bind((at, PORT)).expect("bind server");
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let thread = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_536];
        let mut out = vec![0u8; 65_536];
        let mut dropped = 0;
        while !stop2.load(Ordering::Relaxed) {
            let Ok((n, from)) = sock.recv_from(&mut buf) else {
                continue;
            };
            if dropped < drop {
                dropped += 1;
                continue;
            }
            let Ok(w) = Wpdu::parse(&buf[..n]) else {
                continue;
            };
            let kind: String = w.apdu.iter().take(2).map(|b| format!("{b:02X}")).collect();
            let list = matches!(kind.as_str(), "C003" | "C104" | "C303");
            seen2.lock().expect("lock").push(kind);
            if refuse_lists && list {
                // Exception-response: service-not-allowed, service-not-supported.
                let frame = Wpdu::new(w.destination, w.source, &[0xD8, 0x01, 0x02])
                    .emit()
                    .expect("frame");
                let _ = sock.send_to(&frame, from);
                continue;
            }
            if let Ok(Some(len)) = server.handle(w.source, Utc::now(), w.apdu, &mut out) {
                let frame = Wpdu::new(w.destination, w.source, &out[..len])
                    .emit()
                    .expect("frame");
                for _ in 0..copies {
                    let _ = sock.send_to(&frame, from);
                }
            }
        }
    });
    InProcess {
        stop,
        thread: Some(thread),
        seen,
    }
}

/// `iotroute dlms <cmd> --host .2 --bind .3 --json <args>`.
fn dlms(block: u8, cmd: &str, args: &[&str]) -> Output {
    let mut c = iotroute();
    c.args([
        "dlms",
        cmd,
        "--host",
        &addr(block, 2).to_string(),
        "--bind",
        &addr(block, 3).to_string(),
        "--json",
    ])
    .args(args);
    run_with_timeout(c, LIMIT)
}

/// The environment variables that stand in for `--password`, `--ek`, `--ak`.
const SECRET_ENV: [&str; 3] = [
    "IOTROUTE_DLMS_PASSWORD",
    "IOTROUTE_DLMS_EK",
    "IOTROUTE_DLMS_AK",
];

/// As [`dlms`], with exactly the secret environment variables in `env` set.
fn dlms_env(block: u8, cmd: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = iotroute();
    for v in SECRET_ENV {
        c.env_remove(v);
    }
    c.envs(env.iter().copied()).args([
        "dlms",
        cmd,
        "--host",
        &addr(block, 2).to_string(),
        "--bind",
        &addr(block, 3).to_string(),
        "--json",
    ]);
    c.args(args);
    run_with_timeout(c, LIMIT)
}

/// A secrets file with `text` and permission bits `mode`, in a directory of the test's.
fn secrets_file(name: &str, text: &str, mode: u32) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = std::env::temp_dir().join(format!("iotroute-dlms-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("secrets");
    std::fs::write(&path, text).expect("write secrets");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

fn status(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn results(v: &Value) -> &Vec<Value> {
    v["results"].as_array().expect("results")
}

fn jst_time(v: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(v.as_str().expect("timestamp")).expect("ISO 8601")
}

/// A range of 5 closed 30-minute slots in the past: from 3 h before the last
/// boundary to 2 h later, in JST with offset.
fn range() -> (DateTime<FixedOffset>, DateTime<FixedOffset>) {
    let jst = FixedOffset::east_opt(9 * 3600).expect("JST");
    let now = Utc::now().with_timezone(&jst);
    let boundary = now
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .and_then(|t| t.with_minute(if t.minute() >= 30 { 30 } else { 0 }))
        .expect("boundary");
    let from = boundary - ChronoDuration::hours(3);
    (from, from + ChronoDuration::hours(2))
}

/// Reads both registers and the profile by range at PDU 128 with `auth` args; checks
/// kWh, the 5 rows and their timestamps.
fn reads_registers_and_profile(block: u8, auth: &[&str]) {
    let (from, to) = range();
    let (f, t) = (from.to_rfc3339(), to.to_rfc3339());
    let mut args = vec![
        "--client",
        "1",
        "--max-pdu",
        "128",
        "--from",
        &f,
        "--to",
        &t,
    ];
    args.extend_from_slice(auth);
    args.extend(["1-0:1.8.0.255", "1-0:2.8.0.255", "1-0:99.1.0.255"]);
    let out = dlms(block, "get", &args);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    let r = results(&v);
    assert_eq!(v["failed"], serde_json::json!([]));
    for reg in &r[..2] {
        assert_eq!(reg["class"], 3);
        assert_eq!(reg["unit_name"], "Wh");
        assert_eq!(reg["scaler"], 0);
        let raw = reg["value"].as_u64().expect("raw Wh");
        assert_eq!(reg["data"]["UInt32"], raw);
        assert_eq!(
            reg["kwh"].as_str().expect("kWh"),
            format!("{}.{:03}", raw / 1000, raw % 1000),
            "TRM-05: kWh to 3 decimals"
        );
    }
    let rows = r[2]["rows"].as_array().expect("rows");
    assert_eq!(
        rows.len(),
        5,
        "inclusive range of five 30-minute slots: {rows:?}"
    );
    assert_eq!(jst_time(&rows[0][0]), from);
    assert_eq!(jst_time(&rows[4][0]), to);
    assert!(rows[0][0].as_str().unwrap().ends_with("+09:00"));
    assert_eq!(r[2]["columns"][0], "8/0-0:1.0.0.255:2");
    assert_eq!(r[2]["units"][0], Value::Null);
    assert_eq!(r[2]["units"][1]["unit_name"], "Wh");
    assert_eq!(r[2]["units"][2]["scaler"], 0);
    assert_eq!(rows[0].as_array().unwrap().len(), 4);
}

#[test]
fn rad01_public_get_of_clock_and_terminal_id_exits_0() {
    let block = 130;
    let _s = serve_in_process(addr(block, 2), Auth::Low, Protection::None);
    let out = dlms(block, "get", &["0-0:1.0.0.255", "0-0:96.1.0.255:2"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["client"], 16);
    let r = results(&v);
    assert_eq!(r[0]["object"], "0-0:1.0.0.255");
    assert_eq!(r[0]["class"], 8);
    let clock = jst_time(&r[0]["value"]);
    assert_eq!(clock.offset().local_minus_utc(), 9 * 3600, "JST");
    assert!((clock.with_timezone(&Utc) - Utc::now()).num_seconds().abs() < 60);
    assert!(r[0]["data"]["OctetString"].as_str().unwrap().len() == 24);
    assert_eq!(r[1]["text"], "IRT0000000000001");
    assert_eq!(r[1]["value"], "@49525430303030303030303030303031");
}

#[test]
fn rad01_public_get_of_energy_is_refused_exit_2_with_data_access_result() {
    let block = 131;
    let _s = serve_in_process(addr(block, 2), Auth::Low, Protection::None);
    let out = dlms(block, "get", &["0-0:1.0.0.255", "1-0:1.8.0.255"]);
    assert_eq!(status(&out), 2, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["failed"], serde_json::json!(["1-0:1.8.0.255:2"]));
    let r = results(&v);
    assert!(r[0].get("value").is_some(), "the clock was still read");
    assert_eq!(r[1]["error"], "object-undefined");
    assert_eq!(r[1]["code"], 4);
    assert!(
        stderr(&out).contains("object-undefined"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn trm05_trm06_management_lls_reads_registers_and_profile_by_range_at_pdu_128() {
    let block = 132;
    let _s = serve_in_process(addr(block, 2), Auth::Low, Protection::None);
    reads_registers_and_profile(block, &["--auth", "low", "--password", "12345678"]);
}

#[test]
fn sec02_management_hls_gmac_auth_enc_reads_registers_and_profile_by_range_at_pdu_128() {
    let block = 133;
    let _s = serve_in_process(addr(block, 2), Auth::HlsGmac, Protection::AuthEnc);
    reads_registers_and_profile(
        block,
        &[
            "--auth",
            "hls-gmac",
            "--security",
            "auth-enc",
            "--ek",
            "000102030405060708090A0B0C0D0E0F",
            "--ak",
            "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF",
        ],
    );
}

#[test]
fn trm09_management_sets_the_clock_and_adjusts_it_to_the_quarter() {
    let block = 134;
    let _s = serve_in_process(addr(block, 2), Auth::Low, Protection::None);
    let lls = ["--client", "1", "--auth", "low", "--password", "12345678"];
    let with = |extra: &[&str]| -> Vec<String> {
        lls.iter().chain(extra).map(|s| (*s).to_owned()).collect()
    };
    let run = |cmd: &str, extra: &[&str]| {
        let a = with(extra);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        dlms(block, cmd, &a)
    };

    // Set by ISO time without offset (JST), read back.
    let out = run("set", &["0-0:1.0.0.255", "2026-11-25T10:07:00"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert_eq!(results(&json(&out))[0]["result"], "success");
    let out = run("get", &["0-0:1.0.0.255"]);
    let got = json(&out);
    let v = &results(&got)[0];
    assert!(
        v["value"].as_str().unwrap().starts_with("2026-11-25T10:07"),
        "{v}"
    );

    // What get printed feeds back into set: the typed form and the plain form.
    let typed = v["data"].to_string();
    let out = run("set", &["0-0:1.0.0.255", &typed]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let out = run("set", &["0-0:1.0.0.255:3", "-540"]);
    assert_eq!(status(&out), 0, "time_zone as long: {}", stderr(&out));
    assert_eq!(
        results(&json(&out))[0]["data"],
        serde_json::json!({"Int16": -540})
    );

    // adjust_to_quarter (method 1, integer(0)).
    let out = run("action", &["0-0:1.0.0.255:1", "0"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert_eq!(results(&json(&out))[0]["result"], "success");
    let out = run("get", &["0-0:1.0.0.255"]);
    let t = jst_time(&results(&json(&out))[0]["value"]);
    assert_eq!(t.minute() % 15, 0, "{t}");
    assert!(t.second() < 30, "{t}");

    // The terminal ID is read-only (TRM-08): refused, exit 2.
    let out = run("set", &["0-0:96.1.0.255", "@0102"]);
    assert_eq!(status(&out), 2, "{}", stderr(&out));
    assert_eq!(results(&json(&out))[0]["error"], "read-write-denied");
}

#[test]
fn sec02_wrong_password_exits_1_with_the_association_diagnostic() {
    let block = 135;
    let _s = serve_in_process(addr(block, 2), Auth::Low, Protection::None);
    let out = dlms(
        block,
        "get",
        &[
            "--client",
            "1",
            "--auth",
            "low",
            "--password",
            "wrong",
            "0-0:1.0.0.255",
        ],
    );
    assert_eq!(status(&out), 1, "{}", stderr(&out));
    let v = json(&out);
    let e = v["error"].as_str().expect("error");
    assert!(e.starts_with("association refused"), "{e}");
    assert!(e.to_lowercase().contains("auth"), "diagnostic named: {e}");
    assert!(stderr(&out).contains("association refused"));
    assert!(
        !stderr(&out).contains("wrong"),
        "the password is not echoed"
    );
}

#[test]
fn rad01_silent_host_exits_1_after_the_retries() {
    let block = 136;
    let silent = UdpSocket::bind((addr(block, 2), PORT)).expect("bind");
    silent
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let out = dlms(
        block,
        "get",
        &["--timeout", "0.3", "--retries", "1", "0-0:1.0.0.255"],
    );
    assert_eq!(status(&out), 1, "{}", stderr(&out));
    let e = json(&out)["error"].as_str().expect("error").to_owned();
    assert!(e.contains("timeout") && e.contains("2 attempt"), "{e}");
    let mut buf = [0u8; 2048];
    let mut seen = 0;
    while silent.recv_from(&mut buf).is_ok() {
        seen += 1;
        if seen == 2 {
            break;
        }
    }
    assert_eq!(seen, 2, "the AARQ was sent once and resent once");
}

#[test]
fn rad01_end_to_end_against_dlms_serve_hls_gmac_auth_enc() {
    let block = 137;
    let mut cmd = iotroute();
    cmd.args([
        "dlms",
        "serve",
        "--bind",
        &addr(block, 2).to_string(),
        "--port",
        &PORT.to_string(),
        "--auth",
        "hls-gmac",
        "--security",
        "auth-enc",
        "--max-pdu",
        "128",
    ]);
    let server = Running::start(cmd, "listening");
    reads_registers_and_profile(block, &["--auth", "hls-gmac", "--security", "auth-enc"]);
    // The public association in one GET-Request-With-List: the clock and the terminal
    // ID read, the profile and energy refused, each with its own result.
    let out = dlms(
        block,
        "get",
        &[
            "0-0:1.0.0.255",
            "1-0:99.1.0.255",
            "0-0:96.1.0.255",
            "1-0:2.8.0.255",
        ],
    );
    assert_eq!(status(&out), 2, "public: profile refused");
    let v = json(&out);
    assert_eq!(v["with_list"], true);
    let r = results(&v);
    assert!(jst_time(&r[0]["value"]).offset().local_minus_utc() == 9 * 3600);
    assert_eq!(r[1]["error"], "object-undefined");
    assert_eq!(r[2]["text"], "IRT0000000000001");
    assert_eq!(r[3]["error"], "object-undefined");
    assert_eq!(
        v["failed"],
        serde_json::json!(["1-0:99.1.0.255:2", "1-0:2.8.0.255:2"])
    );
    drop(server);
}

#[test]
fn sec02_ic_file_keeps_the_invocation_counter_rising_across_back_to_back_runs() {
    let block = 138;
    let _s = serve_in_process(addr(block, 2), Auth::HlsGmac, Protection::AuthEnc);
    let dir = std::env::temp_dir().join(format!("iotroute-dlms-ic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("ic");
    let _ = std::fs::remove_file(&file);
    let f = file.to_string_lossy().into_owned();
    let mut marks = Vec::new();
    for _ in 0..3 {
        let out = dlms(
            block,
            "get",
            &[
                "--client",
                "1",
                "--auth",
                "hls-gmac",
                "--security",
                "auth-enc",
                "--ic-file",
                &f,
                "1-0:1.8.0.255",
                "1-0:99.1.0.255:3",
            ],
        );
        assert_eq!(status(&out), 0, "{}", stderr(&out));
        let used = json(&out)["invocation_counter"].as_u64().expect("IC");
        let mark: u64 = std::fs::read_to_string(&file)
            .expect("ic file")
            .trim()
            .parse()
            .expect("mark");
        assert!(used < mark, "no counter at or above the mark is spent");
        marks.push(mark);
    }
    assert!(marks.windows(2).all(|w| w[0] < w[1]), "{marks:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// SEC-02: a client that kept no counter, refused as a replay after another client used
/// higher counters, reads the server's record 0-0:43.1.0.255 over the public association
/// with `--ic-object` and is served from above it.
#[test]
fn sec02_ic_object_lets_a_client_without_stored_state_resume_above_the_servers_record() {
    let block = 151;
    let _s = serve_in_process(addr(block, 2), Auth::HlsGmac, Protection::AuthEnc);
    let hls = [
        "--client",
        "1",
        "--auth",
        "hls-gmac",
        "--security",
        "auth-enc",
        "--timeout",
        "1",
        "--retries",
        "0",
    ];
    let with = |extra: &[&str]| {
        let mut args = hls.to_vec();
        args.extend_from_slice(extra);
        args.push("0-0:1.0.0.255");
        dlms(block, "get", &args)
    };
    let out = with(&["--invocation-counter", "5000000"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let used = json(&out)["invocation_counter"].as_u64().expect("IC");
    let out = with(&["--invocation-counter", "10"]);
    assert_eq!(status(&out), 1, "a counter below the record is refused");
    assert!(
        stderr(&out).contains("InvocationCounter"),
        "{}",
        stderr(&out)
    );
    let out = with(&[
        "--invocation-counter",
        "10",
        "--ic-object",
        "0-0:43.1.0.255",
    ]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let resumed = json(&out)["invocation_counter"].as_u64().expect("IC");
    assert!(resumed > used, "{resumed} above {used}");
    // An object the public client cannot read is an error, not a guess.
    let out = with(&["--ic-object", "1-0:1.8.0.255"]);
    assert_eq!(status(&out), 1);
    assert!(
        stderr(&out).contains("1-0:1.8.0.255: refused: object-undefined"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn rad01_a_lost_request_is_resent_and_answered() {
    let block = 139;
    let _s = serve_dropping(addr(block, 2), Auth::Low, Protection::None, 1, 1);
    let out = dlms(
        block,
        "get",
        &["--timeout", "0.5", "--retries", "1", "0-0:1.0.0.255"],
    );
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert!(results(&json(&out))[0]["value"].is_string());
}

#[test]
fn trm08_pairing_id_printed_by_get_feeds_back_into_set() {
    let block = 140;
    let _s = serve_in_process(addr(block, 2), Auth::Low, Protection::None);
    let lls = ["--client", "1", "--auth", "low", "--password", "12345678"];
    let run = |cmd: &str, extra: &[&str]| {
        let a: Vec<&str> = lls.iter().chain(extra).copied().collect();
        dlms(block, cmd, &a)
    };
    let out = run("get", &["0-0:128.0.1.255"]);
    let v = json(&out);
    let before = results(&v)[0]["value"].as_str().expect("string").to_owned();
    assert_eq!(results(&v)[0]["data"]["String"], before.as_str());
    let out = run("set", &["0-0:128.0.1.255", "IOT00902"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert_eq!(
        results(&json(&out))[0]["data"],
        serde_json::json!({"String": "IOT00902"})
    );
    let out = run("get", &["0-0:128.0.1.255"]);
    assert_eq!(results(&json(&out))[0]["value"], "IOT00902");
    let out = run("set", &["0-0:128.0.1.255", &before]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    // A wrong character: the server's other-reason, exit 2.
    let out = run("set", &["0-0:128.0.1.255", "iot00902"]);
    assert_eq!(status(&out), 2, "{}", stderr(&out));
    assert_eq!(results(&json(&out))[0]["error"], "other-reason");
}

#[test]
fn sec02_duplicated_answers_are_passed_over_plain_and_ciphered() {
    let block = 141;
    let _s = serve_dropping(addr(block, 2), Auth::HlsGmac, Protection::AuthEnc, 0, 2);
    reads_registers_and_profile(block, &["--auth", "hls-gmac", "--security", "auth-enc"]);
    let out = dlms(block, "get", &["0-0:1.0.0.255", "0-0:96.1.0.255"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("still waiting"),
        "the duplicates were seen and passed over: {}",
        stderr(&out)
    );
}

/// Several objects in one GET-Request-With-List on the public association: one result
/// each, the refused ones with their own Data-Access-Result (exit 2), the others read;
/// `--no-list` gives the same results with one GET-Request-Normal per object.
#[test]
fn rad01_get_with_list_one_request_with_per_item_results_and_refusals() {
    let block = 142;
    let s = serve_in_process(addr(block, 2), Auth::Low, Protection::None);
    let objects = [
        "0-0:1.0.0.255",
        "1-0:1.8.0.255",
        "0-0:96.1.0.255",
        "1-0:99.1.0.255",
    ];
    let out = dlms(block, "get", &objects);
    assert_eq!(status(&out), 2, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["with_list"], true);
    assert_eq!(
        s.take_requests(),
        ["C003"],
        "one GET-Request-With-List, nothing else"
    );
    let check = |v: &Value| {
        let r = results(v);
        assert_eq!(r.len(), 4);
        assert!(jst_time(&r[0]["value"]).offset().local_minus_utc() == 9 * 3600);
        assert_eq!(r[1]["error"], "object-undefined");
        assert_eq!(r[1]["code"], 4);
        assert!(r[1].get("value").is_none());
        assert_eq!(r[2]["text"], "IRT0000000000001");
        assert_eq!(r[3]["error"], "object-undefined");
        assert_eq!(
            v["failed"],
            serde_json::json!(["1-0:1.8.0.255:2", "1-0:99.1.0.255:2"])
        );
    };
    check(&v);
    let mut no_list = vec!["--no-list"];
    no_list.extend(objects);
    let out = dlms(block, "get", &no_list);
    assert_eq!(status(&out), 2, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["with_list"], false);
    check(&v);
    assert_eq!(s.take_requests(), ["C001"; 4]);
    // One object: a GET-Request-Normal, and the JSON as before.
    let out = dlms(block, "get", &["0-0:1.0.0.255"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert_eq!(json(&out)["with_list"], false);
    assert_eq!(s.take_requests(), ["C001"]);
}

/// Registers and a profile by range at PDU 128: the objects and what describes them
/// (scaler and unit, capture objects) go in one GET-Request-With-List whose response
/// comes back in blocks (GET-Request-Next), each item described as before.
#[test]
fn rad01_get_with_list_response_in_blocks_at_pdu_128() {
    let block = 143;
    let s = serve_in_process(addr(block, 2), Auth::Low, Protection::None);
    reads_registers_and_profile(block, &["--auth", "low", "--password", "12345678"]);
    let requests = s.take_requests();
    assert_eq!(
        requests.iter().filter(|k| *k == "C003").count(),
        1,
        "{requests:?}"
    );
    assert!(requests.iter().any(|k| k == "C002"), "blocks: {requests:?}");
    assert!(
        requests.iter().all(|k| k == "C003" || k == "C002"),
        "no other GET: {requests:?}"
    );
}

/// Several attributes written in one SET-Request-With-List (after one
/// GET-Request-With-List learning the types of plain values): one result each, a
/// read-only one refused (exit 2) without losing the others, which are written.
#[test]
fn rad01_trm08_set_with_list_writes_each_and_reports_each() {
    let block = 144;
    let s = serve_in_process(addr(block, 2), Auth::Low, Protection::None);
    let lls = ["--client", "1", "--auth", "low", "--password", "12345678"];
    let run = |cmd: &str, extra: &[&str]| {
        let a: Vec<&str> = lls.iter().chain(extra).copied().collect();
        dlms(block, cmd, &a)
    };
    let out = run(
        "set",
        &[
            "0-0:128.0.1.255",
            "IOT00903",
            "0-0:1.0.0.255:3=-540",
            "0-0:96.1.0.255=@0102",
        ],
    );
    assert_eq!(status(&out), 2, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["with_list"], true);
    let r = results(&v);
    assert_eq!(r[0]["result"], "success");
    assert_eq!(r[0]["data"], serde_json::json!({"String": "IOT00903"}));
    assert_eq!(r[1]["result"], "success");
    assert_eq!(r[1]["data"], serde_json::json!({"Int16": -540}));
    assert_eq!(r[2]["error"], "read-write-denied");
    assert_eq!(v["failed"], serde_json::json!(["0-0:96.1.0.255:2"]));
    assert_eq!(s.take_requests(), ["C003", "C104"]);
    let out = run("get", &["0-0:128.0.1.255", "0-0:1.0.0.255:3"]);
    let v = json(&out);
    assert_eq!(results(&v)[0]["value"], "IOT00903");
    assert_eq!(results(&v)[1]["value"], -540);
}

/// Several clock methods in one ACTION-Request-With-List: one result each, a refused one
/// (adjust_to_preset_time without a preset: other-reason) exits 2 without losing the
/// others; `OBJECT:METHOD VALUE` and `OBJECT:METHOD=VALUE` both name parameters.
#[test]
fn rad01_trm09_action_with_list_invokes_each_and_reports_each() {
    let block = 145;
    let s = serve_in_process(addr(block, 2), Auth::Low, Protection::None);
    let out = dlms(
        block,
        "action",
        &[
            "--client",
            "1",
            "--auth",
            "low",
            "--password",
            "12345678",
            "0-0:1.0.0.255:6=100",
            "0-0:1.0.0.255:4",
            "0",
            "0-0:1.0.0.255:3",
            "0",
        ],
    );
    assert_eq!(status(&out), 2, "{}", stderr(&out));
    let v = json(&out);
    assert_eq!(v["with_list"], true);
    let r = results(&v);
    assert_eq!(r.len(), 3);
    assert_eq!(r[0]["result"], "success");
    assert_eq!(r[0]["data"], serde_json::json!({"Int16": 100}));
    assert_eq!(r[1]["error"], "other-reason");
    assert_eq!(r[2]["result"], "success");
    assert_eq!(r[2]["method"], 3);
    assert_eq!(v["failed"], serde_json::json!(["0-0:1.0.0.255:4"]));
    assert_eq!(s.take_requests(), ["C303"]);
}

/// SEC-02: the LLS password comes from `--password`, `IOTROUTE_DLMS_PASSWORD` or
/// `--secrets FILE`, in that order of precedence, and a file others may read is refused.
#[test]
fn sec02_password_from_flag_env_or_secrets_file_in_that_order() {
    let block = 146;
    let _s = serve_in_process(addr(block, 2), Auth::Low, Protection::None);
    let good = secrets_file("pw-good", "# LLS\npassword=12345678\n", 0o600);
    let good = good.to_str().expect("path");
    let get = |extra: &[&str], env: &[(&str, &str)]| {
        let mut a = vec!["--client", "1", "--auth", "low"];
        a.extend_from_slice(extra);
        a.push("0-0:1.0.0.255");
        dlms_env(block, "get", &a, env)
    };
    let env_good = [("IOTROUTE_DLMS_PASSWORD", "12345678")];
    let env_bad = [("IOTROUTE_DLMS_PASSWORD", "wrong-from-env")];
    // Each source alone.
    let out = get(&[], &env_good);
    assert_eq!(status(&out), 0, "env: {}", stderr(&out));
    let out = get(&["--secrets", good], &[]);
    assert_eq!(status(&out), 0, "file: {}", stderr(&out));
    // The environment beats the file, the flag beats the environment.
    let out = get(&["--secrets", good], &env_bad);
    assert_eq!(status(&out), 1, "env over file: {}", stderr(&out));
    assert!(json(&out)["error"]
        .as_str()
        .unwrap()
        .starts_with("association refused"));
    assert!(!stderr(&out).contains("wrong-from-env"), "{}", stderr(&out));
    let out = get(&["--password", "12345678"], &env_bad);
    assert_eq!(status(&out), 0, "flag over env: {}", stderr(&out));
    // None at all, and a file open to others.
    let out = get(&[], &[]);
    assert_eq!(status(&out), 1);
    assert!(
        stderr(&out).contains("IOTROUTE_DLMS_PASSWORD"),
        "{}",
        stderr(&out)
    );
    let open = secrets_file("pw-open", "password=open-secret\n", 0o644);
    let out = get(&["--secrets", open.to_str().expect("path")], &[]);
    assert_eq!(status(&out), 1, "{}", stderr(&out));
    let e = json(&out)["error"].as_str().expect("error").to_owned();
    assert!(e.contains("chmod 600"), "{e}");
    assert!(!stderr(&out).contains("open-secret"));
}

/// SEC-02: suite-0 keys from the environment or a secrets file (flag > environment >
/// file), never in the logs even at trace level, nor in `--help`.
#[test]
fn sec02_keys_from_env_or_secrets_file_never_logged() {
    let block = 147;
    let _s = serve_in_process(addr(block, 2), Auth::HlsGmac, Protection::AuthEnc);
    const EK: &str = "000102030405060708090A0B0C0D0E0F";
    const AK: &str = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF";
    const OTHER: &str = "0F0E0D0C0B0A09080706050403020100";
    let file = secrets_file("keys", &format!("ek={EK}\nak = {AK}\n"), 0o600);
    let file = file.to_str().expect("path");
    let get = |extra: &[&str], env: &[(&str, &str)]| {
        let mut a = vec![
            "--client",
            "1",
            "--auth",
            "hls-gmac",
            "--security",
            "auth-enc",
            "--log",
            "trace",
        ];
        a.extend_from_slice(extra);
        a.push("1-0:1.8.0.255");
        dlms_env(block, "get", &a, env)
    };
    let env_good = [("IOTROUTE_DLMS_EK", EK), ("IOTROUTE_DLMS_AK", AK)];
    let env_bad = [("IOTROUTE_DLMS_EK", OTHER), ("IOTROUTE_DLMS_AK", AK)];
    // Back-to-back runs under the same keys: explicit, rising invocation counters.
    for (i, (extra, env, want)) in [
        (&[][..], &env_good[..], 0),
        (&["--secrets", file][..], &[][..], 0),
        (&["--secrets", file][..], &env_bad[..], 1),
        (&["--ek", EK][..], &env_bad[..], 0),
    ]
    .into_iter()
    .enumerate()
    {
        let ic = ((i + 1) * 1000).to_string();
        let mut extra = extra.to_vec();
        extra.extend(["--invocation-counter", &ic]);
        let out = get(&extra, env);
        assert_eq!(status(&out), want, "{extra:?} {env:?}: {}", stderr(&out));
        let logs = stderr(&out);
        for secret in [EK, AK, OTHER] {
            assert!(!logs.contains(secret), "a key in the logs: {logs}");
            assert!(
                !logs.contains(&secret.to_lowercase()),
                "a key in the logs: {logs}"
            );
        }
    }
    let help = dlms_env(block, "get", &["--help"], &env_bad);
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    assert!(help.contains("IOTROUTE_DLMS_EK"), "{help}");
    assert!(help.contains("--secrets"), "{help}");
    assert!(!help.contains(OTHER), "env values hidden: {help}");
}

/// SEC-02: `dlms translate` takes its keys from the environment or a secrets file too.
#[test]
fn sec02_translate_keys_from_env_or_secrets_file() {
    const EK: &str = "000102030405060708090A0B0C0D0E0F";
    const AK: &str = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF";
    // Green Book Table 40: glo-get-request of the clock, SC 0x30, IC 0x01234567.
    const GLO: &str = "C8 1E 30 01234567 411312FF935A47566827C467BC 7D825C3BE4A77C3FCC056B6B";
    let translate = |extra: &[&str], env: &[(&str, &str)]| {
        let mut c = iotroute();
        for v in SECRET_ENV {
            c.env_remove(v);
        }
        c.envs(env.iter().copied())
            .args([
                "dlms",
                "translate",
                GLO,
                "--system-title",
                "4D4D4D0000BC614E",
            ])
            .args(extra);
        run_with_timeout(c, LIMIT)
    };
    let opened = |out: &Output| String::from_utf8_lossy(&out.stdout).contains("0-0:1.0.0.255");
    let out = translate(&[], &[("IOTROUTE_DLMS_EK", EK), ("IOTROUTE_DLMS_AK", AK)]);
    assert!(out.status.success() && opened(&out), "{}", stderr(&out));
    let file = secrets_file(
        "translate",
        &format!("password=unused\nek={EK}\nak={AK}\n"),
        0o600,
    );
    let out = translate(&["--secrets", file.to_str().expect("path")], &[]);
    assert!(out.status.success() && opened(&out), "{}", stderr(&out));
    // One key alone is a usage error, wherever it came from.
    let out = translate(&[], &[("IOTROUTE_DLMS_EK", EK)]);
    assert_eq!(status(&out), 1);
    assert!(
        stderr(&out).contains("--ek and --ak go together"),
        "{}",
        stderr(&out)
    );
}

/// A server that announces lists and refuses them: the client exits 1 naming
/// `--no-list`, and with `--no-list` reads and writes the same objects one by one.
#[test]
fn rad01_a_refused_list_points_at_no_list_which_works() {
    let block = 148;
    let s = serve_with(addr(block, 2), Auth::Low, Protection::None, 0, 1, true);
    let lls = ["--client", "1", "--auth", "low", "--password", "12345678"];
    let run = |cmd: &str, extra: &[&str]| {
        let a: Vec<&str> = lls.iter().chain(extra).copied().collect();
        dlms(block, cmd, &a)
    };
    for (cmd, args) in [
        ("get", &["0-0:1.0.0.255", "0-0:96.1.0.255"][..]),
        (
            "set",
            &[
                "0-0:1.0.0.255:3=-540",
                "0-0:128.0.1.255={\"String\": \"IOT00901\"}",
            ][..],
        ),
        ("action", &["0-0:1.0.0.255:1=0", "0-0:1.0.0.255:3=0"][..]),
    ] {
        let out = run(cmd, args);
        assert_eq!(status(&out), 1, "{cmd}: {}", stderr(&out));
        let e = json(&out)["error"].as_str().expect("error").to_owned();
        assert!(
            e.contains("exception-response") && e.contains("--no-list"),
            "{cmd}: {e}"
        );
        let mut no_list = vec!["--no-list"];
        no_list.extend(args);
        let out = run(cmd, &no_list);
        let v = json(&out);
        assert!(status(&out) != 1, "{cmd} --no-list: {}", stderr(&out));
        assert_eq!(v["with_list"], false);
        assert_eq!(results(&v).len(), 2);
    }
    assert!(s.take_requests().contains(&"C101".to_owned()));
}
