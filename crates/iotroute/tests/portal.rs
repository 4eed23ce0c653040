//! IF-01 / SYS-02, OPS-06: `iotroute portal` as retailers reach it — real HTTPS clients
//! we did not write (curl, Python's `ssl` and `http.client`) with client certificates
//! from `portal cert issue`: list, download, unzip and read back the values published;
//! another retailer's file, no certificate, a certificate of another CA, a revoked one
//! (on a connection already open too), traversal and wrong methods refused; every
//! request in `portal audit`.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{DateTime, Duration, Utc};
use edi::{archive, FileName, PartyCode, Quality, Record};
use portal::{Publisher, SqlitePortalStore};
use support::{addr, curl, iotroute, succeed, Running, SMALL_SIM};

/// This test binary's address block (tests/support: one per binary).
const BLOCK: u8 = 230;

/// An empty directory of its own for test `name`'s files.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("iotroute-portal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn code(s: &str) -> PartyCode {
    s.parse().unwrap()
}

fn record(p: u32, quality: Quality) -> Record {
    let start = utc("2026-04-01T13:30:00+09:00");
    Record {
        point: format!("09{p:020}").parse().unwrap(),
        terminal: [2, 0x1A, 0, 0, 0, 0, 0x10, p as u8],
        slot_start: start,
        interval_min: 30,
        in_wh: 400 + p,
        out_wh: 7 * p,
        cum_in_wh: 10_000 * p,
        cum_out_wh: 100 * p,
        quality,
        received_at: (quality != Quality::Estimated).then(|| start + Duration::seconds(1830)),
    }
}

/// A database with R0001's slot message issued twice (an estimate, then the reading)
/// and R0002's once, under the same name as R0001's first.
fn published(dir: &Path) -> PathBuf {
    let db = dir.join("system.db");
    let mut p = Publisher::new(code("9A01K"), SqlitePortalStore::open(&db).unwrap());
    let t = utc("2026-04-01T14:00:40+09:00");
    p.slot(
        t,
        BTreeMap::from([
            (
                code("R0001"),
                vec![record(1, Quality::Measured), record(2, Quality::Estimated)],
            ),
            (code("R0002"), vec![record(3, Quality::Measured)]),
        ]),
    )
    .unwrap();
    p.slot(
        t + Duration::hours(1),
        BTreeMap::from([(
            code("R0001"),
            vec![record(1, Quality::Measured), record(2, Quality::Backfilled)],
        )]),
    )
    .unwrap();
    db
}

struct Setup {
    dir: PathBuf,
    db: PathBuf,
    tls: PathBuf,
    url: String,
    _portal: Running,
}

impl Setup {
    fn new(name: &str, host: u8) -> Self {
        let dir = fresh_dir(name);
        let db = published(&dir);
        let tls = dir.join("tls");
        for r in ["R0001", "R0002"] {
            cert(
                &tls,
                &[
                    "issue",
                    "--retailer",
                    r,
                    "--out",
                    &dir.join(r).to_string_lossy(),
                ],
            );
        }
        let listen = format!("{}:8443", addr(BLOCK, host));
        let portal = support::portal(&listen, &db, &tls, &[]);
        Self {
            url: format!("https://{listen}/30min/"),
            dir,
            db,
            tls,
            _portal: portal,
        }
    }

    /// curl: (status, body) of GET `path` with `retailer`'s certificate (none for `-`).
    fn get(&self, retailer: &str, path: &str, extra: &[&str]) -> (u16, Vec<u8>) {
        let identity = (retailer != "-").then(|| self.dir.join(retailer));
        self.get_as(identity.as_deref(), retailer, path, extra)
    }

