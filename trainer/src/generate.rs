//! Text generation: greedy or sampled decoding with a KV cache.
//!
//! The model runs on any device; each step reads one row of logits back (asynchronously, so it
//! also works in the browser) and picks the next token on the host, with a seeded ChaCha8 RNG,
//! so the same seed gives the same text on every backend. Sampling follows transformers'
//! `generate`: logits divided by the temperature, then top-k, then top-p (nucleus) filtering,
//! then a draw from the softmax of what is left; temperature 0 is greedy (argmax).
//!
//! Generation stops at a stop token (the model's EOS ids and the template's end-of-turn token,
//! which the caller passes), after `max_new_tokens`, or at the model's context length.

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::{KvCache, Model};

/// How to pick tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplingConfig {
    /// Tokens to generate at most.
    pub max_new_tokens: usize,
    /// Softmax temperature; 0 picks the most likely token (greedy).
    pub temperature: f64,
    /// Keep only the `top_k` most likely tokens (0: all).
    pub top_k: usize,
    /// Keep the most likely tokens whose probabilities add up to `top_p` (1: all).
    pub top_p: f64,
    /// Seed of the sampling RNG.
    pub seed: u64,
}

impl Default for SamplingConfig {
    /// Greedy, 128 new tokens.
    fn default() -> Self {
        SamplingConfig {
            max_new_tokens: 128,
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            seed: 42,
        }
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// A stop token was generated (not included in the output).
    Stop(u32),
    /// `max_new_tokens` were generated.
    MaxNewTokens,
    /// The model's context is full.
    Context,
}

/// The generated tokens and why generation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// New tokens, without the stop token.
    pub tokens: Vec<u32>,
    /// Why it stopped.
    pub stop: StopReason,
}

/// A generation request that cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GenerateError {
    /// No prompt tokens.
    #[error("the prompt is empty: at least one token is needed to start from")]
    EmptyPrompt,
    /// The prompt fills the context.
    #[error(
        "the prompt has {len} tokens, the model's context is {context}: nothing can be generated"
    )]
    PromptTooLong {
        /// Prompt tokens.
        len: usize,
        /// The model's context.
        context: usize,
    },
    /// A prompt token outside the vocabulary.
    #[error("prompt token {id} is outside the model's vocabulary of {vocab}")]
    TokenOutOfRange {
        /// The token.
        id: u32,
        /// Vocabulary size.
        vocab: usize,
    },
    /// A sampling setting out of range.
    #[error("{0}")]
    Invalid(String),
    /// Reading logits back failed.
    #[error("reading logits from the device failed: {0}")]
    Read(String),
}

impl SamplingConfig {
    /// Checks the ranges.
    pub fn validate(&self) -> Result<(), GenerateError> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(GenerateError::Invalid(format!(
                "temperature must be >= 0, got {}",
                self.temperature
            )));
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(GenerateError::Invalid(format!(
                "top_p must be in (0, 1], got {}",
                self.top_p
            )));
        }
        Ok(())
    }
}

/// Generates a continuation of `prompt`.
///
/// # Arguments
/// - `model`: the model (best on a device without autodiff: see `Module::valid`).
/// - `prompt`: the prompt's token ids (with the template's generation prompt).
/// - `stop`: token ids that end generation.
/// - `config`: sampling settings.
/// - `on_token`: called with each new token as it is picked (for streaming output).
pub async fn generate(
    model: &Model,
    prompt: &[u32],
    stop: &[u32],
    config: &SamplingConfig,
    mut on_token: impl FnMut(u32),
) -> Result<Generated, GenerateError> {
    config.validate()?;
    let context = model.config.max_position_embeddings;
    let vocab = model.config.vocab_size;
    if prompt.is_empty() {
        return Err(GenerateError::EmptyPrompt);
    }
    if prompt.len() >= context {
        return Err(GenerateError::PromptTooLong {
            len: prompt.len(),
            context,
        });
    }
    if let Some(&id) = prompt.iter().find(|&&id| id as usize >= vocab) {
        return Err(GenerateError::TokenOutOfRange { id, vocab });
    }
    let device = model.model.embed_tokens.weight.lazy_device();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let mut cache = KvCache::new();
    let mut input: Vec<u32> = prompt.to_vec();
    let mut tokens = Vec::new();
    loop {
        if tokens.len() >= config.max_new_tokens {
            return Ok(Generated {
                tokens,
                stop: StopReason::MaxNewTokens,
            });
        }
        // The whole text, prompt and new tokens, stays within the context (transformers'
        // `max_length` rule).
        if prompt.len() + tokens.len() >= context {
            return Ok(Generated {
                tokens,
                stop: StopReason::Context,
            });
        }
        let logits = last_logits(model, &input, &mut cache, &device).await?;
        let next = pick(&logits, config, &mut rng);
        if stop.contains(&next) {
            return Ok(Generated {
                tokens,
                stop: StopReason::Stop(next),
            });
        }
        on_token(next);
        tokens.push(next);
        input = vec![next];
    }
}

