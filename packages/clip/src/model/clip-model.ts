import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '@omnitok/core';
import { Module, Rng } from '@omnitok/core/runtime';
import { clipLoss } from '../loss/clip-loss.js';
import { CLIP_LOGIT_SCALE_INIT, SIGLIP_LOGIT_BIAS_INIT, SIGLIP_LOGIT_SCALE_INIT } from '../loss/logit-scale.js';
import { sigmoidLoss } from '../loss/sigmoid-loss.js';
import type { Embeddings } from '../eval/embeddings.js';
import { type Tower, type TowerInput, type TowerSpec, batchSize, buildTowers, sliceInput } from './tower.js';

export type Objective = 'clip' | 'siglip';

/** A model as plain JSON (what a checkpoint's config.json holds; `createClipModel(config)` rebuilds it). */
export interface ClipModelConfig {
  /** One tower per modality, by name (letters, digits, single underscores), built in this order. */
  readonly towers: Readonly<Record<string, TowerSpec>>;
  /** Width of the shared embedding space (every tower's projection). */
  readonly embedDim: number;
  /**
   * Which towers are contrasted with which. Default: with `anchor`, every other tower paired with the
   * anchor (ImageBind); without, the two towers of a two-tower model.
   */
  readonly pairs?: readonly (readonly [string, string])[];
  /** The tower every other one binds to (N-way binding); sets the default pairs. */
  readonly anchor?: string;
  /** `clip` (softmax, one learnable scale per pair) or `siglip` (sigmoid, scale and bias per pair). Default clip. */
  readonly objective?: Objective;
  /** Towers whose weights are frozen (LiT): run in eval mode, left out of the optimizer. */
  readonly locked?: readonly string[];
  /** Initial log-scale (default ln(1/0.07) for clip, ln 10 for siglip) and siglip bias (default −10). */
  readonly logitScaleInit?: number;
  readonly logitBiasInit?: number;
  /** Seed of the initial weights (and dropout masks). */
  readonly seed?: number;
}

export interface PairParams {
  readonly a: string;
  readonly b: string;
  /** `a__b`, the key of per-pair losses and parameters (`pairs.a__b.logit_scale`). */
  readonly key: string;
  readonly logitScale: tf.Variable;
  readonly logitBias: tf.Variable | undefined;
}

export interface PairLosses {
  /** Σ of the pair losses (pairs whose two modalities are in the batch). */
  readonly total: tf.Scalar;
  readonly byPair: ReadonlyMap<string, tf.Scalar>;
}

/**
 * Towers for any set of modalities, contrasted pairwise in one shared embedding space: a two-tower
 * CLIP/SigLIP model, or ImageBind-style N-way binding (each modality paired with one anchor, a loss per
 * pair, summed). Parameters: `towers.<name>.…` and `pairs.<a>__<b>.logit_scale` (+ `logit_bias`).
 */
export class ClipModel extends Module {
  readonly config: ClipModelConfig;
  readonly objective: Objective;
  readonly towers: ReadonlyMap<string, Tower>;
  readonly pairs: readonly PairParams[];
  readonly locked: ReadonlySet<string>;
  readonly rng: Rng;
  /** Towers of the config that were not built (`only`). */
  private readonly unbuilt: readonly string[];

