/**
 * Pillow-exact image resizing, ported from Pillow's `src/libImaging/Resample.c` (convolution filters)
 * and `Geometry.c` `ImagingScaleAffine` (nearest neighbour), as `Image.resize(size, filter)` runs them
 * on an 8-bit image:
 *
 * - separable two-pass convolution, horizontal first, then vertical; a pass is skipped when that axis
 *   keeps its size;
 * - the filter's support is widened by the downscale factor (antialiasing), each output pixel's taps are
 *   normalized to sum 1, then turned into fixed-point integers with `PRECISION_BITS = 22`;
 * - each pass rounds (`+ 1 << 21`) and clips to uint8, so the intermediate image is uint8 as in Pillow.
 *
 * The result is bit-identical to Pillow (checked against committed fixtures). Beyond Pillow, an output
 * window can be requested, so a center crop only computes the pixels it keeps (the values are the same,
 * since every output pixel depends only on its own taps).
 */

import { type NormalizeTarget, resizeRgbSimd, simdAvailable, sourceRows } from './resample-simd.js';

/** Interpolations the presets may name; each maps to the Pillow filter of the same name. */
export type Interpolation = 'bicubic' | 'bilinear' | 'nearest';

export const INTERPOLATIONS: readonly Interpolation[] = ['bicubic', 'bilinear', 'nearest'];

const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);
const ONE = 1 << PRECISION_BITS;

interface Filter {
  readonly support: number;
  readonly fn: (x: number) => number;
}

const FILTERS: Record<'bicubic' | 'bilinear', Filter> = {
  // Keys' cubic convolution with a = -0.5, as Pillow (and torchvision on PIL images) uses it.
  bicubic: {
    support: 2,
    fn: (x) => {
      const a = -0.5;
      if (x < 0) x = -x;
      if (x < 1) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
      if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
      return 0;
    },
  },
  bilinear: {
    support: 1,
    fn: (x) => {
      if (x < 0) x = -x;
      return x < 1 ? 1 - x : 0;
    },
  },
};

/** Fixed-point taps of one axis: output `i` reads `count[i]` inputs from `start[i]` with `weights[i * ksize + t]`. */
export interface AxisCoefficients {
  readonly ksize: number;
  readonly start: Int32Array;
  readonly count: Int32Array;
  readonly weights: Int32Array;
}

const coefficientCache = new Map<string, AxisCoefficients>();
const CACHE_LIMIT = 256;

/** Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for a full-range box, memoized per sizes. */
export function axisCoefficients(inSize: number, outSize: number, interpolation: 'bicubic' | 'bilinear'): AxisCoefficients {
  const key = `${interpolation}:${inSize}:${outSize}`;
  const cached = coefficientCache.get(key);
  if (cached) return cached;
  const filter = FILTERS[interpolation];
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const invFilterscale = 1.0 / filterscale;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // C's (int) cast truncates toward zero.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.fn((x + xmin - center + 0.5) * invFilterscale);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x]! / ww : k[x]!;
      weights[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    start[xx] = xmin;
    count[xx] = xmax;
  }
  const result = { ksize, start, count, weights };
  if (coefficientCache.size >= CACHE_LIMIT) coefficientCache.delete(coefficientCache.keys().next().value!);
  coefficientCache.set(key, result);
  return result;
}

