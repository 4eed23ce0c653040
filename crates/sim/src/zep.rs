//! ZEP v2 (ZigBee Encapsulation Protocol, as Wireshark's `packet-zep.c` reads it): how
//! `iotroute air` carries 802.15.4 frames between processes over UDP (RAD-01, the
//! inter-process radio).
//!
//! Data packet, 32 bytes of header then the PSDU:
//!
//! ```text
//! offset  0  "EX"
//!         2  version 2
//!         3  type 1 (data)
//!         4  channel
//!         5  device id, u16 big-endian
//!         7  LQI/CRC mode: 0 = LQI mode, 1 = CRC mode (the PSDU ends with a real FCS)
//!         8  LQI
//!         9  timestamp, NTP 64-bit big-endian (seconds since 1900 ‖ fraction)
//!        17  sequence, u32 big-endian
//!        21  reserved, 10 bytes; byte 21 carries the RSSI in dBm as i8 (ours; 0 = none)
//!        31  length of the PSDU (at most 127: Wireshark masks it with 0x7F)
//!        32  PSDU
//! ```
//!
//! Ack packet (type 2): `"EX" ‖ 2 ‖ 2 ‖ sequence u32` (8 bytes), parsed only.
//!
//! The smoltcp pattern: [`ZepPacket`] is a checked view over a buffer, [`ZepRepr`] the
//! parsed value with [`ZepRepr::parse`] and [`DataRepr::emit`]. Every malformed input is
//! a [`ZepError`] with the offset of the offending byte; nothing here panics.

use core::time::Duration;

/// The UDP port ZEP uses (Wireshark's default).
pub const ZEP_PORT: u16 = 17754;
/// The first two bytes of every ZEP packet.
pub const PREAMBLE: [u8; 2] = *b"EX";
/// The version this module speaks.
pub const VERSION: u8 = 2;
/// Type of a data packet.
pub const TYPE_DATA: u8 = 1;
/// Type of an ack packet.
pub const TYPE_ACK: u8 = 2;
/// Length of a data packet's header.
pub const DATA_HEADER_LEN: usize = 32;
/// Length of an ack packet.
pub const ACK_LEN: usize = 8;
/// The largest PSDU a ZEP packet carries: the length byte is 7 bits wide to Wireshark
/// (the 2006 PHY's aMaxPHYPacketSize). The SUN PHY's 2047-byte frames do not fit; nodes
/// on the ZEP hub keep their PSDUs this short (6LoWPAN fragmentation does).
pub const MAX_PSDU: usize = 127;

/// Seconds from 1900-01-01 (NTP era 0) to 1970-01-01 (the Unix epoch).
pub const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

mod field {
    pub const PREAMBLE: core::ops::Range<usize> = 0..2;
    pub const VERSION: usize = 2;
    pub const TYPE: usize = 3;
    pub const CHANNEL: usize = 4;
    pub const DEVICE_ID: core::ops::Range<usize> = 5..7;
    pub const MODE: usize = 7;
    pub const LQI: usize = 8;
    pub const TIMESTAMP: core::ops::Range<usize> = 9..17;
    pub const SEQUENCE: core::ops::Range<usize> = 17..21;
    pub const RSSI: usize = 21;
    pub const LENGTH: usize = 31;
    pub const ACK_SEQUENCE: core::ops::Range<usize> = 4..8;
}

