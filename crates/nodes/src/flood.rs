//! Flood detection (SEC-08), for every interface a node listens on: the terminal's
//! ECHONET side ([`crate::terminal::guard`]), its maintenance interface (both keyed by IP
//! address, timed by [`Instant`]), and its radio ([`crate::link::terminal`]: keyed by the
//! frame's MAC source, timed by the sans-IO `Duration` since start).
//!
//! Datagrams (or frames) are counted per source address and for all sources together
//! over fixed windows (one second by default). A source over its limit within a window —
//! a flood, a burst, a stream of malformed frames — or all sources together over the
//! total limit (a flood spread over spoofed addresses; a source already reported no
//! longer counts in it) raises a [`DosAlarm`], at most one per source (or for the total)
//! per hold-off period. Detection refuses nothing: what to drop is the caller's rule. The source table
//! is bounded: under a flood from more addresses than it holds, the extra addresses count
//! in the total only.

use smallvec::SmallVec;
use std::fmt::Debug;
use std::net::IpAddr;
use std::ops::Add;
use std::time::{Duration, Instant};

/// What the detector counts by: a source address.
pub trait FloodKey: Copy + Eq + Debug {
    /// The form two spellings of one source share (counted as one).
    #[must_use]
    fn canonical(self) -> Self {
        self
    }
}

/// An IPv4-mapped IPv6 address is the IPv4 address.
impl FloodKey for IpAddr {
    fn canonical(self) -> Self {
        self.to_canonical()
    }
}

/// The detector's time: a monotonic instant ([`Instant`] for a driver, a sans-IO node's
/// [`Duration`] since its start).
pub trait FloodTime: Copy + Ord + Debug + Add<Duration, Output = Self> {
    /// The time from `earlier` to `self` (zero when `earlier` is later).
    fn since(self, earlier: Self) -> Duration;
}

impl FloodTime for Instant {
    fn since(self, earlier: Self) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl FloodTime for Duration {
    fn since(self, earlier: Self) -> Duration {
        self.saturating_sub(earlier)
    }
}

/// The detector's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodConfig {
    /// The counting window.
    pub window: Duration,
    /// Datagrams one source may send within a window before it raises an alarm. The
    /// meter answers a few requests per slot; 100 a second is far above that.
    pub source_limit: u32,
    /// Datagrams all sources together may send within a window.
    pub total_limit: u32,
    /// After an alarm, the same source raises none for this long.
    pub holdoff: Duration,
    /// Sources tracked at once.
    pub max_sources: usize,
}

impl Default for FloodConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(1),
            source_limit: 100,
            total_limit: 1_000,
            holdoff: Duration::from_secs(60),
            max_sources: 256,
        }
    }
}

/// A denial-of-service detection (SEC-08): the event raised, logged and pushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DosAlarm<K = IpAddr> {
    /// The source over its limit, or `None` for all sources together.
    pub source: Option<K>,
    /// Datagrams (frames) counted within the window when the limit was passed.
    pub datagrams: u32,
    /// The window.
    pub window: Duration,
}

/// The interface a flood came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FloodSide {
    /// The meter's ECHONET Lite socket.
    Echonet,
    /// The handy terminal's maintenance interface.
    Maintenance,
    /// The IoT route's radio.
    Radio,
}

impl FloodSide {
    /// Its name in logs and status (`echonet`, `maintenance`, `radio`).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Echonet => "echonet",
            Self::Maintenance => "maintenance",
            Self::Radio => "radio",
        }
    }
}

/// A flood as the terminal node logs and pushes it, whatever the interface and however
/// its sources are named there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FloodReport {
    /// Where.
    pub side: FloodSide,
    /// The source over its limit as text (an IP address, an EUI-64, `short:1234`,
    /// `unparsable`), or `None` for all sources together.
    pub source: Option<String>,
    /// Datagrams or frames counted within the window when the limit was passed.
    pub count: u32,
    /// The window.
    pub window: Duration,
}

impl<K: core::fmt::Display> DosAlarm<K> {
    /// The alarm as the node reports it, raised on `side`.
    #[must_use]
    pub fn report(&self, side: FloodSide) -> FloodReport {
        FloodReport {
            side,
            source: self.source.as_ref().map(ToString::to_string),
            count: self.datagrams,
            window: self.window,
        }
    }
}

