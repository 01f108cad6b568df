import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { initBackend, probeBackend } from '../../backend.js';
import { linear } from '../../layers/linear.js';
import { AdamW, clipByGlobalNorm, globalNorm } from '../../optim.js';
import { maxAbsDiff, requireWebgpu } from '../../test-utils/backends.js';
import { withEnv } from '../../test-utils/with-env.js';
import { attentionCaseValuesAndGrads, drawAttentionCase, drawMatMulCase, drawNormCase, fuzzCases, matMulCaseValuesAndGrads, mlpValuesAndGrads, normCaseValuesAndGrads, rand } from '../../test-utils/kernel-cases.js';
import { webgpuStepGuard } from './fused-ops.js';
import { f16ExactValues, setWebgpuMatmulPrecision } from './webgpu-kernels.js';

/*
 * Randomized cases for the WebGPU kernels against the cpu backend: the hand-written suite
 * (webgpu-kernels.test.ts) picks its shapes to hit each edge once; these draw shapes, transposes,
 * batches, tiles, split-K, masks and head sizes from a seeded generator, so combinations nobody wrote
 * down get checked too. The seed is fixed: a failure names the case and reproduces.
 */
const webgpu = await probeBackend('webgpu');
const FWD = 2e-5;
const GRAD = 5e-5;

/** Runs `program` on cpu and on webgpu (each gets the backend's name), leaving no tensor behind. */
async function onBoth(program: (backend: 'cpu' | 'webgpu') => tf.Tensor[]): Promise<{ cpu: Float32Array[]; webgpu: Float32Array[] }> {
  const out: Record<string, Float32Array[]> = {};
  for (const name of ['cpu', 'webgpu'] as const) {
    await initBackend(name);
    const before = tf.memory().numTensors;
    const list = tf.tidy(() => program(name));
    out[name] = await Promise.all(list.map(async (t) => Float32Array.from(await t.data())));
    tf.dispose(list);
    expect(tf.memory().numTensors, `${name}: tensors leaked`).toBe(before);
  }
  return { cpu: out.cpu!, webgpu: out.webgpu! };
}

function expectClose(r: { cpu: Float32Array[]; webgpu: Float32Array[] }, tol: number, what: string): void {
  expect(r.webgpu.length, what).toBe(r.cpu.length);
  r.cpu.forEach((c, i) => {
    const d = maxAbsDiff(r.webgpu[i]!, c);
    expect(d, `${what}, output ${i}: max |Δ|/(1+|ref|) = ${d}`).toBeLessThan(tol);
  });
}

