//! `ajuste bench train`: tokens/s and peak memory of LoRA SFT training steps (batch 8 x 128
//! tokens, r 16, alpha 32, every linear layer, no dropout) on the CPU, for the tiny golden Llama
//! and a SmolLM2-135M-shaped model, both randomly initialised; PyTorch + PEFT on the same shapes
//! in the same run when the given Python has torch, transformers and peft. On two cores or more
//! each model runs a second time with the batch split across two CPU replicas, each on a thread
//! (what `ajuste train --devices cpu:0,cpu:1` does).
//!
//! A step is what the trainer does: forward, masked cross-entropy over every token, backward,
//! global-norm clipping, AdamW. Peak memory is the process's resident high-water mark (Linux
//! `VmHWM`, reset before each model), so it includes the binary and, for PyTorch, the Python
//! interpreter and its libraries; on a GPU (`--device wgpu|cuda`) ajuste's column stays the
//! host's and PyTorch's is its CUDA allocator's peak.

use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde_json::{Value, json};

use crate::adapter::{AdapterSpec, LoraConfig};
use crate::cli::ExitStatus;
use crate::cli::args::BenchTrainArgs;
use crate::device::DeviceKind;
use crate::model::{Model, ModelConfig, RandomWeights};
use crate::objective::sft::sft_loss;
use crate::objective::{LabelBatch, Objective, output_logps};
use crate::train::multi::{self, Replicas, shard_ranges};
use crate::train::optim::{AdamW, AdamWConfig, GradAccumulator, num_trainable};

/// PyTorch's side, written to a temporary file when run.
const TORCH_SCRIPT: &str = include_str!("train_torch.py");

const BATCH: usize = 8;
const SEQ: usize = 128;

/// A model shape to time.
struct Shape {
    name: &'static str,
    hidden: usize,
    intermediate: usize,
    layers: usize,
    heads: usize,
    kv_heads: usize,
    vocab: usize,
    tied: bool,
}

const SHAPES: [Shape; 2] = [
    Shape {
        name: "tiny (golden llama)",
        hidden: 64,
        intermediate: 128,
        layers: 2,
        heads: 4,
        kv_heads: 2,
        vocab: 256,
        tied: false,
    },
    Shape {
        name: "SmolLM2-135M shape",
        hidden: 576,
        intermediate: 1536,
        layers: 30,
        heads: 9,
        kv_heads: 3,
        vocab: 49152,
        tied: true,
    },
];

/// One side's figures.
struct Figures {
    tokens_per_s: f64,
    peak_mb: f64,
    note: String,
}