    /// curl: (status, body) of GET `path` with the certificate and key of `retailer`
    /// found in `identity` (none when `None`).
    fn get_as(
        &self,
        identity: Option<&Path>,
        retailer: &str,
        path: &str,
        extra: &[&str],
    ) -> (u16, Vec<u8>) {
        let body = self.dir.join("body");
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-o"])
            .arg(&body)
            .args(["-w", "%{http_code}", "--cacert"])
            .arg(self.tls.join("ca.crt.pem"));
        if let Some(dir) = identity {
            cmd.arg("--cert")
                .arg(dir.join(format!("{retailer}.crt.pem")))
                .arg("--key")
                .arg(dir.join(format!("{retailer}.key.pem")));
        }
        let out = cmd
            .args(extra)
            .arg(format!("{}{path}", self.url))
            .output()
            .unwrap();
        let status = String::from_utf8_lossy(&out.stdout).parse().unwrap_or(0);
        (status, std::fs::read(&body).unwrap_or_default())
    }

    fn list(&self, retailer: &str) -> Vec<String> {
        let (status, body) = self.get(
            retailer,
            "FileListReceiver",
            &["-H", "Accept: application/json"],
        );
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .collect()
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn if01_sys02_a_retailer_lists_downloads_and_reads_its_files() {
    if !curl() {
        return;
    }
    let s = Setup::new("list", 2);
    assert_eq!(
        s.list("R0001"),
        [
            "W41130202604011330000000.zip",
            "W41130202604011330010000.zip"
        ]
    );
    assert_eq!(s.list("R0002"), ["W41130202604011330000000.zip"]);
    let (status, body) = s.get("R0001", "FileListReceiver", &[]);
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("rfilename1:\"W41130202604011330000000.zip\",rfilesize1:\""),
        "{text}"
    );
    assert!(
        text.contains("rfilename2:\"W41130202604011330010000.zip\""),
        "{text}"
    );
    // The latest issue holds the reading that replaced the estimate.
    let name: FileName = "W41130202604011330010000.zip".parse().unwrap();
    let (status, zip) = s.get("R0001", &format!("FileReceiver?file={name}"), &[]);
    assert_eq!(status, 200);
    let m = archive::open(&name, &zip).unwrap();
    assert_eq!(m.receiver, code("R0001"));
    assert_eq!(
        m.records,
        vec![record(1, Quality::Measured), record(2, Quality::Backfilled)]
    );
    let first: FileName = "W41130202604011330000000.zip".parse().unwrap();
    let (_, zip) = s.get("R0002", &format!("FileReceiver?file={first}"), &[]);
    assert_eq!(
        archive::open(&first, &zip).unwrap().records,
        vec![record(3, Quality::Measured)]
    );
}

#[test]
fn if01_another_retailers_file_answers_as_one_that_does_not_exist() {
    if !curl() {
        return;
    }
    let s = Setup::new("other", 3);
    // R0002 has no update 01; R0001 has: the same answer as a name nobody has.
    let theirs = s.get(
        "R0002",
        "FileReceiver?file=W41130202604011330010000.zip",
        &[],
    );
    let nobodys = s.get(
        "R0002",
        "FileReceiver?file=W41130202604011400000000.zip",
        &[],
    );
    assert_eq!(theirs.0, 404);
    assert_eq!(theirs, nobodys);
}

#[test]
fn if01_ops06_no_unknown_or_revoked_certificate_gets_a_file_and_every_request_is_audited() {
    if !curl() {
        return;
    }
    let s = Setup::new("refuse", 4);
    let list = "FileListReceiver";
    assert_eq!(s.get("-", list, &[]).0, 403, "no certificate");
    // A certificate of another CA, for the same retailer code.
    let other = s.dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "30",
        ])
        .args(["-subj", "/O=iotroute/OU=retailer/CN=R0001", "-keyout"])
        .arg(other.join("R0001.key.pem"))
        .arg("-out")
        .arg(other.join("R0001.crt.pem"))
        .output();
    if made.is_ok_and(|o| o.status.success()) {
        let (status, _) = s.get_as(Some(&other), "R0001", list, &[]);
        assert_eq!(status, 403, "a certificate of another CA");
    } else {
        support::skips::skip("openssl not found: the other-CA certificate is not tried");
    }
    // Traversal, encoded traversal, odd and huge parameters: 400, nothing served.
    for q in [
        "file=../../../etc/passwd",
        "file=%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "file=W41130202604011330000000.zip/../../system.db",
        "file=W41130202604011330000000.zip&file=x",
        "name=W41130202604011330000000.zip",
        "",
    ] {
        assert_eq!(
            s.get("R0001", &format!("FileReceiver?{q}"), &[]).0,
            400,
            "{q}"
        );
    }
    let huge = format!("FileReceiver?file={}", "A".repeat(5000));
    assert_eq!(s.get("R0001", &huge, &[]).0, 400);
    assert_eq!(s.get("R0001", list, &["-X", "POST"]).0, 405);
    assert_eq!(s.get("R0001", "../system.db", &["--path-as-is"]).0, 404);
    // Revoked: refused from the next request on.
    let serial = issued_serial(&s.tls, "R0001");
    assert_eq!(s.get("R0001", list, &[]).0, 200);
    cert(&s.tls, &["revoke", "--serial", &serial]);
    assert_eq!(s.get("R0001", list, &[]).0, 403, "revoked");
    assert_eq!(
        s.get("R0002", list, &[]).0,
        200,
        "another retailer's goes on"
    );
    let listed = cert(&s.tls, &["list"]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&serial) && l.contains(" revoked ")),
        "{listed}"
    );

    let audit = iotroute()
        .args(["portal", "audit", "--json"])
        .arg("--db")
        .arg(&s.db)
        .output()
        .unwrap();
    let audit: serde_json::Value = serde_json::from_slice(&audit.stdout).unwrap();
    let rows = audit.as_array().unwrap();
    let results: Vec<u64> = rows.iter().map(|r| r["result"].as_u64().unwrap()).collect();
    assert!(
        results.contains(&403)
            && results.contains(&400)
            && results.contains(&405)
            && results.contains(&200)
    );
    assert!(rows.iter().any(|r| r["who"] == "-" && r["result"] == 403));
    assert!(rows
        .iter()
        .any(|r| r["who"] == "R0001" && r["serial"] == serial.as_str() && r["result"] == 403));
}

