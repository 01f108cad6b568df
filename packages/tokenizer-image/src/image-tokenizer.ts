import { type ContinuousTokens, continuousTokens, type ModalityInput, type ModalityPlugin, MODALITY_SPEC_VERSION, type PreprocessOptions } from '@omnitok/core';
import { type DecodedImage, decodeImage, type ImageDecodeOptions } from './decode-image.js';
import { IMAGE_FILE_TYPES } from './file-types.js';
import { checkPatch, patchify } from './patchify.js';
import { type ImageFeatures, type ImagePreprocessOptions, prepareImagePreset, preprocessImage, preprocessImageIntoAsync } from './preprocess-image.js';
import { DEFAULT_IMAGE_PRESET, IMAGE_PRESETS, type ImagePreset } from './presets.js';

/** Options of {@link imageTokenizer}. */
export interface ImageTokenizerOptions {
  /** Extra named presets (validated now; a bad one throws `BadPresetError`), added to the built-in ones. */
  readonly presets?: Readonly<Record<string, ImagePreset>>;
  /** The preset used when none is given; default `clip-vit-b-16`. */
  readonly defaultPreset?: string;
  /** Decode defaults (pixel limit, alpha handling, ICC); per-call decode options override them. */
  readonly decode?: ImageDecodeOptions;
}

/** The image modality plugin's type. */
export type ImageTokenizer = ModalityPlugin<DecodedImage, ImagePreset, ImageFeatures, ContinuousTokens> & {
  /**
   * `tokenize(preprocess(…))` in one pass: resized and normalized straight into patch order — on
   * libuv's thread pool when `@omnitok/native-kernels` is installed — the same tokens bit for bit.
   */
  preprocessAndTokenize(decoded: DecodedImage, preset?: string | ImagePreset, options?: ImagePreprocessOptions): Promise<ContinuousTokens>;
};

const VERSION = '0.1.0';

/**
 * Creates the `image` modality plugin: JPEG / PNG / WebP / GIF / TIFF / AVIF → RGB (`decode`) →
 * `[3, H, W]` normalized features matching the PIL + torchvision reference (`preprocess`) → ViT patch
 * tokens `[N, 3·P·P]` (`tokenize`). Registers nothing; pass it to `createModalityRegistry`.
 */
export function imageTokenizer(options: ImageTokenizerOptions = {}): ImageTokenizer {
  const presets: Record<string, ImagePreset> = { ...IMAGE_PRESETS, ...(options.presets ?? {}) };
  const defaultPreset = options.defaultPreset ?? DEFAULT_IMAGE_PRESET;
  // Validate eagerly, so a bad custom preset fails at construction and names its field.
  for (const name of Object.keys(options.presets ?? {})) prepareImagePreset(name, presets, defaultPreset);
  prepareImagePreset(defaultPreset, presets, defaultPreset);
  const decodeDefaults = options.decode ?? {};
  return {
    specVersion: MODALITY_SPEC_VERSION as 1,
    name: 'image',
    modality: 'image',
    description: 'Images (JPEG, PNG, WebP, GIF, TIFF, AVIF) to ViT patch tokens with PIL-exact CLIP / SigLIP / ImageNet preprocessing',
    version: VERSION,
    presets,
    defaultPreset,
    tokenKind: 'continuous',
    fileTypes: IMAGE_FILE_TYPES,
    decode: (input: ModalityInput, decodeOptions?: ImageDecodeOptions) => decodeImage(input, { ...decodeDefaults, ...decodeOptions }),
    preprocess: (decoded: DecodedImage, preset?: string | ImagePreset, preprocessOptions?: PreprocessOptions) =>
      preprocessImage(decoded, prepareImagePreset(preset, presets, defaultPreset), preprocessOptions),
    tokenize: (features: ImageFeatures) => patchify(features),
    async preprocessAndTokenize(decoded: DecodedImage, preset?: string | ImagePreset, preprocessOptions: ImagePreprocessOptions = {}) {
      const p = prepareImagePreset(preset, presets, defaultPreset);
      if (p.preset.resize === 'naflex') return patchify(preprocessImage(decoded, p, preprocessOptions)); // a size per image: no fused path
      const { channels: C, height: H, width: W } = p;
      const P = checkPatch(p.preset.patchSize, H, W);
      const data = new Float32Array(C * H * W);
      await preprocessImageIntoAsync(decoded, p, preprocessOptions, data, 0, 'patches');
      return continuousTokens({ data, shape: [(H / P) * (W / P), C * P * P], grid: [H / P, W / P], modality: 'image', preset: p.name, source: decoded.source });
    },
  };
}
