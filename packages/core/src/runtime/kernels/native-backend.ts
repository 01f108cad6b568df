import * as tf from '@tensorflow/tfjs';
import type { NamedAttrMap, TensorInfo } from '@tensorflow/tfjs';
import { envVar } from '../env.js';
import { recordingGradients } from '../grad-checkpoint.js';
import { broadcastBatchIndex, matMulDims } from './matmul-dims.js';

/**
 * The `native` TensorFlow.js backend: the cpu backend (plain-JS kernels, same data layout: one
 * Float32Array per tensor) with the kernels that dominate a transformer training step replaced by
 * C++ ones from `@omnitok/native-kernels` (its own thread pool across cores; a packed AVX-512 /
 * AVX2 GEMM, or OpenBLAS where that is faster):
 *
 * - BatchMatMul / _FusedMatMul (transposes, batches and broadcast batches inside one GEMM call — a
 *   GEMM per batch where both operands broadcast, which the cpu kernel gets wrong —, the bias added
 *   in place), Transpose, Slice, SplitV, Add / Sub / Multiply / RealDiv (any broadcast up to
 *   rank 6 after merging dims), Sum over a contiguous range of axes;
 * - fused ops the layers call on this backend (see fused-ops.ts): LayerNorm, GELU, self-attention
 *   (QKᵀ, masks, softmax, ·V) — each with its backward kernel — and the AdamW update;
 * - GatherV2, Concat, Tile, PadV2 as row copies in JS (the cpu kernels index element by element);
 * - UnsortedSegmentSum (tf.gather's gradient, missing on wasm) stays the cpu backend's: it exists there.
 *
 * Every other kernel is the cpu backend's own, registered again under `native`; any case a native
 * kernel does not cover (another dtype, a general broadcast) delegates to the cpu kernel too, so
 * results never depend on coverage.
 */
export const NATIVE = 'native';

/** The addon's interface (structurally the same as @omnitok/native-kernels' NativeKernels). */
export interface Kernels {
  matmul(a: Float32Array, b: Float32Array, c: Float32Array, batch: number, M: number, N: number, K: number, transA: boolean, transB: boolean, strideA: number, strideB: number, alpha: number, beta: number): void;
  /** Absent in addons built before it (the caller then multiplies and adds the bias apart). */
  matmulBias?(a: Float32Array, b: Float32Array, c: Float32Array, bias: Float32Array, M: number, N: number, K: number, transA: boolean, transB: boolean): void;
  /** The built-in GEMM's packed layout of op(b) [K, N] (null with OpenBLAS); absent in older addons. */
  packWeights?(b: Float32Array, K: number, N: number, transB: boolean): Float32Array | null;
  /** c [M, N] = a [M, K] · packed weights (+ bias, or an empty array), M ≤ packedRowsMax(). */
  matmulPacked?(a: Float32Array, packed: Float32Array, c: Float32Array, bias: Float32Array, M: number, N: number, K: number): void;
  packedRowsMax?(): number;
  addBias(c: Float32Array, bias: Float32Array): void;
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, shape: readonly number[], aStrides: readonly number[], bStrides: readonly number[]): void;
  reduceSum(x: Float32Array, out: Float32Array, outer: number, mid: number, inner: number): void;
  transpose(x: Float32Array, out: Float32Array, shape: readonly number[], perm: readonly number[]): void;
  slice(x: Float32Array, out: Float32Array, shape: readonly number[], begin: readonly number[], size: readonly number[]): void;
  layerNorm(x: Float32Array, w: Float32Array, b: Float32Array, y: Float32Array, mean: Float32Array, rstd: Float32Array, rows: number, cols: number, eps: number): void;
  layerNormBwd(dy: Float32Array, x: Float32Array, w: Float32Array, mean: Float32Array, rstd: Float32Array, dx: Float32Array, dw: Float32Array, db: Float32Array, rows: number, cols: number): void;
  gelu(x: Float32Array, y: Float32Array, kind: number): void;
  geluBwd(x: Float32Array, dy: Float32Array, dx: Float32Array, kind: number): void;
  flashAttention(qkv: Float32Array, keyMask: Float32Array, out: Float32Array, stats: Float32Array, B: number, N: number, H: number, Dh: number, causal: boolean): void;
  flashAttentionBwd(dOut: Float32Array, qkv: Float32Array, keyMask: Float32Array, stats: Float32Array, dqkv: Float32Array, B: number, N: number, H: number, Dh: number, causal: boolean): void;
  adamw(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, lr: number, beta1: number, beta2: number, eps: number, decay: number, bc1: number, bc2: number, gradScale: number): void;
  sumSquares(x: Float32Array): number;
  info(): { blas: string; threads: number; isa: string };
  configure(threads: number, useBlas: boolean): void;
}

