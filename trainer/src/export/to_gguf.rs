//! A Hugging Face model directory (and optionally a PEFT adapter, merged in) as one GGUF file
//! that llama.cpp and Ollama run: what llama.cpp's `convert_hf_to_gguf.py` writes for
//! `LlamaForCausalLM`/`MistralForCausalLM` (architecture `llama`) and `Qwen2ForCausalLM`
//! (`qwen2`).
//!
//! - Tensors get llama.cpp's names (`token_embd`, `blk.N.attn_q`, ..., `output_norm`,
//!   `output`; no `output` when the embeddings are tied). For `llama`, `attn_q`/`attn_k` rows
//!   (and biases) are permuted from rotate-half to interleaved pairs as the converter does;
//!   `qwen2` keeps Hugging Face's order (its ggml graph uses the NEOX RoPE).
//! - Norms, biases and other vectors stay f32; matrices are f32, f16 or Q8_0 (a matrix whose rows
//!   are not whole 32-blocks falls back to f16, as in the converter).
//! - Llama 3 RoPE scaling is written as the `rope_freqs` tensor the converter generates.
//! - The tokenizer ([`super::vocab`]), its special ids, and the chat template the model was
//!   trained with, byte for byte, as `tokenizer.chat_template`. When that template ends turns
//!   with a token other than the tokenizer's EOS (ChatML's `<|im_end|>` on a model whose EOS is
//!   `<|endoftext|>`), the token is written as `tokenizer.ggml.eot_token_id`, which llama.cpp
//!   treats as end of generation.
//!
//! [`GgufExport::prepare`] reads and checks everything (a bad input fails before any output
//! exists); [`GgufExport::write`] then streams the file, one tensor in memory at a time.

use std::path::{Path, PathBuf};

use ajuste_shared::template::ChatTemplate;
use burn::tensor::{Device, Tensor};
use serde_json::{Map, Value as Json};

use super::ExportError;
use super::gguf::{self, GgmlType, TensorInfo, Value};
use super::vocab::{GgufVocab, special_key};
use crate::adapter::AdapterSpec;
use crate::model::{Architecture, Model, ModelConfig, RopeScaling};

/// What to export.
#[derive(Debug, Clone)]
pub struct GgufOptions {
    /// The Hugging Face model directory (`config.json` + safetensors).
    pub model_dir: PathBuf,
    /// A PEFT adapter directory to merge into the weights.
    pub adapter: Option<PathBuf>,
    /// Where `tokenizer.json` (and `tokenizer_config.json`) are; the model directory by default.
    pub tokenizer_dir: Option<PathBuf>,
    /// Storage type of the matrices.
    pub ty: GgmlType,
    /// The chat template the model was trained with (exact text, BOS and EOS strings).
    pub template: ChatTemplate,
    /// `general.name`; the model directory's name by default.
    pub name: Option<String>,
}

/// Where a tensor's values come from in the loaded model.
#[derive(Debug, Clone, Copy)]
enum Source {
    Embed,
    FinalNorm,
    InputNorm(usize),
    PostNorm(usize),
    /// `Model::linears()[i]`, weight; with the head count to permute by.
    Weight(usize, Option<usize>),
    /// `Model::linears()[i]`, bias.
    Bias(usize, Option<usize>),
    RopeFreqs,
}

/// A checked export, ready to be written.
pub struct GgufExport {
    model: Model,
    metadata: Vec<(String, Value)>,
    tensors: Vec<TensorInfo>,
    sources: Vec<Source>,
    /// Matrices written as f16 because their rows are not whole Q8_0 blocks.
    pub fell_back_to_f16: Vec<String>,
    /// Things the user should know (printed by the CLI).
    pub warnings: Vec<String>,
    /// The vocabulary written.
    pub vocab: GgufVocab,
    /// `general.architecture`.
    pub arch: &'static str,
}

