//! A bounds-checked cursor: every read that would run past the end becomes
//! [`FrameError::Truncated`] with the offset, so the parsers never index out of range.

use super::FrameError;

#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf[0]` in the MPDU, for error offsets of sub-slices.
    base: usize,
}

impl<'a> Reader<'a> {
    pub(crate) const fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    /// A reader over `buf` (which starts the MPDU) whose next byte is `buf[pos]`.
    pub(crate) const fn starting_at(buf: &'a [u8], pos: usize) -> Self {
        Self { buf, pos, base: 0 }
    }

    /// Offset of the next byte in the MPDU.
    pub(crate) const fn offset(&self) -> usize {
        self.base + self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    #[inline]
    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        match self.buf.get(self.pos..self.pos.saturating_add(n)) {
            Some(b) => {
                self.pos += n;
                Ok(b)
            }
            None => Err(self.truncated(n)),
        }
    }

    // The fixed-size reads are forced inline: the frame header is a dozen of them, and
    // a call per field returning its `Result` through the stack cost more than the field.
    #[inline(always)]
    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], FrameError> {
        match self.buf.get(self.pos..).and_then(<[u8]>::first_chunk::<N>) {
            Some(a) => {
                self.pos += N;
                Ok(*a)
            }
            None => Err(self.truncated(N)),
        }
    }

    /// The error for a read of `n` bytes past the end.
    #[cold]
    fn truncated(&self, n: usize) -> FrameError {
        FrameError::Truncated {
            offset: self.offset(),
            needed: n - self.buf.len().saturating_sub(self.pos),
        }
    }

    #[inline(always)]
    pub(crate) fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.array::<1>()?[0])
    }

    #[inline(always)]
    pub(crate) fn u16_le(&mut self) -> Result<u16, FrameError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    #[inline(always)]
    pub(crate) fn u32_le(&mut self) -> Result<u32, FrameError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
}
