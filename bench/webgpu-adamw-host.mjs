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
const { tf } = await startWebgpu(true);
const { TransformerEncoder, AdamW, Rng } = runtime;
const common = { size: 'custom', width: 384, depth: 6, heads: 6, mlpRatio: 4, projectionDim: 384 };
const rng = new Rng(0);
const img = new TransformerEncoder({ ...common, tokens: { kind: 'continuous', dim: 768, count: 196, grid: [14, 14] } }, rng);
const txt = new TransformerEncoder({ ...common, tokens: { kind: 'discrete', vocabSize: 1000, count: 32 }, pooling: 'eot', causal: true }, rng);
const params = new Map([...[...img.parameters()].map(([k, v]) => [`v.${k}`, v]), ...[...txt.parameters()].map(([k, v]) => [`t.${k}`, v])]);
const opt = new AdamW(params, { lr: 1e-4, weightDecay: 0.1 });
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
