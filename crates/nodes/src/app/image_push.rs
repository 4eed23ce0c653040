//! The smart meter carrying a firmware image to a terminal (SEC-10): the user business's
//! signed image, relayed by the utility's system (the head end hands it to the smart
//! meter), through the terminal's image transfer (class 18, 0-0:44.0.0.255) on the
//! management association — block size, initiate, every block, verify, activate.
//!
//! The terminal checks the user business's vendor signature and its own policy
//! (target, no downgrade) whichever way the image came, so the carrier need not be
//! trusted with anything but the bytes. One block per round trip: the IoT route is slow
//! and lossy, and the client's own retry is the reading sessions' (a session with no
//! answer for [`super::reader::SESSION_TIMEOUT`] is dropped; the caller starts again).

use core::time::Duration;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use dlms::client::{Authentication, Client, ClientSettings, Event, Security};
use dlms::{Data, Obis};

use dlms::cosem::image::SIGNATURE_LEN;

use super::entropy::Seeded;
use super::reader::SESSION_TIMEOUT;
use super::secrets::TerminalSecrets;
use super::MANAGEMENT_WPORT;
use crate::terminal::firmware::{split, FirmwareError, Manifest};

/// The image transfer object.
const IMAGE_TRANSFER: Obis = Obis::new(0, 0, 44, 0, 0, 255);

/// A signed image to carry: the bytes `iotroute firmware sign` writes and the identifier
/// to initiate it with (the manifest's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedImage {
    /// The identifier.
    pub identifier: Vec<u8>,
    /// Firmware and signature trailer.
    pub bytes: Arc<[u8]>,
}

impl SignedImage {
    /// A signed terminal image as `iotroute firmware sign` writes it, named by its
    /// manifest (which the terminal checks against the signature; here it only names
    /// the image).
    ///
    /// # Errors
    /// [`FirmwareError`] when the bytes hold no manifest.
    pub fn terminal_image(bytes: Vec<u8>) -> Result<(Self, Manifest), FirmwareError> {
        let unsigned = bytes
            .get(..bytes.len().saturating_sub(SIGNATURE_LEN))
            .unwrap_or_default();
        let (manifest, _) = split(&mut &unsigned[..])?;
        Ok((
            Self {
                identifier: manifest.identifier().into_bytes(),
                bytes: bytes.into(),
            },
            manifest,
        ))
    }
}

/// How a push ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushOutcome {
    /// Verified and activated by the terminal: it installs the image now.
    Activated {
        /// Blocks sent.
        blocks: u32,
    },
    /// `image_activate` sent and no answer came: the terminal may have handed over to
    /// the new program before its answer left (read its firmware version to know).
    ActivationUnanswered {
        /// Blocks sent.
        blocks: u32,
    },
    /// The terminal refused a step (the association, a block, the verification: a bad
    /// signature, another device's image, a downgrade).
    Refused {
        /// The step.
        step: &'static str,
        /// Why, as the terminal answered.
        reason: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Associating,
    BlockSize,
    Initiating,
    Block(u32),
    Verifying,
    Activating,
}

impl Step {
    const fn name(self) -> &'static str {
        match self {
            Self::Associating => "association",
            Self::BlockSize => "image_block_size",
            Self::Initiating => "image_transfer_initiate",
            Self::Block(_) => "image_block_transfer",
            Self::Verifying => "image_verify",
            Self::Activating => "image_activate",
        }
    }
}

/// One image carried to one terminal.
pub struct ImagePush {
    client: Client<Seeded>,
    image: SignedImage,
    step: Step,
    block_size: usize,
    last_activity: Duration,
}

impl core::fmt::Debug for ImagePush {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ImagePush")
            .field(
                "identifier",
                &String::from_utf8_lossy(&self.image.identifier),
            )
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

/// What an answer asked for.
#[derive(Debug, Default)]
pub struct Answered {
    /// The next request to send.
    pub next: Option<Vec<u8>>,
    /// The push ended.
    pub done: Option<PushOutcome>,
}

impl ImagePush {
    /// Start carrying `image` at `now` over the management association opened with
    /// `password` (the terminal's DLMS secret): the push and the AARQ to send.
    ///
    /// # Errors
    /// The client's error when the association request cannot be built.
    pub fn start(
        now: Duration,
        image: SignedImage,
        password: Vec<u8>,
        seed: u64,
    ) -> Result<(Self, Vec<u8>), dlms::client::ClientError> {
        let settings = ClientSettings {
            client_wport: MANAGEMENT_WPORT,
            server_wport: 1,
            authentication: Authentication::Low { password },
            security: Security::None,
            max_pdu: 1024,
            ..ClientSettings::default()
        };
        let mut client = Client::new(settings, Seeded::new(seed, 2))?;
        let aarq = client.associate()?;
        Ok((
            Self {
                client,
                image,
                step: Step::Associating,
                block_size: 0,
                last_activity: now,
            },
            aarq,
        ))
    }

