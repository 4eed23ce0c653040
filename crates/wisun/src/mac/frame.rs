//! IEEE 802.15.4 MAC frames (RAD-01): frame version 2 (802.15.4-2015) written, 2003 and
//! 2006 read too. An MPDU here is the frame without its FCS (see `fcs`), at most
//! [`MAX_PSDU_LEN`] bytes with it.
//!
//! [`Mpdu::parse`] splits bytes into a [`Frame`] (unsecured) or a [`SecuredFrame`] whose
//! Payload IEs, payload and MIC stay sealed until `ccm_star::open`. Every accepted MPDU
//! re-emits to the same bytes.

use alloc::vec::Vec;

use super::{
    address::{Address, AddressingMode, Eui64},
    frame_control::{bits, FrameControl, FrameType, FrameVersion},
    ie::{self, HeaderIe, PayloadIe},
    pan_id,
    reader::Reader,
    security::{AuxSecurityHeader, RawAuxSecurityHeader},
    FrameError,
};

/// aMaxPhyPacketSize of the SUN PHYs: the largest PSDU (MPDU + FCS).
pub const MAX_PSDU_LEN: usize = 2047;

/// Everything before the Payload IEs: frame control bits, sequence number, addressing,
/// auxiliary security header and Header IEs. With security this is CCM*'s `a`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Frame type.
    pub frame_type: FrameType,
    /// Frame version.
    pub version: FrameVersion,
    /// Frame Pending.
    pub frame_pending: bool,
    /// AR: acknowledgment requested.
    pub ack_request: bool,
    /// PAN ID Compression bit; must agree with the PAN IDs present (Table 7-2).
    pub pan_id_compression: bool,
    /// Sequence number, `None` when suppressed (frame version 2 only).
    pub sequence_number: Option<u8>,
    /// Destination PAN ID.
    pub dst_pan: Option<u16>,
    /// Destination address.
    pub dst: Option<Address>,
    /// Source PAN ID.
    pub src_pan: Option<u16>,
    /// Source address.
    pub src: Option<Address>,
    /// Auxiliary security header; `Some` sets Security Enabled.
    pub security: Option<AuxSecurityHeader>,
    /// Header IEs as on the air, terminations included; non-empty sets IE Present.
    pub header_ies: Vec<HeaderIe>,
}

impl Header {
    /// A frame version 2 header with the PAN ID Compression bit chosen from the PAN IDs
    /// given; `None` if Table 7-2 has no row for that combination.
    #[must_use]
    pub fn new_2015(
        frame_type: FrameType,
        sequence_number: Option<u8>,
        (dst_pan, dst): (Option<u16>, Option<Address>),
        (src_pan, src): (Option<u16>, Option<Address>),
    ) -> Option<Self> {
        let pan_id_compression = pan_id::compression_for(
            FrameVersion::V2015,
            AddressingMode::of(dst.as_ref()),
            AddressingMode::of(src.as_ref()),
            (dst_pan.is_some(), src_pan.is_some()),
        )?;
        Some(Self {
            frame_type,
            version: FrameVersion::V2015,
            frame_pending: false,
            ack_request: false,
            pan_id_compression,
            sequence_number,
            dst_pan,
            dst,
            src_pan,
            src,
            security: None,
            header_ies: Vec::new(),
        })
    }

    /// The source EUI-64, when the source address is extended (CCM*'s nonce needs it).
    #[must_use]
    pub fn src_eui64(&self) -> Option<Eui64> {
        match self.src {
            Some(Address::Extended(e)) => Some(e),
            _ => None,
        }
    }

