//! Deduplication: exact and near duplicates within a split, train/eval leakage, and
//! contradictory preference pairs.
//!
//! - **Exact**: records whose [`record_text`] (turns normalised, role-marked) is equal, found
//!   through a 128-bit xxh3 key. The first record is kept.
//! - **Near**: MinHash over word n-gram shingles with LSH banding (defaults as datatrove:
//!   5-grams, 14 bands x 8 rows = 112 permutations, seed 1); candidate pairs are confirmed by
//!   the exact Jaccard similarity of their shingle sets, then joined into clusters by a
//!   union-find that keeps the smallest record index. The stages are public in [`stages`] so a
//!   distributed engine can run them one by one.
//! - **Leakage**: eval records that duplicate (exactly or nearly) a train record.
//! - **Swapped preferences**: the same prompt with chosen and rejected exchanged.
//!
//! Dedup tags; it does not delete. The report lists every cluster with the record kept and
//! why the others go, and [`DedupReport::findings`] turns it into findings a user can review.

pub mod exact;
pub mod minhash;
pub mod normalize;
pub mod preference;
pub mod stages;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

pub use exact::{FirstSeen, exact_key};
pub use minhash::{MinHasher, Signature, estimated_jaccard, jaccard, shingle_set};
pub use normalize::{normalize, normalize_into, record_text, record_text_into};
pub use preference::{swapped_findings, swapped_preferences};
pub use stages::{
    BandEntry, UnionFind, band_keys, buckets, candidate_pairs, confirm_pairs, filter, signatures,
};

use crate::codes::Code;
use crate::diagnostic::Finding;
use crate::record::{Dataset, Record};

/// How to deduplicate. Every field has a default, so `{}` is a valid configuration; the
/// parameters travel in the bundle so a later (or distributed) run reproduces the result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DedupConfig {
    /// Find exact duplicates (after normalisation). Default true.
    pub exact: bool,
    /// Find near duplicates with MinHash LSH. Default false (CLI `--near`).
    pub near: bool,
    /// Words per shingle. Default 5.
    pub ngram: usize,
    /// MinHash permutations; must be a multiple of `bands`. Default 112 (14 bands x 8 rows,
    /// datatrove).
    pub permutations: usize,
    /// LSH bands. Default 14.
    pub bands: usize,
    /// Jaccard similarity (of the shingle sets) a candidate pair must reach to count as a
    /// near duplicate. Default 0.8 (CLI `--threshold`).
    pub threshold: f64,
    /// Seed of the permutations. Default 1.
    pub seed: u64,
}

impl Default for DedupConfig {
    fn default() -> Self {
        DedupConfig {
            exact: true,
            near: false,
            ngram: 5,
            permutations: 112,
            bands: 14,
            threshold: 0.8,
            seed: 1,
        }
    }
}

/// A [`DedupConfig`] that cannot work as asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DedupConfigError {
    #[error("The n-gram size must be at least 1.")]
    ZeroNgram,
    #[error(
        "The number of permutations and of bands must be at least 1 (got {permutations} permutations, {bands} bands)."
    )]
    ZeroBands { permutations: usize, bands: usize },
    #[error(
        "{permutations} permutations cannot be cut into {bands} bands of equal size; use a multiple of the number of bands (the default is 14 bands x 8 rows = 112)."
    )]
    UnevenBands { permutations: usize, bands: usize },
    #[error("The similarity threshold must be between 0 and 1, got {0}.")]
    Threshold(f64),
}

impl DedupConfig {
    /// Checks the parameters; call it where a configuration enters (CLI flags, a bundle, the
    /// studio's form). [`dedup`] itself never panics on a bad one: it uses
    /// `permutations / bands` rows (at least 1) per band and an n-gram of at least 1.
    pub fn validate(&self) -> Result<(), DedupConfigError> {
        if self.ngram == 0 {
            return Err(DedupConfigError::ZeroNgram);
        }
        let (permutations, bands) = (self.permutations, self.bands);
        if permutations == 0 || bands == 0 {
            return Err(DedupConfigError::ZeroBands {
                permutations,
                bands,
            });
        }
        if permutations % bands != 0 {
            return Err(DedupConfigError::UnevenBands {
                permutations,
                bands,
            });
        }
        if !(0.0..=1.0).contains(&self.threshold) {
            return Err(DedupConfigError::Threshold(self.threshold));
        }
        Ok(())
    }