    /// When the push is given up for silence.
    #[must_use]
    pub fn deadline(&self) -> Duration {
        self.last_activity + SESSION_TIMEOUT
    }

    /// The push given up for silence: after `image_activate` was sent, an
    /// [`PushOutcome::ActivationUnanswered`] (not to be carried again); before it,
    /// `None` (start again).
    #[must_use]
    pub fn timed_out(&self) -> Option<PushOutcome> {
        (self.step == Step::Activating).then(|| PushOutcome::ActivationUnanswered {
            blocks: self.blocks(),
        })
    }

    /// Blocks the image makes at the terminal's block size (0 before it is known).
    fn blocks(&self) -> u32 {
        if self.block_size == 0 {
            return 0;
        }
        u32::try_from(self.image.bytes.len().div_ceil(self.block_size)).unwrap_or(u32::MAX)
    }

    fn request(&mut self, step: Step) -> Result<Vec<u8>, PushOutcome> {
        let built = match step {
            Step::Associating => self.client.associate(),
            Step::BlockSize => self.client.get(18, IMAGE_TRANSFER, 2, None),
            Step::Initiating => {
                let size = u32::try_from(self.image.bytes.len()).unwrap_or(u32::MAX);
                let p = Data::Structure(vec![
                    Data::OctetString(self.image.identifier.clone()),
                    Data::DoubleLongUnsigned(size),
                ]);
                self.client.action(18, IMAGE_TRANSFER, 1, Some(&p))
            }
            Step::Block(n) => {
                let from = usize::try_from(n).unwrap_or(usize::MAX) * self.block_size;
                let to = (from + self.block_size).min(self.image.bytes.len());
                let chunk = self.image.bytes.get(from..to).unwrap_or_default().to_vec();
                let p =
                    Data::Structure(vec![Data::DoubleLongUnsigned(n), Data::OctetString(chunk)]);
                self.client.action(18, IMAGE_TRANSFER, 2, Some(&p))
            }
            Step::Verifying => self
                .client
                .action(18, IMAGE_TRANSFER, 3, Some(&Data::Integer(0))),
            Step::Activating => self
                .client
                .action(18, IMAGE_TRANSFER, 4, Some(&Data::Integer(0))),
        };
        self.step = step;
        built.map_err(|e| PushOutcome::Refused {
            step: step.name(),
            reason: e.to_string(),
        })
    }

    /// One wrapper frame from the terminal at `now`: the next request, or how the push
    /// ended.
    pub fn answer(&mut self, now: Duration, datagram: &[u8]) -> Answered {
        self.last_activity = now;
        let event = match self.client.handle(datagram) {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!(error = %e, "image push: answer refused by the client");
                return Answered::default();
            }
        };
        let refused = |step: Step, reason: String| PushOutcome::Refused {
            step: step.name(),
            reason,
        };
        let next = match (self.step, event) {
            (_, Event::Send(bytes)) => {
                return Answered {
                    next: Some(bytes),
                    done: None,
                }
            }
            (Step::Associating, Event::Established) => Step::BlockSize,
            (Step::BlockSize, Event::Value(v)) => {
                match v
                    .as_i128()
                    .and_then(|b| usize::try_from(b).ok())
                    .filter(|b| *b > 0)
                {
                    Some(b) => {
                        self.block_size = b;
                        Step::Initiating
                    }
                    None => {
                        return Answered {
                            next: None,
                            done: Some(refused(self.step, format!("block size {v:?}"))),
                        }
                    }
                }
            }
            (Step::Initiating, Event::ActionResult { code: 0, .. }) => Step::Block(0),
            (Step::Block(n), Event::ActionResult { code: 0, .. }) => {
                if n + 1 < self.blocks() {
                    Step::Block(n + 1)
                } else {
                    Step::Verifying
                }
            }
            (Step::Verifying, Event::ActionResult { code: 0, .. }) => Step::Activating,
            (Step::Activating, Event::ActionResult { code: 0, .. }) => {
                // The terminal installs the image and hands over to its launcher: it
                // answers nothing more on this association.
                return Answered {
                    next: None,
                    done: Some(PushOutcome::Activated {
                        blocks: self.blocks(),
                    }),
                };
            }
            (step, other) => {
                let reason = match other {
                    Event::Rejected { reason } => reason,
                    Event::ActionResult { code, .. } => format!("action-result {code}"),
                    other => format!("{other:?}"),
                };
                return Answered {
                    next: None,
                    done: Some(refused(step, reason)),
                };
            }
        };
        match self.request(next) {
            Ok(bytes) => Answered {
                next: Some(bytes),
                done: None,
            },
            Err(outcome) => Answered {
                next: None,
                done: Some(outcome),
            },
        }
    }
}

