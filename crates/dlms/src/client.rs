//! A sans-IO DLMS/COSEM client association over the DLMS wrapper (RAD-01: UDP, port
//! 4059): datagrams in, datagrams out, no socket and no clock, so the head end, the smart
//! meter and the tests drive the same code (tokio sockets or a simulator).
//!
//! It wraps the upstream client session (AARQ/AARE, LLS, HLS-GMAC, suite-0 protection,
//! replay refusal of the server's counters) with our types: [`Obis`], owned [`Data`],
//! the wrapper's wPorts checked on every datagram, and block transfer of long GET
//! responses reassembled here up to a size limit (a server cannot make us buffer
//! without bound).
//!
//! GET, SET and ACTION also come `with-list` (several attributes or methods in one
//! request, one result each): on a slow link the round trip is the cost, and one
//! refused item does not lose the others. Whether the server agreed to lists
//! ([`Client::multiple_references`]) and whether a list fits its PDU
//! ([`Client::get_list_fits`] and friends) is for the caller to ask first: the fallback
//! (one request per item) is a policy, not protocol.

use crate::cipher::{Keys, SystemTitle};
use crate::data::Data;
use crate::error::{CodecError, CodecErrorKind};
use crate::obis::Obis;
use crate::wrapper::{Wpdu, WrapperError};
use dlms_cosem_rs::acse::AuthMechanism;
use dlms_cosem_rs::client::{AssociationStep, BlockSender, ClientConfig, ClientSession, Response};
use dlms_cosem_rs::security::{
    KeyRing, RandomSource, RustCryptoProvider, Secret, SecurityPolicy, SecuritySuite,
};
use dlms_cosem_rs::xdlms::{
    AttributeDescriptor, AttributeDescriptorWithSelection, Conformance, DataAccessResult,
    GetDataResult, List, MethodDescriptor, SelectiveAccess,
};

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

/// One attribute of a list request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AttributeRef<'a> {
    /// The interface class.
    pub class_id: u16,
    /// The logical name.
    pub obis: Obis,
    /// The attribute index.
    pub attribute: i8,
    /// Selective access: selector (1 = range, 2 = entry) and its parameters.
    pub access: Option<(u8, &'a Data)>,
}

/// One method of an ACTION-with-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodRef {
    /// The interface class.
    pub class_id: u16,
    /// The logical name.
    pub obis: Obis,
    /// The method index.
    pub method: i8,
}

/// The outcome of one item of a list request: a value, or the server's
/// Data-Access-Result for that item alone.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemResult {
    /// The value read (or returned by a method).
    Value(Data),
    /// Refused with this Data-Access-Result (Green Book codes).
    AccessError {
        /// The code (3 read-write-denied, 4 object-undefined, ...).
        code: u8,
        /// Its name.
        name: String,
    },
}

