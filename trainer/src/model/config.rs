//! Hugging Face `config.json`, read leniently, resolved strictly.
//!
//! [`HfConfig`] mirrors the keys transformers writes for `LlamaForCausalLM`,
//! `MistralForCausalLM` and `Qwen2ForCausalLM`, every one optional so that a missing key is
//! reported by name instead of as a serde error, and keeps the keys it does not know so a
//! merged model can be written back with them. [`HfConfig::into_config`] checks it and fills in
//! the defaults transformers would use, giving a [`ModelConfig`] with no optional geometry left.
//!
//! Departures from transformers, on purpose:
//! - RoPE types other than `default` and `llama3` are refused (linear, dynamic, yarn, longrope
//!   change the positions' frequencies in ways we do not implement yet).
//! - Mistral's and Qwen2's sliding window is not applied: contexts we train on are shorter than
//!   the window (4096 and more), where it changes nothing.
//! - `hidden_act` must be `silu` (every model of these families uses it).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Errors in a `config.json`; each names the file and the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not JSON, or a key of the wrong JSON type.
    #[error("{file}: not a valid Hugging Face config.json: {source}")]
    Json {
        /// The file (or other origin) read.
        file: String,
        /// serde's error, with line and column.
        source: serde_json::Error,
    },
    /// A key the model cannot be built without.
    #[error("{file}: missing required field `{field}`")]
    MissingField {
        /// The file read.
        file: String,
        /// The JSON key.
        field: &'static str,
    },
    /// `model_type` (or `architectures`) names a model family ajuste does not implement.
    #[error(
        "{file}: field `{field}` is `{value}`, an architecture ajuste does not support (supported: llama, mistral, qwen2)"
    )]
    UnsupportedArchitecture {
        /// The file read.
        file: String,
        /// `model_type` or `architectures`.
        field: &'static str,
        /// What the file says.
        value: String,
    },
    /// A key whose value is present but unusable.
    #[error("{file}: field `{field}`: {reason}")]
    InvalidField {
        /// The file read.
        file: String,
        /// The JSON key (dotted for nested keys).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// A token id field, which transformers writes as one id or a list (`eos_token_id: [1, 2]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TokenIds {
    /// `"eos_token_id": 2`
    One(u32),
    /// `"eos_token_id": [128001, 128009]`
    Many(Vec<u32>),
}

impl TokenIds {
    /// The ids as a list.
    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            TokenIds::One(id) => vec![*id],
            TokenIds::Many(ids) => ids.clone(),
        }
    }
}

/// `rope_parameters` (transformers 5) or `rope_scaling` (older files).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HfRopeParameters {
    /// `default`, `llama3`, `linear`, `dynamic`, `yarn`, ... (older files write `type`).
    #[serde(default, alias = "type")]
    pub rope_type: Option<String>,
    /// Base of the frequencies (transformers 5 keeps it here).
    #[serde(default)]
    pub rope_theta: Option<f64>,
    /// Llama 3 scaling: the factor long wavelengths are divided by.
    #[serde(default)]
    pub factor: Option<f64>,
    /// Llama 3 scaling.
    #[serde(default)]
    pub low_freq_factor: Option<f64>,
    /// Llama 3 scaling.
    #[serde(default)]
    pub high_freq_factor: Option<f64>,
    /// Llama 3 scaling: the context the model was pre-trained with.
    #[serde(default)]
    pub original_max_position_embeddings: Option<usize>,
    /// Anything else, kept for writing the file back.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `config.json` as transformers writes it; field names are the JSON keys.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HfConfig {
    /// `llama`, `mistral` or `qwen2`.
    #[serde(default)]
    pub model_type: Option<String>,
    /// e.g. `["LlamaForCausalLM"]`; used when `model_type` is absent.
    #[serde(default)]
    pub architectures: Option<Vec<String>>,
    /// Width of the residual stream.
    #[serde(default)]
    pub hidden_size: Option<usize>,
    /// Width of the SwiGLU MLP.
    #[serde(default)]
    pub intermediate_size: Option<usize>,
    /// Query heads.
    #[serde(default)]
    pub num_attention_heads: Option<usize>,
    /// Key/value heads (GQA); transformers defaults it to `num_attention_heads`.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Decoder layers.
    #[serde(default)]
    pub num_hidden_layers: Option<usize>,
    /// Per-head width; defaults to `hidden_size / num_attention_heads`.
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// RMSNorm epsilon; transformers' default is 1e-6.
    #[serde(default)]
    pub rms_norm_eps: Option<f64>,
    /// RoPE base, at the top level (transformers 4).
    #[serde(default)]
    pub rope_theta: Option<f64>,
    /// RoPE parameters (transformers 5).
    #[serde(default)]
    pub rope_parameters: Option<HfRopeParameters>,
    /// RoPE scaling (transformers 4).
    #[serde(default)]
    pub rope_scaling: Option<HfRopeParameters>,
    /// Vocabulary size (rows of `embed_tokens`).
    #[serde(default)]
    pub vocab_size: Option<usize>,
    /// Longest context the model was trained for.
    #[serde(default)]
    pub max_position_embeddings: Option<usize>,
    /// Whether `lm_head` shares `embed_tokens`' weight.
    #[serde(default)]
    pub tie_word_embeddings: Option<bool>,
    /// Llama: bias on q/k/v/o projections.
    #[serde(default)]
    pub attention_bias: Option<bool>,
    /// Llama: bias on gate/up/down projections.
    #[serde(default)]
    pub mlp_bias: Option<bool>,
    /// Must be `silu`.
    #[serde(default)]
    pub hidden_act: Option<String>,
    /// Beginning-of-sequence id(s).
    #[serde(default)]
    pub bos_token_id: Option<TokenIds>,
    /// End-of-sequence id(s).
    #[serde(default)]
    pub eos_token_id: Option<TokenIds>,
    /// Padding id.
    #[serde(default)]
    pub pad_token_id: Option<TokenIds>,
    /// Every other key, kept so a saved model keeps it.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
    /// Where this config came from, for error messages (not part of the JSON).
    #[serde(skip)]
    pub origin: String,
}

