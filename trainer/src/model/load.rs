//! Reading and writing Hugging Face model directories.
//!
//! A directory holds `config.json` and either `model.safetensors` or shards listed in
//! `model.safetensors.index.json`. Tensors may be f32, f16, bf16 (or f64); they are converted to
//! f32 as they are read. Every error names the file and, where there is one, the tensor.
//!
//! We read safetensors with the `safetensors` crate rather than burn-store's
//! `SafetensorsStore`: our projections are our own [`Linear`] (not burn's, whose `[in, out]`
//! layout `PyTorchToBurnAdapter` transposes for), the model is built straight from the
//! checkpoint names (no key remapping table), and the same reader serves byte buffers in the
//! browser.
//!
//! [`Model::save`] writes a merged model back in the same format (f32, `[out, in]`), through a
//! temporary file renamed into place so an existing file is never left half-written.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use safetensors::tensor::{Metadata, TensorInfo};
use safetensors::{Dtype, SafeTensors};

use super::config::{ConfigError, ModelConfig};
use super::llama::Model;
use crate::adapter::{AdapterSpec, Linear, LoraConfigError, Nf4Error};

/// Everything that can go wrong loading or saving a model or adapter.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The `config.json` is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Neither `model.safetensors` nor `model.safetensors.index.json` exists.
    #[error("{dir}: no model.safetensors or model.safetensors.index.json")]
    NoWeights {
        /// The directory.
        dir: String,
    },
    /// A safetensors file is corrupt.
    #[error("{file}: not a valid safetensors file: {reason}")]
    Safetensors {
        /// The file.
        file: String,
        /// safetensors' error.
        reason: String,
    },
    /// The shard index is malformed.
    #[error("{file}: {reason}")]
    Index {
        /// The index file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A tensor the model needs is absent.
    #[error("{file}: missing tensor `{name}`")]
    MissingTensor {
        /// Where it was looked for.
        file: String,
        /// Checkpoint name.
        name: String,
    },
    /// A tensor's shape disagrees with config.json.
    #[error("{file}: tensor `{name}` has shape {found:?}, config.json implies {expected:?}")]
    Shape {
        /// The file holding it.
        file: String,
        /// Checkpoint name.
        name: String,
        /// What the config implies.
        expected: Vec<usize>,
        /// What the file holds.
        found: Vec<usize>,
    },
    /// A tensor is stored in a type we cannot read as floats.
    #[error("{file}: tensor `{name}` has dtype {dtype}, expected F32, F16, BF16 or F64")]
    Dtype {
        /// The file holding it.
        file: String,
        /// Checkpoint name.
        name: String,
        /// safetensors dtype.
        dtype: String,
    },
    /// An adapter directory or adapter settings are unusable.
    #[error("{path}: {reason}")]
    Adapter {
        /// The adapter directory or file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// LoRA hyper-parameters are invalid.
    #[error("adapter `{name}`: {source}")]
    LoraConfig {
        /// Adapter name.
        name: String,
        /// The problem.
        source: LoraConfigError,
    },
    /// Stored NF4 data does not fit its shape.
    #[error(transparent)]
    Nf4(#[from] Nf4Error),
    /// A tensor could not be read back from the device.
    #[error("reading tensor `{name}` back from the device: {reason}")]
    Readback {
        /// Checkpoint name.
        name: String,
        /// burn's error.
        reason: String,
    },
}

/// A tensor on the host: shape and row-major f32 values.
pub type HostTensor = (Vec<usize>, Vec<f32>);

/// A tensor ready to be written: shape and little-endian f32 bytes.
pub(crate) type TensorBytes = (Vec<usize>, Vec<u8>);

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> LoadError + '_ {
    move |source| LoadError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A source of checkpoint tensors by Hugging Face name, converted to f32.
pub trait WeightSource {
    /// Whether the checkpoint has `name`.
    fn contains(&self, name: &str) -> bool;

    /// The values of `name`, row-major, checked to have `shape`.
    fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, LoadError>;

    /// `name` as a vector on `device`.
    fn tensor1(&self, name: &str, size: usize, device: &Device) -> Result<Tensor<1>, LoadError> {
        let v = self.read(name, &[size])?;
        Ok(Tensor::from_data(TensorData::new(v, [size]), device))
    }

    /// `name` as a matrix on `device`.
    fn tensor2(
        &self,
        name: &str,
        shape: [usize; 2],
        device: &Device,
    ) -> Result<Tensor<2>, LoadError> {
        let v = self.read(name, &shape)?;
        Ok(Tensor::from_data(TensorData::new(v, shape), device))
    }

    /// The frozen [`Linear`] at `path` (`{path}.weight`, `[out, in]`, and `{path}.bias` when
    /// `bias` is set or the checkpoint has one).
    fn linear(
        &self,
        path: &str,
        shape: [usize; 2],
        bias: bool,
        device: &Device,
    ) -> Result<Linear, LoadError> {
        let weight = self.tensor2(&format!("{path}.weight"), shape, device)?;
        let bias_name = format!("{path}.bias");
        let bias = if bias || self.contains(&bias_name) {
            Some(self.tensor1(&bias_name, shape[0], device)?)
        } else {
            None
        };
        Ok(Linear::new(path, weight, bias))
    }
}

struct Shard {
    file: String,
    bytes: Vec<u8>,
    data_start: usize,
    metadata: Metadata,
}

/// Tensors of one safetensors file or a sharded set.
pub struct SafetensorsWeights {
    shards: Vec<Shard>,
    /// Tensor name → shard index.
    index: HashMap<String, usize>,
    /// Where to say a missing tensor was looked for.
    origin: String,
    used: RefCell<HashSet<String>>,
}

impl SafetensorsWeights {
    /// Parses safetensors buffers (`(file name, bytes)`, one per shard).
    pub fn from_buffers(files: Vec<(String, Vec<u8>)>, origin: &str) -> Result<Self, LoadError> {
        let mut shards = Vec::with_capacity(files.len());
        let mut index = HashMap::new();
        for (i, (file, bytes)) in files.into_iter().enumerate() {
            let invalid = |e: safetensors::SafeTensorError| LoadError::Safetensors {
                file: file.clone(),
                reason: e.to_string(),
            };
            // deserialize() validates offsets against the buffer; keep only the metadata.
            SafeTensors::deserialize(&bytes).map_err(invalid)?;
            let (n, metadata) = SafeTensors::read_metadata(&bytes).map_err(invalid)?;
            for name in metadata.tensors().keys() {
                index.insert(name.clone(), i);
            }
            shards.push(Shard {
                file,
                bytes,
                data_start: 8 + n,
                metadata,
            });
        }
        Ok(SafetensorsWeights {
            shards,
            index,
            origin: origin.to_string(),
            used: RefCell::new(HashSet::new()),
        })
    }

    /// Reads `model.safetensors`, or every shard named by `model.safetensors.index.json`.
    pub fn from_dir(dir: &Path) -> Result<Self, LoadError> {
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        if single.is_file() {
            let bytes = std::fs::read(&single).map_err(io_error(&single))?;
            let name = single.display().to_string();
            return Self::from_buffers(vec![(name.clone(), bytes)], &name);
        }
        if !index.is_file() {
            return Err(LoadError::NoWeights {
                dir: dir.display().to_string(),
            });
        }
        let shard_names = read_index(&index)?;
        let mut files = Vec::with_capacity(shard_names.len());
        for name in shard_names {
            let path = dir.join(&name);
            let bytes = std::fs::read(&path).map_err(io_error(&path))?;
            files.push((path.display().to_string(), bytes));
        }
        let weights = Self::from_buffers(files, &index.display().to_string())?;
        Ok(weights)
    }

    /// Every tensor name in the checkpoint.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.index.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// Names present in the checkpoint that no `read` asked for.
    pub fn unused(&self) -> Vec<String> {
        let used = self.used.borrow();
        let mut v: Vec<String> = self
            .index
            .keys()
            .filter(|k| !used.contains(*k))
            .cloned()
            .collect();
        v.sort();
        v
    }

    fn info(&self, name: &str) -> Result<(&Shard, &TensorInfo), LoadError> {
        let missing = || LoadError::MissingTensor {
            file: self.origin.clone(),
            name: name.to_string(),
        };
        let shard = &self.shards[*self.index.get(name).ok_or_else(missing)?];
        let info = shard.metadata.info(name).ok_or_else(missing)?;
        Ok((shard, info))
    }

    /// The stored dtype and shape of `name`.
    pub fn dtype_and_shape(&self, name: &str) -> Result<(Dtype, Vec<usize>), LoadError> {
        let (_, info) = self.info(name)?;
        Ok((info.dtype, info.shape.clone()))
    }
}

/// The shard file names listed in a `model.safetensors.index.json`, in first-seen order.
fn read_index(path: &Path) -> Result<Vec<String>, LoadError> {
    let file = path.display().to_string();
    let bytes = std::fs::read(path).map_err(io_error(path))?;
    let json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| LoadError::Index {
        file: file.clone(),
        reason: format!("not valid JSON: {e}"),
    })?;
    let map = json
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| LoadError::Index {
            file: file.clone(),
            reason: "no `weight_map` object".into(),
        })?;
    let mut names: Vec<String> = Vec::new();
    for (tensor, shard) in map {
        let shard = shard.as_str().ok_or_else(|| LoadError::Index {
            file: file.clone(),
            reason: format!("`weight_map.{tensor}` is not a file name"),
        })?;
        // Shards must sit next to the index; refuse paths that climb out of the directory.
        if shard.contains('/') || shard.contains('\\') || shard == ".." {
            return Err(LoadError::Index {
                file: file.clone(),
                reason: format!(
                    "`weight_map.{tensor}` names `{shard}`, not a file in the same directory"
                ),
            });
        }
        if !names.iter().any(|n| n == shard) {
            names.push(shard.to_string());
        }
    }
    Ok(names)
}