/** An 8-bit interleaved image, or a rectangular window of one (`x`, `y`, `width`, `height` inside `stride`). */
export interface PixelView {
  readonly data: Uint8Array;
  readonly channels: number;
  /** Elements per source row (the full image's width × channels). */
  readonly stride: number;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** The part of the resized image to compute: output columns `[x, x + width)` and rows `[y, y + height)`. */
export interface OutputWindow {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/**
 * Resizes `src` (a view) to `outWidth × outHeight` exactly as Pillow's `Image.resize` does, returning
 * only the `window` of the result as packed interleaved uint8 (`window.width × window.height × channels`).
 */
export function resizeView(
  src: PixelView,
  outWidth: number,
  outHeight: number,
  interpolation: Interpolation,
  window: OutputWindow = { x: 0, y: 0, width: outWidth, height: outHeight },
): Uint8Array {
  if (interpolation === 'nearest') return resizeNearest(src, outWidth, outHeight, window);
  const C = src.channels;
  const needH = outWidth !== src.width;
  const needV = outHeight !== src.height;
  const out = new Uint8Array(window.width * window.height * C);
  if (!needH && !needV) {
    copyWindow(src, window.x, window.y, window.width, window.height, out);
    return out;
  }
  const vert = needV ? axisCoefficients(src.height, outHeight, interpolation) : undefined;
  if (C === 3 && simdAvailable()) {
    resizeRgbSimd(src, needH ? axisCoefficients(src.width, outWidth, interpolation) : undefined, vert, window, out);
    return out;
  }
  // Source rows the vertical pass will read for the requested output rows.
  const [rowFirst, rowLast] = sourceRows(vert, window);

  // Horizontal pass into `mid` (rows rowFirst..rowLast of the horizontally resized image, window columns).
  let mid: PixelView;
  if (needH) {
    const horiz = axisCoefficients(src.width, outWidth, interpolation);
    const rows = rowLast - rowFirst;
    const target = needV ? new Uint8Array(rows * window.width * C) : out;
    horizontalPass(src, rowFirst, rows, horiz, window.x, window.width, target);
    mid = { data: target, channels: C, stride: window.width * C, x: 0, y: -rowFirst, width: window.width, height: outHeight };
  } else {
    mid = { ...src, x: src.x + window.x, width: window.width };
  }
  if (vert) verticalPass(mid, vert, window.y, window.height, out);
  return out;
}

/**
 * {@link resizeView} fused with normalization into float32 (see `NormalizeTarget`), for RGB views
 * with the SIMD kernels and a convolution filter. Returns false, writing nothing, when that does not
 * apply (no SIMD, grey, nearest, or no resize at all); the caller then resizes and normalizes separately.
 * @internal
 */
export function resizeNormalizeRgb(
  src: PixelView,
  outWidth: number,
  outHeight: number,
  interpolation: Interpolation,
  window: OutputWindow,
  target: NormalizeTarget,
): boolean {
  if (interpolation === 'nearest' || src.channels !== 3 || !simdAvailable()) return false;
  const needH = outWidth !== src.width;
  const needV = outHeight !== src.height;
  if (!needH && !needV) return false;
  resizeRgbSimd(
    src,
    needH ? axisCoefficients(src.width, outWidth, interpolation) : undefined,
    needV ? axisCoefficients(src.height, outHeight, interpolation) : undefined,
    window,
    target,
  );
  return true;
}

function copyWindow(src: PixelView, x: number, y: number, width: number, height: number, out: Uint8Array): void {
  const C = src.channels;
  const rowLen = width * C;
  for (let r = 0; r < height; r++) {
    const from = (src.y + y + r) * src.stride + (src.x + x) * C;
    out.set(src.data.subarray(from, from + rowLen), r * rowLen);
  }
}

function horizontalPass(
  src: PixelView,
  rowFirst: number,
  rows: number,
  co: AxisCoefficients,
  colFirst: number,
  cols: number,
  out: Uint8Array,
): void {
  const { data, stride, channels: C } = src;
  const { ksize, start, count, weights } = co;
  let o = 0;
  if (C === 3) {
    for (let r = 0; r < rows; r++) {
      const base = (src.y + rowFirst + r) * stride + src.x * 3;
      for (let xx = colFirst; xx < colFirst + cols; xx++) {
        let s0 = HALF;
        let s1 = HALF;
        let s2 = HALF;
        let p = base + start[xx]! * 3;
        const kb = xx * ksize;
        const n = count[xx]!;
        for (let t = 0; t < n; t++, p += 3) {
          const w = weights[kb + t]!;
          s0 += data[p]! * w;
          s1 += data[p + 1]! * w;
          s2 += data[p + 2]! * w;
        }
        out[o++] = clip8(s0);
        out[o++] = clip8(s1);
        out[o++] = clip8(s2);
      }
    }
    return;
  }
  for (let r = 0; r < rows; r++) {
    const base = (src.y + rowFirst + r) * stride + src.x * C;
    for (let xx = colFirst; xx < colFirst + cols; xx++) {
      const kb = xx * ksize;
      const n = count[xx]!;
      for (let c = 0; c < C; c++) {
        let s = HALF;
        let p = base + start[xx]! * C + c;
        for (let t = 0; t < n; t++, p += C) s += data[p]! * weights[kb + t]!;
        out[o++] = clip8(s);
      }
    }
  }
}

let accumulator = new Int32Array(0);

function verticalPass(mid: PixelView, co: AxisCoefficients, rowFirst: number, rows: number, out: Uint8Array): void {
  const { data, stride, channels: C } = mid;
  const rowLen = mid.width * C;
  const colOffset = mid.x * C;
  const { ksize, start, count, weights } = co;
  if (accumulator.length < rowLen) accumulator = new Int32Array(rowLen);
  const acc = accumulator;
  // Row-at-a-time accumulation: the same integer sums as Pillow's per-pixel loop, in a cache-friendly order.
  for (let r = 0; r < rows; r++) {
    const yy = rowFirst + r;
    acc.fill(HALF, 0, rowLen);
    const kb = yy * ksize;
    const n = count[yy]!;
    for (let t = 0; t < n; t++) {
      const w = weights[kb + t]!;
      const base = (mid.y + start[yy]! + t) * stride + colOffset;
      for (let i = 0; i < rowLen; i++) acc[i] = acc[i]! + data[base + i]! * w;
    }
    const o = r * rowLen;
    for (let i = 0; i < rowLen; i++) out[o + i] = clip8(acc[i]!);
  }
}

function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Pillow's nearest-neighbour resize (`ImagingScaleAffine`): source coordinates are accumulated in
 * double precision from the first pixel's center, exactly as Pillow steps them, then truncated.
 */
function resizeNearest(src: PixelView, outWidth: number, outHeight: number, window: OutputWindow): Uint8Array {
  const C = src.channels;
  const xs = nearestTable(src.width, outWidth);
  const ys = nearestTable(src.height, outHeight);
  const out = new Uint8Array(window.width * window.height * C);
  let o = 0;
  for (let yy = window.y; yy < window.y + window.height; yy++) {
    const rowBase = (src.y + ys[yy]!) * src.stride + src.x * C;
    for (let xx = window.x; xx < window.x + window.width; xx++) {
      const p = rowBase + xs[xx]! * C;
      for (let c = 0; c < C; c++) out[o++] = src.data[p + c]!;
    }
  }
  return out;
}

function nearestTable(inSize: number, outSize: number): Int32Array {
  const a = inSize / outSize;
  const table = new Int32Array(outSize);
  let pos = a * 0.5;
  for (let i = 0; i < outSize; i++) {
    // Pillow leaves out-of-range positions unwritten (zero fill); with a full-range box they never occur.
    table[i] = Math.min(inSize - 1, pos < 0 ? 0 : Math.trunc(pos));
    pos += a;
  }
  return table;
}
