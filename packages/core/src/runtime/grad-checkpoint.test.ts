import * as tf from '@tensorflow/tfjs';
import { afterAll, expect, it } from 'vitest';
import type { EncoderConfigInput } from './config.js';
import { TransformerEncoder } from './encoder.js';
import { gradCheckpoint } from './grad-checkpoint.js';
import { setWebgpuMatmulPrecision } from './kernels/webgpu/webgpu-kernels.js';
import { installLeanBackprop, uninstallLeanBackprop } from './lean-backprop.js';
import { Rng } from './rng.js';
import { describeBackends } from './test-utils/backends.js';
import { rand } from './test-utils/kernel-cases.js';

/*
 * Gradient checkpointing against the plain backward: the same loss and gradients bit for bit (dropout
 * masks replayed), each checkpointed block really recomputed, a lower peak, nothing leaked — with the
 * lean backward and with TensorFlow.js' own.
 */

afterAll(() => installLeanBackprop());

const text = { kind: 'discrete', vocabSize: 50, count: 12 } as const;

/** A causal text encoder with key padding, EOT pooling, dropout and attention dropout (masks from rng). */
function textEncoder(seed: number, depth = 3, dropout = true): { enc: TransformerEncoder; rng: Rng } {
  const rng = new Rng(seed);
  const config: EncoderConfigInput = { size: 'custom', width: 16, depth, heads: 2, tokens: text, pooling: 'eot', causal: true, dropout: dropout ? 0.2 : 0, attnDropout: dropout ? 0.1 : 0, projectionDim: 8 };
  return { enc: new TransformerEncoder(config, rng), rng };
}

function textBatch() {
  const B = 3;
  const ids = tf.tensor2d(Int32Array.from({ length: B * text.count }, (_, i) => (i * 7 + 3) % text.vocabSize), [B, text.count], 'int32');
  const mask = tf.tensor2d(Int32Array.from({ length: B * text.count }, (_, i) => (i % text.count < 12 - (i / text.count | 0) * 3 ? 1 : 0)), [B, text.count], 'int32');
  const eotIndex = tf.tensor1d([11, 8, 5], 'int32');
  return { ids, mask, eotIndex };
}

/** Loss value and every trainable parameter's gradient, as plain arrays. */
async function lossAndGrads(enc: TransformerEncoder, batch: ReturnType<typeof textBatch>): Promise<number[][]> {
  const params = [...enc.trainableParameters().values()];
  const { value, grads } = tf.variableGrads(() => {
    const o = enc.forward(batch.ids, { mask: batch.mask, eotIndex: batch.eotIndex });
    return tf.add(tf.sum(tf.sin(o.embedding)), tf.mean(tf.square(o.tokens))) as tf.Scalar;
  }, params);
  const out = [Array.from(await value.data()), ...(await Promise.all(params.map(async (p) => Array.from(await grads[p.name]!.data()))))];
  tf.dispose([value, ...Object.values(grads)]);
  return out;
}

