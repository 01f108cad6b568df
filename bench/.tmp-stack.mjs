import * as tf from '@tensorflow/tfjs';
import * as runtime from '../packages/core/dist/runtime/index.js';
import { buildClip, GPU_SHAPES } from './train-cpu-model.mjs';
await runtime.initBackend('webgpu');
const m = buildClip(runtime, tf, 2, GPU_SHAPES.host);
await m.trainer.trainStep(m.loss);
const eng = tf.engine();
const orig = eng.runKernel.bind(eng);
const seen = new Map();
eng.runKernel = (name, inputs, ...rest) => {
  if (process.argv.slice(2).includes(name)) {
    const st = new Error().stack.split('\n').slice(2, 9).map((l) => l.trim().replace(/\(.*\/node_modules\//, '(').replace(/\(.*\/packages\//, '(')).join('\n   ');
    const k = `${name} ${Object.values(inputs).map((t) => JSON.stringify(t.shape)).join(' ')}\n   ${st}`;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return orig(name, inputs, ...rest);
};
await m.trainer.trainStep(m.loss);
eng.runKernel = orig;
for (const [k, v] of [...seen].sort((a, b) => b[1] - a[1]).slice(0, 6)) console.log(v, k);
