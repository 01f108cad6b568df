import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { DecodeError, spawnTool, type ToolProcess } from '@omnitok/core';

/**
 * ffmpeg / ffprobe location and PCM streaming, shared with the video tokenizer.
 *
 * Binaries: `OMNITOK_FFMPEG` / `OMNITOK_FFPROBE` when set, else the static binaries shipped by the npm
 * packages @ffmpeg-installer/ffmpeg and @ffprobe-installer/ffprobe (so a fresh machine needs no system
 * ffmpeg), else `ffmpeg` / `ffprobe` on PATH.
 */
export function locateFfmpeg(): string {
  return locate('OMNITOK_FFMPEG', '@ffmpeg-installer/ffmpeg', 'ffmpeg');
}

export function locateFfprobe(): string {
  return locate('OMNITOK_FFPROBE', '@ffprobe-installer/ffprobe', 'ffprobe');
}

function locate(env: string, pkg: string, fallback: string): string {
  const fromEnv = process.env[env];
  if (fromEnv) return fromEnv;
  try {
    const path = (createRequire(import.meta.url)(pkg) as { path?: string }).path;
    if (path && existsSync(path)) return path;
  } catch {
    // The installer packages throw on unsupported platforms; fall back to PATH.
  }
  return fallback;
}

export interface FfmpegRunOptions {
  readonly signal?: AbortSignal;
  /** Kill the process and fail after this many milliseconds. Default 120 000. */
  readonly timeoutMs?: number;
  /** Names the input in error messages (defaults to the path). */
  readonly label?: string;
  /** Modality named in errors. Default `audio`. */
  readonly modality?: string;
}

/** What ffprobe says about a file's first audio stream and its container. */
export interface MediaProbe {
  readonly container: string;
  /** Container duration in seconds, when known. */
  readonly duration?: number;
  readonly audio?: { readonly codec: string; readonly sampleRate: number; readonly channels: number; readonly duration?: number };
  readonly hasVideo: boolean;
}

export class FfmpegFailure extends Error {
  constructor(
    message: string,
    readonly stderr: string,
    readonly kind: 'invalid-data' | 'no-stream' | 'timeout' | 'aborted' | 'spawn' | 'failed',
  ) {
    super(message);
  }
}

const DEFAULT_TIMEOUT = 120_000;

/**
 * `ffprobe -show_format -show_streams` on `path`, as parsed JSON (the audio and video probes read
 * their fields from it). Throws {@link FfmpegFailure} when ffprobe cannot run or read the file.
 */
export async function ffprobeJson(path: string, options: FfmpegRunOptions = {}): Promise<{ format?: Record<string, unknown>; streams?: Record<string, unknown>[] }> {
  const args = ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', path];
  const { stdout } = await run(locateFfprobe(), args, options);
  try {
    return JSON.parse(stdout.toString('utf8'));
  } catch {
    throw new FfmpegFailure('ffprobe printed no JSON', '', 'failed');
  }
}

/** Runs ffprobe on `path`. Throws {@link FfmpegFailure} when ffprobe cannot read it. */
export async function probeMedia(path: string, options: FfmpegRunOptions = {}): Promise<MediaProbe> {
  const json = (await ffprobeJson(path, options)) as { format?: { format_name?: string; duration?: string }; streams?: Record<string, unknown>[] };
  const streams = json.streams ?? [];
  const audio = streams.find((s) => s.codec_type === 'audio');
  const num = (v: unknown): number | undefined => {
    const n = typeof v === 'string' || typeof v === 'number' ? Number(v) : NaN;
    return Number.isFinite(n) ? n : undefined;
  };
  return {
    container: json.format?.format_name ?? 'unknown',
    duration: num(json.format?.duration),
    hasVideo: streams.some((s) => s.codec_type === 'video'),
    audio: audio
      ? {
          codec: String(audio.codec_name ?? 'unknown'),
          sampleRate: num(audio.sample_rate) ?? 0,
          channels: num(audio.channels) ?? 0,
          duration: num(audio.duration),
        }
      : undefined,
  };
}

export interface PcmStreamOptions extends FfmpegRunOptions {
  /** Seek to this many seconds before decoding (`-ss` before `-i`: fast, frame-accurate for audio). */
  readonly start?: number;
  /** Decode at most this many seconds (`-t`); ffmpeg is also killed once that many frames arrived. */
  readonly duration?: number;
  /** Output rate (`-ar`); the stream's own rate when omitted. */
  readonly sampleRate?: number;
  /** Output channels (`-ac`, 1 down-mixes); the stream's own layout when omitted. */
  readonly channels?: number;
  /** Stop after this many frames (samples per channel) even without `duration`. */
  readonly maxFrames?: number;
  /** Which audio stream (`-map 0:a:N`). Default 0. */
  readonly stream?: number;
}

/** The ffmpeg arguments that decode `path` to raw float32 little-endian PCM on stdout. */
export function pcmArgs(path: string, o: PcmStreamOptions = {}): string[] {
  const args = ['-nostdin', '-hide_banner', '-loglevel', 'error'];
  if (o.start && o.start > 0) args.push('-ss', String(o.start));
  args.push('-i', path);
  if (o.duration !== undefined && Number.isFinite(o.duration)) args.push('-t', String(o.duration));
  args.push('-map', `0:a:${o.stream ?? 0}`, '-vn', '-sn', '-dn', '-f', 'f32le', '-acodec', 'pcm_f32le');
  if (o.channels) args.push('-ac', String(o.channels));
  if (o.sampleRate) args.push('-ar', String(o.sampleRate));
  args.push('pipe:1');
  return args;
}

