//! The wireless terminal's ECHONET Lite controller: the client that finds the special-case
//! meter, reads it and sets its clock.
//!
//! Sans-IO, after quinn-proto and smoltcp: the controller owns no socket and reads no
//! clock. The runtime
//!
//! 1. starts requests ([`Controller::discover`], [`Controller::get`], [`Controller::set`],
//!    [`Controller::read_meter`], [`Controller::set_clock`]), each returning a
//!    [`RequestId`];
//! 2. sends every [`Transmit`] that [`Controller::poll_transmit`] yields, to port 3610 of
//!    the unicast address or to the ECHONET Lite group;
//! 3. feeds every datagram it receives to [`Controller::handle_datagram`], and calls
//!    [`Controller::handle_timeout`] once [`Controller::poll_timeout`] is reached;
//! 4. drains [`Controller::poll_event`].
//!
//! Time is a monotonic [`Instant`] passed in by the caller. Timeouts must not jump when the
//! wall clock is set (TRM-09 sets clocks), and a simulator with virtual time maps its clock
//! onto `base + elapsed`, which keeps every test deterministic. The one wall-clock value,
//! the JST time written by [`Controller::set_clock`], is also given by the caller.
//!
//! Every request ends with exactly one final event ([`Event::is_final`]). Retries resend
//! the very same frame, TID included, so that a late answer to the first attempt still
//! counts.
//!
//! SEC-06: the controller accepts only answers to requests it made. A datagram is
//! matched by TID, by source IP address (not port: npm `echonet-lite` answers from port
//! 23610 to our 3610), by the answering object (the DEOJ we asked, or any instance of its
//! class when we asked instance 0) and by the service (the response or SNA of the request's
//! ESV). Everything else is dropped, logged and counted in [`ControllerStats`]: malformed
//! frames, requests addressed to us, answers nobody asked for, answers from the wrong
//! place; the warnings come out of a log budget (20 a minute, the held-back ones counted
//! in the next). INF notifications (0x73) are counted and dropped unless
//! [`ControllerConfig::surface_notifications`] is set, since a terminal that polls its
//! meter needs none of them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, Timelike};
use echonet::energy::{EnergyUnit, MeterReading};
use echonet::objects::{MeterProperty, NodeProfileProperty, SuperclassProperty, TimeOfDay};
use echonet::{ClassCode, Eoj, Esv, FrameError, Message, Property, PropertyMap, Repr, ValueError};
use serde::Serialize;
use thiserror::Error;

/// EPCs of one meter reading (TRM-07): device ID, unit, cumulative energy in and out.
pub const READ_METER_EPCS: [u8; 4] = [EPC_DEVICE_ID, EPC_UNIT, EPC_ENERGY_IN, EPC_ENERGY_OUT];

const EPC_DEVICE_ID: u8 = 0xD1;
const EPC_UNIT: u8 = 0xD4;
const EPC_ENERGY_IN: u8 = 0xE0;
const EPC_ENERGY_OUT: u8 = 0xE2;
const EPC_INSTANCE_LIST: u8 = 0xD6;
const EPC_SET_MAP: u8 = 0x9E;
const EPC_TIME_HM: u8 = 0x97;
const EPC_DATE: u8 = 0x98;
const EPC_TIME_HMS: u8 = 0xDA;
const EPC_HISTORY_DAY: u8 = 0xD5;
const EPC_HISTORY_IN: u8 = 0xE1;
const EPC_HISTORY_OUT: u8 = 0xE3;

/// EPCs of one day of history (TRM-03 recovery): device ID, unit, AC input and output.
const READ_HISTORY_EPCS: [u8; 4] = [EPC_DEVICE_ID, EPC_UNIT, EPC_HISTORY_IN, EPC_HISTORY_OUT];

/// How many finished TIDs are remembered, so that a second answer to a retransmitted
/// request is told apart from an answer nobody asked for.
const RECENT_TIDS: usize = 64;

/// How the controller behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerConfig {
    /// Our source object; a controller, 05FF01, unless told otherwise.
    pub seoj: Eoj,
    /// How long one attempt of a unicast request waits for its answer.
    pub timeout: Duration,
    /// How many times a unicast request is resent (same frame, same TID) before it times
    /// out: `retries + 1` attempts in all. SetI is sent once: it has no positive answer
    /// to wait for.
    pub retries: u8,
    /// How long a discovery collects answers.
    pub discovery_window: Duration,
    /// The TID of the first request. A runtime that restarts should not start at the
    /// same value each time, so that a late answer to a previous run cannot match.
    pub first_tid: u16,
    /// Surface INF notifications (0x73) as [`Event::Notification`] instead of only
    /// counting them.
    pub surface_notifications: bool,
}

impl Default for ControllerConfig {
    fn default() -> ControllerConfig {
        ControllerConfig {
            seoj: Eoj::CONTROLLER,
            timeout: Duration::from_secs(2),
            retries: 2,
            discovery_window: Duration::from_secs(2),
            first_tid: 1,
            surface_notifications: false,
        }
    }
}

/// Identifies one request from its start to its final event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Where a datagram goes: the runtime adds port 3610 ([`echonet::PORT`]), or uses the
/// ECHONET Lite group of its address family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    Unicast(IpAddr),
    Multicast,
}

/// One datagram to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub destination: Destination,
    pub bytes: Vec<u8>,
}

impl Transmit {
    /// The socket address to send to: port 3610 of the unicast address, or `group`.
    pub fn socket_addr(&self, group: SocketAddr) -> SocketAddr {
        match self.destination {
            Destination::Unicast(ip) => SocketAddr::new(ip, echonet::PORT),
            Destination::Multicast => group,
        }
    }
}

