//! Near-duplicate detection as pure, deterministic stages.
//!
//! The stages mirror datatrove's MinHash pipeline (signature -> bucket -> cluster -> filter)
//! so a distributed engine can run each one separately and get the local result:
//!
//! 1. [`signatures`]: one [`Signature`] per record (map, embarrassingly parallel);
//! 2. [`band_keys`]: the LSH band keys of a signature (map);
//! 3. [`buckets`]: records grouped by `(band, key)` (the shuffle / group-by);
//! 4. [`candidate_pairs`]: pairs of records that share a bucket (map over buckets);
//! 5. [`confirm_pairs`]: candidates whose similarity reaches the threshold (map over pairs);
//! 6. [`UnionFind`]: connected components, the smallest record index representing each;
//! 7. [`filter`]: the records that survive.
//!
//! Every stage's output is sorted or otherwise independent of hash-map iteration order, so the
//! same input gives the same output on every platform.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::DedupConfig;
use super::minhash::{MinHasher, Signature};
use super::normalize::record_text_into;
use crate::record::Record;

/// Buckets with at most this many members contribute all their pairs; larger ones (templated
/// boilerplate shared by thousands of records) contribute a star around their smallest member
/// plus the chain of neighbours, so the number of pairs stays linear in the bucket size.
pub const ALL_PAIRS_MAX_BUCKET: usize = 64;

/// Stage 1: the MinHash signature of every record's [`record_text`](super::record_text).
pub fn signatures(records: &[Record], cfg: &DedupConfig) -> Vec<Signature> {
    let hasher = MinHasher::new(cfg.ngram, cfg.permutations, cfg.seed);
    let (mut text, mut scratch) = (String::new(), Vec::new());
    records
        .iter()
        .map(|r| {
            record_text_into(r, &mut text);
            let mut sig = vec![0; hasher.permutations()];
            hasher.signature_into(&text, &mut scratch, &mut sig);
            Signature(sig)
        })
        .collect()
}

/// Rows per band for a signature of `permutations` values cut into `bands` bands; values left
/// over by an uneven division are not used. At least 1.
pub fn rows_per_band(permutations: usize, bands: usize) -> usize {
    (permutations / bands.max(1)).max(1)
}

/// Stage 2: `(band, key)` for each band of a signature: the band's rows hashed with xxh3
/// (seeded with the band number, so equal rows in different bands give different keys).
/// An empty signature (a text without words) has no keys: it is nobody's candidate.
pub fn band_keys(sig: &Signature, bands: usize) -> Vec<(usize, u64)> {
    let mut out = Vec::with_capacity(bands);
    band_keys_into(&sig.0, bands, &mut Vec::new(), |band, key| {
        out.push((band, key))
    });
    out
}

/// [`band_keys`] over a signature's values, calling `f(band, key)`, with `buf` as reusable
/// byte scratch.
pub(crate) fn band_keys_into(
    values: &[u64],
    bands: usize,
    buf: &mut Vec<u8>,
    mut f: impl FnMut(usize, u64),
) {
    if values.is_empty() || values.iter().all(|&v| v == u64::MAX) {
        return;
    }
    let rows = rows_per_band(values.len(), bands);
    for (band, chunk) in values.chunks_exact(rows).take(bands.max(1)).enumerate() {
        buf.clear();
        for v in chunk {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        f(band, xxh3_64_with_seed(buf, band as u64));
    }
}

/// One record's key in one band: the row a distributed run shuffles on `(band, key)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BandEntry {
    pub band: u32,
    pub key: u64,
    /// Index of the record.
    pub id: usize,
}

/// Stage 3: groups entries by `(band, key)`. Returns the buckets with at least two distinct
/// records, each sorted ascending, in `(band, key)` order.
pub fn buckets(mut entries: Vec<BandEntry>) -> Vec<Vec<usize>> {
    // Sorting instead of hashing: no allocation per key, and the order is deterministic.
    entries.sort_unstable();
    let mut out = Vec::new();
    for run in entries.chunk_by(|x, y| x.band == y.band && x.key == y.key) {
        if run.len() < 2 {
            continue;
        }
        let mut ids: Vec<usize> = run.iter().map(|e| e.id).collect();
        ids.dedup();
        if ids.len() >= 2 {
            out.push(ids);
        }
    }
    out
}

/// The candidate pairs `(i, j)`, `i < j`, of one bucket whose members are sorted ascending.
/// See [`ALL_PAIRS_MAX_BUCKET`] for large buckets.
pub fn bucket_pairs(members: &[usize], out: &mut Vec<(usize, usize)>) {
    if members.len() <= ALL_PAIRS_MAX_BUCKET {
        for (k, &i) in members.iter().enumerate() {
            out.extend(members[k + 1..].iter().map(|&j| (i, j)));
        }
    } else {
        let first = members[0];
        out.extend(members[1..].iter().map(|&j| (first, j)));
        out.extend(members[1..].windows(2).map(|w| (w[0], w[1])));
    }
}

