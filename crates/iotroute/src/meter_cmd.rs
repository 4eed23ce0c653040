//! `iotroute meter` (being written).

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct MeterArgs {}

pub async fn run(_args: MeterArgs) -> ExitCode {
    eprintln!("iotroute meter: not built yet");
    ExitCode::FAILURE
}