/// Little-endian bytes of `dtype` to f32.
fn to_f32(bytes: &[u8], dtype: Dtype) -> Option<Vec<f32>> {
    Some(match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect(),
        _ => return None,
    })
}

impl WeightSource for SafetensorsWeights {
    fn contains(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, LoadError> {
        let (shard, info) = self.info(name)?;
        if info.shape != shape {
            return Err(LoadError::Shape {
                file: shard.file.clone(),
                name: name.to_string(),
                expected: shape.to_vec(),
                found: info.shape.clone(),
            });
        }
        let (start, end) = info.data_offsets;
        let bytes = &shard.bytes[shard.data_start + start..shard.data_start + end];
        let values = to_f32(bytes, info.dtype).ok_or_else(|| LoadError::Dtype {
            file: shard.file.clone(),
            name: name.to_string(),
            dtype: format!("{:?}", info.dtype),
        })?;
        self.used.borrow_mut().insert(name.to_string());
        Ok(values)
    }
}

/// Random weights for a configuration, as transformers initialises them: matrices
/// N(0, `std`) (transformers' `initializer_range`, 0.02), norms 1, biases 0. Seeded and
/// computed on the host, so every backend gets the same model. For tests and benchmarks.
pub struct RandomWeights {
    /// Seed; each tensor mixes in its name.
    pub seed: u64,
    /// Standard deviation of matrices.
    pub std: f32,
    /// Whether to omit `lm_head.weight` (tied embeddings).
    pub tied: bool,
}

impl WeightSource for RandomWeights {
    fn contains(&self, name: &str) -> bool {
        !(name.ends_with(".bias") || (self.tied && name == "lm_head.weight"))
    }

