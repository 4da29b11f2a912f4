//! Direct Preference Optimisation, as TRL's `DPOTrainer` (1.16) computes it.
//!
//! With `Δ = (π_c - ref_c) - (π_r - ref_r)` over summed completion log-probs:
//! - `sigmoid`: `-log σ(βΔ)`; with label smoothing `ε`, the conservative form
//!   `-(1-ε)·log σ(βΔ) - ε·log σ(-βΔ)` (TRL before 1.0 applied it here; TRL 1.16 keeps it only in
//!   its `aot`/`robust` variants, and the golden test takes it from `aot` on single pairs);
//! - `ipo`: `(Δ_avg - 1/(2β))²` where each log-ratio is divided by its completion's token count
//!   (TRL's length normalisation, confirmed with the IPO authors);
//! - `hinge`: `relu(1 - βΔ)`.
//!
//! The loss is the mean over pairs. Metrics are TRL's: `rewards/chosen` = mean `β(π_c - ref_c)`,
//! `rewards/rejected`, `rewards/accuracies` (share of pairs whose chosen reward is strictly
//! higher), `rewards/margins`, `logps/chosen` and `logps/rejected` (mean summed log-probs), and
//! `logits/chosen`/`logits/rejected` (mean over completion tokens of the vocabulary-mean logit).

use std::fmt;
use std::str::FromStr;

use burn::tensor::Tensor;
use burn::tensor::activation::{log_sigmoid, relu};
use serde::{Deserialize, Serialize};

use super::logprobs::{PairLogps, TokenLogps};
use super::{
    LossTerm, MetricTensors, Objective, ObjectiveError, check_positive, check_smoothing,
    push_pair_rewards,
};

/// DPO's parameters. Defaults are TRL's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DpoConfig {
    /// How far the policy may move from the reference (higher: less). TRL default 0.1; for IPO
    /// it is the regulariser τ.
    pub beta: f64,
    /// Which DPO loss.
    pub loss_type: DpoLossType,
    /// Probability that a preference label is flipped, in `[0, 0.5)`; sigmoid loss only.
    pub label_smoothing: f64,
}

impl Default for DpoConfig {
    fn default() -> Self {
        Self {
            beta: 0.1,
            loss_type: DpoLossType::Sigmoid,
            label_smoothing: 0.0,
        }
    }
}

impl DpoConfig {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<(), ObjectiveError> {
        check_positive("beta", self.beta)?;
        check_smoothing(self.label_smoothing)?;
        if self.label_smoothing > 0.0 && self.loss_type != DpoLossType::Sigmoid {
            return Err(ObjectiveError::InvalidConfig {
                field: "label_smoothing",
                reason: format!("applies to the sigmoid loss only, not {}", self.loss_type),
            });
        }
        Ok(())
    }
}

/// The DPO loss variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DpoLossType {
    /// The original DPO loss, `-log σ(βΔ)`.
    #[default]
    Sigmoid,
    /// Identity Preference Optimisation, squared distance to a margin of `1/(2β)`.
    Ipo,
    /// SLiC's hinge loss, `relu(1 - βΔ)`.
    Hinge,
}

impl DpoLossType {
    /// Every variant.
    pub const ALL: [DpoLossType; 3] = [DpoLossType::Sigmoid, DpoLossType::Ipo, DpoLossType::Hinge];

    /// The name in configs and on the command line (TRL's `loss_type`).
    pub fn as_str(self) -> &'static str {
        match self {
            DpoLossType::Sigmoid => "sigmoid",
            DpoLossType::Ipo => "ipo",
            DpoLossType::Hinge => "hinge",
        }
    }
}

impl fmt::Display for DpoLossType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DpoLossType {
    type Err = ObjectiveError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| ObjectiveError::InvalidConfig {
                field: "loss_type",
                reason: format!("must be one of sigmoid, ipo, hinge, found `{s}`"),
            })
    }
}

