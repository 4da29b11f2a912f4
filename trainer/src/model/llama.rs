//! Llama-family decoder (Llama 2/3, TinyLlama, SmolLM2, Mistral) and Qwen2, as in
//! transformers' `modeling_llama.py` / `modeling_qwen2.py`.
//!
//! - RMSNorm before attention and before the MLP, and once more at the end.
//! - Rotary position embedding in the Hugging Face convention: `rotate_half` over the two
//!   halves of each head (not burn's interleaved `RotaryEncoding`), `inv_freq` from
//!   `rope_theta` (and Llama 3 scaling when configured).
//! - Grouped-query attention: `num_key_value_heads` key/value heads, each shared by
//!   `num_attention_heads / num_key_value_heads` query heads. The query heads of a group are
//!   stacked along the sequence axis and attend to their shared key/value head directly, so
//!   keys and values are never copied per query head.
//! - SwiGLU MLP: `down_proj(silu(gate_proj(x)) * up_proj(x))`.
//! - Causal mask combined with the padding mask (`attention_mask`, 1 = token, 0 = padding).
//!   Positions are `0..seq_len` (plus the cache length), as transformers' forward uses when
//!   no `position_ids` are given; pass explicit positions for left-padded generation.
//! - Qwen2 differs only by a bias on q/k/v and, usually, tied embeddings; the lm_head is
//!   tied when the checkpoint has no `lm_head.weight` (checked by the loader, not the flag).
//!
//! Every projection is an [`adapter::Linear`](crate::adapter::Linear), so LoRA/DoRA/NF4 apply
//! to any of them. Struct fields carry the checkpoint's tensor names.

use burn::module::{Module, Param};
use burn::tensor::module::{attention, embedding};
use burn::tensor::ops::AttentionModuleOptions;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use super::config::ModelConfig;
use super::fused::{masked_softmax, rms_norm, rope, swiglu};
use super::load::{LoadError, WeightSource};
use crate::adapter::Linear;
use crate::adapter::linear::{frozen, project};

/// Root-mean-square layer norm with a learned scale, `weight * x / sqrt(mean(x²) + eps)`.
#[derive(Module, Debug)]
pub struct RmsNorm {
    /// `[hidden]` scale.
    pub weight: Param<Tensor<1>>,
    /// Epsilon inside the root.
    pub eps: f64,
}

impl RmsNorm {
    fn load(
        w: &dyn WeightSource,
        name: &str,
        size: usize,
        eps: f64,
        device: &Device,
    ) -> Result<Self, LoadError> {
        Ok(RmsNorm {
            weight: frozen(w.tensor1(&format!("{name}.weight"), size, device)?),
            eps,
        })
    }

    /// # Shapes
    /// - `x`: `[batch, seq, hidden]` → same.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        rms_norm(x, self.weight.val(), self.eps)
    }
}

/// Rotary position embedding, Hugging Face `rotate_half` convention.
#[derive(Module, Debug)]
pub struct RotaryEmbedding {
    /// `[head_dim / 2]` inverse frequencies (a constant, not a parameter).
    pub inv_freq: Tensor<1>,
}

impl RotaryEmbedding {
    fn new(cfg: &ModelConfig, device: &Device) -> Self {
        let inv = cfg.rope_inv_freq();
        let n = inv.len();
        RotaryEmbedding {
            inv_freq: Tensor::from_data(TensorData::new(inv, [n]), device),
        }
    }

    /// `cos` and `sin` tables for the given positions.
    ///
    /// # Shapes
    /// - `positions`: `[batch or 1, seq]`
    /// - output: two `[batch or 1, seq, 1, head_dim]`
    pub fn cos_sin(&self, positions: Tensor<2, Int>) -> (Tensor<4>, Tensor<4>) {
        let half = self.inv_freq.dims()[0];
        let freqs = positions.float().unsqueeze_dim::<3>(2) // [b, seq, 1]
            * self.inv_freq.clone().reshape([1, 1, half]); // [b, seq, half]
        let emb = Tensor::cat(vec![freqs.clone(), freqs], 2).unsqueeze_dim::<4>(2); // [b, seq, 1, head_dim]
        (emb.clone().cos(), emb.sin())
    }
}

