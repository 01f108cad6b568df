import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { BadPresetError, createModalityRegistry, DecodeError, UnsupportedFormatError } from '@omnitok/core';
import { describe, expect, it } from 'vitest';
import { imageTokenizer } from './image-tokenizer.js';
import { IMAGE_PRESETS } from './presets.js';

const dir = fileURLToPath(new URL('./__fixtures__/', import.meta.url));

describe('imageTokenizer plugin', () => {
  it('is a spec-v1 continuous image plugin with the default preset clip-vit-b-16', () => {
    const plugin = imageTokenizer();
    expect(plugin).toMatchObject({ specVersion: 1, name: 'image', modality: 'image', tokenKind: 'continuous', defaultPreset: 'clip-vit-b-16' });
    expect(Object.keys(plugin.presets)).toEqual(Object.keys(IMAGE_PRESETS));
    expect(plugin.fileTypes.map((t) => t.format)).toEqual(['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif']);
  });

  it('decodes, preprocesses and tokenizes: [3, 224, 224] → 196 × 768', async () => {
    const plugin = imageTokenizer();
    const decoded = await plugin.decode(`${dir}chelsea.jpg`);
    const features = await plugin.preprocess(decoded);
    expect(features).toMatchObject({ shape: [3, 224, 224], axes: ['channel', 'height', 'width'], modality: 'image', preset: 'clip-vit-b-16', source: `${dir}chelsea.jpg` });
    const tokens = plugin.tokenize(features);
    expect(tokens.shape).toEqual([196, 768]);
    expect(tokens.grid).toEqual([14, 14]);
    expect(tokens.preset).toBe('clip-vit-b-16');
    const l14 = plugin.tokenize(await plugin.preprocess(decoded, 'clip-vit-l-14-336'));
    expect(l14.shape).toEqual([576, 588]);
  });

  it('routes files by magic bytes through a registry, AVIF included', async () => {
    const registry = createModalityRegistry([imageTokenizer()]);
    expect((await registry.detect({ bytes: readFileSync(`${dir}chelsea.jpg`), name: 'photo.bin' }))?.format).toBe('jpeg');
    expect((await registry.detect(`${dir}anim.gif`))?.format).toBe('gif');
    const avifHead = new Uint8Array([0, 0, 0, 0x1c, ...Buffer.from('ftypavif')]);
    expect(registry.byMagic(avifHead)?.format).toBe('avif');
    expect(registry.byMagic(new Uint8Array([0, 0, 0, 0x1c, ...Buffer.from('ftypavis')]))?.format).toBe('avif');
    expect(registry.byMagic(new Uint8Array([...Buffer.from('RIFF'), 1, 2, 3, 4, ...Buffer.from('WEBP')]))?.format).toBe('webp');
    expect(registry.byMagic(new Uint8Array([...Buffer.from('MM'), 0, 42]))?.format).toBe('tiff');
    expect(registry.byExtension('x.JPEG')?.format).toBe('jpeg');
  });

  it('takes custom presets and decode defaults; a bad custom preset fails at construction', async () => {
    const plugin = imageTokenizer({
      presets: { tiny: { size: 32, patchSize: 8, resize: 'squash', crop: 'none', interpolation: 'bilinear', mean: [0, 0, 0], std: [1, 1, 1], channels: 3 } },
      defaultPreset: 'tiny',
      decode: { alpha: 'drop' },
    });
    const features = await plugin.preprocess(await plugin.decode(`${dir}rgba.png`));
    expect(features.shape).toEqual([3, 32, 32]);
    expect(features.preset).toBe('tiny');
    // Alpha dropped: the transparent black hole stays black instead of white.
    const dropped = await plugin.decode(`${dir}rgba.png`);
    expect(Array.from(dropped.data.subarray((12 * 64 + 12) * 3, (12 * 64 + 12) * 3 + 3))).toEqual([0, 0, 0]);
    expect(() => imageTokenizer({ presets: { broken: { ...IMAGE_PRESETS['siglip-224']!, name: 'broken', patchSize: 17 } } })).toThrow(BadPresetError);
    expect(() => imageTokenizer({ defaultPreset: 'missing' })).toThrow(/Unknown image preset "missing"/);
  });

  it('throws typed errors naming the input', async () => {
    const plugin = imageTokenizer();
    await expect(plugin.decode({ bytes: new Uint8Array(0), name: 'zero.png' })).rejects.toThrow(DecodeError);
    await expect(plugin.decode({ bytes: new Uint8Array([1, 2, 3, 4]), name: 'x.bin' })).rejects.toThrow(UnsupportedFormatError);
    await expect(plugin.decode({ text: 'a cat' })).rejects.toThrow(UnsupportedFormatError);
    const decoded = await plugin.decode(`${dir}tiny.png`);
    expect(() => plugin.preprocess(decoded, 'clip-vit-h-14')).toThrow(BadPresetError);
  });
});
