//! `ajuste train`, `score`, `generate` and `merge` end to end on a tiny random Llama (the tiny
//! BPE tokenizer's vocabulary, ChatML-style chat template) and the training fixtures.

use std::path::{Path, PathBuf};

use ajuste_trainer::model::{Model, ModelConfig, RandomWeights};
use burn::tensor::Device;
use serde_json::Value;

use crate::util::{CliTest, fixture, fx, read_json, read_jsonl};

/// A tiny model directory named `name` in the test directory; `hidden` sets its shape.
pub(crate) fn model(t: &CliTest, name: &str, hidden: usize) -> PathBuf {
    let json = format!(
        r#"{{"model_type":"llama","hidden_size":{hidden},"intermediate_size":96,
        "num_attention_heads":4,"num_key_value_heads":2,"num_hidden_layers":2,"vocab_size":420,
        "max_position_embeddings":128,"eos_token_id":2,"tie_word_embeddings":true}}"#
    );
    let cfg = ModelConfig::from_json(json.as_bytes(), "tiny").unwrap();
    let w = RandomWeights {
        seed: 3,
        std: 0.1,
        tied: true,
    };
    let dir = t.path(name);
    Model::from_weights(cfg, &w, &Device::flex())
        .unwrap()
        .save(&dir)
        .unwrap();
    for f in [
        "tokenizer.json",
        "tokenizer_config.json",
        "chat_template.jinja",
    ] {
        std::fs::copy(
            fixture("shared/tests/fixtures/templates/tiny").join(f),
            dir.join(f),
        )
        .unwrap();
    }
    dir
}

