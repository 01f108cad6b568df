import * as tf from '@tensorflow/tfjs';
import { fusedAvailable } from '../kernels/fused-ops.js';
import { webgpuColumnSum, webgpuKernelsActive, webgpuLinearResidual, webgpuWeightBiasGrad } from '../kernels/webgpu/fused-ops.js';
import { check, Module } from '../module.js';
import type { Rng } from '../rng.js';

/*
 * y = x·W + b with W stored [in, out] (the transpose of torch's nn.Linear.weight).
 *
 * The backward is written by hand with plain 2-D matmuls on explicit transposes: TensorFlow.js' wasm
 * backend runs transposed/batched matmuls 10–50× slower than a plain 2-D one, and autodiff of a
 * rank-3 matMul produces exactly those.
 */
/** dx = dy·Wᵀ; the `native` and omnitok `webgpu` GEMMs take the transpose as a flag (no transposed copy). */
export function inputGrad(dy: tf.Tensor2D, ws: tf.Tensor2D): tf.Tensor {
  return fusedAvailable() || webgpuKernelsActive() ? tf.matMul(dy, ws, false, true) : tf.matMul(dy, tf.transpose(ws));
}

/** dW = xᵀ·dy, likewise. */
function weightGrad(dy: tf.Tensor2D, xs: tf.Tensor2D): tf.Tensor {
  return fusedAvailable() || webgpuKernelsActive() ? tf.matMul(xs, dy, true, false) : tf.matMul(tf.transpose(xs), dy);
}

/** [dW, db] of x·W + b for x [T, in], dy [T, out]. */
export function weightBiasGrads(dy: tf.Tensor2D, xs: tf.Tensor2D): tf.Tensor[] {
  if (webgpuKernelsActive()) {
    // `webgpu`: dW and db from one GEMM that also sums dy's columns (one pass over dy); else GEMM + column sums
    return webgpuWeightBiasGrad(xs, dy) ?? [weightGrad(dy, xs), webgpuColumnSum(dy)];
  }
  return [weightGrad(dy, xs), tf.sum(dy, 0)];
}

/** [dx, dW, db] of x·W + b. */
function linearBiasGrads(dy: tf.Tensor2D, xs: tf.Tensor2D, ws: tf.Tensor2D): tf.Tensor[] {
  return [inputGrad(dy, ws), ...weightBiasGrads(dy, xs)];
}

const linearBias = tf.customGrad(((x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    // `native`/`webgpu`: one kernel (the bias is added in the GEMM's epilogue)
    value: fusedAvailable() || webgpuKernelsActive() ? tf.fused.matMul({ a: x, b: w, bias: b }) : tf.add(tf.matMul(x, w), b),
    gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => linearBiasGrads(dy, ...(saved as [tf.Tensor2D, tf.Tensor2D])),
  };
}) as never) as unknown as (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;

// `webgpu`: x·W + b + r in one GEMM, r added in its epilogue; r's gradient is dy itself
const linearBiasResidual = tf.customGrad(((x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, r: tf.Tensor2D, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    value: webgpuLinearResidual(x, w, b, r),
    gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => [...linearBiasGrads(dy, ...(saved as [tf.Tensor2D, tf.Tensor2D])), tf.clone(dy)],
  };
}) as never) as unknown as (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, r: tf.Tensor2D) => tf.Tensor2D;

const linearNoBias = tf.customGrad(((x: tf.Tensor2D, w: tf.Tensor2D, save: tf.GradSaveFunc) => {
  save([x, w]);
  return {
    value: tf.matMul(x, w),
    gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
      const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [inputGrad(dy, ws), weightGrad(dy, xs)];
    },
  };
}) as never) as unknown as (x: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D;

/** A residual added to a layer's output must have that output's shape `want`; `argument` names it. */
export function checkResidualShape(argument: string, residual: tf.Tensor, want: number[]): void {
  check(tf.util.arraysEqual(residual.shape, want), argument, JSON.stringify(residual.shape), `the output's shape ${JSON.stringify(want)}`);
}

/**
 * x [..., in] · w [in, out] (+ b [out]) (+ residual [..., out]) → [..., out]. `residual`: the stream a
 * residual branch ending in this layer adds back (x + f(x)); on `webgpu` with a bias it is added in the
 * GEMM's epilogue (no separate Add), elsewhere by an add after the product — the same value.
 */
export function linear(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor, residual?: tf.Tensor): tf.Tensor {
  const inDim = w.shape[0]!;
  const outDim = w.shape[1]!;
  const lead = x.shape.slice(0, -1);
  if (residual) {
    checkResidualShape('linear residual shape', residual, [...lead, outDim]);
    if (!b || !webgpuKernelsActive() || [x, w, b, residual].some((t) => t.dtype !== 'float32')) return tf.add(linear(x, w, b), residual);
  }
  const x2 = x.reshape([-1, inDim]) as tf.Tensor2D; // [M, in], M = prod(lead)
  const y2 = !b
    ? linearNoBias(x2, w as tf.Tensor2D)
    : residual
      ? linearBiasResidual(x2, w as tf.Tensor2D, b as tf.Tensor1D, residual.reshape([-1, outDim]) as tf.Tensor2D) // residual: [M, out]
      : linearBias(x2, w as tf.Tensor2D, b as tf.Tensor1D);
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

  /** x·W + b, plus `residual` (the output's shape) when given: see {@link linear}. */
  forward(x: tf.Tensor, residual?: tf.Tensor): tf.Tensor {
    return linear(x, this.weight, this.bias, residual);
  }
}
