import * as tf from '@tensorflow/tfjs';

/** The forward of a fused attention op: its value and the gradient function tf.customGrad calls. */
export type AttentionBody = (
  qkv: tf.Tensor,
  mask: tf.Tensor | undefined,
  save: tf.GradSaveFunc,
) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[] };

/**
 * Runs a fused self-attention body under tf.customGrad, with the key mask (when given) as a float32
 * second input — tf.customGrad takes tensors only, so the two arities need two wrappers.
 */
export function attentionWithCustomGrad(body: AttentionBody, qkv: tf.Tensor, keyMask: tf.Tensor | undefined): tf.Tensor {
  if (keyMask) {
    const op = tf.customGrad(((q: tf.Tensor, m: tf.Tensor, save: tf.GradSaveFunc) => body(q, m, save)) as never) as unknown as (q: tf.Tensor, m: tf.Tensor) => tf.Tensor;
    return op(qkv, keyMask.cast('float32'));
  }
  const op = tf.customGrad(((q: tf.Tensor, save: tf.GradSaveFunc) => body(q, undefined, save)) as never) as unknown as (q: tf.Tensor) => tf.Tensor;
  return op(qkv);
}
