//! A node's outgoing CCM* frame counters (SEC-03), kept so that no (key, source, frame
//! counter) is ever used twice: the nonce is our EUI-64 and the counter, so a repeat
//! under one key gives away the keystream and lets a receiver take the second frame for
//! a replay.
//!
//! - One counter per **key**, named by its check value (`wisun::ccm_star::
//!   key_check_value`), not by its index: a terminal that loses its smart meter and joins
//!   again gets the same group key back from the PAA and must go on above the counters it
//!   used, while a new key (an index reused after 255 rollovers included) starts afresh.
//!   Forgetting the keys on a rejoin does not forget their counters.
//! - **Reserved ahead and persisted** as 802.15.4 keeps its frame counter in non-volatile
//!   memory: a counter is handed out only below a reservation; passing it moves the
//!   reservation a block further and marks the table for the driver to write
//!   ([`FrameCounters::take_snapshot`]) before the frame goes on the air. After a restart
//!   every key resumes at its reservation (at most one block of counters is skipped,
//!   never one reused).
//! - **Bounded**: at most [`FrameCounters::MAX_KEYS`] keys are remembered; the key least
//!   recently used goes, and its reservation raises the floor every new key starts from,
//!   so a forgotten key that came back still could not repeat a counter.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wisun::mac::counters::{CounterExhausted, NextCounter};

/// A key's check value (8 bytes of AES under the key of the zero block).
pub type KeyTag = [u8; 8];

/// What a driver persists: every remembered key's reservation and the floor.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterSnapshot {
    /// Counters below this were handed out (or may have been) under keys we forgot.
    pub floor: u32,
    /// Per key (its check value in hex): counters below the reservation may have been
    /// used.
    pub keys: BTreeMap<String, u32>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    next: u32,
    reserved: u32,
    /// When the key was last used (a sequence number): the oldest is forgotten first.
    used: u64,
}

/// The table; see the module documentation.
#[derive(Debug, Clone)]
pub struct FrameCounters {
    keys: BTreeMap<KeyTag, Entry>,
    floor: u32,
    block: u32,
    clock: u64,
    dirty: bool,
}

impl Default for FrameCounters {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameCounters {
    /// Keys remembered at most.
    pub const MAX_KEYS: usize = 16;
    /// Counters reserved at a time **(ours)**: one write per 1024 frames under a key.
    pub const BLOCK: u32 = 1024;

    /// An empty table (a node that never sent a secured frame).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            keys: BTreeMap::new(),
            floor: 0,
            block: Self::BLOCK,
            clock: 0,
            dirty: false,
        }
    }

    /// The table a driver kept: each key resumes at its reservation.
    #[must_use]
    pub fn restore(snapshot: &CounterSnapshot) -> Self {
        let mut table = Self::new();
        table.floor = snapshot.floor;
        for (hex, &reserved) in &snapshot.keys {
            let Some(tag) = parse_tag(hex) else {
                // A damaged name: its counters cannot be told apart any more, so every
                // key starts above them.
                tracing::warn!(name = %hex, "frame counter entry with a bad key name: raising the floor");
                table.floor = table.floor.max(reserved);
                continue;
            };
            table.clock += 1;
            // One key named twice (another spelling of its hex): the higher reservation.
            let entry = table.keys.entry(tag).or_insert(Entry {
                next: reserved,
                reserved,
                used: table.clock,
            });
            entry.reserved = entry.reserved.max(reserved);
            entry.next = entry.reserved;
        }
        table
    }

    /// The counter for the next frame under the key `tag`, `rekey_threshold` telling
    /// when to report that a new key is needed.
    ///
    /// # Errors
    /// [`CounterExhausted`] once 0xFFFFFFFE was used under this key.
    pub fn allocate(
        &mut self,
        tag: KeyTag,
        rekey_threshold: u32,
    ) -> Result<NextCounter, CounterExhausted> {
        self.clock += 1;
        let clock = self.clock;
        if !self.keys.contains_key(&tag) {
            self.make_room();
            let start = self.floor;
            self.keys.insert(
                tag,
                Entry {
                    next: start,
                    reserved: start,
                    used: clock,
                },
            );
        }
        let entry = self.keys.get_mut(&tag).ok_or(CounterExhausted)?;
        entry.used = clock;
        let counter = entry.next;
        if counter == u32::MAX {
            return Err(CounterExhausted);
        }
        if counter >= entry.reserved {
            entry.reserved = counter.saturating_add(self.block);
            self.dirty = true;
        }
        entry.next = counter + 1;
        Ok(NextCounter {
            counter,
            rekey_needed: counter >= rekey_threshold,
        })
    }

    /// The next counter under `tag` (`None`: a key we never sent under).
    #[must_use]
    pub fn peek(&self, tag: &KeyTag) -> Option<u32> {
        self.keys.get(tag).map(|e| e.next)
    }

    /// The table to persist, when a reservation moved since the last call: the driver
    /// writes it before it puts the next frame on the air.
    pub fn take_snapshot(&mut self) -> Option<CounterSnapshot> {
        core::mem::take(&mut self.dirty).then(|| self.snapshot())
    }

    /// The table as it stands.
    #[must_use]
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            floor: self.floor,
            keys: self
                .keys
                .iter()
                .map(|(tag, e)| (hex(tag), e.reserved))
                .collect(),
        }
    }

    /// Forget the least recently used key when the table is full; new keys then start
    /// above everything it may have used.
    fn make_room(&mut self) {
        while self.keys.len() >= Self::MAX_KEYS {
            let Some((&oldest, _)) = self.keys.iter().min_by_key(|(_, e)| e.used) else {
                return;
            };
            if let Some(e) = self.keys.remove(&oldest) {
                self.floor = self.floor.max(e.reserved);
                self.dirty = true;
            }
        }
    }
}

