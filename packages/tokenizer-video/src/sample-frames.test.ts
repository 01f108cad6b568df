import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '@omnitok/core';
import { describe, expect, it } from 'vitest';
import type { VideoSampling } from './presets.js';
import { planFrames, uniformSubsample } from './sample-frames.js';

const ctx = { frameCount: 75, fps: 25 }; // 3 s at 25 fps

describe('uniformSubsample (pytorchvideo uniform_temporal_subsample)', () => {
  it('truncates linspace(0, n − 1, count) and keeps both ends', () => {
    // numpy.linspace(0, 74, 16).astype(int)
    expect([...uniformSubsample(75, 16)]).toEqual([0, 4, 9, 14, 19, 24, 29, 34, 39, 44, 49, 54, 59, 64, 69, 74]);
    expect([...uniformSubsample(50, 2)]).toEqual([0, 49]);
    expect([...uniformSubsample(1, 3)]).toEqual([0, 0, 0]);
    expect([...uniformSubsample(10, 1)]).toEqual([0]);
  });
  it('repeats frames when asked for more frames than the clip has', () => {
    expect([...uniformSubsample(4, 8)]).toEqual([0, 0, 0, 1, 1, 2, 2, 3]);
  });
});

describe('planFrames', () => {
  it('uniform: T frames over the whole clip', () => {
    const plan = planFrames({ mode: 'uniform', frames: 16 }, ctx);
    expect([...plan.indices]).toEqual([0, 4, 9, 14, 19, 24, 29, 34, 39, 44, 49, 54, 59, 64, 69, 74]);
    expect(plan.clips).toBe(1);
  });

  it('uniform inside a time window [start, end)', () => {
    const plan = planFrames({ mode: 'uniform', frames: 4 }, ctx, { start: 1, end: 2 });
    expect([plan.first, plan.end]).toEqual([25, 50]);
    expect([...plan.indices]).toEqual([25, 33, 41, 49]);
  });

  it('stride: a centred window of frames × stride, VideoMAE padding when the clip is short', () => {
    // 16 × 4 = 64 frames of 75: slack 11, offset 5.
    expect([...planFrames({ mode: 'stride', frames: 16, stride: 4 }, ctx).indices]).toEqual(Array.from({ length: 16 }, (_, i) => 5 + 4 * i));
    const short = planFrames({ mode: 'stride', frames: 16, stride: 4 }, { frameCount: 40, fps: 25 });
    expect([...short.indices]).toEqual([0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 39, 39, 39, 39, 39, 39]);
  });

  it('stride with augment: a seeded random start inside the clip', () => {
    let calls = 0;
    const plan = planFrames({ mode: 'stride', frames: 4, stride: 2 }, ctx, { augment: true, random: () => (calls++, 0.999) });
    expect(calls).toBe(1);
    expect([...plan.indices]).toEqual([67, 69, 71, 73]); // slack 67 → last possible start
  });

  it('fps: one frame every 1/fps s, padded to the tubelet depth by repeating the last', () => {
    const plan = planFrames({ mode: 'fps', fps: 2, maxFrames: 100 }, ctx, { tubeletDepth: 4 });
    expect([...plan.indices]).toEqual([0, 12, 25, 37, 50, 62, 62, 62]);
    expect(planFrames({ mode: 'fps', fps: 25, maxFrames: 10 }, ctx).indices.length).toBe(10);
  });

  it('clips: ImageBind ConstantClipsPerVideoSampler (5 × 2 s) with 2 uniform frames each', () => {
    const plan = planFrames({ mode: 'clips', clips: 5, clipDuration: 2, frames: 2 }, ctx);
    // pytorchvideo: clip k starts at k · max(3 − 2, 0) / 5 = 0, 0.2, 0.4, 0.6, 0.8 s (the last clip ends at
    // 2.8 s, not at the video's end); frames ceil(25 · start) … ceil(25 · end) − 1, first and last of each —
    // clip 1 ends at frame 55, not 54: float(11/5) · 25 = 55.000000000000007 in decord's get_clip
    expect([...plan.indices]).toEqual([0, 49, 5, 55, 10, 59, 15, 64, 20, 69]);
    expect(plan.clips).toBe(5);
    expect(plan.framesPerClip).toBe(2);
    // A video shorter than a clip: every clip is the whole video.
    const short = planFrames({ mode: 'clips', clips: 3, clipDuration: 2, frames: 2 }, { frameCount: 25, fps: 25 });
    expect([...short.indices]).toEqual([0, 24, 0, 24, 0, 24]);
  });

  it('clips: the frame ranges of pytorchvideo / decord for 97 random videos (float fps, 1–8 clips, 0.5–10 s), fixture from their arithmetic', () => {
    const fixture = JSON.parse(readFileSync(new URL('./__fixtures__/clip-ranges.json', import.meta.url), 'utf8')) as {
      cases: { frames: number; fps: number; clips: number; clipDuration: number; ranges: [number, number][] }[];
    };
    expect(fixture.cases.length).toBe(97);
    for (const c of fixture.cases) {
      // two frames per clip: uniform subsampling keeps each range's first and last frame
      const plan = planFrames({ mode: 'clips', clips: c.clips, clipDuration: c.clipDuration, frames: 2 }, { frameCount: c.frames, fps: c.fps });
      const got = Array.from({ length: c.clips }, (_, k) => [plan.indices[2 * k]!, plan.indices[2 * k + 1]! + 1]);
      expect(got, JSON.stringify({ ...c, ranges: undefined })).toEqual(c.ranges.map(([a, b]) => [a, Math.max(b, a + 1)]));
    }
  });

  it('refuses a window that starts after the video', () => {
    expect(() => planFrames({ mode: 'uniform', frames: 2 }, ctx, { start: 3 })).toThrow(InvalidArgumentError);
    // 2.97 s is inside the 3 s video but after its last frame (2.96 s): the message names that frame's time
    expect(() => planFrames({ mode: 'uniform', frames: 2 }, ctx, { start: 2.97 })).toThrow(/start: got 2\.97, expected a time at or before the last frame's, 2\.960 s \(75 frames at 25 fps\)/);
    expect(planFrames({ mode: 'uniform', frames: 2 }, ctx, { start: 2.96 }).indices).toEqual(Int32Array.from([74, 74]));
  });

  it('keeps its invariants on 5 000 random videos, modes and windows (seeded): counts, indices inside the window, order, tubelet padding', () => {
    let seed = 5;
    const random = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    for (let c = 0; c < 5000; c++) {
      const fps = pick([0.5, 1, 12.5, 23.976, 25, 29.97, 30, 60, 119.88]);
      const frameCount = pick([1, 2, 3, int(1, 40), int(1, 3000)]);
      const sampling = pick<VideoSampling>([
        { mode: 'uniform', frames: int(1, 32) },
        { mode: 'stride', frames: int(1, 16), stride: int(1, 8) },
        { mode: 'fps', fps: pick([0.5, 1, 2, 4, 30]), maxFrames: int(1, 64) },
        { mode: 'clips', clips: int(1, 6), clipDuration: pick([0.5, 1, 2, 2.5, 10]), frames: int(1, 8) },
      ]);
      const seconds = frameCount / fps;
      const start = random() < 0.4 ? Math.round(random() * seconds * 0.99 * 100) / 100 : undefined;
      const end = random() < 0.4 ? Math.round(((start ?? 0) + random() * seconds) * 100) / 100 : undefined;
      const t = int(1, 4);
      const what = JSON.stringify({ sampling, frameCount, fps, start, end, t });
      const call = () => planFrames(sampling, { frameCount, fps }, { start, end, tubeletDepth: t, augment: random() < 0.3, random });
      if (start !== undefined && start * fps > frameCount - 1 + 1e-6) {
        // after the last frame's timestamp: no frame to take
        expect(call, what).toThrow(/a time at or before the last frame's/);
        continue;
      }
      const plan = call();
      expect(plan.indices.length, what).toBe(plan.clips * plan.framesPerClip);
      expect(plan.first >= 0 && plan.first < plan.end && plan.end <= frameCount, what).toBe(true);
      expect(plan.indices.every((i) => i >= plan.first && i < plan.end), what).toBe(true);
      if (sampling.mode !== 'clips') expect(plan.indices.every((v, i) => i === 0 || v >= plan.indices[i - 1]!), what).toBe(true);
      if (sampling.mode === 'fps') expect(plan.framesPerClip % t, what).toBe(0);
      else if (sampling.mode === 'clips') expect([plan.clips, plan.framesPerClip], what).toEqual([sampling.clips, sampling.frames]);
      else expect(plan.framesPerClip, what).toBe(sampling.frames);
    }
  });
});
