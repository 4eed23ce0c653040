//! The 16-byte EAP-PSK key from a terminal's authentication ID and password, and the
//! identities ID_P / ID_S.
//!
//! How the Wi-SUN HAN profile turns the password into the PSK is not public (JJ-300.10);
//! EAP-PSK itself only takes 16 bytes. Whatever the profile does goes behind
//! [`PskDerivation`], the one place to change. Our default, [`SaltedSha256`], is
//! documented in docs/iot-route-link.md.

use alloc::string::String;

use sha2::{Digest, Sha256};

use crate::secret::Psk;

/// How a terminal's authentication ID and password become the PSK. The smart meter and
/// the terminal must use the same one.
pub trait PskDerivation {
    /// The PSK for `auth_id` (the terminal's ID_P) and `password`.
    fn derive(&self, auth_id: &[u8], password: &[u8]) -> Psk;
}

/// Any `Fn(auth_id, password) -> Psk` is a derivation, so a test or a profile can plug one
/// in without a type of its own.
impl<F: Fn(&[u8], &[u8]) -> Psk> PskDerivation for F {
    fn derive(&self, auth_id: &[u8], password: &[u8]) -> Psk {
        self(auth_id, password)
    }
}

/// Our default (ours): `PSK = SHA-256("iotroute EAP-PSK v1" ‖ len(ID) as u16 BE ‖ ID ‖
/// password)[0..16]`.
///
/// Salting with the ID makes one password on two terminals two PSKs (a terminal that
/// learns its own PSK learns nothing about another's), and the label keeps the hash
/// apart from any other use of the password; the length prefix keeps (ID, password)
/// pairs from colliding. The smart meter registers (ID, password) per terminal anyway
/// (SKSTACK's `SKSETHPWD <MAC> <PWD>`), so the salt costs nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaltedSha256;

impl SaltedSha256 {
    /// The domain-separation label.
    pub const LABEL: &'static [u8] = b"iotroute EAP-PSK v1";
}

impl PskDerivation for SaltedSha256 {
    fn derive(&self, auth_id: &[u8], password: &[u8]) -> Psk {
        let id_len = u16::try_from(auth_id.len()).unwrap_or(u16::MAX);
        let mut h = Sha256::new();
        h.update(Self::LABEL);
        h.update(id_len.to_be_bytes());
        h.update(auth_id);
        h.update(password);
        let d = h.finalize();
        let mut psk = [0; 16];
        psk.copy_from_slice(&d[..16]);
        Psk::new(psk)
    }
}

/// An EAP-PSK identity from an EUI-64 (ours): the 16 upper-case hex digits of the address
/// as printed (most significant byte first). ID_P is the terminal's, ID_S the smart
/// meter's.
#[must_use]
pub fn identity_from_eui64(eui64: [u8; 8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    eui64
        .iter()
        .flat_map(|b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec02_identity_is_sixteen_upper_case_hex_digits() {
        assert_eq!(
            identity_from_eui64([0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0xAB]),
            "02112233445500AB"
        );
    }

    #[test]
    fn sec02_psk_is_salted_with_the_id() {
        let a = SaltedSha256.derive(b"0211223344550001", b"PASSWORD1234");
        let b = SaltedSha256.derive(b"0211223344550002", b"PASSWORD1234");
        assert_ne!(a, b);
        assert_eq!(a, SaltedSha256.derive(b"0211223344550001", b"PASSWORD1234"));
        // No ambiguity between where the ID ends and the password starts.
        assert_ne!(
            SaltedSha256.derive(b"AB", b"C"),
            SaltedSha256.derive(b"A", b"BC")
        );
    }

    #[test]
    fn sec02_a_closure_is_a_psk_derivation() {
        let fixed = |_: &[u8], _: &[u8]| Psk::new([0x42; 16]);
        assert_eq!(fixed.derive(b"any", b"thing"), Psk::new([0x42; 16]));
    }
}
