//! AdamW with global-norm gradient clipping and gradient accumulation, as PyTorch does them.
//!
//! burn 0.22's `AdamW` computes the same update (decoupled decay, bias correction, epsilon
//! added after the square root), but with bias corrections in f32 (`beta.powi(t)` on f32;
//! PyTorch computes them in f64 Python floats), its state saves only through burn's recorder,
//! and its `GradientClipping::Norm` clips each parameter on its own, where
//! `torch.nn.utils.clip_grad_norm_` scales every gradient by one factor from the norm of all of
//! them. So the step is written here, over whatever parameters of the model require a gradient
//! (the adapters, or every weight for a full fine-tune), in `torch.optim.AdamW`'s order of
//! operations (single-tensor implementation, `amsgrad=False`, `maximize=False`):
//!
//! ```text
//! p  ← p · (1 − lr·λ)                       decoupled weight decay
//! m  ← lerp(m, g, 1 − β₁)                    = m + (1 − β₁)(g − m)
//! v  ← v·β₂ + (1 − β₂)·g²
//! p  ← p − (lr / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
//! ```
//!
//! Parameters are identified by their module path (`model.layers.0.self_attn.q_proj.adapters.0
//! .lora_a`), which is stable across processes, so optimiser state saved in a checkpoint finds
//! its parameter again after a reload (burn's `ParamId`s are new on every load). Weight decay is
//! skipped for biases and norm weights, as the Hugging Face Trainer's
//! `get_decay_parameter_names` does.
//!
//! Gradient accumulation: each micro-batch's loss is divided by the number of micro-batches
//! before `backward`, and the gradients are summed here ([`GradAccumulator`]), as the Hugging Face
//! Trainer does when the model does not take `num_items_in_batch`: every micro-batch weighs the
//! same, whatever its token count.

use std::collections::{BTreeMap, HashMap};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::{Device, Gradients, Tensor, TensorData};

use super::TrainError;
use crate::model::{HostTensor, Model};

/// AdamW's hyper-parameters. Defaults are the Hugging Face Trainer's (`adam_beta1` 0.9,
/// `adam_beta2` 0.999, `adam_epsilon` 1e-8, `weight_decay` 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWConfig {
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to the denominator.
    pub eps: f64,
    /// Decoupled weight decay λ (multiplied by the learning rate).
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// Whether weight decay applies to the parameter at `path`: not to biases and norm weights.
pub fn decays(path: &str) -> bool {
    !(path.contains("bias") || path.contains("norm"))
}

/// A trainable parameter seen while walking the model.
#[derive(Debug, Clone)]
pub struct TrainableParam {
    /// Its module path, dot-separated.
    pub path: String,
    /// burn's id of it in this process.
    pub id: ParamId,
    /// Its shape.
    pub dims: Vec<usize>,
}

/// A trainable parameter and, when gradients were given, its gradient (flattened, on the device
/// without autodiff).
struct Visited {
    param: TrainableParam,
    grad: Option<Tensor<1>>,
}

/// Walks a module, keeping the path of the current submodule, and collects the parameters that
/// require a gradient (taking their gradients out of `grads` when given).
struct PathVisitor<'a> {
    path: Vec<String>,
    grads: Option<&'a mut Gradients>,
    found: Vec<Visited>,
}

impl ModuleVisitor for PathVisitor<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        if !value.is_require_grad() {
            return;
        }
        let dims = value.dims().to_vec();
        let n = dims.iter().product::<usize>();
        // Gradients are kept flat: the optimiser's arithmetic is element-wise, so the rank does
        // not matter, and one type keeps all the state in one map.
        let grad = self
            .grads
            .as_deref_mut()
            .and_then(|g| value.grad_remove(g))
            .map(|g| g.reshape([n]));
        self.found.push(Visited {
            param: TrainableParam {
                path: self.path.join("."),
                id: param.id,
                dims,
            },
            grad,
        });
    }
}

fn visit(model: &Model, grads: Option<&mut Gradients>) -> Vec<Visited> {
    let mut visitor = PathVisitor {
        path: Vec::new(),
        grads,
        found: Vec::new(),
    };
    model.visit(&mut visitor);
    visitor.found
}

