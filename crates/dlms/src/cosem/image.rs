//! Image transfer (class 18, version 0): firmware update of the terminal (SEC-10).
//!
//! The image is assembled in memory block by block, verified for completeness and size,
//! and on activation handed to the terminal node (`ModelChange::ImageActivated`), which
//! installs it. Checking the image's *authenticity* (a signature of the user business)
//! is not done here yet: `image_to_activate_info` carries an empty signature.

use super::{logical_name_value, no_selector, octets, put, AccessResult, CosemObject, Obis, Value};
use crate::apdu::DataRef as Data;
use crate::apdu::{ActionResult, DataAccessResult, SelectiveAccess};
use dlms_cosem_rs::codec::Writer;

/// Block size in bytes (ours: one block plus the ACTION header and suite-0 overhead fits
/// a 256-byte APDU, small for the IoT route's radio).
pub const BLOCK_SIZE: u32 = 128;
/// Largest image accepted (ours: bounds memory).
pub const IMAGE_MAX: u32 = 4 * 1024 * 1024;
/// Longest image identifier accepted.
pub const IDENTIFIER_MAX: usize = 64;

/// `image_transfer_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageStatus {
    /// 0
    NotInitiated,
    /// 1
    Initiated,
    /// 3
    VerificationSuccessful,
    /// 4
    VerificationFailed,
    /// 6
    ActivationSuccessful,
}

impl ImageStatus {
    /// The enumeration value.
    #[must_use]
    pub const fn code(self) -> u8 {
        match self {
            Self::NotInitiated => 0,
            Self::Initiated => 1,
            Self::VerificationSuccessful => 3,
            Self::VerificationFailed => 4,
            Self::ActivationSuccessful => 6,
        }
    }
}

/// The image transfer object.
#[derive(Clone, PartialEq, Eq)]
pub struct ImageTransfer {
    logical_name: Obis,
    enabled: bool,
    status: ImageStatus,
    identifier: Vec<u8>,
    size: u32,
    received: Vec<bool>,
    image: Vec<u8>,
    activated: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for ImageTransfer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImageTransfer")
            .field("status", &self.status)
            .field("identifier", &String::from_utf8_lossy(&self.identifier))
            .field("size", &self.size)
            .field(
                "blocks_received",
                &self.received.iter().filter(|b| **b).count(),
            )
            .finish_non_exhaustive()
    }
}

impl ImageTransfer {
    /// An idle image transfer, enabled.
    #[must_use]
    pub const fn new(logical_name: Obis) -> Self {
        Self {
            logical_name,
            enabled: true,
            status: ImageStatus::NotInitiated,
            identifier: Vec::new(),
            size: 0,
            received: Vec::new(),
            image: Vec::new(),
            activated: None,
        }
    }

    /// The transfer status.
    #[must_use]
    pub const fn status(&self) -> ImageStatus {
        self.status
    }

    /// Take the activated image `(identifier, bytes)`, once.
    pub fn take_activated(&mut self) -> Option<(Vec<u8>, Vec<u8>)> {
        self.activated.take()
    }

    /// The identifier of the activated image not yet taken.
    #[must_use]
    pub fn activated_identifier(&self) -> Option<Vec<u8>> {
        self.activated.as_ref().map(|(id, _)| id.clone())
    }

