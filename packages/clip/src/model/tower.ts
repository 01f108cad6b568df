import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '@omnitok/core';
import {
  Dropout,
  type EncoderConfig,
  type EncoderConfigInput,
  Module,
  PatchEmbed,
  poolTokens,
  repeatBatch,
  Rng,
  TokenEmbed,
  TransformerEncoder,
  resolveEncoderConfig,
  sincosTensor,
} from '@omnitok/core/runtime';
import { l2Normalize } from '../loss/scalar.js';

/**
 * What a tower eats: the token tensor alone ([B, N, dim] float32 for continuous tokens, [B, N] int32
 * ids for discrete ones) or with its padding mask [B, N] and, for `eot` pooling, the [B] pooled index.
 */
/**
 * A tower's batch: the tokens, or the tokens with their padding mask, end-of-text positions (`eot`
 * pooling) and, for towers whose positions follow each sample's own grid (SigLIP 2 NaFlex), the grids
 * `[h, w]` per row on the host (`[B·2]`).
 */
export type TowerInput = tf.Tensor | { readonly tokens: tf.Tensor; readonly mask?: tf.Tensor; readonly eotIndex?: tf.Tensor; readonly grid?: Int32Array };

/**
 * One tower per modality: modality embedder (continuous patch projection or discrete-id table) →
 * transformer → pooling → projection to the shared width → L2 normalization.
 *
 * The config is the runtime's `EncoderConfigInput` (tokens, size, pooling, …); `projectionDim` is set
 * by the model to its shared embedding width, or `null` for a tower without projection whose width is
 * that embedding width (SigLIP's image tower). `shareTrunkWith: 'other'` makes this tower reuse the
 * transformer, pooling head and projection of tower `other` with its own embedder, CLS token and
 * position embedding (a VATT-style modality-agnostic backbone); the widths must agree.
 */
export type TowerSpec = EncoderConfigInput & { readonly shareTrunkWith?: string };

export interface Tower extends Module {
  readonly name: string;
  /** The resolved encoder config of this tower's own tokens. */
  readonly config: EncoderConfig;
  /** [B, embedDim] unit rows. */
  forward(input: TowerInput): tf.Tensor;
  /** Gradient checkpointing of the tower's transformer blocks (TransformerEncoder.setGradCheckpointing). */
  setGradCheckpointing(on: boolean): void;
}

export function splitInput(input: TowerInput): { tokens: tf.Tensor; mask?: tf.Tensor; eotIndex?: tf.Tensor; grid?: Int32Array } {
  return input instanceof tf.Tensor ? { tokens: input } : input;
}

/** Rows [start, start + size) of an input (tokens, mask, eotIndex and grids together). */
export function sliceInput(input: TowerInput, start: number, size: number): TowerInput {
  const { tokens, mask, eotIndex, grid } = splitInput(input);
  const rows = (t: tf.Tensor) => t.slice([start], [size]);
  return { tokens: rows(tokens), mask: mask && rows(mask), eotIndex: eotIndex && rows(eotIndex), grid: grid?.subarray(2 * start, 2 * (start + size)) };
}

export function batchSize(input: TowerInput): number {
  return splitInput(input).tokens.shape[0]!;
}

/** A tower with its own complete `TransformerEncoder` (parameters under `encoder.*`). */
export class EncoderTower extends Module implements Tower {
  readonly encoder: TransformerEncoder;
  readonly config: EncoderConfig;

  constructor(
    readonly name: string,
    config: EncoderConfigInput,
    rng: Rng,
  ) {
    super();
    this.encoder = this.child('encoder', new TransformerEncoder(config, rng));
    this.config = this.encoder.config;
  }

  forward(input: TowerInput): tf.Tensor {
    const { tokens, mask, eotIndex, grid } = splitInput(input);
    return tf.tidy(() => l2Normalize(this.encoder.forward(tokens, { mask, eotIndex, grid }).embedding));
  }

  setGradCheckpointing(on: boolean): void {
    this.encoder.setGradCheckpointing(on);
  }
}

/**
 * A tower that owns only its stem (`embed.*`, `cls_token`, `pos_embed`) and runs the blocks, final
 * LayerNorm, pooling and projection of another tower's encoder (whose parameters stay registered
 * there only, so the optimizer sees each shared weight once and gradients from both towers add up).
 */
export class SharedTrunkTower extends Module implements Tower {
  readonly config: EncoderConfig;
  readonly embed: PatchEmbed | TokenEmbed;
  readonly clsToken: tf.Variable | undefined;
  readonly posEmbed: tf.Variable | undefined;
  private readonly fixedPos: tf.Tensor | undefined;
  private readonly embDrop: Dropout;

