//! The terminals' meter sides: each terminal's node timers and its ECHONET Lite exchange
//! with its own meter (in process, answered at once), before the run (the history its
//! store starts with) and during it (the pushes this makes handed to its link, and what
//! the meter counted when asked, the truth the run's readings are checked against).

use core::time::Duration;
use std::time::Instant;

use chrono::{DateTime, Utc};

use nodes::meter::Meter;
use nodes::terminal::node::TerminalNode;

use super::tally::Tallies;
use super::{counted, TerminalSim, METER_IP};

/// The time of the meter sides.
#[derive(Debug, Clone, Copy)]
pub(super) struct At {
    /// The run's virtual time (what the link's queue is stamped with).
    pub virtual_now: Duration,
    /// The controller's monotonic clock.
    pub now: Instant,
    /// The driver's wall clock.
    pub wall: DateTime<Utc>,
}

/// Terminal `t`'s meter side at `at`; what its meter counted when asked, for the slot
/// of the terminal's clock, kept in `tally`.
pub(super) fn drive(t: &mut TerminalSim, at: At, tally: &mut Tallies) -> Result<(), String> {
    // A terminal wakes some ten times for each reading, at its radio's events: its node
    // is polled only when a timer of its own is due, an LED change waits to be told or
    // its model may have changed — what a poll acts on — not at every wake.
    let polled = std::mem::take(&mut t.model_touched) || t.node.has_work(at.now, at.wall);
    // What not polling relies on: the model is changed by its DLMS server alone, and
    // only at a request other than a GET (checked in debug builds: every sim test).
    debug_assert!(
        polled || t.node.model().lock().is_ok_and(|m| !m.has_changes()),
        "the model changed without a request that owes the node's poll"
    );
    if polled {
        t.node.poll(at.now, at.wall).map_err(|e| e.to_string())?;
        let eui = t.route.link().eui64().0;
        answer(
            &mut t.node,
            &mut t.meter,
            at.now,
            at.wall,
            |bytes, node, meter| {
                // The truth the readings are checked against: what the meter counted when
                // the terminal asked for its energy, for the slot of the terminal's clock
                // (the first ask of each slot: the reading, retries aside). The meter
                // integrates when asked (its counters do not depend on how often).
                if asks_energy(bytes) {
                    meter.advance(at.wall);
                    let slot = node.interval().floor(node.clock(at.wall)).timestamp();
                    tally.count(eui, slot, counted(meter));
                }
            },
        )?;
    }
    t.drain_events();
    // TRM-11: where its rows follow a new interval, before any of them can arrive.
    if let Some((from, interval)) = t.switched.take() {
        tally.switch(t.route.link().eui64().0, from, interval);
    }
    t.send_pushes(at.virtual_now);
    Ok(())
}

/// A terminal's meter side before the run, from `from` to `until` (its node's controller
/// on `t0` + (wall − `from`)): the history its store holds when the run starts.
pub(super) fn read_until(
    node: &mut TerminalNode,
    meter: &mut Meter,
    t0: Instant,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<(), String> {
    let to_wall = |i: Instant| from + chrono::Duration::from_std(i - t0).unwrap_or_default();
    loop {
        let (deadline, wall_due) = node.next_wakeup();
        let wall = deadline.map(to_wall).map_or(wall_due, |d| d.min(wall_due));
        if wall >= until {
            return Ok(());
        }
        let now = t0 + (wall - from).to_std().unwrap_or_default();
        meter.advance(wall);
        node.poll(now, wall).map_err(|e| e.to_string())?;
        answer(node, meter, now, wall, |_, _, _| {})?;
        // The history before the run had no smart meter to push to.
        while node.poll_push().is_some() {}
    }
}

/// The node's ECHONET Lite requests, each answered by its meter at once, until it has
/// none left; `asked` sees each request before the meter does.
fn answer(
    node: &mut TerminalNode,
    meter: &mut Meter,
    now: Instant,
    wall: DateTime<Utc>,
    mut asked: impl FnMut(&[u8], &TerminalNode, &mut Meter),
) -> Result<(), String> {
    while let Some(tx) = node.poll_transmit() {
        asked(&tx.bytes, node, meter);
        if let Some(reply) = meter.handle(wall, &tx.bytes) {
            let from = std::net::SocketAddr::new(METER_IP, echonet::PORT);
            node.handle_echonet(now, wall, from, &reply)
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Whether an ECHONET Lite datagram asks for the AC input energy (0xE0): a slot's reading.
fn asks_energy(datagram: &[u8]) -> bool {
    echonet::Frame::new_checked(datagram)
        .is_ok_and(|f| f.esv() == Some(echonet::Esv::Get) && f.properties().any(|p| p.epc == 0xE0))
}
