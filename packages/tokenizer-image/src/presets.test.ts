import { BadPresetError } from '@omnitok/core';
import { describe, expect, it } from 'vitest';
import { prepareImagePreset } from './preprocess-image.js';
import { IMAGE_PRESETS, type ImagePreset, validateImagePreset } from './presets.js';

const { name: _name, description: _description, ...base } = IMAGE_PRESETS['clip-vit-b-16']!;

describe('image presets', () => {
  it('has the named presets with the reference numbers, all valid and JSON round-trippable', () => {
    expect(Object.keys(IMAGE_PRESETS)).toEqual(['clip-vit-b-32', 'clip-vit-b-16', 'clip-vit-l-14', 'clip-vit-l-14-336', 'siglip-224', 'siglip-384', 'imagenet']);
    for (const [name, preset] of Object.entries(IMAGE_PRESETS)) {
      expect(JSON.parse(JSON.stringify(preset))).toEqual(preset);
      expect(validateImagePreset(preset, name).height).toBe(typeof preset.size === 'number' ? preset.size : preset.size[0]);
    }
    expect(IMAGE_PRESETS['clip-vit-l-14-336']).toMatchObject({ size: 336, patchSize: 14, resize: 'shortest', interpolation: 'bicubic' });
    expect(IMAGE_PRESETS['clip-vit-b-16']!.mean).toEqual([0.48145466, 0.4578275, 0.40821073]);
    expect(IMAGE_PRESETS['siglip-384']).toMatchObject({ size: 384, resize: 'squash', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
    expect(IMAGE_PRESETS.imagenet).toMatchObject({ resizeSize: 256, interpolation: 'bilinear', std: [0.229, 0.224, 0.225] });
  });

  it('refuses an unknown preset name with BadPresetError listing the known ones', () => {
    expect(() => prepareImagePreset('clip-vit-b-99')).toThrow(BadPresetError);
    expect(() => prepareImagePreset('clip-vit-b-99')).toThrow(/Unknown image preset "clip-vit-b-99".*clip-vit-b-16.*siglip-384/);
  });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['size', { size: 0 }, /"size"/],
    ['size', { size: [224] }, /"size"/],
    ['patchSize', { patchSize: 15 }, /"patchSize" 15 must divide the output size 224×224/],
    ['resize', { resize: 'stretch' }, /"resize" must be/],
    ['crop', { crop: 'none' }, /"crop" must be "center" with resize "shortest"/],
    ['interpolation', { interpolation: 'lanczos' }, /"interpolation" must be one of bicubic, bilinear, nearest, bilinear-torch, got "lanczos"/],
    ['mean', { mean: [0.5, 0.5] }, /"mean" must be 3 finite numbers/],
    ['std', { std: [0.5, 0, 0.5] }, /"std" must be 3 positive numbers/],
    ['channels', { channels: 4 }, /"channels" must be 1 or 3/],
    ['resizeSize', { resizeSize: 100 }, /"resizeSize" 100 is smaller than the crop/],
    ['padColor', { padColor: [0, 0, 300] }, /"padColor"/],
    ['augment.scale', { augment: { scale: [0, 1], ratio: [0.75, 1.33], hflip: 0 } }, /"augment\.scale"/],
    ['augment.hflip', { augment: { scale: [0.5, 1], ratio: [0.75, 1.33], hflip: 2 } }, /"augment\.hflip"/],
    ['colour', { colour: 'rgb' }, /"colour" is not a preset field/],
  ];
  for (const [field, change, message] of bad) {
    it(`names the bad field "${field}"`, () => {
      const preset = { ...base, name: 'mine', ...change } as ImagePreset;
      let error: unknown;
      try {
        prepareImagePreset(preset);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(BadPresetError);
      expect((error as BadPresetError).field).toBe(field);
      expect((error as BadPresetError).preset).toBe('mine');
      expect((error as Error).message).toMatch(message);
    });
  }

  it('accepts custom presets: rectangular squash, grayscale, longest-pad', () => {
    expect(prepareImagePreset({ ...base, size: [96, 128], patchSize: 32, resize: 'squash', crop: 'none' })).toMatchObject({ height: 96, width: 128, name: 'custom' });
    expect(prepareImagePreset({ ...base, channels: 1, mean: [0.5], std: [0.5] }).lut.length).toBe(256);
    expect(prepareImagePreset({ ...base, resize: 'longest-pad', crop: 'none', name: 'pad' }).name).toBe('pad');
    expect(() => prepareImagePreset({ ...base, resize: 'longest-pad', crop: 'none', size: [224, 112] })).toThrow(/"size" must be square/);
  });
});
