//! The model and adapters against transformers 5.24, PEFT 0.21 and bitsandbytes 0.50.
//!
//! Fixtures come from `tests/golden/models.py` (run by hand; see its header): tiny seeded Llama
//! and Qwen2 models in f32, bf16 and sharded f16, a padded batch (one full row, one
//! right-padded, one left-padded), logits and masked cross-entropy; PEFT LoRA, rsLoRA and DoRA
//! adapters with random B and the gradient of every adapter parameter; an NF4 quantisation.
//!
//! Tolerance: every value within 1e-4 relative to itself, with a floor at a tenth of the
//! tensor's largest magnitude (values near zero cannot be compared relatively): both sides
//! compute in f32 with different summation orders.
//!
//! The tests run on flex (CPU). `AJUSTE_TEST_DEVICE=wgpu` (or `cuda`) runs them on that
//! backend instead, in a build with the matching cargo feature.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ajuste_trainer::adapter::AdapterSpec;
use ajuste_trainer::adapter::nf4::{Nf4Quantized, Nf4Weight, dynamic_map};
use ajuste_trainer::adapter::peft::save_adapter;
use ajuste_trainer::device::{DeviceKind, device};
use ajuste_trainer::model::{Model, Outputs};
use ajuste_trainer::objective::sft::sft_loss;
use ajuste_trainer::objective::{LabelBatch, output_logps};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};

const REL: f32 = 1e-4;

/// flex unless `AJUSTE_TEST_DEVICE` names another backend.
fn test_device() -> Device {
    match std::env::var("AJUSTE_TEST_DEVICE") {
        Ok(name) => device(name.parse::<DeviceKind>().unwrap()).unwrap(),
        Err(_) => Device::flex(),
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/golden")
}

/// A safetensors file read into plain vectors.
struct Expected {
    f32s: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    ints: BTreeMap<String, (Vec<usize>, Vec<i64>)>,
    bytes: BTreeMap<String, Vec<u8>>,
}

fn read_expected(path: &Path) -> Expected {
    let buf = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let st = SafeTensors::deserialize(&buf).unwrap();
    let mut e = Expected {
        f32s: BTreeMap::new(),
        ints: BTreeMap::new(),
        bytes: BTreeMap::new(),
    };
    for (name, view) in st.tensors() {
        let shape = view.shape().to_vec();
        let data = view.data();
        match view.dtype() {
            Dtype::F32 => {
                let v = data
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect();
                e.f32s.insert(name, (shape, v));
            }
            Dtype::I64 => {
                let v = data
                    .chunks_exact(8)
                    .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                    .collect();
                e.ints.insert(name, (shape, v));
            }
            Dtype::U8 => {
                e.bytes.insert(name, data.to_vec());
            }
            other => panic!("{name}: unexpected dtype {other:?}"),
        }
    }
    e
}

impl Expected {
    fn f(&self, name: &str) -> &[f32] {
        &self
            .f32s
            .get(name)
            .unwrap_or_else(|| panic!("no `{name}`"))
            .1
    }

    fn ids(&self, name: &str, device: &Device) -> Tensor<2, Int> {
        let (shape, v) = &self.ints[name];
        Tensor::from_data(TensorData::new(v.clone(), [shape[0], shape[1]]), device)
    }
}

/// Asserts `got` ≈ `want` element-wise; returns the worst |diff| / allowed ratio.
fn assert_close(what: &str, got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let mut worst = 0.0f32;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let allowed = REL * w.abs().max(0.1 * scale);
        let ratio = (g - w).abs() / allowed.max(f32::MIN_POSITIVE);
        assert!(
            g.is_finite() && ratio <= 1.0,
            "{what}[{i}]: got {g}, want {w} (allowed ±{allowed})"
        );
        worst = worst.max(ratio);
    }
    worst
}

/// transformers' causal-LM loss: predict token t+1 from position t, mean over labels != -100.
fn masked_ce(logits: Tensor<3>, labels: &Tensor<2, Int>) -> Tensor<1> {
    let [b, t, _] = logits.dims();
    let logp = log_softmax(logits.narrow(1, 0, t - 1), 2); // [b, t-1, vocab]
    let targets = labels.clone().narrow(1, 1, t - 1); // [b, t-1]
    let keep = targets.clone().not_equal_elem(-100).float(); // [b, t-1]
    let safe = targets.clamp_min(0).reshape([b, t - 1, 1]);
    let picked = logp.gather(2, safe).reshape([b, t - 1]);
    let count = keep.clone().sum();
    (picked * keep).sum().neg() / count
}