/// Per-pair losses and the rewards that the metrics report.
#[derive(Debug, Clone)]
pub struct PairLosses {
    /// `[B]` loss of each pair, attached to the graph.
    pub losses: Tensor<1>,
    /// `[B]` detached rewards of the chosen completions.
    pub chosen_rewards: Tensor<1>,
    /// `[B]` detached rewards of the rejected completions.
    pub rejected_rewards: Tensor<1>,
}

/// DPO on a preference batch: the loss and TRL's metrics.
///
/// # Arguments
/// - `policy`: token log-probs of the `[2B, T]` batch under the policy (chosen rows, then
///   rejected rows), attached to the graph.
/// - `reference`: `[B]` + `[B]` summed completion log-probs under the reference model for the
///   same rows (detached here).
/// - `config`: β, loss type, label smoothing.
pub fn dpo_loss(
    policy: &TokenLogps,
    reference: &PairLogps,
    config: &DpoConfig,
) -> Result<Objective, ObjectiveError> {
    config.validate()?;
    let (chosen, rejected) = policy.split_pairs()?;
    let policy_logps = PairLogps {
        chosen: chosen.sequence_logps(),
        rejected: rejected.sequence_logps(),
    };
    let lengths = (
        chosen.labels().label_counts(),
        rejected.labels().label_counts(),
    );
    let pairs = dpo_pair_losses(&policy_logps, reference, (&lengths.0, &lengths.1), config)?;
    let [n_pairs] = policy_logps.chosen.dims();

    let mut metrics = MetricTensors::new();
    push_pair_rewards(&mut metrics, &pairs.chosen_rewards, &pairs.rejected_rewards);
    metrics.push("logps/chosen", policy_logps.chosen.mean());
    metrics.push("logps/rejected", policy_logps.rejected.mean());
    metrics.push("logits/chosen", chosen.completion_mean_logits());
    metrics.push("logits/rejected", rejected.completion_mean_logits());
    let loss = pairs.losses.mean();
    let terms = vec![LossTerm::new(loss.clone(), n_pairs)];
    Ok(Objective {
        loss,
        metrics,
        terms,
    })
}

/// Per-pair DPO losses from sequence log-probs.
///
/// # Arguments
/// - `policy`: `[B]` + `[B]` summed completion log-probs under the policy.
/// - `reference`: the same under the reference model (detached here).
/// - `lengths`: completion token counts of the chosen and rejected sequences (the IPO loss
///   divides by them; a count of 0 is taken as 1, as TRL does).
/// - `config`: β, loss type, label smoothing.
pub fn dpo_pair_losses(
    policy: &PairLogps,
    reference: &PairLogps,
    lengths: (&[usize], &[usize]),
    config: &DpoConfig,
) -> Result<PairLosses, ObjectiveError> {
    let b = policy.len();
    policy.check_len("policy log-probs", b)?;
    reference.check_len("reference log-probs", b)?;
    for (what, l) in [
        ("chosen lengths", lengths.0),
        ("rejected lengths", lengths.1),
    ] {
        if l.len() != b {
            return Err(ObjectiveError::ShapeMismatch {
                what,
                expected: format!("{b} (one per pair)"),
                found: l.len().to_string(),
            });
        }
    }
    let reference = reference.detach();
    let chosen_ratio = policy.chosen.clone() - reference.chosen; // [B]
    let rejected_ratio = policy.rejected.clone() - reference.rejected; // [B]
    let beta = config.beta;
    let losses = match config.loss_type {
        DpoLossType::Sigmoid => {
            let logits = (chosen_ratio.clone() - rejected_ratio.clone()) * beta;
            conservative_sigmoid_loss(logits, config.label_smoothing)
        }
        DpoLossType::Ipo => {
            let device = policy.chosen.device();
            let chosen_avg = chosen_ratio.clone() / counts(lengths.0, &device);
            let rejected_avg = rejected_ratio.clone() / counts(lengths.1, &device);
            (chosen_avg - rejected_avg - 1.0 / (2.0 * beta)).powi_scalar(2)
        }
        DpoLossType::Hinge => relu(
            (chosen_ratio.clone() - rejected_ratio.clone())
                .mul_scalar(-beta)
                .add_scalar(1.0),
        ),
    };
    Ok(PairLosses {
        losses,
        chosen_rewards: chosen_ratio.detach() * beta,
        rejected_rewards: rejected_ratio.detach() * beta,
    })
}

