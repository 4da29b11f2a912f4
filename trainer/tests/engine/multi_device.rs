//! Several devices for one run (`Trainer::set_devices`): on two (or three) flex replicas, every
//! method's per-step losses and the trained weights equal a one-device run's at the same global
//! batch (`batch_size` × `gradient_accumulation_steps`), within 1e-5.
//!
//! flex is one CPU device, so the replicas share its cores: this checks the multi-device path
//! (shards, their loss weights, KTO's micro-batch KL estimate, gathering gradients, copying
//! weights back to the replicas), not a speed-up. The same path runs on wgpu and CUDA devices.
//!
//! Tests take a lock ([`crate::common::SERIAL`]).

use std::path::Path;

use ajuste_shared::config::{AdapterKind, Method, TrainConfig};
use ajuste_trainer::model::Model;
use ajuste_trainer::train::data::Example;
use ajuste_trainer::train::events::{Event, StepEvent};
use ajuste_trainer::train::{RunHooks, TrainError, Trainer, TrainerOptions, adapter_spec, pad_id};
use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};

use crate::common::{examples, model_dir, serial};

/// The tolerance of the brief: per-step losses and final weights.
const TOL: f64 = 1e-5;

/// The training tests' config, with two micro-batches per step (the global batch is 8).
fn config(method: Method, steps: usize) -> TrainConfig {
    let mut c = crate::common::config(method, steps);
    c.gradient_accumulation_steps = 2;
    c
}

#[derive(Default)]
struct Steps(Vec<StepEvent>);

impl RunHooks for Steps {
    fn event(&mut self, _: &Trainer, event: &Event) -> Result<(), TrainError> {
        if let Event::Step(s) = event {
            self.0.push(s.clone());
        }
        Ok(())
    }
}

/// Every trainable value of a model, in module order.
#[derive(Default)]
struct Trainable(Vec<f32>);

impl ModuleVisitor for Trainable {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param.val();
        if value.is_require_grad() {
            self.0
                .extend(value.into_data().try_into_vec_as::<f32>().unwrap());
        }
    }
}

/// What a run gave: its steps and its trained values.
struct Outcome {
    steps: Vec<StepEvent>,
    weights: Vec<f32>,
}

/// Trains `config` on `data` with `devices` flex replicas (1: the plain one-device run).
fn train(dir: &Path, config: &TrainConfig, data: &[Example], devices: usize) -> Outcome {
    let device = Device::flex().autodiff();
    let model = Model::load(dir, &device, &adapter_spec(config)).unwrap();
    let options = TrainerOptions {
        pad_id: pad_id(&model.config),
        ..TrainerOptions::default()
    };
    let mut t = Trainer::new(model, config.clone(), data.to_vec(), vec![], options).unwrap();
    if devices > 1 {
        t.set_devices(vec![device; devices], false).unwrap();
    }
    assert_eq!(t.device_count(), devices);
    let mut steps = Steps::default();
    t.run_blocking(&mut steps).unwrap();
    let mut weights = Trainable::default();
    t.model().visit(&mut weights);
    Outcome {
        steps: steps.0,
        weights: weights.0,
    }
}

/// The largest differences of per-step losses and of trained values; panics above [`TOL`]
/// (`weight_tol` for the values).
fn assert_same(what: &str, one: &Outcome, many: &Outcome, weight_tol: f64) -> (f64, f64) {
    assert_eq!(one.steps.len(), many.steps.len(), "{what}");
    assert_eq!(one.weights.len(), many.weights.len(), "{what}");
    let loss_diff = one
        .steps
        .iter()
        .zip(&many.steps)
        .map(|(a, b)| (a.loss - b.loss).abs())
        .fold(0.0, f64::max);
    let weight_diff = one
        .weights
        .iter()
        .zip(&many.weights)
        .map(|(a, b)| f64::from((a - b).abs()))
        .fold(0.0, f64::max);
    let losses = |o: &Outcome| o.steps.iter().map(|s| s.loss).collect::<Vec<_>>();
    eprintln!(
        "{what}: losses {:?}; max |Δloss| {loss_diff:.2e}, max |Δweight| {weight_diff:.2e}",
        losses(one)
    );
    assert!(
        loss_diff <= TOL,
        "{what}: losses {:?} vs {:?}",
        losses(one),
        losses(many)
    );
    assert!(
        weight_diff <= weight_tol,
        "{what}: weights differ by {weight_diff}"
    );
    // The global batch and so the tokens and the learning rate are the same.
    for (a, b) in one.steps.iter().zip(&many.steps) {
        assert_eq!((a.tokens, a.lr), (b.tokens, b.lr), "{what}");
        assert!(
            (a.grad_norm - b.grad_norm).abs() <= TOL * a.grad_norm.max(1.0),
            "{what}: grad norm {} vs {}",
            a.grad_norm,
            b.grad_norm
        );
    }
    (loss_diff, weight_diff)
}

#[test]
fn sft_on_two_devices_equals_one_device() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = model_dir(tmp.path());
    let data = examples("sft.jsonl", Method::Sft);
    let c = config(Method::Sft, 4);
    let one = train(&dir, &c, &data, 1);
    let two = train(&dir, &c, &data, 2);
    assert_same("sft, 2 devices", &one, &two, TOL);
    assert!(one.steps[3].loss < one.steps[0].loss, "it trains");
    // Token accuracy is a mean over tokens and the shards are weighted by tokens: equal too.
    for (a, b) in one.steps.iter().zip(&two.steps) {
        let acc = |s: &StepEvent| s.metrics.get("mean_token_accuracy").unwrap();
        assert!((acc(a) - acc(b)).abs() < 1e-6, "{} vs {}", acc(a), acc(b));
    }
}

