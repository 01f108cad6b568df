import * as tf from '@tensorflow/tfjs';
import { afterAll, expect, it } from 'vitest';
import { LayerNorm } from './layers/layer-norm.js';
import { MultiHeadAttention } from './layers/attention.js';
import { gelu } from './layers/activations.js';
import { linear } from './layers/linear.js';
import { claimGradientSum, installLeanBackprop, uninstallLeanBackprop } from './lean-backprop.js';
import { Rng } from './rng.js';
import { describeBackends } from './test-utils/backends.js';
import { rand, recordKernels } from './test-utils/kernel-cases.js';
import { withEnv } from './test-utils/with-env.js';

/*
 * The lean backward (installed by initBackend) against TensorFlow.js' own engine.gradients: the same
 * gradients bit for bit, no tensor leaked, and a lower peak — it frees what the backward has passed.
 */

/** Runs `f` with TensorFlow.js' own gradients, then puts the lean ones back. */
function withTfjsGradients<T>(f: () => T): T {
  uninstallLeanBackprop();
  try {
    return f();
  } finally {
    installLeanBackprop();
  }
}

afterAll(() => installLeanBackprop());

describeBackends('lean backprop', () => {
  it('gives the gradients of TensorFlow.js’ own backward bit for bit (a pre-LN attention + GELU MLP block)', async () => {
    const width = 32;
    const attn = new MultiHeadAttention(width, 4, new Rng(7));
    const norm = new LayerNorm(width);
    const init = [rand(30, [width, 64], 0.2), rand(31, [64], 0.1), rand(32, [64, width], 0.2)];
    const [w1, b1, w2] = init.map((t) => tf.variable(t)) as [tf.Variable, tf.Variable, tf.Variable];
    tf.dispose(init);
    const params = [...attn.parameters().values(), ...norm.parameters().values(), w1, b1, w2];
    const x = rand(33, [2, 9, width]);
    const loss = () => {
      const h = tf.add(x, attn.forward(norm.forward(x), undefined, { causal: true }));
      const y = tf.add(h, linear(gelu(linear(h, w1, b1), 'erf'), w2));
      return tf.sum(tf.mul(y, tf.sin(y))) as tf.Scalar;
    };
    const run = async () => {
      const before = tf.memory().numTensors;
      const { value, grads } = tf.variableGrads(loss, params);
      const out = [await value.data(), ...(await Promise.all(params.map((p) => grads[p.name]!.data())))];
      tf.dispose([value, ...Object.values(grads)]);
      expect(tf.memory().numTensors, 'tensors left behind').toBe(before);
      return out.map((d) => Array.from(d));
    };
    const lean = await run();
    const reference = await withTfjsGradients(run);
    expect(lean.length).toBe(params.length + 1);
    lean.forEach((g, i) => {
      expect(g.some((v) => v !== 0), `gradient ${i} is all zeros`).toBe(true);
      expect(g, `output ${i}`).toEqual(reference[i]);
    });
    attn.dispose();
    norm.dispose();
    tf.dispose([w1, b1, w2, x]);
  });

  it('peaks lower: the activations and gradients already passed are freed during the backward', async () => {
    const tensorsBefore = tf.memory().numTensors;
    // a chain of 8 layers; a probe op between layers reads the bytes in use when its gradient runs
    const init = Array.from({ length: 8 }, (_, i) => rand(40 + i, [64, 64], 0.1));
    const layers = init.map((t) => tf.variable(t));
    tf.dispose(init);
    const peak = { bytes: 0 };
    const probe = tf.customGrad(((t: tf.Tensor) => ({
      value: t.clone(),
      gradFunc: (dy: tf.Tensor) => {
        peak.bytes = Math.max(peak.bytes, tf.memory().numBytes);
        return dy.clone();
      },
    })) as never) as unknown as (t: tf.Tensor) => tf.Tensor;
    const x = rand(50, [256, 64]);
    const loss = () => {
      let h: tf.Tensor = x;
      for (const w of layers) h = probe(tf.tanh(tf.matMul(h, w)));
      return tf.sum(tf.square(h)) as tf.Scalar;
    };
    const measure = () => {
      peak.bytes = 0;
      const { value, grads } = tf.variableGrads(loss, layers);
      tf.dispose([value, ...Object.values(grads)]);
      return peak.bytes;
    };
    const lean = measure();
    const reference = withTfjsGradients(measure);
    // TensorFlow.js' keeps ≈ 2 × 8 saved activations and 8 × 3 gradients to the end; the lean one
    // frees each layer's as it passes
    if (process.env.OMNITOK_PRINT_PEAKS) console.log(`peak bytes: lean ${lean}, TensorFlow.js ${reference}`);
    expect(lean, `lean ${lean} B vs TensorFlow.js ${reference} B`).toBeLessThan(0.6 * reference);
    tf.dispose([...layers, x]);
    expect(tf.memory().numTensors, 'tensors left behind').toBe(tensorsBefore);
  });

  it('keeps a saved tensor that a gradient function hands back as the gradient itself', async () => {
    // h(u) = 2u whose "gradient" is the saved u (not the derivative: a legal custom gradient all the same)
    const h = tf.customGrad(((u: tf.Tensor, save: tf.GradSaveFunc) => {
      save([u]);
      return { value: tf.mul(u, 2), gradFunc: (_dy: tf.Tensor, saved: tf.Tensor[]) => [saved[0]!] };
    }) as never) as unknown as (u: tf.Tensor) => tf.Tensor;
    const w = tf.variable(tf.tensor1d([0.1, 0.2, 0.3]));
    const loss = () => tf.sum(tf.square(h(tf.exp(w)))) as tf.Scalar;
    const run = async () => {
      const { value, grads } = tf.variableGrads(loss, [w]);
      const out = Array.from(await grads[w.name]!.data());
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    };
    const lean = await run();
    expect(lean).toEqual(await withTfjsGradients(run));
    expect(lean.map((v) => Math.round(v * 1e4) / 1e4)).toEqual([0.1, 0.2, 0.3].map((v) => Math.round(Math.exp(2 * v) * 1e4) / 1e4)); // e^w · e^w
    w.dispose();
  });

  it('a gradient function may take the gradient its input\'s other consumers gave it (claimGradientSum) and return the sum: the backward then adds nothing', async () => {
    // y = double(x) + x·3, double(x) = 2x with a gradient function that adds x's gradient so far into its
    // own (the backward reaches x·3 first: taped after double)
    let took: tf.Tensor | undefined;
    // (its input itself; a saved clone shares the input's data on webgpu and cpu, which LayerNorm relies on)
    const double = tf.customGrad(((a: tf.Tensor, save: tf.GradSaveFunc) => {
      save([]);
      return {
        value: tf.mul(a, 2),
        gradFunc: (dy: tf.Tensor) => {
          expect(claimGradientSum(dy), 'a tensor that is not an input').toBeUndefined();
          took = claimGradientSum(a);
          const own = tf.mul(dy, 2);
          return [took ? tf.add(own, took) : own];
        },
      };
    }) as never) as unknown as (a: tf.Tensor) => tf.Tensor;
    const x = rand(40, [3, 5]);
    const w = rand(41, [3, 5]);
    const run = async () => {
      took = undefined;
      const before = tf.memory().numTensors;
      const kernels: string[] = [];
      const [g] = recordKernels(kernels, () => tf.grads((t: tf.Tensor) => tf.sum(tf.mul(tf.add(double(t), tf.mul(t, 3)), w)))([x])) as [tf.Tensor];
      const adds = kernels.filter((k) => k === 'Add');
      const values = Array.from(await g.data());
      g.dispose();
      expect(tf.memory().numTensors, 'tensors left behind').toBe(before);
      return { values, adds: adds.length, took: took !== undefined };
    };
    const lean = await run();
    const reference = await withTfjsGradients(run);
    // lean: the x·3 branch's gradient reached double's function, which added it (the one Add: its own)
    expect(lean.took).toBe(true);
    expect(reference.took).toBe(false);
    expect(lean.adds).toBe(reference.adds);
    expect(lean.values).toEqual(reference.values);
    const want = await tf.tidy(() => tf.mul(w, 5)).data();
    lean.values.forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 5));
    tf.dispose([x, w]);
  });

  it('leaves a dy the caller passed alone, keeps second-order gradients right, and keeps TensorFlow.js’ errors', async () => {
    const before = tf.memory().numTensors;
    const x = tf.tensor1d([1, 2, 3]);
    const dy = tf.tensor1d([1, 10, 100]);
    const dx = tf.grad((t: tf.Tensor) => tf.exp(tf.mul(t, 0.5)))(x, dy);
    const expected = tf.tidy(() => tf.mul(tf.mul(tf.exp(tf.mul(x, 0.5)), 0.5), dy));
    expect(Array.from(await dx.data())).toEqual(Array.from(await expected.data()));
    expect(dy.isDisposed).toBe(false);
    expect(Array.from(await dy.data())).toEqual([1, 10, 100]);
    // d²/dx² x³ = 6x: the inner gradient runs while the outer tape records
    const second = tf.grad((t: tf.Tensor) => tf.grad((u: tf.Tensor) => tf.pow(u, 3))(t))(x);
    Array.from(await second.data()).forEach((v, i) => expect(v).toBeCloseTo(6 * (i + 1), 4));
    expect(() => tf.grad(() => tf.scalar(1))(x)).toThrow(/Cannot compute gradient of y=f\(x\) with respect to x/);
    tf.dispose([x, dy, dx, expected, second]);
    expect(tf.memory().numTensors, 'tensors left behind (also by the failed gradient)').toBe(before);
  });
});

it('OMNITOK_LEAN_BACKPROP=0 keeps TensorFlow.js’ own backward', () => {
  const engine = tf.engine() as unknown as { gradients: unknown };
  uninstallLeanBackprop();
  const tfjs = engine.gradients;
  expect(withEnv({ OMNITOK_LEAN_BACKPROP: '0' }, installLeanBackprop)).toBe(false);
  expect(engine.gradients).toBe(tfjs);
  expect(installLeanBackprop()).toBe(true);
  expect(engine.gradients).not.toBe(tfjs);
});
