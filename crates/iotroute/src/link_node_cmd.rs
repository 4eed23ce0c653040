//! `iotroute terminal` and `iotroute smartmeter`: the two ends of the IoT route as
//! programs of their own on the `iotroute air` hub (ZEP v2 over UDP), so that they run as
//! separate processes. Same node logic (`nodes::link`) and applications
//! (`nodes::app`) as `sim --link`, on real time.
//!
//! Link passwords (SEC-02) stay off the command line when asked: the terminal's comes
//! from `--password`, else `IOTROUTE_LINK_PASSWORD`, else `password=` in `--secrets FILE`;
//! each terminal the smart meter registers from `--terminal EUI64=PASSWORD`, else (for a
//! `--terminal EUI64` without one) `IOTROUTE_LINK_PASSWORD_<EUI64>`, else
//! `terminal.<EUI64>=PASSWORD` in its `--secrets FILE` (which registers the terminals it
//! names, too). Flag > environment > file, as for the DLMS secrets
//! (`crate::secret_input`); a file its group or others may read is refused. Each
//! terminal's DLMS LLS password is derived from its EUI-64 and link password
//! (`nodes::app::secrets::dlms_password`) at both ends. A password the head end's command
//! changed (`set-password`) or told (`terminal-secret`, TRM-08) is kept in the smart
//! meter's `--data` and wins at the next start over the configured one it replaced
//! (`crate::smartmeter_passwords`).

use core::time::Duration;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use dlms::cosem::image::{ImagePolicy, ImageStorage};
use nodes::terminal::firmware::TerminalImages;
use std::process::ExitCode;

use chrono::{DateTime, Timelike, Utc};
use nodes::flood::FloodReport;

use crate::access_file::{AccessFile, SharedAccess};
use crate::image_file::ImageFile;
use nodes::link::frame_counters::CounterSnapshot;
use nodes::link::mac::MacConfig;
use nodes::link::net::NetConfig;
use nodes::link::pana::paa::{PaaConfig, Registry};
use nodes::link::pana::PanaTimers;
use nodes::link::smartmeter::{JoinWindow, SmartMeter, SmartMeterConfig, SmartMeterEvent};
use nodes::link::terminal::{LinkPhase, Terminal, TerminalConfig, TerminalEvent};
use nodes::terminal::led::LinkView;
use nodes::terminal::node::ManagementSecret;
use nodes::terminal::settings::Settings;
use pana::psk::identity_from_eui64;
use pana::secret::Psk;
use pana::AuthFailure;
use serde_json::json;
use wisun::mac::Eui64;
use wisun::PairingId;

use crate::air_node::{self, App, HUB_ACK_WAIT, HUB_MAX_PSDU};
use crate::clock::ScaledClock;
use crate::link_counters::{CounterFile, CounterFileError};
use crate::link_profile_args::ProfileArgs;
use crate::secret_input::{
    self, link_env_name, parse_secret, LinkSecretsFile, Secret, SecretsFileError,
};
use crate::smartmeter_passwords::PasswordFile;
use crate::terminal_meter;
use crate::terminal_status::LinkStatus;
use nodes::app::entropy::Seeded;
use nodes::app::image_push::{PushOutcome, Rollout, SignedImage};
use nodes::app::linked::LinkedTerminal;
use nodes::app::reader::{Carried, ClockSync, Reader};
use nodes::app::secrets::{dlms_password, TerminalSecrets};
use nodes::app::server::TerminalApp;
use nodes::app::smartmeter::{Arrived, Routed, SmartMeterApp};
use nodes::app::DLMS_PORT;

fn parse_eui64(s: &str) -> Result<Eui64, String> {
    let hex: String = s.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    let bytes = dlms::hex::decode(&hex).map_err(|e| e.to_string())?;
    <[u8; 8]>::try_from(bytes.as_slice())
        .map(Eui64)
        .map_err(|_| format!("`{s}`: an EUI-64 is 8 bytes"))
}

fn parse_pairing_id(s: &str) -> Result<PairingId, String> {
    PairingId::from_bytes(s.as_bytes()).map_err(|e| e.to_string())
}

/// The join window from the start of the run (time zero of the node's clock).
fn parse_join_window(s: &str) -> Result<JoinWindow, String> {
    let seconds: u64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number of seconds"))?;
    JoinWindow::open_for(Duration::ZERO, Duration::from_secs(seconds)).map_err(|e| e.to_string())
}

/// Bytes given in hex on the command line: one value (a bare `Vec<u8>` would be read by
/// clap as a list of values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexBytes(pub Vec<u8>);

fn parse_hex(s: &str) -> Result<HexBytes, String> {
    dlms::hex::decode(s)
        .map(HexBytes)
        .map_err(|e| format!("{s:?}: {e}"))
}

fn parse_rfc3339(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{s:?}: not an RFC 3339 time ({e})"))
}

fn parse_channel(s: &str) -> Result<u8, String> {
    let n: u16 = s.parse().map_err(|_| format!("`{s}` is not a channel"))?;
    wisun::channel::Channel::new(n)
        .map(wisun::channel::Channel::number)
        .map_err(|e| e.to_string())
}

/// A terminal the smart meter accepts (`--terminal`): its EUI-64 and, unless it comes
/// from the environment or the secrets file, its link password. `Debug` redacts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// The terminal.
    pub eui64: Eui64,
    /// Its link password, when given on the command line.
    pub password: Option<Secret>,
}

/// `EUI64=PASSWORD` or `EUI64`. Errors never quote the text (it may hold a password).
fn parse_registration(s: &str) -> Result<Registration, String> {
    let (eui, password) = match s.split_once('=') {
        Some((eui, pw)) => (eui, Some(parse_secret(pw)?)),
        None => (s, None),
    };
    let eui64 = parse_eui64(eui).map_err(|_| {
        "EUI64 or EUI64=PASSWORD, the EUI-64 as 16 hex digits (text not shown)".to_owned()
    })?;
    Ok(Registration { eui64, password })
}

/// Why the link passwords cannot be had. Never carries a password.
#[derive(Debug, thiserror::Error)]
pub enum LinkSecretsError {
    /// The secrets file cannot be used.
    #[error(transparent)]
    File(#[from] SecretsFileError),
    /// The terminal has no password from anywhere.
    #[error(
        "no link password: give --password, {} or `password=` in --secrets FILE",
        secret_input::ENV_LINK_PASSWORD
    )]
    NoPassword,
    /// A registered terminal has no password from anywhere.
    #[error("terminal {terminal}: no link password: give --terminal EUI64=PASSWORD, {env} or `terminal.{terminal}=` in --secrets FILE")]
    NoPasswordFor {
        /// The terminal's EUI-64, hex.
        terminal: String,
        /// The environment variable that would have given it.
        env: String,
    },
    /// The same terminal given twice with `--terminal`.
    #[error("terminal {terminal} given twice with --terminal")]
    Duplicate {
        /// The terminal's EUI-64, hex.
        terminal: String,
    },
    /// No terminal registered at all.
    #[error(
        "no terminal registered: give --terminal or `terminal.<EUI64>=` lines in --secrets FILE"
    )]
    NoTerminals,
}

/// The terminal's link password: the flag (or `IOTROUTE_LINK_PASSWORD`, which clap
/// merged below it), else the file's `password=`.
fn terminal_password(
    flag_or_env: Option<&Secret>,
    file: &LinkSecretsFile,
) -> Result<Secret, LinkSecretsError> {
    secret_input::pick(flag_or_env, file.password.as_ref()).ok_or(LinkSecretsError::NoPassword)
}

