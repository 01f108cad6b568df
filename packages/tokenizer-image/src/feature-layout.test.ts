import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeImage, type DecodedImage } from './decode-image.js';
import { patchify } from './patchify.js';
import { type FeatureLayout, nativePreprocessAvailable, prepareImagePreset, preprocessImage, preprocessImageInto, preprocessImageIntoAsync } from './preprocess-image.js';
import type { ImagePreset } from './presets.js';

/*
 * Token layouts written by preprocessImageInto (patches, tubelet frame slots) against the plain
 * `[C, H, W]` result placed by the definition, on every path (WebAssembly SIMD, scalar, PyTorch
 * bilinear, letterboxed, mirrored); and the native thread-pool path against the synchronous one, bit
 * for bit. The native addon is required where OMNITOK_REQUIRE_NATIVE(_JPEG)=1 (CI).
 */
const dir = fileURLToPath(new URL('./__fixtures__/', import.meta.url));
const photo = await decodeImage(`${dir}chelsea.jpg`);
const portrait = await decodeImage(`${dir}strip.png`);
const native = await nativePreprocessAvailable();
/** Deterministic noise, 224 wide: the CLIP presets keep its size (no resize pass at all, only a crop). */
const noise: DecodedImage = (() => {
  const data = new Uint8Array(224 * 300 * 3);
  for (let i = 0, s = 1; i < data.length; i++) data[i] = (s = (s * 1103515245 + 12345) >>> 0) >>> 24;
  return { data, width: 224, height: 300, channels: 3, source: 'noise', format: 'raw' };
})();
const requireNative = process.env.OMNITOK_REQUIRE_NATIVE === '1' || process.env.OMNITOK_REQUIRE_NATIVE_JPEG === '1';

const flip = { size: 64, patchSize: 16, resize: 'shortest', crop: 'center', interpolation: 'bicubic', mean: [0.3, 0.2, 0.1], std: [0.2, 0.25, 0.3], channels: 3, augment: { scale: [0.5, 1], ratio: [0.75, 1.33], hflip: 1 } } as const;
const odd = { size: [30, 42], patchSize: 6, resize: 'squash', crop: 'none', interpolation: 'bilinear', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], channels: 3 } as const;
const pad = { size: 48, patchSize: 16, resize: 'longest-pad', crop: 'none', interpolation: 'bicubic', mean: [0.5, 0.4, 0.3], std: [0.2, 0.2, 0.2], channels: 3 } as const;
const torch = { size: 32, patchSize: 16, resize: 'shortest', crop: 'center', interpolation: 'bilinear-torch', cropRounding: 'ceil', mean: [0.45, 0.45, 0.45], std: [0.225, 0.225, 0.225], channels: 3 } as const;
const grey = { size: 32, patchSize: 8, resize: 'shortest', crop: 'center', interpolation: 'bicubic', mean: [0.5], std: [0.5], channels: 1 } as const;

const cases: [string, string | ImagePreset, DecodedImage, boolean][] = [
  ['clip-vit-b-16', 'clip-vit-b-16', photo, false],
  ['siglip-224 portrait', 'siglip-224', portrait, false],
  ['no resize, vertical crop only (224×300, clip-vit-b-16)', 'clip-vit-b-16', noise, false],
  ['mirrored augmentation', flip, photo, true],
  ['odd patch 6 (not a multiple of 4)', odd, photo, false],
  ['letterboxed', pad, portrait, false],
  ['PyTorch bilinear', torch, photo, false],
  ['greyscale', grey, photo, false],
];

/** Where value (c, y, x) of one frame goes in tubelet tokens, by the definition (VideoMAE's order). */
function tubeletIndex(c: number, y: number, x: number, C: number, W: number, t: number, ph: number, pw: number, dt: number): number {
  const token = Math.floor(y / ph) * (W / pw) + Math.floor(x / pw);
  return token * C * t * ph * pw + ((c * t + dt) * ph + (y % ph)) * pw + (x % pw);
}

