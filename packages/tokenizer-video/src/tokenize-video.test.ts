import { nativePreprocessAvailable } from '@omnitok/tokenizer-image';
import { describe, expect, it } from 'vitest';
import { defineTokenizeVideoCases } from './tokenize-video.cases.js';

const native = await nativePreprocessAvailable();

describe(`tokenizeVideo (${native ? 'frames resized on the native thread pool' : 'no native addon'})`, () => {
  it('has the native addon where it is required (CI)', () => {
    if (process.env.OMNITOK_REQUIRE_NATIVE === '1') expect(native).toBe(true);
    expect(typeof native).toBe('boolean');
  });
  defineTokenizeVideoCases();
});
