import * as runtime from '../packages/core/dist/runtime/index.js';
import { startWebgpu } from './gpu-common.mjs';
import { buildClip, GPU_SHAPES } from './train-cpu-model.mjs';
const { tf } = await startWebgpu(true);
const m = buildClip(runtime, tf, 2, { ...GPU_SHAPES.s, vocab: 1000 });
for (let i = 0; i < 2; i++) await m.trainer.trainStep(m.loss);
const engine = tf.engine();
const orig = engine.runKernel.bind(engine);
const counts = new Map(); const sites = new Map();
engine.runKernel = (name, inputs, attrs) => {
  counts.set(name, (counts.get(name) ?? 0) + 1);
  if (name === process.argv[2]) {
    const st = new Error().stack.split('\n').slice(2, 9).map((l) => l.trim().replace(/\(.*\/(.*?):(\d+):\d+\)/, '$1:$2')).join(' < ');
    sites.set(st, (sites.get(st) ?? 0) + 1);
  }
  return orig(name, inputs, attrs);
};
await m.trainer.trainStep(m.loss);
console.log([...counts].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', '));
for (const [s, n] of [...sites].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(n, s);
process.exit(0);
