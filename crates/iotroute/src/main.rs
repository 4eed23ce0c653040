//! `iotroute`: every node of the Specified Metering System as a subcommand.
//!
//! This crate holds only the command line and the tokio drivers that bind the sans-IO
//! state machines of `nodes` to sockets, files and the wall clock.

// Standard output through `stdout::outln!`/`out!` only: `println!` panics when the
// reader left (`| head`).
#![deny(clippy::print_stdout)]

mod access_file;
mod air_cmd;
mod air_node;
mod clock;
mod controller_driver;
mod dlms_client_cmd;
mod dlms_cmd;
mod dlms_listen;
mod dlms_serve;
mod echonet_cmd;
mod firmware_cmd;
mod firmware_slots;
mod handy_cmd;
mod handy_firmware;
mod handy_rows;
mod headend_cmd;
mod headend_serve;
mod image_file;
mod link_counters;
mod link_node_cmd;
mod link_profile_args;
mod logs_cmd;
mod maintenance;
mod mdms_cmd;
mod meter_cmd;
mod portal_cmd;
mod portal_publish;
mod relay_port;
mod retailer_cmd;
mod secret_input;
mod shutdown;
mod sim_cmd;
mod sim_loopback;
mod smartmeter_passwords;
mod state_file;
mod stdout;
mod terminal_meter;
mod terminal_status;
mod udp;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(
    name = "iotroute",
    version,
    about = "The Specified Metering System (特定計量システム) of the Japanese utilities: \
             meters, wireless terminals, smart meters and head end, speaking the real protocols",
    long_about = None
)]
struct Cli {
    /// Log filter (tracing EnvFilter syntax); overrides RUST_LOG.
    #[arg(long, global = true)]
    log: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole system on this machine in virtual time: terminals reading their
    /// meters over ECHONET Lite into their stores, smart meters reading the terminals
    /// over the simulated 920 MHz IoT route (DLMS/COSEM over CCM*) and relaying to the
    /// head end, which feeds the MDMS; exit 0 only if every slot of every point arrived
    /// once, with the meter's values.
    Sim(sim_cmd::SimArgs),
    /// Emulate a special-case meter (特例計量器): an ECHONET Lite 0x028E distributed
    /// generation electric energy meter with node profile.
    Meter(meter_cmd::MeterArgs),
    /// ECHONET Lite tools: discover nodes, read properties.
    #[command(subcommand)]
    Echonet(echonet_cmd::EchonetCommand),
    /// DLMS/COSEM tools: serve the terminal's object model, read, write and invoke as a
    /// client, receive pushes, translate APDUs and wrapper frames.
    #[command(subcommand)]
    Dlms(dlms_cmd::DlmsCommand),
    /// The inter-process radio: a hub that carries 802.15.4 frames between node processes
    /// as ZEP v2 over UDP, through the simulated 920 MHz radio model.
    Air(air_cmd::AirArgs),
    /// A wireless terminal's IoT-route side as a program of its own on the `air` hub:
    /// scans with the Pairing ID, joins the strongest smart meter (PANA + EAP-PSK) and
    /// serves the DLMS/COSEM demo model through the secured link.
    Terminal(link_node_cmd::TerminalCommand),
    /// A smart meter's IoT-route side as a program of its own on the `air` hub: answers
    /// scans for its Pairing ID, authenticates terminals (PAA), holds and rolls the group
    /// key, and reads each terminal's DLMS/COSEM model, printing each reading as a JSON
    /// line.
    Smartmeter(link_node_cmd::SmartMeterArgs),
    /// The handy terminal (ハンディターミナル) of the user business on a terminal's
    /// maintenance interface: read stored readings, change settings and the password,
    /// read and set the clock, read the logs, update the firmware.
    Handy(handy_cmd::HandyArgs),
    /// The terminal's tamper-evident logs (SEC-09): verify a log file against its head.
    #[command(subcommand)]
    Logs(logs_cmd::LogsCommand),
    /// Firmware images for the terminal (SEC-10): make a signing key pair, sign a
    /// payload, verify a signed image.
    #[command(subcommand)]
    Firmware(firmware_cmd::FirmwareCommand),
    /// The head end (HES): the registry of device points (機器点), the block and
    /// reconnect records (OPS-07), the clock, interval and password commands (TRM-09,
    /// TRM-11, TRM-08), and the head end itself (serve).
    #[command(subcommand)]
    Headend(headend_cmd::HeadendCommand),
    /// The meter data management system (MDMS): export the slots it derived from the
    /// terminals' readings (energy, counters, quality) as CSV or JSON.
    #[command(subcommand)]
    Mdms(mdms_cmd::MdmsCommand),
    /// The public server (公開サーバ): the retailers' EDI files over HTTPS with client
    /// certificates (`/30min/FileListReceiver`, `/30min/FileReceiver?file=NAME`), its
    /// certificates (cert issue|list|revoke) and its audit.
    Portal(portal_cmd::PortalArgs),
    /// The retailer's side (外部サーバ): fetch its new EDI files from the public server
    /// with its client certificate, keep them verified, and write one CSV per day.
    #[command(subcommand)]
    Retailer(retailer_cmd::RetailerCommand),
}

