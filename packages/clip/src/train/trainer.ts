import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '@omnitok/core';
import { AdamW, type AdamWOptions, GuardedSteps, LossScaler, type LossScale, type QueuedStep, clipByGlobalNorm, globalNorm, skipNonFiniteStep, throwOnDeviceErrors, warmupCosine, type WarmupCosineOptions } from '@omnitok/core/runtime';
import { clampLogitScale, CLIP_LOGIT_SCALE_MAX } from '../loss/logit-scale.js';
import type { ClipModel, Objective } from '../model/clip-model.js';
import { type TowerInput, batchSize, sliceInput } from '../model/tower.js';

/** One batch: an input per modality, row i of every modality being sample i. */
export type ClipBatch = Readonly<Record<string, TowerInput>>;

export interface TrainerConfig {
  readonly model: ClipModel;
  /** Must match the model's objective (it owns the logit scale / bias); default: the model's. */
  readonly objective?: Objective;
  /** AdamW settings; defaults are open_clip's: lr 5e-4, β (0.9, 0.98), eps 1e-6, weight decay 0.2 (not on gains, biases, embeddings, logit scale/bias). */
  readonly optimizer?: AdamWOptions;
  /** lr per step: a function of the 0-based step, or warmup + cosine settings (baseLr defaults to optimizer.lr). */
  readonly schedule?: ((step: number) => number) | (Omit<WarmupCosineOptions, 'baseLr'> & { baseLr?: number });
  /** Clip the global gradient norm to this (unset/0: off; the norm is reported either way). */
  readonly clipNorm?: number;
  /** Compute each pair loss in row chunks (O(chunk × n) logits). */
  readonly lossChunkSize?: number;
  /**
   * Gradient caching (GradCache; open_clip --accum-freq): embed the batch without gradients
   * `chunkSize` samples at a time, take the full-batch loss and its gradient w.r.t. the embeddings,
   * then re-run each chunk with gradients, injecting the cached embedding gradients. The update is the
   * plain big-batch update (exactly, with dropout 0) while activations are held for one chunk only.
   */
  readonly gradCache?: { readonly chunkSize: number } | false;
  /** Clamp CLIP log-scales to [0, ln 100] after each step (default true for clip, false for siglip). */
  readonly clampLogitScale?: boolean;
  /**
   * Loss scaling (the runtime's LossScale: a fixed S or `dynamic`), for f16 GEMMs (`omnitok train
   * --matmul-precision f16`): gradients of S·loss, divided by S before the norm; with `dynamic`, a
   * step that overflows is skipped (`skipped` in its stats) and S halves. Default: none.
   */
  readonly lossScale?: LossScale;
}

export interface StepStats {
  /** The step just applied (0-based). */
  readonly step: number;
  /** Σ of the pair losses. */
  readonly loss: number;
  readonly pairLosses: Readonly<Record<string, number>>;
  /** Global gradient norm before clipping. */
  readonly gradNorm: number;
  readonly lr: number;
  /** exp(logit scale) per pair, after the step (and clamp). */
  readonly logitScales: Readonly<Record<string, number>>;
  /** siglip: logit bias per pair, after the step. */
  readonly logitBiases: Readonly<Record<string, number>>;
  readonly samples: number;
  readonly seconds: number;
  /** The loss scale the step ran with (with `lossScale` set). */
  readonly lossScale?: number;
  /** True when nothing was updated, `step` is still to come: a dynamic loss scale skipped the step (an overflow), or `behind`. */
  readonly skipped?: boolean;
  /**
   * Skipped because it was queued while the step before it, which came out non-finite, was still in
   * flight (webgpu): its own values do not count, and the batch may be stepped again (`omnitok train` does).
   */
  readonly behind?: boolean;
}

export interface Gradients {
  readonly loss: number;
  readonly pairLosses: Record<string, number>;
  /** By parameter name (only parameters the loss reaches). The caller disposes them. */
  readonly grads: Map<string, tf.Tensor>;
}

/** A step's StepStats from what it measured (step, lr, samples, seconds and loss scale filled in). */
type StepReport = (fields: Pick<StepStats, 'loss' | 'pairLosses' | 'gradNorm' | 'logitScales' | 'logitBiases'>) => StepStats;

/** A step's gradients before anything is read back: the loss tensors stay on the device. */
interface TensorGradients {
  /** S·loss (the loss itself without a loss scale). */
  readonly scaledLoss: tf.Scalar;
  readonly pairLosses: Map<string, tf.Tensor>;
  /** Gradients of S·loss by parameter name. */
  readonly grads: Map<string, tf.Tensor>;
}

