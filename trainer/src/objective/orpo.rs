//! ORPO: the NLL of the chosen sequences plus an odds-ratio preference term, no reference model.
//!
//! As TRL's `ORPOTrainer` (1.16, `trl.experimental.orpo`) computes it: with `a` the mean
//! per-token log-prob of a completion, `log_odds = (a_c - a_r) - (log(1 - e^{a_c}) -
//! log(1 - e^{a_r}))` and `loss = NLL(chosen) - λ·mean(log σ(log_odds))`. TRL calls λ `beta`
//! (default 0.1). TRL's NLL runs over the whole chosen sequence, prompt included (labels are the
//! input ids wherever the attention mask is 1); pass those labels as the policy's labels and the
//! completion labels separately (see [`orpo_loss`]). Passing completion labels for both trains
//! the completion only.
//!
//! Metrics are TRL's: `rewards/*` from `λ·a`, `logps/*` the mean `a`, `logits/*` the mean of every
//! logit of positions `0..T-1` of the chosen (rejected) rows, `nll_loss`, `log_odds_ratio`
//! (mean `log σ(log_odds)`) and `log_odds_chosen` (mean `log_odds`).

use burn::tensor::Tensor;
use burn::tensor::activation::log_sigmoid;
use serde::{Deserialize, Serialize};

use super::logprobs::{LabelBatch, PairLogps, TokenLogps};
use super::sft::sft_loss_from_logps;
use super::{
    LossTerm, MetricTensors, Objective, ObjectiveError, check_positive, push_pair_rewards,
};

/// ORPO's parameters. Defaults are TRL's.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrpoConfig {
    /// Weight λ of the odds-ratio term (TRL's `beta`, the paper's λ).
    pub beta: f64,
}

impl Default for OrpoConfig {
    fn default() -> Self {
        Self { beta: 0.1 }
    }
}

impl OrpoConfig {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<(), ObjectiveError> {
        check_positive("beta", self.beta)
    }
}

/// ORPO on a preference batch: the loss and TRL's metrics.
///
/// # Arguments
/// - `policy`: token log-probs of the `[2B, T]` batch (chosen rows, then rejected rows) taken
///   at the NLL labels: TRL's are [`LabelBatch::from_input_ids`] (prompt and completion).
/// - `completion`: the `[2B, T]` completion labels (-100 on prompt and padding); every label
///   they train must be the token `policy` was taken at, and every row needs one.
/// - `config`: λ.
pub fn orpo_loss(
    policy: &TokenLogps,
    completion: &LabelBatch,
    config: &OrpoConfig,
) -> Result<Objective, ObjectiveError> {
    config.validate()?;
    let completion_logps = policy.restrict(completion)?;
    let PairLogps {
        chosen: chosen_avg,
        rejected: rejected_avg,
    } = PairLogps::from_rows(completion_logps.average_logps("ORPO")?)?; // [B] + [B]
    let (chosen_full, _) = policy.split_pairs()?;
    let (chosen, rejected) = completion_logps.split_pairs()?;

    let nll = sft_loss_from_logps(&chosen_full)?;
    let log_odds = log_odds(chosen_avg.clone(), rejected_avg.clone()); // [B]
    let ratio = log_sigmoid(log_odds.clone()); // [B]
    // `nll - mean·λ`, written as a sum of its two means (the same value to the bit).
    let odds_term = ratio.clone().mean() * (-config.beta);
    let loss = nll.clone() + odds_term.clone();
    let terms = vec![
        LossTerm::new(nll.clone(), chosen_full.counts().iter().sum()),
        LossTerm::new(odds_term, chosen.rows()),
    ];

    let mut metrics = MetricTensors::new();
    let chosen_rewards = chosen_avg.clone().detach() * config.beta;
    let rejected_rewards = rejected_avg.clone().detach() * config.beta;
    push_pair_rewards(&mut metrics, &chosen_rewards, &rejected_rewards);
    metrics.push("logps/chosen", chosen_avg.mean());
    metrics.push("logps/rejected", rejected_avg.mean());
    metrics.push("logits/chosen", chosen.all_positions_mean_logits(false));
    metrics.push("logits/rejected", rejected.all_positions_mean_logits(false));
    metrics.push("nll_loss", nll);
    metrics.push("log_odds_ratio", ratio.mean());
    metrics.push("log_odds_chosen", log_odds.mean());
    Ok(Objective {
        loss,
        metrics,
        terms,
    })
}

