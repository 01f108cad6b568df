import * as tf from '@tensorflow/tfjs';
import { envVar } from '../env.js';
import { webgpuKernelsActive, webgpuLinearGelu, webgpuLinearResidual, webgpuMatMulGeluGrad } from '../kernels/webgpu/fused-ops.js';
import { check, Module } from '../module.js';
import type { Rng } from '../rng.js';
import { gelu, type GeluKind } from './activations.js';
import { Dropout } from './dropout.js';
import { checkResidualShape, inputGrad, Linear, linear, weightBiasGrads } from './linear.js';

/** fc1 (D → hidden) → GELU → fc2 (hidden → D) → dropout. */
export class Mlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  private readonly drop: Dropout;

  constructor(
    readonly width: number,
    readonly hidden: number,
    readonly geluKind: GeluKind,
    rng: Rng,
    options: { dropout?: number; projStd?: number } = {},
  ) {
    super();
    check(Number.isInteger(hidden) && hidden > 0, 'mlp hidden width', hidden, 'a positive integer (width × mlpRatio)');
    this.fc1 = this.child('fc1', new Linear(width, hidden, rng));
    this.fc2 = this.child('fc2', new Linear(hidden, width, rng, { std: options.projStd }));
    this.drop = new Dropout(options.dropout ?? 0, rng);
  }

  override train(on = true): this {
    this.drop.train(on);
    return super.train(on);
  }

  /**
   * `residual`: added to the output (x + mlp(…) of a pre-LN block; in fc2's epilogue when no dropout
   * follows it, see `linear`). On `webgpu` the whole fc1 → GELU → fc2 is one op of two GEMMs
   * (`fusedMlp`), the same value.
   */
  forward(x: tf.Tensor, residual?: tf.Tensor): tf.Tensor {
    // the residual goes into fc2's epilogue unless dropout comes between them
    const inner = this.drop.active() ? undefined : residual;
    const y = fusedMlpApplies(x, this.fc1, this.fc2)
      ? fusedMlp(x, this.fc1, this.fc2, this.geluKind, inner)
      : this.fc2.forward(gelu(this.fc1.forward(x), this.geluKind), inner);
    if (inner) return y;
    const yd = this.drop.forward(y);
    return residual ? tf.add(residual, yd) : yd;
  }
}

/**
 * Whether `Mlp.forward` runs `fusedMlp`: omnitok's webgpu kernels active, float32 tensors, both layers
 * with a bias, and OMNITOK_WEBGPU_MLP not `separate` (which keeps the three ops: for A/B runs).
 */
function fusedMlpApplies(x: tf.Tensor, fc1: Linear, fc2: Linear): boolean {
  if (!webgpuKernelsActive() || envVar('OMNITOK_WEBGPU_MLP') === 'separate') return false;
  if (!fc1.bias || !fc2.bias) return false;
  return [x, fc1.weight, fc1.bias, fc2.weight, fc2.bias].every((t) => t.dtype === 'float32');
}

/** The custom op behind `fusedMlp`, one per GELU kind and residual or not. */
const fusedMlpOps = new Map<string, (...inputs: tf.Tensor[]) => tf.Tensor>();

/**
 * fc2(GELU(fc1(x))) (+ residual) on `webgpu` as one op: forward, fc1's GEMM with GELU in its epilogue
 * (which also writes GELU's input, kept for the backward) and fc2's GEMM (the residual added in its
 * epilogue); backward, dY·W2ᵀ with GELU′ in its epilogue, fc2's dW and db, then fc1's dX, dW and db.
 * 2 dispatches forward instead of 3, 6 backward instead of 7 (the GELU and GELU-gradient passes over
 * the [T, hidden] activations are gone), the same tensors kept.
 */
function fusedMlp(x: tf.Tensor, fc1: Linear, fc2: Linear, kind: GeluKind, residual?: tf.Tensor): tf.Tensor {
  const lead = x.shape.slice(0, -1);
  if (residual) checkResidualShape('mlp residual shape', residual, [...lead, fc2.outDim]);
  check(x.shape[x.shape.length - 1] === fc1.inDim, 'mlp input width', x.shape[x.shape.length - 1], `fc1's input width ${fc1.inDim}`);
  const key = `${kind}${residual ? '_res' : ''}`;
  let op = fusedMlpOps.get(key);
  if (!op) {
    op = makeFusedMlp(kind, Boolean(residual));
    fusedMlpOps.set(key, op);
  }
  const x2 = x.reshape([-1, fc1.inDim]); // [T, D], T = prod(lead)
  const inputs = [x2, fc1.weight, fc1.bias!, fc2.weight, fc2.bias!, ...(residual ? [residual.reshape([-1, fc2.outDim])] : [])]; // residual: [T, D]
  return op(...inputs).reshape([...lead, fc2.outDim]); // [..., D]
}

function makeFusedMlp(kind: GeluKind, withResidual: boolean): (...inputs: tf.Tensor[]) => tf.Tensor {
  return tf.customGrad(((...args: unknown[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [x, w1, b1, w2, b2, r] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, tf.Tensor1D, tf.Tensor2D?];
    const [h, pre] = webgpuLinearGelu(x, w1, b1, kind); // [T, hidden] each: GELU(pre), pre = x·W1 + b1
    const y = r ? webgpuLinearResidual(h, w2, b2, r) : (linear(h, w2, b2) as tf.Tensor2D);
    save([x, w1, w2, h, pre]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        const [xs, w1s, w2s, hs, pres] = saved as tf.Tensor2D[];
        const dPre = webgpuMatMulGeluGrad(dy, w2s!, pres!, kind); // (dY·W2ᵀ) ∘ GELU′(pre): [T, hidden]
        const [dW2, db2] = weightBiasGrads(dy, hs!);
        const dx = inputGrad(dPre, w1s!);
        const [dW1, db1] = weightBiasGrads(dPre, xs!);
        return [dx, dW1!, db1!, dW2!, db2!, ...(withResidual ? [tf.clone(dy)] : [])];
      },
    };
  }) as never) as unknown as (...inputs: tf.Tensor[]) => tf.Tensor;
}
