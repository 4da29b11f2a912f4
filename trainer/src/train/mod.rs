//! Training: data to batches, the loop, AdamW, learning-rate schedules, events, checkpoints.
//!
//! - [`data`]: records → tokenized [`Example`](data::Example)s → padded
//!   [`Batch`](data::Batch)es, seeded shuffling.
//! - [`schedule`]: transformers' warm-up + constant/linear/cosine schedules.
//! - [`optim`]: AdamW as `torch.optim.AdamW`, global-norm clipping, gradient accumulation.
//! - [`events`]: what a run reports (`events.jsonl`).
//! - [`Trainer`]: the loop, generic over the device, async so that it runs in a browser worker.
//! - [`multi`]: several devices of one machine for one run (`--devices`).
//! - [`checkpoint`] (native): `checkpoints/step-N/` directories and resuming from them.
//!
//! ```no_run
//! use ajuste_shared::config::{Method, TrainConfig};
//! use ajuste_trainer::model::Model;
//! use ajuste_trainer::train::{adapter_spec, Trainer, TrainerOptions, RunHooks, TrainError};
//! use ajuste_trainer::train::events::Event;
//! use burn::tensor::Device;
//!
//! struct Print;
//! impl RunHooks for Print {
//!     fn event(&mut self, _: &Trainer, e: &Event) -> Result<(), TrainError> {
//!         println!("{}", serde_json::to_string(e).unwrap());
//!         Ok(())
//!     }
//! }
//! # fn examples() -> Vec<ajuste_trainer::train::data::Example> { vec![] }
//! let config = TrainConfig::for_method(Method::Sft);
//! let device = Device::flex().autodiff();
//! let model = Model::load("SmolLM2-135M", &device, &adapter_spec(&config))?;
//! let mut trainer = Trainer::new(model, config, examples(), vec![], TrainerOptions::default())?;
//! trainer.run_blocking(&mut Print)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(not(target_family = "wasm"))]
pub mod checkpoint;
pub mod data;
pub mod events;
pub mod multi;
pub mod optim;
#[path = "loop.rs"]
mod run_loop;
pub mod schedule;

use ajuste_shared::config::{AdapterKind, TrainConfig};

#[cfg(not(target_family = "wasm"))]
pub use run_loop::block_on;
pub use run_loop::{Progress, RunHooks, Trainer, TrainerOptions, total_steps};

use crate::adapter::{AdapterSpec, LoraConfig, TargetModules};
use crate::model::{LoadError, ModelConfig};
use crate::objective::ObjectiveError;
use data::DataError;

/// Everything that can stop a training run.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Settings that cannot work together.
    #[error("{0}")]
    Config(String),
    /// Data that cannot be trained on.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A batch the objective refuses.
    #[error(transparent)]
    Objective(#[from] ObjectiveError),
    /// A model, adapter or checkpoint that cannot be loaded or written.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Reading a tensor back from the device failed.
    #[error("reading a tensor from the device failed: {0}")]
    Read(String),
    /// The loss or the gradient went NaN or infinite.
    #[error(
        "step {step}: the loss ({loss}) or gradient norm ({grad_norm}) is not finite; lower the learning rate or check the data"
    )]
    NonFinite {
        /// The step.
        step: usize,
        /// Its loss.
        loss: f64,
        /// Its gradient norm.
        grad_norm: f64,
    },
    /// A checkpoint that does not fit this run.
    #[error("cannot resume: {reason}")]
    Checkpoint {
        /// What does not fit.
        reason: String,
    },
    /// A file of the run directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The adapters a run of `config` trains: a new LoRA/rsLoRA/DoRA adapter called `default`
/// (initialised from the run's seed), on an NF4 base for QLoRA; none for a full fine-tune.
pub fn adapter_spec(config: &TrainConfig) -> AdapterSpec {
    let kind = config.adapter.kind;
    if kind == AdapterKind::None {
        return AdapterSpec::none();
    }
    let spec = AdapterSpec::lora(lora_config(config), config.seed);
    if kind == AdapterKind::Qlora {
        spec.with_nf4_base()
    } else {
        spec
    }
}

/// The PEFT `LoraConfig` of a run's adapter settings.
pub fn lora_config(config: &TrainConfig) -> LoraConfig {
    let a = &config.adapter;
    let target_modules = if a.target_modules.iter().any(|t| t == "all-linear") {
        TargetModules::AllLinear
    } else {
        TargetModules::Names(a.target_modules.clone())
    };
    LoraConfig {
        r: a.r,
        lora_alpha: a.lora_alpha,
        lora_dropout: a.lora_dropout,
        target_modules,
        use_rslora: a.kind == AdapterKind::Rslora,
        use_dora: a.kind == AdapterKind::Dora,
    }
}

/// The token id batches are padded with: the model's `pad_token_id`, else its first EOS, else 0.
pub fn pad_id(config: &ModelConfig) -> u32 {
    config
        .pad_token_id
        .or_else(|| config.eos_token_ids.first().copied())
        .filter(|&id| (id as usize) < config.vocab_size)
        .unwrap_or(0)
}
