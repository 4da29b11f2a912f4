//! Pretraining a small Llama from scratch: a tokenizer trained on the corpus, seeded random
//! weights, causal language modelling on packed sequences.
//!
//! The pieces, in the order `ajuste pretrain` uses them:
//! - [`documents`]: a corpus text cut into documents at `<|endoftext|>`.
//! - [`tokenizer::train_bpe`]: a byte-level BPE with the ChatML special tokens.
//! - [`Geometry::model_config`] and [`init_model`]: a `LlamaForCausalLM` with tied embeddings,
//!   initialised as transformers does (normal, std 0.02; norms 1).
//! - [`pack`]: every document's tokens followed by `<|endoftext|>`, concatenated and cut into
//!   sequences of `max_len` tokens, every token trained.
//! - [`train_config`]: the settings of the run, which the ordinary [`Trainer`](crate::train::Trainer)
//!   executes as a full fine-tune (SFT loss on all tokens, AdamW, warm-up + cosine).
//!
//! Everything is seeded: the same corpus and settings give the same tokenizer and the same weights.

pub mod tokenizer;

use ajuste_shared::config::{AdapterKind, Method, Schedule, TrainConfig};
use burn::tensor::Device;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::model::{LoadError, Model, ModelConfig, RandomWeights};
use crate::train::data::{Example, Sequence};
pub use tokenizer::{END_OF_TEXT, IM_END, IM_START, PAD, SPECIAL_TOKENS, SpecialIds};

/// Standard deviation of the initial weights (transformers' `initializer_range`).
pub const INIT_STD: f32 = 0.02;

/// RoPE base of the micro models.
pub const ROPE_THETA: f64 = 10_000.0;

/// The shape of the model to pretrain. Field names follow the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Geometry {
    /// Width of the residual stream (`--hidden`).
    pub hidden: usize,
    /// Decoder layers (`--layers`).
    pub layers: usize,
    /// Query heads (`--heads`).
    pub heads: usize,
    /// Key/value heads (`--kv-heads`).
    pub kv_heads: usize,
    /// Width of the SwiGLU MLP (`--intermediate`).
    pub intermediate: usize,
    /// Context length: the packed sequence length and `max_position_embeddings` (`--max-len`).
    pub max_len: usize,
}

impl Geometry {
    /// Checks the shape; each message names the flag at fault.
    ///
    /// # Errors
    /// A sentence naming the flag: a zero size, heads that do not divide the width or each
    /// other, an odd head width (RoPE needs pairs).
    pub fn check(&self) -> Result<(), String> {
        for (flag, v) in [
            ("--hidden", self.hidden),
            ("--layers", self.layers),
            ("--heads", self.heads),
            ("--kv-heads", self.kv_heads),
            ("--intermediate", self.intermediate),
        ] {
            if v == 0 {
                return Err(format!("{flag} must be at least 1"));
            }
        }
        if self.max_len < 2 {
            return Err(format!(
                "--max-len {} is too short: a sequence needs 2 tokens to predict one",
                self.max_len
            ));
        }
        if !self.hidden.is_multiple_of(self.heads) {
            return Err(format!(
                "--heads {} does not divide --hidden {}",
                self.heads, self.hidden
            ));
        }
        if !self.heads.is_multiple_of(self.kv_heads) {
            return Err(format!(
                "--kv-heads {} does not divide --heads {}",
                self.kv_heads, self.heads
            ));
        }
        let head_dim = self.hidden / self.heads;
        if !head_dim.is_multiple_of(2) {
            return Err(format!(
                "--hidden {} / --heads {} gives heads of {head_dim} values; RoPE needs an even width",
                self.hidden, self.heads
            ));
        }
        Ok(())
    }

