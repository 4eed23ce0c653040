//! Binds the sans-IO ECHONET controller (`nodes::controller`) to a UDP endpoint and the
//! tokio clock: the one driver every command that reads meters uses.

use std::time::Instant;

use nodes::controller::{Controller, Event, RequestError, RequestId};

use crate::udp::Endpoint;

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
    /// final event; returns its events in order (discovery answers, then the final one).
    /// Events of other requests and notifications seen meanwhile are logged and dropped.
    pub async fn request(
        &mut self,
        start: impl FnOnce(&mut Controller, Instant) -> Result<RequestId, RequestError>,
    ) -> Result<Vec<Event>, RequestError> {
        let id = start(&mut self.controller, Instant::now())?;
        let mut events = Vec::new();
        loop {
            self.flush().await;
            while let Some(event) = self.controller.poll_event() {
                if event.id() == Some(id) {
                    let last = event.is_final();
                    events.push(event);
                    if last {
                        return Ok(events);
                    }
                } else {
                    tracing::debug!(?event, "event of no current request");
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
                received = self.endpoint.recv(&mut self.buf) => match received {
                    Ok(r) => {
                        if let Some(datagram) = self.buf.get(..r.len) {
                            self.controller.handle_datagram(Instant::now(), r.from, datagram);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "receive failed"),
                },
                () = sleep => self.controller.handle_timeout(Instant::now()),
            }
        }
    }

    /// Sends every datagram the controller has queued.
    async fn flush(&mut self) {
        let group = self.endpoint.multicast_target();
        while let Some(t) = self.controller.poll_transmit() {
            let to = t.socket_addr(group);
            if let Err(e) = self.endpoint.send_to(&t.bytes, to).await {
                tracing::warn!(%to, error = %e, "send failed");
            }
        }
    }
}
