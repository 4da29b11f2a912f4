//! Kahneman-Tversky Optimisation, as TRL's `KTOTrainer` (1.16) computes it.
//!
//! Each example is a prompt, a completion and a label (desirable or not). With
//! `r = π(y|x) - ref(y|x)` over summed completion log-probs and the KL estimate
//! `z = max(0, mean(π(y'|x) - ref(y'|x)))` over mismatched pairs of the same micro-batch
//! (detached), the per-example loss is `λ_D·(1 - σ(β(r - z)))` for desirable examples and
//! `λ_U·(1 - σ(β(z - r)))` for undesirable ones; the loss is their mean over the micro-batch.
//!
//! The mismatched pairs are TRL's: completion `i` goes with prompt `i + 1`, rotating within the
//! micro-batch ([`kl_pairing`]), so the completions behind `z` are the batch's own. At a
//! micro-batch of one the only "mismatched" pair is the matched one, the estimate is meaningless
//! (and a known source of NaNs in other tools), so ajuste refuses it.
//!
//! Metrics are TRL's: `rewards/chosen` (mean `βr` of desirable examples), `rewards/rejected`,
//! `rewards/margins` (their difference), `kl` (`z`), `logps/chosen`, `logps/rejected` (mean
//! summed log-probs) and `logits/chosen`, `logits/rejected` (mean over completion tokens of the
//! vocabulary-mean logit). As in TRL, a metric of a side with no example in the batch is left
//! out rather than logged as NaN.

use burn::tensor::activation::sigmoid;
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::logprobs::TokenLogps;
use super::{
    LossTerm, MetricTensors, Objective, ObjectiveError, check_non_negative, check_positive,
};

/// KTO's parameters. Defaults are TRL's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KtoConfig {
    /// How far the policy may move from the reference (higher: less).
    pub beta: f64,
    /// Weight λ_D of desirable examples.
    pub desirable_weight: f64,
    /// Weight λ_U of undesirable examples. With unequal counts, the KTO paper suggests
    /// `λ_D·n_D / (λ_U·n_U)` in `[1, 4/3]`.
    pub undesirable_weight: f64,
}

impl Default for KtoConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            desirable_weight: 1.0,
            undesirable_weight: 1.0,
        }
    }
}

impl KtoConfig {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<(), ObjectiveError> {
        check_positive("beta", self.beta)?;
        check_non_negative("desirable_weight", self.desirable_weight)?;
        check_non_negative("undesirable_weight", self.undesirable_weight)
    }
}

/// For each prompt `i` of a micro-batch of `batch` examples, the example whose completion it is
/// paired with in the KL batch: `i - 1`, wrapping (TRL's `[c[-1]] + c[:-1]`). So completion `i`
/// goes with prompt `i + 1`.
///
/// # Errors
/// [`ObjectiveError::KtoBatchTooSmall`] below 2 examples.
pub fn kl_pairing(batch: usize) -> Result<Vec<usize>, ObjectiveError> {
    if batch < 2 {
        return Err(ObjectiveError::KtoBatchTooSmall { rows: batch });
    }
    Ok((0..batch).map(|i| (i + batch - 1) % batch).collect())
}

/// One KTO micro-batch, ready for the loss.
#[derive(Debug, Clone)]
pub struct KtoBatch<'a> {
    /// Token log-probs of the `[B, T]` matched (prompt `i`, completion `i`) rows under the
    /// policy, attached to the graph.
    pub policy: &'a TokenLogps,
    /// `[B]` summed completion log-probs of the mismatched rows ([`kl_pairing`]) under the
    /// policy. Detached here: TRL computes them without gradient.
    pub policy_kl: Tensor<1>,
    /// `[B]` summed completion log-probs of the matched rows under the reference model.
    pub reference: Tensor<1>,
    /// `[B]` the same for the mismatched rows.
    pub reference_kl: Tensor<1>,
    /// Per row, whether the completion is desirable.
    pub desirable: &'a [bool],
}

