//! `iotroute terminal` and `iotroute smartmeter`: the two ends of the IoT route as
//! programs of their own on the `iotroute air` hub (ZEP v2 over UDP), so that they run as
//! separate processes. Same node logic (`nodes::link`) and applications
//! (`crate::link_app`) as `sim --link`, on real time.

use core::time::Duration;
use std::net::SocketAddr;
use std::process::ExitCode;

use chrono::{Timelike, Utc};
use nodes::link::mac::MacConfig;
use nodes::link::net::NetConfig;
use nodes::link::pana::paa::{PaaConfig, Registry};
use nodes::link::pana::PanaTimers;
use nodes::link::smartmeter::{JoinWindow, SmartMeter, SmartMeterConfig, SmartMeterEvent};
use nodes::link::terminal::{Terminal, TerminalConfig, TerminalEvent};
use pana::psk::{identity_from_eui64, PskDerivation, SaltedSha256};
use pana::secret::Psk;
use pana::AuthFailure;
use serde_json::json;
use wisun::mac::Eui64;
use wisun::pairing_id::PairingIeFormat;
use wisun::PairingId;

use crate::air_node::{self, App, HUB_ACK_WAIT, HUB_MAX_PSDU};
use crate::link_app::{Reader, Seeded, TerminalApp, DLMS_PORT};

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

fn parse_channel(s: &str) -> Result<u8, String> {
    let n: u16 = s.parse().map_err(|_| format!("`{s}` is not a channel"))?;
    wisun::channel::Channel::new(n)
        .map(wisun::channel::Channel::number)
        .map_err(|e| e.to_string())
}

