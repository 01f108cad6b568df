import { decodeSafetensors, InvalidArgumentError, type SafetensorsFile } from '@omnitok/core';
import { type HfClipImportReport, type HfFamily, importHfClip } from '@omnitok/core/runtime';
import { ClipModel, type ClipModelConfig } from '../model/clip-model.js';
import { EncoderTower, type TowerSpec } from '../model/tower.js';

/**
 * A Hugging Face `config.json` of a `CLIPModel` (`model_type: "clip"`) or a `SiglipModel`
 * (`"siglip"`): the fields the architecture reads; everything else is ignored. Absent fields take
 * transformers' defaults (`CLIPVisionConfig` / `CLIPTextConfig`: openai/clip-vit-base-patch32;
 * `SiglipVisionConfig` / `SiglipTextConfig`: google/siglip-base-patch16-224). The legacy
 * `text_config_dict` / `vision_config_dict` override `text_config` / `vision_config`, as transformers
 * reads them.
 */
export interface HfClipConfig {
  /** open_clip's `open_clip_config.json` (family `open_clip`): the model and its preprocessing. */
  readonly model_cfg?: OpenClipModelCfg;
  readonly preprocess_cfg?: Record<string, unknown>;
  readonly model_type?: string;
  readonly architectures?: readonly string[];
  /** CLIP: the width of both projections. */
  readonly projection_dim?: number;
  readonly logit_scale_init_value?: number;
  readonly text_config?: HfClipTextConfig;
  readonly vision_config?: HfClipVisionConfig;
  readonly text_config_dict?: HfClipTextConfig;
  readonly vision_config_dict?: HfClipVisionConfig;
}

interface HfEncoderFields {
  readonly hidden_size?: number;
  readonly intermediate_size?: number;
  readonly num_hidden_layers?: number;
  readonly num_attention_heads?: number;
  readonly hidden_act?: string;
  readonly layer_norm_eps?: number;
}

export interface HfClipVisionConfig extends HfEncoderFields {
  readonly image_size?: number;
  readonly patch_size?: number;
  readonly num_channels?: number;
  /** SigLIP: the attention-pooling head (default true; without it the model has no image embedding). */
  readonly vision_use_head?: boolean;
}

export interface HfClipTextConfig extends HfEncoderFields {
  readonly vocab_size?: number;
  readonly max_position_embeddings?: number;
  readonly eos_token_id?: number;
  /** SigLIP: the text head's output width (default hidden_size). */
  readonly projection_size?: number;
}

/** open_clip's `model_cfg` (the ViT + transformer CLIP; timm, Hugging Face and ResNet towers are refused). */
export interface OpenClipModelCfg {
  readonly embed_dim?: number;
  readonly quick_gelu?: boolean;
  readonly custom_text?: boolean;
  readonly vision_cfg?: Record<string, unknown>;
  readonly text_cfg?: Record<string, unknown>;
  readonly [key: string]: unknown;
}

/** The resolved shapes of a pretrained model (what the tokenizers must produce for it). */
export interface HfClipShapes {
  readonly family: HfFamily;
  readonly imageSize: number;
  readonly patchSize: number;
  readonly channels: number;
  readonly vocabSize: number;
  /** Text positions (77 for every released CLIP, 64 for SigLIP). */
  readonly contextLength: number;
  readonly embedDim: number;
  /** SigLIP 2 NaFlex: the position table's grid, resized to each image's (`imageSize` is then its side in pixels). */
  readonly positionGrid?: readonly [number, number];
}

export interface HfClipOptions {
  /** Tower names in the model (default `image` and `text`: the modality names the CLI pairs). */
  readonly names?: { readonly vision?: string; readonly text?: string };
  /** Seed of the model's RNG (dropout; every weight comes from the checkpoint). */
  readonly seed?: number;
  /**
   * SigLIP 2 NaFlex: patch rows per image (the processor's `max_num_patches`; default the model's
   * `num_patches`).
   */
  readonly maxPatches?: number;
}

