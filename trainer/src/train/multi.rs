//! Several devices for one run (`ajuste train --devices cuda:0,cuda:1`): data parallelism on one
//! machine.
//!
//! The model has a replica on every device; the first device's copy is the one the optimiser
//! updates (the primary). Each micro-batch of `batch_size` examples is cut into contiguous
//! shards, one per device ([`shard_ranges`]); every device computes its shard's objective and
//! gradients, in a thread of its own; the gradients of the step are summed onto the primary, the
//! global norm is clipped and AdamW steps there, once; then the updated trainable parameters are
//! copied back to the replicas.
//!
//! The global batch is the same as on one device (`batch_size × gradient_accumulation_steps`
//! examples), and so is the loss: a shard's loss counts as its share of the micro-batch's
//! ([`Objective::share_of`](crate::objective::Objective::share_of)). SFT's mean over trained
//! tokens weighs each shard by its trained tokens, DPO's mean over pairs by its pairs, ORPO's two
//! terms each by their own items, and a KTO shard uses the KL estimate of the whole micro-batch
//! (computed once, on the primary). The per-step losses and the trained weights equal a
//! one-device run's up to float rounding (`trainer/tests/engine/multi_device.rs` checks every method on
//! CPU replicas). What differs: LoRA dropout draws other masks (each shard is seeded from its
//! micro-batch and its position), and step metrics other than the loss are the shards' means
//! weighted by trained tokens (SFT) or examples, exact for per-token and per-pair means, close
//! for the rest. Evaluation runs on the primary alone.
//!
//! How the gradients reach the primary: on CUDA devices (cargo feature `cuda`) burn's collective
//! `all_reduce` (NCCL) sums them across the devices; on every other backend each gradient is
//! moved to the primary with `to_device` and added there, which is what burn's
//! `MultiGradientsParams` (the `step_multi` path of burn's own optimisers) does. ajuste's
//! optimiser is its own (PyTorch's AdamW with a global-norm clip), so the gathering is written
//! here over its [`GradAccumulator`]. Only trainable values travel: a LoRA run moves its
//! adapters' gradients and weights, never the base model.

use std::ops::Range;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Device, Tensor};

use super::TrainError;
use super::optim::GradAccumulator;
use crate::model::Model;
use crate::objective::{MetricTensors, Objective, ObjectiveError};

/// Work for one device's thread (see [`on_devices`]).
pub(crate) type Job<'a, T> = Box<dyn FnOnce() -> T + Send + 'a>;

/// The devices of a run beyond the first, with the model's replica on each.
pub(crate) struct Replicas {
    /// Every device of the run, the primary first (autodiff enabled).
    pub devices: Vec<Device>,
    /// The replicas on `devices[1..]`.
    pub models: Vec<Model>,
    /// How gradients are summed onto the primary.
    pub gather: Gather,
}

/// How the gradients of the devices are summed onto the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gather {
    /// Each gradient moved to the primary (`to_device`) and added: any backend.
    Transfer,
    /// burn's `all_reduce` (NCCL) across the CUDA devices.
    #[cfg(feature = "cuda")]
    AllReduce,
}

impl Replicas {
    /// Replicas of `model` (on `devices[0]`) on `devices[1..]`.
    ///
    /// # Errors
    /// [`TrainError::Config`] when a device has no autodiff or the first is not the model's.
    pub fn new(model: &Model, devices: Vec<Device>, all_reduce: bool) -> Result<Self, TrainError> {
        let primary = model_device(model);
        match devices.first() {
            Some(first) if *first == primary => {}
            _ => {
                return Err(TrainError::Config(
                    "the first of the devices must be the one the model is on".into(),
                ));
            }
        }
        if let Some(i) = devices.iter().position(|d| !d.is_autodiff()) {
            return Err(TrainError::Config(format!(
                "device {i} of the run has no autodiff; pass `device.autodiff()`"
            )));
        }
        let models = devices[1..].iter().map(|d| model.clone().fork(d)).collect();
        Ok(Replicas {
            devices,
            models,
            gather: gather_for(all_reduce),
        })
    }

    /// The model on device `i` of the run (0: the primary, `primary` itself).
    pub fn model<'a>(&'a self, primary: &'a Model, i: usize) -> &'a Model {
        if i == 0 { primary } else { &self.models[i - 1] }
    }
}

