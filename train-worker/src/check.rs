//! Whether a model fits a browser tab, decided from its `config.json` alone, before any weight
//! is read.
//!
//! A wasm32 module addresses at most 4 GiB, and browsers often give a tab less; the weights also
//! pass through wasm memory on their way to the GPU (the file's bytes, then f32 values). So
//! every model is held to a budget of host memory, and on WebGPU its largest tensor must also fit
//! one storage buffer binding of the adapter.

use ajuste_shared::train_protocol::{Backend, GpuInfo, ModelCheck, TrainSettings};
use ajuste_trainer::model::ModelConfig;

/// Host memory a run may use, bytes: about half of what a wasm32 module can address, what
/// browsers reliably grant a tab.
pub const HOST_BUDGET: u64 = 2 << 30;

/// What a run's shape is, for the estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunShape {
    /// Sequences per micro-batch (preference methods run two per record).
    pub rows: usize,
    /// Tokens per sequence.
    pub tokens: usize,
}

impl Default for RunShape {
    fn default() -> Self {
        RunShape {
            rows: 4,
            tokens: 256,
        }
    }
}

impl RunShape {
    /// The shape of a run with `settings` on a model with `context` positions.
    pub fn of(settings: &TrainSettings, context: usize) -> Self {
        let per_record = if settings.method.kind() == ajuste_shared::Kind::Preference {
            2
        } else {
            1
        };
        RunShape {
            rows: settings.batch_size.max(1) * per_record,
            tokens: settings.max_length.min(context).max(1),
        }
    }
}

/// Parameters of the model `config` describes.
pub fn parameters(c: &ModelConfig) -> u64 {
    let h = c.hidden_size as u64;
    let q = (c.num_attention_heads * c.head_dim) as u64;
    let kv = (c.num_key_value_heads * c.head_dim) as u64;
    let inter = c.intermediate_size as u64;
    let vocab = c.vocab_size as u64;
    let mut layer = h * q + 2 * h * kv + q * h + 3 * h * inter + 2 * h;
    if c.qkv_bias {
        layer += q + 2 * kv;
    }
    if c.o_bias {
        layer += h;
    }
    if c.mlp_bias {
        layer += 2 * inter + h;
    }
    let head = if c.tie_word_embeddings { 0 } else { vocab * h };
    vocab * h + c.num_hidden_layers as u64 * layer + h + head
}

/// Bytes of the largest single tensor of a step: the embedding (or LM head) matrix, the MLP
/// matrices, or a batch's logits.
pub fn largest_tensor_bytes(c: &ModelConfig, shape: RunShape) -> u64 {
    let weights = (c.vocab_size * c.hidden_size).max(c.hidden_size * c.intermediate_size) as u64;
    let logits = (shape.rows * shape.tokens * c.vocab_size) as u64;
    4 * weights.max(logits)
}

/// Host memory a LoRA run needs, roughly: the weight files while loading, the weights in f32,
/// and a step's activations kept for the backward pass (per token and layer: about ten
/// hidden-wide and five intermediate-wide values, the attention scores and probabilities; the
/// logits with their log-softmax and gradient), with half as much again for the gradients
/// alive during the backward pass.
pub fn estimated_bytes(c: &ModelConfig, file_bytes: u64, shape: RunShape) -> u64 {
    let params = parameters(c);
    let tokens = (shape.rows * shape.tokens) as u64;
    let h = c.hidden_size as u64;
    let inter = c.intermediate_size as u64;
    let scores = 2 * c.num_attention_heads as u64 * shape.tokens as u64;
    let per_token =
        c.num_hidden_layers as u64 * (10 * h + 5 * inter + scores) + 3 * c.vocab_size as u64;
    let activations = tokens * per_token * 4 * 3 / 2;
    file_bytes + 4 * params + activations
}

/// Checks `config` for a run of `shape` on `backend` (with the adapter `gpu`, when WebGPU).
/// `name` and `file_bytes` describe the files; `missing` lists what the directory lacks.
pub fn check_model(
    name: &str,
    config: &ModelConfig,
    file_bytes: u64,
    (backend, gpu): (Backend, Option<&GpuInfo>),
    shape: RunShape,
    missing: Vec<String>,
) -> ModelCheck {
    let parameters = parameters(config);
    let estimated = estimated_bytes(config, file_bytes, shape);
    let largest = largest_tensor_bytes(config, shape);
    let native =
        "export the bundle and train it natively with `ajuste train`, or pick a smaller model";
    let weights_alone = file_bytes + 4 * parameters;
    let problem = if estimated > HOST_BUDGET {
        let smaller = if weights_alone < HOST_BUDGET / 2 {
            "; a smaller batch or a shorter maximum length may fit, or "
        } else {
            "; "
        };
        Some(format!(
            "{name} has {} parameters: a LoRA run on it with batches of {} × {} tokens needs \
             about {} of memory, more than a browser tab can count on (about {}){smaller}{native}",
            count(parameters),
            shape.rows,
            shape.tokens,
            bytes(estimated),
            bytes(HOST_BUDGET),
        ))
    } else {
        match (backend, gpu) {
            (Backend::WebGpu, Some(gpu))
                if gpu.max_binding_bytes > 0 && largest > gpu.max_binding_bytes =>
            {
                Some(format!(
                    "{name}'s largest tensor takes {}, more than this WebGPU adapter can bind at \
                     once ({}); train it on the CPU backend, or {native}",
                    bytes(largest),
                    bytes(gpu.max_binding_bytes),
                ))
            }
            _ => None,
        }
    };
    ModelCheck {
        name: name.to_owned(),
        model_type: config.architecture.model_type().to_owned(),
        parameters,
        layers: config.num_hidden_layers,
        hidden_size: config.hidden_size,
        vocab_size: config.vocab_size,
        context: config.max_position_embeddings,
        file_bytes,
        estimated_bytes: estimated,
        problem,
        missing,
    }
}

