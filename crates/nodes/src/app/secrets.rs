//! Each terminal's LLS password is its own ([`dlms_password`]): derived one-way from the
//! terminal's EUI-64 and link password, which the smart meter registers per terminal
//! anyway. With one password for every terminal, a terminal that learnt it (it crosses
//! the link in the AARQ, readable under the group key every terminal of the PAN holds)
//! could open the management association of all the others.

use std::collections::BTreeMap;

/// The domain-separation label of [`dlms_password`].
const DLMS_PASSWORD_LABEL: &[u8] = b"iotroute DLMS LLS v1";

/// Terminal `eui64`'s LLS password for the management association (ours): the 32
/// upper-case hex digits of `SHA-256("iotroute DLMS LLS v1" ‖ EUI-64 ‖ len(password) as
/// u16 BE ‖ link password)[0..16]`.
///
/// Why derived: the terminal and the smart meter both hold the link password already
/// (the smart meter's registration `EUI64=PASSWORD`), so no second secret has to be
/// provisioned, yet each terminal's DLMS secret differs (the EUI-64 salts it) and
/// learning it (LLS sends it in the AARQ) tells nothing about the link password (a
/// one-way hash, its label keeping it apart from the EAP-PSK derivation of the same
/// password). Hex, so that `dlms get --password` can use it too.
#[must_use]
pub fn dlms_password(eui64: [u8; 8], link_password: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let len = u16::try_from(link_password.len()).unwrap_or(u16::MAX);
    let mut h = Sha256::new();
    h.update(DLMS_PASSWORD_LABEL);
    h.update(eui64);
    h.update(len.to_be_bytes());
    h.update(link_password);
    dlms::hex::encode(&h.finalize()[..16]).into_bytes()
}

/// The smart meter's side of [`dlms_password`]: each registered terminal's LLS
/// password, by EUI-64. `Debug` shows how many, never a password.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TerminalSecrets(pub(super) BTreeMap<[u8; 8], Vec<u8>>);

impl TerminalSecrets {
    /// Derive every terminal's DLMS password from its registration (EUI-64, link
    /// password).
    pub fn from_link_passwords<'a>(
        registrations: impl IntoIterator<Item = ([u8; 8], &'a [u8])>,
    ) -> Self {
        Self(
            registrations
                .into_iter()
                .map(|(eui, pw)| (eui, dlms_password(eui, pw)))
                .collect(),
        )
    }

    /// Terminal `terminal`'s link password changed (TRM-08): its DLMS password is the one
    /// derived from the new one from now on. Only for a terminal held already (SYS-03: a
    /// password change registers nobody); `false` for another.
    pub fn change(&mut self, terminal: [u8; 8], link_password: &[u8]) -> bool {
        let Some(held) = self.0.get_mut(&terminal) else {
            return false;
        };
        *held = dlms_password(terminal, link_password);
        true
    }

    /// Terminal `terminal`'s DLMS password, if registered.
    #[must_use]
    pub fn get(&self, terminal: [u8; 8]) -> Option<&[u8]> {
        self.0.get(&terminal).map(Vec::as_slice)
    }
}

impl core::fmt::Debug for TerminalSecrets {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "TerminalSecrets({} terminals, <redacted>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 8] = [0x02, 0x1A, 0, 0, 0, 0, 0x10, 1];
    const B: [u8; 8] = [0x02, 0x1A, 0, 0, 0, 0, 0x10, 2];

    #[test]
    fn sec02_each_terminal_has_its_own_dlms_password() {
        let (a, b) = (
            dlms_password(A, b"IOTPASS00001"),
            dlms_password(B, b"IOTPASS00002"),
        );
        assert_ne!(a, b);
        // The same link password on two terminals still gives two DLMS passwords.
        assert_ne!(dlms_password(A, b"same"), dlms_password(B, b"same"));
        assert_eq!(a, dlms_password(A, b"IOTPASS00001"), "deterministic");
        assert_eq!(a.len(), 32);
        assert!(a.iter().all(u8::is_ascii_hexdigit));
        assert!(
            !a.windows(8).any(|w| w == b"IOTPASS0"),
            "the link password is not in it"
        );
        let secrets = TerminalSecrets::from_link_passwords([(A, &b"IOTPASS00001"[..])]);
        assert!(!format!("{secrets:?}").contains(&String::from_utf8(a).unwrap()));
    }
    /// TRM-08 with SYS-03: a changed link password gives a held terminal the DLMS
    /// password derived from it; it registers no other.
    #[test]
    fn trm08_sys03_a_password_change_rederives_a_held_terminals_secret_only() {
        let mut secrets = TerminalSecrets::from_link_passwords([(A, &b"IOTPASS00001"[..])]);
        assert!(secrets.change(A, b"NEWPASSWORD1"));
        assert_eq!(
            secrets.get(A),
            Some(dlms_password(A, b"NEWPASSWORD1").as_slice())
        );
        assert!(!secrets.change(B, b"NEWPASSWORD2"));
        assert_eq!(secrets.get(B), None);
    }
}
