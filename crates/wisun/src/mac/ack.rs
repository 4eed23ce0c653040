//! Acknowledgment frames. A 2003/2006 data frame with AR set is answered with the
//! 3-byte Imm-Ack (frame control + sequence number); a frame version 2 frame with AR
//! set is answered with an Enh-Ack, which uses the general frame layout (addresses,
//! security and IEs allowed). Ours: the Enh-Ack carries the acknowledged sequence
//! number and the originator as destination, no PAN IDs and no source (Table 7-2 row
//! "destination only, PAN ID Compression 1"): the originator matches it by sequence
//! number and address, and the frame stays as short as Wireshark accepts.

use alloc::vec::Vec;

use super::{Address, Frame, FrameType, FrameVersion, Header};

/// The Imm-Ack for a 2003/2006 frame with sequence number `sequence_number`.
#[must_use]
pub fn imm_ack(sequence_number: u8, frame_pending: bool) -> Frame {
    Frame {
        header: Header {
            frame_type: FrameType::Ack,
            version: FrameVersion::V2003,
            frame_pending,
            ack_request: false,
            pan_id_compression: false,
            sequence_number: Some(sequence_number),
            dst_pan: None,
            dst: None,
            src_pan: None,
            src: None,
            security: None,
            header_ies: Vec::new(),
        },
        payload_ies: Vec::new(),
        payload: Vec::new(),
    }
}

/// The Enh-Ack for a frame version 2 frame with sequence number `sequence_number`
/// from `originator`.
#[must_use]
pub fn enhanced_ack(sequence_number: u8, originator: Address) -> Frame {
    Frame {
        header: Header {
            frame_type: FrameType::Ack,
            version: FrameVersion::V2015,
            frame_pending: false,
            ack_request: false,
            pan_id_compression: true,
            sequence_number: Some(sequence_number),
            dst_pan: None,
            dst: Some(originator),
            src_pan: None,
            src: None,
            security: None,
            header_ies: Vec::new(),
        },
        payload_ies: Vec::new(),
        payload: Vec::new(),
    }
}

impl Frame {
    /// Whether this frame acknowledges `sent` (same sequence number; an Enh-Ack's
    /// destination, when present, must be `sent`'s source).
    #[must_use]
    pub fn acknowledges(&self, sent: &Header) -> bool {
        self.header.frame_type == FrameType::Ack
            && self.header.sequence_number.is_some()
            && self.header.sequence_number == sent.sequence_number
            && (self.header.dst.is_none() || self.header.dst == sent.src)
    }
}