/// A request that cannot be started.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RequestError {
    /// Get and Set need at least one property.
    #[error("a request needs at least one property")]
    NoProperties,
    /// Answers would come from another address than the one asked, so they could never
    /// be matched (SEC-06).
    #[error("{0} is not a unicast address; use discover() for the group")]
    NotUnicast(IpAddr),
    /// `read_meter` reads class 0x028E only.
    #[error("{0} is not a distributed generation meter object (class 028E)")]
    NotAMeter(Eoj),
    /// Every one of the 65,536 TIDs is waiting for an answer.
    #[error("no free TID: 65536 requests outstanding")]
    NoFreeTid,
    /// The request does not fit in a frame (too many properties, EDT too long).
    #[error("request does not fit an ECHONET Lite frame: {0}")]
    Encode(#[from] FrameError),
    /// A value to write is out of its property's range (a history day above 999).
    #[error("value out of range: {0}")]
    Value(ValueError),
}

/// What the controller received and sent, for logs, tests and SEC-06/SEC-08 evidence.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ControllerStats {
    /// Datagrams handed to the runtime, retransmissions included.
    pub sent: u64,
    /// Of those, retransmissions after a timeout.
    pub retransmissions: u64,
    /// Answers matched to a request.
    pub answers: u64,
    /// Datagrams that are not ECHONET Lite frames.
    pub malformed: u64,
    /// Well-formed frames nobody asked for: requests addressed to us (we serve none,
    /// SEC-06), format 2 frames, responses with a TID we never used or no longer track.
    pub unsolicited: u64,
    /// Answers with the TID of a pending request from the wrong IP address, the wrong
    /// object or with a service that does not answer the request (SEC-06).
    pub mismatched: u64,
    /// Answers to a request that already has its answer or has ended: the second answer
    /// to a retransmitted frame, a node answering one discovery twice.
    pub late: u64,
    /// INF notifications (0x73).
    pub notifications: u64,
    /// Discovery answers whose instance list was refused or did not decode.
    pub bad_values: u64,
}

/// A node found by discovery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiscoveredNode {
    pub addr: IpAddr,
    /// The node profile object that answered (0EF001 normally).
    pub node_profile: Eoj,
    /// Its instance list (0xD6): the device objects the node holds.
    pub instances: Vec<Eoj>,
}

/// One reading of the meter, typed (TRM-03, TRM-07).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MeterReadout {
    pub from: IpAddr,
    /// The meter object that answered.
    pub eoj: Eoj,
    /// 0xD1, so that the SM system can tell a swapped meter (SEC-07).
    #[serde(serialize_with = "hex")]
    pub device_id: Vec<u8>,
    /// 0xD4.
    pub unit: EnergyUnit,
    /// 0xE0 as the meter sent it, 9 digits.
    pub counter_in: u32,
    /// 0xE2 as the meter sent it, 9 digits.
    pub counter_out: u32,
    /// AC input (forward flow), lower 8 digits kept (TRM-03).
    pub input: MeterReading,
    /// AC output (reverse flow), lower 8 digits kept (TRM-03).
    pub output: MeterReading,
}

/// One day of the meter's 30-minute history (0xE1, 0xE3), typed: slot `k` is the
/// cumulative energy at `00:00 + k × 30 min` (the meter's local time) of the day `day`
/// days before the meter's today, lower 8 digits kept (TRM-03); `None`: not measured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryReadout {
    pub from: IpAddr,
    /// The meter object that answered.
    pub eoj: Eoj,
    /// 0xD1, read with the history (SEC-07).
    #[serde(serialize_with = "hex")]
    pub device_id: Vec<u8>,
    /// 0xD4.
    pub unit: EnergyUnit,
    /// Days before the meter's today.
    pub day: u16,
    /// AC input, 48 slots.
    pub input: Vec<Option<MeterReading>>,
    /// AC output, 48 slots.
    pub output: Vec<Option<MeterReading>>,
}

/// Why a meter reading failed. Values outside the class's range are reported, never
/// reduced or clamped: a silently altered reading is worse than none.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReadMeterError {
    #[error("no answer after every attempt")]
    Timeout,
    /// The meter answered Get_SNA.
    #[error("meter refused {}", epc_list(failed))]
    Refused { esv: Esv, failed: Vec<u8> },
    /// The Get_Res lacks a property we asked for.
    #[error("answer lacks EPC 0x{epc:02X}")]
    Missing { epc: u8 },
    /// A property does not decode, e.g. 0xE0 above 999,999,999.
    #[error("EPC 0x{epc:02X}: {error}")]
    Value {
        epc: u8,
        #[source]
        error: ValueError,
    },
    /// The history answered is of another day than the one set in 0xD5.
    #[error("history of day {got} answered, day {asked} asked for")]
    WrongDay { asked: u16, got: u16 },
}

/// Which property pair set the meter's clock (TRM-09).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ClockMethod {
    /// 0x98 (YYYY MM DD) and 0xDA (hh mm ss) of class 0x028E.
    DateAndTimeHms,
    /// 0x98 (YYYY MM DD) and the super class's 0x97 (hh mm).
    DateAndTimeHm,
}

impl ClockMethod {
    /// The EPCs written, date first.
    pub fn epcs(self) -> [u8; 2] {
        match self {
            ClockMethod::DateAndTimeHms => [EPC_DATE, EPC_TIME_HMS],
            ClockMethod::DateAndTimeHm => [EPC_DATE, EPC_TIME_HM],
        }
    }
}

/// A clock the meter accepted (TRM-09).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClockSetOutcome {
    pub from: IpAddr,
    pub eoj: Eoj,
    pub method: ClockMethod,
    /// The JST date and time written; seconds are dropped by [`ClockMethod::DateAndTimeHm`].
    pub written: NaiveDateTime,
}

