//! `iotroute firmware keygen|sign|verify` (SEC-10): the vendor's side of the terminal's
//! firmware update. `keygen` makes an ECDSA P-256 key pair (the private key FILE, hex,
//! owner only; the public FILE.pub, SEC1 compressed hex — what the terminal takes as
//! `--firmware-key` and `dlms serve` as `--image-key`); `sign` wraps a payload in the
//! manifest of `nodes::terminal::firmware` and signs it as the DLMS image transfer
//! verifies (`dlms::cosem::image`); `verify` checks an image as the terminal will.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use dlms::cosem::image::{sign_image, verify_image, ImageVendorKey};
use nodes::terminal::firmware::{self, Manifest, TERMINAL_TARGET};
use p256::ecdsa::SigningKey;

use crate::state_file::{write_atomic, Access};

/// `iotroute firmware ...`.
#[derive(Debug, clap::Subcommand)]
pub enum FirmwareCommand {
    /// Make a signing key pair: FILE (private, hex, owner only) and FILE.pub (public).
    Keygen {
        /// The private key file; the public key goes to FILE.pub.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a payload as a firmware image of version N: the manifest (target, version,
    /// size, SHA-256), the payload and the signature trailer.
    Sign {
        /// The private key file (from `keygen`).
        #[arg(long)]
        key: PathBuf,
        /// The image's version (the terminal refuses one not newer than its own).
        #[arg(long)]
        version: u32,
        /// The payload (a terminal executable).
        #[arg(long)]
        image: PathBuf,
        /// Where the signed image goes.
        #[arg(long)]
        out: PathBuf,
        /// The device it is for.
        #[arg(long, default_value = TERMINAL_TARGET)]
        target: String,
    },
    /// Check a signed image against a public key: exit 0 and its manifest, or 1 and why.
    Verify {
        /// The public key file (FILE.pub from `keygen`).
        #[arg(long)]
        key: PathBuf,
        /// The signed image.
        #[arg(long)]
        image: PathBuf,
    },
}

/// Why a firmware command failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FirmwareCmdError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Key(String),
    #[error("{0}")]
    Image(String),
}

fn read(path: &Path) -> Result<Vec<u8>, FirmwareCmdError> {
    std::fs::read(path).map_err(|source| FirmwareCmdError::Io {
        path: path.to_owned(),
        source,
    })
}

fn write(path: &Path, bytes: &[u8], access: Access) -> Result<(), FirmwareCmdError> {
    write_atomic(path, bytes, access).map_err(|source| FirmwareCmdError::Io {
        path: path.to_owned(),
        source,
    })
}

fn hex_file(path: &Path) -> Result<Vec<u8>, FirmwareCmdError> {
    let text = String::from_utf8(read(path)?)
        .map_err(|_| FirmwareCmdError::Key(format!("{}: not text", path.display())))?;
    dlms::hex::decode(text.trim())
        .map_err(|e| FirmwareCmdError::Key(format!("{}: {e}", path.display())))
}

/// The public key in `path` (hex, as `keygen` writes FILE.pub).
///
/// # Errors
/// An unreadable file, not hex, not a P-256 public key.
pub(crate) fn public_key(path: &Path) -> Result<ImageVendorKey, FirmwareCmdError> {
    ImageVendorKey::from_sec1_bytes(&hex_file(path)?)
        .map_err(|e| FirmwareCmdError::Key(format!("{}: {e}", path.display())))
}

/// The public key file beside a private key file.
fn pub_path(private: &Path) -> PathBuf {
    let mut p = private.as_os_str().to_owned();
    p.push(".pub");
    PathBuf::from(p)
}

fn keygen(out: &Path) -> Result<String, FirmwareCmdError> {
    // A scalar from the OS random source (a rare out-of-range draw is drawn again).
    let key = loop {
        let mut bytes = [0u8; 32];
        getrandom(&mut bytes)?;
        if let Ok(k) = SigningKey::from_slice(&bytes) {
            break k;
        }
    };
    write(
        out,
        dlms::hex::encode(&key.to_bytes()).as_bytes(),
        Access::OwnerOnly,
    )?;
    let public = dlms::hex::encode(&ImageVendorKey::of(&key).to_sec1_compressed());
    write(&pub_path(out), public.as_bytes(), Access::Default)?;
    Ok(format!(
        "private key {} (owner only), public key {}",
        out.display(),
        pub_path(out).display()
    ))
}

fn getrandom(out: &mut [u8]) -> Result<(), FirmwareCmdError> {
    use std::io::Read as _;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(out))
        .map_err(|source| FirmwareCmdError::Io {
            path: PathBuf::from("/dev/urandom"),
            source,
        })
}

fn sign(
    key: &Path,
    version: u32,
    image: &Path,
    out: &Path,
    target: &str,
) -> Result<String, FirmwareCmdError> {
    let secret = hex_file(key)?;
    let key = SigningKey::from_slice(&secret).map_err(|_| {
        FirmwareCmdError::Key(format!("{}: not a P-256 private key", key.display()))
    })?;
    let payload = read(image)?;
    let (manifest, packed) = Manifest::packed(target, version, &payload);
    let signed = sign_image(
        &key,
        manifest.identifier().as_bytes(),
        &firmware::firmware(&manifest, &packed),
    )
    .map_err(|e| FirmwareCmdError::Image(e.to_string()))?;
    write(out, &signed, Access::Default)?;
    Ok(format!(
        "{}: image {} ({} bytes program deflated to {}, SHA-256 {})",
        out.display(),
        manifest.identifier(),
        manifest.size,
        packed.len(),
        manifest.sha256
    ))
}

fn verify(key: &Path, image: &Path) -> Result<String, FirmwareCmdError> {
    use std::io::Read as _;
    let public = public_key(key)?;
    let io = |source| FirmwareCmdError::Io {
        path: image.to_owned(),
        source,
    };
    // Read from the file, as the terminal reads its image store: never whole in memory.
    let open = || std::fs::File::open(image).map(std::io::BufReader::new);
    let len = std::fs::metadata(image).map_err(io)?.len();
    // The identifier is in the manifest the signature covers: read it, then check both.
    let unsigned = len.saturating_sub(dlms::cosem::image::SIGNATURE_LEN as u64);
    let (manifest, _) = firmware::parse(&mut std::io::BufReader::new(
        open().map_err(io)?.take(unsigned),
    ))
    .map_err(|e| FirmwareCmdError::Image(e.to_string()))?;
    verify_image(
        &public,
        manifest.identifier().as_bytes(),
        &mut open().map_err(io)?,
        len,
    )
    .map_err(|e| FirmwareCmdError::Image(format!("signature: {e}")))?;
    Ok(format!(
        "{}: {} version {}, {} bytes, signature good",
        image.display(),
        manifest.target,
        manifest.version,
        manifest.size
    ))
}

/// Run it: exit 0 with what was done, 1 with why not.
pub fn run(cmd: &FirmwareCommand) -> ExitCode {
    let result = match cmd {
        FirmwareCommand::Keygen { out } => keygen(out),
        FirmwareCommand::Sign {
            key,
            version,
            image,
            out,
            target,
        } => sign(key, *version, image, out, target),
        FirmwareCommand::Verify { key, image } => verify(key, image),
    };
    match result {
        Ok(line) => {
            crate::stdout::outln!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::warn!(error = %e, "firmware command failed");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
