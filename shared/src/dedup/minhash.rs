//! MinHash signatures over word n-gram shingles, and exact shingle Jaccard.
//!
//! Each shingle (n consecutive words of the [normalised](super::normalize) text, taken as one
//! byte slice of that text, so no string is built per word or per shingle) is hashed once with
//! xxh3 to 64 bits and folded below the Mersenne prime `P = 2^61 - 1`. Permutation `k` maps a
//! shingle hash `x` to `(a_k * x + b_k) mod P`, with `a_k in [1, P)` and `b_k in [0, P)` drawn
//! from ChaCha8 seeded with the configured seed; a signature holds, for each permutation, the
//! minimum over the record's shingles. Two signatures agree in a given position with
//! probability equal to the Jaccard similarity of the shingle sets.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

/// The Mersenne prime `2^61 - 1` the permutations work modulo.
pub const MERSENNE_61: u64 = (1 << 61) - 1;

/// Reduces `x < 2^64` modulo `2^61 - 1` without a division.
#[inline(always)]
fn fold61(x: u64) -> u64 {
    let r = (x & MERSENNE_61) + (x >> 61);
    if r >= MERSENNE_61 { r - MERSENNE_61 } else { r }
}

/// `(a * x + b) mod (2^61 - 1)` for `a, b, x < 2^61`, with one 64x64->128 multiply.
#[inline(always)]
fn permute(a: u64, b: u64, x: u64) -> u64 {
    // v < 2^122 + 2^61: the low 61 bits plus the high part is v mod P up to two subtractions.
    let v = (a as u128) * (x as u128) + (b as u128);
    let r = ((v as u64) & MERSENNE_61) + ((v >> 61) as u64); // < 2^63
    fold61(r)
}

const LOW32: u64 = 0xFFFF_FFFF;
const LOW29: u64 = (1 << 29) - 1;

/// The same value as [`permute`], from the 32-bit halves of `a` and `x`, using only the
/// operations SIMD units have (32x32->64 multiplies, shifts, adds), so a loop over
/// permutations vectorises.
///
/// With `a = a1*2^32 + a0` and `x = x1*2^32 + x0` (`a1, x1 < 2^29`):
/// `a*x = a1*x1*2^64 + (a0*x1 + a1*x0)*2^32 + a0*x0`, and modulo `P = 2^61 - 1`,
/// `2^64 = 8`, `m*2^32 = (m >> 29) + (m mod 2^29)*2^32`, `y = (y mod 2^61) + (y >> 61)`.
/// The six terms are each below `2^61` except two tiny ones, so their sum fits in 64 bits.
#[inline(always)]
fn permute_split(a_lo: u64, a_hi: u64, b: u64, x_lo: u64, x_hi: u64) -> u64 {
    // The masks change no value (all four are below 2^32); they tell the compiler each
    // product is a 32x32->64 multiply, a single SIMD instruction (`pmuludq`).
    let (a_lo, a_hi, x_lo, x_hi) = (a_lo & LOW32, a_hi & LOW32, x_lo & LOW32, x_hi & LOW32);
    let low = a_lo * x_lo; // < 2^64
    let mid = a_lo * x_hi + a_hi * x_lo; // < 2^62
    // 8 * a_hi * x_hi, with the 8 on a_hi (still below 2^32) so the product stays a 32x32
    // multiply: written as a shift of the product, the compiler moves the shift onto x_hi.
    let high8 = ((a_hi << 3) & LOW32) * x_hi; // < 2^61
    let s = high8 + (mid >> 29) + ((mid & LOW29) << 32) + (low & MERSENNE_61) + (low >> 61) + b;
    fold61(s)
}

/// Permutations evaluated together in the signature's inner loop.
const LANES: usize = 8;

/// For each of `LANES` permutations, the minimum over the shingle hashes `xs` (not empty).
/// Minima compare as `i64`: every value is below `2^61`, and signed 64-bit min/compare exist
/// in AVX2 and AVX-512 where unsigned ones do not (AVX2).
#[inline(always)]
fn min_lanes(
    a_lo: &[u64; LANES],
    a_hi: &[u64; LANES],
    b: &[u64; LANES],
    xs: &[u64],
) -> [u64; LANES] {
    let mut m = [i64::MAX; LANES];
    for &x in xs {
        let (x_lo, x_hi) = (x & LOW32, x >> 32);
        for l in 0..LANES {
            m[l] = m[l].min(permute_split(a_lo[l], a_hi[l], b[l], x_lo, x_hi) as i64);
        }
    }
    m.map(|v| v as u64)
}