/// Logits at non-padding positions only (padding rows are implementation-defined).
fn real_positions(logits: &[f32], mask: &[i64], vocab: usize) -> Vec<f32> {
    mask.iter()
        .enumerate()
        .filter(|(_, m)| **m == 1)
        .flat_map(|(p, _)| logits[p * vocab..(p + 1) * vocab].to_vec())
        .collect()
}

struct Run {
    logits: Vec<f32>,
    loss: f32,
    model: Model,
    grads: Option<burn::tensor::Gradients>,
    /// The same loss the way the trainer takes it: SFT on `Model::outputs`, which for a frozen
    /// head is the hidden states (the logits never enter the graph).
    trainer_loss: f32,
    trainer_grads: Option<burn::tensor::Gradients>,
}

fn run(dir: &Path, spec: &AdapterSpec, expected: &Expected, device: &Device) -> Run {
    let model = Model::load(dir, device, spec).unwrap_or_else(|e| panic!("{e}"));
    let ids = expected.ids("input_ids", device);
    let mask = expected.ids("attention_mask", device);
    let labels = expected.ids("labels", device);
    let logits = model.forward(ids.clone(), Some(mask.clone()));
    let loss = masked_ce(logits.clone(), &labels);
    let grads = device.is_autodiff().then(|| loss.backward());

    let outputs = model.outputs(ids, Some(mask));
    assert!(matches!(outputs, Outputs::Hidden { .. }), "a frozen head");
    let (shape, values) = &expected.ints["labels"];
    let labels = LabelBatch::from_flat(values.clone(), shape[0], shape[1]).unwrap();
    let tokens = output_logps(outputs, &labels).unwrap();
    let trainer = sft_loss(&tokens).unwrap().loss;
    let trainer_grads = device.is_autodiff().then(|| trainer.backward());
    Run {
        logits: logits.try_into_vec_as::<f32>().unwrap(),
        loss: loss.try_into_vec_as::<f32>().unwrap()[0],
        model,
        grads,
        trainer_loss: trainer.try_into_vec_as::<f32>().unwrap()[0],
        trainer_grads,
    }
}

fn check_base(name: &str) {
    let dir = fixtures().join(name);
    let expected = read_expected(&dir.join("expected.safetensors"));
    let out = run(&dir, &AdapterSpec::none(), &expected, &test_device());
    let mask = &expected.ints["attention_mask"].1;
    let vocab = expected.f32s["logits"].0[2];
    let worst = assert_close(
        &format!("{name} logits"),
        &real_positions(&out.logits, mask, vocab),
        &real_positions(expected.f("logits"), mask, vocab),
    );
    assert_close(&format!("{name} loss"), &[out.loss], expected.f("loss"));
    assert_close(
        &format!("{name} trainer's loss"),
        &[out.trainer_loss],
        expected.f("loss"),
    );
    eprintln!(
        "{name}: worst logit error {worst:.3} of tolerance, loss {}",
        out.loss
    );
}

#[test]
fn llama_f32_logits_and_loss_match_transformers() {
    check_base("llama-f32");
}

#[test]
fn llama_bf16_checkpoint_matches_transformers_upcast() {
    check_base("llama-bf16");
}

#[test]
fn qwen2_sharded_f16_checkpoint_with_bias_and_tied_head_matches() {
    check_base("qwen2-f16-sharded");
    let model = Model::load(
        fixtures().join("qwen2-f16-sharded"),
        &test_device(),
        &AdapterSpec::none(),
    )
    .unwrap();
    assert!(model.is_tied());
    assert!(model.model.layers[0].self_attn.q_proj.bias.is_some());
    assert!(model.model.layers[0].self_attn.o_proj.bias.is_none());
}

