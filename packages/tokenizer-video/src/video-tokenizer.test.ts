import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createModalityRegistry, DecodeError, InvalidArgumentError, UnsupportedFormatError } from '@omnitok/core';
import { describeModalityPlugin } from '@omnitok/core/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { ffmpegSync, frameIndexOfValue, makeTempDir, patternClip, rgbOfFeature } from './__fixtures__/clips.js';
import { decodeVideo, extractAudioTrack, videoTokenizer, type VideoFeatures } from './index.js';

// Clips are made synchronously here because the conformance suite needs its inputs at definition time.
const tmp = makeTempDir();
afterAll(() => tmp.cleanup());
const at = (name: string) => join(tmp.dir, name);
const mp4 = patternClip(at('clip.mp4'), { audio: true });
const mkv = patternClip(at('clip.mkv'), { codec: 'ffv1', seconds: 2 });

const plugin = videoTokenizer();

/** Frame numbers seen in each frame of the features (centre pixel, green channel). */
function contents(f: VideoFeatures, mean: number, std: number): number[] {
  const [T, C, H, W] = f.shape;
  return Array.from({ length: T }, (_, i) => frameIndexOfValue(rgbOfFeature(f.data[i * C * H * W + H * W + (H >> 1) * W + (W >> 1)]!, mean, std)));
}

describeModalityPlugin(plugin, { inputs: [mp4, mkv, { bytes: readFileSync(mkv), name: 'clip.mkv' }], seed: 7, augment: true, timeout: 60_000 });

