import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../backend.js';
import { gelu, type GeluKind } from '../../layers/activations.js';
import { MultiHeadAttention } from '../../layers/attention.js';
import { LayerNorm } from '../../layers/layer-norm.js';
import { l2Normalize, pairedCrossEntropy } from '../../layers/contrastive.js';
import { linear } from '../../layers/linear.js';
import { Mlp } from '../../layers/mlp.js';
import { AdamW, Trainer, clipByGlobalNorm, globalNorm } from '../../optim.js';
import { TransformerEncoder } from '../../encoder.js';
import { Rng } from '../../rng.js';
import { GEMM_ATTENTION_MAX_PROBS_BYTES, gemmAttentionForward } from './fused-ops.js';
import { maxAbsDiff, requireWebgpu } from '../../test-utils/backends.js';
import { attentionValuesAndGrads, mlpValuesAndGrads, rand, recordKernels } from '../../test-utils/kernel-cases.js';
import { withEnv } from '../../test-utils/with-env.js';
import { probeBackend } from '../../backend.js';
import { LAYER_NORM_ROWS_MAX_DIM, PARAM_GRAD_ROWS } from './programs.js';
import { webgpuColumnSum, webgpuEmbeddingGrad, webgpuStepGuard } from './fused-ops.js';
import { embeddingLookup } from '../../layers/embedders.js';
import { WG_LAYER_NORM, f16ExactValues, matrixSelfCheck, planMatMul, setWebgpuKernels, setWebgpuMatmulPrecision, webgpuAdamWGroupSize, webgpuBindGroupCacheStats, webgpuDirectDispatches, webgpuKernelsActive, webgpuMatmulPrecision, webgpuSumSquaresGroupSize } from './webgpu-kernels.js';

/*
 * omnitok's WebGPU kernels against the cpu backend (the reference): the same TensorFlow.js program runs
 * on `cpu` (composite layers, tfjs kernels) and on `webgpu` (our GEMM, fused LayerNorm/GELU/AdamW),
 * values and gradients compared as max |Δ|/(1+|ref|). Shapes are tiny (lavapipe runs WGSL on the CPU)
 * but odd: edge tiles in M, N and K, several K slices, rows wider than a workgroup.
 */
const FWD = 2e-5;
const GRAD = 5e-5;

const webgpu = await probeBackend('webgpu');

/** Reads back asynchronously: the webgpu backend has no dataSync in Node. */
async function values(x: tf.Tensor[]): Promise<Float32Array[]> {
  return Promise.all(x.map(async (t) => Float32Array.from(await t.data())));
}

async function onBoth(program: () => tf.Tensor[]): Promise<{ cpu: Float32Array[]; webgpu: Float32Array[] }> {
  const out: Record<string, Float32Array[]> = {};
  for (const name of ['cpu', 'webgpu'] as const) {
    await initBackend(name);
    const before = tf.memory().numTensors;
    const list = tf.tidy(program);
    out[name] = await values(list);
    tf.dispose(list);
    expect(tf.memory().numTensors, `${name}: tensors leaked`).toBe(before);
  }
  return { cpu: out.cpu!, webgpu: out.webgpu! };
}

function expectClose(r: { cpu: Float32Array[]; webgpu: Float32Array[] }, tol: number, what = ''): void {
  expect(r.webgpu.length).toBe(r.cpu.length);
  r.cpu.forEach((c, i) => {
    expect(c.some((v) => v !== 0), `${what} output ${i}: the reference is all zeros`).toBe(true);
    const d = maxAbsDiff(r.webgpu[i]!, c);
    expect(d, `${what} output ${i}: max |Δ|/(1+|ref|) = ${d}`).toBeLessThan(tol);
  });
}


/** Runs `f`, pushing the shader key of every program the webgpu backend runs meanwhile onto `keys`. */
function recordPrograms<T>(keys: string[], f: () => T): T {
  const backend = tf.backend() as unknown as { runWebGPUProgram?: (program: { shaderKey: string }, ...rest: unknown[]) => unknown };
  const original = backend.runWebGPUProgram;
  if (!original) return f();
  backend.runWebGPUProgram = function (this: unknown, program: { shaderKey: string }, ...rest: unknown[]) {
    keys.push(program.shaderKey);
    return original.call(this, program, ...rest);
  };
  try {
    return f();
  } finally {
    backend.runWebGPUProgram = original;
  }
}

