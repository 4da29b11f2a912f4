//! Parameter-efficient fine-tuning: LoRA, rsLoRA, DoRA and QLoRA (NF4 base) on our own
//! [`Linear`], with adapters saved and loaded in PEFT's format.
//!
//! We do not use burn's `apply_lora`: it composes a dense `W + s·A·B` on every forward, has no
//! dropout on the adapter input, no rsLoRA switch, no DoRA and no NF4 (see notes/stack.md).
//!
//! - [`LoraConfig`]: the hyper-parameters, named as in PEFT's `LoraConfig`.
//! - [`AdapterSpec`]: which adapters a model gets when it is loaded (new ones, PEFT
//!   directories, several with weights) and whether the base is quantised to NF4.
//! - [`linear`]: the layer; [`nf4`]: 4-bit NormalFloat; [`peft`]: `adapter_config.json` and
//!   `adapter_model.safetensors`.

pub mod attach;
pub mod linear;
pub mod nf4;
pub mod peft;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use attach::{AdapterParam, AdapterTensor};
pub use linear::{BaseWeight, Linear, LoraAdapter};
pub use nf4::{Nf4Error, Nf4Quantized, Nf4Weight};

/// Every projection name of the Llama/Qwen2 blocks, in checkpoint order.
pub const LINEAR_MODULES: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

/// Which linear layers get adapters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetModules {
    /// PEFT's `"all-linear"`: every linear layer of the blocks (not `lm_head`).
    AllLinear,
    /// Module names; a layer matches when its path equals a name or ends with `.name`
    /// (PEFT's rule), so `q_proj` and `self_attn.q_proj` both work.
    Names(Vec<String>),
}

impl TargetModules {
    /// Whether the layer at `path` (e.g. `model.layers.0.self_attn.q_proj`) is targeted.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            TargetModules::AllLinear => !path.ends_with("lm_head"),
            TargetModules::Names(names) => names.iter().any(|n| {
                path == n
                    || path
                        .strip_suffix(n.as_str())
                        .is_some_and(|p| p.ends_with('.'))
            }),
        }
    }

    /// The list PEFT writes in `adapter_config.json`: the names of the matched layers' last
    /// segments (PEFT expands `all-linear` the same way before saving).
    pub fn resolved_names<'a>(&self, paths: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut names: Vec<String> = paths
            .into_iter()
            .filter(|p| self.matches(p))
            .map(|p| p.rsplit('.').next().unwrap_or(p).to_string())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

impl Serialize for TargetModules {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            TargetModules::AllLinear => s.serialize_str("all-linear"),
            TargetModules::Names(names) => names.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for TargetModules {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(String),
            Many(Vec<String>),
        }
        Ok(match Raw::deserialize(d)? {
            Raw::One(s) if s == "all-linear" => TargetModules::AllLinear,
            Raw::One(s) => TargetModules::Names(vec![s]),
            Raw::Many(v) => TargetModules::Names(v),
        })
    }
}

/// LoRA hyper-parameters; field names and meanings are PEFT's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraConfig {
    /// Rank.
    pub r: usize,
    /// Scale numerator: the update is scaled by `lora_alpha / r` (or `/ sqrt(r)`).
    pub lora_alpha: f64,
    /// Dropout probability on the adapter's input.
    pub lora_dropout: f64,
    /// Layers that get the adapter.
    pub target_modules: TargetModules,
    /// rsLoRA: scale by `lora_alpha / sqrt(r)`.
    pub use_rslora: bool,
    /// DoRA: learn a per-output-row magnitude too.
    pub use_dora: bool,
}

impl Default for LoraConfig {
    /// PEFT's defaults (r 8, alpha 8, no dropout) on every linear layer.
    fn default() -> Self {
        LoraConfig {
            r: 8,
            lora_alpha: 8.0,
            lora_dropout: 0.0,
            target_modules: TargetModules::AllLinear,
            use_rslora: false,
            use_dora: false,
        }
    }
}

/// A [`LoraConfig`] that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LoraConfigError {
    /// `r` is 0.
    #[error("LoRA rank `r` must be at least 1")]
    ZeroRank,
    /// Dropout outside [0, 1).
    #[error("lora_dropout must be in [0, 1), got {0}")]
    Dropout(f64),
    /// Alpha not a finite number.
    #[error("lora_alpha must be finite, got {0}")]
    Alpha(f64),
}

