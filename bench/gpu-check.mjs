#!/usr/bin/env node
/**
 * Correctness of omnitok's WebGPU kernels on the device itself, against the cpu backend: the kernels are
 * tested in CI on Mesa's lavapipe only, and a GPU compiles and schedules them differently (a missing
 * barrier or a bad vec4 read can pass on lavapipe and fail on NVIDIA). Random cases from a fixed seed,
 * sized for a GPU (GEMMs to 640, attention over 197 tokens): every GEMM tile and split-K, every attention
 * program (fused, tiled, GEMM forward; gemm, flash, tiled backward; rows with only masked keys),
 * LayerNorm → GELU, linear() through the column-sums GEMM, the MLP with GELU in its GEMMs' epilogues,
 * the contrastive loss, the embedding gradient, AdamW behind the device step guard, and the Trainer with one step in flight
 * (queued steps equal awaited ones; a step behind a NaN one skipped). Values and gradients as
 * max |Δ|/(1+|ref|); one line per group, PASS or FAIL with the first failing case.
 * Exits 1 on a failure, 2 when WebGPU did not start.
 *
 *   npm run build && node bench/gpu-check.mjs --smoke          # here, on lavapipe (smaller cases)
 *   bash ../shared/tools/gpu-bundle.sh bench/gpu-check.mjs      # then on the device (bench/gpu-run.sh runs it last)
 */
import * as runtime from '../packages/core/dist/runtime/index.js';
import { flag, importModule, log, startWebgpu } from './gpu-common.mjs';

const SMOKE = flag('smoke');
const TOL = { value: 2e-5, grad: 5e-5, adamw: 2e-5 };
const cap = (n) => (SMOKE ? Math.max(1, Math.ceil(n / 4)) : n);

let seed = 2026;
const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
const int = (lo, hi) => lo + Math.floor(random() * (hi - lo + 1));
const pick = (xs) => xs[Math.floor(random() * xs.length)];

let tf; // the webgpu backend's TensorFlow.js, set by main()
const rand = (s, shape, scale = 1) => tf.tensor(new runtime.Rng(s).normals(shape.reduce((a, b) => a * b, 1), scale), shape);
const ENV_KEYS = ['OMNITOK_WEBGPU_MATMUL_TILE', 'OMNITOK_WEBGPU_MATMUL_TK', 'OMNITOK_WEBGPU_MATMUL_UNROLL', 'OMNITOK_WEBGPU_MATMUL_STAGES', 'OMNITOK_WEBGPU_MATMUL_LOADS', 'OMNITOK_WEBGPU_SPLITK', 'OMNITOK_WEBGPU_ATTN_FWD', 'OMNITOK_WEBGPU_ATTN_BWD', 'OMNITOK_WEBGPU_ATTN_TILE', 'OMNITOK_WEBGPU_BIAS_GRAD', 'OMNITOK_WEBGPU_MLP', 'OMNITOK_WEBGPU_LN'];

/** Runs `program` on cpu and on webgpu with `env` set, returns the worst max |Δ|/(1+|ref|) per output. */
async function compare(program, env) {
  const out = {};
  for (const name of ['cpu', 'webgpu']) {
    await runtime.initBackend(name, name === 'webgpu' ? { importModule } : {});
    for (const k of ENV_KEYS) delete process.env[k];
    if (name === 'webgpu') for (const [k, v] of Object.entries(env)) if (v !== undefined) process.env[k] = v;
    const list = tf.tidy(program);
    out[name] = await Promise.all(list.map(async (t) => Float32Array.from(await t.data())));
    tf.dispose(list);
  }
  for (const k of ENV_KEYS) delete process.env[k];
  return out.cpu.map((ref, i) => {
    let worst = 0;
    const got = out.webgpu[i];
    if (got.length !== ref.length) return Infinity;
    for (let j = 0; j < ref.length; j++) worst = Math.max(worst, Math.abs(got[j] - ref[j]) / (1 + Math.abs(ref[j])));
    return Number.isNaN(worst) ? Infinity : worst;
  });
}