fn read_json_object(path: &Path) -> Result<Option<Map<String, Json>>, ExportError> {
    if !path.is_file() {
        return Ok(None);
    }
    let bytes = std::fs::read(path).map_err(|e| ExportError::io(path, e))?;
    match serde_json::from_slice::<Json>(&bytes) {
        Ok(Json::Object(m)) => Ok(Some(m)),
        Ok(_) => Err(ExportError::Input(format!(
            "{}: not a JSON object",
            path.display()
        ))),
        Err(e) => Err(ExportError::Input(format!(
            "{}: not valid JSON: {e}",
            path.display()
        ))),
    }
}

/// llama.cpp's architecture name for ours.
fn gguf_arch(a: Architecture) -> &'static str {
    match a {
        // The converter registers MistralForCausalLM with LlamaModel.
        Architecture::Llama | Architecture::Mistral => "llama",
        Architecture::Qwen2 => "qwen2",
    }
}

/// llama.cpp's per-layer names of the seven projections, in `DecoderLayer::linears` order.
const LAYER_LINEARS: [&str; 7] = [
    "attn_q",
    "attn_k",
    "attn_v",
    "attn_output",
    "ffn_gate",
    "ffn_up",
    "ffn_down",
];

/// The `rope_freqs` factors the converter generates for Llama 3 scaling.
fn llama3_rope_factors(cfg: &ModelConfig) -> Option<Vec<f32>> {
    let RopeScaling::Llama3 {
        factor,
        low_freq_factor,
        high_freq_factor,
        original_max_position_embeddings,
    } = cfg.rope_scaling
    else {
        return None;
    };
    let dim = cfg.head_dim as f32;
    let base = cfg.rope_theta as f32;
    let old = original_max_position_embeddings as f64;
    let (low_wavelen, high_wavelen) = (old / low_freq_factor, old / high_freq_factor);
    Some(
        (0..cfg.head_dim / 2)
            .map(|i| {
                let freq = 1.0 / base.powf((2 * i) as f32 / dim);
                let wavelen = 2.0 * std::f64::consts::PI / f64::from(freq);
                let f = if wavelen < high_wavelen {
                    1.0
                } else if wavelen > low_wavelen {
                    factor
                } else {
                    let smooth =
                        (old / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
                    1.0 / ((1.0 - smooth) / factor + smooth)
                };
                f as f32
            })
            .collect(),
    )
}

fn u32_of(v: usize) -> Value {
    Value::U32(v as u32)
}

impl GgufExport {
    /// Loads the model (merging the adapter), reads the tokenizer and checks the template
    /// against it. Nothing is written.
    ///
    /// # Errors
    /// [`ExportError`]: unreadable or unsupported model, an adapter that does not fit the base,
    /// an unsupported tokenizer, a tokenizer with more ids than the model has rows.
    pub fn prepare(opts: &GgufOptions) -> Result<Self, ExportError> {
        let spec = match &opts.adapter {
            Some(dir) => AdapterSpec::peft(dir),
            None => AdapterSpec::none(),
        };
        let mut model = Model::load(&opts.model_dir, &Device::flex(), &spec)?;
        model.merge_and_unload();
        let cfg = model.config.clone();
        let arch = gguf_arch(cfg.architecture);
        let tok_dir = opts.tokenizer_dir.as_deref().unwrap_or(&opts.model_dir);
        let tok_path = tok_dir.join("tokenizer.json");
        if !tok_path.is_file() {
            return Err(ExportError::Input(format!(
                "{}: no tokenizer.json (a GGUF file must carry the tokenizer; pass --tokenizer DIR \
                 if it lives elsewhere)",
                tok_dir.display()
            )));
        }
        let tok_bytes = std::fs::read(&tok_path).map_err(|e| ExportError::io(&tok_path, e))?;
        let tok_config = read_json_object(&tok_dir.join("tokenizer_config.json"))?;
        let model_config = read_json_object(&opts.model_dir.join("config.json"))?;
        let vocab = GgufVocab::from_hf(
            &tok_bytes,
            tok_config.as_ref(),
            model_config.as_ref(),
            cfg.vocab_size,
            &tok_path.display().to_string(),
        )?;
        let name = opts.name.clone().unwrap_or_else(|| {
            opts.model_dir
                .canonicalize()
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "model".into())
        });
        let mut warnings = Vec::new();
        let (tensors, sources, fell_back_to_f16) = plan_tensors(&model, arch, opts.ty);
        let mut metadata = model_metadata(&cfg, arch, &name, opts.ty);
        metadata.extend(vocab_metadata(&vocab, &opts.template, &mut warnings));
        Ok(GgufExport {
            model,
            metadata,
            tensors,
            sources,
            fell_back_to_f16,
            warnings,
            vocab,
            arch,
        })
    }

    /// The merged model's configuration.
    pub fn config(&self) -> &ModelConfig {
        &self.model.config
    }

    /// The metadata that will be written, in order.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    /// The tensors that will be written, in order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// Streams the GGUF file to `sink`.
    ///
    /// # Errors
    /// [`ExportError`] when writing or reading a tensor back fails.
    pub fn write(&self, sink: impl std::io::Write) -> Result<(), ExportError> {
        gguf::write(sink, &self.metadata, &self.tensors, |i| {
            self.tensor_bytes(i)
        })
        .map_err(|e| match e {
            gguf::WriteError::Source(e) => e,
            gguf::WriteError::Io(e) => ExportError::Write(e.to_string()),
            other => ExportError::Write(other.to_string()),
        })
    }

    /// The f32 values of tensor `i`, in Hugging Face layout (permuted for `llama` q/k).
    pub fn tensor_values(&self, i: usize) -> Result<Vec<f32>, ExportError> {
        let m = &self.model;
        let linears = m.linears();
        let name = &self.tensors[i].name;
        let (values, permute) = match self.sources[i] {
            Source::Embed => (host(name, m.model.embed_tokens.weight.val())?, None),
            Source::FinalNorm => (host(name, m.model.norm.weight.val())?, None),
            Source::InputNorm(l) => (
                host(name, m.model.layers[l].input_layernorm.weight.val())?,
                None,
            ),
            Source::PostNorm(l) => (
                host(
                    name,
                    m.model.layers[l].post_attention_layernorm.weight.val(),
                )?,
                None,
            ),
            Source::Weight(j, heads) => (host(name, linears[j].weight.dense())?, heads),
            Source::Bias(j, heads) => {
                let bias = linears[j].bias.as_ref().map(|b| b.val());
                let bias = bias.ok_or_else(|| ExportError::Write(format!("`{name}`: no bias")))?;
                (host(name, bias)?, heads)
            }
            Source::RopeFreqs => (llama3_rope_factors(&m.config).unwrap_or_default(), None),
        };
        Ok(match permute {
            Some(heads) => {
                let rows = *self.tensors[i].dims.last().unwrap_or(&1) as usize;
                let rows = if self.tensors[i].dims.len() == 1 {
                    values.len()
                } else {
                    rows
                };
                gguf::permute_rows(&values, rows, heads)
            }
            None => values,
        })
    }

    fn tensor_bytes(&self, i: usize) -> Result<Vec<u8>, ExportError> {
        let values = self.tensor_values(i)?;
        let t = &self.tensors[i];
        Ok(match t.ty {
            GgmlType::F32 => gguf::encode_f32(&values),
            GgmlType::F16 => gguf::encode_f16(&values),
            GgmlType::Q8_0 => {
                gguf::quantize_q8_0(&values, t.dims[0] as usize).ok_or_else(|| {
                    ExportError::Write(format!("`{}`: rows are not whole Q8_0 blocks", t.name))
                })?
            }
        })
    }
}

