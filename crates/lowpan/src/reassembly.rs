//! The receiving side, sans-IO: 6LoWPAN packets in (with the time and the link
//! addresses of the frame that carried them), complete UDP datagrams and ICMPv6 echoes
//! out, with bounded memory and time.
//!
//! Fragments are reassembled into the uncompressed IPv6 datagram (RFC 4944 §5.3: sizes
//! and offsets count there), keyed by (link source, link destination, tag). A datagram
//! whose fragments disagree (size changed, fragment beyond the size, overlap with
//! different bytes) is dropped whole: it cannot be told which fragment is right.
//! Repeated bytes are tolerated (a MAC retransmission whose ACK was lost), and so are
//! fragments of a datagram delivered in the last `timeout` (a late retransmission), so
//! that a datagram is never delivered twice.

use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use smoltcp::wire::{SixlowpanFragPacket, SixlowpanFragRepr, SixlowpanPacket};
use tracing::debug;

use crate::datagram::{Packet, IPV6_MIN_MTU};
use crate::error::{DecodeError, ReceiveError};
use crate::iphc::decompress;
use crate::link::LinkAddress;

/// Limits of a [`Reassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Datagrams in reassembly at once from one link source (default 4): one sender
    /// cannot take every slot.
    pub max_per_source: usize,
    /// Datagrams in reassembly at once in all (default 16; with 1280 bytes each, about
    /// 40 KiB of buffers).
    pub max_total: usize,
    /// Largest datagram accepted (default 1280, the IPv6 minimum MTU 6LoWPAN carries).
    pub max_datagram_size: u16,
    /// How long a partial datagram waits for its missing fragments after its first one
    /// arrived (default 10 s; RFC 4944 allows at most 60 s). A 1280-byte datagram is
    /// about 15 frames of 127 bytes, under 2 s on air at 100 kbit/s even with
    /// retransmissions and carrier-sense waits, so 10 s loses nothing real while freeing
    /// the slot of a lost or hostile datagram six times sooner.
    pub timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_per_source: 4,
            max_total: 16,
            max_datagram_size: IPV6_MIN_MTU as u16,
            timeout: Duration::from_secs(10),
        }
    }
}

/// What the reassembler has done, by outcome; every drop is counted once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Unfragmented packets delivered.
    pub unfragmented: u64,
    /// Fragmented datagrams delivered.
    pub reassembled: u64,
    /// Fragments that brought no new byte (tolerated).
    pub duplicates: u64,
    /// Fragments of a datagram already delivered (tolerated, ignored).
    pub late_duplicates: u64,
    /// Partial datagrams dropped by the timeout.
    pub timeouts: u64,
    /// Packets or datagrams dropped as malformed or unsupported.
    pub malformed: u64,
    /// Datagrams dropped for a bad UDP or ICMPv6 checksum.
    pub bad_checksum: u64,
    /// Fragments or packets refused for a datagram above the maximum size.
    pub too_large: u64,
    /// New datagrams refused by the per-source limit.
    pub too_many_from_source: u64,
    /// New datagrams refused by the total limit.
    pub too_many_total: u64,
    /// Datagrams dropped for inconsistent fragments (size changed, beyond the size,
    /// overlap with different bytes).
    pub inconsistent: u64,
}

/// Which fragments belong together (RFC 4944 §5.3 adds the size; we compare it instead,
/// so that a changed size is caught as an inconsistency rather than starting a second
/// datagram under the same tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    src: LinkAddress,
    dst: LinkAddress,
    tag: u16,
}

#[derive(Debug)]
struct Partial {
    key: Key,
    size: u16,
    started: Duration,
    bytes: Vec<u8>,
    have: Vec<bool>,
    received: usize,
}

#[derive(Debug)]
struct Delivered {
    key: Key,
    size: u16,
    until: Duration,
}

/// Reassembles 6LoWPAN fragments and decodes packets; see the module documentation.
#[derive(Debug)]
pub struct Reassembler {
    config: Config,
    partials: Vec<Partial>,
    delivered: Vec<Delivered>,
    counters: Counters,
}

