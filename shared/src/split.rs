//! Seeded train/eval splits.
//!
//! The split is a pure function of (number of records, eval fraction, seed): the same inputs always
//! give the same split, on every platform (ChaCha8 is specified bit for bit, unlike `StdRng`).
//! Records keep their input order inside each part, so a split file diffs cleanly against its input.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Parameters of a split, as recorded in the bundle manifest.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SplitConfig {
    pub eval_fraction: f64,
    pub seed: u64,
}

/// Indices (into the input) of each part, in input order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Split {
    pub train: Vec<usize>,
    pub eval: Vec<usize>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SplitError {
    #[error("the eval fraction must be in [0, 1); got {0}")]
    BadFraction(f64),
}

/// Splits `n` records. The eval part has `round(n * eval_fraction)` records, at least one when the
/// fraction is positive and there are at least two records, and never all of them.
pub fn split(n: usize, cfg: SplitConfig) -> Result<Split, SplitError> {
    if !(0.0..1.0).contains(&cfg.eval_fraction) || cfg.eval_fraction.is_nan() {
        return Err(SplitError::BadFraction(cfg.eval_fraction));
    }
    let mut n_eval = (n as f64 * cfg.eval_fraction).round() as usize;
    if cfg.eval_fraction > 0.0 && n >= 2 {
        n_eval = n_eval.clamp(1, n - 1);
    } else {
        n_eval = n_eval.min(n.saturating_sub(1));
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(cfg.seed));
    let mut is_eval = vec![false; n];
    for &i in &order[..n_eval] {
        is_eval[i] = true;
    }
    let (eval, train): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| is_eval[i]);
    Ok(Split { train, eval })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn same_seed_same_split_other_seed_other_split() {
        let cfg = SplitConfig {
            eval_fraction: 0.2,
            seed: 7,
        };
        let a = split(100, cfg).unwrap();
        assert_eq!(a, split(100, cfg).unwrap());
        assert_ne!(a, split(100, SplitConfig { seed: 8, ..cfg }).unwrap());
        assert_eq!(a.eval.len(), 20);
    }

    #[test]
    fn small_inputs_keep_both_parts_non_empty() {
        let s = split(
            2,
            SplitConfig {
                eval_fraction: 0.01,
                seed: 1,
            },
        )
        .unwrap();
        assert_eq!((s.train.len(), s.eval.len()), (1, 1));
        let s = split(
            1,
            SplitConfig {
                eval_fraction: 0.5,
                seed: 1,
            },
        )
        .unwrap();
        assert_eq!((s.train.len(), s.eval.len()), (1, 0));
    }

    #[test]
    fn fractions_outside_the_range_are_refused() {
        for f in [1.0, -0.1, f64::NAN] {
            assert!(
                split(
                    10,
                    SplitConfig {
                        eval_fraction: f,
                        seed: 0
                    }
                )
                .is_err()
            );
        }
    }

    proptest! {
        #[test]
        fn parts_partition_the_input_in_order(n in 0usize..500, f in 0.0f64..0.99, seed: u64) {
            let s = split(n, SplitConfig { eval_fraction: f, seed }).unwrap();
            let mut all: Vec<usize> = s.train.iter().chain(&s.eval).copied().collect();
            prop_assert!(s.train.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(s.eval.windows(2).all(|w| w[0] < w[1]));
            all.sort_unstable();
            prop_assert_eq!(all, (0..n).collect::<Vec<_>>());
        }
    }
}
