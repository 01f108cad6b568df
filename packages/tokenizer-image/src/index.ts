/**
 * @omnitok/tokenizer-image — images to ViT patch tokens with PIL-exact CLIP / SigLIP / ImageNet
 * preprocessing. Nothing registers itself on import: create the plugin with `imageTokenizer()` and
 * pass it to `createModalityRegistry`, or call the stage functions directly.
 */
export { imageTokenizer, type ImageTokenizer, type ImageTokenizerOptions } from './image-tokenizer.js';
export { decodeImage, DEFAULT_MAX_PIXELS, jpegDecoderInUse, type DecodedImage, type ImageDecodeOptions } from './decode-image.js';
export {
  preprocessImage,
  preprocessImageInto,
  preprocessImageIntoAsync,
  nativePreprocessAvailable,
  type FeatureLayout,
  type ImagePreprocessOptions,
  prepareImagePreset,
  type ImageFeatures,
  type PreparedImagePreset,
} from './preprocess-image.js';
export { patchify, patchifyInto } from './patchify.js';
export {
  preprocessImageBatch,
  tokenizeImageBatch,
  batchItemSeed,
  type ImageBatchOptions,
  type ImageBatchFailure,
  type ImageFeatureBatch,
  type ImageTokenBatch,
} from './batch.js';
export {
  IMAGE_PRESETS,
  DEFAULT_IMAGE_PRESET,
  CLIP_MEAN,
  CLIP_STD,
  IMAGENET_MEAN,
  IMAGENET_STD,
  validateImagePreset,
  naflexSize,
  type ImagePreset,
  type ImageAugmentation,
  type ResolvedImagePreset,
} from './presets.js';
export { imagePresetFromHfProcessor, imagePresetFromOpenClip, type HfImageProcessorConfig, type OpenClipPreprocessConfig } from './hf-preset.js';
export { IMAGE_FILE_TYPES, sniffImageFormat } from './file-types.js';
export { resizeView, axisCoefficients, INTERPOLATIONS, type Interpolation, type PixelView, type OutputWindow } from './resample.js';
export { mulberry32, drawAugmentation, randomResizedCropBox, roundHalfEven, type CropBox, type AugmentationDraw } from './random-resized-crop.js';