impl Reassembler {
    /// A reassembler with these limits.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            partials: Vec::new(),
            delivered: Vec::new(),
            counters: Counters::default(),
        }
    }

    /// Its limits.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// What it has done so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Datagrams waiting for fragments.
    pub fn in_reassembly(&self) -> usize {
        self.partials.len()
    }

    /// One MAC payload (6LoWPAN bytes) received at `now` in a frame from `src` to `dst`.
    /// Returns the packet it completes, `None` while fragments are missing (or for a
    /// tolerated duplicate), or why it was dropped. Expires stale datagrams first.
    pub fn receive(
        &mut self,
        now: Duration,
        src: LinkAddress,
        dst: LinkAddress,
        bytes: &[u8],
    ) -> Result<Option<Packet>, ReceiveError> {
        self.expire(now);
        let result = match SixlowpanPacket::dispatch(bytes) {
            Ok(SixlowpanPacket::IphcHeader) => self.unfragmented(src, dst, bytes).map(Some),
            Ok(SixlowpanPacket::FragmentHeader) => self.fragment(now, src, dst, bytes),
            Err(_) => Err(match bytes.first() {
                None => DecodeError::Empty,
                Some(&b) => DecodeError::Dispatch(b),
            }
            .into()),
        };
        if let Err(e) = &result {
            self.count(e);
            debug!(%src, %dst, error = %e, "6LoWPAN packet dropped");
        }
        result
    }

    /// Drop the partial datagrams whose first fragment came `timeout` or longer before
    /// `now`; returns how many.
    pub fn expire(&mut self, now: Duration) -> usize {
        let timeout = self.config.timeout;
        let before = self.partials.len();
        self.partials.retain(|p| {
            let keep = now < p.started.saturating_add(timeout);
            if !keep {
                debug!(
                    src = %p.key.src,
                    tag = p.key.tag,
                    received = p.received,
                    size = p.size,
                    "partial datagram timed out"
                );
            }
            keep
        });
        let dropped = before - self.partials.len();
        self.counters.timeouts += dropped as u64;
        self.delivered.retain(|d| now < d.until);
        dropped
    }

    fn unfragmented(
        &mut self,
        src: LinkAddress,
        dst: LinkAddress,
        bytes: &[u8],
    ) -> Result<Packet, ReceiveError> {
        let d = decompress(bytes, src, dst, None)?;
        let rest = &bytes[d.consumed..];
        let size = d.header.len() + rest.len();
        let max = usize::from(self.config.max_datagram_size);
        if size > max {
            return Err(DecodeError::TooLarge { size, max }.into());
        }
        let mut ipv6 = d.header;
        ipv6.extend_from_slice(rest);
        let packet = Packet::from_ipv6(&ipv6)?;
        self.counters.unfragmented += 1;
        Ok(packet)
    }

    fn fragment(
        &mut self,
        now: Duration,
        src: LinkAddress,
        dst: LinkAddress,
        bytes: &[u8],
    ) -> Result<Option<Packet>, ReceiveError> {
        let frag = SixlowpanFragPacket::new_checked(bytes).map_err(|_| DecodeError::Fragment)?;
        let repr = SixlowpanFragRepr::parse(&frag).map_err(|_| DecodeError::Fragment)?;
        let (size, tag, offset) = match repr {
            SixlowpanFragRepr::FirstFragment { size, tag } => (size, tag, None),
            SixlowpanFragRepr::Fragment { size, tag, offset } => {
                (size, tag, Some(usize::from(offset) * 8))
            }
        };
        if size > self.config.max_datagram_size {
            return Err(ReceiveError::DeclaredTooLarge {
                size,
                max: self.config.max_datagram_size,
            });
        }
        let key = Key { src, dst, tag };
        if self
            .delivered
            .iter()
            .any(|d| d.key == key && d.size == size)
        {
            self.counters.late_duplicates += 1;
            debug!(%src, tag, "fragment of a delivered datagram ignored");
            return Ok(None);
        }
        let (offset, data) = match offset {
            Some(offset) => (offset, frag.payload().to_vec()),
            None => {
                let payload = frag.payload();
                let d = decompress(payload, src, dst, Some(usize::from(size)))?;
                let mut data = d.header;
                data.extend_from_slice(&payload[d.consumed..]);
                (0, data)
            }
        };
        let index = self.partials.iter().position(|p| p.key == key);
        let end = offset + data.len();
        if end > usize::from(size) {
            self.remove(index);
            return Err(ReceiveError::BeyondSize { end, size });
        }
        let index = match index {
            Some(i) if self.partials[i].size != size => {
                let expected = self.partials[i].size;
                self.partials.remove(i);
                return Err(ReceiveError::SizeChanged {
                    expected,
                    got: size,
                });
            }
            Some(i) => i,
            None => self.start(now, key, size)?,
        };
        let partial = &mut self.partials[index];
        let range = offset..end;
        let overlap = partial.have[range.clone()]
            .iter()
            .zip(&partial.bytes[range.clone()])
            .zip(&data)
            .any(|((&have, &old), &new)| have && old != new);
        if overlap {
            self.partials.remove(index);
            return Err(ReceiveError::Overlap { offset });
        }
        let new = partial.have[range.clone()].iter().filter(|h| !**h).count();
        if new == 0 && !data.is_empty() {
            self.counters.duplicates += 1;
        }
        partial.bytes[range.clone()].copy_from_slice(&data);
        partial.have[range].fill(true);
        partial.received += new;
        if partial.received < usize::from(size) {
            return Ok(None);
        }
        let done = self.partials.remove(index);
        self.remember(now, key, size);
        let packet = Packet::from_ipv6(&done.bytes)?;
        self.counters.reassembled += 1;
        Ok(Some(packet))
    }

    /// Open a new partial datagram if the limits allow.
    fn start(&mut self, now: Duration, key: Key, size: u16) -> Result<usize, ReceiveError> {
        let from_source = self
            .partials
            .iter()
            .filter(|p| p.key.src == key.src)
            .count();
        if from_source >= self.config.max_per_source {
            return Err(ReceiveError::TooManyFromSource {
                limit: self.config.max_per_source,
            });
        }
        if self.partials.len() >= self.config.max_total {
            return Err(ReceiveError::TooManyInReassembly {
                limit: self.config.max_total,
            });
        }
        let len = usize::from(size);
        self.partials.push(Partial {
            key,
            size,
            started: now,
            bytes: vec![0; len],
            have: vec![false; len],
            received: 0,
        });
        Ok(self.partials.len() - 1)
    }

    /// Keep the key of a delivered datagram for one timeout, so late retransmissions of
    /// its fragments are ignored; at most `max_total` keys (the oldest go first).
    fn remember(&mut self, now: Duration, key: Key, size: u16) {
        if self.delivered.len() >= self.config.max_total.max(1) {
            self.delivered.remove(0);
        }
        self.delivered.push(Delivered {
            key,
            size,
            until: now.saturating_add(self.config.timeout),
        });
    }

    fn remove(&mut self, index: Option<usize>) {
        if let Some(i) = index {
            self.partials.remove(i);
        }
    }

    fn count(&mut self, e: &ReceiveError) {
        let c = &mut self.counters;
        match e {
            ReceiveError::Decode(DecodeError::UdpChecksum(_) | DecodeError::Icmpv6Checksum(_)) => {
                c.bad_checksum += 1
            }
            ReceiveError::Decode(DecodeError::TooLarge { .. })
            | ReceiveError::DeclaredTooLarge { .. } => c.too_large += 1,
            ReceiveError::Decode(_) => c.malformed += 1,
            ReceiveError::TooManyFromSource { .. } => c.too_many_from_source += 1,
            ReceiveError::TooManyInReassembly { .. } => c.too_many_total += 1,
            ReceiveError::SizeChanged { .. }
            | ReceiveError::BeyondSize { .. }
            | ReceiveError::Overlap { .. } => c.inconsistent += 1,
        }
    }
}