    /// Rows per LSH band.
    pub fn rows(&self) -> usize {
        stages::rows_per_band(self.permutations, self.bands)
    }

    /// Probability that LSH proposes a pair of Jaccard similarity `j` as a candidate:
    /// `1 - (1 - j^rows)^bands` (0.92 at 0.8, 0.99 at 0.86 with the defaults).
    pub fn catch_probability(&self, j: f64) -> f64 {
        let bands = self.bands.max(1).min(self.permutations.max(1));
        1.0 - (1.0 - j.powi(self.rows() as i32)).powi(bands as i32)
    }
}

/// Why records are in one cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DupKind {
    /// Same normalised text.
    Exact,
    /// Shingle Jaccard similarity at or above the threshold (possibly through other members).
    Near,
}

/// A group of duplicates: the kept representative (smallest index) and the removed ones, with
/// the similarity of each removed record to the kept one (1.0 for exact duplicates; the exact
/// shingle Jaccard for near ones, which can be below the threshold for a record that joined
/// the cluster through another member).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    /// 0-based index of the record kept.
    pub kept: usize,
    /// 0-based indices of the records removed, ascending.
    pub removed: Vec<usize>,
    /// Minimum of `similarities`.
    pub similarity: f64,
    pub kind: DupKind,
    /// Similarity of each record in `removed` to `kept`, in the same order.
    pub similarities: Vec<f64>,
}

/// What [`dedup`] found. Serialises as
/// `{"records","kept","exact_duplicates","near_duplicates","clusters":[...],"config"}` with
/// 0-based record indices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DedupReport {
    /// Records examined.
    pub records: usize,
    /// Records kept (`records` minus every removed record).
    pub kept: usize,
    /// Records removed as exact duplicates.
    pub exact_duplicates: usize,
    /// Records removed as near duplicates.
    pub near_duplicates: usize,
    /// Exact clusters, then near clusters, each ordered by kept index.
    pub clusters: Vec<Cluster>,
    /// The parameters used.
    pub config: DedupConfig,
}

impl DedupReport {
    /// Every removed record index.
    pub fn removed(&self) -> BTreeSet<usize> {
        self.clusters
            .iter()
            .flat_map(|c| c.removed.iter().copied())
            .collect()
    }

    /// One `exact-duplicate` / `near-duplicate` finding per removed record, naming the record
    /// kept. `dataset` is the one deduplicated (report indices are positions in its items);
    /// lines and record numbers in the findings come from each item's source.
    pub fn findings(&self, dataset: &Dataset) -> Vec<Finding> {
        // A record kept by an exact cluster may itself be removed as a near duplicate: say so,
        // so the finding points at the record that really stays.
        let near_parent: HashMap<usize, usize> = self
            .clusters
            .iter()
            .filter(|c| c.kind == DupKind::Near)
            .flat_map(|c| c.removed.iter().map(move |&r| (r, c.kept)))
            .collect();
        let mut out = Vec::new();
        for c in &self.clusters {
            let kept = locate(dataset, c.kept).describe();
            for (&r, &sim) in c.removed.iter().zip(&c.similarities) {
                let (code, mut msg) = match c.kind {
                    DupKind::Exact => (
                        Code::ExactDuplicate,
                        format!("same text as {kept} after normalisation; this copy is removed"),
                    ),
                    DupKind::Near => (
                        Code::NearDuplicate,
                        format!(
                            "near duplicate of {kept} ({}-gram Jaccard {sim:.2}); this copy is removed",
                            self.config.ngram
                        ),
                    ),
                };
                if let Some(&root) = near_parent.get(&c.kept) {
                    msg.push_str(&format!(
                        ", and {kept} is itself a near duplicate of {}",
                        locate(dataset, root).describe()
                    ));
                }
                out.push(locate(dataset, r).apply(Finding::new(code, msg)));
            }
        }
        out.sort_by_key(|f| (f.record, f.line));
        out
    }
}

