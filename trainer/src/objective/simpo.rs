//! SimPO: reference-free preference optimisation on length-normalised log-probs.
//!
//! As TRL's `CPOTrainer` (1.16, `trl.experimental.cpo`) computes it with `loss_type="simpo"`:
//! with `avg` the mean log-prob per completion token,
//! `loss = -(1-ε)·log σ(β·avg_c - β·avg_r - γ) - ε·log σ(-(β·avg_c - β·avg_r - γ))`, the mean over
//! pairs, plus `cpo_alpha` times the NLL of the chosen completions (CPO's behaviour-cloning
//! term). TRL's `simpo_gamma` is this `γ` (its code divides it by β and multiplies back).
//!
//! ajuste's defaults are the SimPO paper's form and range (β 2.0, γ/β 0.5, no NLL term), not
//! TRL's CPO defaults (β 0.1, `cpo_alpha` 1.0), which the paper found far from working.
//!
//! Metrics are TRL's: `rewards/*` from `β·avg`, `logps/*` the mean `avg`, `logits/*` the mean of
//! every logit of the chosen (rejected) rows, all positions (padding too) and the whole
//! vocabulary, and `nll_loss` (0 when `cpo_alpha` is 0, as TRL logs it).

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use super::dpo::conservative_sigmoid_loss;
use super::logprobs::{PairLogps, TokenLogps};
use super::sft::sft_loss_from_logps;
use super::{
    LossTerm, MetricTensors, Objective, ObjectiveError, check_non_negative, check_positive,
    check_smoothing, push_pair_rewards,
};

/// SimPO's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimpoConfig {
    /// Scale of the reward difference (the paper: 2.0 to 2.5).
    pub beta: f64,
    /// Target reward margin γ (the paper: γ/β about 0.5).
    pub gamma: f64,
    /// Probability that a preference label is flipped, in `[0, 0.5)`.
    pub label_smoothing: f64,
    /// Weight of the chosen completions' NLL (CPO-SimPO); 0 is pure SimPO.
    pub cpo_alpha: f64,
}

impl Default for SimpoConfig {
    fn default() -> Self {
        Self {
            beta: 2.0,
            gamma: 1.0,
            label_smoothing: 0.0,
            cpo_alpha: 0.0,
        }
    }
}

impl SimpoConfig {
    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<(), ObjectiveError> {
        check_positive("beta", self.beta)?;
        check_non_negative("gamma", self.gamma)?;
        check_smoothing(self.label_smoothing)?;
        check_non_negative("cpo_alpha", self.cpo_alpha)
    }
}

/// SimPO on a preference batch: the loss and TRL's metrics.
///
/// # Arguments
/// - `policy`: token log-probs of the `[2B, T]` batch (chosen rows, then rejected rows) with
///   completion labels; every row needs at least one trained token (it is averaged).
/// - `config`: β, γ, label smoothing, `cpo_alpha`.
pub fn simpo_loss(policy: &TokenLogps, config: &SimpoConfig) -> Result<Objective, ObjectiveError> {
    config.validate()?;
    // Averaged over the whole batch first, so an error names the row of the batch.
    let PairLogps {
        chosen: chosen_avg,
        rejected: rejected_avg,
    } = PairLogps::from_rows(policy.average_logps("SimPO")?)?; // [B] + [B]
    let (chosen, rejected) = policy.split_pairs()?;
    let losses = simpo_pair_losses(chosen_avg.clone(), rejected_avg.clone(), config);

    let mut loss = losses.mean();
    let mut terms = vec![LossTerm::new(loss.clone(), chosen.rows())];
    let nll = if config.cpo_alpha > 0.0 {
        let nll = sft_loss_from_logps(&chosen)?;
        let weighted = nll.clone() * config.cpo_alpha;
        terms.push(LossTerm::new(
            weighted.clone(),
            chosen.counts().iter().sum(),
        ));
        loss = loss + weighted;
        Some(nll)
    } else {
        None
    };

    let mut metrics = MetricTensors::new();
    let chosen_rewards = chosen_avg.clone().detach() * config.beta;
    let rejected_rewards = rejected_avg.clone().detach() * config.beta;
    push_pair_rewards(&mut metrics, &chosen_rewards, &rejected_rewards);
    metrics.push("logps/chosen", chosen_avg.mean());
    metrics.push("logps/rejected", rejected_avg.mean());
    metrics.push("logits/chosen", chosen.all_positions_mean_logits(true));
    metrics.push("logits/rejected", rejected.all_positions_mean_logits(true));
    match nll {
        Some(nll) => metrics.push("nll_loss", nll),
        None => metrics.push_value("nll_loss", 0.0),
    }
    Ok(Objective {
        loss,
        metrics,
        terms,
    })
}

/// `[B]` SimPO losses from the mean per-token log-probs of `B` pairs.
///
/// # Arguments
/// - `chosen_avg`, `rejected_avg`: `[B]` mean completion log-probs.
/// - `config`: β, γ, label smoothing (`cpo_alpha` is not used here).
pub fn simpo_pair_losses(
    chosen_avg: Tensor<1>,
    rejected_avg: Tensor<1>,
    config: &SimpoConfig,
) -> Tensor<1> {
    let logits = (chosen_avg - rejected_avg) * config.beta - config.gamma;
    conservative_sigmoid_loss(logits, config.label_smoothing)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, TensorData};

    use super::*;

    #[test]
    fn equal_averages_cost_softplus_gamma() {
        // Python: -F.logsigmoid(torch.tensor(-1.0)) == softplus(1.0) == 1.3132617
        let device = Device::flex();
        let avg = Tensor::<1>::from_data(TensorData::new(vec![-2.0f32, -0.5], [2]), &device);
        let losses = simpo_pair_losses(avg.clone(), avg, &SimpoConfig::default());
        for l in losses.into_data().try_into_vec_as::<f64>().unwrap() {
            assert!((l - 1.313_261_7).abs() < 1e-6, "{l}");
        }
    }

    #[test]
    fn an_empty_completion_is_an_error_not_a_nan() {
        let device = Device::flex();
        let logits = Tensor::<3>::zeros([2, 3, 4], &device);
        let labels =
            super::super::LabelBatch::new(&[vec![-100, 1, 2], vec![-100, -100, -100]]).unwrap();
        let lp = super::super::token_logps(logits, &labels).unwrap();
        let err = simpo_loss(&lp, &SimpoConfig::default()).unwrap_err();
        assert_eq!(
            err,
            ObjectiveError::NoTrainedTokens {
                row: 1,
                objective: "SimPO"
            }
        );
    }
}
