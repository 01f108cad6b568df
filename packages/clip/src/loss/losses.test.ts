import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { type BackendName, initBackend, probeBackend } from '@omnitok/core/runtime';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clipLoss } from './clip-loss.js';
import { CLIP_LOGIT_SCALE_INIT, CLIP_LOGIT_SCALE_MAX, clampLogitScale, createLogitScale, createSigmoidParams } from './logit-scale.js';
import { sigmoidLoss } from './sigmoid-loss.js';

interface Case {
  kind: 'clip' | 'sigmoid';
  n: number;
  d: number;
  normalize: boolean;
  a: number[];
  b: number[];
  logitScale: number;
  logitBias?: number;
  loss: number;
  gradA: number[];
  gradB: number[];
  gradLogitScale: number;
  gradLogitBias?: number;
}

const fixture = JSON.parse(readFileSync(new URL('../__fixtures__/losses.json', import.meta.url), 'utf8')) as { cases: Case[] };

/*
 * The whole suite runs once per backend: cpu and wasm always, webgpu when an adapter exists (the
 * fixtures' tolerance is the same everywhere; webgpu gets 10× more).
 */
const webgpu = await probeBackend('webgpu');
const BACKENDS: BackendName[] = webgpu.available ? ['cpu', 'wasm', 'webgpu'] : ['cpu', 'wasm'];
let tol = 1;
afterAll(async () => {
  await tf.setBackend('cpu');
});

/** Loss value and gradients w.r.t. a, b, t (and bias) for one configuration. */
async function evaluate(kind: 'clip' | 'sigmoid', a: tf.Tensor, b: tf.Tensor, t: number, bias: number | undefined, options: { normalize?: boolean; chunkSize?: number }) {
  const ts = tf.scalar(t);
  const bs = bias === undefined ? undefined : tf.scalar(bias);
  const inputs = bs ? [a, b, ts, bs] : [a, b, ts];
  const f = (...x: tf.Tensor[]) => (kind === 'clip' ? clipLoss(x[0]!, x[1]!, x[2]!, options) : sigmoidLoss(x[0]!, x[1]!, x[2]!, x[3], options));
  const { value, grads } = tf.valueAndGrads(f)(inputs);
  // data(), not dataSync(): WebGPU in Node can only read asynchronously.
  const out = {
    loss: (await value.data())[0]!,
    gradA: Array.from(await grads[0]!.data()),
    gradB: Array.from(await grads[1]!.data()),
    gradT: (await grads[2]!.data())[0]!,
    gradBias: grads[3] ? (await grads[3].data())[0] : undefined,
  };
  tf.dispose([value, ...grads, ts, ...(bs ? [bs] : [])]);
  return out;
}

