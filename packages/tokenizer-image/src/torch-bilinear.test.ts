import { readFileSync } from 'node:fs';
import { BadPresetError } from '@omnitok/core';
import { describe, expect, it } from 'vitest';
import type { DecodedImage } from './decode-image.js';
import { preprocessImage } from './preprocess-image.js';
import { CLIP_MEAN, CLIP_STD, type ImagePreset, validateImagePreset } from './presets.js';

/*
 * `interpolation: 'bilinear-torch'` and the three crop positions against PyTorch 1.13 running
 * ImageBind's video-frame path (pytorchvideo short_side_scale → NormalizeVideo → uniform_crop 0/1/2):
 * __fixtures__/make-torch-bilinear.py, on two synthetic frames with sharp edges.
 */
const ref = JSON.parse(readFileSync(new URL('./__fixtures__/torch-bilinear.json', import.meta.url), 'utf8')) as Record<
  string,
  { width: number; height: number; resized: [number, number]; crops: { sample: string; sums: number[] }[] }
>;

const frame = (w: number, h: number): DecodedImage => {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) data[(y * w + x) * 3 + c] = (x * 7 + y * 13 + c * 101 + ((x * y) % 17) + ((x ^ y) & 31) * 3) % 256;
    }
  }
  return { data, width: w, height: h, channels: 3, source: 'synthetic', format: 'raw' };
};

const PRESET: ImagePreset = {
  size: 224,
  patchSize: 14,
  resize: 'shortest',
  crop: 'center',
  cropRounding: 'ceil',
  interpolation: 'bilinear-torch',
  mean: [...CLIP_MEAN],
  std: [...CLIP_STD],
  channels: 3,
};
const POSITIONS = ['start', 'center', 'end'] as const;

describe("interpolation 'bilinear-torch' + crop positions vs PyTorch (ImageBind video frames)", () => {
  for (const name of ['landscape', 'portrait']) {
    // measured: max |Δ| 2.5e-5 in normalized units (torch's float32 interpolation weights round a few
    // ulps differently; one 8-bit level is 0.015 here) — the Pillow bilinear path differs by > 0.1
    it(`${name}: every 8th value of the 3 crops within 5e-5 of torch, channel sums within 1e-2`, () => {
      const r = ref[name]!;
      const img = frame(r.width, r.height);
      POSITIONS.forEach((cropPosition, k) => {
        const got = preprocessImage(img, PRESET, { cropPosition }).data;
        const want = new Float32Array(Uint8Array.from(Buffer.from(r.crops[k]!.sample, 'base64')).buffer);
        let worst = 0;
        let i = 0;
        for (let c = 0; c < 3; c++) {
          for (let y = 0; y < 224; y += 8) {
            for (let x = 0; x < 224; x += 8) worst = Math.max(worst, Math.abs(got[(c * 224 + y) * 224 + x]! - want[i++]!));
          }
        }
        expect(i).toBe(want.length);
        expect(worst, `${name} crop ${cropPosition}`).toBeLessThan(5e-5);
        for (let c = 0; c < 3; c++) {
          let sum = 0;
          for (let j = c * 224 * 224; j < (c + 1) * 224 * 224; j++) sum += got[j]!;
          expect(Math.abs(sum - r.crops[k]!.sums[c]!), `${name} crop ${cropPosition} channel ${c} sum`).toBeLessThan(1e-2);
        }
      });
    });
  }

  it('differs from the Pillow bilinear path where that one antialiases (downscaling 1280×720), and the three crops differ', () => {
    const img = frame(1280, 720);
    const torch = preprocessImage(img, PRESET).data;
    const { cropRounding: _, ...rest } = PRESET;
    const pil = preprocessImage(img, { ...rest, interpolation: 'bilinear' }).data;
    let diff = 0;
    for (let i = 0; i < torch.length; i++) diff = Math.max(diff, Math.abs(torch[i]! - pil[i]!));
    expect(diff).toBeGreaterThan(0.1);
    const [a, b, c] = POSITIONS.map((cropPosition) => preprocessImage(img, PRESET, { cropPosition }).data);
    expect(a).not.toEqual(b);
    expect(b).not.toEqual(c);
  });

  it("crop positions also move the Pillow path's crop; 'ceil' and 'round' centre an odd margin differently", () => {
    const img = frame(321, 180); // resized 399 × 224: margin 175
    const pil = { ...PRESET, interpolation: 'bicubic' as const };
    const left = preprocessImage(img, pil, { cropPosition: 'start' }).data;
    const right = preprocessImage(img, pil, { cropPosition: 'end' }).data;
    expect(left).not.toEqual(right);
    const ceil = preprocessImage(img, PRESET).data;
    const round = preprocessImage(img, { ...PRESET, cropRounding: 'round' }).data; // round(87.5) = 88 = ceil: same
    expect(round).toEqual(ceil);
    const odd = frame(323, 180); // resized 401 × 224: margin 177 → ceil 89, round-half-even 88
    expect(preprocessImage(odd, PRESET).data).not.toEqual(preprocessImage(odd, { ...PRESET, cropRounding: 'round' }).data);
    // Hugging Face's center_crop floors: margin 177 → 88 as round-half-even; margin 179 (324 × 180 → 403 × 224) → 89, where round-half-even and ceil take 90
    expect(preprocessImage(odd, { ...pil, cropRounding: 'floor' }).data).toEqual(preprocessImage(odd, { ...pil, cropRounding: 'round' }).data);
    const odd2 = frame(324, 180);
    const floor = preprocessImage(odd2, { ...pil, cropRounding: 'floor' }).data;
    expect(floor).not.toEqual(preprocessImage(odd2, { ...pil, cropRounding: 'round' }).data);
    expect(preprocessImage(odd2, { ...pil, cropRounding: 'round' }).data).toEqual(preprocessImage(odd2, { ...pil, cropRounding: 'ceil' }).data);
    // floor's window starts one column left: its column x + 1 is round's column x
    const W = 224;
    for (const [y, x] of [[0, 0], [100, 57], [223, 222]] as const) expect(floor[y * W + x + 1]).toBe(preprocessImage(odd2, { ...pil, cropRounding: 'round' }).data[y * W + x]);
  });

  it('rejects bilinear-torch with longest-pad and an unknown cropRounding', () => {
    expect(() => validateImagePreset({ ...PRESET, resize: 'longest-pad', crop: 'none' })).toThrow(BadPresetError);
    expect(() => validateImagePreset({ ...PRESET, cropRounding: 'middle' as never })).toThrow(/cropRounding/);
  });
});
