/**
 * ImageBind's clip sampler (pytorchvideo ConstantClipsPerVideoSampler, as imagebind/data.py drives it):
 * clip i of `count` starts at i · max(duration − seconds, 0) / count and lasts `seconds`; the sample range
 * is [int(start · rate), int(end · rate)). pytorchvideo does this in exact `Fraction` arithmetic on the
 * float duration N / rate, so this does the same with BigInt rationals to land on the same samples.
 */
export function clipSampleRanges(samples: number, rate: number, count: number, seconds: number): [number, number][] {
  const duration = samples / rate;
  const maxStart = rational(Math.max(duration - seconds, 0));
  const sec = rational(seconds);
  const ranges: [number, number][] = [];
  for (let i = 0; i < count; i++) {
    // start = maxStart · i / count; end = start + sec (both as num/den).
    const sNum = maxStart[0] * BigInt(i);
    const sDen = maxStart[1] * BigInt(count);
    const eNum = sNum * sec[1] + sec[0] * sDen;
    const eDen = sDen * sec[1];
    const r = BigInt(rate);
    ranges.push([Number((sNum * r) / sDen), Number((eNum * r) / eDen)]);
  }
  return ranges;
}

/** The exact value of a finite non-negative double as numerator / denominator (a power of two). */
function rational(x: number): [bigint, bigint] {
  if (x === 0) return [0n, 1n];
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const exp = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  let e: number;
  if (exp === 0) e = -1074;
  else {
    mant |= 1n << 52n;
    e = exp - 1075;
  }
  return e >= 0 ? [mant << BigInt(e), 1n] : [mant, 1n << BigInt(-e)];
}
