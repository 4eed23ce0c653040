//! `iotroute dlms get|set|action`: a small DLMS/COSEM client over the UDP wrapper
//! (RAD-01), for people, scripts and tests. The protocol is `dlms::client` (sans-IO);
//! this file is the socket, the retry policy, value syntax and printing.
//!
//! ```text
//! iotroute dlms get    [CONN] [--from ISO --to ISO] OBJECT...
//! iotroute dlms set    [CONN] OBJECT VALUE [OBJECT VALUE]...   (or OBJECT=VALUE...)
//! iotroute dlms action [CONN] OBJECT:METHOD [VALUE]            (or OBJECT:METHOD[=VALUE]...)
//! CONN: --host H [--port 4059] [--bind ADDR] [--client 16] [--server 1]
//!       [--auth none|low|hls-gmac] [--password P] [--security none|auth|enc|auth-enc]
//!       [--ek HEX --ak HEX] [--system-title HEX] [--max-pdu N] [--invocation-counter N]
//!       [--ic-file FILE] [--timeout SECS] [--retries N] [--no-list] [--json]
//! ```
//!
//! # Lists
//!
//! Several objects go in one GET-, SET- or ACTION-Request-With-List when the association
//! agreed to multiple references (the negotiated conformance), split into as few lists
//! as the server's max PDU allows; the response may come in blocks. Each item keeps its
//! own result, so one refused item does not lose the others. The follow-up reads that
//! describe a result (a register's scaler and unit, a profile's capture objects and its
//! columns' units) ride in the same lists. Without multiple references, or with
//! `--no-list` (for a server that announces lists and mishandles them), one request
//! per item, as for a single object.
//!
//! # Objects
//!
//! `[CLASS/]OBIS[:ATTR]`, e.g. `0-0:1.0.0.255` (attribute 2), `1-0:99.1.0.255:3`,
//! `8/0-0:1.0.0.255:2`. Without `CLASS/` the class id is taken from the IoT-route object
//! model (`docs/iot-route-cosem.md`); an object outside it needs the prefix. For
//! `action` the number after the last `:` is the method and is required.
//!
//! # Values (`set` VALUE, `action` VALUE)
//!
//! - typed JSON, exactly what `get --json` prints as `data`: one-key objects named
//!   after the Green Book / Gurux type (`{"UInt32": 1800}`, `{"OctetString": "07EA0B19"}`,
//!   `{"String": "IOT00901"}`, `{"Structure": [{"Int8": 0}, ...]}`, `{"NullData": null}`;
//!   octet strings, date-time, date and time in hex, bit strings as `"0101"`);
//! - `@HEX`: an octet-string;
//! - an ISO 8601 date-time (`2026-11-25T09:30:00+09:00`; without offset: JST): the
//!   clock's octet-string(12) form (the `date-time` tag when the attribute has it);
//! - `true`, `false`, `null`; a number; any other text: a string.
//!
//! A plain number or string takes the type the attribute has now: `set` reads the
//! attribute first (one GET) so that `set ... 0-0:1.0.0.255:3 -540` sends a `long`, as
//! the server expects. When it cannot be read, or for `action`, a number is the
//! smallest signed integer type that holds it (`integer` for the Blue Book's `integer(0)`
//! method parameter; the clock's `shift_time`, method 6, takes a `long`) and text is a
//! visible-string. The `value` printed by `get --json`
//! (numbers, `@HEX`, ISO timestamps, strings) therefore feeds back into `set` too.
//!
//! # Transport
//!
//! One wrapper frame per datagram, from an ephemeral port on `--bind` (default the
//! wildcard) to `--host:--port`. Datagrams from any other address, or that are not
//! wrapper frames for our wPorts, are ignored; an answer the session refuses (an old
//! invoke id or a replayed counter: a duplicate) is passed over while waiting, and
//! reported at the deadline if no acceptable answer came. Each request waits `--timeout` seconds
//! (default 3) and is re-sent unchanged up to `--retries` times (default 1): a resend
//! only helps when the request was lost, since a ciphered request the server already saw
//! is refused as a replay. The association is released (RLRQ) at the end; a release
//! that goes unanswered is logged, not an error.
//!
//! # Security
//!
//! `--auth low` needs `--password`. `--auth hls-gmac` and any `--security` use suite 0
//! with `--ek`/`--ak` (default: the Green Book test keys, as `dlms serve`) and our system
//! title `--system-title` (default `4D4D4D0000000001`, the Green Book client title).
//! The command line is readable by every local user, so the password and the keys also
//! come from `IOTROUTE_DLMS_PASSWORD`, `IOTROUTE_DLMS_EK`, `IOTROUTE_DLMS_AK` or a
//! `--secrets FILE` (flag > environment > file; `crate::secret_input`).
//! The HLS challenge comes from the OS (`/dev/urandom`: no extra crate). The invocation
//! counter starts at `--invocation-counter`, default the tenths of seconds since
//! 2025-01-01 UTC, so that successive runs under the same keys count upwards (the
//! server refuses a counter that does not increase, and a repeated counter would
//! reuse a GCM nonce). That default fails for runs closer together than their requests ×
//! 0.1 s (the server answers invocation-counter-error, and the message says so):
//! `--ic-file FILE` keeps the counter between runs, writing a mark 65,536 ahead durably
//! before the first frame, so that a crash wastes counters and never reuses one.
//! Passwords and keys are never logged.
//!
//! # Exit status
//!
//! 0: every request served. 2: the server refused some attribute or method with a
//! Data-Access-Result / Action-Result (the JSON lists which). 1: timeout, association
//! refused (with the AARE's diagnostic), bad arguments or any other error.
//!
//! # JSON (`--json`): exactly one object on stdout, whatever the exit status
//!
//! ```json
//! {"host": "127.0.0.2", "port": 4059, "client": 1, "server": 1,
//!  "results": [
//!   {"object": "0-0:1.0.0.255", "class": 8, "attribute": 2,
//!    "data": {"OctetString": "07EA0B1903091E00 00FDE400"}, "value": "2026-11-25T09:30:00+09:00"},
//!   {"object": "1-0:1.8.0.255", "class": 3, "attribute": 2, "data": {"UInt32": 12345678},
//!    "value": 12345678, "scaler": 0, "unit": 30, "unit_name": "Wh", "scaled": "12345678",
//!    "kwh": "12345.678"},
//!   {"object": "1-0:99.1.0.255", "class": 7, "attribute": 2,
//!    "columns": ["8/0-0:1.0.0.255:2", "3/1-0:1.8.0.255:2", ...],
//!    "units": [null, {"scaler": 0, "unit": 30, "unit_name": "Wh"}, ...],
//!    "rows": [["2026-11-25T07:00:00+09:00", 1234567, 345678, 0], ...]},
//!   {"object": "1-0:2.8.0.255", "class": 3, "attribute": 2,
//!    "error": "object-undefined", "code": 4}],
//!  "failed": ["1-0:2.8.0.255:2"], "invocation_counter": 12, "with_list": true,
//!  "list_fallback": false}
//! ```
//!
//! `with_list` (an extension) is true when at least one request was a list;
//! `list_fallback` (an extension) when the answer to a GET-Request-With-List did not
//! decode and its objects were then read with one request each on the same association
//! (logged as a warning; lists stay off for the rest of it).
//! `target` is `CLASS/OBIS:INDEX` as read; `data` is the typed value (absent for profile buffers, which print `rows`); `value`
//! the plain one (timestamps ISO 8601 with offset, octet strings `@HEX` plus `text` when
//! printable). Registers add `scaler`, `unit`, `scaled` (value × 10^scaler as a decimal)
//! and, for Wh, `kwh` (TRM-05). Profile buffers give `columns` (capture objects as
//! `CLASS/OBIS:ATTR`), `units` (each register column's scaler and unit, else null) and
//! `rows` (raw values; the clock column as ISO 8601). `set` prints `results` with `"result": "success"` or an
//! error; `action` adds `return` (typed) when the server returned data. On exit status 1:
//! `{"host", "port", ..., "error": "..."}`.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dlms::cipher::{Keys, SystemTitle};
use dlms::client::{Authentication, ClientSettings, Event, ItemResult, Security};
use dlms::session::{
    LinkConfig, Session, SessionError, SessionOptions, Target, TargetError, COUNTER_RESERVE,
};
use dlms::text::{
    decimal, parse_time, parse_value, plain, result_name, scaler_unit, self_typed, typed,
    unit_name, ValueError,
};
use dlms::{Data, Obis};
use serde_json::{json, Map, Value};
use thiserror::Error;

