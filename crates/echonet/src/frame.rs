//! ECHONET Lite frames: the checked view [`Frame`] and the representation [`Repr`].
//!
//! Format 1 (specified message, EHD 0x1081):
//!
//! ```text
//! EHD1 EHD2 TID(2) SEOJ(3) DEOJ(3) ESV OPC { EPC PDC EDT(PDC) }*OPC [OPCGet { EPC PDC EDT }*]
//! ```
//!
//! The second list exists only for SetGet, SetGet_Res and SetGet_SNA. Format 2 (arbitrary
//! message, EHD 0x1082) carries opaque EDATA after the TID.

use alloc::vec::Vec;
use core::fmt;

use crate::{Edt, Eoj, Esv, FrameError};

/// EHD1 of every ECHONET Lite frame.
pub const EHD1: u8 = 0x10;
/// EHD2 of format 1, the specified message format.
pub const EHD2_SPECIFIED: u8 = 0x81;
/// EHD2 of format 2, the arbitrary message format.
pub const EHD2_ARBITRARY: u8 = 0x82;
/// EHD1, EHD2 and TID: the part both formats share.
pub const HEADER_LEN: usize = 4;

const SEOJ: usize = 4;
const DEOJ: usize = 7;
const ESV: usize = 10;
const OPC: usize = 11;
/// Bytes of a format 1 frame before the first property.
const FORMAT1_FIXED: usize = 12;

/// A checked view over a buffer holding one whole ECHONET Lite frame.
///
/// [`Frame::new_checked`] walks every property list once, so the accessors and the
/// property iterators cannot fail or read out of bounds afterwards.
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Validate `buffer` as one complete frame: header, ESV, both property lists, and no
    /// trailing bytes.
    pub fn new_checked(buffer: T) -> Result<Frame<T>, FrameError> {
        check(buffer.as_ref())?;
        Ok(Frame { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn byte(&self, at: usize) -> u8 {
        self.bytes().get(at).copied().unwrap_or(0)
    }

    fn eoj_at(&self, at: usize) -> Eoj {
        Eoj::new(self.byte(at), self.byte(at + 1), self.byte(at + 2))
    }

    /// EHD2: [`EHD2_SPECIFIED`] or [`EHD2_ARBITRARY`].
    pub fn ehd2(&self) -> u8 {
        self.byte(1)
    }

    /// Whether this is a format 1 (specified message) frame.
    pub fn is_specified(&self) -> bool {
        self.ehd2() == EHD2_SPECIFIED
    }

    pub fn tid(&self) -> u16 {
        u16::from_be_bytes([self.byte(2), self.byte(3)])
    }

    /// Source object; meaningful for format 1 only.
    pub fn seoj(&self) -> Eoj {
        self.eoj_at(SEOJ)
    }

    /// Destination object; meaningful for format 1 only.
    pub fn deoj(&self) -> Eoj {
        self.eoj_at(DEOJ)
    }

    /// The service of a format 1 frame; `None` for format 2.
    pub fn esv(&self) -> Option<Esv> {
        if self.is_specified() {
            Esv::from_u8(self.byte(ESV))
        } else {
            None
        }
    }

    /// The (first) property list of a format 1 frame: the set list for SetGet services.
    pub fn properties(&self) -> PropertyIter<'_> {
        if !self.is_specified() {
            return PropertyIter::empty();
        }
        PropertyIter::new(self.bytes(), OPC)
    }

    /// The get list of SetGet, SetGet_Res and SetGet_SNA; empty for every other service.
    pub fn get_properties(&self) -> PropertyIter<'_> {
        match self.esv() {
            Some(esv) if esv.has_two_lists() => {
                let first = self.properties();
                let after = first.end_offset();
                PropertyIter::new(self.bytes(), after)
            }
            _ => PropertyIter::empty(),
        }
    }

    /// The format 1 message, borrowed: no copy, no allocation. `None` for format 2.
    pub fn message(&self) -> Option<MessageRef<'_>> {
        Some(MessageRef {
            tid: self.tid(),
            seoj: self.seoj(),
            deoj: self.deoj(),
            esv: self.esv()?,
            props: self.properties(),
            get_props: self.get_properties(),
        })
    }

    /// EDATA of a format 2 frame; empty for format 1.
    pub fn arbitrary_data(&self) -> &[u8] {
        if self.is_specified() {
            &[]
        } else {
            self.bytes().get(HEADER_LEN..).unwrap_or(&[])
        }
    }
}

