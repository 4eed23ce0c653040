//! A sans-IO DLMS/COSEM client association over the DLMS wrapper (RAD-01: UDP, port
//! 4059): datagrams in, datagrams out, no socket and no clock, so the head end, the smart
//! meter and the tests drive the same code (tokio sockets or a simulator).
//!
//! It wraps the upstream client session (AARQ/AARE, LLS, HLS-GMAC, suite-0 protection,
//! replay refusal of the server's counters) with our types: [`Obis`], owned [`Data`],
//! the wrapper's wPorts checked on every datagram, and block transfer of long GET
//! responses reassembled here up to a size limit (a server cannot make us buffer
//! without bound).

use crate::cipher::{Keys, SystemTitle};
use crate::data::Data;
use crate::error::CodecError;
use crate::obis::Obis;
use crate::wrapper::{Wpdu, WrapperError};
use dlms_cosem_rs::acse::AuthMechanism;
use dlms_cosem_rs::client::{AssociationStep, ClientConfig, ClientSession, Response};
use dlms_cosem_rs::security::{
    KeyRing, RandomSource, RustCryptoProvider, Secret, SecurityPolicy, SecuritySuite,
};
use dlms_cosem_rs::xdlms::{AttributeDescriptor, Conformance, MethodDescriptor, SelectiveAccess};

/// How the client authenticates.
#[derive(Clone, PartialEq, Eq)]
pub enum Authentication {
    /// Lowest level: none (the public association, client wPort 16).
    None,
    /// Low level security: a password in the AARQ.
    Low {
        /// The password.
        password: Vec<u8>,
    },
    /// High level security mechanism 5 (GMAC, suite 0).
    HlsGmac,
}

impl std::fmt::Debug for Authentication {
    /// Passwords never reach a log (SEC-02).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::None => f.write_str("None"),
            Self::Low { .. } => f.write_str("Low { password: <redacted> }"),
            Self::HlsGmac => f.write_str("HlsGmac"),
        }
    }
}

/// Which protection service APDUs carry (suite 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain APDUs.
    None,
    /// Authenticated (GMAC tag).
    Auth,
    /// Encrypted.
    Enc,
    /// Authenticated and encrypted.
    AuthEnc,
}

/// Source of randomness for the HLS challenge: the caller's, so the client stays
/// sans-IO and tests are deterministic. It must never return predictable bytes in
/// production.
pub trait Entropy {
    /// Fill `out` with random bytes; `false` when no entropy is available.
    fn fill(&self, out: &mut [u8]) -> bool;
}

#[derive(Debug)]
struct Rng<E>(E);

impl<E: Entropy> RandomSource for Rng<E> {
    fn fill(&self, out: &mut [u8]) -> dlms_cosem_rs::Result<()> {
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

/// Settings of one association.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Our wPort (16 public, 1 management in the IoT-route model).
    pub client_wport: u16,
    /// The server's wPort (1).
    pub server_wport: u16,
    /// Authentication mechanism.
    pub authentication: Authentication,
    /// Protection of service APDUs.
    pub security: Security,
    /// Suite-0 keys (needed for HLS-GMAC and any protection).
    pub keys: Option<Keys>,
    /// Our system title (needed for HLS-GMAC and any protection).
    pub system_title: Option<SystemTitle>,
    /// The largest APDU we accept.
    pub max_pdu: u16,
    /// The last invocation counter we used under these keys (persist and restore it:
    /// a reused counter is GCM nonce reuse).
    pub invocation_counter: u32,
    /// The largest value a block transfer may reassemble to.
    pub max_value_bytes: usize,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            client_wport: 16,
            server_wport: 1,
            authentication: Authentication::None,
            security: Security::None,
            keys: None,
            system_title: None,
            max_pdu: 1024,
            invocation_counter: 0,
            max_value_bytes: 1 << 20,
        }
    }
}

/// What a datagram from the server meant.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The association is open.
    Established,
    /// Send this datagram next (the HLS reply, or the request for the next block).
    Send(Vec<u8>),
    /// The server refused the association.
    Rejected {
        /// Result and diagnostic, as the AARE gave them.
        reason: String,
    },
    /// A value (reassembled when it came in blocks).
    Value(Data),
    /// The server refused the request with a Data-Access-Result (Green Book codes).
    AccessError {
        /// The code (3 read-write-denied, 4 object-undefined, ...).
        code: u8,
        /// Its name.
        name: String,
    },
    /// A SET succeeded.
    Done,
    /// An ACTION result and its optional return value.
    ActionResult {
        /// The action-result code (0 success).
        code: u8,
        /// The return parameters.
        value: Option<Data>,
    },
    /// The server answered with an exception-response.
    Exception(String),
    /// The association is released.
    Released,
}

