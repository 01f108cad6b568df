import { accessSync, constants, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { Readable } from 'node:stream';
import { DecodeError, spawnTool, type ToolProcess } from '@omnitok/core';
import type { DecodedImage } from '@omnitok/tokenizer-image';
import { locateFfmpeg } from '@omnitok/tokenizer-audio';
import type { DecodedVideo } from './decode-video.js';

/** One delivered frame. */
export interface VideoFrame {
  /**
   * RGB24 pixels, upright (rotation applied): the image package's decoded form, fed to its preprocess.
   * With `reuseBuffers` they are only valid until the next frame is pulled.
   */
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
  /**
   * Keeps `image.data` valid past the next pull (with `reuseBuffers`, for work still in flight): the
   * buffer goes back to the pool only when the returned function has been called. A no-op otherwise.
   */
  retain(): () => void;
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
  /**
   * Recycle frame buffers (a small pool) instead of allocating one per frame: less memory traffic and
   * GC, but a frame's `image.data` is then only valid until the next frame is pulled (copy it to keep
   * it). Default false.
   */
  readonly reuseBuffers?: boolean;
  /**
   * Where frame timestamps come from. `auto` (default): on a constant-rate stream (`avg_frame_rate`
   * equal to `r_frame_rate`) they are computed — frame `k` at `k / fps` rounded to the stream time
   * base, as the muxer stored it — by counting the frames ffmpeg passes, and checked: a decode error
   * that ffmpeg reports, an ffmpeg failure, or a frame count that differs from the plan re-reads the
   * rest of that group with `showinfo` timestamps (frames are held back a few at a time so that an error
   * is seen before frames after it are delivered). Other streams use `showinfo`. `showinfo`: always
   * take timestamps from ffmpeg's `showinfo` filter (the reference; slower).
   */
  readonly timestamps?: 'auto' | 'showinfo';
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

/** Frame buffers: `take` one to fill, `release` one the consumer is done with. */
interface FramePool {
  take(): Uint8Array;
  release(data: Uint8Array): void;
}

const DEFAULT_TIMEOUT = 120_000;
const MAX_INTERVALS = 256;
/** Counted frames are held back this many frames, so that a decode error ffmpeg reports is seen first. */
const LOOKAHEAD = 4;
/** Frames buffered on the node side before ffmpeg's pipe is paused (decoding runs ahead of the consumer). */
const READ_AHEAD = 8;

/** A group whose ffmpeg has been started: its generator and its first result, requested early. */
interface Started {
  readonly gen: AsyncGenerator<RawFrame>;
  readonly first: Promise<IteratorResult<RawFrame>>;
}

/** A counted run whose frame count cannot be trusted: the caller re-reads the rest with showinfo. */
class Recount extends Error {}

/**
 * Streams the requested frames out of ffmpeg as raw RGB24 over a pipe, one frame at a time: at most a
 * few frames are held, whatever the video's length. Frames come in time order.
 *
 * How: requested indices become times `i / fps` after the first frame. Each group of nearby times (see
 * `seekGap`) is one ffmpeg process that seeks before the group (`-ss`, accurate seek, `-copyts`) and lets
 * a `select` filter pass only frames within 1.5 frame periods of a requested time. Each passed frame's
 * timestamp is computed from the frame grid on constant-rate streams (see `timestamps`), or reported by
 * a `showinfo` filter. For each requested time the last frame at or before it is used — on a
 * constant-rate stream that is exactly frame `i`. ffmpeg is killed as soon as the group is complete.
 * Rotation metadata is honoured (ffmpeg's autorotate), so frames arrive as players show them. ffmpeg
 * decodes up to {@link READ_AHEAD} frames ahead of the consumer.
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
  const countable = options.timestamps !== 'showinfo' && isStrictlyConstantRate(decoded);
  const queue = planRuns(targets, fps, cfr, options.seekGap ?? 3).map((run) => ({ run, counted: countable }));
  const frameBytes = decoded.width * decoded.height * 3;
  const free: Uint8Array[] = [];
  // Retained buffers: how many holders each has, and which of them the reader is done with.
  const held = new Map<Uint8Array, number>();
  const releasedWhileHeld = new Set<Uint8Array>();
  const recycle = (d: Uint8Array) => void (free.length < 2 * READ_AHEAD && free.push(d));
  const pool: FramePool = options.reuseBuffers
    ? { take: () => free.pop() ?? Buffer.allocUnsafeSlow(frameBytes), release: (d) => (held.has(d) ? releasedWhileHeld.add(d) : recycle(d)) }
    : { take: () => Buffer.allocUnsafe(frameBytes), release: () => undefined };
  const retain = (d: Uint8Array) => (): (() => void) => {
    if (!options.reuseBuffers) return () => undefined;
    held.set(d, (held.get(d) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = held.get(d)! - 1;
      if (n > 0) return void held.set(d, n);
      held.delete(d);
      if (releasedWhileHeld.delete(d)) recycle(d);
    };
  };
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
        retain: retain(frame.data),
      };
    };

    // The next group's ffmpeg starts while this one is consumed (its first frame is requested early),
    // so seeks and process start-ups overlap: sparse sampling costs about half the wall time on 2 cores.
    const started = new Map<(typeof queue)[number], Started>();
    const start = (entry: (typeof queue)[number]): Started => {
      let s = started.get(entry);
      if (!s) {
        const gen = decodeRun(path!, decoded, entry.run, entry.counted, options, ffmpegErrors, pool);
        const first = gen.next();
        first.catch(() => undefined); // surfaced when this group is read
        started.set(entry, (s = { gen, first }));
      }
      return s;
    };
    try {
      for (let q = 0; q < queue.length; q++) {
        const entry = queue[q]!;
        const { run } = entry;
        if (next >= run.to) continue;
        const current = start(entry);
        const ahead = queue[q + 1];
        if (ahead && ahead.run.from >= run.to) start(ahead);
        try {
          for (let r = await current.first; !r.done; r = await current.gen.next()) {
            const f = r.value;
            while (next < targets.length && f.time > targets[next]!.time + eps) yield resolve(targets[next++]!, prev, f);
            // The consumer has pulled past every frame made from the old `prev`: its buffer is free.
            if (prev) pool.release(prev.data);
            prev = f;
            if (cfr) while (next < targets.length && Math.abs(f.time - targets[next]!.time) <= eps) yield resolve(targets[next++]!, f, undefined);
            if (next >= run.to) break; // the group is complete: stop ffmpeg now
          }
        } catch (error) {
          if (!(error instanceof Recount)) throw error;
          // Re-read what is left of this group with showinfo timestamps (frames delivered so far were checked).
          if (next < run.to) {
            const rest = planRuns(targets.slice(next, run.to), fps, cfr, Infinity);
            queue.splice(q + 1, 0, ...rest.map((r) => ({ run: { from: r.from + next, to: r.to + next, intervals: r.intervals }, counted: false })));
          }
        } finally {
          started.delete(entry);
          await current.gen.return(undefined);
        }
      }
    } finally {
      for (const s of started.values()) {
        await s.first.catch(() => undefined);
        await s.gen.return(undefined);
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
 * Frame times can be computed only when the stream declares one exact rate: `avg_frame_rate` equal to
 * `r_frame_rate` as fractions (an average merely within 1 % would drift by frames over a long file).
 */
function isStrictlyConstantRate(decoded: DecodedVideo): boolean {
  const { avgFrameRate, rFrameRate, variableFrameRate } = decoded.video;
  if (variableFrameRate || !avgFrameRate || !rFrameRate) return false;
  const a = avgFrameRate.split('/').map(Number);
  const r = rFrameRate.split('/').map(Number);
  const an = a[0]!, ad = a[1] ?? 1, rn = r[0]!, rd = r[1] ?? 1;
  return an > 0 && ad > 0 && an * rd === rn * ad && Math.abs(an / ad - decoded.fps) < 1e-9;
}

/**
 * The frames a counted run's select passes, as times: grid frames `k` (within the stream's frames) whose
 * time `k / fps` lies in an interval. Interval ends sit half a frame from grid times, so container
 * timestamp rounding cannot move a frame across one.
 */
export function countedFrameTimes(decoded: DecodedVideo, intervals: readonly (readonly [number, number])[]): number[] {
  const { fps, frameCount } = decoded;
  const start = decoded.video.startTime;
  const tb = decoded.video.timeBase;
  const times: number[] = [];
  for (const [a, b] of intervals) {
    const from = Math.max(0, Math.ceil(a * fps - 1e-6));
    const to = Math.min(frameCount - 1, Math.floor(b * fps + 1e-6));
    for (let k = from; k <= to; k++) {
      // As stored: the absolute time rounded to the time base, then relative to the first frame again.
      const abs = start + k / fps;
      times.push(tb ? Math.round(abs / tb) * tb - start : k / fps);
    }
  }
  return times;
}

/**
 * Checks up front that the binary can be spawned (a clear `DecodeError` instead of a spawn failure deep in
 * a run): an explicit path must be an executable file, a bare name must be on PATH.
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
 * One ffmpeg process for one run: yields the frames the select filter passes, with their times. ffmpeg
 * is spawned directly (no wrapper: nothing is probed or parsed besides the pipe), its stdout copied into
 * frame buffers from `pool` as chunks arrive and paused only when {@link READ_AHEAD} frames wait, so
 * decoding overlaps the consumer. `counted`: times come from the frame grid (see
 * {@link countedFrameTimes}); a reported error or a count off the plan throws {@link Recount}. Kills
 * ffmpeg when the caller stops early, on timeout and on abort, and waits for it to exit.
 */
async function* decodeRun(
  path: string,
  decoded: DecodedVideo,
  run: Run,
  counted: boolean,
  options: ReadFramesOptions,
  ffmpegErrors: string[],
  pool: FramePool,
): AsyncGenerator<RawFrame> {
  const { width, height, video, probe } = decoded;
  const frameBytes = width * height * 3;
  const offset = video.startTime - probe.startTime; // stream start relative to what -ss counts from
  const abs = (t: number) => (video.startTime + t).toFixed(6);
  const first = run.intervals[0]![0];
  const last = run.intervals[run.intervals.length - 1]![1];
  const seek = Math.max(0, offset + first - 0.05);
  const select = run.intervals.map(([a, b]) => `between(t,${abs(a)},${abs(b)})`).join('+');
  const planned = counted ? countedFrameTimes(decoded, run.intervals) : [];
  // Frames are converted to RGB24 once, at the probed size (a no-op scale unless the stream changes size
  // mid-way, which would otherwise misalign the pipe). Without counting, timestamps come from showinfo
  // on a 2×2 crop of each passed frame (its checksums cost nothing there).
  // Counted: an fps filter at the stream's own rate first, so that a frame the decoder drops (damaged
  // data, reported at error level or only as a warning) is filled by the frame before it — what the
  // showinfo path substitutes too — instead of shifting every later frame onto the wrong time before
  // the error line or the final count can stop the run. A no-op on an intact constant-rate stream.
  const graph = counted
    ? `[0:${video.index}]fps=fps=${video.avgFrameRate}:round=near,select='${select}',scale=${width}:${height},format=rgb24[frames]`
    : `[0:${video.index}]select='${select}',scale=${width}:${height},format=rgb24,split[frames][stamps];[stamps]crop=2:2:0:0,showinfo,nullsink`;
  const args = ['-nostdin', '-hide_banner', '-nostats', '-loglevel', counted ? 'level+error' : 'level+info'];
  if (seek > 0) args.push('-ss', seek.toFixed(6));
  args.push('-copyts', '-t', (offset + last + 1 / decoded.fps + 0.5 - seek).toFixed(6), '-i', path);
  args.push('-filter_complex', graph, '-map', '[frames]', '-an', '-sn', '-dn', '-vsync', '0', '-pix_fmt', 'rgb24', '-f', 'rawvideo', 'pipe:1');

  const frames: Uint8Array[] = [];
  const stamps: number[] = [];
  let assembled = 0;
  let errorsHere = 0;
  let wake: (() => void) | undefined;
  const poke = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  let exitCode: number | null = null;
  let failure: Error | undefined;
  let stopped = false;
  let why: 'timeout' | 'aborted' | undefined;
  let proc: ToolProcess | undefined;
  const stop = () => {
    stopped = true;
    if (proc && proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  };
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT;
  const timer = setTimeout(() => {
    why ??= 'timeout';
    stop();
    poke();
  }, timeoutMs);
  const onAbort = () => {
    why ??= 'aborted';
    stop();
    poke();
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });

  let current = pool.take();
  let filled = 0;
  let paused = false;
  let partial = '';
  const onLine = (line: string) => {
    if (!counted) {
      const m = SHOWINFO.exec(line);
      if (m) {
        stamps.push(Number(m[2]) - video.startTime);
        return;
      }
    }
    const e = ERROR_LINE.exec(line);
    if (!e) return;
    errorsHere++;
    if (!counted && ffmpegErrors.length < 100) ffmpegErrors.push(e[2]!.trim());
  };
  const frameDone = () => {
    frames.push(current);
    assembled++;
    current = pool.take();
    filled = 0;
  };
  const full = () => frames.length >= READ_AHEAD + LOOKAHEAD;
  let reader: Readable | undefined;
  let eof = false;
  let exited = false;
  const closed = () => (exited && eof) || failure !== undefined;
  try {
    if (options.signal?.aborted) onAbort();
    // Pixels go straight into the unfilled rest of the current frame (a Unix socket read with `onread`:
    // no intermediate chunk, no copy, where the OS allows; else chunks copied in).
    const got = (n: number) => {
      filled += n;
      if (filled === frameBytes) frameDone();
      poke();
      if (!full()) return true;
      paused = true;
      return false;
    };
    const child = await spawnTool(locateFfmpeg(), args, { onread: { buffer: () => current.subarray(filled), callback: got } });
    proc = child;
    reader = child.stdout;
    if (stopped) stop();
    child.once('error', (error: Error) => {
      failure ??= error;
      poke();
    });
    child.once('close', (code: number | null) => {
      exitCode = code;
      exited = true;
      poke();
    });
    const source = child.stdout;
    source.once('end', () => {
      eof = true;
      poke();
    });
    source.once('close', () => {
      eof = true;
      poke();
    });
    source.on('error', () => undefined); // a reset after SIGKILL; the exit code tells
    child.stderr!.setEncoding('latin1');
    child.stderr!.on('data', (text: string) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop()!;
      for (const line of lines) onLine(line);
      poke();
    });
    child.stderr!.once('end', () => {
      if (partial) onLine(partial);
      partial = '';
    });

    for (;;) {
      if (why) break;
      const done = closed();
      if (counted && (errorsHere > 0 || assembled > planned.length || (done && (assembled !== planned.length || exitCode !== 0)))) throw new Recount();
      const ready = counted ? frames.length : Math.min(frames.length, stamps.length);
      // Held back until LOOKAHEAD later frames are in, or every planned frame is (then none was dropped).
      if (ready > (counted && !done && assembled < planned.length ? LOOKAHEAD : 0)) {
        const data = frames.shift()!;
        const time = counted ? planned[assembled - frames.length - 1]! : stamps.shift()!;
        if (paused && frames.length < READ_AHEAD) {
          paused = false;
          source.resume();
        }
        if (!Number.isFinite(time)) throw new DecodeError(decoded.source, 'video', 'ffmpeg sent a frame without a timestamp');
        yield { data, time };
        continue;
      }
      if (done) {
        if (!counted && frames.length > stamps.length) throw new DecodeError(decoded.source, 'video', 'ffmpeg sent a frame without a timestamp');
        break;
      }
      await new Promise<void>((r) => (wake = r));
      // Counted: let the rest of this event-loop turn run before frames go out — ffmpeg wrote the error
      // line of a damaged frame before the frames after it, but one poll of the loop can hand us those
      // frames (the socket) ahead of that line (stderr), and the wake-up runs as a microtask in between.
      if (counted) await new Promise<void>((r) => setImmediate(r));
    }
    if (why === 'timeout') throw new DecodeError(decoded.source, 'video', `ffmpeg timed out after ${timeoutMs} ms`);
    if (why === 'aborted') throw options.signal?.reason ?? new DecodeError(decoded.source, 'video', 'aborted');
    if (failure && !stopped) throw new DecodeError(decoded.source, 'video', `cannot run ffmpeg (${failure.message}); set OMNITOK_FFMPEG`, { cause: failure });
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
    stop();
    const p = proc;
    reader?.destroy();
    if (p) {
      p.stderr?.destroy();
      if (p.pid !== undefined && p.exitCode === null && p.signalCode === null) await new Promise<void>((r) => p.once('exit', () => r()));
    }
    for (const f of frames) pool.release(f);
    pool.release(current);
  }
}