/// [`min_lanes`] compiled for AVX2 (4 lanes of 64 bits per instruction).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn min_lanes_avx2(
    a_lo: &[u64; LANES],
    a_hi: &[u64; LANES],
    b: &[u64; LANES],
    xs: &[u64],
) -> [u64; LANES] {
    min_lanes(a_lo, a_hi, b, xs)
}

/// [`min_lanes`] with AVX-512 intrinsics: the eight permutations are the eight 64-bit lanes of
/// one register, each shingle hash is broadcast. Written by hand because the compiler, left to
/// itself, turns some 32x32 multiplies into full 64x64 ones (three multiplies each).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn min_lanes_avx512(
    a_lo: &[u64; LANES],
    a_hi: &[u64; LANES],
    b: &[u64; LANES],
    xs: &[u64],
) -> [u64; LANES] {
    use std::arch::x86_64::*;
    const _: () = assert!(LANES == 8, "one AVX-512 register holds 8 lanes");
    // SAFETY: each array is exactly 8 u64 = 64 bytes; loadu/storeu need no alignment.
    let load = |v: &[u64; LANES]| unsafe { _mm512_loadu_si512(v.as_ptr().cast()) };
    let (a_lo, a_hi, b) = (load(a_lo), load(a_hi), load(b));
    let a_hi8 = _mm512_slli_epi64::<3>(a_hi);
    let p = _mm512_set1_epi64(MERSENNE_61 as i64);
    let low29 = _mm512_set1_epi64(LOW29 as i64);
    let mut m = _mm512_set1_epi64(i64::MAX);
    for &x in xs {
        let x_lo = _mm512_set1_epi64((x & LOW32) as i64);
        let x_hi = _mm512_set1_epi64((x >> 32) as i64);
        // The same six terms as `permute_split`.
        let low = _mm512_mul_epu32(a_lo, x_lo);
        let mid = _mm512_add_epi64(_mm512_mul_epu32(a_lo, x_hi), _mm512_mul_epu32(a_hi, x_lo));
        let mut s = _mm512_add_epi64(_mm512_mul_epu32(a_hi8, x_hi), b);
        s = _mm512_add_epi64(s, _mm512_srli_epi64::<29>(mid));
        s = _mm512_add_epi64(s, _mm512_slli_epi64::<32>(_mm512_and_si512(mid, low29)));
        s = _mm512_add_epi64(s, _mm512_and_si512(low, p));
        s = _mm512_add_epi64(s, _mm512_srli_epi64::<61>(low));
        // fold61: r < 2P, and min(r, r - P) (wrapping) is r mod P.
        let r = _mm512_add_epi64(_mm512_and_si512(s, p), _mm512_srli_epi64::<61>(s));
        let r = _mm512_min_epu64(r, _mm512_sub_epi64(r, p));
        m = _mm512_min_epu64(m, r);
    }
    let mut out = [0u64; LANES];
    // SAFETY: `out` is exactly 64 bytes.
    unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), m) };
    out
}

/// Which code computes the signature's minima. All give bit-identical results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    /// 64x64->128-bit multiplies, four permutations at a time (no SIMD needed).
    Scalar,
    /// [`permute_split`] in whatever SIMD the build targets (wasm, non-x86 CPUs).
    #[cfg_attr(target_arch = "x86_64", allow(dead_code))] // there, only tests construct it
    Split,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Kernel::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Kernel::Avx2;
            }
            // Baseline x86-64 (SSE2) has no 64-bit compares in SIMD: the 128-bit multiply wins.
            Kernel::Scalar
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Kernel::Split
        }
    }
}

/// A MinHash signature: one minimum per permutation. All values are below [`MERSENNE_61`];
/// a text without words gets `u64::MAX` everywhere (see [`Signature::is_empty`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Signature(pub Vec<u64>);

