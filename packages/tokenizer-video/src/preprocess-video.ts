import { type ContinuousTokens, continuousTokens, type Features, InvalidArgumentError, type PreprocessOptions, resolvePreset } from '@omnitok/core';
import { type FeatureLayout, mulberry32, nativePreprocessAvailable, preprocessImageInto, preprocessImageIntoAsync } from '@omnitok/tokenizer-image';
import type { DecodedVideo } from './decode-video.js';
import { DEFAULT_VIDEO_PRESET, type ResolvedVideoPreset, validateVideoPreset, VIDEO_PRESETS, type VideoPreset } from './presets.js';
import { defaultPreprocessWorkers, type PreprocessPool, startPreprocessPool } from './preprocess-pool.js';
import { holdFrame, throttle } from './frame-jobs.js';
import { readFrames, type ReadFramesOptions } from './read-frames.js';
import { planFrames } from './sample-frames.js';

/**
 * Video features: `[T, C, H, W]` float32 (T = clips × frames per clip, clip-major; with spatial crops
 * each crop of a sampled clip is a clip of its own, crop-minor), each frame
 * preprocessed by the image package, plus where every frame came from.
 */
export interface VideoFeatures extends Features {
  readonly data: Float32Array;
  readonly shape: readonly [frames: number, channels: number, height: number, width: number];
  readonly axes: readonly ['frame', 'channel', 'height', 'width'];
  /** Per frame: the timestamp (seconds from the first frame) of the decoded frame that was used. */
  readonly timestamps: Float64Array;
  /** Per frame: the nominal frame index that was asked for. */
  readonly frameIndices: Int32Array;
  /** Clips (ImageBind-style multi-clip sampling); 1 otherwise. */
  readonly clips: number;
  readonly framesPerClip: number;
  /** The preset's tubelet `[t, P, P]`, used by `tubeletize`. */
  readonly tubelet: readonly [number, number, number];
  /** Frames that could not be decoded (and what stood in for them), ffmpeg decode errors, VFR notes. */
  readonly warnings: readonly string[];
}

/** Options of {@link preprocessVideo}: augmentation, the ffmpeg reading options, and a window override. */
export interface VideoPreprocessOptions extends PreprocessOptions, Omit<ReadFramesOptions, 'warnings' | 'reuseBuffers'> {
  /** Window `[start, end)` in seconds, overriding the preset's. */
  readonly start?: number;
  readonly end?: number;
  /**
   * Worker threads that preprocess frames besides this thread (same numerics, bit for bit), for
   * `[T, C, H, W]` features. Default 0 where `@omnitok/native-kernels` is installed (frames are then
   * resized on libuv's thread pool instead, while this thread reads ffmpeg's pipe); without it, the
   * cores left after ffmpeg and this thread (`availableParallelism() − 2`, at most 4) when at least
   * {@link WORKER_MIN_FRAMES} distinct frames are sampled, else 0 — a worker loads the image package
   * (with sharp, about 0.1 s of CPU). 0 = this thread only. {@link tokenizeVideo} uses no workers.
   */
  readonly workers?: number;
  /**
   * Where to write the values (features or tokens) instead of a new array: its first `T·C·H·W` floats
   * are used and returned as `data` (a subarray). For loops over many videos of one preset: fresh
   * output pages cost about as much CPU as resizing a small frame (the kernel zeroes and maps every
   * page), reused ones nothing; and the previous result's pages are not unmapped by the garbage
   * collector mid-run. Too small → `InvalidArgumentError` naming the size needed. After a failure its
   * contents are unspecified.
   */
  readonly out?: Float32Array;
}

/** Fewer sampled frames than this are preprocessed in the calling thread by default. */
export const WORKER_MIN_FRAMES = 48;

const resolved = new WeakMap<object, ResolvedVideoPreset>();

/** Resolves a preset name or inline object (unknown name or bad field → `BadPresetError`). */
export function resolveVideoPreset(
  preset: string | VideoPreset | undefined,
  presets: Readonly<Record<string, VideoPreset>> = VIDEO_PRESETS,
  defaultPreset = DEFAULT_VIDEO_PRESET,
): ResolvedVideoPreset {
  const { name, preset: p } = resolvePreset('video', presets, preset, defaultPreset);
  const cached = resolved.get(p);
  if (cached && cached.name === name) return cached;
  const r = validateVideoPreset(p, name);
  resolved.set(p, r);
  return r;
}