/// mimalloc, not the C library's malloc: a large simulation's nodes are gigabytes,
/// touched a little at a time, and each first touch also missed the TLB. mimalloc asks
/// the kernel for transparent huge pages for its arenas (`MADV_HUGEPAGE`, what the
/// kernel's default `madvise` mode waits for), where the C library asks only when told
/// by `GLIBC_TUNABLES` at its start; and it is faster at small objects
/// (docs/benchmarks.md, thirteenth session).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Usage errors exit 1, not clap's 2: `echonet get` gives 2 its own meaning (the
    // device answered SNA), and scripts must be able to tell the two apart.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // The whole-system run says what happened in its report; its nodes' news, stamped
    // with wall time while they live in virtual time, would only bury it.
    let default_level = match &cli.command {
        Command::Sim(args) if !args.loopback => "warn",
        _ => "info",
    };
    let filter = cli.log.as_deref().map(EnvFilter::new).unwrap_or_else(|| {
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Sim(args) => sim_cmd::run(args).await,
            Command::Meter(args) => meter_cmd::run(args).await,
            Command::Echonet(cmd) => echonet_cmd::run(cmd).await,
            Command::Dlms(cmd) => dlms_cmd::run(cmd).await,
            Command::Air(args) => air_cmd::run(args).await,
            Command::Terminal(cmd) => match cmd.action {
                Some(link_node_cmd::TerminalAction::Status(args)) => terminal_status::run(&args),
                None => link_node_cmd::terminal(cmd.run).await,
            },
            Command::Smartmeter(args) => link_node_cmd::smartmeter(args).await,
            Command::Handy(args) => handy_cmd::run(args).await,
            Command::Logs(cmd) => logs_cmd::run(&cmd),
            Command::Firmware(cmd) => firmware_cmd::run(&cmd),
            Command::Headend(cmd) => headend_cmd::run(cmd).await,
            Command::Mdms(cmd) => mdms_cmd::run(&cmd),
            Command::Portal(args) => portal_cmd::run(args).await,
            Command::Retailer(cmd) => retailer_cmd::run(cmd).await,
        }
    })
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap checks the whole command tree (types, defaults, conflicts) here rather than
    /// at a user's first run.
    #[test]
    fn command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }

    /// The program's heap asks for transparent huge pages (docs/architecture.md): the
    /// mapping that holds a fresh allocation carries the kernel's `hg` flag (advised
    /// `MADV_HUGEPAGE`). The C library's malloc does not ask, so this fails when the
    /// global allocator is taken out. Not asserted where the kernel has them off.
    #[test]
    fn the_heap_asks_for_transparent_huge_pages() {
        let thp = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
            .unwrap_or_default();
        if !thp.contains("[always]") && !thp.contains("[madvise]") {
            eprintln!(
                "transparent huge pages off on this machine ({}): not checked",
                thp.trim()
            );
            return;
        }
        let block = vec![1_u8; 4 << 20];
        let at = block.as_ptr() as usize;
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("/proc/self/smaps");
        let flags = mapping_flags(&smaps, at).expect("the mapping of the allocation");
        assert!(
            flags.split_whitespace().any(|f| f == "hg"),
            "the heap at {at:#x} is not advised huge: VmFlags {flags}"
        );
    }

    /// The `VmFlags` of the mapping in `smaps` that holds address `at`.
    fn mapping_flags(smaps: &str, at: usize) -> Option<&str> {
        let mut inside = false;
        for line in smaps.lines() {
            if let Some(flags) = line.strip_prefix("VmFlags:") {
                if inside {
                    return Some(flags.trim());
                }
            } else if let Some((range, _)) = line.split_once(' ') {
                if let Some((lo, hi)) = range.split_once('-') {
                    if let (Ok(lo), Ok(hi)) =
                        (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
                    {
                        inside = (lo..hi).contains(&at);
                    }
                }
            }
        }
        None
    }
}
