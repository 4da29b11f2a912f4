//! Per-token log-probabilities of the labels: the first step of every objective.
//!
//! Labels follow Hugging Face: `-100` marks a position that is not trained, and the logits at
//! position `t` predict the label at `t + 1` (so a row of `T` positions has `T - 1` predictions).
//! Labels stay on the host in a [`LabelBatch`], validated once, because checking them on the
//! device would need a synchronous read, which the browser cannot do. Token counts are then host
//! numbers too.

use std::ops::Range;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use super::ObjectiveError;
use crate::adapter::linear::project;
use crate::model::Outputs;
use crate::model::fused::row_softmax;

/// The label value of a position that is not trained (PyTorch's `ignore_index`).
pub const IGNORE_INDEX: i64 = -100;

/// A batch of label rows, padded to one length and checked: every label is a token id or -100.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelBatch {
    rows: usize,
    seq: usize,
    labels: Vec<i64>,
}

impl LabelBatch {
    /// Checks and packs label rows.
    ///
    /// # Arguments
    /// - `rows`: `B` rows of `T` labels each (`T >= 2`); -100 where not trained.
    pub fn new<R: AsRef<[i64]>>(rows: &[R]) -> Result<Self, ObjectiveError> {
        let first = rows.first().ok_or(ObjectiveError::EmptyBatch)?;
        let seq = first.as_ref().len();
        let mut labels = Vec::with_capacity(rows.len() * seq);
        for (row, r) in rows.iter().enumerate() {
            let r = r.as_ref();
            if r.len() != seq {
                return Err(ObjectiveError::RaggedLabels {
                    row,
                    len: r.len(),
                    expected: seq,
                });
            }
            labels.extend_from_slice(r);
        }
        Self::from_flat(labels, rows.len(), seq)
    }

    /// Checks and packs a row-major `[rows, seq]` buffer of labels.
    pub fn from_flat(labels: Vec<i64>, rows: usize, seq: usize) -> Result<Self, ObjectiveError> {
        if rows == 0 {
            return Err(ObjectiveError::EmptyBatch);
        }
        if seq < 2 {
            return Err(ObjectiveError::SequenceTooShort { len: seq });
        }
        if labels.len() != rows * seq {
            return Err(ObjectiveError::ShapeMismatch {
                what: "labels",
                expected: format!("{} values ([{rows}, {seq}])", rows * seq),
                found: format!("{} values", labels.len()),
            });
        }
        if let Some(i) = labels.iter().position(|&l| l < 0 && l != IGNORE_INDEX) {
            return Err(ObjectiveError::LabelOutOfRange {
                row: i / seq,
                position: i % seq,
                label: labels[i],
                vocab: i64::MAX,
            });
        }
        Ok(Self { rows, seq, labels })
    }

    /// Labels that train every real token of the rows: the input id where `attention_mask` is 1,
    /// -100 on padding. ORPO's NLL term uses these (TRL trains the prompt there too).
    ///
    /// # Arguments
    /// - `input_ids`, `attention_mask`: `B` rows of `T` values.
    pub fn from_input_ids<R: AsRef<[i64]>>(
        input_ids: &[R],
        attention_mask: &[R],
    ) -> Result<Self, ObjectiveError> {
        if input_ids.len() != attention_mask.len() {
            return Err(ObjectiveError::ShapeMismatch {
                what: "attention_mask",
                expected: format!("{} rows", input_ids.len()),
                found: format!("{} rows", attention_mask.len()),
            });
        }
        let mut rows = Vec::with_capacity(input_ids.len());
        for (row, (ids, mask)) in input_ids.iter().zip(attention_mask).enumerate() {
            let (ids, mask) = (ids.as_ref(), mask.as_ref());
            if ids.len() != mask.len() {
                return Err(ObjectiveError::ShapeMismatch {
                    what: "attention_mask",
                    expected: format!("{} positions in row {row}", ids.len()),
                    found: format!("{}", mask.len()),
                });
            }
            let labels: Vec<i64> = ids
                .iter()
                .zip(mask)
                .map(|(&id, &m)| if m == 1 { id } else { IGNORE_INDEX })
                .collect();
            rows.push(labels);
        }
        Self::new(&rows)
    }

