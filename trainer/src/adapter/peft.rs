//! PEFT's adapter directory: `adapter_config.json` + `adapter_model.safetensors`.
//!
//! Tensor keys are `base_model.model.<module path>.lora_A.weight` (`[r, in]`),
//! `.lora_B.weight` (`[out, r]`) and, for DoRA, `.lora_magnitude_vector` (`[out]`), the adapter
//! name left out as PEFT's `get_peft_model_state_dict` does. The config is written with every
//! key PEFT 0.21's `LoraConfig` writes, so `PeftModel.from_pretrained` loads it unchanged.
//!
//! Reading is lenient about keys we do not use but refuses settings that would change the
//! computation in ways we do not implement (`bias` other than `none`, `fan_in_fan_out`,
//! `modules_to_save`, `rank_pattern`/`alpha_pattern`, `layers_to_transform`, a non-LoRA
//! `peft_type`), naming the file and key.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::attach::AdapterTensor;
use super::{LoraConfig, TargetModules};
use crate::model::Model;
use crate::model::load::{
    HostTensor, LoadError, SafetensorsWeights, TensorBytes, WeightSource, io_error,
    safetensors_bytes, tensor_bytes, write_atomically, write_safetensors,
};

/// The adapter configuration file name.
pub const CONFIG_FILE: &str = "adapter_config.json";
/// The adapter weights file name.
pub const WEIGHTS_FILE: &str = "adapter_model.safetensors";
/// The prefix PEFT's `PeftModelForCausalLM` puts before module paths.
pub const KEY_PREFIX: &str = "base_model.model.";

/// `adapter_config.json` as PEFT writes it (the keys we read).
#[derive(Debug, Clone, Deserialize)]
struct RawPeftConfig {
    #[serde(default)]
    peft_type: Option<String>,
    #[serde(default)]
    r: Option<usize>,
    #[serde(default)]
    lora_alpha: Option<f64>,
    #[serde(default)]
    lora_dropout: Option<f64>,
    #[serde(default)]
    target_modules: Option<TargetModules>,
    #[serde(default)]
    use_rslora: Option<bool>,
    #[serde(default)]
    use_dora: Option<bool>,
    #[serde(default)]
    bias: Option<String>,
    #[serde(default)]
    fan_in_fan_out: Option<bool>,
    #[serde(default)]
    modules_to_save: Option<Value>,
    #[serde(default)]
    rank_pattern: Option<Map<String, Value>>,
    #[serde(default)]
    alpha_pattern: Option<Map<String, Value>>,
    #[serde(default)]
    layers_to_transform: Option<Value>,
    #[serde(default)]
    base_model_name_or_path: Option<String>,
}

/// A PEFT adapter read from disk.
#[derive(Debug, Clone)]
pub struct PeftAdapter {
    /// Its hyper-parameters.
    pub config: LoraConfig,
    /// `base_model_name_or_path` from the config, if any.
    pub base_model_name_or_path: Option<String>,
    /// Weights by module path (without `base_model.model.`), then suffix
    /// (`lora_A.weight`, `lora_B.weight`, `lora_magnitude_vector`): shape and f32 values.
    pub tensors: BTreeMap<String, BTreeMap<String, HostTensor>>,
    /// Where it was read from.
    pub origin: String,
}

/// The suffixes of an adapter's tensors.
pub const SUFFIXES: [&str; 3] = ["lora_A.weight", "lora_B.weight", "lora_magnitude_vector"];

fn refuse(path: &Path, reason: String) -> LoadError {
    LoadError::Adapter {
        path: path.display().to_string(),
        reason,
    }
}

