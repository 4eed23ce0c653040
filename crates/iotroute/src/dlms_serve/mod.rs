//! `iotroute dlms serve`: the terminal's DLMS/COSEM server (the IoT-route object model of
//! docs/iot-route-cosem.md, filled with demo data) on a UDP socket with the DLMS wrapper
//! (RAD-01). All protocol work is `dlms::server::TerminalServer` (sans-IO); this file
//! binds it to a socket, the wall clock and, with `--state`, a file.
//!
//! One datagram is one wrapper frame. The reply goes to the sender's address and port
//! with the wPorts swapped. Frames that are not wrapper frames, or are for another
//! server wPort, are counted and logged under a rate limit (a flood is counted in full
//! but cannot flood the log), never answered and never a panic.
//!
//! Invocation counters (IC) of the management association are persisted **before use**
//! (`dlms::server::counter_store`): the state file holds a reservation mark; no reply
//! whose counter is above the mark is sent, and the mark moves up by a block of 1000
//! (the file written atomically and durably, then the request answered) when fewer than
//! 16 are left. After a restart the engine resumes at the mark, so even counters
//! reserved but never spent are skipped: a restart can never reuse a GCM nonce under
//! unchanged keys, whatever point the previous run crashed at.
//!
//! The management association's replay window (the highest counter accepted from the
//! client) is written to the state file each time it moves, before the reply leaves
//! (`driver::Driver::answer`), with the model when the request changed it: so no
//! request accepted before a crash or a SIGKILL is accepted again after the restart,
//! and a setting a client was told is changed is on disk with the counter that changed
//! it. It costs one atomic, synced write of the file per accepted ciphered request; the
//! model is kept serialised between saves, so only the write itself is paid (a day of
//! load profile at PDU 128 under HLS-GMAC + auth-enc, from a 90-day model of 800 KB:
//! 0.03 s with `--state` against 0.01 s without, debug build). The periodic save below
//! only catches the model up with the clock and the registers.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Utc};
use dlms::cosem::image::ImageVendorKey;
use dlms::cosem::{floor_to_period, IotRouteModel, ModelChange, ModelConfig};
use dlms::server::{shared, Auth, Entropy, Keys, Protection, ServeConfig, TerminalServer};
use dlms::wrapper::DEFAULT_PORT;
use nodes::log_limit::LogLimiter;
use tokio::net::UdpSocket;

mod driver;
mod state;

use crate::secret_input::{self, parse_secret, Secret, SecretsFile};
use nodes::app::household::Household;

use driver::{Driver, Pushes, Stats};
use state::{Counter, StateStore};

/// The LLS password when none is given (the default).
const DEFAULT_PASSWORD: &[u8] = b"12345678";

/// The server's wPort (the management logical device).
const SERVER_WPORT: u16 = 1;
/// How often the registers grow and the clock is checked for a capture boundary.
const TICK: StdDuration = StdDuration::from_secs(1);
/// How often the model is saved to `--state` besides at each capture, at each accepted
/// ciphered request (with the replay window) and at exit.
const SAVE_EVERY: StdDuration = StdDuration::from_secs(60);

/// How the management association authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthArg {
    /// No authentication (lab set-ups).
    None,
    /// Low level security: the password (--password).
    Low,
    /// High level security mechanism 5 (GMAC) with suite 0 (--ek, --ak).
    HlsGmac,
}

/// What protection the management association requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SecurityArg {
    /// Plain APDUs.
    None,
    /// Authenticated (GMAC tag).
    Auth,
    /// Encrypted.
    Enc,
    /// Authenticated and encrypted.
    AuthEnc,
}

