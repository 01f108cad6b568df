import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../errors/index.js';
import type { DenseArray } from '../io/index.js';
import { throwOnDeviceErrors } from './device-errors.js';
import { NonFiniteError } from './errors.js';
import { fusedAdamW, fusedSumSquares } from './kernels/fused-ops.js';
import { type WebgpuAdamWParam, webgpuAdamW, webgpuGlobalNorm, webgpuKernelsActive, webgpuStepGuard } from './kernels/webgpu/fused-ops.js';

/** Which parameters get no weight decay. Default: rank < 2 (gains, biases, LayerScale, CLS) and embeddings. */
export type DecayFilter = (name: string, shape: readonly number[]) => boolean;

/** The default no-decay rule: vectors (LayerNorm gains/biases, biases, LayerScale, CLS) and position/token embeddings, probes. */
export const defaultNoDecay: DecayFilter = (name, shape) => shape.length < 2 || /(^|\.)(pos_embed|cls_token|probe)$|(^|\.)embed\.weight$/.test(name);

export interface AdamWOptions {
  /** Peak learning rate (a schedule multiplies nothing: it returns the lr itself, see warmupCosine). */
  readonly lr?: number;
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  readonly weightDecay?: number;
  /** Returns true for parameters to exclude from weight decay. */
  readonly noDecay?: DecayFilter;
}

/**
 * AdamW (Loshchilov & Hutter), step for step like `torch.optim.AdamW`:
 *   p ← p·(1 − lr·wd);  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
 *   p ← p − (lr / (1−β1^t)) · m / (√v / √(1−β2^t) + eps)
 * State (m, v per parameter, the step count) is saved in checkpoints for exact resume.
 */
