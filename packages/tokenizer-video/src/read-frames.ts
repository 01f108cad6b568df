import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { DecodeError } from '@omnitok/core';
import type { DecodedImage } from '@omnitok/tokenizer-image';
import { locateFfmpeg } from '@omnitok/tokenizer-audio';
import ffmpeg from 'fluent-ffmpeg';
import type { DecodedVideo } from './decode-video.js';

/** One delivered frame. */
export interface VideoFrame {
  /** RGB24 pixels, upright (rotation applied): the image package's decoded form, fed to its preprocess. */
  readonly image: DecodedImage;
  /** Timestamp of the frame used, in seconds from the stream's first frame. */
  readonly time: number;
  /** The nominal frame index that was asked for, and its time `index / fps`. */
  readonly index: number;
  readonly requestedTime: number;
  /** Which entries of the requested `indices` this frame serves (an index asked for twice is read once). */
  readonly positions: readonly number[];
  /** True when the asked-for frame could not be decoded and the nearest decoded frame stands in. */
  readonly substituted: boolean;
}

/** Options of {@link readFrames}. */
export interface ReadFramesOptions {
  readonly signal?: AbortSignal;
  /** Kill an ffmpeg process (and fail with `DecodeError`) after this many ms. Default 120 000. */
  readonly timeoutMs?: number;
  /**
   * Requested frames further apart than this many seconds are read by separate ffmpeg processes that
   * seek (`-ss`) to them; closer ones share one sequential decode. Default 3 (about one keyframe interval).
   */
  readonly seekGap?: number;
  /** Receives what was lost or odd (frames substituted, ffmpeg decode errors). */
  readonly warnings?: string[];
}

interface Target {
  readonly index: number;
  readonly time: number;
  readonly positions: number[];
}

interface RawFrame {
  readonly data: Uint8Array;
  readonly time: number;
}

interface Run {
  readonly from: number;
  readonly to: number; // exclusive, into targets
  readonly intervals: readonly [number, number][];
}

const DEFAULT_TIMEOUT = 120_000;
const MAX_INTERVALS = 256;

/**
 * Streams the requested frames out of ffmpeg (through fluent-ffmpeg) as raw RGB24 over a pipe, one frame
 * at a time: at most a couple of frames are held, whatever the video's length. Frames come in time order.
 *
 * How: requested indices become times `i / fps` after the first frame. Each group of nearby times (see
 * `seekGap`) is one ffmpeg process that seeks before the group (`-ss`, accurate seek, `-copyts`), lets
 * a `select` filter pass only frames within 1.5 frame periods of a requested time, and tags each passed
 * frame with its timestamp (`showinfo`). For each requested time the last frame at or before it is
 * used — on a constant-rate stream that is exactly frame `i`. ffmpeg is killed as soon as the group is
 * complete. Rotation metadata is honoured (ffmpeg's autorotate), so frames arrive as players show them.
 *
 * Damaged input: when frame `i` of a constant-rate stream is not among the decoded frames (corrupt or
 * truncated data), the nearest decoded frame that was passed stands in, `substituted` is set and a
 * warning names both times; decode errors that ffmpeg reports are added to `warnings` too. Only when
 * no frame at all decodes does it throw `DecodeError`. Variable-frame-rate streams use the frame shown
 * at each time (within one second before it), without substitution warnings.
 */
