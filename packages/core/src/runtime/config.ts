import { InvalidArgumentError } from '../errors/index.js';
import { GELU_KINDS, type GeluKind } from './layers/activations.js';

/** What the encoder eats: continuous vectors (patches) or discrete ids (text tokens). */
export type TokensConfig =
  | {
      readonly kind: 'continuous';
      /** Features per token (e.g. 3·16·16 for RGB 16×16 patches). */
      readonly dim: number;
      /** Tokens per sample. */
      readonly count: number;
      /** Optional token grid ([h, w] or [t, h, w], product = count) for 2-D/3-D position embeddings. */
      readonly grid?: readonly number[];
    }
  | { readonly kind: 'discrete'; readonly vocabSize: number; readonly count: number };

/**
 * `cls`: the CLS token; `mean`: mean of the (unmasked) tokens; `eot`: the token at `eotIndex` (CLIP's
 * end-of-text); `last`: the last position of the row (SigLIP's text tower, whose rows are padded with
 * `</s>`); `map`: attention pooling (big_vision MAP head).
 */
export type Pooling = 'cls' | 'mean' | 'eot' | 'last' | 'map';
export type PosEmbKind = 'learned' | 'sincos' | 'none';
export type SizeName = 'tiny' | 'small' | 'base';

/** A transformer encoder, as plain JSON (stored as `config.json` in checkpoints). */
export interface EncoderConfig {
  readonly width: number;
  readonly depth: number;
  readonly heads: number;
  readonly mlpRatio: number;
  readonly gelu: GeluKind;
  readonly posEmb: PosEmbKind;
  readonly pooling: Pooling;
  /** Output embedding width (a linear `proj` after pooling); null: no projection. */
  readonly projectionDim: number | null;
  /** A bias in `proj` (SigLIP's text head; CLIP's projections have none). Default false. */
  readonly projectionBias: boolean;
  readonly tokens: TokensConfig;
  /** Prepend a learned CLS token (default: pooling === 'cls'). */
  readonly clsToken: boolean;
  /** Causal self-attention (text towers). */
  readonly causal: boolean;
  /** LayerNorm after embedding + position, before the blocks (`ln_pre`, CLIP's vision tower). */
  readonly preNorm: boolean;
  /** LayerScale init value (e.g. 1e-5), null for none. */
  readonly layerScale: number | null;
  readonly dropout: number;
  readonly attnDropout: number;
  readonly lnEps: number;
  readonly qkvBias: boolean;
  /** Bias in the continuous patch projection (CLIP's conv has none). */
  readonly embedBias: boolean;
  /**
   * Whether an input padding mask hides padded keys (default true). SigLIP's text tower was trained
   * attending to its `</s>` padding (rows padded to 64, no mask), so it takes `false`: a mask given
   * with the tokens is then ignored, and the row is encoded exactly as it was in training.
   */
  readonly padMask: boolean;
  /**
   * The learned position table as a 2-D grid `[h, w]` resized to each sample's own token grid
   * (`EncodeOptions.grid`) with antialiased bilinear interpolation — SigLIP 2 NaFlex, whose images keep
   * their aspect ratio and so have grids of their own, padded to `tokens.count` rows. The table then
   * has h·w rows whatever `tokens.count` is. Absent: one fixed row per token.
   */
  readonly posGrid?: readonly [number, number];
}

/** Named sizes: width / depth / heads / mlpRatio. `tiny` is the benchmark shape. */
export const MODEL_SIZES: Readonly<Record<SizeName, Pick<EncoderConfig, 'width' | 'depth' | 'heads' | 'mlpRatio'>>> = {
  tiny: { width: 128, depth: 4, heads: 4, mlpRatio: 4 },
  small: { width: 384, depth: 12, heads: 6, mlpRatio: 4 },
  base: { width: 768, depth: 12, heads: 12, mlpRatio: 4 },
};

/** A config as written by hand: a named size (or `custom`) plus overrides; `tokens` is required. */
export type EncoderConfigInput = Partial<Omit<EncoderConfig, 'tokens'>> & { readonly size?: SizeName | 'custom'; readonly tokens: TokensConfig };

const POOLINGS: readonly Pooling[] = ['cls', 'mean', 'eot', 'last', 'map'];
const POS_EMBS: readonly PosEmbKind[] = ['learned', 'sincos', 'none'];

