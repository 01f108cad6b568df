import { resolvePreset, type ModalityInput, type ModalityPlugin, type PreprocessOptions, type ContinuousTokens } from '@omnitok/core';
import { computeAudioFeatures, type AudioFeatures } from './audio-features.js';
import { decodeAudio } from './decode-audio.js';
import type { AudioDecodeOptions, DecodedAudio } from './decoded-audio.js';
import { AUDIO_FILE_TYPES } from './file-types.js';
import { patchifySpectrogram } from './patchify.js';
import { AUDIO_PRESETS, DEFAULT_AUDIO_PRESET, presetWindowSeconds, validateAudioPreset, type AudioPreset } from './presets.js';

export interface AudioTokenizerOptions {
  /** The preset used when none is given (a name or an inline preset). Default `whisper-80`. */
  readonly preset?: string | AudioPreset;
  /** Extra named presets, merged over the built-in ones. */
  readonly presets?: Readonly<Record<string, AudioPreset>>;
  /**
   * Seconds `decode` reads when the preset needs the whole input (clip presets such as ImageBind, or
   * `frames: null`): this bounds memory on hour-long files. Default 600.
   */
  readonly maxDuration?: number;
  /** ffmpeg / ffprobe timeout in ms. Default 120 000. */
  readonly timeoutMs?: number;
}

/** The plugin's `decode` options: {@link AudioDecodeOptions} plus the preset to decode for. */
export interface AudioPluginDecodeOptions extends AudioDecodeOptions {
  /**
   * Decode for this preset (default: the factory's): mono, at its rate, and only the seconds it looks
   * at (Whisper 30 s, AST 10.24 s; `maxDuration` for clip presets) unless `duration` says otherwise.
   */
  readonly preset?: string | AudioPreset;
}

/** The audio plugin: a `ModalityPlugin` whose `preprocess` is synchronous. */
export type AudioPlugin = Omit<ModalityPlugin<DecodedAudio, AudioPreset, AudioFeatures, ContinuousTokens>, 'decode' | 'preprocess'> & {
  decode(input: ModalityInput, options?: AudioPluginDecodeOptions): Promise<DecodedAudio>;
  preprocess(decoded: DecodedAudio, preset?: string | AudioPreset, options?: PreprocessOptions): AudioFeatures;
};

const PACKAGE_VERSION = '0.1.0';

/**
 * The audio modality plugin: `decode` (WAV natively, everything else via ffmpeg) → `preprocess` (a
 * preset's log-mel, `[mels, frames]`) → `tokenize` (spectrogram patches). Registers nothing on import.
 *
 * ```ts
 * const audio = audioTokenizer();
 * const decoded = await audio.decode('speech.wav', { preset: 'ast' });
 * const features = audio.preprocess(decoded, 'ast'); // [128, 1024]
 * const tokens = audio.tokenize(features);           // 1212 × 256, grid [12, 101]
 * ```
 */
export function audioTokenizer(options: AudioTokenizerOptions = {}): AudioPlugin {
  const presets: Readonly<Record<string, AudioPreset>> = Object.freeze({ ...AUDIO_PRESETS, ...(options.presets ?? {}) });
  for (const [name, p] of Object.entries(options.presets ?? {})) validateAudioPreset(p, name);
  const defaultName = typeof options.preset === 'string' ? options.preset : DEFAULT_AUDIO_PRESET;
  const fallback: string | AudioPreset = options.preset ?? DEFAULT_AUDIO_PRESET;
  const maxDuration = options.maxDuration ?? 600;

  const resolve = (preset: string | AudioPreset | undefined): { name: string; preset: AudioPreset } => {
    const r = resolvePreset<AudioPreset>('audio', presets, preset ?? fallback, DEFAULT_AUDIO_PRESET);
    return { name: r.name, preset: validateAudioPreset(r.preset, r.name) };
  };
  resolve(undefined); // fail fast on a bad default

  return {
    specVersion: 1,
    name: 'audio',
    modality: 'audio',
    description: 'Audio → log-mel spectrogram patches (Whisper log-mel, AST / ImageBind Kaldi fbank); WAV natively, other formats via ffmpeg',
    version: PACKAGE_VERSION,
    presets,
    defaultPreset: presets[defaultName] ? defaultName : DEFAULT_AUDIO_PRESET,
    tokenKind: 'continuous',
    fileTypes: AUDIO_FILE_TYPES,

    async decode(input: ModalityInput, o: AudioPluginDecodeOptions = {}): Promise<DecodedAudio> {
      const { preset } = resolve(o.preset);
      const window = presetWindowSeconds(preset);
      return decodeAudio(input, {
        ...o,
        timeoutMs: o.timeoutMs ?? options.timeoutMs,
        mono: o.mono ?? (preset.channels === 'first' ? 'first' : true),
        sampleRate: o.sampleRate ?? preset.sampleRate,
        duration: o.duration ?? window ?? maxDuration,
      });
    },

    preprocess(decoded: DecodedAudio, preset?: string | AudioPreset, _options?: PreprocessOptions): AudioFeatures {
      const r = resolve(preset);
      return computeAudioFeatures(decoded, r.preset, r.name);
    },

    tokenize(features: AudioFeatures): ContinuousTokens {
      return patchifySpectrogram(features);
    },
  };
}