    /// The number of rows `B`.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The row length `T`.
    pub fn seq(&self) -> usize {
        self.seq
    }

    /// Row `row`, `T` labels.
    pub fn row(&self, row: usize) -> &[i64] {
        &self.labels[row * self.seq..(row + 1) * self.seq]
    }

    /// The rows in `range`, as a batch of their own.
    pub fn select_rows(&self, range: Range<usize>) -> Result<LabelBatch, ObjectiveError> {
        if range.start >= range.end || range.end > self.rows {
            return Err(ObjectiveError::ShapeMismatch {
                what: "row range",
                expected: format!("a non-empty range within 0..{}", self.rows),
                found: format!("{range:?}"),
            });
        }
        let labels = self.labels[range.start * self.seq..range.end * self.seq].to_vec();
        Ok(LabelBatch {
            rows: range.len(),
            seq: self.seq,
            labels,
        })
    }

    /// Per row, the number of positions that are trained once shifted: labels at positions
    /// `1..T` that are not -100 (the label at position 0 has no logits predicting it).
    pub fn trained_counts(&self) -> Vec<usize> {
        (0..self.rows)
            .map(|r| {
                self.row(r)[1..]
                    .iter()
                    .filter(|&&l| l != IGNORE_INDEX)
                    .count()
            })
            .collect()
    }

    /// Per row, the number of labels that are not -100, position 0 included: TRL's
    /// `completion_mask.sum(1)`, which its IPO loss divides by.
    pub fn label_counts(&self) -> Vec<usize> {
        (0..self.rows)
            .map(|r| self.row(r).iter().filter(|&&l| l != IGNORE_INDEX).count())
            .collect()
    }

    /// Checks a forward pass's outputs against the labels: `[B, T, ..]` positions (`shape`)
    /// and a vocabulary of `vocab` tokens that holds every label.
    fn check_outputs(
        &self,
        what: &'static str,
        shape: [usize; 2],
        vocab: usize,
    ) -> Result<(), ObjectiveError> {
        let [b, t] = shape;
        if [b, t] != [self.rows, self.seq] {
            return Err(ObjectiveError::ShapeMismatch {
                what,
                expected: format!("[{}, {}, ..] (the labels' shape)", self.rows, self.seq),
                found: format!("[{b}, {t}, ..]"),
            });
        }
        match self.labels.iter().position(|&l| l >= vocab as i64) {
            Some(i) => Err(ObjectiveError::LabelOutOfRange {
                row: i / t,
                position: i % t,
                label: self.labels[i],
                vocab: vocab as i64,
            }),
            None => Ok(()),
        }
    }

    /// Shifted targets `[B, T-1]` (label `t + 1` for logits `t`; -100 replaced by 0 so that
    /// gathering stays in range) and whether each is trained.
    fn shifted(&self) -> (Vec<i64>, Vec<bool>) {
        let n = self.rows * (self.seq - 1);
        let mut targets = Vec::with_capacity(n);
        let mut trained = Vec::with_capacity(n);
        for r in 0..self.rows {
            for &label in &self.row(r)[1..] {
                trained.push(label != IGNORE_INDEX);
                targets.push(if label == IGNORE_INDEX { 0 } else { label });
            }
        }
        (targets, trained)
    }
}

/// Per-token log-probabilities of a batch's labels, with the mask of trained positions.
#[derive(Debug, Clone)]
pub struct TokenLogps {
    /// `[B, T-1]`: log p(label at t+1 | logits at t); 0 where not trained.
    logps: Tensor<2>,
    /// `[B, T-1]`: 1.0 where trained, else 0.0.
    mask: Tensor<2>,
    /// `[B, T]`: mean of the logits over the vocabulary at each position, detached (TRL's
    /// `logits/*` metrics).
    vocab_mean: Tensor<2>,
    /// `[B, T-1]`: 1.0 where the position is trained and its label is the most likely next
    /// token (ties go to the lowest id, as `argmax` does), detached.
    hits: Tensor<2>,
    /// The labels the log-probs were gathered at.
    labels: LabelBatch,
    /// Per row, the trained positions (host copy of `mask.sum(1)`).
    counts: Vec<usize>,
}

