//! The training loop end to end on a tiny random Llama with the tiny BPE tokenizer of the
//! template fixtures: SFT lowers the loss, DPO raises preference accuracy, every method and
//! adapter kind runs, seeded runs repeat, resumed runs continue exactly.
//!
//! Training tests take a lock ([`crate::common::SERIAL`]).

use std::path::{Path, PathBuf};

use ajuste_shared::config::{AdapterKind, Method, Schedule, TrainConfig};
use ajuste_trainer::model::Model;
use ajuste_trainer::train::checkpoint::{self, Checkpoint};
use ajuste_trainer::train::data::Example;
use ajuste_trainer::train::events::{Event, StepEvent};
use ajuste_trainer::train::{RunHooks, TrainError, Trainer, TrainerOptions, adapter_spec, pad_id};
use burn::tensor::Device;

use crate::common::{config, examples, model_dir, serial};

fn trainer(dir: &Path, config: TrainConfig, train: Vec<Example>, eval: Vec<Example>) -> Trainer {
    trainer_from(dir, &adapter_spec(&config), config, train, eval)
}

fn trainer_from(
    dir: &Path,
    spec: &ajuste_trainer::adapter::AdapterSpec,
    config: TrainConfig,
    train: Vec<Example>,
    eval: Vec<Example>,
) -> Trainer {
    let device = Device::flex().autodiff();
    let model = Model::load(dir, &device, spec).unwrap();
    let options = TrainerOptions {
        pad_id: pad_id(&model.config),
        reference: None,
    };
    Trainer::new(model, config, train, eval, options).unwrap()
}

/// Collects events; saves checkpoints under `save_to`; stops after `stop_after` steps.
#[derive(Default)]
struct Hooks {
    events: Vec<Event>,
    save_to: Option<PathBuf>,
    stop_after: Option<usize>,
}

impl RunHooks for Hooks {
    fn event(&mut self, _: &Trainer, event: &Event) -> Result<(), TrainError> {
        self.events.push(event.clone());
        Ok(())
    }

    fn save(&mut self, trainer: &Trainer) -> Result<Option<String>, TrainError> {
        let Some(root) = &self.save_to else {
            return Ok(None);
        };
        let dir = checkpoint::step_dir(root, trainer.progress().step);
        checkpoint::save(trainer, &dir, "tiny")?;
        Ok(Some(dir.display().to_string()))
    }

    fn stop(&self, trainer: &Trainer) -> bool {
        self.stop_after
            .is_some_and(|n| trainer.progress().step >= n)
    }
}

impl Hooks {
    fn steps(&self) -> Vec<StepEvent> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Step(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    }

    fn evals(&self) -> Vec<ajuste_trainer::objective::Metrics> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Eval(e) => Some(e.metrics.clone()),
                _ => None,
            })
            .collect()
    }
}

fn run(trainer: &mut Trainer) -> Hooks {
    let mut hooks = Hooks::default();
    trainer.run_blocking(&mut hooks).unwrap();
    hooks
}

#[test]
fn sft_lowers_the_training_and_eval_loss() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = model_dir(tmp.path());
    let train = examples("sft.jsonl", Method::Sft);
    assert_eq!(
        train.len(),
        8,
        "the record with weight 0 has nothing to train"
    );
    let eval = examples("sft_eval.jsonl", Method::Sft);
    let mut c = config(Method::Sft, 12);
    c.eval_steps = 6;
    let mut t = trainer(&dir, c, train, eval);
    let hooks = run(&mut t);
    let steps = hooks.steps();
    assert_eq!(steps.len(), 12);
    let (first, last) = (steps[0].loss, steps[11].loss);
    assert!(last < 0.7 * first, "loss {first} -> {last}");
    for s in &steps {
        assert!(s.grad_norm > 0.0 && s.tokens > 0 && s.lr == 5e-3);
        assert!(s.metrics.get("mean_token_accuracy").is_some());
    }
    let evals = hooks.evals();
    assert_eq!(
        evals.len(),
        3,
        "before the first step, at step 6, at the end"
    );
    let (before, after) = (
        evals[0].get("eval_loss").unwrap(),
        evals[2].get("eval_loss").unwrap(),
    );
    assert!(after < before, "eval loss {before} -> {after}");
    assert!((evals[2].get("eval_perplexity").unwrap() - after.exp()).abs() < 1e-9);
    match hooks.events.last() {
        Some(Event::Summary(s)) => {
            assert_eq!(s.steps, 12);
            assert!((s.final_loss - last).abs() < 1e-12);
            assert!(s.eval.get("eval_loss").is_some());
        }
        other => panic!("the last event is {other:?}"),
    }
    assert!(
        matches!(hooks.events[0], Event::Start(ref s) if s.total_steps == 12 && s.train_examples == 8)
    );
}

