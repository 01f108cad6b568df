import { InvalidArgumentError } from '../errors/invalid-argument-error.js';

/**
 * A small seeded PRNG (mulberry32): 32-bit state, uniform floats in [0, 1). The same seed always gives
 * the same sequence on every platform, so augmentation (and a seeded test's cases) reproduce exactly.
 */
export function mulberry32(seed: number): () => number {
  if (!Number.isFinite(seed)) throw new InvalidArgumentError('seed', seed, 'a finite number');
  let state = Math.trunc(seed) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