const results = [];
async function group(name, count, draw) {
  let worst = 0;
  let failure;
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    const c = draw(i);
    let errs;
    try {
      errs = await compare(c.program, c.env ?? {});
    } catch (error) {
      failure ??= `${c.what}: ${error.message}`;
      continue;
    }
    errs.forEach((e, j) => {
      const tol = j === 0 ? c.tol?.value ?? TOL.value : c.tol?.grad ?? TOL.grad;
      worst = Math.max(worst, e);
      if (!(e < tol)) failure ??= `${c.what}, output ${j}: ${e.toExponential(2)} ≥ ${tol}`;
    });
  }
  results.push(!failure);
  log(`check ${name}: ${count} cases, worst ${worst.toExponential(2)} — ${failure ? `FAIL (${failure})` : 'PASS'} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

const side = (max) => (random() < 0.4 ? pick([1, 15, 16, 17, 63, 64, 65, 127, 128, 129, 255, 256, 257].filter((v) => v <= max)) : int(1, max));

// no top-level await: the GPU bundle is CommonJS
async function main() {
  ({ tf } = await startWebgpu(true));
  log(`# bench/gpu-check.mjs${SMOKE ? ' --smoke' : ''}: ${tf.backend().adapterInfo?.vendor ?? ''} ${tf.backend().adapterInfo?.architecture ?? ''}`.trim());

  await group('GEMM (every tile, split-K, transposes, batches, bias; gradients)', cap(20), (i) => {
    // long K (split-K) with few output tiles, as weight gradients; else square-ish up to 512
    const longK = random() < 0.3;
    const max = SMOKE ? 140 : longK ? 256 : 512;
    let [m, n] = [side(max), side(max)];
    let k = longK ? int(600, SMOKE ? 1500 : 4000) : side(max);
    const [ta, tb] = [random() < 0.5, random() < 0.5];
    const batch = pick([[], [], [3]]);
    const bias = random() < 0.3;
    const env = {
      OMNITOK_WEBGPU_MATMUL_TILE: pick([undefined, undefined, '64', '128', '128v', '128x64v', '64x128v', '64v']),
      OMNITOK_WEBGPU_SPLITK: pick([undefined, undefined, '0', '4']),
      OMNITOK_WEBGPU_MATMUL_TK: pick([undefined, '32']),
      OMNITOK_WEBGPU_MATMUL_LOADS: pick([undefined, 'vec4']),
      // not measured yet (bench/gemm-gpu.mjs sweeps them): a quarter of the cases each, for the compile time
      OMNITOK_WEBGPU_MATMUL_UNROLL: pick([undefined, undefined, undefined, '1']),
      OMNITOK_WEBGPU_MATMUL_STAGES: pick([undefined, undefined, undefined, '2']),
    };
    // vec4 loads: sides that allow them (multiples of 4) on most draws, an unaligned one now and then
    if (env.OMNITOK_WEBGPU_MATMUL_LOADS && random() < 0.8) [m, n, k] = [m, n, k].map((x) => Math.ceil(x / 4) * 4);
    const sa = [...batch, ...(ta ? [k, m] : [m, k])];
    const sb = [...batch, ...(tb ? [n, k] : [k, n])];
    const scale = 1 / Math.sqrt(Math.sqrt(k));
    return {
      what: `case ${i}: a ${JSON.stringify(sa)}${ta ? 'ᵀ' : ''} b ${JSON.stringify(sb)}${tb ? 'ᵀ' : ''}${bias ? ' + bias' : ''} ${JSON.stringify(env)}`,
      env,
      program: () => {
        const a = rand(10 * i + 1, sa, scale);
        const b = rand(10 * i + 2, sb, scale);
        const c = bias ? rand(10 * i + 3, [n]) : undefined;
        const w = rand(10 * i + 4, [...batch, m, n]);
        const f = (p, q) => tf.fused.matMul({ a: p, b: q, transposeA: ta, transposeB: tb, bias: c });
        return [f(a, b), ...tf.grads((p, q) => tf.sum(tf.mul(f(p, q), w)))([a, b])];
      },
    };
  });

  await group('self-attention (fused/tiled/GEMM forward × gemm/flash/tiled backward; masks, rows with only masked keys)', cap(14), (i) => {
    const headDim = pick([64, 64, 32, 16]);
    const heads = int(1, headDim === 64 ? 4 : 6);
    const width = heads * headDim;
    const B = int(1, 3);
    const N = pick([SMOKE ? 50 : 197, 77, int(1, SMOKE ? 60 : 260)]);
    const causal = random() < 0.4;
    const maskKind = pick(['none', 'suffix', 'left', 'holes']);
    const keep = Array.from({ length: B }, (_, b) => {
      const kept = b === 0 ? N : int(0, N); // 0: a sample with no key kept
      return Array.from({ length: N }, (_, j) => (maskKind === 'none' ? 1 : maskKind === 'suffix' ? +(j < kept) : maskKind === 'left' ? +(j >= N - kept) : +(random() < 0.7)));
    });
    const tiled = headDim === 64;
    const env = {
      OMNITOK_WEBGPU_ATTN_FWD: pick(tiled ? ['fused', 'tiled', 'gemm'] : ['fused', 'gemm']),
      OMNITOK_WEBGPU_ATTN_BWD: pick(tiled ? ['gemm', 'flash', 'tiled', 'tiled'] : ['gemm', 'flash']),
      OMNITOK_WEBGPU_ATTN_TILE: pick([undefined, undefined, '64v', '64x128v', '128x64v', 'plan']),
    };
    return {
      what: `case ${i}: B ${B}, N ${N}, ${heads} heads of ${headDim}, causal ${causal}, mask ${maskKind} ${JSON.stringify(env)}`,
      env,
      program: () => {
        const attn = new runtime.MultiHeadAttention(width, heads, new runtime.Rng(3));
        const x = rand(10 * i + 5, [B, N, width]);
        const w = rand(10 * i + 6, [B, N, width]);
        const mask = { keyMask: maskKind === 'none' ? undefined : tf.tensor2d(keep.flat(), [B, N]), causal };
        const params = [...attn.parameters().values()];
        const f = () => tf.sum(tf.mul(attn.forward(x, undefined, mask), w));
        const { grads } = tf.variableGrads(f, params);
        const [dx] = tf.grads((t) => tf.sum(tf.mul(attn.forward(t, undefined, mask), w)))([x]);
        const out = [attn.forward(x, undefined, mask), dx, ...params.map((p) => grads[p.name])];
        attn.dispose();
        return out;
      },
    };
  });

  await group('LayerNorm → GELU (values, dx, dγ, dβ; rows in registers or a workgroup per row)', cap(5), (i) => {
    const rows = side(SMOKE ? 300 : 3000);
    const width = pick([64, 129, 384, 513, 768, 1536]);
    const kind = pick(['erf', 'tanh', 'quick']);
    const env = { OMNITOK_WEBGPU_LN: pick([undefined, undefined, 'block']) };
    return {
      what: `case ${i}: [${rows}, ${width}] gelu ${kind} ${JSON.stringify(env)}`,
      env,
      program: () => {
        const ln = new runtime.LayerNorm(width);
        ln.weight.assign(rand(10 * i + 7, [width]));
        ln.bias.assign(rand(10 * i + 8, [width]));
        const x = rand(10 * i + 9, [rows, width], 3);
        const w = rand(10 * i + 10, [rows, width]);
        const f = (t) => tf.sum(tf.mul(runtime.gelu(ln.forward(t), kind), w));
        const { grads } = tf.variableGrads(() => f(x), [ln.weight, ln.bias]);
        const out = [runtime.gelu(ln.forward(x), kind), tf.grads(f)([x])[0], grads[ln.weight.name], grads[ln.bias.name]];
        ln.dispose();
        return out;
      },
    };
  });

  await group('linear() (dW and db from the column-sums GEMM or apart, split-K; a residual in the epilogue)', cap(6), (i) => {
    const rows = pick([int(1, 300), SMOKE ? 394 : 25216 / 8]);
    const [inDim, outDim] = [pick([64, 384, 768, int(1, 300)]), pick([64, 384, 1536, int(1, 300)])];
    const env = { OMNITOK_WEBGPU_BIAS_GRAD: pick([undefined, 'separate']), OMNITOK_WEBGPU_SPLITK: pick([undefined, undefined, '0']), OMNITOK_WEBGPU_MATMUL_TK: pick([undefined, '32']), OMNITOK_WEBGPU_MATMUL_LOADS: pick([undefined, 'vec4']), OMNITOK_WEBGPU_MATMUL_UNROLL: pick([undefined, undefined, undefined, '1']), OMNITOK_WEBGPU_MATMUL_STAGES: pick([undefined, undefined, undefined, '2']) };
    return {
      what: `case ${i}: [${rows}, ${inDim}] · [${inDim}, ${outDim}] ${JSON.stringify(env)}`,
      env,
      program: () => {
        const s = 1 / Math.sqrt(Math.sqrt(Math.max(inDim, rows)));
        const x = rand(10 * i + 11, [rows, inDim], s);
        const w = rand(10 * i + 12, [inDim, outDim], s);
        const b = rand(10 * i + 13, [outDim]);
        const dy = rand(10 * i + 14, [rows, outDim], 1 / Math.sqrt(rows)); // sums over the rows of O(1)
        if (i % 2 === 0) return [runtime.linear(x, w, b), ...tf.grads((p, q, r) => tf.sum(tf.mul(runtime.linear(p, q, r), dy)))([x, w, b])];
        // odd cases: a residual (a block's attention projection or fc2)
        const res = rand(10 * i + 15, [rows, outDim]);
        return [runtime.linear(x, w, b, res), ...tf.grads((p, q, r, t) => tf.sum(tf.mul(runtime.linear(p, q, r, t), dy)))([x, w, b, res])];
      },
    };
  });

  await group('MLP (GELU in fc1\'s epilogue, GELU′ in the GEMM through fc2; split-K or not; a residual)', cap(4), (i) => {
    const rows = pick([int(1, 300), SMOKE ? 394 : 25216 / 8]);
    const width = pick([64, 384, int(1, 200)]);
    const hidden = pick([4 * width, int(1, 600)]);
    const kind = pick(['erf', 'tanh', 'quick']);
    const env = { OMNITOK_WEBGPU_SPLITK: pick([undefined, undefined, '0', '3']), OMNITOK_WEBGPU_MLP: pick([undefined, undefined, 'separate']) };
    return {
      what: `case ${i}: [${rows}, ${width}] → ${hidden} gelu ${kind} ${JSON.stringify(env)}`,
      env,
      program: () => {
        const mlp = new runtime.Mlp(width, hidden, kind, new runtime.Rng(10 * i + 16));
        mlp.fc1.weight.assign(rand(10 * i + 17, [width, hidden], 1.5 / Math.sqrt(width))); // GELU's inputs over its curved range
        mlp.fc1.bias.assign(rand(10 * i + 18, [hidden], 0.5));
        const x = rand(10 * i + 19, [rows, width]);
        const res = rand(10 * i + 20, [rows, width]);
        const dy = rand(10 * i + 21, [rows, width], 1 / Math.sqrt(rows));
        const params = [...mlp.parameters().values()];
        const f = (p, r) => tf.sum(tf.mul(mlp.forward(p, r), dy));
        const { grads } = tf.variableGrads(() => f(x, res), params);
        const out = [mlp.forward(x, res), ...tf.grads(f)([x, res]), ...params.map((p) => grads[p.name])];
        mlp.dispose();
        return out;
      },
    };
  });

  await group('contrastive loss (l2Normalize, pairedCrossEntropy: values and gradients)', cap(3), (i) => {
    const n = pick([SMOKE ? 37 : 128, SMOKE ? 64 : 256, int(1, SMOKE ? 100 : 1000)]);
    const d = pick([64, 384, 768, int(1, 1024)]);
    return {
      what: `case ${i}: [${n}, ${d}] pairs`,
      program: () => {
        const a = rand(10 * i + 22, [n, d]);
        const b = rand(10 * i + 23, [n, d]);
        const loss = (p, q) => tf.mul(runtime.pairedCrossEntropy(tf.mul(tf.matMul(runtime.l2Normalize(p), runtime.l2Normalize(q), false, true), 100)), 1.3);
        return [loss(a, b), ...tf.grads(loss)([a, b])];
      },
    };
  });

  await group('embedding gradient (fixed-point sums, exactly rounded: repeated ids, a padding id on most positions)', cap(3), (i) => {
    const vocab = pick([SMOKE ? 300 : 49408, int(2, 5000)]);
    const d = pick([64, 512, int(1, 768)]);
    const n = SMOKE ? int(10, 400) : int(1000, 20000);
    const ids = Array.from({ length: n }, () => (random() < 0.6 ? 0 : int(0, vocab - 1)));
    return {
      what: `case ${i}: ${n} ids into [${vocab}, ${d}]`,
      tol: { value: TOL.grad },
      program: () => {
        const table = rand(10 * i + 41, [vocab, d]);
        const w = rand(10 * i + 42, [d]);
        const idsT = tf.tensor1d(ids, 'int32');
        const [g] = tf.grads((t) => tf.sum(tf.mul(tf.sin(runtime.embeddingLookup(t, idsT)), w)))([table]);
        return [g];
      },
    };
  });

  await group('AdamW behind the device step guard (three clipped steps, random parameter sets)', cap(3), (i) => {
    const shapes = Array.from({ length: int(1, 20) }, () => (random() < 0.5 ? [int(1, 200000)] : [int(1, 600), int(1, 600)]));
    const clip = pick([0.1, 1, 1e6]);
    return {
      what: `case ${i}: ${shapes.length} parameters, clip ${clip}`,
      tol: { value: TOL.adamw, grad: TOL.adamw },
      program: () => {
        const gpu = tf.getBackend() === 'webgpu';
        const params = new Map(shapes.map((shape, j) => [`p${j}`, tf.variable(rand(100 * i + j, shape))]));
        const opt = new runtime.AdamW(params, { lr: 0.01, weightDecay: 0.1 });
        for (let step = 0; step < 3; step++) {
          // gradients made on the host, the same bits on both backends: computed on the device (run 4 used
          // 2·sin(p + step), and NVIDIA's sin is ~1e-6 off) they differ, and Adam's m/(√v + ε) turns 1e-6 in
          // a gradient into 1e-5–2e-4 in the parameters (checked on the cpu backend alone), which is no AdamW error
          const grads = new Map([...params].map(([k, p], j) => [k, rand(7919 * (i + 1) + 101 * step + j, p.shape, 2)]));
          const norm = runtime.globalNorm(grads.values());
          if (gpu && opt.canApplyGuarded()) {
            // the guard [norm, clip factor] stays on the device, as the Trainer's step guard leaves it
            opt.applyGuarded(grads, 0.01, tf.stack([norm, tf.minimum(tf.div(clip, tf.add(norm, 1e-6)), 1)]));
          } else opt.apply(runtime.clipByGlobalNorm(grads, clip, norm.dataSync()[0]), 0.01);
        }
        const out = [...params.values()].map((p) => p.clone());
        opt.dispose();
        for (const p of params.values()) p.dispose();
        return out;
      },
    };
  });

  await inFlightCheck();

  const passed = results.every(Boolean);
  log(`gpu-check: ${results.filter(Boolean).length} of ${results.length} groups passed${passed ? '' : ' — a kernel is wrong on this device'}`);
  return passed;
}