    /// Parse the header from the start of an MPDU; returns it and the offset of the
    /// first byte after it (Payload IEs, payload or sealed part).
    // Inlined into its two callers (`Mpdu::parse`, `ccm_star::open`), which then build
    // the header where it ends up instead of moving it through the stack.
    #[inline(always)]
    pub(crate) fn parse(mpdu: &[u8]) -> Result<(Self, usize), FrameError> {
        let r = &mut Reader::new(mpdu, 0);
        let fc = FrameControl(r.u16_le()?);
        let frame_type = fc.frame_type().map_err(FrameError::UnsupportedFrameType)?;
        let version = fc.version().ok_or(FrameError::ReservedVersion)?;
        let mut reserved = fc.0 & bits::RESERVED;
        if version < FrameVersion::V2015 {
            reserved |= fc.0 & (bits::SN_SUPPRESSION | bits::IE_PRESENT);
        }
        if reserved != 0 {
            return Err(FrameError::ReservedBits { mask: reserved });
        }
        let secured = fc.has(bits::SECURITY);
        if secured && version == FrameVersion::V2003 {
            return Err(FrameError::Security2003);
        }
        let dst_mode = AddressingMode::from_bits(fc.dst_mode_bits())?;
        let src_mode = AddressingMode::from_bits(fc.src_mode_bits())?;
        let compression = fc.has(bits::PAN_ID_COMPRESSION);
        let (dst_pan_present, src_pan_present) =
            pan_id::presence(version, dst_mode, src_mode, compression)?;
        let sequence_number = if fc.has(bits::SN_SUPPRESSION) {
            None
        } else {
            Some(r.u8()?)
        };
        // Fields are read as plain integers and made into enums only in the struct below:
        // moving `Result<Option<Address>>` values through the stack cost more than the
        // reads themselves.
        let dst_pan = if dst_pan_present { r.u16_le()? } else { 0 };
        let dst = read_address(r, dst_mode)?;
        let src_pan = if src_pan_present { r.u16_le()? } else { 0 };
        let src = read_address(r, src_mode)?;
        let security = if secured {
            Some(RawAuxSecurityHeader::parse(r)?)
        } else {
            None
        };
        let mut end = r.offset();
        let header_ies = if fc.has(bits::IE_PRESENT) {
            // Header IEs are never encrypted but a MIC may follow them: stop before it.
            let mic_len = security.map_or(0, |s| s.header().level.mic_len());
            let limit = mpdu.len().saturating_sub(mic_len).max(end);
            let mut ies_reader = Reader::starting_at(mpdu.get(..limit).unwrap_or_default(), end);
            let ies = ie::parse_header_ies(&mut ies_reader)?;
            end = ies_reader.offset();
            ies
        } else {
            Vec::new()
        };
        let header = Self {
            frame_type,
            version,
            frame_pending: fc.has(bits::FRAME_PENDING),
            ack_request: fc.has(bits::ACK_REQUEST),
            pan_id_compression: compression,
            sequence_number,
            dst_pan: dst_pan_present.then_some(dst_pan),
            dst: address(dst_mode, dst),
            src_pan: src_pan_present.then_some(src_pan),
            src: address(src_mode, src),
            security: security.map(RawAuxSecurityHeader::header),
            header_ies,
        };
        Ok((header, end))
    }

