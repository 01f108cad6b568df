import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors/index.js';
import { corruptedCopies } from '../testing/corrupt-bytes.js';
import { decodeSafetensors, encodeSafetensors, encodeSafetensorsHeader, openSafetensors } from './safetensors.js';

describe('encodeSafetensors', () => {
  it('follows the published layout: u64 LE header size, JSON header, packed little-endian data', () => {
    const bytes = encodeSafetensors({ tokens: { data: new Float32Array([1.5, -2]), shape: [1, 2] } });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0); // header padded so the buffer is 8-byte aligned
    const header = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(header.trimEnd()).toBe('{"tokens":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}}');
    expect(header.slice(header.trimEnd().length)).toMatch(/^ *$/);
    expect(bytes.length).toBe(8 + n + 8);
    const view = new DataView(bytes.buffer, 8 + n);
    expect(view.getFloat32(0, true)).toBe(1.5);
    expect(view.getFloat32(4, true)).toBe(-2);
  });

  it('matches hand-assembled bytes for an int32 tensor with metadata', () => {
    const bytes = encodeSafetensors({ ids: { data: new Int32Array([49406, 49407]), shape: [2] } }, { modality: 'text' });
    const json = '{"__metadata__":{"modality":"text"},"ids":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}';
    const padded = json + ' '.repeat((8 - (json.length % 8)) % 8);
    const expected = Buffer.alloc(8 + padded.length + 8);
    expected.writeBigUInt64LE(BigInt(padded.length), 0);
    expected.write(padded, 8, 'utf8');
    expected.writeInt32LE(49406, 8 + padded.length);
    expected.writeInt32LE(49407, 12 + padded.length);
    expect(Buffer.from(bytes).equals(expected)).toBe(true);
  });

  it('round-trips several tensors of different dtypes with consecutive offsets', () => {
    const bytes = encodeSafetensors(
      {
        a: { data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3] },
        b: { data: new Uint8Array([7]), shape: [1] },
        c: { data: new Int32Array([-1, 2]), shape: [2, 1] },
      },
      { preset: 'clip-vit-b-16' },
    );
    const file = decodeSafetensors(bytes);
    expect(file.metadata).toEqual({ preset: 'clip-vit-b-16' });
    expect(file.tensors.a!.shape).toEqual([2, 3]);
    expect(Array.from(file.tensors.a!.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(file.tensors.b!.dtype).toBe('U8');
    expect(Array.from(file.tensors.c!.data as Int32Array)).toEqual([-1, 2]);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header.a.data_offsets).toEqual([0, 24]);
    expect(header.b.data_offsets).toEqual([24, 25]);
    expect(header.c.data_offsets).toEqual([25, 33]);
  });

  it('refuses bad shapes, names and truncated files', () => {
    expect(() => encodeSafetensors({ t: { data: new Float32Array(3), shape: [2] } })).toThrow(/t\.shape/);
    expect(() => encodeSafetensors({ __metadata__: { data: new Float32Array(1), shape: [1] } })).toThrow(InvalidArgumentError);
    const good = encodeSafetensors({ t: { data: new Float32Array(4), shape: [4] } });
    expect(() => decodeSafetensors(good.subarray(0, good.length - 1))).toThrow(/data_offsets/);
    expect(() => decodeSafetensors(new Uint8Array(3))).toThrow(/at least 8 bytes/);
  });

  it('refuses malformed headers with an error naming the entry (no TypeError, no wrong array)', () => {
    const withHeader = (header: unknown, payload = 8) => {
      const json = new TextEncoder().encode(JSON.stringify(header));
      const out = new Uint8Array(8 + json.length + payload);
      new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
      out.set(json, 8);
      return out;
    };
    const cases: [unknown, RegExp][] = [
      [[1, 2], /safetensors header.*JSON object/],
      ['text', /safetensors header/],
      [{ t: null }, /entry t/],
      [{ t: 3 }, /entry t/],
      [{ t: { dtype: 7, shape: [2], data_offsets: [0, 8] } }, /t\.dtype/],
      [{ t: { dtype: 'F32', shape: '2', data_offsets: [0, 8] } }, /t\.shape/],
      [{ t: { dtype: 'F32', shape: [2, -1], data_offsets: [0, 8] } }, /t\.shape/],
      [{ t: { dtype: 'F32', shape: [1.5], data_offsets: [0, 8] } }, /t\.shape/],
      [{ t: { dtype: 'F32', shape: [2] } }, /t\.data_offsets/],
      [{ t: { dtype: 'F32', shape: [2], data_offsets: [-8, 0] } }, /t\.data_offsets/],
      [{ t: { dtype: 'F32', shape: [2], data_offsets: [0, 8, 9] } }, /t\.data_offsets/],
      [{ t: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, /t\.data_offsets.*inside the buffer/],
      [{ __metadata__: { k: 1 }, t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, /__metadata__/],
    ];
    for (const [header, message] of cases) {
      const error = (() => {
        try {
          decodeSafetensors(withHeader(header));
        } catch (e) {
          return e;
        }
      })();
      expect(error, JSON.stringify(header)).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message, JSON.stringify(header)).toMatch(message);
    }
    expect(decodeSafetensors(withHeader({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } })).tensors.t!.shape).toEqual([2]);
  });

  it('decodes or refuses (InvalidArgumentError) every one of 2 000 corrupted copies of a file, each array matching its shape', () => {
    const good = encodeSafetensors({ a: { data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3] }, b: { data: new Int32Array([7, 8]), shape: [2] } }, { k: 'v' });
    let decoded = 0;
    for (const bytes of corruptedCopies(good, 2000, 3)) {
      try {
        const file = decodeSafetensors(bytes);
        decoded++;
        for (const t of Object.values(file.tensors)) expect(t.data.length).toBe(t.shape.reduce((x, y) => x * y, 1));
      } catch (e) {
        expect(e, String(e)).toBeInstanceOf(InvalidArgumentError);
      }
    }
    expect(decoded).toBeGreaterThan(0); // (copies whose damage is in the data still decode)
  });

  it('widens F16 and BF16 tensors (half-precision PyTorch checkpoints) exactly to float32', () => {
    // halves: 1, −2, 65 504 (largest), 2^−24 (smallest subnormal), 2^−14 (smallest normal), −0, +Inf, NaN, 0.333251953125
    const halves = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x8000, 0x7c00, 0x7e00, 0x3555]);
    const bf16 = new Uint16Array([0x3f80, 0xc049, 0x7f7f, 0x0001, 0xff80]); // 1, −3.140625, 3.3895e38, 2^−133 (subnormal), −Inf
    const data = new Uint8Array(halves.byteLength + bf16.byteLength);
    data.set(new Uint8Array(halves.buffer), 0);
    data.set(new Uint8Array(bf16.buffer), halves.byteLength);
    const header = new TextEncoder().encode(JSON.stringify({ h: { dtype: 'F16', shape: [3, 3], data_offsets: [0, 18] }, b: { dtype: 'BF16', shape: [5], data_offsets: [18, 28] } }).padEnd(88, ' '));
    const bytes = new Uint8Array(8 + header.length + data.length);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
    bytes.set(header, 8);
    bytes.set(data, 8 + header.length);
    const file = decodeSafetensors(bytes);
    const h = file.tensors.h!;
    expect(h.dtype).toBe('F16');
    expect(h.shape).toEqual([3, 3]);
    expect(h.data).toBeInstanceOf(Float32Array);
    expect([...h.data.slice(0, 7)]).toEqual([1, -2, 65504, 2 ** -24, 2 ** -14, -0, Number.POSITIVE_INFINITY]);
    expect(Object.is(h.data[5], -0)).toBe(true);
    expect(Number.isNaN(h.data[7])).toBe(true);
    expect(h.data[8]).toBe(0.333251953125);
    const b = file.tensors.b!;
    expect(b.dtype).toBe('BF16');
    expect([...b.data]).toEqual([1, -3.140625, Math.fround(3.3895313892515355e38), 2 ** -133, Number.NEGATIVE_INFINITY]);
  });

  it('with views, aligned tensors are views of the bytes (no second copy), misaligned ones copies; the values are the same', () => {
    const bytes = encodeSafetensors({ a: { data: new Float32Array([1, 2, 3]), shape: [3] }, b: { data: new Int32Array([7, 8]), shape: [2] } });
    const copied = decodeSafetensors(bytes);
    const viewed = decodeSafetensors(bytes, { views: true });
    expect(copied.tensors.a!.data.buffer).not.toBe(bytes.buffer);
    expect(viewed.tensors.a!.data.buffer).toBe(bytes.buffer);
    expect(viewed.tensors.b!.data.buffer).toBe(bytes.buffer);
    expect([...viewed.tensors.a!.data]).toEqual([1, 2, 3]);
    expect([...viewed.tensors.b!.data]).toEqual([7, 8]);
    // the same file one byte into a buffer: no aligned view is possible, so copies
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const odd = decodeSafetensors(shifted.subarray(1), { views: true });
    expect(odd.tensors.a!.data.buffer).not.toBe(shifted.buffer);
    expect([...odd.tensors.a!.data]).toEqual([1, 2, 3]);
  });
});

