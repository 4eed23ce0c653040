//! The whole system in one process (`iotroute sim`): N wireless terminals and M smart
//! meters over the simulated 920 MHz radio ([`crate::Medium`]), in virtual time, as fast
//! as the machine goes.
//!
//! Each terminal is whole on its way from the meter: its own emulated 0x028E meter
//! (`nodes::meter`, a household with PV) read over ECHONET Lite at every boundary (30 or 15 min)
//! into the terminal's store by its node (`nodes::terminal::node`), whose DLMS/COSEM
//! model (the store's view) it serves (`dlms::server::TerminalServer`) over the link of
//! `nodes::link::terminal` (scan with the Pairing ID, strongest smart meter, PANA +
//! EAP-PSK). So a reading goes meter → ECHONET → store → DLMS → CCM* link → smart meter,
//! and the summary says whether what the smart meters received equals what each meter
//! counted when its terminal read it for the slot. The terminals' clocks start unset; each
//! smart meter sets a terminal's clock in its first reading session (TRM-09), and the
//! terminal then sets its meter's. Each smart meter runs `nodes::link::smartmeter` (beacons,
//! PAA, group-key rollover every simulated hour) and, at every slot, reads each of its
//! terminals with `dlms::client` over the secured link: association (LLS), both energy
//! registers, and the load profile of the last six hours by range — a response that
//! spans several frames, so 6LoWPAN fragments it. A reading counts when the slot's row
//! arrives; a later reading's six-hour range fills in a slot an earlier one missed
//! (backfill), so loss delays readings without losing them.
//!
//! Output ([`Run`]): every frame on the air as a pcap (link type 283, RSS and channel per
//! frame) to the writer given, every group key used in Wireshark's key-table form, and a
//! [`Report`]: ok only if every scheduled reading arrived with the meter's values.
//! Deterministic: the same seed gives the same run.
//!
//! Topology **(ours)**: smart meters outdoors 40 m apart on a street, each on its own
//! odd channel from 33; terminal k indoors 8-14 m from smart meter k mod M; passwords
//! and IDs per terminal. The run covers the slots starting in `[start, start + duration)`
//! (`--start`, 2026-04-01 00:00 JST by default); virtual time 0 is 20 minutes before the
//! first boundary so that the links are up when it is read, and the run goes on after the
//! last until the head end has every slot (backfill settled) or a day has passed.

use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use chrono::{DateTime, Utc};
use dlms::relay::message::Command;
use dlms::text::jst;
use headend::commands::{NewPassword, Setting};
use nodes::app::entropy::Seeded;
use nodes::app::linked::LinkedTerminal;
use nodes::app::reader::{Carried, Reader};
use nodes::app::secrets::TerminalSecrets;
use nodes::app::server::TerminalApp;
use nodes::app::smartmeter::{Arrived, Routed, SmartMeterApp};
use nodes::app::DLMS_PORT;
use nodes::link::mac::MacConfig;
use nodes::link::net::NetConfig;
use nodes::link::pana::paa::{PaaConfig, Registry};
use nodes::link::pana::PanaTimers;
use nodes::link::profile::LinkProfile;
use nodes::link::smartmeter::{JoinWindow, SmartMeter, SmartMeterConfig, SmartMeterEvent};
use nodes::link::terminal::{Terminal, TerminalConfig, TerminalEvent};
use nodes::terminal::slots::Interval;
use nodes::terminal::store::SharedStore;
use pana::psk::identity_from_eui64;
use pana::secret::Psk;
use pana::AuthFailure;
use wisun::mac::fcs::FcsKind;
use wisun::mac::Eui64;
use wisun::pcap::tap::TapHeader;
use wisun::pcap::{Writer, LINKTYPE_IEEE802_15_4_TAP};
use wisun::PairingId;

use crate::{Medium, NodeId, Outcome, PhyConfig, Position, PropagationConfig};

mod a_route;
mod head_end;
mod meter_side;
mod public;
mod report;
mod tally;

pub use report::{CommandRecord, Report, SlotRecord, SystemFigures, TerminalRecord};
use tally::SlotArrival;

/// What the run is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Wireless terminals.
    pub terminals: u32,
    /// Smart meters.
    pub smartmeters: u32,
    /// The run's start: its slots start at the first boundary at or after it.
    pub start: DateTime<Utc>,
    /// How much time from the start the run's slots cover.
    pub duration: Duration,
    /// Every terminal's reading interval, and its points' in the registry (TRM-03,
    /// TRM-11).
    pub interval: Interval,
    /// Seed of everything random.
    pub seed: u64,
    /// Extra frame loss at every receiver, 0..1 (on top of the radio model).
    pub loss: f64,
    /// Each terminal's meter (unit, power profile); its counters start apart per home.
    pub meter: nodes::meter::MeterConfig,
    /// The database file the head end's registry and the MDMS are kept in (when
    /// `None`: the registry in memory, the MDMS in a scratch file removed at the end).
    pub db: Option<std::path::PathBuf>,
    /// Points the head end blocks for a while (OPS-07).
    pub blocks: Vec<BlockPlan>,
    /// Smart meters out of power for a while.
    pub outages: Vec<OutagePlan>,
    /// The head end killed (-9) and started again on its database.
    pub headend_kills: Vec<KillPlan>,
    /// Terminal reboots, at seeded times and terminals: each keeps its store (SQLite on
    /// the device) and loses everything in memory (its link, pushes held, clock offset).
    pub reboots: u32,
    /// Meters swapped for another (SEC-07) at seeded times and points: the terminal
    /// flags what it reads from then on and tells its smart meter, which relays it.
    pub wrong_meters: u32,
    /// Attackers claiming a registered terminal's ID with a wrong password.
    pub wrong_passwords: u32,
    /// Attackers scanning for another Pairing ID.
    pub wrong_pairings: u32,
    /// Floods of a terminal's ECHONET Lite side from another address (SEC-08), at
    /// seeded times and terminals: a second of datagrams at 2,000/s.
    pub floods: u32,
    /// How long each smart meter uses a group key before rolling in the next (SEC-03).
    pub key_period: core::time::Duration,
    /// Operator commands recorded in the head end's database at seeded times and
    /// points, in turn set-clock (TRM-09), set-password (TRM-08, a seeded new password)
    /// and set-interval (TRM-11, the interval the run's terminals are not on), each
    /// carried out by the point's smart meter.
    pub commands: u32,
}

/// Smart meter `smart_meter` out of power from `from` to `to` (from the run's
/// start): silent on the air and the A route, then booting afresh (new keys, its
/// terminals rejoining, the head end registering them again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutagePlan {
    /// Its EUI-64.
    pub smart_meter: [u8; 8],
    /// Off at.
    pub from: Duration,
    /// On again at.
    pub to: Duration,
}

/// The head end killed at `from` and started again at `to` (from the run's start).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillPlan {
    /// Killed at.
    pub from: Duration,
    /// Started again at.
    pub to: Duration,
}

/// A point blocked from `from` to `to` (from the run's start), reason `sim`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockPlan {
    /// The supply point.
    pub point: String,
    /// Blocked at.
    pub from: Duration,
    /// Reconnected at.
    pub to: Duration,
}

/// Why a run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum SystemError {
    /// The system could not be set up as asked.
    #[error("set-up: {0}")]
    Setup(String),
    /// A node failed.
    #[error("{0}")]
    Node(String),
}

/// What a run gives back.
#[derive(Debug)]
pub struct Run {
    /// The summary.
    pub report: Report,
    /// Every group key the smart meters used, one per line in Wireshark's key-table form
    /// `"<32 hex digits>","<key index>","No hash"`.
    pub keys: String,
}

/// How long each terminal has been reading its meter when the run starts.
const HISTORY: chrono::Duration = chrono::Duration::hours(6);

/// A DLMS request from a smart meter's `link` to `terminal` (a failure logged: the
/// session's timeout starts it again).
fn send(link: &mut SmartMeter, now: Duration, terminal: [u8; 8], request: Vec<u8>) {
    if let Err(e) = link.send_udp(now, Eui64(terminal), (DLMS_PORT, DLMS_PORT), request) {
        tracing::debug!(error = %e, "DLMS request not sent");
    }
}

/// A meter's `counter` in Wh, lower 8 digits.
fn wh_of(meter: &nodes::meter::Meter, counter: u32) -> u32 {
    echonet::energy::MeterReading::from_counter(counter, meter.config().unit)
        .map(|r| u32::try_from(r.energy().wh() % 100_000_000).unwrap_or(0))
        .unwrap_or(0)
}

/// What `meter` counts now, Wh (in, out), lower 8 digits.
fn counted(meter: &nodes::meter::Meter) -> (u32, u32) {
    let state = meter.state();
    (
        wh_of(meter, state.counter(nodes::meter::Channel::Input)),
        wh_of(meter, state.counter(nodes::meter::Channel::Output)),
    )
}

/// What `meter`'s own 30-minute history holds for the boundary `at` (JST on the meter's
/// clock), Wh (in, out), lower 8 digits.
fn recorded(meter: &nodes::meter::Meter, at: DateTime<Utc>) -> Option<(u32, u32)> {
    use chrono::Timelike as _;
    let local = at.with_timezone(&jst()).naive_local();
    let seconds = local.num_seconds_from_midnight();
    if seconds % 1800 != 0 {
        return None;
    }
    let day = meter.state().history.get(&local.date())?;
    let k = usize::try_from(seconds / 1800).ok()?;
    let (i, o) = (
        day.get(nodes::meter::Channel::Input, k)?,
        day.get(nodes::meter::Channel::Output, k)?,
    );
    Some((wh_of(meter, i), wh_of(meter, o)))
}

/// How often a smart meter reads each of its terminals on its own: as far back as a
/// reading reads (six hours), less one slot, so that consecutive readings overlap.
const READ_EVERY: Duration = Duration::from_secs(5 * 3600 + 1800);

/// Virtual time 0 before the first boundary: the terminals power up within 20 s, scan,
/// authenticate and are linked when it is read.
const LEAD: Duration = Duration::from_secs(20 * 60);

/// After the last boundary the run goes on until the head end has every slot, at most
/// this long (its backfills back off to six hours between tries).
const SETTLE_MAX: Duration = Duration::from_secs(24 * 3600);

/// How often, once the run's time is over, it asks whether backfill has settled.
const SETTLE_CHECK: Duration = Duration::from_secs(60);

/// Terminal k's EUI-64 (ours): `02:1A:00:00` and 0x1000 + k (`…:00:00:10:01` for the
/// first).
fn terminal_eui(k: u32) -> Eui64 {
    let [a, b, c, d] = (0x1000 + k).to_be_bytes();
    Eui64([0x02, 0x1A, 0x00, 0x00, a, b, c, d])
}

/// The terminal number of an EUI-64 of [`terminal_eui`].
fn terminal_of(eui: [u8; 8]) -> u32 {
    u32::from_be_bytes([eui[4], eui[5], eui[6], eui[7]]).wrapping_sub(0x1000)
}

/// Smart meter i's EUI-64 (ours): `02:5A:00:00` and 0x2000 + i.
fn meter_eui(i: u32) -> Eui64 {
    let [a, b, c, d] = (0x2000 + i).to_be_bytes();
    Eui64([0x02, 0x5A, 0x00, 0x00, a, b, c, d])
}

/// What a seeded stream of randomness is for: each use, node and boot has its own, so
/// that no two share one whatever the run's size.
#[derive(Debug, Clone, Copy)]
enum Use {
    SmartMeterLink = 1,
    SmartMeterReader = 2,
    SmartMeterSchedule = 3,
    TerminalLink = 4,
    TerminalApp = 5,
}