    /// Emit the header (CCM*'s `a`, or the start of a plain frame).
    pub(crate) fn emit(&self, out: &mut Vec<u8>) -> Result<(), FrameError> {
        let dst_mode = AddressingMode::of(self.dst.as_ref());
        let src_mode = AddressingMode::of(self.src.as_ref());
        let presence = pan_id::presence(self.version, dst_mode, src_mode, self.pan_id_compression)?;
        if presence != (self.dst_pan.is_some(), self.src_pan.is_some()) {
            return Err(FrameError::PanIdPresence);
        }
        let ies = !self.header_ies.is_empty();
        let suppressed = self.sequence_number.is_none();
        if self.version < FrameVersion::V2015 && (ies || suppressed) {
            return Err(FrameError::NeedsVersion2);
        }
        if self.version == FrameVersion::V2003 && self.security.is_some() {
            return Err(FrameError::Security2003);
        }
        let mut fc = FrameControl(
            self.frame_type.bits()
                | dst_mode.bits() << bits::DST_MODE_SHIFT
                | self.version.bits() << bits::VERSION_SHIFT
                | src_mode.bits() << bits::SRC_MODE_SHIFT,
        );
        fc.set(bits::SECURITY, self.security.is_some());
        fc.set(bits::FRAME_PENDING, self.frame_pending);
        fc.set(bits::ACK_REQUEST, self.ack_request);
        fc.set(bits::PAN_ID_COMPRESSION, self.pan_id_compression);
        fc.set(bits::SN_SUPPRESSION, suppressed);
        fc.set(bits::IE_PRESENT, ies);
        out.extend_from_slice(&fc.0.to_le_bytes());
        if let Some(sn) = self.sequence_number {
            out.push(sn);
        }
        for (pan, addr) in [(self.dst_pan, self.dst), (self.src_pan, self.src)] {
            if let Some(pan) = pan {
                out.extend_from_slice(&pan.to_le_bytes());
            }
            match addr {
                Some(Address::Short(a)) => out.extend_from_slice(&a.to_le_bytes()),
                Some(Address::Extended(e)) => out.extend_from_slice(&e.to_air()),
                None => {}
            }
        }
        if let Some(sec) = &self.security {
            sec.emit(out);
        }
        ie::emit_header_ies(&self.header_ies, out)
    }
}

/// An address field as an integer (the on-air bytes read little-endian), 0 when absent.
#[inline(always)]
fn read_address(r: &mut Reader<'_>, mode: AddressingMode) -> Result<u64, FrameError> {
    Ok(match mode {
        AddressingMode::None => 0,
        AddressingMode::Short => u64::from(r.u16_le()?),
        AddressingMode::Extended => u64::from_le_bytes(r.array()?),
    })
}

/// The address [`read_address`] read. An extended address goes least significant byte
/// first on the air, so the integer's big-endian bytes are the EUI-64 in printed order
/// (what `Eui64::from_air` gives).
#[inline(always)]
fn address(mode: AddressingMode, raw: u64) -> Option<Address> {
    match mode {
        AddressingMode::None => None,
        // A short address was read from two bytes: the cast keeps all of it.
        AddressingMode::Short => Some(Address::Short(raw as u16)),
        AddressingMode::Extended => Some(Address::Extended(Eui64(raw.to_be_bytes()))),
    }
}

/// The Payload IEs that start `r`, when `header` ends with HT1 (none otherwise).
fn payload_ies_of(header: &Header, r: &mut Reader) -> Result<Vec<PayloadIe>, FrameError> {
    if header.header_ies.last() == Some(&HeaderIe::Ht1) {
        ie::parse_payload_ies(r)
    } else {
        Ok(Vec::new())
    }
}

fn check_len(len: usize) -> Result<(), FrameError> {
    if len > MAX_PSDU_LEN {
        Err(FrameError::TooLong { len })
    } else {
        Ok(())
    }
}

/// A secured frame's body holds its MIC at least.
fn mic_present(sec: AuxSecurityHeader, body: &[u8], end: usize) -> Result<(), FrameError> {
    let mic_len = sec.level.mic_len();
    if body.len() < mic_len {
        return Err(FrameError::MicMissing {
            offset: end,
            mic_len,
        });
    }
    Ok(())
}

/// A frame in the clear: an unsecured frame, or a secured one before `ccm_star::secure`
/// and after `ccm_star::open`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The MAC header up to and including the Header IEs.
    pub header: Header,
    /// Payload IEs as on the air, the Payload Termination IE included.
    pub payload_ies: Vec<PayloadIe>,
    /// The MAC payload; for a command frame it starts with the command ID (which a 2015
    /// frame places after the Payload IEs).
    pub payload: Vec<u8>,
}

