//! The training loop: micro-batches, reference log-probs, backward, AdamW, evaluation, events.
//!
//! One [`Trainer`] runs on any burn device. Everything it reads back from the device is read
//! with `into_data_async`/`into_scalar_async` (through [`MetricTensors::read`](crate::objective::MetricTensors::read) and
//! [`RefLogpCache::insert_batch`]), so the same code runs in a browser worker, where nothing
//! can wait synchronously; natively, [`Trainer::run_blocking`] drives the same futures.
//!
//! Per optimiser step, for each of `gradient_accumulation_steps` micro-batches: the device's RNG
//! is seeded from the run's seed and the micro-batch's position (so LoRA dropout draws the same
//! masks in a resumed run), the objective is computed, `(loss / accumulation).backward()`, and
//! the gradients are summed. Then the global gradient norm is clipped and AdamW updates the
//! trainable parameters at the scheduled learning rate.
//!
//! Reference log-probs (DPO, KTO) are computed once, before the first step, for every training
//! and eval sequence, with adapters disabled (or, in a full fine-tune, by a frozen copy of the
//! initial model), and cached by content ([`RefLogpCache`]). KTO's mismatched KL rows depend on
//! how examples fall into micro-batches, so their reference log-probs are computed per batch.

use ajuste_shared::config::{AdapterKind, Method, TrainConfig};
use burn::module::Module;
use burn::tensor::{Device, Tensor};
use web_time::Instant;

use super::TrainError;
use super::data::{Batch, Example, Sampler, derive_seed};
use super::events::{EvalEvent, Event, StartEvent, StepEvent, SummaryEvent};
use super::multi::{self, Replicas};
use super::optim::{AdamW, AdamWConfig, GradAccumulator, num_trainable};
use super::schedule::LrSchedule;
use crate::model::Model;
use crate::objective::dpo::dpo_loss;
use crate::objective::kto::{kl_estimate, kto_loss_with_kl};
use crate::objective::orpo::orpo_loss;
use crate::objective::sft::sft_loss;
use crate::objective::simpo::simpo_loss;
use crate::objective::{
    MetricTensors, Metrics, Objective, ObjectiveConfig, PairLogps, RefLogpCache, output_logps,
};

/// Keeps the dropout seeds of micro-batches apart from the shuffling seeds of epochs.
const DROPOUT_STREAM: u64 = 0x6472_6f70_6f75_7400;

/// What the caller adds to a [`Trainer`] besides the model, config and data.
#[derive(Debug, Clone, Default)]
pub struct TrainerOptions {
    /// The token id padding is filled with (the model's pad token, else its EOS).
    pub pad_id: u32,
    /// Full fine-tuning with DPO/KTO: the frozen reference model (the base as loaded). When
    /// absent, a copy of the model as handed to [`Trainer::new`] is kept.
    pub reference: Option<Model>,
}

/// Where a run stands, as a checkpoint records it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    /// Optimiser steps done.
    pub step: usize,
    /// Micro-batches consumed (the data order and dropout seeds follow from it and the seed).
    pub micro_batches: usize,
    /// Sum of the step losses so far (for the summary's `train_loss`).
    pub loss_sum: f64,
    /// Real input tokens trained on so far.
    pub tokens_seen: usize,
}

/// What the code driving [`Trainer::run`] does with events and checkpoints.
pub trait RunHooks {
    /// Called for every event, in order.
    fn event(&mut self, trainer: &Trainer, event: &Event) -> Result<(), TrainError>;

    /// Saves a checkpoint of `trainer`; returns where, if it saved one. Called every
    /// `save_steps` steps and at the end.
    fn save(&mut self, trainer: &Trainer) -> Result<Option<String>, TrainError> {
        let _ = trainer;
        Ok(None)
    }

    /// Whether to stop before the next step (the run then ends with a checkpoint and a summary,
    /// and can be resumed).
    fn stop(&self, trainer: &Trainer) -> bool {
        let _ = trainer;
        false
    }
}