// lavapipe compiles each new pipeline with LLVM (0.2–6 s): on a cold Mesa shader cache (a fresh CI
// machine) this suite's compiles take ~6× the warm time, so its tests get 3 minutes, not vitest's 30 s
const COLD_COMPILES = { timeout: 180_000 };
describe.skipIf(!webgpu.available && !requireWebgpu)('omnitok WebGPU kernels vs the cpu backend', COLD_COMPILES, () => {
  afterAll(() => setWebgpuKernels(true));

  it('are registered when the webgpu backend initializes', async () => {
    const info = await initBackend('webgpu');
    expect(info.name).toBe('webgpu');
    expect(webgpuKernelsActive()).toBe(true);
    await initBackend('cpu');
    expect(webgpuKernelsActive()).toBe(false); // only on the webgpu backend
  });

  it('bind groups are reused from step to step (stable uniform buffers), with the same results', async () => {
    await initBackend('webgpu');
    const stats = webgpuBindGroupCacheStats();
    expect(stats).toBeDefined();
    // a small "step": matMul + bias + GELU + a sum, its result read back (a queue submit)
    const step = async (seed: number) => {
      const out = tf.tidy(() => tf.sum(gelu(tf.fused.matMul({ a: rand(seed, [33, 20]), b: rand(seed + 1, [20, 17]), bias: rand(seed + 2, [17]) }), 'tanh'), 0));
      const v = Float32Array.from(await out.data());
      out.dispose();
      return v;
    };
    const first = await step(1);
    await step(1);
    const before = { ...stats! };
    const again = await step(1);
    const other = await step(4); // other values through the same buffers and bind groups
    expect(stats!.hits - before.hits).toBeGreaterThan(0);
    expect(stats!.misses - before.misses).toBe(0); // every dispatch found its bind group
    expect(Array.from(again)).toEqual(Array.from(first));
    expect(Array.from(other)).not.toEqual(Array.from(first));
    await initBackend('cpu');
    const reference = await step(4);
    expect(maxAbsDiff(other, reference)).toBeLessThan(FWD);
  });

  it('uniforms go to 64 KiB arena chunks, one queue write a chunk when the submit goes out: 600 dispatches in one submit (three chunks) give the cpu\'s results', async () => {
    const program = () => {
      let x = rand(90, [48, 48]); // past tfjs' CPU handoff size, so every op is a dispatch
      for (let i = 0; i < 300; i++) x = tf.add(tf.mul(x, 0.99), (i % 7) / 100);
      return x;
    };
    await initBackend('cpu');
    const reference = Float32Array.from(await tf.tidy(program).data());
    await initBackend('webgpu');
    const queue = (tf.backend() as unknown as { queue: { writeBuffer: (...a: unknown[]) => void; submit: (...a: unknown[]) => void } }).queue;
    const [write, submit] = [queue.writeBuffer, queue.submit];
    const batch = tf.env().getNumber('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE');
    const log: string[] = [];
    queue.writeBuffer = (...a: unknown[]) => (log.push('write'), write.apply(queue, a));
    queue.submit = (...a: unknown[]) => (log.push('submit'), submit.apply(queue, a));
    tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', 1000);
    try {
      const x = tf.tidy(program);
      expect(log).toEqual([]); // 600 dispatches recorded: nothing written, nothing submitted yet
      const got = Float32Array.from(await x.data());
      x.dispose();
      // 256-byte slots, 256 a chunk: the three chunks written, then the one submit
      expect(log.slice(0, 4)).toEqual(['write', 'write', 'write', 'submit']);
      expect(maxAbsDiff(got, reference)).toBeLessThan(FWD);
    } finally {
      [queue.writeBuffer, queue.submit] = [write, submit];
      tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', batch);
    }
  });

  it('training steps reuse every bind group once the pool has grown (lowest free buffer first; AdamW\'s layout cached)', async () => {
    await initBackend('webgpu');
    const enc = new TransformerEncoder({ size: 'custom', width: 32, depth: 2, heads: 2, mlpRatio: 2, tokens: { kind: 'continuous', dim: 6, count: 5 }, projectionDim: 4 }, new Rng(3));
    const x = rand(80, [4, 5, 6]);
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 1, 2, 3], 'int32'), 4));
    const params = enc.parameters();
    const opt = new AdamW(params, { lr: 1e-3 });
    const trainer = new Trainer(params, { optimizer: opt, clipNorm: 1 });
    const loss = () => tf.losses.softmaxCrossEntropy(y, enc.forward(x).embedding) as tf.Scalar;
    for (let i = 0; i < 3; i++) await trainer.trainStep(loss);
    const stats = webgpuBindGroupCacheStats()!;
    const before = { ...stats };
    const direct = webgpuDirectDispatches();
    for (let i = 0; i < 3; i++) await trainer.trainStep(loss);
    // the one-dispatch AdamW ran, several parameters a dispatch (lavapipe grants 16 storage buffers a stage: 3)
    expect(webgpuAdamWGroupSize()).toBeGreaterThan(1);
    expect(webgpuDirectDispatches() - direct).toBe(3 * Math.ceil(params.size / webgpuAdamWGroupSize()));
    expect(stats.hits - before.hits).toBeGreaterThan(3 * params.size);
    expect(stats.misses - before.misses).toBe(0);
    tf.dispose([x, y]);
    opt.dispose();
    enc.dispose();
  });

  it('the buffer pool hands out the lowest free buffer of a size, whatever order they were freed in', async () => {
    await initBackend('webgpu');
    const manager = (tf.backend() as unknown as { bufferManager: { acquireBuffer(size: number, usage: number): object; releaseBuffer(b: object): void } }).bufferManager;
    const USAGE = 0x80 | 0x4 | 0x8; // STORAGE | COPY_SRC | COPY_DST
    const size = 4 * 9973; // a size nothing else uses
    const first = [0, 1, 2, 3].map(() => manager.acquireBuffer(size, USAGE));
    for (const i of [2, 0, 3, 1]) manager.releaseBuffer(first[i]!);
    const again = [0, 1, 2, 3].map(() => manager.acquireBuffer(size, USAGE));
    again.forEach((b, i) => expect(b === first[i], `buffer ${i}`).toBe(true)); // created first, handed out first
    for (const i of [1, 3, 0, 2]) manager.releaseBuffer(again[i]!);
    expect(manager.acquireBuffer(size, USAGE) === first[0]).toBe(true);
  });

  it('the bind-group cache keys on the layout and every buffer range', async () => {
    await initBackend('webgpu');
    type Device = { createBindGroup(d: unknown): unknown; createBuffer(d: unknown): object; createBindGroupLayout(d: unknown): object };
    const device = (tf.backend() as unknown as { device: Device }).device;
    const COMPUTE = 0x4; // GPUShaderStage.COMPUTE
    const layout = device.createBindGroupLayout({
      entries: [
        { binding: 0, visibility: COMPUTE, buffer: { type: 'storage' } },
        { binding: 1, visibility: COMPUTE, buffer: { type: 'read-only-storage' } },
        { binding: 2, visibility: COMPUTE, buffer: { type: 'uniform' } },
      ],
    });
    const storage = [0, 1, 2].map(() => device.createBuffer({ size: 4096, usage: 0x80 | 0x8 })); // STORAGE | COPY_DST
    const uniform = device.createBuffer({ size: 256, usage: 0x40 | 0x8 }); // UNIFORM | COPY_DST
    const entries = (out: object, offset = 0) => [
      { binding: 0, resource: { buffer: out, offset, size: 256 } },
      { binding: 1, resource: { buffer: storage[1]!, offset: 0, size: 256 } },
      { binding: 2, resource: { buffer: uniform, offset: 0, size: 16 } },
    ];
    const stats = webgpuBindGroupCacheStats()!;
    const misses = stats.misses;
    const g1 = device.createBindGroup({ layout, entries: entries(storage[0]!) });
    const g2 = device.createBindGroup({ layout, entries: entries(storage[0]!) });
    const g3 = device.createBindGroup({ layout, entries: entries(storage[2]!) });
    const g4 = device.createBindGroup({ layout, entries: entries(storage[0]!, 256) });
    expect(g2).toBe(g1);
    expect(g3).not.toBe(g1);
    expect(g4).not.toBe(g1);
    expect(stats.misses - misses).toBe(3);
  });

  // the 64-tile these sizes plan: vec4 reads (default) or scalar ones (OMNITOK_WEBGPU_MATMUL_VARIANT=scalar64)
  for (const variant of ['vec4', 'scalar64'] as const) it(`matMul on the ${variant} 64-tile: all transposes, batches, broadcast batches, edge tiles; gradients`, async () => {
    const keys: string[] = [];
    const cases: [number[], number[], boolean, boolean][] = [
      [[5, 7], [7, 4], false, false],
      [[7, 5], [7, 4], true, false],
      [[5, 7], [4, 7], false, true],
      [[7, 5], [4, 7], true, true],
      [[3, 17, 9], [3, 9, 70], false, false], // N over one 64-tile
      [[3, 9, 17], [3, 70, 9], true, true],
      [[2, 3, 5, 7], [7, 4], false, false], // b broadcast over a rank-4 batch
      [[2, 3, 7, 5], [7, 4], true, false],
      [[5, 7], [3, 7, 4], false, false], // a broadcast
      [[67, 33], [67, 35], true, false], // K = 67: five K slices, the last partial; M over nothing
      [[130, 40], [40, 66], false, false], // M over two 64-tiles plus 2 rows
    ];
    await withEnv({ OMNITOK_WEBGPU_MATMUL_VARIANT: variant === 'scalar64' ? 'scalar64' : undefined }, async () => {
      for (const [sa, sb, ta, tb] of cases) {
        const r = await onBoth(() => recordPrograms(keys, () => {
          const a = rand(1, sa);
          const b = rand(2, sb);
          const y = tf.matMul(a, b, ta, tb);
          if (sa.slice(0, -2).join() !== sb.slice(0, -2).join()) return [y]; // tfjs has no gradient for broadcast batches
          const [ga, gb] = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.matMul(p, q, ta, tb), y)))([a, b]);
          return [y, ga!, gb!];
        }));
        expectClose(r, GRAD, `matMul ${JSON.stringify([sa, sb, ta, tb])} (${variant})`);
      }
    });
    const gemms = keys.filter((k) => k.startsWith('omnitokMatMul_'));
    expect(gemms.length).toBeGreaterThan(20);
    expect(gemms.every((k) => k.startsWith(variant === 'vec4' ? 'omnitokMatMul_4x4x16v_' : 'omnitokMatMul_4x4x16_')), gemms.join()).toBe(true);
  });

  it('matMul of a float tensor cast from int32 (i32 storage on webgpu) and a bias cast likewise', async () => {
    const r = await onBoth(() => {
      const onehot = tf.oneHot(tf.tensor1d([3, 0, 6, 6, 1], 'int32'), 7).cast('float32'); // [5, 7]
      const bias = tf.tensor1d([1, -2, 3], 'int32').cast('float32');
      return [tf.matMul(onehot, rand(2, [7, 3])), tf.fused.matMul({ a: onehot, b: rand(3, [7, 3]), bias })];
    });
    expectClose(r, FWD, 'int-stored matMul');
  });

  it('matMul with numpy batch broadcasting ([2,1] × [1,3]) equals the matMul of the tiled operands', async () => {
    // TensorFlow.js' own cpu and webgpu kernels get this case wrong (they size the output by the larger batch)
    const out: Float32Array[] = [];
    for (const name of ['cpu', 'webgpu'] as const) {
      await initBackend(name);
      const t = tf.tidy(() => {
        const a = rand(1, [2, 1, 5, 7]);
        const b = rand(2, [1, 3, 7, 4]);
        return name === 'cpu' ? tf.matMul(tf.tile(a, [1, 3, 1, 1]), tf.tile(b, [2, 1, 1, 1])) : tf.matMul(a, b);
      });
      expect(t.shape).toEqual([2, 3, 5, 4]);
      out.push(Float32Array.from(await t.data()));
      t.dispose();
    }
    expect(maxAbsDiff(out[1]!, out[0]!)).toBeLessThan(FWD);
  });

  it('matMul with the 128×128 tile (8×8 per thread) on odd shapes, both operands transposed', async () => {
    await withEnv({ OMNITOK_WEBGPU_MATMUL_TILE: '128' }, async () => {
      for (const [ta, tb] of [[true, true]] as const) {
        const r = await onBoth(() => [tf.matMul(rand(3, ta ? [37, 131] : [131, 37]), rand(4, tb ? [129, 37] : [37, 129]), ta, tb)]);
        expectClose(r, FWD, `tile 128 ${ta}${tb}`);
      }
    });
  });

  it('matMul with the vec4 128×128 tile (contiguous 4-wide groups) on odd shapes, every transpose', async () => {
    await withEnv({ OMNITOK_WEBGPU_MATMUL_TILE: '128v' }, async () => {
      for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        const r = await onBoth(() => [tf.matMul(rand(3, ta ? [37, 131] : [131, 37]), rand(4, tb ? [197, 37] : [37, 197]), ta, tb)]);
        expectClose(r, FWD, `tile 128v ${ta}${tb}`);
      }
      const r = await onBoth(() => [tf.fused.matMul({ a: rand(5, [2, 140, 20]), b: rand(6, [2, 20, 129]), bias: rand(7, [129]) })]);
      expectClose(r, FWD, 'tile 128v batched with bias');
    });
  });

  // OMNITOK_WEBGPU_MATMUL_LOADS=vec4: aligned operands read four floats a load, on every tile kind (the
  // scalar 64, the vec4 64×128 / 128×128) and every transpose; edge tiles (sizes multiples of 4, not of
  // the tiles), split-K ranges, batches with broadcasting, a bias; an unaligned operand keeps scalar loads
  for (const tile of ['64', '64x128v', '128v', '128']) {
    it(`vec4 operand loads on the ${tile} tile: every transpose, edges, split-K, batches, a bias; unaligned operands stay scalar`, async () => {
      await withEnv({ OMNITOK_WEBGPU_MATMUL_TILE: tile, OMNITOK_WEBGPU_MATMUL_LOADS: 'vec4' }, async () => {
        for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
          const keys: string[] = [];
          const r = await onBoth(() => recordPrograms(keys, () => [tf.matMul(rand(3, ta ? [36, 132] : [132, 36]), rand(4, tb ? [196, 36] : [36, 196]), ta, tb)]));
          expect(keys.some((k) => k.endsWith('_ldab')), keys.join()).toBe(true);
          expectClose(r, FWD, `tile ${tile} ${ta}${tb}, vec4 loads`);
        }
        // batch broadcasting (B shared by the batch: stride 0) and a bias
        const keys: string[] = [];
        const r = await onBoth(() => recordPrograms(keys, () => [tf.fused.matMul({ a: rand(5, [3, 140, 20]), b: rand(6, [20, 132]), bias: rand(7, [132]) })]));
        expect(keys.some((k) => k.includes('_bias_') && k.endsWith('_ldab')), keys.join()).toBe(true);
        expectClose(r, FWD, `tile ${tile} batched, broadcast B, bias, vec4 loads`);
        // split-K (K ranges of whole slices), weight-gradient-like: Aᵀ·B over 2 100 rows
        const split = await onBoth(() => [tf.matMul(rand(8, [2100, 132], 0.1), rand(9, [2100, 128], 0.1), true, false)]);
        expectClose(split, FWD, `tile ${tile} split-K, vec4 loads`);
        // K = 37 (A's rows, B's columns of the contiguous axis) and N = 197: only what is aligned goes vec4
        const odd: string[] = [];
        const r2 = await onBoth(() => recordPrograms(odd, () => [tf.matMul(rand(10, [132, 37]), rand(11, [37, 196])), tf.matMul(rand(12, [132, 36]), rand(13, [36, 197]))]));
        expect(odd.filter((k) => k.startsWith('omnitokMatMul_')).map((k) => k.match(/_ld(a?b?)$/)?.[1] ?? '')).toEqual(['b', 'a']);
        expectClose(r2, FWD, `tile ${tile} unaligned operands`);
      });
    });
  }

  it('vec4 operand loads in linear()\'s weight-and-bias GEMM (the column sums from vec4 rows of dy), with and without split-K', async () => {
    await withEnv({ OMNITOK_WEBGPU_MATMUL_LOADS: 'vec4' }, async () => {
      for (const [t, inDim, outDim] of [[200, 36, 68], [3000, 40, 132], [2100, 128, 256]] as const) {
        const keys: string[] = [];
        const r = await onBoth(() => recordPrograms(keys, () => {
          const target = rand(63 + t, [t, outDim]);
          return tf.grads((a: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(linear(a, ww, bb), target)))([rand(60 + t, [t, inDim]), rand(61 + t, [inDim, outDim], 0.2), rand(62 + t, [outDim])]);
        }));
        expect(keys.some((k) => k.includes('_TN_colsum_') && k.endsWith('_ldab')), keys.join()).toBe(true);
        expectClose(r, GRAD, `linear grads ${t}×${inDim}×${outDim}, vec4 loads`);
      }
    });
  });

  for (const tile of ['128x64v', '64x128v', '64v']) {
    it(`matMul with the vec4 ${tile} tile on odd shapes, every transpose, batched with a bias, split-K`, async () => {
      await withEnv({ OMNITOK_WEBGPU_MATMUL_TILE: tile }, async () => {
        const [rm, rn] = tile === '128x64v' ? [8, 4] : tile === '64x128v' ? [4, 8] : [4, 4];
        expect(planMatMul(131, 197, 37, 1).tile).toMatchObject({ rm, rn, vec4: true });
        for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
          const r = await onBoth(() => [tf.matMul(rand(3, ta ? [37, 131] : [131, 37]), rand(4, tb ? [197, 37] : [37, 197]), ta, tb)]);
          expectClose(r, FWD, `tile ${tile} ${ta}${tb}`);
        }
        const r = await onBoth(() => [tf.fused.matMul({ a: rand(5, [2, 140, 20]), b: rand(6, [2, 20, 129]), bias: rand(7, [129]) })]);
        expectClose(r, FWD, `tile ${tile} batched with bias`);
        expect(planMatMul(130, 131, 2100, 1).splits).toBeGreaterThan(1);
        const split = await onBoth(() => [tf.matMul(rand(8, [2100, 130], 0.1), rand(9, [2100, 131], 0.1), true, false)]);
        expectClose(split, FWD, `tile ${tile} split-K`);
      });
    });
  }

  it('OMNITOK_WEBGPU_MATMUL_TK=32: K slices of 32 on vec4 tiles where the device grants the memory; every transpose, a bias, split-K', async () => {
    await initBackend('webgpu');
    const limit = (tf.backend() as unknown as { device: { limits: { maxComputeWorkgroupStorageSize: number } } }).device.limits.maxComputeWorkgroupStorageSize;
    await withEnv({ OMNITOK_WEBGPU_MATMUL_TK: '32' }, () => expect(planMatMul(25216, 1152, 384, 1).tile).toMatchObject({ rm: 4, rn: 8, tk: 32 })); // 25 KiB: fits WebGPU's 32 KiB tier
    // staged slices: 64×128 needs 25 600 bytes, 128×128 33 792 (more than lavapipe's 32 KiB: stays at 16 there)
    for (const [tile, bytes] of [['64x128v', 25600], ['128v', 33792]] as const) {
      await withEnv({ OMNITOK_WEBGPU_MATMUL_TK: '32', OMNITOK_WEBGPU_MATMUL_TILE: tile }, async () => {
        const tk = limit >= bytes ? 32 : 16;
        expect(planMatMul(131, 197, 77, 1).tile.tk, tile).toBe(tk);
        const keys: string[] = [];
        for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
          // K = 77: two full slices of 32 and a partial one
          const r = await onBoth(() => recordPrograms(keys, () => [tf.matMul(rand(3, ta ? [77, 131] : [131, 77]), rand(4, tb ? [197, 77] : [77, 197]), ta, tb)]));
          expectClose(r, FWD, `tile ${tile} k${tk} ${ta}${tb}`);
        }
        const r = await onBoth(() => recordPrograms(keys, () => [tf.fused.matMul({ a: rand(5, [2, 140, 50]), b: rand(6, [2, 50, 129]), bias: rand(7, [129]) })]));
        expectClose(r, FWD, `tile ${tile} k${tk} batched with bias`);
        const split = await onBoth(() => recordPrograms(keys, () => [tf.matMul(rand(8, [2100, 130], 0.1), rand(9, [2100, 131], 0.1), true, false)]));
        expectClose(split, FWD, `tile ${tile} k${tk} split-K`);
        expect(keys.filter((k) => k.startsWith('omnitokMatMul_')).every((k) => k.includes(`x${tk}v_`)), keys.join()).toBe(true);
      });
    }
  });

  // vec4 stores (the default where N and C's view are multiples of 4): N = 132 ends mid-tile on every
  // tile, at a vec4 boundary; a bias; batches; split-K partials; linear()'s residual and its
  // weight-and-bias GEMM (the column-sums row), with and without split-K; the MLP's GELU (and its second
  // output) and GELU′ epilogues; attention's per-head outputs written into the heads of a wider buffer. OMNITOK_WEBGPU_MATMUL_STORES=scalar gives the same values with no `_st4` program.
  for (const tile of ['64v', '64x128v', '128v', '128x64v']) {
    it(`vec4 stores on the ${tile} tile: a bias, batches, split-K, a residual, the MLP's GELU and GELU′ epilogues, linear()'s column sums; scalar stores alike`, async () => {
      const runAll = () => [
        tf.fused.matMul({ a: rand(3, [70, 50]), b: rand(4, [50, 132]), bias: rand(5, [132]) }),
        tf.matMul(rand(6, [2, 3, 40, 36]), rand(7, [2, 3, 36, 20])),
        tf.matMul(rand(8, [2100, 36], 0.1), rand(9, [2100, 68], 0.1), true, false),
        ...tf.grads((a: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor, rr: tf.Tensor) => tf.sum(tf.mul(linear(a, ww, bb, rr), rand(10, [70, 132]))))([rand(11, [70, 44]), rand(12, [44, 132], 0.2), rand(13, [132]), rand(14, [70, 132])]),
        ...mlpValuesAndGrads(24, 68, 'erf', rand(15, [70, 24]), rand(16, [70, 24]), rand(17, [70, 24])),
        // the weight-and-bias GEMM split over K (its partials' column-sums row in vec4 stores too)
        ...tf.grads((a: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(linear(a, ww, bb), rand(20, [2100, 68]))))([rand(21, [2100, 36], 0.1), rand(22, [36, 68], 0.2), rand(23, [68])]),
      ];
      await withEnv({ OMNITOK_WEBGPU_MATMUL_TILE: tile }, async () => {
        const st4: string[] = [];
        const vec = await onBoth(() => recordPrograms(st4, runAll));
        expectClose(vec, GRAD, `${tile} vec4 stores`);
        // the plain, batched and split-K products, linear's forward and dx, fc1 (GELU), fc2 (residual), dX through fc2 (GELU′) at least
        expect(st4.filter((k) => k.includes('_st4')).length, st4.join()).toBeGreaterThanOrEqual(8);
        // mlpValuesAndGrads runs the MLP forward three times and its backward twice
        expect(st4.filter((k) => k.includes('_bias_gelu_erf_st4')).length, st4.join()).toBe(3);
        expect(st4.filter((k) => k.includes('_geluGrad_erf_st4')).length, st4.join()).toBe(2);
        expect(st4.filter((k) => k.includes('_colsum_st4')).length, st4.join()).toBeGreaterThanOrEqual(3);
        const scalar: string[] = [];
        const plain = await withEnv({ OMNITOK_WEBGPU_MATMUL_STORES: 'scalar' }, () => onBoth(() => recordPrograms(scalar, runAll)));
        expect(scalar.some((k) => k.includes('_st4')), scalar.join()).toBe(false);
        plain.webgpu.forEach((x, i) => expect(maxAbsDiff(x, vec.webgpu[i]!), `output ${i}: scalar vs vec4 stores`).toBe(0));
      });
    });
  }
  it('vec4 stores in attention\'s per-head GEMMs: O and dQ/dK/dV into the heads of [B, N, D] (head offsets of 12), the scores [N, N] of 70 tokens scalar', async () => {
    await withEnv({ OMNITOK_WEBGPU_ATTN_FWD: 'gemm' }, async () => {
      const keys: string[] = [];
      const r = await onBoth(() => recordPrograms(keys, () => attentionValuesAndGrads(24, 2, rand(18, [3, 70, 24]), rand(19, [3, 70, 24]), { causal: false })));
      expectClose(r, GRAD, 'attention with vec4 stores');
      const gemms = keys.filter((k) => k.startsWith('omnitokMatMul_4x4x16v_'));
      expect(gemms.some((k) => k.includes('_st4')), gemms.join()).toBe(true);
      expect(gemms.some((k) => !k.includes('_st4')), gemms.join()).toBe(true);
    });
  });

  // the generated K loop written out per k (UNROLL=1: shader keys `…u_`) and two staged slices with one
  // barrier each (STAGES=2: `…s2_`), apart and together, on scalar and vec4 tiles: every transpose,
  // edges in M, N and K (K = 77: four slices and a partial one), batches with a bias, split-K; the
  // column-sums GEMM of linear()'s weight gradient; attention's per-head GEMMs (the small tile). Fewer
  // unrolled tiles: lavapipe's LLVM takes minutes over a cold cache for the unrolled 128-tiles.
  const ALL_TRANSPOSES = [[false, false], [true, false], [false, true], [true, true]] as const;
  for (const [title, env, tiles, transposes] of [
    // unrolling changes the multiply-adds alone, which read staged tiles laid out alike for every transpose
    ['UNROLL=1', { OMNITOK_WEBGPU_MATMUL_UNROLL: '1' }, [['64', '4x4x16'], ['64v', '4x4x16v']], [[false, false], [true, true]]],
    // the stores into the second stage take each transpose's path (k or the rows contiguous)
    ['STAGES=2', { OMNITOK_WEBGPU_MATMUL_STAGES: '2' }, [['64', '4x4x16'], ['64x128v', '4x8x16v']], ALL_TRANSPOSES],
    ['UNROLL=1 STAGES=2', { OMNITOK_WEBGPU_MATMUL_UNROLL: '1', OMNITOK_WEBGPU_MATMUL_STAGES: '2' }, [['64v', '4x4x16v']], [[false, true]]],
  ] as const) {
    it(`OMNITOK_WEBGPU_MATMUL_${title}: GEMMs (${transposes.length} transpose(s), a bias, split-K${'OMNITOK_WEBGPU_MATMUL_STAGES' in env ? ", linear()'s column sums" : ''}${title.includes(' ') ? ', attention' : ''}) give the cpu's results`, async () => {
      const suffix = `${'OMNITOK_WEBGPU_MATMUL_UNROLL' in env ? 'u' : ''}${'OMNITOK_WEBGPU_MATMUL_STAGES' in env ? 's2' : ''}`;
      await withEnv(env, async () => {
        await initBackend('webgpu');
        // two stages of 128×128 vec4 slices need 33 792 bytes: more than lavapipe's 32 KiB, so one stage there
        const limit = (tf.backend() as unknown as { device: { limits: { maxComputeWorkgroupStorageSize: number } } }).device.limits.maxComputeWorkgroupStorageSize;
        await withEnv({ OMNITOK_WEBGPU_MATMUL_TILE: '128v' }, () => expect(planMatMul(131, 197, 77, 1).tile.stages ?? 1).toBe('OMNITOK_WEBGPU_MATMUL_STAGES' in env && limit >= 33792 ? 2 : 1));
        for (const [tile, key] of tiles) {
          await withEnv({ OMNITOK_WEBGPU_MATMUL_TILE: tile }, async () => {
            const keys: string[] = [];
            for (const [ta, tb] of transposes) {
              const r = await onBoth(() => recordPrograms(keys, () => [tf.matMul(rand(3, ta ? [77, 131] : [131, 77]), rand(4, tb ? [197, 77] : [77, 197]), ta, tb)]));
              expectClose(r, FWD, `${title} tile ${tile} ${ta}${tb}`);
            }
            const r = await onBoth(() => recordPrograms(keys, () => [tf.fused.matMul({ a: rand(5, [2, 140, 50]), b: rand(6, [2, 50, 129]), bias: rand(7, [129]) })]));
            expectClose(r, FWD, `${title} tile ${tile} batched with bias`);
            const split = await onBoth(() => recordPrograms(keys, () => [tf.matMul(rand(8, [2100, 130], 0.1), rand(9, [2100, 131], 0.1), true, false)]));
            expectClose(split, FWD, `${title} tile ${tile} split-K`);
            const gemms = keys.filter((k) => k.startsWith('omnitokMatMul_'));
            expect(gemms.length, keys.join()).toBe(transposes.length + 2);
            expect(gemms.every((k) => k.startsWith(`omnitokMatMul_${key}${suffix}_`)), gemms.join()).toBe(true);
          });
        }
        // linear()'s weight gradient (column sums parked in the staged A after the K loop) and attention's
        // per-head GEMMs (the small tile takes the switches too) where two stages are asked for
        if (!('OMNITOK_WEBGPU_MATMUL_STAGES' in env)) return;
        const [tile, key] = tiles[tiles.length - 1]!;
        const keys: string[] = [];
        const lin = await withEnv({ OMNITOK_WEBGPU_MATMUL_TILE: tile }, () => onBoth(() => recordPrograms(keys, () => {
          const target = rand(64, [3000, 132]);
          return tf.grads((a: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(linear(a, ww, bb), target)))([rand(65, [3000, 40]), rand(66, [40, 132], 0.2), rand(67, [132])]);
        })));
        expectClose(lin, GRAD, `${title} linear grads`);
        expect(keys.some((k) => k.startsWith(`omnitokMatMul_${key}${suffix}_TN_colsum`)), keys.join()).toBe(true);
        if (!('OMNITOK_WEBGPU_MATMUL_UNROLL' in env)) return;
        const heads: string[] = [];
        const att = await withEnv({ OMNITOK_WEBGPU_ATTN_FWD: 'gemm' }, () => onBoth(() => recordPrograms(heads, () => attentionValuesAndGrads(24, 2, rand(18, [3, 70, 24]), rand(19, [3, 70, 24]), { causal: true }))));
        expectClose(att, GRAD, `${title} attention`);
        expect(heads.filter((k) => k.startsWith(`omnitokMatMul_4x4x16v${suffix}_`)).length, heads.join()).toBeGreaterThanOrEqual(8);
      });
    });
  }

  it('plans ViT-S products as measured on an H200: 64×128 tiles for the forward and input gradients, split 128×128 for weight gradients', () => {
    for (const [m, n, k] of [[25216, 1152, 384], [25216, 1536, 384], [25216, 384, 1536], [4096, 1152, 384]] as const) {
      expect(planMatMul(m, n, k, 1), `${m}×${n}×${k}`).toMatchObject({ tile: { rm: 4, rn: 8, vec4: true }, splits: 1 });
    }
    const dW = planMatMul(384, 1536, 25216, 1);
    expect(dW.tile).toMatchObject({ rm: 8, rn: 8, vec4: true });
    expect(dW.splits).toBeGreaterThan(1);
    // narrow outputs and a text tower's 4 096 rows × 384 (too few 64×128 tiles to fill the GPU): the vec4 64-tile
    for (const [m, n, k] of [[25216, 64, 384], [4096, 384, 1536], [4096, 384, 384]] as const) {
      expect(planMatMul(m, n, k, 1), `${m}×${n}×${k}`).toMatchObject({ tile: { rm: 4, rn: 4, vec4: true }, splits: 1 });
    }
    withEnv({ OMNITOK_WEBGPU_MATMUL_VARIANT: 'scalar' }, () => {
      const tile = planMatMul(25216, 1152, 384, 1).tile;
      expect(tile).toMatchObject({ rm: 8, rn: 8 });
      expect(tile.vec4).toBeFalsy();
      expect(planMatMul(4096, 384, 1536, 1).tile.vec4).toBeFalsy();
    });
    // scalar64: only the small tile scalar (run 5's plan)
    withEnv({ OMNITOK_WEBGPU_MATMUL_VARIANT: 'scalar64' }, () => {
      expect(planMatMul(4096, 384, 1536, 1).tile).toMatchObject({ rm: 4, rn: 4 });
      expect(planMatMul(4096, 384, 1536, 1).tile.vec4).toBeFalsy();
      expect(planMatMul(25216, 1152, 384, 1).tile).toMatchObject({ rm: 4, rn: 8, vec4: true });
    });
  });

  it('split-K: weight-gradient shapes (few output tiles, long K) split K and sum the partials; bias and batches too', async () => {
    expect(planMatMul(40, 37, 3000, 1)).toMatchObject({ splits: 11 });
    expect(planMatMul(130, 131, 2100, 1)).toMatchObject({ splits: 8, tile: { vec4: true } });
    const cases: [number[], number[], boolean, boolean][] = [
      [[3000, 40], [3000, 37], true, false], // 64-tile, 11 splits of 288 (the last 120)
      [[2100, 130], [2100, 131], true, false], // vec4 128-tile, 8 splits
      [[2, 600, 20], [2, 30, 600], true, true], // batched, 2 splits
    ];
    for (const [sa, sb, ta, tb] of cases) {
      const r = await onBoth(() => [tf.matMul(rand(8, sa, 0.1), rand(9, sb, 0.1), ta, tb)]);
      expectClose(r, FWD, `split-K ${JSON.stringify([sa, sb, ta, tb])}`);
    }
    const fused = await onBoth(() => [tf.fused.matMul({ a: rand(10, [3000, 40], 0.1), b: rand(11, [3000, 37], 0.1), transposeA: true, bias: rand(12, [37]) })]);
    expectClose(fused, FWD, 'split-K with a bias');
    // forced, on a case that would not split
    await withEnv({ OMNITOK_WEBGPU_SPLITK: '5' }, async () => {
      expect(planMatMul(70, 33, 300, 1).splits).toBe(5);
      const forced = await onBoth(() => [tf.matMul(rand(13, [70, 300]), rand(14, [300, 33]))]);
      expectClose(forced, FWD, 'forced split-K');
    });
  });

  it('fused matMul with a bias (tf.fused.matMul), and the stock path when kernels are off', async () => {
    const r = await onBoth(() => [tf.fused.matMul({ a: rand(1, [70, 5]), b: rand(2, [5, 3]), bias: rand(3, [3]) }), tf.fused.matMul({ a: rand(4, [9, 6]), b: rand(5, [4, 6]), transposeB: true, bias: rand(6, [4]) })]);
    expectClose(r, FWD, 'fused matMul');
    await initBackend('webgpu');
    setWebgpuKernels(false);
    try {
      expect(webgpuKernelsActive()).toBe(false);
      const offTensors = tf.tidy(() => [tf.fused.matMul({ a: rand(1, [70, 5]), b: rand(2, [5, 3]), bias: rand(3, [3]) })]);
      const off = await values(offTensors);
      tf.dispose(offTensors);
      expect(maxAbsDiff(off[0]!, r.cpu[0]!)).toBeLessThan(FWD);
    } finally {
      setWebgpuKernels(true);
    }
  });

  // rows in registers (8 a workgroup; 21 and 131 rows leave part of the last one idle) or a workgroup
  // per row (OMNITOK_WEBGPU_LN=block, and rows wider than LAYER_NORM_ROWS_MAX_DIM)
  for (const [shape, title, layout] of [
    [[3, 7, 24], 'small rows', 'rows'],
    [[3, 7, 24], 'small rows', 'block'],
    [[PARAM_GRAD_ROWS + 3, 200], `${PARAM_GRAD_ROWS + 3} rows of 200 (> one workgroup, two gamma/beta partials)`, 'rows'],
    [[PARAM_GRAD_ROWS + 3, 200], `${PARAM_GRAD_ROWS + 3} rows of 200 (> one workgroup, two gamma/beta partials)`, 'block'],
    [[5, LAYER_NORM_ROWS_MAX_DIM], `rows of ${LAYER_NORM_ROWS_MAX_DIM}, 32 a lane`, 'rows'],
    // six γ/β partials: the partial sums' four-at-a-time loop and its tail
    [[5 * PARAM_GRAD_ROWS + 7, 40], `${5 * PARAM_GRAD_ROWS + 7} rows of 40 (six γ/β partials)`, 'rows'],
    [[5, LAYER_NORM_ROWS_MAX_DIM + 30], `rows of ${LAYER_NORM_ROWS_MAX_DIM + 30}, past the register programs`, 'block'],
  ] as const) {
    it(`fused LayerNorm (${title}; ${layout === 'rows' ? 'rows in registers' : 'a workgroup per row'}) equals the composite one, values and gradients`, async () => {
      const D = shape[shape.length - 1]!;
      const keys: string[] = [];
      const r = await withEnv({ OMNITOK_WEBGPU_LN: layout === 'block' && D <= LAYER_NORM_ROWS_MAX_DIM ? 'block' : undefined }, () => onBoth(() => recordPrograms(keys, () => {
        const ln = new LayerNorm(D, 1e-5);
        ln.weight.assign(rand(12, [D], 0.5).add(1));
        ln.bias.assign(rand(13, [D], 0.1));
        const x = rand(14, [...shape], 2).add(0.5);
        const w = rand(15, [...shape]);
        const y = ln.forward(x);
        const { grads } = tf.variableGrads(() => tf.sum(tf.mul(ln.forward(x), w)) as tf.Scalar, [ln.weight, ln.bias]);
        const [dx] = tf.grads((t: tf.Tensor) => tf.sum(tf.mul(ln.forward(t), w)))([x]);
        const out = [y, dx!, grads[ln.weight.name]!, grads[ln.bias.name]!];
        ln.dispose();
        return out;
      })));
      expectClose(r, GRAD, `LayerNorm ${title}`);
      const ran = keys.filter((k) => k.startsWith('omnitokLayerNorm') && !k.startsWith('omnitokLayerNormGradParams'));
      expect(ran.length).toBeGreaterThan(0);
      const suffix = layout === 'rows' ? `_rows${Math.ceil(D / 32)}` : '';
      expect(ran.every((k) => (suffix ? k.endsWith(suffix) : !k.includes('_rows'))), ran.join()).toBe(true);
    });
  }

  it('LayerNorm\'s forward also writes each row\'s mean and rstd (a second output of the same dispatch); its backward reads them: 3 dispatches, dγ and dβ from one', async () => {
    await initBackend('webgpu');
    const [rows, D] = [PARAM_GRAD_ROWS + 5, 150];
    const x = rand(80, [rows, D], 3).add(1);
    const gamma = rand(81, [D]);
    const beta = rand(82, [D]);
    const keys: string[] = [];
    const [y, stats] = recordPrograms(keys, () => tf.engine().runKernel(WG_LAYER_NORM, { x, gamma, beta } as never, { eps: 1e-5 } as never) as unknown as tf.Tensor[]);
    expect(keys).toEqual(['omnitokLayerNorm_rows5']);
    expect(stats!.shape).toEqual([rows, 2]);
    const [got, want] = await Promise.all([stats!.data(), tf.tidy(() => {
      const { mean, variance } = tf.moments(x, -1);
      return tf.stack([mean, tf.rsqrt(tf.add(variance, 1e-5))], 1);
    }).data()]);
    expect(maxAbsDiff(Float32Array.from(got), Float32Array.from(want))).toBeLessThan(FWD);
    const composite = tf.tidy(() => {
      const { mean, variance } = tf.moments(x, -1, true);
      return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), gamma), beta);
    });
    expect(maxAbsDiff(Float32Array.from(await y!.data()), Float32Array.from(await composite.data()))).toBeLessThan(FWD);
    // the layer: forward 1 dispatch, backward dx, the partials and one sum of both
    const ln = new LayerNorm(D, 1e-5);
    const backward: string[] = [];
    const grads = recordPrograms(backward, () => tf.variableGrads(() => tf.sum(tf.mul(ln.forward(x), gamma)) as tf.Scalar, [ln.weight, ln.bias]));
    expect(backward.filter((k) => k.startsWith('omnitokLayerNorm') || k.startsWith('omnitokPartials'))).toEqual([
      'omnitokLayerNorm_rows5',
      'omnitokLayerNormGradX_rows5',
      'omnitokLayerNormGradParams_128x4',
      'omnitokPartialsSum_both',
    ]);
    tf.dispose([x, gamma, beta, y!, stats!, composite, grads.value, ...Object.values(grads.grads)]);
    ln.dispose();
  });

  it('a pre-LN residual branch x + proj(LayerNorm(x)): x\'s gradient from the residual is added inside LayerNorm\'s dx dispatch (no Add); values and gradients equal the cpu backend', async () => {
    const [rows, D] = [70, 48];
    const keys: string[] = [];
    const kernels: string[] = [];
    const r = await onBoth(() => {
      const ln = new LayerNorm(D, 1e-5);
      ln.weight.assign(rand(100, [D], 0.5).add(1));
      const w = rand(101, [D, D], 0.2);
      const b = rand(102, [D]);
      const target = rand(103, [rows, D]);
      const x = rand(104, [rows, D], 2);
      const onWebgpu = tf.getBackend() === 'webgpu';
      const f = (t: tf.Tensor) => tf.sum(tf.mul(tf.sin(linear(ln.forward(t), w, b, t)), target));
      const [dx] = recordPrograms(onWebgpu ? keys : [], () => recordKernels(onWebgpu ? kernels : [], () => tf.grads(f)([x])));
      const { grads } = tf.variableGrads(() => f(x) as tf.Scalar, [ln.weight, ln.bias]);
      const out = [dx!, grads[ln.weight.name]!, grads[ln.bias.name]!];
      ln.dispose();
      return out;
    });
    expectClose(r, GRAD, 'pre-LN residual');
    expect(keys).toContain('omnitokLayerNormGradX_acc_rows2');
    expect(keys.filter((k) => k.startsWith('omnitokLayerNormGradX') && !k.includes('_acc')), keys.join()).toEqual([]);
    expect(kernels.filter((k) => k === 'Add'), 'Adds (the residual\'s gradient is accumulated in the LayerNorm dispatch)').toEqual([]);
  });

  for (const kind of ['erf', 'tanh', 'quick'] as GeluKind[]) {
    it(`fused GELU (${kind}) equals the composite one, values and gradients`, async () => {
      const r = await onBoth(() => {
        const x = rand(16, [5, 301], 2.5);
        const w = rand(17, [5, 301]);
        const [dx] = tf.grads((t: tf.Tensor) => tf.sum(tf.mul(gelu(t, kind), w)))([x]);
        return [gelu(x, kind), dx!];
      });
      expectClose(r, GRAD, `GELU ${kind}`);
    });
  }

  for (const [title, mask, N, width, heads] of [
    ['plain', {}, 9, 32, 4],
    ['key-padding mask', { keyMask: true }, 9, 32, 4],
    ['causal', { causal: true }, 9, 32, 4],
    ['causal + key-padding mask', { causal: true, keyMask: true }, 9, 32, 4],
    ['causal, 70 tokens (two query blocks, block skipping)', { causal: true }, 70, 24, 2],
    ['key-padding mask, 70 tokens, head dim 12', { keyMask: true }, 70, 24, 2],
    ['causal + key-padding mask, head dim 64 (ViT-S)', { causal: true, keyMask: true }, 20, 128, 2],
  ] as const) {
    for (const bwd of ['gemm', 'flash', 'gemm on the scalar 64-tile', 'gemm, after a GEMM forward that kept P', 'gemm, after a GEMM forward that kept P, Δ apart', 'gemm, after a GEMM forward, both on the 64×128 vec4 tile'] as const) {
      it(`fused self-attention (${title}; ${bwd} backward) equals the composite one, values and every gradient`, async () => {
        const env = {
          OMNITOK_WEBGPU_ATTN_BWD: bwd === 'flash' ? 'flash' : 'gemm',
          OMNITOK_WEBGPU_ATTN_TILE: bwd === 'gemm on the scalar 64-tile' ? '64' : bwd.endsWith('64×128 vec4 tile') ? '64x128v' : undefined,
          OMNITOK_WEBGPU_ATTN_FWD: bwd.startsWith('gemm, after') ? 'gemm' : 'fused',
          OMNITOK_WEBGPU_ATTN_DELTA: bwd.endsWith('Δ apart') ? 'separate' : undefined,
        };
        const programs: string[] = [];
        const r = await withEnv(env, () => onBoth(() => {
          // row 0 keeps everything, row 1 the first third, row 2 only the first token
          const keep = [N, Math.ceil(N / 3), 1].flatMap((n) => Array.from({ length: N }, (_, j) => (j < n ? 1 : 0)));
          // int32 for the short cases (its float cast keeps i32 storage on webgpu), float32 for the long ones
          const keyMask = 'keyMask' in mask ? tf.tensor2d(keep, [3, N], N < 64 ? 'int32' : 'float32') : undefined;
          return recordPrograms(programs, () => attentionValuesAndGrads(width, heads, rand(18, [3, N, width]), rand(19, [3, N, width]), { keyMask, causal: 'causal' in mask }));
        }));
        expectClose(r, GRAD, `attention ${title} (${bwd})`);
        // the flash-style forward writes O and the rows' statistics as two outputs of one dispatch: no slices
        if (!bwd.startsWith('gemm, after')) {
          expect(programs.some((k) => k.startsWith('omnitokAttention_')), programs.join()).toBe(true);
          expect(programs.filter((k) => k.toLowerCase().startsWith('slice')), programs.join()).toEqual([]);
        }
        // with P kept, dS comes with its Δ from one program (or the Δ program and then dS, when asked)
        if (bwd.startsWith('gemm, after')) {
          const apart = bwd.endsWith('Δ apart');
          expect(programs.includes('omnitokAttentionDScoresRows'), programs.join()).toBe(!apart);
          expect(programs.includes('omnitokAttentionDelta_noLse'), programs.join()).toBe(apart);
        }
        // a GEMM forward's softmax keeps its rows in registers, ⌈N / 32⌉ a lane
        if (bwd.startsWith('gemm, after')) expect(programs).toContain(`omnitokAttentionSoftmaxRows${Math.ceil(N / 32)}_${'causal' in mask ? 'c' : 'n'}${'keyMask' in mask ? 'm' : ''}`);
        // the per-head GEMMs ran on the tile asked for (S = QKᵀ, dP = dO·Vᵀ: NT; dK = dSᵀ·Q: TN)
        const tile = bwd === 'gemm on the scalar 64-tile' ? '4x4x16' : bwd.endsWith('64×128 vec4 tile') ? '4x8x16v' : '4x4x16v';
        if (bwd !== 'flash') expect(programs.filter((k) => k.startsWith(`omnitokMatMul_${tile}_`)).length, `GEMMs on ${tile}`).toBeGreaterThanOrEqual(bwd.startsWith('gemm, after') ? 8 : 6);
      });
    }
  }

  // the tiled programs (OMNITOK_WEBGPU_ATTN_FWD / _BWD=tiled, head dim 64): the forward takes 32 query
  // rows × 32 keys a tile, the backward 32 own rows × 16 walked ones, so 70 tokens are three row blocks
  // and partial tiles on both sides; 32 tokens exactly one forward tile
  for (const [title, mask, N] of [
    ['plain', {}, 70],
    ['causal (key tiles past the row block skipped)', { causal: true }, 70],
    ['key-padding mask', { keyMask: true }, 70],
    ['causal + key-padding mask, one tile', { causal: true, keyMask: true }, 32],
    ['causal + key-padding mask', { causal: true, keyMask: true }, 45],
    ['causal, one token', { causal: true }, 1],
    ['plain, 17 tokens (one backward tile and a row)', {}, 17],
  ] as const) {
    for (const bwd of ['gemm', 'tiled'] as const) {
      it(`tiled self-attention forward, ${bwd} backward (${title}, ${N} tokens, head dim 64) equals the composite one, values and every gradient`, async () => {
        const env = { OMNITOK_WEBGPU_ATTN_FWD: 'tiled', OMNITOK_WEBGPU_ATTN_BWD: bwd };
        const programs: string[] = [];
        const r = await withEnv(env, () => onBoth(() => {
          const keep = [N, Math.ceil(N / 3), 1].flatMap((n) => Array.from({ length: N }, (_, j) => (j < n ? 1 : 0)));
          const keyMask = 'keyMask' in mask ? tf.tensor2d(keep, [3, N], 'float32') : undefined;
          return recordPrograms(programs, () => attentionValuesAndGrads(128, 2, rand(18, [3, N, 128]), rand(19, [3, N, 128]), { keyMask, causal: 'causal' in mask }));
        }));
        // three forwards (two under gradients, one plain), two backwards
        const count = (prefix: string) => programs.filter((k) => k.startsWith(prefix)).length;
        expect(count('omnitokAttentionTiled_'), 'tiled forwards').toBe(3);
        expect(count('omnitokAttention_'), 'thread-per-row forwards').toBe(0);
        expect(count('omnitokAttentionTiledGradQ_'), 'tiled dQ programs').toBe(bwd === 'tiled' ? 2 : 0);
        expect(count('omnitokAttentionTiledGradKV_'), 'tiled dK/dV programs').toBe(bwd === 'tiled' ? 2 : 0);
        expectClose(r, GRAD, `tiled attention ${title} (${bwd} backward)`);
      });
    }
  }

  it('the GEMM forward\'s softmax: rows in registers (8 a workgroup) and a workgroup per row (OMNITOK_WEBGPU_ATTN_SOFTMAX=block) agree with the cpu, lengths at and past multiples of 32, masked rows', async () => {
    for (const N of [32, 33, 64, 97]) {
      const results: { cpu: Float32Array[]; webgpu: Float32Array[] }[] = [];
      for (const softmax of ['rows', 'block']) {
        const env = { OMNITOK_WEBGPU_ATTN_FWD: 'gemm', OMNITOK_WEBGPU_ATTN_SOFTMAX: softmax === 'block' ? 'block' : undefined };
        const programs: string[] = [];
        const r = await withEnv(env, () => onBoth(() => {
          // rows of sample 1 keep only the last third; causal: its early rows keep no key at all
          const keep = [N, Math.ceil(N / 3)].flatMap((n) => Array.from({ length: N }, (_, j) => (j >= N - n ? 1 : 0)));
          const keyMask = tf.tensor2d(keep, [2, N], 'float32');
          return recordPrograms(programs, () => attentionValuesAndGrads(32, 2, rand(30 + N, [2, N, 32]), rand(31 + N, [2, N, 32]), { keyMask, causal: true }));
        }));
        expect(programs).toContain(softmax === 'rows' ? `omnitokAttentionSoftmaxRows${Math.ceil(N / 32)}_cm` : 'omnitokAttentionSoftmax_cm');
        expectClose(r, GRAD, `attention softmax ${softmax}, N ${N}`);
        results.push(r);
      }
      results[0]!.webgpu.forEach((v, i) => expect(maxAbsDiff(v, results[1]!.webgpu[i]!), `rows vs block, N ${N}, output ${i}`).toBeLessThan(1e-5));
    }
  });

  it('without OMNITOK_WEBGPU_ATTN_FWD the forward runs as GEMMs while the kept probabilities fit, flash-style past that', async () => {
    expect(gemmAttentionForward(128, 6, 197)).toBe(true); // ViT-S at batch 128: 119 MB a layer
    expect(gemmAttentionForward(256, 12, 197)).toBe(true); // ViT-B/16 at batch 256: 477 MB
    expect(gemmAttentionForward(32, 8, 1500)).toBe(false); // Whisper-length audio: 2.3 GB
    expect(GEMM_ATTENTION_MAX_PROBS_BYTES).toBe(512 * 2 ** 20);
    for (const [mode, small, large] of [['fused', false, false], ['tiled', false, false], ['gemm', true, true]] as const) {
      await withEnv({ OMNITOK_WEBGPU_ATTN_FWD: mode }, async () => {
        expect([gemmAttentionForward(2, 2, 9), gemmAttentionForward(32, 8, 1500)], mode).toEqual([small, large]);
      });
    }
    const programs: string[] = [];
    const r = await onBoth(() => recordPrograms(programs, () => attentionValuesAndGrads(32, 4, rand(18, [3, 9, 32]), rand(19, [3, 9, 32]), { causal: false })));
    expect(programs.filter((k) => k.startsWith('omnitokAttentionSoftmax')).length, 'GEMM forwards').toBe(3);
    expect(programs.filter((k) => k.startsWith('omnitokAttention_')).length, 'flash-style forwards').toBe(0);
    expectClose(r, GRAD, 'default attention forward');
  });

  // rows whose every key is masked (a sample with an all-zero key mask; causal with left padding): the
  // −1e9 masking spreads their weight evenly over the keys they may see. The backward recomputes P from
  // the forward's row statistics, which kept as one logsumexp (−1e9 + log n = −1e9 in f32) made P n
  // times too large there.
  for (const [title, causal, keep] of [
    ['a sample with no key kept', false, (b: number, j: number) => (b === 0 ? 0 : 1)],
    ['causal with left padding', true, (b: number, j: number) => (j >= 10 * b + 5 ? 1 : 0)],
  ] as const) {
    for (const [fwd, bwd] of [['fused', 'gemm'], ['fused', 'flash'], ['tiled', 'tiled'], ['gemm', 'gemm']] as const) {
      it(`self-attention rows with only masked keys (${title}; ${fwd} forward, ${bwd} backward) equal the composite one`, async () => {
        const env = { OMNITOK_WEBGPU_ATTN_FWD: fwd, OMNITOK_WEBGPU_ATTN_BWD: bwd };
        const programs: string[] = [];
        const r = await withEnv(env, () => onBoth(() => {
          const keyMask = tf.tensor2d(Array.from({ length: 2 * 40 }, (_, e) => keep(Math.floor(e / 40), e % 40)), [2, 40]);
          return recordPrograms(programs, () => attentionValuesAndGrads(128, 2, rand(24, [2, 40, 128]), rand(25, [2, 40, 128]), { keyMask, causal }));
        }));
        if (bwd === 'tiled') expect(programs.some((k) => k.startsWith('omnitokAttentionTiledGradKV_'))).toBe(true);
        expectClose(r, GRAD, `fully masked rows, ${title} (${fwd} ${bwd})`);
      });
    }
  }

  it('fused self-attention forward with unrolled loops (the default on hardware adapters) gives the same values', async () => {
    // lavapipe needs seconds per unrolled pipeline (uncached): the forward only, one small causal case
    await withEnv({ OMNITOK_WEBGPU_UNROLL: '1' }, async () => {
      const r = await onBoth(() => {
        const attn = new MultiHeadAttention(16, 2, new Rng(4));
        const out = [attn.forward(rand(22, [2, 5, 16]), undefined, { causal: true })];
        attn.dispose();
        return out;
      });
      expectClose(r, FWD, 'unrolled attention');
    });
  });

  it('global norm: gradients grouped per dispatch as the device\'s storage buffers allow into shared partial sums, across chunk boundaries', async () => {
    await initBackend('webgpu');
    const k = webgpuSumSquaresGroupSize();
    expect(k).toBe(Math.min(15, (tf.backend() as unknown as { device: { limits: { maxStorageBuffersPerShaderStage: number } } }).device.limits.maxStorageBuffersPerShaderStage - 1));
    // 4 tensors (one group), then 2k + 3 (two full groups and one of 3, chunk counts that differ between calls)
    const many = 2 * k + 3;
    const keys: string[] = [];
    const r = await onBoth(() => recordPrograms(keys, () => [
      globalNorm([rand(30, [70, 100]), rand(31, [5]), rand(32, [4096]), rand(33, [3, 3000], 0.1)]),
      globalNorm(Array.from({ length: many }, (_, i) => rand(50 + i, [i % 3 === 0 ? 5000 + i : 17 * (i + 1)]))),
    ]));
    expectClose(r, FWD, 'global norm');
    expect(keys.filter((key) => key.startsWith('omnitokSumSquares'))).toEqual(['omnitokSumSquares_4', `omnitokSumSquares_${k}`, `omnitokSumSquares_${k}`, 'omnitokSumSquares_3']);
  });

  /** Σ of float32 values rounded once to the nearest float32 (ties to even), exactly: a BigInt sum in units of 2^−149. */
  function roundedSum(xs: number[]): number {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    let sum = 0n;
    for (const x of xs) {
      f[0] = x;
      const e = (u[0]! >>> 23) & 0xff;
      const m = BigInt(e === 0 ? u[0]! & 0x7fffff : (u[0]! & 0x7fffff) | 0x800000) << BigInt(Math.max(e - 1, 0));
      sum += u[0]! >>> 31 ? -m : m;
    }
    const neg = sum < 0n;
    let mag = neg ? -sum : sum;
    if (mag === 0n) return 0;
    const bits = mag.toString(2).length;
    let shift = bits - 24;
    if (shift > 0) {
      const rest = mag & ((1n << BigInt(shift)) - 1n);
      const half = 1n << BigInt(shift - 1);
      mag >>= BigInt(shift);
      if (rest > half || (rest === half && (mag & 1n) === 1n)) mag += 1n;
    } else shift = 0;
    const v = Number(mag) * 2 ** (shift - 149);
    return neg ? -v : v;
  }

  it('embedding gradient: each element the correctly rounded sum of its positions (ties to even, cancellation, thousands of repeats), the same bits every run, NaN everywhere past the limits', async () => {
    await initBackend('webgpu');
    const rng = new Rng(91);
    // 3 000 positions into 6 ids (id 0 on 2 000 of them, like padding; positions 2k and 2k + 1 share an
    // id), 5 columns: 0, magnitudes 2^−38 … 2^10; 1, integers (exact sums); 2, x at 2k and −x at 2k + 1
    // (each row cancels to exactly 0); 3, 2^24 at position 0 (id 1) and ones elsewhere (a sum past
    // 2^24, where floats are 2 apart); 4, normals
    const [P, V, D] = [3000, 6, 5];
    const ids = Array.from({ length: P }, (_, p) => (Math.floor(p / 2) % 3 === 0 ? 1 + (Math.floor(p / 2) % 5) : 0));
    const dy = new Float32Array(P * D);
    for (let p = 0; p < P; p++) {
      dy[p * D] = (rng.uniform() < 0.5 ? -1 : 1) * (1 + rng.uniform()) * 2 ** (Math.round(rng.uniform() * 48) - 38);
      dy[p * D + 1] = Math.round(rng.normal() * 1000);
      dy[p * D + 2] = p % 2 === 0 ? rng.normal() : -dy[(p - 1) * D + 2]!;
      dy[p * D + 3] = p === 0 ? 2 ** 24 : 1;
      dy[p * D + 4] = rng.normal();
    }
    const expected = new Float32Array(V * D);
    for (let v = 0; v < V; v++)
      for (let d = 0; d < D; d++) expected[v * D + d] = roundedSum(ids.flatMap((id, p) => (id === v ? [dy[p * D + d]!] : [])));
    expect(ids.filter((id) => id === 0).length).toBe(2000);
    for (let v = 0; v < V; v++) expect(expected[v * D + 2]).toBe(0);
    const runs: Float32Array[] = [];
    // one pass over the table, twice; then passes of 2 rows and of 4 (4 + 2), as a table past
    // EMBED_ACC_BYTES of accumulator takes
    for (const [rows, passes] of [[undefined, 1], [undefined, 1], ['2', 3], ['4', 2]] as const) {
      const [idsT, dyT] = [tf.tensor1d(ids, 'int32'), tf.tensor2d(dy, [P, D])];
      const keys: string[] = [];
      const g = withEnv({ OMNITOK_WEBGPU_EMBED_GRAD_ROWS: rows }, () => recordPrograms(keys, () => webgpuEmbeddingGrad(idsT, dyT, V)));
      expect(keys).toEqual(Array.from({ length: passes }, () => ['omnitokZeroI32', 'omnitokEmbedGradAcc', 'omnitokEmbedGradRound']).flat());
      runs.push(Float32Array.from(await g.data()));
      tf.dispose([idsT, dyT, g]);
    }
    expect(Array.from(runs[0]!)).toEqual(Array.from(expected));
    for (const r of runs.slice(1)) expect(Array.from(r)).toEqual(Array.from(runs[0]!));
    // ties to even: 2^24 + 5 and 2^24 + 3 lie halfway between floats and round to 2^24 + 4 (not away
    // from 0: + 6); with 2^−30 more, 2^24 + 5 rounds up
    const ties = tf.tidy(() => webgpuEmbeddingGrad(tf.tensor1d([0, 0, 0, 1, 1, 1, 2, 2, 2, 2], 'int32'), tf.tensor2d([2 ** 24, 1, 4, 2 ** 24, 1, 2, 2 ** 24, 1, 4, 2 ** -30], [10, 1]), 3));
    expect(Array.from(await ties.data())).toEqual([2 ** 24 + 4, 2 ** 24 + 4, 2 ** 24 + 6]);
    expect(roundedSum([2 ** 24, 1, 4])).toBe(2 ** 24 + 4);
    ties.dispose();
    // a non-finite value or one of magnitude ≥ 2^40 anywhere: every element NaN
    for (const bad of [NaN, Infinity, -(2 ** 40)]) {
      for (const rows of [undefined, '1']) {
        const g = withEnv({ OMNITOK_WEBGPU_EMBED_GRAD_ROWS: rows }, () => tf.tidy(() => webgpuEmbeddingGrad(tf.tensor1d([0, 1], 'int32'), tf.tensor2d([1, 2, bad, 4], [2, 2]), 3)));
        expect(Array.from(await g.data()).every(Number.isNaN), `${bad}, rows a pass ${rows}`).toBe(true);
        g.dispose();
      }
    }
    // 2^40 − 2^16 (the largest float below 2^40) still adds exactly
    const big = tf.tidy(() => webgpuEmbeddingGrad(tf.tensor1d([0, 0], 'int32'), tf.tensor2d([2 ** 40 - 2 ** 16, 2 ** 40 - 2 ** 16], [2, 1]), 1));
    expect(Array.from(await big.data())).toEqual([2 ** 41 - 2 ** 17]);
    big.dispose();
  });

  it('embeddingLookup trains on webgpu through the deterministic gradient: the cpu backend\'s table gradient, one zeroing, accumulating and rounding dispatch each', async () => {
    const keys: string[] = [];
    const r = await onBoth(() => recordPrograms(keys, () => {
      const table = rand(60, [40, 24]);
      const ids = tf.tensor2d(Array.from({ length: 7 * 9 }, (_, i) => (i * 7) % 13 === 0 ? 0 : (i * i) % 40), [7, 9], 'int32');
      const w = rand(61, [24]);
      const [dTable] = tf.grads((t: tf.Tensor) => tf.sum(tf.mul(tf.sin(embeddingLookup(t, ids)), w)))([table]);
      return [dTable!];
    }));
    expectClose(r, GRAD, 'embedding');
    expect(keys.filter((k) => k.startsWith('omnitokEmbedGrad') || k.startsWith('scatter'))).toEqual(['omnitokEmbedGradAcc', 'omnitokEmbedGradRound']);
    // OMNITOK_WEBGPU_EMBED_GRAD=scatter: TensorFlow.js' scatterND instead (for measuring one against the other)
    const scatterKeys: string[] = [];
    const viaScatter = await withEnv({ OMNITOK_WEBGPU_EMBED_GRAD: 'scatter' }, () => onBoth(() => recordPrograms(scatterKeys, () => {
      const table = rand(60, [40, 24]);
      const ids = tf.tensor1d([3, 3, 0, 39, 3], 'int32');
      const [dTable] = tf.grads((t: tf.Tensor) => tf.sum(tf.sin(embeddingLookup(t, ids))))([table]);
      return [dTable!];
    })));
    expectClose(viaScatter, GRAD, 'embedding via scatterND');
    expect(scatterKeys.some((k) => k.startsWith('scatter'))).toBe(true);
    expect(scatterKeys.some((k) => k.startsWith('omnitokEmbedGrad'))).toBe(false);
  });

  it('column sums (bias gradients) over 390 rows × 70 columns equal tf.sum; the bias gradient of linear() too', async () => {
    const r = await onBoth(() => {
      const x = rand(34, [3, 130, 70]);
      const colSum = tf.getBackend() === 'webgpu' ? webgpuColumnSum(x) : tf.sum(x, [0, 1]);
      const [, , db] = tf.grads((a: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(linear(a, w, b))))([rand(35, [200, 7]), rand(36, [7, 66]), rand(37, [66])]);
      return [colSum, db!];
    });
    expectClose(r, FWD, 'column sum');
  });

  // [T, in, out]: one 64-tile GEMM; split-K on the 64 tile; split-K on the vec4 128 tile with two row
  // tiles (the second writes no column sums); 128 rows: exactly one row tile (a ones row made it two)
  const wbShapes = [[200, 7, 66], [3000, 40, 37], [2100, 130, 131], [2100, 128, 131]] as const;
  it('linear(): dx, dW and db with the weight and bias gradients from one column-sums GEMM equal the cpu backend', async () => {
    expect(planMatMul(7, 66, 200, 1).splits).toBe(1);
    expect(planMatMul(40, 37, 3000, 1).splits).toBeGreaterThan(1);
    for (const inDim of [130, 128]) {
      const big = planMatMul(inDim, 131, 2100, 1);
      expect(big.splits).toBeGreaterThan(1);
      expect(big.tile).toMatchObject({ rm: 8, vec4: true });
    }
    for (const [t, inDim, outDim] of wbShapes) {
      const keys: string[] = [];
      const r = await onBoth(() => recordPrograms(keys, () => {
        const x = rand(60 + t, [t, inDim]);
        const w = rand(61 + t, [inDim, outDim], 0.2);
        const b = rand(62 + t, [outDim]);
        const target = rand(63 + t, [t, outDim]);
        // a loss whose dy differs per row and column, so db ≠ a multiple of ones
        const grads = tf.grads((a: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(linear(a, ww, bb), target)))([x, w, b]);
        return grads;
      }));
      expect(keys.some((k) => k.includes('_TN_colsum')), keys.join()).toBe(true);
      // dW and db from one sum of the partials (one partial without split-K), which writes both
      expect(keys.filter((k) => k.startsWith('omnitokSplitKSum')), keys.join()).toEqual(['omnitokSplitKSum_tail']);
      expectClose(r, GRAD, `linear grads ${t}×${inDim}×${outDim}`);
    }
  });

  it('linear() with a residual: added in the GEMM\'s epilogue (and in the split-K sum), no Add; values and the four gradients equal the cpu backend', async () => {
    // [M, in, out]: one GEMM; split-K (K = 3000 over few output tiles) with the residual in the sum
    for (const [t, inDim, outDim, split] of [[70, 33, 50, false], [40, 3000, 37, true]] as const) {
      expect(planMatMul(t, outDim, inDim, 1).splits > 1).toBe(split);
      const keys: string[] = [];
      const kernels: string[] = [];
      const r = await onBoth(() => recordPrograms(keys, () => recordKernels(tf.getBackend() === 'webgpu' ? kernels : [], () => {
        const x = rand(90 + t, [2, t / 2, inDim]);
        const w = rand(91, [inDim, outDim], 0.2);
        const b = rand(92, [outDim]);
        const res = rand(93, [2, t / 2, outDim]);
        const target = rand(94, [2, t / 2, outDim]);
        const f = (a: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor, rr: tf.Tensor) => tf.sum(tf.mul(tf.sin(linear(a, ww, bb, rr)), target));
        return [linear(x, w, b, res), ...tf.grads(f)([x, w, b, res])];
      })));
      expectClose(r, GRAD, `linear + residual ${t}×${inDim}×${outDim}`);
      expect(kernels).toContain('OmnitokWgLinearResidual');
      expect(kernels, 'no Add of the residual').not.toContain('Add');
      expect(keys.some((k) => (split ? k === 'omnitokSplitKSum_bias_res' : /^omnitokMatMul_.*_bias_res/.test(k))), keys.join()).toBe(true);
    }
  });

  it('an MLP: GELU in fc1\'s epilogue, GELU′ in the epilogue of the GEMM through fc2 (or in the split-K sums); values and gradients equal the cpu backend', async () => {
    // [T, D, hidden]: one GEMM each, with a residual; split-K (K = D = 3000 over few output tiles)
    for (const [t, d, hidden, split] of [[70, 33, 50, false], [40, 3000, 37, true]] as const) {
      expect(planMatMul(t, hidden, d, 1).splits > 1).toBe(split);
      for (const kind of ['erf', 'tanh', 'quick'] as const) {
        const keys: string[] = [];
        const kernels: string[] = [];
        const r = await onBoth(() =>
          recordPrograms(keys, () =>
            recordKernels(tf.getBackend() === 'webgpu' ? kernels : [], () =>
              mlpValuesAndGrads(d, hidden, kind, rand(95 + t, [2, t / 2, d]), rand(96, [2, t / 2, d]), split ? undefined : rand(97, [2, t / 2, d])),
            ),
          ),
        );
        expectClose(r, GRAD, `mlp ${kind} ${t}×${d}×${hidden}`);
        expect(kernels).toContain('OmnitokWgLinearGelu');
        expect(kernels).toContain('OmnitokWgMatMulGeluGrad');
        expect(kernels, 'no separate GELU dispatches').not.toContain('OmnitokWgGelu');
        expect(kernels).not.toContain('OmnitokWgGeluGrad');
        const fwd = split ? `omnitokSplitKSum_bias_gelu_${kind}` : new RegExp(`^omnitokMatMul_.*_NN_bias_gelu_${kind}$`);
        const bwd = split ? `omnitokSplitKSum_geluGrad_${kind}` : new RegExp(`^omnitokMatMul_.*_NT_geluGrad_${kind}$`);
        for (const want of [fwd, bwd]) expect(keys.some((k) => (typeof want === 'string' ? k === want : want.test(k))), `${String(want)} in ${keys.join()}`).toBe(true);
      }
    }
  });

  it('an MLP forward and backward takes 2 dispatches fewer than with OMNITOK_WEBGPU_MLP=separate, the same values', async () => {
    await initBackend('webgpu');
    const [t, d, hidden] = [24, 20, 40];
    const run = (separate: boolean) => {
      const keys: string[] = [];
      return withEnv({ OMNITOK_WEBGPU_MLP: separate ? 'separate' : undefined }, () => {
        const out = recordPrograms(keys, () => tf.tidy(() => {
          const x = rand(98, [t, d]);
          const res = rand(99, [t, d]);
          const mlp = new Mlp(d, hidden, 'erf', new Rng(5));
          mlp.fc1.weight.assign(rand(6, [d, hidden], 0.4));
          const params = [...mlp.parameters().values()];
          // the loss, then y from one more forward, then the four parameter gradients
          const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(mlp.forward(x, res), res)) as tf.Scalar, params);
          const y = mlp.forward(x, res);
          const list = [value, y, ...params.map((p) => grads[p.name]!)];
          mlp.dispose();
          return list;
        }));
        return { keys, out };
      });
    };
    const fused = run(false);
    const separate = run(true);
    expect(separate.keys.filter((k) => k.startsWith('omnitokGelu')).length, separate.keys.join()).toBe(3); // two forwards, one backward
    expect(fused.keys.some((k) => k.startsWith('omnitokGelu')), fused.keys.join()).toBe(false);
    // one forward with its backward, and one more forward: 2 + 1 fewer
    expect(separate.keys.length - fused.keys.length, `${separate.keys.join()}\n${fused.keys.join()}`).toBe(3);
    const [a, b] = [await values(fused.out), await values(separate.out)];
    tf.dispose([...fused.out, ...separate.out]);
    for (let i = 0; i < a.length; i++) expect(maxAbsDiff(a[i]!, b[i]!), `output ${i}`).toBeLessThan(1e-6);
  });

  it('an MLP refuses a residual of another shape, naming both', async () => {
    await initBackend('webgpu');
    const mlp = new Mlp(3, 8, 'erf', new Rng(1));
    expect(() => mlp.forward(tf.zeros([4, 3]), tf.zeros([4, 4]))).toThrow(/residual shape.*\[4,4\].*\[4,3\]/);
    mlp.dispose();
  });

  it('the contrastive loss on webgpu: l2Normalize one dispatch each way (the tensor ops past 1 024 wide), pairedCrossEntropy two forward and one backward', async () => {
    await initBackend('webgpu');
    const keys: string[] = [];
    const out = recordPrograms(keys, () =>
      tf.tidy(() => {
        const loss = (a: tf.Tensor, b: tf.Tensor) => pairedCrossEntropy(tf.mul(tf.matMul(l2Normalize(a), l2Normalize(b), false, true), 20));
        return tf.grads(loss)([rand(50, [40, 24]), rand(51, [40, 24])]);
      }),
    );
    const ours = keys.filter((k) => /^omnitok(L2Normalize|PairedCe|Mean)/.test(k));
    expect(ours.sort()).toEqual(['omnitokL2NormalizeGrad_rows1', 'omnitokL2NormalizeGrad_rows1', 'omnitokL2Normalize_rows1', 'omnitokL2Normalize_rows1', 'omnitokMean', 'omnitokPairedCeGrad', 'omnitokPairedCeLines'].sort());
    tf.dispose(out);
    const wide: string[] = [];
    tf.dispose(recordPrograms(wide, () => tf.tidy(() => l2Normalize(rand(52, [2, 1100])))));
    expect(wide.some((k) => k.startsWith('omnitokL2Normalize')), wide.join()).toBe(false);
  });

  it('linear() refuses a residual of another shape, naming both', () => {
    expect(() => linear(tf.zeros([4, 3]), tf.zeros([3, 5]), tf.zeros([5]), tf.zeros([4, 4]))).toThrow(/residual shape.*\[4,4\].*\[4,5\]/);
  });

  it('the column-sums GEMM gradients equal the separate GEMM + column sums (OMNITOK_WEBGPU_BIAS_GRAD=separate)', async () => {
    await initBackend('webgpu');
    const [t, inDim, outDim] = wbShapes[2];
    const grads = () =>
      tf.tidy(() => tf.grads((a: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.sin(linear(a, ww, bb))))([rand(70, [t, inDim]), rand(71, [inDim, outDim], 0.2), rand(72, [outDim])]));
    // which kernels each way runs
    const ranFused: string[] = [];
    const ran: string[] = [];
    const fused = recordKernels(ranFused, grads);
    const separate = await withEnv({ OMNITOK_WEBGPU_BIAS_GRAD: 'separate' }, () => recordKernels(ran, grads));
    expect(ranFused).toContain('OmnitokWgWeightBiasGrad');
    expect(ranFused).not.toContain('OmnitokWgColumnSum');
    expect(ran).toContain('OmnitokWgColumnSum');
    expect(ran).not.toContain('OmnitokWgWeightBiasGrad');
    const [a, b] = [await values(fused), await values(separate)];
    tf.dispose([...fused, ...separate]);
    for (let i = 0; i < 3; i++) expect(maxAbsDiff(a[i]!, b[i]!), `gradient ${i}`).toBeLessThan(GRAD);
  });

  it('one AdamW dispatch updates several parameters (sizes, decay or not, a 2-D grid) like three programs each', async () => {
    await initBackend('webgpu');
    const k = webgpuAdamWGroupSize();
    expect(k).toBeGreaterThan(1);
    // 2k + 1 parameters: full groups and a partial one; sizes off the 256 grid; the largest spans two grid rows
    const sizes = Array.from({ length: 2 * k + 1 }, (_, i) => (i === 1 ? 65535 * 256 + 700 : 37 + 301 * i));
    const run = async (programs: boolean) => {
      const keys: string[] = [];
      return withEnv({ OMNITOK_WEBGPU_ADAMW: programs ? 'programs' : undefined }, async () => {
        const params = new Map(sizes.map((n, i) => [`p${i}`, tf.variable(tf.sin(tf.range(i, n + i, 1, 'float32')))] as const));
        // rank-1 parameters get no weight decay: alternate ranks to mix decay and none within a group
        const shaped = new Map([...params].map(([name, p], i) => [name, i % 2 ? p : tf.variable(p.reshape([1, p.size]))] as const));
        const opt = new AdamW(shaped, { lr: 0.1, weightDecay: 0.1 });
        const grads = new Map([...shaped].map(([name, p], i) => [name, tf.cos(tf.range(0, p.size, 1, 'float32').reshape(p.shape).mul(0.5 + i))] as const));
        const direct = webgpuDirectDispatches();
        recordPrograms(keys, () => opt.applyGuarded(grads, 0.1, tf.tensor1d([1, 0.5])));
        const dispatches = webgpuDirectDispatches() - direct;
        const tail = (d: ArrayLike<number>) => Float32Array.from(Array.from(d).slice(-1500));
        const state = [...(await Promise.all([...shaped.values()].map((p) => p.data()))).map(tail), ...Object.values((await opt.stateDict()).tensors).map((t) => tail(t.data))];
        opt.dispose();
        tf.dispose([...params.values(), ...shaped.values(), ...grads.values()]);
        return { state, keys, dispatches };
      });
    };
    const grouped = await run(false);
    const three = await run(true);
    expect(grouped.dispatches).toBe(Math.ceil(sizes.length / k));
    expect(grouped.keys.filter((key) => key.startsWith('omnitokAdamWInPlace'))).toEqual([]);
    expect(three.keys.filter((key) => key.startsWith('omnitokAdamWInPlace')).length).toBe(3 * sizes.length);
    expect(grouped.state.length).toBe(3 * sizes.length); // p, m, v of each
    grouped.state.forEach((x, i) => {
      expect(x.some((v) => v !== 0), `state ${i} was updated`).toBe(true);
      expect(maxAbsDiff(x, three.state[i]!), `state ${i}`).toBeLessThan(1e-6);
    });
  });

  it('one-dispatch AdamW covers a parameter of more than 65 535 workgroups (a 2-D grid) like the three programs', async () => {
    await initBackend('webgpu');
    const n = 65535 * 256 + 1000; // the grid's second row: the last 1 000 elements
    const run = async (programs: boolean) => {
      const keys: string[] = [];
      return withEnv({ OMNITOK_WEBGPU_ADAMW: programs ? 'programs' : undefined }, async () => {
        const p = tf.variable(tf.sin(tf.range(0, n, 1, 'float32')));
        const opt = new AdamW(new Map([['p', p]]), { lr: 0.1, weightDecay: 0.1 });
        const g = tf.cos(tf.range(0, n, 1, 'float32'));
        recordPrograms(keys, () => opt.applyGuarded(new Map([['p', g]]), 0.1, tf.tensor1d([1, 1])));
        const state = [await p.data(), ...Object.values((await opt.stateDict()).tensors).map((t) => t.data)].map((d) => Float32Array.from(d.subarray(n - 1000)));
        opt.dispose();
        tf.dispose([p, g]);
        return { state, keys };
      });
    };
    const one = await run(false);
    const three = await run(true);
    expect(one.keys.filter((k) => k.startsWith('omnitokAdamWInPlace'))).toEqual([]);
    expect(three.keys.filter((k) => k.startsWith('omnitokAdamWInPlace')).length).toBe(3);
    expect(one.state.length).toBe(3); // p, m, v
    one.state.forEach((x, i) => {
      expect(x.some((v) => v !== 0), `state ${i} was updated`).toBe(true);
      expect(maxAbsDiff(x, three.state[i]!), `state ${i}`).toBeLessThan(1e-6);
    });
  });

  // AdamW runs as one dispatch binding p, m and v read-write, or (OMNITOK_WEBGPU_ADAMW=programs, or
  // where tfjs' internals differ) as three one-output programs: every AdamW test runs both ways
  for (const path of ['one dispatch', 'three programs'] as const) {
    const useAdamWPath = <T,>(f: () => T): T => withEnv({ OMNITOK_WEBGPU_ADAMW: path === 'three programs' ? 'programs' : undefined }, f);
    /** AdamW programs a webgpu update ran: none for one dispatch, three per parameter otherwise. */
    const adamWPrograms = (keys: string[]) => keys.filter((k) => k.startsWith('omnitokAdamWInPlace')).length;

    it(`fused AdamW (${path}) equals the tensor-op AdamW over several steps (decayed and not)`, async () => {
      const programs: string[] = [];
      const r = await onBoth(() => recordPrograms(programs, () => useAdamWPath(() => {
        const params = new Map([
          ['w', tf.variable(rand(20, [6, 5]))],
          ['b', tf.variable(rand(21, [5]))],
        ]);
        const opt = new AdamW(params, { lr: 0.05, weightDecay: 0.1, beta2: 0.95 });
        const norms: tf.Tensor[] = [];
        for (let step = 0; step < 4; step++) {
          const grads = new Map([...params].map(([k, p]) => [k, tf.mul(tf.sin(tf.add(p, step)), 3)] as const));
          norms.push(globalNorm(grads.values()));
          opt.apply(grads, 0.05);
          tf.dispose([...grads.values()]);
        }
        const out: tf.Tensor[] = [...params.values()].map((p) => p.clone());
        out.push(tf.stack(norms));
        opt.dispose();
        for (const p of params.values()) p.dispose();
        return out;
      })));
      expect(adamWPrograms(programs), 'AdamW programs (2 parameters × 4 steps)').toBe(path === 'one dispatch' ? 0 : 24);
      expectClose(r, FWD, 'AdamW');
    });

    for (const inPlace of [true, false]) {
      it(`step guard: the global norm and the clip factor on the device; guarded AdamW (${path}, ${inPlace ? 'in place' : 'shared buffers: copies'}) equals AdamW on clipped gradients`, async () => {
        const dataIds: boolean[] = [];
        const programs: string[] = [];
        const r = await onBoth(() => recordPrograms(programs, () => useAdamWPath(() => {
          const init = [rand(40, [60, 70]), rand(41, [70])];
          const params = new Map([
            ['w', tf.variable(init[0]!)],
            ['b', tf.variable(init[1]!)],
          ]);
          // a variable shares its initial tensor's buffer until that is disposed: then it owns it alone
          if (inPlace) tf.dispose(init);
          const opt = new AdamW(params, { lr: 0.05, weightDecay: 0.1 });
          const out: tf.Tensor[] = [];
          for (const [step, clip] of [[0, 1], [1, 0], [2, 1e6], [3, 5]] as const) {
            const grads = new Map([...params].map(([k, p]) => [k, tf.mul(tf.sin(tf.add(p, step)), 3)] as const));
            const loss = tf.scalar(1.5);
            if (tf.getBackend() === 'webgpu') {
              const guard = webgpuStepGuard([...grads.values()], loss, clip)!;
              const ids = [...params.values()].map((p) => p.dataId);
              opt.applyGuarded(grads, 0.05, guard);
              dataIds.push([...params.values()].every((p, i) => p.dataId === ids[i]));
              out.push(guard);
            } else {
              // the reference: the host path of Trainer (norm, clip with the same factor, apply)
              const norm = globalNorm(grads.values());
              const n = norm.dataSync()[0]!;
              const scale = clip > 0 ? Math.min(clip / (n + 1e-6), 1) : 1;
              const clipped = clipByGlobalNorm(grads, clip > 0 ? clip : Infinity, n);
              opt.apply(clipped, 0.05);
              out.push(tf.stack([norm, tf.scalar(scale), tf.scalar(1)])); // [norm, scale, finite]
            }
            tf.dispose([...grads.values()]);
          }
          out.push(...[...params.values()].map((p) => p.clone()));
          opt.dispose();
          for (const p of params.values()) p.dispose();
          return out;
        })));
        expect(adamWPrograms(programs), 'AdamW programs (2 parameters × 4 steps)').toBe(path === 'one dispatch' ? 0 : 24);
        expectClose(r, FWD, 'guarded AdamW');
        expect(r.webgpu[0]![1]).toBeLessThan(1); // step 0 was clipped (norm ≫ 1)
        expect(r.webgpu[1]![1]).toBe(1); // clip 0: no clipping
        // same buffers ⇔ updated in place; shared buffers are copied once, then the variables own theirs
        expect(dataIds).toEqual(inPlace ? [true, true, true, true] : [false, true, true, true]);
      });
    }

    it(`step guard: a NaN or ±Inf loss or gradient gives scale 0, and guarded AdamW (${path}) then leaves p, m and v as they were`, async () => {
      await initBackend('webgpu');
      await useAdamWPath(async () => {
        const p = tf.variable(rand(42, [33, 17]));
        const opt = new AdamW(new Map([['p', p]]), { lr: 0.1, weightDecay: 0.1 });
        const g = rand(43, [33, 17]);
        opt.applyGuarded(new Map([['p', g]]), 0.1, tf.tensor1d([1, 1])); // moments now non-zero
        const state = async () => [Array.from(await p.data()), ...Object.values((await opt.stateDict()).tensors).map((t) => Array.from(t.data))];
        const before = await state();
        const cases: [string, tf.Tensor, tf.Scalar][] = [
          ['NaN loss', g, tf.scalar(NaN)],
          ['+Inf loss', g, tf.scalar(Infinity)],
          ['-Inf loss', g, tf.scalar(-Infinity)],
          ['NaN gradient', tf.where(tf.equal(tf.range(0, 33 * 17).reshape([33, 17]), 100), tf.fill([33, 17], NaN), g), tf.scalar(1)],
          ['Inf gradient', tf.where(tf.equal(tf.range(0, 33 * 17).reshape([33, 17]), 5), tf.fill([33, 17], Infinity), g), tf.scalar(1)],
        ];
        for (const [what, grad, loss] of cases) {
          const guard = webgpuStepGuard([grad], loss, 1)!;
          const [, scale, finite] = Array.from(await guard.data());
          expect(scale, what).toBe(0);
          expect(finite, what).toBe(0);
          opt.applyGuarded(new Map([['p', grad]]), 0.1, guard);
          opt.undoStepCount();
          expect(await state(), what).toEqual(before);
          tf.dispose([guard, loss]);
        }
        expect(opt.step).toBe(1);
        opt.dispose();
        tf.dispose([p, g, ...cases.map((c) => c[1])]);
      });
    });
  }

  it('step guard chained to the guard of a step in flight: a non-finite one before sets scale 0 (finite stays 1); a finite one changes nothing', async () => {
    await initBackend('webgpu');
    const g = rand(44, [20, 9]);
    const loss = tf.scalar(2);
    const bad = webgpuStepGuard([g], tf.scalar(NaN), 1)!;
    const good = webgpuStepGuard([g], loss, 1)!;
    const alone = Array.from(await good.data());
    const behindBad = webgpuStepGuard([g], loss, 1, 1, bad)!;
    const behindGood = webgpuStepGuard([g], loss, 1, 1, good)!;
    // behind a step that was itself finite but not applied (chained): applied again
    const behindChained = webgpuStepGuard([g], loss, 1, 1, behindBad)!;
    expect(Array.from(await bad.data()).slice(1)).toEqual([0, 0]);
    expect(alone[1]).toBeGreaterThan(0);
    expect(alone[2]).toBe(1);
    const [normBad, scaleBad, finiteBad] = Array.from(await behindBad.data());
    expect(normBad).toBeCloseTo(alone[0]!, 5);
    expect(scaleBad).toBe(0);
    expect(finiteBad).toBe(1);
    expect(Array.from(await behindGood.data())).toEqual(alone);
    expect(Array.from(await behindChained.data())).toEqual(alone);
    tf.dispose([g, loss, bad, good, behindBad, behindGood, behindChained]);
  });
});