    /// The model configuration for a vocabulary of `vocab_size` with these special tokens:
    /// a Llama with tied embeddings, no biases, RMSNorm epsilon 1e-5, RoPE base 10000.
    ///
    /// # Errors
    /// [`crate::model::ConfigError`] when the geometry is inconsistent (see [`Geometry::check`]).
    pub fn model_config(
        &self,
        vocab_size: usize,
        ids: SpecialIds,
    ) -> Result<ModelConfig, crate::model::ConfigError> {
        let json = json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_size": self.hidden,
            "intermediate_size": self.intermediate,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.kv_heads,
            "num_hidden_layers": self.layers,
            "head_dim": self.hidden / self.heads.max(1),
            "rms_norm_eps": 1e-5,
            "rope_theta": ROPE_THETA,
            "vocab_size": vocab_size,
            "max_position_embeddings": self.max_len,
            "tie_word_embeddings": true,
            "attention_bias": false,
            "mlp_bias": false,
            "hidden_act": "silu",
            "initializer_range": 0.02,
            "bos_token_id": ids.end_of_text,
            "eos_token_id": ids.im_end,
            "pad_token_id": ids.pad,
        });
        let bytes = serde_json::to_vec(&json).unwrap_or_default();
        ModelConfig::from_json(&bytes, "the pretraining settings")
    }
}

/// Parameters of a model of `config` with tied embeddings.
pub fn parameter_count(config: &ModelConfig) -> usize {
    let (h, i, v) = (
        config.hidden_size,
        config.intermediate_size,
        config.vocab_size,
    );
    let q = config.num_attention_heads * config.head_dim;
    let kv = config.num_key_value_heads * config.head_dim;
    let per_layer = h * q + 2 * h * kv + q * h + 3 * h * i + 2 * h;
    v * h + config.num_hidden_layers * per_layer + h
}

/// A model of `config` with seeded random weights (normal, std [`INIT_STD`]; norms 1), tied
/// embeddings, on `device`. Every parameter is frozen until a trainer unfreezes it.
///
/// # Errors
/// [`LoadError`] if the configuration cannot be built (it can, once checked).
pub fn init_model(config: ModelConfig, seed: u64, device: &Device) -> Result<Model, LoadError> {
    let weights = RandomWeights {
        seed,
        std: INIT_STD,
        tied: true,
    };
    Model::from_weights(config, &weights, device)
}

/// The documents of a corpus text: the pieces between `<|endoftext|>` markers, with
/// surrounding whitespace trimmed; empty pieces are dropped.
pub fn documents(text: &str) -> impl Iterator<Item = &str> {
    text.split(END_OF_TEXT)
        .map(str::trim)
        .filter(|d| !d.is_empty())
}

/// Packs tokenized documents into training sequences: each document followed by
/// `end_of_text`, all concatenated, cut into sequences of `max_len` tokens. The last, shorter
/// sequence is kept when it has at least 2 tokens. Every token is trained (labels = ids).
pub fn pack(documents: &[Vec<u32>], end_of_text: u32, max_len: usize) -> Vec<Sequence> {
    let mut stream: Vec<u32> = Vec::with_capacity(documents.iter().map(|d| d.len() + 1).sum());
    for d in documents {
        stream.extend_from_slice(d);
        stream.push(end_of_text);
    }
    stream
        .chunks(max_len.max(2))
        .filter(|c| c.len() >= 2)
        .map(|c| Sequence {
            input_ids: c.to_vec(),
            labels: c.iter().map(|&id| i64::from(id)).collect(),
        })
        .collect()
}

/// Splits packed sequences into training and held-out ones: the last
/// `ceil(fraction * n)` sequences are held out, as long as one is left to train on.
pub fn split_eval(mut sequences: Vec<Sequence>, fraction: f64) -> (Vec<Example>, Vec<Example>) {
    let n = sequences.len();
    let held = if fraction > 0.0 && n > 1 {
        ((fraction * n as f64).ceil() as usize).clamp(1, n - 1)
    } else {
        0
    };
    let eval = sequences.split_off(n - held);
    (
        sequences.into_iter().map(Example::Sft).collect(),
        eval.into_iter().map(Example::Sft).collect(),
    )
}

