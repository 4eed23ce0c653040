//! The 920 MHz link budget between two nodes.
//!
//! `PL(d) = PL(1 m) + 10·n·log10(d / 1 m) + Xσ (+ building entry loss)`, with
//! `PL(1 m) = 20·log10(4π f / c)` at the channel's centre frequency
//! (`f = 922.5 + 0.2·(ch − 33)` MHz, channel page 9), `Xσ` a normal variable frozen per
//! link and seed (the same pair of nodes always sees the same shadowing, in both
//! directions), and the building loss added when exactly one end is indoors (a meter on
//! an outside wall, a terminal inside). Defaults from `../shared/spec/wisun-han.md` §6:
//! n = 3.5, σ = 6 dB, building 15 dB, 13 dBm (20 mW, the ARIB STD-T108 class),
//! sensitivity −100 dBm; a frame survives with probability
//! `1 / (1 + exp(−(RSSI − sensitivity) / w))`, w = 2 dB; LQI = clamp(RSSI + 107, 0, 255)
//! as SKSTACK-like modules report it. The numbers are a model, not a measurement: every
//! one is configurable.

use crate::rng::Stream;

/// Speed of light, m/s.
const C: f64 = 299_792_458.0;

/// A node's place: metres on a plane plus height, and whether it is indoors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    /// East, metres.
    pub x: f64,
    /// North, metres.
    pub y: f64,
    /// Height, metres.
    pub z: f64,
    /// Inside a building (the link to an outdoor node pays the building entry loss).
    pub indoor: bool,
}

impl Position {
    /// Outdoors at `(x, y)`, 1.5 m up (a meter on a wall).
    #[must_use]
    pub const fn outdoor(x: f64, y: f64) -> Self {
        Self {
            x,
            y,
            z: 1.5,
            indoor: false,
        }
    }

    /// Indoors at `(x, y)`, 1 m up.
    #[must_use]
    pub const fn indoor(x: f64, y: f64) -> Self {
        Self {
            x,
            y,
            z: 1.0,
            indoor: true,
        }
    }

    /// Distance to `other`, metres.
    #[must_use]
    pub fn distance(&self, other: &Self) -> f64 {
        ((self.x - other.x).powi(2) + (self.y - other.y).powi(2) + (self.z - other.z).powi(2))
            .sqrt()
    }
}

/// The radio model's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PropagationConfig {
    /// Path-loss exponent n.
    pub exponent: f64,
    /// Shadowing standard deviation σ, dB.
    pub shadowing_sigma_db: f64,
    /// Building entry loss, dB, when exactly one end is indoors.
    pub building_loss_db: f64,
    /// Transmit power, dBm.
    pub tx_power_dbm: f64,
    /// Receiver sensitivity, dBm (50 % frame success).
    pub sensitivity_dbm: f64,
    /// Width of the success curve around the sensitivity, dB.
    pub transition_db: f64,
    /// Carrier-sense threshold, dBm: a channel is busy when a transmission arrives above
    /// it (ARIB STD-T108's carrier-sense level for the 920 MHz band, −80 dBm).
    pub carrier_sense_dbm: f64,
    /// How much stronger a frame must be than the sum of what overlaps it to survive
    /// (capture), dB.
    pub capture_db: f64,
}

impl Default for PropagationConfig {
    fn default() -> Self {
        Self {
            exponent: 3.5,
            shadowing_sigma_db: 6.0,
            building_loss_db: 15.0,
            tx_power_dbm: 13.0,
            sensitivity_dbm: -100.0,
            transition_db: 2.0,
            carrier_sense_dbm: -80.0,
            capture_db: 10.0,
        }
    }
}

/// Centre frequency of a channel, Hz (channel page 9, channels 33-60).
#[must_use]
pub fn channel_hz(channel: u8) -> f64 {
    (922.5 + 0.2 * (f64::from(channel) - 33.0)) * 1e6
}

/// Free-space loss at 1 m for `channel`, dB.
#[must_use]
pub fn reference_loss_db(channel: u8) -> f64 {
    20.0 * (4.0 * core::f64::consts::PI * channel_hz(channel) / C).log10()
}

/// The LQI SKSTACK-like modules report for an RSSI.
#[must_use]
pub fn lqi(rssi_dbm: f64) -> u8 {
    // Clamped into 0..=255 first, so the cast cannot truncate.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let v = (rssi_dbm + 107.0).round().clamp(0.0, 255.0) as u8;
    v
}

/// Shadowing is a normal draw held within this many standard deviations either way (one
/// draw in 5 × 10⁸ is beyond): the bound that makes [`PropagationConfig::reach_m`] a
/// distance beyond which no link can be heard.
const SHADOWING_BOUND_SIGMAS: f64 = 6.0;

impl PropagationConfig {
    /// The shadowing of the link between nodes `a` and `b` (order does not matter) under
    /// `seed`, dB.
    #[must_use]
    pub fn shadowing_db(&self, seed: u64, a: u32, b: u32) -> f64 {
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        // One independent stream per unordered pair; the top bit keeps link streams
        // apart from the per-frame stream (domain 0).
        let domain = (1 << 63) | (u64::from(lo) << 32) | u64::from(hi);
        let bound = SHADOWING_BOUND_SIGMAS * self.shadowing_sigma_db;
        (Stream::new(seed, domain).normal() * self.shadowing_sigma_db).clamp(-bound, bound)
    }

