//! Operations the model runs as one pass where burn would run several: SwiGLU ([`swiglu`]),
//! RMSNorm ([`rms_norm`]), the rotary embedding ([`rope`]), attention's masked softmax
//! ([`masked_softmax`]) and a plain row softmax ([`row_softmax`]); and the projections' matrix
//! product ([`matmul`]), which on flex writes its output once instead of three times.
//!
//! Composed from burn's ops each is a chain of element-wise ops, and under autodiff as many
//! again in the backward pass, each a separate pass over an activation; flex (the CPU backend)
//! runs those on one thread, its `exp` scalar. Through burn's backend extensions
//! ([`FusedOps`]) flex runs one kernel forward and one backward instead, parallel over chunks
//! natively (one thread in the browser) with an `exp` the compiler vectorises; the GPU
//! backends compose burn's ops (their fusion turns those into kernels already). Under
//! autodiff each op is one node whose backward pass is the fused kernel too. The tests check
//! every kernel against the composition of burn's ops it replaces.

use std::mem::MaybeUninit;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::{Flex, FlexTensor, Layout};
use burn::backend::ops::{ActivationOps, FloatTensorOps};
use burn::backend::tensor::{BoolTensor, FloatTensor};
use burn::backend::{Backend, Dispatch, TensorMetadata, backend_extension};
use burn::tensor::{Bool, Bytes, DType, Slice, Tensor};

/// `silu(gate) * up`, element-wise; `gate` and `up` have the same shape.
pub fn swiglu<const D: usize>(gate: Tensor<D>, up: Tensor<D>) -> Tensor<D> {
    assert_eq!(
        gate.dims(),
        up.dims(),
        "swiglu: gate and up differ in shape"
    );
    Tensor::from_dispatch(<Dispatch as FusedOps>::swiglu(
        gate.into_dispatch(),
        up.into_dispatch(),
    ))
}

/// `softmax(scores)` over the last dimension, with the positions where `mask` is true left out
/// (probability 0). `mask` has the shape of `scores` or a 1 in place of its heads dimension
/// (`[batch, 1, queries, keys]` for `[batch, heads, queries, keys]`); no row may be all masked.
pub fn masked_softmax(scores: Tensor<4>, mask: Tensor<4, Bool>) -> Tensor<4> {
    let [b, h, q, k] = scores.dims();
    let [mb, mh, mq, mk] = mask.dims();
    assert!(
        mb == b && (mh == h || mh == 1) && mq == q && mk == k,
        "masked_softmax: mask {:?} does not fit scores {:?}",
        [mb, mh, mq, mk],
        [b, h, q, k]
    );
    Tensor::from_dispatch(<Dispatch as FusedOps>::masked_softmax(
        scores.into_dispatch(),
        mask.into_dispatch(),
    ))
}

/// Rotary position embedding, Hugging Face's `rotate_half` convention:
/// `x ⊙ cos + rotate_half(x) ⊙ sin`, `rotate_half(x) = cat(-x₂, x₁)` over the halves of the
/// last dimension.
///
/// # Shapes
/// - `x`: `[batch, seq, heads, head_dim]`
/// - `cos`, `sin`: `[batch or 1, seq, 1, head_dim]`
pub fn rope(x: Tensor<4>, cos: &Tensor<4>, sin: &Tensor<4>) -> Tensor<4> {
    let [b, t, _, d] = x.dims();
    let [cb, ct, ch, cd] = cos.dims();
    assert!(
        (cb == b || cb == 1) && ct == t && ch == 1 && cd == d && sin.dims() == cos.dims(),
        "rope: cos/sin {:?} do not fit x {:?}",
        cos.dims(),
        x.dims()
    );
    Tensor::from_dispatch(<Dispatch as FusedOps>::rope(
        x.into_dispatch(),
        cos.clone().into_dispatch(),
        sin.clone().into_dispatch(),
    ))
}

/// `softmax(x)` over the last dimension.
pub fn row_softmax<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as FusedOps>::row_softmax(x.into_dispatch()))
}

/// `a · b` of an `[m, k]` and a `[k, n]` matrix. Transposed views (`w.transpose()`) cost
/// nothing: flex reads them through their strides.
pub fn matmul(a: Tensor<2>, b: Tensor<2>) -> Tensor<2> {
    let ([m, k], [k2, n]) = (a.dims(), b.dims());
    assert_eq!(k, k2, "matmul: [{m}, {k}] by [{k2}, {n}]");
    Tensor::from_dispatch(<Dispatch as FusedOps>::matmul(
        a.into_dispatch(),
        b.into_dispatch(),
    ))
}

/// Root-mean-square norm over the last dimension with a learned scale:
/// `weight * x / sqrt(mean(x²) + eps)`, `weight` of the last dimension's size.
pub fn rms_norm<const D: usize>(x: Tensor<D>, weight: Tensor<1>, eps: f64) -> Tensor<D> {
    assert_eq!(
        x.dims()[D - 1],
        weight.dims()[0],
        "rms_norm: weight does not fit x"
    );
    Tensor::from_dispatch(<Dispatch as FusedOps>::rms_norm(
        x.into_dispatch(),
        weight.into_dispatch(),
        eps,
    ))
}

/// The fused operations, per backend. The default bodies compose burn's ops.
#[backend_extension(
    Flex,
    Cube: cfg(any(feature = "wgpu", feature = "webgpu", feature = "cuda")),
    Autodiff
)]
pub trait FusedOps: Backend {
    /// See [`matmul`].
    fn matmul(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_matmul(a, b)
    }

    /// `silu(gate) * up`.
    fn swiglu(gate: FloatTensor<Self>, up: FloatTensor<Self>) -> FloatTensor<Self> {
        composed::swiglu::<Self>(gate, up)
    }

    /// The gradients of [`FusedOps::swiglu`] with respect to `gate` and `up`, given the
    /// gradient of its output.
    fn swiglu_backward(
        gate: FloatTensor<Self>,
        up: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        composed::swiglu_backward::<Self>(gate, up, grad)
    }

    /// See [`masked_softmax`].
    fn masked_softmax(scores: FloatTensor<Self>, mask: BoolTensor<Self>) -> FloatTensor<Self> {
        composed::masked_softmax::<Self>(scores, mask)
    }

    /// See [`rope`].
    fn rope(
        x: FloatTensor<Self>,
        cos: FloatTensor<Self>,
        sin: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        composed::rope::<Self>(x, cos, sin)
    }

    /// The gradient of [`FusedOps::rope`] with respect to `x` (it is linear in `x`):
    /// `grad ⊙ cos - rotate_half(grad ⊙ sin)`.
    fn rope_backward(
        grad: FloatTensor<Self>,
        cos: FloatTensor<Self>,
        sin: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        composed::rope_backward::<Self>(grad, cos, sin)
    }

    /// See [`row_softmax`].
    fn row_softmax(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let last = x.shape().num_dims() - 1;
        Self::softmax(x, last)
    }

    /// The gradient of a softmax over the last dimension with respect to its input, given its
    /// output `probs` and the gradient of that: `probs ⊙ (grad - Σ probs ⊙ grad)`.
    fn softmax_backward(probs: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        composed::softmax_backward::<Self>(probs, grad)
    }

    /// See [`rms_norm`].
    fn rms_norm(x: FloatTensor<Self>, weight: FloatTensor<Self>, eps: f64) -> FloatTensor<Self> {
        composed::rms_norm::<Self>(x, weight, eps)
    }