/// Reads a device tensor back to the host.
fn host<const D: usize>(name: &str, t: Tensor<D>) -> Result<Vec<f32>, ExportError> {
    t.try_into_vec_as::<f32>()
        .map_err(|e| ExportError::Write(format!("reading `{name}` back from the device: {e}")))
}

/// The GGUF tensor list: names, ggml dims, types and where each comes from.
fn plan_tensors(
    model: &Model,
    arch: &str,
    ty: GgmlType,
) -> (Vec<TensorInfo>, Vec<Source>, Vec<String>) {
    let cfg = &model.config;
    let mut infos = Vec::new();
    let mut sources = Vec::new();
    let mut fallback = Vec::new();
    // Matrices take the requested type; vectors stay f32 (the converter's rule).
    let mut push = |name: String, hf_shape: &[usize], src: Source| {
        let dims: Vec<u64> = hf_shape.iter().rev().map(|&d| d as u64).collect();
        let mut t = if dims.len() >= 2 { ty } else { GgmlType::F32 };
        if t == GgmlType::Q8_0 && !(dims[0] as usize).is_multiple_of(gguf::Q8_0_BLOCK) {
            fallback.push(name.clone());
            t = GgmlType::F16;
        }
        infos.push(TensorInfo { name, dims, ty: t });
        sources.push(src);
    };
    if arch == "llama" && matches!(cfg.rope_scaling, RopeScaling::Llama3 { .. }) {
        push(
            "rope_freqs.weight".into(),
            &[cfg.head_dim / 2],
            Source::RopeFreqs,
        );
    }
    push(
        "token_embd.weight".into(),
        &[cfg.vocab_size, cfg.hidden_size],
        Source::Embed,
    );
    let linears = model.linears();
    for l in 0..cfg.num_hidden_layers {
        push(
            format!("blk.{l}.attn_norm.weight"),
            &[cfg.hidden_size],
            Source::InputNorm(l),
        );
        for (k, short) in LAYER_LINEARS.iter().enumerate() {
            let j = l * 7 + k;
            let lin = linears[j];
            // llama's q and k rows are permuted per head (k by its own, fewer, heads).
            let heads = match (arch, k) {
                ("llama", 0) => Some(cfg.num_attention_heads),
                ("llama", 1) => Some(cfg.num_key_value_heads),
                _ => None,
            };
            push(
                format!("blk.{l}.{short}.weight"),
                &[lin.out_features, lin.in_features],
                Source::Weight(j, heads),
            );
            if lin.bias.is_some() {
                push(
                    format!("blk.{l}.{short}.bias"),
                    &[lin.out_features],
                    Source::Bias(j, heads),
                );
            }
            if k == 3 {
                push(
                    format!("blk.{l}.ffn_norm.weight"),
                    &[cfg.hidden_size],
                    Source::PostNorm(l),
                );
            }
        }
    }
    push(
        "output_norm.weight".into(),
        &[cfg.hidden_size],
        Source::FinalNorm,
    );
    if let Some(head) = &model.lm_head {
        push(
            "output.weight".into(),
            &[head.out_features, head.in_features],
            Source::Weight(linears.len() - 1, None),
        );
    }
    (infos, sources, fallback)
}