/// A training run in progress.
pub struct Trainer {
    model: Option<Model>,
    device: Device,
    config: TrainConfig,
    objective: ObjectiveConfig,
    train: Vec<Example>,
    eval: Vec<Example>,
    sampler: Sampler,
    pad_id: u32,
    optimizer: AdamW,
    schedule: LrSchedule,
    progress: Progress,
    reference: Option<Model>,
    ref_cache: RefLogpCache,
    references_ready: bool,
    started: Instant,
    start_progress: Progress,
    last_loss: f64,
    last_eval: Metrics,
    /// The other devices of a multi-device run ([`Trainer::set_devices`]).
    replicas: Option<Replicas>,
}

impl std::fmt::Debug for Trainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trainer")
            .field("method", &self.config.method())
            .field("progress", &self.progress)
            .field("total_steps", &self.schedule.total_steps)
            .finish_non_exhaustive()
    }
}

/// Optimiser steps of a run: `steps` when set, else `ceil(epochs * ceil(batches / accumulation))`.
pub fn total_steps(config: &TrainConfig, batches_per_epoch: usize) -> usize {
    if let Some(steps) = config.steps {
        return steps;
    }
    let per_epoch = batches_per_epoch
        .div_ceil(config.gradient_accumulation_steps.max(1))
        .max(1);
    ((config.epochs * per_epoch as f64).ceil() as usize).max(1)
}

impl Trainer {
    /// Sets up a run of `config` on `model` (already on its training device, autodiff enabled,
    /// adapters attached).
    ///
    /// # Errors
    /// [`TrainError::Config`] for settings that cannot work (nothing trainable, a device without
    /// autodiff, KTO batches of one, examples longer than the model's context, no examples).
    pub fn new(
        mut model: Model,
        config: TrainConfig,
        train: Vec<Example>,
        eval: Vec<Example>,
        options: TrainerOptions,
    ) -> Result<Self, TrainError> {
        config.check().map_err(TrainError::Config)?;
        let objective = ObjectiveConfig::from(&config.objective);
        objective.validate()?;
        if train.is_empty() {
            return Err(TrainError::Config("there are no training examples".into()));
        }
        let device = model_device(&model);
        if !device.is_autodiff() {
            return Err(TrainError::Config(
                "the model is on a device without autodiff; load it on `device.autodiff()`".into(),
            ));
        }
        let context = model.config.max_position_embeddings;
        for (split, examples) in [("training", &train), ("eval", &eval)] {
            if let Some(i) = examples.iter().position(|e| e.max_len() > context) {
                return Err(TrainError::Config(format!(
                    "{split} example {i} has {} tokens, more than the model's context of {context} \
                     (max_position_embeddings); lower max_length",
                    examples[i].max_len()
                )));
            }
        }
        if options.pad_id as usize >= model.config.vocab_size {
            return Err(TrainError::Config(format!(
                "pad token id {} is outside the vocabulary ({})",
                options.pad_id, model.config.vocab_size
            )));
        }
        let full = config.adapter.kind == AdapterKind::None;
        let reference = match (full && objective.needs_reference(), options.reference) {
            (true, Some(r)) => Some(r.valid()),
            (true, None) => Some(model.valid()),
            (false, _) => None,
        };
        if full {
            model = model.set_require_grad(true);
        }
        if num_trainable(&model) == 0 {
            return Err(TrainError::Config(
                "the model has no trainable parameter (no adapter attached)".into(),
            ));
        }
        let min_batch = if config.method() == Method::Kto { 2 } else { 1 };
        if eval.len() == 1 && min_batch == 2 {
            return Err(TrainError::Config(
                "a KTO eval set needs at least 2 examples (its KL estimate pairs examples)".into(),
            ));
        }
        let sampler = Sampler::new(train.len(), config.batch_size, min_batch, config.seed);
        let per_epoch = sampler.batches_per_epoch();
        if per_epoch == 0 {
            return Err(TrainError::Config(format!(
                "{} examples do not fill one micro-batch",
                train.len()
            )));
        }
        let total = total_steps(&config, per_epoch);
        let schedule = LrSchedule::new(
            config.learning_rate,
            config.lr_scheduler,
            config.warmup_ratio,
            total,
        );
        let optimizer = AdamW::new(AdamWConfig {
            weight_decay: config.weight_decay,
            ..AdamWConfig::default()
        });
        let progress = Progress {
            step: 0,
            micro_batches: 0,
            loss_sum: 0.0,
            tokens_seen: 0,
        };
        Ok(Trainer {
            model: Some(model),
            device,
            config,
            objective,
            train,
            eval,
            sampler,
            pad_id: options.pad_id,
            optimizer,
            schedule,
            progress,
            reference,
            ref_cache: RefLogpCache::new(),
            references_ready: false,
            started: Instant::now(),
            start_progress: progress,
            last_loss: f64::NAN,
            last_eval: Metrics::new(),
            replicas: None,
        })
    }