impl Signature {
    /// True for the signature of a text without any word: it matches nothing.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&v| v == u64::MAX)
    }
}

/// Fraction of positions where two signatures agree: an unbiased estimate of the Jaccard
/// similarity of the two shingle sets (standard error about `sqrt(J(1-J)/permutations)`).
/// Signatures of different lengths, or empty ones, give 0.
pub fn estimated_jaccard(a: &Signature, b: &Signature) -> f64 {
    if a.0.len() != b.0.len() || a.0.is_empty() || a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let same = a.0.iter().zip(&b.0).filter(|(x, y)| x == y).count();
    same as f64 / a.0.len() as f64
}

/// Calls `f` with the byte slice of every word n-gram of a normalised text (words separated
/// by single spaces). A text with fewer than `n` words yields itself as its only shingle;
/// an empty text yields nothing. `n == 0` is treated as 1.
pub fn for_each_shingle(text: &str, n: usize, mut f: impl FnMut(&[u8])) {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return;
    }
    let n = n.max(1);
    // Ring of the start offsets of the last n words; slot i % n holds word i's start.
    let mut starts = [0usize; 16];
    let mut heap_starts = Vec::new();
    let ring: &mut [usize] = if n <= starts.len() {
        &mut starts[..n]
    } else {
        heap_starts.resize(n, 0);
        &mut heap_starts
    };
    let mut words = 0usize;
    let mut start = 0usize;
    let mut emit = |end: usize, words: usize, ring: &[usize]| {
        if words >= n {
            f(&bytes[ring[(words - n) % n]..end]);
        }
    };
    for space in memchr::memchr_iter(b' ', bytes) {
        ring[words % n] = start;
        words += 1;
        emit(space, words, ring);
        start = space + 1;
    }
    ring[words % n] = start;
    words += 1;
    emit(bytes.len(), words, ring);
    if words < n {
        f(bytes);
    }
}

/// The sorted, deduplicated 64-bit hashes of a normalised text's shingles: the set exact
/// Jaccard is computed on (the same hashes the signature starts from, before folding).
pub fn shingle_set(text: &str, n: usize) -> Vec<u64> {
    let mut out = Vec::new();
    for_each_shingle(text, n, |s| out.push(xxh3_64(s)));
    out.sort_unstable();
    out.dedup();
    out
}

/// Exact Jaccard similarity of two sorted, deduplicated sets (as [`shingle_set`] returns).
/// Two empty sets are identical (1.0).
pub fn jaccard(a: &[u64], b: &[u64]) -> f64 {
    if a.is_empty() && b.is_empty() {
        return 1.0;
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    common as f64 / (a.len() + b.len() - common) as f64
}

/// Computes MinHash signatures with fixed permutations. Cheap to clone; build it once per run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinHasher {
    ngram: usize,
    a: Vec<u64>,
    b: Vec<u64>,
    /// Low and high 32 bits of each `a`, for the SIMD kernels.
    a_lo: Vec<u64>,
    a_hi: Vec<u64>,
    kernel: Kernel,
}

impl MinHasher {
    /// Permutations drawn from ChaCha8 seeded with `seed` (so a run is reproducible from
    /// `(ngram, permutations, seed)` alone). `ngram == 0` is treated as 1.
    pub fn new(ngram: usize, permutations: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut a = Vec::with_capacity(permutations);
        let mut b = Vec::with_capacity(permutations);
        for _ in 0..permutations {
            a.push(rng.random_range(1..MERSENNE_61));
            b.push(rng.random_range(0..MERSENNE_61));
        }
        let a_lo = a.iter().map(|&v| v & LOW32).collect();
        let a_hi = a.iter().map(|&v| v >> 32).collect();
        MinHasher {
            ngram: ngram.max(1),
            a,
            b,
            a_lo,
            a_hi,
            kernel: Kernel::detect(),
        }
    }

    /// Word n-gram size of the shingles.
    pub fn ngram(&self) -> usize {
        self.ngram
    }

    /// Number of permutations, the length of every signature.
    pub fn permutations(&self) -> usize {
        self.a.len()
    }