export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  lr: number;
  /** Number of updates applied so far. */
  step = 0;
  private readonly m = new Map<string, tf.Variable>();
  private readonly v = new Map<string, tf.Variable>();
  private readonly decays = new Map<string, boolean>();

  constructor(
    readonly params: Map<string, tf.Variable>,
    options: AdamWOptions = {},
  ) {
    this.lr = options.lr ?? 1e-3;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    for (const [k, b] of [['beta1', this.beta1], ['beta2', this.beta2]] as const) {
      if (!(b >= 0 && b < 1)) throw new InvalidArgumentError(`options.${k}`, b, 'a number in [0, 1)');
    }
    if (!(this.eps > 0)) throw new InvalidArgumentError('options.eps', this.eps, 'a positive number');
    if (!(this.weightDecay >= 0)) throw new InvalidArgumentError('options.weightDecay', this.weightDecay, 'a number ≥ 0');
    const noDecay = options.noDecay ?? defaultNoDecay;
    for (const [name, p] of params) {
      if (!p.trainable) continue;
      this.m.set(name, zerosVariable(p.shape));
      this.v.set(name, zerosVariable(p.shape));
      this.decays.set(name, !noDecay(name, p.shape));
    }
  }

  /** Names of the parameters that are decayed. */
  decayed(): string[] {
    return [...this.decays].filter(([, d]) => d).map(([n]) => n);
  }

  /** Applies one update from gradients by parameter name (missing names are left alone). */
  apply(grads: Map<string, tf.Tensor>, lr = this.lr): void {
    this.applyWith(grads, lr);
  }

  /**
   * True when `applyGuarded` can run: every parameter takes the device path (the `webgpu` kernels are
   * active and every trainable parameter is float32).
   */
  canApplyGuarded(): boolean {
    return webgpuKernelsActive() && [...this.m.keys()].every((name) => this.params.get(name)?.dtype === 'float32');
  }

  /**
   * One update on the device with a step guard ([norm, scale] from `webgpuStepGuard`): gradients are
   * scaled by the clip factor, and a step the guard flags as non-finite leaves p, m and v unchanged.
   * The step count advances either way: a caller that learns afterwards that the step was flagged
   * calls `undoStepCount()`. Only when `canApplyGuarded()`.
   */
  applyGuarded(grads: Map<string, tf.Tensor>, lr: number, guard: tf.Tensor): void {
    if (!this.canApplyGuarded()) throw new Error('AdamW.applyGuarded needs the webgpu kernels (check canApplyGuarded() first)');
    this.applyWith(grads, lr, guard);
  }

  /** Takes back the step count of a step the device guard skipped. */
  undoStepCount(): void {
    this.step = Math.max(0, this.step - 1);
  }

  private applyWith(grads: Map<string, tf.Tensor>, lr: number, guard?: tf.Tensor): void {
    this.step += 1;
    const t = this.step;
    const bc1 = 1 - this.beta1 ** t;
    const bc2 = 1 - this.beta2 ** t;
    tf.tidy(() => {
      // `webgpu`: every parameter in a few dispatches (several parameters each), with the step guard or,
      // without one, [norm, scale = 1]
      const onDevice = guard ?? (webgpuKernelsActive() ? tf.tensor1d([0, 1]) : undefined);
      const deviceParams: WebgpuAdamWParam[] = [];
      for (const [name, p] of this.params) {
        const g = grads.get(name);
        const m = this.m.get(name);
        const v = this.v.get(name);
        if (!g || !m || !v) continue;
        const decay = this.decays.get(name) && this.weightDecay > 0 ? 1 - lr * this.weightDecay : 1;
        if (onDevice && p.dtype === 'float32' && g.size === p.size) {
          deviceParams.push({ p, g, m, v, decay });
          continue;
        }
        if (guard) throw new InvalidArgumentError(`grads.get('${name}')`, `${g.size} values`, `the ${p.size} of the parameter`);
        // `native`: one in-place pass over p, m, v (same arithmetic as below)
        const hyper = { lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, decay, bc1, bc2 };
        if (fusedAdamW(p, g, m, v, hyper)) continue;
        const m1 = tf.add(tf.mul(m, this.beta1), tf.mul(g, 1 - this.beta1));
        const v1 = tf.add(tf.mul(v, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        m.assign(m1);
        v.assign(v1);
        const decayed = this.decays.get(name) && this.weightDecay > 0 ? tf.mul(p, 1 - lr * this.weightDecay) : p;
        const denom = tf.add(tf.div(tf.sqrt(v1), Math.sqrt(bc2)), this.eps);
        p.assign(tf.sub(decayed, tf.mul(tf.div(m1, denom), lr / bc1)));
      }
      if (deviceParams.length > 0 && !webgpuAdamW(deviceParams, { lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, bc1, bc2 }, onDevice!)) {
        throw new Error('webgpu AdamW unavailable although the kernels are active');
      }
    });
  }

  /** The moments as named arrays (`m.<param>`, `v.<param>`) plus the step, for checkpoints. */
  async stateDict(): Promise<{ tensors: Record<string, DenseArray<Float32Array>>; step: number }> {
    const tensors: Record<string, DenseArray<Float32Array>> = {};
    for (const [name, t] of this.stateVariables()) tensors[name] = { data: (await t.data()) as Float32Array, shape: [...t.shape] };
    return { tensors, step: this.step };
  }

  /** The moment variables by their `stateDict` names, in its order (`m.*` then `v.*`): a writer reads them one at a time. */
  stateVariables(): [string, tf.Variable][] {
    return [...[...this.m].map(([n, t]) => [`m.${n}`, t] as [string, tf.Variable]), ...[...this.v].map(([n, t]) => [`v.${n}`, t] as [string, tf.Variable])];
  }

  /** The number of updates applied (the bias correction's t). */
  get stepCount(): number {
    return this.step;
  }

  loadStateDict(state: { tensors: Record<string, DenseArray>; step: number }): void {
    for (const [prefix, store] of [['m', this.m], ['v', this.v]] as const) {
      for (const [name, variable] of store) {
        const w = state.tensors[`${prefix}.${name}`];
        if (!w || w.shape.length !== variable.shape.length || w.shape.some((d, i) => d !== variable.shape[i])) {
          throw new InvalidArgumentError(`optimizer state ${prefix}.${name}`, w ? `shape [${w.shape.join(', ')}]` : 'missing', `shape [${variable.shape.join(', ')}]`);
        }
        tf.tidy(() => variable.assign(tf.tensor(w.data as Float32Array, [...variable.shape], 'float32')));
      }
    }
    this.step = state.step;
  }

  dispose(): void {
    for (const v of [...this.m.values(), ...this.v.values()]) v.dispose();
  }
}

export interface WarmupCosineOptions {
  readonly baseLr: number;
  readonly warmupSteps: number;
  readonly totalSteps: number;
  /** Final learning rate (default 0). */
  readonly minLr?: number;
}

/**
 * Linear warmup from baseLr/warmupSteps to baseLr over `warmupSteps` (step 0 gets baseLr/warmupSteps),
 * then a half cosine down to `minLr` at `totalSteps` (and minLr after).
 */
export function warmupCosine(o: WarmupCosineOptions): (step: number) => number {
  const min = o.minLr ?? 0;
  if (!(o.totalSteps > 0) || !(o.warmupSteps >= 0) || o.warmupSteps > o.totalSteps) {
    throw new InvalidArgumentError('schedule', o, 'warmupSteps ≥ 0, totalSteps > 0 and warmupSteps ≤ totalSteps');
  }
  return (step) => {
    if (step < o.warmupSteps) return (o.baseLr * (step + 1)) / o.warmupSteps;
    const decay = o.totalSteps - o.warmupSteps;
    const progress = decay === 0 ? 1 : Math.min((step - o.warmupSteps) / decay, 1);
    return min + 0.5 * (o.baseLr - min) * (1 + Math.cos(Math.PI * progress));
  };
}

/** √(Σ‖g‖²) over all gradients, as a scalar tensor. */
export function globalNorm(grads: Iterable<tf.Tensor>): tf.Scalar {
  const list = [...grads];
  const native = fusedSumSquares(list); // `native`: one pass per gradient, double accumulation
  if (native !== undefined) return tf.scalar(Math.sqrt(native));
  const webgpu = webgpuGlobalNorm(list); // `webgpu`: one dispatch per gradient into one buffer, one Sum
  if (webgpu) return webgpu;
  return tf.tidy(() => {
    // a chain of adds, not tf.addN: a many-input AddN shader exceeds the storage-buffer limit of some
    // WebGPU adapters (lavapipe: 16) and then silently yields zeros
    let total: tf.Tensor = tf.scalar(0);
    for (const g of list) total = tf.add(total, tf.sum(tf.square(g)));
    return tf.sqrt(total) as tf.Scalar;
  });
}

/**
 * Scales gradients so their global norm is at most `maxNorm` (like torch's clip_grad_norm_:
 * coefficient maxNorm / (norm + 1e-6), capped at 1). Returns new tensors; the inputs are not disposed.
 */
export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number, norm: number): Map<string, tf.Tensor> {
  const coef = Math.min(maxNorm / (norm + 1e-6), 1);
  return new Map([...grads].map(([k, g]) => [k, tf.mul(g, coef)] as const));
}

