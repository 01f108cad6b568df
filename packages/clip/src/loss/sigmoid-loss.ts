import * as tf from '@tensorflow/tfjs';
import { type ContrastiveLossOptions } from './clip-loss.js';
import { asScalar, checkChunk, checkPair, diagonalBlock, l2Normalize, type ScalarLike } from './scalar.js';

/**
 * SigLIP's pairwise sigmoid loss (big_vision `siglip.py`, open_clip `SigLipLoss`).
 *
 *   L = exp(t′) · A · Bᵀ + b        [n, n]  (t′ init ln 10, b init −10; omit b for no bias)
 *   z = 2I − 1                      (+1 on the diagonal, −1 elsewhere)
 *   loss = −Σᵢⱼ log σ(zᵢⱼ · Lᵢⱼ) / n = Σᵢⱼ softplus(−zᵢⱼ · Lᵢⱼ) / n
 *
 * log σ(x) is computed as −softplus(−x) (tf.logSigmoid's gradient fails on intermediate tensors on
 * some backends). The chunked form uses open_clip's identity softplus(−x) = softplus(x) − x:
 *   loss = [Σᵢⱼ softplus(Lᵢⱼ) − Σᵢ Lᵢᵢ] / n.
 */
export function sigmoidLoss(a: tf.Tensor, b: tf.Tensor, logitScale: ScalarLike, logitBias?: ScalarLike, options: ContrastiveLossOptions = {}): tf.Scalar {
  const { n } = checkPair(a, b);
  if (options.chunkSize !== undefined) checkChunk(options.chunkSize);
  return tf.tidy(() => {
    const A = options.normalize ? l2Normalize(a) : a;
    const B = options.normalize ? l2Normalize(b) : b;
    const t = asScalar(logitScale, 'logitScale');
    const bias = logitBias === undefined ? undefined : asScalar(logitBias, 'logitBias');
    if (options.chunkSize !== undefined && options.chunkSize < n) {
      return chunkedSigmoid(options.chunkSize)(A as tf.Tensor2D, B as tf.Tensor2D, t, bias ?? tf.scalar(0));
    }
    let logits = tf.mul(tf.exp(t), tf.matMul(A, B, false, true)); // [n, n]
    if (bias) logits = tf.add(logits, bias);
    const z = tf.sub(tf.mul(tf.eye(n), 2), 1);
    return tf.div(tf.sum(tf.softplus(tf.neg(tf.mul(z, logits)))), n) as tf.Scalar;
  });
}

/** The chunked sigmoid loss as an explicit-gradient op: O(chunk × n) memory forward and backward. */
function chunkedSigmoid(chunk: number): (A: tf.Tensor2D, B: tf.Tensor2D, t: tf.Scalar, bias: tf.Scalar) => tf.Scalar {
  return tf.customGrad(((A: tf.Tensor2D, B: tf.Tensor2D, t: tf.Scalar, bias: tf.Scalar, save: tf.GradSaveFunc) => {
    const n = A.shape[0];
    const value = tf.tidy(() => {
      const s = tf.exp(t);
      let total: tf.Tensor = tf.scalar(0);
      for (let i0 = 0; i0 < n; i0 += chunk) {
        const c = Math.min(chunk, n - i0);
        const part = tf.tidy(() => {
          const Ac = A.slice([i0, 0], [c, -1]);
          const L = tf.add(tf.mul(s, tf.matMul(Ac, B, false, true)), bias); // [c, n]
          const positive = tf.add(tf.mul(s, tf.sum(tf.mul(Ac, B.slice([i0, 0], [c, -1])), 1)), bias); // [c]
          return tf.add(total, tf.sub(tf.sum(tf.softplus(L)), tf.sum(positive)));
        });
        total.dispose();
        total = part;
      }
      return tf.div(total, n);
    });
    save([A, B, t, bias]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [A, B, t, bias] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Scalar, tf.Scalar];
        // dloss/dL = (σ(L) − I) / n
        return tf.tidy(() => {
          const s = tf.exp(t);
          const k = tf.div(dy, n);
          const dAs: tf.Tensor[] = [];
          let dB: tf.Tensor = tf.zerosLike(B);
          let dt: tf.Tensor = tf.scalar(0);
          let db: tf.Tensor = tf.scalar(0);
          for (let i0 = 0; i0 < n; i0 += chunk) {
            const c = Math.min(chunk, n - i0);
            const next = tf.tidy(() => {
              const Ac = A.slice([i0, 0], [c, -1]);
              const S = tf.mul(s, tf.matMul(Ac, B, false, true)); // [c, n], the logits without bias
              const G = tf.mul(tf.sub(tf.sigmoid(tf.add(S, bias)), diagonalBlock(i0, c, n)), k);
              return [tf.mul(tf.matMul(G, B), s), tf.add(dB, tf.mul(tf.matMul(G, Ac, true, false), s)), tf.add(dt, tf.sum(tf.mul(G, S))), tf.add(db, tf.sum(G))];
            });
            dAs.push(next[0]!);
            tf.dispose([dB, dt, db]);
            [, dB, dt, db] = next as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
          }
          return [tf.concat(dAs), dB, dt, db];
        });
      },
    };
  }) as never) as unknown as (A: tf.Tensor2D, B: tf.Tensor2D, t: tf.Scalar, bias: tf.Scalar) => tf.Scalar;
}
