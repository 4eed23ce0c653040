//! `iotroute sim` (being written).

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct SimArgs {}

pub async fn run(_args: SimArgs) -> ExitCode {
    eprintln!("iotroute sim: not built yet");
    ExitCode::FAILURE
}