    fn read(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, LoadError> {
        let n: usize = shape.iter().product();
        if name.ends_with("norm.weight") {
            return Ok(vec![1.0; n]);
        }
        if name.ends_with(".bias") {
            return Ok(vec![0.0; n]);
        }
        let mut rng = ChaCha8Rng::seed_from_u64(crate::adapter::layer_seed(self.seed, name));
        // Box–Muller: two uniforms give one standard normal.
        Ok((0..n)
            .map(|_| {
                let u1: f32 = 1.0 - rng.random::<f32>();
                let u2: f32 = rng.random();
                self.std * (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
            })
            .collect())
    }
}

/// Reads a device tensor back as an f32 view for writing.
pub(crate) fn tensor_bytes<const D: usize>(
    name: &str,
    t: Tensor<D>,
) -> Result<TensorBytes, LoadError> {
    let shape = t.dims().to_vec();
    let values: Vec<f32> = t
        .try_into_vec_as::<f32>()
        .map_err(|e| LoadError::Readback {
            name: name.to_string(),
            reason: e.to_string(),
        })?;
    let mut bytes = Vec::with_capacity(values.len() * 4);
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    Ok((shape, bytes))
}

/// Serialises named f32 tensors (`(shape, little-endian bytes)`) to a safetensors file, with
/// optional `__metadata__`, atomically.
///
/// The format is small enough to write directly (and the `safetensors` crate's writer takes a
/// different `HashMap` type in its no-std build, the one wasm uses): an 8-byte little-endian
/// header length, a JSON header padded with spaces to a multiple of 8, then the tensors in
/// header order.
pub(crate) fn write_safetensors(
    path: &Path,
    tensors: BTreeMap<String, TensorBytes>,
    metadata: Option<BTreeMap<String, String>>,
) -> Result<(), LoadError> {
    write_atomically(path, &safetensors_bytes(tensors, metadata))
}

/// The bytes of a safetensors file holding named f32 tensors (`(shape, little-endian bytes)`),
/// with optional `__metadata__` (what [`write_safetensors`] writes).
pub(crate) fn safetensors_bytes(
    tensors: BTreeMap<String, TensorBytes>,
    metadata: Option<BTreeMap<String, String>>,
) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    if let Some(meta) = metadata {
        header.insert(
            "__metadata__".into(),
            serde_json::to_value(meta).unwrap_or_default(),
        );
    }
    let mut offset = 0usize;
    for (name, (shape, bytes)) in &tensors {
        let entry = serde_json::json!({
            "dtype": "F32",
            "shape": shape,
            "data_offsets": [offset, offset + bytes.len()],
        });
        header.insert(name.clone(), entry);
        offset += bytes.len();
    }
    let mut header = serde_json::to_vec(&serde_json::Value::Object(header)).unwrap_or_default();
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut buffer = Vec::with_capacity(8 + header.len() + offset);
    buffer.extend_from_slice(&(header.len() as u64).to_le_bytes());
    buffer.extend_from_slice(&header);
    for (_, bytes) in tensors.values() {
        buffer.extend_from_slice(bytes);
    }
    buffer
}

/// Writes `bytes` to a sibling temporary file, then renames it over `path`.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), LoadError> {
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp: PathBuf = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(io_error(&tmp))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_error(path)(e)
    })
}

