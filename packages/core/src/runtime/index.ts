/**
 * @omnitok/core/runtime — a small transformer runtime on TensorFlow.js: backends, layers, encoders,
 * AdamW training, checkpoints and Hugging Face CLIP weight import. See packages/core/RUNTIME.md.
 *
 * This entry imports @tensorflow/tfjs (an optional peer of @omnitok/core); the main `@omnitok/core`
 * entry never does.
 */
export { initBackend, probeBackend, BACKEND_NAMES, TENSORFLOW_HINT, WEBGPU_HINT } from './backend.js';
export type { BackendName, BackendChoice, BackendInfo, InitBackendOptions, TF } from './backend.js';
export { NonFiniteError, BackendUnavailableError, WeightImportError, CheckpointError, OutOfMemoryError, DeviceError, asOutOfMemory, RuntimeErrorCode } from './errors.js';
export { watchDeviceErrors, takeDeviceErrors, throwOnDeviceErrors, type NotedDeviceError } from './device-errors.js';
export { Rng, type RngState } from './rng.js';
export { Module, check } from './module.js';
export { Linear, linear, type LinearOptions } from './layers/linear.js';
export { LayerNorm } from './layers/layer-norm.js';
export { gelu, logSigmoid, GELU_KINDS, type GeluKind } from './layers/activations.js';
export { l2Normalize, pairedCrossEntropy } from './layers/contrastive.js';
export { Dropout } from './layers/dropout.js';
export { MultiHeadAttention, type AttentionMask } from './layers/attention.js';
export { Mlp } from './layers/mlp.js';
export { Block, LayerScale, type BlockOptions } from './layers/block.js';
export { gradCheckpoint } from './grad-checkpoint.js';
export { sincos1d, sincosTable, sincosTensor, interpolatePosEmbed } from './layers/pos-embed.js';
export { PatchEmbed, TokenEmbed, embeddingLookup } from './layers/embedders.js';
export {
  MODEL_SIZES,
  resolveEncoderConfig,
  type EncoderConfig,
  type EncoderConfigInput,
  type TokensConfig,
  type Pooling,
  type PosEmbKind,
  type SizeName,
} from './config.js';
export { TransformerEncoder, MapHead, createEncoder, poolTokens, type EncodeOptions, type EncoderOutput } from './encoder.js';
export { repeatBatch } from './layers/repeat-batch.js';
export {
  AdamW,
  LossScaler,
  skipNonFiniteStep,
  GuardedSteps,
  Trainer,
  warmupCosine,
  globalNorm,
  clipByGlobalNorm,
  defaultNoDecay,
  type AdamWOptions,
  type DecayFilter,
  type TrainerOptions,
  type LossScale,
  type StepResult,
  type GuardOutcome,
  type QueuedStep,
  type WarmupCosineOptions,
} from './optim.js';
export {
  saveCheckpoint,
  loadCheckpoint,
  listCheckpoints,
  latestCheckpoint,
  pruneCheckpoints,
  checkpointName,
  CHECKPOINT_FORMAT,
  type CheckpointContents,
  type LoadedCheckpoint,
} from './checkpoint.js';
export { importHfClip, type HfClipImportOptions, type HfClipImportReport, type HfFamily, type PatchLayout } from './hf-clip-import.js';
/** omnitok's WebGPU kernels on/off (benchmarks compare them with TensorFlow.js' own; on by default). */
export {
  setWebgpuKernels,
  setWebgpuMatmulPrecision,
  webgpuKernelsActive,
  webgpuBindGroupCacheStats,
  webgpuDirectDispatches,
  webgpuAdamWGroupSize,
  webgpuMatmulPrecision,
  type BindGroupCacheStats,
  type MatmulPrecision,
  type MatmulPrecisionState,
} from './kernels/webgpu/webgpu-kernels.js';
