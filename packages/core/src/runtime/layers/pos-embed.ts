import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../../errors/index.js';
import { check } from '../module.js';

/*
 * Fixed sin-cos tables (MAE, `get_{1d,2d}_sincos_pos_embed`), as Float32Array [N, D] row-major.
 * 1-D: for position p and i < D/2, ω_i = 10000^(−i/(D/2)); row = [sin(p·ω), cos(p·ω)].
 * 2-D over a [gh, gw] grid (token n = row·gw + col): the first D/2 channels encode the column, the last
 * D/2 the row (MAE's order). 3-D over [gt, gh, gw]: thirds encode column, row, frame, in that order.
 */
export function sincos1d(dim: number, positions: ArrayLike<number>): Float32Array {
  check(dim % 2 === 0, 'sin-cos embedding width', dim, 'an even number');
  const half = dim / 2;
  const out = new Float32Array(positions.length * dim);
  for (let n = 0; n < positions.length; n++) {
    const p = positions[n]!;
    for (let i = 0; i < half; i++) {
      // float64 like numpy, rounded to float32 once at the end
      const omega = 1 / 10000 ** (i / half);
      out[n * dim + i] = Math.sin(p * omega);
      out[n * dim + half + i] = Math.cos(p * omega);
    }
  }
  return out;
}

/** A sin-cos table for a token grid of 1, 2 or 3 axes (sizes in row-major order: [t,] [h,] w). */
export function sincosTable(dim: number, grid: readonly number[]): Float32Array {
  const count = grid.reduce((a, b) => a * b, 1);
  if (grid.length === 1) return sincos1d(dim, Array.from({ length: count }, (_, i) => i));
  const axes = grid.length;
  if (axes !== 2 && axes !== 3) throw new InvalidArgumentError('tokens.grid', grid, 'a grid of 1, 2 or 3 axes');
  check(dim % (2 * axes) === 0, 'width', dim, `a multiple of ${2 * axes} for a ${axes}-D sin-cos embedding`);
  const part = dim / axes;
  // coordinate of token n along each axis, innermost (column) first
  const coords: Float32Array[] = [];
  for (let a = axes - 1; a >= 0; a--) {
    const stride = grid.slice(a + 1).reduce((x, y) => x * y, 1);
    coords.push(Float32Array.from({ length: count }, (_, n) => Math.floor(n / stride) % grid[a]!));
  }
  const out = new Float32Array(count * dim);
  coords.forEach((c, k) => {
    const t = sincos1d(part, c);
    for (let n = 0; n < count; n++) out.set(t.subarray(n * part, (n + 1) * part), n * dim + k * part);
  });
  return out;
}

/**
 * Resizes a learned grid of position embeddings (e.g. for another image size), like
 * `F.interpolate(mode='bilinear'|'trilinear', align_corners=False)`. `table` is [prefix + prod(from), D];
 * the first `prefix` rows (CLS) are kept as they are.
 */
export function interpolatePosEmbed(table: Float32Array, dim: number, from: readonly number[], to: readonly number[], prefix = 0): Float32Array {
  check(from.length === to.length && from.length >= 1 && from.length <= 3, 'grid', { from, to }, 'grids with the same number (1–3) of axes');
  const inCount = from.reduce((a, b) => a * b, 1);
  check(table.length === (prefix + inCount) * dim, 'position table', table.length, `${(prefix + inCount) * dim} values`);
  const outCount = to.reduce((a, b) => a * b, 1);
  const out = new Float32Array((prefix + outCount) * dim);
  out.set(table.subarray(0, prefix * dim));
  // per axis: for each output index, two source indices and the weight of the second
  const taps = from.map((n, a) => {
    const m = to[a]!;
    const scale = n / m;
    return Array.from({ length: m }, (_, j) => {
      const src = Math.max((j + 0.5) * scale - 0.5, 0);
      const i0 = Math.min(Math.floor(src), n - 1);
      const i1 = Math.min(i0 + 1, n - 1);
      return [i0, i1, src - i0] as const;
    });
  });
  const inStrides = from.map((_, a) => from.slice(a + 1).reduce((x, y) => x * y, 1));
  const acc = new Float64Array(dim);
  for (let o = 0; o < outCount; o++) {
    const idx = to.map((_, a) => Math.floor(o / to.slice(a + 1).reduce((x, y) => x * y, 1)) % to[a]!);
    acc.fill(0);
    for (let corner = 0; corner < 1 << from.length; corner++) {
      let w = 1;
      let src = 0;
      for (let a = 0; a < from.length; a++) {
        const [i0, i1, l] = taps[a]![idx[a]!]!;
        const hi = (corner >> a) & 1;
        w *= hi ? l : 1 - l;
        src += (hi ? i1 : i0) * inStrides[a]!;
      }
      if (w === 0) continue;
      const row = (prefix + src) * dim;
      for (let d = 0; d < dim; d++) acc[d]! += w * table[row + d]!;
    }
    out.set(acc, (prefix + o) * dim);
  }
  return out;
}

/** A fixed sin-cos table as a (non-parameter) tensor [N, D]. */
export function sincosTensor(dim: number, grid: readonly number[]): tf.Tensor2D {
  const count = grid.reduce((a, b) => a * b, 1);
  return tf.tensor2d(sincosTable(dim, grid), [count, dim]);
}
