//! Putting adapters on a [`Model`] and getting at them: attach (new or from PEFT), enable and
//! disable, merge and unmerge, and list the trainable tensors by their PEFT keys.

use std::collections::BTreeMap;

use burn::module::ParamId;
use burn::tensor::{Gradients, Tensor, TensorData};

use super::peft::{KEY_PREFIX, read_adapter};
use super::{AdapterSource, AdapterSpec, Linear, LoraAdapter, LoraConfig, layer_seed};
use crate::model::Model;
use crate::model::load::{HostTensor, LoadError};

/// A trainable adapter tensor: a factor matrix or a DoRA magnitude vector.
#[derive(Debug, Clone)]
pub enum AdapterTensor {
    /// `lora_A` `[r, in]` or `lora_B` `[out, r]`.
    Matrix(Tensor<2>),
    /// `lora_magnitude_vector` `[out]`.
    Vector(Tensor<1>),
}

impl AdapterTensor {
    /// The shape.
    pub fn dims(&self) -> Vec<usize> {
        match self {
            AdapterTensor::Matrix(t) => t.dims().to_vec(),
            AdapterTensor::Vector(t) => t.dims().to_vec(),
        }
    }

    /// Its gradient after `loss.backward()`, if it took part in the loss.
    pub fn grad(&self, grads: &Gradients) -> Option<AdapterTensor> {
        match self {
            AdapterTensor::Matrix(t) => t.grad(grads).map(AdapterTensor::Matrix),
            AdapterTensor::Vector(t) => t.grad(grads).map(AdapterTensor::Vector),
        }
    }

    /// The values, row-major.
    ///
    /// # Errors
    /// When the device cannot be read synchronously (in a browser use the async readers).
    pub fn to_vec(&self) -> Result<Vec<f32>, burn::tensor::TensorReadError> {
        match self {
            AdapterTensor::Matrix(t) => t.clone().try_into_vec_as::<f32>(),
            AdapterTensor::Vector(t) => t.clone().try_into_vec_as::<f32>(),
        }
    }
}

/// One trainable adapter tensor with its PEFT key.
#[derive(Debug, Clone)]
pub struct AdapterParam {
    /// `base_model.model.<path>.lora_A.weight` and so on.
    pub key: String,
    /// burn's parameter id (what optimizers key their state by).
    pub id: ParamId,
    /// The tensor (tracked on an autodiff device).
    pub value: AdapterTensor,
}

fn adapter_error(path: &str, reason: String) -> LoadError {
    LoadError::Adapter {
        path: path.to_string(),
        reason,
    }
}

impl Model {
    /// The linear layers adapters may go on: every projection of the blocks, not `lm_head`.
    fn adaptable_mut(&mut self) -> Vec<&mut Linear> {
        let has_head = self.lm_head.is_some();
        let mut v = self.linears_mut();
        if has_head {
            v.pop();
        }
        v
    }

    /// Attaches what `spec` asks for: NF4 quantisation of the base first (so DoRA magnitudes
    /// are computed from the weights the forward pass will use, as PEFT does on a 4-bit
    /// base), then each adapter in order.
    ///
    /// # Errors
    /// [`LoadError::Adapter`] for a duplicate name, targets that match no layer, a PEFT file
    /// whose tensors are missing, misshapen, or name layers this model does not have.
    pub fn apply_adapters(&mut self, spec: &AdapterSpec) -> Result<(), LoadError> {
        if spec.quantize_base {
            for l in self.adaptable_mut() {
                l.quantize_nf4();
            }
        }
        for entry in &spec.adapters {
            if self.adapter_names().contains(&entry.name) {
                return Err(adapter_error(
                    &entry.name,
                    "an adapter of this name is already attached".into(),
                ));
            }
            match &entry.source {
                AdapterSource::New { config, seed } => {
                    self.attach_new(&entry.name, config, *seed, entry.weight)?
                }
                AdapterSource::Peft(dir) => {
                    let adapter = read_adapter(dir)?;
                    self.attach_peft(&entry.name, adapter, entry.weight)?;
                }
            }
        }
        Ok(())
    }

    fn attach_new(
        &mut self,
        name: &str,
        config: &LoraConfig,
        seed: u64,
        weight: f64,
    ) -> Result<(), LoadError> {
        config.validate().map_err(|source| LoadError::LoraConfig {
            name: name.to_string(),
            source,
        })?;
        let mut matched = 0;
        for l in self.adaptable_mut() {
            if config.target_modules.matches(&l.path) {
                let base = l.weight.dense().detach();
                let mut adapter = LoraAdapter::init(name, config, &base, layer_seed(seed, &l.path));
                adapter.weight = weight;
                l.push_adapter(adapter);
                matched += 1;
            }
        }
        if matched == 0 {
            return Err(adapter_error(
                name,
                format!(
                    "target_modules {:?} match no layer of the model",
                    config.target_modules
                ),
            ));
        }
        Ok(())
    }

