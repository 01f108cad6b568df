import * as tf from '@tensorflow/tfjs';
import { Module } from '../module.js';
import type { Rng } from '../rng.js';

/**
 * Inverted dropout with a seeded mask: each call draws a 32-bit seed from the shared `Rng`, so the masks
 * of a run are reproducible from its seed and continue exactly after a resume (the Rng state is saved).
 * Identity when not training or when `rate` is 0 (then no random number is drawn).
 */
export class Dropout extends Module {
  constructor(
    readonly rate: number,
    private readonly rng: Rng,
  ) {
    super();
  }

  /** Whether forward() changes anything (training with a non-zero rate). */
  active(): boolean {
    return this.training && this.rate !== 0;
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (!this.training || this.rate === 0) return x;
    const seed = this.rng.nextUint32();
    return tf.tidy(() => {
      const keep = tf.cast(tf.greaterEqual(tf.randomUniform(x.shape, 0, 1, 'float32', seed), this.rate), 'float32');
      return tf.mul(x, tf.mul(keep, 1 / (1 - this.rate)));
    });
  }
}