/// `iotroute portal cert ARGS --tls TLS`, which must succeed: its stdout.
fn cert(tls: &Path, args: &[&str]) -> String {
    let out = succeed(
        iotroute()
            .args(["portal", "cert"])
            .args(args)
            .arg("--tls")
            .arg(tls),
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The serial `cert list` shows for `retailer`'s (first) certificate.
fn issued_serial(tls: &Path, retailer: &str) -> String {
    cert(tls, &["list"])
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(retailer))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned()
}

/// Python's `http.client` on one kept-alive TLS connection: a request, then (after a
/// line on stdin) another.
const KEEP_ALIVE: &str = r#"
import http.client, ssl, sys
host, port, ca, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
ctx.load_cert_chain(cert, key)
c = http.client.HTTPSConnection(host, port, context=ctx)
for _ in range(2):
    c.request("GET", "/30min/FileListReceiver")
    r = c.getresponse()
    r.read()
    print(r.status, flush=True)
    sys.stdin.readline()
"#;

#[test]
fn if01_a_revocation_refuses_the_next_request_of_a_connection_already_open() {
    let python = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !python {
        support::skips::skip("python3 not found");
        return;
    }
    let s = Setup::new("keepalive", 5);
    let mut py = Command::new("python3")
        .args(["-c", KEEP_ALIVE, &addr(BLOCK, 5).to_string(), "8443"])
        .arg(s.tls.join("ca.crt.pem"))
        .arg(s.dir.join("R0001/R0001.crt.pem"))
        .arg(s.dir.join("R0001/R0001.key.pem"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(py.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "200");
    let serial = issued_serial(&s.tls, "R0001");
    cert(&s.tls, &["revoke", "--serial", &serial]);
    let mut stdin = py.stdin.take().unwrap();
    writeln!(stdin).unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "403");
    writeln!(stdin).unwrap();
    assert!(py.wait().unwrap().success());
}

impl Setup {
    /// `iotroute retailer fetch` as `retailer` into `out`, with `--csv`, against `url`.
    fn fetch(&self, retailer: &str, out: &Path, url: &str) -> std::process::Output {
        let id = self.dir.join(retailer);
        iotroute()
            .args(["retailer", "fetch", "--csv", "--url", url])
            .arg("--cert")
            .arg(id.join(format!("{retailer}.crt.pem")))
            .arg("--key")
            .arg(id.join(format!("{retailer}.key.pem")))
            .arg("--ca")
            .arg(self.tls.join("ca.crt.pem"))
            .arg("--out")
            .arg(out)
            .output()
            .unwrap()
    }
}

/// Every file under `dir`, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for sub in ["files", "csv"] {
        for e in std::fs::read_dir(dir.join(sub))
            .into_iter()
            .flatten()
            .flatten()
        {
            out.insert(e.path(), std::fs::read(e.path()).unwrap());
        }
    }
    out
}

