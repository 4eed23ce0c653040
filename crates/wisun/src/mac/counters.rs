//! Frame counters (SEC-03), sans-IO. A receiver keeps, per (peer EUI-64, key index), the
//! highest frame counter it accepted and refuses any frame whose counter does not
//! increase (a replay), counting the refusals. A sender hands out counters from one
//! monotonically increasing value per key and says "rekey needed" once it passes a
//! threshold instead of wrapping: a wrapped counter would reuse CCM* nonces.
//!
//! Check a counter only after the MIC verified: otherwise a forged frame could push
//! the stored value up and lock the real peer out.

use alloc::collections::BTreeMap;

use super::Eui64;

/// A frame whose counter did not increase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("replayed frame counter {received} from {peer} (key {key_index}), last accepted {last}")]
pub struct Replay {
    /// The sender.
    pub peer: Eui64,
    /// The key index.
    pub key_index: u8,
    /// The counter received.
    pub received: u32,
    /// The highest counter accepted before.
    pub last: u32,
}

/// The receiver's table of highest accepted counters.
#[derive(Debug, Clone, Default)]
pub struct ReplayGuard {
    last: BTreeMap<(Eui64, u8), u32>,
    replays: u64,
}

impl ReplayGuard {
    /// An empty table.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Accept `counter` from `peer` under `key_index` if it is above every counter
    /// accepted before for that pair (SEC-03), and remember it.
    ///
    /// # Errors
    /// [`Replay`] (counted) when it is not.
    pub fn accept(&mut self, peer: Eui64, key_index: u8, counter: u32) -> Result<(), Replay> {
        match self.last.get(&(peer, key_index)) {
            Some(&last) if counter <= last => {
                self.replays += 1;
                Err(Replay {
                    peer,
                    key_index,
                    received: counter,
                    last,
                })
            }
            _ => {
                self.last.insert((peer, key_index), counter);
                Ok(())
            }
        }
    }

    /// Frames refused as replays so far.
    #[must_use]
    pub const fn replays(&self) -> u64 {
        self.replays
    }

    /// The highest counter accepted from `peer` under `key_index`.
    #[must_use]
    pub fn last(&self, peer: Eui64, key_index: u8) -> Option<u32> {
        self.last.get(&(peer, key_index)).copied()
    }

    /// Forget a peer (it left, or was removed); its next frame starts a new record.
    pub fn forget(&mut self, peer: Eui64) {
        self.last.retain(|(p, _), _| *p != peer);
    }

    /// Forget every record of a retired key index.
    pub fn retire_key(&mut self, key_index: u8) {
        self.last.retain(|(_, k), _| *k != key_index);
    }
}

/// The sender's counter would reach 0xFFFFFFFF, which the standard forbids: no frame may
/// be sent under this key any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("frame counter exhausted: a new key is needed before sending")]
pub struct CounterExhausted;

/// A counter handed out for one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextCounter {
    /// The value to put in the frame.
    pub counter: u32,
    /// The counter has passed the rekey threshold: ask for a new key now, while frames
    /// can still be sent.
    pub rekey_needed: bool,
}

/// The sender's counter for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutgoingCounter {
    next: u32,
    rekey_threshold: u32,
}

impl OutgoingCounter {
    /// Default threshold (ours): 2^32 - 2^24, leaving 16 million frames for the rekey.
    pub const DEFAULT_REKEY_THRESHOLD: u32 = 0xFF00_0000;

    /// A counter starting at `next`, reporting "rekey needed" from `rekey_threshold` on.
    #[must_use]
    pub const fn new(next: u32, rekey_threshold: u32) -> Self {
        Self {
            next,
            rekey_threshold,
        }
    }

    /// The counter for the next frame.
    ///
    /// # Errors
    /// [`CounterExhausted`] once 0xFFFFFFFE has been used: the counter never wraps.
    pub fn allocate(&mut self) -> Result<NextCounter, CounterExhausted> {
        let counter = self.next;
        if counter == u32::MAX {
            return Err(CounterExhausted);
        }
        self.next = counter + 1;
        Ok(NextCounter {
            counter,
            rekey_needed: counter >= self.rekey_threshold,
        })
    }

    /// The value the next frame will carry (to persist before use).
    #[must_use]
    pub const fn peek(&self) -> u32 {
        self.next
    }
}

impl Default for OutgoingCounter {
    fn default() -> Self {
        Self::new(0, Self::DEFAULT_REKEY_THRESHOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: Eui64 = Eui64([2, 0x11, 0x22, 0x33, 0x44, 0x55, 0, 2]);

    #[test]
    fn sec03_replayed_or_old_counter_is_refused_and_counted() {
        let mut g = ReplayGuard::new();
        assert_eq!(g.accept(PEER, 1, 5), Ok(()));
        assert!(g.accept(PEER, 1, 5).is_err());
        assert_eq!(
            g.accept(PEER, 1, 4),
            Err(Replay {
                peer: PEER,
                key_index: 1,
                received: 4,
                last: 5
            })
        );
        assert_eq!(g.replays(), 2);
        assert_eq!(g.accept(PEER, 1, 6), Ok(()));
        // Another key index keeps its own record.
        assert_eq!(g.accept(PEER, 2, 0), Ok(()));
        g.forget(PEER);
        assert_eq!(g.accept(PEER, 1, 0), Ok(()));
    }

    #[test]
    fn sec03_sender_reports_rekey_and_never_wraps() {
        let mut c = OutgoingCounter::new(u32::MAX - 3, u32::MAX - 2);
        assert!(!c.allocate().unwrap().rekey_needed);
        assert_eq!(
            c.allocate(),
            Ok(NextCounter {
                counter: u32::MAX - 2,
                rekey_needed: true
            })
        );
        assert_eq!(c.allocate().map(|n| n.counter), Ok(u32::MAX - 1));
        assert_eq!(c.allocate(), Err(CounterExhausted));
        assert_eq!(c.allocate(), Err(CounterExhausted));
        assert_eq!(c.peek(), u32::MAX);
    }
}
