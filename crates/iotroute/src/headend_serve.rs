//! `iotroute headend serve`: the head end as a program (the driver of
//! `headend::node::HeadEnd`). Smart meters connect over TCP and speak the A route
//! (docs/a-route.md); the registry comes from `--db`, the MDMS it feeds is in the same
//! file; the smart meters' keys and the terminals' secrets come from files. Every
//! `--poll` seconds it looks for gaps and has them backfilled, and acts on the blocks and
//! reconnects `iotroute headend block|reconnect` recorded (OPS-07).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dlms::cipher::SystemTitle;
use headend::aroute::SmartMeterLink;
use headend::collect::CollectConfig;
use headend::node::{HeadEnd, HEAD_END_TITLE};
use headend::sqlite::SqliteHeadendStore;
use headend::storage::HeadendStore as _;
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

/// What the connections share: the node, the store it keeps its counters in, the MDMS.
struct Core {
    node: HeadEnd,
    store: SqliteHeadendStore,
    mdms: mdms::Mdms<mdms::SqliteStore>,
    /// Each connected smart meter's writer.
    writers: BTreeMap<Eui64, mpsc::UnboundedSender<Vec<u8>>>,
    /// Block records acted on (OPS-07): `headend block|reconnect` append them to the
    /// database; the running head end acts on each new one.
    blocks_seen: usize,
}

impl Core {
    /// Act on the block and reconnect records appended since the last look: the
    /// commands go to the smart meters (a smart meter not connected gets them on its
    /// hello).
    fn blocks(&mut self) {
        let records = match self.store.block_records() {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "block records not read");
                return;
            }
        };
        for r in records.iter().skip(self.blocks_seen) {
            let blocked = r.action == headend::blocks::BlockAction::Block;
            match self.node.block(&r.point, blocked) {
                Ok(out) => {
                    tracing::info!(point = %r.point, action = r.action.name(), reason = %r.reason, by = %r.by, "OPS-07");
                    self.send(out);
                }
                Err(e) => tracing::warn!(error = %e, "block record not acted on"),
            }
        }
        self.blocks_seen = records.len();
    }
}

impl Core {
    /// Keep `sm`'s counters (before its bytes leave), then hand the bytes to its
    /// connection, if it is connected.
    fn send(&mut self, out: Vec<(Eui64, Vec<u8>)>) {
        for (sm, bytes) in out {
            if let Some(link) = self.node.link(sm) {
                let (sent, taken) = link.counters();
                if let Err(e) = self.store.set_a_route_counters(sm, sent, taken) {
                    tracing::error!(error = %e, "A-route counters not kept: not sent");
                    continue;
                }
            }
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
    let points = match store.points() {
        Ok(p) if !p.is_empty() => p,
        Ok(_) => return fail("registry", "no device points: import a registry first"),
        Err(e) => return fail("registry", e),
    };
    let mdms = match mdms::SqliteStore::open(&args.db)
        .and_then(|s| mdms::Mdms::new(s, mdms::Vee::default()))
    {
        Ok(m) => m,
        Err(e) => return fail("MDMS", e),
    };
    let mut links = BTreeMap::new();
    for (sm, k) in keys {
        let (sent, taken) = match store.a_route_counters(sm) {
            Ok(c) => c.unwrap_or((0, None)),
            Err(e) => return fail("A-route counters", e),
        };
        links.insert(
            sm,
            SmartMeterLink::new(HEAD_END_TITLE, SystemTitle(sm.0), k, sent, taken),
        );
    }
    let since = chrono::Utc::now();
    let node = HeadEnd::new(CollectConfig::default(), points, since, links, secrets);
    let mut core = Core {
        node,
        store,
        mdms,
        writers: BTreeMap::new(),
        blocks_seen: 0,
    };
    // The blocks recorded before it started (those still in force are sent to each smart
    // meter on its hello).
    core.blocks();
    let core = Arc::new(Mutex::new(core));
    let listener = match TcpListener::bind(args.listen).await {
        Ok(l) => l,
        Err(e) => return fail("listen", e),
    };
    tracing::info!(listen = %args.listen, "head end listening for smart meters");
    println!("head end listening on {}", args.listen);
    let poller = Arc::clone(&core);
    let every = Duration::from_secs(args.poll.max(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let Ok(mut c) = poller.lock() else { return };
            c.blocks();
            let out = c.node.poll(chrono::Utc::now());
            c.send(out);
        }
    });
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
}

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
                if c.node.link(Eui64(title)).is_none() {
                    tracing::warn!(sm = %dlms::hex::encode(&title), "a smart meter the head end has no keys for: closed");
                    break;
                }
                c.node.reconnected(Eui64(title));
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
    let taken = match c.node.take_bytes(sm, bytes, chrono::Utc::now()) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(%sm, error = %e, "A route stream broken: closed");
            return false;
        }
    };
    if !taken.readings.is_empty() {
        if let Err(e) = c.mdms.ingest(&taken.readings) {
            tracing::error!(error = %e, "MDMS ingest failed");
        }
    }
    if let Some(link) = c.node.link(sm) {
        let (sent, taken_counter) = link.counters();
        if let Err(e) = c.store.set_a_route_counters(sm, sent, taken_counter) {
            tracing::error!(error = %e, "A-route counters not kept");
        }
    }
    c.send(taken.to_smart_meters);
    true
}

/// The system title of the first whole frame in `bytes`, once it has arrived.
fn first_title(bytes: &[u8]) -> Option<[u8; 8]> {
    let mut reader = dlms::relay::stream::FrameReader::new();
    reader.push(bytes);
    let frame = reader.next_frame().ok()??;
    let envelope = dlms::cipher::envelope(&frame.apdu).ok()?;
    envelope.system_title?.try_into().ok()
}