fn parse_config(bytes: &[u8], path: &Path) -> Result<(LoraConfig, Option<String>), LoadError> {
    let raw: RawPeftConfig = serde_json::from_slice(bytes)
        .map_err(|e| refuse(path, format!("not a valid adapter_config.json: {e}")))?;
    match raw.peft_type.as_deref() {
        Some("LORA") | None => {}
        Some(other) => {
            return Err(refuse(
                path,
                format!("`peft_type` is `{other}`; only LORA adapters are supported"),
            ));
        }
    }
    if let Some(b) = raw.bias.as_deref()
        && b != "none"
    {
        return Err(refuse(
            path,
            format!("`bias` is `{b}`; only `none` is supported"),
        ));
    }
    if raw.fan_in_fan_out == Some(true) {
        return Err(refuse(
            path,
            "`fan_in_fan_out` is true (Conv1D models); not supported".into(),
        ));
    }
    if raw.modules_to_save.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(refuse(
            path,
            "`modules_to_save` is set; fully trained modules are not supported".into(),
        ));
    }
    if raw.rank_pattern.as_ref().is_some_and(|m| !m.is_empty())
        || raw.alpha_pattern.as_ref().is_some_and(|m| !m.is_empty())
    {
        return Err(refuse(
            path,
            "`rank_pattern`/`alpha_pattern` are set; per-layer ranks are not supported".into(),
        ));
    }
    if raw
        .layers_to_transform
        .as_ref()
        .is_some_and(|v| !v.is_null())
    {
        return Err(refuse(
            path,
            "`layers_to_transform` is set; not supported".into(),
        ));
    }
    let r = raw.r.ok_or_else(|| refuse(path, "missing `r`".into()))?;
    let config = LoraConfig {
        r,
        // PEFT's defaults.
        lora_alpha: raw.lora_alpha.unwrap_or(8.0),
        lora_dropout: raw.lora_dropout.unwrap_or(0.0),
        target_modules: raw
            .target_modules
            .ok_or_else(|| refuse(path, "missing `target_modules`".into()))?,
        use_rslora: raw.use_rslora.unwrap_or(false),
        use_dora: raw.use_dora.unwrap_or(false),
    };
    config.validate().map_err(|e| refuse(path, e.to_string()))?;
    Ok((config, raw.base_model_name_or_path))
}

/// Reads a PEFT adapter directory.
///
/// # Errors
/// [`LoadError`] naming the file: unreadable, unsupported settings, a key that is not an
/// adapter tensor of a module.
pub fn read_adapter(dir: &Path) -> Result<PeftAdapter, LoadError> {
    let config_path = dir.join(CONFIG_FILE);
    let bytes = std::fs::read(&config_path).map_err(io_error(&config_path))?;
    let (config, base) = parse_config(&bytes, &config_path)?;
    let weights_path = dir.join(WEIGHTS_FILE);
    let bytes = std::fs::read(&weights_path).map_err(io_error(&weights_path))?;
    let origin = weights_path.display().to_string();
    let weights = SafetensorsWeights::from_buffers(vec![(origin.clone(), bytes)], &origin)?;
    let mut tensors: BTreeMap<String, BTreeMap<String, HostTensor>> = BTreeMap::new();
    for name in weights.names() {
        let (module, suffix) = name
            .strip_prefix(KEY_PREFIX)
            .and_then(|rest| SUFFIXES.iter().find_map(|s| rest.strip_suffix(s).map(|m| (m, *s))))
            .and_then(|(m, s)| m.strip_suffix('.').map(|m| (m, s)))
            .ok_or_else(|| {
                refuse(
                    &weights_path,
                    format!("tensor `{name}` is not `{KEY_PREFIX}<module>.{{lora_A.weight, lora_B.weight, lora_magnitude_vector}}`"),
                )
            })?;
        let (_, shape) = weights.dtype_and_shape(name)?;
        let values = weights.read(name, &shape)?;
        tensors
            .entry(module.to_string())
            .or_default()
            .insert(suffix.to_string(), (shape, values));
    }
    Ok(PeftAdapter {
        config,
        base_model_name_or_path: base,
        tensors,
        origin,
    })
}