#[test]
fn the_same_seed_gives_the_same_run_and_another_seed_another() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = model_dir(tmp.path());
    let losses = |seed: u64| {
        let mut c = config(Method::Sft, 3);
        c.seed = seed;
        c.adapter.lora_dropout = 0.1; // dropout masks must repeat too
        let mut t = trainer(&dir, c, examples("sft.jsonl", Method::Sft), vec![]);
        run(&mut t)
            .steps()
            .iter()
            .map(|s| (s.loss, s.grad_norm))
            .collect::<Vec<_>>()
    };
    let a = losses(7);
    assert_eq!(a, losses(7));
    assert_ne!(a, losses(8));
}

#[test]
fn a_resumed_run_continues_exactly() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = model_dir(tmp.path());
    let mut c = config(Method::Sft, 4);
    c.batch_size = 3; // epochs of 3 micro-batches: the resume lands mid-epoch
    c.adapter.lora_dropout = 0.1;
    c.lr_scheduler = Schedule::Cosine;
    c.warmup_ratio = 0.25;
    c.gradient_accumulation_steps = 2;
    let data = || examples("sft.jsonl", Method::Sft);

    let mut straight = trainer(&dir, c.clone(), data(), vec![]);
    let all = run(&mut straight).steps();

    let ckpts = tmp.path().join("checkpoints");
    let mut first = trainer(&dir, c.clone(), data(), vec![]);
    let mut hooks = Hooks {
        save_to: Some(ckpts.clone()),
        stop_after: Some(2),
        ..Hooks::default()
    };
    first.run_blocking(&mut hooks).unwrap();
    assert_eq!(hooks.steps().len(), 2);
    let latest = checkpoint::latest(&ckpts).unwrap();
    assert!(latest.ends_with("step-2"));
    let ckpt = Checkpoint::read(&latest).unwrap();
    let spec = ajuste_trainer::adapter::AdapterSpec::peft(ckpt.weights_dir());
    let mut second = trainer_from(&dir, &spec, c, data(), vec![]);
    ckpt.resume(&mut second).unwrap();
    let rest = run(&mut second).steps();

    let resumed: Vec<f64> = hooks.steps().iter().chain(&rest).map(|s| s.loss).collect();
    let expected: Vec<f64> = all.iter().map(|s| s.loss).collect();
    assert_eq!(rest[0].step, 3);
    for (a, b) in resumed.iter().zip(&expected) {
        assert!((a - b).abs() <= 1e-6, "{resumed:?} vs {expected:?}");
    }
    assert_eq!(resumed.len(), 4);
    assert_eq!(rest.last().unwrap().lr, all.last().unwrap().lr);
}

#[test]
fn dpo_raises_preference_accuracy_on_its_pairs() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = model_dir(tmp.path());
    let train = examples("dpo.jsonl", Method::Dpo);
    let mut c = config(Method::Dpo, 8);
    c.learning_rate = 1e-2;
    let mut t = trainer(&dir, c, train.clone(), train);
    let hooks = run(&mut t);
    let evals = hooks.evals();
    let acc = |m: &ajuste_trainer::objective::Metrics| m.get("eval_rewards/accuracies").unwrap();
    let margin = |m: &ajuste_trainer::objective::Metrics| m.get("eval_rewards/margins").unwrap();
    // At the start the policy is the reference: every reward is 0, no pair is ranked right.
    assert_eq!(acc(&evals[0]), 0.0);
    assert!(margin(&evals[0]).abs() < 1e-6);
    let last = evals.last().unwrap();
    assert_eq!(acc(last), 1.0, "{last:?}");
    assert!(margin(last) > 0.0);
    let steps = hooks.steps();
    assert!(
        (steps[0].loss - std::f64::consts::LN_2).abs() < 1e-4,
        "{}",
        steps[0].loss
    );
    assert!(steps.last().unwrap().loss < steps[0].loss);
    for name in [
        "rewards/chosen",
        "rewards/margins",
        "logps/chosen",
        "logits/rejected",
    ] {
        assert!(steps[0].metrics.get(name).is_some(), "{name}");
    }
}

