import * as tf from '@tensorflow/tfjs';
import { envVar } from '../../env.js';
import { claimGradientSum } from '../../lean-backprop.js';
import { attentionWithCustomGrad, type AttentionBody } from '../attention-grad.js';
import type { AdamWHyper } from '../fused-ops.js';
import {
  ADAMW_OUT,
  GELU_CODES,
  WG_ATTENTION,
  WG_SUM_SQUARES,
  WG_STEP_GUARD,
  WG_PARTIALS_SUM,
  WG_COLUMN_SUM,
  WG_WEIGHT_BIAS_GRAD,
  WG_ATTENTION_GRAD,
  WG_ATTENTION_GEMM,
  WG_LINEAR_RESIDUAL,
  WG_LINEAR_GELU,
  WG_L2_NORMALIZE,
  WG_L2_NORMALIZE_GRAD,
  WG_PAIRED_CE,
  WG_PAIRED_CE_GRAD,
  WG_EMBEDDING_GRAD,
  WG_MATMUL_GELU_GRAD,
  WG_GELU,
  WG_GELU_GRAD,
  WG_LAYER_NORM,
  WG_LAYER_NORM_GRAD_PARAMS,
  WG_LAYER_NORM_GRAD_X,
  webgpuKernelsActive,
  adamWInPlace,
} from './webgpu-kernels.js';

/*
 * Fused ops for the `webgpu` backend, the counterpart of ../fused-ops.ts (native): the layers call them
 * only when `webgpuKernelsActive()`. Each is a tf.customGrad whose forward and backward are a few
 * WGSL dispatches (kernels registered in webgpu-kernels.ts) instead of ~10 elementwise ones.
 */

export { webgpuKernelsActive };
export { MAX_ATTN_HEAD_DIM, LAYER_NORM_ROWS_MAX_DIM, EMBED_MAX_TERMS } from './programs.js';

const run = (name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, number | boolean> = {}) =>
  tf.engine().runKernel(name, inputs as never, attrs as never) as unknown as tf.Tensor;
/** `run` for a kernel with two outputs (an output and what its backward keeps, or two results). */
const run2 = (name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, number | boolean> = {}) =>
  tf.engine().runKernel(name, inputs as never, attrs as never) as unknown as [tf.Tensor, tf.Tensor];

/**
 * LayerNorm over the last axis (biased variance, like torch). Forward: one dispatch, which also writes
 * the rows' mean and rstd for the backward. Backward: dx (plus the gradient x's other consumers have
 * given it so far, in the same dispatch: `claimGradientSum`), the gamma/beta partial sums over row
 * chunks, and their sums (one dispatch for both).
 */
export function webgpuLayerNorm(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  const op = tf.customGrad(((xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, stats] = run2(WG_LAYER_NORM, { x: xs, gamma: ws, beta: bs }, { eps });
    save([xs, ws, stats]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw, stats] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        return tf.tidy(() => {
          // x's gradient from its other consumers so far (a pre-LN block's residual), added in the same dispatch
          const acc = claimGradientSum(sx);
          const dx = run(WG_LAYER_NORM_GRAD_X, { dy, x: sx, gamma: sw, stats, ...(acc ? { acc } : {}) });
          const partial = run(WG_LAYER_NORM_GRAD_PARAMS, { dy, x: sx, stats }); // [2, P, D]
          const [dGamma, dBeta] = run2(WG_PARTIALS_SUM, { partial });
          return [dx, dGamma, dBeta];
        });
      },
    };
  }) as never) as unknown as (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor;
  return op(x, w, b);
}

/**
 * An embedding table's gradient: dy [P, D] summed into the rows ids [P] (int32) of a [vocab, D]
 * table, the same bits on every run and each sum correctly rounded (tf.scatterND's float atomics add
 * in a different order each run). Three dispatches a pass (one pass up to EMBED_ACC_BYTES of accumulator);
 * see embeddingGradAccumulateProgram for its limits.
 */
export function webgpuEmbeddingGrad(ids: tf.Tensor, dy: tf.Tensor, vocab: number): tf.Tensor {
  return run(WG_EMBEDDING_GRAD, { ids, dy }, { vocab });
}

