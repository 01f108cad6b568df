import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type ClipModelConfig, createClipModel, createTrainer, hfClipLogits, importHfClipWeights, type Objective, readHfClipWeights, type StepStats } from '@omnitok/clip';
import { InvalidArgumentError, type ModalityRegistry } from '@omnitok/core';
import { asOutOfMemory, type BackendChoice, CheckpointError, listCheckpoints, loadCheckpoint, type LoadedCheckpoint, type MatmulPrecision, pruneCheckpoints, saveCheckpoint, warmupCosine, webgpuMatmulPrecision } from '@omnitok/core/runtime';
import { BatchLoader, type PreparedSample } from '../data/loader.js';
import { openSource, textModalities } from '../data/open-source.js';
import { type DataSource, isHeldOut, type RawRecord, TrainDataError } from '../data/records.js';
import { type CliIO, processIO } from '../io.js';
import { pluginFor } from '../tokenize-input.js';
import { selectBackend } from './backend.js';
import { evaluate, type EvalResult, type ZeroShotSetup } from './evaluate.js';
import { buildModelConfig, loadModelSpec, type ModelSpec } from './model-spec.js';
import { makePrepare, type ModalitySetup, type TokenShape, towerTokenShape } from './prepare.js';
import { pretrainedTokenShapes } from './pretrained.js';
import { defaultTrainPreset, parsePresetFlags, type PresetRef } from './presets.js';
import { checkResumeFlags } from './resume-flags.js';
import { StepPipeline } from './step-pipeline.js';
import { formatDuration, pct, Progress, round } from './progress.js';
import { type EvalMetric, type Metric, type StepMetric, writeReports } from './report.js';
import { disposeBatch, makeBatch } from './tensors.js';

/** Everything `omnitok train` takes (the command parses flags into this). */
export interface TrainOptions {
  readonly pairs?: readonly (readonly [string, string])[];
  readonly data?: string;
  /** Default: `clip`, or the pretrained model's own (`siglip` for a SigLIP folder). */
  readonly objective?: Objective;
  readonly model: string;
  readonly batchSize?: number;
  readonly gradCacheChunk?: number;
  /** Recompute each transformer block in the backward (`--grad-checkpointing`). */
  readonly gradCheckpointing?: boolean;
  /** Towers frozen (LiT: `['image']` trains the text tower against a fixed pretrained image tower). */
  readonly lock?: readonly string[];
  /** A SigLIP 2 NaFlex `--model`: patches per image instead of its processor's budget. */
  readonly maxPatches?: number;
  readonly steps?: number;
  readonly epochs?: number;
  readonly lr: number;
  readonly warmup?: number;
  readonly weightDecay: number;
  readonly clipNorm: number;
  /** webgpu GEMM precision (`--matmul-precision`); f16 trains with a dynamic loss scale. Default f32. */
  readonly matmulPrecision?: MatmulPrecision;
  readonly seed: number;
  readonly backend: BackendChoice;
  readonly out?: string;
  readonly resume: boolean;
  readonly json: boolean;
  readonly presets: readonly string[];
  readonly maxBadFraction: number;
  readonly allowOutsideRoot: boolean;
  readonly checkpointEvery?: number;
  readonly keep: number;
  readonly evalEvery?: number;
  readonly evalSamples: number;
  readonly evalFraction: number;
  readonly concurrency: number;
  readonly prefetch: number;
  readonly shuffleBuffer?: number;
  readonly augment: boolean;
  /** Force the progress style (default: bar on a TTY, plain lines otherwise, JSON with `json`). */
  readonly tty?: boolean;
  /**
   * The flags given on the command line (`--batch-size`, …): with `resume`, those that would change
   * the run's own settings are refused (`checkResumeFlags`). Absent: not checked.
   */
  readonly explicit?: ReadonlySet<string>;
}

