//! Image transfer (class 18, version 0): firmware update of the terminal (SEC-10).
//!
//! The image is written block by block to an [`ImageStore`] (a file on the terminal, so that
//! an image of tens of MiB is never whole in memory; memory in the simulator and tests);
//! `image_verify` checks that every block arrived and that the image is signed by the
//! vendor, reading it back in chunks; only then may `image_activate` hand it to the
//! terminal node (`ModelChange::ImageActivated`) as an [`ImageFirmware`] to read from the
//! store, which installs it.
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
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use std::io::Read;
use std::sync::Arc;

/// Block size in bytes (ours: one block plus the ACTION header and suite-0 overhead fits
/// a 256-byte APDU, small for the IoT route's radio).
pub const BLOCK_SIZE: u32 = 128;
/// Largest image accepted (ours: bounds the image store and the bitmap of blocks
/// received). A terminal program is tens of MiB and about a third of that deflated
/// (SEC-10): 32 MiB holds our own release build packed (18 MiB with its debug lines).
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

/// How much of an image is read at a time to hash it.
const VERIFY_CHUNK: usize = 64 * 1024;

/// The one check of a signed image (SEC-10), for the image transfer and for the
/// terminal's own installer alike: the `len`-byte image `image` reads is firmware
/// followed by a [`SIGNATURE_LEN`]-byte trailer that verifies under `key` over
/// `len(identifier) ‖ identifier ‖ firmware`. Read once, in chunks, so that an image of
/// tens of MiB is hashed from where it is kept and never whole in memory; the trailer is
/// returned.
///
/// # Errors
/// [`ImageVerifyError`]: no trailer, a malformed or wrong signature, an identifier
/// longer than [`IDENTIFIER_MAX`], the image not readable ([`ImageVerifyError::Read`]).
pub fn verify_image(
    key: &ImageVendorKey,
    identifier: &[u8],
    image: &mut dyn Read,
    len: u64,
) -> Result<[u8; SIGNATURE_LEN], ImageVerifyError> {
    use sha2::Digest as _;
    let id_len = u8::try_from(identifier.len())
        .ok()
        .filter(|n| usize::from(*n) <= IDENTIFIER_MAX)
        .ok_or(ImageVerifyError::BadSignature)?;
    let mut left = len
        .checked_sub(SIGNATURE_LEN as u64)
        .filter(|n| *n > 0)
        .ok_or(ImageVerifyError::NoTrailer)?;
    let read = |e: std::io::Error| ImageVerifyError::Read(e.to_string());
    let mut hash = sha2::Sha256::new();
    hash.update([id_len]);
    hash.update(identifier);
    let mut buf = vec![0u8; VERIFY_CHUNK];
    while left > 0 {
        let n = usize::try_from(left)
            .unwrap_or(usize::MAX)
            .min(VERIFY_CHUNK);
        let chunk = buf.get_mut(..n).unwrap_or_default();
        image.read_exact(chunk).map_err(read)?;
        hash.update(&*chunk);
        left -= n as u64;
    }
    let mut trailer = [0u8; SIGNATURE_LEN];
    image.read_exact(&mut trailer).map_err(read)?;
    let signature =
        Signature::from_slice(&trailer).map_err(|_| ImageVerifyError::MalformedSignature)?;
    key.0
        .verify_prehash(&hash.finalize(), &signature)
        .map_err(|_| ImageVerifyError::BadSignature)?;
    Ok(trailer)
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
    /// The image could not be read back from where it is kept.
    #[error("image not readable: {0}")]
    Read(String),
}