/// The outcome of one method of an ACTION-with-list.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionOutcome {
    /// The action-result code (0 success).
    pub code: u8,
    /// The return parameters, or why there are none.
    pub value: Option<ItemResult>,
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
    /// The results of a GET-with-list, one per attribute in the order asked
    /// (reassembled when they came in blocks).
    Values(Vec<ItemResult>),
    /// A SET succeeded.
    Done,
    /// The results of a SET-with-list: one Data-Access-Result code per attribute in the
    /// order asked (0 success).
    SetResults(Vec<u8>),
    /// The results of an ACTION-with-list, one per method in the order asked.
    ActionResults(Vec<ActionOutcome>),
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
    /// The server took block `number` of a SET or ACTION sent in blocks and wants the
    /// next: send [`Client::next_block`].
    BlockAccepted {
        /// The block acknowledged.
        number: u32,
    },
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
    /// A list request would not fit the server's PDU (or it is empty): split it.
    #[error("list request of {len} bytes exceeds the {max}-byte limit")]
    ListTooLarge {
        /// Its length at most, protection included.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A response this helper does not handle.
    #[error("unexpected response: {0}")]
    Unexpected(String),
    /// The answer to a GET-with-list arrived (deciphered and authenticated, when
    /// ciphered) but does not decode as a list response or its blocks. Servers exist that
    /// announce multiple references and answer a list in a form no decoder can read
    /// (Gurux-Python's server, blocking a with-list response: its tag with a datablock
    /// body without the raw-data choice), so the caller can tell this from a stale or
    /// forged datagram and read the items one by one instead. The association stays
    /// open and usable.
    #[error("the answer to a list request does not decode: {0}")]
    ListAnswerUndecodable(CodecError),
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

/// The session's scratch buffer: no request it builds may be longer.
const SCRATCH: usize = 2048;

/// Bytes a protected request carries beyond its plain APDU at most:
/// general-glo-ciphering's tag, system title (length and 8 bytes), length prefix at its
/// longest, security control byte, invocation counter and GCM tag (glo- needs less).
const PROTECTION_MAX: usize = 1 + 1 + 8 + 5 + 1 + 4 + 12;

/// A list request's tag, choice and invoke id.
const LIST_HEADER: usize = 3;

/// The length of an A-XDR count prefix of `n`.
fn count_len(n: usize) -> usize {
    match n {
        0..=0x7F => 1,
        0x80..=0xFF => 2,
        _ => 3,
    }
}

/// One client association.
pub struct Client<E: Entropy> {
    session: ClientSession<RustCryptoProvider<Rng<E>>, SCRATCH>,
    settings: ClientSettings,
    waiting: Waiting,
    blocks: Vec<u8>,
    /// Whether the outstanding request is a GET-with-list: its blocks reassemble into a
    /// result list, not a value, and an answer that does not decode is
    /// [`ClientError::ListAnswerUndecodable`]. Every other request clears it.
    list: bool,
    /// Whether the outstanding request is an ACTION: a long result comes in pblocks,
    /// asked for with ACTION-next-pblock, not GET-next.
    action: bool,
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
            list: false,
            action: false,
        })
    }

    /// Whether the open association agreed to multiple references (GET, SET and ACTION
    /// with lists). `false` before the association is open.
    #[must_use]
    pub fn multiple_references(&self) -> bool {
        self.session.negotiated().is_some_and(|n| {
            n.negotiated_conformance
                .contains(Conformance::MULTIPLE_REFERENCES)
        })
    }

    /// The longest request the server takes: its max-receive-pdu-size from the AARE,
    /// bounded by our own scratch buffer.
    fn request_limit(&self) -> usize {
        let server = self
            .session
            .negotiated()
            .map_or(usize::from(self.settings.max_pdu), |n| {
                usize::from(n.server_max_receive_pdu_size)
            });
        // A server max-receive-pdu-size of 0 means "no limit" (Green Book).
        let server = if server == 0 { SCRATCH } else { server };
        server.min(SCRATCH)
    }

    /// `Ok(len)` when a request of `lists` lists of `count` items each, the items
    /// encoding to `body` bytes, fits, with `len` its length at most;
    /// [`ClientError::ListTooLarge`] otherwise.
    fn list_fits(&self, count: usize, lists: usize, body: usize) -> Result<usize, ClientError> {
        let protection = if self.settings.security == Security::None {
            0
        } else {
            PROTECTION_MAX
        };
        let len = LIST_HEADER + lists * count_len(count) + body + protection;
        let max = self.request_limit();
        if count == 0 || len > max {
            return Err(ClientError::ListTooLarge { len, max });
        }
        Ok(len)
    }

    /// Whether a GET-with-list of `items` fits the server's PDU.
    #[must_use]
    pub fn get_list_fits(&self, items: &[AttributeRef<'_>]) -> bool {
        attribute_list(items).is_ok_and(|(_, body)| self.list_fits(items.len(), 1, body).is_ok())
    }

    /// Whether a SET-with-list of `items` and `values` fits the server's PDU.
    #[must_use]
    pub fn set_list_fits(&self, items: &[AttributeRef<'_>], values: &[Data]) -> bool {
        let Ok((_, descriptors)) = attribute_list(items) else {
            return false;
        };
        let Ok(values) = values
            .iter()
            .map(Data::encode)
            .collect::<Result<Vec<_>, _>>()
        else {
            return false;
        };
        let body = descriptors + values.iter().map(Vec::len).sum::<usize>();
        self.list_fits(items.len(), 2, body).is_ok()
    }

    /// Whether an ACTION-with-list of `methods` and `parameters` fits the server's PDU.
    #[must_use]
    pub fn action_list_fits(&self, methods: &[MethodRef], parameters: &[Option<Data>]) -> bool {
        encoded_parameters(parameters)
            .and_then(|p| self.action_list_len(methods.len(), &p))
            .is_ok()
    }

    /// As [`Client::list_fits`] for an ACTION-with-list, which upstream also bounds at
    /// `MAX_ACCESS_ITEMS` methods.
    fn action_list_len(
        &self,
        count: usize,
        parameters: &[Option<Vec<u8>>],
    ) -> Result<usize, ClientError> {
        // A method without parameters takes a null-data slot (1 byte).
        let body = count * METHOD_DESCRIPTOR_LEN
            + parameters
                .iter()
                .map(|p| p.as_ref().map_or(1, Vec::len))
                .sum::<usize>();
        let len = self.list_fits(count, 2, body)?;
        if count > dlms_cosem_rs::xdlms::MAX_ACCESS_ITEMS {
            return Err(ClientError::ListTooLarge {
                len,
                max: self.request_limit(),
            });
        }
        Ok(len)
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
            &mut ClientSession<RustCryptoProvider<Rng<E>>, SCRATCH>,
            &mut [u8],
        ) -> dlms_cosem_rs::Result<usize>,
    ) -> Result<Vec<u8>, ClientError> {
        let mut out = vec![0u8; usize::from(self.settings.max_pdu).max(SCRATCH) + 64];
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
        self.list = false;
        self.action = false;
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

    /// A GET-Request-With-List: several attributes in one request, one result each
    /// ([`Event::Values`]; the response may come in blocks, reassembled here).
    ///
    /// # Errors
    /// [`ClientError::ListTooLarge`] when the list is empty or does not fit the server's
    /// PDU ([`Client::get_list_fits`]); [`ClientError::Session`] when the association is
    /// not open or the server did not agree to multiple references.
    pub fn get_with_list(&mut self, items: &[AttributeRef<'_>]) -> Result<Vec<u8>, ClientError> {
        let (encoded, body) = attribute_list(items)?;
        self.list_fits(items.len(), 1, body)?;
        self.blocks.clear();
        let d = self.build(|s, out| {
            let list = upstream_attributes(items, &encoded)?;
            s.get_request_with_list(&list, out)
        })?;
        self.list = true;
        self.action = false;
        self.waiting = Waiting::Response;
        Ok(d)
    }

    /// A SET-Request-With-List: `values[i]` written to `items[i]`, one result each
    /// ([`Event::SetResults`]).
    ///
    /// # Errors
    /// As [`Client::get_with_list`]; [`ClientError::Settings`] when the two lists differ
    /// in length.
    pub fn set_with_list(
        &mut self,
        items: &[AttributeRef<'_>],
        values: &[Data],
    ) -> Result<Vec<u8>, ClientError> {
        if items.len() != values.len() {
            return Err(ClientError::Settings("one value per attribute"));
        }
        let (encoded, descriptors) = attribute_list(items)?;
        let values = values
            .iter()
            .map(Data::encode)
            .collect::<Result<Vec<_>, _>>()
            .map_err(ClientError::Session)?;
        self.list_fits(
            items.len(),
            2,
            descriptors + values.iter().map(Vec::len).sum::<usize>(),
        )?;
        let d = self.build(|s, out| {
            let list = upstream_attributes(items, &encoded)?;
            let values = values
                .iter()
                .map(|v| dlms_cosem_rs::axdr::Data::from_bytes_in(v))
                .collect::<dlms_cosem_rs::Result<Vec<_>>>()?;
            s.set_request_with_list(&list, &values, out)
        })?;
        self.waiting = Waiting::Response;
        self.list = false;
        self.action = false;
        Ok(d)
    }

    /// An ACTION-Request-With-List: `parameters[i]` passed to `methods[i]`, one result
    /// each ([`Event::ActionResults`]).
    ///
    /// # Errors
    /// As [`Client::set_with_list`].
    pub fn action_with_list(
        &mut self,
        methods: &[MethodRef],
        parameters: &[Option<Data>],
    ) -> Result<Vec<u8>, ClientError> {
        if methods.len() != parameters.len() {
            return Err(ClientError::Settings("one parameter slot per method"));
        }
        let params = encoded_parameters(parameters)?;
        self.action_list_len(methods.len(), &params)?;
        let descriptors: Vec<MethodDescriptor> = methods
            .iter()
            .map(|m| MethodDescriptor::new(m.class_id, m.obis.to_upstream(), m.method))
            .collect();
        let d = self.build(|s, out| {
            let params = params
                .iter()
                .map(|p| {
                    p.as_deref()
                        .map(dlms_cosem_rs::axdr::Data::from_bytes_in)
                        .transpose()
                })
                .collect::<dlms_cosem_rs::Result<Vec<_>>>()?;
            s.action_request_with_list(&descriptors, &params, out)
        })?;
        self.waiting = Waiting::Response;
        self.list = false;
        self.action = false;
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
        self.list = false;
        self.action = false;
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
        self.list = false;
        self.action = true;
        Ok(d)
    }

    /// Whether a SET of a value encoding to `value_len` bytes fits one request the
    /// server takes; when not, send it with [`Client::set_in_blocks`].
    #[must_use]
    pub fn set_fits(&self, value_len: usize) -> bool {
        let protection = if self.settings.security == Security::None {
            0
        } else {
            PROTECTION_MAX
        };
        // Tag, choice, invoke id, descriptor (class, name, attribute), no access.
        3 + METHOD_DESCRIPTOR_LEN + 1 + value_len + protection <= self.request_limit()
    }

    /// Whether an ACTION with parameters encoding to `len` bytes fits one request.
    #[must_use]
    pub fn action_fits(&self, len: usize) -> bool {
        self.set_fits(len)
    }

    /// A SET whose encoded value does not fit one request: sent in blocks (block
    /// transfer with SET), the first here; answer each [`Event::BlockAccepted`] with
    /// [`Client::next_block`]. The last block's answer is the SET's result.
    ///
    /// # Errors
    /// [`ClientError::Session`] when the association does not allow block transfer
    /// with SET.
    pub fn set_in_blocks<'v>(
        &mut self,
        class_id: u16,
        obis: Obis,
        attribute: i8,
        encoded: &'v [u8],
    ) -> Result<(BlockTransfer<'v>, Vec<u8>), ClientError> {
        let descriptor = AttributeDescriptor::new(class_id, obis.to_upstream(), attribute);
        let sender = self.session.set_transfer(descriptor, None, encoded)?;
        self.list = false;
        self.action = false;
        self.start_blocks(sender)
    }

    /// An ACTION whose encoded parameters do not fit one request, in blocks; as
    /// [`Client::set_in_blocks`].
    ///
    /// # Errors
    /// [`ClientError::Session`] when the association does not allow block transfer
    /// with ACTION.
    pub fn action_in_blocks<'v>(
        &mut self,
        class_id: u16,
        obis: Obis,
        method: i8,
        encoded: &'v [u8],
    ) -> Result<(BlockTransfer<'v>, Vec<u8>), ClientError> {
        let descriptor = MethodDescriptor::new(class_id, obis.to_upstream(), method);
        let sender = self.session.action_transfer(descriptor, encoded)?;
        self.list = false;
        self.action = true;
        self.start_blocks(sender)
    }

    fn start_blocks<'v>(
        &mut self,
        sender: BlockSender<'v>,
    ) -> Result<(BlockTransfer<'v>, Vec<u8>), ClientError> {
        let mut t = BlockTransfer(sender);
        let first = self.next_block(&mut t)?;
        Ok((t, first))
    }

    /// The next block of a SET or ACTION sent in blocks.
    ///
    /// # Errors
    /// [`ClientError::Session`] when every block has gone already.
    pub fn next_block(&mut self, t: &mut BlockTransfer<'_>) -> Result<Vec<u8>, ClientError> {
        let d = self.build(|s, out| s.next_block_request(&mut t.0, out))?;
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
        self.list = false;
        self.action = false;
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
        let list = self.list && self.waiting == Waiting::Response;
        match self.decode_response(apdu) {
            Err(ClientError::Session(e)) if list && malformed(e) => {
                // The answer got past the invoke-id, replay and tag checks or failed
                // before them on its bytes alone: a datagram of the right association
                // that no decoder reads. Nothing more will come for this request.
                tracing::warn!(error = %e, "answer to a list request does not decode");
                self.blocks.clear();
                self.list = false;
                self.waiting = Waiting::Nothing;
                Err(ClientError::ListAnswerUndecodable(e))
            }
            r => r,
        }
    }

    fn decode_response(&mut self, apdu: &[u8]) -> Result<Event, ClientError> {
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
                    let blocks = std::mem::take(&mut self.blocks);
                    if self.action {
                        // A long ACTION result: the return parameters, in pblocks.
                        Event::ActionResult {
                            code: 0,
                            value: Some(Data::decode(&blocks).map_err(ClientError::Session)?),
                        }
                    } else if self.list {
                        // A blocked list response carries the encoded result list,
                        // count prefix included.
                        use dlms_cosem_rs::codec::Decode as _;
                        Event::Values(item_results(&List::<GetDataResult<'_>>::from_bytes(
                            &blocks,
                        )?)?)
                    } else {
                        Event::Value(Data::decode(&blocks).map_err(ClientError::Session)?)
                    }
                } else if self.action {
                    return Ok(Event::Send(
                        self.build(|s, out| s.action_next_block_request(number, out))?,
                    ));
                } else {
                    return Ok(Event::Send(
                        self.build(|s, out| s.get_next_block_request(number, out))?,
                    ));
                }
            }
            Response::DataList(results) => Event::Values(item_results(&results)?),
            Response::ResultList(results) => Event::SetResults(
                results
                    .iter()
                    .map(|r| r.map(DataAccessResult::as_u8))
                    .collect::<dlms_cosem_rs::Result<Vec<_>>>()?,
            ),
            Response::ActionResults(results) => Event::ActionResults(
                results
                    .iter()
                    .map(|r| {
                        let r = r?;
                        Ok(ActionOutcome {
                            code: r.result.as_u8(),
                            value: r.return_parameters.map(item_result).transpose()?,
                        })
                    })
                    .collect::<Result<Vec<_>, ClientError>>()?,
            ),
            Response::Ok => Event::Done,
            Response::BlockAccepted { number } => {
                return Ok(Event::BlockAccepted { number });
            }
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

