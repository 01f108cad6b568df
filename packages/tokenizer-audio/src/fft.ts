import { createRequire } from 'node:module';

/**
 * Power spectra of real frames: `power(frame, out)` writes `|X[k]|²` for `k = 0 … size/2` of the
 * `size`-point DFT of `frame` (length `size`) into `out` (length `size/2 + 1`). Plans are built once
 * per size and own all their scratch memory, so a call allocates nothing.
 */
export interface RealPowerFft {
  readonly size: number;
  /** Which transform backs the plan: fft.js (power-of-two sizes) or the built-in mixed-radix FFT. */
  readonly backend: 'fft.js' | 'mixed-radix';
  power(frame: Float64Array, out: Float64Array): void;
}

/**
 * A complex FFT of any size (Stockham auto-sort; hand-written radix 2, 3, 4, 5 butterflies, a generic one
 * for odd primes up to 63).
 * Forward transform, no scaling: X[k] = Σ x[j] e^{−2πijk/n}. `re`/`im` are transformed in place.
 */
export class MixedRadixFft {
  readonly size: number;
  private readonly stages: { radix: number; span: number; stride: number; twRe: Float64Array; twIm: Float64Array }[] = [];
  private readonly rootRe: Float64Array[] = [];
  private readonly rootIm: Float64Array[] = [];
  private readonly bufRe: Float64Array;
  private readonly bufIm: Float64Array;
  private readonly aRe = new Float64Array(64);
  private readonly aIm = new Float64Array(64);

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`FFT size must be a positive integer, got ${size}`);
    this.size = size;
    this.bufRe = new Float64Array(size);
    this.bufIm = new Float64Array(size);
    let n = size;
    let stride = 1;
    for (const radix of factorize(size)) {
      const span = n / radix; // butterflies per group
      // Twiddle w^(p·u) of the current length n, for p < span, u in 1..radix−1.
      const twRe = new Float64Array(span * (radix - 1));
      const twIm = new Float64Array(span * (radix - 1));
      for (let p = 0; p < span; p++) {
        for (let u = 1; u < radix; u++) {
          const angle = (-2 * Math.PI * p * u) / n;
          twRe[p * (radix - 1) + u - 1] = Math.cos(angle);
          twIm[p * (radix - 1) + u - 1] = Math.sin(angle);
        }
      }
      this.stages.push({ radix, span, stride, twRe, twIm });
      if (radix > 5 && !this.rootRe[radix]) {
        const re = new Float64Array(radix);
        const im = new Float64Array(radix);
        for (let k = 0; k < radix; k++) {
          re[k] = Math.cos((-2 * Math.PI * k) / radix);
          im[k] = Math.sin((-2 * Math.PI * k) / radix);
        }
        this.rootRe[radix] = re;
        this.rootIm[radix] = im;
      }
      n = span;
      stride *= radix;
    }
  }

  transform(re: Float64Array, im: Float64Array): void {
    let xr = re;
    let xi = im;
    let yr = this.bufRe;
    let yi = this.bufIm;
    for (const stage of this.stages) {
      const { radix, span: m, stride: s, twRe, twIm } = stage;
      if (radix === 4) {
        for (let p = 0; p < m; p++) {
          const w1r = twRe[3 * p]!, w1i = twIm[3 * p]!;
          const w2r = twRe[3 * p + 1]!, w2i = twIm[3 * p + 1]!;
          const w3r = twRe[3 * p + 2]!, w3i = twIm[3 * p + 2]!;
          for (let q = 0; q < s; q++) {
            const i0 = q + s * p, i1 = i0 + s * m, i2 = i1 + s * m, i3 = i2 + s * m;
            const a0r = xr[i0]!, a0i = xi[i0]!, a1r = xr[i1]!, a1i = xi[i1]!;
            const a2r = xr[i2]!, a2i = xi[i2]!, a3r = xr[i3]!, a3i = xi[i3]!;
            const t0r = a0r + a2r, t0i = a0i + a2i, t1r = a0r - a2r, t1i = a0i - a2i;
            const t2r = a1r + a3r, t2i = a1i + a3i, t3r = a1r - a3r, t3i = a1i - a3i;
            const o = q + s * 4 * p;
            yr[o] = t0r + t2r;
            yi[o] = t0i + t2i;
            const b1r = t1r + t3i, b1i = t1i - t3r; // t1 − i·t3
            const b2r = t0r - t2r, b2i = t0i - t2i;
            const b3r = t1r - t3i, b3i = t1i + t3r; // t1 + i·t3
            yr[o + s] = b1r * w1r - b1i * w1i;
            yi[o + s] = b1r * w1i + b1i * w1r;
            yr[o + 2 * s] = b2r * w2r - b2i * w2i;
            yi[o + 2 * s] = b2r * w2i + b2i * w2r;
            yr[o + 3 * s] = b3r * w3r - b3i * w3i;
            yi[o + 3 * s] = b3r * w3i + b3i * w3r;
          }
        }
      } else if (radix === 2) {
        for (let p = 0; p < m; p++) {
          const wr = twRe[p]!, wi = twIm[p]!;
          for (let q = 0; q < s; q++) {
            const i0 = q + s * p, i1 = i0 + s * m;
            const ar = xr[i0]!, ai = xi[i0]!, br = xr[i1]!, bi = xi[i1]!;
            const o = q + s * 2 * p;
            yr[o] = ar + br;
            yi[o] = ai + bi;
            const dr = ar - br, di = ai - bi;
            yr[o + s] = dr * wr - di * wi;
            yi[o + s] = dr * wi + di * wr;
          }
        }
      } else if (radix === 5) {
        for (let p = 0; p < m; p++) {
          const tw = 4 * p;
          const w1r = twRe[tw]!, w1i = twIm[tw]!, w2r = twRe[tw + 1]!, w2i = twIm[tw + 1]!;
          const w3r = twRe[tw + 2]!, w3i = twIm[tw + 2]!, w4r = twRe[tw + 3]!, w4i = twIm[tw + 3]!;
          for (let q = 0; q < s; q++) {
            const i0 = q + s * p, sm = s * m;
            const a0r = xr[i0]!, a0i = xi[i0]!;
            const a1r = xr[i0 + sm]!, a1i = xi[i0 + sm]!, a2r = xr[i0 + 2 * sm]!, a2i = xi[i0 + 2 * sm]!;
            const a3r = xr[i0 + 3 * sm]!, a3i = xi[i0 + 3 * sm]!, a4r = xr[i0 + 4 * sm]!, a4i = xi[i0 + 4 * sm]!;
            const t1r = a1r + a4r, t1i = a1i + a4i, t2r = a2r + a3r, t2i = a2i + a3i;
            const t3r = a1r - a4r, t3i = a1i - a4i, t4r = a2r - a3r, t4i = a2i - a3i;
            const m1r = a0r + C5_1 * t1r + C5_2 * t2r, m1i = a0i + C5_1 * t1i + C5_2 * t2i;
            const m2r = a0r + C5_2 * t1r + C5_1 * t2r, m2i = a0i + C5_2 * t1i + C5_1 * t2i;
            const n1r = S5_1 * t3r + S5_2 * t4r, n1i = S5_1 * t3i + S5_2 * t4i;
            const n2r = S5_2 * t3r - S5_1 * t4r, n2i = S5_2 * t3i - S5_1 * t4i;
            const o = q + s * 5 * p;
            yr[o] = a0r + t1r + t2r;
            yi[o] = a0i + t1i + t2i;
            const b1r = m1r + n1i, b1i = m1i - n1r; // m1 − i·n1
            const b4r = m1r - n1i, b4i = m1i + n1r; // m1 + i·n1
            const b2r = m2r + n2i, b2i = m2i - n2r;
            const b3r = m2r - n2i, b3i = m2i + n2r;
            yr[o + s] = b1r * w1r - b1i * w1i;
            yi[o + s] = b1r * w1i + b1i * w1r;
            yr[o + 2 * s] = b2r * w2r - b2i * w2i;
            yi[o + 2 * s] = b2r * w2i + b2i * w2r;
            yr[o + 3 * s] = b3r * w3r - b3i * w3i;
            yi[o + 3 * s] = b3r * w3i + b3i * w3r;
            yr[o + 4 * s] = b4r * w4r - b4i * w4i;
            yi[o + 4 * s] = b4r * w4i + b4i * w4r;
          }
        }
      } else if (radix === 3) {
        for (let p = 0; p < m; p++) {
          const w1r = twRe[2 * p]!, w1i = twIm[2 * p]!, w2r = twRe[2 * p + 1]!, w2i = twIm[2 * p + 1]!;
          for (let q = 0; q < s; q++) {
            const i0 = q + s * p, i1 = i0 + s * m, i2 = i1 + s * m;
            const a0r = xr[i0]!, a0i = xi[i0]!;
            const t1r = xr[i1]! + xr[i2]!, t1i = xi[i1]! + xi[i2]!;
            const nr = S3 * (xr[i1]! - xr[i2]!), ni = S3 * (xi[i1]! - xi[i2]!);
            const mr = a0r - 0.5 * t1r, mi = a0i - 0.5 * t1i;
            const o = q + s * 3 * p;
            yr[o] = a0r + t1r;
            yi[o] = a0i + t1i;
            const b1r = mr + ni, b1i = mi - nr, b2r = mr - ni, b2i = mi + nr;
            yr[o + s] = b1r * w1r - b1i * w1i;
            yi[o + s] = b1r * w1i + b1i * w1r;
            yr[o + 2 * s] = b2r * w2r - b2i * w2i;
            yi[o + 2 * s] = b2r * w2i + b2i * w2r;
          }
        }
      } else {
        const rr = this.rootRe[radix]!, ri = this.rootIm[radix]!;
        const aRe = this.aRe, aIm = this.aIm;
        for (let p = 0; p < m; p++) {
          for (let q = 0; q < s; q++) {
            for (let k = 0; k < radix; k++) {
              aRe[k] = xr[q + s * (p + k * m)]!;
              aIm[k] = xi[q + s * (p + k * m)]!;
            }
            const o = q + s * radix * p;
            for (let u = 0; u < radix; u++) {
              let br = 0, bi = 0;
              for (let k = 0, e = 0; k < radix; k++, e += u) {
                const idx = e % radix;
                const cr = rr[idx]!, ci = ri[idx]!;
                br += aRe[k]! * cr - aIm[k]! * ci;
                bi += aRe[k]! * ci + aIm[k]! * cr;
              }
              if (u === 0) {
                yr[o] = br;
                yi[o] = bi;
              } else {
                const wr = twRe[p * (radix - 1) + u - 1]!, wi = twIm[p * (radix - 1) + u - 1]!;
                yr[o + u * s] = br * wr - bi * wi;
                yi[o + u * s] = br * wi + bi * wr;
              }
            }
          }
        }
      }
      const tr = xr, ti = xi;
      xr = yr;
      xi = yi;
      yr = tr;
      yi = ti;
    }
    if (xr !== re) {
      re.set(xr);
      im.set(xi);
    }
  }
}