/** The training loop's unit: `step(batch)` = forward, loss, gradients, AdamW, logit-scale clamp. */
export interface ClipTrainer {
  readonly model: ClipModel;
  readonly optimizer: AdamW;
  /** Optimizer steps applied so far. */
  readonly stepCount: number;
  /** Async because values are read back with `data()` (WebGPU in Node cannot read synchronously). */
  step(batch: ClipBatch): Promise<StepStats>;
  /** The loss and gradients of one batch, nothing applied (what step uses; exposed for checks). */
  gradients(batch: ClipBatch): Promise<Gradients>;
  /** The loss scale with `lossScale` set (its state goes into checkpoints for an exact resume). */
  readonly lossScaler?: LossScaler;
  dispose(): void;
}

/** Builds the trainer the CLI's `omnitok train` drives: `createTrainer({ model, objective }).step(batch)`. */
export function createTrainer(config: TrainerConfig): ClipTrainer {
  const { model } = config;
  const objective = config.objective ?? model.objective;
  if (objective !== model.objective) throw new InvalidArgumentError('objective', objective, `the model's objective "${model.objective}" (it owns the logit scale and bias)`);
  const chunk = config.gradCache ? config.gradCache.chunkSize : undefined;
  if (chunk !== undefined && (!Number.isInteger(chunk) || chunk < 1)) throw new InvalidArgumentError('gradCache.chunkSize', chunk, 'a positive integer');
  const params = model.optimizerParameters();
  const optimizer = new AdamW(params, { lr: 5e-4, beta1: 0.9, beta2: 0.98, eps: 1e-6, weightDecay: 0.2, ...config.optimizer });
  const schedule = typeof config.schedule === 'function' ? config.schedule : config.schedule ? warmupCosine({ baseLr: optimizer.lr, ...config.schedule }) : undefined;
  const clamp = config.clampLogitScale ?? objective === 'clip';
  const nameOf = new Map([...params].map(([n, v]) => [v.name, n] as const));
  const varList = [...params.values()];
  const scaler = config.lossScale === undefined ? undefined : new LossScaler(config.lossScale);
  /** The loss the gradients are taken of: S·loss under a loss scale. */
  const scaled = (total: tf.Scalar): tf.Scalar => (scaler && scaler.scale !== 1 ? (tf.mul(total, scaler.scale) as tf.Scalar) : total);
  const unscale = (loss: number) => loss / (scaler?.scale ?? 1);

  const named = (grads: tf.NamedTensorMap): Map<string, tf.Tensor> => {
    const out = new Map<string, tf.Tensor>();
    for (const [id, g] of Object.entries(grads)) out.set(nameOf.get(id)!, g);
    return out;
  };

  /** Reads the kept per-pair losses (all at once: one wait for the device) and disposes them. */
  const readPairs = async (kept: Map<string, tf.Tensor>): Promise<Record<string, number>> => {
    const values = await Promise.all([...kept.values()].map((v) => v.data()));
    tf.dispose([...kept.values()]);
    return Object.fromEntries([...kept.keys()].map((k, i) => [k, values[i]![0]!] as const));
  };

  /** Reads and disposes a step's loss tensors: the Gradients the public `gradients` returns (still of S·loss). */
  const readLosses = async (t: TensorGradients): Promise<Gradients> => {
    const [value, pairLosses] = await Promise.all([t.scaledLoss.data(), readPairs(t.pairLosses)]);
    t.scaledLoss.dispose();
    return { loss: unscale(value[0]!), pairLosses, grads: t.grads };
  };

  const present = (batch: ClipBatch) => {
    const names = Object.keys(batch);
    for (const n of names) model.tower(n);
    const sizes = new Set(names.map((n) => batchSize(batch[n]!)));
    if (sizes.size !== 1) throw new InvalidArgumentError('batch', Object.fromEntries(names.map((n) => [n, batchSize(batch[n]!)])), 'the same number of samples for every modality');
    return { names: names.filter((n) => model.activePairs(names).some((p) => p.a === n || p.b === n)), n: [...sizes][0]! };
  };

  /** Plain step: every tower's activations for the whole batch are taped at once. Nothing is read back. */
  function plainGradients(batch: ClipBatch): TensorGradients {
    const { names } = present(batch);
    const kept = new Map<string, tf.Tensor>();
    const { value, grads } = tf.variableGrads(() => {
      const embs = new Map(names.map((n) => [n, model.encode(n, batch[n]!)] as const));
      const { total, byPair } = model.pairLosses(embs, { chunkSize: config.lossChunkSize });
      for (const [k, v] of byPair) kept.set(k, tf.keep(v));
      return scaled(total);
    }, varList);
    return { scaledLoss: value, pairLosses: kept, grads: named(grads) };
  }

  /** GradCache step (see TrainerConfig.gradCache). Nothing is read back. */
  function cachedGradients(batch: ClipBatch, chunkSize: number): TensorGradients {
    const { names, n } = present(batch);
    // 1. Embeddings of the whole batch, no tape, chunk by chunk.
    const embs = new Map<string, tf.Tensor>();
    for (const name of names) {
      const parts: tf.Tensor[] = [];
      for (let s = 0; s < n; s += chunkSize) parts.push(tf.tidy(() => model.encode(name, sliceInput(batch[name]!, s, Math.min(chunkSize, n - s)))));
      embs.set(name, parts.length === 1 ? parts[0]! : tf.concat(parts));
      if (parts.length > 1) tf.dispose(parts);
    }
    const grads = new Map<string, tf.Tensor>();
    const add = (name: string, g: tf.Tensor) => {
      const prev = grads.get(name);
      if (!prev) grads.set(name, g);
      else {
        grads.set(name, tf.add(prev, g));
        tf.dispose([prev, g]);
      }
    };
    const kept = new Map<string, tf.Tensor>();
    let value: tf.Scalar | undefined;
    try {
      // 2. Full-batch loss; gradient w.r.t. the embeddings (inputs) and the pair parameters (variables).
      const active = model.activePairs(names);
      const pairVars = active.flatMap((p) => (p.logitBias ? [p.logitScale, p.logitBias] : [p.logitScale])).filter((v) => nameOf.has(v.name));
      const embNames = [...embs.keys()];
      const lossOf =
        (keep: boolean) =>
        (...xs: tf.Tensor[]) => {
          const { total, byPair } = model.pairLosses(new Map(embNames.map((k, i) => [k, xs[i]!] as const)), { chunkSize: config.lossChunkSize });
          if (keep) for (const [k, v] of byPair) kept.set(k, tf.keep(v));
          return scaled(total);
        };
      const embInputs = embNames.map((k) => embs.get(k)!);
      const { value: lossValue, grads: embGrads } = tf.valueAndGrads(lossOf(true))(embInputs);
      value = lossValue as tf.Scalar;
      if (pairVars.length > 0) {
        const pv = tf.variableGrads(() => lossOf(false)(...embInputs), pairVars);
        pv.value.dispose();
        for (const [k, g] of named(pv.grads)) add(k, g);
      }
      // 3. Re-run each chunk with the tape on; d(Σ e ⊙ ∂L/∂e)/dθ is the chunk's share of ∂L/∂θ.
      embNames.forEach((name, i) => {
        if (model.locked.has(name)) return;
        const G = embGrads[i]!;
        for (let s = 0; s < n; s += chunkSize) {
          const size = Math.min(chunkSize, n - s);
          const { value: v, grads: g } = tf.variableGrads(() => tf.tidy(() => tf.sum(tf.mul(model.encode(name, sliceInput(batch[name]!, s, size)), G.slice([s, 0], [size, -1])))) as tf.Scalar, varList);
          v.dispose();
          for (const [k, t] of named(g)) add(k, t);
        }
      });
      tf.dispose(embGrads);
      return { scaledLoss: value, pairLosses: kept, grads };
    } catch (error) {
      tf.dispose([...grads.values(), ...kept.values(), ...(value ? [value] : [])]);
      throw error;
    } finally {
      tf.dispose([...embs.values()]);
    }
  }

  const gradientTensors = (batch: ClipBatch): TensorGradients => (chunk !== undefined ? cachedGradients(batch, chunk) : plainGradients(batch));

  /** The read-back Gradients of the loss itself (divided by the scale S the step ran with). */
  const unscaledGradients = async (t: TensorGradients, scale = 1): Promise<Gradients> => {
    const g = await readLosses(t);
    if (scale === 1) return g;
    // the gradients of S·loss, back to those of the loss
    const grads = new Map([...g.grads].map(([k, v]) => [k, tf.div(v, scale)] as const));
    tf.dispose([...g.grads.values()]);
    return { ...g, grads };
  };

  /** exp(logit scale) and logit bias of every pair, read at once. */
  const readLogitParams = async (): Promise<Pick<StepStats, 'logitScales' | 'logitBiases'>> => {
    // snapshots (clones share the data): a step queued before this read resolves replaces the
    // variables' data (the clamp's assign), which would fail a read of the variables themselves
    const snaps = model.pairs.map((p) => [tf.clone(p.logitScale), p.logitBias ? tf.clone(p.logitBias) : undefined] as const);
    const values = await Promise.all(snaps.map(([scale, bias]) => Promise.all([scale.data(), bias?.data()]))).finally(() => tf.dispose(snaps.flatMap(([a, b]) => (b ? [a, b] : [a]))));
    const logitScales: Record<string, number> = {};
    const logitBiases: Record<string, number> = {};
    model.pairs.forEach((p, i) => {
      const [scale, bias] = values[i]!;
      logitScales[p.key] = Math.exp(scale[0]!);
      if (bias) logitBiases[p.key] = bias[0]!;
    });
    return { logitScales, logitBiases };
  };

  /** The step off webgpu: loss and norm read first, the host clips and decides, then the update. */
  async function hostStep(step: number, lr: number, g: Gradients, report: StepReport): Promise<StepStats> {
    const { loss, pairLosses, grads } = g;
    try {
      // a GPU error (out of memory, …) shows as zeros or NaN: named instead
      throwOnDeviceErrors();
      const skip = (gradNorm: number): StepStats => ({ ...report({ loss, pairLosses, gradNorm, logitScales: {}, logitBiases: {} }), skipped: true });
      // a dynamic loss scale skips a non-finite step (an overflow), else NonFiniteError
      if (!Number.isFinite(loss) && skipNonFiniteStep(scaler, step, loss, NaN)) return skip(NaN);
      const normT = globalNorm(grads.values());
      const gradNorm = (await normT.data())[0]!;
      normT.dispose();
      throwOnDeviceErrors();
      if (!Number.isFinite(gradNorm) && skipNonFiniteStep(scaler, step, loss, gradNorm)) return skip(gradNorm);
      scaler?.finite();
      if (config.clipNorm && config.clipNorm > 0 && gradNorm > config.clipNorm) {
        const clipped = clipByGlobalNorm(grads, config.clipNorm, gradNorm);
        optimizer.apply(clipped, lr);
        tf.dispose([...clipped.values()]);
      } else optimizer.apply(grads, lr);
      if (clamp) for (const p of model.pairs) clampLogitScale(p.logitScale, 0, CLIP_LOGIT_SCALE_MAX);
      return report({ loss, pairLosses, gradNorm, ...(await readLogitParams()) });
    } finally {
      tf.dispose([...grads.values()]);
    }
  }

  const deviceSteps = new GuardedSteps();

  async function runStep(batch: ClipBatch, device: boolean): Promise<StepStats> {
    const t0 = performance.now();
    const step = optimizer.step;
    const { n } = present(batch);
    const ran = scaler?.scale;
    const lr = schedule ? schedule(step) : optimizer.lr;
    const report: StepReport = (fields) => ({ step, lr, ...fields, samples: n, seconds: (performance.now() - t0) / 1000, ...(ran === undefined ? {} : { lossScale: ran }) });
    const t = gradientTensors(batch);
    // webgpu: the whole update is queued behind a device step guard (norm, clip and finiteness on the
    // device; a non-finite step updates nothing) and the step reads everything it reports at the end,
    // at once — the next step may be queued before that (GuardedSteps); elsewhere the loss and the norm
    // are read before the update, as the host decides
    const loss = device ? (tf.div(t.scaledLoss, ran ?? 1) as tf.Scalar) : undefined;
    let queued: QueuedStep | undefined;
    try {
      queued = loss && deviceSteps.queue(optimizer, t.grads, loss, { lr, clipNorm: config.clipNorm, gradScale: 1 / (ran ?? 1) });
    } catch (error) {
      tf.dispose([...(loss ? [loss] : []), t.scaledLoss, ...t.pairLosses.values(), ...t.grads.values()]);
      throw error;
    }
    if (!loss || !queued) {
      loss?.dispose();
      return hostStep(step, lr, await unscaledGradients(t, ran), report);
    }
    try {
      if (clamp) for (const p of model.pairs) clampLogitScale(p.logitScale, 0, CLIP_LOGIT_SCALE_MAX);
      const logitParams = readLogitParams(); // snapshots taken now, behind this step's update
      // queued: the device reads the gradients before anything reuses their buffers
      tf.dispose([t.scaledLoss, ...t.grads.values()]);
      const [lossData, outcome, pairLosses, pairs] = await Promise.all([loss.data(), queued.read(), readPairs(t.pairLosses), logitParams]);
      throwOnDeviceErrors();
      const value = lossData[0]!;
      // not applied: its own non-finite loss or norm (NonFiniteError without a dynamic scale), or
      // queued behind such a step
      return { ...report({ loss: value, pairLosses, gradNorm: outcome.gradNorm, ...pairs }), ...queued.settle({ outcome, step, loss: value, scaler }) };
    } finally {
      queued.release();
      tf.dispose([loss, t.scaledLoss, ...t.grads.values()]);
    }
  }

  const trainer: ClipTrainer = {
    model,
    optimizer,
    ...(scaler ? { lossScaler: scaler } : {}),
    get stepCount() {
      return optimizer.step;
    },
    gradients(batch) {
      return unscaledGradients(gradientTensors(batch), scaler?.scale);
    },
    step(batch) {
      return deviceSteps.order(optimizer, (device) => runStep(batch, device));
    },
    dispose() {
      optimizer.dispose();
    },
  };
  return trainer;
}
