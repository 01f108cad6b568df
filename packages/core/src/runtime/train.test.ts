import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { TransformerEncoder } from './encoder.js';
import { InvalidArgumentError } from '../errors/index.js';
import { NonFiniteError } from './errors.js';
import { AdamW, LossScaler, Trainer, warmupCosine } from './optim.js';
import { Rng } from './rng.js';
import { describeBackends, loadFixture, maxAbsDiff, tolerance } from './test-utils/backends.js';

const ref = loadFixture('reference.safetensors');
const arr = (k: string) => ref[k]!.data as Float32Array;

const disposeAll = (...xs: { dispose(): void }[]) => xs.forEach((x) => x.dispose());

/** A tiny classifier: encoder (width 16) → 4 logits; the task is to fit a fixed batch. */
function tinySetup(seed: number, dropout = 0) {
  const rng = new Rng(seed);
  const enc = new TransformerEncoder(
    { size: 'custom', width: 16, depth: 1, heads: 2, mlpRatio: 2, dropout, tokens: { kind: 'continuous', dim: 6, count: 4 }, projectionDim: 4 },
    rng,
  );
  const data = new Rng(99);
  const x = tf.tensor(data.normals(8 * 4 * 6, 1, false), [8, 4, 6]);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32'), 4));
  const loss = (xs = x, ys = y) => tf.losses.softmaxCrossEntropy(ys, enc.forward(xs).embedding) as tf.Scalar;
  return { rng, enc, x, y, loss, dispose: () => tf.dispose([x, y]) };
}

describe('AdamW and schedules (pure)', () => {
  it('lossScale: a positive finite number, "dynamic" or { init, growthInterval }', () => {
    const params = new Map<string, tf.Variable>();
    const optimizer = new AdamW(params);
    for (const lossScale of [0, -1, Infinity, NaN, { init: 0 }, { growthInterval: 1.5 }, { growthInterval: 0 }]) {
      expect(() => new Trainer(params, { optimizer, lossScale }), JSON.stringify(lossScale)).toThrow(InvalidArgumentError);
    }
    expect(new Trainer(params, { optimizer, lossScale: 'dynamic' }).lossScale).toBe(65536);
    expect(new Trainer(params, { optimizer, lossScale: 128 }).lossScale).toBe(128);
    expect(new Trainer(params, { optimizer }).lossScale).toBe(1);
  });

  it('LossScaler: state() and loadState() carry the scale and the clean-step count (a resumed run continues it)', () => {
    const a = new LossScaler({ init: 8, growthInterval: 3 });
    a.finite();
    a.finite();
    expect(a.overflow()).toBe(true);
    a.finite();
    expect(a.state()).toEqual({ scale: 4, goodSteps: 1 });
    const b = new LossScaler('dynamic');
    b.loadState(a.state());
    b.finite();
    b.finite(); // the third clean step since the overflow: b keeps its own growthInterval (2 000), no doubling
    expect(b.state()).toEqual({ scale: 4, goodSteps: 3 });
    const c = new LossScaler({ init: 1, growthInterval: 3 });
    c.loadState(a.state());
    c.finite();
    c.finite();
    expect(c.state()).toEqual({ scale: 8, goodSteps: 0 });
    expect(() => c.loadState({ scale: 0, goodSteps: 0 })).toThrow(InvalidArgumentError);
    expect(() => c.loadState({ scale: 2, goodSteps: -1 })).toThrow(InvalidArgumentError);
  });

  it('warmup + cosine', () => {
    const lr = warmupCosine({ baseLr: 1, warmupSteps: 4, totalSteps: 14, minLr: 0.1 });
    expect([0, 1, 3].map(lr)).toEqual([0.25, 0.5, 1]);
    expect(lr(4)).toBeCloseTo(1, 12);
    expect(lr(9)).toBeCloseTo(0.55, 12);
    expect(lr(14)).toBeCloseTo(0.1, 12);
    expect(lr(100)).toBeCloseTo(0.1, 12);
    expect(() => warmupCosine({ baseLr: 1, warmupSteps: 5, totalSteps: 4 })).toThrow(/schedule/);
  });
});