/// Multi-head attention with grouped key/value heads.
#[derive(Module, Debug)]
pub struct Attention {
    /// Query projection `[heads * head_dim, hidden]`.
    pub q_proj: Linear,
    /// Key projection `[kv_heads * head_dim, hidden]`.
    pub k_proj: Linear,
    /// Value projection `[kv_heads * head_dim, hidden]`.
    pub v_proj: Linear,
    /// Output projection `[hidden, heads * head_dim]`.
    pub o_proj: Linear,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads.
    pub num_kv_heads: usize,
    /// Width of a head.
    pub head_dim: usize,
}

impl Attention {
    fn load(
        w: &dyn WeightSource,
        prefix: &str,
        cfg: &ModelConfig,
        device: &Device,
    ) -> Result<Self, LoadError> {
        let (h, q, kv) = (
            cfg.hidden_size,
            cfg.num_attention_heads * cfg.head_dim,
            cfg.num_key_value_heads * cfg.head_dim,
        );
        Ok(Attention {
            q_proj: w.linear(&format!("{prefix}.q_proj"), [q, h], cfg.qkv_bias, device)?,
            k_proj: w.linear(&format!("{prefix}.k_proj"), [kv, h], cfg.qkv_bias, device)?,
            v_proj: w.linear(&format!("{prefix}.v_proj"), [kv, h], cfg.qkv_bias, device)?,
            o_proj: w.linear(&format!("{prefix}.o_proj"), [h, q], cfg.o_bias, device)?,
            num_heads: cfg.num_attention_heads,
            num_kv_heads: cfg.num_key_value_heads,
            head_dim: cfg.head_dim,
        })
    }

    /// `[batch, seq, heads * head_dim]` → `[batch, seq, heads, head_dim]`.
    fn split_heads(&self, x: Tensor<3>, heads: usize) -> Tensor<4> {
        let [b, t, _] = x.dims();
        x.reshape([b, t, heads, self.head_dim])
    }

    /// # Shapes
    /// - `x`: `[batch, seq, hidden]`
    /// - `cos`, `sin`: `[batch or 1, seq, 1, head_dim]`
    /// - `mask`: `[batch, 1, groups * seq, past + seq]`, true where attention is forbidden
    /// - output: `[batch, seq, hidden]`
    fn forward(
        &self,
        x: Tensor<3>,
        cos: &Tensor<4>,
        sin: &Tensor<4>,
        mask: &Tensor<4, Bool>,
        cache: Option<&mut LayerCache>,
    ) -> Tensor<3> {
        let [b, t, _] = x.dims();
        let groups = self.num_heads / self.num_kv_heads;
        // Rotated while each row is contiguous, then [b, heads, t, d].
        let q = self.split_heads(self.q_proj.forward(x.clone()), self.num_heads);
        let q = rope(q, cos, sin).swap_dims(1, 2); // [b, heads, t, d]
        let k = self.split_heads(self.k_proj.forward(x.clone()), self.num_kv_heads);
        let k = rope(k, cos, sin).swap_dims(1, 2); // [b, kv, t, d]
        let v = self
            .split_heads(self.v_proj.forward(x), self.num_kv_heads)
            .swap_dims(1, 2); // [b, kv, t, d]
        let (k, v) = match cache {
            Some(c) => c.append(k, v),
            None => (k, v),
        };
        // Query heads of one group are adjacent (head = kv_head * groups + g): fold them into
        // the sequence axis so each group attends to its own key/value head.
        let q = q.reshape([b, self.num_kv_heads, groups * t, self.head_dim]);
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let out = if q.device().is_autodiff() {
            attention_for_training(q, k, v, mask, scale)
        } else {
            let options = AttentionModuleOptions {
                scale: Some(scale),
                softcap: None,
                is_causal: false,
            };
            attention(q, k, v, Some(mask.clone()), None, options)
        }; // [b, kv, groups * t, d]
        let out = out
            .reshape([b, self.num_heads, t, self.head_dim])
            .swap_dims(1, 2) // [b, t, heads, d]
            .reshape([b, t, self.num_heads * self.head_dim]);
        self.o_proj.forward(out)
    }
}