interface CpuData {
  values?: ArrayLike<number>;
  dtype: string;
  refCount: number;
}
interface CpuBackendLike {
  data: { get(dataId: object): CpuData | undefined };
  makeTensorInfo(shape: readonly number[], dtype: string, values: Float32Array): TensorInfo;
}
type KernelArgs = { inputs: Record<string, TensorInfo>; backend: object; attrs?: NamedAttrMap };
type KernelFn = (args: KernelArgs) => TensorInfo | TensorInfo[];

let native: Kernels | undefined;

/** The loaded addon, once `registerNativeBackend` ran. */
export function nativeKernels(): Kernels | undefined {
  return native;
}

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/*
 * Output buffers are recycled: a freed tensor's Float32Array goes to a pool by length and the next
 * native kernel output of that length reuses it. Fresh large arrays cost page faults and GC
 * (≈ 1 ms per 2 MB), which made a plain `Add` slower than its arithmetic. Safety: a buffer is pooled
 * only when its tensor data is freed, it is attached to at most one tensor data at a time (a second
 * attach — a cpu kernel returning a view such as a contiguous Slice's subarray — is copied), and
 * reads (`dataSync`/`data`) return copies, so no array handed out can change later.
 */
const pool = new Map<number, Float32Array[]>();
const attached = new WeakSet<ArrayBufferLike>();
let pooledBytes = 0;
const POOL_LIMIT = 512 * 2 ** 20;

/**
 * Empties the pool. For after a model's weights were all replaced (a pretrained import): the freed
 * initial weights would otherwise sit in the pool, up to its 512 MiB, for buffers of those sizes.
 */
export function clearBufferPool(): void {
  pool.clear();
  pooledBytes = 0;
}

function alloc(n: number): Float32Array {
  const free = pool.get(n);
  const a = free?.pop();
  if (a) {
    pooledBytes -= a.byteLength;
    return a; // stale contents: every native kernel writes all of its output
  }
  return new Float32Array(n);
}

/*
 * Packed weights for few-row inference (one sample's tokens): with ≤ 224 rows a linear layer's GEMM
 * is bound by streaming its weights from memory (a 12-layer tower's do not fit the caches), and the
 * contiguous packed layout streams 1.4× faster than the weights read in place row by row. Outside a
 * gradient tape a weight's packed copy is made on first use and kept, by its values array, until
 * that array is freed (it may come back from the pool as another tensor's) or updated in place
 * (AdamW: forgetPackedWeights). Costs a second copy of each weight so used;
 * OMNITOK_NATIVE_PACK_WEIGHTS=0 turns it off.
 */
const packedWeights = new WeakMap<Float32Array, { readonly K: number; readonly N: number; readonly tb: boolean; readonly data: Float32Array }>();

/** Drops the packed copy of a weight whose values are about to change in place. */
export function forgetPackedWeights(values: Float32Array): void {
  packedWeights.delete(values);
}

