//! The training configuration, as plain serde data.
//!
//! It lives here, not in the trainer, because three parties read it: the studio (which has no
//! burn in its graph) fills it in, the bundle carries it fully resolved, and the trainer runs it.
//! Defaults follow TRL/PEFT where they are sensible for LoRA runs, and the SimPO paper for SimPO
//! (TRL's CPO defaults, beta 0.1, are far from what the paper found to work).

use serde::{Deserialize, Serialize};

use crate::record::Kind;

/// The training objective and its parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Objective {
    /// Supervised fine-tuning: mean cross-entropy over trained tokens.
    Sft,
    /// Direct Preference Optimisation (TRL `DPOTrainer`).
    Dpo {
        #[serde(default = "defaults::dpo_beta")]
        beta: f64,
        #[serde(default)]
        loss_type: DpoLoss,
        #[serde(default)]
        label_smoothing: f64,
    },
    /// SimPO (TRL `CPOTrainer` with `loss_type="simpo"`): no reference model.
    Simpo {
        #[serde(default = "defaults::simpo_beta")]
        beta: f64,
        #[serde(default = "defaults::simpo_gamma")]
        gamma: f64,
    },
    /// Kahneman-Tversky Optimisation (TRL `KTOTrainer`).
    Kto {
        #[serde(default = "defaults::dpo_beta")]
        beta: f64,
        #[serde(default = "defaults::one")]
        desirable_weight: f64,
        #[serde(default = "defaults::one")]
        undesirable_weight: f64,
    },
    /// Odds Ratio Preference Optimisation (TRL `ORPOTrainer`; `beta` is the paper's lambda).
    Orpo {
        #[serde(default = "defaults::dpo_beta")]
        beta: f64,
    },
}

/// DPO loss variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DpoLoss {
    #[default]
    Sigmoid,
    Ipo,
    Hinge,
}

/// The method names the CLI and the studio offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Sft,
    Dpo,
    Simpo,
    Kto,
    Orpo,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::Sft,
        Method::Dpo,
        Method::Simpo,
        Method::Kto,
        Method::Orpo,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Sft => "sft",
            Method::Dpo => "dpo",
            Method::Simpo => "simpo",
            Method::Kto => "kto",
            Method::Orpo => "orpo",
        }
    }

    /// The record kind the method trains on.
    pub fn kind(self) -> Kind {
        match self {
            Method::Sft => Kind::Sft,
            Method::Dpo | Method::Simpo | Method::Orpo => Kind::Preference,
            Method::Kto => Kind::Feedback,
        }
    }

    /// The objective with its default parameters.
    pub fn default_objective(self) -> Objective {
        match self {
            Method::Sft => Objective::Sft,
            Method::Dpo => Objective::Dpo {
                beta: defaults::dpo_beta(),
                loss_type: DpoLoss::Sigmoid,
                label_smoothing: 0.0,
            },
            Method::Simpo => Objective::Simpo {
                beta: defaults::simpo_beta(),
                gamma: defaults::simpo_gamma(),
            },
            Method::Kto => Objective::Kto {
                beta: defaults::dpo_beta(),
                desirable_weight: 1.0,
                undesirable_weight: 1.0,
            },
            Method::Orpo => Objective::Orpo {
                beta: defaults::dpo_beta(),
            },
        }
    }

    /// A learning rate that works for LoRA runs of this method.
    pub fn default_lr(self) -> f64 {
        match self {
            Method::Sft | Method::Orpo => 2e-4,
            Method::Dpo | Method::Simpo | Method::Kto => 5e-5,
        }
    }
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!("unknown method `{s}`; expected one of sft, dpo, simpo, kto, orpo")
            })
    }
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Objective {
    pub fn method(&self) -> Method {
        match self {
            Objective::Sft => Method::Sft,
            Objective::Dpo { .. } => Method::Dpo,
            Objective::Simpo { .. } => Method::Simpo,
            Objective::Kto { .. } => Method::Kto,
            Objective::Orpo { .. } => Method::Orpo,
        }
    }
}

