import { doubleToRational, InvalidArgumentError, rationalToDouble } from '@omnitok/core';
import type { VideoSampling } from './presets.js';

/** What the sampler needs to know about a video. */
export interface SamplingContext {
  /** Frames on the nominal grid (`nb_frames`, or `round(duration × fps)`). */
  readonly frameCount: number;
  readonly fps: number;
}

export interface SamplingOptions {
  /** Window `[start, end)` in seconds from the first frame. */
  readonly start?: number;
  readonly end?: number;
  /** Tubelet depth: `fps` sampling pads the frame count to a multiple of it. Default 1. */
  readonly tubeletDepth?: number;
  /** Random stride-window start (training); needs `random`. */
  readonly augment?: boolean;
  /** Uniform [0, 1) generator for `augment`. */
  readonly random?: () => number;
}

/** The frames to take: nominal frame indices, clip-major (`clips × framesPerClip` entries). */
export interface FramePlan {
  readonly indices: Int32Array;
  readonly clips: number;
  readonly framesPerClip: number;
  /** The window actually used, in frames: `[first, end)`. */
  readonly first: number;
  readonly end: number;
}

const EPS = 1e-6;

/**
 * Picks frame indices for a sampling mode (see {@link VideoSampling}). Pure: the same context and
 * options always give the same plan. Indices are on the nominal frame grid `i / fps`.
 *
 * Throws `InvalidArgumentError` when the window starts after the last frame.
 */
export function planFrames(sampling: VideoSampling, ctx: SamplingContext, options: SamplingOptions = {}): FramePlan {
  const { fps } = ctx;
  const n = Math.max(1, ctx.frameCount);
  const startS = options.start ?? 0;
  const first = Math.ceil(startS * fps - EPS);
  if (first >= n) {
    // (a window holds the frames whose timestamps i / fps fall in it: none starts after the last one)
    throw new InvalidArgumentError('start', startS, `a time at or before the last frame's, ${((n - 1) / fps).toFixed(3)} s (${n} frames at ${fps} fps)`);
  }
  let end = options.end !== undefined ? Math.min(n, Math.ceil(options.end * fps - EPS)) : n;
  if (end <= first) end = first + 1;
  const length = end - first;

  if (sampling.mode === 'uniform') {
    return { indices: Int32Array.from(uniformSubsample(length, sampling.frames), (i) => first + i), clips: 1, framesPerClip: sampling.frames, first, end };
  }
  if (sampling.mode === 'stride') {
    const { frames: T, stride: s } = sampling;
    const span = T * s;
    const out = new Int32Array(T);
    if (length >= span) {
      const slack = length - span;
      const offset = options.augment && options.random ? Math.floor(options.random() * (slack + 1)) : Math.floor(slack / 2);
      for (let i = 0; i < T; i++) out[i] = first + offset + i * s;
    } else {
      for (let i = 0; i < T; i++) out[i] = first + Math.min(i * s, length - 1);
    }
    return { indices: out, clips: 1, framesPerClip: T, first, end };
  }
  if (sampling.mode === 'fps') {
    const t = Math.max(1, options.tubeletDepth ?? 1);
    const windowStart = first / fps;
    const windowSeconds = length / fps;
    const count = Math.max(1, Math.min(sampling.maxFrames, Math.ceil(windowSeconds * sampling.fps - EPS)));
    const padded = Math.ceil(count / t) * t;
    const out = new Int32Array(padded);
    for (let j = 0; j < padded; j++) {
      const time = windowStart + Math.min(j, count - 1) / sampling.fps;
      out[j] = Math.min(end - 1, Math.max(first, Math.floor(time * fps + EPS)));
    }
    return { indices: out, clips: 1, framesPerClip: padded, first, end };
  }
  // clips: ImageBind's data.py — pytorchvideo's ConstantClipsPerVideoSampler (clip k of K starts at
  // k · maxStart / K, so the last clip ends short of the end), each clip's frames taken as decord's
  // get_clip does, then UniformTemporalSubsample. In their arithmetic (the window is the video):
  // duration = frames / fps and maxStart = max(duration − D, 0) in doubles; clip times as exact
  // Fractions; frame = ceil(fps × float(time)) — float noise included, so the same frames come out.
  const { clips: K, clipDuration: D, frames: T } = sampling;
  const [ms, msDen] = doubleToRational(Math.max(length / fps - D, 0));
  const [d, dDen] = doubleToRational(D);
  const out = new Int32Array(K * T);
  for (let k = 0; k < K; k++) {
    const sNum = ms * BigInt(k); // start = maxStart · k / K
    const sDen = msDen * BigInt(K);
    const a = Math.min(length - 1, Math.ceil(fps * rationalToDouble(sNum, sDen)));
    let b = Math.min(length, Math.ceil(fps * rationalToDouble(sNum * dDen + d * sDen, sDen * dDen))); // end = start + D
    if (b <= a) b = a + 1;
    const picks = uniformSubsample(b - a, T);
    for (let i = 0; i < T; i++) out[k * T + i] = first + a + picks[i]!;
  }
  return { indices: out, clips: K, framesPerClip: T, first, end };
}

/**
 * pytorchvideo `uniform_temporal_subsample`: `torch.linspace(0, n − 1, count).clamp(0, n − 1).long()`,
 * reproducing torch's float32 linspace (forward from the start for the first half, backward from the
 * end for the second) so truncation lands on the same frames.
 */
export function uniformSubsample(n: number, count: number): Int32Array {
  const out = new Int32Array(count);
  if (count === 1) return out;
  const f = Math.fround;
  const endV = f(n - 1);
  const step = f(endV / f(count - 1));
  const half = Math.floor(count / 2);
  for (let i = 0; i < count; i++) {
    const v = i < half ? f(f(step * i)) : f(endV - f(step * (count - i - 1)));
    out[i] = Math.min(n - 1, Math.max(0, Math.trunc(v)));
  }
  return out;
}
