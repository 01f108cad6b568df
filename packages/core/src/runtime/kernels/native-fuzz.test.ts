import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../backend.js';
import { maxAbsDiff, native, requireNative } from '../test-utils/backends.js';
import { attentionCaseValuesAndGrads, drawAttentionCase, drawMatMulCase, drawNormCase, fuzzCases, matMulCaseValuesAndGrads, normCaseValuesAndGrads, rand } from '../test-utils/kernel-cases.js';

/*
 * Randomized cases for the native backend against the cpu backend: native-backend.test.ts picks its
 * shapes by hand; these draw shapes, transposes, broadcasts, axes, permutations, masks and head sizes
 * from a seeded generator, so combinations nobody wrote down get checked too. The seeds are fixed: a
 * failure names its case and reproduces.
 */
const FWD = 1e-5;
const GRAD = 5e-5;

/** Runs `program` on cpu and on native (each gets the backend's name), leaving no tensor behind. */
async function onBoth(program: (backend: 'cpu' | 'native') => tf.Tensor[]): Promise<{ cpu: Float32Array[]; native: Float32Array[]; shapes: number[][] }> {
  const out: Record<string, Float32Array[]> = {};
  let shapes: number[][] = [];
  for (const name of ['cpu', 'native'] as const) {
    await initBackend(name);
    const before = tf.memory().numTensors;
    const list = tf.tidy(() => program(name));
    shapes = list.map((t) => [...t.shape]);
    out[name] = list.map((t) => Float32Array.from(t.dataSync()));
    tf.dispose(list);
    expect(tf.memory().numTensors, `${name}: tensors leaked`).toBe(before);
  }
  return { cpu: out.cpu!, native: out.native!, shapes };
}

function expectClose(r: { cpu: Float32Array[]; native: Float32Array[] }, tol: number, what: string): void {
  expect(r.native.length, what).toBe(r.cpu.length);
  r.cpu.forEach((c, i) => {
    const d = maxAbsDiff(r.native[i]!, c);
    expect(d, `${what}, output ${i}: max |Δ|/(1+|ref|) = ${d}`).toBeLessThan(tol);
  });
}

/** A shape of rank 0…maxRank with sides 1…maxSide (1s are common: they are what broadcasting is about). */
function drawShape(g: ReturnType<typeof fuzzCases>, maxRank: number, maxSide: number): number[] {
  return Array.from({ length: g.int(0, maxRank) }, () => (g.next() < 0.3 ? 1 : g.int(2, maxSide)));
}

