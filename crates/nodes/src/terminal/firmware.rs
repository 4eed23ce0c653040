//! The terminal's firmware image (SEC-10) **(ours)**: what the vendor signs and the
//! terminal installs. The signed part is a manifest and the payload:
//!
//! ```text
//! IRTFW1\n{"target":"iotroute-terminal","version":N,"size":S,"sha256":"<64 hex>","compression":"deflate"}\n<payload>
//! ```
//!
//! `size` and `sha256` describe the program as installed; with `"compression":
//! "deflate"` the payload is that program deflated (RFC 1951), inflated no further than
//! `size` (at most [`PROGRAM_MAX`]) — a terminal program is tens of MiB, a third of that
//! deflated.
//!
//! followed by the signature trailer of `dlms::cosem::image::sign_image` (ECDSA P-256 /
//! SHA-256 over the image identifier `<target>-<version>` and the firmware) — the one
//! scheme the DLMS image transfer already verifies. The manifest says which device the
//! payload is for, its version (no downgrade) and its size and SHA-256, checked again
//! after the signature.

use std::io::{BufRead, Read};

use dlms::cosem::image::ImageFirmware;
use serde::{Deserialize, Serialize};

/// What the firmware starts with.
pub const MAGIC: &[u8] = b"IRTFW1\n";
/// The longest manifest line read (ours: a manifest is about 200 bytes; bounds what the
/// header can make the terminal buffer before the signature is known good).
pub const MANIFEST_LINE_MAX: usize = 4096;
/// The target of the terminal's own images.
pub const TERMINAL_TARGET: &str = "iotroute-terminal";
/// The largest program an image may unpack to (ours: bounds what a signed but hostile
/// manifest can make the terminal allocate).
pub const PROGRAM_MAX: u64 = 256 * 1024 * 1024;

/// How the payload is packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Deflate (RFC 1951, raw).
    Deflate,
}

/// The manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Which device the payload runs on.
    pub target: String,
    /// The version: an image older than the running one is refused.
    pub version: u32,
    /// Payload bytes.
    pub size: u64,
    /// SHA-256 of the payload, hex.
    pub sha256: String,
    /// How the payload is packed; absent: as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<Compression>,
}

/// A program as an activated image carries it (stored or deflated,
/// [`Manifest::compression`]), after the manifest in the image store, checked against
/// it; [`unpack`] from [`Packed::reader`] writes it out. `Debug` shows its length, not
/// tens of MiB of bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Packed {
    firmware: ImageFirmware,
    /// Where the payload starts in the firmware.
    at: u64,
}

impl Packed {
    /// The payload of `firmware`, from `at` (the header's length, as [`split`] says).
    #[must_use]
    pub const fn new(firmware: ImageFirmware, at: u64) -> Self {
        Self { firmware, at }
    }

    /// A reader over the payload, from where the image store keeps it.
    pub fn reader(&self) -> impl Read + '_ {
        self.firmware.reader(self.at)
    }
}

impl core::fmt::Debug for Packed {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "Packed({} bytes)",
            self.firmware.size().saturating_sub(self.at)
        )
    }
}

/// Why firmware is not an image of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FirmwareError {
    /// Not starting with [`MAGIC`].
    #[error("not an iotroute firmware image (no IRTFW1 header)")]
    Magic,
    /// The manifest line is not a manifest.
    #[error("manifest: {0}")]
    Manifest(String),
    /// No end of the manifest line within [`MANIFEST_LINE_MAX`] bytes.
    #[error("manifest line longer than {MANIFEST_LINE_MAX} bytes")]
    ManifestTooLong,
    /// The firmware could not be read from where it is kept.
    #[error("firmware not readable: {0}")]
    Read(String),
    /// The payload's size or SHA-256 is not what the manifest says.
    #[error("payload does not match its manifest ({0})")]
    Payload(&'static str),
    /// The packed payload does not unpack (or unpacks beyond its size).
    #[error("payload does not unpack: {0}")]
    Unpack(String),
    /// An image for another device.
    #[error("image for {got:?}, this is {want:?}")]
    Target {
        /// Ours.
        want: String,
        /// The image's.
        got: String,
    },
    /// Not newer than what runs.
    #[error("version {got} is not newer than the running {running} (no downgrade)")]
    Downgrade {
        /// Running.
        running: u32,
        /// The image's.
        got: u32,
    },
}

