//! Pushes: the Data-Notification a terminal sends on its own initiative (the slot push
//! of push setup `0-0:25.9.0.255` at each closed slot, or when a client invokes
//! `push`), and the listener a smart meter (or `iotroute dlms listen`) reads them with.
//!
//! A push is not part of an association: no request, no invoke-id to match, and, when
//! ciphered, only the frame itself says who sent it. So a ciphered push always travels
//! as `general-glo-ciphering` (a Data-Notification has no `glo-` tag), which carries the
//! sender's system title in the clear; the listener finds the keys by it and refuses a
//! counter it has already seen (replay protection, SEC-02/SEC-03 ground).
//!
//! **Invocation counters (ours).** Suite 0's GCM nonce is the system title and the
//! invocation counter. Pushes go out under the management association's keys and the
//! terminal's one system title, but the association engine keeps its own counter and
//! cannot share it (`docs/architecture.md`); two counters under one key would reuse
//! nonces. So the counter space is split: the association spends counters below
//! [`PUSH_COUNTER_BASE`], pushes spend counters from it up. Both are persisted before
//! use by the caller. A receiver keeps one replay window for pushes and another for an
//! association's responses (as it must anyway: a push may overtake a response), so
//! each side sees strictly increasing counters.

use crate::apdu::{self, Apdu, DataNotification, LongInvokeId, OptionalDateTime};
use crate::cipher::{self, CipherError, CipherForm, Keys, Protections, SystemTitle};
use crate::datetime::CosemDateTime;
use crate::error::CodecError;
use crate::Data;

/// The first invocation counter a push spends; the association engine stays below it.
pub const PUSH_COUNTER_BASE: u32 = 0x8000_0000;

/// The wrapper wPort a push is addressed to **(ours)**: the management client's (1),
/// i.e. the smart meter that configured the push setup. The source is the server's 1.
pub const PUSH_DESTINATION_WPORT: u16 = 1;

/// Why a push could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// Ciphering asked for without keys.
    #[error("a ciphered push needs keys")]
    MissingKeys,
    /// The push counters are used up: the keys must change before anything else is
    /// sent ciphered (wrapping would reuse nonces).
    #[error("push invocation counters exhausted: change the keys")]
    CountersExhausted,
    /// The body or the notification could not be encoded.
    #[error("push not encoded: {0}")]
    Codec(#[from] CodecError),
    /// Sealing failed.
    #[error("push not ciphered: {0}")]
    Cipher(#[from] CipherError),
}

/// Builds the terminal's pushes.
#[derive(Debug)]
pub struct PushSender {
    protection: Option<Protections>,
    keys: Option<Keys>,
    system_title: SystemTitle,
    last_counter: u32,
    long_invoke_id: u32,
}

impl PushSender {
    /// A sender identifying itself as `system_title`, sealing with `protection`
    /// (`None`: plain pushes) under `keys`. `last_used` is the last push counter
    /// persisted by a previous run (0 when none): the first push spends the counter
    /// after it, never below [`PUSH_COUNTER_BASE`].
    ///
    /// # Errors
    /// [`PushError::MissingKeys`].
    pub fn new(
        protection: Option<Protections>,
        keys: Option<Keys>,
        system_title: SystemTitle,
        last_used: u32,
    ) -> Result<Self, PushError> {
        if protection.is_some() && keys.is_none() {
            return Err(PushError::MissingKeys);
        }
        Ok(Self {
            protection,
            keys,
            system_title,
            last_counter: last_used.max(PUSH_COUNTER_BASE - 1),
            long_invoke_id: 0,
        })
    }

    /// The last counter a push spent (or the start point): persist a mark above it
    /// before [`PushSender::notify`] spends the next one.
    #[must_use]
    pub const fn invocation_counter(&self) -> u32 {
        self.last_counter
    }

    /// Whether pushes go out ciphered (and so spend counters).
    #[must_use]
    pub const fn ciphered(&self) -> bool {
        self.protection.is_some()
    }

    /// One unconfirmed Data-Notification carrying `body`, captured at `captured_at`.
    ///
    /// # Errors
    /// [`PushError`]: counters exhausted, or the body does not encode.
    pub fn notify(
        &mut self,
        captured_at: Option<CosemDateTime>,
        body: &Data,
    ) -> Result<Vec<u8>, PushError> {
        // The long invoke id counts pushes (24 bits) so a receiver can tell a repeat
        // from a new reading; unconfirmed, normal priority.
        self.long_invoke_id = self.long_invoke_id.wrapping_add(1) & 0x00FF_FFFF;
        let body_bytes = apdu::data_bytes(body)?;
        let notification = Apdu::DataNotification(DataNotification {
            long_invoke_id: LongInvokeId::new(self.long_invoke_id),
            date_time: OptionalDateTime(captured_at.map(Into::into)),
            body: apdu::data_ref(&body_bytes)?,
        });
        let plain = apdu::encode(&notification)?;
        let (Some(protection), Some(keys)) = (self.protection, &self.keys) else {
            return Ok(plain);
        };
        let counter = self
            .last_counter
            .checked_add(1)
            .ok_or(PushError::CountersExhausted)?;
        let sealed = cipher::encipher(
            &plain,
            CipherForm::GeneralGlo,
            protection,
            keys,
            self.system_title,
            counter,
        )?;
        self.last_counter = counter;
        Ok(sealed)
    }
}

/// A received push.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The sender, for a ciphered push (plain ones do not say).
    pub system_title: Option<SystemTitle>,
    /// The counter it was sealed under, for a ciphered push.
    pub invocation_counter: Option<u32>,
    /// The long invoke id (push number, 24 bits).
    pub long_invoke_id: u32,
    /// When the values were captured, if the sender said.
    pub captured_at: Option<CosemDateTime>,
    /// The values: for a push setup with several objects, a structure with one element
    /// per object of its push_object_list.
    pub body: Data,
}