/// The training settings of a pretraining run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// Optimiser steps.
    pub steps: usize,
    /// Sequences per step.
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Share of the steps spent warming up.
    pub warmup_ratio: f64,
    /// AdamW weight decay (not on norms).
    pub weight_decay: f64,
    /// Seed of the weights and the data order.
    pub seed: u64,
}

/// The [`TrainConfig`] that runs a pretraining: a full fine-tune with the SFT loss on every
/// token of sequences of `max_len`, warm-up then cosine decay, global-norm clipping at 1.
pub fn train_config(s: &RunSettings, max_len: usize, eval_steps: usize) -> TrainConfig {
    let mut c = TrainConfig::for_method(Method::Sft);
    c.adapter.kind = AdapterKind::None;
    c.steps = Some(s.steps);
    c.batch_size = s.batch;
    c.learning_rate = s.lr;
    c.warmup_ratio = s.warmup_ratio;
    c.weight_decay = s.weight_decay;
    c.lr_scheduler = Schedule::Cosine;
    c.max_length = max_len;
    c.max_grad_norm = 1.0;
    c.seed = s.seed;
    c.eval_steps = eval_steps;
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry() -> Geometry {
        Geometry {
            hidden: 64,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            intermediate: 96,
            max_len: 32,
        }
    }

    #[test]
    fn documents_are_cut_at_end_of_text_and_trimmed() {
        let docs: Vec<&str> =
            documents("a b\n<|endoftext|>\n\n c<|endoftext|><|endoftext|>").collect();
        assert_eq!(docs, ["a b", "c"]);
    }

    #[test]
    fn packing_separates_documents_and_keeps_a_last_short_sequence() {
        let seqs = pack(&[vec![5, 6, 7], vec![8, 9]], 0, 4);
        let ids: Vec<Vec<u32>> = seqs.iter().map(|s| s.input_ids.clone()).collect();
        assert_eq!(ids, [vec![5, 6, 7, 0], vec![8, 9, 0]]);
        assert_eq!(seqs[1].labels, [8, 9, 0]);
        // A lone last token cannot be trained on.
        assert_eq!(pack(&[vec![1, 2, 3]], 0, 3).len(), 1);
    }

    #[test]
    fn eval_takes_the_last_sequences_and_leaves_one_to_train() {
        let seqs = pack(&[(1..=41).collect()], 0, 4);
        assert_eq!(seqs.len(), 11);
        let (train, eval) = split_eval(seqs.clone(), 0.1);
        assert_eq!((train.len(), eval.len()), (9, 2));
        let (train, eval) = split_eval(seqs[..1].to_vec(), 0.5);
        assert_eq!((train.len(), eval.len()), (1, 0));
        let (_, eval) = split_eval(seqs, 0.0);
        assert!(eval.is_empty());
    }

    #[test]
    fn geometry_errors_name_the_flag() {
        let mut g = geometry();
        assert!(g.check().is_ok());
        g.kv_heads = 3;
        assert!(g.check().unwrap_err().contains("--kv-heads 3"));
        g = geometry();
        g.hidden = 60;
        g.heads = 4;
        assert!(g.check().unwrap_err().contains("RoPE"), "15-wide heads");
        g = geometry();
        g.layers = 0;
        assert!(g.check().unwrap_err().contains("--layers"));
    }

    #[test]
    fn the_config_is_a_tied_llama_and_the_count_matches_the_model() {
        let cfg = geometry().model_config(300, SpecialIds::default()).unwrap();
        assert_eq!(cfg.eos_token_ids, [2]);
        assert_eq!(cfg.max_position_embeddings, 32);
        let model = init_model(cfg.clone(), 1, &Device::flex()).unwrap();
        assert!(model.is_tied());
        use burn::module::Module;
        assert_eq!(model.num_params(), parameter_count(&cfg));
    }
}