/// Which parameter-efficient adapter to train (or `None`: all weights).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AdapterKind {
    #[default]
    Lora,
    /// LoRA scaled by alpha/sqrt(r) instead of alpha/r.
    Rslora,
    /// Weight-decomposed LoRA (magnitude vector + direction).
    Dora,
    /// LoRA over a frozen NF4-quantised base.
    Qlora,
    /// Full fine-tuning.
    None,
}

impl AdapterKind {
    pub const ALL: [AdapterKind; 5] = [
        AdapterKind::Lora,
        AdapterKind::Rslora,
        AdapterKind::Dora,
        AdapterKind::Qlora,
        AdapterKind::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AdapterKind::Lora => "lora",
            AdapterKind::Rslora => "rslora",
            AdapterKind::Dora => "dora",
            AdapterKind::Qlora => "qlora",
            AdapterKind::None => "none",
        }
    }
}

impl std::str::FromStr for AdapterKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AdapterKind::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!("unknown adapter `{s}`; expected one of lora, rslora, dora, qlora, none")
            })
    }
}

/// Adapter hyper-parameters (PEFT `LoraConfig` names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterConfig {
    #[serde(default)]
    pub kind: AdapterKind,
    #[serde(default = "defaults::rank")]
    pub r: usize,
    #[serde(default = "defaults::alpha")]
    pub lora_alpha: f64,
    #[serde(default = "defaults::dropout")]
    pub lora_dropout: f64,
    /// Module names (`q_proj`, ...) or `all-linear`.
    #[serde(default = "defaults::target_modules")]
    pub target_modules: Vec<String>,
}

impl Default for AdapterConfig {
    fn default() -> Self {
        AdapterConfig {
            kind: AdapterKind::Lora,
            r: defaults::rank(),
            lora_alpha: defaults::alpha(),
            lora_dropout: defaults::dropout(),
            target_modules: defaults::target_modules(),
        }
    }
}

/// Learning-rate schedule after warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    #[default]
    Cosine,
    Linear,
    Constant,
}

/// Everything a training run needs besides the data and the model weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// The base model: a Hugging Face id or a directory; informative in a bundle.
    #[serde(default)]
    pub model: Option<String>,
    #[serde(flatten)]
    pub objective: Objective,
    #[serde(default)]
    pub adapter: AdapterConfig,
    /// Optimiser steps; when absent, `epochs` decides.
    #[serde(default)]
    pub steps: Option<usize>,
    #[serde(default = "defaults::one")]
    pub epochs: f64,
    pub learning_rate: f64,
    /// Records per micro-batch.
    #[serde(default = "defaults::batch")]
    pub batch_size: usize,
    #[serde(default = "defaults::one_usize")]
    pub gradient_accumulation_steps: usize,
    #[serde(default = "defaults::max_len")]
    pub max_length: usize,
    #[serde(default = "defaults::warmup_ratio")]
    pub warmup_ratio: f64,
    #[serde(default)]
    pub lr_scheduler: Schedule,
    #[serde(default)]
    pub weight_decay: f64,
    /// Global-norm gradient clipping, as PyTorch's `clip_grad_norm_` (0 disables).
    #[serde(default = "defaults::one")]
    pub max_grad_norm: f64,
    #[serde(default = "defaults::seed")]
    pub seed: u64,
    /// Log every N optimiser steps.
    #[serde(default = "defaults::one_usize")]
    pub logging_steps: usize,
    /// Evaluate every N steps (0: only at the end).
    #[serde(default)]
    pub eval_steps: usize,
    /// Save a checkpoint every N steps (0: only at the end).
    #[serde(default)]
    pub save_steps: usize,
    #[serde(default)]
    pub gradient_checkpointing: bool,
}

impl TrainConfig {
    /// The defaults for a method.
    pub fn for_method(method: Method) -> Self {
        TrainConfig {
            model: None,
            objective: method.default_objective(),
            adapter: AdapterConfig::default(),
            steps: None,
            epochs: 1.0,
            learning_rate: method.default_lr(),
            batch_size: defaults::batch(),
            gradient_accumulation_steps: 1,
            max_length: defaults::max_len(),
            warmup_ratio: defaults::warmup_ratio(),
            lr_scheduler: Schedule::Cosine,
            weight_decay: 0.0,
            max_grad_norm: 1.0,
            seed: defaults::seed(),
            logging_steps: 1,
            eval_steps: 0,
            save_steps: 0,
            gradient_checkpointing: false,
        }
    }

