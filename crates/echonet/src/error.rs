//! Error types of the wire layer.

use thiserror::Error;

/// A datagram that is not a well-formed ECHONET Lite frame.
///
/// Each variant says where the frame broke, so a log entry is enough to find the fault
/// in a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FrameError {
    /// The buffer ends before a field that must be there.
    #[error("frame truncated: {needed} bytes needed, {available} available")]
    Truncated { needed: usize, available: usize },
    /// EHD1 is not 0x10 (ECHONET Lite); 0x1_ with other low bits is old ECHONET.
    #[error("EHD1 0x{0:02X} is not ECHONET Lite (0x10)")]
    BadEhd1(u8),
    /// EHD2 is neither 0x81 (format 1) nor 0x82 (format 2).
    #[error("EHD2 0x{0:02X} is neither format 1 (0x81) nor format 2 (0x82)")]
    BadEhd2(u8),
    /// The ESV byte names no service of the specification.
    #[error("unknown ESV 0x{0:02X}")]
    UnknownEsv(u8),
    /// OPC announces more properties than the buffer holds.
    #[error("OPC {declared} overruns the frame: only {found} properties present")]
    OpcOverrun { declared: u8, found: u8 },
    /// A PDC announces more EDT bytes than the buffer holds.
    #[error("PDC {pdc} of EPC 0x{epc:02X} overruns the frame: {available} bytes left")]
    PdcOverrun { epc: u8, pdc: u8, available: usize },
    /// Bytes follow the last property.
    #[error("{0} trailing bytes after the last property")]
    TrailingBytes(usize),
    /// More than 255 properties in one list (OPC is one byte).
    #[error("{0} properties do not fit in one OPC byte")]
    TooManyProperties(usize),
    /// An EDT longer than 255 bytes (PDC is one byte).
    #[error("EDT of EPC 0x{epc:02X} is {len} bytes, PDC allows 255")]
    EdtTooLong { epc: u8, len: usize },
    /// A SetGet service without its second property list, or another service with one.
    #[error("ESV {esv:?} does not match the shape of the property lists")]
    BodyMismatch { esv: crate::Esv },
    /// The buffer given to `emit` is shorter than `buffer_len()`.
    #[error("emit buffer of {available} bytes, {needed} needed")]
    BufferTooSmall { needed: usize, available: usize },
}

/// A property value (EDT) that does not decode to its typed form, or a typed value that
/// is outside the range the class specification allows.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValueError {
    /// The EDT has a length the property does not allow.
    #[error("EPC 0x{epc:02X}: EDT of {actual} bytes, expected {expected}")]
    Length {
        epc: u8,
        expected: &'static str,
        actual: usize,
    },
    /// A field is outside the range the specification allows.
    #[error("EPC 0x{epc:02X}: {what} out of range")]
    Range { epc: u8, what: &'static str },
    /// A property map names an EPC below 0x80 or names one twice, or its count does not
    /// match its contents.
    #[error("property map: {0}")]
    PropertyMap(&'static str),
    /// A typed value outside what its EDT can carry (a field built out of range).
    #[error("EPC 0x{epc:02X}: value cannot be encoded within its range")]
    NotEncodable { epc: u8 },
    /// The EPC has no typed decoder for this class.
    #[error("EPC 0x{epc:02X} is not a property of class 0x{class:04X}")]
    UnknownProperty { class: u16, epc: u8 },
}