/** GELU (`erf` exact, `tanh` approximation, `quick` x·σ(1.702x)), one dispatch each way. */
export function webgpuGelu(x: tf.Tensor, kind: keyof typeof GELU_CODES): tf.Tensor {
  const code = GELU_CODES[kind];
  const op = tf.customGrad(((xs: tf.Tensor, save: tf.GradSaveFunc) => {
    save([xs]);
    return {
      value: run(WG_GELU, { x: xs }, { kind: code }),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [run(WG_GELU_GRAD, { x: saved[0]!, dy }, { kind: code })],
    };
  }) as never) as unknown as (x: tf.Tensor) => tf.Tensor;
  return op(x);
}

/** One parameter of a `webgpuAdamW` update: the variable, its gradient, its moments and its decay factor. */
export interface WebgpuAdamWParam {
  readonly p: tf.Variable;
  readonly g: tf.Tensor;
  readonly m: tf.Variable;
  readonly v: tf.Variable;
  readonly decay: number;
}

/**
 * One AdamW update of several parameters' p, m, v, writing the variables' own buffers
 * (`adamWInPlace`: one dispatch per group of parameters the device's storage buffers allow) instead of
 * ~12 tensor ops each. `h` holds the hyperparameters all share (its `decay` is ignored: each parameter
 * has its own). `guard` is a `webgpuStepGuard` output — the gradient is scaled by its clip factor, and
 * the update is skipped on the device when it flags a non-finite step — or [0, 1] for a plain update.
 * Returns false, changing nothing, when the webgpu kernels are not active or a parameter is not a
 * float32 variable with a gradient of its size (the caller then takes the tensor-op path).
 */
export function webgpuAdamW(params: readonly WebgpuAdamWParam[], h: Omit<AdamWHyper, 'decay'>, guard: tf.Tensor): boolean {
  if (!webgpuKernelsActive() || params.some(({ p, g }) => p.dtype !== 'float32' || g.size !== p.size)) return false;
  tf.tidy(() => adamWInPlace(params, guard, h));
  return true;
}

/**
 * The device-side step guard: [norm, scale, finite] as one [3] tensor, norm = the global norm of
 * `gradScale`·`grads` (the gradients a loss scale S made S times larger, with gradScale = 1/S),
 * scale = gradScale · the clip factor min(clipNorm / (norm + 1e-6), 1) (1 when clipNorm ≤ 0), or 0
 * when the norm or `loss` is NaN/±Inf (then finite = 0, else 1). Lets a train step go from loss to
 * update with no read-back in between (the AdamW kernel applies the scale and skips a flagged step).
 * `after`: the guard of the step before, when it may not have been read yet (a step queued while
 * another is in flight): its finite = 0 makes this scale 0 too, so nothing is applied behind a
 * non-finite step. Undefined when the webgpu kernels are not active or a gradient is empty.
 */
export function webgpuStepGuard(grads: readonly tf.Tensor[], loss: tf.Tensor, clipNorm: number, gradScale = 1, after?: tf.Tensor): tf.Tensor | undefined {
  if (!webgpuKernelsActive() || grads.length === 0 || grads.some((t) => t.size === 0)) return undefined;
  return tf.tidy(() => run(WG_STEP_GUARD, { partials: sumSquaresPartials(grads), loss: loss.reshape([1]), ...(after ? { prev: after } : {}) }, { clipNorm, gradScale }));
}

/**
 * Largest probability matrix P [B·H, N, N] (bytes, one layer) the GEMM forward keeps for the backward.
 * ViT-S at batch 128 keeps 119 MB a layer, ViT-B/16 at batch 256 477 MB; past this the flash-style
 * forward runs instead (O(N) memory: long sequences, large batches of them).
 */
export const GEMM_ATTENTION_MAX_PROBS_BYTES = 512 * 2 ** 20;