    /// Continues from a checkpoint: where the run stood and the optimiser's state. The model
    /// handed to [`Trainer::new`] must already hold the checkpoint's weights.
    ///
    /// # Errors
    /// [`TrainError::Checkpoint`] when the checkpoint is past the end of this run.
    pub fn resume(&mut self, progress: Progress, optimizer: AdamW) -> Result<(), TrainError> {
        if progress.step > self.schedule.total_steps {
            return Err(TrainError::Checkpoint {
                reason: format!(
                    "the checkpoint is at step {}, past this run's {} steps",
                    progress.step, self.schedule.total_steps
                ),
            });
        }
        self.progress = progress;
        self.start_progress = progress;
        self.optimizer = optimizer;
        Ok(())
    }

    /// Spreads the steps over several devices of one machine (see [`multi`](super::multi)): a
    /// replica of the model on each of `devices[1..]`, every micro-batch cut into one shard per
    /// device, the gradients summed onto `devices[0]`, where the optimiser steps. The loss and
    /// the weights are those of a one-device run at the same `batch_size` and accumulation
    /// (float rounding aside). Evaluation runs on the first device.
    ///
    /// # Arguments
    /// - `devices`: the run's devices, autodiff enabled, the first the model's own; one device
    ///   leaves the run as it is.
    /// - `all_reduce`: sum gradients with burn's NCCL `all_reduce` (CUDA devices, in a build
    ///   with the `cuda` feature) instead of moving them to the first device.
    ///
    /// # Errors
    /// [`TrainError::Config`] when the first device is not the model's, a device has no
    /// autodiff, or `all_reduce` is asked of a build without the `cuda` feature.
    pub fn set_devices(
        &mut self,
        devices: Vec<Device>,
        all_reduce: bool,
    ) -> Result<(), TrainError> {
        if all_reduce && !cfg!(feature = "cuda") {
            return Err(TrainError::Config(
                "summing gradients with all_reduce needs the `cuda` feature".into(),
            ));
        }
        let replicas = Replicas::new(self.model(), devices, all_reduce)?;
        self.replicas = (replicas.devices.len() > 1).then_some(replicas);
        Ok(())
    }

    /// How many devices the steps run on.
    pub fn device_count(&self) -> usize {
        self.replicas.as_ref().map_or(1, |r| r.devices.len())
    }

    /// The model being trained.
    pub fn model(&self) -> &Model {
        // Only `train_step` takes the model out, and it always puts it back.
        self.model
            .as_ref()
            .expect("the model is in place between steps")
    }

    /// The trained model.
    pub fn into_model(self) -> Model {
        self.model.expect("the model is in place between steps")
    }

    /// The run's configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// The optimiser (for checkpoints).
    pub fn optimizer(&self) -> &AdamW {
        &self.optimizer
    }

    /// Where the run stands.
    pub fn progress(&self) -> Progress {
        self.progress
    }

    /// Optimiser steps the run takes in all.
    pub fn total_steps(&self) -> usize {
        self.schedule.total_steps
    }

    /// The learning-rate schedule.
    pub fn schedule(&self) -> &LrSchedule {
        &self.schedule
    }

    /// Whether every step has been taken.
    pub fn is_done(&self) -> bool {
        self.progress.step >= self.schedule.total_steps
    }

    /// Passes over the training data so far.
    pub fn epoch(&self) -> f64 {
        self.progress.micro_batches as f64 / self.sampler.batches_per_epoch().max(1) as f64
    }

