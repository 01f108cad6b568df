#!/usr/bin/env node
/**
 * GEMM variants on WebGPU (issue 12): TFLOP/s of the matrix products of one ViT-S-like CLIP train step
 * (batch 128 × 197 tokens = 25,216 rows, width 384, MLP 1,536) — forward, input gradient (transposed B)
 * and weight gradient (transposed A, long K; and the `dW+db` rows: weight and bias gradient together, as a
 * linear layer's backward runs them) — for TensorFlow.js' kernel and each omnitok variant:
 * the 64×64 tile, the 128×128 tile with scalar or vec4 operand reads, the vec4 reads on 128×64, 64×128
 * and 64×64 tiles (for short-K forward products, where the 128×128 tile reached only 15–17 TFLOP/s),
 * each without split-K, the automatic plan (tile choice + split-K) with either 128 variant, and the
 * 64×128 tile and the plan with K slices of 32 (`k32`), with operands read four floats a load (`ld4`),
 * with the K slice's multiply-adds written out per k (`unroll`), with two staged slices (`2stage`), and
 * with C written as runs 1–5 wrote it, four scalar stores a thread (`st1`; vec4 stores are the default).
 *
 *   npm run build && node bench/gemm-gpu.mjs --small        # here, on lavapipe: proves it runs
 *   (--shapes 'fwd,dW+db' picks rows by their first word — `attn`: attention's per-head products, `text`: the
 *   text tower's 4 096-row ones; --rows /
 *   --width other sizes)
 *   bash ../shared/tools/gpu-bundle.sh bench/gemm-gpu.mjs   # then on the GPU machine:
 *   bash .gpu/enter.sh node .gpu/gemm-gpu.cjs [--variants 'auto vec4,tfjs'] --out $OUT/gemm-gpu.txt
 *
 * Column `f16 matrix`: the f16 GEMM on the matrix unit (setWebgpuMatmulPrecision('f16'): f16 operands,
 * f32 accumulation; needs OMNITOK_WEBGPU_MATMUL=f16 in the environment, for Dawn's toggles, and a GPU
 * with subgroup matrices — else its cells say why); checked against the first column at 2 % (f16
 * rounding), the others at 0.1 %.
 */
import * as runtime from '../packages/core/dist/runtime/index.js';
import { flag, log, opt, startWebgpu } from './gpu-common.mjs';

const SMALL = flag('small');