/// `[B]` log odds ratio of chosen over rejected from mean per-token log-probs:
/// `log(odds(a_c) / odds(a_r))` with `odds(a) = e^a / (1 - e^a)`.
///
/// # Arguments
/// - `chosen_avg`, `rejected_avg`: `[B]` mean log-probs, each `<= 0`.
pub fn log_odds(chosen_avg: Tensor<1>, rejected_avg: Tensor<1>) -> Tensor<1> {
    (chosen_avg.clone() - rejected_avg.clone()) - (log1mexp(chosen_avg) - log1mexp(rejected_avg))
}

/// `log(1 - e^x)` for `x <= 0`, accurate on both sides of `-ln 2` (as TRL's `log1mexp`):
/// `log1p(-e^x)` below, `log(-expm1(x))` above. burn has no `expm1`, so it is computed from
/// `expm1(x) = 2·tanh(x/2) / (1 - tanh(x/2))`, which has no cancellation near 0.
///
/// Each branch gets its argument clamped to its own side, so the branch not taken stays finite
/// and its zero gradient cannot turn into NaN. At `x = 0` (a completion of probability 1) the
/// true value is `-inf`; the argument is held at `-1e-30`, which keeps the loss finite.
fn log1mexp(x: Tensor<1>) -> Tensor<1> {
    const LN_HALF: f64 = -std::f64::consts::LN_2;
    let below = x.clone().lower_elem(LN_HALF);
    let far = x.clone().clamp_max(LN_HALF).exp().neg().log1p();
    let t = (x.clamp(LN_HALF, -1e-30) * 0.5).tanh(); // in [tanh(-ln2/2), 0)
    let near = (t.clone() * -2.0).log() - (t.neg() + 1.0).log();
    near.mask_where(below, far)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, TensorData};

    use super::*;

    fn values(t: Tensor<1>) -> Vec<f64> {
        t.into_data().try_into_vec_as::<f64>().unwrap()
    }

    #[test]
    fn log1mexp_is_accurate_on_both_branches() {
        let xs = [-20.0f64, -3.0, -0.7, -0.69, -0.3, -1e-3, -1e-6];
        let t = Tensor::<1>::from_data(
            TensorData::new(xs.iter().map(|&x| x as f32).collect::<Vec<_>>(), [xs.len()]),
            &Device::flex(),
        );
        for (x, got) in xs.iter().zip(values(log1mexp(t))) {
            // f64 reference: log(-expm1(x)).
            let want = (-x.exp_m1()).ln();
            assert!(
                (got - want).abs() <= 2e-6 * want.abs().max(1.0),
                "x={x}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn log1mexp_has_a_finite_gradient_everywhere() {
        let device = Device::flex().autodiff();
        let x = Tensor::<1>::from_data(TensorData::new(vec![-5.0f32, -0.5, 0.0], [3]), &device)
            .require_grad();
        let grads = log1mexp(x.clone()).sum().backward();
        for g in values(x.grad(&grads).unwrap()) {
            assert!(g.is_finite(), "{g}");
        }
    }

    #[test]
    fn equal_completions_have_zero_log_odds() {
        let a = Tensor::<1>::from_data(TensorData::new(vec![-0.2f32, -4.0], [2]), &Device::flex());
        for v in values(log_odds(a.clone(), a)) {
            assert_eq!(v, 0.0);
        }
    }
}