/**
 * Loss scaling for f16 GEMMs (`setWebgpuMatmulPrecision('f16')`): gradients are computed for
 * S·loss, so that small ones survive the f16 rounding of GEMM operands, and divided by S before the
 * norm, the clipping and the update (as torch.cuda.amp.GradScaler). A number: a fixed S (a non-finite
 * step still throws NonFiniteError). `dynamic`: S starts at `init` (2¹⁶); a step whose loss or
 * gradients come out non-finite (an overflow) is skipped — no update, the step count unchanged,
 * `skipped` in its StepResult — and halves S; `growthInterval` (2 000) finite steps in a row double
 * it. Non-finite values with S below 1 are the model's own: NonFiniteError.
 */
export type LossScale = number | 'dynamic' | { readonly init?: number; readonly growthInterval?: number };

export interface TrainerOptions {
  readonly optimizer: AdamW;
  /** lr for a step (0-based); default: the optimizer's constant lr. */
  readonly schedule?: (step: number) => number;
  /** Clip the global gradient norm to this (0 / undefined: no clipping; the norm is still reported). */
  readonly clipNorm?: number;
  /** See LossScale; default none (S = 1). */
  readonly lossScale?: LossScale;
}

export interface StepResult {
  /** The step just applied (0-based), or the one a dynamic loss scale skipped. */
  readonly step: number;
  /** Mean loss over the micro-batches. */
  readonly loss: number;
  /** Global gradient norm before clipping (of the unscaled gradients). */
  readonly gradNorm: number;
  readonly lr: number;
  /** The loss scale this step ran with (with `lossScale` set). */
  readonly lossScale?: number;
  /**
   * True when nothing was updated: a dynamic loss scale skipped this step (an overflow), or `behind`.
   */
  readonly skipped?: boolean;
  /**
   * Skipped because it was queued while the step before it, which came out non-finite, was still in
   * flight (webgpu, one step in flight): its own values (computed before that step's outcome was known,
   * at its loss scale) do not count, and its batch may be stepped again.
   */
  readonly behind?: boolean;
}

