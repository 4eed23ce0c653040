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

use std::collections::HashMap;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};
use dlms::cipher::{Keys, SystemTitle};
use dlms::client::{
    ActionOutcome, AttributeRef, Authentication, Client, ClientError, ClientSettings, Entropy,
    Event, ItemResult, MethodRef, Security,
};
use dlms::{CosemDateTime, Data, Obis};
use serde_json::{json, Map, Value};
use thiserror::Error;
use tokio::net::UdpSocket;

use crate::secret_input::{self, parse_secret, Secret, SecretsFile, SecretsFileError};

/// Exit status when the server refused some attribute or method.
const EXIT_REFUSED: u8 = 2;

/// JST (UTC+9), the deviation −540 of the IoT route.
fn jst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("0"))
}

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
fn parse_secs(s: &str) -> Result<Duration, String> {
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
    #[error("cannot resolve {host}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: IpAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    #[error("no answer from {peer} after {attempts} attempt(s) of {timeout:?} (timeout)")]
    Timeout {
        peer: SocketAddr,
        attempts: u32,
        timeout: Duration,
    },
    #[error("DLMS client: {0}")]
    Client(#[from] ClientError),
    #[error("association refused: {0}")]
    Rejected(String),
    #[error("exception-response: {0}{hint}", hint = ic_hint(.0))]
    Exception(String),
    #[error("{0}")]
    Secrets(#[from] SecretsFileError),
    #[error("invocation counter file {path}: {reason}")]
    IcFile { path: String, reason: String },
    #[error("invocation counters reserved in --ic-file used up (mark {0})")]
    IcExhausted(u32),
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    #[error("{0} (answering a list request: --no-list sends one request per object)")]
    ListFailed(Box<CmdError>),
    #[error("invocation counter object {object}: {reason}")]
    IcObject { object: String, reason: String },
}

/// A failed list request: a server may announce lists (multiple references) and
/// mishandle them, so the message points at `--no-list`. Timeouts and local errors pass
/// unchanged.
fn list_failed(e: CmdError) -> CmdError {
    match e {
        CmdError::Exception(_) | CmdError::Client(_) | CmdError::Unexpected(_) => {
            CmdError::ListFailed(Box::new(e))
        }
        e => e,
    }
}

/// What to do about an invocation-counter-error exception.
fn ic_hint(exception: &str) -> &'static str {
    if exception.contains("InvocationCounter") {
        " (the server expects a higher invocation counter: pass --invocation-counter, or keep it with --ic-file)"
    } else {
        ""
    }
}

/// HLS challenges from the OS random source. Read from `/dev/urandom` with std, so no
/// crate is added for it; on a system without it the association fails (no weaker
/// fallback: a predictable challenge lets a recorded HLS reply authenticate).
#[derive(Debug, Clone, Copy)]
struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, out: &mut [u8]) -> bool {
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(out))
            .is_ok()
    }
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
                    println!("{}", human(r));
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
                println!("{}", Value::Object(o));
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
                println!("{}", Value::Object(o));
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
// Targets

/// An attribute or method: class id, logical name and index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Target {
    class: u16,
    obis: Obis,
    index: i8,
}

impl Target {
    fn label(&self) -> String {
        format!("{}/{}:{}", self.class, self.obis, self.index)
    }

    fn attribute<'a>(&self, access: Option<(u8, &'a Data)>) -> AttributeRef<'a> {
        AttributeRef {
            class_id: self.class,
            obis: self.obis,
            attribute: self.index,
            access,
        }
    }

    fn method(&self) -> MethodRef {
        MethodRef {
            class_id: self.class,
            obis: self.obis,
            method: self.index,
        }
    }
}

/// Whether a command-line word names an object (`[CLASS/]OBIS[:N]`) rather than being
/// a value: tells `action OBJECT:METHOD VALUE` from two methods.
fn looks_like_target(text: &str) -> bool {
    let rest = text.split_once('/').map_or(text, |(_, r)| r);
    let obis = rest
        .rsplit_once(':')
        .filter(|(l, r)| r.bytes().all(|b| b.is_ascii_digit()) && l.contains(':'))
        .map_or(rest, |(l, _)| l);
    Obis::parse(obis).is_ok()
}

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
            .next_if(|n| !n.contains('=') && !looks_like_target(n))
            .cloned();
        items.push((w.clone(), value));
    }
    items
}

/// The class id of an object of the IoT-route model, as its `object_list` lists it.
fn model_class(obis: Obis) -> Option<u16> {
    use dlms::cosem::{Association, IotRouteModel, ModelConfig};
    let model = IotRouteModel::new(&ModelConfig::default(), Utc::now()).ok()?;
    Association::ALL
        .iter()
        .flat_map(|a| model.visible_objects(*a))
        .find(|(_, _, ln)| *ln == obis)
        .map(|(class, _, _)| class)
}

