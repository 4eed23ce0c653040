//! The A route's messages **(ours)**, docs/a-route.md.
//!
//! The smart meter tells ([`Uplink`]), as unconfirmed Data-Notifications whose body is a
//! structure led by the message's kind; the head end commands ([`Command`]), as
//! ACTION-Requests on the relay object ([`super::RELAY_CLASS`], [`super::RELAY_OBIS`]),
//! one method per command, answered at once by an ACTION-Response (taken or refused);
//! what a command then did comes later as [`Uplink::Done`] with the command's request
//! number, and a backfill's rows as [`Uplink::Readings`] with it.
//!
//! Times travel as COSEM clocks (`octet-string(12)`) in JST (deviation −540); energies as
//! the terminal's load profile holds them (Wh, lower 8 digits); a row's status byte is
//! the profile's.

use chrono::{DateTime, Utc};
use dlms_cosem_rs::xdlms::{
    ActionRequest, ActionResponse, ActionResponseWithOptionalData, ActionResult, Apdu,
    DataNotification, InvokeId, LongInvokeId, MethodDescriptor, OptionalDateTime,
};

use super::{RELAY_CLASS, RELAY_OBIS};
use crate::cosem::{from_cosem, to_cosem};
use crate::data::Data;
use crate::datetime::{CosemDateTime, JST_DEVIATION};
use crate::error::CodecError;

/// Longest secret or password a command carries (an LLS secret: 1 to 32 bytes).
pub const SECRET_MAX: usize = 32;
/// Most rows one message carries (ours): 2 days of 15-minute slots; a longer backfill
/// comes as several messages.
pub const ROWS_MAX: usize = 192;
/// Longest text of an outcome.
pub const TEXT_MAX: usize = 200;

/// The smart meter's own event codes about a device (ours, from 200: the terminals'
/// event log codes stay below), carried in [`Uplink::Event`].
pub mod own_event {
    /// A device failed to authenticate (PANA refused it): a wrong password, an unknown
    /// terminal, a blocked one.
    pub const AUTH_FAILURE: u16 = 200;
    /// A device scanned for another Pairing ID than the smart meter's.
    pub const FOREIGN_PAIRING_SCAN: u16 = 201;
    /// A terminal authenticated and joined the smart meter's IoT route (its link is up).
    pub const JOINED: u16 = 202;
    /// A terminal left it (logged out, removed, lost, its session over).
    pub const LEFT: u16 = 203;
}

/// Why bytes are not a message of the A route.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Not an APDU.
    #[error("{0}")]
    Codec(#[from] CodecError),
    /// An APDU the A route does not use here.
    #[error("not a {0}")]
    Service(&'static str),
    /// A message kind or method that does not exist.
    #[error("unknown {what} {value}")]
    Unknown {
        /// Kind or method.
        what: &'static str,
        /// Its number.
        value: i64,
    },
    /// A field missing or of the wrong type or range.
    #[error("field {0}")]
    Field(&'static str),
}

/// How rows came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// The terminal pushed it at its slot (TRM-05).
    Pushed,
    /// Read back on the head end's command (a backfill, TRM-06).
    Backfilled,
}

/// One load-profile row of a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// The slot boundary the counters belong to.
    pub at: DateTime<Utc>,
    /// AC input, Wh, lower 8 digits.
    pub in_wh: u32,
    /// AC output, Wh, lower 8 digits.
    pub out_wh: u32,
    /// The profile's status byte (bit 2: data not valid — the values are not a reading).
    pub status: u8,
    /// The terminal's reading interval for this row, minutes (15 or 30).
    pub interval_min: u8,
}

/// A terminal's state at its smart meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminalState {
    /// Registered, not joined.
    Absent,
    /// Joined (authenticated on the IoT route).
    Joined,
    /// Blocked (OPS-07).
    Blocked,
}

/// What a command did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Done,
    /// The terminal refused it (a DLMS result other than success).
    Refused,
    /// It could not be done (the terminal did not answer, it is not joined).
    Failed,
}