/** The run configuration stored in every checkpoint's config.json (what eval, embed and --resume read). */
export interface RunConfig {
  readonly format: 'omnitok-train/1';
  readonly model: ClipModelConfig;
  readonly modelName: string;
  readonly modalities: readonly string[];
  readonly pairs: readonly (readonly [string, string])[];
  readonly plugins: Record<string, string>;
  readonly presets: Record<string, PresetRef | null>;
  readonly data: string;
  readonly zeroShot?: { readonly classNames: readonly string[]; readonly templates: readonly string[] };
  readonly train: {
    readonly objective: Objective;
    readonly batchSize: number;
    readonly totalSteps: number;
    readonly epochs: number | null;
    readonly lr: number;
    readonly warmup: number;
    readonly weightDecay: number;
    readonly clipNorm: number;
    /** Absent in runs from before the option (f32). */
    readonly matmulPrecision?: MatmulPrecision;
    readonly gradCacheChunk: number | null;
    /** Absent in runs from before the option (off). */
    readonly gradCheckpointing?: boolean;
    readonly seed: number;
    readonly shuffleBuffer: number;
    readonly augment: boolean;
    readonly evalFraction: number;
  };
}

/** Where the data loader stands, saved in state.json for an exact resume. */
interface DataState {
  epoch: number;
  position: number;
  good: number;
  bad: number;
}

export interface TrainResult {
  readonly outDir: string;
  readonly steps: number;
  readonly interrupted: boolean;
  readonly lastEval?: EvalResult;
  readonly samplesPerSec: number;
  readonly seconds: number;
  readonly backend: string;
  readonly skipped: number;
}

/** What to change when a step runs out of memory (the message of an OutOfMemoryError). */
const OOM_HINT =
  'Use a smaller --batch-size, --grad-checkpointing (recompute each block in the backward: a fraction of the activation memory, same gradients), --grad-cache-chunk N to embed the batch N samples at a time (the same loss in a fraction of the memory), or a backend without the limit (native).';

/** Demo length by backend: ~3–4 minutes on 2 CPU cores with native kernels; wasm / cpu are ~10× slower. */
export const DEMO_STEPS = { fast: 800, slow: 200 } as const;
export function demoSteps(backend: string): number {
  return backend === 'wasm' || backend === 'cpu' ? DEMO_STEPS.slow : DEMO_STEPS.fast;
}
export const DEMO_BATCH = 64;

/** A pair flag `A:B`. */
export function parsePair(text: string): [string, string] {
  const parts = text.split(':');
  if (parts.length !== 2 || !parts[0] || !parts[1] || parts[0] === parts[1]) throw new InvalidArgumentError('--pair', text, 'two different modalities as A:B, e.g. image:text');
  return [parts[0], parts[1]];
}

function newestGoodCheckpoint(dir: string, io: CliIO): LoadedCheckpoint | undefined {
  const all = listCheckpoints(dir).reverse();
  for (const path of all) {
    try {
      const ck = loadCheckpoint(path);
      if ((ck.config as RunConfig | undefined)?.format !== 'omnitok-train/1') throw new CheckpointError(path, 'not an omnitok train checkpoint');
      return ck;
    } catch (error) {
      io.stderr(`omnitok: warning: checkpoint ${path} is unreadable (${(error as Error).message}); trying an older one\n`);
    }
  }
  return undefined;
}

/** Keeps the lines of a JSONL file whose `step` is at most `step` (a resumed run rewrites its future). */
function truncateJsonl(path: string, step: number): void {
  if (!existsSync(path)) return;
  const kept = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .filter((l) => {
      try {
        return (JSON.parse(l) as { step?: number }).step! <= step;
      } catch {
        return false;
      }
    });
  writeFileSync(path, kept.map((l) => `${l}\n`).join(''));
}

async function firstRecord(source: DataSource, accept: (r: RawRecord) => boolean): Promise<RawRecord | undefined> {
  for await (const r of source.records()) if (!r.error && accept(r)) return r;
  return undefined;
}

/**
 * `omnitok train`: streams the data, trains the towers of every `--pair` (N-way binding when pairs
 * share a modality), evaluates on the held-out split, checkpoints atomically (keep-last-K), and on
 * SIGINT saves and returns `interrupted: true` (the command exits 130).
 */
