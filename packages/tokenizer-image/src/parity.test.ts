import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeImage, type ImageDecodeOptions } from './decode-image.js';
import { preprocessImage } from './preprocess-image.js';
import type { ImagePreset } from './presets.js';
import { resizeView } from './resample.js';

/**
 * Parity with the PIL + torchvision reference pipeline (src/__fixtures__/make-fixtures.py, run once with
 * Debian's python3-pil 9.4 / numpy). Bounds asked of the port: mean |Δ| ≤ 1/255 per channel and no value
 * off by more than 0.1 (normalized units). Lossless sources must match exactly (the resampler is a
 * bit-exact port of Pillow's); JPEG sources differ only by decoder rounding (libvips/mozjpeg vs PIL's
 * libjpeg-turbo).
 */
const dir = fileURLToPath(new URL('./__fixtures__/', import.meta.url));
interface Case {
  id: string;
  source: string;
  preset: string | ImagePreset;
  decode: ImageDecodeOptions;
  shape: [number, number, number];
  stats: { mean: number; std: number; min: number; max: number }[];
  samples: [number, number, number, number][];
  full?: string;
  crops?: { y: number; x: number; height: number; width: number; u8: number[] }[];
}
const reference = JSON.parse(readFileSync(`${dir}reference.json`, 'utf8')) as {
  cases: Case[];
  cropCases: { id: string; source: string; box: { left: number; top: number; width: number; height: number }; size: [number, number]; full: string }[];
};

function presetOf(c: Case): ImagePreset | undefined {
  return typeof c.preset === 'string' ? undefined : c.preset;
}
function meanStd(c: Case): { mean: number[]; std: number[] } {
  const p = presetOf(c);
  if (p) return { mean: [...p.mean], std: [...p.std] };
  return c.preset.toString().startsWith('siglip')
    ? { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }
    : c.preset === 'imagenet'
      ? { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }
      : { mean: [0.48145466, 0.4578275, 0.40821073], std: [0.26862954, 0.26130258, 0.27577711] };
}
/** torch's ToTensor + Normalize in float32, on one uint8 value. */
function norm(v: number, mean: number, std: number): number {
  return Math.fround(Math.fround(Math.fround(v / 255) - Math.fround(mean)) / Math.fround(std));
}
async function refPixels(name: string, channels: number): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(`${dir}${name}`).raw().toBuffer({ resolveWithObject: true });
  const out = new Uint8Array(info.width * info.height * channels);
  for (let i = 0; i < info.width * info.height; i++) for (let c = 0; c < channels; c++) out[i * channels + c] = data[i * info.channels + c]!;
  return { data: out, width: info.width, height: info.height };
}

const lossless = (c: Case) => !c.source.endsWith('.jpg');

describe('parity with the PIL reference pipeline', () => {
  for (const c of reference.cases) {
    it(`${c.id}: within the bounds${lossless(c) ? ', bit-exact for a lossless source' : ''}`, async () => {
      const decoded = await decodeImage(`${dir}${c.source}`, c.decode);
      const features = preprocessImage(decoded, c.preset);
      expect(features.shape).toEqual(c.shape);
      const [C, H, W] = c.shape;
      const { mean, std } = meanStd(c);

      // Python's normalized samples pin the float32 formula used on the reference pixels below.
      let ref: Float32Array | undefined;
      let mask: Uint8Array | undefined;
      ref = new Float32Array(C * H * W);
      mask = new Uint8Array(C * H * W);
      if (c.full) {
        const px = await refPixels(c.full, C);
        expect([px.height, px.width]).toEqual([H, W]);
        for (let ch = 0; ch < C; ch++) for (let i = 0; i < H * W; i++) ref[ch * H * W + i] = norm(px.data[i * C + ch]!, mean[ch]!, std[ch]!);
        mask.fill(1);
      } else {
        for (const crop of c.crops!) {
          for (let y = 0; y < crop.height; y++)
            for (let x = 0; x < crop.width; x++)
              for (let ch = 0; ch < C; ch++) {
                const at = ch * H * W + (crop.y + y) * W + crop.x + x;
                ref[at] = norm(crop.u8[(y * crop.width + x) * C + ch]!, mean[ch]!, std[ch]!);
                mask[at] = 1;
              }
        }
      }
      for (const [ch, y, x, value] of c.samples) {
        expect(features.data[ch * H * W + y * W + x]).toBeCloseTo(value, 1);
        const at = ch * H * W + y * W + x;
        if (mask[at]) expect(ref[at]).toBe(Math.fround(value));
      }

      let worst = 0;
      for (let ch = 0; ch < C; ch++) {
        let sum = 0;
        let n = 0;
        for (let i = ch * H * W; i < (ch + 1) * H * W; i++) {
          if (!mask[i]) continue;
          const d = Math.abs(features.data[i]! - ref[i]!);
          sum += d;
          n++;
          worst = Math.max(worst, d);
        }
        expect(sum / n, `channel ${ch} mean |Δ|`).toBeLessThanOrEqual(1 / 255);
        // Whole-image statistics agree too (covers the pixels outside the stored crops).
        let s = 0;
        for (let i = ch * H * W; i < (ch + 1) * H * W; i++) s += features.data[i]!;
        expect(Math.abs(s / (H * W) - c.stats[ch]!.mean)).toBeLessThanOrEqual(1 / 255);
      }
      expect(worst).toBeLessThanOrEqual(0.1);
      if (lossless(c)) expect(worst).toBe(0);
    });
  }

  for (const c of reference.cropCases) {
    it(`${c.id}: crop-then-resize (the RandomResizedCrop path) equals PIL crop().resize()`, async () => {
      const decoded = await decodeImage(`${dir}${c.source}`);
      const { box } = c;
      const view = { data: decoded.data, channels: 3, stride: decoded.width * 3, x: box.left, y: box.top, width: box.width, height: box.height };
      const out = resizeView(view, c.size[0], c.size[1], 'bicubic');
      const px = await refPixels(c.full, 3);
      let worst = 0;
      let sum = 0;
      for (let i = 0; i < out.length; i++) {
        const d = Math.abs(out[i]! - px.data[i]!);
        worst = Math.max(worst, d);
        sum += d;
      }
      if (c.source.endsWith('.png')) expect(worst).toBe(0);
      else {
        expect(sum / out.length).toBeLessThanOrEqual(1);
        expect(worst).toBeLessThanOrEqual(25);
      }
    });
  }
});