/// The smart meter's registrations: every terminal named by `--terminal` (in order) or
/// by the file, with its password from the flag, else `env(link_env_name(eui))`, else
/// the file.
fn registrations(
    flags: &[Registration],
    env: impl Fn(&str) -> Option<String>,
    file: &LinkSecretsFile,
) -> Result<Vec<(Eui64, Secret)>, LinkSecretsError> {
    let mut named: Vec<(Eui64, Option<&Secret>)> = Vec::new();
    for r in flags {
        if named.iter().any(|(e, _)| *e == r.eui64) {
            return Err(LinkSecretsError::Duplicate {
                terminal: dlms::hex::encode(&r.eui64.0),
            });
        }
        named.push((r.eui64, r.password.as_ref()));
    }
    for eui in file.terminals.keys() {
        if !named.iter().any(|(e, _)| e.0 == *eui) {
            named.push((Eui64(*eui), None));
        }
    }
    if named.is_empty() {
        return Err(LinkSecretsError::NoTerminals);
    }
    named
        .into_iter()
        .map(|(eui, flag)| {
            let name = link_env_name(eui.0);
            let from_env = env(&name).map(|v| Secret::from_env(&v));
            secret_input::pick(flag.or(from_env.as_ref()), file.terminals.get(&eui.0))
                .map(|pw| (eui, pw))
                .ok_or_else(|| LinkSecretsError::NoPasswordFor {
                    terminal: dlms::hex::encode(&eui.0),
                    env: name,
                })
        })
        .collect()
}

/// The secrets file at `path`, or an empty one without `--secrets`.
fn load_link_secrets(path: Option<&std::path::Path>) -> Result<LinkSecretsFile, LinkSecretsError> {
    Ok(match path {
        Some(p) => LinkSecretsFile::load(p)?,
        None => LinkSecretsFile::default(),
    })
}

/// Report a secrets error (never a secret) and fail.
fn secrets_failure(e: &LinkSecretsError) -> ExitCode {
    tracing::error!(error = %e, "link secrets");
    eprintln!("error: {e}");
    ExitCode::FAILURE
}

/// The MAC and interface a node on the hub uses.
fn hub_mac(eui64: Eui64) -> (MacConfig, NetConfig) {
    let mut mac = MacConfig::new(eui64);
    mac.ack_wait = HUB_ACK_WAIT;
    let net = NetConfig {
        max_psdu: HUB_MAX_PSDU,
        ..NetConfig::default()
    };
    (mac, net)
}

/// `iotroute terminal`: run a terminal, or show the status of one (`terminal status`).
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct TerminalCommand {
    #[command(subcommand)]
    pub action: Option<TerminalAction>,
    #[command(flatten)]
    pub run: TerminalArgs,
}

/// What `iotroute terminal` does besides running one.
#[derive(Debug, clap::Subcommand)]
pub enum TerminalAction {
    /// The status of the terminal keeping its state in `--data` (running or not): state,
    /// LED, meter ID, last readings, link, counters, firmware.
    Status(crate::terminal_status::StatusArgs),
}

/// Arguments of `iotroute terminal` (running one).
#[derive(Debug, clap::Args)]
pub struct TerminalArgs {
    /// The meter to read (its ECHONET Lite address): at every :00 and :30 into the store
    /// in `--data` (`readings.sqlite`), served over DLMS as the model's load profile and
    /// registers. Without it the terminal serves the demo model (a lab set-up of the link).
    #[arg(long, value_name = "ADDR", required_unless_present = "air")]
    pub meter: Option<IpAddr>,
    /// The handy terminal's local interface: DLMS/COSEM wrapper over UDP on this address,
    /// serving the maintenance association (client wPort 32, LLS, the terminal's
    /// authentication password `--password`) and the public client (wPort 16).
    #[arg(long, value_name = "ADDR:PORT", requires = "meter")]
    pub maintenance: Option<SocketAddr>,
    /// The meter's ID (0xD1, hex) registered for this terminal (SEC-07): readings from a
    /// meter with another ID are flagged. Default: the ID the store's newest reading
    /// holds, else the first read.
    #[arg(long, value_name = "HEX", requires = "meter", value_parser = parse_hex)]
    pub meter_id: Option<HexBytes>,
    /// How many days of readings the store keeps: older rows are dropped after each
    /// slot, so the store stays bounded on disk (90: what a backfill may ask for).
    #[arg(long, value_name = "DAYS", default_value = "90", requires = "meter",
          value_parser = clap::value_parser!(u32).range(1..=3660))]
    pub retention_days: u32,
    /// The firmware signer's public key (`iotroute firmware keygen`'s FILE.pub): images
    /// pushed by the handy terminal verify against it (SEC-10). Without one the terminal
    /// accepts no image (fail closed).
    #[arg(long, value_name = "FILE.pub", requires = "meter")]
    pub firmware_key: Option<PathBuf>,
    /// Where the terminal's ECHONET Lite side binds (port 3610).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "0.0.0.0",
        requires = "meter"
    )]
    pub echonet_bind: IpAddr,
    /// Run the terminal's clock this many times faster than real time (as `iotroute
    /// meter --speed`), so that a slot passes in seconds in a test.
    #[arg(long, default_value = "1", value_parser = crate::clock::parse_speed)]
    pub speed: f64,
    /// The terminal's clock at start (RFC 3339); default now.
    #[arg(long, value_name = "RFC3339", value_parser = parse_rfc3339)]
    pub start: Option<DateTime<Utc>>,
    /// The `iotroute air` hub: with it the terminal joins the IoT route (scan, PANA,
    /// the smart meter's readings); without it, it reads and stores only.
    #[arg(long, requires_all = ["device_id", "eui64"])]
    pub air: Option<SocketAddr>,
    /// Our ZEP device id on the hub.
    #[arg(long, requires = "air")]
    pub device_id: Option<u16>,
    /// Our EUI-64 (hex, separators allowed).
    #[arg(long, value_parser = parse_eui64, requires = "air")]
    pub eui64: Option<Eui64>,
    /// Our link password (the smart meter registers it with our EUI-64; our DLMS LLS
    /// password is derived from it). On the command line every local user can read it
    /// (`ps`): prefer the environment variable or `--secrets`. Precedence: flag >
    /// environment > file.
    #[arg(long, env = secret_input::ENV_LINK_PASSWORD, hide_env_values = true, value_parser = parse_secret)]
    pub password: Option<Secret>,
    /// A file with a `password=` line (our link password), used when neither
    /// `--password` nor IOTROUTE_LINK_PASSWORD is given; refused when its group or others
    /// may read it (chmod 600).
    #[arg(long, value_name = "FILE")]
    pub secrets: Option<PathBuf>,
    /// The Pairing ID of our utility (CON-03).
    #[arg(long, default_value = "IOT00901", value_parser = parse_pairing_id)]
    pub pairing_id: PairingId,
    /// Channels to scan, in order.
    #[arg(long, value_delimiter = ',', default_value = "33,35,37", value_parser = parse_channel)]
    pub channels: Vec<u8>,
    /// Seed our randomness (nonces, datagram tags) for a reproducible run; without it
    /// the OS random source is used.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where the terminal keeps its state (created if missing, owner only): its readings
    /// (`readings.sqlite`) and its link frame counters (`link-counters.json`, reserved
    /// ahead and written before use, so that a restarted terminal never repeats a CCM*
    /// nonce, SEC-03).
    /// (Required to run one: an `Option` only so that `terminal status` parses.)
    #[arg(long, value_name = "DIR", required = true)]
    pub data: Option<PathBuf>,
    /// What is not public about the link (must match the smart meters').
    #[command(flatten)]
    pub profile: ProfileArgs,
}