    /// The event announcing the run.
    pub fn start_event(&self) -> StartEvent {
        StartEvent {
            step: self.progress.step,
            total_steps: self.schedule.total_steps,
            method: self.config.method().to_string(),
            train_examples: self.train.len(),
            eval_examples: self.eval.len(),
            batches_per_epoch: self.sampler.batches_per_epoch(),
            trainable_params: num_trainable(self.model()),
            warmup_steps: self.schedule.warmup_steps,
        }
    }

    /// Computes the reference log-probs of every training and eval sequence, once (DPO, KTO).
    pub async fn prepare_references(&mut self) -> Result<(), TrainError> {
        if self.references_ready || !self.objective.needs_reference() {
            self.references_ready = true;
            return Ok(());
        }
        let reference = self.reference_model();
        let device = model_device(&reference);
        let chunk = self.config.batch_size.max(1);
        for examples in [&self.train, &self.eval] {
            for part in examples.chunks(chunk) {
                let seqs: Vec<_> = part.iter().flat_map(|e| e.sequences()).collect();
                let batch = Batch::pad(&seqs, self.pad_id)?;
                let missing = self.ref_cache.missing(&batch.keys);
                if missing.is_empty() {
                    continue;
                }
                let outputs =
                    reference.outputs(batch.ids_tensor(&device), Some(batch.mask_tensor(&device)));
                let logps = output_logps(outputs, &batch.labels)?.sequence_logps();
                self.ref_cache.insert_batch(&batch.keys, logps).await?;
            }
        }
        self.references_ready = true;
        Ok(())
    }

    /// The reference model: a frozen copy (full fine-tuning) or the model with its adapters off.
    fn reference_model(&self) -> Model {
        match &self.reference {
            Some(r) => r.clone(),
            None => {
                let mut r = self.model().valid();
                r.set_adapters_enabled(false);
                r
            }
        }
    }

    /// The objective of one batch on `model` (the training model, or an eval copy).
    fn objective(&self, model: &Model, batch: &Batch) -> Result<Objective, TrainError> {
        let kl = match &self.objective {
            ObjectiveConfig::Kto(_) => Some(self.kto_kl(model, batch)?),
            _ => None,
        };
        batch_objective(&self.objective, &self.ref_cache, model, batch, kl)
    }

    /// `[1]` KTO's KL estimate of a micro-batch: its mismatched rows under the policy (without
    /// gradient, as TRL computes them) and under the reference model.
    fn kto_kl(&self, model: &Model, batch: &Batch) -> Result<Tensor<1>, TrainError> {
        let kl = batch
            .kl
            .as_deref()
            .ok_or_else(|| TrainError::Config("a KTO batch without its KL rows".into()))?;
        let kl_logps = |m: &Model| -> Result<Tensor<1>, TrainError> {
            let d = model_device(m);
            let outputs = m.outputs(kl.ids_tensor(&d), Some(kl.mask_tensor(&d)));
            Ok(output_logps(outputs, &kl.labels)?.sequence_logps())
        };
        let policy_kl = kl_logps(&model.valid())?;
        let reference_kl = kl_logps(&self.reference_model())?;
        Ok(kl_estimate(policy_kl, reference_kl))
    }

