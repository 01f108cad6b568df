import { describe, expect, it } from 'vitest';
import { createRealPowerFft, MixedRadixFft } from './fft.js';

function directDft(re: Float64Array, im: Float64Array): [Float64Array, Float64Array] {
  const n = re.length;
  const or = new Float64Array(n), oi = new Float64Array(n);
  for (let k = 0; k < n; k++) {
    let sr = 0, si = 0;
    for (let j = 0; j < n; j++) {
      const a = (-2 * Math.PI * ((j * k) % n)) / n;
      sr += re[j]! * Math.cos(a) - im[j]! * Math.sin(a);
      si += re[j]! * Math.sin(a) + im[j]! * Math.cos(a);
    }
    or[k] = sr;
    oi[k] = si;
  }
  return [or, oi];
}

function random(n: number, seed: number): Float64Array {
  const out = new Float64Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    out[i] = s / 2147483648 - 0.5;
  }
  return out;
}

describe('MixedRadixFft', () => {
  for (const n of [1, 2, 3, 4, 5, 7, 8, 12, 16, 25, 30, 49, 64, 100, 200, 256, 360]) {
    it(`matches a direct DFT for n = ${n}`, () => {
      const re = random(n, n), im = random(n, n + 1);
      const [er, ei] = directDft(re, im);
      new MixedRadixFft(n).transform(re, im);
      let max = 0;
      for (let k = 0; k < n; k++) max = Math.max(max, Math.abs(re[k]! - er[k]!), Math.abs(im[k]! - ei[k]!));
      expect(max).toBeLessThan(1e-10 * Math.max(1, n));
    });
  }

  it('refuses sizes with a prime factor above 63', () => {
    expect(() => new MixedRadixFft(67 * 2)).toThrow(RangeError);
  });
});

describe('createRealPowerFft', () => {
  for (const [n, backend] of [[400, 'mixed-radix'], [512, 'fft.js'], [480, 'mixed-radix'], [1024, 'fft.js'], [6, 'mixed-radix']] as const) {
    it(`power spectrum of n = ${n} matches |DFT|² (${backend})`, () => {
      const x = random(n, 7 * n);
      const [er, ei] = directDft(x, new Float64Array(n));
      const fft = createRealPowerFft(n);
      expect(fft.backend).toBe(backend);
      const out = new Float64Array(n / 2 + 1);
      fft.power(x, out);
      for (let k = 0; k <= n / 2; k++) expect(out[k]).toBeCloseTo(er[k]! ** 2 + ei[k]! ** 2, 9);
    });
  }

  it('the mixed-radix path also serves power-of-two sizes on request, with the same result', () => {
    const x = random(512, 3);
    const a = new Float64Array(257), b = new Float64Array(257);
    createRealPowerFft(512).power(x, a);
    createRealPowerFft(512, 'mixed-radix').power(x, b);
    for (let k = 0; k < 257; k++) expect(a[k]).toBeCloseTo(b[k]!, 9);
  });

  it('rejects odd sizes', () => {
    expect(() => createRealPowerFft(401)).toThrow(RangeError);
  });
});