function release(values: unknown): void {
  if (values instanceof Float32Array) packedWeights.delete(values);
  if (!(values instanceof Float32Array) || values.byteOffset !== 0 || values.byteLength !== values.buffer.byteLength) return;
  attached.delete(values.buffer);
  if (values.length < 1024 || pooledBytes + values.byteLength > POOL_LIMIT) return;
  let free = pool.get(values.length);
  if (!free) pool.set(values.length, (free = []));
  free.push(values);
  pooledBytes += values.byteLength;
}

/** Attaches a buffer to tensor data; a buffer already attached (a view, a shared array) is copied. */
function attach<T>(values: T): T {
  if (ArrayBuffer.isView(values) && !(values instanceof DataView)) {
    const buffer = (values as unknown as Float32Array).buffer;
    if (attached.has(buffer)) return (values as unknown as Float32Array).slice() as unknown as T;
    attached.add(buffer);
  }
  return values;
}

/** The cpu backend class with pooled buffers (see above). */
function nativeBackendClass(Base: new () => object): new () => object {
  type Data = { values?: unknown; dtype: string };
  class NativeBackend extends (Base as new () => { data: { get(id: object): Data | undefined; has(id: object): boolean }; write(v: unknown, s: number[], d: string): object; move(id: object, v: unknown, s: number[], d: string, r: number): void; readSync(id: object): unknown; disposeData(id: object, force?: boolean): boolean }) {
    override write(values: unknown, shape: number[], dtype: string): object {
      return super.write(attach(values), shape, dtype);
    }
    override move(dataId: object, values: unknown, shape: number[], dtype: string, refCount: number): void {
      super.move(dataId, attach(values), shape, dtype, refCount);
    }
    override readSync(dataId: object): unknown {
      const v = super.readSync(dataId);
      return v instanceof Float32Array ? v.slice() : v;
    }
    override disposeData(dataId: object, force = false): boolean {
      const values = this.data.get(dataId)?.values;
      const freed = super.disposeData(dataId, force);
      if (values !== undefined && !this.data.has(dataId)) release(values);
      return freed;
    }
  }
  return NativeBackend as unknown as new () => object;
}

/** A float32 tensor's values, for reading (a float32 tensor kept in an int array by the cpu Cast is copied). */
function f32(backend: object, t: TensorInfo): Float32Array | undefined {
  if (t.dtype !== 'float32') return undefined;
  const v = (backend as CpuBackendLike).data.get(t.dataId)?.values;
  if (v instanceof Float32Array) return v;
  return v instanceof Int32Array || v instanceof Uint8Array ? Float32Array.from(v) : undefined;
}

/** The Float32Array itself (for in-place updates), or undefined. */
function f32Strict(backend: object, t: TensorInfo): Float32Array | undefined {
  const v = t.dtype === 'float32' ? (backend as CpuBackendLike).data.get(t.dataId)?.values : undefined;
  return v instanceof Float32Array ? v : undefined;
}

/** The values as a Float32Array, copied when the cpu backend keeps them in another array type (its int→float Cast shares the int buffer). */
function asF32(backend: object, t: TensorInfo): Float32Array {
  const v = (backend as CpuBackendLike).data.get(t.dataId)!.values!;
  return v instanceof Float32Array ? v : Float32Array.from(v);
}

function out(backend: object, shape: readonly number[], values: Float32Array): TensorInfo {
  return (backend as CpuBackendLike).makeTensorInfo(shape, 'float32', values);
}

/** The Float32Array behind a tensor of the native backend, or undefined (other dtype / backend). */
export function tensorValues(t: tf.Tensor): Float32Array | undefined {
  if (tf.getBackend() !== NATIVE || t.dtype !== 'float32') return undefined;
  return f32Strict(tf.backend(), t);
}

/** The tensor's data is referenced by this tensor only (safe to update in place). */
export function soleOwner(t: tf.Tensor): boolean {
  return ((tf.backend() as unknown as CpuBackendLike).data.get(t.dataId)?.refCount ?? 0) === 1;
}

/**
 * Output dims and each operand's strides (0 where it broadcasts), adjacent dims merged where both
 * operands allow it, padded in front to rank 6 — the layout the native `binary` kernel takes.
 */