/** Fills defaults from the named size and validates every field (InvalidArgumentError naming it). */
export function resolveEncoderConfig(input: EncoderConfigInput): EncoderConfig {
  const size = input.size ?? 'custom';
  if (size !== 'custom' && !(size in MODEL_SIZES)) throw new InvalidArgumentError('config.size', size, `one of ${Object.keys(MODEL_SIZES).join(', ')}, custom`);
  const base = size === 'custom' ? undefined : MODEL_SIZES[size];
  const pick = <K extends keyof EncoderConfig>(key: K, fallback: EncoderConfig[K] | undefined): EncoderConfig[K] => {
    const v = (input as Partial<EncoderConfig>)[key] ?? fallback;
    if (v === undefined) throw new InvalidArgumentError(`config.${key}`, v, size === 'custom' ? 'a value (custom size sets no defaults for width/depth/heads)' : 'a value');
    return v as EncoderConfig[K];
  };
  const pooling = pick('pooling', 'cls');
  const config: EncoderConfig = {
    width: pick('width', base?.width),
    depth: pick('depth', base?.depth),
    heads: pick('heads', base?.heads),
    mlpRatio: pick('mlpRatio', base?.mlpRatio ?? 4),
    gelu: pick('gelu', 'erf'),
    posEmb: pick('posEmb', 'learned'),
    pooling,
    projectionDim: input.projectionDim === undefined ? null : input.projectionDim,
    tokens: input.tokens,
    clsToken: pick('clsToken', pooling === 'cls'),
    causal: pick('causal', false),
    preNorm: pick('preNorm', false),
    layerScale: input.layerScale ?? null,
    dropout: pick('dropout', 0),
    attnDropout: pick('attnDropout', 0),
    lnEps: pick('lnEps', 1e-5),
    qkvBias: pick('qkvBias', true),
    embedBias: pick('embedBias', true),
    projectionBias: pick('projectionBias', false),
    padMask: pick('padMask', true),
    ...(input.posGrid !== undefined ? { posGrid: input.posGrid } : {}),
  };
  validate(config);
  return config;
}

function validate(c: EncoderConfig): void {
  const posInt = (k: string, v: unknown) => {
    if (!Number.isInteger(v) || (v as number) <= 0) throw new InvalidArgumentError(`config.${k}`, v, 'a positive integer');
  };
  posInt('width', c.width);
  posInt('depth', c.depth);
  posInt('heads', c.heads);
  if (c.width % c.heads !== 0) throw new InvalidArgumentError('config.width', c.width, `a multiple of config.heads (${c.heads})`);
  if (!(c.mlpRatio > 0) || !Number.isInteger(c.width * c.mlpRatio)) throw new InvalidArgumentError('config.mlpRatio', c.mlpRatio, 'a positive number with width × mlpRatio an integer');
  if (!GELU_KINDS.includes(c.gelu)) throw new InvalidArgumentError('config.gelu', c.gelu, `one of ${GELU_KINDS.join(', ')}`);
  if (!POS_EMBS.includes(c.posEmb)) throw new InvalidArgumentError('config.posEmb', c.posEmb, `one of ${POS_EMBS.join(', ')}`);
  if (!POOLINGS.includes(c.pooling)) throw new InvalidArgumentError('config.pooling', c.pooling, `one of ${POOLINGS.join(', ')}`);
  if (c.pooling === 'cls' && !c.clsToken) throw new InvalidArgumentError('config.clsToken', c.clsToken, 'true when pooling is "cls"');
  if (c.projectionDim !== null) posInt('projectionDim', c.projectionDim);
  for (const k of ['dropout', 'attnDropout'] as const) {
    if (!(c[k] >= 0 && c[k] < 1)) throw new InvalidArgumentError(`config.${k}`, c[k], 'a rate in [0, 1)');
  }
  if (c.layerScale !== null && !(c.layerScale > 0)) throw new InvalidArgumentError('config.layerScale', c.layerScale, 'a positive number or null');
  if (!(c.lnEps > 0)) throw new InvalidArgumentError('config.lnEps', c.lnEps, 'a positive number');
  const t = c.tokens as TokensConfig | undefined;
  const kind = (t as { kind?: unknown } | undefined)?.kind;
  if (!t || (kind !== 'continuous' && kind !== 'discrete')) throw new InvalidArgumentError('config.tokens.kind', kind, '"continuous" or "discrete"');
  posInt('tokens.count', t.count);
  if (t.kind === 'continuous') {
    posInt('tokens.dim', t.dim);
    if (t.grid !== undefined) {
      if (!Array.isArray(t.grid) || t.grid.length < 1 || t.grid.length > 3 || t.grid.reduce((a, b) => a * b, 1) !== t.count) {
        throw new InvalidArgumentError('config.tokens.grid', t.grid, `1–3 axis sizes whose product is tokens.count (${t.count})`);
      }
    }
  } else {
    posInt('tokens.vocabSize', t.vocabSize);
  }
  if (c.posGrid !== undefined) {
    const g = c.posGrid as unknown;
    if (!Array.isArray(g) || g.length !== 2 || !g.every((x) => Number.isInteger(x) && x > 0)) throw new InvalidArgumentError('config.posGrid', g, 'two positive integers [h, w]');
    if (c.posEmb !== 'learned' || t.kind !== 'continuous' || c.clsToken) throw new InvalidArgumentError('config.posGrid', g, 'learned positions of continuous tokens without a CLS token');
  }
  if (c.posEmb === 'sincos') {
    const axes = t.kind === 'continuous' && t.grid ? t.grid.length : 1;
    if (c.width % (2 * axes) !== 0) throw new InvalidArgumentError('config.width', c.width, `a multiple of ${2 * axes} for a ${axes}-D sin-cos embedding`);
  }
}