/// Log-probabilities of the labels under a forward pass's outputs: [`token_logps`] for
/// logits, [`hidden_token_logps`] for hidden states and a frozen output projection.
pub fn output_logps(outputs: Outputs, labels: &LabelBatch) -> Result<TokenLogps, ObjectiveError> {
    match outputs {
        Outputs::Logits(logits) => token_logps(logits, labels),
        Outputs::Hidden { hidden, head } => hidden_token_logps(hidden, head, labels),
    }
}

/// Log-probabilities of the labels under the logits, by a numerically stable log-softmax.
///
/// # Arguments
/// - `logits`: `[B, T, V]`, attached to the graph if gradients are wanted.
/// - `labels`: `B` rows of `T` labels; every trained label must be below `V`.
///
/// # Returns
/// [`TokenLogps`] with `[B, T-1]` log-probs (0 where the label is -100) and mask.
pub fn token_logps(logits: Tensor<3>, labels: &LabelBatch) -> Result<TokenLogps, ObjectiveError> {
    let [b, t, v] = logits.dims();
    labels.check_outputs("logits", [b, t], v)?;
    let device = logits.device();
    let (targets, trained) = labels.shifted();
    let targets = Tensor::<3, Int>::from_data(TensorData::new(targets, [b, t - 1, 1]), &device);
    let trained = Tensor::<2, Bool>::from_data(TensorData::new(trained, [b, t - 1]), &device);

    let vocab_mean = logits.clone().detach().mean_dim(2).reshape([b, t]); // [B, T]
    let predicting = logits.narrow(1, 0, t - 1); // [B, T-1, V]
    let predicted = predicting.clone().detach().argmax(2); // [B, T-1, 1]
    let hits = argmax_hits(
        predicted.reshape([b, t - 1]),
        &targets.clone().reshape([b, t - 1]),
        &trained,
    );
    let logps = log_softmax(predicting, 2)
        .gather(2, targets)
        .reshape([b, t - 1]); // [B, T-1]
    Ok(TokenLogps::new(logps, trained, vocab_mean, hits, labels))
}

/// Values of logits held at once by [`hidden_token_logps`]: 32 MB of f32 whatever the
/// vocabulary, so a batch's `[B, T, V]` logits never exist whole.
const LOGIT_CHUNK_VALUES: usize = 8 << 20;

/// [`token_logps`] of the logits `hidden · headᵀ`, for an output projection that does not
/// train (LoRA, and every method that freezes the head).
///
/// The result and its gradient equal [`token_logps`]'s, but the logits stay out of the graph:
/// per position, `log p(y) = z_y - logsumexp(z)` has gradient `w_y - pᵀW` with respect to the
/// hidden state `h` (`w_y` the label's row of the head, `p` the softmax), so the graph records
/// `h · (w_y - pᵀW)` plus a constant that makes its value right, all `[B, T-1, H]`-sized. The
/// logits, their softmax and `pᵀW` are computed outside it, a chunk of rows at a time. On the
/// CPU this spares the backward pass about ten `[B, T, V]`-sized tensors (200 MB each for
/// SmolLM2 at batch 8 x 128) and their passes over memory.
///
/// # Arguments
/// - `hidden`: `[B, T, H]` final hidden states, attached to the graph if gradients are wanted.
/// - `head`: `[V, H]`, the output projection; any gradient it would have is not computed.
/// - `labels`: `B` rows of `T` labels; every trained label must be below `V`.
pub fn hidden_token_logps(
    hidden: Tensor<3>,
    head: Tensor<2>,
    labels: &LabelBatch,
) -> Result<TokenLogps, ObjectiveError> {
    logps_by_chunks(hidden, head, labels, LOGIT_CHUNK_VALUES)
}

