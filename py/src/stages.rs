//! The map and per-partition stages: signatures, buckets, exact duplicates, pair confirmation.
//!
//! Each takes a batch and returns a batch. The per-partition ones ([`bucket_pairs`],
//! [`exact_duplicates`], [`distinct_pairs`]) must see every row of a key together: the engine
//! hash-partitions on the key first (Ray: `repartition(n, keys=[...])`, whose reduce emits each
//! partition as one block) and runs them once per partition.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use ajuste_shared::dedup::stages::bucket_pairs as pairs_of_bucket;
use ajuste_shared::dedup::{
    DedupConfig, MinHasher, Signature, band_keys, exact_key, jaccard, record_text, shingle_set,
};
use ajuste_shared::formats::Format;
use arrow_array::{ArrayRef, Float64Array, RecordBatch, UInt32Array};

use crate::columns::{self, Bytes, has_column};
use crate::config;
use crate::error::{KernelError, Result};
use crate::prepare::{KEY_HI, KEY_LO, TEXT, accept, split_key};
use crate::read::{ID, LINE, Line, line_value};

/// Band columns: the band number and the hash of the band's rows.
pub const BAND: &str = "band";
pub const BAND_HASH: &str = "band_hash";
/// Pair columns: the two record ids, `i < j`.
pub const I: &str = "i";
pub const J: &str = "j";
/// Pair texts for [`confirm`].
pub const TEXT_I: &str = "text_i";
pub const TEXT_J: &str = "text_j";
/// Similarity of a confirmed pair.
pub const SIMILARITY: &str = "similarity";
/// Exact-duplicate column: the id of the first record with the same text.
pub const KEPT: &str = "kept";

/// The matching texts of a batch: the `text` column as is (prepared tables, or any texts a
/// caller wants compared verbatim), or, with `format`, records given as JSON in a `line` column
/// (those the local loader would drop get no text).
fn matching_texts(batch: &RecordBatch, format: Option<Format>) -> Result<Vec<Option<String>>> {
    if has_column(batch, TEXT) {
        let texts = Bytes::of(batch, TEXT)?;
        return (0..batch.num_rows())
            .map(|i| texts.text(i, TEXT).map(|t| Some(t.to_owned())))
            .collect();
    }
    let Some(format) = format else {
        return Err(KernelError::MissingColumn(TEXT.to_owned()));
    };
    let lines = Bytes::of(batch, LINE)?;
    Ok((0..batch.num_rows())
        .map(|i| match lines.get(i).map(line_value) {
            Some(Line::Value(v)) => accept(format, &v).map(|r| record_text(&r)),
            _ => None,
        })
        .collect())
}

/// Stage "sign": for every record, `bands` rows `(id, band, band_hash, key_hi, key_lo)` with
/// the LSH band keys of its MinHash signature (a text without words has none, as locally).
/// The exact key travels along so [`bucket_pairs`] can leave exact duplicates out; it is
/// taken from `key_hi`/`key_lo` when the batch has them and computed from the text otherwise.
pub fn signatures(
    batch: &RecordBatch,
    cfg: &DedupConfig,
    format: Option<Format>,
) -> Result<RecordBatch> {
    let ids = columns::u64s(batch, ID)?;
    let texts = matching_texts(batch, format)?;
    let keys = if has_column(batch, KEY_HI) && has_column(batch, KEY_LO) {
        let hi = columns::u64s(batch, KEY_HI)?;
        let lo = columns::u64s(batch, KEY_LO)?;
        Some((hi, lo))
    } else {
        None
    };
    let hasher = MinHasher::new(cfg.ngram, cfg.permutations, cfg.seed);
    let mut sig = Signature(vec![0; hasher.permutations()]);
    let mut scratch = Vec::new();
    let rows = batch.num_rows() * cfg.bands;
    let (mut out_ids, mut bands, mut hashes) = (
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
    );
    let (mut key_hi, mut key_lo) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    for (i, text) in texts.iter().enumerate() {
        let Some(text) = text else { continue };
        let (hi, lo) = match &keys {
            Some((hi, lo)) => (hi[i], lo[i]),
            None => split_key(exact_key(text)),
        };
        hasher.signature_into(text, &mut scratch, &mut sig.0);
        for (band, hash) in band_keys(&sig, cfg.bands) {
            out_ids.push(ids[i]);
            bands.push(band as u32);
            hashes.push(hash);
            key_hi.push(hi);
            key_lo.push(lo);
        }
    }
    columns::batch(
        vec![
            (ID, columns::u64_array(out_ids)),
            (BAND, Arc::new(UInt32Array::from(bands)) as ArrayRef),
            (BAND_HASH, columns::u64_array(hashes)),
            (KEY_HI, columns::u64_array(key_hi)),
            (KEY_LO, columns::u64_array(key_lo)),
        ],
        &config::metadata(cfg),
    )
}