/// One property as it stands in a checked frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PropertyRef<'a> {
    pub epc: u8,
    pub edt: &'a [u8],
}

/// Iterator over one property list of a checked [`Frame`].
#[derive(Debug, Clone)]
pub struct PropertyIter<'a> {
    bytes: &'a [u8],
    offset: usize,
    remaining: u8,
}

impl<'a> PropertyIter<'a> {
    fn empty() -> PropertyIter<'a> {
        PropertyIter {
            bytes: &[],
            offset: 0,
            remaining: 0,
        }
    }

    fn new(bytes: &'a [u8], opc_at: usize) -> PropertyIter<'a> {
        PropertyIter {
            bytes,
            offset: opc_at + 1,
            remaining: bytes.get(opc_at).copied().unwrap_or(0),
        }
    }

    /// Offset just past the last property of this list.
    fn end_offset(mut self) -> usize {
        while self.next().is_some() {}
        self.offset
    }
}

impl<'a> Iterator for PropertyIter<'a> {
    type Item = PropertyRef<'a>;

    fn next(&mut self) -> Option<PropertyRef<'a>> {
        if self.remaining == 0 {
            return None;
        }
        let epc = *self.bytes.get(self.offset)?;
        let pdc = usize::from(*self.bytes.get(self.offset + 1)?);
        let start = self.offset + 2;
        let edt = self.bytes.get(start..start + pdc)?;
        self.offset = start + pdc;
        self.remaining -= 1;
        Some(PropertyRef { epc, edt })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Exact: the frame was checked, so every announced property is there.
        let n = usize::from(self.remaining);
        (n, Some(n))
    }
}

impl ExactSizeIterator for PropertyIter<'_> {}

impl PropertyIter<'_> {
    /// Bytes the remaining properties take on the wire, OPC byte included.
    fn wire_len(&self) -> usize {
        1 + self.clone().map(|p| 2 + p.edt.len()).sum::<usize>()
    }
}

/// Validate one whole frame.
fn check(b: &[u8]) -> Result<(), FrameError> {
    let available = b.len();
    if available < HEADER_LEN {
        return Err(FrameError::Truncated {
            needed: HEADER_LEN,
            available,
        });
    }
    if b[0] != EHD1 {
        return Err(FrameError::BadEhd1(b[0]));
    }
    match b[1] {
        EHD2_ARBITRARY => return Ok(()),
        EHD2_SPECIFIED => {}
        other => return Err(FrameError::BadEhd2(other)),
    }
    if available < FORMAT1_FIXED {
        return Err(FrameError::Truncated {
            needed: FORMAT1_FIXED,
            available,
        });
    }
    let esv = Esv::from_u8(b[ESV]).ok_or(FrameError::UnknownEsv(b[ESV]))?;
    let mut offset = walk_list(b, OPC)?;
    if esv.has_two_lists() {
        offset = walk_list(b, offset)?;
    }
    if offset != available {
        return Err(FrameError::TrailingBytes(available - offset));
    }
    Ok(())
}

/// Walk the property list whose OPC byte is at `opc_at`; returns the offset after it.
fn walk_list(b: &[u8], opc_at: usize) -> Result<usize, FrameError> {
    let available = b.len();
    let declared = *b.get(opc_at).ok_or(FrameError::Truncated {
        needed: opc_at + 1,
        available,
    })?;
    let mut offset = opc_at + 1;
    for found in 0..declared {
        let Some(&epc) = b.get(offset) else {
            return Err(FrameError::OpcOverrun { declared, found });
        };
        let Some(&pdc) = b.get(offset + 1) else {
            return Err(FrameError::Truncated {
                needed: offset + 2,
                available,
            });
        };
        let left = available - (offset + 2);
        if usize::from(pdc) > left {
            return Err(FrameError::PdcOverrun {
                epc,
                pdc,
                available: left,
            });
        }
        offset += 2 + usize::from(pdc);
    }
    Ok(offset)
}

/// One property with its data, owned.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Property {
    pub epc: u8,
    pub edt: Edt,
}

