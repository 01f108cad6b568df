import { describe, expect, it } from 'vitest';
import { imagePresetFromHfProcessor } from './hf-preset.js';
import { CLIP_MEAN, CLIP_STD } from './presets.js';

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
