//! `iotroute dlms ...`: DLMS/COSEM tools. All protocol work is in the `dlms` crate; this
//! file is argument parsing and printing.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::secret_input::{self, parse_secret, Secret, SecretsFile};

/// DLMS/COSEM tools.
#[derive(Debug, Subcommand)]
pub enum DlmsCommand {
    /// Translate an xDLMS/ACSE APDU or a DLMS wrapper frame (detected by its version-1
    /// header) into readable XML (element names after the Green Book and Gurux's
    /// translator) or, with --json, one JSON object on stdout. Ciphered APDUs (glo-,
    /// ded-, general-glo-ciphering, suite 0) are opened when --ek and --ak are given.
    /// Exit status 1 on malformed input, with the byte offset in the message.
    Translate(TranslateArgs),
    /// Serve the IoT-route COSEM object model, filled with demo data, over UDP with the
    /// DLMS wrapper (server wPort 1; client wPort 16 public, 1 management with --auth and
    /// --security, 32 maintenance): what a vendor's or utility's DLMS client is pointed at.
    Serve(crate::dlms_serve::ServeArgs),
    /// Read attributes over the UDP wrapper: `[CLASS/]OBIS[:ATTR]...` (attribute 2 by
    /// default; `--from/--to` read profile buffers by range on the clock column), several
    /// in one GET-Request-With-List when the server agreed to lists (`--no-list`: one
    /// request each). Exit 0: all read, 2: some refused with a Data-Access-Result, 1:
    /// timeout, association refused or other error: scripts tell a refusal from a broken
    /// link by the status.
    Get(crate::dlms_client_cmd::GetArgs),
    /// Write attributes: `[CLASS/]OBIS[:ATTR] VALUE` pairs or `OBJECT=VALUE` words (VALUE
    /// as `get --json` prints `data`, `@HEX`, an ISO date-time, a number or text),
    /// several in one SET-Request-With-List when the server agreed to lists. Exit status
    /// as for get.
    Set(crate::dlms_client_cmd::SetArgs),
    /// Invoke methods: `[CLASS/]OBIS:METHOD [VALUE]` or `OBJECT:METHOD=VALUE`, several in
    /// one ACTION-Request-With-List when the server agreed to lists. Exit status as for
    /// get (2 when the server answered with a non-success Action-Result).
    Action(crate::dlms_client_cmd::ActionArgs),
    /// Receive pushes (Data-Notifications in wrapper frames, e.g. `dlms serve`'s slot
    /// push) as the smart meter does: plain or general-glo-ciphered, with the protection
    /// --security demands and replay protection; print each (with --json a line of JSON
    /// each). Exit 0 after --count pushes (or at Ctrl-C), 1 on --timeout or a setup error.
    Listen(crate::dlms_listen::ListenArgs),
}

/// Arguments of `iotroute dlms translate`.
#[derive(Debug, Args)]
pub struct TranslateArgs {
    /// The bytes in hex. May be split over several arguments and contain spaces,
    /// colons or dashes between bytes (e.g. `C0 01 C1 0008 0000010000FF 02 00`).
    #[arg(required = true, value_name = "HEX")]
    pub hex: Vec<String>,
    /// Print one JSON object on stdout instead of XML (on error: {"error", "offset"}).
    #[arg(long)]
    pub json: bool,
    /// Suite-0 encryption key (global unicast EK), 16 bytes in hex. Needs --ak. Prefer
    /// the environment variable or --secrets to the command line, which every local
    /// user can read.
    #[arg(long, value_name = "HEX", env = secret_input::ENV_EK, hide_env_values = true, value_parser = parse_secret)]
    pub ek: Option<Secret>,
    /// Suite-0 authentication key (AK), 16 bytes in hex. Needs --ek.
    #[arg(long, value_name = "HEX", env = secret_input::ENV_AK, hide_env_values = true, value_parser = parse_secret)]
    pub ak: Option<Secret>,
    /// File of secrets (`ek=HEX`, `ak=HEX` lines, `#` comments; a `password=` line is
    /// ignored here), for the keys neither a flag nor its environment variable gives.
    /// Refused when its group or others have access (chmod 600).
    #[arg(long = "secrets", value_name = "FILE")]
    pub secrets: Option<std::path::PathBuf>,
    /// System title (8 bytes in hex) of the APDU's sender, needed to open glo-/ded-
    /// APDUs (general-glo-ciphering carries its own).
    #[arg(long = "system-title", value_name = "HEX")]
    pub system_title: Option<String>,
}

