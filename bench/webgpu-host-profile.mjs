#!/usr/bin/env node
/**
 * Where the host time of a WebGPU training step goes: the ViT-S bench model's structure (GPU_SHAPES.host;
 * `--full`: GPU_SHAPES.s with a 1 000-word vocabulary) at batch 2 on the webgpu backend, 12 steps under V8's sampling profiler, counting only
 * the samples taken while a step is being queued (trainStep up to its one read-back), so the wait for
 * the GPU (lavapipe's threads here) is left out. Prints the queue time and the self / inclusive shares
 * of the functions, and which JS functions the native (Dawn) time is spent under.
 *
 *   npm run build && XDG_RUNTIME_DIR=/tmp node bench/webgpu-host-profile.mjs
 *
 * Measured here (2-core VM, lavapipe), GPU_SHAPES.s before the uniform arena: ~950 dispatches queue in
 * 56–99 ms; Dawn calls ≈ 18 % (submit 5 %, setPipeline/setBindGroup/dispatch 6 %, uniform writes 4 %),
 * TensorFlow.js' engine per-op bookkeeping most of the rest. GPU_SHAPES.host with the arena (783
 * dispatches, 53 uniform writes): 37–56 ms; Dawn's calls under recordAndSubmit ≈ 21 %, the garbage
 * collector 11–13 %, makeShaderKey 2 %, the bind-group cache's key 4 %; Dawn's skip_validation toggle
 * changes nothing (three alternating runs) — per-dispatch overhead, which only fewer dispatches reduce.
 */
import { Session } from 'node:inspector/promises';
import * as runtime from '../packages/core/dist/runtime/index.js';
import { startWebgpu } from './gpu-common.mjs';
import { buildClip, hostBenchShape } from './train-cpu-model.mjs';

const { tf } = await startWebgpu(true);
const m = buildClip(runtime, tf, 2, hostBenchShape());
for (let i = 0; i < 3; i++) await m.trainer.trainStep(m.loss); // compile every pipeline, grow the pool

const session = new Session();
session.connect();
await session.post('Profiler.enable');
await session.post('Profiler.setSamplingInterval', { interval: 100 }); // µs
await session.post('Profiler.start');
const windows = []; // [start, end] of each step's queueing, µs on V8's clock (CLOCK_MONOTONIC, as hrtime)
const queueMs = [];
for (let i = 0; i < 12; i++) {
  const t0 = process.hrtime.bigint();
  const pending = m.trainer.trainStep(m.loss);
  const t1 = process.hrtime.bigint();
  windows.push([Number(t0 / 1000n), Number(t1 / 1000n)]);
  queueMs.push(Number(t1 - t0) / 1e6);
  await pending;
}
const { profile } = await session.post('Profiler.stop');
queueMs.sort((a, b) => a - b);
console.log(`queue ms per step: median ${queueMs[6].toFixed(1)}, min ${queueMs[0].toFixed(1)}`);

const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const name = (n) => `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').at(-1)}:${n.callFrame.lineNumber}`;
const self = new Map();
const inclusive = new Map();
const nativeUnder = new Map(); // native frames (Dawn) by the JS function that called them
let counted = 0;
let t = profile.startTime;
for (let i = 0; i < profile.samples.length; i++) {
  t += profile.timeDeltas[i];
  if (!windows.some(([a, b]) => t >= a && t <= b)) continue;
  counted++;
  const node = byId.get(profile.samples[i]);
  self.set(name(node), (self.get(name(node)) ?? 0) + 1);
  if (!node.callFrame.url && !node.callFrame.functionName) {
    const caller = name(byId.get(parent.get(node.id)));
    nativeUnder.set(caller, (nativeUnder.get(caller) ?? 0) + 1);
  }
  const seen = new Set();
  for (let id = node.id; id !== undefined; id = parent.get(id)) {
    const k = name(byId.get(id));
    if (!seen.has(k)) inclusive.set(k, (inclusive.get(k) ?? 0) + 1);
    seen.add(k);
  }
}
const top = (map, n) =>
  [...map]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${((100 * v) / counted).toFixed(1).padStart(5)}% ${k}`)
    .join('\n');
console.log(`${counted} samples while queueing`);
console.log(`--- self\n${top(self, 40)}`);
console.log(`--- native (Dawn) time, by caller\n${top(nativeUnder, 15)}`);
console.log(`--- inclusive\n${top(inclusive, Number(process.env.PROFILE_TOP ?? 70))}`);
process.exit(0);
