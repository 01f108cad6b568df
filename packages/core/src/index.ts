/**
 * @omnitok/core — the modality-plugin contract.
 *
 * This entry is deliberately light: types, the registry, typed errors and array writers. It never
 * imports TensorFlow.js, so a tokenizer package can depend on it and install alone.
 */
export * from './errors/index.js';
export {
  MODALITY_SPEC_VERSION,
  SUPPORTED_SPEC_VERSIONS,
  defineModalityPlugin,
  type ModalityPlugin,
  type AnyModalityPlugin,
  type ModalityInput,
  type FileTypeSignature,
  type MagicPattern,
  type DecodeOptions,
  type PreprocessOptions,
  type TokenSpec,
  preprocessToTokens,
} from './plugin/modality-plugin.js';
export {
  type TokenMetadata,
  type ContinuousTokens,
  type DiscreteTokens,
  type TokenSequence,
  type Features,
  isContinuous,
  isDiscrete,
  shapeSize,
  gridPositions,
  continuousTokens,
  discreteTokens,
} from './plugin/token-sequence.js';
export { createModalityRegistry, type ModalityRegistry, type Detection } from './plugin/registry.js';
export { resolvePreset, type ResolvedPreset } from './plugin/presets.js';
export { normalizeInput, readInputBytes, readFileHead, extensionOf, type NormalizedInput } from './plugin/input.js';
export { ascii, fileTypeByExtension, matchesMagic } from './plugin/file-type.js';
export { isJsonValue, type JsonValue } from './plugin/json.js';
export { doubleToRational, rationalToDouble } from './numeric/exact-rational.js';
export { mulberry32 } from './numeric/mulberry32.js';
export * from './io/index.js';
export { loadOptionalNativeKernels, type OptionalNativeKernels, type NativeSpawnResult } from './native/optional-native-kernels.js';
export { spawnTool, toolSpawner, type ToolProcess, type SpawnToolOptions, type StdoutReader } from './native/spawn-tool.js';
