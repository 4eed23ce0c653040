//! `iotroute sim --loopback`: the meter and the terminal's ECHONET side over real
//! sockets: an emulated 0x028E meter and the terminal-side controller on two loopback
//! addresses, against one clock running `--speed` times faster than real time. The
//! controller discovers the meter, sets its clock (TRM-09) and reads 0xD1, 0xD4, 0xE0 and
//! 0xE2 at every simulated :00 and :30 (TRM-03, TRM-07). The rest of the system runs in
//! `iotroute sim` without the flag, in virtual time; this run says so.

use std::net::IpAddr;
use std::process::ExitCode;

use chrono::{DateTime, Duration, FixedOffset, NaiveDateTime, Timelike, Utc};
use echonet::energy::Energy;
use nodes::controller::{Controller, ControllerConfig, Event, MeterReadout};
use nodes::jst;
use nodes::meter::{Meter, MeterConfig, METER_EOJ};
use serde::Serialize;

use crate::clock::ScaledClock;
use crate::controller_driver::ControllerDriver;
use crate::meter_cmd;
use crate::sim_cmd::SimArgs;
use crate::udp::Endpoint;

/// What this run leaves out.
const NOT_BUILT: [&str; 2] = [
    "the terminal's store, DLMS/COSEM server and the IoT route (802.15.4 + CCM*, 6LoWPAN, \
     PANA, DLMS/COSEM readings): `iotroute sim` without --loopback runs them in virtual time",
    "the systems behind the smart meter: see `iotroute sim`",
];