/// `[CLASS/]OBIS[:N]`; `N` required when `default_index` is `None`.
fn parse_target(text: &str, default_index: Option<i8>) -> Result<Target, CmdError> {
    let bad = |why: String| CmdError::Usage(format!("`{text}`: {why}"));
    let (class, rest) = match text.split_once('/') {
        Some((c, r)) => (
            Some(
                c.parse::<u16>()
                    .map_err(|_| bad(format!("class id `{c}` is not a number")))?,
            ),
            r,
        ),
        None => (None, text),
    };
    let split = rest
        .rsplit_once(':')
        .filter(|(l, r)| !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()) && l.contains(':'));
    let (obis_text, index) = match split {
        Some((l, r)) => (
            l,
            Some(
                r.parse::<i8>()
                    .ok()
                    .filter(|i| *i > 0)
                    .ok_or_else(|| bad(format!("index `{r}` is not 1..127")))?,
            ),
        ),
        None => (rest, None),
    };
    let obis = Obis::parse(obis_text).map_err(|e| bad(e.to_string()))?;
    let index = index
        .or(default_index)
        .ok_or_else(|| bad("a method number is required (OBIS:METHOD)".into()))?;
    let class = match class.or_else(|| model_class(obis)) {
        Some(c) => c,
        None => {
            return Err(bad(format!(
                "{obis} is not in the IoT-route object model: give its class as CLASS/{obis}"
            )))
        }
    };
    Ok(Target { class, obis, index })
}

// ---------------------------------------------------------------------------------
// Link

/// The UDP side of one association.
struct Link {
    sock: UdpSocket,
    peer: SocketAddr,
    timeout: Duration,
    retries: u8,
}

impl Link {
    async fn open(conn: &ConnArgs) -> Result<Self, CmdError> {
        let peer = tokio::net::lookup_host((conn.host.as_str(), conn.port))
            .await
            .map_err(|e| CmdError::Resolve {
                host: conn.host.clone(),
                reason: e.to_string(),
            })?
            .next()
            .ok_or_else(|| CmdError::Resolve {
                host: conn.host.clone(),
                reason: "no address".into(),
            })?;
        let addr = conn.bind.unwrap_or(if peer.is_ipv4() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        });
        let sock = UdpSocket::bind((addr, 0))
            .await
            .map_err(|source| CmdError::Bind { addr, source })?;
        tracing::debug!(local = ?sock.local_addr().ok(), %peer, "DLMS client bound");
        Ok(Self {
            sock,
            peer,
            timeout: conn.timeout,
            retries: conn.retries,
        })
    }

    /// Send `datagram` and feed answers to `client` until an event other than `Send`
    /// (block transfer, HLS pass 3), resending on timeout as the policy says.
    async fn exchange(
        &self,
        client: &mut Client<OsEntropy>,
        mut datagram: Vec<u8>,
    ) -> Result<Event, CmdError> {
        let mut buf = vec![0u8; 65_536];
        'next: loop {
            let attempts = u32::from(self.retries) + 1;
            for _ in 0..attempts {
                self.sock.send_to(&datagram, self.peer).await?;
                let deadline = Instant::now() + self.timeout;
                // A datagram the session refuses may be a stale duplicate (an answer to
                // a request we re-sent, carrying an old invoke id or a replayed counter):
                // keep waiting for the real answer, and report the refusal only if none
                // comes before the deadline.
                let mut refused: Option<ClientError> = None;
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let Ok(r) = tokio::time::timeout(left, self.sock.recv_from(&mut buf)).await
                    else {
                        break;
                    };
                    let (n, from) = match r {
                        Ok(x) => x,
                        // ICMP errors surface on some systems; keep waiting for the answer.
                        Err(e) => {
                            tracing::debug!(error = %e, "receive error ignored");
                            continue;
                        }
                    };
                    if from != self.peer {
                        tracing::debug!(%from, "datagram from another address ignored");
                        continue;
                    }
                    let Some(frame) = buf.get(..n) else { continue };
                    match client.handle(frame) {
                        Ok(Event::Send(d)) => {
                            datagram = d;
                            continue 'next;
                        }
                        Ok(e) => return Ok(e),
                        Err(e @ (ClientError::Wrapper(_) | ClientError::WrongPorts { .. })) => {
                            tracing::warn!(error = %e, "datagram ignored");
                        }
                        // The server answered and nothing readable will follow: no
                        // point waiting out the deadline.
                        Err(e @ ClientError::ListAnswerUndecodable(_)) => return Err(e.into()),
                        Err(e) => {
                            tracing::warn!(error = %e, "answer refused, still waiting");
                            refused = Some(e);
                        }
                    }
                }
                if let Some(e) = refused {
                    return Err(e.into());
                }
                tracing::debug!(peer = %self.peer, "no answer, resending");
            }
            return Err(CmdError::Timeout {
                peer: self.peer,
                attempts,
                timeout: self.timeout,
            });
        }
    }
}

/// An open association.
struct Session {
    link: Link,
    client: Client<OsEntropy>,
    /// The reservation mark written to --ic-file: no counter at or above it is spent.
    mark: Option<u32>,
    /// Whether to send lists: the server agreed to multiple references and --no-list
    /// was not given.
    lists: bool,
    /// Whether a list was sent.
    sent_list: bool,
    /// Whether a list answer did not decode and its items were read one by one (lists
    /// are then off for the rest of the association).
    list_fallback: bool,
    /// Attributes read ahead (in lists) to describe results: scalers and units,
    /// capture objects.
    ahead: HashMap<Target, Event>,
}

