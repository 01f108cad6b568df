import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// Before the image package is loaded (it reads these once): the JavaScript and scalar paths only.
process.env.OMNITOK_IMAGE_NO_NATIVE = '1';
process.env.OMNITOK_IMAGE_NO_SIMD = '1';
const { nativePreprocessAvailable } = await import('@omnitok/tokenizer-image');
const { defineTokenizeVideoCases } = await import('./tokenize-video.cases.js');
const { streamVideoWindows } = await import('./stream-video-windows.js');
const { tokenizeVideo } = await import('./preprocess-video.js');
const { decodeVideo } = await import('./decode-video.js');
const { makeTempDir, patternClip } = await import('./__fixtures__/clips.js');

describe('tokenizeVideo without the native addon or WebAssembly SIMD', () => {
  it('really runs without the native addon', async () => {
    expect(await nativePreprocessAvailable()).toBe(false);
  });
  defineTokenizeVideoCases();

  describe('streamVideoWindows', () => {
    const tmp = makeTempDir();
    afterAll(() => tmp.cleanup());
    const clip = patternClip(join(tmp.dir, 'windows-js.mp4'), { size: '80x60', seconds: 2 });
    it('each overlapping window is tokenizeVideo of that window, bit for bit (frames preprocessed in this thread)', async () => {
      const decoded = await decodeVideo(clip);
      const preset = { sampling: { mode: 'uniform', frames: 4 }, image: 'clip-vit-b-16', tubelet: [2, 16, 16] } as const;
      let n = 0;
      for await (const w of streamVideoWindows(decoded, preset, { seconds: 0.8, hop: 0.4 })) {
        const one = await tokenizeVideo(decoded, preset, { start: w.start, end: w.end });
        expect([...w.frameIndices]).toEqual([...one.frameIndices]);
        expect(Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength).equals(Buffer.from(one.data.buffer, one.data.byteOffset, one.data.byteLength))).toBe(true);
        n++;
      }
      expect(n).toBe(5);
    });
  });
});
