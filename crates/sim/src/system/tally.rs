//! What a run counts for its summary: per registered terminal, what its meter counted at
//! each slot and which scheduled slots' rows arrived, when, with which values. Kept per
//! terminal in vectors, not in maps keyed by (terminal, slot): a run of a million
//! terminals holds one of these each, and three ordered maps cost about 7.6 KiB per
//! terminal and day where these cost about 2.

use core::time::Duration;

use super::{terminal_eui, terminal_of};

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

/// Every registered terminal's part, by terminal number.
#[derive(Debug)]
pub(super) struct Tallies {
    terminals: Vec<TerminalTally>,
    /// Scheduled slots of the run.
    slots: usize,
    /// (terminal, scheduled slot) pairs whose row arrived.
    arrived: usize,
}

impl Tallies {
    /// For terminals `1..=terminals` over `slots` scheduled slots.
    pub fn new(terminals: u32, slots: usize) -> Self {
        Self {
            terminals: (0..terminals).map(|_| TerminalTally::default()).collect(),
            slots,
            arrived: 0,
        }
    }

    /// The part of the terminal with EUI-64 `eui`, if it is a registered one.
    fn of(&self, eui: [u8; 8]) -> Option<&TerminalTally> {
        self.index(eui).and_then(|i| self.terminals.get(i))
    }

    fn index(&self, eui: [u8; 8]) -> Option<usize> {
        let k = terminal_of(eui);
        (k >= 1 && terminal_eui(k).0 == eui)
            .then(|| usize::try_from(k - 1).ok())
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

    /// The row of scheduled slot `index` that arrived from terminal `eui`, if one did.
    pub fn arrival(&self, eui: [u8; 8], index: usize) -> Option<SlotArrival> {
        self.of(eui)?.arrived.get(index)?.get()
    }

    /// The row of scheduled slot `index` arrived from terminal `eui`: kept if it is the
    /// first; whether it was.
    pub fn arrive(&mut self, eui: [u8; 8], index: usize, arrival: SlotArrival) -> bool {
        let (Some(i), true) = (self.index(eui), index < self.slots) else {
            return false;
        };
        let arrived = &mut self.terminals[i].arrived;
        if arrived.is_empty() {
            *arrived = vec![Arrived::default(); self.slots];
        }
        if arrived[index].get().is_some() {
            return false;
        }
        arrived[index] = Arrived::of(arrival);
        self.arrived += 1;
        true
    }

    /// The longest delay of a row that arrived.
    pub fn longest_delay(&self) -> Duration {
        self.terminals
            .iter()
            .flat_map(|t| t.arrived.iter().filter_map(|a| a.get()))
            .map(|a| a.delay)
            .max()
            .unwrap_or_default()
    }

    /// Whether every registered terminal's row of every scheduled slot arrived.
    pub fn all_arrived(&self) -> bool {
        self.arrived == self.terminals.len() * self.slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut t = Tallies::new(1, 4);
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
            assert!(t.arrive(one, i, *r));
            assert_eq!(t.arrival(one, i), Some(*r));
        }
        assert_eq!(t.arrival(one, 3), None);
    }

    #[test]
    fn the_first_arrival_and_the_first_count_of_a_slot_are_kept() {
        let mut t = Tallies::new(2, 3);
        let (one, two) = (terminal_eui(1).0, terminal_eui(2).0);
        assert!(t.arrive(two, 1, row(5)));
        assert!(!t.arrive(two, 1, row(9)), "a second arrival is not kept");
        assert_eq!(t.arrival(two, 1), Some(row(5)));
        assert_eq!(t.arrival(one, 1), None);
        assert!(!t.arrive(two, 3, row(1)), "not a scheduled slot");
        assert!(
            !t.arrive(terminal_eui(3).0, 0, row(1)),
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
                t.arrive(k, i, row(1));
            }
        }
        assert!(t.all_arrived());
    }
}
