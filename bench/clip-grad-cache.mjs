// One optimizer step of an image–text CLIP model (both towers: the runtime's `tiny` size, width 128,
// depth 4) at large effective batches with gradient caching, on one backend.
//
//   cd packages/core && npx tsup && cd ../clip && npx tsup && cd ../..
//   node bench/clip-grad-cache.mjs [--backend wasm] [--sizes 256,1024,8192,32768] [--chunk 256] [--plain]
//
// Prints, per effective batch: seconds for the step, ms per sample, peak tensor bytes inside the step
// (tf.profile), process peak RSS so far, and the loss. --plain adds the same step without the cache
// (all activations taped at once) for comparison. Inputs: 16 image patch tokens of 192 values and
// 16 text ids (vocab 1000) per sample; the embeddings are 128 wide; loss chunk 1024 rows.
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../packages/core/dist/runtime/index.js';
import { createClipModel, createTrainer } from '../packages/clip/dist/index.js';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const backend = arg('backend', 'wasm');
const sizes = arg('sizes', '1024,8192,32768').split(',').map(Number);
const chunk = Number(arg('chunk', 256));
const plain = process.argv.includes('--plain');

const info = await initBackend(backend);
console.log(`backend: ${info.description}; node ${process.version}; grad-cache chunk ${chunk}`);

const model = createClipModel({
  towers: {
    image: { size: 'tiny', pooling: 'mean', tokens: { kind: 'continuous', dim: 192, count: 16, grid: [4, 4] } },
    text: { size: 'tiny', pooling: 'mean', tokens: { kind: 'discrete', vocabSize: 1000, count: 16 } },
  },
  embedDim: 128,
  seed: 0,
});
console.log(`parameters: ${model.parameterCount().toLocaleString('en')}`);
const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;

async function run(n, gradCache) {
  const trainer = createTrainer({ model, gradCache: gradCache ? { chunkSize: chunk } : false, lossChunkSize: 1024 });
  const batch = { image: tf.randomNormal([n, 16, 192], 0, 1, 'float32', 1), text: tf.randomUniform([n, 16], 0, 1000, 'int32', 2) };
  const before = tf.memory().numBytes;
  let stats;
  const t0 = performance.now();
  const prof = await tf.profile(async () => {
    stats = await trainer.step(batch);
  });
  const seconds = (performance.now() - t0) / 1000;
  const rssPeak = process.resourceUsage().maxRSS * 1024;
  console.log(
    `${gradCache ? 'grad cache' : 'plain     '} batch ${String(n).padStart(6)}: ${seconds.toFixed(1)} s/step, ${((seconds * 1000) / n).toFixed(2)} ms/sample, ` +
      `peak tensors ${mib(prof.peakBytes)} (inputs ${mib(before)}), process peak RSS ${mib(rssPeak)}, loss ${stats.loss.toFixed(4)} (ln n = ${Math.log(n).toFixed(4)})`,
  );
  tf.dispose(Object.values(batch));
  trainer.dispose();
}

if (plain) await run(sizes[0], false);
for (const n of sizes) await run(n, true);
