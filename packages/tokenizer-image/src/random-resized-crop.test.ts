import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decodeImage } from './decode-image.js';
import { preprocessImage } from './preprocess-image.js';
import { IMAGE_PRESETS, type ImagePreset } from './presets.js';
import { drawAugmentation, mulberry32, randomResizedCropBox, roundHalfEven } from './random-resized-crop.js';
import { resizeView } from './resample.js';

const dir = fileURLToPath(new URL('./__fixtures__/', import.meta.url));
const chelsea = await decodeImage(`${dir}chelsea.jpg`);

describe('seeded training augmentation', () => {
  it('is exactly reproducible for a seed and differs between seeds', () => {
    const a = preprocessImage(chelsea, 'imagenet', { augment: true, seed: 42 });
    const b = preprocessImage(chelsea, 'imagenet', { augment: true, seed: 42 });
    const c = preprocessImage(chelsea, 'imagenet', { augment: true, seed: 43 });
    expect(Buffer.from(a.data.buffer).equals(Buffer.from(b.data.buffer))).toBe(true);
    expect(Buffer.from(a.data.buffer).equals(Buffer.from(c.data.buffer))).toBe(false);
    expect(a.shape).toEqual([3, 224, 224]);
    const evalOut = preprocessImage(chelsea, 'imagenet');
    expect(Buffer.from(a.data.buffer).equals(Buffer.from(evalOut.data.buffer))).toBe(false);
  });

  it('mulberry32 gives the same stream for the same seed, in [0, 1)', () => {
    const r1 = mulberry32(7);
    const r2 = mulberry32(7);
    const xs = Array.from({ length: 1000 }, () => r1());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => r2()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(Math.abs(xs.reduce((s, x) => s + x, 0) / 1000 - 0.5)).toBeLessThan(0.05);
  });

  it('draws crops inside the image with area and ratio in range (torchvision get_params)', () => {
    const random = mulberry32(1);
    for (let i = 0; i < 500; i++) {
      const box = randomResizedCropBox(451, 300, [0.08, 1], [3 / 4, 4 / 3], random);
      expect(box.left >= 0 && box.top >= 0 && box.left + box.width <= 451 && box.top + box.height <= 300).toBe(true);
      const area = (box.width * box.height) / (451 * 300);
      expect(area).toBeGreaterThan(0.07);
      expect(box.width / box.height).toBeGreaterThan(0.7);
      expect(box.width / box.height).toBeLessThan(1.45);
    }
  });

  it('falls back to a ratio-clamped center crop after 10 misses', () => {
    // Square image, ratio ≥ 10: every try is too wide → fallback w = width, h = round(width / 10).
    expect(randomResizedCropBox(100, 100, [0.5, 1], [10, 20], mulberry32(3))).toEqual({ top: 45, left: 0, height: 10, width: 100 });
    // Tall ratio on a wide image: h = height, w = round(h * 0.2).
    expect(randomResizedCropBox(300, 50, [0.9, 1], [0.1, 0.2], mulberry32(3))).toEqual({ top: 0, left: 145, height: 50, width: 10 });
  });

  it('rounds half to even like Python', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].map(roundHalfEven)).toEqual([0, 2, 2, -0, -2, 2, 3]);
  });

  it('equals resizing the drawn crop, and hflip mirrors it', () => {
    const { name: _n, ...clip } = IMAGE_PRESETS['clip-vit-b-16']!;
    const noFlip: ImagePreset = { ...clip, augment: { scale: [0.5, 1], ratio: [3 / 4, 4 / 3], hflip: 0 } };
    const flip: ImagePreset = { ...clip, augment: { scale: [0.5, 1], ratio: [3 / 4, 4 / 3], hflip: 1 } };
    const seed = 2024;
    const plain = preprocessImage(chelsea, noFlip, { augment: true, seed });
    const mirrored = preprocessImage(chelsea, flip, { augment: true, seed });
    const { crop, flip: flipped } = drawAugmentation(chelsea.width, chelsea.height, flip.augment!, mulberry32(seed));
    expect(flipped).toBe(true);
    const px = resizeView({ data: chelsea.data, channels: 3, stride: chelsea.width * 3, x: crop.left, y: crop.top, width: crop.width, height: crop.height }, 224, 224, 'bicubic');
    const red = (v: number) => Math.fround(Math.fround(Math.fround(v / 255) - Math.fround(0.48145466)) / Math.fround(0.26862954));
    for (const [y, x] of [[0, 0], [100, 17], [223, 223]] as const) {
      expect(plain.data[y * 224 + x]).toBe(red(px[(y * 224 + x) * 3]!));
      expect(mirrored.data[y * 224 + (223 - x)]).toBe(plain.data[y * 224 + x]);
    }
  });
});