/// Every parameter of `model` that requires a gradient, in module order.
pub fn trainable_params(model: &Model) -> Vec<TrainableParam> {
    visit(model, None).into_iter().map(|v| v.param).collect()
}

/// The number of trainable values of `model`.
pub fn num_trainable(model: &Model) -> usize {
    trainable_params(model)
        .iter()
        .map(|p| p.dims.iter().product::<usize>())
        .sum()
}

/// One accumulated gradient, flattened, on the device without autodiff.
#[derive(Debug, Clone)]
struct AccumulatedGrad {
    id: ParamId,
    grad: Tensor<1>,
}

/// Gradients of the trainable parameters summed over the micro-batches of one optimiser step.
#[derive(Debug, Clone, Default)]
pub struct GradAccumulator {
    grads: BTreeMap<String, AccumulatedGrad>,
}

impl GradAccumulator {
    /// Nothing accumulated yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the gradients of one backward pass (taking them out of `grads`).
    pub fn accumulate(&mut self, model: &Model, mut grads: Gradients) {
        for v in visit(model, Some(&mut grads)) {
            let Some(g) = v.grad else { continue };
            match self.grads.get_mut(&v.param.path) {
                Some(a) => a.grad = a.grad.clone() + g,
                None => {
                    let id = v.param.id;
                    self.grads
                        .insert(v.param.path, AccumulatedGrad { id, grad: g });
                }
            }
        }
    }

    /// Adds every gradient of `other` (accumulated on another device) to this one's, moving it
    /// to `device` first; a parameter only `other` has is taken over. burn's
    /// `MultiGradientsParams::remove` sums gradients of several devices the same way.
    pub fn add_from(&mut self, other: GradAccumulator, device: &Device) {
        for (path, a) in other.grads {
            let grad = a.grad.to_device(device);
            match self.grads.get_mut(&path) {
                Some(mine) => mine.grad = mine.grad.clone() + grad,
                None => {
                    self.grads.insert(path, AccumulatedGrad { id: a.id, grad });
                }
            }
        }
    }

    /// Adds a zero gradient on `device` for every trainable parameter of `model` that has none
    /// yet (a device that got no shard still joins a collective with every parameter).
    #[cfg(feature = "cuda")]
    pub(crate) fn fill_missing(&mut self, model: &Model, device: &Device) {
        for p in trainable_params(model) {
            let n = p.dims.iter().product::<usize>();
            self.grads.entry(p.path).or_insert_with(|| AccumulatedGrad {
                id: p.id,
                grad: Tensor::zeros([n], device),
            });
        }
    }

    /// Replaces every gradient by `f` of it, in path order (the same order on every device).
    #[cfg(feature = "cuda")]
    pub(crate) fn map_grads(&mut self, mut f: impl FnMut(Tensor<1>) -> Tensor<1>) {
        for a in self.grads.values_mut() {
            a.grad = f(a.grad.clone());
        }
    }

    /// Whether no gradient was accumulated.
    pub fn is_empty(&self) -> bool {
        self.grads.is_empty()
    }

    /// `[1]`: the L2 norm of all gradients together, `None` without gradients.
    pub fn global_norm(&self) -> Option<Tensor<1>> {
        let squares: Vec<Tensor<1>> = self
            .grads
            .values()
            .map(|a| a.grad.clone().square().sum())
            .collect();
        (!squares.is_empty()).then(|| Tensor::cat(squares, 0).sum().sqrt())
    }

    /// `torch.nn.utils.clip_grad_norm_`: scales every gradient by
    /// `min(1, max_norm / (norm + 1e-6))`. Returns the norm before clipping (what the Hugging Face
    /// Trainer logs as `grad_norm`). `max_norm <= 0` leaves the gradients as they are.
    pub fn clip(&mut self, max_norm: f64) -> Option<Tensor<1>> {
        let norm = self.global_norm()?;
        if max_norm > 0.0 {
            let coef = ((norm.clone() + 1e-6).recip() * max_norm).clamp_max(1.0); // [1]
            for a in self.grads.values_mut() {
                a.grad = a.grad.clone() * coef.clone();
            }
        }
        Some(norm)
    }
}

