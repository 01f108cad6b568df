#!/usr/bin/env node
/**
 * Train-step throughput on WebGPU (issue 12): a ViT-S-like two-tower CLIP (width 384, depth 6, heads 6,
 * mlp 4×, 196 continuous image tokens of 768 features + CLS, 32 text ids, causal + EOT pooling,
 * projection 384, batch 128, AdamW, clip-norm 1, fp32) on the `webgpu` backend, with TensorFlow.js'
 * own kernels ("before", OMNITOK_WEBGPU_KERNELS=0) and with omnitok's WGSL kernels ("after",
 * packages/core/src/runtime/kernels/webgpu), then PyTorch (CUDA, fp32, TF32 off) on the same shapes
 * when `torch` with CUDA is importable (bench/train-gpu-torch.py), else it says it was skipped.
 *
 * Per configuration it prints: samples/s (median of --repeats timings of --steps steps), then for one
 * profiled step the GPU dispatches (WebGPU programs run), queue submits and host↔device reads, and
 * the per-kernel GPU time from timestamp queries (when the adapter has `timestamp-query`; else n/a).
 *
 *   npm run build                                   # the runtime's dist (this imports it)
 *   node bench/train-gpu.mjs --smoke                # tiny shapes, here on lavapipe: proves it runs
 *   bash ../shared/tools/gpu-bundle.sh bench/train-gpu.mjs   # → .gpu/train-gpu.cjs for the GPU machine
 *   bash .gpu/enter.sh node .gpu/train-gpu.cjs [--out $OUT/train-gpu.txt]      (device tool, carry [".gpu"])
 *
 * Options: --shape s|b16 --batch N --steps N --repeats N --before-steps N --before-repeats N
 *          --torch-steps N --torch-bf16 --torch-fp16 --grad-checkpointing --smoke --only before|after --no-torch
 *          --no-profile --trainer runtime|clip --no-pipeline --out FILE.
 * --trainer clip trains the same shapes through @omnitok/clip's createTrainer (what `omnitok train`
 * runs: learnable, clamped logit scale; per-pair losses and logit scales reported each step) instead of
 * the runtime's Trainer on an inline loss.
 * --grad-checkpointing recomputes every transformer block in the backward, in omnitok and in PyTorch
 * (torch.utils.checkpoint, non-reentrant), keeping one [B, N, D] tensor per block.
 * With OMNITOK_WEBGPU_MATMUL=f16 (or f16-emulated) the "after" GEMMs take f16 operands with f32
 * accumulation (the line "GEMMs:" says whether that came on, or why not) and the Trainer a dynamic loss
 * scale; --torch-fp16 then measures PyTorch's peer recipe (fp16 autocast + GradScaler).
 * Exits non-zero when the webgpu backend did not start (TensorFlow.js would silently use cpu).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as runtime from '../packages/core/dist/runtime/index.js';
import { flag, log, opt, startWebgpu } from './gpu-common.mjs';
import * as clip from '../packages/clip/dist/index.js';
import { buildClip, buildClipTrainer, GPU_SHAPES } from './train-cpu-model.mjs';

const SMOKE = flag('smoke');
const SHAPES = GPU_SHAPES;
const SHAPE_NAME = SMOKE ? 'smoke' : opt('shape', 's');
const SHAPE = SHAPES[SHAPE_NAME];
if (!SHAPE) throw new Error(`--shape must be one of ${Object.keys(SHAPES).join(', ')}; got ${SHAPE_NAME}`);
const B = Number(opt('batch', SMOKE ? 4 : SHAPE_NAME === 'b16' ? 256 : 128));
const STEPS = Number(opt('steps', SMOKE ? 2 : 10));
const REPEATS = Number(opt('repeats', SMOKE ? 1 : 3));
// TensorFlow.js' own kernels are ~100x slower: fewer timed steps keep the "before" inside a device lease
const BEFORE_STEPS = Number(opt('before-steps', SMOKE ? 2 : 3));
const BEFORE_REPEATS = Number(opt('before-repeats', 1));
const TORCH_STEPS = Number(opt('torch-steps', SMOKE ? 2 : 50));
const ONLY = opt('only', '');
// recompute every block in the backward (both runners): what lets ViT-B/16 at batch 256 fit an 80 GB card
const GRAD_CHECKPOINTING = flag('grad-checkpointing');
// --trainer clip: the same shapes through @omnitok/clip's createTrainer, the path `omnitok train` takes
const TRAINER = opt('trainer', 'runtime');
// The timed loop queues step n + 1 before it reads step n's loss (one step in flight, as PyTorch's loop
// runs ahead of the GPU, and as `omnitok train` runs on webgpu): both trainers take it, their device step
// guards chained so that a step queued behind a non-finite one is not applied either. --no-pipeline:
// each step read before the next is queued (the GPU idles in between: 14–24 ms a ViT-S step in run 5)
const PIPELINE = !flag('no-pipeline');
if (TRAINER !== 'runtime' && TRAINER !== 'clip') throw new Error(`--trainer must be runtime or clip; got ${TRAINER}`);
/** Wraps the webgpu backend to count dispatches, submits and reads during `fn`. */
async function counted(tf, fn) {
  const backend = tf.backend();
  const counts = { dispatches: 0, submits: 0, reads: 0, syncReads: 0 };
  const byProgram = new Map();
  const orig = { run: backend.runWebGPUProgram, read: backend.read, readSync: backend.readSync, submit: backend.device.queue.submit };
  backend.runWebGPUProgram = function (program, ...rest) {
    counts.dispatches++;
    const key = (program.shaderKey ?? program.constructor?.name ?? '?').split('_')[0];
    byProgram.set(key, (byProgram.get(key) ?? 0) + 1);
    return orig.run.call(this, program, ...rest);
  };
  backend.read = function (...a) {
    counts.reads++;
    return orig.read.apply(this, a);
  };
  backend.readSync = function (...a) {
    counts.syncReads++;
    return orig.readSync.apply(this, a);
  };
  const queue = backend.device.queue;
  queue.submit = function (...a) {
    counts.submits++;
    return orig.submit.apply(this, a);
  };
  const direct = runtime.webgpuDirectDispatches?.() ?? 0;
  const manager = backend.bufferManager;
  const acquire = manager?.acquireBuffer;
  let peakBytesUsed = manager?.numBytesUsed ?? NaN;
  if (acquire) {
    manager.acquireBuffer = function (...a) {
      const buffer = acquire.apply(this, a);
      peakBytesUsed = Math.max(peakBytesUsed, this.numBytesUsed);
      return buffer;
    };
  }
  try {
    await fn();
  } finally {
    if (acquire) manager.acquireBuffer = acquire;
    // dispatches recorded without runWebGPUProgram (the one-dispatch AdamW)
    const extra = (runtime.webgpuDirectDispatches?.() ?? 0) - direct;
    if (extra > 0) {
      counts.dispatches += extra;
      byProgram.set('omnitokAdamWOneDispatch', extra);
    }
    backend.runWebGPUProgram = orig.run;
    backend.read = orig.read;
    backend.readSync = orig.readSync;
    queue.submit = orig.submit;
  }
  return { counts, byProgram, peakBytesUsed };
}