/// Arguments of `iotroute dlms serve`. `Debug` redacts the password and keys.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to bind. Loopback by default because the default --auth none leaves the
    /// management association (every reading and setting) open: pass 0.0.0.0 (or an
    /// interface's address) to let a client on another machine in.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// UDP port (DLMS/COSEM over UDP: 4059).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Authentication of the management association (client wPort 1). The public
    /// association (wPort 16) never authenticates; the maintenance one (wPort 32) uses
    /// the password unless this is `none`.
    #[arg(long, value_enum, default_value = "none")]
    pub auth: AuthArg,
    /// Protection the management association requires (suite 0; glo- and
    /// general-glo-ciphering both accepted).
    #[arg(long, value_enum, default_value = "none")]
    pub security: SecurityArg,
    /// LLS password of the management and maintenance associations (default 12345678).
    /// Also from the environment or --secrets (flag > environment > file), which keep it
    /// out of the process list.
    #[arg(long, env = secret_input::ENV_PASSWORD, hide_env_values = true, value_parser = parse_secret)]
    pub password: Option<Secret>,
    /// Suite-0 global unicast encryption key, 16 bytes in hex (default: the Green Book
    /// test key 000102030405060708090A0B0C0D0E0F). Also from the environment or --secrets.
    #[arg(long, value_name = "HEX", env = secret_input::ENV_EK, hide_env_values = true, value_parser = parse_secret)]
    pub ek: Option<Secret>,
    /// Suite-0 authentication key, 16 bytes in hex (default: the Green Book test key
    /// D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF). Also from the environment or --secrets.
    #[arg(long, value_name = "HEX", env = secret_input::ENV_AK, hide_env_values = true, value_parser = parse_secret)]
    pub ak: Option<Secret>,
    /// File of secrets: `password=...`, `ek=HEX`, `ak=HEX` lines, `#` comments; refused
    /// when group or others may read it.
    #[arg(long = "secrets", value_name = "FILE")]
    pub secrets: Option<PathBuf>,
    /// The server's system title, 8 bytes in hex (an extension of the flags).
    #[arg(
        long = "system-title",
        value_name = "HEX",
        default_value = "4D4D4D0000BC614E"
    )]
    pub system_title: String,
    /// The largest APDU the server accepts and sends; longer values go in blocks.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u16).range(64..))]
    pub max_pdu: u16,
    /// Days of 30-minute load-profile slots to fill at start (up to the last closed
    /// slot); ignored when --state holds a saved model.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(0..=90))]
    pub demo_days: u32,
    /// (Extension) Keep the invocation-counter reservation, the management replay
    /// window (written before each reply to a ciphered request, so no recorded request
    /// is accepted again after any restart) and the model (readings, settings changed
    /// over the air, clock offset) in this JSON file across restarts.
    /// Saved settings (passwords changed over the air included) win over --password.
    /// It holds secrets (created 0600): keep it where credentials are kept. Without it
    /// every start begins the counters at 0, which under unchanged keys reuses GCM
    /// nonces: lab only.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// (Extension) Send the slot push (a Data-Notification of push setup
    /// 0-0:25.9.0.255: clock, both energy registers, status) to this UDP address at each
    /// closed slot and when a client invokes push. Without it pushes go to the push
    /// setup's destination when a client set one, else to the smart meter that last
    /// used the management association. Ciphered like the management association
    /// (general-glo-ciphering, push counters from 2^31 up).
    #[arg(long, value_name = "ADDR:PORT")]
    pub push_to: Option<SocketAddr>,
    /// (Extension, SEC-10) The vendor's firmware-signing public key, P-256 in SEC1 hex
    /// (33 bytes compressed or 65 uncompressed): image transfer verifies each image's
    /// ECDSA signature trailer against it. Without it no image verifies.
    #[arg(long, value_name = "HEX")]
    pub image_key: Option<String>,
}

impl std::fmt::Debug for ServeArgs {
    /// Keys and passwords never reach a log (SEC-02).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeArgs")
            .field("bind", &self.bind)
            .field("port", &self.port)
            .field("auth", &self.auth)
            .field("security", &self.security)
            .field("system_title", &self.system_title)
            .field("max_pdu", &self.max_pdu)
            .field("demo_days", &self.demo_days)
            .field("state", &self.state)
            .field("push_to", &self.push_to)
            .field("image_key", &self.image_key)
            .finish_non_exhaustive()
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeFailure {
    /// A flag's value is wrong.
    #[error("{0}")]
    Usage(String),
    /// The socket could not be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The state file could not be read or written.
    #[error("state file {path}: {reason}")]
    State {
        /// Which file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The object model or the server refused the configuration.
    #[error("{0}")]
    Setup(String),
}

/// HLS challenges from the OS random source.
#[derive(Debug, Clone, Copy)]
struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, out: &mut [u8]) -> bool {
        use std::io::Read as _;
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(out))
            .is_ok()
    }
}