    /// One micro-batch of a multi-device step: one shard per device, each shard's objective
    /// computed on its device, then each shard's part of the micro-batch's loss (divided by the
    /// accumulation) back-propagated there and its gradients added to that device's
    /// accumulator.
    ///
    /// # Returns
    /// Per shard, its metrics (with `loss`: its part of the micro-batch's loss) and the weight
    /// of its metrics in the micro-batch's; and the micro-batch's real tokens.
    fn sharded_micro_batch(
        &self,
        replicas: &Replicas,
        examples: &[&Example],
        seed: u64,
        grads: &mut [GradAccumulator],
    ) -> Result<(Vec<(MetricTensors, f64)>, usize), TrainError> {
        let accumulation = self.config.gradient_accumulation_steps.max(1) as f64;
        let primary = self.model();
        let kl = match &self.objective {
            ObjectiveConfig::Kto(_) => {
                let whole = Batch::collate(examples, self.pad_id, self.config.max_length)?;
                Some(self.kto_kl(primary, &whole)?)
            }
            _ => None,
        };
        let batches = multi::shard_ranges(examples.len(), replicas.devices.len())
            .into_iter()
            .map(|r| Batch::collate_shard(&examples[r], self.pad_id, self.config.max_length))
            .collect::<Result<Vec<_>, _>>()?;
        // flex's RNG (and cubecl's seeds) are per process: a shard's seed and its forward pass
        // (where dropout draws) go together, one shard at a time, or the masks would depend on
        // how the threads interleave.
        let dropout =
            self.config.adapter.kind != AdapterKind::None && self.config.adapter.lora_dropout > 0.0;
        let rng = std::sync::Mutex::new(());
        let (objective, refs) = (&self.objective, &self.ref_cache);
        let forward: Vec<multi::Job<'_, Result<Objective, TrainError>>> = batches
            .iter()
            .enumerate()
            .map(|(i, batch)| {
                let model = replicas.model(primary, i);
                let device = &replicas.devices[i];
                let kl = kl.clone().map(|z| z.to_device(device));
                let rng = &rng;
                Box::new(move || {
                    let _turn = dropout.then(|| rng.lock().unwrap_or_else(|e| e.into_inner()));
                    device.seed(derive_seed(seed, i as u64));
                    batch_objective(objective, refs, model, batch, kl)
                }) as multi::Job<'_, _>
            })
            .collect();
        let objectives = multi::on_devices(forward)
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        let pending: Vec<MetricTensors> =
            multi::backward_shares(replicas, primary, objectives, grads, accumulation)?
                .into_iter()
                .map(|(part, mut metrics)| {
                    metrics.push("loss", part);
                    metrics
                })
                .collect();
        // Metrics are weighted as evaluation weighs batches: SFT by trained tokens, the
        // preference methods by examples.
        let sft = self.config.method() == Method::Sft;
        let weight = |b: &Batch| -> f64 {
            if sft {
                b.labels.trained_counts().iter().sum::<usize>() as f64
            } else {
                b.examples as f64
            }
        };
        let total: f64 = batches.iter().map(weight).sum();
        let weighted = pending
            .into_iter()
            .zip(&batches)
            .map(|(p, b)| (p, weight(b) / total.max(f64::MIN_POSITIVE)))
            .collect();
        Ok((weighted, batches.iter().map(|b| b.tokens).sum()))
    }

