//! Metrics: computed on the device as detached scalars, read back by the training loop.
//!
//! Reading a tensor is a device round trip, and in the browser it can only be awaited, so an
//! objective never reads anything: it returns [`MetricTensors`], and the loop reads all of them
//! in one transfer when it logs ([`MetricTensors::read`]).

use std::fmt;

use burn::tensor::Tensor;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ObjectiveError;

/// The result of one objective on one batch.
#[derive(Debug, Clone)]
pub struct Objective {
    /// The scalar loss, shape `[1]`, attached to the autodiff graph: call `backward` on it.
    pub loss: Tensor<1>,
    /// The metrics TRL logs for the objective, not read yet.
    pub metrics: MetricTensors,
    /// The loss as a sum of means (`loss = Σ terms[k].mean`), each with the number of items it
    /// averages over: what a batch cut into shards needs to add up to the whole batch's loss
    /// ([`Objective::share_of`]).
    pub terms: Vec<LossTerm>,
}

/// One mean a loss is the sum of: SFT's mean over trained tokens, DPO's over pairs, ORPO's NLL
/// over chosen tokens plus its odds-ratio term over pairs.
#[derive(Debug, Clone)]
pub struct LossTerm {
    /// `[1]`, attached to the graph.
    pub mean: Tensor<1>,
    /// The items it averages over (trained tokens, pairs, examples).
    pub count: usize,
}

impl LossTerm {
    /// A mean over `count` items.
    pub fn new(mean: Tensor<1>, count: usize) -> Self {
        LossTerm { mean, count }
    }
}

impl Objective {
    /// The items of each term summed over the shards of one batch (the shards' objectives
    /// come from one method, so their terms line up).
    ///
    /// # Errors
    /// [`ObjectiveError::ShapeMismatch`] when the shards have different numbers of terms.
    pub fn term_totals<'a>(
        shards: impl IntoIterator<Item = &'a Objective>,
    ) -> Result<Vec<usize>, ObjectiveError> {
        let mut totals: Option<Vec<usize>> = None;
        for shard in shards {
            let counts = shard.terms.iter().map(|t| t.count);
            match &mut totals {
                None => totals = Some(counts.collect()),
                Some(t) if t.len() == shard.terms.len() => {
                    t.iter_mut().zip(counts).for_each(|(t, c)| *t += c);
                }
                Some(t) => {
                    return Err(ObjectiveError::ShapeMismatch {
                        what: "loss terms of a shard",
                        expected: t.len().to_string(),
                        found: shard.terms.len().to_string(),
                    });
                }
            }
        }
        Ok(totals.unwrap_or_default())
    }

    /// `[1]`: this shard's part of the loss of the batch it was cut from,
    /// `Σ_k terms[k].mean · terms[k].count / totals[k]`. Summed over the shards it is the loss
    /// the whole batch has in one piece (a mean over all its tokens, pairs or examples), and so
    /// are the gradients.
    ///
    /// # Arguments
    /// - `totals`: [`Objective::term_totals`] of every shard of the batch.
    pub fn share_of(&self, totals: &[usize]) -> Tensor<1> {
        let mut parts = self
            .terms
            .iter()
            .zip(totals)
            .filter(|(t, _)| t.count > 0)
            .map(|(t, &total)| t.mean.clone() * (t.count as f64 / total.max(1) as f64));
        match parts.next() {
            Some(first) => parts.fold(first, |sum, p| sum + p),
            // A shard with nothing to average over adds nothing (and no gradient).
            None => self.loss.clone() * 0.0,
        }
    }
}

/// Metric values, in the order the objective produced them (TRL's names: `rewards/chosen`,
/// `logps/rejected`, `kl`, ...). Serialises as a JSON object that keeps that order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    entries: Vec<(String, f64)>,
}

impl Metrics {
    /// No metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, v)| v)
    }

    /// Sets `name` to `value`, replacing an earlier value in place or appending a new entry.
    pub fn insert(&mut self, name: impl Into<String>, value: f64) {
        let name = name.into();
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((name, value)),
        }
    }

    /// Name and value of each metric, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, f64)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), *v))
    }

    /// Metric names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    /// The number of metrics.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Serialize for Metrics {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (name, value) in &self.entries {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Metrics {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedMap;
        impl<'de> Visitor<'de> for OrderedMap {
            type Value = Metrics;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of metric names to numbers")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Metrics, A::Error> {
                let mut metrics = Metrics::new();
                while let Some((name, value)) = access.next_entry::<String, f64>()? {
                    metrics.insert(name, value);
                }
                Ok(metrics)
            }
        }
        deserializer.deserialize_map(OrderedMap)
    }
}

/// One pending metric.
#[derive(Debug, Clone)]
enum Pending {
    /// A detached scalar on the device, shape `[1]` (boxed: a tensor handle is hundreds of
    /// bytes, a known value eight).
    Tensor(Box<Tensor<1>>),
    /// A value the host already knows (TRL logs a constant 0 for some).
    Known(f64),
}

/// Metrics as detached device scalars, in order, waiting to be read.
#[derive(Debug, Clone, Default)]
pub struct MetricTensors {
    entries: Vec<(&'static str, Pending)>,
}

impl MetricTensors {
    /// No metrics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a metric computed on the device. It is detached here, so logging can never keep
    /// the autodiff graph alive or leak into gradients.
    ///
    /// # Arguments
    /// - `value`: shape `[1]`.
    pub fn push(&mut self, name: &'static str, value: Tensor<1>) {
        self.entries
            .push((name, Pending::Tensor(Box::new(value.detach()))));
    }

