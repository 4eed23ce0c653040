//! `iotroute sim`: the whole system on one machine, as far as it is built, in virtual
//! time (`sim::system`): wireless terminals, each reading its own emulated meter over
//! ECHONET Lite into its store and serving it over DLMS/COSEM, and smart meters reading
//! them every 30 minutes over the simulated 920 MHz IoT route. `--loopback` runs the
//! meter and the terminal's ECHONET side over real loopback sockets instead
//! (`crate::sim_loopback`). This module is only the command: flags, files, output.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;

use echonet::energy::{EnergyUnit, COUNTER_MAX};
use nodes::meter::{MeterConfig, Profile};

use crate::clock::parse_speed;
use crate::state_file::{write_atomic, write_atomic_with, Access};

/// How long a run covers without --hours, --days or --readings: two days.
const DEFAULT_HOURS: u32 = 48;

/// The run's start without --start: 2026-04-01 00:00 JST.
const DEFAULT_START: &str = "2026-04-01T00:00:00+09:00";

#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Hours of slots the run covers from --start (default 48: two days).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=168), conflicts_with_all = ["days", "readings"])]
    pub hours: Option<u32>,
    /// Days of slots the run covers from --start (default 2; --loopback: 1).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=366), conflicts_with = "readings")]
    pub days: Option<u32>,
    /// Cover this many slots instead (--loopback: stop after this many readings).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub readings: Option<u32>,
    /// Wireless terminals, each with its own meter (up to 1,000,000).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1_000_000), conflicts_with = "loopback")]
    pub terminals: u32,
    /// Smart meters (each on its own channel; at most 4 terminals each).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=250_000), conflicts_with = "loopback")]
    pub smartmeters: u32,
    /// Seed of the radio model, placements and randomness: the same seed gives the same
    /// run.
    #[arg(long, default_value_t = 1, conflicts_with = "loopback")]
    pub seed: u64,
    /// The run's start, RFC 3339 (`2026-04-01T00:00:00+09:00`): it covers the slots
    /// starting from the first boundary at or after it; offsets of --block and --outage
    /// are from it.
    #[arg(long, value_name = "RFC3339", default_value = DEFAULT_START, value_parser = parse_start, conflicts_with = "loopback")]
    pub start: chrono::DateTime<chrono::Utc>,
    /// The reading interval, minutes: 30, or 15 (TRM-11) for every terminal and point.
    #[arg(long, value_name = "MINUTES", default_value = "30", value_parser = parse_interval, conflicts_with = "loopback")]
    pub interval: nodes::terminal::slots::Interval,
    /// Write every frame on the air to this pcap (link type 283: IEEE 802.15.4 TAP with
    /// RSS and channel per frame).
    #[arg(long, value_name = "FILE", conflicts_with = "loopback")]
    pub pcap: Option<PathBuf>,
    /// Write every link key used to this file, one per line in Wireshark's key-table form
    /// `"<32 hex digits>","<key index>","No hash"`.
    #[arg(long, value_name = "FILE", conflicts_with = "loopback")]
    pub keys: Option<PathBuf>,
    /// Lose this percentage of received frames on top of the radio model (fault
    /// injection). Without any fault flag (this, --outage, --reboots, --block,
    /// --wrong-meter, --wrong-password, --wrong-pairing, --flood, --kill-headend) a run
    /// has 1 % loss, one outage, one reboot and three operator commands (--commands).
    #[arg(long, value_parser = parse_loss, conflicts_with = "loopback")]
    pub loss: Option<f64>,
    /// The meters' unit (0xD4) in kWh.
    #[arg(long, default_value = "0.001")]
    pub unit: EnergyUnit,
    /// The meters' power profile: `household` or `constant:IN_W:OUT_W`.
    #[arg(long, default_value = "household")]
    pub profile: Profile,
    /// Write the run as JSON to this file: without --loopback the summary, per terminal
    /// every slot's meter count against what its smart meter received; with it, every
    /// reading, the clock set and the counters.
    #[arg(long)]
    pub report_json: Option<PathBuf>,
    /// Keep the head end's registry and the MDMS in this SQLite file (created if
    /// absent): `iotroute mdms export --db FILE` and `iotroute headend registry export
    /// --db FILE` read it after the run. Without it the registry is in memory and the
    /// MDMS in a scratch file in the temporary directory, removed at the end.
    #[arg(long, value_name = "FILE", conflicts_with = "loopback")]
    pub db: Option<PathBuf>,
    /// After the run, serve its EDI files and the operations pages over HTTPS on ADDR
    /// (default 127.0.0.1:8443) until Ctrl-C, as `iotroute portal` does, printing the
    /// URL, a retailer certificate issued for a look and an operator's generated
    /// password (without --db the run's database is kept in a directory of the temporary
    /// directory, printed).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8443", conflicts_with = "loopback")]
    pub serve: Option<std::net::SocketAddr>,
    /// Block a point for a while (OPS-07; repeatable): `POINT@FROM..TO`, the 22-digit
    /// supply point and offsets from the run's start such as `90m`, `6h`, `1d` (`s`,
    /// `m`, `h`, `d`); recorded with reason and by `sim`; its slots arrive by backfill
    /// after the reconnect.
    #[arg(long, value_name = "POINT@FROM..TO", value_parser = parse_block, conflicts_with = "loopback")]
    pub block: Vec<sim::system::BlockPlan>,
    /// A smart meter out of power for a while (repeatable): `SM@OFFSET+DURATION`, its
    /// EUI-64 as in the registry (16 hex digits, e.g. `025A000000002001`) and times such
    /// as `3h+2h`; it boots afresh after it (new keys, its terminals rejoining, the head
    /// end registering them again) and the slots of the outage arrive afterwards.
    #[arg(long, value_name = "SM@OFFSET+DURATION", value_parser = parse_outage, conflicts_with = "loopback")]
    pub outage: Vec<sim::system::OutagePlan>,
    /// Reboot terminals N times in all, at seeded times and terminals: each keeps its
    /// store and loses what it held in memory (its link, pushes, clock), boots 30 s later
    /// and joins again.
    #[arg(long, conflicts_with = "loopback")]
    pub reboots: Option<u32>,
    /// Kill the head end (as with kill -9: what it held in memory is lost, bytes sent to
    /// it meanwhile too) at OFFSET from the start and start it again on its database
    /// DURATION later (repeatable; an extension): it resumes every point's collection
    /// and backfills what it missed.
    #[arg(long, value_name = "OFFSET+DURATION", value_parser = parse_kill, conflicts_with = "loopback")]
    pub kill_headend: Vec<sim::system::KillPlan>,
    /// Swap a registered point's meter for another N times in all, at seeded times and
    /// points (SEC-07): its terminal flags what it reads from then on and tells its smart
    /// meter; the MDMS marks those slots flagged.
    #[arg(long, conflicts_with = "loopback")]
    pub wrong_meter: Option<u32>,
    /// Add N attackers that claim a registered terminal's ID with a wrong password: their
    /// smart meter refuses them and tells the head end (`auth_failure`).
    #[arg(long, conflicts_with = "loopback")]
    pub wrong_password: Option<u32>,
    /// Add N attackers scanning for another Pairing ID: no smart meter answers, each
    /// tells the head end (`foreign_pairing_scan`).
    #[arg(long, conflicts_with = "loopback")]
    pub wrong_pairing: Option<u32>,
    /// Flood N terminals' ECHONET Lite side from another address (SEC-08), at seeded
    /// times and terminals: each detects it, logs it and tells its smart meter, which
    /// relays it (`dos`); readings go on.
    #[arg(long, conflicts_with = "loopback")]
    pub flood: Option<u32>,
    /// Record N operator commands in the head end's database (an extension), at seeded
    /// times within the run's slots and seeded points, by `sim`: set-clock (TRM-09: the
    /// terminal's clock set to its smart meter's), set-password (TRM-08: a seeded new
    /// password of 8 to 32 bytes, never shown) and set-interval (TRM-11: to 15 minutes,
    /// or to 30 in a --interval 15 run) in turn; the head end sends each to the point's
    /// smart meter, which carries it out in a DLMS session with the terminal. The report
    /// lists each with its outcome; the run fails unless every one is done. Without any
    /// fault flag a run has three (one of each). A new password or interval holds
    /// through the terminal's reboots and its smart meter's outages; a switched point's
    /// slots are expected on its new interval from the boundary its terminal switched
    /// at, and published at their own closes.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000), conflicts_with = "loopback")]
    pub commands: Option<u32>,
    /// How long each smart meter uses a group key before rolling in the next (SEC-03):
    /// `1h` to `30d` (the range SKSTACK allows), such as `6h` or `1d`. The default (ours)
    /// shows rollovers in a short run; a deployment would use days.
    #[arg(long, value_name = "DURATION", default_value = "6h", value_parser = parse_key_period, conflicts_with = "loopback")]
    pub key_period: core::time::Duration,
    /// Smart meters a district holds at most (ours): the street is cut into districts of
    /// this many smart meters or fewer, an even number of them when more than one, each
    /// a radio's reach from the next (no frame crosses), run side by side on two
    /// threads. A run's report does not depend on which thread ran which district.
    #[arg(long, value_name = "N", default_value_t = sim::system::DISTRICT_SMART_METERS, value_parser = clap::value_parser!(u32).range(1..), conflicts_with = "loopback")]
    pub district_smartmeters: u32,
    /// The whole system, as without the flag (kept: it used to select the IoT route).
    #[arg(long, conflicts_with = "loopback")]
    pub link: bool,
    /// Run the meter and the terminal's ECHONET controller over real loopback sockets
    /// on a scaled clock instead (no store, no IoT route).
    #[arg(long)]
    pub loopback: bool,
    /// (--loopback) Simulated seconds per real second (1800: one 30-minute reading per
    /// second).
    #[arg(long, default_value = "1800", value_parser = parse_speed)]
    pub speed: f64,
    /// (--loopback) Loopback address of the emulated meter.
    #[arg(long, default_value = "127.0.0.2")]
    pub meter: Ipv4Addr,
    /// (--loopback) Loopback address of the terminal's ECHONET controller.
    #[arg(long, default_value = "127.0.0.3")]
    pub terminal: Ipv4Addr,
    /// (--loopback) The meter's initial AC input counter (0xE0), in counts of --unit.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=i64::from(COUNTER_MAX)))]
    pub start_in: u32,
    /// (--loopback) The meter's initial AC output counter (0xE2), in counts of --unit.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=i64::from(COUNTER_MAX)))]
    pub start_out: u32,
}

