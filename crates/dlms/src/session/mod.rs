//! A DLMS/COSEM client association over UDP (RAD-01), for the commands that talk to a
//! server: `dlms get|set|action` and the handy terminal (`handy`). The protocol is
//! [`crate::client`] (sans-IO); this module is the socket, the retry policy and the
//! list policy.
//!
//! # Lists
//!
//! Several attributes or methods go in one request-with-list when the association agreed
//! to multiple references and the caller allows lists, split into as few lists as the
//! server's max PDU allows. Each item keeps its own result, so one refused item does not
//! lose the others. A server may announce lists and answer them in a form nobody can
//! read (Gurux-Python's): the items are then read one by one on the same association,
//! lists stay off for the rest of it, and [`Session::list_fallback`] says so.
//!
//! # Counters
//!
//! The caller chooses the first invocation counter (in [`ClientSettings`]) and may give
//! a limit it reserved durably ([`SessionOptions::counter_limit`]): no request starts
//! within half a reservation of it, so a crash wastes counters and never reuses one (a
//! repeated counter would reuse a GCM nonce).

mod link;
mod target;

use std::collections::HashMap;
use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use thiserror::Error;

use crate::client::{
    ActionOutcome, Client, ClientError, ClientSettings, Entropy, Event, ItemResult,
};
use crate::Data;
pub use link::LinkConfig;
use link::UdpLink;
pub use target::{Target, TargetError};

/// Counters a caller reserves per run (see [`SessionOptions::counter_limit`]); a
/// request never starts within half of it from the limit, which leaves room for its
/// block follow-ups (values are bounded at 1 MiB).
pub const COUNTER_RESERVE: u32 = 65_536;

/// A failed session.
#[derive(Debug, Error)]
pub enum SessionError {
    /// The host name does not resolve.
    #[error("cannot resolve {host}: {reason}")]
    Resolve {
        /// The name.
        host: String,
        /// Why.
        reason: String,
    },
    /// The local address cannot be bound.
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: IpAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// No answer after every resend.
    #[error("no answer from {peer} after {attempts} attempt(s) of {timeout:?} (timeout)")]
    Timeout {
        /// The server.
        peer: SocketAddr,
        /// Requests sent.
        attempts: u32,
        /// Each one's wait.
        timeout: Duration,
    },
    /// The client engine refused a request or an answer.
    #[error("DLMS client: {0}")]
    Client(#[from] ClientError),
    /// The server refused the association (its AARE diagnostic).
    #[error("association refused: {0}")]
    Rejected(String),
    /// The server answered with an exception-response.
    #[error("exception-response: {0}")]
    Exception(String),
    /// The counters reserved up to this limit are used up.
    #[error("invocation counters reserved up to {0} used up")]
    CountersUsedUp(u32),
    /// An answer that does not fit the request.
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    /// A list request failed in a way a server that mishandles lists would cause.
    #[error("{0} (answering a list request)")]
    ListFailed(Box<SessionError>),
}

impl SessionError {
    /// Whether the server asked for a higher invocation counter.
    #[must_use]
    pub fn is_counter_refusal(&self) -> bool {
        matches!(self, Self::Exception(e) if e.contains("InvocationCounter"))
    }
}

/// A failed list request: a server may announce lists (multiple references) and
/// mishandle them, so the error says it was a list. Timeouts and local errors pass
/// unchanged.
fn list_failed(e: SessionError) -> SessionError {
    match e {
        SessionError::Exception(_) | SessionError::Client(_) | SessionError::Unexpected(_) => {
            SessionError::ListFailed(Box::new(e))
        }
        e => e,
    }
}

/// HLS challenges from the OS random source. Read from `/dev/urandom` with std, so no
/// crate is added for it; on a system without it the association fails (no weaker
/// fallback: a predictable challenge lets a recorded HLS reply authenticate).
#[derive(Debug, Clone, Copy)]
pub struct OsEntropy;

impl Entropy for OsEntropy {
    fn fill(&self, out: &mut [u8]) -> bool {
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(out))
            .is_ok()
    }
}

/// What the caller decides about a session.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionOptions {
    /// Send lists when the server agrees to them.
    pub lists: bool,
    /// The first invocation counter the caller has not reserved: requests stop
    /// ([`SessionError::CountersUsedUp`]) within [`COUNTER_RESERVE`] / 2 of it.
    pub counter_limit: Option<u32>,
}