/** Options of `loadHfClip` / `loadHfClipDir`. */
export interface LoadHfClipOptions extends HfClipOptions {
  /** Where the weights came from, for messages. */
  readonly source?: string;
  /**
   * Build and import only these towers (by name, e.g. `['image']` to embed images): the others are
   * neither allocated nor read. Default both.
   */
  readonly towers?: readonly string[];
}

const DEFAULTS = {
  clip: {
    vision: { hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5, image_size: 224, patch_size: 32, num_channels: 3 },
    text: { hidden_size: 512, intermediate_size: 2048, num_hidden_layers: 12, num_attention_heads: 8, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5, vocab_size: 49408, max_position_embeddings: 77 },
  },
  siglip: {
    vision: { hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12, hidden_act: 'gelu_pytorch_tanh', layer_norm_eps: 1e-6, image_size: 224, patch_size: 16, num_channels: 3 },
    text: { hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12, hidden_act: 'gelu_pytorch_tanh', layer_norm_eps: 1e-6, vocab_size: 32000, max_position_embeddings: 64 },
  },
  siglip2: {
    vision: { hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12, hidden_act: 'gelu_pytorch_tanh', layer_norm_eps: 1e-6, num_patches: 256, patch_size: 16, num_channels: 3 },
    text: { hidden_size: 768, intermediate_size: 3072, num_hidden_layers: 12, num_attention_heads: 12, hidden_act: 'gelu_pytorch_tanh', layer_norm_eps: 1e-6, vocab_size: 256000, max_position_embeddings: 64 },
  },
} as const;
// transformers' ACT2FN names → our GELU kinds (the exact erf GELU, its tanh approximation, x·σ(1.702x))
const ACTIVATIONS: Record<string, 'erf' | 'tanh' | 'quick'> = { quick_gelu: 'quick', gelu: 'erf', gelu_new: 'tanh', gelu_pytorch_tanh: 'tanh', gelu_fast: 'tanh' };

/** `clip` for a CLIPModel config, `siglip` for a SiglipModel, `siglip2` for a Siglip2Model (NaFlex), `open_clip` for an open_clip_config.json, else undefined. */
export function hfModelFamily(config: unknown): HfFamily | undefined {
  if (typeof config !== 'object' || config === null) return undefined;
  const c = config as HfClipConfig;
  if (typeof c.model_cfg === 'object' && c.model_cfg !== null) return 'open_clip';
  const has = (arch: string) => Array.isArray(c.architectures) && c.architectures.includes(arch);
  if (c.model_type === 'clip' || has('CLIPModel')) return 'clip';
  if (c.model_type === 'siglip' || has('SiglipModel')) return 'siglip';
  if (c.model_type === 'siglip2' || has('Siglip2Model')) return 'siglip2';
  return undefined;
}

/** True for a parsed config.json of a CLIPModel or a SiglipModel, or an open_clip_config.json. */
export function isHfClipConfig(config: unknown): config is HfClipConfig {
  return hfModelFamily(config) !== undefined;
}

function familyOf(config: HfClipConfig): HfFamily {
  const family = hfModelFamily(config);
  if (!family) {
    const c = config as HfClipConfig | null;
    throw new InvalidArgumentError('config.json model_type', c?.model_type ?? c?.architectures, '"clip" or "siglip" (a Hugging Face CLIPModel or SiglipModel), or an open_clip_config.json with model_cfg');
  }
  return family;
}

function section(config: HfClipConfig, key: 'vision' | 'text'): Record<string, unknown> {
  const family = familyOf(config);
  if (family === 'open_clip') return openClipSection(config.model_cfg!, key);
  const a = config[`${key}_config`];
  const b = config[`${key}_config_dict`];
  for (const [name, v] of [[`${key}_config`, a], [`${key}_config_dict`, b]] as const) {
    if (v !== undefined && (typeof v !== 'object' || v === null || Array.isArray(v))) throw new InvalidArgumentError(`config.json ${name}`, v, 'an object');
  }
  return { ...DEFAULTS[family][key], ...(a ?? {}), ...(b ?? {}) };
}

