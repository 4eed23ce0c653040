//! Key material as its own types, so that no key reaches a log or a `{:?}`: every type
//! here prints as `Name(<redacted>)`, and the bytes come out only through `as_bytes`.
//! Equality is constant-time (keys are compared in tests and state machines, never to
//! decide anything an attacker can time).

use alloc::vec::Vec;
use core::fmt;

/// Constant-time equality of two byte strings (lengths are not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

macro_rules! fixed_secret {
    ($(#[$doc:meta])* $name:ident, $len:expr) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// Wraps raw key bytes.
            #[must_use]
            pub const fn new(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// The key bytes, for the cipher or MAC that uses them.
            #[must_use]
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                ct_eq(&self.0, &other.0)
            }
        }

        impl Eq for $name {}
    };
}

fixed_secret!(
    /// The 16-byte EAP-PSK pre-shared key (RFC 4764 §3.1).
    Psk,
    16
);
fixed_secret!(
    /// EAP-PSK authentication key AK (RFC 4764 §3.2), keys MAC_P and MAC_S.
    Ak,
    16
);
fixed_secret!(
    /// EAP-PSK key-derivation key KDK (RFC 4764 §3.2).
    Kdk,
    16
);
fixed_secret!(
    /// EAP-PSK transient key TEK (RFC 4764 §3.3), keys the protected channel.
    Tek,
    16
);
fixed_secret!(
    /// The 64-byte master session key EAP-PSK exports to PANA (RFC 4764 §3.3).
    Msk,
    64
);
fixed_secret!(
    /// The 64-byte extended master session key (RFC 4764 §3.3); not used by PANA.
    Emsk,
    64
);
fixed_secret!(
    /// An AES-128 key: PANA_PAA_ENCR_KEY (RFC 6786) or a layer-2 group key.
    Aes128Key,
    16
);

/// PANA_AUTH_KEY (RFC 5191 §5.3): its length is the integrity algorithm's key length
/// (20 bytes for HMAC-SHA1, 32 for HMAC-SHA-256), hence not a fixed array.
#[derive(Clone)]
pub struct AuthKey(Vec<u8>);

impl AuthKey {
    pub(crate) const fn from_vec(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The key bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthKey(<redacted {} bytes>)", self.0.len())
    }
}

impl PartialEq for AuthKey {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(&self.0, &other.0)
    }
}

impl Eq for AuthKey {}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn sec02_keys_never_print_their_bytes() {
        let k = Msk::new([0xAB; 64]);
        assert_eq!(format!("{k:?}"), "Msk(<redacted>)");
        let a = AuthKey::from_vec(alloc::vec![0xCD; 32]);
        assert_eq!(format!("{a:?}"), "AuthKey(<redacted 32 bytes>)");
        assert!(!format!("{:?}", Psk::new([0x11; 16])).contains("11"));
    }

    #[test]
    fn ct_eq_compares_lengths_and_bytes() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