/**
 * The loss scale of a training loop (see LossScale): `scale` for the next step, then `finite()` or
 * `overflow()` with its outcome. Shared by `Trainer` and `@omnitok/clip`'s trainer.
 */
export class LossScaler {
  private current: number;
  private readonly dynamic: boolean;
  private readonly growthInterval: number;
  private goodSteps = 0;

  constructor(option: LossScale) {
    if (typeof option === 'number') {
      if (!(option > 0) || !Number.isFinite(option)) throw new InvalidArgumentError('lossScale', option, 'a positive finite number, "dynamic" or { init, growthInterval }');
      this.current = option;
      this.dynamic = false;
      this.growthInterval = Infinity;
      return;
    }
    const { init = 2 ** 16, growthInterval = 2000 } = option === 'dynamic' ? {} : option;
    if (!(init > 0) || !Number.isFinite(init)) throw new InvalidArgumentError('lossScale.init', init, 'a positive finite number');
    if (!Number.isInteger(growthInterval) || growthInterval < 1) throw new InvalidArgumentError('lossScale.growthInterval', growthInterval, 'a positive integer');
    this.current = init;
    this.dynamic = true;
    this.growthInterval = growthInterval;
  }

  /** The scale the next step runs with. */
  get scale(): number {
    return this.current;
  }

  /** What a checkpoint keeps for an exact resume (the scale and the count of clean steps). */
  state(): { readonly scale: number; readonly goodSteps: number } {
    return { scale: this.current, goodSteps: this.goodSteps };
  }

  /** Restores `state()`. */
  loadState(state: { readonly scale: number; readonly goodSteps: number }): void {
    if (!(state.scale > 0) || !Number.isFinite(state.scale)) throw new InvalidArgumentError('lossScale state.scale', state.scale, 'a positive finite number');
    if (!Number.isInteger(state.goodSteps) || state.goodSteps < 0) throw new InvalidArgumentError('lossScale state.goodSteps', state.goodSteps, 'a non-negative integer');
    this.current = state.scale;
    this.goodSteps = state.goodSteps;
  }

  /** A step with finite loss and gradients ran: counts towards doubling a dynamic scale. */
  finite(): void {
    if (this.dynamic && ++this.goodSteps >= this.growthInterval) {
      this.current *= 2;
      this.goodSteps = 0;
    }
  }

  /**
   * A step came out non-finite: true when a dynamic scale (still ≥ 1) takes it as an overflow — the
   * caller skips the step; the scale halves — false when the caller should report the non-finite value.
   */
  overflow(): boolean {
    if (!this.dynamic || this.current < 1) return false;
    this.current /= 2;
    this.goodSteps = 0;
    return true;
  }
}

/**
 * A step whose loss or gradient norm came out non-finite, nothing updated: true when `scaler` (a
 * dynamic one, still ≥ 1) takes it as an overflow — the caller skips the step; the scale has halved —
 * else throws NonFiniteError naming the loss (when it is the non-finite one) or the gradient norm.
 * The one policy of `Trainer` and `@omnitok/clip`'s trainer.
 */
export function skipNonFiniteStep(scaler: LossScaler | undefined, step: number, loss: number, gradNorm: number): true {
  if (scaler?.overflow()) return true;
  if (!Number.isFinite(loss)) throw new NonFiniteError(step, 'loss', loss);
  throw new NonFiniteError(step, 'gradient norm', gradNorm);
}

