//! What a run counts for its summary: per registered terminal, what its meter counted at
//! each slot and which scheduled slots' rows arrived, when, with which values. Kept per
//! terminal in vectors, not in maps keyed by (terminal, slot): a run of a million
//! terminals holds one of these each, and three ordered maps cost about 7.6 KiB per
//! terminal and day where these cost about 2.

use core::time::Duration;

use nodes::terminal::slots::Interval;

use super::{placed_count, placed_terminal, terminal_eui, terminal_of, terminal_place};

/// A scheduled slot's row as a smart meter first received it (a valid one), and how
/// long after the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SlotArrival {
    /// After the slot's start.
    pub delay: Duration,
    /// AC input, Wh.
    pub ac_in_wh: Option<u32>,
    /// AC output, Wh.
    pub ac_out_wh: Option<u32>,
    /// The status byte.
    pub status: Option<u8>,
}

/// One registered terminal's part.
#[derive(Debug, Default)]
struct TerminalTally {
    /// What its meter counted when the terminal asked for its energy, for each slot of
    /// the terminal's clock (Unix seconds; the first ask of a slot), Wh (in, out), lower
    /// 8 digits; in slot order.
    truth: Vec<(i64, (u32, u32))>,
    /// By the index of the run's scheduled slots: the row that arrived (empty until the
    /// first does).
    arrived: Vec<Arrived>,
}

/// A [`SlotArrival`] or none, in 20 bytes where an `Option<SlotArrival>` takes 40: a
/// run keeps one per registered terminal and scheduled slot.
#[derive(Debug, Clone, Copy, Default)]
struct Arrived {
    delay_s: u32,
    delay_ns: u32,
    ac_in_wh: u32,
    ac_out_wh: u32,
    status: u8,
    /// [`Arrived::ROW`], [`Arrived::IN`], [`Arrived::OUT`], [`Arrived::STATUS`].
    has: u8,
}

impl Arrived {
    const ROW: u8 = 1;
    const IN: u8 = 2;
    const OUT: u8 = 4;
    const STATUS: u8 = 8;

    fn of(a: SlotArrival) -> Self {
        let flag = |present: bool, bit: u8| if present { bit } else { 0 };
        Self {
            delay_s: u32::try_from(a.delay.as_secs()).unwrap_or(u32::MAX),
            delay_ns: a.delay.subsec_nanos(),
            ac_in_wh: a.ac_in_wh.unwrap_or_default(),
            ac_out_wh: a.ac_out_wh.unwrap_or_default(),
            status: a.status.unwrap_or_default(),
            has: Self::ROW
                | flag(a.ac_in_wh.is_some(), Self::IN)
                | flag(a.ac_out_wh.is_some(), Self::OUT)
                | flag(a.status.is_some(), Self::STATUS),
        }
    }

    fn get(self) -> Option<SlotArrival> {
        let has = |bit: u8| self.has & bit != 0;
        has(Self::ROW).then(|| SlotArrival {
            delay: Duration::new(u64::from(self.delay_s), self.delay_ns),
            ac_in_wh: has(Self::IN).then_some(self.ac_in_wh),
            ac_out_wh: has(Self::OUT).then_some(self.ac_out_wh),
            status: has(Self::STATUS).then_some(self.status),
        })
    }
}

/// The run's boundaries (Unix seconds): every terminal's until its interval switches.
#[derive(Debug, Clone, Copy)]
pub(super) struct Grid {
    /// The first.
    pub first: i64,
    /// Its interval.
    pub interval: Interval,
    /// How many.
    pub count: usize,
}

impl Grid {
    /// Seconds between two boundaries.
    fn every(self) -> i64 {
        self.interval.seconds()
    }

    /// The index of boundary `unix`, if it is one.
    fn index(self, unix: i64) -> Option<usize> {
        let k = unix.checked_sub(self.first)?;
        (k >= 0 && k % self.every() == 0)
            .then(|| usize::try_from(k / self.every()).ok())
            .flatten()
            .filter(|i| *i < self.count)
    }