/// Why a received push was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ListenError {
    /// Not an APDU.
    #[error("malformed push: {0}")]
    Malformed(#[from] CodecError),
    /// An APDU, but not a Data-Notification (plain or general-glo-ciphered).
    #[error("byte 0: tag 0x{0:02X} is not a Data-Notification")]
    NotANotification(u8),
    /// A plain push where protection is required.
    #[error("unprotected push refused (protection {required:?} required)")]
    Unprotected {
        /// What the listener requires.
        required: Protections,
    },
    /// A ciphered push weaker than required (e.g. authenticated only, where
    /// authenticated and encrypted is required).
    #[error("push protected with security control 0x{control:02X}, weaker than {required:?}")]
    Weaker {
        /// The frame's security control byte.
        control: u8,
        /// What the listener requires.
        required: Protections,
    },
    /// A ciphered push from a system title whose keys we do not hold.
    #[error("push from unknown system title {0:02X?}")]
    UnknownSender([u8; 8]),
    /// A counter not above the highest already accepted from that sender.
    #[error("replayed or reordered push refused: counter {counter} not above {highest}")]
    Replay {
        /// The frame's counter.
        counter: u32,
        /// The highest accepted so far.
        highest: u32,
    },
    /// The seal did not open (wrong keys, altered frame).
    #[error("push does not decipher: {0}")]
    Cipher(#[from] CipherError),
}

/// One sender a listener accepts ciphered pushes from.
#[derive(Debug, Clone)]
struct KnownSender {
    system_title: SystemTitle,
    keys: Keys,
    highest: Option<u32>,
}

/// Reads pushes (the smart meter's side, and `iotroute dlms listen`).
///
/// What protection a push must carry is the listener's to demand, never the frame's to
/// announce: a forged plain frame must not pass because it says it is plain.
#[derive(Debug)]
pub struct PushListener {
    required: Option<Protections>,
    senders: Vec<KnownSender>,
}

impl PushListener {
    /// A listener requiring `required` (`None`: plain pushes accepted, ciphered ones
    /// opened when the sender is known).
    #[must_use]
    pub const fn new(required: Option<Protections>) -> Self {
        Self {
            required,
            senders: Vec::new(),
        }
    }

    /// Accept ciphered pushes from `system_title` under `keys`; `highest_seen` is the
    /// replay window persisted by a previous run (`None`: nothing seen yet).
    pub fn add_sender(&mut self, system_title: SystemTitle, keys: Keys, highest_seen: Option<u32>) {
        self.senders.retain(|s| s.system_title != system_title);
        self.senders.push(KnownSender {
            system_title,
            keys,
            highest: highest_seen,
        });
    }

    /// The highest counter accepted from `system_title`, to persist.
    #[must_use]
    pub fn highest_seen(&self, system_title: SystemTitle) -> Option<u32> {
        self.senders
            .iter()
            .find(|s| s.system_title == system_title)
            .and_then(|s| s.highest)
    }

    /// Read one push APDU.
    ///
    /// # Errors
    /// [`ListenError`]; a refused push changes nothing (a forged frame cannot move the
    /// replay window).
    pub fn handle(&mut self, apdu: &[u8]) -> Result<Notification, ListenError> {
        let tag = apdu.first().copied().unwrap_or(0);
        if tag == 0x0F {
            if let Some(required) = self.required {
                return Err(ListenError::Unprotected { required });
            }
            return notification(apdu, None, None);
        }
        let env = cipher::envelope(apdu).map_err(|e| match e {
            CipherError::NotCiphered(t) => ListenError::NotANotification(t),
            CipherError::Codec(c) => ListenError::Malformed(c),
            other => ListenError::from(other),
        })?;
        if env.form != CipherForm::GeneralGlo {
            return Err(ListenError::NotANotification(tag));
        }
        if let Some(required) = self.required {
            let wanted = required.control();
            if env.security_control & wanted != wanted {
                return Err(ListenError::Weaker {
                    control: env.security_control,
                    required,
                });
            }
        }
        let title = SystemTitle::from_slice(env.system_title.unwrap_or_default())?;
        let counter = env.invocation_counter;
        let sender = self
            .senders
            .iter_mut()
            .find(|s| s.system_title == title)
            .ok_or(ListenError::UnknownSender(title.0))?;
        if let Some(highest) = sender.highest.filter(|&h| counter <= h) {
            return Err(ListenError::Replay { counter, highest });
        }
        let opened = cipher::decipher(apdu, &sender.keys, Some(title))?;
        let n = notification(&opened.plain, Some(title), Some(counter))?;
        // Only a frame that verified and decoded moves the window.
        sender.highest = Some(counter);
        Ok(n)
    }
}

/// Decode a plain Data-Notification APDU.
fn notification(
    plain: &[u8],
    system_title: Option<SystemTitle>,
    invocation_counter: Option<u32>,
) -> Result<Notification, ListenError> {
    match apdu::decode(plain)? {
        Apdu::DataNotification(n) => Ok(Notification {
            system_title,
            invocation_counter,
            long_invoke_id: n.long_invoke_id.id(),
            captured_at: n.date_time.0.map(Into::into),
            body: apdu::to_owned_data(&n.body)?,
        }),
        _ => Err(ListenError::NotANotification(
            plain.first().copied().unwrap_or(0),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cipher::GREEN_BOOK_CLIENT_TITLE;

    const TERMINAL: SystemTitle = SystemTitle(*b"MMM\x00\x00\xBC\x61\x4E");

    fn body() -> Data {
        Data::Structure(vec![Data::DoubleLongUnsigned(1234), Data::Enum(0)])
    }

    fn sender(protection: Option<Protections>, last: u32) -> PushSender {
        PushSender::new(protection, Some(Keys::GREEN_BOOK), TERMINAL, last).unwrap()
    }

    fn listener(required: Option<Protections>) -> PushListener {
        let mut l = PushListener::new(required);
        l.add_sender(TERMINAL, Keys::GREEN_BOOK, None);
        l
    }

    #[test]
    fn trm06_plain_push_round_trips_with_time_and_body() {
        let mut s = sender(None, 0);
        let at = CosemDateTime::from_bytes([0x07, 0xEA, 11, 25, 3, 14, 30, 0, 0, 0xFD, 0xE4, 0]);
        let apdu = s.notify(Some(at), &body()).unwrap();
        assert_eq!(apdu[0], 0x0F);
        assert_eq!(
            s.invocation_counter(),
            PUSH_COUNTER_BASE - 1,
            "plain spends none"
        );
        let n = listener(None).handle(&apdu).unwrap();
        assert_eq!(n.body, body());
        assert_eq!(n.captured_at, Some(at));
        assert_eq!(n.long_invoke_id, 1);
        assert_eq!((n.system_title, n.invocation_counter), (None, None));
    }

    #[test]
    fn sec03_ciphered_push_spends_counters_from_the_push_base_upwards() {
        let mut s = sender(Some(Protections::AuthEnc), 0);
        let first = s.notify(None, &body()).unwrap();
        assert_eq!(first[0], 0xDB, "general-glo-ciphering");
        assert_eq!(s.invocation_counter(), PUSH_COUNTER_BASE);
        let mut l = listener(Some(Protections::AuthEnc));
        let n = l.handle(&first).unwrap();
        assert_eq!(n.system_title, Some(TERMINAL));
        assert_eq!(n.invocation_counter, Some(PUSH_COUNTER_BASE));
        assert_eq!(n.body, body());
        // A restart resumes above the persisted mark.
        let mut again = sender(Some(Protections::AuthEnc), PUSH_COUNTER_BASE + 500);
        again.notify(None, &body()).unwrap();
        assert_eq!(again.invocation_counter(), PUSH_COUNTER_BASE + 501);
    }

    #[test]
    fn sec02_replayed_push_is_refused_and_the_window_kept() {
        let mut s = sender(Some(Protections::AuthEnc), 0);
        let one = s.notify(None, &body()).unwrap();
        let two = s.notify(None, &body()).unwrap();
        let mut l = listener(Some(Protections::AuthEnc));
        l.handle(&two).unwrap();
        assert_eq!(
            l.handle(&one),
            Err(ListenError::Replay {
                counter: PUSH_COUNTER_BASE,
                highest: PUSH_COUNTER_BASE + 1
            })
        );
        assert!(matches!(l.handle(&two), Err(ListenError::Replay { .. })));
        assert_eq!(l.highest_seen(TERMINAL), Some(PUSH_COUNTER_BASE + 1));
    }

    #[test]
    fn sec02_forged_push_does_not_move_the_window() {
        let mut s = sender(Some(Protections::AuthEnc), 0);
        let mut forged = s.notify(None, &body()).unwrap();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        let mut l = listener(Some(Protections::AuthEnc));
        assert!(matches!(l.handle(&forged), Err(ListenError::Cipher(_))));
        assert_eq!(l.highest_seen(TERMINAL), None);
    }

    #[test]
    fn sec02_listener_demands_the_protection_it_was_told() {
        let mut plain = sender(None, 0);
        let mut auth = sender(Some(Protections::Auth), 0);
        let mut l = listener(Some(Protections::AuthEnc));
        assert!(matches!(
            l.handle(&plain.notify(None, &body()).unwrap()),
            Err(ListenError::Unprotected { .. })
        ));
        assert!(matches!(
            l.handle(&auth.notify(None, &body()).unwrap()),
            Err(ListenError::Weaker { control: 0x10, .. })
        ));
        // Stronger than required passes.
        let mut l = listener(Some(Protections::Auth));
        let mut both = sender(Some(Protections::AuthEnc), 0);
        assert!(l.handle(&both.notify(None, &body()).unwrap()).is_ok());
    }

    #[test]
    fn sec02_unknown_sender_and_non_notifications_are_typed() {
        let mut other = PushSender::new(
            Some(Protections::AuthEnc),
            Some(Keys::GREEN_BOOK),
            GREEN_BOOK_CLIENT_TITLE,
            0,
        )
        .unwrap();
        let mut l = listener(None);
        assert_eq!(
            l.handle(&other.notify(None, &body()).unwrap()),
            Err(ListenError::UnknownSender(GREEN_BOOK_CLIENT_TITLE.0))
        );
        // An RLRQ is an APDU, not a push.
        assert_eq!(
            l.handle(&[0x62, 0x00]),
            Err(ListenError::NotANotification(0x62))
        );
        assert!(matches!(l.handle(&[]), Err(ListenError::Malformed(_))));
        assert!(matches!(
            l.handle(&[0x0F, 0x00]),
            Err(ListenError::Malformed(_))
        ));
    }

    #[test]
    fn sec03_exhausted_push_counters_refuse_instead_of_wrapping() {
        let mut s = sender(Some(Protections::AuthEnc), u32::MAX);
        assert!(matches!(
            s.notify(None, &body()),
            Err(PushError::CountersExhausted)
        ));
        assert!(PushSender::new(Some(Protections::Auth), None, TERMINAL, 0).is_err());
    }
}