/// The step of `set_clock` that timed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockStep {
    /// The Get of the Set property map 0x9E.
    ReadSetMap,
    /// The SetC of date and time.
    Write,
}

/// Why the meter's clock was not set (TRM-09).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ClockError {
    #[error("no answer after every attempt ({step:?})")]
    Timeout { step: ClockStep },
    /// The Get of 0x9E was answered with an SNA.
    #[error("meter refused to tell its Set property map (0x9E)")]
    MapRefused,
    /// 0x9E did not decode.
    #[error("EPC 0x{epc:02X}: {error}")]
    Value {
        epc: u8,
        #[source]
        error: ValueError,
    },
    /// Neither 0x98 + 0xDA nor 0x98 + 0x97 are in the Set property map.
    #[error("clock not settable: Set property map is {set_map}")]
    NotSettable { set_map: PropertyMap },
    /// The SetC was answered SetC_SNA.
    #[error("meter refused to set {}", epc_list(failed))]
    Refused { failed: Vec<u8> },
    /// The time to write is outside what 0x98 can carry (years 1..=9999).
    #[error("{time} cannot be written to 0x98")]
    Unrepresentable { time: NaiveDateTime },
    /// The SetC could not be started.
    #[error("cannot send the SetC: {0}")]
    Request(#[source] RequestError),
}

/// What happened, as typed outcomes. Each request ends with exactly one final event;
/// [`Event::Discovered`] and [`Event::Notification`] are the only others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Get_Res or Set_Res to [`Controller::get`] / [`Controller::set`].
    Response {
        id: RequestId,
        from: IpAddr,
        seoj: Eoj,
        esv: Esv,
        props: Vec<Property>,
    },
    /// An SNA: `failed` lists the EPCs asked for and not served (in a Get answer those
    /// without data, in a Set answer those echoed with data, and any left out).
    Sna {
        id: RequestId,
        from: IpAddr,
        seoj: Eoj,
        esv: Esv,
        failed: Vec<u8>,
        props: Vec<Property>,
    },
    /// No answer to a Get or SetC after `retries + 1` attempts.
    Timeout { id: RequestId },
    /// A SetI drew no SetI_SNA within the timeout: presumably accepted, which is all a
    /// SetI can ever tell.
    NoSna { id: RequestId },
    /// A node answered a discovery (at most once per address per discovery).
    Discovered { id: RequestId, node: DiscoveredNode },
    /// The discovery window closed.
    DiscoveryDone { id: RequestId, nodes: usize },
    /// Outcome of [`Controller::read_meter`].
    MeterRead {
        id: RequestId,
        result: Result<MeterReadout, ReadMeterError>,
    },
    /// Outcome of [`Controller::read_history`].
    HistoryRead {
        id: RequestId,
        result: Result<HistoryReadout, ReadMeterError>,
    },
    /// Outcome of [`Controller::set_clock`].
    ClockSet {
        id: RequestId,
        result: Result<ClockSetOutcome, ClockError>,
    },
    /// An INF, surfaced only with [`ControllerConfig::surface_notifications`].
    Notification {
        from: IpAddr,
        seoj: Eoj,
        props: Vec<Property>,
    },
}

impl Event {
    /// The request this event belongs to; `None` for notifications.
    pub fn id(&self) -> Option<RequestId> {
        match self {
            Event::Response { id, .. }
            | Event::Sna { id, .. }
            | Event::Timeout { id }
            | Event::NoSna { id }
            | Event::Discovered { id, .. }
            | Event::DiscoveryDone { id, .. }
            | Event::MeterRead { id, .. }
            | Event::HistoryRead { id, .. }
            | Event::ClockSet { id, .. } => Some(*id),
            Event::Notification { .. } => None,
        }
    }

    /// Whether this event ends its request.
    pub fn is_final(&self) -> bool {
        !matches!(self, Event::Discovered { .. } | Event::Notification { .. })
    }
}

/// Who is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Unicast { ip: IpAddr, deoj: Eoj },
    Multicast,
}

/// What a pending frame is for, and what its answer leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Get,
    Set,
    Discover {
        seen: BTreeSet<IpAddr>,
    },
    ReadMeter,
    ClockMap {
        now_jst: NaiveDateTime,
        asked_at: Instant,
    },
    ClockWrite {
        method: ClockMethod,
        written: NaiveDateTime,
    },
    /// SetC of 0xD5 sent: the day whose history comes next.
    HistoryDay {
        day: u16,
    },
    /// Get of 0xD1, 0xD4, 0xE1, 0xE3 sent for `day`.
    HistoryGet {
        day: u16,
    },
}

/// One frame waiting for its answer.
#[derive(Debug, Clone)]
struct Pending {
    id: RequestId,
    target: Target,
    esv: Esv,
    epcs: Vec<u8>,
    bytes: Vec<u8>,
    deadline: Instant,
    retries_left: u8,
    step: Step,
}

/// The terminal-side ECHONET Lite controller. See the module documentation.
#[derive(Debug)]
pub struct Controller {
    config: ControllerConfig,
    next_tid: u16,
    next_id: u64,
    /// Boxed: a map's node holds eleven entries whatever their number, and a node stays
    /// once made (1.4 KiB for the one request a terminal has pending at a time).
    pending: BTreeMap<u16, Box<Pending>>,
    recent: VecDeque<u16>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    stats: ControllerStats,
    /// Warnings about hostile datagrams come out of this budget (SEC-06: counted in
    /// full, logged rate-limited).
    log_budget: crate::log_limit::LogLimiter,
}