/// [`generate`], blocking. Native only.
#[cfg(not(target_family = "wasm"))]
pub fn generate_blocking(
    model: &Model,
    prompt: &[u32],
    stop: &[u32],
    config: &SamplingConfig,
    on_token: impl FnMut(u32),
) -> Result<Generated, GenerateError> {
    burn::tensor::read_sync(generate(model, prompt, stop, config, on_token))
}

/// Runs `input` (the new tokens) through the model with the cache; the last position's logits.
async fn last_logits(
    model: &Model,
    input: &[u32],
    cache: &mut KvCache,
    device: &Device,
) -> Result<Vec<f32>, GenerateError> {
    let n = input.len();
    let ids: Vec<i64> = input.iter().map(|&t| i64::from(t)).collect();
    let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, n]), device);
    let logits = model.forward_cached(ids, None, cache); // [1, n, vocab]
    let vocab = logits.dims()[2];
    let last = logits.narrow(1, n - 1, 1).reshape([vocab]);
    let data = last
        .into_data_async()
        .await
        .map_err(|e| GenerateError::Read(e.to_string()))?;
    data.try_into_vec_as::<f32>()
        .map_err(|e| GenerateError::Read(e.to_string()))
}

/// Picks the next token from one row of logits.
pub fn pick(logits: &[f32], config: &SamplingConfig, rng: &mut ChaCha8Rng) -> u32 {
    if config.temperature == 0.0 {
        return argmax(logits);
    }
    let mut scores: Vec<f64> = logits
        .iter()
        .map(|&l| f64::from(l) / config.temperature)
        .collect();
    if config.top_k > 0 {
        top_k(&mut scores, config.top_k);
    }
    if config.top_p < 1.0 {
        top_p(&mut scores, config.top_p);
    }
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = scores.iter().map(|&s| (s - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    let mut target = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if *w > 0.0 {
            if target < *w {
                return i as u32;
            }
            target -= w;
        }
    }
    // Rounding left the target past the last weight: take the last possible token.
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0) as u32
}

/// The index of the largest logit (the first one on ties, as `torch.argmax`).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// transformers' `TopKLogitsWarper`: scores below the k-th largest become -inf (ties with it stay).
fn top_k(scores: &mut [f64], k: usize) {
    if k >= scores.len() {
        return;
    }
    let mut sorted = scores.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let threshold = sorted[k - 1];
    for s in scores.iter_mut() {
        if *s < threshold {
            *s = f64::NEG_INFINITY;
        }
    }
}