/// The `adapter_config.json` PEFT 0.21 writes for a LoRA adapter, every key explicit.
pub fn adapter_config_json(
    config: &LoraConfig,
    target_modules: &[String],
    base_model_name_or_path: &str,
) -> Value {
    json!({
        "alora_invocation_tokens": null,
        "alpha_pattern": {},
        "arrow_config": null,
        "auto_mapping": null,
        "base_model_name_or_path": base_model_name_or_path,
        "bias": "none",
        "corda_config": null,
        "ensure_weight_tying": false,
        "eva_config": null,
        "exclude_modules": null,
        "fan_in_fan_out": false,
        "inference_mode": true,
        "init_lora_weights": true,
        "kasa_config": null,
        "layer_replication": null,
        "layers_pattern": null,
        "layers_to_transform": null,
        "loftq_config": {},
        "lora_alpha": config.lora_alpha,
        "lora_bias": false,
        "lora_dropout": config.lora_dropout,
        "lora_ga_config": null,
        "megatron_config": null,
        "megatron_core": "megatron.core",
        "modules_to_save": null,
        "monteclora_config": null,
        "peft_type": "LORA",
        "qalora_group_size": 16,
        "r": config.r,
        "rank_pattern": {},
        "revision": null,
        "target_modules": target_modules,
        "target_parameters": null,
        "task_type": "CAUSAL_LM",
        "trainable_token_indices": null,
        "use_bdlora": null,
        "use_dora": config.use_dora,
        "use_qalora": false,
        "use_rslora": config.use_rslora,
        "velora_config": null,
    })
}

/// Writes adapter `name` of `model` as a PEFT directory (created if needed; both files
/// replaced atomically).
///
/// # Errors
/// [`LoadError::Adapter`] when the model has no such adapter; [`LoadError::Io`] on write errors.
pub fn save_adapter(
    model: &Model,
    name: &str,
    dir: &Path,
    base_model_name_or_path: &str,
) -> Result<(), LoadError> {
    let config = model
        .adapter_config(name)
        .ok_or_else(|| refuse(dir, format!("the model has no adapter `{name}`")))?;
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let mut tensors = BTreeMap::new();
    for p in model.adapter_params(name) {
        let bytes = match p.value {
            AdapterTensor::Matrix(t) => tensor_bytes(&p.key, t.detach())?,
            AdapterTensor::Vector(t) => tensor_bytes(&p.key, t.detach())?,
        };
        tensors.insert(p.key, bytes);
    }
    let targets = config
        .target_modules
        .resolved_names(model.adapter_paths(name).iter().map(String::as_str));
    let metadata = BTreeMap::from([("format".to_string(), "pt".to_string())]);
    write_safetensors(&dir.join(WEIGHTS_FILE), tensors, Some(metadata))?;
    let json = adapter_config_json(&config, &targets, base_model_name_or_path);
    let text = serde_json::to_vec_pretty(&json).unwrap_or_default();
    write_atomically(&dir.join(CONFIG_FILE), &text)
}

/// The two files of a PEFT adapter directory, in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterFiles {
    /// `adapter_config.json`.
    pub config_json: Vec<u8>,
    /// `adapter_model.safetensors`.
    pub weights: Vec<u8>,
}

