//! The models ajuste fine-tunes: Llama-family decoders and Qwen2, loaded from and saved to
//! Hugging Face directories.
//!
//! - [`config`]: `config.json` → [`ModelConfig`].
//! - [`llama`]: the network ([`Model`], a causal LM) and its [`KvCache`].
//! - [`load`]: safetensors reading ([`Model::load`]) and writing ([`Model::save`]).
//!
//! ```no_run
//! use ajuste_trainer::adapter::{AdapterSpec, LoraConfig};
//! use ajuste_trainer::model::Model;
//! use burn::tensor::{Device, Int, Tensor};
//!
//! let device = Device::flex().autodiff();
//! let model = Model::load("SmolLM2-135M", &device, &AdapterSpec::lora(LoraConfig::default(), 42))?;
//! let ids = Tensor::<2, Int>::from_ints([[1, 2, 3]], &device);
//! let logits = model.forward(ids, None); // [1, 3, vocab]
//! # Ok::<(), ajuste_trainer::model::LoadError>(())
//! ```

pub mod config;
pub mod fused;
pub mod llama;
pub mod load;

pub use crate::adapter::{AdapterParam, AdapterTensor};
pub use config::{Architecture, ConfigError, HfConfig, ModelConfig, RopeScaling};
pub use llama::{KvCache, Model, Outputs};
pub use load::{HostTensor, LoadError, RandomWeights, SafetensorsWeights, WeightSource};
