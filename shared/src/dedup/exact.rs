//! Exact duplicates: records whose matching text is the same after normalisation.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use xxhash_rust::xxh3::xxh3_128;

/// The 128-bit key of a matching text (xxh3-128). Equal texts give equal keys; two different
/// texts collide with probability about `n^2 / 2^129` for `n` records, which is negligible
/// even for billions of records, so the text itself need not be kept to compare.
pub fn exact_key(text: &str) -> u128 {
    xxh3_128(text.as_bytes())
}

/// Tracks the first record seen with each key.
#[derive(Debug, Default, Clone)]
pub struct FirstSeen {
    first: HashMap<u128, usize>,
}

impl FirstSeen {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `key` for record `id` and returns the earlier record with the same key, if any.
    /// Call it in ascending `id` order so the earliest record is the one kept.
    pub fn insert(&mut self, key: u128, id: usize) -> Option<usize> {
        match self.first.entry(key) {
            Entry::Occupied(e) => Some(*e.get()),
            Entry::Vacant(e) => {
                e.insert(id);
                None
            }
        }
    }

    /// The record first seen with `key`, without recording anything.
    pub fn get(&self, key: u128) -> Option<usize> {
        self.first.get(&key).copied()
    }
}

/// For every key, the index of the first key equal to it (itself when it is the first).
pub fn first_occurrences(keys: &[u128]) -> Vec<usize> {
    let mut seen = FirstSeen::new();
    keys.iter()
        .enumerate()
        .map(|(i, &k)| seen.insert(k, i).unwrap_or(i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_occurrence_wins() {
        let k = |s: &str| exact_key(s);
        let keys = [k("a"), k("b"), k("a"), k("a"), k("c"), k("b")];
        assert_eq!(first_occurrences(&keys), vec![0, 1, 0, 0, 4, 1]);
    }
}