/// [`hidden_token_logps`] holding about `chunk_values` logits at once.
fn logps_by_chunks(
    hidden: Tensor<3>,
    head: Tensor<2>,
    labels: &LabelBatch,
    chunk_values: usize,
) -> Result<TokenLogps, ObjectiveError> {
    let [b, t, h] = hidden.dims();
    let [v, head_width] = head.dims();
    if head_width != h {
        return Err(ObjectiveError::ShapeMismatch {
            what: "output projection",
            expected: format!("[V, {h}] (the hidden size)"),
            found: format!("[{v}, {head_width}]"),
        });
    }
    labels.check_outputs("hidden states", [b, t], v)?;
    let device = hidden.device();
    let n = b * (t - 1);
    let (targets, trained) = labels.shifted();
    let trained = Tensor::<2, Bool>::from_data(TensorData::new(trained, [b, t - 1]), &device);

    // Outside the graph: the head, the states, and what the logits give.
    let head = head.without_autodiff();
    let states = hidden.clone().without_autodiff(); // [B, T, H]
    let inner = states.device();
    let targets = Tensor::<1, Int>::from_data(TensorData::new(targets, [n]), &inner);
    let vocab_mean = project(states.clone(), head.clone().mean_dim(0)).reshape([b, t]);
    let states = states.narrow(1, 0, t - 1).reshape([n, h]);
    let chunk = (chunk_values / v).clamp(1, n);
    let (mut lse, mut expected, mut predicted) = (Vec::new(), Vec::new(), Vec::new());
    for start in (0..n).step_by(chunk) {
        let logits = project(
            states.clone().narrow(0, start, chunk.min(n - start)),
            head.clone(),
        );
        let probs = row_softmax(logits.clone());
        // The largest probability is exp(max - logsumexp) >= 1/V: its log loses nothing.
        lse.push(logits.clone().max_dim(1) - probs.clone().max_dim(1).log()); // [c, 1]
        predicted.push(logits.argmax(1)); // [c, 1]
        expected.push(probs.matmul(head.clone())); // [c, H]: pᵀW, the expected head row
    }
    let lse = Tensor::cat(lse, 0);
    let expected = Tensor::cat(expected, 0);
    let label_rows = head.select(0, targets.clone()); // [N, H]: z_y = w_y · h
    let offset = (expected.clone() * states).sum_dim(1) - lse; // [N, 1]: pᵀW·h - logsumexp

    // In the graph: h · (w_y - pᵀW) + (pᵀW·h - logsumexp) = z_y - logsumexp.
    let logps =
        (hidden.narrow(1, 0, t - 1).reshape([n, h]) * (label_rows - expected)).sum_dim(1) + offset;
    let hits = argmax_hits(
        Tensor::cat(predicted, 0).reshape([b, t - 1]),
        &targets.reshape([b, t - 1]),
        &trained,
    );
    Ok(TokenLogps::new(
        logps.reshape([b, t - 1]),
        trained,
        vocab_mean,
        hits,
        labels,
    ))
}

/// `[B, T-1]`: 1.0 where a trained position's most likely token is its label.
fn argmax_hits(
    predicted: Tensor<2, Int>,
    targets: &Tensor<2, Int>,
    trained: &Tensor<2, Bool>,
) -> Tensor<2> {
    let device = predicted.device();
    predicted
        .equal(targets.clone().to_device(&device))
        .bool_and(trained.clone().to_device(&device))
        .float()
}

impl TokenLogps {
    fn new(
        logps: Tensor<2>,
        trained: Tensor<2, Bool>,
        vocab_mean: Tensor<2>,
        hits: Tensor<2>,
        labels: &LabelBatch,
    ) -> Self {
        // mask_fill, not a product with the mask: a -inf log-prob at an untrained position
        // would turn into NaN when multiplied by 0.
        let logps = logps.mask_fill(trained.clone().bool_not(), 0.0);
        TokenLogps {
            logps,
            mask: trained.float(),
            vocab_mean: vocab_mean.detach(),
            hits: hits.detach(),
            labels: labels.clone(),
            counts: labels.trained_counts(),
        }
    }

    /// `[1]`: the share of trained tokens whose label is the most likely next token. TRL's
    /// `mean_token_accuracy`; 0 when none is trained.
    pub fn accuracy(&self) -> Tensor<1> {
        let total: usize = self.counts.iter().sum();
        self.hits.clone().sum() / (total.max(1) as f64)
    }

    /// `[B, T-1]` log-probs, 0 where not trained.
    pub fn logps(&self) -> Tensor<2> {
        self.logps.clone()
    }

    /// `[B, T-1]` mask: 1.0 where trained.
    pub fn mask(&self) -> Tensor<2> {
        self.mask.clone()
    }

    /// The labels the log-probs were taken at.
    pub fn labels(&self) -> &LabelBatch {
        &self.labels
    }

