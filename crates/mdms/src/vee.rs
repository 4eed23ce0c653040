//! VEE (validation, editing, estimation) and slot derivation: from the raw readings of
//! one supply point to its slots. A pure function of the *set* of readings, so that the
//! order they arrived in never shows in a slot (the property tests hold every store and
//! every arrival order to it). The rules are docs/mdms.md's; each is named where it is
//! applied.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};

use crate::ids::{SupplyPoint, TerminalId};
use crate::reading::{RawReading, MODULUS};
use crate::slot::{Quality, Slot};

/// The validation limits. Part of a database: slots derived under one limit and
/// recomputed under another would depend on when they were computed, so a store keeps
/// the limit it was created with and refuses another (`MdmsError::VeeMismatch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vee {
    /// The highest power the point can draw or feed, W: a slot whose energy implies
    /// more is a spike.
    pub max_power_w: u32,
}

impl Default for Vee {
    /// 50 kW: the top of a low-voltage (低圧) supply, where special-case meters (PV,
    /// batteries, EV chargers) sit. A point above it needs its own figure.
    fn default() -> Self {
        Self {
            max_power_w: 50_000,
        }
    }
}

impl Vee {
    /// The most energy `seconds` can hold, Wh.
    fn max_wh(self, seconds: i64) -> u64 {
        u64::from(self.max_power_w) * u64::try_from(seconds).unwrap_or(0) / 3600
    }

    /// Whether a counter step of `delta` Wh (already taken modulo 10^8) over `seconds`
    /// is believable; why not when it is not.
    fn check(self, delta: u32, seconds: i64) -> Result<(), Failure> {
        if delta > MODULUS / 2 {
            // Read as a counter that went backwards: 99,999,990 Wh up is 10 Wh down.
            Err(Failure::NegativeDelta {
                back_wh: MODULUS - delta,
            })
        } else if u64::from(delta) > self.max_wh(seconds) {
            Err(Failure::Spike {
                wh: delta,
                max_wh: self.max_wh(seconds),
            })
        } else {
            Ok(())
        }
    }
}

/// Why a step between two counters failed validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The counter went backwards by this much (more than half the modulus up).
    NegativeDelta {
        /// Wh.
        back_wh: u32,
    },
    /// More energy than the maximum power allows in the time.
    Spike {
        /// The step, Wh.
        wh: u32,
        /// The most the time allows, Wh.
        max_wh: u64,
    },
    /// A single reading both of whose steps fail while the step across it passes: not
    /// used (the slots around it are estimated across it).
    Outlier {
        /// The counter it said, Wh.
        wh: u32,
    },
}

/// The two counters, in this order everywhere: AC input, AC output.
const CHANNELS: [&str; 2] = ["in", "out"];

/// The counter step from `from` to `to`, modulo 10^8 (a wrap from 99,999,999 to 0 is a
/// step of 1, TRM-03).
fn step(from: u32, to: u32) -> u32 {
    (to + MODULUS - from) % MODULUS
}

/// A boundary on a point's timeline: one with readings, or one the interval says must
/// exist between two that have them (a gap).
struct Mark<'a> {
    at: DateTime<Utc>,
    reading: Option<&'a RawReading>,
}

/// A counter at a mark: read, or estimated.
#[derive(Clone, Copy)]
struct Value {
    wh: [u32; 2],
    estimated: bool,
}