/// transformers' `TopPLogitsWarper`: sorted ascending, tokens whose cumulative probability is
/// at most `1 - top_p` are removed; the most likely token always stays.
fn top_p(scores: &mut [f64], p: f64) {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let weights: Vec<f64> = order.iter().map(|&i| (scores[i] - max).exp()).collect();
    let total: f64 = weights.iter().sum();
    let mut cumulative = 0.0;
    let last = order.len().saturating_sub(1);
    for (rank, &i) in order.iter().enumerate() {
        cumulative += weights[rank] / total;
        if rank < last && cumulative <= 1.0 - p {
            scores[i] = f64::NEG_INFINITY;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelConfig, RandomWeights};

    fn sampled(temperature: f64, top_k: usize, top_p: f64) -> SamplingConfig {
        SamplingConfig {
            temperature,
            top_k,
            top_p,
            ..SamplingConfig::default()
        }
    }

    #[test]
    fn greedy_takes_the_first_largest() {
        assert_eq!(argmax(&[0.1, 3.0, 3.0, -1.0]), 1);
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        assert_eq!(
            pick(&[0.0, 1.0, 5.0], &SamplingConfig::default(), &mut rng),
            2
        );
    }

    #[test]
    fn top_k_one_is_greedy_and_filters_keep_ties() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..20 {
            assert_eq!(pick(&[0.0, 2.0, 1.0], &sampled(1.0, 1, 1.0), &mut rng), 1);
        }
        let mut s = vec![1.0, 3.0, 3.0, 2.0];
        top_k(&mut s, 2);
        assert_eq!(s, [f64::NEG_INFINITY, 3.0, 3.0, f64::NEG_INFINITY]);
    }

    #[test]
    fn top_p_keeps_the_smallest_head_reaching_p() {
        // probabilities 0.5, 0.3, 0.2 (logs): p = 0.7 keeps 0.5 and 0.3.
        let mut s: Vec<f64> = [0.5f64, 0.3, 0.2].iter().map(|p| p.ln()).collect();
        top_p(&mut s, 0.7);
        assert!(s[0].is_finite() && s[1].is_finite() && s[2] == f64::NEG_INFINITY);
        let mut one: Vec<f64> = [0.5f64, 0.3, 0.2].iter().map(|p| p.ln()).collect();
        top_p(&mut one, 0.01);
        assert_eq!(one.iter().filter(|v| v.is_finite()).count(), 1);
    }

    #[test]
    fn sampling_follows_the_probabilities_and_the_seed() {
        let logits = [0.0f32, (3.0f32).ln()]; // p = 1/4, 3/4
        let cfg = sampled(1.0, 0, 1.0);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let ones = (0..4000)
            .filter(|_| pick(&logits, &cfg, &mut rng) == 1)
            .count();
        assert!((2800..3200).contains(&ones), "{ones}");
        let draw = |seed| {
            let mut r = ChaCha8Rng::seed_from_u64(seed);
            (0..32)
                .map(|_| pick(&logits, &cfg, &mut r))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }

    fn tiny() -> Model {
        let json = r#"{"model_type":"llama","hidden_size":32,"intermediate_size":48,
            "num_attention_heads":4,"num_key_value_heads":2,"num_hidden_layers":2,"vocab_size":40,
            "max_position_embeddings":12}"#;
        let cfg = ModelConfig::from_json(json.as_bytes(), "tiny").unwrap();
        let w = RandomWeights {
            seed: 9,
            std: 0.5,
            tied: false,
        };
        Model::from_weights(cfg, &w, &Device::flex()).unwrap()
    }

    #[test]
    fn greedy_generation_matches_argmax_of_full_forwards() {
        let model = tiny();
        let prompt = [3u32, 7, 1];
        let out = generate_blocking(
            &model,
            &prompt,
            &[],
            &SamplingConfig {
                max_new_tokens: 4,
                ..SamplingConfig::default()
            },
            |_| {},
        )
        .unwrap();
        assert_eq!(out.stop, StopReason::MaxNewTokens);
        // Without the cache: each next token is the argmax of a full forward pass.
        let mut seq: Vec<u32> = prompt.to_vec();
        for &t in &out.tokens {
            let ids: Vec<i64> = seq.iter().map(|&x| x as i64).collect();
            let n = ids.len();
            let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [1, n]), &Device::flex());
            let logits = model.forward(ids, None).narrow(1, n - 1, 1).reshape([40]);
            let row = logits.into_data().try_into_vec_as::<f32>().unwrap();
            assert_eq!(argmax(&row), t);
            seq.push(t);
        }
    }

    #[test]
    fn stop_tokens_context_and_bad_prompts() {
        let model = tiny();
        let greedy = SamplingConfig {
            max_new_tokens: 100,
            ..SamplingConfig::default()
        };
        let first = generate_blocking(
            &model,
            &[3, 7],
            &[],
            &SamplingConfig {
                max_new_tokens: 1,
                ..greedy
            },
            |_| {},
        )
        .unwrap()
        .tokens[0];
        let stopped = generate_blocking(&model, &[3, 7], &[first], &greedy, |_| {}).unwrap();
        assert_eq!(
            stopped,
            Generated {
                tokens: vec![],
                stop: StopReason::Stop(first)
            }
        );
        let full = generate_blocking(&model, &[3, 7], &[], &greedy, |_| {}).unwrap();
        assert_eq!((full.stop, full.tokens.len()), (StopReason::Context, 10));
        assert_eq!(
            generate_blocking(&model, &[], &[], &greedy, |_| {}).unwrap_err(),
            GenerateError::EmptyPrompt
        );
        assert!(matches!(
            generate_blocking(&model, &[1; 12], &[], &greedy, |_| {}),
            Err(GenerateError::PromptTooLong { .. })
        ));
        assert!(matches!(
            generate_blocking(&model, &[99], &[], &greedy, |_| {}),
            Err(GenerateError::TokenOutOfRange { id: 99, .. })
        ));
    }
}