// open_clip's CLIPVisionCfg / CLIPTextCfg defaults, and the fields whose other values change the
// architecture in ways the runtime does not build (refused by name rather than loaded wrongly)
const OPEN_CLIP = {
  vision: { layers: 12, width: 768, head_width: 64, mlp_ratio: 4, patch_size: 16, image_size: 224, ls_init_value: null, no_ln_pre: false, pool_type: 'tok', pos_embed_type: 'learnable', attentional_pool: false, final_ln_after_pool: false, timm_model_name: null, act_kwargs: null, norm_kwargs: null, block_type: null, qk_norm: false, scaled_cosine_attn: false, scale_heads: false, scale_attn_inner: false, scale_attn: false, scale_fc: false },
  text: { context_length: 77, vocab_size: 49408, width: 512, heads: 8, layers: 12, mlp_ratio: 4, ls_init_value: null, no_causal_mask: false, pool_type: 'argmax', proj_bias: false, proj_type: 'linear', text_arch: 'clip', embed_cls: false, hf_model_name: null, hf_tokenizer_name: null, tokenizer_kwargs: null, final_ln_after_pool: false, act_kwargs: null, norm_kwargs: null, block_type: null, qk_norm: false, scaled_cosine_attn: false, scale_heads: false, scale_attn_inner: false, scale_attn: false, scale_fc: false },
} as const;
const OPEN_CLIP_FREE = new Set(['image_size', 'layers', 'width', 'head_width', 'mlp_ratio', 'patch_size', 'ls_init_value', 'no_ln_pre', 'context_length', 'vocab_size', 'heads', 'no_causal_mask', 'proj_bias']);
const OPEN_CLIP_CHOICES = { vision: {}, text: { pool_type: ['argmax', 'last'] } } as Record<'vision' | 'text', Record<string, readonly unknown[]>>;

/** An open_clip tower config in the HF field names the rest of this file reads. */
function openClipSection(model: OpenClipModelCfg, key: 'vision' | 'text'): Record<string, unknown> {
  const raw = model[`${key}_cfg`];
  if (raw !== undefined && (typeof raw !== 'object' || raw === null || Array.isArray(raw))) throw new InvalidArgumentError(`open_clip_config.json model_cfg.${key}_cfg`, raw, 'an object');
  const c: Record<string, unknown> = { ...OPEN_CLIP[key], ...(raw ?? {}) };
  for (const [field, fallback] of Object.entries(OPEN_CLIP[key])) {
    const v = c[field];
    const ok = OPEN_CLIP_FREE.has(field) || v === fallback || (v === undefined && fallback === null) || (OPEN_CLIP_CHOICES[key][field]?.includes(v) ?? false);
    if (!ok) throw new InvalidArgumentError(`open_clip_config.json model_cfg.${key}_cfg.${field}`, v, `${JSON.stringify(fallback)} (other values are not supported)`);
  }
  const width = c.width as number;
  const common = { hidden_size: width, num_hidden_layers: c.layers, intermediate_size: Math.round(width * (c.mlp_ratio as number)), hidden_act: model.quick_gelu ? 'quick_gelu' : 'gelu', layer_norm_eps: 1e-5, layer_scale: c.ls_init_value ?? null };
  return key === 'vision'
    ? { ...common, num_attention_heads: width / (c.head_width as number), image_size: c.image_size, patch_size: c.patch_size, num_channels: 3, pre_norm: !c.no_ln_pre }
    : { ...common, num_attention_heads: c.heads, vocab_size: c.vocab_size, max_position_embeddings: c.context_length, causal: !c.no_causal_mask, pooling: c.pool_type === 'last' ? 'last' : 'eot', projection_bias: c.proj_bias };
}

