//! The linear layer every projection of the model uses: a frozen base (dense or NF4) plus any
//! number of LoRA / rsLoRA / DoRA adapters.
//!
//! Orientation follows Hugging Face and PEFT so that loading and exporting never transpose:
//! the base weight is `[out, in]`, `lora_A` is `[r, in]`, `lora_B` is `[out, r]`, DoRA's
//! magnitude is `[out]`. The forward pass multiplies by the transposes (burn's matmul reads
//! strided operands, the transposes are views; see [`project`]).
//!
//! The LoRA branch is computed as `s · ((dropout(x) · Aᵀ) · Bᵀ)`: two thin matmuls, never the
//! dense `W + s·B·A`. DoRA follows PEFT's `DoraLinearLayer.forward`:
//! `(m / ‖W + s·B·A‖_row − 1) · (x·Wᵀ) + (m / ‖W + s·B·A‖_row) · s · lora(x)`, the row norm
//! detached from the graph (DoRA paper §4.3), computed from a dense `B·A` as PEFT does.
//!
//! Several adapters add their terms, each times its weight. Each DoRA term rescales the base
//! output `x·Wᵀ`; PEFT rescales the running sum of the earlier adapters' outputs instead, so
//! the two agree for one adapter (the only case PEFT trains) and differ when DoRA adapters are
//! stacked.

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::{Device, Tensor, TensorData};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::LoraConfig;
use super::nf4::Nf4Weight;
use crate::model::fused;

/// The frozen weight of a [`Linear`], `[out, in]`.
// The NF4 variant holds five tensor handles; there is one of these per layer, and burn's
// Module derive cannot see through a Box, so the size difference is accepted.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum BaseWeight {
    /// A dense f32 matrix (never requires a gradient).
    Dense(Param<Tensor<2>>),
    /// NF4-quantised (QLoRA), dequantised on use.
    Nf4(Nf4Weight),
}

impl BaseWeight {
    /// The dense `[out, in]` matrix (dequantised for NF4).
    pub fn dense(&self) -> Tensor<2> {
        match self {
            BaseWeight::Dense(w) => w.val(),
            BaseWeight::Nf4(q) => q.dequantize(),
        }
    }

    /// Whether the base is NF4.
    pub fn is_quantized(&self) -> bool {
        matches!(self, BaseWeight::Nf4(_))
    }
}

/// One LoRA adapter of one layer.
#[derive(Module, Debug)]
pub struct LoraAdapter {
    /// Adapter name (PEFT's adapter name; `default` for the first).
    pub name: String,
    /// `[r, in]`, PEFT's `lora_A.weight`.
    pub lora_a: Param<Tensor<2>>,
    /// `[out, r]`, PEFT's `lora_B.weight`.
    pub lora_b: Param<Tensor<2>>,
    /// DoRA magnitude `[out]`, PEFT's `lora_magnitude_vector`; `None` for plain LoRA.
    pub magnitude: Option<Param<Tensor<1>>>,
    /// Dropout on the adapter's input (active only while training on an autodiff device).
    pub dropout: Dropout,
    /// `alpha / r`, or `alpha / sqrt(r)` with rsLoRA.
    pub scaling: f64,
    /// Weight of this adapter when several are combined (1.0 alone).
    pub weight: f64,
    /// Whether the adapter's delta has been folded into the base weight.
    pub merged: bool,
    /// DoRA: the row norm used when merging, kept to undo the merge exactly.
    pub merged_norm: Option<Tensor<1>>,
    /// The hyper-parameters it was made with (written to `adapter_config.json`).
    #[module(skip)]
    pub config: LoraConfig,
}

