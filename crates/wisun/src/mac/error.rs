//! Why bytes are not an IEEE 802.15.4 frame, or why a frame description cannot be put on
//! the air. One enum for both directions so that a caller matching on a parse failure
//! and one building a frame see the same names; parse errors carry the byte offset into
//! the MPDU (the frame without its FCS) where the problem was found.

/// A malformed frame or a frame description that cannot be emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The frame ends before a field it announces.
    #[error("byte {offset}: frame truncated, {needed} more byte(s) needed")]
    Truncated {
        /// Where the missing field starts.
        offset: usize,
        /// Bytes missing.
        needed: usize,
    },
    /// Longer than the SUN PHY's aMaxPhyPacketSize (2047 bytes including the FCS).
    #[error("frame of {len} bytes exceeds the SUN PHY limit of 2047")]
    TooLong {
        /// The frame length.
        len: usize,
    },
    /// Frame types 4 (reserved), 5 (multipurpose), 6 (fragment) and 7 (extended): a
    /// different frame control layout we neither send nor need.
    #[error("byte 0: frame type {0} not supported")]
    UnsupportedFrameType(u8),
    /// Frame version 3 is reserved.
    #[error("byte 1: frame version 3 is reserved")]
    ReservedVersion,
    /// A reserved frame control bit is set (bit 7; bits 8 and 9 before frame version 2).
    #[error("bytes 0-1: reserved frame control bit(s) {mask:#06x} set")]
    ReservedBits {
        /// The offending bits.
        mask: u16,
    },
    /// Addressing mode 1 is reserved.
    #[error("byte 1: addressing mode 1 is reserved")]
    ReservedAddressingMode,
    /// A 2003/2006 frame with PAN ID Compression but not both addresses: the standard
    /// gives it no meaning.
    #[error("byte 0: PAN ID compression without both addresses in a 2003/2006 frame")]
    PanIdCompression,
    /// The PAN IDs given do not match what the PAN ID compression table says for the
    /// addressing modes and the compression bit (emit only).
    #[error("PAN IDs present do not match the PAN ID compression table")]
    PanIdPresence,
    /// A secured 2003 frame: its auxiliary header differs and nothing we talk to sends it.
    #[error("byte 0: security in a 2003 frame not supported")]
    Security2003,
    /// Sequence number suppression or IEs asked of a 2003/2006 frame (emit only).
    #[error("sequence number suppression and IEs need frame version 2")]
    NeedsVersion2,
    /// Reserved bits in the Security Control field.
    #[error("byte {offset}: reserved security control bit set")]
    ReservedSecurityBits {
        /// Offset of the Security Control field.
        offset: usize,
    },
    /// The IE Present bit is set but no IE follows.
    #[error("byte {offset}: IE Present set but no IE follows")]
    NoIe {
        /// Where the first IE should be.
        offset: usize,
    },
    /// A Header IE descriptor with the payload type bit, or the reverse.
    #[error("byte {offset}: IE of the wrong kind (header/payload type bit)")]
    IeType {
        /// Offset of the descriptor.
        offset: usize,
    },
    /// A termination IE (HT1, HT2, Payload Termination) with content.
    #[error("byte {offset}: termination IE with content")]
    TerminationLength {
        /// Offset of the descriptor.
        offset: usize,
    },
    /// A vendor-specific IE shorter than its 3-byte OUI.
    #[error("byte {offset}: vendor-specific IE shorter than its OUI")]
    VendorIeTooShort {
        /// Offset of the descriptor.
        offset: usize,
    },
    /// IE content longer than its descriptor can announce, or an ID out of range
    /// (emit only).
    #[error("IE field out of range: {0}")]
    IeField(&'static str),
    /// The IE lists and the payload are not laid out as Table 7-6 of 802.15.4-2015
    /// requires, so a receiver could not find where they end (emit only).
    #[error("IE termination: {0}")]
    IeTermination(&'static str),
    /// A plain frame description carries an auxiliary security header: secure it with
    /// `ccm_star::secure` instead (emit only).
    #[error("frame has a security header: use ccm_star::secure to emit it")]
    NeedsSecuring,
    /// A secured frame description without its auxiliary security header (emit only).
    #[error("secured frame without an auxiliary security header")]
    MissingSecurityHeader,
    /// A secured frame shorter than its MIC.
    #[error("byte {offset}: secured frame shorter than its {mic_len}-byte MIC")]
    MicMissing {
        /// Where the secured part starts.
        offset: usize,
        /// The MIC length of the security level.
        mic_len: usize,
    },
}

impl FrameError {
    /// The byte offset in the MPDU the error refers to, for parse errors that have one.
    #[must_use]
    pub const fn offset(&self) -> Option<usize> {
        match self {
            Self::Truncated { offset, .. }
            | Self::ReservedSecurityBits { offset }
            | Self::NoIe { offset }
            | Self::IeType { offset }
            | Self::TerminationLength { offset }
            | Self::VendorIeTooShort { offset }
            | Self::MicMissing { offset, .. } => Some(*offset),
            Self::UnsupportedFrameType(_)
            | Self::ReservedBits { .. }
            | Self::PanIdCompression
            | Self::Security2003 => Some(0),
            Self::ReservedVersion | Self::ReservedAddressingMode => Some(1),
            Self::TooLong { .. }
            | Self::PanIdPresence
            | Self::NeedsVersion2
            | Self::IeField(_)
            | Self::IeTermination(_)
            | Self::NeedsSecuring
            | Self::MissingSecurityHeader => None,
        }
    }
}