/**
 * Streams `path`'s audio as float32 PCM chunks (interleaved when several channels), each a whole
 * number of frames. Memory stays bounded by the consumer: stopping the iteration kills ffmpeg. With
 * `duration` or `maxFrames`, ffmpeg is killed as soon as enough frames arrived, so a 10-hour file asked
 * for 30 s costs 30 s of decoding. Errors are {@link FfmpegFailure}s.
 */
export async function* streamPcm(path: string, options: PcmStreamOptions & { frameChannels: number }): AsyncGenerator<Float32Array> {
  const channels = options.frameChannels;
  const rateForLimit = options.sampleRate;
  let limit = options.maxFrames ?? Infinity;
  if (options.duration !== undefined && rateForLimit) limit = Math.min(limit, Math.ceil(options.duration * rateForLimit));
  const child = await spawnTool(locateFfmpeg(), pcmArgs(path, options));
  const guard = watch(child, options);
  const frameBytes = 4 * channels;
  let carry = Buffer.alloc(0);
  let emitted = 0;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      let buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      const whole = Math.floor(buf.length / frameBytes);
      const take = Math.min(whole, limit - emitted);
      if (take > 0) {
        const out = new Float32Array(take * channels);
        new Uint8Array(out.buffer).set(buf.subarray(0, take * frameBytes));
        emitted += take;
        yield out;
      }
      if (emitted >= limit) break;
      buf = buf.subarray(whole * frameBytes);
      carry = Buffer.from(buf);
    }
    if (emitted < limit) await guard.done;
  } finally {
    guard.stop();
  }
}

/** Collects {@link streamPcm} into one array. */
export async function readPcm(path: string, options: PcmStreamOptions & { frameChannels: number }): Promise<Float32Array> {
  const parts: Float32Array[] = [];
  let total = 0;
  for await (const part of streamPcm(path, options)) {
    parts.push(part);
    total += part.length;
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Float32Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Runs a command to completion, capturing stdout; the same timeout / abort / error rules as streaming. */
async function run(cmd: string, args: string[], options: FfmpegRunOptions): Promise<{ stdout: Buffer }> {
  const child = await spawnTool(cmd, args);
  const guard = watch(child, options);
  const chunks: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => chunks.push(c));
  try {
    await guard.done;
  } finally {
    guard.stop();
  }
  return { stdout: Buffer.concat(chunks) };
}

/** Watches a child: collects stderr, enforces timeout and abort, and classifies failures. */
function watch(child: ToolProcess, options: FfmpegRunOptions): { done: Promise<void>; stop(): void } {
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString('utf8')).slice(-4000);
  });
  let reason: 'timeout' | 'aborted' | 'stopped' | undefined;
  const kill = (why: 'timeout' | 'aborted' | 'stopped'): void => {
    if (child.exitCode === null && child.signalCode === null) {
      reason ??= why;
      child.kill('SIGKILL');
    }
  };
  const timer = setTimeout(() => kill('timeout'), options.timeoutMs ?? DEFAULT_TIMEOUT);
  const onAbort = (): void => kill('aborted');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) kill('aborted');
  const done = new Promise<void>((resolve, reject) => {
    child.once('error', (error) => reject(new FfmpegFailure(`cannot run ${child.spawnfile}: ${error.message}`, stderr, 'spawn')));
    child.once('close', (code) => {
      if (reason === 'timeout') reject(new FfmpegFailure(`${child.spawnfile} timed out after ${options.timeoutMs ?? DEFAULT_TIMEOUT} ms`, stderr, 'timeout'));
      else if (reason === 'aborted') reject(new FfmpegFailure('aborted', stderr, 'aborted'));
      else if (code === 0 || reason === 'stopped') resolve();
      else {
        const last = stderr.trim().split('\n').filter(Boolean).pop() ?? `exit code ${code}`;
        const kind = /matches no streams|does not contain any stream|no audio/i.test(stderr)
          ? 'no-stream'
          : /Invalid data found|could not find codec|Unknown format|not supported|Invalid argument/i.test(stderr)
            ? 'invalid-data'
            : 'failed';
        reject(new FfmpegFailure(last, stderr, kind));
      }
    });
  });
  done.catch(() => undefined); // observed by callers; avoid unhandled rejections when they stop early
  return {
    done,
    stop() {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      kill('stopped');
    },
  };
}

/** Turns an {@link FfmpegFailure} into the `DecodeError` users see. */
export function ffmpegDecodeError(label: string, error: unknown, modality = 'audio'): DecodeError {
  if (error instanceof FfmpegFailure) {
    const reason =
      error.kind === 'no-stream' ? 'it has no audio stream' : error.kind === 'timeout' ? error.message : `ffmpeg: ${error.message}`;
    return new DecodeError(label, modality, reason, { cause: error });
  }
  return new DecodeError(label, modality, (error as Error)?.message ?? String(error), { cause: error });
}