/// `general.*` and the architecture's hyper-parameters, as `set_gguf_parameters` writes them.
fn model_metadata(cfg: &ModelConfig, arch: &str, name: &str, ty: GgmlType) -> Vec<(String, Value)> {
    let k = |s: &str| format!("{arch}.{s}");
    let mut m = vec![
        ("general.architecture".to_string(), Value::Str(arch.into())),
        ("general.type".to_string(), Value::Str("model".into())),
        ("general.name".to_string(), Value::Str(name.into())),
        (k("block_count"), u32_of(cfg.num_hidden_layers)),
        (k("context_length"), u32_of(cfg.max_position_embeddings)),
        (k("embedding_length"), u32_of(cfg.hidden_size)),
        (k("feed_forward_length"), u32_of(cfg.intermediate_size)),
        (k("attention.head_count"), u32_of(cfg.num_attention_heads)),
        (
            k("attention.head_count_kv"),
            u32_of(cfg.num_key_value_heads),
        ),
        (k("rope.freq_base"), Value::F32(cfg.rope_theta as f32)),
        (
            k("attention.layer_norm_rms_epsilon"),
            Value::F32(cfg.rms_norm_eps as f32),
        ),
        (k("attention.key_length"), u32_of(cfg.head_dim)),
        (k("attention.value_length"), u32_of(cfg.head_dim)),
        ("general.file_type".to_string(), Value::U32(ty.file_type())),
    ];
    if arch == "llama" {
        m.push((k("vocab_size"), u32_of(cfg.vocab_size)));
        m.push((k("rope.dimension_count"), u32_of(cfg.head_dim)));
    }
    m.push((
        "general.quantization_version".to_string(),
        Value::U32(gguf::QUANTIZATION_VERSION),
    ));
    m
}

