//! Stage "cluster", on one node: the exact duplicates and the confirmed near pairs become
//! clusters that keep their smallest record, with the report `ajuste data dedup --report`
//! writes (less the per-record similarities, which would need every removed record's text
//! next to its kept one).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ajuste_shared::dedup::{DedupConfig, DupKind, UnionFind};
use arrow_array::{ArrayRef, BooleanArray, RecordBatch};
use serde::{Deserialize, Serialize};

use crate::columns;
use crate::config;
use crate::error::{KernelError, Result};
use crate::read::ID;

/// Output columns: the record's 0-based position among all loaded records (the index the local
/// report uses), whether it is kept, and the position of the record that stays in its place.
pub const POSITION: &str = "position";
pub const KEPT: &str = "kept";
pub const KEPT_BY: &str = "kept_by";

/// A cluster as the local report lists it, by position.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cluster {
    pub kept: usize,
    pub removed: Vec<usize>,
    pub kind: DupKind,
}

/// The local report's shape: counts, clusters (exact ones first, each kind ordered by kept
/// position) and the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub records: usize,
    pub kept: usize,
    pub exact_duplicates: usize,
    pub near_duplicates: usize,
    pub clusters: Vec<Cluster>,
    pub config: DedupConfig,
}

/// The clusters of a run and, per record, what happens to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Clustering {
    pub report: Report,
    /// `(id, position, kept, kept_by)` for every record, by position.
    pub records: RecordBatch,
}

/// Record ids by position, and the way back.
struct Positions(Vec<u64>);

impl Positions {
    fn new(mut ids: Vec<u64>) -> Result<Self> {
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(KernelError::DuplicateId(w[0]));
        }
        Ok(Positions(ids))
    }

    fn of(&self, id: u64) -> Result<usize> {
        self.0
            .binary_search(&id)
            .map_err(|_| KernelError::UnknownId(id))
    }
}