// --rows R --width D: other sizes (lavapipe with --small --width 384 shows the weight-and-bias rows' tiling)
const R = Number(opt('rows', SMALL ? 600 : 25216));
const D = Number(opt('width', SMALL ? 96 : 384));
const F = 4 * D;
// the text tower's rows: batch × 32 tokens
const RT = Math.max(1, Math.round(R / 197)) * 32;
// attention: batch × heads, tokens, head dim (the rows are batch × 197 tokens, heads of 64)
const T = SMALL ? 37 : 197;
const DH = SMALL ? 32 : 64;
const BH = SMALL ? 6 : Math.max(1, Math.round(R / 197)) * Math.max(1, Math.round(D / 64));
// [name, a shape, b shape, transposeA, transposeB, weight and bias gradient]
const SHAPES = [
  ['fwd qkv    X·Wqkv', [R, D], [D, 3 * D], false, false],
  ['fwd fc1    X·W1', [R, D], [D, F], false, false],
  ['fwd fc2    H·W2', [R, F], [F, D], false, false],
  ['dX fc1     dY·W1ᵀ', [R, F], [D, F], false, true],
  ['dX fc2     dY·W2ᵀ', [R, D], [F, D], false, true],
  ['dW fc1     Xᵀ·dY', [R, D], [R, F], true, false],
  ['dW fc2     Hᵀ·dY', [R, F], [R, D], true, false],
  ['dW qkv     Xᵀ·dY', [R, D], [R, 3 * D], true, false],
  // what a linear layer's backward runs (OmnitokWgWeightBiasGrad: dW and db = Σ dY in one GEMM; tfjs
  // and the kernels-off column: matMul + sum); FLOPs counted for dW alone
  ['dW+db fc1  Xᵀ·dY, Σ dY', [R, D], [R, F], true, false, true],
  ['dW+db fc2  Hᵀ·dY, Σ dY', [R, F], [R, D], true, false, true],
  ['dW+db qkv  Xᵀ·dY, Σ dY', [R, D], [R, 3 * D], true, false, true],
  ['square 4096', [SMALL ? 512 : 4096, SMALL ? 512 : 4096], [SMALL ? 512 : 4096, SMALL ? 512 : 4096], false, false],
  // the text tower's products (batch 128 × 32 tokens = 4 096 rows) with a 384-wide output: too few
  // 64×128 tiles to fill the GPU, so the plan puts them on the 64-tile (run 5: 8 ms of the step on the
  // scalar one at 11–13 TFLOP/s)
  ['text fc2   H·W2', [RT, F], [F, D], false, false],
  ['text proj  X·Wo', [RT, D], [D, D], false, false],
  ['text dX-qkv dY·Wqkvᵀ', [RT, 3 * D], [D, 3 * D], false, true],
  // attention's per-head products, batched over batch × heads (ViT-S: 128 × 6 heads of 64 over 197
  // tokens), which the GEMM attention forward and backward run on the 64-tile (OMNITOK_WEBGPU_ATTN_TILE
  // picks another one there): which tile serves them best has not been measured on a GPU
  ['attn S=QKᵀ  (dP=dO·Vᵀ)', [BH, T, DH], [BH, T, DH], false, true],
  ['attn P·V  (dQ=dS·K)', [BH, T, T], [BH, T, DH], false, false],
  ['attn dK=dSᵀ·Q  (dV=Pᵀ·dO)', [BH, T, T], [BH, T, DH], true, false],
];
const VARIANTS = [
  ['tfjs', { kernels: false }],
  ['64', { OMNITOK_WEBGPU_MATMUL_TILE: '64', OMNITOK_WEBGPU_SPLITK: '0' }],
  ['128 scalar', { OMNITOK_WEBGPU_MATMUL_TILE: '128', OMNITOK_WEBGPU_SPLITK: '0' }],
  ['128 vec4', { OMNITOK_WEBGPU_MATMUL_TILE: '128v', OMNITOK_WEBGPU_SPLITK: '0' }],
  ['128x64 vec4', { OMNITOK_WEBGPU_MATMUL_TILE: '128x64v', OMNITOK_WEBGPU_SPLITK: '0' }],
  ['64x128 vec4', { OMNITOK_WEBGPU_MATMUL_TILE: '64x128v', OMNITOK_WEBGPU_SPLITK: '0' }],
  ['64 vec4', { OMNITOK_WEBGPU_MATMUL_TILE: '64v', OMNITOK_WEBGPU_SPLITK: '0' }],
  ['auto scalar', { OMNITOK_WEBGPU_MATMUL_VARIANT: 'scalar' }],
  ['auto vec4', {}],
  // the plan with the scalar 64-tile for what it leaves to that tile (run 5's choice)
  ['auto scalar64', { OMNITOK_WEBGPU_MATMUL_VARIANT: 'scalar64' }],
  // K slices of 32 instead of 16 (OMNITOK_WEBGPU_MATMUL_TK=32: half the barriers per FMA)
  ['64x128 vec4 k32', { OMNITOK_WEBGPU_MATMUL_TILE: '64x128v', OMNITOK_WEBGPU_SPLITK: '0', OMNITOK_WEBGPU_MATMUL_TK: '32' }],
  ['auto vec4 k32', { OMNITOK_WEBGPU_MATMUL_TK: '32' }],
  // C written four scalar stores a thread, 16 bytes apart, as runs 1–5 wrote it (vec4 stores are the default since)
  ['auto vec4 st1', { OMNITOK_WEBGPU_MATMUL_STORES: 'scalar' }],
  // the K slice's multiply-adds written out per k (does the driver unroll the loop itself?), two staged
  // slices with one barrier each, and both
  ['auto vec4 unroll', { OMNITOK_WEBGPU_MATMUL_UNROLL: '1' }],
  ['auto vec4 2stage', { OMNITOK_WEBGPU_MATMUL_STAGES: '2' }],
  ['auto vec4 unroll 2stage', { OMNITOK_WEBGPU_MATMUL_UNROLL: '1', OMNITOK_WEBGPU_MATMUL_STAGES: '2' }],
  // operands read four floats a load where aligned (OMNITOK_WEBGPU_MATMUL_LOADS=vec4)
  ['64 ld4', { OMNITOK_WEBGPU_MATMUL_TILE: '64', OMNITOK_WEBGPU_SPLITK: '0', OMNITOK_WEBGPU_MATMUL_LOADS: 'vec4' }],
  ['64x128 vec4 ld4', { OMNITOK_WEBGPU_MATMUL_TILE: '64x128v', OMNITOK_WEBGPU_SPLITK: '0', OMNITOK_WEBGPU_MATMUL_LOADS: 'vec4' }],
  ['auto vec4 ld4', { OMNITOK_WEBGPU_MATMUL_LOADS: 'vec4' }],
  ['f16 matrix', { precision: 'f16' }],
];
const ENV_KEYS = ['OMNITOK_WEBGPU_MATMUL_TILE', 'OMNITOK_WEBGPU_SPLITK', 'OMNITOK_WEBGPU_MATMUL_VARIANT', 'OMNITOK_WEBGPU_MATMUL_TK', 'OMNITOK_WEBGPU_MATMUL_LOADS', 'OMNITOK_WEBGPU_MATMUL_UNROLL', 'OMNITOK_WEBGPU_MATMUL_STAGES', 'OMNITOK_WEBGPU_MATMUL_STORES'];
// --variants 'auto vec4,128 vec4': a subset (comma-separated names of the table's columns)
const ONLY = opt('variants', '');
const CHOSEN = ONLY ? VARIANTS.filter(([name]) => ONLY.split(',').includes(name)) : VARIANTS;
// --shapes 'dW+db,fwd,dX': the rows whose name starts with one of these words, in that order (a
// timeout cuts the last ones)
const ROWS = opt('shapes', '');
const SHAPES_RUN = ROWS ? ROWS.split(',').flatMap((word) => SHAPES.filter(([name]) => name.split(/\s+/)[0] === word)) : SHAPES;