/// The stream of `what` for node `index` after `boots` boots: the use in the top byte,
/// the boot in the next 24 bits, the node in the low 32 (the run's own streams, 1 to 5,
/// have a zero top byte).
fn stream_of(what: Use, index: u32, boots: u64) -> u64 {
    ((what as u64) << 56) | ((boots & 0xFF_FFFF) << 32) | u64::from(index)
}

/// Each terminal's password (12 characters, ours).
fn password_of(k: u32) -> Vec<u8> {
    format!("IOTPASS{k:05}").into_bytes()
}

/// The smart meter (index) a terminal's home is next to, and the head end registers it
/// with.
fn home_of(k: u32, smartmeters: u32) -> u32 {
    (k - 1) % smartmeters.max(1)
}

/// Whether terminal k is in the registry: the first four at each smart meter (SYS-03);
/// any more are there, unregistered, as a smart meter would meet them.
fn registered(k: u32, smartmeters: u32) -> bool {
    usize::try_from((k - 1) / smartmeters.max(1))
        .is_ok_and(|n| n < headend::registry::TERMINALS_PER_SMART_METER)
}

/// The terminals whose home is smart meter `i` and that the head end registers with it.
fn terminals_of(i: u32, terminals: u32, smartmeters: u32) -> impl Iterator<Item = u32> {
    let m = smartmeters.max(1);
    (i + 1..=terminals)
        .step_by(usize::try_from(m).unwrap_or(1))
        .filter(move |k| registered(*k, m))
}

/// Retailers the run's points are spread over (ours: five-character codes).
/// The retailers of the run's registry.
pub const RETAILERS: [&str; 3] = ["A0019", "B0029", "C0039"];

/// The run's registry: terminal k serves supply point `09…k` (Kyushu) behind its home
/// smart meter, read every `opts.interval`, for one of [`RETAILERS`] (the first four at each
/// smart meter).
fn registry_of(
    opts: &Options,
    pairing: PairingId,
) -> Result<Vec<headend::registry::DevicePoint>, String> {
    (1..=opts.terminals)
        .filter(|k| registered(*k, opts.smartmeters))
        .map(|k| {
            Ok(headend::registry::DevicePoint {
                supply_point: format!("09{:020}", 100_000 + u64::from(k))
                    .parse()
                    .map_err(|e: mdms::IdError| e.to_string())?,
                terminal_id: terminal_eui(k),
                pairing_id: pairing,
                smart_meter: meter_eui(home_of(k, opts.smartmeters) + 1),
                meter_id: None,
                interval: opts.interval,
                retailer: RETAILERS[usize::try_from(k).unwrap_or(0) % RETAILERS.len()]
                    .parse()
                    .map_err(|e: headend::point::RetailerError| e.to_string())?,
            })
        })
        .collect()
}

/// `n` faults at seeded times within the run (not in its first and last hour), each of a
/// seeded terminal: (virtual time, terminal number), from the seed's stream `stream`;
/// the run starts `lead` into virtual time.
fn seeded_events(opts: &Options, lead: Duration, stream: u64, n: u32) -> BTreeSet<(Duration, u32)> {
    let rng = Seeded::new(opts.seed, stream);
    (0..n)
        .map(|_| {
            let at = seeded_time(opts, lead, &rng);
            let k = 1 + u32::try_from(rng.next() % u64::from(opts.terminals)).unwrap_or(0);
            (at, k)
        })
        .collect()
}

/// A seeded time within the run, not in its first and last hour (virtual time; the run
/// starts `lead` into it).
fn seeded_time(opts: &Options, lead: Duration, rng: &Seeded) -> Duration {
    let span = opts
        .duration
        .saturating_sub(Duration::from_secs(7200))
        .as_secs()
        .max(1);
    lead + Duration::from_secs(3600 + rng.next() % span)
}

/// An operator's command the run records in the head end's database: (virtual time, the
/// point, what it sets).
type PlannedCommand = (Duration, mdms::SupplyPoint, Setting);

/// `opts.commands` operator commands at seeded times within the run (not in its first
/// and last hour), each for a seeded point of `points`, in time order; the first a
/// set-clock (TRM-09), the next a set-password (TRM-08: a seeded new password of 8 to 32
/// printable bytes), the third a set-interval (TRM-11: to the interval the run's
/// terminals are not on), and so on in turn.
///
/// # Errors
/// A password the head end would not take (none is made so).
fn seeded_commands(
    opts: &Options,
    lead: Duration,
    points: &[headend::registry::DevicePoint],
) -> Result<VecDeque<PlannedCommand>, String> {
    if points.is_empty() {
        return Ok(VecDeque::new());
    }
    let rng = Seeded::new(opts.seed, 6);
    let count = u64::try_from(points.len()).unwrap_or(1);
    let mut planned: Vec<(Duration, usize)> = (0..opts.commands)
        .map(|_| {
            let at = seeded_time(opts, lead, &rng);
            (at, usize::try_from(rng.next() % count).unwrap_or(0))
        })
        .collect();
    planned.sort_unstable();
    planned
        .into_iter()
        .enumerate()
        .map(|(i, (at, p))| {
            let setting = match i % 3 {
                0 => Setting::Clock,
                1 => Setting::Password(seeded_password(&rng)?),
                _ => Setting::Interval(match opts.interval {
                    Interval::Half => Interval::Quarter,
                    Interval::Quarter => Interval::Half,
                }),
            };
            Ok((at, points[p].supply_point.clone(), setting))
        })
        .collect()
}

/// A new authentication password (TRM-08): 8 to 32 bytes of printable ASCII, from `rng`.
fn seeded_password(rng: &Seeded) -> Result<NewPassword, String> {
    let length = 8 + rng.next() % 25;
    let bytes = (0..length)
        .map(|_| 0x21 + u8::try_from(rng.next() % 94).unwrap_or(0))
        .collect();
    NewPassword::new(bytes).map_err(|e| e.to_string())
}

/// The events of `events` due by `now`, taken out in time order (each is a tuple whose
/// first field is its time).
fn take_due<T: Ord + HasTime>(events: &mut BTreeSet<T>, now: Duration) -> Vec<T> {
    let mut due = Vec::new();
    while events.first().is_some_and(|e| e.time() <= now) {
        due.extend(events.pop_first());
    }
    due
}

/// A planned event's time.
trait HasTime {
    fn time(&self) -> Duration;
}

impl<A> HasTime for (Duration, A) {
    fn time(&self) -> Duration {
        self.0
    }
}

impl<A, B> HasTime for (Duration, A, B) {
    fn time(&self) -> Duration {
        self.0
    }
}

/// Each smart meter's channel: odd ones from 33 to 59, used again every 14 smart meters
/// (560 m apart along the street: out of each other's range).
fn channel_of(i: u32) -> u8 {
    33 + 2 * u8::try_from(i % 14).unwrap_or(0)
}

/// Every channel a smart meter of the run may be on.
fn channels_of(smartmeters: u32) -> Vec<u8> {
    (0..smartmeters.min(14)).map(channel_of).collect()
}

/// Terminal k's password as a smart meter that `kept` the passwords the head end's
/// commands changed knows it: the one kept (TRM-08), else the one it was installed with.
fn password_known(kept: &BTreeMap<[u8; 8], Vec<u8>>, k: u32) -> Vec<u8> {
    kept.get(&terminal_eui(k).0)
        .cloned()
        .unwrap_or_else(|| password_of(k))
}

/// Smart meter `i` booting (`boots` times before) at `now`: its link (beacons, the PAA
/// holding the terminals the head end registered with it, keys) and its reading
/// sessions. A reboot starts both afresh, with new randomness (new group keys), and with
/// the passwords it `kept` (TRM-08: those its terminals took by the head end's command,
/// on its flash) over those they were installed with.
fn boot_meter(
    opts: &Options,
    i: u32,
    boots: u64,
    now: Duration,
    pairing: PairingId,
    kept: &BTreeMap<[u8; 8], Vec<u8>>,
) -> (SmartMeter, SmartMeterApp) {
    // Ours: the simulation speaks the default link profile on both sides.
    let profile = LinkProfile::default();
    let eui = meter_eui(i + 1);
    let config = SmartMeterConfig {
        mac: MacConfig::new(eui),
        // Ours: a PAN ID per smart meter (wrapping past 0xFFFF: far apart by then).
        pan_id: 0x4000u16.wrapping_add(u16::try_from(i & 0xFFFF).unwrap_or(0)),
        channel: channel_of(i),
        pairing_id: pairing,
        profile: profile.clone(),
        join_window: JoinWindow::Always,
        paa: PaaConfig::new(identity_from_eui64(eui.0).into_bytes()),
        key_period: opts.key_period,
        switch_delay: Duration::from_secs(60),
        net: NetConfig::default(),
    };
    let (n, m) = (opts.terminals, opts.smartmeters);
    // SYS-03: it authenticates the terminals the head end registered with it; TRM-08:
    // with the password a command changed, once the terminal took it.
    let passwords = kept.clone();
    let registry = move |id_p: &[u8]| -> Result<Psk, AuthFailure> {
        terminals_of(i, n, m)
            .find(|k| identity_from_eui64(terminal_eui(*k).0).as_bytes() == id_p)
            .map(|k| profile.psk(id_p, &password_known(&passwords, k)))
            .ok_or(AuthFailure::UnknownId)
    };
    let registry: Box<dyn Registry + Send> = Box::new(registry);
    let entropy = Box::new(Seeded::new(
        opts.seed,
        stream_of(Use::SmartMeterLink, i, boots),
    ));
    let link = SmartMeter::new(config, registry, entropy, now);
    // The DLMS secrets of the terminals it holds (SYS-03), as the head end registers them.
    let passwords: Vec<([u8; 8], Vec<u8>)> = terminals_of(i, opts.terminals, opts.smartmeters)
        .map(|k| (terminal_eui(k).0, password_known(kept, k)))
        .collect();
    let app = SmartMeterApp::new(
        Reader::new(
            opts.seed ^ stream_of(Use::SmartMeterReader, i, boots),
            TerminalSecrets::from_link_passwords(
                passwords.iter().map(|(eui, pw)| (*eui, pw.as_slice())),
            ),
        ),
        None,
    );
    (link, app)
}

fn eui_text(e: Eui64) -> String {
    e.0.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

struct TerminalSim {
    id: NodeId,
    /// Its number in the run (1..).
    k: u32,
    /// The IoT-route side: the link, the DLMS server over the node's model, the pushes
    /// held for the smart meter (as the terminal program).
    route: LinkedTerminal,
    /// The meter side: controller, slot reader, store, the model as the store's view.
    node: nodes::terminal::node::TerminalNode,
    /// Its DLMS server served a request that may have changed the model (anything but a
    /// GET) since its node was last polled: the node's poll is owed though no timer of
    /// its own is due ([`meter_side::drive`]).
    model_touched: bool,
    /// The terminal's own meter, answering its ECHONET Lite requests in process.
    meter: nodes::meter::Meter,
    /// Times its LED changed (TRM-10).
    led_changes: u32,
    /// Pushes its node made during the run (slots and events), sent or held.
    pushes_made: u64,
    /// What its node boots with again after a reboot, besides what the run gives every
    /// terminal ([`node_config`]); its link boots with its link's configuration as it
    /// stands. Not the configurations themselves: 0.9 KiB a terminal.
    first_tid: u16,
    node_password: Vec<u8>,
    /// Where its node said its rows follow a new interval from (Unix seconds, its
    /// clock) and the interval, until the run's tally takes it.
    switched: Option<(i64, Interval)>,
    /// Its store: what survives a reboot (the SQLite file on the device), rows in
    /// memory shared by the node of each boot.
    store: SharedStore,
    /// Times it rebooted.
    boots: u64,
    /// Its frame counters as last persisted (SEC-03).
    counters: Option<nodes::link::frame_counters::CounterSnapshot>,
    /// An attacker the run added (not in the registry, not expected, not reported).
    attacker: bool,
}

/// An attacker a run adds (`--wrong-password`, `--wrong-pairing`): a device that is
/// never in the registry, near one of the smart meters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attack {
    /// It claims a registered terminal's ID (`victim`) with a wrong password.
    WrongPassword {
        /// The terminal whose ID it claims (at its smart meter).
        victim: u32,
    },
    /// It scans for another Pairing ID.
    WrongPairing,
}

