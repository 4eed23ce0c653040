//! Running a link node (terminal or smart meter) as a program of its own on the
//! `iotroute air` hub: its 802.15.4 frames travel as ZEP v2 over UDP (`sim::zep`), its
//! time is the process's monotonic clock. The node logic is `nodes::link`, the
//! application on top (`nodes::app`); this is only the loop between them and a socket.
//!
//! Over the hub the node cannot sense the channel (the hub cannot answer at once), so its
//! carrier sense always finds the channel clear and the hub models collisions; frames stay
//! within ZEP's 127 bytes (the 6LoWPAN budget says so), and acknowledgments are waited
//! for longer than on a radio, since they cross two UDP hops and the hub's scheduling.

use core::time::Duration;
use std::net::SocketAddr;

use nodes::link::frame_counters::CounterSnapshot;
use nodes::link::smartmeter::{SmartMeter, SmartMeterEvent};
use nodes::link::terminal::{Terminal, TerminalEvent};
use sim::zep::{DataRepr, ZepRepr, MAX_PSDU};
use sim::PhyConfig;
use tokio::net::UdpSocket;

use crate::link_counters::CounterFileError;

/// How long a node on the hub waits for an acknowledgment.
pub const HUB_ACK_WAIT: Duration = Duration::from_millis(60);
/// The largest PSDU a node on the hub sends.
pub const HUB_MAX_PSDU: usize = MAX_PSDU;

/// A node's link as the loop drives it.
pub trait LinkNode {
    /// What the node reports.
    type Event;
    /// The channel to listen on (`None`: radio idle).
    fn channel(&self) -> Option<u8>;
    /// When to wake it next.
    fn next_wakeup(&self) -> Option<Duration>;
    /// Wake it: a frame to send, and events.
    fn wake(
        &mut self,
        now: Duration,
        air_time: &dyn Fn(usize) -> Duration,
    ) -> (Option<Vec<u8>>, Vec<Self::Event>);
    /// A frame received: an acknowledgment to send, and events.
    fn receive(
        &mut self,
        now: Duration,
        psdu: &[u8],
        rssi_dbm: i16,
        lqi: u8,
        air_time: &dyn Fn(usize) -> Duration,
    ) -> (Option<Vec<u8>>, Vec<Self::Event>);
    /// Its frame counters to persist, when a reservation moved (SEC-03).
    fn take_counter_snapshot(&mut self) -> Option<CounterSnapshot>;
}

impl LinkNode for Terminal {
    type Event = TerminalEvent;
    fn channel(&self) -> Option<u8> {
        Self::channel(self)
    }
    fn next_wakeup(&self) -> Option<Duration> {
        Self::next_wakeup(self)
    }
    fn wake(
        &mut self,
        now: Duration,
        air_time: &dyn Fn(usize) -> Duration,
    ) -> (Option<Vec<u8>>, Vec<TerminalEvent>) {
        Self::wake(self, now, &mut || false, air_time)
    }
    fn receive(
        &mut self,
        now: Duration,
        psdu: &[u8],
        rssi_dbm: i16,
        lqi: u8,
        air_time: &dyn Fn(usize) -> Duration,
    ) -> (Option<Vec<u8>>, Vec<TerminalEvent>) {
        Self::receive(self, now, psdu, rssi_dbm, lqi, air_time)
    }
    fn take_counter_snapshot(&mut self) -> Option<CounterSnapshot> {
        Self::take_counter_snapshot(self)
    }
}

impl LinkNode for SmartMeter {
    type Event = SmartMeterEvent;
    fn channel(&self) -> Option<u8> {
        Some(Self::channel(self))
    }
    fn next_wakeup(&self) -> Option<Duration> {
        Self::next_wakeup(self)
    }
    fn wake(
        &mut self,
        now: Duration,
        air_time: &dyn Fn(usize) -> Duration,
    ) -> (Option<Vec<u8>>, Vec<SmartMeterEvent>) {
        Self::wake(self, now, &mut || false, air_time)
    }
    fn receive(
        &mut self,
        now: Duration,
        psdu: &[u8],
        rssi_dbm: i16,
        lqi: u8,
        air_time: &dyn Fn(usize) -> Duration,
    ) -> (Option<Vec<u8>>, Vec<SmartMeterEvent>) {
        Self::receive(self, now, psdu, rssi_dbm, lqi, air_time)
    }
    fn take_counter_snapshot(&mut self) -> Option<CounterSnapshot> {
        Self::take_counter_snapshot(self)
    }
}