  constructor(
    readonly name: string,
    config: EncoderConfigInput,
    readonly trunk: TransformerEncoder,
    rng: Rng,
  ) {
    super();
    const t = trunk.config;
    // The stem follows this tower's tokens; everything after it follows the trunk's config.
    const c = resolveEncoderConfig({ ...t, ...config, width: t.width, depth: t.depth, heads: t.heads, clsToken: t.clsToken, pooling: t.pooling, projectionDim: t.projectionDim, projectionBias: t.projectionBias, causal: t.causal });
    if (c.posGrid) throw new InvalidArgumentError(`towers.${name}.posGrid`, c.posGrid, 'absent: a tower on a shared trunk has a fixed position table');
    this.config = c;
    const D = c.width;
    const tok = c.tokens;
    this.embed = this.child('embed', tok.kind === 'continuous' ? new PatchEmbed(tok.dim, D, rng, { bias: c.embedBias }) : new TokenEmbed(tok.vocabSize, D, rng));
    this.clsToken = c.clsToken ? this.param('cls_token', tf.tensor(rng.normals(D, 0.02), [D])) : undefined;
    const prefix = c.clsToken ? 1 : 0;
    if (c.posEmb === 'learned') this.posEmbed = this.param('pos_embed', tf.tensor(rng.normals((tok.count + prefix) * D, 0.02), [tok.count + prefix, D]));
    else if (c.posEmb === 'sincos') {
      const grid = tok.kind === 'continuous' && tok.grid ? tok.grid : [tok.count];
      this.fixedPos = tf.tidy(() => {
        const table = sincosTensor(D, grid);
        return prefix ? tf.concat([tf.zeros([1, D]), table], 0) : table;
      });
    }
    this.embDrop = new Dropout(c.dropout, rng);
  }

  override train(on = true): this {
    this.embDrop.train(on);
    return super.train(on);
  }

  /** The blocks are the trunk's: this sets them for the tower that owns the trunk too. */
  setGradCheckpointing(on: boolean): void {
    this.trunk.setGradCheckpointing(on);
  }

  forward(input: TowerInput): tf.Tensor {
    const { tokens: x, mask, eotIndex } = splitInput(input);
    const c = this.config;
    const N = c.tokens.count;
    const D = c.width;
    if (x.shape[1] !== N) throw new InvalidArgumentError(`${this.name} tokens`, `shape [${x.shape.join(', ')}]`, `[B, ${N}, …] (tokens.count = ${N})`);
    const trunk = this.trunk;
    return tf.tidy(() => {
      const B = x.shape[0]!;
      let h = this.embed.forward(x); // [B, N, D]
      if (this.clsToken) h = tf.concat([repeatBatch(this.clsToken.reshape([1, 1, D]), B), h], 1); // [B, 1+N, D]
      const pos = this.posEmbed ?? this.fixedPos;
      if (pos) h = tf.add(h, pos);
      h = this.embDrop.forward(h);
      if (trunk.lnPre) h = trunk.lnPre.forward(h);
      let keyMask = c.padMask ? mask?.cast('float32') : undefined; // [B, N]
      if (keyMask && this.clsToken) keyMask = tf.concat([tf.ones([B, 1]), keyMask], 1);
      for (const block of trunk.blocks) h = block.forward(h, { keyMask, causal: c.causal });
      const out = trunk.lnFinal.forward(h); // [B, N', D]
      const pooled = poolTokens(c, out, keyMask, eotIndex, trunk.head, this.name);
      return l2Normalize(trunk.proj ? trunk.proj.forward(pooled) : pooled);
    });
  }

  protected override disposeExtra(): void {
    this.fixedPos?.dispose();
  }
}

/** Builds the towers of a model in spec order; shared trunks must name a tower defined before them. */
export function buildTowers(specs: Record<string, TowerSpec>, embedDim: number, rng: Rng): Map<string, Tower> {
  const towers = new Map<string, Tower>();
  for (const [name, spec] of Object.entries(specs)) {
    if (!/^[A-Za-z0-9_]+$/.test(name) || name.includes('__')) throw new InvalidArgumentError('towers', name, 'tower names of letters, digits and single underscores');
    const { shareTrunkWith, ...config } = spec;
    // null: no projection, the pooled vector is the embedding (SigLIP's image tower)
    const unprojected = config.projectionDim === null;
    if (unprojected ? resolveEncoderConfig(config).width !== embedDim : config.projectionDim !== undefined && config.projectionDim !== embedDim) {
      throw new InvalidArgumentError(`towers.${name}.projectionDim`, config.projectionDim, `unset, equal to embedDim (${embedDim}), or null in a tower of width ${embedDim}`);
    }
    if (shareTrunkWith === undefined) {
      towers.set(name, new EncoderTower(name, { ...config, projectionDim: unprojected ? null : embedDim }, rng));
      continue;
    }
    const source = towers.get(shareTrunkWith);
    if (!(source instanceof EncoderTower)) {
      throw new InvalidArgumentError(`towers.${name}.shareTrunkWith`, shareTrunkWith, `the name of a tower with its own encoder defined before "${name}" (${[...towers].filter(([, t]) => t instanceof EncoderTower).map(([n]) => n).join(', ') || 'none'})`);
    }
    towers.set(name, new SharedTrunkTower(name, config, source.encoder, rng));
  }
  return towers;
}
