//! Binds the sans-IO ECHONET controller (`nodes::controller`) to a UDP endpoint and the
//! tokio clock: the one driver every command that reads meters uses.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use nodes::controller::{Controller, Event, RequestError, RequestId};
use thiserror::Error;

use crate::udp::Endpoint;

/// Why a request could not be driven to its end. Timeouts are not errors here: they
/// are the controller's events.
#[derive(Debug, Error)]
pub enum DriverError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error("cannot send to {to}: {source}")]
    Send {
        to: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("cannot receive: {0}")]
    Recv(#[source] io::Error),
}

/// A controller and its socket.
#[derive(Debug)]
pub struct ControllerDriver {
    controller: Controller,
    endpoint: Endpoint,
    buf: Vec<u8>,
}

impl ControllerDriver {
    pub fn new(controller: Controller, endpoint: Endpoint) -> ControllerDriver {
        ControllerDriver {
            controller,
            endpoint,
            buf: vec![0; 1500],
        }
    }

    pub fn controller(&self) -> &Controller {
        &self.controller
    }

    /// Starts a request with `start` and drives the controller until that request's
    /// final event; returns the events before it (discovery answers) and the final one.
    /// Events of other requests and notifications seen meanwhile are logged and dropped.
    /// A socket error ends the request: a failed send would otherwise pass for a
    /// timeout.
    pub async fn request(
        &mut self,
        start: impl FnOnce(&mut Controller, Instant) -> Result<RequestId, RequestError>,
    ) -> Result<(Vec<Event>, Event), DriverError> {
        let id = start(&mut self.controller, Instant::now())?;
        let mut events = Vec::new();
        loop {
            self.flush().await?;
            while let Some(event) = self.controller.poll_event() {
                if event.id() != Some(id) {
                    tracing::debug!(?event, "event of no current request");
                } else if event.is_final() {
                    tracing::debug!(stats = ?self.controller.stats(), "request ended");
                    return Ok((events, event));
                } else {
                    events.push(event);
                }
            }
            let deadline = self
                .controller
                .poll_timeout()
                .map(tokio::time::Instant::from_std);
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                received = self.endpoint.recv(&mut self.buf) => {
                    let r = received.map_err(DriverError::Recv)?;
                    if let Some(datagram) = self.buf.get(..r.len) {
                        self.controller.handle_datagram(Instant::now(), r.from, datagram);
                    }
                }
                () = sleep => self.controller.handle_timeout(Instant::now()),
            }
        }
    }

    /// Sends every datagram the controller has queued.
    async fn flush(&mut self) -> Result<(), DriverError> {
        let group = self.endpoint.multicast_target();
        while let Some(t) = self.controller.poll_transmit() {
            let to = t.socket_addr(group);
            self.endpoint
                .send_to(&t.bytes, to)
                .await
                .map_err(|source| DriverError::Send { to, source })?;
        }
        Ok(())
    }
}
