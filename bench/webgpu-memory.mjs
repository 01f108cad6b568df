#!/usr/bin/env node
/**
 * GPU memory of one training step on WebGPU, counted in TensorFlow.js' buffer pool (what the device
 * holds: the pool keeps every freed buffer for reuse, per exact byte size): the pool after the step, the
 * step's own peak of bytes in use above what was held before it, and the largest pool entries the peak
 * did not need (the waste of per-size pooling). The counts do not depend on the GPU, so lavapipe gives
 * the H100's figures for the same shapes — at small batches; two batches give the per-sample slope.
 *
 *   npm run build
 *   node bench/webgpu-memory.mjs --shape b16 --batch 4 [--grad-checkpointing]    # then --batch 8
 *
 * Options: --shape s|b16 (the models of bench/train-gpu.mjs; --depth N overrides), --batch N,
 * --vocab N (default 32000: lavapipe binds at most 128 MiB per buffer, less than the 49 408 × 768
 * embedding; the vocabulary only changes the parameters' share), --grad-checkpointing.
 * Prints one JSON line ({ batch, allocatedMiB, stepPeakMiB, heldMiB, … }) and the table of pool entries.
 */
import * as runtime from '../packages/core/dist/runtime/index.js';
import { flag, log, opt, startWebgpu } from './gpu-common.mjs';
import { buildClip, GPU_SHAPES } from './train-cpu-model.mjs';

const B = Number(opt('batch', 4));
const SHAPE_NAME = opt('shape', 'b16');
const vocab = Number(opt('vocab', 32000));
if (SHAPE_NAME !== 's' && SHAPE_NAME !== 'b16') throw new Error(`--shape must be s or b16; got ${SHAPE_NAME}`);
const shape = { ...GPU_SHAPES[SHAPE_NAME], vocab, depth: Number(opt('depth', GPU_SHAPES[SHAPE_NAME].depth)) };
const gradCheckpointing = flag('grad-checkpointing');

async function main() {
  const { tf } = await startWebgpu(true);
  const m = buildClip(runtime, tf, B, shape, { gradCheckpointing });
  await m.trainer.trainStep(m.loss); // first step: the optimizer's moments, every pipeline
  const pool = tf.backend().bufferManager;
  const key = (size, usage) => `${size}_${usage}`;
  const live = new Map();
  const peakCount = new Map();
  let used = 0;
  let peak = 0;
  let atPeak = new Map();
  const { acquireBuffer, releaseBuffer } = pool;
  pool.acquireBuffer = function (size, usage, ...rest) {
    const k = key(size, usage);
    const n = (live.get(k) ?? 0) + 1;
    live.set(k, n);
    peakCount.set(k, Math.max(peakCount.get(k) ?? 0, n));
    used += size;
    if (used > peak) {
      peak = used;
      atPeak = new Map(live);
    }
    return acquireBuffer.call(this, size, usage, ...rest);
  };
  pool.releaseBuffer = function (buffer, ...rest) {
    const k = key(buffer.size, buffer.usage);
    live.set(k, (live.get(k) ?? 0) - 1);
    used -= buffer.size;
    return releaseBuffer.call(this, buffer, ...rest);
  };
  await m.trainer.trainStep(m.loss);
  pool.acquireBuffer = acquireBuffer;
  pool.releaseBuffer = releaseBuffer;
  const MiB = 2 ** 20;
  const rows = [...peakCount].map(([k, n]) => {
    const size = Number(k.split('_')[0]);
    return { key: k, peakCount: n, atStepPeak: atPeak.get(k) ?? 0, poolMiB: (n * size) / MiB, idleAtPeakMiB: ((n - (atPeak.get(k) ?? 0)) * size) / MiB };
  });
  rows.sort((a, b) => b[flag('by-pool') ? 'poolMiB' : 'idleAtPeakMiB'] - a[flag('by-pool') ? 'poolMiB' : 'idleAtPeakMiB']);
  log(JSON.stringify({ shape: SHAPE_NAME, depth: shape.depth, vocab, batch: B, gradCheckpointing, allocatedMiB: pool.numBytesAllocated / MiB, stepPeakMiB: peak / MiB, heldMiB: pool.numBytesUsed / MiB, stepPoolMiB: rows.reduce((s, r) => s + r.poolMiB, 0) }));
  log('| buffer (bytes_usage) | most at once | at the step peak | pool MiB | idle at the peak MiB |\n|---|---|---|---|---|');
  for (const r of rows.slice(0, Number(opt('rows', 15)))) log(`| ${r.key} | ${r.peakCount} | ${r.atStepPeak} | ${r.poolMiB.toFixed(1)} | ${r.idleAtPeakMiB.toFixed(1)} |`);
  m.dispose();
}

main();
