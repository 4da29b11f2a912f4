//! Checkpoints on disk (native only), and resuming from them.
//!
//! `checkpoints/step-N/` holds:
//! - `adapter/`: the adapter in PEFT's format (`adapter_config.json` +
//!   `adapter_model.safetensors`), or `model/` (a Hugging Face model directory) for a full
//!   fine-tune;
//! - `optimizer.safetensors`: AdamW's two moments of every trainable parameter, f32, named
//!   `<module path>.exp_avg` / `.exp_avg_sq`;
//! - `trainer_state.json`: the step, the micro-batches consumed, the loss sum so far, the
//!   optimiser's step count, the seed and the run's length.
//!
//! The random state is the pair (seed, micro-batches consumed): epoch permutations and dropout
//! masks are both drawn from streams derived from them, so nothing else needs saving for a
//! resumed run to take exactly the steps the uninterrupted run would have taken.
//!
//! A checkpoint is written into a temporary sibling directory and renamed into place, so a run
//! killed while saving leaves the previous checkpoints intact and no half-written one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ajuste_shared::config::AdapterKind;
use serde::{Deserialize, Serialize};

use super::TrainError;
use super::optim::AdamW;
use super::run_loop::{Progress, Trainer, block_on, model_device};
use crate::adapter::peft::save_adapter;
use crate::model::load::{SafetensorsWeights, write_atomically, write_safetensors};
use crate::model::{HostTensor, WeightSource};

/// The state file of a checkpoint.
pub const STATE_FILE: &str = "trainer_state.json";
/// The optimiser file of a checkpoint.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// The adapter directory of a checkpoint (LoRA family).
pub const ADAPTER_DIR: &str = "adapter";
/// The model directory of a checkpoint (full fine-tuning).
pub const MODEL_DIR: &str = "model";
/// The version of the checkpoint layout.
const FORMAT: u32 = 1;

/// `trainer_state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Layout version.
    pub format: u32,
    /// Where the run stood.
    #[serde(flatten)]
    pub progress: Progress,
    /// AdamW updates taken.
    pub optimizer_steps: u64,
    /// The run's seed.
    pub seed: u64,
    /// The run's length in optimiser steps.
    pub total_steps: usize,
    /// Whether the weights are an adapter (`adapter/`) or a whole model (`model/`).
    pub adapter: bool,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The directory of the checkpoint of `step` under `checkpoints`.
pub fn step_dir(checkpoints: &Path, step: usize) -> PathBuf {
    checkpoints.join(format!("step-{step}"))
}

/// The checkpoint with the highest step under `checkpoints` that has a state file.
pub fn latest(checkpoints: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(checkpoints).ok()?;
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step: usize = name.strip_prefix("step-")?.parse().ok()?;
            e.path()
                .join(STATE_FILE)
                .is_file()
                .then(|| (step, e.path()))
        })
        .max_by_key(|(step, _)| *step)
        .map(|(_, path)| path)
}

/// Writes a checkpoint of `trainer` to `dir` (replacing one that is there).
///
/// # Arguments
/// - `base_model`: written as the adapter's `base_model_name_or_path`.
pub fn save(trainer: &Trainer, dir: &Path, base_model: &str) -> Result<(), TrainError> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "checkpoint".into());
    let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let written = write_contents(trainer, &tmp, base_model);
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    std::fs::rename(&tmp, dir).map_err(io(dir))
}