/// A fixed counting window.
#[derive(Debug, Clone, Copy)]
struct Window<T> {
    start: T,
    count: u32,
}

impl<T: FloodTime> Window<T> {
    const fn new(now: T) -> Self {
        Self {
            start: now,
            count: 0,
        }
    }

    /// Count one datagram at `now`; the count within the current window.
    fn count(&mut self, now: T, length: Duration) -> u32 {
        if now.since(self.start) >= length {
            *self = Self::new(now);
        }
        self.count = self.count.saturating_add(1);
        self.count
    }
}

/// One tracked source.
#[derive(Debug, Clone, Copy)]
struct Source<T> {
    window: Window<T>,
    /// Until when it raises no alarm.
    quiet_until: Option<T>,
}

/// Sources a detector holds in itself before its table moves to the heap: a terminal's
/// radio hears its smart meter and a few neighbours within a window. It is also as many
/// as it keeps without looking for stale ones to drop (once a window): kept up to 8,
/// the neighbours a terminal heard over a few windows had moved most tables of a large
/// run to the heap for good (0.5 KB a terminal, and a second cache line read at every
/// frame heard); 16 took a B-tree's inner node and two leaves (1.7 KiB).
const INLINE_SOURCES: usize = 4;

/// The detector: sources of type `K`, time of type `T`.
#[derive(Debug)]
pub struct FloodDetector<K = IpAddr, T = Instant> {
    config: FloodConfig,
    /// A few sources, searched in order, held in the detector itself (more — a flood
    /// from many addresses, at most `max_sources` — on the heap): every frame a
    /// terminal hears is counted, and the table's own node on the heap (a B-tree's
    /// leaf, or a hash table's keyed hash of each source) was the count's cost.
    sources: SmallVec<[(K, Source<T>); INLINE_SOURCES]>,
    /// Started by the first datagram.
    total: Option<Window<T>>,
    total_quiet_until: Option<T>,
    /// When sources with nothing left to say were last dropped.
    pruned_at: Option<T>,
}

impl<K: FloodKey, T: FloodTime> FloodDetector<K, T> {
    /// A detector with these limits.
    #[must_use]
    pub fn new(config: FloodConfig) -> Self {
        Self {
            config,
            sources: SmallVec::new(),
            total: None,
            total_quiet_until: None,
            pruned_at: None,
        }
    }

    /// Count one datagram from `from` at `now`; the alarm it raises, if any.
    pub fn count(&mut self, now: T, from: K) -> Option<DosAlarm<K>> {
        let from = from.canonical();
        let mut alarm = None;
        let config = self.config;
        // The tracked source's entry in one search (every frame a terminal hears is
        // counted: a second search of its table was a cost of its own).
        let held_off = if let Some((_, source)) = self.sources.iter_mut().find(|(k, _)| *k == from)
        {
            count_source(source, now, from, config, &mut alarm)
        } else if let Some(source) = self.admit(now, from) {
            count_source(source, now, from, config, &mut alarm)
        } else {
            // Untracked (the table is full): counted in the total only.
            false
        };
        // The total counts what no alarm has explained yet: a source already reported
        // (held off) is left out, so its flood does not raise the total alarm as well
        // (nor the meter's next answer during it).
        if !held_off {
            let total = self
                .total
                .get_or_insert(Window::new(now))
                .count(now, config.window);
            if alarm.is_none()
                && total > config.total_limit
                && !quiet(&mut self.total_quiet_until, now)
            {
                self.total_quiet_until = Some(now + config.holdoff);
                alarm = Some(DosAlarm {
                    source: None,
                    datagrams: total,
                    window: config.window,
                });
            }
        }
        if let Some(a) = alarm {
            tracing::warn!(
                source = ?a.source,
                datagrams = a.datagrams,
                window_ms = a.window.as_millis(),
                "SEC-08: flood"
            );
        }
        alarm
    }