use crate::secret_input::{self, parse_secret, Secret, SecretsFile, SecretsFileError};

/// Exit status when the server refused some attribute or method.
const EXIT_REFUSED: u8 = 2;

/// How the client authenticates (`--auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthArg {
    /// No authentication (public association, or a lab server).
    None,
    /// Low level security: `--password`.
    Low,
    /// High level security mechanism 5 (GMAC, suite 0).
    HlsGmac,
}

/// Protection of the service APDUs (`--security`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SecurityArg {
    /// Plain APDUs.
    None,
    /// Authenticated (GMAC tag).
    Auth,
    /// Encrypted.
    Enc,
    /// Authenticated and encrypted.
    AuthEnc,
}

/// Where and how to associate: shared by get, set and action.
#[derive(Debug, clap::Args)]
pub struct ConnArgs {
    /// The server: an IP address or a host name.
    #[arg(long)]
    pub host: String,
    /// The server's UDP port.
    #[arg(long, default_value_t = dlms::wrapper::DEFAULT_PORT)]
    pub port: u16,
    /// Local address to bind (ephemeral port); default the wildcard of the host's family.
    #[arg(long)]
    pub bind: Option<IpAddr>,
    /// Our wPort (16 public, 1 management, 32 maintenance in the IoT-route model).
    #[arg(long, default_value_t = 16)]
    pub client: u16,
    /// The server's wPort (logical device).
    #[arg(long, default_value_t = 1)]
    pub server: u16,
    /// Authentication mechanism.
    #[arg(long, value_enum, default_value = "none")]
    pub auth: AuthArg,
    /// LLS password (with --auth low). Visible to every local user on the command line:
    /// prefer the environment variable or --secrets.
    #[arg(long, env = secret_input::ENV_PASSWORD, hide_env_values = true, value_parser = parse_secret)]
    pub password: Option<Secret>,
    /// Protection of service APDUs (suite 0).
    #[arg(long, value_enum, default_value = "none")]
    pub security: SecurityArg,
    /// Suite-0 global unicast encryption key, 16 bytes in hex (default: Green Book test
    /// key). Prefer the environment variable or --secrets to the command line.
    #[arg(long, value_name = "HEX", env = secret_input::ENV_EK, hide_env_values = true, value_parser = parse_secret)]
    pub ek: Option<Secret>,
    /// Suite-0 authentication key, 16 bytes in hex (default: Green Book test key).
    #[arg(long, value_name = "HEX", env = secret_input::ENV_AK, hide_env_values = true, value_parser = parse_secret)]
    pub ak: Option<Secret>,
    /// File of secrets: `password=...`, `ek=HEX`, `ak=HEX` lines, `#` comments; used for
    /// what neither a flag nor its environment variable gives. Refused when its group or
    /// others have access (chmod 600).
    #[arg(long = "secrets", value_name = "FILE")]
    pub secrets: Option<std::path::PathBuf>,
    /// Our system title, 8 bytes in hex.
    #[arg(
        long = "system-title",
        value_name = "HEX",
        default_value = "4D4D4D0000000001"
    )]
    pub system_title: String,
    /// The largest APDU we accept (proposed in the AARQ); smaller forces block transfer.
    #[arg(long = "max-pdu", default_value_t = 1024, value_parser = clap::value_parser!(u16).range(64..))]
    pub max_pdu: u16,
    /// First invocation counter to use (default: tenths of seconds since 2025-01-01 UTC,
    /// or the mark in --ic-file when higher).
    #[arg(long = "invocation-counter")]
    pub invocation_counter: Option<u32>,
    /// File keeping the invocation counter between runs: read at start, and a mark
    /// 65,536 counters ahead written (durably) before the first ciphered frame.
    #[arg(long = "ic-file", value_name = "FILE")]
    pub ic_file: Option<std::path::PathBuf>,
    /// Read the server's record of our invocation counter first: this Data object's
    /// attribute 2 (the IoT-route model and IDIS meters: 0-0:43.1.0.255), over the public
    /// association (client wPort 16, no security), then start above it, as Gurux's
    /// reader does. For a client that kept no counter (a new machine, a lost --ic-file).
    #[arg(long = "ic-object", value_name = "OBIS")]
    pub ic_object: Option<String>,
    /// Seconds to wait for each answer, fractions allowed.
    #[arg(long, default_value = "3", value_parser = parse_secs)]
    pub timeout: Duration,
    /// Resends of an unanswered request before giving up.
    #[arg(long, default_value_t = 1)]
    pub retries: u8,
    /// One request per object even when the server agreed to lists (multiple
    /// references): for a server that announces lists and mishandles them.
    #[arg(long = "no-list")]
    pub no_list: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `iotroute dlms get`.