export function broadcastStrides(shape: readonly number[], aShape: readonly number[], bShape: readonly number[]): [number[], number[], number[]] {
  const strides = (s: readonly number[]): number[] => {
    const full = [...Array(shape.length - s.length).fill(1), ...s];
    const st = new Array<number>(shape.length).fill(0);
    let acc = 1;
    for (let i = shape.length - 1; i >= 0; i--) {
      st[i] = full[i] === 1 && shape[i] !== 1 ? 0 : acc;
      acc *= full[i]!;
    }
    return st;
  };
  const sa = strides(aShape);
  const sb = strides(bShape);
  const dims: number[] = [];
  const ma: number[] = [];
  const mb: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (shape[i] === 1) continue;
    const j = dims.length - 1;
    if (j >= 0 && ma[j] === sa[i]! * shape[i]! && mb[j] === sb[i]! * shape[i]!) {
      dims[j]! *= shape[i]!;
      ma[j] = sa[i]!;
      mb[j] = sb[i]!;
    } else {
      dims.push(shape[i]!);
      ma.push(sa[i]!);
      mb.push(sb[i]!);
    }
  }
  if (dims.length > 6) throw new Error('rank > 6 after merging');
  while (dims.length < 6) {
    dims.unshift(1);
    ma.unshift(0);
    mb.unshift(0);
  }
  return [dims, ma, mb];
}