    /// A new entry for `from`, made room for when the table is full (entries whose
    /// window ended and who are not held off go first); `None` when there is no room.
    fn admit(&mut self, now: T, from: K) -> Option<&mut Source<T>> {
        // A source whose window is over and that is not held off says nothing its next
        // datagram would not say afresh: dropped when the table is full, and once a
        // window when it holds more than a few (a terminal hears every neighbour's
        // frames: kept until full, 256 sources cost every terminal of a large run memory
        // and every frame a search of a full table; pruned at every frame, a handful of
        // neighbours heard a few seconds apart cost a walk through the table each).
        let window = self.config.window;
        let due = self.pruned_at.is_none_or(|t| now.since(t) >= window);
        let len = self.sources.len();
        if (due && len >= INLINE_SOURCES) || len >= self.config.max_sources {
            self.pruned_at = Some(now);
            self.sources.retain(|(_, s)| {
                now.since(s.window.start) < window || s.quiet_until.is_some_and(|q| q > now)
            });
            // Back in the detector once few are left (after a flood from many).
            if self.sources.len() <= INLINE_SOURCES {
                self.sources.shrink_to_fit();
            }
        }
        if self.sources.len() >= self.config.max_sources {
            return None;
        }
        self.sources.push((
            from,
            Source {
                window: Window::new(now),
                quiet_until: None,
            },
        ));
        self.sources.last_mut().map(|(_, s)| s)
    }
}

/// Count one datagram of a tracked source at `now`: the alarm it raises put in `alarm`;
/// whether the source is held off (an alarm explained it).
fn count_source<K, T: FloodTime>(
    source: &mut Source<T>,
    now: T,
    from: K,
    config: FloodConfig,
    alarm: &mut Option<DosAlarm<K>>,
) -> bool {
    let count = source.window.count(now, config.window);
    let loud = !quiet(&mut source.quiet_until, now);
    if count > config.source_limit && loud {
        source.quiet_until = Some(now + config.holdoff);
        *alarm = Some(DosAlarm {
            source: Some(from),
            datagrams: count,
            window: config.window,
        });
    }
    source.quiet_until.is_some()
}

/// Whether a hold-off until `until` is still on at `now` (cleared once it is over).
fn quiet<T: FloodTime>(until: &mut Option<T>, now: T) -> bool {
    match *until {
        Some(u) if u > now => true,
        Some(_) => {
            *until = None;
            false
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec08_a_flood_spread_over_many_addresses_raises_the_total_alarm() {
        let t = Instant::now();
        let mut g = FloodDetector::new(FloodConfig::default());
        let mut alarms = Vec::new();
        for i in 0..5_000u32 {
            let from = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
            if let Some(a) = g.count(t, from) {
                alarms.push(a);
            }
        }
        // No single source passed its limit; all of them together did, once.
        assert_eq!(alarms.len(), 1, "{alarms:?}");
        assert_eq!(alarms[0].source, None);
        // The table stayed bounded.
        assert!(g.sources.len() <= FloodConfig::default().max_sources);
    }

    #[test]
    fn the_sources_of_a_spread_flood_are_dropped_once_it_is_over() {
        let t = Instant::now();
        let mut g = FloodDetector::new(FloodConfig::default());
        for i in 0..200u32 {
            g.count(t, IpAddr::from((0x0a00_0000 + i).to_be_bytes()));
        }
        assert_eq!(g.sources.len(), 200);
        g.count(t + Duration::from_secs(2), IpAddr::from([127, 0, 0, 9]));
        assert_eq!(g.sources.len(), 1, "the stale sources dropped");
        assert!(!g.sources.spilled(), "the table back in the detector");
    }

    #[test]
    fn neighbours_heard_windows_apart_stay_in_the_detector() {
        let t = Instant::now();
        let mut g = FloodDetector::new(FloodConfig::default());
        let host = |i: u32| IpAddr::from((0x0a00_0000 + i).to_be_bytes());
        // Its smart meter every second and a half, and each of twenty neighbours now and
        // then, never more than two sources in one window.
        for s in 0..200u32 {
            let now = t + Duration::from_millis(u64::from(s) * 1_500);
            assert_eq!(g.count(now, host(0)), None);
            assert_eq!(g.count(now, host(1 + s % 20)), None);
            assert!(
                !g.sources.spilled(),
                "second {s}: the table left the detector"
            );
        }
    }

    #[test]
    fn a_window_restarts_after_its_length() {
        let t = Instant::now();
        let mut g = FloodDetector::new(FloodConfig::default());
        // 100 a second, every second, never over the limit.
        for s in 0..10 {
            for _ in 0..100 {
                assert_eq!(
                    g.count(t + Duration::from_secs(s), IpAddr::from([127, 0, 0, 9])),
                    None
                );
            }
        }
    }
}
