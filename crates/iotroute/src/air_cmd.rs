//! `iotroute air`: the inter-process radio (RAD-01). Nodes running as separate processes
//! send their 802.15.4 frames as ZEP v2 over UDP to this hub, which puts them on a
//! `sim::Medium` running in real time (the same model as the in-process simulator:
//! positions, channels, path loss with shadowing, sensitivity, collisions, half duplex)
//! and forwards each frame to every node that receives it, as a ZEP v2 data packet in CRC
//! mode with the LQI (and, in the first reserved byte, the RSSI) it got.
//!
//! Protocol (docs/iot-route-link.md, "Inter-process radio (ZEP hub)"):
//! - A node is known by its ZEP device id; its address is the source address of its last
//!   packet. The channel of each packet is the channel the node sends on and from then
//!   listens on. A data packet with an empty PSDU is a *tune* packet (ours): it sets the
//!   channel and registers the address, and puts nothing on the air.
//! - Forwarded packets carry the receiver's device id, the channel, the LQI, the RSSI,
//!   the wall-clock time the frame ended and the hub's own sequence number.
//! - Carrier sense is the node's business (the hub cannot answer synchronously);
//!   overlapping frames collide at the hub as the model says. A node that sends while its
//!   previous frame is still on the air has the new frame refused (half duplex), counted.
//!
//! [`Hub`] is the sans-IO core (fed `(now, datagram)` and `now`, returning datagrams and
//! pcap records); [`run`] binds it to a socket and the wall clock.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::Utc;
use nodes::log_limit::LogLimiter;
use serde::Serialize;
use sim::zep::{DataRepr, LqiMode, NtpTimestamp, ZepRepr, MAX_PSDU, ZEP_PORT};
use sim::{Medium, MediumError, NodeId, Outcome, PhyConfig, Position, PropagationConfig, TxReport};
use tokio::net::UdpSocket;
use wisun::channel::{Channel, CHANNEL_PAGE};
use wisun::mac::fcs::FcsKind;
use wisun::pcap::tap::TapHeader;

/// FCS the nodes append, for the pcap's FCS-type TLV.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FcsArg {
    /// 2-byte CRC-16 (what our nodes and pcaps use).
    Crc16,
    /// 4-byte CRC-32.
    Crc32,
    /// No FCS.
    None,
}

impl FcsArg {
    const fn kind(self) -> Option<FcsKind> {
        match self {
            Self::Crc16 => Some(FcsKind::Crc16),
            Self::Crc32 => Some(FcsKind::Crc32),
            Self::None => None,
        }
    }
}

/// A node placed with `--node`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NodeSpec {
    /// Its ZEP device id.
    pub device_id: u16,
    /// Where.
    pub position: Position,
}

