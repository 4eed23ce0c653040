//! The terminal's DLMS server over the IoT-route object model: one upstream engine per
//! association, chosen by the client wPort of each wrapper frame, all sharing one model.
//! Sans-IO: APDU bytes and `now` in, APDU bytes out; the UDP/wrapper driver is the
//! caller's.
//!
//! Why one engine per association: the upstream `Server` holds one association and one
//! authentication mechanism, and its store cannot tell who is asking. Why only the
//! management association may be ciphered or use HLS-GMAC **(ours)**: every engine keeps
//! its own invocation counter, and two engines under the same keys and system title would
//! reuse GCM nonces, which leaks the authentication subkey. The maintenance association
//! uses LLS (the handy terminal is on site, behind the radio's own layer-2 encryption,
//! SEC-03); the public one uses none.

use chrono::{DateTime, Utc};
use dlms_cosem_rs::acse::AuthMechanism;
use dlms_cosem_rs::security::{
    KeyRing, RandomSource, RustCryptoProvider, Secret, SecurityPolicy, SecuritySuite, SystemTitle,
};
use dlms_cosem_rs::server::{Server, ServerConfig, ServerState};

use super::{CosemStore, SharedModel};
use crate::cipher::{Protections, SystemTitle as CipherTitle};
use crate::cosem::association::mechanism;
use crate::cosem::Association;
use crate::error::CodecError;
use crate::push::{PushError, PushSender, PUSH_COUNTER_BASE};

/// The largest attribute value the maintenance engine (the handy terminal) can produce:
/// the whole load profile at its default depth (4320 rows, 120,964 bytes) fits.
pub const VALUE_BUFFER: usize = 131_072;

/// The largest attribute value the management (smart meter) and public engines produce
/// **(ours)**: a load-profile range of up to about 580 rows, the event and access logs.
/// An engine holds two value buffers while its association is open (and zeroes one per
/// request), and every smart meter holds an association open at the same moments (the
/// joins, the periodic readings): at [`VALUE_BUFFER`] that was 256 KiB per smart meter
/// reading, 64 GB for a million terminals' 250,000 smart meters. A value larger than
/// this is refused with `other-reason`; our smart meter reads a day of rows per GET.
pub const MANAGEMENT_VALUE_BUFFER: usize = 16_384;

/// How the management client authenticates (`dlms serve --auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// No authentication (lab set-ups only).
    None,
    /// Low level security: the association's password (Association LN secret).
    Low,
    /// High level security mechanism 5, GMAC, suite 0.
    HlsGmac,
}

/// What protection the management association requires (`dlms serve --security`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// Plain APDUs.
    None,
    /// Authenticated (GMAC).
    Auth,
    /// Encrypted.
    Enc,
    /// Authenticated and encrypted.
    AuthEnc,
}

impl Protection {
    /// The protections an APDU (or a push) is sealed with; `None` for plain.
    #[must_use]
    pub const fn ciphering(self) -> Option<Protections> {
        match self {
            Self::None => None,
            Self::Auth => Some(Protections::Auth),
            Self::Enc => Some(Protections::Enc),
            Self::AuthEnc => Some(Protections::AuthEnc),
        }
    }

    /// The version-0 security policy value (security setup attribute 2).
    #[must_use]
    pub const fn policy(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Auth => 1,
            Self::Enc => 2,
            Self::AuthEnc => 3,
        }
    }
}

/// Suite-0 keys (the same type the cipher module opens and seals with). Never logged.
pub use crate::cipher::Keys;

/// How the server is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeConfig {
    /// Authentication of the management association.
    pub auth: Auth,
    /// Protection the management association requires.
    pub protection: Protection,
    /// Keys, needed for HLS-GMAC and for any protection.
    pub keys: Option<Keys>,
    /// The server's system title.
    pub system_title: [u8; 8],
    /// The largest APDU the server accepts and sends.
    pub max_pdu: u16,
    /// The management engine's last used invocation counter, persisted by the caller
    /// (a restart from 0 under unchanged keys reuses nonces).
    pub invocation_counter: u32,
}

