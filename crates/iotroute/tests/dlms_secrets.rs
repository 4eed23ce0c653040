//! Secrets off the command line for `dlms serve` and `dlms listen` (SEC-02): the LLS
//! password from a `--secrets` file or the environment, a file others may read refused.
//!
//! Addresses: block 127.0.162.0/24 (server on `.2`), 127.0.163.0/24 for listen.

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::time::Duration;

use support::{addr, iotroute, run_with_timeout, Running};

fn secrets(name: &str, text: &str, mode: u32) -> PathBuf {
    let p = std::env::temp_dir().join(format!("iotroute-secrets-{}-{name}", std::process::id()));
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

fn get_clock(password: &str) -> std::process::Output {
    let mut cmd = iotroute();
    cmd.args(["dlms", "get", "--host", &addr(162, 2).to_string()])
        .args(["--client", "1", "--auth", "low", "--password", password])
        .args(["--timeout", "2", "--retries", "0", "0-0:1.0.0.255"]);
    run_with_timeout(cmd, Duration::from_secs(30))
}

#[test]
fn sec02_serve_takes_its_password_from_a_secrets_file() {
    let file = secrets("serve", "# lab\npassword=S3cretPW\n", 0o600);
    let mut cmd = iotroute();
    cmd.args([
        "dlms",
        "serve",
        "--bind",
        &addr(162, 2).to_string(),
        "--auth",
        "low",
    ])
    .arg("--secrets")
    .arg(&file);
    let _serve = Running::start(cmd, "listening");
    assert!(get_clock("S3cretPW").status.success());
    let refused = get_clock("12345678");
    assert!(
        !refused.status.success(),
        "the default password no longer opens it"
    );
    let _ = std::fs::remove_file(&file);
}

#[test]
fn sec02_serve_and_listen_refuse_a_secrets_file_others_may_read() {
    let file = secrets("open", "password=S3cretPW\n", 0o644);
    for sub in [
        &["dlms", "serve", "--bind", "127.0.162.9"][..],
        &["dlms", "listen", "--bind", "127.0.163.9"],
    ] {
        let mut cmd = iotroute();
        cmd.args(sub).arg("--secrets").arg(&file);
        let out = run_with_timeout(cmd, Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(1), "{sub:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("chmod") || err.contains("600"), "{err}");
        assert!(
            !err.contains("S3cretPW"),
            "the secret never reaches the log"
        );
    }
    let _ = std::fs::remove_file(&file);
}
