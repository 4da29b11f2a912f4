//! `ajuste export gguf` and `ajuste export --to ...`, checked against what the golden script
//! (`tests/golden/export.py`) saw gguf-py, llama.cpp, Go and the targets' parsers do with the
//! same exports (`tests/fixtures/golden/export/*.json`), plus a GGUF reader of our own for the
//! file's structure.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::util::{CliTest, fixture, fx, read_json};

const TOKENIZER: &str = "tests/fixtures/golden/export/tokenizer";

fn golden(name: &str) -> Value {
    let path = fixture(&format!("tests/fixtures/golden/export/{name}"));
    read_json(&path)
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A GGUF file as our reader sees it.
struct Gguf {
    metadata: BTreeMap<String, Value>,
    /// name → (ggml type id, dims innermost first, data bytes)
    tensors: BTreeMap<String, (u32, Vec<u64>, Vec<u8>)>,
    order: Vec<String>,
}

/// A cursor over the file's bytes that fails the test on truncation.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        assert!(self.at + n <= self.bytes.len(), "truncated at {}", self.at);
        let s = &self.bytes[self.at..self.at + n];
        self.at += n;
        s
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take(4).try_into().unwrap())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take(8).try_into().unwrap())
    }
    fn string(&mut self) -> String {
        let n = self.u64() as usize;
        String::from_utf8(self.take(n).to_vec()).expect("GGUF strings are UTF-8")
    }
    /// One value of gguf type `ty` (gguf.h numbering), as JSON.
    fn value(&mut self, ty: u32) -> Value {
        match ty {
            0 => json!(self.take(1)[0]),
            1 => json!(self.take(1)[0] as i8),
            2 => json!(u16::from_le_bytes(self.take(2).try_into().unwrap())),
            3 => json!(i16::from_le_bytes(self.take(2).try_into().unwrap())),
            4 => json!(self.u32()),
            5 => json!(i32::from_le_bytes(self.take(4).try_into().unwrap())),
            6 => json!(f32::from_le_bytes(self.take(4).try_into().unwrap())),
            7 => {
                let b = self.take(1)[0];
                assert!(b <= 1, "bool byte {b}");
                json!(b == 1)
            }
            8 => json!(self.string()),
            9 => {
                let inner = self.u32();
                let n = self.u64();
                Value::Array((0..n).map(|_| self.value(inner)).collect())
            }
            10 => json!(self.u64()),
            11 => json!(i64::from_le_bytes(self.take(8).try_into().unwrap())),
            12 => json!(f64::from_le_bytes(self.take(8).try_into().unwrap())),
            other => panic!("unknown GGUF value type {other}"),
        }
    }
}

/// Bytes of `n` values of ggml type `ty` (the three we write).
fn type_size(ty: u32, n: u64) -> u64 {
    match ty {
        0 => n * 4,
        1 => n * 2,
        8 => n / 32 * 34,
        other => panic!("unexpected ggml type {other}"),
    }
}

/// Parses a GGUF v3 file, asserting its layout: 32-byte aligned data section, every tensor at
/// an aligned offset in order without overlap, the file ending at the padded last tensor.
fn read_gguf(bytes: &[u8]) -> Gguf {
    let mut c = Cursor { bytes, at: 0 };
    assert_eq!(c.take(4), b"GGUF");
    assert_eq!(c.u32(), 3, "version");
    let n_tensors = c.u64();
    let n_kv = c.u64();
    let mut metadata = BTreeMap::new();
    for _ in 0..n_kv {
        let key = c.string();
        let ty = c.u32();
        let v = c.value(ty);
        assert!(
            metadata.insert(key.clone(), v).is_none(),
            "duplicate key {key}"
        );
    }
    let align = metadata
        .get("general.alignment")
        .and_then(Value::as_u64)
        .unwrap_or(32) as usize;
    assert_eq!(align, 32);
    let mut infos = Vec::new();
    for _ in 0..n_tensors {
        let name = c.string();
        let n_dims = c.u32();
        let dims: Vec<u64> = (0..n_dims).map(|_| c.u64()).collect();
        let ty = c.u32();
        let offset = c.u64();
        infos.push((name, dims, ty, offset));
    }
    let data_start = c.at.next_multiple_of(align);
    assert!(bytes[c.at..data_start].iter().all(|&b| b == 0), "padding");
    let mut tensors = BTreeMap::new();
    let mut order = Vec::new();
    let mut expected_offset = 0u64;
    for (name, dims, ty, offset) in infos {
        assert_eq!(offset % align as u64, 0, "{name} offset unaligned");
        assert_eq!(offset, expected_offset, "{name}: tensors packed in order");
        let size = type_size(ty, dims.iter().product());
        let start = data_start + offset as usize;
        let data = bytes[start..start + size as usize].to_vec();
        expected_offset = (offset + size).next_multiple_of(align as u64);
        order.push(name.clone());
        tensors.insert(name, (ty, dims, data));
    }
    assert_eq!(
        bytes.len() as u64,
        data_start as u64 + expected_offset,
        "file ends after the last tensor's padding"
    );
    Gguf {
        metadata,
        tensors,
        order,
    }
}

