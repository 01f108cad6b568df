import { join } from 'node:path';
import { prepareImagePreset, preprocessImageInto } from '@omnitok/tokenizer-image';
import { afterAll, describe, expect, it } from 'vitest';
import { ffmpegSync, frameIndexOfValue, makeTempDir, patternClip } from './__fixtures__/clips.js';
import { decodeVideo } from './decode-video.js';
import { startPreprocessPool } from './preprocess-pool.js';
import { preprocessVideo } from './preprocess-video.js';
import { readFrames, type ReadFramesOptions } from './read-frames.js';

const tmp = makeTempDir();
afterAll(() => tmp.cleanup());
const at = (name: string) => join(tmp.dir, name);

async function read(path: string, indices: readonly number[], options: ReadFramesOptions) {
  const decoded = await decodeVideo(path);
  const warnings: string[] = [];
  const out: { index: number; time: number; content: number; first: number; substituted: boolean }[] = [];
  for await (const f of readFrames(decoded, indices, { ...options, warnings })) {
    out.push({ index: f.index, time: f.time, content: frameIndexOfValue(f.image.data[0]!), first: f.image.data[7]!, substituted: f.substituted });
  }
  return { out, warnings, decoded };
}

describe('readFrames: constant-rate timestamps computed without showinfo', () => {
  // MP4 (time base 1/12800 at 25 fps: exact) and Matroska at 30 fps (milliseconds: 33, 67, 100, … rounded).
  const clips = [
    ['cfr25.mp4', { codec: 'x264', rate: 25 }],
    ['cfr30.mkv', { codec: 'ffv1', rate: 30 }],
  ] as const;
  for (const [name, o] of clips) {
    it(`${name}: every frame's computed time equals showinfo's, frames identical`, async () => {
      const path = patternClip(at(name), { ...o, seconds: 3 });
      const all = Array.from({ length: 3 * o.rate }, (_, i) => i);
      const fast = await read(path, all, {});
      const reference = await read(path, all, { timestamps: 'showinfo' });
      expect(fast.decoded.video.avgFrameRate).toBe(fast.decoded.video.rFrameRate);
      expect(fast.out.map((f) => f.content)).toEqual(all);
      expect(fast.out.map((f) => f.content)).toEqual(reference.out.map((f) => f.content));
      expect(fast.out.length).toBe(reference.out.length);
      // showinfo prints pts_time with 6 significant digits; the computed times are exact ticks of the time base.
      for (let i = 0; i < fast.out.length; i++) expect(Math.abs(fast.out[i]!.time - reference.out[i]!.time)).toBeLessThan(1e-5);
      if (name.endsWith('.mkv')) expect(fast.out[1]!.time).toBe(0.033);
      expect(fast.warnings).toEqual([]);
    });
  }

  it('a frame missing from a stream that declares a constant rate: every other frame keeps its own time (no shift)', async () => {
    // frame 10 dropped with its timestamp gap kept; Matroska still declares 25/1 for both rates
    const clean = patternClip(at('full.mkv'), { codec: 'ffv1', seconds: 2 });
    const path = ffmpegSync(['-i', clean, '-vf', 'select=not(eq(n\\,10))', '-vsync', 'passthrough', '-c:v', 'ffv1'], at('gap.mkv'));
    const all = Array.from({ length: 40 }, (_, i) => i);
    const fast = await read(path, all, {});
    expect(fast.decoded.video.avgFrameRate).toBe(fast.decoded.video.rFrameRate); // the counted path
    for (const f of fast.out) {
      if (f.index === 10) expect([9, 11]).toContain(f.content); // a neighbour stands in
      else expect(f.content, `frame ${f.index}`).toBe(f.index);
      expect(f.time).toBeCloseTo(f.index / 25, 6);
    }
  });

  it('sparse groups with seeks agree with showinfo too', async () => {
    const path = patternClip(at('seek.mp4'), { rate: 8, seconds: 12, keyint: 16 });
    const wanted = [3, 4, 55, 80, 94, 95];
    const fast = await read(path, wanted, { seekGap: 1 });
    const reference = await read(path, wanted, { seekGap: 1, timestamps: 'showinfo' });
    expect(fast.out.map((f) => f.content)).toEqual(wanted);
    expect(fast.out.map((f) => [f.content, f.time])).toEqual(reference.out.map((f) => [f.content, f.time]));
  });

  it('falls back to the stdout pipe when no Unix socket can be made (temp dir missing)', async () => {
    const path = patternClip(at('pipe.mp4'), { seconds: 1 });
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = join(tmp.dir, 'no-such-dir');
    try {
      const all = Array.from({ length: 25 }, (_, i) => i);
      const { out } = await read(path, all, { reuseBuffers: true });
      expect(out.map((f) => f.content)).toEqual(all);
      expect(out.map((f) => f.time)).toEqual(all.map((i) => i / 25));
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
  });

  it('reuseBuffers delivers the same frames (each valid until the next is pulled)', async () => {
    const path = patternClip(at('reuse.mkv'), { codec: 'ffv1', seconds: 2 });
    const all = Array.from({ length: 50 }, (_, i) => i);
    const reused = await read(path, all, { reuseBuffers: true });
    expect(reused.out.map((f) => f.content)).toEqual(all);
  });
});

describe('readFrames: retained buffers', () => {
  it('a retained frame keeps its pixels while later frames are pulled; buffers are still recycled', async () => {
    const path = patternClip(at('retain.mkv'), { codec: 'ffv1', seconds: 4 });
    const decoded = await decodeVideo(path);
    const all = Array.from({ length: 100 }, (_, i) => i);
    let kept: { data: Uint8Array; copy: Uint8Array; release: () => void } | undefined;
    const buffers = new Set<Uint8Array>();
    const contents: number[] = [];
    for await (const f of readFrames(decoded, all, { reuseBuffers: true })) {
      contents.push(frameIndexOfValue(f.image.data[0]!));
      buffers.add(f.image.data);
      if (f.index === 3) kept = { data: f.image.data, copy: f.image.data.slice(), release: f.retain() };
      else if (kept && f.index < 60) {
        expect(f.image.data).not.toBe(kept.data); // not handed out again while held
        expect(Buffer.from(kept.data).equals(Buffer.from(kept.copy))).toBe(true); // not overwritten
      } else if (kept && f.index === 60) kept.release();
    }
    expect(contents).toEqual(all);
    // a small pool goes round (a fresh buffer per frame would be 100)
    expect(buffers.size).toBeLessThan(30);
  });
});

describe('preprocess worker pool', () => {
  it('workers give the image package result bit for bit', async () => {
    const path = ffmpegSync(['-f', 'lavfi', '-i', 'testsrc=s=96x72:r=10:d=1', '-c:v', 'ffv1'], at('testsrc.mkv'));
    const decoded = await decodeVideo(path);
    const preset = prepareImagePreset('clip-vit-b-16');
    const frames: Uint8Array[] = [];
    for await (const f of readFrames(decoded, [0, 3, 6, 9])) frames.push(f.image.data);
    const pool = startPreprocessPool(2, preset, { augment: true, seed: 7 }, { source: 'x', format: 'mkv' })!;
    expect(pool).toBeDefined();
    try {
      const deadline = Date.now() + 20_000;
      while (!pool.ready() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(pool.ready()).toBe(true);
      const size = 3 * 224 * 224;
      const got = new Float32Array(frames.length * size);
      const want = new Float32Array(frames.length * size);
      const jobs: Promise<void>[] = [];
      for (let i = 0; i < frames.length; i++) {
        while (!pool.ready()) await new Promise((r) => setTimeout(r, 1));
        const rgb = pool.rgbBuffer(frames[i]!.byteLength);
        new Uint8Array(rgb).set(frames[i]!);
        jobs.push(pool.submit(rgb, 96, 72, got, i * size));
        preprocessImageInto({ data: frames[i]!, width: 96, height: 72, channels: 3, source: 'x', format: 'mkv' }, preset, { augment: true, seed: 7 }, want, i * size);
      }
      await Promise.all(jobs);
      expect(Buffer.from(got.buffer).equals(Buffer.from(want.buffer))).toBe(true);
      expect(got.some((v) => v !== 0)).toBe(true);
    } finally {
      await pool.close();
    }
  });

  it('preprocessVideo with workers equals it without, repeated indices included', async () => {
    const path = patternClip(at('pool.mkv'), { codec: 'ffv1', seconds: 3 });
    const decoded = await decodeVideo(path);
    const preset = { sampling: { mode: 'fps', fps: 30, maxFrames: 128 }, image: 'clip-vit-b-16', tubelet: [2, 16, 16] } as const;
    const inThread = await preprocessVideo(decoded, preset, { workers: 0 });
    const pooled = await preprocessVideo(decoded, preset, { workers: 2 });
    expect(pooled.shape).toEqual(inThread.shape);
    expect([...pooled.frameIndices]).toEqual([...inThread.frameIndices]);
    expect([...pooled.timestamps]).toEqual([...inThread.timestamps]);
    expect(Buffer.from(pooled.data.buffer).equals(Buffer.from(inThread.data.buffer))).toBe(true);
  });
});
