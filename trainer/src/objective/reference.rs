//! Reference log-probs, computed once and reused.
//!
//! DPO and KTO compare the policy with a reference model. In a LoRA run the reference is the
//! same model with its adapters disabled, so it never changes: its summed completion log-prob
//! for a sequence is computed once (before training, or the first time the sequence is seen) and
//! looked up on every later epoch. Entries are keyed by a hash of the sequence's content (input
//! ids and labels), so the cache survives shuffling and re-batching.

use std::collections::HashMap;

use burn::tensor::{Device, Tensor, TensorData};
use xxhash_rust::xxh3::Xxh3;

use super::ObjectiveError;

/// A content hash of one sequence: its input ids and its labels (128-bit xxh3, so collisions
/// are not a practical concern for any dataset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SequenceKey(u128);

impl SequenceKey {
    /// Hashes a sequence. The same tokens with other padding hash differently, which only costs
    /// a recomputation, never a wrong value.
    ///
    /// # Arguments
    /// - `input_ids`: the row's token ids.
    /// - `labels`: its labels (-100 where not trained).
    pub fn new<I: Copy + Into<i64>>(input_ids: &[I], labels: &[i64]) -> Self {
        let mut hasher = Xxh3::new();
        // Lengths first, so that moving a boundary between the two parts changes the hash.
        hasher.update(&(input_ids.len() as u64).to_le_bytes());
        hasher.update(&(labels.len() as u64).to_le_bytes());
        for &id in input_ids {
            hasher.update(&id.into().to_le_bytes());
        }
        for &label in labels {
            hasher.update(&label.to_le_bytes());
        }
        Self(hasher.digest128())
    }

    /// The hash as 32 hexadecimal digits.
    pub fn to_hex(self) -> String {
        format!("{:032x}", self.0)
    }
}

/// Summed reference log-probs of sequences, by [`SequenceKey`].
#[derive(Debug, Clone, Default)]
pub struct RefLogpCache {
    values: HashMap<SequenceKey, f64>,
}

impl RefLogpCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of cached sequences.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The cached value of one sequence.
    pub fn get(&self, key: &SequenceKey) -> Option<f64> {
        self.values.get(key).copied()
    }

    /// Caches one value (replacing an earlier one).
    pub fn insert(&mut self, key: SequenceKey, logp: f64) {
        self.values.insert(key, logp);
    }

    /// The rows of a batch whose reference log-probs still have to be computed: run the
    /// reference forward pass (adapters disabled, no gradient) on these rows only.
    pub fn missing(&self, keys: &[SequenceKey]) -> Vec<usize> {
        keys.iter()
            .enumerate()
            .filter(|(_, k)| !self.values.contains_key(k))
            .map(|(i, _)| i)
            .collect()
    }

    /// Stores a batch's reference log-probs, read from the device asynchronously (so it also
    /// works in the browser).
    ///
    /// # Arguments
    /// - `keys`: one per row.
    /// - `logps`: `[rows]` summed log-probs of those rows under the reference model.
    pub async fn insert_batch(
        &mut self,
        keys: &[SequenceKey],
        logps: Tensor<1>,
    ) -> Result<(), ObjectiveError> {
        let [n] = logps.dims();
        if n != keys.len() {
            return Err(ObjectiveError::ShapeMismatch {
                what: "reference log-probs",
                expected: format!("[{}] (one per key)", keys.len()),
                found: format!("[{n}]"),
            });
        }
        let data = logps
            .detach()
            .into_data_async()
            .await
            .map_err(|e| ObjectiveError::Read(e.to_string()))?;
        let values = data
            .try_into_vec_as::<f64>()
            .map_err(|e| ObjectiveError::Read(e.to_string()))?;
        for (key, value) in keys.iter().zip(values) {
            self.values.insert(*key, value);
        }
        Ok(())
    }

    /// The cached values of a batch as a `[rows]` tensor on `device`.
    ///
    /// # Errors
    /// [`ObjectiveError::MissingReference`] naming the first row never computed.
    pub fn batch(
        &self,
        keys: &[SequenceKey],
        device: &Device,
    ) -> Result<Tensor<1>, ObjectiveError> {
        if keys.is_empty() {
            return Err(ObjectiveError::EmptyBatch);
        }
        let values = keys
            .iter()
            .enumerate()
            .map(|(row, k)| {
                self.get(k)
                    .map(|v| v as f32)
                    .ok_or(ObjectiveError::MissingReference { row })
            })
            .collect::<Result<Vec<f32>, _>>()?;
        Ok(Tensor::from_data(
            TensorData::new(values, [keys.len()]),
            device,
        ))
    }
}

#[cfg(test)]
mod tests {
    use burn::tensor::read_sync;

    use super::*;

    #[test]
    fn keys_depend_on_ids_labels_and_their_boundary() {
        let a = SequenceKey::new(&[1i64, 2, 3], &[-100, 2, 3]);
        assert_eq!(a, SequenceKey::new(&[1u32, 2, 3], &[-100, 2, 3]));
        assert_ne!(a, SequenceKey::new(&[1i64, 2, 3], &[-100, -100, 3]));
        assert_ne!(a, SequenceKey::new(&[1i64, 2, 4], &[-100, 2, 3]));
        assert_ne!(
            SequenceKey::new(&[1i64, 2], &[3]),
            SequenceKey::new(&[1i64], &[2, 3])
        );
        assert_eq!(a.to_hex().len(), 32);
    }

    #[test]
    fn values_are_computed_once_and_served_in_batch_order() {
        let device = Device::flex();
        let keys: Vec<SequenceKey> = (0..3)
            .map(|i| SequenceKey::new(&[i as i64, 7], &[-100, 7]))
            .collect();
        let mut cache = RefLogpCache::new();
        assert_eq!(cache.missing(&keys), [0, 1, 2]);
        assert_eq!(
            cache.batch(&keys, &device).unwrap_err(),
            ObjectiveError::MissingReference { row: 0 }
        );

        let computed = Tensor::<1>::from_data([-1.5f32, -2.25], &device);
        read_sync(cache.insert_batch(&keys[1..], computed)).unwrap();
        assert_eq!(cache.missing(&keys), [0]);
        cache.insert(keys[0], -0.5);

        let reordered = [keys[2], keys[0], keys[1]];
        let values = cache
            .batch(&reordered, &device)
            .unwrap()
            .into_data()
            .try_into_vec_as::<f64>()
            .unwrap();
        assert_eq!(values, [-2.25, -0.5, -1.5]);
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn a_batch_of_the_wrong_size_is_refused() {
        let device = Device::flex();
        let keys = [SequenceKey::new(&[1i64], &[1])];
        let mut cache = RefLogpCache::new();
        let err =
            read_sync(cache.insert_batch(&keys, Tensor::<1>::zeros([2], &device))).unwrap_err();
        assert!(matches!(err, ObjectiveError::ShapeMismatch { .. }));
        assert!(cache.is_empty());
    }
}
