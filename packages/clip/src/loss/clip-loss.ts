import * as tf from '@tensorflow/tfjs';
import { pairedCrossEntropy, webgpuKernelsActive } from '@omnitok/core/runtime';
import { asScalar, checkChunk, checkPair, diagonalBlock, l2Normalize, type ScalarLike } from './scalar.js';

export interface ContrastiveLossOptions {
  /**
   * L2-normalize a and b (inside the graph) first. Default false: like open_clip's losses, the inputs
   * are expected to be unit rows already (towers normalize their output).
   */
  readonly normalize?: boolean;
  /**
   * Compute the loss in row chunks of this many pairs, never holding more than chunkSize × n logits
   * (the value and gradient equal the unchunked ones up to float rounding). Unset / ≥ n: one block.
   */
  readonly chunkSize?: number;
}

/**
 * CLIP's symmetric InfoNCE loss (open_clip `ClipLoss`, world size 1).
 *
 *   s = exp(logitScale)            (logitScale is the learnable log-temperature, init ln(1/0.07))
 *   L = s · A · Bᵀ                 [n, n], A, B: unit rows; pair i = (a_i, b_i)
 *   loss = ½ [ CE(L, 0..n−1) + CE(Lᵀ, 0..n−1) ]
 *        = 1/(2n) Σᵢ [ lse(Lᵢ,:) − Lᵢᵢ ] + 1/(2n) Σⱼ [ lse(L:,ⱼ) − Lⱼⱼ ]
 *
 * The log-sum-exps subtract their maximum, so scale 100 with identical or opposite rows stays finite.
 * Gradients flow to a, b and logitScale (when they are variables or come from variables).
 */
export function clipLoss(a: tf.Tensor, b: tf.Tensor, logitScale: ScalarLike, options: ContrastiveLossOptions = {}): tf.Scalar {
  const { n } = checkPair(a, b);
  if (options.chunkSize !== undefined) checkChunk(options.chunkSize);
  return tf.tidy(() => {
    const A = options.normalize ? l2Normalize(a) : a;
    const B = options.normalize ? l2Normalize(b) : b;
    const t = asScalar(logitScale, 'logitScale');
    if (options.chunkSize !== undefined && options.chunkSize < n) return chunkedClip(options.chunkSize)(A as tf.Tensor2D, B as tf.Tensor2D, t);
    const s = tf.exp(t);
    const logits = tf.mul(s, tf.matMul(A, B, false, true)); // [n, n]
    // `webgpu`: the row and column cross-entropies as fused dispatches (the diagonal read from the logits)
    if (webgpuKernelsActive()) return pairedCrossEntropy(logits);
    const positive = tf.mul(s, tf.sum(tf.mul(A, B), 1)); // [n] = diag(logits)
    const rowCe = tf.mean(tf.sub(tf.logSumExp(logits, 1), positive));
    const colCe = tf.mean(tf.sub(tf.logSumExp(logits, 0), positive));
    return tf.mul(tf.add(rowCe, colCe), 0.5) as tf.Scalar;
  });
}

/** The chunked CLIP loss as an explicit-gradient op: O(chunk × n) memory forward and backward. */
function chunkedClip(chunk: number): (A: tf.Tensor2D, B: tf.Tensor2D, t: tf.Scalar) => tf.Scalar {
  return tf.customGrad(((A: tf.Tensor2D, B: tf.Tensor2D, t: tf.Scalar, save: tf.GradSaveFunc) => {
    const n = A.shape[0];
    // Pass 1 over row chunks: each chunk's row log-sum-exps directly (a chunk holds whole rows), and the
    // column log-sum-exps online (running max m and Σ exp(L − m) per column, rescaled when m grows).
    const [value, rowLse, colLse] = tf.tidy(() => {
      const s = tf.exp(t);
      let colMax: tf.Tensor = tf.fill([n], -Infinity);
      let colSum: tf.Tensor = tf.zeros([n]);
      const rows: tf.Tensor[] = [];
      let total: tf.Tensor = tf.scalar(0);
      for (let i0 = 0; i0 < n; i0 += chunk) {
        const c = Math.min(chunk, n - i0);
        const [nextMax, nextSum, rowPart, lossPart] = tf.tidy(() => {
          const Ac = A.slice([i0, 0], [c, -1]);
          const L = tf.mul(s, tf.matMul(Ac, B, false, true)); // [c, n]
          const positive = tf.mul(s, tf.sum(tf.mul(Ac, B.slice([i0, 0], [c, -1])), 1)); // [c]
          const lse = tf.logSumExp(L, 1); // [c]
          const m = tf.maximum(colMax, tf.max(L, 0)); // [n]
          const sum = tf.add(tf.mul(colSum, tf.exp(tf.sub(colMax, m))), tf.sum(tf.exp(tf.sub(L, m)), 0));
          // Σ over these rows of (row lse − positive) and of −positive for the column CE.
          return [m, sum, lse, tf.sub(tf.sum(lse), tf.mul(tf.sum(positive), 2))];
        });
        tf.dispose([colMax, colSum]);
        colMax = nextMax;
        colSum = nextSum;
        rows.push(rowPart);
        const t2 = tf.add(total, lossPart);
        tf.dispose([total, lossPart]);
        total = t2;
      }
      const colLse = tf.add(colMax, tf.log(colSum));
      const value = tf.div(tf.add(total, tf.sum(colLse)), 2 * n);
      return [value, tf.concat(rows), colLse];
    });
    save([A, B, t, rowLse, colLse]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [A, B, t, rowLse, colLse] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Scalar, tf.Tensor1D, tf.Tensor1D];
        // dloss/dL = [softmax_row(L) − I + softmax_col(L) − I] / (2n), recomputed chunk by chunk.
        return tf.tidy(() => {
          const s = tf.exp(t);
          const k = tf.div(dy, 2 * n);
          const dAs: tf.Tensor[] = [];
          let dB: tf.Tensor = tf.zerosLike(B);
          let dt: tf.Tensor = tf.scalar(0);
          for (let i0 = 0; i0 < n; i0 += chunk) {
            const c = Math.min(chunk, n - i0);
            const [dAc, dBNext, dtNext] = tf.tidy(() => {
              const Ac = A.slice([i0, 0], [c, -1]);
              const L = tf.mul(s, tf.matMul(Ac, B, false, true)); // [c, n]
              const pRow = tf.exp(tf.sub(L, rowLse.slice([i0], [c]).reshape([c, 1])));
              const pCol = tf.exp(tf.sub(L, colLse.reshape([1, n])));
              const G = tf.mul(tf.sub(tf.add(pRow, pCol), tf.mul(diagonalBlock(i0, c, n), 2)), k); // [c, n]
              return [tf.mul(tf.matMul(G, B), s), tf.add(dB, tf.mul(tf.matMul(G, Ac, true, false), s)), tf.add(dt, tf.sum(tf.mul(G, L)))];
            });
            dAs.push(dAc);
            tf.dispose([dB, dt]);
            dB = dBNext;
            dt = dtNext;
          }
          return [tf.concat(dAs), dB, dt];
        });
      },
    };
  }) as never) as unknown as (A: tf.Tensor2D, B: tf.Tensor2D, t: tf.Scalar) => tf.Scalar;
}