/// One signed image carried to every terminal once (SEC-10): the pushes under way and the
/// terminals done with it (activated, refused, or activated without an answer).
pub struct Rollout {
    image: SignedImage,
    secrets: TerminalSecrets,
    pushes: BTreeMap<[u8; 8], ImagePush>,
    done: BTreeSet<[u8; 8]>,
    seed: u64,
}

impl core::fmt::Debug for Rollout {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Rollout")
            .field(
                "identifier",
                &String::from_utf8_lossy(&self.image.identifier),
            )
            .field("under_way", &self.pushes.len())
            .field("done", &self.done.len())
            .finish_non_exhaustive()
    }
}

impl Rollout {
    /// Carry `image` to the terminals `secrets` holds a DLMS secret for.
    #[must_use]
    pub const fn new(image: SignedImage, secrets: TerminalSecrets, seed: u64) -> Self {
        Self {
            image,
            secrets,
            pushes: BTreeMap::new(),
            done: BTreeSet::new(),
            seed,
        }
    }

    /// The image.
    #[must_use]
    pub const fn image(&self) -> &SignedImage {
        &self.image
    }

    /// The terminals' DLMS secrets, to change one whose password changed (TRM-08).
    pub(super) fn secrets_mut(&mut self) -> &mut TerminalSecrets {
        &mut self.secrets
    }

    /// Whether `terminal` is still to be given the image (its readings wait).
    #[must_use]
    pub fn pending(&self, terminal: [u8; 8]) -> bool {
        !self.done.contains(&terminal)
    }

    /// Start carrying the image to `terminal` at `now` unless a push is under way: the
    /// AARQ to send. `None` also for a terminal without a DLMS secret.
    pub fn start(&mut self, now: Duration, terminal: [u8; 8]) -> Option<Vec<u8>> {
        if self.pushes.contains_key(&terminal) || !self.pending(terminal) {
            return None;
        }
        let password = self.secrets.get(terminal)?.to_vec();
        self.seed = self.seed.wrapping_add(1);
        match ImagePush::start(now, self.image.clone(), password, self.seed) {
            Ok((push, aarq)) => {
                self.pushes.insert(terminal, push);
                Some(aarq)
            }
            Err(e) => {
                tracing::warn!(error = %e, "image push not started");
                None
            }
        }
    }

    /// An answer from `terminal` at `now`: `None` when no push is under way with it
    /// (a reading's answer); a push that ended makes the terminal done.
    pub fn answer(
        &mut self,
        now: Duration,
        terminal: [u8; 8],
        datagram: &[u8],
    ) -> Option<Answered> {
        let push = self.pushes.get_mut(&terminal)?;
        let answered = push.answer(now, datagram);
        if answered.done.is_some() {
            self.pushes.remove(&terminal);
            self.done.insert(terminal);
        }
        Some(answered)
    }

    /// `terminal` left: its push under way is dropped (started again when it is back).
    pub fn forget(&mut self, terminal: [u8; 8]) {
        self.pushes.remove(&terminal);
    }

    /// When the next push under way is given up for silence.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Duration> {
        self.pushes.values().map(ImagePush::deadline).min()
    }

    /// Pushes silent at `now`, dropped: started again later, unless `image_activate` was
    /// sent: those end here, with their outcome.
    pub fn stalled(&mut self, now: Duration) -> Vec<([u8; 8], PushOutcome)> {
        let silent: Vec<[u8; 8]> = self
            .pushes
            .iter()
            .filter(|(_, p)| now >= p.deadline())
            .map(|(t, _)| *t)
            .collect();
        let mut ended = Vec::new();
        for t in silent {
            let Some(push) = self.pushes.remove(&t) else {
                continue;
            };
            match push.timed_out() {
                Some(outcome) => {
                    self.done.insert(t);
                    ended.push((t, outcome));
                }
                None => tracing::warn!(
                    terminal = %dlms::hex::encode(&t),
                    "image push timed out: started again later"
                ),
            }
        }
        ended
    }
}

#[cfg(test)]
mod tests {
    use super::super::server::TerminalApp;
    use super::*;
    use chrono::{DateTime, Utc};
    use dlms::cosem::image::{sign_image, ImageVendorKey};
    use dlms::cosem::{IotRouteModel, ModelConfig};

