//! NF4: the 4-bit NormalFloat base weights of QLoRA, laid out as bitsandbytes lays them out.
//!
//! Quantisation follows bitsandbytes 0.50's reference algorithm (`backends/default/ops.py`,
//! `functional.quantize_4bit(.., quant_type="nf4", compress_statistics=True)`):
//! 1. blocks of 64 values; `absmax` = the largest magnitude of each block;
//! 2. each value is scaled by `1 / absmax` (a multiplication by the reciprocal, in f32), clamped
//!    to [-1, 1] and replaced by the index of the nearest of the 16 [`NF4_CODE`] values (ties go
//!    to the lower index, as `torch.bucketize` over the midpoints does); two indices per byte,
//!    the first in the high nibble;
//! 3. double quantisation: `offset` = the mean of the absmax values; `absmax - offset` is
//!    quantised blockwise again, blocks of 256, with bitsandbytes' signed 8-bit dynamic map
//!    ([`dynamic_map`]) and one f32 scale per block.
//!
//! Dequantisation is `NF4_CODE[q] * (DYNAMIC[qa] * scale + offset)`.
//!
//! On a device ([`Nf4Weight`]) the codes stay packed (eight per `i32`, 0.5 byte per weight;
//! the absmax codes four per `i32`) and the dense weight is rebuilt in the forward pass. The
//! backward pass of `x·Wᵀ` needs `W` again, so under autodiff the dense weight of each layer
//! lives until the backward pass has used it: QLoRA's saving is in the stored model, not in the
//! activations of a training step.

use burn::module::Module;
use burn::tensor::{DType, Device, Int, Tensor, TensorData};

/// The 16 NF4 values (bitsandbytes `get_4bit_type("nf4")`), quantiles of N(0, 1) scaled to [-1, 1].
pub const NF4_CODE: [f32; 16] = [
    -1.0,
    -0.696_192_8,
    -0.525_073_05,
    -0.394_917_5,
    -0.284_441_38,
    -0.184_773_43,
    -0.091_050_036,
    0.0,
    0.079_580_3,
    0.160_930_2,
    0.246_112_3,
    0.337_915_24,
    0.440_709_83,
    0.562_617,
    0.722_956_84,
    1.0,
];

/// Values per NF4 block (one absmax each).
pub const BLOCK_SIZE: usize = 64;
/// Absmax values per block of the second quantisation.
pub const ABSMAX_BLOCK_SIZE: usize = 256;

/// Errors turning stored NF4 data into a weight.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Nf4Error {
    /// The buffers do not have the sizes the shape implies.
    #[error(
        "NF4 data for a [{rows}, {cols}] weight: {what} has {got} entries, expected {expected}"
    )]
    Size {
        /// Rows of the weight.
        rows: usize,
        /// Columns of the weight.
        cols: usize,
        /// Which buffer.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The length the shape requires.
        expected: usize,
    },
}

/// bitsandbytes' `create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)`: 256
/// sorted values, denser near zero, used for the 8-bit quantisation of the absmax values.
///
/// Reproduces the f32 arithmetic of the Python (torch `linspace` in f32, midpoints in f32, times
/// the power of ten rounded to f32) so that the table is bit-identical.
pub fn dynamic_map() -> [f32; 256] {
    const POWERS: [f64; 7] = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0];
    let mut data: Vec<f32> = Vec::with_capacity(256);
    for (i, power) in POWERS.iter().enumerate() {
        let bounds = linspace_f32(0.1, 1.0, (1usize << i) + 1);
        let power = *power as f32;
        for pair in bounds.windows(2) {
            let mean = (pair[0] + pair[1]) / 2.0;
            data.push(power * mean);
            data.push(-power * mean);
        }
    }
    data.push(0.0);
    data.push(1.0);
    data.sort_by(f32::total_cmp);
    let mut out = [0.0f32; 256];
    out.copy_from_slice(&data);
    out
}

/// `torch.linspace(start, end, steps, dtype=torch.float32)` on the CPU: the first half counts
/// up from `start`, the second half down from `end`, with an f32 step, each value one fused
/// multiply-add (torch's vectorised kernel contracts `start + step * i` to an FMA on x86-64
/// with AVX2/AVX-512; checked against torch 2.15 for 2..1000 steps).
fn linspace_f32(start: f32, end: f32, steps: usize) -> Vec<f32> {
    if steps == 1 {
        return vec![start];
    }
    let step = (end - start) / (steps - 1) as f32;
    let halfway = steps / 2;
    (0..steps)
        .map(|i| {
            if i < halfway {
                step.mul_add(i as f32, start)
            } else {
                (-step).mul_add((steps - i - 1) as f32, end)
            }
        })
        .collect()
}

