import type { Features, TokenSequence } from '@omnitok/core';

export type Stage = 'features' | 'tokens';

/** The numeric array a stage produced, flattened, with its shape and dtype name. */
export interface StageArray {
  readonly data: Float32Array | Int32Array;
  readonly shape: readonly number[];
  readonly dtype: 'float32' | 'int32';
}

export function stageArray(result: Features | TokenSequence): StageArray {
  if ('kind' in result && result.kind === 'discrete') return { data: result.ids, shape: result.shape, dtype: 'int32' };
  const data = result.data;
  return { data, shape: result.shape, dtype: data instanceof Int32Array ? 'int32' : 'float32' };
}

/** Mean and population standard deviation, accumulated in float64. */
export function meanStd(data: ArrayLike<number>): { mean: number; std: number } {
  const n = data.length;
  if (n === 0) return { mean: 0, std: 0 };
  let sum = 0;
  for (let i = 0; i < n; i++) sum += data[i]!;
  const mean = sum / n;
  let sq = 0;
  for (let i = 0; i < n; i++) {
    const d = data[i]! - mean;
    sq += d * d;
  }
  return { mean, std: Math.sqrt(sq / n) };
}

/** Rounds for display without changing the JSON type. */
export function round(x: number, digits = 6): number {
  return Number.isFinite(x) ? Number(x.toPrecision(digits)) : x;
}