/// Loss, logits and the gradient of every adapter parameter against PEFT.
fn check_adapter(model_dir: &str, kind: &str) {
    let dir = fixtures().join(model_dir);
    let adapter_dir = dir.join("adapters").join(kind);
    let base = read_expected(&dir.join("expected.safetensors"));
    let expected = read_expected(&adapter_dir.join("expected.safetensors"));
    let device = test_device().autodiff();
    let out = run(&dir, &AdapterSpec::peft(&adapter_dir), &base, &device);
    let what = format!("{model_dir}/{kind}");
    assert_close(&format!("{what} loss"), &[out.loss], expected.f("loss"));
    assert_close(
        &format!("{what} trainer's loss"),
        &[out.trainer_loss],
        expected.f("loss"),
    );
    let mask = &base.ints["attention_mask"].1;
    let vocab = base.f32s["logits"].0[2];
    assert_close(
        &format!("{what} logits"),
        &real_positions(&out.logits, mask, vocab),
        &real_positions(expected.f("logits"), mask, vocab),
    );
    let grads = out.grads.as_ref().unwrap();
    let params = out.model.adapter_params("default");
    let want_keys: Vec<&String> = expected
        .f32s
        .keys()
        .filter(|k| k.starts_with("grad."))
        .collect();
    assert_eq!(
        params.len(),
        want_keys.len(),
        "{what}: number of adapter tensors"
    );
    let mut worst = 0.0f32;
    let trainer_grads = out.trainer_grads.as_ref().unwrap();
    for p in &params {
        for (path, grads) in [("", grads), (" (trainer's path)", trainer_grads)] {
            let grad = p
                .value
                .grad(grads)
                .unwrap_or_else(|| panic!("{what}: no gradient for {}{path}", p.key));
            let got = grad.to_vec().unwrap();
            worst = worst.max(assert_close(
                &format!("{what} d/d {}{path}", p.key),
                &got,
                expected.f(&format!("grad.{}", p.key)),
            ));
        }
    }
    eprintln!(
        "{what}: loss {} ({} tensors), worst gradient error {worst:.3} of tolerance",
        out.loss,
        params.len()
    );
    // Only adapter parameters are trained.
    let decoder = &out.model.model;
    assert!(
        decoder.embed_tokens.weight.val().grad(grads).is_none(),
        "{what}: embeddings got a gradient"
    );
    assert!(
        decoder.layers[0]
            .input_layernorm
            .weight
            .val()
            .grad(grads)
            .is_none(),
        "{what}: a norm got a gradient"
    );

    // Our own PEFT export reads back to the very same numbers.
    let tmp = tempfile::tempdir().unwrap();
    save_adapter(
        &out.model,
        "default",
        tmp.path(),
        &dir.display().to_string(),
    )
    .unwrap();
    let again = run(&dir, &AdapterSpec::peft(tmp.path()), &base, &device);
    assert_eq!(again.loss, out.loss, "{what}: loss after save/load");
    assert_eq!(again.logits, out.logits, "{what}: logits after save/load");
    // PEFT writes `all-linear` as full module paths, we write module names: same layers.
    assert_eq!(
        again.model.adapter_paths("default"),
        out.model.adapter_paths("default")
    );
    let (a, b) = (
        again.model.adapter_config("default").unwrap(),
        out.model.adapter_config("default").unwrap(),
    );
    assert_eq!(
        (a.r, a.lora_alpha, a.use_rslora, a.use_dora),
        (b.r, b.lora_alpha, b.use_rslora, b.use_dora)
    );
}

#[test]
fn lora_loss_and_every_gradient_match_peft() {
    check_adapter("llama-f32", "lora");
}

#[test]
fn rslora_loss_and_every_gradient_match_peft() {
    check_adapter("llama-f32", "rslora");
}

#[test]
fn dora_loss_and_every_gradient_match_peft() {
    check_adapter("llama-f32", "dora");
}

#[test]
fn qwen2_all_linear_lora_matches_peft() {
    check_adapter("qwen2-f16-sharded", "lora");
}

#[test]
fn disabled_adapters_give_the_base_logits() {
    let dir = fixtures().join("llama-f32");
    let base = read_expected(&dir.join("expected.safetensors"));
    let device = test_device();
    let plain = run(&dir, &AdapterSpec::none(), &base, &device);
    let mut adapted =
        Model::load(&dir, &device, &AdapterSpec::peft(dir.join("adapters/dora"))).unwrap();
    adapted.set_adapters_enabled(false);
    let logits = adapted.forward(
        base.ids("input_ids", &device),
        Some(base.ids("attention_mask", &device)),
    );
    assert_eq!(logits.try_into_vec_as::<f32>().unwrap(), plain.logits);
}

#[test]
fn merged_model_saves_and_reloads_to_the_adapted_logits() {
    let dir = fixtures().join("llama-f32");
    let base = read_expected(&dir.join("expected.safetensors"));
    let device = test_device();
    let adapted = run(
        &dir,
        &AdapterSpec::peft(dir.join("adapters/lora")),
        &base,
        &device,
    );
    let tmp = tempfile::tempdir().unwrap();
    adapted.model.save(tmp.path()).unwrap();
    let merged = run(tmp.path(), &AdapterSpec::none(), &base, &device);
    let mask = &base.ints["attention_mask"].1;
    let vocab = base.f32s["logits"].0[2];
    assert_close(
        "merged logits",
        &real_positions(&merged.logits, mask, vocab),
        &real_positions(&adapted.logits, mask, vocab),
    );
    assert!(merged.model.adapter_names().is_empty());
}