impl Model {
    /// Loads a Hugging Face model directory and attaches the adapters `spec` asks for.
    ///
    /// The base is frozen; only adapter parameters require gradients (on an autodiff device).
    ///
    /// # Errors
    /// [`LoadError`] naming the file and tensor at fault.
    pub fn load(
        dir: impl AsRef<Path>,
        device: &Device,
        spec: &AdapterSpec,
    ) -> Result<Self, LoadError> {
        let dir = dir.as_ref();
        let config_path = dir.join("config.json");
        let bytes = std::fs::read(&config_path).map_err(io_error(&config_path))?;
        let config = ModelConfig::from_json(&bytes, &config_path.display().to_string())?;
        let weights = SafetensorsWeights::from_dir(dir)?;
        let mut model = Model::from_weights(config, &weights, device)?;
        model.apply_adapters(spec)?;
        Ok(model)
    }

    /// Builds a model from a Hugging Face directory's files held in memory (in a browser, where
    /// there is no file system): `config.json`'s bytes and the safetensors files (one, or every
    /// shard), and attaches the adapters `spec` asks for (new ones only: a PEFT directory is read
    /// from disk). `origin` names the directory in messages.
    ///
    /// # Errors
    /// [`LoadError`] naming the file and tensor at fault.
    pub fn from_bytes(
        config_json: &[u8],
        weights: Vec<(String, Vec<u8>)>,
        origin: &str,
        device: &Device,
        spec: &AdapterSpec,
    ) -> Result<Self, LoadError> {
        let config = ModelConfig::from_json(config_json, &format!("{origin}/config.json"))?;
        if weights.is_empty() {
            return Err(LoadError::NoWeights {
                dir: origin.to_string(),
            });
        }
        let weights = SafetensorsWeights::from_buffers(weights, origin)?;
        let mut model = Model::from_weights(config, &weights, device)?;
        drop(weights);
        model.apply_adapters(spec)?;
        Ok(model)
    }

