//! Our client (`iotroute dlms get|set|action --json`) against a Gurux-Python DLMS/COSEM
//! server (`interop/gurux_server.py`, a separate GPL-2.0 process, patched at run time to
//! act as a test server) over the UDP wrapper on loopback: clock, both energy registers
//! and the load profile by range, plain, at PDU 128 (block transfer), with LLS, and with
//! HLS-GMAC + suite 0 authenticated, encrypted or both; GET, SET and ACTION alone and
//! with lists, refusals included.
//!
//! Skipped (listed in the `SKIPPED (n):` block of `scripts/test`) when the interop venv or gurux_dlms is missing; a
//! failure instead under `CI` (non-empty, not "0") or `IOTROUTE_INTEROP=1`.
//!
//! Addresses: block 127.0.150.0/24; test n uses the server on `.(10n+2)` port 4059 and
//! binds the client to `.(10n+3)`.

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Duration as ChronoDuration, FixedOffset, Timelike, Utc};
use serde_json::Value;
use support::{addr, iotroute, json, python, run_with_timeout};

const BLOCK: u8 = 150;
const LIMIT: Duration = Duration::from_secs(60);

/// The venv's Python when it can import gurux_dlms; `None` (after a visible skip, or a
/// panic when peers are required) otherwise.
fn gurux_python() -> Option<PathBuf> {
    let py = python()?;
    let ok = Command::new(&py)
        .args(["-c", "import gurux_dlms"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(py);
    }
    support::skips::skip(&format!(
        "interop peer missing: gurux_dlms in {} (run scripts/setup-interop)",
        py.display()
    ));
    None
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/gurux_server.py")
}

/// `gurux_server.py` as a child process, killed when dropped; its stderr collected.
struct GuruxServer {
    child: Child,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl GuruxServer {
    fn start(py: &PathBuf, host: u8, args: &[&str]) -> GuruxServer {
        let mut cmd = Command::new(py);
        cmd.arg(script())
            .args(["--bind", &addr(BLOCK, host).to_string()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start gurux_server.py");
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("lock").push(line);
            }
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            // Keep reading after READY so that the server never writes to a closed pipe.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let server = GuruxServer {
            child,
            stderr: lines,
        };
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line.trim() == "READY" => server,
            other => panic!(
                "gurux_server.py did not print READY ({other:?}); stderr:\n{}",
                server.log()
            ),
        }
    }

    fn log(&self) -> String {
        std::thread::sleep(Duration::from_millis(100));
        self.stderr.lock().expect("lock").join("\n")
    }
}

impl Drop for GuruxServer {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.child.wait();
    }
}

/// `iotroute dlms get --host .(host) --bind .(host+1) --json --timeout 5 <args>`.
fn get(host: u8, args: &[&str]) -> Output {
    get_within(host, "5", args)
}

/// As [`get`], waiting `timeout` seconds per request.
fn get_within(host: u8, timeout: &str, args: &[&str]) -> Output {
    run(host, "get", timeout, args)
}

/// `iotroute dlms <cmd> --host .(host) --bind .(host+1) --json --timeout <timeout> <args>`.
fn run(host: u8, cmd: &str, timeout: &str, args: &[&str]) -> Output {
    let mut c = iotroute();
    c.args([
        "dlms",
        cmd,
        "--host",
        &addr(BLOCK, host).to_string(),
        "--bind",
        &addr(BLOCK, host + 1).to_string(),
        "--json",
        "--timeout",
        timeout,
    ])
    .args(args);
    run_with_timeout(c, LIMIT)
}

fn jst_time(v: &Value) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(v.as_str().expect("timestamp")).expect("ISO 8601")
}

/// Five closed 30-minute slots: 3 h before the last boundary to 2 h later (the Gurux
/// server holds the 48 slots up to the last boundary).
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

