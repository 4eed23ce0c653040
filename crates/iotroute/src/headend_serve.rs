//! `iotroute headend serve`: the head end as a program (the driver of
//! `headend::node::HeadEnd`). Smart meters connect over TCP and speak the A route
//! (docs/a-route.md); the registry comes from `--db`, the MDMS it feeds is in the same
//! file; the smart meters' keys and the terminals' secrets come from files. Every
//! `--poll` seconds it looks for gaps and has them backfilled, acts on the blocks and
//! reconnects `iotroute headend block|reconnect` recorded (OPS-07), and sends the commands
//! `iotroute headend set-clock|set-interval|set-password` recorded, recording each one's
//! end when the smart meter tells it (TRM-08, TRM-09, TRM-11). A smart meter not
//! connected then gets them on its hello (`headend::service`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use headend::collect::CollectConfig;
use headend::service::{HeadEndService, Outgoing};
use headend::sqlite::SqliteHeadendStore;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use wisun::mac::Eui64;

/// `iotroute headend serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The database file: the registry (imported before) and the MDMS.
    #[arg(long)]
    db: PathBuf,
    /// Where smart meters connect (TCP).
    #[arg(long, default_value = "127.0.0.1:4059")]
    listen: SocketAddr,
    /// The smart meters' A-route keys: `<EUI-64> <EK> <AK>` a line.
    #[arg(long, value_name = "FILE")]
    smartmeter_keys: PathBuf,
    /// The terminals' management association secrets it registers them with:
    /// `<EUI-64> <secret hex>` a line.
    #[arg(long, value_name = "FILE")]
    terminal_secrets: PathBuf,
    /// Seconds between looks for gaps.
    #[arg(long, default_value_t = 60)]
    poll: u64,
}

/// What the connections share: the head end with its database, each connected smart
/// meter's writer.
struct Core {
    service: HeadEndService<SqliteHeadendStore, mdms::Tailed<mdms::SqliteStore>>,
    writers: BTreeMap<Eui64, mpsc::UnboundedSender<Vec<u8>>>,
}

impl Core {
    /// Hand each smart meter's bytes (their counters kept already) to its connection,
    /// if it is connected; a smart meter that is not gets its blocks and pending
    /// commands again on its hello.
    fn send(&mut self, out: Outgoing) {
        for (sm, bytes) in out {
            match self.writers.get(&sm) {
                Some(w) if w.send(bytes).is_ok() => {}
                _ => tracing::debug!(%sm, "smart meter not connected: command dropped"),
            }
        }
    }
}