impl Controller {
    pub fn new(config: ControllerConfig) -> Controller {
        Controller {
            next_tid: config.first_tid,
            config,
            next_id: 1,
            pending: BTreeMap::new(),
            recent: VecDeque::with_capacity(RECENT_TIDS),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: ControllerStats::default(),
            log_budget: crate::log_limit::LogLimiter::default(),
        }
    }

    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    pub fn stats(&self) -> ControllerStats {
        self.stats
    }

    /// Requests still waiting for an answer, a timeout or the end of their window.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Multicasts a Get of the instance list (0xD6) to the node profile 0EF001 and
    /// collects the answers of every node for [`ControllerConfig::discovery_window`]:
    /// one [`Event::Discovered`] per node, then [`Event::DiscoveryDone`]. Sent once:
    /// a node that misses it announces itself or is found by the next discovery.
    pub fn discover(&mut self, now: Instant) -> Result<RequestId, RequestError> {
        let id = self.new_id();
        let deadline = now + self.config.discovery_window;
        self.start(
            id,
            Target::Multicast,
            Eoj::NODE_PROFILE,
            Esv::Get,
            empty_props(&[EPC_INSTANCE_LIST]),
            deadline,
            0,
            Step::Discover {
                seen: BTreeSet::new(),
            },
        )?;
        Ok(id)
    }

    /// Get of `epcs` from object `deoj` of node `target`: [`Event::Response`],
    /// [`Event::Sna`] or [`Event::Timeout`].
    pub fn get(
        &mut self,
        now: Instant,
        target: IpAddr,
        deoj: Eoj,
        epcs: &[u8],
    ) -> Result<RequestId, RequestError> {
        let id = self.new_id();
        self.unicast(
            now,
            id,
            target,
            deoj,
            Esv::Get,
            empty_props(epcs),
            Step::Get,
        )?;
        Ok(id)
    }

    /// SetC (`confirmed`) or SetI of `props`: [`Event::Response`], [`Event::Sna`] or
    /// [`Event::Timeout`] for SetC; [`Event::Sna`] or [`Event::NoSna`] for SetI.
    pub fn set(
        &mut self,
        now: Instant,
        target: IpAddr,
        deoj: Eoj,
        props: Vec<Property>,
        confirmed: bool,
    ) -> Result<RequestId, RequestError> {
        let id = self.new_id();
        let esv = if confirmed { Esv::SetC } else { Esv::SetI };
        self.unicast(now, id, target, deoj, esv, props, Step::Set)?;
        Ok(id)
    }

    /// TRM-07: one Get of the device ID 0xD1, the unit 0xD4 and the cumulative energy
    /// 0xE0 (AC input, forward flow) and 0xE2 (AC output, reverse flow), answered with
    /// one [`Event::MeterRead`] holding the typed reading (TRM-03: lower 8 digits kept).
    pub fn read_meter(
        &mut self,
        now: Instant,
        target: IpAddr,
        deoj: Eoj,
    ) -> Result<RequestId, RequestError> {
        if deoj.class_code() != ClassCode::DISTRIBUTED_GENERATION_METER {
            return Err(RequestError::NotAMeter(deoj));
        }
        let id = self.new_id();
        let props = empty_props(&READ_METER_EPCS);
        self.unicast(now, id, target, deoj, Esv::Get, props, Step::ReadMeter)?;
        Ok(id)
    }

    /// TRM-03 recovery: one day of the meter's 30-minute history, `day` days before the
    /// meter's today — a SetC of 0xD5, then one Get of 0xD1, 0xD4, 0xE1 and 0xE3 —,
    /// answered with one [`Event::HistoryRead`].
    pub fn read_history(
        &mut self,
        now: Instant,
        target: IpAddr,
        deoj: Eoj,
        day: u16,
    ) -> Result<RequestId, RequestError> {
        if deoj.class_code() != ClassCode::DISTRIBUTED_GENERATION_METER {
            return Err(RequestError::NotAMeter(deoj));
        }
        let id = self.new_id();
        let edt = MeterProperty::HistoryDay(day)
            .encode()
            .map_err(RequestError::Value)?;
        let props = vec![Property::new(EPC_HISTORY_DAY, edt)];
        self.unicast(
            now,
            id,
            target,
            deoj,
            Esv::SetC,
            props,
            Step::HistoryDay { day },
        )?;
        Ok(id)
    }

    /// TRM-09: sets the meter's clock to `now_jst` (JST, as the meter keeps it), ending
    /// with one [`Event::ClockSet`]. The Set property map 0x9E is read first: with 0x98
    /// and 0xDA settable, both are written in one SetC (date, then hh mm ss); else with
    /// 0x98 and 0x97, those (date, then hh mm); else the meter's clock is not settable.
    /// The time written is `now_jst` plus the time spent reading the map.
    pub fn set_clock(
        &mut self,
        now: Instant,
        target: IpAddr,
        deoj: Eoj,
        now_jst: NaiveDateTime,
    ) -> Result<RequestId, RequestError> {
        let id = self.new_id();
        let step = Step::ClockMap {
            now_jst,
            asked_at: now,
        };
        let props = empty_props(&[EPC_SET_MAP]);
        self.unicast(now, id, target, deoj, Esv::Get, props, step)?;
        Ok(id)
    }

    /// Forgets a request without an event; its answers will count as late.
    pub fn cancel(&mut self, id: RequestId) -> bool {
        let tids: Vec<u16> = self
            .pending
            .iter()
            .filter(|(_, p)| p.id == id)
            .map(|(tid, _)| *tid)
            .collect();
        for tid in &tids {
            self.finish(*tid);
        }
        !tids.is_empty()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        crate::queue::pop_front(&mut self.transmits)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        crate::queue::pop_front(&mut self.events)
    }