fn parse_start(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("`{s}`: not an RFC 3339 time ({e}), e.g. {DEFAULT_START}"))
}

fn parse_interval(s: &str) -> Result<nodes::terminal::slots::Interval, String> {
    s.parse::<u8>()
        .ok()
        .and_then(nodes::terminal::slots::Interval::from_minutes)
        .ok_or_else(|| format!("`{s}`: the interval is 30 or 15 (minutes)"))
}

fn parse_loss(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a percentage"))?;
    if (0.0..=90.0).contains(&v) {
        Ok(v)
    } else {
        Err("--loss: 0 to 90 (percent)".to_owned())
    }
}

/// An offset from the run's start: a number and a unit, `s`, `m`, `h` or `d`.
pub(crate) fn parse_offset(s: &str) -> Result<core::time::Duration, String> {
    let (number, unit) = s.split_at(s.len().saturating_sub(1));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{s}`: an offset is a number and s, m, h or d (`6h`)"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{s}`: the unit is s, m, h or d")),
    };
    n.checked_mul(seconds)
        .map(core::time::Duration::from_secs)
        .ok_or_else(|| format!("`{s}`: too far"))
}

/// A group-key period: an offset between 1 h and 30 days.
fn parse_key_period(s: &str) -> Result<core::time::Duration, String> {
    let d = parse_offset(s)?;
    if (3600..=30 * 86_400).contains(&d.as_secs()) {
        Ok(d)
    } else {
        Err(format!("`{s}`: a group-key period is 1h to 30d"))
    }
}

