import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gelu } from './layers/activations.js';
import { MultiHeadAttention } from './layers/attention.js';
import { TokenEmbed } from './layers/embedders.js';
import { LayerNorm } from './layers/layer-norm.js';
import { Linear, linear } from './layers/linear.js';
import { interpolatePosEmbed, sincosTable } from './layers/pos-embed.js';
import { Rng } from './rng.js';
import { describeBackends, loadFixture, maxAbsDiff, tolerance } from './test-utils/backends.js';

const ref = loadFixture('reference.safetensors');
const t = (name: string) => tf.tensor(ref[name]!.data as Float32Array, [...ref[name]!.shape]);
const data = (name: string) => ref[name]!.data as Float32Array;

describeBackends('layers match PyTorch', (backend) => {
  const tol = () => tolerance(backend().name);

  it('linear: x·W + b over leading axes', async () => {
    const y = tf.tidy(() => linear(t('linear.x'), t('linear.weight'), t('linear.bias')));
    expect(y.shape).toEqual([2, 3, 12]);
    expect(maxAbsDiff(await y.data(), data('linear.y'))).toBeLessThan(tol());
    y.dispose();
  });

  it('linear: the hand-written backward equals autodiff of the plain expression', async () => {
    const x = t('linear.x');
    const w = t('linear.weight');
    const b = t('linear.bias');
    const r = tf.randomNormal([2, 3, 12], 0, 1, 'float32', 3);
    const f1 = (a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(linear(a, c, d), r));
    const f2 = (a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(tf.add(tf.matMul(a.reshape([6, 8]), c), d).reshape([2, 3, 12]), r));
    const g1 = tf.grads(f1)([x, w, b]);
    const g2 = tf.grads(f2)([x, w, b]);
    for (let i = 0; i < 3; i++) expect(maxAbsDiff(await g1[i]!.data(), await g2[i]!.data())).toBeLessThan(tol());
    tf.dispose([x, w, b, r, ...g1, ...g2]);
  });

  it('LayerNorm', async () => {
    const ln = new LayerNorm(16);
    ln.loadStateDict({ weight: ref['ln.weight']!, bias: ref['ln.bias']! });
    const y = tf.tidy(() => ln.forward(t('ln.x')));
    expect(maxAbsDiff(await y.data(), data('ln.y'))).toBeLessThan(tol());
    tf.dispose(y);
    ln.dispose();
  });

  it('GELU: erf, tanh and quick', async () => {
    for (const kind of ['erf', 'tanh', 'quick'] as const) {
      const y = tf.tidy(() => gelu(t('gelu.x'), kind));
      expect(maxAbsDiff(await y.data(), data(`gelu.${kind}`)), kind).toBeLessThan(tol());
      y.dispose();
    }
  });

  it('multi-head attention: plain, key-padding mask, causal', async () => {
    const attn = new MultiHeadAttention(16, 4, new Rng(1));
    attn.loadStateDict({ 'qkv.weight': ref['attn.qkv.weight']!, 'qkv.bias': ref['attn.qkv.bias']!, 'proj.weight': ref['attn.proj.weight']!, 'proj.bias': ref['attn.proj.bias']! });
    const x = t('attn.x');
    const mask = tf.tensor(ref['attn.mask']!.data as Int32Array, [2, 5], 'int32');
    for (const [key, opts] of [['attn.y', {}], ['attn.y_masked', { keyMask: mask }], ['attn.y_causal', { causal: true }]] as const) {
      const y = tf.tidy(() => attn.forward(x, undefined, opts));
      expect(y.shape).toEqual([2, 5, 16]);
      expect(maxAbsDiff(await y.data(), data(key)), key).toBeLessThan(tol());
      y.dispose();
    }
    tf.dispose([x, mask]);
    attn.dispose();
  });

  it('embedding table gradient sums duplicate ids (scatter-add works on this backend)', async () => {
    const emb = new TokenEmbed(5, 3, new Rng(2));
    const ids = tf.tensor2d([[1, 1, 4], [0, 1, 4]], [2, 3], 'int32');
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(emb.forward(ids), tf.range(1, 19).reshape([2, 3, 3]))) as tf.Scalar, [emb.weight]);
    const g = await grads[emb.weight.name]!.array();
    // row 1 collects tokens (0,0), (0,1), (1,1): weights 1..3 + 4..6 + 13..15
    expect(g).toEqual([[10, 11, 12], [18, 21, 24], [0, 0, 0], [0, 0, 0], [23, 25, 27]]);
    tf.dispose([ids, ...Object.values(grads)]);
    emb.dispose();
  });
});

describe('position embeddings (pure JS)', () => {
  it('sin-cos 1-D, 2-D (MAE order) and 3-D tables equal the numpy reference', () => {
    expect(maxAbsDiff(sincosTable(8, [5]), data('sincos.1d'))).toBeLessThan(1e-6);
    expect(maxAbsDiff(sincosTable(16, [3, 4]), data('sincos.2d'))).toBeLessThan(1e-6);
    expect(maxAbsDiff(sincosTable(12, [2, 2, 3]), data('sincos.3d'))).toBeLessThan(1e-6);
  });

  it('learned grids interpolate like F.interpolate (bilinear / trilinear, align_corners=False)', () => {
    expect(maxAbsDiff(interpolatePosEmbed(data('interp2d.in'), 4, [2, 3], [3, 5], 1), data('interp2d.out'))).toBeLessThan(1e-6);
    expect(maxAbsDiff(interpolatePosEmbed(data('interp3d.in'), 4, [2, 2, 2], [3, 2, 4]), data('interp3d.out'))).toBeLessThan(1e-6);
  });
});

describe('constructor asserts', () => {
  let before = 0;
  beforeAll(() => {
    before = tf.memory().numTensors;
  });
  afterAll(() => expect(tf.memory().numTensors).toBe(before));
  it('rejects width not divisible by heads', () => {
    expect(() => new MultiHeadAttention(10, 3, new Rng(0))).toThrow(/Invalid width: got 10, expected a multiple of heads \(3\)/);
    expect(() => new Linear(0, 3, new Rng(0))).toThrow(/Invalid Linear inDim: got 0/);
  });
});
