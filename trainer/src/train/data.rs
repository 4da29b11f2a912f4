//! From records to padded batches: rendering and tokenizing examples, shuffling, collating.
//!
//! - SFT: one sequence per record, its trained tokens labelled (the template's loss mask).
//! - Preference (DPO, SimPO, ORPO): prompt + chosen and prompt + rejected, the completions
//!   trained. A micro-batch of `B` pairs is one batch of `2B` rows, the chosen rows first, then
//!   the rejected rows in the same order, as TRL concatenates them for one forward pass.
//! - Feedback (KTO): prompt + completion with its label; each micro-batch also carries the
//!   mismatched rows of the KL estimate, prompt `i` with the completion of example
//!   [`kl_pairing`]`(B)[i]`. As in TRL, prompt and completion are joined as token ids: the prompt
//!   is a sequence's tokens before its first trained token, the completion the rest.
//!
//! Records that end up with no trained token (after truncation to `max_length`) are skipped and
//! listed with their line ([`Prepared::skipped`]), never dropped silently.
//!
//! Batches are right-padded with the model's pad token (or EOS) to their longest row; padding has
//! attention mask 0 and label -100. Micro-batches follow a per-epoch permutation drawn from the
//! run's seed ([`Sampler`]), so a run and a resumed run see the same batches in the same order.

use ajuste_shared::config::Method;
use ajuste_shared::diagnostic::Finding;
use ajuste_shared::record::{Item, Kind, Record, Source};
use ajuste_shared::template::{Rendered, Template};
use ajuste_shared::tokenize::{IGNORE_INDEX, TextTokenizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::objective::kto::kl_pairing;
use crate::objective::{LabelBatch, ObjectiveError, SequenceKey};

/// One tokenized, unpadded sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sequence {
    /// Token ids.
    pub input_ids: Vec<u32>,
    /// The id where trained, -100 where not (not shifted).
    pub labels: Vec<i64>,
}

impl Sequence {
    /// The number of tokens.
    pub fn len(&self) -> usize {
        self.input_ids.len()
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.input_ids.is_empty()
    }

    /// Trained tokens that some position predicts: labels after the first position (the first
    /// token has nothing before it).
    pub fn trained_tokens(&self) -> usize {
        self.labels
            .iter()
            .skip(1)
            .filter(|&&l| l != IGNORE_INDEX)
            .count()
    }

    /// The number of tokens before the first trained one: the prompt of a completion.
    pub fn prompt_len(&self) -> usize {
        self.labels
            .iter()
            .position(|&l| l != IGNORE_INDEX)
            .unwrap_or(self.labels.len())
    }

    /// The content hash the reference log-prob cache keys it by.
    pub fn key(&self) -> SequenceKey {
        SequenceKey::new(&self.input_ids, &self.labels)
    }

    /// This sequence's prompt followed by `other`'s completion, cut to `max_len` tokens: a
    /// mismatched pair of KTO's KL estimate.
    pub fn with_completion_of(&self, other: &Sequence, max_len: usize) -> Sequence {
        let (p, c) = (self.prompt_len(), other.prompt_len());
        let mut input_ids = self.input_ids[..p].to_vec();
        input_ids.extend_from_slice(&other.input_ids[c..]);
        let mut labels = vec![IGNORE_INDEX; p];
        labels.extend_from_slice(&other.labels[c..]);
        input_ids.truncate(max_len);
        labels.truncate(max_len);
        Sequence { input_ids, labels }
    }
}

/// One training example.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Example {
    /// A conversation (SFT).
    Sft(Sequence),
    /// Prompt + chosen and prompt + rejected (DPO, SimPO, ORPO).
    Pair {
        /// The preferred completion.
        chosen: Sequence,
        /// The other one.
        rejected: Sequence,
    },
    /// Prompt + completion and whether the completion is desirable (KTO).
    Feedback {
        /// The tokens.
        sequence: Sequence,
        /// KTO's label.
        desirable: bool,
    },
}

