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

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        let left = self.buf.len().saturating_sub(self.pos);
        match self.buf.get(self.pos..self.pos.saturating_add(n)) {
            Some(b) if n <= left => {
                self.pos += n;
                Ok(b)
            }
            _ => Err(FrameError::Truncated {
                offset: self.offset(),
                needed: n - left,
            }),
        }
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], FrameError> {
        let mut out = [0; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16_le(&mut self) -> Result<u16, FrameError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub(crate) fn u32_le(&mut self) -> Result<u32, FrameError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
}
