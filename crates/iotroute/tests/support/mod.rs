//! Shared by the integration tests: starting `iotroute` nodes as child processes and
//! finding the interop peers.
//!
//! Address plan: each test binary owns one `127.0.N.0/24` block (N fixed per test), our
//! node on `.2`, peers on `.3` and up, so that tests running in parallel never share an
//! `addr:3610` (see interop/README.md).

#![allow(dead_code)] // Each test binary uses a different part of this module.

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The `iotroute` binary under test.
pub fn iotroute() -> Command {
    Command::new(env!("CARGO_BIN_EXE_iotroute"))
}

#[path = "../../../../test-support/skips.rs"]
pub mod skips;

/// Reports a missing peer: a failure when peers are required, else a skip that
/// `scripts/test` lists in its summary ([`skips::skip`]).
fn missing(what: &str) -> Option<PathBuf> {
    skips::skip(&format!(
        "interop peer missing: {what} (run scripts/test to install it)"
    ));
    None
}

/// The Python of the interop venv, with pychonet.
pub fn python() -> Option<PathBuf> {
    match std::env::var_os("IOTROUTE_INTEROP_PYTHON").map(PathBuf::from) {
        Some(p) if p.exists() => Some(p),
        _ => missing("IOTROUTE_INTEROP_PYTHON (the venv with pychonet)"),
    }
}

/// `interop/`, with `node_modules` installed, when `node` runs.
pub fn node_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("IOTROUTE_INTEROP_NODE_DIR").map(PathBuf::from);
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    match dir {
        Some(d) if node_ok && d.join("node_modules/echonet-lite").exists() => Some(d),
        _ => missing("node with interop/node_modules/echonet-lite (IOTROUTE_INTEROP_NODE_DIR)"),
    }
}

/// `127.0.block.host`.
pub fn addr(block: u8, host: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, block, host)
}

/// A child process killed when dropped.
#[derive(Debug)]
pub struct Running {
    child: Child,
    /// Lines of stderr read so far by the watcher thread.
    lines: mpsc::Receiver<String>,
}

impl Running {
    /// Starts `cmd` and waits until a line of its stderr contains `ready`.
    pub fn start(mut cmd: Command, ready: &str) -> Running {
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("cannot start the child process");
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(ready) => break,
                Ok(line) => seen.push(line),
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    panic!(
                        "child did not print `{ready}` within 20 s (exit {status:?}); its stderr:\n{}",
                        seen.join("\n")
                    );
                }
            }
        }
        Running { child, lines: rx }
    }

    /// Stderr lines printed since the last call.
    pub fn drain(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    /// Sends SIGTERM, waits for the exit and returns every stderr line not yet drained.
    pub fn terminate_and_collect(mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let _ = self.child.wait();
        let mut lines = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            lines.push(line);
        }
        lines
    }

    /// Sends SIGTERM and waits for the exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().expect("wait for child")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `iotroute meter --bind ADDR` with extra arguments.
pub fn start_meter(bind: Ipv4Addr, extra: &[&str]) -> Running {
    let mut cmd = iotroute();
    cmd.args(["meter", "--bind", &bind.to_string()]).args(extra);
    Running::start(cmd, "listening")
}

/// Runs a command to completion with a time limit.
pub fn run_with_timeout(mut cmd: Command, limit: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().expect("cannot start command");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("command output"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("command did not finish within {limit:?}");
        }
    }
}

/// Parses the single JSON object a command printed on stdout.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON object ({e}):\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A blocking UDP socket on `addr:port` shared with SO_REUSEADDR, as ECHONET nodes bind,
/// whose reads give up after `read_timeout`.
pub fn udp_at(addr: Ipv4Addr, port: u16, read_timeout: Duration) -> std::net::UdpSocket {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).expect("socket");
    s.set_reuse_address(true).expect("SO_REUSEADDR");
    s.bind(&std::net::SocketAddr::from((addr, port)).into())
        .expect("bind");
    s.set_read_timeout(Some(read_timeout)).expect("timeout");
    s.into()
}

/// Sends `frame` to `to:3610` from `sock` and returns the next datagram received, with
/// its source.
pub fn exchange(
    sock: &std::net::UdpSocket,
    to: Ipv4Addr,
    frame: &[u8],
) -> (Vec<u8>, std::net::SocketAddr) {
    sock.send_to(frame, (to, 3610)).expect("send");
    let mut buf = [0u8; 1500];
    let (n, from) = sock.recv_from(&mut buf).expect("no answer in time");
    (buf[..n].to_vec(), from)
}

/// Whether tshark runs; when absent, the calling test's tshark check is skipped (listed
/// in `scripts/test`'s summary) outside CI and fails under it ([`skips::skip`]).
pub fn tshark_or_skip() -> bool {
    let present = Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        skips::skip("the tshark check: tshark not found (scripts/test installs it)");
    }
    present
}

