//! The operations pages' users (the utility's people): a name, a role — an operator
//! acts (block, reconnect), a viewer only looks — and the password as an Argon2id hash
//! (PHC string, a random 16-byte salt; the password itself is never kept, logged or
//! shown). Passwords of at least 12 characters **(ours)**.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::error::PortalError;

/// The shortest password taken **(ours)**.
pub const MIN_PASSWORD: usize = 12;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Sees everything and acts: block, reconnect, records (OPS-07).
    Operator,
    /// Sees everything, acts on nothing.
    Viewer,
}

impl Role {
    /// Its name, as the command line and the database have it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Operator => "operator",
            Self::Viewer => "viewer",
        }
    }

    /// The role named `s`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Operator, Self::Viewer]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// A user as kept.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The login name: 1 to 64 characters of letters, digits, `.`, `_` and `-`.
    pub name: String,
    /// The role.
    pub role: Role,
    /// The password's Argon2id hash (PHC string).
    pub hash: String,
}

impl core::fmt::Debug for User {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl User {
    /// A user `name` with `role` and `password` (hashed here).
    ///
    /// # Errors
    /// [`PortalError::Refused`]: a name not of the allowed characters, a password
    /// shorter than [`MIN_PASSWORD`]; [`PortalError::Store`] if no salt could be drawn.
    pub fn new(name: &str, role: Role, password: &[u8]) -> Result<Self, PortalError> {
        let name_ok = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !name_ok {
            return Err(PortalError::Refused(
                "a user name is 1 to 64 letters, digits, '.', '_' or '-'".to_owned(),
            ));
        }
        if password.chars_len() < MIN_PASSWORD {
            return Err(PortalError::Refused(format!(
                "a password has at least {MIN_PASSWORD} characters"
            )));
        }
        let mut salt = [0u8; 16];
        getrandom::getrandom(&mut salt).map_err(|e| PortalError::Store(e.to_string()))?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| PortalError::Store(e.to_string()))?;
        let hash = Argon2::default()
            .hash_password(password, &salt)
            .map_err(|e| PortalError::Store(e.to_string()))?
            .to_string();
        Ok(Self {
            name: name.to_owned(),
            role,
            hash,
        })
    }

    /// Whether `password` is this user's.
    #[must_use]
    pub fn verify(&self, password: &[u8]) -> bool {
        PasswordHash::new(&self.hash)
            .is_ok_and(|h| Argon2::default().verify_password(password, &h).is_ok())
    }
}

/// The length of a password in characters (bytes when not UTF-8).
trait CharsLen {
    fn chars_len(&self) -> usize;
}

impl CharsLen for [u8] {
    fn chars_len(&self) -> usize {
        core::str::from_utf8(self).map_or(self.len(), |s| s.chars().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_a_password_is_kept_as_an_argon2id_hash_that_verifies_it_only() {
        let u = User::new("ops.tanaka", Role::Operator, b"correct horse battery").unwrap();
        assert!(u.hash.starts_with("$argon2id$"), "{}", u.hash);
        assert!(!u.hash.contains("correct"));
        assert!(u.verify(b"correct horse battery"));
        assert!(!u.verify(b"correct horse batterY"));
        assert!(!format!("{u:?}").contains("argon2"));
        let again = User::new("ops.tanaka", Role::Operator, b"correct horse battery").unwrap();
        assert_ne!(again.hash, u.hash, "a salt of its own");
    }

    #[test]
    fn ops_short_passwords_and_odd_names_are_refused() {
        assert!(User::new("a", Role::Viewer, b"elevenchars").is_err());
        assert!(User::new("a", Role::Viewer, b"twelve chars").is_ok());
        for bad in ["", "a b", "a/b", "名前", &"x".repeat(65)] {
            assert!(
                User::new(bad, Role::Viewer, b"twelve chars").is_err(),
                "{bad}"
            );
        }
        assert_eq!(Role::parse("viewer"), Some(Role::Viewer));
        assert_eq!(Role::parse("admin"), None);
    }
}
