import { describe, expect, it } from 'vitest';
import { corruptedCopies } from './corrupt-bytes.js';

describe('corruptedCopies', () => {
  const file = Uint8Array.from({ length: 3000 }, (_, i) => (i * 37 + 11) & 0xff);

  it('is seeded: the same seed gives the same copies, another seed others', () => {
    const a = corruptedCopies(file, 50, 7);
    const b = corruptedCopies(file, 50, 7);
    const c = corruptedCopies(file, 50, 8);
    expect(a.map((x) => Buffer.from(x).toString('hex'))).toEqual(b.map((x) => Buffer.from(x).toString('hex')));
    expect(a.some((x, i) => Buffer.compare(Buffer.from(x), Buffer.from(c[i]!)) !== 0)).toBe(true);
  });

  it('changes every copy, leaves the original alone, and mostly keeps the magic bytes', () => {
    const before = Buffer.from(file).toString('hex');
    const copies = corruptedCopies(file, 200, 1);
    expect(Buffer.from(file).toString('hex')).toBe(before);
    expect(copies.every((x) => Buffer.compare(Buffer.from(x), Buffer.from(file)) !== 0)).toBe(true);
    const kept = copies.filter((x) => x.length >= 4 && x[0] === file[0] && x[1] === file[1] && x[2] === file[2] && x[3] === file[3]).length;
    expect(kept).toBeGreaterThan(160);
    expect(kept).toBeLessThan(200); // (some copies damage the magic too)
    // truncated, grown and same-length copies all occur
    expect(copies.some((x) => x.length < file.length)).toBe(true);
    expect(copies.some((x) => x.length > file.length)).toBe(true);
    expect(copies.some((x) => x.length === file.length)).toBe(true);
  });
});