/// The index of the nearest `code` value (code sorted ascending): the number of midpoints
/// strictly below `x`, which is what `torch.bucketize(x, midpoints)` returns.
fn nearest_code(x: f32, midpoints: &[f32]) -> u8 {
    midpoints.partition_point(|&m| m < x) as u8
}

fn midpoints(code: &[f32]) -> Vec<f32> {
    code.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect()
}

/// Blockwise absmax quantisation against a sorted code (both levels of NF4 use it).
/// Returns one code index per value and one absmax per block (the last block may be short).
fn quantize_blockwise(values: &[f32], code: &[f32], block: usize) -> (Vec<u8>, Vec<f32>) {
    let mids = midpoints(code);
    let mut codes = Vec::with_capacity(values.len());
    let mut absmax = Vec::with_capacity(values.len().div_ceil(block));
    for chunk in values.chunks(block) {
        let m = chunk.iter().fold(0.0f32, |acc, v| acc.max(v.abs()));
        absmax.push(m);
        let inv = 1.0 / m.max(1e-38);
        codes.extend(
            chunk
                .iter()
                .map(|&v| nearest_code((v * inv).clamp(-1.0, 1.0), &mids)),
        );
    }
    (codes, absmax)
}

/// An NF4-quantised matrix on the host, in bitsandbytes' layout.
#[derive(Debug, Clone, PartialEq)]
pub struct Nf4Quantized {
    /// `[rows, cols]` of the dense weight (HF `[out, in]`).
    pub shape: [usize; 2],
    /// Two 4-bit indices into [`NF4_CODE`] per byte, the first in the high nibble.
    pub packed: Vec<u8>,
    /// 8-bit indices into [`dynamic_map`], one per block of 64 values.
    pub absmax_codes: Vec<u8>,
    /// One f32 scale per [`ABSMAX_BLOCK_SIZE`] absmax values (bitsandbytes `state2.absmax`).
    pub absmax_scales: Vec<f32>,
    /// Mean of the absmax values, subtracted before their quantisation.
    pub offset: f32,
}

impl Nf4Quantized {
    /// Quantises a row-major `[rows, cols]` matrix.
    ///
    /// # Panics
    /// Never for consistent input; `values.len()` must equal `rows * cols` (checked by
    /// `debug_assert`, callers pass tensors whose shape they took from the data).
    pub fn quantize(values: &[f32], shape: [usize; 2]) -> Self {
        debug_assert_eq!(values.len(), shape[0] * shape[1]);
        let (codes, absmax) = quantize_blockwise(values, &NF4_CODE, BLOCK_SIZE);
        let mut packed: Vec<u8> = codes
            .chunks(2)
            .map(|p| (p[0] << 4) | p.get(1).copied().unwrap_or(7))
            .collect();
        packed.shrink_to_fit();
        // bitsandbytes takes the mean in f32 on the tensor; accumulate in f64 and round once,
        // which is within an ulp of it.
        let offset =
            (absmax.iter().map(|&a| a as f64).sum::<f64>() / absmax.len().max(1) as f64) as f32;
        let centred: Vec<f32> = absmax.iter().map(|a| a - offset).collect();
        let (absmax_codes, absmax_scales) =
            quantize_blockwise(&centred, &dynamic_map(), ABSMAX_BLOCK_SIZE);
        Nf4Quantized {
            shape,
            packed,
            absmax_codes,
            absmax_scales,
            offset,
        }
    }

    /// Number of weights.
    pub fn len(&self) -> usize {
        self.shape[0] * self.shape[1]
    }

    /// Whether the matrix is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of 64-value blocks.
    pub fn num_blocks(&self) -> usize {
        self.len().div_ceil(BLOCK_SIZE)
    }

    /// Checks that the buffers fit the shape (for data read from a file).
    pub fn validate(&self) -> Result<(), Nf4Error> {
        let [rows, cols] = self.shape;
        let check = |what, got: usize, expected: usize| {
            if got == expected {
                Ok(())
            } else {
                Err(Nf4Error::Size {
                    rows,
                    cols,
                    what,
                    got,
                    expected,
                })
            }
        };
        check("packed", self.packed.len(), self.len().div_ceil(2))?;
        check("absmax_codes", self.absmax_codes.len(), self.num_blocks())?;
        check(
            "absmax_scales",
            self.absmax_scales.len(),
            self.num_blocks().div_ceil(ABSMAX_BLOCK_SIZE),
        )
    }