describe('openSafetensors (tensor by tensor from the file)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'omnitok-safetensors-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const tensors = {
    w: { data: Float32Array.from({ length: 12 }, (_, i) => i / 3), shape: [3, 4] },
    ids: { data: new Int32Array([5, -6, 7]), shape: [3] },
    b: { data: new Float64Array([Math.PI]), shape: [] },
  };

  it('gives what decodeSafetensors gives: names, shapes, dtypes, values, metadata', () => {
    const bytes = encodeSafetensors(tensors, { format: 'pt' });
    writeFileSync(join(dir, 'a.safetensors'), bytes);
    const lazy = openSafetensors(join(dir, 'a.safetensors'));
    const eager = decodeSafetensors(bytes);
    expect(lazy.metadata).toEqual({ format: 'pt' });
    expect(Object.keys(lazy.tensors)).toEqual(Object.keys(eager.tensors));
    for (const [name, t] of Object.entries(eager.tensors)) {
      const l = lazy.tensors[name]!;
      expect([l.shape, l.dtype], name).toEqual([t.shape, t.dtype]);
      expect(l.data.constructor).toBe(t.data.constructor);
      expect(Array.from(l.data as ArrayLike<number>)).toEqual(Array.from(t.data as ArrayLike<number>));
    }
  });

  it('reads each tensor when asked, into a fresh array every time (nothing kept, the file not held open)', () => {
    writeFileSync(join(dir, 'b.safetensors'), encodeSafetensors(tensors));
    const file = openSafetensors(join(dir, 'b.safetensors'));
    const first = file.tensors.w!.data;
    first[0] = 99;
    expect(file.tensors.w!.data[0]).toBe(0);
    expect(file.tensors.w!.data).not.toBe(first);
    // rewritten in place with other values: the next read sees them (data is not cached)
    writeFileSync(join(dir, 'b.safetensors'), encodeSafetensors({ ...tensors, w: { data: new Float32Array(12).fill(2), shape: [3, 4] } }));
    expect(file.tensors.w!.data[5]).toBe(2);
  });

  it('refuses a truncated file or a damaged header at open, naming the entry, and a missing file with ENOENT', () => {
    const path = join(dir, 'c.safetensors');
    const bytes = encodeSafetensors(tensors);
    writeFileSync(path, bytes);
    truncateSync(path, bytes.length - 4);
    expect(() => openSafetensors(path)).toThrow(/b\.data_offsets/);
    writeFileSync(path, bytes.subarray(0, 5));
    expect(() => openSafetensors(path)).toThrow(InvalidArgumentError);
    const bad = new Uint8Array(bytes);
    bad[9] = 0x7d; // '{}w"…': not JSON
    writeFileSync(path, bad);
    expect(() => openSafetensors(path)).toThrow(/safetensors header/);
    expect(() => openSafetensors(join(dir, 'none.safetensors'))).toThrow(/ENOENT/);
  });
});

describe('encodeSafetensorsHeader (streamed writers)', () => {
  it('is the head of encodeSafetensors for the same dtypes, shapes, order and metadata', () => {
    const tensors = { a: { data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3] }, b: { data: new Int32Array([7, 8]), shape: [2] } };
    const full = encodeSafetensors(tensors, { k: 'v' });
    const header = encodeSafetensorsHeader({ a: { dtype: 'F32', shape: [2, 3] }, b: { dtype: 'I32', shape: [2] } }, { k: 'v' });
    expect(Array.from(full.subarray(0, header.length))).toEqual(Array.from(header));
    expect(full.length - header.length).toBe(32);
    expect(() => encodeSafetensorsHeader({ a: { dtype: 'F16', shape: [1] } })).toThrow(/a\.dtype/);
    expect(() => encodeSafetensorsHeader({ a: { dtype: 'F32', shape: [1.5] } })).toThrow(/a\.shape/);
  });
});
