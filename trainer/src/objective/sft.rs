//! Supervised fine-tuning: mean cross-entropy over the trained tokens of the batch.
//!
//! The reduction is transformers' `ForCausalLMLoss` with `num_items_in_batch=None`: one mean
//! over every trained token of the batch (a long answer weighs more than a short one), not a
//! mean of per-row means.

use burn::tensor::Tensor;

use super::logprobs::TokenLogps;
use super::{LossTerm, MetricTensors, Objective, ObjectiveError};

/// The SFT loss and its metrics (`mean_token_accuracy`, as TRL's `SFTTrainer` logs it).
///
/// # Arguments
/// - `tokens`: token log-probs of a `[B, T]` batch, -100 labels where not trained.
///
/// # Errors
/// [`ObjectiveError::NoTrainedTokens`] when no position of the batch is trained (the mean would
/// be 0/0).
pub fn sft_loss(tokens: &TokenLogps) -> Result<Objective, ObjectiveError> {
    let loss = sft_loss_from_logps(tokens)?;
    let mut metrics = MetricTensors::new();
    metrics.push("mean_token_accuracy", tokens.accuracy());
    let terms = vec![LossTerm::new(loss.clone(), tokens.counts().iter().sum())];
    Ok(Objective {
        loss,
        metrics,
        terms,
    })
}

/// `[1]`: `-(sum of trained-token log-probs) / (number of trained tokens)`.
///
/// # Arguments
/// - `tokens`: token log-probs of a `[B, T]` batch.
pub fn sft_loss_from_logps(tokens: &TokenLogps) -> Result<Tensor<1>, ObjectiveError> {
    let total: usize = tokens.counts().iter().sum();
    if total == 0 {
        return Err(ObjectiveError::NoTrainedTokens {
            row: 0,
            objective: "SFT",
        });
    }
    Ok(tokens.logps().sum().neg() / (total as f64))
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, TensorData};

    use super::*;
    use crate::objective::{LabelBatch, token_logps};

    fn sft_of(logits: Tensor<3>, labels: &LabelBatch) -> Result<Objective, ObjectiveError> {
        sft_loss(&token_logps(logits, labels)?)
    }

    #[test]
    fn uniform_logits_give_log_vocab() {
        // Python: F.cross_entropy(torch.zeros(3, 8), torch.tensor([1, 2, 3])) == log(8)
        let logits = Tensor::<3>::zeros([1, 4, 8], &Device::flex());
        let labels = LabelBatch::new(&[vec![-100, 1, 2, 3]]).unwrap();
        let out = sft_of(logits, &labels).unwrap();
        let loss: f32 = out.loss.into_scalar();
        assert!((loss as f64 - 8f64.ln()).abs() < 1e-6);
    }

    #[test]
    fn the_mean_is_over_tokens_not_rows() {
        // Row 0 trains one token at log-prob ln(1/2), row 1 three tokens at ln(1/4): the token
        // mean is (ln 2 + 3 ln 4) / 4, the row mean would be (ln 2 + ln 4) / 2.
        let device = Device::flex();
        let mut values = vec![0.0f32; 2 * 4 * 4];
        // Row 0: vocab of 4 where two tokens are equally likely and two impossible-ish.
        for t in 0..4 {
            values[t * 4 + 2] = -1e4;
            values[t * 4 + 3] = -1e4;
        }
        let logits = Tensor::<3>::from_data(TensorData::new(values, [2, 4, 4]), &device);
        let labels = LabelBatch::new(&[vec![-100, -100, -100, 1], vec![-100, 0, 1, 2]]).unwrap();
        let loss: f32 = sft_of(logits, &labels).unwrap().loss.into_scalar();
        let expected = (2f64.ln() + 3.0 * 4f64.ln()) / 4.0;
        assert!(
            (loss as f64 - expected).abs() < 1e-5,
            "{loss} vs {expected}"
        );
    }

    #[test]
    fn a_batch_without_trained_tokens_is_refused() {
        let logits = Tensor::<3>::zeros([1, 3, 4], &Device::flex());
        let labels = LabelBatch::new(&[vec![1, -100, -100]]).unwrap();
        assert_eq!(
            sft_of(logits, &labels).unwrap_err(),
            ObjectiveError::NoTrainedTokens {
                row: 0,
                objective: "SFT"
            }
        );
    }
}