/// A SET or ACTION value going out in blocks; the caller keeps it (it borrows the
/// encoded value) and hands it to [`Client::next_block`] for each accepted block.
#[derive(Debug)]
pub struct BlockTransfer<'v>(BlockSender<'v>);

impl BlockTransfer<'_> {
    /// Whether every block has gone out.
    #[must_use]
    pub const fn is_done(&self) -> bool {
        self.0.is_done()
    }
}

/// Whether `e` says the bytes are not a valid encoding (as opposed to a replayed
/// counter, a bad tag, an answer to another request or a full buffer).
const fn malformed(e: CodecError) -> bool {
    matches!(
        e.kind,
        CodecErrorKind::Truncated { .. }
            | CodecErrorKind::InvalidTag(_)
            | CodecErrorKind::InvalidValue
            | CodecErrorKind::TypeMismatch
            | CodecErrorKind::InvalidLength
            | CodecErrorKind::DepthExceeded
            | CodecErrorKind::WorkExceeded
            | CodecErrorKind::TrailingBytes(_)
            | CodecErrorKind::Unsupported
            | CodecErrorKind::Other
    )
}

/// An encoded method descriptor: class id, logical name, method id.
const METHOD_DESCRIPTOR_LEN: usize = 2 + 6 + 1;

/// Encoded values, one slot per item (`None`: no selective access, or no parameters).
type Encoded = Vec<Option<Vec<u8>>>;