/// Which model family: they differ only in where biases sit and in defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// Llama 2/3, TinyLlama, SmolLM2.
    Llama,
    /// Mistral (Llama geometry, no biases).
    Mistral,
    /// Qwen2 / Qwen2.5: q/k/v projections carry a bias.
    Qwen2,
}

impl Architecture {
    /// `model_type` as transformers writes it.
    pub fn model_type(self) -> &'static str {
        match self {
            Architecture::Llama => "llama",
            Architecture::Mistral => "mistral",
            Architecture::Qwen2 => "qwen2",
        }
    }

    /// The `architectures` entry transformers writes.
    pub fn class_name(self) -> &'static str {
        match self {
            Architecture::Llama => "LlamaForCausalLM",
            Architecture::Mistral => "MistralForCausalLM",
            Architecture::Qwen2 => "Qwen2ForCausalLM",
        }
    }

    fn from_model_type(s: &str) -> Option<Self> {
        match s {
            "llama" => Some(Architecture::Llama),
            "mistral" => Some(Architecture::Mistral),
            "qwen2" => Some(Architecture::Qwen2),
            _ => None,
        }
    }

    fn from_class_name(s: &str) -> Option<Self> {
        [
            Architecture::Llama,
            Architecture::Mistral,
            Architecture::Qwen2,
        ]
        .into_iter()
        .find(|a| a.class_name() == s)
    }
}

/// How RoPE frequencies are derived from the base.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum RopeScaling {
    /// `inv_freq[i] = theta^(-2i/head_dim)`.
    None,
    /// Llama 3.x: long wavelengths divided by `factor`, a smooth ramp in between.
    Llama3 {
        /// Divisor of low frequencies (8 for Llama 3.1).
        factor: f64,
        /// 1 for Llama 3.1.
        low_freq_factor: f64,
        /// 4 for Llama 3.1.
        high_freq_factor: f64,
        /// 8192 for Llama 3.1.
        original_max_position_embeddings: usize,
    },
}

/// A resolved, checked model geometry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Model family.
    pub architecture: Architecture,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads; divides `num_attention_heads`.
    pub num_key_value_heads: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Per-head width (even, for RoPE).
    pub head_dim: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// RoPE base.
    pub rope_theta: f64,
    /// RoPE frequency scaling.
    pub rope_scaling: RopeScaling,
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Longest context.
    pub max_position_embeddings: usize,
    /// What config.json says about tying; the loader trusts the checkpoint (`lm_head.weight`
    /// present or not) over this flag.
    pub tie_word_embeddings: bool,
    /// Bias on q/k/v projections (Qwen2: always; Llama: `attention_bias`).
    pub qkv_bias: bool,
    /// Bias on the output projection (Llama with `attention_bias`).
    pub o_bias: bool,
    /// Bias on the MLP projections (Llama `mlp_bias`).
    pub mlp_bias: bool,
    /// Beginning-of-sequence id.
    pub bos_token_id: Option<u32>,
    /// End-of-sequence ids (generation stops at any).
    pub eos_token_ids: Vec<u32>,
    /// Padding id.
    pub pad_token_id: Option<u32>,
    /// The keys of the original file we do not model, written back by [`ModelConfig::to_hf_json`].
    #[serde(default)]
    pub extra: Map<String, Value>,
}

