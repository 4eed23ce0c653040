//! What a run of the whole system did ([`Report`]): the radio, the link, the reading
//! sessions and, per terminal and slot, what its meter counted against what its smart
//! meter received. Serialised as `iotroute sim --report-json`; shown as text by
//! [`Display`](core::fmt::Display).

use core::fmt;

use chrono::{DateTime, FixedOffset, Utc};
use std::collections::BTreeMap;

use serde::Serialize;

/// What a run without `--commands` does not include (the operations pages are not part
/// of a run either: `--serve` opens them on its database after it).
const NOT_COMMANDED: &str =
    "the head end's clock, interval and password commands carried out by the smart meter";

/// What a run leaves out: without operator `commands` (`--commands`), the head end's
/// commands; with them, nothing.
#[must_use]
pub fn not_built(commands: bool) -> Vec<&'static str> {
    if commands {
        Vec::new()
    } else {
        vec![NOT_COMMANDED]
    }
}

/// The summary of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Every scheduled reading arrived, equal to the meter's count, and every slot push
    /// too; every slot in the MDMS once, equal; every operator's command done.
    pub ok: bool,
    /// Wireless terminals (each with its own meter).
    #[serde(rename = "terminal_count")]
    pub terminals_count: u32,
    /// Smart meters.
    pub smartmeters: u32,
    /// The run's start (`--start`), JST.
    pub start: DateTime<FixedOffset>,
    /// Days of slots the run covers from its start.
    pub days: f64,
    /// The reading interval, minutes (30, or 15: TRM-11).
    pub interval_min: u8,
    /// Seconds of slots the run covers from its start.
    pub simulated_s: f64,
    /// How long after the last slot's end the head end had every slot (backfill
    /// settled); `null` when it had not a day later.
    pub settled_s: Option<f64>,
    /// The seed.
    pub seed: u64,
    /// The medium (frames, bytes, air time, receptions).
    #[serde(flatten)]
    pub radio: RadioFigures,
    /// MAC, 6LoWPAN and PANA.
    pub link: LinkFigures,
    /// The smart meters' DLMS/COSEM reading sessions.
    pub sessions: SessionFigures,
    /// Readings of scheduled slots.
    pub readings: ReadingFigures,
    /// Pushes the smart meters received (TRM-05).
    pub pushes: PushFigures,
    /// The smart meters → head end → MDMS: every slot of every registered point (the
    /// figures the issue's contract names at the top level: `points, expected, ...`).
    #[serde(flatten)]
    pub system: SystemFigures,
    /// The public server: files published to the retailers, and how soon.
    #[serde(flatten)]
    pub public: PublicFigures,
    /// The operator's commands the run recorded (`--commands`; absent without), with
    /// what came of each (TRM-08, TRM-09).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<CommandRecord>,
    /// Per terminal.
    pub terminals: Vec<TerminalRecord>,
    /// What the run does not include yet.
    pub not_built: Vec<&'static str>,
}

/// The medium's counts.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RadioFigures {
    /// Frames put on the air.
    pub frames: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Their air time.
    pub air_time_s: f64,
    /// Receptions that succeeded.
    pub received: u64,
    /// Receptions lost to collisions.
    pub collided: u64,
    /// Receptions lost to fading.
    pub faded: u64,
    /// Receptions lost because the receiver was sending.
    pub receiver_busy: u64,
    /// Receptions dropped by the injected loss.
    pub injected_losses: u64,
}

/// The link's counts.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct LinkFigures {
    /// MAC retransmissions.
    pub mac_retransmissions: u64,
    /// Frames the MAC gave up.
    pub frames_given_up: u64,
    /// 6LoWPAN fragments sent.
    pub fragments: u64,
    /// PANA authentications.
    pub authentications: u64,
    /// Re-authentications inside a session.
    pub reauthentications: u64,
    /// Authentications refused.
    pub refused: u64,
    /// Group-key rollovers.
    pub rollovers: u64,
}

impl core::ops::AddAssign for LinkFigures {
    fn add_assign(&mut self, o: Self) {
        self.mac_retransmissions += o.mac_retransmissions;
        self.frames_given_up += o.frames_given_up;
        self.fragments += o.fragments;
        self.authentications += o.authentications;
        self.reauthentications += o.reauthentications;
        self.refused += o.refused;
        self.rollovers += o.rollovers;
    }
}

/// The reading sessions' counts.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct SessionFigures {
    /// Started.
    pub started: u64,
    /// Started again after a timeout.
    pub restarted: u64,
    /// Completed.
    pub completed: u64,
    /// Refused by the terminal.
    pub refused: u64,
    /// Terminal clocks set (TRM-09: never set, or off by more than 10 s).
    pub clock_sets: u64,
}

