import { describe, expect, it } from 'vitest';
import { doubleToRational, rationalToDouble } from './exact-rational.js';

describe('exact rationals (Python Fraction ↔ float)', () => {
  it('doubleToRational is exact: 0.1 is 3602879701896397 / 2^55, integers and negatives too', () => {
    expect(doubleToRational(0.1)).toEqual([3602879701896397n, 2n ** 55n]);
    expect(doubleToRational(3)).toEqual([3n, 1n]);
    expect(doubleToRational(-2.5)).toEqual([-5n, 2n]);
    expect(doubleToRational(0)).toEqual([0n, 1n]);
    expect(() => doubleToRational(Infinity)).toThrow(RangeError);
  });

  it('rationalToDouble rounds to nearest, ties to even, and inverts doubleToRational', () => {
    for (const x of [0.1, 1 / 3, 2.2, 55.000000000000007, 1e-300, 123456789.123, 2 ** 53 + 2, -7.25]) expect(rationalToDouble(...doubleToRational(x))).toBe(x);
    expect(rationalToDouble(1n, 3n)).toBe(1 / 3);
    expect(rationalToDouble(11n, 5n)).toBe(2.2);
    expect(rationalToDouble(2n, -4n)).toBe(-0.5);
    // 2^53 + 1 lies halfway between 2^53 and 2^53 + 2: to even (2^53); 2^53 + 3 → 2^53 + 4
    expect(rationalToDouble(2n ** 53n + 1n, 1n)).toBe(2 ** 53);
    expect(rationalToDouble(2n ** 53n + 3n, 1n)).toBe(2 ** 53 + 4);
    // just above / below a halfway point
    expect(rationalToDouble(2n * (2n ** 53n + 1n) + 1n, 2n)).toBe(2 ** 53 + 2);
    expect(rationalToDouble(2n * (2n ** 53n + 1n) - 1n, 2n)).toBe(2 ** 53);
  });

  it('agrees with the division of doubles wherever that is exact, on many random fractions', () => {
    let seed = 3;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (let i = 0; i < 2000; i++) {
      const p = BigInt(next() % 100000);
      const q = BigInt((next() % 1000) + 1);
      // both fit 53 bits, so p / q in doubles is one correctly rounded division
      expect(rationalToDouble(p, q)).toBe(Number(p) / Number(q));
    }
  });
});