pub fn run(args: &BenchTrainArgs) -> Result<ExitStatus> {
    if args.steps == 0 {
        bail!("--steps must be at least 1");
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let device = crate::device::device(args.device)?.autodiff();
    let on_cpu = args.device == DeviceKind::Cpu;
    let place = match on_cpu {
        true => format!("CPU ({threads} threads)"),
        false => args.device.name().to_string(),
    };
    println!(
        "LoRA SFT training steps, batch {BATCH} x {SEQ} tokens, r 16, alpha 32, all linear layers, f32, {place}; mean of {} steps after one warm-up",
        args.steps
    );
    println!(
        "{:<22} {:>12} {:>14} {:>10} {:>18} {:>10}",
        "model", "params", "ajuste tok/s", "peak MB", "torch+peft tok/s", "peak MB"
    );
    let shapes = if args.tiny_only {
        &SHAPES[..1]
    } else {
        &SHAPES[..]
    };
    for shape in shapes {
        let (ours, params) = time_ajuste(shape, &device, args.steps, 1)?;
        let theirs = time_torch(shape, args);
        print_row(shape.name, params, &ours, &theirs);
        // flex runs element-wise ops on one thread: replicas on the CPU, each on a thread of its
        // own (`ajuste train --devices cpu:0,cpu:1`), keep both cores busy. Same loss, same
        // updates up to rounding; the row's PyTorch figures are the ones above.
        if on_cpu && threads >= 2 {
            let (replicas, _) = time_ajuste(shape, &device, args.steps, 2)?;
            print_row("  same, 2 CPU replicas", params, &replicas, &theirs);
        }
    }
    Ok(ExitStatus::Success)
}

fn print_row(name: &str, params: usize, ours: &Figures, theirs: &Result<Figures>) {
    let (t_tok, t_mem) = match theirs {
        Ok(f) => (
            format!("{:.0}", f.tokens_per_s),
            format!("{:.0}", f.peak_mb),
        ),
        Err(_) => ("-".into(), "-".into()),
    };
    println!(
        "{:<22} {:>11.1}M {:>14.0} {:>10.0} {:>18} {:>10}",
        name,
        params as f64 / 1e6,
        ours.tokens_per_s,
        ours.peak_mb,
        t_tok,
        t_mem
    );
    match theirs {
        Ok(f) => println!("    {}; {}", ours.note, f.note),
        Err(e) => println!("    {}; PyTorch+PEFT not run: {e:#}", ours.note),
    }
}

fn config(shape: &Shape) -> Result<ModelConfig> {
    let json = json!({
        "model_type": "llama",
        "hidden_size": shape.hidden,
        "intermediate_size": shape.intermediate,
        "num_hidden_layers": shape.layers,
        "num_attention_heads": shape.heads,
        "num_key_value_heads": shape.kv_heads,
        "vocab_size": shape.vocab,
        "max_position_embeddings": SEQ,
        "rope_theta": 100000.0,
        "tie_word_embeddings": shape.tied,
    });
    Ok(ModelConfig::from_json(
        json.to_string().as_bytes(),
        shape.name,
    )?)
}

/// The resident high-water mark of this process in MB (Linux), and a reset of it.
fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn reset_peak_rss() {
    // malloc keeps what the previous model freed (see `keep_freed_memory`): give it back first.
    crate::cli::malloc::release_freed_memory();
    // "5" resets the peak resident set size (Linux >= 4.0); elsewhere the peak stays cumulative.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Times `steps` training steps with the batch split across `replicas` copies of the model,
/// each shard on a thread of its own (1: the model alone, on this thread).
fn time_ajuste(
    shape: &Shape,
    device: &Device,
    steps: usize,
    replicas: usize,
) -> Result<(Figures, usize)> {
    reset_peak_rss();
    let weights = RandomWeights {
        seed: 0,
        std: 0.02,
        tied: shape.tied,
    };
    let mut model = Model::from_weights(config(shape)?, &weights, device)?;
    let lora = LoraConfig {
        r: 16,
        lora_alpha: 32.0,
        ..LoraConfig::default()
    };
    model.apply_adapters(&AdapterSpec::lora(lora, 0))?;
    let params = model
        .linears()
        .iter()
        .map(|l| l.in_features * l.out_features)
        .sum::<usize>()
        + shape.vocab * shape.hidden;
    let trainable = num_trainable(&model);
    let ids: Vec<i64> = (0..BATCH * SEQ)
        .map(|i| (i as i64 * 7919) % shape.vocab as i64)
        .collect();
    let mut replicas = Replicas::new(&model, vec![device.clone(); replicas], false)?;
    let shards: Vec<(Tensor<2, Int>, LabelBatch)> = shard_ranges(BATCH, replicas.devices.len())
        .into_iter()
        .map(|rows| {
            let ids = ids[rows.start * SEQ..rows.end * SEQ].to_vec();
            let labels = LabelBatch::from_flat(ids.clone(), rows.len(), SEQ)?;
            let input = TensorData::new(ids, [rows.len(), SEQ]);
            Ok((Tensor::from_data(input, device), labels))
        })
        .collect::<Result<_>>()?;
    let mut optimizer = AdamW::new(AdamWConfig::default());
    let mut times = Vec::with_capacity(steps);
    for step in 0..=steps {
        let start = Instant::now();
        let (loss, mut grads) = train_step(&model, &replicas, &shards)?;
        let norm = grads.clip(1.0);
        model = optimizer.step(model, grads, 1e-4);
        if replicas.devices.len() > 1 {
            multi::sync_replicas(&model, &mut replicas);
        }
        // Reading the loss and the norm waits for the device: the step is done.
        let _: f32 = loss.into_scalar();
        if let Some(n) = norm {
            let _: f32 = n.into_scalar();
        }
        if step > 0 {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    Ok((
        Figures {
            tokens_per_s: (BATCH * SEQ) as f64 / mean,
            peak_mb: peak_rss_mb(),
            note: format!(
                "ajuste: {:.3} s/step, {:.2}M trainable",
                mean,
                trainable as f64 / 1e6
            ),
        },
        params,
    ))
}

/// One step's loss and summed gradients: what the trainer does, shards on their own threads.
fn train_step(
    model: &Model,
    replicas: &Replicas,
    shards: &[(Tensor<2, Int>, LabelBatch)],
) -> Result<(Tensor<1>, GradAccumulator)> {
    let forward: Vec<multi::Job<'_, Result<Objective>>> = shards
        .iter()
        .enumerate()
        .map(|(i, (input, labels))| {
            let model = replicas.model(model, i);
            Box::new(move || {
                Ok(sft_loss(&output_logps(
                    model.outputs(input.clone(), None),
                    labels,
                )?)?)
            }) as multi::Job<'_, _>
        })
        .collect();
    let objectives = multi::on_devices(forward)
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    let mut grads = vec![GradAccumulator::new(); objectives.len()];
    let parts = multi::backward_shares(replicas, model, objectives, &mut grads, 1.0)?;
    let loss = parts
        .into_iter()
        .map(|(part, _)| part)
        .reduce(|sum, p| sum + p)
        .context("no shard")?;
    Ok((loss, multi::gather(grads, replicas, model)))
}

fn time_torch(shape: &Shape, args: &BenchTrainArgs) -> Result<Figures> {
    let dir = tempfile::tempdir()?;
    let script = dir.path().join("train_torch.py");
    std::fs::write(&script, TORCH_SCRIPT)?;
    let spec = json!({
        "vocab_size": shape.vocab,
        "hidden_size": shape.hidden,
        "intermediate_size": shape.intermediate,
        "num_hidden_layers": shape.layers,
        "num_attention_heads": shape.heads,
        "num_key_value_heads": shape.kv_heads,
        "tied": shape.tied,
        "r": 16,
        "alpha": 32,
        "batch": BATCH,
        "seq": SEQ,
        "steps": args.steps,
        "device": if args.device == DeviceKind::Cpu { "cpu" } else { "cuda" },
    });
    let output = Command::new(&args.python)
        .arg(&script)
        .arg(spec.to_string())
        .output()
        .with_context(|| format!("cannot run `{}`", args.python))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or("").trim().to_string();
        bail!("{} failed: {last}", args.python);
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or("");
    let v: Value = serde_json::from_str(line)
        .with_context(|| format!("unexpected output from the PyTorch script: {line}"))?;
    let get = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    Ok(Figures {
        tokens_per_s: get("tokens_per_s"),
        peak_mb: get("peak_mb"),
        note: format!(
            "torch {} ({}, {} threads): {:.3} s/step",
            v["torch"].as_str().unwrap_or("?"),
            v["device"].as_str().unwrap_or("cpu"),
            v["threads"],
            get("step_s")
        ),
    })
}