    /// Adds a metric whose value the host already knows.
    pub fn push_value(&mut self, name: &'static str, value: f64) {
        self.entries.push((name, Pending::Known(value)));
    }

    /// Metric names, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.entries.iter().map(|(n, _)| *n)
    }

    /// The number of metrics.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Reads every metric in one device transfer. Works on every platform, the browser included.
    pub async fn read(self) -> Result<Metrics, ObjectiveError> {
        let (names, known, stacked) = self.split();
        let values = match stacked {
            Some(t) => {
                let data = t
                    .into_data_async()
                    .await
                    .map_err(|e| ObjectiveError::Read(e.to_string()))?;
                data.try_into_vec_as::<f64>()
                    .map_err(|e| ObjectiveError::Read(e.to_string()))?
            }
            None => Vec::new(),
        };
        Ok(assemble(names, known, values))
    }

    /// Reads every metric in one device transfer, blocking. Native only: WebAssembly cannot
    /// wait synchronously for the device, use [`read`](Self::read) there.
    #[cfg(not(target_family = "wasm"))]
    pub fn read_blocking(self) -> Result<Metrics, ObjectiveError> {
        let (names, known, stacked) = self.split();
        let values = match stacked {
            Some(t) => {
                let data = t
                    .try_into_data()
                    .map_err(|e| ObjectiveError::Read(e.to_string()))?;
                data.try_into_vec_as::<f64>()
                    .map_err(|e| ObjectiveError::Read(e.to_string()))?
            }
            None => Vec::new(),
        };
        Ok(assemble(names, known, values))
    }

    /// Names, host-known values (`None` where the value is on the device), and the device
    /// values concatenated into one tensor so that reading them is a single transfer.
    fn split(self) -> (Vec<&'static str>, Vec<Option<f64>>, Option<Tensor<1>>) {
        let mut names = Vec::with_capacity(self.entries.len());
        let mut known = Vec::with_capacity(self.entries.len());
        let mut tensors = Vec::new();
        for (name, pending) in self.entries {
            names.push(name);
            match pending {
                Pending::Known(v) => known.push(Some(v)),
                Pending::Tensor(t) => {
                    known.push(None);
                    tensors.push(*t);
                }
            }
        }
        let stacked = (!tensors.is_empty()).then(|| Tensor::cat(tensors, 0));
        (names, known, stacked)
    }
}

/// Puts the read device values back between the host-known ones, in the original order.
fn assemble(names: Vec<&'static str>, known: Vec<Option<f64>>, values: Vec<f64>) -> Metrics {
    let mut device_values = values.into_iter();
    let mut metrics = Metrics::new();
    for (name, value) in names.into_iter().zip(known) {
        // A missing device value (fewer read back than pushed) would be a burn bug; NaN marks it
        // in the log instead of stopping a training run over a metric.
        let value = value.unwrap_or_else(|| device_values.next().unwrap_or(f64::NAN));
        metrics.insert(name, value);
    }
    metrics
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Device, Tensor};

    use super::*;

    #[test]
    fn metrics_serialise_in_insertion_order_and_read_back() {
        let mut m = Metrics::new();
        m.insert("rewards/margins", 0.5);
        m.insert("kl", 0.25);
        m.insert("logps/chosen", -3.0);
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(
            json,
            r#"{"rewards/margins":0.5,"kl":0.25,"logps/chosen":-3.0}"#
        );
        let back: Metrics = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        assert_eq!(
            back.names().collect::<Vec<_>>(),
            ["rewards/margins", "kl", "logps/chosen"]
        );
    }

    #[test]
    fn reading_keeps_order_across_device_and_host_values() {
        let device = Device::flex();
        let mut pending = MetricTensors::new();
        pending.push("a", Tensor::<1>::from_data([1.5f32], &device));
        pending.push_value("b", 0.0);
        pending.push("c", Tensor::<1>::from_data([-2.0f32], &device));
        let metrics = pending.read_blocking().unwrap();
        assert_eq!(
            metrics.iter().collect::<Vec<_>>(),
            [("a", 1.5), ("b", 0.0), ("c", -2.0)]
        );
    }

    #[test]
    fn async_read_gives_the_same_values() {
        let device = Device::flex();
        let mut pending = MetricTensors::new();
        pending.push("x", Tensor::<1>::from_data([0.125f32], &device));
        pending.push_value("y", 3.0);
        let metrics = burn::tensor::read_sync(pending.clone().read()).unwrap();
        assert_eq!(metrics, pending.read_blocking().unwrap());
    }

    #[test]
    fn pushed_metrics_are_detached_from_the_graph() {
        let device = Device::flex().autodiff();
        let x = Tensor::<1>::from_data([2.0f32], &device).require_grad();
        let mut pending = MetricTensors::new();
        pending.push("x2", x.clone() * x.clone());
        let Pending::Tensor(t) = &pending.entries[0].1 else {
            panic!()
        };
        assert!(!t.is_require_grad());
        assert_eq!(pending.read_blocking().unwrap().get("x2"), Some(4.0));
    }
}