async function main() {
  const info = await startWebgpu();
  const tf = info.tf;
  log(`# bench/gemm-gpu.mjs ${SMALL ? '(--small: lavapipe-sized, not a performance figure)' : ''}`);
  log(info.description);
  const f16 = await runtime.setWebgpuMatmulPrecision('f16');
  log(`f16 matrix: ${f16.precision === 'f16' ? `on (${f16.unit})` : f16.reason}`);
  const header = `| product (M×N×K) | ${CHOSEN.map(([v]) => v).join(' | ')} |`;
  log(`TFLOP/s (median of 3 timings, each ≥ 10 products or 0.15 s):\n${header}\n|${'---|'.repeat(CHOSEN.length + 1)}`);
  for (const [name, sa, sb, ta, tb, withBias] of SHAPES_RUN) {
    const a = tf.randomNormal(sa);
    const b = tf.randomNormal(sb);
    const [r0, c0] = sa.slice(-2);
    const m = ta ? c0 : r0;
    const k = ta ? r0 : c0;
    const n = tb ? sb.at(-2) : sb.at(-1);
    const batch = sa.slice(0, -2).reduce((x, y) => x * y, 1);
    const flops = 2 * m * n * k * batch;
    const cells = [];
    let ref;
    // the product (and for weight-and-bias rows the bias gradient, disposed with it)
    const product = () => {
      if (!withBias) return tf.matMul(a, b, ta, tb);
      const [dw, db] = runtime.webgpuKernelsActive()
        ? tf.engine().runKernel('OmnitokWgWeightBiasGrad', { x: a, dy: b }, {})
        : [tf.matMul(a, b, true, false), tf.sum(b, 0)];
      db.dispose();
      return dw;
    };
    for (const [, env] of CHOSEN) {
      for (const key of ENV_KEYS) delete process.env[key];
      Object.assign(process.env, Object.fromEntries(Object.entries(env).filter(([key]) => key !== 'kernels')));
      runtime.setWebgpuKernels(env.kernels !== false);
      if ((await runtime.setWebgpuMatmulPrecision(env.precision ?? 'f32')).precision !== (env.precision ?? 'f32')) {
        cells.push('n/a');
        continue;
      }
      // warm-up (pipeline compile) and a value check against the first variant
      const w = product();
      const sample = (await w.slice(w.shape.map(() => 0), [...w.shape.slice(0, -1).map(() => 1), Math.min(8, n)]).data()).slice();
      w.dispose();
      if (!ref) ref = sample;
      const off = Math.max(...sample.map((x, i) => Math.abs(x - ref[i]) / (1 + Math.abs(ref[i]))));
      const times = [];
      for (let rep = 0; rep < 3; rep++) {
        let iters = 0;
        const t0 = performance.now();
        let last;
        while (iters < 10 || performance.now() - t0 < 150) {
          last?.dispose();
          last = product();
          iters++;
          if (iters >= 200) break;
        }
        await last.data();
        last.dispose();
        times.push((performance.now() - t0) / iters);
      }
      times.sort((x, y) => x - y);
      const tflops = flops / (times[1] / 1000) / 1e12;
      cells.push(`${tflops.toFixed(2)}${off > (env.precision === 'f16' ? 2e-2 : 1e-3) ? ' (WRONG)' : ''}`);
    }
    log(`| ${name} (${batch > 1 ? `${batch} × ` : ''}${m}×${n}×${k}) | ${cells.join(' | ')} |`);
    tf.dispose([a, b]);
  }
  for (const key of ENV_KEYS) delete process.env[key];
  await runtime.setWebgpuMatmulPrecision('f32');
  process.exit(0);
}

main().catch((error) => {
  log(`failed: ${error?.stack ?? error}`);
  process.exit(1);
});