/** What a guarded device step came to (`QueuedStep.read`). */
export interface GuardOutcome {
  /** Global gradient norm (of the unscaled gradients). */
  readonly gradNorm: number;
  /** Loss and norm were finite. */
  readonly finite: boolean;
  /** The update was applied: finite, and not queued behind a non-finite step. */
  readonly applied: boolean;
}

/** A step `GuardedSteps.queue` put on the device. */
export interface QueuedStep {
  /** The guard [norm, scale, finite] (owned by the queue: disposed by `settle`). */
  readonly guard: tf.Tensor;
  /** The guard's values, once every step queued before this one has settled. */
  read(): Promise<GuardOutcome>;
  /**
   * The host's side of the outcome, in queue order, as the StepResult fields it adds: applied — a
   * dynamic loss scale counts a clean step, `{}`; otherwise the step count is taken back, and a step
   * that was itself non-finite goes to `skipNonFiniteStep` (NonFiniteError unless a dynamic scale takes
   * it as an overflow: `{ skipped }`), while one queued behind a non-finite step is `{ skipped, behind }`
   * (finite or not: its batch may be stepped again, at the scale the step before left). Then the step
   * is settled and the next one may read. `loss`: the value read beside the guard, for the error's message.
   */
  settle(outcome: { readonly outcome: GuardOutcome; readonly step: number; readonly loss: number; readonly scaler?: LossScaler }): { readonly skipped?: true; readonly behind?: true };
  /** Settles the step without an outcome when `read` or `settle` threw (call it in a `finally`; after `settle` it does nothing). */
  release(): void;
}

/** A queued step until it settles: its guard, when it settles, and whether it was finite (for the step behind). */
interface GuardEntry {
  readonly guard: tf.Tensor;
  readonly settled: Promise<void>;
  finite?: boolean;
}

/**
 * The webgpu device steps of one training loop. `queue` puts a whole AdamW update on the device behind
 * a step guard (`webgpuStepGuard`): the global gradient norm, the clip factor and the finiteness of
 * loss and norm are computed there, and a non-finite step leaves p, m and v as they were — so a step
 * needs no read-back before its update (issue 12: "zero readbacks inside a step"), and a loop may queue
 * step n + 1 before it reads step n (one step in flight: the GPU never waits for the host between
 * steps, as PyTorch's loop runs). For that, each guard is chained to the guard of the step still
 * unsettled when it was queued, so a step behind a non-finite one is not applied either (as if the
 * loop had stopped or, under a dynamic loss scale, skipped both), and steps settle in queue order.
 * `order` runs each step of a trainer that way, or in turn where the optimizer takes host steps.
 */
export class GuardedSteps {
  private last: GuardEntry | undefined;
  /** The last step `order` ran, settled or not (host steps wait for it). */
  private tail: Promise<unknown> = Promise.resolve();

  /**
   * Runs a training step in the loop's order: `run(true)` at once where `optimizer` takes device steps
   * (queued behind every step before it: the device runs in order), else `run(false)` once every step
   * called before it is done (a host step computes its gradients from the weights those applied).
   * Results resolve in call order either way.
   */
  order<T>(optimizer: AdamW, run: (device: boolean) => Promise<T>): Promise<T> {
    const result = optimizer.canApplyGuarded() ? run(true) : this.tail.then(() => run(false));
    this.tail = result.catch(() => undefined);
    return result;
  }