/// What the smart meter tells the head end.
#[derive(Debug, Clone, PartialEq)]
pub enum Uplink {
    /// The smart meter (re)connected: its terminals and their state.
    Hello {
        /// Each registered terminal.
        terminals: Vec<([u8; 8], TerminalState)>,
    },
    /// Rows of a terminal.
    Readings {
        /// The terminal's EUI-64.
        terminal: [u8; 8],
        /// Pushed at the slot, or a backfill's.
        arrival: Arrival,
        /// The backfill's request number (0 for a push).
        request: u32,
        /// The rows, oldest first.
        rows: Vec<Row>,
    },
    /// An event of a terminal (its pushed event, or the smart meter's about it), kept by
    /// the smart meter and sent again on each new connection until the head end says it
    /// took it ([`Command::EventsTaken`]; **ours**).
    Event {
        /// The event's number: the invocation counter of the message that first carried
        /// it, so increasing across the smart meter's restarts (its counters are kept)
        /// and the same when sent again — by which the head end knows one it has.
        number: u32,
        /// The terminal's EUI-64.
        terminal: [u8; 8],
        /// The event code (docs/iot-route-cosem.md's event log codes; ours from 200 for
        /// the smart meter's own).
        code: u16,
        /// When.
        at: DateTime<Utc>,
        /// The details as the event carried them.
        details: Vec<Data>,
    },
    /// A command's end.
    Done {
        /// Its request number.
        request: u32,
        /// What it did.
        outcome: Outcome,
        /// Why, for a refusal or a failure.
        text: String,
    },
}

/// What the head end commands the smart meter (one relay method each). `Debug` shows
/// every field but the secrets (a registration's secret, a new password), which a log
/// must never hold.
#[derive(Clone, PartialEq, Eq)]
pub enum Command {
    /// 1: hold this terminal (SYS-03), with its Pairing ID, its association's secret and
    /// its interval.
    Register {
        /// The terminal.
        terminal: [u8; 8],
        /// Its Pairing ID (8 characters).
        pairing_id: [u8; 8],
        /// Its management association's secret.
        secret: Vec<u8>,
        /// Its reading interval, minutes.
        interval_min: u8,
        /// TRM-11: the boundary its last interval switch took effect at and the
        /// interval before it, minutes (its rows before that boundary are of that one),
        /// when the head end knows of one: a smart meter registering it afresh (after
        /// a restart) labels the rows it reads back by it.
        switched: Option<(DateTime<Utc>, u8)>,
    },
    /// 2: let it go.
    Forget {
        /// The terminal.
        terminal: [u8; 8],
    },
    /// 3: read its rows with `from <= slot <= to` and send them.
    Backfill {
        /// Request number.
        request: u32,
        /// The terminal.
        terminal: [u8; 8],
        /// From.
        from: DateTime<Utc>,
        /// To.
        to: DateTime<Utc>,
    },
    /// 4: set its clock (TRM-09).
    SetClock {
        /// Request number.
        request: u32,
        /// The terminal.
        terminal: [u8; 8],
    },
    /// 5: revoke and drop it (OPS-07).
    Block {
        /// Request number.
        request: u32,
        /// The terminal.
        terminal: [u8; 8],
    },
    /// 6: let it back (OPS-07).
    Reconnect {
        /// Request number.
        request: u32,
        /// The terminal.
        terminal: [u8; 8],
    },
    /// 7: switch its interval (TRM-11).
    SetInterval {
        /// Request number.
        request: u32,
        /// The terminal.
        terminal: [u8; 8],
        /// 15 or 30.
        minutes: u8,
    },
    /// 8: change its authentication password (TRM-08).
    SetPassword {
        /// Request number.
        request: u32,
        /// The terminal.
        terminal: [u8; 8],
        /// The new password.
        password: Vec<u8>,
    },
    /// 9 **(ours)**: take this password for the terminal, no session with it (TRM-08:
    /// changed on the terminal by the handy terminal, so already the terminal's).
    TakePassword {
        /// Request number.
        request: u32,
        /// The terminal.
        terminal: [u8; 8],
        /// The terminal's password now.
        password: Vec<u8>,
    },
    /// 10 **(ours)**: the head end keeps every event numbered up to `upto`: the smart
    /// meter need not send them again.
    EventsTaken {
        /// The highest event number kept.
        upto: u32,
    },
}