/**
 * Samples a video's frames per the preset, streams them out of ffmpeg and preprocesses each one with
 * the image package (`preprocessImageInto`, the same code path as still images) into `[T, C, H, W]`.
 *
 * `augment: true` applies the frame preset's training augmentation with one draw for the whole clip
 * (every frame gets the same crop and flip) and, for `stride` sampling, a random window start; `seed`
 * makes both reproducible.
 *
 * Throws `DecodeError` when no frame can be decoded or ffmpeg times out, `InvalidArgumentError` for a
 * window that starts after the video ends, `BadPresetError` for a bad preset.
 */
export async function preprocessVideo(
  decoded: DecodedVideo,
  preset?: string | VideoPreset | ResolvedVideoPreset,
  options: VideoPreprocessOptions = {},
  presets: Readonly<Record<string, VideoPreset>> = VIDEO_PRESETS,
  defaultPreset = DEFAULT_VIDEO_PRESET,
): Promise<VideoFeatures> {
  const run = await sampleFrames(decoded, preset, options, presets, defaultPreset, 'frames');
  const { r, T } = run;
  return {
    data: run.data,
    shape: [T, r.channels, r.height, r.width],
    axes: ['frame', 'channel', 'height', 'width'],
    modality: 'video',
    preset: r.name,
    source: decoded.source,
    timestamps: run.timestamps,
    frameIndices: run.frameIndices,
    clips: run.clips,
    framesPerClip: run.framesPerClip,
    tubelet: r.tubelet,
    warnings: run.warnings,
  };
}

/** Tubelet tokens of a video with where every frame came from: {@link tokenizeVideo}'s result. */
export interface VideoTokens extends ContinuousTokens {
  /** Per frame (in time order, clip-major): timestamp of the decoded frame used, in seconds. */
  readonly timestamps: Float64Array;
  /** Per frame: the nominal frame index asked for. */
  readonly frameIndices: Int32Array;
  readonly clips: number;
  readonly framesPerClip: number;
  readonly warnings: readonly string[];
}

/**
 * `tubeletize(await preprocessVideo(…))` in one pass: the same tokens, bit for bit (tested), but every
 * frame is written straight into its tubelet slots — no `[T, C, H, W]` array, no second pass over it —
 * and, with `@omnitok/native-kernels` installed, resized on libuv's thread pool while this thread keeps
 * reading ffmpeg's pipe. The plugin's `preprocessAndTokenize` (and so `omnitok tokenize`) runs this.
 */
export async function tokenizeVideo(
  decoded: DecodedVideo,
  preset?: string | VideoPreset | ResolvedVideoPreset,
  options: VideoPreprocessOptions = {},
  presets: Readonly<Record<string, VideoPreset>> = VIDEO_PRESETS,
  defaultPreset = DEFAULT_VIDEO_PRESET,
): Promise<VideoTokens> {
  const run = await sampleFrames(decoded, preset, options, presets, defaultPreset, 'tubelets');
  return videoTokens(run.r, decoded, run);
}

/**
 * Wraps frames written in tubelet order (`data`: `frameIndices.length` frames, clips of
 * `framesPerClip`) as {@link VideoTokens}: shape `[(T / t)·(H / P)·(W / P), C·t·P·P]`, grid
 * `[T / t, H / P, W / P]` (with a leading clip axis when there are several).
 */
export function videoTokens(
  r: ResolvedVideoPreset,
  decoded: DecodedVideo,
  f: { data: Float32Array; timestamps: Float64Array; frameIndices: Int32Array; clips: number; framesPerClip: number; warnings: readonly string[] },
): VideoTokens {
  const [t, ph, pw] = r.tubelet;
  const inner = [f.framesPerClip / t, r.height / ph, r.width / pw];
  const tokens = continuousTokens({
    data: f.data,
    shape: [(f.frameIndices.length / t) * inner[1]! * inner[2]!, r.channels * t * ph * pw],
    grid: f.clips > 1 ? [f.clips, ...inner] : inner,
    modality: 'video',
    preset: r.name,
    source: decoded.source,
  });
  return { ...tokens, timestamps: f.timestamps, frameIndices: f.frameIndices, clips: f.clips, framesPerClip: f.framesPerClip, warnings: f.warnings };
}