/// The two moments of one parameter, flattened, on the device without autodiff.
#[derive(Debug, Clone)]
struct Moments {
    exp_avg: Tensor<1>,
    exp_avg_sq: Tensor<1>,
}

/// AdamW over the trainable parameters of a [`Model`].
#[derive(Debug, Clone)]
pub struct AdamW {
    config: AdamWConfig,
    /// Updates applied so far (PyTorch's per-parameter `step`; every parameter is updated on
    /// every step here).
    steps: u64,
    moments: BTreeMap<String, Moments>,
}

/// The file names of the two moments of a parameter in a saved state.
fn state_keys(path: &str) -> (String, String) {
    (format!("{path}.exp_avg"), format!("{path}.exp_avg_sq"))
}

impl AdamW {
    /// A fresh optimiser.
    pub fn new(config: AdamWConfig) -> Self {
        AdamW {
            config,
            steps: 0,
            moments: BTreeMap::new(),
        }
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &AdamWConfig {
        &self.config
    }

    /// Updates taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// One update of every parameter that has a gradient in `grads`, at learning rate `lr`.
    pub fn step(&mut self, model: Model, grads: GradAccumulator, lr: f64) -> Model {
        self.steps += 1;
        let c = self.config;
        let mut updates: HashMap<ParamId, (String, Tensor<1>)> = grads
            .grads
            .into_iter()
            .map(|(path, a)| (a.id, (path, a.grad)))
            .collect();
        let moments = &mut self.moments;
        let steps = self.steps;
        let mut mapper = UpdateMapper {
            update: |param: Tensor<1>, path: &str, grad: Tensor<1>| {
                let state = moments.remove(path).map(|m| (m.exp_avg, m.exp_avg_sq));
                let (p, (exp_avg, exp_avg_sq)) =
                    adamw_update(param, grad, state, steps, lr, &c, decays(path));
                moments.insert(
                    path.to_string(),
                    Moments {
                        exp_avg,
                        exp_avg_sq,
                    },
                );
                p
            },
            updates: &mut updates,
        };
        model.map(&mut mapper)
    }

    /// The state as host tensors, `<path>.exp_avg` and `<path>.exp_avg_sq`, flattened, read
    /// asynchronously (works in the browser).
    pub async fn export(&self) -> Result<BTreeMap<String, HostTensor>, TrainError> {
        let mut out = BTreeMap::new();
        for (path, m) in &self.moments {
            let (k1, k2) = state_keys(path);
            out.insert(k1, read_host(m.exp_avg.clone()).await?);
            out.insert(k2, read_host(m.exp_avg_sq.clone()).await?);
        }
        Ok(out)
    }

    /// Restores a state written by [`AdamW::export`] after `steps` updates, for the parameters
    /// of `model`.
    ///
    /// # Errors
    /// [`TrainError::Checkpoint`] when a trainable parameter has no saved moments or they have
    /// the wrong size, or a saved parameter is not trainable in `model`.
    pub fn import(
        config: AdamWConfig,
        steps: u64,
        state: &BTreeMap<String, HostTensor>,
        model: &Model,
        device: &Device,
    ) -> Result<Self, TrainError> {
        let params = trainable_params(model);
        let mut moments = BTreeMap::new();
        let bad = |reason: String| TrainError::Checkpoint { reason };
        for p in &params {
            let n: usize = p.dims.iter().product();
            let (k1, k2) = state_keys(&p.path);
            let get = |key: &str| -> Result<Tensor<1>, TrainError> {
                let (shape, values) = state
                    .get(key)
                    .ok_or_else(|| bad(format!("the optimiser state has no `{key}`")))?;
                if shape.iter().product::<usize>() != n || values.len() != n {
                    return Err(bad(format!(
                        "`{key}` holds {} values, the parameter has {n}",
                        values.len()
                    )));
                }
                Ok(Tensor::from_data(
                    TensorData::new(values.clone(), [n]),
                    device,
                ))
            };
            if steps > 0 {
                moments.insert(
                    p.path.clone(),
                    Moments {
                        exp_avg: get(&k1)?,
                        exp_avg_sq: get(&k2)?,
                    },
                );
            }
        }
        if let Some(extra) = state.keys().find(|k| {
            !params.iter().any(|p| {
                k.strip_prefix(p.path.as_str())
                    .is_some_and(|s| s.starts_with(".exp"))
            })
        }) {
            return Err(bad(format!(
                "the optimiser state has `{extra}`, which is no trainable parameter of this model"
            )));
        }
        Ok(AdamW {
            config,
            steps,
            moments,
        })
    }
}

/// One AdamW update of one (flattened) parameter, in `torch.optim.AdamW`'s order of operations.
///
/// # Arguments
/// - `param`, `grad`: `[n]`, on a device without autodiff.
/// - `state`: the moments `(exp_avg, exp_avg_sq)` before the update; `None` on the first.
/// - `step`: the update's number, 1 for the first (bias corrections use it).
/// - `lr`: the learning rate; `decay`: whether weight decay applies to this parameter.
///
/// # Returns
/// The updated parameter and moments.
pub fn adamw_update(
    param: Tensor<1>,
    grad: Tensor<1>,
    state: Option<(Tensor<1>, Tensor<1>)>,
    step: u64,
    lr: f64,
    config: &AdamWConfig,
    decay: bool,
) -> (Tensor<1>, (Tensor<1>, Tensor<1>)) {
    let c = config;
    let mut p = param;
    if c.weight_decay != 0.0 && decay {
        p = p * (1.0 - lr * c.weight_decay);
    }
    let (exp_avg, exp_avg_sq) = match state {
        Some((m, v)) => (
            m.clone() + (grad.clone() - m) * (1.0 - c.beta1),
            v * c.beta2 + grad.clone() * grad * (1.0 - c.beta2),
        ),
        // lerp from zeros, and β₂·0 + (1 − β₂)·g².
        None => (
            grad.clone() * (1.0 - c.beta1),
            grad.clone() * grad * (1.0 - c.beta2),
        ),
    };
    // Bias corrections in f64, as PyTorch computes them from Python floats.
    let t = step.min(i32::MAX as u64) as i32;
    let step_size = lr / (1.0 - c.beta1.powi(t));
    let bias_correction2_sqrt = (1.0 - c.beta2.powi(t)).sqrt();
    let denom = exp_avg_sq.clone().sqrt() / bias_correction2_sqrt + c.eps;
    let p = p - exp_avg.clone() / denom * step_size;
    (p, (exp_avg, exp_avg_sq))
}

/// Reads a flat tensor to the host.
async fn read_host(t: Tensor<1>) -> Result<HostTensor, TrainError> {
    let dims = t.dims().to_vec();
    let data = t
        .into_data_async()
        .await
        .map_err(|e| TrainError::Read(e.to_string()))?;
    let values = data
        .try_into_vec_as::<f32>()
        .map_err(|e| TrainError::Read(e.to_string()))?;
    Ok((dims, values))
}

/// Replaces parameters by their updated values, keeping each one's autodiff settings.
struct UpdateMapper<'a, F> {
    update: F,
    updates: &'a mut HashMap<ParamId, (String, Tensor<1>)>,
}

