//! `ajuste pretrain` end to end on a tiny generated corpus, and the shipped micro model
//! (static/models/micro): it loads, answers in ChatML, and a LoRA on the pirate persona
//! (static/samples/pirate-*.jsonl) lowers its held-out loss.

use std::path::{Path, PathBuf};

use ajuste_shared::template::Builtin;
use ajuste_trainer::adapter::AdapterSpec;
use ajuste_trainer::model::Model;
use burn::tensor::Device;
use serde_json::Value;

use crate::util::{CliTest, Run, fixture, read_json, read_jsonl};

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A few dozen ChatML conversations separated by `<|endoftext|>`.
fn tiny_corpus() -> String {
    let colours = [
        ("the sky", "blue"),
        ("grass", "green"),
        ("snow", "white"),
        ("coal", "black"),
    ];
    let mut out = String::new();
    for i in 0..48usize {
        let (a, b) = (i % 7, (i * 3) % 5);
        let (q, ans) = if i % 2 == 0 {
            (
                format!("What is {a} plus {b}?"),
                format!("{a} plus {b} is {}.", a + b),
            )
        } else {
            let (thing, colour) = colours[i % 4];
            (
                format!("What colour is {thing}?"),
                format!("The colour of {thing} is {colour}."),
            )
        };
        out.push_str(&format!(
            "<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n{ans}<|im_end|>\n<|endoftext|>\n"
        ));
    }
    out
}

const TINY: [&str; 22] = [
    "--vocab",
    "300",
    "--hidden",
    "32",
    "--layers",
    "2",
    "--heads",
    "4",
    "--kv-heads",
    "2",
    "--intermediate",
    "64",
    "--max-len",
    "32",
    "--batch",
    "4",
    "--lr",
    "1e-2",
    "--logging-steps",
    "1",
    "--eval-fraction",
    "0.1",
];

fn pretrain(t: &CliTest, corpus: &Path, out: &str, steps: usize, seed: u64) -> Run {
    let mut args: Vec<String> = vec!["pretrain".into(), "--corpus".into(), s(corpus)];
    args.extend(TINY.iter().map(|a| a.to_string()));
    args.extend([
        "--steps".into(),
        steps.to_string(),
        "--seed".into(),
        seed.to_string(),
        "-o".into(),
        out.into(),
    ]);
    t.run(args)
}

#[test]
fn pretrain_writes_a_hugging_face_directory_that_loads_and_generates() {
    let t = CliTest::new();
    let corpus = t.write("corpus.txt", tiny_corpus());
    let run = pretrain(&t, &corpus, "model", 40, 7).expect(0);
    assert!(run.stderr.contains("48 documents"), "{}", run.stderr);
    let dir = t.path("model");
    for f in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "generation_config.json",
        "events.jsonl",
        "pretrain.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }

    // The loss falls: on the training steps and on the held-out sequences.
    let events = read_jsonl(&dir.join("events.jsonl"));
    let losses: Vec<f64> = events
        .iter()
        .filter(|e| e["event"] == "step")
        .map(|e| e["loss"].as_f64().unwrap())
        .collect();
    assert_eq!(losses.len(), 40);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    assert!(
        mean(&losses[35..]) < 0.5 * mean(&losses[..5]),
        "losses {losses:?}"
    );
    let evals: Vec<f64> = events
        .iter()
        .filter(|e| e["event"] == "eval")
        .map(|e| e["eval_loss"].as_f64().unwrap())
        .collect();
    assert_eq!(evals.len(), 2, "before the first step and at the end");
    assert!(evals[1] < evals[0] - 1.0, "held-out losses {evals:?}");

    // config.json: a tied Llama whose vocabulary is the tokenizer's, special tokens first.
    let config = read_json(&dir.join("config.json"));
    assert_eq!(config["architectures"][0], "LlamaForCausalLM");
    assert_eq!(config["tie_word_embeddings"], true);
    assert_eq!(config["max_position_embeddings"], 32);
    assert_eq!(
        (
            &config["bos_token_id"],
            &config["eos_token_id"],
            &config["pad_token_id"]
        ),
        (&Value::from(0), &Value::from(2), &Value::from(3))
    );
    let tokenizer = read_json(&dir.join("tokenizer.json"));
    let added: Vec<&str> = tokenizer["added_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        added,
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|pad|>"]
    );
    let vocab = tokenizer["model"]["vocab"].as_object().unwrap().len();
    assert_eq!(config["vocab_size"].as_u64(), Some(vocab as u64));
    assert!(vocab <= 300);
    let tc = read_json(&dir.join("tokenizer_config.json"));
    assert_eq!(tc["chat_template"], Builtin::Chatml.jinja_source());
    assert_eq!(
        (&tc["bos_token"], &tc["eos_token"], &tc["pad_token"]),
        (
            &Value::from("<|endoftext|>"),
            &Value::from("<|im_end|>"),
            &Value::from("<|pad|>")
        )
    );
    let gc = read_json(&dir.join("generation_config.json"));
    assert_eq!(gc["eos_token_id"], serde_json::json!([2, 0]));
    let record = read_json(&dir.join("pretrain.json"));
    assert_eq!(record["documents"], 48);
    assert_eq!(record["geometry"]["hidden"], 32);

    // The library loads it, every tensor used.
    let model = Model::load(&dir, &Device::flex(), &AdapterSpec::none()).unwrap();
    assert!(model.is_tied());
    assert_eq!(model.config.vocab_size, vocab);
    assert_eq!(record["parameters"].as_u64(), Some(model_params(&model)));

    // `ajuste generate` finds the template in the directory and stops.
    let out = t
        .run([
            "generate",
            "--model",
            &s(&dir),
            "--prompt",
            "What colour is snow?",
            "--max-new",
            "12",
        ])
        .expect(0);
    assert!(
        out.stderr.contains("generated; stopped at"),
        "{}",
        out.stderr
    );
    // And `ajuste score` reads it with its own chat template.
    t.write(
        "eval.jsonl",
        r#"{"messages":[{"role":"user","content":"What is 3 plus 1?"},{"role":"assistant","content":"3 plus 1 is 4."}]}
"#,
    );
    t.run([
        "score",
        "--model",
        &s(&dir),
        "--data",
        "eval.jsonl",
        "--chat-template",
        &s(&dir),
    ])
    .expect(0);
}