function makeOverrides(k: Kernels, cpu: Map<string, KernelFn>): Map<string, KernelFn> {
  const fallback = (name: string, args: KernelArgs) => cpu.get(name)!(args);
  const o = new Map<string, KernelFn>();

  const packedRows = k.packWeights && k.matmulPacked && k.packedRowsMax && envVar('OMNITOK_NATIVE_PACK_WEIGHTS') !== '0' ? k.packedRowsMax() : 0;
  /** The weight's packed copy (made on first use), or undefined where the addon makes none. */
  function packedWeight(values: Float32Array, K: number, N: number, tb: boolean): Float32Array | undefined {
    const kept = packedWeights.get(values);
    if (kept && kept.K === K && kept.N === N && kept.tb === tb) return kept.data;
    const data = k.packWeights!(values, K, N, tb);
    if (!data) return undefined;
    packedWeights.set(values, { K, N, tb, data });
    return data;
  }

  function matmul(a: TensorInfo, b: TensorInfo, ta: boolean, tb: boolean, backend: object): TensorInfo | undefined {
    const av = f32(backend, a);
    const bv = f32(backend, b);
    if (!av || !bv) return undefined;
    const dims = matMulDims(a.shape, b.shape, ta, tb);
    if (!dims) return undefined;
    const { m: M, k: K, n: N } = dims;
    const outerA = a.shape.slice(0, -2);
    const outerB = b.shape.slice(0, -2);
    let outer: number[];
    try {
      outer = tf.backend_util.assertAndGetBroadcastShape(outerA, outerB);
    } catch {
      return undefined;
    }
    const batch = size(outer);
    const batchA = size(outerA);
    const batchB = size(outerB);
    const c = alloc(batch * M * N);
    if (batchA === batch && batchB === batch) k.matmul(av, bv, c, batch, M, N, K, ta, tb, M * K, K * N, 1, 0);
    else if (batchB === 1 && !ta) k.matmul(av, bv, c, 1, batch * M, N, K, false, tb, 0, 0, 1, 0); // fold the batch into M
    else if (batchB === 1) k.matmul(av, bv, c, batch, M, N, K, ta, tb, M * K, 0, 1, 0);
    else if (batchA === 1) k.matmul(av, bv, c, batch, M, N, K, ta, tb, 0, K * N, 1, 0);
    else {
      // both operands broadcast ([2, 1] × [1, 3]): a GEMM per batch (tfjs' own kernel sizes these wrongly)
      const ia = broadcastBatchIndex(outer, outerA);
      const ib = broadcastBatchIndex(outer, outerB);
      for (let i = 0; i < batch; i++) k.matmul(av.subarray(ia[i]! * M * K), bv.subarray(ib[i]! * K * N), c.subarray(i * M * N), 1, M, N, K, ta, tb, 0, 0, 1, 0);
    }
    return out(backend, [...outer, M, N], c);
  }

  o.set('BatchMatMul', (args) => {
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    return matmul(a, b, transposeA, transposeB, args.backend) ?? fallback('BatchMatMul', args);
  });

  o.set('_FusedMatMul', (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, TensorInfo | undefined>;
    const { transposeA, transposeB, activation } = args.attrs as { transposeA: boolean; transposeB: boolean; activation?: string };
    if (preluActivationWeights || (activation && activation !== 'linear')) return fallback('_FusedMatMul', args);
    const biasV = bias ? f32(args.backend, bias) : undefined;
    if (bias && (!biasV || bias.shape.length !== 1)) return fallback('_FusedMatMul', args);
    // x [..., K] · w [K, N] + b [N] (a linear layer; the leading dims folded into M): one call whose
    // output starts as the bias rows
    const av = f32(args.backend, a!);
    const bv = f32(args.backend, b!);
    // (tf.fused.matMul hands a rank-2 weight over as [1, K, N]). Inference only: under a gradient tape
    // the product and the bias stay apart as before, so training keeps its exact arithmetic (the bias
    // added first rounds differently, and 800 demo steps then end elsewhere)
    const weight2d = b!.shape.length === 2 || (b!.shape.length === 3 && b!.shape[0] === 1);
    if (biasV && av && bv && !transposeA && weight2d && a!.shape.length >= 2 && k.matmulBias && !recordingGradients()) {
      const K = a!.shape.at(-1)!;
      const N = transposeB ? b!.shape.at(-2)! : b!.shape.at(-1)!;
      if ((transposeB ? b!.shape.at(-1) : b!.shape.at(-2)) === K && biasV.length === N) {
        const M = size(a!.shape) / K;
        const c = alloc(M * N);
        const packed = M <= packedRows && K * N >= 65536 ? packedWeight(bv, K, N, transposeB) : undefined;
        if (packed) k.matmulPacked!(av, packed, c, biasV, M, N, K);
        else k.matmulBias(av, bv, c, biasV, M, N, K, false, transposeB);
        return out(args.backend, [...a!.shape.slice(0, -1), N], c);
      }
    }
    const y = matmul(a!, b!, transposeA, transposeB, args.backend);
    if (!y) return fallback('_FusedMatMul', args);
    if (biasV) {
      if (biasV.length !== y.shape.at(-1)) {
        (args.backend as { disposeIntermediateTensorInfo(t: TensorInfo): void }).disposeIntermediateTensorInfo(y);
        return fallback('_FusedMatMul', args);
      }
      k.addBias(f32(args.backend, y)!, biasV);
    }
    return y;
  });

  o.set('Transpose', (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { perm } = args.attrs as { perm: number[] };
    const xv = f32(args.backend, x);
    if (!xv || x.shape.length > 6) return fallback('Transpose', args);
    const y = alloc(xv.length);
    k.transpose(xv, y, x.shape, perm);
    return out(args.backend, perm.map((p) => x.shape[p]!), y);
  });

  o.set('Slice', (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const xv = f32(args.backend, x);
    if (!xv || x.shape.length > 6) return fallback('Slice', args);
    const [begin, sz] = tf.slice_util.parseSliceParams(x as tf.Tensor, (args.attrs as { begin: number[] }).begin, (args.attrs as { size: number[] }).size) as [number[], number[]];
    const y = alloc(size(sz));
    if (y.length > 0) k.slice(xv, y, x.shape, begin, sz);
    return out(args.backend, sz, y);
  });

  o.set('SplitV', (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { numOrSizeSplits, axis } = args.attrs as { numOrSizeSplits: number[] | number; axis: number };
    const xv = f32(args.backend, x);
    if (!xv || x.shape.length > 6) return fallback('SplitV', args);
    const $axis = tf.util.parseAxisParam(axis, x.shape)[0]!;
    const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, $axis);
    const begin = x.shape.map(() => 0);
    return sizes.map((s) => {
      const sz = [...x.shape];
      sz[$axis] = s;
      const y = alloc(size(sz));
      if (y.length > 0) k.slice(xv, y, x.shape, begin, sz);
      begin[$axis]! += s;
      return out(args.backend, sz, y);
    });
  });

  // row copies in JS (TypedArray.set is a memcpy): the cpu kernels index element by element
  o.set('GatherV2', (args) => {
    const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
    const { axis, batchDims } = args.attrs as { axis: number; batchDims: number };
    const xv = f32(args.backend, x);
    const iv = (args.backend as CpuBackendLike).data.get(indices.dataId)?.values;
    if (!xv || !iv || batchDims || tf.util.parseAxisParam(axis, x.shape)[0] !== 0) return fallback('GatherV2', args);
    const rows = x.shape[0]!;
    const row = xv.length / Math.max(rows, 1);
    const n = iv.length;
    for (let i = 0; i < n; i++) if (!(iv[i]! >= 0 && iv[i]! < rows)) return fallback('GatherV2', args); // the cpu kernel's error
    const y = alloc(n * row);
    for (let i = 0; i < n; i++) y.set(xv.subarray(iv[i]! * row, (iv[i]! + 1) * row), i * row);
    return out(args.backend, [...indices.shape, ...x.shape.slice(1)], y);
  });

  o.set('Concat', (args) => {
    const list = Object.values(args.inputs) as TensorInfo[];
    const axis = tf.util.parseAxisParam((args.attrs as { axis: number }).axis, list[0]!.shape)[0]!;
    const vals = list.map((t) => f32(args.backend, t));
    if (vals.some((v) => !v) || list.some((t) => t.shape.length !== list[0]!.shape.length)) return fallback('Concat', args);
    const shape = [...list[0]!.shape];
    shape[axis] = list.reduce((s, t) => s + t.shape[axis]!, 0);
    const outer = size(shape.slice(0, axis));
    const widths = list.map((t) => size(t.shape.slice(axis)));
    const total = widths.reduce((p, q) => p + q, 0);
    const y = alloc(outer * total);
    for (let o = 0; o < outer; o++) {
      let at = o * total;
      for (let j = 0; j < list.length; j++) {
        const w = widths[j]!;
        y.set(vals[j]!.subarray(o * w, (o + 1) * w), at);
        at += w;
      }
    }
    return out(args.backend, shape, y);
  });

  // the gradient of a slice (e.g. CLS pooling): a constant-filled output with the input copied row by row
  o.set('PadV2', (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { paddings, constantValue } = args.attrs as { paddings: [number, number][]; constantValue: number };
    const xv = f32(args.backend, x);
    if (!xv || x.shape.length === 0) return fallback('PadV2', args);
    const shape = x.shape.map((d, i) => d + paddings[i]![0] + paddings[i]![1]);
    const y = alloc(size(shape)).fill(constantValue);
    const r = x.shape.length;
    const row = x.shape[r - 1]!;
    const outStrides = shape.map((_, i) => size(shape.slice(i + 1)));
    const rows = xv.length / Math.max(row, 1);
    const idx = new Array<number>(r - 1).fill(0);
    for (let q = 0; q < rows; q++) {
      let at = paddings[r - 1]![0];
      for (let i = 0; i < r - 1; i++) at += (idx[i]! + paddings[i]![0]) * outStrides[i]!;
      y.set(xv.subarray(q * row, (q + 1) * row), at);
      for (let i = r - 2; i >= 0; i--) {
        if (++idx[i]! < x.shape[i]!) break;
        idx[i] = 0;
      }
    }
    return out(args.backend, shape, y);
  });

  o.set('Tile', (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const reps = (args.attrs as { reps: number[] }).reps;
    const xv = f32(args.backend, x);
    if (!xv || reps.length !== x.shape.length) return fallback('Tile', args);
    const shape = x.shape.map((d, i) => d * reps[i]!);
    const y = alloc(size(shape));
    // build from the last axis outwards: tile each axis by copying the already-built block
    const r = x.shape.length;
    let block = xv.slice();
    for (let ax = r - 1; ax >= 0; ax--) {
      const outer = size(x.shape.slice(0, ax));
      const inner = block.length / Math.max(outer, 1);
      const next = new Float32Array(block.length * reps[ax]!);
      for (let o = 0; o < outer; o++) {
        const src = block.subarray(o * inner, (o + 1) * inner);
        for (let t = 0; t < reps[ax]!; t++) next.set(src, (o * reps[ax]! + t) * inner);
      }
      block = next;
    }
    y.set(block);
    return out(args.backend, shape, y);
  });

  const binaryOps: [string, number][] = [['Add', 0], ['Sub', 1], ['Multiply', 2], ['RealDiv', 3]];
  for (const [name, op] of binaryOps) {
    o.set(name, (args) => {
      const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
      const av = f32(args.backend, a);
      const bv = f32(args.backend, b);
      if (!av || !bv) return fallback(name, args);
      let shape: number[];
      try {
        shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
        if (shape.length > 6 && shape.filter((d) => d !== 1).length > 6) return fallback(name, args);
      } catch {
        return fallback(name, args);
      }
      const n = size(shape);
      const [dims, sa, sb] = broadcastStrides(shape, a.shape, b.shape);
      const y = alloc(n);
      if (n > 0) k.binary(op, av, bv, y, dims, sa, sb);
      return out(args.backend, shape, y);
    });
  }

  o.set('Sum', (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { axis, keepDims } = args.attrs as { axis: number | number[]; keepDims: boolean };
    const xv = f32(args.backend, x);
    if (!xv) return fallback('Sum', args);
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
    if (axes.length === 0 || axes.some((ax, i) => i > 0 && ax !== axes[i - 1]! + 1)) return fallback('Sum', args);
    const first = axes[0]!;
    const last = axes.at(-1)!;
    const outer = size(x.shape.slice(0, first));
    const mid = size(x.shape.slice(first, last + 1));
    const inner = size(x.shape.slice(last + 1));
    const y = alloc(outer * inner);
    k.reduceSum(xv, y, outer, mid, inner);
    const shape = keepDims ? x.shape.map((d, i) => (i >= first && i <= last ? 1 : d)) : x.shape.filter((_, i) => i < first || i > last);
    return out(args.backend, shape, y);
  });

  // ---- fused ops (called by the layers on this backend only; see fused-ops.ts)
  o.set(LAYER_NORM, (args) => {
    const { x, w, b } = args.inputs as Record<string, TensorInfo>;
    const eps = (args.attrs as { eps: number }).eps;
    const cols = x!.shape.at(-1)!;
    const rows = size(x!.shape) / cols;
    const y = alloc(rows * cols);
    const mean = alloc(rows);
    const rstd = alloc(rows);
    k.layerNorm(f32(args.backend, x!)!, f32(args.backend, w!)!, f32(args.backend, b!)!, y, mean, rstd, rows, cols, eps);
    return [out(args.backend, x!.shape, y), out(args.backend, [rows], mean), out(args.backend, [rows], rstd)];
  });
  o.set(LAYER_NORM_GRAD, (args) => {
    const { dy, x, w, mean, rstd } = args.inputs as Record<string, TensorInfo>;
    const cols = x!.shape.at(-1)!;
    const rows = size(x!.shape) / cols;
    const dx = alloc(rows * cols);
    const dw = alloc(cols);
    const db = alloc(cols);
    const v = (t: TensorInfo | undefined) => f32(args.backend, t!)!;
    k.layerNormBwd(v(dy), v(x), v(w), v(mean), v(rstd), dx, dw, db, rows, cols);
    return [out(args.backend, x!.shape, dx), out(args.backend, [cols], dw), out(args.backend, [cols], db)];
  });
  o.set(GELU, (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const y = alloc(size(x.shape));
    k.gelu(f32(args.backend, x)!, y, (args.attrs as { kind: number }).kind);
    return out(args.backend, x.shape, y);
  });
  o.set(GELU_GRAD, (args) => {
    const { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
    const dx = alloc(size(x.shape));
    k.geluBwd(f32(args.backend, x)!, f32(args.backend, dy)!, dx, (args.attrs as { kind: number }).kind);
    return out(args.backend, x.shape, dx);
  });
  // The forward keeps each query row's softmax max and 1/Σ (stats [B, H, N, 2]), not the N × N
  // probabilities: the backward recomputes them a block of rows at a time.
  o.set(ATTENTION, (args) => {
    const { qkv, mask } = args.inputs as { qkv: TensorInfo; mask?: TensorInfo };
    const { heads, causal } = args.attrs as { heads: number; causal: boolean };
    const [B, N, D3] = qkv.shape as [number, number, number];
    const D = D3 / 3;
    const y = alloc(B * N * D);
    const stats = alloc(B * heads * N * 2);
    const maskV = mask ? asF32(args.backend, mask) : new Float32Array(0);
    k.flashAttention(f32(args.backend, qkv)!, maskV, y, stats, B, N, heads, D / heads, causal);
    return [out(args.backend, [B, N, D], y), out(args.backend, [B, heads, N, 2], stats)];
  });
  o.set(ATTENTION_GRAD, (args) => {
    const { dy, qkv, stats, mask } = args.inputs as Record<string, TensorInfo>;
    const { heads, causal } = args.attrs as { heads: number; causal: boolean };
    const [B, N, D3] = qkv!.shape as [number, number, number];
    const dqkv = alloc(B * N * D3);
    const maskV = mask ? asF32(args.backend, mask) : new Float32Array(0);
    k.flashAttentionBwd(f32(args.backend, dy!)!, f32(args.backend, qkv!)!, maskV, f32(args.backend, stats!)!, dqkv, B, N, heads, D3 / 3 / heads, causal);
    return out(args.backend, qkv!.shape, dqkv);
  });
  return o;
}

