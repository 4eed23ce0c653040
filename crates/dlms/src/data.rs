//! A-XDR data (IEC 62056-6-2 / Green Book `Data` CHOICE), owned.
//!
//! Our own enum rather than the upstream borrowed `Data<'a>`: callers (object model,
//! CLI, tests) keep values past the receive buffer, and a swap of the codec crate must
//! not change their types. Decoding and encoding go through the upstream codec, whose
//! lengths are BER (`81 C8` = 200), whose nesting is bounded (16) and whose errors carry
//! byte offsets. A compact-array is expanded into an array on decode (it is a transfer
//! syntax); we never emit one.

use crate::datetime::{CosemDate, CosemDateTime, CosemTime};
use crate::error::{CodecError, CodecErrorKind};
use dlms_cosem_rs::axdr::DataBuf;
use dlms_cosem_rs::codec::Encode as _;
use smallvec::SmallVec;

/// The longest length A-XDR can carry here (a 4-byte BER length, as the upstream codec).
const MAX_LENGTH: usize = u32::MAX as usize;

/// A BER length: short form below 0x80, else 0x80 | n then n big-endian bytes (minimal).
fn write_length(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
        return;
    }
    let be = (len as u64).to_be_bytes();
    let first = be.iter().position(|b| *b != 0).unwrap_or(7);
    out.push(0x80 | (8 - first) as u8);
    out.extend_from_slice(&be[first..]);
}

/// A value [`Data::write`] refuses: what the upstream encoder would write inconsistently
/// (a bit-string whose bytes do not hold its bits, a length beyond [`MAX_LENGTH`]).
struct Unencodable;

/// `len` if A-XDR can carry it.
fn checked_length(len: usize) -> Result<usize, Unencodable> {
    if len > MAX_LENGTH {
        Err(Unencodable)
    } else {
        Ok(len)
    }
}

/// The deepest nesting decoded, as upstream (`axdr::MAX_DEPTH`): hostile input must not
/// recurse without bound.
const MAX_DEPTH: u8 = 16;

/// Elements of long arrays and structures, decoded but not yet placed in their `Vec`,
/// shared by every nesting level of one decode.
///
/// Why: a long sequence is allocated once, exactly sized, *after* its elements. A profile
/// buffer is one large `Vec` (48 rows of 32-byte `Data` are 1,536 bytes) over many small
/// ones (each row's structure and octet-string). Allocated first, the large one is a
/// request glibc serves only after consolidating every small chunk freed by the previous
/// value, which the small allocations then split again (`malloc_consolidate` and
/// `unlink_chunk` were 8 % of the owned decode of the bench's profile under perf);
/// allocated last, the small ones have reused those chunks first. Short sequences (up to
/// [`SMALL_SEQUENCE`] elements) go straight into their `Vec` instead: their allocation is
/// too small to make glibc consolidate, and moving values off this stack cost more than
/// it saved. Together: the owned decode + re-encode of the bench's profile takes about
/// 20 % less CPU time than allocating every sequence first (docs/benchmarks.md).
/// Never sized from the wire: it grows with decoded elements only, each at least one input
/// byte, so a hostile count cannot allocate for itself. 64 inline elements (2 KiB of
/// stack) hold a day of 30-minute rows without a heap buffer; more spill to the heap.
type Pending = SmallVec<[Data; 64]>;

/// Sequences up to this long (a profile row's structure) are read straight into a `Vec`
/// allocated first: 16 × 32 bytes stays below the 1 KiB from which a glibc request
/// consolidates (see [`Pending`]).
const SMALL_SEQUENCE: usize = 16;

/// Why the one-pass decoder stopped.
enum Fallback {
    /// A real error.
    Error(CodecError),
    /// A compact array: decode the whole value upstream.
    CompactArray,
}