#[test]
fn kto_simpo_and_orpo_train_with_their_metrics() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = model_dir(tmp.path());
    for (method, file, metric) in [
        (Method::Kto, "kto.jsonl", "kl"),
        (Method::Simpo, "dpo.jsonl", "nll_loss"),
        (Method::Orpo, "dpo.jsonl", "log_odds_ratio"),
    ] {
        let data = examples(file, method);
        let mut t = trainer(&dir, config(method, 4), data.clone(), data);
        let hooks = run(&mut t);
        let steps = hooks.steps();
        assert_eq!(steps.len(), 4, "{method}");
        assert!(steps.iter().all(|s| s.loss.is_finite()), "{method}");
        assert!(
            steps[0].metrics.get(metric).is_some(),
            "{method}: {:?}",
            steps[0].metrics
        );
        let eval = hooks.evals().pop().unwrap();
        assert!(eval.get("eval_loss").unwrap().is_finite(), "{method}");
        assert!(
            eval.get(&format!("eval_{metric}")).is_some(),
            "{method}: {eval:?}"
        );
        assert!(steps[3].loss < steps[0].loss, "{method}: {steps:?}");
    }
}

#[test]
fn every_adapter_kind_and_a_full_fine_tune_lower_the_loss() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = model_dir(tmp.path());
    for kind in [
        AdapterKind::Rslora,
        AdapterKind::Dora,
        AdapterKind::Qlora,
        AdapterKind::None,
    ] {
        let mut c = config(Method::Sft, 5);
        c.adapter.kind = kind;
        if kind == AdapterKind::None {
            c.learning_rate = 1e-3;
        }
        let mut t = trainer(&dir, c, examples("sft.jsonl", Method::Sft), vec![]);
        let steps = run(&mut t).steps();
        assert!(
            steps[4].loss < steps[0].loss,
            "{kind:?}: {} -> {}",
            steps[0].loss,
            steps[4].loss
        );
    }
}

#[test]
fn gradient_checkpointing_gives_the_same_steps() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = model_dir(tmp.path());
    let losses = |checkpointing: bool| {
        let mut c = config(Method::Sft, 3);
        c.gradient_checkpointing = checkpointing;
        let mut device = Device::flex().autodiff();
        if checkpointing {
            device = device.gradient_checkpointing();
        }
        let model = Model::load(&dir, &device, &adapter_spec(&c)).unwrap();
        let options = TrainerOptions {
            pad_id: pad_id(&model.config),
            reference: None,
        };
        let data = examples("sft.jsonl", Method::Sft);
        let mut t = Trainer::new(model, c, data, vec![], options).unwrap();
        run(&mut t)
            .steps()
            .iter()
            .map(|s| s.loss)
            .collect::<Vec<_>>()
    };
    let (plain, recomputed) = (losses(false), losses(true));
    for (a, b) in plain.iter().zip(&recomputed) {
        assert!((a - b).abs() < 1e-5, "{plain:?} vs {recomputed:?}");
    }
}

#[test]
fn settings_that_cannot_work_are_refused() {
    let _guard = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = model_dir(tmp.path());
    let device = Device::flex().autodiff();
    let load = |c: &TrainConfig| Model::load(&dir, &device, &adapter_spec(c)).unwrap();
    let data = examples("sft.jsonl", Method::Sft);

    let mut c = config(Method::Kto, 2);
    c.batch_size = 1;
    let err =
        Trainer::new(load(&c), c, data.clone(), vec![], TrainerOptions::default()).unwrap_err();
    assert!(
        err.to_string().contains("KTO needs `batch_size` >= 2"),
        "{err}"
    );

    let c = config(Method::Sft, 2);
    let err = Trainer::new(
        load(&c),
        c.clone(),
        vec![],
        vec![],
        TrainerOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("no training examples"), "{err}");

    let mut long = data.clone();
    if let Example::Sft(s) = &mut long[0] {
        s.input_ids = vec![5; 300];
        s.labels = vec![5; 300];
    }
    let err =
        Trainer::new(load(&c), c.clone(), long, vec![], TrainerOptions::default()).unwrap_err();
    assert!(err.to_string().contains("context of 256"), "{err}");

    let inference = Model::load(&dir, &Device::flex(), &adapter_spec(&c)).unwrap();
    let err = Trainer::new(inference, c, data, vec![], TrainerOptions::default()).unwrap_err();
    assert!(err.to_string().contains("autodiff"), "{err}");
}