#[test]
fn if01_the_retailers_fetch_keeps_the_latest_values_and_fetches_nothing_twice() {
    let s = Setup::new("fetch", 6);
    let out = s.dir.join("retailer-R0001");
    let first = s.fetch("R0001", &out, &s.url);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    // Update 00 is superseded by 01: only 01 is fetched.
    assert_eq!(
        String::from_utf8_lossy(&first.stdout),
        "fetched 1 file(s), 1 held, 0 refused\n"
    );
    assert!(out.join("files/W41130202604011330010000.zip").exists());
    let csv = std::fs::read_to_string(out.join("csv/2026-04-01.csv")).unwrap();
    assert_eq!(
        csv,
        "supply_point,slot_start,in_kwh,out_kwh,quality,update\n\
         0900000000000000000001,2026-04-01T13:30:00+09:00,0.401,0.007,measured,01\n\
         0900000000000000000002,2026-04-01T13:30:00+09:00,0.402,0.014,backfilled,01\n"
    );
    let second = s.fetch("R0001", &out, &s.url);
    assert_eq!(
        String::from_utf8_lossy(&second.stdout),
        "fetched 0 file(s), 1 held, 0 refused\n"
    );

    // A network error (nothing listens there) and a bad file leave what it had.
    let before = snapshot(&out);
    let unreachable = format!("https://{}:8443/30min/", addr(BLOCK, 250));
    assert!(!s.fetch("R0001", &out, &unreachable).status.success());
    assert_eq!(snapshot(&out), before);
    let db = rusqlite::Connection::open(&s.db).unwrap();
    db.execute(
        "INSERT INTO portal_file (retailer, name, created, zip) VALUES ('R0001', 'W41130202604011400000000.zip', 0, x'504b0304deadbeef')",
        [],
    )
    .unwrap();
    let bad = s.fetch("R0001", &out, &s.url);
    assert!(!bad.status.success());
    assert_eq!(
        String::from_utf8_lossy(&bad.stdout),
        "fetched 0 file(s), 1 held, 1 refused\n"
    );
    assert_eq!(snapshot(&out), before);

    // A value changed again: update 02 is fetched and the CSV follows it.
    let mut p = Publisher::new(code("9A01K"), SqlitePortalStore::open(&s.db).unwrap());
    let mut changed = record(2, Quality::Backfilled);
    changed.in_wh = 999;
    p.slot(
        utc("2026-04-01T18:00:00+09:00"),
        BTreeMap::from([(code("R0001"), vec![record(1, Quality::Measured), changed])]),
    )
    .unwrap();
    let third = s.fetch("R0001", &out, &s.url);
    assert!(String::from_utf8_lossy(&third.stdout).starts_with("fetched 1 file(s), 2 held"));
    let csv = std::fs::read_to_string(out.join("csv/2026-04-01.csv")).unwrap();
    assert!(
        csv.contains(
            "0900000000000000000002,2026-04-01T13:30:00+09:00,0.999,0.014,backfilled,02\n"
        ),
        "{csv}"
    );
}

/// `CSV` text as rows of `header`'s columns, keyed by its first two.
fn rows(csv: &str) -> BTreeMap<(String, String), Vec<String>> {
    csv.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<String> = l.split(',').map(str::to_owned).collect();
            ((f[0].clone(), f[1].clone()), f)
        })
        .collect()
}

