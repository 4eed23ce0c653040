//! The IoT route's IPv6 interface on one node (RAD-01): UDP over 6LoWPAN over the MAC,
//! link-local addresses from the EUI-64s, fragmentation to the PSDU size and reassembly,
//! ICMPv6 echo answered.
//!
//! Which traffic may travel without layer-2 security is decided here **(ours)**: only
//! PANA (UDP 716), which must work before a terminal has a key and carries its own AUTH
//! AVP. Both ways: [`Net::send_udp`] refuses to send anything else in the clear, and
//! anything else received in the clear — UDP to another port, ICMPv6 echo — is dropped
//! and counted, never answered (SEC-03: DLMS never crosses the radio unencrypted).
//!
//! Reassembly keeps security apart: fragments reassemble only with fragments that came
//! under the same key (or, for PANA, in the clear), each context in its own reassembler.
//! A datagram is secured only if every fragment was, under one key, and an unsecured
//! fragment — spoofed by anyone in range — never touches a secured datagram in progress.

use core::time::Duration;
use std::collections::BTreeMap;

use lowpan::{Echo, EchoKind, Encoder, LinkAddress, Packet, Reassembler, UdpDatagram};
use wisun::mac::fcs::FcsKind;
use wisun::mac::{Eui64, Frame};

use super::mac::{Mac, MacDst, MacError, MacIndication};

/// PANA's UDP port: the one port served without layer-2 security.
pub const PANA_PORT: u16 = pana::message::UDP_PORT;

/// Configuration.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// The largest PSDU we send **(ours: 255)**: frames stay short so a collision or a
    /// fade costs little air time (and a PSDU of 127 or less suits the ZEP hub).
    pub max_psdu: usize,
    /// UDP ports accepted without layer-2 security.
    pub unsecured_ports: Vec<u16>,
    /// Reassembly limits.
    pub reassembly: lowpan::Config,
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            max_psdu: 255,
            unsecured_ports: vec![PANA_PORT],
            reassembly: lowpan::Config::default(),
        }
    }
}

/// What the interface tells the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// A UDP datagram for us.
    Udp {
        /// The datagram.
        datagram: UdpDatagram,
        /// The link sender.
        from: Eui64,
        /// Whether it came secured at layer 2.
        secured: bool,
    },
    /// A non-data frame (the scan's EBR and EB).
    Frame {
        /// The frame.
        frame: Frame,
        /// Received signal strength, dBm.
        rssi_dbm: i16,
        /// Link quality.
        lqi: u8,
    },
    /// A frame to `dst` never got through.
    SendFailed {
        /// Where it was going.
        dst: MacDst,
    },
    /// The MAC's frame counter passed the rekey threshold.
    RekeyNeeded,
}

/// Why a datagram was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// The MAC refused a fragment.
    #[error("{0}")]
    Mac(#[from] MacError),
    /// The datagram could not be encoded (too large for IPv6's 1280 bytes).
    #[error("6LoWPAN: {0}")]
    Encode(String),
    /// Only the ports of [`NetConfig::unsecured_ports`] (PANA) may go without
    /// layer-2 security.
    #[error("UDP to port {0} must be secured at layer 2 (SEC-03)")]
    MustBeSecured(u16),
}

/// What the interface counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// UDP datagrams sent.
    pub udp_sent: u64,
    /// 6LoWPAN fragments sent (frames of fragmented datagrams).
    pub fragments_sent: u64,
    /// UDP datagrams delivered.
    pub udp_received: u64,
    /// Datagrams dropped in reassembly or decoding.
    pub dropped: u64,
    /// UDP datagrams refused for arriving unsecured on a port that needs security.
    pub unsecured_refused: u64,
    /// ICMPv6 echo requests answered.
    pub echoes_answered: u64,
    /// ICMPv6 echo requests refused for arriving unsecured.
    pub echoes_refused: u64,
}

/// The interface.
#[derive(Debug)]
pub struct Net {
    mac: Mac,
    config: NetConfig,
    encoder: Encoder,
    /// One reassembler per security context: `None` in the clear, else the key index.
    /// Boxed: a map's node holds eleven entries whatever their number (2 KiB a node,
    /// for the one or two contexts a node has).
    reassemblers: BTreeMap<Option<u8>, Box<Reassembler>>,
    stats: NetStats,
}