impl core::fmt::Debug for Command {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        const REDACTED: &str = "<redacted>";
        match self {
            Self::Register {
                terminal,
                pairing_id,
                interval_min,
                switched,
                ..
            } => f
                .debug_struct("Register")
                .field("terminal", terminal)
                .field("pairing_id", pairing_id)
                .field("secret", &REDACTED)
                .field("interval_min", interval_min)
                .field("switched", switched)
                .finish(),
            Self::Forget { terminal } => f
                .debug_struct("Forget")
                .field("terminal", terminal)
                .finish(),
            Self::Backfill {
                request,
                terminal,
                from,
                to,
            } => f
                .debug_struct("Backfill")
                .field("request", request)
                .field("terminal", terminal)
                .field("from", from)
                .field("to", to)
                .finish(),
            Self::SetClock { request, terminal } => f
                .debug_struct("SetClock")
                .field("request", request)
                .field("terminal", terminal)
                .finish(),
            Self::Block { request, terminal } => f
                .debug_struct("Block")
                .field("request", request)
                .field("terminal", terminal)
                .finish(),
            Self::Reconnect { request, terminal } => f
                .debug_struct("Reconnect")
                .field("request", request)
                .field("terminal", terminal)
                .finish(),
            Self::SetInterval {
                request,
                terminal,
                minutes,
            } => f
                .debug_struct("SetInterval")
                .field("request", request)
                .field("terminal", terminal)
                .field("minutes", minutes)
                .finish(),
            Self::SetPassword {
                request, terminal, ..
            } => f
                .debug_struct("SetPassword")
                .field("request", request)
                .field("terminal", terminal)
                .field("password", &REDACTED)
                .finish(),
            Self::TakePassword {
                request, terminal, ..
            } => f
                .debug_struct("TakePassword")
                .field("request", request)
                .field("terminal", terminal)
                .field("password", &REDACTED)
                .finish(),
            Self::EventsTaken { upto } => {
                f.debug_struct("EventsTaken").field("upto", upto).finish()
            }
        }
    }
}

fn clock(t: DateTime<Utc>) -> Data {
    Data::clock_octet_string(&to_cosem(t, JST_DEVIATION, 0))
}

fn eui(t: [u8; 8]) -> Data {
    Data::OctetString(t.to_vec())
}

/// Fields of a structure, read in order.
struct Fields<'a> {
    items: std::slice::Iter<'a, Data>,
}

impl<'a> Fields<'a> {
    fn of(d: &'a Data, name: &'static str) -> Result<Self, MessageError> {
        match d {
            Data::Structure(items) => Ok(Self {
                items: items.iter(),
            }),
            _ => Err(MessageError::Field(name)),
        }
    }

