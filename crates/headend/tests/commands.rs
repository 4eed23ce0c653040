//! The settings the head end commands (issue 12): clock (TRM-09), interval (TRM-11) and
//! authentication password (TRM-08), and the password a terminal has already, for its
//! smart meter to take (`terminal-secret`, TRM-08). A command recorded in the database is
//! sent by the running head end to the point's smart meter (here its own A-route end,
//! `nodes::app::relay`), again on its hello until its end; the smart meter's *done* is
//! recorded, and only a done changes anything: the registry's interval, the secret the
//! terminal is registered with. Both stores keep commands alike; a database of schema
//! version 1 opens, migrated.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use dlms::cipher::{Keys, SystemTitle, GREEN_BOOK_AK, GREEN_BOOK_EK};
use dlms::relay::message::{Command, Outcome};
use headend::collect::CollectConfig;
use headend::commands::{
    request_of, CommandEnd, CommandError, CommandKind, CommandOutcome, NewPassword, Setting,
};
use headend::registry::parse_csv;
use headend::service::{HeadEndService, Outgoing};
use headend::sqlite::SqliteHeadendStore;
use headend::storage::{HeadendError, HeadendStore, MemoryHeadendStore};
use nodes::app::reader::RowRead;
use nodes::app::relay::SmartMeterRelay;
use nodes::app::secrets::dlms_password;
use nodes::terminal::slots::Interval;
use proptest::prelude::*;
use wisun::mac::Eui64;

const SM: [u8; 8] = [0x02, 0xAA, 0xBB, 0xCC, 0xDD, 0, 0, 1];
const T1: [u8; 8] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 1];
const T2: [u8; 8] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 2];
const HES: SystemTitle = SystemTitle(*b"HES\x00\x00\x00\x00\x01");
const P1: &str = "0900000000000000000001";
const P2: &str = "0900000000000000000002";
const OLD_SECRET: &[u8] = b"0123456789ABCDEF0123456789ABCDEF";

const REGISTRY: &str = "\
supply_point,terminal_id,pairing_id,smart_meter,meter_id,interval_min,retailer
0900000000000000000001,0211223344550001,IOT00901,02aabbccdd000001,,30,A1239
0900000000000000000002,0211223344550002,IOT00901,02aabbccdd000001,,30,A1239
";

type Service = HeadEndService<SqliteHeadendStore, mdms::MemoryStore>;

fn keys() -> Keys {
    Keys::from_slices(&GREEN_BOOK_EK, &GREEN_BOOK_AK).unwrap()
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 5).unwrap()
}

fn db(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!(
        "iotroute-headend-commands-{}-{name}.sqlite",
        std::process::id()
    ));
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{ext}", p.display()));
    }
    p
}

fn rows() -> Vec<(u64, headend::registry::DevicePoint)> {
    (2..).zip(parse_csv(REGISTRY.as_bytes()).unwrap()).collect()
}

/// A database with the registry, and the head end started on it.
fn head_end(name: &str) -> (PathBuf, Service) {
    let path = db(name);
    SqliteHeadendStore::open(&path)
        .unwrap()
        .import(&rows())
        .unwrap();
    let service = open(&path);
    (path, service)
}

/// The head end (re)started on `path`, the terminals' secrets file giving
/// [`OLD_SECRET`].
fn open(path: &std::path::Path) -> Service {
    let store = SqliteHeadendStore::open(path).unwrap();
    let mdms = mdms::Mdms::new(mdms::MemoryStore::new(), mdms::Vee::default()).unwrap();
    let secrets = BTreeMap::from([
        (Eui64(T1), OLD_SECRET.to_vec()),
        (Eui64(T2), b"FEDCBA9876543210FEDCBA9876543210".to_vec()),
    ]);
    HeadEndService::open(
        store,
        mdms,
        BTreeMap::from([(Eui64(SM), keys())]),
        secrets,
        CollectConfig::default(),
        start(),
    )
    .unwrap()
}

/// What `iotroute headend set-...` does: a record appended by another connection.
fn record(path: &std::path::Path, point: &str, setting: &Setting) -> u64 {
    SqliteHeadendStore::open(path)
        .unwrap()
        .record_command(&point.parse().unwrap(), setting, start(), "operator-3")
        .unwrap()
}

