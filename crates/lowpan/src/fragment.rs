//! The sending side: compress a datagram and, when it does not fit one MAC payload,
//! split it into FRAG1/FRAGN fragments (RFC 4944 §5.3) with smoltcp's
//! `SixlowpanFragRepr`.
//!
//! Sizes and offsets count in the uncompressed IPv6 datagram; the compressed headers ride
//! in the first fragment (RFC 6282 §2) and stand for the uncompressed ones, so the first
//! fragment carries as many payload bytes as bring it to a multiple of 8 octets of the
//! uncompressed datagram, and every further fragment but the last a multiple of 8.

use alloc::vec::Vec;

use smoltcp::wire::{SixlowpanFragPacket, SixlowpanFragRepr};

use crate::datagram::{Packet, IPV6_MIN_MTU};
use crate::error::EncodeError;
use crate::iphc::compress;
use crate::link::LinkAddress;

/// FRAG1 header length (dispatch + size, tag).
pub const FRAG1_HEADER_LEN: usize = 4;
/// FRAGN header length (dispatch + size, tag, offset).
pub const FRAGN_HEADER_LEN: usize = 5;
/// Fragment offsets and non-last fragment lengths come in units of 8 octets.
const UNIT: usize = 8;

/// Encodes datagrams of one sender into 6LoWPAN packets, each fitting the MAC payload
/// budget, and hands out its datagram tags.
///
/// One per sending interface: the tag tells a receiver's reassembler which fragments
/// belong together (with the link addresses), so it must change from one fragmented
/// datagram to the next. It starts where the caller says: a node that restarts should
/// not start at the same tag as before (a receiver may still hold fragments of the old
/// datagram under it), so it passes a random or persisted value.
#[derive(Debug, Clone)]
pub struct Encoder {
    next_tag: u16,
    room: usize,
}

impl Encoder {
    /// An encoder whose first fragmented datagram gets tag `first_tag`.
    pub fn new(first_tag: u16) -> Self {
        Self {
            next_tag: first_tag,
            room: 0,
        }
    }

    /// Each packet allocated with `bytes` to spare: a link layer that builds its frame in
    /// the packet's own buffer (`wisun::ccm_star::secure_owned`: header, MIC, FCS) then
    /// needs no second allocation.
    #[must_use]
    pub fn with_room(self, bytes: usize) -> Self {
        Self {
            room: bytes,
            ..self
        }
    }

    /// The tag the next fragmented datagram will get.
    pub fn next_tag(&self) -> u16 {
        self.next_tag
    }

    /// `packet` sent from `src` to `dst` on the link as 6LoWPAN packets of at most
    /// `budget` bytes each (the MAC payload left after the MAC header, security header,
    /// IEs, MIC and FCS): one packet when it fits, fragments otherwise. The tag advances
    /// only when fragments are made.
    pub fn encode(
        &mut self,
        packet: &Packet,
        src: LinkAddress,
        dst: LinkAddress,
        budget: usize,
    ) -> Result<Vec<Vec<u8>>, EncodeError> {
        let size = packet.ipv6_len();
        if size > IPV6_MIN_MTU {
            return Err(EncodeError::TooLarge {
                size,
                max: IPV6_MIN_MTU,
            });
        }
        let c = compress(packet, src, dst);
        let rest = &c.ipv6[c.covers..];
        if c.header.len() + rest.len() <= budget {
            let mut whole = Vec::with_capacity(c.header.len() + rest.len() + self.room);
            whole.extend_from_slice(&c.header);
            whole.extend_from_slice(rest);
            return Ok(alloc::vec![whole]);
        }
        // The first fragment carries the compressed headers and fills the uncompressed
        // datagram up to a multiple of 8; the others need room for at least 8 bytes.
        let needed = (FRAG1_HEADER_LEN + c.header.len() + (UNIT - c.covers % UNIT) % UNIT)
            .max(FRAGN_HEADER_LEN + UNIT);
        if budget < needed {
            return Err(EncodeError::BudgetTooSmall { budget, needed });
        }
        let first_end = (budget - FRAG1_HEADER_LEN - c.header.len() + c.covers) / UNIT * UNIT;
        let next_len = (budget - FRAGN_HEADER_LEN) / UNIT * UNIT;
        // `size` <= 1280 fits the 11-bit field and offsets fit 8 bits (1280 / 8 = 160).
        let size16 = size as u16;
        let tag = self.next_tag;
        self.next_tag = self.next_tag.wrapping_add(1);

        let mut out = Vec::new();
        let first = SixlowpanFragRepr::FirstFragment { size: size16, tag };
        let mut piece = header_bytes(&first, budget + self.room);
        piece.extend_from_slice(&c.header);
        piece.extend_from_slice(&c.ipv6[c.covers..first_end]);
        out.push(piece);
        let mut offset = first_end;
        while offset < size {
            let end = (offset + next_len).min(size);
            let repr = SixlowpanFragRepr::Fragment {
                size: size16,
                tag,
                offset: (offset / UNIT) as u8,
            };
            let mut piece = header_bytes(&repr, budget + self.room);
            piece.extend_from_slice(&c.ipv6[offset..end]);
            out.push(piece);
            offset = end;
        }
        Ok(out)
    }
}