    /// The signature of a normalised text (see [`super::record_text`]).
    pub fn signature(&self, text: &str) -> Signature {
        let mut sig = vec![0; self.permutations()];
        self.signature_into(text, &mut Vec::new(), &mut sig);
        Signature(sig)
    }

    /// [`MinHasher::signature`] into `out` (length [`MinHasher::permutations`]), using
    /// `scratch` for the shingle hashes so a loop over many records allocates nothing.
    pub fn signature_into(&self, text: &str, scratch: &mut Vec<u64>, out: &mut [u64]) {
        scratch.clear();
        for_each_shingle(text, self.ngram, |s| scratch.push(fold61(xxh3_64(s))));
        if scratch.is_empty() {
            out.fill(u64::MAX);
            return;
        }
        self.minima(scratch, out);
    }

    /// For each permutation, the minimum over the (non-empty) shingle hashes `xs`.
    fn minima(&self, xs: &[u64], out: &mut [u64]) {
        // Permutation-major, LANES permutations per pass over the shingles: their constants
        // stay in registers and the running minima are independent of each other.
        let full = self.a.len() / LANES * LANES;
        if self.kernel != Kernel::Scalar {
            for (k, slots) in out[..full].chunks_exact_mut(LANES).enumerate() {
                let lanes =
                    |v: &[u64]| -> [u64; LANES] { std::array::from_fn(|l| v[k * LANES + l]) };
                let (a_lo, a_hi, b) = (lanes(&self.a_lo), lanes(&self.a_hi), lanes(&self.b));
                let m = match self.kernel {
                    // SAFETY: `Kernel::detect` chose these only after the CPU reported the feature.
                    #[cfg(target_arch = "x86_64")]
                    Kernel::Avx512 => unsafe { min_lanes_avx512(&a_lo, &a_hi, &b, xs) },
                    #[cfg(target_arch = "x86_64")]
                    Kernel::Avx2 => unsafe { min_lanes_avx2(&a_lo, &a_hi, &b, xs) },
                    _ => min_lanes(&a_lo, &a_hi, &b, xs),
                };
                slots.copy_from_slice(&m);
            }
            self.minima_scalar(xs, full, out);
            return;
        }
        self.minima_scalar(xs, 0, out);
    }