/// `softmax(q·kᵀ·scale, masked)·v` for a pass that records gradients.
///
/// burn's differentiable attention takes the softmax as eight recorded element-wise ops (a
/// scalar `exp` on one thread on the CPU, and a `max` whose backward scatters); here it is one
/// node ([`masked_softmax`]) whose backward pass is the softmax's, `p ⊙ (g - Σ p ⊙ g)`.
///
/// # Shapes
/// - `q`: `[batch, kv_heads, queries, head_dim]`; `k`, `v`: `[batch, kv_heads, keys, head_dim]`
/// - `mask`: `[batch, 1, queries, keys]`, true where attention is forbidden
/// - output: `[batch, kv_heads, queries, head_dim]`
fn attention_for_training(
    q: Tensor<4>,
    k: Tensor<4>,
    v: Tensor<4>,
    mask: &Tensor<4, Bool>,
    scale: f64,
) -> Tensor<4> {
    let scores = q.matmul(k.swap_dims(2, 3)) * scale;
    // Every query sees at least itself, so no row is all masked.
    masked_softmax(scores, mask.clone()).matmul(v)
}

/// SwiGLU feed-forward.
#[derive(Module, Debug)]
pub struct Mlp {
    /// `[intermediate, hidden]`.
    pub gate_proj: Linear,
    /// `[intermediate, hidden]`.
    pub up_proj: Linear,
    /// `[hidden, intermediate]`.
    pub down_proj: Linear,
}

impl Mlp {
    fn load(
        w: &dyn WeightSource,
        prefix: &str,
        cfg: &ModelConfig,
        device: &Device,
    ) -> Result<Self, LoadError> {
        let (h, i, bias) = (cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias);
        Ok(Mlp {
            gate_proj: w.linear(&format!("{prefix}.gate_proj"), [i, h], bias, device)?,
            up_proj: w.linear(&format!("{prefix}.up_proj"), [i, h], bias, device)?,
            down_proj: w.linear(&format!("{prefix}.down_proj"), [h, i], bias, device)?,
        })
    }

    /// # Shapes
    /// - `x`: `[batch, seq, hidden]` → same.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let gate = self.gate_proj.forward(x.clone()); // [b, t, intermediate]
        self.down_proj
            .forward(swiglu(gate, self.up_proj.forward(x)))
    }
}

/// One pre-norm transformer block.
#[derive(Module, Debug)]
pub struct DecoderLayer {
    /// Norm before attention.
    pub input_layernorm: RmsNorm,
    /// Attention.
    pub self_attn: Attention,
    /// Norm before the MLP.
    pub post_attention_layernorm: RmsNorm,
    /// MLP.
    pub mlp: Mlp,
}

impl DecoderLayer {
    fn load(
        w: &dyn WeightSource,
        i: usize,
        cfg: &ModelConfig,
        device: &Device,
    ) -> Result<Self, LoadError> {
        let p = format!("model.layers.{i}");
        let (h, eps) = (cfg.hidden_size, cfg.rms_norm_eps);
        Ok(DecoderLayer {
            input_layernorm: RmsNorm::load(w, &format!("{p}.input_layernorm"), h, eps, device)?,
            self_attn: Attention::load(w, &format!("{p}.self_attn"), cfg, device)?,
            post_attention_layernorm: RmsNorm::load(
                w,
                &format!("{p}.post_attention_layernorm"),
                h,
                eps,
                device,
            )?,
            mlp: Mlp::load(w, &format!("{p}.mlp"), cfg, device)?,
        })
    }