/// Where a record index points in a dataset, for messages.
pub(crate) struct Located {
    line: Option<usize>,
    record: usize,
}

impl Located {
    /// "record 12 (line 13)".
    pub(crate) fn describe(&self) -> String {
        match self.line {
            Some(line) => format!("record {} (line {line})", self.record),
            None => format!("record {}", self.record),
        }
    }

    /// Sets the finding's line and record.
    pub(crate) fn apply(&self, mut f: Finding) -> Finding {
        f.line = self.line;
        f.record = Some(self.record);
        f
    }
}

/// The source line and record number of position `idx` of `dataset` (the bare index when the
/// dataset has no such item).
pub(crate) fn locate(dataset: &Dataset, idx: usize) -> Located {
    match dataset.items.get(idx) {
        Some(item) => Located {
            line: Some(item.source.line),
            record: item.source.index,
        },
        None => Located {
            line: None,
            record: idx,
        },
    }
}

/// Exact shingle sets of records, computed on first use: confirmation only needs the few
/// records that are candidates, so the texts of the others are never kept.
struct ShingleCache<'a, F: Fn(usize) -> &'a Record> {
    record: F,
    ngram: usize,
    text: String,
    sets: HashMap<usize, Vec<u64>>,
}

impl<'a, F: Fn(usize) -> &'a Record> ShingleCache<'a, F> {
    fn new(record: F, ngram: usize) -> Self {
        ShingleCache {
            record,
            ngram,
            text: String::new(),
            sets: HashMap::new(),
        }
    }

    fn load(&mut self, i: usize) {
        if !self.sets.contains_key(&i) {
            record_text_into((self.record)(i), &mut self.text);
            self.sets.insert(i, shingle_set(&self.text, self.ngram));
        }
    }

    fn jaccard(&mut self, i: usize, j: usize) -> f64 {
        self.load(i);
        self.load(j);
        jaccard(&self.sets[&i], &self.sets[&j])
    }
}

/// Computes every record's matching text once: its exact key, and (when `hasher` is given and
/// `skip(i, key)` is false) its LSH band entries under id `offset + i`. Returns the exact keys.
fn scan(
    records: &[Record],
    offset: usize,
    hasher: Option<&MinHasher>,
    bands: usize,
    mut skip: impl FnMut(usize, u128) -> bool,
    entries: &mut Vec<BandEntry>,
) -> Vec<u128> {
    let (mut text, mut scratch, mut buf) = (String::new(), Vec::new(), Vec::new());
    let mut sig = vec![0; hasher.map_or(0, MinHasher::permutations)];
    let mut keys = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        record_text_into(r, &mut text);
        let key = exact_key(&text);
        keys.push(key);
        if skip(i, key) {
            continue;
        }
        let Some(h) = hasher else { continue };
        h.signature_into(&text, &mut scratch, &mut sig);
        let id = offset + i;
        stages::band_keys_into(&sig, bands, &mut buf, |band, key| {
            entries.push(BandEntry {
                band: band as u32,
                key,
                id,
            });
        });
    }
    keys
}

/// Finds exact and near duplicates in `records` (as `cfg` asks) and reports clusters; the
/// smallest index of each cluster is kept. Exact dedup runs first; near dedup then looks only
/// at the records exact dedup kept. Deterministic: the same records and configuration give
/// the same report.
pub fn dedup(records: &[Record], cfg: &DedupConfig) -> DedupReport {
    let (scanned, exact_of) = scan_for_dedup(records, cfg);
    report(records, scanned.entries, exact_of, cfg)
}

