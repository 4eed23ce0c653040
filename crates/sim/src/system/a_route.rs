//! The A route in the run: the head end ([`HeadEndSim`], with its MDMS) on a thread of
//! its own beside the run's loop. What a smart meter's relay sends reaches the head end
//! the moment it leaves; what the head end sends back reaches its smart meter
//! [`ROUND_TRIP`] after the bytes it answers left — the A route's round trip
//! **(ours)**, a cellular WAN's order. That delay is what lets the two run side by
//! side: the loop needs the head end's answer to a message only a round trip after it
//! sent it, so it goes on with the radio meanwhile and waits only when it reaches that
//! time first. The head end takes every request in the order the loop sent it and
//! answers each in that order, so a run does not depend on the threads' speeds: the
//! same seed gives the same run. The loop hands its requests over a window at a time
//! ([`ARoute::hand_over`]): the thread is woken once for all of them (a
//! wake is a system call, once per request a cost of its own).

use core::time::Duration;
use std::collections::VecDeque;
use std::sync::mpsc;
use std::thread::JoinHandle;

use chrono::{DateTime, Utc};
use headend::commands::Setting;
use wisun::mac::Eui64;

use super::head_end::{HeadEndSim, MdmsStore};

/// From a smart meter's bytes leaving it to the head end's answer reaching it
/// **(ours)**: an LTE network's round trip and the head end's own time.
pub(super) const ROUND_TRIP: Duration = Duration::from_millis(100);

/// How often the head end looks for gaps.
const POLL: Duration = Duration::from_secs(60);

/// Bytes for, or from, each smart meter.
pub(super) type Bytes = Vec<(Eui64, Vec<u8>)>;

/// What the MDMS's readers run (the public server's rounds).
type Reader = Box<dyn FnOnce(&mdms::Mdms<MdmsStore>) + Send>;

/// What the loop asks of the head end, in time order.
enum Request {
    /// The smart meters' bytes, sent at the time given.
    Bytes(DateTime<Utc>, Bytes),
    /// Its look for gaps (and blocks to act on).
    Poll(DateTime<Utc>),
    /// Block (`true`) or reconnect a point (OPS-07), by `sim`.
    Block(mdms::SupplyPoint, bool, DateTime<Utc>),
    /// Record an operator's command.
    Command(mdms::SupplyPoint, Setting, DateTime<Utc>),
    /// Killed (-9).
    Kill,
    /// Started again.
    Start(DateTime<Utc>),
    /// An event of the system, counted with the terminals'.
    Event(&'static str),
    /// Run on the MDMS's thread after the readings taken so far.
    Then(Reader),
    /// Whether every point's slots in the range were collected and the commands ended.
    Settled(DateTime<Utc>, DateTime<Utc>, Vec<u64>),
}

/// Its answer to each request, in the same order.
enum Reply {
    /// Bytes for the smart meters (none for most requests).
    Sent(Bytes),
    /// The number of the command recorded.
    Recorded(Result<u64, String>),
    /// Started, or why not.
    Started(Result<(), String>),
    /// Settled, or not.
    Settled(bool),
}

/// The loop's end of the A route: the head end's thread, what it was asked and has not
/// answered yet, and its answers on their way.
pub(super) struct ARoute {
    /// `None` once the head end is taken back ([`Self::join`]).
    requests: Option<mpsc::Sender<Vec<Request>>>,
    /// Requests not handed to the thread yet, oldest first (each in `unanswered`).
    held: Vec<Request>,
    replies: mpsc::Receiver<Reply>,
    thread: Option<JoinHandle<HeadEndSim>>,
    /// When each request not answered yet was sent, oldest first.
    unanswered: VecDeque<Duration>,
    /// The head end's bytes on their way: (when they reach their smart meter, which,
    /// bytes), in time order (answers come in order, each a round trip after its request).
    arriving: VecDeque<(Duration, Eui64, Vec<u8>)>,
    next_poll: Duration,
    /// When the last request was asked: none is asked before it (the head end's clock
    /// goes forward, as a real one's does).
    last_asked: Duration,
    /// The numbers of the operator's commands recorded, in order.
    recorded: Vec<u64>,
}

impl ARoute {
    /// `hes` on a thread of its own.
    ///
    /// # Errors
    /// The thread could not be started.
    pub fn spawn(hes: HeadEndSim) -> Result<Self, String> {
        let (requests, inbox) = mpsc::channel();
        let (outbox, replies) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("head-end".to_owned())
            .spawn(move || serve(hes, &inbox, &outbox))
            .map_err(|e| format!("the head end's thread: {e}"))?;
        Ok(Self {
            requests: Some(requests),
            held: Vec::new(),
            replies,
            thread: Some(thread),
            unanswered: VecDeque::new(),
            arriving: VecDeque::new(),
            next_poll: Duration::ZERO,
            last_asked: Duration::ZERO,
            recorded: Vec::new(),
        })
    }

