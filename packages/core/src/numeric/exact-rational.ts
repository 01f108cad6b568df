/*
 * Exact rationals for reproducing Python reference code that mixes floats and `fractions.Fraction`
 * (pytorchvideo's clip samplers): `Fraction(x)` of a float is exact, and a Fraction turns back into a
 * float correctly rounded. With these, sample and frame indices land where the reference puts them,
 * float noise included.
 */

/** The exact value of a finite double as `[numerator, denominator]` in lowest terms (the denominator a power of two). */
export function doubleToRational(x: number): [bigint, bigint] {
  if (!Number.isFinite(x)) throw new RangeError(`doubleToRational: ${x} is not finite`);
  if (x === 0) return [0n, 1n];
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const sign = bits >> 63n ? -1n : 1n;
  const exp = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  let e: number;
  if (exp === 0) e = -1074;
  else {
    mant |= 1n << 52n;
    e = exp - 1075;
  }
  if (e >= 0) return [sign * (mant << BigInt(e)), 1n];
  // lowest terms, as Fraction keeps it: the denominator is a power of two
  let shift = -e;
  while (shift > 0 && (mant & 1n) === 0n) {
    mant >>= 1n;
    shift--;
  }
  return [sign * mant, 1n << BigInt(shift)];
}

/**
 * `p / q` rounded to the nearest double, ties to even (Python's `float(Fraction(p, q))`). For values in
 * the normal range (|p / q| between 2^-1022 and 2^1023), which is every time and sample count.
 */
export function rationalToDouble(p: bigint, q: bigint): number {
  if (q === 0n) throw new RangeError('rationalToDouble: zero denominator');
  if (q < 0n) return rationalToDouble(-p, -q);
  if (p < 0n) return -rationalToDouble(-p, q);
  if (p === 0n) return 0;
  // scale so that the quotient has 53 or 54 bits, then keep 53 and round on the rest
  let k = 53 - (bitLength(p) - bitLength(q));
  const num = k >= 0 ? p << BigInt(k) : p;
  let den = k >= 0 ? q : q << BigInt(-k);
  let m = num / den;
  let r = num % den;
  if (m >= 1n << 53n) {
    r += (m & 1n) * den; // the dropped bit joins the remainder, over twice the denominator
    den *= 2n;
    m >>= 1n;
    k -= 1;
  }
  const twice = 2n * r;
  if (twice > den || (twice === den && (m & 1n) === 1n)) {
    m += 1n;
    if (m === 1n << 53n) {
      m >>= 1n;
      k -= 1;
    }
  }
  return Number(m) * 2 ** -k;
}

function bitLength(x: bigint): number {
  return x.toString(2).length;
}
