import { DecodeError, InvalidArgumentError } from '@omnitok/core';
import { nativePreprocessAvailable, preprocessImageInto, preprocessImageIntoAsync } from '@omnitok/tokenizer-image';
import type { DecodedVideo } from './decode-video.js';
import { assertDecodedVideo, resolveVideoPreset, tubeletPlace, type VideoPreprocessOptions, type VideoTokens, videoTokens } from './preprocess-video.js';
import { DEFAULT_VIDEO_PRESET, type ResolvedVideoPreset, VIDEO_PRESETS, type VideoPreset } from './presets.js';
import { holdFrame, throttle } from './frame-jobs.js';
import { readFrames } from './read-frames.js';
import { type FramePlan, planFrames } from './sample-frames.js';

/** Options of {@link streamVideoWindows}. */
export interface VideoWindowOptions extends Omit<VideoPreprocessOptions, 'augment' | 'seed' | 'start' | 'end' | 'out' | 'workers'> {
  /** Window length in seconds. */
  readonly seconds: number;
  /** Seconds from one window's start to the next. Default `seconds` (back to back); less overlaps. */
  readonly hop?: number;
  /** Where the first window starts and where windows stop, in seconds. Default: the whole video. */
  readonly start?: number;
  readonly end?: number;
  /**
   * Hand out recycled arrays: a window's `data` is then valid only until the next window is pulled
   * (copy what you keep). Saves the page faults of fresh memory on every window. Default false.
   */
  readonly reuseArrays?: boolean;
}

/** One window of {@link streamVideoWindows}: its tokens, where it lies, and its place in the stream. */
export interface VideoWindow extends VideoTokens {
  /** 0, 1, 2, … */
  readonly window: number;
  /** The window `[start, end)` in seconds (the last one ends at the video's end or `options.end`). */
  readonly start: number;
  readonly end: number;
}

/**
 * Tokens of consecutive time windows over a whole video, streamed: every window is what
 * `tokenizeVideo(decoded, preset, { start, end })` gives for that window — the preset's sampling
 * applied inside it, the same tokens bit for bit (tested) — but the frames of all windows come out of
 * one sequential ffmpeg read instead of a seek per window, each window is yielded as soon as its last
 * frame is in, and only the windows still open are held (⌈seconds / hop⌉ + 1 at most). A two-hour
 * file costs the memory of a few clips. Overlapping windows share the frames they both use (read once).
 * Stopping the iteration stops ffmpeg.
 *
 * Throws `InvalidArgumentError` for a bad window length, hop or range, a preset with 3 spatial crops
 * (use `tokenizeVideo` per window), and what `tokenizeVideo` throws.
 */