/// The `--report-json` document.
#[derive(Debug, Serialize)]
struct Report {
    started: DateTime<FixedOffset>,
    speed: f64,
    meter: IpAddr,
    terminal: IpAddr,
    discovery: &'static str,
    clock_set: Option<String>,
    readings: Vec<ReadingRecord>,
    failures: Vec<FailureRecord>,
    total_input_kwh: String,
    total_output_kwh: String,
    meter_stats: Option<nodes::meter::MeterStats>,
    controller_stats: nodes::controller::ControllerStats,
    not_built: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
struct ReadingRecord {
    /// The :00 or :30 slot the reading is for (JST).
    slot: DateTime<FixedOffset>,
    device_id: String,
    unit: String,
    counter_in: u32,
    counter_out: u32,
    /// Lower 8 digits (TRM-03).
    digits_in: u32,
    digits_out: u32,
    input_kwh: String,
    output_kwh: String,
    /// Energy since the previous reading, modulo 10^8 counts.
    delta_input_kwh: Option<String>,
    delta_output_kwh: Option<String>,
}

#[derive(Debug, Serialize)]
struct FailureRecord {
    slot: DateTime<FixedOffset>,
    error: String,
}

/// Run `sim --loopback`.
pub async fn run(args: SimArgs) -> ExitCode {
    match simulate(args).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A JST wall-clock time with its +09:00 offset, for the report.
fn as_jst(t: NaiveDateTime) -> DateTime<FixedOffset> {
    let jst = FixedOffset::east_opt(9 * 3600).expect("UTC+9 is a valid offset");
    (t - Duration::hours(9)).and_utc().with_timezone(&jst)
}

/// The first :00 or :30 strictly after `t`.
fn next_slot(t: NaiveDateTime) -> NaiveDateTime {
    let secs = i64::from(t.num_seconds_from_midnight());
    let midnight = t.date().and_time(chrono::NaiveTime::MIN);
    midnight + Duration::seconds((secs / 1800 + 1) * 1800)
}

async fn simulate(args: SimArgs) -> Result<ExitCode, String> {
    let clock = ScaledClock::new(Utc::now(), args.speed);
    let started = as_jst(jst(clock.now()));
    let meter_config = MeterConfig {
        unit: args.unit,
        profile: args.profile,
        ..MeterConfig::default()
    };
    let meter = Meter::new(meter_config, args.start_in, args.start_out, clock.now());
    let meter_ip = IpAddr::V4(args.meter);
    let meter_endpoint = Endpoint::bind(meter_ip, echonet::PORT)
        .map_err(|e| format!("cannot bind the meter to {meter_ip}:3610: {e}"))?;
    let terminal_endpoint = Endpoint::bind(IpAddr::V4(args.terminal), echonet::PORT)
        .map_err(|e| format!("cannot bind the terminal to {}:3610: {e}", args.terminal))?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let meter_task = tokio::spawn(meter_cmd::drive(
        meter,
        meter_endpoint,
        clock,
        echonet::PORT,
        None,
        async {
            let _ = stop_rx.await;
        },
    ));

    let readings_wanted = args.readings.unwrap_or(args.days.unwrap_or(1) * 48);
    crate::stdout::outln!(
        "iotroute sim: special-case meter {meter_ip} (ECHONET Lite 0x028E01, unit {}, profile {})",
        args.unit,
        args.profile
    );
    crate::stdout::outln!(
        "              wireless terminal {} (ECHONET controller), clock ×{}",
        args.terminal,
        args.speed
    );
    crate::stdout::outln!("              {readings_wanted} readings at every :00 and :30 (JST)");
    let config = ControllerConfig {
        // Timeouts are real time; keep them short so a lost datagram costs little
        // simulated time.
        timeout: std::time::Duration::from_millis(300),
        discovery_window: std::time::Duration::from_millis(500),
        ..ControllerConfig::default()
    };
    let mut driver = ControllerDriver::new(Controller::new(config), terminal_endpoint);

    // Discovery: multicast first, as a terminal would; the meter's address directly if the
    // group is not delivered on this machine's loopback.
    let (answers, _) = driver
        .request(|c, now| c.discover(now))
        .await
        .map_err(|e| e.to_string())?;
    let found = answers.iter().any(|e| {
        matches!(e, Event::Discovered { node, .. }
            if node.addr == meter_ip && node.instances.contains(&METER_EOJ))
    });
    let discovery = if found {
        crate::stdout::outln!(
            "discovery:    meter found by multicast on 224.0.23.0, instance {METER_EOJ}"
        );
        "multicast"
    } else {
        crate::stdout::outln!(
            "discovery:    no multicast answer on this host's loopback; using {meter_ip} directly"
        );
        "direct"
    };

    // TRM-09: set the meter's clock from the terminal's.
    let now_jst = jst(clock.now());
    let (_, outcome) = driver
        .request(|c, now| c.set_clock(now, meter_ip, METER_EOJ, now_jst))
        .await
        .map_err(|e| e.to_string())?;
    let clock_set = match outcome {
        Event::ClockSet { result: Ok(o), .. } => Some(format!("{:?} {}", o.method, o.written)),
        Event::ClockSet { result: Err(e), .. } => Some(format!("failed: {e}")),
        _ => None,
    };
    crate::stdout::outln!(
        "clock (TRM-09): {}",
        clock_set.as_deref().unwrap_or("no outcome")
    );
    crate::stdout::outln!();
    crate::stdout::outln!(
        "{:<22} {:>16} {:>14} {:>16} {:>14}",
        "slot (JST)",
        "E0 input kWh",
        "Δ",
        "E2 output kWh",
        "Δ"
    );

    let mut records = Vec::new();
    let mut failures = Vec::new();
    let mut previous: Option<MeterReadout> = None;
    let (mut total_in, mut total_out) = (Energy::ZERO, Energy::ZERO);
    let mut slot = next_slot(jst(clock.now()));
    while records.len() + failures.len() < readings_wanted as usize {
        let slot_utc = slot - Duration::hours(9);
        tokio::time::sleep(clock.real_until(slot_utc.and_utc())).await;
        let (_, last) = driver
            .request(|c, now| c.read_meter(now, meter_ip, METER_EOJ))
            .await
            .map_err(|e| e.to_string())?;
        let outcome = match last {
            Event::MeterRead { result, .. } => Some(result),
            _ => None,
        };
        match outcome {
            Some(Ok(r)) => {
                let unit = r.unit;
                let (d_in, d_out) = match &previous {
                    Some(p) => (r.input.since(p.input).ok(), r.output.since(p.output).ok()),
                    None => (None, None),
                };
                total_in = total_in + d_in.unwrap_or(Energy::ZERO);
                total_out = total_out + d_out.unwrap_or(Energy::ZERO);
                let fmt_delta = |d: Option<Energy>| {
                    d.map(|e| format!("+{}", e.display(unit.decimals())))
                        .unwrap_or_else(|| "".into())
                };
                crate::stdout::outln!(
                    "{:<22} {:>16} {:>14} {:>16} {:>14}",
                    slot.format("%Y-%m-%d %H:%M").to_string(),
                    r.input.energy().display(unit.decimals()).to_string(),
                    fmt_delta(d_in),
                    r.output.energy().display(unit.decimals()).to_string(),
                    fmt_delta(d_out),
                );
                records.push(ReadingRecord {
                    slot: as_jst(slot),
                    device_id: r.device_id.iter().map(|b| format!("{b:02X}")).collect(),
                    unit: unit.to_string(),
                    counter_in: r.counter_in,
                    counter_out: r.counter_out,
                    digits_in: r.input.digits(),
                    digits_out: r.output.digits(),
                    input_kwh: r.input.energy().display(unit.decimals()).to_string(),
                    output_kwh: r.output.energy().display(unit.decimals()).to_string(),
                    delta_input_kwh: d_in.map(|e| e.display(unit.decimals()).to_string()),
                    delta_output_kwh: d_out.map(|e| e.display(unit.decimals()).to_string()),
                });
                previous = Some(r);
            }
            Some(Err(e)) => {
                crate::stdout::outln!(
                    "{:<22} reading failed: {e}",
                    slot.format("%Y-%m-%d %H:%M").to_string()
                );
                failures.push(FailureRecord {
                    slot: as_jst(slot),
                    error: e.to_string(),
                });
            }
            None => {
                failures.push(FailureRecord {
                    slot: as_jst(slot),
                    error: "no outcome".into(),
                });
            }
        }
        slot = next_slot(jst(clock.now()).max(slot));
    }

    let _ = stop_tx.send(());
    let meter_stats = meter_task.await.ok();
    let decimals = args.unit.decimals();
    crate::stdout::outln!();
    crate::stdout::outln!(
        "{} readings, {} failed; metered in this run: input {} kWh, output {} kWh",
        records.len(),
        failures.len(),
        total_in.display(decimals),
        total_out.display(decimals)
    );
    crate::stdout::outln!("not built yet, so not part of this run:");
    for part in NOT_BUILT {
        crate::stdout::outln!("  - {part}");
    }
    let report = Report {
        started,
        speed: args.speed,
        meter: meter_ip,
        terminal: IpAddr::V4(args.terminal),
        discovery,
        clock_set,
        total_input_kwh: total_in.display(decimals).to_string(),
        total_output_kwh: total_out.display(decimals).to_string(),
        readings: records,
        failures,
        meter_stats,
        controller_stats: driver.controller().stats(),
        not_built: NOT_BUILT.to_vec(),
    };
    if let Some(path) = &args.report_json {
        let json = serde_json::to_vec_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, json).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        crate::stdout::outln!("report: {}", path.display());
    }
    Ok(if report.failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
