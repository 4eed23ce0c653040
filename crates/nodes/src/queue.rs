//! Queues that give their memory back once emptied. A node's queues fill in bursts (a
//! reading's frames, a request's datagrams, an LED change's events) and are empty
//! nearly all the time; a `VecDeque` keeps the room of its largest burst for good, and
//! a simulated run holds a node per terminal, each with half a dozen such queues (about
//! 1.5 KB a terminal of the peak heap at 10,000 terminals, docs/benchmarks.md,
//! fourteenth session).

use std::collections::VecDeque;

/// The front of `queue`; its room freed when that left it empty (the next push
/// allocates afresh, a burst's worth).
pub fn pop_front<T>(queue: &mut VecDeque<T>) -> Option<T> {
    let item = queue.pop_front();
    if queue.is_empty() && queue.capacity() > 0 {
        *queue = VecDeque::new();
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_emptied_holds_no_room_and_keeps_its_order_until_then() {
        let mut q: VecDeque<u32> = (1..=5).collect();
        assert!(q.capacity() >= 5);
        let popped: Vec<u32> = std::iter::from_fn(|| pop_front(&mut q)).collect();
        assert_eq!(popped, [1, 2, 3, 4, 5]);
        assert_eq!(q.capacity(), 0, "an emptied queue keeps no room");
        q.push_back(6);
        q.push_back(7);
        assert_eq!(pop_front(&mut q), Some(6));
        assert!(q.capacity() > 0, "room kept while an item is left");
        assert_eq!(pop_front(&mut q), Some(7));
        assert_eq!(q.capacity(), 0);
        assert_eq!(pop_front(&mut q), None);
    }
}