/// The selective-access parameters of `items`, encoded, and the length of the encoded
/// descriptor list (without its count prefix).
fn attribute_list(items: &[AttributeRef<'_>]) -> Result<(Encoded, usize), ClientError> {
    use dlms_cosem_rs::codec::Encode as _;
    let encoded = items
        .iter()
        .map(|i| i.access.map(|(_, d)| d.encode()).transpose())
        .collect::<Result<Vec<_>, _>>()
        .map_err(ClientError::Session)?;
    let body = upstream_attributes(items, &encoded)?
        .iter()
        .map(|i| i.encoded_len())
        .sum();
    Ok((encoded, body))
}

/// The upstream descriptors of `items`, borrowing the access parameters in `encoded`.
fn upstream_attributes<'a>(
    items: &[AttributeRef<'_>],
    encoded: &'a [Option<Vec<u8>>],
) -> dlms_cosem_rs::Result<Vec<AttributeDescriptorWithSelection<'a>>> {
    items
        .iter()
        .zip(encoded)
        .map(|(i, p)| {
            let access = match (i.access, p.as_deref()) {
                (Some((selector, _)), Some(p)) => Some(SelectiveAccess {
                    selector,
                    parameters: dlms_cosem_rs::axdr::Data::from_bytes_in(p)?,
                }),
                _ => None,
            };
            Ok(AttributeDescriptorWithSelection {
                descriptor: AttributeDescriptor::new(i.class_id, i.obis.to_upstream(), i.attribute),
                access,
            })
        })
        .collect()
}