/// Run `iotroute dlms serve`.
pub async fn run(args: ServeArgs) -> ExitCode {
    match serve(args, crate::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn hex_array<const N: usize>(flag: &str, text: &str) -> Result<[u8; N], ServeFailure> {
    let bytes = dlms::hex::decode(text).map_err(|e| ServeFailure::Usage(format!("{flag}: {e}")))?;
    <[u8; N]>::try_from(bytes.as_slice())
        .map_err(|_| ServeFailure::Usage(format!("{flag}: {} bytes, expected {N}", bytes.len())))
}

/// Serve until `stop` completes.
///
/// # Errors
/// [`ServeFailure`] when the configuration, the state file or the socket is unusable.
pub async fn serve(
    args: ServeArgs,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), ServeFailure> {
    let file = match &args.secrets {
        Some(p) => SecretsFile::load(p).map_err(|e| ServeFailure::Usage(e.to_string()))?,
        None => SecretsFile::default(),
    };
    let key =
        |flag: &str, given: Option<&Secret>, from_file: Option<&Secret>, default: [u8; 16]| {
            match secret_input::pick(given, from_file) {
                Some(k) => secret_input::hex_key(flag, &k)
                    .map_err(ServeFailure::Usage)
                    .and_then(|b| {
                        <[u8; 16]>::try_from(b.as_slice()).map_err(|_| {
                            ServeFailure::Usage(format!("{flag}: {} bytes, expected 16", b.len()))
                        })
                    }),
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
    let password = secret_input::pick(args.password.as_ref(), file.password.as_ref()).map_or_else(
        || DEFAULT_PASSWORD.to_vec(),
        |p| p.expose().as_bytes().to_vec(),
    );
    let system_title: [u8; 8] = hex_array("--system-title", &args.system_title)?;
    if password.is_empty() || password.len() > 32 {
        return Err(ServeFailure::Usage("--password: 1 to 32 bytes".to_owned()));
    }
    let (mut store, saved_model) = StateStore::open(args.state.clone())?;
    let now = Utc::now();
    let image_vendor_key = match &args.image_key {
        Some(text) => {
            let bytes = dlms::hex::decode(text)
                .map_err(|e| ServeFailure::Usage(format!("--image-key: {e}")))?;
            Some(
                ImageVendorKey::from_sec1_bytes(&bytes)
                    .map_err(|e| ServeFailure::Usage(format!("--image-key: {e}")))?,
            )
        }
        None => None,
    };
    let config = ModelConfig {
        association_password: password,
        server_system_title: system_title,
        image_vendor_key,
        ..ModelConfig::default()
    };
    let model = match saved_model {
        Some(state) => {
            let m = IotRouteModel::restore(&config, state, now)
                .map_err(|e| ServeFailure::Setup(format!("saved model: {e}")))?;
            let rows = m
                .load_profile()
                .entries_in_use()
                .map_err(|e| ServeFailure::Setup(e.to_string()))?;
            tracing::info!(
                rows,
                "model restored from the state file; --demo-days ignored"
            );
            m
        }
        None => {
            let mut m =
                IotRouteModel::new(&config, now).map_err(|e| ServeFailure::Setup(e.to_string()))?;
            let rows = m
                .fill_demo(args.demo_days, now)
                .map_err(|e| ServeFailure::Setup(e.to_string()))?;
            tracing::info!(
                rows,
                days = args.demo_days,
                "load profile filled with demo data"
            );
            m
        }
    };
    let mut last_slot = model
        .load_profile()
        .last_time()
        .map_err(|e| ServeFailure::Setup(e.to_string()))?;
    let model = shared(model);
    let serve_config = ServeConfig {
        auth: match args.auth {
            AuthArg::None => Auth::None,
            AuthArg::Low => Auth::Low,
            AuthArg::HlsGmac => Auth::HlsGmac,
        },
        protection: match args.security {
            SecurityArg::None => Protection::None,
            SecurityArg::Auth => Protection::Auth,
            SecurityArg::Enc => Protection::Enc,
            SecurityArg::AuthEnc => Protection::AuthEnc,
        },
        keys: Some(Keys { ek, ak }),
        system_title,
        max_pdu: args.max_pdu,
        invocation_counter: store.start(Counter::Association),
    };
    let ciphered = serve_config.protection != Protection::None;
    let mut server = TerminalServer::new(model.clone(), serve_config, OsEntropy)
        .map_err(|e| ServeFailure::Setup(e.to_string()))?;
    if let Some(r) = store.replay() {
        server.resume_replay_window(r.system_title, r.highest);
        tracing::info!(highest = r.highest, "management replay window restored");
    }
    let pusher = server
        .push_sender(store.start(Counter::Push))
        .map_err(|e| ServeFailure::Setup(e.to_string()))?;
    let snapshot = |m: &dlms::server::SharedModel| m.lock().ok().map(|g| g.snapshot());
    if store.persistent() {
        // Reserve the first blocks now, before anything can be spent, and save the
        // model as started.
        let reserved = store.ensure(Counter::Association, store.start(Counter::Association))
            && store.ensure(Counter::Push, store.start(Counter::Push));
        if !reserved {
            return Err(ServeFailure::State {
                path: args.state.clone().unwrap_or_default(),
                reason: "invocation counters could not be reserved".to_owned(),
            });
        }
        store.save(snapshot(&model), None);
        tracing::info!(
            resumes_above = store.start(Counter::Association),
            reserved = store.reserved(Counter::Association),
            push_reserved = store.reserved(Counter::Push),
            "invocation counters"
        );
    } else if ciphered || args.auth == AuthArg::HlsGmac {
        tracing::warn!(
            "no --state: invocation counters start at 0 and a restart reuses them (lab only)"
        );
    }
    let addr = SocketAddr::new(args.bind, args.port);
    let socket = UdpSocket::bind(addr)
        .await
        .map_err(|source| ServeFailure::Bind { addr, source })?;
    let local = socket.local_addr().unwrap_or(addr);
    tracing::info!(
        %local,
        auth = ?args.auth,
        security = ?args.security,
        max_pdu = args.max_pdu,
        "dlms serve listening (server wPort 1; clients 16 public, 1 management, 32 maintenance)"
    );
    eprintln!("dlms serve listening on {local}");

    let mut d = Driver {
        server,
        store,
        pushes: Pushes::new(pusher, args.push_to),
        stats: Stats::default(),
        limiter: LogLimiter::default(),
    };
    let mut household = Household::new(now);
    let mut buf = vec![0u8; 65_536];
    let mut out = vec![0u8; usize::from(args.max_pdu).max(2048) + 64];
    let mut tick = tokio::time::interval(TICK);
    let mut last_save = std::time::Instant::now();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            received = socket.recv_from(&mut buf) => {
                let (len, from) = match received {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(error = %e, "receive failed");
                        continue;
                    }
                };
                let Some(datagram) = buf.get(..len) else { continue };
                d.stats.frames += 1;
                let now = Utc::now();
                if let Some(reply) = d.answer(now, from, datagram, &mut out) {
                    if let Err(e) = socket.send_to(&reply, from).await {
                        tracing::warn!(%from, error = %e, "reply not sent");
                    } else {
                        d.stats.answered += 1;
                    }
                }
                // Log what clients changed, push when one asked, and save at once so
                // that a setting changed over the air survives a crash (TRM-08).
                let changes = model.lock().map(|mut m| m.take_changes()).unwrap_or_default();
                if !changes.is_empty() {
                    tracing::info!(?changes, "model changed by a client");
                    if changes.contains(&ModelChange::PushRequested) {
                        d.push(&socket, &model, now).await;
                    }
                    let replay = d.replay_mark();
                    d.store.save(snapshot(&model), replay);
                }
            }
            _ = tick.tick() => {
                let now = Utc::now();
                let captured = match model.lock() {
                    Ok(mut m) => {
                        household.advance(&mut m, now);
                        capture_due(&mut m, now, &mut last_slot)
                    }
                    Err(_) => false,
                };
                if captured {
                    d.push(&socket, &model, now).await;
                }
                if captured || last_save.elapsed() >= SAVE_EVERY {
                    let replay = d.replay_mark();
                    d.store.save(snapshot(&model), replay);
                    last_save = std::time::Instant::now();
                }
            }
            () = &mut stop => break,
        }
    }
    let replay = d.replay_mark();
    d.store.save(snapshot(&model), replay);
    let stats = d.stats;
    tracing::info!(
        frames = stats.frames,
        answered = stats.answered,
        malformed = stats.malformed,
        wrong_wport = stats.wrong_wport,
        engine_errors = stats.engine_errors,
        replays_refused = stats.replays_refused,
        deciphering_errors = stats.deciphering_errors,
        pushes = stats.pushes,
        invocation_counter = d.server.invocation_counter(),
        "dlms serve stopped"
    );
    Ok(())
}

/// Captures a load-profile row when the clock has passed a slot boundary (every :00 and
/// :30, or every 15 minutes after a client set 900 s) not captured yet.
fn capture_due(
    m: &mut IotRouteModel,
    now: DateTime<Utc>,
    last: &mut Option<DateTime<Utc>>,
) -> bool {
    m.set_now(now);
    let slot = floor_to_period(m.clock_time(), m.capture_period());
    if last.is_some_and(|l| slot <= l) {
        return false;
    }
    if last.is_none() {
        // Nothing captured yet (no demo days): start at the next boundary.
        *last = Some(slot);
        return false;
    }
    *last = Some(slot);
    match m.capture(now) {
        Ok(()) => {
            tracing::info!(slot = %slot, "load profile captured");
            true
        }
        Err(e) => {
            tracing::error!(error = %e, "load profile capture failed");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use dlms::client::{Client, ClientSettings};
    use dlms::wrapper::Wpdu;

    struct Fixed;
    impl dlms::client::Entropy for Fixed {
        fn fill(&self, out: &mut [u8]) -> bool {
            out.fill(0x5A);
            true
        }
    }

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, h, m, s).unwrap()
    }

    fn server(now: DateTime<Utc>) -> TerminalServer<OsEntropy> {
        let mut m = IotRouteModel::new(&ModelConfig::default(), now).unwrap();
        m.fill_demo(1, now).unwrap();
        let config = ServeConfig {
            auth: Auth::None,
            protection: Protection::None,
            keys: None,
            system_title: [0x4D, 0x4D, 0x4D, 0, 0, 0xBC, 0x61, 0x4E],
            max_pdu: 1024,
            invocation_counter: 0,
        };
        TerminalServer::new(shared(m), config, OsEntropy).unwrap()
    }

    fn driver(s: TerminalServer<OsEntropy>, push_to: Option<SocketAddr>) -> Driver {
        let pusher = s.push_sender(0).unwrap();
        Driver {
            server: s,
            store: StateStore::open(None).unwrap().0,
            pushes: Pushes::new(pusher, push_to),
            stats: Stats::default(),
            limiter: LogLimiter::default(),
        }
    }

    #[test]
    fn rad01_malformed_and_foreign_frames_are_counted_and_not_answered() {
        let now = t(3, 10, 0);
        let mut d = driver(server(now), None);
        let from = SocketAddr::from(([127, 0, 0, 9], 40000));
        let mut out = vec![0u8; 4096];
        let mut go = |d: &mut Driver, datagram: &[u8]| d.answer(now, from, datagram, &mut out);
        for junk in [
            &[][..],
            &[0, 1, 0],
            &[0, 2, 0, 16, 0, 1, 0, 0],
            &[0, 1, 0, 16, 0, 1, 0, 5, 0x60],
        ] {
            assert_eq!(go(&mut d, junk), None);
        }
        assert_eq!(d.stats.malformed, 4);
        let aarq = Client::new(ClientSettings::default(), Fixed)
            .unwrap()
            .associate()
            .unwrap();
        let apdu = Wpdu::parse(&aarq).unwrap().apdu.to_vec();
        // To another server wPort, and from a client wPort we do not serve: dropped.
        assert_eq!(go(&mut d, &Wpdu::new(16, 2, &apdu).emit().unwrap()), None);
        assert_eq!(go(&mut d, &Wpdu::new(99, 1, &apdu).emit().unwrap()), None);
        assert_eq!(d.stats.wrong_wport, 2);
        // The public AARQ is answered with the wPorts swapped.
        let reply = go(&mut d, &aarq).expect("AARE");
        let w = Wpdu::parse(&reply).unwrap();
        assert_eq!((w.source, w.destination), (1, 16));
        assert_eq!(w.apdu.first(), Some(&0x61));
    }

    #[test]
    fn trm06_push_goes_to_the_smart_meter_once_it_has_read_and_carries_the_registers() {
        use dlms::push::PushListener;
        let now = t(3, 30, 0);
        let s = server(now);
        let model = s.model().clone();
        let mut d = driver(s, None);
        assert!(d.build_push(&model, now).is_none(), "nowhere to push yet");
        // The smart meter associates on wPort 1 and reads the clock.
        let meter = SocketAddr::from(([127, 0, 0, 7], 4059));
        let mut out = vec![0u8; 4096];
        let mut c = Client::new(
            ClientSettings {
                client_wport: 1,
                ..ClientSettings::default()
            },
            Fixed,
        )
        .unwrap();
        let aare = d
            .answer(now, meter, &c.associate().unwrap(), &mut out)
            .unwrap();
        c.handle(&aare).unwrap();
        assert!(
            d.build_push(&model, now).is_none(),
            "an AARE alone does not pair"
        );
        let get = c
            .get(8, dlms::Obis::new(0, 0, 1, 0, 0, 255), 2, None)
            .unwrap();
        d.answer(now, meter, &get, &mut out).unwrap();
        let (datagram, to) = d.build_push(&model, now).expect("push");
        assert_eq!(to, meter);
        let w = Wpdu::parse(&datagram).unwrap();
        assert_eq!((w.source, w.destination), (1, 1));
        let n = PushListener::new(None).handle(w.apdu).unwrap();
        let fields = n.body.elements().unwrap().to_vec();
        assert_eq!(fields.len(), 5, "push setup, clock, AC in, AC out, status");
        let (import, _) = model.lock().unwrap().energy();
        assert_eq!(fields[2].as_i128(), Some(i128::from(import)));
        // --push-to wins over the paired meter.
        let elsewhere = SocketAddr::from(([127, 0, 0, 8], 5000));
        let mut d2 = driver(server(now), Some(elsewhere));
        assert_eq!(d2.build_push(&model, now).unwrap().1, elsewhere);
    }

    #[test]
    fn trm03_a_row_is_captured_once_at_each_slot_boundary() {
        let start = t(3, 10, 0);
        let mut m = IotRouteModel::new(&ModelConfig::default(), start).unwrap();
        let rows = m.fill_demo(1, start).unwrap();
        let mut last = m.load_profile().last_time().unwrap();
        assert_eq!(last, Some(t(3, 0, 0)));
        assert!(!capture_due(&mut m, t(3, 29, 59), &mut last));
        assert!(capture_due(&mut m, t(3, 30, 0), &mut last));
        assert!(!capture_due(&mut m, t(3, 30, 1), &mut last));
        assert_eq!(m.load_profile().entries_in_use().unwrap(), rows + 1);
        assert_eq!(m.load_profile().last_time().unwrap(), Some(t(3, 30, 0)));
    }

    #[test]
    fn trm03_without_demo_rows_the_first_capture_waits_for_the_next_boundary() {
        let start = t(3, 10, 0);
        let mut m = IotRouteModel::new(&ModelConfig::default(), start).unwrap();
        m.fill_demo(0, start).unwrap();
        let mut last = None;
        assert!(!capture_due(&mut m, start, &mut last));
        assert!(capture_due(&mut m, t(3, 30, 0), &mut last));
    }

    #[test]
    fn sec02_debug_of_the_arguments_redacts_password_and_keys() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            a: ServeArgs,
        }
        let cli = Cli::parse_from([
            "x",
            "--password",
            "hunter22",
            "--ek",
            "FFEEDDCCBBAA99887766554433221100",
        ]);
        let d = format!("{:?}", cli.a);
        assert!(!d.contains("hunter22") && !d.contains("FFEEDD"), "{d}");
    }
}