    /// The last boundary.
    fn last(self) -> i64 {
        self.first + self.every() * i64::try_from(self.count.saturating_sub(1)).unwrap_or(0)
    }

    /// Boundary `index`.
    fn at(self, index: usize) -> i64 {
        self.first + self.every() * i64::try_from(index).unwrap_or(0)
    }

    /// How many boundaries are before `unix`.
    fn before(self, unix: i64) -> usize {
        if unix <= self.first {
            return 0;
        }
        let every = self.every();
        let k = usize::try_from((unix - self.first + every - 1) / every).unwrap_or(0);
        k.min(self.count)
    }
}

/// A terminal whose reading interval switched (TRM-11): the run's boundaries before the
/// first switch, then its own.
#[derive(Debug, Default)]
struct Switched {
    /// Each switch: the first boundary on the new interval, and the interval.
    switches: Vec<(i64, Interval)>,
    /// Its boundaries from the first switch on (to the run's last), in order.
    boundaries: Vec<i64>,
    /// Their rows, as [`TerminalTally::arrived`].
    arrived: Vec<Arrived>,
}

/// Every registered terminal's part of a district (of the run, once merged), by its
/// place among the district's terminals.
#[derive(Debug)]
pub(super) struct Tallies {
    terminals: Vec<TerminalTally>,
    /// The run's smart meters, and the district's.
    smartmeters: u32,
    meters: core::ops::Range<u32>,
    /// The run's boundaries.
    grid: Grid,
    /// The terminals whose interval switched, by index: few, and none in a run without
    /// interval commands (kept apart so that the others cost nothing for it).
    switched: std::collections::BTreeMap<usize, Switched>,
    /// (terminal, boundary) pairs expected.
    expected: usize,
    /// (terminal, boundary) pairs whose row arrived.
    arrived: usize,
}

impl Tallies {
    /// For those of terminals `1..=terminals` whose home is one of smart meters `meters`
    /// (a district's, of a run of `smartmeters`), over the boundaries of `grid`.
    pub fn new(
        terminals: u32,
        grid: Grid,
        smartmeters: u32,
        meters: core::ops::Range<u32>,
    ) -> Self {
        let count = placed_count(terminals, smartmeters, &meters);
        let terminals: Vec<TerminalTally> = (0..count).map(|_| TerminalTally::default()).collect();
        Self {
            expected: count * grid.count,
            terminals,
            smartmeters,
            meters,
            grid,
            switched: std::collections::BTreeMap::new(),
            arrived: 0,
        }
    }

    /// Its terminals and those of the `others` districts, as the run's: each at its
    /// number's place (`k - 1`).
    pub fn merge(self, others: Vec<Self>) -> Self {
        let m = self.smartmeters;
        let mut whole = Self {
            terminals: Vec::new(),
            smartmeters: m,
            meters: 0..m,
            grid: self.grid,
            switched: std::collections::BTreeMap::new(),
            expected: 0,
            arrived: 0,
        };
        let mut placed = Vec::new();
        for part in core::iter::once(self).chain(others) {
            let meters = part.meters.clone();
            let at = |n: usize| {
                let k = placed_terminal(n, m, &meters).saturating_sub(1);
                usize::try_from(k).unwrap_or(usize::MAX)
            };
            whole
                .switched
                .extend(part.switched.into_iter().map(|(n, s)| (at(n), s)));
            placed.extend(
                part.terminals
                    .into_iter()
                    .enumerate()
                    .map(|(n, t)| (at(n), t)),
            );
            whole.expected += part.expected;
            whole.arrived += part.arrived;
        }
        placed.sort_unstable_by_key(|(i, _)| *i);
        whole.terminals = placed.into_iter().map(|(_, t)| t).collect();
        whole
    }

    /// The part of the terminal with EUI-64 `eui`, if it is a registered one.
    fn of(&self, eui: [u8; 8]) -> Option<&TerminalTally> {
        self.index(eui).and_then(|i| self.terminals.get(i))
    }

    fn index(&self, eui: [u8; 8]) -> Option<usize> {
        let k = terminal_of(eui);
        (k >= 1 && terminal_eui(k).0 == eui)
            .then(|| terminal_place(k, self.smartmeters, &self.meters))
            .flatten()
            .filter(|i| *i < self.terminals.len())
    }