/// Arguments of `iotroute smartmeter`.
#[derive(Debug, clap::Args)]
pub struct SmartMeterArgs {
    /// The `iotroute air` hub.
    #[arg(long, default_value = "127.0.0.1:17754")]
    pub air: SocketAddr,
    /// Our ZEP device id on the hub.
    #[arg(long)]
    pub device_id: u16,
    /// Our EUI-64 (hex, separators allowed).
    #[arg(long, value_parser = parse_eui64)]
    pub eui64: Eui64,
    /// Our channel (33-60).
    #[arg(long, default_value = "33", value_parser = parse_channel)]
    pub channel: u8,
    /// Our PAN ID.
    #[arg(long, default_value_t = 0x4000)]
    pub pan_id: u16,
    /// The Pairing ID of our utility (CON-03).
    #[arg(long, default_value = "IOT00901", value_parser = parse_pairing_id)]
    pub pairing_id: PairingId,
    /// A terminal we accept (repeat for each; at most 4 join): `EUI64=PASSWORD`, or
    /// `EUI64` alone with its link password from IOTROUTE_LINK_PASSWORD_<EUI64> (16
    /// upper-case hex digits, e.g. IOTROUTE_LINK_PASSWORD_021A000000001001) or from
    /// `--secrets`. A password here is readable by every local user (`ps`). Precedence:
    /// flag > environment > file.
    #[arg(long = "terminal", value_name = "EUI64[=PASSWORD]", value_parser = parse_registration)]
    pub terminals: Vec<Registration>,
    /// A file of `terminal.<EUI64>=PASSWORD` lines: registers each terminal it names and
    /// gives the password of those `--terminal` and the environment leave without one;
    /// refused when its group or others may read it (chmod 600). Each terminal's DLMS
    /// LLS password is derived from its EUI-64 and link password.
    #[arg(long, value_name = "FILE")]
    pub secrets: Option<PathBuf>,
    /// Read every joined terminal this often, seconds (1800: at every :00 and :30).
    #[arg(long, default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..))]
    pub read_every: u64,
    /// Roll the group key over this often, seconds.
    #[arg(long, default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(60..))]
    pub key_period: u64,
    /// How long new terminals may join after start, seconds: 0 (no limit) or 300-1800;
    /// after it, only terminals that already joined may authenticate again.
    #[arg(long, default_value = "0", value_parser = parse_join_window)]
    pub join_window: JoinWindow,
    /// Stop after this many readings (exit 0).
    #[arg(long)]
    pub readings: Option<u64>,
    /// Stop after this many slot pushes received (exit 0); with --readings, whichever
    /// comes first.
    #[arg(long)]
    pub pushes: Option<u64>,
    /// When a reading sets the terminal's clock to ours (TRM-09): `off`, `unset` (only a
    /// clock never set: for terminals on a faster lab clock), or SECONDS (also one further
    /// off than that).
    #[arg(long, default_value = "10", value_parser = parse_clock_sync)]
    pub clock_sync: ClockSync,
    /// Carry this signed terminal image (`iotroute firmware sign`) to every terminal that
    /// joins, once, through its image transfer (SEC-10: the user business's image, which
    /// the head end relays; the terminal checks its signature): initiate, blocks, verify,
    /// activate. One line per terminal on stdout (`firmware`: `activated` or `refused`).
    #[arg(long, value_name = "FILE")]
    pub firmware: Option<PathBuf>,
    /// Seed our randomness (group keys, nonces) for a reproducible lab run; without it
    /// the OS random source is used, as the keys must be unpredictable.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Where the smart meter keeps its link frame counters (`link-counters.json`,
    /// created if missing, owner only) and, with --headend, its A-route counters and the
    /// link passwords the head end's commands changed (`terminal-passwords.json`, owner
    /// only; each wins over the configured password it replaced at the next start).
    /// Without it a restart starts the frame counters afresh, which is safe only because
    /// each start draws new group keys: with `--seed` the keys repeat, so give `--data`
    /// too.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Relay to the head end at this address over the A route (TCP, docs/a-route.md):
    /// pushes and readings of the terminals it registers, their events, and its commands
    /// (backfill, block, reconnect, settings). Needs --data: the A-route counters and the
    /// link passwords changed by command (`DIR/terminal-passwords.json`, which win over
    /// the configured ones at the next start) must outlive a restart.
    #[arg(long, value_name = "ADDR:PORT", requires_all = ["headend_key", "data"])]
    pub headend: Option<SocketAddr>,
    /// This smart meter's A-route keys: a line `<EUI-64> <EK> <AK>` with its own EUI-64.
    #[arg(long, value_name = "FILE", requires = "headend")]
    pub headend_key: Option<PathBuf>,
    /// What is not public about the link (must match the terminals').
    #[command(flatten)]
    pub profile: ProfileArgs,
}

/// Randomness from the OS (`/dev/urandom`).
#[derive(Debug, Clone, Copy)]
struct OsRandom;

impl nodes::link::pana::Entropy for OsRandom {
    fn fill(&mut self, out: &mut [u8]) {
        use std::io::Read as _;
        let ok = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(out))
            .is_ok();
        if !ok {
            // No OS randomness: refuse to go on with predictable keys.
            tracing::error!("no OS random source: stopping");
            std::process::exit(1);
        }
    }
}

/// The seeded stream when `--seed` was given, else the OS source.
fn entropy(seed: Option<u64>, stream: u64) -> Box<dyn nodes::link::pana::Entropy + Send> {
    match seed {
        Some(s) => Box::new(Seeded::new(s, stream)),
        None => Box::new(OsRandom),
    }
}

/// A 64-bit seed for the DLMS engines' own streams.
fn engine_seed(seed: Option<u64>) -> u64 {
    seed.unwrap_or_else(|| {
        let mut b = [0u8; 8];
        nodes::link::pana::Entropy::fill(&mut OsRandom, &mut b);
        u64::from_be_bytes(b)
    })
}

/// The terminal program: its link with the DLMS server on it (over the meter side's
/// model, or the demo model).
struct TerminalProgram {
    route: LinkedTerminal,
    /// The terminal's wall clock (scaled by `--speed`).
    clock: ScaledClock,
    /// Tells the meter side a DLMS request was served (the model may have changed).
    served: std::sync::Arc<tokio::sync::Notify>,
    counters: CounterFile,
    /// The next wall-clock slot boundary to capture at (process time).
    next_capture: Duration,
    /// Where the link is, for the meter side's LED and status (TRM-10).
    status: tokio::sync::watch::Sender<LinkStatus>,
    /// The group key we send with.
    key_id: Option<u8>,
    /// Settings a client changed (TRM-08): the Pairing ID and password for the next scan.
    settings: tokio::sync::watch::Receiver<Option<Settings>>,
    /// The meter side's pushes (TRM-05 slots, SEC-07/08 events), for the smart meter.
    pushes: Option<terminal_meter::PushQueue>,
    /// Floods on the radio, to the meter side's node (SEC-08); `None`: the link alone.
    floods: Option<tokio::sync::mpsc::Sender<FloodReport>>,
    /// The access log file (SEC-09), kept with the meter side; `None`: the link alone.
    access: Option<SharedAccess>,
}

