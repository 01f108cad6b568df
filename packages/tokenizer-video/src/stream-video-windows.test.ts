import { join } from 'node:path';
import { InvalidArgumentError } from '@omnitok/core';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTempDir, patternClip } from './__fixtures__/clips.js';
import { decodeVideo } from './decode-video.js';
import { tokenizeVideo } from './preprocess-video.js';
import type { VideoPreset } from './presets.js';
import { streamVideoWindows, type VideoWindow, type VideoWindowOptions } from './stream-video-windows.js';

const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('streamVideoWindows', () => {
  const tmp = makeTempDir();
  afterAll(() => tmp.cleanup());
  // 4.2 s at 25 fps (105 frames), luma 16 + 2N: every frame's pixels say which frame it is.
  const clip = patternClip(join(tmp.dir, 'windows.mp4'), { size: '80x60', seconds: 4.2 });
  const uniform: VideoPreset = { sampling: { mode: 'uniform', frames: 4 }, image: 'clip-vit-b-16', tubelet: [2, 16, 16] };
  const fps: VideoPreset = { sampling: { mode: 'fps', fps: 5, maxFrames: 64 }, image: 'clip-vit-b-16', tubelet: [2, 16, 16] };
  const collect = async (preset: VideoPreset, options: VideoWindowOptions): Promise<VideoWindow[]> => {
    const out: VideoWindow[] = [];
    for await (const w of streamVideoWindows(await decodeVideo(clip), preset, options)) out.push({ ...w, data: w.data.slice() });
    return out;
  };

  for (const [title, preset, options] of [
    ['uniform 4 frames, 1 s windows back to back', uniform, { seconds: 1 }],
    ['uniform 4 frames, 1.5 s windows every 0.5 s (overlapping, shared frames)', uniform, { seconds: 1.5, hop: 0.5 }],
    ['fps 5, 2 s windows from 0.3 s to 3.9 s (a shorter last window)', fps, { seconds: 2, start: 0.3, end: 3.9 }],
  ] as const) {
    it(`${title}: each window is tokenizeVideo of that window, bit for bit`, async () => {
      const windows = await collect(preset, options);
      const hop = 'hop' in options ? options.hop : options.seconds;
      const from = 'start' in options ? options.start : 0;
      const until = 'end' in options ? options.end : 4.2;
      expect(windows.length).toBe(Math.ceil((until - from) / hop - 1e-9));
      const decoded = await decodeVideo(clip);
      for (const w of windows) {
        expect(w.start).toBeCloseTo(from + w.window * hop, 9);
        expect(w.end).toBeCloseTo(Math.min(w.start + options.seconds, until), 9);
        const one = await tokenizeVideo(decoded, preset, { start: w.start, end: w.end });
        expect({ shape: w.shape, grid: w.grid, frameIndices: [...w.frameIndices], timestamps: [...w.timestamps] }).toEqual({
          shape: one.shape,
          grid: one.grid,
          frameIndices: [...one.frameIndices],
          timestamps: [...one.timestamps],
        });
        expect(bits(w.data).equals(bits(one.data)), `window ${w.window}`).toBe(true);
      }
      // every frame index lies inside its window
      for (const w of windows) for (const i of w.frameIndices) expect(i / 25).toBeGreaterThanOrEqual(w.start - 1e-9);
    });
  }

  it('reuseArrays hands the same arrays back window after window, with the same tokens', async () => {
    const decoded = await decodeVideo(clip);
    const fresh = await collect(uniform, { seconds: 0.5 });
    const buffers = new Set<ArrayBufferLike>();
    let k = 0;
    for await (const w of streamVideoWindows(decoded, uniform, { seconds: 0.5, reuseArrays: true })) {
      buffers.add(w.data.buffer);
      expect(bits(w.data).equals(bits(fresh[k]!.data)), `window ${k}`).toBe(true);
      k++;
    }
    expect(k).toBe(9);
    expect(buffers.size).toBeLessThanOrEqual(3); // back-to-back windows: one open, one handed out
    // Without it, every window keeps its own array, intact after the loop.
    const kept: VideoWindow[] = [];
    for await (const w of streamVideoWindows(decoded, uniform, { seconds: 0.5 })) kept.push(w);
    expect(new Set(kept.map((w) => w.data.buffer)).size).toBe(9);
    kept.forEach((w, i) => expect(bits(w.data).equals(bits(fresh[i]!.data)), `window ${i}`).toBe(true));
  });

  it('stopping early ends the read; the windows before are complete', async () => {
    const decoded = await decodeVideo(clip);
    const seen: number[] = [];
    for await (const w of streamVideoWindows(decoded, uniform, { seconds: 0.4 })) {
      seen.push(w.window);
      if (w.window === 2) break;
    }
    expect(seen).toEqual([0, 1, 2]);
  });

  it('refuses a bad window, hop or range and a 3-crop preset, naming the argument', async () => {
    const decoded = await decodeVideo(clip);
    const first = (preset: VideoPreset, options: VideoWindowOptions) => streamVideoWindows(decoded, preset, options).next();
    await expect(first(uniform, { seconds: 0 })).rejects.toThrow(/options\.seconds/);
    await expect(first(uniform, { seconds: 1, hop: -1 })).rejects.toThrow(/options\.hop/);
    await expect(first(uniform, { seconds: 1, start: 5 })).rejects.toThrow(/options\.start/);
    await expect(first({ ...uniform, spatialCrops: 3 }, { seconds: 1 })).rejects.toThrow(InvalidArgumentError);
  });
});