const C5_1 = Math.cos((2 * Math.PI) / 5);
const C5_2 = Math.cos((4 * Math.PI) / 5);
const S5_1 = Math.sin((2 * Math.PI) / 5);
const S5_2 = Math.sin((4 * Math.PI) / 5);
const S3 = Math.sin((2 * Math.PI) / 3);

function factorize(n: number): number[] {
  const factors: number[] = [];
  while (n % 4 === 0) {
    factors.push(4);
    n /= 4;
  }
  while (n % 2 === 0) {
    factors.push(2);
    n /= 2;
  }
  for (let p = 3; n > 1; p += 2) {
    if (p * p > n) {
      if (n > 63) throw new RangeError(`FFT size has a prime factor ${n} larger than 63`);
      factors.push(n);
      break;
    }
    while (n % p === 0) {
      factors.push(p);
      n /= p;
    }
  }
  return factors;
}

/** Real FFT of even length n through one complex FFT of n/2 points (even/odd packing). */
class PackedRealFft implements RealPowerFft {
  readonly size: number;
  readonly backend = 'mixed-radix' as const;
  private readonly half: number;
  private readonly fft: MixedRadixFft;
  private readonly re: Float64Array;
  private readonly im: Float64Array;
  private readonly wRe: Float64Array;
  private readonly wIm: Float64Array;