pub(crate) fn data(name: &str) -> String {
    fx(&format!("tests/fixtures/train/{name}"))
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

pub(crate) fn events(run: &Path) -> Vec<Value> {
    read_jsonl(&run.join("events.jsonl"))
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect()
}

/// `ajuste train --data ... --method sft` with an eval set, 4 steps.
fn train_sft(t: &CliTest, m: &Path, out: &str, extra: &[&str]) -> crate::util::Run {
    let mut args = vec![
        "train".to_string(),
        "--data".into(),
        data("sft.jsonl"),
        "--eval-data".into(),
        data("sft_eval.jsonl"),
        "--method".into(),
        "sft".into(),
        "--model".into(),
        s(m),
        "--steps".into(),
        "4".into(),
        "--lr".into(),
        "5e-3".into(),
        "--out".into(),
        out.into(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    t.run(args)
}

#[test]
fn train_writes_events_config_checkpoints_and_a_peft_adapter() {
    let t = CliTest::new();
    let m = model(&t, "model", 64);
    let run = train_sft(&t, &m, "run", &["--eval-steps", "2"]).expect(0);
    assert!(
        run.stderr.contains("skipped 1 of 9 records") && run.stderr.contains("line 9"),
        "{}",
        run.stderr
    );
    let dir = t.path("run");
    let ev = events(&dir);
    assert_eq!(
        kinds(&ev),
        [
            "start",
            "eval",
            "step",
            "step",
            "eval",
            "step",
            "step",
            "eval",
            "checkpoint",
            "summary"
        ]
    );
    for step in ev.iter().filter(|e| e["event"] == "step") {
        for key in [
            "step",
            "epoch",
            "loss",
            "lr",
            "grad_norm",
            "tokens_per_s",
            "mean_token_accuracy",
        ] {
            assert!(
                step.get(key).is_some_and(Value::is_number),
                "{key} in {step}"
            );
        }
    }
    assert!(ev[1]["eval_loss"].as_f64().unwrap() > ev[7]["eval_loss"].as_f64().unwrap());
    let config: Value = read_json(&dir.join("config.json"));
    assert_eq!(
        (config["method"].as_str(), config["steps"].as_u64()),
        (Some("sft"), Some(4))
    );
    for f in [
        "adapter/adapter_config.json",
        "adapter/adapter_model.safetensors",
        "checkpoints/step-4/adapter/adapter_model.safetensors",
        "checkpoints/step-4/optimizer.safetensors",
        "checkpoints/step-4/trainer_state.json",
    ] {
        assert!(dir.join(f).is_file(), "{f}");
    }
    let peft: Value = read_json(&dir.join("adapter/adapter_config.json"));
    assert_eq!(peft["peft_type"], "LORA");
    assert_eq!(peft["r"], 16);
}

#[test]
fn score_with_the_adapter_gives_the_training_eval_loss() {
    let t = CliTest::new();
    let m = model(&t, "model", 64);
    train_sft(&t, &m, "run", &[]).expect(0);
    let summary = events(&t.path("run")).pop().unwrap();
    let eval_loss = summary["eval_loss"].as_f64().unwrap();
    let out = t
        .run([
            "score",
            "--model",
            &s(&m),
            "--adapter",
            &s(&t.path("run/adapter")),
            "--data",
            &data("sft_eval.jsonl"),
            "-t",
            "chatml",
            "--json",
        ])
        .expect(0);
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    let (mut tokens, mut logprob) = (0.0, 0.0);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["record"], i);
        let (loss, n, lp) = (
            l["loss"].as_f64().unwrap(),
            l["tokens"].as_f64().unwrap(),
            l["logprob"].as_f64().unwrap(),
        );
        assert!((loss + lp / n).abs() < 1e-9);
        tokens += n;
        logprob += lp;
    }
    let mean = -logprob / tokens;
    assert!(
        (mean - eval_loss).abs() < 1e-5,
        "score {mean} vs training eval {eval_loss}"
    );

    // The base model alone scores differently (the adapter changed something).
    let base = t
        .run([
            "score",
            "--model",
            &s(&m),
            "--data",
            &data("sft_eval.jsonl"),
            "-t",
            "chatml",
            "--json",
        ])
        .expect(0);
    assert_ne!(base.stdout, out.stdout);

    // The ids are those of `data render --tokenizer --json`: same token counts.
    let render = t
        .run([
            "data",
            "render",
            &data("sft_eval.jsonl"),
            "-t",
            "chatml",
            "--tokenizer",
            &s(&m.join("tokenizer.json")),
            "--json",
        ])
        .expect(0);
    for (r, l) in render.stdout.lines().zip(&lines) {
        let r: Value = serde_json::from_str(r).unwrap();
        let trained = r["labels"].as_array().unwrap()[1..]
            .iter()
            .filter(|x| x.as_i64() != Some(-100))
            .count();
        assert_eq!(l["tokens"].as_u64(), Some(trained as u64));
    }
}

#[test]
fn score_gives_both_sides_of_preference_records_and_text_by_default() {
    let t = CliTest::new();
    let m = model(&t, "model", 64);
    let out = t
        .run([
            "score",
            "--model",
            &s(&m),
            "--data",
            &data("dpo_eval.jsonl"),
            "-t",
            "chatml",
            "--json",
        ])
        .expect(0);
    let first: Value = serde_json::from_str(out.stdout.lines().next().unwrap()).unwrap();
    assert!(first["chosen"]["loss"].is_number() && first["rejected"]["tokens"].is_number());
    let text = t
        .run([
            "score",
            "--model",
            &s(&m),
            "--data",
            &data("sft_eval.jsonl"),
            "-t",
            "chatml",
        ])
        .expect(0);
    assert!(
        text.stdout.starts_with("record 0 (line 1): loss "),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("mean loss"), "{}", text.stdout);
}

#[test]
fn a_run_directory_is_refused_unless_resumed_with_the_same_settings() {
    let t = CliTest::new();
    let m = model(&t, "model", 64);
    train_sft(&t, &m, "run", &["--save-steps", "2"]).expect(0);
    let straight: Vec<f64> = events(&t.path("run"))
        .iter()
        .filter(|e| e["event"] == "step")
        .map(|e| e["loss"].as_f64().unwrap())
        .collect();

    let again = train_sft(&t, &m, "run", &["--save-steps", "2"]).expect(2);
    assert!(
        again.stderr.contains("already holds a training run"),
        "{}",
        again.stderr
    );
    let other = train_sft(
        &t,
        &m,
        "run",
        &["--save-steps", "2", "--resume", "--seed", "1"],
    )
    .expect(2);
    assert!(
        other.stderr.contains("`seed` was 42 and is now 1"),
        "{}",
        other.stderr
    );

    // Back to the checkpoint of step 2, as if the run had been stopped there.
    std::fs::remove_dir_all(t.path("run/checkpoints/step-4")).unwrap();
    let resumed = train_sft(&t, &m, "run", &["--save-steps", "2", "--resume"]).expect(0);
    assert!(
        resumed.stderr.contains("resuming from"),
        "{}",
        resumed.stderr
    );
    let ev = events(&t.path("run"));
    let losses: Vec<f64> = ev
        .iter()
        .filter(|e| e["event"] == "step")
        .map(|e| e["loss"].as_f64().unwrap())
        .collect();
    assert_eq!(losses.len(), 4, "{:?}", kinds(&ev));
    for (a, b) in losses.iter().zip(&straight) {
        assert!((a - b).abs() <= 1e-6, "{losses:?} vs {straight:?}");
    }
    assert_eq!(kinds(&ev).iter().filter(|k| *k == "summary").count(), 1);
}

#[test]
fn bundles_train_with_their_template_and_split() {
    let t = CliTest::new();
    let m = model(&t, "model", 64);
    t.run([
        "bundle",
        "create",
        &data("sft.jsonl"),
        "-t",
        "chatml",
        "--eval-fraction",
        "0.25",
        "-o",
        "b.ajuste",
    ])
    .expect(0);
    let run = t
        .run([
            "train",
            "b.ajuste",
            "--model",
            &s(&m),
            "--steps",
            "2",
            "--max-len",
            "48",
            "--out",
            "run",
        ])
        .expect(0);
    // Cut records are counted per split, the count naming the file inside the bundle.
    assert!(
        run.stderr.contains(
            "b.ajuste:train.jsonl: 2 record(s) with `too-long-for-context`, the first at line 4:"
        ),
        "{}",
        run.stderr
    );
    let start = &events(&t.path("run"))[0];
    assert_eq!(start["total_steps"], 2);
    assert!(
        start["eval_examples"].as_u64().unwrap() > 0,
        "{}",
        run.stderr
    );
}

#[test]
fn preference_and_feedback_methods_train_from_the_command_line() {
    let t = CliTest::new();
    let m = model(&t, "model", 64);
    for (method, file, metric) in [
        ("dpo", "dpo.jsonl", "rewards/accuracies"),
        ("kto", "kto.jsonl", "kl"),
    ] {
        let out = format!("run-{method}");
        t.run([
            "train",
            "--data",
            &data(file),
            "--method",
            method,
            "--model",
            &s(&m),
            "-t",
            "chatml",
            "--steps",
            "2",
            "--out",
            &out,
        ])
        .expect(0);
        let ev = events(&t.path(&out));
        let step = ev.iter().find(|e| e["event"] == "step").unwrap();
        assert!(step.get(metric).is_some(), "{method}: {step}");
    }
}

#[test]
fn generate_prints_a_continuation_and_merge_keeps_the_scores() {
    let t = CliTest::new();
    let m = model(&t, "model", 64);
    train_sft(&t, &m, "run", &[]).expect(0);
    let adapter = s(&t.path("run/adapter"));
    let out = t
        .run([
            "generate",
            "--model",
            &s(&m),
            "--adapter",
            &adapter,
            "--prompt",
            "What is the capital of Peru?",
            "--max-new",
            "5",
        ])
        .expect(0);
    assert!(out.stderr.contains("generated"), "{}", out.stderr);
    let sampled = |seed: &str| {
        t.run([
            "generate",
            "--model",
            &s(&m),
            "--prompt",
            "Hi",
            "-t",
            "chatml",
            "--max-new",
            "6",
            "--temperature",
            "1.0",
            "--top-k",
            "50",
            "--top-p",
            "0.9",
            "--seed",
            seed,
        ])
        .expect(0)
        .stdout
    };
    assert_eq!(sampled("1"), sampled("1"));

    t.run([
        "merge",
        "--model",
        &s(&m),
        "--adapter",
        &adapter,
        "-o",
        "merged",
    ])
    .expect(0);
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "chat_template.jinja",
    ] {
        assert!(t.path("merged").join(f).is_file(), "{f}");
    }
    let score = |args: &[&str]| {
        let mut v = vec!["score", "--data"];
        let d = data("sft_eval.jsonl");
        v.push(&d);
        v.extend(["-t", "chatml", "--json"]);
        v.extend(args);
        t.run(v).expect(0).stdout
    };
    let with_adapter = score(&["--model", &s(&m), "--adapter", &adapter]);
    let merged = score(&["--model", &s(&t.path("merged"))]);
    for (a, b) in with_adapter.lines().zip(merged.lines()) {
        let (a, b): (Value, Value) = (
            serde_json::from_str(a).unwrap(),
            serde_json::from_str(b).unwrap(),
        );
        assert!((a["loss"].as_f64().unwrap() - b["loss"].as_f64().unwrap()).abs() < 1e-4);
    }
}