/// Clusters `ids` (every loaded record) from `exact` `(removed, kept)` pairs
/// ([`crate::stages::exact_duplicates`]) and `near` confirmed `(i, j)` pairs
/// ([`crate::stages::confirm`]), exactly as the local run does: exact clusters keep the first
/// record of each text; near pairs join clusters in a union-find whose root is always the
/// smallest position.
pub fn cluster(
    ids: Vec<u64>,
    exact: &[(u64, u64)],
    near: &[(u64, u64)],
    cfg: &DedupConfig,
) -> Result<Clustering> {
    let positions = Positions::new(ids)?;
    let n = positions.0.len();
    let mut kept_by: Vec<usize> = (0..n).collect();
    let mut exact_of: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &(removed, kept) in exact {
        let (r, k) = (positions.of(removed)?, positions.of(kept)?);
        exact_of.entry(k).or_default().push(r);
        kept_by[r] = k;
    }
    let exact_removed: BTreeSet<usize> = exact_of.values().flatten().copied().collect();
    let mut uf = UnionFind::new(n);
    for &(i, j) in near {
        let (a, b) = (positions.of(i)?, positions.of(j)?);
        for (p, id) in [(a, i), (b, j)] {
            if exact_removed.contains(&p) {
                return Err(KernelError::Inconsistent(id));
            }
        }
        uf.union(a, b);
    }
    let mut clusters: Vec<Cluster> = exact_of
        .into_iter()
        .map(|(kept, mut removed)| {
            removed.sort_unstable();
            Cluster {
                kept,
                removed,
                kind: DupKind::Exact,
            }
        })
        .collect();
    for (kept, removed) in uf.clusters() {
        for &r in &removed {
            kept_by[r] = kept;
        }
        clusters.push(Cluster {
            kept,
            removed,
            kind: DupKind::Near,
        });
    }
    let count = |kind| {
        clusters
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.removed.len())
            .sum::<usize>()
    };
    let (exact_duplicates, near_duplicates) = (count(DupKind::Exact), count(DupKind::Near));
    let report = Report {
        records: n,
        kept: n - exact_duplicates - near_duplicates,
        exact_duplicates,
        near_duplicates,
        clusters,
        config: cfg.clone(),
    };
    let kept: BooleanArray = (0..n).map(|p| Some(kept_by[p] == p)).collect();
    let records = columns::batch(
        vec![
            (ID, columns::u64_array(positions.0)),
            (POSITION, columns::u64_array((0..n as u64).collect())),
            (KEPT, Arc::new(kept) as ArrayRef),
            (
                KEPT_BY,
                columns::u64_array(kept_by.into_iter().map(|p| p as u64).collect()),
            ),
        ],
        &config::metadata(cfg),
    )?;
    Ok(Clustering { report, records })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ajuste_shared::dedup;
    use ajuste_shared::record::Record;
    use ajuste_shared::synth::planted_records;

    use crate::prepare::{KEY_HI, KEY_LO, TEXT, split_key};
    use crate::stages;
    use arrow_array::LargeStringArray;

    #[test]
    fn positions_follow_sorted_ids() {
        let c = cluster(
            vec![30, 10, 20, 40],
            &[(40, 10)],
            &[(20, 30)],
            &config::parse(None).unwrap(),
        )
        .unwrap();
        assert_eq!(c.report.kept, 2);
        assert_eq!(
            c.report.clusters,
            [
                Cluster {
                    kept: 0,
                    removed: vec![3],
                    kind: DupKind::Exact
                },
                Cluster {
                    kept: 1,
                    removed: vec![2],
                    kind: DupKind::Near
                },
            ]
        );
        assert_eq!(
            columns::u64s(&c.records, KEPT_BY).unwrap(),
            [0, 1, 1, 0],
            "by position"
        );
    }

    #[test]
    fn bad_inputs_are_errors() {
        let cfg = config::parse(None).unwrap();
        assert!(matches!(
            cluster(vec![1, 1], &[], &[], &cfg),
            Err(KernelError::DuplicateId(1))
        ));
        assert!(matches!(
            cluster(vec![1, 2], &[], &[(1, 3)], &cfg),
            Err(KernelError::UnknownId(3))
        ));
        assert!(matches!(
            cluster(vec![1, 2, 3], &[(2, 1)], &[(2, 3)], &cfg),
            Err(KernelError::Inconsistent(2))
        ));
    }

    /// The whole pipeline, partitioned the way an engine would partition it, against the local
    /// `dedup` on planted data.
    #[test]
    fn staged_run_matches_the_local_run() {
        let (records, _) = planted_records(1500, 7);
        let mut cfg = config::parse(None).unwrap();
        cfg.threshold = 0.8;
        let local = dedup::dedup(&records, &cfg);
        let staged = staged_run(&records, &cfg, 3);
        assert_eq!(staged.report.kept, local.kept);
        assert_eq!(staged.report.exact_duplicates, local.exact_duplicates);
        assert_eq!(staged.report.near_duplicates, local.near_duplicates);
        assert!(local.near_duplicates > 10 && local.exact_duplicates > 10);
        let expected: Vec<(usize, Vec<usize>, DupKind)> = local
            .clusters
            .iter()
            .map(|c| (c.kept, c.removed.clone(), c.kind))
            .collect();
        let got: Vec<(usize, Vec<usize>, DupKind)> = staged
            .report
            .clusters
            .iter()
            .map(|c| (c.kept, c.removed.clone(), c.kind))
            .collect();
        assert_eq!(got, expected);
    }

    /// Runs the stages with `parts` hash partitions, ids spaced out (`7 * position + 3`) so
    /// that positions must be recovered from them.
    fn staged_run(records: &[Record], cfg: &DedupConfig, parts: u64) -> Clustering {
        let ids: Vec<u64> = (0..records.len() as u64).map(|p| 7 * p + 3).collect();
        let texts: Vec<String> = records.iter().map(dedup::record_text).collect();
        let keys: Vec<(u64, u64)> = texts
            .iter()
            .map(|t| split_key(dedup::exact_key(t)))
            .collect();
        let prepared = columns::batch(
            vec![
                (ID, columns::u64_array(ids.clone())),
                (
                    KEY_HI,
                    columns::u64_array(keys.iter().map(|k| k.0).collect()),
                ),
                (
                    KEY_LO,
                    columns::u64_array(keys.iter().map(|k| k.1).collect()),
                ),
                (
                    TEXT,
                    Arc::new(LargeStringArray::from(texts.clone())) as ArrayRef,
                ),
            ],
            &Default::default(),
        )
        .unwrap();
        // Map: two input blocks.
        let half = prepared.num_rows() / 2;
        let blocks = [
            prepared.slice(0, half),
            prepared.slice(half, prepared.num_rows() - half),
        ];
        let bands: Vec<RecordBatch> = blocks
            .iter()
            .map(|b| stages::signatures(b, cfg, None).unwrap())
            .collect();
        // Shuffle on (band, band_hash), then one bucket call per partition.
        let mut pairs = Vec::new();
        for p in 0..parts {
            let part: Vec<RecordBatch> = bands
                .iter()
                .map(|b| {
                    let bs = columns::u64s(b, stages::BAND_HASH).unwrap();
                    let mask: BooleanArray = bs.iter().map(|h| Some(h % parts == p)).collect();
                    arrow_select_filter(b, &mask)
                })
                .collect();
            let out = stages::bucket_pairs(&part, Some(cfg)).unwrap();
            let i = columns::u64s(&out, stages::I).unwrap();
            let j = columns::u64s(&out, stages::J).unwrap();
            pairs.extend(i.into_iter().zip(j));
        }
        pairs.sort_unstable();
        pairs.dedup();
        // Join back the texts, confirm.
        let text_of = |id: u64| texts[((id - 3) / 7) as usize].clone();
        let (pi, pj): (Vec<u64>, Vec<u64>) = pairs.iter().copied().unzip();
        let joined = columns::batch(
            vec![
                (stages::I, columns::u64_array(pi.clone())),
                (stages::J, columns::u64_array(pj.clone())),
                (
                    stages::TEXT_I,
                    Arc::new(LargeStringArray::from(
                        pi.iter().map(|&i| text_of(i)).collect::<Vec<_>>(),
                    )) as ArrayRef,
                ),
                (
                    stages::TEXT_J,
                    Arc::new(LargeStringArray::from(
                        pj.iter().map(|&j| text_of(j)).collect::<Vec<_>>(),
                    )) as ArrayRef,
                ),
            ],
            &Default::default(),
        )
        .unwrap();
        let confirmed = stages::confirm(&joined, cfg).unwrap();
        let near: Vec<(u64, u64)> = columns::u64s(&confirmed, stages::I)
            .unwrap()
            .into_iter()
            .zip(columns::u64s(&confirmed, stages::J).unwrap())
            .collect();
        let exact_batch = stages::exact_duplicates(&[prepared]).unwrap();
        let exact: Vec<(u64, u64)> = columns::u64s(&exact_batch, ID)
            .unwrap()
            .into_iter()
            .zip(columns::u64s(&exact_batch, stages::KEPT).unwrap())
            .collect();
        // Ids arrive in any order.
        let mut shuffled = ids;
        shuffled.reverse();
        cluster(shuffled, &exact, &near, cfg).unwrap()
    }

    /// The rows of `batch` where `mask` is true.
    fn arrow_select_filter(batch: &RecordBatch, mask: &BooleanArray) -> RecordBatch {
        let keep: Vec<usize> = (0..mask.len()).filter(|&i| mask.value(i)).collect();
        let schema = batch.schema();
        let cols = schema
            .fields()
            .iter()
            .map(|f| {
                let values = columns::u64s(batch, f.name()).unwrap();
                let picked: Vec<u64> = keep.iter().map(|&i| values[i]).collect();
                (f.name().as_str(), columns::u64_array(picked))
            })
            .collect::<Vec<_>>();
        columns::batch(cols, &Default::default()).unwrap()
    }
}
