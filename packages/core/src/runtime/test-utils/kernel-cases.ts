import * as tf from '@tensorflow/tfjs';
import { MultiHeadAttention } from '../layers/attention.js';
import { Rng } from '../rng.js';

/*
 * Scenarios the fused-kernel suites (native-backend.test.ts, webgpu-kernels.test.ts) both run on their
 * backend and on cpu, so that each backend's kernels are checked on the same programs.
 */

/** A normal random tensor of `shape` from `seed` (the same values on every backend). */
export const rand = (seed: number, shape: number[], scale = 1): tf.Tensor => tf.tensor(new Rng(seed).normals(shape.reduce((a, b) => a * b, 1), scale), shape);

/**
 * Self-attention (width, heads; parameters from seed 3) on x [B, N, width] with a weighted-sum loss
 * (weights w): its output, the gradient of x and the gradient of every parameter, in that order.
 */
export function attentionValuesAndGrads(width: number, heads: number, x: tf.Tensor, w: tf.Tensor, mask: { keyMask?: tf.Tensor; causal: boolean }): tf.Tensor[] {
  const attn = new MultiHeadAttention(width, heads, new Rng(3));
  const params = [...attn.parameters().values()];
  const { grads } = tf.variableGrads(() => tf.sum(tf.mul(attn.forward(x, undefined, mask), w)) as tf.Scalar, params);
  const [dx] = tf.grads((t: tf.Tensor) => tf.sum(tf.mul(attn.forward(t, undefined, mask), w)))([x]);
  const out = [attn.forward(x, undefined, mask), dx!, ...params.map((p) => grads[p.name]!)];
  attn.dispose();
  return out;
}

/**
 * Seeded draws for randomized kernel cases (mulberry32): shapes, flags and variants, not tensor data
 * (that comes from `rand` with the case's own seeds, so adding a case never shifts another's data).
 */
export function fuzzCases(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  // sides near the tiles' edges (16, 64, 128) turn up far more often than uniform draws would give
  const side = (max: number) => (next() < 0.4 ? pick([1, 2, 15, 16, 17, 63, 64, 65, 127, 128, 129].filter((v) => v <= max)) : int(1, max));
  return { next, int, pick, side };
}

/**
 * A random self-attention case: batch, tokens, heads of one of `headDims`, causal or not, and a key mask
 * that is none, suffix padding, holes (key 0 always kept) or left padding — with causal, left padding
 * leaves the first rows only masked keys, where the −1e9 masking must spread the weight evenly over
 * the keys a row may see, forward and backward. Sample 0 keeps every key.
 */
export function drawAttentionCase(g: ReturnType<typeof fuzzCases>, headDims: readonly number[], maxTokens: number) {
  const headDim = g.pick(headDims);
  const heads = g.int(1, headDim >= 64 ? 2 : 3);
  const B = g.int(1, 3);
  const N = g.side(maxTokens);
  const causal = g.next() < 0.5;
  const maskKind = g.pick(['none', 'suffix', 'holes', 'left'] as const);
  const keep = Array.from({ length: B }, (_, b) => {
    const kept = b === 0 ? N : g.int(1, N);
    return Array.from({ length: N }, (_, j) => {
      if (maskKind === 'none' || kept === N) return 1;
      if (maskKind === 'suffix') return j < kept ? 1 : 0;
      if (maskKind === 'left') return j >= N - kept ? 1 : 0;
      return j === 0 || g.next() < 0.7 ? 1 : 0;
    });
  });
  const maskDtype = g.pick(['int32', 'float32'] as const); // int32: its float cast keeps i32 storage on webgpu
  const describe = `B ${B}, N ${N}, ${heads} heads of ${headDim}, causal ${causal}, mask ${maskKind}${maskKind === 'none' ? '' : ` (${maskDtype}) ${JSON.stringify(keep.map((r) => r.join('')))}`}`;
  return { B, N, heads, headDim, width: heads * headDim, causal, maskKind, keep, maskDtype, describe };
}

/** `attentionValuesAndGrads` on a drawn case, inputs from `seed`. */
export function attentionCaseValuesAndGrads(c: ReturnType<typeof drawAttentionCase>, seed: number): tf.Tensor[] {
  const keyMask = c.maskKind === 'none' ? undefined : tf.tensor2d(c.keep.flat(), [c.B, c.N], c.maskDtype);
  return attentionValuesAndGrads(c.width, c.heads, rand(seed, [c.B, c.N, c.width]), rand(seed + 1, [c.B, c.N, c.width]), { keyMask, causal: c.causal });
}
