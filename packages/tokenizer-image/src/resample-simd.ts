import type { AxisCoefficients, OutputWindow, PixelView } from './resample.js';
import { RESAMPLE_WASM_BASE64 } from './resample-wasm-binary.js';

/**
 * WebAssembly SIMD kernels for the 3-channel convolution passes (wasm/resample.wat). Same integer sums
 * as the scalar port, so the same bytes; about 4× faster. `undefined` where WebAssembly SIMD is missing.
 */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
// The WebAssembly global, typed locally (the project's lib settings do not declare it).
const wasm = (globalThis as unknown as {
  WebAssembly?: { Module: new (bytes: Uint8Array) => object; Instance: new (module: object) => { exports: unknown } };
}).WebAssembly;

interface Kernels {
  readonly memory: WasmMemory;
  hpass(src: number, srcStride: number, rows: number, xs: number, w: number, groups: number, cols: number, out: number): void;
  vpass(src: number, srcStride: number, outRows: number, starts: number, counts: number, weights: number, ksize: number, rowBytes: number, out: number, outStride: number): void;
  normalize(
    src: number, srcStride: number, rows: number, cols: number, rowBase: number, col: number, plane: number, contiguous: number,
    m0: number, m1: number, m2: number, s0: number, s1: number, s2: number,
  ): void;
}

/**
 * Where {@link resizeRgbSimd} writes normalized float32 values instead of bytes: pixel x of window row y,
 * channel c goes to `out[offset + (rowBase[y] + col[x]) / 4 + c * plane / 4]` (byte offsets relative to
 * the `count`-float result), each value `((v / 255) - mean[c]) / std[c]` in float32.
 */
export interface NormalizeTarget {
  readonly out: Float32Array;
  readonly offset: number;
  /** Floats written, `C × H × W`. */
  readonly count: number;
  readonly rowBase: Int32Array;
  readonly col: Int32Array;
  readonly plane: number;
  /** `col[x + k] = col[x] + 4k` within every aligned group of 4 columns. */
  readonly contiguous: boolean;
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
  /**
   * Copy the result out in runs of `length` floats, run `i` to `offset + i·stride` (a tubelet frame
   * slot: the kernel writes patch order, each (token, channel) run goes to its place among the other
   * frames' values); absent = one contiguous copy of `count` floats.
   */
  readonly runs?: { readonly length: number; readonly stride: number };
}

let kernels: Kernels | null | undefined;

function load(): Kernels | null {
  if (kernels !== undefined) return kernels;
  try {
    if (!wasm) return (kernels = null);
    const module = new wasm.Module(Buffer.from(RESAMPLE_WASM_BASE64, 'base64'));
    kernels = new wasm.Instance(module).exports as unknown as Kernels;
  } catch {
    kernels = null;
  }
  return kernels;
}

/** Whether the SIMD kernels are usable here (can be forced off with OMNITOK_IMAGE_NO_SIMD=1, for tests). */
export function simdAvailable(): boolean {
  return process.env.OMNITOK_IMAGE_NO_SIMD !== '1' && load() !== null;
}

/** Horizontal taps in the kernel's layout: per output pixel, groups of 4 taps as i16 hi/lo pair vectors. */
interface HorizontalTaps {
  readonly groups: number;
  readonly xs: Int32Array;
  readonly w: Int16Array;
}
const horizontalCache = new WeakMap<AxisCoefficients, HorizontalTaps>();

function horizontalTaps(co: AxisCoefficients): HorizontalTaps {
  const cached = horizontalCache.get(co);
  if (cached) return cached;
  const { ksize, start, count, weights } = co;
  const out = start.length;
  const groups = Math.ceil(ksize / 4);
  const xs = new Int32Array(out);
  const w = new Int16Array(out * groups * 32);
  for (let xx = 0; xx < out; xx++) {
    xs[xx] = start[xx]! * 3;
    for (let g = 0; g < groups; g++) {
      const base = (xx * groups + g) * 32;
      for (let k = 0; k < 4; k++) {
        const t = g * 4 + k;
        const value = t < count[xx]! ? weights[xx * ksize + t]! : 0;
        // value = hi * 2048 + lo with lo in [0, 2048): both fit i16, products fit the dot's i32 lanes.
        const hi = value >> 11;
        const lo = value & 2047;
        const vector = k >> 1; // taps 0,1 → vector A; taps 2,3 → vector B
        const lane = k & 1;
        for (let c = 0; c < 3; c++) {
          w[base + vector * 8 + c * 2 + lane] = hi;
          w[base + 16 + vector * 8 + c * 2 + lane] = lo;
        }
      }
    }
  }
  const result = { groups, xs, w };
  horizontalCache.set(co, result);
  return result;
}

/** A bump allocator over the kernel memory, 16-byte aligned, growing it as needed. */
function layout(k: Kernels, sizes: number[]): number[] {
  const offsets: number[] = [];
  let at = 0;
  for (const size of sizes) {
    offsets.push(at);
    at += Math.ceil((size + 64) / 16) * 16;
  }
  const need = Math.ceil(at / 65536) - k.memory.buffer.byteLength / 65536;
  if (need > 0) k.memory.grow(need);
  return offsets;
}