    fn forward(
        &self,
        x: Tensor<3>,
        cos: &Tensor<4>,
        sin: &Tensor<4>,
        mask: &Tensor<4, Bool>,
        cache: Option<&mut LayerCache>,
    ) -> Tensor<3> {
        let h = x.clone()
            + self
                .self_attn
                .forward(self.input_layernorm.forward(x), cos, sin, mask, cache);
        h.clone() + self.mlp.forward(self.post_attention_layernorm.forward(h))
    }

    /// The layer's seven projections with their names.
    pub fn linears(&self) -> [&Linear; 7] {
        let (a, m) = (&self.self_attn, &self.mlp);
        [
            &a.q_proj,
            &a.k_proj,
            &a.v_proj,
            &a.o_proj,
            &m.gate_proj,
            &m.up_proj,
            &m.down_proj,
        ]
    }

    fn linears_mut(&mut self) -> [&mut Linear; 7] {
        let (a, m) = (&mut self.self_attn, &mut self.mlp);
        [
            &mut a.q_proj,
            &mut a.k_proj,
            &mut a.v_proj,
            &mut a.o_proj,
            &mut m.gate_proj,
            &mut m.up_proj,
            &mut m.down_proj,
        ]
    }
}

/// Token embedding table.
#[derive(Module, Debug)]
pub struct Embedding {
    /// `[vocab, hidden]`.
    pub weight: Param<Tensor<2>>,
}

/// The decoder stack (transformers' `LlamaModel`): embeddings, blocks, final norm.
#[derive(Module, Debug)]
pub struct Decoder {
    /// Token embeddings.
    pub embed_tokens: Embedding,
    /// Blocks.
    pub layers: Vec<DecoderLayer>,
    /// Final norm.
    pub norm: RmsNorm,
    /// RoPE tables.
    pub rotary_emb: RotaryEmbedding,
}

/// Key/value cache of one layer: keys and values after RoPE, `[batch, kv_heads, len, head_dim]`.
#[derive(Debug, Clone, Default)]
pub struct LayerCache {
    kv: Option<(Tensor<4>, Tensor<4>)>,
}

impl LayerCache {
    fn append(&mut self, k: Tensor<4>, v: Tensor<4>) -> (Tensor<4>, Tensor<4>) {
        let (k, v) = match self.kv.take() {
            Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
            None => (k, v),
        };
        self.kv = Some((k.clone(), v.clone()));
        (k, v)
    }
}

/// Keys and values of the tokens seen so far, for generation one token at a time.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<LayerCache>,
    len: usize,
}

impl KvCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Tokens cached so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Decoder {
    fn load(w: &dyn WeightSource, cfg: &ModelConfig, device: &Device) -> Result<Self, LoadError> {
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| DecoderLayer::load(w, i, cfg, device))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Decoder {
            embed_tokens: Embedding {
                weight: frozen(w.tensor2(
                    "model.embed_tokens.weight",
                    [cfg.vocab_size, cfg.hidden_size],
                    device,
                )?),
            },
            layers,
            norm: RmsNorm::load(w, "model.norm", cfg.hidden_size, cfg.rms_norm_eps, device)?,
            rotary_emb: RotaryEmbedding::new(cfg, device),
        })
    }

    /// Final hidden states.
    ///
    /// # Shapes
    /// - `input_ids`: `[batch, seq]`
    /// - `mask`: `[batch, 1, groups * seq, past + seq]`
    /// - `positions`: `[batch or 1, seq]`
    /// - output: `[batch, seq, hidden]`
    fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        mask: &Tensor<4, Bool>,
        positions: Tensor<2, Int>,
        mut cache: Option<&mut KvCache>,
    ) -> Tensor<3> {
        let mut x = embedding(self.embed_tokens.weight.val(), input_ids); // [b, t, hidden]
        let (cos, sin) = self.rotary_emb.cos_sin(positions);
        if let Some(c) = cache.as_deref_mut()
            && c.layers.len() != self.layers.len()
        {
            c.layers = vec![LayerCache::default(); self.layers.len()];
        }
        for (i, layer) in self.layers.iter().enumerate() {
            let layer_cache = cache.as_deref_mut().map(|c| &mut c.layers[i]);
            x = layer.forward(x, &cos, &sin, mask, layer_cache);
        }
        self.norm.forward(x)
    }
}

