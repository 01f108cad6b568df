import { afterEach, describe, expect, it } from 'vitest';
import type { DecodedImage } from './decode-image.js';
import { type FeatureLayout, nativePreprocessAvailable, prepareImagePreset, preprocessImageInto, preprocessImageIntoAsync } from './preprocess-image.js';
import type { ImagePreset } from './presets.js';
import { mulberry32 } from './random-resized-crop.js';

/*
 * The three implementations of preprocessing — the native addon's thread-pool path, the WebAssembly
 * SIMD path and the scalar JS stages — on random geometries drawn from a fixed seed: image sides from
 * 1 to 300 (up- and downscaling, extreme aspect ratios), every resize mode, filter, crop rounding,
 * channel count, letterbox padding, augmentation with flips, and the chw / patch / tubelet layouts.
 * All three must give the same float32 bits. (The hand-picked cases are in fused-normalize.test.ts and
 * feature-layout.test.ts.)
 */

const native = await nativePreprocessAvailable();
const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function noiseImage(width: number, height: number, seed: number): DecodedImage {
  const random = mulberry32(seed);
  const data = new Uint8Array(width * height * 3);
  // smooth gradients plus noise: resampling errors show on both
  for (let y = 0, i = 0; y < height; y++) for (let x = 0; x < width; x++) for (let c = 0; c < 3; c++, i++) data[i] = (((x * 7 + y * 3 + c * 50) & 0xff) + Math.floor(random() * 40)) & 0xff;
  return { data, width, height, channels: 3, source: `noise ${width}×${height}`, format: 'raw' };
}

describe(`image preprocessing on random geometries (seeded): ${native ? 'native, ' : ''}SIMD and scalar paths agree bit for bit`, () => {
  afterEach(() => {
    delete process.env.OMNITOK_IMAGE_NO_SIMD;
  });

  it('60 random images, presets and layouts', async () => {
    const random = mulberry32(2024);
    const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    for (let i = 0; i < 60; i++) {
      const image = noiseImage(pick([1, 2, 3, int(1, 300)]), pick([1, 2, 5, int(1, 300)]), i);
      const patchSize = pick([1, 2, 3, 4, 5, 8, 14, 16]);
      const resize = pick(['shortest', 'squash', 'longest-pad'] as const);
      // (longest-pad letterboxes into a square)
      const size: number | [number, number] = resize === 'longest-pad' || random() < 0.6 ? patchSize * int(1, 6) : [patchSize * int(1, 5), patchSize * int(1, 5)];
      const crop = resize === 'longest-pad' ? 'none' : resize === 'squash' ? pick(['center', 'none'] as const) : 'center';
      const interpolation = resize !== 'longest-pad' ? pick(['bicubic', 'bilinear', 'nearest', 'bilinear-torch'] as const) : pick(['bicubic', 'bilinear', 'nearest'] as const);
      const channels = pick([1, 3, 3] as const);
      const side = Math.max(...(Array.isArray(size) ? size : [size]));
      const preset: ImagePreset = {
        size,
        patchSize,
        resize,
        // a resize before the crop (the crop must then cut something out of it)
        ...(crop === 'center' && random() < 0.4 ? { resizeSize: side + int(0, 20) } : {}),
        ...(resize === 'longest-pad' && random() < 0.5 ? { padColor: Array.from({ length: channels }, () => int(0, 255)) } : {}),
        crop,
        interpolation,
        cropRounding: pick(['round', 'ceil', 'floor'] as const),
        mean: Array.from({ length: channels }, () => Math.round(random() * 100) / 100),
        std: Array.from({ length: channels }, () => 0.1 + Math.round(random() * 50) / 100),
        channels,
        augment: { scale: [0.1 + random() * 0.4, 1], ratio: [0.5, 2], hflip: pick([0, 0.5, 1]) },
      };
      const augment = resize !== 'longest-pad' && random() < 0.4;
      const p = prepareImagePreset(preset);
      const layout: FeatureLayout = pick(['chw', 'patches', { tubelet: [2, patchSize, patchSize], frame: int(0, 1) }] as const);
      const what = `case ${i}: ${image.width}×${image.height} → ${JSON.stringify({ ...preset, mean: undefined, std: undefined })} augment=${augment} ${JSON.stringify(layout)}`;
      const frames = typeof layout === 'object' ? 2 : 1;
      const length = frames * p.channels * p.height * p.width + 8;
      const options = { augment, seed: i };
      const simd = new Float32Array(length).fill(-7);
      preprocessImageInto(image, p, options, simd, 3, layout);
      process.env.OMNITOK_IMAGE_NO_SIMD = '1';
      const scalar = new Float32Array(length).fill(-7);
      preprocessImageInto(image, p, options, scalar, 3, layout);
      delete process.env.OMNITOK_IMAGE_NO_SIMD;
      expect(bits(simd).equals(bits(scalar)), `${what}: SIMD ≠ scalar`).toBe(true);
      expect(simd.some((v) => v !== -7), what).toBe(true);
      const threaded = new Float32Array(length).fill(-7);
      await preprocessImageIntoAsync(image, p, options, threaded, 3, layout);
      expect(bits(threaded).equals(bits(simd)), `${what}: ${native ? 'native' : 'async'} ≠ synchronous`).toBe(true);
    }
  });
});