impl Manifest {
    /// The manifest of `payload` for `target`, `version`.
    #[must_use]
    pub fn of(target: &str, version: u32, payload: &[u8]) -> Self {
        Self {
            target: target.to_owned(),
            version,
            size: payload.len() as u64,
            sha256: sha256_hex(payload),
            compression: None,
        }
    }

    /// The manifest of `program` and the payload that carries it deflated.
    #[must_use]
    pub fn packed(target: &str, version: u32, program: &[u8]) -> (Self, Vec<u8>) {
        let manifest = Self {
            compression: Some(Compression::Deflate),
            ..Self::of(target, version, program)
        };
        (manifest, miniz_oxide::deflate::compress_to_vec(program, 6))
    }

    /// The image identifier the signature covers: `<target>-<version>`.
    #[must_use]
    pub fn identifier(&self) -> String {
        format!("{}-{}", self.target, self.version)
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(bytes))
}

/// Lower-case hex, as the manifest writes a SHA-256.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The firmware (before signing): header, manifest, payload.
#[must_use]
pub fn firmware(manifest: &Manifest, payload: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(
        serde_json::to_string(manifest)
            .unwrap_or_default()
            .as_bytes(),
    );
    out.push(b'\n');
    out.extend_from_slice(payload);
    out
}

/// The manifest at the start of `firmware`, unchecked (to name an image; the terminal
/// trusts nothing of it before [`parse`] and the signature), and the payload's offset:
/// `firmware` is left at the payload, the manifest line read no further than
/// [`MANIFEST_LINE_MAX`].
///
/// # Errors
/// [`FirmwareError::Magic`], [`FirmwareError::Manifest`],
/// [`FirmwareError::ManifestTooLong`], [`FirmwareError::Read`].
pub fn split(firmware: &mut dyn BufRead) -> Result<(Manifest, u64), FirmwareError> {
    let mut magic = [0u8; MAGIC.len()];
    match firmware.read_exact(&mut magic) {
        Ok(()) if magic == MAGIC => {}
        Ok(()) => return Err(FirmwareError::Magic),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(FirmwareError::Magic)
        }
        Err(e) => return Err(read_error(&e)),
    }
    let mut line = Vec::new();
    let n = firmware
        .take(MANIFEST_LINE_MAX as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| read_error(&e))?;
    if line.pop() != Some(b'\n') {
        return Err(if n > MANIFEST_LINE_MAX {
            FirmwareError::ManifestTooLong
        } else {
            FirmwareError::Manifest("no end of line".to_owned())
        });
    }
    let manifest: Manifest =
        serde_json::from_slice(&line).map_err(|e| FirmwareError::Manifest(e.to_string()))?;
    Ok((manifest, (MAGIC.len() + n) as u64))
}

fn read_error(e: &std::io::Error) -> FirmwareError {
    FirmwareError::Read(e.to_string())
}

/// Read firmware (the signature already verified) to its end: its manifest and the
/// payload's offset, the payload checked by unpacking it once (to nowhere) against the
/// manifest's size and SHA-256. Streamed: neither the payload nor the program is ever
/// whole in memory ([`unpack`] writes the program).
///
/// # Errors
/// [`FirmwareError`].
pub fn parse(firmware: &mut dyn BufRead) -> Result<(Manifest, u64), FirmwareError> {
    let (manifest, at) = split(firmware)?;
    unpack(&manifest, firmware, &mut |_| Ok(()))?;
    Ok((manifest, at))
}

/// How much unpacked program is handed to the sink at a time, and how much payload is
/// read at a time.
const UNPACK_CHUNK: usize = 64 * 1024;