fn write_contents(trainer: &Trainer, dir: &Path, base_model: &str) -> Result<(), TrainError> {
    let adapter = trainer.config().adapter.kind != AdapterKind::None;
    if adapter {
        save_adapter(
            trainer.model(),
            "default",
            &dir.join(ADAPTER_DIR),
            base_model,
        )?;
    } else {
        trainer.model().save(dir.join(MODEL_DIR))?;
    }
    let moments = block_on(trainer.optimizer().export())?;
    let tensors = moments
        .into_iter()
        .map(|(name, (shape, values))| {
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name, (shape, bytes))
        })
        .collect();
    write_safetensors(&dir.join(OPTIMIZER_FILE), tensors, None)?;
    let state = TrainerState {
        format: FORMAT,
        progress: trainer.progress(),
        optimizer_steps: trainer.optimizer().steps(),
        seed: trainer.config().seed,
        total_steps: trainer.total_steps(),
        adapter,
    };
    let json = serde_json::to_vec_pretty(&state).unwrap_or_default();
    write_atomically(&dir.join(STATE_FILE), &json)?;
    Ok(())
}

/// A checkpoint read from disk.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// Its directory.
    pub dir: PathBuf,
    /// Its state file.
    pub state: TrainerState,
    /// The optimiser's moments.
    pub optimizer: BTreeMap<String, HostTensor>,
}

impl Checkpoint {
    /// Reads the state and optimiser files of the checkpoint at `dir`.
    pub fn read(dir: &Path) -> Result<Self, TrainError> {
        let state_path = dir.join(STATE_FILE);
        let bytes = std::fs::read(&state_path).map_err(io(&state_path))?;
        let state: TrainerState =
            serde_json::from_slice(&bytes).map_err(|e| TrainError::Checkpoint {
                reason: format!("{}: {e}", state_path.display()),
            })?;
        if state.format != FORMAT {
            return Err(TrainError::Checkpoint {
                reason: format!(
                    "{}: checkpoint format {} (this ajuste reads {FORMAT})",
                    state_path.display(),
                    state.format
                ),
            });
        }
        let opt_path = dir.join(OPTIMIZER_FILE);
        let bytes = std::fs::read(&opt_path).map_err(io(&opt_path))?;
        let origin = opt_path.display().to_string();
        let weights = SafetensorsWeights::from_buffers(vec![(origin.clone(), bytes)], &origin)?;
        let mut optimizer = BTreeMap::new();
        for name in weights.names() {
            let (_, shape) = weights.dtype_and_shape(name)?;
            let values = weights.read(name, &shape)?;
            optimizer.insert(name.to_string(), (shape, values));
        }
        Ok(Checkpoint {
            dir: dir.to_path_buf(),
            state,
            optimizer,
        })
    }

    /// Where the weights to load are: the PEFT adapter directory, or the model directory of a
    /// full fine-tune.
    pub fn weights_dir(&self) -> PathBuf {
        self.dir.join(if self.state.adapter {
            ADAPTER_DIR
        } else {
            MODEL_DIR
        })
    }

    /// Puts `trainer` (built on the checkpoint's weights, see [`Checkpoint::weights_dir`]) where
    /// the checkpoint left off.
    ///
    /// # Errors
    /// [`TrainError::Checkpoint`] when the checkpoint belongs to a run with another seed or
    /// length, or its optimiser state does not match the model's trainable parameters.
    pub fn resume(&self, trainer: &mut Trainer) -> Result<(), TrainError> {
        let s = &self.state;
        let c = trainer.config();
        if s.seed != c.seed || s.total_steps != trainer.total_steps() {
            return Err(TrainError::Checkpoint {
                reason: format!(
                    "{} was written by a run with seed {} and {} steps; this run has seed {} and {} steps",
                    self.dir.display(),
                    s.seed,
                    s.total_steps,
                    c.seed,
                    trainer.total_steps()
                ),
            });
        }
        let device = model_device(trainer.model()).without_autodiff();
        let optimizer = AdamW::import(
            *trainer.optimizer().config(),
            s.optimizer_steps,
            &self.optimizer,
            trainer.model(),
            &device,
        )
        .map_err(|e| match e {
            TrainError::Checkpoint { reason } => TrainError::Checkpoint {
                reason: format!("{}: {reason}", self.dir.display()),
            },
            other => other,
        })?;
        trainer.resume(s.progress, optimizer)
    }
}