fn encoded_parameters(parameters: &[Option<Data>]) -> Result<Encoded, ClientError> {
    parameters
        .iter()
        .map(|p| p.as_ref().map(Data::encode).transpose())
        .collect::<Result<Vec<_>, _>>()
        .map_err(ClientError::Session)
}

fn item_result(r: GetDataResult<'_>) -> Result<ItemResult, ClientError> {
    Ok(match r {
        GetDataResult::Data(d) => {
            ItemResult::Value(Data::from_upstream(&d).map_err(ClientError::Session)?)
        }
        GetDataResult::Error(e) => ItemResult::AccessError {
            code: e.as_u8(),
            name: format!("{e:?}"),
        },
    })
}

fn item_results(results: &List<'_, GetDataResult<'_>>) -> Result<Vec<ItemResult>, ClientError> {
    results.iter().map(|r| item_result(r?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Fixed;
    impl Entropy for Fixed {
        fn fill(&self, out: &mut [u8]) -> bool {
            out.fill(7);
            true
        }
    }

    #[test]
    fn rad01_list_requests_are_sized_against_the_pdu() {
        let settings = ClientSettings {
            max_pdu: 128,
            ..ClientSettings::default()
        };
        let c = Client::new(settings, Fixed).unwrap();
        let item = AttributeRef {
            class_id: 3,
            obis: Obis::new(1, 0, 1, 8, 0, 255),
            attribute: 2,
            access: None,
        };
        // Tag, choice, invoke id, count, then 10 bytes an item: 12 fit in 128, 13 not.
        assert!(c.get_list_fits(&[item; 12]));
        assert!(!c.get_list_fits(&[item; 13]));
        assert!(!c.get_list_fits(&[]), "an empty list is never sent");
        // A SET adds a second count and the values (2 bytes each here): 10 fit, 11 not.
        let values = vec![Data::Unsigned(1); 11];
        assert!(c.set_list_fits(&[item; 10], &values[..10]));
        assert!(!c.set_list_fits(&[item; 11], &values));
        assert_eq!((count_len(127), count_len(128), count_len(256)), (1, 2, 3));
    }

    #[test]
    fn rad01_list_requests_need_an_open_association() {
        let mut c = Client::new(ClientSettings::default(), Fixed).unwrap();
        let item = AttributeRef {
            class_id: 8,
            obis: Obis::new(0, 0, 1, 0, 0, 255),
            attribute: 2,
            access: None,
        };
        assert!(!c.multiple_references());
        assert!(matches!(
            c.get_with_list(&[item, item]),
            Err(ClientError::Session(_))
        ));
        assert!(matches!(
            c.set_with_list(&[item], &[]),
            Err(ClientError::Settings(_))
        ));
    }
}