export async function runTrain(io: CliIO, registry: ModalityRegistry, opts: TrainOptions): Promise<TrainResult> {
  const started = performance.now();
  if (opts.resume && !opts.out) throw new InvalidArgumentError('--resume', true, 'an --out DIR naming the run to continue');
  const dataSpec = opts.data ?? 'demo';
  const isDemo = dataSpec === 'demo';
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  const outDir = resolve(io.cwd, opts.out ?? join('runs', `${isDemo ? 'demo' : 'train'}-${stamp}`));
  mkdirSync(outDir, { recursive: true });
  const metricsPath = join(outDir, 'metrics.jsonl');
  const skippedPath = join(outDir, 'skipped.jsonl');

  // Resume: the checkpoint's config is the run's (same data order, same model, same schedule); flags that
  // would change it are refused (checkResumeFlags)
  let resumeFrom: LoadedCheckpoint | undefined;
  if (opts.resume) {
    resumeFrom = newestGoodCheckpoint(outDir, io);
    if (!resumeFrom) io.stderr(`omnitok: no checkpoint in ${outDir} yet; starting from step 0\n`);
  } else if (listCheckpoints(outDir).length > 0) {
    throw new InvalidArgumentError('--out', opts.out, `a directory without checkpoints (${outDir} has some: pass --resume to continue that run)`);
  }
  const saved = resumeFrom?.config as RunConfig | undefined;
  const flagPresets = await parsePresetFlags(opts.presets, io.cwd);
  if (saved && opts.explicit) checkResumeFlags(opts.explicit, opts, flagPresets, saved, io.cwd);
  const source = await openSource(saved?.data ?? dataSpec, { cwd: io.cwd, textModalities: textModalities(registry), allowOutsideRoot: opts.allowOutsideRoot });
  const evalFraction = saved?.train.evalFraction ?? (isDemo ? 0 : opts.evalFraction);
  const heldOut = (r: RawRecord) => isHeldOut(r, evalFraction);
  const accept = (r: RawRecord) => !heldOut(r);

  // Pairs: flags, else the demo's image:text, else the two fields of the first record.
  let pairs = saved?.pairs ?? opts.pairs;
  if (!pairs || pairs.length === 0) {
    if (isDemo) pairs = [['image', 'text']];
    else {
      const first = await firstRecord(source, () => true);
      const fields = first ? Object.keys(first.fields) : [];
      if (fields.length !== 2) throw new InvalidArgumentError('--pair', undefined, `at least one --pair A:B (the first record has fields ${fields.join(', ') || 'none'})`);
      pairs = [[fields[0]!, fields[1]!]];
    }
  }
  const modalities = [...new Set(pairs.flat())];
  // a resumed run's model and presets are in its config: the --model file or folder is not read again
  const spec: ModelSpec = saved ? { name: saved.modelName, size: 'saved', common: {}, embedDim: saved.model.embedDim, towers: {} } : await loadModelSpec(opts.model, io.cwd, io.stderr, { maxPatches: opts.maxPatches });
  if (spec.pretrained && !(modalities.length === 2 && modalities.includes('image') && modalities.includes('text'))) {
    throw new InvalidArgumentError('--pair', pairs.map((p) => p.join(':')), `image:text (the two towers of the pretrained CLIP model ${spec.name})`);
  }
  for (const m of opts.lock ?? []) if (!modalities.includes(m)) throw new InvalidArgumentError('--lock', m, `a modality of the pairs (${modalities.join(', ')})`);
  if (modalities.every((m) => opts.lock?.includes(m))) throw new InvalidArgumentError('--lock', opts.lock, 'at most all towers but one (something must train)');
  for (const m of flagPresets.keys()) if (!modalities.includes(m)) throw new InvalidArgumentError('--preset', m, `a modality of the pairs (${modalities.join(', ')})`);
  const setups: ModalitySetup[] = modalities.map((m) => {
    const plugin = saved ? pluginFor(registry, saved.plugins[m] ?? m) : pluginFor(registry, m);
    const preset = saved ? (saved.presets[m] ?? undefined) : (flagPresets.get(m) ?? (spec.pretrained ? spec.pretrained.presets[m as 'image' | 'text'] : defaultTrainPreset(m, spec.size)));
    return { modality: m, plugin, preset };
  });

  const t = saved?.train;
  const batchSize = t?.batchSize ?? opts.batchSize ?? (isDemo ? DEMO_BATCH : 32);
  const seed = t?.seed ?? opts.seed;
  const family = spec.pretrained?.shapes.family;
  const objective = t?.objective ?? opts.objective ?? (family === 'siglip' || family === 'siglip2' ? 'siglip' : 'clip');
  const augment = t?.augment ?? opts.augment;
  const shuffleBuffer = t?.shuffleBuffer ?? opts.shuffleBuffer ?? (isDemo ? 4096 : 1000);
  if (!Number.isInteger(batchSize) || batchSize < 2) throw new InvalidArgumentError('--batch-size', batchSize, 'an integer ≥ 2 (contrastive losses need negatives)');

  // Backend, then token shapes from a probe sample (or the saved model), then the model.
  const matmulPrecision = t ? t.matmulPrecision ?? 'f32' : opts.matmulPrecision ?? 'f32';
  const backend = await selectBackend(opts.backend, matmulPrecision);
  const { tf } = backend;
  if (matmulPrecision !== 'f32' && backend.name !== 'webgpu') {
    throw new InvalidArgumentError('--matmul-precision', matmulPrecision, `f32 on the ${backend.name} backend (f16 GEMMs are a webgpu feature: --backend webgpu)`);
  }
  // f16 GEMM operands flush small gradients: a dynamic loss scale, as PyTorch's GradScaler
  const lossScale = backend.name === 'webgpu' && webgpuMatmulPrecision().precision !== 'f32' ? ('dynamic' as const) : undefined;
  const shapes = new Map<string, TokenShape>();
  if (saved) {
    for (const m of modalities) {
      shapes.set(m, towerTokenShape(saved.model.towers[m]!.tokens));
    }
  }
  // a pretrained model fixes its token layout: samples that tokenize otherwise (a --preset of another size) are refused
  if (spec.pretrained) for (const [m, shape] of pretrainedTokenShapes(spec.pretrained)) shapes.set(m, shape);
  const prepare = makePrepare(setups, shapes, augment);
  const prepareEval = makePrepare(setups, shapes, false);
  if (!saved) {
    let tries = 0;
    let probed = false;
    let lastError = '';
    for await (const r of source.records()) {
      if (r.error || !accept(r)) continue;
      try {
        await prepareEval(r, 0);
        probed = true;
        break;
      } catch (error) {
        lastError = `${r.where}: ${(error as Error).message}`;
        if (++tries >= 100) break;
      }
    }
    if (!probed) throw new TrainDataError(`no usable training sample in ${source.description}${lastError ? ` (last error: ${lastError})` : ''}`);
  }
  // in a function of its own: a pretrained folder's bytes are dropped once imported, not held through training
  const { modelConfig, model } = ((pretrained = spec.pretrained) => {
    const weights = pretrained ? readHfClipWeights(pretrained.dir, pretrained.shapes.family) : undefined;
    // the run's config keeps its locked towers: a resumed run trains what it trained
    const config = saved?.model ?? { ...buildModelConfig(spec, shapes, modalities, pairs, objective, seed, weights && hfClipLogits(weights)), ...(opts.lock?.length ? { locked: [...opts.lock] } : {}) };
    // weights about to be loaded (a resume, a pretrained model) are not drawn first
    const built = createClipModel(config, { init: resumeFrom || weights ? 'skip' : 'random' });
    if (resumeFrom) built.loadStateDict(resumeFrom.weights, { source: resumeFrom.path });
    else if (weights && pretrained) importHfClipWeights(built, weights, { source: pretrained.dir, family: pretrained.shapes.family });
    return { modelConfig: config, model: built };
  })();

  // Total steps: --steps, or --epochs × full batches per epoch (counted without decoding); a resumed run
  // keeps its own unless --steps / --epochs give it a new end (checkResumeFlags)
  const extended = Boolean(t && (opts.explicit?.has('--steps') || opts.explicit?.has('--epochs')));
  let epochs = t && !extended ? t.epochs ?? undefined : opts.epochs;
  let totalSteps = t && !extended ? t.totalSteps : opts.steps;
  if (totalSteps === undefined) {
    if (isDemo && epochs === undefined) totalSteps = demoSteps(backend.name);
    else {
      epochs ??= 1;
      let n = 0;
      for await (const r of source.records()) if (r.error || accept(r)) n++;
      totalSteps = Math.floor(n / batchSize) * epochs;
      if (totalSteps < 1) throw new TrainDataError(`${source.description} has ${n} training records, fewer than one batch of ${batchSize}`);
    }
  }
  // a new end for a resumed run: past its checkpoint, the schedule recomputed over it
  const newEnd = extended && t && resumeFrom && totalSteps !== t.totalSteps ? { from: t.totalSteps, done: resumeFrom.step } : undefined;
  if (newEnd && totalSteps <= newEnd.done) {
    const [flag, given, counted] = opts.explicit?.has('--steps') ? ['--steps', totalSteps, ''] : ['--epochs', epochs, `; ${epochs} epoch(s) are ${totalSteps} steps`];
    throw new InvalidArgumentError(flag, given, `more than the ${newEnd.done} step(s) the resumed run's checkpoint has done (it was a ${newEnd.from}-step run${counted})`);
  }
  const warmup = t?.warmup ?? opts.warmup ?? Math.min(Math.round(totalSteps * 0.1), 500);
  /** The learning-rate schedule of a run of `total` steps: warmup, then cosine to the end. */
  const scheduleOver = (total: number) => ({ warmupSteps: Math.min(warmup, total), totalSteps: total });
  const lr = t?.lr ?? opts.lr;
  const weightDecay = t?.weightDecay ?? opts.weightDecay;
  const clipNorm = t?.clipNorm ?? opts.clipNorm;
  const gradCacheChunk = t ? t.gradCacheChunk ?? undefined : opts.gradCacheChunk;
  // memory only (the gradients are the same): a resumed run may turn it on, e.g. after running out of memory
  const gradCheckpointing = Boolean(opts.gradCheckpointing) || (t?.gradCheckpointing ?? false);
  model.setGradCheckpointing(gradCheckpointing);
  const trainer = createTrainer({
    model,
    objective,
    optimizer: { lr, weightDecay },
    schedule: scheduleOver(totalSteps),
    clipNorm,
    gradCache: gradCacheChunk ? { chunkSize: gradCacheChunk } : false,
    lossScale,
  });
  if (resumeFrom?.optimizer) trainer.optimizer.loadStateDict(resumeFrom.optimizer);
  const savedScale = (resumeFrom?.extra as { lossScale?: { scale: number; goodSteps: number } } | undefined)?.lossScale;
  if (savedScale && trainer.lossScaler) trainer.lossScaler.loadState(savedScale);
  if (resumeFrom?.rng) model.rng.setState(resumeFrom.rng);

  const textSetup = setups.find((s) => s.plugin.acceptsText);
  const zsPair = textSetup && pairs.find((p) => p.includes(textSetup.modality));
  const zeroShotCfg = saved?.zeroShot ?? source.zeroShot;
  const zeroShot: ZeroShotSetup | undefined =
    textSetup && zsPair && zeroShotCfg ? { classNames: zeroShotCfg.classNames, templates: zeroShotCfg.templates, text: textSetup, modality: zsPair[0] === textSetup.modality ? zsPair[1] : zsPair[0] } : undefined;

  const runConfig: RunConfig = {
    format: 'omnitok-train/1',
    model: modelConfig,
    modelName: spec.name,
    modalities,
    pairs,
    plugins: Object.fromEntries(setups.map((s) => [s.modality, s.plugin.name])),
    presets: Object.fromEntries(setups.map((s) => [s.modality, s.preset ?? null])),
    data: saved?.data ?? (isDemo ? 'demo' : resolve(io.cwd, dataSpec)),
    ...(zeroShotCfg ? { zeroShot: { classNames: zeroShotCfg.classNames, templates: zeroShotCfg.templates } } : {}),
    train: { objective, batchSize, totalSteps, epochs: epochs ?? null, lr, warmup, weightDecay, clipNorm, matmulPrecision, gradCacheChunk: gradCacheChunk ?? null, gradCheckpointing, seed, shuffleBuffer, augment, evalFraction },
  };

  const mode = opts.json ? 'json' : (opts.tty ?? (io === processIO && process.stderr.isTTY === true)) ? 'tty' : 'plain';
  const lrAfter = (total: number, done: number) => warmupCosine({ baseLr: lr, ...scheduleOver(total) })(done).toPrecision(3);
  const progress = new Progress(io, mode, backend.name, Math.max(1, Math.round(totalSteps / 20)));
  const paramCount = model.parameterCount();
  progress.line(
    `omnitok train: ${pairs.map((p) => p.join('↔')).join(', ')} on ${source.description}\n` +
      `  model ${spec.name} (${(paramCount / 1e6).toFixed(2)} M parameters, ${objective}), batch ${batchSize}, ${totalSteps} steps, lr ${lr}, warmup ${warmup}, seed ${seed}\n` +
      `  backend ${backend.name}: ${backend.description} (${backend.reason})\n` +
      `  presets ${setups.map((s) => `${s.modality}=${typeof s.preset === 'object' && s.preset ? (s.preset.name ?? 'custom') : (s.preset ?? s.plugin.defaultPreset)}`).join(', ')}\n` +
      `  run directory ${outDir}${resumeFrom ? ` (resuming from ${resumeFrom.path})` : ''}` +
      (newEnd
        ? `\n  the run now ends at step ${totalSteps} instead of ${newEnd.from}: the learning rate follows the schedule over ${totalSteps} steps from here (${lrAfter(newEnd.from, newEnd.done)} → ${lrAfter(totalSteps, newEnd.done)} at step ${newEnd.done + 1})`
        : ''),
    { event: 'start', outDir, pairs, totalSteps, ...(newEnd ? { extendedFrom: newEnd.from } : {}), batchSize, backend: backend.name, backendReason: backend.reason, matmulPrecision: backend.name === 'webgpu' ? webgpuMatmulPrecision().precision : 'f32', parameters: paramCount, resumedFrom: resumeFrom?.path ?? null, data: source.description },
  );

  // Held-out set: tokenized once, kept in memory (bounded by --eval-samples).
  const evalSet: PreparedSample[] = [];
  const evalSkipped: Record<string, unknown>[] = [];
  if (evalFraction > 0 || isDemo) {
    for await (const r of source.records()) {
      if (r.error || !heldOut(r)) continue;
      if (evalSet.length >= opts.evalSamples) break;
      try {
        evalSet.push(await prepareEval(r, 0));
      } catch (error) {
        evalSkipped.push({ key: r.key, where: r.where, reason: (error as Error).message, split: 'eval', step: 0 });
      }
    }
  }
  const canEval = evalSet.length >= 2;
  const evalEvery = opts.evalEvery ?? Math.max(1, Math.round(totalSteps / 6));
  const checkpointEvery = opts.checkpointEvery ?? Math.max(1, Math.round(totalSteps / 10));

  // Metrics files: a resumed run drops what came after its checkpoint.
  const startStep = resumeFrom?.step ?? 0;
  if (resumeFrom) {
    truncateJsonl(metricsPath, startStep);
    truncateJsonl(skippedPath, startStep);
  } else {
    writeFileSync(metricsPath, '');
    writeFileSync(skippedPath, evalSkipped.map((l) => `${JSON.stringify(l)}\n`).join(''));
  }
  const metrics: Metric[] = existsSync(metricsPath)
    ? readFileSync(metricsPath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Metric)
    : [];
  const addMetric = (m: Metric) => {
    metrics.push(m);
    appendFileSync(metricsPath, `${JSON.stringify(m)}\n`);
  };

  const dataState: DataState = (resumeFrom?.data as DataState | undefined) ?? { epoch: 0, position: 0, good: 0, bad: 0 };
  const loader = new BatchLoader({
    source,
    accept,
    prepare,
    batchSize,
    seed,
    shuffleBuffer,
    concurrency: opts.concurrency,
    prefetch: opts.prefetch,
    start: { epoch: dataState.epoch, position: dataState.position },
    epochs,
  });

  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    progress.line('omnitok: interrupt: saving a checkpoint after this step (press Ctrl-C again to quit without saving)');
  };
  process.on('SIGINT', onSigint);

  let step = startStep;
  let lastEval: EvalResult | undefined = [...metrics].reverse().find((m): m is EvalMetric => m.type === 'eval');
  const save = async () => {
    const path = await saveCheckpoint(outDir, { step, model, config: runConfig, optimizer: trainer.optimizer, rng: model.rng, data: dataState, extra: { elapsed: (performance.now() - started) / 1000, ...(trainer.lossScaler ? { lossScale: trainer.lossScaler.state() } : {}) } });
    pruneCheckpoints(outDir, opts.keep);
    return path;
  };
  const runEval = async () => {
    if (!canEval) return;
    const r = await evaluate(tf, model, evalSet, zeroShot);
    lastEval = r;
    const m: EvalMetric = { type: 'eval', step, elapsed: round((performance.now() - started) / 1000, 2), ...r };
    addMetric(m);
    progress.line(`eval @ step ${step}: ${describeEval(r)}`, { event: 'eval', ...m });
  };

  let rate = 0;
  let last = performance.now();
  const trainStarted = performance.now();
  let trainedSamples = 0;
  // webgpu: one step in flight (StepPipeline); OMNITOK_TRAIN_IN_FLIGHT=0: one at a time there too
  interface Batch {
    readonly inputs: ReturnType<typeof makeBatch>;
    readonly samples: number;
    readonly epoch: number;
  }
  /** A step read: metrics and progress, and — with no step queued behind it — the eval, checkpoint and stop it ends at. */
  const record = async (stats: StepStats, b: Batch, alone: boolean): Promise<'over' | 'on'> => {
    if (stats.skipped) {
      // an overflow at this loss scale: nothing was updated, the next batch takes the same step
      progress.line(`step ${stats.step + 1}: non-finite gradients at loss scale ${stats.lossScale}; skipped, the scale halves`, { event: 'skip', step: stats.step + 1, lossScale: stats.lossScale ?? null });
      return 'on';
    }
    step = stats.step + 1;
    trainedSamples += b.samples;
    const now = performance.now();
    const inst = b.samples / ((now - last) / 1000);
    last = now;
    rate = rate === 0 ? inst : 0.9 * rate + 0.1 * inst;
    const m: StepMetric = { type: 'step', step, epoch: b.epoch, loss: stats.loss, lr: stats.lr, samplesPerSec: round(inst, 2), elapsed: round((now - started) / 1000, 2) };
    addMetric(m);
    progress.step({ step, total: totalSteps, epoch: b.epoch, loss: stats.loss, lr: stats.lr, samplesPerSec: rate, eta: ((totalSteps - step) * batchSize) / rate });
    if (!alone) return 'on'; // not a boundary; an interrupt waits for the step behind
    const done = step >= totalSteps;
    if (step % evalEvery === 0 || done) await runEval();
    if (step % checkpointEvery === 0 || done || interrupted) {
      const path = await save();
      if (interrupted) progress.line(`omnitok: saved ${path}; continue with --resume --out ${outDir}`, { event: 'interrupted', step, checkpoint: path });
    }
    return done || interrupted ? 'over' : 'on';
  };
  const pipeline = new StepPipeline<Batch, StepStats>({
    step: (b) => trainer.step(b.inputs),
    stepCount: () => trainer.stepCount,
    dispose: (b) => disposeBatch(tf, b.inputs),
    inFlight: trainer.optimizer.canApplyGuarded() && process.env.OMNITOK_TRAIN_IN_FLIGHT !== '0',
    boundary: (n) => (canEval && n % evalEvery === 0) || n % checkpointEvery === 0 || n >= totalSteps,
    interrupted: () => interrupted,
    record,
    mapError: (error) => asOutOfMemory(error, backend.name, OOM_HINT) ?? error,
  });
  try {
    if (step >= totalSteps) progress.line(`the run already reached step ${step} of ${totalSteps}`);
    else
      for await (const batch of loader.batches()) {
        for (const s of batch.skipped) appendFileSync(skippedPath, `${JSON.stringify({ ...s, step: step + 1 })}\n`);
        dataState.good += batch.samples.length;
        dataState.bad += batch.skipped.length;
        dataState.epoch = batch.epoch;
        dataState.position = batch.position;
        const seen = dataState.good + dataState.bad;
        if (dataState.bad > 0 && seen >= Math.min(2 * batchSize, 20) && dataState.bad / seen > opts.maxBadFraction) {
          throw new TrainDataError(
            `${dataState.bad} of ${seen} samples were bad (${pct(dataState.bad / seen)}), more than --max-bad-fraction ${opts.maxBadFraction}; the first ones are listed in ${skippedPath}`,
            { bad: dataState.bad, seen, skipped: skippedPath },
          );
        }
        if (batch.endOfEpoch) {
          dataState.epoch = batch.epoch + 1;
          dataState.position = 0;
        }
        if (batch.samples.length < batchSize) continue;
        if ((await pipeline.push({ inputs: makeBatch(tf, batch.samples, modalities), samples: batch.samples.length, epoch: batch.epoch })) === 'over') break;
      }
    await pipeline.finish();
  } finally {
    // an error with a step still in flight: let it finish (the device guard skips it behind a
    // non-finite one) and free its batch
    await pipeline.abandon();
    process.off('SIGINT', onSigint);
    progress.end();
  }
  if (step < totalSteps && !interrupted && epochs === undefined) throw new TrainDataError(`the data ran out after step ${step} of ${totalSteps}`);
  if (step > startStep && !interrupted && step % checkpointEvery !== 0 && step < totalSteps) await save();

  const seconds = (performance.now() - started) / 1000;
  const samplesPerSec = trainedSamples / ((performance.now() - trainStarted) / 1000);
  const summary: Record<string, unknown> = {
    data: source.description,
    pairs: pairs.map((p) => p.join(':')).join(', '),
    model: `${spec.name}, ${(paramCount / 1e6).toFixed(2)} M parameters, ${objective}`,
    steps: `${step} of ${totalSteps} (batch ${batchSize})`,
    backend: `${backend.name}: ${backend.description}`,
    'wall time': formatDuration(seconds),
    'samples/s': round(samplesPerSec, 1),
    skipped: dataState.bad,
    ...(lastEval ? { 'held-out': describeEval(lastEval) } : {}),
  };
  const title = `omnitok train - ${pairs.map((p) => p.join('/')).join(', ')} - ${spec.name} ${objective} - batch ${batchSize} - ${backend.name}`;
  const reports = await writeReports(outDir, metrics, summary, title);
  const result: TrainResult = { outDir, steps: step, interrupted, lastEval, samplesPerSec, seconds, backend: backend.name, skipped: dataState.bad };
  progress.line(
    `${interrupted ? 'interrupted' : 'done'}: ${step} steps in ${formatDuration(seconds)} (${samplesPerSec.toFixed(1)} samples/s on ${backend.name}), ${dataState.bad} sample(s) skipped${dataState.bad ? ` (see ${skippedPath})` : ''}\n` +
      (lastEval ? `  held-out: ${describeEval(lastEval)}\n` : '') +
      `  checkpoints ${outDir}/step-*, metrics ${metricsPath}\n  plot ${reports.png}, report ${reports.html}`,
    { event: 'end', ...result, summary, plot: reports.png, report: reports.html },
  );
  trainer.dispose();
  model.dispose();
  return result;
}