    /// The checkpoint tensors of the base model (adapters merged), HF names and `[out, in]`
    /// layout, as f32 `(shape, bytes)`.
    fn checkpoint_tensors(&self) -> Result<BTreeMap<String, TensorBytes>, LoadError> {
        fn put<const D: usize>(
            out: &mut BTreeMap<String, TensorBytes>,
            name: String,
            t: Tensor<D>,
        ) -> Result<(), LoadError> {
            let v = tensor_bytes(&name, t)?;
            out.insert(name, v);
            Ok(())
        }
        let mut merged = self.clone();
        for l in merged.linears_mut() {
            l.merge_and_unload();
        }
        let mut out = BTreeMap::new();
        put(
            &mut out,
            "model.embed_tokens.weight".into(),
            merged.model.embed_tokens.weight.val(),
        )?;
        for (i, layer) in merged.model.layers.iter().enumerate() {
            let p = format!("model.layers.{i}");
            put(
                &mut out,
                format!("{p}.input_layernorm.weight"),
                layer.input_layernorm.weight.val(),
            )?;
            let post = layer.post_attention_layernorm.weight.val();
            put(
                &mut out,
                format!("{p}.post_attention_layernorm.weight"),
                post,
            )?;
        }
        put(
            &mut out,
            "model.norm.weight".into(),
            merged.model.norm.weight.val(),
        )?;
        for l in merged.linears() {
            put(&mut out, format!("{}.weight", l.path), l.weight.dense())?;
            if let Some(b) = &l.bias {
                put(&mut out, format!("{}.bias", l.path), b.val())?;
            }
        }
        Ok(out)
    }

    /// Writes the model, adapters merged, as a Hugging Face directory: `config.json` and
    /// `model.safetensors` (f32, `[out, in]`), loadable by transformers. NF4 layers are written
    /// dequantised. Creates `dir` if needed; replaces those two files atomically.
    ///
    /// # Errors
    /// [`LoadError::Io`] when the directory or files cannot be written.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<(), LoadError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let tensors = self.checkpoint_tensors()?;
        let metadata = BTreeMap::from([("format".to_string(), "pt".to_string())]);
        write_safetensors(&dir.join("model.safetensors"), tensors, Some(metadata))?;
        let config =
            serde_json::to_vec_pretty(&self.config.to_hf_json(self.is_tied())).unwrap_or_default();
        write_atomically(&dir.join("config.json"), &config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_types_convert_exactly() {
        let bf = half::bf16::from_f32(1.5).to_le_bytes();
        let f = half::f16::from_f32(-0.25).to_le_bytes();
        assert_eq!(to_f32(&bf, Dtype::BF16), Some(vec![1.5]));
        assert_eq!(to_f32(&f, Dtype::F16), Some(vec![-0.25]));
        assert_eq!(to_f32(&[1, 2], Dtype::I16), None);
    }

    #[test]
    fn corrupt_file_is_named() {
        let err =
            SafetensorsWeights::from_buffers(vec![("x.safetensors".into(), vec![1, 2, 3])], "x")
                .err()
                .unwrap();
        assert!(
            err.to_string()
                .starts_with("x.safetensors: not a valid safetensors"),
            "{err}"
        );
    }

    #[test]
    fn shape_mismatch_names_file_tensor_and_shapes() {
        let mut tensors = BTreeMap::new();
        tensors.insert("w".to_string(), (vec![2, 3], vec![0u8; 24]));
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let path = dir.join("model.safetensors");
        write_safetensors(&path, tensors, None).unwrap();
        let w = SafetensorsWeights::from_dir(dir).unwrap();
        let err = w.read("w", &[3, 2]).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("model.safetensors") && msg.contains("`w`") && msg.contains("[2, 3]"),
            "{msg}"
        );
        assert!(matches!(
            w.read("v", &[1]),
            Err(LoadError::MissingTensor { .. })
        ));
    }

    #[test]
    fn random_weights_are_seeded() {
        let a = RandomWeights {
            seed: 1,
            std: 0.02,
            tied: true,
        };
        let x = a
            .read("model.layers.0.mlp.up_proj.weight", &[4, 4])
            .unwrap();
        assert_eq!(
            x,
            a.read("model.layers.0.mlp.up_proj.weight", &[4, 4])
                .unwrap()
        );
        assert_ne!(
            x,
            a.read("model.layers.1.mlp.up_proj.weight", &[4, 4])
                .unwrap()
        );
        assert!(!a.contains("lm_head.weight"));
    }
}
