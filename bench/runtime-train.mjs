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
 * softmax CLIP loss is written inline (the loss library lives in another package).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const B = Number(args.batch ?? 64);
const STEPS = Number(args.steps ?? 3);
const backends = (args.backends ?? 'native,tensorflow,webgpu,wasm,cpu').split(',');
const runtime = await import(new URL('../packages/core/dist/runtime/index.js', import.meta.url).href);
const { initBackend, probeBackend, TransformerEncoder, AdamW, Trainer, Rng } = runtime;

const vocab = 1000;
const vision = { size: 'tiny', tokens: { kind: 'continuous', dim: 48, count: 64, grid: [8, 8] }, projectionDim: 128, gelu: 'erf' };
const text = { size: 'tiny', tokens: { kind: 'discrete', vocabSize: vocab, count: 16 }, pooling: 'eot', causal: true, projectionDim: 128, gelu: 'erf' };

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
  const rng = new Rng(0);
  const img = new TransformerEncoder(vision, rng);
  const txt = new TransformerEncoder(text, rng);
  const params = new Map([...[...img.parameters()].map(([k, v]) => [`vision.${k}`, v]), ...[...txt.parameters()].map(([k, v]) => [`text.${k}`, v])]);
  const opt = new AdamW(params, { lr: 1e-4, weightDecay: 0.1 });
  const trainer = new Trainer(params, { optimizer: opt, clipNorm: 1 });
  const data = new Rng(1);
  const x = tf.tensor(data.normals(B * 64 * 48, 1, false), [B, 64, 48]);
  const ids = tf.tensor(Int32Array.from({ length: B * 16 }, () => data.int(vocab)), [B, 16], 'int32');
  const eot = tf.fill([B], 15, 'int32');
  const labels = tf.oneHot(tf.range(0, B, 1, 'int32'), B);
  const loss = () => {
    const a0 = img.forward(x).embedding;
    const a = tf.div(a0, tf.norm(a0, 'euclidean', -1, true));
    const b0 = txt.forward(ids, { eotIndex: eot }).embedding;
    const b = tf.div(b0, tf.norm(b0, 'euclidean', -1, true));
    const logits = tf.mul(tf.matMul(a, b, false, true), 100);
    return tf.div(tf.add(tf.losses.softmaxCrossEntropy(labels, logits), tf.losses.softmaxCrossEntropy(labels, tf.transpose(logits))), 2);
  };
  await trainer.trainStep(loss); // warmup (kernel compilation, allocations)
  const tensors = tf.memory().numTensors;
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) await trainer.trainStep(loss);
  const seconds = (performance.now() - t0) / 1000;
  const leaked = tf.memory().numTensors - tensors;
  const count = img.parameterCount() + txt.parameterCount();
  img.dispose();
  txt.dispose();
  opt.dispose();
  tf.dispose([x, ids, eot, labels]);
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
