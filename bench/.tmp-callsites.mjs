import * as tf from '@tensorflow/tfjs';
import * as runtime from '../packages/core/dist/runtime/index.js';
import { buildClip, GPU_SHAPES } from './train-cpu-model.mjs';
await runtime.initBackend('webgpu');
const m = buildClip(runtime, tf, 2, GPU_SHAPES.host);
await m.trainer.trainStep(m.loss); await m.trainer.trainStep(m.loss);
const eng = tf.engine();
const orig = eng.runKernel.bind(eng);
const counts = new Map();
const want = new Set(process.argv.slice(2));
eng.runKernel = (name, ...rest) => {
  if (want.has(name)) {
    const st = new Error().stack.split('\n').slice(2).filter((l) => !l.includes('tfjs') && !l.includes('node:')).slice(0, 3).map((l) => l.trim().replace(/\(.*\/(packages|bench)\//, '($1/')).join(' < ');
    const k = `${name} @ ${st}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return orig(name, ...rest);
};
await m.trainer.trainStep(m.loss);
eng.runKernel = orig;
for (const [k, v] of [...counts].sort((a, b) => b[1] - a[1])) console.log(v, k);