impl Example {
    /// The sequences of the example (one, or chosen then rejected).
    pub fn sequences(&self) -> Vec<&Sequence> {
        match self {
            Example::Sft(s) => vec![s],
            Example::Pair { chosen, rejected } => vec![chosen, rejected],
            Example::Feedback { sequence, .. } => vec![sequence],
        }
    }

    /// The longest sequence's length.
    pub fn max_len(&self) -> usize {
        self.sequences().iter().map(|s| s.len()).max().unwrap_or(0)
    }
}

/// A record that is not trained on, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Where it came from.
    pub source: Source,
    /// Why it is skipped.
    pub reason: String,
}

/// Examples ready for training, with what happened to the records on the way.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// The examples.
    pub examples: Vec<Example>,
    /// Where each example came from (same order).
    pub sources: Vec<Source>,
    /// Records left out.
    pub skipped: Vec<Skipped>,
    /// What rendering and tokenizing found (truncations, masks), pointing at line and record.
    pub findings: Vec<Finding>,
}

/// Data that cannot be trained on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataError {
    /// No records at all.
    #[error("the dataset has no records")]
    Empty,
    /// A record of another kind than the method trains on.
    #[error(
        "method `{method}` trains on {expected} records, but record {index} (line {line}) holds {found} data{hint}"
    )]
    KindMismatch {
        /// The method.
        method: Method,
        /// The kind it needs.
        expected: Kind,
        /// The kind found.
        found: Kind,
        /// Line of the record.
        line: usize,
        /// Index of the record.
        index: usize,
        /// Which methods fit the data.
        hint: String,
    },
    /// Every record was skipped.
    #[error("none of the {records} records has a trained token left, nothing to train on{detail}")]
    NothingToTrain {
        /// Records read.
        records: usize,
        /// The first skip reason.
        detail: String,
    },
    /// KTO with fewer than two examples: no micro-batch can hold a mismatched pair.
    #[error(
        "KTO needs at least 2 examples (found {0}): its KL estimate pairs each completion with another example's prompt"
    )]
    TooFewForKto(usize),
}

fn methods_for(kind: Kind) -> &'static str {
    match kind {
        Kind::Sft => " (sft data trains with --method sft)",
        Kind::Preference => " (preference data trains with --method dpo, simpo or orpo)",
        Kind::Feedback => " (feedback data trains with --method kto)",
    }
}

/// Renders and tokenizes `items` for `method`.
///
/// # Arguments
/// - `items`: the records with their sources.
/// - `method`: decides the kind of record expected.
/// - `template`, `tokenizer`: how records become tokens and labels.
/// - `max_len`: sequences are cut to this many tokens (the truncation is a finding).
///
/// # Errors
/// [`DataError`] when the records do not fit the method, or nothing is left to train on.
pub fn prepare(
    items: &[Item],
    method: Method,
    template: &Template,
    tokenizer: &TextTokenizer,
    max_len: usize,
) -> Result<Prepared, DataError> {
    if items.is_empty() {
        return Err(DataError::Empty);
    }
    let mut out = Prepared::default();
    for item in items {
        let found = item.record.kind();
        if found != method.kind() {
            return Err(DataError::KindMismatch {
                method,
                expected: method.kind(),
                found,
                line: item.source.line,
                index: item.source.index,
                hint: methods_for(found).into(),
            });
        }
        let encode = |rendered: Rendered, out: &mut Prepared| {
            let rendered = rendered.at(item.source);
            out.findings.extend(rendered.findings.iter().cloned());
            let encoded = tokenizer.encode(&rendered, Some(max_len));
            let (line, index) = (item.source.line, item.source.index);
            out.findings
                .extend(encoded.findings.into_iter().map(|f| f.at(line, index)));
            Sequence {
                input_ids: encoded.input_ids,
                labels: encoded.labels,
            }
        };
        let example = match &item.record {
            Record::Conversation(_) => {
                Example::Sft(encode(template.render(&item.record), &mut out))
            }
            Record::Preference(p) => {
                let (chosen, rejected) = template.render_pair(p);
                Example::Pair {
                    chosen: encode(chosen, &mut out),
                    rejected: encode(rejected, &mut out),
                }
            }
            Record::Feedback(f) => Example::Feedback {
                sequence: encode(template.render(&item.record), &mut out),
                desirable: f.label,
            },
        };
        match untrainable(&example) {
            Some(reason) => out.skipped.push(Skipped {
                source: item.source,
                reason,
            }),
            None => {
                out.examples.push(example);
                out.sources.push(item.source);
            }
        }
    }
    if out.examples.is_empty() {
        let detail = out
            .skipped
            .first()
            .map(|s| format!(" (line {}: {})", s.source.line, s.reason))
            .unwrap_or_default();
        return Err(DataError::NothingToTrain {
            records: items.len(),
            detail,
        });
    }
    if method == Method::Kto && out.examples.len() < 2 {
        return Err(DataError::TooFewForKto(out.examples.len()));
    }
    Ok(out)
}

