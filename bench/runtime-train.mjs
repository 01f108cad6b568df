#!/usr/bin/env node
/**
 * Train-step throughput of the `tiny` two-tower CLIP shape on each available @omnitok/core/runtime
 * backend, against PyTorch on CPU (bench/runtime-train-torch.py, same shapes, run in the same process
 * tree with OPENBLAS_NUM_THREADS=1 and one torch thread).
 *
 *   cd packages/core && npx tsup && cd ../.. && node bench/runtime-train.mjs [--batch 64] [--steps 3] [--backends native,cpu,wasm,webgpu]
 *
 * Model: width 128, depth 4, heads 4, mlp 4x, vision 64 continuous tokens of 48 features + CLS,
 * text 16 ids (vocab 1000, causal, EOT pooling), projection 128 (≈1.76M parameters); AdamW; the
 * softmax CLIP loss from the runtime's l2Normalize and pairedCrossEntropy (the loss library lives in another package).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildClip } from './train-cpu-model.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const B = Number(args.batch ?? 64);
const STEPS = Number(args.steps ?? 3);
const backends = (args.backends ?? 'native,tensorflow,webgpu,wasm,cpu').split(',');
const runtime = await import(new URL('../packages/core/dist/runtime/index.js', import.meta.url).href);
const { initBackend, probeBackend } = runtime;

function torchBaseline() {
  const script = fileURLToPath(new URL('./runtime-train-torch.py', import.meta.url));
  const r = spawnSync('/usr/bin/python3', [script, String(B), '10'], { env: { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1' }, encoding: 'utf8' });
  if (r.status !== 0) return { error: (r.stderr || r.error?.message || 'failed').trim().split('\n').at(-1) };
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

async function bench(name) {
  const probe = await probeBackend(name);
  if (!probe.available) return { name, skipped: probe.reason };
  const { tf, description } = await initBackend(name);
  const { trainer, loss, params: count, dispose } = buildClip(runtime, tf, B);
  await trainer.trainStep(loss); // warmup (kernel compilation, allocations)
  const tensors = tf.memory().numTensors;
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) await trainer.trainStep(loss);
  const seconds = (performance.now() - t0) / 1000;
  const leaked = tf.memory().numTensors - tensors;
  dispose();
  return { name, description, samplesPerSec: (B * STEPS) / seconds, params: count, leaked };
}

const torch = torchBaseline();
console.log(`PyTorch ${torch.torch ?? ''} CPU (1 thread, OpenBLAS): ${torch.samplesPerSec ? `${torch.samplesPerSec.toFixed(1)} samples/s, ${torch.params} params` : `unavailable (${torch.error})`}`);
for (const name of backends) {
  const r = await bench(name);
  if (r.skipped) {
    console.log(`${name.padEnd(10)} skipped: ${r.skipped}`);
    continue;
  }
  const ratio = torch.samplesPerSec ? ` = ${(r.samplesPerSec / torch.samplesPerSec).toFixed(3)}× PyTorch` : '';
  console.log(`${name.padEnd(10)} ${r.samplesPerSec.toFixed(2).padStart(8)} samples/s${ratio}  (${r.params} params, batch ${B}, ${STEPS} steps, ${r.leaked} tensors leaked; ${r.description})`);
}
process.exit(0);