    /// The absmax of every block, rebuilt from the double quantisation.
    pub fn absmax(&self) -> Vec<f32> {
        let map = dynamic_map();
        self.absmax_codes
            .iter()
            .enumerate()
            .map(|(i, &q)| {
                map[q as usize] * self.absmax_scales[i / ABSMAX_BLOCK_SIZE] + self.offset
            })
            .collect()
    }

    /// The 4-bit index of value `i`.
    pub fn code(&self, i: usize) -> u8 {
        let byte = self.packed[i / 2];
        if i.is_multiple_of(2) {
            byte >> 4
        } else {
            byte & 0x0f
        }
    }

    /// The dense matrix, row-major, as bitsandbytes' `dequantize_4bit` computes it.
    pub fn dequantize(&self) -> Vec<f32> {
        let absmax = self.absmax();
        (0..self.len())
            .map(|i| NF4_CODE[self.code(i) as usize] * absmax[i / BLOCK_SIZE])
            .collect()
    }
}

/// Packs 8-bit-or-less codes `per_word` to an `i32`, first code in the highest bits, padding
/// the last word with `pad`.
fn pack_words(
    codes: impl Iterator<Item = u8>,
    bits: u32,
    per_word: usize,
    words: usize,
    pad: u8,
) -> Vec<i32> {
    let mut out = vec![0i32; words];
    let mut codes = codes.chain(std::iter::repeat(pad));
    for word in out.iter_mut() {
        let mut w: u32 = 0;
        for _ in 0..per_word {
            w = (w << bits) | codes.next().unwrap_or(pad) as u32;
        }
        *word = w as i32;
    }
    out
}

/// An NF4 matrix on a device: packed codes, dequantised on use. Holds no parameters: it never
/// requires a gradient and is not part of a module record.
#[derive(Module, Debug)]
pub struct Nf4Weight {
    /// `[blocks * 8]` words, eight 4-bit codes each (first code in the top nibble).
    pub packed: Tensor<1, Int>,
    /// `[ceil(blocks / 4)]` words, four 8-bit absmax codes each.
    pub absmax_codes: Tensor<1, Int>,
    /// `[ceil(blocks / 256)]` scales of the absmax quantisation.
    pub absmax_scales: Tensor<1>,
    /// [`NF4_CODE`] on the device.
    pub code: Tensor<1>,
    /// [`dynamic_map`] on the device.
    pub absmax_map: Tensor<1>,
    /// Mean absmax added back after dequantisation.
    pub offset: f32,
    /// Rows of the dense weight.
    pub rows: usize,
    /// Columns of the dense weight.
    pub cols: usize,
}

impl Nf4Weight {
    /// Uploads a host quantisation.
    pub fn new(q: &Nf4Quantized, device: &Device) -> Self {
        let blocks = q.num_blocks();
        let codes = (0..q.len()).map(|i| q.code(i));
        let packed = pack_words(codes, 4, 8, blocks * BLOCK_SIZE / 8, 7);
        let absmax_words = pack_words(q.absmax_codes.iter().copied(), 8, 4, blocks.div_ceil(4), 0);
        let int = |v: Vec<i32>| {
            let n = v.len();
            Tensor::<1, Int>::from_data(TensorData::new(v, [n]), (device, DType::I32))
        };
        let float = |v: Vec<f32>| {
            let n = v.len();
            Tensor::<1>::from_data(TensorData::new(v, [n]), device)
        };
        Nf4Weight {
            packed: int(packed),
            absmax_codes: int(absmax_words),
            absmax_scales: float(q.absmax_scales.clone()),
            code: float(NF4_CODE.to_vec()),
            absmax_map: float(dynamic_map().to_vec()),
            offset: q.offset,
            rows: q.shape[0],
            cols: q.shape[1],
        }
    }

    /// Quantises a dense `[rows, cols]` tensor (read back to the host, quantised, uploaded).
    pub fn quantize(weight: Tensor<2>) -> Self {
        let device = weight.device();
        let [rows, cols] = weight.dims();
        let values = weight.try_into_vec_as::<f32>().unwrap_or_default();
        Self::new(&Nf4Quantized::quantize(&values, [rows, cols]), &device)
    }

