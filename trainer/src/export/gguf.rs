//! The GGUF container (version 3), as llama.cpp's `gguf.h` and gguf-py define it.
//!
//! Layout: `GGUF` magic, version, tensor count, key/value count; the key/value pairs; one info
//! record per tensor (name, dimensions innermost first, ggml type, offset into the data
//! section); padding to the alignment; the tensor data, each tensor starting at a multiple of
//! the alignment. All integers are little-endian.
//!
//! [`write()`] streams: tensor data is asked for one tensor at a time, so a model never has to
//! exist twice in memory. The encoders ([`encode_f32`], [`encode_f16`], [`quantize_q8_0`]) give
//! the bytes llama.cpp's converter writes for the same values: f16 rounds to nearest even (as
//! numpy's `astype(float16)`), Q8_0 is gguf-py's bit-exact port of ggml's reference quantiser.

use std::io::Write;

/// The GGUF version written.
pub const VERSION: u32 = 3;
/// Alignment of the data section and of every tensor in it (`general.alignment`'s default).
pub const ALIGNMENT: usize = 32;
/// Values per Q8_0 block.
pub const Q8_0_BLOCK: usize = 32;
/// `general.quantization_version` (ggml's `GGML_QNT_VERSION`).
pub const QUANTIZATION_VERSION: u32 = 2;

/// The tensor types ajuste writes (ggml's `enum ggml_type` numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum GgmlType {
    /// 32-bit floats.
    F32,
    /// IEEE half floats.
    F16,
    /// Blocks of 32: an f16 scale `d` then 32 signed bytes; value = `d * q`.
    #[serde(rename = "Q8_0")]
    Q8_0,
}

impl GgmlType {
    /// ggml's type id.
    pub fn id(self) -> u32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
            GgmlType::Q8_0 => 8,
        }
    }

    /// Bytes that `elements` values take (a Q8_0 tensor's rows are whole blocks).
    pub fn size_of(self, elements: usize) -> usize {
        match self {
            GgmlType::F32 => elements * 4,
            GgmlType::F16 => elements * 2,
            GgmlType::Q8_0 => elements / Q8_0_BLOCK * (2 + Q8_0_BLOCK),
        }
    }

    /// The `general.file_type` (llama.cpp's `llama_ftype`) of a file whose matrices are this type.
    pub fn file_type(self) -> u32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
            GgmlType::Q8_0 => 7,
        }
    }
}

/// A metadata value. Only the kinds llama.cpp's keys for our architectures use.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `GGUF_TYPE_UINT32`.
    U32(u32),
    /// `GGUF_TYPE_INT32`.
    I32(i32),
    /// `GGUF_TYPE_FLOAT32`.
    F32(f32),
    /// `GGUF_TYPE_BOOL`.
    Bool(bool),
    /// `GGUF_TYPE_STRING` (UTF-8, length-prefixed).
    Str(String),
    /// `GGUF_TYPE_ARRAY` of strings.
    Strings(Vec<String>),
    /// `GGUF_TYPE_ARRAY` of int32.
    I32s(Vec<i32>),
}

// gguf_type numbering (gguf.h).
const TYPE_U32: u32 = 4;
const TYPE_I32: u32 = 5;
const TYPE_F32: u32 = 6;
const TYPE_BOOL: u32 = 7;
const TYPE_STRING: u32 = 8;
const TYPE_ARRAY: u32 = 9;

/// One tensor's info record.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// llama.cpp's name (`blk.0.attn_q.weight`).
    pub name: String,
    /// Dimensions as ggml counts them: innermost (row length) first, so a Hugging Face
    /// `[out, in]` matrix is `[in, out]` here.
    pub dims: Vec<u64>,
    /// Storage type.
    pub ty: GgmlType,
}

impl TensorInfo {
    /// Number of values.
    pub fn elements(&self) -> usize {
        self.dims.iter().product::<u64>() as usize
    }

