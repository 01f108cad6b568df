/**
 * @omnitok/native-kernels — the C++ kernels behind the omnitok runtime's `native` TensorFlow.js backend.
 *
 * This package only loads the addon; the TensorFlow.js side (kernel registration, custom gradients)
 * lives in `@omnitok/core/runtime` (`initBackend('native')`). Every function works in place on
 * Float32Arrays (row-major, no copies); shapes are passed explicitly and checked only where a wrong
 * one would read out of bounds (matmul). Nothing is registered or loaded on import: call
 * `loadNativeKernels()`.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

type F = Float32Array;

export interface NativeKernels {
  /** c[b] = alpha·op(a[b])·op(b[b]) + beta·c[b]; a/b batch strides in elements (0 = broadcast). */
  matmul(a: F, b: F, c: F, batch: number, M: number, N: number, K: number, transA: boolean, transB: boolean, strideA: number, strideB: number, alpha: number, beta: number): void;
  /** c [M, N] = op(a)·op(b) + bias [N] (a linear layer: the output starts as the bias rows, no extra pass). */
  matmulBias(a: F, b: F, c: F, bias: F, M: number, N: number, K: number, transA: boolean, transB: boolean): void;
  /** The built-in GEMM's packed layout of op(b) [K, N] (a new array), or null when OpenBLAS does the GEMMs. */
  packWeights(b: F, K: number, N: number, transB: boolean): F | null;
  /** c [M, N] = a [M, K] · packed weights from packWeights (+ bias [N], or an empty array); M ≤ packedRowsMax(). */
  matmulPacked(a: F, packed: F, c: F, bias: F, M: number, N: number, K: number): void;
  /** The most rows matmulPacked takes (the built-in GEMM's row block: 224 on AVX-512). */
  packedRowsMax(): number;
  /** c [M, N] += bias [N], in place. */
  addBias(c: F, bias: F): void;
  /**
   * out = a ∘ b (op 0 add, 1 sub, 2 mul, 3 div) with broadcasting: `shape` is the output's, padded in
   * front to rank 6; each operand's strides are 0 along the dims it broadcasts.
   */
  binary(op: 0 | 1 | 2 | 3, a: F, b: F, out: F, shape: readonly number[], aStrides: readonly number[], bStrides: readonly number[]): void;
  /** out[o, i] = Σ_m x[o, m, i]. */
  reduceSum(x: F, out: F, outer: number, mid: number, inner: number): void;
  /** out = x transposed by perm (rank ≤ 6). */
  transpose(x: F, out: F, shape: readonly number[], perm: readonly number[]): void;
  /** out = x[begin : begin + size] (rank ≤ 6). */
  slice(x: F, out: F, shape: readonly number[], begin: readonly number[], size: readonly number[]): void;
  /** y = (x − mean)·rstd·w + b over rows of length cols; also writes mean [rows] and rstd [rows]. */
  layerNorm(x: F, w: F, b: F, y: F, mean: F, rstd: F, rows: number, cols: number, eps: number): void;
  layerNormBwd(dy: F, x: F, w: F, mean: F, rstd: F, dx: F, dw: F, db: F, rows: number, cols: number): void;
  /** kind 0 erf, 1 tanh, 2 quick (x·σ(1.702x)). */
  gelu(x: F, y: F, kind: number): void;
  geluBwd(x: F, dy: F, dx: F, kind: number): void;
  /**
   * Self-attention from a fused projection qkv [B, N, 3D] (q|k|v, head-major): writes out [B, N, D]
   * and, per query row, the softmax's max and 1/Σ into stats [B, H, N, 2] — all the backward needs
   * (it recomputes the probabilities 64 query rows at a time; nothing N × N is kept). keyMask [B, N]
   * (1 keep, 0 pad) or an empty array; causal masks keys after the query.
   */
  flashAttention(qkv: F, keyMask: F, out: F, stats: F, B: number, N: number, H: number, Dh: number, causal: boolean): void;
  /** dqkv [B, N, 3D] from dOut [B, N, D], the forward's qkv and stats, and the same keyMask / causal. */
  flashAttentionBwd(dOut: F, qkv: F, keyMask: F, stats: F, dqkv: F, B: number, N: number, H: number, Dh: number, causal: boolean): void;
  /** One AdamW update in place (torch.optim.AdamW's arithmetic); decay = 1 − lr·wd (or 1); g is scaled by gradScale. */
  adamw(p: F, g: F, m: F, v: F, lr: number, beta1: number, beta2: number, eps: number, decay: number, bc1: number, bc2: number, gradScale: number): void;
  /** Σ x² accumulated in double. */
  sumSquares(x: F): number;
  /**
   * What the addon runs on: GEMM provider, thread count, widest ISA detected, and whether its arithmetic
   * kernels flush denormals to zero (x86's FTZ/DAZ, on unless OMNITOK_NATIVE_DENORMALS=keep).
   */
  info(): { blas: string; threads: number; isa: string; flushDenormals: boolean };
  /** threads ≤ 0 keeps the current count; useBlas false forces the built-in GEMM. */
  configure(threads: number, useBlas: boolean): void;
  /**
   * JPEG → packed RGB (8-bit, 3 channels) with the system's libjpeg(-turbo) on libuv's thread pool —
   * present when the addon was built with libjpeg's headers. Resolves with a string (why) instead of
   * pixels for anything but a plain decode (CMYK/YCCK, EXIF orientation ≠ 1, a libjpeg warning such as
   * truncated data, an error, more than maxPixels): the caller decodes those another way.
   */
  decodeJpeg?(bytes: Uint8Array, maxPixels: number): Promise<{ data: Uint8Array; width: number; height: number } | string>;
  /** '' when decodeJpeg can run (libjpeg.so.62 loaded), else why not. */
  jpegDecoder?(): string;
  /**
   * Pillow-exact resize of an 8-bit RGB view fused with normalization, on libuv's thread pool (the
   * image package computes the fixed-point coefficients and tables; see `image-resize.inc`).
   * `geometry` = [srcStride, x, y, width, height, winX, winY, winW, winH, hKsize, vKsize, plane];
   * empty coefficient arrays = that axis keeps its size. Writes `lut[c·256 + v]` at
   * `out[offset + rowBase[y] + col[x] + c·plane]`. Arrays must stay untouched until it resolves.
   * Absent from addons built before it existed.
   */
  resizeNormalize?(
    src: Uint8Array,
    geometry: Int32Array,
    hStart: Int32Array,
    hCount: Int32Array,
    hWeights: Int32Array,
    vStart: Int32Array,
    vCount: Int32Array,
    vWeights: Int32Array,
    out: Float32Array,
    offset: number,
    rowBase: Int32Array,
    col: Int32Array,
    lut: Float32Array,
  ): Promise<void>;
}

export type LoadResult = { ok: true; kernels: NativeKernels; path: string } | { ok: false; reason: string };

let cached: LoadResult | undefined;

/** Path of the compiled addon (built by `npm run build` into dist/). */
export function addonPath(): string {
  return fileURLToPath(new URL('../dist/omnitok_native.node', import.meta.url));
}

/**
 * Loads the addon once. Never throws: `{ ok: false, reason }` says why it is unavailable (not built —
 * no compiler at install time — or it failed to load), so callers can fall back to wasm/cpu.
 */
export function loadNativeKernels(): LoadResult {
  if (cached) return cached;
  const path = addonPath();
  if (process.env.OMNITOK_NATIVE_DISABLE === '1') return (cached = { ok: false, reason: 'disabled by OMNITOK_NATIVE_DISABLE=1' });
  if (!existsSync(path)) return (cached = { ok: false, reason: `the addon was not built (${path} is missing: run \`npm run build -w @omnitok/native-kernels\` with g++ available)` });
  try {
    const kernels = createRequire(import.meta.url)(path) as NativeKernels;
    return (cached = { ok: true, kernels, path });
  } catch (error) {
    return (cached = { ok: false, reason: `the addon failed to load: ${(error as Error).message.split('\n')[0]}` });
  }
}