    /// What terminal `eui`'s meter counted for its slot at `slot` (Unix seconds), if
    /// the terminal read it then.
    pub fn truth(&self, eui: [u8; 8], slot: i64) -> Option<(u32, u32)> {
        let t = &self.of(eui)?.truth;
        t.binary_search_by_key(&slot, |(s, _)| *s)
            .ok()
            .map(|i| t[i].1)
    }

    /// Terminal `eui`'s meter counted `count` when the terminal asked for slot `slot`:
    /// kept unless an earlier ask of the slot was.
    pub fn count(&mut self, eui: [u8; 8], slot: i64, count: (u32, u32)) {
        let Some(i) = self.index(eui) else {
            return;
        };
        let t = &mut self.terminals[i].truth;
        if let Err(at) = t.binary_search_by_key(&slot, |(s, _)| *s) {
            if t.len() == t.capacity() {
                // Eight hours of 30-minute slots at a time, not doubling: the asks of a
                // run a few past a power of two held nearly twice their room.
                t.reserve_exact(16);
            }
            t.insert(at, (slot, count));
        }
    }

    /// Terminal `eui`'s rows follow `interval` from boundary `from` on (TRM-11: the node
    /// said the switch took effect there): the boundaries expected of it from there are
    /// `from` and the new interval's after it, to the run's last.
    pub fn switch(&mut self, eui: [u8; 8], from: i64, interval: Interval) {
        let Some(i) = self.index(eui) else {
            return;
        };
        let (grid, last) = (self.grid, self.grid.last());
        let s = self.switched.entry(i).or_default();
        // What was expected from `from` on, dropped: the run's boundaries (at the first
        // switch) or those of the switch before; and how many of them had a row.
        let (old, had_rows) = if s.switches.is_empty() {
            let k = grid.before(from);
            let rows = self.terminals[i].arrived.get(k..).unwrap_or_default();
            (
                grid.count - k,
                rows.iter().filter(|r| r.get().is_some()).count(),
            )
        } else {
            let k = s.boundaries.partition_point(|b| *b < from);
            let rows = s.arrived.split_off(k);
            s.boundaries.truncate(k);
            (
                rows.len(),
                rows.iter().filter(|r| r.get().is_some()).count(),
            )
        };
        s.switches.push((from, interval));
        let kept = s.boundaries.len();
        let every = interval.seconds();
        let step = usize::try_from(every).unwrap_or(usize::MAX);
        let after = (from - from.rem_euclid(every) + every..=last).step_by(step);
        // None before the run's first (a switch the node made before the run).
        s.boundaries.extend(
            (from <= last)
                .then_some(from)
                .into_iter()
                .chain(after)
                .filter(|b| *b >= grid.first),
        );
        s.arrived.resize(s.boundaries.len(), Arrived::default());
        let new = s.boundaries.len() - kept;
        self.expected = (self.expected + new).saturating_sub(old);
        // The node says where a switch took effect before that boundary's row is read,
        // so none of the dropped boundaries has a row yet; were one to, it no longer
        // counts.
        self.arrived = self.arrived.saturating_sub(had_rows);
    }

    /// The interval of terminal `eui`'s slot at `unix`.
    pub fn interval_at(&self, eui: [u8; 8], unix: i64) -> Interval {
        self.index(eui)
            .and_then(|i| self.switched.get(&i))
            .and_then(|s| s.switches.iter().rev().find(|(from, _)| *from <= unix))
            .map_or(self.grid.interval, |(_, interval)| *interval)
    }

