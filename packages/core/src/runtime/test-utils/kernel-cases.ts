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
