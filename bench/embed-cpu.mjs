#!/usr/bin/env node
/**
 * Pretrained-model inference on CPU: the image and text towers of a CLIP ViT-B/32 (the shapes of
 * openai/clip-vit-base-patch32, built by @omnitok/clip's hfClipModelConfig; random weights) embedding
 * batches, omnitok (default: the `native` backend) against PyTorch 1.13 on the same cores, in one run,
 * interleaved, `--repeats` times (default 3); prints every measurement, the medians and the ratios.
 * PyTorch runs with 1 thread and with every core (OpenBLAS, `torch.set_num_threads`). ONNX Runtime
 * (onnxruntime-node from bench/node_modules: the engine transformers.js runs models on in Node, fp32,
 * default graph optimizations) runs the same towers, exported once by bench/embed-cpu-onnx.py into
 * $TMPDIR/omnitok-embed-onnx (PyTorch 1.13, opset 17; same seeded weights), with 1 and every core's
 * intra-op threads. `--no-onnx` leaves it out.
 *
 *   npm run build
 *   node bench/embed-cpu.mjs [--backends native,wasm] [--batch 32] [--iters 3] [--repeats 3] [--no-onnx]
 *
 * Times the towers' forward (model.embed: eval mode, no tape), not decoding or preprocessing (see
 * bench/image-tokenizer.bench.mjs for those).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const B = Number(args.batch ?? 32);
const ITERS = Number(args.iters ?? 3);
const REPEATS = Number(args.repeats ?? 3);
const backends = (args.backends ?? 'native').split(',');
const NO_ONNX = process.argv.includes('--no-onnx');
const runtime = await import(new URL('../packages/core/dist/runtime/index.js', import.meta.url).href);
const clip = await import(new URL('../packages/clip/dist/index.js', import.meta.url).href);
const cores = availableParallelism();

function torchRun(threads) {
  const script = fileURLToPath(new URL('./embed-cpu-torch.py', import.meta.url));
  const r = spawnSync('/usr/bin/python3', [script, String(B), String(ITERS), String(threads)], {
    env: { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads), MKL_NUM_THREADS: String(threads) },
    encoding: 'utf8',
  });
  if (r.status !== 0) return { error: (r.stderr || r.error?.message || 'failed').trim().split('\n').at(-1) };
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Samples/s of `fn` (one batch of B): one warm-up, then the median of ITERS timed calls. */
async function rate(fn) {
  await fn();
  const times = [];
  for (let i = 0; i < ITERS; i++) {
    const t = performance.now();
    await fn();
    times.push((performance.now() - t) / 1000);
  }
  return B / median(times);
}

/** The towers as ONNX files (exported once; ~600 MB in the temp dir), or why not. */
function onnxModels() {
  const dir = join(tmpdir(), 'omnitok-embed-onnx');
  const paths = { vision: join(dir, 'vision.onnx'), text: join(dir, 'text.onnx') };
  if (existsSync(paths.vision) && existsSync(paths.text)) return paths;
  const script = fileURLToPath(new URL('./embed-cpu-onnx.py', import.meta.url));
  const r = spawnSync('/usr/bin/python3', [script, dir], { encoding: 'utf8' });
  if (r.status !== 0) return { error: `ONNX export failed: ${(r.stderr || r.error?.message || '').trim().split('\n').at(-1)}` };
  return paths;
}

let ort;
async function ortRun(threads) {
  if (NO_ONNX) return { error: '--no-onnx' };
  try {
    ort ??= createRequire(new URL('./package.json', import.meta.url)).call(null, 'onnxruntime-node');
  } catch (error) {
    return { error: `onnxruntime-node not installed in bench/ (${error.message.split('\n')[0]})` };
  }
  const paths = onnxModels();
  if (paths.error) return paths;
  const options = { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential' };
  const [vision, text] = [await ort.InferenceSession.create(paths.vision, options), await ort.InferenceSession.create(paths.text, options)];
  const x = new ort.Tensor('float32', Float32Array.from({ length: B * 49 * 3072 }, () => Math.random() * 2 - 1), [B, 49, 3072]);
  const ids = new ort.Tensor('int64', BigInt64Array.from({ length: B * 77 }, () => BigInt(Math.floor(Math.random() * 49408))), [B, 77]);
  const eot = new ort.Tensor('int64', new BigInt64Array(B).fill(20n), [B]);
  const out = { image: await rate(() => vision.run({ x })), text: await rate(() => text.run({ ids, eot })), description: `onnxruntime-node ${ort.env.versions?.node ?? ''}` };
  await vision.release();
  await text.release();
  return out;
}

async function omnitokRun(backend) {
  const info = await runtime.initBackend(backend);
  const { tf } = info;
  const model = clip.createClipModel(clip.hfClipModelConfig({ model_type: 'clip' })).eval();
  const img = tf.randomNormal([B, 49, 3072]);
  const ids = tf.randomUniform([B, 77], 0, 49408, 'int32');
  const mask = tf.ones([B, 77], 'int32');
  const eot = tf.fill([B], 20, 'int32');
  const out = {
    image: await rate(() => model.embed('image', img, { batchSize: B })),
    text: await rate(() => model.embed('text', { tokens: ids, mask, eotIndex: eot }, { batchSize: B })),
    description: info.description,
  };
  tf.dispose([img, ids, mask, eot]);
  model.dispose();
  return out;
}

console.log(`CLIP ViT-B/32 towers, batch ${B}, ${ITERS} timed forwards a measurement, ${REPEATS} repeats; ${cores} cores; load ${loadavg()[0].toFixed(2)}`);
const runs = new Map();
const add = (name, r) => {
  if (!runs.has(name)) runs.set(name, []);
  runs.get(name).push(r);
  console.log(`  ${name.padEnd(18)} ${r.error ? `skipped: ${r.error}` : `image ${r.image.toFixed(1)}/s  text ${r.text.toFixed(1)}/s`}${r.description ? `  (${r.description})` : ''}`);
};
for (let rep = 0; rep < REPEATS; rep++) {
  for (const b of backends) add(`omnitok ${b}`, await omnitokRun(b));
  add('pytorch 1 thread', torchRun(1));
  if (cores > 1) add(`pytorch ${cores} threads`, torchRun(cores));
  add('onnxruntime 1 thread', await ortRun(1));
  if (cores > 1) add(`onnxruntime ${cores} threads`, await ortRun(cores));
}
console.log(`medians (samples/s)  [load ${loadavg()[0].toFixed(2)}]`);
const med = new Map([...runs].filter(([, rs]) => !rs[0].error).map(([n, rs]) => [n, { image: median(rs.map((r) => r.image)), text: median(rs.map((r) => r.text)) }]));
for (const [n, m] of med) console.log(`  ${n.padEnd(18)} image ${m.image.toFixed(1)}  text ${m.text.toFixed(1)}`);
for (const b of backends) {
  const o = med.get(`omnitok ${b}`);
  for (const peer of [...med.keys()].filter((n) => n.startsWith('pytorch') || n.startsWith('onnxruntime'))) {
    const p = med.get(peer);
    if (o && p) console.log(`  omnitok ${b} / ${peer}: image ${(o.image / p.image).toFixed(2)}x  text ${(o.text / p.text).toFixed(2)}x`);
  }
}