function positive(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new InvalidArgumentError(`config.json ${field}`, value, 'a positive integer');
  return value;
}

function encoderFields(c: Record<string, unknown>, key: string) {
  const width = positive(c.hidden_size, `${key}.hidden_size`);
  const inter = positive(c.intermediate_size, `${key}.intermediate_size`);
  const gelu = ACTIVATIONS[c.hidden_act as string];
  if (!gelu) throw new InvalidArgumentError(`config.json ${key}.hidden_act`, c.hidden_act, `one of ${Object.keys(ACTIVATIONS).join(', ')}`);
  const lnEps = c.layer_norm_eps;
  if (typeof lnEps !== 'number' || !(lnEps > 0)) throw new InvalidArgumentError(`config.json ${key}.layer_norm_eps`, lnEps, 'a positive number');
  return { size: 'custom' as const, width, depth: positive(c.num_hidden_layers, `${key}.num_hidden_layers`), heads: positive(c.num_attention_heads, `${key}.num_attention_heads`), mlpRatio: inter / width, gelu, lnEps, posEmb: 'learned' as const };
}

/** The shapes a CLIPModel, SiglipModel or open_clip config implies (defaults filled in). */
export function hfClipShapes(config: HfClipConfig): HfClipShapes {
  const family = familyOf(config);
  const v = section(config, 'vision');
  const t = section(config, 'text');
  const patchSize = positive(v.patch_size, 'vision_config.patch_size');
  // NaFlex: a square table of num_patches positions, resized to each image's grid
  let positionGrid: [number, number] | undefined;
  if (family === 'siglip2') {
    const n = positive(v.num_patches, 'vision_config.num_patches');
    const side = Math.round(Math.sqrt(n));
    if (side * side !== n) throw new InvalidArgumentError('config.json vision_config.num_patches', n, 'a square number (a square position table)');
    positionGrid = [side, side];
  }
  const imageSize = positionGrid ? positionGrid[0] * patchSize : positive(v.image_size, 'vision_config.image_size');
  // a patch size that does not divide the image: the "valid" patch convolution keeps floor(size / patch) per side
  if (imageSize < patchSize) throw new InvalidArgumentError('config.json vision_config.patch_size', patchSize, `at most image_size (${imageSize})`);
  let embedDim: number;
  if (family === 'clip') embedDim = positive(config.projection_dim ?? 512, 'projection_dim');
  else if (family === 'open_clip') embedDim = positive(config.model_cfg!.embed_dim ?? 512, 'model_cfg.embed_dim');
  else {
    // SigLIP compares the image head's output (the vision width) with the text head's
    embedDim = positive(v.hidden_size, 'vision_config.hidden_size');
    const textOut = positive(t.projection_size ?? t.hidden_size, 'text_config.projection_size');
    if (textOut !== embedDim) throw new InvalidArgumentError('config.json text_config.projection_size', textOut, `the vision width (${embedDim})`);
    if (v.vision_use_head === false) throw new InvalidArgumentError('config.json vision_config.vision_use_head', false, 'true (the image embedding is the attention-pooling head)');
  }
  return {
    family,
    imageSize,
    patchSize,
    channels: positive(v.num_channels, 'vision_config.num_channels'),
    vocabSize: positive(t.vocab_size, 'text_config.vocab_size'),
    contextLength: positive(t.max_position_embeddings, 'text_config.max_position_embeddings'),
    embedDim,
    ...(positionGrid ? { positionGrid } : {}),
  };
}