impl Session {
    async fn open(conn: &ConnArgs) -> Result<Self, CmdError> {
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
        let mark = match &conn.ic_file {
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
        let mut client = Client::new(settings, OsEntropy)?;
        let link = Link::open(conn).await?;
        let aarq = client.associate()?;
        match link.exchange(&mut client, aarq).await? {
            Event::Established => Ok(Self {
                lists: !conn.no_list && client.multiple_references(),
                link,
                client,
                mark,
                sent_list: false,
                list_fallback: false,
                ahead: HashMap::new(),
            }),
            Event::Rejected { reason } => Err(CmdError::Rejected(reason)),
            Event::Exception(e) => Err(CmdError::Exception(e)),
            other => Err(CmdError::Unexpected(format!("{other:?}"))),
        }
    }

    async fn request(&mut self, datagram: Vec<u8>) -> Result<Event, CmdError> {
        if let Some(mark) = self.mark {
            // Checked before each request; a request's block follow-ups stay far below
            // the 65,536 reserved (values are bounded at 1 MiB).
            if self.client.invocation_counter() >= mark - RESERVE / 2 {
                return Err(CmdError::IcExhausted(mark));
            }
        }
        match self.link.exchange(&mut self.client, datagram).await? {
            Event::Exception(e) => Err(CmdError::Exception(e)),
            e => Ok(e),
        }
    }

    /// One SET, in blocks when the value does not fit the server's PDU.
    async fn set_one(&mut self, t: Target, v: &Data) -> Result<Event, CmdError> {
        let encoded = v
            .encode()
            .map_err(|e| CmdError::Usage(format!("value: {e}")))?;
        if self.client.set_fits(encoded.len()) {
            let d = self.client.set(t.class, t.obis, t.index, v)?;
            return self.request(d).await;
        }
        let (mut transfer, first) = self
            .client
            .set_in_blocks(t.class, t.obis, t.index, &encoded)?;
        let mut event = self.request(first).await?;
        while let Event::BlockAccepted { .. } = event {
            let next = self.client.next_block(&mut transfer)?;
            event = self.request(next).await?;
        }
        Ok(event)
    }

    /// One ACTION, its parameters in blocks when they do not fit the server's PDU.
    async fn action_one(&mut self, t: Target, p: Option<&Data>) -> Result<Event, CmdError> {
        let encoded = p
            .map(Data::encode)
            .transpose()
            .map_err(|e| CmdError::Usage(format!("parameters: {e}")))?;
        match encoded {
            Some(bytes) if !self.client.action_fits(bytes.len()) => {
                let (mut transfer, first) = self
                    .client
                    .action_in_blocks(t.class, t.obis, t.index, &bytes)?;
                let mut event = self.request(first).await?;
                while let Event::BlockAccepted { .. } = event {
                    let next = self.client.next_block(&mut transfer)?;
                    event = self.request(next).await?;
                }
                Ok(event)
            }
            _ => {
                let d = self.client.action(t.class, t.obis, t.index, p)?;
                self.request(d).await
            }
        }
    }

    async fn get(&mut self, t: Target, access: Option<(u8, &Data)>) -> Result<Event, CmdError> {
        let d = self.client.get(t.class, t.obis, t.index, access)?;
        self.request(d).await
    }

    /// An attribute read ahead, or read now.
    async fn read(&mut self, t: Target) -> Result<Event, CmdError> {
        match self.ahead.get(&t) {
            Some(e) => Ok(e.clone()),
            None => self.get(t, None).await,
        }
    }

    /// How many of `items` from the front go in the next request: the longest prefix
    /// that `fits` one list when lists are on, else one.
    fn next_batch<T>(&self, items: &[T], fits: impl Fn(&Client<OsEntropy>, &[T]) -> bool) -> usize {
        let mut n = 1;
        if self.lists {
            while n < items.len() && items.get(..=n).is_some_and(|b| fits(&self.client, b)) {
                n += 1;
            }
        }
        n
    }

    /// Read `reads` (each with optional selective access): in lists when on, else
    /// one GET each. One event (a value or a refusal) per read, in order.
    async fn get_many(
        &mut self,
        reads: &[(Target, Option<(u8, &Data)>)],
    ) -> Result<Vec<Event>, CmdError> {
        let mut events = Vec::with_capacity(reads.len());
        let mut rest = reads;
        while let Some(&(t, access)) = rest.first() {
            let n = self.next_batch(rest, |c, b| {
                let items: Vec<_> = b.iter().map(|(t, a)| t.attribute(*a)).collect();
                c.get_list_fits(&items)
            });
            let (batch, tail) = rest.split_at(n);
            rest = tail;
            if n == 1 {
                events.push(self.get(t, access).await?);
                continue;
            }
            let items: Vec<_> = batch.iter().map(|(t, a)| t.attribute(*a)).collect();
            let d = self.client.get_with_list(&items)?;
            self.sent_list = true;
            let answer = match self.request(d).await {
                Err(CmdError::Client(ClientError::ListAnswerUndecodable(e))) => {
                    // Real meters announce multiple references and answer lists in
                    // forms nobody can read (Gurux-Python's server blocks a with-list
                    // answer without the datablock's choice): the items are still
                    // readable one by one, on the same association.
                    tracing::warn!(
                        error = %e,
                        items = n,
                        "the server's answer to a GET-Request-With-List does not decode: \
                         reading each object with its own request from now on"
                    );
                    self.lists = false;
                    self.list_fallback = true;
                    for &(t, access) in batch {
                        events.push(self.get(t, access).await?);
                    }
                    continue;
                }
                r => r.map_err(list_failed)?,
            };
            match answer {
                Event::Values(v) if v.len() == n => {
                    events.extend(v.into_iter().map(|r| match r {
                        ItemResult::Value(d) => Event::Value(d),
                        ItemResult::AccessError { code, name } => Event::AccessError { code, name },
                    }));
                }
                other => return Err(list_failed(CmdError::Unexpected(format!("{other:?}")))),
            }
        }
        Ok(events)
    }

    /// Read `targets` ahead (only when lists are on: otherwise they are read when
    /// needed, as before), skipping those already read.
    async fn read_ahead(&mut self, targets: Vec<Target>) -> Result<(), CmdError> {
        let mut wanted: Vec<Target> = Vec::new();
        for t in targets {
            if !self.ahead.contains_key(&t) && !wanted.contains(&t) {
                wanted.push(t);
            }
        }
        if !self.lists || wanted.len() < 2 {
            return Ok(());
        }
        let reads: Vec<_> = wanted.iter().map(|t| (*t, None)).collect();
        let events = self.get_many(&reads).await?;
        self.ahead.extend(wanted.into_iter().zip(events));
        Ok(())
    }

    /// Release the association; an unanswered RLRQ is only logged (the values are read).
    async fn close(mut self) -> u32 {
        let ic = self.client.invocation_counter();
        match self.client.release() {
            Ok(d) => match self.link.exchange(&mut self.client, d).await {
                Ok(Event::Released) => {}
                Ok(e) => tracing::warn!(event = ?e, "release not confirmed"),
                Err(e) => tracing::warn!(error = %e, "release not confirmed"),
            },
            Err(e) => tracing::warn!(error = %e, "cannot build RLRQ"),
        }
        self.client.invocation_counter().max(ic)
    }
}

/// The value of Data `object` attribute 2 read over the public association (client wPort
/// 16, no authentication, no security) of the server `conn` names, released after: the
/// server's record of the management client's invocation counter (`--ic-object`).
async fn server_counter(conn: &ConnArgs, object: &str) -> Result<u32, CmdError> {
    let bad = |reason: String| CmdError::IcObject {
        object: object.to_owned(),
        reason,
    };
    let obis = Obis::parse(object).map_err(|e| bad(e.to_string()))?;
    let mut client = Client::new(
        ClientSettings {
            client_wport: PUBLIC_WPORT,
            server_wport: conn.server,
            max_pdu: conn.max_pdu,
            ..ClientSettings::default()
        },
        OsEntropy,
    )?;
    let link = Link::open(conn).await?;
    let aarq = client.associate()?;
    match link.exchange(&mut client, aarq).await? {
        Event::Established => {}
        Event::Rejected { reason } => return Err(CmdError::Rejected(reason)),
        other => return Err(bad(format!("public association: {other:?}"))),
    }
    let get = client.get(1, obis, 2, None)?;
    let value = match link.exchange(&mut client, get).await? {
        Event::Value(v) => v,
        Event::AccessError { code, .. } => {
            return Err(bad(format!("refused: {}", result_name(code))))
        }
        other => return Err(bad(format!("unexpected answer: {other:?}"))),
    };
    match client.release() {
        Ok(d) => {
            if let Err(e) = link.exchange(&mut client, d).await {
                tracing::debug!(error = %e, "public release not confirmed");
            }
        }
        Err(e) => tracing::debug!(error = %e, "cannot build RLRQ"),
    }
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

/// Counters reserved in --ic-file per run.
const RESERVE: u32 = 65_536;

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
        .checked_add(RESERVE)
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

/// ISO 8601 with offset, or without (JST); a date alone is its midnight.
fn parse_time(what: &str, s: &str) -> Result<DateTime<FixedOffset>, CmdError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t);
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f%:z", "%Y-%m-%dT%H:%M%:z"] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Ok(t);
        }
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    });
    naive
        .and_then(|n| jst().from_local_datetime(&n).single())
        .ok_or_else(|| CmdError::Usage(format!("{what}: `{s}` is not an ISO 8601 date-time")))
}