    fn attach_peft(
        &mut self,
        name: &str,
        mut adapter: super::peft::PeftAdapter,
        weight: f64,
    ) -> Result<(), LoadError> {
        let config = adapter.config.clone();
        let origin = adapter.origin.clone();
        let mut matched = 0;
        for l in self.adaptable_mut() {
            if !config.target_modules.matches(&l.path) {
                continue;
            }
            let Some(mut found) = adapter.tensors.remove(&l.path) else {
                return Err(adapter_error(
                    &origin,
                    format!(
                        "no tensors for `{KEY_PREFIX}{}`, which target_modules selects",
                        l.path
                    ),
                ));
            };
            let device = l.device();
            let (out, inp, r) = (l.out_features, l.in_features, config.r);
            let mut take = |suffix: &str, shape: Vec<usize>| -> Result<TensorData, LoadError> {
                let key = format!("{KEY_PREFIX}{}.{suffix}", l.path);
                let (found_shape, values) = found
                    .remove(suffix)
                    .ok_or_else(|| adapter_error(&origin, format!("missing tensor `{key}`")))?;
                if found_shape != shape {
                    return Err(LoadError::Shape {
                        file: origin.clone(),
                        name: key,
                        expected: shape,
                        found: found_shape,
                    });
                }
                Ok(TensorData::new(values, shape))
            };
            let a = Tensor::<2>::from_data(take("lora_A.weight", vec![r, inp])?, &device);
            let b = Tensor::<2>::from_data(take("lora_B.weight", vec![out, r])?, &device);
            let m = if config.use_dora {
                Some(Tensor::<1>::from_data(
                    take("lora_magnitude_vector", vec![out])?,
                    &device,
                ))
            } else {
                None
            };
            if let Some(extra) = found.keys().next() {
                return Err(adapter_error(
                    &origin,
                    format!("unexpected tensor `{KEY_PREFIX}{}.{extra}`", l.path),
                ));
            }
            let mut lora = LoraAdapter::from_tensors(name, &config, a, b, m);
            lora.weight = weight;
            l.push_adapter(lora);
            matched += 1;
        }
        if let Some(path) = adapter.tensors.keys().next() {
            return Err(adapter_error(
                &origin,
                format!("tensors for `{KEY_PREFIX}{path}` match no targeted layer of this model"),
            ));
        }
        if matched == 0 {
            return Err(adapter_error(
                &origin,
                "target_modules match no layer of the model".into(),
            ));
        }
        Ok(())
    }

    /// Names of the attached adapters, in the order they were attached.
    pub fn adapter_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for l in self.linears() {
            for a in &l.adapters {
                if !names.contains(&a.name) {
                    names.push(a.name.clone());
                }
            }
        }
        names
    }

    /// The hyper-parameters of adapter `name`.
    pub fn adapter_config(&self, name: &str) -> Option<LoraConfig> {
        self.linears()
            .into_iter()
            .find_map(|l| l.adapter(name).map(|a| a.config.clone()))
    }

    /// Module paths of the layers carrying adapter `name`.
    pub fn adapter_paths(&self, name: &str) -> Vec<String> {
        self.linears()
            .into_iter()
            .filter(|l| l.adapter(name).is_some())
            .map(|l| l.path.clone())
            .collect()
    }

    /// Every trainable tensor of adapter `name`, keyed as in PEFT's `adapter_model.safetensors`.
    pub fn adapter_params(&self, name: &str) -> Vec<AdapterParam> {
        let mut out = Vec::new();
        for l in self.linears() {
            let Some(a) = l.adapter(name) else { continue };
            let key = |suffix: &str| format!("{KEY_PREFIX}{}.{suffix}", l.path);
            out.push(AdapterParam {
                key: key("lora_A.weight"),
                id: a.lora_a.id,
                value: AdapterTensor::Matrix(a.lora_a.val()),
            });
            out.push(AdapterParam {
                key: key("lora_B.weight"),
                id: a.lora_b.id,
                value: AdapterTensor::Matrix(a.lora_b.val()),
            });
            if let Some(m) = &a.magnitude {
                out.push(AdapterParam {
                    key: key("lora_magnitude_vector"),
                    id: m.id,
                    value: AdapterTensor::Vector(m.val()),
                });
            }
        }
        out
    }

    /// Number of trainable (adapter) values.
    pub fn num_adapter_params(&self) -> usize {
        self.adapter_names()
            .iter()
            .flat_map(|n| self.adapter_params(n))
            .map(|p| p.value.dims().iter().product::<usize>())
            .sum()
    }

    /// Turns every adapter on or off; off gives the base model (merged adapters are unmerged
    /// first), the reference model of DPO and KTO.
    pub fn set_adapters_enabled(&mut self, enabled: bool) {
        for l in self.linears_mut() {
            l.set_adapters_enabled(enabled);
        }
    }

    /// Sets the weight of adapter `name` in the sum of adapters. Returns false if there is no
    /// such adapter.
    pub fn set_adapter_weight(&mut self, name: &str, weight: f64) -> bool {
        let mut found = false;
        for l in self.linears_mut() {
            for a in l.adapters.iter_mut().filter(|a| a.name == name) {
                a.weight = weight;
                found = true;
            }
        }
        found
    }

    /// Folds every adapter into the base weights (faster inference; undo with
    /// [`Model::unmerge_adapters`]).
    pub fn merge_adapters(&mut self) {
        for l in self.linears_mut() {
            l.merge();
        }
    }

    /// Takes merged adapters back out of the base weights.
    pub fn unmerge_adapters(&mut self) {
        for l in self.linears_mut() {
            l.unmerge();
        }
    }

    /// Merges every adapter for good and removes them (what `ajuste merge` exports).
    pub fn merge_and_unload(&mut self) {
        for l in self.linears_mut() {
            l.merge_and_unload();
        }
    }

    /// The adapter tensors of `name`, read back to the host: PEFT key → (shape, values).
    ///
    /// # Errors
    /// When the device cannot be read synchronously.
    pub fn adapter_values(&self, name: &str) -> Result<BTreeMap<String, HostTensor>, LoadError> {
        self.adapter_params(name)
            .into_iter()
            .map(|p| {
                let values = p.value.to_vec().map_err(|e| LoadError::Readback {
                    name: p.key.clone(),
                    reason: e.to_string(),
                })?;
                Ok((p.key, (p.value.dims(), values)))
            })
            .collect()
    }
}