export async function* streamVideoWindows(
  decoded: DecodedVideo,
  preset: string | VideoPreset | undefined,
  options: VideoWindowOptions,
  presets: Readonly<Record<string, VideoPreset>> = VIDEO_PRESETS,
  defaultPreset = DEFAULT_VIDEO_PRESET,
): AsyncGenerator<VideoWindow> {
  assertDecodedVideo(decoded);
  const { seconds, hop = options.seconds, reuseArrays = false } = options;
  if (!(typeof seconds === 'number' && Number.isFinite(seconds) && seconds > 0)) throw new InvalidArgumentError('options.seconds', seconds, 'a window length in seconds > 0');
  if (!(typeof hop === 'number' && Number.isFinite(hop) && hop > 0)) throw new InvalidArgumentError('options.hop', hop, 'seconds between window starts > 0');
  const r: ResolvedVideoPreset = resolveVideoPreset(preset, presets, defaultPreset);
  if (r.spatialCrops !== 1) throw new InvalidArgumentError('preset', r.name, 'a preset with one spatial crop (run tokenizeVideo per window for 3 crops)');
  const duration = decoded.frameCount / decoded.fps;
  const from = options.start ?? 0;
  const until = Math.min(options.end ?? duration, duration);
  if (!(Number.isFinite(from) && from >= 0 && from < until)) {
    throw new InvalidArgumentError('options.start', options.start, `a time in [0, ${until.toFixed(3)}) s (before options.end and the video's end)`);
  }

  // Every window's plan, the preset's sampling inside [start, start + seconds), as tokenizeVideo plans it.
  const ctx = { frameCount: decoded.frameCount, fps: decoded.fps };
  const t = r.tubelet[0];
  const windows: { start: number; end: number; plan: FramePlan; at: number }[] = [];
  let total = 0;
  for (let k = 0; ; k++) {
    const start = from + k * hop;
    if (start >= until || Math.ceil(start * decoded.fps - 1e-6) >= decoded.frameCount) break;
    const end = Math.min(start + seconds, until);
    const plan = planFrames(r.preset.sampling, ctx, { start, end, tubeletDepth: t });
    if (plan.framesPerClip % t !== 0) throw new InvalidArgumentError('tubelet', r.tubelet, `a depth dividing the ${plan.framesPerClip} frames per clip`);
    windows.push({ start, end, plan, at: total });
    total += plan.indices.length;
  }
  const indices = new Int32Array(total);
  const windowOf = new Int32Array(total);
  windows.forEach((w, k) => {
    indices.set(w.plan.indices, w.at);
    windowOf.fill(k, w.at, w.at + w.plan.indices.length);
  });

  const frameSize = r.channels * r.height * r.width;
  const place = tubeletPlace(r);
  const native = await nativePreprocessAvailable();
  const imageOptions = { augment: false, seed: 0 };
  const warnings: string[] = [...decoded.warnings];
  let warned = 0;
  const spare: Float32Array[] = [];
  let handedOut: Float32Array | undefined;
  const open = new Map<number, { data: Float32Array; timestamps: Float64Array; written: number; jobs: Promise<void>[] }>();
  const inFlight = new Set<Promise<void>>();
  let next = 0;

  const openWindow = (k: number) => {
    let o = open.get(k);
    if (!o) {
      const size = windows[k]!.plan.indices.length * frameSize;
      const i = spare.findIndex((a) => a.length === size);
      const data = i >= 0 ? spare.splice(i, 1)[0] : undefined;
      o = { data: data ?? new Float32Array(size), timestamps: new Float64Array(windows[k]!.plan.indices.length), written: 0, jobs: [] };
      open.set(k, o);
    }
    return o;
  };
  // A finished window: its jobs settled, its tokens wrapped; its array goes back once the next is pulled.
  const finish = async (k: number): Promise<VideoWindow> => {
    const o = open.get(k)!;
    open.delete(k);
    await Promise.all(o.jobs);
    const w = windows[k]!;
    const fresh = warnings.slice(warned);
    warned = warnings.length;
    if (reuseArrays && handedOut) spare.push(handedOut);
    handedOut = o.data;
    const tokens = videoTokens(r, decoded, { ...w.plan, data: o.data, timestamps: o.timestamps, frameIndices: w.plan.indices, warnings: fresh });
    return { ...tokens, window: k, start: w.start, end: w.end };
  };

  const { seconds: _s, hop: _h, start: _a, end: _b, reuseArrays: _r, ...readOptions } = options;
  try {
    for await (const frame of readFrames(decoded, indices, { ...readOptions, warnings, reuseBuffers: true })) {
      const jobs: Promise<void>[] = [];
      for (const p of frame.positions) {
        const k = windowOf[p]!;
        const o = openWindow(k);
        const g = p - windows[k]!.at;
        o.timestamps[g] = frame.time;
        o.written++;
        if (native) {
          const job = preprocessImageIntoAsync(frame.image, r.image, imageOptions, o.data, ...place(g));
          job.catch(() => undefined); // awaited by finish(); keep an early failure from going unhandled
          o.jobs.push(job);
          jobs.push(job);
        } else {
          preprocessImageInto(frame.image, r.image, imageOptions, o.data, ...place(g));
        }
      }
      if (jobs.length > 0) {
        holdFrame(frame, jobs, inFlight);
        await throttle(inFlight);
      }
      // Windows are yielded in order, each once every frame of it is written (or on its way).
      while (next < windows.length && open.get(next)?.written === windows[next]!.plan.indices.length) yield await finish(next++);
    }
    while (next < windows.length) {
      // readFrames serves every requested position or throws: a window short of frames is a bug here.
      const missing = windows[next]!.plan.indices.length - (open.get(next)?.written ?? 0);
      if (missing > 0) throw new DecodeError(decoded.source, 'video', `window ${next}: ${missing} frame(s) never arrived`);
      yield await finish(next++);
    }
  } finally {
    // Stopped early or failed: let the jobs still writing into open windows end before returning.
    await Promise.allSettled([...inFlight]);
  }
}