function maxAbsDiff(x: ArrayLike<number>, y: ArrayLike<number>): number {
  expect(x.length).toBe(y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

const randomPair = (n: number, d: number, seed: number) => [tf.randomNormal([n, d], 0, 1, 'float32', seed), tf.randomNormal([n, d], 0, 1, 'float32', seed + 1)].map((x) => tf.tidy(() => tf.div(x, tf.norm(x, 'euclidean', 1, true)))) as [tf.Tensor2D, tf.Tensor2D];

for (const backend of BACKENDS) {
describe(`[${backend}]`, () => {
  beforeAll(async () => {
    await initBackend(backend);
    tol = backend === 'webgpu' ? 10 : 1;
  });

  describe('losses vs PyTorch (float64 reference, committed fixture)', () => {
    for (const c of fixture.cases) {
      const label = `${c.kind} n=${c.n} d=${c.d} t=${c.logitScale.toFixed(3)}${c.logitBias !== undefined ? ` bias=${c.logitBias}` : ' no bias'}${c.normalize ? ' normalize' : ''}`;
      for (const chunkSize of [undefined, 3]) {
        it(`${label}${chunkSize ? ' chunked(3)' : ''}`, async () => {
          const a = tf.tensor2d(c.a, [c.n, c.d]);
          const b = tf.tensor2d(c.b, [c.n, c.d]);
          const r = await evaluate(c.kind, a, b, c.logitScale, c.logitBias, { normalize: c.normalize, chunkSize });
          tf.dispose([a, b]);
          expect(Math.abs(r.loss - c.loss)).toBeLessThan(tol * 2e-5 * Math.max(1, Math.abs(c.loss)));
          const scale = Math.max(1, ...c.gradA.map(Math.abs), ...c.gradB.map(Math.abs));
          expect(maxAbsDiff(r.gradA, c.gradA)).toBeLessThan(tol * 2e-5 * scale);
          expect(maxAbsDiff(r.gradB, c.gradB)).toBeLessThan(tol * 2e-5 * scale);
          expect(Math.abs(r.gradT - c.gradLogitScale)).toBeLessThan(tol * 5e-5 * Math.max(1, Math.abs(c.gradLogitScale)));
          if (c.gradLogitBias !== undefined) expect(Math.abs(r.gradBias! - c.gradLogitBias)).toBeLessThan(tol * 5e-5 * Math.max(1, Math.abs(c.gradLogitBias)));
        });
      }
    }
    it('the fixture covers several batch sizes, both losses, with and without bias', async () => {
      expect(new Set(fixture.cases.map((c) => c.n)).size).toBeGreaterThanOrEqual(5);
      expect(fixture.cases.some((c) => c.kind === 'sigmoid' && c.logitBias === undefined)).toBe(true);
      expect(fixture.cases.some((c) => c.kind === 'sigmoid' && c.logitBias !== undefined)).toBe(true);
    });
  });

  describe('chunked == unchunked (value and gradient)', () => {
    for (const kind of ['clip', 'sigmoid'] as const) {
      for (const [n, chunk] of [[13, 1], [13, 4], [20, 7], [20, 19]] as const) {
        it(`${kind} n=${n} chunk=${chunk}`, async () => {
          const [a, b] = randomPair(n, 6, n * 31 + chunk);
          const bias = kind === 'sigmoid' ? -4 : undefined;
          const full = await evaluate(kind, a, b, 2.9, bias, {});
          const part = await evaluate(kind, a, b, 2.9, bias, { chunkSize: chunk });
          tf.dispose([a, b]);
          expect(Math.abs(part.loss - full.loss)).toBeLessThan(tol * 1e-5 * Math.max(1, full.loss));
          expect(maxAbsDiff(part.gradA, full.gradA)).toBeLessThan(tol * 1e-6);
          expect(maxAbsDiff(part.gradB, full.gradB)).toBeLessThan(tol * 1e-6);
          expect(Math.abs(part.gradT - full.gradT)).toBeLessThan(tol * 2e-5 * Math.max(1, Math.abs(full.gradT)));
          if (bias !== undefined) expect(Math.abs(part.gradBias! - full.gradBias!)).toBeLessThan(tol * 2e-5 * Math.max(1, Math.abs(full.gradBias!)));
        });
      }
    }
    it('chunked loss frees its intermediates (no tensor leak)', async () => {
      const [a, b] = randomPair(12, 4, 5);
      const before = tf.memory().numTensors;
      for (const kind of ['clip', 'sigmoid'] as const) await evaluate(kind, a, b, 1, kind === 'sigmoid' ? -1 : undefined, { chunkSize: 5 });
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([a, b]);
    });
  });

  describe('numerics at scale 100 (fp32)', () => {
    const n = 6;
    const u = Array.from({ length: 8 }, (_, i) => (i % 3) - 1);
    const same = () => tf.tidy(() => tf.div(tf.tile(tf.tensor2d(u, [1, 8]), [n, 1]), Math.hypot(...u)));
    const t100 = Math.log(100);
    const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
    for (const chunkSize of [undefined, 4]) {
      const tag = chunkSize ? ' (chunked)' : '';
      it(`clip: identical and opposite rows give ln n, finite gradients${tag}`, async () => {
        for (const sign of [1, -1]) {
          const a = same();
          const b = tf.tidy(() => tf.mul(same(), sign));
          const r = await evaluate('clip', a, b, t100, undefined, { chunkSize });
          tf.dispose([a, b]);
          expect(r.loss).toBeCloseTo(Math.log(n), 4);
          expect([...r.gradA, ...r.gradB, r.gradT].every(Number.isFinite)).toBe(true);
        }
      });
      it(`clip: one-hot pairs at scale 100 give loss ≈ 0 without NaN${tag}`, async () => {
        const a = tf.eye(n, 8);
        const r = await evaluate('clip', a, a, t100, undefined, { chunkSize });
        a.dispose();
        expect(r.loss).toBeGreaterThanOrEqual(0);
        expect(r.loss).toBeLessThan(tol * 1e-6);
        expect([...r.gradA, ...r.gradB, r.gradT].every(Number.isFinite)).toBe(true);
      });
      it(`sigmoid: identical and opposite rows at scale 100 match the closed form${tag}`, async () => {
        for (const sign of [1, -1]) {
          const a = same();
          const b = tf.tidy(() => tf.mul(same(), sign));
          const x = 100 * sign - 10; // every logit
          const expected = (softplus(-x) + (n - 1) * softplus(x)) * n / n;
          const r = await evaluate('sigmoid', a, b, t100, -10, { chunkSize });
          tf.dispose([a, b]);
          expect(Math.abs(r.loss - expected)).toBeLessThan(1e-4 * expected);
          expect([...r.gradA, ...r.gradB, r.gradT, r.gradBias!].every(Number.isFinite)).toBe(true);
        }
      });
    }
  });

  describe('learnable scale and bias', () => {
    it('initialise at ln(1/0.07), ln 10 and −10', async () => {
      const t = createLogitScale();
      const { logitScale, logitBias } = createSigmoidParams();
      expect((await t.data())[0]).toBeCloseTo(Math.log(1 / 0.07), 6);
      expect(Math.exp((await t.data())[0]!)).toBeCloseTo(14.2857, 3);
      expect((await logitScale.data())[0]).toBeCloseTo(Math.log(10), 6);
      expect((await logitBias.data())[0]).toBe(-10);
      tf.dispose([t, logitScale, logitBias]);
    });
    it('clampLogitScale keeps the log-scale in [0, ln 100]', async () => {
      const t = createLogitScale();
      clampLogitScale(t);
      expect((await t.data())[0]).toBeCloseTo(CLIP_LOGIT_SCALE_INIT, 6);
      t.assign(tf.scalar(7));
      clampLogitScale(t);
      expect((await t.data())[0]).toBeCloseTo(CLIP_LOGIT_SCALE_MAX, 6);
      expect((await t.data())[0]).toBeCloseTo(Math.log(100), 6);
      t.assign(tf.scalar(-0.5));
      clampLogitScale(t);
      expect((await t.data())[0]).toBe(0);
      t.dispose();
    });
    it('gradients reach the scale and bias variables', async () => {
      const [a, b] = randomPair(5, 4, 3);
      const t = createLogitScale();
      const { logitScale, logitBias } = createSigmoidParams();
      const g1 = tf.variableGrads(() => clipLoss(a, b, t), [t]);
      const g2 = tf.variableGrads(() => sigmoidLoss(a, b, logitScale, logitBias, { chunkSize: 2 }), [logitScale, logitBias]);
      expect(Math.abs((await g1.grads[t.name]!.data())[0]!)).toBeGreaterThan(0);
      expect(Math.abs((await g2.grads[logitBias.name]!.data())[0]!)).toBeGreaterThan(0);
      tf.dispose([a, b, t, logitScale, logitBias, g1.value, g2.value, ...Object.values(g1.grads), ...Object.values(g2.grads)]);
    });
    it('rejects mismatched shapes and bad chunk sizes', async () => {
      const a = tf.zeros([3, 4]);
      const b = tf.zeros([2, 4]);
      expect(() => clipLoss(a, b, 1)).toThrow(/b/);
      expect(() => sigmoidLoss(a, a, 1, undefined, { chunkSize: 0 })).toThrow(/chunkSize/);
      tf.dispose([a, b]);
    });
  });
});
}