fn model_params(model: &Model) -> u64 {
    use burn::module::Module;
    model.num_params() as u64
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_other_weights() {
    let t = CliTest::new();
    let corpus = t.write("corpus.txt", tiny_corpus());
    pretrain(&t, &corpus, "a", 4, 11).expect(0);
    pretrain(&t, &corpus, "b", 4, 11).expect(0);
    pretrain(&t, &corpus, "c", 4, 12).expect(0);
    let read = |dir: &str, f: &str| std::fs::read(t.path(dir).join(f)).unwrap();
    for f in [
        "model.safetensors",
        "tokenizer.json",
        "config.json",
        "tokenizer_config.json",
    ] {
        assert!(read("a", f) == read("b", f), "{f} differs between two runs");
    }
    assert!(read("a", "model.safetensors") != read("c", "model.safetensors"));
    assert!(
        read("a", "tokenizer.json") == read("c", "tokenizer.json"),
        "the tokenizer depends on the corpus only"
    );
}

#[test]
fn bad_inputs_exit_2_with_a_message_and_nothing_written() {
    let t = CliTest::new();
    let corpus = t.write("corpus.txt", tiny_corpus());
    t.write("empty.txt", "\n<|endoftext|>\n  \n");
    t.write("binary.txt", [0x66u8, 0x6f, 0xff, 0xfe, 0x00]);
    std::fs::create_dir(t.path("no-text")).unwrap();
    t.write("no-text/data.bin", "x");
    t.write("a-file", "x");
    let c = s(&corpus);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--corpus", "missing.txt"], "missing.txt"),
        (vec!["--corpus", "empty.txt"], "no text"),
        (vec!["--corpus", "binary.txt"], "not UTF-8"),
        (vec!["--corpus", "no-text"], "no .txt file"),
        (vec!["--corpus", &c, "--vocab", "100"], "--vocab 100"),
        (vec!["--corpus", &c, "--kv-heads", "4"], "--kv-heads 4"),
        (
            vec!["--corpus", &c, "--hidden", "36", "--heads", "4"],
            "RoPE",
        ),
        (vec!["--corpus", &c, "--steps", "0"], "--steps must be"),
        (vec!["--corpus", &c, "--lr=-1"], "--lr must be"),
        (vec!["--corpus", &c, "--max-len", "1"], "--max-len"),
        (
            vec!["--corpus", &c, "--eval-fraction", "1"],
            "--eval-fraction",
        ),
        (vec!["--corpus", &c, "--device", "tpu"], "tpu"),
    ];
    for (args, message) in cases {
        let mut full = vec!["pretrain", "-o", "out"];
        full.extend(&args);
        let run = t.run(&full).expect(2);
        assert!(
            run.stderr.contains(message),
            "{args:?}: expected `{message}` in:\n{}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        assert!(!t.path("out").exists(), "{args:?} wrote the output");
    }
    // The output cannot be a file, nor the corpus itself.
    let run = t
        .run(["pretrain", "--corpus", &c, "--steps", "1", "-o", "a-file"])
        .expect(2);
    assert!(run.stderr.contains("not a directory"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(t.path("a-file")).unwrap(), "x");
    let run = t
        .run(["pretrain", "--corpus", &c, "--steps", "1", "-o", &c])
        .expect(2);
    assert!(run.stderr.contains("refusing to write"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&corpus).unwrap(), tiny_corpus());
}

fn micro() -> PathBuf {
    fixture("static/models/micro")
}

fn sample(name: &str) -> String {
    s(&fixture(&format!("static/samples/{name}")))
}

/// Mean loss over the trained tokens of `pirate-eval.jsonl`, with an adapter or without.
fn pirate_eval_loss(t: &CliTest, adapter: Option<&Path>) -> f64 {
    let mut args = vec![
        "score".to_string(),
        "--model".into(),
        s(&micro()),
        "--data".into(),
        sample("pirate-eval.jsonl"),
        "--chat-template".into(),
        s(&micro()),
        "--json".into(),
    ];
    if let Some(a) = adapter {
        args.extend(["--adapter".into(), s(a)]);
    }
    let out = t.run(args).expect(0);
    let (mut tokens, mut logprob) = (0.0, 0.0);
    for line in out.stdout.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        tokens += v["tokens"].as_f64().unwrap();
        logprob += v["logprob"].as_f64().unwrap();
    }
    assert!(tokens > 0.0);
    -logprob / tokens
}

fn answer(t: &CliTest, prompt: &str, adapter: Option<&Path>) -> String {
    let mut args = vec![
        "generate".to_string(),
        "--model".into(),
        s(&micro()),
        "--prompt".into(),
        prompt.into(),
        "--max-new".into(),
        "40".into(),
    ];
    if let Some(a) = adapter {
        args.extend(["--adapter".into(), s(a)]);
    }
    let out = t.run(args).expect(0);
    assert!(
        out.stderr.contains("stopped at stop token"),
        "the answer to {prompt:?} does not end: {}\n{}",
        out.stdout,
        out.stderr
    );
    out.stdout.trim().to_string()
}

#[test]
fn the_shipped_micro_model_answers_and_a_pirate_lora_changes_its_answers() {
    let dir = micro();
    let model = Model::load(&dir, &Device::flex(), &AdapterSpec::none()).unwrap();
    let size = std::fs::metadata(dir.join("model.safetensors"))
        .unwrap()
        .len();
    assert!(size <= 20_000_000, "model.safetensors is {size} bytes");
    assert_eq!(model.config.eos_token_ids, [2]);

    let t = CliTest::new();
    // The base model answers in ChatML, stops at <|im_end|> and knows its corpus.
    let base = answer(&t, "What is the capital of France?", None);
    assert_eq!(base, "The capital of France is Paris.");
    // A question of the held-out split only.
    let held_out = "What's the capital city of France?";
    let in_split = |split: &str| {
        read_jsonl(&fixture(&format!("static/samples/pirate-{split}.jsonl")))
            .iter()
            .any(|r| r["conversations"][0]["value"] == held_out)
    };
    assert!(in_split("eval") && !in_split("train"));
    let base = answer(&t, held_out, None);
    assert!(!base.starts_with("Arr"), "{base}");
    let before = pirate_eval_loss(&t, None);

    t.run([
        "train",
        "--data",
        &sample("pirate-train.jsonl"),
        "--method",
        "sft",
        "--model",
        &s(&dir),
        "--adapter",
        "lora",
        "--rank",
        "8",
        "--alpha",
        "16",
        "--steps",
        "30",
        "--batch",
        "8",
        "--lr",
        "2e-3",
        "--seed",
        "1",
        "-o",
        "run",
    ])
    .expect(0);
    let adapter = t.path("run/adapter");
    let after = pirate_eval_loss(&t, Some(&adapter));
    assert!(
        after < 0.6 * before,
        "held-out pirate loss {before:.4} -> {after:.4}"
    );
    // The adapted model talks like a pirate, and still knows the answer.
    let pirate = answer(&t, held_out, Some(&adapter));
    assert_eq!(pirate, "Arr, matey! The capital of France be Paris.");
}
