/**
 * @omnitok/clip — cross-modal alignment on TensorFlow.js.
 *
 * Losses (CLIP softmax, SigLIP sigmoid, chunked forms), towers over the @omnitok/core runtime, a
 * training step with gradient caching, and zero-shot / retrieval evaluation on plain Float32Arrays.
 * Nothing is registered or allocated on import.
 */
export { clipLoss, type ContrastiveLossOptions } from './loss/clip-loss.js';
export { sigmoidLoss } from './loss/sigmoid-loss.js';
export { l2Normalize, type ScalarLike } from './loss/scalar.js';
export {
  CLIP_LOGIT_SCALE_INIT,
  CLIP_LOGIT_SCALE_MAX,
  SIGLIP_LOGIT_SCALE_INIT,
  SIGLIP_LOGIT_BIAS_INIT,
  createLogitScale,
  createSigmoidParams,
  clampLogitScale,
} from './loss/logit-scale.js';
export { type Embeddings, type EmbeddingFormat, encodeEmbeddings, normalizeRows, checkEmbeddings } from './eval/embeddings.js';
export { OPENAI_IMAGENET_TEMPLATES, PROMPT_TEMPLATE_SETS, SIMPLE_IMAGENET_TEMPLATES } from './eval/templates.js';
export { CLASS_NAME_SETS, IMAGENET_CLASSNAMES } from './eval/imagenet-classnames.js';
export { retrievalMetrics, rankMetrics, type RankMetrics, type RetrievalMetrics, type RetrievalOptions, type RetrievalPositives } from './eval/retrieval.js';
export {
  zeroShotPrompts,
  zeroShotClassifier,
  buildZeroShotClassifier,
  zeroShotAccuracy,
  zeroShotProbabilities,
  type PromptTemplate,
  type ZeroShotResult,
} from './eval/zero-shot.js';
export {
  ClipModel,
  createClipModel,
  createBindModel,
  type ClipModelConfig,
  type Objective,
  type PairParams,
  type PairLosses,
} from './model/clip-model.js';
export { EncoderTower, SharedTrunkTower, type Tower, type TowerInput, type TowerSpec, sliceInput, batchSize } from './model/tower.js';
export { createTrainer, type ClipTrainer, type ClipBatch, type TrainerConfig, type StepStats, type Gradients } from './train/trainer.js';
export {
  hfClipLogits,
  hfModelFamily,
  hfClipModelConfig,
  importHfClipWeights,
  hfClipShapes,
  isHfClipConfig,
  loadHfClip,
  type HfClipConfig,
  type HfClipOptions,
  type LoadHfClipOptions,
  type HfClipShapes,
  type HfClipTextConfig,
  type HfClipVisionConfig,
  type LoadedHfClip,
} from './pretrained/hf-clip.js';
export { isHfClipDir, loadHfClipDir, readHfClipDir, readHfClipWeights, type HfClipDir } from './pretrained/hf-clip-dir.js';
export { hfHubCacheDir, type HfHubOptions, type HfModelId, parseHfModelId, resolveHfClip } from './pretrained/hf-hub.js';
export { syntheticShapes, shapesCaption, SHAPES_VOCAB, type ShapesDataset, type ShapesOptions } from './data/synthetic-shapes.js';
