//! `iotroute meter`: the emulated special-case meter on a real UDP socket.
//!
//! Replies leave from the bound address and port (3610 unless `--port`), and go to the
//! requester's address at that same well-known port, whatever port the request came
//! from: ECHONET Lite answers to port 3610, and npm `echonet-lite` sends from 23610 but
//! listens only on 3610.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use chrono::Utc;
use echonet::energy::{EnergyUnit, COUNTER_MAX};
use nodes::meter::{Meter, MeterConfig, MeterState, MeterStats, Profile};

use crate::clock::{parse_speed, ScaledClock};
use crate::udp::Endpoint;

#[derive(Debug, clap::Args)]
pub struct MeterArgs {
    /// Address to bind (each meter on one machine needs its own, e.g. 127.0.0.2).
    #[arg(long, default_value = "0.0.0.0")]
    pub bind: IpAddr,
    /// UDP port; ECHONET Lite uses 3610.
    #[arg(long, default_value_t = echonet::PORT)]
    pub port: u16,
    /// Unit of the cumulative energy counters (0xD4), in kWh:
    /// 1, 0.1, 0.01, 0.001, 0.0001, 10, 100, 1000 or 10000.
    #[arg(long, default_value = "0.001")]
    pub unit: EnergyUnit,
    /// Initial AC input counter (0xE0), in counts of --unit (0..=999999999).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=i64::from(COUNTER_MAX)))]
    pub start_in: u32,
    /// Initial AC output counter (0xE2), in counts of --unit (0..=999999999).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=i64::from(COUNTER_MAX)))]
    pub start_out: u32,
    /// Power profile: `household` (PV generation and a household load) or
    /// `constant:IN_W:OUT_W`.
    #[arg(long, default_value = "household")]
    pub profile: Profile,
    /// Run the meter's clock this many times faster than real time.
    #[arg(long, default_value = "1", value_parser = parse_speed)]
    pub speed: f64,
    /// Device ID (0xD1) as hex octets, 1 to 64 of them.
    #[arg(long, value_parser = parse_id)]
    pub id: Option<DeviceId>,
    /// Keep counters, history and clock in this JSON file across restarts.
    #[arg(long)]
    pub state: Option<PathBuf>,
}

/// The octets of `--id` (a newtype, so that clap takes one value rather than many).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceId(pub Vec<u8>);

fn parse_id(s: &str) -> Result<DeviceId, String> {
    let s = s.trim_start_matches("0x");
    if s.is_empty() || s.len() % 2 != 0 || s.len() > 128 {
        return Err("the device ID is 1 to 64 octets in hex (an even number of digits)".into());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("`{s}` is not hex"))
        })
        .collect::<Result<Vec<u8>, String>>()
        .map(DeviceId)
}

pub async fn run(args: MeterArgs) -> ExitCode {
    match serve(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// How often the counters advance and the state is saved, in real time.
const TICK: Duration = Duration::from_millis(200);
const SAVE_EVERY: Duration = Duration::from_secs(5);

async fn serve(args: MeterArgs) -> Result<(), String> {
    let mut config = MeterConfig {
        unit: args.unit,
        profile: args.profile,
        ..MeterConfig::default()
    };
    if let Some(DeviceId(id)) = args.id.clone() {
        config.device_id = id;
    }
    let saved = match &args.state {
        Some(path) => load_state(path)?,
        None => None,
    };
    let origin = match &saved {
        // A sped-up run may have left the meter's clock ahead of ours: go on from there
        // rather than freezing the counters until real time catches up.
        Some(s) => s.integrated_to.max(Utc::now()),
        None => Utc::now(),
    };
    let clock = ScaledClock::new(origin, args.speed);
    let meter = match saved {
        Some(state) => {
            tracing::info!(
                input = state.input.value,
                output = state.output.value,
                "meter state restored; --start-in/--start-out ignored"
            );
            Meter::from_state(config, state)
        }
        None => Meter::new(config, args.start_in, args.start_out, clock.now()),
    };
    let endpoint = Endpoint::bind(args.bind, args.port)
        .map_err(|e| format!("cannot bind {}:{}: {e}", args.bind, args.port))?;
    tracing::info!(
        local = %endpoint.local_addr(),
        unit = %args.unit,
        profile = %args.profile,
        speed = args.speed,
        "meter 0x028E01 listening"
    );
    drive(
        meter,
        endpoint,
        clock,
        args.port,
        args.state,
        crate::shutdown::signal(),
    )
    .await;
    Ok(())
}

/// Runs `meter` on `endpoint` until `stop` completes: announces it, answers requests
/// (replies to the requester's address at `reply_port`), advances the counters and saves
/// the state to `state_file` every few seconds and at the end. Returns the meter's
/// counts of what it received.
pub async fn drive(
    mut meter: Meter,
    endpoint: Endpoint,
    clock: ScaledClock,
    reply_port: u16,
    state_file: Option<PathBuf>,
    stop: impl std::future::Future<Output = ()>,
) -> MeterStats {
    let announcement = meter.announcement();
    if let Err(e) = endpoint
        .send_to(&announcement, endpoint.multicast_target())
        .await
    {
        tracing::warn!(error = %e, "start-up announcement (INF 0xD5) not sent");
    }
    let mut buf = vec![0u8; 1500];
    let mut tick = tokio::time::interval(TICK);
    let mut last_save = std::time::Instant::now();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            received = endpoint.recv(&mut buf) => {
                let r = match received {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(error = %e, "receive failed");
                        continue;
                    }
                };
                let Some(datagram) = buf.get(..r.len) else { continue };
                tracing::debug!(from = %r.from, len = r.len, multicast = r.multicast, "datagram");
                if let Some(reply) = meter.handle(clock.now(), datagram) {
                    let to = SocketAddr::new(r.from.ip(), reply_port);
                    if let Err(e) = endpoint.send_to(&reply, to).await {
                        tracing::warn!(%to, error = %e, "reply not sent");
                    }
                }
            }
            _ = tick.tick() => {
                meter.advance(clock.now());
                if last_save.elapsed() >= SAVE_EVERY {
                    save(&state_file, &meter);
                    last_save = std::time::Instant::now();
                }
            }
            () = &mut stop => {
                meter.advance(clock.now());
                save(&state_file, &meter);
                let stats = meter.stats();
                tracing::info!(?stats, "meter stopped");
                return stats;
            }
        }
    }
}

fn load_state(path: &Path) -> Result<Option<MeterState>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| format!("state file {} is not a meter state: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read state file {}: {e}", path.display())),
    }
}

/// Writes the state atomically and durably (`state_file::write_atomic`), so that a crash
/// never leaves half a file.
fn save(path: &Option<PathBuf>, meter: &Meter) {
    let Some(path) = path else { return };
    let result = serde_json::to_vec_pretty(meter.state())
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            crate::state_file::write_atomic(path, &bytes, crate::state_file::Access::Default)
                .map_err(|e| e.to_string())
        });
    if let Err(e) = result {
        tracing::error!(path = %path.display(), error = %e, "meter state not saved");
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_id, DeviceId};

    #[test]
    fn device_id_parses_as_hex_octets() {
        assert_eq!(parse_id("0A0b"), Ok(DeviceId(vec![0x0A, 0x0B])));
        assert_eq!(parse_id("0x01"), Ok(DeviceId(vec![0x01])));
        assert!(parse_id("").is_err());
        assert!(parse_id("ABC").is_err());
        assert!(parse_id("ZZ").is_err());
        assert!(parse_id(&"00".repeat(65)).is_err());
    }
}