/// `DEVICE_ID=X,Y[,indoor]`, the id decimal or `0x` hex, X and Y in metres.
fn parse_node(s: &str) -> Result<NodeSpec, String> {
    let (id, place) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}`: expected DEVICE_ID=X,Y[,indoor]"))?;
    let id = id.trim();
    let device_id = match id.strip_prefix("0x").or_else(|| id.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16),
        None => id.parse(),
    }
    .map_err(|e| format!("`{id}`: not a device id (0-65535): {e}"))?;
    let parts: Vec<&str> = place.split(',').map(str::trim).collect();
    let coord = |v: &str| -> Result<f64, String> {
        v.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .ok_or_else(|| format!("`{v}`: not a coordinate in metres"))
    };
    let (x, y, indoor) = match parts.as_slice() {
        [x, y] => (coord(x)?, coord(y)?, false),
        [x, y, "indoor"] => (coord(x)?, coord(y)?, true),
        [x, y, "outdoor"] => (coord(x)?, coord(y)?, false),
        _ => return Err(format!("`{place}`: expected X,Y or X,Y,indoor")),
    };
    let position = if indoor {
        Position::indoor(x, y)
    } else {
        Position::outdoor(x, y)
    };
    Ok(NodeSpec {
        device_id,
        position,
    })
}

/// Arguments of `iotroute air`.
#[derive(Debug, clap::Args)]
pub struct AirArgs {
    /// Address to bind (loopback by default: the hub trusts whoever sends to it).
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// UDP port (ZEP's).
    #[arg(long, default_value_t = ZEP_PORT)]
    pub port: u16,
    /// Seed of the radio model (shadowing per link, fading per frame).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Place a node: its ZEP device id (decimal or 0x hex), X and Y in metres, and
    /// `indoor` for a node inside a building. Repeat for each node. Nodes not placed stand
    /// outdoors on a ring of --ring-radius metres round the origin, at angle
    /// 360° × (device id mod 16) / 16.
    #[arg(long = "node", value_name = "DEVICE_ID=X,Y[,indoor]", value_parser = parse_node)]
    pub nodes: Vec<NodeSpec>,
    /// Radius of the ring unplaced nodes stand on, metres.
    #[arg(long, default_value_t = 10.0, value_name = "M")]
    pub ring_radius: f64,
    /// Standard deviation of the log-normal shadowing, dB (the model's default is 6; 0
    /// makes the placement alone decide).
    #[arg(long, value_name = "DB")]
    pub shadowing: Option<f64>,
    /// Write every frame on the air to this pcap file (link type 283, IEEE 802.15.4 TAP
    /// with RSS and channel).
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// The FCS the nodes' frames end with, for the pcap's FCS-type TLV.
    #[arg(long, value_enum, default_value = "crc16")]
    pub fcs: FcsArg,
    /// At exit, write the counters to this file as one JSON object.
    #[arg(long, value_name = "FILE")]
    pub json_stats: Option<PathBuf>,
}

/// The hub's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct HubStats {
    /// UDP datagrams received.
    pub datagrams: u64,
    /// Datagrams that were not ZEP v2 we read (or a PSDU over 127 bytes): dropped.
    pub malformed: u64,
    /// ZEP acks received (ignored).
    pub acks: u64,
    /// Tune packets (empty PSDU: channel set, nothing sent).
    pub tunes: u64,
    /// Frames put on the air.
    pub frames: u64,
    /// PSDU bytes put on the air.
    pub bytes: u64,
    /// Frames refused because the sender's previous frame was still on the air.
    pub refused: u64,
    /// Frames forwarded to a receiver.
    pub deliveries: u64,
    /// Receptions lost to collisions.
    pub collided: u64,
    /// Receptions lost because the receiver was transmitting.
    pub receiver_busy: u64,
    /// Receptions lost to fading (too weak).
    pub faded: u64,
    /// Frames a receiver missed because it changed channel while they were on the air.
    pub retuned: u64,
    /// Forwarded packets the socket failed to send.
    pub send_errors: u64,
    /// Nodes known.
    pub nodes: u64,
}

/// Something for the driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubOutput {
    /// Send a ZEP packet.
    Send {
        /// To whom.
        to: SocketAddr,
        /// The packet.
        packet: Vec<u8>,
    },
    /// Write a pcap record (link type 283).
    Capture {
        /// Microseconds since the Unix epoch.
        micros: u64,
        /// The TAP header and the PSDU.
        record: Vec<u8>,
    },
}

/// What [`Hub::datagram`] made of a datagram.
#[derive(Debug, Clone, PartialEq)]
pub enum Accepted {
    /// A frame put on the air, ending at the given time.
    Frame(Duration),
    /// A tune packet.
    Tune,
    /// A ZEP ack: ignored.
    Ack,
    /// The sender is still transmitting: refused.
    Refused(MediumError),
    /// Not ZEP v2 we read.
    Malformed(sim::zep::ZepError),
}

#[derive(Debug, Clone, Copy)]
struct HubNode {
    id: NodeId,
    device_id: u16,
    addr: Option<SocketAddr>,
    channel: Option<u8>,
}

/// The sans-IO hub: the medium, the nodes, the counters.
#[derive(Debug)]
pub struct Hub {
    medium: Medium,
    /// By device id.
    by_device: BTreeMap<u16, HubNode>,
    /// Device id by medium node index.
    by_node: Vec<u16>,
    ring_radius: f64,
    /// Wall clock at medium time zero.
    epoch: Duration,
    fcs: Option<FcsKind>,
    capture: bool,
    sequence: u32,
    stats: HubStats,
}

impl Hub {
    /// A hub whose medium time zero is `epoch` after the Unix epoch, with `placed` nodes
    /// at their places (radios off until they first send).
    #[must_use]
    pub fn new(
        seed: u64,
        propagation: PropagationConfig,
        placed: &[NodeSpec],
        ring_radius: f64,
        epoch: Duration,
        fcs: Option<FcsKind>,
        capture: bool,
    ) -> Self {
        let mut hub = Self {
            medium: Medium::new(seed, propagation, PhyConfig::default()),
            by_device: BTreeMap::new(),
            by_node: Vec::new(),
            ring_radius,
            epoch,
            fcs,
            capture,
            sequence: 0,
            stats: HubStats::default(),
        };
        for spec in placed {
            hub.node(spec.device_id, Some(spec.position));
        }
        hub
    }

    /// The counters so far.
    #[must_use]
    pub const fn stats(&self) -> HubStats {
        self.stats
    }

    /// When to call [`Hub::advance`] next.
    #[must_use]
    pub fn next_wake(&self) -> Option<Duration> {
        self.medium.next_end()
    }

    /// The default place of an unplaced node.
    fn ring_position(&self, device_id: u16) -> Position {
        let angle = std::f64::consts::TAU * f64::from(device_id % 16) / 16.0;
        Position::outdoor(
            self.ring_radius * angle.cos(),
            self.ring_radius * angle.sin(),
        )
    }

    /// The node with `device_id`, added (at `position` or on the ring) if new.
    fn node(&mut self, device_id: u16, position: Option<Position>) -> HubNode {
        if let Some(n) = self.by_device.get(&device_id) {
            return *n;
        }
        let position = position.unwrap_or_else(|| self.ring_position(device_id));
        let id = self.medium.add_node(position);
        let node = HubNode {
            id,
            device_id,
            addr: None,
            channel: None,
        };
        self.by_device.insert(device_id, node);
        self.by_node.push(device_id);
        self.stats.nodes += 1;
        tracing::info!(
            device_id,
            x = position.x,
            y = position.y,
            indoor = position.indoor,
            "air: node placed"
        );
        node
    }

    /// A datagram from `from` at medium time `now`. Frames that ended by `now` are
    /// resolved first (their outputs are in `out`).
    pub fn datagram(
        &mut self,
        now: Duration,
        from: SocketAddr,
        bytes: &[u8],
        out: &mut Vec<HubOutput>,
    ) -> Accepted {
        self.stats.datagrams += 1;
        self.advance(now, out);
        let data = match ZepRepr::parse(bytes) {
            Ok(ZepRepr::Data(d)) => d,
            Ok(ZepRepr::Ack { .. }) => {
                self.stats.acks += 1;
                return Accepted::Ack;
            }
            Err(e) => {
                self.stats.malformed += 1;
                return Accepted::Malformed(e);
            }
        };
        let node = self.node(data.device_id, None);
        if let Some(old) = node.addr.filter(|a| *a != from) {
            tracing::info!(device_id = node.device_id, %old, new = %from, "air: node moved to a new address");
        }
        if let Some(n) = self.by_device.get_mut(&data.device_id) {
            n.addr = Some(from);
            n.channel = Some(data.channel);
        }
        // Known node: cannot fail.
        let _ = self.medium.set_channel(node.id, Some(data.channel));
        if data.is_tune() {
            self.stats.tunes += 1;
            tracing::debug!(device_id = data.device_id, channel = data.channel, %from, "air: tune");
            return Accepted::Tune;
        }
        match self.medium.transmit(now, node.id, data.psdu.to_vec()) {
            Ok((tx, end)) => {
                tracing::debug!(
                    device_id = data.device_id,
                    channel = data.channel,
                    len = data.psdu.len(),
                    tx = tx.0,
                    "air: frame on the air"
                );
                Accepted::Frame(end)
            }
            Err(e) => {
                self.stats.refused += 1;
                Accepted::Refused(e)
            }
        }
    }

    /// Move medium time to `now`: every frame that ended by then is forwarded to the nodes
    /// that received it and captured.
    pub fn advance(&mut self, now: Duration, out: &mut Vec<HubOutput>) {
        let reports = match self.medium.advance(now) {
            Ok(r) => r,
            Err(e) => {
                // Only `Past`, which the driver's monotonic clock rules out.
                tracing::error!(error = %e, "air: medium refused to advance");
                return;
            }
        };
        for report in reports {
            self.report(&report, out);
        }
        let st = self.medium.stats();
        self.stats.frames = st.frames;
        self.stats.bytes = st.bytes;
        self.stats.collided = st.collided;
        self.stats.receiver_busy = st.receiver_busy;
        self.stats.faded = st.faded;
    }

    fn report(&mut self, report: &TxReport, out: &mut Vec<HubOutput>) {
        let from = self.by_node.get(report.from.0 as usize).copied();
        let end_wall = self.epoch + report.end;
        for r in &report.receptions {
            let Some(&device_id) = self.by_node.get(r.node.0 as usize) else {
                continue;
            };
            tracing::debug!(
                from = ?from,
                to = device_id,
                channel = report.channel,
                rssi = r.rssi_dbm,
                outcome = ?r.outcome,
                "air: reception"
            );
            if r.outcome != Outcome::Received {
                continue;
            }
            let Some(node) = self.by_device.get(&device_id) else {
                continue;
            };
            // The medium fixes the listeners when a frame starts; a radio that moved to
            // another channel since then has lost the frame.
            if node.channel != Some(report.channel) {
                self.stats.retuned += 1;
                continue;
            }
            let Some(to) = node.addr else {
                continue;
            };
            // Rounded and clamped into i8 first; 0 means "none" on the wire.
            #[allow(clippy::cast_possible_truncation)]
            let rssi = r.rssi_dbm.round().clamp(-128.0, -1.0) as i8;
            let packet = DataRepr {
                channel: report.channel,
                device_id,
                mode: LqiMode::Crc,
                lqi: r.lqi,
                rssi_dbm: Some(rssi),
                timestamp: NtpTimestamp::from_unix(end_wall),
                sequence: self.sequence,
                psdu: &report.frame,
            };
            self.sequence = self.sequence.wrapping_add(1);
            match packet.to_vec() {
                Ok(packet) => {
                    self.stats.deliveries += 1;
                    out.push(HubOutput::Send { to, packet });
                }
                // Frames came in ZEP packets, so they fit; kept for the type's sake.
                Err(e) => tracing::warn!(error = %e, "air: frame does not fit ZEP"),
            }
        }
        if self.capture {
            out.push(HubOutput::Capture {
                micros: u64::try_from((self.epoch + report.start).as_micros()).unwrap_or(u64::MAX),
                record: self.tap(report).wrap(&report.frame),
            });
        }
    }

    /// The TAP header of a frame on the air: its channel, and as RSS the strongest signal
    /// any listener had of it (what a sniffer beside that listener would see; none when
    /// nobody listened).
    fn tap(&self, report: &TxReport) -> TapHeader {
        let rss = report
            .receptions
            .iter()
            .map(|r| r.rssi_dbm)
            .fold(None, |best: Option<f64>, v| {
                Some(best.map_or(v, |b| b.max(v)))
            });
        let channel = Channel::new(u16::from(report.channel)).ok();
        TapHeader {
            fcs: self.fcs,
            // f32 is the TLV's type.
            #[allow(clippy::cast_possible_truncation)]
            rss_dbm: rss.map(|v| v as f32),
            channel: Some((u16::from(report.channel), CHANNEL_PAGE)),
            // Integer kHz below 2^24: exact in an f32.
            #[allow(clippy::cast_precision_loss)]
            centre_khz: channel.map(|c| c.centre_khz() as f32),
        }
    }
}

/// Runs the hub until Ctrl-C or SIGTERM.
pub async fn run(args: AirArgs) -> ExitCode {
    match serve(args, crate::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: AirArgs, stop: impl std::future::Future<Output = ()>) -> Result<(), String> {
    if !(args.ring_radius.is_finite() && args.ring_radius >= 0.0) {
        return Err(format!(
            "--ring-radius {}: not a distance",
            args.ring_radius
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(dup) = args.nodes.iter().find(|n| !seen.insert(n.device_id)) {
        return Err(format!("--node: device id {} placed twice", dup.device_id));
    }
    let mut propagation = PropagationConfig::default();
    if let Some(sigma) = args.shadowing {
        if !(sigma.is_finite() && sigma >= 0.0) {
            return Err(format!("--shadowing {sigma}: not a standard deviation"));
        }
        propagation.shadowing_sigma_db = sigma;
    }
    let mut pcap = match &args.pcap {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            Some(
                wisun::pcap::Writer::new(
                    // Unbuffered: each record is one write, so the file is whole at
                    // any moment (the writer has no flush).
                    file,
                    wisun::pcap::LINKTYPE_IEEE802_15_4_TAP,
                )
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
            )
        }
        None => None,
    };
    let local = SocketAddr::new(args.bind, args.port);
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| format!("cannot bind {local}: {e}"))?;
    let local = socket.local_addr().unwrap_or(local);
    let start = Instant::now();
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut hub = Hub::new(
        args.seed,
        propagation,
        &args.nodes,
        args.ring_radius,
        epoch,
        args.fcs.kind(),
        pcap.is_some(),
    );
    tracing::info!(%local, seed = args.seed, max_psdu = MAX_PSDU, "air hub listening (ZEP v2)");
    eprintln!("air listening on {local}");

    let mut limiter = LogLimiter::default();
    let mut buf = vec![0u8; 65_536];
    let mut out = Vec::new();
    tokio::pin!(stop);
    loop {
        let wake = hub
            .next_wake()
            .map(|t| tokio::time::Instant::from_std(start + t));
        let sleep = async move {
            match wake {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = &mut stop => break,
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    let bytes = buf.get(..n).unwrap_or(&[]);
                    match hub.datagram(start.elapsed(), from, bytes, &mut out) {
                        Accepted::Malformed(e) => {
                            if let Some(held) = limiter.allow(Utc::now()) {
                                tracing::warn!(%from, error = %e, offset = e.offset(), held_back = held, "air: not a ZEP v2 packet we read: dropped");
                            }
                        }
                        Accepted::Refused(e) => {
                            if let Some(held) = limiter.allow(Utc::now()) {
                                tracing::warn!(%from, error = %e, held_back = held, "air: frame refused (half duplex: carrier sense is the node's)");
                            }
                        }
                        Accepted::Frame(_) | Accepted::Tune | Accepted::Ack => {}
                    }
                }
                Err(e) => tracing::warn!(error = %e, "air: receive failed"),
            },
            () = sleep => hub.advance(start.elapsed(), &mut out),
        }
        flush(&socket, &mut out, &mut hub, pcap.as_mut()).await;
    }
    // Let the frames still on the air finish (at most one air time, 11 ms), so that
    // they are delivered and captured too.
    hub.advance(start.elapsed(), &mut out);
    while let Some(end) = hub.next_wake() {
        hub.advance(end.max(start.elapsed()), &mut out);
    }
    flush(&socket, &mut out, &mut hub, pcap.as_mut()).await;
    let stats = hub.stats();
    eprintln!(
        "air: {} frames ({} bytes) from {} nodes, {} deliveries, {} collided, {} receiver busy, \
         {} faded, {} retuned, {} refused, {} malformed, {} tunes",
        stats.frames,
        stats.bytes,
        stats.nodes,
        stats.deliveries,
        stats.collided,
        stats.receiver_busy,
        stats.faded,
        stats.retuned,
        stats.refused,
        stats.malformed,
        stats.tunes
    );
    if let Some(path) = &args.json_stats {
        let text = serde_json::to_string(&stats).map_err(|e| e.to_string())?;
        std::fs::write(path, text + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

async fn flush<W: Write>(
    socket: &UdpSocket,
    out: &mut Vec<HubOutput>,
    hub: &mut Hub,
    mut pcap: Option<&mut wisun::pcap::Writer<W>>,
) {
    for o in out.drain(..) {
        match o {
            HubOutput::Send { to, packet } => {
                if let Err(e) = socket.send_to(&packet, to).await {
                    hub.stats.send_errors += 1;
                    tracing::warn!(%to, error = %e, "air: cannot forward");
                }
            }
            HubOutput::Capture { micros, record } => {
                if let Some(w) = pcap.as_deref_mut() {
                    if let Err(e) = w.write(micros, &record) {
                        tracing::warn!(error = %e, "air: cannot write the pcap");
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn addr(host: u8) -> SocketAddr {
        SocketAddr::from(([127, 0, 179, host], 40_000))
    }

    fn zep(device_id: u16, channel: u8, psdu: &[u8]) -> Vec<u8> {
        DataRepr::to_hub(device_id, channel, 0, psdu)
            .to_vec()
            .unwrap()
    }

    fn hub(placed: &[NodeSpec]) -> Hub {
        let prop = PropagationConfig {
            shadowing_sigma_db: 0.0,
            ..PropagationConfig::default()
        };
        Hub::new(
            7,
            prop,
            placed,
            10.0,
            Duration::from_secs(1_795_564_800),
            Some(FcsKind::Crc16),
            true,
        )
    }

    fn sends(out: &[HubOutput]) -> Vec<(SocketAddr, ZepRepr<'_>)> {
        out.iter()
            .filter_map(|o| match o {
                HubOutput::Send { to, packet } => Some((*to, ZepRepr::parse(packet).unwrap())),
                HubOutput::Capture { .. } => None,
            })
            .collect()
    }

    #[test]
    fn rad01_node_specs_parse() {
        assert_eq!(
            parse_node("7=1.5,-2").unwrap(),
            NodeSpec {
                device_id: 7,
                position: Position::outdoor(1.5, -2.0)
            }
        );
        assert_eq!(
            parse_node("0x10=3,4,indoor").unwrap(),
            NodeSpec {
                device_id: 16,
                position: Position::indoor(3.0, 4.0)
            }
        );
        for bad in ["7", "7=1", "x=1,2", "70000=1,2", "7=1,2,attic", "7=nan,1"] {
            assert!(parse_node(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rad01_hub_forwards_to_tuned_near_nodes_with_lqi_rssi_and_captures() {
        let mut h = hub(&[NodeSpec {
            device_id: 9,
            position: Position::outdoor(5000.0, 0.0),
        }]);
        let mut out = Vec::new();
        assert_eq!(
            h.datagram(Duration::ZERO, addr(2), &zep(2, 33, &[]), &mut out),
            Accepted::Tune
        );
        assert_eq!(
            h.datagram(Duration::ZERO, addr(3), &zep(3, 34, &[]), &mut out),
            Accepted::Tune
        );
        assert_eq!(
            h.datagram(Duration::ZERO, addr(9), &zep(9, 33, &[]), &mut out),
            Accepted::Tune
        );
        let psdu = [0x41, 0xD8, 0x05, 0xFF, 0xFF, 0x01, 0x00, 0xAA, 0xBB];
        let Accepted::Frame(end) = h.datagram(MS, addr(1), &zep(1, 33, &psdu), &mut out) else {
            panic!("not on the air");
        };
        assert!(out.is_empty());
        assert_eq!(h.next_wake(), Some(end));
        h.advance(end, &mut out);
        let got = sends(&out);
        assert_eq!(got.len(), 1, "{got:?}");
        let (to, ZepRepr::Data(d)) = got[0] else {
            panic!()
        };
        assert_eq!(to, addr(2));
        assert_eq!(
            (d.device_id, d.channel, d.mode, d.psdu),
            (2, 33, LqiMode::Crc, &psdu[..])
        );
        let rssi = d.rssi_dbm.unwrap();
        assert!((-80..-30).contains(&rssi), "{rssi}");
        assert_eq!(d.lqi, sim::propagation::lqi(f64::from(rssi)));
        // The frame's end on the wall clock, to the NTP fraction's resolution.
        let ended = Duration::from_secs(1_795_564_800) + end;
        assert!(ended - d.timestamp.to_unix() <= Duration::from_nanos(1));
        let captures: Vec<_> = out
            .iter()
            .filter(|o| matches!(o, HubOutput::Capture { .. }))
            .collect();
        assert_eq!(captures.len(), 1);
        let HubOutput::Capture { record, .. } = captures[0] else {
            panic!()
        };
        let (tap, frame) = TapHeader::unwrap(record).unwrap();
        assert_eq!(frame, &psdu[..]);
        assert_eq!(tap.channel, Some((33, 9)));
        assert_eq!(tap.fcs, Some(FcsKind::Crc16));
        assert!(tap.rss_dbm.is_some());
        let st = h.stats();
        assert_eq!((st.frames, st.deliveries, st.tunes, st.nodes), (1, 1, 3, 4));
    }

    #[test]
    fn rad01_hub_overlapping_frames_collide_and_half_duplex_is_refused() {
        let mut h = hub(&[
            NodeSpec {
                device_id: 1,
                position: Position::outdoor(0.0, 0.0),
            },
            NodeSpec {
                device_id: 2,
                position: Position::outdoor(10.0, 0.0),
            },
            NodeSpec {
                device_id: 3,
                position: Position::outdoor(20.0, 0.0),
            },
        ]);
        let mut out = Vec::new();
        for n in 1..=3 {
            h.datagram(Duration::ZERO, addr(n), &zep(n.into(), 33, &[]), &mut out);
        }
        assert!(matches!(
            h.datagram(MS, addr(1), &zep(1, 33, &[0; 100]), &mut out),
            Accepted::Frame(_)
        ));
        assert!(matches!(
            h.datagram(2 * MS, addr(3), &zep(3, 33, &[0; 100]), &mut out),
            Accepted::Frame(_)
        ));
        assert!(matches!(
            h.datagram(3 * MS, addr(3), &zep(3, 33, &[0; 100]), &mut out),
            Accepted::Refused(MediumError::Transmitting(_))
        ));
        h.advance(Duration::from_secs(1), &mut out);
        assert!(sends(&out).is_empty());
        let st = h.stats();
        assert_eq!(
            (st.frames, st.collided, st.receiver_busy, st.refused),
            (2, 2, 2, 1)
        );
    }

    #[test]
    fn rad01_hub_follows_a_node_to_its_new_address() {
        let mut h = hub(&[]);
        let mut out = Vec::new();
        h.datagram(Duration::ZERO, addr(2), &zep(2, 33, &[]), &mut out);
        let moved = SocketAddr::from(([127, 0, 179, 2], 40_001));
        h.datagram(MS, moved, &zep(2, 33, &[]), &mut out);
        h.datagram(2 * MS, addr(1), &zep(1, 33, &[1, 2, 3]), &mut out);
        h.advance(Duration::from_secs(1), &mut out);
        let to: Vec<SocketAddr> = sends(&out).iter().map(|s| s.0).collect();
        assert_eq!(to, [moved]);
        assert_eq!(h.stats().nodes, 2);
    }

    /// Thousands of datagrams, valid and not, from a dozen senders at random times: no
    /// panic, every datagram counted once, every frame resolved, every forwarded packet a
    /// valid ZEP v2 packet to a node that tuned to the frame's channel.
    #[test]
    fn rad01_hub_survives_a_random_schedule_and_its_counters_add_up() {
        let mut h = Hub::new(
            11,
            PropagationConfig::default(),
            &[],
            60.0,
            Duration::ZERO,
            None,
            true,
        );
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut out = Vec::new();
        let mut now = Duration::ZERO;
        let mut channel_of = BTreeMap::new();
        for _ in 0..3000 {
            now += Duration::from_micros(next() % 8000);
            let r = next();
            let device = (r % 12) as u16;
            let channel = 33 + ((r >> 8) % 3) as u8;
            let len = ((r >> 16) % 140) as usize;
            let from = SocketAddr::from(([127, 0, 179, 10 + device as u8], 40_000));
            let bytes = match (r >> 32) % 10 {
                0 => vec![0xA5; len],
                1 => sim::zep::ack(r as u32).to_vec(),
                2 => zep(device, channel, &[]),
                _ => {
                    let mut p = zep(device, channel, &vec![0x5A; len.min(127)]);
                    if len > 127 {
                        p[31] = len as u8;
                    }
                    p
                }
            };
            let before = out.len();
            h.datagram(now, from, &bytes, &mut out);
            // Whatever was delivered went to nodes listening on its channel.
            for o in out.get(before..).unwrap_or(&[]) {
                if let HubOutput::Send { to, packet } = o {
                    let Ok(ZepRepr::Data(d)) = ZepRepr::parse(packet) else {
                        panic!("invalid packet forwarded");
                    };
                    assert!(!d.psdu.is_empty() && d.psdu.len() <= MAX_PSDU);
                    assert_eq!(d.mode, LqiMode::Crc);
                    assert_eq!(channel_of.get(to), Some(&d.channel));
                }
            }
            // Frames that ended before this datagram were delivered first; its channel
            // counts from now.
            if let Ok(ZepRepr::Data(d)) = ZepRepr::parse(&bytes) {
                channel_of.insert(from, d.channel);
            }
        }
        h.advance(now + Duration::from_secs(1), &mut out);
        assert_eq!(h.next_wake(), None);
        let st = h.stats();
        assert_eq!(
            st.datagrams,
            st.malformed + st.acks + st.tunes + st.frames + st.refused,
            "{st:?}"
        );
        assert!(
            st.frames > 0 && st.deliveries > 0 && st.collided > 0,
            "{st:?}"
        );
        let captured = out
            .iter()
            .filter(|o| matches!(o, HubOutput::Capture { .. }))
            .count() as u64;
        assert_eq!(captured, st.frames);
        let sent = out
            .iter()
            .filter(|o| matches!(o, HubOutput::Send { .. }))
            .count() as u64;
        assert_eq!(sent, st.deliveries);
    }

    #[test]
    fn rad01_hub_drops_malformed_and_long_packets() {
        let mut h = hub(&[]);
        let mut out = Vec::new();
        let mut long = zep(1, 33, &[0; 127]);
        long[31] = 128;
        long.push(0);
        for bad in [&b"hello"[..], &long, &sim::zep::ack(1)[..7]] {
            assert!(matches!(
                h.datagram(Duration::ZERO, addr(1), bad, &mut out),
                Accepted::Malformed(_)
            ));
        }
        assert_eq!(
            h.datagram(Duration::ZERO, addr(1), &sim::zep::ack(1), &mut out),
            Accepted::Ack
        );
        let st = h.stats();
        assert_eq!(
            (st.malformed, st.acks, st.nodes, st.datagrams),
            (3, 1, 0, 4)
        );
    }
}