/// One band row as the bucket stage sorts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    band: u64,
    hash: u64,
    id: u64,
    key: (u64, u64),
}

/// `(i, j)` pairs as a batch.
fn pair_batch(pairs: Vec<(u64, u64)>, cfg: Option<&DedupConfig>) -> Result<RecordBatch> {
    let (i, j): (Vec<u64>, Vec<u64>) = pairs.into_iter().unzip();
    let metadata = cfg.map(config::metadata).unwrap_or_default();
    columns::batch(
        vec![(I, columns::u64_array(i)), (J, columns::u64_array(j))],
        &metadata,
    )
}

/// Stage "bucket", once per partition of the band rows hash-partitioned on
/// `(band, band_hash)`: the candidate pairs `(i, j)` of every bucket, distinct and sorted.
///
/// Exact duplicates are left out as the local run leaves them out (it never signs them):
/// records with equal exact keys have equal texts and so equal band keys, so they always share
/// every bucket, and keeping only the smallest id of each key in a bucket keeps exactly the
/// first record of that text. The remaining members, ascending, give their pairs as
/// [`ajuste_shared::dedup::stages::bucket_pairs`] gives them locally (all pairs in small
/// buckets, a star and a chain in large ones).
pub fn bucket_pairs(batches: &[RecordBatch], cfg: Option<&DedupConfig>) -> Result<RecordBatch> {
    let mut entries = Vec::new();
    for batch in batches {
        let ids = columns::u64s(batch, ID)?;
        let bands = columns::u64s(batch, BAND)?;
        let hashes = columns::u64s(batch, BAND_HASH)?;
        let hi = columns::u64s(batch, KEY_HI)?;
        let lo = columns::u64s(batch, KEY_LO)?;
        for r in 0..ids.len() {
            entries.push(Entry {
                band: bands[r],
                hash: hashes[r],
                id: ids[r],
                key: (hi[r], lo[r]),
            });
        }
    }
    entries.sort_unstable();
    let mut pairs = Vec::new();
    let (mut members, mut local) = (Vec::new(), Vec::new());
    let mut keys = HashSet::new();
    for run in entries.chunk_by(|x, y| x.band == y.band && x.hash == y.hash) {
        if run.len() < 2 {
            continue;
        }
        members.clear();
        keys.clear();
        // Sorted by id, so the first row of each key is its smallest id.
        for e in run {
            if members.last() != Some(&e.id) && keys.insert(e.key) {
                members.push(e.id);
            }
        }
        if members.len() < 2 {
            continue;
        }
        local.clear();
        let positions: Vec<usize> = (0..members.len()).collect();
        pairs_of_bucket(&positions, &mut local);
        pairs.extend(local.iter().map(|&(a, b)| (members[a], members[b])));
    }
    pairs.sort_unstable();
    pairs.dedup();
    pair_batch(pairs, cfg)
}

/// Distinct `(i, j)` rows, sorted; once per partition of pairs hash-partitioned on `(i, j)`.
pub fn distinct_pairs(batches: &[RecordBatch], cfg: Option<&DedupConfig>) -> Result<RecordBatch> {
    let mut pairs = Vec::new();
    for batch in batches {
        let i = columns::u64s(batch, I)?;
        let j = columns::u64s(batch, J)?;
        pairs.extend(i.into_iter().zip(j));
    }
    pairs.sort_unstable();
    pairs.dedup();
    pair_batch(pairs, cfg)
}