    /// Takes one optimiser step and returns its event.
    ///
    /// # Errors
    /// [`TrainError::NonFinite`] when the loss or the gradient norm is NaN or infinite (the
    /// update is still applied; the run should stop), and the errors of the objective.
    pub async fn train_step(&mut self) -> Result<StepEvent, TrainError> {
        self.prepare_references().await?;
        let started = Instant::now();
        let lr = self.schedule.lr(self.progress.step);
        let accumulation = self.config.gradient_accumulation_steps.max(1);
        // One accumulator per device (the first device's alone on one device).
        let mut grads: Vec<GradAccumulator> = (0..self.device_count())
            .map(|_| GradAccumulator::new())
            .collect();
        let mut loss = 0.0;
        let mut metrics = MetricMeans::default();
        let mut tokens = 0;
        for _ in 0..accumulation {
            let (_, indices) = self.sampler.batch(self.progress.micro_batches);
            let examples: Vec<&Example> = indices.iter().map(|&i| &self.train[i]).collect();
            let seed = derive_seed(
                self.config.seed ^ DROPOUT_STREAM,
                self.progress.micro_batches as u64,
            );
            let shards = match &self.replicas {
                None => {
                    let batch = Batch::collate(&examples, self.pad_id, self.config.max_length)?;
                    self.device.seed(seed);
                    let Objective {
                        loss: micro_loss,
                        metrics: mut pending,
                        ..
                    } = self.objective(self.model(), &batch)?;
                    pending.push("loss", micro_loss.clone());
                    let backward = (micro_loss / accumulation as f64).backward();
                    grads[0].accumulate(self.model(), backward);
                    tokens += batch.tokens;
                    vec![(pending, 1.0)]
                }
                Some(replicas) => {
                    let (shards, t) =
                        self.sharded_micro_batch(replicas, &examples, seed, &mut grads)?;
                    tokens += t;
                    shards
                }
            };
            // A shard's `loss` is its part of the micro-batch's: they add up.
            for (pending, weight) in shards {
                let values = pending.read().await?;
                loss += values.get("loss").unwrap_or(f64::NAN) / accumulation as f64;
                metrics.add(&values, weight);
            }
            self.progress.micro_batches += 1;
        }
        let mut grads = match &self.replicas {
            None => grads.pop().unwrap_or_default(),
            Some(replicas) => multi::gather(grads, replicas, self.model()),
        };
        let norm = grads.clip(self.config.max_grad_norm);
        let model = self
            .model
            .take()
            .expect("the model is in place between steps");
        let model = self.optimizer.step(model, grads, lr);
        if let Some(replicas) = &mut self.replicas {
            multi::sync_replicas(&model, replicas);
        }
        self.model = Some(model);
        self.progress.step += 1;
        let grad_norm = match norm {
            Some(n) => read_scalar(n).await?,
            None => 0.0,
        };
        self.progress.loss_sum += loss;
        self.progress.tokens_seen += tokens;
        self.last_loss = loss;
        if !loss.is_finite() || !grad_norm.is_finite() {
            return Err(TrainError::NonFinite {
                step: self.progress.step,
                loss,
                grad_norm,
            });
        }
        let seconds = started.elapsed().as_secs_f64();
        Ok(StepEvent {
            step: self.progress.step,
            epoch: self.epoch(),
            loss,
            lr,
            grad_norm,
            tokens_per_s: if seconds > 0.0 {
                tokens as f64 / seconds
            } else {
                0.0
            },
            tokens,
            elapsed_s: self.started.elapsed().as_secs_f64(),
            metrics: metrics.means(""),
        })
    }

    /// Evaluates on the eval set: `eval_loss` (token-weighted mean for SFT, with
    /// `eval_perplexity`), and the objective's metrics averaged over examples (tokens for SFT),
    /// all prefixed `eval_`. `None` without an eval set.
    pub async fn evaluate(&mut self) -> Result<Option<EvalEvent>, TrainError> {
        if self.eval.is_empty() {
            return Ok(None);
        }
        self.prepare_references().await?;
        let model = self.model().valid();
        let sft = self.config.method() == Method::Sft;
        let mut metrics = MetricMeans::default();
        for part in eval_chunks(self.eval.len(), self.config.batch_size, self.min_batch()) {
            let examples: Vec<&Example> = self.eval[part].iter().collect();
            let batch = Batch::collate(&examples, self.pad_id, self.config.max_length)?;
            let weight = if sft {
                batch.labels.trained_counts().iter().sum::<usize>() as f64
            } else {
                batch.examples as f64
            };
            let Objective {
                loss,
                metrics: mut pending,
                ..
            } = self.objective(&model, &batch)?;
            pending.push("loss", loss);
            metrics.add(&pending.read().await?, weight);
        }
        let mut out = Metrics::new();
        let means = metrics.means("eval_");
        if let Some(loss) = means.get("eval_loss") {
            out.insert("eval_loss", loss);
            if sft {
                out.insert("eval_perplexity", loss.exp());
            }
        }
        for (name, value) in means.iter().filter(|(n, _)| *n != "eval_loss") {
            out.insert(name, value);
        }
        self.last_eval = out.clone();
        Ok(Some(EvalEvent {
            step: self.progress.step,
            epoch: self.epoch(),
            metrics: out,
        }))
    }

    fn min_batch(&self) -> usize {
        if self.config.method() == Method::Kto {
            2
        } else {
            1
        }
    }

    /// The summary of the run so far.
    pub fn summary(&self) -> SummaryEvent {
        let steps = self.progress.step - self.start_progress.step;
        let tokens = self.progress.tokens_seen - self.start_progress.tokens_seen;
        let runtime = self.started.elapsed().as_secs_f64();
        SummaryEvent {
            steps: self.progress.step,
            epoch: self.epoch(),
            train_loss: if steps > 0 {
                (self.progress.loss_sum - self.start_progress.loss_sum) / steps as f64
            } else {
                f64::NAN
            },
            final_loss: self.last_loss,
            runtime_s: runtime,
            tokens_per_s: if runtime > 0.0 {
                tokens as f64 / runtime
            } else {
                0.0
            },
            eval: self.last_eval.clone(),
        }
    }