    fn next(&mut self, name: &'static str) -> Result<&'a Data, MessageError> {
        self.items.next().ok_or(MessageError::Field(name))
    }

    fn end(mut self, name: &'static str) -> Result<(), MessageError> {
        match self.items.next() {
            None => Ok(()),
            Some(_) => Err(MessageError::Field(name)),
        }
    }

    fn eui(&mut self, name: &'static str) -> Result<[u8; 8], MessageError> {
        match self.next(name)? {
            Data::OctetString(b) => {
                <[u8; 8]>::try_from(b.as_slice()).map_err(|_| MessageError::Field(name))
            }
            _ => Err(MessageError::Field(name)),
        }
    }

    fn u32(&mut self, name: &'static str) -> Result<u32, MessageError> {
        match self.next(name)? {
            Data::DoubleLongUnsigned(n) => Ok(*n),
            _ => Err(MessageError::Field(name)),
        }
    }

    fn u16(&mut self, name: &'static str) -> Result<u16, MessageError> {
        match self.next(name)? {
            Data::LongUnsigned(n) => Ok(*n),
            _ => Err(MessageError::Field(name)),
        }
    }

    fn u8(&mut self, name: &'static str) -> Result<u8, MessageError> {
        match self.next(name)? {
            Data::Unsigned(n) | Data::Enum(n) => Ok(*n),
            _ => Err(MessageError::Field(name)),
        }
    }

    fn interval(&mut self, name: &'static str) -> Result<u8, MessageError> {
        match self.u8(name)? {
            m @ (15 | 30) => Ok(m),
            _ => Err(MessageError::Field(name)),
        }
    }

    /// A date-time the A route can carry back: one whose JST form reads as itself (a
    /// deviation of days or a year before 1 would encode to other bytes, or to none).
    fn time(&mut self, name: &'static str) -> Result<DateTime<Utc>, MessageError> {
        self.next(name)?
            .as_date_time()
            .and_then(|t| from_cosem(&t, JST_DEVIATION))
            .filter(|t| from_cosem(&to_cosem(*t, JST_DEVIATION, 0), JST_DEVIATION) == Some(*t))
            .ok_or(MessageError::Field(name))
    }

    fn bytes(&mut self, name: &'static str, max: usize) -> Result<Vec<u8>, MessageError> {
        match self.next(name)? {
            Data::OctetString(b) if (1..=max).contains(&b.len()) => Ok(b.clone()),
            _ => Err(MessageError::Field(name)),
        }
    }

    fn array(&mut self, name: &'static str) -> Result<&'a [Data], MessageError> {
        match self.next(name)? {
            Data::Array(items) => Ok(items),
            _ => Err(MessageError::Field(name)),
        }
    }
}

impl Row {
    fn to_data(self) -> Data {
        Data::Structure(vec![
            clock(self.at),
            Data::DoubleLongUnsigned(self.in_wh),
            Data::DoubleLongUnsigned(self.out_wh),
            Data::Unsigned(self.status),
            Data::Unsigned(self.interval_min),
        ])
    }

    fn of(d: &Data) -> Result<Self, MessageError> {
        let mut f = Fields::of(d, "row")?;
        let row = Self {
            at: f.time("row clock")?,
            in_wh: f.u32("row input")?,
            out_wh: f.u32("row output")?,
            status: f.u8("row status")?,
            interval_min: f.interval("row interval")?,
        };
        f.end("row")?;
        Ok(row)
    }
}

impl Uplink {
    /// The Data-Notification body.
    #[must_use]
    pub fn to_data(&self) -> Data {
        match self {
            Self::Hello { terminals } => Data::Structure(vec![
                Data::Unsigned(0),
                Data::Array(
                    terminals
                        .iter()
                        .map(|(t, s)| {
                            let state = match s {
                                TerminalState::Absent => 0,
                                TerminalState::Joined => 1,
                                TerminalState::Blocked => 2,
                            };
                            Data::Structure(vec![eui(*t), Data::Enum(state)])
                        })
                        .collect(),
                ),
            ]),
            Self::Readings {
                terminal,
                arrival,
                request,
                rows,
            } => Data::Structure(vec![
                Data::Unsigned(1),
                eui(*terminal),
                Data::Enum(match arrival {
                    Arrival::Pushed => 0,
                    Arrival::Backfilled => 1,
                }),
                Data::DoubleLongUnsigned(*request),
                Data::Array(rows.iter().map(|r| r.to_data()).collect()),
            ]),
            Self::Event {
                number,
                terminal,
                code,
                at,
                details,
            } => Data::Structure(vec![
                Data::Unsigned(2),
                Data::DoubleLongUnsigned(*number),
                eui(*terminal),
                Data::LongUnsigned(*code),
                clock(*at),
                Data::Structure(details.clone()),
            ]),
            Self::Done {
                request,
                outcome,
                text,
            } => Data::Structure(vec![
                Data::Unsigned(3),
                Data::DoubleLongUnsigned(*request),
                Data::Enum(match outcome {
                    Outcome::Done => 0,
                    Outcome::Refused => 1,
                    Outcome::Failed => 2,
                }),
                Data::VisibleString(text.as_bytes().to_vec()),
            ]),
        }
    }

    /// The message a Data-Notification body carries.
    ///
    /// # Errors
    /// [`MessageError`].
    pub fn of(body: &Data) -> Result<Self, MessageError> {
        let mut f = Fields::of(body, "message")?;
        let message = match f.u8("kind")? {
            0 => Self::Hello {
                terminals: f
                    .array("terminals")?
                    .iter()
                    .map(|t| {
                        let mut g = Fields::of(t, "terminal")?;
                        let terminal = g.eui("terminal")?;
                        let state = match g.u8("state")? {
                            0 => TerminalState::Absent,
                            1 => TerminalState::Joined,
                            2 => TerminalState::Blocked,
                            _ => return Err(MessageError::Field("state")),
                        };
                        g.end("terminal")?;
                        Ok((terminal, state))
                    })
                    .collect::<Result<_, _>>()?,
            },
            1 => {
                let terminal = f.eui("terminal")?;
                let arrival = match f.u8("arrival")? {
                    0 => Arrival::Pushed,
                    1 => Arrival::Backfilled,
                    _ => return Err(MessageError::Field("arrival")),
                };
                let request = f.u32("request")?;
                let rows = f.array("rows")?;
                if rows.len() > ROWS_MAX {
                    return Err(MessageError::Field("rows"));
                }
                Self::Readings {
                    terminal,
                    arrival,
                    request,
                    rows: rows.iter().map(Row::of).collect::<Result<_, _>>()?,
                }
            }
            2 => Self::Event {
                number: f.u32("number")?,
                terminal: f.eui("terminal")?,
                code: f.u16("code")?,
                at: f.time("time")?,
                details: match f.next("details")? {
                    Data::Structure(d) => d.clone(),
                    _ => return Err(MessageError::Field("details")),
                },
            },
            3 => Self::Done {
                request: f.u32("request")?,
                outcome: match f.u8("outcome")? {
                    0 => Outcome::Done,
                    1 => Outcome::Refused,
                    2 => Outcome::Failed,
                    _ => return Err(MessageError::Field("outcome")),
                },
                text: match f.next("text")? {
                    Data::VisibleString(b) if b.len() <= TEXT_MAX => {
                        String::from_utf8(b.clone()).map_err(|_| MessageError::Field("text"))?
                    }
                    _ => return Err(MessageError::Field("text")),
                },
            },
            other => {
                return Err(MessageError::Unknown {
                    what: "message kind",
                    value: other.into(),
                })
            }
        };
        f.end("message")?;
        Ok(message)
    }

    /// The plain Data-Notification APDU (number `long_invoke_id`, stamped `at`), for
    /// [`super::channel::Channel::seal`].
    ///
    /// # Errors
    /// [`MessageError::Codec`].
    pub fn encode(&self, long_invoke_id: u32, at: DateTime<Utc>) -> Result<Vec<u8>, MessageError> {
        let body = self.to_data().encode()?;
        let stamp: CosemDateTime = to_cosem(at, JST_DEVIATION, 0);
        let apdu = Apdu::DataNotification(DataNotification {
            long_invoke_id: LongInvokeId::new(long_invoke_id & 0x00FF_FFFF),
            date_time: OptionalDateTime(Some(stamp.into())),
            body: crate::apdu::data_ref(&body)?,
        });
        Ok(crate::apdu::encode(&apdu)?)
    }

    /// The message of a plain Data-Notification APDU.
    ///
    /// # Errors
    /// [`MessageError`].
    pub fn decode(apdu: &[u8]) -> Result<Self, MessageError> {
        match crate::apdu::decode(apdu)? {
            Apdu::DataNotification(n) => Self::of(&crate::apdu::to_owned_data(&n.body)?),
            _ => Err(MessageError::Service("Data-Notification")),
        }
    }
}

impl Command {
    /// Its relay method and parameters.
    #[must_use]
    pub fn to_method(&self) -> (i8, Data) {
        match self {
            Self::Register {
                terminal,
                pairing_id,
                secret,
                interval_min,
                switched,
            } => (
                1,
                Data::Structure(
                    [
                        eui(*terminal),
                        Data::VisibleString(pairing_id.to_vec()),
                        Data::OctetString(secret.clone()),
                        Data::Unsigned(*interval_min),
                    ]
                    .into_iter()
                    .chain(switched.map(|(at, before)| {
                        Data::Structure(vec![clock(at), Data::Unsigned(before)])
                    }))
                    .collect(),
                ),
            ),
            Self::Forget { terminal } => (2, Data::Structure(vec![eui(*terminal)])),
            Self::Backfill {
                request,
                terminal,
                from,
                to,
            } => (
                3,
                Data::Structure(vec![
                    Data::DoubleLongUnsigned(*request),
                    eui(*terminal),
                    clock(*from),
                    clock(*to),
                ]),
            ),
            Self::SetClock { request, terminal } => (4, request_of(*request, *terminal)),
            Self::Block { request, terminal } => (5, request_of(*request, *terminal)),
            Self::Reconnect { request, terminal } => (6, request_of(*request, *terminal)),
            Self::SetInterval {
                request,
                terminal,
                minutes,
            } => (
                7,
                Data::Structure(vec![
                    Data::DoubleLongUnsigned(*request),
                    eui(*terminal),
                    Data::Unsigned(*minutes),
                ]),
            ),
            Self::SetPassword {
                request,
                terminal,
                password,
            } => (8, password_of(*request, *terminal, password)),
            Self::TakePassword {
                request,
                terminal,
                password,
            } => (9, password_of(*request, *terminal, password)),
            Self::EventsTaken { upto } => {
                (10, Data::Structure(vec![Data::DoubleLongUnsigned(*upto)]))
            }
        }
    }

    /// The command of relay method `method` with `parameters`.
    ///
    /// # Errors
    /// [`MessageError`].
    pub fn of(method: i8, parameters: &Data) -> Result<Self, MessageError> {
        let mut f = Fields::of(parameters, "parameters")?;
        let command = match method {
            1 => {
                let terminal = f.eui("terminal")?;
                let pairing_id = match f.next("pairing id")? {
                    Data::VisibleString(b) => <[u8; 8]>::try_from(b.as_slice())
                        .map_err(|_| MessageError::Field("pairing id"))?,
                    _ => return Err(MessageError::Field("pairing id")),
                };
                let (secret, interval_min) =
                    (f.bytes("secret", SECRET_MAX)?, f.interval("interval")?);
                // The switch is there only when the head end knows of one.
                let switched = match f.items.next() {
                    None => None,
                    Some(d) => {
                        let mut s = Fields::of(d, "switched")?;
                        let switch = (s.time("switched at")?, s.interval("interval before")?);
                        s.end("switched")?;
                        Some(switch)
                    }
                };
                Self::Register {
                    terminal,
                    pairing_id,
                    secret,
                    interval_min,
                    switched,
                }
            }
            2 => Self::Forget {
                terminal: f.eui("terminal")?,
            },
            3 => Self::Backfill {
                request: f.u32("request")?,
                terminal: f.eui("terminal")?,
                from: f.time("from")?,
                to: f.time("to")?,
            },
            4 => Self::SetClock {
                request: f.u32("request")?,
                terminal: f.eui("terminal")?,
            },
            5 => Self::Block {
                request: f.u32("request")?,
                terminal: f.eui("terminal")?,
            },
            6 => Self::Reconnect {
                request: f.u32("request")?,
                terminal: f.eui("terminal")?,
            },
            7 => Self::SetInterval {
                request: f.u32("request")?,
                terminal: f.eui("terminal")?,
                minutes: f.interval("minutes")?,
            },
            8 => Self::SetPassword {
                request: f.u32("request")?,
                terminal: f.eui("terminal")?,
                password: f.bytes("password", SECRET_MAX)?,
            },
            9 => Self::TakePassword {
                request: f.u32("request")?,
                terminal: f.eui("terminal")?,
                password: f.bytes("password", SECRET_MAX)?,
            },
            10 => Self::EventsTaken {
                upto: f.u32("upto")?,
            },
            other => {
                return Err(MessageError::Unknown {
                    what: "relay method",
                    value: other.into(),
                })
            }
        };
        f.end("parameters")?;
        Ok(command)
    }

    /// The plain ACTION-Request APDU (invoke id `invoke_id`).
    ///
    /// # Errors
    /// [`MessageError::Codec`].
    pub fn encode(&self, invoke_id: u8) -> Result<Vec<u8>, MessageError> {
        let (method, parameters) = self.to_method();
        let bytes = parameters.encode()?;
        let apdu = Apdu::ActionRequest(ActionRequest::Normal {
            invoke_id: InvokeId(invoke_id),
            descriptor: MethodDescriptor::new(RELAY_CLASS, RELAY_OBIS.to_upstream(), method),
            parameters: Some(crate::apdu::data_ref(&bytes)?),
        });
        Ok(crate::apdu::encode(&apdu)?)
    }

    /// The command of a plain ACTION-Request APDU on the relay object, and its invoke id.
    ///
    /// # Errors
    /// [`MessageError`]: another service or object, or bad parameters.
    pub fn decode(apdu: &[u8]) -> Result<(u8, Self), MessageError> {
        match crate::apdu::decode(apdu)? {
            Apdu::ActionRequest(ActionRequest::Normal {
                invoke_id,
                descriptor,
                parameters,
            }) if descriptor.class_id == RELAY_CLASS
                && crate::Obis::from_upstream(descriptor.instance_id) == RELAY_OBIS =>
            {
                let parameters = parameters.ok_or(MessageError::Field("parameters"))?;
                let owned = crate::apdu::to_owned_data(&parameters)?;
                Ok((invoke_id.0, Self::of(descriptor.method_id, &owned)?))
            }
            _ => Err(MessageError::Service("relay ACTION-Request")),
        }
    }
}

fn request_of(request: u32, terminal: [u8; 8]) -> Data {
    Data::Structure(vec![Data::DoubleLongUnsigned(request), eui(terminal)])
}

fn password_of(request: u32, terminal: [u8; 8], password: &[u8]) -> Data {
    Data::Structure(vec![
        Data::DoubleLongUnsigned(request),
        eui(terminal),
        Data::OctetString(password.to_vec()),
    ])
}

/// The smart meter's answer to a command: taken (`Success`) or refused with a result.
///
/// # Errors
/// [`MessageError::Codec`].
pub fn encode_answer(invoke_id: u8, result: ActionResult) -> Result<Vec<u8>, MessageError> {
    let apdu = Apdu::ActionResponse(ActionResponse::Normal {
        invoke_id: InvokeId(invoke_id),
        response: ActionResponseWithOptionalData {
            result,
            return_parameters: None,
        },
    });
    Ok(crate::apdu::encode(&apdu)?)
}

/// The invoke id and result of the smart meter's answer.
///
/// # Errors
/// [`MessageError`].
pub fn decode_answer(apdu: &[u8]) -> Result<(u8, ActionResult), MessageError> {
    match crate::apdu::decode(apdu)? {
        Apdu::ActionResponse(ActionResponse::Normal {
            invoke_id,
            response,
        }) => Ok((invoke_id.0, response.result)),
        _ => Err(MessageError::Service("ACTION-Response")),
    }
}