impl TerminalProgram {
    /// Floods the radio side detected (SEC-08), to the meter side's node: counted,
    /// logged and pushed there. The link alone only logs them (the link logged each).
    fn report_floods(&mut self) {
        let floods = self.route.floods();
        let Some(tx) = &self.floods else {
            return;
        };
        for flood in floods {
            if tx.try_send(flood).is_err() {
                tracing::warn!("radio flood not reported to the meter side");
            }
        }
    }

    /// Take the settings a client changed, if any (TRM-08): the link uses the new
    /// Pairing ID and password from its next scan and authentication.
    fn take_settings(&mut self) {
        if !self.settings.has_changed().unwrap_or(false) {
            return;
        }
        let Some(s) = self.settings.borrow_and_update().clone() else {
            return;
        };
        match parse_pairing_id(&s.pairing_id) {
            Ok(id) => self.route.link_mut().set_pairing_id(id),
            Err(e) => tracing::warn!(error = %e, "the new Pairing ID is not one the link can use"),
        }
        self.route.link_mut().set_password(s.auth_password);
    }

    /// Send the meter side's pushes (TRM-05 slots, SEC-07/08 events) to the smart
    /// meter, held while the link is down.
    fn send_pushes(&mut self, now: Duration) {
        if let Some(q) = self.pushes.as_mut() {
            while let Ok(push) = q.rx.try_recv() {
                self.route.push(now, push);
            }
        }
        self.route.flush(now);
    }

    /// Tell the meter side where the link is, when that changed.
    fn publish(&self) {
        let link = self.route.link().phase();
        let phase = LinkView::of(&link);
        let meter = match link {
            LinkPhase::Scanning => None,
            LinkPhase::Authenticating(c) | LinkPhase::Connected(c) => Some(c),
        };
        let now = LinkStatus {
            phase,
            smart_meter: meter.map(|c| dlms::hex::encode(&c.eui64.0)),
            channel: meter.map(|c| c.channel),
            rssi_dbm: meter.map(|c| c.rssi_dbm),
            key_id: self.key_id.filter(|_| phase == LinkView::Connected),
            auth_failures: self.route.link().stats().join_failures,
        };
        self.status.send_if_modified(|s| {
            let changed = *s != now;
            *s = now;
            changed
        });
    }
}

/// Process time of the next :00 or :30 (JST and UTC agree on half hours).
fn next_half_hour(now: Duration) -> Duration {
    let t = Utc::now();
    let into = u64::from(t.minute() % 30) * 60 + u64::from(t.second());
    now + Duration::from_secs(1800 - into)
}

impl App for TerminalProgram {
    type Node = Terminal;
    fn node(&mut self) -> &mut Terminal {
        self.route.link_mut()
    }
    fn events(&mut self, now: Duration, events: Vec<TerminalEvent>) {
        let wall = self.clock.now();
        let handled = self.route.handle(now, wall, events);
        if !handled.served.is_empty() {
            self.served.notify_one();
        }
        // SEC-09: what the smart meter asked over the link, in the access log file too.
        if let Some(access) = &self.access {
            let from = self
                .route
                .link()
                .meter()
                .map(|m| dlms::hex::encode(&m.0))
                .unwrap_or_default();
            crate::access_file::with(access, |a| {
                for what in &handled.served {
                    a.served(wall, "iot_route", &from, what);
                }
            });
        }
        for e in handled.events {
            match e {
                TerminalEvent::Joined(c) => {
                    tracing::info!(meter = ?c.eui64, channel = c.channel, rssi = c.rssi_dbm, "joined");
                    eprintln!("joined smart meter {:?} on channel {}", c.eui64, c.channel);
                }
                TerminalEvent::KeyInstalled {
                    index,
                    active: true,
                } => {
                    tracing::info!(index, "sending with group key");
                    self.key_id = Some(index);
                }
                other => tracing::info!(event = ?other, "link"),
            }
        }
        self.report_floods();
        self.take_settings();
        self.publish();
    }
    fn next_timer(&self) -> Option<Duration> {
        Some(self.next_capture)
    }
    fn timers(&mut self, now: Duration) {
        if now >= self.next_capture {
            self.route.capture(self.clock.now());
            self.next_capture = next_half_hour(now + Duration::from_secs(1));
        }
        self.send_pushes(now);
        self.take_settings();
        self.publish();
    }
    fn done(&self) -> bool {
        false
    }
    fn wake_on(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        self.pushes.as_ref().map(|p| p.ready.clone())
    }
    fn persist_counters(&mut self, snapshot: &CounterSnapshot) -> Result<(), CounterFileError> {
        self.counters.save(snapshot)
    }
}

/// A push as the smart meter prints it: a slot's values, or an event with its name.
fn push_line(from: Eui64, p: &nodes::app::push::Pushed) -> serde_json::Value {
    let mut line = json!({
        "terminal": dlms::hex::encode(&from.0),
        "at": Utc::now().with_timezone(&dlms::text::jst()).to_rfc3339(),
        "push": p.number,
        "captured_at": p.captured_at.map(|t| t.to_rfc3339()),
    });
    let extra = match &p.what {
        nodes::app::push::PushKind::Slot {
            energy_in_wh,
            energy_out_wh,
            status,
        } => json!({
            "energy_in_wh": energy_in_wh.map(|v| v.to_string()),
            "energy_out_wh": energy_out_wh.map(|v| v.to_string()),
            "status": status,
        }),
        nodes::app::push::PushKind::Event { code, details } => json!({
            "event": dlms::cosem::EventCode::from_code(*code).map(dlms::cosem::EventCode::name),
            "code": code,
            "details": nodes::app::push::PushKind::details_json(details),
        }),
    };
    if let (Some(l), serde_json::Value::Object(e)) = (line.as_object_mut(), extra) {
        l.extend(e);
    }
    line
}

/// The smart meter program: its link and its readings.
struct SmartMeterProgram {
    link: SmartMeter,
    /// Where the frame counters are kept (`--data`), if anywhere.
    counters: Option<CounterFile>,
    /// The reading sessions and the image rollout.
    app: SmartMeterApp,
    read_every: Duration,
    next_read: Duration,
    readings: u64,
    stop_after: Option<u64>,
    /// Slot pushes received (TRM-05).
    pushes: u64,
    stop_after_pushes: Option<u64>,
    /// The A route to the head end (`--headend`), if any.
    relay: Option<crate::relay_port::RelayPort>,
    /// Where link passwords changed by command are kept (`--data`, TRM-08).
    passwords: Option<PasswordFile>,
}

/// TRM-08: when `carried` is a password `terminal` has now (a session changed it, or the
/// smart meter took it by the head end's command), keep it in `--data` so that it wins
/// over the configured one at the next start — before the head end hears it was done
/// (the caller flushes the relay after). Never logs the password.
fn keep_password(passwords: &mut Option<PasswordFile>, terminal: Eui64, carried: &Carried) {
    let Some(password) = carried.new_password() else {
        return;
    };
    let Some(file) = passwords.as_mut() else {
        tracing::warn!(terminal = %terminal, "the terminal's new link password is kept in memory only (no --data): after a restart the configured one is used");
        return;
    };
    match file.keep(terminal.0, password) {
        Ok(true) => tracing::info!(terminal = %terminal, "the terminal's new link password kept"),
        Ok(false) => {}
        Err(e) => {
            tracing::error!(terminal = %terminal, error = %e, "the terminal's new link password not kept: after a restart the configured one is used")
        }
    }
}