    /// Runs to the end (or until `hooks.stop`): a start event, an evaluation before the first
    /// step, steps with their events, evaluations every `eval_steps` steps, checkpoints every
    /// `save_steps` steps, then a final evaluation and checkpoint, and the summary.
    pub async fn run(&mut self, hooks: &mut dyn RunHooks) -> Result<SummaryEvent, TrainError> {
        self.started = Instant::now();
        self.prepare_references().await?;
        hooks.event(self, &Event::Start(self.start_event()))?;
        if self.progress.step == 0
            && let Some(e) = self.evaluate().await?
        {
            hooks.event(self, &Event::Eval(e))?;
        }
        let (eval_every, save_every) = (self.config.eval_steps, self.config.save_steps);
        let mut evaluated_at = self.progress.step;
        let mut saved_at = None;
        while !self.is_done() && !hooks.stop(self) {
            let event = self.train_step().await?;
            hooks.event(self, &Event::Step(event))?;
            let step = self.progress.step;
            if eval_every > 0 && step.is_multiple_of(eval_every) {
                if let Some(e) = self.evaluate().await? {
                    hooks.event(self, &Event::Eval(e))?;
                }
                evaluated_at = step;
            }
            if save_every > 0 && step.is_multiple_of(save_every) {
                self.save(hooks)?;
                saved_at = Some(step);
            }
        }
        if evaluated_at != self.progress.step
            && let Some(e) = self.evaluate().await?
        {
            hooks.event(self, &Event::Eval(e))?;
        }
        if saved_at != Some(self.progress.step) {
            self.save(hooks)?;
        }
        let summary = self.summary();
        hooks.event(self, &Event::Summary(summary.clone()))?;
        Ok(summary)
    }

    fn save(&self, hooks: &mut dyn RunHooks) -> Result<(), TrainError> {
        if let Some(path) = hooks.save(self)? {
            let event = Event::Checkpoint(super::events::CheckpointEvent {
                step: self.progress.step,
                path,
            });
            hooks.event(self, &event)?;
        }
        Ok(())
    }

    /// [`Trainer::run`], blocking until it ends. Native only: a browser cannot wait on the device.
    #[cfg(not(target_family = "wasm"))]
    pub fn run_blocking(&mut self, hooks: &mut dyn RunHooks) -> Result<SummaryEvent, TrainError> {
        block_on(self.run(hooks))
    }
}

/// Runs a future to completion on this thread. Native only.
#[cfg(not(target_family = "wasm"))]
pub fn block_on<T>(future: impl std::future::Future<Output = T>) -> T {
    burn::tensor::read_sync(future)
}

/// The objective of one batch on `model`. KTO takes `kl`, the KL estimate of the micro-batch
/// the batch is (a shard of).
fn batch_objective(
    objective: &ObjectiveConfig,
    refs: &RefLogpCache,
    model: &Model,
    batch: &Batch,
    kl: Option<Tensor<1>>,
) -> Result<Objective, TrainError> {
    let device = model_device(model);
    let outputs = model.outputs(batch.ids_tensor(&device), Some(batch.mask_tensor(&device)));
    let out = match objective {
        ObjectiveConfig::Sft => sft_loss(&output_logps(outputs, &batch.labels)?)?,
        ObjectiveConfig::Dpo(cfg) => {
            let policy = output_logps(outputs, &batch.labels)?;
            let refs = refs.batch(&batch.keys, &device)?;
            dpo_loss(&policy, &PairLogps::from_rows(refs)?, cfg)?
        }
        ObjectiveConfig::Simpo(cfg) => simpo_loss(&output_logps(outputs, &batch.labels)?, cfg)?,
        ObjectiveConfig::Orpo(cfg) => {
            let policy = output_logps(outputs, &batch.all_token_labels()?)?;
            orpo_loss(&policy, &batch.labels, cfg)?
        }
        ObjectiveConfig::Kto(cfg) => {
            let kl = kl.ok_or_else(|| {
                TrainError::Config("a KTO batch without the KL estimate of its micro-batch".into())
            })?;
            let policy = output_logps(outputs, &batch.labels)?;
            let reference = refs.batch(&batch.keys, &device)?;
            kto_loss_with_kl(&policy, reference, &batch.desirable, kl, cfg)?
        }
    };
    Ok(out)
}