impl core::ops::AddAssign for SessionFigures {
    fn add_assign(&mut self, o: Self) {
        self.started += o.started;
        self.restarted += o.restarted;
        self.completed += o.completed;
        self.refused += o.refused;
        self.clock_sets += o.clock_sets;
    }
}

/// Readings of scheduled slots.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ReadingFigures {
    /// Slots × terminals.
    pub scheduled: usize,
    /// Of them, arrived at a smart meter.
    pub arrived: usize,
    /// The longest delay after its slot.
    pub longest_delay_s: f64,
    /// Rows equal to the meter's count at the slot.
    pub values_equal: u64,
    /// Rows that differ.
    pub values_differ: u64,
}

/// What reached the MDMS through the smart meters' relay and the head end, for the
/// slots between the run's first and last boundary.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SystemFigures {
    /// Device points in the registry.
    pub points: usize,
    /// Slots expected: every point's, from the first boundary to the last.
    pub expected: u64,
    /// Of them in the MDMS, by quality.
    pub measured: u64,
    /// Recovered by the terminal from its meter's history.
    pub recovered: u64,
    /// Arrived later, read back.
    pub backfilled: u64,
    /// Estimated (VEE): not a reading, so also counted as lost.
    pub estimated: u64,
    /// Read while the meter ID did not match (SEC-07).
    pub flagged: u64,
    /// Expected slots with no reading in the MDMS (absent or estimated).
    pub lost: u64,
    /// Slots in the MDMS more than once.
    pub doubled: u64,
    /// Slots whose energy and counters equal what the terminal's meter counted at both
    /// boundaries.
    pub values_equal: u64,
    /// Slots that differ.
    pub values_differ: u64,
    /// Seconds from a slot's close to its row in the MDMS (rows read at their slot).
    pub latency_s: Latency,
    /// Terminal events the head end received, by kind.
    pub events: std::collections::BTreeMap<String, u64>,
    /// A-route messages the head end took, frames it refused, backfills it asked for.
    pub a_route_messages: u64,
    /// Frames refused on the A route.
    pub a_route_refused: u64,
    /// Backfills the head end asked for.
    pub backfills: u64,
    /// Every blocked period (OPS-07): point, from, to, reason, by.
    pub blocks: Vec<headend::blocks::BlockPeriod>,
    /// Readings the MDMS refused (none should be).
    pub mdms_rejected: u64,
    /// Readings the MDMS kept as conflicting with one it held (none should be).
    pub mdms_conflicts: u64,
    /// Registered points whose terminal ended the run on another interval (its load
    /// profile's capture period) than the registry's (TRM-11: a switch lost, by a
    /// reboot for one).
    pub intervals_differ: u64,
}

/// A latency distribution, seconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl Latency {
    /// Of samples given as counts by milliseconds (ms → samples): the sample at rank
    /// round((n − 1) × q) of the sorted samples for each quantile q.
    #[must_use]
    pub fn of_counts(counts: &BTreeMap<i64, u64>) -> Self {
        let total: u64 = counts.values().sum();
        #[allow(clippy::cast_precision_loss)]
        let at = |q: f64| {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let i = (total.saturating_sub(1) as f64 * q).round() as u64;
            let mut seen = 0;
            counts
                .iter()
                .find(|(_, n)| {
                    seen += **n;
                    seen > i
                })
                .map_or(0.0, |(ms, _)| *ms as f64 / 1000.0)
        };
        #[allow(clippy::cast_precision_loss)]
        Self {
            p50: at(0.5),
            p99: at(0.99),
            max: counts.keys().last().map_or(0.0, |ms| *ms as f64 / 1000.0),
        }
    }
}

/// What the public server published in the run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PublicFigures {
    /// Seconds from a slot's close to the first file holding each point's value.
    pub publish_latency_s: Latency,
    /// Files published (every split of every issue).
    pub published_files: u64,
    /// Issues of a retailer's message published.
    pub published_issues: u64,
    /// Of them, issues again under a higher update number (a value changed).
    pub reissued: u64,
}

/// Pushes received.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PushFigures {
    /// Pushes the terminals made during the run (slot and event pushes; unconfirmed, so
    /// a lossy radio may lose some: the readings still bring every slot).
    pub made: u64,
    /// Slot pushes equal to the meter's count at the slot.
    pub equal: u64,
    /// Slot pushes that differ (or do not read).
    pub differ: u64,
    /// Event pushes.
    pub events: u64,
}

/// One operator's command the run recorded in the head end's database, and its end.
/// What it set is not part of it (a new password is never shown).
#[derive(Debug, Clone, Serialize)]
pub struct CommandRecord {
    /// The supply point whose terminal it is for.
    pub point: String,
    /// `set-clock` (TRM-09) or `set-password` (TRM-08).
    pub kind: &'static str,
    /// When it was recorded.
    pub at: DateTime<Utc>,
    /// `done`, `refused`, `failed`, or `pending` when the run ended before its end.
    pub outcome: &'static str,
    /// Why, for a refusal or a failure (empty otherwise).
    pub reason: String,
}

