import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { Rng } from '../rng.js';
import { describeBackends, maxAbsDiff } from '../test-utils/backends.js';
import { repeatBatch } from './repeat-batch.js';

describeBackends('repeatBatch', () => {
  it('equals tf.tile forward; its gradient is the sum over the batch (one op, not B slices)', async () => {
    const x = tf.tensor(new Rng(1).normals(2 * 5, 1), [1, 2, 5]);
    const w = tf.tensor(new Rng(2).normals(7 * 2 * 5, 1), [7, 2, 5]);
    const [y, want] = tf.tidy(() => [repeatBatch(x, 7), tf.tile(x, [7, 1, 1])]);
    expect(y!.shape).toEqual([7, 2, 5]);
    expect(maxAbsDiff(await y!.data(), await want!.data())).toBe(0);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(repeatBatch(v, 7), w)))(x);
    const gWant = tf.sum(w, 0, true);
    expect(g.shape).toEqual([1, 2, 5]);
    expect(maxAbsDiff(await g.data(), await gWant.data())).toBeLessThan(1e-5);
    const profile = await tf.profile(() => tf.grad((v: tf.Tensor) => tf.sum(tf.mul(repeatBatch(v, 7), w)))(x));
    expect(profile.kernels.filter((k) => k.name === 'Slice')).toHaveLength(0);
    expect(profile.kernels.some((k) => k.name === 'Sum')).toBe(true);
    tf.dispose([x, w, y!, want!, g, gWant, profile.result as tf.Tensor]);
  });
});
