import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors/index.js';
import { decodeSafetensors, encodeSafetensors } from './safetensors.js';

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
});