  /**
   * Queues the update: `grads` are the gradients of `loss`/`gradScale` (under a loss scale S,
   * gradScale = 1/S: the guard's norm is that of the true gradients). Undefined when the device path
   * is unavailable (not webgpu, a non-float32 parameter, an empty gradient): then nothing was queued
   * and the caller takes the host path.
   */
  queue(optimizer: AdamW, grads: Map<string, tf.Tensor>, loss: tf.Tensor, options: { readonly lr: number; readonly clipNorm?: number; readonly gradScale?: number }): QueuedStep | undefined {
    if (!optimizer.canApplyGuarded()) return undefined;
    const before = this.last;
    const guard = webgpuStepGuard([...grads.values()], loss, options.clipNorm ?? 0, options.gradScale ?? 1, before?.guard);
    if (!guard) return undefined;
    optimizer.applyGuarded(grads, options.lr, guard);
    let markSettled!: () => void;
    const entry: GuardEntry = { guard, settled: new Promise<void>((resolve) => (markSettled = resolve)) };
    this.last = entry;
    let done = false;
    const finish = (finite?: boolean) => {
      done = true;
      entry.finite = finite;
      if (this.last === entry) this.last = undefined;
      guard.dispose(); // a step queued behind reads it on the device, which runs in queue order
      markSettled();
    };
    return {
      guard,
      read: async () => {
        const [values] = await Promise.all([guard.data(), before?.settled]);
        return { gradNorm: values[0]!, finite: values[2] === 1, applied: values[1] !== 0 };
      },
      settle: (result) => {
        if (done) throw new Error('a queued step settles once');
        try {
          if (result.outcome.applied) {
            result.scaler?.finite();
            return {};
          }
          optimizer.undoStepCount(); // the guard made AdamW skip it
          // behind a non-finite step: whatever its own values (computed at a loss scale since halved),
          // only the step before counts
          if (result.outcome.finite || before?.finite === false) return { skipped: true, behind: true };
          skipNonFiniteStep(result.scaler, result.step, result.loss, result.outcome.gradNorm);
          return { skipped: true };
        } finally {
          finish(result.outcome.finite);
        }
      },
      release: () => {
        if (!done) finish();
      },
    };
  }
}

/**
 * One optimizer step from one or more micro-batches (gradient accumulation): `lossFn(i)` builds the
 * scalar loss of micro-batch i; gradients are averaged over the micro-batches, clipped, checked and
 * applied. A NaN/±Inf loss or gradient norm throws NonFiniteError naming the step, before any update.
 * All intermediate tensors are disposed.
 *
 * `trainStep` may be called again before the previous call's promise resolved: on webgpu the next step
 * is then queued at once, behind the previous one on the device (one step in flight, the GPU never
 * idle between steps; see GuardedSteps — a step queued behind a non-finite one is skipped, and resolves
 * with `skipped`), elsewhere it starts once the previous one is done. Results resolve in order.
 */
export class Trainer {
  private readonly scaler: LossScaler | undefined;
  private readonly deviceSteps = new GuardedSteps();

  constructor(
    readonly params: Map<string, tf.Variable>,
    readonly options: TrainerOptions,
  ) {
    this.scaler = options.lossScale === undefined ? undefined : new LossScaler(options.lossScale);
  }

  get step(): number {
    return this.options.optimizer.step;
  }

  /** The loss scale the next step runs with (1 without `lossScale`). */
  get lossScale(): number {
    return this.scaler?.scale ?? 1;
  }

  trainStep(lossFn: (micro: number) => tf.Scalar, microBatches = 1): Promise<StepResult> {
    if (!Number.isInteger(microBatches) || microBatches < 1) return Promise.reject(new InvalidArgumentError('microBatches', microBatches, 'a positive integer'));
    return this.deviceSteps.order(this.options.optimizer, (device) => this.runStep(lossFn, microBatches, device));
  }