describe.skipIf(!native.available && !requireNative)('native kernels on random cases (seeded) vs the cpu backend', () => {
  it('matMul: random sides, transposes, batches (broadcast too) and biases; gradients where tfjs has them', async () => {
    const g = fuzzCases(21);
    for (let i = 0; i < 40; i++) {
      const c = drawMatMulCase(g, false);
      const what = `case ${i}: ${c.describe}`;
      const r = await onBoth((backend) => matMulCaseValuesAndGrads(c, 10 * i + 1, backend === 'cpu'));
      expect(r.shapes[0], what).toEqual([...c.full, c.m, c.n]);
      expectClose(r, GRAD, what);
    }
  });

  it('add / sub / mul / div on random broadcast pairs, with gradients (sums over the broadcast axes)', async () => {
    const g = fuzzCases(43);
    for (let i = 0; i < 40; i++) {
      // a broadcastable pair: the full shape with some sides 1, and a trailing part of it with some sides 1
      const full = drawShape(g, 5, 9);
      const whole = full.map((d) => (g.next() < 0.2 ? 1 : d));
      const part = full.slice(g.int(0, full.length)).map((d) => (g.next() < 0.3 ? 1 : d));
      const [sa, sb] = g.next() < 0.5 ? [whole, part] : [part, whole];
      const what = `case ${i}: ${JSON.stringify(sa)} with ${JSON.stringify(sb)}`;
      const r = await onBoth(() => {
        const a = rand(2 * i + 1, sa);
        const b = tf.add(tf.abs(rand(2 * i + 2, sb)), 0.5);
        const w = rand(500 + i, tf.backend_util.assertAndGetBroadcastShape(sa, sb));
        const f = (p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.add(tf.mul(tf.sub(p, q), tf.div(p, q)), tf.add(p, q)), w));
        const [ga, gb] = tf.grads(f)([a, b]);
        return [tf.add(a, b), tf.sub(a, b), tf.mul(a, b), tf.div(a, b), ga!, gb!];
      });
      expect(r.shapes[0], what).toEqual(tf.backend_util.assertAndGetBroadcastShape(sa, sb));
      expectClose(r, GRAD, what);
    }
  });

  it('sum over random axes, transpose by random permutations, slice, concat, tile, pad, split and gather (with its gradient)', async () => {
    const g = fuzzCases(65);
    for (let i = 0; i < 40; i++) {
      const shape = Array.from({ length: g.int(1, 5) }, () => g.int(1, 7));
      const rank = shape.length;
      const axes = [...Array(rank).keys()].filter(() => g.next() < 0.5);
      const keepDims = g.next() < 0.5;
      const perm = [...Array(rank).keys()].sort(() => g.next() - 0.5);
      const begin = shape.map((d) => g.int(0, d - 1));
      const size = shape.map((d, j) => g.int(1, d - begin[j]!));
      const axis = g.int(0, rank - 1);
      const reps = shape.map(() => g.int(1, 3));
      const pads = shape.map(() => [g.int(0, 2), g.int(0, 2)] as [number, number]);
      const cut = g.int(0, shape[axis]!);
      const ids = Array.from({ length: g.int(1, 6) }, () => g.int(0, shape[0]! - 1)); // repeats too
      const what = `case ${i}: ${JSON.stringify({ shape, axes, keepDims, perm, begin, size, axis, reps, pads, cut, ids })}`;
      const r = await onBoth(() => {
        const x = rand(i + 1, shape);
        const y = rand(i + 100, shape);
        return [
          tf.sum(x, axes.length ? axes : undefined, keepDims),
          tf.transpose(x, perm),
          tf.slice(x, begin, size),
          tf.concat([x, tf.slice(y, begin.map((b, j) => (j === axis ? b : 0)), size.map((s, j) => (j === axis ? s : shape[j]!)))], axis),
          tf.tile(x, reps),
          tf.pad(x, pads, 0.25),
          ...tf.split(x, [cut, shape[axis]! - cut], axis),
          tf.gather(x, tf.tensor1d(ids, 'int32')),
          // the gather's gradient (UnsortedSegmentSum) sums the rows of repeated ids
          tf.grads((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tf.tensor1d(ids, 'int32')), rand(i + 200, [ids.length, ...shape.slice(1)]))))([x])[0]!,
        ];
      });
      expectClose(r, FWD, what);
    }
  });

  it('self-attention: random lengths, heads, head dims and masks (suffix padding, holes, left padding), values and every gradient', async () => {
    const g = fuzzCases(87);
    const covered = new Set<string>();
    for (let i = 0; i < 24; i++) {
      const c = drawAttentionCase(g, [4, 8, 12, 16, 32, 64], 150);
      const r = await onBoth(() => attentionCaseValuesAndGrads(c, 2 * i + 40));
      expectClose(r, GRAD, `case ${i}: ${c.describe}`);
      covered.add(`mask ${c.maskKind}`);
      if (c.N > 128) covered.add('three query blocks');
      if (c.causal && c.keep.some((row) => row[0] === 0)) covered.add('rows with only masked keys');
    }
    expect([...covered]).toEqual(expect.arrayContaining(['mask holes', 'mask left', 'mask none', 'mask suffix', 'rows with only masked keys', 'three query blocks']));
  });

  it('LayerNorm → GELU on random rows, widths and GELU kinds, values and gradients', async () => {
    const g = fuzzCases(109);
    for (let i = 0; i < 12; i++) {
      const c = drawNormCase(g);
      const r = await onBoth(() => normCaseValuesAndGrads(c, 10 * i + 500));
      expectClose(r, GRAD, `case ${i}: ${c.describe}`);
    }
  });
});