/// An open association.
pub struct Session {
    link: UdpLink,
    client: Client<OsEntropy>,
    counter_limit: Option<u32>,
    /// Whether to send lists: the server agreed to multiple references and the caller
    /// allows them.
    lists: bool,
    sent_list: bool,
    list_fallback: bool,
    /// Attributes read ahead (in lists) to describe results: scalers and units,
    /// capture objects.
    ahead: HashMap<Target, Event>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("lists", &self.lists)
            .field("list_fallback", &self.list_fallback)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Associate with the server `link` names.
    ///
    /// # Errors
    /// Settings the client refuses, the socket, a timeout, or the server's refusal.
    pub async fn open(
        settings: ClientSettings,
        link: &LinkConfig,
        options: SessionOptions,
    ) -> Result<Self, SessionError> {
        let mut client = Client::new(settings, OsEntropy)?;
        let link = UdpLink::open(link).await?;
        let aarq = client.associate()?;
        match link.exchange(&mut client, aarq).await? {
            Event::Established => Ok(Self {
                lists: options.lists && client.multiple_references(),
                link,
                client,
                counter_limit: options.counter_limit,
                sent_list: false,
                list_fallback: false,
                ahead: HashMap::new(),
            }),
            Event::Rejected { reason } => Err(SessionError::Rejected(reason)),
            Event::Exception(e) => Err(SessionError::Exception(e)),
            other => Err(SessionError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Whether lists are sent (agreed, allowed, and not fallen back from).
    #[must_use]
    pub const fn lists(&self) -> bool {
        self.lists
    }

    /// Whether some request was a list.
    #[must_use]
    pub const fn sent_list(&self) -> bool {
        self.sent_list
    }

    /// Whether a list answer did not decode and its items were read one by one.
    #[must_use]
    pub const fn list_fallback(&self) -> bool {
        self.list_fallback
    }

    async fn request(&mut self, datagram: Vec<u8>) -> Result<Event, SessionError> {
        if let Some(limit) = self.counter_limit {
            if self.client.invocation_counter() >= limit.saturating_sub(COUNTER_RESERVE / 2) {
                return Err(SessionError::CountersUsedUp(limit));
            }
        }
        match self.link.exchange(&mut self.client, datagram).await? {
            Event::Exception(e) => Err(SessionError::Exception(e)),
            e => Ok(e),
        }
    }

    /// One GET, with optional selective access.
    ///
    /// # Errors
    /// As [`Session::open`], or an exception.
    pub async fn get(
        &mut self,
        t: Target,
        access: Option<(u8, &Data)>,
    ) -> Result<Event, SessionError> {
        let d = self.client.get(t.class, t.obis, t.index, access)?;
        self.request(d).await
    }

    /// An attribute read ahead, or read now.
    ///
    /// # Errors
    /// As [`Session::get`].
    pub async fn read(&mut self, t: Target) -> Result<Event, SessionError> {
        match self.ahead.get(&t) {
            Some(e) => Ok(e.clone()),
            None => self.get(t, None).await,
        }
    }

    /// Keep what reading `t` answered, for [`Session::read`].
    pub fn remember(&mut self, t: Target, event: Event) {
        self.ahead.insert(t, event);
    }

    /// What was read ahead for `t`.
    #[must_use]
    pub fn read_before(&self, t: &Target) -> Option<&Event> {
        self.ahead.get(t)
    }

    /// How many of `items` from the front go in the next request: the longest prefix
    /// that `fits` one list when lists are on, else one.
    fn next_batch<T>(&self, items: &[T], fits: impl Fn(&Client<OsEntropy>, &[T]) -> bool) -> usize {
        let mut n = 1;
        if self.lists {
            while n < items.len() && items.get(..=n).is_some_and(|b| fits(&self.client, b)) {
                n += 1;
            }
        }
        n
    }

    /// Read `reads` (each with optional selective access): in lists when on, else
    /// one GET each. One event (a value or a refusal) per read, in order.
    ///
    /// # Errors
    /// As [`Session::get`]; a failed list as [`SessionError::ListFailed`].
    pub async fn get_many(
        &mut self,
        reads: &[(Target, Option<(u8, &Data)>)],
    ) -> Result<Vec<Event>, SessionError> {
        let mut events = Vec::with_capacity(reads.len());
        let mut rest = reads;
        while let Some(&(t, access)) = rest.first() {
            let n = self.next_batch(rest, |c, b| {
                let items: Vec<_> = b.iter().map(|(t, a)| t.attribute(*a)).collect();
                c.get_list_fits(&items)
            });
            let (batch, tail) = rest.split_at(n);
            rest = tail;
            if n == 1 {
                events.push(self.get(t, access).await?);
                continue;
            }
            let items: Vec<_> = batch.iter().map(|(t, a)| t.attribute(*a)).collect();
            let d = self.client.get_with_list(&items)?;
            self.sent_list = true;
            let answer = match self.request(d).await {
                Err(SessionError::Client(ClientError::ListAnswerUndecodable(e))) => {
                    // Real meters announce multiple references and answer lists in
                    // forms nobody can read (Gurux-Python's server blocks a with-list
                    // answer without the datablock's choice): the items are still
                    // readable one by one, on the same association.
                    tracing::warn!(
                        error = %e,
                        items = n,
                        "the server's answer to a GET-Request-With-List does not decode: \
                         reading each object with its own request from now on"
                    );
                    self.lists = false;
                    self.list_fallback = true;
                    for &(t, access) in batch {
                        events.push(self.get(t, access).await?);
                    }
                    continue;
                }
                r => r.map_err(list_failed)?,
            };
            match answer {
                Event::Values(v) if v.len() == n => {
                    events.extend(v.into_iter().map(|r| match r {
                        ItemResult::Value(d) => Event::Value(d),
                        ItemResult::AccessError { code, name } => Event::AccessError { code, name },
                    }));
                }
                other => return Err(list_failed(SessionError::Unexpected(format!("{other:?}")))),
            }
        }
        Ok(events)
    }

    /// Read `targets` ahead (only when lists are on: otherwise they are read when
    /// needed), skipping those already read.
    ///
    /// # Errors
    /// As [`Session::get_many`].
    pub async fn read_ahead(&mut self, targets: Vec<Target>) -> Result<(), SessionError> {
        let mut wanted: Vec<Target> = Vec::new();
        for t in targets {
            if !self.ahead.contains_key(&t) && !wanted.contains(&t) {
                wanted.push(t);
            }
        }
        if !self.lists || wanted.len() < 2 {
            return Ok(());
        }
        let reads: Vec<_> = wanted.iter().map(|t| (*t, None)).collect();
        let events = self.get_many(&reads).await?;
        self.ahead.extend(wanted.into_iter().zip(events));
        Ok(())
    }

    /// Write `items`: in lists when on, else one SET each (in blocks when a value does
    /// not fit the server's PDU). One Data-Access-Result code per item, in order (0:
    /// success).
    ///
    /// # Errors
    /// As [`Session::get_many`]; a value that does not encode.
    pub async fn set_many(&mut self, items: &[(Target, Data)]) -> Result<Vec<u8>, SessionError> {
        let mut codes = Vec::with_capacity(items.len());
        let mut rest = items;
        while let Some((t, v)) = rest.first() {
            let n = self.next_batch(rest, |c, b| {
                let (items, values): (Vec<_>, Vec<_>) = b
                    .iter()
                    .map(|(t, v)| (t.attribute(None), v.clone()))
                    .unzip();
                c.set_list_fits(&items, &values)
            });
            let (batch, tail) = rest.split_at(n);
            rest = tail;
            if n == 1 {
                codes.push(match self.set_one(*t, v).await? {
                    Event::Done => 0,
                    Event::AccessError { code, .. } => code,
                    other => return Err(SessionError::Unexpected(format!("{other:?}"))),
                });
                continue;
            }
            let (refs, values): (Vec<_>, Vec<_>) = batch
                .iter()
                .map(|(t, v)| (t.attribute(None), v.clone()))
                .unzip();
            self.sent_list = true;
            let d = self.client.set_with_list(&refs, &values)?;
            match self.request(d).await.map_err(list_failed)? {
                Event::SetResults(c) if c.len() == n => codes.extend(c),
                other => return Err(list_failed(SessionError::Unexpected(format!("{other:?}")))),
            }
        }
        Ok(codes)
    }

    /// One SET, in blocks when the value does not fit the server's PDU.
    async fn set_one(&mut self, t: Target, v: &Data) -> Result<Event, SessionError> {
        let encoded = v
            .encode()
            .map_err(|e| SessionError::Unexpected(format!("value does not encode: {e}")))?;
        if self.client.set_fits(encoded.len()) {
            let d = self.client.set(t.class, t.obis, t.index, v)?;
            return self.request(d).await;
        }
        let (mut transfer, first) = self
            .client
            .set_in_blocks(t.class, t.obis, t.index, &encoded)?;
        let mut event = self.request(first).await?;
        while let Event::BlockAccepted { .. } = event {
            let next = self.client.next_block(&mut transfer)?;
            event = self.request(next).await?;
        }
        Ok(event)
    }

    /// Invoke `items` (methods with optional parameters): in lists when on, else one
    /// ACTION each (parameters in blocks when they do not fit). One outcome per item.
    ///
    /// # Errors
    /// As [`Session::set_many`].
    pub async fn action_many(
        &mut self,
        items: &[(Target, Option<Data>)],
    ) -> Result<Vec<ActionOutcome>, SessionError> {
        let mut outcomes = Vec::with_capacity(items.len());
        let mut rest = items;
        while let Some((t, p)) = rest.first() {
            let n = self.next_batch(rest, |c, b| {
                let (methods, params): (Vec<_>, Vec<_>) =
                    b.iter().map(|(t, p)| (t.method(), p.clone())).unzip();
                c.action_list_fits(&methods, &params)
            });
            let (batch, tail) = rest.split_at(n);
            rest = tail;
            if n == 1 {
                outcomes.push(match self.action_one(*t, p.as_ref()).await? {
                    Event::ActionResult { code, value } => ActionOutcome {
                        code,
                        value: value.map(ItemResult::Value),
                    },
                    Event::AccessError { code, .. } => ActionOutcome { code, value: None },
                    other => return Err(SessionError::Unexpected(format!("{other:?}"))),
                });
                continue;
            }
            let (methods, params): (Vec<_>, Vec<_>) =
                batch.iter().map(|(t, p)| (t.method(), p.clone())).unzip();
            self.sent_list = true;
            let d = self.client.action_with_list(&methods, &params)?;
            match self.request(d).await.map_err(list_failed)? {
                Event::ActionResults(o) if o.len() == n => outcomes.extend(o),
                other => return Err(list_failed(SessionError::Unexpected(format!("{other:?}")))),
            }
        }
        Ok(outcomes)
    }

    /// One ACTION, its parameters in blocks when they do not fit the server's PDU.
    async fn action_one(&mut self, t: Target, p: Option<&Data>) -> Result<Event, SessionError> {
        let encoded = p
            .map(Data::encode)
            .transpose()
            .map_err(|e| SessionError::Unexpected(format!("parameters do not encode: {e}")))?;
        match encoded {
            Some(bytes) if !self.client.action_fits(bytes.len()) => {
                let (mut transfer, first) = self
                    .client
                    .action_in_blocks(t.class, t.obis, t.index, &bytes)?;
                let mut event = self.request(first).await?;
                while let Event::BlockAccepted { .. } = event {
                    let next = self.client.next_block(&mut transfer)?;
                    event = self.request(next).await?;
                }
                Ok(event)
            }
            _ => {
                let d = self.client.action(t.class, t.obis, t.index, p)?;
                self.request(d).await
            }
        }
    }

    /// Release the association and give the next unused invocation counter; an
    /// unanswered RLRQ is only logged (what was read is read).
    pub async fn close(mut self) -> u32 {
        let ic = self.client.invocation_counter();
        match self.client.release() {
            Ok(d) => match self.link.exchange(&mut self.client, d).await {
                Ok(Event::Released) => {}
                Ok(e) => tracing::warn!(event = ?e, "release not confirmed"),
                Err(e) => tracing::warn!(error = %e, "release not confirmed"),
            },
            Err(e) => tracing::warn!(error = %e, "cannot build RLRQ"),
        }
        self.client.invocation_counter().max(ic)
    }
}