    /// The number of rows `B`.
    pub fn rows(&self) -> usize {
        self.labels.rows
    }

    /// Per row, the number of trained tokens.
    pub fn counts(&self) -> &[usize] {
        &self.counts
    }

    /// `[B]` summed log-probs of the trained tokens (the sequence log-likelihood).
    pub fn sequence_logps(&self) -> Tensor<1> {
        let b = self.rows();
        self.logps.clone().sum_dim(1).reshape([b])
    }

    /// `[B]` mean log-prob per trained token. A row without trained tokens is an error: its
    /// mean is 0/0 (TRL gives NaN there and the run diverges).
    pub fn average_logps(&self, objective: &'static str) -> Result<Tensor<1>, ObjectiveError> {
        if let Some(row) = self.counts.iter().position(|&c| c == 0) {
            return Err(ObjectiveError::NoTrainedTokens { row, objective });
        }
        Ok(self.sequence_logps() / self.token_counts())
    }

    /// `[B]` trained-token counts, as floats on the log-probs' device.
    pub fn token_counts(&self) -> Tensor<1> {
        let counts: Vec<f32> = self.counts.iter().map(|&c| c as f32).collect();
        Tensor::from_data(TensorData::new(counts, [self.rows()]), &self.logps.device())
    }

    /// The rows in `range` (for instance the chosen half of a preference batch).
    pub fn select_rows(&self, range: Range<usize>) -> Result<TokenLogps, ObjectiveError> {
        let labels = self.labels.select_rows(range.clone())?;
        let n = range.len();
        Ok(TokenLogps {
            logps: self.logps.clone().narrow(0, range.start, n),
            mask: self.mask.clone().narrow(0, range.start, n),
            vocab_mean: self.vocab_mean.clone().narrow(0, range.start, n),
            hits: self.hits.clone().narrow(0, range.start, n),
            counts: self.counts[range].to_vec(),
            labels,
        })
    }

    /// The chosen and rejected halves of a `[2B]`-row preference batch.
    pub fn split_pairs(&self) -> Result<(TokenLogps, TokenLogps), ObjectiveError> {
        let b = half(self.rows())?;
        Ok((self.select_rows(0..b)?, self.select_rows(b..2 * b)?))
    }

    /// The same log-probs restricted to the positions `subset` trains: ORPO takes the NLL over
    /// the whole sequence and the odds ratio over the completion, from one forward pass.
    /// Every label `subset` trains must be the label these log-probs were taken at.
    pub fn restrict(&self, subset: &LabelBatch) -> Result<TokenLogps, ObjectiveError> {
        if (subset.rows, subset.seq) != (self.labels.rows, self.labels.seq) {
            return Err(ObjectiveError::ShapeMismatch {
                what: "restricting labels",
                expected: format!("[{}, {}]", self.labels.rows, self.labels.seq),
                found: format!("[{}, {}]", subset.rows, subset.seq),
            });
        }
        let disagreement = subset
            .labels
            .iter()
            .zip(&self.labels.labels)
            .enumerate()
            .find(|(i, (sub, full))| i % subset.seq != 0 && **sub != IGNORE_INDEX && sub != full);
        if let Some((i, (&completion, &full))) = disagreement {
            return Err(ObjectiveError::LabelsDisagree {
                row: i / subset.seq,
                position: i % subset.seq,
                completion,
                full,
            });
        }
        let (b, t) = (subset.rows, subset.seq);
        let (_, trained) = subset.shifted();
        let trained = Tensor::<2, Bool>::from_data(
            TensorData::new(trained, [b, t - 1]),
            &self.logps.device(),
        );
        Ok(TokenLogps {
            logps: self
                .logps
                .clone()
                .mask_fill(trained.clone().bool_not(), 0.0),
            hits: self.hits.clone() * trained.clone().float(),
            mask: trained.float(),
            vocab_mean: self.vocab_mean.clone(),
            labels: subset.clone(),
            counts: subset.trained_counts(),
        })
    }