impl HfConfig {
    /// Parses `config.json` bytes; `origin` (usually the path) is quoted in every error.
    pub fn from_json(bytes: &[u8], origin: &str) -> Result<Self, ConfigError> {
        let mut cfg: HfConfig =
            serde_json::from_slice(bytes).map_err(|source| ConfigError::Json {
                file: origin.to_string(),
                source,
            })?;
        cfg.origin = origin.to_string();
        Ok(cfg)
    }

    fn required(&self, value: Option<usize>, field: &'static str) -> Result<usize, ConfigError> {
        match value {
            Some(0) => Err(self.invalid(field, "must be positive".into())),
            Some(v) => Ok(v),
            None => Err(ConfigError::MissingField {
                file: self.origin.clone(),
                field,
            }),
        }
    }

    fn invalid(&self, field: &'static str, reason: String) -> ConfigError {
        ConfigError::InvalidField {
            file: self.origin.clone(),
            field,
            reason,
        }
    }

    fn architecture(&self) -> Result<Architecture, ConfigError> {
        if let Some(mt) = &self.model_type {
            return Architecture::from_model_type(mt).ok_or_else(|| {
                ConfigError::UnsupportedArchitecture {
                    file: self.origin.clone(),
                    field: "model_type",
                    value: mt.clone(),
                }
            });
        }
        match self.architectures.as_deref() {
            Some([first, ..]) => Architecture::from_class_name(first).ok_or_else(|| {
                ConfigError::UnsupportedArchitecture {
                    file: self.origin.clone(),
                    field: "architectures",
                    value: first.clone(),
                }
            }),
            _ => Err(ConfigError::MissingField {
                file: self.origin.clone(),
                field: "model_type",
            }),
        }
    }

    /// Where the RoPE parameters live: `rope_parameters` (transformers 5) wins over
    /// `rope_scaling` (transformers 4).
    fn rope_params(&self) -> Option<&HfRopeParameters> {
        self.rope_parameters.as_ref().or(self.rope_scaling.as_ref())
    }

    fn rope_theta(&self) -> Result<f64, ConfigError> {
        let theta = self
            .rope_theta
            .or_else(|| self.rope_params().and_then(|p| p.rope_theta))
            // transformers' LlamaConfig default.
            .unwrap_or(10_000.0);
        if !(theta.is_finite() && theta > 0.0) {
            return Err(self.invalid("rope_theta", format!("must be positive, got {theta}")));
        }
        Ok(theta)
    }