impl LoraAdapter {
    /// A fresh adapter initialised as PEFT does (`init_lora_weights=True`): A Kaiming-uniform
    /// with `a = sqrt(5)` (bounds ±1/sqrt(in)), B zero, so the adapter starts as a no-op; DoRA's
    /// magnitude starts at the row norms of the base weight.
    ///
    /// A is drawn on the host from `seed`, so the same seed gives the same adapter on every
    /// backend.
    pub fn init(name: &str, cfg: &LoraConfig, base: &Tensor<2>, seed: u64) -> Self {
        let [out, inp] = base.dims();
        let device = base.device();
        let bound = 1.0 / (inp as f64).sqrt();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let a: Vec<f32> = (0..cfg.r * inp)
            .map(|_| rng.random_range(-bound..bound) as f32)
            .collect();
        let a = Tensor::<2>::from_data(TensorData::new(a, [cfg.r, inp]), &device);
        let b = Tensor::<2>::zeros([out, cfg.r], &device);
        let magnitude = cfg.use_dora.then(|| row_norm(base.clone().detach()));
        Self::from_tensors(name, cfg, a, b, magnitude)
    }

    /// An adapter from given factors (e.g. read from a PEFT file), trainable.
    pub fn from_tensors(
        name: &str,
        cfg: &LoraConfig,
        lora_a: Tensor<2>,
        lora_b: Tensor<2>,
        magnitude: Option<Tensor<1>>,
    ) -> Self {
        LoraAdapter {
            name: name.to_string(),
            lora_a: Param::from_tensor(lora_a),
            lora_b: Param::from_tensor(lora_b),
            magnitude: magnitude.map(Param::from_tensor),
            dropout: DropoutConfig::new(cfg.lora_dropout).init(),
            scaling: cfg.scaling(),
            weight: 1.0,
            merged: false,
            merged_norm: None,
            config: cfg.clone(),
        }
    }

    /// The rank.
    pub fn rank(&self) -> usize {
        self.lora_a.dims()[0]
    }

    /// `B·A`, `[out, in]`, detached (for norms and merging).
    fn delta(&self) -> Tensor<2> {
        self.lora_b
            .val()
            .detach()
            .matmul(self.lora_a.val().detach())
    }

    /// The LoRA branch `scale · (x · Aᵀ) · Bᵀ`. The scale multiplies the rank-`r` middle,
    /// not the `[.., out]` result: the same product with a pass over `r` columns instead of
    /// `out` (16 against up to 1,536 for SmolLM2), forward and backward.
    fn branch<const D: usize>(&self, x: Tensor<D>, scale: f64) -> Tensor<D> {
        let h = project(x, self.lora_a.val()) * scale;
        project(h, self.lora_b.val())
    }

    /// What this adapter adds to the base output `base_out` (`x·Wᵀ`, no bias).
    fn forward<const D: usize>(
        &self,
        x: Tensor<D>,
        w: &Tensor<2>,
        base_out: &Tensor<D>,
    ) -> Tensor<D> {
        let dropped = self.dropout.forward(x.clone());
        // Same test as Dropout's own: did it change x?
        let dropout_active = self.dropout.prob > 0.0
            && x.device().is_autodiff()
            && self.dropout.training.is_enabled();
        match &self.magnitude {
            None => self.branch(dropped, self.scaling * self.weight),
            Some(m) => {
                // PEFT: the norm of W + s·B·A per output row, detached.
                let norm = row_norm(w.clone() + self.delta() * self.scaling).detach();
                let scale = (m.val() / norm).unsqueeze::<D>(); // [1, .., out]
                let lora = self.branch(dropped.clone(), self.scaling);
                // With dropout PEFT recomputes the base term on the dropped input.
                let base = if dropout_active {
                    project(dropped, w.clone())
                } else {
                    base_out.clone()
                };
                ((scale.clone() - 1.0) * base + scale * lora) * self.weight
            }
        }
    }
}

/// `x · weightᵀ` for `x` `[.., in]` and `weight` `[out, in]`: one `[rows, in] · [in, out]`
/// product ([`fused::matmul`]) over every leading dimension of `x`, the transpose a view.
///
/// Not burn's `module::linear`: it broadcasts the weight to `x`'s rank first, and flex turns
/// that reshape of a transposed view into a copy of the whole matrix on every call (the tied
/// lm_head of SmolLM2 is 113 MB), then runs one matmul per batch row instead of one in all.
pub fn project<const D: usize>(x: Tensor<D>, weight: Tensor<2>) -> Tensor<D> {
    let mut dims = x.dims();
    let inputs = dims[D - 1];
    let rows = dims[..D - 1].iter().product::<usize>();
    dims[D - 1] = weight.dims()[0];
    fused::matmul(x.reshape([rows, inputs]), weight.transpose()).reshape(dims)
}