export async function* readFrames(decoded: DecodedVideo, indices: ArrayLike<number>, options: ReadFramesOptions = {}): AsyncGenerator<VideoFrame> {
  const fps = decoded.fps;
  const cfr = !decoded.video.variableFrameRate;
  const targets = buildTargets(indices, fps);
  if (targets.length === 0) return;
  const warnings = options.warnings ?? [];
  // CFR: targets sit on frame times, so allow for timestamp rounding (Matroska keeps milliseconds).
  // VFR: targets are arbitrary times; only rounding may push a frame past one.
  const eps = cfr ? 0.25 / fps : Math.min(0.25 / fps, 0.001);
  const tolerance = 0.5 / fps;
  const runs = planRuns(targets, fps, cfr, options.seekGap ?? 3);
  let dir: string | undefined;
  let path = decoded.path;
  const ffmpegErrors: string[] = [];
  let substitutedCount = 0;
  assertRunnable(locateFfmpeg(), decoded.source);
  try {
    if (!path) {
      dir = await mkdtemp(join(tmpdir(), 'omnitok-video-'));
      path = join(dir, 'input');
      await writeFile(path, decoded.bytes ?? new Uint8Array(0));
    }
    let prev: RawFrame | undefined;
    let next = 0;
    const resolve = (target: Target, before: RawFrame | undefined, after: RawFrame | undefined): VideoFrame => {
      let frame = before;
      let substituted = false;
      if (!before || (cfr && before.time < target.time - tolerance)) {
        frame = nearest(target.time, before, after);
        substituted = cfr || !before;
      }
      if (!frame) throw new DecodeError(decoded.source, 'video', 'no frame could be decoded');
      if (substituted) {
        substitutedCount++;
        if (substitutedCount <= 20) {
          warnings.push(`frame ${target.index} (t=${target.time.toFixed(3)} s) could not be decoded; used the nearest decoded frame (t=${frame.time.toFixed(3)} s)`);
        }
      }
      return {
        image: { data: frame.data, width: decoded.width, height: decoded.height, channels: 3, source: decoded.source, format: decoded.format },
        time: frame.time,
        index: target.index,
        requestedTime: target.time,
        positions: target.positions,
        substituted,
      };
    };

    for (const run of runs) {
      if (next >= run.to) continue;
      const frames = decodeRun(path, decoded, run, options, ffmpegErrors);
      for await (const f of frames) {
        while (next < targets.length && f.time > targets[next]!.time + eps) yield resolve(targets[next++]!, prev, f);
        prev = f;
        if (cfr) while (next < targets.length && Math.abs(f.time - targets[next]!.time) <= eps) yield resolve(targets[next++]!, f, undefined);
        if (next >= run.to) break; // the group is complete: stop ffmpeg now
      }
    }
    if (!prev && next < targets.length) {
      const why = ffmpegErrors.length > 0 ? `ffmpeg: ${ffmpegErrors[ffmpegErrors.length - 1]}` : 'ffmpeg delivered no frame';
      throw new DecodeError(decoded.source, 'video', `no frame could be decoded (${why})`);
    }
    while (next < targets.length) yield resolve(targets[next++]!, prev, undefined);
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
    if (substitutedCount > 20) warnings.push(`… ${substitutedCount - 20} more frames could not be decoded and were substituted`);
    if (ffmpegErrors.length > 0) {
      warnings.push(`ffmpeg reported ${ffmpegErrors.length} decode error${ffmpegErrors.length > 1 ? 's' : ''} (frames near them may be damaged): ${[...new Set(ffmpegErrors)].slice(0, 3).join(' | ')}`);
    }
  }
}

/**
 * fluent-ffmpeg crashes (an exception in its exit handler) when the binary cannot be spawned, so check
 * first: an explicit path must be an executable file, a bare name must be on PATH.
 */
function assertRunnable(bin: string, source: string): void {
  const candidates = bin.includes('/') || bin.includes('\\') ? [bin] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, bin));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      if (statSync(c).isFile()) return;
    } catch {
      // try the next one
    }
  }
  throw new DecodeError(source, 'video', `cannot run ffmpeg: ${JSON.stringify(bin)} is not an executable file (set OMNITOK_FFMPEG, or install @ffmpeg-installer/ffmpeg)`);
}

function nearest(time: number, a: RawFrame | undefined, b: RawFrame | undefined): RawFrame | undefined {
  if (!a) return b;
  if (!b) return a;
  return Math.abs(a.time - time) <= Math.abs(b.time - time) ? a : b;
}

function buildTargets(indices: ArrayLike<number>, fps: number): Target[] {
  const byIndex = new Map<number, Target>();
  for (let p = 0; p < indices.length; p++) {
    const index = indices[p]!;
    let t = byIndex.get(index);
    if (!t) byIndex.set(index, (t = { index, time: index / fps, positions: [] }));
    t.positions.push(p);
  }
  return [...byIndex.values()].sort((a, b) => a.index - b.index);
}

/**
 * Groups targets into ffmpeg runs: a new run (and a seek) where consecutive targets are more than
 * `seekGap` seconds apart, or where a run's select expression would exceed {@link MAX_INTERVALS}
 * windows. Each target's window is [t − before, t + after]; overlapping windows merge, so dense
 * sampling becomes one interval.
 */
function planRuns(targets: readonly Target[], fps: number, cfr: boolean, seekGap: number): Run[] {
  const before = cfr ? 1.5 / fps : Math.max(1.5 / fps, 1);
  const after = 1.5 / fps;
  const runs: Run[] = [];
  let from = 0;
  let intervals: [number, number][] = [];
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i]!.time;
    const last = intervals[intervals.length - 1];
    if (i > from && (t - targets[i - 1]!.time > seekGap || (intervals.length >= MAX_INTERVALS && t - before > last![1]))) {
      runs.push({ from, to: i, intervals });
      from = i;
      intervals = [];
    }
    const open = intervals[intervals.length - 1];
    if (open && t - before <= open[1]) open[1] = t + after;
    else intervals.push([t - before, t + after]);
  }
  runs.push({ from, to: targets.length, intervals });
  return runs;
}

const SHOWINFO = /\bn:\s*\d+\s+pts:\s*(\S+)\s+pts_time:(\S+)\s/;
const ERROR_LINE = /\[(error|fatal|panic)\]\s*(.*)$/;

/**
 * One ffmpeg process for one run: yields the frames the select filter passes, with their times. Kills
 * ffmpeg when the caller stops early, on timeout and on abort, and waits for it to exit.
 */