/// `tokenizer.*`: the vocabulary, special ids, add flags and the chat template.
fn vocab_metadata(
    vocab: &GgufVocab,
    template: &ChatTemplate,
    warnings: &mut Vec<String>,
) -> Vec<(String, Value)> {
    let mut m = vec![
        (
            "tokenizer.ggml.model".to_string(),
            Value::Str("gpt2".into()),
        ),
        (
            "tokenizer.ggml.pre".to_string(),
            Value::Str(vocab.pre.clone()),
        ),
        (
            "tokenizer.ggml.tokens".to_string(),
            Value::Strings(vocab.tokens.clone()),
        ),
        (
            "tokenizer.ggml.token_type".to_string(),
            Value::I32s(vocab.token_types.clone()),
        ),
    ];
    if !vocab.merges.is_empty() {
        m.push((
            "tokenizer.ggml.merges".to_string(),
            Value::Strings(vocab.merges.clone()),
        ));
    }
    for (name, id) in &vocab.special_ids {
        m.push((special_key(name), Value::U32(*id)));
    }
    for (name, flag) in &vocab.add_special {
        m.push((
            format!("tokenizer.ggml.add_{name}_token"),
            Value::Bool(*flag),
        ));
    }
    let eos = vocab.special("eos");
    match vocab.id_of(&template.eos_token) {
        Some(id) if Some(id) != eos => {
            m.push(("tokenizer.ggml.eot_token_id".to_string(), Value::U32(id)));
        }
        Some(_) => {}
        None if template.eos_token.is_empty() => warnings.push(
            "the chat template names no end-of-turn token; generation stops only at the tokenizer's EOS"
                .into(),
        ),
        None => warnings.push(format!(
            "the template's end-of-turn `{}` is not one token of this tokenizer: llama.cpp cannot \
             stop on it (expect endless generation unless the model learned the tokenizer's EOS)",
            template.eos_token
        )),
    }
    if eos.is_none() {
        warnings.push("the tokenizer names no EOS token (tokenizer_config.json `eos_token` or config.json `eos_token_id`)".into());
    }
    m.push((
        "tokenizer.chat_template".to_string(),
        Value::Str(template.source.clone()),
    ));
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama3_factors_leave_high_frequencies_and_divide_low_ones() {
        let json = r#"{"model_type":"llama","hidden_size":2048,"intermediate_size":8192,
            "num_attention_heads":32,"num_key_value_heads":8,"num_hidden_layers":16,"vocab_size":128256,
            "rope_theta":500000.0,"rope_scaling":{"factor":32.0,"high_freq_factor":4.0,
            "low_freq_factor":1.0,"original_max_position_embeddings":8192,"rope_type":"llama3"}}"#;
        let cfg = ModelConfig::from_json(json.as_bytes(), "c").unwrap();
        let f = llama3_rope_factors(&cfg).unwrap();
        assert_eq!(f.len(), 32);
        assert_eq!(f[0], 1.0);
        assert_eq!(f[31], 32.0);
        assert!(f.iter().all(|&x| (1.0..=32.0).contains(&x)));
    }
}
