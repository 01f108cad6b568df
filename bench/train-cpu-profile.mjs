#!/usr/bin/env node
/**
 * Where a train step of the `tiny` two-tower CLIP goes, per TensorFlow.js kernel (tf.profile), on one
 * backend (default native). Same model and loss as bench/train-cpu.mjs.
 *
 *   cd packages/core && npx tsup && cd ../.. && node bench/train-cpu-profile.mjs [--backend native] [--batch 64] [--warmup 2] [--top 25] [--calls 0]
 */
import { buildClip } from './train-cpu-model.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const backend = args.backend ?? 'native';
const B = Number(args.batch ?? 64);
const runtime = await import(new URL('../packages/core/dist/runtime/index.js', import.meta.url).href);
const { tf, description } = await runtime.initBackend(backend);
const m = buildClip(runtime, tf, B);
for (let i = 0; i < Number(args.warmup ?? 2); i++) await m.trainer.trainStep(m.loss);
const t0 = performance.now();
let wall = 0;
const profile = await tf.profile(async () => {
  await m.trainer.trainStep(m.loss);
  wall = performance.now() - t0;
});
const by = new Map();
for (const k of profile.kernels) {
  const e = by.get(k.name) ?? { ms: 0, calls: 0 };
  e.ms += k.kernelTimeMs;
  e.calls += 1;
  by.set(k.name, e);
}
const total = [...by.values()].reduce((s, e) => s + e.ms, 0);
console.log(`${description}; batch ${B}; one step ${wall.toFixed(0)} ms wall (profiled), kernels ${total.toFixed(0)} ms, ${profile.kernels.length} kernel calls`);
console.log('| kernel | calls | ms | % |\n|---|---|---|---|');
for (const [name, e] of [...by].sort((a, b) => b[1].ms - a[1].ms).slice(0, Number(args.top ?? 25))) {
  console.log(`| ${name} | ${e.calls} | ${e.ms.toFixed(1)} | ${((100 * e.ms) / total).toFixed(1)} |`);
}
if (args.calls) {
  console.log('\nslowest single calls:');
  for (const k of [...profile.kernels].filter((k) => k.name !== 'forward').sort((a, b) => b.kernelTimeMs - a.kernelTimeMs).slice(0, Number(args.calls))) {
    console.log(`${k.kernelTimeMs.toFixed(2).padStart(7)} ms  ${k.name} ${JSON.stringify(k.inputShapes)} → ${JSON.stringify(k.outputShapes)}`);
  }
}
process.exit(0);