    const PASSWORD: &[u8] = b"MGMTSECRET01";

    fn wall() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-04-01T12:10:00+09:00")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn key(seed: u8) -> p256::ecdsa::SigningKey {
        p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    /// A terminal trusting vendor key 1, its management secret [`PASSWORD`].
    fn terminal() -> (TerminalApp, dlms::server::SharedModel) {
        let config = ModelConfig {
            association_password: PASSWORD.to_vec(),
            image_vendor_key: Some(ImageVendorKey::of(&key(1))),
            ..ModelConfig::default()
        };
        let model = dlms::server::shared(IotRouteModel::new(&config, wall()).unwrap());
        (TerminalApp::serving(model.clone(), 1, 1).unwrap(), model)
    }

    fn image(seed: u8, identifier: &[u8], len: usize) -> SignedImage {
        let firmware: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        SignedImage {
            identifier: identifier.to_vec(),
            bytes: sign_image(&key(seed), identifier, &firmware)
                .unwrap()
                .into(),
        }
    }

    /// Carry `image` to `app` until the push ends.
    fn carry(app: &mut TerminalApp, image: SignedImage) -> PushOutcome {
        let (mut push, mut request) =
            ImagePush::start(Duration::ZERO, image, PASSWORD.to_vec(), 3).unwrap();
        for _ in 0..1_000 {
            let answer = app
                .answer(wall(), &request)
                .and_then(|a| a.1)
                .expect("the terminal answers");
            let answered = push.answer(Duration::ZERO, &answer);
            if let Some(done) = answered.done {
                return done;
            }
            request = answered.next.expect("a next request");
        }
        panic!("the push did not end");
    }

    #[test]
    fn sec10_the_smart_meter_carries_a_signed_image_to_activation() {
        let (mut app, model) = terminal();
        // 1,000 bytes of firmware and the trailer: 9 blocks of 128 bytes.
        let outcome = carry(&mut app, image(1, b"fw-2", 1_000));
        assert_eq!(outcome, PushOutcome::Activated { blocks: 9 });
        let (identifier, firmware) = model.lock().unwrap().take_activated_image().unwrap();
        assert_eq!(identifier, b"fw-2");
        assert_eq!(firmware.size(), 1_000);
    }

    #[test]
    fn sec10_an_image_under_another_key_is_refused_at_verification() {
        let (mut app, model) = terminal();
        let outcome = carry(&mut app, image(2, b"fw-2", 300));
        assert!(
            matches!(
                outcome,
                PushOutcome::Refused {
                    step: "image_verify",
                    ..
                }
            ),
            "{outcome:?}"
        );
        assert!(model.lock().unwrap().take_activated_image().is_none());
    }

    /// A rollout gives each terminal the image once: done after the activation (not
    /// carried again), a push gone silent before it dropped and started again. (One
    /// silent after `image_activate`: `iotroute::air_nodes::sec10_*` without the
    /// terminal's hand-over grace.)
    #[test]
    fn sec10_a_rollout_carries_the_image_to_each_terminal_once() {
        const T: [u8; 8] = [0x02, 0x1A, 0, 0, 0, 0, 0x10, 1];
        let (mut app, _) = terminal();
        let secrets = || {
            let mut s = TerminalSecrets::default();
            s.0.insert(T, PASSWORD.to_vec());
            s
        };
        let mut r = Rollout::new(image(1, b"fw-2", 300), secrets(), 1);
        assert!(r.pending(T));
        let mut request = r.start(Duration::ZERO, T).expect("an AARQ");
        assert!(r.start(Duration::ZERO, T).is_none(), "one push at a time");
        let outcome = loop {
            let answer = app.answer(wall(), &request).and_then(|a| a.1).unwrap();
            let answered = r.answer(Duration::ZERO, T, &answer).expect("under way");
            if let Some(done) = answered.done {
                break done;
            }
            request = answered.next.unwrap();
        };
        assert_eq!(outcome, PushOutcome::Activated { blocks: 3 });
        assert!(!r.pending(T));
        assert!(r.start(Duration::ZERO, T).is_none(), "not again");

        // Silent before the activation: dropped, started again later.
        let mut r = Rollout::new(image(1, b"fw-2", 300), secrets(), 1);
        r.start(Duration::ZERO, T).unwrap();
        assert_eq!(r.stalled(SESSION_TIMEOUT), Vec::new());
        assert!(r.pending(T) && r.start(SESSION_TIMEOUT, T).is_some());
    }
}
