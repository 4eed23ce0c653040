//! The terminal's IoT-route side as one piece: its link ([`Terminal`]), its DLMS/COSEM
//! server on top ([`TerminalApp`]) and the pushes waiting for the smart meter, shared by
//! the terminal program (`iotroute terminal`) and the simulator so that both answer,
//! hold and send alike.

use core::time::Duration;
use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use dlms::server::access_record::Served;

use super::server::TerminalApp;
use super::DLMS_PORT;
use crate::flood::FloodReport;
use crate::link::terminal::{LinkPhase, Terminal, TerminalEvent};

/// Pushes kept while the link is down: the newest (an event must reach the smart meter
/// once it is joined; older slots are read back by its readings anyway).
pub const HELD_PUSHES: usize = 16;

/// What the link's events asked for.
#[derive(Debug)]
pub struct Handled {
    /// The DLMS requests served (the model may have changed), for the access log file
    /// (SEC-09).
    pub served: Vec<Served>,
    /// The events handled here no further, for the driver to act on or log (`Joined`
    /// among them, after the held pushes went out).
    pub events: Vec<TerminalEvent>,
}

/// The link, the server on it and the held pushes.
pub struct LinkedTerminal {
    link: Terminal,
    server: TerminalApp,
    held: VecDeque<Vec<u8>>,
}

impl core::fmt::Debug for LinkedTerminal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LinkedTerminal")
            .field("phase", &self.link.phase())
            .field("held", &self.held.len())
            .finish_non_exhaustive()
    }
}

impl LinkedTerminal {
    /// `server` answering on `link`, nothing held yet.
    #[must_use]
    pub const fn new(link: Terminal, server: TerminalApp) -> Self {
        Self {
            link,
            server,
            held: VecDeque::new(),
        }
    }

    /// The link.
    #[must_use]
    pub const fn link(&self) -> &Terminal {
        &self.link
    }

    /// The link, to feed it frames and time.
    pub fn link_mut(&mut self) -> &mut Terminal {
        &mut self.link
    }

    /// The link's events at `now` (`wall` the terminal's clock): DLMS requests answered
    /// on the link, the held pushes sent once joined; the rest handed back.
    pub fn handle(
        &mut self,
        now: Duration,
        wall: DateTime<Utc>,
        events: Vec<TerminalEvent>,
    ) -> Handled {
        let mut served = Vec::new();
        let mut rest = Vec::new();
        for event in events {
            match event {
                TerminalEvent::Udp { datagram, .. } if datagram.dst_port == DLMS_PORT => {
                    let Some((what, reply)) = self.server.answer(wall, &datagram.payload) else {
                        continue;
                    };
                    served.push(what);
                    if let Some(reply) = reply {
                        if let Err(e) =
                            self.link
                                .send_udp(now, (DLMS_PORT, datagram.src_port), reply)
                        {
                            tracing::warn!(error = %e, "DLMS reply not sent");
                        }
                    }
                }
                TerminalEvent::Joined(_) => {
                    self.flush(now);
                    rest.push(event);
                }
                other => rest.push(other),
            }
        }
        Handled {
            served,
            events: rest,
        }
    }

    /// A push (TRM-05 slot, SEC-07/08 event) for the smart meter: sent now when joined,
    /// else held, the newest [`HELD_PUSHES`] kept.
    pub fn push(&mut self, now: Duration, push: Vec<u8>) {
        if self.held.len() >= HELD_PUSHES {
            tracing::info!("push dropped: not joined, queue full");
            self.held.pop_front();
        }
        self.held.push_back(push);
        self.flush(now);
    }

    /// Send the held pushes if the link is up.
    pub fn flush(&mut self, now: Duration) {
        if !matches!(self.link.phase(), LinkPhase::Connected(_)) {
            return;
        }
        while let Some(push) = crate::queue::pop_front(&mut self.held) {
            if let Err(e) = self.link.send_udp(now, (DLMS_PORT, DLMS_PORT), push) {
                tracing::warn!(error = %e, "push not sent");
            }
        }
    }

    /// The floods the radio side detected since the last call (SEC-08), as the
    /// terminal node takes them.
    pub fn floods(&mut self) -> Vec<FloodReport> {
        self.link
            .take_flood_alarms()
            .iter()
            .map(crate::link::terminal::RadioFlood::report)
            .collect()
    }

    /// A slot boundary at `wall`, for a server over the demo model (a model fed by a
    /// terminal node captures from its store instead).
    pub fn capture(&mut self, wall: DateTime<Utc>) {
        self.server.capture(wall);
    }
}