/// The program the payload `payload` reads (to its end) carries, as `manifest` says
/// (stored or deflated), to `sink` in chunks of at most 64 KiB, checked as it goes:
/// never beyond the manifest's size (nor [`PROGRAM_MAX`]), and at the end that size and
/// SHA-256 exactly. On an error the sink has had part of a program: the caller throws it
/// away.
///
/// # Errors
/// [`FirmwareError::Payload`], [`FirmwareError::Unpack`], [`FirmwareError::Read`], or
/// the sink's.
pub fn unpack(
    manifest: &Manifest,
    payload: &mut dyn Read,
    sink: &mut dyn FnMut(&[u8]) -> Result<(), FirmwareError>,
) -> Result<(), FirmwareError> {
    use sha2::{Digest, Sha256};
    if manifest.size > PROGRAM_MAX {
        return Err(FirmwareError::Payload("size"));
    }
    let mut hash = Sha256::new();
    let mut count: u64 = 0;
    let mut take = |chunk: &[u8]| -> Result<(), FirmwareError> {
        count += chunk.len() as u64;
        if count > manifest.size {
            return Err(FirmwareError::Payload("size"));
        }
        hash.update(chunk);
        sink(chunk)
    };
    match manifest.compression {
        None => {
            let mut buf = vec![0u8; UNPACK_CHUNK];
            loop {
                let n = read_some(payload, &mut buf)?;
                if n == 0 {
                    break;
                }
                take(buf.get(..n).unwrap_or_default())?;
            }
        }
        Some(Compression::Deflate) => inflate(payload, &mut take)?,
    }
    if count != manifest.size {
        return Err(FirmwareError::Payload("size"));
    }
    if manifest.sha256 != hex(&hash.finalize()) {
        return Err(FirmwareError::Payload("SHA-256"));
    }
    Ok(())
}

/// What one read gives (0: the end), a read interrupted by a signal tried again.
fn read_some(r: &mut dyn Read, buf: &mut [u8]) -> Result<usize, FirmwareError> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            read => return read.map_err(|e| read_error(&e)),
        }
    }
}

/// Raw deflate what `packed` reads to `take`, a chunk at a time.
fn inflate(
    packed: &mut dyn Read,
    take: &mut dyn FnMut(&[u8]) -> Result<(), FirmwareError>,
) -> Result<(), FirmwareError> {
    use miniz_oxide::inflate::stream::{inflate, InflateState};
    use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};
    let mut state = InflateState::new_boxed(DataFormat::Raw);
    let mut out = vec![0u8; UNPACK_CHUNK];
    let mut input = vec![0u8; UNPACK_CHUNK];
    let (mut start, mut end) = (0, 0);
    let mut ended = false;
    loop {
        if start == end && !ended {
            end = read_some(packed, &mut input)?;
            start = 0;
            ended = end == 0;
        }
        let r = inflate(
            &mut state,
            input.get(start..end).unwrap_or_default(),
            &mut out,
            MZFlush::None,
        );
        start += r.bytes_consumed;
        take(out.get(..r.bytes_written).unwrap_or_default())?;
        match r.status {
            Ok(MZStatus::StreamEnd) => return Ok(()),
            Ok(_) if r.bytes_consumed == 0 && r.bytes_written == 0 => {
                return Err(FirmwareError::Unpack("truncated".to_owned()));
            }
            Ok(_) => {}
            Err(MZError::Buf) if ended => {
                return Err(FirmwareError::Unpack("truncated".to_owned()));
            }
            Err(e) => return Err(FirmwareError::Unpack(format!("{e:?}"))),
        }
    }
}

/// Whether the terminal running `running` of `target` may install `manifest`.
///
/// # Errors
/// [`FirmwareError::Target`], [`FirmwareError::Downgrade`].
pub fn acceptable(manifest: &Manifest, target: &str, running: u32) -> Result<(), FirmwareError> {
    if manifest.target != target {
        return Err(FirmwareError::Target {
            want: target.to_owned(),
            got: manifest.target.clone(),
        });
    }
    if manifest.version <= running {
        return Err(FirmwareError::Downgrade {
            running,
            got: manifest.version,
        });
    }
    Ok(())
}

/// The version of the image the terminal left the factory with (ours): the first signed
/// image must be newer.
pub const FACTORY_VERSION: u32 = 1;

/// Seconds a newly activated slot has to confirm itself (its self-check: store, logs,
/// settings, sockets) before the launcher rolls back (SEC-10).
pub const CONFIRM_WITHIN_S: u64 = 60;

/// What the terminal accepts beyond a good signature: its own images (target), newer
/// than the one running, whose payload matches its manifest. Checked when the image
/// transfer verifies, so a refusal is the verification's (logged, status 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalImages {
    /// The running version.
    pub running: u32,
}

impl dlms::cosem::image::ImageCheck for TerminalImages {
    fn check(&self, identifier: &[u8], firmware: &mut dyn Read) -> Result<(), String> {
        let mut firmware = std::io::BufReader::with_capacity(UNPACK_CHUNK, firmware);
        let (manifest, _) = parse(&mut firmware).map_err(|e| e.to_string())?;
        acceptable(&manifest, TERMINAL_TARGET, self.running).map_err(|e| e.to_string())?;
        if manifest.identifier().as_bytes() != identifier {
            return Err(format!(
                "identifier {:?} is not the manifest's {:?}",
                String::from_utf8_lossy(identifier),
                manifest.identifier()
            ));
        }
        Ok(())
    }
}