impl SmartMeterProgram {
    /// Print a finished image push (SEC-10).
    fn firmware_line(&self, terminal: [u8; 8], outcome: &PushOutcome) {
        let identifier = self
            .app
            .rollout()
            .map(|r| String::from_utf8_lossy(&r.image().identifier).into_owned());
        let mut line = json!({
            "terminal": dlms::hex::encode(&terminal),
            "at": Utc::now().with_timezone(&dlms::text::jst()).to_rfc3339(),
            "identifier": identifier,
        });
        let extra = match outcome {
            PushOutcome::Activated { blocks } => json!({"firmware": "activated", "blocks": blocks}),
            PushOutcome::ActivationUnanswered { blocks } => {
                json!({"firmware": "activation_unanswered", "blocks": blocks})
            }
            PushOutcome::Refused { step, reason } => {
                json!({"firmware": "refused", "step": step, "reason": reason})
            }
        };
        if let (Some(l), serde_json::Value::Object(e)) = (line.as_object_mut(), extra) {
            l.extend(e);
        }
        crate::stdout::outln!("{line}");
    }
}

/// The smart meter's next DLMS request to `to`, if any, on its way.
fn send_request(link: &mut SmartMeter, now: Duration, to: Eui64, next: Option<Vec<u8>>) {
    if let Some(bytes) = next {
        if let Err(e) = link.send_udp(now, to, (DLMS_PORT, DLMS_PORT), bytes) {
            tracing::warn!(error = %e, "DLMS request not sent");
        }
    }
}