  private async runStep(lossFn: (micro: number) => tf.Scalar, microBatches: number, device: boolean): Promise<StepResult> {
    const step = this.step;
    const trainable = [...this.params].filter(([, v]) => v.trainable);
    const byId = new Map(trainable.map(([n, v]) => [v.name, n] as const));
    const varList = trainable.map(([, v]) => v);
    let sum: Map<string, tf.Tensor> | undefined;
    let lossSum: tf.Scalar | undefined;
    const scale = this.lossScale;
    try {
      for (let i = 0; i < microBatches; i++) {
        const { value, grads } = tf.variableGrads(() => (scale === 1 ? lossFn(i) : tf.mul(lossFn(i), scale)), varList);
        const named = new Map(Object.entries(grads).map(([id, g]) => [byId.get(id)!, g] as const));
        if (!sum || !lossSum) {
          sum = named;
          lossSum = value;
        } else {
          const next = new Map([...sum].map(([k, g]) => [k, tf.add(g, named.get(k)!)] as const));
          const nextLoss = tf.add(lossSum, value) as tf.Scalar;
          tf.dispose([...sum.values(), ...named.values(), lossSum, value]);
          sum = next;
          lossSum = nextLoss;
        }
      }
      const lr = this.options.schedule ? this.options.schedule(step) : this.options.optimizer.lr;
      // the mean over micro-batches; the device step divides by the loss scale in its guard
      const divisor = microBatches * (device ? 1 : scale);
      if (divisor !== 1) {
        const mean = new Map([...sum!].map(([k, g]) => [k, tf.div(g, divisor)] as const));
        tf.dispose([...sum!.values()]);
        sum = mean;
      }
      const grads = sum!;
      if (device) {
        // queued by the time deviceStep returns its promise: the gradients can go (the device reads
        // them before anything reuses their buffers); a step in flight keeps none of them
        const pending = this.deviceStep(step, grads, lossSum!, microBatches, lr);
        tf.dispose([...grads.values(), lossSum!]);
        return await pending;
      }
      // the mean loss and the global gradient norm, read together (tf.stack of GPU-resident scalars
      // returns zeros on the WebGPU backend, so two concurrent reads instead of one)
      const lossT = tf.div(lossSum!, microBatches * scale);
      const normT = globalNorm(grads.values());
      const [lossData, normData] = await Promise.all([lossT.data(), normT.data()]);
      tf.dispose([lossT, normT]);
      throwOnDeviceErrors(); // a GPU error shows as zeros or NaN: name it instead
      const loss = lossData[0]!;
      const gradNorm = normData[0]!;
      if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) return this.nonFinite(step, loss, gradNorm, lr);
      if (this.options.clipNorm && this.options.clipNorm > 0 && gradNorm > this.options.clipNorm) {
        const clipped = clipByGlobalNorm(grads, this.options.clipNorm, gradNorm);
        this.options.optimizer.apply(clipped, lr);
        tf.dispose([...clipped.values()]);
      } else {
        this.options.optimizer.apply(grads, lr);
      }
      return this.finite({ step, loss, gradNorm, lr });
    } finally {
      if (sum) tf.dispose([...sum.values()]);
      lossSum?.dispose();
    }
  }

  /**
   * The webgpu step: norm, clip factor and finiteness are computed on the device (`GuardedSteps`)
   * and the update is queued right behind the backward pass, so the GPU never waits for the host in
   * the middle of a step; loss and norm are read once, after. A non-finite step was skipped by the
   * AdamW kernels themselves, so the error still comes before any update.
   */
  private async deviceStep(step: number, grads: Map<string, tf.Tensor>, lossSum: tf.Scalar, microBatches: number, lr: number): Promise<StepResult> {
    const scale = this.lossScale;
    const lossT = tf.div(lossSum, microBatches * scale);
    const queued = this.deviceSteps.queue(this.options.optimizer, grads, lossT, { lr, clipNorm: this.options.clipNorm, gradScale: 1 / scale });
    if (!queued) throw new Error('webgpu step guard unavailable although the kernels are active');
    try {
      const [lossData, outcome] = await Promise.all([lossT.data(), queued.read()]);
      throwOnDeviceErrors();
      const loss = lossData[0]!;
      return { step, loss, gradNorm: outcome.gradNorm, lr, ...(this.scaler ? { lossScale: scale } : {}), ...queued.settle({ outcome, step, loss, scaler: this.scaler }) };
    } finally {
      queued.release();
      lossT.dispose();
    }
  }

  /** A finite step: counts towards a dynamic scale's growth. */
  private finite(result: StepResult): StepResult {
    if (!this.scaler) return result;
    const ran = this.scaler.scale;
    this.scaler.finite();
    return { ...result, lossScale: ran };
  }

  /** A non-finite loss or norm (nothing was updated): a dynamic scale halves and skips, else NonFiniteError. */
  private nonFinite(step: number, loss: number, gradNorm: number, lr: number): StepResult {
    const ran = this.scaler?.scale;
    skipNonFiniteStep(this.scaler, step, loss, gradNorm);
    return { step, loss, gradNorm, lr, lossScale: ran, skipped: true };
  }
}

function zerosVariable(shape: readonly number[]): tf.Variable {
  const zeros = tf.zeros([...shape]);
  const v = tf.variable(zeros, false);
  zeros.dispose();
  return v;
}