impl Attack {
    /// What terminal `k` of the run is: a terminal, or an attacker after them.
    fn of(opts: &Options, k: u32) -> Option<Self> {
        if k <= opts.terminals {
            None
        } else if k <= opts.terminals + opts.wrong_passwords {
            Some(Self::WrongPassword {
                victim: home_of(k, opts.smartmeters) + 1,
            })
        } else {
            Some(Self::WrongPairing)
        }
    }
}

/// Terminal `eui`'s node configuration: what the run gives every terminal, with its
/// first ECHONET Lite transaction ID, its authentication password and its reading
/// interval.
fn node_config(
    eui: Eui64,
    first_tid: u16,
    password: Vec<u8>,
    interval: Interval,
) -> nodes::terminal::node::TerminalNodeConfig {
    nodes::terminal::node::TerminalNodeConfig {
        meter: METER_IP,
        meter_eoj: echonet::Eoj::new(0x02, 0x8E, 0x01),
        interval,
        reader: nodes::terminal::reader::ReaderConfig::default(),
        controller: nodes::controller::ControllerConfig {
            first_tid,
            ..nodes::controller::ControllerConfig::default()
        },
        model: dlms::cosem::ModelConfig {
            auth_password: password,
            ..dlms::cosem::ModelConfig::default()
        },
        meter_id: None,
        guard: nodes::flood::FloodConfig::default(),
        retention: chrono::TimeDelta::days(nodes::terminal::node::DEFAULT_RETENTION_DAYS),
        // The smart meters derive the same from the registration.
        management_secret: nodes::terminal::node::ManagementSecret::Derived { eui64: eui.0 },
    }
}

/// The meter's address as the terminal registers it (in process: any unicast address).
const METER_IP: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

struct MeterNode {
    id: NodeId,
    /// Its place (0 for the first), for a reboot.
    index: u32,
    eui: Eui64,
    link: SmartMeter,
    /// Its end of the A route to the head end.
    relay: nodes::app::relay::SmartMeterRelay,
    /// Its reading sessions (and an image rollout, none here).
    app: SmartMeterApp,
    rng: Seeded,
    /// Times it booted again after an outage.
    boots: u64,
    /// Out of power (`--outage`): silent on the air and the A route.
    down: bool,
    /// When it last started its own reading of each terminal.
    last_read: BTreeMap<[u8; 8], Duration>,
    /// Its frame counters as last persisted (SEC-03).
    counters: Option<nodes::link::frame_counters::CounterSnapshot>,
    /// The passwords its terminals took by the head end's command (TRM-08), on its
    /// flash as `iotroute smartmeter` keeps them in `DIR/terminal-passwords.json`: it
    /// boots with them after an outage.
    kept_passwords: BTreeMap<[u8; 8], Vec<u8>>,
}

impl MeterNode {
    /// TRM-08: a password `terminal` took (`carried` done), kept before its *done*
    /// leaves on the A route.
    fn keep_password(&mut self, terminal: [u8; 8], carried: &Carried) {
        if let Some(password) = carried.new_password() {
            self.kept_passwords.insert(terminal, password.to_vec());
        }
    }

    /// Add what its link and its reading sessions counted to the report's figures.
    fn count_into(&self, link: &mut report::LinkFigures, sessions: &mut report::SessionFigures) {
        let s = self.link.stats();
        link.authentications += s.authentications;
        link.reauthentications += s.reauthentications;
        link.refused += s.refusals;
        link.rollovers += s.rollovers;
        let (net, mac) = (self.link.net().stats(), self.link.net().mac().stats());
        link.mac_retransmissions += mac.retransmissions;
        link.frames_given_up += mac.failed;
        link.fragments += net.fragments_sent;
        let r = self.app.reader();
        sessions.started += r.started;
        sessions.restarted += r.restarts;
        sessions.completed += r.completed;
        sessions.refused += r.refused;
        sessions.clock_sets += r.clock_sets;
    }
}

impl TerminalSim {
    /// Tell the node where the link is (its LED follows, TRM-10).
    fn show_link(&mut self) {
        self.node.set_link(nodes::terminal::led::LinkView::of(
            &self.route.link().phase(),
        ));
        self.drain_events();
    }

    /// The node's pushes to the smart meter (TRM-05), held while not joined.
    fn send_pushes(&mut self, now: Duration) {
        while let Some(p) = self.node.poll_push() {
            self.pushes_made += 1;
            self.route.push(now, p);
        }
        self.route.flush(now);
    }

    /// Floods the radio side detected (SEC-08), to the node: logged and pushed there.
    fn report_floods(&mut self, wall: DateTime<Utc>) {
        for flood in self.route.floods() {
            if let Err(e) = self.node.report_flood(wall, &flood) {
                tracing::warn!(error = %e, "radio flood not reported to the node");
            }
        }
    }

    /// The node's events: LED changes counted, a new password taken, the rest logged.
    fn drain_events(&mut self) {
        use nodes::terminal::node::{NodeEvent, Setting};
        while let Some(event) = self.node.poll_event() {
            if let NodeEvent::Led(led) = event {
                tracing::debug!(terminal = %eui_text(self.route.link().eui64()), led = led.name(), "LED");
                self.led_changes += 1;
            } else {
                match event {
                    NodeEvent::SettingsChanged(Setting::AuthPassword) => self.take_password(),
                    NodeEvent::IntervalSwitched { from, interval } => {
                        self.switched = Some((from.timestamp(), interval));
                    }
                    _ => {}
                }
                tracing::debug!(terminal = %eui_text(self.route.link().eui64()), ?event, "terminal");
            }
        }
    }

    /// TRM-08: the authentication password a client set (the head end's command, carried
    /// out by the smart meter): the link proves it from its next authentication, and the
    /// terminal keeps it through a reboot, as `iotroute terminal` keeps its settings.
    fn take_password(&mut self) {
        let password = match self.node.model().lock() {
            Ok(model) => model.auth_password().to_vec(),
            Err(_) => {
                tracing::error!("model lock poisoned: the new password not taken");
                return;
            }
        };
        self.route.link_mut().set_password(password.clone());
        self.node_password = password;
    }
}

enum Node {
    Terminal(Box<TerminalSim>),
    Meter(Box<MeterNode>),
}

/// What the run counted, for the summary.
#[derive(Debug)]
struct Tally {
    /// Per registered terminal: what its meter counted at each slot, and the rows of
    /// scheduled slots that arrived (the first valid one of each), when.
    terminals: tally::Tallies,
    /// Receptions dropped by `--loss`.
    injected_losses: u64,
    /// Rows of scheduled slots the smart meters received: equal to the meter's, and not.
    values_equal: u64,
    values_differ: u64,
    /// Slot pushes the smart meters received (TRM-05): equal to the meter's count at the
    /// slot, and not; event pushes.
    pushes_equal: u64,
    pushes_differ: u64,
    event_pushes: u64,
    /// What the links and reading sessions of smart meters counted before they rebooted.
    retired: (report::LinkFigures, report::SessionFigures),
}

struct LinkSim<W: std::io::Write> {
    opts: Options,
    medium: Medium,
    nodes: Vec<Node>,
    now: Duration,
    /// The wall-clock time of virtual time 0.
    origin: DateTime<Utc>,
    /// The end of the run's last slot, in virtual time.
    end: Duration,
    pcap: Option<Writer<W>>,
    loss_rng: Seeded,
    tally: Tally,
    /// Slots scheduled: every boundary within the run.
    slots: Vec<Duration>,
    /// Reading sessions to start: (time, meter node index, terminal).
    starts: BTreeSet<(Duration, usize, [u8; 8])>,
    /// When each node next has something to do (its link's timers, its meter side's, its
    /// reading sessions'), by node index, and the same ordered by time: only nodes due or
    /// touched are woken, so an event costs what it touches, not the run's size.
    due_at: Vec<Option<Duration>>,
    due: BTreeSet<(Duration, usize)>,
    /// Nodes something happened to since they were last woken.
    touched: BTreeSet<usize>,
    /// Smart meters whose relay may have something for the head end.
    relays: BTreeSet<usize>,
    /// Node index by its medium ID.
    index_by_id: Vec<usize>,
    /// Smart meters' node indexes by EUI-64 (the head end names them so: looking for
    /// them through every node at each of its messages grew with the run).
    smart_meter_at: BTreeMap<Eui64, usize>,
    /// The instant virtual time 0 maps to, for the terminals' ECHONET controllers.
    t0: std::time::Instant,
    /// The head end and its MDMS, on their thread at the A route's end.
    hes: a_route::ARoute,
    /// The public server's rounds, and its publication (run on the MDMS's thread).
    schedule: public::Schedule,
    public: public::Shared,
    /// Blocks and reconnects still to come: (time, point, block).
    block_events: BTreeSet<(Duration, String, bool)>,
    /// Head end kills and restarts still to come: (time, killed).
    headend_events: BTreeSet<(Duration, bool)>,
    /// Outages still to come: (time, smart meter, off).
    outage_events: BTreeSet<(Duration, [u8; 8], bool)>,
    /// Terminal reboots still to come: (time, terminal number).
    reboot_events: BTreeSet<(Duration, u32)>,
    /// Meter swaps still to come: (time, terminal number).
    swap_events: BTreeSet<(Duration, u32)>,
    /// Floods still to come: (time, terminal number).
    flood_events: BTreeSet<(Duration, u32)>,
    /// Operator commands still to record, in time order.
    command_events: VecDeque<PlannedCommand>,
    /// The command records the run made, by number.
    command_seqs: Vec<u64>,
    /// The Pairing ID of the run (a rebooting smart meter's).
    pairing: PairingId,
}

/// How far a run has come, told at every boundary and, once its slots are over, at every
/// check whether backfill has settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Virtual time since the run began (20 minutes before its first boundary).
    pub done: Duration,
    /// Virtual time to the end of its last slot (it goes on until backfill settles).
    pub slots_end: Duration,
}

/// Run the system as `opts` says, every frame on the air to `pcap` when given, telling
/// `progress` how far it has come.
///
/// # Errors
/// When the system cannot be set up, a node fails, or the pcap cannot be written.
pub fn run<W: std::io::Write>(
    opts: Options,
    pcap: Option<W>,
    progress: &mut dyn FnMut(Progress),
) -> Result<Run, SystemError> {
    LinkSim::new(opts, pcap)
        .map_err(SystemError::Setup)?
        .run(progress)
        .map_err(SystemError::Node)
}