    /// When [`Controller::handle_timeout`] must be called next, if anything is pending.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }

    /// Resends what has waited too long and ends what has no attempt left.
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired: Vec<u16> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(tid, _)| *tid)
            .collect();
        for tid in expired {
            let Some(p) = self.pending.get_mut(&tid) else {
                continue;
            };
            let resend = p.target != Target::Multicast && p.retries_left > 0;
            if resend {
                p.retries_left -= 1;
                p.deadline = now + self.config.timeout;
                let transmit = Transmit {
                    destination: destination(p.target),
                    bytes: p.bytes.clone(),
                };
                tracing::debug!(id = %p.id, tid, left = p.retries_left, "no answer yet; resending the same frame");
                self.stats.retransmissions += 1;
                self.queue(transmit);
                continue;
            }
            let Some(p) = self.finish(tid) else {
                continue;
            };
            let id = p.id;
            let event = match p.step {
                Step::Discover { seen } => Event::DiscoveryDone {
                    id,
                    nodes: seen.len(),
                },
                Step::Get => Event::Timeout { id },
                Step::Set if p.esv == Esv::SetI => Event::NoSna { id },
                Step::Set => Event::Timeout { id },
                Step::ReadMeter => Event::MeterRead {
                    id,
                    result: Err(ReadMeterError::Timeout),
                },
                Step::ClockMap { .. } => Event::ClockSet {
                    id,
                    result: Err(ClockError::Timeout {
                        step: ClockStep::ReadSetMap,
                    }),
                },
                Step::ClockWrite { .. } => Event::ClockSet {
                    id,
                    result: Err(ClockError::Timeout {
                        step: ClockStep::Write,
                    }),
                },
                Step::HistoryDay { .. } | Step::HistoryGet { .. } => Event::HistoryRead {
                    id,
                    result: Err(ReadMeterError::Timeout),
                },
            };
            if matches!(event, Event::Timeout { .. } | Event::MeterRead { .. }) {
                tracing::info!(%id, tid, "request timed out");
            }
            self.events.push_back(event);
        }
    }

    /// Takes one received datagram. `from` is its source; only the IP address is
    /// matched, never the port.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let ip = from.ip().to_canonical();
        let msg = match Repr::parse_bytes(bytes) {
            Ok(Repr::Specified(m)) => m,
            Ok(Repr::Arbitrary(a)) => {
                // SEC-06: format 2 is nothing a terminal needs.
                self.stats.unsolicited += 1;
                tracing::debug!(%from, tid = a.tid, "format 2 frame dropped");
                return;
            }
            Err(error) => {
                // SEC-06: hostile or broken input is counted and logged, never trusted.
                self.stats.malformed += 1;
                if let Some(held_back) = self.log_budget.allow_monotonic(now) {
                    tracing::warn!(%from, %error, len = bytes.len(), held_back, "malformed ECHONET Lite datagram dropped");
                }
                return;
            }
        };
        if msg.esv.is_request() || msg.esv == Esv::Infc {
            // SEC-06: the terminal serves no ECHONET Lite object; every request to it,
            // our own looped-back multicast included, is dropped.
            self.stats.unsolicited += 1;
            tracing::debug!(%from, esv = ?msg.esv, tid = msg.tid, deoj = %msg.deoj, "request addressed to the controller dropped");
            return;
        }
        if msg.esv == Esv::Inf {
            self.stats.notifications += 1;
            tracing::debug!(%from, seoj = %msg.seoj, "INF notification");
            if self.config.surface_notifications {
                self.events.push_back(Event::Notification {
                    from: ip,
                    seoj: msg.seoj,
                    props: msg.props,
                });
            }
            return;
        }
        let Some(p) = self.pending.get(&msg.tid) else {
            if self.recent.contains(&msg.tid) {
                self.stats.late += 1;
                tracing::debug!(%from, tid = msg.tid, "answer to a finished request dropped");
            } else {
                self.stats.unsolicited += 1;
                if let Some(held_back) = self.log_budget.allow_monotonic(now) {
                    tracing::warn!(%from, tid = msg.tid, esv = ?msg.esv, held_back, "answer with an unknown TID dropped");
                }
            }
            return;
        };
        if let Err(why) = p.accepts(ip, &msg) {
            // SEC-06: the right TID is not enough.
            self.stats.mismatched += 1;
            if let Some(held_back) = self.log_budget.allow_monotonic(now) {
                tracing::warn!(%from, tid = msg.tid, seoj = %msg.seoj, esv = ?msg.esv, why, held_back, "answer does not match its request; dropped");
            }
            return;
        }
        if msg.deoj.class_code() != self.config.seoj.class_code() {
            // Tolerated: some stacks answer to another DEOJ. Matching above suffices.
            tracing::debug!(%from, deoj = %msg.deoj, "answer addressed to another object");
        }
        if p.target == Target::Multicast {
            self.discovered(msg.tid, ip, msg);
            return;
        }
        let Some(p) = self.finish(msg.tid) else {
            return;
        };
        self.stats.answers += 1;
        self.complete(now, p, ip, msg);
    }

    /// A discovery answer: one event per node address.
    fn discovered(&mut self, tid: u16, ip: IpAddr, msg: Message) {
        let Some(Pending {
            id,
            step: Step::Discover { seen },
            ..
        }) = self.pending.get_mut(&tid).map(|p| &mut **p)
        else {
            return;
        };
        let id = *id;
        if seen.contains(&ip) {
            self.stats.late += 1;
            tracing::debug!(%ip, "node answered the same discovery twice");
            return;
        }
        let list = msg
            .props
            .iter()
            .find(|p| p.epc == EPC_INSTANCE_LIST && !msg.esv.is_sna())
            .map(|p| NodeProfileProperty::decode(EPC_INSTANCE_LIST, &p.edt));
        let instances = match list {
            Some(Ok(NodeProfileProperty::InstanceList(list))) => list,
            Some(Err(error)) => {
                self.stats.bad_values += 1;
                tracing::warn!(%ip, %error, "discovery answer with a bad instance list");
                return;
            }
            _ => {
                self.stats.bad_values += 1;
                tracing::warn!(%ip, esv = ?msg.esv, "discovery answer without an instance list");
                return;
            }
        };
        seen.insert(ip);
        self.stats.answers += 1;
        let list: Vec<String> = instances.iter().map(Eoj::to_string).collect();
        tracing::info!(%ip, instances = %list.join(" "), "node discovered");
        self.events.push_back(Event::Discovered {
            id,
            node: DiscoveredNode {
                addr: ip,
                node_profile: msg.seoj,
                instances,
            },
        });
    }

    /// An answer matched to its unicast request.
    fn complete(&mut self, now: Instant, p: Pending, from: IpAddr, msg: Message) {
        let id = p.id;
        let event = match p.step {
            // Discovery answers go to `discovered`; nothing completes a discovery but its
            // window.
            Step::Discover { .. } => return,
            Step::Get | Step::Set => {
                if msg.esv.is_sna() {
                    let failed = failed_epcs(p.esv, &p.epcs, &msg.props);
                    tracing::info!(%id, %from, esv = ?msg.esv, failed = %epc_list(&failed), "request refused in part");
                    Event::Sna {
                        id,
                        from,
                        seoj: msg.seoj,
                        esv: msg.esv,
                        failed,
                        props: msg.props,
                    }
                } else {
                    Event::Response {
                        id,
                        from,
                        seoj: msg.seoj,
                        esv: msg.esv,
                        props: msg.props,
                    }
                }
            }
            Step::ReadMeter => {
                let result = meter_readout(from, &p.epcs, &msg);
                if let Err(error) = &result {
                    tracing::warn!(%id, %from, %error, "meter reading failed");
                }
                Event::MeterRead { id, result }
            }
            Step::ClockMap { now_jst, asked_at } => {
                let elapsed = now.saturating_duration_since(asked_at);
                let at = now_jst + chrono::Duration::from_std(elapsed).unwrap_or_default();
                match self.clock_write(now, id, from, &msg, at) {
                    Ok(()) => return,
                    Err(error) => {
                        tracing::warn!(%id, %from, %error, "meter clock not set");
                        Event::ClockSet {
                            id,
                            result: Err(error),
                        }
                    }
                }
            }
            Step::HistoryDay { day } => {
                if msg.esv.is_sna() {
                    Event::HistoryRead {
                        id,
                        result: Err(ReadMeterError::Refused {
                            esv: msg.esv,
                            failed: failed_epcs(p.esv, &p.epcs, &msg.props),
                        }),
                    }
                } else {
                    let props = empty_props(&READ_HISTORY_EPCS);
                    let step = Step::HistoryGet { day };
                    match self.unicast(now, id, from, msg.seoj, Esv::Get, props, step) {
                        Ok(()) => return,
                        Err(error) => {
                            tracing::warn!(%id, %from, %error, "history not asked for");
                            Event::HistoryRead {
                                id,
                                result: Err(ReadMeterError::Timeout),
                            }
                        }
                    }
                }
            }
            Step::HistoryGet { day } => {
                let result = history_readout(from, &p.epcs, &msg, day);
                if let Err(error) = &result {
                    tracing::warn!(%id, %from, %error, "meter history not read");
                }
                Event::HistoryRead { id, result }
            }
            Step::ClockWrite { method, written } => {
                let result = if msg.esv.is_sna() {
                    Err(ClockError::Refused {
                        failed: failed_epcs(p.esv, &p.epcs, &msg.props),
                    })
                } else {
                    tracing::info!(%id, %from, %written, ?method, "meter clock set");
                    Ok(ClockSetOutcome {
                        from,
                        eoj: msg.seoj,
                        method,
                        written,
                    })
                };
                Event::ClockSet { id, result }
            }
        };
        self.events.push_back(event);
    }

    /// TRM-09: second step of `set_clock`: choose the properties from the Set map and
    /// send the SetC to the object that answered.
    fn clock_write(
        &mut self,
        now: Instant,
        id: RequestId,
        from: IpAddr,
        msg: &Message,
        at: NaiveDateTime,
    ) -> Result<(), ClockError> {
        if msg.esv.is_sna() {
            return Err(ClockError::MapRefused);
        }
        let edt = msg
            .property(EPC_SET_MAP)
            .map(|p| p.edt.as_slice())
            .unwrap_or_default();
        let set_map = PropertyMap::decode(edt).map_err(|error| ClockError::Value {
            epc: EPC_SET_MAP,
            error,
        })?;
        let method = if set_map.contains(EPC_DATE) && set_map.contains(EPC_TIME_HMS) {
            ClockMethod::DateAndTimeHms
        } else if set_map.contains(EPC_DATE) && set_map.contains(EPC_TIME_HM) {
            ClockMethod::DateAndTimeHm
        } else {
            return Err(ClockError::NotSettable { set_map });
        };
        let at = at.with_nanosecond(0).unwrap_or(at);
        let unrepresentable = || ClockError::Unrepresentable { time: at };
        let date = crate::echonet_date(at).ok_or_else(unrepresentable)?;
        let time = crate::echonet_time(at).ok_or_else(unrepresentable)?;
        let (time_prop, written) = match method {
            ClockMethod::DateAndTimeHms => (MeterProperty::CurrentTime(time).encode(), at),
            // 0x97 carries hours and minutes only.
            ClockMethod::DateAndTimeHm => (
                SuperclassProperty::CurrentTime(TimeOfDay { second: 0, ..time }).encode(),
                at.with_second(0).unwrap_or(at),
            ),
        };
        let time_edt = time_prop.map_err(|_| unrepresentable())?;
        let date_edt = SuperclassProperty::CurrentDate(date)
            .encode()
            .map_err(|_| unrepresentable())?;
        let props = vec![
            Property::new(EPC_DATE, date_edt),
            Property::new(method.epcs()[1], time_edt),
        ];
        let step = Step::ClockWrite { method, written };
        self.unicast(now, id, from, msg.seoj, Esv::SetC, props, step)
            .map_err(ClockError::Request)
    }

    fn new_id(&mut self) -> RequestId {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        id
    }

    #[allow(clippy::too_many_arguments)]
    fn unicast(
        &mut self,
        now: Instant,
        id: RequestId,
        ip: IpAddr,
        deoj: Eoj,
        esv: Esv,
        props: Vec<Property>,
        step: Step,
    ) -> Result<(), RequestError> {
        let ip = ip.to_canonical();
        if !is_unicast(ip) {
            return Err(RequestError::NotUnicast(ip));
        }
        if props.is_empty() {
            return Err(RequestError::NoProperties);
        }
        let retries = if esv == Esv::SetI {
            0
        } else {
            self.config.retries
        };
        let deadline = now + self.config.timeout;
        let target = Target::Unicast { ip, deoj };
        self.start(id, target, deoj, esv, props, deadline, retries, step)
    }

    #[allow(clippy::too_many_arguments)]
    fn start(
        &mut self,
        id: RequestId,
        target: Target,
        deoj: Eoj,
        esv: Esv,
        props: Vec<Property>,
        deadline: Instant,
        retries: u8,
        step: Step,
    ) -> Result<(), RequestError> {
        let tid = self.alloc_tid().ok_or(RequestError::NoFreeTid)?;
        let epcs = props.iter().map(|p| p.epc).collect();
        let bytes = Repr::from(Message::new(tid, self.config.seoj, deoj, esv, props)).to_vec()?;
        self.next_tid = tid.wrapping_add(1);
        tracing::debug!(%id, tid, ?target, ?esv, "request sent");
        self.queue(Transmit {
            destination: destination(target),
            bytes: bytes.clone(),
        });
        self.pending.insert(
            tid,
            Box::new(Pending {
                id,
                target,
                esv,
                epcs,
                bytes,
                deadline,
                retries_left: retries,
                step,
            }),
        );
        Ok(())
    }

    fn queue(&mut self, transmit: Transmit) {
        self.stats.sent += 1;
        self.transmits.push_back(transmit);
    }

    /// The next TID not waiting for an answer.
    fn alloc_tid(&self) -> Option<u16> {
        let mut tid = self.next_tid;
        for _ in 0..=u16::MAX {
            if !self.pending.contains_key(&tid) {
                return Some(tid);
            }
            tid = tid.wrapping_add(1);
        }
        None
    }

    /// Removes a pending frame and remembers its TID, so that more answers count as late.
    fn finish(&mut self, tid: u16) -> Option<Pending> {
        let p = self.pending.remove(&tid)?;
        if self.recent.len() == RECENT_TIDS {
            self.recent.pop_front();
        }
        self.recent.push_back(tid);
        Some(*p)
    }
}