impl Property {
    pub fn new(epc: u8, edt: impl Into<Edt>) -> Property {
        Property {
            epc,
            edt: edt.into(),
        }
    }

    /// A property with PDC 0: what Get asks for and what an SNA returns for a failure.
    pub fn empty(epc: u8) -> Property {
        Property {
            epc,
            edt: Edt::new(),
        }
    }
}

impl fmt::Debug for Property {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Property(0x{:02X}, [{:?}])", self.epc, self.edt)
    }
}

impl From<PropertyRef<'_>> for Property {
    fn from(p: PropertyRef<'_>) -> Property {
        Property::new(p.epc, p.edt)
    }
}

/// A format 1 message.
///
/// `props` is the property list of every service, and the set list of the SetGet family;
/// `get_props` is the get list of the SetGet family and must be empty for other services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub tid: u16,
    pub seoj: Eoj,
    pub deoj: Eoj,
    pub esv: Esv,
    pub props: Vec<Property>,
    pub get_props: Vec<Property>,
}

impl Message {
    /// A message with one property list.
    pub fn new(tid: u16, seoj: Eoj, deoj: Eoj, esv: Esv, props: Vec<Property>) -> Message {
        Message {
            tid,
            seoj,
            deoj,
            esv,
            props,
            get_props: Vec::new(),
        }
    }

    /// A Get request for `epcs` (each with PDC 0).
    pub fn get(tid: u16, seoj: Eoj, deoj: Eoj, epcs: &[u8]) -> Message {
        let props = epcs.iter().map(|&epc| Property::empty(epc)).collect();
        Message::new(tid, seoj, deoj, Esv::Get, props)
    }

    /// The property with this EPC in the first list, if present.
    pub fn property(&self, epc: u8) -> Option<&Property> {
        self.props.iter().find(|p| p.epc == epc)
    }
}

/// A format 1 message borrowed from a checked [`Frame`] ([`Frame::message`]): the fields
/// of [`Message`], with property lists that point into the datagram. Code that only
/// reads what it received (the meter serving a request) uses it and copies nothing;
/// [`MessageRef::to_owned`] gives a [`Message`] to keep.
#[derive(Debug, Clone)]
pub struct MessageRef<'a> {
    pub tid: u16,
    pub seoj: Eoj,
    pub deoj: Eoj,
    pub esv: Esv,
    pub props: PropertyIter<'a>,
    pub get_props: PropertyIter<'a>,
}

impl MessageRef<'_> {
    pub fn to_owned(&self) -> Message {
        Message {
            tid: self.tid,
            seoj: self.seoj,
            deoj: self.deoj,
            esv: self.esv,
            props: self.props.clone().map(Property::from).collect(),
            get_props: self.get_props.clone().map(Property::from).collect(),
        }
    }

    /// Length of the emitted frame.
    pub fn buffer_len(&self) -> usize {
        let second = if self.esv.has_two_lists() {
            self.get_props.wire_len()
        } else {
            0
        };
        FORMAT1_FIXED - 1 + self.props.wire_len() + second
    }

    /// Write the frame into `buf`; returns the number of bytes written. The lists come
    /// from a checked frame, so only the pairing of ESV and lists (the fields are
    /// public) and the buffer size can fail.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, FrameError> {
        if !self.esv.has_two_lists() && self.get_props.len() > 0 {
            return Err(FrameError::BodyMismatch { esv: self.esv });
        }
        let needed = self.buffer_len();
        let Some(out) = buf.get_mut(..needed) else {
            return Err(FrameError::BufferTooSmall {
                needed,
                available: buf.len(),
            });
        };
        let mut w = Writer { out, at: 0 };
        w.header(self.tid, self.seoj, self.deoj, self.esv);
        w.list(self.props.len(), self.props.clone().map(|p| (p.epc, p.edt)));
        if self.esv.has_two_lists() {
            w.list(
                self.get_props.len(),
                self.get_props.clone().map(|p| (p.epc, p.edt)),
            );
        }
        Ok(w.at)
    }
}

/// A format 2 message: the TID and opaque EDATA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArbitraryMessage {
    pub tid: u16,
    pub edata: Vec<u8>,
}

/// A parsed ECHONET Lite frame of either format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repr {
    Specified(Message),
    Arbitrary(ArbitraryMessage),
}

