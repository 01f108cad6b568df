#!/usr/bin/env node
/**
 * Train-step throughput on CPU: omnitok (default: the `native` backend, plus any others named) and
 * PyTorch-CPU side by side, in one run, interleaved, `--repeats` times (default 3); prints every
 * measurement, the medians, the ratio of medians and the load average before/after (other processes
 * on the same cores move these numbers: compare only within one run).
 *
 *   npm run build   # or: (cd packages/native-kernels && npm run build) && (cd packages/core && npx tsup)
 *   node bench/train-cpu.mjs [--backends native,wasm] [--batch 64] [--steps 5] [--repeats 3] [--threads N]
 *                            [--grad-checkpointing 1]   (every block recomputed in the backward, both sides)
 *
 * Model: bench/train-cpu-model.mjs (the `tiny` two-tower CLIP, 1.76 M parameters) vs
 * bench/runtime-train-torch.py (same shapes; /usr/bin/python3, OPENBLAS_NUM_THREADS=1, torch 1 thread).
 * `--threads N` sets the native backend's thread count (OMNITOK_NATIVE_THREADS; default: all cores).
 */
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { buildClip } from './train-cpu-model.mjs';

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []));
const B = Number(args.batch ?? 64);
const STEPS = Number(args.steps ?? 5);
const REPEATS = Number(args.repeats ?? 3);
const backends = (args.backends ?? 'native').split(',');
if (args.threads) process.env.OMNITOK_NATIVE_THREADS = String(args.threads);
const CKPT = args['grad-checkpointing'] !== undefined && args['grad-checkpointing'] !== '0';
const runtime = await import(new URL('../packages/core/dist/runtime/index.js', import.meta.url).href);

function torchRun() {
  const script = fileURLToPath(new URL('./runtime-train-torch.py', import.meta.url));
  const r = spawnSync('/usr/bin/python3', [script, String(B), String(Math.max(STEPS, 5)), ...(CKPT ? ['ckpt'] : [])], {
    env: { ...process.env, OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1', MKL_NUM_THREADS: '1' },
    encoding: 'utf8',
  });
  if (r.status !== 0) return { error: (r.stderr || r.error?.message || 'failed').trim().split('\n').at(-1) };
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

const models = new Map();
async function omnitokRun(name) {
  const { tf, description } = await runtime.initBackend(name);
  let m = models.get(name);
  if (!m) {
    m = buildClip(runtime, tf, B, undefined, { gradCheckpointing: CKPT });
    await m.trainer.trainStep(m.loss); // warmup
    models.set(name, m);
  }
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) await m.trainer.trainStep(m.loss);
  return { samplesPerSec: (B * STEPS) / ((performance.now() - t0) / 1000), description, params: m.params };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

const available = [];
for (const name of backends) {
  const probe = await runtime.probeBackend(name);
  if (probe.available) available.push(name);
  else console.log(`${name}: unavailable (${probe.reason})`);
}
const loadBefore = load();
const results = { torch: [], ...Object.fromEntries(available.map((n) => [n, []])) };
let torchVersion = '';
let descriptions = {};
for (let r = 0; r < REPEATS; r++) {
  const t = torchRun();
  if (t.error) {
    console.log(`PyTorch unavailable: ${t.error}`);
  } else {
    torchVersion = t.torch;
    results.torch.push(t.samplesPerSec);
  }
  for (const name of available) {
    const o = await omnitokRun(name);
    descriptions[name] = o.description;
    results[name].push(o.samplesPerSec);
  }
  console.log(`repeat ${r + 1}: ${Object.entries(results).map(([k, v]) => `${k} ${v.at(-1)?.toFixed(1) ?? '-'}`).join(', ')} samples/s (load ${load()})`);
}
const torchMedian = results.torch.length ? median(results.torch) : NaN;
console.log(`\nbatch ${B}${CKPT ? ", gradient checkpointing (both sides)" : ""}, ${STEPS} steps per measurement, ${REPEATS} repeats; load average (1/5/15 min) ${loadBefore} before, ${load()} after`);
console.log('| runner | samples/s (each) | median | × PyTorch |\n|---|---|---|---|');
console.log(`| PyTorch ${torchVersion} CPU, 1 thread, OpenBLAS | ${results.torch.map((x) => x.toFixed(1)).join(', ')} | ${torchMedian.toFixed(1)} | 1.000 |`);
for (const name of available) {
  const m = median(results[name]);
  console.log(`| omnitok ${descriptions[name]} | ${results[name].map((x) => x.toFixed(1)).join(', ')} | ${m.toFixed(1)} | ${(m / torchMedian).toFixed(3)} |`);
}
process.exit(0);
