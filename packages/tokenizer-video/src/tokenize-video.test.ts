import { join } from 'node:path';
import { InvalidArgumentError } from '@omnitok/core';
import { nativePreprocessAvailable } from '@omnitok/tokenizer-image';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTempDir, patternClip } from './__fixtures__/clips.js';
import { decodeVideo } from './decode-video.js';
import { preprocessVideo, tokenizeVideo } from './preprocess-video.js';
import { defineTokenizeVideoCases } from './tokenize-video.cases.js';

const native = await nativePreprocessAvailable();

describe(`tokenizeVideo (${native ? 'frames resized on the native thread pool' : 'no native addon'})`, () => {
  it('has the native addon where it is required (CI)', () => {
    if (process.env.OMNITOK_REQUIRE_NATIVE === '1') expect(native).toBe(true);
    expect(typeof native).toBe('boolean');
  });
  defineTokenizeVideoCases();
});

describe('tokenizeVideo / preprocessVideo `out`', () => {
  const tmp = makeTempDir();
  afterAll(() => tmp.cleanup());
  const clip = patternClip(join(tmp.dir, 'out.mp4'), { size: '80x60', seconds: 1 });
  const preset = { sampling: { mode: 'uniform', frames: 4 }, image: 'clip-vit-b-16', tubelet: [2, 16, 16] } as const;
  const size = 4 * 3 * 224 * 224;

  it('writes into the given array (reused across calls: the same tokens) and refuses one too small', async () => {
    const decoded = await decodeVideo(clip);
    const fresh = await tokenizeVideo(decoded, preset);
    const out = new Float32Array(size + 10).fill(NaN);
    const first = await tokenizeVideo(decoded, preset, { out });
    expect(first.data.buffer).toBe(out.buffer);
    expect(first.data.length).toBe(size);
    expect(Buffer.from(first.data.buffer, 0, size * 4).equals(Buffer.from(fresh.data.buffer))).toBe(true);
    expect(Number.isNaN(out[size])).toBe(true); // the rest is left alone
    const again = await tokenizeVideo(decoded, preset, { out, augment: true, seed: 3 });
    const augmented = await tokenizeVideo(decoded, preset, { augment: true, seed: 3 });
    expect(Buffer.from(again.data.buffer, 0, size * 4).equals(Buffer.from(augmented.data.buffer))).toBe(true);
    const features = await preprocessVideo(decoded, preset, { out });
    expect(features.data.buffer).toBe(out.buffer);
    await expect(tokenizeVideo(decoded, preset, { out: new Float32Array(size - 1) })).rejects.toThrow(InvalidArgumentError);
    await expect(tokenizeVideo(decoded, preset, { out: new Float32Array(size - 1) })).rejects.toThrow(new RegExp(`${size} floats`));
  });
});