/// Adapter `name` of `model` as the files [`save_adapter`] writes, with the same bytes, read
/// back from the device asynchronously (so it also works on WebGPU in a browser, where nothing
/// can be read synchronously).
///
/// # Errors
/// [`LoadError::Adapter`] when the model has no such adapter; [`LoadError::Readback`] when a
/// tensor cannot be read back.
pub async fn adapter_files(
    model: &Model,
    name: &str,
    base_model_name_or_path: &str,
) -> Result<AdapterFiles, LoadError> {
    let config = model
        .adapter_config(name)
        .ok_or_else(|| LoadError::Adapter {
            path: name.to_string(),
            reason: format!("the model has no adapter `{name}`"),
        })?;
    let mut tensors: BTreeMap<String, TensorBytes> = BTreeMap::new();
    for p in model.adapter_params(name) {
        let shape = p.value.dims();
        let data = match p.value {
            AdapterTensor::Matrix(t) => t.detach().into_data_async().await,
            AdapterTensor::Vector(t) => t.detach().into_data_async().await,
        };
        let readback = |reason: String| LoadError::Readback {
            name: p.key.clone(),
            reason,
        };
        let values: Vec<f32> = data
            .map_err(|e| readback(e.to_string()))?
            .try_into_vec_as::<f32>()
            .map_err(|e| readback(format!("{e:?}")))?;
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensors.insert(p.key, (shape, bytes));
    }
    let targets = config
        .target_modules
        .resolved_names(model.adapter_paths(name).iter().map(String::as_str));
    let metadata = BTreeMap::from([("format".to_string(), "pt".to_string())]);
    let json = adapter_config_json(&config, &targets, base_model_name_or_path);
    Ok(AdapterFiles {
        config_json: serde_json::to_vec_pretty(&json).unwrap_or_default(),
        weights: safetensors_bytes(tensors, Some(metadata)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapter_files_are_the_bytes_save_adapter_writes() {
        use crate::adapter::AdapterSpec;
        use crate::model::{ModelConfig, RandomWeights};
        let json = r#"{"model_type":"llama","hidden_size":16,"intermediate_size":32,
            "num_attention_heads":2,"num_key_value_heads":1,"num_hidden_layers":1,"vocab_size":32,
            "max_position_embeddings":16,"tie_word_embeddings":true}"#;
        let cfg = ModelConfig::from_json(json.as_bytes(), "tiny").unwrap();
        let w = RandomWeights {
            seed: 1,
            std: 0.1,
            tied: true,
        };
        let device = burn::tensor::Device::flex();
        let mut model = Model::from_weights(cfg, &w, &device).unwrap();
        let lora = LoraConfig {
            r: 2,
            use_dora: true,
            ..LoraConfig::default()
        };
        model.apply_adapters(&AdapterSpec::lora(lora, 7)).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        save_adapter(&model, "default", tmp.path(), "tiny").unwrap();
        let files = burn::tensor::read_sync(adapter_files(&model, "default", "tiny")).unwrap();
        assert_eq!(
            files.weights,
            std::fs::read(tmp.path().join(WEIGHTS_FILE)).unwrap()
        );
        assert_eq!(
            files.config_json,
            std::fs::read(tmp.path().join(CONFIG_FILE)).unwrap()
        );
        assert!(
            burn::tensor::read_sync(adapter_files(&model, "other", "tiny"))
                .unwrap_err()
                .to_string()
                .contains("no adapter `other`")
        );
    }

    #[test]
    fn written_config_reads_back() {
        let cfg = LoraConfig {
            r: 16,
            lora_alpha: 32.0,
            lora_dropout: 0.05,
            target_modules: TargetModules::Names(vec!["q_proj".into(), "v_proj".into()]),
            use_rslora: true,
            use_dora: true,
        };
        let json = adapter_config_json(&cfg, &["q_proj".into(), "v_proj".into()], "base");
        let bytes = serde_json::to_vec(&json).unwrap();
        let (back, base) = parse_config(&bytes, Path::new("adapter_config.json")).unwrap();
        assert_eq!(back, cfg);
        assert_eq!(base.as_deref(), Some("base"));
        for key in [
            "peft_type",
            "task_type",
            "bias",
            "fan_in_fan_out",
            "init_lora_weights",
            "modules_to_save",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
    }

    #[test]
    fn unsupported_settings_are_refused_with_the_key() {
        let cases = [
            (
                r#"{"peft_type":"IA3","r":4,"target_modules":["q_proj"]}"#,
                "peft_type",
            ),
            (
                r#"{"r":4,"target_modules":["q_proj"],"bias":"all"}"#,
                "bias",
            ),
            (
                r#"{"r":4,"target_modules":["q_proj"],"modules_to_save":["lm_head"]}"#,
                "modules_to_save",
            ),
            (
                r#"{"r":4,"target_modules":["q_proj"],"rank_pattern":{"q_proj":8}}"#,
                "rank_pattern",
            ),
            (r#"{"target_modules":["q_proj"]}"#, "`r`"),
        ];
        for (json, key) in cases {
            let err =
                parse_config(json.as_bytes(), Path::new("a/adapter_config.json")).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.starts_with("a/adapter_config.json") && msg.contains(key),
                "{msg}"
            );
        }
    }
}