  /**
   * `init: 'skip'` (for a model whose every weight is loaded next: `loadStateDict`, a pretrained import)
   * makes the towers' weights zeros instead of drawing them (`Rng.skipDraws`); the logit scales and
   * biases still take their configured values. `only` builds just these towers (e.g. the image tower
   * of a pretrained model that only embeds images: the text tower is never allocated); the others
   * stay in the config and the pairs, and asking for one (`tower`, `encode`, `embed`) is an error.
   */
  constructor(config: ClipModelConfig, options: { readonly init?: 'random' | 'skip'; readonly only?: readonly string[] } = {}) {
    super();
    const objective = config.objective ?? 'clip';
    if (objective !== 'clip' && objective !== 'siglip') throw new InvalidArgumentError('objective', objective, '"clip" or "siglip"');
    if (!Number.isInteger(config.embedDim) || config.embedDim < 1) throw new InvalidArgumentError('embedDim', config.embedDim, 'a positive integer');
    const names = Object.keys(config.towers ?? {});
    if (names.length < 2) throw new InvalidArgumentError('towers', names, 'at least two towers');
    this.config = config;
    this.objective = objective;
    this.rng = new Rng(config.seed ?? 0);
    for (const name of options.only ?? []) if (!names.includes(name)) throw new InvalidArgumentError('only', name, `a tower name (${names.join(', ')})`);
    const specs = options.only ? Object.fromEntries(Object.entries(config.towers).filter(([n]) => options.only!.includes(n))) : config.towers;
    this.unbuilt = names.filter((n) => !(n in specs));
    const build = () => buildTowers(specs, config.embedDim, this.rng);
    const towers = options.init === 'skip' ? this.rng.skipDraws(build) : build();
    for (const [name, tower] of towers) this.child(`towers.${name}`, tower);
    this.towers = towers;
    const pairs = resolvePairs(config, names);
    this.pairs = pairs.map(([a, b]) => {
      const key = `${a}__${b}`;
      const scale = config.logitScaleInit ?? (objective === 'clip' ? CLIP_LOGIT_SCALE_INIT : SIGLIP_LOGIT_SCALE_INIT);
      const logitScale = this.param(`pairs.${key}.logit_scale`, tf.scalar(scale));
      const logitBias = objective === 'siglip' ? this.param(`pairs.${key}.logit_bias`, tf.scalar(config.logitBiasInit ?? SIGLIP_LOGIT_BIAS_INIT)) : undefined;
      return { a, b, key, logitScale, logitBias };
    });
    for (const name of config.locked ?? []) if (!names.includes(name)) throw new InvalidArgumentError('locked', name, `a tower name (${names.join(', ')})`);
    const locked = new Set(config.locked ?? []);
    for (const [name, tower] of towers) {
      const trunkOwner = 'trunk' in tower ? [...towers].find(([, t]) => 'encoder' in t && (t as { encoder: unknown }).encoder === (tower as { trunk: unknown }).trunk)?.[0] : undefined;
      if (trunkOwner && locked.has(trunkOwner) !== locked.has(name)) {
        throw new InvalidArgumentError('locked', [...locked], `both or neither of "${name}" and "${trunkOwner}" (they share a trunk)`);
      }
    }
    this.locked = locked;
    this.train(true);
  }

  tower(name: string): Tower {
    const t = this.towers.get(name);
    if (!t && this.unbuilt.includes(name)) throw new InvalidArgumentError('modality', name, `a tower this model was built with (only ${[...this.towers.keys()].join(', ')}; "${name}" was left out)`);
    if (!t) throw new InvalidArgumentError('modality', name, `one of the model's towers (${[...this.towers.keys()].join(', ')})`);
    return t;
  }

  override train(on = true): this {
    super.train(on);
    for (const name of this.locked) this.towers.get(name)?.train(false);
    return this;
  }

  /**
   * Gradient checkpointing in every tower (open_clip's `set_grad_checkpointing`): the backward keeps
   * each transformer block's input only and recomputes the block — about 1/16 of the activation
   * memory for one more forward of the blocks (~30 % more compute); the gradients are unchanged.
   */
  setGradCheckpointing(on = true): this {
    for (const tower of this.towers.values()) tower.setGradCheckpointing(on);
    return this;
  }

  /** [B, embedDim] unit embeddings of one modality (a tensor; gradients flow when taped). */
  encode(name: string, input: TowerInput): tf.Tensor {
    return this.tower(name).forward(input);
  }

  /** The parameters the optimizer updates: every trainable parameter outside locked towers. */
  optimizerParameters(): Map<string, tf.Variable> {
    const lockedPrefixes = [...this.locked].map((n) => `towers.${n}.`);
    return new Map([...this.trainableParameters()].filter(([k]) => !lockedPrefixes.some((p) => k.startsWith(p))));
  }

  /** Pairs whose two modalities are both present. */
  activePairs(present: Iterable<string>): PairParams[] {
    const have = new Set(present);
    return this.pairs.filter((p) => have.has(p.a) && have.has(p.b));
  }

