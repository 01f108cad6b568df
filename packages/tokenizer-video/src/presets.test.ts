import { BadPresetError } from '@omnitok/core';
import { describe, expect, it } from 'vitest';
import { resolveVideoPreset } from './preprocess-video.js';
import { VIDEO_PRESETS, type VideoPreset } from './presets.js';
import { videoTokenizer } from './video-tokenizer.js';

describe('video presets', () => {
  const plugin = videoTokenizer();

  it('describe the token layouts of the reference models', () => {
    expect(plugin.describeTokens!('videomae-16x224')).toEqual({ kind: 'continuous', dim: 1536, tokens: 1568, grid: [8, 14, 14], variable: undefined });
    expect(plugin.describeTokens!('videomae-16x224-uniform').tokens).toBe(1568);
    expect(plugin.describeTokens!('vivit-32x224')).toMatchObject({ dim: 1536, tokens: 3136, grid: [16, 14, 14] });
    expect(plugin.describeTokens!('imagebind')).toMatchObject({ dim: 1176, tokens: 3840, grid: [15, 1, 16, 16] });
  });

  it('are plain JSON and reuse image presets for the frames', () => {
    expect(JSON.parse(JSON.stringify(VIDEO_PRESETS))).toEqual(VIDEO_PRESETS);
    const r = resolveVideoPreset('videomae-16x224');
    expect([r.image.height, r.image.width, r.image.preset.interpolation]).toEqual([224, 224, 'bilinear']);
    expect(resolveVideoPreset({ sampling: { mode: 'uniform', frames: 4 }, image: 'clip-vit-b-32', tubelet: [2, 32, 32] }).name).toBe('custom');
  });

  it('reject bad fields with BadPresetError naming the field', () => {
    const base: VideoPreset = { sampling: { mode: 'uniform', frames: 16 }, image: 'clip-vit-b-16', tubelet: [2, 16, 16] };
    const field = (p: unknown) => {
      try {
        resolveVideoPreset(p as VideoPreset);
      } catch (e) {
        expect(e).toBeInstanceOf(BadPresetError);
        return (e as BadPresetError).field;
      }
      throw new Error('accepted');
    };
    expect(field({ ...base, tubelet: [3, 16, 16] })).toBe('tubelet');
    expect(field({ ...base, tubelet: [2, 15, 15] })).toBe('tubelet');
    expect(field({ ...base, sampling: { mode: 'every', frames: 2 } })).toBe('sampling.mode');
    expect(field({ ...base, sampling: { mode: 'fps', fps: 1 } })).toBe('sampling.maxFrames');
    expect(field({ ...base, image: 'no-such-image-preset' })).toBe('image');
    expect(field({ ...base, end: 0 })).toBe('end');
    expect(field({ ...base, colour: true })).toBe('colour');
    expect(field({ ...base, spatialCrops: 2 })).toBe('spatialCrops');
    expect(field({ ...base, image: 'siglip-224', spatialCrops: 3 })).toBe('spatialCrops'); // squash, no crop to move
    expect(resolveVideoPreset({ ...base, spatialCrops: 3 }).clips).toBe(3);
    expect(() => plugin.describeTokens!('nope')).toThrow(/videomae-16x224/);
  });
});