impl CommandRecord {
    /// The report's view of the head end's record `r`.
    #[must_use]
    pub fn of(r: &headend::commands::CommandRecord) -> Self {
        Self {
            point: r.point.to_string(),
            kind: r.kind.name(),
            at: r.at,
            outcome: r.end.as_ref().map_or("pending", |e| e.outcome.name()),
            reason: r.end.as_ref().map(|e| e.reason.clone()).unwrap_or_default(),
        }
    }

    /// Whether the terminal took it.
    #[must_use]
    pub fn done(&self) -> bool {
        self.outcome == headend::commands::CommandOutcome::Done.name()
    }
}

/// One terminal.
#[derive(Debug, Clone, Serialize)]
pub struct TerminalRecord {
    /// Its EUI-64, `02:1a:...`.
    pub eui64: String,
    /// The smart meter it is joined to at the end.
    pub smart_meter: Option<String>,
    /// Slots whose row arrived.
    pub readings_arrived: usize,
    /// Each slot.
    pub slots: Vec<SlotRecord>,
    /// Its LED at the end (TRM-10).
    pub led: &'static str,
    /// The LED's pattern.
    pub led_pattern: &'static str,
    /// Times the LED changed.
    pub led_changes: u32,
    /// Floods its interfaces detected (SEC-08).
    pub dos_events: u64,
}

/// One slot of one terminal: the meter's count at the boundary against the row the
/// smart meter received (Wh, lower 8 digits).
#[derive(Debug, Clone, Serialize)]
pub struct SlotRecord {
    /// The :00 or :30 (JST).
    pub slot: DateTime<FixedOffset>,
    /// AC input the meter counted.
    pub meter_in_wh: Option<u32>,
    /// AC output the meter counted.
    pub meter_out_wh: Option<u32>,
    /// AC input the smart meter received.
    pub received_in_wh: Option<u32>,
    /// AC output the smart meter received.
    pub received_out_wh: Option<u32>,
    /// The row's status byte.
    pub received_status: Option<u8>,
    /// When the row arrived after the slot; `None`: never.
    pub delay_s: Option<f64>,
    /// The row holds the meter's count, marked valid.
    pub equal: bool,
}