export const LAYER_NORM = 'OmnitokLayerNorm';
export const LAYER_NORM_GRAD = 'OmnitokLayerNormGrad';
export const GELU = 'OmnitokGelu';
export const GELU_GRAD = 'OmnitokGeluGrad';
export const ATTENTION = 'OmnitokAttention';
export const ATTENTION_GRAD = 'OmnitokAttentionGrad';

/**
 * Registers the `native` backend (once per process): a fresh cpu-backend instance whose kernels are
 * the cpu ones with the native overrides above. Idempotent.
 */
export function registerNativeBackend(kernels: Kernels): void {
  if (native) return;
  const cpuFactory = tf.findBackendFactory('cpu');
  if (!cpuFactory) throw new Error('the TensorFlow.js cpu backend is not registered');
  const cpuKernels = new Map<string, KernelFn>();
  for (const config of tf.getKernelsForBackend('cpu')) cpuKernels.set(config.kernelName, config.kernelFunc as unknown as KernelFn);
  const overrides = makeOverrides(kernels, cpuKernels);
  for (const config of tf.getKernelsForBackend('cpu')) {
    if (!overrides.has(config.kernelName)) tf.registerKernel({ ...config, backendName: NATIVE });
  }
  for (const [kernelName, kernelFunc] of overrides) tf.registerKernel({ kernelName, backendName: NATIVE, kernelFunc: kernelFunc as never });
  // priority 0: never chosen by TensorFlow.js on its own, only through initBackend
  const Backend = nativeBackendClass(Object.getPrototypeOf(cpuFactory()).constructor);
  tf.registerBackend(NATIVE, () => new Backend() as never, 0);
  native = kernels;
}