describe('video plugin', () => {
  it('routes MP4, WebM/MKV and AVI by magic bytes', async () => {
    const registry = createModalityRegistry([plugin]);
    const avi = readFileSync(patternClip(at('x.avi'), { codec: 'mjpeg', seconds: 1 }));
    const formats = [];
    for (const bytes of [readFileSync(mp4), readFileSync(mkv), avi]) {
      const found = await registry.detect({ bytes });
      expect(found?.plugin.name).toBe('video');
      formats.push(found?.format);
    }
    expect(formats).toEqual(['mp4', 'webm', 'avi']);
  });

  it('videomae-16x224: 16 frames at stride 4, centred, 1568 tubelets of 1536', async () => {
    const decoded = await plugin.decode(mp4);
    expect([decoded.width, decoded.height, decoded.fps, decoded.frameCount, decoded.hasAudio]).toEqual([64, 48, 25, 75, true]);
    const features = await plugin.preprocess(decoded);
    expect(features.shape).toEqual([16, 3, 224, 224]);
    expect(features.axes).toEqual(['frame', 'channel', 'height', 'width']);
    const expected = Array.from({ length: 16 }, (_, i) => 5 + 4 * i);
    expect([...features.frameIndices]).toEqual(expected);
    expect(contents(features, 0.456, 0.224)).toEqual(expected);
    expect([...features.timestamps].map((t) => Math.round(t * 25))).toEqual(expected);
    const tokens = plugin.tokenize(features);
    expect(tokens.shape).toEqual([1568, 1536]);
    expect(tokens.grid).toEqual([8, 14, 14]);
    expect(tokens.modality).toBe('video');
  });

  it('imagebind: 5 clips × 2 frames (first and last of each 2 s window) × 3 spatial crops, grid [15, 1, 16, 16]', async () => {
    const features = await plugin.preprocess(await plugin.decode(mp4), 'imagebind');
    expect(features.clips).toBe(15);
    expect(features.framesPerClip).toBe(2);
    // clip-major, then crop (left, centre, right), then frame: every sampled pair three times
    // pytorchvideo's ConstantClipsPerVideoSampler: clip k of 5 starts at k · (3 − 2) / 5 s; decord's
    // get_clip ends clip 1 at frame 55 (float noise in 25 · 2.2), as sample-frames.test.ts shows
    const pairs = [[0, 49], [5, 55], [10, 59], [15, 64], [20, 69]];
    const expected = pairs.flatMap((pair) => [...pair, ...pair, ...pair]);
    expect(contents(features, 0.4578275, 0.26130258)).toEqual(expected);
    expect([...features.frameIndices]).toEqual(expected);
    expect(features.timestamps[2]).toBe(features.timestamps[0]); // crop 1 of clip 0, frame 0
    const tokens = plugin.tokenize(features);
    expect(tokens.grid).toEqual([15, 1, 16, 16]);
    expect(tokens.shape).toEqual([3840, 1176]);
  });

  it('samples a time window [start, end) given in the preset or the call, with fixed-fps sampling', async () => {
    const decoded = await plugin.decode(mp4);
    const preset = { sampling: { mode: 'fps', fps: 5, maxFrames: 64 }, start: 1, end: 2, image: 'clip-vit-b-32', tubelet: [2, 32, 32] } as const;
    const features = await plugin.preprocess(decoded, preset);
    expect([...features.frameIndices]).toEqual([25, 30, 35, 40, 45, 45]);
    expect(contents(features, 0.4578275, 0.26130258)).toEqual([25, 30, 35, 40, 45, 45]);
    const later = await plugin.preprocess(decoded, preset, { start: 2, end: 2.5 });
    expect([...later.frameIndices]).toEqual([50, 55, 60, 60]);
    await expect(plugin.preprocess(decoded, preset, { start: 10, end: 11 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('augments every frame of a clip with one seeded draw', async () => {
    const decoded = await plugin.decode(mkv);
    const preset = { sampling: { mode: 'stride', frames: 2, stride: 3 }, image: 'imagenet', tubelet: [2, 16, 16] } as const;
    const a = await plugin.preprocess(decoded, preset, { augment: true, seed: 3 });
    const b = await plugin.preprocess(decoded, preset, { augment: true, seed: 3 });
    const c = await plugin.preprocess(decoded, preset, { augment: true, seed: 4 });
    expect(Buffer.from(a.data.buffer).equals(Buffer.from(b.data.buffer))).toBe(true);
    expect([...a.frameIndices]).toEqual([...b.frameIndices]);
    expect([...a.frameIndices].join() + Buffer.from(a.data.buffer).toString('hex', 0, 64)).not.toBe([...c.frameIndices].join() + Buffer.from(c.data.buffer).toString('hex', 0, 64));
    expect(a.frameIndices[1]! - a.frameIndices[0]!).toBe(3);
  });

  it('reads byte input like a path', async () => {
    const fromPath = await plugin.preprocess(await plugin.decode(mkv), 'videomae-16x224-uniform');
    const fromBytes = await plugin.preprocess(await plugin.decode(new Uint8Array(readFileSync(mkv))), 'videomae-16x224-uniform');
    expect(Buffer.from(fromBytes.data.buffer).equals(Buffer.from(fromPath.data.buffer))).toBe(true);
    expect(fromBytes.source).toBe(`<${readFileSync(mkv).length} bytes>`);
  });
});

describe('audio track', () => {
  it('hands the audio track to the audio tokenizer (Whisper log-mel)', async () => {
    const track = await extractAudioTrack(mp4, 'whisper-80');
    expect(track.decoded.sampleRate).toBe(16000);
    expect(track.decoded.duration).toBeGreaterThan(2.9);
    expect(track.features.shape[0]).toBe(80);
    expect(track.tokens.modality).toBe('audio');
    expect(track.tokens.shape[0]).toBeGreaterThan(0);
    // Same result from the decoded video, and for a window starting at 1 s.
    const again = await extractAudioTrack(await decodeVideo(mp4), 'whisper-80');
    expect(Buffer.from(again.features.data.buffer).equals(Buffer.from(track.features.data.buffer))).toBe(true);
    const later = await extractAudioTrack(mp4, 'whisper-80', { start: 1 });
    expect(later.decoded.duration).toBeCloseTo(track.decoded.duration - 1, 1);
  });

  it('a video without audio throws DecodeError', async () => {
    await expect(extractAudioTrack(mkv, 'whisper-80')).rejects.toBeInstanceOf(DecodeError);
  });
});

describe('bad input', () => {
  it('no video stream (an audio-only file): DecodeError naming the file', async () => {
    const path = ffmpegSync(['-f', 'lavfi', '-i', 'sine=f=440:d=1', '-c:a', 'aac'], at('audio-only.mp4'));
    const error = await plugin.decode(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DecodeError);
    expect((error as Error).message).toContain(path);
    expect((error as Error).message).toMatch(/no video stream.*audio only/);
  });

  it('zero-length file and empty bytes: DecodeError', async () => {
    writeFileSync(at('empty.mp4'), new Uint8Array(0));
    await expect(plugin.decode(at('empty.mp4'))).rejects.toThrow(/empty.mp4: the file is empty/);
    await expect(plugin.decode(new Uint8Array(0))).rejects.toBeInstanceOf(DecodeError);
    await expect(plugin.decode(at('missing.mp4'))).rejects.toThrow(/no such file/);
  });

  it('unknown bytes: UnsupportedFormatError; a truncated MP4: DecodeError', async () => {
    await expect(plugin.decode({ bytes: new TextEncoder().encode('hello, this is not a video at all'), name: 'notes.txt' })).rejects.toBeInstanceOf(UnsupportedFormatError);
    await expect(plugin.decode({ text: 'x' })).rejects.toBeInstanceOf(UnsupportedFormatError);
    // named like a video but not one: corrupt or mislabelled, not an unsupported format
    const fake = plugin.decode({ bytes: new TextEncoder().encode('hello, this is not a video at all'), name: 'clip.mp4' });
    await expect(fake).rejects.toBeInstanceOf(DecodeError);
    await expect(fake).rejects.toThrow(/clip\.mp4.*named \.mp4, but its bytes are not mp4 nor anything ffprobe reads/);
    const head = readFileSync(mp4).subarray(0, 40);
    await expect(plugin.decode({ bytes: head, name: 'cut.mp4' })).rejects.toBeInstanceOf(DecodeError);
  });
});

describe('committed sample (the CLI demo input)', () => {
  it('tokenizes sample.mp4 with the default preset and its audio track with Whisper', async () => {
    const sample = new URL('./__fixtures__/sample.mp4', import.meta.url).pathname;
    const decoded = await plugin.decode(sample);
    expect([decoded.width, decoded.height, decoded.fps, decoded.frameCount, decoded.hasAudio]).toEqual([160, 120, 25, 75, true]);
    const tokens = plugin.tokenize(await plugin.preprocess(decoded));
    expect(tokens.shape).toEqual([1568, 1536]);
    expect(tokens.preset).toBe('videomae-16x224');
    const audio = await extractAudioTrack(decoded, 'whisper-80');
    expect(audio.features.shape[0]).toBe(80);
  });
});