    /// The gradient of [`FusedOps::rms_norm`] with respect to `x`, given that of its output.
    fn rms_norm_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self> {
        composed::rms_norm_backward::<Self>(x, weight, grad, eps)
    }
}

#[cfg(any(feature = "wgpu", feature = "webgpu", feature = "cuda"))]
impl FusedOps for burn::backend::Cube {}

impl FusedOps for Flex {
    fn matmul(a: FlexTensor, b: FlexTensor) -> FlexTensor {
        match (gemm_cpu::Operand::of(&a), gemm_cpu::Operand::of(&b)) {
            (Some(lhs), Some(rhs)) => {
                let shape = burn::tensor::Shape::from(vec![lhs.rows, rhs.cols]);
                from_vec(gemm_cpu::product(&lhs, &rhs), shape)
            }
            _ => Self::float_matmul(a, b),
        }
    }

    fn swiglu(gate: FlexTensor, up: FlexTensor) -> FlexTensor {
        let (Some(g), Some(u)) = (f32_view(&gate), f32_view(&up)) else {
            return composed::swiglu::<Self>(gate, up);
        };
        let shape = gate.shape();
        let out = filled(g.len(), CHUNK, |out, start| {
            let end = start + out.len();
            cpu::swiglu(&g[start..end], &u[start..end], out)
        });
        from_vec(out, shape)
    }

    fn swiglu_backward(
        gate: FlexTensor,
        up: FlexTensor,
        grad: FlexTensor,
    ) -> (FlexTensor, FlexTensor) {
        let (Some(g), Some(u), Some(dy)) = (f32_view(&gate), f32_view(&up), f32_view(&grad)) else {
            return composed::swiglu_backward::<Self>(gate, up, grad);
        };
        let shape = gate.shape();
        let (d_gate, d_up) = filled_pair(g.len(), |d_gate, d_up, start| {
            let end = start + d_gate.len();
            cpu::swiglu_backward(
                &g[start..end],
                &u[start..end],
                &dy[start..end],
                d_gate,
                d_up,
            )
        });
        (from_vec(d_gate, shape.clone()), from_vec(d_up, shape))
    }

    fn masked_softmax(scores: FlexTensor, mask: FlexTensor) -> FlexTensor {
        let shape = scores.shape();
        let (Some(x), Some(m), [_, heads, queries, keys]) =
            (f32_view(&scores), bool_view(&mask), shape.dims::<4>())
        else {
            return composed::masked_softmax::<Self>(scores, mask);
        };
        // The mask row of a scores row: the same one, or the same query of the batch entry
        // when the mask has one head for all.
        let per_head = m.len() == x.len();
        let mask_row = |row: usize| {
            let r = if per_head {
                row
            } else {
                row / (heads * queries) * queries + row % queries
            };
            &m[r * keys..(r + 1) * keys]
        };
        let out = filled_rows(x.len(), keys, |row, out| {
            cpu::masked_softmax_row(&x[row * keys..(row + 1) * keys], mask_row(row), out)
        });
        from_vec(out, shape)
    }

    fn rope(x: FlexTensor, cos: FlexTensor, sin: FlexTensor) -> FlexTensor {
        rope_flex(x, cos, sin, false)
    }

    fn rope_backward(grad: FlexTensor, cos: FlexTensor, sin: FlexTensor) -> FlexTensor {
        rope_flex(grad, cos, sin, true)
    }

    fn row_softmax(x: FlexTensor) -> FlexTensor {
        let shape = x.shape();
        let keys = shape[shape.num_dims() - 1].max(1);
        let Some(xs) = f32_view(&x) else {
            return Self::softmax(x, shape.num_dims() - 1);
        };
        let out = filled_rows(xs.len(), keys, |row, out| {
            cpu::softmax_row(&xs[row * keys..(row + 1) * keys], out)
        });
        from_vec(out, shape)
    }

    fn softmax_backward(probs: FlexTensor, grad: FlexTensor) -> FlexTensor {
        let shape = probs.shape();
        let keys = shape[shape.num_dims() - 1].max(1);
        let (Some(p), Some(g)) = (f32_view(&probs), f32_view(&grad)) else {
            return composed::softmax_backward::<Self>(probs, grad);
        };
        let out = filled_rows(p.len(), keys, |row, out| {
            let at = row * keys..(row + 1) * keys;
            cpu::softmax_backward_row(&p[at.clone()], &g[at], out)
        });
        from_vec(out, shape)
    }

    fn rms_norm(x: FlexTensor, weight: FlexTensor, eps: f64) -> FlexTensor {
        let (Some(xs), Some(w)) = (f32_view(&x), f32_view(&weight)) else {
            return composed::rms_norm::<Self>(x, weight, eps);
        };
        let (shape, h) = (x.shape(), w.len());
        let out = filled_rows(xs.len(), h, |row, out| {
            cpu::rms_norm_row(&xs[row * h..(row + 1) * h], w, eps as f32, out)
        });
        from_vec(out, shape)
    }

    fn rms_norm_backward(
        x: FlexTensor,
        weight: FlexTensor,
        grad: FlexTensor,
        eps: f64,
    ) -> FlexTensor {
        let (Some(xs), Some(w), Some(g)) = (f32_view(&x), f32_view(&weight), f32_view(&grad))
        else {
            return composed::rms_norm_backward::<Self>(x, weight, grad, eps);
        };
        let (shape, h) = (x.shape(), w.len());
        let out = filled_rows(xs.len(), h, |row, out| {
            let at = row * h..(row + 1) * h;
            cpu::rms_norm_backward_row(&xs[at.clone()], w, &g[at], eps as f32, out)
        });
        from_vec(out, shape)
    }
}

impl<B: FusedOps, C: CheckpointStrategy> FusedOps for Autodiff<B, C> {
    fn matmul(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Matmul;

        impl<B: FusedOps> Backward<B, 2> for Matmul {
            type State = (Option<NodeId>, Option<NodeId>);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                checkpointer: &mut Checkpointer,
            ) {
                let (a, b) = ops.state;
                let a = a.map(|id| checkpointer.retrieve_node_output::<FloatTensor<B>>(id));
                let b = b.map(|id| checkpointer.retrieve_node_output::<FloatTensor<B>>(id));
                let grad = grads.consume::<B>(&ops.node);
                let [a_node, b_node] = ops.parents;
                // d(a·b) = grad·bᵀ for a, aᵀ·grad for b; the transposes are views.
                if let (Some(node), Some(b)) = (a_node, b) {
                    let d_a = B::matmul(grad.clone(), B::float_transpose(b));
                    grads.register::<B>(node.id, d_a);
                }
                if let (Some(node), Some(a)) = (b_node, a) {
                    grads.register::<B>(node.id, B::matmul(B::float_transpose(a), grad));
                }
            }
        }