/// Why an example cannot be trained on, if it cannot.
fn untrainable(example: &Example) -> Option<String> {
    match example {
        Example::Pair { chosen, rejected } => {
            for (name, s) in [("chosen", chosen), ("rejected", rejected)] {
                if s.trained_tokens() == 0 {
                    return Some(format!("the {name} side has no trained token"));
                }
            }
            None
        }
        Example::Sft(s) | Example::Feedback { sequence: s, .. } => {
            (s.trained_tokens() == 0).then(|| "no trained token".to_string())
        }
    }
}

impl Prepared {
    /// A one-line account of skipped records (`None` when none was skipped), naming their lines.
    pub fn skipped_message(&self, name: &str) -> Option<String> {
        if self.skipped.is_empty() {
            return None;
        }
        const SHOWN: usize = 10;
        let lines: Vec<String> = self
            .skipped
            .iter()
            .take(SHOWN)
            .map(|s| format!("line {} ({})", s.source.line, s.reason))
            .collect();
        let more = self.skipped.len().saturating_sub(SHOWN);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        Some(format!(
            "{name}: skipped {} of {} records with nothing to train: {}{more}",
            self.skipped.len(),
            self.skipped.len() + self.examples.len(),
            lines.join(", ")
        ))
    }
}

/// A padded micro-batch on the host.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Rows (`2B` for preference batches).
    pub rows: usize,
    /// Padded length.
    pub seq: usize,
    /// `[rows, seq]` token ids, row-major.
    pub input_ids: Vec<i64>,
    /// `[rows, seq]` 1 for tokens, 0 for padding.
    pub attention_mask: Vec<i64>,
    /// The labels, -100 on padding.
    pub labels: LabelBatch,
    /// Each row's content hash (for the reference cache).
    pub keys: Vec<SequenceKey>,
    /// Real (non-padding) tokens.
    pub tokens: usize,
    /// KTO: each row's label.
    pub desirable: Vec<bool>,
    /// KTO: the mismatched rows of the KL estimate.
    pub kl: Option<Box<Batch>>,
    /// Examples in the batch (`B`).
    pub examples: usize,
}

impl Batch {
    /// Right-pads `seqs` with `pad_id` into one batch.
    ///
    /// # Errors
    /// From [`LabelBatch`]: an empty batch, or rows shorter than 2 tokens.
    pub fn pad(seqs: &[&Sequence], pad_id: u32) -> Result<Batch, ObjectiveError> {
        let rows = seqs.len();
        let seq = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        let mut input_ids = Vec::with_capacity(rows * seq);
        let mut attention_mask = Vec::with_capacity(rows * seq);
        let mut labels = Vec::with_capacity(rows * seq);
        for s in seqs {
            let pad = seq - s.len();
            input_ids.extend(s.input_ids.iter().map(|&id| i64::from(id)));
            input_ids.extend(std::iter::repeat_n(i64::from(pad_id), pad));
            attention_mask.extend(std::iter::repeat_n(1, s.len()));
            attention_mask.extend(std::iter::repeat_n(0, pad));
            labels.extend_from_slice(&s.labels);
            labels.extend(std::iter::repeat_n(IGNORE_INDEX, pad));
        }
        Ok(Batch {
            rows,
            seq,
            input_ids,
            attention_mask,
            labels: LabelBatch::from_flat(labels, rows, seq)?,
            keys: seqs.iter().map(|s| s.key()).collect(),
            tokens: seqs.iter().map(|s| s.len()).sum(),
            desirable: Vec::new(),
            kl: None,
            examples: rows,
        })
    }

