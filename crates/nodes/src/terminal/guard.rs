//! The ECHONET side's gate (SEC-06, SEC-08): every datagram the terminal's ECHONET socket
//! receives passes here before anything parses it.
//!
//! - SEC-06: only the registered meter's address is let through to the controller (which
//!   then matches TID, object and service); a datagram from any other address is dropped
//!   unparsed and counted as `foreign_source`. Its log line comes out of a budget
//!   ([`crate::log_limit::LogLimiter`], 20 a minute, the held-back ones counted in the
//!   next), so a flood cannot fill the disk with log lines.
//! - SEC-08: datagrams are counted per source address and in total over fixed windows
//!   (one second by default). A source over its limit within a window — a flood, a burst,
//!   a stream of malformed frames, from the meter's address too — or all sources together
//!   over the total limit (a flood spread over spoofed addresses; a source already
//!   reported no longer counts in it) raises a [`DosAlarm`], at most one per source (or
//!   for the total) per hold-off period.
//!
//! Detection never blocks the meter: its address is never refused, so readings go on
//! while the flood lasts (the test floods 10,000 datagrams/s from another address
//! while slots pass, and no reading is lost). The source table is bounded: under a flood
//! from more addresses than it holds, the extra addresses count in the total only.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::log_limit::LogLimiter;

/// The gate's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardConfig {
    /// The counting window.
    pub window: Duration,
    /// Datagrams one source may send within a window before it raises an alarm. The
    /// meter answers a few requests per slot; 100 a second is far above that.
    pub source_limit: u32,
    /// Datagrams all sources together may send within a window.
    pub total_limit: u32,
    /// After an alarm, the same source raises none (and logs its drops at debug level)
    /// for this long.
    pub holdoff: Duration,
    /// Sources tracked at once.
    pub max_sources: usize,
}

impl Default for GuardConfig {
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

/// A denial-of-service detection (SEC-08): the event the node raises, logs and pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DosAlarm {
    /// The source over its limit, or `None` for all sources together.
    pub source: Option<IpAddr>,
    /// Datagrams counted within the window when the limit was passed.
    pub datagrams: u32,
    /// The window.
    pub window: Duration,
}

/// A fixed counting window.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: Instant,
    count: u32,
}

impl Window {
    const fn new(now: Instant) -> Self {
        Self {
            start: now,
            count: 0,
        }
    }

    /// Count one datagram at `now`; the count within the current window.
    fn count(&mut self, now: Instant, length: Duration) -> u32 {
        if now.saturating_duration_since(self.start) >= length {
            *self = Self::new(now);
        }
        self.count = self.count.saturating_add(1);
        self.count
    }
}

/// One tracked source.
#[derive(Debug, Clone, Copy)]
struct Source {
    window: Window,
    /// Until when it raises no alarm and logs its drops quietly.
    quiet_until: Option<Instant>,
}

/// The gate.
#[derive(Debug)]
pub struct EchonetGuard {
    config: GuardConfig,
    meter: IpAddr,
    sources: HashMap<IpAddr, Source>,
    /// Started by the first datagram.
    total: Option<Window>,
    total_quiet_until: Option<Instant>,
    foreign_dropped: u64,
    alarms: u64,
    log_budget: LogLimiter,
}

impl EchonetGuard {
    /// The gate in front of the controller reading the meter at `meter`.
    #[must_use]
    pub fn new(config: GuardConfig, meter: IpAddr) -> Self {
        Self {
            config,
            meter: meter.to_canonical(),
            sources: HashMap::new(),
            total: None,
            total_quiet_until: None,
            foreign_dropped: 0,
            alarms: 0,
            log_budget: LogLimiter::default(),
        }
    }

    /// Datagrams dropped because they came from another address than the meter's.
    #[must_use]
    pub const fn foreign_dropped(&self) -> u64 {
        self.foreign_dropped
    }

    /// Alarms raised so far.
    #[must_use]
    pub const fn alarms(&self) -> u64 {
        self.alarms
    }

    /// One datagram from `from` at `now` (`wall` on the node's clock, for the log
    /// budget): whether it goes on to the controller (SEC-06), and the alarm it raises,
    /// if any (SEC-08).
    pub fn admit(
        &mut self,
        now: Instant,
        wall: DateTime<Utc>,
        from: IpAddr,
    ) -> (bool, Option<DosAlarm>) {
        let from = from.to_canonical();
        let mut alarm = None;
        let config = self.config;
        let held_off = match self.source(now, from) {
            Some(source) => {
                let count = source.window.count(now, config.window);
                let loud = !quiet(&mut source.quiet_until, now);
                if count > config.source_limit && loud {
                    source.quiet_until = Some(now + config.holdoff);
                    alarm = Some(DosAlarm {
                        source: Some(from),
                        datagrams: count,
                        window: config.window,
                    });
                }
                source.quiet_until.is_some()
            }
            // Untracked (the table is full): counted in the total only.
            None => false,
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
            self.alarms += 1;
            tracing::warn!(
                source = ?a.source,
                datagrams = a.datagrams,
                window_ms = a.window.as_millis(),
                "SEC-08: ECHONET datagram flood"
            );
        }
        if from == self.meter {
            return (true, alarm);
        }
        self.foreign_dropped += 1;
        if let Some(held_back) = self.log_budget.allow(wall) {
            tracing::warn!(%from, meter = %self.meter, held_back, "SEC-06: ECHONET datagram from another address than the meter's dropped");
        }
        (false, alarm)
    }

