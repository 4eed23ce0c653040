//! The operations pages (`/ops`) over HTTPS with curl, a client we did not write: the
//! login and its cookie, the points and a point's page with its load curve, block and
//! reconnect through the head end's store (OPS-07) with the session's CSRF token, a
//! viewer without controls whose forged form is refused, every answer audited under
//! its user. The same in a real browser: tests/ops_browser.rs.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::{addr, curl, iotroute, succeed, Running, SMALL_SIM};

/// This test binary's address block (tests/support: one per binary).
const BLOCK: u8 = 231;

/// A point of the small run.
const POINT: &str = "0900000000000000100003";

/// A small run's database with an operator `ops1` and a viewer `view1`, and the portal
/// serving it on `127.0.231.host`.
struct Ops {
    dir: PathBuf,
    db: PathBuf,
    tls: PathBuf,
    url: String,
    _portal: Running,
}

impl Ops {
    fn new(name: &str, host: u8) -> Self {
        Self::with(name, host, &[])
    }

    /// The same after a small run with `faults` added.
    fn with(name: &str, host: u8, faults: &[&str]) -> Self {
        let dir = std::env::temp_dir().join(format!("iotroute-ops-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("system.db");
        succeed(iotroute().args(SMALL_SIM).args(faults).arg("--db").arg(&db));
        for (user, role) in [("ops1", "operator"), ("view1", "viewer")] {
            succeed(
                iotroute()
                    .args(["portal", "user", "add", user, "--role", role, "--db"])
                    .arg(&db)
                    .env("IOTROUTE_PORTAL_PASSWORD", format!("{user} password 12")),
            );
        }
        let tls = dir.join("tls");
        let listen = format!("{}:8443", addr(BLOCK, host));
        let portal = support::portal(&listen, &db, &tls, &[]);
        Self {
            url: format!("https://{listen}"),
            dir,
            db,
            tls,
            _portal: portal,
        }
    }

    /// curl with the CA, the headers and the body as one text.
    fn curl(&self, args: &[&str]) -> String {
        let out = Command::new("curl")
            .args(["-s", "-D", "-", "--cacert"])
            .arg(self.tls.join("ca.crt.pem"))
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn jar(&self, user: &str) -> String {
        self.dir
            .join(format!("{user}.jar"))
            .to_string_lossy()
            .into_owned()
    }

    /// Log `user` in: its cookie jar.
    fn login(&self, user: &str) -> String {
        let jar = self.jar(user);
        let answer = self.curl(&[
            "-c",
            &jar,
            "--data-urlencode",
            &format!("user={user}"),
            "--data-urlencode",
            &format!("password={user} password 12"),
            &format!("{}/ops/login", self.url),
        ]);
        assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
        jar
    }

    fn get(&self, jar: &str, path: &str) -> String {
        self.curl(&["-b", jar, &format!("{}{path}", self.url)])
    }

    fn post(&self, jar: &str, path: &str, fields: &[&str]) -> String {
        let mut args = vec!["-b", jar];
        for f in fields {
            args.extend(["--data-urlencode", f]);
        }
        let url = format!("{}{path}", self.url);
        args.push(&url);
        self.curl(&args)
    }

    fn blocks(&self) -> serde_json::Value {
        let out = succeed(
            iotroute()
                .args(["headend", "blocks", "--json", "--db"])
                .arg(&self.db),
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn audit(&self) -> String {
        let out = succeed(iotroute().args(["portal", "audit", "--db"]).arg(&self.db));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Ops {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The CSRF token of the first form on `page`.
fn csrf(page: &str) -> String {
    let at = page
        .find("name=\"csrf\" value=\"")
        .expect("a form with a token")
        + 19;
    page[at..at + 64].to_owned()
}

fn status(answer: &str) -> u16 {
    answer[9..12].parse().unwrap()
}

#[test]
fn ops_a_user_logs_in_and_sees_every_point_a_stranger_is_sent_to_the_login() {
    if !curl() {
        return;
    }
    let ops = Ops::new("login", 10);
    let url = &ops.url;
    // No session: to the login.
    let stranger = ops.curl(&[&format!("{url}/ops/points")]);
    assert!(
        stranger.starts_with("HTTP/1.1 303") && stranger.contains("location: /ops/login"),
        "{stranger}"
    );
    let forged = ops.curl(&[
        "-H",
        "Cookie: iotroute_session=00ff",
        &format!("{url}/ops/points"),
    ]);
    assert!(forged.starts_with("HTTP/1.1 303"), "{forged}");
    // A wrong password: 401, no cookie.
    let wrong = ops.curl(&[
        "-d",
        "user=ops1&password=not-the-password",
        &format!("{url}/ops/login"),
    ]);
    assert!(
        wrong.starts_with("HTTP/1.1 401") && !wrong.contains("set-cookie"),
        "{wrong}"
    );
    let jar = ops.jar("ops1");
    let login = ops.curl(&[
        "-c",
        &jar,
        "--data-urlencode",
        "user=ops1",
        "--data-urlencode",
        "password=ops1 password 12",
        &format!("{url}/ops/login"),
    ]);
    assert!(login.starts_with("HTTP/1.1 303"), "{login}");
    let cookie = login
        .lines()
        .find(|l| l.starts_with("set-cookie:"))
        .unwrap();
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/ops"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let page = ops.get(&jar, "/ops/points");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(
        page.contains("content-security-policy: default-src 'none'"),
        "{page}"
    );
    assert_eq!(page.matches("data-point=\"09").count(), 4, "{page}");
    let found = ops.get(&jar, "/ops/points?q=100003");
    assert_eq!(
        found.matches(&format!("data-point=\"{POINT}\"")).count(),
        1,
        "{found}"
    );
    assert_eq!(found.matches("data-point=").count(), 1, "{found}");
    // A page at a time, with the number found.
    assert!(page.contains("id=\"pages\" data-total=\"4\""), "{page}");
    assert!(found.contains("data-total=\"1\""), "{found}");
    let beyond = ops.get(&jar, "/ops/points?page=2");
    assert!(
        beyond.starts_with("HTTP/1.1 200") && !beyond.contains("data-point="),
        "{beyond}"
    );
    // Logged out (with the session's token), the cookie opens nothing.
    let out = ops.post(&jar, "/ops/logout", &[&format!("csrf={}", csrf(&page))]);
    assert!(out.starts_with("HTTP/1.1 303"), "{out}");
    assert_eq!(status(&ops.get(&jar, "/ops/points")), 303);
}

#[test]
fn ops07_an_operator_blocks_and_reconnects_a_point_through_the_head_end() {
    if !curl() {
        return;
    }
    let ops = Ops::new("block", 11);
    let jar = ops.login("ops1");
    let path = format!("/ops/points/{POINT}");
    let page = ops.get(&jar, &path);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("data-state=\"registered\""), "{page}");
    // The day of its last reading, with its slots in the curve.
    let slots: usize = page
        .split("data-slots=\"")
        .nth(1)
        .and_then(|s| s[..s.find('"')?].parse().ok())
        .expect("a curve");
    assert!(slots >= 3, "{page}");
    assert_eq!(page.matches("<rect class=\"in\"").count(), slots);
    for control in ["name=\"block\"", "name=\"reconnect\"", "name=\"reason\""] {
        assert!(page.contains(control), "{control}: {page}");
    }
    let token = csrf(&page);
    // Without the token, or with another: refused, nothing recorded.
    let none = ops.post(&jar, &path, &["reason=no token", "block=1"]);
    assert_eq!(status(&none), 403, "{none}");
    let other = ops.post(
        &jar,
        &path,
        &[&format!("csrf={}", "0".repeat(64)), "reason=x", "block=1"],
    );
    // The right token from another site's page (its Origin): refused before anything.
    let cross = ops.curl(&[
        "-b",
        &jar,
        "-H",
        "Origin: https://evil.example",
        "--data-urlencode",
        &format!("csrf={token}"),
        "--data-urlencode",
        "reason=cross-site",
        "--data-urlencode",
        "block=1",
        &format!("{}{path}", ops.url),
    ]);
    assert_eq!(status(&cross), 403, "{cross}");
    let cross_login = ops.curl(&[
        "-H",
        "Origin: https://evil.example",
        "--data-urlencode",
        "user=ops1",
        "--data-urlencode",
        "password=ops1 password 12",
        &format!("{}/ops/login", ops.url),
    ]);
    assert_eq!(status(&cross_login), 403, "{cross_login}");
    assert_eq!(status(&other), 403, "{other}");
    assert_eq!(ops.blocks(), serde_json::json!([]));
    // Blocked: on the point, in the head end's records, with the reason and the user.
    let block = ops.post(
        &jar,
        &path,
        &[
            &format!("csrf={token}"),
            "reason=firmware <tampered>",
            "block=1",
        ],
    );
    assert_eq!(status(&block), 303, "{block}");
    let page = ops.get(&jar, &path);
    assert!(page.contains("data-state=\"blocked\""), "{page}");
    assert!(page.contains("firmware &lt;tampered&gt;"), "{page}");
    let list = ops.get(&jar, "/ops/points");
    assert!(list.contains("class=\"blocked\""), "{list}");
    let blocks = ops.blocks();
    assert_eq!(blocks[0]["point"], POINT, "{blocks}");
    assert_eq!(blocks[0]["reason"], "firmware <tampered>", "{blocks}");
    assert_eq!(blocks[0]["by"], "ops1", "{blocks}");
    assert!(blocks[0]["to"].is_null(), "{blocks}");
    // Blocked already: refused, said on the page.
    let again = ops.post(
        &jar,
        &path,
        &[&format!("csrf={token}"), "reason=twice", "block=1"],
    );
    assert_eq!(status(&again), 409, "{again}");
    assert!(again.contains("blocked already"), "{again}");
    // No reason: refused.
    let bare = ops.post(
        &jar,
        &path,
        &[&format!("csrf={token}"), "reason= ", "reconnect=1"],
    );
    assert_eq!(status(&bare), 400, "{bare}");
    // Reconnected.
    let back = ops.post(
        &jar,
        &path,
        &[
            &format!("csrf={token}"),
            "reason=firmware restored",
            "reconnect=1",
        ],
    );
    assert_eq!(status(&back), 303, "{back}");
    assert!(ops.get(&jar, &path).contains("data-state=\"registered\""));
    let blocks = ops.blocks();
    assert!(!blocks[0]["to"].is_null(), "{blocks}");
    // Odd requests.
    assert_eq!(
        status(&ops.get(&jar, &format!("{path}?day=yesterday"))),
        400
    );
    assert_eq!(
        status(&ops.get(&jar, "/ops/points/0900000000000000999999")),
        404
    );
    assert_eq!(status(&ops.get(&jar, "/ops/points/..%2F..%2Fetc")), 404);
    // Every answer audited under its user.
    let audit = ops.audit();
    assert!(
        audit.lines().any(|l| l.contains("ops:ops1")
            && l.contains(&format!("POST {path}"))
            && l.contains("303")),
        "{audit}"
    );
    assert!(
        audit.lines().any(|l| l.contains("ops:ops1")
            && l.contains(&format!("POST {path}"))
            && l.contains("403")),
        "{audit}"
    );
}

#[test]
fn ops07_a_viewer_sees_no_control_and_a_forged_form_is_refused() {
    if !curl() {
        return;
    }
    let ops = Ops::new("viewer", 12);
    let jar = ops.login("view1");
    let path = format!("/ops/points/{POINT}");
    let page = ops.get(&jar, &path);
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("<svg id=\"curve\""), "{page}");
    for control in [
        "name=\"block\"",
        "name=\"reconnect\"",
        "name=\"reason\"",
        "id=\"act\"",
    ] {
        assert!(!page.contains(control), "{control}: {page}");
    }
    // The viewer's own session token (from its log-out form) does not make it an operator.
    let token = csrf(&page);
    let forged = ops.post(
        &jar,
        &path,
        &[&format!("csrf={token}"), "reason=forged", "block=1"],
    );
    assert_eq!(status(&forged), 403, "{forged}");
    assert_eq!(ops.blocks(), serde_json::json!([]));
    assert!(ops.get(&jar, &path).contains("data-state=\"registered\""));
    let audit = ops.audit();
    assert!(
        audit
            .lines()
            .any(|l| l.contains("ops:view1") && l.contains("POST") && l.contains("403")),
        "{audit}"
    );
}

/// The base64 SHA-256 of the portal certificate's public key (openssl), for Chromium's
/// `--ignore-certificate-errors-spki-list`: that certificate accepted, no other.
fn spki(tls: &std::path::Path) -> Option<String> {
    let script = format!(
        "openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64",
        tls.join("server.crt.pem").display()
    );
    let out = Command::new("sh").args(["-c", &script]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && text.len() == 44).then_some(text)
}

/// Python with Selenium, Chromium and ChromeDriver, or the skip.
fn browser_peers() -> Option<PathBuf> {
    let python = support::python()?;
    let selenium = Command::new(&python)
        .args(["-c", "import selenium"])
        .output()
        .is_ok_and(|o| o.status.success());
    let found = |p: &str| std::path::Path::new(p).exists();
    if !(selenium && found("/usr/bin/chromium") && found("/usr/bin/chromedriver")) {
        support::skips::skip(
            "interop peer missing: Selenium in the venv, /usr/bin/chromium or /usr/bin/chromedriver (run scripts/test as root to install them)",
        );
        return None;
    }
    Some(python)
}

#[test]
fn ops07_in_a_browser_an_operator_blocks_and_reconnects_and_a_viewer_sees_no_control() {
    let Some(python) = browser_peers() else {
        return;
    };
    let ops = Ops::new("browser", 13);
    let Some(spki) = spki(&ops.tls) else {
        support::skips::skip("interop peer missing: openssl (the certificate's key hash)");
        return;
    };
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ops-browser");
    let _ = std::fs::remove_dir_all(&shots);
    let out = Command::new(python)
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/ops_browser.py"))
        .args([&ops.url, POINT, &spki])
        .arg(&shots)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(seen["points"], 4, "{seen}");
    assert_eq!(seen["state_blocked"], "blocked", "{seen}");
    assert_eq!(seen["state_reconnected"], "registered", "{seen}");
    assert_eq!(seen["viewer_controls"], 0, "{seen}");
    assert_eq!(seen["viewer_forms"], 0, "{seen}");
    assert_eq!(
        seen["incident_contact"].as_str().map(str::len),
        Some(5),
        "{seen}"
    );
    // What the browser did is what the head end has: one period, closed, by ops1.
    let blocks = ops.blocks();
    assert_eq!(blocks.as_array().map(Vec::len), Some(1), "{blocks}");
    assert_eq!(blocks[0]["by"], "ops1", "{blocks}");
    assert!(!blocks[0]["to"].is_null(), "{blocks}");
    for shot in [
        "1-point.png",
        "2-blocked.png",
        "3-reconnected.png",
        "4-viewer.png",
    ] {
        let png = std::fs::read(shots.join(shot)).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{shot}");
    }
}

/// The `Location` of a 303.
fn location(answer: &str) -> String {
    answer
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn incident(token: &str, point: &str) -> Vec<String> {
    [
        format!("csrf={token}"),
        "title=terminal reported stolen".to_owned(),
        "category=lost-terminal".to_owned(),
        "occurred=2026-04-01".to_owned(),
        "status=open".to_owned(),
        format!("point={point}"),
        "what=the user reports the wireless terminal stolen".to_owned(),
        "place=customer premises".to_owned(),
        "impact=no readings from the point; the smart meter and other terminals unaffected"
            .to_owned(),
        "next_steps=block the point (OPS-07); ask the retailer to contact the user".to_owned(),
    ]
    .into()
}

fn fields(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn ops01_ops08_an_incident_has_the_report_items_the_retailer_as_contact_and_every_version() {
    if !curl() {
        return;
    }
    let ops = Ops::new("incident", 14);
    let jar = ops.login("ops1");
    let points = ops.get(&jar, "/ops/points");
    // The point's retailer, from its row: the contact window (OPS-01).
    let row = points
        .lines()
        .find(|l| l.contains(&format!("data-point=\"{POINT}\"")))
        .unwrap();
    let retailer = row
        .split("<td>")
        .nth(4)
        .unwrap()
        .trim_end_matches("</td>")
        .to_owned();
    assert_eq!(retailer.len(), 5, "{row}");
    let token = csrf(&points);
    // A report item missing, or a point not registered: refused, nothing kept.
    let mut lacking = incident(&token, POINT);
    lacking.retain(|f| !f.starts_with("impact="));
    let answer = ops.post(&jar, "/ops/incidents", &fields(&lacking));
    assert_eq!(status(&answer), 400, "{answer}");
    assert!(
        answer.contains("impact on each device and system is required"),
        "{answer}"
    );
    let stranger = incident(&token, "0900000000000000999999");
    assert_eq!(
        status(&ops.post(&jar, "/ops/incidents", &fields(&stranger))),
        400
    );
    assert!(!ops.get(&jar, "/ops/incidents").contains("data-record="));
    // Reported.
    let answer = ops.post(&jar, "/ops/incidents", &fields(&incident(&token, POINT)));
    assert_eq!(status(&answer), 303, "{answer}");
    assert_eq!(location(&answer), "/ops/incidents/1");
    let page = ops.get(&jar, "/ops/incidents/1");
    assert!(page.contains("data-version=\"1\""), "{page}");
    assert!(
        page.contains(&format!("<td class=\"contact\">{retailer}</td>")),
        "{page}"
    );
    let list = ops.get(&jar, "/ops/incidents");
    assert!(list.contains("data-record=\"1\""), "{list}");
    assert!(
        list.contains(&format!("<td class=\"contact\">{retailer}</td>")),
        "{list}"
    );
    // Its cause and countermeasure later: version 2, the first kept.
    let mut closed = incident(&token, POINT);
    closed.retain(|f| !f.starts_with("status="));
    closed.extend(
        [
            "status=closed",
            "version=1",
            "cause=terminal taken from an outdoor box",
            "fix=terminal replaced, the old one's credentials revoked",
            "plan=done 2026-04-03",
            "prevention=lockable enclosures for outdoor terminals",
        ]
        .map(str::to_owned),
    );
    let answer = ops.post(&jar, "/ops/incidents/1", &fields(&closed));
    assert_eq!(status(&answer), 303, "{answer}");
    let page = ops.get(&jar, "/ops/incidents/1");
    assert!(page.contains("data-version=\"2\""), "{page}");
    assert!(page.contains("lockable enclosures"), "{page}");
    let versions = page.split("id=\"versions\"").nth(1).unwrap();
    assert_eq!(versions.matches("<tr><td>").count(), 2, "{versions}");
    assert!(
        versions.contains("status, cause, countermeasure (fix), plan, recurrence prevention"),
        "{versions}"
    );
    // An edit of version 1 again (made before the other was saved): refused, not lost.
    let stale = ops.post(&jar, "/ops/incidents/1", &fields(&closed));
    assert_eq!(status(&stale), 409, "{stale}");
    // "Version 0" adds nothing.
    let mut sneaky = incident(&token, POINT);
    sneaky.push("version=0".to_owned());
    assert_eq!(
        status(&ops.post(&jar, "/ops/incidents/2", &fields(&sneaky))),
        400
    );
    assert_eq!(status(&ops.get(&jar, "/ops/incidents/2")), 404);
    // A viewer reads it, has no form, and its post is refused.
    let viewer = ops.login("view1");
    let page = ops.get(&viewer, "/ops/incidents/1");
    assert!(
        page.contains("lockable enclosures") && !page.contains("id=\"record-form\""),
        "{page}"
    );
    let mut forged = incident(&csrf(&page), POINT);
    forged.push("version=2".to_owned());
    assert_eq!(
        status(&ops.post(&viewer, "/ops/incidents/1", &fields(&forged))),
        403
    );
    assert_eq!(
        status(&ops.post(&viewer, "/ops/incidents", &fields(&forged))),
        403
    );
    assert!(ops
        .get(&jar, "/ops/incidents/1")
        .contains("data-version=\"2\""));
}

#[test]
fn ops02_a_risk_is_reviewed_within_a_year_and_flagged_when_its_review_is_overdue() {
    if !curl() {
        return;
    }
    let ops = Ops::new("risk", 15);
    let jar = ops.login("ops1");
    let token = csrf(&ops.get(&jar, "/ops/risks"));
    let today = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).unwrap())
        .date_naive();
    let risk = |title: &str, assessed: chrono::NaiveDate, next: chrono::NaiveDate| {
        let f: Vec<String> = vec![
            format!("csrf={token}"),
            format!("title={title}"),
            "asset=IoT route (Wi-SUN)".to_owned(),
            "threat=jamming near the meter".to_owned(),
            "likelihood=low".to_owned(),
            "impact=medium".to_owned(),
            "treatment=backfill from the terminal's store".to_owned(),
            "owner=network operations".to_owned(),
            "trigger=periodic".to_owned(),
            format!("assessed={assessed}"),
            format!("next_review={next}"),
        ];
        ops.post(&jar, "/ops/risks", &fields(&f))
    };
    let year_ago = today - chrono::Days::new(400);
    let late = risk(
        "assessed long ago",
        year_ago,
        year_ago + chrono::Days::new(180),
    );
    assert_eq!(status(&late), 303, "{late}");
    let fresh = risk("assessed today", today, today + chrono::Days::new(180));
    assert_eq!(status(&fresh), 303, "{fresh}");
    let too_far = risk(
        "reviewed in two years",
        today,
        today + chrono::Days::new(730),
    );
    assert_eq!(status(&too_far), 400, "{too_far}");
    let list = ops.get(&jar, "/ops/risks");
    assert!(
        list.contains("<tr data-record=\"1\" data-overdue=\"true\">"),
        "{list}"
    );
    assert!(
        list.contains("<tr data-record=\"2\" data-overdue=\"false\">"),
        "{list}"
    );
    assert!(!list.contains("data-record=\"3\""), "{list}");
}

#[test]
fn ops04_a_vulnerability_that_can_harm_the_system_names_whom_it_was_reported_to() {
    if !curl() {
        return;
    }
    let ops = Ops::new("vulnerability", 16);
    let jar = ops.login("ops1");
    let token = csrf(&ops.get(&jar, "/ops/vulnerabilities"));
    let mut note: Vec<String> = [
        "title=nonce reuse after a power cut in a terminal's CCM* stack",
        "reference=JVNVU#00000000",
        "source=JVN",
        "affects=wireless terminals of vendor X",
        "severity=high",
        "harms_system=yes",
        "status=open",
    ]
    .map(str::to_owned)
    .into();
    note.push(format!("csrf={token}"));
    let unreported = ops.post(&jar, "/ops/vulnerabilities", &fields(&note));
    assert_eq!(status(&unreported), 400, "{unreported}");
    assert!(
        unreported.contains("required when it can harm the system"),
        "{unreported}"
    );
    note.extend(
        [
            "reported_to=retailer A0019 and vendor X",
            "reported_on=2026-04-02",
        ]
        .map(str::to_owned),
    );
    let reported = ops.post(&jar, "/ops/vulnerabilities", &fields(&note));
    assert_eq!(status(&reported), 303, "{reported}");
    let list = ops.get(&jar, "/ops/vulnerabilities");
    assert!(list.contains("retailer A0019 and vendor X"), "{list}");
    // Audited under the operator.
    let audit = ops.audit();
    assert!(
        audit.lines().any(|l| l.contains("ops:ops1")
            && l.contains("POST /ops/vulnerabilities")
            && l.contains("303")),
        "{audit}"
    );
}

#[test]
fn ops06_the_head_end_keeps_the_terminals_events_and_links_and_the_pages_show_them() {
    if !curl() {
        return;
    }
    let ops = Ops::with("events", 17, &["--flood", "1", "--wrong-password", "1"]);
    let out = succeed(
        iotroute()
            .args(["headend", "events", "--json", "--db"])
            .arg(&ops.db),
    );
    let events: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    // Each of the four terminals joined; the flood and the wrong password were told.
    assert_eq!(
        kinds.iter().filter(|k| **k == "joined").count(),
        4,
        "{events}"
    );
    for kind in ["dos", "auth_failure"] {
        assert!(kinds.contains(&kind), "{kind}: {events}");
    }
    // Newest first.
    let received: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["received_at"].as_str().unwrap())
        .collect();
    assert!(received.windows(2).all(|w| w[0] >= w[1]), "{received:?}");
    let jar = ops.login("view1");
    let page = ops.get(&jar, &format!("/ops/points/{POINT}"));
    assert!(page.contains("data-link=\"up\""), "{page}");
    assert!(page.contains("data-led=\"connected\""), "{page}");
    assert!(page.contains("<tr data-kind=\"joined\">"), "{page}");
    let list = ops.get(&jar, "/ops/events");
    assert!(list.starts_with("HTTP/1.1 200"), "{list}");
    assert!(list.contains("<tr data-kind=\"dos\">"), "{list}");
    assert!(
        list.contains(&format!("<a href=\"/ops/points/{POINT}\">")),
        "{list}"
    );
    let only = ops.get(&jar, "/ops/events?q=dos");
    assert!(
        only.contains("data-kind=\"dos\"") && !only.contains("data-kind=\"joined\""),
        "{only}"
    );
    // Blocked, its link reads blocked and its LED authenticating at once.
    let op = ops.login("ops1");
    let token = csrf(&ops.get(&op, &format!("/ops/points/{POINT}")));
    let block = ops.post(
        &op,
        &format!("/ops/points/{POINT}"),
        &[&format!("csrf={token}"), "reason=flood source", "block=1"],
    );
    assert_eq!(status(&block), 303, "{block}");
    let page = ops.get(&jar, &format!("/ops/points/{POINT}"));
    assert!(
        page.contains("data-link=\"blocked\"") && page.contains("data-led=\"authenticating\""),
        "{page}"
    );
}

#[test]
fn ops06_terminal_logs_are_collected_with_their_verdict_and_reviewed_with_the_audit() {
    if !curl() {
        return;
    }
    let ops = Ops::new("logs", 18);
    // A terminal's event log as it writes it (the logs crate, SEC-09), and a copy with
    // one record edited after the fact.
    let logs_dir = ops.dir.join("terminal-logs");
    let mut log = logs::FileLog::open(
        &logs_dir,
        "event",
        logs::Retention::default(),
        "2026-04-01T00:00:00Z",
    )
    .unwrap();
    for (i, kind) in ["clock_set", "settings_changed", "meter_id_changed"]
        .iter()
        .enumerate()
    {
        log.append(
            &format!("2026-04-01T00:0{i}:00Z"),
            kind,
            serde_json::json!({"n": i}),
        )
        .unwrap();
    }
    let intact = log.path();
    let edited_dir = ops.dir.join("edited");
    std::fs::create_dir_all(&edited_dir).unwrap();
    let edited = edited_dir.join("event.jsonl");
    let text = std::fs::read_to_string(&intact).unwrap();
    std::fs::write(
        &edited,
        text.replacen("settings_changed", "nothing_changed_", 1),
    )
    .unwrap();
    std::fs::copy(logs::head_path(&intact), logs::head_path(&edited)).unwrap();
    let collect = |file: &std::path::Path| {
        let out = succeed(
            iotroute()
                .args([
                    "headend",
                    "logs",
                    "collect",
                    "--terminal",
                    "021A000000001003",
                    "--by",
                    "field-tech-7",
                    "--db",
                ])
                .arg(&ops.db)
                .arg(file),
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert_eq!(collect(&intact), "1 intact");
    let verdict = collect(&edited);
    assert!(
        verdict.starts_with("2 broken: record 2 (line 2): its content does not match its hash"),
        "{verdict}"
    );
    // Kept as collected: an edit of the file afterwards changes nothing.
    std::fs::write(&intact, "tampered later\n").unwrap();
    let listed = succeed(
        iotroute()
            .args(["headend", "logs", "list", "--json", "--db"])
            .arg(&ops.db),
    );
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["verdict"], "intact", "{listed}");
    assert_eq!(
        (
            listed[0]["first_seq"].as_u64(),
            listed[0]["last_seq"].as_u64()
        ),
        (Some(1), Some(3))
    );
    assert_eq!(listed[1]["by"], "field-tech-7", "{listed}");
    // Reviewed on the page, with the portal's audit.
    let jar = ops.login("view1");
    let page = ops.get(&jar, "/ops/logs");
    assert!(
        page.contains("<tr data-log=\"1\" data-verdict=\"intact\">"),
        "{page}"
    );
    assert!(
        page.contains("<tr data-log=\"2\" data-verdict=\"broken\">"),
        "{page}"
    );
    assert!(
        page.contains("id=\"audit\"") && page.contains("ops:view1"),
        "{page}"
    );
    let one = ops.get(&jar, "/ops/logs/1");
    assert!(
        one.contains("meter_id_changed") && !one.contains("tampered later"),
        "{one}"
    );
    assert_eq!(status(&ops.get(&jar, "/ops/logs/9")), 404);
    // In the database, collected logs are never changed.
    let db = rusqlite::Connection::open(&ops.db).unwrap();
    assert!(db
        .execute("UPDATE collected_logs SET verdict = 'intact'", [])
        .is_err());
    assert!(db.execute("DELETE FROM collected_logs", []).is_err());
}