impl Pending {
    /// SEC-06: whether `msg` from `ip` answers this frame (its TID already matched).
    fn accepts(&self, ip: IpAddr, msg: &Message) -> Result<(), &'static str> {
        let answers = self.esv.response() == Some(msg.esv) || self.esv.sna() == Some(msg.esv);
        if !answers {
            return Err("service does not answer the request");
        }
        match self.target {
            Target::Multicast => {
                if msg.seoj.class_code() != ClassCode::NODE_PROFILE {
                    return Err("discovery answer not from a node profile");
                }
            }
            Target::Unicast { ip: asked, deoj } => {
                if ip != asked {
                    return Err("answer from another address than the one asked");
                }
                if !msg.seoj.is_addressed_by(deoj) {
                    return Err("answer from another object than the one asked");
                }
            }
        }
        Ok(())
    }
}

fn destination(target: Target) -> Destination {
    match target {
        Target::Unicast { ip, .. } => Destination::Unicast(ip),
        Target::Multicast => Destination::Multicast,
    }
}

fn is_unicast(ip: IpAddr) -> bool {
    !ip.is_multicast() && !ip.is_unspecified() && ip != IpAddr::V4(Ipv4Addr::BROADCAST)
}

fn empty_props(epcs: &[u8]) -> Vec<Property> {
    epcs.iter().map(|&e| Property::empty(e)).collect()
}

