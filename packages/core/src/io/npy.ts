import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import { bytesOf, checkShape, type DenseArray, type DType, dtypeByName, dtypeOf, type NumericArray, readElements } from './dtype.js';

/*
 * NumPy's `.npy` format (numpy/lib/format.py, version 1.0; 2.0 when the header outgrows 64 KiB):
 *   "\x93NUMPY" | major | minor | header length (u16 LE; u32 in 2.0) | header | data
 * The header is a Python dict literal, space padded and ended by "\n" so that the data starts on a
 * 64-byte boundary. NumPy also pads for shape[0] to grow to 21 digits; we do the same so that the
 * bytes equal `numpy.save`'s.
 */

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ALIGN = 64;
const GROWTH_AXIS_MAX_DIGITS = 21;

function pythonTuple(shape: readonly number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/** Encodes a C-order array as `.npy` bytes, byte-identical to `numpy.save` (NumPy ≥ 1.24). */
export function encodeNpy(array: DenseArray): Uint8Array {
  const { data, shape } = array;
  const info = dtypeOf(data);
  checkShape(data, shape, 'shape');
  const header = npyHeader(info.npy!, shape);
  const payload = bytesOf(data);
  const out = new Uint8Array(header.length + payload.byteLength);
  out.set(header, 0);
  out.set(payload, header.length);
  return out;
}

/**
 * The `.npy` header (magic, version, length, padded dict) of an array of `dtype` and `shape`, as
 * `numpy.save` writes it: the data follows directly. Its length does not depend on `shape[0]` (NumPy
 * leaves room for 21 digits), so a writer can put a header for 0 rows first, append rows as they come
 * and rewrite the header in place with the final count.
 */
export function encodeNpyHeader(dtype: DType, shape: readonly number[]): Uint8Array {
  const info = dtypeByName(dtype, 'dtype');
  if (!info?.npy || dtype === 'F16') throw new InvalidArgumentError('dtype', dtype, 'one of F32 F64 I8 I16 I32 I64 U8 U16 U32');
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new InvalidArgumentError('shape', shape, 'non-negative integers');
  return npyHeader(info.npy, shape);
}

function npyHeader(descr: string, shape: readonly number[]): Uint8Array {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${pythonTuple(shape)}, }`;
  if (shape.length > 0) header += ' '.repeat(GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length);
  const hlen = header.length + 1; // + "\n"
  let lengthBytes = 2;
  let padlen = ALIGN - ((MAGIC.length + 2 + lengthBytes + hlen) % ALIGN);
  if (hlen + padlen > 0xffff) {
    lengthBytes = 4;
    padlen = ALIGN - ((MAGIC.length + 2 + lengthBytes + hlen) % ALIGN);
  }
  const headerTotal = hlen + padlen;
  const prefix = MAGIC.length + 2 + lengthBytes;
  const out = new Uint8Array(prefix + headerTotal);
  out.set(MAGIC, 0);
  out[6] = lengthBytes === 2 ? 1 : 2;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (lengthBytes === 2) view.setUint16(8, headerTotal, true);
  else view.setUint32(8, headerTotal, true);
  const text = header + ' '.repeat(padlen) + '\n';
  for (let i = 0; i < text.length; i++) out[prefix + i] = text.charCodeAt(i);
  return out;
}

/** Decodes `.npy` bytes (versions 1–3, little-endian or byte-wide dtypes, C order). */
export function decodeNpy(bytes: Uint8Array): DenseArray<NumericArray> {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new InvalidArgumentError('npy bytes', bytes, 'data starting with the "\\x93NUMPY" magic');
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lengthBytes = major === 1 ? 2 : 4;
  if (bytes.length < 8 + lengthBytes) throw new InvalidArgumentError('npy bytes', bytes, `at least ${8 + lengthBytes} bytes (the header length)`);
  const headerLength = lengthBytes === 2 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = 8 + lengthBytes;
  if (start + headerLength > bytes.length) throw new InvalidArgumentError('npy header length', headerLength, `at most ${bytes.length - start}`);
  const header = new TextDecoder('latin1').decode(bytes.subarray(start, start + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new InvalidArgumentError('npy header', header.trim(), "a dict with 'descr', 'fortran_order' and 'shape'");
  if (fortran === 'True') throw new InvalidArgumentError('npy fortran_order', true, 'C order (False)');
  const info = dtypeByName(descr, 'npy');
  if (!info) throw new InvalidArgumentError('npy descr', descr, 'one of <f4 <f8 <f2 |i1 <i2 <i4 <i8 |u1 <u2 <u4');
  const dims = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (!dims.every((d) => /^\d+L?$/.test(d) && Number.isSafeInteger(parseInt(d, 10)))) throw new InvalidArgumentError('npy shape', `(${shapeText})`, 'non-negative integers');
  const shape = dims.map((d) => parseInt(d, 10));
  const size = shape.reduce((a, b) => a * b, 1);
  const offset = start + headerLength;
  if (bytes.length < offset + size * info.bytes) {
    throw new InvalidArgumentError('npy bytes', bytes, `${offset + size * info.bytes} bytes for shape (${shape.join(', ')})`);
  }
  return { data: readElements(info, bytes, offset, size), shape };
}
