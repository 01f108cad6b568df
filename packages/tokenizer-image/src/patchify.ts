import { type ContinuousTokens, continuousTokens, InvalidArgumentError } from '@omnitok/core';
import type { ImageFeatures } from './preprocess-image.js';

/**
 * Cuts `[C, H, W]` features into ViT patch tokens `[N, C·P·P]`.
 *
 * - Patches enumerate the grid `[H/P, W/P]` row-major (left to right, then top to bottom).
 * - Each patch vector is flattened in `(C, P, P)` order: channel, then row, then column — the layout of a
 *   conv weight `[D, C, P, P]`, so a linear layer on these vectors equals the ViT patch-embedding conv.
 *
 * - NaFlex features (`maxPatches`) give `[maxPatches, C·P·P]`: the image's patches, then zero rows,
 *   with `mask` 1 for the real patches; `grid` is the image's `[H/P, W/P]`.
 *
 * Throws `InvalidArgumentError` when `H` or `W` is not a multiple of `P`.
 */
export function patchify(features: ImageFeatures, patchSize: number = features.patchSize): ContinuousTokens {
  const [C, H, W] = checkShape(features);
  const P = checkPatch(patchSize, H, W);
  const gridH = H / P;
  const gridW = W / P;
  const n = gridH * gridW;
  // NaFlex: zero rows after the image's patches up to the budget, masked out
  const rows = features.maxPatches ?? n;
  if (rows < n) throw new InvalidArgumentError('features.maxPatches', rows, `at least the ${n} patches of a ${H}×${W} image`);
  const data = new Float32Array(rows * C * P * P);
  patchifyInto(features.data, 0, C, H, W, P, data, 0);
  const padded = features.maxPatches !== undefined;
  return continuousTokens({
    data,
    shape: [rows, C * P * P],
    grid: [gridH, gridW],
    modality: features.modality,
    preset: features.preset,
    source: features.source,
    ...(padded ? { positions: paddedPositions(gridH, gridW, rows), mask: new Uint8Array(rows).fill(1, 0, n) } : {}),
  });
}

/** Row-major grid coordinates of the first gridH·gridW tokens, zeros for the padding rows. */
function paddedPositions(gridH: number, gridW: number, rows: number): Int32Array {
  const out = new Int32Array(rows * 2);
  for (let i = 0; i < gridH * gridW; i++) {
    out[2 * i] = Math.floor(i / gridW);
    out[2 * i + 1] = i % gridW;
  }
  return out;
}

/** The patch layout of {@link patchify} from `src[srcOffset..]` (`[C, H, W]`) into `dst[dstOffset..]`. */
export function patchifyInto(src: Float32Array, srcOffset: number, C: number, H: number, W: number, P: number, dst: Float32Array, dstOffset: number): void {
  const gridW = W / P;
  const plane = H * W;
  let o = dstOffset;
  for (let gy = 0; gy < H / P; gy++) {
    for (let gx = 0; gx < gridW; gx++) {
      for (let c = 0; c < C; c++) {
        let rowStart = srcOffset + c * plane + gy * P * W + gx * P;
        for (let py = 0; py < P; py++, rowStart += W) {
          dst.set(src.subarray(rowStart, rowStart + P), o);
          o += P;
        }
      }
    }
  }
}

function checkShape(features: ImageFeatures): [number, number, number] {
  const shape = features?.shape;
  if (!Array.isArray(shape) || shape.length !== 3 || !(features.data instanceof Float32Array) || features.data.length !== shape[0] * shape[1] * shape[2]) {
    throw new InvalidArgumentError('features', features, 'image features { data: Float32Array, shape: [C, H, W] }');
  }
  return shape as [number, number, number];
}

export function checkPatch(patchSize: number, H: number, W: number): number {
  if (!Number.isInteger(patchSize) || patchSize < 1) throw new InvalidArgumentError('patchSize', patchSize, 'a positive integer');
  if (H % patchSize !== 0 || W % patchSize !== 0) {
    throw new InvalidArgumentError('patchSize', patchSize, `a divisor of the image height and width (${H}×${W})`);
  }
  return patchSize;
}
