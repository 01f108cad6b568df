import * as tf from '@tensorflow/tfjs';
import { attentionWithCustomGrad, type AttentionBody } from './attention-grad.js';
import { ATTENTION, ATTENTION_GRAD, forgetPackedWeights, GELU, GELU_GRAD, LAYER_NORM, LAYER_NORM_GRAD, NATIVE, nativeKernels, soleOwner, tensorValues } from './native-backend.js';

/*
 * Fused ops with their own backward kernels, for the `native` backend. The layers call them only when
 * `fusedAvailable()` (the native backend is the active one); on every other backend they keep their
 * composite TensorFlow.js ops. Each op is a tf.customGrad whose forward and backward are single
 * kernels (registered in native-backend.ts), so autodiff records one tape node per op instead of ~10.
 */

/** True when the active backend is `native` (fused kernels registered). */
export function fusedAvailable(): boolean {
  return tf.getBackend() === NATIVE && nativeKernels() !== undefined;
}

const run = (name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, number | boolean> = {}) =>
  tf.engine().runKernel(name, inputs as never, attrs as never) as unknown as tf.Tensor | tf.Tensor[];

/** LayerNorm over the last axis: (x − mean)/√(var + eps)·w + b, biased variance (torch). */
export function fusedLayerNorm(x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  const op = tf.customGrad(((xs: tf.Tensor, ws: tf.Tensor, bs: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, mean, rstd] = run(LAYER_NORM, { x: xs, w: ws, b: bs }, { eps }) as tf.Tensor[];
    save([xs, ws, mean!, rstd!]);
    return {
      value: y!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw, sm, sr] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        return run(LAYER_NORM_GRAD, { dy, x: sx, w: sw, mean: sm, rstd: sr }) as tf.Tensor[];
      },
    };
  }) as never) as unknown as (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor;
  return op(x, w, b);
}

const GELU_CODES = { erf: 0, tanh: 1, quick: 2 } as const;

/** GELU (`erf` exact, `tanh` approximation, `quick` x·σ(1.702x)) with a fused backward. */
export function fusedGelu(x: tf.Tensor, kind: keyof typeof GELU_CODES): tf.Tensor {
  const code = GELU_CODES[kind];
  const op = tf.customGrad(((xs: tf.Tensor, save: tf.GradSaveFunc) => {
    save([xs]);
    return {
      value: run(GELU, { x: xs }, { kind: code }) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [run(GELU_GRAD, { x: saved[0]!, dy }, { kind: code }) as tf.Tensor],
    };
  }) as never) as unknown as (x: tf.Tensor) => tf.Tensor;
  return op(x);
}

/**
 * Multi-head self-attention core from the fused projection qkv [B, N, 3D] (columns q|k|v, each
 * head-major) → the merged heads [B, N, D] (before the output projection): softmax(QKᵀ/√Dh + masks)·V
 * with the same −1e9 masking as MultiHeadAttention. keyMask [B, N] float (1 keep, 0 pad).
 */
export function fusedSelfAttention(qkv: tf.Tensor, heads: number, keyMask: tf.Tensor | undefined, causal: boolean): tf.Tensor {
  const body: AttentionBody = (qs, ms, save) => {
    const [y, stats] = run(ATTENTION, ms ? { qkv: qs, mask: ms } : { qkv: qs }, { heads, causal }) as tf.Tensor[];
    save(ms ? [qs, stats!, ms] : [qs, stats!]);
    return {
      value: y!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [q, st, m] = saved;
        const dqkv = run(ATTENTION_GRAD, m ? { dy, qkv: q!, stats: st!, mask: m } : { dy, qkv: q!, stats: st! }, { heads, causal }) as tf.Tensor;
        return ms ? [dqkv, tf.zerosLike(ms)] : [dqkv];
      },
    };
  };
  return attentionWithCustomGrad(body, qkv, keyMask);
}

export interface AdamWHyper {
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** 1 − lr·wd for decayed parameters, 1 otherwise. */
  readonly decay: number;
  readonly bc1: number;
  readonly bc2: number;
}

/**
 * One AdamW update of p, m, v in place (one native pass instead of ~12 tensor ops). Returns false —
 * and changes nothing — when it cannot run in place: not the native backend, or a buffer shared with
 * another tensor (then the caller takes the tensor-op path).
 */
export function fusedAdamW(p: tf.Variable, g: tf.Tensor, m: tf.Variable, v: tf.Variable, h: AdamWHyper): boolean {
  const k = nativeKernels();
  if (!k || !fusedAvailable()) return false;
  const pv = tensorValues(p);
  const gv = tensorValues(g);
  const mv = tensorValues(m);
  const vv = tensorValues(v);
  if (!pv || !gv || !mv || !vv || pv.length !== gv.length || !soleOwner(p) || !soleOwner(m) || !soleOwner(v)) return false;
  forgetPackedWeights(pv);
  k.adamw(pv, gv, mv, vv, h.lr, h.beta1, h.beta2, h.eps, h.decay, h.bc1, h.bc2, 1);
  return true;
}

/** Σ g² over tensors (double accumulation) on the native backend, else undefined. */
export function fusedSumSquares(tensors: Iterable<tf.Tensor>): number | undefined {
  const k = nativeKernels();
  if (!k || !fusedAvailable()) return undefined;
  let total = 0;
  for (const t of tensors) {
    const values = tensorValues(t);
    if (!values) return undefined;
    total += k.sumSquares(values);
  }
  return total;
}