        // Each side keeps only what the other's gradient needs: a frozen weight's input is
        // not kept for it (burn's own matmul does the same).
        let (a_tracked, b_tracked) = (a.is_tracked(), b.is_tracked());
        match Matmul
            .prepare::<C>([a.node(), b.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let a_state = b_tracked.then(|| prep.checkpoint(&a));
                let b_state = a_tracked.then(|| prep.checkpoint(&b));
                let out = B::matmul(a.into_primitive(), b.into_primitive());
                prep.finish((a_state, b_state), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::matmul(a.into_primitive(), b.into_primitive()))
            }
        }
    }

    fn swiglu(gate: FloatTensor<Self>, up: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct SwiGlu;

        impl<B: FusedOps> Backward<B, 2> for SwiGlu {
            type State = (FloatTensor<B>, FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let (gate, up) = ops.state;
                let grad = grads.consume::<B>(&ops.node);
                let (d_gate, d_up) = B::swiglu_backward(gate, up, grad);
                let [gate_node, up_node] = ops.parents;
                if let Some(node) = gate_node {
                    grads.register::<B>(node.id, d_gate);
                }
                if let Some(node) = up_node {
                    grads.register::<B>(node.id, d_up);
                }
            }
        }

        // Compute-bound: the inputs are kept for the backward pass rather than recomputed.
        match SwiGlu
            .prepare::<C>([gate.node(), up.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (g, u) = (gate.into_primitive(), up.into_primitive());
                let out = B::swiglu(g.clone(), u.clone());
                prep.finish((g, u), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::swiglu(gate.into_primitive(), up.into_primitive()))
            }
        }
    }

    fn masked_softmax(scores: FloatTensor<Self>, mask: BoolTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct MaskedSoftmax;

        impl<B: FusedOps> Backward<B, 1> for MaskedSoftmax {
            type State = FloatTensor<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let grad = grads.consume::<B>(&ops.node);
                if let [Some(node)] = ops.parents {
                    grads.register::<B>(node.id, B::softmax_backward(ops.state, grad));
                }
            }
        }

        // The backward pass needs only the output, kept as the state.
        match MaskedSoftmax
            .prepare::<C>([scores.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let probs = B::masked_softmax(scores.into_primitive(), mask);
                prep.finish(probs.clone(), probs)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::masked_softmax(scores.into_primitive(), mask))
            }
        }
    }

    fn rope(
        x: FloatTensor<Self>,
        cos: FloatTensor<Self>,
        sin: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Rope;

        impl<B: FusedOps> Backward<B, 1> for Rope {
            type State = (FloatTensor<B>, FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let (cos, sin) = ops.state;
                let grad = grads.consume::<B>(&ops.node);
                if let [Some(node)] = ops.parents {
                    grads.register::<B>(node.id, B::rope_backward(grad, cos, sin));
                }
            }
        }

        // The tables are functions of the positions, never trained.
        let (cos, sin) = (cos.into_primitive(), sin.into_primitive());
        match Rope.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let out = B::rope(x.into_primitive(), cos.clone(), sin.clone());
                prep.finish((cos, sin), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::rope(x.into_primitive(), cos, sin)),
        }
    }

    fn rms_norm(x: FloatTensor<Self>, weight: FloatTensor<Self>, eps: f64) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct RmsNorm;

        impl<B: FusedOps> Backward<B, 2> for RmsNorm {
            type State = (FloatTensor<B>, FloatTensor<B>, f64);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let (x, weight, eps) = ops.state;
                let grad = grads.consume::<B>(&ops.node);
                let [x_node, weight_node] = ops.parents;
                // The weight is frozen in every adapter method; a full fine-tune trains it.
                if let Some(node) = weight_node {
                    let d_weight =
                        composed::rms_norm_weight_grad::<B>(x.clone(), grad.clone(), eps);
                    grads.register::<B>(node.id, d_weight);
                }
                if let Some(node) = x_node {
                    grads.register::<B>(node.id, B::rms_norm_backward(x, weight, grad, eps));
                }
            }
        }

        match RmsNorm
            .prepare::<C>([x.node(), weight.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let (x, weight) = (x.into_primitive(), weight.into_primitive());
                let out = B::rms_norm(x.clone(), weight.clone(), eps);
                prep.finish((x, weight, eps), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::rms_norm(
                x.into_primitive(),
                weight.into_primitive(),
                eps,
            )),
        }
    }
}

/// flex's [`FusedOps::rope`] (`backward`: its gradient, given the output's in `x`).
fn rope_flex(x: FlexTensor, cos: FlexTensor, sin: FlexTensor, backward: bool) -> FlexTensor {
    // The gradient comes back from attention's [b, heads, t, d] layout as a strided view: one
    // copy into rows (flex's tiled copy) costs less than the composed ops on the view.
    let x = match x.dtype() {
        DType::F32 => x.to_contiguous(),
        _ => x,
    };
    let shape = x.shape();
    let ([_, seq, heads, d], [tables, ..]) = (shape.dims::<4>(), cos.shape().dims::<4>());
    let (Some(xs), Some(c), Some(s)) = (f32_view(&x), f32_view(&cos), f32_view(&sin)) else {
        return match backward {
            false => composed::rope::<Flex>(x, cos, sin),
            true => composed::rope_backward::<Flex>(x, cos, sin),
        };
    };
    let out = filled_rows(xs.len(), d, |row, out| {
        // The table row: this row's position (of its batch entry, when there are several).
        let batch = if tables == 1 { 0 } else { row / (seq * heads) };
        let table = (batch * seq + row / heads % seq) * d;
        let (x, c, s) = (
            &xs[row * d..(row + 1) * d],
            &c[table..table + d],
            &s[table..table + d],
        );
        match backward {
            false => cpu::rope_row(x, c, s, out),
            true => cpu::rope_backward_row(x, c, s, out),
        }
    });
    from_vec(out, shape)
}

/// The tensor's elements as one `f32` slice, when it is `f32` and contiguous (as the
/// projections' outputs and their gradients are); `None` sends it to the composed ops.
fn f32_view(t: &FlexTensor) -> Option<&[f32]> {
    (t.dtype() == DType::F32)
        .then(|| t.as_slice::<f32>())
        .flatten()
}

/// A boolean tensor's elements (one byte each), when it is contiguous.
fn bool_view(t: &FlexTensor) -> Option<&[u8]> {
    let (start, end) = t.layout().contiguous_offsets()?;
    matches!(t.dtype(), DType::Bool(_)).then(|| &t.storage::<u8>()[start..end])
}

fn from_vec(data: Vec<f32>, shape: burn::tensor::Shape) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(data),
        Layout::contiguous(shape),
        DType::F32,
    )
}

/// Elements per task: large enough that scheduling costs nothing, small enough that both
/// halves of a 1024 x 1536 MLP activation find a thread.
const CHUNK: usize = 1 << 15;

/// A vector of `n` elements in rows of `row_len` that `fill(row, its elements)` writes
/// completely; each parallel task takes whole rows, about [`CHUNK`] elements.
fn filled_rows(
    n: usize,
    row_len: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    let rows_per_task = (CHUNK / row_len).max(1);
    filled(n, row_len * rows_per_task, |out, start| {
        for (i, out) in out.chunks_mut(row_len).enumerate() {
            fill(start / row_len + i, out)
        }
    })
}

/// A vector of `n` elements that `fill(chunk, offset)` writes completely, `chunk_len`
/// elements at a time (in parallel natively).
fn filled(
    n: usize,
    chunk_len: usize,
    fill: impl Fn(&mut [MaybeUninit<f32>], usize) + Sync,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(n);
    chunks(&mut out.spare_capacity_mut()[..n], chunk_len, fill);
    // SAFETY: `fill` wrote every element of every chunk, and the chunks cover 0..n.
    unsafe { out.set_len(n) };
    out
}