    /// `[1]`: the mean over trained tokens of each token's vocabulary-mean logit, 0 when none
    /// is trained. TRL's `DPOTrainer`/`KTOTrainer` `logits/chosen` and `logits/rejected`.
    pub fn completion_mean_logits(&self) -> Tensor<1> {
        let t = self.labels.seq;
        let total: usize = self.counts.iter().sum();
        let sum = (self.vocab_mean.clone().narrow(1, 0, t - 1) * self.mask.clone()).sum();
        sum / (total.max(1) as f64)
    }

    /// `[1]`: the mean of every logit of every position, padding included; with
    /// `include_last = false` the last position (which predicts nothing) is left out. TRL's
    /// `CPOTrainer` logs the former as `logits/*`, its `ORPOTrainer` the latter.
    pub fn all_positions_mean_logits(&self, include_last: bool) -> Tensor<1> {
        let t = self.labels.seq;
        let width = if include_last { t } else { t - 1 };
        // Every position has V logits, so the mean of the per-position means is the mean.
        self.vocab_mean.clone().narrow(1, 0, width).mean()
    }
}

/// Sequence-level log-probs of `B` preference pairs.
#[derive(Debug, Clone)]
pub struct PairLogps {
    /// `[B]`, the chosen completions.
    pub chosen: Tensor<1>,
    /// `[B]`, the rejected completions, in the same order.
    pub rejected: Tensor<1>,
}

impl PairLogps {
    /// Splits `[2B]` values of a preference batch (chosen rows first) into its pairs.
    pub fn from_rows(values: Tensor<1>) -> Result<Self, ObjectiveError> {
        let [rows] = values.dims();
        let b = half(rows)?;
        Ok(Self {
            chosen: values.clone().narrow(0, 0, b),
            rejected: values.narrow(0, b, b),
        })
    }

    /// Builds pairs from host values (cached reference log-probs, say) on `device`.
    pub fn from_values(
        chosen: &[f64],
        rejected: &[f64],
        device: &Device,
    ) -> Result<Self, ObjectiveError> {
        if chosen.len() != rejected.len() {
            return Err(ObjectiveError::ShapeMismatch {
                what: "rejected log-probs",
                expected: format!("[{}] (one per chosen)", chosen.len()),
                found: format!("[{}]", rejected.len()),
            });
        }
        if chosen.is_empty() {
            return Err(ObjectiveError::EmptyBatch);
        }
        let tensor = |v: &[f64]| {
            let v: Vec<f32> = v.iter().map(|&x| x as f32).collect();
            Tensor::<1>::from_data(TensorData::new(v, [chosen.len()]), device)
        };
        Ok(Self {
            chosen: tensor(chosen),
            rejected: tensor(rejected),
        })
    }

    /// The number of pairs `B`.
    pub fn len(&self) -> usize {
        self.chosen.dims()[0]
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Both halves detached from the graph (reference log-probs carry no gradient).
    pub fn detach(&self) -> Self {
        Self {
            chosen: self.chosen.clone().detach(),
            rejected: self.rejected.clone().detach(),
        }
    }

    /// Checks that both halves hold `b` values.
    pub(crate) fn check_len(&self, what: &'static str, b: usize) -> Result<(), ObjectiveError> {
        for t in [&self.chosen, &self.rejected] {
            let [n] = t.dims();
            if n != b {
                return Err(ObjectiveError::ShapeMismatch {
                    what,
                    expected: format!("[{b}] (one per pair)"),
                    found: format!("[{n}]"),
                });
            }
        }
        Ok(())
    }
}

/// `B` for a preference batch of `rows = 2B` rows.
pub(crate) fn half(rows: usize) -> Result<usize, ObjectiveError> {
    if rows == 0 {
        return Err(ObjectiveError::EmptyBatch);
    }
    if !rows.is_multiple_of(2) {
        return Err(ObjectiveError::OddPreferenceBatch { rows });
    }
    Ok(rows / 2)
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor, TensorData};

    use super::*;

    fn read(t: Tensor<1>) -> Vec<f64> {
        t.into_data().try_into_vec_as::<f64>().unwrap()
    }