impl Default for Reassembler {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagram::{Echo, EchoKind, UdpDatagram, HOP_LIMIT};
    use crate::fragment::Encoder;

    const TERM: LinkAddress = LinkAddress::Extended([2, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 2]);
    const METER: LinkAddress = LinkAddress::Extended([2, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 1]);
    const T0: Duration = Duration::from_secs(100);

    fn udp(len: usize) -> Packet {
        Packet::Udp(UdpDatagram::link_local(
            TERM,
            METER,
            4059,
            4059,
            (0..len).map(|i| i as u8).collect(),
        ))
    }

    fn fragments(p: &Packet, tag: u16, budget: usize) -> Vec<Vec<u8>> {
        Encoder::new(tag).encode(p, TERM, METER, budget).unwrap()
    }

    #[test]
    fn rad01_unfragmented_udp_and_echo_are_delivered() {
        let mut r = Reassembler::default();
        let p = udp(20);
        let f = fragments(&p, 0, 100);
        assert_eq!(r.receive(T0, TERM, METER, &f[0]), Ok(Some(p)));
        let e = Packet::Echo(Echo {
            src: TERM.link_local(),
            dst: "ff02::1".parse().unwrap(),
            hop_limit: HOP_LIMIT,
            kind: EchoKind::Request,
            ident: 9,
            seq_no: 1,
            data: vec![1; 200],
        });
        let f = Encoder::new(3)
            .encode(&e, TERM, LinkAddress::BROADCAST, 80)
            .unwrap();
        assert!(f.len() > 1);
        let mut out = None;
        for piece in f.iter().rev() {
            out = r.receive(T0, TERM, LinkAddress::BROADCAST, piece).unwrap();
        }
        assert_eq!(out, Some(e));
        assert_eq!(r.counters().unfragmented, 1);
        assert_eq!(r.counters().reassembled, 1);
    }