/// `POINT@FROM..TO`.
fn parse_block(s: &str) -> Result<sim::system::BlockPlan, String> {
    let (point, span) = s
        .split_once('@')
        .ok_or_else(|| format!("`{s}`: POINT@FROM..TO"))?;
    let (from, to) = span
        .split_once("..")
        .ok_or_else(|| format!("`{s}`: POINT@FROM..TO"))?;
    let plan = sim::system::BlockPlan {
        point: point
            .parse::<mdms::SupplyPoint>()
            .map_err(|e| e.to_string())?
            .to_string(),
        from: parse_offset(from)?,
        to: parse_offset(to)?,
    };
    if plan.to <= plan.from {
        return Err(format!("`{s}`: the reconnect must come after the block"));
    }
    Ok(plan)
}

/// `OFFSET+DURATION`.
fn parse_kill(s: &str) -> Result<sim::system::KillPlan, String> {
    let (offset, length) = s
        .split_once('+')
        .ok_or_else(|| format!("`{s}`: OFFSET+DURATION"))?;
    let from = parse_offset(offset)?;
    let length = parse_offset(length)?;
    if length.is_zero() {
        return Err(format!("`{s}`: the head end stays down a while"));
    }
    Ok(sim::system::KillPlan {
        from,
        to: from + length,
    })
}

