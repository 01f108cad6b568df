import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DecodeError, UnsupportedFormatError } from '@omnitok/core';
import { describe, expect, it } from 'vitest';
import { batchItemSeed, preprocessImageBatch, tokenizeImageBatch } from './batch.js';
import { decodeImage } from './decode-image.js';
import { patchify } from './patchify.js';
import { preprocessImage } from './preprocess-image.js';

const dir = fileURLToPath(new URL('./__fixtures__/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'omnitok-image-batch-'));
const broken = join(tmp, 'broken.png');
writeFileSync(broken, (await import('node:fs')).readFileSync(`${dir}lineart.png`).subarray(0, 300));
const text = join(tmp, 'readme.txt');
writeFileSync(text, 'not an image');
const good = ['chelsea.jpg', 'lineart.png', 'tiny.png', 'rgba.png', 'coffee.jpg'].map((f) => `${dir}${f}`);

describe('batch API', () => {
  it('preprocesses many images into one contiguous [B, C, H, W] array, equal to one-by-one', async () => {
    const batch = await preprocessImageBatch(good, { preset: 'siglip-224', concurrency: 3 });
    expect(batch.shape).toEqual([5, 3, 224, 224]);
    expect(batch.data.length).toBe(5 * 3 * 224 * 224);
    expect(batch.failures).toEqual([]);
    expect(Array.from(batch.indices)).toEqual([0, 1, 2, 3, 4]);
    expect(batch.sources).toEqual(good);
    const size = 3 * 224 * 224;
    for (let i = 0; i < good.length; i++) {
      const single = preprocessImage(await decodeImage(good[i]!), 'siglip-224');
      expect(Buffer.from(batch.data.subarray(i * size, (i + 1) * size).slice().buffer).equals(Buffer.from(single.data.buffer)), good[i]).toBe(true);
    }
  });

  it('reports failed items with typed errors naming the file and keeps the others in order', async () => {
    const inputs = [good[0]!, broken, good[1]!, text, join(tmp, 'missing.jpg'), good[2]!];
    const batch = await tokenizeImageBatch(inputs, { preset: 'clip-vit-b-32' });
    expect(batch.shape).toEqual([3, 49, 3 * 32 * 32]);
    expect(Array.from(batch.indices)).toEqual([0, 2, 5]);
    expect(batch.failures.map((f) => [f.index, f.source, f.error.constructor.name])).toEqual([
      [1, broken, 'DecodeError'],
      [3, text, 'UnsupportedFormatError'],
      [4, join(tmp, 'missing.jpg'), 'DecodeError'],
    ]);
    expect(batch.failures[0]!.error).toBeInstanceOf(DecodeError);
    expect(batch.failures[1]!.error).toBeInstanceOf(UnsupportedFormatError);
    expect(batch.failures[0]!.error.message).toContain('broken.png');
    // Row 1 of the token batch is lineart.png, equal to patchify of the single-image features.
    const single = patchify(preprocessImage(await decodeImage(good[1]!), 'clip-vit-b-32'));
    const rowSize = 49 * 3072;
    expect(Buffer.from(batch.data.subarray(rowSize, 2 * rowSize).slice().buffer).equals(Buffer.from(single.data.buffer))).toBe(true);
    expect(Array.from(batch.positions)).toEqual(Array.from(single.positions));
    expect(batch.grid).toEqual([7, 7]);
  });

  it('augments each item with its own reproducible seed', async () => {
    const a = await preprocessImageBatch([good[0]!, good[0]!], { preset: 'imagenet', augment: true, seed: 5 });
    const b = await preprocessImageBatch([good[0]!, good[0]!], { preset: 'imagenet', augment: true, seed: 5 });
    expect(Buffer.from(a.data.buffer).equals(Buffer.from(b.data.buffer))).toBe(true);
    const size = 3 * 224 * 224;
    expect(Buffer.from(a.data.subarray(0, size).slice().buffer).equals(Buffer.from(a.data.subarray(size).slice().buffer))).toBe(false);
    const item1 = preprocessImage(await decodeImage(good[0]!), 'imagenet', { augment: true, seed: batchItemSeed(5, 1) });
    expect(Buffer.from(a.data.subarray(size).slice().buffer).equals(Buffer.from(item1.data.buffer))).toBe(true);
  });

  it('writes tokens directly in patch order, also with a flip and with padding', async () => {
    const flipPreset = { size: 64, patchSize: 16, resize: 'shortest', crop: 'center', interpolation: 'bicubic', mean: [0.5, 0.4, 0.3], std: [0.2, 0.3, 0.4], channels: 3, augment: { scale: [0.5, 1], ratio: [0.75, 1.33], hflip: 1 } } as const;
    const padPreset = { size: 64, patchSize: 16, resize: 'longest-pad', crop: 'none', interpolation: 'bilinear', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], channels: 3 } as const;
    const greyPreset = { size: 48, patchSize: 8, resize: 'squash', crop: 'none', interpolation: 'bilinear', mean: [0.5], std: [0.25], channels: 1 } as const;
    for (const [preset, augment] of [[flipPreset, true], [padPreset, false], [greyPreset, false]] as const) {
      const batch = await tokenizeImageBatch([good[0]!], { preset, augment, seed: 9 });
      const single = patchify(preprocessImage(await decodeImage(good[0]!), preset, { augment, seed: batchItemSeed(9, 0) }));
      expect(Buffer.from(batch.data.buffer).equals(Buffer.from(single.data.buffer)), preset.resize).toBe(true);
    }
  });

  it('reads ahead without changing results: every row equals the single-image path at any concurrency', async () => {
    // More inputs than the read-ahead window, failures at the start, middle and end, paths and bytes mixed.
    const { readFileSync } = await import('node:fs');
    const inputs = [
      text,
      good[0]!,
      { bytes: readFileSync(good[4]!), name: 'coffee-bytes.jpg' },
      broken,
      ...good,
      join(tmp, 'missing.png'),
      good[0]!,
      readFileSync(good[1]!),
      broken,
    ];
    const bad = new Set([0, 3, 9, 12]);
    const singles = new Map<number, Float32Array>();
    for (let i = 0; i < inputs.length; i++) {
      if (!bad.has(i)) singles.set(i, patchify(preprocessImage(await decodeImage(inputs[i]!), 'clip-vit-b-16')).data);
    }
    for (const concurrency of [1, 2, 5]) {
      const batch = await tokenizeImageBatch(inputs, { concurrency });
      expect(batch.failures.map((f) => f.index), `concurrency ${concurrency}`).toEqual([...bad]);
      expect(batch.failures.map((f) => f.error.constructor.name)).toEqual(['UnsupportedFormatError', 'DecodeError', 'DecodeError', 'DecodeError']);
      expect(batch.failures[2]!.error.message).toContain('missing.png');
      expect(Array.from(batch.indices)).toEqual([...singles.keys()]);
      expect(batch.sources[1]).toBe('coffee-bytes.jpg');
      const row = 196 * 768;
      for (const [r, i] of Array.from(batch.indices).entries()) {
        expect(Buffer.from(batch.data.subarray(r * row, (r + 1) * row).slice().buffer).equals(Buffer.from(singles.get(i)!.buffer)), `row ${r}`).toBe(true);
      }
    }
  });

  it('returns an empty batch for no inputs and validates options', async () => {
    const empty = await preprocessImageBatch([]);
    expect(empty.shape).toEqual([0, 3, 224, 224]);
    await expect(preprocessImageBatch(good, { concurrency: 0 })).rejects.toThrow(/options\.concurrency/);
    await expect(preprocessImageBatch(good, { preset: 'nope' })).rejects.toThrow(/Unknown image preset "nope"/);
    // A bad decode option is the caller's mistake, not an item's: the whole call rejects.
    await expect(tokenizeImageBatch(good, { alpha: 'keep' as 'drop' })).rejects.toThrow(/options\.alpha/);
  });
});