    #[test]
    fn labels_are_checked_on_the_host() {
        assert_eq!(
            LabelBatch::new::<Vec<i64>>(&[]),
            Err(ObjectiveError::EmptyBatch)
        );
        assert_eq!(
            LabelBatch::new(&[vec![1]]),
            Err(ObjectiveError::SequenceTooShort { len: 1 })
        );
        assert_eq!(
            LabelBatch::new(&[vec![1, 2, 3], vec![1, 2]]),
            Err(ObjectiveError::RaggedLabels {
                row: 1,
                len: 2,
                expected: 3
            })
        );
        assert!(matches!(
            LabelBatch::new(&[vec![-100, 2], vec![-1, 3]]),
            Err(ObjectiveError::LabelOutOfRange {
                row: 1,
                position: 0,
                label: -1,
                ..
            })
        ));
    }

    #[test]
    fn a_label_beyond_the_vocabulary_is_an_error_naming_it() {
        let device = Device::flex();
        let labels = LabelBatch::new(&[vec![-100, 1, 2], vec![-100, 7, 2]]).unwrap();
        let logits = Tensor::<3>::zeros([2, 3, 5], &device);
        let err = token_logps(logits, &labels).unwrap_err();
        assert_eq!(
            err,
            ObjectiveError::LabelOutOfRange {
                row: 1,
                position: 1,
                label: 7,
                vocab: 5
            }
        );
    }

    #[test]
    fn logits_must_match_the_labels_shape() {
        let labels = LabelBatch::new(&[vec![-100, 1, 2]]).unwrap();
        let logits = Tensor::<3>::zeros([1, 4, 5], &Device::flex());
        assert!(matches!(
            token_logps(logits, &labels),
            Err(ObjectiveError::ShapeMismatch { .. })
        ));
    }

    #[test]
    fn logits_at_t_predict_the_label_at_t_plus_one() {
        // Uniform logits except one boosted entry per position: the label that is boosted at the
        // previous position gets the high probability.
        let device = Device::flex();
        let mut values = vec![0.0f32; 3 * 4];
        values[3] = 10.0; // position 0 favours token 3
        values[4 + 1] = 10.0; // position 1 favours token 1
        let logits = Tensor::<3>::from_data(TensorData::new(values, [1, 3, 4]), &device);
        let labels = LabelBatch::new(&[vec![-100, 3, 1]]).unwrap();
        let lp = token_logps(logits, &labels).unwrap();
        let per_token = lp.logps().into_data().try_into_vec_as::<f64>().unwrap();
        for v in per_token {
            assert!(
                v > -1e-3,
                "the boosted token should be near-certain, got {v}"
            );
        }
        assert_eq!(lp.counts(), [2]);
    }

    #[test]
    fn untrained_positions_contribute_nothing_and_a_row_without_tokens_cannot_be_averaged() {
        let device = Device::flex();
        let logits = Tensor::<3>::from_data(
            TensorData::new(
                (0..2 * 3 * 4).map(|x| (x % 5) as f32).collect::<Vec<_>>(),
                [2, 3, 4],
            ),
            &device,
        );
        let labels = LabelBatch::new(&[vec![2, -100, -100], vec![-100, 1, 2]]).unwrap();
        let lp = token_logps(logits, &labels).unwrap();
        assert_eq!(read(lp.sequence_logps())[0], 0.0);
        assert_eq!(lp.counts(), [0, 2]);
        assert_eq!(
            lp.average_logps("SimPO").unwrap_err(),
            ObjectiveError::NoTrainedTokens {
                row: 0,
                objective: "SimPO"
            }
        );
        assert_eq!(lp.label_counts_for_tests(), [1, 2]);
    }

    #[test]
    fn large_logits_stay_finite() {
        let device = Device::flex();
        let logits = Tensor::<3>::from_data(
            TensorData::new(
                vec![1000.0f32, -1000.0, 900.0, 0.0, 5000.0, -5000.0],
                [1, 2, 3],
            ),
            &device,
        );
        let labels = LabelBatch::new(&[vec![-100, 2]]).unwrap();
        let lp = read(token_logps(logits, &labels).unwrap().sequence_logps());
        assert!(
            (lp[0] - -100.0).abs() < 1e-3,
            "log p = 900 - 1000 = -100, got {}",
            lp[0]
        );
    }