impl<W: std::io::Write> LinkSim<W> {
    fn new(opts: Options, pcap: Option<W>) -> Result<Self, String> {
        let terminals = opts.terminals;
        // Virtual time 0 (`origin`) is LEAD before the first boundary at or after the
        // run's start; the run's plans are from its start, `lead` into virtual time.
        let first_boundary = if opts.interval.floor(opts.start) == opts.start {
            opts.start
        } else {
            opts.interval.next_after(opts.start)
        };
        let origin =
            first_boundary - chrono::Duration::from_std(LEAD).map_err(|e| e.to_string())?;
        let lead = (opts.start - origin).to_std().map_err(|e| e.to_string())?;
        // The run's slots start before `lead + duration`: boundaries up to the end of
        // the last.
        let every = Duration::from_secs(u64::from(opts.interval.minutes()) * 60);
        let slots: Vec<Duration> = (0..)
            .map(|i| LEAD + every * i)
            .take_while(|b| b.saturating_sub(every) < lead + opts.duration)
            .collect();
        let end = slots.last().copied().unwrap_or(LEAD);
        let grid = tally::Grid {
            first: first_boundary.timestamp(),
            interval: opts.interval,
            count: slots.len(),
        };
        let mut medium = Medium::new(
            opts.seed,
            PropagationConfig::default(),
            PhyConfig::default(),
        );
        let pairing = PairingId::from_codes("00", "12345678901").map_err(|e| e.to_string())?;
        let layout = Seeded::new(opts.seed, 1);
        let t0 = std::time::Instant::now();
        let smart_meters: Vec<Eui64> = (1..=opts.smartmeters).map(meter_eui).collect();
        let points = registry_of(&opts, pairing)?;
        let command_events = seeded_commands(&opts, lead, &points)?;
        // The secrets the smart meters derive too (TRM-08), as the registry holds them.
        let secrets = points
            .iter()
            .map(|p| {
                let t = p.terminal_id;
                (
                    t,
                    nodes::app::secrets::dlms_password(t.0, &password_of(terminal_of(t.0))),
                )
            })
            .collect();
        // The smart meters say hello on the A route first thing; the head end registers
        // their terminals then.
        let hes = head_end::HeadEndSim::new(
            opts.seed,
            points,
            &smart_meters,
            first_boundary,
            opts.db.as_deref(),
            secrets,
        )?;
        let mut nodes = Vec::new();
        for i in 0..opts.smartmeters {
            let id = medium.add_node(Position::outdoor(f64::from(i) * 40.0, 0.0));
            let eui = meter_eui(i + 1);
            let (link, app) = boot_meter(&opts, i, 0, Duration::ZERO, pairing, &BTreeMap::new());
            // A run on the database of an earlier one goes on from the counters the
            // head end kept, as the same smart meters would from theirs (SEC-02).
            let (sent, taken) = hes.peer_counters(eui);
            let mut relay = nodes::app::relay::SmartMeterRelay::new(
                dlms::cipher::SystemTitle(eui.0),
                headend::node::HEAD_END_TITLE,
                head_end::keys_of(opts.seed, eui),
                sent,
                taken,
            );
            relay.connected(origin, |_| false);
            nodes.push(Node::Meter(Box::new(MeterNode {
                id,
                index: i,
                eui,
                relay,
                link,
                app,
                rng: Seeded::new(opts.seed, stream_of(Use::SmartMeterSchedule, i, 0)),
                boots: 0,
                down: false,
                last_read: BTreeMap::new(),
                counters: None,
                kept_passwords: BTreeMap::new(),
            })));
        }
        for k in 1..=opts.terminals + opts.wrong_passwords + opts.wrong_pairings {
            let attack = Attack::of(&opts, k);
            let t = Self::terminal(&opts, k, attack, &mut medium, &layout, t0, origin, pairing)?;
            nodes.push(Node::Terminal(Box::new(t)));
        }
        let pcap = pcap
            .map(|w| Writer::new(w, LINKTYPE_IEEE802_15_4_TAP))
            .transpose()
            .map_err(|e| format!("pcap: {e}"))?;
        let block_events = opts
            .blocks
            .iter()
            .flat_map(|b| {
                [
                    (lead + b.from, b.point.clone(), true),
                    (lead + b.to, b.point.clone(), false),
                ]
            })
            .collect();
        let outage_events = opts
            .outages
            .iter()
            .flat_map(|o| {
                [
                    (lead + o.from, o.smart_meter, true),
                    (lead + o.to, o.smart_meter, false),
                ]
            })
            .collect();
        let count = nodes.len();
        let smart_meter_at = nodes
            .iter()
            .enumerate()
            .filter_map(|(index, n)| match n {
                Node::Meter(m) => Some((m.eui, index)),
                Node::Terminal(_) => None,
            })
            .collect();
        let mut index_by_id = vec![usize::MAX; count];
        for (index, n) in nodes.iter().enumerate() {
            let id = match n {
                Node::Terminal(t) => t.id,
                Node::Meter(m) => m.id,
            };
            if let Some(slot) = index_by_id.get_mut(id.0 as usize) {
                *slot = index;
            }
        }
        let headend_events = opts
            .headend_kills
            .iter()
            .flat_map(|k| [(lead + k.from, true), (lead + k.to, false)])
            .collect();
        // TRM-11: a run whose points may switch interval publishes at every quarter
        // hour's close the 15-minute slots, and at every half hour's the 30-minute ones.
        let switching = command_events
            .iter()
            .any(|c| matches!(c.2, Setting::Interval(_)));
        let (schedule, public) =
            Self::public_server(&hes, &slots, origin, opts.interval, switching)?;
        let reboot_events = seeded_events(&opts, lead, 3, opts.reboots);
        let flood_events = seeded_events(&opts, lead, 5, opts.floods);
        let swap_events = seeded_events(&opts, lead, 4, opts.wrong_meters);
        Ok(Self {
            loss_rng: Seeded::new(opts.seed, 2),
            opts,
            medium,
            nodes,
            now: Duration::ZERO,
            origin,
            end,
            pcap,
            tally: Tally {
                terminals: tally::Tallies::new(terminals, grid),
                injected_losses: 0,
                values_equal: 0,
                values_differ: 0,
                pushes_equal: 0,
                pushes_differ: 0,
                event_pushes: 0,
                retired: Default::default(),
            },
            slots,
            starts: BTreeSet::new(),
            due_at: vec![None; count],
            due: BTreeSet::new(),
            touched: (0..count).collect(),
            relays: BTreeSet::new(),
            index_by_id,
            smart_meter_at,
            t0: t0 + HISTORY.to_std().unwrap_or_default(),
            hes: a_route::ARoute::spawn(hes)?,
            schedule,
            public,
            block_events,
            headend_events,
            outage_events,
            reboot_events,
            swap_events,
            flood_events,
            command_events,
            command_seqs: Vec::new(),
            pairing,
        })
    }

    /// The run's public server: each slot of the run (a start, its close one boundary
    /// later) and each complete day (Japan time, all its slots in the run; its end the
    /// close of its last), for the registered points' retailers.
    fn public_server(
        hes: &head_end::HeadEndSim,
        slots: &[Duration],
        origin: DateTime<Utc>,
        interval: Interval,
        switching: bool,
    ) -> Result<(public::Schedule, public::Shared), String> {
        let utc = |t: Duration| origin + chrono::Duration::from_std(t).unwrap_or_default();
        let runs: Vec<(DateTime<Utc>, Duration)> =
            slots.windows(2).map(|w| (utc(w[0]), w[1])).collect();
        // With points that may switch: every quarter hour's start, closed 15 minutes
        // later, and every half hour's, 30 minutes later (each start once in a day's).
        let quarter = Duration::from_secs(900);
        let half = Duration::from_secs(1800);
        let starts: Vec<(DateTime<Utc>, Duration)> = if switching {
            let (Some(&first), Some(&last)) = (slots.first(), slots.last()) else {
                return Err("a run without slots".to_owned());
            };
            (0..)
                .map(|k| first + quarter * k)
                .take_while(|q| *q < last)
                .flat_map(|q| {
                    let aligned = utc(q).timestamp() % 1800 == 0 && q + half <= last;
                    [
                        Some((utc(q), q + quarter)),
                        aligned.then(|| (utc(q), q + half)),
                    ]
                })
                .flatten()
                .collect()
        } else {
            runs.clone()
        };
        let per_day = usize::try_from(24 * 60 / u32::from(interval.minutes())).unwrap_or(48);
        let mut days: BTreeMap<chrono::NaiveDate, (usize, Duration)> = BTreeMap::new();
        for (start, close) in &runs {
            let d = days.entry(portal::rounds::local_day(*start)).or_default();
            d.0 += 1;
            d.1 = d.1.max(*close);
        }
        let days: Vec<(chrono::NaiveDate, Duration)> = days
            .into_iter()
            .filter(|(_, (n, _))| *n == per_day)
            .map(|(day, (_, end))| (day, end))
            .collect();
        let mut day_slots: BTreeMap<chrono::NaiveDate, Vec<(DateTime<Utc>, Duration)>> =
            BTreeMap::new();
        for &(start, close) in &starts {
            let day = portal::rounds::local_day(start);
            if days.iter().any(|d| d.0 == day) {
                let slots = day_slots.entry(day).or_default();
                match slots.last_mut() {
                    // A start's longest slot closes last.
                    Some(s) if s.0 == start => s.1 = s.1.max(close),
                    _ => slots.push((start, close)),
                }
            }
        }
        let retailer_of = hes
            .points()
            .iter()
            .map(|p| (p.supply_point.to_string(), p.retailer.code()))
            .collect();
        let schedule = public::Schedule::new(&starts, &days);
        Ok((
            schedule,
            public::Publication::open(hes.db(), retailer_of, day_slots)?,
        ))
    }

