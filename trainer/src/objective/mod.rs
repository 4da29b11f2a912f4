//! Training objectives: the losses and the metrics TRL logs for them.
//!
//! One file per objective, each a set of free functions over burn tensors:
//! - [`logprobs`]: per-token log-probabilities of the labels (the shared first step), with the
//!   host-side [`LabelBatch`] that validates labels before they reach a tensor;
//! - [`sft`]: masked mean cross-entropy;
//! - [`dpo`]: DPO with the sigmoid (and conservative, label-smoothed), IPO and hinge losses;
//! - [`simpo`]: SimPO, as TRL's `CPOTrainer` computes it with `loss_type="simpo"`;
//! - [`kto`]: KTO with the KL estimate from mismatched pairs;
//! - [`orpo`]: ORPO, NLL plus the odds-ratio term.
//!
//! Formulas, reductions and metric names follow TRL 1.16 (`DPOTrainer`, `KTOTrainer`, and the
//! experimental `CPOTrainer`/`ORPOTrainer`); `tests/golden/objectives.py` runs TRL's own loss code
//! on fixed inputs and `trainer/tests/engine/golden_objectives.rs` checks every loss, metric and
//! gradient here against it. Where ajuste departs from TRL the function's docs say so.
//!
//! Every objective returns an [`Objective`]: the loss tensor to call `backward` on, and its
//! metrics as detached tensors ([`MetricTensors`]). Reading them is the training loop's job: in
//! the browser a tensor can only be read asynchronously, so [`MetricTensors::read`] is async and
//! [`MetricTensors::read_blocking`] exists only natively.
//!
//! Preference batches (DPO, SimPO, ORPO) hold `2B` rows: the `B` chosen sequences first, then
//! the `B` rejected ones in the same order, as TRL concatenates them.

pub mod dpo;
pub mod kto;
pub mod logprobs;
mod metrics;
pub mod orpo;
mod reference;
pub mod sft;
pub mod simpo;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};
use thiserror::Error;

pub use ajuste_shared::config::Method;
pub use dpo::{DpoConfig, DpoLossType};
pub use kto::KtoConfig;
pub use logprobs::{LabelBatch, PairLogps, TokenLogps, output_logps, token_logps};
pub use metrics::{LossTerm, MetricTensors, Metrics, Objective};
pub use orpo::OrpoConfig;
pub use reference::{RefLogpCache, SequenceKey};
pub use simpo::SimpoConfig;

/// What can go wrong computing an objective. Every variant is a problem with the batch or the
/// configuration handed in, never a reason to panic.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum ObjectiveError {
    /// A batch with no rows.
    #[error("the batch is empty")]
    EmptyBatch,
    /// Label rows of different lengths.
    #[error(
        "label row {row} has {len} positions, but row 0 has {expected}: rows must be padded to one length"
    )]
    RaggedLabels {
        /// The offending row.
        row: usize,
        /// Its length.
        len: usize,
        /// The length of row 0.
        expected: usize,
    },
    /// Sequences too short to predict anything (logits at t predict the label at t + 1).
    #[error("sequences have {len} positions; at least 2 are needed to predict a next token")]
    SequenceTooShort {
        /// The sequence length.
        len: usize,
    },
    /// A label that is neither a token id nor -100.
    #[error(
        "label at row {row}, position {position} is {label}: expected -100 or a token id below {vocab}"
    )]
    LabelOutOfRange {
        /// Row of the label.
        row: usize,
        /// Position in the row.
        position: usize,
        /// The label value.
        label: i64,
        /// The vocabulary size (labels must be below it); `i64::MAX` when it is not known yet.
        vocab: i64,
    },
    /// Tensor shapes that do not fit together.
    #[error("{what}: expected shape {expected}, found {found}")]
    ShapeMismatch {
        /// Which argument.
        what: &'static str,
        /// The shape the other arguments imply.
        expected: String,
        /// The shape given.
        found: String,
    },
    /// A preference batch with an odd number of rows (it must be chosen rows then rejected rows).
    #[error("a preference batch needs 2B rows (B chosen, then B rejected), found {rows}")]
    OddPreferenceBatch {
        /// The number of rows.
        rows: usize,
    },
    /// A row with no trained token where the objective divides by the token count.
    #[error(
        "row {row} has no trained token (all labels are -100): {objective} averages over its tokens"
    )]
    NoTrainedTokens {
        /// The row, or the first such row.
        row: usize,
        /// The objective that needs the tokens.
        objective: &'static str,
    },
    /// A KTO micro-batch of one, where the KL estimate is undefined.
    #[error(
        "KTO needs a micro-batch of at least 2 (found {rows}): its KL estimate pairs each completion \
         with another example's prompt from the same micro-batch"
    )]
    KtoBatchTooSmall {
        /// The micro-batch size.
        rows: usize,
    },
    /// A restricting label batch whose tokens differ from the labels the log-probs were taken at.
    #[error(
        "row {row}, position {position}: the completion label {completion} is not the token {full} the log-probs were computed for"
    )]
    LabelsDisagree {
        /// Row.
        row: usize,
        /// Position.
        position: usize,
        /// Label in the restricting batch.
        completion: i64,
        /// Label the log-probs were gathered at (-100 when none).
        full: i64,
    },
    /// A reference log-prob that was never computed.
    #[error(
        "no cached reference log-prob for row {row}: compute it (adapters disabled) before the step"
    )]
    MissingReference {
        /// The row without one.
        row: usize,
    },
    /// A configuration value out of range.
    #[error("`{field}` {reason}")]
    InvalidConfig {
        /// The field.
        field: &'static str,
        /// What is wrong, as a sentence fragment (`must be > 0, found -1`).
        reason: String,
    },
    /// Reading a tensor back from the device failed.
    #[error("reading a tensor from the device failed: {0}")]
    Read(String),
}