impl App for SmartMeterProgram {
    type Node = SmartMeter;
    fn node(&mut self) -> &mut SmartMeter {
        &mut self.link
    }
    fn events(&mut self, now: Duration, events: Vec<SmartMeterEvent>) {
        for e in events {
            let relay = self.relay.as_mut().map(|port| &mut port.relay);
            match self
                .app
                .link_event(relay, &mut self.link, e, now, Utc::now())
            {
                Routed::Dlms {
                    from,
                    next,
                    arrived,
                } => {
                    // A session that ended makes way for what the head end asked for
                    // next (`next`).
                    send_request(&mut self.link, now, from, next);
                    if let Some(Arrived::Command(c)) = &arrived {
                        keep_password(&mut self.passwords, from, c);
                    }
                    if let Some(port) = self.relay.as_mut() {
                        port.flush();
                    }
                    match arrived {
                        Some(Arrived::Push(Ok(p))) => {
                            crate::stdout::outln!("{}", push_line(from, &p));
                            if matches!(p.what, nodes::app::push::PushKind::Slot { .. }) {
                                self.pushes += 1;
                            }
                        }
                        Some(Arrived::Push(Err(e))) => {
                            tracing::warn!(terminal = ?from, error = %e, "push refused");
                        }
                        Some(Arrived::Firmware(outcome)) => self.firmware_line(from.0, &outcome),
                        Some(Arrived::Command(c)) => {
                            tracing::info!(terminal = ?from, request = c.request, change = ?c.change, outcome = ?c.outcome, why = %c.why, "the head end's command carried out");
                        }
                        Some(Arrived::Reading(r)) => {
                            self.readings += 1;
                            let line = json!({
                                "terminal": dlms::hex::encode(&from.0),
                                "at": Utc::now().with_timezone(&dlms::text::jst()).to_rfc3339(),
                                "energy_in_wh": r.energy_in_wh.map(|v| v.to_string()),
                                "energy_out_wh": r.energy_out_wh.map(|v| v.to_string()),
                                "rows": r.rows.len(),
                                "last_row": r.rows.last().map(|row| row.time.to_rfc3339()),
                            });
                            crate::stdout::outln!("{line}");
                        }
                        None => {}
                    }
                }
                Routed::Joined { terminal, next } => {
                    eprintln!("terminal {terminal:?} joined");
                    // What the head end asked of it while it was away.
                    send_request(&mut self.link, now, terminal, next);
                }
                Routed::Other(SmartMeterEvent::Left { .. }) => {
                    if let Some(port) = self.relay.as_mut() {
                        port.flush();
                    }
                }
                Routed::Other(
                    e @ (SmartMeterEvent::ForeignScan { .. } | SmartMeterEvent::Refused { .. }),
                ) => {
                    tracing::warn!(event = ?e, "link");
                    if let Some(port) = self.relay.as_mut() {
                        port.flush();
                    }
                }
                Routed::Other(other) => tracing::info!(event = ?other, "link"),
            }
        }
    }
    fn next_timer(&self) -> Option<Duration> {
        [Some(self.next_read), self.app.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }
    fn timers(&mut self, now: Duration) {
        if let Some(port) = self.relay.as_mut() {
            let joined = self.link.terminals();
            let commands = port.incoming(Utc::now(), |t| joined.contains(&Eui64(t)));
            for command in commands {
                let taken = nodes::app::smartmeter::carry_out(
                    command,
                    now,
                    Utc::now(),
                    &mut self.link,
                    &mut self.app,
                    &mut port.relay,
                );
                if let Some((terminal, c)) = taken {
                    keep_password(&mut self.passwords, Eui64(terminal), &c);
                }
            }
            port.flush();
        }
        let linked = self.link.terminals();
        let stalled = self.app.stalled(now, |t| linked.contains(&Eui64(t)));
        for (t, aarq) in stalled.restarted {
            if let Err(e) = self
                .link
                .send_udp(now, Eui64(t), (DLMS_PORT, DLMS_PORT), aarq)
            {
                tracing::warn!(error = %e, "AARQ not sent");
            }
        }
        for (t, outcome) in stalled.unanswered {
            self.firmware_line(t, &outcome);
        }
        if now < self.next_read {
            return;
        }
        self.next_read = if self.read_every == Duration::from_secs(1800) {
            next_half_hour(now + Duration::from_secs(1))
        } else {
            now + self.read_every
        };
        for t in linked {
            if let Some(aarq) = self.app.start(now, t.0) {
                if let Err(e) = self.link.send_udp(now, t, (DLMS_PORT, DLMS_PORT), aarq) {
                    tracing::warn!(error = %e, "AARQ not sent");
                }
            }
        }
    }
    fn done(&self) -> bool {
        self.stop_after.is_some_and(|n| self.readings >= n)
            || self.stop_after_pushes.is_some_and(|n| self.pushes >= n)
    }
    fn persist_counters(&mut self, snapshot: &CounterSnapshot) -> Result<(), CounterFileError> {
        self.counters.as_ref().map_or(Ok(()), |c| c.save(snapshot))
    }
    fn wake_on(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        self.relay
            .as_ref()
            .map(crate::relay_port::RelayPort::notify)
    }
}

/// `--clock-sync`: `off`, `unset` or seconds.
fn parse_clock_sync(s: &str) -> Result<ClockSync, String> {
    match s {
        "off" => Ok(ClockSync::Off),
        "unset" => Ok(ClockSync::Unset),
        _ => s
            .parse::<u32>()
            .map(|n| ClockSync::Within(chrono::Duration::seconds(i64::from(n))))
            .map_err(|_| format!("`{s}`: off, unset or seconds")),
    }
}

/// Run `iotroute terminal`.
pub async fn terminal(args: TerminalArgs) -> ExitCode {
    let Some(data) = args.data.clone() else {
        eprintln!("error: --data DIR is required");
        return ExitCode::FAILURE;
    };
    // SEC-10: the launcher first — the confirmed slot's program, or a slot on trial.
    if let Some(code) = crate::firmware_slots::launch(&data).await {
        return code;
    }
    let password = match load_link_secrets(args.secrets.as_deref())
        .and_then(|file| terminal_password(args.password.as_ref(), &file))
    {
        Ok(p) => p,
        Err(e) => return secrets_failure(&e),
    };
    let start = args.start.unwrap_or_else(Utc::now);
    // The DLMS LLS password: derived per terminal when it is on the IoT route (the smart
    // meter derives the same), the password itself otherwise.
    let dlms_secret = args.eui64.map_or_else(
        || password.expose().as_bytes().to_vec(),
        |e| dlms_password(e.0, password.expose().as_bytes()),
    );
    let image_vendor_key = match args
        .firmware_key
        .as_deref()
        .map(crate::firmware_cmd::public_key)
    {
        Some(Ok(k)) => Some(k),
        Some(Err(e)) => {
            eprintln!("error: --firmware-key: {e}");
            return ExitCode::FAILURE;
        }
        None => None,
    };
    let mut origin = start;
    let meter_side = match args.meter {
        Some(meter) => {
            // SEC-10: an image being transferred is kept in a file, never whole in memory;
            // one a previous run left half-way is of no use.
            let incoming = ImageFile::under(&data);
            incoming.discard();
            let side = terminal_meter::open_node(
                &data,
                meter,
                dlms::cosem::ModelConfig {
                    auth_password: password.expose().as_bytes().to_vec(),
                    image_vendor_key,
                    image_policy: Some(ImagePolicy(std::sync::Arc::new(TerminalImages {
                        running: crate::firmware_slots::running(&data).0,
                    }))),
                    image_store: Some(ImageStorage(std::sync::Arc::new(incoming))),
                    ..nodes::app::server::model_config(dlms_secret.clone())
                },
                args.eui64
                    .map_or(ManagementSecret::Password, |e| ManagementSecret::Derived {
                        eui64: e.0,
                    }),
                args.meter_id.clone().map(|m| m.0),
                args.retention_days,
                start,
            )
            .and_then(|(node, resumed)| {
                origin = resumed;
                Ok((node, terminal_meter::endpoint(args.echonet_bind)?))
            });
            match side {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::error!(error = %e, "meter side not started");
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        None => None,
    };
    let clock = ScaledClock::new(origin, args.speed);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signal = crate::shutdown::signal();
    tokio::spawn(async move {
        signal.await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let model = meter_side.as_ref().map(|(node, _)| node.model());
    // The authentication password in force: one a client changed and the meter side
    // kept wins over the command line's (TRM-08), for PANA too.
    let link_password = model
        .as_ref()
        .and_then(|m| m.lock().ok().map(|m| m.auth_password().to_vec()))
        .unwrap_or_else(|| password.expose().as_bytes().to_vec());
    let served = std::sync::Arc::new(tokio::sync::Notify::new());
    // SEC-09: the event and access logs in DIR/logs, kept with the meter side.
    let logs = match &meter_side {
        Some(_) => match terminal_meter::open_log(&data, "event", origin)
            .and_then(|e| Ok((e, terminal_meter::open_log(&data, "access", origin)?)))
        {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::error!(error = %e, "logs not opened");
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let (event_log, access_log) = logs.unzip();
    // SEC-09: one access log file for the maintenance interface and the IoT route.
    let access = access_log.map(AccessFile::shared);
    // Where the link is, for the meter side's LED and status (TRM-10).
    let (link_tx, link_rx) = tokio::sync::watch::channel(LinkStatus::starting());
    // Settings a client changed over DLMS, from the meter side to the link (TRM-08).
    let (settings_tx, settings_rx) = tokio::sync::watch::channel(None);
    let maintenance_counters = std::sync::Arc::new(crate::maintenance::Counters::default());
    // Slot pushes from the meter side to the link (TRM-05), with the IoT route only.
    let (push_tx, push_rx) = match (&meter_side, args.air) {
        (Some(_), Some(_)) => {
            let (tx, rx) = terminal_meter::push_queue(16);
            (Some(tx), Some(rx))
        }
        _ => (None, None),
    };
    // Floods on the maintenance interface and the radio, to the node (SEC-08).
    let (flood_tx, flood_rx) = match meter_side {
        Some(_) => {
            let (tx, rx) = tokio::sync::mpsc::channel(64);
            (Some(tx), Some(rx))
        }
        None => (None, None),
    };
    let meter_run = async {
        match (meter_side, event_log) {
            (Some((node, endpoint)), Some(event_log)) => {
                eprintln!(
                    "terminal reading the meter at {} from {}",
                    args.meter.map_or_else(String::new, |m| m.to_string()),
                    endpoint.local_addr()
                );
                let wiring = terminal_meter::Wiring {
                    served: served.clone(),
                    link: args.air.map(|_| link_rx),
                    maintenance: maintenance_counters.clone(),
                    data: data.clone(),
                    settings: settings_tx,
                    pushes: push_tx,
                    floods: flood_rx,
                };
                terminal_meter::run(
                    node,
                    endpoint,
                    clock,
                    wiring,
                    event_log,
                    stopped(stop_rx.clone()),
                )
                .await
                .map_err(|e| e.to_string())
            }
            // The link alone: its status still shows (TRM-10).
            _ => {
                crate::terminal_status::keep_link_only(
                    &data,
                    clock,
                    link_rx,
                    stopped(stop_rx.clone()),
                )
                .await;
                Ok(())
            }
        }
    };
    let radio_floods = flood_tx.clone();
    let link_run = async {
        match (args.air, args.device_id, args.eui64) {
            (Some(air), Some(device_id), Some(eui64)) => {
                link_side(
                    &args,
                    &data,
                    eui64,
                    device_id,
                    air,
                    link_password.clone(),
                    dlms_secret.clone(),
                    model.clone(),
                    clock,
                    served.clone(),
                    link_tx,
                    settings_rx,
                    push_rx,
                    radio_floods,
                    access.clone(),
                    stopped(stop_rx.clone()),
                )
                .await
            }
            _ => Ok(()),
        }
    };
    let maintenance_run = async {
        match (args.maintenance, &model, access.clone()) {
            (Some(bind), Some(m), Some(access)) => crate::maintenance::serve(
                bind,
                m.clone(),
                clock,
                engine_seed(args.seed),
                served.clone(),
                maintenance_counters.clone(),
                access,
                flood_tx,
                stopped(stop_rx.clone()),
            )
            .await
            .map_err(|e| e.to_string()),
            _ => Ok(()),
        }
    };
    match tokio::join!(meter_run, link_run, maintenance_run) {
        (Ok(()), Ok(()), Ok(())) => ExitCode::SUCCESS,
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The terminal's IoT-route side on the hub: the link and the DLMS server over `model`
/// (the meter side's), or over the demo model when there is no meter.
#[allow(clippy::too_many_arguments)]
async fn link_side(
    args: &TerminalArgs,
    data: &Path,
    eui64: Eui64,
    device_id: u16,
    air: SocketAddr,
    password: Vec<u8>,
    dlms_secret: Vec<u8>,
    model: Option<dlms::server::SharedModel>,
    clock: ScaledClock,
    served: std::sync::Arc<tokio::sync::Notify>,
    status: tokio::sync::watch::Sender<LinkStatus>,
    settings: tokio::sync::watch::Receiver<Option<Settings>>,
    pushes: Option<terminal_meter::PushQueue>,
    floods: Option<tokio::sync::mpsc::Sender<FloodReport>>,
    access: Option<SharedAccess>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    let (mac, net) = hub_mac(eui64);
    let config = TerminalConfig {
        mac,
        pairing_id: args.pairing_id,
        profile: args.profile.profile(),
        channels: args.channels.clone(),
        scan_window: Duration::from_millis(500),
        auth_id: identity_from_eui64(eui64.0).into_bytes(),
        password,
        pana: PanaTimers::default(),
        backoff: Duration::from_secs(10),
        max_backoff: Duration::from_secs(300),
        net,
    };
    let app = match model {
        Some(m) => TerminalApp::serving(m, u64::from(device_id), engine_seed(args.seed)),
        None => TerminalApp::new(
            clock.now(),
            u64::from(device_id),
            engine_seed(args.seed),
            dlms_secret,
        ),
    }?;
    let (counters, kept) = open_counters(data).map_err(|e| {
        tracing::error!(error = %e, "frame counters");
        e.to_string()
    })?;
    let mut link = Terminal::new(config, entropy(args.seed, 3), Duration::ZERO);
    if let Some(k) = &kept {
        link.restore_counters(k);
    }
    let mut program = TerminalProgram {
        route: LinkedTerminal::new(link, app),
        clock,
        served,
        counters,
        next_capture: next_half_hour(Duration::ZERO),
        status,
        key_id: None,
        settings,
        pushes,
        floods,
        access,
    };
    air_node::run(&mut program, air, device_id, stop)
        .await
        .map_err(|e| e.to_string())
}

/// Run `iotroute smartmeter`.
pub async fn smartmeter(args: SmartMeterArgs) -> ExitCode {
    let terminals = match load_link_secrets(args.secrets.as_deref())
        .and_then(|file| registrations(&args.terminals, |name| std::env::var(name).ok(), &file))
    {
        Ok(t) => t,
        Err(e) => return secrets_failure(&e),
    };
    let configured: crate::smartmeter_passwords::Passwords = terminals
        .iter()
        .map(|(eui, pw)| (*eui, pw.expose().as_bytes().to_vec()))
        .collect();
    // TRM-08: a password changed by command and kept in `--data` wins over the configured
    // one it replaced.
    let (passwords, terminals) = match args.data.as_deref() {
        Some(dir) => match PasswordFile::open(dir, &configured) {
            Ok((file, in_force)) => (Some(file), in_force),
            Err(e) => {
                tracing::error!(error = %e, "kept link passwords");
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => (None, configured),
    };
    let secrets = TerminalSecrets::from_link_passwords(
        terminals.iter().map(|(eui, pw)| (eui.0, pw.as_slice())),
    );
    // SEC-10: the image to carry, named by its manifest (the terminals check it).
    let firmware = match args.firmware.as_deref().map(|f| {
        std::fs::read(f)
            .map_err(|e| e.to_string())
            .and_then(|b| SignedImage::terminal_image(b).map_err(|e| e.to_string()))
            .map_err(|e| format!("--firmware {}: {e}", f.display()))
    }) {
        Some(Ok((image, manifest))) => {
            eprintln!(
                "carrying firmware {} (version {}) to each terminal that joins",
                manifest.identifier(),
                manifest.version
            );
            Some(Rollout::new(
                image,
                secrets.clone(),
                engine_seed(args.seed) ^ 0x5EC1_0000,
            ))
        }
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
        None => None,
    };
    let (mac, net) = hub_mac(args.eui64);
    let registered: Vec<(Vec<u8>, Vec<u8>)> = terminals
        .iter()
        .map(|(eui, pw)| (identity_from_eui64(eui.0).into_bytes(), pw.clone()))
        .collect();
    let profile = args.profile.profile();
    let psk_profile = profile.clone();
    let registry = move |id_p: &[u8]| -> Result<Psk, AuthFailure> {
        let profile = &psk_profile;
        registered
            .iter()
            .find(|(id, _)| id.as_slice() == id_p)
            .map(|(id, pw)| profile.psk(id, pw))
            .ok_or(AuthFailure::UnknownId)
    };
    let registry: Box<dyn Registry + Send> = Box::new(registry);
    let config = SmartMeterConfig {
        mac,
        pan_id: args.pan_id,
        channel: args.channel,
        pairing_id: args.pairing_id,
        profile,
        join_window: args.join_window,
        paa: PaaConfig::new(identity_from_eui64(args.eui64.0).into_bytes()),
        key_period: Duration::from_secs(args.key_period),
        switch_delay: Duration::from_secs(60),
        net,
    };
    let read_every = Duration::from_secs(args.read_every);
    let mut link = SmartMeter::new(config, registry, entropy(args.seed, 5), Duration::ZERO);
    let counters = match args.data.as_deref().map(open_counters).transpose() {
        Ok(Some((file, kept))) => {
            if let Some(k) = &kept {
                link.restore_counters(k);
            }
            Some(file)
        }
        Ok(None) => {
            if args.seed.is_some() {
                tracing::warn!("--seed without --data: a restart repeats the group keys and their frame counters (CCM* nonces); lab use only");
            }
            None
        }
        Err(e) => {
            tracing::error!(error = %e, "frame counters");
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let relay = match (args.headend, args.headend_key.as_deref()) {
        (Some(head_end), Some(key)) => match relay_of(args.eui64, key, args.data.as_deref()) {
            Ok(relay) => Some(crate::relay_port::RelayPort::start(
                head_end,
                relay,
                args.data.clone(),
            )),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    let mut program = SmartMeterProgram {
        link,
        counters,
        app: SmartMeterApp::new(
            Reader::new(engine_seed(args.seed), secrets).with_clock_sync(args.clock_sync),
            firmware,
        ),
        read_every,
        next_read: if read_every == Duration::from_secs(1800) {
            next_half_hour(Duration::ZERO)
        } else {
            read_every
        },
        readings: 0,
        stop_after: args.readings,
        pushes: 0,
        stop_after_pushes: args.pushes,
        relay,
        passwords,
    };
    finish(
        air_node::run(
            &mut program,
            args.air,
            args.device_id,
            crate::shutdown::signal(),
        )
        .await,
    )
}

/// The smart meter's end of the A route: its keys from `key` (its own line), its counters
/// from `data`, if kept there.
fn relay_of(
    eui64: Eui64,
    key: &Path,
    data: Option<&Path>,
) -> Result<nodes::app::relay::SmartMeterRelay, String> {
    let text = std::fs::read_to_string(key)
        .map_err(|e| format!("--headend-key {}: {e}", key.display()))?;
    let keys =
        headend::keys::parse(&text).map_err(|e| format!("--headend-key {}: {e}", key.display()))?;
    let own = keys
        .get(&eui64)
        .cloned()
        .ok_or_else(|| format!("--headend-key {}: no line for {eui64}", key.display()))?;
    let (sent, taken) = match data {
        Some(dir) => crate::relay_port::kept_counters(dir)?,
        None => (0, None),
    };
    Ok(nodes::app::relay::SmartMeterRelay::new(
        dlms::cipher::SystemTitle(eui64.0),
        headend::node::HEAD_END_TITLE,
        own,
        sent,
        taken,
    ))
}

/// The counter file of a data directory and what it kept.
fn open_counters(dir: &Path) -> Result<(CounterFile, Option<CounterSnapshot>), CounterFileError> {
    let file = CounterFile::in_dir(dir)?;
    let kept = file.load()?;
    if kept.is_some() {
        tracing::info!(dir = %dir.display(), "frame counters resumed above their reservations");
    }
    Ok((file, kept))
}

fn finish(r: Result<(), air_node::AirError>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec07_the_meter_id_is_one_hex_value_on_the_command_line() {
        use clap::Parser as _;
        #[derive(Debug, clap::Parser)]
        struct Cli {
            #[command(flatten)]
            terminal: TerminalCommand,
        }
        let cli = Cli::try_parse_from([
            "terminal",
            "--data",
            "d",
            "--meter",
            "127.0.0.1",
            "--meter-id",
            "0102fe",
        ])
        .unwrap();
        assert_eq!(
            cli.terminal.run.meter_id,
            Some(HexBytes(vec![0x01, 0x02, 0xfe]))
        );
        assert!(Cli::try_parse_from([
            "terminal",
            "--data",
            "d",
            "--meter",
            "127.0.0.1",
            "--meter-id",
            "xyz"
        ])
        .is_err());
    }

    /// TRM-08 with SEC-02: a smart meter relaying to a head end keeps what it must not
    /// forget in `--data` (A-route counters, passwords changed by command): `--headend`
    /// without it is a usage error.
    #[test]
    fn trm08_sec02_the_head_end_relay_needs_a_data_directory() {
        use clap::Parser as _;
        #[derive(Debug, clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: SmartMeterArgs,
        }
        let base = [
            "smartmeter",
            "--device-id",
            "1",
            "--eui64",
            "025a000000002001",
            "--headend",
            "127.0.0.1:4059",
            "--headend-key",
            "a-route.keys",
        ];
        let e = Cli::try_parse_from(base).unwrap_err();
        assert_eq!(
            e.kind(),
            clap::error::ErrorKind::MissingRequiredArgument,
            "{e}"
        );
        assert!(e.to_string().contains("--data"), "{e}");
        let cli = Cli::try_parse_from(base.into_iter().chain(["--data", "sm"])).unwrap();
        assert_eq!(cli.args.data, Some(PathBuf::from("sm")));
    }

    #[test]
    fn sys03_the_join_window_is_0_or_300_to_1800_seconds() {
        assert_eq!(parse_join_window("0"), Ok(JoinWindow::Always));
        for ok in [300u64, 900, 1800] {
            assert_eq!(
                parse_join_window(&ok.to_string()),
                Ok(JoinWindow::Until(Duration::from_secs(ok)))
            );
        }
        for bad in ["1", "299", "1801", "86400", "-5", "ten"] {
            assert!(parse_join_window(bad).is_err(), "{bad}");
        }
    }

    const T1: &str = "021a000000001001";
    const T2: &str = "021a000000001002";

    fn file(text: &str) -> LinkSecretsFile {
        LinkSecretsFile::parse(std::path::Path::new("f"), text).unwrap()
    }

    fn reg(s: &str) -> Registration {
        parse_registration(s).unwrap()
    }

    fn passwords(r: &[(Eui64, Secret)]) -> Vec<(String, String)> {
        r.iter()
            .map(|(e, p)| (dlms::hex::encode(&e.0), p.expose().to_owned()))
            .collect()
    }

    #[test]
    fn sec02_link_password_flag_wins_over_env_over_file() {
        let f = file("password=from-file\n");
        let flag = parse_secret("from-flag-or-env").unwrap();
        assert_eq!(terminal_password(Some(&flag), &f).unwrap(), flag);
        assert_eq!(
            terminal_password(None, &f).unwrap().expose(),
            "from-file",
            "the file when neither flag nor environment"
        );
        assert!(matches!(
            terminal_password(None, &LinkSecretsFile::default()),
            Err(LinkSecretsError::NoPassword)
        ));
    }

    #[test]
    fn sec02_link_password_from_env_when_no_flag() {
        // The real `iotroute terminal` arguments: clap merges IOTROUTE_LINK_PASSWORD under
        // --password. (This test binary's only user of that variable.)
        use clap::Parser as _;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: TerminalArgs,
        }
        let base = [
            "terminal",
            "--air",
            "127.0.0.1:17754",
            "--device-id",
            "2",
            "--eui64",
            T1,
            "--data",
            "/nonexistent",
        ];
        std::env::remove_var(secret_input::ENV_LINK_PASSWORD);
        let cli = Cli::try_parse_from(base).unwrap();
        assert_eq!(cli.args.password, None);
        std::env::set_var(secret_input::ENV_LINK_PASSWORD, "from-env");
        let cli = Cli::try_parse_from(base).unwrap();
        let f = file("password=from-file\n");
        assert_eq!(
            terminal_password(cli.args.password.as_ref(), &f)
                .unwrap()
                .expose(),
            "from-env",
            "the environment beats the file"
        );
        assert!(!format!("{:?}", cli.args).contains("from-env"));
        let cli = Cli::try_parse_from(base.into_iter().chain(["--password", "from-flag"])).unwrap();
        assert_eq!(
            terminal_password(cli.args.password.as_ref(), &f)
                .unwrap()
                .expose(),
            "from-flag",
            "the flag beats the environment"
        );
        assert!(!format!("{:?}", cli.args).contains("from-flag"));
        std::env::remove_var(secret_input::ENV_LINK_PASSWORD);
    }

    #[test]
    fn sec02_smartmeter_registrations_flag_over_env_over_file() {
        let f = file(&format!(
            "terminal.{T1}=file-1\nterminal.{T2}=file-2\nterminal.021a000000001003=file-3\n"
        ));
        let env_1 = link_env_name(parse_eui64(T1).unwrap().0);
        let env_2 = link_env_name(parse_eui64(T2).unwrap().0);
        let env = |name: &str| {
            (name == env_1 || name == env_2).then(|| format!("env-{}", &name[name.len() - 1..]))
        };
        let r = registrations(&[reg(&format!("{T1}=flag-1")), reg(T2)], env, &f).unwrap();
        assert_eq!(
            passwords(&r),
            [
                (T1.to_uppercase(), "flag-1".to_owned()),
                (T2.to_uppercase(), "env-2".to_owned()),
                ("021A000000001003".to_owned(), "file-3".to_owned()),
            ]
        );
        // Without flag passwords or environment: the file's.
        let r = registrations(&[reg(T1)], |_| None, &f).unwrap();
        assert_eq!(passwords(&r)[0], (T1.to_uppercase(), "file-1".to_owned()));
    }

    #[test]
    fn sec02_smartmeter_registrations_refuse_what_cannot_work() {
        let none = LinkSecretsFile::default();
        assert!(matches!(
            registrations(&[], |_| None, &none),
            Err(LinkSecretsError::NoTerminals)
        ));
        let e = registrations(&[reg(T1)], |_| None, &none).unwrap_err();
        assert!(matches!(e, LinkSecretsError::NoPasswordFor { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("IOTROUTE_LINK_PASSWORD_021A000000001001"),
            "{e}"
        );
        let e = registrations(&[reg(T1), reg(&format!("{T1}=x"))], |_| None, &none).unwrap_err();
        assert!(matches!(e, LinkSecretsError::Duplicate { .. }), "{e}");
        // A malformed registration does not echo what may be a password.
        let e = parse_registration("02zz=hunter2").unwrap_err();
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn sec02_registration_debug_never_shows_the_password() {
        let shown = format!("{:?}", reg(&format!("{T1}=hunter2")));
        assert!(
            !shown.contains("hunter2") && shown.contains("<redacted>"),
            "{shown}"
        );
    }
}