/// Stage 4: the distinct candidate pairs `(i, j)`, `i < j`, of all buckets, sorted.
pub fn candidate_pairs(buckets: &[Vec<usize>]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for b in buckets {
        bucket_pairs(b, &mut out);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Stage 5: the pairs whose `similarity(i, j)` is at least `threshold`, with that similarity.
/// The local run passes exact shingle Jaccard; a run without the texts at hand can pass
/// [`estimated_jaccard`](super::estimated_jaccard) of the two signatures.
pub fn confirm_pairs(
    pairs: &[(usize, usize)],
    threshold: f64,
    mut similarity: impl FnMut(usize, usize) -> f64,
) -> Vec<(usize, usize, f64)> {
    pairs
        .iter()
        .filter_map(|&(i, j)| {
            let s = similarity(i, j);
            (s >= threshold).then_some((i, j, s))
        })
        .collect()
}

/// Disjoint sets over `0..n` where the smallest index of a set is always its root, so the
/// representative of a cluster does not depend on the order pairs arrive in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    /// `n` singleton sets.
    pub fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n).collect(),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.parent.len()
    }

    /// True when there are no elements.
    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    /// The root (smallest member) of `x`'s set, halving paths as it goes.
    /// Indices outside `0..len` are their own root.
    pub fn find(&mut self, mut x: usize) -> usize {
        if x >= self.parent.len() {
            return x;
        }
        while self.parent[x] != x {
            let grand = self.parent[self.parent[x]];
            self.parent[x] = grand;
            x = grand;
        }
        x
    }

    /// Merges the sets of `x` and `y`; the smaller root becomes the root of both. Returns
    /// false when they were already one set (or an index is out of range).
    pub fn union(&mut self, x: usize, y: usize) -> bool {
        if x >= self.parent.len() || y >= self.parent.len() {
            return false;
        }
        let (rx, ry) = (self.find(x), self.find(y));
        if rx == ry {
            return false;
        }
        let (lo, hi) = if rx < ry { (rx, ry) } else { (ry, rx) };
        self.parent[hi] = lo;
        true
    }

    /// Stage 6: the sets with more than one member as `(root, other members ascending)`,
    /// ordered by root.
    pub fn clusters(&mut self) -> Vec<(usize, Vec<usize>)> {
        let n = self.parent.len();
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); n];
        for x in 0..n {
            let r = self.find(x);
            if r != x {
                members[r].push(x);
            }
        }
        members
            .into_iter()
            .enumerate()
            .filter(|(_, m)| !m.is_empty())
            .collect()
    }
}

/// Stage 7: the items whose index is not in `removed`, in their order.
pub fn filter<T>(items: impl IntoIterator<Item = T>, removed: &BTreeSet<usize>) -> Vec<T> {
    items
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !removed.contains(i))
        .map(|(_, t)| t)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_find_keeps_the_smallest_root_whatever_the_order() {
        let mut uf = UnionFind::new(6);
        assert!(uf.union(5, 3));
        assert!(uf.union(3, 4));
        assert!(uf.union(4, 1));
        assert!(!uf.union(5, 1));
        assert_eq!(uf.find(5), 1);
        assert!(!uf.union(0, 99));
        assert_eq!(uf.clusters(), vec![(1, vec![3, 4, 5])]);
    }

    #[test]
    fn buckets_group_equal_keys_only() {
        let e = |band, key, id| BandEntry { band, key, id };
        let got = buckets(vec![
            e(0, 7, 4),
            e(1, 7, 2),
            e(0, 7, 1),
            e(0, 8, 3),
            e(1, 7, 0),
            e(0, 7, 1),
        ]);
        assert_eq!(got, vec![vec![1, 4], vec![0, 2]]);
    }

    #[test]
    fn candidate_pairs_are_distinct_and_sorted() {
        let got = candidate_pairs(&[vec![1, 4, 6], vec![1, 4]]);
        assert_eq!(got, vec![(1, 4), (1, 6), (4, 6)]);
    }

    #[test]
    fn large_buckets_stay_linear() {
        let members: Vec<usize> = (0..1000).collect();
        let mut out = Vec::new();
        bucket_pairs(&members, &mut out);
        assert_eq!(out.len(), 2 * 999 - 1);
        let mut uf = UnionFind::new(1000);
        for (i, j) in out {
            uf.union(i, j);
        }
        assert_eq!(uf.clusters().len(), 1);
    }

    #[test]
    fn band_keys_depend_on_band_and_rows() {
        let sig = Signature(vec![1, 2, 3, 4, 1, 2, 3, 4]);
        let keys = band_keys(&sig, 2);
        assert_eq!(keys.len(), 2);
        assert_ne!(
            keys[0].1, keys[1].1,
            "same rows in different bands must not collide"
        );
        assert!(band_keys(&Signature(vec![u64::MAX; 8]), 2).is_empty());
        // More bands than values: one value per band, as many bands as values.
        assert_eq!(band_keys(&Signature(vec![1, 2, 3]), 5).len(), 3);
    }

    #[test]
    fn filter_drops_removed_indices() {
        let removed: BTreeSet<usize> = [1, 3].into();
        assert_eq!(filter(["a", "b", "c", "d"], &removed), ["a", "c"]);
    }
}
