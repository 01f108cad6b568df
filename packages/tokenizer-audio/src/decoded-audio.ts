import type { DecodeOptions } from '@omnitok/core';

/**
 * Decoded audio: float32 samples in [−1, 1], channel-interleaved — frame `i`, channel `c` is
 * `samples[i * channels + c]` (mono is simply one value per frame).
 */
export interface DecodedAudio {
  readonly samples: Float32Array;
  readonly sampleRate: number;
  readonly channels: number;
  /** Seconds held in `samples` (frames / sampleRate). */
  readonly duration: number;
  /** Where `samples[0]` sits in the source, in seconds. */
  readonly start: number;
  /** The whole source's duration in seconds, when the container says. */
  readonly totalDuration?: number;
  /** The input's path, or `<N bytes>` / the given name. */
  readonly source: string;
  /** Container: `wav`, `mp3`, `flac`, `ogg`, `m4a`, … (or ffprobe's container name). */
  readonly format: string;
  /** Codec: `pcm16`, `f32`, `mp3`, `opus`, … */
  readonly codec: string;
  /** Things that were off but decodable (a data chunk longer than the file, a partial last frame, …). */
  readonly warnings: readonly string[];
}

/** Options of `decodeAudio` (and of the plugin's `decode`). */
export interface AudioDecodeOptions extends DecodeOptions {
  /** Seconds to skip from the start. Default 0. */
  readonly start?: number;
  /** Decode at most this many seconds (the rest is never decoded). Default: everything. */
  readonly duration?: number;
  /** Resample to this rate (WAV: the built-in Kaiser resampler; other formats: ffmpeg `-ar`). */
  readonly sampleRate?: number;
  /** One channel: `true` / `'mix'` averages the channels, `'first'` keeps channel 0. Default false (keep them all). */
  readonly mono?: boolean | 'mix' | 'first';
  /** Kill ffmpeg / ffprobe after this many ms. Default 120 000. */
  readonly timeoutMs?: number;
}