fn hex(tag: &KeyTag) -> String {
    tag.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_tag(s: &str) -> Option<KeyTag> {
    if s.len() != 16 || !s.is_ascii() {
        return None;
    }
    let mut tag = [0; 8];
    for (i, b) in tag.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_REKEY: u32 = u32::MAX;

    fn tag(n: u8) -> KeyTag {
        [n; 8]
    }

    #[test]
    fn sec03_a_key_counts_on_and_a_new_key_starts_afresh() {
        let mut c = FrameCounters::new();
        for want in 0..5 {
            assert_eq!(c.allocate(tag(1), NO_REKEY).unwrap().counter, want);
        }
        assert_eq!(c.allocate(tag(2), NO_REKEY).unwrap().counter, 0);
        assert_eq!(c.allocate(tag(1), NO_REKEY).unwrap().counter, 5);
    }

    #[test]
    fn sec03_a_restart_resumes_above_every_counter_that_may_have_been_used() {
        let mut c = FrameCounters::new();
        let first = c.allocate(tag(1), NO_REKEY).unwrap();
        assert_eq!(first.counter, 0);
        // The first frame moved the reservation: the driver must write it first.
        let snap = c.take_snapshot().expect("reservation to persist");
        assert_eq!(snap.keys.get(&hex(&tag(1))), Some(&FrameCounters::BLOCK));
        for _ in 1..FrameCounters::BLOCK {
            c.allocate(tag(1), NO_REKEY).unwrap();
        }
        assert!(c.take_snapshot().is_none(), "within the reservation");
        // A kill here: the restored table starts at the reservation written.
        let mut back = FrameCounters::restore(&snap);
        assert_eq!(
            back.allocate(tag(1), NO_REKEY).unwrap().counter,
            FrameCounters::BLOCK
        );
        assert!(back.take_snapshot().is_some());
        // The serialized form round-trips.
        let json = serde_json::to_string(&snap).unwrap();
        assert_eq!(
            serde_json::from_str::<CounterSnapshot>(&json).unwrap(),
            snap
        );
    }

    #[test]
    fn sec03_a_forgotten_key_raises_the_floor_for_every_new_key() {
        let mut c = FrameCounters::new();
        for _ in 0..10 {
            c.allocate(tag(0), NO_REKEY).unwrap();
        }
        for n in 1..=u8::try_from(FrameCounters::MAX_KEYS).unwrap() {
            c.allocate(tag(n), NO_REKEY).unwrap();
        }
        // Key 0 was the least recently used: forgotten, its reservation is the floor.
        assert_eq!(c.peek(&tag(0)), None);
        assert_eq!(
            c.allocate(tag(0), NO_REKEY).unwrap().counter,
            FrameCounters::BLOCK
        );
    }

    #[test]
    fn sec03_the_counter_never_wraps_and_reports_the_rekey() {
        let snap = CounterSnapshot {
            floor: 0,
            keys: [(hex(&tag(1)), u32::MAX - 1)].into_iter().collect(),
        };
        let mut c = FrameCounters::restore(&snap);
        let last = c.allocate(tag(1), u32::MAX - 10).unwrap();
        assert_eq!(last.counter, u32::MAX - 1);
        assert!(last.rekey_needed);
        assert_eq!(c.allocate(tag(1), NO_REKEY), Err(CounterExhausted));
    }

    #[test]
    fn sec03_a_key_named_twice_resumes_above_the_higher_reservation() {
        let snap = CounterSnapshot {
            floor: 0,
            keys: [
                ("AAAAAAAAAAAAAAAA".to_owned(), 9000),
                ("aaaaaaaaaaaaaaaa".to_owned(), 10),
            ]
            .into_iter()
            .collect(),
        };
        let mut c = FrameCounters::restore(&snap);
        assert_eq!(c.allocate([0xAA; 8], NO_REKEY).unwrap().counter, 9000);
    }

    #[test]
    fn sec06_a_damaged_key_name_raises_the_floor_instead_of_being_lost() {
        let snap = CounterSnapshot {
            floor: 3,
            keys: [("zz".to_owned(), 5000)].into_iter().collect(),
        };
        let mut c = FrameCounters::restore(&snap);
        assert_eq!(c.allocate(tag(9), NO_REKEY).unwrap().counter, 5000);
    }
}
