//! The auxiliary security header (802.15.4-2015 §9.4): Security Control, Frame Counter
//! (little-endian on air, absent when suppressed) and Key Identifier (key identifier
//! modes 0-3). SEC-03: this header and the CCM* of `ccm_star` are the layer-2 encryption.

use alloc::vec::Vec;

use super::{reader::Reader, FrameError};

/// Security levels (Table 9-6). The MIC length and whether the payload is encrypted
/// follow from the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SecurityLevel {
    /// 0: no protection.
    None,
    /// 1: MIC-32, authentication only.
    Mic32,
    /// 2: MIC-64.
    Mic64,
    /// 3: MIC-128.
    Mic128,
    /// 4: encryption without MIC; reserved since 802.15.4-2015, read but never secured
    /// or opened.
    Enc,
    /// 5: ENC-MIC-32, our default (ours: 4 bytes of overhead at 100 kbit/s).
    EncMic32,
    /// 6: ENC-MIC-64.
    EncMic64,
    /// 7: ENC-MIC-128.
    EncMic128,
}

impl SecurityLevel {
    /// The level from its three-bit value (higher bits ignored).
    #[must_use]
    pub const fn from_bits(bits: u8) -> Self {
        match bits & 7 {
            0 => Self::None,
            1 => Self::Mic32,
            2 => Self::Mic64,
            3 => Self::Mic128,
            4 => Self::Enc,
            5 => Self::EncMic32,
            6 => Self::EncMic64,
            _ => Self::EncMic128,
        }
    }

    /// The three-bit value.
    #[must_use]
    pub const fn bits(self) -> u8 {
        self as u8
    }

    /// MIC length in bytes: 0, 4, 8 or 16.
    #[must_use]
    pub const fn mic_len(self) -> usize {
        match self {
            Self::None | Self::Enc => 0,
            Self::Mic32 | Self::EncMic32 => 4,
            Self::Mic64 | Self::EncMic64 => 8,
            Self::Mic128 | Self::EncMic128 => 16,
        }
    }

    /// Whether the payload IEs and the payload are encrypted.
    #[must_use]
    pub const fn encrypts(self) -> bool {
        self.bits() & 4 != 0
    }
}

/// The Key Identifier field by key identifier mode. Key sources are kept in their on-air
/// byte order: the standard gives them no integer meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyIdentifier {
    /// Mode 0: the key follows from the addresses.
    Implicit,
    /// Mode 1: a key index (ours: the default, never 0).
    Index(u8),
    /// Mode 2: 4-byte key source and index.
    Source4 {
        /// Key source, on-air order.
        source: [u8; 4],
        /// Key index.
        index: u8,
    },
    /// Mode 3: 8-byte key source and index.
    Source8 {
        /// Key source, on-air order.
        source: [u8; 8],
        /// Key index.
        index: u8,
    },
}

impl KeyIdentifier {
    const fn mode(&self) -> u8 {
        match self {
            Self::Implicit => 0,
            Self::Index(_) => 1,
            Self::Source4 { .. } => 2,
            Self::Source8 { .. } => 3,
        }
    }

    /// The key index, absent in mode 0.
    #[must_use]
    pub const fn index(&self) -> Option<u8> {
        match self {
            Self::Implicit => None,
            Self::Index(index) | Self::Source4 { index, .. } | Self::Source8 { index, .. } => {
                Some(*index)
            }
        }
    }
}

const FC_SUPPRESSION: u8 = 0x20;
const ASN_IN_NONCE: u8 = 0x40;
const RESERVED: u8 = 0x80;

/// The auxiliary security header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuxSecurityHeader {
    /// Security level.
    pub level: SecurityLevel,
    /// Frame counter; `None` when Frame Counter Suppression is set (a TSCH feature CCM*
    /// outside TSCH cannot use: `ccm_star` refuses it).
    pub frame_counter: Option<u32>,
    /// The ASN-in-nonce bit (TSCH; refused by `ccm_star` too).
    pub asn_in_nonce: bool,
    /// Key identifier.
    pub key_id: KeyIdentifier,
}

impl AuxSecurityHeader {
    /// The header we send by default: level 5, key identifier mode 1 (SEC-03).
    #[must_use]
    pub const fn new(level: SecurityLevel, frame_counter: u32, key_index: u8) -> Self {
        Self {
            level,
            frame_counter: Some(frame_counter),
            asn_in_nonce: false,
            key_id: KeyIdentifier::Index(key_index),
        }
    }

    #[cfg(test)]
    pub(crate) fn parse(r: &mut Reader<'_>) -> Result<Self, FrameError> {
        RawAuxSecurityHeader::parse(r).map(RawAuxSecurityHeader::header)
    }

    pub(crate) fn emit(&self, out: &mut Vec<u8>) {
        let mut control = self.level.bits() | self.key_id.mode() << 3;
        if self.frame_counter.is_none() {
            control |= FC_SUPPRESSION;
        }
        if self.asn_in_nonce {
            control |= ASN_IN_NONCE;
        }
        out.push(control);
        if let Some(fc) = self.frame_counter {
            out.extend_from_slice(&fc.to_le_bytes());
        }
        match self.key_id {
            KeyIdentifier::Implicit => {}
            KeyIdentifier::Index(i) => out.push(i),
            KeyIdentifier::Source4 { source, index } => {
                out.extend_from_slice(&source);
                out.push(index);
            }
            KeyIdentifier::Source8 { source, index } => {
                out.extend_from_slice(&source);
                out.push(index);
            }
        }
    }
}

