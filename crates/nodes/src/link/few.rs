//! A map of a few entries kept inline, in key order: what a MAC holds per key index (one
//! or two keys at a time, a rollover's overlap) and per sender (a terminal hears one
//! smart meter). A `BTreeMap` put each on the heap in a node of room for eleven — about
//! 200 bytes a map, four maps a MAC and one MAC a node of a simulated network of a
//! million. Looked up by a linear pass: a few entries, in the cache line of the MAC.
//! Ours: the crates that keep a map inline (`litemap`, `vecmap-rs`) keep it in a `Vec`.

use smallvec::SmallVec;

/// Up to `N` entries inline, more on the heap; iterated in key order, as a `BTreeMap`.
#[derive(Debug, Clone, Default)]
pub struct Few<K, V, const N: usize> {
    entries: SmallVec<[(K, V); N]>,
}

impl<K: Ord + Copy, V, const N: usize> Few<K, V, N> {
    /// An empty map.
    #[must_use]
    pub fn new() -> Self {
        Self {
            entries: SmallVec::new(),
        }
    }

    /// Where `key` is, or where it would go.
    fn find(&self, key: K) -> Result<usize, usize> {
        self.entries.binary_search_by(|(k, _)| k.cmp(&key))
    }

    /// The value of `key`.
    #[must_use]
    pub fn get(&self, key: K) -> Option<&V> {
        self.find(key).ok().map(|i| &self.entries[i].1)
    }

    /// Whether `key` has a value.
    #[must_use]
    pub fn contains_key(&self, key: K) -> bool {
        self.find(key).is_ok()
    }

    /// Set `key`'s value; the one it replaces.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.find(key) {
            Ok(i) => Some(core::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// Take `key`'s value out.
    pub fn remove(&mut self, key: K) -> Option<V> {
        self.find(key).ok().map(|i| self.entries.remove(i).1)
    }

    /// No entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forget every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// The entries, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (K, &V)> {
        self.entries.iter().map(|(k, v)| (*k, v))
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl Iterator<Item = K> + '_ {
        self.entries.iter().map(|(k, _)| *k)
    }

    /// The values, in key order.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.iter().map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any inserts and removes leave it as a `BTreeMap` given the same, in the same
        /// order, inline or spilled to the heap.
        #[test]
        fn it_answers_as_a_btreemap(ops in proptest::collection::vec((any::<bool>(), 0u8..6, any::<u16>()), 0..40)) {
            let mut few: Few<u8, u16, 2> = Few::new();
            let mut model = std::collections::BTreeMap::new();
            for (insert, k, v) in ops {
                if insert {
                    prop_assert_eq!(few.insert(k, v), model.insert(k, v));
                } else {
                    prop_assert_eq!(few.remove(k), model.remove(&k));
                }
                prop_assert_eq!(few.get(k), model.get(&k));
                prop_assert_eq!(few.contains_key(k), model.contains_key(&k));
                prop_assert_eq!(few.is_empty(), model.is_empty());
                prop_assert_eq!(few.iter().collect::<Vec<_>>(), model.iter().map(|(k, v)| (*k, v)).collect::<Vec<_>>());
            }
            few.clear();
            prop_assert!(few.is_empty());
        }
    }
}
