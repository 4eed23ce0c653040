//! A capture audit (SEC-03, RAD-01): what a security reviewer checks in a pcap of the
//! IoT route, frame by frame, without any key.
//!
//! - **Nonce reuse**: the CCM* nonce is the source EUI-64 and the frame counter (with
//!   the level), so the same (source, key index, frame counter) on two *different*
//!   secured frames is the same nonce twice under one key — the keystream given away.
//!   A retransmission repeats the same bytes and is not one.
//! - **Acknowledgments**: 802.15.4-2015 §6.7.4.2 answers a frame version 2 frame with an
//!   Enh-Ack; an Imm-Ack answering one is counted.
//!
//! Feed it every MPDU (FCS stripped) in capture order.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::{Eui64, FrameType, FrameVersion, Header, Mpdu};

/// A nonce used twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NonceReuse {
    /// The sender.
    pub source: Eui64,
    /// The key index.
    pub key_index: u8,
    /// The frame counter.
    pub frame_counter: u32,
}

/// The audit so far.
#[derive(Debug, Clone, Default)]
pub struct CaptureAudit {
    /// The first secured frame seen per nonce.
    nonces: BTreeMap<(Eui64, u8, u32), Vec<u8>>,
    reused: Vec<NonceReuse>,
    /// The last frame that asked for an acknowledgment: its sequence number and version.
    awaiting: Option<(u8, FrameVersion)>,
    /// Frames that did not parse.
    pub malformed: u64,
    /// Secured frames seen.
    pub secured: u64,
    /// Enh-Acks answering a frame version 2 frame.
    pub enh_acks: u64,
    /// Imm-Acks answering a frame version 2 frame (802.15.4-2015 wants an Enh-Ack).
    pub imm_acks_to_2015: u64,
}

impl CaptureAudit {
    /// An empty audit.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// One MPDU (without its FCS), in capture order.
    pub fn add(&mut self, mpdu: &[u8]) {
        let parsed = match Mpdu::parse(mpdu) {
            Ok(p) => p,
            Err(_) => {
                self.malformed += 1;
                return;
            }
        };
        let header: &Header = match &parsed {
            Mpdu::Plain(f) => &f.header,
            Mpdu::Secured(f) => &f.header,
        };
        if header.frame_type == FrameType::Ack {
            if let Some((seq, FrameVersion::V2015)) = self.awaiting {
                if header.sequence_number == Some(seq) {
                    if header.version == FrameVersion::V2015 {
                        self.enh_acks += 1;
                    } else {
                        self.imm_acks_to_2015 += 1;
                    }
                }
            }
            return;
        }
        if header.ack_request {
            if let Some(seq) = header.sequence_number {
                self.awaiting = Some((seq, header.version));
            }
        }
        let Mpdu::Secured(f) = &parsed else {
            return;
        };
        self.secured += 1;
        let (Some(source), Some(sec)) = (f.header.src_eui64(), f.header.security) else {
            return;
        };
        let (Some(key_index), Some(frame_counter)) = (sec.key_id.index(), sec.frame_counter) else {
            return;
        };
        let first = self
            .nonces
            .entry((source, key_index, frame_counter))
            .or_insert_with(|| mpdu.to_vec());
        if first.as_slice() != mpdu {
            self.reused.push(NonceReuse {
                source,
                key_index,
                frame_counter,
            });
        }
    }

    /// Every nonce found on two different frames, in capture order.
    #[must_use]
    pub fn reused(&self) -> &[NonceReuse] {
        &self.reused
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ccm_star;
    use crate::mac::ack::{enhanced_ack, imm_ack};
    use crate::mac::{Address, AuxSecurityHeader, Frame, SecurityLevel};

    const SRC: Eui64 = Eui64([2, 0, 0, 0, 0, 0, 0, 1]);
    const DST: Eui64 = Eui64([2, 0, 0, 0, 0, 0, 0, 2]);

    fn secured(counter: u32, payload: &[u8]) -> Vec<u8> {
        let mut header = Header::new_2015(
            FrameType::Data,
            Some(7),
            (Some(0x1234), Some(Address::Extended(DST))),
            (None, Some(Address::Extended(SRC))),
        )
        .unwrap();
        header.ack_request = true;
        header.security = Some(AuxSecurityHeader::new(SecurityLevel::EncMic32, counter, 1));
        let frame = Frame {
            header,
            payload_ies: Vec::new(),
            payload: payload.to_vec(),
        };
        ccm_star::secure(&frame, &[9; 16]).unwrap()
    }

    #[test]
    fn sec03_a_nonce_on_two_different_frames_is_found_a_retransmission_is_not() {
        let mut audit = CaptureAudit::new();
        let first = secured(5, b"one");
        audit.add(&first);
        audit.add(&first);
        audit.add(&secured(6, b"two"));
        assert!(audit.reused().is_empty());
        audit.add(&secured(5, b"not one"));
        assert_eq!(
            audit.reused(),
            &[NonceReuse {
                source: SRC,
                key_index: 1,
                frame_counter: 5
            }]
        );
        assert_eq!(audit.secured, 4);
    }

    #[test]
    fn rad01_an_imm_ack_to_a_2015_frame_is_counted() {
        let mut audit = CaptureAudit::new();
        audit.add(&secured(1, b"a"));
        audit.add(&enhanced_ack(7, Address::Extended(SRC)).emit().unwrap());
        audit.add(&secured(2, b"b"));
        audit.add(&imm_ack(7, false).emit().unwrap());
        assert_eq!((audit.enh_acks, audit.imm_acks_to_2015), (1, 1));
        audit.add(&[0xff]);
        assert_eq!(audit.malformed, 1);
    }
}
