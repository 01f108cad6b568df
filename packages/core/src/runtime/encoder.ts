import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../errors/index.js';
import { type EncoderConfig, type EncoderConfigInput, resolveEncoderConfig } from './config.js';
import { MultiHeadAttention } from './layers/attention.js';
import { Block } from './layers/block.js';
import { recordingGradients } from './grad-checkpoint.js';
import { Dropout } from './layers/dropout.js';
import { PatchEmbed, TokenEmbed } from './layers/embedders.js';
import { repeatBatch } from './layers/repeat-batch.js';
import { LayerNorm } from './layers/layer-norm.js';
import { Linear } from './layers/linear.js';
import { Mlp } from './layers/mlp.js';
import { sincosTensor } from './layers/pos-embed.js';
import { Module } from './module.js';
import { Rng } from './rng.js';

/** Inputs besides the tokens. */
export interface EncodeOptions {
  /** [B, N] 1 = real token, 0 = padding: masks attention keys and mean pooling. */
  readonly mask?: tf.Tensor;
  /** [B] int32: position (0-based, among the N input tokens) of the token to pool with `eot` pooling. */
  readonly eotIndex?: tf.Tensor;
  /**
   * `[B·2]` on the host: each sample's token grid `[h, w]`, its first h·w tokens in row-major order —
   * for an encoder with `posGrid`, whose position table is resized to each grid (the weights are built
   * on the host, so the grids are not read back from a device).
   */
  readonly grid?: Int32Array;
}

export interface EncoderOutput {
  /** [B, N(+1), D] after the final LayerNorm (CLS first when present). */
  readonly tokens: tf.Tensor;
  /** [B, D] pooled. */
  readonly pooled: tf.Tensor;
  /** [B, projectionDim] (or the pooled [B, D] when there is no projection). */
  readonly embedding: tf.Tensor;
}

/**
 * Attention pooling (big_vision's MAP head): a learned `probe` [1, 1, D] attends over the tokens,
 * then x + mlp(ln(x)); the probe's output is the pooled vector.
 */
export class MapHead extends Module {
  readonly probe: tf.Variable;
  readonly attn: MultiHeadAttention;
  readonly ln: LayerNorm;
  readonly mlp: Mlp;

  constructor(c: EncoderConfig, rng: Rng) {
    super();
    this.probe = this.param('probe', tf.tensor(rng.normals(c.width, 0.02), [1, 1, c.width]));
    this.attn = this.child('attn', new MultiHeadAttention(c.width, c.heads, rng, { bias: c.qkvBias }));
    this.ln = this.child('ln', new LayerNorm(c.width, c.lnEps));
    this.mlp = this.child('mlp', new Mlp(c.width, Math.round(c.width * c.mlpRatio), c.gelu, rng));
  }

  forward(x: tf.Tensor, keyMask?: tf.Tensor): tf.Tensor {
    const [B, , D] = x.shape as [number, number, number];
    const probe = repeatBatch(this.probe, B); // [B, 1, D]
    const a = this.attn.forward(probe, x, { keyMask }); // [B, 1, D]
    const out = tf.add(a, this.mlp.forward(this.ln.forward(a))); // [B, 1, D]
    return out.reshape([B, D]); // [B, D]
  }
}

/**
 * embedder → (+ position) → [CLS] → (ln_pre) → blocks → ln_final → pooling → (proj).
 *
 * Parameter names: `embed.proj.{weight,bias}` (continuous) or `embed.weight` (discrete), `cls_token` [D],
 * `pos_embed` [N(+1), D] (learned; the CLS row first), `ln_pre.*`, `blocks.{i}.{ln1,attn.qkv,attn.proj,
 * ls1.gamma,ln2,mlp.fc1,mlp.fc2,ls2.gamma}.*`, `ln_final.*`, `head.*` (map pooling), `proj.weight`
 * (+ `proj.bias` with `projectionBias`).
 */
export class TransformerEncoder extends Module {
  readonly config: EncoderConfig;
  readonly embed: PatchEmbed | TokenEmbed;
  readonly clsToken: tf.Variable | undefined;
  readonly posEmbed: tf.Variable | undefined;
  readonly lnPre: LayerNorm | undefined;
  readonly blocks: Block[];
  readonly lnFinal: LayerNorm;
  readonly head: MapHead | undefined;
  readonly proj: Linear | undefined;
  private readonly fixedPos: tf.Tensor2D | undefined;
  private readonly embDrop: Dropout;

