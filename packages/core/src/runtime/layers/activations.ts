import * as tf from '@tensorflow/tfjs';
import { fusedAvailable, fusedGelu } from '../kernels/fused-ops.js';
import { webgpuGelu, webgpuKernelsActive } from '../kernels/webgpu/fused-ops.js';

/** GELU variants: `erf` (exact, torch default), `tanh` (GPT-2 approximation), `quick` (OpenAI CLIP: x·σ(1.702x)). */
export type GeluKind = 'erf' | 'tanh' | 'quick';
export const GELU_KINDS: readonly GeluKind[] = ['erf', 'tanh', 'quick'];

export function gelu(x: tf.Tensor, kind: GeluKind): tf.Tensor {
  if (fusedAvailable()) return fusedGelu(x, kind); // one kernel each way on `native`
  if (webgpuKernelsActive()) return webgpuGelu(x, kind); // one WGSL dispatch each way on `webgpu`
  return tf.tidy(() => {
    switch (kind) {
      case 'erf':
        return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
      case 'tanh': {
        const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
        return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
      }
      case 'quick':
        return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
    }
  });
}

/** log σ(z) as −softplus(−z): tf.logSigmoid's gradient breaks on intermediate tensors. */
export function logSigmoid(z: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.neg(tf.softplus(tf.neg(z))));
}
