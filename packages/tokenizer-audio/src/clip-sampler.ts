import { doubleToRational } from '@omnitok/core';

/**
 * ImageBind's clip sampler (pytorchvideo ConstantClipsPerVideoSampler, as imagebind/data.py drives it):
 * clip i of `count` starts at i · max(duration − seconds, 0) / count and lasts `seconds`; the sample range
 * is [int(start · rate), int(end · rate)). pytorchvideo does this in exact `Fraction` arithmetic on the
 * float duration N / rate, so this does the same with BigInt rationals to land on the same samples.
 */
export function clipSampleRanges(samples: number, rate: number, count: number, seconds: number): [number, number][] {
  const duration = samples / rate;
  const maxStart = doubleToRational(Math.max(duration - seconds, 0));
  const sec = doubleToRational(seconds);
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