// lavapipe compiles each new pipeline with LLVM (0.2–6 s): on a cold Mesa shader cache (a fresh CI
// machine) this suite's compiles take ~6× the warm time, so its tests get 3 minutes, not vitest's 30 s
const COLD_COMPILES = { timeout: 180_000 };
describe.skipIf(!webgpu.available && !requireWebgpu)('WebGPU kernels on random cases (seeded) vs the cpu backend', COLD_COMPILES, () => {
  it('matMul: random sides, transposes, batches (broadcast too), biases, tiles and split-K; gradients where tfjs has them', async () => {
    const g = fuzzCases(12);
    for (let i = 0; i < 40; i++) {
      const c = drawMatMulCase(g, true);
      const env = {
        OMNITOK_WEBGPU_MATMUL_TILE: g.pick([undefined, undefined, '64', '128', '128v', '128x64v', '64x128v', '64v']),
        OMNITOK_WEBGPU_SPLITK: g.pick([undefined, undefined, undefined, '0', '3']),
        OMNITOK_WEBGPU_MATMUL_TK: g.pick([undefined, undefined, '32']),
        OMNITOK_WEBGPU_MATMUL_STAGES: g.pick([undefined, undefined, '2']),
      };
      const what = `case ${i}: ${c.describe} ${JSON.stringify(env)}`;
      const r = await withEnv(env, () => onBoth((backend) => matMulCaseValuesAndGrads(c, 10 * i + 1, backend === 'cpu')));
      expect(r.cpu[0]!.length, what).toBe(c.m * c.n * c.full.reduce((x, y) => x * y, 1));
      expectClose(r, GRAD, what);
    }
  });

  it('linear(): random rows and widths, with and without a bias and a residual; dW and db from the column-sums GEMM or apart, split-K or not', async () => {
    const g = fuzzCases(90);
    for (let i = 0; i < 16; i++) {
      const lead = g.pick([[g.side(300)], [g.int(1, 4), g.side(140)], [g.int(1, 3), g.int(1, 3), g.side(70)]]);
      const rows = lead.reduce((a, b) => a * b, 1);
      const [inDim, outDim] = [g.side(140), g.side(140)];
      const bias = g.next() < 0.7;
      const env = {
        OMNITOK_WEBGPU_BIAS_GRAD: g.pick([undefined, undefined, 'separate']),
        OMNITOK_WEBGPU_SPLITK: g.pick([undefined, undefined, '0', '4']),
        OMNITOK_WEBGPU_MATMUL_TILE: g.pick([undefined, undefined, '64', '128', '128v', '64x128v']),
        OMNITOK_WEBGPU_MATMUL_TK: g.pick([undefined, '32']),
        OMNITOK_WEBGPU_MATMUL_LOADS: g.pick([undefined, 'vec4']),
      };
      const residual = g.next() < 0.4; // in the GEMM's epilogue (with a bias) or added after it
      const what = `case ${i}: x ${JSON.stringify([...lead, inDim])} · W [${inDim}, ${outDim}]${bias ? ' + b' : ''}${residual ? ' + residual' : ''} (${rows} rows) ${JSON.stringify(env)}`;
      const scale = 1 / Math.sqrt(Math.sqrt(Math.max(inDim, rows)));
      const r = await withEnv(env, () => onBoth(() => {
        const x = rand(2 * i + 1, [...lead, inDim], scale);
        const w = rand(2 * i + 2, [inDim, outDim], scale);
        const b = bias ? rand(100 + i, [outDim]) : undefined;
        const res = residual ? rand(300 + i, [...lead, outDim]) : undefined;
        const dy = rand(200 + i, [...lead, outDim]);
        const args = [x, w, ...(b ? [b] : []), ...(res ? [res] : [])];
        const f = (...t: tf.Tensor[]) => tf.sum(tf.mul(linear(t[0]!, t[1]!, b ? t[2] : undefined, res ? t[b ? 3 : 2] : undefined), dy));
        return [linear(x, w, b, res), ...tf.grads(f)(args)];
      }));
      expectClose(r, GRAD, what);
    }
  });

  it('MLP: random rows, widths and GELU kinds, a residual or not; GELU in the GEMM epilogues or apart, split-K or not', async () => {
    const g = fuzzCases(93);
    for (let i = 0; i < 8; i++) {
      const lead = g.pick([[g.side(200)], [g.int(1, 3), g.side(70)]]);
      const [width, hidden] = [g.side(100), g.side(140)];
      const kind = g.pick(['erf', 'tanh', 'quick'] as const);
      const residual = g.next() < 0.5;
      const env = { OMNITOK_WEBGPU_MLP: g.pick([undefined, undefined, 'separate']), OMNITOK_WEBGPU_SPLITK: g.pick([undefined, '0', '3']), OMNITOK_WEBGPU_MATMUL_TILE: g.pick([undefined, '64', '64x128v']) };
      const what = `case ${i}: x ${JSON.stringify([...lead, width])} → ${hidden} gelu ${kind}${residual ? ' + residual' : ''} ${JSON.stringify(env)}`;
      const r = await withEnv(env, () => onBoth(() => mlpValuesAndGrads(width, hidden, kind, rand(400 + i, [...lead, width]), rand(500 + i, [...lead, width]), residual ? rand(600 + i, [...lead, width]) : undefined)));
      expectClose(r, GRAD, what);
    }
  });

  it('AdamW with the device step guard: random parameter sets (group boundaries, sizes, ranks), three clipped steps equal the host-clipped cpu ones', async () => {
    const g = fuzzCases(91);
    for (let i = 0; i < 8; i++) {
      const shapes = Array.from({ length: g.int(1, 12) }, () => (g.next() < 0.5 ? [g.int(1, 5000)] : [g.int(1, 70), g.int(1, 90)]));
      const clip = g.pick([0.1, 1, 1e6]); // clipping hard, mildly or not at all
      const env = { OMNITOK_WEBGPU_ADAMW: g.pick([undefined, undefined, 'programs']), OMNITOK_WEBGPU_ADAMW_GROUP: g.pick([undefined, '1', '2']) };
      const what = `case ${i}: ${shapes.length} parameters ${JSON.stringify(shapes)}, clip ${clip} ${JSON.stringify(env)}`;
      const r = await withEnv(env, () => onBoth((backend) => {
        const params = new Map(shapes.map((shape, j) => [`p${j}`, tf.variable(rand(10 * i + j, shape))] as const));
        const opt = new AdamW(params, { lr: 0.01, weightDecay: 0.1 });
        const norms: tf.Tensor[] = [];
        for (let step = 0; step < 3; step++) {
          const grads = new Map([...params].map(([k, p], j) => [k, tf.mul(tf.sin(tf.add(p, step + j)), 2)] as const));
          const loss = tf.scalar(1 + step);
          norms.push(globalNorm(grads.values()));
          if (backend === 'webgpu') {
            expect(opt.canApplyGuarded(), what).toBe(true);
            opt.applyGuarded(grads, 0.01, webgpuStepGuard([...grads.values()], loss, clip)!);
          } else {
            opt.apply(clipByGlobalNorm(grads, clip, norms.at(-1)!.dataSync()[0]!), 0.01);
          }
        }
        const out: tf.Tensor[] = [...params.values()].map((p) => p.clone());
        out.push(tf.stack(norms));
        opt.dispose();
        for (const p of params.values()) p.dispose();
        return out;
      }));
      expectClose(r, FWD, what);
    }
  });

  it('f16 GEMMs (the matrix program, emulated): random sides, transposes, batches and split-K, exact on values f16 holds', async () => {
    const eighths = (seed: number, shape: number[]) => tf.tensor(f16ExactValues(shape.reduce((p, d) => p * d, 1), seed), shape);
    await initBackend('webgpu');
    expect(await setWebgpuMatmulPrecision('f16-emulated')).toMatchObject({ precision: 'f16-emulated' });
    try {
      const g = fuzzCases(78);
      // products and sums of eighths in [−1, 1] over K ≤ 2 500 are exact in f32, so any misplaced element shows
      for (let i = 0; i < 12; i++) {
        const [m, n] = [g.side(200), g.side(200)];
        const k = g.next() < 0.25 ? g.int(300, 2500) : g.side(140);
        const [ta, tb] = [g.next() < 0.5, g.next() < 0.5];
        const batch = g.pick([[], [], [2]]);
        const env = { OMNITOK_WEBGPU_SPLITK: g.pick([undefined, undefined, '0', '3']) };
        const sa = [...batch, ...(ta ? [k, m] : [m, k])];
        const sb = [...batch, ...(tb ? [n, k] : [k, n])];
        const what = `case ${i}: a ${JSON.stringify(sa)}${ta ? 'ᵀ' : ''} b ${JSON.stringify(sb)}${tb ? 'ᵀ' : ''} ${JSON.stringify(env)}`;
        const r = await withEnv(env, () => onBoth(() => {
          const [a, b] = [eighths(2 * i + 1, sa), eighths(2 * i + 2, sb)];
          const dy = eighths(3000 + i, [...batch, m, n]);
          const grads = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.matMul(p, q, ta, tb), dy)))([a, b]);
          return [tf.matMul(a, b, ta, tb), ...grads];
        }));
        r.cpu.forEach((c, j) => expect(maxAbsDiff(r.webgpu[j]!, c), `${what}, output ${j}`).toBe(0));
      }
    } finally {
      await initBackend('webgpu');
      await setWebgpuMatmulPrecision('f32');
    }
  }, 120_000); // a pipeline per transpose pair and rank, ~2 s each for lavapipe's LLVM

  it('self-attention: random lengths, heads, head dims, masks (suffix padding, holes, left padding) and every forward/backward program', async () => {
    const g = fuzzCases(2);
    const covered = new Set<string>();
    for (let i = 0; i < 24; i++) {
      const c = drawAttentionCase(g, [4, 8, 12, 16, 32, 64, 64], 80);
      const tiled = c.headDim === 64; // the tiled programs' head dim
      const env = {
        OMNITOK_WEBGPU_ATTN_FWD: g.pick(tiled ? ['fused', 'tiled', 'gemm'] : ['fused', 'gemm']),
        OMNITOK_WEBGPU_ATTN_BWD: g.pick(tiled ? ['gemm', 'flash', 'tiled'] : ['gemm', 'flash']),
        OMNITOK_WEBGPU_ATTN_TILE: g.pick([undefined, undefined, '64v', '64x128v', '128x64v', 'plan']),
      };
      const what = `case ${i}: ${c.describe}, ${JSON.stringify(env)}`;
      const r = await withEnv(env, () => onBoth(() => attentionCaseValuesAndGrads(c, 2 * i + 40)));
      expectClose(r, GRAD, what);
      for (const [k, v] of Object.entries(env)) if (v) covered.add(`${k}=${v}`);
      covered.add(`mask ${c.maskKind}`);
      if (c.causal && c.keep.some((row) => row[0] === 0)) covered.add('rows with only masked keys');
    }
    // the draws reach every program and mask kind (a changed seed or generator must keep them)
    expect([...covered].sort()).toEqual(expect.arrayContaining(['OMNITOK_WEBGPU_ATTN_BWD=flash', 'OMNITOK_WEBGPU_ATTN_BWD=gemm', 'OMNITOK_WEBGPU_ATTN_BWD=tiled', 'OMNITOK_WEBGPU_ATTN_FWD=fused', 'OMNITOK_WEBGPU_ATTN_FWD=gemm', 'OMNITOK_WEBGPU_ATTN_FWD=tiled', 'OMNITOK_WEBGPU_ATTN_TILE=128x64v', 'OMNITOK_WEBGPU_ATTN_TILE=64v', 'OMNITOK_WEBGPU_ATTN_TILE=64x128v', 'OMNITOK_WEBGPU_ATTN_TILE=plan', 'mask holes', 'mask left', 'mask none', 'mask suffix', 'rows with only masked keys']));
  });

  it('LayerNorm → GELU: random rows, widths (past a workgroup, past the γ/β partials\' 128-row chunks) and GELU kinds, values and gradients', async () => {
    const g = fuzzCases(56);
    for (let i = 0; i < 10; i++) {
      const c = drawNormCase(g);
      const env = { OMNITOK_WEBGPU_LN: g.pick([undefined, undefined, 'block']) }; // rows in registers or a workgroup per row
      const r = await withEnv(env, () => onBoth(() => normCaseValuesAndGrads(c, 10 * i + 500)));
      expectClose(r, GRAD, `case ${i}: ${c.describe} ${JSON.stringify(env)}`);
    }
  });
});