#[test]
fn if01_sys02_the_simulation_publishes_every_slot_and_day_as_the_mdms_holds_them() {
    if !curl() {
        return;
    }
    let dir = fresh_dir("sim");
    let (db, report) = (dir.join("system.db"), dir.join("report.json"));
    succeed(
        iotroute()
            .args([
                "sim",
                "--terminals",
                "6",
                "--smartmeters",
                "2",
                "--days",
                "1",
                "--loss",
                "0",
            ])
            .arg("--db")
            .arg(&db)
            .arg("--report-json")
            .arg(&report),
    );
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(r["publish_latency_s"]["p50"], 10.0, "{r}");
    assert!(
        r["publish_latency_s"]["max"].as_f64().unwrap() <= 60.0,
        "{r}"
    );
    // 48 slot messages and a daily one per retailer (three), nothing changed after.
    assert_eq!(
        (&r["published_issues"], &r["reissued"]),
        (&147.into(), &0.into()),
        "{r}"
    );

    let export = succeed(
        iotroute()
            .args(["mdms", "export", "--format", "csv", "--db"])
            .arg(&db),
    );
    let export = String::from_utf8(export.stdout).unwrap();
    let export: BTreeMap<(String, String), Vec<String>> = export
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<String> = l.split(',').map(str::to_owned).collect();
            ((f[0].clone(), f[2].clone()), f)
        })
        // The run's day: the MDMS also holds what the terminals kept from before it.
        .filter(|((_, start), _)| start.starts_with("2026-04-01T"))
        .collect();
    let registry = succeed(
        iotroute()
            .args(["headend", "registry", "export", "--db"])
            .arg(&db),
    );
    let registry = String::from_utf8(registry.stdout).unwrap();
    let retailer_of: BTreeMap<String, String> = registry
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_owned(), f[6].to_owned())
        })
        .collect();

    let tls = dir.join("tls");
    let listen = format!("{}:8443", addr(BLOCK, 7));
    let _portal = support::portal(&listen, &db, &tls, &[]);
    let mut seen = 0;
    for retailer in ["A0019", "B0029", "C0039"] {
        let id = dir.join(retailer);
        cert(
            &tls,
            &[
                "issue",
                "--retailer",
                retailer,
                "--out",
                &id.to_string_lossy(),
            ],
        );
        let out = dir.join(format!("fetched-{retailer}"));
        succeed(
            iotroute()
                .args([
                    "retailer",
                    "fetch",
                    "--csv",
                    "--url",
                    &format!("https://{listen}/30min/"),
                ])
                .arg("--cert")
                .arg(id.join(format!("{retailer}.crt.pem")))
                .arg("--key")
                .arg(id.join(format!("{retailer}.key.pem")))
                .arg("--ca")
                .arg(tls.join("ca.crt.pem"))
                .arg("--out")
                .arg(&out),
        );
        assert!(
            out.join("files/W41140202604010000000000.zip").exists(),
            "{retailer}: the daily file"
        );
        let csv = std::fs::read_to_string(out.join("csv/2026-04-01.csv")).unwrap();
        let mine: Vec<_> = export
            .keys()
            .filter(|(p, _)| retailer_of.get(p).map(String::as_str) == Some(retailer))
            .collect();
        let fetched = rows(&csv);
        assert_eq!(
            fetched.len(),
            mine.len(),
            "{retailer}: every slot of every point"
        );
        for (key, f) in &fetched {
            let e = &export[key];
            // supply_point,slot_start,in_kwh,out_kwh,quality against the export's
            // supply_point,terminal_id,slot_start,interval_min,in_kwh,out_kwh,...,quality
            assert_eq!(
                (&f[2], &f[3], &f[4]),
                (&e[4], &e[5], &e[8]),
                "{retailer} {key:?}"
            );
        }
        seen += fetched.len();
    }
    assert_eq!(
        seen,
        export.len(),
        "every point's slots reached its retailer"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn if01_the_p12_file_opens_with_its_printed_password_and_reaches_the_portal() {
    if !curl() {
        return;
    }
    let s = Setup::new("p12", 8);
    let id = s.dir.join("p12");
    let printed = cert(
        &s.tls,
        &[
            "issue",
            "--retailer",
            "R0001",
            "--out",
            &id.to_string_lossy(),
        ],
    );
    let mut lines = printed.lines();
    let serial = lines.next().unwrap();
    assert!(
        serial.len() == 32 && serial.bytes().all(|b| b.is_ascii_hexdigit()),
        "{printed}"
    );
    let password = lines
        .next()
        .unwrap()
        .strip_prefix("p12 password: ")
        .unwrap();
    assert_eq!(password.len(), 24);
    let p12 = id.join("R0001.p12");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&p12).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // openssl reads it with the password, and refuses another.
    let info = |pass: &str| {
        Command::new("openssl")
            .args(["pkcs12", "-nokeys", "-in"])
            .arg(&p12)
            .args(["-passin", &format!("pass:{pass}")])
            .output()
    };
    match info(password) {
        Ok(out) => {
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(String::from_utf8_lossy(&out.stdout).contains("CN = R0001"));
            assert!(!info("NOT-THE-PASSWORD").unwrap().status.success());
        }
        Err(_) => support::skips::skip("openssl not found: the PKCS#12 file is not opened"),
    }
    let p12_arg = format!("{}:{password}", p12.display());
    let status = s
        .get(
            "-",
            "FileListReceiver",
            &["--cert-type", "P12", "--cert", &p12_arg],
        )
        .0;
    assert_eq!(status, 200, "curl with the PKCS#12 file");
}