/// Why bytes are not a ZEP v2 packet we read, or a packet cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ZepError {
    /// The packet ends before a field it must have.
    #[error("truncated at offset {offset}: {needed} bytes needed")]
    Truncated {
        /// Where the missing bytes start (the packet's length).
        offset: usize,
        /// How many bytes the packet needs in all.
        needed: usize,
    },
    /// The first two bytes are not "EX".
    #[error("offset 0: not a ZEP packet (no \"EX\" preamble)")]
    Preamble,
    /// A version other than 2.
    #[error("offset 2: ZEP version {0} (only 2 is read)")]
    Version(u8),
    /// A packet type other than data (1) or ack (2).
    #[error("offset 3: unknown ZEP packet type {0}")]
    Type(u8),
    /// An LQI/CRC mode byte other than 0 or 1.
    #[error("offset 7: LQI/CRC mode {0} (0 or 1)")]
    Mode(u8),
    /// A length byte above 127, or a PSDU to write longer than 127 bytes.
    #[error("offset 31: PSDU of {len} bytes exceeds ZEP's {MAX_PSDU}")]
    TooLong {
        /// The length declared or given.
        len: usize,
    },
    /// The length byte does not match the bytes that follow the header.
    #[error("offset 31: length {declared} but {available} bytes follow the header")]
    Length {
        /// The length byte.
        declared: usize,
        /// What the packet holds after the header.
        available: usize,
    },
    /// An ack packet longer than its 8 bytes.
    #[error("offset 8: ack packet of {0} bytes (8)")]
    AckLength(usize),
    /// The output buffer is too small for the packet.
    #[error("buffer of {len} bytes for a packet of {needed}")]
    BufferTooSmall {
        /// The buffer's length.
        len: usize,
        /// The packet's length.
        needed: usize,
    },
}

impl ZepError {
    /// The offset of the offending byte in the packet (for a write error: the length of
    /// the output the packet needed).
    #[must_use]
    pub const fn offset(&self) -> usize {
        match *self {
            Self::Truncated { offset, .. } => offset,
            Self::Preamble => 0,
            Self::Version(_) => field::VERSION,
            Self::Type(_) => field::TYPE,
            Self::Mode(_) => field::MODE,
            Self::TooLong { .. } | Self::Length { .. } => field::LENGTH,
            Self::AckLength(_) => ACK_LEN,
            Self::BufferTooSmall { len, .. } => len,
        }
    }
}

/// A 64-bit NTP timestamp: seconds since 1900 (modulo 2^32) and a binary fraction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NtpTimestamp {
    /// Whole seconds, era-relative.
    pub seconds: u32,
    /// Fraction of a second in units of 2^-32 s.
    pub fraction: u32,
}

impl NtpTimestamp {
    /// The timestamp of `since_unix_epoch` (wraps into NTP era 1 from 2036-02-07).
    #[must_use]
    pub fn from_unix(since_unix_epoch: Duration) -> Self {
        let seconds = since_unix_epoch.as_secs().wrapping_add(NTP_UNIX_OFFSET);
        // Below 2^32 after the shift: nanos < 10^9.
        let fraction = ((u64::from(since_unix_epoch.subsec_nanos()) << 32) / 1_000_000_000) as u32;
        Self {
            // Modulo 2^32: the era is dropped, as on the wire.
            seconds: (seconds & 0xFFFF_FFFF) as u32,
            fraction,
        }
    }

    /// The time since the Unix epoch, reading the era as RFC 4330 §3 does: seconds with
    /// the top bit set are in era 0 (1968-2036), the others in era 1 (2036-2104).
    #[must_use]
    pub fn to_unix(self) -> Duration {
        let seconds = if self.seconds & 0x8000_0000 != 0 {
            u64::from(self.seconds)
        } else {
            u64::from(self.seconds) + (1 << 32)
        };
        // Rounded down; below 10^9.
        let nanos = ((u64::from(self.fraction) * 1_000_000_000) >> 32) as u32;
        Duration::new(seconds.saturating_sub(NTP_UNIX_OFFSET), nanos)
    }

    /// The 8 bytes on the wire.
    #[must_use]
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0; 8];
        b[..4].copy_from_slice(&self.seconds.to_be_bytes());
        b[4..].copy_from_slice(&self.fraction.to_be_bytes());
        b
    }

    /// From the 8 bytes on the wire.
    #[must_use]
    pub fn from_bytes(b: [u8; 8]) -> Self {
        let [s0, s1, s2, s3, f0, f1, f2, f3] = b;
        Self {
            seconds: u32::from_be_bytes([s0, s1, s2, s3]),
            fraction: u32::from_be_bytes([f0, f1, f2, f3]),
        }
    }
}