    /// [`MinHasher::minima`] with 128-bit multiplies, for permutations `from..`.
    fn minima_scalar(&self, xs: &[u64], from: usize, out: &mut [u64]) {
        const SCALAR_LANES: usize = 4;
        let (a, b, out) = (&self.a[from..], &self.b[from..], &mut out[from..]);
        let mut out_chunks = out.chunks_exact_mut(SCALAR_LANES);
        let mut a_chunks = a.chunks_exact(SCALAR_LANES);
        let mut b_chunks = b.chunks_exact(SCALAR_LANES);
        for ((slots, a), b) in (&mut out_chunks).zip(&mut a_chunks).zip(&mut b_chunks) {
            let mut m = [u64::MAX; SCALAR_LANES];
            for &x in xs {
                for l in 0..SCALAR_LANES {
                    m[l] = m[l].min(permute(a[l], b[l], x));
                }
            }
            slots.copy_from_slice(&m);
        }
        let rest = out_chunks.into_remainder().iter_mut();
        for ((slot, &a), &b) in rest.zip(a_chunks.remainder()).zip(b_chunks.remainder()) {
            *slot = xs.iter().fold(u64::MAX, |m, &x| m.min(permute(a, b, x)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shingles(text: &str, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        for_each_shingle(text, n, |s| {
            out.push(String::from_utf8(s.to_vec()).unwrap())
        });
        out
    }

    #[test]
    fn shingles_are_word_ngrams() {
        assert_eq!(shingles("a b c d", 2), ["a b", "b c", "c d"]);
        assert_eq!(shingles("a b c d", 4), ["a b c d"]);
        assert_eq!(shingles("a b", 5), ["a b"]);
        assert_eq!(shingles("word", 1), ["word"]);
        assert!(shingles("", 3).is_empty());
        let long: Vec<String> = (0..30).map(|i| format!("w{i}")).collect();
        let text = long.join(" ");
        let s = shingles(&text, 20);
        assert_eq!(s.len(), 11);
        assert_eq!(s[10], long[10..].join(" "));
    }

    #[test]
    fn permute_matches_big_integer_arithmetic() {
        let cases = [
            (1, 0, 0),
            (MERSENNE_61 - 1, MERSENNE_61 - 1, MERSENNE_61 - 1),
            (12345, 678, 91011),
        ];
        for (a, b, x) in cases {
            let expect = ((a as u128 * x as u128 + b as u128) % MERSENNE_61 as u128) as u64;
            assert_eq!(permute(a, b, x), expect, "{a} {b} {x}");
        }
        assert_eq!(fold61(u64::MAX), (u64::MAX % MERSENNE_61));
        assert_eq!(fold61(MERSENNE_61), 0);
    }

    #[test]
    fn split_arithmetic_matches_the_128_bit_multiply() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let edge = [0, 1, LOW32, LOW32 + 1, MERSENNE_61 - 1];
        for i in 0..20_000 {
            let pick = |rng: &mut ChaCha8Rng, k: usize| {
                if i < 125 {
                    edge[(i / 5usize.pow(k as u32)) % 5]
                } else {
                    rng.random_range(0..MERSENNE_61)
                }
            };
            let (a, b, x) = (pick(&mut rng, 0), pick(&mut rng, 1), pick(&mut rng, 2));
            let split = permute_split(a & LOW32, a >> 32, b, x & LOW32, x >> 32);
            assert_eq!(split, permute(a, b, x), "a={a} b={b} x={x}");
        }
    }

    #[test]
    fn every_kernel_gives_the_same_signature() {
        let text: String = (0..300).map(|i| format!("w{} ", i * 7919 % 1000)).collect();
        // 117 permutations: 14 SIMD chunks of 8 and a scalar remainder of 5.
        let base = MinHasher::new(5, 117, 11);
        let mut kernels = vec![Kernel::Scalar, Kernel::Split];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                kernels.push(Kernel::Avx2);
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                kernels.push(Kernel::Avx512);
            }
        }
        let sigs: Vec<Signature> = kernels
            .iter()
            .map(|&kernel| {
                MinHasher {
                    kernel,
                    ..base.clone()
                }
                .signature(text.trim())
            })
            .collect();
        assert!(sigs.windows(2).all(|w| w[0] == w[1]), "{kernels:?}");
        assert!(sigs[0].0.iter().all(|&v| v < MERSENNE_61));
    }

    #[test]
    fn same_seed_same_signature_other_seed_other_signature() {
        let t = "the quick brown fox jumps over the lazy dog again and again";
        assert_eq!(
            MinHasher::new(5, 64, 1).signature(t),
            MinHasher::new(5, 64, 1).signature(t)
        );
        assert_ne!(
            MinHasher::new(5, 64, 1).signature(t),
            MinHasher::new(5, 64, 2).signature(t)
        );
    }

    #[test]
    fn estimate_tracks_exact_jaccard() {
        let words: Vec<String> = (0..400).map(|i| format!("w{i}")).collect();
        let a = words.join(" ");
        let mut edited = words.clone();
        for i in (0..400).step_by(50) {
            edited[i] = format!("x{i}");
        }
        let b = edited.join(" ");
        let exact = jaccard(&shingle_set(&a, 5), &shingle_set(&b, 5));
        let h = MinHasher::new(5, 512, 7);
        let est = estimated_jaccard(&h.signature(&a), &h.signature(&b));
        assert!((exact - est).abs() < 0.06, "exact {exact} estimate {est}");
        assert_eq!(estimated_jaccard(&h.signature(&a), &h.signature(&a)), 1.0);
    }

    #[test]
    fn empty_text_matches_nothing() {
        let h = MinHasher::new(5, 8, 1);
        let e = h.signature("");
        assert!(e.is_empty());
        assert_eq!(estimated_jaccard(&e, &e), 0.0);
        assert!(!h.signature("a").is_empty());
    }

    #[test]
    fn jaccard_of_sets() {
        assert_eq!(jaccard(&[1, 2, 3], &[2, 3, 4]), 0.5);
        assert_eq!(jaccard(&[], &[]), 1.0);
        assert_eq!(jaccard(&[1], &[]), 0.0);
    }
}