/// What a forward pass hands to the objectives (see [`Model::outputs`]).
// Tensor handles are a few hundred bytes; the value lives for one call, so boxing buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Outputs {
    /// `[batch, seq, vocab]` logits.
    Logits(Tensor<3>),
    /// `[batch, seq, hidden]` final hidden states and the frozen `[vocab, hidden]` output
    /// projection: the log-probabilities are taken without the logits entering the graph
    /// ([`hidden_token_logps`](crate::objective::logprobs::hidden_token_logps)).
    Hidden { hidden: Tensor<3>, head: Tensor<2> },
}

/// A causal language model (transformers' `LlamaForCausalLM` / `Qwen2ForCausalLM`).
#[derive(Module, Debug)]
pub struct Model {
    /// The decoder stack (checkpoint prefix `model.`).
    pub model: Decoder,
    /// The output projection; `None` when tied to `model.embed_tokens`.
    pub lm_head: Option<Linear>,
    /// The geometry the model was built from.
    #[module(skip)]
    pub config: ModelConfig,
}

impl Model {
    /// Builds the model from a source of checkpoint tensors (a safetensors checkpoint, or
    /// [`RandomWeights`](super::load::RandomWeights)). The lm_head is tied exactly when the
    /// source has no `lm_head.weight`. Every parameter is frozen; adapters are added after.
    ///
    /// # Errors
    /// [`LoadError`] naming the tensor that is missing or has the wrong shape.
    pub fn from_weights(
        cfg: ModelConfig,
        w: &dyn WeightSource,
        device: &Device,
    ) -> Result<Self, LoadError> {
        let model = Decoder::load(w, &cfg, device)?;
        let lm_head = if w.contains("lm_head.weight") {
            Some(w.linear("lm_head", [cfg.vocab_size, cfg.hidden_size], false, device)?)
        } else {
            None
        };
        Ok(Model {
            model,
            lm_head,
            config: cfg,
        })
    }

    /// Next-token logits for every position.
    ///
    /// # Arguments
    /// - `input_ids`: `[batch, seq]` token ids.
    /// - `attention_mask`: `[batch, seq]`, 1 for tokens and 0 for padding (left or right);
    ///   `None` means no padding.
    ///
    /// # Returns
    /// `[batch, seq, vocab]` logits. Rows of padding positions are finite but meaningless.
    pub fn forward(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Option<Tensor<2, Int>>,
    ) -> Tensor<3> {
        self.forward_with(input_ids, attention_mask, None, None)
    }

    /// [`Model::forward`] with a [`KvCache`]: `input_ids` are the new tokens only,
    /// `attention_mask` (if any) covers the cached and the new tokens (`[batch, past + seq]`).
    /// Positions continue from the cache length.
    pub fn forward_cached(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Option<Tensor<2, Int>>,
        cache: &mut KvCache,
    ) -> Tensor<3> {
        self.forward_with(input_ids, attention_mask, None, Some(cache))
    }