#[derive(Debug, clap::Args)]
pub struct GetArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Read profile buffers from this time (ISO 8601; without offset: JST), inclusive.
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    /// Read profile buffers up to this time, inclusive.
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// Objects: [CLASS/]OBIS[:ATTR], attribute 2 by default.
    #[arg(required = true, value_name = "OBJECT")]
    pub objects: Vec<String>,
}

/// Arguments of `iotroute dlms set`.
#[derive(Debug, clap::Args)]
pub struct SetArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Attributes and their values: `OBJECT VALUE` pairs or `OBJECT=VALUE` words, mixed
    /// freely. OBJECT is [CLASS/]OBIS[:ATTR] (attribute 2 by default); VALUE is typed
    /// JSON, @HEX, an ISO date-time, a number, true/false/null or text.
    #[arg(
        required = true,
        value_name = "OBJECT VALUE",
        allow_negative_numbers = true
    )]
    pub items: Vec<String>,
}

/// Arguments of `iotroute dlms action`.
#[derive(Debug, clap::Args)]
pub struct ActionArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Methods: [CLASS/]OBIS:METHOD, each optionally followed by its parameters (same
    /// syntax as set's VALUE) as the next word or after `=` (`0-0:1.0.0.255:6=100`);
    /// none when omitted.
    #[arg(
        required = true,
        value_name = "OBJECT:METHOD [VALUE]",
        allow_negative_numbers = true
    )]
    pub items: Vec<String>,
}