#[test]
fn uneven_shards_and_more_devices_than_examples_change_nothing() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = model_dir(tmp.path());
    let data = examples("sft.jsonl", Method::Sft);
    // 3 examples on 2 devices (2 + 1); 2 examples on 3 devices (one idle).
    for (batch, devices) in [(3, 2), (2, 3)] {
        let mut c = config(Method::Sft, 3);
        c.batch_size = batch;
        let one = train(&dir, &c, &data, 1);
        let many = train(&dir, &c, &data, devices);
        assert_same(
            &format!("sft, batch {batch} on {devices} devices"),
            &one,
            &many,
            TOL,
        );
    }
}

#[test]
fn dpo_on_two_devices_equals_one_device() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = model_dir(tmp.path());
    let data = examples("dpo.jsonl", Method::Dpo);
    let mut c = config(Method::Dpo, 4);
    // Fast enough to train in four steps, slow enough that the loss stays clear of 0, where
    // AdamW's m/√v would turn the float rounding of tiny gradients into whole steps.
    c.learning_rate = 3e-3;
    let one = train(&dir, &c, &data, 1);
    let two = train(&dir, &c, &data, 2);
    assert_same("dpo, 2 devices", &one, &two, TOL);
    assert!(one.steps[3].loss < one.steps[0].loss, "it trains");
    // Per-pair means, weighted by pairs: the same.
    for (a, b) in one.steps.iter().zip(&two.steps) {
        for name in ["rewards/accuracies", "rewards/margins", "logps/chosen"] {
            let (x, y) = (a.metrics.get(name).unwrap(), b.metrics.get(name).unwrap());
            assert!(
                (x - y).abs() <= 1e-4 * x.abs().max(1.0),
                "{name}: {x} vs {y}"
            );
        }
    }
}

#[test]
fn kto_simpo_orpo_and_a_full_fine_tune_on_two_devices_equal_one_device() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = model_dir(tmp.path());
    // KTO: shards use the KL estimate of the whole micro-batch; ORPO: two terms with their own
    // counts (chosen tokens, pairs); a full fine-tune syncs every weight to the replica.
    for (method, file, kind) in [
        (Method::Kto, "kto.jsonl", AdapterKind::Lora),
        (Method::Simpo, "dpo.jsonl", AdapterKind::Lora),
        (Method::Orpo, "dpo.jsonl", AdapterKind::Lora),
        (Method::Sft, "sft.jsonl", AdapterKind::None),
    ] {
        let data = examples(file, method);
        let mut c = config(method, 3);
        c.adapter.kind = kind;
        // Where the loss is near 0 the gradients are tiny and AdamW's m/√v turns their float
        // rounding into whole steps; a rate that keeps them clear of that compares the sums.
        c.learning_rate = 1e-3;
        let one = train(&dir, &c, &data, 1);
        let two = train(&dir, &c, &data, 2);
        // A full fine-tune also trains the embedding rows of tokens the batch barely touches:
        // their gradients are below AdamW's ε (1e-8), where an update is lr/ε = 1e5 times the
        // gradient, so the f32 rounding of summing in another order shows (seen: 1.3e-5).
        let weight_tol = if kind == AdapterKind::None { 5e-5 } else { TOL };
        assert_same(
            &format!("{method} ({kind:?}), 2 devices"),
            &one,
            &two,
            weight_tol,
        );
    }
}

#[test]
fn dropout_on_several_devices_repeats_run_to_run() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = model_dir(tmp.path());
    let data = examples("sft.jsonl", Method::Sft);
    let mut c = config(Method::Sft, 3);
    c.adapter.lora_dropout = 0.2;
    // The shards run on threads; their dropout masks must not depend on how they interleave.
    let a = train(&dir, &c, &data, 2);
    let b = train(&dir, &c, &data, 2);
    let losses = |o: &Outcome| o.steps.iter().map(|s| s.loss).collect::<Vec<_>>();
    assert_eq!(losses(&a), losses(&b));
    assert_eq!(a.weights, b.weights);
}

#[test]
fn a_device_list_that_does_not_fit_the_model_is_refused() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = model_dir(tmp.path());
    let c = config(Method::Sft, 1);
    let device = Device::flex().autodiff();
    let model = Model::load(&dir, &device, &adapter_spec(&c)).unwrap();
    let data = examples("sft.jsonl", Method::Sft);
    let mut t = Trainer::new(model, c, data, vec![], TrainerOptions::default()).unwrap();
    let err = t
        .set_devices(vec![device.clone(), Device::flex()], false)
        .unwrap_err();
    assert!(err.to_string().contains("no autodiff"), "{err}");
    let err = t.set_devices(vec![], false).unwrap_err();
    assert!(err.to_string().contains("first of the devices"), "{err}");
    if !cfg!(feature = "cuda") {
        let err = t.set_devices(vec![device.clone(); 2], true).unwrap_err();
        assert!(err.to_string().contains("`cuda` feature"), "{err}");
    }
    t.set_devices(vec![device], false).unwrap();
    assert_eq!(t.device_count(), 1);
}
