import { InvalidArgumentError } from '../errors/invalid-argument-error.js';

/** The typed arrays omnitok reads and writes. */
export type NumericArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | BigInt64Array;

/**
 * Element types by their safetensors names. `F16` and `BF16` are read only (PyTorch checkpoints are
 * often stored in half precision), widened exactly to a Float32Array.
 */
export type DType = 'F32' | 'F64' | 'F16' | 'BF16' | 'I8' | 'I16' | 'I32' | 'U8' | 'U16' | 'U32' | 'I64';

/** A dense row-major array: what the writers take and the readers return. */
export interface DenseArray<A extends NumericArray = NumericArray> {
  readonly data: A;
  readonly shape: readonly number[];
}

export interface DTypeInfo {
  readonly dtype: DType;
  /** The NumPy descr, where NumPy has the type. */
  readonly npy?: string;
  readonly bytes: number;
  readonly make: (buffer: ArrayBuffer, byteOffset: number, length: number) => NumericArray;
}

const TABLE: readonly DTypeInfo[] = [
  { dtype: 'F32', npy: '<f4', bytes: 4, make: (b, o, n) => new Float32Array(b, o, n) },
  { dtype: 'F64', npy: '<f8', bytes: 8, make: (b, o, n) => new Float64Array(b, o, n) },
  { dtype: 'I8', npy: '|i1', bytes: 1, make: (b, o, n) => new Int8Array(b, o, n) },
  { dtype: 'I16', npy: '<i2', bytes: 2, make: (b, o, n) => new Int16Array(b, o, n) },
  { dtype: 'I32', npy: '<i4', bytes: 4, make: (b, o, n) => new Int32Array(b, o, n) },
  { dtype: 'U8', npy: '|u1', bytes: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
  { dtype: 'U16', npy: '<u2', bytes: 2, make: (b, o, n) => new Uint16Array(b, o, n) },
  { dtype: 'U32', npy: '<u4', bytes: 4, make: (b, o, n) => new Uint32Array(b, o, n) },
  { dtype: 'I64', npy: '<i8', bytes: 8, make: (b, o, n) => new BigInt64Array(b, o, n) },
  // read-only: widened to float32 (dtypeOf never answers these, so nothing is written as half)
  { dtype: 'F16', npy: '<f2', bytes: 2, make: (b, o, n) => widenHalf(new Uint16Array(b, o, n), halfToFloat) },
  { dtype: 'BF16', bytes: 2, make: (b, o, n) => widenHalf(new Uint16Array(b, o, n), bf16ToFloat) },
];

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** bfloat16 is the top half of a float32. */
function bf16ToFloat(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}

/** IEEE binary16 → number (exact: every half is a float32). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1024 + frac) * 2 ** (exp - 25);
}

function widenHalf(halves: Uint16Array, widen: (h: number) => number): Float32Array {
  const out = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) out[i] = widen(halves[i]!);
  return out;
}

export function dtypeOf(data: NumericArray): DTypeInfo {
  const info =
    data instanceof Float32Array ? TABLE[0]
    : data instanceof Float64Array ? TABLE[1]
    : data instanceof Int8Array ? TABLE[2]
    : data instanceof Int16Array ? TABLE[3]
    : data instanceof Int32Array ? TABLE[4]
    : data instanceof Uint8Array ? TABLE[5]
    : data instanceof Uint16Array ? TABLE[6]
    : data instanceof Uint32Array ? TABLE[7]
    : data instanceof BigInt64Array ? TABLE[8]
    : undefined;
  if (!info) throw new InvalidArgumentError('data', data, 'a Float32/Float64/Int8/Int16/Int32/Uint8/Uint16/Uint32/BigInt64 array');
  return info;
}

export function dtypeByName(name: string, key: 'dtype' | 'npy'): DTypeInfo | undefined {
  return TABLE.find((t) => t[key] === name);
}

export function checkShape(data: NumericArray, shape: readonly number[], argument: string): number {
  let size = 1;
  shape.forEach((d, i) => {
    if (!Number.isInteger(d) || d < 0) throw new InvalidArgumentError(`${argument}[${i}]`, d, 'a non-negative integer');
    size *= d;
  });
  if (size !== data.length) {
    throw new InvalidArgumentError(`${argument}`, shape, `a shape whose size equals data.length (${data.length}), got ${size}`);
  }
  return size;
}

/** The array's bytes as little-endian (the host order on every platform Node supports). */
export function bytesOf(data: NumericArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Copies `length` elements starting at `offset` of `bytes` into a fresh, aligned typed array — or, with
 * `view`, returns a view of `bytes` itself where the elements are aligned (F16 / BF16 are widened either way).
 */
export function readElements(info: DTypeInfo, bytes: Uint8Array, offset: number, length: number, view = false): NumericArray {
  if (view && (bytes.byteOffset + offset) % info.bytes === 0) return info.make(bytes.buffer as ArrayBuffer, bytes.byteOffset + offset, length);
  const copy = new ArrayBuffer(length * info.bytes);
  new Uint8Array(copy).set(bytes.subarray(offset, offset + length * info.bytes));
  return info.make(copy, 0, length);
}
