import { FfmpegFailure, ffprobeJson } from '@omnitok/tokenizer-audio';

/** The video stream ffprobe reports (the first one that is not cover art). */
export interface VideoStreamInfo {
  /** Stream index in the container (what `-map 0:N` selects). */
  readonly index: number;
  readonly codec: string;
  readonly pixelFormat?: string;
  /** Coded size, before rotation. */
  readonly codedWidth: number;
  readonly codedHeight: number;
  /**
   * Display rotation in degrees as ffprobe reports it (display-matrix side data, else the legacy
   * `rotate` tag), 0 when none. ffmpeg applies it while decoding, so frames come out as players show them.
   */
  readonly rotation: number;
  /** Size of the decoded frames: the coded size, swapped for a ±90° rotation. */
  readonly width: number;
  readonly height: number;
  /** Frame rate used for the frame grid: `avg_frame_rate`, else `r_frame_rate`. */
  readonly fps: number;
  readonly avgFrameRate?: string;
  readonly rFrameRate?: string;
  /** True when `avg_frame_rate` and `r_frame_rate` differ by more than 1% (variable frame rate). */
  readonly variableFrameRate: boolean;
  /** Seconds from the first frame to the end of the stream. */
  readonly duration: number;
  /** Frames in the stream: `nb_frames` when the container stores it, else `round(duration × fps)`. */
  readonly frameCount: number;
  readonly frameCountEstimated: boolean;
  /** Absolute timestamp of the first frame in seconds (container timeline). */
  readonly startTime: number;
  /**
   * The stream's time base in seconds per tick (`time_base`, e.g. 1/12800 for MP4, 1/1000 for Matroska),
   * when ffprobe reports it: constant-rate frame times are rounded to it as the muxer stored them.
   */
  readonly timeBase?: number;
}

/** What ffprobe says about a file. */
export interface VideoProbe {
  /** ffprobe's `format_name` (`mov,mp4,m4a,3gp,3g2,mj2`, `matroska,webm`, `avi`). */
  readonly container: string;
  /** Container start time in seconds (what `-ss` is relative to). */
  readonly startTime: number;
  readonly duration?: number;
  readonly video?: VideoStreamInfo;
  readonly audio?: { readonly index: number; readonly codec: string; readonly sampleRate: number; readonly channels: number };
  /** Every stream, in container order. */
  readonly streams: readonly { readonly index: number; readonly type: string; readonly codec: string }[];
}

/** Why ffprobe / ffmpeg failed: mapped to `DecodeError` / `UnsupportedFormatError` by the callers. */
export class FfprobeFailure extends Error {
  constructor(
    message: string,
    readonly kind: 'timeout' | 'aborted' | 'spawn' | 'failed',
    readonly stderr = '',
  ) {
    super(message);
  }
}

export interface ProbeOptions {
  readonly signal?: AbortSignal;
  /** Kill ffprobe after this many ms. Default 30 000. */
  readonly timeoutMs?: number;
}

type Json = Record<string, unknown>;

/** Runs `ffprobe -show_format -show_streams` (JSON) on a path; never waits past the timeout. */
export async function probeVideo(path: string, options: ProbeOptions = {}): Promise<VideoProbe> {
  try {
    return parseProbe(await ffprobeJson(path, { timeoutMs: options.timeoutMs ?? 30_000, signal: options.signal }));
  } catch (error) {
    if (!(error instanceof FfmpegFailure)) throw error;
    const kind = error.kind === 'timeout' || error.kind === 'aborted' || error.kind === 'spawn' ? error.kind : 'failed';
    throw new FfprobeFailure(error.message, kind, error.stderr);
  }
}

/** Turns ffprobe's JSON into a {@link VideoProbe} (exported for tests). */
export function parseProbe(json: { format?: Json; streams?: Json[] }): VideoProbe {
  const format = json.format ?? {};
  const streams = json.streams ?? [];
  const containerStart = num(format.start_time) ?? 0;
  const formatDuration = num(format.duration);
  const isCover = (s: Json) => (s.disposition as Json | undefined)?.attached_pic === 1;
  const v = streams.find((s) => s.codec_type === 'video' && !isCover(s));
  const a = streams.find((s) => s.codec_type === 'audio');
  let video: VideoStreamInfo | undefined;
  if (v) {
    const avg = rate(v.avg_frame_rate);
    const r = rate(v.r_frame_rate);
    const fps = avg ?? r ?? 25;
    const rotation = rotationOf(v);
    const quarter = Math.abs(Math.round(rotation / 90)) % 2 === 1;
    const codedWidth = num(v.width) ?? 0;
    const codedHeight = num(v.height) ?? 0;
    const startTime = num(v.start_time) ?? containerStart;
    const tags = (v.tags ?? {}) as Json;
    const duration =
      num(v.duration) ??
      hms(tags.DURATION) ??
      (formatDuration !== undefined ? Math.max(0, formatDuration - (startTime - containerStart)) : undefined) ??
      0;
    const nb = num(v.nb_frames);
    const frameCountEstimated = !(nb !== undefined && nb > 0);
    video = {
      index: num(v.index) ?? 0,
      codec: String(v.codec_name ?? 'unknown'),
      pixelFormat: typeof v.pix_fmt === 'string' ? v.pix_fmt : undefined,
      codedWidth,
      codedHeight,
      rotation,
      width: quarter ? codedHeight : codedWidth,
      height: quarter ? codedWidth : codedHeight,
      fps,
      avgFrameRate: typeof v.avg_frame_rate === 'string' ? v.avg_frame_rate : undefined,
      rFrameRate: typeof v.r_frame_rate === 'string' ? v.r_frame_rate : undefined,
      variableFrameRate: avg !== undefined && r !== undefined && Math.abs(avg - r) / r > 0.01,
      duration,
      frameCount: frameCountEstimated ? Math.max(duration > 0 ? 1 : 0, Math.round(duration * fps)) : nb!,
      frameCountEstimated,
      startTime,
      timeBase: rate(v.time_base),
    };
  }
  return {
    container: String(format.format_name ?? 'unknown'),
    startTime: containerStart,
    duration: formatDuration,
    video,
    audio: a ? { index: num(a.index) ?? 0, codec: String(a.codec_name ?? 'unknown'), sampleRate: num(a.sample_rate) ?? 0, channels: num(a.channels) ?? 0 } : undefined,
    streams: streams.map((s) => ({ index: num(s.index) ?? 0, type: String(s.codec_type ?? 'unknown'), codec: String(s.codec_name ?? 'unknown') })),
  };
}

function num(v: unknown): number | undefined {
  const n = typeof v === 'string' || typeof v === 'number' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
}

function rate(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const [a, b] = v.split('/').map(Number);
  const r = b === undefined ? a! : a! / b;
  return Number.isFinite(r) && r > 0 ? r : undefined;
}

/** `HH:MM:SS.fraction` (Matroska's DURATION tag) in seconds. */
function hms(v: unknown): number | undefined {
  if (typeof v !== 'string') return undefined;
  const m = /^(\d+):(\d+):(\d+(?:\.\d+)?)$/.exec(v.trim());
  return m ? Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) : undefined;
}

function rotationOf(stream: Json): number {
  const side = (stream.side_data_list ?? []) as Json[];
  for (const d of side) {
    const r = num(d.rotation);
    if (r !== undefined) return r;
  }
  return num((stream.tags as Json | undefined)?.rotate) ?? 0;
}

