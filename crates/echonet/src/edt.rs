//! [`Edt`]: the data of one property, owned, stored inline when short.
//!
//! Nearly every EDT is a few bytes (a status, a 4-byte counter, a 17-byte map); only
//! histories run to 194. Keeping short ones inline saves one heap allocation per
//! property when a frame is parsed into a [`crate::Repr`], which is most of the cost of
//! parsing (see docs/benchmarks.md).

use alloc::vec::Vec;
use core::fmt;
use core::ops::Deref;

use smallvec::SmallVec;

/// EDTs up to this many bytes need no heap allocation: room for a property map's 17.
const INLINE: usize = 24;

/// The data (EDT) of one property. Reads as a byte slice.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Edt(SmallVec<[u8; INLINE]>);

impl Edt {
    pub fn new() -> Edt {
        Edt(SmallVec::new())
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.0.to_vec()
    }

    pub fn push(&mut self, byte: u8) {
        self.0.push(byte);
    }

    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

impl Deref for Edt {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for Edt {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl From<&[u8]> for Edt {
    fn from(b: &[u8]) -> Edt {
        Edt(SmallVec::from_slice(b))
    }
}

impl<const N: usize> From<[u8; N]> for Edt {
    fn from(b: [u8; N]) -> Edt {
        Edt(SmallVec::from_slice(&b))
    }
}

impl<const N: usize> From<&[u8; N]> for Edt {
    fn from(b: &[u8; N]) -> Edt {
        Edt(SmallVec::from_slice(b))
    }
}

impl From<Vec<u8>> for Edt {
    fn from(v: Vec<u8>) -> Edt {
        Edt(SmallVec::from_vec(v))
    }
}

impl From<Edt> for Vec<u8> {
    fn from(e: Edt) -> Vec<u8> {
        e.0.into_vec()
    }
}

impl PartialEq<[u8]> for Edt {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<&[u8]> for Edt {
    fn eq(&self, other: &&[u8]) -> bool {
        self.as_slice() == *other
    }
}

impl<const N: usize> PartialEq<[u8; N]> for Edt {
    fn eq(&self, other: &[u8; N]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<Vec<u8>> for Edt {
    fn eq(&self, other: &Vec<u8>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<'a> IntoIterator for &'a Edt {
    type Item = &'a u8;
    type IntoIter = core::slice::Iter<'a, u8>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Debug for Edt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.iter() {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}
