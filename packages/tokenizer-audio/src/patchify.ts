import { continuousTokens, InvalidArgumentError, type ContinuousTokens } from '@omnitok/core';
import type { AudioFeatures } from './audio-features.js';

/**
 * Cuts `[mels, frames]` (or `[clips, mels, frames]`) features into `size = [pf, pt]` patches with
 * `stride = [sf, st]`, exactly what Conv2d(1, D, kernel=size, stride=stride) sees on the `[1, mels,
 * frames]` image:
 *
 * - grid `[F', T']` with F' = ⌊(mels − pf)/sf⌋ + 1 and T' = ⌊(frames − pt)/st⌋ + 1 (`[clips, F', T']`
 *   for clip presets); tokens enumerate the grid freq-major, time fastest — the conv output flattened
 *   over `[F', T']`, which is how AST (original repo and HF ASTPatchEmbeddings: input `[time, freq]`
 *   transposed to `[1, freq, time]` before the conv) and ImageBind order their patches;
 * - each token's vector is its `pf × pt` block row-major `[freq][time]`, matching the conv weight
 *   `[D, 1, pf, pt]`, so `vector · W.reshape(D, −1)ᵀ + b` equals the conv output.
 *
 * With `pad: 'mask'` features, a token whose first frame lies at or beyond the clip's `validFrames` gets
 * mask 0 (tokens overlapping real audio keep 1); other pad modes produce no mask.
 * AST: 128 × 1024 with 16×16 stride 10 → 12 × 101 = 1212 tokens of 256 values.
 */
export function patchifySpectrogram(features: AudioFeatures): ContinuousTokens {
  const { shape, data, patch } = features;
  if (!patch || !Array.isArray(patch.size) || !Array.isArray(patch.stride)) {
    throw new InvalidArgumentError('features.patch', patch, '{ size: [freq, time], stride: [freq, time] }');
  }
  const clips = shape.length === 3 ? shape[0]! : 1;
  const mels = shape[shape.length - 2]!;
  const frames = shape[shape.length - 1]!;
  if (shape.length < 2 || shape.length > 3 || data.length !== clips * mels * frames) {
    throw new InvalidArgumentError('features.shape', shape, `[mels, frames] or [clips, mels, frames] matching data (${data.length} values)`);
  }
  const [pf, pt] = patch.size;
  const [sf, st] = patch.stride;
  if (pf > mels || pt > frames) {
    throw new InvalidArgumentError('features.patch.size', patch.size, `at most [${mels}, ${frames}] (the features' [mels, frames])`);
  }
  const gf = Math.floor((mels - pf) / sf) + 1;
  const gt = Math.floor((frames - pt) / st) + 1;
  const dim = pf * pt;
  const tokens = clips * gf * gt;
  const out = new Float32Array(tokens * dim);
  const mask = features.pad === 'mask' ? new Uint8Array(tokens) : undefined;
  let o = 0;
  let tok = 0;
  for (let c = 0; c < clips; c++) {
    const base = c * mels * frames;
    const valid = features.validFrames?.[c] ?? frames;
    for (let i = 0; i < gf; i++) {
      for (let j = 0; j < gt; j++) {
        const f0 = i * sf;
        const t0 = j * st;
        for (let a = 0; a < pf; a++) {
          const row = base + (f0 + a) * frames + t0;
          for (let b = 0; b < pt; b++) out[o++] = data[row + b]!;
        }
        if (mask) mask[tok] = t0 < valid ? 1 : 0;
        tok++;
      }
    }
  }
  return continuousTokens({
    data: out,
    shape: [tokens, dim],
    grid: clips > 1 || shape.length === 3 ? [clips, gf, gt] : [gf, gt],
    modality: 'audio',
    preset: features.preset,
    source: features.source,
    ...(mask ? { mask } : {}),
  });
}