/// Stage "exact", once per partition of `(id, key_hi, key_lo)` rows hash-partitioned on the
/// key: `(id, kept)` for every record whose text an earlier (smaller) id has, `kept` being the
/// smallest id with that text, as the local run's first-seen rule decides.
pub fn exact_duplicates(batches: &[RecordBatch]) -> Result<RecordBatch> {
    let mut rows = Vec::new();
    for batch in batches {
        let ids = columns::u64s(batch, ID)?;
        let hi = columns::u64s(batch, KEY_HI)?;
        let lo = columns::u64s(batch, KEY_LO)?;
        rows.extend((0..ids.len()).map(|r| ((hi[r], lo[r]), ids[r])));
    }
    rows.sort_unstable();
    let (mut removed, mut kept) = (Vec::new(), Vec::new());
    for run in rows.chunk_by(|x, y| x.0 == y.0) {
        let first = run[0].1;
        for &(_, id) in &run[1..] {
            if id != first {
                removed.push(id);
                kept.push(first);
            }
        }
    }
    columns::batch(
        vec![
            (ID, columns::u64_array(removed)),
            (KEPT, columns::u64_array(kept)),
        ],
        &Default::default(),
    )
}

/// Stage "confirm": the pairs `(i, j, text_i, text_j)` whose exact shingle Jaccard similarity
/// (the `ngram`-word shingles of the two matching texts, as the local run computes it) reaches
/// `threshold`, as `(i, j, similarity)`.
pub fn confirm(batch: &RecordBatch, cfg: &DedupConfig) -> Result<RecordBatch> {
    let i = columns::u64s(batch, I)?;
    let j = columns::u64s(batch, J)?;
    let ti = Bytes::of(batch, TEXT_I)?;
    let tj = Bytes::of(batch, TEXT_J)?;
    // A record often sits in several pairs of one batch: shingle it once.
    let mut sets: HashMap<u64, Vec<u64>> = HashMap::new();
    let mut shingles = |id: u64, text: &str| -> Vec<u64> {
        sets.entry(id)
            .or_insert_with(|| shingle_set(text, cfg.ngram))
            .clone()
    };
    let (mut oi, mut oj, mut sims) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..batch.num_rows() {
        let a = shingles(i[r], ti.text(r, TEXT_I)?);
        let b = shingles(j[r], tj.text(r, TEXT_J)?);
        let s = jaccard(&a, &b);
        if s >= cfg.threshold {
            oi.push(i[r]);
            oj.push(j[r]);
            sims.push(s);
        }
    }
    columns::batch(
        vec![
            (I, columns::u64_array(oi)),
            (J, columns::u64_array(oj)),
            (SIMILARITY, Arc::new(Float64Array::from(sims)) as ArrayRef),
        ],
        &config::metadata(cfg),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::LargeStringArray;

    fn cfg() -> DedupConfig {
        config::parse(None).unwrap()
    }

    fn texts(ids: Vec<u64>, texts: &[&str]) -> RecordBatch {
        columns::batch(
            vec![
                (ID, columns::u64_array(ids)),
                (
                    TEXT,
                    Arc::new(LargeStringArray::from(texts.to_vec())) as ArrayRef,
                ),
            ],
            &Default::default(),
        )
        .unwrap()
    }

    const A: &str =
        "user: the quick brown fox jumps over the lazy dog near the quiet river bank today";
    const A2: &str =
        "user: the quick brown fox jumps over the lazy dog near the quiet river bank today!";

    #[test]
    fn signatures_are_band_rows_with_the_config_in_metadata() {
        let out = signatures(&texts(vec![5, 9, 11], &[A, "", A]), &cfg(), None).unwrap();
        // 14 bands for each text with words; none for the empty one.
        assert_eq!(out.num_rows(), 28);
        let ids = columns::u64s(&out, ID).unwrap();
        assert!(ids.iter().all(|&id| id == 5 || id == 11));
        let md = out.schema().metadata().clone();
        assert_eq!(md[config::BANDS_KEY], "14");
        assert_eq!(md[config::NGRAM_KEY], "5");
        assert_eq!(md[config::SEED_KEY], "1");
        assert_eq!(md[config::PERMUTATIONS_KEY], "112");
    }

    #[test]
    fn buckets_pair_near_texts_and_skip_exact_copies() {
        let c = cfg();
        // 3 is an exact copy of 1 (same text); 7 is a near copy.
        let bands = signatures(&texts(vec![1, 3, 7], &[A, A, A2]), &c, None).unwrap();
        let pairs = bucket_pairs(&[bands], Some(&c)).unwrap();
        let i = columns::u64s(&pairs, I).unwrap();
        let j = columns::u64s(&pairs, J).unwrap();
        let got: Vec<(u64, u64)> = i.into_iter().zip(j).collect();
        assert_eq!(got, [(1, 7)]);
    }

    #[test]
    fn large_buckets_give_a_star_and_a_chain() {
        let n = 100u64;
        let rows = |v: Vec<u64>| columns::u64_array(v);
        let batch = columns::batch(
            vec![
                (ID, rows((0..n).rev().collect())),
                (BAND, rows(vec![0; n as usize])),
                (BAND_HASH, rows(vec![42; n as usize])),
                (KEY_HI, rows((0..n).collect())),
                (KEY_LO, rows(vec![0; n as usize])),
            ],
            &Default::default(),
        )
        .unwrap();
        let pairs = bucket_pairs(&[batch], None).unwrap();
        assert_eq!(pairs.num_rows(), 2 * (n as usize - 1) - 1);
    }

    #[test]
    fn exact_duplicates_name_the_first_record() {
        let batch = columns::batch(
            vec![
                (ID, columns::u64_array(vec![8, 2, 5, 4])),
                (KEY_HI, columns::u64_array(vec![1, 1, 2, 1])),
                (KEY_LO, columns::u64_array(vec![0, 0, 0, 0])),
            ],
            &Default::default(),
        )
        .unwrap();
        let out = exact_duplicates(&[batch]).unwrap();
        assert_eq!(columns::u64s(&out, ID).unwrap(), [4, 8]);
        assert_eq!(columns::u64s(&out, KEPT).unwrap(), [2, 2]);
    }

    #[test]
    fn confirm_keeps_pairs_at_the_threshold() {
        let batch = columns::batch(
            vec![
                (I, columns::u64_array(vec![1, 1])),
                (J, columns::u64_array(vec![7, 9])),
                (
                    TEXT_I,
                    Arc::new(LargeStringArray::from(vec![A, A])) as ArrayRef,
                ),
                (
                    TEXT_J,
                    Arc::new(LargeStringArray::from(vec![
                        A2,
                        "user: something else entirely",
                    ])) as ArrayRef,
                ),
            ],
            &Default::default(),
        )
        .unwrap();
        let out = confirm(&batch, &cfg()).unwrap();
        assert_eq!(columns::u64s(&out, J).unwrap(), [7]);
        let sim = out
            .column_by_name(SIMILARITY)
            .unwrap()
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap()
            .value(0);
        assert_eq!(
            sim,
            jaccard(&shingle_set(A, 5), &shingle_set(A2, 5)),
            "the local run's exact Jaccard"
        );
    }

    #[test]
    fn records_as_json_lines_sign_like_their_texts() {
        let line = br#"{"conversations": [{"from": "human", "value": "a b c d e f g"}, {"from": "gpt", "value": "h i j k l m"}]}"#;
        let lines: arrow_array::LargeBinaryArray = [Some(&line[..])].into_iter().collect();
        let batch = columns::batch(
            vec![
                (ID, columns::u64_array(vec![0])),
                (LINE, Arc::new(lines) as ArrayRef),
            ],
            &Default::default(),
        )
        .unwrap();
        let from_json = signatures(&batch, &cfg(), Some(Format::Sharegpt)).unwrap();
        let value: serde_json::Value = serde_json::from_slice(line).unwrap();
        let record = accept(Format::Sharegpt, &value).unwrap();
        let text = record_text(&record);
        let from_text = signatures(&texts(vec![0], &[&text]), &cfg(), None).unwrap();
        assert_eq!(from_json, from_text);
        assert!(signatures(&batch, &cfg(), None).is_err());
    }
}