    /// Collates examples of one kind into a micro-batch (see the module docs for the layout).
    ///
    /// # Errors
    /// [`ObjectiveError::KtoBatchTooSmall`] for a KTO batch of one example, and the errors of
    /// [`Batch::pad`].
    pub fn collate(
        examples: &[&Example],
        pad_id: u32,
        max_len: usize,
    ) -> Result<Batch, ObjectiveError> {
        let Some(first) = examples.first() else {
            return Err(ObjectiveError::EmptyBatch);
        };
        match first {
            Example::Sft(_) => {
                let seqs: Vec<&Sequence> = examples.iter().flat_map(|e| e.sequences()).collect();
                Batch::pad(&seqs, pad_id)
            }
            Example::Pair { .. } => {
                let mut chosen = Vec::with_capacity(examples.len() * 2);
                let mut rejected = Vec::with_capacity(examples.len());
                for e in examples {
                    if let Example::Pair {
                        chosen: c,
                        rejected: r,
                    } = e
                    {
                        chosen.push(c);
                        rejected.push(r);
                    }
                }
                chosen.extend(rejected);
                let mut batch = Batch::pad(&chosen, pad_id)?;
                batch.examples = examples.len();
                Ok(batch)
            }
            Example::Feedback { .. } => {
                let mut seqs = Vec::with_capacity(examples.len());
                let mut desirable = Vec::with_capacity(examples.len());
                for e in examples {
                    if let Example::Feedback {
                        sequence,
                        desirable: d,
                    } = e
                    {
                        seqs.push(sequence);
                        desirable.push(*d);
                    }
                }
                let pairing = kl_pairing(seqs.len())?;
                let kl_rows: Vec<Sequence> = pairing
                    .iter()
                    .enumerate()
                    .map(|(i, &j)| seqs[i].with_completion_of(seqs[j], max_len))
                    .collect();
                let mut batch = Batch::pad(&seqs, pad_id)?;
                batch.desirable = desirable;
                batch.kl = Some(Box::new(Batch::pad(
                    &kl_rows.iter().collect::<Vec<_>>(),
                    pad_id,
                )?));
                Ok(batch)
            }
        }
    }

    /// [`Batch::collate`] for a shard of a micro-batch cut across devices: the same layout,
    /// but a KTO shard carries no KL rows (the micro-batch's KL estimate is computed once, on
    /// the whole micro-batch), so it may hold a single example.
    ///
    /// # Errors
    /// The errors of [`Batch::pad`], and [`ObjectiveError::EmptyBatch`].
    pub fn collate_shard(
        examples: &[&Example],
        pad_id: u32,
        max_len: usize,
    ) -> Result<Batch, ObjectiveError> {
        if !matches!(examples.first(), Some(Example::Feedback { .. })) {
            return Batch::collate(examples, pad_id, max_len);
        }
        let mut seqs = Vec::with_capacity(examples.len());
        let mut desirable = Vec::with_capacity(examples.len());
        for e in examples {
            if let Example::Feedback {
                sequence,
                desirable: d,
            } = e
            {
                seqs.push(sequence);
                desirable.push(*d);
            }
        }
        let mut batch = Batch::pad(&seqs, pad_id)?;
        batch.desirable = desirable;
        Ok(batch)
    }