    pub fn method(&self) -> Method {
        self.objective.method()
    }

    /// Checks that are independent of data and model; messages name the field.
    pub fn check(&self) -> Result<(), String> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("`{name}` must be > 0 (got {v})"))
            }
        };
        positive("learning_rate", self.learning_rate)?;
        positive("epochs", self.epochs)?;
        if self.batch_size == 0 {
            return Err("`batch_size` must be at least 1".into());
        }
        if self.gradient_accumulation_steps == 0 {
            return Err("`gradient_accumulation_steps` must be at least 1".into());
        }
        if self.max_length < 2 {
            return Err("`max_length` must be at least 2 tokens".into());
        }
        if self.adapter.kind != AdapterKind::None && self.adapter.r == 0 {
            return Err("`adapter.r` (LoRA rank) must be at least 1".into());
        }
        if !(0.0..1.0).contains(&self.adapter.lora_dropout) {
            return Err("`adapter.lora_dropout` must be in [0, 1)".into());
        }
        if !(0.0..=1.0).contains(&self.warmup_ratio) {
            return Err("`warmup_ratio` must be in [0, 1]".into());
        }
        if self.method() == Method::Kto && self.batch_size < 2 {
            return Err(
                "KTO needs `batch_size` >= 2: its KL estimate pairs each completion with \
                        another record's prompt in the same micro-batch (at 1 it is undefined)"
                    .into(),
            );
        }
        Ok(())
    }
}

mod defaults {
    pub fn dpo_beta() -> f64 {
        0.1
    }
    pub fn simpo_beta() -> f64 {
        2.0
    }
    pub fn simpo_gamma() -> f64 {
        // gamma / beta = 0.5, the paper's recommendation.
        1.0
    }
    pub fn one() -> f64 {
        1.0
    }
    pub fn one_usize() -> usize {
        1
    }
    pub fn rank() -> usize {
        16
    }
    pub fn alpha() -> f64 {
        32.0
    }
    pub fn dropout() -> f64 {
        0.05
    }
    pub fn target_modules() -> Vec<String> {
        vec!["all-linear".to_string()]
    }
    pub fn batch() -> usize {
        4
    }
    pub fn max_len() -> usize {
        1024
    }
    pub fn warmup_ratio() -> f64 {
        0.03
    }
    pub fn seed() -> u64 {
        42
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_defaults_round_trip_through_json() {
        for m in Method::ALL {
            let cfg = TrainConfig::for_method(m);
            let json = serde_json::to_string(&cfg).unwrap();
            let back: TrainConfig = serde_json::from_str(&json).unwrap();
            assert_eq!(back, cfg);
            assert_eq!(back.method(), m);
            assert!(cfg.check().is_ok(), "{m}: {:?}", cfg.check());
        }
    }

    #[test]
    fn simpo_defaults_follow_the_paper() {
        let Objective::Simpo { beta, gamma } = Method::Simpo.default_objective() else {
            panic!()
        };
        assert_eq!((beta, gamma / beta), (2.0, 0.5));
    }

    #[test]
    fn missing_method_parameters_take_defaults() {
        let cfg: TrainConfig =
            serde_json::from_str(r#"{"method": "dpo", "learning_rate": 1e-5}"#).unwrap();
        assert_eq!(
            cfg.objective,
            Objective::Dpo {
                beta: 0.1,
                loss_type: DpoLoss::Sigmoid,
                label_smoothing: 0.0
            }
        );
        assert_eq!(cfg.adapter, AdapterConfig::default());
    }

    #[test]
    fn kto_at_batch_one_is_refused_with_a_reason() {
        let mut cfg = TrainConfig::for_method(Method::Kto);
        cfg.batch_size = 1;
        assert!(cfg.check().unwrap_err().contains("batch_size"));
    }
}
