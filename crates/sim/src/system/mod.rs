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
//! and IDs per terminal. A street of more than [`Options::district_size`] smart meters
//! is cut into districts a radio's reach apart, each with its own medium, run side by
//! side on two threads (`district.rs`, `lanes.rs`). The run covers the slots starting
//! in `[start, start + duration)` (`--start`, 2026-04-01 00:00 JST by default); virtual
//! time 0 is 20 minutes before the first boundary so that the links are up when it is
//! read, and the run goes on after the last until the head end has every slot (backfill
//! settled) or a day has passed.

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
mod district;
mod head_end;
mod lanes;
mod meter_side;
mod public;
mod report;
mod tally;

use district::{District, Up};
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
    /// Smart meters a district holds at most (ours; [`DISTRICT_SMART_METERS`] by
    /// default): each district has a radio of its own, a reach apart from the next.
    pub district_size: u32,
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

/// The index of smart meter `eui` of [`meter_eui`], if it is one of a run of
/// `smartmeters`.
fn meter_index(eui: Eui64, smartmeters: u32) -> Option<u32> {
    let i = u32::from_be_bytes([eui.0[4], eui.0[5], eui.0[6], eui.0[7]]).checked_sub(0x2001)?;
    (i < smartmeters && meter_eui(i + 1) == eui).then_some(i)
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
    DistrictLoss = 6,
    DistrictRadio = 7,
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

/// Where terminal `k` is among the terminals of the district of smart meters `meters` of
/// a run of `smartmeters` (0 for its first): they are in number order, and smart meter
/// `i`'s `j`-th terminal is number `j × smartmeters + i + 1`; `None` when its home is in
/// another district.
fn terminal_place(k: u32, smartmeters: u32, meters: &core::ops::Range<u32>) -> Option<usize> {
    let (m, k) = (smartmeters.max(1), k.checked_sub(1)?);
    let (row, i) = (k / m, k % m);
    let width = meters.len();
    let at = usize::try_from(i.checked_sub(meters.start)?).ok()?;
    (at < width).then(|| usize::try_from(row).unwrap_or(usize::MAX) * width + at)
}

/// How many of terminals `1..=terminals` [`terminal_place`] places in the district of
/// smart meters `meters` (counted, not searched: a run of a million terminals has
/// hundreds of districts).
fn placed_count(terminals: u32, smartmeters: u32, meters: &core::ops::Range<u32>) -> usize {
    let m = smartmeters.max(1);
    let (rows, rest) = (terminals / m, terminals % m);
    let partial = rest.clamp(meters.start, meters.end.max(meters.start)) - meters.start;
    usize::try_from(rows).unwrap_or(usize::MAX) * meters.len()
        + usize::try_from(partial).unwrap_or(0)
}

/// The terminal at place `n` of [`terminal_place`].
fn placed_terminal(n: usize, smartmeters: u32, meters: &core::ops::Range<u32>) -> u32 {
    let width = meters.len().max(1);
    let row = u32::try_from(n / width).unwrap_or(u32::MAX);
    let at = u32::try_from(n % width).unwrap_or(0);
    row * smartmeters.max(1) + meters.start + at + 1
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

/// Where a terminal stands and what the run's layout drew for it, in the layout's
/// order.
struct Placed {
    k: u32,
    id: NodeId,
    /// When it powers up: homes a little apart.
    boot: Duration,
    /// Its meter's counters: a household meter that has run for a day, apart per home.
    start_in: u32,
    start_out: u32,
    first_tid: u16,
}

impl Placed {
    /// Terminal `k` placed on `medium` near its home smart meter (at `home_x` on the
    /// street), the rest of its draws taken from `layout`.
    fn draw(k: u32, medium: &mut Medium, home_x: f64, layout: &Seeded) -> Self {
        let dx = layout.unit() * 12.0 - 6.0;
        let dy = 8.0 + layout.unit() * 6.0;
        let id = medium.add_node(Position::indoor(home_x + dx, dy));
        Self {
            k,
            id,
            boot: Duration::from_millis(layout.next() % 20_000),
            start_in: 10_000 + u32::try_from(layout.next() % 50_000_000).unwrap_or(0),
            start_out: u32::try_from(layout.next() % 1_000_000).unwrap_or(0),
            first_tid: u16::try_from(layout.next() % 65_536).unwrap_or(1),
        }
    }
}

enum Node {
    Terminal(Box<TerminalSim>),
    Meter(Box<MeterNode>),
}

impl Node {
    /// Its radio's ID on its district's medium.
    fn id(&self) -> NodeId {
        match self {
            Self::Terminal(t) => t.id,
            Self::Meter(m) => m.id,
        }
    }
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

impl Tally {
    /// `other`'s counts (another district's) added to its own; its terminals' parts
    /// given back, for [`tally::Tallies::merge`].
    fn absorb(&mut self, other: Self) -> tally::Tallies {
        self.injected_losses += other.injected_losses;
        self.values_equal += other.values_equal;
        self.values_differ += other.values_differ;
        self.pushes_equal += other.pushes_equal;
        self.pushes_differ += other.pushes_differ;
        self.event_pushes += other.event_pushes;
        self.retired.0 += other.retired.0;
        self.retired.1 += other.retired.1;
        other.terminals
    }
}

/// Smart meters a district holds at most by default **(ours)**: a distribution area's
/// worth; the districts of a run of more each have a radio of their own and run side by
/// side (`district.rs`, [`Options::district_size`]).
pub const DISTRICT_SMART_METERS: u32 = 1024;

/// The district of smart meter `i` on a street cut into districts of `size`.
fn district(i: u32, size: u32) -> usize {
    usize::try_from(i / size.max(1)).unwrap_or(0)
}

/// How far the districts run on their own before what they sent goes to the head end
/// and its answers come back: half the A route's round trip, so that the head end
/// answers what one window sent while the next runs, and its answers to a window are
/// taken before the window they arrive in.
const WINDOW: Duration = Duration::from_millis(50);

/// Where a request to the head end falls among those of the same time (its order is
/// (time, place, district, order sent): the same whichever district ran first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Place {
    /// Killed or started again.
    Life,
    /// A block or reconnect (OPS-07).
    Block,
    /// An operator's command recorded.
    Command,
    /// What the districts' smart meters sent.
    District,
    /// Its look for gaps.
    Poll,
    /// The public server's rounds.
    Publish,
}

/// A request to the head end, in a window.
enum Item {
    Kill,
    Start,
    Block(mdms::SupplyPoint, bool),
    Command(mdms::SupplyPoint, Setting),
    Up(Up),
    Poll,
    Publish(Vec<public::Round>),
}

/// The run: its districts, the head end at the A route's end, and what it plans for the
/// head end; it runs the districts a window at a time ([`WINDOW`]) and hands what they
/// sent to the head end in an order of their own.
struct LinkSim<W: std::io::Write> {
    opts: std::sync::Arc<Options>,
    /// The wall-clock time of virtual time 0.
    origin: DateTime<Utc>,
    /// The end of the run's last slot, in virtual time.
    end: Duration,
    /// Slots scheduled: every boundary within the run.
    slots: Vec<Duration>,
    districts: lanes::Lanes,
    /// Smart meters a district holds (the last may hold fewer): smart meter `i` is in
    /// district `i / size`.
    size: u32,
    pcap: Option<Writer<W>>,
    /// The head end and its MDMS, on their thread at the A route's end.
    hes: a_route::ARoute,
    /// The public server's rounds, and its publication (run on the MDMS's thread).
    schedule: public::Schedule,
    public: public::Shared,
    /// Blocks and reconnects still to come: (time, point, block).
    block_events: BTreeSet<(Duration, String, bool)>,
    /// Head end kills and restarts still to come: (time, killed).
    headend_events: BTreeSet<(Duration, bool)>,
    /// Operator commands still to record, in time order.
    command_events: VecDeque<PlannedCommand>,
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
        // Districts of at most `district_size` smart meters each, as even as they go,
        // and an even number of them when more than one: half on each lane.
        let even = match opts.smartmeters.div_ceil(opts.district_size.max(1)) {
            0 | 1 => 1,
            n => n + n % 2,
        };
        let size = opts.smartmeters.div_ceil(even).max(1);
        // None empty (an even number of districts of `size` may have been one too many).
        let count = opts.smartmeters.div_ceil(size).max(1);
        let district_of = |i: u32| district(i, size);
        let mut media: Vec<Medium> = (0..count)
            .map(|d| {
                // The first district's radio under the run's seed, as a run of one
                // district's always was; each other's under one of its own.
                let seed = if d == 0 {
                    opts.seed
                } else {
                    opts.seed ^ stream_of(Use::DistrictRadio, d, 0)
                };
                Medium::new(seed, PropagationConfig::default(), PhyConfig::default())
            })
            .collect();
        // Where smart meter i stands on the street: 40 m after the one before, and a
        // radio's reach farther at a district's first.
        let gap = PropagationConfig::default().reach_m().ceil();
        let street_x = |i: u32| f64::from(i) * 40.0 + f64::from(i / size) * gap;
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
        let mut nodes: Vec<Vec<Node>> = (0..count).map(|_| Vec::new()).collect();
        for i in 0..opts.smartmeters {
            let d = district_of(i);
            let id = media[d].add_node(Position::outdoor(street_x(i), 0.0));
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
            nodes[d].push(Node::Meter(Box::new(MeterNode {
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
        // Each terminal placed in turn (the layout's draws in their order), then built —
        // its meter, its node and its six hours of history — on two threads.
        let placed: Vec<(usize, Placed)> =
            (1..=opts.terminals + opts.wrong_passwords + opts.wrong_pairings)
                .map(|k| {
                    let home = home_of(k, opts.smartmeters);
                    let d = district_of(home);
                    (d, Placed::draw(k, &mut media[d], street_x(home), &layout))
                })
                .collect();
        let build = |part: &[(usize, Placed)]| -> Result<Vec<(usize, TerminalSim)>, String> {
            part.iter()
                .map(|(d, p)| Ok((*d, Self::terminal(&opts, p, t0, origin, pairing)?)))
                .collect()
        };
        let (first, second) = placed.split_at(placed.len() / 2);
        let built = std::thread::scope(|scope| {
            let beside = scope.spawn(|| build(second));
            let here = build(first);
            let there = beside
                .join()
                .unwrap_or_else(|_| Err("a terminal's build panicked".to_owned()));
            here.and_then(|mut h| {
                h.extend(there?);
                Ok(h)
            })
        })?;
        for (d, t) in built {
            nodes[d].push(Node::Terminal(Box::new(t)));
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
        let headend_events: BTreeSet<(Duration, bool)> = opts
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
        // Each fault to the district of the node it strikes (an outage of a smart meter
        // not in the run to the first, which says so when it is due).
        let of_terminal = |k: u32| district_of(home_of(k, opts.smartmeters));
        let split = |events: BTreeSet<(Duration, u32)>| {
            let mut by: Vec<BTreeSet<(Duration, u32)>> = vec![BTreeSet::new(); nodes.len()];
            for e in events {
                by[of_terminal(e.1)].insert(e);
            }
            by
        };
        let mut reboots = split(seeded_events(&opts, lead, 3, opts.reboots));
        let mut floods = split(seeded_events(&opts, lead, 5, opts.floods));
        let mut swaps = split(seeded_events(&opts, lead, 4, opts.wrong_meters));
        let mut outages: Vec<BTreeSet<(Duration, [u8; 8], bool)>> =
            vec![BTreeSet::new(); nodes.len()];
        for o in &opts.outages {
            let d = meter_index(Eui64(o.smart_meter), opts.smartmeters).map_or(0, district_of);
            outages[d].insert((lead + o.from, o.smart_meter, true));
            outages[d].insert((lead + o.to, o.smart_meter, false));
        }
        let restarts: BTreeSet<Duration> = headend_events
            .iter()
            .filter(|(_, killed)| !killed)
            .map(|(t, _)| *t)
            .collect();
        let opts = std::sync::Arc::new(opts);
        let districts = nodes
            .into_iter()
            .zip(media)
            .enumerate()
            .map(|(d, (nodes, medium))| {
                let first = u32::try_from(d).unwrap_or(u32::MAX).saturating_mul(size);
                District::new(district::Setup {
                    number: d,
                    opts: opts.clone(),
                    meters: first..first.saturating_add(size).min(opts.smartmeters),
                    medium,
                    nodes,
                    origin,
                    slots: slots.clone(),
                    grid,
                    t0: t0 + HISTORY.to_std().unwrap_or_default(),
                    pairing,
                    pcap: pcap.is_some(),
                    restarts: restarts.clone(),
                    outage_events: std::mem::take(&mut outages[d]),
                    reboot_events: std::mem::take(&mut reboots[d]),
                    swap_events: std::mem::take(&mut swaps[d]),
                    flood_events: std::mem::take(&mut floods[d]),
                })
            })
            .collect();
        Ok(Self {
            opts,
            origin,
            end,
            slots,
            districts: lanes::Lanes::new(districts)?,
            size,
            pcap,
            hes: a_route::ARoute::spawn(hes)?,
            schedule,
            public,
            block_events,
            headend_events,
            command_events,
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

    /// Terminal `p.k` (an attacker when [`Attack::of`] says so) with its meter, its node
    /// run for the six hours before the start, and its link, as placed.
    fn terminal(
        opts: &Options,
        p: &Placed,
        t0: std::time::Instant,
        origin: DateTime<Utc>,
        pairing: PairingId,
    ) -> Result<TerminalSim, String> {
        let (k, id, attack) = (p.k, p.id, Attack::of(opts, p.k));
        let channels = channels_of(opts.smartmeters);
        // Ours: the simulation speaks the default link profile on both sides.
        let profile = LinkProfile::default();
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
        let link = Terminal::new(
            config,
            Box::new(Seeded::new(opts.seed, stream_of(Use::TerminalLink, k, 0))),
            p.boot,
        );
        let mut meter = nodes::meter::Meter::new(
            opts.meter.clone(),
            p.start_in,
            p.start_out,
            origin - chrono::Duration::days(1),
        );
        meter.advance(origin - HISTORY);
        let first_tid = p.first_tid;
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

    /// Whether the run is over at `now`: its time is, nothing it plans is still to come,
    /// the head end has every slot of every point (backfill settled) and the end of
    /// every command.
    fn settled(&mut self, now: Duration) -> Result<bool, String> {
        let (Some(&first), Some(&last)) = (self.slots.first(), self.slots.last()) else {
            return Ok(true);
        };
        let planned_done = now >= self.end
            && self.block_events.is_empty()
            && self.headend_events.is_empty()
            && self.command_events.is_empty()
            && self.districts.plans_done();
        if !planned_done {
            return Ok(false);
        }
        let (from, to) = (self.utc(first), self.utc(last));
        self.hes.settled(now, from, to)
    }

    /// Run to the end of the last slot and on until backfill has settled (at most
    /// [`SETTLE_MAX`] more), a window at a time: the head end's bytes arriving in it to
    /// their districts, the districts run through it, and what they sent and what the
    /// run planned for the head end in it handed over.
    fn run(mut self, progress: &mut dyn FnMut(Progress)) -> Result<Run, String> {
        let deadline = self.end + SETTLE_MAX;
        // The last boundary read and its pushes on their way before the first look.
        let mut next_check = self.end + SETTLE_CHECK;
        let mut settled_after = None;
        let mut next_slot = 0usize;
        // The start of the window the run is in.
        let mut now = Duration::ZERO;
        loop {
            let next = self
                .districts
                .next_due()
                .into_iter()
                .chain(self.hes.next_due())
                .chain(self.slots.get(next_slot).copied())
                .chain(self.block_events.first().map(|b| b.0))
                .chain(self.headend_events.first().map(|h| h.0))
                .chain(self.command_events.front().map(|c| c.0))
                .chain(self.schedule.next_due())
                .min();
            let Some(t) = next.filter(|t| *t <= deadline) else {
                break;
            };
            // Windows are the same in every run: multiples of WINDOW.
            let window = u32::try_from(t.as_nanos() / WINDOW.as_nanos()).unwrap_or(u32::MAX);
            let start = WINDOW * window;
            now = start;
            if start >= next_check {
                next_check = start + SETTLE_CHECK;
                progress(Progress {
                    done: start,
                    slots_end: self.end,
                });
                if self.settled(start)? {
                    settled_after = Some(start - self.end);
                    break;
                }
            }
            let until = (start + WINDOW).min(deadline + Duration::from_nanos(1));
            while let Some(&slot) = self.slots.get(next_slot).filter(|s| **s < until) {
                progress(Progress {
                    done: slot,
                    slots_end: self.end,
                });
                next_slot += 1;
            }
            for (at, sm, bytes) in self.hes.arriving_before(until)? {
                let d =
                    meter_index(sm, self.opts.smartmeters).map_or(0, |i| district(i, self.size));
                self.districts.arriving(d, at, sm, bytes);
            }
            let mut items = self.planned(until);
            self.districts.run_until(until)?;
            for (d, outbox) in self.districts.take_outboxes() {
                items.extend(
                    outbox
                        .into_iter()
                        .enumerate()
                        .map(|(seq, (at, up))| ((at, Place::District, d, seq), Item::Up(up))),
                );
            }
            items.sort_by_key(|i| i.0);
            for ((at, ..), item) in items {
                self.ask(at, item)?;
            }
            self.hes.hand_over()?;
            self.write_frames();
        }
        let mut hes = self.hes.join()?;
        hes.stop();
        let all = self.schedule.take_all();
        hes.then(self.publication(all, now));
        let public = self
            .public
            .lock()
            .map_err(|_| "the public server's publication panicked".to_owned())?
            .figures()?;
        if let Some(w) = self.pcap.take() {
            w.into_inner().flush().map_err(|e| format!("pcap: {e}"))?;
        }
        let commands = self.hes.recorded().to_vec();
        let whole = District::merge(self.districts.into_districts()?)
            .ok_or_else(|| "a run without districts".to_owned())?;
        let keys = whole.keys();
        Ok(Run {
            report: whole.report(settled_after, public, &hes, &commands),
            keys,
        })
    }

    /// What the run planned for the head end before `until`: kills and restarts,
    /// blocks, operator's commands, its looks for gaps and the public server's rounds,
    /// each with its place in the window's order.
    fn planned(&mut self, until: Duration) -> Vec<((Duration, Place, usize, usize), Item)> {
        let mut items = Vec::new();
        let mut push = |at: Duration, place: Place, item: Item| {
            let seq = items.len();
            items.push(((at, place, 0, seq), item));
        };
        while let Some((at, killed)) = self.headend_events.first().copied() {
            if at >= until {
                break;
            }
            self.headend_events.pop_first();
            push(
                at,
                Place::Life,
                if killed { Item::Kill } else { Item::Start },
            );
        }
        while self.block_events.first().is_some_and(|b| b.0 < until) {
            let Some((at, point, block)) = self.block_events.pop_first() else {
                break;
            };
            match point.parse::<mdms::SupplyPoint>() {
                Ok(p) => push(at, Place::Block, Item::Block(p, block)),
                Err(e) => tracing::error!(%point, error = %e, "block not carried out"),
            }
        }
        while self.command_events.front().is_some_and(|c| c.0 < until) {
            let Some((at, point, setting)) = self.command_events.pop_front() else {
                break;
            };
            tracing::info!(%point, kind = setting.kind().name(), "operator's command");
            push(at, Place::Command, Item::Command(point, setting));
        }
        let poll = self.hes.next_poll();
        if poll < until {
            push(poll, Place::Poll, Item::Poll);
        }
        while let Some(at) = self.schedule.next_due().filter(|t| *t < until) {
            push(
                at,
                Place::Publish,
                Item::Publish(self.schedule.take_due(at)),
            );
        }
        items
    }

    /// `item` to the head end, asked at `at`.
    fn ask(&mut self, at: Duration, item: Item) -> Result<(), String> {
        let wall = self.utc(at);
        match item {
            Item::Kill => {
                tracing::info!("head end killed");
                self.hes.kill(at)
            }
            Item::Start => {
                self.hes.start(at, wall)?;
                tracing::info!("head end started again");
                self.hes.count_event(at, "headend_restart")
            }
            Item::Block(point, block) => self.hes.block(at, wall, point, block),
            Item::Command(point, setting) => self.hes.record_command(at, wall, point, setting),
            Item::Up(Up::Bytes(bytes)) => self.hes.send(at, wall, bytes),
            Item::Up(Up::Event(kind)) => self.hes.count_event(at, kind),
            Item::Poll => self.hes.poll(at, wall),
            Item::Publish(rounds) => {
                let publication = self.publication(rounds, at);
                self.hes.then(at, publication)
            }
        }
    }

    /// The frames the districts sent in the window, to the pcap in time order (a
    /// district's before the next's at the same time).
    fn write_frames(&mut self) {
        if self.pcap.is_none() {
            return;
        }
        let mut frames = self.districts.take_frames();
        frames.sort_by_key(|f| (f.0, f.1));
        for (at, _, record) in frames {
            let micros = u64::try_from(self.utc(at).timestamp_micros()).unwrap_or(0);
            if let Some(Err(e)) = self.pcap.as_mut().map(|w| w.write(micros, &record)) {
                tracing::error!(error = %e, "pcap record not written");
            }
        }
    }

    /// The publication of `rounds` as of `now`, for the MDMS's thread.
    fn publication(
        &self,
        rounds: Vec<public::Round>,
        now: Duration,
    ) -> impl FnOnce(&mdms::Mdms<head_end::MdmsStore>) + Send + 'static {
        let (public, wall) = (self.public.clone(), self.utc(now));
        move |mdms| match public.lock() {
            Ok(mut p) => p.publish(mdms.store(), &rounds, now, wall),
            Err(_) => tracing::error!("the public server's publication panicked before"),
        }
    }

    fn utc(&self, t: Duration) -> DateTime<Utc> {
        self.origin + chrono::Duration::from_std(t).unwrap_or_default()
    }
}