    /// Terminal `k` (an attacker when `attack` says so) with its meter, its node run for
    /// the six hours before the start, and its link.
    #[allow(clippy::too_many_arguments)]
    fn terminal(
        opts: &Options,
        k: u32,
        attack: Option<Attack>,
        medium: &mut Medium,
        layout: &Seeded,
        t0: std::time::Instant,
        origin: DateTime<Utc>,
        pairing: PairingId,
    ) -> Result<TerminalSim, String> {
        let channels = channels_of(opts.smartmeters);
        // Ours: the simulation speaks the default link profile on both sides.
        let profile = LinkProfile::default();
        let home = f64::from(home_of(k, opts.smartmeters));
        let dx = layout.unit() * 12.0 - 6.0;
        let dy = 8.0 + layout.unit() * 6.0;
        let id = medium.add_node(Position::indoor(home * 40.0 + dx, dy));
        let eui = terminal_eui(k);
        let config = TerminalConfig {
            mac: MacConfig::new(eui),
            pairing_id: match attack {
                Some(Attack::WrongPairing) => {
                    PairingId::from_codes("00", "99999999999").map_err(|e| e.to_string())?
                }
                _ => pairing,
            },
            profile: profile.clone(),
            channels: channels.clone(),
            scan_window: Duration::from_millis(200),
            // A wrong password: it claims a registered terminal's ID.
            auth_id: match attack {
                Some(Attack::WrongPassword { victim }) => {
                    identity_from_eui64(terminal_eui(victim).0).into_bytes()
                }
                _ => identity_from_eui64(eui.0).into_bytes(),
            },
            password: match attack {
                Some(Attack::WrongPassword { .. }) => b"NOT-THE-PASS".to_vec(),
                _ => password_of(k),
            },
            pana: PanaTimers::default(),
            backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(300),
            net: NetConfig::default(),
        };
        // Terminals power up a little apart, as homes do.
        let boot = Duration::from_millis(layout.next() % 20_000);
        let link = Terminal::new(
            config,
            Box::new(Seeded::new(opts.seed, stream_of(Use::TerminalLink, k, 0))),
            boot,
        );
        // A household meter that has run for a day, its counters apart per home.
        let start_in = 10_000 + u32::try_from(layout.next() % 50_000_000).unwrap_or(0);
        let mut meter = nodes::meter::Meter::new(
            opts.meter.clone(),
            start_in,
            u32::try_from(layout.next() % 1_000_000).unwrap_or(0),
            origin - chrono::Duration::days(1),
        );
        meter.advance(origin - HISTORY);
        let first_tid = u16::try_from(layout.next() % 65_536).unwrap_or(1);
        let node_password = password_of(k);
        // Installed six hours before the run: its store already holds that much when
        // the first reading asks for it.
        let store = SharedStore::new(nodes::terminal::store::MemoryStore::new());
        let mut node = nodes::terminal::node::TerminalNode::new(
            node_config(eui, first_tid, node_password.clone(), opts.interval),
            store.clone(),
            origin - HISTORY,
        )
        .map_err(|e| e.to_string())?;
        // Nobody has set its clock yet: its first reading session does (TRM-09).
        meter_side::read_until(&mut node, &mut meter, t0, origin - HISTORY, origin)?;
        let app = TerminalApp::serving(
            node.model(),
            u64::from(k),
            opts.seed ^ stream_of(Use::TerminalApp, k, 0),
        )?;
        Ok(TerminalSim {
            id,
            k,
            route: LinkedTerminal::new(link, app),
            model_touched: true,
            node,
            meter,
            led_changes: 0,
            pushes_made: 0,
            first_tid,
            node_password,
            switched: None,
            store,
            boots: 0,
            counters: None,
            attacker: attack.is_some(),
        })
    }

    fn utc(&self, t: Duration) -> DateTime<Utc> {
        self.origin + chrono::Duration::from_std(t).unwrap_or_default()
    }

    /// The monotonic instant of virtual time `t` (the controller's clock).
    fn instant(&self, t: Duration) -> std::time::Instant {
        self.t0 + t
    }

    /// When a terminal node next has something to do, in virtual time.
    fn node_wakeup(&self, node: &nodes::terminal::node::TerminalNode) -> Duration {
        let (deadline, wall) = node.next_wakeup();
        let by_wall = (wall - self.origin).to_std().unwrap_or_default();
        deadline.map_or(by_wall, |d| {
            by_wall.min(d.saturating_duration_since(self.t0))
        })
    }

    /// Terminal `index`'s meter side at `now` ([`meter_side::drive`]).
    fn drive_meter_side(&mut self, index: usize) -> Result<(), String> {
        let at = meter_side::At {
            virtual_now: self.now,
            now: self.instant(self.now),
            wall: self.utc(self.now),
        };
        match &mut self.nodes[index] {
            Node::Terminal(t) => meter_side::drive(t, at, &mut self.tally.terminals),
            Node::Meter(_) => Ok(()),
        }
    }

    /// What terminal `key.0`'s meter counted for the slot at `key.1` (Unix seconds), Wh
    /// (in, out), lower 8 digits: when the terminal read it for the slot; else — a row
    /// the terminal recovered after missing the slot (TRM-04) — the meter's own history
    /// record of that boundary.
    fn truth(&self, key: ([u8; 8], i64)) -> Option<(u32, u32)> {
        self.tally.terminals.truth(key.0, key.1).or_else(|| {
            // Terminal k is node M + k - 1, after the smart meters (not a search of every
            // node: at a million terminals, each row recovered cost a million steps).
            let k = usize::try_from(terminal_of(key.0)).ok()?.checked_sub(1)?;
            let index = usize::try_from(self.opts.smartmeters).ok()? + k;
            match self.nodes.get(index)? {
                Node::Terminal(t) if t.route.link().eui64().0 == key.0 => self.truth_of(t, key),
                _ => None,
            }
        })
    }

    /// [`LinkSim::truth`] of terminal `t`'s own slot.
    fn truth_of(&self, t: &TerminalSim, key: ([u8; 8], i64)) -> Option<(u32, u32)> {
        self.tally.terminals.truth(key.0, key.1).or_else(|| {
            let at = DateTime::from_timestamp(key.1, 0)?;
            recorded(&t.meter, at)
        })
    }

    fn all_arrived(&self) -> bool {
        self.tally.terminals.all_arrived()
    }

    /// The virtual time of Unix second `unix`.
    fn at(&self, unix: i64) -> Duration {
        Duration::from_secs(u64::try_from(unix - self.origin.timestamp()).unwrap_or(0))
    }

    /// Whether the run is over: its time is, nothing it plans is still to come, the head
    /// end has every slot of every point (backfill settled) and the end of every command.
    fn settled(&mut self) -> Result<bool, String> {
        let (Some(&first), Some(&last)) = (self.slots.first(), self.slots.last()) else {
            return Ok(true);
        };
        let planned_done = self.now >= self.end
            && self.block_events.is_empty()
            && self.headend_events.is_empty()
            && self.outage_events.is_empty()
            && self.reboot_events.is_empty()
            && self.swap_events.is_empty()
            && self.flood_events.is_empty()
            && self.command_events.is_empty();
        if !planned_done {
            return Ok(false);
        }
        let (from, to) = (self.utc(first), self.utc(last));
        self.hes.settled(self.now, from, to, &self.command_seqs)
    }

    /// Run to the end of the last slot and on until backfill has settled (at most
    /// [`SETTLE_MAX`] more).
    fn run(mut self, progress: &mut dyn FnMut(Progress)) -> Result<Run, String> {
        let deadline = self.end + SETTLE_MAX;
        // The last boundary read and its pushes on their way before the first look.
        let mut next_check = self.end + SETTLE_CHECK;
        let mut settled_after = None;
        let mut next_slot = 0usize;
        let phy = *self.medium.phy();
        let air = move |len: usize| phy.air_time(len);
        loop {
            let slot_at = self.slots.get(next_slot).copied();
            let next = self
                .due
                .first()
                .map(|d| d.0)
                .into_iter()
                .chain((!self.touched.is_empty()).then_some(self.now))
                .chain(self.medium.next_end())
                .chain(slot_at)
                .chain(self.starts.first().map(|s| s.0))
                .chain(self.hes.next_due())
                .chain(self.block_events.first().map(|b| b.0))
                .chain(self.headend_events.first().map(|h| h.0))
                .chain(self.outage_events.first().map(|o| o.0))
                .chain(self.reboot_events.first().map(|r| r.0))
                .chain(self.swap_events.first().map(|r| r.0))
                .chain(self.flood_events.first().map(|r| r.0))
                .chain(self.command_events.front().map(|c| c.0))
                .chain(self.schedule.next_due())
                .min();
            let Some(t) = next.filter(|t| *t <= deadline) else {
                break;
            };
            if self.now >= next_check {
                next_check = self.now + SETTLE_CHECK;
                progress(Progress {
                    done: self.now,
                    slots_end: self.end,
                });
                if self.settled()? {
                    settled_after = Some(self.now - self.end);
                    break;
                }
            }
            self.now = self.now.max(t);
            if self.faults_due() {
                self.head_end_life()?;
                self.power()?;
                self.reboot()?;
                self.swap_meters();
                self.flood()?;
                // Rare: every node may have changed.
                self.touched.extend(0..self.nodes.len());
            }
            self.deliver(&air)?;
            if slot_at.is_some_and(|s| s <= self.now) {
                progress(Progress {
                    done: self.now,
                    slots_end: self.end,
                });
                self.boundary(self.now);
                next_slot += 1;
            }
            self.start_due_sessions();
            self.wake_nodes(&air)?;
            self.a_route()?;
            let due = self.schedule.take_due(self.now);
            if !due.is_empty() {
                self.publish(due)?;
            }
        }
        let mut hes = self.hes.join()?;
        hes.stop();
        let all = self.schedule.take_all();
        hes.then(self.publication(all));
        let public = self
            .public
            .lock()
            .map_err(|_| "the public server's publication panicked".to_owned())?
            .figures()?;
        if let Some(w) = self.pcap.take() {
            w.into_inner().flush().map_err(|e| format!("pcap: {e}"))?;
        }
        let keys = self.keys();
        Ok(Run {
            report: self.report(settled_after, public, &hes),
            keys,
        })
    }

    /// Publish `rounds` as of now, after the readings the head end took by now.
    fn publish(&mut self, rounds: Vec<public::Round>) -> Result<(), String> {
        let publication = self.publication(rounds);
        self.hes.then(self.now, publication)
    }