/// The EPCs asked for and not served. In a Get answer a served property has data; in a
/// Set answer an accepted one comes back with PDC 0 and a refused one with the EDT we
/// sent (ECHONET Lite part II, 3.2.5). A property left out of the answer failed too.
fn failed_epcs(request: Esv, asked: &[u8], answer: &[Property]) -> Vec<u8> {
    let set = matches!(request, Esv::SetC | Esv::SetI);
    asked
        .iter()
        .copied()
        .filter(|&epc| {
            !answer
                .iter()
                .any(|p| p.epc == epc && p.edt.is_empty() == set)
        })
        .collect()
}

/// The properties of a meter's Get answer, decoded one at a time (a missing one or a value
/// out of range is an error); an SNA is refused.
fn meter_properties<'m>(
    asked: &[u8],
    msg: &'m Message,
) -> Result<impl Fn(u8) -> Result<MeterProperty, ReadMeterError> + 'm, ReadMeterError> {
    if msg.esv.is_sna() {
        return Err(ReadMeterError::Refused {
            esv: msg.esv,
            failed: failed_epcs(Esv::Get, asked, &msg.props),
        });
    }
    Ok(move |epc: u8| -> Result<MeterProperty, ReadMeterError> {
        let p = msg
            .props
            .iter()
            .find(|p| p.epc == epc)
            .ok_or(ReadMeterError::Missing { epc })?;
        MeterProperty::decode(epc, &p.edt).map_err(|error| ReadMeterError::Value { epc, error })
    })
}

