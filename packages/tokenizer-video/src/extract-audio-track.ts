import type { ContinuousTokens, ModalityInput } from '@omnitok/core';
import { type AudioFeatures, type AudioPreset, audioTokenizer, type DecodedAudio } from '@omnitok/tokenizer-audio';
import type { DecodedVideo } from './decode-video.js';

/** Options of {@link extractAudioTrack}. */
export interface AudioTrackOptions {
  readonly signal?: AbortSignal;
  /** ffmpeg timeout in ms. Default: the audio package's (120 000). */
  readonly timeoutMs?: number;
  /** Seconds to skip (e.g. the video window's start, to pair the same moment). Default 0. */
  readonly start?: number;
  /** Seconds to read; default: what the audio preset looks at (Whisper 30 s, …). */
  readonly duration?: number;
}

/** The audio track of a video, through `@omnitok/tokenizer-audio`: decoded samples, features, tokens. */
export interface AudioTrack {
  readonly decoded: DecodedAudio;
  readonly features: AudioFeatures;
  readonly tokens: ContinuousTokens;
}

/**
 * Hands a video's audio track to the audio tokenizer with one of its presets (`whisper-80`, `ast`,
 * `imagebind`, …), for video ↔ audio pairs. Accepts the same inputs as `decode` or an already
 * decoded video. A file without an audio stream throws the audio package's `DecodeError`.
 */
export async function extractAudioTrack(
  input: ModalityInput | DecodedVideo,
  audioPreset?: string | AudioPreset,
  options: AudioTrackOptions = {},
): Promise<AudioTrack> {
  const audio = audioTokenizer();
  let source: ModalityInput;
  if (isDecodedVideo(input)) source = input.path ?? { bytes: input.bytes ?? new Uint8Array(0), name: input.source.startsWith('<') ? `video.${input.format}` : input.source };
  else source = input;
  const decoded = await audio.decode(source, { preset: audioPreset, signal: options.signal, timeoutMs: options.timeoutMs, start: options.start, duration: options.duration });
  const features = audio.preprocess(decoded, audioPreset) as AudioFeatures;
  return { decoded, features, tokens: audio.tokenize(features) };
}

function isDecodedVideo(x: unknown): x is DecodedVideo {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'video' && 'probe' in x;
}