/// The audit of a link capture (link type 283, as `sim --link --pcap` and `air --pcap`
/// write it): nonces used on two different frames, and how 2015 frames were
/// acknowledged (SEC-03, RAD-01).
pub fn audit(pcap: &std::path::Path) -> wisun::mac::audit::CaptureAudit {
    let bytes = std::fs::read(pcap).expect("pcap");
    let (linktype, records) = wisun::pcap::read(&bytes).expect("pcap parses");
    assert_eq!(linktype, 283, "IEEE 802.15.4 TAP");
    let mut audit = wisun::mac::audit::CaptureAudit::new();
    for r in records {
        let (_, psdu) = wisun::pcap::tap::TapHeader::unwrap(r.data).expect("TAP record");
        let mpdu = wisun::mac::fcs::strip(psdu, wisun::mac::fcs::FcsKind::Crc16)
            .expect("frames on the air carry a good FCS");
        audit.add(mpdu);
    }
    audit
}

/// `node interop/el_device.js --addr ADDR`, killed on drop.
pub struct ElDevice(Child);

impl ElDevice {
    pub fn start(dir: &std::path::Path, at: Ipv4Addr) -> ElDevice {
        let mut child = Command::new("node")
            .arg(dir.join("el_device.js"))
            .args(["--addr", &at.to_string(), "--lifetime", "60"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start el_device.js");
        let out = child.stdout.take().expect("stdout piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if line.trim() == "READY" {
                    let _ = tx.send(());
                }
            }
        });
        let device = ElDevice(child);
        rx.recv_timeout(Duration::from_secs(20))
            .expect("el_device.js did not print READY");
        device
    }
}

impl Drop for ElDevice {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run `cmd`, which must succeed (its stderr shown when it does not).
pub fn succeed(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("the command runs");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `iotroute firmware ARGS PATHS`, which must succeed.
pub fn firmware(args: &[&str], paths: &[&Path]) {
    succeed(iotroute().arg("firmware").args(args).args(paths));
}

/// A firmware image of `version` whose payload is the shell script `script`.
pub fn signed_image(keys: &Path, key: &Path, version: &str, script: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let payload = keys.join(format!("payload-{version}"));
    std::fs::write(&payload, script).unwrap();
    std::fs::set_permissions(&payload, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = keys.join(format!("image-{version}.signed"));
    firmware(
        &["sign", "--version", version, "--key"],
        &[
            key,
            Path::new("--image"),
            &payload,
            Path::new("--out"),
            &out,
        ],
    );
    out
}

/// `iotroute logs verify FILE`, which must pass (the chain intact).
pub fn logs_verify(file: &Path) {
    let out = iotroute()
        .args(["logs", "verify"])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `iotroute terminal status --data DIR --json`, `Null` when it gives no JSON (no status
/// written yet).
pub fn terminal_status(data: &Path) -> serde_json::Value {
    let out = iotroute()
        .args(["terminal", "status", "--json", "--data"])
        .arg(data)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

/// `iotroute headend commands --json --db DB`: the head end's command records, oldest
/// first. Its output (stdout and stderr) shows none of `not_shown` (TRM-08: a new
/// password is never shown).
pub fn headend_commands(db: &Path, not_shown: &[&str]) -> Vec<serde_json::Value> {
    let o = iotroute()
        .args(["headend", "commands", "--json", "--db"])
        .arg(db)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{text}");
    for secret in not_shown {
        assert!(!text.contains(secret), "{secret} shown: {text}");
    }
    serde_json::from_slice::<serde_json::Value>(&o.stdout)
        .unwrap()
        .as_array()
        .cloned()
        .expect("`headend commands --json` lists an array")
}

/// The head end's command records ([`headend_commands`]) once none is pending, or
/// when `limit` has passed.
pub fn headend_commands_ended(db: &Path, limit: Duration) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + limit;
    while headend_commands(db, &[])
        .iter()
        .any(|c| c["outcome"] == "pending")
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    headend_commands(db, &[])
}

/// `iotroute headend registry import --db DB CSV`, which must succeed.
pub fn headend_registry_import(db: &Path, csv: &Path) {
    let imported = iotroute()
        .args(["headend", "registry", "import", "--db"])
        .arg(db)
        .arg(csv)
        .output()
        .unwrap();
    assert!(imported.status.success(), "{imported:?}");
}

/// A small run of the whole system: 4 terminals, 2 smart meters, 2 hours, no loss.
pub const SMALL_SIM: [&str; 9] = [
    "sim",
    "--terminals",
    "4",
    "--smartmeters",
    "2",
    "--hours",
    "2",
    "--loss",
    "0",
];

/// Whether curl runs here; a skip ([`skips::skip`]) when not.
pub fn curl() -> bool {
    let ok = Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        skips::skip("curl not found");
    }
    ok
}

/// `iotroute portal` on `listen` serving the database `db` with the certificates of
/// `tls` (and `extra` arguments), once it listens.
pub fn portal(listen: &str, db: &Path, tls: &Path, extra: &[&str]) -> Running {
    let mut cmd = iotroute();
    cmd.args(["portal", "--listen", listen])
        .args(extra)
        .arg("--db")
        .arg(db)
        .arg("--tls")
        .arg(tls);
    Running::start(cmd, "portal listening")
}