/// An objective and its parameters: what a run optimises.
///
/// The JSON form matches [`ajuste_shared::config::Objective`] (`{"method": "dpo", "beta": 0.1}`),
/// so a bundle's resolved config deserialises into either; the few extra knobs here
/// (SimPO's `label_smoothing` and `cpo_alpha`) take their defaults when absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum ObjectiveConfig {
    /// Supervised fine-tuning: mean cross-entropy over trained tokens.
    Sft,
    /// Direct Preference Optimisation.
    Dpo(DpoConfig),
    /// SimPO (reference-free, length-normalised).
    Simpo(SimpoConfig),
    /// Kahneman-Tversky Optimisation.
    Kto(KtoConfig),
    /// Odds Ratio Preference Optimisation.
    Orpo(OrpoConfig),
}

impl ObjectiveConfig {
    /// The objective of `method` with ajuste's default parameters.
    pub fn default_for(method: Method) -> Self {
        match method {
            Method::Sft => ObjectiveConfig::Sft,
            Method::Dpo => ObjectiveConfig::Dpo(DpoConfig::default()),
            Method::Simpo => ObjectiveConfig::Simpo(SimpoConfig::default()),
            Method::Kto => ObjectiveConfig::Kto(KtoConfig::default()),
            Method::Orpo => ObjectiveConfig::Orpo(OrpoConfig::default()),
        }
    }

    /// The method this objective trains with.
    pub fn method(&self) -> Method {
        match self {
            ObjectiveConfig::Sft => Method::Sft,
            ObjectiveConfig::Dpo(_) => Method::Dpo,
            ObjectiveConfig::Simpo(_) => Method::Simpo,
            ObjectiveConfig::Kto(_) => Method::Kto,
            ObjectiveConfig::Orpo(_) => Method::Orpo,
        }
    }

    /// Whether the objective compares against a reference model (DPO and KTO do; with a LoRA
    /// run that is the base model with adapters disabled, see [`RefLogpCache`]).
    pub fn needs_reference(&self) -> bool {
        matches!(self, ObjectiveConfig::Dpo(_) | ObjectiveConfig::Kto(_))
    }

    /// Checks every parameter's range.
    pub fn validate(&self) -> Result<(), ObjectiveError> {
        match self {
            ObjectiveConfig::Sft => Ok(()),
            ObjectiveConfig::Dpo(c) => c.validate(),
            ObjectiveConfig::Simpo(c) => c.validate(),
            ObjectiveConfig::Kto(c) => c.validate(),
            ObjectiveConfig::Orpo(c) => c.validate(),
        }
    }
}

impl From<&ajuste_shared::config::Objective> for ObjectiveConfig {
    fn from(objective: &ajuste_shared::config::Objective) -> Self {
        use ajuste_shared::config::{DpoLoss, Objective as Shared};
        match *objective {
            Shared::Sft => ObjectiveConfig::Sft,
            Shared::Dpo {
                beta,
                loss_type,
                label_smoothing,
            } => ObjectiveConfig::Dpo(DpoConfig {
                beta,
                loss_type: match loss_type {
                    DpoLoss::Sigmoid => DpoLossType::Sigmoid,
                    DpoLoss::Ipo => DpoLossType::Ipo,
                    DpoLoss::Hinge => DpoLossType::Hinge,
                },
                label_smoothing,
            }),
            Shared::Simpo { beta, gamma } => ObjectiveConfig::Simpo(SimpoConfig {
                beta,
                gamma,
                ..SimpoConfig::default()
            }),
            Shared::Kto {
                beta,
                desirable_weight,
                undesirable_weight,
            } => ObjectiveConfig::Kto(KtoConfig {
                beta,
                desirable_weight,
                undesirable_weight,
            }),
            Shared::Orpo { beta } => ObjectiveConfig::Orpo(OrpoConfig { beta }),
        }
    }
}