/**
 * The SIMD version of the two-pass convolution for a 3-channel view: `horiz` / `vert` are the axis
 * coefficients (undefined when that axis keeps its size, as in Pillow). Writes the window into `out`.
 */
export function resizeRgbSimd(
  src: PixelView,
  horiz: AxisCoefficients | undefined,
  vert: AxisCoefficients | undefined,
  window: OutputWindow,
  out: Uint8Array | NormalizeTarget,
): void {
  const k = load()!;
  const rowBytesOut = window.width * 3;
  const [rowFirst, rowLast] = sourceRows(vert, window);
  const rows = rowLast - rowFirst;
  const srcRowBytes = src.width * 3;
  const taps = horiz ? horizontalTaps(horiz) : undefined;
  const midBytes = horiz && vert ? rows * rowBytesOut : 0;
  const norm = out instanceof Uint8Array ? undefined : out;
  const [srcAt, xsAt, wAt, midAt, startsAt, countsAt, vwAt, outAt, rowBaseAt, colAt, floatsAt] = layout(k, [
    rows * srcRowBytes + (taps ? taps.groups * 12 + 16 : 16),
    taps ? taps.xs.byteLength : 0,
    taps ? taps.w.byteLength : 0,
    midBytes + 16,
    vert ? window.height * 4 : 0,
    vert ? window.height * 4 : 0,
    vert ? window.height * vert.ksize * 4 : 0,
    window.height * rowBytesOut + 16,
    norm ? window.height * 4 : 0,
    norm ? window.width * 4 : 0,
    norm ? norm.count * 4 : 0,
  ]) as [number, number, number, number, number, number, number, number, number, number, number];
  const heap = new Uint8Array(k.memory.buffer);

  // Copy the source rows the passes read (the view's columns only).
  const colOffset = src.x * 3;
  for (let r = 0; r < rows; r++) {
    const from = (src.y + rowFirst + r) * src.stride + colOffset;
    heap.set(src.data.subarray(from, from + srcRowBytes), srcAt + r * srcRowBytes);
  }

  let vSrc = srcAt;
  let vStride = srcRowBytes;
  const vRowShift = rowFirst;
  if (taps) {
    new Int32Array(k.memory.buffer, xsAt, taps.xs.length).set(taps.xs);
    new Int16Array(k.memory.buffer, wAt, taps.w.length).set(taps.w);
    const target = vert ? midAt : outAt;
    k.hpass(srcAt, srcRowBytes, rows, xsAt + window.x * 4, wAt + window.x * taps.groups * 64, taps.groups, window.width, target);
    vSrc = midAt;
    vStride = rowBytesOut;
  } else {
    vSrc = srcAt + window.x * 3;
  }
  if (vert) {
    const starts = new Int32Array(k.memory.buffer, startsAt, window.height);
    for (let r = 0; r < window.height; r++) starts[r] = vert.start[window.y + r]! - vRowShift;
    new Int32Array(k.memory.buffer, countsAt, window.height).set(vert.count.subarray(window.y, window.y + window.height));
    new Int32Array(k.memory.buffer, vwAt, window.height * vert.ksize).set(
      vert.weights.subarray(window.y * vert.ksize, (window.y + window.height) * vert.ksize),
    );
    k.vpass(vSrc, vStride, window.height, startsAt, countsAt, vwAt, vert.ksize, rowBytesOut, outAt, rowBytesOut);
  }
  if (!norm) {
    (out as Uint8Array).set(new Uint8Array(k.memory.buffer, outAt, window.height * rowBytesOut));
    return;
  }
  // rowBase is relative to the result; the kernel wants addresses.
  const rowBase = new Int32Array(k.memory.buffer, rowBaseAt, window.height);
  for (let y = 0; y < window.height; y++) rowBase[y] = floatsAt + norm.rowBase[y]!;
  new Int32Array(k.memory.buffer, colAt, window.width).set(norm.col);
  const { mean: m, std: sd } = norm;
  k.normalize(outAt, rowBytesOut, window.height, window.width, rowBaseAt, colAt, norm.plane, norm.contiguous ? 1 : 0, m[0], m[1], m[2], sd[0], sd[1], sd[2]);
  const floats = new Float32Array(k.memory.buffer, floatsAt, norm.count);
  if (!norm.runs) return norm.out.set(floats, norm.offset);
  const { length, stride } = norm.runs;
  for (let i = 0, o = norm.offset; i < norm.count; i += length, o += stride) norm.out.set(floats.subarray(i, i + length), o);
}

/**
 * The source rows `[first, last)` the vertical pass reads for the window's output rows (all of the
 * window's rows when there is no vertical pass). Shared with the scalar path in resample.ts.
 */
export function sourceRows(vert: AxisCoefficients | undefined, window: OutputWindow): [number, number] {
  if (!vert) return [window.y, window.y + window.height];
  let first = Infinity;
  let last = 0;
  for (let yy = window.y; yy < window.y + window.height; yy++) {
    first = Math.min(first, vert.start[yy]!);
    last = Math.max(last, vert.start[yy]! + vert.count[yy]!);
  }
  return [first, last];
}