    #[test]
    fn rad01_duplicates_and_late_retransmissions_deliver_once() {
        let mut r = Reassembler::default();
        let p = udp(500);
        let f = fragments(&p, 42, 100);
        let mut delivered = 0;
        for piece in f.iter().chain(&f[..2]).chain(f.iter()) {
            if r.receive(T0, TERM, METER, piece).unwrap().is_some() {
                delivered += 1;
            }
        }
        assert_eq!(delivered, 1);
        assert_eq!(r.counters().late_duplicates, 2 + f.len() as u64);
        assert_eq!(r.in_reassembly(), 0);
    }

    #[test]
    fn rad01_timeout_drops_partial_datagrams() {
        let mut r = Reassembler::default();
        let f = fragments(&udp(500), 1, 100);
        assert_eq!(r.receive(T0, TERM, METER, &f[0]), Ok(None));
        assert_eq!(r.expire(T0 + Duration::from_millis(9_999)), 0);
        assert_eq!(r.expire(T0 + Duration::from_secs(10)), 1);
        assert_eq!(r.counters().timeouts, 1);
        // the rest alone never completes
        for piece in &f[1..] {
            assert_eq!(
                r.receive(T0 + Duration::from_secs(11), TERM, METER, piece),
                Ok(None)
            );
        }
        assert_eq!(r.in_reassembly(), 1);
    }

