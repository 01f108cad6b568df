import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors/index.js';
import { corruptedCopies } from '../testing/corrupt-bytes.js';
import { decodeNpy, encodeNpy, encodeNpyHeader } from './npy.js';

const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url)));

describe('encodeNpy', () => {
  // Each fixture was written by numpy.save (NumPy 1.24, make-fixtures.py): our bytes must be identical.
  const cases: [string, ReturnType<typeof decodeNpy>][] = [
    ['f32-2x3.npy', { data: Float32Array.from([0, 1, 2, 3, 4, 5], (x) => x * 0.5 - 1), shape: [2, 3] }],
    ['i32-3.npy', { data: Int32Array.from([49406, -7, 49407]), shape: [3] }],
    ['f32-scalar.npy', { data: Float32Array.from([2.5]), shape: [] }],
    ['f32-0x4.npy', { data: new Float32Array(0), shape: [0, 4] }],
    ['u8-2x2x2.npy', { data: Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7]), shape: [2, 2, 2] }],
    ['f32-big-shape0.npy', { data: new Float32Array(0), shape: [1234567, 0] }],
  ];
  for (const [name, array] of cases) {
    it(`writes the same bytes as numpy.save for ${name}`, () => {
      expect(Buffer.from(encodeNpy(array)).equals(Buffer.from(fixture(name)))).toBe(true);
    });
    it(`reads ${name} back`, () => {
      const back = decodeNpy(fixture(name));
      expect(back.shape).toEqual(array.shape);
      expect(back.data.constructor).toBe(array.data.constructor);
      expect(Array.from(back.data as Float32Array)).toEqual(Array.from(array.data as Float32Array));
    });
  }

  it('reads float16 (numpy.save of a <f2 array) widened exactly to float32', () => {
    const back = decodeNpy(fixture('f16-2x2.npy'));
    expect(back.data).toBeInstanceOf(Float32Array);
    expect(back.shape).toEqual([2, 2]);
    expect([...back.data]).toEqual([1, -2, 65504, 2 ** -24]);
  });

  it('lays out magic, version, header length and a 64-byte aligned data offset', () => {
    const bytes = encodeNpy({ data: new Float32Array([1, 2]), shape: [2] });
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    const headerLength = new DataView(bytes.buffer).getUint16(8, true);
    const dataOffset = 10 + headerLength;
    expect(dataOffset % 64).toBe(0);
    expect(bytes[dataOffset - 1]).toBe(0x0a);
    expect(new Float32Array(bytes.slice(dataOffset).buffer)).toEqual(new Float32Array([1, 2]));
  });

  it('writes a subarray view without the rest of its buffer', () => {
    const big = new Float32Array([9, 1, 2, 9]);
    const back = decodeNpy(encodeNpy({ data: big.subarray(1, 3), shape: [2] }));
    expect(Array.from(back.data as Float32Array)).toEqual([1, 2]);
  });

  it('refuses a shape that does not match the data, naming the shape', () => {
    expect(() => encodeNpy({ data: new Float32Array(5), shape: [2, 3] })).toThrow(InvalidArgumentError);
    expect(() => encodeNpy({ data: new Float32Array(5), shape: [2, 3] })).toThrow(/shape.*data.length \(5\)/);
    expect(() => encodeNpy({ data: new Float32Array(2), shape: [-2, -1] })).toThrow(/shape\[0\]/);
  });

  it('refuses bytes that are not .npy', () => {
    expect(() => decodeNpy(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]))).toThrow(/NUMPY/);
  });

  it('refuses a header that runs past the file or a shape that is not integers', () => {
    const good = encodeNpy({ data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3] });
    const edited = (from: string, to: string) => {
      const text = new TextDecoder('latin1').decode(good);
      const at = text.indexOf(from);
      const out = Uint8Array.from(good);
      for (let i = 0; i < to.length; i++) out[at + i] = to.charCodeAt(i);
      return out;
    };
    expect(() => decodeNpy(edited('(2, 3)', '(2, x)'))).toThrow(/npy shape/);
    expect(() => decodeNpy(edited('(2, 3)', '(2,-3)'))).toThrow(/npy shape/);
    expect(() => decodeNpy(edited('(2, 3)', '(2.,3)'))).toThrow(/npy shape/);
    const long = Uint8Array.from(good);
    new DataView(long.buffer).setUint16(8, 0xfff0, true);
    expect(() => decodeNpy(long)).toThrow(/npy header length/);
    expect(() => decodeNpy(good.subarray(0, 9))).toThrow(InvalidArgumentError);
  });

  it('decodes or refuses (InvalidArgumentError) every one of 2 000 corrupted copies of a file, each array matching its shape', () => {
    const good = encodeNpy({ data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3] });
    let decoded = 0;
    for (const bytes of corruptedCopies(good, 2000, 4)) {
      try {
        const array = decodeNpy(bytes);
        decoded++;
        expect(array.data.length).toBe(array.shape.reduce((x, y) => x * y, 1));
      } catch (e) {
        expect(e, String(e)).toBeInstanceOf(InvalidArgumentError);
      }
    }
    expect(decoded).toBeGreaterThan(0);
  });
});

describe('encodeNpyHeader (streamed writers)', () => {
  it('is the head of encodeNpy, and the same length for 0 rows as for any count (a rewrite in place fits)', () => {
    const array = { data: Float32Array.from({ length: 12 }, (_, i) => i), shape: [3, 4] };
    const full = encodeNpy(array);
    const header = encodeNpyHeader('F32', [3, 4]);
    expect(Array.from(full.subarray(0, header.length))).toEqual(Array.from(header));
    expect(full.length - header.length).toBe(48);
    for (const n of [0, 9, 123_456_789, 2 ** 52]) expect(encodeNpyHeader('F32', [n, 4]).length, String(n)).toBe(header.length);
    expect(encodeNpyHeader('I32', [7]).length % 64).toBe(0);
    expect(() => encodeNpyHeader('BF16', [1])).toThrow(/dtype/);
    expect(() => encodeNpyHeader('F32', [-1, 2])).toThrow(/shape/);
  });
});