/// `1.7 billion`, `135 million`, `2.1 million`, `52,000`.
pub fn count(n: u64) -> String {
    let f = n as f64;
    if f >= 1e9 {
        format!("{:.1} billion", f / 1e9)
    } else if f >= 1e6 {
        format!("{:.1} million", f / 1e6)
    } else {
        let s = n.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    }
}

/// `1.5 GB`, `300 MB`, `12 KB` (powers of 1024).
pub fn bytes(n: u64) -> String {
    let f = n as f64;
    let (unit, div) = [("GB", 1u64 << 30), ("MB", 1 << 20), ("KB", 1 << 10)]
        .into_iter()
        .find(|(_, d)| n >= *d)
        .unwrap_or(("bytes", 1));
    if div == 1 {
        format!("{n} bytes")
    } else if f / div as f64 >= 10.0 {
        format!("{:.0} {unit}", f / div as f64)
    } else {
        format!("{:.1} {unit}", f / div as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: &str) -> ModelConfig {
        ModelConfig::from_json(json.as_bytes(), "config.json").unwrap()
    }

    /// SmolLM2-135M's config.json (the numbers transformers counts: 134,515,008).
    const SMOL: &str = r#"{"model_type":"llama","hidden_size":576,"intermediate_size":1536,
        "num_attention_heads":9,"num_key_value_heads":3,"num_hidden_layers":30,"vocab_size":49152,
        "max_position_embeddings":8192,"tie_word_embeddings":true,"rms_norm_eps":1e-5}"#;

    #[test]
    fn parameters_are_counted_as_transformers_counts_them() {
        assert_eq!(parameters(&config(SMOL)), 134_515_008);
    }

    #[test]
    fn a_small_model_fits_and_a_large_one_is_refused_with_the_reason() {
        let short = RunShape {
            rows: 1,
            tokens: 128,
        };
        let small = check_model(
            "SmolLM2-135M",
            &config(SMOL),
            269_060_552,
            (Backend::Cpu, None),
            short,
            vec![],
        );
        assert_eq!(small.problem, None, "{small:?}");
        assert_eq!(small.parameters, 134_515_008);
        // Llama-3.2-3B-like geometry.
        let big = config(
            r#"{"model_type":"llama","hidden_size":3072,"intermediate_size":8192,
            "num_attention_heads":24,"num_key_value_heads":8,"num_hidden_layers":28,
            "vocab_size":128256,"max_position_embeddings":131072,"tie_word_embeddings":true}"#,
        );
        let check = check_model(
            "Llama-3.2-3B",
            &big,
            6_000_000_000,
            (Backend::Cpu, None),
            RunShape::default(),
            vec![],
        );
        let problem = check.problem.unwrap();
        assert!(
            problem.starts_with("Llama-3.2-3B has 3.2 billion parameters"),
            "{problem}"
        );
        assert!(problem.contains("ajuste train"), "{problem}");
    }

    #[test]
    fn webgpu_bindings_limit_the_largest_tensor() {
        let gpu = GpuInfo {
            vendor: "google".into(),
            architecture: "swiftshader".into(),
            description: String::new(),
            software: true,
            max_binding_bytes: 64 << 20,
            max_buffer_bytes: 256 << 20,
        };
        let short = RunShape {
            rows: 1,
            tokens: 128,
        };
        let smol = config(SMOL);
        let check = check_model(
            "SmolLM2-135M",
            &smol,
            269_060_552,
            (Backend::WebGpu, Some(&gpu)),
            short,
            vec![],
        );
        // The embedding matrix: 49,152 × 576 floats.
        let problem = check.problem.unwrap();
        assert!(
            problem
                .contains("takes 108 MB, more than this WebGPU adapter can bind at once (64 MB)"),
            "{problem}"
        );
        // The same run on the CPU fits; bigger batches do not, and the message says what to try.
        assert_eq!(
            check_model(
                "SmolLM2-135M",
                &smol,
                269_060_552,
                (Backend::Cpu, None),
                short,
                vec![]
            )
            .problem,
            None
        );
        let big_batch = check_model(
            "SmolLM2-135M",
            &smol,
            269_060_552,
            (Backend::Cpu, None),
            RunShape::default(),
            vec![],
        );
        assert!(
            big_batch
                .problem
                .unwrap()
                .contains("batches of 4 × 256 tokens needs about")
        );
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(count(134_515_008), "134.5 million");
        assert_eq!(count(52_000), "52,000");
        assert_eq!(count(999), "999");
        assert_eq!(bytes(2 << 30), "2.0 GB");
        assert_eq!(bytes(300 << 20), "300 MB");
        assert_eq!(bytes(12), "12 bytes");
    }
}