    fn rope_scaling(&self) -> Result<RopeScaling, ConfigError> {
        let Some(p) = self.rope_params() else {
            return Ok(RopeScaling::None);
        };
        match p.rope_type.as_deref().unwrap_or("default") {
            "default" => Ok(RopeScaling::None),
            "llama3" => {
                let get = |v: Option<f64>, name: &'static str| {
                    v.ok_or_else(|| {
                        self.invalid("rope_parameters", format!("llama3 needs `{name}`"))
                    })
                };
                let scaling = RopeScaling::Llama3 {
                    factor: get(p.factor, "factor")?,
                    low_freq_factor: get(p.low_freq_factor, "low_freq_factor")?,
                    high_freq_factor: get(p.high_freq_factor, "high_freq_factor")?,
                    original_max_position_embeddings: p
                        .original_max_position_embeddings
                        .ok_or_else(|| {
                            self.invalid(
                                "rope_parameters",
                                "llama3 needs `original_max_position_embeddings`".into(),
                            )
                        })?,
                };
                if let RopeScaling::Llama3 {
                    low_freq_factor,
                    high_freq_factor,
                    ..
                } = scaling
                    && high_freq_factor <= low_freq_factor
                {
                    return Err(self.invalid(
                        "rope_parameters",
                        "high_freq_factor must exceed low_freq_factor".into(),
                    ));
                }
                Ok(scaling)
            }
            other => Err(self.invalid(
                "rope_parameters",
                format!("rope_type `{other}` is not supported (supported: default, llama3)"),
            )),
        }
    }

    fn single_id(&self, ids: &Option<TokenIds>) -> Option<u32> {
        ids.as_ref().and_then(|t| t.to_vec().first().copied())
    }

    /// Checks the file and resolves every default as transformers does.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file and the field: a missing size, an unknown architecture,
    /// heads that do not divide, an odd head width, an unsupported RoPE type or activation.
    pub fn into_config(self) -> Result<ModelConfig, ConfigError> {
        let architecture = self.architecture()?;
        let hidden_size = self.required(self.hidden_size, "hidden_size")?;
        let intermediate_size = self.required(self.intermediate_size, "intermediate_size")?;
        let num_attention_heads = self.required(self.num_attention_heads, "num_attention_heads")?;
        let num_hidden_layers = self.required(self.num_hidden_layers, "num_hidden_layers")?;
        let vocab_size = self.required(self.vocab_size, "vocab_size")?;
        let num_key_value_heads = self.required(
            Some(self.num_key_value_heads.unwrap_or(num_attention_heads)),
            "num_key_value_heads",
        )?;
        if num_attention_heads % num_key_value_heads != 0 {
            return Err(self.invalid(
                "num_key_value_heads",
                format!(
                    "{num_key_value_heads} does not divide num_attention_heads ({num_attention_heads})"
                ),
            ));
        }
        let head_dim = match self.head_dim {
            Some(d) => self.required(Some(d), "head_dim")?,
            None if hidden_size % num_attention_heads == 0 => hidden_size / num_attention_heads,
            None => {
                return Err(self.invalid(
                    "num_attention_heads",
                    format!("{num_attention_heads} does not divide hidden_size ({hidden_size}) and no head_dim is given"),
                ));
            }
        };
        if head_dim % 2 != 0 {
            return Err(self.invalid("head_dim", format!("{head_dim} is odd; RoPE needs pairs")));
        }
        if let Some(act) = &self.hidden_act
            && act != "silu"
        {
            return Err(self.invalid(
                "hidden_act",
                format!("`{act}` is not supported (only silu)"),
            ));
        }
        let rms_norm_eps = self.rms_norm_eps.unwrap_or(1e-6);
        if !(rms_norm_eps.is_finite() && rms_norm_eps >= 0.0) {
            return Err(self.invalid(
                "rms_norm_eps",
                format!("{rms_norm_eps} is not a valid epsilon"),
            ));
        }
        let attention_bias = self.attention_bias.unwrap_or(false);
        let (qkv_bias, o_bias, mlp_bias) = match architecture {
            Architecture::Llama => (
                attention_bias,
                attention_bias,
                self.mlp_bias.unwrap_or(false),
            ),
            Architecture::Mistral => (false, false, false),
            Architecture::Qwen2 => (true, false, false),
        };
        Ok(ModelConfig {
            architecture,
            hidden_size,
            intermediate_size,
            num_attention_heads,
            num_key_value_heads,
            num_hidden_layers,
            head_dim,
            rms_norm_eps,
            rope_theta: self.rope_theta()?,
            rope_scaling: self.rope_scaling()?,
            vocab_size,
            max_position_embeddings: self.max_position_embeddings.unwrap_or(2048),
            tie_word_embeddings: self.tie_word_embeddings.unwrap_or(false),
            qkv_bias,
            o_bias,
            mlp_bias,
            bos_token_id: self.single_id(&self.bos_token_id),
            eos_token_ids: self
                .eos_token_id
                .as_ref()
                .map(TokenIds::to_vec)
                .unwrap_or_default(),
            pad_token_id: self.single_id(&self.pad_token_id),
            extra: self.extra,
        })
    }
}

impl ModelConfig {
    /// Parses and resolves `config.json` bytes in one step.
    pub fn from_json(bytes: &[u8], origin: &str) -> Result<Self, ConfigError> {
        HfConfig::from_json(bytes, origin)?.into_config()
    }

    /// Query heads sharing one key/value head.
    pub fn kv_groups(&self) -> usize {
        self.num_attention_heads / self.num_key_value_heads
    }