describeBackends('training', (backend) => {
  it('AdamW matches torch.optim.AdamW step for step (decay on the matrix, none on the vector)', async () => {
    const w = tf.variable(tf.tensor(arr('adamw.w0'), [3, 4]));
    const b = tf.variable(tf.tensor(arr('adamw.b0'), [4]));
    const opt = new AdamW(new Map([['fc.weight', w], ['fc.bias', b]]), { beta1: 0.9, beta2: 0.95, eps: 1e-6, weightDecay: 0.1 });
    expect(opt.decayed()).toEqual(['fc.weight']);
    for (const [s, lr] of [0.05, 0.03, 0.01].entries()) {
      const gw = tf.tensor(arr(`adamw.gw${s}`), [3, 4]);
      const gb = tf.tensor(arr(`adamw.gb${s}`), [4]);
      opt.apply(new Map([['fc.weight', gw], ['fc.bias', gb]]), lr);
      tf.dispose([gw, gb]);
      expect(maxAbsDiff(await w.data(), arr(`adamw.w${s + 1}`))).toBeLessThan(tolerance(backend().name));
      expect(maxAbsDiff(await b.data(), arr(`adamw.b${s + 1}`))).toBeLessThan(tolerance(backend().name));
    }
    opt.dispose();
    tf.dispose([w, b]);
  });

  it('a tiny model overfits a tiny batch', async () => {
    const s = tinySetup(1);
    const trainer = new Trainer(s.enc.parameters(), { optimizer: new AdamW(s.enc.parameters(), { lr: 3e-2, weightDecay: 0 }), clipNorm: 1 });
    const losses: number[] = [];
    for (let i = 0; i < 60; i++) losses.push((await trainer.trainStep(() => s.loss())).loss);
    expect(losses[0]).toBeGreaterThan(1);
    expect(losses.at(-1)!).toBeLessThan(0.1 * losses[0]!);
    s.enc.dispose();
    s.dispose();
  });

  it('gradient accumulation over micro-batches equals one full batch; clipping caps the update', async () => {
    const run = async (micro: number, clipNorm?: number) => {
      const s = tinySetup(2);
      const opt = new AdamW(s.enc.parameters(), { lr: 1e-2 });
      const trainer = new Trainer(s.enc.parameters(), { optimizer: opt, clipNorm });
      const halves = [tf.slice(s.x, [0, 0, 0], [4, 4, 6]), tf.slice(s.x, [4, 0, 0], [4, 4, 6])];
      const ys = [tf.slice(s.y, [0, 0], [4, 4]), tf.slice(s.y, [4, 0], [4, 4])];
      const r = micro === 1 ? await trainer.trainStep(() => s.loss()) : await trainer.trainStep((i) => s.loss(halves[i], ys[i]), 2);
      const w = (await s.enc.parameters().get('blocks.0.mlp.fc1.weight')!.data()).slice();
      tf.dispose([...halves, ...ys]);
      opt.dispose();
      s.enc.dispose();
      s.dispose();
      return { r, w };
    };
    const full = await run(1);
    const accum = await run(2);
    expect(accum.r.loss).toBeCloseTo(full.r.loss, 5);
    expect(accum.r.gradNorm).toBeCloseTo(full.r.gradNorm, 4);
    expect(maxAbsDiff(accum.w, full.w)).toBeLessThan(1e-5);
    const clipped = await run(1, full.r.gradNorm / 10);
    expect(clipped.r.gradNorm).toBeCloseTo(full.r.gradNorm, 4); // reported before clipping
    expect(maxAbsDiff(clipped.w, full.w)).toBeGreaterThan(0);
  });

  it('a NaN loss throws NonFiniteError naming the step and leaves the parameters untouched', async () => {
    const s = tinySetup(3);
    const opt = new AdamW(s.enc.parameters(), { lr: 1e-2 });
    const trainer = new Trainer(s.enc.parameters(), { optimizer: opt });
    await trainer.trainStep(() => s.loss());
    await trainer.trainStep(() => s.loss());
    const before = Array.from(await s.enc.parameters().get('pos_embed')!.data());
    const tensors = tf.memory().numTensors;
    const error = (await trainer.trainStep(() => tf.mul(s.loss(), NaN) as tf.Scalar).catch((e: unknown) => e)) as NonFiniteError;
    expect(error).toBeInstanceOf(NonFiniteError);
    expect(error).toMatchObject({ code: 'E_NON_FINITE', step: 2, quantity: 'loss' });
    expect(error.message).toMatch(/Non-finite loss at step 2: NaN/);
    expect(Array.from(await s.enc.parameters().get('pos_embed')!.data())).toEqual(before);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(trainer.step).toBe(2);
    // a finite loss (√0 = 0) whose gradient is not (d√x/dx at 0): caught by the gradient-norm check
    const inf = (await trainer
      .trainStep(() => tf.sum(tf.sqrt(tf.mul(s.enc.parameters().get('pos_embed')!, 0))) as tf.Scalar)
      .catch((e: unknown) => e)) as NonFiniteError;
    expect(inf).toBeInstanceOf(NonFiniteError);
    expect(inf.quantity).toBe('gradient norm');
    expect(Array.from(await s.enc.parameters().get('pos_embed')!.data())).toEqual(before);
    expect(trainer.step).toBe(2);
    // the failed steps left no trace in the optimizer (moments, step count): the next step equals the
    // third step of a run that never failed
    await trainer.trainStep(() => s.loss());
    const ref = tinySetup(3);
    const refOpt = new AdamW(ref.enc.parameters(), { lr: 1e-2 });
    const refTrainer = new Trainer(ref.enc.parameters(), { optimizer: refOpt });
    for (let i = 0; i < 3; i++) await refTrainer.trainStep(() => ref.loss());
    for (const name of ['pos_embed', 'blocks.0.mlp.fc1.weight']) {
      const got = await s.enc.parameters().get(name)!.data();
      const want = await ref.enc.parameters().get(name)!.data();
      expect(maxAbsDiff(got as Float32Array, want as Float32Array), name).toBeLessThan(1e-6);
    }
    disposeAll(refOpt, ref.enc, ref, opt, s.enc, s);
  });

  it('steps called before the previous one resolved (one in flight on webgpu) equal steps awaited one by one, results in order', async () => {
    const run = async (queued: boolean) => {
      const s = tinySetup(6);
      const opt = new AdamW(s.enc.parameters(), { lr: 1e-2 });
      const trainer = new Trainer(s.enc.parameters(), { optimizer: opt, clipNorm: 0.5 });
      const results = [];
      if (queued) results.push(...(await Promise.all([0, 1, 2].map(() => trainer.trainStep(() => s.loss())))));
      else for (let i = 0; i < 3; i++) results.push(await trainer.trainStep(() => s.loss()));
      const w = (await s.enc.parameters().get('blocks.0.mlp.fc1.weight')!.data()).slice();
      disposeAll(opt, s.enc, s);
      return { results, w, steps: trainer.step };
    };
    const awaited = await run(false);
    const tensors = tf.memory().numTensors;
    const queued = await run(true);
    expect(tf.memory().numTensors).toBe(tensors);
    expect(queued.steps).toBe(3);
    queued.results.forEach((r, i) => {
      expect(r.step).toBe(i);
      expect(r.skipped).toBeUndefined();
      expect(r.loss).toBeCloseTo(awaited.results[i]!.loss, 5);
      expect(r.gradNorm).toBeCloseTo(awaited.results[i]!.gradNorm, 4);
    });
    expect(queued.results[2]!.loss).toBeLessThan(queued.results[0]!.loss); // each step saw the updates before it
    expect(maxAbsDiff(queued.w, awaited.w)).toBeLessThan(1e-6);
  });

  it('a step called while a non-finite one is in flight: skipped on webgpu (nothing applied after the error), run after it elsewhere', async () => {
    const s = tinySetup(7);
    const opt = new AdamW(s.enc.parameters(), { lr: 1e-2 });
    const trainer = new Trainer(s.enc.parameters(), { optimizer: opt });
    await trainer.trainStep(() => s.loss());
    const before = Array.from(await s.enc.parameters().get('pos_embed')!.data());
    const bad = trainer.trainStep(() => tf.mul(s.loss(), NaN) as tf.Scalar);
    const behind = trainer.trainStep(() => s.loss());
    await expect(bad).rejects.toMatchObject({ code: 'E_NON_FINITE', step: 1, quantity: 'loss' });
    const r = await behind;
    const ref = tinySetup(7);
    const refOpt = new AdamW(ref.enc.parameters(), { lr: 1e-2 });
    const refTrainer = new Trainer(ref.enc.parameters(), { optimizer: refOpt });
    await refTrainer.trainStep(() => ref.loss());
    if (backend().name === 'webgpu') {
      // queued before the NaN step was read: the device guard skipped it too
      expect(r).toMatchObject({ step: 2, skipped: true, behind: true });
      expect(Number.isFinite(r.loss)).toBe(true);
      expect(trainer.step).toBe(1);
      expect(Array.from(await s.enc.parameters().get('pos_embed')!.data())).toEqual(before);
      // and left no trace: the next step equals the second step of a run that never failed
      expect(await trainer.trainStep(() => s.loss())).toMatchObject({ step: 1 });
    } else expect(r).toMatchObject({ step: 1 });
    await refTrainer.trainStep(() => ref.loss());
    expect(trainer.step).toBe(2);
    const [got, want] = [await s.enc.parameters().get('blocks.0.mlp.fc1.weight')!.data(), await ref.enc.parameters().get('blocks.0.mlp.fc1.weight')!.data()];
    expect(maxAbsDiff(got as Float32Array, want as Float32Array)).toBeLessThan(1e-6);
    disposeAll(refOpt, ref.enc, ref, opt, s.enc, s);
  });

  it('a static loss scale (a power of two) trains like none: same losses, norms and weights; clipping on the unscaled norm', async () => {
    const run = async (lossScale?: number) => {
      const s = tinySetup(4);
      const opt = new AdamW(s.enc.parameters(), { lr: 1e-2 });
      const trainer = new Trainer(s.enc.parameters(), { optimizer: opt, clipNorm: 0.05, lossScale });
      const results = [];
      for (let i = 0; i < 3; i++) results.push(await trainer.trainStep(() => s.loss()));
      const w = (await s.enc.parameters().get('blocks.0.mlp.fc1.weight')!.data()).slice();
      opt.dispose();
      s.enc.dispose();
      s.dispose();
      return { results, w };
    };
    const plain = await run();
    const scaled = await run(1024);
    expect(plain.results[0]!.gradNorm).toBeGreaterThan(0.05); // clipping is active
    expect(plain.results[0]!.lossScale).toBeUndefined();
    for (let i = 0; i < 3; i++) {
      expect(scaled.results[i]!.loss).toBeCloseTo(plain.results[i]!.loss, 5);
      expect(scaled.results[i]!.gradNorm / plain.results[i]!.gradNorm).toBeCloseTo(1, 4);
      expect(scaled.results[i]!.lossScale).toBe(1024);
    }
    expect(maxAbsDiff(scaled.w, plain.w)).toBeLessThan(1e-5);
    // a static scale still stops at a non-finite step
    const s = tinySetup(4);
    const trainer = new Trainer(s.enc.parameters(), { optimizer: new AdamW(s.enc.parameters()), lossScale: 8 });
    await expect(trainer.trainStep(() => tf.mul(s.loss(), Infinity) as tf.Scalar)).rejects.toBeInstanceOf(NonFiniteError);
    s.enc.dispose();
    s.dispose();
  });

  it('a dynamic loss scale skips an overflowing step (nothing updated) and halves, grows after growthInterval finite steps, gives up below 1', async () => {
    const s = tinySetup(5);
    const opt = new AdamW(s.enc.parameters(), { lr: 1e-2 });
    const trainer = new Trainer(s.enc.parameters(), { optimizer: opt, lossScale: { init: 4, growthInterval: 2 } });
    const overflow = () => tf.mul(s.loss(), Infinity) as tf.Scalar;
    expect((await trainer.trainStep(() => s.loss())).lossScale).toBe(4);
    expect(trainer.lossScale).toBe(4);
    expect((await trainer.trainStep(() => s.loss())).lossScale).toBe(4);
    expect(trainer.lossScale).toBe(8); // two finite steps in a row
    const before = Array.from(await s.enc.parameters().get('pos_embed')!.data());
    const tensors = tf.memory().numTensors;
    const skipped = await trainer.trainStep(overflow);
    expect(skipped).toMatchObject({ step: 2, skipped: true, lossScale: 8 });
    expect(skipped.behind).toBeUndefined(); // its own overflow
    expect(trainer.lossScale).toBe(4);
    expect(trainer.step).toBe(2);
    expect(Array.from(await s.enc.parameters().get('pos_embed')!.data())).toEqual(before);
    expect(tf.memory().numTensors).toBe(tensors);
    // the skip reset the count of finite steps: one more does not grow the scale
    const next = await trainer.trainStep(() => s.loss());
    expect(next).toMatchObject({ step: 2, lossScale: 4 });
    expect(next.skipped).toBeUndefined();
    expect(trainer.lossScale).toBe(4);
    // the skipped step left no trace: three real steps equal a run that never skipped (init 4 → 8 → 8)
    const ref = tinySetup(5);
    const refOpt = new AdamW(ref.enc.parameters(), { lr: 1e-2 });
    const refTrainer = new Trainer(ref.enc.parameters(), { optimizer: refOpt });
    for (let i = 0; i < 3; i++) await refTrainer.trainStep(() => ref.loss());
    const [got, want] = [await s.enc.parameters().get('blocks.0.mlp.fc1.weight')!.data(), await ref.enc.parameters().get('blocks.0.mlp.fc1.weight')!.data()];
    expect(maxAbsDiff(got as Float32Array, want as Float32Array)).toBeLessThan(1e-5);
    // halving down past 1: 4 → 2 → 1 → 0.5 skip, then the error
    for (const scale of [4, 2, 1]) expect(await trainer.trainStep(overflow)).toMatchObject({ skipped: true, lossScale: scale });
    await expect(trainer.trainStep(overflow)).rejects.toBeInstanceOf(NonFiniteError);
    expect(trainer.step).toBe(3);
    disposeAll(refOpt, ref.enc, ref, opt, s.enc, s);
  });

  it('seeded dropout: same seed, same losses; no tensor leaks over 200 steps', async () => {
    const losses = async (seed: number, steps: number, track = false) => {
      const s = tinySetup(seed, 0.1);
      const opt = new AdamW(s.enc.parameters(), { lr: 1e-3 });
      const trainer = new Trainer(s.enc.parameters(), { optimizer: opt, schedule: warmupCosine({ baseLr: 1e-3, warmupSteps: 2, totalSteps: steps }), clipNorm: 1 });
      const out: number[] = [];
      let start = 0;
      for (let i = 0; i < steps; i++) {
        out.push((await trainer.trainStep(() => s.loss())).loss);
        if (i === 0) start = tf.memory().numTensors;
        if (track) expect(tf.memory().numTensors).toBe(start);
      }
      opt.dispose();
      s.enc.dispose();
      s.dispose();
      return out;
    };
    const a = await losses(5, 6);
    expect(await losses(5, 6)).toEqual(a);
    expect(await losses(6, 6)).not.toEqual(a);
    const base = tf.memory().numTensors;
    await losses(7, 200, true);
    expect(tf.memory().numTensors).toBe(base);
  });
});