#[cfg(feature = "cuda")]
fn gather_for(all_reduce: bool) -> Gather {
    if all_reduce {
        Gather::AllReduce
    } else {
        Gather::Transfer
    }
}

#[cfg(not(feature = "cuda"))]
fn gather_for(_all_reduce: bool) -> Gather {
    Gather::Transfer
}

/// The device the model's parameters live on.
fn model_device(model: &Model) -> Device {
    model.model.embed_tokens.weight.lazy_device()
}

/// Cuts `len` examples into at most `parts` contiguous, non-empty ranges whose sizes differ by
/// at most one (the first ones take the remainder).
pub fn shard_ranges(len: usize, parts: usize) -> Vec<Range<usize>> {
    let parts = parts.clamp(1, len.max(1));
    let (base, extra) = (len / parts, len % parts);
    let mut start = 0;
    (0..parts)
        .map(|i| {
            let size = base + usize::from(i < extra);
            let range = start..start + size;
            start += size;
            range
        })
        .filter(|r| !r.is_empty())
        .collect()
}

/// Runs one job per device, each on a thread of its own natively (one after the other in
/// WebAssembly, which has no threads), and returns their results in order.
pub(crate) fn on_devices<T: Send>(jobs: Vec<Box<dyn FnOnce() -> T + Send + '_>>) -> Vec<T> {
    #[cfg(not(target_family = "wasm"))]
    {
        if jobs.len() > 1 {
            return std::thread::scope(|scope| {
                let handles: Vec<_> = jobs.into_iter().map(|job| scope.spawn(job)).collect();
                handles
                    .into_iter()
                    .map(|h| match h.join() {
                        Ok(value) => value,
                        Err(panic) => std::panic::resume_unwind(panic),
                    })
                    .collect()
            });
        }
    }
    jobs.into_iter().map(|job| job()).collect()
}

/// The backward half of a sharded micro-batch: each shard's part of the micro-batch's loss
/// ([`Objective::share_of`] the shards' totals), divided by `accumulation`, back-propagated on
/// its device (a thread each) into that device's accumulator.
///
/// # Returns
/// Per shard, its part of the loss and its metrics.
pub(crate) fn backward_shares(
    replicas: &Replicas,
    primary: &Model,
    objectives: Vec<Objective>,
    grads: &mut [GradAccumulator],
    accumulation: f64,
) -> Result<Vec<(Tensor<1>, MetricTensors)>, ObjectiveError> {
    let totals = Objective::term_totals(&objectives)?;
    let jobs: Vec<Job<'_, _>> = objectives
        .into_iter()
        .zip(grads.iter_mut())
        .enumerate()
        .map(|(i, (shard, acc))| {
            let (model, totals) = (replicas.model(primary, i), &totals);
            Box::new(move || {
                let part = shard.share_of(totals);
                acc.accumulate(model, (part.clone() / accumulation).backward());
                (part, shard.metrics)
            }) as Job<'_, _>
        })
        .collect();
    Ok(on_devices(jobs))
}

/// Sums the accumulated gradients of every device onto the primary (`accumulated[0]`, on
/// `devices[0]`).
///
/// # Arguments
/// - `accumulated`: one accumulator per device, in the order of `devices`; a device that got
///   no shard this step has an empty one.
/// - `replicas`: the devices, the replicas and how to gather.
/// - `primary`: the primary model (for the trainable parameters an all-reduce needs).
pub(crate) fn gather(
    mut accumulated: Vec<GradAccumulator>,
    replicas: &Replicas,
    primary: &Model,
) -> GradAccumulator {
    match replicas.gather {
        Gather::Transfer => {
            let _ = primary; // only an all-reduce needs it
            let device = replicas.devices[0].clone().without_autodiff();
            let mut rest = accumulated.split_off(1);
            let mut total = accumulated.pop().unwrap_or_default();
            for other in rest.drain(..) {
                total.add_from(other, &device);
            }
            total
        }
        #[cfg(feature = "cuda")]
        Gather::AllReduce => all_reduce(accumulated, replicas, primary),
    }
}

