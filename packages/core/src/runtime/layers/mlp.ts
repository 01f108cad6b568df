import * as tf from '@tensorflow/tfjs';
import { check, Module } from '../module.js';
import type { Rng } from '../rng.js';
import { gelu, type GeluKind } from './activations.js';
import { Dropout } from './dropout.js';
import { Linear } from './linear.js';

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

  /** `residual`: added to the output (x + mlp(…) of a pre-LN block; in fc2's epilogue when no dropout follows it, see `linear`). */
  forward(x: tf.Tensor, residual?: tf.Tensor): tf.Tensor {
    const h = gelu(this.fc1.forward(x), this.geluKind);
    if (residual && !this.drop.active()) return this.fc2.forward(h, residual);
    const y = this.drop.forward(this.fc2.forward(h));
    return residual ? tf.add(residual, y) : y;
  }
}