/// KTO on a micro-batch: the loss and TRL's metrics.
///
/// # Arguments
/// - `batch`: the policy's token log-probs `[B, T]`, the `[B]` KL and reference log-probs, and
///   the `B` labels; `B >= 2`.
/// - `config`: β and the two weights.
pub fn kto_loss(batch: &KtoBatch<'_>, config: &KtoConfig) -> Result<Objective, ObjectiveError> {
    config.validate()?;
    let b = batch.policy.rows();
    if b < 2 {
        return Err(ObjectiveError::KtoBatchTooSmall { rows: b });
    }
    check_len("policy_kl", &batch.policy_kl, b)?;
    check_len("reference", &batch.reference, b)?;
    check_len("reference_kl", &batch.reference_kl, b)?;
    let kl = kl_estimate(batch.policy_kl.clone(), batch.reference_kl.clone());
    kto_loss_with_kl(
        batch.policy,
        batch.reference.clone(),
        batch.desirable,
        kl,
        config,
    )
}

/// `[1]`: KTO's KL estimate `z = max(0, mean(policy_kl - reference_kl))`, detached.
///
/// # Arguments
/// - `policy_kl`, `reference_kl`: `[B]` summed completion log-probs of the mismatched rows
///   ([`kl_pairing`]) under the policy and the reference model.
pub fn kl_estimate(policy_kl: Tensor<1>, reference_kl: Tensor<1>) -> Tensor<1> {
    (policy_kl.detach() - reference_kl.detach())
        .mean()
        .clamp_min(0.0)
}

/// KTO on rows whose KL estimate is already known: the loss (the mean over these rows) and
/// TRL's metrics. A micro-batch cut into shards gives every shard the micro-batch's `z`, so the
/// shards' losses add up to the micro-batch's ([`Objective::share_of`]); a shard may then hold
/// a single row.
///
/// # Arguments
/// - `policy`: the policy's token log-probs of the `[B, T]` matched rows, attached.
/// - `reference`: `[B]` their summed completion log-probs under the reference model.
/// - `desirable`: the `B` labels.
/// - `kl`: `[1]` the estimate `z` ([`kl_estimate`]), detached here.
/// - `config`: β and the two weights.
pub fn kto_loss_with_kl(
    policy: &TokenLogps,
    reference: Tensor<1>,
    desirable: &[bool],
    kl: Tensor<1>,
    config: &KtoConfig,
) -> Result<Objective, ObjectiveError> {
    config.validate()?;
    let b = policy.rows();
    if b == 0 {
        return Err(ObjectiveError::EmptyBatch);
    }
    check_len("reference", &reference, b)?;
    if desirable.len() != b {
        return Err(ObjectiveError::ShapeMismatch {
            what: "desirable labels",
            expected: format!("{b} (one per row)"),
            found: desirable.len().to_string(),
        });
    }
    let kl = kl.detach();
    let policy_logps = policy.sequence_logps(); // [B]
    let ratios = policy_logps.clone() - reference.detach(); // [B]

    let device = policy_logps.device();
    let desirable_rows: Vec<usize> = (0..b).filter(|&i| desirable[i]).collect();
    let undesirable_rows: Vec<usize> = (0..b).filter(|&i| !desirable[i]).collect();
    let pick = |t: &Tensor<1>, rows: &[usize]| t.clone().select(0, row_index(rows, &device));

    let beta = config.beta;
    let mut total = Tensor::<1>::zeros([1], &device);
    let mut metrics = MetricTensors::new();
    let mut rewards = [None, None];
    if !desirable_rows.is_empty() {
        let r = pick(&ratios, &desirable_rows);
        let losses = sigmoid((r.clone() - kl.clone()) * beta).neg() + 1.0;
        total = total + losses.sum() * config.desirable_weight;
        rewards[0] = Some(r.detach().mean() * beta);
    }
    if !undesirable_rows.is_empty() {
        let r = pick(&ratios, &undesirable_rows);
        let losses = sigmoid((kl.clone() - r.clone()) * beta).neg() + 1.0;
        total = total + losses.sum() * config.undesirable_weight;
        rewards[1] = Some(r.detach().mean() * beta);
    }
    let loss = total / (b as f64);
    let terms = vec![LossTerm::new(loss.clone(), b)];

    let [chosen_reward, rejected_reward] = rewards;
    if let Some(r) = &chosen_reward {
        metrics.push("rewards/chosen", r.clone());
    }
    if let Some(r) = &rejected_reward {
        metrics.push("rewards/rejected", r.clone());
    }
    if let (Some(c), Some(r)) = (chosen_reward, rejected_reward) {
        metrics.push("rewards/margins", c - r);
    }
    metrics.push("kl", kl);
    for (name, rows) in [
        ("logps/chosen", &desirable_rows),
        ("logps/rejected", &undesirable_rows),
    ] {
        if !rows.is_empty() {
            metrics.push(name, pick(&policy_logps, rows).mean());
        }
    }
    for (name, rows) in [
        ("logits/chosen", &desirable_rows),
        ("logits/rejected", &undesirable_rows),
    ] {
        if rows.iter().any(|&i| policy.counts()[i] > 0) {
            metrics.push(name, completion_mean_logits_of(policy, rows)?);
        }
    }
    Ok(Objective {
        loss,
        metrics,
        terms,
    })
}

