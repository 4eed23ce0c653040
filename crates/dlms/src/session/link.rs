//! The UDP side of one association: one wrapper frame per datagram (RAD-01), from an
//! ephemeral port to the server, with a timeout and resends.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use super::{OsEntropy, SessionError};
use crate::client::{Client, ClientError, Event};

/// Where a session goes and how patiently.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// The server: an IP address or a host name.
    pub host: String,
    /// The server's UDP port.
    pub port: u16,
    /// Local address to bind (ephemeral port); `None`: the wildcard of the server's family.
    pub bind: Option<IpAddr>,
    /// How long each request waits for its answer.
    pub timeout: Duration,
    /// Resends of an unanswered request before giving up.
    pub retries: u8,
}

/// A bound socket talking to one server.
pub(super) struct UdpLink {
    sock: UdpSocket,
    peer: SocketAddr,
    timeout: Duration,
    retries: u8,
}

impl UdpLink {
    pub(super) async fn open(config: &LinkConfig) -> Result<Self, SessionError> {
        let resolve = |reason: String| SessionError::Resolve {
            host: config.host.clone(),
            reason,
        };
        let peer = tokio::net::lookup_host((config.host.as_str(), config.port))
            .await
            .map_err(|e| resolve(e.to_string()))?
            .next()
            .ok_or_else(|| resolve("no address".into()))?;
        let addr = config.bind.unwrap_or(if peer.is_ipv4() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        });
        let sock = UdpSocket::bind((addr, 0))
            .await
            .map_err(|source| SessionError::Bind { addr, source })?;
        tracing::debug!(local = ?sock.local_addr().ok(), %peer, "DLMS client bound");
        Ok(Self {
            sock,
            peer,
            timeout: config.timeout,
            retries: config.retries,
        })
    }

    /// Send `datagram` and feed answers to `client` until an event other than `Send`
    /// (block transfer, HLS pass 3), resending on timeout as the policy says.
    pub(super) async fn exchange(
        &self,
        client: &mut Client<OsEntropy>,
        mut datagram: Vec<u8>,
    ) -> Result<Event, SessionError> {
        let mut buf = vec![0u8; 65_536];
        'next: loop {
            let attempts = u32::from(self.retries) + 1;
            for _ in 0..attempts {
                self.sock.send_to(&datagram, self.peer).await?;
                let deadline = Instant::now() + self.timeout;
                // A datagram the session refuses may be a stale duplicate (an answer to
                // a request we re-sent, carrying an old invoke id or a replayed counter):
                // keep waiting for the real answer, and report the refusal only if none
                // comes before the deadline.
                let mut refused: Option<ClientError> = None;
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let Ok(r) = tokio::time::timeout(left, self.sock.recv_from(&mut buf)).await
                    else {
                        break;
                    };
                    let (n, from) = match r {
                        Ok(x) => x,
                        // ICMP errors surface on some systems; keep waiting for the answer.
                        Err(e) => {
                            tracing::debug!(error = %e, "receive error ignored");
                            continue;
                        }
                    };
                    if from != self.peer {
                        tracing::debug!(%from, "datagram from another address ignored");
                        continue;
                    }
                    let Some(frame) = buf.get(..n) else { continue };
                    match client.handle(frame) {
                        Ok(Event::Send(d)) => {
                            datagram = d;
                            continue 'next;
                        }
                        Ok(e) => return Ok(e),
                        Err(e @ (ClientError::Wrapper(_) | ClientError::WrongPorts { .. })) => {
                            tracing::warn!(error = %e, "datagram ignored");
                        }
                        // The server answered and nothing readable will follow: no
                        // point waiting out the deadline.
                        Err(e @ ClientError::ListAnswerUndecodable(_)) => return Err(e.into()),
                        Err(e) => {
                            tracing::warn!(error = %e, "answer refused, still waiting");
                            refused = Some(e);
                        }
                    }
                }
                if let Some(e) = refused {
                    return Err(e.into());
                }
                tracing::debug!(peer = %self.peer, "no answer, resending");
            }
            return Err(SessionError::Timeout {
                peer: self.peer,
                attempts,
                timeout: self.timeout,
            });
        }
    }
}