    /// `[rows, seq]` token ids on `device`.
    pub fn ids_tensor(&self, device: &Device) -> Tensor<2, Int> {
        Tensor::from_data(
            TensorData::new(self.input_ids.clone(), [self.rows, self.seq]),
            device,
        )
    }

    /// `[rows, seq]` attention mask on `device`.
    pub fn mask_tensor(&self, device: &Device) -> Tensor<2, Int> {
        Tensor::from_data(
            TensorData::new(self.attention_mask.clone(), [self.rows, self.seq]),
            device,
        )
    }

    /// Labels that train every real token of the rows (ORPO's NLL term).
    pub fn all_token_labels(&self) -> Result<LabelBatch, ObjectiveError> {
        let ids: Vec<&[i64]> = self.input_ids.chunks(self.seq).collect();
        let mask: Vec<&[i64]> = self.attention_mask.chunks(self.seq).collect();
        LabelBatch::from_input_ids(&ids, &mask)
    }
}

/// splitmix64: spreads nearby seeds (seed, epoch) over unrelated RNG streams.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce5_e9b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A seed derived from the run's seed and a counter (an epoch, a micro-batch).
pub fn derive_seed(seed: u64, counter: u64) -> u64 {
    mix(seed ^ mix(counter))
}

/// Which examples each micro-batch holds: a fresh permutation of the examples every epoch,
/// cut into micro-batches of `batch_size`; the last may be smaller, except that one smaller
/// than `min_batch` is dropped (KTO cannot use a micro-batch of one).
#[derive(Debug, Clone)]
pub struct Sampler {
    len: usize,
    batch_size: usize,
    min_batch: usize,
    seed: u64,
    cached: Option<(usize, Vec<usize>)>,
}

impl Sampler {
    /// A sampler over `len` examples.
    pub fn new(len: usize, batch_size: usize, min_batch: usize, seed: u64) -> Self {
        Sampler {
            len,
            batch_size: batch_size.max(1),
            min_batch: min_batch.max(1),
            seed,
            cached: None,
        }
    }

    /// Micro-batches per epoch (at least 1 when there are examples enough for one).
    pub fn batches_per_epoch(&self) -> usize {
        let full = self.len / self.batch_size;
        let rest = self.len % self.batch_size;
        full + usize::from(rest >= self.min_batch && rest > 0)
    }