/// What the device accepts beyond a good signature (SEC-10): the image format and its
/// rules (which device, no downgrade) are the device's, not the image transfer's.
pub trait ImageCheck: Send + Sync {
    /// Whether the firmware `firmware` reads (to its end, without the signature trailer),
    /// named `identifier`, may be activated; why not. A stream, since the firmware is
    /// tens of MiB read from the [`ImageStore`].
    ///
    /// # Errors
    /// The reason, logged and answered as a failed verification.
    fn check(&self, identifier: &[u8], firmware: &mut dyn Read) -> Result<(), String>;
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

/// Where the image being received is kept (SEC-10). A terminal image is tens of MiB: the
/// terminal keeps it in a file, so that it is never whole in memory; the simulator and
/// tests keep it in memory ([`MemoryImages`], the model's default). Each transfer gets
/// an image of its own ([`ImageStore::begin`]), so that one activated and being installed
/// stays readable while a client starts the next.
pub trait ImageStore: Send + Sync + std::fmt::Debug {
    /// Room for a new image of `size` bytes. The store's previous image, if any, is no
    /// longer its own: dropped when nothing holds it.
    ///
    /// # Errors
    /// The storage's: the transfer cannot start.
    fn begin(&self, size: u32) -> std::io::Result<Box<dyn StoredImage>>;
}

/// One image being received: blocks written where they belong, read back to verify and
/// to install.
pub trait StoredImage: Send + Sync {
    /// Write `bytes` at `offset`.
    ///
    /// # Errors
    /// The storage's, or a write beyond the size the image began with.
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> std::io::Result<()>;

    /// Fill `buf` from `offset`.
    ///
    /// # Errors
    /// The storage's, or [`std::io::ErrorKind::UnexpectedEof`] beyond the image's size.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()>;
}

/// Images kept in memory: the default, for the simulator and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryImages;

impl ImageStore for MemoryImages {
    fn begin(&self, size: u32) -> std::io::Result<Box<dyn StoredImage>> {
        let size = usize::try_from(size).map_err(std::io::Error::other)?;
        Ok(Box::new(vec![0u8; size]))
    }
}

impl StoredImage for Vec<u8> {
    fn write_at(&mut self, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        let at = usize::try_from(offset).map_err(std::io::Error::other)?;
        self.get_mut(at..at.saturating_add(bytes.len()))
            .ok_or_else(|| std::io::Error::other("write beyond the image"))?
            .copy_from_slice(bytes);
        Ok(())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let at = usize::try_from(offset).map_err(std::io::Error::other)?;
        buf.copy_from_slice(
            self.get(at..at.saturating_add(buf.len()))
                .ok_or(std::io::ErrorKind::UnexpectedEof)?,
        );
        Ok(())
    }
}

/// A shared [`ImageStore`] for the model's configuration (compared by identity).
#[derive(Clone)]
pub struct ImageStorage(pub Arc<dyn ImageStore>);

impl PartialEq for ImageStorage {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ImageStorage {}

impl std::fmt::Debug for ImageStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A reader over `image` from `at` to `end`.
struct ImageReader<'a> {
    image: &'a dyn StoredImage,
    at: u64,
    end: u64,
}

impl Read for ImageReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = usize::try_from(self.end.saturating_sub(self.at))
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let buf = buf.get_mut(..n).unwrap_or_default();
        self.image.read_at(self.at, buf)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// The firmware of an activated image (without its signature trailer), where the
/// [`ImageStore`] keeps it: the device reads it to install it, as often as it needs.
/// `Debug` shows its length, not tens of MiB; compared by identity.
#[derive(Clone)]
pub struct ImageFirmware {
    image: Arc<dyn StoredImage>,
    len: u64,
}

impl ImageFirmware {
    /// Its length in bytes.
    #[must_use]
    pub const fn size(&self) -> u64 {
        self.len
    }

    /// A reader over it from `offset` to its end (past a header the device read first).
    pub fn reader(&self, offset: u64) -> impl Read + '_ {
        ImageReader {
            image: &*self.image,
            at: offset.min(self.len),
            end: self.len,
        }
    }
}

impl PartialEq for ImageFirmware {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.image, &other.image) && self.len == other.len
    }
}

impl Eq for ImageFirmware {}

impl std::fmt::Debug for ImageFirmware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ImageFirmware({} bytes)", self.len)
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
pub struct ImageTransfer {
    logical_name: Obis,
    enabled: bool,
    status: ImageStatus,
    identifier: Vec<u8>,
    size: u32,
    /// Which blocks arrived: all the transfer keeps of the image itself.
    received: Vec<bool>,
    store: Arc<dyn ImageStore>,
    /// The image being received, from `image_transfer_initiate` to `image_activate`.
    image: Option<Box<dyn StoredImage>>,
    activated: Option<(Vec<u8>, ImageFirmware)>,
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
    /// (none: no image verifies) that `policy` (none: any) accepts, keeping the image
    /// being received in `store` (none: in memory).
    #[must_use]
    pub fn new(
        logical_name: Obis,
        vendor_key: Option<ImageVendorKey>,
        policy: Option<ImagePolicy>,
        store: Option<ImageStorage>,
    ) -> Self {
        Self {
            logical_name,
            enabled: true,
            status: ImageStatus::NotInitiated,
            identifier: Vec::new(),
            size: 0,
            received: Vec::new(),
            store: store.map_or_else(|| Arc::new(MemoryImages) as Arc<dyn ImageStore>, |s| s.0),
            image: None,
            activated: None,
            vendor_key,
            policy,
            signature: Vec::new(),
        }
    }

