//! One end of the A route's security: every APDU this end sends is sealed under suite 0
//! (AES-128-GCM, authenticated and encrypted) as `general-glo-ciphering` with this end's
//! system title and the next invocation counter; every APDU it takes must be sealed so by
//! the peer it expects, with a counter above every one taken before (a replay, or a
//! message older than one already taken, is refused). Counters are the caller's to keep
//! across restarts ([`Channel::sent`], [`Channel::taken`]): a counter used twice under
//! one key is GCM nonce reuse.

use crate::cipher::{self, CipherError, CipherForm, Keys, Protections, SystemTitle};

/// The security control byte of a suite-0 authenticated and encrypted APDU.
const AUTH_ENC_SUITE_0: u8 = 0x30;

/// Why an APDU was not sent or not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// Not sealed, or sealed otherwise than suite 0 authenticated and encrypted.
    #[error("not sealed as the A route requires (general-glo-ciphering, suite 0, authenticated and encrypted)")]
    Unsealed,
    /// Sealed by another system title than the peer's.
    #[error("sealed by {got:02x?}, not the peer {want:02x?}")]
    Sender {
        /// The peer's.
        want: [u8; 8],
        /// The APDU's.
        got: Vec<u8>,
    },
    /// A counter not above the last one taken: a replay or an old message.
    #[error("invocation counter {got} not above the last taken, {last}")]
    Replay {
        /// The last taken.
        last: u32,
        /// The APDU's.
        got: u32,
    },
    /// The tag does not verify or the APDU is malformed.
    #[error("{0}")]
    Cipher(#[from] CipherError),
    /// This end has spent every counter under its key: a new key is needed.
    #[error("invocation counters exhausted: the key must be renewed")]
    Exhausted,
}

/// One end's sealing and opening.
pub struct Channel {
    own: SystemTitle,
    peer: SystemTitle,
    keys: Keys,
    sent: u32,
    taken: Option<u32>,
}

