//! `iotroute handy`: the handy terminal (ハンディターミナル) of the user business
//! (利用事業者) on the terminal's maintenance interface (`iotroute terminal
//! --maintenance`): the DLMS/COSEM wrapper over UDP, the maintenance association (client
//! wPort 32, LLS with the terminal's authentication password, docs/iot-route-cosem.md).
//!
//! ```text
//! iotroute handy --target ADDR:PORT --password P <COMMAND> [--json]
//!   read [--from T --to T]        stored readings (TRM-06)
//!   set interval 15|30            the reading interval (TRM-08/11)
//!   set pairing-id ID             the Pairing ID (TRM-08, CON-03)
//!   password [NEW]                the authentication password (TRM-08); NEW from stdin
//!                                 when omitted
//!   clock [--set T]               read or set the terminal's clock (TRM-09)
//!   logs access|events            the access log and the event log (SEC-09)
//!   firmware push FILE | activate | status    firmware update (SEC-10)
//!   accept-meter                  register the meter connected now (SEC-07)
//! ```
//!
//! Times are RFC 3339 (without an offset: JST). The password also comes from
//! `IOTROUTE_DLMS_PASSWORD` (the command line is readable by every local user).
//! Exit status: 0 done; 1 error (usage, timeout, an answer that makes no sense); 2 refused
//! by the device (association refused — a wrong password —, or a refused SET or ACTION).
//! With `--json` one JSON object on stdout, whatever the exit status.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, FixedOffset};
use dlms::client::{Authentication, ClientSettings, Event};
use dlms::cosem::model::EventCode;
use dlms::cosem::AccessCode;
use dlms::session::{LinkConfig, Session, SessionError, SessionOptions, Target};
use dlms::text::{parse_time, result_name, ValueError};
use dlms::{CosemDateTime, Data, Obis};
use serde_json::{json, Value};
use thiserror::Error;

use crate::handy_rows::{self, RowError};
use crate::secret_input::{self, parse_secret, Secret};

/// The maintenance association's client wPort (docs/iot-route-cosem.md).
const MAINTENANCE_WPORT: u16 = 32;
/// The terminal's logical device.
const SERVER_WPORT: u16 = 1;
/// Exit status when the device refused.
const EXIT_REFUSED: u8 = 2;

/// Arguments of `iotroute handy`.
#[derive(Debug, clap::Args)]
pub struct HandyArgs {
    /// The terminal's maintenance interface.
    #[arg(long, value_name = "ADDR:PORT")]
    pub target: SocketAddr,
    /// The terminal's authentication password (also IOTROUTE_DLMS_PASSWORD: the command
    /// line is visible to every local user).
    #[arg(long, env = secret_input::ENV_PASSWORD, hide_env_values = true, value_parser = parse_secret)]
    pub password: Secret,
    /// Local address to bind (ephemeral port); default the wildcard.
    #[arg(long)]
    pub bind: Option<IpAddr>,
    /// Seconds to wait for each answer.
    #[arg(long, default_value = "3", value_parser = crate::dlms_client_cmd::parse_secs)]
    pub timeout: Duration,
    /// Resends of an unanswered request.
    #[arg(long, default_value_t = 1)]
    pub retries: u8,
    /// Print one JSON object on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub action: HandyAction,
}

/// What the handy terminal does.
#[derive(Debug, clap::Subcommand)]
pub enum HandyAction {
    /// Read the stored readings (the load profile): every slot of the range, a slot
    /// without values as a row of nulls with status bit 2 (data not valid).
    Read {
        /// From this slot (inclusive).
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// To this slot (inclusive).
        #[arg(long, requires = "from")]
        to: Option<String>,
    },
    /// Change a setting.
    #[command(subcommand)]
    Set(SetAction),
    /// Change the authentication password (PANA and this association): it works from
    /// the next association and the next PANA authentication.
    Password {
        /// The new password, 8..32 bytes; read from stdin (one line) when omitted.
        #[arg(value_parser = parse_secret)]
        new: Option<Secret>,
    },
    /// Read the terminal's clock, or set it.
    Clock {
        /// Set it to this time.
        #[arg(long)]
        set: Option<String>,
    },
    /// Read a log over DLMS.
    Logs {
        /// Which log.
        #[arg(value_enum)]
        which: LogKind,
    },
    /// Firmware update (image transfer).
    #[command(subcommand)]
    Firmware(FirmwareAction),
    /// Accept the meter connected now as the registered one (SEC-07): its readings are
    /// no longer flagged, and it stays registered across restarts.
    AcceptMeter,
}

