import { type ContinuousTokens, MODALITY_SPEC_VERSION, type ModalityInput, type ModalityPlugin, type TokenSpec } from '@omnitok/core';
import { decodeVideo, type DecodedVideo, type VideoDecodeOptions } from './decode-video.js';
import { VIDEO_FILE_TYPES } from './file-types.js';
import { preprocessVideo, resolveVideoPreset, tokenizeVideo, type VideoFeatures, type VideoPreprocessOptions, type VideoTokens } from './preprocess-video.js';
import { DEFAULT_VIDEO_PRESET, VIDEO_PRESETS, type VideoPreset } from './presets.js';
import { tubeletize } from './tubeletize.js';

/** Options of {@link videoTokenizer}. */
export interface VideoTokenizerOptions {
  /** Extra named presets (validated now; a bad one throws `BadPresetError`), added to the built-in ones. */
  readonly presets?: Readonly<Record<string, VideoPreset>>;
  /** The preset used when none is given; default `videomae-16x224`. */
  readonly defaultPreset?: string;
  /** ffprobe / ffmpeg timeout per process in ms; default 30 000 for probing, 120 000 for decoding. */
  readonly timeoutMs?: number;
  /** See `ReadFramesOptions.seekGap`. Default 3 s. */
  readonly seekGap?: number;
}

/** The video modality plugin's type. */
export type VideoTokenizer = ModalityPlugin<DecodedVideo, VideoPreset, VideoFeatures, ContinuousTokens> & {
  decode(input: ModalityInput, options?: VideoDecodeOptions): Promise<DecodedVideo>;
  preprocess(decoded: DecodedVideo, preset?: string | VideoPreset, options?: VideoPreprocessOptions): Promise<VideoFeatures>;
  /** `tokenize(await preprocess(…))` in one pass (see `tokenizeVideo`). */
  preprocessAndTokenize(decoded: DecodedVideo, preset?: string | VideoPreset, options?: VideoPreprocessOptions): Promise<VideoTokens>;
};

const VERSION = '0.1.0';

/**
 * Creates the `video` modality plugin: MP4 / MOV / WebM / MKV / AVI → probed stream (`decode`) →
 * sampled frames streamed from ffmpeg and preprocessed by the image package into `[T, C, H, W]`
 * (`preprocess`) → tubelet tokens `[N, C·t·P·P]` (`tokenize`). Registers nothing on import.
 *
 * ```ts
 * const video = videoTokenizer();
 * const decoded = await video.decode('clip.mp4');
 * const features = await video.preprocess(decoded, 'videomae-16x224'); // [16, 3, 224, 224]
 * const tokens = video.tokenize(features);                            // 1568 × 1536, grid [8, 14, 14]
 * ```
 */
export function videoTokenizer(options: VideoTokenizerOptions = {}): VideoTokenizer {
  const presets: Readonly<Record<string, VideoPreset>> = Object.freeze({ ...VIDEO_PRESETS, ...(options.presets ?? {}) });
  const defaultPreset = options.defaultPreset ?? DEFAULT_VIDEO_PRESET;
  for (const name of Object.keys(options.presets ?? {})) resolveVideoPreset(name, presets, defaultPreset);
  resolveVideoPreset(defaultPreset, presets, defaultPreset);
  // the plugin's reading options under each call's own
  const withDefaults = (o?: VideoPreprocessOptions): VideoPreprocessOptions => ({ timeoutMs: options.timeoutMs, seekGap: options.seekGap, ...o });
  return {
    specVersion: MODALITY_SPEC_VERSION as 1,
    name: 'video',
    modality: 'video',
    description: 'Video (MP4, MOV, WebM, MKV, AVI via ffmpeg) to VideoMAE / ViViT / ImageBind tubelet tokens',
    version: VERSION,
    presets,
    defaultPreset,
    tokenKind: 'continuous',
    fileTypes: VIDEO_FILE_TYPES,
    describeTokens(preset?: string | VideoPreset): TokenSpec {
      const r = resolveVideoPreset(preset, presets, defaultPreset);
      const [t, ph, pw] = r.tubelet;
      const inner = [r.framesPerClip / t, r.height / ph, r.width / pw];
      const grid = r.clips > 1 ? [r.clips, ...inner] : inner;
      return {
        kind: 'continuous',
        dim: r.channels * t * ph * pw,
        tokens: grid.reduce((a, b) => a * b, 1),
        variable: r.variable || undefined,
        grid,
      };
    },
    decode: (input: ModalityInput, decodeOptions?: VideoDecodeOptions) => decodeVideo(input, { timeoutMs: options.timeoutMs, ...decodeOptions }),
    preprocess: (decoded: DecodedVideo, preset?: string | VideoPreset, o?: VideoPreprocessOptions) =>
      preprocessVideo(decoded, preset, withDefaults(o), presets, defaultPreset),
    tokenize: (features: VideoFeatures) => tubeletize(features),
    preprocessAndTokenize: (decoded: DecodedVideo, preset?: string | VideoPreset, o?: VideoPreprocessOptions) =>
      tokenizeVideo(decoded, preset, withDefaults(o), presets, defaultPreset),
  };
}