/// Pushes TRL's pair-reward metrics: `rewards/chosen`, `rewards/rejected`, `rewards/accuracies`
/// (share of pairs whose chosen reward is strictly higher) and `rewards/margins`.
///
/// # Arguments
/// - `chosen`, `rejected`: `[B]` detached rewards.
pub(crate) fn push_pair_rewards(
    metrics: &mut MetricTensors,
    chosen: &Tensor<1>,
    rejected: &Tensor<1>,
) {
    metrics.push("rewards/chosen", chosen.clone().mean());
    metrics.push("rewards/rejected", rejected.clone().mean());
    metrics.push(
        "rewards/accuracies",
        chosen.clone().greater(rejected.clone()).float().mean(),
    );
    metrics.push(
        "rewards/margins",
        (chosen.clone() - rejected.clone()).mean(),
    );
}

/// Checks that `value` is finite and strictly positive.
pub(crate) fn check_positive(field: &'static str, value: f64) -> Result<(), ObjectiveError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ObjectiveError::InvalidConfig {
            field,
            reason: format!("must be > 0, found {value}"),
        })
    }
}

/// Checks that `value` is finite and not negative.
pub(crate) fn check_non_negative(field: &'static str, value: f64) -> Result<(), ObjectiveError> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(ObjectiveError::InvalidConfig {
            field,
            reason: format!("must be >= 0, found {value}"),
        })
    }
}

/// Checks a label-smoothing value: the probability that a preference label is flipped, in
/// `[0, 0.5)` (at 0.5 the loss no longer prefers either answer).
pub(crate) fn check_smoothing(value: f64) -> Result<(), ObjectiveError> {
    if (0.0..0.5).contains(&value) {
        Ok(())
    } else {
        Err(ObjectiveError::InvalidConfig {
            field: "label_smoothing",
            reason: format!("must be in [0, 0.5), found {value}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_has_a_valid_default_that_round_trips_through_json() {
        for method in Method::ALL {
            let config = ObjectiveConfig::default_for(method);
            assert_eq!(config.method(), method);
            config.validate().unwrap();
            let json = serde_json::to_string(&config).unwrap();
            assert_eq!(
                serde_json::from_str::<ObjectiveConfig>(&json).unwrap(),
                config
            );
        }
    }

    #[test]
    fn defaults_are_trl_s_except_simpo_which_follows_the_paper() {
        let ObjectiveConfig::Dpo(dpo) = ObjectiveConfig::default_for(Method::Dpo) else {
            panic!()
        };
        assert_eq!(
            (dpo.beta, dpo.loss_type, dpo.label_smoothing),
            (0.1, DpoLossType::Sigmoid, 0.0)
        );
        let ObjectiveConfig::Simpo(simpo) = ObjectiveConfig::default_for(Method::Simpo) else {
            panic!()
        };
        assert_eq!(
            (simpo.beta, simpo.gamma / simpo.beta, simpo.cpo_alpha),
            (2.0, 0.5, 0.0)
        );
        let ObjectiveConfig::Kto(kto) = ObjectiveConfig::default_for(Method::Kto) else {
            panic!()
        };
        assert_eq!(
            (kto.beta, kto.desirable_weight, kto.undesirable_weight),
            (0.1, 1.0, 1.0)
        );
        let ObjectiveConfig::Orpo(orpo) = ObjectiveConfig::default_for(Method::Orpo) else {
            panic!()
        };
        assert_eq!(orpo.beta, 0.1);
    }

    #[test]
    fn the_shared_config_json_reads_as_an_objective_config() {
        let shared = ajuste_shared::config::Method::Simpo.default_objective();
        let json = serde_json::to_string(&shared).unwrap();
        let parsed: ObjectiveConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed, ObjectiveConfig::from(&shared));
        assert_eq!(parsed, ObjectiveConfig::default_for(Method::Simpo));
    }

    #[test]
    fn missing_parameters_take_defaults_and_unknown_ones_are_refused() {
        let parsed: ObjectiveConfig =
            serde_json::from_str(r#"{"method":"dpo","beta":0.3}"#).unwrap();
        assert_eq!(
            parsed,
            ObjectiveConfig::Dpo(DpoConfig {
                beta: 0.3,
                ..DpoConfig::default()
            })
        );
        let err = serde_json::from_str::<ObjectiveConfig>(r#"{"method":"dpo","betta":0.3}"#);
        assert!(err.unwrap_err().to_string().contains("betta"));
    }

    #[test]
    fn out_of_range_parameters_are_named() {
        let bad = ObjectiveConfig::Dpo(DpoConfig {
            beta: 0.0,
            ..DpoConfig::default()
        });
        let err = bad.validate().unwrap_err();
        assert!(err.to_string().contains("`beta` must be > 0"), "{err}");
        let bad = ObjectiveConfig::Dpo(DpoConfig {
            label_smoothing: 0.5,
            ..DpoConfig::default()
        });
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("label_smoothing")
        );
    }

    #[test]
    fn only_dpo_and_kto_need_a_reference_model() {
        let needs: Vec<Method> = Method::ALL
            .into_iter()
            .filter(|&m| ObjectiveConfig::default_for(m).needs_reference())
            .collect();
        assert_eq!(needs, [Method::Dpo, Method::Kto]);
    }
}