impl<F: FnMut(Tensor<1>, &str, Tensor<1>) -> Tensor<1>> ModuleMapper for UpdateMapper<'_, F> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some((path, grad)) = self.updates.remove(&param.id) else {
            return param;
        };
        let (id, tensor, mapper) = param.consume();
        let dims = tensor.dims();
        let n = dims.iter().product::<usize>();
        let require_grad = tensor.is_require_grad();
        let strategy = tensor.gradient_checkpointing_strategy();
        let updated = (self.update)(tensor.inner().reshape([n]), &path, grad);
        // Back onto the autodiff device as a fresh leaf, with the settings it had (the same
        // thing burn's own optimisers do).
        let mut value = Tensor::from_inner(updated.reshape(dims));
        if let Some(s) = strategy {
            value = value.with_gradient_checkpointing_strategy(s);
        }
        if require_grad {
            value = value.require_grad();
        }
        Param::from_mapped_value(id, value, mapper)
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Int, TensorData};
    use serde_json::Value;

    use super::*;
    use crate::adapter::{AdapterSpec, LoraConfig};
    use crate::model::{ModelConfig, RandomWeights};

    fn flat(v: &Value) -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    }

    fn tensor(v: &[f32]) -> Tensor<1> {
        Tensor::from_data(TensorData::new(v.to_vec(), [v.len()]), &Device::flex())
    }

    fn values(t: &Tensor<1>) -> Vec<f32> {
        t.clone().try_into_vec_as::<f32>().unwrap()
    }

    fn assert_close(got: &[f32], want: &[f32], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}");
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g - w).abs() <= 1e-6 + 1e-5 * w.abs(),
                "{what}: {got:?} vs {want:?}"
            );
        }
    }

    /// torch.optim.AdamW after clip_grad_norm_, three steps (tests/golden/train.py).
    #[test]
    fn clipping_and_three_steps_match_torch() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/golden/train/adamw.json"
        );
        let golden: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let config = AdamWConfig {
            weight_decay: golden["weight_decay"].as_f64().unwrap(),
            ..AdamWConfig::default()
        };
        let names = ["layers.0.q_proj.lora_a", "layers.0.input_layernorm.weight"];
        let mut params = [
            tensor(&flat(&golden["start"]["a"])),
            tensor(&flat(&golden["start"]["norm"])),
        ];
        let mut states: [Option<(Tensor<1>, Tensor<1>)>; 2] = [None, None];
        for (i, step) in golden["steps"].as_array().unwrap().iter().enumerate() {
            let mut acc = GradAccumulator::new();
            for (name, key) in names.iter().zip(["grad_a", "grad_norm_w"]) {
                acc.grads.insert(
                    name.to_string(),
                    AccumulatedGrad {
                        id: ParamId::new(),
                        grad: tensor(&flat(&step[key])),
                    },
                );
            }
            let norm = acc.clip(golden["max_grad_norm"].as_f64().unwrap()).unwrap();
            let want_norm = step["grad_norm"].as_f64().unwrap() as f32;
            assert!((values(&norm)[0] - want_norm).abs() < 1e-5 * want_norm);
            let lr = step["lr"].as_f64().unwrap();
            for (j, name) in names.iter().enumerate() {
                let grad = acc.grads[*name].grad.clone();
                let (p, s) = adamw_update(
                    params[j].clone(),
                    grad,
                    states[j].take(),
                    i as u64 + 1,
                    lr,
                    &config,
                    decays(name),
                );
                params[j] = p;
                states[j] = Some(s);
            }
            assert_close(&values(&params[0]), &flat(&step["a"]), "a");
            assert_close(&values(&params[1]), &flat(&step["norm"]), "norm");
        }
        let (m, v) = states[0].clone().unwrap();
        assert_close(&values(&m), &flat(&golden["exp_avg_a"]), "exp_avg");
        assert_close(&values(&v), &flat(&golden["exp_avg_sq_a"]), "exp_avg_sq");
    }

    #[test]
    fn a_norm_below_the_limit_is_left_alone() {
        let mut acc = GradAccumulator::new();
        acc.grads.insert(
            "w".into(),
            AccumulatedGrad {
                id: ParamId::new(),
                grad: tensor(&[0.3, 0.4]),
            },
        );
        let norm = acc.clip(1.0).unwrap();
        assert!((values(&norm)[0] - 0.5).abs() < 1e-7);
        assert_close(&values(&acc.grads["w"].grad), &[0.3, 0.4], "unclipped");
        assert!(GradAccumulator::new().clip(1.0).is_none());
    }

    fn tiny(device: &Device) -> Model {
        let json = r#"{"model_type":"llama","hidden_size":16,"intermediate_size":24,
            "num_attention_heads":2,"num_key_value_heads":1,"num_hidden_layers":1,"vocab_size":20}"#;
        let cfg = ModelConfig::from_json(json.as_bytes(), "tiny").unwrap();
        let w = RandomWeights {
            seed: 5,
            std: 0.2,
            tied: true,
        };
        Model::from_weights(cfg, &w, device).unwrap()
    }

    fn loss(model: &Model, device: &Device) -> Tensor<1> {
        let ids = Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 4, 9, 3], [1, 4]), device);
        model.forward(ids, None).square().mean()
    }

    #[test]
    fn only_adapter_parameters_are_trainable_and_updated() {
        let device = Device::flex().autodiff();
        let mut model = tiny(&device);
        model
            .apply_adapters(&AdapterSpec::lora(LoraConfig::default(), 1))
            .unwrap();
        let params = trainable_params(&model);
        assert_eq!(params.len(), 7 * 2);
        assert!(
            params
                .iter()
                .all(|p| p.path.ends_with("lora_a") || p.path.ends_with("lora_b")),
            "{params:?}"
        );
        let paths: Vec<&str> = params.iter().map(|p| p.path.as_str()).collect();
        let mut dedup = paths.clone();
        dedup.dedup();
        assert_eq!(dedup.len(), paths.len(), "paths are unique: {paths:?}");

        let embed_before = model.model.embed_tokens.weight.val().inner();
        let mut acc = GradAccumulator::new();
        acc.accumulate(&model, loss(&model, &device).backward());
        assert_eq!(acc.grads.len(), 7 * 2);
        let mut opt = AdamW::new(AdamWConfig::default());
        let model = opt.step(model, acc, 1e-2);
        assert_eq!(opt.steps(), 1);
        // B starts at zero and receives a non-zero update; the base does not move.
        let b = model.adapter_values("default").unwrap();
        assert!(
            b.iter()
                .filter(|(k, _)| k.ends_with("lora_B.weight"))
                .all(|(_, (_, v))| v.iter().any(|x| *x != 0.0))
        );
        let embed_after = model.model.embed_tokens.weight.val().inner();
        assert_eq!(
            values(&embed_before.reshape([320])),
            values(&embed_after.reshape([320]))
        );
        assert_eq!(
            trainable_params(&model).len(),
            14,
            "still trainable after the step"
        );
    }

    #[test]
    fn a_full_fine_tune_trains_every_weight_but_decays_no_norm() {
        let device = Device::flex().autodiff();
        let model = tiny(&device).set_require_grad(true);
        let params = trainable_params(&model);
        // embeddings, 2 norms + 7 projections per layer, the final norm (lm_head is tied).
        assert_eq!(params.len(), 1 + 9 + 1, "{params:?}");
        let norms: Vec<&TrainableParam> = params.iter().filter(|p| !decays(&p.path)).collect();
        assert_eq!(norms.len(), 3, "{params:?}");
        let before: f32 = loss(&model, &device).into_scalar();
        let mut opt = AdamW::new(AdamWConfig::default());
        let mut model = model;
        for _ in 0..3 {
            let mut acc = GradAccumulator::new();
            acc.accumulate(&model, loss(&model, &device).backward());
            model = opt.step(model, acc, 1e-2);
        }
        let after: f32 = loss(&model, &device).into_scalar();
        assert!(after < before, "{after} >= {before}");
    }

    #[test]
    fn state_round_trips_through_host_tensors() {
        let device = Device::flex().autodiff();
        let mut model = tiny(&device);
        model
            .apply_adapters(&AdapterSpec::lora(LoraConfig::default(), 1))
            .unwrap();
        let mut acc = GradAccumulator::new();
        acc.accumulate(&model, loss(&model, &device).backward());
        let mut opt = AdamW::new(AdamWConfig::default());
        let model = opt.step(model, acc, 1e-2);
        let state = burn::tensor::read_sync(opt.export()).unwrap();
        assert_eq!(state.len(), 2 * 14);
        let back =
            AdamW::import(AdamWConfig::default(), 1, &state, &model, &Device::flex()).unwrap();
        assert_eq!(burn::tensor::read_sync(back.export()).unwrap(), state);
        let mut missing = state.clone();
        let key = missing.keys().next().unwrap().clone();
        missing.remove(&key);
        let err = AdamW::import(AdamWConfig::default(), 1, &missing, &model, &Device::flex())
            .unwrap_err();
        assert!(err.to_string().contains(&key), "{err}");
    }
}