/// Two vectors of `n` elements that `fill(a_chunk, b_chunk, offset)` writes completely.
fn filled_pair(
    n: usize,
    fill: impl Fn(&mut [MaybeUninit<f32>], &mut [MaybeUninit<f32>], usize) + Sync,
) -> (Vec<f32>, Vec<f32>) {
    let (mut a, mut b) = (Vec::with_capacity(n), Vec::with_capacity(n));
    {
        let a = &mut a.spare_capacity_mut()[..n];
        let b = &mut b.spare_capacity_mut()[..n];
        chunk_pairs(a, b, &fill);
    }
    // SAFETY: `fill` wrote every element of both, chunk by chunk over 0..n.
    unsafe {
        a.set_len(n);
        b.set_len(n);
    }
    (a, b)
}

#[cfg(not(target_arch = "wasm32"))]
fn chunks(
    out: &mut [MaybeUninit<f32>],
    len: usize,
    f: impl Fn(&mut [MaybeUninit<f32>], usize) + Sync,
) {
    use rayon::prelude::*;
    out.par_chunks_mut(len)
        .enumerate()
        .for_each(|(i, c)| f(c, i * len));
}

#[cfg(target_arch = "wasm32")]
fn chunks(
    out: &mut [MaybeUninit<f32>],
    len: usize,
    f: impl Fn(&mut [MaybeUninit<f32>], usize) + Sync,
) {
    for (i, c) in out.chunks_mut(len).enumerate() {
        f(c, i * len)
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn chunk_pairs(
    a: &mut [MaybeUninit<f32>],
    b: &mut [MaybeUninit<f32>],
    f: &(impl Fn(&mut [MaybeUninit<f32>], &mut [MaybeUninit<f32>], usize) + Sync),
) {
    use rayon::prelude::*;
    a.par_chunks_mut(CHUNK)
        .zip(b.par_chunks_mut(CHUNK))
        .enumerate()
        .for_each(|(i, (a, b))| f(a, b, i * CHUNK));
}

#[cfg(target_arch = "wasm32")]
fn chunk_pairs(
    a: &mut [MaybeUninit<f32>],
    b: &mut [MaybeUninit<f32>],
    f: &(impl Fn(&mut [MaybeUninit<f32>], &mut [MaybeUninit<f32>], usize) + Sync),
) {
    for (i, (a, b)) in a.chunks_mut(CHUNK).zip(b.chunks_mut(CHUNK)).enumerate() {
        f(a, b, i * CHUNK)
    }
}

/// flex's matrix products, written straight into an uninitialised vector (flex zero-fills its
/// output and copies it once more into an aligned buffer: a tenth of a training step) and
/// split across the pool in column or row blocks, one per thread (gemm's own split scales less
/// well on two cores).
mod gemm_cpu {
    use std::mem::MaybeUninit;

    use burn::backend::flex::FlexTensor;
    use burn::tensor::DType;

    /// A strided `f32` matrix of a flex tensor.
    pub struct Operand<'a> {
        data: &'a [f32],
        offset: usize,
        pub rows: usize,
        pub cols: usize,
        row_stride: isize,
        col_stride: isize,
    }

    impl<'a> Operand<'a> {
        /// The matrix of a 2-D `f32` tensor with non-negative strides (any other goes to
        /// flex's own matmul).
        pub fn of(t: &'a FlexTensor) -> Option<Self> {
            let layout = t.layout();
            let (&[rows, cols], &[row_stride, col_stride]) =
                (layout.shape().as_slice(), layout.strides())
            else {
                return None;
            };
            (t.dtype() == DType::F32 && row_stride >= 0 && col_stride >= 0).then(|| Operand {
                data: t.storage::<f32>(),
                offset: layout.start_offset(),
                rows,
                cols,
                row_stride,
                col_stride,
            })
        }

        /// The sub-matrix of rows `r0..r1` and columns `c0..c1` (bounds checked here, so the
        /// pointer arithmetic below stays inside `data`).
        fn block(&self, (r0, r1): (usize, usize), (c0, c1): (usize, usize)) -> Operand<'a> {
            assert!(r0 <= r1 && r1 <= self.rows && c0 <= c1 && c1 <= self.cols);
            Operand {
                data: self.data,
                offset: self.offset + r0 * self.row_stride as usize + c0 * self.col_stride as usize,
                rows: r1 - r0,
                cols: c1 - c0,
                row_stride: self.row_stride,
                col_stride: self.col_stride,
            }
        }

        /// Whether every element the strides reach lies inside `data`.
        fn in_bounds(&self) -> bool {
            if self.rows == 0 || self.cols == 0 {
                return self.offset <= self.data.len();
            }
            let last = self.offset
                + (self.rows - 1) * self.row_stride as usize
                + (self.cols - 1) * self.col_stride as usize;
            last < self.data.len()
        }
    }

    /// Products below this many multiply-adds run on one thread (~128³: scheduling would
    /// cost more than it saves).
    const PARALLEL_WORK: usize = 1 << 21;

    /// `lhs · rhs`, row-major `[lhs.rows, rhs.cols]`.
    pub fn product(lhs: &Operand, rhs: &Operand) -> Vec<f32> {
        let (m, k, n) = (lhs.rows, lhs.cols, rhs.cols);
        assert_eq!(k, rhs.rows, "matmul: inner dimensions differ");
        assert!(
            lhs.in_bounds() && rhs.in_bounds(),
            "matmul: strides outside the tensor"
        );
        let mut out = Vec::with_capacity(m * n);
        let dst = &mut out.spare_capacity_mut()[..m * n];
        if k == 0 {
            // gemm writes nothing for an empty inner dimension; the product is zeros.
            dst.fill(MaybeUninit::new(0.0));
        } else {
            let out_ptr = Dst(dst.as_mut_ptr().cast::<f32>());
            let threads = threads();
            if threads == 1 || m * n * k < PARALLEL_WORK {
                // SAFETY: `dst` holds m x n elements, the operands were bounds-checked.
                unsafe { gemm_into(out_ptr, n, lhs, rhs) };
            } else if n >= m {
                let blocks = split(n, threads, 16);
                for_each_block(&blocks, |(c0, c1)| {
                    // SAFETY: column blocks of `dst` are disjoint; they start at column c0.
                    let block_out = unsafe { out_ptr.add(c0) };
                    let rhs = rhs.block((0, k), (c0, c1));
                    unsafe { gemm_into(block_out, n, lhs, &rhs) }
                });
            } else {
                let blocks = split(m, threads, 64);
                for_each_block(&blocks, |(r0, r1)| {
                    // SAFETY: row blocks of `dst` are disjoint; they start at row r0.
                    let block_out = unsafe { out_ptr.add(r0 * n) };
                    let lhs = lhs.block((r0, r1), (0, k));
                    unsafe { gemm_into(block_out, n, &lhs, rhs) }
                });
            }
        }
        // SAFETY: gemm (or the fill) wrote all m x n elements.
        unsafe { out.set_len(m * n) };
        out
    }

    /// A pointer into the output that the blocks, each writing its own part, share.
    #[derive(Clone, Copy)]
    struct Dst(*mut f32);
    // SAFETY: the blocks write disjoint parts of the output.
    unsafe impl Send for Dst {}
    unsafe impl Sync for Dst {}

    impl Dst {
        /// # Safety
        /// `offset` must stay inside the output.
        unsafe fn add(self, offset: usize) -> Dst {
            Dst(unsafe { self.0.add(offset) })
        }
    }

    /// `dst[lhs.rows, rhs.cols]` (row stride `ld`) = `lhs · rhs` on this thread.
    ///
    /// # Safety
    /// `dst` must be valid for writes of that block; the operands must be in bounds.
    unsafe fn gemm_into(dst: Dst, ld: usize, lhs: &Operand, rhs: &Operand) {
        unsafe {
            gemm::gemm(
                lhs.rows,
                rhs.cols,
                lhs.cols,
                dst.0,
                1,
                ld as isize,
                // read_dst false: alpha is ignored and dst only written.
                false,
                lhs.data.as_ptr().add(lhs.offset),
                lhs.col_stride,
                lhs.row_stride,
                rhs.data.as_ptr().add(rhs.offset),
                rhs.col_stride,
                rhs.row_stride,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        }
    }

    /// `0..len` cut into up to `parts` ranges whose starts are multiples of `align`.
    fn split(len: usize, parts: usize, align: usize) -> Vec<(usize, usize)> {
        let step = len.div_ceil(parts).div_ceil(align) * align;
        (0..len)
            .step_by(step.max(1))
            .map(|start| (start, (start + step).min(len)))
            .collect()
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn threads() -> usize {
        rayon::current_num_threads()
    }

    #[cfg(target_arch = "wasm32")]
    fn threads() -> usize {
        1
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn for_each_block(blocks: &[(usize, usize)], f: impl Fn((usize, usize)) + Sync) {
        use rayon::prelude::*;
        blocks.par_iter().for_each(|&b| f(b));
    }

    #[cfg(target_arch = "wasm32")]
    fn for_each_block(blocks: &[(usize, usize)], f: impl Fn((usize, usize)) + Sync) {
        blocks.iter().for_each(|&b| f(b));
    }
}

/// The operations composed from burn's: the GPU backends' implementation, flex's for
/// dtypes other than `f32`, and the reference the kernels are tested against.
mod composed {
    use super::*;

    pub fn swiglu<B: Backend>(gate: FloatTensor<B>, up: FloatTensor<B>) -> FloatTensor<B> {
        let silu = B::float_mul(gate.clone(), B::sigmoid(gate));
        B::float_mul(silu, up)
    }

    pub fn masked_softmax<B: Backend>(
        scores: FloatTensor<B>,
        mask: BoolTensor<B>,
    ) -> FloatTensor<B> {
        let last = scores.shape().num_dims() - 1;
        B::softmax(
            B::float_mask_fill(scores, mask, f32::NEG_INFINITY.into()),
            last,
        )
    }

    pub fn softmax_backward<B: Backend>(
        probs: FloatTensor<B>,
        grad: FloatTensor<B>,
    ) -> FloatTensor<B> {
        let last = probs.shape().num_dims() - 1;
        let spread = B::float_sum_dim(B::float_mul(probs.clone(), grad.clone()), last);
        B::float_mul(probs, B::float_sub(grad, spread))
    }

    /// `cat(-x₂, x₁)` over the halves of the last dimension.
    fn rotate_half<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
        let rank = x.shape().num_dims();
        let half = x.shape()[rank - 1] / 2;
        let narrow = |x, start: usize| {
            let mut slices = vec![Slice::new(0, None, 1); rank];
            slices[rank - 1] = Slice::new(start as isize, Some((start + half) as isize), 1);
            B::float_slice(x, &slices)
        };
        let second = B::float_neg(narrow(x.clone(), half));
        B::float_cat(vec![second, narrow(x, 0)], rank - 1)
    }

    pub fn rope<B: Backend>(
        x: FloatTensor<B>,
        cos: FloatTensor<B>,
        sin: FloatTensor<B>,
    ) -> FloatTensor<B> {
        let rotated = B::float_mul(rotate_half::<B>(x.clone()), sin);
        B::float_add(B::float_mul(x, cos), rotated)
    }

    /// `rotate_half`'s transpose is `-rotate_half`.
    pub fn rope_backward<B: Backend>(
        grad: FloatTensor<B>,
        cos: FloatTensor<B>,
        sin: FloatTensor<B>,
    ) -> FloatTensor<B> {
        let rotated = rotate_half::<B>(B::float_mul(grad.clone(), sin));
        B::float_sub(B::float_mul(grad, cos), rotated)
    }

    /// `1 / sqrt(mean(x²) + eps)` over the last dimension (kept, of size 1).
    fn inverse_rms<B: Backend>(x: FloatTensor<B>, eps: f64) -> FloatTensor<B> {
        let last = x.shape().num_dims() - 1;
        let mean_square = B::float_mean_dim(B::float_mul(x.clone(), x), last);
        B::float_recip(B::float_sqrt(B::float_add_scalar(mean_square, eps.into())))
    }

    /// `weight` as a tensor of `x`'s rank: leading dimensions of size 1.
    fn broadcast_weight<B: Backend>(weight: FloatTensor<B>, x: &FloatTensor<B>) -> FloatTensor<B> {
        let rank = x.shape().num_dims();
        let mut dims = vec![1; rank];
        dims[rank - 1] = weight.shape().num_elements();
        B::float_reshape(weight, dims.into())
    }

    pub fn rms_norm<B: Backend>(
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        eps: f64,
    ) -> FloatTensor<B> {
        let weight = broadcast_weight::<B>(weight, &x);
        let normed = B::float_mul(x.clone(), inverse_rms::<B>(x, eps));
        B::float_mul(normed, weight)
    }

    /// With `r = 1 / rms(x)`, `gw = grad ⊙ weight`: `dx = r gw - r³ x Σ(gw ⊙ x) / n`.
    pub fn rms_norm_backward<B: Backend>(
        x: FloatTensor<B>,
        weight: FloatTensor<B>,
        grad: FloatTensor<B>,
        eps: f64,
    ) -> FloatTensor<B> {
        let last = x.shape().num_dims() - 1;
        let n = x.shape()[last] as f64;
        let r = inverse_rms::<B>(x.clone(), eps);
        let gw = B::float_mul(grad, broadcast_weight::<B>(weight, &x));
        let dot = B::float_sum_dim(B::float_mul(gw.clone(), x.clone()), last);
        let r3 = B::float_mul(B::float_mul(r.clone(), r.clone()), r.clone());
        let coef = B::float_mul_scalar(B::float_mul(r3, dot), (1.0 / n).into());
        B::float_sub(B::float_mul(gw, r), B::float_mul(x, coef))
    }

    /// The weight's gradient: `Σ grad ⊙ x / rms(x)` over every dimension but the last.
    pub fn rms_norm_weight_grad<B: Backend>(
        x: FloatTensor<B>,
        grad: FloatTensor<B>,
        eps: f64,
    ) -> FloatTensor<B> {
        let hidden = x.shape()[x.shape().num_dims() - 1];
        let rows = x.shape().num_elements() / hidden;
        let normed = B::float_mul(x.clone(), inverse_rms::<B>(x, eps));
        let rows = B::float_reshape(B::float_mul(grad, normed), [rows, hidden].into());
        B::float_reshape(B::float_sum_dim(rows, 0), [hidden].into())
    }

    /// `d_up = grad * silu(g)`, `d_gate = grad * up * silu'(g)` with
    /// `silu'(g) = s + silu(g) * (1 - s)`, `s = sigmoid(g)`.
    pub fn swiglu_backward<B: Backend>(
        gate: FloatTensor<B>,
        up: FloatTensor<B>,
        grad: FloatTensor<B>,
    ) -> (FloatTensor<B>, FloatTensor<B>) {
        let s = B::sigmoid(gate.clone());
        let silu = B::float_mul(gate, s.clone());
        let d_silu = B::float_add(
            s.clone(),
            B::float_sub(silu.clone(), B::float_mul(silu.clone(), s)),
        );
        let d_up = B::float_mul(grad.clone(), silu);
        let d_gate = B::float_mul(B::float_mul(grad, up), d_silu);
        (d_gate, d_up)
    }
}

/// flex's kernels: plain loops over slices, written so that the compiler vectorises them
/// (no branches, no calls), compiled once per x86 SIMD level and picked at run time.
mod cpu {
    use std::mem::MaybeUninit;

    /// Each `pub fn` runs its `#[inline(always)]` body compiled for AVX-512 or AVX2 when the
    /// CPU has them, else for the build's baseline (SSE2; wasm's SIMD128 where enabled).
    macro_rules! multiversion {
        ($(pub fn $name:ident($($arg:ident: $ty:ty),*) => $body:ident;)*) => {$(
            pub fn $name($($arg: $ty),*) {
                #[cfg(target_arch = "x86_64")]
                {
                    #[target_feature(enable = "avx512f")]
                    fn avx512($($arg: $ty),*) {
                        $body($($arg),*)
                    }
                    #[target_feature(enable = "avx2")]
                    fn avx2($($arg: $ty),*) {
                        $body($($arg),*)
                    }
                    if std::arch::is_x86_feature_detected!("avx512f") {
                        // SAFETY: the CPU has AVX-512F.
                        return unsafe { avx512($($arg),*) };
                    }
                    if std::arch::is_x86_feature_detected!("avx2") {
                        // SAFETY: the CPU has AVX2.
                        return unsafe { avx2($($arg),*) };
                    }
                }
                $body($($arg),*)
            }
        )*};
    }

    multiversion! {
        pub fn swiglu(g: &[f32], u: &[f32], out: &mut [MaybeUninit<f32>]) => swiglu_body;
        pub fn swiglu_backward(
            g: &[f32],
            u: &[f32],
            dy: &[f32],
            d_gate: &mut [MaybeUninit<f32>],
            d_up: &mut [MaybeUninit<f32>]
        ) => swiglu_backward_body;
        pub fn masked_softmax_row(x: &[f32], mask: &[u8], out: &mut [MaybeUninit<f32>])
            => masked_softmax_row_body;
        pub fn softmax_row(x: &[f32], out: &mut [MaybeUninit<f32>]) => softmax_row_body;
        pub fn rope_row(x: &[f32], c: &[f32], s: &[f32], out: &mut [MaybeUninit<f32>])
            => rope_row_body;
        pub fn rope_backward_row(g: &[f32], c: &[f32], s: &[f32], out: &mut [MaybeUninit<f32>])
            => rope_backward_row_body;
        pub fn softmax_backward_row(p: &[f32], g: &[f32], out: &mut [MaybeUninit<f32>])
            => softmax_backward_row_body;
        pub fn rms_norm_row(x: &[f32], w: &[f32], eps: f32, out: &mut [MaybeUninit<f32>])
            => rms_norm_row_body;
        pub fn rms_norm_backward_row(
            x: &[f32],
            w: &[f32],
            g: &[f32],
            eps: f32,
            out: &mut [MaybeUninit<f32>]
        ) => rms_norm_backward_row_body;
    }

    /// `y₁ = x₁ c₁ - x₂ s₁`, `y₂ = x₂ c₂ + x₁ s₂` over the halves of the row.
    #[inline(always)]
    fn rope_row_body(x: &[f32], c: &[f32], s: &[f32], out: &mut [MaybeUninit<f32>]) {
        let h = out.len() / 2;
        let (out1, out2) = out.split_at_mut(h);
        let (x1, x2) = (&x[..h], &x[h..2 * h]);
        let (c1, c2, s1, s2) = (&c[..h], &c[h..2 * h], &s[..h], &s[h..2 * h]);
        for i in 0..h {
            out1[i].write(x1[i] * c1[i] - x2[i] * s1[i]);
            out2[i].write(x2[i] * c2[i] + x1[i] * s2[i]);
        }
    }

    /// The transpose: `dx₁ = g₁ c₁ + g₂ s₂`, `dx₂ = g₂ c₂ - g₁ s₁`.
    #[inline(always)]
    fn rope_backward_row_body(g: &[f32], c: &[f32], s: &[f32], out: &mut [MaybeUninit<f32>]) {
        let h = out.len() / 2;
        let (out1, out2) = out.split_at_mut(h);
        let (g1, g2) = (&g[..h], &g[h..2 * h]);
        let (c1, c2, s1, s2) = (&c[..h], &c[h..2 * h], &s[..h], &s[h..2 * h]);
        for i in 0..h {
            out1[i].write(g1[i] * c1[i] + g2[i] * s2[i]);
            out2[i].write(g2[i] * c2[i] - g1[i] * s1[i]);
        }
    }

    /// `1 / sqrt(mean(x²) + eps)`.
    #[inline(always)]
    fn inverse_rms(x: &[f32], eps: f32) -> f32 {
        let sum_of_squares = reduce((x, x, x), 0.0, |x, _, _| x * x, add);
        1.0 / (sum_of_squares / x.len() as f32 + eps).sqrt()
    }

    #[inline(always)]
    fn rms_norm_row_body(x: &[f32], w: &[f32], eps: f32, out: &mut [MaybeUninit<f32>]) {
        let n = out.len();
        let (x, w) = (&x[..n], &w[..n]);
        let r = inverse_rms(x, eps);
        for (i, out) in out.iter_mut().enumerate() {
            out.write(x[i] * r * w[i]);
        }
    }

    /// `dx = r gw - r³ x Σ(gw ⊙ x) / n`, `gw = g ⊙ w`, `r = 1 / rms(x)`.
    #[inline(always)]
    fn rms_norm_backward_row_body(
        x: &[f32],
        w: &[f32],
        g: &[f32],
        eps: f32,
        out: &mut [MaybeUninit<f32>],
    ) {
        let n = out.len();
        let (x, w, g) = (&x[..n], &w[..n], &g[..n]);
        let r = inverse_rms(x, eps);
        let coef = r * r * r * reduce((g, w, x), 0.0, |g, w, x| g * w * x, add) / n as f32;
        for (i, out) in out.iter_mut().enumerate() {
            out.write(r * g[i] * w[i] - x[i] * coef);
        }
    }

    /// Lanes of the reductions' partial results: a multiple of every SIMD width, so the
    /// compiler keeps them in vector registers (a single running sum would be sequential).
    const LANES: usize = 16;

    /// `x` with its masked elements (mask byte not 0) at -inf.
    #[inline(always)]
    fn unmasked(x: f32, mask: u8) -> f32 {
        if mask != 0 { f32::NEG_INFINITY } else { x }
    }

    /// The `op`-reduction (`init` for none) of `f(a[i], b[i], c[i])` over `i`, in [`LANES`]
    /// partial results: whole chunks of the slices, so that the compiler sees fixed-length,
    /// bounds-check-free inner loops.
    #[inline(always)]
    fn reduce<A: Copy, B: Copy, C: Copy>(
        (a, b, c): (&[A], &[B], &[C]),
        init: f32,
        f: impl Fn(A, B, C) -> f32,
        op: impl Fn(f32, f32) -> f32,
    ) -> f32 {
        let (a, b, c) = (
            a.chunks_exact(LANES),
            b.chunks_exact(LANES),
            c.chunks_exact(LANES),
        );
        let tail = a.remainder().iter().zip(b.remainder()).zip(c.remainder());
        let tail = tail.fold(init, |s, ((&x, &y), &z)| op(s, f(x, y, z)));
        let mut acc = [init; LANES];
        for ((a, b), c) in a.zip(b).zip(c) {
            for (((acc, &x), &y), &z) in acc.iter_mut().zip(a).zip(b).zip(c) {
                *acc = op(*acc, f(x, y, z));
            }
        }
        acc.into_iter().fold(tail, op)
    }

    fn add(a: f32, b: f32) -> f32 {
        a + b
    }

    fn max(a: f32, b: f32) -> f32 {
        if b > a { b } else { a }
    }

    #[inline(always)]
    fn masked_softmax_row_body(x: &[f32], mask: &[u8], out: &mut [MaybeUninit<f32>]) {
        softmax_row_with(x, mask, unmasked, out)
    }

    #[inline(always)]
    fn softmax_row_body(x: &[f32], out: &mut [MaybeUninit<f32>]) {
        softmax_row_with(x, x, |v, _| v, out)
    }

    /// The softmax of `value(x[i], mask[i])`.
    #[inline(always)]
    fn softmax_row_with<M: Copy>(
        x: &[f32],
        mask: &[M],
        value: impl Fn(f32, M) -> f32,
        out: &mut [MaybeUninit<f32>],
    ) {
        let n = out.len();
        let (x, mask) = (&x[..n], &mask[..n]);
        let top = reduce(
            (x, mask, mask),
            f32::NEG_INFINITY,
            |v, m, _| value(v, m),
            max,
        );
        let shifted = |v, m| exp(value(v, m) - top);
        let inv = 1.0 / reduce((x, mask, mask), 0.0, |v, m, _| shifted(v, m), add);
        for ((out, &v), &m) in out.iter_mut().zip(x).zip(mask) {
            out.write(shifted(v, m) * inv);
        }
    }

    #[inline(always)]
    fn softmax_backward_row_body(p: &[f32], g: &[f32], out: &mut [MaybeUninit<f32>]) {
        let n = out.len();
        let (p, g) = (&p[..n], &g[..n]);
        let dot = reduce((p, g, g), 0.0, |p, g, _| p * g, add);
        for i in 0..n {
            out[i].write(p[i] * (g[i] - dot));
        }
    }

    #[inline(always)]
    fn swiglu_body(g: &[f32], u: &[f32], out: &mut [MaybeUninit<f32>]) {
        let n = out.len();
        let (g, u) = (&g[..n], &u[..n]);
        for i in 0..n {
            let x = g[i];
            out[i].write(x * sigmoid(x) * u[i]);
        }
    }

    #[inline(always)]
    fn swiglu_backward_body(
        g: &[f32],
        u: &[f32],
        dy: &[f32],
        d_gate: &mut [MaybeUninit<f32>],
        d_up: &mut [MaybeUninit<f32>],
    ) {
        let n = d_gate.len();
        let (g, u, dy, d_up) = (&g[..n], &u[..n], &dy[..n], &mut d_up[..n]);
        for i in 0..n {
            let x = g[i];
            let s = sigmoid(x);
            let silu = x * s;
            d_up[i].write(dy[i] * silu);
            d_gate[i].write(dy[i] * u[i] * (s + silu * (1.0 - s)));
        }
    }

    #[inline(always)]
    pub(super) fn sigmoid(x: f32) -> f32 {
        1.0 / (1.0 + exp(-x))
    }

    /// `e^x` within 2 ulp for `x` in [-87, 88]; 0 below (where `e^x` < 1.7e-38, -inf
    /// included) and `e^88` above: only [`sigmoid`] and softmax use it, where either changes
    /// nothing within f32's precision.
    /// Cephes' `expf`: `x = n ln2 + r`, `|r| <= ln2 / 2`, a degree-6 polynomial for `e^r`,
    /// `2^n` built from its exponent bits. Rounding to `n` adds and subtracts 1.5 * 2^23, so
    /// the loop has no call to vectorise around.
    #[inline(always)]
    pub(super) fn exp(x: f32) -> f32 {
        const SHIFT: f32 = 12_582_912.0; // 1.5 * 2^23
        let underflow = x < -87.0;
        let x = x.clamp(-87.0, 88.0);
        let shifted = x * std::f32::consts::LOG2_E + SHIFT;
        let n = shifted - SHIFT;
        let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
        let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2)
            * r
            + 1.666_666_5e-1)
            * r
            + 0.5;
        let e_r = p * r * r + r + 1.0;
        let two_n = f32::from_bits(
            ((shifted.to_bits() as i32 - SHIFT.to_bits() as i32 + 127) << 23) as u32,
        );
        if underflow { 0.0 } else { e_r * two_n }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData, Tolerance};

    fn sample(n: usize, seed: u32) -> Vec<f32> {
        // Spans sigmoid's saturated tails as well as its middle.
        (0..n as u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) % 20_000) as f32 / 1000.0 - 10.0)
            .collect()
    }

    /// A tensor of `shape` with [`sample`]'s values on the CPU with autodiff.
    fn sampled<const D: usize>(shape: [usize; D], seed: u32) -> Tensor<D> {
        let values = sample(shape.iter().product(), seed);
        Tensor::from_data(TensorData::new(values, shape), &Device::flex().autodiff())
    }

    #[test]
    fn exp_is_within_two_ulp_of_std_and_flushes_or_clamps_outside_its_range() {
        let mut x = -87.0f32;
        while x <= 88.0 {
            let (ours, std) = (cpu::exp(x), x.exp());
            assert!(
                (ours - std).abs() <= 2.0 * (std * f32::EPSILON),
                "exp({x}): {ours} vs {std}"
            );
            x += 0.013;
        }
        assert_eq!(cpu::exp(-87.5), 0.0);
        assert_eq!(cpu::exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(cpu::exp(1000.0), cpu::exp(88.0));
        assert!(cpu::sigmoid(-1000.0) >= 0.0 && cpu::sigmoid(1000.0) == 1.0);
    }

    /// flex's matrix product (forward, and both gradients through autodiff) against burn's
    /// matmul: on one thread, split in column blocks (wide) and in row blocks (tall), with
    /// operands that are transposed views, and with an empty inner dimension.
    #[test]
    fn flex_matmul_equals_burns_forward_and_backward() {
        // Three threads: uneven blocks, whatever the machine has.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        let scaled = |shape: [usize; 2], seed| sampled(shape, seed) * 0.1;
        // (m, k, n, a given as a transposed view, b given as a transposed view)
        let cases = [
            (5, 7, 3, false, false),
            (130, 150, 301, false, true),
            (300, 150, 130, true, false),
            (3, 0, 4, false, false),
        ];
        for (m, k, n, a_t, b_t) in cases {
            let a = match a_t {
                true => scaled([k, m], 1).transpose(),
                false => scaled([m, k], 1),
            }
            .require_grad();
            let b = match b_t {
                true => scaled([n, k], 2).transpose(),
                false => scaled([k, n], 2),
            }
            .require_grad();
            let weight = scaled([m, n], 3);
            let run = |fused: bool| {
                let out = match fused {
                    true => pool.install(|| matmul(a.clone(), b.clone())),
                    false => a.clone().matmul(b.clone()),
                };
                let grads = pool.install(|| (out.clone() * weight.clone()).sum().backward());
                let [da, db] = [&a, &b].map(|t| t.grad(&grads).map(|g| g.to_data()));
                (out.to_data(), da, db)
            };
            let (ours, theirs) = (run(true), run(false));
            let tolerance = Tolerance::rel_abs(1e-5, 1e-5);
            let case = format!("[{m}, {k}] x [{k}, {n}]");
            ours.0.assert_approx_eq::<f32>(&theirs.0, tolerance);
            for (ours, theirs) in [(ours.1, theirs.1), (ours.2, theirs.2)] {
                let (ours, theirs) = (ours.expect(&case), theirs.expect(&case));
                ours.assert_approx_eq::<f32>(&theirs, tolerance);
            }
        }
    }

    /// flex's kernels (forward, and backward through autodiff) against the same computation
    /// composed from burn's ops, on a tensor of several parallel chunks.
    #[test]
    fn flex_kernels_equal_the_composed_ops_forward_and_backward() {
        let shape = [3, 7, CHUNK / 8 + 5];
        let [gate, up, weight] = [1, 2, 3].map(|seed| sampled(shape, seed).require_grad());

        let fused = swiglu(gate.clone(), up.clone());
        let reference = burn::tensor::activation::silu(gate.clone()) * up.clone();
        fused
            .to_data()
            .assert_approx_eq::<f32>(&reference.to_data(), Tolerance::rel_abs(1e-5, 1e-6));

        let grads_of = |out: Tensor<3>| {
            let grads = (out * weight.clone()).sum().backward();
            (gate.grad(&grads).unwrap(), up.grad(&grads).unwrap())
        };
        let (dg, du) = grads_of(fused);
        let (dg_ref, du_ref) = grads_of(reference);
        dg.to_data()
            .assert_approx_eq::<f32>(&dg_ref.to_data(), Tolerance::rel_abs(1e-5, 1e-6));
        du.to_data()
            .assert_approx_eq::<f32>(&du_ref.to_data(), Tolerance::rel_abs(1e-5, 1e-6));
    }

    /// flex's softmax, and its masked softmax (forward, and backward through autodiff) against
    /// burn's softmax of the scores with the masked positions at -inf, with a mask shared by
    /// the heads (several rows per parallel chunk) and with one per head.
    #[test]
    fn flex_softmax_and_masked_softmax_equal_burns_softmax_forward_and_backward() {
        let device = Device::flex().autodiff();
        let [b, h, q, k] = [2, 3, 37, 41];
        let scores = sampled([b, h, q, k], 4).require_grad();
        let weight = sampled([b, h, q, k], 5);
        for heads in [1, h] {
            // Causal, plus some keys of the first batch entry; never the diagonal.
            let mask: Vec<bool> = (0..b * heads * q * k)
                .map(|i| {
                    let (qi, ki, bi) = (i / k % q, i % k, i / (heads * q * k));
                    ki > qi || (bi == 0 && ki % 5 == 1 && ki != qi)
                })
                .collect();
            let mask =
                Tensor::<4, Bool>::from_data(TensorData::new(mask, [b, heads, q, k]), &device);

            let fused = masked_softmax(scores.clone(), mask.clone());
            if heads == 1 {
                let plain = row_softmax(scores.clone().without_autodiff());
                let reference = burn::tensor::activation::softmax(scores.clone(), 3);
                let tolerance = Tolerance::rel_abs(1e-5, 1e-7);
                plain
                    .to_data()
                    .assert_approx_eq::<f32>(&reference.to_data(), tolerance);
            }
            let reference = burn::tensor::activation::softmax(
                scores.clone().mask_fill(mask.clone(), f32::NEG_INFINITY),
                3,
            );
            let tolerance = Tolerance::rel_abs(1e-5, 1e-7);
            fused
                .to_data()
                .assert_approx_eq::<f32>(&reference.to_data(), tolerance);
            let masked = fused.clone().mask_fill(mask.bool_not(), 0.0).abs().max();
            assert_eq!(
                masked.into_scalar::<f32>(),
                0.0,
                "masked positions have probability 0"
            );

            // `p ⊙ (g - Σ p ⊙ g)` cancels (g and its sum are up to 10 here), so two orders of
            // summing agree to f32 rounding at that scale, not relative to the result.
            let grad_of = |out: Tensor<4>| {
                scores
                    .grad(&(out * weight.clone()).sum().backward())
                    .unwrap()
            };
            grad_of(fused)
                .to_data()
                .assert_approx_eq::<f32>(&grad_of(reference).to_data(), Tolerance::absolute(1e-5));
        }
    }

    /// flex's RMS norm (forward, and backward through autodiff to the input and to the weight)
    /// against the composition of burn's ops the model used before.
    #[test]
    fn flex_rms_norm_equals_burns_composition_forward_and_backward() {
        let [b, t, h] = [3, 5, CHUNK / 16 + 3];
        let x = sampled([b, t, h], 6).require_grad();
        let weight = sampled([h], 7).require_grad();
        let upstream = sampled([b, t, h], 8);
        let eps = 1e-5;

        let fused = rms_norm(x.clone(), weight.clone(), eps);
        let variance = x.clone().square().mean_dim(2);
        let reference =
            x.clone() * (variance + eps).sqrt().recip() * weight.clone().unsqueeze::<3>();
        let tolerance = Tolerance::rel_abs(1e-5, 1e-6);
        fused
            .to_data()
            .assert_approx_eq::<f32>(&reference.to_data(), tolerance);

        let grads_of = |out: Tensor<3>| {
            let grads = (out * upstream.clone()).sum().backward();
            (x.grad(&grads).unwrap(), weight.grad(&grads).unwrap())
        };
        let ((dx, dw), (dx_ref, dw_ref)) = (grads_of(fused), grads_of(reference));
        dx.to_data()
            .assert_approx_eq::<f32>(&dx_ref.to_data(), Tolerance::absolute(1e-5));
        dw.to_data()
            .assert_approx_eq::<f32>(&dw_ref.to_data(), Tolerance::rel_abs(1e-4, 1e-4));
    }

    /// flex's rotary embedding (forward, and backward through autodiff) against the
    /// `x ⊙ cos + rotate_half(x) ⊙ sin` of burn's ops, with one table for the batch and one
    /// per batch entry.
    #[test]
    fn flex_rope_equals_burns_composition_forward_and_backward() {
        let device = Device::flex().autodiff();
        let [b, t, h, d] = [2, 9, 5, 16];
        let x = sampled([b, t, h, d], 9).require_grad();
        let upstream = sampled([b, t, h, d], 10);
        for tables in [1, b] {
            let table = |seed| {
                let values = sample(tables * t * d, seed)
                    .into_iter()
                    .map(f32::sin)
                    .collect();
                Tensor::<4>::from_data(TensorData::new(values, [tables, t, 1, d]), &device)
            };
            let (cos, sin) = (table(11), table(12));
            let fused = rope(x.clone(), &cos, &sin);
            let halves = x.clone().split(d / 2, 3);
            let rotated = Tensor::cat(vec![halves[1].clone().neg(), halves[0].clone()], 3);
            let reference = x.clone() * cos.clone() + rotated * sin.clone();
            let tolerance = Tolerance::rel_abs(1e-5, 1e-6);
            fused
                .to_data()
                .assert_approx_eq::<f32>(&reference.to_data(), tolerance);

            let grad_of =
                |out: Tensor<4>| x.grad(&(out * upstream.clone()).sum().backward()).unwrap();
            grad_of(fused)
                .to_data()
                .assert_approx_eq::<f32>(&grad_of(reference).to_data(), tolerance);
        }
    }
}