/// What the MAC puts around a 6LoWPAN packet sent to `dst`: the header (frame control,
/// sequence number, destination PAN, addresses), the auxiliary security header and MIC
/// when secured, and the FCS.
const fn mac_overhead(dst: MacDst, secure: bool) -> usize {
    let dst_len = match dst {
        MacDst::Broadcast => 2,
        MacDst::Unicast(_) => 8,
    };
    let header = 2 + 1 + 2 + dst_len + 8;
    // Level 5..7 with key identifier mode 1: control, counter, key index.
    let security = if secure { 1 + 4 + 1 + 16 } else { 0 };
    header + security + FcsKind::Crc32.size()
}

/// The most [`mac_overhead`] can be.
const MAC_OVERHEAD_MAX: usize = mac_overhead(MacDst::Unicast(Eui64([0; 8])), true);

impl Net {
    /// Over `mac`; `first_tag` starts the datagram tags (random or persisted, so a
    /// restart does not reuse the previous run's tags).
    #[must_use]
    pub fn new(mac: Mac, config: NetConfig, first_tag: u16) -> Self {
        Self {
            reassemblers: BTreeMap::new(),
            mac,
            config,
            // Room for the MAC to build each frame in the packet's buffer.
            encoder: Encoder::new(first_tag).with_room(MAC_OVERHEAD_MAX),
            stats: NetStats::default(),
        }
    }

    /// What it was made with (the one copy: the link above keeps none).
    #[must_use]
    pub const fn config(&self) -> &NetConfig {
        &self.config
    }

    /// The MAC.
    #[must_use]
    pub const fn mac(&self) -> &Mac {
        &self.mac
    }

    /// The MAC, to set the PAN and keys or queue scan frames.
    pub const fn mac_mut(&mut self) -> &mut Mac {
        &mut self.mac
    }

    /// The counters.
    #[must_use]
    pub const fn stats(&self) -> NetStats {
        self.stats
    }

    /// The 6LoWPAN budget of one frame to `dst`: the PSDU limit less the MAC overhead.
    fn budget(&self, dst: MacDst, secure: bool) -> usize {
        self.config
            .max_psdu
            .saturating_sub(mac_overhead(dst, secure))
    }

