import { InvalidArgumentError } from '../errors/invalid-argument-error.js';

/** Where a token sequence came from. Carried through every stage so outputs can be traced. */
export interface TokenMetadata {
  /** The modality (`image`, `audio`, `video`, `text`, …). */
  readonly modality: string;
  /** The preset name the features were produced with (`custom` for an inline preset object). */
  readonly preset: string;
  /** The input's path, or `<N bytes>` for a buffer, or `<text>` for inline text. */
  readonly source?: string;
}

/**
 * Continuous tokens: one vector per token, e.g. ViT patches or spectrogram patches.
 *
 * - `data` is row-major `[tokens, dim]`: token `i` is `data.subarray(i * dim, (i + 1) * dim)`.
 * - `grid` is the token grid before flattening (`[H/P, W/P]` for an image, `[freq, time]` for audio,
 *   `[T/t, H/P, W/P]` for video). Tokens enumerate the grid row-major (last axis fastest).
 * - `positions` is `[tokens, grid.length]` row-major: the integer grid coordinate of each token, so
 *   positional embeddings never have to re-derive the layout.
 * - `mask`, when present, is `[tokens]` with 1 for a real token and 0 for padding. Padded tokens (SigLIP 2
 *   NaFlex images, padded to a patch budget) come after the grid's: the grid then covers the first
 *   `grid` product tokens, and the padding's positions are zeros.
 */
export interface ContinuousTokens extends TokenMetadata {
  readonly kind: 'continuous';
  readonly data: Float32Array;
  readonly shape: readonly [tokens: number, dim: number];
  readonly grid: readonly number[];
  readonly positions: Int32Array;
  readonly mask?: Uint8Array;
}

/**
 * Discrete tokens: vocabulary ids, e.g. CLIP BPE.
 *
 * - `ids` is `[context]`, zero padded after `length` real ids (specials included).
 * - `mask` is `[context]`: 1 for the first `length` ids, 0 after.
 * - `eotIndex` is where the end-of-text id sits (EOT pooling), when the tokenizer has one.
 */
export interface DiscreteTokens extends TokenMetadata {
  readonly kind: 'discrete';
  readonly ids: Int32Array;
  readonly shape: readonly [context: number];
  readonly length: number;
  readonly mask: Uint8Array;
  readonly vocabSize: number;
  readonly eotIndex?: number;
}

/** What `ModalityPlugin.tokenize` returns. */
export type TokenSequence = ContinuousTokens | DiscreteTokens;

/**
 * The preprocessed array before tokenization, e.g. image `[C, H, W]`, audio `[mels, frames]`,
 * video `[T, C, H, W]`, text `[n]` ids. `axes` names each axis of `shape`.
 */
export interface Features extends TokenMetadata {
  readonly data: Float32Array | Int32Array;
  readonly shape: readonly number[];
  readonly axes: readonly string[];
}

export function isContinuous(tokens: TokenSequence): tokens is ContinuousTokens {
  return tokens.kind === 'continuous';
}

export function isDiscrete(tokens: TokenSequence): tokens is DiscreteTokens {
  return tokens.kind === 'discrete';
}

/** The number of elements of `shape`; every entry must be a non-negative integer. */
export function shapeSize(shape: readonly number[], argument = 'shape'): number {
  let size = 1;
  for (let i = 0; i < shape.length; i++) {
    const d = shape[i]!;
    if (!Number.isInteger(d) || d < 0) throw new InvalidArgumentError(`${argument}[${i}]`, d, 'a non-negative integer');
    size *= d;
  }
  return size;
}

/** Row-major grid coordinates `[product(grid), grid.length]`, last axis fastest. */
export function gridPositions(grid: readonly number[]): Int32Array {
  const count = shapeSize(grid, 'grid');
  const rank = grid.length;
  const out = new Int32Array(count * rank);
  for (let t = 0; t < count; t++) {
    let rest = t;
    for (let axis = rank - 1; axis >= 0; axis--) {
      const size = grid[axis]!;
      out[t * rank + axis] = rest % size;
      rest = Math.floor(rest / size);
    }
  }
  return out;
}

/**
 * Builds a validated {@link ContinuousTokens}. `positions` defaults to {@link gridPositions} of `grid`;
 * pass explicit positions when tokens do not cover the grid (masked or dropped tokens).
 */
export function continuousTokens(init: Omit<ContinuousTokens, 'kind' | 'positions'> & { positions?: Int32Array }): ContinuousTokens {
  const [tokens, dim] = init.shape;
  shapeSize(init.shape);
  if (init.data.length !== tokens * dim) {
    throw new InvalidArgumentError('data.length', init.data.length, `shape ${tokens}×${dim} = ${tokens * dim} values`);
  }
  const positions = init.positions ?? gridPositions(init.grid);
  if (positions.length !== tokens * init.grid.length) {
    throw new InvalidArgumentError(
      'positions.length',
      positions.length,
      `tokens × grid rank = ${tokens} × ${init.grid.length} (grid ${JSON.stringify(init.grid)})`,
    );
  }
  if (init.mask && init.mask.length !== tokens) {
    throw new InvalidArgumentError('mask.length', init.mask.length, `${tokens} (one entry per token)`);
  }
  return { ...init, kind: 'continuous', positions };
}

/** Builds a validated {@link DiscreteTokens}; `mask` defaults to 1 for the first `length` ids. */
export function discreteTokens(init: Omit<DiscreteTokens, 'kind' | 'mask' | 'shape'> & { mask?: Uint8Array }): DiscreteTokens {
  const context = init.ids.length;
  if (!Number.isInteger(init.length) || init.length < 0 || init.length > context) {
    throw new InvalidArgumentError('length', init.length, `an integer in [0, ${context}]`);
  }
  let mask = init.mask;
  if (!mask) {
    mask = new Uint8Array(context);
    mask.fill(1, 0, init.length);
  } else if (mask.length !== context) {
    throw new InvalidArgumentError('mask.length', mask.length, `${context} (the ids' length)`);
  }
  if (init.eotIndex !== undefined && (!Number.isInteger(init.eotIndex) || init.eotIndex < 0 || init.eotIndex >= context)) {
    throw new InvalidArgumentError('eotIndex', init.eotIndex, `an integer in [0, ${context - 1}]`);
  }
  return { ...init, kind: 'discrete', shape: [context], mask };
}