fn records(path: &std::path::Path) -> Vec<headend::commands::CommandRecord> {
    SqliteHeadendStore::open(path)
        .unwrap()
        .command_records()
        .unwrap()
}

/// The smart meter takes `out`; its answers go back to the head end. The commands it
/// took.
fn deliver(hes: &mut Service, sm: &mut SmartMeterRelay, out: Outgoing) -> Vec<Command> {
    let mut taken = Vec::new();
    for (to, bytes) in out {
        assert_eq!(to, Eui64(SM));
        taken.extend(sm.received(&bytes).unwrap());
    }
    let answers = sm.take_output();
    let more = hes.take_bytes(Eui64(SM), &answers, start()).unwrap();
    assert!(more.is_empty(), "{more:?}");
    taken
}

/// The smart meter connects and says hello: what the head end commands on it.
fn hello(hes: &mut Service, sm: &mut SmartMeterRelay) -> Vec<Command> {
    hes.reconnected(Eui64(SM));
    sm.connected(start(), |_| true);
    let out = hes
        .take_bytes(Eui64(SM), &sm.take_output(), start())
        .unwrap();
    deliver(hes, sm, out)
}

/// The smart meter tells the head end a command's end.
fn done(hes: &mut Service, sm: &mut SmartMeterRelay, request: u32, o: Outcome, why: &str) {
    sm.done(request, o, why, start());
    let out = hes
        .take_bytes(Eui64(SM), &sm.take_output(), start())
        .unwrap();
    assert!(out.is_empty(), "{out:?}");
}

/// The same smart meter after a reboot: its counters kept, its registrations lost.
fn rebooted(sm: &SmartMeterRelay) -> SmartMeterRelay {
    let (sent, taken) = sm.counters();
    SmartMeterRelay::new(SystemTitle(SM), HES, keys(), sent, taken)
}

fn smart_meter() -> SmartMeterRelay {
    SmartMeterRelay::new(SystemTitle(SM), HES, keys(), 0, None)
}