    /// Send `payload` from our `src_port` to `dst_port` of `dst` (its link-local
    /// address; ff02::1 for broadcast), secured when `secure`.
    ///
    /// # Errors
    /// [`NetError::MustBeSecured`] for `secure == false` to a port that may not travel
    /// in the clear; other [`NetError`]s.
    pub fn send_udp(
        &mut self,
        now: Duration,
        dst: MacDst,
        ports: (u16, u16),
        payload: Vec<u8>,
        secure: bool,
    ) -> Result<Vec<NetEvent>, NetError> {
        if !secure && !self.config.unsecured_ports.contains(&ports.1) {
            tracing::warn!(port = ports.1, "unsecured UDP not sent (SEC-03)");
            return Err(NetError::MustBeSecured(ports.1));
        }
        let own = LinkAddress::Extended(self.mac.eui64().0);
        let (dst_link, dst_ip) = match dst {
            MacDst::Unicast(e) => (
                LinkAddress::Extended(e.0),
                LinkAddress::Extended(e.0).link_local(),
            ),
            MacDst::Broadcast => (
                LinkAddress::BROADCAST,
                core::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1),
            ),
        };
        let datagram = UdpDatagram {
            dst: dst_ip,
            ..UdpDatagram::link_local(own, dst_link, ports.0, ports.1, payload)
        };
        self.send_packet(now, dst, &Packet::Udp(datagram), secure)
    }

    fn send_packet(
        &mut self,
        now: Duration,
        dst: MacDst,
        packet: &Packet,
        secure: bool,
    ) -> Result<Vec<NetEvent>, NetError> {
        let own = LinkAddress::Extended(self.mac.eui64().0);
        let dst_link = match dst {
            MacDst::Unicast(e) => LinkAddress::Extended(e.0),
            MacDst::Broadcast => LinkAddress::BROADCAST,
        };
        let pieces = self
            .encoder
            .encode(packet, own, dst_link, self.budget(dst, secure))
            .map_err(|e| NetError::Encode(e.to_string()))?;
        let fragmented = pieces.len() > 1;
        let mut events = Vec::new();
        for piece in pieces {
            for ind in self.mac.send_data(now, dst, piece, secure)? {
                events.extend(map_indication(ind));
            }
            if fragmented {
                self.stats.fragments_sent += 1;
            }
        }
        if matches!(packet, Packet::Udp(_)) {
            self.stats.udp_sent += 1;
        }
        Ok(events)
    }

    /// See [`Mac::next_wakeup`].
    #[must_use]
    pub fn next_wakeup(&self) -> Option<Duration> {
        self.mac.next_wakeup()
    }

    /// See [`Mac::wake`].
    pub fn wake(
        &mut self,
        now: Duration,
        channel_busy: &mut dyn FnMut() -> bool,
        air_time: &dyn Fn(usize) -> Duration,
    ) -> (Option<Vec<u8>>, Vec<NetEvent>) {
        let (psdu, ind) = self.mac.wake(now, channel_busy, air_time);
        (psdu, ind.into_iter().filter_map(map_indication).collect())
    }

    /// A PSDU received: the acknowledgment to send at once, if any, and events.
    pub fn receive(
        &mut self,
        now: Duration,
        psdu: &[u8],
        rssi_dbm: i16,
        lqi: u8,
        air_time: &dyn Fn(usize) -> Duration,
    ) -> (Option<Vec<u8>>, Vec<NetEvent>) {
        let (ack, indications) = self.mac.receive(now, psdu, rssi_dbm, lqi, air_time);
        let mut events = Vec::new();
        for ind in indications {
            let MacIndication::Data {
                src,
                broadcast,
                payload,
                key_index,
                ..
            } = ind
            else {
                events.extend(map_indication(ind));
                continue;
            };
            let dst = if broadcast {
                LinkAddress::BROADCAST
            } else {
                LinkAddress::Extended(self.mac.eui64().0)
            };
            let reassembler = self.reassembler(key_index);
            match reassembler.receive(now, LinkAddress::Extended(src.0), dst, &payload) {
                Ok(None) => {}
                Ok(Some(Packet::Udp(datagram))) => {
                    let secured = key_index.is_some();
                    if !secured && !self.config.unsecured_ports.contains(&datagram.dst_port) {
                        self.stats.unsecured_refused += 1;
                        tracing::warn!(from = ?src, port = datagram.dst_port, "unsecured UDP refused (SEC-03)");
                        continue;
                    }
                    self.stats.udp_received += 1;
                    events.push(NetEvent::Udp {
                        datagram,
                        from: src,
                        secured,
                    });
                }
                Ok(Some(Packet::Echo(echo))) => {
                    if echo.kind != EchoKind::Request || broadcast {
                        continue;
                    }
                    if key_index.is_none() {
                        // Only PANA goes in the clear: an echo answered unsecured would
                        // tell anyone in range that we are here, and what our
                        // counters are doing.
                        self.stats.echoes_refused += 1;
                        tracing::debug!(from = ?src, "unsecured echo request not answered (SEC-03)");
                        continue;
                    }
                    self.answer_echo(now, src, &echo);
                }
                Err(_) => self.stats.dropped += 1,
            }
        }
        (ack, events)
    }

    /// The reassembler of a security context, made on first use; contexts of keys the
    /// MAC no longer holds go (their partial datagrams can never complete).
    fn reassembler(&mut self, key_index: Option<u8>) -> &mut Reassembler {
        let mac = &self.mac;
        self.reassemblers
            .retain(|k, _| k.is_none_or(|i| mac.has_key(i)));
        let config = self.config.reassembly;
        self.reassemblers
            .entry(key_index)
            .or_insert_with(|| Box::new(Reassembler::new(config)))
    }

    fn answer_echo(&mut self, now: Duration, to: Eui64, echo: &Echo) {
        let own = LinkAddress::Extended(self.mac.eui64().0).link_local();
        let reply = Packet::Echo(echo.reply(own));
        if self
            .send_packet(now, MacDst::Unicast(to), &reply, true)
            .is_ok()
        {
            self.stats.echoes_answered += 1;
        }
    }
}

fn map_indication(ind: MacIndication) -> Option<NetEvent> {
    match ind {
        MacIndication::Frame {
            frame,
            rssi_dbm,
            lqi,
        } => Some(NetEvent::Frame {
            frame,
            rssi_dbm,
            lqi,
        }),
        MacIndication::SendFailed { dst } => Some(NetEvent::SendFailed { dst }),
        MacIndication::RekeyNeeded => Some(NetEvent::RekeyNeeded),
        // Data frames go through reassembly in `receive`.
        MacIndication::Data { .. } => None,
    }
}
