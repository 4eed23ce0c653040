//! `iotroute headend registry import|export`, `block`, `reconnect` and `blocks` (OPS-07)
//! as the contract spells them: a registry imported whole or not at all (a bad row named
//! by its line), exported as imported; blocks and reconnects recorded with reason, time
//! and who, refused (exit 2) when they make no sense, and listed; commands to a point's
//! terminal (clock, interval, password) recorded pending, refused (exit 2) for a point not
//! registered, an interval other than 15 or 30 or a password outside 8..32 bytes, the
//! password never taken from the command line nor shown.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use support::iotroute;

const REGISTRY: &str = "\
supply_point,terminal_id,pairing_id,smart_meter,meter_id,interval_min,retailer
0900000000000000000001,0211223344550001,IOT00901,02AABBCCDD000001,4D2D30303031,30,A1239
0900000000000000000002,0211223344550002,IOT00901,02AABBCCDD000001,,30,A1239
";

/// A fresh directory of this test binary's, one per test (they run in parallel).
fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("iotroute-headend-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn headend(args: &[&str], at: &Path) -> Output {
    iotroute()
        .arg("headend")
        .args(args)
        .current_dir(at)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A fresh directory ([`dir`]) whose `hes.db` holds [`REGISTRY`], imported whole.
fn registered(name: &str) -> PathBuf {
    let d = dir(name);
    std::fs::write(d.join("points.csv"), REGISTRY).unwrap();
    let o = headend(&["registry", "import", "--db", "hes.db", "points.csv"], &d);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("2 added"), "{}", text(&o));
    d
}

/// `d`'s `hes.db` is owner-only (it may hold secrets).
fn owner_only(d: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(d.join("hes.db"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the database may hold secrets");
    }
}

#[test]
fn ops07_registry_import_export_block_reconnect_and_list() {
    let d = registered("blocks");

    // A file with a bad third line: refused naming it, nothing of it kept.
    let bad = format!(
        "{REGISTRY}0900000000000000000003,0211223344550003,IOT00901,02aabbccdd000001,,30,A1239\n09000000000000000000x4,0211223344550004,IOT00901,02aabbccdd000001,,30,A1239\n"
    );
    std::fs::write(d.join("bad.csv"), bad).unwrap();
    let o = headend(&["registry", "import", "--db", "hes.db", "bad.csv"], &d);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("line 5"), "{}", text(&o));
    let o = headend(&["registry", "export", "--db", "hes.db"], &d);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), REGISTRY);

    let point = "0900000000000000000001";
    let blk = |action: &str| {
        headend(
            &[
                action,
                "--db",
                "hes.db",
                point,
                "--reason",
                "tampering suspected",
                "--by",
                "operator-7",
            ],
            &d,
        )
    };
    assert!(blk("block").status.success());
    assert_eq!(blk("block").status.code(), Some(2), "blocked already");
    assert!(blk("reconnect").status.success());
    assert_eq!(blk("reconnect").status.code(), Some(2), "not blocked");
    let o = headend(
        &[
            "block",
            "--db",
            "hes.db",
            "0900000000000000000099",
            "--reason",
            "x",
            "--by",
            "y",
        ],
        &d,
    );
    assert_eq!(o.status.code(), Some(2), "not registered: {}", text(&o));

    let o = headend(&["blocks", "--db", "hes.db", "--json"], &d);
    assert!(o.status.success(), "{}", text(&o));
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["point"], point);
    assert_eq!(list[0]["reason"], "tampering suspected");
    assert_eq!(list[0]["by"], "operator-7");
    assert!(list[0]["from"].as_str().unwrap() <= list[0]["to"].as_str().unwrap());
    let o = headend(&["blocks", "--db", "hes.db"], &d);
    assert!(text(&o).contains(point), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&d);
}

/// `headend set-password` with `stdin` on its standard input (and `env` set, if any).
fn set_password(d: &Path, stdin: &str, env: Option<&str>) -> Output {
    with_password(d, "set-password", stdin, env)
}