describeBackends('gradient checkpointing', () => {
  for (const engine of ['lean backward', 'TensorFlow.js’ backward'] as const) {
    it(`gives the plain backward's loss and gradients bit for bit, dropout replayed (${engine})`, async () => {
      if (engine !== 'lean backward') uninstallLeanBackprop();
      try {
        const { enc, rng } = textEncoder(3);
        const batch = textBatch();
        const start = rng.state();
        const plain = await lossAndGrads(enc, batch);
        const after = rng.state();
        rng.setState(start);
        const before = tf.memory().numTensors;
        enc.setGradCheckpointing(true);
        const checkpointed = await lossAndGrads(enc, batch);
        expect(tf.memory().numTensors, 'tensors left behind').toBe(before);
        // the recomputation rewinds the rng and puts it back: the run's next masks are unchanged
        expect(rng.state()).toEqual(after);
        expect(checkpointed.length).toBe(enc.trainableParameters().size + 1);
        checkpointed.forEach((g, i) => {
          expect(g.some((v) => v !== 0), `output ${i} is all zeros`).toBe(true);
          expect(g, `output ${i}`).toEqual(plain[i]);
        });
        // a different dropout draw changes the loss: the equality above is the masks replaying, not dropout off
        const other = await lossAndGrads(enc, batch);
        expect(other[0]).not.toEqual(plain[0]);
        enc.dispose();
        tf.dispose(Object.values(batch));
      } finally {
        installLeanBackprop();
      }
    });
  }

  it('without dropout (the fused attention and MLP kernels where the backend has them): the same gradients bit for bit', async () => {
    const { enc } = textEncoder(5, 2, false);
    const batch = textBatch();
    const plain = await lossAndGrads(enc, batch);
    enc.setGradCheckpointing(true);
    const checkpointed = await lossAndGrads(enc, batch);
    checkpointed.forEach((g, i) => expect(g, `output ${i}`).toEqual(plain[i]));
    enc.dispose();
    tf.dispose(Object.values(batch));
  });

  it('recomputes each block in the backward, and only while a tape records', async () => {
    const w = tf.variable(rand(5, [6, 6], 0.3));
    const x = rand(6, [4, 6]);
    let calls = 0;
    const block = (h: tf.Tensor) => {
      calls++;
      return tf.tanh(tf.matMul(h, w));
    };
    const f = (h: tf.Tensor) => gradCheckpoint(block, h, { params: [w] });
    // inference: just the function
    const y = tf.tidy(() => f(x));
    expect(calls).toBe(1);
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(f(f(x)))) as tf.Scalar, [w]);
    expect(calls, 'two blocks: two forwards, two recomputations').toBe(5);
    calls = 0;
    const plain = tf.variableGrads(() => tf.sum(tf.square(block(block(x)))) as tf.Scalar, [w]);
    expect(Array.from(await grads[w.name]!.data())).toEqual(Array.from(await plain.grads[w.name]!.data()));
    expect(Array.from(await value.data())).toEqual(Array.from(await plain.value.data()));
    // the gradient with respect to the checkpoint's input flows on (here into x through tf.grad)
    const dx = tf.grad((t: tf.Tensor) => tf.sum(f(t)))(x);
    const dxPlain = tf.grad((t: tf.Tensor) => tf.sum(block(t)))(x);
    expect(Array.from(await dx.data())).toEqual(Array.from(await dxPlain.data()));
    expect(Array.from(await dx.data()).some((v) => v !== 0)).toBe(true);
    tf.dispose([w, x, y, value, dx, dxPlain, plain.value, ...Object.values(grads), ...Object.values(plain.grads)]);
  });

  it('peaks lower: a deep encoder keeps one tensor per block instead of its activations', async () => {
    const { enc } = textEncoder(4, 8);
    enc.eval(); // no dropout: the activations, not masks, are what is measured
    const batch = textBatch();
    const ids = tf.tile(batch.ids, [8, 1]);
    const peak = async () => {
      const params = [...enc.trainableParameters().values()];
      const info = await tf.profile(() => {
        const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(enc.forward(ids, { eotIndex: tf.tile(batch.eotIndex, [8]) }).tokens)) as tf.Scalar, params);
        tf.dispose([value, ...Object.values(grads)]);
      });
      return info.peakBytes;
    };
    const plain = await peak();
    enc.setGradCheckpointing(true);
    const checkpointed = await peak();
    if (process.env.OMNITOK_PRINT_PEAKS) console.log(`peak bytes: checkpointed ${checkpointed}, plain ${plain}`);
    expect(checkpointed, `checkpointed ${checkpointed} B vs plain ${plain} B`).toBeLessThan(0.3 * plain);
    enc.dispose();
    tf.dispose([ids, ...Object.values(batch)]);
  });
});

describeBackends(
  'gradient checkpointing, f16 GEMMs',
  () => {
    it('with f16 GEMMs (emulated): the same gradients bit for bit', async () => {
      const { enc } = textEncoder(6, 2, false);
      const batch = textBatch();
      const f32 = await lossAndGrads(enc, batch);
      expect(await setWebgpuMatmulPrecision('f16-emulated')).toMatchObject({ precision: 'f16-emulated' });
      try {
        const plain = await lossAndGrads(enc, batch);
        // the GEMMs did run in f16: its rounding shows in the gradients
        expect(plain.slice(1).some((g, i) => g.some((v, j) => v !== f32[i + 1]![j]))).toBe(true);
        enc.setGradCheckpointing(true);
        const checkpointed = await lossAndGrads(enc, batch);
        checkpointed.forEach((g, i) => expect(g, `output ${i}`).toEqual(plain[i]));
      } finally {
        await setWebgpuMatmulPrecision('f32');
        enc.dispose();
        tf.dispose(Object.values(batch));
      }
    });
  },
  ['webgpu'],
);