/// Where the server could not be set up or could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// HLS-GMAC or protection asked for without keys.
    #[error("HLS-GMAC and ciphering need keys (--ek, --ak)")]
    MissingKeys,
    /// An association secret the engine cannot hold (longer than 32 bytes, or empty).
    #[error("association secret of {0} byte(s) not usable (1..=32)")]
    Secret(usize),
    /// The engine refused the bytes (malformed APDU, buffer too small...).
    #[error("DLMS engine: {0}")]
    Engine(#[from] CodecError),
    /// The model's lock was poisoned by a panic elsewhere.
    #[error("COSEM model unavailable")]
    Model,
    /// The management association's invocation counters reached the push range
    /// ([`crate::push::PUSH_COUNTER_BASE`]): the keys must change before anything else
    /// is answered ciphered.
    #[error("association invocation counters exhausted: change the keys")]
    CountersExhausted,
    /// The push sender could not be set up.
    #[error("{0}")]
    Push(#[from] PushError),
}

/// The management engine refuses to answer once its counter is this close to the push
/// range: one request spends at most a few counters (AARE, HLS reply, a block).
pub const ENGINE_COUNTER_LIMIT: u32 = PUSH_COUNTER_BASE - 16;

/// Where HLS challenges come from. The caller provides it (sans-IO: no OS access
/// here); it must be unpredictable (an OS random source), since a predictable challenge
/// lets a recorded HLS reply authenticate.
pub trait Entropy: Send {
    /// Fill `out`; `false` when no entropy is available.
    fn fill(&self, out: &mut [u8]) -> bool;
}

/// Upstream's random-source trait over ours.
#[derive(Debug, Clone, Copy)]
struct EntropyAdapter<E>(E);

impl<E: Entropy> RandomSource for EntropyAdapter<E> {
    fn fill(&self, out: &mut [u8]) -> dlms_cosem_rs::codec::Result<()> {
        if self.0.fill(out) {
            Ok(())
        } else {
            Err(dlms_cosem_rs::Error::new(
                dlms_cosem_rs::ErrorKind::Unsupported,
                0,
            ))
        }
    }
}

type Crypto<E> = RustCryptoProvider<EntropyAdapter<E>>;

/// An association's engine, its value buffers sized for the association's client (each
/// boxed on its own: an enum of the two is as large as the larger).
enum Engine<E> {
    /// Management and public: [`MANAGEMENT_VALUE_BUFFER`].
    Small(Box<Server<CosemStore, Crypto<E>, MANAGEMENT_VALUE_BUFFER>>),
    /// Maintenance: [`VALUE_BUFFER`].
    Large(Box<Server<CosemStore, Crypto<E>, VALUE_BUFFER>>),
}

/// `$body` with `$e` bound to the engine, whichever its size.
macro_rules! each {
    ($engine:expr, $e:ident => $body:expr) => {
        match $engine {
            Engine::Small($e) => $body,
            Engine::Large($e) => $body,
        }
    };
}

impl<E: Entropy + Clone> Engine<E> {
    fn invocation_counter(&self) -> u32 {
        each!(self, e => e.invocation_counter())
    }

    fn replay(&self) -> Option<(SystemTitle, u32)> {
        each!(self, e => e.replay_owner().zip(e.peer_invocation_counter()))
    }

    fn resume_replay_window(&mut self, peer: SystemTitle, highest: u32) {
        each!(self, e => e.resume_replay_window(peer, highest));
    }

    fn handle(&mut self, apdu: &[u8], out: &mut [u8]) -> dlms_cosem_rs::codec::Result<usize> {
        each!(self, e => e.handle(apdu, out))
    }

    /// Whether the association is over: closed or never opened, no block transfer under
    /// way.
    fn idle(&self) -> bool {
        each!(self, e => matches!(e.state(), ServerState::Idle | ServerState::Closed) && !e.is_block_transfer_in_progress())
    }
}

/// One association: its engine while an association is open, and what a new engine
/// must go on from.
struct Slot<E> {
    /// Built at the association's first APDU and dropped once it is idle or closed
    /// again: an engine holds two value buffers of up to [`VALUE_BUFFER`] bytes, and a
    /// terminal is associated a few seconds a day (ten thousand simulated terminals
    /// would otherwise hold 8 GB of idle buffers).
    engine: Option<Engine<E>>,
    /// The secret the engine is built with (a changed one rebuilds it).
    secret: Vec<u8>,
    /// The invocation counter a new engine starts above (SEC-02: never used twice).
    invocation_counter: u32,
    /// The replay window a new engine resumes: the client and its highest counter.
    replay: Option<(SystemTitle, u32)>,
}

impl<E: Entropy + Clone> Slot<E> {
    /// Keep the engine's counters and drop it.
    fn retire(&mut self) {
        if let Some(engine) = self.engine.take() {
            self.invocation_counter = engine.invocation_counter();
            self.replay = engine.replay();
        }
    }

    fn invocation_counter(&self) -> u32 {
        self.engine
            .as_ref()
            .map_or(self.invocation_counter, |e| e.invocation_counter())
    }

    fn replay(&self) -> Option<(SystemTitle, u32)> {
        match &self.engine {
            Some(e) => e.replay(),
            None => self.replay,
        }
    }
}

/// The terminal's server: three associations over one model.
pub struct TerminalServer<E: Entropy + Clone> {
    model: SharedModel,
    config: ServeConfig,
    entropy: E,
    slots: [Slot<E>; 3],
}

impl<E: Entropy + Clone> std::fmt::Debug for TerminalServer<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalServer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<E: Entropy + Clone> TerminalServer<E> {
    /// Build the three engines from `config` and the secrets in the model.
    ///
    /// # Errors
    /// [`ServeError::MissingKeys`], [`ServeError::Secret`], [`ServeError::Model`].
    pub fn new(model: SharedModel, config: ServeConfig, entropy: E) -> Result<Self, ServeError> {
        let needs_keys = config.auth == Auth::HlsGmac || config.protection != Protection::None;
        if needs_keys && config.keys.is_none() {
            return Err(ServeError::MissingKeys);
        }
        let slot = |a| -> Result<Slot<E>, ServeError> {
            let secret = model
                .lock()
                .map_err(|_| ServeError::Model)?
                .association_secret(a)
                .to_vec();
            // A secret the engine would refuse is refused now, not at the first APDU.
            Self::password(&config, a, &secret)?;
            Ok(Slot {
                engine: None,
                secret,
                invocation_counter: if a == Association::Management {
                    config.invocation_counter
                } else {
                    0
                },
                replay: None,
            })
        };
        let slots = [
            slot(Association::Public)?,
            slot(Association::Management)?,
            slot(Association::Maintenance)?,
        ];
        {
            let mut m = model.lock().map_err(|_| ServeError::Model)?;
            for a in Association::ALL {
                let (mech, ciphered) = Self::mechanism(&config, a);
                m.association_mut().configure(a, mech, ciphered);
            }
            m.association_mut().set_context_info(
                config.max_pdu,
                dlms_cosem_rs::xdlms::Conformance::SERVER_DEFAULT,
            );
            m.security_setup_mut()
                .configure(config.protection.policy(), &[]);
        }
        Ok(Self {
            model,
            config,
            entropy,
            slots,
        })
    }

    /// The mechanism id and ciphering of an association under `config`.
    fn mechanism(config: &ServeConfig, a: Association) -> (u8, bool) {
        match a {
            Association::Public => (mechanism::NONE, false),
            Association::Management => (
                match config.auth {
                    Auth::None => mechanism::NONE,
                    Auth::Low => mechanism::LOW,
                    Auth::HlsGmac => mechanism::HLS_GMAC,
                },
                config.protection != Protection::None,
            ),
            Association::Maintenance => (
                if config.auth == Auth::None {
                    mechanism::NONE
                } else {
                    mechanism::LOW
                },
                false,
            ),
        }
    }

    /// The LLS password of association `a` with `secret`, if it authenticates so.
    fn password(
        config: &ServeConfig,
        a: Association,
        secret: &[u8],
    ) -> Result<Option<Secret>, ServeError> {
        if Self::mechanism(config, a).0 == mechanism::LOW {
            Secret::new(secret)
                .map(Some)
                .map_err(|_| ServeError::Secret(secret.len()))
        } else {
            Ok(None)
        }
    }

    /// An engine for association `a` with `secret`, going on from `invocation_counter`
    /// and the replay window `replay`.
    fn build(
        model: &SharedModel,
        config: &ServeConfig,
        entropy: &E,
        a: Association,
        secret: &[u8],
        invocation_counter: u32,
        replay: Option<(SystemTitle, u32)>,
    ) -> Result<Engine<E>, ServeError> {
        let (mech_id, ciphered) = Self::mechanism(config, a);
        let mechanism = match mech_id {
            mechanism::LOW => AuthMechanism::Low,
            mechanism::HLS_GMAC => AuthMechanism::HighGmac,
            _ => AuthMechanism::None,
        };
        let password = Self::password(config, a, secret)?;
        let security = if ciphered {
            SecurityPolicy {
                suite: SecuritySuite::Suite0,
                authenticated: matches!(config.protection, Protection::Auth | Protection::AuthEnc),
                encrypted: matches!(config.protection, Protection::Enc | Protection::AuthEnc),
                ..SecurityPolicy::NONE
            }
        } else {
            SecurityPolicy::NONE
        };
        // Only the management engine holds keys: the others can never cipher.
        let keys = match (&config.keys, a) {
            (Some(k), Association::Management) => KeyRing::new(k.ek, k.ak),
            _ => KeyRing::default(),
        };
        let config = ServerConfig {
            system_title: Some(SystemTitle::new(config.system_title)),
            mechanism,
            password,
            security,
            max_pdu_size: config.max_pdu,
            invocation_counter: if a == Association::Management {
                config.invocation_counter.max(invocation_counter)
            } else {
                0
            },
            ..ServerConfig::default()
        };
        let store = CosemStore::new(model.clone(), a);
        let crypto = RustCryptoProvider::with_rng(keys, EntropyAdapter(entropy.clone()));
        let mut engine = match a {
            Association::Maintenance => Engine::Large(Box::new(Server::new(config, store, crypto))),
            Association::Management | Association::Public => {
                Engine::Small(Box::new(Server::new(config, store, crypto)))
            }
        };
        if let Some((peer, highest)) = replay {
            engine.resume_replay_window(peer, highest);
        }
        Ok(engine)
    }

    /// Answer one APDU from client wPort `client_wport` at time `now`, writing the reply
    /// into `out`. `Ok(None)`: a wPort we do not serve (drop the frame, no answer).
    ///
    /// An AARQ on an association whose secret a client changed rebuilds that engine with
    /// the new secret first, keeping its invocation counter and replay window.
    ///
    /// # Errors
    /// [`ServeError::Engine`] for bytes the engine refuses outright.
    pub fn handle(
        &mut self,
        client_wport: u16,
        now: DateTime<Utc>,
        apdu: &[u8],
        out: &mut [u8],
    ) -> Result<Option<usize>, ServeError> {
        let Some(a) = Association::from_client_sap(client_wport) else {
            tracing::debug!(
                client_wport,
                "frame for a client wPort we do not serve, dropped"
            );
            return Ok(None);
        };
        let accepted = self.replay_window().map_or(0, |(_, highest)| highest);
        {
            let mut m = self.model.lock().map_err(|_| ServeError::Model)?;
            m.set_now(now);
            m.set_management_invocation_counter(accepted);
        }
        if apdu.first() == Some(&0x60) {
            self.refresh(a)?;
        }
        let (model, config, entropy) = (&self.model, &self.config, &self.entropy);
        let slot = self.slots.get_mut(a.index()).ok_or(ServeError::Model)?;
        if slot.invocation_counter() >= ENGINE_COUNTER_LIMIT {
            return Err(ServeError::CountersExhausted);
        }
        let engine = match &mut slot.engine {
            Some(engine) => engine,
            none => none.insert(Self::build(
                model,
                config,
                entropy,
                a,
                &slot.secret,
                slot.invocation_counter,
                slot.replay,
            )?),
        };
        let handled = engine.handle(apdu, out).map_err(CodecError::from);
        if engine.idle() {
            slot.retire();
        }
        Ok(Some(handled?))
    }

    /// Rebuild an engine whose secret changed in the model.
    fn refresh(&mut self, a: Association) -> Result<(), ServeError> {
        let current = self
            .model
            .lock()
            .map_err(|_| ServeError::Model)?
            .association_secret(a)
            .to_vec();
        let Some(slot) = self.slots.get_mut(a.index()) else {
            return Ok(());
        };
        if slot.secret == current {
            return Ok(());
        }
        Self::password(&self.config, a, &current)?;
        slot.retire();
        slot.secret = current;
        tracing::info!(?a, "association secret changed: the next engine uses it");
        Ok(())
    }

    /// The management engine's invocation counter, to persist before it is used again.
    #[must_use]
    pub fn invocation_counter(&self) -> u32 {
        self.slots
            .get(Association::Management.index())
            .map_or(0, Slot::invocation_counter)
    }

    /// The management engine's replay window: the client system title it describes
    /// and the highest counter accepted from it. Persist it, and hand it back with
    /// [`TerminalServer::resume_replay_window`] after a restart, or a recorded request
    /// from before the restart is accepted again.
    #[must_use]
    pub fn replay_window(&self) -> Option<([u8; 8], u32)> {
        self.slots
            .get(Association::Management.index())?
            .replay()
            .map(|(title, highest)| (*title.as_bytes(), highest))
    }

    /// Restore the management engine's replay window saved by a previous run.
    pub fn resume_replay_window(&mut self, peer: [u8; 8], highest: u32) {
        if let Some(slot) = self.slots.get_mut(Association::Management.index()) {
            match &mut slot.engine {
                Some(engine) => engine.resume_replay_window(SystemTitle::new(peer), highest),
                None => slot.replay = Some((SystemTitle::new(peer), highest)),
            }
        }
    }

    /// A push sender sealing like the management association (its protection, keys
    /// and the server's system title), resuming above push counter `last_used`.
    ///
    /// # Errors
    /// [`ServeError::Push`] when ciphering is configured without keys.
    pub fn push_sender(&self, last_used: u32) -> Result<PushSender, ServeError> {
        Ok(PushSender::new(
            self.config.protection.ciphering(),
            self.config.keys.clone(),
            CipherTitle(self.config.system_title),
            last_used,
        )?)
    }

    /// Forget the association of a client whose link went away (the engine cannot see
    /// a socket close).
    pub fn reset(&mut self, client_wport: u16) {
        if let Some(slot) =
            Association::from_client_sap(client_wport).and_then(|a| self.slots.get_mut(a.index()))
        {
            slot.retire();
        }
    }

    /// The shared model.
    #[must_use]
    pub const fn model(&self) -> &SharedModel {
        &self.model
    }
}