/// Euclidean norm of each row of `[out, in]`, `[out]`.
fn row_norm(w: Tensor<2>) -> Tensor<1> {
    let out = w.dims()[0];
    w.square().sum_dim(1).sqrt().reshape([out])
}

/// A linear projection `y = x·Wᵀ + b` with a frozen base and optional LoRA adapters.
#[derive(Module, Debug)]
pub struct Linear {
    /// The module's path in the Hugging Face checkpoint, e.g. `model.layers.0.self_attn.q_proj`.
    pub path: String,
    /// Frozen `[out, in]` weight.
    pub weight: BaseWeight,
    /// Frozen `[out]` bias.
    pub bias: Option<Param<Tensor<1>>>,
    /// Adapters, applied in order and summed.
    pub adapters: Vec<LoraAdapter>,
    /// When false the layer computes the base output only (the DPO/KTO reference model).
    pub adapters_enabled: bool,
    /// Input width.
    pub in_features: usize,
    /// Output width.
    pub out_features: usize,
}

impl Linear {
    /// A frozen layer from an `[out, in]` weight and optional `[out]` bias.
    pub fn new(path: &str, weight: Tensor<2>, bias: Option<Tensor<1>>) -> Self {
        let [out_features, in_features] = weight.dims();
        Linear {
            path: path.to_string(),
            weight: BaseWeight::Dense(frozen(weight)),
            bias: bias.map(frozen),
            adapters: Vec::new(),
            adapters_enabled: true,
            in_features,
            out_features,
        }
    }

    /// The last segment of the path (`q_proj`), what PEFT's `target_modules` names.
    pub fn name(&self) -> &str {
        self.path.rsplit('.').next().unwrap_or(&self.path)
    }

    /// The device the base lives on.
    pub fn device(&self) -> Device {
        match &self.weight {
            BaseWeight::Dense(w) => w.lazy_device(),
            BaseWeight::Nf4(q) => q.packed.device(),
        }
    }

    /// Applies the layer.
    ///
    /// # Shapes
    /// - `x`: `[..., in_features]`
    /// - output: `[..., out_features]`
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let w = self.weight.dense();
        let base = project(x.clone(), w.clone());
        let mut out = base.clone();
        if self.adapters_enabled {
            for adapter in self.adapters.iter().filter(|a| !a.merged) {
                out = out + adapter.forward(x.clone(), &w, &base);
            }
        }
        match &self.bias {
            Some(b) => out + b.val().unsqueeze::<D>(),
            None => out,
        }
    }

    /// Attaches an adapter.
    pub fn push_adapter(&mut self, adapter: LoraAdapter) {
        self.adapters.push(adapter);
    }

    /// The adapter called `name`.
    pub fn adapter(&self, name: &str) -> Option<&LoraAdapter> {
        self.adapters.iter().find(|a| a.name == name)
    }

    /// Turns adapters on or off. Turning them off first unmerges merged ones (as PEFT does), so
    /// the output really is the base model's.
    pub fn set_adapters_enabled(&mut self, enabled: bool) {
        if !enabled {
            self.unmerge();
        }
        self.adapters_enabled = enabled;
    }

    /// Replaces a dense base by its NF4 quantisation (QLoRA). No-op when already NF4.
    pub fn quantize_nf4(&mut self) {
        if let BaseWeight::Dense(w) = &self.weight {
            self.weight = BaseWeight::Nf4(Nf4Weight::quantize(w.val().detach()));
        }
    }

    /// Folds every unmerged adapter into the base weight (which becomes dense if it was NF4).
    /// The forward pass then skips them; [`Linear::unmerge`] takes them out again.
    pub fn merge(&mut self) {
        let mut w = self.weight.dense().detach();
        for adapter in self.adapters.iter_mut().filter(|a| !a.merged) {
            let delta = adapter.delta() * adapter.scaling;
            w = match &adapter.magnitude {
                None => w + delta * adapter.weight,
                Some(m) => {
                    // PEFT's DoraLinearVariant.merge: W' = m/‖W + ΔW‖ · (W + ΔW); with an
                    // adapter weight λ, W' = W + λ·(W'_full − W).
                    let norm = row_norm(w.clone() + delta.clone()).detach();
                    let factor = (m.val().detach() / norm.clone()).unsqueeze_dim::<2>(1);
                    adapter.merged_norm = Some(norm);
                    let full = factor * (w.clone() + delta);
                    w.clone() + (full - w) * adapter.weight
                }
            };
            adapter.merged = true;
        }
        self.weight = BaseWeight::Dense(frozen(w));
    }

    /// Takes merged adapters back out of the base weight, newest first.
    pub fn unmerge(&mut self) {
        if !self.adapters.iter().any(|a| a.merged) {
            return;
        }
        let mut w = self.weight.dense().detach();
        for adapter in self.adapters.iter_mut().rev().filter(|a| a.merged) {
            let delta = adapter.delta() * adapter.scaling;
            w = match (&adapter.magnitude, adapter.merged_norm.take()) {
                (Some(m), Some(norm)) => {
                    // Invert W' = W·(1 − λ + λf) + λ·f·ΔW, f = m/‖W + ΔW‖ per row.
                    let f = (m.val().detach() / norm).unsqueeze_dim::<2>(1);
                    let lambda = adapter.weight;
                    (w - f.clone() * delta * lambda) / (f * lambda + (1.0 - lambda))
                }
                _ => w - delta * adapter.weight,
            };
            adapter.merged = false;
        }
        self.weight = BaseWeight::Dense(frozen(w));
    }

    /// Merges every adapter for good and drops them: a plain layer for export.
    pub fn merge_and_unload(&mut self) {
        self.set_adapters_enabled(true);
        self.merge();
        self.adapters.clear();
    }
}