/// What [`dedup_scanned`] computed for each record: its exact key and its LSH band entries (none
/// for an exact duplicate, which is dropped before hashing), so that [`leakage_among`] can check
/// a split of the kept records without hashing them again.
#[derive(Debug, Clone)]
pub struct Scanned {
    keys: Vec<u128>,
    /// By ascending id (the record's index).
    entries: Vec<BandEntry>,
}

impl Scanned {
    fn entries_of(&self, id: usize) -> &[BandEntry] {
        let from = self.entries.partition_point(|e| e.id < id);
        let to = self.entries.partition_point(|e| e.id <= id);
        &self.entries[from..to]
    }
}

/// [`dedup`], and what it computed for each record (the band entries are copied for the
/// clustering, which consumes them; [`dedup`] alone does not copy them).
pub fn dedup_scanned(records: &[Record], cfg: &DedupConfig) -> (DedupReport, Scanned) {
    let (scanned, exact_of) = scan_for_dedup(records, cfg);
    let report = report(records, scanned.entries.clone(), exact_of, cfg);
    (report, scanned)
}

/// Every record's exact key and (when `cfg.near`) band entries, and the exact duplicates
/// found on the way: `first -> later copies`. Exact duplicates are decided during the scan so
/// they never reach the MinHash stage.
fn scan_for_dedup(records: &[Record], cfg: &DedupConfig) -> (Scanned, BTreeMap<usize, Vec<usize>>) {
    let hasher = cfg
        .near
        .then(|| MinHasher::new(cfg.ngram, cfg.permutations, cfg.seed));
    let mut seen = FirstSeen::new();
    let mut exact_of: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut entries = Vec::new();
    let skip = |i: usize, key: u128| -> bool {
        let first = if cfg.exact { seen.insert(key, i) } else { None };
        first
            .map(|f| exact_of.entry(f).or_default().push(i))
            .is_some()
    };
    let keys = scan(records, 0, hasher.as_ref(), cfg.bands, skip, &mut entries);
    (Scanned { keys, entries }, exact_of)
}

/// The report: the exact clusters, and the near ones from the band `entries`.
fn report(
    records: &[Record],
    entries: Vec<BandEntry>,
    exact_of: BTreeMap<usize, Vec<usize>>,
    cfg: &DedupConfig,
) -> DedupReport {
    let n = records.len();
    let mut clusters: Vec<Cluster> = exact_of
        .into_iter()
        .map(|(kept, removed)| {
            let similarities = vec![1.0; removed.len()];
            Cluster {
                kept,
                removed,
                similarity: 1.0,
                kind: DupKind::Exact,
                similarities,
            }
        })
        .collect();
    if cfg.near {
        clusters.extend(near_clusters(records, entries, cfg));
    }
    let count = |kind| {
        clusters
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.removed.len())
            .sum::<usize>()
    };
    let (exact_duplicates, near_duplicates) = (count(DupKind::Exact), count(DupKind::Near));
    DedupReport {
        records: n,
        kept: n - exact_duplicates - near_duplicates,
        exact_duplicates,
        near_duplicates,
        clusters,
        config: cfg.clone(),
    }
}

/// Buckets, confirms and clusters the band entries of `records`.
fn near_clusters(records: &[Record], entries: Vec<BandEntry>, cfg: &DedupConfig) -> Vec<Cluster> {
    let pairs = candidate_pairs(&buckets(entries));
    let mut cache = ShingleCache::new(|i| &records[i], cfg.ngram);
    let confirmed = confirm_pairs(&pairs, cfg.threshold, |i, j| cache.jaccard(i, j));
    let mut uf = UnionFind::new(records.len());
    for &(i, j, _) in &confirmed {
        uf.union(i, j);
    }
    uf.clusters()
        .into_iter()
        .map(|(kept, removed)| {
            let similarities: Vec<f64> = removed.iter().map(|&r| cache.jaccard(kept, r)).collect();
            let similarity = similarities.iter().copied().fold(1.0, f64::min);
            Cluster {
                kept,
                removed,
                similarity,
                kind: DupKind::Near,
                similarities,
            }
        })
        .collect()
}