impl Repr {
    /// Parse a checked frame. Cannot fail: the checks ran in [`Frame::new_checked`].
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Repr {
        match frame.message() {
            Some(m) => Repr::Specified(m.to_owned()),
            None => Repr::Arbitrary(ArbitraryMessage {
                tid: frame.tid(),
                edata: frame.arbitrary_data().to_vec(),
            }),
        }
    }

    /// Check and parse a datagram.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Repr, FrameError> {
        Ok(Repr::parse(&Frame::new_checked(bytes)?))
    }

    pub fn tid(&self) -> u16 {
        match self {
            Repr::Specified(m) => m.tid,
            Repr::Arbitrary(a) => a.tid,
        }
    }

    /// Check that the representation can be put on the wire: list shapes, OPC and PDC
    /// limits.
    fn validate(&self) -> Result<(), FrameError> {
        let Repr::Specified(m) = self else {
            return Ok(());
        };
        if !m.esv.has_two_lists() && !m.get_props.is_empty() {
            return Err(FrameError::BodyMismatch { esv: m.esv });
        }
        for list in [&m.props, &m.get_props] {
            if list.len() > 255 {
                return Err(FrameError::TooManyProperties(list.len()));
            }
            if let Some(p) = list.iter().find(|p| p.edt.len() > 255) {
                return Err(FrameError::EdtTooLong {
                    epc: p.epc,
                    len: p.edt.len(),
                });
            }
        }
        Ok(())
    }

    /// Length of the emitted frame.
    pub fn buffer_len(&self) -> usize {
        match self {
            Repr::Specified(m) => {
                let list = |l: &[Property]| 1 + l.iter().map(|p| 2 + p.edt.len()).sum::<usize>();
                let second = if m.esv.has_two_lists() {
                    list(&m.get_props)
                } else {
                    0
                };
                FORMAT1_FIXED - 1 + list(&m.props) + second
            }
            Repr::Arbitrary(a) => HEADER_LEN + a.edata.len(),
        }
    }

    /// Write the frame into `buf`; returns the number of bytes written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, FrameError> {
        self.validate()?;
        let needed = self.buffer_len();
        let Some(out) = buf.get_mut(..needed) else {
            return Err(FrameError::BufferTooSmall {
                needed,
                available: buf.len(),
            });
        };
        let mut w = Writer { out, at: 0 };
        match self {
            Repr::Specified(m) => {
                w.header(m.tid, m.seoj, m.deoj, m.esv);
                w.list(m.props.len(), m.props.iter().map(|p| (p.epc, &p.edt[..])));
                if m.esv.has_two_lists() {
                    let get = m.get_props.iter().map(|p| (p.epc, &p.edt[..]));
                    w.list(m.get_props.len(), get);
                }
            }
            Repr::Arbitrary(a) => {
                w.put(&[EHD1, EHD2_ARBITRARY]);
                w.put(&a.tid.to_be_bytes());
                w.put(&a.edata);
            }
        }
        Ok(w.at)
    }

    /// Emit into a new vector.
    pub fn to_vec(&self) -> Result<Vec<u8>, FrameError> {
        let mut v = alloc::vec![0; self.buffer_len()];
        self.emit(&mut v)?;
        Ok(v)
    }
}

impl From<Message> for Repr {
    fn from(m: Message) -> Repr {
        Repr::Specified(m)
    }
}