/**
 * The `ClipModelConfig` of a Hugging Face CLIPModel or SiglipModel, or an open_clip CLIP, over
 * channel-major patch tokens (what @omnitok/tokenizer-image emits):
 *
 * - CLIP: a vision tower with CLS token, `ln_pre`, bias-free patch projection, learned positions and a
 *   bias-free projection; a causal text tower pooled at the end-of-text token; both projected to
 *   `projection_dim`; the softmax objective.
 * - open_clip: the same from `model_cfg` (`embed_dim`, `head_width`, `mlp_ratio`, LayerScale from
 *   `ls_init_value`, `no_ln_pre`, `quick_gelu` or the erf GELU, `no_causal_mask`, text `pool_type`
 *   `argmax` / `last`, `proj_bias`); other tower kinds are refused naming the field.
 * - SigLIP: a vision tower without CLS token pooled by the attention head (MAP), no projection; a
 *   bidirectional text tower pooled at its last position (rows padded with `</s>`, attended to: no
 *   padding mask, as it was trained) through a linear head with bias; the sigmoid objective.
 *
 * `logitScale` / `logitBias` (usually the checkpoint's) set the pair's initial temperature and bias.
 */
export function hfClipModelConfig(config: HfClipConfig, options: HfClipOptions & { readonly logitScale?: number; readonly logitBias?: number } = {}): ClipModelConfig {
  const shapes = hfClipShapes(config);
  const v = section(config, 'vision');
  const t = section(config, 'text');
  const vision = options.names?.vision ?? 'image';
  const text = options.names?.text ?? 'text';
  if (vision === text) throw new InvalidArgumentError('names', options.names, 'two different tower names');
  const side = Math.floor(shapes.imageSize / shapes.patchSize); // [H/P] whole patches, as the conv
  const dim = shapes.channels * shapes.patchSize * shapes.patchSize;
  const grid = shapes.positionGrid;
  if (options.maxPatches !== undefined && (!grid || !Number.isInteger(options.maxPatches) || options.maxPatches < 1)) throw new InvalidArgumentError('options.maxPatches', options.maxPatches, 'a positive integer, for a SigLIP 2 NaFlex model');
  // NaFlex: rows of patches padded to the processor's budget, positions from each image's own grid
  const imageTokens = grid ? ({ kind: 'continuous', dim, count: options.maxPatches ?? grid[0] * grid[1] } as const) : ({ kind: 'continuous', dim, count: side * side, grid: [side, side] } as const);
  const textTokens = { kind: 'discrete', vocabSize: shapes.vocabSize, count: shapes.contextLength } as const;
  const siglip = shapes.family === 'siglip' || shapes.family === 'siglip2';
  const layerScale = (c: Record<string, unknown>) => (c.layer_scale != null ? { layerScale: c.layer_scale as number } : {});
  const towers: Record<string, TowerSpec> = shapes.family === 'open_clip'
    ? {
        [vision]: { ...encoderFields(v, 'vision_cfg'), ...layerScale(v), pooling: 'cls', preNorm: v.pre_norm as boolean, embedBias: false, tokens: imageTokens },
        [text]: { ...encoderFields(t, 'text_cfg'), ...layerScale(t), pooling: t.pooling as 'eot' | 'last', causal: t.causal as boolean, projectionBias: t.projection_bias as boolean, tokens: textTokens },
      }
    : siglip
    ? {
        [vision]: { ...encoderFields(v, 'vision_config'), pooling: 'map', projectionDim: null, tokens: imageTokens, ...(grid ? { posGrid: grid } : {}) },
        [text]: { ...encoderFields(t, 'text_config'), pooling: 'last', projectionBias: true, padMask: false, tokens: textTokens },
      }
    : {
        [vision]: { ...encoderFields(v, 'vision_config'), pooling: 'cls', preNorm: true, embedBias: false, tokens: imageTokens },
        [text]: { ...encoderFields(t, 'text_config'), pooling: 'eot', causal: true, tokens: textTokens },
      };
  const logitScale = options.logitScale ?? (shapes.family === 'clip' ? config.logit_scale_init_value : undefined);
  return {
    towers,
    embedDim: shapes.embedDim,
    pairs: [[vision, text]],
    objective: siglip ? 'siglip' : 'clip',
    ...(logitScale !== undefined ? { logitScaleInit: logitScale } : {}),
    ...(siglip && options.logitBias !== undefined ? { logitBiasInit: options.logitBias } : {}),
    seed: options.seed ?? 0,
  };
}