/// A bounds-checked cursor with upstream's error conventions (offset of the failing
/// read, `needed` = bytes missing for it).
struct OwnedReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> OwnedReader<'a> {
    fn err(&self, kind: CodecErrorKind, offset: usize) -> Fallback {
        Fallback::Error(CodecError::new(kind, offset))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Fallback> {
        let rest = self.bytes.get(self.pos..).unwrap_or(&[]);
        match rest.get(..n) {
            Some(b) => {
                self.pos += n;
                Ok(b)
            }
            None => Err(self.err(
                CodecErrorKind::Truncated {
                    needed: n - rest.len(),
                },
                self.pos,
            )),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Fallback> {
        let b = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, Fallback> {
        Ok(self.array::<1>()?[0])
    }

    /// A BER length as upstream reads it: short form, or `0x8n` with 1-4 bytes.
    fn length(&mut self) -> Result<usize, Fallback> {
        let first = self.u8()?;
        if first < 0x80 {
            return Ok(usize::from(first));
        }
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 {
            return Err(self.err(CodecErrorKind::InvalidLength, self.pos - 1));
        }
        let mut v = 0usize;
        for b in self.take(n)? {
            v = (v << 8) | usize::from(*b);
        }
        Ok(v)
    }

    fn prefixed(&mut self) -> Result<&'a [u8], Fallback> {
        let n = self.length()?;
        self.take(n)
    }
}

/// One A-XDR value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "kebab-case")]
pub enum Data {
    /// `null-data` (0). In a profile buffer with null compression: "as the row before".
    Null,
    /// `array` (1): elements of one type.
    Array(Vec<Data>),
    /// `structure` (2): a record.
    Structure(Vec<Data>),
    /// `boolean` (3).
    Boolean(bool),
    /// `bit-string` (4): `bits` significant bits, most significant bit first.
    BitString {
        /// Number of significant bits.
        bits: usize,
        /// The bytes holding them (`ceil(bits / 8)`).
        bytes: Vec<u8>,
    },
    /// `double-long` (5), int32.
    DoubleLong(i32),
    /// `double-long-unsigned` (6), uint32.
    DoubleLongUnsigned(u32),
    /// `octet-string` (9). Gurux carries clock values here as 12 bytes.
    OctetString(Vec<u8>),
    /// `visible-string` (10): ISO 646; kept as bytes because meters put anything there.
    VisibleString(Vec<u8>),
    /// `utf8-string` (12).
    Utf8String(Vec<u8>),
    /// `bcd` (13).
    Bcd(i8),
    /// `integer` (15), int8.
    Integer(i8),
    /// `long` (16), int16.
    Long(i16),
    /// `unsigned` (17), uint8.
    Unsigned(u8),
    /// `long-unsigned` (18), uint16.
    LongUnsigned(u16),
    /// `long64` (20), int64.
    Long64(i64),
    /// `long64-unsigned` (21), uint64.
    Long64Unsigned(u64),
    /// `enum` (22).
    Enum(u8),
    /// `float32` (23).
    Float32(f32),
    /// `float64` (24).
    Float64(f64),
    /// `date-time` (25).
    DateTime(CosemDateTime),
    /// `date` (26).
    Date(CosemDate),
    /// `time` (27).
    Time(CosemTime),
    /// `delta-integer` (28).
    DeltaInteger(i8),
    /// `delta-long` (29).
    DeltaLong(i16),
    /// `delta-double-long` (30).
    DeltaDoubleLong(i32),
    /// `delta-unsigned` (31).
    DeltaUnsigned(u8),
    /// `delta-long-unsigned` (32).
    DeltaLongUnsigned(u16),
    /// `delta-double-long-unsigned` (33).
    DeltaDoubleLongUnsigned(u32),
    /// `dont-care` (255), a wildcard in access descriptors.
    DontCare,
}

impl Data {
    /// Decode one value that fills `bytes` exactly.
    ///
    /// # Errors
    /// [`CodecError`] with the byte offset; trailing bytes are an error.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let (v, used) = Self::decode_prefix(bytes)?;
        if used != bytes.len() {
            return Err(CodecError::new(
                CodecErrorKind::TrailingBytes(bytes.len() - used),
                used,
            ));
        }
        Ok(v)
    }

    /// Decode one value from the start of `bytes`, returning it and the bytes it used.
    ///
    /// # Errors
    /// [`CodecError`] with the byte offset.
    pub fn decode_prefix(bytes: &[u8]) -> Result<(Self, usize), CodecError> {
        // One pass straight into the owned tree. The upstream borrowed decoder validates
        // an array by walking it, then walks it again to iterate, once per nesting level;
        // into an owned tree that is work thrown away (the owned path was 35-60x Gurux
        // against a 200x goal, docs/benchmarks.md). Same rules and the same errors at the
        // same offsets as upstream (tests/proptest_codec.rs and the dlms_axdr fuzz target
        // compare the two); a compact array, rare and intricate, goes to upstream whole.
        let mut r = OwnedReader { bytes, pos: 0 };
        let mut pending = Pending::new();
        match Self::read(&mut r, &mut pending, 0, None) {
            // `read` left exactly the value it decoded on `pending`.
            Ok(()) => Ok((pending.pop().unwrap_or(Self::Null), r.pos)),
            Err(Fallback::Error(e)) => Err(e),
            Err(Fallback::CompactArray) => Self::decode_prefix_upstream(bytes),
        }
    }

    /// [`Data::decode_prefix`] through the upstream borrowed decoder. Kept public (hidden)
    /// for the tests that hold the two to the same results.
    ///
    /// # Errors
    /// [`CodecError`] with the byte offset.
    #[doc(hidden)]
    pub fn decode_prefix_upstream(bytes: &[u8]) -> Result<(Self, usize), CodecError> {
        use dlms_cosem_rs::codec::Decode as _;
        let mut r = dlms_cosem_rs::Reader::new(bytes);
        let d = dlms_cosem_rs::axdr::Data::decode(&mut r)?;
        let used = r.consumed();
        Ok((Self::from_upstream(&d)?, used))
    }

    /// Decode one value and push it onto `out`, or onto `pending` without one.
    fn read(
        r: &mut OwnedReader<'_>,
        pending: &mut Pending,
        depth: u8,
        out: Option<&mut Vec<Self>>,
    ) -> Result<(), Fallback> {
        if depth >= MAX_DEPTH {
            return Err(r.err(CodecErrorKind::DepthExceeded, r.pos));
        }
        let tag = r.u8()?;
        let value = match tag {
            0 => Self::Null,
            255 => Self::DontCare,
            1 | 2 => {
                let count = r.length()?;
                let v = Self::read_elements(r, pending, count, depth + 1)?;
                if tag == 1 {
                    Self::Array(v)
                } else {
                    Self::Structure(v)
                }
            }
            3 => Self::Boolean(r.u8()? != 0),
            4 => {
                let bits = r.length()?;
                Self::BitString {
                    bits,
                    bytes: r.take(bits.div_ceil(8))?.to_vec(),
                }
            }
            5 => Self::DoubleLong(i32::from_be_bytes(r.array()?)),
            6 => Self::DoubleLongUnsigned(u32::from_be_bytes(r.array()?)),
            9 => Self::OctetString(r.prefixed()?.to_vec()),
            10 => Self::VisibleString(r.prefixed()?.to_vec()),
            12 => Self::Utf8String(r.prefixed()?.to_vec()),
            13 => Self::Bcd(i8::from_be_bytes(r.array()?)),
            15 => Self::Integer(i8::from_be_bytes(r.array()?)),
            16 => Self::Long(i16::from_be_bytes(r.array()?)),
            17 => Self::Unsigned(r.u8()?),
            18 => Self::LongUnsigned(u16::from_be_bytes(r.array()?)),
            19 => return Err(Fallback::CompactArray),
            20 => Self::Long64(i64::from_be_bytes(r.array()?)),
            21 => Self::Long64Unsigned(u64::from_be_bytes(r.array()?)),
            22 => Self::Enum(r.u8()?),
            23 => Self::Float32(f32::from_bits(u32::from_be_bytes(r.array()?))),
            24 => Self::Float64(f64::from_bits(u64::from_be_bytes(r.array()?))),
            25 => Self::DateTime(CosemDateTime::from_bytes(r.array()?)),
            26 => Self::Date(CosemDate::from_bytes(r.array()?)),
            27 => Self::Time(CosemTime::from_bytes(r.array()?)),
            28 => Self::DeltaInteger(i8::from_be_bytes(r.array()?)),
            29 => Self::DeltaLong(i16::from_be_bytes(r.array()?)),
            30 => Self::DeltaDoubleLong(i32::from_be_bytes(r.array()?)),
            31 => Self::DeltaUnsigned(r.u8()?),
            32 => Self::DeltaLongUnsigned(u16::from_be_bytes(r.array()?)),
            33 => Self::DeltaDoubleLongUnsigned(u32::from_be_bytes(r.array()?)),
            other => return Err(r.err(CodecErrorKind::InvalidTag(other), r.pos - 1)),
        };
        match out {
            Some(v) => v.push(value),
            None => pending.push(value),
        }
        Ok(())
    }

    /// `count` elements in one exactly sized `Vec`: read straight into it when short,
    /// else gathered on `pending` and moved into it at the end (see [`Pending`]).
    fn read_elements(
        r: &mut OwnedReader<'_>,
        pending: &mut Pending,
        count: usize,
        depth: u8,
    ) -> Result<Vec<Self>, Fallback> {
        if count <= SMALL_SEQUENCE {
            let mut v = Vec::with_capacity(count);
            for _ in 0..count {
                Self::read(r, pending, depth, Some(&mut v))?;
            }
            return Ok(v);
        }
        let base = pending.len();
        for _ in 0..count {
            Self::read(r, pending, depth, None)?;
        }
        Ok(pending.drain(base..).collect())
    }

    /// The A-XDR encoding.
    ///
    /// # Errors
    /// Only for values that cannot be encoded: a bit-string whose byte count does not
    /// match its bit count, or a length above 2^32.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::new();
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Append the A-XDR encoding to `out`.
    ///
    /// # Errors
    /// As [`Data::encode`].
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        // Written here rather than through the upstream owned tree: converting to it
        // cloned every string and vector of the value first, which made the owned path
        // several times slower than the borrowed one (docs/benchmarks.md). The bytes are
        // the same; tests/proptest_codec.rs checks this encoder against the upstream one.
        // Checked while writing, not in a pass before it: that second walk of the tree
        // was about a fifth of the owned encode's CPU time (docs/benchmarks.md). On a
        // refusal `out` is put back as it was.
        let start = out.len();
        self.write(out).map_err(|Unencodable| {
            out.truncate(start);
            CodecError::new(CodecErrorKind::InvalidLength, start)
        })
    }

    fn write(&self, out: &mut Vec<u8>) -> Result<(), Unencodable> {
        out.push(self.tag());
        match self {
            Self::Null | Self::DontCare => {}
            Self::Array(v) | Self::Structure(v) => {
                write_length(out, checked_length(v.len())?);
                for e in v {
                    e.write(out)?;
                }
            }
            Self::Boolean(b) => out.push(u8::from(*b)),
            Self::BitString { bits, bytes } => {
                if bytes.len() != bits.div_ceil(8) {
                    return Err(Unencodable);
                }
                write_length(out, checked_length(*bits)?);
                out.extend_from_slice(bytes);
            }
            Self::DoubleLong(v) | Self::DeltaDoubleLong(v) => {
                out.extend_from_slice(&v.to_be_bytes())
            }
            Self::DoubleLongUnsigned(v) | Self::DeltaDoubleLongUnsigned(v) => {
                out.extend_from_slice(&v.to_be_bytes())
            }
            Self::OctetString(b) | Self::VisibleString(b) | Self::Utf8String(b) => {
                write_length(out, checked_length(b.len())?);
                out.extend_from_slice(b);
            }
            Self::Bcd(v) | Self::Integer(v) | Self::DeltaInteger(v) => out.push(v.to_be_bytes()[0]),
            Self::Long(v) | Self::DeltaLong(v) => out.extend_from_slice(&v.to_be_bytes()),
            Self::Unsigned(v) | Self::Enum(v) | Self::DeltaUnsigned(v) => out.push(*v),
            Self::LongUnsigned(v) | Self::DeltaLongUnsigned(v) => {
                out.extend_from_slice(&v.to_be_bytes())
            }
            Self::Long64(v) => out.extend_from_slice(&v.to_be_bytes()),
            Self::Long64Unsigned(v) => out.extend_from_slice(&v.to_be_bytes()),
            Self::Float32(v) => out.extend_from_slice(&v.to_bits().to_be_bytes()),
            Self::Float64(v) => out.extend_from_slice(&v.to_bits().to_be_bytes()),
            Self::DateTime(v) => out.extend_from_slice(&v.to_bytes()),
            Self::Date(v) => out.extend_from_slice(&v.to_bytes()),
            Self::Time(v) => out.extend_from_slice(&v.to_bytes()),
        }
        Ok(())
    }

    /// The A-XDR tag byte of this value.
    #[must_use]
    pub const fn tag(&self) -> u8 {
        match self {
            Self::Null => 0,
            Self::Array(_) => 1,
            Self::Structure(_) => 2,
            Self::Boolean(_) => 3,
            Self::BitString { .. } => 4,
            Self::DoubleLong(_) => 5,
            Self::DoubleLongUnsigned(_) => 6,
            Self::OctetString(_) => 9,
            Self::VisibleString(_) => 10,
            Self::Utf8String(_) => 12,
            Self::Bcd(_) => 13,
            Self::Integer(_) => 15,
            Self::Long(_) => 16,
            Self::Unsigned(_) => 17,
            Self::LongUnsigned(_) => 18,
            Self::Long64(_) => 20,
            Self::Long64Unsigned(_) => 21,
            Self::Enum(_) => 22,
            Self::Float32(_) => 23,
            Self::Float64(_) => 24,
            Self::DateTime(_) => 25,
            Self::Date(_) => 26,
            Self::Time(_) => 27,
            Self::DeltaInteger(_) => 28,
            Self::DeltaLong(_) => 29,
            Self::DeltaDoubleLong(_) => 30,
            Self::DeltaUnsigned(_) => 31,
            Self::DeltaLongUnsigned(_) => 32,
            Self::DeltaDoubleLongUnsigned(_) => 33,
            Self::DontCare => 255,
        }
    }

    /// The same encoding through the upstream codec's owned tree. Kept for the property
    /// test that holds our encoder to it.
    #[doc(hidden)]
    pub fn encode_via_upstream(&self) -> Result<Vec<u8>, CodecError> {
        self.check(0)?;
        let mut out = Vec::new();
        self.to_upstream().encode(&mut out)?;
        Ok(out)
    }

    /// Refuse what the upstream encoder would write inconsistently.
    fn check(&self, offset: usize) -> Result<(), CodecError> {
        match self {
            Self::BitString { bits, bytes }
                if bytes.len() != bits.div_ceil(8) || *bits > MAX_LENGTH =>
            {
                Err(CodecError::new(CodecErrorKind::InvalidLength, offset))
            }
            Self::OctetString(b) | Self::VisibleString(b) | Self::Utf8String(b)
                if b.len() > MAX_LENGTH =>
            {
                Err(CodecError::new(CodecErrorKind::InvalidLength, offset))
            }
            Self::Array(v) | Self::Structure(v) if v.len() > MAX_LENGTH => {
                Err(CodecError::new(CodecErrorKind::InvalidLength, offset))
            }
            Self::Array(v) | Self::Structure(v) => v.iter().try_for_each(|e| e.check(offset)),
            _ => Ok(()),
        }
    }

    pub(crate) fn from_upstream(d: &dlms_cosem_rs::axdr::Data<'_>) -> Result<Self, CodecError> {
        use dlms_cosem_rs::axdr::Data as Up;
        // Directly from the borrowed view: one allocation per array/structure/string,
        // not two (through the upstream owned tree and again into ours).
        // The elements of a decoded sequence were validated already; read them in one
        // pass from its bytes rather than re-parsing each level through the borrowed
        // iterator (which walks every nested sequence again). A compact array among
        // them takes the iterator.
        let seq = |s: &dlms_cosem_rs::axdr::Seq<'_>| -> Result<Vec<Self>, CodecError> {
            let mut r = OwnedReader {
                bytes: s.as_bytes(),
                pos: 0,
            };
            match Self::read_elements(&mut r, &mut Pending::new(), s.len(), 1) {
                Ok(v) => Ok(v),
                Err(Fallback::Error(e)) => Err(e),
                Err(Fallback::CompactArray) => s.iter().map(|e| Self::from_upstream(&e?)).collect(),
            }
        };
        Ok(match *d {
            Up::Null => Self::Null,
            Up::DontCare => Self::DontCare,
            Up::Array(ref s) => Self::Array(seq(s)?),
            Up::Structure(ref s) => Self::Structure(seq(s)?),
            Up::Boolean(v) => Self::Boolean(v),
            Up::BitString(b) => Self::BitString {
                bits: b.len(),
                bytes: b.as_bytes().to_vec(),
            },
            Up::DoubleLong(v) => Self::DoubleLong(v),
            Up::DoubleLongUnsigned(v) => Self::DoubleLongUnsigned(v),
            Up::OctetString(b) => Self::OctetString(b.to_vec()),
            Up::VisibleString(b) => Self::VisibleString(b.to_vec()),
            Up::Utf8String(b) => Self::Utf8String(b.to_vec()),
            Up::Bcd(v) => Self::Bcd(v),
            Up::Integer(v) => Self::Integer(v),
            Up::Long(v) => Self::Long(v),
            Up::Unsigned(v) => Self::Unsigned(v),
            Up::LongUnsigned(v) => Self::LongUnsigned(v),
            // A compact array is a transfer syntax: expanded into an array of its rows
            // by the upstream owned conversion, the one place it is still used.
            Up::CompactArray(_) => Self::from_buf(DataBuf::from_data(d)?),
            Up::Long64(v) => Self::Long64(v),
            Up::Long64Unsigned(v) => Self::Long64Unsigned(v),
            Up::Enum(v) => Self::Enum(v),
            Up::Float32(v) => Self::Float32(v),
            Up::Float64(v) => Self::Float64(v),
            Up::DateTime(v) => Self::DateTime(v.into()),
            Up::Date(v) => Self::Date(v.into()),
            Up::Time(v) => Self::Time(v.into()),
            Up::DeltaInteger(v) => Self::DeltaInteger(v),
            Up::DeltaLong(v) => Self::DeltaLong(v),
            Up::DeltaDoubleLong(v) => Self::DeltaDoubleLong(v),
            Up::DeltaUnsigned(v) => Self::DeltaUnsigned(v),
            Up::DeltaLongUnsigned(v) => Self::DeltaLongUnsigned(v),
            Up::DeltaDoubleLongUnsigned(v) => Self::DeltaDoubleLongUnsigned(v),
        })
    }

    pub(crate) fn from_buf(d: DataBuf) -> Self {
        match d {
            DataBuf::Null => Self::Null,
            DataBuf::Array(v) => Self::Array(v.into_iter().map(Self::from_buf).collect()),
            DataBuf::Structure(v) => Self::Structure(v.into_iter().map(Self::from_buf).collect()),
            DataBuf::Boolean(v) => Self::Boolean(v),
            DataBuf::BitString { bits, bytes } => Self::BitString { bits, bytes },
            DataBuf::DoubleLong(v) => Self::DoubleLong(v),
            DataBuf::DoubleLongUnsigned(v) => Self::DoubleLongUnsigned(v),
            DataBuf::OctetString(v) => Self::OctetString(v),
            DataBuf::VisibleString(v) => Self::VisibleString(v),
            DataBuf::Utf8String(v) => Self::Utf8String(v),
            DataBuf::Bcd(v) => Self::Bcd(v),
            DataBuf::Integer(v) => Self::Integer(v),
            DataBuf::Long(v) => Self::Long(v),
            DataBuf::Unsigned(v) => Self::Unsigned(v),
            DataBuf::LongUnsigned(v) => Self::LongUnsigned(v),
            DataBuf::Long64(v) => Self::Long64(v),
            DataBuf::Long64Unsigned(v) => Self::Long64Unsigned(v),
            DataBuf::Enum(v) => Self::Enum(v),
            DataBuf::Float32(v) => Self::Float32(v),
            DataBuf::Float64(v) => Self::Float64(v),
            DataBuf::DateTime(v) => Self::DateTime(v.into()),
            DataBuf::Date(v) => Self::Date(v.into()),
            DataBuf::Time(v) => Self::Time(v.into()),
            DataBuf::DeltaInteger(v) => Self::DeltaInteger(v),
            DataBuf::DeltaLong(v) => Self::DeltaLong(v),
            DataBuf::DeltaDoubleLong(v) => Self::DeltaDoubleLong(v),
            DataBuf::DeltaUnsigned(v) => Self::DeltaUnsigned(v),
            DataBuf::DeltaLongUnsigned(v) => Self::DeltaLongUnsigned(v),
            DataBuf::DeltaDoubleLongUnsigned(v) => Self::DeltaDoubleLongUnsigned(v),
            DataBuf::DontCare => Self::DontCare,
        }
    }

    pub(crate) fn to_upstream(&self) -> DataBuf {
        match self {
            Self::Null => DataBuf::Null,
            Self::Array(v) => DataBuf::Array(v.iter().map(Self::to_upstream).collect()),
            Self::Structure(v) => DataBuf::Structure(v.iter().map(Self::to_upstream).collect()),
            Self::Boolean(v) => DataBuf::Boolean(*v),
            Self::BitString { bits, bytes } => DataBuf::BitString {
                bits: *bits,
                bytes: bytes.clone(),
            },
            Self::DoubleLong(v) => DataBuf::DoubleLong(*v),
            Self::DoubleLongUnsigned(v) => DataBuf::DoubleLongUnsigned(*v),
            Self::OctetString(v) => DataBuf::OctetString(v.clone()),
            Self::VisibleString(v) => DataBuf::VisibleString(v.clone()),
            Self::Utf8String(v) => DataBuf::Utf8String(v.clone()),
            Self::Bcd(v) => DataBuf::Bcd(*v),
            Self::Integer(v) => DataBuf::Integer(*v),
            Self::Long(v) => DataBuf::Long(*v),
            Self::Unsigned(v) => DataBuf::Unsigned(*v),
            Self::LongUnsigned(v) => DataBuf::LongUnsigned(*v),
            Self::Long64(v) => DataBuf::Long64(*v),
            Self::Long64Unsigned(v) => DataBuf::Long64Unsigned(*v),
            Self::Enum(v) => DataBuf::Enum(*v),
            Self::Float32(v) => DataBuf::Float32(*v),
            Self::Float64(v) => DataBuf::Float64(*v),
            Self::DateTime(v) => DataBuf::DateTime((*v).into()),
            Self::Date(v) => DataBuf::Date((*v).into()),
            Self::Time(v) => DataBuf::Time((*v).into()),
            Self::DeltaInteger(v) => DataBuf::DeltaInteger(*v),
            Self::DeltaLong(v) => DataBuf::DeltaLong(*v),
            Self::DeltaDoubleLong(v) => DataBuf::DeltaDoubleLong(*v),
            Self::DeltaUnsigned(v) => DataBuf::DeltaUnsigned(*v),
            Self::DeltaLongUnsigned(v) => DataBuf::DeltaLongUnsigned(*v),
            Self::DeltaDoubleLongUnsigned(v) => DataBuf::DeltaDoubleLongUnsigned(*v),
            Self::DontCare => DataBuf::DontCare,
        }
    }

    /// The Green Book name of the type, as Gurux's XML names the element
    /// (`DoubleLongUnsigned`, `OctetString`, ...).
    #[must_use]
    pub const fn type_name(&self) -> &'static str {
        match self {
            Self::Null => "NullData",
            Self::Array(_) => "Array",
            Self::Structure(_) => "Structure",
            Self::Boolean(_) => "Boolean",
            Self::BitString { .. } => "BitString",
            Self::DoubleLong(_) => "Int32",
            Self::DoubleLongUnsigned(_) => "UInt32",
            Self::OctetString(_) => "OctetString",
            Self::VisibleString(_) => "String",
            Self::Utf8String(_) => "StringUTF8",
            Self::Bcd(_) => "Bcd",
            Self::Integer(_) => "Int8",
            Self::Long(_) => "Int16",
            Self::Unsigned(_) => "UInt8",
            Self::LongUnsigned(_) => "UInt16",
            Self::Long64(_) => "Int64",
            Self::Long64Unsigned(_) => "UInt64",
            Self::Enum(_) => "Enum",
            Self::Float32(_) => "Float32",
            Self::Float64(_) => "Float64",
            Self::DateTime(_) => "DateTime",
            Self::Date(_) => "Date",
            Self::Time(_) => "Time",
            Self::DeltaInteger(_) => "DeltaInt8",
            Self::DeltaLong(_) => "DeltaInt16",
            Self::DeltaDoubleLong(_) => "DeltaInt32",
            Self::DeltaUnsigned(_) => "DeltaUInt8",
            Self::DeltaLongUnsigned(_) => "DeltaUInt16",
            Self::DeltaDoubleLongUnsigned(_) => "DeltaUInt32",
            Self::DontCare => "DontCare",
        }
    }

    /// A clock value as Gurux and most meters carry it in profile buffers and range
    /// descriptors: `octet-string(12)` (tag `09 0C`), not the `date-time` type.
    #[must_use]
    pub fn clock_octet_string(t: &CosemDateTime) -> Self {
        Self::OctetString(t.to_bytes().to_vec())
    }

    /// The value as a date-time, accepting both the `date-time` type and the
    /// `octet-string(12)` form (see [`Data::clock_octet_string`]).
    #[must_use]
    pub fn as_date_time(&self) -> Option<CosemDateTime> {
        match self {
            Self::DateTime(d) => Some(*d),
            Self::OctetString(b) => CosemDateTime::from_slice(b),
            _ => None,
        }
    }

    /// The value as an integer, for every integer type (not `bcd`, which is decimal).
    #[must_use]
    pub fn as_i128(&self) -> Option<i128> {
        Some(match *self {
            Self::Integer(v) | Self::DeltaInteger(v) => v.into(),
            Self::Long(v) | Self::DeltaLong(v) => v.into(),
            Self::DoubleLong(v) | Self::DeltaDoubleLong(v) => v.into(),
            Self::Long64(v) => v.into(),
            Self::Unsigned(v) | Self::Enum(v) | Self::DeltaUnsigned(v) => v.into(),
            Self::LongUnsigned(v) | Self::DeltaLongUnsigned(v) => v.into(),
            Self::DoubleLongUnsigned(v) | Self::DeltaDoubleLongUnsigned(v) => v.into(),
            Self::Long64Unsigned(v) => v.into(),
            _ => return None,
        })
    }

    /// The elements of an array or structure.
    #[must_use]
    pub fn elements(&self) -> Option<&[Data]> {
        match self {
            Self::Array(v) | Self::Structure(v) => Some(v),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_is_bounded_like_upstream() {
        for depth in [15usize, 16, 17] {
            let mut b = [0x01, 0x01].repeat(depth);
            b.push(0x00);
            assert_eq!(
                Data::decode_prefix(&b),
                Data::decode_prefix_upstream(&b),
                "depth {depth}"
            );
        }
        let mut b = [0x01, 0x01].repeat(16);
        b.push(0x00);
        assert_eq!(
            Data::decode(&b).unwrap_err(),
            CodecError::new(CodecErrorKind::DepthExceeded, 32)
        );
        // A count larger than the input does not allocate for it.
        let e = Data::decode(&[0x01, 0x84, 0x7F, 0xFF, 0xFF, 0xFF, 0x00]).unwrap_err();
        assert!(matches!(e.kind, CodecErrorKind::Truncated { .. }));
    }

    #[test]
    fn ber_lengths_long_form() {
        let d = Data::OctetString(vec![0xAA; 200]);
        let b = d.encode().unwrap();
        assert_eq!(&b[..3], &[0x09, 0x81, 0xC8]);
        assert_eq!(Data::decode(&b).unwrap(), d);
        let d = Data::OctetString(vec![0xAA; 300]);
        let b = d.encode().unwrap();
        assert_eq!(&b[..4], &[0x09, 0x82, 0x01, 0x2C]);
        assert_eq!(Data::decode(&b).unwrap(), d);
    }

    #[test]
    fn typed_errors_with_offsets() {
        // structure of 2, second element truncated inside a uint32.
        let e = Data::decode(&[0x02, 0x02, 0x11, 0x01, 0x06, 0x00, 0x01]).unwrap_err();
        assert!(matches!(e.kind, CodecErrorKind::Truncated { .. }), "{e}");
        assert_eq!(e.offset, 5);
        let e = Data::decode(&[0x07]).unwrap_err();
        assert_eq!(e.kind, CodecErrorKind::InvalidTag(7));
        assert_eq!(e.offset, 0);
        let e = Data::decode(&[0x11, 0x01, 0x00]).unwrap_err();
        assert_eq!(e, CodecError::new(CodecErrorKind::TrailingBytes(1), 2));
        let e = Data::BitString {
            bits: 9,
            bytes: vec![0],
        }
        .encode()
        .unwrap_err();
        assert_eq!(e.kind, CodecErrorKind::InvalidLength);
    }

    #[test]
    fn trm02_clock_column_as_octet_string_12() {
        let b = [
            0x09, 0x0C, 0x07, 0xEA, 0x0B, 0x19, 0xFF, 0x00, 0x30, 0x00, 0x00, 0xFD, 0xE4, 0x00,
        ];
        let d = Data::decode(&b).unwrap();
        let t = d.as_date_time().unwrap().to_chrono().unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-25T00:48:00+09:00");
        assert_eq!(
            Data::clock_octet_string(&d.as_date_time().unwrap())
                .encode()
                .unwrap(),
            b
        );
    }

    #[test]
    fn every_type_round_trips() {
        let dt = CosemDateTime::from_bytes([0x07, 0xEA, 11, 25, 3, 9, 30, 0, 0, 0xFD, 0xE4, 0]);
        let all = Data::Structure(vec![
            Data::Null,
            Data::Boolean(true),
            Data::BitString {
                bits: 3,
                bytes: vec![0xA0],
            },
            Data::Integer(-1),
            Data::Long(-2),
            Data::DoubleLong(-3),
            Data::Long64(-4),
            Data::Unsigned(1),
            Data::LongUnsigned(2),
            Data::DoubleLongUnsigned(3),
            Data::Long64Unsigned(4),
            Data::Enum(5),
            Data::Float32(1.5),
            Data::Float64(-2.25),
            Data::OctetString(vec![1, 2]),
            Data::VisibleString(b"abc".to_vec()),
            Data::Utf8String("電力".as_bytes().to_vec()),
            Data::DateTime(dt),
            Data::Date(CosemDate::from_bytes([0x07, 0xEA, 11, 25, 0xFF])),
            Data::Time(CosemTime::from_bytes([9, 30, 0, 0xFF])),
            Data::Array(vec![Data::Unsigned(1), Data::Unsigned(2)]),
        ]);
        let b = all.encode().unwrap();
        assert_eq!(Data::decode(&b).unwrap(), all);
        assert_eq!(Data::decode(&b).unwrap().encode().unwrap(), b);
    }
}
