import { describe, expect, it } from 'vitest';
import { BadPresetError } from '../errors/index.js';
import { isJsonValue } from './json.js';
import { resolvePreset } from './presets.js';

const presets = { 'clip-vit-b-16': { size: 224, patch: 16 }, 'siglip-224': { size: 224, patch: 16 } };

describe('resolvePreset', () => {
  it('resolves names, the default and inline objects', () => {
    expect(resolvePreset('image', presets, 'siglip-224', 'clip-vit-b-16')).toEqual({ name: 'siglip-224', preset: presets['siglip-224'] });
    expect(resolvePreset('image', presets, undefined, 'clip-vit-b-16').name).toBe('clip-vit-b-16');
    expect(resolvePreset('image', presets, { size: 64, patch: 8 }, 'clip-vit-b-16')).toEqual({ name: 'custom', preset: { size: 64, patch: 8 } });
    expect(resolvePreset('image', presets, { name: 'mine', size: 64, patch: 8 } as never, 'clip-vit-b-16').name).toBe('mine');
  });

  it('lists the known presets for an unknown name', () => {
    expect(() => resolvePreset('image', presets, 'clip-b-99', 'clip-vit-b-16')).toThrow(BadPresetError);
    expect(() => resolvePreset('image', presets, 'clip-b-99', 'clip-vit-b-16')).toThrow(/clip-vit-b-16, siglip-224/);
    expect(() => resolvePreset('image', presets, 'toString', 'clip-vit-b-16')).toThrow(BadPresetError);
  });

  it('refuses inline presets that are not plain JSON', () => {
    expect(() => resolvePreset('image', presets, { size: Number.NaN } as never, 'clip-vit-b-16')).toThrow(BadPresetError);
    expect(() => resolvePreset('image', presets, new Date() as never, 'clip-vit-b-16')).toThrow(BadPresetError);
  });

  it('knows what JSON is', () => {
    expect(isJsonValue({ a: [1, 'x', null, { b: true }] })).toBe(true);
    expect(isJsonValue({ a: Infinity })).toBe(false);
    expect(isJsonValue({ a: new Float32Array(1) })).toBe(false);
    expect(isJsonValue({ a: undefined })).toBe(false);
  });
});