/// `-(1-ε)·log σ(x) - ε·log σ(-x)`; the second term is skipped at ε = 0, where it vanishes.
pub(crate) fn conservative_sigmoid_loss(logits: Tensor<1>, smoothing: f64) -> Tensor<1> {
    let clean = log_sigmoid(logits.clone()).neg();
    if smoothing == 0.0 {
        return clean;
    }
    clean * (1.0 - smoothing) - log_sigmoid(logits.neg()) * smoothing
}

/// `[B]` token counts as floats, at least 1 each.
fn counts(lengths: &[usize], device: &burn::tensor::Device) -> Tensor<1> {
    let v: Vec<f32> = lengths.iter().map(|&n| n.max(1) as f32).collect();
    Tensor::from_data(burn::tensor::TensorData::new(v, [lengths.len()]), device)
}

#[cfg(test)]
mod tests {
    use burn::tensor::Device;

    use super::*;

    fn pairs(chosen: &[f64], rejected: &[f64], device: &Device) -> PairLogps {
        PairLogps::from_values(chosen, rejected, device).unwrap()
    }

    fn scalar(t: Tensor<1>) -> f64 {
        t.into_data().try_into_vec_as::<f64>().unwrap()[0]
    }

    #[test]
    fn at_the_reference_the_sigmoid_loss_is_ln_2() {
        // Python: -F.logsigmoid(torch.tensor(0.0)) == log(2)
        let device = Device::flex();
        let p = pairs(&[-3.0, -7.0], &[-4.0, -2.0], &device);
        let out = dpo_pair_losses(&p, &p, (&[2, 3], &[2, 3]), &DpoConfig::default()).unwrap();
        assert!((scalar(out.losses.mean()) - 2f64.ln()).abs() < 1e-6);
    }

    #[test]
    fn hinge_and_ipo_match_their_formulas() {
        // Δ = (−1 − −3) − (−4 − −2) = 4; β = 0.1.
        let device = Device::flex();
        let policy = pairs(&[-1.0], &[-4.0], &device);
        let reference = pairs(&[-3.0], &[-2.0], &device);
        let hinge = DpoConfig {
            loss_type: DpoLossType::Hinge,
            ..DpoConfig::default()
        };
        let out = dpo_pair_losses(&policy, &reference, (&[2], &[4]), &hinge).unwrap();
        assert!((scalar(out.losses) - 0.6).abs() < 1e-6);
        // IPO: 2/2 − (−2)/4 = 1.5; (1.5 − 5)² = 12.25.
        let ipo = DpoConfig {
            loss_type: DpoLossType::Ipo,
            ..DpoConfig::default()
        };
        let out = dpo_pair_losses(&policy, &reference, (&[2], &[4]), &ipo).unwrap();
        assert!((scalar(out.losses) - 12.25).abs() < 1e-5);
    }

    #[test]
    fn label_smoothing_is_for_the_sigmoid_loss_only() {
        let config = DpoConfig {
            loss_type: DpoLossType::Hinge,
            label_smoothing: 0.1,
            ..DpoConfig::default()
        };
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("sigmoid loss only")
        );
    }

    #[test]
    fn loss_types_parse_by_trl_name() {
        assert_eq!("ipo".parse::<DpoLossType>().unwrap(), DpoLossType::Ipo);
        assert!("kto_pair".parse::<DpoLossType>().is_err());
    }

    #[test]
    fn mismatched_pair_counts_are_refused() {
        let device = Device::flex();
        let policy = pairs(&[-1.0, -2.0], &[-4.0, -1.0], &device);
        let reference = pairs(&[-3.0], &[-2.0], &device);
        let err = dpo_pair_losses(
            &policy,
            &reference,
            (&[1, 1], &[1, 1]),
            &DpoConfig::default(),
        );
        assert!(matches!(
            err,
            Err(ObjectiveError::ShapeMismatch {
                what: "reference log-probs",
                ..
            })
        ));
    }
}
