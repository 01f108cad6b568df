#!/usr/bin/env node
/**
 * Host time to queue one AdamW update of the ViT-S-like bench model's 156 parameters on WebGPU (the
 * device step's `applyGuarded`, gradients and guard fixed; each update drained before the next is
 * timed). OMNITOK_WEBGPU_ADAMW_GROUP=1 updates one parameter a dispatch, as before parameters were
 * grouped; the default groups as many as the device's storage buffers allow (lavapipe: 3).
 *
 *   npm run build && node bench/webgpu-adamw-host.mjs            # then OMNITOK_WEBGPU_ADAMW_GROUP=1
 */
import * as runtime from '../packages/core/dist/runtime/index.js';
import { startWebgpu } from './gpu-common.mjs';
import { buildClip, GPU_SHAPES } from './train-cpu-model.mjs';
const { tf } = await startWebgpu(true);
// the ViT-S bench model (a 1 000-word vocabulary: the parameters are the same 156)
const { trainer } = buildClip(runtime, tf, 2, { ...GPU_SHAPES.s, vocab: 1000 });
const { params } = trainer;
const opt = trainer.options.optimizer;
const grads = new Map([...params].map(([k, v]) => [k, tf.onesLike(v).mul(1e-3)]));
const guard = tf.tensor1d([1, 1]);
const times = [];
for (let i = 0; i < 40; i++) {
  const t0 = performance.now();
  opt.applyGuarded(grads, 1e-4, guard);
  times.push(performance.now() - t0);
  await guard.data(); // drain
}
const s = times.slice(5).sort((a, b) => a - b);
console.log(`group ${runtime.webgpuAdamWGroupSize()}: ${params.size} parameters, host ms per update: median ${s[Math.floor(s.length / 2)].toFixed(2)}, min ${s[0].toFixed(2)}`);
process.exit(0);
