import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { describeBackends, maxAbsDiff } from '../test-utils/backends.js';
import { rand } from '../test-utils/kernel-cases.js';
import { l2Normalize, pairedCrossEntropy } from './contrastive.js';

/*
 * The contrastive-loss pieces against independent formulas on the same backend (on `webgpu` the fused
 * dispatches against TensorFlow.js' own ops): tf.losses.softmaxCrossEntropy with identity labels both
 * ways, and x / ‖x‖.
 */
const TOL = 5e-5;

async function close(a: tf.Tensor[], b: tf.Tensor[], what: string): Promise<void> {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) {
    expect(a[i]!.shape, `${what} output ${i} shape`).toEqual(b[i]!.shape);
    const [x, y] = await Promise.all([a[i]!.data(), b[i]!.data()]);
    expect(maxAbsDiff(x, y), `${what} output ${i}`).toBeLessThan(TOL);
  }
  tf.dispose([...a, ...b]);
}

describeBackends('contrastive loss pieces', () => {
  // n = 1 (a lone pair), 5, 37 (past a line's 32 lanes), 130; logits up to ±100 (CLIP's scale)
  for (const [n, scale] of [[1, 3], [5, 3], [37, 30], [130, 100]] as const) {
    it(`pairedCrossEntropy over ${n} × ${n} logits (scale ${scale}) equals softmaxCrossEntropy of the rows and of the columns, value and gradient`, async () => {
      const logits = rand(31 + n, [n, n], scale);
      const w = tf.scalar(1.7); // the upstream gradient reaches every element
      const reference = (l: tf.Tensor) => {
        const eye = tf.eye(n);
        return tf.mul(tf.add(tf.losses.softmaxCrossEntropy(eye, l), tf.losses.softmaxCrossEntropy(eye, tf.transpose(l))), 0.5);
      };
      const ours = tf.tidy(() => [pairedCrossEntropy(logits), tf.grad((l: tf.Tensor) => tf.mul(pairedCrossEntropy(l), w))(logits)]);
      const want = tf.tidy(() => [reference(logits), tf.grad((l: tf.Tensor) => tf.mul(reference(l), w))(logits)]);
      expect(ours[0]!.shape).toEqual([]);
      await close(ours, want, `n ${n}`);
      tf.dispose([logits, w]);
    });
  }

  it('pairedCrossEntropy refuses logits that are not a non-empty square matrix, naming the shape', () => {
    for (const shape of [[3, 4], [4], [0, 0]]) expect(() => pairedCrossEntropy(tf.zeros(shape))).toThrow(new RegExp(`logits shape.*${JSON.stringify(shape).replace(/[[\]]/g, '\\$&')}`));
  });

  // widths of 1 (one value a row), 5, 64, 200 (seven a lane), 1 024 (32 a lane) and 1 100 (past the fused program)
  for (const shape of [[4, 1], [3, 5], [2, 3, 64], [9, 200], [3, 1024], [2, 1100]]) {
    it(`l2Normalize over ${JSON.stringify(shape)} equals x / ‖x‖, value and gradient`, async () => {
      const x = rand(40 + shape.length, shape);
      const w = rand(41, shape);
      const reference = (t: tf.Tensor) => tf.div(t, tf.sqrt(tf.sum(tf.square(t), -1, true)));
      const ours = tf.tidy(() => [l2Normalize(x), tf.grad((t: tf.Tensor) => tf.sum(tf.mul(l2Normalize(t), w)))(x)]);
      const want = tf.tidy(() => [reference(x), tf.grad((t: tf.Tensor) => tf.sum(tf.mul(reference(t), w)))(x)]);
      await close(ours, want, JSON.stringify(shape));
      tf.dispose([x, w]);
    });
  }

  it('l2Normalize keeps an all-zero row zero and finite, its gradient dy·10¹² (the norm floored at 1e-12)', async () => {
    const x = tf.tensor2d([[0, 0, 0], [3, 4, 0]]);
    const dy = tf.tensor2d([[1e-12, -2e-12, 0], [1, 1, 1]]);
    const [y, dx] = tf.tidy(() => [l2Normalize(x), tf.grad((t: tf.Tensor) => tf.sum(tf.mul(l2Normalize(t), dy)))(x)]);
    expect(Array.from(await y!.data())).toEqual([0, 0, 0, expect.closeTo(0.6, 6), expect.closeTo(0.8, 6), 0]);
    const g = Array.from(await dx!.data());
    expect(g.slice(0, 3).map((v) => Math.round(v * 1e3) / 1e3)).toEqual([1, -2, 0]);
    // (dy − y·(y·dy)) / ‖x‖ for the second row: y·dy = 1.4
    expect(g.slice(3).map((v) => Math.round(v * 1e4) / 1e4)).toEqual([(1 - 0.6 * 1.4) / 5, (1 - 0.8 * 1.4) / 5, 1 / 5].map((v) => Math.round(v * 1e4) / 1e4));
    tf.dispose([x, dy, y!, dx!]);
  });
});
