import { describe, expect, it } from 'vitest';

// Before the image package is loaded (it reads these once): the JavaScript and scalar paths only.
process.env.OMNITOK_IMAGE_NO_NATIVE = '1';
process.env.OMNITOK_IMAGE_NO_SIMD = '1';
const { nativePreprocessAvailable } = await import('@omnitok/tokenizer-image');
const { defineTokenizeVideoCases } = await import('./tokenize-video.cases.js');

describe('tokenizeVideo without the native addon or WebAssembly SIMD', () => {
  it('really runs without the native addon', async () => {
    expect(await nativePreprocessAvailable()).toBe(false);
  });
  defineTokenizeVideoCases();
});