/// `SM@OFFSET+DURATION`.
fn parse_outage(s: &str) -> Result<sim::system::OutagePlan, String> {
    let (sm, span) = s
        .split_once('@')
        .ok_or_else(|| format!("`{s}`: SM@OFFSET+DURATION"))?;
    let (offset, length) = span
        .split_once('+')
        .ok_or_else(|| format!("`{s}`: SM@OFFSET+DURATION"))?;
    let from = parse_offset(offset)?;
    let length = parse_offset(length)?;
    if length.is_zero() {
        return Err(format!("`{s}`: an outage lasts a while"));
    }
    Ok(sim::system::OutagePlan {
        smart_meter: headend::registry::parse_eui64(sm)?.0,
        from,
        to: from + length,
    })
}

/// The time a run's slots cover from its start: `--readings N` slots, else `--hours` or
/// `--days`.
fn duration(args: &SimArgs) -> core::time::Duration {
    let minutes = match (args.readings, args.hours, args.days) {
        (Some(n), _, _) => u64::from(args.interval.minutes()) * u64::from(n),
        (None, Some(h), _) => 60 * u64::from(h),
        (None, None, Some(d)) => 24 * 60 * u64::from(d),
        (None, None, None) => 60 * u64::from(DEFAULT_HOURS),
    };
    core::time::Duration::from_secs(60 * minutes)
}

/// Run `iotroute sim`.
pub async fn run(args: SimArgs) -> ExitCode {
    if args.loopback {
        return crate::sim_loopback::run(args).await;
    }
    let Some(listen) = args.serve else {
        return exit_of(simulate(&args));
    };
    // The run's database outlives the run: the portal serves it.
    let mut args = args;
    let dir = match &args.db {
        Some(db) => db
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), std::path::Path::to_path_buf),
        None => {
            let dir = std::env::temp_dir().join(format!("iotroute-sim-{}", std::process::id()));
            if let Err(e) = std::fs::create_dir_all(&dir) {
                eprintln!("error: {}: {e}", dir.display());
                return ExitCode::FAILURE;
            }
            args.db = Some(dir.join("system.db"));
            dir
        }
    };
    let ok = simulate(&args);
    if ok.is_err() {
        return exit_of(ok);
    }
    let (db, tls) = (args.db.clone().unwrap_or_default(), dir.join("portal-tls"));
    if let Err(e) = show_serve(&db, &tls, &dir, listen) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = crate::portal_cmd::serve_db(&db, listen, &tls).await {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    exit_of(ok)
}