  /**
   * Σ over active pairs of the objective's loss on unit embeddings (row i of each modality is sample i).
   * `scales` may replace the pair parameters by tensors (the gradient cache passes them as inputs).
   */
  pairLosses(embeddings: ReadonlyMap<string, tf.Tensor>, options: { chunkSize?: number; params?: ReadonlyMap<string, { logitScale: tf.Tensor; logitBias?: tf.Tensor }> } = {}): PairLosses {
    const active = this.activePairs(embeddings.keys());
    if (active.length === 0) throw new InvalidArgumentError('batch', [...embeddings.keys()], `the two modalities of at least one pair (${this.pairs.map((p) => `${p.a}+${p.b}`).join(', ')})`);
    const byPair = new Map<string, tf.Scalar>();
    for (const p of active) {
      const a = embeddings.get(p.a)!;
      const b = embeddings.get(p.b)!;
      const override = options.params?.get(p.key);
      const t = override?.logitScale ?? p.logitScale;
      const loss = this.objective === 'clip' ? clipLoss(a, b, t, { chunkSize: options.chunkSize }) : sigmoidLoss(a, b, t, override?.logitBias ?? p.logitBias, { chunkSize: options.chunkSize });
      byPair.set(p.key, loss);
    }
    const total = (byPair.size === 1 ? [...byPair.values()][0]!.clone() : tf.addN([...byPair.values()])) as tf.Scalar;
    return { total, byPair };
  }

  /**
   * Embeds a whole modality without gradients, in eval mode, `batchSize` samples at a time (default
   * 256), into a Float32Array [n, embedDim] (for `omnitok embed`, retrieval and zero-shot evaluation).
   * The model's train/eval mode is restored afterwards.
   */
  async embed(name: string, input: TowerInput, options: { batchSize?: number } = {}): Promise<Embeddings> {
    const tower = this.tower(name);
    const n = batchSize(input);
    const bs = options.batchSize ?? 256;
    const D = this.config.embedDim;
    const out = new Float32Array(n * D);
    const wasTraining = tower.training;
    tower.train(false);
    try {
      for (let s = 0; s < n; s += bs) {
        const size = Math.min(bs, n - s);
        const e = tf.tidy(() => tower.forward(sliceInput(input, s, size)));
        out.set((await e.data()) as Float32Array, s * D);
        e.dispose();
      }
    } finally {
      tower.train(wasTraining && !this.locked.has(name));
    }
    return { data: out, shape: [n, D] };
  }
}

function resolvePairs(config: ClipModelConfig, names: string[]): [string, string][] {
  const check = (n: string, where: string) => {
    if (!names.includes(n)) throw new InvalidArgumentError(where, n, `a tower name (${names.join(', ')})`);
  };
  if (config.pairs) {
    if (config.pairs.length === 0) throw new InvalidArgumentError('pairs', [], 'at least one pair');
    return config.pairs.map(([a, b], i) => {
      check(a, `pairs[${i}][0]`);
      check(b, `pairs[${i}][1]`);
      if (a === b) throw new InvalidArgumentError(`pairs[${i}]`, [a, b], 'two different towers');
      return [a, b];
    });
  }
  if (config.anchor !== undefined) {
    check(config.anchor, 'anchor');
    return names.filter((n) => n !== config.anchor).map((n) => [config.anchor!, n]);
  }
  if (names.length !== 2) throw new InvalidArgumentError('pairs', undefined, `explicit pairs or an anchor for ${names.length} towers`);
  return [[names[0]!, names[1]!]];
}

/** A two-tower (or explicitly paired) model from plain JSON (`init: 'skip'`: see the ClipModel constructor). */
export function createClipModel(config: ClipModelConfig, options: { readonly init?: 'random' | 'skip' } = {}): ClipModel {
  return new ClipModel(config, options);
}

/** ImageBind-style N-way binding: every tower except `anchor` is paired with the anchor. */
export function createBindModel(config: Omit<ClipModelConfig, 'pairs'> & { readonly anchor: string }): ClipModel {
  return new ClipModel(config);
}