  constructor(size: number) {
    this.size = size;
    this.half = size / 2;
    this.fft = new MixedRadixFft(this.half);
    this.re = new Float64Array(this.half);
    this.im = new Float64Array(this.half);
    this.wRe = new Float64Array(this.half + 1);
    this.wIm = new Float64Array(this.half + 1);
    for (let k = 0; k <= this.half; k++) {
      this.wRe[k] = Math.cos((-2 * Math.PI * k) / size);
      this.wIm[k] = Math.sin((-2 * Math.PI * k) / size);
    }
  }

  power(frame: Float64Array, out: Float64Array): void {
    const h = this.half, re = this.re, im = this.im;
    for (let j = 0; j < h; j++) {
      re[j] = frame[2 * j]!;
      im[j] = frame[2 * j + 1]!;
    }
    this.fft.transform(re, im);
    for (let k = 0; k <= h; k++) {
      const a = k === h ? 0 : k;
      const b = k === 0 ? 0 : h - k;
      const zr = re[a]!, zi = im[a]!, cr = re[b]!, ci = -im[b]!; // Z[k], conj(Z[h − k])
      const er = 0.5 * (zr + cr), ei = 0.5 * (zi + ci);
      const or = 0.5 * (zi - ci), oi = -0.5 * (zr - cr); // (Z[k] − conj Z[h−k]) / 2i
      const wr = this.wRe[k]!, wi = this.wIm[k]!;
      const xr = er + or * wr - oi * wi;
      const xi = ei + or * wi + oi * wr;
      out[k] = xr * xr + xi * xi;
    }
  }
}