    /// Check a complete image against the vendor's key, then the device's policy; the
    /// signature trailer that verified.
    fn check_signature(&self) -> Result<[u8; SIGNATURE_LEN], ImageVerifyError> {
        let key = self.vendor_key.as_ref().ok_or(ImageVerifyError::NoKey)?;
        let image = self.image.as_deref().ok_or(ImageVerifyError::Incomplete)?;
        let size = u64::from(self.size);
        let mut all = ImageReader {
            image,
            at: 0,
            end: size,
        };
        let signature = verify_image(key, &self.identifier, &mut all, size)?;
        if let Some(p) = &self.policy {
            let mut firmware = ImageReader {
                image,
                at: 0,
                end: size.saturating_sub(SIGNATURE_LEN as u64),
            };
            p.0.check(&self.identifier, &mut firmware)
                .map_err(ImageVerifyError::Refused)?;
        }
        Ok(signature)
    }

    /// The transfer status.
    #[must_use]
    pub const fn status(&self) -> ImageStatus {
        self.status
    }

    /// Take the activated image `(identifier, firmware without the signature trailer)`,
    /// once.
    pub fn take_activated(&mut self) -> Option<(Vec<u8>, ImageFirmware)> {
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
        // The previous image goes first: never two held at once.
        self.image = None;
        self.received.clear();
        self.status = ImageStatus::NotInitiated;
        let image = self.store.begin(size).map_err(|e| {
            tracing::warn!(error = %e, size, "image transfer not initiated: no room for the image");
            ActionResult::HardwareFault
        })?;
        self.identifier = id;
        self.signature.clear();
        self.size = size;
        self.received = vec![false; blocks];
        self.image = Some(image);
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
        let start = u64::from(n) * u64::from(BLOCK_SIZE);
        let expected = u64::from(self.size)
            .saturating_sub(start)
            .min(u64::from(BLOCK_SIZE));
        if expected == 0 || bytes.len() as u64 != expected {
            return Err(ActionResult::OtherReason);
        }
        let image = self.image.as_mut().ok_or(ActionResult::OtherReason)?;
        image.write_at(start, bytes).map_err(|e| {
            tracing::warn!(error = %e, block = n, "image block not stored");
            ActionResult::HardwareFault
        })?;
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
                    Ok(signature) => {
                        self.signature = signature.to_vec();
                        self.status = ImageStatus::VerificationSuccessful;
                        tracing::info!(%identifier, "image verified");
                        Ok(())
                    }
                    Err(why) => {
                        // A client may send the blocks again and verify anew.
                        self.status = ImageStatus::VerificationFailed;
                        tracing::warn!(%identifier, reason = %why, "image verification failed");
                        Err(match why {
                            ImageVerifyError::Read(_) => ActionResult::HardwareFault,
                            _ => ActionResult::OtherReason,
                        })
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
        let image = self.image.take().ok_or(ActionResult::OtherReason)?;
        self.status = ImageStatus::ActivationSuccessful;
        let firmware = ImageFirmware {
            image: Arc::from(image),
            len: u64::from(self.size).saturating_sub(SIGNATURE_LEN as u64),
        };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn signing_key() -> p256::ecdsa::SigningKey {
        p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap()
    }

    /// A reader that hands out at most 1,000 bytes at a time, as a file or socket may.
    struct Dribble<'a>(&'a [u8]);

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.0.len()).min(1_000);
            let (head, rest) = self.0.split_at(n);
            buf[..n].copy_from_slice(head);
            self.0 = rest;
            Ok(n)
        }
    }

    fn verify(identifier: &[u8], image: &[u8]) -> Result<[u8; SIGNATURE_LEN], ImageVerifyError> {
        let key = ImageVendorKey::of(&signing_key());
        verify_image(&key, identifier, &mut Dribble(image), image.len() as u64)
    }

    /// SEC-10: the streaming check is the signing's counterpart byte for byte — an image
    /// `sign_image` made (firmware of several read chunks) verifies, and one bit changed
    /// anywhere in the firmware, the trailer or the identifier does not.
    #[test]
    fn sec10_a_signed_image_verifies_streamed_and_any_flipped_bit_fails() {
        let firmware: Vec<u8> = (0..VERIFY_CHUNK * 2 + 333)
            .map(|i| (i % 253) as u8)
            .collect();
        let image = sign_image(&signing_key(), b"fw-7", &firmware).unwrap();
        let trailer = verify(b"fw-7", &image).unwrap();
        assert_eq!(trailer[..], image[firmware.len()..]);
        for at in [
            0,
            VERIFY_CHUNK - 1,
            VERIFY_CHUNK,
            firmware.len() - 1,
            firmware.len(),
            image.len() - 1,
        ] {
            for bit in [0x01, 0x80] {
                let mut changed = image.clone();
                changed[at] ^= bit;
                assert!(
                    matches!(
                        verify(b"fw-7", &changed),
                        Err(ImageVerifyError::BadSignature | ImageVerifyError::MalformedSignature)
                    ),
                    "byte {at} bit {bit:#x}"
                );
            }
        }
        assert_eq!(verify(b"fw-8", &image), Err(ImageVerifyError::BadSignature));
        // Under another key: refused.
        let other = ImageVendorKey::of(&p256::ecdsa::SigningKey::from_slice(&[8; 32]).unwrap());
        assert_eq!(
            verify_image(&other, b"fw-7", &mut &image[..], image.len() as u64),
            Err(ImageVerifyError::BadSignature)
        );
    }

    #[test]
    fn sec10_a_short_or_unreadable_image_is_refused_without_a_panic() {
        let image = sign_image(&signing_key(), b"fw-7", b"firmware").unwrap();
        assert_eq!(
            verify(b"fw-7", &image[..SIGNATURE_LEN]),
            Err(ImageVerifyError::NoTrailer)
        );
        assert_eq!(verify(b"fw-7", &[]), Err(ImageVerifyError::NoTrailer));
        // A stream shorter than the length announced.
        let key = ImageVendorKey::of(&signing_key());
        assert!(matches!(
            verify_image(&key, b"fw-7", &mut &image[..], image.len() as u64 + 1),
            Err(ImageVerifyError::Read(_))
        ));
        assert_eq!(
            verify(&[b'x'; IDENTIFIER_MAX + 1], &image),
            Err(ImageVerifyError::BadSignature)
        );
    }

    #[test]
    fn sec10_the_memory_store_keeps_blocks_where_they_belong_and_nothing_beyond() {
        let mut image = MemoryImages.begin(300).unwrap();
        image.write_at(256, &[3; 44]).unwrap();
        image.write_at(0, &[1; 128]).unwrap();
        image.write_at(128, &[2; 128]).unwrap();
        assert!(image.write_at(299, &[9, 9]).is_err(), "beyond its size");
        let mut buf = [0; 4];
        image.read_at(126, &mut buf).unwrap();
        assert_eq!(buf, [1, 1, 2, 2]);
        assert_eq!(
            image.read_at(298, &mut buf).unwrap_err().kind(),
            std::io::ErrorKind::UnexpectedEof
        );
        // Activated: read as often as needed, from any offset, to its length only.
        let firmware = ImageFirmware {
            image: Arc::from(image),
            len: 290,
        };
        assert_eq!(format!("{firmware:?}"), "ImageFirmware(290 bytes)");
        let mut all = Vec::new();
        firmware.reader(0).read_to_end(&mut all).unwrap();
        assert_eq!(all.len(), 290);
        assert_eq!((all[0], all[128], all[289]), (1, 2, 3));
        let mut tail = Vec::new();
        firmware.reader(250).read_to_end(&mut tail).unwrap();
        assert_eq!(tail, all[250..]);
        assert_eq!(firmware.clone(), firmware);
    }
}