async fn get_inner(args: &GetArgs) -> Result<Outcome, CmdError> {
    let targets = args
        .objects
        .iter()
        .map(|o| parse_target(o, Some(2)))
        .collect::<Result<Vec<_>, _>>()?;
    let range = match (&args.from, &args.to) {
        (Some(f), Some(t)) => {
            let (f, t) = (parse_time("--from", f)?, parse_time("--to", t)?);
            if !targets.iter().any(|t| t.class == 7 && t.index == 2) {
                return Err(CmdError::Usage(
                    "--from/--to select rows of a profile buffer (class 7 attribute 2)".into(),
                ));
            }
            Some(dlms::cosem::range_selector(&f, &t))
        }
        _ => None,
    };
    let mut s = Session::open(&args.conn).await?;
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
    if s.lists {
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
    s.ahead.extend(
        all.iter()
            .zip(&events)
            .filter(|((t, a), _)| t.index == 3 && a.is_none())
            .map(|((t, _), e)| (*t, e.clone())),
    );
    let events = events.get(..reads.len()).unwrap_or(&[]);
    // Then the units of the profiles' register columns, in one more list.
    let columns = targets
        .iter()
        .filter(|t| t.class == 7 && t.index == 2)
        .filter_map(|t| s.ahead.get(&Target { index: 3, ..*t }))
        .flat_map(capture_objects)
        .filter_map(|c| unit_target(&c))
        .collect();
    s.read_ahead(columns).await?;
    for (t, event) in targets.iter().zip(events) {
        let mut r = entry(t, "attribute");
        match event {
            Event::Value(v) => describe(&mut s, t, v, &mut r).await?,
            Event::AccessError { code, .. } => refused(&mut r, &mut out.failed, t, *code),
            other => return Err(CmdError::Unexpected(format!("{other:?}"))),
        }
        out.results.push(Value::Object(r));
    }
    out.with_list = s.sent_list;
    out.list_fallback = s.list_fallback;
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

/// `{"scaler", "unit", "unit_name"}` from a register's attribute 3; null when malformed.
fn scaler_unit(su: &Data) -> Value {
    let e = su.elements().unwrap_or(&[]);
    match (
        e.first().and_then(Data::as_i128),
        e.get(1).and_then(Data::as_i128),
    ) {
        (Some(scaler), Some(unit)) => {
            json!({"scaler": scaler, "unit": unit, "unit_name": unit_name(unit)})
        }
        _ => Value::Null,
    }
}

/// `raw × 10^scaler` written exactly as a decimal.
fn decimal(raw: i128, scaler: i128) -> String {
    if scaler >= 0 {
        let zeros = usize::try_from(scaler.min(40)).unwrap_or(0);
        return format!("{raw}{}", "0".repeat(zeros));
    }
    let places = usize::try_from((-scaler).min(40)).unwrap_or(0);
    let digits = format!("{:0>width$}", raw.unsigned_abs(), width = places + 1);
    let (int, frac) = digits.split_at(digits.len() - places);
    let sign = if raw < 0 { "-" } else { "" };
    format!("{sign}{int}.{frac}")
}

/// Blue Book unit names for the units a meter commonly uses.
fn unit_name(code: i128) -> Option<&'static str> {
    Some(match code {
        1 => "a",
        2 => "mo",
        3 => "wk",
        4 => "d",
        5 => "h",
        6 => "min",
        7 => "s",
        9 => "°C",
        27 => "W",
        28 => "VA",
        29 => "var",
        30 => "Wh",
        31 => "VAh",
        32 => "varh",
        33 => "A",
        35 => "V",
        44 => "Hz",
        56 => "%",
        255 => "count",
        _ => return None,
    })
}

/// Data-Access-Result / Action-Result names (Green Book).
fn result_name(code: u8) -> String {
    match code {
        0 => "success",
        1 => "hardware-fault",
        2 => "temporary-failure",
        3 => "read-write-denied",
        4 => "object-undefined",
        9 => "object-class-inconsistent",
        11 => "object-unavailable",
        12 => "type-unmatched",
        13 => "scope-of-access-violated",
        14 => "data-block-unavailable",
        15 => "long-get-aborted",
        16 => "no-long-get-in-progress",
        17 => "long-set-aborted",
        18 => "no-long-set-in-progress",
        19 => "data-block-number-invalid",
        250 => "other-reason",
        c => return format!("result-{c}"),
    }
    .to_owned()
}

// ---------------------------------------------------------------------------------
// Value syntax

/// The typed form: one key, the type's Green Book / Gurux name.
pub(crate) fn typed(v: &Data) -> Value {
    let inner = match v {
        Data::Null | Data::DontCare => Value::Null,
        Data::Array(a) | Data::Structure(a) => Value::Array(a.iter().map(typed).collect()),
        Data::Boolean(b) => json!(b),
        Data::BitString { bits, bytes } => json!((0..*bits)
            .map(|i| {
                let byte = bytes.get(i / 8).copied().unwrap_or(0);
                if byte & (0x80 >> (i % 8)) != 0 {
                    '1'
                } else {
                    '0'
                }
            })
            .collect::<String>()),
        Data::OctetString(b) => json!(dlms::hex::encode(b)),
        Data::VisibleString(b) | Data::Utf8String(b) => json!(String::from_utf8_lossy(b)),
        Data::Float32(f) => json!(f),
        Data::Float64(f) => json!(f),
        Data::DateTime(d) => json!(dlms::hex::encode(&d.to_bytes())),
        Data::Date(d) => json!(dlms::hex::encode(&d.to_bytes())),
        Data::Time(d) => json!(dlms::hex::encode(&d.to_bytes())),
        Data::Bcd(n) => json!(n),
        other => json!(other
            .as_i128()
            .map(|n| n.to_string())
            .and_then(|s| s.parse::<serde_json::Number>().ok())),
    };
    let mut o = Map::new();
    o.insert(v.type_name().into(), inner);
    Value::Object(o)
}

/// The plain form: numbers, strings, `@HEX`, ISO timestamps (for clock values).
pub(crate) fn plain(v: &Data, clock: bool) -> Value {
    match v {
        Data::Null | Data::DontCare => Value::Null,
        Data::Array(a) | Data::Structure(a) => {
            Value::Array(a.iter().map(|x| plain(x, false)).collect())
        }
        Data::OctetString(b) if clock => match v.as_date_time().and_then(|d| iso(&d)) {
            Some(s) => json!(s),
            None => json!(format!("@{}", dlms::hex::encode(b))),
        },
        Data::DateTime(d) => match iso(d) {
            Some(s) => json!(s),
            None => json!(format!("@{}", dlms::hex::encode(&d.to_bytes()))),
        },
        Data::OctetString(b) => json!(format!("@{}", dlms::hex::encode(b))),
        Data::Date(d) => json!(format!("@{}", dlms::hex::encode(&d.to_bytes()))),
        Data::Time(d) => json!(format!("@{}", dlms::hex::encode(&d.to_bytes()))),
        other => match typed(other) {
            Value::Object(mut o) => o.remove(other.type_name()).unwrap_or(Value::Null),
            x => x,
        },
    }
}

/// ISO 8601 with offset; a date-time without deviation is taken as JST.
fn iso(d: &CosemDateTime) -> Option<String> {
    d.to_chrono_or(dlms::datetime::JST_DEVIATION)
        .map(|t| t.to_rfc3339())
}

fn value_error(text: &str, why: &str) -> CmdError {
    CmdError::Usage(format!("value `{text}`: {why}"))
}

/// Parse the typed JSON form.
fn from_typed(v: &Value) -> Result<Data, String> {
    let Value::Object(o) = v else {
        return Err(format!(
            "{v} is not a typed value such as {{\"UInt32\": 1}}"
        ));
    };
    let (Some((tag, inner)), 1) = (o.iter().next(), o.len()) else {
        return Err("a typed value has exactly one key, its type".into());
    };
    let int = || -> Result<i128, String> {
        inner
            .as_i64()
            .map(i128::from)
            .or_else(|| inner.as_u64().map(i128::from))
            .or_else(|| inner.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| format!("{tag}: {inner} is not an integer"))
    };
    let fit = |n: i128| format!("{tag}: {n} out of range");
    let bytes = || -> Result<Vec<u8>, String> {
        let s = inner
            .as_str()
            .ok_or_else(|| format!("{tag}: hex string expected"))?;
        dlms::hex::decode(s.strip_prefix('@').unwrap_or(s)).map_err(|e| format!("{tag}: {e}"))
    };
    let list = || -> Result<Vec<Data>, String> {
        inner
            .as_array()
            .ok_or_else(|| format!("{tag}: a list expected"))?
            .iter()
            .map(from_typed)
            .collect()
    };
    let text = || -> Result<Vec<u8>, String> {
        Ok(inner
            .as_str()
            .ok_or_else(|| format!("{tag}: a string expected"))?
            .as_bytes()
            .to_vec())
    };
    macro_rules! n {
        ($variant:ident, $t:ty) => {{
            let n = int()?;
            Data::$variant(<$t>::try_from(n).map_err(|_| fit(n))?)
        }};
    }
    Ok(match tag.as_str() {
        "NullData" => Data::Null,
        "DontCare" => Data::DontCare,
        "Array" => Data::Array(list()?),
        "Structure" => Data::Structure(list()?),
        "Boolean" => Data::Boolean(
            inner
                .as_bool()
                .ok_or_else(|| format!("{tag}: true or false expected"))?,
        ),
        "BitString" => {
            let s = inner
                .as_str()
                .ok_or_else(|| format!("{tag}: a string of 0 and 1 expected"))?;
            let mut bytes = vec![0u8; s.len().div_ceil(8)];
            for (i, c) in s.chars().enumerate() {
                match c {
                    '1' => {
                        if let Some(b) = bytes.get_mut(i / 8) {
                            *b |= 0x80 >> (i % 8);
                        }
                    }
                    '0' => {}
                    _ => return Err(format!("{tag}: only 0 and 1")),
                }
            }
            Data::BitString {
                bits: s.len(),
                bytes,
            }
        }
        "Int8" => n!(Integer, i8),
        "Int16" => n!(Long, i16),
        "Int32" => n!(DoubleLong, i32),
        "Int64" => n!(Long64, i64),
        "UInt8" => n!(Unsigned, u8),
        "UInt16" => n!(LongUnsigned, u16),
        "UInt32" => n!(DoubleLongUnsigned, u32),
        "UInt64" => n!(Long64Unsigned, u64),
        "Enum" => n!(Enum, u8),
        "Bcd" => n!(Bcd, i8),
        "DeltaInt8" => n!(DeltaInteger, i8),
        "DeltaInt16" => n!(DeltaLong, i16),
        "DeltaInt32" => n!(DeltaDoubleLong, i32),
        "DeltaUInt8" => n!(DeltaUnsigned, u8),
        "DeltaUInt16" => n!(DeltaLongUnsigned, u16),
        "DeltaUInt32" => n!(DeltaDoubleLongUnsigned, u32),
        "Float32" => Data::Float32(
            inner
                .as_f64()
                .ok_or_else(|| format!("{tag}: a number expected"))? as f32,
        ),
        "Float64" => Data::Float64(
            inner
                .as_f64()
                .ok_or_else(|| format!("{tag}: a number expected"))?,
        ),
        "OctetString" => Data::OctetString(bytes()?),
        "String" => Data::VisibleString(text()?),
        "StringUTF8" => Data::Utf8String(text()?),
        "DateTime" => {
            let b = bytes()?;
            Data::DateTime(
                CosemDateTime::from_slice(&b).ok_or_else(|| format!("{tag}: 12 bytes expected"))?,
            )
        }
        "Date" => {
            let b: [u8; 5] = bytes()?
                .try_into()
                .map_err(|_| format!("{tag}: 5 bytes expected"))?;
            Data::Date(dlms::CosemDate::from_bytes(b))
        }
        "Time" => {
            let b: [u8; 4] = bytes()?
                .try_into()
                .map_err(|_| format!("{tag}: 4 bytes expected"))?;
            Data::Time(dlms::CosemTime::from_bytes(b))
        }
        other => return Err(format!("unknown type `{other}`")),
    })
}

/// The smallest signed integer type holding `n`.
fn smallest_signed(n: i128) -> Option<Data> {
    if let Ok(v) = i8::try_from(n) {
        Some(Data::Integer(v))
    } else if let Ok(v) = i16::try_from(n) {
        Some(Data::Long(v))
    } else if let Ok(v) = i32::try_from(n) {
        Some(Data::DoubleLong(v))
    } else if let Ok(v) = i64::try_from(n) {
        Some(Data::Long64(v))
    } else {
        u64::try_from(n).ok().map(Data::Long64Unsigned)
    }
}

/// An integer in the type of `like`.
fn integer_like(n: i128, like: &Data) -> Option<Data> {
    Some(match like {
        Data::Integer(_) => Data::Integer(i8::try_from(n).ok()?),
        Data::Long(_) => Data::Long(i16::try_from(n).ok()?),
        Data::DoubleLong(_) => Data::DoubleLong(i32::try_from(n).ok()?),
        Data::Long64(_) => Data::Long64(i64::try_from(n).ok()?),
        Data::Unsigned(_) => Data::Unsigned(u8::try_from(n).ok()?),
        Data::LongUnsigned(_) => Data::LongUnsigned(u16::try_from(n).ok()?),
        Data::DoubleLongUnsigned(_) => Data::DoubleLongUnsigned(u32::try_from(n).ok()?),
        Data::Long64Unsigned(_) => Data::Long64Unsigned(u64::try_from(n).ok()?),
        Data::Enum(_) => Data::Enum(u8::try_from(n).ok()?),
        Data::Float32(_) => Data::Float32(n as f32),
        Data::Float64(_) => Data::Float64(n as f64),
        _ => return None,
    })
}

/// Parse a command-line value; `like` is the attribute's current value when known.
fn parse_value(text: &str, like: Option<&Data>) -> Result<Data, CmdError> {
    let t = text.trim();
    if t.starts_with('{') {
        let v: Value = serde_json::from_str(t).map_err(|e| value_error(text, &e.to_string()))?;
        return from_typed(&v).map_err(|e| value_error(text, &e));
    }
    if let Some(h) = t.strip_prefix('@') {
        return dlms::hex::decode(h)
            .map(Data::OctetString)
            .map_err(|e| value_error(text, &e.to_string()));
    }
    match t {
        "true" => return Ok(Data::Boolean(true)),
        "false" => return Ok(Data::Boolean(false)),
        "null" => return Ok(Data::Null),
        _ => {}
    }
    if let Ok(n) = t.parse::<i128>() {
        return match like.and_then(|l| integer_like(n, l)) {
            Some(d) => Ok(d),
            None if like.is_some_and(|l| l.as_i128().is_some()) => Err(value_error(
                text,
                &format!("out of range for {}", like.map_or("", Data::type_name)),
            )),
            None => smallest_signed(n).ok_or_else(|| value_error(text, "out of range")),
        };
    }
    if let Ok(f) = t.parse::<f64>() {
        return Ok(match like {
            Some(Data::Float32(_)) => Data::Float32(f as f32),
            _ => Data::Float64(f),
        });
    }
    if t.len() >= 10 && t.as_bytes().get(4) == Some(&b'-') {
        if let Ok(time) = parse_time("value", t) {
            let d = CosemDateTime::from_chrono(&time);
            return Ok(match like {
                Some(Data::DateTime(_)) => Data::DateTime(d),
                _ => Data::clock_octet_string(&d),
            });
        }
    }
    Ok(match like {
        Some(Data::OctetString(_)) => Data::OctetString(t.as_bytes().to_vec()),
        Some(Data::Utf8String(_)) => Data::Utf8String(t.as_bytes().to_vec()),
        _ => Data::VisibleString(t.as_bytes().to_vec()),
    })
}

/// Whether the value's type is fixed by its own syntax (no need to read the attribute).
fn self_typed(text: &str) -> bool {
    let t = text.trim();
    t.starts_with('{') || t.starts_with('@') || matches!(t, "true" | "false" | "null")
}

// ---------------------------------------------------------------------------------
// set and action

async fn set_inner(args: &SetArgs) -> Result<Outcome, CmdError> {
    let items = set_items(&args.items)?
        .into_iter()
        .map(|(o, v)| {
            let t = parse_target(&o, Some(2))?;
            if self_typed(&v) {
                parse_value(&v, None)?;
            }
            Ok((t, v))
        })
        .collect::<Result<Vec<_>, CmdError>>()?;
    let mut s = Session::open(&args.conn).await?;
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
    let mut out = Outcome::default();
    let mut rest: Vec<(Target, Data)> = items.iter().map(|(t, _)| *t).zip(values).collect();
    while !rest.is_empty() {
        let n = s.next_batch(&rest, |c, b| {
            let (items, values): (Vec<_>, Vec<_>) = b
                .iter()
                .map(|(t, v)| (t.attribute(None), v.clone()))
                .unzip();
            c.set_list_fits(&items, &values)
        });
        let batch: Vec<_> = rest.drain(..n).collect();
        let answer = if n == 1 {
            let (t, v) = batch
                .first()
                .ok_or_else(|| CmdError::Unexpected("empty".into()))?;
            s.set_one(*t, v).await
        } else {
            let (items, values): (Vec<_>, Vec<_>) = batch
                .iter()
                .map(|(t, v)| (t.attribute(None), v.clone()))
                .unzip();
            s.sent_list = true;
            let d = s.client.set_with_list(&items, &values)?;
            s.request(d).await
        };
        let codes = answer.and_then(|e| match e {
            Event::Done if n == 1 => Ok(vec![0]),
            Event::AccessError { code, .. } if n == 1 => Ok(vec![code]),
            Event::SetResults(codes) if codes.len() == n => Ok(codes),
            other => Err(CmdError::Unexpected(format!("{other:?}"))),
        });
        let codes = if n > 1 {
            codes.map_err(list_failed)?
        } else {
            codes?
        };
        for ((t, v), code) in batch.iter().zip(codes) {
            let mut r = entry(t, "attribute");
            r.insert("data".into(), typed(v));
            if code == 0 {
                r.insert("result".into(), json!("success"));
            } else {
                refused(&mut r, &mut out.failed, t, code);
            }
            out.results.push(Value::Object(r));
        }
    }
    out.with_list = s.sent_list;
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
    let mut rest = action_items(&args.items)
        .into_iter()
        .map(|(o, v)| {
            let t = parse_target(&o, None)?;
            let like = method_parameter_type(t.class, t.index);
            let params = v
                .as_deref()
                .map(|v| parse_value(v, like.as_ref()))
                .transpose()?;
            Ok((t, params))
        })
        .collect::<Result<Vec<_>, CmdError>>()?;
    let mut s = Session::open(&args.conn).await?;
    let mut out = Outcome::default();
    while !rest.is_empty() {
        let n = s.next_batch(&rest, |c, b| {
            let (methods, params): (Vec<_>, Vec<_>) =
                b.iter().map(|(t, p)| (t.method(), p.clone())).unzip();
            c.action_list_fits(&methods, &params)
        });
        let batch: Vec<_> = rest.drain(..n).collect();
        let answer = if n == 1 {
            let (t, p) = batch
                .first()
                .ok_or_else(|| CmdError::Unexpected("empty".into()))?;
            s.action_one(*t, p.as_ref()).await
        } else {
            let (methods, params): (Vec<_>, Vec<_>) =
                batch.iter().map(|(t, p)| (t.method(), p.clone())).unzip();
            s.sent_list = true;
            let d = s.client.action_with_list(&methods, &params)?;
            s.request(d).await
        };
        let outcomes = answer.and_then(|e| match e {
            Event::ActionResult { code, value } if n == 1 => Ok(vec![ActionOutcome {
                code,
                value: value.map(ItemResult::Value),
            }]),
            Event::AccessError { code, .. } if n == 1 => {
                Ok(vec![ActionOutcome { code, value: None }])
            }
            Event::ActionResults(o) if o.len() == n => Ok(o),
            other => Err(CmdError::Unexpected(format!("{other:?}"))),
        });
        let outcomes = if n > 1 {
            outcomes.map_err(list_failed)?
        } else {
            outcomes?
        };
        for ((t, p), o) in batch.iter().zip(outcomes) {
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
    }
    out.with_list = s.sent_list;
    out.invocation_counter = s.close().await;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rad01_targets_parse_with_default_attribute_class_prefix_and_method() {
        let t = parse_target("0-0:1.0.0.255", Some(2)).unwrap();
        assert_eq!((t.class, t.index), (8, 2));
        let t = parse_target("1-0:99.1.0.255:3", Some(2)).unwrap();
        assert_eq!((t.class, t.index), (7, 3));
        let t = parse_target("70/0-0:96.3.10.255:2", Some(2)).unwrap();
        assert_eq!((t.class, t.index), (70, 2));
        assert!(parse_target("0-0:1.0.0.255", None).is_err());
        assert!(parse_target("0-0:96.3.10.255", Some(2)).is_err());
    }

    #[test]
    fn rad01_typed_values_round_trip() {
        let v = Data::Structure(vec![
            Data::DoubleLongUnsigned(1800),
            Data::OctetString(vec![1, 2]),
            Data::VisibleString(b"IOT00901".to_vec()),
            Data::BitString {
                bits: 10,
                bytes: vec![0xA5, 0x80],
            },
            Data::Long64(-5),
            Data::Null,
            Data::Enum(30),
        ]);
        assert_eq!(from_typed(&typed(&v)).unwrap(), v);
    }

    #[test]
    fn rad01_plain_values_take_the_attribute_type() {
        assert_eq!(
            parse_value("-540", Some(&Data::Long(0))).unwrap(),
            Data::Long(-540)
        );
        assert_eq!(parse_value("0", None).unwrap(), Data::Integer(0));
        assert_eq!(
            parse_value("@0102", None).unwrap(),
            Data::OctetString(vec![1, 2])
        );
        let d = parse_value("2026-11-25T09:30:00", None).unwrap();
        let dt = d.as_date_time().unwrap();
        assert_eq!(
            iso(&dt).unwrap(),
            "2026-11-25T09:30:00+09:00",
            "without offset: JST"
        );
        assert!(parse_value("70000", Some(&Data::LongUnsigned(0))).is_err());
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
        assert!(!looks_like_target("2026-11-25T10:00:00+09:00"));
        assert!(!looks_like_target("{\"Int8\": 0}"));
        assert!(looks_like_target("70/0-0:96.3.10.255:1"));
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

    #[test]
    fn trm05_register_scaling_is_exact() {
        assert_eq!(decimal(12_345_678, -3), "12345.678");
        assert_eq!(decimal(5, -3), "0.005");
        assert_eq!(decimal(-5, -1), "-0.5");
        assert_eq!(decimal(12, 2), "1200");
    }
}