/// A property that decoded as another one than asked.
const fn unexpected(epc: u8) -> ReadMeterError {
    ReadMeterError::Value {
        epc,
        error: ValueError::UnknownProperty {
            class: ClassCode::DISTRIBUTED_GENERATION_METER.0,
            epc,
        },
    }
}

/// TRM-03 recovery: decode a read_history answer, refusing anything out of range and a
/// history of another day than asked.
fn history_readout(
    from: IpAddr,
    asked: &[u8],
    msg: &Message,
    day: u16,
) -> Result<HistoryReadout, ReadMeterError> {
    let decode = meter_properties(asked, msg)?;
    let MeterProperty::DeviceId(device_id) = decode(EPC_DEVICE_ID)? else {
        return Err(unexpected(EPC_DEVICE_ID));
    };
    let MeterProperty::Unit(unit) = decode(EPC_UNIT)? else {
        return Err(unexpected(EPC_UNIT));
    };
    let MeterProperty::HistoryIn(input) = decode(EPC_HISTORY_IN)? else {
        return Err(unexpected(EPC_HISTORY_IN));
    };
    let MeterProperty::HistoryOut(output) = decode(EPC_HISTORY_OUT)? else {
        return Err(unexpected(EPC_HISTORY_OUT));
    };
    for h in [&input, &output] {
        if h.day != day {
            return Err(ReadMeterError::WrongDay {
                asked: day,
                got: h.day,
            });
        }
    }
    let slots = |epc: u8, h: &echonet::objects::History| {
        h.slots
            .iter()
            .map(|v| {
                v.map(|counter| MeterReading::from_counter(counter, unit))
                    .transpose()
                    .map_err(|error| ReadMeterError::Value { epc, error })
            })
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(HistoryReadout {
        from,
        eoj: msg.seoj,
        device_id,
        unit,
        day,
        input: slots(EPC_HISTORY_IN, &input)?,
        output: slots(EPC_HISTORY_OUT, &output)?,
    })
}

fn meter_readout(
    from: IpAddr,
    asked: &[u8],
    msg: &Message,
) -> Result<MeterReadout, ReadMeterError> {
    let decode = meter_properties(asked, msg)?;
    let MeterProperty::DeviceId(device_id) = decode(EPC_DEVICE_ID)? else {
        return Err(unexpected(EPC_DEVICE_ID));
    };
    let MeterProperty::Unit(unit) = decode(EPC_UNIT)? else {
        return Err(unexpected(EPC_UNIT));
    };
    let MeterProperty::CumulativeIn(counter_in) = decode(EPC_ENERGY_IN)? else {
        return Err(unexpected(EPC_ENERGY_IN));
    };
    let MeterProperty::CumulativeOut(counter_out) = decode(EPC_ENERGY_OUT)? else {
        return Err(unexpected(EPC_ENERGY_OUT));
    };
    let reading = |epc: u8, counter: u32| {
        MeterReading::from_counter(counter, unit)
            .map_err(|error| ReadMeterError::Value { epc, error })
    };
    Ok(MeterReadout {
        from,
        eoj: msg.seoj,
        device_id,
        unit,
        counter_in,
        counter_out,
        input: reading(EPC_ENERGY_IN, counter_in)?,
        output: reading(EPC_ENERGY_OUT, counter_out)?,
    })
}

/// `[E0, F0]` for messages.
fn epc_list(epcs: &[u8]) -> String {
    let mut s = String::from("[");
    for (i, e) in epcs.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&format!("{e:02X}"));
    }
    s.push(']');
    s
}

fn hex<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    let text: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    s.serialize_str(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec06_failed_epcs_follow_the_sna_convention_of_each_service() {
        let get_answer = [Property::new(0xE0, [1, 2, 3, 4]), Property::empty(0xF0)];
        assert_eq!(
            failed_epcs(Esv::Get, &[0xE0, 0xF0, 0xD1], &get_answer),
            [0xF0, 0xD1]
        );
        let set_answer = [Property::empty(0x98), Property::new(0xDA, [1, 2, 3])];
        assert_eq!(failed_epcs(Esv::SetC, &[0x98, 0xDA], &set_answer), [0xDA]);
    }

    #[test]
    fn tids_in_use_are_skipped_and_wrap() {
        let config = ControllerConfig {
            first_tid: u16::MAX,
            ..ControllerConfig::default()
        };
        let mut c = Controller::new(config);
        let now = Instant::now();
        let ip: IpAddr = "127.0.0.2"
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        c.get(now, ip, Eoj::NODE_PROFILE, &[0x80]).unwrap();
        c.get(now, ip, Eoj::NODE_PROFILE, &[0x80]).unwrap();
        assert_eq!(c.pending.keys().copied().collect::<Vec<_>>(), [0, u16::MAX]);
        c.next_tid = 0;
        assert_eq!(c.alloc_tid(), Some(1));
    }

    #[test]
    fn epc_list_formats_hex() {
        assert_eq!(epc_list(&[0xE0, 0x0F]), "[E0, 0F]");
        assert_eq!(epc_list(&[]), "[]");
    }
}