#[test]
fn if01_sim_serve_keeps_the_portal_up_on_the_runs_files() {
    if !curl() {
        return;
    }
    let dir = fresh_dir("serve");
    let listen = format!("{}:8443", addr(BLOCK, 9));
    let mut child = iotroute()
        .args(SMALL_SIM)
        .args(["--serve", &listen, "--db"])
        .arg(dir.join("system.db"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The report, then what it serves: read up to the operations pages' line.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ops = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("operations pages:"))
        .expect("sim --serve tells the operations pages' login");
    let password = ops
        .split("password ")
        .nth(1)
        .and_then(|p| p.strip_suffix(')'))
        .unwrap()
        .to_owned();
    assert_eq!(password.len(), 24, "{ops}");
    // The portal comes up right after it prints: wait for its port.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the portal did not come up"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let id = dir.join("retailer-A0019");
    let out = Command::new("curl")
        .args(["-s", "-H", "Accept: application/json", "--cacert"])
        .arg(dir.join("portal-tls/ca.crt.pem"))
        .arg("--cert")
        .arg(id.join("A0019.crt.pem"))
        .arg("--key")
        .arg(id.join("A0019.key.pem"))
        .arg(format!("https://{listen}/30min/FileListReceiver"))
        .output()
        .unwrap();
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The run's four slots, each a slot message of the retailer's points.
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(
        names.iter().all(|n| n.starts_with("W41130202604010")),
        "{names:?}"
    );
    // The operator it made logs in with the password it told.
    let login = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(dir.join("portal-tls/ca.crt.pem"))
        .args(["--data-urlencode", "user=operator", "--data-urlencode"])
        .arg(format!("password={password}"))
        .arg(format!("https://{listen}/ops/login"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&login.stdout), "303");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ops_users_get_their_password_from_the_environment_or_stdin_never_the_command_line() {
    let dir = fresh_dir("users");
    let db = dir.join("system.db");
    let add = |name: &str, role: &str| {
        let mut cmd = iotroute();
        cmd.args(["portal", "user", "add", name, "--role", role, "--db"])
            .arg(&db);
        cmd
    };
    let out =
        succeed(add("alice", "operator").env("IOTROUTE_PORTAL_PASSWORD", "alice's long password"));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "alice operator\n");
    let mut bob = add("bob", "viewer")
        .env_remove("IOTROUTE_PORTAL_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(bob.stdin.take().unwrap(), "bob's long password").unwrap();
    assert!(bob.wait().unwrap().success());
    // A name taken, a short password, an unknown role: refused.
    assert!(!add("alice", "viewer")
        .env("IOTROUTE_PORTAL_PASSWORD", "another long one")
        .output()
        .unwrap()
        .status
        .success());
    assert!(!add("carol", "viewer")
        .env("IOTROUTE_PORTAL_PASSWORD", "short")
        .output()
        .unwrap()
        .status
        .success());
    assert!(!add("carol", "admin")
        .env("IOTROUTE_PORTAL_PASSWORD", "a long password")
        .output()
        .unwrap()
        .status
        .success());
    let list = succeed(iotroute().args(["portal", "user", "list", "--db"]).arg(&db));
    assert_eq!(
        String::from_utf8_lossy(&list.stdout),
        "alice operator\nbob viewer\n"
    );
    let db_conn = rusqlite::Connection::open(&db).unwrap();
    let hashes: Vec<String> = db_conn
        .prepare("SELECT hash FROM portal_user ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(hashes
        .iter()
        .all(|h| h.starts_with("$argon2id$") && !h.contains("long password")));
    let help = succeed(iotroute().args(["portal", "user", "add", "--help"]));
    assert!(!String::from_utf8_lossy(&help.stdout).contains("--password"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The files of the database `db`, as (retailer, name without its update number,
/// update number).
fn published_names(db: &Path) -> std::collections::BTreeSet<(String, String, String)> {
    let db = rusqlite::Connection::open(db).unwrap();
    let mut q = db
        .prepare("SELECT retailer, name FROM portal_file")
        .unwrap();
    let rows = q
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .unwrap();
    rows.map(|r| {
        let (retailer, name) = r.unwrap();
        // W4 + code(4) + YYYYMMDDHHMM(12) + update(2) + split(4) + .zip
        let (head, tail) = name.split_at(18);
        (
            retailer,
            format!("{head}__{}", &tail[2..]),
            tail[..2].to_owned(),
        )
    })
    .collect()
}

#[test]
fn if01_iotroute_portal_publishes_what_the_mdms_holds_as_the_simulation_did() {
    let dir = fresh_dir("publish");
    let db = dir.join("system.db");
    succeed(iotroute().args(SMALL_SIM).arg("--db").arg(&db));
    let by_sim = published_names(&db);
    assert!(!by_sim.is_empty());
    // The portal's tables gone: the MDMS and the registry stay.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "DROP TABLE portal_issue; DROP TABLE portal_file; DROP TABLE portal_audit;
             DROP TABLE portal_user; DROP TABLE portal_record;
             DELETE FROM schema_versions WHERE component = 'portal';",
        )
        .unwrap();
    let listen = format!("{}:8443", addr(BLOCK, 11));
    // The run's day is in 2026-04: a lookback that reaches it.
    let portal = support::portal(
        &listen,
        &db,
        &dir.join("tls"),
        &["--publish-every", "1s", "--lookback", "400d"],
    );
    let names = |s: &std::collections::BTreeSet<(String, String, String)>| {
        s.iter()
            .map(|(r, n, _)| (r.clone(), n.clone()))
            .collect::<std::collections::BTreeSet<_>>()
    };
    // Each retailer's daily message of the run's day, beside the slots' (a day ended
    // long ago on the wall clock: published with the slots the MDMS has).
    let mut wanted = names(&by_sim);
    for r in ["A0019", "B0029", "C0039"] {
        wanted.insert((r.to_owned(), "W41140202604010000__0000.zip".to_owned()));
    }
    let started = std::time::Instant::now();
    let by_portal = loop {
        let now = published_names(&db);
        if names(&now).is_superset(&wanted) || started.elapsed().as_secs() > 60 {
            break now;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    drop(portal);
    let got = names(&by_portal);
    let missing: Vec<_> = wanted.difference(&got).collect();
    assert!(missing.is_empty(), "not published: {missing:?}");
    // Each issued once: the MDMS held its final values. The portal also publishes the
    // slots the terminals kept from before the run, which the run did not.
    assert!(
        by_portal.iter().all(|(_, _, update)| update == "00"),
        "{by_portal:?}"
    );
    assert!(by_portal.len() > by_sim.len());
    let _ = std::fs::remove_dir_all(&dir);
}
