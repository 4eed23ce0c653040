//! Image transfer (class 18, version 0): firmware update of the terminal (SEC-10).
//!
//! The image is assembled in memory block by block; `image_verify` checks that every block
//! arrived and that the image is signed by the vendor; only then may `image_activate` hand
//! it to the terminal node (`ModelChange::ImageActivated`), which installs it.
//!
//! **Signature (ours, `docs/iot-route-cosem.md`):** the transferred image is the firmware
//! followed by a [`SIGNATURE_LEN`]-byte trailer, an ECDSA P-256 signature (`r ‖ s`, each
//! 32 bytes big-endian) with SHA-256, the algorithms of DLMS security suite 1, over
//! `len(identifier) ‖ identifier ‖ firmware`. The identifier is signed so that a client
//! cannot activate a genuine image under another image's name. The vendor's public key
//! comes from the model's configuration; without one no image verifies (fail closed).

use super::{logical_name_value, no_selector, octets, put, AccessResult, CosemObject, Obis, Value};
use crate::apdu::DataRef as Data;
use crate::apdu::{ActionResult, DataAccessResult, SelectiveAccess};
use dlms_cosem_rs::codec::Writer;
use p256::ecdsa::signature::MultipartVerifier as _;
use p256::ecdsa::{Signature, VerifyingKey};

/// Block size in bytes (ours: one block plus the ACTION header and suite-0 overhead fits
/// a 256-byte APDU, small for the IoT route's radio).
pub const BLOCK_SIZE: u32 = 128;
/// Largest image accepted (ours: bounds memory). A terminal program is tens of MiB and
/// about a third of that deflated (SEC-10): 32 MiB holds our own release build packed
/// (18 MiB with its debug lines).
pub const IMAGE_MAX: u32 = 32 * 1024 * 1024;
/// Longest image identifier accepted.
pub const IDENTIFIER_MAX: usize = 64;

/// Length of the signature trailer: ECDSA P-256 `r ‖ s`.
pub const SIGNATURE_LEN: usize = 64;

/// The vendor's image-signing public key (ECDSA P-256), from the terminal's
/// configuration.
#[derive(Clone, PartialEq, Eq)]
pub struct ImageVendorKey(VerifyingKey);

impl std::fmt::Debug for ImageVendorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ImageVendorKey(P-256)")
    }
}

/// A vendor key that is not a P-256 public key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("image vendor key: not a SEC1-encoded P-256 public key ({len} bytes)")]
pub struct ImageKeyError {
    /// Length of what was given.
    pub len: usize,
}

impl ImageVendorKey {
    /// The key from its SEC1 encoding (33 bytes compressed or 65 uncompressed, as an
    /// X.509 certificate or `openssl ec -pubout -conv_form` gives it).
    ///
    /// # Errors
    /// [`ImageKeyError`] for anything else, or a point not on the curve.
    pub fn from_sec1_bytes(bytes: &[u8]) -> Result<Self, ImageKeyError> {
        VerifyingKey::from_sec1_bytes(bytes)
            .map(Self)
            .map_err(|_| ImageKeyError { len: bytes.len() })
    }
}

/// The one check of a signed image (SEC-10), for the image transfer and for the
/// terminal's own installer alike: the [`SIGNATURE_LEN`]-byte trailer verifies under
/// `key` over `len(identifier) ‖ identifier ‖ firmware`. The firmware before the trailer.
///
/// # Errors
/// [`ImageVerifyError`]: no trailer, a malformed or wrong signature, an identifier
/// longer than [`IDENTIFIER_MAX`].
pub fn verify_image<'a>(
    key: &ImageVendorKey,
    identifier: &[u8],
    image: &'a [u8],
) -> Result<&'a [u8], ImageVerifyError> {
    let id_len = u8::try_from(identifier.len())
        .ok()
        .filter(|n| usize::from(*n) <= IDENTIFIER_MAX)
        .ok_or(ImageVerifyError::BadSignature)?;
    let at = image
        .len()
        .checked_sub(SIGNATURE_LEN)
        .filter(|at| *at > 0)
        .ok_or(ImageVerifyError::NoTrailer)?;
    let (firmware, trailer) = image.split_at(at);
    let signature =
        Signature::from_slice(trailer).map_err(|_| ImageVerifyError::MalformedSignature)?;
    key.0
        .multipart_verify(&[&[id_len], identifier, firmware], &signature)
        .map_err(|_| ImageVerifyError::BadSignature)?;
    Ok(firmware)
}

/// The vendor's side of [`verify_image`]: `firmware ‖ signature` under `key`, as
/// `iotroute firmware sign` ships it.
///
/// # Errors
/// [`ImageVerifyError::BadSignature`] for an identifier longer than [`IDENTIFIER_MAX`].
pub fn sign_image(
    key: &p256::ecdsa::SigningKey,
    identifier: &[u8],
    firmware: &[u8],
) -> Result<Vec<u8>, ImageVerifyError> {
    use p256::ecdsa::signature::MultipartSigner as _;
    let id_len = u8::try_from(identifier.len())
        .ok()
        .filter(|n| usize::from(*n) <= IDENTIFIER_MAX)
        .ok_or(ImageVerifyError::BadSignature)?;
    let signature: Signature = key.multipart_sign(&[&[id_len], identifier, firmware]);
    let mut image = Vec::with_capacity(firmware.len() + SIGNATURE_LEN);
    image.extend_from_slice(firmware);
    image.extend_from_slice(&signature.to_bytes());
    Ok(image)
}

