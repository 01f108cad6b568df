import { InvalidArgumentError } from '@omnitok/core';

/** One text as a transformer input row. */
export interface Encoding {
  /** `[contextLength]`: `[SOT, ...ids, EOT]` then zeros. */
  readonly ids: Int32Array;
  /** Real ids, specials included (the mask's ones). */
  readonly length: number;
  /** `[contextLength]`: 1 for the first `length` ids, 0 for padding. */
  readonly mask: Uint8Array;
  /** Where EOT sits (the position CLIP pools); `length - 1` when the tokenizer has no EOT. */
  readonly eotIndex: number;
  /** True when ids were cut to fit the context. */
  readonly truncated: boolean;
}

/** A batch of texts as one row-major `[batch, contextLength]` array. */
export interface BatchEncoding {
  readonly ids: Int32Array;
  readonly shape: readonly [batch: number, context: number];
  readonly lengths: Int32Array;
  /** `[batch, contextLength]`, 1 for real ids. */
  readonly mask: Uint8Array;
  readonly eotIndices: Int32Array;
  /** `[batch]`: 1 where the text was cut. */
  readonly truncated: Uint8Array;
}

/** How ids become a fixed-length row. */
export interface PackOptions {
  /** Row length; defaults to the tokenizer's `contextLength`. */
  readonly contextLength?: number;
  /**
   * Cut texts that do not fit (default true), open_clip style: keep the first `context - 1` ids of
   * `[SOT, ...ids]` and put EOT last. With `false` a text that does not fit throws
   * `InvalidArgumentError` (as `clip.tokenize(truncate=False)` raises).
   */
  readonly truncate?: boolean;
}

/** The specials of a tokenizer: what goes around the ids, and the padding id (0 unless given). */
export interface Specials {
  readonly sot?: number;
  readonly eot?: number;
  readonly pad?: number;
}

export function checkContextLength(contextLength: number, specials: Specials, argument = 'contextLength'): number {
  const min = (specials.sot === undefined ? 0 : 1) + (specials.eot === undefined ? 0 : 1) || 1;
  if (!Number.isInteger(contextLength) || contextLength < min || contextLength > 1 << 24) {
    throw new InvalidArgumentError(argument, contextLength, `an integer in [${min}, ${1 << 24}] (room for the special tokens)`);
  }
  return contextLength;
}

/**
 * Writes `[SOT, ...ids, EOT]` (cut to fit) into `out` at `offset`; `out` must hold `context` padding
 * ids there. Returns the row's length and whether it was cut.
 */
export function packInto(
  ids: ArrayLike<number>,
  specials: Specials,
  context: number,
  truncate: boolean,
  out: Int32Array,
  offset: number,
  label: () => string,
): { length: number; truncated: boolean } {
  const { sot, eot } = specials;
  const reserved = (sot === undefined ? 0 : 1) + (eot === undefined ? 0 : 1);
  const room = context - reserved;
  const truncated = ids.length > room;
  if (truncated && !truncate) {
    throw new InvalidArgumentError('text', label(), `at most ${room} tokens to fit context ${context} (got ${ids.length}; pass truncate: true to cut)`);
  }
  let p = offset;
  if (sot !== undefined) out[p++] = sot;
  const n = truncated ? room : ids.length;
  for (let i = 0; i < n; i++) out[p++] = ids[i]!;
  if (eot !== undefined) out[p++] = eot;
  return { length: p - offset, truncated };
}

/** {@link packInto} for one row, with its mask and EOT index. */
export function packIds(ids: ArrayLike<number>, specials: Specials, context: number, truncate = true, label = () => '<ids>'): Encoding {
  const out = new Int32Array(context).fill(specials.pad ?? 0);
  const { length, truncated } = packInto(ids, specials, context, truncate, out, 0, label);
  const mask = new Uint8Array(context);
  mask.fill(1, 0, length);
  return { ids: out, length, mask, eotIndex: Math.max(0, length - 1), truncated };
}

/** A batch row by row from per-text id lists. */
export function packBatch(
  idLists: readonly ArrayLike<number>[],
  specials: Specials,
  context: number,
  truncate = true,
  label = (i: number) => `texts[${i}]`,
): BatchEncoding {
  const batch = idLists.length;
  const ids = new Int32Array(batch * context).fill(specials.pad ?? 0);
  const lengths = new Int32Array(batch);
  const truncated = new Uint8Array(batch);
  idLists.forEach((list, i) => {
    const r = packInto(list, specials, context, truncate, ids, i * context, () => label(i));
    lengths[i] = r.length;
    truncated[i] = r.truncated ? 1 : 0;
  });
  return finishBatch(ids, lengths, truncated, context);
}

/** Builds mask and EOT indices for a filled batch. */
export function finishBatch(ids: Int32Array, lengths: Int32Array, truncated: Uint8Array, context: number): BatchEncoding {
  const batch = lengths.length;
  const mask = new Uint8Array(batch * context);
  const eotIndices = new Int32Array(batch);
  for (let i = 0; i < batch; i++) {
    mask.fill(1, i * context, i * context + lengths[i]!);
    eotIndices[i] = Math.max(0, lengths[i]! - 1);
  }
  return { ids, shape: [batch, context], lengths, mask, eotIndices, truncated };
}
