import * as tf from '@tensorflow/tfjs';

/**
 * x [1, ...] → [B, ...], the one row repeated (a CLS token or an attention-pool probe for every sample).
 * Same values as tf.tile, but TensorFlow.js' Tile gradient is B slices and B adds (at batch 128 that
 * was 256 GPU dispatches per CLS token); here the gradient is one sum over the batch.
 */
export function repeatBatch(x: tf.Tensor, batch: number): tf.Tensor {
  const op = tf.customGrad(((xs: tf.Tensor) => ({
    value: tf.tile(xs, [batch, ...xs.shape.slice(1).map(() => 1)]), // [B, ...]
    gradFunc: (dy: tf.Tensor) => tf.sum(dy, 0, true), // [1, ...]
  })) as never) as unknown as (x: tf.Tensor) => tf.Tensor;
  return op(x);
}