    /// When the loop must next look at the A route: the head end's next look for gaps,
    /// the next of its bytes to arrive, or a round trip after its oldest request.
    pub fn next_due(&self) -> Option<Duration> {
        [
            Some(self.next_poll),
            self.arriving.front().map(|a| a.0),
            self.unanswered.front().map(|t| *t + ROUND_TRIP),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// When the head end next looks for gaps.
    pub fn next_poll(&self) -> Duration {
        self.next_poll
    }

    /// The numbers of the operator's commands it recorded so far, in order.
    pub fn recorded(&self) -> &[u64] {
        &self.recorded
    }

    /// The head end's bytes that reach their smart meters before `until`: (when, to
    /// which, bytes), in order (waiting for the head end's answers to the requests sent
    /// more than a round trip before it).
    ///
    /// # Errors
    /// The head end's thread stopped, or it did not start again.
    pub fn arriving_before(
        &mut self,
        until: Duration,
    ) -> Result<Vec<(Duration, Eui64, Vec<u8>)>, String> {
        while self
            .unanswered
            .front()
            .is_some_and(|t| *t + ROUND_TRIP < until)
        {
            self.take_reply()?;
        }
        let mut arrived = Vec::new();
        while self.arriving.front().is_some_and(|a| a.0 < until) {
            arrived.extend(self.arriving.pop_front());
        }
        Ok(arrived)
    }

    /// The smart meters' `bytes`, sent at `now` (`wall`).
    ///
    /// # Errors
    /// The head end's thread stopped.
    pub fn send(&mut self, now: Duration, wall: DateTime<Utc>, bytes: Bytes) -> Result<(), String> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.ask(now, Request::Bytes(wall, bytes))
    }

    /// The head end's look for gaps, when due at `now`.
    ///
    /// # Errors
    /// The head end's thread stopped.
    pub fn poll(&mut self, now: Duration, wall: DateTime<Utc>) -> Result<(), String> {
        if now < self.next_poll {
            return Ok(());
        }
        self.next_poll = now + POLL;
        self.ask(now, Request::Poll(wall))
    }

    /// Block (`true`) or reconnect `point` at `now` (OPS-07), recorded with reason and
    /// author `sim`; a refusal is logged by the head end.
    ///
    /// # Errors
    /// The head end's thread stopped.
    pub fn block(
        &mut self,
        now: Duration,
        wall: DateTime<Utc>,
        point: mdms::SupplyPoint,
        block: bool,
    ) -> Result<(), String> {
        self.ask(now, Request::Block(point, block, wall))
    }

    /// Record an operator's command for `point` at `now` (its number in
    /// [`Self::recorded`] once answered; a refusal logged).
    ///
    /// # Errors
    /// The head end's thread stopped.
    pub fn record_command(
        &mut self,
        now: Duration,
        wall: DateTime<Utc>,
        point: mdms::SupplyPoint,
        setting: Setting,
    ) -> Result<(), String> {
        self.ask(now, Request::Command(point, setting, wall))
    }

    /// Kill the head end (-9) at `now`.
    ///
    /// # Errors
    /// The head end's thread stopped.
    pub fn kill(&mut self, now: Duration) -> Result<(), String> {
        self.ask(now, Request::Kill)
    }

    /// Start the head end again at `now` on its database (whether it did is told with
    /// its answer: an error of the call that takes it).
    ///
    /// # Errors
    /// Its thread stopped.
    pub fn start(&mut self, now: Duration, wall: DateTime<Utc>) -> Result<(), String> {
        self.ask(now, Request::Start(wall))
    }

    /// An event of the system at `now`, counted with the terminals' events.
    ///
    /// # Errors
    /// The head end's thread stopped.
    pub fn count_event(&mut self, now: Duration, kind: &'static str) -> Result<(), String> {
        self.ask(now, Request::Event(kind))
    }

    /// Run `then` on the MDMS's thread once every reading the head end took by `now` is
    /// in the MDMS ([`HeadEndSim::then`]).
    ///
    /// # Errors
    /// The head end's thread stopped.
    pub fn then(
        &mut self,
        now: Duration,
        then: impl FnOnce(&mdms::Mdms<MdmsStore>) + Send + 'static,
    ) -> Result<(), String> {
        self.ask(now, Request::Then(Box::new(then)))
    }

    /// Whether at `now` every point's slots in `[from, to]` are collected and each of
    /// the operator's commands recorded has its end.
    ///
    /// # Errors
    /// The head end's thread stopped.
    pub fn settled(
        &mut self,
        now: Duration,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<bool, String> {
        // Every command's number first.
        self.take_replies()?;
        let commands = self.recorded.clone();
        self.ask(now, Request::Settled(from, to, commands))?;
        match self.take_replies()? {
            Some(Reply::Settled(s)) => Ok(s),
            _ => Err("the head end answered another request".to_owned()),
        }
    }

    /// The head end back from its thread once it took and answered every request (its
    /// bytes still on their way are dropped: the run is over).
    ///
    /// # Errors
    /// Its thread panicked, or was taken back before.
    pub fn join(&mut self) -> Result<HeadEndSim, String> {
        self.take_replies()?;
        self.requests = None;
        let thread = self
            .thread
            .take()
            .ok_or_else(|| "the head end was taken back before".to_owned())?;
        thread
            .join()
            .map_err(|_| "the head end's thread panicked".to_owned())
    }

    /// `request` at `now`, held until [`Self::hand_over`].
    fn ask(&mut self, now: Duration, request: Request) -> Result<(), String> {
        if self.requests.is_none() {
            return Err(stopped());
        }
        if now < self.last_asked {
            return Err(format!(
                "a request of {now:?} asked after one of {:?}: the head end takes them in time order",
                self.last_asked
            ));
        }
        self.last_asked = now;
        self.held.push(request);
        self.unanswered.push_back(now);
        Ok(())
    }

    /// The requests held, to the head end's thread.
    ///
    /// # Errors
    /// Its thread stopped.
    pub fn hand_over(&mut self) -> Result<(), String> {
        if self.held.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(&mut self.held);
        self.requests
            .as_ref()
            .and_then(|r| r.send(held).ok())
            .ok_or_else(stopped)
    }

    /// Every answer owed taken (the requests held handed over first); the last, if any.
    fn take_replies(&mut self) -> Result<Option<Reply>, String> {
        let mut last = None;
        while !self.unanswered.is_empty() {
            last = Some(self.take_reply()?);
        }
        Ok(last)
    }

    /// The oldest request's answer (the requests held handed over first); its bytes put
    /// on their way, to arrive a round trip after it; a command's number kept.
    ///
    /// # Errors
    /// Its thread stopped, or the head end did not start again.
    fn take_reply(&mut self) -> Result<Reply, String> {
        self.hand_over()?;
        let reply = self.replies.recv().map_err(|_| stopped())?;
        let sent = self.unanswered.pop_front().ok_or_else(stopped)?;
        Ok(match reply {
            Reply::Sent(bytes) => {
                let at = sent + ROUND_TRIP;
                self.arriving
                    .extend(bytes.into_iter().map(|(sm, b)| (at, sm, b)));
                Reply::Sent(Vec::new())
            }
            Reply::Recorded(Ok(seq)) => {
                tracing::info!(seq, "operator's command recorded");
                self.recorded.push(seq);
                Reply::Recorded(Ok(seq))
            }
            Reply::Recorded(Err(e)) => {
                tracing::error!(error = %e, "operator's command not recorded");
                Reply::Recorded(Err(e))
            }
            Reply::Started(Err(e)) => return Err(e),
            other => other,
        })
    }
}

fn stopped() -> String {
    "the head end's thread stopped".to_owned()
}

/// The head end's thread: each request in turn, each answered, until the loop hangs up;
/// the head end handed back.
fn serve(
    mut hes: HeadEndSim,
    inbox: &mpsc::Receiver<Vec<Request>>,
    outbox: &mpsc::Sender<Reply>,
) -> HeadEndSim {
    for request in inbox.iter().flatten() {
        let reply = match request {
            Request::Bytes(wall, from) => Reply::Sent(
                from.iter()
                    .flat_map(|(sm, bytes)| hes.take_bytes(*sm, bytes, wall))
                    .collect(),
            ),
            Request::Poll(wall) => Reply::Sent(hes.poll(wall)),
            Request::Block(point, block, wall) => Reply::Sent(
                hes.block(&point, block, wall, "sim", "sim")
                    .unwrap_or_else(|e| {
                        tracing::error!(%point, error = %e, "block not carried out");
                        Vec::new()
                    }),
            ),
            Request::Command(point, setting, wall) => {
                Reply::Recorded(hes.record_command(&point, &setting, wall))
            }
            Request::Kill => {
                hes.kill();
                Reply::Sent(Vec::new())
            }
            Request::Start(wall) => Reply::Started(hes.start(wall)),
            Request::Event(kind) => {
                hes.count_event(kind);
                Reply::Sent(Vec::new())
            }
            Request::Then(then) => {
                hes.then(then);
                Reply::Sent(Vec::new())
            }
            Request::Settled(from, to, commands) => Reply::Settled(
                hes.settled(from, to)
                    && (commands.is_empty()
                        || hes.commands(&commands).iter().all(|c| c.end.is_some())),
            ),
        };
        if outbox.send(reply).is_err() {
            break;
        }
    }
    hes
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use chrono::TimeZone as _;
    use headend::registry::DevicePoint;
    use nodes::app::relay::SmartMeterRelay;
    use nodes::terminal::slots::Interval;
    use wisun::PairingId;

    use super::super::{head_end, meter_eui, terminal_eui};
    use super::*;

    /// A head end holding one point, the terminal `terminal_eui(1)` behind the smart
    /// meter `sm`, and that smart meter's relay, its hello sent.
    fn head_end_and_relay(
        sm: Eui64,
        wall: DateTime<Utc>,
    ) -> (HeadEndSim, SmartMeterRelay, Vec<u8>) {
        let pairing = PairingId::from_codes("00", "12345678901").unwrap();
        let terminal = terminal_eui(1);
        let point = DevicePoint {
            supply_point: "0900000000000000100001".parse().unwrap(),
            terminal_id: terminal,
            pairing_id: pairing,
            smart_meter: sm,
            meter_id: None,
            interval: Interval::Half,
            retailer: "A0019".parse().unwrap(),
        };
        let secrets = BTreeMap::from([(terminal, b"0123456789abcdef".to_vec())]);
        let hes = HeadEndSim::new(1, vec![point], &[sm], wall, None, secrets).unwrap();
        let mut relay = SmartMeterRelay::new(
            dlms::cipher::SystemTitle(sm.0),
            headend::node::HEAD_END_TITLE,
            head_end::keys_of(1, sm),
            0,
            None,
        );
        relay.connected(wall, |_| false);
        let hello = relay.take_output();
        (hes, relay, hello)
    }

    #[test]
    fn the_head_ends_answer_reaches_its_smart_meter_a_round_trip_after_the_bytes_it_answers() {
        let sm = meter_eui(1);
        let wall = Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap();
        let (hes, mut relay, hello) = head_end_and_relay(sm, wall);
        assert!(!hello.is_empty(), "the relay says hello when connected");
        let mut route = ARoute::spawn(hes).unwrap();
        route.poll(Duration::ZERO, wall).unwrap();
        assert_eq!(route.next_due(), Some(ROUND_TRIP), "the poll's answer");
        let sent = Duration::from_secs(5);
        route.send(sent, wall, vec![(sm, hello)]).unwrap();
        // Not a nanosecond before the round trip, though its answer is taken already (a
        // request the loop waits for takes every answer before its own).
        route.settled(sent, wall, wall).unwrap();
        let early = route.arriving_before(sent + ROUND_TRIP).unwrap();
        assert!(early.is_empty(), "an answer arrived before the round trip");
        assert_eq!(route.next_due(), Some(sent + ROUND_TRIP));
        let arrived = route
            .arriving_before(sent + ROUND_TRIP + Duration::from_nanos(1))
            .unwrap();
        assert!(
            !arrived.is_empty(),
            "the head end registers the terminal it holds"
        );
        for (at, to, bytes) in arrived {
            assert_eq!((at, to), (sent + ROUND_TRIP, sm));
            let commands = relay.received(&bytes).unwrap();
            assert!(!commands.is_empty(), "the registration is a command");
        }
        route.join().unwrap();
    }

    /// The head end's requests come in time order: one asked before the last is refused
    /// (the run sorts each window's requests by time; fails without the check, and the
    /// sim's runs fail when the window's sort is taken out).
    #[test]
    fn a_request_earlier_than_the_last_is_refused() {
        let sm = meter_eui(1);
        let wall = Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap();
        let (hes, _, _) = head_end_and_relay(sm, wall);
        let mut route = ARoute::spawn(hes).unwrap();
        route.count_event(Duration::from_secs(2), "outage").unwrap();
        route.count_event(Duration::from_secs(2), "reboot").unwrap();
        let late = route.count_event(Duration::from_secs(1), "outage");
        assert!(late.is_err(), "{late:?}");
        let hes = route.join().unwrap();
        assert_eq!(hes.figures().events.get("outage"), Some(&1));
    }

    #[test]
    fn requests_held_are_taken_before_the_head_end_is_handed_back() {
        let sm = meter_eui(1);
        let wall = Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap();
        let (hes, _, _) = head_end_and_relay(sm, wall);
        let mut route = ARoute::spawn(hes).unwrap();
        let ran = Arc::new(Mutex::new(false));
        let seen = ran.clone();
        route
            .then(Duration::from_secs(1), move |_| {
                *seen.lock().unwrap() = true
            })
            .unwrap();
        route.count_event(Duration::from_secs(1), "outage").unwrap();
        let mut hes = route.join().unwrap();
        hes.stop();
        assert!(*ran.lock().unwrap(), "a reader held was dropped");
        assert_eq!(hes.figures().events.get("outage"), Some(&1));
    }
}