/// Reads clock, both registers and the profile by range over the management
/// association (client wPort 1) with `extra` args, and checks what came back; returns
/// the client's JSON and its stderr.
fn reads_clock_registers_and_profile(
    server: &GuruxServer,
    host: u8,
    extra: &[&str],
) -> (Value, String) {
    let (from, to) = range();
    let (f, t) = (from.to_rfc3339(), to.to_rfc3339());
    let mut args = vec!["--client", "1", "--from", &f, "--to", &t];
    args.extend_from_slice(extra);
    args.extend([
        "0-0:1.0.0.255",
        "1-0:1.8.0.255",
        "1-0:2.8.0.255",
        "1-0:99.1.0.255",
    ]);
    let out = get(host, &args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "client stderr:\n{stderr}\nserver log:\n{}",
        server.log()
    );
    let v = json(&out);
    assert_eq!(v["failed"], serde_json::json!([]));
    let r = v["results"].as_array().expect("results");
    assert_eq!(r.len(), 4);

    // Clock: Gurux's octet-string(12), JST, close to now.
    assert_eq!(r[0]["class"], 8);
    let clock = jst_time(&r[0]["value"]);
    assert_eq!(clock.offset().local_minus_utc(), 9 * 3600, "JST");
    assert!((clock.with_timezone(&Utc) - Utc::now()).num_seconds().abs() < 60);
    let hex = r[0]["data"]["OctetString"].as_str().expect("octet-string");
    assert!(hex.ends_with("FDE400"), "deviation -540: {hex}");

    // Registers: Wh, scaler 0, kWh to 3 decimals.
    for reg in &r[1..3] {
        assert_eq!(reg["class"], 3);
        assert_eq!(reg["unit_name"], "Wh");
        assert_eq!(reg["scaler"], 0);
        let raw = reg["value"].as_u64().expect("raw Wh");
        assert_eq!(reg["data"]["UInt32"], raw);
        assert_eq!(
            reg["kwh"].as_str().expect("kWh"),
            format!("{}.{:03}", raw / 1000, raw % 1000)
        );
    }

    // Profile by range: 5 inclusive slots, 4 columns, growing counters.
    let p = &r[3];
    assert_eq!(
        p["columns"],
        serde_json::json!([
            "8/0-0:1.0.0.255:2",
            "3/1-0:1.8.0.255:2",
            "3/1-0:2.8.0.255:2",
            "1/0-0:96.10.1.255:2"
        ])
    );
    assert_eq!(p["units"][1]["unit_name"], "Wh");
    let rows = p["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 5, "inclusive range of five slots: {rows:?}");
    for (i, row) in rows.iter().enumerate() {
        let row = row.as_array().expect("row");
        assert_eq!(row.len(), 4);
        let slot = from + ChronoDuration::minutes(30 * i as i64);
        assert_eq!(jst_time(&row[0]), slot);
        assert!(row[0].as_str().unwrap().ends_with("+09:00"));
        assert_eq!(row[3], 0, "status");
    }
    let ac_in: Vec<u64> = rows.iter().map(|r| r[1].as_u64().expect("Wh")).collect();
    assert!(ac_in.windows(2).all(|w| w[0] < w[1]), "{ac_in:?}");
    let last_in = r[1]["value"].as_u64().expect("Wh");
    assert!(ac_in[4] < last_in, "the register is ahead of older slots");
    (v, stderr)
}

/// Exchanges the server logged: `(request, answer)` first two APDU bytes in hex.
fn exchanges(log: &str) -> Vec<(String, String)> {
    log.lines()
        .filter_map(|l| l.split("exchange ").nth(1))
        .filter_map(|rest| {
            let mut it = rest.split_whitespace();
            let req = it.next()?.to_owned();
            let _arrow = it.next()?;
            Some((req, it.next()?.to_owned()))
        })
        .collect()
}

#[test]
fn rad01_reads_gurux_server_without_security() {
    let Some(py) = gurux_python() else { return };
    let host = 12;
    let server = GuruxServer::start(&py, host, &[]);
    reads_clock_registers_and_profile(&server, host, &[]);
    let log = server.log();
    let ex = exchanges(&log);
    assert_eq!(
        ex.first().map(|e| e.1.as_str()),
        Some("6129"),
        "AARE: {log}"
    );
    assert!(
        !ex.iter().any(|e| e.1 == "C402"),
        "no block transfer at the default PDU: {log}"
    );
    assert_eq!(ex.last().map(|e| e.1.as_str()), Some("6303"), "RLRE: {log}");
}

/// At PDU 128 both ways of reading: one GET-Request-With-List whose response comes in
/// blocks (Gurux's list responses need the harness's get_request_with_list), and with
/// `--no-list` one GET-Request-Normal per attribute, the profile in blocks.
#[test]
fn rad01_reads_gurux_server_at_pdu_128_with_block_transfer() {
    let Some(py) = gurux_python() else { return };
    let host = 22;
    let server = GuruxServer::start(&py, host, &["--max-pdu", "128"]);
    let (v, _) = reads_clock_registers_and_profile(&server, host, &["--max-pdu", "128"]);
    assert_eq!(v["with_list"], true);
    assert_eq!(v["list_fallback"], false, "a decodable list answer is read");
    let log = server.log();
    let ex = exchanges(&log);
    assert!(
        ex.iter().any(|e| e.0 == "C003" && e.1 == "C402"),
        "a GET-Request-With-List answered in blocks: {log}"
    );
    assert!(
        !ex.iter().any(|e| e.0 == "C001"),
        "no GET-Request-Normal: {log}"
    );
    let blocks = ex.iter().filter(|e| e.1 == "C402").count();
    assert!(blocks >= 2, "GET-Response-With-Datablock expected: {log}");
    assert!(
        ex.iter().any(|e| e.0 == "C002"),
        "GET-Request-Next expected: {log}"
    );
    let before = ex.len();
    reads_clock_registers_and_profile(&server, host, &["--max-pdu", "128", "--no-list"]);
    let log = server.log();
    let ex = exchanges(&log);
    let normal: Vec<_> = ex[before..]
        .iter()
        .filter(|e| e.0.starts_with("C0"))
        .collect();
    assert!(
        normal.iter().all(|e| e.0 != "C003")
            && normal.iter().filter(|e| e.0 == "C001").count() >= 6,
        "--no-list: one GET-Request-Normal each: {log}"
    );
    assert!(
        normal.iter().any(|e| e.1 == "C402"),
        "the profile in blocks: {log}"
    );
}

/// Gurux's own GET-Request-With-List handler (`--gurux-get-with-list`, not the harness's
/// repaired one) answers a list too long for PDU 128 with the with-list tag and a
/// datablock body lacking the raw-data choice, which no decoder reads (real meters have
/// such defects). With lists on (the default) the client still reads everything: it logs
/// the undecodable answer at once and reads each object with its own GET on the same
/// association (one AARQ, one RLRQ), the profile by range in blocks.
fn reads_gurux_own_list_answer_in_blocks(host: u8, security: &[&str], ciphered: bool) {
    let Some(py) = gurux_python() else { return };
    let mut server_args = vec!["--max-pdu", "128", "--gurux-get-with-list"];
    server_args.extend_from_slice(security);
    let server = GuruxServer::start(&py, host, &server_args);
    let mut client_args = vec!["--max-pdu", "128"];
    client_args.extend_from_slice(security);
    let (v, stderr) = reads_clock_registers_and_profile(&server, host, &client_args);
    assert_eq!(v["with_list"], true, "the list was tried first");
    assert_eq!(v["list_fallback"], true, "{stderr}");
    assert!(
        stderr.contains("GET-Request-With-List does not decode"),
        "the fallback is logged: {stderr}"
    );
    let log = server.log();
    let ex = exchanges(&log);
    let aarqs = ex.iter().filter(|e| e.0.starts_with("60")).count();
    assert_eq!(aarqs, 1, "one association: {log}");
    assert_eq!(
        ex.last().map(|e| e.0.as_str()),
        Some("6203"),
        "released: {log}"
    );
    let gets: Vec<String> = if ciphered {
        let answers = ex.iter().filter(|e| e.0.starts_with("C0"));
        assert!(
            answers
                .clone()
                .all(|e| e.1.starts_with("CC") || e.1.starts_with("DB")),
            "answers ciphered: {log}"
        );
        log.lines()
            .filter_map(|l| l.split("deciphered C8 -> ").nth(1))
            .filter_map(|r| r.split_whitespace().next())
            .map(str::to_owned)
            .collect()
    } else {
        assert!(
            ex.iter().any(|e| e.0 == "C003" && e.1 == "C403"),
            "Gurux's with-list answer in blocks: {log}"
        );
        ex.iter()
            .filter(|e| e.0.starts_with("C0"))
            .map(|e| e.0.clone())
            .collect()
    };
    assert_eq!(
        gets.iter().filter(|g| *g == "C003").count(),
        1,
        "one list, then no more: {gets:?}\n{log}"
    );
    assert_eq!(gets.first().map(String::as_str), Some("C003"), "{log}");
    assert!(
        gets.iter().filter(|g| *g == "C001").count() >= 7,
        "each object (clock, registers and their units, profile and its capture objects) \
         with its own GET-Request-Normal: {gets:?}\n{log}"
    );
    assert!(
        gets.iter().any(|g| g == "C002"),
        "the profile in blocks: {gets:?}\n{log}"
    );
}

#[test]
fn rad01_trm06_gurux_own_list_answer_in_blocks_falls_back_to_one_request_per_object() {
    reads_gurux_own_list_answer_in_blocks(102, &[], false);
}

#[test]
fn rad01_trm06_gurux_own_list_answer_in_blocks_falls_back_to_one_request_per_object_ciphered() {
    reads_gurux_own_list_answer_in_blocks(
        112,
        &["--auth", "hls-gmac", "--security", "auth-enc"],
        true,
    );
}

/// Gurux's own list handler's other defect: a refused item is written as its code followed
/// by the value, so a list with a refusal does not decode even when it fits one PDU. The
/// public client still gets each value and each refusal, one GET each (exit 2).
#[test]
fn rad01_gurux_own_list_answer_with_a_refused_item_falls_back_and_keeps_the_refusal() {
    let Some(py) = gurux_python() else { return };
    let host = 122;
    let server = GuruxServer::start(&py, host, &["--gurux-get-with-list"]);
    let out = get(host, &["0-0:1.0.0.255", "0-0:96.1.0.255", "1-0:1.8.0.255"]);
    assert_eq!(out.status.code(), Some(2), "{}", server.log());
    let v = json(&out);
    assert_eq!(v["list_fallback"], true, "{v}");
    assert_eq!(v["results"][1]["text"], "IRT0000000000001");
    assert_eq!(v["results"][2]["error"], "read-write-denied");
    assert_eq!(v["failed"], serde_json::json!(["1-0:1.8.0.255:2"]));
    let ex = exchanges(&server.log());
    assert_eq!(ex.iter().filter(|e| e.0 == "C003").count(), 1, "{ex:?}");
    assert!(ex.iter().filter(|e| e.0 == "C001").count() >= 3, "{ex:?}");
}

#[test]
fn sec02_reads_gurux_server_with_lls() {
    let Some(py) = gurux_python() else { return };
    let host = 32;
    let server = GuruxServer::start(&py, host, &["--auth", "low", "--password", "s3cret!"]);
    reads_clock_registers_and_profile(&server, host, &["--auth", "low", "--password", "s3cret!"]);
    // A wrong password: Gurux's AARE refuses it, our client exits 1 with the diagnostic.
    let out = get(
        host,
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
    assert_eq!(out.status.code(), Some(1), "{}", server.log());
    let e = json(&out)["error"].as_str().expect("error").to_owned();
    assert!(e.starts_with("association refused"), "{e}");
    assert!(e.contains("AuthenticationFailure"), "{e}");
    // The public association (client wPort 16, no security) reads the clock and the
    // terminal ID; energy is refused.
    let out = get(host, &["0-0:1.0.0.255", "0-0:96.1.0.255", "1-0:1.8.0.255"]);
    assert_eq!(out.status.code(), Some(2), "{}", server.log());
    let v = json(&out);
    assert_eq!(v["client"], 16);
    assert_eq!(v["results"][1]["text"], "IRT0000000000001");
    assert_eq!(v["failed"], serde_json::json!(["1-0:1.8.0.255:2"]));
}

/// Gurux's own LLS AARE names no mechanism; our client reads it as naming LLS (a
/// workaround in `dlms::client`, since the upstream session refuses it), so a meter built
/// like Gurux's server is still read.
#[test]
fn sec02_reads_gurux_server_with_its_own_lls_aare() {
    let Some(py) = gurux_python() else { return };
    let host = 36;
    let server = GuruxServer::start(
        &py,
        host,
        &["--auth", "low", "--password", "s3cret!", "--gurux-lls-aare"],
    );
    reads_clock_registers_and_profile(&server, host, &["--auth", "low", "--password", "s3cret!"]);
}

#[test]
fn sec02_reads_gurux_server_with_hls_gmac_and_suite0_auth_enc_at_pdu_128() {
    let Some(py) = gurux_python() else { return };
    let host = 42;
    let server = GuruxServer::start(
        &py,
        host,
        &[
            "--auth",
            "hls-gmac",
            "--security",
            "auth-enc",
            "--max-pdu",
            "128",
        ],
    );
    let keys = [
        "--auth",
        "hls-gmac",
        "--security",
        "auth-enc",
        "--ek",
        "000102030405060708090A0B0C0D0E0F",
        "--ak",
        "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF",
        "--max-pdu",
        "128",
    ];
    reads_clock_registers_and_profile(&server, host, &keys);
    let log = server.log();
    let ex = exchanges(&log);
    // The AARQ carries a glo-initiate-request; HLS pass 3 is a ciphered ACTION on the
    // association object; every GET went ciphered (deciphered by the harness for Gurux)
    // and Gurux answered ciphered (glo- or general-glo-), in blocks at PDU 128: one
    // GET-Request-With-List (two: the range read and the cipher overhead do not fit
    // one request of 128 bytes) and the GET-Request-Next for the blocks.
    assert!(log.contains("deciphered CB -> C301"), "{log}");
    assert!(log.contains("associated: client wPort 1"), "{log}");
    assert!(
        log.contains("deciphered C8 -> C003"),
        "ciphered GET-Request-With-List: {log}"
    );
    assert!(
        ex.iter()
            .filter(|e| e.0.starts_with("C0"))
            .all(|e| e.1.starts_with("CC") || e.1.starts_with("DB")),
        "answers ciphered: {log}"
    );
    assert!(
        log.matches("deciphered C8 -> C002").count() >= 1,
        "GET-Request-Next (block transfer), ciphered: {log}"
    );
    // A second association under the same keys: the harness keeps Gurux's counter
    // rising across associations, so our client's replay check passes.
    let out = get(
        host,
        &["--client", "1", "0-0:1.0.0.255"]
            .iter()
            .chain(keys.iter())
            .copied()
            .collect::<Vec<_>>(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", server.log());
    // HLS without ciphering the service APDUs: the harness refuses the plain ACTION
    // under --security auth-enc (Gurux alone would serve it), so the client times out.
    let out = get_within(
        host,
        "1",
        &[
            "--client",
            "1",
            "--auth",
            "hls-gmac",
            "--retries",
            "0",
            "0-0:1.0.0.255",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", server.log());
    assert!(
        server
            .log()
            .contains("plain request C3 from client wPort 1 refused"),
        "{}",
        server.log()
    );
}

/// GET-Request-With-List on the public association: one request, the clock and the
/// terminal ID read, energy and the profile each refused with Gurux's own
/// Data-Access-Result (read-write-denied), exit 2. (Gurux wrote a refused item of a list
/// as its code followed by the value: the harness's get_request_with_list.)
#[test]
fn rad01_get_with_list_from_gurux_server_with_per_item_refusals() {
    let Some(py) = gurux_python() else { return };
    let host = 52;
    let server = GuruxServer::start(&py, host, &[]);
    let out = get(
        host,
        &[
            "0-0:1.0.0.255",
            "1-0:1.8.0.255",
            "0-0:96.1.0.255",
            "1-0:99.1.0.255",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", server.log());
    let v = json(&out);
    assert_eq!(v["with_list"], true);
    let r = v["results"].as_array().expect("results");
    assert_eq!(
        jst_time(&r[0]["value"]).offset().local_minus_utc(),
        9 * 3600
    );
    assert_eq!(r[1]["error"], "read-write-denied");
    assert_eq!(r[1]["code"], 3);
    assert_eq!(r[2]["text"], "IRT0000000000001");
    assert_eq!(r[3]["error"], "read-write-denied");
    assert_eq!(
        v["failed"],
        serde_json::json!(["1-0:1.8.0.255:2", "1-0:99.1.0.255:2"])
    );
    let log = server.log();
    let gets: Vec<_> = exchanges(&log)
        .into_iter()
        .filter(|e| e.0.starts_with("C0"))
        .collect();
    assert_eq!(gets, [("C003".to_owned(), "C403".to_owned())], "{log}");
}

/// SET against Gurux: several attributes in one SET-Request-With-List (one result each,
/// the read-only terminal ID refused, exit 2), one alone with `--no-list` (a
/// SET-Request-Normal), each read back. (Gurux wrote nothing for a list and failed every
/// SET-Request-Normal: the harness's handle_set_request and patch_set_request_helpers.)
#[test]
fn rad01_sets_gurux_server_attributes_with_a_list_and_alone() {
    let Some(py) = gurux_python() else { return };
    let host = 62;
    let server = GuruxServer::start(&py, host, &["--auth", "low", "--password", "s3cret!"]);
    let lls = ["--client", "1", "--auth", "low", "--password", "s3cret!"];
    fn with<'a>(lls: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        lls.iter().chain(extra).copied().collect()
    }
    let out = run(
        host,
        "set",
        "5",
        &with(
            &lls,
            &[
                "0-0:1.0.0.255:3=-300",
                "0-0:96.10.1.255",
                "7",
                "0-0:96.1.0.255=@00",
            ],
        ),
    );
    assert_eq!(out.status.code(), Some(2), "{}", server.log());
    let v = json(&out);
    let r = v["results"].as_array().expect("results");
    assert_eq!(r[0]["result"], "success");
    assert_eq!(r[0]["data"], serde_json::json!({"Int16": -300}));
    assert_eq!(r[1]["result"], "success");
    assert_eq!(
        r[1]["data"],
        serde_json::json!({"UInt8": 7}),
        "the type read first"
    );
    assert_eq!(r[2]["error"], "read-write-denied");
    assert_eq!(v["failed"], serde_json::json!(["0-0:96.1.0.255:2"]));
    assert!(
        exchanges(&server.log()).contains(&("C104".to_owned(), "C505".to_owned())),
        "SET-Request-With-List: {}",
        server.log()
    );
    let out = get(host, &with(&lls, &["0-0:1.0.0.255:3", "0-0:96.10.1.255"]));
    let v = json(&out);
    assert_eq!(v["results"][0]["value"], -300);
    assert_eq!(v["results"][1]["value"], 7);

    let out = run(
        host,
        "set",
        "5",
        &with(&lls, &["--no-list", "0-0:96.10.1.255", "9"]),
    );
    assert_eq!(out.status.code(), Some(0), "{}", server.log());
    assert_eq!(json(&out)["results"][0]["result"], "success");
    assert!(
        exchanges(&server.log()).contains(&("C101".to_owned(), "C501".to_owned())),
        "SET-Request-Normal: {}",
        server.log()
    );
    let out = get(host, &with(&lls, &["0-0:96.10.1.255"]));
    assert_eq!(json(&out)["results"][0]["value"], 9);
}

/// ACTION against Gurux: a register reset and a clock method (Gurux's clock refuses
/// every method) in one ACTION-Request-With-List, one result each (exit 2), then a reset
/// alone (ACTION-Request-Normal); the reset registers read 0. (Gurux read a list as one
/// normal request: the harness's handle_method_request.)
#[test]
fn rad01_invokes_gurux_server_methods_with_a_list_and_alone() {
    let Some(py) = gurux_python() else { return };
    let host = 72;
    let server = GuruxServer::start(&py, host, &[]);
    let out = run(
        host,
        "action",
        "5",
        &["--client", "1", "1-0:1.8.0.255:1=0", "0-0:1.0.0.255:1", "0"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", server.log());
    let v = json(&out);
    assert_eq!(v["with_list"], true);
    assert_eq!(v["results"][0]["result"], "success");
    assert_eq!(v["results"][1]["error"], "read-write-denied");
    assert_eq!(v["failed"], serde_json::json!(["0-0:1.0.0.255:1"]));
    let out = run(
        host,
        "action",
        "5",
        &["--client", "1", "1-0:2.8.0.255:1", "0"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", server.log());
    assert_eq!(json(&out)["results"][0]["result"], "success");
    let ex = exchanges(&server.log());
    for pair in [("C303", "C703"), ("C301", "C701")] {
        assert!(
            ex.contains(&(pair.0.to_owned(), pair.1.to_owned())),
            "{pair:?}: {}",
            server.log()
        );
    }
    let out = get(host, &["--client", "1", "1-0:1.8.0.255", "1-0:2.8.0.255"]);
    assert_eq!(out.status.code(), Some(0), "{}", server.log());
    let v = json(&out);
    assert_eq!(v["results"][0]["value"], 0);
    assert_eq!(v["results"][1]["value"], 0);
}

/// HLS-GMAC with service APDUs under `--security auth` or `enc` alone (security control
/// 0x10 or 0x20, suite 0), both ways: clock, registers and the profile by range read.
fn reads_gurux_server_under_hls_gmac_and(security: &str, control: &str, host: u8) {
    let Some(py) = gurux_python() else { return };
    let server = GuruxServer::start(&py, host, &["--auth", "hls-gmac", "--security", security]);
    reads_clock_registers_and_profile(
        &server,
        host,
        &["--auth", "hls-gmac", "--security", security],
    );
    let log = server.log();
    assert!(log.contains("associated: client wPort 1"), "{log}");
    let requests: Vec<_> = log
        .lines()
        .filter(|l| l.contains("deciphered C8"))
        .collect();
    assert!(!requests.is_empty(), "{log}");
    let want = format!("(security control {control})");
    assert!(requests.iter().all(|l| l.ends_with(&want)), "{log}");
    let ex = exchanges(&log);
    assert!(
        ex.iter()
            .filter(|e| e.0.starts_with("C0"))
            .all(|e| e.1.starts_with("CC") || e.1.starts_with("DB")),
        "answers ciphered: {log}"
    );
}

#[test]
fn sec02_reads_gurux_server_with_hls_gmac_and_suite0_authentication_only() {
    reads_gurux_server_under_hls_gmac_and("auth", "10", 82);
}

#[test]
fn sec02_reads_gurux_server_with_hls_gmac_and_suite0_encryption_only() {
    reads_gurux_server_under_hls_gmac_and("enc", "20", 92);
}