    /// The permutation of epoch `epoch` (Fisher-Yates over a ChaCha8 stream seeded from the
    /// run's seed and the epoch).
    pub fn order(&self, epoch: usize) -> Vec<usize> {
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(self.seed, epoch as u64));
        let mut order: Vec<usize> = (0..self.len).collect();
        for i in (1..order.len()).rev() {
            let j = rng.random_range(0..=i);
            order.swap(i, j);
        }
        order
    }

    /// The example indices of the micro-batch at position `index` of the whole run (counting
    /// across epochs), and the epoch it belongs to.
    pub fn batch(&mut self, index: usize) -> (usize, Vec<usize>) {
        let per_epoch = self.batches_per_epoch().max(1);
        let (epoch, b) = (index / per_epoch, index % per_epoch);
        if self.cached.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.cached = Some((epoch, self.order(epoch)));
        }
        let order = self
            .cached
            .as_ref()
            .map(|(_, o)| o.as_slice())
            .unwrap_or(&[]);
        let start = b * self.batch_size;
        let end = (start + self.batch_size).min(order.len());
        (epoch, order[start..end].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(ids: &[u32], labels: &[i64]) -> Sequence {
        Sequence {
            input_ids: ids.to_vec(),
            labels: labels.to_vec(),
        }
    }

    #[test]
    fn padding_is_on_the_right_masked_and_ignored() {
        let a = seq(&[5, 6, 7], &[-100, 6, 7]);
        let b = seq(&[8, 9], &[-100, 9]);
        let batch = Batch::pad(&[&a, &b], 0).unwrap();
        assert_eq!((batch.rows, batch.seq, batch.tokens), (2, 3, 5));
        assert_eq!(batch.input_ids, [5, 6, 7, 8, 9, 0]);
        assert_eq!(batch.attention_mask, [1, 1, 1, 1, 1, 0]);
        assert_eq!(batch.labels.row(1), [-100, 9, -100]);
        assert_eq!(batch.keys[0], a.key());
    }

    #[test]
    fn preference_batches_hold_chosen_rows_then_rejected_rows() {
        let pair = |c: u32, r: u32| Example::Pair {
            chosen: seq(&[1, c], &[-100, c as i64]),
            rejected: seq(&[1, r], &[-100, r as i64]),
        };
        let (p, q) = (pair(10, 20), pair(11, 21));
        let batch = Batch::collate(&[&p, &q], 0, 64).unwrap();
        assert_eq!((batch.rows, batch.examples), (4, 2));
        let firsts: Vec<i64> = batch.input_ids.chunks(2).map(|r| r[1]).collect();
        assert_eq!(firsts, [10, 11, 20, 21]);
    }

    #[test]
    fn kto_kl_rows_pair_each_prompt_with_the_previous_completion() {
        let fb = |p: &[u32], c: &[u32], d: bool| {
            let mut ids = p.to_vec();
            ids.extend_from_slice(c);
            let mut labels = vec![-100; p.len()];
            labels.extend(c.iter().map(|&x| x as i64));
            Example::Feedback {
                sequence: seq(&ids, &labels),
                desirable: d,
            }
        };
        let a = fb(&[1, 2], &[30, 31], true);
        let b = fb(&[3], &[40], false);
        let c = fb(&[4, 5, 6], &[50], true);
        let batch = Batch::collate(&[&a, &b, &c], 0, 64).unwrap();
        assert_eq!(batch.desirable, [true, false, true]);
        let kl = batch.kl.unwrap();
        // kl_pairing(3) = [2, 0, 1]: prompt 0 + completion 2, prompt 1 + completion 0, ...
        let rows: Vec<Vec<i64>> = kl
            .input_ids
            .chunks(kl.seq)
            .zip(kl.attention_mask.chunks(kl.seq))
            .map(|(ids, m)| {
                ids.iter()
                    .zip(m)
                    .filter(|(_, m)| **m == 1)
                    .map(|(i, _)| *i)
                    .collect()
            })
            .collect();
        assert_eq!(rows, [vec![1, 2, 50], vec![3, 30, 31], vec![4, 5, 6, 40]]);
        assert_eq!(kl.labels.row(1), [-100, 30, 31, -100]);
        let one = Batch::collate(&[&a], 0, 64).unwrap_err();
        assert_eq!(one, ObjectiveError::KtoBatchTooSmall { rows: 1 });
    }

    #[test]
    fn the_sampler_is_seeded_and_covers_every_example_each_epoch() {
        let mut s = Sampler::new(10, 4, 1, 7);
        assert_eq!(s.batches_per_epoch(), 3);
        let mut seen: Vec<usize> = (0..3).flat_map(|i| s.batch(i).1).collect();
        seen.sort();
        assert_eq!(seen, (0..10).collect::<Vec<_>>());
        assert_eq!(s.batch(3).0, 1);
        assert_ne!(s.order(0), s.order(1));
        assert_eq!(Sampler::new(10, 4, 1, 7).order(1), s.order(1));
        assert_ne!(Sampler::new(10, 4, 1, 8).order(0), s.order(0));
        // KTO: a last micro-batch of one is dropped.
        assert_eq!(Sampler::new(9, 4, 2, 0).batches_per_epoch(), 2);
        assert_eq!(Sampler::new(10, 4, 2, 0).batches_per_epoch(), 3);
    }

    #[test]
    fn trained_tokens_do_not_count_the_first_position() {
        let s = seq(&[1, 2, 3], &[1, -100, -100]);
        assert_eq!(s.trained_tokens(), 0);
        assert_eq!(s.prompt_len(), 0);
        assert!(untrainable(&Example::Sft(s)).is_some());
    }
}