    /// The general forward pass.
    ///
    /// # Arguments
    /// - `input_ids`: `[batch, seq]` (the new tokens when a cache is given).
    /// - `attention_mask`: `[batch, past + seq]`, 1 = attend, 0 = padding.
    /// - `position_ids`: `[batch, seq]`; default `past..past + seq` for every row (for
    ///   left-padded generation pass `cumsum(mask) - 1` as transformers' `generate` does).
    /// - `cache`: filled with this call's keys and values.
    ///
    /// # Returns
    /// `[batch, seq, vocab]` logits.
    pub fn forward_with(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Option<Tensor<2, Int>>,
        position_ids: Option<Tensor<2, Int>>,
        cache: Option<&mut KvCache>,
    ) -> Tensor<3> {
        self.logits(self.hidden_with(input_ids, attention_mask, position_ids, cache))
    }

    /// What the objectives take log-probabilities from, for a batch without cache: the final
    /// hidden states and the output projection when the projection is frozen, else the logits.
    pub fn outputs(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Option<Tensor<2, Int>>,
    ) -> Outputs {
        let hidden = self.hidden_with(input_ids, attention_mask, None, None);
        match self.frozen_head() {
            Some(head) => Outputs::Hidden { hidden, head },
            None => Outputs::Logits(self.logits(hidden)),
        }
    }

    /// [`Model::forward_with`] up to the final norm: `[batch, seq, hidden]`.
    fn hidden_with(
        &self,
        input_ids: Tensor<2, Int>,
        attention_mask: Option<Tensor<2, Int>>,
        position_ids: Option<Tensor<2, Int>>,
        mut cache: Option<&mut KvCache>,
    ) -> Tensor<3> {
        let [b, t] = input_ids.dims();
        let device = input_ids.device();
        let past = cache.as_deref().map_or(0, KvCache::len);
        let positions = position_ids.unwrap_or_else(|| {
            Tensor::<1, Int>::arange(past as i64..(past + t) as i64, &device).reshape([1, t])
        });
        let groups = self.config.kv_groups();
        let mask = attention_bool_mask(b, t, past, groups, attention_mask, &device);
        let hidden = self
            .model
            .forward(input_ids, &mask, positions, cache.as_deref_mut());
        if let Some(c) = cache {
            c.len += t;
        }
        hidden
    }

    /// The output projection's `[vocab, hidden]` weight when nothing in it trains: a frozen
    /// matrix (the tied embedding, or an lm_head without bias and without an active adapter).
    fn frozen_head(&self) -> Option<Tensor<2>> {
        let weight = match &self.lm_head {
            None => self.model.embed_tokens.weight.val(),
            Some(head) => {
                let adapted = head.adapters_enabled && head.adapters.iter().any(|a| !a.merged);
                if adapted || head.bias.is_some() {
                    return None;
                }
                head.weight.dense()
            }
        };
        (!weight.is_require_grad()).then_some(weight)
    }

    /// Logits from final hidden states `[batch, seq, hidden]` → `[batch, seq, vocab]`.
    pub fn logits(&self, hidden: Tensor<3>) -> Tensor<3> {
        match &self.lm_head {
            Some(head) => head.forward(hidden),
            None => project(hidden, self.model.embed_tokens.weight.val()),
        }
    }

    /// Whether the output projection shares the embedding matrix.
    pub fn is_tied(&self) -> bool {
        self.lm_head.is_none()
    }

    /// Every linear layer of the blocks (7 per layer, in checkpoint order), then `lm_head`.
    pub fn linears(&self) -> Vec<&Linear> {
        let mut out: Vec<&Linear> = self.model.layers.iter().flat_map(|l| l.linears()).collect();
        out.extend(self.lm_head.as_ref());
        out
    }

    /// Mutable [`Model::linears`].
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out: Vec<&mut Linear> = self
            .model
            .layers
            .iter_mut()
            .flat_map(|l| l.linears_mut())
            .collect();
        out.extend(self.lm_head.as_mut());
        out
    }
}

