//! `iotroute headend serve`: the head end as a program. A smart meter (here the test,
//! with the smart meter's own A-route end, `nodes::app::relay`) connects over TCP, says
//! hello and is given its registered terminals; the rows it relays reach the MDMS in the
//! database; after a restart of the head end the A-route counters go on (SEC-02) and a
//! frame replayed from before is refused; a block recorded by `headend block` reaches
//! the smart meter (OPS-07); an interval switch recorded by `headend set-interval` reaches
//! it too, and its *done* is recorded and switches the registry (TRM-11).

mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use dlms::cipher::{Keys, SystemTitle};
use dlms::relay::message::{Command, Outcome};
use nodes::app::reader::RowRead;
use nodes::app::relay::SmartMeterRelay;
use support::{addr, iotroute, Running};

const SM: [u8; 8] = [0x02, 0x5A, 0, 0, 0, 0, 0x20, 0x01];
const EK: &str = "000102030405060708090A0B0C0D0E0F";
const AK: &str = "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF";
const HES: SystemTitle = SystemTitle(*b"HES\x00\x00\x00\x00\x01");

const REGISTRY: &str = "\
supply_point,terminal_id,pairing_id,smart_meter,meter_id,interval_min,retailer
0900000000000000100001,021A000000001001,IOT00901,025A000000002001,,30,A0019
0900000000000000100002,021A000000001002,IOT00901,025A000000002001,,30,A0019
";

fn keys() -> Keys {
    Keys::from_slices(
        &dlms::hex::decode(EK).unwrap(),
        &dlms::hex::decode(AK).unwrap(),
    )
    .unwrap()
}

/// Read from `stream` until `relay` has taken `n` commands (or 10 s pass).
fn commands(stream: &mut TcpStream, relay: &mut SmartMeterRelay, n: usize) -> Vec<Command> {
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while got.len() < n && std::time::Instant::now() < deadline {
        if let Ok(k) = stream.read(&mut buf) {
            got.extend(relay.received(&buf[..k]).unwrap());
        }
        let answers = relay.take_output();
        stream.write_all(&answers).unwrap();
    }
    got
}

/// A fresh `dir` with the registry imported into `dir/system.db` (returned), the smart
/// meter's keys and the terminals' secrets beside it.
fn registered(dir: &std::path::Path) -> std::path::PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let db = dir.join("system.db");
    std::fs::write(dir.join("points.csv"), REGISTRY).unwrap();
    std::fs::write(dir.join("sm.keys"), format!("025A000000002001 {EK} {AK}\n")).unwrap();
    std::fs::write(
        dir.join("terminal.secrets"),
        "021A000000001001 494F545041535330303030310A\n021A000000001002 494F54504153533030303032\n",
    )
    .unwrap();
    support::headend_registry_import(&db, &dir.join("points.csv"));
    db
}

/// `iotroute headend serve` on `dir`'s database and files, listening on `listen`.
fn serve(dir: &std::path::Path, listen: &str) -> Running {
    let mut cmd = iotroute();
    cmd.args([
        "headend", "serve", "--poll", "1", "--listen", listen, "--db",
    ])
    .arg(dir.join("system.db"))
    .arg("--smartmeter-keys")
    .arg(dir.join("sm.keys"))
    .arg("--terminal-secrets")
    .arg(dir.join("terminal.secrets"));
    Running::start(cmd, "head end listening")
}

