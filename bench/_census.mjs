import * as runtime from '../packages/core/dist/runtime/index.js';
import { startWebgpu } from './gpu-common.mjs';
import { buildClip } from './train-cpu-model.mjs';
const SHAPE = { width: 384, depth: 6, heads: 6, imageTokens: 196, grid: [14, 14], features: 768, textTokens: 32, vocab: 49408, proj: 384 };
const B = Number(process.argv[2] ?? 2);
const info = await startWebgpu(true);
const tf = info.tf;
const m = buildClip(runtime, tf, B, SHAPE);
await m.trainer.trainStep(m.loss);
const backend = tf.backend();
const manager = backend.bufferManager;
const acquire = manager.acquireBuffer;
let peak = 0, snapshot = null;
manager.acquireBuffer = function (...a) {
  const buf = acquire.apply(this, a);
  if (this.numBytesUsed > peak) {
    peak = this.numBytesUsed;
    const groups = new Map();
    for (const [key, list] of this.usedBuffers) {
      if (!list.length) continue;
      const size = list[0].size;
      const g = groups.get(size) ?? { n: 0, bytes: 0, key };
      g.n += list.length; g.bytes += size * list.length;
      groups.set(size, g);
    }
    snapshot = { peak, groups, stack: new Error().stack.split('\n').slice(2, 9).join('\n') };
  }
  return buf;
};
await m.trainer.trainStep(m.loss);
manager.acquireBuffer = acquire;
console.log('peak MiB', (peak / 2 ** 20).toFixed(1));
console.log(snapshot.stack);
const rows = [...snapshot.groups].sort((a, b) => b[1].bytes - a[1].bytes);
let total = 0; for (const [, g] of rows) total += g.bytes;
console.log('live tensors MiB', (total / 2 ** 20).toFixed(1));
for (const [k, g] of rows.slice(0, 30)) console.log(String(k / 4).padStart(12), 'floats', String(g.n).padStart(4), (g.bytes / 2 ** 20).toFixed(2).padStart(9), 'MiB');
process.exit(0);