/// The boolean attention mask, true where a query may not look: later positions (causal) and
/// padding keys, except that every query may look at itself. A padding query (left padding)
/// would otherwise have no key at all, and its softmax a row of 0/0; its output is meaningless
/// either way, and no real query sees it. Query rows are repeated per query head of a group (see
/// [`Attention`]).
///
/// # Shapes
/// - `attention_mask`: `[batch, past + seq]`
/// - output: `[batch, 1, groups * seq, past + seq]`
fn attention_bool_mask(
    batch: usize,
    seq: usize,
    past: usize,
    groups: usize,
    attention_mask: Option<Tensor<2, Int>>,
    device: &Device,
) -> Tensor<4, Bool> {
    let keys = past + seq;
    let causal: Vec<bool> = (0..seq)
        .flat_map(|i| (0..keys).map(move |j| j > past + i))
        .collect();
    let causal = Tensor::<2, Bool>::from_data(TensorData::new(causal, [seq, keys]), device)
        .reshape([1, seq, keys])
        .expand([batch, seq, keys]);
    let mask = match attention_mask {
        Some(m) => {
            let padding = m
                .equal_elem(0)
                .reshape([batch, 1, keys])
                .expand([batch, seq, keys]);
            causal.bool_or(padding)
        }
        None => causal,
    };
    let itself: Vec<bool> = (0..seq)
        .flat_map(|i| (0..keys).map(move |j| j == past + i))
        .collect();
    let itself = Tensor::<2, Bool>::from_data(TensorData::new(itself, [seq, keys]), device)
        .reshape([1, seq, keys])
        .expand([batch, seq, keys]);
    let mask = mask.bool_and(itself.bool_not());
    mask.reshape([batch, 1, 1, seq, keys])
        .expand([batch, 1, groups, seq, keys])
        .reshape([batch, 1, groups * seq, keys])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::{AdapterSpec, LoraConfig};
    use crate::model::load::RandomWeights;

    fn tiny(tied: bool) -> Model {
        tiny_on(tied, &Device::flex())
    }

    fn tiny_on(tied: bool, device: &Device) -> Model {
        let json = r#"{"model_type":"qwen2","hidden_size":32,"intermediate_size":48,
            "num_attention_heads":4,"num_key_value_heads":2,"num_hidden_layers":2,"vocab_size":50}"#;
        let cfg = ModelConfig::from_json(json.as_bytes(), "tiny").unwrap();
        let w = RandomWeights {
            seed: 3,
            std: 0.2,
            tied,
        };
        Model::from_weights(cfg, &w, device).unwrap()
    }

    fn ids(rows: &[&[i64]]) -> Tensor<2, Int> {
        let (b, t) = (rows.len(), rows[0].len());
        let flat: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_data(TensorData::new(flat, [b, t]), &Device::flex())
    }

    fn values(t: Tensor<3>) -> Vec<f32> {
        t.try_into_vec_as::<f32>().unwrap()
    }

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4)
    }

    #[test]
    fn cached_generation_gives_the_full_forward_logits() {
        let model = tiny(true);
        let full = values(model.forward(ids(&[&[5, 9, 2, 7, 11]]), None));
        let mut cache = KvCache::new();
        let first = values(model.forward_cached(ids(&[&[5, 9, 2]]), None, &mut cache));
        let second = values(model.forward_cached(ids(&[&[7]]), None, &mut cache));
        let third = values(model.forward_cached(ids(&[&[11]]), None, &mut cache));
        assert_eq!(cache.len(), 5);
        let v = 50;
        assert!(close(&first, &full[..3 * v]));
        assert!(close(&second, &full[3 * v..4 * v]));
        assert!(close(&third, &full[4 * v..]));
    }

    #[test]
    fn right_padding_does_not_change_the_real_tokens() {
        let model = tiny(false);
        let alone = values(model.forward(ids(&[&[5, 9, 2]]), None));
        let mask = ids(&[&[1, 1, 1, 0, 0], &[1, 1, 1, 1, 1]]);
        let padded = values(model.forward(ids(&[&[5, 9, 2, 0, 0], &[1, 2, 3, 4, 5]]), Some(mask)));
        assert!(close(&alone, &padded[..3 * 50]));
        assert!(padded.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn left_padding_with_shifted_positions_matches_the_unpadded_row() {
        let model = tiny(true);
        let alone = values(model.forward(ids(&[&[5, 9, 2]]), None));
        let mask = ids(&[&[0, 0, 1, 1, 1]]);
        let positions = ids(&[&[0, 0, 0, 1, 2]]);
        let padded =
            model.forward_with(ids(&[&[0, 0, 5, 9, 2]]), Some(mask), Some(positions), None);
        let padded = values(padded);
        assert!(close(&alone, &padded[2 * 50..]));
        assert!(
            padded.iter().all(|x| x.is_finite()),
            "fully masked rows stay finite"
        );
    }

    #[test]
    fn attention_for_training_equals_the_inference_path_and_stays_finite_on_left_padding() {
        let device = Device::flex().autodiff();
        let model = tiny(true);
        let mut training = tiny_on(true, &device);
        // B starts at zero: the adapted model computes the base logits.
        let lora = AdapterSpec::lora(LoraConfig::default(), 0);
        training.apply_adapters(&lora).unwrap();
        let batch = ids(&[&[0, 0, 5, 9, 2], &[1, 2, 3, 4, 5]]);
        let mask = ids(&[&[0, 0, 1, 1, 1], &[1, 1, 1, 1, 1]]);
        let want = values(model.forward(batch.clone(), Some(mask.clone())));
        let logits = training.forward(batch.to_device(&device), Some(mask.to_device(&device)));
        let got = values(logits.clone());
        // Real positions agree; padding positions are finite (each sees only itself).
        let v = 50;
        assert!(close(&got[2 * v..], &want[2 * v..]));
        assert!(got.iter().all(|x| x.is_finite()));
        let grads = logits.sum().backward();
        for p in training.adapter_params("default") {
            let grad = p.value.grad(&grads).unwrap().to_vec().unwrap();
            assert!(grad.iter().all(|x| x.is_finite()), "{}", p.key);
        }
    }

    #[test]
    fn head_is_tied_exactly_when_the_checkpoint_has_no_lm_head() {
        assert!(tiny(true).is_tied());
        let untied = tiny(false);
        assert!(!untied.is_tied());
        assert_eq!(untied.linears().len(), 2 * 7 + 1);
    }

    #[test]
    fn qlora_trains_only_the_adapters() {
        let json = r#"{"model_type":"llama","hidden_size":64,"intermediate_size":64,
            "num_attention_heads":4,"num_key_value_heads":4,"num_hidden_layers":1,"vocab_size":40}"#;
        let cfg = ModelConfig::from_json(json.as_bytes(), "tiny").unwrap();
        let device = Device::flex().autodiff();
        let w = RandomWeights {
            seed: 1,
            std: 0.1,
            tied: false,
        };
        let mut model = Model::from_weights(cfg, &w, &device).unwrap();
        let spec = AdapterSpec::lora(
            LoraConfig {
                use_dora: true,
                ..LoraConfig::default()
            },
            7,
        )
        .with_nf4_base();
        model.apply_adapters(&spec).unwrap();
        let q = &model.model.layers[0].self_attn.q_proj;
        assert!(q.weight.is_quantized());
        assert!(!model.lm_head.as_ref().unwrap().weight.is_quantized());
        let input =
            Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 5, 9, 3], [1, 4]), &device);
        let loss = model.forward(input, None).sum();
        let grads = loss.backward();
        let params = model.adapter_params("default");
        assert_eq!(params.len(), 7 * 3);
        assert!(params.iter().all(|p| p.value.grad(&grads).is_some()));
        assert!(model.model.embed_tokens.weight.val().grad(&grads).is_none());
        assert!(model.model.norm.weight.val().grad(&grads).is_none());
    }
}