/// Sequential writer over a buffer already sized by `buffer_len`.
struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        if let Some(dst) = self.out.get_mut(self.at..self.at + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        self.at += bytes.len();
    }

    /// EHD, TID, SEOJ, DEOJ and ESV of a format 1 frame.
    fn header(&mut self, tid: u16, seoj: Eoj, deoj: Eoj, esv: Esv) {
        self.put(&[EHD1, EHD2_SPECIFIED]);
        self.put(&tid.to_be_bytes());
        self.put(&seoj.to_bytes());
        self.put(&deoj.to_bytes());
        self.put(&[esv.code()]);
    }

    /// OPC then the properties; counts and lengths were validated before.
    fn list<'p>(&mut self, count: usize, props: impl Iterator<Item = (u8, &'p [u8])>) {
        self.put(&[count as u8]);
        for (epc, edt) in props {
            self.put(&[epc, edt.len() as u8]);
            self.put(edt);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn parses_a_get_request_from_the_spec_layout() {
        // Get of 0x80 from a controller to a meter: 1081 0001 05FF01 028E01 62 01 80 00
        let b = hex("1081000105FF01028E0162018000");
        let Repr::Specified(m) = Repr::parse_bytes(&b).unwrap() else {
            panic!("format 1 expected")
        };
        assert_eq!(m.tid, 1);
        assert_eq!(m.seoj, Eoj::CONTROLLER);
        assert_eq!(m.deoj, Eoj::new(0x02, 0x8E, 0x01));
        assert_eq!(m.esv, Esv::Get);
        assert_eq!(m.props, vec![Property::empty(0x80)]);
        assert_eq!(Repr::Specified(m).to_vec().unwrap(), b);
    }

    #[test]
    fn set_get_has_two_lists() {
        // SetGet: set 0xD5 = 0x0001, get 0xE1.
        let b = hex("1081000205FF01028E016E01D502000101E100");
        let frame = Frame::new_checked(&b[..]).unwrap();
        assert_eq!(frame.properties().count(), 1);
        let get: Vec<_> = frame.get_properties().collect();
        assert_eq!(
            get,
            vec![PropertyRef {
                epc: 0xE1,
                edt: &[]
            }]
        );
        let repr = Repr::parse(&frame);
        assert_eq!(repr.to_vec().unwrap(), b);
    }

    #[test]
    fn format_2_is_opaque() {
        let b = hex("10820007DEADBEEF");
        let repr = Repr::parse_bytes(&b).unwrap();
        assert_eq!(
            repr,
            Repr::Arbitrary(ArbitraryMessage {
                tid: 7,
                edata: vec![0xDE, 0xAD, 0xBE, 0xEF]
            })
        );
        assert_eq!(repr.to_vec().unwrap(), b);
    }

    #[test]
    fn malformed_frames_are_typed_errors() {
        use FrameError::*;
        let cases: &[(&str, FrameError)] = &[
            (
                "10",
                Truncated {
                    needed: 4,
                    available: 1,
                },
            ),
            ("11810001", BadEhd1(0x11)),
            ("10830001", BadEhd2(0x83)),
            (
                "1081000105FF01028E0162",
                Truncated {
                    needed: 12,
                    available: 11,
                },
            ),
            ("1081000105FF01028E016F0180 00", UnknownEsv(0x6F)),
            (
                "1081000105FF01028E0162028000",
                OpcOverrun {
                    declared: 2,
                    found: 1,
                },
            ),
            (
                "1081000105FF01028E01620180",
                Truncated {
                    needed: 14,
                    available: 13,
                },
            ),
            (
                "1081000105FF01028E016201800301",
                PdcOverrun {
                    epc: 0x80,
                    pdc: 3,
                    available: 1,
                },
            ),
            ("1081000105FF01028E0162018000FF", TrailingBytes(1)),
            (
                "1081000105FF01028E016E01D50100",
                Truncated {
                    needed: 16,
                    available: 15,
                },
            ),
        ];
        for (h, err) in cases {
            let b = hex(&h.replace(' ', ""));
            assert_eq!(Repr::parse_bytes(&b), Err(*err), "{h}");
        }
    }

    #[test]
    fn emit_rejects_what_cannot_be_encoded() {
        let mut m = Message::new(
            1,
            Eoj::CONTROLLER,
            Eoj::NODE_PROFILE,
            Esv::Get,
            vec![Property::new(0x80, vec![0; 256])],
        );
        assert_eq!(
            Repr::from(m.clone()).to_vec(),
            Err(FrameError::EdtTooLong {
                epc: 0x80,
                len: 256
            })
        );
        m.props = vec![Property::empty(0x80)];
        m.get_props = vec![Property::empty(0x81)];
        assert_eq!(
            Repr::from(m.clone()).to_vec(),
            Err(FrameError::BodyMismatch { esv: Esv::Get })
        );
        m.get_props.clear();
        let mut small = [0u8; 5];
        assert_eq!(
            Repr::from(m).emit(&mut small),
            Err(FrameError::BufferTooSmall {
                needed: 14,
                available: 5
            })
        );
    }
}