/** "zero-shot top-1 41.2% (chance 11.1%) · R@1 image→text 12.0% / text→image 10.3% (chance 0.5%)". */
export function describeEval(r: EvalResult): string {
  const parts: string[] = [];
  if (r.zeroShot) {
    const z = r.zeroShot;
    parts.push(`zero-shot top-1 ${pct(z.top1)} (chance ${pct(z.chanceTop1)}, majority class ${pct(z.majority)}), top-5 ${pct(z.top5)} (chance ${pct(z.chanceTop5)}) over ${z.classes} classes, ${z.n} samples`);
  }
  for (const p of r.retrieval) {
    const [a, b] = p.pair.split('__');
    const chance = p.chanceR1 === p.chanceR1BToA ? pct(p.chanceR1) : `${pct(p.chanceR1)} / ${pct(p.chanceR1BToA)}`;
    const distinct = p.unique.a === p.n && p.unique.b === p.n ? '' : ` (${p.unique.a} distinct ${a}, ${p.unique.b} distinct ${b})`;
    parts.push(`R@1 ${a}→${b} ${pct(p.aToB.r1)} / ${b}→${a} ${pct(p.bToA.r1)} (chance ${chance}), R@5 ${pct(p.aToB.r5)} / ${pct(p.bToA.r5)}, n ${p.n}${distinct}`);
  }
  return parts.join('; ');
}