/// One of the two firmware slots under the data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    /// Slot A.
    A,
    /// Slot B.
    B,
}

impl Slot {
    /// The other slot.
    #[must_use]
    pub const fn other(self) -> Self {
        match self {
            Self::A => Self::B,
            Self::B => Self::A,
        }
    }

    /// Its name (`a`, `b`): the directory and what `status` shows.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::A => "a",
            Self::B => "b",
        }
    }

    /// The slot of a name.
    #[must_use]
    pub fn of(name: &str) -> Option<Self> {
        match name {
            "a" => Some(Self::A),
            "b" => Some(Self::B),
            _ => None,
        }
    }
}

/// A slot on trial: activated, not yet confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trial {
    /// The slot.
    pub slot: Slot,
    /// Its image's version.
    pub version: u32,
}

/// The slots' state, kept in the data directory (`firmware/state.json`): which image
/// runs, which one is on trial, which one failed last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlotState {
    /// The confirmed slot; `None`: the factory image (the installed program itself).
    pub slot: Option<Slot>,
    /// The confirmed image's version.
    pub version: u32,
    /// An activated slot awaiting its self-check.
    pub trial: Option<Trial>,
    /// The last image that failed its self-check: version and why.
    pub failed: Option<(u32, String)>,
}

impl Default for SlotState {
    fn default() -> Self {
        Self {
            slot: None,
            version: FACTORY_VERSION,
            trial: None,
            failed: None,
        }
    }
}

/// What the program started as `iotroute terminal` does first (the launcher's choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launch {
    /// Run here: the factory image, or the slot this program is.
    Here,
    /// Hand over to the confirmed slot's program.
    Exec(Slot),
    /// Start the slot on trial and watch it confirm itself; roll back if it does not.
    Watch(Slot),
}

impl SlotState {
    /// The slot the next image goes to: never the confirmed one.
    #[must_use]
    pub fn inactive(&self) -> Slot {
        self.slot.map_or(Slot::A, Slot::other)
    }

    /// What a program that is `me` (`None`: the launcher — the factory program, or a
    /// slot's program started without being told it is one) does at start.
    #[must_use]
    pub fn launch(&self, me: Option<Slot>) -> Launch {
        match (me, &self.trial, self.slot) {
            (Some(_), _, _) => Launch::Here,
            (None, Some(t), _) => Launch::Watch(t.slot),
            (None, None, Some(s)) => Launch::Exec(s),
            (None, None, None) => Launch::Here,
        }
    }

    /// The version running in `me` (`None`: the launcher's own, the confirmed one).
    #[must_use]
    pub fn running_version(&self, me: Option<Slot>) -> u32 {
        match (&self.trial, me) {
            (Some(t), Some(s)) if t.slot == s => t.version,
            _ => self.version,
        }
    }

    /// An image of `version` installed in the inactive slot: on trial.
    #[must_use]
    pub fn activate(&self, version: u32) -> Self {
        Self {
            trial: Some(Trial {
                slot: self.inactive(),
                version,
            }),
            ..self.clone()
        }
    }

    /// The slot on trial passed its self-check: it is the confirmed one.
    #[must_use]
    pub fn confirm(&self) -> Self {
        match &self.trial {
            Some(t) => Self {
                slot: Some(t.slot),
                version: t.version,
                trial: None,
                failed: None,
            },
            None => self.clone(),
        }
    }