fn registration(commands: &[Command], terminal: [u8; 8]) -> (Vec<u8>, u8) {
    commands
        .iter()
        .find_map(|c| match c {
            Command::Register {
                terminal: t,
                secret,
                interval_min,
                ..
            } if *t == terminal => Some((secret.clone(), *interval_min)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no registration of {terminal:02x?} in {commands:?}"))
}

#[test]
fn trm11_a_set_interval_recorded_is_sent_at_poll_and_its_done_switches_the_registry() {
    let (path, mut hes) = head_end("interval");
    let mut sm = smart_meter();
    let got = hello(&mut hes, &mut sm);
    assert_eq!(registration(&got, T1).1, 30);
    // Refused by the terminal: nothing changes, in the registry or the registration.
    let refused = record(&path, P1, &Setting::Interval(Interval::Quarter));
    polled(&mut hes, &mut sm);
    let why = "SET: read-write-denied";
    done(
        &mut hes,
        &mut sm,
        request_of(refused).unwrap(),
        Outcome::Refused,
        why,
    );
    let points = SqliteHeadendStore::open(&path).unwrap().points().unwrap();
    assert_eq!(points[0].interval, Interval::Half);
    let mut sm = rebooted(&sm);
    assert_eq!(registration(&hello(&mut hes, &mut sm), T1).1, 30);
    // Done: the registry and the registrations switch.
    let seq = record(&path, P1, &Setting::Interval(Interval::Quarter));
    let request = request_of(seq).unwrap();
    let got = polled(&mut hes, &mut sm);
    assert_eq!(
        got,
        vec![Command::SetInterval {
            request,
            terminal: T1,
            minutes: 15
        }]
    );
    assert_eq!(records(&path)[1].end, None, "pending until its done");
    assert!(
        hes_poll(&mut hes).is_empty(),
        "sent once a process, not at every poll"
    );
    done(&mut hes, &mut sm, request, Outcome::Done, "");
    let r = &records(&path)[1];
    assert_eq!(
        r.end.as_ref().map(|e| e.outcome),
        Some(CommandOutcome::Done)
    );
    let points = SqliteHeadendStore::open(&path).unwrap().points().unwrap();
    assert_eq!(
        points[0].interval,
        Interval::Quarter,
        "TRM-11: the registry"
    );
    assert_eq!(points[1].interval, Interval::Half, "the other point's kept");
    // The smart meter reboots, forgets: the terminal is registered at 15 minutes.
    let mut sm = rebooted(&sm);
    let got = hello(&mut hes, &mut sm);
    assert_eq!(registration(&got, T1).1, 15);
    assert!(
        !got.iter().any(|c| matches!(c, Command::SetInterval { .. })),
        "an ended command is not sent again: {got:?}"
    );
}

/// TRM-11: a smart meter that restarts after its terminal switched interval forgets
/// where; the head end, which collected rows of both intervals, tells it in the
/// registration (method 1's fifth field), so that rows read back from before the switch
/// keep the old interval (fails when the registration leaves it out).
#[test]
fn trm11_a_smart_meter_restarted_after_a_switch_is_told_where_it_was() {
    let (path, mut hes) = head_end("switched");
    let mut sm = smart_meter();
    assert_eq!(registration(&hello(&mut hes, &mut sm), T1).1, 30);
    let switched = |commands: &[Command]| {
        commands.iter().find_map(|c| match c {
            Command::Register {
                terminal, switched, ..
            } if *terminal == T1 => Some(*switched),
            _ => None,
        })
    };
    let seq = record(&path, P1, &Setting::Interval(Interval::Quarter));
    polled(&mut hes, &mut sm);
    done(
        &mut hes,
        &mut sm,
        request_of(seq).unwrap(),
        Outcome::Done,
        "",
    );
    // The terminal's first quarter-hour row (its grid was 30 minutes): where it switched.
    let at = Utc.with_ymd_and_hms(2026, 4, 1, 1, 0, 0).unwrap();
    let row = |t: DateTime<Utc>| RowRead {
        time: t.fixed_offset(),
        ac_in_wh: Some(100),
        ac_out_wh: Some(0),
        status: Some(0),
    };
    let mut sm = rebooted(&sm);
    let got = hello(&mut hes, &mut sm);
    assert_eq!(
        switched(&got),
        Some(None),
        "no switch collected yet: {got:?}"
    );
    sm.read(T1, &[row(at)], at + TimeDelta::minutes(1));
    let out = hes
        .take_bytes(Eui64(SM), &sm.take_output(), at + TimeDelta::minutes(1))
        .unwrap();
    deliver(&mut hes, &mut sm, out);
    let mut sm = rebooted(&sm);
    let got = hello(&mut hes, &mut sm);
    assert_eq!(registration(&got, T1).1, 15);
    assert_eq!(switched(&got), Some(Some((at, 30))), "{got:?}");
    assert_eq!(
        sm.held(T1).and_then(|h| h.switch),
        Some((at, Interval::Half)),
        "the restarted smart meter holds it"
    );
}

fn hes_poll(hes: &mut Service) -> Outgoing {
    hes.poll(start() + TimeDelta::seconds(1))
}

/// The head end polls; the smart meter takes what it sends: the commands it took.
fn polled(hes: &mut Service, sm: &mut SmartMeterRelay) -> Vec<Command> {
    let out = hes_poll(hes);
    deliver(hes, sm, out)
}

#[test]
fn trm08_a_new_password_done_is_the_secret_of_the_next_registration_and_a_refused_one_changes_nothing(
) {
    let (path, mut hes) = head_end("password");
    let mut sm = smart_meter();
    hello(&mut hes, &mut sm);
    // Refused by the terminal: the old secret stays.
    let pw1 = NewPassword::new(b"FIRST-NEW-PW".to_vec()).unwrap();
    let seq = record(&path, P1, &Setting::Password(pw1));
    let got = polled(&mut hes, &mut sm);
    let request = request_of(seq).unwrap();
    assert!(
        matches!(got.as_slice(), [Command::SetPassword { request: r, terminal, password }]
            if *r == request && *terminal == T1 && password == b"FIRST-NEW-PW"),
        "{got:?}"
    );
    done(
        &mut hes,
        &mut sm,
        request,
        Outcome::Refused,
        "SET: read-write-denied",
    );
    let end = records(&path)[0].end.clone().unwrap();
    assert_eq!(end.outcome, CommandOutcome::Refused);
    assert_eq!(end.reason, "SET: read-write-denied");
    let kept = SqliteHeadendStore::open(&path)
        .unwrap()
        .terminal_secrets()
        .unwrap();
    assert!(kept.is_empty(), "a refused password changes no secret");
    let mut sm = rebooted(&sm);
    assert_eq!(registration(&hello(&mut hes, &mut sm), T1).0, OLD_SECRET);

    // Taken: until its done the old secret is registered (and the command sent again on
    // the hello); from its done on, the one derived from the new password.
    let pw2 = NewPassword::new(b"SECOND-NEW-PW".to_vec()).unwrap();
    let seq = record(&path, P1, &Setting::Password(pw2));
    let request = request_of(seq).unwrap();
    polled(&mut hes, &mut sm);
    let mut sm = rebooted(&sm);
    let got = hello(&mut hes, &mut sm);
    assert_eq!(registration(&got, T1).0, OLD_SECRET);
    assert!(
        got.iter()
            .any(|c| matches!(c, Command::SetPassword { request: r, .. } if *r == request)),
        "{got:?}"
    );
    done(&mut hes, &mut sm, request, Outcome::Done, "");
    registers_the_new_secret(hes, &sm, &path, &dlms_password(T1, b"SECOND-NEW-PW"));
}

/// TRM-08, a new password's command done: `secret` (derived from the password) is what
/// `hes` registers T1 with on the hello of `sm` rebooted, and what a head end restarted on
/// `path` registers it with too (kept in the database, over the secrets file's); the
/// password itself is no longer kept.
fn registers_the_new_secret(
    mut hes: Service,
    sm: &SmartMeterRelay,
    path: &std::path::Path,
    secret: &[u8],
) {
    let mut sm = rebooted(sm);
    assert_eq!(registration(&hello(&mut hes, &mut sm), T1).0, secret);
    drop(hes);
    let mut hes = open(path);
    let mut sm = rebooted(&sm);
    assert_eq!(registration(&hello(&mut hes, &mut sm), T1).0, secret);
    let conn = rusqlite::Connection::open(path).unwrap();
    let kept: i64 = conn
        .query_row("SELECT count(*) FROM command_passwords", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, 0, "the password is dropped once the command ended");
}

/// What the head end logs, every level, as text.
#[derive(Clone, Default)]
struct Logged(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logged {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logged {
    /// Run `f` with every log line of this thread kept here.
    fn during(&self, f: impl FnOnce()) {
        let w = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || w.clone())
            .finish();
        // With one dispatcher alive, tracing decides whether a callsite is of interest
        // by the subscriber of the thread that hits it first — another test's, which has
        // none: never. A second one alive makes it ask every live subscriber.
        let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
        tracing::subscriber::with_default(subscriber, f);
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// TRM-08, issue 12: `terminal-secret` (a password the handy terminal changed) is sent as
/// A route method 9, TakePassword, with the password; until its done the old secret is
/// registered, a failure changes nothing, and its done makes the DLMS secret derived from
/// the password the one the terminal is registered with — kept in the database over the
/// secrets file, restarts included — exactly as a done `set-password`; the password is
/// dropped once the command ended, and neither it nor the secret is in any log line or in
/// the records' `Debug`.
#[test]
fn trm08_a_terminal_secret_done_is_the_secret_of_the_next_registration_as_a_set_password() {
    const HANDY: &[u8] = b"HANDY-PASS-0042";
    let logged = Logged::default();
    let mut shown = String::new();
    logged.during(|| {
        let (path, mut hes) = head_end("terminal-secret");
        let mut sm = smart_meter();
        hello(&mut hes, &mut sm);
        // Failed (the smart meter holds no DLMS secret for it, say): the old one stays.
        let pw = NewPassword::new(b"HANDY-FAILS-01".to_vec()).unwrap();
        let seq = record(&path, P1, &Setting::TerminalSecret(pw));
        let request = request_of(seq).unwrap();
        assert_eq!(
            polled(&mut hes, &mut sm),
            vec![Command::TakePassword {
                request,
                terminal: T1,
                password: b"HANDY-FAILS-01".to_vec()
            }]
        );
        let why = "the smart meter holds no DLMS secret for the terminal";
        done(&mut hes, &mut sm, request, Outcome::Failed, why);
        let kept = SqliteHeadendStore::open(&path)
            .unwrap()
            .terminal_secrets()
            .unwrap();
        assert!(kept.is_empty(), "a failure changes no secret");
        let mut sm = rebooted(&sm);
        assert_eq!(registration(&hello(&mut hes, &mut sm), T1).0, OLD_SECRET);

        // Done: the secret derived from the password, from then on.
        let pw = NewPassword::new(HANDY.to_vec()).unwrap();
        let seq = record(&path, P1, &Setting::TerminalSecret(pw));
        let request = request_of(seq).unwrap();
        let got = polled(&mut hes, &mut sm);
        assert!(
            matches!(got.as_slice(), [Command::TakePassword { request: r, terminal, password }]
                if *r == request && *terminal == T1 && password == HANDY),
            "{got:?}"
        );
        let pending = records(&path);
        assert_eq!(
            (pending[1].kind, pending[1].by.as_str(), &pending[1].end),
            (CommandKind::TerminalSecret, "operator-3", &None)
        );
        let store = SqliteHeadendStore::open(&path).unwrap();
        shown = format!("{pending:?} {:?}", store.pending_commands().unwrap());
        done(&mut hes, &mut sm, request, Outcome::Done, "");
        let end = records(&path)[1].end.clone().unwrap();
        assert_eq!(end.outcome, CommandOutcome::Done);
        let new_secret = dlms_password(T1, HANDY);
        assert_eq!(
            store.terminal_secrets().unwrap(),
            BTreeMap::from([(Eui64(T1), new_secret.clone())])
        );
        registers_the_new_secret(hes, &sm, &path, &new_secret);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "the database holds secrets: owner-only");
        }
    });
    let text = logged.text();
    assert!(
        text.contains("terminal-secret"),
        "the command was logged: {text}"
    );
    let secret = String::from_utf8(dlms_password(T1, HANDY)).unwrap();
    for (what, shown) in [("log", &text), ("Debug", &shown)] {
        for hidden in [
            "HANDY-PASS",
            "HANDY-FAILS",
            &dlms::hex::encode(HANDY),
            &secret,
        ] {
            assert!(!shown.contains(hidden), "{hidden} in a {what}: {shown}");
        }
    }
}

/// The command records of schema version 1 as that version created them (their kind
/// CHECK without `terminal-secret`).
const COMMAND_RECORDS_V1: &str = "
CREATE TABLE command_records (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    supply_point  TEXT NOT NULL REFERENCES device_points (supply_point),
    kind          TEXT NOT NULL CHECK (kind IN ('set-clock', 'set-interval', 'set-password')),
    minutes       INTEGER CHECK (minutes IN (15, 30)),
    at_ms         INTEGER NOT NULL,
    by_name       TEXT NOT NULL,
    outcome       TEXT CHECK (outcome IN ('done', 'refused', 'failed')),
    reason        TEXT,
    outcome_at_ms INTEGER,
    CHECK ((kind = 'set-interval') = (minutes IS NOT NULL)),
    CHECK ((outcome IS NULL) = (reason IS NULL) AND (outcome IS NULL) = (outcome_at_ms IS NULL))
);
CREATE TRIGGER command_records_no_delete BEFORE DELETE ON command_records
BEGIN SELECT RAISE(ABORT, 'command records are append-only'); END;
";

/// TRM-08: a database of schema version 1 (no `terminal-secret` in its kind CHECK) opens:
/// migrated to version 2 with its records, their ends and a pending new password kept,
/// the numbering going on, the records still append-only, the file still owner-only; a
/// `terminal-secret` is recorded in it.
#[test]
fn trm08_a_database_of_schema_version_1_opens_migrated_and_takes_a_terminal_secret() {
    let path = db("schema-v1");
    {
        // The file as version 1 left it: owner-only, its own command records.
        let mut s = SqliteHeadendStore::open(&path).unwrap();
        s.import(&rows()).unwrap();
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!(
            "PRAGMA foreign_keys = OFF;
             DROP TABLE command_records;
             {COMMAND_RECORDS_V1}
             UPDATE schema_versions SET version = 1 WHERE component = 'headend';"
        ))
        .unwrap();
        let v1_kind = conn.execute(
            "INSERT INTO command_records (supply_point, kind, at_ms, by_name)
             VALUES (?1, 'terminal-secret', 0, 'op')",
            [P1],
        );
        assert!(v1_kind.is_err(), "version 1 takes no terminal-secret");
        conn.execute_batch(&format!(
            "INSERT INTO command_records (supply_point, kind, at_ms, by_name, outcome, reason, outcome_at_ms)
                 VALUES ('{P1}', 'set-clock', 1000, 'op-1', 'done', '', 2000);
             INSERT INTO command_records (supply_point, kind, minutes, at_ms, by_name)
                 VALUES ('{P2}', 'set-interval', 15, 3000, 'op-2');
             INSERT INTO command_records (supply_point, kind, at_ms, by_name)
                 VALUES ('{P1}', 'set-password', 4000, 'op-3');
             INSERT INTO command_passwords (seq, password) VALUES (3, CAST('OLD-PENDING-PW' AS BLOB));"
        ))
        .unwrap();
    }
    let mut s = SqliteHeadendStore::open(&path).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row(
            "SELECT version FROM schema_versions WHERE component = 'headend'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(version, 2);
    let r = s.command_records().unwrap();
    assert_eq!(
        r.iter()
            .map(|r| (
                r.seq,
                r.kind,
                r.by.as_str(),
                r.end.as_ref().map(|e| e.outcome)
            ))
            .collect::<Vec<_>>(),
        [
            (1, CommandKind::SetClock, "op-1", Some(CommandOutcome::Done)),
            (2, CommandKind::SetInterval, "op-2", None),
            (3, CommandKind::SetPassword, "op-3", None),
        ]
    );
    let pending = s.pending_commands().unwrap();
    assert_eq!(
        pending[1].2,
        Setting::Password(NewPassword::new(b"OLD-PENDING-PW".to_vec()).unwrap())
    );
    let pw = NewPassword::new(HANDY_V1.to_vec()).unwrap();
    let seq = s
        .record_command(
            &P2.parse().unwrap(),
            &Setting::TerminalSecret(pw),
            start(),
            "op-4",
        )
        .unwrap();
    assert_eq!(seq, 4, "the numbering goes on");
    assert!(conn.execute("DELETE FROM command_records", []).is_err());
    assert!(conn
        .execute("UPDATE command_records SET by_name = 'x' WHERE seq = 4", [])
        .is_err());
    // Opened again: nothing more to migrate.
    drop(s);
    let s = SqliteHeadendStore::open(&path).unwrap();
    assert_eq!(s.command_records().unwrap().len(), 4);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the database may hold secrets: owner-only");
    }
}

const HANDY_V1: &[u8] = b"HANDY-PASS-V1";

#[test]
fn trm09_a_command_for_a_smart_meter_not_connected_is_sent_on_its_hello_and_a_failure_is_kept() {
    let (path, mut hes) = head_end("hello");
    let seq = record(&path, P2, &Setting::Clock);
    let request = request_of(seq).unwrap();
    // Sent at the poll, to nobody (not connected: the driver drops the bytes).
    assert_eq!(hes_poll(&mut hes).len(), 1);
    let mut sm = smart_meter();
    let got = hello(&mut hes, &mut sm);
    let registered = got
        .iter()
        .position(|c| matches!(c, Command::Register { .. }))
        .unwrap();
    let set = got
        .iter()
        .position(|c| {
            *c == Command::SetClock {
                request,
                terminal: T2,
            }
        })
        .unwrap_or_else(|| panic!("{got:?}"));
    assert!(
        registered < set,
        "registered before it is commanded: {got:?}"
    );
    done(
        &mut hes,
        &mut sm,
        request,
        Outcome::Failed,
        "the terminal is not joined",
    );
    let end = records(&path)[0].end.clone().unwrap();
    assert_eq!(
        (end.outcome, end.reason.as_str()),
        (CommandOutcome::Failed, "the terminal is not joined")
    );
    // A done told twice records nothing more; an ended command is not sent again.
    done(&mut hes, &mut sm, request, Outcome::Done, "");
    assert_eq!(records(&path)[0].end, Some(end));
    let mut sm = rebooted(&sm);
    assert!(!hello(&mut hes, &mut sm)
        .iter()
        .any(|c| matches!(c, Command::SetClock { .. })));
}

#[test]
fn trm09_a_command_the_smart_meter_refuses_ends_failed() {
    let (path, mut hes) = head_end("refused");
    // The smart meter holds no terminal (no hello yet): it refuses the command itself.
    let mut sm = smart_meter();
    record(&path, P1, &Setting::Clock);
    let got = polled(&mut hes, &mut sm);
    assert!(got.is_empty(), "{got:?}");
    let end = records(&path)[0].end.clone().unwrap();
    assert_eq!(end.outcome, CommandOutcome::Failed);
    assert!(end.reason.contains("refused"), "{}", end.reason);
}

#[test]
fn trm11_a_done_after_a_restart_of_the_head_end_names_its_own_record() {
    let (path, mut hes) = head_end("restart");
    let mut sm = smart_meter();
    hello(&mut hes, &mut sm);
    let first = record(&path, P1, &Setting::Interval(Interval::Quarter));
    polled(&mut hes, &mut sm);
    drop(hes);
    let mut hes = open(&path);
    hello(&mut hes, &mut sm);
    let second = record(&path, P2, &Setting::Clock);
    // The restarted head end sends both (the first has no end yet).
    let got = polled(&mut hes, &mut sm);
    assert_eq!(got.len(), 2, "{got:?}");
    // The first's done, from before the restart, ends the first only.
    done(
        &mut hes,
        &mut sm,
        request_of(first).unwrap(),
        Outcome::Done,
        "",
    );
    let r = records(&path);
    assert_eq!(
        r[0].end.as_ref().map(|e| e.outcome),
        Some(CommandOutcome::Done)
    );
    assert_eq!(r[1].seq, second);
    assert_eq!(r[1].end, None);
}

#[test]
fn trm08_trm11_commands_are_refused_for_a_point_not_registered_or_without_who() {
    let mut s = SqliteHeadendStore::in_memory().unwrap();
    s.import(&rows()).unwrap();
    let unknown = "0900000000000000000099".parse().unwrap();
    assert_eq!(
        s.record_command(&unknown, &Setting::Clock, start(), "op"),
        Err(HeadendError::Command(CommandError::Unknown(
            "0900000000000000000099".to_owned()
        )))
    );
    assert_eq!(
        s.record_command(&P1.parse().unwrap(), &Setting::Clock, start(), ""),
        Err(HeadendError::Command(CommandError::By))
    );
    assert!(s.command_records().unwrap().is_empty());
}

/// Command records are append-only but for their end, written once, in the database
/// itself.
#[test]
fn command_records_are_append_only_but_for_their_end_in_the_database() {
    let path = db("append-only");
    let mut s = SqliteHeadendStore::open(&path).unwrap();
    s.import(&rows()).unwrap();
    let seq = s
        .record_command(&P1.parse().unwrap(), &Setting::Clock, start(), "op")
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert!(conn
        .execute("UPDATE command_records SET by_name = 'x'", [])
        .is_err());
    assert!(conn.execute("DELETE FROM command_records", []).is_err());
    let end = CommandEnd {
        outcome: CommandOutcome::Done,
        reason: String::new(),
        at: start(),
    };
    assert!(s.finish_command(seq, &end).unwrap().is_some());
    assert!(conn
        .execute("UPDATE command_records SET outcome = 'failed'", [])
        .is_err());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the database may hold secrets: owner-only");
    }
}

/// One step on both stores.
#[derive(Debug, Clone)]
enum Step {
    Record(usize, u8, String),
    Finish(u64, u8),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0usize..3, 0u8..5, "[a-z]{0,3}").prop_map(|(p, k, by)| Step::Record(p, k, by)),
        (0u64..8, 0u8..3).prop_map(|(s, o)| Step::Finish(s, o)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn trm08_trm11_sqlite_and_memory_keep_commands_alike(steps in prop::collection::vec(step(), 0..16)) {
        let mut sql = SqliteHeadendStore::in_memory().unwrap();
        let mut mem = MemoryHeadendStore::new();
        prop_assert_eq!(sql.import(&rows()), mem.import(&rows()));
        let points = [P1, P2, "0900000000000000000099"];
        for s in steps {
            match s {
                Step::Record(p, k, by) => {
                    let setting = match k {
                        0 => Setting::Clock,
                        1 => Setting::Interval(Interval::Quarter),
                        2 => Setting::Interval(Interval::Half),
                        3 => Setting::Password(NewPassword::new(format!("password-{p}{by}").into_bytes()).unwrap()),
                        _ => Setting::TerminalSecret(NewPassword::new(format!("handy-pw-{p}{by}").into_bytes()).unwrap()),
                    };
                    let point = points[p].parse().unwrap();
                    prop_assert_eq!(
                        sql.record_command(&point, &setting, start(), &by),
                        mem.record_command(&point, &setting, start(), &by)
                    );
                }
                Step::Finish(seq, o) => {
                    let end = CommandEnd {
                        outcome: [CommandOutcome::Done, CommandOutcome::Refused, CommandOutcome::Failed][usize::from(o)],
                        reason: format!("why {o}"),
                        at: start() + TimeDelta::seconds(1),
                    };
                    prop_assert_eq!(sql.finish_command(seq, &end), mem.finish_command(seq, &end));
                }
            }
            prop_assert_eq!(sql.command_records(), mem.command_records());
            prop_assert_eq!(sql.pending_commands(), mem.pending_commands());
            prop_assert_eq!(sql.points(), mem.points());
            prop_assert_eq!(sql.terminal_secrets(), mem.terminal_secrets());
        }
    }
}

/// The auth-failure events the head end keeps.
fn auth_failures(path: &std::path::Path) -> usize {
    SqliteHeadendStore::open(path)
        .unwrap()
        .events(None, 100)
        .unwrap()
        .iter()
        .filter(|e| e.kind == "auth_failure")
        .count()
}

/// OPS-06 (ours, docs/a-route.md): an event whose acknowledgment the connection lost is
/// sent again after the next hello and kept once; after a restart of the head end too
/// (the highest number kept is in its database); once acknowledged it is not sent
/// again.
#[test]
fn ops06_an_event_sent_again_after_a_broken_connection_or_a_restart_is_kept_once() {
    use dlms::relay::message::own_event;
    let (path, mut hes) = head_end("events-again");
    let mut sm = smart_meter();
    hello(&mut hes, &mut sm);
    // Taken and acknowledged, but the connection breaks before the acknowledgment.
    sm.own_event(T1, own_event::AUTH_FAILURE, vec![], start());
    let out = hes
        .take_bytes(Eui64(SM), &sm.take_output(), start())
        .unwrap();
    assert!(!out.is_empty(), "the acknowledgment");
    assert_eq!((auth_failures(&path), sm.untaken()), (1, 1));
    // On the next connection it comes again: kept once, and acknowledged.
    hello(&mut hes, &mut sm);
    assert_eq!(sm.stats().events_resent, 1);
    assert_eq!((auth_failures(&path), sm.untaken()), (1, 0));
    hello(&mut hes, &mut sm);
    assert_eq!(sm.stats().events_resent, 1, "not sent again once taken");
    // Taken by a head end killed before its acknowledgment left: its successor knows it.
    sm.own_event(T2, own_event::AUTH_FAILURE, vec![], start());
    hes.take_bytes(Eui64(SM), &sm.take_output(), start())
        .unwrap();
    drop(hes);
    let mut hes = open(&path);
    hello(&mut hes, &mut sm);
    assert_eq!(sm.stats().events_resent, 2);
    assert_eq!((auth_failures(&path), sm.untaken()), (2, 0));
    let _ = std::fs::remove_file(&path);
}