/** Throws `InvalidArgumentError` unless `decoded` is what decodeVideo() returns. */
export function assertDecodedVideo(decoded: DecodedVideo): void {
  if (!decoded || decoded.kind !== 'video' || !decoded.video) {
    throw new InvalidArgumentError('decoded', decoded, 'a DecodedVideo from decodeVideo()');
  }
}

/** Output frame g → where its values start in tubelet order: slot `g % t` of tubelet slice ⌊g / t⌋. */
export function tubeletPlace(r: ResolvedVideoPreset): (g: number) => [offset: number, layout: FeatureLayout] {
  const t = r.tubelet[0];
  const frameSize = r.channels * r.height * r.width;
  return (g) => [Math.floor(g / t) * t * frameSize, { tubelet: r.tubelet, frame: g % t }];
}

interface SampledFrames {
  readonly r: ResolvedVideoPreset;
  /** Output frames: plan frames × spatial crops. */
  readonly T: number;
  readonly data: Float32Array;
  readonly timestamps: Float64Array;
  readonly frameIndices: Int32Array;
  readonly clips: number;
  readonly framesPerClip: number;
  readonly warnings: string[];
}

/**
 * The frame loop shared by {@link preprocessVideo} (`frames`: `[T, C, H, W]`) and {@link tokenizeVideo}
 * (`tubelets`: each output frame g written into the slots of tubelet slice ⌊g / t⌋ of its clip).
 */