    #[test]
    fn rad01_limits_per_source_and_total_are_enforced() {
        let config = Config {
            max_per_source: 2,
            max_total: 3,
            ..Config::default()
        };
        let mut r = Reassembler::new(config);
        let p = udp(300);
        for tag in 0..2 {
            assert_eq!(
                r.receive(T0, TERM, METER, &fragments(&p, tag, 100)[0]),
                Ok(None)
            );
        }
        assert_eq!(
            r.receive(T0, TERM, METER, &fragments(&p, 2, 100)[0]),
            Err(ReceiveError::TooManyFromSource { limit: 2 })
        );
        let other = LinkAddress::Short(5);
        let q = Packet::Udp(UdpDatagram::link_local(other, METER, 1, 2, vec![0; 300]));
        let frag = |tag| Encoder::new(tag).encode(&q, other, METER, 100).unwrap();
        assert_eq!(r.receive(T0, other, METER, &frag(0)[0]), Ok(None));
        assert_eq!(
            r.receive(T0, other, METER, &frag(1)[0]),
            Err(ReceiveError::TooManyInReassembly { limit: 3 })
        );
        assert_eq!(r.counters().too_many_from_source, 1);
        assert_eq!(r.counters().too_many_total, 1);
        assert_eq!(r.in_reassembly(), 3);
    }

    #[test]
    fn rad01_declared_size_above_the_maximum_is_refused() {
        let mut r = Reassembler::default();
        // FRAGN, size 1281, tag 1, offset 1
        let frag = [0xe5, 0x01, 0x00, 0x01, 0x01, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            r.receive(T0, TERM, METER, &frag),
            Err(ReceiveError::DeclaredTooLarge {
                size: 1281,
                max: 1280
            })
        );
        assert_eq!(r.counters().too_large, 1);
        assert_eq!(r.in_reassembly(), 0);
    }

    #[test]
    fn rad01_inconsistent_fragments_drop_the_datagram() {
        let p = udp(300);
        let f = fragments(&p, 1, 100);
        // size changed
        let mut r = Reassembler::default();
        r.receive(T0, TERM, METER, &f[0]).unwrap();
        let mut changed = f[1].clone();
        changed[1] = changed[1].wrapping_add(8);
        assert!(matches!(
            r.receive(T0, TERM, METER, &changed),
            Err(ReceiveError::SizeChanged { .. })
        ));
        assert_eq!(r.in_reassembly(), 0);
        // beyond the size
        r.receive(T0, TERM, METER, &f[0]).unwrap();
        let mut beyond = f[1].clone();
        beyond[4] = 40; // offset 320 + 80 > 348
        assert!(matches!(
            r.receive(T0, TERM, METER, &beyond),
            Err(ReceiveError::BeyondSize { .. })
        ));
        assert_eq!(r.in_reassembly(), 0);
        // overlap with different bytes
        r.receive(T0, TERM, METER, &f[1]).unwrap();
        let mut forged = f[1].clone();
        forged[10] ^= 0xff;
        assert_eq!(
            r.receive(T0, TERM, METER, &forged),
            Err(ReceiveError::Overlap {
                offset: usize::from(f[1][4]) * 8
            })
        );
        assert_eq!(r.in_reassembly(), 0);
        assert_eq!(r.counters().inconsistent, 3);
    }

    #[test]
    fn rad01_bad_checksum_after_reassembly_is_dropped_and_counted() {
        let mut r = Reassembler::default();
        let mut f = fragments(&udp(300), 1, 100);
        let last = f.len() - 1;
        let n = f[last].len() - 1;
        f[last][n] ^= 1;
        let mut result = Ok(None);
        for piece in &f {
            result = r.receive(T0, TERM, METER, piece);
        }
        assert!(matches!(
            result,
            Err(ReceiveError::Decode(DecodeError::UdpChecksum(_)))
        ));
        assert_eq!(r.counters().bad_checksum, 1);
    }

    #[test]
    fn rad01_garbage_is_a_typed_error() {
        let mut r = Reassembler::default();
        assert_eq!(
            r.receive(T0, TERM, METER, &[]),
            Err(ReceiveError::Decode(DecodeError::Empty))
        );
        assert_eq!(
            r.receive(T0, TERM, METER, &[0x41, 0x60]),
            Err(ReceiveError::Decode(DecodeError::Dispatch(0x41)))
        );
        assert_eq!(
            r.receive(T0, TERM, METER, &[0xc0, 0x10]),
            Err(ReceiveError::Decode(DecodeError::Fragment))
        );
        assert_eq!(r.counters().malformed, 3);
    }
}