/// `EUI64=PASSWORD`: a terminal the smart meter accepts.
fn parse_registration(s: &str) -> Result<(Eui64, String), String> {
    let (eui, password) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: EUI64=PASSWORD"))?;
    Ok((parse_eui64(eui)?, password.to_owned()))
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

/// Arguments of `iotroute terminal`.
#[derive(Debug, clap::Args)]
pub struct TerminalArgs {
    /// The `iotroute air` hub.
    #[arg(long, default_value = "127.0.0.1:17754")]
    pub air: SocketAddr,
    /// Our ZEP device id on the hub.
    #[arg(long)]
    pub device_id: u16,
    /// Our EUI-64 (hex, separators allowed).
    #[arg(long, value_parser = parse_eui64)]
    pub eui64: Eui64,
    /// Our password (the smart meter registers it with our EUI-64).
    #[arg(long)]
    pub password: String,
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
    /// A terminal we accept, `EUI64=PASSWORD` (repeat for each; at most 4 join).
    #[arg(long = "terminal", value_parser = parse_registration, required = true)]
    pub terminals: Vec<(Eui64, String)>,
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
    /// Seed our randomness (group keys, nonces) for a reproducible lab run; without it
    /// the OS random source is used, as the keys must be unpredictable.
    #[arg(long)]
    pub seed: Option<u64>,
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

/// The terminal program: its link and its DLMS demo model.
struct TerminalProgram {
    link: Terminal,
    app: TerminalApp,
    /// The next wall-clock slot boundary to capture at (process time).
    next_capture: Duration,
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
        &mut self.link
    }
    fn events(&mut self, now: Duration, events: Vec<TerminalEvent>) {
        for e in events {
            match e {
                TerminalEvent::Udp { datagram, .. } if datagram.dst_port == DLMS_PORT => {
                    if let Some(reply) = self.app.answer(Utc::now(), &datagram.payload) {
                        if let Err(e) =
                            self.link
                                .send_udp(now, (DLMS_PORT, datagram.src_port), reply)
                        {
                            tracing::warn!(error = %e, "DLMS reply not sent");
                        }
                    }
                }
                TerminalEvent::Joined(c) => {
                    tracing::info!(meter = ?c.eui64, channel = c.channel, rssi = c.rssi_dbm, "joined");
                    eprintln!("joined smart meter {:?} on channel {}", c.eui64, c.channel);
                }
                other => tracing::info!(event = ?other, "link"),
            }
        }
    }
    fn next_timer(&self) -> Option<Duration> {
        Some(self.next_capture)
    }
    fn timers(&mut self, now: Duration) {
        if now >= self.next_capture {
            self.app.capture(Utc::now());
            self.next_capture = next_half_hour(now + Duration::from_secs(1));
        }
    }
    fn done(&self) -> bool {
        false
    }
}

/// The smart meter program: its link and its readings.
struct SmartMeterProgram {
    link: SmartMeter,
    reader: Reader,
    read_every: Duration,
    next_read: Duration,
    readings: u64,
    stop_after: Option<u64>,
}

impl App for SmartMeterProgram {
    type Node = SmartMeter;
    fn node(&mut self) -> &mut SmartMeter {
        &mut self.link
    }
    fn events(&mut self, now: Duration, events: Vec<SmartMeterEvent>) {
        for e in events {
            match e {
                SmartMeterEvent::Udp { from, datagram } if datagram.src_port == DLMS_PORT => {
                    let (next, reading) =
                        self.reader
                            .answer(now, Utc::now(), from.0, &datagram.payload);
                    if let Some(bytes) = next {
                        if let Err(e) = self.link.send_udp(now, from, (DLMS_PORT, DLMS_PORT), bytes)
                        {
                            tracing::warn!(error = %e, "DLMS request not sent");
                        }
                    }
                    if let Some(r) = reading {
                        self.readings += 1;
                        let line = json!({
                            "terminal": dlms::hex::encode(&from.0),
                            "at": Utc::now().with_timezone(&crate::link_app::jst()).to_rfc3339(),
                            "energy_in_wh": r.energy_in_wh.map(|v| v.to_string()),
                            "energy_out_wh": r.energy_out_wh.map(|v| v.to_string()),
                            "rows": r.rows.len(),
                            "last_row": r.rows.last().map(chrono::DateTime::to_rfc3339),
                        });
                        println!("{line}");
                    }
                }
                SmartMeterEvent::Joined { terminal, .. } => {
                    eprintln!("terminal {terminal:?} joined");
                }
                SmartMeterEvent::Left { terminal } => self.reader.forget(terminal.0),
                other => tracing::info!(event = ?other, "link"),
            }
        }
    }
    fn next_timer(&self) -> Option<Duration> {
        [Some(self.next_read), self.reader.next_deadline()]
            .into_iter()
            .flatten()
            .min()
    }
    fn timers(&mut self, now: Duration) {
        for t in self.reader.stalled(now) {
            if let Some(aarq) = self.reader.start(now, t, true) {
                let _ = self
                    .link
                    .send_udp(now, Eui64(t), (DLMS_PORT, DLMS_PORT), aarq);
            }
        }
        if now < self.next_read {
            return;
        }
        self.next_read = if self.read_every == Duration::from_secs(1800) {
            next_half_hour(now + Duration::from_secs(1))
        } else {
            now + self.read_every
        };
        for t in self.link.terminals() {
            if self.reader.busy(t.0) {
                continue;
            }
            if let Some(aarq) = self.reader.start(now, t.0, false) {
                if let Err(e) = self.link.send_udp(now, t, (DLMS_PORT, DLMS_PORT), aarq) {
                    tracing::warn!(error = %e, "AARQ not sent");
                }
            }
        }
    }
    fn done(&self) -> bool {
        self.stop_after.is_some_and(|n| self.readings >= n)
    }
}

/// Run `iotroute terminal`.
pub async fn terminal(args: TerminalArgs) -> ExitCode {
    let (mac, net) = hub_mac(args.eui64);
    let config = TerminalConfig {
        mac,
        pairing_id: args.pairing_id,
        pairing_format: PairingIeFormat::default(),
        channels: args.channels.clone(),
        scan_window: Duration::from_millis(500),
        auth_id: identity_from_eui64(args.eui64.0).into_bytes(),
        password: args.password.into_bytes(),
        pana: PanaTimers::default(),
        backoff: Duration::from_secs(10),
        max_backoff: Duration::from_secs(300),
        net,
    };
    let app = match TerminalApp::new(
        Utc::now(),
        u64::from(args.device_id),
        engine_seed(args.seed),
    ) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut program = TerminalProgram {
        link: Terminal::new(config, entropy(args.seed, 3), Duration::ZERO),
        app,
        next_capture: next_half_hour(Duration::ZERO),
    };
    finish(
        air_node::run(
            &mut program,
            args.air,
            args.device_id,
            crate::dlms_serve::shutdown_signal(),
        )
        .await,
    )
}

/// Run `iotroute smartmeter`.
pub async fn smartmeter(args: SmartMeterArgs) -> ExitCode {
    let (mac, net) = hub_mac(args.eui64);
    let registered: Vec<(Vec<u8>, Vec<u8>)> = args
        .terminals
        .iter()
        .map(|(eui, pw)| {
            (
                identity_from_eui64(eui.0).into_bytes(),
                pw.clone().into_bytes(),
            )
        })
        .collect();
    let registry = move |id_p: &[u8]| -> Result<Psk, AuthFailure> {
        registered
            .iter()
            .find(|(id, _)| id.as_slice() == id_p)
            .map(|(id, pw)| SaltedSha256.derive(id, pw))
            .ok_or(AuthFailure::UnknownId)
    };
    let registry: Box<dyn Registry + Send> = Box::new(registry);
    let config = SmartMeterConfig {
        mac,
        pan_id: args.pan_id,
        channel: args.channel,
        pairing_id: args.pairing_id,
        pairing_format: PairingIeFormat::default(),
        join_window: args.join_window,
        paa: PaaConfig::new(identity_from_eui64(args.eui64.0).into_bytes()),
        key_period: Duration::from_secs(args.key_period),
        switch_delay: Duration::from_secs(60),
        net,
    };
    let read_every = Duration::from_secs(args.read_every);
    let mut program = SmartMeterProgram {
        link: SmartMeter::new(config, registry, entropy(args.seed, 5), Duration::ZERO),
        reader: Reader::new(engine_seed(args.seed)),
        read_every,
        next_read: if read_every == Duration::from_secs(1800) {
            next_half_hour(Duration::ZERO)
        } else {
            read_every
        },
        readings: 0,
        stop_after: args.readings,
    };
    finish(
        air_node::run(
            &mut program,
            args.air,
            args.device_id,
            crate::dlms_serve::shutdown_signal(),
        )
        .await,
    )
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
}