/** x rounded to the nearest f16 (ties to even, subnormals below 2⁻¹⁴), as WGSL's f16(x) for |x| < 65 520. */
function f16Round(x: number): number {
  const a = Math.abs(x);
  if (a === 0 || !Number.isFinite(a)) return x;
  let e = Math.max(Math.floor(Math.log2(a)), -14);
  if (e > -14 && 2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (e - 10);
  const q = a / ulp;
  const floor = Math.floor(q);
  const rounded = q - floor > 0.5 || (q - floor === 0.5 && floor % 2 === 1) ? floor + 1 : floor;
  return Math.sign(x) * rounded * ulp;
}

/** A tensor of f16ExactValues (the self-check's values): exact in f16, every sum of their products exact in f32. */
function eighths(seed: number, shape: number[]): tf.Tensor {
  return tf.tensor(f16ExactValues(shape.reduce((p, d) => p * d, 1), seed), shape);
}

describe.skipIf(!webgpu.available && !requireWebgpu)('f16 GEMMs: the matrix program (emulated on lavapipe, which has no matrix unit)', COLD_COMPILES, () => {
  beforeAll(async () => {
    await initBackend('webgpu');
    expect(await setWebgpuMatmulPrecision('f16-emulated')).toEqual({ precision: 'f16-emulated', unit: 'emulated' });
  });
  afterAll(async () => {
    await initBackend('webgpu');
    await setWebgpuMatmulPrecision('f32');
  });

  it('f16 on an adapter without subgroup matrices keeps f32 and says why; f32 turns the matrix program off', async () => {
    await initBackend('webgpu');
    const device = (tf.backend() as unknown as { device: { features: { has(f: string): boolean } } }).device;
    const state = await setWebgpuMatmulPrecision('f16');
    if (device.features.has('chromium-experimental-subgroup-matrix')) expect(state.precision).toBe('f16');
    else expect(state).toEqual({ precision: 'f32', reason: expect.stringContaining('no chromium-experimental-subgroup-matrix') });
    expect(webgpuMatmulPrecision()).toEqual(state);
    await setWebgpuMatmulPrecision('f32');
    const keys: string[] = [];
    recordPrograms(keys, () => tf.tidy(() => tf.matMul(eighths(1, [70, 40]), eighths(2, [40, 30]))));
    expect(keys.some((k) => k.startsWith('omnitokMatMul_'))).toBe(true);
    expect(keys.some((k) => k.startsWith('omnitokMatMulF16'))).toBe(false);
    expect(await setWebgpuMatmulPrecision('f16-emulated')).toEqual({ precision: 'f16-emulated', unit: 'emulated' });
  });

  it('the self-check reports a program the device rejects (a caught WebGPU error) and passes the emulated one', async () => {
    await initBackend('webgpu');
    const device = (tf.backend() as unknown as { device: { features: { has(f: string): boolean } } }).device;
    expect(await matrixSelfCheck('emulated')).toBeUndefined();
    if (!device.features.has('chromium-experimental-subgroup-matrix')) {
      // lavapipe: the subgroup-matrix spelling cannot even be parsed without the feature
      expect(await matrixSelfCheck('subgroup')).toMatch(/WebGPU validation error: .*chromium_experimental_subgroup_matrix/);
      expect(await matrixSelfCheck('subgroup-bool')).toMatch(/WebGPU validation error/);
    }
    expect(webgpuMatmulPrecision()).toEqual({ precision: 'f16-emulated', unit: 'emulated' }); // left as it was
    const keys: string[] = [];
    const c = recordPrograms(keys, () => tf.tidy(() => tf.matMul(eighths(1, [70, 40]), eighths(2, [40, 30]))));
    expect((await c.data()).length).toBe(70 * 30);
    c.dispose();
    expect(keys).toContain('omnitokMatMulF16_emulated_NN');
  });

  it('initBackend keeps the precision unless told (matmulPrecision, OMNITOK_WEBGPU_MATMUL), and names it in the description', async () => {
    expect((await initBackend('webgpu')).description).toMatch(/GEMMs: f16 operands, f32 accumulation, emulated/);
    expect(webgpuMatmulPrecision().precision).toBe('f16-emulated');
    expect((await initBackend('webgpu', { matmulPrecision: 'f32' })).description).not.toMatch(/GEMMs/);
    expect(webgpuMatmulPrecision()).toEqual({ precision: 'f32' });
    await withEnv({ OMNITOK_WEBGPU_MATMUL: 'f16-emulated' }, async () => {
      await initBackend('webgpu');
      expect(webgpuMatmulPrecision().precision).toBe('f16-emulated');
      await withEnv({ OMNITOK_WEBGPU_MATMUL: 'f8' }, () => expect(initBackend('webgpu')).rejects.toThrow(/OMNITOK_WEBGPU_MATMUL.*f8/));
    });
    expect(webgpuMatmulPrecision().precision).toBe('f16-emulated');
  });

  it('exact on values f16 holds: every transpose, batches, broadcast batches, a bias, edge tiles, partial K slices; gradients', async () => {
    // (a pipeline per transpose, bias and rank: ~2 s each for lavapipe's LLVM, so a bias only where marked)
    const cases: [number[], number[], boolean, boolean, boolean][] = [
      [[150, 80], [80, 140], false, false, true], // two row and column tiles, K = 2.5 slices
      [[80, 150], [80, 140], true, false, false],
      [[150, 80], [140, 80], false, true, false],
      [[80, 150], [140, 80], true, true, false],
      [[3, 17, 45], [3, 45, 200], false, false, true],
      [[2, 3, 33, 7], [7, 129], false, false, false], // b broadcast over a rank-4 batch
    ];
    for (const [sa, sb, ta, tb, withBias] of cases) {
      const keys: string[] = [];
      const r = await onBoth(() =>
        recordPrograms(keys, () => {
          const a = eighths(1, sa);
          const b = eighths(2, sb);
          const y = tf.matMul(a, b, ta, tb);
          const bias = eighths(3, [y.shape[y.shape.length - 1]!]);
          const fused = withBias ? [tf.fused.matMul({ a, b, transposeA: ta, transposeB: tb, bias })] : [];
          if (sa.slice(0, -2).join() !== sb.slice(0, -2).join()) return [y, ...fused];
          const dy = eighths(4, y.shape);
          const [ga, gb] = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.matMul(p, q, ta, tb), dy)))([a, b]);
          return [y, ...fused, ga!, gb!];
        }),
      );
      expect(keys.some((k) => k.startsWith('omnitokMatMulF16_emulated'))).toBe(true);
      expect(keys.some((k) => k.startsWith('omnitokMatMul_'))).toBe(false);
      r.cpu.forEach((c, i) => expect(maxAbsDiff(r.webgpu[i]!, c), `${JSON.stringify([sa, sb, ta, tb])} output ${i}`).toBe(0));
    }
  }, 180_000); // a pipeline per transpose and bias, compiled by lavapipe's LLVM

  it('rounds the operands to f16 and accumulates in f32: equal to the f32 product of the rounded operands', async () => {
    const [m, k, n] = [130, 300, 90];
    await initBackend('webgpu');
    const a = rand(11, [m, k]);
    const b = rand(12, [k, n]);
    const got = Float32Array.from(await tf.matMul(a, b).data());
    await setWebgpuMatmulPrecision('f32');
    const f32 = Float32Array.from(await tf.matMul(a, b).data());
    await setWebgpuMatmulPrecision('f16-emulated');
    const [av, bv] = [await a.data(), await b.data()];
    tf.dispose([a, b]);
    const [ar, br] = [av.map(f16Round), bv.map(f16Round)];
    // worst |Δ|/(1+|ref|) against products computed in f64: of the f16 GEMM against the rounded
    // operands' product and the exact one, of the f32 GEMM against the exact one (its f32 accumulation)
    let fromRounded = 0;
    let fromExact = 0;
    let f32FromExact = 0;
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
      let s = 0;
      let t = 0;
      for (let p = 0; p < k; p++) {
        s += ar[i * k + p]! * br[p * n + j]!;
        t += av[i * k + p]! * bv[p * n + j]!;
      }
      fromRounded = Math.max(fromRounded, Math.abs(got[i * n + j]! - s) / (1 + Math.abs(s)));
      fromExact = Math.max(fromExact, Math.abs(got[i * n + j]! - t) / (1 + Math.abs(t)));
      f32FromExact = Math.max(f32FromExact, Math.abs(f32[i * n + j]! - t) / (1 + Math.abs(t)));
    }
    expect(fromRounded).toBeLessThan(3 * f32FromExact); // what is left is f32 accumulation
    expect(fromExact).toBeGreaterThan(10 * fromRounded); // the rounding is there
    expect(fromExact).toBeLessThan(2e-2);
  });

  it('attention with OMNITOK_WEBGPU_ATTN_TILE=plan runs its per-head GEMMs on the matrix program as well: forward and backward within f16 rounding of f32', async () => {
    const keys: string[] = [];
    const env = { OMNITOK_WEBGPU_ATTN_TILE: 'plan', OMNITOK_WEBGPU_ATTN_FWD: 'gemm', OMNITOK_WEBGPU_ATTN_BWD: 'gemm' };
    const r = await withEnv(env, () => onBoth(() => {
      const keep = [20, 7].flatMap((n) => Array.from({ length: 20 }, (_, j) => (j < n ? 1 : 0)));
      const keyMask = tf.tensor2d(keep, [2, 20], 'float32');
      return recordPrograms(keys, () => attentionValuesAndGrads(32, 2, rand(18, [2, 20, 32]), rand(19, [2, 20, 32]), { keyMask, causal: true }));
    }));
    // S = QKᵀ and dP = dO·Vᵀ (NT), P·V and dQ = dS·K (NN), dK = dSᵀ·Q and dV = Pᵀ·dO (TN): none on an f32 tile
    for (const t of ['NT', 'NN', 'TN']) expect(keys, `per-head ${t} GEMMs`).toContain(`omnitokMatMulF16_emulated_${t}`);
    expect(keys.filter((k) => k.startsWith('omnitokMatMul_'))).toEqual([]);
    expectClose(r, 4e-3, 'attention on f16 GEMMs');
    // and the f16 rounding is there (the same program in f32 is within GRAD)
    expect(Math.max(...r.cpu.map((c, i) => maxAbsDiff(r.webgpu[i]!, c)))).toBeGreaterThan(GRAD);
  });

  // [T, in, out]: one tile; split-K (one tile, K = 3 000)
  it('linear(): dx, dW and db (the column-sums GEMM, split-K) exact on values f16 holds', async () => {
    for (const [t, inDim, outDim] of [[200, 7, 66], [3000, 40, 37]] as const) {
      const keys: string[] = [];
      const r = await onBoth(() =>
        recordPrograms(keys, () => {
          const target = eighths(63, [t, outDim]);
          return tf.grads((a: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(linear(a, ww, bb), target)))([eighths(60, [t, inDim]), eighths(61, [inDim, outDim]), eighths(62, [outDim])]);
        }),
      );
      expect(keys).toContain('omnitokMatMulF16_emulated_TN_colsum');
      r.cpu.forEach((c, i) => expect(maxAbsDiff(r.webgpu[i]!, c), `linear ${t}×${inDim}×${outDim} grad ${i}`).toBe(0));
    }
  }, 120_000);

  it('linear() with a residual on the matrix program: the residual added in its epilogue, exact on values f16 holds', async () => {
    const keys: string[] = [];
    const r = await onBoth(() =>
      recordPrograms(keys, () => {
        const [x, w, b, res] = [eighths(64, [150, 40]), eighths(65, [40, 140]), eighths(66, [140]), eighths(67, [150, 140])];
        return [linear(x, w, b, res), ...tf.grads((a: tf.Tensor, rr: tf.Tensor) => tf.sum(tf.mul(linear(a, w, b, rr), res)))([x, res])];
      }),
    );
    expect(keys).toContain('omnitokMatMulF16_emulated_NN_bias_res');
    r.cpu.forEach((c, i) => expect(maxAbsDiff(r.webgpu[i]!, c), `output ${i}`).toBe(0));
  }, 120_000);

  it('an MLP on the matrix program: GELU and GELU′ in its epilogue, equal to the three separate ops on the same program', async () => {
    const keys: string[] = [];
    const mlp = () => mlpValuesAndGrads(40, 140, 'erf', eighths(68, [150, 40]), eighths(69, [150, 40]), eighths(70, [150, 40]));
    const r = await onBoth(() => recordPrograms(keys, mlp));
    expect(keys).toContain('omnitokMatMulF16_emulated_NN_bias_gelu_erf');
    expect(keys).toContain('omnitokMatMulF16_emulated_NT_geluGrad_erf');
    // the parameters and GELU's outputs are not f16 values: each GEMM rounds them (2⁻¹¹ relative) and
    // the weight gradients sum 150 such products — near the cpu's values, not equal
    r.cpu.forEach((c, i) => expect(maxAbsDiff(r.webgpu[i]!, c), `output ${i} vs cpu`).toBeLessThan(3e-2));
    // the same GEMMs round the same operands when GELU runs apart: equal up to f32 rounding
    const separate = await withEnv({ OMNITOK_WEBGPU_MLP: 'separate' }, async () => {
      const list = tf.tidy(mlp);
      const out = await values(list);
      tf.dispose(list);
      return out;
    });
    separate.forEach((c, i) => expect(maxAbsDiff(r.webgpu[i]!, c), `output ${i} vs separate`).toBeLessThan(1e-6));
  }, 120_000);

  it('training: small gradients flush in f16 without a loss scale; with a dynamic one f16 GEMMs train like f32', async () => {
    await initBackend('webgpu');
    const run = async (precision: 'f32' | 'f16-emulated', lossScale?: 'dynamic') => {
      await setWebgpuMatmulPrecision(precision);
      const enc = new TransformerEncoder({ size: 'custom', width: 32, depth: 1, heads: 2, mlpRatio: 2, tokens: { kind: 'continuous', dim: 6, count: 5 }, projectionDim: 4 }, new Rng(7));
      const x = rand(70, [8, 5, 6]);
      const y = tf.tidy(() => tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32'), 4));
      const params = enc.parameters();
      const opt = new AdamW(params, { lr: 1e-2 });
      const trainer = new Trainer(params, { optimizer: opt, clipNorm: 1, lossScale });
      // a loss 10⁻⁶ times the usual: its gradients are below f16's range (6·10⁻⁸) in places
      const loss = () => tf.mul(tf.losses.softmaxCrossEntropy(y, enc.forward(x).embedding), 1e-6) as tf.Scalar;
      const results = [];
      for (let i = 0; i < 8; i++) results.push(await trainer.trainStep(loss));
      tf.dispose([x, y]);
      opt.dispose();
      enc.dispose();
      return results;
    };
    const f32 = await run('f32');
    const flushed = await run('f16-emulated');
    const scaled = await run('f16-emulated', 'dynamic');
    await setWebgpuMatmulPrecision('f16-emulated');
    const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);
    expect(rel(flushed[0]!.gradNorm, f32[0]!.gradNorm), 'f16 without a loss scale').toBeGreaterThan(0.05);
    expect(rel(scaled[0]!.gradNorm, f32[0]!.gradNorm), 'f16 with the loss scale').toBeLessThan(0.01);
    expect(scaled.every((r) => !r.skipped && r.lossScale === 65536)).toBe(true);
    for (let i = 0; i < 8; i++) expect(rel(scaled[i]!.loss, f32[i]!.loss), `loss of step ${i}`).toBeLessThan(0.01);
    expect(scaled[7]!.loss).toBeLessThan(0.9 * scaled[0]!.loss);
  }, 120_000);

  it('an operand f16 cannot hold (|x| ≥ 65 520, Inf, NaN) turns its workgroup\'s whole 128 × 128 tile into NaN', async () => {
    await initBackend('webgpu');
    for (const bad of [70000, -65520, Infinity, NaN]) {
      const av = (await eighths(1, [200, 40]).data()) as Float32Array;
      av[5 * 40 + 3] = bad; // row 5: the first row tile
      const c = await tf.tidy(() => tf.matMul(tf.tensor2d(av, [200, 40]), eighths(2, [40, 150]))).data();
      for (const [i, j] of [[0, 0], [5, 149], [127, 127], [0, 128], [127, 149]]) expect(c[i! * 150 + j!], `${bad}: C[${i}, ${j}] (the poisoned tile)`).toBeNaN();
      // the row tile below is finite
      for (let i = 128; i < 200; i++) for (let j = 0; j < 150; j++) expect(Number.isFinite(c[i * 150 + j]!)).toBe(true);
    }
    // just below the threshold is finite (65 504, the largest f16)
    const av = (await eighths(1, [20, 40]).data()) as Float32Array;
    av[3] = 65519;
    const c = await tf.tidy(() => tf.matMul(tf.tensor2d(av, [20, 40]), eighths(2, [40, 15]))).data();
    expect(c.every((v) => Number.isFinite(v))).toBe(true);
  });
});
