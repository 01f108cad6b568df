import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecodeError, type DecodeOptions, fileTypeByExtension, type ModalityInput, normalizeInput, readFileHead, UnsupportedFormatError } from '@omnitok/core';
import { SUPPORTED_VIDEO_FORMATS, sniffVideoFormat, VIDEO_FILE_TYPES } from './file-types.js';
import { FfprobeFailure, probeVideo, type VideoProbe, type VideoStreamInfo } from './probe-video.js';

/**
 * A decoded video: the probed stream, not its pixels. Frames are pulled from ffmpeg lazily by
 * `preprocessVideo` / `readFrames`, only the ones a preset samples, so a 2-hour file never sits in memory.
 * This is the video plugin's raw form.
 */
export interface DecodedVideo {
  readonly kind: 'video';
  /** The input's path, or `<N bytes>` / the given name, for messages and token metadata. */
  readonly source: string;
  /** The file ffmpeg reads; absent for byte input (written to a temp file per read). */
  readonly path?: string;
  readonly bytes?: Uint8Array;
  /** Container from the magic bytes (`mp4`, `mov`, `webm`, `mkv`, `avi`) or ffprobe's name. */
  readonly format: string;
  readonly probe: VideoProbe;
  /** The video stream that frames come from. */
  readonly video: VideoStreamInfo;
  /** Frame size after rotation, as frames are delivered. */
  readonly width: number;
  readonly height: number;
  readonly fps: number;
  readonly duration: number;
  readonly frameCount: number;
  readonly hasAudio: boolean;
  /** Things that were off but usable. */
  readonly warnings: readonly string[];
}

/** Options of {@link decodeVideo}. */
export interface VideoDecodeOptions extends DecodeOptions {
  /** Kill ffprobe after this many ms. Default 30 000. */
  readonly timeoutMs?: number;
}

/**
 * Opens a video: checks the input, runs ffprobe (JSON) and returns the stream description.
 *
 * Errors, all naming the input: `DecodeError` for a missing or empty file, a file ffprobe cannot parse
 * although its magic bytes say video, a file without a video stream (audio only), a stream without
 * size or duration, or an ffprobe timeout; `UnsupportedFormatError` for text input and for unknown bytes
 * that ffprobe does not recognize either.
 */
export async function decodeVideo(input: ModalityInput, options: VideoDecodeOptions = {}): Promise<DecodedVideo> {
  const norm = normalizeInput(input);
  const label = norm.label;
  if (norm.kind === 'text') throw new UnsupportedFormatError(label, 'text', SUPPORTED_VIDEO_FORMATS);
  options.signal?.throwIfAborted();
  const head = norm.kind === 'bytes' ? norm.bytes!.subarray(0, 64) : await readFileHead(norm.path!, 64, 'video', label);
  if (head.length === 0) throw new DecodeError(label, 'video', 'the file is empty (0 bytes)');
  const sniffed = sniffVideoFormat(head);

  let probe: VideoProbe;
  try {
    probe = await withVideoFile({ path: norm.path, bytes: norm.bytes, source: label }, (path) => probeVideo(path, options));
  } catch (error) {
    if (!(error instanceof FfprobeFailure)) throw error;
    if (error.kind === 'aborted') throw options.signal?.reason ?? error;
    if (error.kind === 'failed' && !sniffed) {
      // named like a video (x.mp4) but neither its bytes nor ffprobe say so: corrupt or mislabelled
      const named = fileTypeByExtension(VIDEO_FILE_TYPES, norm.extension);
      if (named) throw new DecodeError(label, 'video', `named .${norm.extension}, but its bytes are not ${named.format} nor anything ffprobe reads (${error.message}): corrupt or mislabelled`, { cause: error });
      throw new UnsupportedFormatError(label, norm.extension, SUPPORTED_VIDEO_FORMATS, { cause: error });
    }
    throw new DecodeError(label, 'video', `ffprobe cannot read it (${error.message})`, { cause: error });
  }
  const video = probe.video;
  if (!video) {
    const what = probe.audio ? `audio only: ${probe.audio.codec}; use the audio tokenizer` : `streams: ${probe.streams.map((s) => s.type).join(', ') || 'none'}`;
    throw new DecodeError(label, 'video', `it has no video stream (${probe.container}, ${what})`);
  }
  if (!(video.width > 0 && video.height > 0)) throw new DecodeError(label, 'video', `ffprobe reports no frame size for its ${video.codec} stream`);
  if (!(video.duration > 0 || (!video.frameCountEstimated && video.frameCount > 0))) {
    throw new DecodeError(label, 'video', `its ${video.codec} stream has no duration and no frame count`);
  }
  const warnings: string[] = [];
  if (video.variableFrameRate) {
    warnings.push(`variable frame rate (avg ${video.avgFrameRate}, r ${video.rFrameRate}): frames are taken at times i / ${round(video.fps)} s on the average-rate grid`);
  }
  return {
    kind: 'video',
    source: label,
    path: norm.path,
    bytes: norm.kind === 'bytes' ? norm.bytes : undefined,
    format: sniffed ?? probe.container,
    probe,
    video,
    width: video.width,
    height: video.height,
    fps: video.fps,
    duration: video.duration > 0 ? video.duration : video.frameCount / video.fps,
    frameCount: Math.max(1, video.frameCount),
    hasAudio: probe.audio !== undefined,
    warnings,
  };
}

const round = (x: number) => Math.round(x * 1000) / 1000;


/**
 * Runs `fn` with a path ffmpeg can seek in: the input's own path, or a temp file holding its bytes
 * (MP4 may keep its index at the end, so a pipe would not do), removed afterwards.
 */
export async function withVideoFile<T>(src: { path?: string; bytes?: Uint8Array; source: string }, fn: (path: string) => Promise<T>): Promise<T> {
  if (src.path) return fn(src.path);
  const dir = await mkdtemp(join(tmpdir(), 'omnitok-video-'));
  try {
    const path = join(dir, 'input');
    await writeFile(path, src.bytes ?? new Uint8Array(0));
    return await fn(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