/// Why the client could not act.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The datagram is not a wrapper frame.
    #[error("{0}")]
    Wrapper(#[from] WrapperError),
    /// A frame between other wPorts than this association's.
    #[error("wrapper frame from wPort {source_wport} to {destination}, expected {expected_source} to {expected_destination}")]
    WrongPorts {
        /// Source wPort.
        source_wport: u16,
        /// Destination wPort.
        destination: u16,
        /// The server's wPort.
        expected_source: u16,
        /// Ours.
        expected_destination: u16,
    },
    /// The session refused (malformed APDU, wrong state, bad tag, replayed counter...).
    #[error("{0}")]
    Session(CodecError),
    /// A setting is missing for the chosen mechanism or protection.
    #[error("{0}")]
    Settings(&'static str),
    /// A block transfer grew past `max_value_bytes`.
    #[error("block transfer exceeds {0} bytes")]
    TooLarge(usize),
    /// A response this helper does not handle.
    #[error("unexpected response: {0}")]
    Unexpected(String),
}

impl From<dlms_cosem_rs::Error> for ClientError {
    fn from(e: dlms_cosem_rs::Error) -> Self {
        Self::Session(e.into())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiting {
    Nothing,
    Aare,
    HlsReply,
    Response,
}

/// One client association.
pub struct Client<E: Entropy> {
    session: ClientSession<RustCryptoProvider<Rng<E>>, 2048>,
    settings: ClientSettings,
    waiting: Waiting,
    blocks: Vec<u8>,
}

impl<E: Entropy> std::fmt::Debug for Client<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("settings", &self.settings)
            .field("waiting", &self.waiting)
            .finish_non_exhaustive()
    }
}

impl<E: Entropy> Client<E> {
    /// A client with `settings`, drawing HLS challenges from `entropy`.
    ///
    /// # Errors
    /// [`ClientError::Settings`] when HLS-GMAC or protection is asked for without keys
    /// and a system title, or LLS without a password.
    pub fn new(settings: ClientSettings, entropy: E) -> Result<Self, ClientError> {
        let needs_keys = settings.authentication == Authentication::HlsGmac
            || settings.security != Security::None;
        if needs_keys && (settings.keys.is_none() || settings.system_title.is_none()) {
            return Err(ClientError::Settings(
                "HLS-GMAC and protection need keys and a system title",
            ));
        }
        let (mechanism, password) = match &settings.authentication {
            Authentication::None => (AuthMechanism::None, None),
            Authentication::Low { password } => (
                AuthMechanism::Low,
                Some(
                    Secret::new(password)
                        .map_err(|_| ClientError::Settings("password too long"))?,
                ),
            ),
            Authentication::HlsGmac => (AuthMechanism::HighGmac, None),
        };
        let security = match settings.security {
            Security::None => SecurityPolicy::NONE,
            s => SecurityPolicy {
                authenticated: matches!(s, Security::Auth | Security::AuthEnc),
                encrypted: matches!(s, Security::Enc | Security::AuthEnc),
                ..SecurityPolicy::authenticated_encrypted(SecuritySuite::Suite0)
            },
        };
        let ring = settings
            .keys
            .as_ref()
            .map(|k| KeyRing::new(k.ek, k.ak))
            .unwrap_or_default();
        let client_sap = u8::try_from(settings.client_wport)
            .map_err(|_| ClientError::Settings("client wPort above 255"))?;
        let config = ClientConfig {
            client_sap,
            system_title: settings
                .system_title
                .map(|t| dlms_cosem_rs::security::SystemTitle::new(t.0)),
            mechanism,
            password,
            security,
            max_pdu_size: settings.max_pdu,
            conformance: Conformance::CLIENT_DEFAULT,
            invocation_counter: settings.invocation_counter,
            ..ClientConfig::default()
        };
        let session = ClientSession::new(config, RustCryptoProvider::with_rng(ring, Rng(entropy)));
        Ok(Self {
            session,
            settings,
            waiting: Waiting::Nothing,
            blocks: Vec::new(),
        })
    }

    /// The last invocation counter spent: persist it before sending what it protects.
    #[must_use]
    pub fn invocation_counter(&self) -> u32 {
        self.session.invocation_counter()
    }

    fn frame(&self, apdu: &[u8]) -> Result<Vec<u8>, ClientError> {
        Ok(Wpdu::new(self.settings.client_wport, self.settings.server_wport, apdu).emit()?)
    }

    fn build(
        &mut self,
        f: impl FnOnce(
            &mut ClientSession<RustCryptoProvider<Rng<E>>, 2048>,
            &mut [u8],
        ) -> dlms_cosem_rs::Result<usize>,
    ) -> Result<Vec<u8>, ClientError> {
        let mut out = vec![0u8; usize::from(self.settings.max_pdu).max(2048) + 64];
        let n = f(&mut self.session, &mut out)?;
        out.truncate(n);
        self.frame(&out)
    }

    /// The AARQ datagram that opens the association.
    ///
    /// # Errors
    /// [`ClientError::Session`] if the session cannot build it.
    pub fn associate(&mut self) -> Result<Vec<u8>, ClientError> {
        let d = self.build(|s, out| s.associate_request(out))?;
        self.waiting = Waiting::Aare;
        Ok(d)
    }

    /// A GET of `class_id` `obis` attribute `attribute`, with optional selective access
    /// (`selector`, `parameters`: 1 = range, 2 = entry for profiles).
    ///
    /// # Errors
    /// [`ClientError::Session`] when the association is not open or the server did not
    /// agree to GET (or selective access).
    pub fn get(
        &mut self,
        class_id: u16,
        obis: Obis,
        attribute: i8,
        access: Option<(u8, &Data)>,
    ) -> Result<Vec<u8>, ClientError> {
        let params = match access {
            Some((_, d)) => Some(d.encode().map_err(ClientError::Session)?),
            None => None,
        };
        let descriptor = AttributeDescriptor::new(class_id, obis.to_upstream(), attribute);
        let selector = access.map(|(s, _)| s);
        self.blocks.clear();
        let d = self.build(|s, out| {
            let access = match (selector, params.as_deref()) {
                (Some(selector), Some(p)) => Some(SelectiveAccess {
                    selector,
                    parameters: dlms_cosem_rs::axdr::Data::from_bytes_in(p)?,
                }),
                _ => None,
            };
            s.get_request(descriptor, access, out)
        })?;
        self.waiting = Waiting::Response;
        Ok(d)
    }

    /// A SET of an attribute.
    ///
    /// # Errors
    /// As [`Client::get`].
    pub fn set(
        &mut self,
        class_id: u16,
        obis: Obis,
        attribute: i8,
        value: &Data,
    ) -> Result<Vec<u8>, ClientError> {
        let v = value.encode().map_err(ClientError::Session)?;
        let descriptor = AttributeDescriptor::new(class_id, obis.to_upstream(), attribute);
        let d = self.build(|s, out| {
            s.set_request(
                descriptor,
                None,
                dlms_cosem_rs::axdr::Data::from_bytes_in(&v)?,
                out,
            )
        })?;
        self.waiting = Waiting::Response;
        Ok(d)
    }

    /// An ACTION on a method, with optional parameters.
    ///
    /// # Errors
    /// As [`Client::get`].
    pub fn action(
        &mut self,
        class_id: u16,
        obis: Obis,
        method: i8,
        parameters: Option<&Data>,
    ) -> Result<Vec<u8>, ClientError> {
        let p = parameters
            .map(Data::encode)
            .transpose()
            .map_err(ClientError::Session)?;
        let descriptor = MethodDescriptor::new(class_id, obis.to_upstream(), method);
        let d = self.build(|s, out| {
            let params = match p.as_deref() {
                Some(b) => Some(dlms_cosem_rs::axdr::Data::from_bytes_in(b)?),
                None => None,
            };
            s.action_request(descriptor, params, out)
        })?;
        self.waiting = Waiting::Response;
        Ok(d)
    }

    /// The RLRQ datagram.
    ///
    /// # Errors
    /// [`ClientError::Session`].
    pub fn release(&mut self) -> Result<Vec<u8>, ClientError> {
        let d = self.build(|s, out| s.release_request(out))?;
        self.waiting = Waiting::Response;
        Ok(d)
    }

    /// Feed a datagram from the server.
    ///
    /// # Errors
    /// [`ClientError`] for a malformed frame, other wPorts, a refused APDU (bad tag,
    /// replayed counter, weaker protection than asked), or a block transfer too large.
    pub fn handle(&mut self, datagram: &[u8]) -> Result<Event, ClientError> {
        let w = Wpdu::parse(datagram)?;
        if w.source != self.settings.server_wport || w.destination != self.settings.client_wport {
            tracing::warn!(
                source = w.source,
                destination = w.destination,
                "DLMS frame for another association"
            );
            return Err(ClientError::WrongPorts {
                source_wport: w.source,
                destination: w.destination,
                expected_source: self.settings.server_wport,
                expected_destination: self.settings.client_wport,
            });
        }
        match self.waiting {
            Waiting::Aare => {
                let named = self.lls_aare_with_mechanism(w.apdu);
                let apdu = named.as_deref().unwrap_or(w.apdu);
                let step = self.session.handle_associate_response(apdu)?;
                self.association_step(step)
            }
            Waiting::HlsReply => {
                let step = self.session.handle_hls_reply_response(w.apdu)?;
                self.association_step(step)
            }
            Waiting::Response | Waiting::Nothing => self.response(w.apdu),
        }
    }

    /// Workaround (docs/architecture.md): servers built like Gurux-Python's answer an
    /// accepted LLS association without the mechanism name, and the upstream session
    /// refuses an accepted AARE that names no mechanism whatever the mechanism. For LLS the
    /// name tells the client nothing it could check (the password travels one way), so an
    /// accepted LLS AARE without it is read as naming LLS. HLS stays strict: there the AARE
    /// must carry the mechanism and the server's challenge. `None` leaves the APDU as is.
    fn lls_aare_with_mechanism(&self, apdu: &[u8]) -> Option<Vec<u8>> {
        use dlms_cosem_rs::codec::{Decode as _, Encode as _};
        if !matches!(self.settings.authentication, Authentication::Low { .. }) {
            return None;
        }
        let mut r = dlms_cosem_rs::Reader::new(apdu);
        let mut aare = dlms_cosem_rs::acse::Aare::decode(&mut r).ok()?;
        if !aare.is_accepted() || aare.mechanism_name.is_some() {
            return None;
        }
        tracing::debug!("accepted LLS AARE without a mechanism name read as naming LLS");
        aare.mechanism_name = Some(AuthMechanism::Low);
        let mut out = Vec::with_capacity(apdu.len() + 8);
        aare.encode(&mut out).ok()?;
        Some(out)
    }

    fn association_step(&mut self, step: AssociationStep) -> Result<Event, ClientError> {
        Ok(match step {
            AssociationStep::Established => {
                self.waiting = Waiting::Nothing;
                Event::Established
            }
            AssociationStep::HlsReplyRequired => {
                let d = self.build(|s, out| s.hls_reply_request(out))?;
                self.waiting = Waiting::HlsReply;
                Event::Send(d)
            }
            AssociationStep::Rejected { result, diagnostic } => {
                self.waiting = Waiting::Nothing;
                Event::Rejected {
                    reason: format!("{result:?}, {diagnostic:?}"),
                }
            }
            AssociationStep::Exception(e) => Event::Exception(format!("{e:?}")),
        })
    }

    fn response(&mut self, apdu: &[u8]) -> Result<Event, ClientError> {
        let mut buf = vec![0u8; apdu.len() + 16];
        let r = self.session.handle_response(apdu, &mut buf)?;
        let owned = |d: &dlms_cosem_rs::axdr::Data<'_>| {
            Data::from_upstream(d).map_err(ClientError::Session)
        };
        let event = match r {
            Response::Data(d) => Event::Value(owned(&d)?),
            Response::DataError(e) => Event::AccessError {
                code: e.as_u8(),
                name: format!("{e:?}"),
            },
            Response::Block { last, number, data } => {
                if self.blocks.len() + data.len() > self.settings.max_value_bytes {
                    self.blocks.clear();
                    return Err(ClientError::TooLarge(self.settings.max_value_bytes));
                }
                self.blocks.extend_from_slice(data);
                if last {
                    let v = Data::decode(&self.blocks).map_err(ClientError::Session)?;
                    self.blocks.clear();
                    Event::Value(v)
                } else {
                    return Ok(Event::Send(
                        self.build(|s, out| s.get_next_block_request(number, out))?,
                    ));
                }
            }
            Response::Ok => Event::Done,
            Response::ActionResult { result, value } => Event::ActionResult {
                code: result.as_u8(),
                value: value.as_ref().map(owned).transpose()?,
            },
            Response::Exception(e) => Event::Exception(format!("{e:?}")),
            Response::Released => Event::Released,
            other => return Err(ClientError::Unexpected(format!("{other:?}"))),
        };
        self.waiting = Waiting::Nothing;
        Ok(event)
    }
}