/// `[1]`: the completion-token mean of the vocabulary-mean logits over `rows` (not contiguous,
/// so row by row, weighted by token counts).
fn completion_mean_logits_of(
    policy: &TokenLogps,
    rows: &[usize],
) -> Result<Tensor<1>, ObjectiveError> {
    let mut weighted = Vec::with_capacity(rows.len());
    let mut tokens = 0usize;
    for &i in rows {
        let row = policy.select_rows(i..i + 1)?;
        let n = row.counts()[0];
        tokens += n;
        weighted.push(row.completion_mean_logits() * (n as f64));
    }
    let sum = Tensor::cat(weighted, 0).sum();
    Ok(sum / (tokens.max(1) as f64))
}

fn row_index(rows: &[usize], device: &burn::tensor::Device) -> Tensor<1, Int> {
    let rows: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
    let n = rows.len();
    Tensor::from_data(TensorData::new(rows, [n]), device)
}

fn check_len(what: &'static str, t: &Tensor<1>, b: usize) -> Result<(), ObjectiveError> {
    let [n] = t.dims();
    if n == b {
        Ok(())
    } else {
        Err(ObjectiveError::ShapeMismatch {
            what,
            expected: format!("[{b}] (one per row)"),
            found: format!("[{n}]"),
        })
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::super::{LabelBatch, token_logps};
    use super::*;

    #[test]
    fn completion_i_is_paired_with_prompt_i_plus_one() {
        // TRL: KL_completion_ids = [c[-1]] + c[:-1], i.e. prompt i gets completion i - 1.
        assert_eq!(kl_pairing(4).unwrap(), [3, 0, 1, 2]);
        assert_eq!(kl_pairing(2).unwrap(), [1, 0]);
    }

    #[test]
    fn a_micro_batch_of_one_is_refused_with_the_reason() {
        let err = kl_pairing(1).unwrap_err();
        assert_eq!(err, ObjectiveError::KtoBatchTooSmall { rows: 1 });
        assert!(err.to_string().contains("at least 2"));

        let device = Device::flex();
        let labels = LabelBatch::new(&[vec![-100, 1, 2]]).unwrap();
        let lp = token_logps(Tensor::<3>::zeros([1, 3, 4], &device), &labels).unwrap();
        let one = || Tensor::<1>::zeros([1], &device);
        let batch = KtoBatch {
            policy: &lp,
            policy_kl: one(),
            reference: one(),
            reference_kl: one(),
            desirable: &[true],
        };
        assert_eq!(
            kto_loss(&batch, &KtoConfig::default()).unwrap_err(),
            ObjectiveError::KtoBatchTooSmall { rows: 1 }
        );
    }

    #[test]
    fn at_the_reference_each_example_costs_half_its_weight() {
        // r = 0 and z = 0: 1 - σ(0) = 0.5, times λ.
        let device = Device::flex();
        let labels = LabelBatch::new(&[vec![-100, 1, 2], vec![-100, 3, 0]]).unwrap();
        let lp = token_logps(Tensor::<3>::zeros([2, 3, 4], &device), &labels).unwrap();
        let config = KtoConfig {
            desirable_weight: 1.0,
            undesirable_weight: 3.0,
            ..KtoConfig::default()
        };
        let batch = KtoBatch {
            policy: &lp,
            policy_kl: lp.sequence_logps(),
            reference: lp.sequence_logps(),
            reference_kl: lp.sequence_logps(),
            desirable: &[true, false],
        };
        let out = kto_loss(&batch, &config).unwrap();
        let loss: f32 = out.loss.into_scalar();
        assert!((loss - (0.5 + 1.5) / 2.0).abs() < 1e-6);
        let m = out.metrics.read_blocking().unwrap();
        assert_eq!(m.get("kl"), Some(0.0));
        assert_eq!(m.get("rewards/margins"), Some(0.0));
    }
}