/// Seconds, fractions allowed, more than 0 and at most an hour.
pub(crate) fn parse_secs(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    if !(secs > 0.0 && secs <= 3600.0) {
        return Err("seconds must be more than 0 and at most 3600".into());
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A failure of the command (exit status 1).
#[derive(Debug, Error)]
enum CmdError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Target(#[from] TargetError),
    #[error("{0}")]
    Value(#[from] ValueError),
    #[error("{0}{hint}", hint = session_hint(.0))]
    Session(#[from] SessionError),
    #[error("{0}")]
    Secrets(#[from] SecretsFileError),
    #[error("invocation counter file {path}: {reason}")]
    IcFile { path: String, reason: String },
    #[error("invocation counter object {object}: {reason}")]
    IcObject { object: String, reason: String },
}

/// What to do about a session failure the command line can help with.
fn session_hint(e: &SessionError) -> &'static str {
    match e {
        e if e.is_counter_refusal() => {
            " (the server expects a higher invocation counter: pass --invocation-counter, or keep it with --ic-file)"
        }
        SessionError::ListFailed(_) => " (--no-list sends one request per object)",
        SessionError::CountersUsedUp(_) => " (the counters reserved in --ic-file)",
        _ => "",
    }
}

impl From<dlms::client::ClientError> for CmdError {
    fn from(e: dlms::client::ClientError) -> Self {
        Self::Session(e.into())
    }
}

fn link_config(conn: &ConnArgs) -> LinkConfig {
    LinkConfig {
        host: conn.host.clone(),
        port: conn.port,
        bind: conn.bind,
        timeout: conn.timeout,
        retries: conn.retries,
    }
}

/// Associate as `conn` says, the invocation counter above what the server said it
/// accepted (`--ic-object`) and reserved in `--ic-file`.
async fn open_session(conn: &ConnArgs) -> Result<Session, CmdError> {
    let mut settings = settings(conn)?;
    let floor = match &conn.ic_object {
        Some(object) => {
            let seen = server_counter(conn, object).await?;
            tracing::info!(object, seen, "invocation counter read from the server");
            Some(seen.checked_add(1).ok_or_else(|| CmdError::IcObject {
                object: object.clone(),
                reason: "counters exhausted: new keys needed".into(),
            })?)
        }
        None => None,
    };
    let counter_limit = match &conn.ic_file {
        Some(path) => {
            let (start, mark) = reserve(path, conn.invocation_counter, floor)?;
            settings.invocation_counter = start;
            Some(mark)
        }
        None => {
            settings.invocation_counter = settings.invocation_counter.max(floor.unwrap_or(0));
            None
        }
    };
    let options = SessionOptions {
        lists: !conn.no_list,
        counter_limit,
    };
    Ok(Session::open(settings, &link_config(conn), options).await?)
}

/// Run `get`.
pub async fn get(args: GetArgs) -> ExitCode {
    let conn = &args.conn;
    finish(conn, get_inner(&args).await)
}

/// Run `set`.
pub async fn set(args: SetArgs) -> ExitCode {
    finish(&args.conn, set_inner(&args).await)
}

/// Run `action`.
pub async fn action(args: ActionArgs) -> ExitCode {
    finish(&args.conn, action_inner(&args).await)
}

/// Results of a run: JSON entries and the refused ones.
#[derive(Default)]
struct Outcome {
    results: Vec<Value>,
    failed: Vec<String>,
    invocation_counter: u32,
    /// Whether some request was a list.
    with_list: bool,
    /// Whether a list answer did not decode and its objects were read one by one.
    list_fallback: bool,
}

fn header(conn: &ConnArgs) -> Map<String, Value> {
    let mut o = Map::new();
    o.insert("host".into(), json!(conn.host));
    o.insert("port".into(), json!(conn.port));
    o.insert("client".into(), json!(conn.client));
    o.insert("server".into(), json!(conn.server));
    o
}

fn finish(conn: &ConnArgs, r: Result<Outcome, CmdError>) -> ExitCode {
    let mut o = header(conn);
    match r {
        Ok(out) => {
            for r in &out.results {
                if !conn.json {
                    crate::stdout::outln!("{}", human(r));
                }
                if let Some(e) = r.get("error").and_then(Value::as_str) {
                    eprintln!(
                        "error: {} refused: {e}",
                        r.get("target").and_then(Value::as_str).unwrap_or("?")
                    );
                }
            }
            let refused = !out.failed.is_empty();
            if conn.json {
                o.insert("results".into(), Value::Array(out.results));
                o.insert("failed".into(), json!(out.failed));
                o.insert("invocation_counter".into(), json!(out.invocation_counter));
                o.insert("with_list".into(), json!(out.with_list));
                o.insert("list_fallback".into(), json!(out.list_fallback));
                crate::stdout::outln!("{}", Value::Object(o));
            }
            if refused {
                ExitCode::from(EXIT_REFUSED)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            if conn.json {
                o.insert("error".into(), json!(e.to_string()));
                crate::stdout::outln!("{}", Value::Object(o));
            }
            ExitCode::FAILURE
        }
    }
}

/// One line per result for people.
fn human(r: &Value) -> String {
    let target = r.get("target").and_then(Value::as_str).unwrap_or("?");
    if let Some(e) = r.get("error") {
        return format!("{target}: refused, {}", e.as_str().unwrap_or("?"));
    }
    if let Some(rows) = r.get("rows").and_then(Value::as_array) {
        let mut s = format!("{target}: {} row(s)", rows.len());
        for row in rows {
            s.push_str(&format!("\n  {row}"));
        }
        return s;
    }
    if let Some(v) = r.get("kwh") {
        return format!("{target}: {} kWh", v.as_str().unwrap_or("?"));
    }
    if let Some(v) = r.get("scaled") {
        return format!(
            "{target}: {} {}",
            v.as_str().unwrap_or("?"),
            r.get("unit_name").and_then(Value::as_str).unwrap_or("")
        );
    }
    if let Some(t) = r.get("text").and_then(Value::as_str) {
        return format!("{target}: {t}");
    }
    match r.get("value") {
        Some(Value::String(v)) => return format!("{target}: {v}"),
        Some(v) => return format!("{target}: {v}"),
        None => {}
    }
    if let Some(v) = r.get("result") {
        return format!("{target}: {}", v.as_str().unwrap_or("?"));
    }
    format!("{target}: {r}")
}

// ---------------------------------------------------------------------------------
// Words

/// Split `set`'s words into (object, value): `OBJECT=VALUE` in one word or `OBJECT
/// VALUE` in two (an object never contains `=`, so the first `=` separates).
fn set_items(words: &[String]) -> Result<Vec<(String, String)>, CmdError> {
    let mut items = Vec::new();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        match w.split_once('=') {
            Some((o, v)) => items.push((o.to_owned(), v.to_owned())),
            None => {
                let v = it
                    .next()
                    .ok_or_else(|| CmdError::Usage(format!("`{w}`: a value is missing")))?;
                items.push((w.clone(), v.clone()));
            }
        }
    }
    Ok(items)
}

/// Split `action`'s words into (method, parameters): `OBJECT:METHOD=VALUE`, or
/// `OBJECT:METHOD` followed by a word that is not itself an object (its VALUE).
fn action_items(words: &[String]) -> Vec<(String, Option<String>)> {
    let mut items = Vec::new();
    let mut it = words.iter().peekable();
    while let Some(w) = it.next() {
        if let Some((o, v)) = w.split_once('=') {
            items.push((o.to_owned(), Some(v.to_owned())));
            continue;
        }
        let value = it
            .next_if(|n| !n.contains('=') && !Target::looks_like(n))
            .cloned();
        items.push((w.clone(), value));
    }
    items
}

// ---------------------------------------------------------------------------------
// Session

/// The value of Data `object` attribute 2 read over the public association (client wPort
/// 16, no authentication, no security) of the server `conn` names, released after: the
/// server's record of the management client's invocation counter (`--ic-object`).
async fn server_counter(conn: &ConnArgs, object: &str) -> Result<u32, CmdError> {
    let bad = |reason: String| CmdError::IcObject {
        object: object.to_owned(),
        reason,
    };
    let obis = Obis::parse(object).map_err(|e| bad(e.to_string()))?;
    let settings = ClientSettings {
        client_wport: PUBLIC_WPORT,
        server_wport: conn.server,
        max_pdu: conn.max_pdu,
        ..ClientSettings::default()
    };
    let options = SessionOptions::default();
    let mut session = Session::open(settings, &link_config(conn), options).await?;
    let target = Target {
        class: 1,
        obis,
        index: 2,
    };
    let answer = session.get(target, None).await;
    session.close().await;
    let value = match answer? {
        Event::Value(v) => v,
        Event::AccessError { code, .. } => {
            return Err(bad(format!("refused: {}", result_name(code))))
        }
        other => return Err(bad(format!("unexpected answer: {other:?}"))),
    };
    value
        .as_i128()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| bad(format!("{value:?} is not a 32-bit counter")))
}

/// The public client's wPort, from which `--ic-object` is read.
const PUBLIC_WPORT: u16 = 16;

fn hex_arg(what: &str, text: &str) -> Result<Vec<u8>, CmdError> {
    dlms::hex::decode(text).map_err(|e| CmdError::Usage(format!("{what}: {e}")))
}

/// Read the mark in `path` (absent file: none), choose the first counter (`explicit`, or
/// the higher of the mark and the clock-based default; never below `floor`, what the
/// server said it accepted + 1) and write the new mark before any counter is spent: a
/// crash after this point wastes counters, never reuses them.
fn reserve(
    path: &std::path::Path,
    explicit: Option<u32>,
    floor: Option<u32>,
) -> Result<(u32, u32), CmdError> {
    let err = |reason: String| CmdError::IcFile {
        path: path.display().to_string(),
        reason,
    };
    let previous = match std::fs::read_to_string(path) {
        Ok(t) => Some(
            t.trim()
                .parse::<u32>()
                .map_err(|_| err(format!("`{}` is not a counter", t.trim())))?,
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(err(e.to_string())),
    };
    let start = explicit
        .unwrap_or_else(|| default_invocation_counter().max(previous.unwrap_or(0)))
        .max(floor.unwrap_or(0));
    let mark = start
        .checked_add(COUNTER_RESERVE)
        .ok_or_else(|| err("invocation counters exhausted: new keys needed".into()))?;
    crate::state_file::write_atomic(
        path,
        format!("{mark}\n").as_bytes(),
        crate::state_file::Access::Default,
    )
    .map_err(|e| err(e.to_string()))?;
    Ok((start, mark))
}

/// The default invocation counter: tenths of seconds since 2025-01-01 UTC.
fn default_invocation_counter() -> u32 {
    const EPOCH_2025: u64 = 1_735_689_600;
    let tenths = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() / 100)
        .unwrap_or(0);
    let since = tenths.saturating_sub(u128::from(EPOCH_2025) * 10);
    u32::try_from(since).unwrap_or(u32::MAX - 1_000_000)
}

fn settings(conn: &ConnArgs) -> Result<ClientSettings, CmdError> {
    let file = match &conn.secrets {
        Some(path) => SecretsFile::load(path)?,
        None => SecretsFile::default(),
    };
    let authentication = match conn.auth {
        AuthArg::None => Authentication::None,
        AuthArg::Low => Authentication::Low {
            password: secret_input::pick(conn.password.as_ref(), file.password.as_ref())
                .ok_or_else(|| {
                    CmdError::Usage(format!(
                        "--auth low needs --password (or {}, or password= in --secrets)",
                        secret_input::ENV_PASSWORD
                    ))
                })?
                .expose()
                .as_bytes()
                .to_vec(),
        },
        AuthArg::HlsGmac => Authentication::HlsGmac,
    };
    let security = match conn.security {
        SecurityArg::None => Security::None,
        SecurityArg::Auth => Security::Auth,
        SecurityArg::Enc => Security::Enc,
        SecurityArg::AuthEnc => Security::AuthEnc,
    };
    let ek = secret_input::pick(conn.ek.as_ref(), file.ek.as_ref());
    let ak = secret_input::pick(conn.ak.as_ref(), file.ak.as_ref());
    let keys = match (&ek, &ak) {
        (None, None) => Keys::GREEN_BOOK,
        (Some(ek), Some(ak)) => Keys::from_slices(
            &secret_input::hex_key("--ek", ek).map_err(CmdError::Usage)?,
            &secret_input::hex_key("--ak", ak).map_err(CmdError::Usage)?,
        )
        .map_err(|e| CmdError::Usage(e.to_string()))?,
        _ => return Err(CmdError::Usage("--ek and --ak go together".into())),
    };
    let title = SystemTitle::from_slice(&hex_arg("--system-title", &conn.system_title)?)
        .map_err(|e| CmdError::Usage(format!("--system-title: {e}")))?;
    Ok(ClientSettings {
        client_wport: conn.client,
        server_wport: conn.server,
        authentication,
        security,
        keys: Some(keys),
        system_title: Some(title),
        max_pdu: conn.max_pdu,
        invocation_counter: conn
            .invocation_counter
            .unwrap_or_else(default_invocation_counter),
        ..ClientSettings::default()
    })
}

// ---------------------------------------------------------------------------------
// get

async fn get_inner(args: &GetArgs) -> Result<Outcome, CmdError> {
    let targets = args
        .objects
        .iter()
        .map(|o| Target::parse(o, Some(2)))
        .collect::<Result<Vec<_>, _>>()?;
    let range = match (&args.from, &args.to) {
        (Some(f), Some(t)) => {
            let (f, t) = (parse_time(f)?, parse_time(t)?);
            if !targets.iter().any(|t| t.class == 7 && t.index == 2) {
                return Err(CmdError::Usage(
                    "--from/--to select rows of a profile buffer (class 7 attribute 2)".into(),
                ));
            }
            Some(dlms::cosem::range_selector(&f, &t))
        }
        _ => None,
    };
    let mut s = open_session(&args.conn).await?;
    let mut out = Outcome::default();
    let reads: Vec<_> = targets
        .iter()
        .map(|t| {
            let access = range
                .as_ref()
                .filter(|_| t.class == 7 && t.index == 2)
                .map(|r| (1u8, r));
            (*t, access)
        })
        .collect();
    // What describing the results needs (scaler and unit of registers, capture objects
    // of profiles) rides in the same lists.
    let mut all = reads.clone();
    if s.lists() {
        for t in &targets {
            let aux = Target { index: 3, ..*t };
            let needed = matches!(t.class, 3 | 4 | 7) && t.index == 2;
            if needed && !all.iter().any(|(x, a)| *x == aux && a.is_none()) {
                all.push((aux, None));
            }
        }
    }
    let events = s.get_many(&all).await?;
    // Attributes 3 read, asked for or not, serve the descriptions too.
    for ((t, a), e) in all.iter().zip(&events) {
        if t.index == 3 && a.is_none() {
            s.remember(*t, e.clone());
        }
    }
    let events = events.get(..reads.len()).unwrap_or(&[]);
    // Then the units of the profiles' register columns, in one more list.
    let columns = targets
        .iter()
        .filter(|t| t.class == 7 && t.index == 2)
        .filter_map(|t| s.read_before(&t.with_index(3)))
        .flat_map(capture_objects)
        .filter_map(|c| unit_target(&c))
        .collect();
    s.read_ahead(columns).await?;
    for (t, event) in targets.iter().zip(events) {
        let mut r = entry(t, "attribute");
        match event {
            Event::Value(v) => describe(&mut s, t, v, &mut r).await?,
            Event::AccessError { code, .. } => refused(&mut r, &mut out.failed, t, *code),
            other => return Err(SessionError::Unexpected(format!("{other:?}")).into()),
        }
        out.results.push(Value::Object(r));
    }
    out.with_list = s.sent_list();
    out.list_fallback = s.list_fallback();
    out.invocation_counter = s.close().await;
    Ok(out)
}

/// A profile's capture objects (attribute 3) as (class, logical name, attribute).
type Column = (Option<i128>, Option<Obis>, Option<i128>);

fn capture_objects(e: &Event) -> Vec<Column> {
    match e {
        Event::Value(Data::Array(defs)) => defs
            .iter()
            .map(|d| {
                let e = d.elements().unwrap_or(&[]);
                let class = e.first().and_then(Data::as_i128);
                let ln = match e.get(1) {
                    Some(Data::OctetString(b)) => Obis::from_slice(b).ok(),
                    _ => None,
                };
                let attr = e.get(2).and_then(Data::as_i128);
                (class, ln, attr)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The scaler-unit attribute of a register column.
fn unit_target(c: &Column) -> Option<Target> {
    match c {
        (Some(c @ (3 | 4)), Some(ln), Some(2)) => Some(Target {
            class: u16::try_from(*c).ok()?,
            obis: *ln,
            index: 3,
        }),
        _ => None,
    }
}

fn entry(t: &Target, index_name: &str) -> Map<String, Value> {
    let mut r = Map::new();
    r.insert("target".into(), json!(t.label()));
    r.insert("object".into(), json!(t.obis.to_string()));
    r.insert("class".into(), json!(t.class));
    r.insert(index_name.into(), json!(t.index));
    r
}

fn refused(r: &mut Map<String, Value>, failed: &mut Vec<String>, t: &Target, code: u8) {
    r.insert("error".into(), json!(result_name(code)));
    r.insert("code".into(), json!(code));
    failed.push(format!("{}:{}", t.obis, t.index));
}

/// Fill in a read value: typed and plain, with the register's scaler/unit or the
/// profile's rows.
async fn describe(
    s: &mut Session,
    t: &Target,
    v: &Data,
    r: &mut Map<String, Value>,
) -> Result<(), CmdError> {
    if t.class == 7 && t.index == 2 {
        let columns = capture_objects(&s.read(Target { index: 3, ..*t }).await?);
        let rows: Vec<Value> = v
            .elements()
            .unwrap_or(&[])
            .iter()
            .map(|row| {
                Value::Array(
                    row.elements()
                        .unwrap_or(&[])
                        .iter()
                        .enumerate()
                        .map(|(i, cell)| {
                            let clock = matches!(columns.get(i), Some((Some(8), _, Some(2))));
                            plain(cell, clock)
                        })
                        .collect(),
                )
            })
            .collect();
        if !columns.is_empty() {
            let names: Vec<Value> = columns
                .iter()
                .map(|(c, ln, a)| match (c, ln, a) {
                    (Some(c), Some(ln), Some(a)) => json!(format!("{c}/{ln}:{a}")),
                    _ => Value::Null,
                })
                .collect();
            r.insert("columns".into(), Value::Array(names));
            // The register columns' scaler and unit, so that a row's raw counts can be
            // read as quantities (rows stay raw: exact, and what the server stored).
            let mut units = Vec::with_capacity(columns.len());
            for c in &columns {
                let unit = match unit_target(c) {
                    Some(reg) => match s.read(reg).await? {
                        Event::Value(su) => scaler_unit(&su),
                        _ => Value::Null,
                    },
                    None => Value::Null,
                };
                units.push(unit);
            }
            r.insert("units".into(), Value::Array(units));
        }
        r.insert("rows".into(), Value::Array(rows));
        return Ok(());
    }
    r.insert("data".into(), typed(v));
    let clock = t.class == 8 && matches!(t.index, 2 | 5 | 6);
    r.insert("value".into(), plain(v, clock));
    if let Data::OctetString(b) = v {
        if !clock && !b.is_empty() && b.iter().all(|c| c.is_ascii_graphic() || *c == b' ') {
            r.insert("text".into(), json!(String::from_utf8_lossy(b)));
        }
    }
    if matches!(t.class, 3 | 4) && t.index == 2 {
        if let Event::Value(su) = s.read(Target { index: 3, ..*t }).await? {
            let e = su.elements().unwrap_or(&[]);
            if let (Some(scaler), Some(unit), Some(raw)) = (
                e.first().and_then(Data::as_i128),
                e.get(1).and_then(Data::as_i128),
                v.as_i128(),
            ) {
                r.insert("scaler".into(), json!(scaler));
                r.insert("unit".into(), json!(unit));
                if let Some(name) = unit_name(unit) {
                    r.insert("unit_name".into(), json!(name));
                }
                let scaled = decimal(raw, scaler);
                if unit == 30 {
                    r.insert("kwh".into(), json!(decimal(raw, scaler - 3)));
                }
                r.insert("scaled".into(), json!(scaled));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// set and action

async fn set_inner(args: &SetArgs) -> Result<Outcome, CmdError> {
    let items = set_items(&args.items)?
        .into_iter()
        .map(|(o, v)| {
            let t = Target::parse(&o, Some(2))?;
            if self_typed(&v) {
                parse_value(&v, None)?;
            }
            Ok((t, v))
        })
        .collect::<Result<Vec<_>, CmdError>>()?;
    let mut s = open_session(&args.conn).await?;
    // Plain numbers and text take the attribute's current type: read those first.
    let untyped: Vec<_> = items
        .iter()
        .filter(|(_, v)| !self_typed(v))
        .map(|(t, _)| (*t, None))
        .collect();
    let mut current = s.get_many(&untyped).await?.into_iter();
    let mut values = Vec::with_capacity(items.len());
    for (_, v) in &items {
        let like = if self_typed(v) {
            None
        } else {
            match current.next() {
                Some(Event::Value(d)) => Some(d),
                _ => None,
            }
        };
        values.push(parse_value(v, like.as_ref())?);
    }
    let items: Vec<(Target, Data)> = items.iter().map(|(t, _)| *t).zip(values).collect();
    let codes = s.set_many(&items).await?;
    let mut out = Outcome::default();
    for ((t, v), code) in items.iter().zip(codes) {
        let mut r = entry(t, "attribute");
        r.insert("data".into(), typed(v));
        if code == 0 {
            r.insert("result".into(), json!("success"));
        } else {
            refused(&mut r, &mut out.failed, t, code);
        }
        out.results.push(Value::Object(r));
    }
    out.with_list = s.sent_list();
    out.invocation_counter = s.close().await;
    Ok(out)
}

/// The Blue Book type of a method parameter where it is not the `integer(0)` that the
/// smallest-type rule already gives: the clock's `shift_time` takes a `long` (seconds),
/// so `action ... 0-0:1.0.0.255:6 100` sends what the server expects.
fn method_parameter_type(class: u16, method: i8) -> Option<Data> {
    match (class, method) {
        (8, 6) => Some(Data::Long(0)),
        _ => None,
    }
}

async fn action_inner(args: &ActionArgs) -> Result<Outcome, CmdError> {
    let items = action_items(&args.items)
        .into_iter()
        .map(|(o, v)| {
            let t = Target::parse(&o, None)?;
            let like = method_parameter_type(t.class, t.index);
            let params = v
                .as_deref()
                .map(|v| parse_value(v, like.as_ref()))
                .transpose()?;
            Ok((t, params))
        })
        .collect::<Result<Vec<_>, CmdError>>()?;
    let mut s = open_session(&args.conn).await?;
    let outcomes = s.action_many(&items).await?;
    let mut out = Outcome::default();
    for ((t, p), o) in items.iter().zip(outcomes) {
        let mut r = entry(t, "method");
        if let Some(p) = p {
            r.insert("data".into(), typed(p));
        }
        if o.code == 0 {
            r.insert("result".into(), json!("success"));
            if let Some(ItemResult::Value(v)) = o.value {
                r.insert("return".into(), typed(&v));
            }
        } else {
            refused(&mut r, &mut out.failed, t, o.code);
        }
        out.results.push(Value::Object(r));
    }
    out.with_list = s.sent_list();
    out.invocation_counter = s.close().await;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rad01_a_method_parameter_takes_the_blue_book_type() {
        assert_eq!(
            parse_value("100", method_parameter_type(8, 6).as_ref()).unwrap(),
            Data::Long(100),
            "shift_time takes a long"
        );
    }

    #[test]
    fn rad01_set_and_action_words_split_into_items() {
        let w = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let items = set_items(&w(&[
            "0-0:1.0.0.255",
            "-540",
            "0-0:1.0.0.255:3=-540",
            "a",
            "x=y",
        ]))
        .unwrap();
        assert_eq!(
            items,
            [
                ("0-0:1.0.0.255".to_owned(), "-540".to_owned()),
                ("0-0:1.0.0.255:3".to_owned(), "-540".to_owned()),
                ("a".to_owned(), "x=y".to_owned()),
            ],
            "a pair's value may hold `=`"
        );
        assert!(set_items(&w(&["0-0:1.0.0.255"])).is_err(), "value missing");
        let items = action_items(&w(&[
            "0-0:1.0.0.255:1",
            "0",
            "0-0:1.0.0.255:2",
            "8/0-0:1.0.0.255:3",
            "0-0:1.0.0.255:6=100",
        ]));
        assert_eq!(
            items,
            [
                ("0-0:1.0.0.255:1".to_owned(), Some("0".to_owned())),
                ("0-0:1.0.0.255:2".to_owned(), None),
                ("8/0-0:1.0.0.255:3".to_owned(), None),
                ("0-0:1.0.0.255:6".to_owned(), Some("100".to_owned())),
            ]
        );
        assert!(!Target::looks_like("2026-11-25T10:00:00+09:00"));
        assert!(!Target::looks_like("{\"Int8\": 0}"));
        assert!(Target::looks_like("70/0-0:96.3.10.255:1"));
    }

    #[test]
    fn sec02_connection_arguments_debug_hides_password_and_keys() {
        use clap::Parser as _;
        #[derive(Debug, clap::Parser)]
        struct Cli {
            #[command(flatten)]
            conn: ConnArgs,
        }
        let cli = Cli::try_parse_from([
            "x",
            "--host",
            "h",
            "--password",
            "hunter2",
            "--ek",
            "0F0E0D0C0B0A09080706050403020100",
            "--ak",
            "D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        for secret in ["hunter2", "0F0E0D0C", "D0D1D2D3"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert_eq!(
            cli.conn.password.as_ref().map(Secret::expose),
            Some("hunter2")
        );
    }
}
