//! `iotroute dlms listen`: receive pushes (Data-Notifications in DLMS wrapper frames over
//! UDP) as the smart meter does, and print them. All protocol work is
//! `dlms::push::PushListener` (sans-IO); this file binds it to a socket and, with
//! `--state`, keeps the replay window across restarts.
//!
//! A refused push (unprotected where protection is required, weaker protection, unknown
//! sender, replayed or reordered counter, a seal that does not open, not a push at all)
//! is counted by reason and logged under a rate limit; it never moves the replay window.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use chrono::Utc;
use dlms::cipher::{Keys, Protections, SystemTitle};
use dlms::push::{ListenError, Notification, PushListener};
use dlms::wrapper::{Wpdu, DEFAULT_PORT};
use nodes::log_limit::LogLimiter;
use serde_json::{json, Value};
use tokio::net::UdpSocket;

use crate::secret_input::{self, parse_secret, Secret, SecretsFile};

/// Protection a push must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SecurityArg {
    /// Plain pushes accepted (ciphered ones from the known sender opened too).
    None,
    /// Authenticated at least.
    Auth,
    /// Encrypted at least.
    Enc,
    /// Authenticated and encrypted.
    AuthEnc,
}

/// Arguments of `iotroute dlms listen`. `Debug` redacts the keys.
#[derive(clap::Args)]
pub struct ListenArgs {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// UDP port.
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Protection every push must carry (what `dlms serve --security` seals with).
    #[arg(long, value_enum, default_value = "none")]
    pub security: SecurityArg,
    /// Suite-0 encryption key of the sender, 16 bytes in hex (default: the Green Book
    /// test key, as `dlms serve`). Also from the environment or --secrets (flag >
    /// environment > file).
    #[arg(long, value_name = "HEX", env = secret_input::ENV_EK, hide_env_values = true, value_parser = parse_secret)]
    pub ek: Option<Secret>,
    /// Suite-0 authentication key of the sender, 16 bytes in hex. Also from the
    /// environment or --secrets.
    #[arg(long, value_name = "HEX", env = secret_input::ENV_AK, hide_env_values = true, value_parser = parse_secret)]
    pub ak: Option<Secret>,
    /// File of secrets (`ek=HEX`, `ak=HEX` lines); refused when group or others may read
    /// it.
    #[arg(long = "secrets", value_name = "FILE")]
    pub secrets: Option<PathBuf>,
    /// The sender's (terminal's) system title, 8 bytes in hex: ciphered pushes from any
    /// other title are refused.
    #[arg(
        long = "system-title",
        value_name = "HEX",
        default_value = "4D4D4D0000BC614E"
    )]
    pub system_title: String,
    /// Stop after this many accepted pushes (exit 0); 0 runs until Ctrl-C.
    #[arg(long, default_value_t = 0)]
    pub count: u64,
    /// With --count: give up (exit 1) when they have not all arrived within this many
    /// seconds.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<u64>,
    /// One JSON object per accepted push on stdout (a line each).
    #[arg(long)]
    pub json: bool,
    /// Keep the replay window (the highest push counter accepted) in this JSON file, so
    /// that a push recorded before a restart is still refused after it.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
}

impl std::fmt::Debug for ListenArgs {
    /// Keys never reach a log (SEC-02).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenArgs")
            .field("bind", &self.bind)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("system_title", &self.system_title)
            .field("count", &self.count)
            .field("timeout", &self.timeout)
            .field("json", &self.json)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// What `--state` holds.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SavedWindow {
    /// The sender's system title, hex.
    system_title: String,
    /// The highest push counter accepted from it.
    highest: u32,
}

/// Why the listener could not run or finish.
#[derive(Debug, thiserror::Error)]
enum ListenFailure {
    #[error("{0}")]
    Usage(String),
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("state file {path}: {reason}")]
    State { path: PathBuf, reason: String },
    #[error("{got} of {wanted} push(es) within {secs} s (timeout)")]
    Timeout { got: u64, wanted: u64, secs: u64 },
}

