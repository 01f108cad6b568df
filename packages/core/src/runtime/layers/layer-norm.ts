import * as tf from '@tensorflow/tfjs';
import { fusedAvailable, fusedLayerNorm } from '../kernels/fused-ops.js';
import { webgpuKernelsActive, webgpuLayerNorm } from '../kernels/webgpu/fused-ops.js';
import { Module } from '../module.js';

/** LayerNorm over the last axis (biased variance, like torch): weight (gain) and bias, both [dim]. */
export class LayerNorm extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.param('weight', tf.ones([dim]));
    this.bias = this.param('bias', tf.zeros([dim]));
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (fusedAvailable()) return fusedLayerNorm(x, this.weight, this.bias, this.eps); // one kernel each way on `native`
    if (webgpuKernelsActive()) return webgpuLayerNorm(x, this.weight, this.bias, this.eps); // WGSL on `webgpu`
    return tf.tidy(() => {
      const mean = tf.mean(x, -1, true); // [..., 1]
      const centered = tf.sub(x, mean);
      const variance = tf.mean(tf.square(centered), -1, true); // [..., 1]
      return tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, this.eps))), this.weight), this.bias);
    });
  }
}
