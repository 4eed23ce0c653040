//! `iotroute echonet` (being written).

use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum EchonetCommand {
    /// Find ECHONET Lite nodes.
    Discover,
}

pub async fn run(_cmd: EchonetCommand) -> ExitCode {
    eprintln!("iotroute echonet: not built yet");
    ExitCode::FAILURE
}