fn fail(what: &str, e: impl std::fmt::Display) -> ExitCode {
    tracing::error!(error = %e, "{what}");
    eprintln!("error: {what}: {e}");
    ExitCode::FAILURE
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Run the head end.
pub async fn serve(args: ServeArgs) -> ExitCode {
    let keys = match read(&args.smartmeter_keys)
        .and_then(|t| headend::keys::parse(&t).map_err(|e| e.to_string()))
    {
        Ok(k) => k,
        Err(e) => return fail("smart meter keys", e),
    };
    let secrets = match read(&args.terminal_secrets)
        .and_then(|t| headend::keys::parse_secrets(&t).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => return fail("terminal secrets", e),
    };
    let store = match SqliteHeadendStore::open(&args.db) {
        Ok(s) => s,
        Err(e) => return fail("registry", e),
    };
    let mdms = match mdms::SqliteStore::open(&args.db)
        .and_then(|s| mdms::Mdms::new(mdms::Tailed::new(s), mdms::Vee::default()))
    {
        Ok(m) => m,
        Err(e) => return fail("MDMS", e),
    };
    // A restart (kill -9 included) goes on from the database: counters, blocks, and
    // every point's collection since its first start.
    let service = match HeadEndService::open(
        store,
        mdms,
        keys,
        secrets,
        CollectConfig::default(),
        chrono::Utc::now(),
    ) {
        Ok(s) => s,
        Err(e) => return fail("head end", e),
    };
    let core = Core {
        service,
        writers: BTreeMap::new(),
    };
    let core = Arc::new(Mutex::new(core));
    let listener = match TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => return fail("listen", e),
    };
    tracing::info!(listen = %args.listen, "head end listening for smart meters");
    crate::stdout::outln!("head end listening on {}", args.listen);
    let poller = Arc::clone(&core);
    let every = Duration::from_secs(args.poll.max(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let Ok(mut c) = poller.lock() else { return };
            let out = c.service.poll(chrono::Utc::now());
            c.send(out);
        }
    });
    // The MDMS takes readings in batches: what came in is in it within FLUSH, and at
    // a graceful stop (SIGTERM, Ctrl-C); a kill -9 loses it to the backfill.
    let flusher = Arc::clone(&core);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(FLUSH);
        loop {
            tick.tick().await;
            let Ok(mut c) = flusher.lock() else { return };
            c.service.flush();
        }
    });
    let accept = async {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            };
            tracing::info!(%peer, "smart meter connected");
            tokio::spawn(connection(Arc::clone(&core), stream));
        }
    };
    tokio::select! {
        () = accept => {}
        () = crate::shutdown::signal() => {}
    }
    if let Ok(mut c) = core.lock() {
        let tally = c.service.settle();
        tracing::info!(
            rejected = tally.rejected,
            conflicts = tally.conflicts,
            "MDMS settled"
        );
    }
    tracing::info!("head end stopped");
    ExitCode::SUCCESS
}

/// How long readings taken wait, at most, for the MDMS.
const FLUSH: Duration = Duration::from_millis(200);

/// One smart meter's connection: it names itself by the system title its first frame
/// is sealed with; the head end takes only smart meters it has keys for.
async fn connection(core: Arc<Mutex<Core>>, stream: TcpStream) {
    let (mut rd, mut wr) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let writer = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if wr.write_all(&bytes).await.is_err() {
                return;
            }
        }
    });
    let mut sm: Option<Eui64> = None;
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let bytes = &buf[..n];
        let who = match sm {
            Some(s) => s,
            None => {
                pending.extend_from_slice(bytes);
                let Some(title) = first_title(&pending) else {
                    continue;
                };
                let Ok(mut c) = core.lock() else { break };
                if !c.service.knows(Eui64(title)) {
                    tracing::warn!(sm = %dlms::hex::encode(&title), "a smart meter the head end has no keys for: closed");
                    break;
                }
                c.service.reconnected(Eui64(title));
                c.writers.insert(Eui64(title), tx.clone());
                sm = Some(Eui64(title));
                drop(c);
                let first = std::mem::take(&mut pending);
                if !take(&core, Eui64(title), &first) {
                    break;
                }
                continue;
            }
        };
        if !take(&core, who, bytes) {
            break;
        }
    }
    if let (Some(s), Ok(mut c)) = (sm, core.lock()) {
        c.writers.remove(&s);
        tracing::info!(sm = %s, "smart meter disconnected");
    }
    writer.abort();
}

/// Bytes from `sm` into the node, its readings into the MDMS, its answers out; `false`
/// when the stream is broken.
fn take(core: &Arc<Mutex<Core>>, sm: Eui64, bytes: &[u8]) -> bool {
    let Ok(mut c) = core.lock() else { return false };
    match c.service.take_bytes(sm, bytes, chrono::Utc::now()) {
        Ok(out) => {
            c.send(out);
            true
        }
        Err(e) => {
            tracing::warn!(%sm, error = %e, "A route stream broken: closed");
            false
        }
    }
}

/// The system title of the first whole frame in `bytes`, once it has arrived.
fn first_title(bytes: &[u8]) -> Option<[u8; 8]> {
    let mut reader = dlms::relay::stream::FrameReader::new();
    reader.push(bytes);
    let frame = reader.next_frame().ok()??;
    let envelope = dlms::cipher::envelope(&frame.apdu).ok()?;
    envelope.system_title?.try_into().ok()
}