impl ImageVendorKey {
    /// The public key of a vendor's signing key.
    #[must_use]
    pub fn of(key: &p256::ecdsa::SigningKey) -> Self {
        Self(*key.verifying_key())
    }

    /// Its SEC1 compressed encoding (33 bytes), as `--image-key` and `.pub` files hold it.
    #[must_use]
    pub fn to_sec1_compressed(&self) -> Vec<u8> {
        self.0.to_sec1_point(true).as_bytes().to_vec()
    }
}

/// Why an image failed verification; logged, and the client reads status 4.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageVerifyError {
    /// Blocks are missing.
    #[error("blocks missing")]
    Incomplete,
    /// No vendor key is configured, so nothing can be trusted.
    #[error("no vendor key configured")]
    NoKey,
    /// The image is too short to hold firmware and the signature trailer.
    #[error("image shorter than its signature trailer")]
    NoTrailer,
    /// The trailer is not an ECDSA P-256 signature (`r` or `s` zero or out of range).
    #[error("malformed signature")]
    MalformedSignature,
    /// The signature does not match the image and identifier under the vendor key.
    #[error("signature does not verify")]
    BadSignature,
    /// Signed, but the device's policy refuses it (another device's image, a downgrade).
    #[error("refused by the device: {0}")]
    Refused(String),
}

/// What the device accepts beyond a good signature (SEC-10): the image format and its
/// rules (which device, no downgrade) are the device's, not the image transfer's.
pub trait ImageCheck: Send + Sync {
    /// Whether `firmware` (without the signature trailer), named `identifier`, may be
    /// activated; why not.
    ///
    /// # Errors
    /// The reason, logged and answered as a failed verification.
    fn check(&self, identifier: &[u8], firmware: &[u8]) -> Result<(), String>;
}

/// A shared [`ImageCheck`] for the model's configuration (compared by identity).
#[derive(Clone)]
pub struct ImagePolicy(pub std::sync::Arc<dyn ImageCheck>);

impl PartialEq for ImagePolicy {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ImagePolicy {}

impl std::fmt::Debug for ImagePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ImagePolicy")
    }
}

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
    vendor_key: Option<ImageVendorKey>,
    policy: Option<ImagePolicy>,
    /// The trailer of the image that verified (`image_to_activate_signature`).
    signature: Vec<u8>,
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
    /// An idle image transfer, enabled, accepting images signed with `vendor_key`
    /// (none: no image verifies) that `policy` (none: any) accepts.
    #[must_use]
    pub const fn new(
        logical_name: Obis,
        vendor_key: Option<ImageVendorKey>,
        policy: Option<ImagePolicy>,
    ) -> Self {
        Self {
            logical_name,
            enabled: true,
            status: ImageStatus::NotInitiated,
            identifier: Vec::new(),
            size: 0,
            received: Vec::new(),
            image: Vec::new(),
            activated: None,
            vendor_key,
            policy,
            signature: Vec::new(),
        }
    }

    /// Check a complete image against the vendor's key, then the device's policy.
    fn check_signature(&self) -> Result<(), ImageVerifyError> {
        let key = self.vendor_key.as_ref().ok_or(ImageVerifyError::NoKey)?;
        let firmware = verify_image(key, &self.identifier, &self.image)?;
        match &self.policy {
            Some(p) => {
                p.0.check(&self.identifier, firmware)
                    .map_err(ImageVerifyError::Refused)
            }
            None => Ok(()),
        }
    }

    /// The transfer status.
    #[must_use]
    pub const fn status(&self) -> ImageStatus {
        self.status
    }

    /// Take the activated image `(identifier, firmware without the signature trailer)`,
    /// once.
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
        self.signature.clear();
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
                let checked = if self.received.iter().all(|b| *b) {
                    self.check_signature()
                } else {
                    Err(ImageVerifyError::Incomplete)
                };
                let identifier = String::from_utf8_lossy(&self.identifier);
                match checked {
                    Ok(()) => {
                        let at = self.image.len().saturating_sub(SIGNATURE_LEN);
                        self.signature = self.image.get(at..).unwrap_or_default().to_vec();
                        self.status = ImageStatus::VerificationSuccessful;
                        tracing::info!(%identifier, "image verified");
                        Ok(())
                    }
                    Err(why) => {
                        // A client may send the blocks again and verify anew.
                        self.status = ImageStatus::VerificationFailed;
                        tracing::warn!(%identifier, reason = %why, "image verification failed");
                        Err(ActionResult::OtherReason)
                    }
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
        let mut firmware = std::mem::take(&mut self.image);
        firmware.truncate(firmware.len().saturating_sub(SIGNATURE_LEN));
        self.activated = Some((self.identifier.clone(), firmware));
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
                        octets(&self.signature),
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