/// The device the model's parameters live on.
pub(crate) fn model_device(model: &Model) -> Device {
    model.model.embed_tokens.weight.lazy_device()
}

async fn read_scalar(t: Tensor<1>) -> Result<f64, TrainError> {
    t.into_scalar_async::<f64>()
        .await
        .map_err(|e| TrainError::Read(e.to_string()))
}

/// Ranges of eval examples per batch; a KTO remainder of one joins the batch before it.
fn eval_chunks(len: usize, batch: usize, min_batch: usize) -> Vec<std::ops::Range<usize>> {
    let batch = batch.max(1);
    let mut out: Vec<std::ops::Range<usize>> = (0..len)
        .step_by(batch)
        .map(|s| s..(s + batch).min(len))
        .collect();
    if out.len() > 1 && out.last().is_some_and(|r| r.len() < min_batch) {
        let last = out.pop().unwrap_or(0..0);
        if let Some(prev) = out.last_mut() {
            prev.end = last.end;
        }
    }
    out
}

/// Weighted means of metrics over batches; a metric absent from a batch (KTO's per-side
/// metrics when a batch has no example of that side) is averaged over the batches that have it.
#[derive(Debug, Default)]
struct MetricMeans {
    sums: Vec<(String, f64, f64)>,
}

impl MetricMeans {
    fn add(&mut self, values: &Metrics, weight: f64) {
        for (name, value) in values.iter() {
            match self.sums.iter_mut().find(|(n, _, _)| n == name) {
                Some(entry) => {
                    entry.1 += value * weight;
                    entry.2 += weight;
                }
                None => self.sums.push((name.to_string(), value * weight, weight)),
            }
        }
    }

    /// The means, `prefix` before each name; `loss` itself is left out of training steps'
    /// metrics (the event has its own field) but kept for evaluation.
    fn means(&self, prefix: &str) -> Metrics {
        let mut out = Metrics::new();
        for (name, sum, weight) in &self.sums {
            if prefix.is_empty() && name == "loss" {
                continue;
            }
            let mean = if *weight > 0.0 {
                sum / weight
            } else {
                f64::NAN
            };
            out.insert(format!("{prefix}{name}"), mean);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_steps_follow_epochs_and_accumulation() {
        let mut c = TrainConfig::for_method(Method::Sft);
        c.epochs = 2.0;
        c.gradient_accumulation_steps = 4;
        assert_eq!(total_steps(&c, 10), 6); // ceil(10 / 4) = 3 per epoch
        c.epochs = 0.5;
        assert_eq!(total_steps(&c, 10), 2);
        c.steps = Some(7);
        assert_eq!(total_steps(&c, 10), 7);
    }

    #[test]
    fn a_kto_eval_remainder_of_one_joins_the_previous_batch() {
        assert_eq!(eval_chunks(9, 4, 2), [0..4, 4..9]);
        assert_eq!(eval_chunks(9, 4, 1), [0..4, 4..8, 8..9]);
        assert_eq!(eval_chunks(3, 8, 2), vec![0..3]);
    }

    #[test]
    fn metric_means_are_weighted_and_skip_absent_metrics() {
        let mut m = MetricMeans::default();
        let mut a = Metrics::new();
        a.insert("loss", 1.0);
        a.insert("rewards/chosen", 2.0);
        let mut b = Metrics::new();
        b.insert("loss", 4.0);
        m.add(&a, 1.0);
        m.add(&b, 3.0);
        let train = m.means("");
        assert_eq!(train.get("loss"), None);
        assert_eq!(train.get("rewards/chosen"), Some(2.0));
        let eval = m.means("eval_");
        assert_eq!(eval.get("eval_loss"), Some(13.0 / 4.0));
    }
}