#[test]
fn bad_inputs_get_a_message_and_an_exit_code_never_a_panic() {
    let t = CliTest::new();
    let m = model(&t, "model", 64);
    let sft = data("sft.jsonl");
    let base = |extra: &[&str]| {
        let mut v = vec!["train"];
        v.extend(extra);
        t.run(v)
    };
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec![
                "--data", &sft, "--method", "sft", "--model", "nope", "--out", "r1",
            ],
            2,
            "nope",
        ),
        (
            vec![
                "--data",
                &sft,
                "--method",
                "dpo",
                "--model",
                &m.to_str().unwrap(),
                "--out",
                "r2",
            ],
            2,
            "trains on preference records",
        ),
        (
            vec![
                "--data",
                &sft,
                "--method",
                "kto",
                "--batch",
                "1",
                "--model",
                m.to_str().unwrap(),
                "--out",
                "r3",
            ],
            2,
            "KTO needs `batch_size` >= 2",
        ),
        (
            vec![
                "--data",
                &sft,
                "--method",
                "sft",
                "--max-len",
                "4096",
                "--model",
                m.to_str().unwrap(),
                "--out",
                "r4",
            ],
            2,
            "longer than the model's context",
        ),
        (
            vec![
                "--data",
                "missing.jsonl",
                "--method",
                "sft",
                "--model",
                m.to_str().unwrap(),
                "--out",
                "r5",
            ],
            2,
            "missing.jsonl",
        ),
        (
            vec![
                "--data",
                &sft,
                "--method",
                "sft",
                "--model",
                m.to_str().unwrap(),
                "--out",
                "r6",
                "--device",
                "tpu",
            ],
            2,
            "unknown device",
        ),
    ];
    for (args, code, needle) in cases {
        let out = base(&args).expect(code);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    }

    t.write("empty.jsonl", "");
    let out = base(&[
        "--data",
        "empty.jsonl",
        "--method",
        "sft",
        "--model",
        m.to_str().unwrap(),
        "--out",
        "r7",
    ]);
    assert_eq!(out.code, 1, "{}", out.stderr);

    // An architecture ajuste does not implement.
    let gpt2 = t.path("gpt2");
    std::fs::create_dir(&gpt2).unwrap();
    std::fs::write(
        gpt2.join("config.json"),
        r#"{"model_type":"gpt2","n_embd":8}"#,
    )
    .unwrap();
    let out = base(&[
        "--data",
        &sft,
        "--method",
        "sft",
        "--model",
        gpt2.to_str().unwrap(),
        "-t",
        "chatml",
        "--tokenizer",
        m.to_str().unwrap(),
        "--out",
        "r8",
    ])
    .expect(2);
    assert!(out.stderr.contains("gpt2"), "{}", out.stderr);

    // A model whose vocabulary the tokenizer does not fit.
    let small = t.path("small");
    std::fs::create_dir(&small).unwrap();
    let json = r#"{"model_type":"llama","hidden_size":16,"intermediate_size":16,"num_attention_heads":2,
        "num_hidden_layers":1,"vocab_size":100,"max_position_embeddings":128}"#;
    let cfg = ModelConfig::from_json(json.as_bytes(), "small").unwrap();
    let w = RandomWeights {
        seed: 1,
        std: 0.1,
        tied: true,
    };
    Model::from_weights(cfg, &w, &Device::flex())
        .unwrap()
        .save(&small)
        .unwrap();
    let out = base(&[
        "--data",
        &sft,
        "--method",
        "sft",
        "--model",
        small.to_str().unwrap(),
        "-t",
        "chatml",
        "--tokenizer",
        m.to_str().unwrap(),
        "--out",
        "r9",
    ])
    .expect(2);
    assert!(
        out.stderr.contains("outside the model's vocabulary"),
        "{}",
        out.stderr
    );

    // An adapter trained on another model shape.
    train_sft(&t, &m, "run", &[]).expect(0);
    let wide = model(&t, "wide", 96);
    let out = t
        .run([
            "score",
            "--model",
            wide.to_str().unwrap(),
            "--adapter",
            &s(&t.path("run/adapter")),
            "--data",
            &data("sft_eval.jsonl"),
            "-t",
            "chatml",
        ])
        .expect(2);
    assert!(out.stderr.contains("has shape"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "cannot load the model in `{}` with the adapter `{}`",
            wide.display(),
            t.path("run/adapter").display()
        )),
        "{}",
        out.stderr
    );
    let out = t
        .run([
            "generate",
            "--model",
            m.to_str().unwrap(),
            "--prompt",
            "x",
            "--temperature=-1",
        ])
        .expect(2);
    assert!(out.stderr.contains("temperature"), "{}", out.stderr);
    let out = t
        .run([
            "merge",
            "--model",
            m.to_str().unwrap(),
            "--adapter",
            "no-adapter",
            "-o",
            "m2",
        ])
        .expect(2);
    assert!(out.stderr.contains("no-adapter"), "{}", out.stderr);
}