interface FftJs {
  new (size: number): { realTransform(out: Float64Array, data: Float64Array): void };
}
let fftJsCtor: FftJs | null | undefined;
function loadFftJs(): FftJs | null {
  if (fftJsCtor === undefined) {
    try {
      fftJsCtor = createRequire(import.meta.url)('fft.js') as FftJs;
    } catch {
      fftJsCtor = null;
    }
  }
  return fftJsCtor;
}

/** fft.js radix-4 real transform, for power-of-two sizes. */
class FftJsRealFft implements RealPowerFft {
  readonly size: number;
  readonly backend = 'fft.js' as const;
  private readonly impl: { realTransform(out: Float64Array, data: Float64Array): void };
  private readonly out: Float64Array;

  constructor(size: number, ctor: FftJs) {
    this.size = size;
    this.impl = new ctor(size);
    this.out = new Float64Array(2 * size);
  }

  power(frame: Float64Array, out: Float64Array): void {
    const o = this.out;
    this.impl.realTransform(o, frame);
    const h = this.size / 2;
    for (let k = 0; k <= h; k++) out[k] = o[2 * k]! * o[2 * k]! + o[2 * k + 1]! * o[2 * k + 1]!;
  }
}

/**
 * The power-spectrum plan for `size` (even, ≥ 4). Power-of-two sizes use fft.js's real transform
 * when `prefer` allows; every other even size (Whisper's 400 = 2⁴·5²) uses the packed mixed-radix FFT.
 */
export function createRealPowerFft(size: number, prefer: 'auto' | 'mixed-radix' = 'auto'): RealPowerFft {
  if (!Number.isInteger(size) || size < 4 || size % 2 !== 0) throw new RangeError(`FFT size must be an even integer ≥ 4, got ${size}`);
  const pow2 = (size & (size - 1)) === 0;
  const ctor = prefer === 'auto' && pow2 ? loadFftJs() : null;
  return ctor ? new FftJsRealFft(size, ctor) : new PackedRealFft(size);
}