async function sampleFrames(
  decoded: DecodedVideo,
  preset: string | VideoPreset | ResolvedVideoPreset | undefined,
  options: VideoPreprocessOptions,
  presets: Readonly<Record<string, VideoPreset>>,
  defaultPreset: string,
  layout: 'frames' | 'tubelets',
): Promise<SampledFrames> {
  assertDecodedVideo(decoded);
  const r = preset && typeof preset === 'object' && 'image' in preset && 'framesPerClip' in preset ? preset : resolveVideoPreset(preset as string | VideoPreset | undefined, presets, defaultPreset);
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
  const plan = planFrames(
    r.preset.sampling,
    { frameCount: decoded.frameCount, fps: decoded.fps },
    {
      start: options.start ?? r.preset.start,
      end: options.end ?? r.preset.end,
      tubeletDepth: r.tubelet[0],
      augment: options.augment,
      random: mulberry32((seed ^ 0x5bd1e995) >>> 0),
    },
  );
  const T = plan.indices.length;
  const K = r.spatialCrops;
  const F = plan.framesPerClip;
  // position p of the plan (clip c = p / F, frame f) → output frame of spatial crop k: clip-major, then crop
  const at = (p: number, k: number) => K === 1 ? p : (Math.floor(p / F) * K + k) * F + (p % F);
  const CROPS = K === 3 ? (['start', 'center', 'end'] as const) : (['center'] as const);
  const frameSize = r.channels * r.height * r.width;
  const [t, ph, pw] = r.tubelet;
  if (layout === 'tubelets' && F % t !== 0) throw new InvalidArgumentError('tubelet', r.tubelet, `a depth dividing the ${F} frames per clip`);
  // Output frame g → where its values start and in which layout (tubelets: frame g % t of slice ⌊g / t⌋;
  // clips hold a multiple of t frames, so slices never straddle clips).
  const tubelets = tubeletPlace(r);
  const place = (g: number): [offset: number, layout: FeatureLayout] => (layout === 'frames' ? [g * frameSize, 'chw'] : tubelets(g));
  const data = outputArray(options.out, T * K * frameSize);
  const timestamps = new Float64Array(T * K);
  const warnings: string[] = [...decoded.warnings];
  const imageOptions = { augment: options.augment, seed };
  const distinct = new Set(plan.indices).size;
  const native = await nativePreprocessAvailable();
  // Workers only where the native thread pool is missing (several crops per frame run in this thread).
  const workerCount = K > 1 || layout === 'tubelets' ? 0 : options.workers ?? (!native && distinct >= WORKER_MIN_FRAMES ? defaultPreprocessWorkers() : 0);
  // Workers start now and join in once loaded; until then (and whenever all are busy) this thread works too.
  const pool: PreprocessPool | undefined =
    workerCount > 0 ? startPreprocessPool(workerCount, r.image, imageOptions, { source: decoded.source, format: decoded.format }) : undefined;
  // Copies (a repeated index, a frame standing in for the next one) wait until every frame is done.
  const copies: [to: number, from: number][] = [];
  const pending: Promise<void>[] = [];
  const inFlight = new Set<Promise<void>>();
  let lastData: Uint8Array | undefined;
  let lastTime = NaN;
  let lastPosition = -1;
  let failure: { error: unknown } | undefined;
  try {
    const { workers: _, out: __, ...readOptions } = options;
    for await (const frame of readFrames(decoded, plan.indices, { ...readOptions, warnings, reuseBuffers: true })) {
      const [head, ...rest] = frame.positions;
      // With reused buffers, the same frame again is the same buffer at the same time.
      if (frame.image.data === lastData && frame.time === lastTime) copies.push([head!, lastPosition]);
      else if (pool?.ready()) {
        const rgb = pool.rgbBuffer(frame.image.data.byteLength);
        new Uint8Array(rgb).set(frame.image.data);
        const job = pool.submit(rgb, frame.image.width, frame.image.height, data, head! * frameSize);
        job.catch(() => undefined); // awaited below; keep an early failure from going unhandled
        pending.push(job);
      } else if (native) {
        const jobs = CROPS.map((cropPosition, k) => preprocessImageIntoAsync(frame.image, r.image, K === 1 ? imageOptions : { ...imageOptions, cropPosition }, data, ...place(at(head!, k))));
        pending.push(holdFrame(frame, jobs, inFlight));
        await throttle(inFlight);
      } else {
        CROPS.forEach((cropPosition, k) => preprocessImageInto(frame.image, r.image, K === 1 ? imageOptions : { ...imageOptions, cropPosition }, data, ...place(at(head!, k))));
      }
      lastData = frame.image.data;
      lastTime = frame.time;
      lastPosition = head!;
      for (let k = 0; k < K; k++) timestamps[at(head!, k)] = frame.time;
      for (const p of rest) {
        copies.push([p, head!]);
        for (let k = 0; k < K; k++) timestamps[at(p, k)] = frame.time;
      }
    }
  } catch (error) {
    failure = { error };
  }
  // Every job finishes (or fails) before the buffers it writes are returned or dropped.
  const settled = await Promise.allSettled(pending);
  await pool?.close();
  if (failure) throw failure.error;
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  for (const [to, from] of copies) {
    for (let k = 0; k < K; k++) copyFrame(data, place(at(from, k)), place(at(to, k)), frameSize, r.channels, ph * pw);
  }
  const frameIndices = K === 1 ? plan.indices : new Int32Array(T * K);
  if (K > 1) plan.indices.forEach((index, p) => { for (let k = 0; k < K; k++) frameIndices[at(p, k)] = index; });
  return { r, T: T * K, data, timestamps, frameIndices, clips: plan.clips * K, framesPerClip: F, warnings };
}

function outputArray(out: Float32Array | undefined, size: number): Float32Array {
  if (out === undefined) return new Float32Array(size);
  if (!(out instanceof Float32Array) || out.length < size) {
    throw new InvalidArgumentError('options.out', out, `a Float32Array of at least ${size} floats (frames × channels × height × width)`);
  }
  return out.subarray(0, size);
}

/** Copies one output frame's values to another frame's place (whole frame, or tubelet slot by slot). */
function copyFrame(data: Float32Array, [fromAt, from]: [number, FeatureLayout], [toAt, to]: [number, FeatureLayout], frameSize: number, C: number, run: number): void {
  if (typeof from !== 'object' || typeof to !== 'object') {
    data.copyWithin(toAt, fromAt, fromAt + frameSize);
    return;
  }
  // Tubelet slots: per token and channel, one run of Ph·Pw values at (c·t + frame)·run.
  const t = from.tubelet[0];
  const D = C * t * run;
  for (let token = 0; token < frameSize / (C * run); token++) {
    for (let c = 0; c < C; c++) {
      const a = fromAt + token * D + (c * t + from.frame) * run;
      data.copyWithin(toAt + token * D + (c * t + to.frame) * run, a, a + run);
    }
  }
}
