//! Wrapper frames over a TCP stream: the 8-byte header (version 1, source wPort,
//! destination wPort, length) then the APDU, one after the other. A stream has no
//! datagram boundaries, so the header's length (16 bits: a frame is at most 65,543
//! bytes) is what delimits a frame; a frame
//! with another version than 1 ends the stream (nothing after it can be trusted to start
//! a frame).

use crate::wrapper::{WrapperError, HEADER_LEN, VERSION};

/// One frame taken off the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Source wPort.
    pub source: u16,
    /// Destination wPort.
    pub destination: u16,
    /// The APDU.
    pub apdu: Vec<u8>,
}

/// Cuts a byte stream into frames.
#[derive(Debug, Default)]
pub struct FrameReader {
    buffer: Vec<u8>,
    /// The stream broke a rule: nothing more is read from it.
    broken: Option<WrapperError>,
}

impl FrameReader {
    /// A reader at the start of a stream.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes received.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.broken.is_none() {
            self.buffer.extend_from_slice(bytes);
        }
    }

    /// The next whole frame, if one has arrived.
    ///
    /// # Errors
    /// [`WrapperError::Version`]: the stream is not frames (or lost its place); from
    /// then on every call fails the same way: the caller closes the connection.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, WrapperError> {
        if let Some(e) = self.broken {
            return Err(e);
        }
        let Some(header) = self.buffer.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let field = |at: usize| u16::from_be_bytes([header[at], header[at + 1]]);
        let version = field(0);
        if version != VERSION {
            let e = WrapperError::Version(version);
            self.broken = Some(e);
            self.buffer.clear();
            return Err(e);
        }
        let (source, destination, length) = (field(2), field(4), usize::from(field(6)));
        let Some(apdu) = self.buffer.get(HEADER_LEN..HEADER_LEN + length) else {
            return Ok(None);
        };
        let frame = Frame {
            source,
            destination,
            apdu: apdu.to_vec(),
        };
        self.buffer.drain(..HEADER_LEN + length);
        Ok(Some(frame))
    }

    /// Bytes held that do not make a whole frame yet.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.buffer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wrapper::Wpdu;
    use proptest::prelude::*;

    #[test]
    fn a_wrong_version_ends_the_stream() {
        let mut r = FrameReader::new();
        r.push(&[0, 2, 0, 1, 0, 102, 0, 1, 0xC0]);
        assert_eq!(r.next_frame(), Err(WrapperError::Version(2)));
        r.push(&Wpdu::new(1, 102, &[0xC0]).emit().unwrap());
        assert_eq!(r.next_frame(), Err(WrapperError::Version(2)));
    }

    proptest! {
        /// Frames cut anywhere arrive whole, in order, and nothing is left over.
        #[test]
        fn frames_survive_any_cut_of_the_stream(
            apdus in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..8),
            cuts in prop::collection::vec(1usize..64, 1..40),
        ) {
            let stream: Vec<u8> = apdus
                .iter()
                .flat_map(|a| Wpdu::new(1, 102, a).emit().unwrap())
                .collect();
            let mut r = FrameReader::new();
            let mut got = Vec::new();
            let mut at = 0;
            for n in cuts.iter().cycle() {
                if at >= stream.len() {
                    break;
                }
                let end = (at + n).min(stream.len());
                r.push(&stream[at..end]);
                at = end;
                while let Some(f) = r.next_frame().unwrap() {
                    got.push(f.apdu);
                }
            }
            prop_assert_eq!(got, apdus);
            prop_assert_eq!(r.pending(), 0);
        }
    }
}
