import { type ContinuousTokens, continuousTokens } from '@omnitok/core';
import type { ImuFeatures } from './preprocess-imu.js';

/**
 * `[C, T]` → `[T/P, C·P]`: token i holds samples [i·P, (i+1)·P) of every channel, flattened in (C, P)
 * order — ImageBind's IMU stem (`unfold` over time, then a linear layer on C·P values).
 */
export function patchifyImu(features: ImuFeatures): ContinuousTokens {
  const [C, T] = features.shape as [number, number];
  const P = features.patch;
  const n = T / P;
  const out = new Float32Array(n * C * P); // [N, C·P]
  for (let i = 0; i < n; i++)
    for (let c = 0; c < C; c++) out.set(features.data.subarray(c * T + i * P, c * T + (i + 1) * P), (i * C + c) * P);
  let mask: Uint8Array | undefined;
  if (features.masked) {
    mask = new Uint8Array(n);
    mask.fill(1, 0, Math.ceil(features.validLength / P));
  }
  return continuousTokens({ data: out, shape: [n, C * P], grid: [n], mask, modality: features.modality, preset: features.preset, source: features.source });
}