impl LoraConfig {
    /// The factor applied to `B·A·x`: `alpha / r`, or `alpha / sqrt(r)` with rsLoRA.
    pub fn scaling(&self) -> f64 {
        if self.use_rslora {
            self.lora_alpha / (self.r as f64).sqrt()
        } else {
            self.lora_alpha / self.r as f64
        }
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<(), LoraConfigError> {
        if self.r == 0 {
            return Err(LoraConfigError::ZeroRank);
        }
        if !(0.0..1.0).contains(&self.lora_dropout) {
            return Err(LoraConfigError::Dropout(self.lora_dropout));
        }
        if !self.lora_alpha.is_finite() {
            return Err(LoraConfigError::Alpha(self.lora_alpha));
        }
        Ok(())
    }
}

/// Where an adapter's weights come from.
#[derive(Debug, Clone, PartialEq)]
pub enum AdapterSource {
    /// A new adapter, initialised as PEFT does (A Kaiming-uniform from `seed`, B zero).
    New {
        /// Hyper-parameters.
        config: LoraConfig,
        /// Seed of A's initialisation (each layer mixes in its path).
        seed: u64,
    },
    /// A PEFT adapter directory (`adapter_config.json` + `adapter_model.safetensors`).
    Peft(PathBuf),
}

/// One adapter to attach.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterEntry {
    /// The adapter's name (PEFT's adapter name; `default` for a single one).
    pub name: String,
    /// New or loaded.
    pub source: AdapterSource,
    /// Its weight when several adapters are combined (their outputs are summed, each times
    /// its weight).
    pub weight: f64,
}

/// What to do to a base model when loading it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AdapterSpec {
    /// Adapters, applied in order and summed.
    pub adapters: Vec<AdapterEntry>,
    /// QLoRA: store every linear layer of the blocks in NF4 (`lm_head` stays dense, as
    /// bitsandbytes leaves it).
    pub quantize_base: bool,
}

impl AdapterSpec {
    /// No adapters: the frozen base model (inference, merging, the reference model).
    pub fn none() -> Self {
        Self::default()
    }

    /// One new adapter called `default`.
    pub fn lora(config: LoraConfig, seed: u64) -> Self {
        AdapterSpec {
            adapters: vec![AdapterEntry {
                name: "default".into(),
                source: AdapterSource::New { config, seed },
                weight: 1.0,
            }],
            quantize_base: false,
        }
    }

    /// One adapter called `default`, read from a PEFT directory.
    pub fn peft(dir: impl Into<PathBuf>) -> Self {
        AdapterSpec {
            adapters: vec![AdapterEntry {
                name: "default".into(),
                source: AdapterSource::Peft(dir.into()),
                weight: 1.0,
            }],
            quantize_base: false,
        }
    }

    /// The same spec with the base quantised to NF4 (QLoRA).
    pub fn with_nf4_base(mut self) -> Self {
        self.quantize_base = true;
        self
    }
}

/// A deterministic per-layer seed: the adapter seed mixed with the layer's path (FNV-1a), so
/// layers differ and the result does not depend on load order or backend.
pub fn layer_seed(seed: u64, path: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in path.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peft_suffix_rule_matches_whole_segments_only() {
        let t = TargetModules::Names(vec!["q_proj".into(), "mlp.up_proj".into()]);
        assert!(t.matches("model.layers.0.self_attn.q_proj"));
        assert!(t.matches("model.layers.3.mlp.up_proj"));
        assert!(!t.matches("model.layers.0.self_attn.xq_proj"));
        assert!(!t.matches("model.layers.0.mlp.gate_proj"));
        assert!(TargetModules::AllLinear.matches("model.layers.0.mlp.down_proj"));
        assert!(!TargetModules::AllLinear.matches("lm_head"));
    }

    #[test]
    fn target_modules_read_both_json_forms() {
        let all: TargetModules = serde_json::from_str(r#""all-linear""#).unwrap();
        assert_eq!(all, TargetModules::AllLinear);
        let list: TargetModules = serde_json::from_str(r#"["v_proj","q_proj"]"#).unwrap();
        assert_eq!(
            list,
            TargetModules::Names(vec!["v_proj".into(), "q_proj".into()])
        );
        assert_eq!(serde_json::to_string(&all).unwrap(), r#""all-linear""#);
    }

    #[test]
    fn rslora_scales_by_the_square_root_of_the_rank() {
        let mut c = LoraConfig {
            r: 16,
            lora_alpha: 32.0,
            ..LoraConfig::default()
        };
        assert_eq!(c.scaling(), 2.0);
        c.use_rslora = true;
        assert_eq!(c.scaling(), 8.0);
    }

    #[test]
    fn invalid_configs_are_refused() {
        let zero = LoraConfig {
            r: 0,
            ..LoraConfig::default()
        };
        assert_eq!(zero.validate(), Err(LoraConfigError::ZeroRank));
        let drop = LoraConfig {
            lora_dropout: 1.0,
            ..LoraConfig::default()
        };
        assert!(drop.validate().is_err());
    }

    #[test]
    fn layer_seeds_differ_by_path_and_seed() {
        assert_ne!(layer_seed(1, "a.q_proj"), layer_seed(1, "a.k_proj"));
        assert_ne!(layer_seed(1, "a.q_proj"), layer_seed(2, "a.q_proj"));
        assert_eq!(layer_seed(7, "x"), layer_seed(7, "x"));
    }
}
