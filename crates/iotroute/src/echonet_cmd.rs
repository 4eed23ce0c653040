//! `iotroute echonet`: the terminal-side ECHONET Lite controller as command-line tools,
//! for people and for scripts and tests.
//!
//! ```text
//! iotroute echonet discover [--bind ADDR] [--timeout SECS] [--json]
//! iotroute echonet get [--bind ADDR] [--timeout SECS] [--retries N] [--json] HOST EOJ EPC...
//! ```
//!
//! Both bind `ADDR:3610` (default `0.0.0.0`; give a loopback address such as `127.0.0.5`
//! to stay on `lo`, which also pins the multicast of `discover` to `lo`). HOST is an IP
//! address. EOJ is six hex digits (`028E01`, `0x028e01`); EPC two (`E0`, `0xe0`), 0x80 to
//! 0xFF. `--timeout` is seconds, fractions allowed: the discovery window for `discover`
//! (default 2), the wait per attempt for `get` (default 2), which makes `--retries`
//! more attempts (default 2) with the same frame and TID.
//!
//! # Exit status
//!
//! `discover`: 0 once the window has closed, whether or not a node answered; 1 on error.
//! `get`: 0 when every EPC asked was read; 2 when the device answered but did not serve
//! them all (an SNA, or a property left out); 1 on timeout or any other error.
//!
//! # JSON (`--json`): exactly one object on stdout, whatever the exit status
//!
//! `discover`:
//!
//! ```json
//! {"nodes": [{"address": "127.0.0.2", "instances": ["028E01"]}]}
//! ```
//!
//! nodes sorted by address; on error `{"nodes": [], "error": "cannot bind ..."}`.
//!
//! `get`:
//!
//! ```json
//! {
//!   "host": "127.0.0.2",
//!   "eoj": "028E01",
//!   "esv": "72",
//!   "properties": {
//!     "D4": {"edt": "03", "value": {"unit": "0.001 kWh"}},
//!     "E0": {"edt": "075BCD15", "value": {"cumulative_in": 123456789}, "kwh": "23456.789"},
//!     "F1": {"edt": "0102", "error": "EPC 0xF1 is not a property of class 0x028E"}
//!   },
//!   "failed": ["F0"]
//! }
//! ```
//!
//! - `eoj`: the object that answered (the one asked, unless its instance was 00).
//! - `esv`: the service of the answer in hex: `72` Get_Res, `52` Get_SNA.
//! - `properties`: every property the device returned with data, keyed by EPC; `edt` is
//!   its raw data in hex; `value` is the typed value (serde form of
//!   `echonet::objects::Value`), or `error` says why it does not decode.
//! - `kwh`: for 0xE0, 0xE2 and 0xE4 of a 0x028E object, the TRM-03 reading in kWh: the
//!   lower 8 digits of the counter in the unit of 0xD4, with the unit's decimals
//!   (123456789 counts of 0.001 kWh: `"23456.789"`). 0xD4 comes from the same answer
//!   or from one extra Get; without it there is no `kwh`.
//! - `failed`: EPCs asked and not served, in the order asked (`[]` when all were).
//! - On exit status 1: `{"host": ..., "eoj": ..., "error": "no answer ..."}`.

use std::io;
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use echonet::energy::{EnergyUnit, MeterReading};
use echonet::objects::{MeterProperty, Value};
use echonet::{ClassCode, Eoj, Esv, Property};
use nodes::controller::{Controller, ControllerConfig, DiscoveredNode, Event};
use serde_json::{json, Map};
use thiserror::Error;

use crate::controller_driver::{ControllerDriver, DriverError};
use crate::udp::Endpoint;

/// Exit status when the device answered but did not serve every property.
const EXIT_SNA: u8 = 2;

#[derive(Debug, clap::Subcommand)]
pub enum EchonetCommand {
    /// Find ECHONET Lite nodes: multicast a Get of the instance list (0xD6) to the node
    /// profile and list every node that answers within the window.
    Discover(DiscoverArgs),
    /// Read properties of one object (exit 0: all read, 2: SNA, 1: timeout or error).
    Get(GetArgs),
}