#[test]
fn nf4_matches_bitsandbytes() {
    let e = read_expected(&fixtures().join("nf4/nf4.safetensors"));
    let (shape, weight) = &e.f32s["weight"];
    let shape = [shape[0], shape[1]];
    assert_eq!(
        dynamic_map().to_vec(),
        e.f("dynamic_map"),
        "8-bit dynamic map"
    );

    let q = Nf4Quantized::quantize(weight, shape);
    assert_eq!(q.packed, e.bytes["packed"], "4-bit codes");
    assert_eq!(q.absmax_codes, e.bytes["absmax_codes"], "absmax codes");
    assert_close("absmax scales", &q.absmax_scales, e.f("absmax_scales"));
    assert_close("offset", &[q.offset], e.f("offset"));

    // bitsandbytes' own quantisation state, dequantised by us, gives its dense weight.
    let theirs = Nf4Quantized {
        shape,
        packed: e.bytes["packed"].clone(),
        absmax_codes: e.bytes["absmax_codes"].clone(),
        absmax_scales: e.f("absmax_scales").to_vec(),
        offset: e.f("offset")[0],
    };
    theirs.validate().unwrap();
    assert_close("dequantized", &theirs.dequantize(), e.f("dequantized"));
    assert_close("round trip", &q.dequantize(), e.f("dequantized"));
    let on_device = Nf4Weight::new(&theirs, &test_device()).dequantize();
    assert_close(
        "device dequantized",
        &on_device.try_into_vec_as::<f32>().unwrap(),
        e.f("dequantized"),
    );
}

/// SmolLM2-135M geometry (random weights), LoRA r=16 on every projection, one forward and
/// backward of a batch of 8 × 128 tokens. Prints timings, asserts nothing about them; compare
/// with `tests/golden/models.py --bench` on the same machine.
#[test]
#[ignore = "benchmark: cargo test -p ajuste-trainer --test engine -- --ignored --nocapture smollm2"]
fn smollm2_135m_shape_forward_backward_timing() {
    use ajuste_trainer::adapter::{LoraConfig, TargetModules};
    use ajuste_trainer::model::{ModelConfig, RandomWeights};

    let json = r#"{"model_type":"llama","hidden_size":576,"intermediate_size":1536,
        "num_attention_heads":9,"num_key_value_heads":3,"num_hidden_layers":30,
        "vocab_size":49152,"rms_norm_eps":1e-5,"rope_theta":100000,"tie_word_embeddings":true}"#;
    let cfg = ModelConfig::from_json(json.as_bytes(), "smollm2").unwrap();
    let device = test_device().autodiff();
    let weights = RandomWeights {
        seed: 0,
        std: 0.02,
        tied: true,
    };
    let mut model = Model::from_weights(cfg, &weights, &device).unwrap();
    let lora = LoraConfig {
        r: 16,
        lora_alpha: 32.0,
        target_modules: TargetModules::AllLinear,
        ..LoraConfig::default()
    };
    model.apply_adapters(&AdapterSpec::lora(lora, 0)).unwrap();
    let (b, t) = (8, 128);
    let ids: Vec<i64> = (0..b * t).map(|i| (i as i64 * 7919) % 49152).collect();
    let ids = Tensor::<2, Int>::from_data(TensorData::new(ids, [b, t]), &device);
    for step in 0..3 {
        let start = std::time::Instant::now();
        let logits = model.forward(ids.clone(), None);
        let loss = masked_ce(logits, &ids);
        let value = loss.clone().try_into_vec_as::<f32>().unwrap()[0];
        let forward = start.elapsed();
        let grads = loss.backward();
        let n = model
            .adapter_params("default")
            .iter()
            .filter_map(|p| p.value.grad(&grads))
            .map(|g| g.to_vec().unwrap().len())
            .sum::<usize>();
        eprintln!(
            "step {step}: loss {value:.4}, forward {:.2} s, forward+backward {:.2} s ({n} adapter grads)",
            forward.as_secs_f64(),
            start.elapsed().as_secs_f64()
        );
    }
}