async function* decodeRun(
  path: string,
  decoded: DecodedVideo,
  run: Run,
  options: ReadFramesOptions,
  ffmpegErrors: string[],
): AsyncGenerator<RawFrame> {
  const { width, height, video, probe } = decoded;
  const frameBytes = width * height * 3;
  const offset = video.startTime - probe.startTime; // stream start relative to what -ss counts from
  const abs = (t: number) => (video.startTime + t).toFixed(6);
  const first = run.intervals[0]![0];
  const last = run.intervals[run.intervals.length - 1]![1];
  const seek = Math.max(0, offset + first - 0.05);
  const select = run.intervals.map(([a, b]) => `between(t,${abs(a)},${abs(b)})`).join('+');
  // Timestamps come from showinfo on a 2×2 crop of each passed frame (its checksums cost nothing there);
  // the frames themselves are converted to RGB24 once, at the probed size (a no-op scale unless the
  // stream changes size mid-way, which would otherwise misalign the pipe).
  const graph =
    `[0:${video.index}]select='${select}',scale=${width}:${height},format=rgb24,split[frames][stamps];` +
    '[stamps]crop=2:2:0:0,showinfo,nullsink';
  const inputOptions = ['-nostdin', '-hide_banner', '-nostats', '-loglevel', 'level+info'];
  if (seek > 0) inputOptions.push('-ss', seek.toFixed(6));
  inputOptions.push('-copyts', '-t', (offset + last + 1 / decoded.fps + 0.5 - seek).toFixed(6));
  const command = ffmpeg({ stdoutLines: 20 })
    .setFfmpegPath(locateFfmpeg())
    .input(path)
    .inputOptions(inputOptions)
    .outputOptions(['-filter_complex', graph, '-map', '[frames]', '-an', '-sn', '-dn', '-vsync', '0', '-pix_fmt', 'rgb24'])
    .format('rawvideo');

  const stamps: number[] = [];
  let wake: (() => void) | undefined;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  let finished = false;
  let proc: ChildProcess | undefined;
  let stopped = false;
  let why: 'timeout' | 'aborted' | undefined;
  const stop = () => {
    stopped = true;
    if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  };
  command.on('start', () => {
    proc = (command as unknown as { ffmpegProc?: ChildProcess }).ffmpegProc;
    if (stopped) stop();
  });
  command.on('stderr', (line: string) => {
    const m = SHOWINFO.exec(line);
    if (m) {
      stamps.push(Number(m[2]) - video.startTime);
      poke();
      return;
    }
    const e = ERROR_LINE.exec(line);
    if (e && ffmpegErrors.length < 100) ffmpegErrors.push(e[2]!.trim());
  });
  let failure: Error | undefined;
  const ended = new Promise<void>((resolveEnded) => {
    command.on('end', () => {
      finished = true;
      poke();
      resolveEnded();
    });
    command.on('error', (error: Error) => {
      failure ??= error;
      finished = true;
      poke();
      resolveEnded();
      if (!proc) stream.end(); // failed before spawning: nothing will end the output stream
    });
  });
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT;
  const timer = setTimeout(() => {
    why ??= 'timeout';
    stop();
  }, timeoutMs);
  const onAbort = () => {
    why ??= 'aborted';
    stop();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) onAbort();
  // A roomy buffer between ffmpeg's stdout and the parser, so ffmpeg is not paused every 16 KB.
  const stream = new PassThrough({ highWaterMark: Math.max(1 << 20, 2 * frameBytes) });
  command.pipe(stream, { end: true });

  try {
    let current: Uint8Array = Buffer.allocUnsafe(frameBytes);
    let filled = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let at = 0;
      while (at < chunk.length) {
        const n = Math.min(frameBytes - filled, chunk.length - at);
        current.set(chunk.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled < frameBytes) continue;
        while (stamps.length === 0 && !finished && !why) await new Promise<void>((r) => (wake = r));
        if (why) break;
        const time = stamps.shift();
        if (time === undefined || !Number.isFinite(time)) throw new DecodeError(decoded.source, 'video', 'ffmpeg sent a frame without a timestamp');
        yield { data: current, time };
        current = Buffer.allocUnsafe(frameBytes);
        filled = 0;
      }
      if (why) break;
    }
    if (why === 'timeout') throw new DecodeError(decoded.source, 'video', `ffmpeg timed out after ${timeoutMs} ms`);
    if (why === 'aborted') throw options.signal?.reason ?? new DecodeError(decoded.source, 'video', 'aborted');
    if (failure && !stopped && /Cannot find ffmpeg|ENOENT|spawn/i.test(failure.message)) {
      throw new DecodeError(decoded.source, 'video', `cannot run ffmpeg (${failure.message}); set OMNITOK_FFMPEG`, { cause: failure });
    }
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    stop();
    stream.destroy();
    const p = proc;
    if (p && p.exitCode === null && p.signalCode === null) await new Promise<void>((r) => p.once('exit', () => r()));
    await Promise.race([ended, new Promise<void>((r) => setTimeout(r, 1000).unref())]);
  }
}