#[test]
fn sys01_sec02_ops07_a_smart_meter_relays_to_the_head_end_program_into_the_mdms() {
    let dir = std::env::temp_dir().join(format!("iotroute-hes-{}", std::process::id()));
    let db = registered(&dir);
    let listen = format!("{}:4059", addr(202, 1));
    let start = || serve(&dir, &listen);
    let hes = start();
    let mut relay = SmartMeterRelay::new(SystemTitle(SM), HES, keys(), 0, None);
    let mut stream = TcpStream::connect(&listen).unwrap();
    relay.connected(Utc::now(), |_| false);
    let hello = relay.take_output();
    stream.write_all(&hello).unwrap();
    // SYS-03: its two terminals, registered on its hello.
    let got = commands(&mut stream, &mut relay, 2);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.iter().all(|c| matches!(c, Command::Register { .. })));
    assert!(relay.held([0x02, 0x1A, 0, 0, 0, 0, 0x10, 0x01]).is_some());
    // Two boundaries of terminal 1: one slot of its point.
    let b1 = Utc::now() - TimeDelta::hours(1);
    let b1 = b1 - TimeDelta::seconds(b1.timestamp().rem_euclid(1800));
    let jst = chrono::FixedOffset::east_opt(9 * 3600).unwrap();
    let rows: Vec<RowRead> = [(b1 - TimeDelta::minutes(30), 1_000_000), (b1, 1_000_500)]
        .into_iter()
        .map(|(t, wh)| RowRead {
            time: t.with_timezone(&jst),
            ac_in_wh: Some(wh),
            ac_out_wh: Some(0),
            status: Some(0),
        })
        .collect();
    relay.read([0x02, 0x1A, 0, 0, 0, 0, 0x10, 0x01], &rows, Utc::now());
    let sent = relay.take_output();
    stream.write_all(&sent).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    drop(stream);
    let lines = hes.terminate_and_collect();
    let export = iotroute()
        .args(["mdms", "export", "--format", "json", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let slots: serde_json::Value = serde_json::from_slice(&export.stdout).unwrap();
    let slots = slots.as_array().unwrap();
    assert_eq!(slots.len(), 1, "{slots:?}\n{}", lines.join("\n"));
    assert_eq!(slots[0]["supply_point"], "0900000000000000100001");
    assert_eq!(slots[0]["in_kwh"], "0.500");

    // SEC-02: restarted, the head end goes on from its counters: the smart meter's new
    // frames are taken, the one replayed from before is refused.
    let hes = start();
    let mut stream = TcpStream::connect(&listen).unwrap();
    stream.write_all(&sent).unwrap();
    relay.connected(Utc::now(), |_| true);
    let hello = relay.take_output();
    stream.write_all(&hello).unwrap();
    // OPS-07: a block recorded while it runs reaches the smart meter.
    let blocked = iotroute()
        .args(["headend", "block", "--db"])
        .arg(&db)
        .args([
            "0900000000000000100001",
            "--reason",
            "test",
            "--by",
            "operator",
        ])
        .output()
        .unwrap();
    assert!(blocked.status.success(), "{blocked:?}");
    let got = commands(&mut stream, &mut relay, 1);
    assert!(
        matches!(got.as_slice(), [Command::Block { terminal, .. }] if *terminal == [0x02, 0x1A, 0, 0, 0, 0, 0x10, 0x01]),
        "{got:?}"
    );
    assert!(
        relay
            .held([0x02, 0x1A, 0, 0, 0, 0, 0x10, 0x01])
            .unwrap()
            .blocked
    );
    drop(stream);
    let lines = hes.terminate_and_collect().join("\n");
    assert!(lines.contains("refused"), "the replay is refused:\n{lines}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn trm11_an_interval_switch_recorded_while_the_head_end_runs_reaches_the_smart_meter_and_its_done_the_registry(
) {
    let dir = std::env::temp_dir().join(format!("iotroute-hes-cmd-{}", std::process::id()));
    let db = registered(&dir);
    let listen = format!("{}:4060", addr(202, 2));
    let hes = serve(&dir, &listen);
    let mut relay = SmartMeterRelay::new(SystemTitle(SM), HES, keys(), 0, None);
    let mut stream = TcpStream::connect(&listen).unwrap();
    relay.connected(Utc::now(), |_| true);
    let hello = relay.take_output();
    stream.write_all(&hello).unwrap();
    assert_eq!(commands(&mut stream, &mut relay, 2).len(), 2, "registered");

    let point = "0900000000000000100001";
    let recorded = iotroute()
        .args(["headend", "set-interval", "--db"])
        .arg(&db)
        .args([point, "15", "--by", "operator"])
        .output()
        .unwrap();
    assert!(recorded.status.success(), "{recorded:?}");
    assert_eq!(support::headend_commands(&db, &[])[0]["outcome"], "pending");
    let got = commands(&mut stream, &mut relay, 1);
    let [Command::SetInterval {
        request,
        terminal,
        minutes: 15,
    }] = got.as_slice()
    else {
        panic!("{got:?}");
    };
    assert_eq!(*terminal, [0x02, 0x1A, 0, 0, 0, 0, 0x10, 0x01]);
    // The smart meter carried it out: its done.
    relay.done(*request, Outcome::Done, "", Utc::now());
    stream.write_all(&relay.take_output()).unwrap();
    let list = support::headend_commands_ended(&db, Duration::from_secs(10));
    assert_eq!(list[0]["outcome"], "done", "{list:?}");
    assert_eq!(list[0]["kind"], "set-interval");
    let export = iotroute()
        .args(["headend", "registry", "export", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let csv = String::from_utf8_lossy(&export.stdout);
    assert!(
        csv.contains("0900000000000000100001,021A000000001001,IOT00901,025A000000002001,,15,A0019"),
        "{csv}"
    );
    assert!(
        csv.contains("0900000000000000100002,021A000000001002,IOT00901,025A000000002001,,30,A0019"),
        "{csv}"
    );
    drop(stream);
    drop(hes);
    let _ = std::fs::remove_dir_all(&dir);
}

/// OPS-07 through the head end from the operations page: an operator's block posted to
/// `iotroute portal` (its form, with the session's CSRF token) reaches the smart meter
/// from the running `iotroute headend serve` on the same database.
#[test]
fn ops07_a_block_from_the_operations_page_reaches_the_smart_meter_through_the_head_end() {
    if !support::curl() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("iotroute-hes-ops-{}", std::process::id()));
    let db = registered(&dir);
    let listen = format!("{}:4059", addr(202, 2));
    let _hes = serve(&dir, &listen);
    let mut relay = SmartMeterRelay::new(SystemTitle(SM), HES, keys(), 0, None);
    let mut stream = TcpStream::connect(&listen).unwrap();
    relay.connected(Utc::now(), |_| false);
    stream.write_all(&relay.take_output()).unwrap();
    assert_eq!(commands(&mut stream, &mut relay, 2).len(), 2);
    // The portal on the same database, an operator, logged in.
    let added = iotroute()
        .args([
            "portal", "user", "add", "ops1", "--role", "operator", "--db",
        ])
        .arg(&db)
        .env("IOTROUTE_PORTAL_PASSWORD", "ops1 password 12")
        .output()
        .unwrap();
    assert!(added.status.success(), "{added:?}");
    let web = format!("{}:8443", addr(202, 3));
    let tls = dir.join("tls");
    let _portal = support::portal(&web, &db, &tls, &["--publish-every", "0s"]);
    let jar = dir.join("jar").to_string_lossy().into_owned();
    let curl = |args: &[&str]| {
        let out = std::process::Command::new("curl")
            .args(["-s", "-D", "-", "--cacert"])
            .arg(tls.join("ca.crt.pem"))
            .args(["-b", &jar, "-c", &jar])
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let login = curl(&[
        "--data-urlencode",
        "user=ops1",
        "--data-urlencode",
        "password=ops1 password 12",
        &format!("https://{web}/ops/login"),
    ]);
    assert!(login.starts_with("HTTP/1.1 303"), "{login}");
    let point = format!("https://{web}/ops/points/0900000000000000100001");
    let page = curl(&[&point]);
    let at = page.find("name=\"csrf\" value=\"").expect("the form") + 19;
    let token = &page[at..at + 64];
    let posted = curl(&[
        "--data-urlencode",
        &format!("csrf={token}"),
        "--data-urlencode",
        "reason=abnormal traffic toward the smart meter",
        "--data-urlencode",
        "block=1",
        &point,
    ]);
    assert!(posted.starts_with("HTTP/1.1 303"), "{posted}");
    // The head end's next poll (1 s) sends the block to the smart meter.
    let got = commands(&mut stream, &mut relay, 1);
    assert!(
        matches!(got.as_slice(), [Command::Block { terminal, .. }] if *terminal == [0x02, 0x1A, 0, 0, 0, 0, 0x10, 0x01]),
        "{got:?}"
    );
    drop(stream);
    let _ = std::fs::remove_dir_all(&dir);
}