/// What byte 7 says about the frame's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LqiMode {
    /// 0: the last two bytes of the PSDU are not an FCS (a sniffer's LQI/RSSI in their
    /// place); the LQI byte holds the LQI.
    Lqi,
    /// 1: the PSDU ends with its real FCS; Wireshark checks it with its standard 802.15.4
    /// dissector. What `iotroute air` sends.
    Crc,
}

impl LqiMode {
    const fn byte(self) -> u8 {
        match self {
            Self::Lqi => 0,
            Self::Crc => 1,
        }
    }
}

/// A checked view over the bytes of a ZEP v2 packet.
#[derive(Debug, Clone, Copy)]
pub struct ZepPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ZepPacket<T> {
    /// The view, after checking the preamble, version, type, and for a data packet the
    /// mode and length against the buffer.
    ///
    /// # Errors
    /// [`ZepError`] with the offending offset.
    pub fn new_checked(buffer: T) -> Result<Self, ZepError> {
        let b = buffer.as_ref();
        let need = |needed: usize| {
            if b.len() < needed {
                Err(ZepError::Truncated {
                    offset: b.len(),
                    needed,
                })
            } else {
                Ok(())
            }
        };
        need(4)?;
        if b.get(field::PREAMBLE) != Some(&PREAMBLE[..]) {
            return Err(ZepError::Preamble);
        }
        let version = byte(b, field::VERSION);
        if version != VERSION {
            return Err(ZepError::Version(version));
        }
        match byte(b, field::TYPE) {
            TYPE_DATA => {
                need(DATA_HEADER_LEN)?;
                let mode = byte(b, field::MODE);
                if mode > 1 {
                    return Err(ZepError::Mode(mode));
                }
                let declared = usize::from(byte(b, field::LENGTH));
                if declared > MAX_PSDU {
                    return Err(ZepError::TooLong { len: declared });
                }
                let available = b.len() - DATA_HEADER_LEN;
                if declared != available {
                    return Err(ZepError::Length {
                        declared,
                        available,
                    });
                }
            }
            TYPE_ACK => {
                need(ACK_LEN)?;
                if b.len() > ACK_LEN {
                    return Err(ZepError::AckLength(b.len()));
                }
            }
            other => return Err(ZepError::Type(other)),
        }
        Ok(Self { buffer })
    }

    /// The packet type (1 data, 2 ack).
    pub fn packet_type(&self) -> u8 {
        byte(self.buffer.as_ref(), field::TYPE)
    }

    /// The sequence number.
    pub fn sequence(&self) -> u32 {
        let range = if self.packet_type() == TYPE_ACK {
            field::ACK_SEQUENCE
        } else {
            field::SEQUENCE
        };
        be_u32(self.buffer.as_ref(), range)
    }

    /// The channel (data packets).
    pub fn channel(&self) -> u8 {
        byte(self.buffer.as_ref(), field::CHANNEL)
    }

    /// The device id (data packets).
    pub fn device_id(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([
            byte(b, field::DEVICE_ID.start),
            byte(b, field::DEVICE_ID.end - 1),
        ])
    }

    /// The LQI/CRC mode (data packets).
    pub fn mode(&self) -> LqiMode {
        if byte(self.buffer.as_ref(), field::MODE) == 0 {
            LqiMode::Lqi
        } else {
            LqiMode::Crc
        }
    }

    /// The LQI byte (data packets).
    pub fn lqi(&self) -> u8 {
        byte(self.buffer.as_ref(), field::LQI)
    }

    /// The RSSI carried in the first reserved byte (ours; data packets), if any.
    pub fn rssi_dbm(&self) -> Option<i8> {
        let v = i8::from_be_bytes([byte(self.buffer.as_ref(), field::RSSI)]);
        (v != 0).then_some(v)
    }