fn wh(v: Option<u32>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.radio;
        writeln!(
            f,
            "iotroute sim: {} terminal(s) with their meters, {} smart meter(s), {:.1} h of {}-minute slots from {}, seed {}; {}",
            self.terminals_count,
            self.smartmeters,
            self.simulated_s / 3600.0,
            self.interval_min,
            self.start.to_rfc3339(),
            self.seed,
            self.settled_s.map_or_else(
                || "backfill had not settled a day after the last slot".to_owned(),
                |s| format!("backfill settled {s:.0} s after the last slot")
            )
        )?;
        writeln!(
            f,
            "frames {} ({} bytes, {:.1} s on the air); receptions {} ok, {} lost (collisions {}, fading {}, receiver busy {}, injected {})",
            r.frames,
            r.bytes,
            r.air_time_s,
            r.received,
            r.collided + r.faded + r.receiver_busy + r.injected_losses,
            r.collided,
            r.faded,
            r.receiver_busy,
            r.injected_losses
        )?;
        let l = &self.link;
        writeln!(
            f,
            "MAC retransmissions {}, frames given up {}, 6LoWPAN fragments {}",
            l.mac_retransmissions, l.frames_given_up, l.fragments
        )?;
        let s = &self.sessions;
        writeln!(
            f,
            "authentications {}, re-authentications {}, refused {}, group-key rollovers {}; reading sessions {} started, {} restarted, {} completed, {} refused by the terminal; terminal clocks set {}",
            l.authentications, l.reauthentications, l.refused, l.rollovers,
            s.started, s.restarted, s.completed, s.refused, s.clock_sets
        )?;
        let d = &self.readings;
        writeln!(
            f,
            "readings {} of {} arrived (longest delay after its slot {:.1} s){}",
            d.arrived,
            d.scheduled,
            d.longest_delay_s,
            if d.arrived == d.scheduled {
                ""
            } else {
                " — MISSING READINGS"
            }
        )?;
        writeln!(
            f,
            "values: {} of {} readings equal to what the terminal's meter counted at the slot (meter → ECHONET → store → DLMS → link){}",
            d.values_equal,
            d.values_equal + d.values_differ,
            if d.values_differ == 0 { "" } else { " — VALUES DIFFER" }
        )?;
        let y = &self.system;
        writeln!(
            f,
            "MDMS: {} of {} expected slots of {} points ({} measured, {} recovered, {} backfilled, {} flagged; {} estimated), {} lost, {} doubled; {} of {} equal to the meters' counts; slot close to MDMS p50 {:.1} s, p99 {:.1} s, max {:.1} s; A route {} messages, {} refused, {} backfills{}",
            y.expected - y.lost,
            y.expected,
            y.points,
            y.measured,
            y.recovered,
            y.backfilled,
            y.flagged,
            y.estimated,
            y.lost,
            y.doubled,
            y.values_equal,
            y.values_equal + y.values_differ,
            y.latency_s.p50,
            y.latency_s.p99,
            y.latency_s.max,
            y.a_route_messages,
            y.a_route_refused,
            y.backfills,
            if y.lost == 0 && y.doubled == 0 && y.values_differ == 0 {
                ""
            } else {
                " — SLOTS LOST, DOUBLED OR DIFFERENT"
            }
        )?;
        let u = &self.public;
        writeln!(
            f,
            "public server: {} files in {} issues to the retailers ({} re-issued as values changed); slot close to its file p50 {:.1} s, p99 {:.1} s, max {:.1} s",
            u.published_files,
            u.published_issues,
            u.reissued,
            u.publish_latency_s.p50,
            u.publish_latency_s.p99,
            u.publish_latency_s.max,
        )?;
        let p = &self.pushes;
        writeln!(
            f,
            "pushes: {} of {} slot pushes equal to what the terminal's meter counted at the slot, {} event pushes; {} made by the terminals{}",
            p.equal,
            p.equal + p.differ,
            p.events,
            p.made,
            if p.differ == 0 { "" } else { " — PUSHES DIFFER" }
        )?;
        if self.system.intervals_differ > 0 {
            writeln!(
                f,
                "TERMINALS ON ANOTHER INTERVAL THAN THE REGISTRY'S (TRM-11): {}",
                self.system.intervals_differ
            )?;
        }
        if !self.commands.is_empty() {
            let done = self.commands.iter().filter(|c| c.done()).count();
            writeln!(
                f,
                "head end commands (TRM-09 clock, TRM-08 password, TRM-11 interval): {done} of {} done{}",
                self.commands.len(),
                if done == self.commands.len() {
                    ""
                } else {
                    " — COMMANDS NOT DONE"
                }
            )?;
            for c in &self.commands {
                writeln!(
                    f,
                    "  {} {} recorded {}: {}{}",
                    c.kind,
                    c.point,
                    c.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    c.outcome,
                    if c.reason.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", c.reason)
                    }
                )?;
            }
        }
        for t in &self.terminals {
            writeln!(
                f,
                "  terminal {} → {}: {}/{} readings; LED {} ({}), {} changes",
                t.eui64,
                t.smart_meter.as_deref().unwrap_or("no smart meter"),
                t.readings_arrived,
                t.slots.len(),
                t.led,
                t.led_pattern,
                t.led_changes
            )?;
            if let Some(last) = t.slots.last() {
                writeln!(
                    f,
                    "    last slot {}: meter in {} Wh, out {} Wh; smart meter received in {} Wh, out {} Wh{}",
                    last.slot.to_rfc3339(),
                    wh(last.meter_in_wh),
                    wh(last.meter_out_wh),
                    wh(last.received_in_wh),
                    wh(last.received_out_wh),
                    if last.equal { " (equal)" } else { " — DIFFERS" }
                )?;
            }
        }
        if !self.not_built.is_empty() {
            writeln!(f, "not part of this run yet:")?;
        }
        for part in &self.not_built {
            writeln!(f, "  - {part}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Counted by value, the percentiles are those of the samples listed and sorted
        /// (the head end and the public server count their latencies, not list them).
        #[test]
        fn latency_of_counts_is_that_of_the_sorted_samples(
            samples in proptest::collection::vec(-5_000i64..600_000, 0..400),
        ) {
            let mut counts = BTreeMap::new();
            for ms in &samples {
                *counts.entry(*ms).or_insert(0u64) += 1;
            }
            let mut sorted = samples.clone();
            sorted.sort_unstable();
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let at = |q: f64| {
                let i = (sorted.len().saturating_sub(1) as f64 * q).round() as usize;
                sorted.get(i).map_or(0.0, |ms| *ms as f64 / 1000.0)
            };
            let l = Latency::of_counts(&counts);
            prop_assert_eq!(l.p50.to_bits(), at(0.5).to_bits());
            prop_assert_eq!(l.p99.to_bits(), at(0.99).to_bits());
            #[allow(clippy::cast_precision_loss)]
            let max = sorted.last().map_or(0.0, |ms| *ms as f64 / 1000.0);
            prop_assert_eq!(l.max.to_bits(), max.to_bits());
        }
    }
}