    /// Number of 64-value blocks.
    fn blocks(&self) -> usize {
        (self.rows * self.cols).div_ceil(BLOCK_SIZE)
    }

    /// Unpacks `words` of `per_word` codes of `bits` bits each into `[words * per_word]` codes.
    fn unpack(words: Tensor<1, Int>, bits: u32, per_word: usize) -> Tensor<1, Int> {
        let n = words.dims()[0];
        let device = words.device();
        let shifts: Vec<i32> = (0..per_word)
            .map(|j| (bits as usize * (per_word - 1 - j)) as i32)
            .collect();
        let shifts =
            Tensor::<1, Int>::from_data(TensorData::new(shifts, [per_word]), (&device, DType::I32))
                .reshape([1, per_word])
                .expand([n, per_word]);
        let words = words.reshape([n, 1]).expand([n, per_word]);
        // An arithmetic shift copies the sign bit down, the mask keeps only the code's bits.
        words
            .bitwise_right_shift(shifts)
            .bitwise_and_scalar((1i32 << bits) - 1)
            .reshape([n * per_word])
    }

    /// The absmax of every block, `[blocks]`.
    pub fn absmax(&self) -> Tensor<1> {
        let blocks = self.blocks();
        let codes = Self::unpack(self.absmax_codes.clone(), 8, 4).narrow(0, 0, blocks);
        let groups = self.absmax_scales.dims()[0];
        let scales = self
            .absmax_scales
            .clone()
            .reshape([groups, 1])
            .expand([groups, ABSMAX_BLOCK_SIZE])
            .reshape([groups * ABSMAX_BLOCK_SIZE])
            .narrow(0, 0, blocks);
        self.absmax_map.clone().select(0, codes) * scales + self.offset
    }

    /// The dense `[rows, cols]` weight.
    pub fn dequantize(&self) -> Tensor<2> {
        let blocks = self.blocks();
        let codes = Self::unpack(self.packed.clone(), 4, 8);
        let values = self
            .code
            .clone()
            .select(0, codes)
            .reshape([blocks, BLOCK_SIZE]);
        let dense = values * self.absmax().reshape([blocks, 1]);
        let n = self.rows * self.cols;
        dense
            .reshape([blocks * BLOCK_SIZE])
            .narrow(0, 0, n)
            .reshape([self.rows, self.cols])
    }

    /// Bytes the packed representation occupies on the device.
    pub fn stored_bytes(&self) -> usize {
        4 * (self.packed.dims()[0] + self.absmax_codes.dims()[0] + self.absmax_scales.dims()[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_map_is_sorted_signed_and_spans_minus_one_to_one() {
        let map = dynamic_map();
        assert!(map.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(map[255], 1.0);
        assert!(map.contains(&0.0));
        assert!((map[0] + 0.99297).abs() < 1e-4, "{}", map[0]);
    }

    #[test]
    fn every_code_quantises_to_itself() {
        let mids = midpoints(&NF4_CODE);
        for (i, &c) in NF4_CODE.iter().enumerate() {
            assert_eq!(nearest_code(c, &mids) as usize, i);
        }
    }

    #[test]
    fn round_trip_error_is_bounded_by_half_the_widest_gap() {
        let values: Vec<f32> = (0..64 * 40)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * 0.3)
            .collect();
        let q = Nf4Quantized::quantize(&values, [40, 64]);
        q.validate().unwrap();
        let back = q.dequantize();
        let absmax = q.absmax();
        for (i, (a, b)) in values.iter().zip(&back).enumerate() {
            // Widest NF4 gap is -1 .. -0.696 (0.304); the absmax itself is off by under 1%.
            let bound = absmax[i / BLOCK_SIZE] * 0.153 + 0.01 * 0.3;
            assert!((a - b).abs() <= bound, "{i}: {a} vs {b}");
        }
    }

    #[test]
    fn device_dequantisation_matches_the_host() {
        let values: Vec<f32> = (0..48 * 100)
            .map(|i| (i * 104729 % 997) as f32 / 498.0 - 1.0)
            .collect();
        let q = Nf4Quantized::quantize(&values, [48, 100]);
        let device = Device::flex();
        let w = Nf4Weight::new(&q, &device);
        let dense = w.dequantize().try_into_vec_as::<f32>().unwrap();
        assert_eq!(dense, q.dequantize());
        assert!(w.stored_bytes() < values.len());
    }
}