/// `headend SUBCOMMAND` (`set-password` or `terminal-secret`) of point 2 with `stdin` on
/// its standard input (and `env` set, if any), logging at debug level.
fn with_password(d: &Path, subcommand: &str, stdin: &str, env: Option<&str>) -> Output {
    use std::io::Write as _;
    let mut cmd = iotroute();
    cmd.args([
        "headend",
        subcommand,
        "--db",
        "hes.db",
        "0900000000000000000002",
        "--by",
        "operator-7",
    ])
    .current_dir(d)
    .env("RUST_LOG", "debug")
    .env_remove("IOTROUTE_NEW_PASSWORD")
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    if let Some(v) = env {
        cmd.env("IOTROUTE_NEW_PASSWORD", v);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// TRM-08: `headend SUBCOMMAND` refuses (exit 2) a password of 5 bytes, saying its length
/// and not the password, and one of 33 bytes.
fn password_lengths_refused(d: &Path, subcommand: &str) {
    let o = with_password(d, subcommand, "short\n", None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("5 bytes"), "{}", text(&o));
    assert!(!text(&o).contains("short"), "{}", text(&o));
    let o = with_password(d, subcommand, &format!("{}\n", "x".repeat(33)), None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

/// TRM-08: `headend SUBCOMMAND` takes no password from its command line (clap refuses
/// `password` there: a usage error, exit 1).
fn password_argument_refused(d: &Path, subcommand: &str, password: &str) {
    let args = [
        subcommand,
        "--db",
        "hes.db",
        "0900000000000000000002",
        password,
        "--by",
        "operator-7",
    ];
    let o = headend(&args, d);
    assert_eq!(o.status.code(), Some(1), "clap refuses it: {}", text(&o));
}

#[test]
fn trm08_trm09_trm11_commands_are_recorded_pending_and_refused_when_they_make_no_sense() {
    let d = registered("commands");
    owner_only(&d);
    let point = "0900000000000000000001";
    let by = ["--by", "operator-7"];
    let o = headend(
        &[&["set-clock", "--db", "hes.db", point][..], &by].concat(),
        &d,
    );
    assert!(o.status.success(), "{}", text(&o));
    // TRM-11: 15 or 30 only.
    for bad in ["20", "0", "300", "half"] {
        let o = headend(
            &[&["set-interval", "--db", "hes.db", point, bad][..], &by].concat(),
            &d,
        );
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
        assert!(text(&o).contains("15 or 30"), "{}", text(&o));
    }
    let o = headend(
        &[&["set-interval", "--db", "hes.db", point, "15"][..], &by].concat(),
        &d,
    );
    assert!(o.status.success(), "{}", text(&o));
    // Not registered.
    let o = headend(
        &[
            &["set-clock", "--db", "hes.db", "0900000000000000000099"][..],
            &by,
        ]
        .concat(),
        &d,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("not registered"), "{}", text(&o));
    // TRM-08: 8 to 32 bytes, from stdin or the environment; never shown.
    password_lengths_refused(&d, "set-password");
    let o = set_password(&d, "", None);
    assert_eq!(o.status.code(), Some(2), "no password: {}", text(&o));
    let o = set_password(&d, "NEW-PASSWORD-FROM-STDIN\n", None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("NEW-PASSWORD"), "{}", text(&o));
    let o = set_password(&d, "", Some("NEW-PASSWORD-FROM-ENV"));
    assert!(o.status.success(), "{}", text(&o));
    // No way to give it on the command line.
    password_argument_refused(&d, "set-password", "NEW-PASSWORD-ARG");

    let list = support::headend_commands(&d.join("hes.db"), &["NEW-PASSWORD"]);
    let kinds: Vec<(&str, &str, Option<u64>)> = list
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap(),
                c["point"].as_str().unwrap(),
                c["minutes"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("set-clock", point, None),
            ("set-interval", point, Some(15)),
            ("set-password", "0900000000000000000002", None),
            ("set-password", "0900000000000000000002", None),
        ]
    );
    assert!(list
        .iter()
        .all(|c| c["outcome"] == "pending" && c["by"] == "operator-7"));
    let o = headend(&["commands", "--db", "hes.db"], &d);
    assert!(text(&o).contains("set-interval 15"), "{}", text(&o));
    assert!(text(&o).contains("pending"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&d);
}

/// TRM-08, issue 12: `headend terminal-secret` records the password a point's terminal
/// has now (the handy terminal changed it) as a command, pending, by whom: 8 to 32 bytes
/// from stdin or `$IOTROUTE_NEW_PASSWORD`, never the command line, never shown (not in
/// its output at debug level, not in `commands`); a point not registered is refused (exit
/// 2); the database stays owner-only. `--help` names it.
#[test]
fn trm08_a_terminal_secret_is_recorded_pending_and_its_password_never_shown() {
    let d = registered("terminal-secret");
    password_lengths_refused(&d, "terminal-secret");
    let o = with_password(&d, "terminal-secret", "HANDY-PASSWORD-STDIN\n", None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("terminal-secret"), "{}", text(&o));
    assert!(!text(&o).contains("HANDY-PASSWORD"), "{}", text(&o));
    let o = with_password(&d, "terminal-secret", "", Some("HANDY-PASSWORD-ENV"));
    assert!(o.status.success(), "{}", text(&o));
    assert!(!text(&o).contains("HANDY-PASSWORD"), "{}", text(&o));
    let by = ["--by", "operator-7"];
    let o = headend(
        &[
            &[
                "terminal-secret",
                "--db",
                "hes.db",
                "0900000000000000000099",
            ][..],
            &by,
        ]
        .concat(),
        &d,
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    password_argument_refused(&d, "terminal-secret", "HANDY-PASSWORD-ARG");

    let list = support::headend_commands(&d.join("hes.db"), &["HANDY-PASSWORD"]);
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(list.iter().all(|c| c["kind"] == "terminal-secret"
        && c["point"] == "0900000000000000000002"
        && c["outcome"] == "pending"
        && c["by"] == "operator-7"
        && c["minutes"].is_null()));
    let o = headend(&["commands", "--db", "hes.db"], &d);
    assert!(text(&o).contains("terminal-secret"), "{}", text(&o));
    owner_only(&d);
    let o = headend(&["--help"], &d);
    assert!(text(&o).contains("terminal-secret"), "{}", text(&o));
    let _ = std::fs::remove_dir_all(&d);
}

/// A listing read by a reader that stops early (`| head`) ends quietly: exit 0, no
/// panic (`println!` panics on a closed standard output).
#[test]
fn a_listing_whose_reader_left_ends_quietly() {
    let d = dir("closed-stdout");
    let mut csv = String::from(
        "supply_point,terminal_id,pairing_id,smart_meter,meter_id,interval_min,retailer\n",
    );
    // More than a pipe holds (64 KiB): the export must write after the reader left.
    for i in 0..1_200u32 {
        let sm = i / 4;
        csv.push_str(&format!(
            "09{i:020},02112233{i:08X},IOT{sm:05},02AABBCC{sm:08X},,30,A1239\n"
        ));
    }
    std::fs::write(d.join("points.csv"), csv).unwrap();
    let o = headend(&["registry", "import", "--db", "hes.db", "points.csv"], &d);
    assert!(o.status.success(), "{}", text(&o));
    let mut child = iotroute()
        .args(["headend", "registry", "export", "--db", "hes.db"])
        .current_dir(&d)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{:?} {stderr}", o.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
    let _ = std::fs::remove_dir_all(&d);
}
