#!/usr/bin/env node
/**
 * How long the host takes to queue one WebGPU training step (what bounds a step once the GPU is fast
 * enough: 75 ms for ViT-S at batch 128 on the H200 machine in run 5): GPU_SHAPES.host — the ViT-S bench
 * model's structure (two 6-deep towers, the same ops and dispatches) at width 64 with few tokens — at
 * batch 2, so that lavapipe's GPU work stays small (`--full`: the real widths, ~10 s a step); the time
 * from `trainStep` to the promise it returns (everything is queued by then), over `--steps` steps after
 * three warm-up steps, and how many queue writes, dispatches and submits a step makes. For A/B runs
 * alternate configurations in separate processes (this VM's spread is ±10 %):
 *
 *   npm run build && XDG_RUNTIME_DIR=/tmp node bench/webgpu-queue-time.mjs [--steps 40]
 *   OMNITOK_WEBGPU_UNIFORM_ARENA=0 XDG_RUNTIME_DIR=/tmp node bench/webgpu-queue-time.mjs
 */
import * as runtime from '../packages/core/dist/runtime/index.js';
import { opt, startWebgpu } from './gpu-common.mjs';
import { buildClip, hostBenchShape } from './train-cpu-model.mjs';

const STEPS = Number(opt('steps', 40));
const { tf } = await startWebgpu(true);
const m = buildClip(runtime, tf, 2, hostBenchShape());
for (let i = 0; i < 3; i++) await m.trainer.trainStep(m.loss);

const backend = tf.backend();
const counts = { writes: 0, submits: 0 };
const queue = backend.queue;
const write = queue.writeBuffer.bind(queue);
queue.writeBuffer = (...args) => {
  counts.writes++;
  return write(...args);
};
const submit = queue.submit.bind(queue);
queue.submit = (...args) => {
  counts.submits++;
  return submit(...args);
};
const dispatches0 = backend.dispatchCountInTotal ?? 0;
const ms = [];
let pending;
for (let i = 0; i < STEPS; i++) {
  await pending;
  const t0 = performance.now();
  pending = m.trainer.trainStep(m.loss);
  ms.push(performance.now() - t0);
}
await pending;
ms.sort((a, b) => a - b);
const per = (n) => (n / STEPS).toFixed(0);
console.log(`queue ms per step: median ${ms[ms.length >> 1].toFixed(1)}, min ${ms[0].toFixed(1)} (${STEPS} steps; OMNITOK_WEBGPU_UNIFORM_ARENA=${process.env.OMNITOK_WEBGPU_UNIFORM_ARENA ?? 'unset'})`);
console.log(`per step: ${per(counts.writes)} queue writes, ${per(counts.submits)} submits${backend.dispatchCountInTotal !== undefined ? `, ${per(backend.dispatchCountInTotal - dispatches0)} dispatches` : ''}`);
process.exit(0);