/**
 * The trainer with one step in flight on this device (webgpu alone): four steps queued at once equal four
 * awaited one by one, and a step queued behind a NaN one is skipped on the device (chained step guards).
 */
async function inFlightCheck() {
  await runtime.initBackend('webgpu', { importModule });
  const t0 = performance.now();
  const setup = () => {
    const enc = new runtime.TransformerEncoder({ size: 'custom', width: 64, depth: 2, heads: 2, mlpRatio: 4, dropout: 0, tokens: { kind: 'continuous', dim: 24, count: 16 }, projectionDim: 8 }, new runtime.Rng(5));
    const x = rand(11, [16, 16, 24]);
    const y = tf.oneHot(tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 8), 'int32'), 8);
    const loss = (scale = 1) => () => tf.mul(tf.losses.softmaxCrossEntropy(y, enc.forward(x).embedding), scale);
    const trainer = new runtime.Trainer(enc.parameters(), { optimizer: new runtime.AdamW(enc.parameters(), { lr: 1e-2 }), clipNorm: 0.5 });
    const weights = async () => (await Promise.all([...enc.parameters().values()].map((p) => p.data()))).map((d) => Float32Array.from(d));
    const dispose = () => {
      trainer.options.optimizer.dispose();
      enc.dispose();
      tf.dispose([x, y]);
    };
    return { loss, trainer, weights, dispose };
  };
  let failure;
  let worst = 0;
  try {
    const a = setup();
    const awaited = [];
    for (let i = 0; i < 4; i++) awaited.push(await a.trainer.trainStep(a.loss()));
    const wa = await a.weights();
    a.dispose();
    const q = setup();
    const queued = await Promise.all([0, 1, 2, 3].map(() => q.trainer.trainStep(q.loss())));
    const wq = await q.weights();
    queued.forEach((r, i) => {
      worst = Math.max(worst, Math.abs(r.loss - awaited[i].loss) / (1 + Math.abs(awaited[i].loss)));
      if (r.step !== i || r.skipped) failure ??= `queued step ${i}: ${JSON.stringify(r)}`;
    });
    wq.forEach((w, i) => w.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - wa[i][j]) / (1 + Math.abs(wa[i][j]))))));
    if (!(worst < TOL.grad)) failure ??= `queued vs awaited: ${worst.toExponential(2)} ≥ ${TOL.grad}`;
    // a NaN step with one queued behind it: the error, then the one behind skipped, nothing applied
    const before = await q.weights();
    const bad = q.trainer.trainStep(q.loss(NaN));
    const behind = q.trainer.trainStep(q.loss());
    const error = await bad.then(() => undefined, (e) => e);
    const r = await behind;
    const after = await q.weights();
    if (error?.code !== 'E_NON_FINITE') failure ??= `NaN step: ${error ?? 'no error'}`;
    if (!r.skipped || !r.behind || q.trainer.step !== 4) failure ??= `the step behind a NaN one: ${JSON.stringify(r)}, step count ${q.trainer.step}`;
    if (after.some((w, i) => w.some((v, j) => v !== before[i][j]))) failure ??= 'weights changed behind the NaN step';
    q.dispose();
  } catch (error) {
    failure ??= error.message;
  }
  results.push(!failure);
  log(`check Trainer with one step in flight (queued = awaited; a step behind a NaN one skipped): worst ${worst.toExponential(2)} — ${failure ? `FAIL (${failure})` : 'PASS'} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}

main().then(
  (passed) => process.exit(passed ? 0 : 1),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