/// An eval record that duplicates a train record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Leak {
    /// 0-based index of the eval record.
    pub eval: usize,
    /// 0-based index of the train record it duplicates (the most similar; the smallest index
    /// among equally similar ones).
    pub train: usize,
    /// 1.0 for exact duplicates, else the shingle Jaccard similarity.
    pub similarity: f64,
    pub kind: DupKind,
}

/// Train/eval leakage: every eval record that duplicates (exactly, if `cfg.exact`; nearly, if
/// `cfg.near`) a train record, one [`Leak`] per such eval record, ordered by eval index.
pub fn leakage(train: &[Record], eval: &[Record], cfg: &DedupConfig) -> Vec<Leak> {
    let hasher = cfg
        .near
        .then(|| MinHasher::new(cfg.ngram, cfg.permutations, cfg.seed));
    let mut entries = Vec::new();
    let keys = scan(
        train,
        0,
        hasher.as_ref(),
        cfg.bands,
        |_, _| false,
        &mut entries,
    );
    leakage_of(train, &keys, entries, eval, cfg)
}

/// [`leakage`] of `eval` against `train`, whose keys and band entries [`dedup_scanned`] (same
/// `cfg`) computed: only the eval records are hashed. A train record dedup removed as an exact
/// duplicate has no band entries, but its twin, which comes first, has the same ones, and a
/// leak names the first of equally similar train records either way.
pub fn leakage_scanned(
    train: &[Record],
    scanned: &Scanned,
    eval: &[Record],
    cfg: &DedupConfig,
) -> Vec<Leak> {
    leakage_of(train, &scanned.keys, scanned.entries.clone(), eval, cfg)
}

/// Hashes the eval records and finds their leaks into `train`, given the train records' exact
/// keys and band entries (ids `0..train.len()`).
fn leakage_of(
    train: &[Record],
    train_keys: &[u128],
    mut entries: Vec<BandEntry>,
    eval: &[Record],
    cfg: &DedupConfig,
) -> Vec<Leak> {
    let hasher = cfg
        .near
        .then(|| MinHasher::new(cfg.ngram, cfg.permutations, cfg.seed));
    let index = first_seen(train_keys);
    let t = train.len();
    let exact_hit = |_: usize, key: u128| cfg.exact && index.get(key).is_some();
    let eval_keys = scan(eval, t, hasher.as_ref(), cfg.bands, exact_hit, &mut entries);
    let record = |i: usize| if i < t { &train[i] } else { &eval[i - t] };
    leaks(&index, &eval_keys, t, entries, record, cfg)
}

/// [`leakage`] between the records at `train` and those at `eval`, indices into the `records`
/// that `scanned` was made from by [`dedup_scanned`] with the same `cfg`: what it computed is
/// reused, nothing is hashed again. No index may be of a record dedup removed as an exact
/// duplicate (it was never hashed). Leaks index into `train` and `eval`, as [`leakage`]'s do.
pub fn leakage_among(
    records: &[Record],
    scanned: &Scanned,
    train: &[usize],
    eval: &[usize],
    cfg: &DedupConfig,
) -> Vec<Leak> {
    let t = train.len();
    let train_keys: Vec<u128> = train.iter().map(|&r| scanned.keys[r]).collect();
    let eval_keys: Vec<u128> = eval.iter().map(|&r| scanned.keys[r]).collect();
    let index = first_seen(&train_keys);
    let mut entries = Vec::new();
    let ids = train.iter().enumerate().chain(
        eval.iter()
            .enumerate()
            // As `leakage` does: an eval record with a train twin is an exact leak only.
            .filter(|&(e, _)| !(cfg.exact && index.get(eval_keys[e]).is_some()))
            .map(|(e, r)| (t + e, r)),
    );
    for (id, &r) in ids {
        entries.extend(scanned.entries_of(r).iter().map(|e| BandEntry { id, ..*e }));
    }
    let record = |i: usize| {
        if i < t {
            &records[train[i]]
        } else {
            &records[eval[i - t]]
        }
    };
    leaks(&index, &eval_keys, t, entries, record, cfg)
}