/**
 * Whether the attention forward runs as GEMMs (S = QKᵀ, softmax, P·V, P kept) rather than the
 * flash-style program: OMNITOK_WEBGPU_ATTN_FWD=gemm always, =fused or =tiled never, unset when P fits
 * GEMM_ATTENTION_MAX_PROBS_BYTES. On an H200 the GEMM forward made a ViT-S step (batch 128) 5.4 ms
 * shorter in GPU time (attention programs 24.8 → 19.2 ms: the backward needs no S and P of its own)
 * and ran 986 against 917 samples/s (bench/results/train-gpu-h200-s-attn-gemm-run5.txt).
 */
export function gemmAttentionForward(batch: number, heads: number, tokens: number): boolean {
  const mode = envVar('OMNITOK_WEBGPU_ATTN_FWD');
  if (mode === 'gemm') return true;
  if (mode) return false;
  return batch * heads * tokens * tokens * 4 <= GEMM_ATTENTION_MAX_PROBS_BYTES;
}

/**
 * Multi-head self-attention core from the fused projection qkv [B, N, 3D] → merged heads [B, N, D]
 * (before the output projection), with MultiHeadAttention's −1e9 masking: as GEMMs keeping the
 * probabilities where they fit (`gemmAttentionForward`), else flash-attention style (no [B, H, N, N]
 * tensor kept). keyMask [B, N] (1 keep, 0 pad). Head dim ≤ MAX_ATTN_HEAD_DIM.
 */
export function webgpuSelfAttention(qkv: tf.Tensor, heads: number, keyMask: tf.Tensor | undefined, causal: boolean): tf.Tensor {
  const body: AttentionBody = (qs, ms, save) => {
    const inputs: Record<string, tf.Tensor> = ms ? { qkv: qs, mask: ms } : { qkv: qs };
    if (gemmAttentionForward(qs.shape[0]!, heads, qs.shape[1]!)) {
      // S, P and O by GEMMs; P kept, so the backward skips S = QKᵀ and the probabilities
      const [out, probs] = run2(WG_ATTENTION_GEMM, inputs, { heads, causal });
      save([qs, out, probs]);
      return {
        value: out,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const dqkv = run(WG_ATTENTION_GRAD, { dy, qkv: saved[0]!, out: saved[1]!, probs: saved[2]!, ...(ms ? { mask: ms } : {}) }, { heads, causal });
          return ms ? [dqkv, tf.zerosLike(ms)] : [dqkv];
        },
      };
    }
    // one program writes the output and the rows' softmax statistics; the backward keeps both (no second pass over the keys)
    const [out, lse] = run2(WG_ATTENTION, inputs, { heads, causal }); // [B, N, D], [B·H·N, 2]
    save([qs, out, lse]);
    return {
      value: out,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const inputs: Record<string, tf.Tensor> = { dy, qkv: saved[0]!, out: saved[1]!, lse: saved[2]! };
        if (ms) inputs.mask = ms;
        const dqkv = run(WG_ATTENTION_GRAD, inputs, { heads, causal });
        return ms ? [dqkv, tf.zerosLike(ms)] : [dqkv];
      },
    };
  };
  return attentionWithCustomGrad(body, qkv, keyMask);
}

/**
 * √(Σ‖g‖²) over tensors as a scalar tensor: one dispatch per tensor into a shared buffer of partial
 * sums, then one Sum (instead of Square + Sum + Add per tensor). Undefined when the webgpu kernels are
 * not active or a tensor is empty (the caller then takes the tensor-op path).
 */
export function webgpuGlobalNorm(tensors: readonly tf.Tensor[]): tf.Scalar | undefined {
  if (!webgpuKernelsActive() || tensors.length === 0 || tensors.some((t) => t.size === 0)) return undefined;
  return tf.tidy(() => tf.sqrt(tf.sum(sumSquaresPartials(tensors))) as tf.Scalar);
}

/** The per-chunk partial sums of squares of every tensor, in one shared buffer (WG_SUM_SQUARES). */
function sumSquaresPartials(tensors: readonly tf.Tensor[]): tf.Tensor {
  return run(WG_SUM_SQUARES, Object.fromEntries(tensors.map((t, i) => [`g${i}`, t])));
}

