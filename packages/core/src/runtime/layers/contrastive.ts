import * as tf from '@tensorflow/tfjs';
import { LAYER_NORM_ROWS_MAX_DIM, webgpuKernelsActive, webgpuL2Normalize, webgpuPairedCrossEntropy } from '../kernels/webgpu/fused-ops.js';
import { check } from '../module.js';

/*
 * The two pieces of a contrastive (CLIP) loss that every training step runs on the towers' outputs:
 * on `webgpu` each is one or two WGSL dispatches each way instead of ~10 small tensor ops (a ViT-S
 * step's loss made ~60 of its ~600 dispatches); elsewhere the same formulas as tensor ops.
 */

/**
 * x / max(‖x‖, 1e-12) along the last axis, like torch's F.normalize: differentiable, and finite (zero)
 * for an all-zero row. On `webgpu` (float32, rows up to 1 024 wide) one dispatch each way, which keeps
 * each row's Σx² for the backward.
 */
export function l2Normalize(x: tf.Tensor): tf.Tensor {
  const dim = x.shape[x.rank - 1] ?? 0;
  if (webgpuKernelsActive() && x.dtype === 'float32' && x.rank >= 1 && x.size > 0 && dim <= LAYER_NORM_ROWS_MAX_DIM) return webgpuL2Normalize(x);
  return tf.tidy(() => tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x), -1, true), 1e-24))));
}

/**
 * CLIP's symmetric InfoNCE on given logits L [n, n], pair i = (row i, column i):
 *
 *   ½ · [ 1/n Σᵢ (lse(Lᵢ,:) − Lᵢᵢ) + 1/n Σⱼ (lse(L:,ⱼ) − Lⱼⱼ) ]
 *
 * — the mean cross-entropy of the rows and of the columns against the diagonal (open_clip's ClipLoss
 * with labels 0..n−1, given the scaled logits). The log-sum-exps subtract their maximum. On `webgpu`
 * (float32) two dispatches forward (every row's and column's log-sum-exp in one, then the mean) and one
 * backward: dL = g/(2n)·(softmax over the row + softmax over the column − 2I).
 */
export function pairedCrossEntropy(logits: tf.Tensor): tf.Scalar {
  check(logits.rank === 2 && logits.shape[0] === logits.shape[1] && logits.shape[0]! > 0, 'pairedCrossEntropy logits shape', JSON.stringify(logits.shape), 'a non-empty square [n, n] matrix');
  if (webgpuKernelsActive() && logits.dtype === 'float32') return webgpuPairedCrossEntropy(logits as tf.Tensor2D);
  return tf.tidy(() => {
    const n = logits.shape[0]!;
    const diag = tf.sum(tf.mul(logits, tf.eye(n)), 1); // [n]: L_kk
    const rows = tf.mean(tf.sub(tf.logSumExp(logits, 1), diag));
    const cols = tf.mean(tf.sub(tf.logSumExp(logits, 0), diag));
    return tf.mul(tf.add(rows, cols), 0.5) as tf.Scalar;
  });
}