impl Frame {
    /// Parse an unsecured MPDU; a secured one is [`FrameError::NeedsSecuring`] (use
    /// [`Mpdu::parse`]).
    ///
    /// # Errors
    /// Any malformation, with its offset.
    pub fn parse(mpdu: &[u8]) -> Result<Self, FrameError> {
        match Mpdu::parse(mpdu)? {
            Mpdu::Plain(f) => Ok(f),
            Mpdu::Secured(_) => Err(FrameError::NeedsSecuring),
        }
    }

    /// Parse what follows a header: Payload IEs (when the header ends with HT1) and
    /// payload. `base` is the offset of `body` in the MPDU.
    pub(crate) fn parse_body(header: Header, body: &[u8], base: usize) -> Result<Self, FrameError> {
        let mut r = Reader::new(body, base);
        let payload_ies = payload_ies_of(&header, &mut r)?;
        Ok(Self {
            header,
            payload_ies,
            payload: r.rest().to_vec(),
        })
    }

    /// As [`Frame::parse_body`] for a body the caller owns (CCM*'s plaintext): the payload
    /// keeps its buffer instead of being copied out of it. Inline: the `Frame` is then
    /// built where the caller's result goes instead of being moved out of a returned
    /// `Result` (a store-forwarding stall per frame, seen with perf).
    #[inline]
    pub(crate) fn parse_body_vec(
        header: Header,
        mut body: Vec<u8>,
        base: usize,
    ) -> Result<Self, FrameError> {
        let (payload_ies, consumed) = {
            let mut r = Reader::new(&body, base);
            let ies = payload_ies_of(&header, &mut r)?;
            (ies, r.offset() - base)
        };
        if consumed > 0 {
            body.drain(..consumed);
        }
        Ok(Self {
            header,
            payload_ies,
            payload: body,
        })
    }

    /// The MPDU of an unsecured frame.
    ///
    /// # Errors
    /// [`FrameError::NeedsSecuring`] when the header has a security header; PAN IDs,
    /// IE layout or lengths that a receiver could not parse back.
    pub fn emit(&self) -> Result<Vec<u8>, FrameError> {
        if self.header.security.is_some() {
            return Err(FrameError::NeedsSecuring);
        }
        let mut out = Vec::with_capacity(HEADER_ROOM + self.payload.len());
        self.header.emit(&mut out)?;
        self.emit_body(&mut out)?;
        check_len(out.len())?;
        Ok(out)
    }

    /// Append Payload IEs and payload (CCM*'s `m`) after checking the IE layout.
    pub(crate) fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), FrameError> {
        ie::check_layout(
            &self.header.header_ies,
            &self.payload_ies,
            self.payload.is_empty(),
        )?;
        ie::emit_payload_ies(&self.payload_ies, out)?;
        out.extend_from_slice(&self.payload);
        Ok(())
    }
}

/// The IE layout check of [`Frame::emit_body`] for a frame without Payload IEs.
pub(crate) fn check_body_layout(header: &Header, payload_empty: bool) -> Result<(), FrameError> {
    ie::check_layout(&header.header_ies, &[], payload_empty)
}

/// Room an MPDU is made with beyond its payload: the header's fields at their longest
/// (frame control, sequence number, two PAN IDs, two EUI-64s: 23 bytes), an auxiliary
/// security header (up to 14), a few Header IE bytes and the FCS the caller appends (up
/// to 4). A frame built from an empty buffer grew it four or five times.
const HEADER_ROOM: usize = 48;

/// A secured frame as on the air: the header in the clear, then the sealed part
/// (Payload IEs and payload, encrypted at levels 5-7) and the MIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecuredFrame {
    /// The header; its `security` is always `Some`.
    pub header: Header,
    /// Sealed Payload IEs and payload followed by the MIC.
    pub sealed: Vec<u8>,
}