    /// The entry of `from`, made room for when the table is full (entries whose window
    /// ended and who are not held off go first); `None` when there is no room.
    fn source(&mut self, now: Instant, from: IpAddr) -> Option<&mut Source> {
        if !self.sources.contains_key(&from) && self.sources.len() >= self.config.max_sources {
            let window = self.config.window;
            self.sources.retain(|_, s| {
                now.saturating_duration_since(s.window.start) < window
                    || s.quiet_until.is_some_and(|q| q > now)
            });
            if self.sources.len() >= self.config.max_sources {
                return None;
            }
        }
        Some(self.sources.entry(from).or_insert(Source {
            window: Window::new(now),
            quiet_until: None,
        }))
    }
}

/// Whether a hold-off until `until` is still on at `now` (cleared once it is over).
fn quiet(until: &mut Option<Instant>, now: Instant) -> bool {
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

    fn wall() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn sec06_only_the_meters_address_passes() {
        let t = Instant::now();
        let mut g = EchonetGuard::new(GuardConfig::default(), ip(2));
        assert!(g.admit(t, wall(), ip(2)).0);
        assert!(!g.admit(t, wall(), ip(3)).0);
        // The IPv4-mapped form of the meter's address is the meter's address.
        assert!(
            g.admit(t, wall(), "::ffff:127.0.0.2".parse::<IpAddr>().unwrap())
                .0
        );
        assert_eq!(g.foreign_dropped(), 1);
    }

    #[test]
    fn sec08_a_source_over_its_limit_raises_one_alarm_per_holdoff() {
        let t = Instant::now();
        let config = GuardConfig::default();
        let mut g = EchonetGuard::new(config, ip(2));
        let mut alarms = Vec::new();
        // 10,000 datagrams within one second, then again 30 s and 61 s later.
        for start in [0, 30, 61] {
            for i in 0..10_000u64 {
                let now = t + Duration::from_secs(start) + Duration::from_micros(i * 90);
                if let (_, Some(a)) = g.admit(now, wall(), ip(9)) {
                    alarms.push((start, a));
                }
            }
        }
        assert_eq!(alarms.len(), 2, "{alarms:?}");
        assert_eq!(alarms[0].0, 0);
        assert_eq!(alarms[1].0, 61);
        // The per-source alarm, not the total one: the one source passed its limit first.
        assert_eq!(alarms[0].1.source, Some(ip(9)));
        assert_eq!(alarms[0].1.datagrams, config.source_limit + 1);
        assert_eq!(g.alarms(), 2);
        assert_eq!(g.foreign_dropped(), 30_000);
    }

    #[test]
    fn sec08_a_reported_flood_does_not_raise_the_total_alarm_on_the_meters_next_answer() {
        let t = Instant::now();
        let mut g = EchonetGuard::new(GuardConfig::default(), ip(2));
        let flood = (0..5_000)
            .filter_map(|_| g.admit(t, wall(), ip(9)).1)
            .count();
        assert_eq!(flood, 1);
        assert_eq!(g.admit(t, wall(), ip(2)), (true, None));
    }

    #[test]
    fn sec08_the_meter_flooding_is_detected_and_still_let_through() {
        let t = Instant::now();
        let mut g = EchonetGuard::new(GuardConfig::default(), ip(2));
        let verdicts: Vec<_> = (0..200).map(|_| g.admit(t, wall(), ip(2))).collect();
        assert!(verdicts.iter().all(|v| v.0));
        assert_eq!(verdicts.iter().filter(|v| v.1.is_some()).count(), 1);
    }

    #[test]
    fn sec08_a_flood_spread_over_many_addresses_raises_the_total_alarm() {
        let t = Instant::now();
        let mut g = EchonetGuard::new(GuardConfig::default(), ip(2));
        let mut alarms = Vec::new();
        for i in 0..5_000u32 {
            let from = IpAddr::from((0x0a00_0000 + i).to_be_bytes());
            if let (false, Some(a)) = g.admit(t, wall(), from) {
                alarms.push(a);
            }
        }
        // No single source passed its limit; all of them together did, once.
        assert_eq!(alarms.len(), 1, "{alarms:?}");
        assert_eq!(alarms[0].source, None);
        // The table stayed bounded.
        assert!(g.sources.len() <= GuardConfig::default().max_sources);
    }

    #[test]
    fn a_window_restarts_after_its_length() {
        let t = Instant::now();
        let mut g = EchonetGuard::new(GuardConfig::default(), ip(2));
        // 100 a second, every second, never over the limit.
        for s in 0..10 {
            for _ in 0..100 {
                assert_eq!(g.admit(t + Duration::from_secs(s), wall(), ip(9)).1, None);
            }
        }
    }
}