function run(decoded: DecodedImage, preset: string | ImagePreset, layout: FeatureLayout, augment: boolean, fill = 7, at = 3): Float32Array {
  const p = prepareImagePreset(preset);
  const t = typeof layout === 'object' ? layout.tubelet[0] : 1;
  const out = new Float32Array(t * p.channels * p.height * p.width + 8).fill(fill);
  preprocessImageInto(decoded, p, { augment, seed: 11 }, out, at, layout);
  return out;
}

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('feature layouts', () => {
  afterEach(() => {
    delete process.env.OMNITOK_IMAGE_NO_SIMD;
  });

  for (const simd of [true, false]) {
    for (const [title, preset, image, augment] of cases) {
      it(`${title}${simd ? '' : ' (scalar)'}: patches = patchify(chw); each tubelet frame slot lands where the definition puts it`, () => {
        if (!simd) process.env.OMNITOK_IMAGE_NO_SIMD = '1';
        const features = preprocessImage(image, preset, { augment, seed: 11 });
        const [C, H, W] = features.shape;
        const P = features.patchSize;
        const patches = run(image, preset, 'patches', augment);
        expect(bits(patches.subarray(3, 3 + C * H * W)).equals(bits(patchify(features).data))).toBe(true);
        for (const [t, ph, pw] of [[2, P, P], [3, H / 2, W / 2]] as const) {
          for (let dt = 0; dt < t; dt++) {
            const out = run(image, preset, { tubelet: [t, ph, pw], frame: dt }, augment);
            const expected = new Float32Array(out.length).fill(7);
            for (let c = 0; c < C; c++) {
              for (let y = 0; y < H; y++) {
                for (let x = 0; x < W; x++) expected[3 + tubeletIndex(c, y, x, C, W, t, ph, pw, dt)] = features.data[(c * H + y) * W + x]!;
              }
            }
            expect(bits(out).equals(bits(expected)), `t=${t} ${ph}×${pw} frame ${dt}`).toBe(true);
          }
        }
      });
    }
  }

  it('refuses a tubelet that does not divide the frame, or a frame slot outside it', () => {
    const p = prepareImagePreset('clip-vit-b-16');
    const out = new Float32Array(2 * 3 * 224 * 224);
    expect(() => preprocessImageInto(photo, p, {}, out, 0, { tubelet: [2, 15, 16], frame: 0 })).toThrow(/layout.*tubelet/);
    expect(() => preprocessImageInto(photo, p, {}, out, 0, { tubelet: [2, 16, 16], frame: 2 })).toThrow(/layout/);
  });
});

describe(`preprocessImageIntoAsync (${native ? 'native thread pool' : 'no native addon: synchronous fallback'})`, () => {
  it('runs on the native addon where it is required', () => {
    if (requireNative) expect(native).toBe(true);
    expect(typeof native).toBe('boolean');
  });

  for (const [title, preset, image, augment] of cases) {
    it(`${title}: the same bits as the synchronous path in every layout, at any alignment`, async () => {
      const p = prepareImagePreset(preset);
      const size = p.channels * p.height * p.width;
      const layouts: FeatureLayout[] = ['chw', 'patches', { tubelet: [2, p.preset.patchSize, p.preset.patchSize], frame: 1 }];
      // 16-byte aligned blocks go out as streaming stores in the patch layouts, others one by one
      for (const [layout, at] of layouts.flatMap((l) => [3, 4].map((at) => [l, at] as const))) {
        const sync = run(image, preset, layout, augment, -3, at);
        const out = new Float32Array(sync.length).fill(-3);
        await preprocessImageIntoAsync(image, p, { augment, seed: 11 }, out, at, layout);
        expect(bits(out).equals(bits(sync)), `${JSON.stringify(layout)} at ${at}`).toBe(true);
        expect(out.subarray(at, at + size).some((v) => v !== -3)).toBe(true);
      }
    });
  }

  it('many frames in flight at once land in their own places', async () => {
    const p = prepareImagePreset('clip-vit-b-16');
    const size = 3 * 224 * 224;
    const frames = 12;
    const out = new Float32Array(frames * size);
    await Promise.all(Array.from({ length: frames }, (_, i) => preprocessImageIntoAsync(i % 2 ? photo : portrait, p, { augment: true, seed: i }, out, i * size)));
    for (let i = 0; i < frames; i++) {
      const one = new Float32Array(size);
      preprocessImageInto(i % 2 ? photo : portrait, p, { augment: true, seed: i }, one, 0);
      expect(bits(out.subarray(i * size, (i + 1) * size)).equals(bits(one)), `frame ${i}`).toBe(true);
    }
  });
});