/**
 * Runs `fn` with omnitok's programs (plain objects, whose constructor tfjs reports as "Object") named by
 * their shader key in tfjs' per-dispatch profile info.
 */
async function namingPrograms(tf, fn) {
  const backend = tf.backend();
  const run = backend.runWebGPUProgram;
  backend.runWebGPUProgram = function (program, ...rest) {
    if (program.constructor === Object && program.shaderKey) Object.defineProperty(program, 'constructor', { value: { name: program.shaderKey }, configurable: true });
    return run.call(this, program, ...rest);
  };
  try {
    return await fn();
  } finally {
    backend.runWebGPUProgram = run;
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function measure(kernels) {
  const info = await startWebgpu(kernels);
  const tf = info.tf;
  const label = kernels ? 'after (omnitok WGSL kernels)' : 'before (TensorFlow.js webgpu kernels)';
  const precision = runtime.webgpuMatmulPrecision();
  if (kernels) log(`GEMMs: ${precision.precision}${precision.unit ? ` (${precision.unit})` : ''}${precision.reason ? ` — ${precision.reason}` : ''}`);
  if (kernels) log(`AdamW: ${runtime.webgpuAdamWGroupSize?.() ?? 1} parameter(s) a dispatch (the device grants ${tf.backend().device?.limits?.maxStorageBuffersPerShaderStage ?? '?'} storage buffers a stage)`);
  const m =
    TRAINER === 'clip'
      ? buildClipTrainer(clip, runtime, tf, B, SHAPE, { gradCheckpointing: GRAD_CHECKPOINTING })
      : buildClip(runtime, tf, B, SHAPE, { lossScale: kernels && precision.precision !== 'f32' ? 'dynamic' : undefined, gradCheckpointing: GRAD_CHECKPOINTING });
  const tc = performance.now();
  const first = await m.trainer.trainStep(m.loss); // warmup: compiles every pipeline
  log(`\n## ${label}: first step (pipeline compilation) ${((performance.now() - tc) / 1000).toFixed(1)} s`);
  await m.trainer.trainStep(m.loss);
  const steps = kernels ? STEPS : BEFORE_STEPS;
  const repeats = kernels ? REPEATS : BEFORE_REPEATS;
  const rates = [];
  let skipped = 0;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    let last;
    let inFlight;
    for (let i = 0; i < steps; i++) {
      if (!PIPELINE) last = await m.trainer.trainStep(m.loss);
      else {
        // the next step is queued before the previous one's results are read (the host runs a step ahead)
        const next = m.trainer.trainStep(m.loss);
        if (inFlight) last = await inFlight;
        inFlight = next;
      }
      if (last?.skipped) skipped++;
    }
    if (inFlight) last = await inFlight;
    rates.push((B * steps) / ((performance.now() - t0) / 1000));
    log(`  repeat ${r + 1}: ${rates.at(-1).toFixed(1)} samples/s`);
    if (!Number.isFinite(last.loss)) throw new Error(`${label}: non-finite loss`);
  }
  // host time to queue a whole step (trainStep runs synchronously up to its one read-back) against
  // the step's wall time: the rest is the wait for the GPU
  const enqueue = [];
  const wall = [];
  for (let i = 0; i < 9; i++) {
    const t0 = performance.now();
    const pending = m.trainer.trainStep(m.loss);
    const t1 = performance.now();
    await pending;
    enqueue.push(t1 - t0);
    wall.push(performance.now() - t0);
  }
  const [enqueueMs, stepMs] = [median(enqueue), median(wall)]; // medians of 9 steps
  const mem = tf.memory();
  log(`host: ${enqueueMs.toFixed(1)} ms to queue a step of ${stepMs.toFixed(1)} ms; GPU memory ${(mem.numBytesInGPU / 2 ** 30).toFixed(2)} GiB in tensors, ${((mem.numBytesAllocatedInGPU ?? NaN) / 2 ** 30).toFixed(2)} GiB allocated`);
  const bg = runtime.webgpuBindGroupCacheStats?.();
  if (bg) log(`bind groups (cached, OMNITOK_WEBGPU_BIND_GROUP_CACHE=0 turns it off): ${bg.hits} hits, ${bg.misses} created, ${bg.size} kept`);
  // one counted step, then one profiled step (per-kernel GPU time with timestamp queries)
  const { counts, byProgram, peakBytesUsed } = await counted(tf, () => m.trainer.trainStep(m.loss));
  // what a step needs at its peak against what tfjs' buffer pool holds (freed buffers are kept per exact size)
  log(`GPU memory: ${(peakBytesUsed / 2 ** 30).toFixed(2)} GiB in use at the peak of a step, ${((tf.memory().numBytesAllocatedInGPU ?? NaN) / 2 ** 30).toFixed(2)} GiB allocated after it`);
  const timestamps = tf.env().getBool('WEBGPU_USE_PROFILE_TOOL') || tf.backend().device.features?.has?.('timestamp-query');
  const tp = performance.now();
  const profile = flag('no-profile') ? { kernels: [] } : await namingPrograms(tf, () => tf.profile(() => m.trainer.trainStep(m.loss)));
  const profiledWallMs = performance.now() - tp;
  const perKernel = new Map();
  const perProgram = new Map();
  for (const k of profile.kernels) {
    const e = perKernel.get(k.name) ?? { calls: 0, ms: 0, timed: true };
    e.calls++;
    const t = await k.kernelTimeMs;
    if (typeof t === 'number') e.ms += t;
    else e.timed = false;
    perKernel.set(k.name, e);
    // tfjs' extra profile info: "program: ms, program: ms" for each dispatch of the kernel
    for (const part of String((await k.extraInfo) ?? '').split(', ')) {
      const at = part.lastIndexOf(': ');
      const ms = Number(part.slice(at + 2));
      if (at < 0 || !Number.isFinite(ms)) continue;
      const key = `${k.name} › ${part.slice(0, at)}`;
      const p = perProgram.get(key) ?? { calls: 0, ms: 0 };
      p.calls++;
      p.ms += ms;
      perProgram.set(key, p);
    }
  }
  const last = await m.trainer.trainStep(m.loss);
  log(`${label} summary:`);
  log(`${info.description}; ${m.params.toLocaleString('en-US')} parameters; batch ${B}; loss ${first.loss.toFixed(4)} → ${last.loss.toFixed(4)}`);
  log(`samples/s: ${rates.map((x) => x.toFixed(1)).join(', ')} (median ${median(rates).toFixed(1)}; ${steps} steps each)`);
  if (m.trainer.lossScale !== 1) log(`dynamic loss scale: ${m.trainer.lossScale} now; ${skipped} of the ${steps * repeats} timed steps skipped (overflow)`);
  log(`per step: ${counts.dispatches} GPU dispatches, ${counts.submits} queue submits, ${counts.reads} async reads (host←device syncs), ${counts.syncReads} sync reads`);
  log(`dispatches by program: ${[...byProgram].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const rows = [...perKernel].sort((a, b) => b[1].ms - a[1].ms);
  const gpuMs = rows.reduce((acc, [, e]) => acc + e.ms, 0);
  // GPU busy time against the step's wall time: how much of a step is the host (JS, dispatch) rather than the GPU
  log(`step wall ${(1000 * B / median(rates)).toFixed(1)} ms (timed), profiled step ${profiledWallMs.toFixed(1)} ms wall, ${gpuMs.toFixed(1)} ms summed GPU kernel time`);
  log(`per-kernel GPU time (one profiled step${timestamps ? ', timestamp-query' : '; no timestamp-query on this adapter: n/a'}):`);
  log('| kernel | calls | GPU ms |\n|---|---|---|');
  for (const [name, e] of rows.slice(0, 25)) log(`| ${name} | ${e.calls} | ${e.timed && timestamps ? e.ms.toFixed(3) : 'n/a'} |`);
  if (timestamps && perProgram.size) {
    // the dispatches inside each kernel (an attention backward is 8 programs): where its time goes
    log('per-program GPU time (kernel › program shader key; the same profiled step):');
    log('| kernel › program | dispatches | GPU ms |\n|---|---|---|');
    for (const [name, e] of [...perProgram].sort((a, b) => b[1].ms - a[1].ms).slice(0, 30)) log(`| ${name} | ${e.calls} | ${e.ms.toFixed(3)} |`);
  }
  if (kernels) await timeAdamW(tf, m.trainer);
  m.dispose();
  return median(rates);
}

/**
 * The AdamW update's time, which the per-kernel table misses (its grouped dispatch is recorded straight
 * into tfjs' compute pass, outside tf.profile): 20 updates back to back, then one read-back; wall time
 * per update is the GPU's when it exceeds the host's time to queue one.
 */
async function timeAdamW(tf, trainer) {
  const opt = trainer.options.optimizer;
  if (!opt.canApplyGuarded?.()) return;
  const grads = new Map([...trainer.params].map(([k, v]) => [k, tf.mul(tf.onesLike(v), 1e-3)]));
  const guard = tf.tensor1d([1, 1]); // norm 1, scale 1: every update is applied
  try {
    await guard.data();
    const cache0 = { ...(runtime.webgpuBindGroupCacheStats?.() ?? {}) };
    let hostMs = 0;
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) {
      const h0 = performance.now();
      opt.applyGuarded(grads, 1e-6, guard);
      hostMs += performance.now() - h0;
    }
    await guard.data(); // after every queued update
    const wallMs = (performance.now() - t0) / 20;
    // bind groups the cache had to create meanwhile: in a training step the AdamW dispatches hit it (0 misses
    // a step on lavapipe), back to back here they mostly miss (their uniforms land elsewhere in the arena),
    // so the host time below includes Dawn's createBindGroup, which a step does not pay
    const cache1 = runtime.webgpuBindGroupCacheStats?.();
    const misses = cache1 && cache0.misses !== undefined ? `; ${cache1.misses - cache0.misses} bind groups created, ${cache1.hits - cache0.hits} reused` : '';
    log(`AdamW update: ${wallMs.toFixed(2)} ms wall per update (20 back to back; the host queues one in ${(hostMs / 20).toFixed(2)} ms; ${runtime.webgpuAdamWGroupSize?.() ?? 1} parameter(s) a dispatch, ${trainer.params.size} parameters${misses})`);
  } catch (error) {
    log(`AdamW update: not timed (${error.message})`);
  } finally {
    tf.dispose([...grads.values(), guard]);
  }
}

function torchRun(precision = 'fp32') {
  if (flag('no-torch')) return { skipped: '--no-torch' };
  let here = process.cwd();
  try {
    here = dirname(new URL(import.meta.url).pathname); // empty in the esbuild CJS bundle
  } catch {}
  // the bundle lives in .gpu/; the script next to the source file
  const candidates = [join(here, 'train-gpu-torch.py'), join(here, '..', 'bench', 'train-gpu-torch.py'), join(process.cwd(), 'bench', 'train-gpu-torch.py')];
  const script = candidates.find((p) => existsSync(p));
  if (!script) return { skipped: 'bench/train-gpu-torch.py not found' };
  const s = SHAPE;
  const args = [script, String(B), String(TORCH_STEPS), String(s.width), String(s.depth), String(s.heads), String(s.imageTokens), String(s.features), String(s.textTokens), String(s.vocab), String(s.proj), precision, ...(GRAD_CHECKPOINTING ? ['ckpt'] : [])];
  for (const py of ['python3', '/usr/bin/python3', 'python']) {
    const r = spawnSync(py, args, { encoding: 'utf8' });
    if (r.error) continue; // not on PATH
    const lastLine = (r.stdout || '').trim().split('\n').at(-1) ?? '';
    if (r.status === 0 && lastLine.startsWith('{')) return JSON.parse(lastLine);
    const why = (r.stderr || r.stdout || '').trim().split('\n').at(-1);
    if (/No module named|CUDA/.test(why ?? '')) return { skipped: `${py}: ${why}` };
    return { skipped: `${py} failed: ${why}` };
  }
  return { skipped: 'no python on this machine' };
}

// no top-level await: the GPU bundle is CommonJS
async function main() {
  log(`# bench/train-gpu.mjs ${SMOKE ? '(--smoke: tiny shapes, correctness only, not a performance figure)' : ''}`);
  log(`shape ${SHAPE_NAME}: ${JSON.stringify(SHAPE)}, batch ${B}${TRAINER === 'clip' ? ', @omnitok/clip trainer' : ''}${PIPELINE ? ', timed steps pipelined (one in flight)' : ', timed steps one at a time (--no-pipeline)'}; after: ${STEPS} steps × ${REPEATS} repeats, before: ${BEFORE_STEPS} × ${BEFORE_REPEATS}, PyTorch: ${TORCH_STEPS}${GRAD_CHECKPOINTING ? '; gradient checkpointing (every block recomputed in the backward, both runners)' : ''}`);
  // PyTorch first: it takes seconds, and its figure is the one every other line is compared with
  const t = torchRun();
  log('\n## PyTorch');
  if (t.skipped) log(`PyTorch skipped: ${t.skipped}`);
  else log(`PyTorch ${t.torch} on ${t.device} (fp32, TF32 off${t.gradCheckpointing ? ', gradient checkpointing' : ''}): ${t.samplesPerSec.toFixed(1)} samples/s (${t.params.toLocaleString('en-US')} parameters; peak ${t.peakGiB?.toFixed(1) ?? '?'} GiB allocated)`);
  const bf16 = flag('torch-bf16') && !t.skipped ? torchRun('bf16') : null;
  if (bf16 && !bf16.skipped) log(`PyTorch ${bf16.torch} on ${bf16.device} (bf16 autocast): ${bf16.samplesPerSec.toFixed(1)} samples/s`);
  const fp16 = flag('torch-fp16') && !t.skipped ? torchRun('fp16') : null;
  if (fp16 && !fp16.skipped) log(`PyTorch ${fp16.torch} on ${fp16.device} (fp16 autocast + GradScaler): ${fp16.samplesPerSec.toFixed(1)} samples/s`);
  const results = {};
  if (ONLY !== 'before') results.after = await measure(true);
  if (ONLY !== 'after') results.before = await measure(false);
  log('\n| runner | samples/s | × PyTorch |\n|---|---|---|');
  for (const [k, v] of Object.entries(results)) log(`| webgpu ${k} | ${v.toFixed(1)} | ${t.samplesPerSec ? (v / t.samplesPerSec).toFixed(3) : '—'} |`);
  if (t.samplesPerSec) log(`| PyTorch CUDA fp32 | ${t.samplesPerSec.toFixed(1)} | 1.000 |`);
  if (bf16?.samplesPerSec) log(`| PyTorch CUDA bf16 autocast | ${bf16.samplesPerSec.toFixed(1)} | ${(bf16.samplesPerSec / t.samplesPerSec).toFixed(3)} |`);
  if (fp16?.samplesPerSec) log(`| PyTorch CUDA fp16 autocast | ${fp16.samplesPerSec.toFixed(1)} | ${(fp16.samplesPerSec / t.samplesPerSec).toFixed(3)} |`);
  if (fp16?.samplesPerSec && results.after && runtime.webgpuMatmulPrecision().precision !== 'f32') log(`webgpu after (f16 GEMMs) / PyTorch fp16 autocast: ${(results.after / fp16.samplesPerSec).toFixed(3)}×`);
  if (results.before && results.after) log(`after / before: ${(results.after / results.before).toFixed(2)}×`);
  process.exit(0);
}

main().catch((error) => {
  log(`failed: ${error?.stack ?? error}`);
  process.exit(1);
});
