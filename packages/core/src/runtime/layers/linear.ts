import * as tf from '@tensorflow/tfjs';
import { fusedAvailable } from '../kernels/fused-ops.js';
import { webgpuColumnSum, webgpuKernelsActive, webgpuWeightBiasGrad } from '../kernels/webgpu/fused-ops.js';
import { check, Module } from '../module.js';
import type { Rng } from '../rng.js';

/*
 * y = x·W + b with W stored [in, out] (the transpose of torch's nn.Linear.weight).
 *
 * The backward is written by hand with plain 2-D matmuls on explicit transposes: TensorFlow.js' wasm
 * backend runs transposed/batched matmuls 10–50× slower than a plain 2-D one, and autodiff of a
 * rank-3 matMul produces exactly those.
 */
/** [dx, dW]; the `native` and omnitok `webgpu` GEMMs take the transposes as flags (no transposed copies). */
function linearGrads(dy: tf.Tensor2D, xs: tf.Tensor2D, ws: tf.Tensor2D): [tf.Tensor, tf.Tensor] {
  if (fusedAvailable() || webgpuKernelsActive()) return [tf.matMul(dy, ws, false, true), tf.matMul(xs, dy, true, false)];
  return [tf.matMul(dy, tf.transpose(ws)), tf.matMul(tf.transpose(xs), dy)];
}

const linearBias = tf.customGrad(((x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    // `native`/`webgpu`: one kernel (the bias is added in the GEMM's epilogue)
    value: fusedAvailable() || webgpuKernelsActive() ? tf.fused.matMul({ a: x, b: w, bias: b }) : tf.add(tf.matMul(x, w), b),
    gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      if (webgpuKernelsActive()) {
        // `webgpu`: dW and db from one GEMM over [x | 1] (one pass over dy); else GEMM + column sums
        const fused = webgpuWeightBiasGrad(xs, dy);
        if (fused) return [tf.matMul(dy, ws, false, true), ...fused];
        return [...linearGrads(dy, xs, ws), webgpuColumnSum(dy)];
      }
      return [...linearGrads(dy, xs, ws), tf.sum(dy, 0)];
    },
  };
}) as never) as unknown as (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;

const linearNoBias = tf.customGrad(((x: tf.Tensor2D, w: tf.Tensor2D, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    value: tf.matMul(x, w),
    gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      return linearGrads(dy, xs, ws);
    },
  };
}) as never) as unknown as (x: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D;

/** x [..., in] · w [in, out] (+ b [out]) → [..., out]. */
export function linear(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  const inDim = w.shape[0]!;
  const outDim = w.shape[1]!;
  const lead = x.shape.slice(0, -1);
  const x2 = x.reshape([-1, inDim]) as tf.Tensor2D; // [M, in], M = prod(lead)
  const y2 = b ? linearBias(x2, w as tf.Tensor2D, b as tf.Tensor1D) : linearNoBias(x2, w as tf.Tensor2D);
  return y2.reshape([...lead, outDim]); // [..., out]
}

export interface LinearOptions {
  readonly bias?: boolean;
  /** Init std of the weight (truncated normal at ±2 std); default 0.02 like GPT-2/ViT. */
  readonly std?: number;
}

export class Linear extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | undefined;

  constructor(
    readonly inDim: number,
    readonly outDim: number,
    rng: Rng,
    options: LinearOptions = {},
  ) {
    super();
    check(Number.isInteger(inDim) && inDim > 0, 'Linear inDim', inDim, 'a positive integer');
    check(Number.isInteger(outDim) && outDim > 0, 'Linear outDim', outDim, 'a positive integer');
    this.weight = this.param('weight', tf.tensor(rng.normals(inDim * outDim, options.std ?? 0.02), [inDim, outDim]));
    this.bias = options.bias === false ? undefined : this.param('bias', tf.zeros([outDim]));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return linear(x, this.weight, this.bias);
  }
}
