//! PANA (RFC 5191) carrying EAP-PSK (RFC 4764) as state machines (SEC-02): the
//! terminal is the PaC ([`pac::Pac`]), the smart meter the PAA ([`paa::Paa`]), and the
//! layer-2 group key travels from the PAA in an RFC 6786 Encryption-Encap AVP (SEC-03).
//! The wire formats and key derivations are the `pana` crate's; these machines decide
//! what to send when, retransmit, check every step, and say what happened as events.
//!
//! Choices **(ours)**, written in docs/iot-route-link.md: PRF HMAC-SHA-256 and integrity
//! HMAC-SHA-256-128 (the PAA offers them, the PaC requires them); one MSK per session,
//! Key-Id 1; retransmission of requests after 2 s, doubling, at most 4 retries; the PaC
//! pings every [`PanaTimers::ping_interval`], and at once when a frame of its terminal to
//! the PAA went unacknowledged, and declares the link lost when a ping goes unanswered
//! through its retries; a PAA with no room answers a PCI with PAR\[C\] and
//! Result-Code AUTHORIZATION_REJECTED at once.

pub mod paa;
pub mod pac;

use core::time::Duration;

use pana::avp::Avp;
use pana::encr::{decrypt_avps, EncapContext, GroupKey};
use pana::keys::{self, Integrity, Prf, Seed};
use pana::secret::{Aes128Key, AuthKey, Msk};
use pana::{AuthFailure, Message};

/// The pseudo-random function both sides use.
pub const PRF: Prf = Prf::HmacSha256;
/// The integrity algorithm of the AUTH AVP.
pub const INTEGRITY: Integrity = Integrity::HmacSha256_128;
/// The Key-Id of a session's first MSK; each re-authentication names the next.
pub const KEY_ID: u32 = 1;

/// Where nonces and EAP-PSK randoms come from: the OS in a real node, a seeded stream
/// in the simulator (sans-IO: the machines never reach for randomness themselves).
pub trait Entropy {
    /// Fill `out` with unpredictable bytes.
    fn fill(&mut self, out: &mut [u8]);
}

/// Timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PanaTimers {
    /// First retransmission of an unanswered request.
    pub retransmit: Duration,
    /// Retransmissions before giving up (the interval doubles each time).
    pub max_retries: u32,
    /// How often an open PaC pings its PAA (keep-alive, loss detection). **Ours: 7200 s.**
    /// A smart meter gone silent is noticed sooner, at the terminal's next unacknowledged
    /// frame ([`pac::Pac::doubt`]); the interval catches what acknowledgments cannot show,
    /// a smart meter that restarted and lost the session while its radio still answers
    /// (up to two hours of readings then come by backfill). A ping every 1800 s made
    /// nearly half of all frames on the air keep-alives (a 920 MHz channel is shared by
    /// every terminal in range, under ARIB STD-T108's duty limits), at 300 s four of
    /// every five.
    pub ping_interval: Duration,
}

impl PanaTimers {
    /// How long a PaC waits for the PAA's next message when it has no request of its own
    /// in flight: the PAA's whole retransmission span (2 + 4 + ... s) and one interval
    /// more. A PAA that vanishes mid-exchange is then noticed, not waited for for ever.
    #[must_use]
    pub fn give_up_after(&self) -> Duration {
        self.retransmit * 2u32.saturating_pow(self.max_retries.saturating_add(1))
    }
}

impl Default for PanaTimers {
    fn default() -> Self {
        Self {
            retransmit: Duration::from_secs(2),
            max_retries: 4,
            ping_interval: Duration::from_secs(7200),
        }
    }
}

/// A request sent and not answered yet.
#[derive(Debug, Clone)]
struct Outstanding {
    bytes: Vec<u8>,
    seq: u32,
    attempts: u32,
    next_at: Duration,
}

impl Outstanding {
    fn new(bytes: Vec<u8>, seq: u32, now: Duration, timers: &PanaTimers) -> Self {
        Self {
            bytes,
            seq,
            attempts: 0,
            next_at: now + timers.retransmit,
        }
    }

    /// The bytes to send again when due, or `Err(())` when the retries are spent.
    fn due(&mut self, now: Duration, timers: &PanaTimers) -> Result<Option<Vec<u8>>, ()> {
        if now < self.next_at {
            return Ok(None);
        }
        if self.attempts >= timers.max_retries {
            return Err(());
        }
        self.attempts += 1;
        let factor = 1u32 << self.attempts.min(16);
        self.next_at = now + timers.retransmit * factor;
        Ok(Some(self.bytes.clone()))
    }
}

/// The keys of an open session, from the MSK and the session's first exchange.
#[derive(Debug, Clone)]
struct SessionKeys {
    auth: AuthKey,
    encr: Aes128Key,
}

impl SessionKeys {
    /// Keys for MSK number `key_id` of the session whose first exchange was
    /// `i_par`/`i_pan` (RFC 5191 §5.3: a re-authentication keeps I_PAR and I_PAN, and
    /// takes the new nonces and Key-Id).
    fn derive(
        msk: &Msk,
        (i_par, i_pan): (&[u8], &[u8]),
        pac_nonce: &[u8],
        paa_nonce: &[u8],
        key_id: u32,
    ) -> Self {
        let seed = Seed {
            i_par,
            i_pan,
            pac_nonce,
            paa_nonce,
            key_id,
        };
        Self {
            auth: keys::pana_auth_key(PRF, INTEGRITY, msk, &seed),
            encr: keys::pana_paa_encr_key(PRF, msk, &seed),
        }
    }

    /// `m` emitted with an AUTH AVP over it.
    fn seal(&self, m: Message) -> Result<Vec<u8>, AuthFailure> {
        let mut b = m
            .with(Avp::Auth(alloc_zeroes(INTEGRITY.auth_len())))
            .emit()
            .map_err(AuthFailure::from)?;
        keys::seal(&mut b, INTEGRITY, &self.auth)?;
        Ok(b)
    }

    fn verify(&self, datagram: &[u8]) -> Result<(), AuthFailure> {
        keys::verify(datagram, INTEGRITY, &self.auth)
    }

    /// `m` emitted, sealed with an AUTH AVP when `keys` are given (a re-authentication
    /// inside an open session protects every message; a first one has no key yet).
    fn emit_maybe_sealed(keys: Option<&Self>, m: Message) -> Result<Vec<u8>, AuthFailure> {
        match keys {
            Some(k) => k.seal(m),
            None => m.emit().map_err(AuthFailure::from),
        }
    }

    /// The group keys a message from the PAA carries (vendor AVPs of `vendor`).
    fn group_keys(&self, m: &Message, vendor: u32) -> Result<Vec<GroupKey>, AuthFailure> {
        let ctx = EncapContext {
            key_id: m.key_id().unwrap_or(KEY_ID),
            session_id: m.session_id,
            seq: m.seq,
        };
        let mut out = Vec::new();
        for a in &m.avps {
            if let Avp::EncryptionEncap(v) = a {
                for inner in decrypt_avps(&self.encr, ctx, v).map_err(AuthFailure::from)? {
                    if let Some(gk) = GroupKey::from_avp(&inner, vendor) {
                        out.push(gk.map_err(AuthFailure::from)?);
                    }
                }
            }
        }
        Ok(out)
    }
}

fn alloc_zeroes(n: usize) -> Vec<u8> {
    vec![0; n]
}

/// A random 16-byte value.
fn random16(entropy: &mut dyn Entropy) -> [u8; 16] {
    let mut b = [0; 16];
    entropy.fill(&mut b);
    b
}