/// The program around a node: what it does with the node's events and on its own
/// timers (readings, captures).
pub trait App {
    /// The node.
    type Node: LinkNode;
    /// The node, to drive.
    fn node(&mut self) -> &mut Self::Node;
    /// Act on the node's events.
    fn events(&mut self, now: Duration, events: Vec<<Self::Node as LinkNode>::Event>);
    /// The application's next timer.
    fn next_timer(&self) -> Option<Duration>;
    /// The application's timers due at `now`.
    fn timers(&mut self, now: Duration);
    /// Whether the program is done (exit 0).
    fn done(&self) -> bool;
    /// What else wakes the loop for [`App::timers`] (work handed over by another task).
    fn wake_on(&self) -> Option<std::sync::Arc<tokio::sync::Notify>> {
        None
    }
    /// Keep the node's frame counters durably (SEC-03); called before a frame that
    /// needed a new reservation goes on the air, which it does not if this fails.
    ///
    /// # Errors
    /// The counters could not be written.
    fn persist_counters(&mut self, snapshot: &CounterSnapshot) -> Result<(), CounterFileError>;
}

/// Why the loop stopped early.
#[derive(Debug, thiserror::Error)]
pub enum AirError {
    /// The socket could not be bound or used.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The frame counters could not be kept: no secured frame may go out.
    #[error("frame counters not kept, stopping before a counter could repeat: {0}")]
    Counters(#[from] CounterFileError),
}

/// The ZEP link to the hub.
struct Hub {
    socket: UdpSocket,
    hub: SocketAddr,
    device_id: u16,
    sequence: u32,
    tuned: Option<u8>,
}

impl Hub {
    async fn send(&mut self, channel: u8, psdu: &[u8]) {
        self.sequence = self.sequence.wrapping_add(1);
        let repr = DataRepr::to_hub(self.device_id, channel, self.sequence, psdu);
        let mut buf = vec![0u8; repr.buffer_len()];
        match repr.emit(&mut buf) {
            Ok(n) => {
                if let Err(e) = self.socket.send_to(&buf[..n], self.hub).await {
                    tracing::warn!(error = %e, "frame not sent to the hub");
                }
            }
            Err(e) => tracing::warn!(error = %e, len = psdu.len(), "frame not framed as ZEP"),
        }
        self.tuned = Some(channel);
    }

    /// Tell the hub where we listen (a tune packet) when that changed.
    async fn tune(&mut self, channel: Option<u8>) {
        let Some(ch) = channel.filter(|c| self.tuned != Some(*c)) else {
            return;
        };
        self.sequence = self.sequence.wrapping_add(1);
        let repr = DataRepr::tune(self.device_id, ch, self.sequence);
        let mut buf = vec![0u8; repr.buffer_len()];
        if let Ok(n) = repr.emit(&mut buf) {
            if self.socket.send_to(&buf[..n], self.hub).await.is_ok() {
                self.tuned = Some(ch);
            }
        }
    }
}

/// Run `app` on the hub at `hub` as ZEP device `device_id` until it is done or `stop`
/// completes.
///
/// # Errors
/// [`AirError`] when the socket cannot be bound.
pub async fn run<A: App>(
    app: &mut A,
    hub: SocketAddr,
    device_id: u16,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), AirError> {
    let socket = UdpSocket::bind(SocketAddr::new(hub.ip(), 0)).await?;
    eprintln!(
        "node {device_id} on the air hub {hub} from {}: listening",
        socket.local_addr()?
    );
    let mut link = Hub {
        socket,
        hub,
        device_id,
        sequence: 0,
        tuned: None,
    };
    let phy = PhyConfig::default();
    let air = move |len: usize| phy.air_time(len);
    let start = tokio::time::Instant::now();
    let mut buf = vec![0u8; 2048];
    let woken = app.wake_on();
    tokio::pin!(stop);
    loop {
        let now = start.elapsed();
        link.tune(app.node().channel()).await;
        let wake_at = [app.node().next_wakeup(), app.next_timer()]
            .into_iter()
            .flatten()
            .min()
            .map_or(now + Duration::from_secs(1), |t| t.max(now));
        tokio::select! {
            received = link.socket.recv_from(&mut buf) => {
                let now = start.elapsed();
                let Ok((n, _)) = received else { continue };
                let Some(bytes) = buf.get(..n) else { continue };
                let Ok(ZepRepr::Data(d)) = ZepRepr::parse(bytes) else { continue };
                if d.psdu.is_empty() {
                    continue;
                }
                let rssi = d.rssi_dbm.map_or(-90, i16::from);
                let (ack, events) = app.node().receive(now, d.psdu, rssi, d.lqi, &air);
                if let (Some(a), Some(ch)) = (ack, app.node().channel()) {
                    link.send(ch, &a).await;
                }
                app.events(now, events);
            }
            () = tokio::time::sleep_until(start + wake_at) => {}
            () = async {
                match &woken {
                    Some(n) => n.notified().await,
                    None => std::future::pending().await,
                }
            } => {}
            () = &mut stop => break,
        }
        let now = start.elapsed();
        app.timers(now);
        let (psdu, events) = app.node().wake(now, &air);
        if let Some(snapshot) = app.node().take_counter_snapshot() {
            app.persist_counters(&snapshot)?;
        }
        if let (Some(p), Some(ch)) = (psdu, app.node().channel()) {
            link.send(ch, &p).await;
        }
        app.events(now, events);
        if app.done() {
            break;
        }
    }
    Ok(())
}