export interface LoadedHfClip {
  readonly model: ClipModel;
  readonly report: HfClipImportReport;
  readonly shapes: HfClipShapes;
}

type Weights = Uint8Array | SafetensorsFile | readonly SafetensorsFile[];

function mergeFiles(weights: Weights): SafetensorsFile {
  const files = weights instanceof Uint8Array ? [decodeSafetensors(weights)] : Array.isArray(weights) ? (weights as readonly SafetensorsFile[]) : [weights as SafetensorsFile];
  if (files.length === 1) return files[0]!;
  const tensors: SafetensorsFile['tensors'] = {};
  for (const f of files) Object.assign(tensors, f.tensors);
  return { tensors, metadata: files[0]?.metadata ?? {} };
}

/** The checkpoint's `logit_scale` (the log temperature) and `logit_bias` (SigLIP), where it has them. */
export function hfClipLogits(weights: Weights): { logitScale?: number; logitBias?: number } {
  const { tensors } = mergeFiles(weights);
  const scalar = (name: string) => (tensors[name] ? { [name === 'logit_scale' ? 'logitScale' : 'logitBias']: Number(tensors[name].data[0]) } : {});
  return { ...scalar('logit_scale'), ...scalar('logit_bias') };
}

/**
 * Assigns a Hugging Face CLIPModel (`family: 'clip'`, the default) or SiglipModel checkpoint to the
 * towers `vision` and `text` of a model built from its config (`hfClipModelConfig`), e.g. before
 * fine-tuning: every tensor mapped, every shape checked first, missing or unexpected tensors a
 * `WeightImportError`, nothing assigned on error. The pair's logit scale and bias are left to the
 * config (`hfClipModelConfig`'s `logitScale` / `logitBias`, from `hfClipLogits`). A tower given as
 * `null` is not imported (its tensors are not read, nor reported unexpected).
 */
export function importHfClipWeights(
  model: ClipModel,
  weights: Weights,
  options: { readonly vision?: string | null; readonly text?: string | null; readonly source?: string; readonly family?: HfFamily } = {},
): HfClipImportReport {
  const encoder = (name: string | null) => {
    if (name === null) return undefined; // that tower's tensors are left unread
    const tower = model.tower(name);
    if (!(tower instanceof EncoderTower)) throw new InvalidArgumentError('tower', name, 'a tower with its own encoder (not a shared trunk)');
    return tower.encoder;
  };
  return importHfClip(mergeFiles(weights), { vision: encoder(options.vision === undefined ? 'image' : options.vision), text: encoder(options.text === undefined ? 'text' : options.text) }, { patchLayout: 'chw', source: options.source, family: options.family });
}

/**
 * Builds a `ClipModel` from a Hugging Face CLIPModel or SiglipModel `config.json` and its weights
 * (safetensors bytes or decoded files; several for a sharded checkpoint). The pair's logit scale (and
 * SigLIP's bias) come from the checkpoint. The model is returned in eval mode.
 */
export function loadHfClip(weights: Weights, config: HfClipConfig, options: LoadHfClipOptions = {}): LoadedHfClip {
  const file = mergeFiles(weights);
  const shapes = hfClipShapes(config);
  const modelConfig = hfClipModelConfig(config, { ...options, ...hfClipLogits(file) });
  const [vision, text] = Object.keys(modelConfig.towers) as [string, string];
  const built = (name: string) => !options.towers || options.towers.includes(name);
  const model = new ClipModel(modelConfig, { init: 'skip', only: options.towers }); // every weight is imported next
  try {
    const report = importHfClipWeights(model, file, { vision: built(vision) ? vision : null, text: built(text) ? text : null, source: options.source, family: shapes.family });
    model.eval();
    return { model, report, shapes };
  } catch (error) {
    model.dispose();
    throw error;
  }
}