    /// The timestamp (data packets).
    pub fn timestamp(&self) -> NtpTimestamp {
        let b = self.buffer.as_ref();
        let mut t = [0; 8];
        if let Some(src) = b.get(field::TIMESTAMP) {
            t.copy_from_slice(src);
        }
        NtpTimestamp::from_bytes(t)
    }

    /// The PSDU (data packets; empty for an ack).
    pub fn psdu(&self) -> &[u8] {
        if self.packet_type() == TYPE_DATA {
            self.buffer.as_ref().get(DATA_HEADER_LEN..).unwrap_or(&[])
        } else {
            &[]
        }
    }
}

fn byte(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

fn be_u32(b: &[u8], range: core::ops::Range<usize>) -> u32 {
    let mut v = [0; 4];
    if let Some(src) = b.get(range) {
        v.copy_from_slice(src);
    }
    u32::from_be_bytes(v)
}

/// A ZEP v2 data packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataRepr<'a> {
    /// The channel the frame is (to be) on.
    pub channel: u8,
    /// The device id.
    pub device_id: u16,
    /// LQI or CRC mode.
    pub mode: LqiMode,
    /// The LQI.
    pub lqi: u8,
    /// The received signal strength in dBm (ours: the first reserved byte; `None` is
    /// written as 0).
    pub rssi_dbm: Option<i8>,
    /// When.
    pub timestamp: NtpTimestamp,
    /// The sequence number.
    pub sequence: u32,
    /// The 802.15.4 PSDU, FCS included in CRC mode.
    pub psdu: &'a [u8],
}

impl<'a> DataRepr<'a> {
    /// What a node sends the `iotroute air` hub: `psdu` (FCS included) on `channel`, CRC
    /// mode, no LQI or RSSI, no timestamp (the hub reads only the device id, the channel
    /// and the PSDU).
    #[must_use]
    pub const fn to_hub(device_id: u16, channel: u8, sequence: u32, psdu: &'a [u8]) -> Self {
        Self {
            channel,
            device_id,
            mode: LqiMode::Crc,
            lqi: 0,
            rssi_dbm: None,
            timestamp: NtpTimestamp {
                seconds: 0,
                fraction: 0,
            },
            sequence,
            psdu,
        }
    }

    /// A *tune* packet (ours): an empty PSDU, telling the `iotroute air` hub that the
    /// node listens on `channel` from now on; nothing goes on the air.
    #[must_use]
    pub const fn tune(device_id: u16, channel: u8, sequence: u32) -> Self {
        Self::to_hub(device_id, channel, sequence, &[])
    }

    /// Whether this is a tune packet.
    #[must_use]
    pub const fn is_tune(&self) -> bool {
        self.psdu.is_empty()
    }

    /// The packet's length on the wire.
    #[must_use]
    pub const fn buffer_len(&self) -> usize {
        DATA_HEADER_LEN + self.psdu.len()
    }

    /// Write the packet at the start of `buf`; returns its length.
    ///
    /// # Errors
    /// [`ZepError::TooLong`] for a PSDU over 127 bytes, [`ZepError::BufferTooSmall`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, ZepError> {
        let len = u8::try_from(self.psdu.len())
            .ok()
            .filter(|&l| usize::from(l) <= MAX_PSDU)
            .ok_or(ZepError::TooLong {
                len: self.psdu.len(),
            })?;
        let needed = self.buffer_len();
        let Some(out) = buf.get_mut(..needed) else {
            return Err(ZepError::BufferTooSmall {
                len: buf.len(),
                needed,
            });
        };
        let (header, psdu) = out.split_at_mut(DATA_HEADER_LEN);
        header.fill(0);
        header[field::PREAMBLE].copy_from_slice(&PREAMBLE);
        header[field::VERSION] = VERSION;
        header[field::TYPE] = TYPE_DATA;
        header[field::CHANNEL] = self.channel;
        header[field::DEVICE_ID].copy_from_slice(&self.device_id.to_be_bytes());
        header[field::MODE] = self.mode.byte();
        header[field::LQI] = self.lqi;
        header[field::TIMESTAMP].copy_from_slice(&self.timestamp.to_bytes());
        header[field::SEQUENCE].copy_from_slice(&self.sequence.to_be_bytes());
        header[field::RSSI] = self.rssi_dbm.map_or(0, |r| r.to_be_bytes()[0]);
        header[field::LENGTH] = len;
        psdu.copy_from_slice(self.psdu);
        Ok(needed)
    }

    /// The packet as a new vector.
    ///
    /// # Errors
    /// [`ZepError::TooLong`] for a PSDU over 127 bytes.
    pub fn to_vec(&self) -> Result<Vec<u8>, ZepError> {
        let mut v = vec![0; self.buffer_len()];
        self.emit(&mut v)?;
        Ok(v)
    }
}