    /// Bytes of data.
    pub fn size(&self) -> usize {
        self.ty.size_of(self.elements())
    }
}

/// Errors while writing: the sink failed, or a tensor's bytes disagree with its info.
#[derive(Debug, thiserror::Error)]
pub enum WriteError<E: std::error::Error + 'static> {
    /// Writing failed.
    #[error("writing the GGUF file: {0}")]
    Io(#[from] std::io::Error),
    /// Producing a tensor's bytes failed.
    #[error(transparent)]
    Source(E),
    /// A tensor's bytes are not as long as its type and dimensions say.
    #[error("tensor `{name}`: {found} bytes of data, its info says {expected}")]
    Size {
        /// The tensor.
        name: String,
        /// From the info record.
        expected: usize,
        /// Produced.
        found: usize,
    },
}

fn put_u32(w: &mut impl Write, v: u32) -> std::io::Result<()> {
    w.write_all(&v.to_le_bytes())
}

fn put_u64(w: &mut impl Write, v: u64) -> std::io::Result<()> {
    w.write_all(&v.to_le_bytes())
}

fn put_str(w: &mut impl Write, s: &str) -> std::io::Result<()> {
    put_u64(w, s.len() as u64)?;
    w.write_all(s.as_bytes())
}

fn put_value(w: &mut impl Write, v: &Value) -> std::io::Result<()> {
    match v {
        Value::U32(x) => {
            put_u32(w, TYPE_U32)?;
            put_u32(w, *x)
        }
        Value::I32(x) => {
            put_u32(w, TYPE_I32)?;
            w.write_all(&x.to_le_bytes())
        }
        Value::F32(x) => {
            put_u32(w, TYPE_F32)?;
            w.write_all(&x.to_le_bytes())
        }
        Value::Bool(x) => {
            put_u32(w, TYPE_BOOL)?;
            w.write_all(&[u8::from(*x)])
        }
        Value::Str(s) => {
            put_u32(w, TYPE_STRING)?;
            put_str(w, s)
        }
        Value::Strings(items) => {
            put_u32(w, TYPE_ARRAY)?;
            put_u32(w, TYPE_STRING)?;
            put_u64(w, items.len() as u64)?;
            items.iter().try_for_each(|s| put_str(w, s))
        }
        Value::I32s(items) => {
            put_u32(w, TYPE_ARRAY)?;
            put_u32(w, TYPE_I32)?;
            put_u64(w, items.len() as u64)?;
            items.iter().try_for_each(|x| w.write_all(&x.to_le_bytes()))
        }
    }
}