/// The fragment header in a buffer of `capacity` (the fragment's budget and room).
fn header_bytes(repr: &SixlowpanFragRepr, capacity: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(capacity.max(repr.buffer_len()));
    bytes.resize(repr.buffer_len(), 0);
    repr.emit(&mut SixlowpanFragPacket::new_unchecked(&mut bytes[..]));
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datagram::UdpDatagram;

    const TERM: LinkAddress = LinkAddress::Extended([2, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 2]);
    const METER: LinkAddress = LinkAddress::Extended([2, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 1]);

    fn udp(len: usize) -> Packet {
        Packet::Udp(UdpDatagram::link_local(
            TERM,
            METER,
            4059,
            4059,
            alloc::vec![0x5a; len],
        ))
    }

    #[test]
    fn rad01_a_datagram_that_fits_is_not_fragmented_and_keeps_the_tag() {
        let mut enc = Encoder::new(7);
        let out = enc.encode(&udp(10), TERM, METER, 19).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].len(), 9 + 10);
        assert_eq!(enc.next_tag(), 7);
    }

    #[test]
    fn rad01_fragments_fit_the_budget_and_align_to_8_octets() {
        let mut enc = Encoder::new(0xfffe);
        let out = enc.encode(&udp(1000), TERM, METER, 90).unwrap();
        assert!(out.iter().all(|p| p.len() <= 90));
        // FRAG1: size 1048, tag 0xfffe, 9 header bytes standing for 48, then 72 bytes:
        // 120 bytes of the uncompressed datagram, a multiple of 8
        assert_eq!(&out[0][..4], &[0xc4, 0x18, 0xff, 0xfe]);
        assert_eq!(out[0].len(), 4 + 9 + 72);
        // FRAGN: offset 120 / 8 = 15, 80 bytes (a multiple of 8)
        assert_eq!(&out[1][..5], &[0xe4, 0x18, 0xff, 0xfe, 15]);
        assert_eq!(out[1].len(), 5 + 80);
        let total: usize = out[1..].iter().map(|p| p.len() - 5).sum();
        assert_eq!(120 + total, 1048);
        assert_eq!(enc.next_tag(), 0xffff);
        enc.encode(&udp(1000), TERM, METER, 90).unwrap();
        assert_eq!(enc.next_tag(), 0, "tags wrap");
    }

    #[test]
    fn rad01_room_for_the_link_layer_changes_capacity_not_bytes() {
        for len in [10, 1000] {
            let plain = Encoder::new(7).encode(&udp(len), TERM, METER, 100).unwrap();
            let roomy = Encoder::new(7)
                .with_room(47)
                .encode(&udp(len), TERM, METER, 100)
                .unwrap();
            assert_eq!(plain, roomy, "{len}");
            for p in &roomy {
                assert!(
                    p.capacity() >= p.len() + 47,
                    "{len}: {} of {}",
                    p.len(),
                    p.capacity()
                );
            }
        }
    }

    #[test]
    fn rad01_oversized_datagrams_and_tiny_budgets_are_refused() {
        let mut enc = Encoder::new(0);
        assert_eq!(
            enc.encode(&udp(1233), TERM, METER, 100),
            Err(EncodeError::TooLarge {
                size: 1281,
                max: 1280
            })
        );
        assert!(enc.encode(&udp(1232), TERM, METER, 100).is_ok());
        assert_eq!(
            enc.encode(&udp(100), TERM, METER, 12),
            Err(EncodeError::BudgetTooSmall {
                budget: 12,
                needed: 13
            })
        );
        assert!(enc.encode(&udp(100), TERM, METER, 13).is_ok());
    }
}