/// Run `iotroute dlms listen`.
pub async fn run(args: ListenArgs) -> ExitCode {
    match listen(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn hex_array<const N: usize>(flag: &str, text: &str) -> Result<[u8; N], ListenFailure> {
    let bytes =
        dlms::hex::decode(text).map_err(|e| ListenFailure::Usage(format!("{flag}: {e}")))?;
    <[u8; N]>::try_from(bytes.as_slice())
        .map_err(|_| ListenFailure::Usage(format!("{flag}: {} bytes, expected {N}", bytes.len())))
}

fn load_window(path: &Path, sender: [u8; 8]) -> Result<Option<u32>, ListenFailure> {
    let failure = |reason: String| ListenFailure::State {
        path: path.to_owned(),
        reason,
    };
    match std::fs::read(path) {
        Ok(bytes) => {
            let w: SavedWindow =
                serde_json::from_slice(&bytes).map_err(|e| failure(e.to_string()))?;
            // A window of another sender says nothing about this one.
            Ok((w.system_title == dlms::hex::encode(&sender)).then_some(w.highest))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(failure(e.to_string())),
    }
}

fn save_window(path: &Path, sender: [u8; 8], highest: u32) {
    let w = SavedWindow {
        system_title: dlms::hex::encode(&sender),
        highest,
    };
    let written = serde_json::to_vec(&w)
        .map_err(std::io::Error::other)
        .and_then(|b| {
            crate::state_file::write_atomic(path, &b, crate::state_file::Access::Default)
        });
    if let Err(e) = written {
        tracing::error!(path = %path.display(), error = %e, "replay window not saved");
    }
}

/// The short name of a refusal, for the counts printed at exit.
const fn reason(e: &ListenError) -> &'static str {
    match e {
        ListenError::Malformed(_) => "malformed",
        ListenError::NotANotification(_) => "not-a-push",
        ListenError::Unprotected { .. } => "unprotected",
        ListenError::Weaker { .. } => "weaker-protection",
        ListenError::UnknownSender(_) => "unknown-sender",
        ListenError::Replay { .. } => "replay",
        ListenError::Cipher(_) => "does-not-decipher",
        _ => "other",
    }
}

/// One accepted push as printed with --json.
fn to_json(from: SocketAddr, wports: (u16, u16), n: &Notification) -> Value {
    let body = match &n.body {
        // The slot push's structure: each field as `dlms get` prints a value, clock
        // octet-strings as ISO timestamps.
        dlms::Data::Structure(fields) => {
            Value::Array(fields.iter().map(|f| dlms::text::plain(f, true)).collect())
        }
        other => dlms::text::plain(other, true),
    };
    json!({
        "from": from.to_string(),
        "source_wport": wports.0,
        "destination_wport": wports.1,
        "system_title": n.system_title.map(|t| dlms::hex::encode(&t.0)),
        "invocation_counter": n.invocation_counter,
        "long_invoke_id": n.long_invoke_id,
        "captured_at": n.captured_at.and_then(|d| d.to_chrono_or(dlms::datetime::JST_DEVIATION)).map(|t| t.to_rfc3339()),
        "body": body,
        "typed": dlms::text::typed(&n.body),
    })
}

async fn listen(args: ListenArgs) -> Result<(), ListenFailure> {
    let file = match &args.secrets {
        Some(p) => SecretsFile::load(p).map_err(|e| ListenFailure::Usage(e.to_string()))?,
        None => SecretsFile::default(),
    };
    let key =
        |flag: &str, given: Option<&Secret>, from_file: Option<&Secret>, default: [u8; 16]| {
            match secret_input::pick(given, from_file) {
                Some(k) => {
                    let b = secret_input::hex_key(flag, &k).map_err(ListenFailure::Usage)?;
                    <[u8; 16]>::try_from(b.as_slice()).map_err(|_| {
                        ListenFailure::Usage(format!("{flag}: {} bytes, expected 16", b.len()))
                    })
                }
                None => Ok(default),
            }
        };
    let ek = key(
        "--ek",
        args.ek.as_ref(),
        file.ek.as_ref(),
        Keys::GREEN_BOOK.ek,
    )?;
    let ak = key(
        "--ak",
        args.ak.as_ref(),
        file.ak.as_ref(),
        Keys::GREEN_BOOK.ak,
    )?;
    let sender: [u8; 8] = hex_array("--system-title", &args.system_title)?;
    if args.timeout.is_some() && args.count == 0 {
        return Err(ListenFailure::Usage("--timeout needs --count".to_owned()));
    }
    let required = match args.security {
        SecurityArg::None => None,
        SecurityArg::Auth => Some(Protections::Auth),
        SecurityArg::Enc => Some(Protections::Enc),
        SecurityArg::AuthEnc => Some(Protections::AuthEnc),
    };
    let highest = match &args.state {
        Some(p) => load_window(p, sender)?,
        None => None,
    };
    let mut listener = PushListener::new(required);
    listener.add_sender(SystemTitle(sender), Keys { ek, ak }, highest);
    let addr = SocketAddr::new(args.bind, args.port);
    let socket = UdpSocket::bind(addr)
        .await
        .map_err(|source| ListenFailure::Bind { addr, source })?;
    let local = socket.local_addr().unwrap_or(addr);
    tracing::info!(%local, security = ?args.security, "dlms listen: waiting for pushes");
    eprintln!("dlms listen on {local}");

    let deadline = args
        .timeout
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let mut accepted = 0u64;
    let mut refused: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut limiter = LogLimiter::default();
    let mut buf = vec![0u8; 65_536];
    let stop = crate::shutdown::signal();
    tokio::pin!(stop);
    let outcome = loop {
        if args.count > 0 && accepted >= args.count {
            break Ok(());
        }
        let received = tokio::select! {
            r = socket.recv_from(&mut buf) => r,
            () = &mut stop => break Ok(()),
            () = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            } => break Err(ListenFailure::Timeout {
                got: accepted,
                wanted: args.count,
                secs: args.timeout.unwrap_or_default(),
            }),
        };
        let (len, from) = match received {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "receive failed");
                continue;
            }
        };
        let Some(datagram) = buf.get(..len) else {
            continue;
        };
        let frame = match Wpdu::parse(datagram) {
            Ok(f) => f,
            Err(e) => {
                *refused.entry("malformed-wrapper").or_default() += 1;
                if let Some(held) = limiter.allow(Utc::now()) {
                    tracing::warn!(%from, error = %e, held_back = held, "not a wrapper frame: dropped");
                }
                continue;
            }
        };
        let wports = (frame.source, frame.destination);
        match listener.handle(frame.apdu) {
            Ok(n) => {
                accepted += 1;
                if let (Some(path), Some(h)) =
                    (&args.state, listener.highest_seen(SystemTitle(sender)))
                {
                    save_window(path, sender, h);
                }
                if args.json {
                    crate::stdout::outln!("{}", to_json(from, wports, &n));
                } else {
                    crate::stdout::outln!(
                        "push #{} from {from} (ic {}): {}",
                        n.long_invoke_id,
                        n.invocation_counter
                            .map_or_else(|| "plain".to_owned(), |c| c.to_string()),
                        to_json(from, wports, &n)["body"]
                    );
                }
            }
            Err(e) => {
                let total = {
                    let c = refused.entry(reason(&e)).or_default();
                    *c += 1;
                    *c
                };
                if let Some(held) = limiter.allow(Utc::now()) {
                    tracing::warn!(%from, error = %e, total, held_back = held, "push refused");
                }
            }
        }
    };
    eprintln!("dlms listen: {accepted} push(es) accepted, refused: {refused:?}");
    tracing::info!(accepted, ?refused, "dlms listen stopped");
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec02_debug_of_the_arguments_redacts_keys() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            a: ListenArgs,
        }
        let cli = Cli::parse_from(["x", "--ek", "FFEEDDCCBBAA99887766554433221100"]);
        let d = format!("{:?}", cli.a);
        assert!(!d.contains("FFEEDD"), "{d}");
    }

    #[test]
    fn sec02_replay_window_file_belongs_to_one_sender() {
        let path =
            std::env::temp_dir().join(format!("iotroute-listen-{}.json", std::process::id()));
        save_window(&path, [1; 8], 77);
        assert_eq!(load_window(&path, [1; 8]).unwrap(), Some(77));
        assert_eq!(load_window(&path, [2; 8]).unwrap(), None);
        std::fs::write(&path, b"nonsense").unwrap();
        assert!(load_window(&path, [1; 8]).is_err());
        let _ = std::fs::remove_file(&path);
    }
}