/// burn's NCCL `all_reduce` (sum) of every trainable gradient, each device on its own thread
/// (the collective needs all of them at once); the primary's result is kept.
///
/// Not run on this project's machines (no GPU, and the `cuda` feature cannot build there).
#[cfg(feature = "cuda")]
fn all_reduce(
    accumulated: Vec<GradAccumulator>,
    replicas: &Replicas,
    primary: &Model,
) -> GradAccumulator {
    use burn::tensor::distributed::{ReduceOperation, all_reduce};

    let devices: Vec<Device> = replicas
        .devices
        .iter()
        .map(|d| d.clone().without_autodiff())
        .collect();
    let jobs: Vec<Box<dyn FnOnce() -> GradAccumulator + Send + '_>> = accumulated
        .into_iter()
        .enumerate()
        .map(|(i, mut acc)| {
            let devices = devices.clone();
            let model = replicas.model(primary, i);
            Box::new(move || {
                // Every device joins the collective for every parameter, in the same order,
                // with zeros where it had no shard.
                acc.fill_missing(model, &devices[i]);
                acc.map_grads(|g| all_reduce(g, ReduceOperation::Sum, devices.clone()).resolve());
                acc
            }) as Box<dyn FnOnce() -> GradAccumulator + Send + '_>
        })
        .collect();
    on_devices(jobs).into_iter().next().unwrap_or_default()
}

/// Copies the primary's trainable parameters to every replica, as fresh leaves on its device
/// (the frozen weights never change, so they stay where they are).
pub(crate) fn sync_replicas(primary: &Model, replicas: &mut Replicas) {
    let mut collect = Trainable::default();
    primary.visit(&mut collect);
    let devices = &replicas.devices[1..];
    replicas.models = std::mem::take(&mut replicas.models)
        .into_iter()
        .zip(devices)
        .map(|(model, device)| {
            model.map(&mut Replace {
                values: &collect.values,
                device: device.clone(),
            })
        })
        .collect();
}

/// The trainable parameters of a model: id → value (flattened, without autodiff) and shape.
#[derive(Default)]
struct Trainable {
    values: std::collections::HashMap<ParamId, (Tensor<1>, Vec<usize>)>,
}

impl ModuleVisitor for Trainable {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        if !value.is_require_grad() {
            return;
        }
        let dims = value.dims().to_vec();
        let n = dims.iter().product::<usize>();
        self.values
            .insert(param.id, (value.inner().reshape([n]), dims));
    }
}

/// Replaces the parameters found in `values` (same ids: replicas are forks) by those values
/// moved to `device`, as trainable leaves with the replica's autodiff settings.
struct Replace<'a> {
    values: &'a std::collections::HashMap<ParamId, (Tensor<1>, Vec<usize>)>,
    device: Device,
}

impl ModuleMapper for Replace<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some((value, dims)) = self.values.get(&param.id) else {
            return param;
        };
        let (id, tensor, mapper) = param.consume();
        let strategy = tensor.gradient_checkpointing_strategy();
        let dims: [usize; D] = match dims.as_slice().try_into() {
            Ok(d) => d,
            // Same id, another rank: not a replica of this parameter.
            Err(_) => return Param::from_mapped_value(id, tensor, mapper),
        };
        let moved = value
            .clone()
            .to_device(&self.device.clone().without_autodiff())
            .reshape(dims);
        let mut fresh = Tensor::from_inner(moved);
        if let Some(s) = strategy {
            fresh = fresh.with_gradient_checkpointing_strategy(s);
        }
        Param::from_mapped_value(id, fresh.require_grad(), mapper)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_contiguous_balanced_and_never_empty() {
        assert_eq!(shard_ranges(8, 2), [0..4, 4..8]);
        assert_eq!(shard_ranges(5, 2), [0..3, 3..5]);
        assert_eq!(shard_ranges(7, 3), [0..3, 3..5, 5..7]);
        // Fewer examples than devices: one example each, the rest idle.
        assert_eq!(shard_ranges(2, 4), [0..1, 1..2]);
        assert_eq!(shard_ranges(3, 1).len(), 1);
        assert_eq!(shard_ranges(3, 1)[0], 0..3);
        assert_eq!(shard_ranges(0, 2), Vec::<Range<usize>>::new());
    }

    #[test]
    fn jobs_run_and_keep_their_order() {
        let data = [1, 2, 3];
        let jobs: Vec<Box<dyn FnOnce() -> i32 + Send + '_>> = data
            .iter()
            .map(|&x| Box::new(move || x * 10) as Box<dyn FnOnce() -> i32 + Send>)
            .collect();
        assert_eq!(on_devices(jobs), [10, 20, 30]);
    }
}
