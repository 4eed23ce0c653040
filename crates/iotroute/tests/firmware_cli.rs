//! `iotroute firmware keygen|sign|verify` (SEC-10): a key pair (the private half owner
//! only), an image signed as the DLMS image transfer verifies, and verification that
//! refuses a changed payload, a changed manifest or another vendor's key.

mod support;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;

use support::iotroute;

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("iotroute-firmware-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn fw(args: &[&str], at: &Path) -> Output {
    iotroute()
        .arg("firmware")
        .args(args)
        .current_dir(at)
        .output()
        .unwrap()
}

#[test]
fn sec10_images_signed_by_the_vendor_verify_and_nothing_else_does() {
    let d = dir();
    assert!(fw(&["keygen", "--out", "vendor.key"], &d).status.success());
    assert!(fw(&["keygen", "--out", "other.key"], &d).status.success());
    let mode = std::fs::metadata(d.join("vendor.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "the private key is the owner's only");
    let public = std::fs::read_to_string(d.join("vendor.key.pub")).unwrap();
    assert_eq!(public.len(), 66, "SEC1 compressed, hex: {public}");
    std::fs::write(d.join("app"), b"\x7fELF a terminal executable").unwrap();
    let out = fw(
        &[
            "sign",
            "--key",
            "vendor.key",
            "--version",
            "5",
            "--image",
            "app",
            "--out",
            "app.img",
        ],
        &d,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("iotroute-terminal-5"));
    let out = fw(
        &["verify", "--key", "vendor.key.pub", "--image", "app.img"],
        &d,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("version 5"));
    // The DLMS image transfer's verifier takes it under the same key.
    let image = std::fs::read(d.join("app.img")).unwrap();
    let key = dlms::cosem::image::ImageVendorKey::from_sec1_bytes(
        &dlms::hex::decode(public.trim()).unwrap(),
    )
    .unwrap();
    assert!(dlms::cosem::image::verify_image(
        &key,
        b"iotroute-terminal-5",
        &mut &image[..],
        image.len() as u64
    )
    .is_ok());
    // Another vendor's key, a changed payload byte, a changed version: refused.
    let out = fw(
        &["verify", "--key", "other.key.pub", "--image", "app.img"],
        &d,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("signature"));
    let mut changed = image.clone();
    let payload_byte = changed.len() - 64 - 1;
    changed[payload_byte] ^= 1;
    std::fs::write(d.join("changed.img"), &changed).unwrap();
    let out = fw(
        &[
            "verify",
            "--key",
            "vendor.key.pub",
            "--image",
            "changed.img",
        ],
        &d,
    );
    assert_eq!(out.status.code(), Some(1));
    let at = image
        .windows(11)
        .position(|w| w == b"\"version\":5")
        .expect("the manifest's version");
    let mut newer = image.clone();
    newer[at + 10] = b'9';
    std::fs::write(d.join("newer.img"), &newer).unwrap();
    let out = fw(
        &["verify", "--key", "vendor.key.pub", "--image", "newer.img"],
        &d,
    );
    assert_eq!(out.status.code(), Some(1), "a version raised after signing");
    let _ = std::fs::remove_dir_all(&d);
}