    /// The path loss from `from` to `to` on `channel`, with shadowing `shadowing_db`.
    #[must_use]
    pub fn path_loss_db(
        &self,
        from: &Position,
        to: &Position,
        channel: u8,
        shadowing_db: f64,
    ) -> f64 {
        // Closer than 1 m is treated as 1 m: the model is not meant for the near field.
        let d = from.distance(to).max(1.0);
        let building = if from.indoor == to.indoor {
            0.0
        } else {
            self.building_loss_db
        };
        reference_loss_db(channel) + 10.0 * self.exponent * d.log10() + shadowing_db + building
    }

    /// How far a frame can still be heard at all: beyond this distance even a link
    /// shadowed six standard deviations in its favour (the most shadowing gives), without
    /// building loss, arrives more than 20 dB under the sensitivity, where a frame
    /// survives with probability below 5 × 10⁻⁵ (the medium does not count such
    /// receivers). Metres.
    #[must_use]
    pub fn reach_m(&self) -> f64 {
        self.reach_through_m(0.0)
    }

    /// [`Self::reach_m`] with `extra_db` of loss on the way (a building's walls): a link
    /// longer than this is below the cut-off whatever its shadowing, which is known
    /// without drawing it. Metres.
    #[must_use]
    pub fn reach_through_m(&self, extra_db: f64) -> f64 {
        let budget = self.tx_power_dbm - (self.sensitivity_dbm - 20.0)
            + SHADOWING_BOUND_SIGMAS * self.shadowing_sigma_db
            - extra_db
            - reference_loss_db(33).min(reference_loss_db(59));
        10f64.powf(budget / (10.0 * self.exponent)).max(1.0)
    }

    /// Received power, dBm.
    #[must_use]
    pub fn rssi_dbm(&self, path_loss_db: f64) -> f64 {
        self.tx_power_dbm - path_loss_db
    }

    /// Probability that a frame arriving at `rssi_dbm` (without interference) is
    /// received.
    #[must_use]
    pub fn success_probability(&self, rssi_dbm: f64) -> f64 {
        1.0 / (1.0 + (-(rssi_dbm - self.sensitivity_dbm) / self.transition_db).exp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RAD-01: the medium skips a node farther than the reach (through walls or not)
    /// without drawing its shadowing: even shadowing at its bound in the frame's favour
    /// leaves such a frame under the cut-off, and one a little nearer above it.
    #[test]
    fn rad01_no_frame_is_heard_beyond_the_reach_even_at_the_shadowing_bound() {
        let p = PropagationConfig::default();
        let floor = p.sensitivity_dbm - 20.0;
        let bound = SHADOWING_BOUND_SIGMAS * p.shadowing_sigma_db;
        let from = Position::outdoor(0.0, 0.0);
        for (walls, to) in [
            (0.0, Position::outdoor as fn(f64, f64) -> Position),
            (p.building_loss_db, Position::indoor),
        ] {
            let reach = p.reach_through_m(walls);
            let rssi = |d: f64| p.rssi_dbm(p.path_loss_db(&from, &to(d, 0.0), 33, -bound));
            assert!(
                rssi(reach * 1.001) < floor,
                "walls {walls}: {}",
                rssi(reach)
            );
            assert!(
                rssi(reach * 0.999) >= floor,
                "walls {walls}: {}",
                rssi(reach)
            );
        }
        assert!((0..10_000).all(|b| p.shadowing_db(1, 0, b).abs() <= bound));
    }

    #[test]
    fn rad01_channel_plan_and_reference_loss() {
        assert!((channel_hz(33) - 922.5e6).abs() < 1.0);
        assert!((channel_hz(59) - 927.7e6).abs() < 1.0);
        // 20 log10(4π · 922.5 MHz / c) = 31.75 dB (wisun-han.md §6.3).
        assert!(
            (reference_loss_db(33) - 31.75).abs() < 0.01,
            "{}",
            reference_loss_db(33)
        );
    }

    #[test]
    fn rad01_budget_matches_the_spec_notes_sanity_check() {
        // 13 dBm, −100 dBm, n = 3.5, no shadowing: the 50 % point lies at about 210 m
        // outdoors-to-outdoors and 78 m through a wall (wisun-han.md §6.3).
        let c = PropagationConfig::default();
        let at = |d: f64, indoor: bool| {
            let a = Position::outdoor(0.0, 0.0);
            let b = Position {
                x: d,
                z: 1.5,
                indoor,
                ..a
            };
            c.rssi_dbm(c.path_loss_db(&a, &b, 33, 0.0))
        };
        assert!(
            (at(210.0, false) - c.sensitivity_dbm).abs() < 1.0,
            "{}",
            at(210.0, false)
        );
        assert!(
            (at(78.0, true) - c.sensitivity_dbm).abs() < 1.0,
            "{}",
            at(78.0, true)
        );
        assert!((c.success_probability(c.sensitivity_dbm) - 0.5).abs() < 1e-9);
        assert!(c.success_probability(-90.0) > 0.99);
        assert!(c.success_probability(-110.0) < 0.01);
    }

    #[test]
    fn rad01_shadowing_is_frozen_per_link_and_symmetric() {
        let c = PropagationConfig::default();
        assert!((c.shadowing_db(9, 1, 2) - c.shadowing_db(9, 2, 1)).abs() < f64::EPSILON);
        assert!((c.shadowing_db(9, 1, 2) - c.shadowing_db(9, 1, 2)).abs() < f64::EPSILON);
        assert!((c.shadowing_db(9, 1, 2) - c.shadowing_db(10, 1, 2)).abs() > f64::EPSILON);
        assert!((c.shadowing_db(9, 1, 2) - c.shadowing_db(9, 1, 3)).abs() > f64::EPSILON);
    }

    #[test]
    fn lqi_follows_rssi_and_clamps() {
        assert_eq!(lqi(-71.5), 36);
        assert_eq!(lqi(-150.0), 0);
        assert_eq!(lqi(200.0), 255);
    }
}