fn ggml_type_name(ty: u32) -> &'static str {
    match ty {
        0 => "F32",
        1 => "F16",
        8 => "Q8_0",
        _ => "?",
    }
}

fn export_case(t: &CliTest, case: &Value, out: &str) -> Vec<u8> {
    // A golden model with the golden tokenizer, or a model of the repository (the studio's micro
    // model) with its own.
    let (model, tokenizer) = match case["repo_model"].as_str() {
        Some(dir) => (fx(dir), fx(dir)),
        None => (
            fx(&format!(
                "tests/fixtures/golden/{}",
                case["model"].as_str().unwrap()
            )),
            fx(TOKENIZER),
        ),
    };
    let mut args = vec![
        "export".to_string(),
        "gguf".into(),
        "--model".into(),
        model,
        "--tokenizer".into(),
        tokenizer,
        "--type".into(),
        case["type"].as_str().unwrap().into(),
        "-o".into(),
        out.into(),
        "--template".into(),
        "chatml".into(),
    ];
    if let Some(adapter) = case["adapter"].as_str() {
        args.push("--adapter".into());
        args.push(fx(&format!("tests/fixtures/golden/{adapter}")));
    }
    t.run(&args).expect(0);
    std::fs::read(t.path(out)).unwrap()
}

#[test]
fn gguf_exports_are_the_files_gguf_py_and_llama_cpp_checked() {
    let facts = golden("gguf.json");
    let cases = facts["cases"].as_object().unwrap();
    assert_eq!(cases.len(), 10);
    assert!(
        cases.contains_key("micro-q8_0"),
        "the studio's micro model exports too"
    );
    let t = CliTest::new();
    for (name, fact) in cases {
        // What the golden run established about this export.
        for (check, ok) in fact["checks"].as_object().unwrap() {
            assert_eq!(ok, &json!(true), "{name}: golden check {check} failed");
        }
        if let Some(llama) = fact.get("llama_cpp") {
            assert_eq!(llama["ran"], json!(true), "{name}");
            let diff = llama["max_abs_diff"].as_f64().unwrap();
            assert!(diff < 1e-4, "{name}: llama.cpp logits differ by {diff}");
        }
        let bytes = export_case(&t, &fact["case"], &format!("{name}.gguf"));
        let g = read_gguf(&bytes);
        // Scalars and strings exactly as gguf-py read them.
        for (key, want) in fact["metadata"].as_object().unwrap() {
            let got = g
                .metadata
                .get(key)
                .unwrap_or_else(|| panic!("{name}: no {key}"));
            match (got.as_f64(), want.as_f64()) {
                (Some(a), Some(b)) if got.is_f64() => {
                    assert_eq!(a as f32, b as f32, "{name}: {key}")
                }
                _ => assert_eq!(got, want, "{name}: {key}"),
            }
        }
        let template = &g.metadata["tokenizer.chat_template"];
        assert_eq!(
            sha256(template.as_str().unwrap().as_bytes()),
            fact["chat_template_sha256"].as_str().unwrap()
        );
        let tensors = fact["tensors"].as_object().unwrap();
        assert_eq!(g.order.len(), tensors.len(), "{name}");
        for (tname, want) in tensors {
            let (ty, dims, data) = &g.tensors[tname];
            assert_eq!(ggml_type_name(*ty), want["type"], "{name}: {tname}");
            // gguf-py's ReaderTensor.shape is in ggml order too (innermost first).
            assert_eq!(json!(dims), want["shape"], "{name}: {tname}");
            assert_eq!(
                sha256(data),
                want["sha256"].as_str().unwrap(),
                "{name}: {tname}"
            );
        }
        assert_eq!(
            sha256(&bytes),
            fact["file_sha256"].as_str().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn gguf_vocabulary_is_the_tokenizer_padded_to_the_embedding_rows() {
    let t = CliTest::new();
    let case = json!({"model": "qwen2-f16-sharded", "type": "f16"});
    let g = read_gguf(&export_case(&t, &case, "q.gguf"));
    let tj: Value = read_json(&fixture(TOKENIZER).join("tokenizer.json"));
    let tokens = g.metadata["tokenizer.ggml.tokens"].as_array().unwrap();
    let types = g.metadata["tokenizer.ggml.token_type"].as_array().unwrap();
    assert_eq!(tokens.len(), 320, "padded to qwen2's vocab_size");
    for (tok, id) in tj["model"]["vocab"].as_object().unwrap() {
        let i = id.as_u64().unwrap() as usize;
        assert_eq!(tokens[i].as_str().unwrap(), tok);
    }
    let n = tj["model"]["vocab"].as_object().unwrap().len();
    assert_eq!(tokens[n + 10], json!(format!("[PAD{}]", n + 10)));
    assert_eq!(types[n + 10], json!(5), "padding is UNUSED");
    assert_eq!(types[2], json!(3), "<|im_end|> is CONTROL");
    assert_eq!(g.metadata["tokenizer.ggml.model"], json!("gpt2"));
    assert!(!g.metadata.contains_key("tokenizer.ggml.eot_token_id"));
}

#[test]
fn the_ollama_templates_are_the_ones_go_rendered_like_the_jinja() {
    let facts = golden("ollama.json");
    assert!(facts["go"].is_string(), "the golden run had Go");
    let t = CliTest::new();
    for (name, fact) in facts["templates"].as_object().unwrap() {
        assert_eq!(fact["equal"], json!(true), "{name}: Go and Jinja differed");
        assert!(fact["conversations"].as_u64().unwrap() >= 4, "{name}");
        let dir = t.path(name);
        t.run([
            "export",
            "gguf",
            "--model",
            &fx("tests/fixtures/golden/llama-f32"),
            "--tokenizer",
            &fx(TOKENIZER),
            "--template",
            name,
            "-o",
            &format!("{name}.gguf"),
            "--ollama",
            dir.to_str().unwrap(),
        ])
        .expect(0);
        let mf = std::fs::read_to_string(dir.join("Modelfile")).unwrap();
        assert!(mf.contains(
            &format!("FROM {}", t.path(&format!("{name}.gguf")).canonicalize().unwrap().display())
        ));
        let start = mf.find("TEMPLATE \"\"\"").unwrap() + "TEMPLATE \"\"\"".len();
        let end = start + mf[start..].find("\"\"\"").unwrap();
        assert_eq!(
            sha256(&mf.as_bytes()[start..end]),
            fact["go_template_sha256"].as_str().unwrap(),
            "{name}: the Go template changed since the golden run; rerun tests/golden/export.py"
        );
        let stops: Vec<String> = mf
            .lines()
            .filter_map(|l| l.strip_prefix("PARAMETER stop "))
            .map(str::to_owned)
            .collect();
        assert_eq!(json!(stops), fact["stop"], "{name}");
        assert!(mf.contains("PARAMETER num_ctx 128\n"), "{name}");
    }
}

#[test]
fn a_modelfile_beside_the_gguf_names_it_relatively() {
    let t = CliTest::new();
    std::fs::create_dir(t.path("out")).unwrap();
    t.run([
        "export",
        "gguf",
        "--model",
        &fx("tests/fixtures/golden/llama-f32"),
        "--tokenizer",
        &fx(TOKENIZER),
        "-o",
        "out/m.gguf",
        "--ollama",
        "out",
    ])
    .expect(0);
    let mf = std::fs::read_to_string(t.path("out/Modelfile")).unwrap();
    // No --template: the tokenizer directory's chat_template (ChatML) is used and recognised.
    assert!(
        mf.contains("FROM ./m.gguf\n") && mf.contains("TEMPLATE"),
        "{mf}"
    );
}

/// Top-level keys of a YAML file we wrote (one `key: ...` per line at column 0).
fn yaml_keys(text: &str) -> Vec<String> {
    let mut keys: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with([' ', '#', '-']) && l.contains(':'))
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect();
    keys.sort();
    keys
}

fn make_bundle(t: &CliTest, template: &str, data: &Path, extra: &[&str]) -> String {
    let out = format!("{template}.ajuste");
    let mut args = vec![
        "bundle",
        "create",
        data.to_str().unwrap(),
        "--template",
        template,
        "--eval-fraction",
        "0.2",
        "--seed",
        "1",
        "-o",
        &out,
    ];
    args.extend_from_slice(extra);
    t.run(&args).expect(0);
    out
}

#[test]
fn handoff_configs_have_the_keys_their_parsers_accepted() {
    let facts = golden("handoff.json");
    let t = CliTest::new();
    let data = fixture("tests/fixtures/golden/export/handoff-data.jsonl");
    let tok = fx(TOKENIZER);
    let bundle = make_bundle(&t, "chatml", &data, &["--model", &tok]);
    for (target, file) in [
        ("trl", "trl.yaml"),
        ("axolotl", "axolotl.yml"),
        ("llamafactory", "llamafactory.yaml"),
    ] {
        let fact = if target == "llamafactory" {
            &facts["llamafactory/chatml"]
        } else {
            &facts[target]
        };
        assert_eq!(fact["parsed"], json!(true), "{target}: {}", fact["error"]);
        assert_eq!(fact["render_equal"], json!(true), "{target}");
        let out = format!("{target}-out");
        t.run(["export", "--to", target, &bundle, "-o", &out])
            .expect(0);
        let dir = t.path(&out);
        let cfg = std::fs::read_to_string(dir.join(file)).unwrap();
        assert_eq!(json!(yaml_keys(&cfg)), fact["keys"], "{target}");
        #[cfg(unix)]
        {
            // Staged in a temporary folder, but landed with the modes of any new folder.
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            std::fs::create_dir(t.path("plain")).ok();
            assert_eq!(mode(&dir), mode(&t.path("plain")), "{target}");
        }
        for f in [
            "README.md",
            "chat_template.jinja",
            "data/train.jsonl",
            "data/eval.jsonl",
            "accelerate/multi_gpu.yaml",
            "accelerate/multi_node.yaml",
            "deepspeed/zero2.json",
        ] {
            assert!(dir.join(f).is_file(), "{target}: {f}");
        }
        let template = std::fs::read_to_string(dir.join("chat_template.jinja")).unwrap();
        assert_eq!(
            template,
            std::fs::read_to_string(fixture("shared/src/template/builtins/chatml.jinja")).unwrap()
        );
        let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
        assert!(
            readme.contains("## Launch") && readme.contains(file),
            "{target}"
        );
    }
    assert_eq!(facts["trl"]["unknown_keys"], json!([]));
    // TRL trains exactly the text ajuste marks as trained (answer + end of turn).
    assert_eq!(facts["trl"]["trained_equal"], json!(true));
    assert_eq!(facts["trl"]["completion_only_loss"], json!(true));
}

#[test]
fn dpo_handoffs_parse_in_each_target_and_trl_gets_no_template_key() {
    let facts = golden("handoff.json");
    for target in ["trl", "axolotl", "llamafactory"] {
        let fact = &facts["dpo"][target];
        assert_eq!(fact["parsed"], json!(true), "{target}: {}", fact["error"]);
    }
    // `trl dpo` has no chat-template setting: a `chat_template_path` key would be refused.
    assert_eq!(facts["dpo"]["trl"]["unknown_keys"], json!([]));
    assert_eq!(facts["dpo"]["llamafactory"]["stage"], json!("dpo"));
    assert_eq!(facts["dpo"]["axolotl"]["rl"], json!("dpo"));

    let t = CliTest::new();
    let prefs = t.write(
        "prefs.jsonl",
        concat!(
            r#"{"prompt": "Name a colour.", "chosen": "Blue.", "rejected": "No."}"#,
            "\n",
            r#"{"prompt": "Say hi.", "chosen": "hi", "rejected": "go away"}"#,
            "\n",
            r#"{"prompt": "Count to two.", "chosen": "1, 2.", "rejected": "3"}"#,
            "\n",
        ),
    );
    let tok = fx(TOKENIZER);
    let bundle = make_bundle(&t, "chatml", &prefs, &["--method", "dpo", "--model", &tok]);
    let out = t
        .run(["export", "--to", "trl", &bundle, "-o", "trl-dpo"])
        .expect(0);
    let cfg = std::fs::read_to_string(t.path("trl-dpo").join("trl.yaml")).unwrap();
    assert!(
        !yaml_keys(&cfg).contains(&"chat_template_path".to_string()),
        "{cfg}"
    );
    assert!(
        out.stderr
            .contains("chat_template.jinja into the model directory"),
        "{}",
        out.stderr
    );
}

#[test]
fn llamafactory_templates_map_as_measured_and_mismatches_are_warned() {
    let facts = golden("handoff.json");
    let t = CliTest::new();
    let data = fixture("tests/fixtures/golden/export/handoff-data.jsonl");
    std::fs::write(
        t.path("no-system.jsonl"),
        std::fs::read_to_string(&data)
            .unwrap()
            .lines()
            .map(|l| {
                let mut v: Value = serde_json::from_str(l).unwrap();
                v["messages"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|m| m["role"] != "system");
                format!("{v}\n")
            })
            .collect::<String>(),
    )
    .unwrap();
    let tok = fx(TOKENIZER);
    for template in [
        "chatml", "qwen", "llama3", "llama2", "mistral", "gemma", "phi3", "zephyr", "vicuna",
        "alpaca",
    ] {
        let fact = &facts[format!("llamafactory/{template}")];
        let input = if template == "gemma" {
            t.path("no-system.jsonl")
        } else {
            data.clone()
        };
        let bundle = make_bundle(&t, template, &input, &["--model", &tok]);
        let out = format!("lf-{template}");
        let run = t
            .run(["export", "--to", "llamafactory", &bundle, "-o", &out])
            .expect(0);
        let cfg = std::fs::read_to_string(t.path(&out).join("llamafactory.yaml")).unwrap();
        assert!(
            cfg.contains(&format!(
                "template: \"{}\"\n",
                fact["template"].as_str().unwrap()
            )),
            "{template}"
        );
        // A template is declared exact only where LLaMA-Factory's rendering matched ajuste's
        // (up to the BOS text the fixture tokenizer lacks); every other one is warned about.
        let exact = fact["render_equal_but_leading_bos"] == json!(true);
        assert_eq!(
            !run.stderr.contains("warning:"),
            exact,
            "{template}: {}",
            run.stderr
        );
        let readme = std::fs::read_to_string(t.path(&out).join("README.md")).unwrap();
        assert_eq!(readme.contains("## Warnings"), !exact, "{template}");
    }
}

#[test]
fn an_adapter_for_another_base_is_refused_and_nothing_is_written() {
    let t = CliTest::new();
    t.write("out.gguf", "old");
    let run = t
        .run([
            "export",
            "gguf",
            "--model",
            &fx("tests/fixtures/golden/llama-f32"),
            "--adapter",
            &fx("tests/fixtures/golden/qwen2-f16-sharded/adapters/lora"),
            "--tokenizer",
            &fx(TOKENIZER),
            "-o",
            "out.gguf",
        ])
        .expect(2);
    assert!(
        run.stderr.contains("adapter_model.safetensors"),
        "{}",
        run.stderr
    );
    assert_eq!(std::fs::read_to_string(t.path("out.gguf")).unwrap(), "old");
    assert_eq!(
        std::fs::read_dir(t.dir.path()).unwrap().count(),
        1,
        "no temporary left"
    );
}

#[test]
fn an_unknown_architecture_is_refused() {
    let t = CliTest::new();
    let src = fixture("tests/fixtures/golden/llama-f32");
    std::fs::create_dir(t.path("m")).unwrap();
    std::fs::copy(src.join("model.safetensors"), t.path("m/model.safetensors")).unwrap();
    let mut cfg: Value = read_json(&src.join("config.json"));
    cfg["model_type"] = json!("gpt2");
    std::fs::write(t.path("m/config.json"), cfg.to_string()).unwrap();
    let run = t
        .run([
            "export",
            "gguf",
            "--model",
            "m",
            "--tokenizer",
            &fx(TOKENIZER),
            "--template",
            "chatml",
            "-o",
            "x.gguf",
        ])
        .expect(2);
    assert!(run.stderr.contains("gpt2"), "{}", run.stderr);
    assert!(!t.path("x.gguf").exists());
}

#[test]
fn a_missing_template_or_tokenizer_is_refused() {
    let t = CliTest::new();
    std::fs::create_dir(t.path("tok")).unwrap();
    std::fs::copy(
        fixture(TOKENIZER).join("tokenizer.json"),
        t.path("tok/tokenizer.json"),
    )
    .unwrap();
    std::fs::write(
        t.path("tok/tokenizer_config.json"),
        r#"{"eos_token": "<|im_end|>"}"#,
    )
    .unwrap();
    let model = fx("tests/fixtures/golden/llama-f32");
    let run = t
        .run([
            "export",
            "gguf",
            "--model",
            &model,
            "--tokenizer",
            "tok",
            "-o",
            "x.gguf",
        ])
        .expect(2);
    assert!(run.stderr.contains("no chat template"), "{}", run.stderr);
    let run = t
        .run([
            "export",
            "gguf",
            "--model",
            &model,
            "--template",
            "chatml",
            "-o",
            "x.gguf",
        ])
        .expect(2);
    assert!(run.stderr.contains("no tokenizer.json"), "{}", run.stderr);
    let run = t
        .run([
            "export",
            "gguf",
            "--model",
            &model,
            "--template",
            "chatml",
            "--type",
            "q4",
            "-o",
            "x.gguf",
        ])
        .expect(2);
    assert!(run.stderr.contains("--type"), "{}", run.stderr);
    assert!(!t.path("x.gguf").exists());
}

#[test]
fn handoffs_a_target_would_reject_are_refused_without_output() {
    let t = CliTest::new();
    t.write(
        "prefs.jsonl",
        concat!(
            r#"{"prompt": "Name a colour.", "chosen": "Blue.", "rejected": "No."}"#,
            "\n",
            r#"{"prompt": "Say hi.", "chosen": "hi", "rejected": "go away"}"#,
            "\n",
            r#"{"prompt": "Count to two.", "chosen": "1, 2.", "rejected": "3"}"#,
            "\n",
        ),
    );
    let simpo = make_bundle(
        &t,
        "chatml",
        &t.path("prefs.jsonl"),
        &["--method", "simpo", "--model", "some/model"],
    );
    let run = t
        .run(["export", "--to", "trl", &simpo, "-o", "trl-out"])
        .expect(2);
    assert!(run.stderr.contains("simpo"), "{}", run.stderr);
    assert!(!t.path("trl-out").exists());
    // Axolotl and LLaMA-Factory do run SimPO.
    t.run(["export", "--to", "axolotl", &simpo, "-o", "ax-out"])
        .expect(0);
    let cfg = std::fs::read_to_string(t.path("ax-out/axolotl.yml")).unwrap();
    assert!(
        cfg.contains("rl: \"simpo\"") && cfg.contains("simpo_gamma: "),
        "{cfg}"
    );
    // No base model anywhere.
    let data = fixture("tests/fixtures/golden/export/handoff-data.jsonl");
    let plain = make_bundle(&t, "qwen", &data, &[]);
    let run = t
        .run(["export", "--to", "axolotl", &plain, "-o", "none"])
        .expect(2);
    assert!(run.stderr.contains("--model"), "{}", run.stderr);
    assert!(!t.path("none").exists());
    t.run([
        "export", "--to", "axolotl", &plain, "--model", "m", "-o", "some",
    ])
    .expect(0);
    let run = t
        .run(["export", "--to", "deepspeed", &plain, "-o", "x"])
        .expect(2);
    assert!(run.stderr.contains("unknown target"), "{}", run.stderr);
}