  /** `rng` draws the initial weights and, later, the dropout masks (pass the run's Rng to resume exactly). */
  constructor(config: EncoderConfigInput | EncoderConfig, rng: Rng = new Rng(0)) {
    super();
    const c = resolveEncoderConfig(config as EncoderConfigInput);
    this.config = c;
    const D = c.width;
    const t = c.tokens;
    this.embed = this.child('embed', t.kind === 'continuous' ? new PatchEmbed(t.dim, D, rng, { bias: c.embedBias }) : new TokenEmbed(t.vocabSize, D, rng));
    this.clsToken = c.clsToken ? this.param('cls_token', tf.tensor(rng.normals(D, 0.02), [D])) : undefined;
    const prefix = c.clsToken ? 1 : 0;
    const rows = c.posGrid ? c.posGrid[0] * c.posGrid[1] : t.count + prefix;
    if (c.posEmb === 'learned') this.posEmbed = this.param('pos_embed', tf.tensor(rng.normals(rows * D, 0.02), [rows, D]));
    else if (c.posEmb === 'sincos') {
      const grid = t.kind === 'continuous' && t.grid ? t.grid : [t.count];
      const table = sincosTensor(D, grid); // [N, D]
      this.fixedPos = prefix ? tf.tidy(() => tf.concat([tf.zeros([1, D]), table], 0) as tf.Tensor2D) : table; // [N(+1), D], CLS gets zeros
      if (prefix) table.dispose();
    }
    this.lnPre = c.preNorm ? this.child('ln_pre', new LayerNorm(D, c.lnEps)) : undefined;
    const projStd = 0.02 / Math.sqrt(2 * c.depth);
    this.blocks = Array.from({ length: c.depth }, () => new Block({ ...c, projStd }, rng));
    this.blocks.forEach((b, i) => this.child(`blocks.${i}`, b));
    this.lnFinal = this.child('ln_final', new LayerNorm(D, c.lnEps));
    this.head = c.pooling === 'map' ? this.child('head', new MapHead(c, rng)) : undefined;
    this.proj = c.projectionDim !== null ? this.child('proj', new Linear(D, c.projectionDim, rng, { bias: c.projectionBias, std: D ** -0.5 })) : undefined;
    this.embDrop = new Dropout(c.dropout, rng);
  }

  override train(on = true): this {
    this.embDrop.train(on);
    return super.train(on);
  }

  /**
   * Gradient checkpointing of every block (open_clip's `set_grad_checkpointing`): the backward keeps
   * each block's input only and recomputes the block, trading one more forward of the blocks for
   * their activation memory. Gradients are unchanged. Returns this.
   */
  setGradCheckpointing(on = true): this {
    for (const block of this.blocks) block.gradCheckpointing = on;
    return this;
  }

  forward(x: tf.Tensor, options: EncodeOptions = {}): EncoderOutput {
    const c = this.config;
    const N = c.tokens.count;
    const D = c.width;
    const B = x.shape[0]!;
    if (x.shape[1] !== N) throw new InvalidArgumentError('tokens', `shape [${x.shape.join(', ')}]`, `[B, ${N}${c.tokens.kind === 'continuous' ? `, ${c.tokens.dim}` : ''}] (config.tokens.count = ${N})`);
    let h = this.embed.forward(x); // [B, N, D]
    if (this.clsToken) h = tf.concat([repeatBatch(this.clsToken.reshape([1, 1, D]), B), h], 1); // [B, 1+N, D]
    const pos = this.posEmbed ?? this.fixedPos;
    if (c.posGrid) h = tf.add(h, this.gridPositions(B, N, options.grid)); // [B, N, D]
    else if (pos) h = tf.add(h, pos); // pos [N(+1), D] broadcast over B
    h = this.embDrop.forward(h);
    if (this.lnPre) h = this.lnPre.forward(h);
    let keyMask = c.padMask ? options.mask?.cast('float32') : undefined; // [B, N]
    if (keyMask && this.clsToken) keyMask = tf.concat([tf.ones([B, 1]), keyMask], 1); // [B, 1+N]
    // without a gradient tape (inference) each block's intermediates are freed as it returns: the
    // next block reuses their buffers (the native backend's pool) instead of holding every block's
    // until the caller's tidy ends — 1 GB for a CLIP text tower at batch 32, fresh pages and GC
    const inference = !recordingGradients();
    for (const block of this.blocks) {
      const input = h;
      h = inference ? tf.tidy(() => block.forward(input, { keyMask, causal: c.causal })) : block.forward(input, { keyMask, causal: c.causal });
      if (inference && input !== x) input.dispose();
    }
    const tokens = this.lnFinal.forward(h); // [B, N', D]
    const pooled = this.pool(tokens, keyMask, options.eotIndex);
    const embedding = this.proj ? this.proj.forward(pooled) : pooled;
    return { tokens, pooled, embedding };
  }