fn exit_of(result: Result<bool, String>) -> ExitCode {
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The operations pages' login `sim --serve` makes: user `operator` with a generated
/// password, told once (a run on the same database again finds it made).
fn operator_login(db: &std::path::Path) -> Result<String, String> {
    use portal::PortalStore as _;
    let mut store = portal::SqlitePortalStore::open(db).map_err(|e| e.to_string())?;
    if store
        .users()
        .map_err(|e| e.to_string())?
        .iter()
        .any(|u| u.name == "operator")
    {
        return Ok("user operator, its password as told when it was made".to_owned());
    }
    let password = portal::tls::random_password().map_err(|e| e.to_string())?;
    let user = portal::users::User::new(
        "operator",
        portal::users::Role::Operator,
        password.as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    store.add_user(&user).map_err(|e| e.to_string())?;
    Ok(format!("user operator, password {password}"))
}

/// What `sim --serve` prints before it serves: where, and a retailer's certificate
/// issued for a look (the first retailer of the run's registry).
fn show_serve(
    db: &std::path::Path,
    tls: &std::path::Path,
    dir: &std::path::Path,
    listen: std::net::SocketAddr,
) -> Result<(), String> {
    let retailer: edi::PartyCode = sim::system::RETAILERS[0]
        .parse()
        .map_err(|e: edi::EdiError| e.to_string())?;
    let out = dir.join(format!("retailer-{retailer}"));
    let (serial, password) = crate::portal_cmd::issue_into(tls, retailer, &out)?;
    let ca = tls.join("ca.crt.pem");
    let (crt, key, p12) = (
        out.join(format!("{retailer}.crt.pem")),
        out.join(format!("{retailer}.key.pem")),
        out.join(format!("{retailer}.p12")),
    );
    crate::stdout::outln!();
    crate::stdout::outln!(
        "public server on {} (Ctrl-C to stop): https://{listen}/30min/",
        db.display()
    );
    crate::stdout::outln!("  CA certificate: {}", ca.display());
    crate::stdout::outln!(
        "  retailer {retailer}: {}, {} (serial {serial}); {} (password {password})",
        crt.display(),
        key.display(),
        p12.display()
    );
    crate::stdout::outln!(
        "  try: curl --cacert {} --cert {} --key {} -H 'Accept: application/json' https://{listen}/30min/FileListReceiver",
        ca.display(),
        crt.display(),
        key.display()
    );
    let operator = operator_login(db)?;
    crate::stdout::outln!("  operations pages: https://{listen}/ops/login ({operator})");
    use std::io::Write as _;
    std::io::stdout().flush().map_err(|e| e.to_string())
}

/// The faults of a run: as given, or, when no fault flag is, a little of each (the
/// issue's defaults: every part of the system shown working).
struct Faults {
    loss: f64,
    outages: Vec<sim::system::OutagePlan>,
    reboots: u32,
    /// The operator's commands (`--commands`; two without any flag).
    commands: u32,
}

impl Faults {
    fn of(args: &SimArgs, duration: core::time::Duration) -> Self {
        let given = args.loss.is_some()
            || !args.outage.is_empty()
            || !args.kill_headend.is_empty()
            || args.reboots.is_some()
            || !args.block.is_empty()
            || args.wrong_meter.is_some()
            || args.wrong_password.is_some()
            || args.wrong_pairing.is_some()
            || args.flood.is_some();
        if given {
            return Self {
                loss: args.loss.unwrap_or(0.0),
                outages: args.outage.clone(),
                reboots: args.reboots.unwrap_or(0),
                commands: args.commands.unwrap_or(0),
            };
        }
        // The first smart meter off for an hour at 40 % of the run.
        let from = duration.mul_f64(0.4);
        Self {
            loss: 1.0,
            outages: vec![sim::system::OutagePlan {
                smart_meter: [0x02, 0x5A, 0, 0, 0, 0, 0x20, 0x01],
                from,
                to: from + core::time::Duration::from_secs(3600),
            }],
            reboots: 1,
            commands: args.commands.unwrap_or(3),
        }
    }
}

/// The run's progress on stderr, drawn only when stderr is a terminal: virtual time done
/// of the slots' span, then the wait for backfill to settle.
fn progress_bar() -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(1);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} simulated [{bar:40}] {percent:>3} % of the slots' time, {elapsed} so far",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

/// The whole system: `Ok(true)` when every reading arrived with the meter's values.
fn simulate(args: &SimArgs) -> Result<bool, String> {
    let faults = Faults::of(args, duration(args));
    let options = sim::system::Options {
        terminals: args.terminals,
        smartmeters: args.smartmeters,
        start: args.start,
        duration: duration(args),
        interval: args.interval,
        seed: args.seed,
        loss: faults.loss / 100.0,
        meter: MeterConfig {
            unit: args.unit,
            profile: args.profile,
            ..MeterConfig::default()
        },
        db: args.db.clone(),
        blocks: args.block.clone(),
        outages: faults.outages,
        headend_kills: args.kill_headend.clone(),
        reboots: faults.reboots,
        wrong_meters: args.wrong_meter.unwrap_or(0),
        wrong_passwords: args.wrong_password.unwrap_or(0),
        wrong_pairings: args.wrong_pairing.unwrap_or(0),
        floods: args.flood.unwrap_or(0),
        key_period: args.key_period,
        commands: faults.commands,
        district_size: args.district_smartmeters,
    };
    let pcap = args
        .pcap
        .as_ref()
        .map(|p| {
            std::fs::File::create(p)
                .map(std::io::BufWriter::new)
                .map_err(|e| format!("--pcap {}: {e}", p.display()))
        })
        .transpose()?;
    let bar = progress_bar();
    let run = sim::system::run(options, pcap, &mut |p| {
        // Seconds of virtual time; past the slots' end, the bar waits for backfill.
        bar.set_length(p.slots_end.max(p.done).as_secs());
        bar.set_position(p.done.as_secs());
    })
    .map_err(|e| e.to_string());
    bar.finish_and_clear();
    let run = run?;
    // A reader that stopped reading (`| head`) is no error of the run's.
    let shown = {
        use std::io::Write as _;
        write!(std::io::stdout().lock(), "{}", run.report)
    };
    if let Err(e) = shown.and_then(|()| {
        use std::io::Write as _;
        std::io::stdout().flush()
    }) {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(format!("stdout: {e}"));
        }
    }
    if let Some(path) = &args.keys {
        write_atomic(path, run.keys.as_bytes(), Access::OwnerOnly)
            .map_err(|e| format!("--keys {}: {e}", path.display()))?;
    }
    if let Some(path) = &args.report_json {
        // Streamed: a large run's per-terminal records are gigabytes of JSON.
        write_atomic_with(path, Access::Default, |f| {
            let mut w = std::io::BufWriter::new(f);
            serde_json::to_writer_pretty(&mut w, &run.report).map_err(std::io::Error::other)?;
            std::io::Write::flush(&mut w)
        })
        .map_err(|e| format!("--report-json {}: {e}", path.display()))?;
        crate::stdout::outln!("report: {}", path.display());
    }
    Ok(run.report.ok)
}