/// Run a `dlms` subcommand.
pub async fn run(cmd: DlmsCommand) -> ExitCode {
    match cmd {
        DlmsCommand::Translate(args) => translate(&args),
        DlmsCommand::Get(args) => crate::dlms_client_cmd::get(args).await,
        DlmsCommand::Set(args) => crate::dlms_client_cmd::set(args).await,
        DlmsCommand::Action(args) => crate::dlms_client_cmd::action(args).await,
        DlmsCommand::Serve(args) => crate::dlms_serve::run(args).await,
        DlmsCommand::Listen(args) => crate::dlms_listen::run(args).await,
    }
}

/// A failure to report: message, and byte offset when the input had one.
struct Failure {
    message: String,
    offset: Option<usize>,
}

fn fail(json: bool, f: &Failure) -> ExitCode {
    eprintln!("error: {}", f.message);
    if json {
        crate::stdout::outln!(
            "{}",
            serde_json::json!({ "error": f.message, "offset": f.offset })
        );
    }
    ExitCode::FAILURE
}

fn parse_hex(what: &str, text: &str) -> Result<Vec<u8>, Failure> {
    dlms::hex::decode(text).map_err(|e| Failure {
        message: format!("{what}: {e}"),
        offset: None,
    })
}

fn translate(args: &TranslateArgs) -> ExitCode {
    match translate_inner(args) {
        Ok(out) => {
            crate::stdout::out!("{out}");
            ExitCode::SUCCESS
        }
        Err(f) => fail(args.json, &f),
    }
}

fn translate_inner(args: &TranslateArgs) -> Result<String, Failure> {
    let text = args.hex.join(" ");
    let bytes = dlms::hex::decode(&text).map_err(|e| Failure {
        message: format!("input: {e}"),
        offset: None,
    })?;
    let file = match &args.secrets {
        Some(path) => SecretsFile::load(path).map_err(|e| Failure {
            message: e.to_string(),
            offset: None,
        })?,
        None => SecretsFile::default(),
    };
    let ek = secret_input::pick(args.ek.as_ref(), file.ek.as_ref());
    let ak = secret_input::pick(args.ak.as_ref(), file.ak.as_ref());
    let decipher = match (&ek, &ak) {
        (Some(ek), Some(ak)) => {
            let keys = dlms::cipher::Keys::from_slices(
                &secret_input::hex_key("--ek", ek).map_err(|message| Failure {
                    message,
                    offset: None,
                })?,
                &secret_input::hex_key("--ak", ak).map_err(|message| Failure {
                    message,
                    offset: None,
                })?,
            )
            .map_err(|e| Failure {
                message: e.to_string(),
                offset: None,
            })?;
            let system_title = match &args.system_title {
                Some(t) => Some(
                    dlms::cipher::SystemTitle::from_slice(&parse_hex("--system-title", t)?)
                        .map_err(|e| Failure {
                            message: format!("--system-title: {e}"),
                            offset: None,
                        })?,
                ),
                None => None,
            };
            Some(dlms::translate::Decipher { keys, system_title })
        }
        (None, None) => None,
        _ => {
            return Err(Failure {
                message: "--ek and --ak go together".into(),
                offset: None,
            })
        }
    };
    let node = dlms::translate::translate(&bytes, decipher.as_ref()).map_err(|e| Failure {
        message: e.to_string(),
        offset: Some(e.offset()),
    })?;
    if args.json {
        let mut o = serde_json::Map::new();
        o.insert(node.name.clone(), node.to_json());
        Ok(format!("{}\n", serde_json::Value::Object(o)))
    } else {
        Ok(node.to_xml())
    }
}