/// A parsed ZEP v2 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ZepRepr<'a> {
    /// A frame.
    Data(DataRepr<'a>),
    /// An acknowledgement of sequence number `sequence`.
    Ack {
        /// The sequence acknowledged.
        sequence: u32,
    },
}

impl<'a> ZepRepr<'a> {
    /// Parse a whole UDP payload.
    ///
    /// # Errors
    /// [`ZepError`] with the offending offset.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ZepError> {
        let p = ZepPacket::new_checked(bytes)?;
        if p.packet_type() == TYPE_ACK {
            return Ok(Self::Ack {
                sequence: p.sequence(),
            });
        }
        Ok(Self::Data(DataRepr {
            channel: p.channel(),
            device_id: p.device_id(),
            mode: p.mode(),
            lqi: p.lqi(),
            rssi_dbm: p.rssi_dbm(),
            timestamp: p.timestamp(),
            sequence: p.sequence(),
            psdu: bytes.get(DATA_HEADER_LEN..).unwrap_or(&[]),
        }))
    }
}

/// An ack packet's bytes.
#[must_use]
pub fn ack(sequence: u32) -> [u8; ACK_LEN] {
    let mut b = [0; ACK_LEN];
    b[field::PREAMBLE].copy_from_slice(&PREAMBLE);
    b[field::VERSION] = VERSION;
    b[field::TYPE] = TYPE_ACK;
    b[field::ACK_SEQUENCE].copy_from_slice(&sequence.to_be_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(psdu: &[u8]) -> DataRepr<'_> {
        DataRepr {
            channel: 33,
            device_id: 0x1234,
            mode: LqiMode::Crc,
            lqi: 44,
            rssi_dbm: Some(-63),
            timestamp: NtpTimestamp {
                seconds: 0xEC00_0000,
                fraction: 0x8000_0000,
            },
            sequence: 0xDEAD_BEEF,
            psdu,
        }
    }

    #[test]
    fn rad01_data_packet_layout_matches_wireshark() {
        let psdu = [0x41, 0xD8, 0x01, 0xCD, 0xAB];
        let bytes = sample(&psdu).to_vec().unwrap();
        let mut expected = vec![b'E', b'X', 2, 1, 33, 0x12, 0x34, 1, 44];
        expected.extend_from_slice(&[0xEC, 0, 0, 0, 0x80, 0, 0, 0]);
        expected.extend_from_slice(&[0xDE, 0xAD, 0xBE, 0xEF]);
        expected.push(0xC1); // -63 as i8
        expected.extend_from_slice(&[0; 9]);
        expected.push(5);
        expected.extend_from_slice(&psdu);
        assert_eq!(bytes, expected);
        assert_eq!(ZepRepr::parse(&bytes), Ok(ZepRepr::Data(sample(&psdu))));
    }

    #[test]
    fn rad01_127_bytes_is_the_limit_both_ways() {
        let big = [0u8; 128];
        assert_eq!(sample(&big).to_vec(), Err(ZepError::TooLong { len: 128 }));
        let ok = sample(&big[..127]).to_vec().unwrap();
        assert_eq!(ok.len(), 159);
        let mut bad = ok.clone();
        bad[31] = 0x80;
        bad.push(0);
        assert_eq!(ZepRepr::parse(&bad), Err(ZepError::TooLong { len: 128 }));
        assert_eq!(ZepRepr::parse(&bad).unwrap_err().offset(), 31);
    }

    #[test]
    fn malformed_packets_get_typed_errors_with_offsets() {
        let good = sample(&[1, 2, 3]).to_vec().unwrap();
        let cases: Vec<(Vec<u8>, ZepError)> = vec![
            (
                vec![],
                ZepError::Truncated {
                    offset: 0,
                    needed: 4,
                },
            ),
            (
                good[..20].to_vec(),
                ZepError::Truncated {
                    offset: 20,
                    needed: 32,
                },
            ),
            ([&b"EY"[..], &good[2..]].concat(), ZepError::Preamble),
            (
                [&good[..2], &[1], &good[3..]].concat(),
                ZepError::Version(1),
            ),
            ([&good[..3], &[3], &good[4..]].concat(), ZepError::Type(3)),
            ([&good[..7], &[2], &good[8..]].concat(), ZepError::Mode(2)),
            (
                good[..34].to_vec(),
                ZepError::Length {
                    declared: 3,
                    available: 2,
                },
            ),
            (
                [&good[..], &[0]].concat(),
                ZepError::Length {
                    declared: 3,
                    available: 4,
                },
            ),
        ];
        for (bytes, err) in cases {
            assert_eq!(ZepRepr::parse(&bytes), Err(err), "{bytes:02x?}");
        }
        let mut small = [0u8; 10];
        assert_eq!(
            sample(&[1]).emit(&mut small),
            Err(ZepError::BufferTooSmall {
                len: 10,
                needed: 33
            })
        );
    }

    #[test]
    fn rad01_node_side_constructors() {
        let t = DataRepr::tune(5, 40, 1).to_vec().unwrap();
        assert_eq!(t.len(), 32);
        let Ok(ZepRepr::Data(d)) = ZepRepr::parse(&t) else {
            panic!("tune packet");
        };
        assert!(d.is_tune());
        assert_eq!((d.device_id, d.channel, d.mode), (5, 40, LqiMode::Crc));
        let f = DataRepr::to_hub(5, 40, 2, &[1, 2, 3]);
        assert!(!f.is_tune());
        assert_eq!(f.to_vec().unwrap()[32..], [1, 2, 3]);
    }

    #[test]
    fn acks_parse() {
        let a = ack(7);
        assert_eq!(a, [b'E', b'X', 2, 2, 0, 0, 0, 7]);
        assert_eq!(ZepRepr::parse(&a), Ok(ZepRepr::Ack { sequence: 7 }));
        assert!(ZepRepr::parse(&a[..7]).is_err());
        assert_eq!(
            ZepRepr::parse(&[&a[..], &[0]].concat()),
            Err(ZepError::AckLength(9))
        );
    }

    #[test]
    fn ntp_timestamps_convert() {
        // 2026-11-25T00:00:00Z = 1795564800 s since 1970.
        let t = NtpTimestamp::from_unix(Duration::new(1_795_564_800, 500_000_000));
        assert_eq!(u64::from(t.seconds), 1_795_564_800 + NTP_UNIX_OFFSET);
        assert_eq!(t.fraction, 0x8000_0000);
        assert_eq!(t.to_unix(), Duration::new(1_795_564_800, 500_000_000));
        // Era 1: after 2036-02-07T06:28:16Z the seconds wrap and still read back.
        let later = Duration::from_secs((1 << 32) - NTP_UNIX_OFFSET + 10);
        let t = NtpTimestamp::from_unix(later);
        assert_eq!(t.seconds, 10);
        assert_eq!(t.to_unix(), later);
    }
}