/// What derivation found: the slots, and each validation failure (channel and why) to
/// be logged.
#[derive(Debug, Default)]
pub(crate) struct Derived {
    pub slots: Vec<Slot>,
    pub failures: Vec<(DateTime<Utc>, &'static str, Failure)>,
}

/// The slots of `point` from `readings` (all of that point's readings from one usable
/// boundary to another, or to either end of its series).
pub(crate) fn derive(point: &SupplyPoint, readings: &[RawReading], vee: Vee) -> Derived {
    let marks = timeline(readings);
    let mut out = Derived::default();
    let values = values(&marks, vee, &mut out.failures);
    let mut terminal: Option<TerminalId> = None;
    for (i, pair) in marks.windows(2).enumerate() {
        let [u, v] = pair else { continue };
        terminal = u.reading.map(|r| r.terminal).or(terminal);
        let slot_terminal = v.reading.map(|r| r.terminal).or(terminal);
        let (Some(a), Some(b), Some(slot_terminal)) = (
            values[i],
            values.get(i + 1).copied().flatten(),
            slot_terminal,
        ) else {
            continue;
        };
        let seconds = (v.at - u.at).num_seconds();
        let mut wh = [0u32; 2];
        let mut failed = false;
        for (ch, name) in CHANNELS.iter().enumerate() {
            let d = step(a.wh[ch], b.wh[ch]);
            match vee.check(d, seconds) {
                Ok(()) => wh[ch] = d,
                // Zero, not the step: energy that fails validation is never passed on
                // (docs/mdms.md, "Negative steps and spikes"); the readings stay.
                Err(f) => {
                    failed = true;
                    out.failures.push((u.at, name, f));
                }
            }
        }
        let estimated = a.estimated || b.estimated || failed;
        let ends = [u.reading, v.reading];
        let quality = ends
            .iter()
            .flatten()
            .map(|r| Quality::of(r))
            .chain(estimated.then_some(Quality::Estimated))
            .max()
            .unwrap_or(Quality::Estimated);
        let received_at = if estimated {
            None
        } else {
            ends.iter().flatten().map(|r| r.received_at).max()
        };
        out.slots.push(Slot {
            point: point.clone(),
            terminal: slot_terminal,
            start: u.at,
            minutes: u8::try_from(seconds / 60).unwrap_or(u8::MAX),
            in_wh: wh[0],
            out_wh: wh[1],
            cum_in: b.wh[0],
            cum_out: b.wh[1],
            quality,
            received_at,
        });
    }
    out
}

/// The boundaries of the point in time order: each instant with readings (the one that
/// counts, `RawReading::precedence`), and between two of them the boundaries the
/// earlier one's interval places there (a gap). Nothing after the last reading: no
/// slot is made up beyond what was received.
fn timeline(readings: &[RawReading]) -> Vec<Mark<'_>> {
    let mut counts: BTreeMap<DateTime<Utc>, &RawReading> = BTreeMap::new();
    for r in readings {
        counts
            .entry(r.boundary)
            .and_modify(|kept| {
                if r.precedence() < kept.precedence() {
                    *kept = r;
                }
            })
            .or_insert(r);
    }
    let counted: Vec<_> = counts.into_values().collect();
    let mut marks = Vec::with_capacity(counted.len());
    for (i, r) in counted.iter().enumerate() {
        marks.push(Mark {
            at: r.boundary,
            reading: Some(r),
        });
        let Some(next) = counted.get(i + 1) else {
            break;
        };
        // TRM-11: the interval in force from this boundary places the next ones; a
        // 15-minute boundary that is not one of 30 (a switch back at :15) is followed
        // by the next 30-minute one, so no slot is longer than its interval.
        let s = r.interval.seconds();
        let mut at = r.boundary.timestamp();
        at += s - at.rem_euclid(s);
        while at < next.boundary.timestamp() {
            if let Some(t) = DateTime::from_timestamp(at, 0) {
                marks.push(Mark {
                    at: t,
                    reading: None,
                });
            }
            at += s;
        }
    }
    marks
}