    /// The publication of `rounds` as of now, for the MDMS's thread.
    fn publication(
        &self,
        rounds: Vec<public::Round>,
    ) -> impl FnOnce(&mdms::Mdms<head_end::MdmsStore>) + Send + 'static {
        let (public, now, wall) = (self.public.clone(), self.now, self.utc(self.now));
        move |mdms| match public.lock() {
            Ok(mut p) => p.publish(mdms.store(), &rounds, now, wall),
            Err(_) => tracing::error!("the public server's publication panicked before"),
        }
    }

    /// Whether a planned fault or event of the head end is due.
    fn faults_due(&self) -> bool {
        let due = |t: Option<Duration>| t.is_some_and(|t| t <= self.now);
        due(self.headend_events.first().map(|e| e.0))
            || due(self.outage_events.first().map(|e| e.0))
            || due(self.reboot_events.first().map(|e| e.0))
            || due(self.swap_events.first().map(|e| e.0))
            || due(self.flood_events.first().map(|e| e.0))
    }

    /// Node `index` after it was woken or touched: its radio listens where its link
    /// says, and it is due again when its next timer is.
    fn reschedule(&mut self, index: usize) {
        let (id, channel, next) = match &self.nodes[index] {
            Node::Terminal(t) => (
                t.id,
                t.route.link().channel(),
                t.route
                    .link()
                    .next_wakeup()
                    .into_iter()
                    .chain(Some(self.node_wakeup(&t.node)))
                    .min(),
            ),
            Node::Meter(m) if m.down => (m.id, None, None),
            Node::Meter(m) => (
                m.id,
                Some(m.link.channel()),
                m.link
                    .next_wakeup()
                    .into_iter()
                    .chain(m.app.next_deadline())
                    .min(),
            ),
        };
        let _ = self.medium.set_channel(id, channel);
        if self.due_at[index] == next {
            return;
        }
        if let Some(old) = self.due_at[index].take() {
            self.due.remove(&(old, index));
        }
        if let Some(at) = next {
            self.due_at[index] = Some(at);
            self.due.insert((at, index));
        }
    }

    fn transmit(&mut self, index: usize, psdu: Vec<u8>) {
        let id = match &self.nodes[index] {
            Node::Terminal(t) => t.id,
            Node::Meter(m) => m.id,
        };
        let micros = u64::try_from(self.utc(self.now).timestamp_micros()).unwrap_or(0);
        if self.pcap.is_some() {
            let channel = match &self.nodes[index] {
                Node::Terminal(t) => t.route.link().channel(),
                Node::Meter(m) => Some(m.link.channel()),
            };
            if let Some(ch) = channel {
                // The RSS a sniffer next to the best-placed other node would see.
                let ids: Vec<NodeId> = self
                    .nodes
                    .iter()
                    .map(|n| match n {
                        Node::Terminal(t) => t.id,
                        Node::Meter(m) => m.id,
                    })
                    .filter(|n| *n != id)
                    .collect();
                let rss = ids
                    .into_iter()
                    .filter_map(|to| self.medium.rssi_dbm(id, to, ch).ok())
                    .fold(f64::NEG_INFINITY, f64::max);
                if let Ok(channel) = wisun::channel::Channel::new(u16::from(ch)) {
                    #[allow(clippy::cast_possible_truncation)]
                    let tap = TapHeader::received(FcsKind::Crc16, channel, rss as f32);
                    if let Some(Err(e)) = self
                        .pcap
                        .as_mut()
                        .map(|w| w.write(micros, &tap.wrap(&psdu)))
                    {
                        tracing::error!(error = %e, "pcap record not written");
                    }
                }
            }
        }
        if let Err(e) = self.medium.transmit(self.now, id, psdu) {
            tracing::debug!(error = %e, "frame not put on the air");
        }
    }

    /// Frames that ended by now, to their receivers; acknowledgments back at once.
    fn deliver(&mut self, air: &dyn Fn(usize) -> Duration) -> Result<(), String> {
        let reports = self.medium.advance(self.now).map_err(|e| e.to_string())?;
        for report in reports {
            for r in report
                .receptions
                .iter()
                .filter(|r| r.outcome == Outcome::Received)
            {
                if self.opts.loss > 0.0 && self.loss_rng.unit() < self.opts.loss {
                    self.tally.injected_losses += 1;
                    continue;
                }
                let Some(index) = self.index_of(r.node) else {
                    continue;
                };
                if matches!(&self.nodes[index], Node::Meter(m) if m.down) {
                    continue;
                }
                #[allow(clippy::cast_possible_truncation)]
                let rssi = r.rssi_dbm.round() as i16;
                let now = self.now;
                let (ack, actions, concerned, flood) = match &mut self.nodes[index] {
                    Node::Terminal(t) => {
                        let link = t.route.link_mut();
                        let (ack, ev) = link.receive(now, &report.frame, rssi, r.lqi, air);
                        let concerned = link.net().mac().last_concerned();
                        // A flood its radio found (counting every frame it hears) is
                        // reported at once, whoever the frame was for.
                        let flood = link.flood_alarms_pending();
                        (ack, Actions::Terminal(ev), concerned, flood)
                    }
                    Node::Meter(m) => {
                        let (ack, ev) = m.link.receive(now, &report.frame, rssi, r.lqi, air);
                        let concerned = m.link.net().mac().last_concerned();
                        (ack, Actions::Meter(ev), concerned, false)
                    }
                };
                if let Some(a) = ack {
                    self.transmit(index, a);
                }
                // A frame that was not for the node (a neighbour's) changed nothing it
                // acts on: it is not woken for it, nor acts (most frames a node hears).
                let acts = concerned || !actions.is_empty();
                if acts {
                    self.touched.insert(index);
                }
                if acts || flood {
                    self.act(index, actions);
                }
            }
        }
        Ok(())
    }

    fn index_of(&self, id: NodeId) -> Option<usize> {
        self.index_by_id
            .get(id.0 as usize)
            .copied()
            .filter(|i| *i < self.nodes.len())
    }

    /// Wake the nodes due by now and those touched, in the order of their index.
    fn wake_nodes(&mut self, air: &dyn Fn(usize) -> Duration) -> Result<(), String> {
        while let Some(&(at, index)) = self.due.first() {
            if at > self.now {
                break;
            }
            self.due.pop_first();
            self.due_at[index] = None;
            self.touched.insert(index);
        }
        for index in std::mem::take(&mut self.touched) {
            self.wake(index, air)?;
            self.reschedule(index);
        }
        Ok(())
    }

    /// Node `index` at `now`: its meter side, its reading sessions that stalled, its
    /// link's timers (a frame to send), and what came of them.
    fn wake(&mut self, index: usize, air: &dyn Fn(usize) -> Duration) -> Result<(), String> {
        self.restart_stalled_sessions(index);
        self.drive_meter_side(index)?;
        let now = self.now;
        let medium = &mut self.medium;
        let (psdu, actions) = match &mut self.nodes[index] {
            Node::Terminal(t) => {
                let (id, ch) = (t.id, t.route.link().channel());
                let (p, ev) = t.route.link_mut().wake(
                    now,
                    &mut || ch.is_some_and(|c| medium.channel_busy(id, c).unwrap_or(true)),
                    air,
                );
                (p, Actions::Terminal(ev))
            }
            Node::Meter(m) if m.down => return Ok(()),
            Node::Meter(m) => {
                let (id, ch) = (m.id, m.link.channel());
                let (p, ev) = m.link.wake(
                    now,
                    &mut || medium.channel_busy(id, ch).unwrap_or(true),
                    air,
                );
                (p, Actions::Meter(ev))
            }
        };
        if let Some(p) = psdu {
            self.transmit(index, p);
        }
        self.act(index, actions);
        Ok(())
    }

    /// A slot boundary: every smart meter schedules a reading of each of its terminals
    /// it has not read since it joined, or not for [`READ_EVERY`], a few seconds apart
    /// (the terminals read their meters on their own and push each slot; the reading
    /// sets a terminal's clock and reads back what pushes missed).
    fn boundary(&mut self, at: Duration) {
        let mut plans = Vec::new();
        for (index, n) in self.nodes.iter_mut().enumerate() {
            if let Node::Meter(m) = n {
                if m.down {
                    continue;
                }
                let joined = m.link.terminals();
                m.last_read.retain(|t, _| joined.contains(&Eui64(*t)));
                for (k, terminal) in joined.into_iter().enumerate() {
                    if m.last_read
                        .get(&terminal.0)
                        .is_some_and(|last| at < *last + READ_EVERY)
                    {
                        continue;
                    }
                    m.last_read.insert(terminal.0, at);
                    let offset = Duration::from_secs(3 + 4 * u64::try_from(k).unwrap_or(0))
                        + Duration::from_millis(m.rng.next() % 1000);
                    plans.push((at + offset, index, terminal.0));
                }
            }
        }
        self.starts.extend(plans);
    }

    fn start_due_sessions(&mut self) {
        while let Some(&(t, index, terminal)) = self.starts.first() {
            if t > self.now {
                break;
            }
            self.starts.pop_first();
            self.start_session(index, terminal);
        }
    }

    /// Start reading `terminal` from smart meter `index` (a reading still going from the
    /// previous slot reads this slot's row too, so it is left alone).
    fn start_session(&mut self, index: usize, terminal: [u8; 8]) {
        let now = self.now;
        let Node::Meter(m) = &mut self.nodes[index] else {
            return;
        };
        if m.down {
            return;
        }
        if let Some(aarq) = m.app.start(now, terminal) {
            send(&mut m.link, now, terminal, aarq);
        }
        self.touched.insert(index);
    }

    /// Smart meter `index`'s reading sessions that stalled, started again.
    fn restart_stalled_sessions(&mut self, index: usize) {
        let now = self.now;
        if let Node::Meter(m) = &mut self.nodes[index] {
            if m.down {
                return;
            }
            let stalled = m.app.stalled(now, |t| m.link.is_joined(Eui64(t)));
            for (terminal, aarq) in stalled.restarted {
                send(&mut m.link, now, terminal, aarq);
            }
        }
    }

    fn act(&mut self, index: usize, actions: Actions) {
        if matches!(actions, Actions::Meter(_)) {
            self.relays.insert(index);
        }
        match actions {
            Actions::Terminal(events) => {
                let (now, wall) = (self.now, self.utc(self.now));
                if let Node::Terminal(t) = &mut self.nodes[index] {
                    let handled = t.route.handle(now, wall, events);
                    t.model_touched |= handled.served.iter().any(|s| !s.is_get());
                    for e in handled.events {
                        tracing::trace!(terminal = %eui_text(t.route.link().eui64()), event = ?e, "link");
                    }
                    t.report_floods(wall);
                    t.show_link();
                }
            }
            Actions::Meter(events) => {
                let (now, wall) = (self.now, self.utc(self.now));
                for e in events {
                    let Node::Meter(m) = &mut self.nodes[index] else {
                        return;
                    };
                    let routed = m
                        .app
                        .link_event(Some(&mut m.relay), &mut m.link, e, now, wall);
                    match routed {
                        Routed::Dlms {
                            from,
                            next,
                            arrived,
                        } => {
                            // A password its terminal took is kept before the relay's
                            // output leaves (TRM-08); a session that ended makes way for
                            // what the head end asked for next (`next`).
                            if let Some(Arrived::Command(carried)) = &arrived {
                                m.keep_password(from.0, carried);
                            }
                            if let Some(bytes) = next {
                                send(&mut m.link, now, from.0, bytes);
                            }
                            self.read(from, arrived);
                        }
                        // What the head end asked while the terminal was away.
                        Routed::Joined {
                            terminal,
                            next: Some(bytes),
                        } => send(&mut m.link, now, terminal.0, bytes),
                        Routed::Joined { next: None, .. } | Routed::Other(_) => {}
                    }
                }
            }
        }
    }

    /// What the smart meter read of terminal `from` (on its way to the head end
    /// already): a completed reading marks the slots whose rows it brought.
    fn read(&mut self, from: Eui64, arrived: Option<Arrived>) {
        let reading = match arrived {
            Some(Arrived::Push(pushed)) => return self.pushed(from, pushed),
            Some(Arrived::Reading(r)) => Some(r),
            Some(Arrived::Firmware(_) | Arrived::Command(_)) | None => None,
        };
        // Rows of scheduled slots count (rows from before the start do not); the first
        // time a valid one arrives fixes its delay after the slot, and its values are checked
        // against what the terminal's meter counted then.
        for row in reading.map(|r| r.rows).unwrap_or_default() {
            if row.time.timestamp_subsec_nanos() != 0 {
                continue;
            }
            let key = (from.0, row.time.timestamp());
            // A row marked not valid (the terminal could not read its meter then) is no
            // reading yet: the one it recovers later is.
            let not_valid = row
                .status
                .is_some_and(|st| st & dlms::cosem::model::status::DATA_NOT_VALID != 0);
            let arrival = SlotArrival {
                delay: self.now.saturating_sub(self.at(key.1)),
                ac_in_wh: row.ac_in_wh,
                ac_out_wh: row.ac_out_wh,
                status: row.status,
            };
            if not_valid || !self.tally.terminals.arrive(from.0, key.1, arrival) {
                continue;
            }
            if self.row_matches(key, &arrival) {
                self.tally.values_equal += 1;
            } else {
                self.tally.values_differ += 1;
                tracing::warn!(terminal = %eui_text(from), slot = %row.time, ?row, truth = ?self.truth(key), "a reading differs from the meter's count");
            }
        }
    }

    /// A push from terminal `from`: a slot push is checked against what its meter
    /// counted at the slot it was captured after (TRM-05); events are counted.
    fn pushed(&mut self, from: Eui64, pushed: Result<nodes::app::push::Pushed, String>) {
        let p = match pushed {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(terminal = %eui_text(from), error = %e, "push refused");
                self.tally.pushes_differ += 1;
                return;
            }
        };
        let nodes::app::push::PushKind::Slot {
            energy_in_wh,
            energy_out_wh,
            status,
        } = p.what
        else {
            self.tally.event_pushes += 1;
            return;
        };
        // The slot: the newest boundary at or before the capture (the terminal's own:
        // its interval may have switched, TRM-11).
        let slot = p.captured_at.map(|t| {
            let t = t.with_timezone(&Utc);
            let interval = self.tally.terminals.interval_at(from.0, t.timestamp());
            interval.floor(t).timestamp()
        });

        let truth = slot.and_then(|s| self.truth((from.0, s)));
        if truth.is_some_and(|(i, o)| energy_in_wh == Some(i) && energy_out_wh == Some(o)) {
            self.tally.pushes_equal += 1;
            // A slot push is the slot's reading arriving too (late, when the terminal
            // held it while it could not reach its smart meter).
            let Some(slot) = slot else {
                return;
            };
            let arrival = SlotArrival {
                delay: self.now.saturating_sub(self.at(slot)),
                ac_in_wh: energy_in_wh,
                ac_out_wh: energy_out_wh,
                status,
            };
            if self.tally.terminals.arrive(from.0, slot, arrival) {
                self.tally.values_equal += 1;
            }
        } else {
            self.tally.pushes_differ += 1;
            tracing::warn!(terminal = %eui_text(from), ?slot, ?energy_in_wh, ?truth, "a push differs from the meter's count");
        }
    }

    /// Whether a row the smart meter received holds the meter's own count for its slot.
    fn row_matches(&self, key: ([u8; 8], i64), row: &SlotArrival) -> bool {
        matches_truth(self.truth(key), row)
    }

    /// Outages due at `now`: a smart meter goes silent, or boots afresh — a new link and
    /// reading sessions, its A-route counters kept (a counter is never used twice), a
    /// hello to the head end, which registers its terminals again.
    fn power(&mut self) -> Result<(), String> {
        let (now, wall) = (self.now, self.utc(self.now));
        for (_, sm, off) in take_due(&mut self.outage_events, now) {
            let Some(Node::Meter(m)) = self
                .nodes
                .iter_mut()
                .find(|n| matches!(n, Node::Meter(m) if m.eui.0 == sm))
            else {
                tracing::warn!(smart_meter = %dlms::hex::encode(&sm), "outage of a smart meter not in the run");
                continue;
            };
            if off {
                tracing::info!(smart_meter = %eui_text(m.eui), "outage: off");
                m.down = true;
                self.hes.count_event(now, "outage")?;
                continue;
            }
            m.boots += 1;
            let (retired_link, retired_sessions) = &mut self.tally.retired;
            m.count_into(retired_link, retired_sessions);
            let (mut link, app) = boot_meter(
                &self.opts,
                m.index,
                m.boots,
                now,
                self.pairing,
                &m.kept_passwords,
            );
            // SEC-03: its frame counters were on its flash: it goes on from them.
            if let Some(counters) = m.link.take_counter_snapshot() {
                m.counters = Some(counters);
            }
            if let Some(counters) = &m.counters {
                link.restore_counters(counters);
            }
            m.link = link;
            m.app = app;
            m.last_read.clear();
            let (sent, taken) = m.relay.counters();
            m.relay = nodes::app::relay::SmartMeterRelay::new(
                dlms::cipher::SystemTitle(m.eui.0),
                headend::node::HEAD_END_TITLE,
                head_end::keys_of(self.opts.seed, m.eui),
                sent,
                taken,
            );
            m.relay.connected(wall, |_| false);
            m.down = false;
            tracing::info!(smart_meter = %eui_text(m.eui), "outage: on again");
        }
        self.starts.retain(
            |(_, index, _)| !matches!(self.nodes.get(*index), Some(Node::Meter(m)) if m.down),
        );
        Ok(())
    }

    /// Terminal reboots due at `now`: each boots again 30 s later, its node rebuilt from
    /// its store (slots missed meanwhile written missing and recovered from its meter),
    /// a new link that scans and joins again, its clock unset until its smart meter sets
    /// it (TRM-09).
    fn reboot(&mut self) -> Result<(), String> {
        let (now, wall) = (self.now, self.utc(self.now));
        for (_, k) in take_due(&mut self.reboot_events, now) {
            let seed = self.opts.seed;
            let Some(Node::Terminal(t)) = self
                .nodes
                .iter_mut()
                .find(|n| matches!(n, Node::Terminal(t) if t.k == k))
            else {
                continue;
            };
            t.boots += 1;
            let boot = now + Duration::from_secs(30);
            let stream = stream_of(Use::TerminalLink, k, t.boots);
            let config = t.route.link().config();
            let mut link = Terminal::new(config, Box::new(Seeded::new(seed, stream)), boot);
            // SEC-03: its frame counters are on its flash (as `iotroute terminal` keeps
            // them in DIR): it goes on from its reservations, never reusing a nonce.
            if let Some(counters) = t.route.link_mut().take_counter_snapshot() {
                t.counters = Some(counters);
            }
            if let Some(counters) = &t.counters {
                link.restore_counters(counters);
            }
            // TRM-11: the interval a client set, kept as `iotroute terminal` keeps its
            // settings (read from the model).
            let interval = t
                .node
                .model()
                .lock()
                .map_err(|_| "model lock poisoned".to_owned())
                .map(|m| nodes::terminal::settings::Settings::of(&m).interval())?
                .unwrap_or(self.opts.interval);
            let node = nodes::terminal::node::TerminalNode::new(
                node_config(
                    terminal_eui(k),
                    t.first_tid,
                    t.node_password.clone(),
                    interval,
                ),
                t.store.clone(),
                wall + chrono::Duration::seconds(30),
            )
            .map_err(|e| e.to_string())?;
            let app = TerminalApp::serving(
                node.model(),
                u64::from(k),
                seed ^ stream_of(Use::TerminalApp, k, t.boots),
            )?;
            t.route = LinkedTerminal::new(link, app);
            t.node = node;
            t.model_touched = true;
            tracing::info!(terminal = %eui_text(terminal_eui(k)), "terminal rebooted");
            self.hes.count_event(now, "reboot")?;
        }
        Ok(())
    }

    /// Floods due at `now` (SEC-08): a second of ECHONET Lite datagrams at 2,000/s from
    /// another address on the terminal's home network, into its node's gate; its meter
    /// keeps being read.
    fn flood(&mut self) -> Result<(), String> {
        const FLOODER: std::net::IpAddr =
            std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 168, 1, 66));
        let (now, wall) = (self.now, self.utc(self.now));
        for (_, k) in take_due(&mut self.flood_events, now) {
            let t0 = self.instant(now);
            let Some(Node::Terminal(t)) = self
                .nodes
                .iter_mut()
                .find(|n| matches!(n, Node::Terminal(t) if t.k == k))
            else {
                continue;
            };
            // A Get of the meter's energy, as if it were a controller's: dropped unparsed.
            let junk = [
                0x10, 0x81, 0x00, 0x01, 0x05, 0xFF, 0x01, 0x02, 0x8E, 0x01, 0x62, 0x01, 0xE0, 0x00,
            ];
            let from = std::net::SocketAddr::new(FLOODER, echonet::PORT);
            for i in 0..2000u32 {
                let offset = Duration::from_micros(u64::from(i) * 500);
                t.node
                    .handle_echonet(t0 + offset, wall, from, &junk)
                    .map_err(|e| e.to_string())?;
            }
            t.drain_events();
            t.send_pushes(now);
            tracing::info!(terminal = %eui_text(terminal_eui(k)), "flood (SEC-08)");
        }
        Ok(())
    }

    /// Meter swaps due at `now` (SEC-07): the terminal's meter replaced by another, its
    /// own ID and counters.
    fn swap_meters(&mut self) {
        let wall = self.utc(self.now);
        for (_, k) in take_due(&mut self.swap_events, self.now) {
            let Some(Node::Terminal(t)) = self
                .nodes
                .iter_mut()
                .find(|n| matches!(n, Node::Terminal(t) if t.k == k))
            else {
                continue;
            };
            let config = nodes::meter::MeterConfig {
                device_id: format!("WRONG-METER-{k:04}").into_bytes(),
                ..self.opts.meter.clone()
            };
            let mut meter = nodes::meter::Meter::new(
                config,
                7_000_000,
                5_000,
                wall - chrono::Duration::days(1),
            );
            meter.advance(wall);
            t.meter = meter;
            tracing::info!(terminal = %eui_text(terminal_eui(k)), "meter swapped (SEC-07)");
        }
    }

    /// Head end kills and restarts due at `now`: killed, it loses what it held in memory;
    /// started again on its database, every smart meter connects again and says hello.
    fn head_end_life(&mut self) -> Result<(), String> {
        let (now, wall) = (self.now, self.utc(self.now));
        for (_, killed) in take_due(&mut self.headend_events, now) {
            if killed {
                tracing::info!("head end killed");
                self.hes.kill(now)?;
                continue;
            }
            self.hes.start(now, wall)?;
            self.hes.count_event(now, "headend_restart")?;
            tracing::info!("head end started again");
            for n in &mut self.nodes {
                if let Node::Meter(m) = n {
                    if !m.down {
                        let joined = m.link.terminals();
                        m.relay.connected(wall, |t| joined.contains(&Eui64(t)));
                    }
                }
            }
        }
        Ok(())
    }

    /// The A route at `now` ([`a_route`]): the head end's bytes that reach their smart
    /// meters by now and the commands they bring carried out, blocks and operator's
    /// commands due recorded, what each smart meter's relay has for the head end sent,
    /// and its look for gaps when due.
    fn a_route(&mut self) -> Result<(), String> {
        let (now, wall) = (self.now, self.utc(self.now));
        for (sm, bytes) in self.hes.arrived(now)? {
            let up = |&index: &usize| matches!(&self.nodes[index], Node::Meter(m) if !m.down);
            let Some(index) = self.smart_meter_at.get(&sm).copied().filter(up) else {
                tracing::debug!(%sm, "A route: the smart meter is down, the bytes are lost");
                continue;
            };
            let commands = match &mut self.nodes[index] {
                Node::Meter(m) => match m.relay.received(&bytes) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(error = %e, "A route stream broken");
                        continue;
                    }
                },
                Node::Terminal(_) => continue,
            };
            for command in commands {
                self.carry_out(index, command);
            }
            // What it answers goes back below.
            self.relays.insert(index);
        }
        for (_, point, block) in take_due(&mut self.block_events, now) {
            match point.parse::<mdms::SupplyPoint>() {
                Ok(p) => self.hes.block(now, wall, p, block)?,
                Err(e) => tracing::error!(%point, error = %e, "block not carried out"),
            }
        }
        while self.command_events.front().is_some_and(|c| c.0 <= now) {
            let Some((_, point, setting)) = self.command_events.pop_front() else {
                break;
            };
            match self
                .hes
                .record_command(now, wall, point.clone(), setting.clone())
            {
                Ok(seq) => {
                    tracing::info!(%point, kind = setting.kind().name(), seq, "operator's command recorded");
                    self.command_seqs.push(seq);
                }
                Err(e) => tracing::error!(%point, error = %e, "operator's command not recorded"),
            }
        }
        let mut to_hes = Vec::new();
        for index in std::mem::take(&mut self.relays) {
            if let Node::Meter(m) = &mut self.nodes[index] {
                let bytes = m.relay.take_output();
                if !m.down && !bytes.is_empty() {
                    to_hes.push((m.eui, bytes));
                }
            }
        }
        self.hes.send(now, wall, to_hes)?;
        self.hes.poll(now, wall)
    }

    /// A command the head end gave smart meter `index`.
    fn carry_out(&mut self, index: usize, command: Command) {
        let (now, wall) = (self.now, self.utc(self.now));
        self.touched.insert(index);
        if let Node::Meter(m) = &mut self.nodes[index] {
            let taken = nodes::app::smartmeter::carry_out(
                command,
                now,
                wall,
                &mut m.link,
                &mut m.app,
                &mut m.relay,
            );
            if let Some((terminal, carried)) = taken {
                m.keep_password(terminal, &carried);
            }
        }
    }

    /// Every group key used, in Wireshark's key-table form.
    fn keys(&self) -> String {
        let mut text = String::new();
        for n in &self.nodes {
            if let Node::Meter(m) = n {
                for (index, key) in m.link.keys_used() {
                    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
                    text.push_str(&format!("\"{hex}\",\"{index}\",\"No hash\"\n"));
                }
            }
        }
        text
    }

    /// What the run did, and whether every reading arrived with the meter's values.
    /// The summary; `settled_after`: how long after the last slot's end backfill
    /// settled (`None`: it had not within [`SETTLE_MAX`]).
    fn report(
        mut self,
        settled_after: Option<Duration>,
        public: report::PublicFigures,
        hes: &head_end::HeadEndSim,
    ) -> Report {
        let st = self.medium.stats();
        // What smart meters counted before they rebooted, and what everyone counts now.
        let (mut link, mut sessions) = self.tally.retired;
        for n in &self.nodes {
            match n {
                Node::Terminal(t) => {
                    let (net, mac) = (
                        t.route.link().net().stats(),
                        t.route.link().net().mac().stats(),
                    );
                    link.mac_retransmissions += mac.retransmissions;
                    link.frames_given_up += mac.failed;
                    link.fragments += net.fragments_sent;
                }
                Node::Meter(m) => m.count_into(&mut link, &mut sessions),
            }
        }
        let pushes_made = self
            .nodes
            .iter()
            .map(|n| match n {
                Node::Terminal(t) => t.pushes_made,
                Node::Meter(_) => 0,
            })
            .sum();
        let mut system = self.system_figures(hes);
        system.intervals_differ = self.intervals_differ(hes);
        // The terminals' records last, each terminal let go once its record is made: the
        // records (about 3.5 KiB a terminal and day) and the whole run (about ten times
        // that) were held at once at the run's end, its peak.
        let terminals: Vec<TerminalRecord> = std::mem::take(&mut self.nodes)
            .into_iter()
            .filter_map(|n| match n {
                Node::Terminal(t) if !t.attacker => Some(self.terminal_record(&t)),
                _ => None,
            })
            .collect();
        let readings = report::ReadingFigures {
            scheduled: self.tally.terminals.expected(),
            arrived: terminals.iter().map(|t| t.readings_arrived).sum(),
            longest_delay_s: self.tally.terminals.longest_delay().as_secs_f64(),
            values_equal: self.tally.values_equal,
            values_differ: self.tally.values_differ,
        };
        let pushes = report::PushFigures {
            made: pushes_made,
            equal: self.tally.pushes_equal,
            differ: self.tally.pushes_differ,
            events: self.tally.event_pushes,
        };
        let commands: Vec<CommandRecord> = hes
            .commands(&self.command_seqs)
            .iter()
            .map(CommandRecord::of)
            .collect();
        Report {
            ok: self.all_arrived()
                && readings.values_differ == 0
                && pushes.differ == 0
                && system.lost == 0
                && system.doubled == 0
                && system.values_differ == 0
                && system.intervals_differ == 0
                && commands.len() == usize::try_from(self.opts.commands).unwrap_or(usize::MAX)
                && commands.iter().all(CommandRecord::done),
            terminals_count: self.opts.terminals,
            smartmeters: self.opts.smartmeters,
            start: self.opts.start.with_timezone(&jst()),
            days: self.opts.duration.as_secs_f64() / 86_400.0,
            interval_min: self.opts.interval.minutes(),
            simulated_s: self.opts.duration.as_secs_f64(),
            settled_s: settled_after.map(|d| d.as_secs_f64()),
            seed: self.opts.seed,
            radio: report::RadioFigures {
                frames: st.frames,
                bytes: st.bytes,
                air_time_s: Duration::from_micros(st.air_time_us).as_secs_f64(),
                received: st.received,
                collided: st.collided,
                faded: st.faded,
                receiver_busy: st.receiver_busy,
                injected_losses: self.tally.injected_losses,
            },
            link,
            sessions,
            readings,
            pushes,
            system,
            public,
            commands,
            terminals,
            not_built: report::not_built(self.opts.commands > 0),
        }
    }

    /// Every expected slot of every point against the MDMS: its quality, and its energy
    /// and counters against what the terminal's meter counted at both boundaries.
    fn system_figures(&self, hes: &head_end::HeadEndSim) -> SystemFigures {
        let f = hes.figures();
        let (mdms_rejected, mdms_conflicts) = hes.mdms_refusals();
        let mut y = SystemFigures {
            points: hes.points().len(),
            latency_s: report::Latency::of_counts(&f.latencies),
            events: f.events.clone(),
            a_route_messages: f.messages,
            a_route_refused: f.refused,
            backfills: f.backfills,
            blocks: hes.blocks(),
            mdms_rejected,
            mdms_conflicts,
            ..SystemFigures::default()
        };
        let (Some(first), Some(last), Some(mdms)) =
            (self.slots.first(), self.slots.last(), hes.mdms())
        else {
            return y;
        };
        let (from, to) = (self.utc(*first), self.utc(*last));
        let modulus = 100_000_000u32;
        // The MDMS read a slot start at a time, every point's slots at once, in the
        // order its store keeps them (by time, then point): a point at a time was a seek
        // per quarter hour per point, 96 million at a million points.
        let points = hes.points();
        let index: HashMap<&mdms::SupplyPoint, usize> = points
            .iter()
            .enumerate()
            .map(|(i, p)| (&p.supply_point, i))
            .collect();
        // Per point: the starts it has a slot for, and its estimated slots.
        let mut kept = vec![(0u64, 0u64); points.len()];
        let mut start = from;
        while start < to {
            let slots = match mdms::MdmsStore::slots_starting(mdms.store(), start) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "MDMS not read");
                    Vec::new()
                }
            };
            start += chrono::Duration::minutes(15);
            // Ordered by point: a point's second slot of a start comes right after its first.
            let mut previous: Option<&mdms::SupplyPoint> = None;
            for slot in &slots {
                let Some(&i) = index.get(&slot.point) else {
                    continue;
                };
                let p = &points[i];
                if slot.quality == mdms::Quality::Estimated {
                    kept[i].1 += 1;
                }
                if previous.replace(&slot.point) == Some(&slot.point) {
                    y.doubled += 1;
                    continue;
                }
                kept[i].0 += 1;
                match slot.quality {
                    mdms::Quality::Measured => y.measured += 1,
                    mdms::Quality::Recovered => y.recovered += 1,
                    mdms::Quality::Backfilled => y.backfilled += 1,
                    mdms::Quality::Estimated => y.estimated += 1,
                    mdms::Quality::Flagged => y.flagged += 1,
                }
                let end = slot.start + chrono::Duration::minutes(i64::from(slot.minutes));
                let t = p.terminal_id.0;
                let truth = |at: DateTime<Utc>| self.truth((t, at.timestamp()));
                let equal = match (truth(slot.start), truth(end)) {
                    (Some(a), Some(b)) => {
                        slot.cum_in == b.0
                            && slot.cum_out == b.1
                            && slot.in_wh == (b.0 + modulus - a.0) % modulus
                            && slot.out_wh == (b.1 + modulus - a.1) % modulus
                    }
                    _ => false,
                };
                // Not a reading (estimated), or not to be trusted (flagged, SEC-07).
                if matches!(
                    slot.quality,
                    mdms::Quality::Estimated | mdms::Quality::Flagged
                ) {
                    continue;
                }
                if equal {
                    y.values_equal += 1;
                } else {
                    y.values_differ += 1;
                    tracing::warn!(point = %p.supply_point, start = %slot.start, ?slot, "an MDMS slot differs from the meter's counts");
                }
            }
        }
        // Each point's slots: between two boundaries its terminal was expected to read
        // (its own, once its interval switched: TRM-11).
        for (p, (starts, estimated)) in points.iter().zip(kept) {
            let boundaries = self.tally.terminals.boundaries(p.terminal_id.0).count();
            let expected = u64::try_from(boundaries.saturating_sub(1)).unwrap_or(0);
            y.expected += expected;
            y.lost += expected.saturating_sub(starts.saturating_sub(estimated));
        }
        y
    }

    /// Registered points whose terminal's capture period is not the registry's interval
    /// (TRM-11), each logged.
    fn intervals_differ(&self, hes: &head_end::HeadEndSim) -> u64 {
        let registered: HashMap<[u8; 8], Interval> = hes
            .registry()
            .iter()
            .map(|p| (p.terminal_id.0, p.interval))
            .collect();
        let mut differ = 0;
        for n in &self.nodes {
            let Node::Terminal(t) = n else {
                continue;
            };
            let eui = t.route.link().eui64();
            let Some(interval) = registered.get(&eui.0) else {
                continue;
            };
            let period = t.node.model().lock().map(|m| m.capture_period()).ok();
            if period != u32::try_from(interval.seconds()).ok() {
                tracing::warn!(terminal = %eui_text(eui), ?period, registered = interval.minutes(), "terminal on another interval than the registry's");
                differ += 1;
            }
        }
        differ
    }

    /// One terminal's part of the report: each slot's meter count against what its smart
    /// meter received.
    fn terminal_record(&self, t: &TerminalSim) -> TerminalRecord {
        let eui = t.route.link().eui64();
        let slots: Vec<SlotRecord> = self
            .tally
            .terminals
            .boundaries(eui.0)
            .map(|unix| {
                let key = (eui.0, unix);
                let truth = self.truth_of(t, key);
                let got = self.tally.terminals.arrival(eui.0, unix);
                SlotRecord {
                    slot: self.utc(self.at(unix)).with_timezone(&jst()),
                    meter_in_wh: truth.map(|t| t.0),
                    meter_out_wh: truth.map(|t| t.1),
                    received_in_wh: got.and_then(|r| r.ac_in_wh),
                    received_out_wh: got.and_then(|r| r.ac_out_wh),
                    received_status: got.and_then(|r| r.status),
                    delay_s: got.map(|r| r.delay.as_secs_f64()),
                    equal: got.is_some_and(|r| matches_truth(truth, &r)),
                }
            })
            .collect();
        let led = t.node.led();
        TerminalRecord {
            eui64: eui_text(eui),
            smart_meter: t.route.link().meter().map(eui_text),
            readings_arrived: slots.iter().filter(|s| s.delay_s.is_some()).count(),
            slots,
            led: led.name(),
            led_pattern: led.pattern(),
            led_changes: t.led_changes,
            dos_events: t.node.dos_events(),
        }
    }
}

/// Whether `row` (valid) carries the meter's count `truth`.
fn matches_truth(truth: Option<(u32, u32)>, row: &SlotArrival) -> bool {
    let not_valid = dlms::cosem::model::status::DATA_NOT_VALID;
    truth.is_some_and(|(i, o)| {
        row.ac_in_wh == Some(i)
            && row.ac_out_wh == Some(o)
            && row.status.is_some_and(|s| s & not_valid == 0)
    })
}

enum Actions {
    Terminal(Vec<TerminalEvent>),
    Meter(Vec<SmartMeterEvent>),
}

impl Actions {
    fn is_empty(&self) -> bool {
        match self {
            Self::Terminal(e) => e.is_empty(),
            Self::Meter(e) => e.is_empty(),
        }
    }
}