/// Counts bytes written through it, so padding can be computed without seeking.
struct Counting<W> {
    inner: W,
    written: usize,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.written += n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Write> Counting<W> {
    fn pad_to_alignment(&mut self) -> std::io::Result<()> {
        let pad = self.written.next_multiple_of(ALIGNMENT) - self.written;
        self.write_all(&[0u8; ALIGNMENT][..pad])
    }
}

/// Writes a GGUF file: `metadata` in order, then `tensors`, whose bytes `data(i)` produces
/// on demand (tensor `i` of `tensors`, already encoded in its type).
///
/// # Errors
/// [`WriteError`] when the sink fails, `data` fails, or a tensor's bytes have the wrong length.
pub fn write<W, E, F>(
    sink: W,
    metadata: &[(String, Value)],
    tensors: &[TensorInfo],
    mut data: F,
) -> Result<(), WriteError<E>>
where
    W: Write,
    E: std::error::Error + 'static,
    F: FnMut(usize) -> Result<Vec<u8>, E>,
{
    let mut w = Counting {
        inner: sink,
        written: 0,
    };
    w.write_all(b"GGUF")?;
    put_u32(&mut w, VERSION)?;
    put_u64(&mut w, tensors.len() as u64)?;
    put_u64(&mut w, metadata.len() as u64)?;
    for (key, value) in metadata {
        put_str(&mut w, key)?;
        put_value(&mut w, value)?;
    }
    let mut offset = 0usize;
    for t in tensors {
        put_str(&mut w, &t.name)?;
        put_u32(&mut w, t.dims.len() as u32)?;
        for &d in &t.dims {
            put_u64(&mut w, d)?;
        }
        put_u32(&mut w, t.ty.id())?;
        put_u64(&mut w, offset as u64)?;
        offset = (offset + t.size()).next_multiple_of(ALIGNMENT);
    }
    w.pad_to_alignment()?;
    for (i, t) in tensors.iter().enumerate() {
        let bytes = data(i).map_err(WriteError::Source)?;
        if bytes.len() != t.size() {
            return Err(WriteError::Size {
                name: t.name.clone(),
                expected: t.size(),
                found: bytes.len(),
            });
        }
        w.write_all(&bytes)?;
        w.pad_to_alignment()?;
    }
    w.flush()?;
    Ok(())
}

/// Little-endian f32 bytes.
pub fn encode_f32(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Little-endian IEEE half bytes, rounded to nearest even.
pub fn encode_f16(values: &[f32]) -> Vec<u8> {
    values
        .iter()
        .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
        .collect()
}

/// Q8_0 blocks, computed in f32 exactly as gguf-py's `Q8_0.quantize_blocks` (itself
/// bit-exact with ggml's `quantize_row_q8_0_ref`): `d = max|x| / 127`, `q = round(x / d)`
/// (half away from zero, by multiplying with `1/d`), `d` stored as f16.
///
/// Returns `None` when `row_len` is not a multiple of 32 (llama.cpp's converter then falls back
/// to f16 for that tensor).
pub fn quantize_q8_0(values: &[f32], row_len: usize) -> Option<Vec<u8>> {
    if row_len == 0 || !row_len.is_multiple_of(Q8_0_BLOCK) || !values.len().is_multiple_of(row_len)
    {
        return None;
    }
    let mut out = Vec::with_capacity(values.len() / Q8_0_BLOCK * (2 + Q8_0_BLOCK));
    for block in values.chunks_exact(Q8_0_BLOCK) {
        let amax = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d == 0.0 { 0.0 } else { 1.0 / d };
        out.extend_from_slice(&half::f16::from_f32(d).to_le_bytes());
        // f32::round rounds half away from zero, like gguf-py's np_roundf.
        out.extend(block.iter().map(|v| ((v * id).round() as i8) as u8));
    }
    Some(out)
}

/// Values of Q8_0 blocks (for tests and error bounds).
pub fn dequantize_q8_0(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(2 + Q8_0_BLOCK)
        .flat_map(|b| {
            let d = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
            b[2..].iter().map(move |&q| d * f32::from(q as i8))
        })
        .collect()
}

/// llama.cpp's `LlamaModel.permute` for `q_proj`/`k_proj` (weights and biases): rows go from
/// Hugging Face's rotate-half order to the interleaved pairs ggml's RoPE expects. Within each
/// head of `head_rows` rows, row `j * head_rows/2 + i` moves to `2i + j`.
pub fn permute_rows(values: &[f32], rows: usize, heads: usize) -> Vec<f32> {
    let cols = values.len() / rows.max(1);
    let head_rows = rows / heads.max(1);
    let half = head_rows / 2;
    let mut out = vec![0f32; values.len()];
    for h in 0..heads {
        for j in 0..2 {
            for i in 0..half {
                let src = h * head_rows + j * half + i;
                let dst = h * head_rows + 2 * i + j;
                out[dst * cols..(dst + 1) * cols]
                    .copy_from_slice(&values[src * cols..(src + 1) * cols]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q8_0_matches_hand_computed_blocks_and_stays_within_half_a_step() {
        let mut v: Vec<f32> = (0..64).map(|i| (i as f32 - 31.5) * 0.01).collect();
        v[5] = 0.0;
        let q = quantize_q8_0(&v, 64).unwrap();
        assert_eq!(q.len(), 2 * 34);
        // First block: max |x| = 0.315, d = 0.315/127.
        let d = half::f16::from_le_bytes([q[0], q[1]]).to_f32();
        assert_eq!(d, half::f16::from_f32(0.315 / 127.0).to_f32());
        assert_eq!(q[2] as i8, -127, "the extreme value maps to -127");
        let back = dequantize_q8_0(&q);
        for (a, b) in v.iter().zip(&back) {
            // Half a step of the larger block's scale (max |x| = 0.325), plus what storing d as
            // f16 moves a value of up to 127 steps.
            assert!((a - b).abs() <= 0.6 * 0.325 / 127.0, "{a} {b}");
        }
    }

    #[test]
    fn q8_0_all_zero_block_has_zero_scale_and_rows_must_be_whole_blocks() {
        let q = quantize_q8_0(&[0.0; 32], 32).unwrap();
        assert!(q.iter().all(|&b| b == 0));
        assert!(quantize_q8_0(&[0.0; 48], 48).is_none());
    }

    #[test]
    fn half_rounds_to_nearest_even() {
        // 1 + 2^-11 is exactly between two halves: ties go to the even one (1.0).
        let bytes = encode_f16(&[1.0 + 2f32.powi(-11), 65504.0]);
        assert_eq!(half::f16::from_le_bytes([bytes[0], bytes[1]]).to_f32(), 1.0);
        assert_eq!(
            half::f16::from_le_bytes([bytes[2], bytes[3]]).to_f32(),
            65504.0
        );
    }

    #[test]
    fn permutation_interleaves_the_two_halves_of_each_head() {
        // 2 heads of 4 rows, 1 column: rows 0..8.
        let v: Vec<f32> = (0..8).map(|i| i as f32).collect();
        assert_eq!(
            permute_rows(&v, 8, 2),
            vec![0.0, 2.0, 1.0, 3.0, 4.0, 6.0, 5.0, 7.0]
        );
        // Two columns move together.
        let v: Vec<f32> = (0..8).map(|i| i as f32).collect();
        assert_eq!(
            permute_rows(&v, 4, 1),
            vec![0.0, 1.0, 4.0, 5.0, 2.0, 3.0, 6.0, 7.0]
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("never")]
    struct Never;

    #[test]
    fn layout_is_aligned_and_sizes_are_checked() {
        let tensors = vec![
            TensorInfo {
                name: "a".into(),
                dims: vec![3],
                ty: GgmlType::F32,
            },
            TensorInfo {
                name: "b".into(),
                dims: vec![2],
                ty: GgmlType::F16,
            },
        ];
        let meta = vec![(
            "general.architecture".to_string(),
            Value::Str("llama".into()),
        )];
        let mut out = Vec::new();
        write(&mut out, &meta, &tensors, |i| {
            Ok::<_, Never>(if i == 0 {
                encode_f32(&[1.0, 2.0, 3.0])
            } else {
                encode_f16(&[1.0, 2.0])
            })
        })
        .unwrap();
        assert_eq!(&out[..4], b"GGUF");
        assert_eq!(u32::from_le_bytes(out[4..8].try_into().unwrap()), 3);
        // Data starts aligned; the second tensor starts 32 bytes after the first.
        assert_eq!(out.len() % ALIGNMENT, 0);
        let data_start = out.len() - 64;
        assert_eq!(
            &out[data_start..data_start + 12],
            &encode_f32(&[1.0, 2.0, 3.0])[..]
        );
        assert_eq!(
            &out[data_start + 32..data_start + 36],
            &encode_f16(&[1.0, 2.0])[..]
        );
        let err = write(&mut Vec::new(), &meta, &tensors, |_| {
            Ok::<_, Never>(vec![0u8; 5])
        });
        assert!(matches!(err, Err(WriteError::Size { .. })));
    }
}