/// The auxiliary security header as integers: what the frame parser reads, turned into
/// an [`AuxSecurityHeader`] only where the frame's header is built (moving the enum
/// through the stack cost more than reading it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawAuxSecurityHeader {
    control: u8,
    /// 0 when suppressed.
    frame_counter: u32,
    /// The key source's on-air bytes read little-endian (4 or 8 of them), 0 when absent.
    key_source: u64,
    /// 0 in key identifier mode 0.
    key_index: u8,
}

impl RawAuxSecurityHeader {
    #[inline(always)]
    pub(crate) fn parse(r: &mut Reader<'_>) -> Result<Self, FrameError> {
        let offset = r.offset();
        let control = r.u8()?;
        if control & RESERVED != 0 {
            return Err(FrameError::ReservedSecurityBits { offset });
        }
        let frame_counter = if control & FC_SUPPRESSION != 0 {
            0
        } else {
            r.u32_le()?
        };
        let (key_source, key_index) = match (control >> 3) & 3 {
            0 => (0, 0),
            1 => (0, r.u8()?),
            2 => {
                let source = u32::from_le_bytes(r.array()?);
                (u64::from(source), r.u8()?)
            }
            _ => {
                let source = u64::from_le_bytes(r.array()?);
                (source, r.u8()?)
            }
        };
        Ok(Self {
            control,
            frame_counter,
            key_source,
            key_index,
        })
    }

    /// The header these fields make.
    #[inline(always)]
    pub(crate) fn header(self) -> AuxSecurityHeader {
        let control = self.control;
        let index = self.key_index;
        AuxSecurityHeader {
            level: SecurityLevel::from_bits(control),
            frame_counter: (control & FC_SUPPRESSION == 0).then_some(self.frame_counter),
            asn_in_nonce: control & ASN_IN_NONCE != 0,
            key_id: match (control >> 3) & 3 {
                0 => KeyIdentifier::Implicit,
                1 => KeyIdentifier::Index(index),
                // Four bytes were read into the low half: the cast keeps all of them.
                2 => KeyIdentifier::Source4 {
                    source: (self.key_source as u32).to_le_bytes(),
                    index,
                },
                _ => KeyIdentifier::Source8 {
                    source: self.key_source.to_le_bytes(),
                    index,
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec03_mic_lengths_follow_the_level() {
        let lens: Vec<usize> = (0..8)
            .map(|b| SecurityLevel::from_bits(b).mic_len())
            .collect();
        assert_eq!(lens, [0, 4, 8, 16, 0, 4, 8, 16]);
        assert!(SecurityLevel::EncMic32.encrypts() && !SecurityLevel::Mic128.encrypts());
    }

    #[test]
    fn sec03_aux_header_of_the_reference_data_frame() {
        // Level 5, key identifier mode 1, frame counter 1 (LE), key index 1.
        let bytes = [0x0d, 0x01, 0x00, 0x00, 0x00, 0x01];
        let h = AuxSecurityHeader::parse(&mut Reader::new(&bytes, 0)).unwrap();
        assert_eq!(h, AuxSecurityHeader::new(SecurityLevel::EncMic32, 1, 1));
        let mut out = Vec::new();
        h.emit(&mut out);
        assert_eq!(out, bytes);
    }

    #[test]
    fn sec03_every_key_identifier_mode_and_control_bit_round_trips() {
        let key_ids = [
            KeyIdentifier::Implicit,
            KeyIdentifier::Index(0xa5),
            KeyIdentifier::Source4 {
                source: [0x01, 0x82, 0x03, 0xf4],
                index: 7,
            },
            KeyIdentifier::Source8 {
                source: [0xf1, 0x02, 0x83, 0x04, 0x05, 0x06, 0x07, 0x98],
                index: 0xff,
            },
        ];
        for level in 0..8 {
            for key_id in key_ids {
                for frame_counter in [None, Some(0xfedc_ba98)] {
                    for asn_in_nonce in [false, true] {
                        let h = AuxSecurityHeader {
                            level: SecurityLevel::from_bits(level),
                            frame_counter,
                            asn_in_nonce,
                            key_id,
                        };
                        let mut out = Vec::new();
                        h.emit(&mut out);
                        let mut r = Reader::new(&out, 0);
                        assert_eq!(AuxSecurityHeader::parse(&mut r), Ok(h));
                        assert!(r.is_empty());
                    }
                }
            }
        }
    }

    #[test]
    fn sec03_truncated_key_source_reports_its_offset() {
        let bytes = [0x15, 0x01, 0x00, 0x00, 0x00, 0xaa];
        assert_eq!(
            AuxSecurityHeader::parse(&mut Reader::new(&bytes, 20)),
            Err(FrameError::Truncated {
                offset: 25,
                needed: 3
            })
        );
    }
}