#[derive(Debug, clap::Args)]
pub struct DiscoverArgs {
    /// Address to bind, port 3610; a loopback address keeps the multicast on `lo`.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: IpAddr,
    /// How long to collect answers, in seconds.
    #[arg(long, default_value = "2", value_parser = parse_secs)]
    pub timeout: Duration,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct GetArgs {
    /// Address to bind, port 3610.
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: IpAddr,
    /// Seconds to wait for an answer, per attempt.
    #[arg(long, default_value = "2", value_parser = parse_secs)]
    pub timeout: Duration,
    /// Resends of the same frame (same TID) before giving up.
    #[arg(long, default_value_t = 2)]
    pub retries: u8,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// The node's IP address.
    pub host: IpAddr,
    /// The object: six hex digits, e.g. 028E01 or 0x0EF001.
    pub eoj: Eoj,
    /// Properties to read: two hex digits each, e.g. E0 or 0xe0.
    #[arg(required = true, value_parser = parse_epc)]
    pub epcs: Vec<u8>,
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

/// An EPC: two hex digits, optionally after `0x`, 0x80 to 0xFF (the range of the
/// specification).
fn parse_epc(s: &str) -> Result<u8, String> {
    let hex = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let epc = match hex.len() {
        1 | 2 if hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            u8::from_str_radix(hex, 16).map_err(|e| e.to_string())?
        }
        _ => return Err(format!("`{s}` is not an EPC (two hex digits such as E0)")),
    };
    if epc < 0x80 {
        return Err(format!(
            "EPC 0x{epc:02X} is below 0x80, outside the property range"
        ));
    }
    Ok(epc)
}

pub async fn run(cmd: EchonetCommand) -> ExitCode {
    match cmd {
        EchonetCommand::Discover(args) => discover(args).await,
        EchonetCommand::Get(args) => get(args).await,
    }
}

/// A failure of the command itself (exit status 1).
#[derive(Debug, Error)]
enum CmdError {
    #[error("cannot bind {addr}:3610: {source}")]
    Bind {
        addr: IpAddr,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Driver(#[from] DriverError),
    #[error("no answer from {host} after {attempts} attempt(s) of {timeout:?}")]
    Timeout {
        host: IpAddr,
        attempts: u32,
        timeout: Duration,
    },
    /// A final event that does not end a Get; reported rather than assumed away.
    #[error("unexpected controller event {0:?}")]
    Unexpected(Box<Event>),
}

/// Binds a controller to `addr:3610`.
fn bind(addr: IpAddr, config: ControllerConfig) -> Result<ControllerDriver, CmdError> {
    let endpoint =
        Endpoint::bind(addr, echonet::PORT).map_err(|source| CmdError::Bind { addr, source })?;
    tracing::debug!(local = %endpoint.local_addr(), "controller bound");
    Ok(ControllerDriver::new(Controller::new(config), endpoint))
}

/// A TID to start from that differs between runs, so that a late answer to an earlier
/// run cannot match this one (SEC-06).
fn first_tid() -> u16 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mixed = nanos ^ std::process::id().rotate_left(16);
    (mixed ^ (mixed >> 16)) as u16
}

async fn discover(args: DiscoverArgs) -> ExitCode {
    let config = ControllerConfig {
        discovery_window: args.timeout,
        first_tid: first_tid(),
        ..ControllerConfig::default()
    };
    let result = async {
        let mut driver = bind(args.bind, config)?;
        Ok::<_, CmdError>(driver.request(|c, now| c.discover(now)).await?)
    }
    .await;
    let mut nodes: Vec<DiscoveredNode> = match &result {
        Ok((events, _)) => events
            .iter()
            .filter_map(|e| match e {
                Event::Discovered { node, .. } => Some(node.clone()),
                _ => None,
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    nodes.sort_by_key(|n| n.addr);
    let listed: Vec<_> = nodes
        .iter()
        .map(|n| json!({"address": n.addr.to_string(), "instances": n.instances}))
        .collect();
    match result {
        Ok(_) => {
            if args.json {
                crate::stdout::outln!("{}", json!({ "nodes": listed }));
            } else if nodes.is_empty() {
                eprintln!("no node answered within {:?}", args.timeout);
            } else {
                for n in &nodes {
                    let list: Vec<String> = n.instances.iter().map(Eoj::to_string).collect();
                    let list = if list.is_empty() {
                        "(no instances)".to_string()
                    } else {
                        list.join(" ")
                    };
                    crate::stdout::outln!("{}  {list}", n.addr);
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            if args.json {
                crate::stdout::outln!("{}", json!({"nodes": listed, "error": e.to_string()}));
            }
            ExitCode::FAILURE
        }
    }
}

/// What the device said to a `get`.
struct Answer {
    seoj: Eoj,
    esv: Esv,
    props: Vec<Property>,
}

async fn get(args: GetArgs) -> ExitCode {
    let config = ControllerConfig {
        timeout: args.timeout,
        retries: args.retries,
        first_tid: first_tid(),
        ..ControllerConfig::default()
    };
    let attempts = u32::from(args.retries) + 1;
    let result = async {
        let mut driver = bind(args.bind, config)?;
        let answer = get_once(&mut driver, &args, args.eoj, &args.epcs, attempts).await?;
        let unit = match unit_in(&answer) {
            Some(unit) => Some(unit),
            None if wants_unit(&answer) => {
                extra_unit(&mut driver, &args, answer.seoj, attempts).await
            }
            None => None,
        };
        Ok::<_, CmdError>((answer, unit))
    }
    .await;
    let (answer, unit) = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            if args.json {
                let out = json!({
                    "host": args.host.to_string(),
                    "eoj": args.eoj.to_string(),
                    "error": e.to_string(),
                });
                crate::stdout::outln!("{out}");
            }
            return ExitCode::FAILURE;
        }
    };
    let failed = not_served(&args.epcs, &answer.props);
    if args.json {
        crate::stdout::outln!("{}", get_json(&args, &answer, unit, &failed));
    } else {
        print_human(&args, &answer, unit, &failed);
    }
    if failed.is_empty() && !answer.esv.is_sna() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_SNA)
    }
}

/// One Get, to its answer.
async fn get_once(
    driver: &mut ControllerDriver,
    args: &GetArgs,
    eoj: Eoj,
    epcs: &[u8],
    attempts: u32,
) -> Result<Answer, CmdError> {
    let (_, last) = driver
        .request(|c, now| c.get(now, args.host, eoj, epcs))
        .await?;
    match last {
        Event::Response {
            seoj, esv, props, ..
        }
        | Event::Sna {
            seoj, esv, props, ..
        } => Ok(Answer { seoj, esv, props }),
        Event::Timeout { .. } => Err(CmdError::Timeout {
            host: args.host,
            attempts,
            timeout: args.timeout,
        }),
        other => Err(CmdError::Unexpected(Box::new(other))),
    }
}

/// Whether the answer holds a cumulative energy counter of a 0x028E object (TRM-03) that
/// needs the unit 0xD4 to become kWh.
fn wants_unit(answer: &Answer) -> bool {
    answer.seoj.class_code() == ClassCode::DISTRIBUTED_GENERATION_METER
        && answer
            .props
            .iter()
            .any(|p| is_energy(p.epc) && !p.edt.is_empty())
}

fn is_energy(epc: u8) -> bool {
    matches!(epc, 0xE0 | 0xE2 | 0xE4)
}

/// The unit 0xD4 if the answer holds a valid one.
fn unit_in(answer: &Answer) -> Option<EnergyUnit> {
    if answer.seoj.class_code() != ClassCode::DISTRIBUTED_GENERATION_METER {
        return None;
    }
    let p = answer.props.iter().find(|p| p.epc == 0xD4)?;
    match MeterProperty::decode(0xD4, &p.edt) {
        Ok(MeterProperty::Unit(u)) => Some(u),
        _ => None,
    }
}

/// One extra Get of 0xD4 from the object that answered; a failure only costs the kWh
/// figures.
async fn extra_unit(
    driver: &mut ControllerDriver,
    args: &GetArgs,
    seoj: Eoj,
    attempts: u32,
) -> Option<EnergyUnit> {
    match get_once(driver, args, seoj, &[0xD4], attempts).await {
        Ok(answer) => {
            let unit = unit_in(&answer);
            if unit.is_none() {
                eprintln!("note: the unit (D4) was not served; kWh not shown");
            }
            unit
        }
        Err(e) => {
            eprintln!("note: cannot read the unit (D4): {e}; kWh not shown");
            None
        }
    }
}

/// EPCs asked and not served: absent from the answer or without data (in the order
/// asked, each once).
fn not_served(asked: &[u8], props: &[Property]) -> Vec<u8> {
    let mut failed = Vec::new();
    for &epc in asked {
        let served = props.iter().any(|p| p.epc == epc && !p.edt.is_empty());
        if !served && !failed.contains(&epc) {
            failed.push(epc);
        }
    }
    failed
}

/// The typed value, or why there is none.
fn decode(class: ClassCode, p: &Property) -> Result<Value, echonet::ValueError> {
    Value::decode(class, p.epc, &p.edt)
}

/// TRM-03: the 8-digit reading of a decoded counter, when the unit is known.
fn reading(value: &Value, unit: Option<EnergyUnit>) -> Option<MeterReading> {
    let Value::Meter(m) = value else {
        return None;
    };
    let counts = m.cumulative_counts()?;
    MeterReading::from_counter(counts, unit?).ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Properties with data, each once, in the order asked, then any the device added.
fn in_order<'a>(asked: &[u8], props: &'a [Property]) -> Vec<&'a Property> {
    let mut out: Vec<&Property> = Vec::new();
    let served = |p: &&Property| !p.edt.is_empty();
    for &epc in asked {
        if let Some(p) = props.iter().filter(served).find(|p| p.epc == epc) {
            if !out.iter().any(|q| q.epc == epc) {
                out.push(p);
            }
        }
    }
    for p in props.iter().filter(served) {
        if !out.iter().any(|q| q.epc == p.epc) {
            out.push(p);
        }
    }
    out
}

fn get_json(
    args: &GetArgs,
    answer: &Answer,
    unit: Option<EnergyUnit>,
    failed: &[u8],
) -> serde_json::Value {
    let class = answer.seoj.class_code();
    let mut properties = Map::new();
    for p in in_order(&args.epcs, &answer.props) {
        let mut entry = Map::new();
        entry.insert("edt".into(), hex(&p.edt).into());
        match decode(class, p) {
            Ok(value) => {
                if let Some(r) = reading(&value, unit) {
                    let kwh = r.energy().display(r.unit().decimals()).to_string();
                    entry.insert("kwh".into(), kwh.into());
                }
                let v = serde_json::to_value(&value)
                    .unwrap_or_else(|e| serde_json::Value::String(e.to_string()));
                entry.insert("value".into(), v);
            }
            Err(e) => {
                entry.insert("error".into(), e.to_string().into());
            }
        }
        properties.insert(format!("{:02X}", p.epc), entry.into());
    }
    let failed: Vec<String> = failed.iter().map(|e| format!("{e:02X}")).collect();
    json!({
        "host": args.host.to_string(),
        "eoj": answer.seoj.to_string(),
        "esv": format!("{:02X}", answer.esv.code()),
        "properties": properties,
        "failed": failed,
    })
}

fn print_human(args: &GetArgs, answer: &Answer, unit: Option<EnergyUnit>, failed: &[u8]) {
    let class = answer.seoj.class_code();
    for p in in_order(&args.epcs, &answer.props) {
        let name = epc_name(class, p.epc);
        match decode(class, p) {
            Ok(value) => match reading(&value, unit) {
                Some(r) => crate::stdout::outln!("{:02X}  {name}  {value} = {r}", p.epc),
                None => crate::stdout::outln!("{:02X}  {name}  {value}", p.epc),
            },
            Err(e) => crate::stdout::outln!("{:02X}  {name}  raw {} ({e})", p.epc, hex(&p.edt)),
        }
    }
    for &epc in failed {
        crate::stdout::outln!(
            "{epc:02X}  {}  not served ({} {:02X})",
            epc_name(class, epc),
            esv_name(answer.esv),
            answer.esv.code()
        );
    }
}

fn esv_name(esv: Esv) -> &'static str {
    match esv {
        Esv::GetRes => "Get_Res",
        Esv::GetSna => "Get_SNA",
        _ => "answer",
    }
}

/// What an EPC is, for people reading the output.
fn epc_name(class: ClassCode, epc: u8) -> &'static str {
    if class == ClassCode::NODE_PROFILE {
        let name = match epc {
            0x82 => "version information",
            0xD3 => "number of self-node instances",
            0xD4 => "number of self-node classes",
            0xD5 => "instance list notification",
            0xD6 => "self-node instance list S",
            0xD7 => "self-node class list S",
            _ => "",
        };
        if !name.is_empty() {
            return name;
        }
    }
    if class == ClassCode::DISTRIBUTED_GENERATION_METER {
        let name = match epc {
            0xD0 => "device type",
            0xD1 => "device ID",
            0xD2 => "tolerance class",
            0xD3 => "days of history held",
            0xD4 => "unit for cumulative energy",
            0xD5 => "day for history",
            0xD6 => "metered device ID",
            0xDA => "current time",
            0xDB => "time synchronisation",
            0xE0 => "cumulative energy AC input",
            0xE1 => "history of cumulative energy AC input",
            0xE2 => "cumulative energy AC output",
            0xE3 => "history of cumulative energy AC output",
            0xE4 => "cumulative energy output during outage",
            0xE5 => "history of cumulative energy output during outage",
            0xE6 => "fixed-time cumulative energy AC input",
            0xE7 => "fixed-time cumulative energy AC output",
            0xE8 => "fixed-time cumulative energy output during outage",
            0xE9 => "instantaneous power AC input/output",
            0xEA => "instantaneous power output during outage",
            _ => "",
        };
        if !name.is_empty() {
            return name;
        }
    }
    match epc {
        0x80 => "operation status",
        0x81 => "installation location",
        0x82 => "standard version",
        0x83 => "identification number",
        0x88 => "fault status",
        0x8A => "manufacturer code",
        0x97 => "current time (hh mm)",
        0x98 => "current date",
        0x9D => "status change announcement property map",
        0x9E => "Set property map",
        0x9F => "Get property map",
        _ => "(unknown property)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epcs_and_timeouts_parse_in_every_spelling() {
        for s in ["E0", "e0", "0xE0", "0Xe0"] {
            assert_eq!(parse_epc(s), Ok(0xE0), "{s}");
        }
        for s in ["", "0x", "E", "7F", "E00", "G0", "+E0"] {
            assert!(parse_epc(s).is_err(), "{s}");
        }
        assert_eq!(parse_secs("0.25"), Ok(Duration::from_millis(250)));
        for s in ["0", "-1", "nan", "inf", "3601", "x"] {
            assert!(parse_secs(s).is_err(), "{s}");
        }
    }

    #[test]
    fn trm03_kwh_uses_the_lower_eight_digits() {
        let value = Value::Meter(MeterProperty::CumulativeIn(123_456_789));
        let r = reading(&value, Some(EnergyUnit::Kwh0_001));
        assert_eq!(r.map(|r| r.to_string()), Some("23456.789 kWh".into()));
        assert_eq!(reading(&value, None), None);
    }

    #[test]
    fn not_served_lists_each_missing_epc_once_in_order() {
        let props = [Property::new(0xE0, [1]), Property::empty(0xF0)];
        assert_eq!(not_served(&[0xF1, 0xE0, 0xF0, 0xF1], &props), [0xF1, 0xF0]);
    }
}