/**
 * A linear layer's weight and bias gradients, [xᵀ·dy, Σ dy] for x [T, in], dy [T, out], from one GEMM
 * (WG_WEIGHT_BIAS_GRAD). OMNITOK_WEBGPU_BIAS_GRAD=separate: undefined (the caller then runs the GEMM
 * and the column sums separately, the previous way — kept for measuring one against the other).
 */
export function webgpuWeightBiasGrad(x: tf.Tensor2D, dy: tf.Tensor2D): [tf.Tensor, tf.Tensor] | undefined {
  if (envVar('OMNITOK_WEBGPU_BIAS_GRAD') === 'separate') return undefined;
  return run2(WG_WEIGHT_BIAS_GRAD, { x, dy });
}

/** x [M, K] · w [K, N] + b [N] + r [M, N] as one GEMM, r added in its epilogue (WG_LINEAR_RESIDUAL; float32 tensors). */
export function webgpuLinearResidual(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, r: tf.Tensor2D): tf.Tensor2D {
  return run(WG_LINEAR_RESIDUAL, { a: x, b: w, bias: b, residual: r }) as tf.Tensor2D;
}

/**
 * x [M, K] · w [K, N] + b [N] → [GELU(v), v], v = x·w + b, as one GEMM with GELU in its epilogue
 * (WG_LINEAR_GELU; float32 tensors): a linear layer followed by GELU, v kept for the backward.
 */
export function webgpuLinearGelu(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, kind: keyof typeof GELU_CODES): [tf.Tensor2D, tf.Tensor2D] {
  return run2(WG_LINEAR_GELU, { a: x, b: w, bias: b }, { kind: GELU_CODES[kind] }) as [tf.Tensor2D, tf.Tensor2D];
}

/**
 * (dy [M, N] · wᵀ, w [K, N]) ∘ GELU′(pre [M, K]) as one GEMM (WG_MATMUL_GELU_GRAD; float32 tensors):
 * the input gradient of a linear layer that a GELU feeds, carried back through that GELU.
 */
export function webgpuMatMulGeluGrad(dy: tf.Tensor2D, w: tf.Tensor2D, pre: tf.Tensor2D, kind: keyof typeof GELU_CODES): tf.Tensor2D {
  return run(WG_MATMUL_GELU_GRAD, { a: dy, b: w, pre }, { transposeB: true, kind: GELU_CODES[kind] }) as tf.Tensor2D;
}

/** x / max(‖x‖, 1e-12) along the last axis (float32, rows up to LAYER_NORM_ROWS_MAX_DIM wide): one dispatch each way. */
export function webgpuL2Normalize(x: tf.Tensor): tf.Tensor {
  const op = tf.customGrad(((xs: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, sumSq] = run2(WG_L2_NORMALIZE, { x: xs });
    save([y, sumSq]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [run(WG_L2_NORMALIZE_GRAD, { dy, y: saved[0]!, sumSq: saved[1]! })],
    };
  }) as never) as unknown as (x: tf.Tensor) => tf.Tensor;
  return op(x);
}

/**
 * ½·(mean over rows + mean over columns) of the cross-entropy of logits [n, n] (float32) against its
 * diagonal: 2 dispatches forward, 1 backward (the lines' log-sum-exps kept).
 */
export function webgpuPairedCrossEntropy(logits: tf.Tensor2D): tf.Scalar {
  const op = tf.customGrad(((l: tf.Tensor2D, save: tf.GradSaveFunc) => {
    const [loss, lse] = run2(WG_PAIRED_CE, { logits: l });
    save([l, lse]);
    return {
      value: loss.reshape([]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [run(WG_PAIRED_CE_GRAD, { logits: saved[0]!, lse: saved[1]!, dy: dy.reshape([1]) })],
    };
  }) as never) as unknown as (l: tf.Tensor2D) => tf.Scalar;
  return op(logits);
}

/** Σ over every axis but the last: x [..., C] → [C] (a bias gradient), two dispatches, no transpose. */
export function webgpuColumnSum(x: tf.Tensor): tf.Tensor {
  return run(WG_COLUMN_SUM, { x });
}
