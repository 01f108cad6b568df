import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '@omnitok/core';

/** A scalar parameter given as a tensor (trainable or not) or a plain number. */
export type ScalarLike = tf.Scalar | tf.Tensor | number;

export function asScalar(x: ScalarLike, argument: string): tf.Scalar {
  if (typeof x === 'number') {
    if (!Number.isFinite(x)) throw new InvalidArgumentError(argument, x, 'a finite number');
    return tf.scalar(x);
  }
  if (x.size !== 1) throw new InvalidArgumentError(argument, `a tensor of shape [${x.shape.join(', ')}]`, 'a scalar');
  return (x.rank === 0 ? x : x.reshape([])) as tf.Scalar;
}

/** Checks that a and b are [n, d] with the same shape. */
export function checkPair(a: tf.Tensor, b: tf.Tensor): { n: number; d: number } {
  if (a.rank !== 2) throw new InvalidArgumentError('a', `a tensor of shape [${a.shape.join(', ')}]`, 'a [n, d] embedding matrix');
  if (b.rank !== 2 || b.shape[0] !== a.shape[0] || b.shape[1] !== a.shape[1]) {
    throw new InvalidArgumentError('b', `a tensor of shape [${b.shape.join(', ')}]`, `[${a.shape.join(', ')}], the shape of a (row i of a pairs with row i of b)`);
  }
  if (a.shape[0] === 0) throw new InvalidArgumentError('a', 'an empty batch', 'at least one pair');
  return { n: a.shape[0]!, d: a.shape[1]! };
}

export function checkChunk(chunkSize: number): void {
  if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new InvalidArgumentError('chunkSize', chunkSize, 'a positive integer');
}

/**
 * x / ‖x‖ along the last axis, like torch's F.normalize (‖x‖ floored at 1e-12): differentiable,
 * and finite (zero) for an all-zero row. The runtime's (one dispatch each way on `webgpu`).
 */
export { l2Normalize } from '@omnitok/core/runtime';

/** [rows, n] float32: 1 at (k, start + k), the positive pairs of a row chunk starting at `start`. */
export function diagonalBlock(start: number, rows: number, n: number): tf.Tensor2D {
  return tf.tidy(() => tf.oneHot(tf.range(start, start + rows, 1, 'int32'), n).cast('float32') as tf.Tensor2D);
}