/// A parameter that never requires a gradient.
pub(crate) fn frozen<const D: usize>(t: Tensor<D>) -> Param<Tensor<D>> {
    Param::from_tensor(t).set_require_grad(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::TargetModules;

    fn cfg(r: usize, dora: bool) -> LoraConfig {
        LoraConfig {
            r,
            lora_alpha: 16.0,
            lora_dropout: 0.0,
            target_modules: TargetModules::AllLinear,
            use_rslora: false,
            use_dora: dora,
        }
    }

    fn data(rows: usize, cols: usize, k: usize) -> Tensor<2> {
        let v: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * k + 3) % 17) as f32 / 17.0 - 0.5)
            .collect();
        Tensor::from_data(TensorData::new(v, [rows, cols]), &Device::flex())
    }

    fn max_diff(a: Tensor<3>, b: Tensor<3>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    fn x() -> Tensor<3> {
        data(6, 8, 5).reshape([2, 3, 8])
    }

    #[test]
    fn lora_b_is_zero_initialized_so_a_new_adapter_changes_nothing() {
        let w = data(4, 8, 7);
        let mut layer = Linear::new("m.q_proj", w.clone(), None);
        let before = layer.forward(x());
        layer.push_adapter(LoraAdapter::init("default", &cfg(2, false), &w, 1));
        assert_eq!(max_diff(before, layer.forward(x())), 0.0);
        let a = layer.adapters[0]
            .lora_a
            .val()
            .try_into_vec_as::<f32>()
            .unwrap();
        assert!(a.iter().all(|v| v.abs() <= 1.0 / 8f32.sqrt()) && a.iter().any(|v| *v != 0.0));
    }

    #[test]
    fn lora_output_is_base_plus_scaled_b_a() {
        let w = data(4, 8, 7);
        let mut layer = Linear::new(
            "m.q_proj",
            w.clone(),
            Some(Tensor::from_floats([0.1, 0.2, 0.3, 0.4], &Device::flex())),
        );
        let (a, b) = (data(2, 8, 3), data(4, 2, 11));
        layer.push_adapter(LoraAdapter::from_tensors(
            "default",
            &cfg(2, false),
            a.clone(),
            b.clone(),
            None,
        ));
        let dense = w + b.matmul(a) * 8.0; // alpha 16 / r 2
        let expected = Linear::new(
            "m",
            dense,
            Some(Tensor::from_floats([0.1, 0.2, 0.3, 0.4], &Device::flex())),
        );
        assert!(max_diff(layer.forward(x()), expected.forward(x())) < 1e-5);
    }

    #[test]
    fn weighted_adapters_add_up() {
        let w = data(4, 8, 7);
        let (a, b) = (data(2, 8, 3), data(4, 2, 11));
        let mut one = Linear::new("m.q_proj", w.clone(), None);
        one.push_adapter(LoraAdapter::from_tensors(
            "x",
            &cfg(2, false),
            a.clone(),
            b.clone(),
            None,
        ));
        let mut halves = Linear::new("m.q_proj", w, None);
        for name in ["x", "y"] {
            let mut ad =
                LoraAdapter::from_tensors(name, &cfg(2, false), a.clone(), b.clone(), None);
            ad.weight = 0.5;
            halves.push_adapter(ad);
        }
        assert!(max_diff(one.forward(x()), halves.forward(x())) < 1e-5);
    }

    #[test]
    fn disabled_adapters_give_the_base_output() {
        let w = data(4, 8, 7);
        let base = Linear::new("m.q_proj", w.clone(), None);
        let mut layer = base.clone();
        layer.push_adapter(LoraAdapter::from_tensors(
            "default",
            &cfg(2, false),
            data(2, 8, 3),
            data(4, 2, 11),
            None,
        ));
        layer.merge();
        layer.set_adapters_enabled(false);
        assert!(max_diff(layer.forward(x()), base.forward(x())) < 1e-5);
    }

    #[test]
    fn merge_then_unmerge_round_trips_lora_and_dora() {
        for dora in [false, true] {
            let w = data(4, 8, 7);
            let mut layer = Linear::new("m.v_proj", w.clone(), None);
            let mut adapter = LoraAdapter::init("default", &cfg(2, dora), &w, 3);
            adapter.lora_b = Param::from_tensor(data(4, 2, 13));
            layer.push_adapter(adapter);
            let unmerged = layer.forward(x());
            layer.merge();
            assert!(
                max_diff(layer.forward(x()), unmerged.clone()) < 1e-5,
                "dora={dora}"
            );
            layer.unmerge();
            assert!(max_diff(layer.forward(x()), unmerged) < 1e-5, "dora={dora}");
            let back = layer.weight.dense();
            assert!((back - w).abs().max().into_scalar::<f32>() < 1e-5);
        }
    }

    #[test]
    fn dora_with_initial_magnitude_and_zero_b_is_the_base() {
        let w = data(4, 8, 7);
        let mut layer = Linear::new("m.q_proj", w.clone(), None);
        let before = layer.forward(x());
        layer.push_adapter(LoraAdapter::init("default", &cfg(2, true), &w, 9));
        assert!(max_diff(before, layer.forward(x())) < 1e-5);
    }

    #[test]
    fn lora_backward_grads_adapter_only() {
        // Tensors keep their own autodiff context when moved: make them autodiff explicitly.
        let w = data(4, 8, 7).autodiff();
        let mut layer = Linear::new("m.q_proj", w.clone(), None);
        let mut adapter = LoraAdapter::init("default", &cfg(2, true), &w, 3);
        adapter.lora_b = Param::from_tensor(data(4, 2, 13).autodiff());
        layer.push_adapter(adapter);
        let loss = layer.forward(x().autodiff()).sum();
        let grads = loss.backward();
        let a = &layer.adapters[0];
        assert!(a.lora_a.val().grad(&grads).is_some());
        assert!(a.lora_b.val().grad(&grads).is_some());
        assert!(a.magnitude.as_ref().unwrap().val().grad(&grads).is_some());
        assert!(layer.weight.dense().grad(&grads).is_none());
    }

    #[test]
    fn nf4_base_is_close_to_the_dense_one() {
        let w = data(16, 64, 7);
        let dense = Linear::new("m.up_proj", w, None);
        let mut q = dense.clone();
        q.quantize_nf4();
        assert!(q.weight.is_quantized());
        let x = data(3, 64, 5).reshape([1, 3, 64]);
        let diff = max_diff(dense.forward(x.clone()), q.forward(x));
        assert!(diff > 0.0 && diff < 0.5, "{diff}");
    }
}
