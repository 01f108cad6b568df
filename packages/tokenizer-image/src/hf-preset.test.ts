import { describe, expect, it } from 'vitest';
import { imagePresetFromHfProcessor } from './hf-preset.js';
import { patchify } from './patchify.js';
import { preprocessImage } from './preprocess-image.js';
import { CLIP_MEAN, CLIP_STD, naflexSize, validateImagePreset } from './presets.js';

// End-to-end parity with transformers' processors (pixels and embeddings) is in @omnitok/clip's
// pretrained tests; here, what a preprocessor_config.json that leaves fields out turns into.
describe("imagePresetFromHfProcessor: a missing field takes its processor class's default", () => {
  it('CLIPImageProcessor (and CLIPFeatureExtractor): shortest edge 224, center crop 224 (floor), bicubic, OpenAI CLIP mean / std', () => {
    for (const config of [{ image_processor_type: 'CLIPImageProcessor' }, { image_processor_type: 'CLIPImageProcessorFast' }, { feature_extractor_type: 'CLIPFeatureExtractor' }]) {
      expect(imagePresetFromHfProcessor(config, { patchSize: 32 }), JSON.stringify(config)).toMatchObject({
        size: 224, resize: 'shortest', resizeSize: 224, crop: 'center', cropRounding: 'floor', interpolation: 'bicubic', mean: [...CLIP_MEAN], std: [...CLIP_STD],
      });
    }
    // a field that is present wins over the class default
    expect(imagePresetFromHfProcessor({ image_processor_type: 'CLIPImageProcessor', size: { shortest_edge: 336 }, crop_size: 336, image_mean: null } as never, { patchSize: 14 })).toMatchObject({ size: 336, resizeSize: 336, mean: [...CLIP_MEAN] });
  });

  it('SiglipImageProcessor: squash to 224 × 224, bicubic, mean / std 0.5; ViTImageProcessor: the same with bilinear', () => {
    expect(imagePresetFromHfProcessor({ image_processor_type: 'SiglipImageProcessor' }, { patchSize: 16 })).toMatchObject({ size: 224, resize: 'squash', crop: 'none', interpolation: 'bicubic', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
    expect(imagePresetFromHfProcessor({ image_processor_type: 'SiglipImageProcessorFast', size: { height: 384, width: 384 } }, { patchSize: 16 })).toMatchObject({ size: 384, resize: 'squash' });
    expect(imagePresetFromHfProcessor({ image_processor_type: 'ViTImageProcessor' }, { patchSize: 16 })).toMatchObject({ size: 224, resize: 'squash', interpolation: 'bilinear', mean: [0.5, 0.5, 0.5] });
  });

  it('another class: 224 square, bicubic, no normalization; do_normalize false: none either', () => {
    expect(imagePresetFromHfProcessor({ image_processor_type: 'SomeImageProcessor', size: { height: 64, width: 64 } }, { patchSize: 16 })).toMatchObject({ size: 64, interpolation: 'bicubic', mean: [0, 0, 0], std: [1, 1, 1] });
    expect(imagePresetFromHfProcessor({ image_processor_type: 'SiglipImageProcessor', do_normalize: false }, { patchSize: 16 })).toMatchObject({ mean: [0, 0, 0], std: [1, 1, 1] });
  });
});

describe("resize 'naflex' (SigLIP 2): Siglip2ImageProcessor's sizes, padded tokens", () => {
  const preset = imagePresetFromHfProcessor({ image_processor_type: 'Siglip2ImageProcessor', patch_size: 8, max_num_patches: 12 }, { patchSize: 8 });
  const image = (width: number, height: number) => ({ data: new Uint8Array(width * height * 3).map((_, i) => (i * 37) % 256), width, height, channels: 3 as const, source: 'test', format: 'png' });

  it('sizes by the patch budget keeping the aspect ratio (values of make-hf-siglip2-naflex-tiny.py), tokens padded with a mask', () => {
    expect([naflexSize(41, 45, 8, 12), naflexSize(37, 30, 8, 12), naflexSize(20, 50, 8, 12)]).toEqual([[24, 32], [32, 24], [16, 40]]);
    expect(naflexSize(2, 2, 16, 256)).toEqual([208, 208]); // a tiny image grows, up to transformers' scale cap of 100
    expect(naflexSize(10, 4000, 16, 256)).toEqual([16, 4096]); // at least one patch high
    const features = preprocessImage(image(50, 20), preset);
    expect(features.shape).toEqual([3, 16, 40]);
    const tokens = patchify(features);
    expect(tokens.shape).toEqual([12, 192]);
    expect(tokens.grid).toEqual([2, 5]);
    expect(Array.from(tokens.mask!)).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
    expect(tokens.data.subarray(10 * 192).every((x) => x === 0)).toBe(true);
    expect(Array.from(tokens.positions.subarray(0, 4))).toEqual([0, 0, 0, 1]);
  });

  it("augmentation crops within the image's own size (seeded); bad naflex fields are refused by name", () => {
    const a = preprocessImage(image(50, 20), preset, { augment: true, seed: 3 });
    const b = preprocessImage(image(50, 20), preset, { augment: true, seed: 3 });
    expect(a.shape).toEqual([3, 16, 40]);
    expect(Array.from(a.data)).toEqual(Array.from(b.data));
    expect(Array.from(a.data)).not.toEqual(Array.from(preprocessImage(image(50, 20), preset).data));
    expect(() => validateImagePreset({ ...preset, maxPatches: undefined })).toThrow(/maxPatches/);
    expect(() => validateImagePreset({ ...preset, crop: 'center' })).toThrow(/crop/);
    expect(() => validateImagePreset({ ...preset, resize: 'squash' })).toThrow(/maxPatches/);
    expect(() => imagePresetFromHfProcessor({ image_processor_type: 'Siglip2ImageProcessor', patch_size: 16 }, { patchSize: 14 })).toThrow(/patch_size/);
  });
});