impl SecuredFrame {
    /// The MPDU.
    ///
    /// # Errors
    /// As [`Frame::emit`]; also a sealed part shorter than the MIC, or sealed bytes after
    /// Header IEs without HT1/HT2 (a receiver would read them as Header IEs).
    pub fn emit(&self) -> Result<Vec<u8>, FrameError> {
        let Some(security) = self.header.security else {
            return Err(FrameError::MissingSecurityHeader);
        };
        let mut out = Vec::with_capacity(HEADER_ROOM + self.sealed.len());
        self.header.emit(&mut out)?;
        let mic_len = security.level.mic_len();
        if self.sealed.len() < mic_len {
            return Err(FrameError::MicMissing {
                offset: out.len(),
                mic_len,
            });
        }
        if matches!(
            self.header.header_ies.last(),
            Some(HeaderIe::Vendor { .. } | HeaderIe::Other { .. })
        ) && self.sealed.len() > mic_len
        {
            return Err(FrameError::IeTermination(
                "payload after header IEs needs HT1 or HT2",
            ));
        }
        out.extend_from_slice(&self.sealed);
        check_len(out.len())?;
        Ok(out)
    }
}

/// A parsed MPDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mpdu {
    /// Security Enabled = 0.
    Plain(Frame),
    /// Security Enabled = 1: open with `ccm_star::open`.
    Secured(SecuredFrame),
}

impl Mpdu {
    /// Parse an MPDU (a frame without its FCS).
    ///
    /// # Errors
    /// Any malformation, with its offset.
    pub fn parse(mpdu: &[u8]) -> Result<Self, FrameError> {
        let (header, end) = Self::parse_header(mpdu)?;
        Self::parse_body(header, mpdu, end)
    }

    /// An MPDU's header and where its body starts: what a receiver looks at first (is
    /// the frame for it?) before it makes the frame ([`Mpdu::parse_body`]) or only
    /// checks that it would ([`Mpdu::check_body`]).
    ///
    /// # Errors
    /// As [`Mpdu::parse`], for the header.
    pub fn parse_header(mpdu: &[u8]) -> Result<(Header, usize), FrameError> {
        check_len(mpdu.len())?;
        Header::parse(mpdu)
    }

    /// The frame of `mpdu` whose header [`Mpdu::parse_header`] gave, its body starting at
    /// `end`.
    ///
    /// # Errors
    /// As [`Mpdu::parse`], for the body.
    pub fn parse_body(header: Header, mpdu: &[u8], end: usize) -> Result<Self, FrameError> {
        let body = mpdu.get(end..).unwrap_or_default();
        match header.security {
            None => Ok(Self::Plain(Frame::parse_body(header, body, end)?)),
            Some(sec) => {
                mic_present(sec, body, end)?;
                Ok(Self::Secured(SecuredFrame {
                    header,
                    sealed: body.to_vec(),
                }))
            }
        }
    }

    /// Whether [`Mpdu::parse_body`] takes the body, without making the frame: a
    /// receiver checks a frame for another node and keeps nothing of it (a secured
    /// body, most of what a node hears, is not copied).
    ///
    /// # Errors
    /// As [`Mpdu::parse_body`].
    pub fn check_body(header: &Header, mpdu: &[u8], end: usize) -> Result<(), FrameError> {
        let body = mpdu.get(end..).unwrap_or_default();
        match header.security {
            None => payload_ies_of(header, &mut Reader::new(body, end)).map(drop),
            Some(sec) => mic_present(sec, body, end),
        }
    }

    /// The MPDU again.
    ///
    /// # Errors
    /// As [`Frame::emit`] and [`SecuredFrame::emit`].
    pub fn emit(&self) -> Result<Vec<u8>, FrameError> {
        match self {
            Self::Plain(f) => f.emit(),
            Self::Secured(s) => s.emit(),
        }
    }

    /// The header.
    #[must_use]
    pub const fn header(&self) -> &Header {
        match self {
            Self::Plain(f) => &f.header,
            Self::Secured(s) => &s.header,
        }
    }
}
