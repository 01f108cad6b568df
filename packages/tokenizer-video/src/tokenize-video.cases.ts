import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ffmpegSync, makeTempDir, patternClip } from './__fixtures__/clips.js';
import { decodeVideo } from './decode-video.js';
import { preprocessVideo, tokenizeVideo } from './preprocess-video.js';
import type { VideoPreset } from './presets.js';
import { tubeletize } from './tubeletize.js';

/**
 * tokenizeVideo (frames written straight into tubelet slots) against tubeletize(preprocessVideo(…)),
 * bit for bit, over the sampling modes and the cases where one decoded frame fills several slots
 * (stride padding, fps padding, repeated indices, three spatial crops). Run twice: with the native
 * thread pool (tokenize-video.test.ts) and on the JavaScript paths (tokenize-video-js.test.ts).
 */
export function defineTokenizeVideoCases(): void {
  const tmp = makeTempDir();
  afterAll(() => tmp.cleanup());
  const clip = patternClip(join(tmp.dir, 'clip.mp4'), { size: '80x60', seconds: 2 });
  const small = { size: 32, patchSize: 8, resize: 'shortest', crop: 'center', interpolation: 'bicubic', mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3], channels: 3 } as const;
  const cases: [string, VideoPreset][] = [
    ['uniform 8 frames, tubelet 2×16×16 (clip-vit-b-16 frames)', { sampling: { mode: 'uniform', frames: 8 }, image: 'clip-vit-b-16', tubelet: [2, 16, 16] }],
    ['stride 4 × 16 frames past the end of a 2 s clip (last frame repeated)', { sampling: { mode: 'stride', frames: 16, stride: 4 }, image: small, tubelet: [2, 8, 8] }],
    ['fps 7 padded to a multiple of depth 4, tubelet 4×16×8', { sampling: { mode: 'fps', fps: 7, maxFrames: 64 }, image: small, tubelet: [4, 16, 8] }],
    ['3 clips × 4 frames, 3 spatial crops (15 → 36 output frames)', { sampling: { mode: 'clips', clips: 3, clipDuration: 0.5, frames: 4 }, image: small, tubelet: [2, 8, 8], spatialCrops: 3 }],
    ['uniform 30 frames over 50 (repeated indices), depth 3', { sampling: { mode: 'uniform', frames: 30 }, start: 0, end: 0.4, image: small, tubelet: [3, 8, 8] }],
  ];
  it('a corrupt middle (frames substituted, ffmpeg errors): the same tokens and the same warnings', async () => {
    const clean = patternClip(join(tmp.dir, 'clean.mkv'), { codec: 'ffv1' });
    ffmpegSync(['-i', clean, '-c', 'copy', '-cluster_time_limit', '200'], join(tmp.dir, 'clusters.mkv'));
    const bytes = readFileSync(join(tmp.dir, 'clusters.mkv'));
    bytes.fill(0x55, bytes.length >> 1, (bytes.length >> 1) + 300);
    writeFileSync(join(tmp.dir, 'corrupt.mkv'), bytes);
    const decoded = await decodeVideo(join(tmp.dir, 'corrupt.mkv'));
    const preset: VideoPreset = { sampling: { mode: 'fps', fps: 25, maxFrames: 64 }, image: { size: 16, patchSize: 8, resize: 'shortest', crop: 'center', interpolation: 'bilinear', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], channels: 3 }, tubelet: [2, 8, 8] };
    // showinfo timestamps: which frames the default (computed) timestamps substitute near damage depends
    // on when ffmpeg's error line arrives relative to the frames, so two runs may differ there
    const options = { timestamps: 'showinfo' } as const;
    const features = await preprocessVideo(decoded, preset, options);
    const got = await tokenizeVideo(decoded, preset, options);
    expect(features.warnings.join('\n')).toMatch(/could not be decoded; used the nearest decoded frame/);
    expect(got.warnings).toEqual(features.warnings);
    expect(Buffer.from(got.data.buffer).equals(Buffer.from(tubeletize(features).data.buffer))).toBe(true);
  });

  for (const [title, preset] of cases) {
    for (const augment of [false, true]) {
      it(`${title}${augment ? ', augmented' : ''}: the tokens of tubeletize(preprocessVideo)`, async () => {
        const decoded = await decodeVideo(clip);
        const options = { augment, seed: 5 };
        const features = await preprocessVideo(decoded, preset, options);
        const want = tubeletize(features);
        const got = await tokenizeVideo(decoded, preset, options);
        expect(got.shape).toEqual(want.shape);
        expect(got.grid).toEqual(want.grid);
        expect(Buffer.from(got.data.buffer).equals(Buffer.from(want.data.buffer))).toBe(true);
        expect(Array.from(got.timestamps)).toEqual(Array.from(features.timestamps));
        expect(Array.from(got.frameIndices)).toEqual(Array.from(features.frameIndices));
        expect(got.clips).toBe(features.clips);
        expect(got.warnings).toEqual(features.warnings);
      });
    }
  }
}
