//! Invocation-counter reservation: how a server's own invocation counter (IC) survives a
//! restart without a write to storage per APDU (SEC-03).
//!
//! Why: suite 0 uses the system title and the IC as the GCM nonce. A server that starts
//! again from a counter it already used, under unchanged keys, reuses nonces, which
//! leaks the authentication subkey and lets anyone forge. Writing the counter after each
//! APDU is not enough (a crash between sending and writing loses the last ones) and is
//! too slow on flash; so the caller persists a *mark* above the counters it may spend,
//! before it spends them, and after a restart resumes at the mark. Counters reserved but
//! never spent are skipped, which costs nothing (Gurux and the Green Book only require
//! "greater than the last one").
//!
//! Sans-IO: [`CounterReservation`] says when a new mark must be written and what it is;
//! the caller writes it (atomically, durably) and then calls
//! [`CounterReservation::persisted`]. Until then nothing above the old mark may be sent.

/// Counters reserved by one write, by default.
pub const DEFAULT_BLOCK: u32 = 1000;
/// Reserve again when fewer than this many counters are left: one request makes the
/// server spend at most a few (AARE, HLS reply, one response block).
pub const DEFAULT_HEADROOM: u32 = 16;

/// The mark on storage and when to move it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterReservation {
    reserved: u32,
    block: u32,
    headroom: u32,
}

impl CounterReservation {
    /// After a (re)start: `saved_mark` is the mark read from storage (0 when there is
    /// none). Give [`CounterReservation::start_counter`] to the engine as its last used
    /// counter, then persist [`CounterReservation::reserve_before`]`(start_counter())`
    /// before serving.
    #[must_use]
    pub const fn resume(saved_mark: u32) -> Self {
        Self {
            reserved: saved_mark,
            block: DEFAULT_BLOCK,
            headroom: DEFAULT_HEADROOM,
        }
    }

    /// With another block size and headroom (`headroom` is clamped below `block`).
    #[must_use]
    pub fn with_block(self, block: u32, headroom: u32) -> Self {
        let block = block.max(2);
        Self {
            block,
            headroom: headroom.clamp(1, block - 1),
            ..self
        }
    }

    /// The counter the engine must take as its last used one: the saved mark, so that
    /// every counter it spends is above everything the previous run could have spent.
    #[must_use]
    pub const fn start_counter(&self) -> u32 {
        self.reserved
    }

    /// The mark persisted so far.
    #[must_use]
    pub const fn reserved(&self) -> u32 {
        self.reserved
    }

    /// With the engine's last used counter `last_used`: the new mark to persist before
    /// it spends more, or `None` while enough are reserved (or at the top of the range,
    /// where no mark can go higher and the engine refuses to cipher anyway).
    #[must_use]
    pub const fn reserve_before(&self, last_used: u32) -> Option<u32> {
        if last_used.saturating_add(self.headroom) <= self.reserved {
            return None;
        }
        let next = last_used.saturating_add(self.block);
        if next <= self.reserved {
            None
        } else {
            Some(next)
        }
    }

    /// The caller wrote `mark` durably.
    pub fn persisted(&mut self, mark: u32) {
        self.reserved = self.reserved.max(mark);
    }

    /// Whether counter `ic` was covered by a persisted mark, i.e. may be sent.
    #[must_use]
    pub const fn covers(&self, ic: u32) -> bool {
        ic <= self.reserved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec03_first_start_reserves_a_block_before_any_counter_is_spent() {
        let r = CounterReservation::resume(0);
        assert_eq!(r.start_counter(), 0);
        assert!(!r.covers(1), "nothing may be sent before the first write");
        assert_eq!(r.reserve_before(0), Some(DEFAULT_BLOCK));
    }

    #[test]
    fn sec03_mark_moves_only_when_the_headroom_runs_out() {
        let mut r = CounterReservation::resume(0).with_block(100, 10);
        r.persisted(r.reserve_before(0).unwrap());
        assert_eq!(r.reserved(), 100);
        assert_eq!(r.reserve_before(89), None);
        assert!(r.covers(100));
        assert!(!r.covers(101));
        assert_eq!(r.reserve_before(91), Some(191));
        r.persisted(191);
        assert_eq!(r.reserve_before(91), None);
        // A stale (lower) write never lowers the mark.
        r.persisted(5);
        assert_eq!(r.reserved(), 191);
    }

    #[test]
    fn sec03_restart_resumes_above_everything_the_previous_run_could_spend() {
        let mut before = CounterReservation::resume(0);
        before.persisted(before.reserve_before(0).unwrap());
        // The previous run spent up to 37, or up to the mark: either way below it.
        let after = CounterReservation::resume(before.reserved());
        assert_eq!(after.start_counter(), DEFAULT_BLOCK);
        assert_eq!(
            after.reserve_before(after.start_counter()),
            Some(2 * DEFAULT_BLOCK)
        );
    }

    #[test]
    fn sec03_top_of_the_range_asks_for_no_write_it_cannot_make() {
        let mut r = CounterReservation::resume(u32::MAX - 5);
        assert_eq!(r.reserve_before(u32::MAX - 5), Some(u32::MAX));
        r.persisted(u32::MAX);
        assert_eq!(r.reserve_before(u32::MAX - 1), None);
        assert_eq!(r.reserve_before(u32::MAX), None);
    }

    #[test]
    fn with_block_keeps_headroom_below_the_block() {
        let r = CounterReservation::resume(0).with_block(1, 50);
        assert_eq!(r.reserve_before(0), Some(2));
    }
}