/// The first train index of each exact key.
fn first_seen(train_keys: &[u128]) -> FirstSeen {
    let mut index = FirstSeen::new();
    for (i, &k) in train_keys.iter().enumerate() {
        index.insert(k, i);
    }
    index
}

/// The leaks, given the train records' exact keys (`index`), the eval records' keys, and the
/// band entries of train (ids `0..t`) and eval (ids `t..`) records; `record(id)` reads one.
fn leaks<'a>(
    index: &FirstSeen,
    eval_keys: &[u128],
    t: usize,
    entries: Vec<BandEntry>,
    record: impl Fn(usize) -> &'a Record,
    cfg: &DedupConfig,
) -> Vec<Leak> {
    let mut leaks = BTreeMap::new();
    if cfg.exact {
        for (e, &k) in eval_keys.iter().enumerate() {
            if let Some(tr) = index.get(k) {
                leaks.insert(
                    e,
                    Leak {
                        eval: e,
                        train: tr,
                        similarity: 1.0,
                        kind: DupKind::Exact,
                    },
                );
            }
        }
    }
    if cfg.near {
        for leak in near_leaks(t, record, entries, cfg) {
            leaks.entry(leak.eval).or_insert(leak);
        }
    }
    leaks.into_values().collect()
}

/// Near leaks from the band entries of train (ids `0..t`) and eval (ids `t..`) records.
fn near_leaks<'a>(
    t: usize,
    record: impl Fn(usize) -> &'a Record,
    entries: Vec<BandEntry>,
    cfg: &DedupConfig,
) -> Vec<Leak> {
    let mut pairs = Vec::new();
    for bucket in buckets(entries) {
        // Buckets are sorted, so train ids come first; cap them as `bucket_pairs` does.
        let split = bucket.partition_point(|&id| id < t);
        let (tr, ev) = bucket.split_at(split);
        for &e in ev {
            pairs.extend(
                tr.iter()
                    .take(stages::ALL_PAIRS_MAX_BUCKET)
                    .map(|&x| (x, e)),
            );
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    let mut cache = ShingleCache::new(record, cfg.ngram);
    let mut best: BTreeMap<usize, (usize, f64)> = BTreeMap::new();
    for (tr, e, sim) in confirm_pairs(&pairs, cfg.threshold, |i, j| cache.jaccard(i, j)) {
        // Pairs arrive by ascending train index, so a strict `>` keeps the smallest on ties.
        let slot = best.entry(e - t).or_insert((tr, sim));
        if sim > slot.1 {
            *slot = (tr, sim);
        }
    }
    best.into_iter()
        .map(|(eval, (train, similarity))| Leak {
            eval,
            train,
            similarity,
            kind: DupKind::Near,
        })
        .collect()
}

/// A `train-eval-leak` finding on each leaking eval record, naming the train record.
pub fn leak_findings(leaks: &[Leak], train: &Dataset, eval: &Dataset) -> Vec<Finding> {
    leaks
        .iter()
        .map(|l| {
            let tr = locate(train, l.train).describe();
            let name = if train.name.is_empty() {
                "the training set".to_owned()
            } else {
                train.name.clone()
            };
            let msg = match l.kind {
                DupKind::Exact => format!("same text as {tr} of {name}"),
                DupKind::Near => format!(
                    "near duplicate of {tr} of {name} (Jaccard {:.2})",
                    l.similarity
                ),
            };
            locate(eval, l.eval).apply(Finding::new(Code::TrainEvalLeak, msg))
        })
        .collect()
}