    /// Terminal `eui`'s boundaries expected, in order (counted at every point of a run's
    /// report: not collected).
    pub fn boundaries(&self, eui: [u8; 8]) -> impl Iterator<Item = i64> + '_ {
        let grid = self.grid;
        let switched = self.index(eui).and_then(|i| self.switched.get(&i));
        let until = switched
            .and_then(|s| s.switches.first())
            .map_or(grid.count, |(f, _)| grid.before(*f));
        (0..until).map(move |k| grid.at(k)).chain(
            switched
                .into_iter()
                .flat_map(|s| s.boundaries.iter().copied()),
        )
    }

    /// Where terminal `i`'s row of boundary `unix` is kept, if it is expected.
    fn slot_mut(&mut self, i: usize, unix: i64) -> Option<&mut Arrived> {
        let grid = self.grid;
        if let Some(s) = self.switched.get_mut(&i) {
            if s.switches.first().is_some_and(|(from, _)| unix >= *from) {
                let k = s.boundaries.binary_search(&unix).ok()?;
                return s.arrived.get_mut(k);
            }
        }
        let k = grid.index(unix)?;
        let arrived = &mut self.terminals[i].arrived;
        if arrived.is_empty() {
            *arrived = vec![Arrived::default(); grid.count];
        }
        arrived.get_mut(k)
    }

    /// The row of boundary `unix` that arrived from terminal `eui`, if one did.
    pub fn arrival(&self, eui: [u8; 8], unix: i64) -> Option<SlotArrival> {
        let i = self.index(eui)?;
        if let Some(s) = self.switched.get(&i) {
            if s.switches.first().is_some_and(|(from, _)| unix >= *from) {
                let k = s.boundaries.binary_search(&unix).ok()?;
                return s.arrived.get(k)?.get();
            }
        }
        self.terminals[i].arrived.get(self.grid.index(unix)?)?.get()
    }

    /// The row of boundary `unix` arrived from terminal `eui`: kept if the boundary is
    /// one expected of it and the row is its first; whether it was.
    pub fn arrive(&mut self, eui: [u8; 8], unix: i64, arrival: SlotArrival) -> bool {
        let Some(i) = self.index(eui) else {
            return false;
        };
        let Some(slot) = self.slot_mut(i, unix) else {
            return false;
        };
        if slot.get().is_some() {
            return false;
        }
        *slot = Arrived::of(arrival);
        self.arrived += 1;
        true
    }

    /// The longest delay of a row that arrived.
    pub fn longest_delay(&self) -> Duration {
        self.terminals
            .iter()
            .flat_map(|t| t.arrived.iter())
            .chain(self.switched.values().flat_map(|s| s.arrived.iter()))
            .filter_map(|a| a.get())
            .map(|a| a.delay)
            .max()
            .unwrap_or_default()
    }

    /// (terminal, boundary) pairs expected.
    pub fn expected(&self) -> usize {
        self.expected
    }

    /// Whether every registered terminal's row of every boundary expected arrived.
    pub fn all_arrived(&self) -> bool {
        self.arrived == self.expected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The run's boundaries: `count` half hours from 2026-04-01 00:00 JST.
    fn grid(count: usize) -> Grid {
        Grid {
            first: FIRST,
            interval: Interval::Half,
            count,
        }
    }

    const FIRST: i64 = 1_774_969_200;

    /// Boundary `i` of [`grid`].
    fn at(i: usize) -> i64 {
        FIRST + 1800 * i64::try_from(i).unwrap()
    }

    fn row(delay_s: u64) -> SlotArrival {
        SlotArrival {
            delay: Duration::from_secs(delay_s),
            ac_in_wh: Some(1),
            ac_out_wh: Some(2),
            status: Some(0),
        }
    }

    #[test]
    fn an_arrival_is_kept_as_it_came_whichever_values_it_lacks() {
        let mut t = Tallies::new(1, grid(4), 1, 0..1);
        let one = terminal_eui(1).0;
        let rows = [
            SlotArrival {
                delay: Duration::new(7215, 422_240_001),
                ac_in_wh: None,
                ac_out_wh: Some(0),
                status: None,
            },
            SlotArrival {
                delay: Duration::ZERO,
                ac_in_wh: Some(u32::MAX),
                ac_out_wh: None,
                status: Some(0),
            },
            row(3),
        ];
        for (i, r) in rows.iter().enumerate() {
            assert!(t.arrive(one, at(i), *r));
            assert_eq!(t.arrival(one, at(i)), Some(*r));
        }
        assert_eq!(t.arrival(one, at(3)), None);
    }

    #[test]
    fn the_first_arrival_and_the_first_count_of_a_slot_are_kept() {
        let mut t = Tallies::new(2, grid(3), 1, 0..1);
        let (one, two) = (terminal_eui(1).0, terminal_eui(2).0);
        assert!(t.arrive(two, at(1), row(5)));
        assert!(
            !t.arrive(two, at(1), row(9)),
            "a second arrival is not kept"
        );
        assert_eq!(t.arrival(two, at(1)), Some(row(5)));
        assert_eq!(t.arrival(one, at(1)), None);
        assert!(!t.arrive(two, at(3), row(1)), "not a scheduled slot");
        assert!(
            !t.arrive(two, at(1) + 900, row(1)),
            "not a boundary of the run"
        );
        assert!(
            !t.arrive(terminal_eui(3).0, at(0), row(1)),
            "not a registered terminal"
        );

        t.count(one, 3600, (10, 0));
        t.count(one, 1800, (5, 0));
        t.count(one, 3600, (11, 0));
        assert_eq!(t.truth(one, 1800), Some((5, 0)));
        assert_eq!(
            t.truth(one, 3600),
            Some((10, 0)),
            "the first ask of a slot counts"
        );
        assert_eq!(t.truth(two, 3600), None);

        assert_eq!(t.longest_delay(), Duration::from_secs(5));
        assert!(!t.all_arrived());
        for k in [one, two] {
            for i in 0..3 {
                t.arrive(k, at(i), row(1));
            }
        }
        assert!(t.all_arrived());
    }

    #[test]
    fn trm11_a_switched_terminal_is_expected_on_its_own_boundaries_from_the_switch() {
        let mut t = Tallies::new(2, grid(5), 1, 0..1);
        let (one, two) = (terminal_eui(1).0, terminal_eui(2).0);
        assert_eq!(
            t.boundaries(one).collect::<Vec<_>>(),
            (0..5).map(at).collect::<Vec<_>>()
        );
        assert!(t.arrive(one, at(0), row(1)));
        // From boundary 2 on, every 15 minutes to the run's last (boundary 4).
        t.switch(one, at(2), Interval::Quarter);
        let own = vec![at(0), at(1), at(2), at(2) + 900, at(3), at(3) + 900, at(4)];
        assert_eq!(t.boundaries(one).collect::<Vec<_>>(), own);
        assert_eq!(t.interval_at(one, at(1)), Interval::Half);
        assert_eq!(t.interval_at(one, at(2) + 900), Interval::Quarter);
        assert_eq!(
            t.interval_at(two, at(2) + 900),
            Interval::Half,
            "the other terminal's"
        );
        assert!(!t.arrive(one, at(1) + 900, row(1)), "before the switch");
        for b in &own[1..] {
            assert!(t.arrive(one, *b, row(2)), "{b}");
            assert_eq!(t.arrival(one, *b), Some(row(2)));
        }
        for i in 0..5 {
            t.arrive(two, at(i), row(1));
        }
        assert!(t.all_arrived());
        // Switched back to 30 minutes at boundary 3: its quarter after it is no longer
        // expected.
        let mut t = Tallies::new(1, grid(5), 1, 0..1);
        t.switch(one, at(1), Interval::Quarter);
        t.switch(one, at(3), Interval::Half);
        assert_eq!(
            t.boundaries(one).collect::<Vec<_>>(),
            vec![at(0), at(1), at(1) + 900, at(2), at(2) + 900, at(3), at(4)]
        );
        for b in t.boundaries(one).collect::<Vec<_>>() {
            assert!(!t.all_arrived());
            assert!(t.arrive(one, b, row(3)));
        }
        assert!(t.all_arrived());
        assert!(!t.arrive(one, at(3) + 900, row(1)));
        // A switch before the run's first boundary expects none before it.
        let mut t = Tallies::new(1, grid(2), 1, 0..1);
        t.switch(one, FIRST - 900, Interval::Quarter);
        assert_eq!(
            t.boundaries(one).collect::<Vec<_>>(),
            vec![at(0), at(0) + 900, at(1)]
        );
    }
}
