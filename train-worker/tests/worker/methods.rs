//! Every method and adapter the Train page offers, natively, through the worker's own path: a
//! bundle (as the studio exports it) and the tiny model's files in memory → [`plan`] →
//! `Model::from_bytes` → two steps of the trainer → the adapter's files. What the browser adds
//! to this is only the message passing and the device.

use ajuste_shared::bundle::{self, Recipe, SourceFile};
use ajuste_shared::config::{AdapterKind, Method, TrainConfig};
use ajuste_shared::load::{LoadOptions, load};
use ajuste_shared::split::SplitConfig;
use ajuste_shared::template::{Builtin, Template};
use ajuste_shared::train_protocol::TrainSettings;
use ajuste_train_worker::package::adapter_zip;
use ajuste_train_worker::plan::plan;
use ajuste_trainer::adapter::peft::adapter_files;
use ajuste_trainer::model::{Model, ModelConfig};
use ajuste_trainer::train::events::Event;
use ajuste_trainer::train::{RunHooks, TrainError, Trainer, TrainerOptions, adapter_spec, pad_id};
use burn::tensor::Device;

use crate::repo;

/// The bundle the studio would export for `file` (5% eval split... here a third, so the tiny
/// files have an eval set), trained with `method`.
fn bundle_of(file: &str, method: Method) -> Vec<u8> {
    let bytes = std::fs::read(repo(&format!("tests/fixtures/train/{file}"))).unwrap();
    let loaded = load(&bytes[..], file, &LoadOptions::default()).unwrap();
    let source = SourceFile::new(
        file,
        &bytes,
        loaded.format,
        loaded.report.records,
        loaded.report.valid,
    );
    let recipe = Recipe {
        clean: vec![],
        dedup: None,
        balance: None,
        split: SplitConfig {
            eval_fraction: 0.34,
            seed: 42,
        },
        train: TrainConfig::for_method(method),
    };
    let template = Template::Builtin("chatml".parse::<Builtin>().unwrap());
    bundle::build(source, loaded.dataset, &recipe, &template, None)
        .unwrap()
        .to_bytes()
        .unwrap()
}

#[derive(Default)]
struct Collect(Vec<Event>);

impl RunHooks for Collect {
    fn event(&mut self, _: &Trainer, event: &Event) -> Result<(), TrainError> {
        self.0.push(event.clone());
        Ok(())
    }
}

#[test]
fn every_offered_method_and_adapter_trains_from_a_bundle() {
    let dir = repo("tests/fixtures/browser/tiny-model");
    let config_json = std::fs::read(dir.join("config.json")).unwrap();
    let model_config = ModelConfig::from_json(&config_json, "config.json").unwrap();
    let tokenizer = std::fs::read(dir.join("tokenizer.json")).unwrap();
    let weights = std::fs::read(dir.join("model.safetensors")).unwrap();
    let cases = [
        (
            "sft.jsonl",
            Method::Sft,
            AdapterKind::Lora,
            "mean_token_accuracy",
        ),
        (
            "dpo.jsonl",
            Method::Dpo,
            AdapterKind::Rslora,
            "rewards/accuracies",
        ),
        (
            "dpo.jsonl",
            Method::Simpo,
            AdapterKind::Dora,
            "rewards/margins",
        ),
        ("kto.jsonl", Method::Kto, AdapterKind::Lora, "kl"),
    ];
    for (file, method, adapter, metric) in cases {
        assert!(TrainSettings::METHODS.contains(&method));
        assert!(TrainSettings::ADAPTERS.contains(&adapter));
        let what = format!("{method} with {}", adapter.as_str());
        // The bundle is exported with the session's method; the page's method wins.
        let bundle = bundle_of(file, method);
        let mut settings = TrainSettings::defaults(method);
        settings.adapter = adapter;
        settings.steps = 2;
        settings.max_length = 64;
        let p = plan(
            &bundle,
            "data.ajuste",
            "tiny",
            &model_config,
            &tokenizer,
            &settings,
        )
        .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(p.config.method(), method, "{what}");
        assert_eq!(p.config.adapter.kind, adapter, "{what}");
        assert!(!p.eval.is_empty(), "{what}: an eval split");
        let device = Device::flex().autodiff();
        let model = Model::from_bytes(
            &config_json,
            vec![("model.safetensors".into(), weights.clone())],
            "tiny",
            &device,
            &adapter_spec(&p.config),
        )
        .unwrap();
        let options = TrainerOptions {
            pad_id: pad_id(&model.config),
            reference: None,
        };
        let mut trainer = Trainer::new(model, p.config.clone(), p.train, p.eval, options).unwrap();
        let mut hooks = Collect::default();
        let summary = trainer.run_blocking(&mut hooks).unwrap();
        assert_eq!(summary.steps, 2, "{what}");
        let steps: Vec<_> = hooks
            .0
            .iter()
            .filter_map(|e| match e {
                Event::Step(s) => Some(s),
                _ => None,
            })
            .collect();
        assert_eq!(steps.len(), 2, "{what}");
        assert!(steps.iter().all(|s| s.loss.is_finite()), "{what}");
        assert!(
            steps[0].metrics.get(metric).is_some(),
            "{what}: {metric} is logged"
        );
        let evals = hooks
            .0
            .iter()
            .filter(|e| matches!(e, Event::Eval(_)))
            .count();
        assert_eq!(evals, 2, "{what}: an evaluation before and after");
        let files =
            burn::tensor::read_sync(adapter_files(trainer.model(), "default", "tiny")).unwrap();
        let config: serde_json::Value = serde_json::from_slice(&files.config_json).unwrap();
        assert_eq!(config["use_dora"], adapter == AdapterKind::Dora, "{what}");
        assert_eq!(
            config["use_rslora"],
            adapter == AdapterKind::Rslora,
            "{what}"
        );
        assert!(
            adapter_zip(&files).unwrap().len() > files.weights.len(),
            "{what}"
        );
    }
}

#[test]
fn data_of_another_kind_is_refused_with_the_method_named() {
    let dir = repo("tests/fixtures/browser/tiny-model");
    let config_json = std::fs::read(dir.join("config.json")).unwrap();
    let model_config = ModelConfig::from_json(&config_json, "config.json").unwrap();
    let tokenizer = std::fs::read(dir.join("tokenizer.json")).unwrap();
    let bundle = bundle_of("sft.jsonl", Method::Sft);
    let err = plan(
        &bundle,
        "data.ajuste",
        "tiny",
        &model_config,
        &tokenizer,
        &TrainSettings::defaults(Method::Dpo),
    )
    .unwrap_err();
    assert!(err.starts_with("data.ajuste:train.jsonl: "), "{err}");
    assert!(err.contains("dpo"), "{err}");
    let err = plan(
        b"not a zip",
        "x.ajuste",
        "tiny",
        &model_config,
        &tokenizer,
        &TrainSettings::defaults(Method::Sft),
    )
    .unwrap_err();
    assert!(
        err.starts_with("the bundle x.ajuste cannot be read"),
        "{err}"
    );
}
