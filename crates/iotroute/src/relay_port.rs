//! The smart meter program's A-route connection to the head end (docs/a-route.md): a
//! task keeps a TCP connection up (connecting again after a loss), hands what arrives to
//! the program's loop, and writes what the relay (`nodes::app::relay`) has. The relay's
//! counters are kept in `DIR/a-route.json` before its bytes leave (SEC-02: a counter used
//! twice under one key is GCM nonce reuse).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use dlms::relay::message::Command;
use nodes::app::relay::SmartMeterRelay;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::{mpsc, Notify};

/// What the connection task hands over.
#[derive(Debug)]
enum Incoming {
    /// A new connection: say hello on it.
    Connected,
    /// Bytes from the head end.
    Bytes(Vec<u8>),
}

/// The relay's counters as kept in the data directory.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Kept {
    sent: u32,
    taken: Option<u32>,
}

/// The relay and its connection.
#[derive(Debug)]
pub struct RelayPort {
    /// The smart meter's end of the A route.
    pub relay: SmartMeterRelay,
    inbox: Arc<Mutex<VecDeque<Incoming>>>,
    notify: Arc<Notify>,
    outbox: mpsc::UnboundedSender<Vec<u8>>,
    /// Where its counters are kept, if anywhere.
    state: Option<PathBuf>,
}

/// The counters kept in `dir` by an earlier run (none: a new smart meter).
///
/// # Errors
/// The file is there but does not read.
pub fn kept_counters(dir: &std::path::Path) -> Result<(u32, Option<u32>), String> {
    let path = dir.join("a-route.json");
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice::<Kept>(&bytes)
            .map(|k| (k.sent, k.taken))
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((0, None)),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

impl RelayPort {
    /// `relay` connected to the head end at `head_end` (kept up by a task), its counters
    /// kept in `state` (a data directory), if given.
    #[must_use]
    pub fn start(head_end: SocketAddr, relay: SmartMeterRelay, state: Option<PathBuf>) -> Self {
        let inbox = Arc::new(Mutex::new(VecDeque::new()));
        let notify = Arc::new(Notify::new());
        let (outbox, rx) = mpsc::unbounded_channel();
        tokio::spawn(connection(
            head_end,
            Arc::clone(&inbox),
            Arc::clone(&notify),
            rx,
        ));
        Self {
            relay,
            inbox,
            notify,
            outbox,
            state,
        }
    }

    /// What wakes the program's loop when the head end sends something.
    #[must_use]
    pub fn notify(&self) -> Arc<Notify> {
        Arc::clone(&self.notify)
    }

    /// What arrived: a new connection said hello on (`joined` the terminals on the
    /// link), the commands taken (each answered already).
    pub fn incoming(
        &mut self,
        now: DateTime<Utc>,
        joined: impl Fn([u8; 8]) -> bool,
    ) -> Vec<Command> {
        let items: Vec<Incoming> = match self.inbox.lock() {
            Ok(mut q) => q.drain(..).collect(),
            Err(_) => return Vec::new(),
        };
        let mut commands = Vec::new();
        for item in items {
            match item {
                Incoming::Connected => self.relay.connected(now, &joined),
                Incoming::Bytes(b) => match self.relay.received(&b) {
                    Ok(c) => commands.extend(c),
                    Err(e) => tracing::warn!(error = %e, "A route stream broken"),
                },
            }
        }
        commands
    }

    /// Keep the counters, then send what the relay has.
    pub fn flush(&mut self) {
        let bytes = self.relay.take_output();
        if bytes.is_empty() {
            return;
        }
        if let Some(dir) = &self.state {
            let (sent, taken) = self.relay.counters();
            let text = serde_json::to_vec(&Kept { sent, taken }).unwrap_or_default();
            if let Err(e) = crate::state_file::write_atomic(
                &dir.join("a-route.json"),
                &text,
                crate::state_file::Access::Default,
            ) {
                tracing::error!(error = %e, "A-route counters not kept: nothing sent");
                return;
            }
        }
        if self.outbox.send(bytes).is_err() {
            tracing::warn!("A-route connection task gone");
        }
    }
}

/// Keep a connection to the head end: connect (again every 2 s while it fails), hand
/// over what arrives, write what the relay has.
async fn connection(
    head_end: SocketAddr,
    inbox: Arc<Mutex<VecDeque<Incoming>>>,
    notify: Arc<Notify>,
    mut rx: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let hand = |item: Incoming| {
        if let Ok(mut q) = inbox.lock() {
            q.push_back(item);
        }
        notify.notify_one();
    };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let stream = match tokio::net::TcpStream::connect(head_end).await {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, %head_end, "head end not reached: trying again");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        tracing::info!(%head_end, "connected to the head end");
        // What waited goes first (whole frames, counters rising), then the hello.
        hand(Incoming::Connected);
        let (mut rd, mut wr) = stream.into_split();
        loop {
            tokio::select! {
                read = rd.read(&mut buf) => match read {
                    Ok(0) | Err(_) => break,
                    Ok(n) => hand(Incoming::Bytes(buf[..n].to_vec())),
                },
                out = rx.recv() => match out {
                    Some(bytes) => {
                        if wr.write_all(&bytes).await.is_err() {
                            break;
                        }
                    }
                    None => return,
                },
            }
        }
        tracing::warn!(%head_end, "connection to the head end lost");
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