    /// The slot on trial failed: back to the confirmed one, the failure kept.
    #[must_use]
    pub fn roll_back(&self, why: &str) -> Self {
        Self {
            trial: None,
            failed: self.trial.as_ref().map(|t| (t.version, why.to_owned())),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `parse` over firmware in memory.
    fn parsed(fw: &[u8]) -> Result<(Manifest, u64), FirmwareError> {
        parse(&mut &fw[..])
    }

    /// `unpack` of a payload in memory.
    fn unpack_bytes(
        m: &Manifest,
        payload: &[u8],
        sink: &mut dyn FnMut(&[u8]) -> Result<(), FirmwareError>,
    ) -> Result<(), FirmwareError> {
        unpack(m, &mut &payload[..], sink)
    }

    /// A reader handing out at most `step` bytes at a time, as a file or socket may.
    struct Dribble<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Dribble<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.bytes.len()).min(self.step);
            let (head, rest) = self.bytes.split_at(n);
            buf[..n].copy_from_slice(head);
            self.bytes = rest;
            Ok(n)
        }
    }

    #[test]
    fn sec10_firmware_round_trips_and_a_changed_payload_or_manifest_is_refused() {
        let payload = b"\x7fELF...a terminal executable".to_vec();
        let m = Manifest::of(TERMINAL_TARGET, 7, &payload);
        let fw = firmware(&m, &payload);
        let header = (fw.len() - payload.len()) as u64;
        assert_eq!(parsed(&fw), Ok((m.clone(), header)));
        // `split` reads the header only: the reader is left at the payload.
        let mut r = &fw[..];
        assert_eq!(split(&mut r), Ok((m.clone(), header)));
        assert_eq!(r, &payload[..]);
        assert_eq!(m.identifier(), "iotroute-terminal-7");
        let mut changed = fw.clone();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        assert_eq!(parsed(&changed), Err(FirmwareError::Payload("SHA-256")));
        let mut longer = fw.clone();
        longer.push(0);
        assert_eq!(parsed(&longer), Err(FirmwareError::Payload("size")));
        assert_eq!(parsed(b"ELF"), Err(FirmwareError::Magic));
        assert!(matches!(
            parsed(b"IRTFW1\n{\"target\":1}\n"),
            Err(FirmwareError::Manifest(_))
        ));
        // A header that never ends its manifest line: read no further than the bound.
        let mut endless = MAGIC.to_vec();
        endless.resize(MAGIC.len() + MANIFEST_LINE_MAX + 1, b' ');
        assert_eq!(parsed(&endless), Err(FirmwareError::ManifestTooLong));
        endless.truncate(MAGIC.len() + MANIFEST_LINE_MAX);
        assert!(matches!(parsed(&endless), Err(FirmwareError::Manifest(_))));
        assert!(acceptable(&m, TERMINAL_TARGET, 6).is_ok());
        assert_eq!(
            acceptable(&m, TERMINAL_TARGET, 7),
            Err(FirmwareError::Downgrade { running: 7, got: 7 })
        );
        assert!(acceptable(&m, "another-device", 1).is_err());
    }

    #[test]
    fn sec10_a_trial_slot_is_watched_confirmed_or_rolled_back_and_never_the_running_one() {
        let factory = SlotState::default();
        assert_eq!(factory.launch(None), Launch::Here);
        let on_trial = factory.activate(2);
        assert_eq!(on_trial.trial.as_ref().unwrap().slot, Slot::A);
        assert_eq!(on_trial.launch(None), Launch::Watch(Slot::A));
        assert_eq!(on_trial.launch(Some(Slot::A)), Launch::Here);
        assert_eq!(on_trial.running_version(Some(Slot::A)), 2);
        assert_eq!(on_trial.running_version(None), FACTORY_VERSION);
        let confirmed = on_trial.confirm();
        assert_eq!((confirmed.slot, confirmed.version), (Some(Slot::A), 2));
        assert_eq!(confirmed.launch(None), Launch::Exec(Slot::A));
        // The next image goes to the other slot, never over the running one.
        let next = confirmed.activate(3);
        assert_eq!(next.trial.as_ref().unwrap().slot, Slot::B);
        let back = next.roll_back("exited with 1");
        assert_eq!(
            (back.slot, back.version, back.trial.clone()),
            (Some(Slot::A), 2, None)
        );
        assert_eq!(back.failed, Some((3, "exited with 1".to_owned())));
        let kept: SlotState = serde_json::from_str(&serde_json::to_string(&back).unwrap()).unwrap();
        assert_eq!(kept, back);
    }

    #[test]
    fn sec10_the_terminal_refuses_a_downgrade_another_target_or_a_renamed_image() {
        use dlms::cosem::image::ImageCheck as _;
        let payload = b"#!/bin/sh".to_vec();
        let check = TerminalImages { running: 2 };
        let good = Manifest::of(TERMINAL_TARGET, 3, &payload);
        assert!(check
            .check(
                good.identifier().as_bytes(),
                &mut &firmware(&good, &payload)[..]
            )
            .is_ok());
        let old = Manifest::of(TERMINAL_TARGET, 2, &payload);
        assert!(check
            .check(
                old.identifier().as_bytes(),
                &mut &firmware(&old, &payload)[..]
            )
            .is_err());
        let other = Manifest::of("another-device", 3, &payload);
        assert!(check
            .check(
                other.identifier().as_bytes(),
                &mut &firmware(&other, &payload)[..]
            )
            .is_err());
        assert!(check
            .check(b"iotroute-terminal-9", &mut &firmware(&good, &payload)[..])
            .is_err());
    }

    #[test]
    fn sec10_a_packed_program_unpacks_to_itself_and_no_further_than_its_size() {
        let program: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let (m, payload) = Manifest::packed(TERMINAL_TARGET, 4, &program);
        assert!(payload.len() < program.len() / 4, "{}", payload.len());
        let fw = firmware(&m, &payload);
        let (read, at) = parsed(&fw).unwrap();
        let packed = &fw[usize::try_from(at).unwrap()..];
        assert_eq!((&read, packed), (&m, &payload[..]));
        // Unpacked in chunks of at most 64 KiB, to the program itself.
        let mut unpacked = Vec::new();
        let mut largest = 0;
        unpack_bytes(&read, packed, &mut |chunk| {
            largest = largest.max(chunk.len());
            unpacked.extend_from_slice(chunk);
            Ok(())
        })
        .unwrap();
        assert_eq!(unpacked, program);
        assert!(largest <= UNPACK_CHUNK, "{largest}");
        // A manifest that claims less than the payload unpacks to: refused as soon as
        // the count passes it, never more than it says handed on.
        let short = Manifest {
            size: 1000,
            ..m.clone()
        };
        let mut handed = 0;
        assert_eq!(
            unpack_bytes(&short, &payload, &mut |chunk| {
                handed += chunk.len();
                Ok(())
            }),
            Err(FirmwareError::Payload("size"))
        );
        assert_eq!(handed, 0, "the first chunk already passes 1,000 bytes");
        // A payload cut short: refused.
        assert!(parsed(&firmware(&m, &payload[..payload.len() / 2])).is_err());
        let huge = Manifest {
            size: PROGRAM_MAX + 1,
            ..m
        };
        assert_eq!(
            parsed(&firmware(&huge, &payload)),
            Err(FirmwareError::Payload("size"))
        );
        assert!(matches!(
            parsed(&firmware(
                &Manifest {
                    compression: Some(Compression::Deflate),
                    ..Manifest::of(TERMINAL_TARGET, 4, b"x")
                },
                b"not deflate"
            )),
            Err(FirmwareError::Unpack(_) | FirmwareError::Payload(_))
        ));
    }

    proptest::proptest! {
        /// Bad input (SEC-10): whatever follows the header, `parse` answers without a
        /// panic, and never hands on more than the manifest's size.
        #[test]
        fn sec10_any_body_parses_or_is_refused(
            manifest in "[ -~]{0,120}",
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
        ) {
            let mut fw = MAGIC.to_vec();
            fw.extend_from_slice(manifest.as_bytes());
            fw.push(b'\n');
            fw.extend_from_slice(&payload);
            if let Ok((m, at)) = parsed(&fw) {
                let mut size = 0u64;
                unpack_bytes(&m, &fw[usize::try_from(at).unwrap()..], &mut |c| {
                    size += c.len() as u64;
                    Ok(())
                })
                .unwrap();
                proptest::prop_assert_eq!(size, m.size);
            }
        }

        /// Any program packs and unpacks to itself, however the payload's reads are
        /// cut, and a flipped payload bit never yields another program (refused, or,
        /// were the bit unused, the same one).
        #[test]
        fn sec10_a_packed_program_round_trips_and_a_flipped_byte_is_found(
            program in proptest::collection::vec(proptest::num::u8::ANY, 1..3000),
            at in proptest::num::usize::ANY,
            step in 1..200usize,
        ) {
            let (m, payload) = Manifest::packed(TERMINAL_TARGET, 2, &program);
            let mut out = Vec::new();
            let mut dribble = Dribble { bytes: &payload, step };
            unpack(&m, &mut dribble, &mut |c| {
                out.extend_from_slice(c);
                Ok(())
            })
            .unwrap();
            proptest::prop_assert_eq!(&out, &program);
            let mut flipped = payload.clone();
            let i = at % flipped.len();
            flipped[i] ^= 0x01;
            let mut other = Vec::new();
            if unpack_bytes(&m, &flipped, &mut |c| {
                other.extend_from_slice(c);
                Ok(())
            })
            .is_ok()
            {
                proptest::prop_assert_eq!(&other, &program);
            }
        }
    }
}
