//! Classic pcap files (magic a1b2c3d4, version 2.4, microsecond timestamps) for the
//! frames on the simulated air, so Wireshark can show them. Link type 283
//! (IEEE802_15_4_TAP, see [`tap`]) carries RSS and channel per frame and is what we
//! write; 195 (IEEE802_15_4_WITHFCS) is the bare PSDU. A small reader serves tests.

pub mod tap;

use alloc::vec::Vec;

/// IEEE 802.15.4 with the FCS, no metadata.
pub const LINKTYPE_IEEE802_15_4_WITHFCS: u32 = 195;
/// IEEE 802.15.4 behind the TAP header (TLVs: FCS type, RSS, channel, frequency).
pub const LINKTYPE_IEEE802_15_4_TAP: u32 = 283;

const MAGIC: u32 = 0xA1B2_C3D4;
/// Snapshot length: a SUN PSDU (2047) plus a generous TAP header.
const SNAPLEN: u32 = 65_535;
/// Length of the global header.
pub const FILE_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;

/// The 24-byte global header (little-endian).
#[must_use]
pub fn file_header(linktype: u32) -> [u8; FILE_HEADER_LEN] {
    let mut h = [0; FILE_HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    // thiszone 0, sigfigs 0.
    h[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
    h[20..24].copy_from_slice(&linktype.to_le_bytes());
    h
}

/// One record: header (seconds, microseconds, lengths) and data, appended to `out`.
pub fn record(out: &mut Vec<u8>, seconds: u32, micros: u32, data: &[u8]) {
    // Records are frames of at most a few kilobytes; a longer one is cut to u32::MAX,
    // which no caller can produce.
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    for v in [seconds, micros, len, len] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(data);
}

/// Writes a pcap file to any `std::io::Write`.
#[cfg(feature = "std")]
#[derive(Debug)]
pub struct Writer<W: std::io::Write> {
    out: W,
}

#[cfg(feature = "std")]
impl<W: std::io::Write> Writer<W> {
    /// Write the global header for `linktype`.
    ///
    /// # Errors
    /// I/O errors.
    pub fn new(mut out: W, linktype: u32) -> std::io::Result<Self> {
        out.write_all(&file_header(linktype))?;
        Ok(Self { out })
    }

    /// Write one record at `micros_since_epoch`.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write(&mut self, micros_since_epoch: u64, data: &[u8]) -> std::io::Result<()> {
        let mut buf = Vec::with_capacity(RECORD_HEADER_LEN + data.len());
        let seconds = u32::try_from(micros_since_epoch / 1_000_000).unwrap_or(u32::MAX);
        // Below 10^6: fits.
        let micros = (micros_since_epoch % 1_000_000) as u32;
        record(&mut buf, seconds, micros, data);
        self.out.write_all(&buf)
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Why bytes are not a pcap file we read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PcapError {
    /// Not a little-endian microsecond pcap file.
    #[error("byte 0: not a little-endian pcap file")]
    Magic,
    /// The file ends inside a header or record.
    #[error("byte {0}: pcap file truncated")]
    Truncated(usize),
}

/// One record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    /// Seconds.
    pub seconds: u32,
    /// Microseconds.
    pub micros: u32,
    /// Captured bytes.
    pub data: &'a [u8],
}

fn le32(b: &[u8], at: usize) -> Result<u32, PcapError> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_le_bytes)
        .ok_or(PcapError::Truncated(at))
}

/// Read a whole pcap file: its link type and records.
///
/// # Errors
/// [`PcapError`].
pub fn read(file: &[u8]) -> Result<(u32, Vec<Record<'_>>), PcapError> {
    if le32(file, 0)? != MAGIC {
        return Err(PcapError::Magic);
    }
    let linktype = le32(file, 20)?;
    let mut records = Vec::new();
    let mut at = FILE_HEADER_LEN;
    while at < file.len() {
        let seconds = le32(file, at)?;
        let micros = le32(file, at + 4)?;
        let len = le32(file, at + 8)? as usize;
        let start = at + RECORD_HEADER_LEN;
        let data = file
            .get(start..start + len)
            .ok_or(PcapError::Truncated(start))?;
        records.push(Record {
            seconds,
            micros,
            data,
        });
        at = start + len;
    }
    Ok((linktype, records))
}
