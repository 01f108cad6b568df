import { execFileSync } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DecodeError } from '@omnitok/core';
import { locateFfmpeg } from '@omnitok/tokenizer-audio';
import { preprocessImage } from '@omnitok/tokenizer-image';
import { afterAll, describe, expect, it } from 'vitest';
import { ffmpegSync, frameIndexOfValue, makeTempDir, patternClip, rgbOfFeature } from './__fixtures__/clips.js';
import { decodeVideo } from './decode-video.js';
import { preprocessVideo, resolveVideoPreset } from './preprocess-video.js';
import { readFrames } from './read-frames.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());
const at = (name: string) => join(tmp.dir, name);

/** Frame numbers recovered from the frames `readFrames` delivers. */
async function framesOf(path: string, indices: number[], options = {}) {
  const decoded = await decodeVideo(path);
  const warnings: string[] = [];
  const out: { index: number; time: number; content: number; substituted: boolean; positions: readonly number[] }[] = [];
  for await (const f of readFrames(decoded, indices, { ...options, warnings })) {
    out.push({ index: f.index, time: f.time, content: frameIndexOfValue(f.image.data[0]!), substituted: f.substituted, positions: f.positions });
  }
  return { out, warnings, decoded };
}

describe('readFrames: exact frames out of ffmpeg', () => {
  const wanted = [0, 1, 12, 13, 37, 50, 74];
  for (const [name, codec] of [['x264.mp4', 'x264'], ['ffv1.mkv', 'ffv1'], ['mjpeg.avi', 'mjpeg']] as const) {
    it(`delivers exactly the requested frames of ${name}, with their timestamps`, async () => {
      const path = patternClip(at(name), { codec });
      const { out, warnings } = await framesOf(path, wanted);
      expect(out.map((f) => f.content)).toEqual(wanted);
      expect(out.map((f) => f.index)).toEqual(wanted);
      for (const f of out) expect(f.time).toBeCloseTo(f.index / 25, 6);
      expect(warnings).toEqual([]);
    });
  }

  it('seeks for far-apart frames (one ffmpeg per group) and stays exact', async () => {
    const path = patternClip(at('long.mp4'), { rate: 8, seconds: 12, keyint: 16 });
    const wanted2 = [3, 4, 55, 80, 95, 94];
    const { out } = await framesOf(path, wanted2, { seekGap: 1 });
    expect(out.map((f) => f.content)).toEqual([3, 4, 55, 80, 94, 95]);
    expect(out.find((f) => f.index === 94)!.positions).toEqual([5]);
  });

  it('reads a repeated index once and reports every position it serves', async () => {
    const path = patternClip(at('rep.mkv'), { codec: 'ffv1', seconds: 1 });
    const { out } = await framesOf(path, [5, 5, 2, 5]);
    expect(out.map((f) => [f.content, [...f.positions]])).toEqual([[2, [2]], [5, [0, 1, 3]]]);
  });

  it('hands frames to the image package unchanged: features equal preprocessImage of the same RGB frame', async () => {
    const path = ffmpegSync(['-f', 'lavfi', '-i', 'testsrc=s=96x72:r=10:d=1', '-c:v', 'ffv1'], at('testsrc.mkv'));
    const decoded = await decodeVideo(path);
    const features = await preprocessVideo(decoded, { sampling: { mode: 'uniform', frames: 2 }, image: 'clip-vit-b-16', tubelet: [2, 16, 16] });
    const raw = execFileSync(locateFfmpeg(), ['-v', 'error', '-i', path, '-vf', "select='eq(n,9)'", '-vsync', '0', '-pix_fmt', 'rgb24', '-f', 'rawvideo', '-']);
    const image = preprocessImage({ data: new Uint8Array(raw), width: 96, height: 72, channels: 3, source: 'x', format: 'raw' }, 'clip-vit-b-16');
    expect([...features.frameIndices]).toEqual([0, 9]);
    expect(Buffer.from(features.data.buffer, features.data.byteOffset + image.data.byteLength, image.data.byteLength).equals(Buffer.from(image.data.buffer))).toBe(true);
  });
});

