import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import { bytesOf, checkShape, type DenseArray, type DType, dtypeByName, type DTypeInfo, dtypeOf, type NumericArray, readElements } from './dtype.js';

/*
 * safetensors (huggingface/safetensors, docs "Format"):
 *   N (u64 LE) | header: N bytes of UTF-8 JSON | byte buffer
 * The header maps each tensor name to { dtype, shape, data_offsets: [begin, end] } (offsets relative
 * to the byte buffer) and may hold "__metadata__": { string: string }. Tensors are packed in order
 * without gaps, and the header is padded with spaces to a multiple of 8 bytes so the buffer is aligned.
 */

export interface SafetensorsFile {
  readonly tensors: Record<string, DenseArray<NumericArray> & { readonly dtype: DType }>;
  readonly metadata: Record<string, string>;
}

/** Encodes named arrays (in insertion order) and optional string metadata as safetensors bytes. */
export function encodeSafetensors(tensors: Record<string, DenseArray>, metadata?: Record<string, string>): Uint8Array {
  const specs: Record<string, { dtype: DType; shape: readonly number[] }> = {};
  const payloads: Uint8Array[] = [];
  for (const [name, array] of Object.entries(tensors)) {
    checkShape(array.data, array.shape, `${name}.shape`);
    specs[name] = { dtype: dtypeOf(array.data).dtype, shape: array.shape };
    payloads.push(bytesOf(array.data));
  }
  const header = encodeSafetensorsHeader(specs, metadata);
  const out = new Uint8Array(header.length + payloads.reduce((n, p) => n + p.byteLength, 0));
  out.set(header, 0);
  let at = header.length;
  for (const p of payloads) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * The header (size, then the JSON padded with spaces to a multiple of 8) of a safetensors file holding
 * tensors of these dtypes and shapes, packed in this order, and string metadata: the tensors' bytes
 * follow directly. For writers that stream the data after it.
 */
export function encodeSafetensorsHeader(tensors: Record<string, { readonly dtype: DType; readonly shape: readonly number[] }>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new InvalidArgumentError(`metadata.${k}`, v, 'a string');
    }
    header.__metadata__ = metadata;
  }
  let offset = 0;
  for (const [name, { dtype, shape }] of Object.entries(tensors)) {
    if (name === '__metadata__' || name.length === 0) throw new InvalidArgumentError('tensor name', name, 'a non-empty name other than __metadata__');
    const info = dtypeByName(dtype, 'dtype');
    if (!info || dtype === 'F16' || dtype === 'BF16') throw new InvalidArgumentError(`${name}.dtype`, dtype, 'one of F32 F64 I8 I16 I32 I64 U8 U16 U32');
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new InvalidArgumentError(`${name}.shape`, shape, 'non-negative integers');
    const bytes = shape.reduce((a, b) => a * b, 1) * info.bytes;
    header[name] = { dtype, shape: [...shape], data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const withSpaces = new Uint8Array(padded).fill(0x20);
    withSpaces.set(json);
    json = withSpaces;
  }
  const out = new Uint8Array(8 + json.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

/**
 * Decodes safetensors bytes; validates offsets against the buffer and the declared shapes. Each tensor
 * is a fresh array, unless `views` (for bytes nobody will change: a file just read) lets aligned tensors
 * be views of `bytes` — no second copy of a multi-gigabyte checkpoint.
 */
export function decodeSafetensors(bytes: Uint8Array, options: { readonly views?: boolean } = {}): SafetensorsFile {
  if (bytes.length < 8) throw new InvalidArgumentError('safetensors bytes', bytes, 'at least 8 bytes (the header size)');
  const n = headerSize(bytes, bytes.length);
  const { entries, metadata } = parseHeader(bytes.subarray(8, 8 + n), bytes.length - 8 - n);
  const base = 8 + n;
  const tensors: SafetensorsFile['tensors'] = {};
  for (const e of entries) tensors[e.name] = { data: readElements(e.info, bytes, base + e.begin, e.size, options.views), shape: e.shape, dtype: e.info.dtype };
  return { tensors, metadata };
}

/**
 * Opens a safetensors file for reading tensor by tensor: the header is read and checked now (against
 * the file's size), and each tensor's `data` is read from the file when it is asked for — a fresh
 * array on every access, nothing kept. Importing a checkpoint this way holds one tensor at a time
 * rather than the whole file. The file must not change while it is used.
 */
export function openSafetensors(path: string): SafetensorsFile {
  const fd = openSync(path, 'r');
  let entries: HeaderEntry[];
  let metadata: Record<string, string>;
  let base: number;
  try {
    const fileSize = fstatSync(fd).size;
    const head = readRange(fd, 0, Math.min(8, fileSize));
    if (head.length < 8) throw new InvalidArgumentError('safetensors bytes', head, 'at least 8 bytes (the header size)');
    const n = headerSize(head, fileSize);
    base = 8 + n;
    ({ entries, metadata } = parseHeader(readRange(fd, 8, n), fileSize - base));
  } finally {
    closeSync(fd);
  }
  const tensors: SafetensorsFile['tensors'] = {};
  for (const e of entries) {
    tensors[e.name] = {
      shape: e.shape,
      dtype: e.info.dtype,
      get data() {
        const reader = openSync(path, 'r');
        try {
          return readElements(e.info, readRange(reader, base + e.begin, e.size * e.info.bytes), 0, e.size, true);
        } finally {
          closeSync(reader);
        }
      },
    };
  }
  return { tensors, metadata };
}

interface HeaderEntry {
  readonly name: string;
  readonly info: DTypeInfo;
  readonly shape: number[];
  /** Byte offset in the data buffer. */
  readonly begin: number;
  /** Elements. */
  readonly size: number;
}

function headerSize(head: Uint8Array, total: number): number {
  const n = Number(new DataView(head.buffer, head.byteOffset, 8).getBigUint64(0, true));
  if (8 + n > total) throw new InvalidArgumentError('safetensors header size', n, `at most ${total - 8}`);
  return n;
}

/** The header's tensors and metadata, each entry checked against a data buffer of `dataBytes`. */
function parseHeader(json: Uint8Array, dataBytes: number): { entries: HeaderEntry[]; metadata: Record<string, string> } {
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(json));
  } catch (error) {
    throw new InvalidArgumentError('safetensors header', '<unparsable JSON>', 'a JSON object', { cause: error });
  }
  if (!isRecord(header)) throw new InvalidArgumentError('safetensors header', header, 'a JSON object of tensors');
  const entries: HeaderEntry[] = [];
  let metadata: Record<string, string> = {};
  // a damaged or hostile file gets an error naming the entry, never a TypeError or a wrong array
  const count = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isRecord(entry) || !Object.values(entry).every((v) => typeof v === 'string')) throw new InvalidArgumentError('safetensors __metadata__', entry, 'an object of strings');
      metadata = entry as Record<string, string>;
      continue;
    }
    if (!isRecord(entry)) throw new InvalidArgumentError(`safetensors entry ${name}`, entry, 'an object with dtype, shape and data_offsets');
    const { dtype, shape, data_offsets } = entry;
    const info = typeof dtype === 'string' ? dtypeByName(dtype, 'dtype') : undefined;
    if (!info) throw new InvalidArgumentError(`${name}.dtype`, dtype, 'one of F32 F64 F16 BF16 I8 I16 I32 I64 U8 U16 U32');
    if (!Array.isArray(shape) || !shape.every(count)) throw new InvalidArgumentError(`${name}.shape`, shape, 'an array of non-negative integers');
    if (!Array.isArray(data_offsets) || data_offsets.length !== 2 || !data_offsets.every(count)) {
      throw new InvalidArgumentError(`${name}.data_offsets`, data_offsets, 'two non-negative integers [begin, end]');
    }
    const [begin, end] = data_offsets as [number, number];
    const size = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end - begin !== size * info.bytes || end > dataBytes) {
      throw new InvalidArgumentError(`${name}.data_offsets`, data_offsets, `${size * info.bytes} bytes inside the buffer`);
    }
    entries.push({ name, info, shape: shape as number[], begin, size });
  }
  return { entries, metadata };
}

/** `length` bytes of `fd` from `position` (fewer only at the end of the file). */
function readRange(fd: number, position: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, out, done, length - done, position + done);
    if (n === 0) return out.subarray(0, done);
    done += n;
  }
  return out;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