impl core::fmt::Debug for Channel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Channel")
            .field("own", &self.own)
            .field("peer", &self.peer)
            .field("sent", &self.sent)
            .field("taken", &self.taken)
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// This end (`own`) talking to `peer` under `keys` (both ends hold the same pair);
    /// `sent`: the last counter this end spent (0: none), `taken`: the last the peer's
    /// that this end took (`None`: none yet).
    #[must_use]
    pub const fn new(
        own: SystemTitle,
        peer: SystemTitle,
        keys: Keys,
        sent: u32,
        taken: Option<u32>,
    ) -> Self {
        Self {
            own,
            peer,
            keys,
            sent,
            taken,
        }
    }

    /// The last counter this end spent.
    #[must_use]
    pub const fn sent(&self) -> u32 {
        self.sent
    }

    /// The last of the peer's counters taken.
    #[must_use]
    pub const fn taken(&self) -> Option<u32> {
        self.taken
    }

    /// The peer's system title.
    #[must_use]
    pub const fn peer(&self) -> SystemTitle {
        self.peer
    }

    /// `plain` sealed with the next counter.
    ///
    /// # Errors
    /// [`ChannelError::Exhausted`]; [`ChannelError::Cipher`] for an APDU that is not one.
    pub fn seal(&mut self, plain: &[u8]) -> Result<Vec<u8>, ChannelError> {
        let counter = self.sent.checked_add(1).ok_or(ChannelError::Exhausted)?;
        let sealed = cipher::encipher(
            plain,
            CipherForm::GeneralGlo,
            Protections::AuthEnc,
            &self.keys,
            self.own,
            counter,
        )?;
        self.sent = counter;
        Ok(sealed)
    }

    /// The plain APDU of `apdu`, sealed by the peer with a counter above every one taken.
    ///
    /// # Errors
    /// [`ChannelError`]: nothing of a refused APDU is used, and the counter taken stays.
    pub fn open(&mut self, apdu: &[u8]) -> Result<Vec<u8>, ChannelError> {
        let envelope = cipher::envelope(apdu).map_err(|_| ChannelError::Unsealed)?;
        if envelope.form != CipherForm::GeneralGlo || envelope.security_control != AUTH_ENC_SUITE_0
        {
            return Err(ChannelError::Unsealed);
        }
        if envelope.system_title != Some(&self.peer.0[..]) {
            return Err(ChannelError::Sender {
                want: self.peer.0,
                got: envelope.system_title.unwrap_or_default().to_vec(),
            });
        }
        if let Some(last) = self.taken.filter(|l| envelope.invocation_counter <= *l) {
            return Err(ChannelError::Replay {
                last,
                got: envelope.invocation_counter,
            });
        }
        // The tag verified before the counter moves: a forged APDU cannot push it up.
        let opened = cipher::decipher(apdu, &self.keys, None)?;
        self.taken = Some(opened.invocation_counter);
        Ok(opened.plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cipher::{GREEN_BOOK_AK, GREEN_BOOK_EK};

    const SM: SystemTitle = SystemTitle(*b"SMT\x00\x00\x00\x00\x01");
    const HES: SystemTitle = SystemTitle(*b"HES\x00\x00\x00\x00\x01");

    fn keys() -> Keys {
        Keys::from_slices(&GREEN_BOOK_EK, &GREEN_BOOK_AK).unwrap()
    }

    /// A Data-Notification, plain.
    const PLAIN: [u8; 9] = [0x0F, 0x00, 0x00, 0x00, 0x01, 0x00, 0x11, 0x05, 0x00];

    #[test]
    fn sec02_an_apdu_opens_once_and_only_from_its_peer_sealed() {
        let mut sm = Channel::new(SM, HES, keys(), 0, None);
        let mut hes = Channel::new(HES, SM, keys(), 0, None);
        let first = sm.seal(&PLAIN).unwrap();
        let second = sm.seal(&PLAIN).unwrap();
        assert_eq!(hes.open(&first).unwrap(), PLAIN);
        assert!(matches!(
            hes.open(&first),
            Err(ChannelError::Replay { last: 1, got: 1 })
        ));
        assert_eq!(hes.open(&second).unwrap(), PLAIN);
        assert!(matches!(hes.open(&first), Err(ChannelError::Replay { .. })));
        // Plain, or sealed by someone else (here: the head end's own title).
        assert_eq!(hes.open(&PLAIN), Err(ChannelError::Unsealed));
        let mut mirror = Channel::new(HES, HES, keys(), 10, None);
        assert!(matches!(
            hes.open(&mirror.seal(&PLAIN).unwrap()),
            Err(ChannelError::Sender { .. })
        ));
        // A bit flipped anywhere in the ciphertext: refused, the counter taken stays.
        let mut third = sm.seal(&PLAIN).unwrap();
        let last = third.len() - 1;
        third[last] ^= 1;
        assert!(matches!(hes.open(&third), Err(ChannelError::Cipher(_))));
        assert_eq!(hes.taken(), Some(2));
        // Authenticated only: refused though genuine.
        let auth_only = cipher::encipher(
            &PLAIN,
            CipherForm::GeneralGlo,
            Protections::Auth,
            &keys(),
            SM,
            99,
        )
        .unwrap();
        assert_eq!(hes.open(&auth_only), Err(ChannelError::Unsealed));
    }

    #[test]
    fn sec02_counters_go_on_from_where_a_restart_left_them_and_end() {
        let mut sm = Channel::new(SM, HES, keys(), 41, None);
        let mut hes = Channel::new(HES, SM, keys(), 0, Some(41));
        assert_eq!(hes.open(&sm.seal(&PLAIN).unwrap()).unwrap(), PLAIN);
        assert_eq!((sm.sent(), hes.taken()), (42, Some(42)));
        let mut spent = Channel::new(SM, HES, keys(), u32::MAX, None);
        assert_eq!(spent.seal(&PLAIN), Err(ChannelError::Exhausted));
    }
}