    #[test]
    fn restricting_keeps_the_subset_and_refuses_other_tokens() {
        let device = Device::flex();
        let logits = Tensor::<3>::zeros([1, 4, 6], &device);
        let full = LabelBatch::new(&[vec![5, 4, 3, 2]]).unwrap();
        let lp = token_logps(logits, &full).unwrap();
        let completion = LabelBatch::new(&[vec![-100, -100, 3, 2]]).unwrap();
        let sub = lp.restrict(&completion).unwrap();
        assert_eq!(sub.counts(), [2]);
        let expected = -2.0 * (6.0f64).ln();
        assert!((read(sub.sequence_logps())[0] - expected).abs() < 1e-5);
        let other = LabelBatch::new(&[vec![-100, -100, 1, 2]]).unwrap();
        assert_eq!(
            lp.restrict(&other).unwrap_err(),
            ObjectiveError::LabelsDisagree {
                row: 0,
                position: 2,
                completion: 1,
                full: 3
            }
        );
    }

    #[test]
    fn attention_mask_labels_train_every_real_token() {
        let labels = LabelBatch::from_input_ids(&[vec![7, 8, 9, 0]], &[vec![1, 1, 1, 0]]).unwrap();
        assert_eq!(labels.row(0), [7, 8, 9, -100]);
    }

    #[test]
    fn accuracy_counts_argmax_hits_on_trained_tokens() {
        let device = Device::flex();
        let mut values = vec![0.0f32; 3 * 4];
        values[2] = 1.0; // position 0 predicts 2 (label 2: hit)
        values[4 + 3] = 1.0; // position 1 predicts 3 (label 0: miss)
        let logits = Tensor::<3>::from_data(TensorData::new(values, [1, 3, 4]), &device);
        let labels = LabelBatch::new(&[vec![-100, 2, 0]]).unwrap();
        assert_eq!(
            read(token_logps(logits, &labels).unwrap().accuracy()),
            [0.5]
        );
    }

    #[test]
    fn log_probs_from_hidden_states_equal_those_from_the_logits_with_their_gradient() {
        // Three rows of 6 positions, a vocabulary of 11, hidden size 5; chunks of 3 rows' logits
        // (the 15 predicting positions in 5 chunks), labels with -100 and a repeated token.
        let device = Device::flex().autodiff();
        let values = |n: usize, scale: f32| -> Vec<f32> {
            (0..n)
                .map(|i| ((i * 37 % 23) as f32 - 11.0) * scale)
                .collect()
        };
        let head = Tensor::<2>::from_data(TensorData::new(values(55, 0.3), [11, 5]), &device);
        let leaf = || {
            Tensor::<3>::from_data(TensorData::new(values(90, 0.2), [3, 6, 5]), &device)
                .require_grad()
        };
        let labels = LabelBatch::new(&[
            vec![-100, 3, 4, 10, 0, 3],
            vec![-100, -100, 7, 7, 2, -100],
            vec![1, 2, 3, 4, 5, 6],
        ])
        .unwrap();
        let weights = Tensor::<2>::from_data(TensorData::new(values(15, 0.5), [3, 5]), &device);

        let (h1, h2) = (leaf(), leaf());
        let want = token_logps(project(h1.clone(), head.clone()), &labels).unwrap();
        let got = logps_by_chunks(h2.clone(), head, &labels, 33).unwrap();
        let flat = |t: Tensor<2>| t.into_data().try_into_vec_as::<f32>().unwrap();
        let close = |what: &str, a: Vec<f32>, b: Vec<f32>| {
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                assert!(
                    (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
                    "{what}[{i}]: {x} vs {y}"
                );
            }
        };
        close("log-probs", flat(got.logps()), flat(want.logps()));
        close(
            "vocabulary means",
            flat(got.vocab_mean.clone()),
            flat(want.vocab_mean.clone()),
        );
        assert_eq!(flat(got.hits.clone()), flat(want.hits.clone()));
        assert_eq!(got.counts(), want.counts());
        let grad = |lp: &TokenLogps, h: &Tensor<3>| {
            let g = (lp.logps() * weights.clone()).sum().backward();
            h.grad(&g)
                .unwrap()
                .into_data()
                .try_into_vec_as::<f32>()
                .unwrap()
        };
        close("d/d hidden", grad(&got, &h2), grad(&want, &h1));
    }

    impl TokenLogps {
        fn label_counts_for_tests(&self) -> Vec<usize> {
            self.labels.label_counts()
        }
    }
}