    /// RoPE inverse frequencies, `head_dim / 2` of them, as transformers computes them (in f32
    /// from an f32 exponent, then the Llama 3 adjustment if any).
    pub fn rope_inv_freq(&self) -> Vec<f32> {
        let dim = self.head_dim as f32;
        let base = self.rope_theta as f32;
        let inv: Vec<f32> = (0..self.head_dim / 2)
            .map(|i| 1.0 / base.powf((2 * i) as f32 / dim))
            .collect();
        match self.rope_scaling {
            RopeScaling::None => inv,
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => {
                let old = original_max_position_embeddings as f64;
                let low_wavelen = old / low_freq_factor;
                let high_wavelen = old / high_freq_factor;
                inv.into_iter()
                    .map(|f| {
                        let f = f as f64;
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        let scaled = if wavelen > low_wavelen { f / factor } else { f };
                        if wavelen < high_wavelen || wavelen > low_wavelen {
                            scaled as f32
                        } else {
                            let smooth = (old / wavelen - low_freq_factor)
                                / (high_freq_factor - low_freq_factor);
                            ((1.0 - smooth) * scaled / factor + smooth * scaled) as f32
                        }
                    })
                    .collect()
            }
        }
    }

    /// The `config.json` to write next to saved weights: the original's keys, with the
    /// geometry we resolved written over them.
    pub fn to_hf_json(&self, tie_word_embeddings: bool) -> Value {
        let mut out = self.extra.clone();
        let mut set = |k: &str, v: Value| {
            out.insert(k.to_string(), v);
        };
        set(
            "architectures",
            Value::from(vec![self.architecture.class_name()]),
        );
        set("model_type", self.architecture.model_type().into());
        set("hidden_size", self.hidden_size.into());
        set("intermediate_size", self.intermediate_size.into());
        set("num_attention_heads", self.num_attention_heads.into());
        set("num_key_value_heads", self.num_key_value_heads.into());
        set("num_hidden_layers", self.num_hidden_layers.into());
        set("head_dim", self.head_dim.into());
        set("rms_norm_eps", self.rms_norm_eps.into());
        set("vocab_size", self.vocab_size.into());
        set(
            "max_position_embeddings",
            self.max_position_embeddings.into(),
        );
        set("tie_word_embeddings", tie_word_embeddings.into());
        set("hidden_act", "silu".into());
        if self.architecture == Architecture::Llama {
            set("attention_bias", self.qkv_bias.into());
            set("mlp_bias", self.mlp_bias.into());
        }
        // Written in both places so transformers 4 and 5 read the same base.
        set("rope_theta", self.rope_theta.into());
        let mut rope = Map::new();
        rope.insert("rope_theta".into(), self.rope_theta.into());
        match self.rope_scaling {
            RopeScaling::None => {
                rope.insert("rope_type".into(), "default".into());
            }
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => {
                rope.insert("rope_type".into(), "llama3".into());
                rope.insert("factor".into(), factor.into());
                rope.insert("low_freq_factor".into(), low_freq_factor.into());
                rope.insert("high_freq_factor".into(), high_freq_factor.into());
                rope.insert(
                    "original_max_position_embeddings".into(),
                    original_max_position_embeddings.into(),
                );
                set("rope_scaling", Value::Object(rope.clone()));
            }
        }
        set("rope_parameters", Value::Object(rope));
        if let Some(id) = self.bos_token_id {
            set("bos_token_id", id.into());
        }
        match self.eos_token_ids.as_slice() {
            [] => {}
            [one] => set("eos_token_id", (*one).into()),
            many => set("eos_token_id", Value::from(many.to_vec())),
        }
        if let Some(id) = self.pad_token_id {
            set("pad_token_id", id.into());
        }
        set("torch_dtype", "float32".into());
        set("dtype", "float32".into());
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMOLLM2: &str = r#"{
      "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576,
      "intermediate_size": 1536, "num_attention_heads": 9, "num_key_value_heads": 3,
      "num_hidden_layers": 30, "rms_norm_eps": 1e-05, "rope_theta": 100000, "vocab_size": 49152,
      "max_position_embeddings": 8192, "tie_word_embeddings": true, "bos_token_id": 1,
      "eos_token_id": 2, "hidden_act": "silu", "torch_dtype": "bfloat16"
    }"#;

    #[test]
    fn smollm2_config_resolves_with_gqa_and_head_dim() {
        let cfg = ModelConfig::from_json(SMOLLM2.as_bytes(), "config.json").unwrap();
        assert_eq!(cfg.architecture, Architecture::Llama);
        assert_eq!(cfg.head_dim, 64);
        assert_eq!(cfg.kv_groups(), 3);
        assert_eq!(cfg.rope_theta, 100000.0);
        assert_eq!(cfg.eos_token_ids, vec![2]);
        assert!(!cfg.qkv_bias);
        assert_eq!(cfg.extra.get("torch_dtype"), Some(&Value::from("bfloat16")));
    }

