//! The ECHONET side's gate (SEC-06, SEC-08): every datagram the terminal's ECHONET socket
//! receives passes here before anything parses it.
//!
//! - SEC-06: only the registered meter's address is let through to the controller (which
//!   then matches TID, object and service); a datagram from any other address is dropped
//!   unparsed and counted as `foreign_source`. Its log line comes out of a budget
//!   ([`crate::log_limit::LogLimiter`], 20 a minute, the held-back ones counted in the
//!   next), so a flood cannot fill the disk with log lines.
//! - SEC-08: every datagram, the meter's too, is counted by a [`FloodDetector`] (per
//!   source and in total over one-second windows) whose alarms the node raises.
//!
//! Detection never blocks the meter: its address is never refused, so readings go on
//! while the flood lasts (the test floods 10,000 datagrams/s from another address
//! while slots pass, and no reading is lost).

use std::net::IpAddr;
use std::time::Instant;

use crate::flood::{DosAlarm, FloodConfig, FloodDetector};
use crate::log_limit::LogLimiter;

/// The gate.
#[derive(Debug)]
pub struct EchonetGuard {
    /// The registered meters' addresses (one per terminal today, SYS-04).
    meters: Vec<IpAddr>,
    flood: FloodDetector,
    foreign_dropped: u64,
    log_budget: LogLimiter,
}

impl EchonetGuard {
    /// The gate in front of the controller reading the meters at `meters`.
    #[must_use]
    pub fn new(config: FloodConfig, meters: &[IpAddr]) -> Self {
        Self {
            meters: meters.iter().map(IpAddr::to_canonical).collect(),
            flood: FloodDetector::new(config),
            foreign_dropped: 0,
            log_budget: LogLimiter::default(),
        }
    }

    /// Datagrams dropped because they came from another address than the meters'.
    #[must_use]
    pub const fn foreign_dropped(&self) -> u64 {
        self.foreign_dropped
    }

    /// One datagram from `from` at `now`: whether it goes on to the controller
    /// (SEC-06), and the alarm it raises, if any (SEC-08).
    pub fn admit(&mut self, now: Instant, from: IpAddr) -> (bool, Option<DosAlarm>) {
        let from = from.to_canonical();
        let alarm = self.flood.count(now, from);
        if self.meters.contains(&from) {
            return (true, alarm);
        }
        self.foreign_dropped += 1;
        if let Some(held_back) = self.log_budget.allow_monotonic(now) {
            tracing::warn!(%from, meters = ?self.meters, held_back, "SEC-06: ECHONET datagram from another address than the meters' dropped");
        }
        (false, alarm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn sec06_only_the_meters_address_passes() {
        let t = Instant::now();
        let mut g = EchonetGuard::new(FloodConfig::default(), &[ip(2)]);
        assert!(g.admit(t, ip(2)).0);
        assert!(!g.admit(t, ip(3)).0);
        // The IPv4-mapped form of the meter's address is the meter's address.
        assert!(g.admit(t, "::ffff:127.0.0.2".parse::<IpAddr>().unwrap()).0);
        assert_eq!(g.foreign_dropped(), 1);
    }

    #[test]
    fn sec08_a_source_over_its_limit_raises_one_alarm_per_holdoff() {
        let t = Instant::now();
        let config = FloodConfig::default();
        let mut g = EchonetGuard::new(config, &[ip(2)]);
        let mut alarms = Vec::new();
        // 10,000 datagrams within one second, then again 30 s and 61 s later.
        for start in [0, 30, 61] {
            for i in 0..10_000u64 {
                let now = t + Duration::from_secs(start) + Duration::from_micros(i * 90);
                if let (_, Some(a)) = g.admit(now, ip(9)) {
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
        assert_eq!(g.foreign_dropped(), 30_000);
    }

    #[test]
    fn sec08_a_reported_flood_does_not_raise_the_total_alarm_on_the_meters_next_answer() {
        let t = Instant::now();
        let mut g = EchonetGuard::new(FloodConfig::default(), &[ip(2)]);
        let flood = (0..5_000).filter_map(|_| g.admit(t, ip(9)).1).count();
        assert_eq!(flood, 1);
        assert_eq!(g.admit(t, ip(2)), (true, None));
    }

    #[test]
    fn sec08_the_meter_flooding_is_detected_and_still_let_through() {
        let t = Instant::now();
        let mut g = EchonetGuard::new(FloodConfig::default(), &[ip(2)]);
        let verdicts: Vec<_> = (0..200).map(|_| g.admit(t, ip(2))).collect();
        assert!(verdicts.iter().all(|v| v.0));
        assert_eq!(verdicts.iter().filter(|v| v.1.is_some()).count(), 1);
    }
}