/// The counter at every mark: read where a usable reading is; else (a gap, a missing or
/// unusable reading) estimated by linear interpolation between the usable ones around it,
/// per channel, modulo 10^8, rounded down, so that the estimated slots of a gap add up
/// to the whole step exactly. A step that fails validation is not spread over the gap:
/// the counter is held at the earlier value (its slots get zero and the last one fails
/// as a whole). No estimate without a usable reading on both sides. A usable reading is
/// suspect when a channel's steps to and from its usable neighbours both fail while the
/// step across it passes on both channels, and an outlier, not used, when it is suspect
/// and neither neighbour is (a glitch of the terminal or the meter: docs/mdms.md,
/// "Outliers"); each is added to `failures`.
fn values(
    marks: &[Mark<'_>],
    vee: Vee,
    failures: &mut Vec<(DateTime<Utc>, &'static str, Failure)>,
) -> Vec<Option<Value>> {
    let mut read: Vec<Option<[u32; 2]>> = marks
        .iter()
        .map(|m| {
            m.reading
                .filter(|r| r.usable())
                .and_then(|r| Some([r.ac_in?.wh(), r.ac_out?.wh()]))
        })
        .collect();
    let usable: Vec<usize> = (0..marks.len()).filter(|i| read[*i].is_some()).collect();
    let seconds = |x: usize, y: usize| (marks[y].at - marks[x].at).num_seconds();
    // Per usable mark (same index as `usable`), the channels on which it looks like a
    // glitch against its usable neighbours; empty for the first and the last.
    let suspect: Vec<Vec<usize>> = (0..usable.len())
        .map(|k| {
            let (Some(&p), Some(&i), Some(&n)) = (
                k.checked_sub(1).and_then(|k| usable.get(k)),
                usable.get(k),
                usable.get(k + 1),
            ) else {
                return Vec::new();
            };
            let (Some(a), Some(b), Some(c)) = (read[p], read[i], read[n]) else {
                return Vec::new();
            };
            let across = (0..2).all(|ch| vee.check(step(a[ch], c[ch]), seconds(p, n)).is_ok());
            if !across {
                return Vec::new();
            }
            (0..2)
                .filter(|&ch| {
                    vee.check(step(a[ch], b[ch]), seconds(p, i)).is_err()
                        && vee.check(step(b[ch], c[ch]), seconds(i, n)).is_err()
                })
                .collect()
        })
        .collect();
    // Only a suspect whose neighbours are not suspects is an outlier: of two suspects
    // side by side (5,000 → 90,000,000 → 5,100 → 90,000,050) either may be the glitch,
    // each is judged against the other, and neither is dropped. This also keeps an
    // outlier's neighbours in use, so an estimate across it reaches one usable reading
    // on each side and no further: docs/mdms.md, "Recomputation".
    let mut outliers = Vec::new();
    for (k, glitched) in suspect.iter().enumerate() {
        let lone = |j: Option<usize>| j.and_then(|j| suspect.get(j)).is_none_or(Vec::is_empty);
        if !glitched.is_empty() && lone(k.checked_sub(1)) && lone(Some(k + 1)) {
            let i = usable[k];
            for &ch in glitched {
                if let Some(b) = read[i] {
                    failures.push((marks[i].at, CHANNELS[ch], Failure::Outlier { wh: b[ch] }));
                }
            }
            outliers.push(i);
        }
    }
    for i in outliers {
        read[i] = None;
    }
    let mut next_read = vec![None; marks.len()];
    let mut following = None;
    for i in (0..marks.len()).rev() {
        next_read[i] = following;
        if read[i].is_some() {
            following = Some(i);
        }
    }
    let mut previous: Option<usize> = None;
    let mut out = Vec::with_capacity(marks.len());
    for (i, m) in marks.iter().enumerate() {
        if let Some(wh) = read[i] {
            previous = Some(i);
            out.push(Some(Value {
                wh,
                estimated: false,
            }));
            continue;
        }
        let estimate = match (previous, next_read[i]) {
            (Some(p), Some(n)) => {
                let (Some(from), Some(to)) = (read[p], read[n]) else {
                    out.push(None);
                    continue;
                };
                let span = marks[n].at - marks[p].at;
                let part = m.at - marks[p].at;
                let mut wh = [0u32; 2];
                for ch in 0..2 {
                    let d = step(from[ch], to[ch]);
                    wh[ch] = if vee.check(d, span.num_seconds()).is_ok() {
                        (from[ch] + share(d, part, span)) % MODULUS
                    } else {
                        from[ch]
                    };
                }
                Some(Value {
                    wh,
                    estimated: true,
                })
            }
            _ => None,
        };
        out.push(estimate);
    }
    out
}

/// `d * part / span`, rounded down (`part <= span`).
fn share(d: u32, part: TimeDelta, span: TimeDelta) -> u32 {
    let (Ok(part), Ok(span)) = (
        u128::try_from(part.num_seconds()),
        u128::try_from(span.num_seconds()),
    ) else {
        return 0;
    };
    if span == 0 {
        return 0;
    }
    u32::try_from(u128::from(d) * part / span).unwrap_or(0)
}