    #[test]
    fn transformers5_rope_parameters_carry_the_theta() {
        let json = r#"{"model_type":"qwen2","hidden_size":64,"intermediate_size":128,
            "num_attention_heads":4,"num_key_value_heads":2,"num_hidden_layers":2,"vocab_size":300,
            "rope_parameters":{"rope_theta":1000000.0,"rope_type":"default"},"eos_token_id":[5,6]}"#;
        let cfg = ModelConfig::from_json(json.as_bytes(), "q/config.json").unwrap();
        assert_eq!(cfg.rope_theta, 1_000_000.0);
        assert!(cfg.qkv_bias && !cfg.o_bias);
        assert_eq!(cfg.eos_token_ids, vec![5, 6]);
    }

    #[test]
    fn unknown_model_type_names_file_and_field() {
        let json = r#"{"model_type":"gpt2","hidden_size":64}"#;
        let err = ModelConfig::from_json(json.as_bytes(), "m/config.json").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(
            err,
            ConfigError::UnsupportedArchitecture {
                field: "model_type",
                ..
            }
        ));
        assert!(
            msg.contains("m/config.json") && msg.contains("gpt2"),
            "{msg}"
        );
    }

    #[test]
    fn missing_size_is_named() {
        let json = r#"{"model_type":"llama","hidden_size":64,"num_attention_heads":4,
            "num_hidden_layers":2,"vocab_size":10}"#;
        let err = ModelConfig::from_json(json.as_bytes(), "c.json").unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::MissingField {
                    field: "intermediate_size",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn kv_heads_must_divide_query_heads() {
        let json = r#"{"model_type":"llama","hidden_size":64,"intermediate_size":9,
            "num_attention_heads":4,"num_key_value_heads":3,"num_hidden_layers":2,"vocab_size":10}"#;
        let err = ModelConfig::from_json(json.as_bytes(), "c.json").unwrap_err();
        assert!(
            matches!(
                err,
                ConfigError::InvalidField {
                    field: "num_key_value_heads",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn wrong_json_type_is_a_json_error_with_the_file() {
        let err = ModelConfig::from_json(br#"{"hidden_size":"big"}"#, "c.json").unwrap_err();
        assert!(matches!(err, ConfigError::Json { .. }));
        assert!(err.to_string().starts_with("c.json"));
    }

    #[test]
    fn unsupported_rope_type_is_refused() {
        let json = r#"{"model_type":"llama","hidden_size":64,"intermediate_size":9,
            "num_attention_heads":4,"num_hidden_layers":2,"vocab_size":10,
            "rope_scaling":{"type":"yarn","factor":4.0}}"#;
        let err = ModelConfig::from_json(json.as_bytes(), "c.json").unwrap_err();
        assert!(err.to_string().contains("yarn"), "{err}");
    }

    #[test]
    fn llama3_scaling_divides_only_long_wavelengths() {
        let json = r#"{"model_type":"llama","hidden_size":2048,"intermediate_size":8192,
            "num_attention_heads":32,"num_key_value_heads":8,"num_hidden_layers":16,"vocab_size":128256,
            "rope_theta":500000.0,"rope_scaling":{"factor":32.0,"high_freq_factor":4.0,
            "low_freq_factor":1.0,"original_max_position_embeddings":8192,"rope_type":"llama3"}}"#;
        let cfg = ModelConfig::from_json(json.as_bytes(), "c.json").unwrap();
        let plain = ModelConfig {
            rope_scaling: RopeScaling::None,
            ..cfg.clone()
        };
        let (scaled, base) = (cfg.rope_inv_freq(), plain.rope_inv_freq());
        assert_eq!(scaled[0], base[0], "the highest frequency is untouched");
        let last = base.len() - 1;
        assert!(
            (scaled[last] - base[last] / 32.0).abs() < 1e-12,
            "the lowest is divided by factor"
        );
    }

    #[test]
    fn written_config_reads_back_to_the_same_geometry() {
        let cfg = ModelConfig::from_json(SMOLLM2.as_bytes(), "config.json").unwrap();
        let json = serde_json::to_vec(&cfg.to_hf_json(true)).unwrap();
        let back = ModelConfig::from_json(&json, "saved").unwrap();
        assert_eq!(back.hidden_size, cfg.hidden_size);
        assert_eq!(back.head_dim, cfg.head_dim);
        assert_eq!(back.rope_theta, cfg.rope_theta);
        assert_eq!(back.eos_token_ids, cfg.eos_token_ids);
        assert!(back.tie_word_embeddings);
    }
}