  /**
   * The position table resized to each sample's grid: [B, N, D] = R · table, R [B·N, h·w] holding the
   * antialiased bilinear weights (rows past a sample's h·w tokens repeat its first row, as
   * transformers' Siglip2 pads them). Without `grid`, every sample takes the table's own grid.
   */
  private gridPositions(B: number, N: number, g: Int32Array | undefined): tf.Tensor {
    const [gh, gw] = this.config.posGrid!;
    if (g && g.length !== 2 * B) throw new InvalidArgumentError('grid', `${g.length} values`, `[h, w] for each of the ${B} samples`);
    const R = new Float32Array(B * N * gh * gw);
    for (let b = 0; b < B; b++) {
      const h = g ? g[2 * b]! : gh;
      const w = g ? g[2 * b + 1]! : gw;
      if (!(h >= 1 && w >= 1 && h * w <= N)) throw new InvalidArgumentError(`grid[${b}]`, [h, w], `a grid of at most the ${N} tokens`);
      const wy = antialiasedBilinear(gh, h);
      const wx = antialiasedBilinear(gw, w);
      for (let r = 0; r < N; r++) {
        const t = r < h * w ? r : 0;
        const y = Math.floor(t / w);
        const x = t % w;
        const row = (b * N + r) * gh * gw;
        for (let i = 0; i < gh; i++) {
          const a = wy[y * gh + i]!;
          if (a === 0) continue;
          for (let j = 0; j < gw; j++) R[row + i * gw + j] = a * wx[x * gw + j]!;
        }
      }
    }
    return tf.tidy(() => tf.matMul(tf.tensor2d(R, [B * N, gh * gw]), this.posEmbed!).reshape([B, N, this.config.width])); // [B·N, h·w] × [h·w, D] → [B, N, D]
  }

  private pool(tokens: tf.Tensor, keyMask: tf.Tensor | undefined, eotIndex: tf.Tensor | undefined): tf.Tensor {
    return poolTokens(this.config, tokens, keyMask, eotIndex, this.head);
  }

  protected override disposeExtra(): void {
    this.fixedPos?.dispose();
  }
}

/**
 * The encoder's pooling on final tokens [B, N', D] (N' = N + 1 with a CLS token) → [B, D]: `cls`,
 * `mean` (over unmasked tokens, CLS excluded), `eot` (the token at `eotIndex`, a [B] int tensor, picked
 * with a one-hot product: differentiable on every backend), `last` (the row's last position), `map`
 * (the attention-pool `head`). Shared with towers that run the trunk themselves (@omnitok/clip).
 */
export function poolTokens(
  config: Pick<EncoderConfig, 'pooling' | 'clsToken'>,
  tokens: tf.Tensor,
  keyMask: tf.Tensor | undefined,
  eotIndex: tf.Tensor | undefined,
  head?: MapHead,
  name = 'options',
): tf.Tensor {
  const [B, Ntot, D] = tokens.shape as [number, number, number];
  const prefix = config.clsToken ? 1 : 0;
  switch (config.pooling) {
    case 'cls':
      return tokens.slice([0, 0, 0], [B, 1, D]).reshape([B, D]); // [B, D]
    case 'mean': {
      const body = tokens.slice([0, prefix, 0], [B, Ntot - prefix, D]); // [B, N, D]
      if (!keyMask) return tf.mean(body, 1);
      const m = keyMask.slice([0, prefix], [B, Ntot - prefix]).reshape([B, Ntot - prefix, 1]); // [B, N, 1]
      return tf.div(tf.sum(tf.mul(body, m), 1), tf.maximum(tf.sum(m, 1), 1)); // [B, D]
    }
    case 'eot': {
      if (!eotIndex) throw new InvalidArgumentError(`${name}.eotIndex`, eotIndex, 'a [B] int32 tensor of token positions for eot pooling');
      const pick = tf.oneHot(tf.add(eotIndex.cast('int32').reshape([B]), tf.scalar(prefix, 'int32')), Ntot).cast('float32').reshape([B, Ntot, 1]); // [B, N', 1]
      return tf.sum(tf.mul(tokens, pick), 1); // [B, D]
    }
    case 'last':
      return tokens.slice([0, Ntot - 1, 0], [B, 1, D]).reshape([B, D]); // [B, D]
    case 'map':
      if (!head) throw new InvalidArgumentError('head', head, 'the MapHead of a map-pooling encoder');
      return head.forward(tokens, keyMask);
  }
}

/** Builds an encoder from a config (JSON) with a seed; the usual entry point. */
export function createEncoder(config: EncoderConfigInput | EncoderConfig, seed = 0): TransformerEncoder {
  return new TransformerEncoder(config, new Rng(seed));
}

/**
 * [out, in] weights of `F.interpolate(mode='bilinear', align_corners=False, antialias=True)` along one
 * axis (PyTorch's `_upsample_bilinear2d_aa`, Pillow's resampling): a triangle filter widened by the
 * scale when shrinking, each row normalized to sum 1.
 */
export function antialiasedBilinear(inSize: number, outSize: number): Float32Array {
  const out = new Float32Array(outSize * inSize);
  const scale = inSize / outSize;
  const support = scale >= 1 ? scale : 1;
  const invscale = scale >= 1 ? 1 / scale : 1;
  for (let i = 0; i < outSize; i++) {
    const center = scale * (i + 0.5);
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xsize = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let total = 0;
    const w: number[] = [];
    for (let j = 0; j < xsize; j++) {
      const x = Math.abs((j + xmin - center + 0.5) * invscale);
      w.push(x < 1 ? 1 - x : 0);
      total += w[j]!;
    }
    for (let j = 0; j < xsize; j++) out[i * inSize + xmin + j] = total !== 0 ? w[j]! / total : 0;
  }
  return out;
}