    fn first_missing(&self) -> u32 {
        let n = self
            .received
            .iter()
            .position(|b| !*b)
            .unwrap_or(self.received.len());
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    fn initiate(&mut self, p: Option<&Data<'_>>) -> Result<(), ActionResult> {
        if !self.enabled {
            return Err(ActionResult::ObjectUnavailable);
        }
        let s = p
            .and_then(Data::as_structure)
            .ok_or(ActionResult::TypeUnmatched)?;
        let id = s
            .get(0)
            .ok()
            .and_then(|v| v.as_bytes().map(<[u8]>::to_vec))
            .ok_or(ActionResult::TypeUnmatched)?;
        let size = match s.get(1) {
            Ok(Data::DoubleLongUnsigned(n)) => n,
            _ => return Err(ActionResult::TypeUnmatched),
        };
        if size == 0 || size > IMAGE_MAX || id.len() > IDENTIFIER_MAX {
            return Err(ActionResult::OtherReason);
        }
        let blocks =
            usize::try_from(size.div_ceil(BLOCK_SIZE)).map_err(|_| ActionResult::OtherReason)?;
        self.identifier = id;
        self.size = size;
        self.received = vec![false; blocks];
        self.image = vec![0; usize::try_from(size).map_err(|_| ActionResult::OtherReason)?];
        self.status = ImageStatus::Initiated;
        tracing::info!(size, "image transfer initiated");
        Ok(())
    }

    fn block(&mut self, p: Option<&Data<'_>>) -> Result<(), ActionResult> {
        // A block after a failed verification resumes the transfer (the client sends
        // the missing blocks and verifies again).
        if !matches!(
            self.status,
            ImageStatus::Initiated | ImageStatus::VerificationFailed
        ) {
            return Err(ActionResult::OtherReason);
        }
        let s = p
            .and_then(Data::as_structure)
            .ok_or(ActionResult::TypeUnmatched)?;
        let (Ok(Data::DoubleLongUnsigned(n)), Ok(Data::OctetString(bytes))) = (s.get(0), s.get(1))
        else {
            return Err(ActionResult::TypeUnmatched);
        };
        let start = usize::try_from(u64::from(n) * u64::from(BLOCK_SIZE))
            .map_err(|_| ActionResult::OtherReason)?;
        let expected = self
            .image
            .len()
            .saturating_sub(start)
            .min(BLOCK_SIZE as usize);
        if expected == 0 || bytes.len() != expected {
            return Err(ActionResult::OtherReason);
        }
        let target = self
            .image
            .get_mut(start..start + expected)
            .ok_or(ActionResult::OtherReason)?;
        target.copy_from_slice(bytes);
        if let Some(flag) = self.received.get_mut(n as usize) {
            *flag = true;
        }
        self.status = ImageStatus::Initiated;
        Ok(())
    }

    fn verify(&mut self) -> Result<(), ActionResult> {
        match self.status {
            ImageStatus::Initiated | ImageStatus::VerificationFailed => {
                if self.received.iter().all(|b| *b) {
                    self.status = ImageStatus::VerificationSuccessful;
                    Ok(())
                } else {
                    self.status = ImageStatus::VerificationFailed;
                    Err(ActionResult::OtherReason)
                }
            }
            ImageStatus::VerificationSuccessful => Ok(()),
            _ => Err(ActionResult::OtherReason),
        }
    }

    fn activate(&mut self) -> Result<(), ActionResult> {
        if self.status != ImageStatus::VerificationSuccessful {
            return Err(ActionResult::OtherReason);
        }
        self.status = ImageStatus::ActivationSuccessful;
        self.activated = Some((self.identifier.clone(), std::mem::take(&mut self.image)));
        tracing::info!(identifier = %String::from_utf8_lossy(&self.identifier), "image activated");
        Ok(())
    }
}

impl CosemObject for ImageTransfer {
    fn class_id(&self) -> u16 {
        18
    }
    fn version(&self) -> u8 {
        0
    }
    fn logical_name(&self) -> Obis {
        self.logical_name
    }
    fn attribute_count(&self) -> i8 {
        7
    }
    fn method_count(&self) -> i8 {
        4
    }

    fn get(
        &self,
        attribute: i8,
        selective: Option<&SelectiveAccess<'_>>,
        w: &mut dyn Writer,
    ) -> AccessResult<()> {
        no_selector(selective)?;
        let v = match attribute {
            1 => logical_name_value(self.logical_name),
            2 => Value::DoubleLongUnsigned(BLOCK_SIZE),
            3 => {
                let mut bytes = vec![0u8; self.received.len().div_ceil(8)];
                for (i, got) in self.received.iter().enumerate() {
                    if *got {
                        if let Some(b) = bytes.get_mut(i / 8) {
                            *b |= 0x80 >> (i % 8);
                        }
                    }
                }
                Value::BitString {
                    bits: self.received.len(),
                    bytes,
                }
            }
            4 => Value::DoubleLongUnsigned(self.first_missing()),
            5 => Value::Boolean(self.enabled),
            6 => Value::Enum(self.status.code()),
            7 => {
                if matches!(
                    self.status,
                    ImageStatus::VerificationSuccessful | ImageStatus::ActivationSuccessful
                ) {
                    Value::Array(vec![Value::Structure(vec![
                        Value::DoubleLongUnsigned(self.size),
                        octets(&self.identifier),
                        Value::OctetString(Vec::new()),
                    ])])
                } else {
                    Value::Array(Vec::new())
                }
            }
            _ => return Err(DataAccessResult::ObjectUndefined),
        };
        put(w, &v)
    }

    fn set(&mut self, attribute: i8, value: &Data<'_>) -> AccessResult<()> {
        match (attribute, value) {
            (5, Data::Boolean(b)) => {
                self.enabled = *b;
                Ok(())
            }
            (5, _) => Err(DataAccessResult::TypeUnmatched),
            (1..=7, _) => Err(DataAccessResult::ReadWriteDenied),
            _ => Err(DataAccessResult::ObjectUndefined),
        }
    }

    fn invoke(
        &mut self,
        method: i8,
        p: Option<&Data<'_>>,
        _w: &mut dyn Writer,
    ) -> Result<bool, ActionResult> {
        match method {
            1 => self.initiate(p)?,
            2 => self.block(p)?,
            3 => self.verify()?,
            4 => self.activate()?,
            _ => return Err(ActionResult::ObjectUndefined),
        }
        Ok(false)
    }
}