describe('readFrames: awkward and damaged input', () => {
  it('honours rotation metadata: frames come out as players show them', async () => {
    const corner = ffmpegSync(
      ['-f', 'lavfi', '-i', "color=c=black:s=64x48:r=25:d=1,format=yuv444p,geq=lum='if(lt(X\\,16)*lt(Y\\,8)\\,235\\,16)':cb=128:cr=128", '-c:v', 'libx264', '-qp', '0', '-pix_fmt', 'yuv444p'],
      at('corner.mp4'),
    );
    const rotated = ffmpegSync(['-i', corner, '-c', 'copy', '-metadata:s:v:0', 'rotate=90'], at('rotated.mp4'));
    const decoded = await decodeVideo(rotated);
    expect(Math.abs(decoded.video.rotation)).toBe(90);
    expect([decoded.width, decoded.height]).toEqual([48, 64]);
    const frames = [];
    for await (const f of readFrames(decoded, [0])) frames.push(f);
    const { image } = frames[0]!;
    expect([image.width, image.height]).toEqual([48, 64]);
    // The bright 16×8 block of the top-left corner is now 8 wide × 16 tall, in the bottom-left corner
    // (a 90° turn; ffmpeg 4.1 and 5.1 agree, as players do).
    const bright = (x: number, y: number) => image.data[(y * 48 + x) * 3]! > 128;
    expect(bright(2, 60)).toBe(true);
    expect(bright(6, 49)).toBe(true);
    expect(bright(9, 60)).toBe(false);
    expect(bright(2, 46)).toBe(false);
    expect(bright(2, 2)).toBe(false);
  });

  it('decodes odd sizes (101×67)', async () => {
    const path = ffmpegSync(['-f', 'lavfi', '-i', "color=c=black:s=101x67:r=10:d=1,format=yuv444p,geq=lum='16+2*N':cb=128:cr=128", '-c:v', 'ffv1', '-pix_fmt', 'yuv444p'], at('odd.mkv'));
    const decoded = await decodeVideo(path);
    expect([decoded.width, decoded.height]).toEqual([101, 67]);
    const features = await preprocessVideo(decoded, 'videomae-16x224-uniform');
    expect(features.shape).toEqual([16, 3, 224, 224]);
    const plane = 224 * 224;
    const got = [...features.frameIndices].map((_, i) => frameIndexOfValue(rgbOfFeature(features.data[i * 3 * plane + 5000]!, 0.485, 0.229)));
    expect(got).toEqual([...features.frameIndices]);
  });

  it('variable frame rate: each time gets the frame shown then (the last one at or before it)', async () => {
    const path = ffmpegSync(
      ['-f', 'lavfi', '-i', "color=c=black:s=64x48:r=25:d=3,format=yuv420p,geq=lum='16+2*N':cb=128:cr=128,select='not(between(n\\,20\\,40))'", '-vsync', 'vfr', '-c:v', 'libx264', '-qp', '0'],
      at('vfr.mp4'),
    );
    const decoded = await decodeVideo(path);
    expect(decoded.video.variableFrameRate).toBe(true);
    expect(decoded.warnings.join()).toMatch(/variable frame rate/);
    const present = [...Array.from({ length: 20 }, (_, i) => i), ...Array.from({ length: 34 }, (_, i) => 41 + i)];
    const indices = Array.from({ length: 54 }, (_, i) => i);
    const warnings: string[] = [];
    for await (const f of readFrames(decoded, indices, { warnings })) {
      const shown = present.filter((n) => n / 25 <= f.requestedTime + 0.001).pop()!;
      expect(frameIndexOfValue(f.image.data[0]!)).toBe(shown);
      expect(f.time).toBeCloseTo(shown / 25, 6);
    }
    expect(warnings).toEqual([]);
  });

  it('corrupt middle: decodes what it can, substitutes the nearest decoded frame and says so', async () => {
    const clean = patternClip(at('clean.mkv'), { codec: 'ffv1' });
    ffmpegSync(['-i', clean, '-c', 'copy', '-cluster_time_limit', '200'], at('clusters.mkv'));
    const bytes = readFileSync(at('clusters.mkv'));
    bytes.fill(0x55, bytes.length >> 1, (bytes.length >> 1) + 300);
    writeFileSync(at('corrupt.mkv'), bytes);
    const indices = [0, 4, 9, 14, 19, 24, 29, 34, 39, 44, 49, 54, 59, 64, 69, 74];
    const { out, warnings } = await framesOf(at('corrupt.mkv'), indices);
    const lost = out.filter((f) => f.substituted);
    expect(lost.map((f) => f.index)).toEqual([34, 39]);
    for (const f of lost) {
      expect(Math.abs(f.time - f.index / 25)).toBeGreaterThan(0.02);
      expect(warnings.join('\n')).toContain(`frame ${f.index} (t=${(f.index / 25).toFixed(3)} s) could not be decoded; used the nearest decoded frame (t=${f.time.toFixed(3)} s)`);
    }
    expect(warnings.join('\n')).toMatch(/ffmpeg reported \d+ decode error/);
    // Frames well away from the damage are exact.
    for (const f of out) if (f.index <= 29 || f.index >= 49) expect(f.content).toBe(f.index);
  });

  it('times out instead of hanging', async () => {
    const path = patternClip(at('t.mp4'), { seconds: 1 });
    const decoded = await decodeVideo(path);
    const run = async () => {
      for await (const _ of readFrames(decoded, [0, 24], { timeoutMs: 1 })) void _;
    };
    await expect(run()).rejects.toThrow(/timed out after 1 ms/);
  });

  it('fails with DecodeError when the ffmpeg binary cannot run', async () => {
    const path = patternClip(at('nobin.mp4'), { seconds: 1 });
    const decoded = await decodeVideo(path);
    const saved = process.env.OMNITOK_FFMPEG;
    process.env.OMNITOK_FFMPEG = at('no-such-ffmpeg');
    try {
      await expect(preprocessVideo(decoded, resolveVideoPreset('videomae-16x224'), { timeoutMs: 10_000 })).rejects.toBeInstanceOf(DecodeError);
    } finally {
      if (saved === undefined) delete process.env.OMNITOK_FFMPEG;
      else process.env.OMNITOK_FFMPEG = saved;
    }
  });
});
