import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeImage } from './decode-image.js';
import { prepareImagePreset, preprocessImageInto } from './preprocess-image.js';
import type { ImagePreset } from './presets.js';
import { simdAvailable } from './resample-simd.js';

const dir = fileURLToPath(new URL('./__fixtures__/', import.meta.url));
const photo = await decodeImage(`${dir}chelsea.jpg`);
const portrait = await decodeImage(`${dir}strip.png`);

/** Runs preprocessImageInto with the fused SIMD resize + normalize, then with the scalar JS stages. */
function bothPaths(decoded: typeof photo, preset: string | ImagePreset, layout: 'chw' | 'patches', augment = false): [Float32Array, Float32Array] {
  const p = prepareImagePreset(preset);
  const size = p.channels * p.height * p.width;
  // Offset 5 checks that the fused path honours the destination offset and leaves the rest alone.
  const fused = new Float32Array(size + 10).fill(7);
  preprocessImageInto(decoded, p, { augment, seed: 3 }, fused, 5, layout);
  process.env.OMNITOK_IMAGE_NO_SIMD = '1';
  const scalar = new Float32Array(size + 10).fill(7);
  preprocessImageInto(decoded, p, { augment, seed: 3 }, scalar, 5, layout);
  delete process.env.OMNITOK_IMAGE_NO_SIMD;
  return [fused, scalar];
}

const same = (a: Float32Array, b: Float32Array) => Buffer.from(a.buffer).equals(Buffer.from(b.buffer));

describe('fused SIMD resize + normalize', () => {
  afterEach(() => {
    delete process.env.OMNITOK_IMAGE_NO_SIMD;
  });

  it('is available here (otherwise the comparisons below would compare the scalar path with itself)', () => {
    expect(simdAvailable()).toBe(true);
  });

  it('gives the same float32 bits as the lookup-table path, in both layouts, for every preset', () => {
    for (const preset of ['clip-vit-b-16', 'clip-vit-b-32', 'clip-vit-l-14', 'siglip-224', 'imagenet']) {
      for (const layout of ['chw', 'patches'] as const) {
        for (const image of [photo, portrait]) {
          const [fused, scalar] = bothPaths(image, preset, layout);
          expect(same(fused, scalar), `${preset} ${layout} ${image.width}×${image.height}`).toBe(true);
          expect(fused[4]).toBe(7);
          expect(fused[fused.length - 5]).toBe(7);
          expect(fused[5]).not.toBe(7);
        }
      }
    }
  });

  it('matches with mirrored crops, patch sizes that are not multiples of 4, and odd widths', () => {
    const flip = { size: 70, patchSize: 14, resize: 'shortest', crop: 'center', interpolation: 'bicubic', mean: [0.3, 0.2, 0.1], std: [0.2, 0.25, 0.3], channels: 3, augment: { scale: [0.5, 1], ratio: [0.75, 1.33], hflip: 1 } } as const;
    const odd = { size: [35, 45], patchSize: 5, resize: 'squash', crop: 'none', interpolation: 'bilinear', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], channels: 3 } as const;
    for (const [preset, augment] of [[flip, true], [flip, false], [odd, false]] as const) {
      for (const layout of ['chw', 'patches'] as const) {
        const [fused, scalar] = bothPaths(photo, preset, layout, augment);
        expect(same(fused, scalar), `${preset.patchSize} ${layout} augment=${augment}`).toBe(true);
      }
    }
  });
});