/// `set` targets.
#[derive(Debug, clap::Subcommand)]
pub enum SetAction {
    /// The reading interval, minutes (takes effect at the next boundary).
    Interval {
        /// 15 or 30.
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(["15", "30"]))]
        minutes: String,
    },
    /// The Pairing ID (8 characters of 0-9 A-Z).
    PairingId {
        /// The new Pairing ID.
        id: String,
    },
}

/// The logs readable over DLMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogKind {
    /// Associations, SET and ACTION requests and refusals.
    Access,
    /// Events (clock set, settings changed, meter ID changed, firmware...).
    Events,
}

/// Firmware update steps.
#[derive(Debug, clap::Subcommand)]
pub enum FirmwareAction {
    /// Transfer a signed image (`iotroute firmware sign`) and have the terminal verify it.
    Push {
        /// The signed image.
        file: PathBuf,
    },
    /// Activate the verified image.
    Activate,
    /// The image transfer's state.
    Status,
}

/// Why the command failed.
#[derive(Debug, Error)]
pub(crate) enum HandyError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Value(#[from] ValueError),
    #[error("{0}")]
    Session(#[from] SessionError),
    #[error("{0}")]
    Row(#[from] RowError),
    #[error("{what} refused by the terminal: {}", result_name(*.code))]
    Refused { what: String, code: u8 },
    #[error("unexpected answer to {what}: {answer}")]
    Unexpected { what: String, answer: String },
}

impl From<dlms::client::ClientError> for HandyError {
    fn from(e: dlms::client::ClientError) -> Self {
        Self::Session(e.into())
    }
}

impl HandyError {
    /// Whether the device refused (exit 2) rather than the command failing.
    const fn refused(&self) -> bool {
        matches!(
            self,
            Self::Refused { .. } | Self::Session(SessionError::Rejected(_))
        )
    }
}

const CLOCK: Target = target(8, [0, 0, 1, 0, 0, 255], 2);
const LOAD_PROFILE: Target = target(7, [1, 0, 99, 1, 0, 255], 2);
const PAIRING_ID: Target = target(1, [0, 0, 128, 0, 1, 255], 2);
const METER_ID: Target = target(1, [0, 0, 96, 1, 1, 255], 2);
const AUTH_PASSWORD: Target = target(1, [0, 0, 128, 0, 2, 255], 2);
const EVENT_LOG: Target = target(7, [0, 0, 99, 98, 0, 255], 2);
const ACCESS_LOG: Target = target(7, [0, 0, 99, 98, 128, 255], 2);

const fn target(class: u16, ln: [u8; 6], index: i8) -> Target {
    Target {
        class,
        obis: Obis(ln),
        index,
    }
}

/// Run it.
pub async fn run(args: HandyArgs) -> ExitCode {
    let json = args.json;
    let result = act(&args).await;
    match result {
        Ok(out) => {
            if json {
                crate::stdout::outln!("{out}");
            } else {
                crate::stdout::outln!("{}", human(&out));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::warn!(error = %e, "handy terminal command failed");
            eprintln!("error: {e}");
            if json {
                crate::stdout::outln!(
                    "{}",
                    json!({"error": e.to_string(), "refused": e.refused()})
                );
            }
            if e.refused() {
                ExitCode::from(EXIT_REFUSED)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// One line per row or value for people.
fn human(out: &Value) -> String {
    if let Some(rows) = out.get("rows").and_then(Value::as_array) {
        return rows
            .iter()
            .map(|r| {
                let n = |k: &str| r[k].as_u64().map_or("-".to_owned(), |v| v.to_string());
                format!(
                    "{}  in {} Wh  out {} Wh  status {}{}",
                    r["time"].as_str().unwrap_or("?"),
                    n("ac_in_wh"),
                    n("ac_out_wh"),
                    r["status"],
                    if r["recovered"] == true {
                        "  recovered"
                    } else {
                        ""
                    }
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
    }
    if let Some(entries) = out.get("entries").and_then(Value::as_array) {
        return entries
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n");
    }
    out.to_string()
}

async fn open(args: &HandyArgs) -> Result<Session, HandyError> {
    let settings = ClientSettings {
        client_wport: MAINTENANCE_WPORT,
        server_wport: SERVER_WPORT,
        authentication: Authentication::Low {
            password: args.password.expose().as_bytes().to_vec(),
        },
        ..ClientSettings::default()
    };
    let link = LinkConfig {
        host: args.target.ip().to_string(),
        port: args.target.port(),
        bind: args.bind,
        timeout: args.timeout,
        retries: args.retries,
    };
    let options = SessionOptions {
        lists: false,
        counter_limit: None,
    };
    Ok(Session::open(settings, &link, options).await?)
}

async fn act(args: &HandyArgs) -> Result<Value, HandyError> {
    // Check what can be checked before associating.
    let new_password = match &args.action {
        HandyAction::Password { new } => Some(match new {
            Some(p) => p.expose().to_owned(),
            None => read_line()?,
        }),
        _ => None,
    };
    let mut s = open(args).await?;
    let result = match &args.action {
        HandyAction::Read { from, to } => read(&mut s, from.as_deref(), to.as_deref()).await,
        HandyAction::Set(SetAction::Interval { minutes }) => {
            let minutes: u32 = minutes
                .parse()
                .map_err(|_| HandyError::Usage(format!("interval `{minutes}`")))?;
            let period = LOAD_PROFILE.with_index(4);
            set(
                &mut s,
                "interval",
                period,
                Data::DoubleLongUnsigned(minutes * 60),
            )
            .await?;
            Ok(json!({"result": "success", "interval_min": minutes}))
        }
        HandyAction::Set(SetAction::PairingId { id }) => {
            let value = Data::VisibleString(id.as_bytes().to_vec());
            set(&mut s, "pairing ID", PAIRING_ID, value).await?;
            Ok(json!({"result": "success", "pairing_id": id}))
        }
        HandyAction::Password { .. } => {
            let new = new_password.unwrap_or_default();
            let value = Data::OctetString(new.into_bytes());
            set(&mut s, "password", AUTH_PASSWORD, value).await?;
            Ok(json!({"result": "success"}))
        }
        HandyAction::Clock { set: None } => clock(&mut s).await,
        HandyAction::Clock { set: Some(t) } => {
            let t = parse_time(t)?;
            let value = Data::clock_octet_string(&CosemDateTime::from_chrono(&t));
            set(&mut s, "clock", CLOCK, value).await?;
            Ok(json!({"result": "success", "clock": t.to_rfc3339()}))
        }
        HandyAction::Logs { which } => log(&mut s, *which).await,
        HandyAction::Firmware(f) => crate::handy_firmware::run(&mut s, f).await,
        HandyAction::AcceptMeter => accept_meter(&mut s).await,
    };
    s.close().await;
    result
}

/// Accept the meter the terminal reads now (SEC-07): its ID read, then written back —
/// the only value the terminal takes there.
async fn accept_meter(s: &mut Session) -> Result<Value, HandyError> {
    let id = get(s, "meter ID", METER_ID, None).await?;
    let hex = match &id {
        Data::OctetString(b) if !b.is_empty() => dlms::hex::encode(b),
        _ => {
            return Err(HandyError::Usage(
                "the terminal has not read a meter ID yet".into(),
            ))
        }
    };
    set(s, "meter acceptance", METER_ID, id).await?;
    Ok(json!({"result": "success", "meter_id": hex}))
}

/// One line from stdin: a new password not given on the command line.
fn read_line() -> Result<String, HandyError> {
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| HandyError::Usage(format!("reading the new password from stdin: {e}")))?;
    let line = line.trim_end_matches(['\r', '\n']).to_owned();
    if line.is_empty() {
        return Err(HandyError::Usage(
            "no new password (give NEW or one line on stdin)".into(),
        ));
    }
    Ok(line)
}

/// A value read, or why not.
pub(crate) async fn get(
    s: &mut Session,
    what: &str,
    t: Target,
    access: Option<(u8, &Data)>,
) -> Result<Data, HandyError> {
    match s.get(t, access).await? {
        Event::Value(v) => Ok(v),
        Event::AccessError { code, .. } => Err(HandyError::Refused {
            what: what.to_owned(),
            code,
        }),
        other => Err(HandyError::Unexpected {
            what: what.to_owned(),
            answer: format!("{other:?}"),
        }),
    }
}

async fn set(s: &mut Session, what: &str, t: Target, value: Data) -> Result<(), HandyError> {
    match s.set_many(&[(t, value)]).await?.first() {
        Some(0) => Ok(()),
        Some(code) => Err(HandyError::Refused {
            what: what.to_owned(),
            code: *code,
        }),
        None => Err(HandyError::Unexpected {
            what: what.to_owned(),
            answer: "no result".into(),
        }),
    }
}

async fn read(s: &mut Session, from: Option<&str>, to: Option<&str>) -> Result<Value, HandyError> {
    let range = match (from, to) {
        (Some(f), Some(t)) => Some((parse_time(f)?, parse_time(t)?)),
        _ => None,
    };
    if let Some((f, t)) = range {
        if f > t {
            return Err(HandyError::Usage("--from is after --to".into()));
        }
    }
    let period = get(s, "capture period", LOAD_PROFILE.with_index(4), None).await?;
    let period = period
        .as_i128()
        .and_then(|p| u32::try_from(p).ok())
        .ok_or_else(|| HandyError::Unexpected {
            what: "capture period".into(),
            answer: format!("{period:?}"),
        })?;
    let selector = range.map(|(f, t)| dlms::cosem::range_selector(&f, &t));
    let access = selector.as_ref().map(|r| (1u8, r));
    let buffer = get(s, "load profile", LOAD_PROFILE, access).await?;
    let rows = handy_rows::rows(&buffer, range, period)?;
    Ok(json!({"interval_min": period / 60, "rows": rows}))
}

async fn clock(s: &mut Session) -> Result<Value, HandyError> {
    let time = get(s, "clock", CLOCK, None).await?;
    let status = get(s, "clock status", CLOCK.with_index(4), None).await?;
    let time = time
        .as_date_time()
        .and_then(|d| d.to_chrono_or(dlms::datetime::JST_DEVIATION))
        .ok_or_else(|| HandyError::Unexpected {
            what: "clock".into(),
            answer: format!("{time:?}"),
        })?;
    let status = status.as_i128().unwrap_or(-1);
    Ok(json!({
        "clock": time.to_rfc3339(),
        "status": status,
        // Bit 0 invalid, bit 1 doubtful: not yet set by a client (TRM-09).
        "valid": status & 0x03 == 0,
    }))
}

/// A log profile's rows: the clock and a code (and, for the access log, the client's
/// wPort), each code with its name.
async fn log(s: &mut Session, which: LogKind) -> Result<Value, HandyError> {
    let (what, t) = match which {
        LogKind::Access => ("access log", ACCESS_LOG),
        LogKind::Events => ("event log", EVENT_LOG),
    };
    let buffer = get(s, what, t, None).await?;
    let entries = buffer
        .elements()
        .unwrap_or(&[])
        .iter()
        .map(|row| {
            let cells = row.elements().unwrap_or(&[]);
            let time = cells
                .first()
                .and_then(Data::as_date_time)
                .and_then(|d| d.to_chrono_or(dlms::datetime::JST_DEVIATION))
                .map(|t: DateTime<FixedOffset>| t.to_rfc3339());
            let number = |i: usize| {
                cells
                    .get(i)
                    .and_then(Data::as_i128)
                    .and_then(|c| u16::try_from(c).ok())
            };
            let code = number(1);
            match which {
                LogKind::Events => {
                    let name = code.and_then(EventCode::from_code).map(EventCode::name);
                    json!({"time": time, "code": code, "event": name})
                }
                LogKind::Access => {
                    let name = code.and_then(AccessCode::from_code).map(AccessCode::name);
                    json!({"time": time, "code": code, "access": name, "client": number(2)})
                }
            }
        })
        .collect::<Vec<_>>();
    let name = match which {
        LogKind::Access => "access",
        LogKind::Events => "events",
    };
    Ok(json!({"log": name, "entries": entries}))
}
